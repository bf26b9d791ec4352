//! Command-line options, and running a command with its exit code.

use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::path::PathBuf;

use cachectl_naming::escape_controls;
use cachectl_policy::{Ages, EphemeralConfig};
use clap::{Args, Parser, Subcommand};

use crate::checksums::ChecksumMode;
use crate::clock::now;
use crate::error::CommandError;
use crate::exit::ExitCode;
use crate::inspect::{InspectConfig, InspectOutput};
use crate::logging::{self, Verbosity};
use crate::pass::{Action, PassConfig};
use crate::report::Format;
use crate::scan::ScanConfig;
use crate::verify::VerifyConfig;

/// Audit and clean the image cache of a libvirt/KVM compute host (Nova's `_base`), safely.
#[derive(Debug, Parser)]
#[command(
    name = "cachectl",
    bin_name = "cachectl",
    version,
    about,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// Nova's `instances_path`: one directory per instance, and the cache.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/var/lib/nova/instances"
    )]
    pub instances_path: PathBuf,
    /// The cache directory's name under the instances path (`[image_cache] subdirectory_name`).
    #[arg(long, global = true, value_name = "NAME", default_value = "_base", value_parser = parse_base_dir_name)]
    pub base_dir_name: String,
    /// This host's name, as Nova's `host` option (default: the machine's hostname).
    #[arg(long, global = true, value_name = "NAME")]
    pub host: Option<String>,
    /// Keep unused originals this long (`remove_unused_original_minimum_age_seconds`); also
    /// swap and ephemeral bases, as in Nova.
    #[arg(long, global = true, value_name = "DUR", default_value = "24h", value_parser = parse_duration)]
    pub original_min_age: u64,
    /// Keep unused resized and small copies, download leftovers and orphan sidecars this long
    /// (`remove_unused_resized_minimum_age_seconds`).
    #[arg(long, global = true, value_name = "DUR", default_value = "1h", value_parser = parse_duration)]
    pub resized_min_age: u64,
    /// nova.conf's `default_ephemeral_format`, which names ephemeral bases.
    #[arg(long, global = true, value_name = "FS")]
    pub default_ephemeral_format: Option<String>,
    /// More logging on stderr (-v: info, -vv: debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Read-only: what a pass would do to each cache file, and why.
    Audit(PassArgs),
    /// The pass itself: refresh files in use, remove unused ones under Nova's locks.
    Clean(CleanArgs),
    /// Hash base files against their checksum sidecars; write the missing sidecars.
    Verify(VerifyArgs),
    /// Show disk image headers, like `qemu-img info`.
    Inspect(InspectArgs),
    /// Build a realistic sample host and audit it.
    Demo(DemoArgs),
}

/// Options of `audit` (and `clean`).
#[derive(Debug, Args)]
pub(crate) struct PassArgs {
    /// Instance records (JSON `{"instances": [...]}`), `-` for standard input.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Verify base files against their checksum sidecars.
    #[arg(long)]
    pub checksum: bool,
    /// Unreadable files you have looked at: lines `<inode> <size> <mtime> <path>`, as reports
    /// print them. While such a file stays unchanged, it does not stop removals.
    #[arg(long, value_name = "FILE")]
    pub ack_unreadable: Option<PathBuf>,
    /// Replaced by --ack-unreadable (kept to say so).
    #[arg(long, hide = true)]
    pub skip_unreadable: bool,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// How many threads work at once.
    #[command(flatten)]
    pub jobs: JobsArgs,
}

/// `--jobs`, shared by the commands that hash.
#[derive(Debug, Clone, Copy, Args)]
pub(crate) struct JobsArgs {
    /// Hash N files, and walk N instance directories, at a time (default: one per core).
    #[arg(short, long, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<NonZeroUsize>,
}

impl JobsArgs {
    /// The number of jobs: as given, or one per core.
    pub(crate) fn get(&self) -> NonZeroUsize {
        self.jobs.unwrap_or_else(crate::pool::default_jobs)
    }
}

/// Options of `clean`.
#[derive(Debug, Args)]
pub(crate) struct CleanArgs {
    /// The options `audit` takes.
    #[command(flatten)]
    pub pass: PassArgs,
    /// Change nothing: print what the pass would do.
    #[arg(long)]
    pub dry_run: bool,
    /// With --checksum, do not re-hash a file whose checksum was written less than this long
    /// ago (`checksum_interval_seconds`).
    #[arg(long, value_name = "DUR", default_value = "3600s", value_parser = parse_duration)]
    pub checksum_interval: u64,
}

/// Options of `verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// How many threads work at once.
    #[command(flatten)]
    pub jobs: JobsArgs,
    /// Files to verify (default: every image in the cache directory).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Options of `inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Output format, as `qemu-img info --output`.
    #[arg(long, value_enum, default_value_t = InspectOutput::Human)]
    pub output: InspectOutput,
    /// Show every image of the backing chain, top first.
    #[arg(long)]
    pub backing_chain: bool,
    /// Disk images.
    #[arg(value_name = "DISK", required = true)]
    pub disks: Vec<PathBuf>,
}

/// Options of `demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where to build the sample host (default: a new directory under the temporary directory).
    /// It must not exist or be empty.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// A directory name directly under the instances path: one plain component, as Nova joins it.
pub(crate) fn parse_base_dir_name(text: &str) -> Result<String, String> {
    if text.is_empty() || text == "." || text == ".." || text.contains('/') || text.contains('\0') {
        return Err(format!(
            "{text:?} is not a directory name: expected one name under the instances path, like _base"
        ));
    }
    Ok(text.to_owned())
}

/// Parses a number of jobs: 1 or more.
pub(crate) fn parse_jobs(text: &str) -> Result<NonZeroUsize, String> {
    match text.trim().parse::<usize>().map(NonZeroUsize::new) {
        Ok(Some(jobs)) => Ok(jobs),
        Ok(None) => Err("0 jobs would do nothing: expected 1 or more".to_owned()),
        Err(_) => Err(format!(
            "{text:?} is not a number of jobs: expected 1 or more"
        )),
    }
}

/// Parses `90s`, `15m`, `1h`, `24h`, `2d` or plain seconds (`3600`, as nova.conf writes them).
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits.parse().map_err(|_| {
        format!("{text:?} is not a duration: expected a number with s, m, h or d (90s, 1h, 24h)")
    })?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit {unit:?}: expected s, m, h or d"
            ));
        }
    };
    value
        .checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too long a duration"))
}

/// Runs `cachectl` with the process's arguments.
pub fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Success
            };
            let _ = err.print();
            return code.into();
        }
    };
    logging::init(if cli.quiet {
        Verbosity::Quiet
    } else {
        Verbosity::Verbose(cli.verbose)
    });
    run(&cli).into()
}

/// Runs a parsed command line; returns the exit code.
fn run(cli: &Cli) -> ExitCode {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = match &cli.command {
        Command::Audit(args) => run_pass(cli, args, Action::Audit, ChecksumMode::Audit, &mut out),
        Command::Clean(args) => run_pass(
            cli,
            &args.pass,
            Action::Clean {
                dry_run: args.dry_run,
            },
            ChecksumMode::Clean {
                interval: args.checksum_interval,
            },
            &mut out,
        ),
        Command::Verify(args) => now().and_then(|now| {
            let config = VerifyConfig {
                scan: scan_config(cli),
                files: args.files.clone(),
                format: args.format,
                jobs: args.jobs.get(),
                now,
                progress: crate::progress::wanted(cli.quiet),
            };
            crate::verify::run(&config, &mut out)
        }),
        Command::Inspect(args) => {
            let config = InspectConfig {
                output: args.output,
                backing_chain: args.backing_chain,
                disks: args.disks.clone(),
            };
            crate::inspect::run(&config, &mut out)
        }
        Command::Demo(args) => crate::demo::run(args.dir.as_deref(), &mut out),
    };
    match result {
        Ok(code) => code,
        // A reader that went away (`| head`) is not an error.
        Err(CommandError::Output(err)) if err.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::Success
        }
        Err(err) => {
            let message = err.to_string();
            let _ = writeln!(
                io::stderr(),
                "cachectl: error: {}",
                escape_controls(&message)
            );
            err.exit_code()
        }
    }
}

fn run_pass(
    cli: &Cli,
    args: &PassArgs,
    action: Action,
    checksum: ChecksumMode,
    out: &mut dyn Write,
) -> Result<ExitCode, CommandError> {
    if args.skip_unreadable {
        return Err(CommandError::new(
            ExitCode::Usage,
            "--skip-unreadable is gone: it let through every unreadable file, the next one \
             too; list the files you have looked at in a file and give it with --ack-unreadable \
             FILE (reports print the lines)"
                .to_owned(),
        ));
    }
    let config = PassConfig {
        scan: scan_config(cli),
        host: cli.host.clone().unwrap_or_else(hostname),
        ages: Ages {
            original: cli.original_min_age,
            resized: cli.resized_min_age,
            swap_ephemeral: cli.original_min_age,
        },
        ephemeral: EphemeralConfig {
            default_ephemeral_format: cli.default_ephemeral_format.clone(),
            mkfs_commands: Vec::new(),
        },
        inventory: args.inventory.clone(),
        checksum: if args.checksum {
            checksum
        } else {
            ChecksumMode::Off
        },
        ack_unreadable: args.ack_unreadable.clone(),
        action,
        now: now()?,
        jobs: args.jobs.get(),
        progress: crate::progress::wanted(cli.quiet),
    };
    let outcome = crate::pass::run(&config)?;
    outcome.report.write(args.format, out)?;
    out.flush()?;
    Ok(outcome.exit_code)
}

fn scan_config(cli: &Cli) -> ScanConfig {
    ScanConfig {
        instances_path: cli.instances_path.clone(),
        base_dir_name: cli.base_dir_name.clone(),
    }
}

/// The machine's hostname, as Nova's `host` option defaults to it.
fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("1h"), Ok(3_600));
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("3600"), Ok(3_600));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert_eq!(
            parse_duration("1w"),
            Err(r#""1w" has an unknown unit "w": expected s, m, h or d"#.to_owned())
        );
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(parse_duration("9999999999999999d").is_err());
    }

    #[test]
    fn jobs_are_one_or_more() {
        assert_eq!(parse_jobs("4"), Ok(NonZeroUsize::new(4).expect("not zero")));
        assert_eq!(
            parse_jobs("0"),
            Err("0 jobs would do nothing: expected 1 or more".to_owned())
        );
        assert_eq!(
            parse_jobs("-1"),
            Err(r#""-1" is not a number of jobs: expected 1 or more"#.to_owned())
        );
        assert!(parse_jobs("two").is_err());
    }

    #[test]
    fn base_dir_names_are_one_component() {
        assert_eq!(
            parse_base_dir_name("_base_10.0.0.1"),
            Ok("_base_10.0.0.1".to_owned())
        );
        for bad in ["", ".", "..", "_base/", "./_base", "a/b"] {
            assert!(parse_base_dir_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
