//! `cargo xtask bench`, removals: `clean` of a cache of many unused files against `audit` of
//! the same tree. A `clean` takes Nova's lock of each file it removes and scans again under the
//! locks, in as few rounds as the open-files limit allows: it should stay linear in what it
//! removes.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, SystemTime};

use cachectl_naming::{fingerprint, nova_lock_name};

use crate::bench::{BENCH_HOST, Cost, Options, cells, measure, measure_once};

/// Sizes of the caches removed, in files.
const SIZES: [usize; 3] = [10_000, 30_000, 100_000];

/// The section: for each size, `audit` then `clean` of a cache of that many unused files.
pub(crate) fn section(options: &Options, cachectl: &Path, dir: &Path) -> Result<String, String> {
    let mut text = format!(
        "\n### Removals: `clean` of a cache of unused files against `audit` of the same tree, median of {} runs\n\n\
         | files | command | time | per file | CPU time | peak memory |\n\
         | ---: | --- | ---: | ---: | ---: | ---: |\n",
        options.runs
    );
    let mut ratios = Vec::new();
    for n in SIZES {
        let instances = dir.join(format!("{n}")).join("instances");
        let instances_arg = instances.display().to_string();
        let args = |command: &'static str| {
            vec![
                "--no-config",
                "--no-libvirt",
                "--instances-path",
                instances_arg.as_str(),
                "--host",
                BENCH_HOST,
                command,
                "--format",
                "json",
                "-q",
            ]
        };
        build_cache(&instances, n)?;
        measure_once(cachectl, &args("audit"))?;
        let audit = measure(options.runs, cachectl, &args("audit"))?;
        let mut cleans: Vec<Cost> = Vec::new();
        for _ in 0..options.runs {
            build_cache(&instances, n)?;
            cleans.push(measure(1, cachectl, &args("clean"))?);
        }
        cleans.sort_by_key(|cost| cost.wall);
        let clean = cleans[cleans.len() / 2];
        let _ = writeln!(text, "| {n} | `cachectl audit` | {} |", cells(&audit, n));
        let _ = writeln!(text, "| {n} | `cachectl clean` | {} |", cells(&clean, n));
        ratios.push((n, clean.wall.as_secs_f64() / audit.wall.as_secs_f64()));
        let _ = fs::remove_dir_all(dir.join(format!("{n}")));
    }
    let shown: Vec<String> = ratios
        .iter()
        .map(|(n, ratio)| format!("{ratio:.2}x at {n}"))
        .collect();
    let _ = writeln!(
        text,
        "\n`clean` against `audit`: {} (each file an empty original unused for a year, with the \
         Nova lock file a download leaves; the open-files limit here: {}).",
        shown.join(", "),
        open_files_limit()
    );
    Ok(text)
}

/// `instances/_base` of `n` originals unused for a year, each with its Nova lock file, as
/// Nova's downloads leave them; what was there before is replaced.
fn build_cache(instances: &Path, n: usize) -> Result<(), String> {
    let base = instances.join("_base");
    let locks = instances.join("locks");
    let _ = fs::remove_dir_all(instances);
    for dir in [&base, &locks] {
        fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    }
    let year_ago = SystemTime::now() - Duration::from_secs(365 * 86_400);
    for i in 0..n {
        let name = fingerprint(&format!("removal-{i}"));
        let path = base.join(name.as_str());
        let file = File::create(&path).map_err(|err| format!("{}: {err}", path.display()))?;
        file.set_modified(year_ago)
            .map_err(|err| format!("{}: {err}", path.display()))?;
        let lock = locks.join(nova_lock_name(name.as_str()));
        File::create(&lock).map_err(|err| format!("{}: {err}", lock.display()))?;
    }
    Ok(())
}

/// The soft limit on open files a `clean` may raise its own to (the hard limit).
fn open_files_limit() -> String {
    match fs::read_to_string("/proc/self/limits") {
        Ok(limits) => limits
            .lines()
            .find(|line| line.starts_with("Max open files"))
            .and_then(|line| line.split_whitespace().nth(4))
            .map_or_else(|| "unknown".to_owned(), str::to_owned),
        Err(_) => "unknown".to_owned(),
    }
}
