//! The reproductions of "Safety under races and attack": a Nova process waiting on a lock file
//! across a `clean`, files planted by the instances path's owner (symlinks to files outside the
//! tree, FIFOs), a tenant's console log that looks like a broken disk, and the leftovers of
//! killed runs. Each victim outside the instances path must stay byte for byte as it was.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::Value;

use crate::support::*;

/// Whether the tests run as root, as cachectl does on a compute host (CI does).
fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The uid and gid the instances path gets, standing in for the `nova` user.
const NOVA: u32 = 65_534;

/// Gives the whole instances path to [`NOVA`] (as root), as on a compute host.
fn give_to_nova(host: &Host) {
    if !is_root() {
        return;
    }
    let mut dirs = vec![host.instances.clone()];
    while let Some(dir) = dirs.pop() {
        std::os::unix::fs::lchown(&dir, Some(NOVA), Some(NOVA)).expect("chown");
        for entry in fs::read_dir(&dir).expect("a directory") {
            let entry = entry.expect("an entry");
            std::os::unix::fs::lchown(entry.path(), Some(NOVA), Some(NOVA)).expect("chown");
            if entry.file_type().expect("a type").is_dir() {
                dirs.push(entry.path());
            }
        }
    }
}

/// A file outside the instances path that an attacker would like root to write: its contents,
/// mode and owner, to compare after the run.
struct Victim {
    path: PathBuf,
    contents: Vec<u8>,
    mode: u32,
    uid: u32,
}

impl Victim {
    fn new(host: &Host, name: &str, contents: &[u8]) -> Self {
        let path = host.root().join(name);
        fs::write(&path, contents).expect("a victim");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("its mode");
        let uid = fs::metadata(&path).expect("the victim").uid();
        Self {
            path,
            contents: contents.to_vec(),
            mode: 0o600,
            uid,
        }
    }

    #[track_caller]
    fn assert_untouched(&self) {
        let meta = fs::metadata(&self.path).expect("the victim is still there");
        assert_eq!(fs::read(&self.path).expect("readable"), self.contents);
        assert_eq!(meta.mode() & 0o7777, self.mode, "its mode changed");
        assert_eq!(meta.uid(), self.uid, "its owner changed");
    }
}

/// An oslo-style waiter, as a Nova process is: it opens `locks/nova-<name>`, then (when told)
/// blocks in `fcntl.lockf` and never checks that the name still names the file it locked. Under
/// the lock it "downloads" the base file (`.part`, then rename) and holds on until dropped.
struct Waiter {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Waiter {
    const SCRIPT: &str = "import fcntl, os, sys\n\
                          f = open(sys.argv[1], 'a')\n\
                          print(os.fstat(f.fileno()).st_ino, flush=True)\n\
                          sys.stdin.readline()\n\
                          fcntl.lockf(f, fcntl.LOCK_EX)\n\
                          part = sys.argv[2] + '.part'\n\
                          open(part, 'wb').write(b'image')\n\
                          os.rename(part, sys.argv[2])\n\
                          print('locked', flush=True)\n\
                          sys.stdin.readline()\n";

    /// Opens the lock file; returns the waiter and the inode it has open.
    fn open(lock_file: &Path, base_file: &Path) -> (Self, u64) {
        let mut child = Command::new("python3")
            .args(["-c", Self::SCRIPT])
            .arg(lock_file)
            .arg(base_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let stdin = child.stdin.take().expect("its stdin");
        let stdout = BufReader::new(child.stdout.take().expect("its stdout"));
        let mut waiter = Self {
            child,
            stdin,
            stdout,
        };
        let ino = waiter.line().parse().expect("the inode it opened");
        (waiter, ino)
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("the waiter says");
        line.trim().to_owned()
    }

    /// Takes the lock (blocking, as `lockf` does) and downloads the base file under it.
    fn lock_and_download(&mut self) {
        writeln!(self.stdin, "lock").expect("told");
        assert_eq!(self.line(), "locked");
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a process that opens `path` now can take its lock (`lockf` without waiting).
fn lock_is_free(path: &Path) -> bool {
    const SCRIPT: &str = "import fcntl, sys\n\
                          f = open(sys.argv[1], 'a')\n\
                          try:\n    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n    print('free')\n\
                          except OSError:\n    print('held')\n";
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .expect("python3 runs");
    String::from_utf8_lossy(&out.stdout).trim() == "free"
}

#[test]
fn a_nova_process_waiting_on_a_lock_file_keeps_excluding_after_a_clean() {
    let host = Host::new();
    let image = fp("image-downloaded-again");
    let base_file = host.base_file(&image, 1 << 20, 3 * DAY);
    let lock_file = host.instances.join("locks").join(format!("nova-{image}"));
    fs::create_dir_all(lock_file.parent().expect("locks")).expect("locks");

    // (1) A spawner opens the lock file, about to wait in lockf.
    let (mut waiter, waiting_on) = Waiter::open(&lock_file, &base_file);
    // (2) A clean removes the unused base file, and leaves the lock file as it is.
    let run = host.run(&["clean", "--original-min-age", "0s", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(sorted_names_in(&run.json(), "removed"), vec![image.clone()]);
    let now = fs::metadata(&lock_file).expect("the lock file stays");
    assert_eq!(now.ino(), waiting_on, "the lock file was replaced");
    // (3) The spawner's lockf returns; it downloads the base file again under the lock.
    waiter.lock_and_download();
    assert!(host.has(&image));
    // (4) Another clean must not remove it: the lock it takes is the spawner's.
    let run = host.run(&["clean", "--original-min-age", "0s", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(state_of(&report, &image), "in_use");
    assert!(
        reason_of(&report, &image).contains("another process holds its lock"),
        "{}",
        reason_of(&report, &image)
    );
    assert!(host.has(&image), "removed under the spawner's lock");
    // And a second spawner that opens the name afresh waits for the first.
    assert!(!lock_is_free(&lock_file));
    drop(waiter);
    assert!(lock_is_free(&lock_file));
}

#[test]
fn stale_lock_files_are_counted_and_stay() {
    let host = Host::new();
    let images: Vec<String> = (0..3).map(|i| fp(&format!("gone-{i}"))).collect();
    for image in &images {
        host.base_file(image, 1 << 20, 3 * DAY);
    }
    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["summary"]["stale_lock_files"], 3);
    for image in &images {
        assert!(
            host.instances
                .join("locks")
                .join(format!("nova-{image}"))
                .is_file()
        );
    }
    let text = host.run(&["audit"]);
    assert!(
        text.stdout.contains(
            "3 of Nova's lock files name cache files that are gone, and stay (a process may be \
             waiting on one"
        ),
        "{}",
        text.stdout
    );
}

#[test]
fn planted_temporary_names_never_redirect_a_root_write() {
    let host = Host::new();
    let image = fp("image-in-use");
    host.base_file_with(&image, b"the image", 3 * DAY);
    host.overlay(
        &format!("{}/disk", "0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01"),
        &image,
    );
    let victim = Victim::new(&host, "victim", b"root:secret\n");
    // Every name the temporary files of earlier versions could take, for any pid.
    for pid in 1..=32_768 {
        symlink(
            &victim.path,
            host.instances.join(format!(".compute_nodes.tmp-{pid}")),
        )
        .expect("a planted link");
        symlink(
            &victim.path,
            host.base.join(format!(".{image}.info.tmp-{pid}")),
        )
        .expect("a planted link");
    }
    give_to_nova(&host);

    let run = host.run(&["clean", "--checksum", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    victim.assert_untouched();
    let registry = fs::symlink_metadata(host.instances.join("compute_nodes")).expect("written");
    assert!(registry.is_file());
    let info = fs::symlink_metadata(host.base.join(format!("{image}.info"))).expect("written");
    assert!(info.is_file());
    if is_root() {
        // What root creates belongs to the directory's owner, as Nova expects.
        assert_eq!((registry.uid(), info.uid()), (NOVA, NOVA));
    }
    let json: Value = serde_json::from_slice(
        &fs::read(host.base.join(format!("{image}.info"))).expect("the sidecar"),
    )
    .expect("JSON");
    assert_eq!(
        json["sha1"],
        cachectl_sidecar::hash_reader(&b"the image"[..]).expect("a digest")
    );
}

#[test]
fn planted_lock_files_are_never_created_through_or_chowned() {
    let host = Host::new();
    let unused = fp("image-unused");
    host.base_file(&unused, 1 << 20, 3 * DAY);
    let locks = host.instances.join("locks");
    fs::create_dir_all(&locks).expect("locks");
    let created = |name: &str| host.root().join(format!("created-through-{name}"));
    for name in [
        "cachectl-clean".to_owned(),
        format!("nova-{unused}"),
        "nova-storage-registry-lock".to_owned(),
    ] {
        symlink(created(&name), locks.join(&name)).expect("a planted link");
    }
    give_to_nova(&host);

    // The pass lock cannot be taken: nothing is done, and nothing is created.
    let run = host.run(&["clean"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cachectl-clean: is a symlink: not followed"),
        "{}",
        run.stderr
    );
    assert!(host.has(&unused));
    fs::remove_file(locks.join("cachectl-clean")).expect("unplanted");

    // The other two: the file whose lock cannot be taken stays, and registering fails (exit 1).
    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(state_of(&report, &unused), "in_use");
    assert!(
        reason_of(&report, &unused).contains("cannot be taken (is a symlink: not followed)"),
        "{}",
        reason_of(&report, &unused)
    );
    assert!(warning(&report, "register_failed").contains("is a symlink: not followed"));
    assert!(host.has(&unused));
    for name in ["cachectl-clean", "nova-storage-registry-lock"] {
        assert!(!created(name).exists(), "{name} was followed");
    }
    assert!(!created(&format!("nova-{unused}")).exists());
    // cachectl-clean was created anew, by cachectl, for the directory's owner.
    let pass_lock = fs::symlink_metadata(locks.join("cachectl-clean")).expect("created");
    assert!(pass_lock.is_file());
    if is_root() {
        assert_eq!(pass_lock.uid(), NOVA);
    }
}

#[test]
fn a_symlinked_sidecar_is_refused_and_its_target_never_copied() {
    let host = Host::new();
    let image = fp("image-in-use");
    host.base_file_with(&image, b"the image", 3 * DAY);
    host.overlay("0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01/disk", &image);
    let victim = Victim::new(&host, "secret.json", br#"{"password": "s3cret"}"#);
    symlink(&victim.path, host.base.join(format!("{image}.info"))).expect("a planted link");
    give_to_nova(&host);

    for command in [
        &["audit", "--checksum"][..],
        &["clean", "--checksum"],
        &["verify"],
    ] {
        let run = host.run(&[command, &["--format", "json"]].concat());
        assert!(
            run.stdout.contains("is a symlink: not followed"),
            "{command:?}: {}",
            run.stdout
        );
        assert!(
            !run.stdout.contains("s3cret"),
            "{command:?}: {}",
            run.stdout
        );
    }
    victim.assert_untouched();
    let link = fs::symlink_metadata(host.base.join(format!("{image}.info"))).expect("there");
    assert!(link.is_symlink(), "the link was replaced by a copy");
    let copies = fs::read_dir(&host.base)
        .expect("the cache")
        .filter_map(Result::ok)
        .filter(|e| fs::read(e.path()).is_ok_and(|b| b.windows(6).any(|w| w == b"s3cret")))
        .count();
    assert_eq!(copies, 1, "only the link itself reads as the secret");
}

#[test]
fn the_cache_and_lock_directories_are_not_followed_out_of_the_tree_through_foreign_links() {
    if !is_root() {
        // Only root refuses a link another user owns; as that user, it is theirs to follow.
        return;
    }
    let host = Host::new();
    let elsewhere = host.root().join("etc");
    fs::create_dir(&elsewhere).expect("a directory outside");
    let victim = elsewhere.join(fp("looks-like-a-cache-file"));
    fs::write(&victim, b"root's file").expect("a victim");
    set_age(&victim, 30 * DAY);
    fs::remove_dir(&host.base).expect("no cache directory");
    symlink(&elsewhere, &host.base).expect("a planted _base");
    give_to_nova(&host);

    let run = host.run(&["clean"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("_base: is a symlink owned by uid 65534: not followed"),
        "{}",
        run.stderr
    );
    assert_eq!(fs::read(&victim).expect("still there"), b"root's file");

    // A link root made (an operator moving the cache elsewhere) is followed.
    std::os::unix::fs::lchown(&host.base, Some(0), Some(0)).expect("root's link");
    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !victim.exists(),
        "an unused file of the cache was not removed"
    );

    // The lock directory too.
    fs::create_dir(host.root().join("elsewhere-locks")).expect("a directory");
    fs::remove_dir_all(host.instances.join("locks")).expect("the lock directory");
    symlink(
        host.root().join("elsewhere-locks"),
        host.instances.join("locks"),
    )
    .expect("a planted locks");
    std::os::unix::fs::lchown(host.instances.join("locks"), Some(NOVA), Some(NOVA))
        .expect("nova's link");
    let run = host.run(&["clean"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("locks: is a symlink owned by uid 65534: not followed"),
        "{}",
        run.stderr
    );
    assert_eq!(
        fs::read_dir(host.root().join("elsewhere-locks"))
            .expect("listed")
            .count(),
        0
    );
}

#[test]
fn a_hard_linked_disk_info_declares_nothing() {
    // A disk.info that is another name of a file (perhaps one outside the tree) is not read:
    // had it been, its "raw" would have spared the disk its probe, and the base it uses would
    // have looked unused.
    let host = Host::new();
    let used = fp("image-in-use");
    host.base_file(&used, 1 << 20, 3 * DAY);
    let uuid = "0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01";
    host.overlay(&format!("{uuid}/disk"), &used);
    let elsewhere = host
        .instances
        .parent()
        .expect("a parent")
        .join("formats.json");
    fs::write(
        &elsewhere,
        format!(r#"{{"/var/lib/nova/instances/{uuid}/disk": "raw"}}"#),
    )
    .expect("written");
    let disk_info = host.instances.join(uuid).join("disk.info");
    fs::hard_link(&elsewhere, &disk_info).expect("a hard link");

    let run = host.run(&["audit", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(state_of(&run.json(), &used), "in_use", "{}", run.stdout);

    // The same bytes as disk.info's own (one link) are read: the disk is raw, the base unused.
    fs::remove_file(&disk_info).expect("removed");
    fs::copy(&elsewhere, &disk_info).expect("copied");
    let run = host.run(&["audit", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(state_of(&run.json(), &used), "removable", "{}", run.stdout);
}

#[test]
fn a_guest_writing_its_console_log_cannot_stop_the_cleaning() {
    let host = Host::new();
    let used = fp("image-in-use");
    let unused = fp("image-unused");
    host.base_file(&used, 1 << 30, 3 * DAY);
    host.base_file(&unused, 1 << 30, 3 * DAY);
    let uuid = "0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01";
    host.overlay(&format!("{uuid}/disk"), &used);
    // A bootloader prints the qcow2 magic, then garbage; virtlogd rotated an earlier one.
    host.file(&format!("{uuid}/console.log"), b"QFI\xfb\0\0\0\x03junk");
    host.file(&format!("{uuid}/console.log.0"), b"QFI\xfb\0\0\0\x09");
    // Another file no one declares a disk: named, and only a warning.
    host.file(&format!("{uuid}/notes.bin"), b"QFI\xfb\0\0\0\x09");

    let run = host.run(&["audit", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(state_of(&report, &unused), "removable");
    let unreadable = report["unreadable_files"].as_array().expect("a list");
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert_eq!(unreadable[0]["path"], format!("{uuid}/notes.bin"));
    assert_eq!(
        (&unreadable[0]["rule"], &unreadable[0]["outcome"]),
        (&Value::from("other_file"), &Value::from("warns"))
    );
    assert_eq!(
        warning(&report, "unreadable_not_a_disk"),
        format!(
            "cannot read {uuid}/notes.bin (not a declared disk; cleaning goes on): invalid disk \
             header: unsupported qcow2 version 9"
        )
    );

    // A broken declared disk still stops everything.
    host.file(&format!("{uuid}/disk.local"), b"QFI\xfb\0\0\0\x03junk");
    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(host.has(&unused));
    // So does one that disk.info declares qcow2 but that reads as something else.
    fs::remove_file(host.instances.join(uuid).join("disk.local")).expect("removed");
    host.file(&format!("{uuid}/disk.eph-data"), b"plain bytes");
    host.file(
        &format!("{uuid}/disk.info"),
        format!(r#"{{"/var/lib/nova/instances/{uuid}/disk.eph-data": "qcow2"}}"#).as_bytes(),
    );
    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(
        run.json()["unreadable_files"][0]["problem"],
        "its disk.info declares it qcow2, but it reads as raw"
    );
    fs::remove_file(host.instances.join(uuid).join("disk.info")).expect("removed");
    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!host.has(&unused) && host.has(&used));
}

#[test]
fn the_leftovers_of_killed_writes_are_cleaned() {
    let host = Host::new();
    let image = fp("image-in-use");
    host.base_file(&image, 1 << 20, 3 * DAY);
    host.overlay("0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01/disk", &image);
    let old = format!(".{image}.info.tmp-4242");
    let young = format!(".{image}.info.tmp-4243-00ff00ff00ff00ff");
    host.base_file_with(&old, b"{\"sha1\": \"ab", 2 * HOUR);
    host.base_file_with(&young, b"{\"sha1\": \"ab", 10);
    host.file(".compute_nodes.tmp-4242", b"{\"compute-");

    let audit = host.run(&["audit", "--format", "json"]).json();
    assert_eq!(state_of(&audit, &old), "removable");
    assert_eq!(file_entry(&audit, &old)["kind"], "download_leftover");
    assert_eq!(
        reason_of(&audit, &old),
        format!(
            "left by an interrupted write of {image}.info; unused for 2h (download leftovers are kept 1h)"
        )
    );
    assert_eq!(state_of(&audit, &young), "too_young");

    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!host.has(&old) && host.has(&young) && host.has(&image));
    assert!(!host.instances.join(".compute_nodes.tmp-4242").exists());
    assert!(host.instances.join("compute_nodes").is_file());
}

#[test]
fn bad_environment_and_failed_writes_have_their_exit_codes() {
    let host = Host::new();
    let mut command = Command::new(cachectl_bin());
    command
        .arg("--instances-path")
        .arg(&host.instances)
        .args(["--host", HOST, "audit"])
        .env("CACHECTL_NOW", "yesterday");
    let out = command.output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "cachectl: error: CACHECTL_NOW=yesterday is not a time: expected unix seconds, like 1800000000"
    );

    // The registry cannot be written (its lock is a FIFO someone planted): exit 1, said why.
    host.fifo("locks/nova-storage-registry-lock");
    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        warning(&run.json(), "register_failed").contains("is a fifo, not a regular file"),
        "{}",
        run.stdout
    );
}
