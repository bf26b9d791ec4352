//! `cargo xtask stress`: Nova-style spawners, an instance deleter and `cachectl clean` loops on
//! one instances path at once, checking that no overlay ever loses its backing file.
//!
//! Nova serialises everything it does to a base file `_base/<fp>` with an oslo.concurrency
//! external lock: a POSIX record lock (`fcntl(F_SETLKW)`, whole file, as `fcntl.lockf` takes it)
//! on `locks/nova-<fp>`. A waiter opens that file, blocks, and never checks afterwards that the
//! path still names the inode it locked, so a lock file unlinked while someone waits on it no
//! longer excludes anyone. This harness runs, for `--seconds`, on a new instances path:
//!
//! - `--spawners` processes (POSIX record locks belong to the process, so threads would not
//!   exclude each other): this binary again, as `xtask stress-spawner`. Each loops: picks one of
//!   `--images` images at random (few, so that contention is high), opens `locks/nova-<fp>` as
//!   oslo does (`O_WRONLY|O_APPEND|O_CREAT`, 0644) and waits for the lock; under it, fetches the
//!   base if it is missing (`_base/<fp>.part` written piece by piece with short pauses, as a
//!   download, then renamed), runs `qemu-img create -b` for a new instance's `disk`, and looks at
//!   the base again; then closes the file. It reports each spawn
//!   on stdout, with the identity of the base it was created on (inode, and a nonce written in
//!   the base by whoever fetched it: inode numbers are reused), or a *lost* spawn, when
//!   `qemu-img create` failed or the base vanished under the lock (its instance is removed).
//! - An instance deleter thread: whenever more than `--live` instances are live (default 4: with
//!   20, an image seldom loses its last overlay and bases are seldom removed), it removes one at
//!   random (from the harness's map first, then its directory).
//! - `--cleaners` threads, each running `cachectl clean` with both minimum ages 0 in a loop:
//!   exit codes 0, 7 (another clean runs) and 4 (a disk could not be read, e.g. one `qemu-img`
//!   is writing: nothing removed) are expected and counted; any other is a harness failure.
//!
//! After every event (each spawn, each deletion, each finished clean) and once at the end, every
//! live instance's base must still be there, the same file it was created on: otherwise it is a
//! violation, "base removed under a live overlay" or "base replaced", counted once per instance.
//! The run fails on any violation, any lost spawn, or a harness failure (and when nothing was
//! exercised: no spawn, or no clean that completed). Everything stops at the deadline: children
//! that overrun it by more than `GRACE` are killed (a harness failure). Memory stays bounded: the
//! live instances are few, and only the first `EXAMPLES` messages of each kind are kept.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cachectl_naming::fingerprint;
use rustix::fs::{FlockOperation, fcntl_lock};

use crate::bench::number;

/// The host name the clean loops pass.
const STRESS_HOST: &str = "stress-host";
/// The deleter removes instances while more than this many are live (`--live`): few, so that
/// the last overlay of an image goes often and its base becomes removable.
const LIVE: usize = 4;
/// How long children may overrun the deadline before they are killed.
const GRACE: Duration = Duration::from_secs(10);
/// Size of a fetched base file.
const BASE_SIZE: usize = 64 * 1024;
/// A fetch writes the base in this many pieces, pausing `FETCH_PAUSE` after each, as a download
/// would: the longer Nova holds a lock, the more others queue on it.
const FETCH_PIECES: usize = 16;
const FETCH_PAUSE: Duration = Duration::from_millis(1);
/// Messages kept of each kind (lost spawns, violations, failures), to show at the end.
const EXAMPLES: usize = 10;

const USAGE: &str = "usage: cargo xtask stress [OPTIONS]

Nova-style spawners (lockf on locks/nova-<fp>, fetch through .part + rename, qemu-img create
under the lock), an instance deleter and `cachectl clean` loops with minimum ages 0 on one
instances path. Fails if an overlay's base is ever removed or replaced under it, or a spawn
loses its base.

  --seconds N       how long to run (default 30)
  --spawners N      spawner processes (default 4)
  --cleaners N      `cachectl clean` loops (default 2)
  --images N        distinct images the spawners boot (default 4: few, for contention)
  --live N          the deleter removes instances while more than N are live (default 4)
  --cachectl PATH   the cachectl binary (default: cargo build --release, then that)
  --dir DIR         where the instances path goes (default: a new temporary directory)
  --keep            keep it afterwards";

/// What to run.
#[derive(Debug, Clone)]
struct Options {
    seconds: u64,
    spawners: usize,
    cleaners: usize,
    images: usize,
    live: usize,
    cachectl: Option<PathBuf>,
    dir: Option<PathBuf>,
    keep: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Self {
            seconds: 30,
            spawners: 4,
            cleaners: 2,
            images: 4,
            live: LIVE,
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
                "--seconds" => options.seconds = positive(arg, &value()?)?,
                "--spawners" => options.spawners = positive(arg, &value()?)?,
                "--cleaners" => options.cleaners = number(arg, &value()?)?,
                "--images" => options.images = positive(arg, &value()?)?,
                "--live" => options.live = number(arg, &value()?)?,
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

fn positive<T: std::str::FromStr + PartialOrd + Default>(
    option: &str,
    text: &str,
) -> Result<T, String> {
    let n: T = number(option, text)?;
    if n > T::default() {
        Ok(n)
    } else {
        Err(format!("{option}: {text:?} must be at least 1"))
    }
}

// ----- the spawner process ---------------------------------------------------------------------

/// The identity of a base file: its inode, and the nonce its fetcher wrote at its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    ino: u64,
    nonce: u64,
}

/// What a base file begins with.
fn base_header(fp: &str, nonce: u64) -> String {
    format!("cachectl stress base {fp} {nonce:016x}\n")
}

/// The identity of the base at `path`, `None` if there is none (or it is not one of ours).
fn identity(path: &Path) -> Option<Identity> {
    let mut file = File::open(path).ok()?;
    let ino = file.metadata().ok()?.ino();
    let mut head = [0u8; 80];
    let mut len = 0;
    while len < head.len() {
        match file.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    // The header only: random bytes follow it.
    let line = head[..len].split(|&b| b == b'\n').next()?;
    let nonce = std::str::from_utf8(line).ok()?.rsplit(' ').next()?;
    let nonce = u64::from_str_radix(nonce, 16).ok()?;
    Some(Identity { ino, nonce })
}

/// A xorshift64 generator: enough to pick images and names.
struct Rng(u64);

impl Rng {
    fn seeded(salt: u64) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed = nanos ^ (u64::from(std::process::id()) << 32) ^ salt.wrapping_mul(0x9e37_79b9);
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The id of image `k`, and its fingerprint, the base file's name.
fn image_fp(k: usize) -> String {
    fingerprint(&format!("cachectl-stress-image-{k}"))
        .as_str()
        .to_owned()
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `xtask stress-spawner INSTANCES IMAGES DEADLINE_UNIX_MS INDEX`: spawns instances until the
/// deadline, one line per spawn on stdout (tab-separated):
///
/// ```text
/// spawn <instance> <fp> <inode> <nonce>   an overlay created on that base
/// lost  <instance> <fp> <kind> <why>      the download, the base or qemu-img create failed
/// done  <spawns>
/// ```
pub fn spawner_child(args: &[String]) -> Result<(), String> {
    let [instances, images, deadline, index] = args else {
        return Err("stress-spawner INSTANCES IMAGES DEADLINE_UNIX_MS INDEX".to_owned());
    };
    let instances = PathBuf::from(instances);
    let images: usize = positive("images", images)?;
    let deadline: u64 = number("deadline", deadline)?;
    let index: u64 = number("index", index)?;
    let mut rng = Rng::seeded(index);
    let mut out = io::stdout().lock();
    let mut spawns = 0u64;
    while unix_millis() < deadline {
        let fp = image_fp(rng.below(images));
        let name = new_instance_dir(&instances, &mut rng)?;
        let line = match spawn_one(&instances, &name, &fp, &mut rng)? {
            Ok(id) => {
                spawns += 1;
                format!("spawn\t{name}\t{fp}\t{}\t{:016x}", id.ino, id.nonce)
            }
            Err((kind, why)) => {
                // As Nova cleans up a failed spawn.
                let _ = fs::remove_dir_all(instances.join(&name));
                let why = why.replace(['\n', '\t'], " ");
                format!("lost\t{name}\t{fp}\t{}\t{why}", kind as usize)
            }
        };
        writeln!(out, "{line}").map_err(|err| format!("stdout: {err}"))?;
    }
    writeln!(out, "done\t{spawns}").map_err(|err| format!("stdout: {err}"))?;
    Ok(())
}

/// Makes a new instance directory with a uuid-like name; its name.
fn new_instance_dir(instances: &Path, rng: &mut Rng) -> Result<String, String> {
    loop {
        let (a, b) = (rng.next(), rng.next());
        let name = format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        );
        match fs::create_dir(instances.join(&name)) {
            Ok(()) => return Ok(name),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(format!("cannot create instance {name}: {err}")),
        }
    }
}

/// One spawn under Nova's lock for `fp`: `Ok(Ok(base identity))`, `Ok(Err(how and why it was
/// lost))`, or `Err` when the harness itself failed.
fn spawn_one(
    instances: &Path,
    name: &str,
    fp: &str,
    rng: &mut Rng,
) -> Result<Result<Identity, (Lost, String)>, String> {
    let lock_path = instances.join("locks").join(format!("nova-{fp}"));
    // fcntl.lockf(fd, LOCK_EX) on oslo's lock file: F_SETLKW, a write lock on the whole file.
    // Like oslo, never check afterwards that the path still names the file locked.
    let lock = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(&lock_path)
        .map_err(|err| format!("cannot open {}: {err}", lock_path.display()))?;
    fcntl_lock(&lock, FlockOperation::LockExclusive)
        .map_err(|err| format!("cannot lock {}: {err}", lock_path.display()))?;

    let base = instances.join("_base").join(fp);
    let fetched = !base.exists();
    if fetched && let Err(why) = fetch(&base, fp, rng.next()) {
        return Ok(Err((Lost::Download, why)));
    }
    let Some(before) = identity(&base) else {
        let why = format!(
            "the base vanished under the lock (fetched: {fetched}, exists now: {})",
            base.exists()
        );
        return Ok(Err((Lost::BaseBefore, why)));
    };
    let disk = instances.join(name).join("disk");
    let output = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(&base)
        .arg(&disk)
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("cannot run qemu-img: {err}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().next().unwrap_or("no message").to_owned();
        let why = format!("qemu-img create failed ({}): {first}", output.status);
        return Ok(Err((Lost::QemuImg, why)));
    }
    if identity(&base).is_none() {
        let why = "the base vanished under the lock while qemu-img create ran".to_owned();
        return Ok(Err((Lost::BaseDuring, why)));
    }
    // A base replaced meanwhile is left to the orchestrator's check: it sees another identity.
    drop(lock);
    Ok(Ok(before))
}

/// How a spawn lost its base, under its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lost {
    /// The download failed: its `.part` was removed before the rename.
    Download,
    /// The base vanished before `qemu-img create`.
    BaseBefore,
    /// `qemu-img create` failed ("Could not open backing image").
    QemuImg,
    /// The base vanished while `qemu-img create` ran.
    BaseDuring,
}

impl Lost {
    const ALL: [Self; 4] = [
        Self::Download,
        Self::BaseBefore,
        Self::QemuImg,
        Self::BaseDuring,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Download => "download removed",
            Self::BaseBefore => "base gone before qemu-img",
            Self::QemuImg => "qemu-img create failed",
            Self::BaseDuring => "base gone during qemu-img",
        }
    }
}

/// Downloads the image as Nova does: to `<fp>.part`, then renamed.
fn fetch(base: &Path, fp: &str, nonce: u64) -> Result<(), String> {
    let part = base.with_file_name(format!("{fp}.part"));
    let mut bytes = base_header(fp, nonce).into_bytes();
    let mut fill = nonce | 1;
    while bytes.len() < BASE_SIZE {
        fill ^= fill << 13;
        fill ^= fill >> 7;
        fill ^= fill << 17;
        bytes.extend_from_slice(&fill.to_le_bytes());
    }
    bytes.truncate(BASE_SIZE);
    let error = |err: io::Error| format!("cannot write {}: {err}", part.display());
    let mut file = File::create(&part).map_err(error)?;
    // A download takes time: a piece, then a pause.
    for piece in bytes.chunks(BASE_SIZE / FETCH_PIECES) {
        file.write_all(piece).map_err(error)?;
        thread::sleep(FETCH_PAUSE);
    }
    drop(file);
    fs::rename(&part, base).map_err(|err| format!("cannot rename {}: {err}", part.display()))
}

// ----- the orchestrator ------------------------------------------------------------------------

/// A live instance: the base its overlay was created on.
#[derive(Debug)]
struct Instance {
    fp: String,
    base: Identity,
    /// Already counted as a violation.
    violated: bool,
}

/// The figures of a run.
#[derive(Debug, Default)]
struct Figures {
    spawns: u64,
    lost: u64,
    /// Lost spawns by `Lost` kind.
    lost_by: [u64; 4],
    removals: u64,
    clean_done: u64,
    clean_busy: u64,
    clean_blocked: u64,
    deleted: u64,
    removed_under: u64,
    replaced_under: u64,
    checks: u64,
    max_live: usize,
}

/// What the threads share, under one mutex.
#[derive(Debug, Default)]
struct State {
    live: HashMap<String, Instance>,
    figures: Figures,
    /// Examples of lost spawns and violations.
    examples: Vec<String>,
    /// Harness failures: the run proves nothing.
    failures: Vec<String>,
}

impl State {
    /// Keeps (and shows at once) the first few lost spawns and violations.
    fn example(&mut self, text: String) {
        if self.examples.len() < EXAMPLES {
            eprintln!("stress: {text}");
            self.examples.push(text);
            if self.examples.len() == EXAMPLES {
                eprintln!("stress: (further ones only counted)");
            }
        }
    }

    fn failure(&mut self, text: String) {
        if self.failures.len() < EXAMPLES {
            self.failures.push(text);
        }
    }

    /// Every live instance's base must be the file it was created on.
    fn check(&mut self, base_dir: &Path) {
        self.figures.checks += 1;
        let mut now: HashMap<String, Option<Identity>> = HashMap::new();
        let mut found = Vec::new();
        for (name, instance) in &mut self.live {
            if instance.violated {
                continue;
            }
            let current = *now
                .entry(instance.fp.clone())
                .or_insert_with(|| identity(&base_dir.join(&instance.fp)));
            let what = match current {
                None => "base removed under a live overlay",
                Some(id) if id != instance.base => "base replaced under a live overlay",
                Some(_) => continue,
            };
            instance.violated = true;
            found.push((
                what,
                format!("{what}: instance {name}, base {}", instance.fp),
            ));
        }
        for (what, text) in found {
            if what.contains("removed") {
                self.figures.removed_under += 1;
            } else {
                self.figures.replaced_under += 1;
            }
            self.example(format!("VIOLATION: {text}"));
        }
    }
}

/// The orchestrator's shared context.
struct Run<'a> {
    state: Mutex<State>,
    stop: AtomicBool,
    deadline: Instant,
    /// The deleter keeps this many instances live.
    live: usize,
    instances: PathBuf,
    base_dir: PathBuf,
    cachectl: &'a Path,
    /// Where the clean loops' outputs go.
    scratch: PathBuf,
}

impl Run<'_> {
    fn state(&self) -> MutexGuard<'_, State> {
        // A thread that panicked holding it leaves figures still worth reading.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && Instant::now() < self.deadline
    }

    fn fail(&self, text: String) {
        eprintln!("stress: harness failure: {text}");
        self.state().failure(text);
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs the stress test.
pub fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    let options = Options::parse(args)?;
    let qemu_img = version(Path::new("qemu-img"), "--version")
        .ok_or("qemu-img is not installed (apt-get install qemu-utils)")?;
    let cachectl = match &options.cachectl {
        Some(path) => path.clone(),
        None => crate::bench::build_cachectl()?,
    };
    let cachectl_version = version(&cachectl, "--version")
        .ok_or_else(|| format!("cannot run {}", cachectl.display()))?;
    let layout = Layout::create(&options)?;
    eprintln!(
        "stress: {} s, {} spawners, {} cleaners, {} images, on {}",
        options.seconds,
        options.spawners,
        options.cleaners,
        options.images,
        layout.instances.display()
    );

    let result = stress(&options, &cachectl, &layout.instances, &layout.scratch);
    layout.remove(options.keep);
    let (state, wall) = result?;
    println!(
        "{}",
        report(&options, &state, wall, &cachectl_version, &qemu_img)
    );
    verdict(&options, &state)
}

/// Where a run goes: everything under one root, the instances path and the clean loops'
/// outputs beside it.
struct Layout {
    instances: PathBuf,
    scratch: PathBuf,
    /// What this run makes, and removes afterwards (unless --keep).
    made: Vec<PathBuf>,
}

impl Layout {
    /// Under `--dir`, or a new temporary directory; none of what it makes may exist yet.
    fn create(options: &Options) -> Result<Self, String> {
        let (root, made_root) = match &options.dir {
            Some(dir) => (dir.clone(), false),
            None => (
                std::env::temp_dir().join(format!("cachectl-stress-{}", std::process::id())),
                true,
            ),
        };
        let instances = root.join("instances");
        let scratch = root.join("clean-output");
        let made = if made_root {
            vec![root]
        } else {
            vec![instances.clone(), scratch.clone()]
        };
        for path in &made {
            if path.exists() {
                return Err(format!(
                    "{} already exists: give a new --dir",
                    path.display()
                ));
            }
        }
        for path in [
            instances.join("_base"),
            instances.join("locks"),
            scratch.clone(),
        ] {
            fs::create_dir_all(&path)
                .map_err(|err| format!("cannot create {}: {err}", path.display()))?;
        }
        Ok(Self {
            instances,
            scratch,
            made,
        })
    }

    /// Removes what the run made, or says where it is kept.
    fn remove(&self, keep: bool) {
        for path in &self.made {
            if keep {
                eprintln!("stress: kept {}", path.display());
            } else if let Err(err) = fs::remove_dir_all(path) {
                eprintln!("stress: cannot remove {}: {err}", path.display());
            }
        }
    }
}

/// Whether the run passed: no harness failure, no violation, no lost spawn, and something was
/// exercised.
fn verdict(options: &Options, state: &State) -> Result<(), String> {
    let f = &state.figures;
    let violations = f.removed_under + f.replaced_under;
    if !state.failures.is_empty() {
        Err(format!("the harness failed: {}", state.failures.join("; ")))
    } else if violations > 0 || f.lost > 0 {
        Err(format!(
            "{violations} overlays lost their base, {} spawns lost theirs",
            f.lost
        ))
    } else if f.spawns == 0 || (options.cleaners > 0 && f.clean_done == 0) {
        Err("nothing was exercised: no spawn or no completed clean".to_owned())
    } else {
        Ok(())
    }
}

/// The run itself: the final state and the wall time.
fn stress(
    options: &Options,
    cachectl: &Path,
    instances: &Path,
    scratch: &Path,
) -> Result<(State, Duration), String> {
    let me = std::env::current_exe().map_err(|err| format!("cannot find xtask itself: {err}"))?;
    // Overlays name their base by its absolute path, as Nova's do.
    let instances = &fs::canonicalize(instances)
        .map_err(|err| format!("cannot resolve {}: {err}", instances.display()))?;
    let started = Instant::now();
    let seconds = Duration::from_secs(options.seconds);
    let run = Run {
        state: Mutex::new(State::default()),
        stop: AtomicBool::new(false),
        deadline: started + seconds,
        live: options.live,
        instances: instances.to_owned(),
        base_dir: instances.join("_base"),
        cachectl,
        scratch: scratch.to_owned(),
    };
    let deadline_ms = (unix_millis() + seconds.as_millis() as u64).to_string();
    let mut children: Vec<Child> = Vec::new();
    for index in 0..options.spawners {
        let child = Command::new(&me)
            .arg("stress-spawner")
            .arg(instances)
            .arg(options.images.to_string())
            .arg(&deadline_ms)
            .arg(index.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        match child {
            Ok(child) => children.push(child),
            Err(err) => {
                for mut child in children {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(format!("cannot start a spawner: {err}"));
            }
        }
    }
    let outputs: Vec<_> = children.iter_mut().map(|c| c.stdout.take()).collect();
    thread::scope(|scope| {
        for (index, stdout) in outputs.into_iter().enumerate() {
            let run = &run;
            scope.spawn(move || match stdout {
                Some(stdout) => read_spawner(run, index, stdout),
                None => run.fail(format!("spawner {index}: no stdout")),
            });
        }
        for index in 0..options.cleaners {
            let run = &run;
            scope.spawn(move || clean_loop(run, index));
        }
        let run_ref = &run;
        scope.spawn(move || delete_loop(run_ref));
        wait_children(&run, &mut children);
    });
    let wall = started.elapsed();
    let mut state = run
        .state
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    state.check(&run.base_dir);
    Ok((state, wall))
}

/// Waits for the spawners until the deadline and its grace; kills those that overrun it, and all
/// of them when the harness failed.
fn wait_children(run: &Run<'_>, children: &mut [Child]) {
    let mut done = vec![false; children.len()];
    while done.iter().any(|d| !d) {
        let overrun = Instant::now() > run.deadline + GRACE;
        let stopped = run.stop.load(Ordering::Relaxed);
        for (index, child) in children.iter_mut().enumerate() {
            if done[index] {
                continue;
            }
            match child.try_wait() {
                Ok(Some(status)) => {
                    done[index] = true;
                    if !status.success() && !stopped {
                        run.fail(format!("spawner {index} exited with {status}"));
                    }
                }
                Ok(None) if overrun || stopped => {
                    if overrun {
                        run.fail(format!(
                            "spawner {index} overran the deadline by {} s: killed",
                            GRACE.as_secs()
                        ));
                    }
                    let _ = child.kill();
                    let _ = child.wait();
                    done[index] = true;
                }
                Ok(None) => {}
                Err(err) => {
                    run.fail(format!("spawner {index}: {err}"));
                    let _ = child.kill();
                    done[index] = true;
                }
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Reads one spawner's reports, and checks after each.
fn read_spawner(run: &Run<'_>, index: usize, stdout: impl Read) {
    let mut finished = false;
    for line in BufReader::new(stdout).lines() {
        let line = match line {
            Ok(line) => line,
            Err(err) => {
                run.fail(format!("spawner {index}: cannot read its output: {err}"));
                return;
            }
        };
        let fields: Vec<&str> = line.splitn(5, '\t').collect();
        let mut state = run.state();
        match fields[..] {
            ["spawn", name, fp, ino, nonce] => {
                let (Ok(ino), Ok(nonce)) = (ino.parse(), u64::from_str_radix(nonce, 16)) else {
                    drop(state);
                    run.fail(format!("spawner {index} said {line:?}"));
                    return;
                };
                state.figures.spawns += 1;
                state.live.insert(
                    name.to_owned(),
                    Instance {
                        fp: fp.into(),
                        base: Identity { ino, nonce },
                        violated: false,
                    },
                );
                state.figures.max_live = state.figures.max_live.max(state.live.len());
            }
            ["lost", name, fp, kind, why] => {
                let Some(kind) = kind.parse().ok().filter(|&k: &usize| k < Lost::ALL.len()) else {
                    drop(state);
                    run.fail(format!("spawner {index} said {line:?}"));
                    return;
                };
                state.figures.lost += 1;
                state.figures.lost_by[kind] += 1;
                state.example(format!("lost spawn: instance {name}, base {fp}: {why}"));
            }
            ["done", _] => finished = true,
            _ => {
                drop(state);
                run.fail(format!("spawner {index} said {line:?}"));
                return;
            }
        }
        state.check(&run.base_dir);
    }
    if !finished && !run.stop.load(Ordering::Relaxed) {
        run.fail(format!("spawner {index} stopped before its deadline"));
    }
}

/// Removes a random live instance every few milliseconds while more than `--live` are live.
fn delete_loop(run: &Run<'_>) {
    let mut rng = Rng::seeded(0xde1e7e);
    while run.running() {
        thread::sleep(Duration::from_millis(3));
        let victim = {
            let mut state = run.state();
            if state.live.len() <= run.live {
                continue;
            }
            let n = rng.below(state.live.len());
            let name = state.live.keys().nth(n).cloned();
            // Out of the map before its directory goes: a check never sees it half-deleted.
            name.inspect(|name| {
                state.live.remove(name);
            })
        };
        let Some(name) = victim else { continue };
        if let Err(err) = fs::remove_dir_all(run.instances.join(&name)) {
            run.fail(format!("cannot delete instance {name}: {err}"));
            return;
        }
        let mut state = run.state();
        state.figures.deleted += 1;
        state.check(&run.base_dir);
    }
}

/// Runs `cachectl clean` with both minimum ages 0, again and again until the deadline.
fn clean_loop(run: &Run<'_>, index: usize) {
    let out_path = run.scratch.join(format!("clean-{index}.json"));
    let err_path = run.scratch.join(format!("clean-{index}.stderr"));
    while run.running() {
        match clean_once(run, &out_path, &err_path) {
            Ok(outcome) => {
                let mut state = run.state();
                match outcome {
                    CleanOutcome::Done(removed) => {
                        state.figures.clean_done += 1;
                        state.figures.removals += removed;
                    }
                    CleanOutcome::Busy => state.figures.clean_busy += 1,
                    CleanOutcome::Blocked => state.figures.clean_blocked += 1,
                }
                state.check(&run.base_dir);
            }
            Err(err) => {
                run.fail(format!("cleaner {index}: {err}"));
                return;
            }
        }
    }
}

/// How one `cachectl clean` ended.
enum CleanOutcome {
    /// Exit code 0: this many entries removed.
    Done(u64),
    /// Exit code 7: another clean was running.
    Busy,
    /// Exit code 4: a file could not be read, nothing removed.
    Blocked,
}

fn clean_once(run: &Run<'_>, out_path: &Path, err_path: &Path) -> Result<CleanOutcome, String> {
    let create = |path: &Path| {
        File::create(path).map_err(|err| format!("cannot create {}: {err}", path.display()))
    };
    let mut child = Command::new(run.cachectl)
        .args(["--no-config", "--no-libvirt"])
        .arg("--instances-path")
        .arg(&run.instances)
        .args(["--host", STRESS_HOST, "clean"])
        .args(["--original-min-age", "0s", "--resized-min-age", "0s"])
        .args(["--format", "json", "-q"])
        .stdin(Stdio::null())
        .stdout(create(out_path)?)
        .stderr(create(err_path)?)
        .spawn()
        .map_err(|err| format!("cannot run {}: {err}", run.cachectl.display()))?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() > run.deadline + GRACE => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "cachectl clean overran the deadline by {} s: killed",
                    GRACE.as_secs()
                ));
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(err) => return Err(format!("waiting for cachectl: {err}")),
        }
    };
    let stdout = fs::read_to_string(out_path).unwrap_or_default();
    let removed = || -> Result<u64, String> {
        serde_json::from_str::<serde_json::Value>(&stdout)
            .ok()
            .and_then(|json| json.get("summary")?.get("removed")?.as_u64())
            .ok_or_else(|| format!("no summary.removed in cachectl's output {stdout:?}"))
    };
    match status.code() {
        Some(0) => Ok(CleanOutcome::Done(removed()?)),
        Some(7) => Ok(CleanOutcome::Busy),
        Some(4) => match removed() {
            Ok(0) | Err(_) => Ok(CleanOutcome::Blocked),
            Ok(n) => Err(format!("exit code 4 (nothing removed), yet {n} removed")),
        },
        _ => {
            let stderr = fs::read_to_string(err_path).unwrap_or_default();
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(format!(
                "cachectl clean failed ({status}): {}",
                tail.join(" | ")
            ))
        }
    }
}

/// The first line `program arg` prints.
fn version(program: &Path, arg: &str) -> Option<String> {
    Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
}

/// The table of figures.
fn report(options: &Options, state: &State, wall: Duration, cachectl: &str, qemu: &str) -> String {
    let f = &state.figures;
    let mut text = format!(
        "Stress: {} spawners, {} clean loops (ages 0), {} images, instance deleter above {} \
         live; {cachectl}; {qemu}\n\n| figure | value |\n| --- | ---: |\n",
        options.spawners, options.cleaners, options.images, options.live
    );
    let mut row = |name: &str, value: String| {
        let _ = writeln!(text, "| {name} | {value} |");
    };
    row("duration", format!("{:.1} s", wall.as_secs_f64()));
    row(
        "spawns (overlays created under the lock)",
        f.spawns.to_string(),
    );
    let by: Vec<String> = Lost::ALL
        .iter()
        .zip(f.lost_by)
        .filter(|&(_, n)| n > 0)
        .map(|(kind, n)| format!("{}: {n}", kind.label()))
        .collect();
    row(
        "lost spawns (base gone under the lock)",
        if by.is_empty() {
            f.lost.to_string()
        } else {
            format!("{} ({})", f.lost, by.join(", "))
        },
    );
    row(
        "instances deleted (most live at once)",
        format!("{} ({})", f.deleted, f.max_live),
    );
    row("removals (`summary.removed`)", f.removals.to_string());
    row(
        "clean runs: done / busy (7) / blocked (4)",
        format!("{} / {} / {}", f.clean_done, f.clean_busy, f.clean_blocked),
    );
    row("checks of every live overlay", f.checks.to_string());
    row(
        "violations: base removed under a live overlay",
        f.removed_under.to_string(),
    );
    row(
        "violations: base replaced under a live overlay",
        f.replaced_under.to_string(),
    );
    if !(state.examples.is_empty() && state.failures.is_empty()) {
        text.push('\n');
    }
    for example in &state.examples {
        let _ = writeln!(text, "- {example}");
    }
    for failure in &state.failures {
        let _ = writeln!(text, "- harness failure: {failure}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() -> Result<(), String> {
        let args = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let o = Options::parse(&args("--seconds 120 --spawners 6 --images 2 --keep"))?;
        assert_eq!(
            (o.seconds, o.spawners, o.cleaners, o.images),
            (120, 6, 2, 2)
        );
        assert!(o.keep);
        assert!(Options::parse(&args("--seconds")).is_err());
        assert!(Options::parse(&args("--seconds 0")).is_err());
        assert!(Options::parse(&args("--images x")).is_err());
        assert!(Options::parse(&args("--bogus")).is_err());
        Ok(())
    }

    #[test]
    fn base_identity_reads_back() -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("xtask-stress-test-{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let fp = image_fp(0);
        let base = dir.join(&fp);
        // Whatever random bytes follow the header (not UTF-8, for some nonces).
        let mut ids = Vec::new();
        for k in 0..64u64 {
            let nonce = 0x1234_5678_9abc_def0 ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            fetch(&base, &fp, nonce)?;
            ids.push((identity(&base).map(|i| i.nonce), nonce));
        }
        let size = fs::metadata(&base).map_err(|e| e.to_string())?.len();
        let part_left = dir.join(format!("{fp}.part")).exists();
        fs::remove_dir_all(&dir).map_err(|e| e.to_string())?;
        for (read, written) in ids {
            assert_eq!(read, Some(written));
        }
        assert_eq!(size, BASE_SIZE as u64);
        assert!(!part_left);
        assert_eq!(identity(&base), None);
        Ok(())
    }

    #[test]
    fn check_counts_each_instance_once() {
        let dir = std::env::temp_dir().join(format!("xtask-stress-check-{}", std::process::id()));
        let mut state = State::default();
        state.live.insert(
            "a".to_owned(),
            Instance {
                fp: image_fp(1),
                base: Identity { ino: 1, nonce: 2 },
                violated: false,
            },
        );
        state.check(&dir);
        state.check(&dir);
        assert_eq!(state.figures.removed_under, 1);
        assert_eq!(state.figures.checks, 2);
    }
}
