//! `cachectl config`: the effective settings, grouped as nova.conf groups them, each with where
//! it came from (a file and line, a flag, or the default), and what the operator should know.

use std::io::Write;

use cachectl_naming::{escape_controls, quote};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::CommandError;
use crate::exit::ExitCode;
use crate::report::{Format, WarningEntry};
use crate::settings::{Effective, Origin, Settings, python_bool};

/// One setting as printed.
#[derive(Debug, Serialize)]
struct Row {
    /// nova.conf's group (`[cachectl]` for cachectl's own settings).
    section: &'static str,
    /// The option's name.
    option: &'static str,
    /// Its value, typed (`null` when unset).
    value: Value,
    /// Its value as nova.conf writes it.
    #[serde(skip)]
    shown: String,
    /// Where it came from, as the text says it.
    from: String,
    /// Where it came from, for scripts.
    origin: Value,
}

/// The effective settings as JSON.
#[derive(Debug, Serialize)]
struct ConfigReport<'a> {
    /// The nova.conf files read, in order.
    config_files: Vec<String>,
    /// Every setting.
    settings: &'a [Row],
    /// What the operator should know.
    warnings: &'a [WarningEntry],
}

/// Prints `settings` in `format`.
pub(crate) fn run(
    settings: &Settings,
    format: Format,
    out: &mut dyn Write,
) -> Result<ExitCode, CommandError> {
    let rows = rows(settings);
    let mut warnings = settings.warnings();
    if let Some(why) = settings.no_local_cache() {
        warnings.push(WarningEntry::new(
            crate::report::WarningCode::NoLocalCache,
            why,
        ));
    }
    match format {
        Format::Json => {
            let report = ConfigReport {
                config_files: settings
                    .config_files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect(),
                settings: &rows,
                warnings: &warnings,
            };
            serde_json::to_writer_pretty(&mut *out, &report).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        Format::Text => write_text(settings, &rows, &warnings, out)?,
    }
    out.flush()?;
    Ok(ExitCode::Success)
}

fn write_text(
    settings: &Settings,
    rows: &[Row],
    warnings: &[WarningEntry],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let files: Vec<String> = settings
        .config_files
        .iter()
        .map(|f| quote(f).to_string())
        .collect();
    match files.is_empty() {
        true => writeln!(out, "# nova.conf: none read; Nova's defaults")?,
        false => writeln!(out, "# nova.conf: {}", files.join(", "))?,
    }
    let width = rows
        .iter()
        .map(|row| row.option.len() + 3 + row.shown.chars().count())
        .max()
        .unwrap_or(0);
    let mut section = "";
    for row in rows {
        if row.section != section {
            section = row.section;
            writeln!(out, "\n[{section}]")?;
        }
        let setting = format!("{} = {}", row.option, row.shown);
        writeln!(out, "{setting:<width$}  # {}", row.from)?;
    }
    for warning in warnings {
        writeln!(out, "\n# warning: {}", escape_controls(&warning.message))?;
    }
    Ok(())
}

/// Every setting, in nova.conf's groups.
fn rows(settings: &Settings) -> Vec<Row> {
    let text = |value: &str| (json!(value), escape_controls(value).into_owned());
    let path = |value: &std::path::PathBuf| text(&value.display().to_string());
    let number = |value: i128| (json!(value), value.to_string());
    let boolean = |value: bool| (json!(value), python_bool(value).to_owned());
    let mut instances_path = row("DEFAULT", "instances_path", &settings.instances_path, path);
    if settings.instances_path.from == Origin::Default {
        instances_path.from = "default ($state_path/instances)".to_owned();
    }
    let mut rows = vec![
        row("DEFAULT", "state_path", &settings.state_path, path),
        instances_path,
        row("DEFAULT", "host", &settings.host, |v| text(v)),
    ];
    if let Some(my_ip) = &settings.my_ip {
        rows.push(row("DEFAULT", "my_ip", my_ip, |v| text(v)));
    }
    rows.push(row(
        "DEFAULT",
        "default_ephemeral_format",
        &settings.default_ephemeral_format,
        |v| match v {
            Some(format) => text(format),
            None => (Value::Null, String::new()),
        },
    ));
    for command in &settings.virt_mkfs {
        rows.push(row("DEFAULT", "virt_mkfs", command, |(os, cmd)| {
            text(&format!("{os}={cmd}"))
        }));
    }
    rows.extend([
        row(
            "image_cache",
            "subdirectory_name",
            &settings.base_dir_name,
            |v| text(v),
        ),
        row(
            "image_cache",
            "remove_unused_base_images",
            &settings.remove_unused_base_images,
            |v| boolean(*v),
        ),
        row(
            "image_cache",
            "remove_unused_original_minimum_age_seconds",
            &settings.original_min_age,
            |v| number(i128::from(*v)),
        ),
        row(
            "image_cache",
            "remove_unused_resized_minimum_age_seconds",
            &settings.resized_min_age,
            |v| number(i128::from(*v)),
        ),
        row(
            "image_cache",
            "manager_interval",
            &settings.manager_interval,
            |v| number(i128::from(*v)),
        ),
        row("libvirt", "images_type", &settings.images_type, |v| {
            text(v.as_str())
        }),
        row("cachectl", "libvirt", &settings.libvirt, |v| boolean(*v)),
        row(
            "cachectl",
            "libvirt_config_dir",
            &settings.libvirt_config_dir,
            path,
        ),
        row(
            "cachectl",
            "libvirt_run_dir",
            &settings.libvirt_run_dir,
            path,
        ),
    ]);
    rows
}

fn row<T>(
    section: &'static str,
    option: &'static str,
    setting: &Effective<T>,
    show: impl Fn(&T) -> (Value, String),
) -> Row {
    let (value, shown) = show(&setting.value);
    Row {
        section,
        option,
        value,
        shown,
        from: setting.from.to_string(),
        origin: match &setting.from {
            Origin::Flag(flag) => json!({"kind": "flag", "flag": flag}),
            Origin::File { path, line } => {
                json!({"kind": "file", "path": path.display().to_string(), "line": line})
            }
            Origin::Default => json!({"kind": "default"}),
        },
    }
}
