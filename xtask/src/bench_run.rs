//! `cargo xtask bench`: every section in one run, side by side (see bench.rs for what each
//! measures, and slow_storage.rs and clean_bench.rs for the network-storage and removal ones).

use std::fmt::Write as _;
use std::fs;

use crate::bench::{
    Options, USAGE, audit_section, build_cachectl, hash_section, machine, nova_section,
};
use crate::{clean_bench, slow_storage};

/// Runs the bench with the command line's options; prints the report on stdout.
pub fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    let options = Options::parse(args)?;
    let cachectl = match &options.cachectl {
        Some(path) => path.clone(),
        None => build_cachectl()?,
    };
    let dir = options.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("cachectl-bench-{}", std::process::id()))
    });
    fs::create_dir_all(&dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    eprintln!("bench: inputs in {}", dir.display());

    let mut report = String::new();
    let _ = writeln!(report, "{}", machine());
    let result = (|| {
        if options.files > 0 {
            let section = hash_section(&options, &cachectl, &dir.join("hash"))?;
            report.push_str(&section);
        }
        let section = audit_section(&options, &cachectl, &dir.join("hosts"))?;
        report.push_str(&section);
        let section = nova_section(&options, &cachectl, &dir.join("nova"))?;
        report.push_str(&section);
        let section = slow_storage::section(&options, &cachectl, &dir.join("storage"))?;
        report.push_str(&section);
        let section = clean_bench::section(&options, &cachectl, &dir.join("removals"))?;
        report.push_str(&section);
        Ok::<(), String>(())
    })();
    if options.keep {
        eprintln!("bench: inputs kept in {}", dir.display());
    } else if let Err(err) = fs::remove_dir_all(&dir) {
        eprintln!("bench: cannot remove {}: {err}", dir.display());
    }
    println!("{report}");
    result
}
