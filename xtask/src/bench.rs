//! `cargo xtask bench`: cachectl side by side with the tools a user would compare it with.
//!
//! Generates its own inputs under a temporary directory: large random files for checksums, and
//! compute hosts of 1,000 to 50,000 instances with real qcow2 overlays (cachectl's own writer,
//! the bytes `qemu-img create` writes, stored sparse). Then, in the same run, one after another:
//!
//! - `cachectl verify` (default jobs, and `--jobs 1`) against `openssl sha1`, `sha1sum` and `cat`
//!   over the same files from a cold page cache (each run after dropping the files from it with
//!   `POSIX_FADV_DONTNEED`), with how much of the files each leaves there (`fincore`, sampled
//!   while it runs and after);
//! - the same and `xargs -P2` of openssl and sha1sum with a warm page cache;
//! - `cachectl audit` of each host, and one `qemu-img info` process per disk (what Nova pays per
//!   instance), measured on a sample of disks;
//! - Nova's own pass over a 600-instance host, where a Nova installation is given (`--nova
//!   SCRIPT` or `CACHECTL_BENCH_NOVA`, a script like /tmp/nova-ref/run_nova_pass.py that takes
//!   `--instances-path --host --inventory --result`).
//!
//! Every command runs as a child of a small wrapper (`xtask bench-measure`) that waits for it
//! and reads the wrapper's `getrusage(RUSAGE_CHILDREN)`: wall time, CPU time, and the peak
//! resident memory of the largest process of the command. Times are medians of `--runs` runs.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cachectl_naming::{EphemeralFs, ephemeral_name, fingerprint, swap_name};
use cachectl_qcow2::{Qcow2Spec, create_image};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const DAY: i64 = 86_400;
/// The host name every generated host and inventory uses.
pub(crate) const BENCH_HOST: &str = "bench-host";
/// Nova's pass is run on a host of this many instances (it takes ~45 s there).
const NOVA_INSTANCES: usize = 600;
/// Distinct images the instances boot from.
const IMAGES: usize = 40;

pub(crate) const USAGE: &str = "usage: cargo xtask bench [OPTIONS]

Generates inputs, runs cachectl and the tools it replaces side by side, prints a table.

  --quick               smaller inputs: 4 x 256 MiB files, hosts of 1000 and 5000 instances
  --files N             random files to hash (default 4)
  --file-size MIB       size of each, MiB (default 1024)
  --instances LIST      host sizes, comma-separated (default 1000,10000,50000)
  --runs N              runs of each command; the median counts (default 5)
  --qemu-img-disks N    disks `qemu-img info` is run on, to measure its cost (default 200)
  --nova SCRIPT         Nova's pass (default: $CACHECTL_BENCH_NOVA; skipped without one)
  --nova-instances N    size of the host Nova's pass runs on (default 600)
  --cachectl PATH       the cachectl binary (default: cargo build --release, then that)
  --dir DIR             where inputs go (default: a new directory under the temporary directory)
  --keep                keep the inputs";

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) files: usize,
    pub(crate) file_size: u64,
    pub(crate) instances: Vec<usize>,
    pub(crate) runs: usize,
    pub(crate) qemu_img_disks: usize,
    pub(crate) nova: Option<PathBuf>,
    pub(crate) nova_instances: usize,
    pub(crate) cachectl: Option<PathBuf>,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) keep: bool,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Self {
            files: 4,
            file_size: GIB,
            instances: vec![1_000, 10_000, 50_000],
            runs: 5,
            qemu_img_disks: 200,
            nova: std::env::var_os("CACHECTL_BENCH_NOVA").map(PathBuf::from),
            nova_instances: NOVA_INSTANCES,
            cachectl: None,
            dir: None,
            keep: false,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("{arg} needs a value"))
            };
            match arg.as_str() {
                "--quick" => {
                    options.file_size = 256 * MIB;
                    options.instances = vec![1_000, 5_000];
                    options.runs = 3;
                }
                "--files" => options.files = number(arg, &value()?)?,
                "--file-size" => options.file_size = number::<u64>(arg, &value()?)? * MIB,
                "--instances" => {
                    options.instances = value()?
                        .split(',')
                        .map(|n| number(arg, n))
                        .collect::<Result<_, _>>()?;
                }
                "--runs" => options.runs = number::<usize>(arg, &value()?)?.max(1),
                "--qemu-img-disks" => options.qemu_img_disks = number(arg, &value()?)?,
                "--nova" => options.nova = Some(PathBuf::from(value()?)),
                "--nova-instances" => options.nova_instances = number(arg, &value()?)?,
                "--cachectl" => options.cachectl = Some(PathBuf::from(value()?)),
                "--dir" => options.dir = Some(PathBuf::from(value()?)),
                "--keep" => options.keep = true,
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown option {other:?}\n\n{USAGE}")),
            }
        }
        Ok(options)
    }
}

/// The value of a numeric option, or an error naming the option.
pub(crate) fn number<T: std::str::FromStr>(option: &str, text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{option}: {text:?} is not a number"))
}

/// `cargo build --release -p cachectl`, and the binary it built.
pub(crate) fn build_cachectl() -> Result<PathBuf, String> {
    crate::cargo(&["build", "--release", "--package", "cachectl"], &[])?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(
            || crate::root().join("target"),
            |dir| crate::root().join(dir),
        );
    let binary = target.join("release").join("cachectl");
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!("no cachectl binary at {}", binary.display()))
    }
}

/// The machine, for the table's caption.
pub(crate) fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let sha_ni = field("flags").split_whitespace().any(|f| f == "sha_ni");
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let ram_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or_else(
            || "?".to_owned(),
            |kib| format!("{:.0}", kib as f64 / 1048576.0),
        );
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let version = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().next().map(str::to_owned))
            .unwrap_or_else(|| "not installed".to_owned())
    };
    format!(
        "Machine: {} ({} cores{}), {ram_gib} GiB RAM, Linux {}; {}; {}; {}\n",
        field("model name"),
        cores,
        if sha_ni { ", SHA-NI" } else { "" },
        kernel.trim(),
        version("qemu-img", "--version"),
        version("openssl", "version"),
        version("sha1sum", "--version"),
    )
}

/// What one run of a command cost.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cost {
    pub(crate) wall: Duration,
    pub(crate) cpu: Duration,
    pub(crate) max_rss_kib: u64,
}

/// Runs `program args` `runs` times under the measuring wrapper: the median wall and CPU time,
/// the largest peak memory.
pub(crate) fn measure(runs: usize, program: &Path, args: &[&str]) -> Result<Cost, String> {
    let mut costs = Vec::new();
    for _ in 0..runs {
        costs.push(measure_once(program, args)?);
    }
    costs.sort_by_key(|c| c.wall);
    let median = costs[costs.len() / 2];
    Ok(Cost {
        max_rss_kib: costs.iter().map(|c| c.max_rss_kib).max().unwrap_or(0),
        ..median
    })
}

pub(crate) fn measure_once(program: &Path, args: &[&str]) -> Result<Cost, String> {
    let me = std::env::current_exe().map_err(|err| format!("cannot find xtask itself: {err}"))?;
    let output = Command::new(me)
        .arg("bench-measure")
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("cannot run the measuring wrapper: {err}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    let shown = format!("{} {}", program.display(), args.join(" "));
    match fields[..] {
        [wall, cpu, rss, "0"] => Ok(Cost {
            wall: Duration::from_secs_f64(number("wall", wall)?),
            cpu: Duration::from_secs_f64(number("cpu", cpu)?),
            max_rss_kib: number("rss", rss)?,
        }),
        [_, _, _, code] => Err(format!("`{shown}` failed (exit code {code})")),
        _ => Err(format!("`{shown}`: the wrapper said {text:?}")),
    }
}

/// `xtask bench-measure PROGRAM ARGS...`: runs it (stdout discarded, stderr kept for errors),
/// prints `wall_seconds cpu_seconds max_rss_kib exit_code`.
pub fn measure_child(args: &[String]) -> Result<(), String> {
    use nix::sys::resource::{UsageWho, getrusage};
    let (program, args) = args.split_first().ok_or("bench-measure needs a command")?;
    let start = Instant::now();
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|err| format!("cannot run {program}: {err}"))?;
    let wall = start.elapsed();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|err| format!("getrusage: {err}"))?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let cpu = seconds(usage.user_time()) + seconds(usage.system_time());
    let code = output.status.code().unwrap_or(-1);
    if code != 0 {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        for line in tail.iter().rev() {
            eprintln!("bench: {program}: {line}");
        }
    }
    println!(
        "{:.6} {cpu:.6} {} {code}",
        wall.as_secs_f64(),
        usage.max_rss()
    );
    Ok(())
}

// ----- checksums -----------------------------------------------------------------------------

/// One row of a table: the command shown, and what it cost (or why it did not run).
type Row = (String, Result<Cost, String>);

pub(crate) fn hash_section(
    options: &Options,
    cachectl: &Path,
    dir: &Path,
) -> Result<String, String> {
    let instances = dir.join("instances");
    let files = write_random_files(options, &instances.join("_base"))?;
    // Write the sidecars, so that every timed run verifies.
    measure_once(cachectl, &refs(&verify_args(&instances, None)))?;
    let cold = cold_hash_rows(options, cachectl, &instances, &files)?;
    read_whole(&files)?;
    let warm = hash_rows(options, cachectl, dir, &instances, &files)?;
    Ok(cold_hash_table(options, cold) + &hash_table(options, warm))
}

/// `cachectl --no-config --instances-path INSTANCES -q verify [--jobs JOBS]`'s arguments.
fn verify_args(instances: &Path, jobs: Option<&str>) -> Vec<String> {
    let mut args = vec![
        "--no-config".to_owned(),
        "--instances-path".to_owned(),
        instances.display().to_string(),
        "-q".to_owned(),
        "verify".to_owned(),
    ];
    if let Some(jobs) = jobs {
        args.extend(["--jobs".to_owned(), jobs.to_owned()]);
    }
    args
}

/// Borrowed arguments, as [`measure`] takes them.
fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Reads `files` whole, so that they are in the page cache (warm).
fn read_whole(files: &[String]) -> Result<(), String> {
    for file in files {
        io::copy(
            &mut File::open(file).map_err(|err| format!("cannot open {file}: {err}"))?,
            &mut io::sink(),
        )
        .map_err(|err| format!("cannot read {file}: {err}"))?;
    }
    Ok(())
}

/// `--files` random files of `--file-size` in `base`, named as images of the cache: their paths.
fn write_random_files(options: &Options, base: &Path) -> Result<Vec<String>, String> {
    fs::create_dir_all(base).map_err(|err| format!("cannot create {}: {err}", base.display()))?;
    let mut files = Vec::new();
    for i in 0..options.files {
        let path = base.join(fingerprint(&format!("bench-image-{i}")).as_str());
        eprintln!(
            "bench: writing {} ({} MiB of random bytes)",
            path.display(),
            options.file_size / MIB
        );
        random_file(&path, options.file_size, i as u64 + 1)
            .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
        files.push(path.display().to_string());
    }
    Ok(files)
}

/// Hashes `files` with `cachectl verify` (on the instances path they lie in), openssl and
/// sha1sum, one after another and two at a time, from a warm page cache.
fn hash_rows(
    options: &Options,
    cachectl: &Path,
    dir: &Path,
    instances: &Path,
    files: &[String],
) -> Result<Vec<Row>, String> {
    let default_jobs = verify_args(instances, None);
    let one_job = verify_args(instances, Some("1"));
    let list = dir.join("files.txt");
    fs::write(&list, files.join("\n") + "\n")
        .map_err(|err| format!("cannot write {}: {err}", list.display()))?;
    let file_args: Vec<&str> = files.iter().map(String::as_str).collect();
    let xargs = |tool: &str| {
        format!(
            "xargs -P2 -n1 {tool} < {} > /dev/null",
            shell_quote(&list.display().to_string())
        )
    };
    let sh = Path::new("sh");
    Ok(vec![
        (
            "cachectl verify (default: --jobs 2)".to_owned(),
            measure(options.runs, cachectl, &refs(&default_jobs)),
        ),
        (
            "cachectl verify --jobs 1".to_owned(),
            measure(options.runs, cachectl, &refs(&one_job)),
        ),
        (
            "openssl sha1 FILES (one after another)".to_owned(),
            measure(
                options.runs,
                Path::new("openssl"),
                &[&["sha1"][..], &file_args].concat(),
            ),
        ),
        (
            "sha1sum FILES (one after another)".to_owned(),
            measure(options.runs, Path::new("sha1sum"), &file_args),
        ),
        (
            "xargs -P2 -n1 sha1sum".to_owned(),
            measure(options.runs, sh, &["-c", &xargs("sha1sum")]),
        ),
        (
            "xargs -P2 -n1 openssl sha1".to_owned(),
            measure(options.runs, sh, &["-c", &xargs("openssl sha1")]),
        ),
    ])
}

/// The checksum table: each row's time, throughput, CPU time, memory, and speed beside
/// `openssl sha1` over the same files.
fn hash_table(options: &Options, rows: Vec<Row>) -> String {
    let total = options.files as u64 * options.file_size;
    let baseline = rows
        .iter()
        .find(|(name, _)| name.starts_with("openssl sha1 FILES"))
        .and_then(|(_, cost)| cost.as_ref().ok())
        .map(|c| c.wall);

    let mut text = format!(
        "\n### Checksums: {} files of {} MiB ({} MiB), warm page cache, median of {} runs\n\n\
         | command | time | throughput | CPU time | peak memory | vs openssl sha1 |\n\
         | --- | ---: | ---: | ---: | ---: | ---: |\n",
        options.files,
        options.file_size / MIB,
        total / MIB,
        options.runs
    );
    for (name, cost) in rows {
        match cost {
            Ok(cost) => {
                let ratio = baseline.map_or_else(
                    || "-".to_owned(),
                    |b| format!("{:.2}x", b.as_secs_f64() / cost.wall.as_secs_f64()),
                );
                let _ = writeln!(
                    text,
                    "| `{name}` | {} | {:.0} MB/s | {} | {} | {ratio} |",
                    seconds(cost.wall),
                    total as f64 / cost.wall.as_secs_f64() / 1e6,
                    seconds(cost.cpu),
                    memory(cost.max_rss_kib),
                );
            }
            Err(err) => {
                let _ = writeln!(text, "| `{name}` | not run: {err} | | | | |");
            }
        }
    }
    text
}

/// One row of the cold table: the command shown, and what it cost (or why it did not run).
type ColdRow = (String, Result<ColdCost, String>);

/// What a run from a cold page cache cost, and how much of the files it left in the page cache.
#[derive(Debug, Clone, Copy)]
struct ColdCost {
    cost: Cost,
    /// The files' bytes in the page cache: the most seen while it ran (sampled), and after.
    /// `None` without `fincore`.
    peak: Option<u64>,
    after: Option<u64>,
}

/// Hashes `files` from a cold page cache, each run after dropping them from it: `cachectl
/// verify`, `openssl sha1` and `sha1sum`, and `cat` (reading alone: the disk's speed).
fn cold_hash_rows(
    options: &Options,
    cachectl: &Path,
    instances: &Path,
    files: &[String],
) -> Result<Vec<ColdRow>, String> {
    let file_args: Vec<&str> = files.iter().map(String::as_str).collect();
    let sha1 = [&["sha1"][..], &file_args].concat();
    let cold = |program: &Path, args: &[&str]| measure_cold(options.runs, program, args, files);
    Ok(vec![
        (
            "cachectl verify (default: --jobs 2)".to_owned(),
            cold(cachectl, &refs(&verify_args(instances, None))),
        ),
        (
            "cachectl verify --jobs 1".to_owned(),
            cold(cachectl, &refs(&verify_args(instances, Some("1")))),
        ),
        (
            "openssl sha1 FILES (one after another)".to_owned(),
            cold(Path::new("openssl"), &sha1),
        ),
        (
            "sha1sum FILES (one after another)".to_owned(),
            cold(Path::new("sha1sum"), &file_args),
        ),
        (
            "cat FILES > /dev/null (reading alone)".to_owned(),
            cold(Path::new("cat"), &file_args),
        ),
    ])
}

/// Like [`measure`], each run from a cold page cache ([`measure_cold_once`]): the median run,
/// with the most of the files any run left in the page cache.
fn measure_cold(
    runs: usize,
    program: &Path,
    args: &[&str],
    files: &[String],
) -> Result<ColdCost, String> {
    let mut costs = Vec::new();
    for _ in 0..runs {
        costs.push(measure_cold_once(program, args, files)?);
    }
    costs.sort_by_key(|c| c.cost.wall);
    let most = |of: fn(&ColdCost) -> Option<u64>| costs.iter().filter_map(of).max();
    Ok(ColdCost {
        peak: most(|c| c.peak),
        after: most(|c| c.after),
        cost: median_cost(&costs),
    })
}

/// The median cost of `runs` (sorted by wall time), with the largest peak memory.
fn median_cost(runs: &[ColdCost]) -> Cost {
    Cost {
        max_rss_kib: runs.iter().map(|c| c.cost.max_rss_kib).max().unwrap_or(0),
        ..runs[runs.len() / 2].cost
    }
}

/// Drops `files` from the page cache, runs the command, and samples how much of the files is
/// in the page cache while it runs (every 20 ms) and after.
fn measure_cold_once(program: &Path, args: &[&str], files: &[String]) -> Result<ColdCost, String> {
    drop_from_cache(files)?;
    let running = std::sync::atomic::AtomicBool::new(true);
    let (cost, peak) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = cached_bytes(files);
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(cached_bytes(files));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        });
        let cost = measure_once(program, args);
        running.store(false, std::sync::atomic::Ordering::Relaxed);
        (cost, sampler.join().unwrap_or(None))
    });
    let after = cached_bytes(files);
    Ok(ColdCost {
        cost: cost?,
        peak: peak.max(after),
        after,
    })
}

/// Drops every page of `files` from the page cache (`POSIX_FADV_DONTNEED`; they are clean).
fn drop_from_cache(files: &[String]) -> Result<(), String> {
    for file in files {
        let open = File::open(file).map_err(|err| format!("cannot open {file}: {err}"))?;
        rustix::fs::fadvise(&open, 0, None, rustix::fs::Advice::DontNeed)
            .map_err(|err| format!("cannot drop {file} from the page cache: {err}"))?;
    }
    Ok(())
}

/// How many bytes of `files` are in the page cache, as `fincore` (util-linux) counts them;
/// `None` if it cannot be run.
fn cached_bytes(files: &[String]) -> Option<u64> {
    let output = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .args(files)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())?;
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(|field| field.parse::<u64>().ok())
        .sum()
}

/// The cold table: each row's time, throughput and CPU time, its speed beside `openssl sha1`
/// made cold the same way, and how much of the files it left in the page cache.
fn cold_hash_table(options: &Options, rows: Vec<ColdRow>) -> String {
    let total = options.files as u64 * options.file_size;
    let baseline = rows
        .iter()
        .find(|(name, _)| name.starts_with("openssl sha1 FILES"))
        .and_then(|(_, cost)| cost.as_ref().ok())
        .map(|c| c.cost.wall);
    let mut text = format!(
        "\n### Checksums: {} files of {} MiB ({} MiB), cold: each run after dropping the files \
         from the page cache, median of {} runs\n\n\
         | command | time | throughput | CPU time | vs openssl sha1 | page cache of the files: \
         most while running | after |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        options.files,
        options.file_size / MIB,
        total / MIB,
        options.runs
    );
    let cached = |bytes: Option<u64>| {
        bytes.map_or_else(|| "- (no fincore)".to_owned(), |b| memory(b / 1024))
    };
    for (name, cold) in rows {
        let cold = match cold {
            Ok(cold) => cold,
            Err(err) => {
                let _ = writeln!(text, "| `{name}` | not run: {err} | | | | | |");
                continue;
            }
        };
        let wall = cold.cost.wall.as_secs_f64();
        let ratio = baseline.map_or_else(
            || "-".to_owned(),
            |b| format!("{:.2}x", b.as_secs_f64() / wall),
        );
        let _ = writeln!(
            text,
            "| `{name}` | {} | {:.0} MB/s | {} | {ratio} | {} | {} |",
            seconds(cold.cost.wall),
            total as f64 / wall / 1e6,
            seconds(cold.cost.cpu),
            cached(cold.peak),
            cached(cold.after),
        );
    }
    text
}

/// `len` bytes from a fast generator (xorshift), written in 8 MiB blocks.
fn random_file(path: &Path, len: u64, seed: u64) -> io::Result<()> {
    let mut file = io::BufWriter::with_capacity(8 * MIB as usize, File::create(path)?);
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut block = vec![0u8; 8 * MIB as usize];
    let mut left = len;
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.into_inner()
        .map_err(|err| err.into_error())?
        .sync_all()
}

// ----- audits --------------------------------------------------------------------------------

/// A generated compute host.
pub(crate) struct BenchHost {
    pub(crate) instances_path: PathBuf,
    pub(crate) inventory: PathBuf,
    /// libvirt's definitions of its guests (one per instance) and the status XML of the
    /// running ones (every other), as `/etc/libvirt/qemu` and `/run/libvirt/qemu` hold them.
    libvirt_config_dir: PathBuf,
    libvirt_run_dir: PathBuf,
    /// Every qcow2 disk under the instances path.
    disks: Vec<PathBuf>,
}

pub(crate) fn audit_section(
    options: &Options,
    cachectl: &Path,
    dir: &Path,
) -> Result<String, String> {
    let mut text = format!(
        "\n### Audits: hosts of real qcow2 overlays, warm cache, median of {} runs\n\n\
         | host | command | time | per instance | CPU time | peak memory |\n\
         | --- | --- | ---: | ---: | ---: | ---: |\n",
        options.runs
    );
    let mut notes = String::new();
    let mut growth: Vec<(usize, Cost)> = Vec::new();
    for &n in &options.instances {
        let host_dir = dir.join(format!("{n}"));
        let host = build_host(&host_dir, n)?;
        let args = audit_args(&host);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        measure_once(cachectl, &args)?; // warm the dentry and inode caches
        let cost = measure(options.runs, cachectl, &args)?;
        let sequential = measure(
            options.runs,
            cachectl,
            &[&args[..], &["--jobs", "1"]].concat(),
        )?;
        let by_libvirt = libvirt_audit_args(&host);
        let by_libvirt: Vec<&str> = by_libvirt.iter().map(String::as_str).collect();
        let libvirt = measure(options.runs, cachectl, &by_libvirt)?;
        notes.push_str(&libvirt_note(n, &cost, &libvirt));
        let fleet = fleet_cost(options, cachectl, &args, &host_dir)?;
        notes.push_str(&fleet_note(n, &cost, &fleet));
        for (name, cost) in [
            ("cachectl audit", cost),
            ("cachectl audit --jobs 1", sequential),
            ("cachectl audit, by libvirt's domains", libvirt),
            (FLEET_ROW, fleet),
        ] {
            let _ = writeln!(text, "| {n} instances | `{name}` | {} |", cells(&cost, n));
        }
        growth.push((n, cost));

        // One host is enough to know what a process per disk costs.
        if growth.len() == 1 && options.qemu_img_disks > 0 {
            let sample: Vec<&PathBuf> = host.disks.iter().take(options.qemu_img_disks).collect();
            match qemu_img_cost(&host_dir, &sample) {
                Ok(qemu) => {
                    let per_disk = qemu.wall.as_secs_f64() / sample.len().max(1) as f64;
                    let disks_per_instance = host.disks.len() as f64 / n as f64;
                    let per_instance = Duration::from_secs_f64(per_disk * disks_per_instance);
                    let _ = writeln!(
                        text,
                        "| {n} instances | one `qemu-img info --output=json --force-share` per disk, timed on {} disks | {} (est.) | {} | {} per disk | {} |",
                        sample.len(),
                        seconds(per_instance.mul_f64(n as f64)),
                        micros(per_instance, 1),
                        micros(qemu.cpu, sample.len()),
                        memory(qemu.max_rss_kib)
                    );
                    let _ = writeln!(
                        notes,
                        "\nAt {n} instances ({disks_per_instance:.2} disks each), one `qemu-img info` process per disk takes {:.1} ms (wall) a disk: `cachectl audit` is {:.0}x faster than those processes alone.",
                        per_disk * 1e3,
                        per_instance.as_secs_f64() * n as f64 / cost.wall.as_secs_f64()
                    );
                }
                Err(err) => {
                    let _ = writeln!(
                        text,
                        "| {n} instances | `qemu-img info` | not run: {err} | | | |"
                    );
                }
            }
        }
        if !options.keep {
            let _ = fs::remove_dir_all(&host_dir);
        }
    }
    text.push_str(&notes);
    text.push_str(&growth_text(&growth));
    Ok(text)
}

/// The row of an audit with what a fleet's timer runs add: a metrics file, and space pressure
/// at its worst (every unused file a candidate) under a cap.
const FLEET_ROW: &str = "cachectl audit --metrics-file FILE --min-free 100% --max-remove 100";

/// The audit `args` with a metrics file (in `dir`) and space pressure.
fn fleet_cost(
    options: &Options,
    cachectl: &Path,
    args: &[&str],
    dir: &Path,
) -> Result<Cost, String> {
    let metrics = dir.join("cachectl.prom").display().to_string();
    let fleet = [
        "--metrics-file",
        &metrics,
        "--min-free",
        "100%",
        "--max-remove",
        "100",
    ];
    measure(options.runs, cachectl, &[args, &fleet[..]].concat())
}

/// What metrics and space pressure cost over the plain audit, at `n` instances.
fn fleet_note(n: usize, audit: &Cost, fleet: &Cost) -> String {
    let (plain, with) = (audit.wall.as_secs_f64(), fleet.wall.as_secs_f64());
    format!(
        "\nAt {n} instances, a metrics file and space pressure (`{FLEET_ROW}`) take {:+.1} ms ({:+.1} %) over the plain audit.\n",
        (with - plain) * 1e3,
        (with / plain - 1.0) * 100.0
    )
}

/// What reading libvirt's domains costs over the inventory, at `n` instances.
fn libvirt_note(n: usize, by_inventory: &Cost, by_libvirt: &Cost) -> String {
    let (inventory, libvirt) = (
        by_inventory.wall.as_secs_f64(),
        by_libvirt.wall.as_secs_f64(),
    );
    format!(
        "\nAt {n} instances, reading libvirt's {} domain files instead of the inventory takes {:.0} ms more ({:.2}x the audit by the inventory).\n",
        n + n.div_ceil(2),
        (libvirt - inventory) * 1e3,
        libvirt / inventory
    )
}

/// An audit of `host` by its inventory alone: no nova.conf or libvirt of the machine's.
pub(crate) fn audit_args(host: &BenchHost) -> Vec<String> {
    let inventory = host.inventory.display().to_string();
    host_audit(host, &["--no-libvirt"], &["--inventory", &inventory])
}

/// An audit of `host` by libvirt's domains instead of an inventory.
fn libvirt_audit_args(host: &BenchHost) -> Vec<String> {
    let config_dir = host.libvirt_config_dir.display().to_string();
    let run_dir = host.libvirt_run_dir.display().to_string();
    let libvirt = [
        "--libvirt-config-dir",
        &config_dir,
        "--libvirt-run-dir",
        &run_dir,
    ];
    host_audit(host, &libvirt, &[])
}

/// `cachectl --no-config <global> --instances-path … --host … audit --format json <pass>`.
fn host_audit(host: &BenchHost, global: &[&str], pass: &[&str]) -> Vec<String> {
    let instances = host.instances_path.display().to_string();
    let head = [
        "--no-config",
        "--instances-path",
        &instances,
        "--host",
        BENCH_HOST,
    ];
    let audit = ["audit", "--format", "json"];
    [&head[..], global, &audit, pass]
        .concat()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// One `qemu-img info` process per disk of `sample`, as Nova runs them.
fn qemu_img_cost(dir: &Path, sample: &[&PathBuf]) -> Result<Cost, String> {
    let list = dir.join("qemu-img-disks.txt");
    let names: Vec<String> = sample.iter().map(|p| p.display().to_string()).collect();
    fs::write(&list, names.join("\n") + "\n")
        .map_err(|err| format!("cannot write {}: {err}", list.display()))?;
    let script = format!(
        "xargs -n1 qemu-img info --output=json --force-share < {} > /dev/null",
        shell_quote(&list.display().to_string())
    );
    measure(1, Path::new("sh"), &["-c", &script])
}

/// How time and memory grow with the number of instances.
fn growth_text(growth: &[(usize, Cost)]) -> String {
    let mut text = String::new();
    if growth.len() < 2 {
        return text;
    }
    let _ = writeln!(
        text,
        "\nGrowth of `cachectl audit`:\n\n| from | to | instances | time | peak memory | time per instance | memory per added instance |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for pair in growth.windows(2) {
        let [(a, ca), (b, cb)] = pair else { continue };
        let time_ratio = cb.wall.as_secs_f64() / ca.wall.as_secs_f64();
        let per_a = ca.wall.as_secs_f64() / *a as f64;
        let per_b = cb.wall.as_secs_f64() / *b as f64;
        let added_kib = (cb.max_rss_kib as f64 - ca.max_rss_kib as f64) / (*b as f64 - *a as f64);
        let _ = writeln!(
            text,
            "| {a} | {b} | x{:.1} | x{time_ratio:.1} | x{:.1} | {:.1} -> {:.1} us | {:.2} KiB |",
            *b as f64 / *a as f64,
            cb.max_rss_kib as f64 / ca.max_rss_kib as f64,
            per_a * 1e6,
            per_b * 1e6,
            added_kib
        );
    }
    let per: Vec<f64> = growth
        .iter()
        .map(|(n, c)| c.wall.as_secs_f64() / *n as f64)
        .collect();
    let (lo, hi) = per
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), &p| (lo.min(p), hi.max(p)));
    let _ = writeln!(
        text,
        "\nTime per instance ranges {:.1}-{:.1} us across sizes (x{:.2}): {}.",
        lo * 1e6,
        hi * 1e6,
        hi / lo,
        if hi / lo < 1.5 {
            "linear"
        } else {
            "NOT linear: more than 1.5x apart"
        }
    );
    text
}

/// Builds a compute host of `n` instances under `dir`: 40 images (sparse originals), swap and
/// ephemeral bases, a few unused old bases; per instance a qcow2 `disk` on its image, a
/// `disk.info` and a `console.log`, and for one in four a `disk.swap` and a `disk.local`.
pub(crate) fn build_host(dir: &Path, n: usize) -> Result<BenchHost, String> {
    let started = Instant::now();
    let instances_path = dir.join("instances");
    let cache = build_cache(&instances_path)?;
    let mut records = Vec::with_capacity(n);
    let mut disks = Vec::new();
    let libvirt_config_dir = dir.join("libvirt/qemu");
    let libvirt_run_dir = dir.join("run/libvirt/qemu");
    for path in [&libvirt_config_dir, &libvirt_run_dir] {
        fs::create_dir_all(path).map_err(|err| write_error(path, err))?;
    }
    for i in 0..n {
        let first = disks.len();
        records.push(build_instance(&instances_path, &cache, i, &mut disks)?);
        let domains = DomainDirs {
            config: &libvirt_config_dir,
            run: &libvirt_run_dir,
        };
        write_domain(&domains, &cache, i, &disks[first..])?;
    }
    let inventory = dir.join("inventory.json");
    fs::write(
        &inventory,
        format!("{{\"instances\": [\n{}\n]}}\n", records.join(",\n")),
    )
    .map_err(|err| write_error(&inventory, err))?;
    eprintln!(
        "bench: built a host of {n} instances ({} disks) in {:.1}s",
        disks.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(BenchHost {
        instances_path,
        inventory,
        libvirt_config_dir,
        libvirt_run_dir,
        disks,
    })
}

fn write_error(path: &Path, err: io::Error) -> String {
    format!("cannot write {}: {err}", path.display())
}

/// The cache directory of a generated host, and the names in it that instances use.
struct HostCache {
    base: PathBuf,
    /// The images instances boot from: (image id, fingerprint).
    images: Vec<(String, String)>,
    swap: String,
    ephemeral: String,
}

/// Makes the instances path, `locks/` and `compute_nodes`, and the cache: an original per image,
/// a swap and an ephemeral base, and a few unused bases, all old and sparse.
fn build_cache(instances_path: &Path) -> Result<HostCache, String> {
    let base = instances_path.join("_base");
    fs::create_dir_all(&base).map_err(|err| write_error(&base, err))?;
    fs::create_dir_all(instances_path.join("locks"))
        .map_err(|err| write_error(instances_path, err))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let old = now - 3 * DAY;

    let images: Vec<(String, String)> = (0..IMAGES)
        .map(|k| {
            let id = format!("00000000-0000-4000-8000-{k:012x}");
            let fp = fingerprint(&id).as_str().to_owned();
            (id, fp)
        })
        .collect();
    let swap = swap_name(512);
    let ephemeral = ephemeral_name(20, Some("linux"), &EphemeralFs::default())
        .into_iter()
        .next()
        .ok_or("no ephemeral name")?;
    let mut cache: Vec<String> = images.iter().map(|(_, fp)| fp.clone()).collect();
    cache.extend([swap.clone(), ephemeral.clone()]);
    // Unused and old: what a pass removes.
    cache.extend((0..5).map(|k| fingerprint(&format!("unused-{k}")).as_str().to_owned()));
    for name in &cache {
        let path = base.join(name);
        let file = File::create(&path).map_err(|err| write_error(&path, err))?;
        file.set_len(2 * GIB)
            .map_err(|err| write_error(&path, err))?;
        set_mtime(&file, old).map_err(|err| write_error(&path, err))?;
    }
    fs::write(
        instances_path.join("compute_nodes"),
        format!("{{\"{BENCH_HOST}\": {now}.0}}"),
    )
    .map_err(|err| write_error(instances_path, err))?;
    Ok(HostCache {
        base,
        images,
        swap,
        ephemeral,
    })
}

/// Makes instance `i`: its directory, its qcow2 disks (added to `disks`), `disk.info` and
/// `console.log`. Its inventory record.
fn build_instance(
    instances_path: &Path,
    cache: &HostCache,
    i: usize,
    disks: &mut Vec<PathBuf>,
) -> Result<String, String> {
    let uuid = format!("{i:08x}-1111-4222-8333-{i:012x}");
    let name = format!("instance-{i:08x}");
    let (image_id, image_fp) = &cache.images[i % IMAGES];
    let instance_dir = instances_path.join(&uuid);
    fs::create_dir(&instance_dir).map_err(|err| write_error(&instance_dir, err))?;
    let mut disk_info = Vec::new();
    let with_extra_disks = i.is_multiple_of(4);
    let mut overlays = vec![("disk", image_fp.as_str(), 20 * GIB)];
    if with_extra_disks {
        overlays.push(("disk.swap", cache.swap.as_str(), 512 * MIB));
        overlays.push(("disk.local", cache.ephemeral.as_str(), 20 * GIB));
    }
    for (disk, backing, size) in overlays {
        let path = instance_dir.join(disk);
        let backing = cache.base.join(backing);
        let spec = Qcow2Spec {
            backing_file: Some(backing.as_os_str().as_encoded_bytes()),
            backing_format: Some("raw"),
            ..Qcow2Spec::new(size)
        };
        let bytes = create_image(&spec).map_err(|err| format!("qcow2: {err}"))?;
        write_sparse(&path, &bytes).map_err(|err| write_error(&path, err))?;
        disk_info.push(format!("\"{}\": \"qcow2\"", path.display()));
        disks.push(path);
    }
    let info = instance_dir.join("disk.info");
    fs::write(&info, format!("{{{}}}", disk_info.join(", ")))
        .map_err(|err| write_error(&info, err))?;
    let console = instance_dir.join("console.log");
    fs::write(&console, b"[    0.000000] Linux version 6.8.0\n")
        .map_err(|err| write_error(&console, err))?;
    let extra = if with_extra_disks {
        r#", "swap_mb": 512, "ephemeral_gb": 20"#
    } else {
        ""
    };
    Ok(format!(
        r#"  {{"uuid": "{uuid}", "name": "{name}", "host": "{BENCH_HOST}", "image_ref": "{image_id}", "vm_state": "active", "task_state": null, "os_type": "linux"{extra}}}"#
    ))
}

/// Where a bench host's libvirt keeps its domains.
struct DomainDirs<'a> {
    config: &'a Path,
    run: &'a Path,
}

/// Instance `i`'s domain as Nova defines it (its metadata and its `disks`), and, for every
/// other instance, libvirt's status XML of it running (each disk's chain to its base).
fn write_domain(
    dirs: &DomainDirs<'_>,
    cache: &HostCache,
    i: usize,
    disks: &[PathBuf],
) -> Result<(), String> {
    let uuid = format!("{i:08x}-1111-4222-8333-{i:012x}");
    let name = format!("instance-{i:08x}");
    let (image_id, image_fp) = &cache.images[i % IMAGES];
    // The base each disk is an overlay on, as `build_instance` makes them.
    let base_of = |disk: &Path| {
        let base = match disk.file_name().and_then(|n| n.to_str()) {
            Some("disk.swap") => cache.swap.as_str(),
            Some("disk.local") => cache.ephemeral.as_str(),
            _ => image_fp.as_str(),
        };
        cache.base.join(base).display().to_string()
    };
    let domain = |running: bool| {
        let mut devices = String::new();
        for (k, disk) in disks.iter().enumerate() {
            let chain = if running {
                format!(
                    "<backingStore type='file'><format type='raw'/><source file='{}'/><backingStore/></backingStore>",
                    base_of(disk)
                )
            } else {
                String::new()
            };
            let _ = write!(
                devices,
                "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{}'/>{chain}<target dev='vd{}' bus='virtio'/></disk>",
                disk.display(),
                char::from(b'a' + u8::try_from(k).unwrap_or(0))
            );
        }
        format!(
            "<domain type='kvm'><name>{name}</name><uuid>{uuid}</uuid><metadata><nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'><nova:name>bench-{i}</nova:name><nova:flavor name='m1'><nova:memory>2048</nova:memory><nova:disk>20</nova:disk><nova:swap>{}</nova:swap><nova:ephemeral>{}</nova:ephemeral><nova:vcpus>1</nova:vcpus></nova:flavor><nova:root type='image' uuid='{image_id}'/></nova:instance></metadata><memory unit='KiB'>2097152</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='q35'>hvm</type></os><devices>{devices}</devices></domain>\n",
            if disks.len() > 1 { 512 } else { 0 },
            if disks.len() > 1 { 20 } else { 0 },
        )
    };
    let defined = dirs.config.join(format!("{name}.xml"));
    fs::write(&defined, domain(false)).map_err(|err| write_error(&defined, err))?;
    // The copy Nova kept in the instance directory up to Newton: four files an instance.
    if let Some(instance_dir) = disks.first().and_then(|disk| disk.parent()) {
        let snapshot = instance_dir.join("libvirt.xml");
        fs::write(&snapshot, domain(false)).map_err(|err| write_error(&snapshot, err))?;
    }
    if i.is_multiple_of(2) {
        let status = dirs.run.join(format!("{name}.xml"));
        let xml = format!(
            "<domstatus state='running' reason='booted' pid='{}'>{}</domstatus>\n",
            1000 + i,
            domain(true)
        );
        fs::write(&status, xml).map_err(|err| write_error(&status, err))?;
    }
    Ok(())
}

/// Writes `bytes` leaving its all-zero 4 KiB blocks as holes: an empty qcow2 image is mostly
/// zeros (its L1 table), so a host of 50,000 takes little disk.
fn write_sparse(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file = File::create(path)?;
    for (i, block) in bytes.chunks(4096).enumerate() {
        if block.iter().any(|&b| b != 0) {
            file.write_all_at(block, i as u64 * 4096)?;
        }
    }
    file.set_len(bytes.len() as u64)
}

fn set_mtime(file: &File, mtime: i64) -> io::Result<()> {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(mtime.max(0) as u64);
    file.set_times(fs::FileTimes::new().set_accessed(time).set_modified(time))
}

// ----- Nova ----------------------------------------------------------------------------------

pub(crate) fn nova_section(
    options: &Options,
    cachectl: &Path,
    dir: &Path,
) -> Result<String, String> {
    let n = options.nova_instances;
    let mut text = format!(
        "\n### Nova's own pass against cachectl: a host of {n} instances\n\n\
         | command | time | per instance | CPU time | peak memory |\n\
         | --- | ---: | ---: | ---: | ---: |\n"
    );
    let Some(script) = options.nova.clone().filter(|p| p.is_file()) else {
        let why = match &options.nova {
            Some(path) => format!("{} does not exist", path.display()),
            None => "no Nova given (--nova SCRIPT or CACHECTL_BENCH_NOVA)".to_owned(),
        };
        eprintln!("bench: Nova's pass skipped: {why}");
        let _ = writeln!(text, "| Nova's pass | skipped: {why} | | | |");
        return Ok(text);
    };
    let host = build_host(dir, n)?;
    let args = audit_args(&host);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    measure_once(cachectl, &args)?;
    let audit = measure(options.runs, cachectl, &args)?;
    let _ = writeln!(text, "| `cachectl audit` | {} |", cells(&audit, n));
    // Nova's pass changes the host (it is a clean): it runs last, once.
    let nova = run_nova(&script, &host, dir, n)?;
    text.push_str(&nova_rows(&nova, &audit, n));
    Ok(text)
}

/// What one run of Nova's pass cost.
struct NovaRun {
    /// The whole process: Python's imports and the `qemu-img` children included.
    process: Cost,
    /// `ImageCacheManager.update` alone, as the script times it inside (if it says).
    pass: Option<Duration>,
}

/// Nova's pass `script` on `host` as a command line: the program (the script, or its
/// interpreter) and its arguments, its result and log written to `result` and `log`.
pub(crate) fn nova_command(
    script: &Path,
    host: &BenchHost,
    result: &Path,
    log: &Path,
) -> (PathBuf, Vec<String>) {
    let program = interpreter(script);
    let mut args = Vec::new();
    if program != script {
        args.push(script.display().to_string());
    }
    let path = |p: &Path| p.display().to_string();
    args.extend([
        "--instances-path".to_owned(),
        path(&host.instances_path),
        "--host".to_owned(),
        BENCH_HOST.to_owned(),
        "--inventory".to_owned(),
        path(&host.inventory),
        "--result".to_owned(),
        path(result),
        "--log".to_owned(),
        path(log),
    ]);
    (program, args)
}

/// Runs Nova's pass `script` once on `host`, its result and log in `dir`.
fn run_nova(script: &Path, host: &BenchHost, dir: &Path, n: usize) -> Result<NovaRun, String> {
    let result = dir.join("nova-result.json");
    let log = dir.join("nova.log");
    eprintln!("bench: running Nova's pass on {n} instances (about 30 s at 600)");
    let (program, args) = nova_command(script, host, &result, &log);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let process = measure(1, &program, &args)?;
    let pass = fs::read_to_string(&result)
        .ok()
        .and_then(|json| json_number(&json, "seconds_total_pass"))
        .map(Duration::from_secs_f64);
    Ok(NovaRun { process, pass })
}

/// The rows of Nova's pass, and how much faster `cachectl audit` is.
fn nova_rows(nova: &NovaRun, audit: &Cost, n: usize) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "| Nova's pass, whole process (Python imports and qemu-img children included) | {} |",
        cells(&nova.process, n)
    );
    if let Some(pass) = nova.pass {
        let _ = writeln!(
            text,
            "| Nova's pass itself (`ImageCacheManager.update`, as timed inside) | {} | {} | | |",
            seconds(pass),
            micros(pass, n)
        );
        let _ = writeln!(
            text,
            "\n`cachectl audit` is {:.0}x faster than Nova's pass itself ({:.0}x faster than the whole process).",
            pass.as_secs_f64() / audit.wall.as_secs_f64(),
            nova.process.wall.as_secs_f64() / audit.wall.as_secs_f64()
        );
    }
    text
}

/// What runs a script: itself if it is executable, else the interpreter its `#!` line names (one
/// path, no argument), else `python3`.
pub(crate) fn interpreter(script: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let executable = fs::metadata(script).is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
    if executable {
        return script.to_owned();
    }
    let first_line = fs::read_to_string(script)
        .ok()
        .and_then(|text| text.lines().next().map(str::to_owned))
        .unwrap_or_default();
    let mut words = first_line
        .strip_prefix("#!")
        .unwrap_or_default()
        .split_whitespace();
    match (words.next(), words.next()) {
        (Some(program), None) if Path::new(program).is_file() => PathBuf::from(program),
        _ => PathBuf::from("python3"),
    }
}

/// The number at `key` of a JSON object.
fn json_number(json: &str, key: &str) -> Option<f64> {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()?
        .get(key)?
        .as_f64()
}

// ----- formatting ----------------------------------------------------------------------------

/// Time, time per instance, CPU time and peak memory, as table cells.
pub(crate) fn cells(cost: &Cost, n: usize) -> String {
    format!(
        "{} | {} | {} | {}",
        seconds(cost.wall),
        micros(cost.wall, n),
        seconds(cost.cpu),
        memory(cost.max_rss_kib)
    )
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn micros(d: Duration, n: usize) -> String {
    let us = d.as_secs_f64() * 1e6 / n.max(1) as f64;
    if us >= 1000.0 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.1} us")
    }
}

fn memory(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() -> Result<(), String> {
        let args = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let quick = Options::parse(&args("--quick --runs 2 --instances 10,20"))?;
        assert_eq!(quick.file_size, 256 * MIB);
        assert_eq!(quick.instances, [10, 20]);
        assert_eq!(quick.runs, 2);
        assert!(Options::parse(&args("--files")).is_err());
        assert!(Options::parse(&args("--bogus")).is_err());
        Ok(())
    }

    #[test]
    fn numbers_in_nova_results() {
        let json = "{\n \"seconds_import\": 1.5,\n \"seconds_total_pass\": 44.1234,\n \"x\": 1}";
        assert_eq!(json_number(json, "seconds_total_pass"), Some(44.1234));
        assert_eq!(json_number(json, "missing"), None);
    }

    #[test]
    fn sparse_images_read_back() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("xtask-bench-test-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        let path = dir.join("disk");
        let spec = Qcow2Spec {
            backing_file: Some(b"/var/lib/nova/instances/_base/x"),
            backing_format: Some("raw"),
            ..Qcow2Spec::new(20 * GIB)
        };
        let bytes = create_image(&spec).map_err(io::Error::other)?;
        write_sparse(&path, &bytes)?;
        let read = fs::read(&path)?;
        fs::remove_dir_all(&dir)?;
        assert_eq!(read, bytes);
        Ok(())
    }
}
