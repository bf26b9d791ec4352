//! Command-line options, and running a command with its exit code.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Instant;

use cachectl_fs::{DEFAULT_BEST_EFFORT_LEVEL, IoPriority, set_io_priority};
use cachectl_naming::{escape_controls, quote};
use cachectl_policy::RemovalCap;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::checksums::ChecksumMode;
use crate::clock::now;
use crate::error::CommandError;
use crate::exit::ExitCode;
use crate::inspect::{InspectConfig, InspectOutput};
use crate::logging::{self, Verbosity};
use crate::metrics::{self, Run, RunFacts};
use crate::pass::{Action, PassConfig};
use crate::report::Format;
use crate::scan::DEFAULT_SCAN_JOBS;
use crate::settings::{Settings, SettingsArgs, parse_duration};
use crate::space::{SizeArg, parse_removal_cap, parse_size_arg};
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
    /// nova.conf, and the flags that override it.
    #[command(flatten)]
    pub settings: SettingsArgs,
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
    /// Print the effective settings (nova.conf and flags), and where each came from.
    Config(ConfigArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the manual page (roff), as packages install it.
    #[command(hide = true)]
    Man,
}

/// Options of `completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Options of `config`.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Options of `audit` (and `clean`).
#[derive(Debug, Args)]
pub(crate) struct PassArgs {
    /// Instance records, `-` for standard input: cachectl's `{"instances": [...]}`, Nova's
    /// `GET /servers/detail` (microversion 2.47+) or `openstack server list --long -f json`.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// A libvirt domain XML (`virsh dumpxml`), `-` for standard input (repeatable).
    #[arg(long, value_name = "FILE")]
    pub libvirt_xml: Vec<PathBuf>,
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
    /// Also write what the run found and did to FILE, for node_exporter's textfile collector
    /// (Prometheus text format, replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// Never remove the original, small and resized copies of this image (repeatable).
    #[arg(long, value_name = "IMAGE_ID")]
    pub keep: Vec<String>,
    /// Image ids to keep, one a line (`#` comments), `-` for standard input (repeatable).
    #[arg(long, value_name = "FILE")]
    pub keep_file: Vec<PathBuf>,
    /// Space pressure: while the file system holding the cache has less free space than SIZE
    /// (500G, 1.5TiB, 10%), unused files younger than their minimum age go too, the longest
    /// unused first. Files in use never go.
    #[arg(long, value_name = "SIZE|PCT", value_parser = parse_size_arg)]
    pub min_free: Option<SizeArg>,
    /// Space pressure: while the cache takes more than SIZE on disk (500G, 10%), as --min-free.
    #[arg(long, value_name = "SIZE|PCT", value_parser = parse_size_arg)]
    pub max_cache_size: Option<SizeArg>,
    /// Remove at most N files (100) or SIZE on disk (50G) this run, the longest unused first;
    /// the rest is left for the next run.
    #[arg(long, value_name = "N|SIZE", value_parser = parse_removal_cap)]
    pub max_remove: Option<RemovalCap>,
    /// How many threads work at once.
    #[command(flatten)]
    pub jobs: JobsArgs,
    /// Read N directories and files of the instances path and the cache at a time [default:
    /// --jobs if given, else 32: a scan waits on the storage, a network round trip a call on
    /// NFS or CephFS, not on the processor].
    #[arg(long, value_name = "N", value_parser = parse_jobs)]
    pub scan_jobs: Option<NonZeroUsize>,
    /// Whose turn it is on the disk.
    #[command(flatten)]
    pub io: IoPriorityArgs,
}

impl PassArgs {
    /// How many reads a scan has in flight: as given, else as many as `--jobs` if given (one
    /// thread stays one thread), else [`DEFAULT_SCAN_JOBS`].
    fn scan_jobs(&self) -> NonZeroUsize {
        self.scan_jobs
            .or(self.jobs.jobs)
            .unwrap_or(DEFAULT_SCAN_JOBS)
    }
}

/// `--io-priority`, shared by the commands that read files at length.
#[derive(Debug, Clone, Copy, Args)]
pub(crate) struct IoPriorityArgs {
    /// The I/O priority class of the run: `idle` reads only while no other process waits on the
    /// disk (for timer runs). Default: the class cachectl was started with (best-effort unless
    /// `ionice` said otherwise).
    #[arg(long, value_enum, value_name = "CLASS")]
    pub io_priority: Option<IoClass>,
}

/// The I/O scheduling classes `--io-priority` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum IoClass {
    /// Only when no other process waits on the disk.
    Idle,
    /// Shares the disk with other processes (at the level of a process of nice 0).
    BestEffort,
}

impl IoClass {
    /// Its name on the command line.
    fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::BestEffort => "best-effort",
        }
    }
}

impl IoPriorityArgs {
    /// Sets the process's I/O priority as asked, before any thread is started (threads inherit
    /// it); nothing if not asked.
    fn apply(&self) -> Result<(), CommandError> {
        let Some(class) = self.io_priority else {
            return Ok(());
        };
        let priority = match class {
            IoClass::Idle => IoPriority::Idle,
            IoClass::BestEffort => IoPriority::BestEffort(DEFAULT_BEST_EFFORT_LEVEL),
        };
        set_io_priority(priority).map_err(|err| {
            CommandError::new(
                ExitCode::Failure,
                format!("cannot set the I/O priority class {}: {err}", class.name()),
            )
        })?;
        tracing::info!("I/O priority class: {}", class.name());
        Ok(())
    }
}

/// `--jobs`, shared by the commands that hash.
#[derive(Debug, Clone, Copy, Args)]
pub(crate) struct JobsArgs {
    /// Hash N files at a time (default: one per core).
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
    /// Also write what the run found to FILE, for node_exporter's textfile collector
    /// (Prometheus text format, replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// How many threads work at once.
    #[command(flatten)]
    pub jobs: JobsArgs,
    /// Whose turn it is on the disk.
    #[command(flatten)]
    pub io: IoPriorityArgs,
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
    // One write a report, not one a line: a JSON report of a large host has thousands.
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
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
        Command::Verify(args) => run_verify(cli, args, &mut out),
        Command::Inspect(args) => {
            let config = InspectConfig {
                output: args.output,
                backing_chain: args.backing_chain,
                disks: args.disks.clone(),
            };
            crate::inspect::run(&config, &mut out)
        }
        Command::Demo(args) => crate::demo::run(args.dir.as_deref(), &mut out),
        Command::Config(args) => settings(cli)
            .and_then(|settings| crate::show_config::run(&settings, args.format, &mut out)),
        Command::Completions(args) => {
            let mut command = Cli::command();
            clap_complete::generate(args.shell, &mut command, "cachectl", &mut out);
            Ok(ExitCode::Success)
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut out)
            .map(|()| ExitCode::Success)
            .map_err(CommandError::from),
    };
    let result = result.and_then(|code| {
        out.flush()?;
        Ok(code)
    });
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
    let stdin_readers = [args.inventory.as_ref(), args.ack_unreadable.as_ref()]
        .into_iter()
        .flatten()
        .chain(&args.libvirt_xml)
        .chain(&args.keep_file)
        .filter(|path| path.as_os_str() == "-")
        .count();
    if stdin_readers > 1 {
        return Err(CommandError::new(
            ExitCode::Usage,
            "standard input can be read once: give `-` to only one of --inventory, \
             --ack-unreadable, --libvirt-xml and --keep-file"
                .to_owned(),
        ));
    }
    if cli.settings.no_libvirt && !args.libvirt_xml.is_empty() {
        return Err(CommandError::new(
            ExitCode::Usage,
            "--libvirt-xml gives domains to read, --no-libvirt reads none: give one".to_owned(),
        ));
    }
    let settings = settings(cli)?;
    args.io.apply()?;
    let config = PassConfig {
        inventory: args.inventory.clone(),
        libvirt: settings.libvirt_config(&args.libvirt_xml),
        checksum: if args.checksum {
            checksum
        } else {
            ChecksumMode::Off
        },
        ack_unreadable: args.ack_unreadable.clone(),
        jobs: args.jobs.get(),
        scan_jobs: args.scan_jobs(),
        removal_cap: args.max_remove,
        min_free: args.min_free,
        max_cache_size: args.max_cache_size,
        progress: crate::progress::wanted(cli.quiet),
        ..settings.pass_config(action, now()?)
    };
    let started = Instant::now();
    // A pin file that cannot be used fails the run as the pass's own errors do: metrics say so.
    let outcome = pinned(args).and_then(|pinned| {
        let config = PassConfig {
            pinned,
            ..config.clone()
        };
        crate::pass::run(&config).map_err(CommandError::from)
    });
    if let Ok(outcome) = &outcome {
        outcome.report.write(args.format, out)?;
        out.flush()?;
    }
    let facts = outcome
        .as_ref()
        .map(|o| (RunFacts::Pass(&o.report), o.exit_code));
    let written = metrics::write_if_asked(
        args.metrics_file.as_deref(),
        &Run::ended(action.name(), facts, started, config.now, &config.scan),
    );
    metrics::then(written, outcome.map(|o| o.exit_code))
}

fn run_verify(cli: &Cli, args: &VerifyArgs, out: &mut dyn Write) -> Result<ExitCode, CommandError> {
    let settings = settings(cli)?;
    args.io.apply()?;
    let config = VerifyConfig {
        scan: settings.scan_config(),
        files: args.files.clone(),
        format: args.format,
        jobs: args.jobs.get(),
        now: now()?,
        progress: crate::progress::wanted(cli.quiet),
    };
    let started = Instant::now();
    let verified = crate::verify::verify(&config);
    if let Ok(verified) = &verified {
        crate::verify::write_report(&verified.report, config.format, out)?;
        out.flush()?;
    }
    let facts = verified
        .as_ref()
        .map(|v| (RunFacts::Verify(&v.report), v.exit_code));
    let written = metrics::write_if_asked(
        args.metrics_file.as_deref(),
        &Run::ended("verify", facts, started, config.now, &config.scan),
    );
    metrics::then(written, verified.map(|v| v.exit_code))
}

/// The image ids pinned by `--keep` and `--keep-file`.
fn pinned(args: &PassArgs) -> Result<BTreeSet<String>, CommandError> {
    let mut pinned: BTreeSet<String> = BTreeSet::new();
    for id in &args.keep {
        if !cachectl_sources::pins::is_image_id(id) {
            return Err(CommandError::new(
                ExitCode::Usage,
                format!("--keep {}: not an image id", quote(id)),
            ));
        }
        pinned.insert(id.clone());
    }
    for path in &args.keep_file {
        let ids = cachectl_sources::pins::load(path)
            .map_err(|err| CommandError::new(ExitCode::BadInput, err.to_string()))?;
        pinned.extend(ids);
    }
    Ok(pinned)
}

/// The effective settings: nova.conf, overridden by the flags.
fn settings(cli: &Cli) -> Result<Settings, CommandError> {
    Ok(cli.settings.resolve()?)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
