//! The hostile corpus: hand-crafted files that break every rule a header reader relies on
//! (truncations at every field boundary, lengths that overflow or point past the end, names
//! with NULs and invalid UTF-8, loops, self references, a 300-deep chain, FIFOs, `/dev/zero`,
//! directories, symlink loops), in every format cachectl reads.
//!
//! Each case runs `cachectl inspect --backing-chain` under a 20 s guard: it must end with a
//! one-line error that names the file and says what is wrong (exit 3), or with a bounded
//! answer (exit 0): never a panic, a hang, or output and an error at once. Then all of them
//! together are the disks of one host, whose audit must end, name each, and keep everything.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use cachectl_qcow2::{Qcow2Spec, create_image};
use serde_json::Value;
use tempfile::TempDir;

use crate::support::*;

/// What a case must end with.
#[derive(Debug, Clone)]
enum Expect {
    /// Exit 3 with one line naming the file and containing this.
    Refused(&'static str),
    /// Exit 0; the JSON chain has this many images.
    Reads(usize),
}

/// One hostile file (and whatever it needs beside it).
struct Case {
    name: String,
    path: PathBuf,
    expect: Expect,
}

/// The corpus, written into a directory.
struct Corpus {
    dir: PathBuf,
    cases: Vec<Case>,
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_be_bytes());
}

fn put_le32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// A qcow2 image (512-byte clusters, so that the whole file is small) on `backing`.
fn qcow2_on(backing: &[u8], format: Option<&str>) -> Vec<u8> {
    create_image(&Qcow2Spec {
        cluster_bits: 12,
        backing_file: Some(backing),
        backing_format: format,
        data_file: Some(b"data.raw"),
        ..Qcow2Spec::new(1 << 20)
    })
    .expect("an image")
}

/// Every field and extension boundary of a qcow2 header: where a cut makes it truncated.
fn qcow2_boundaries(image: &[u8]) -> Vec<usize> {
    let mut cuts = vec![
        0, 1, 3, 4, 8, 12, 16, 20, 24, 32, 36, 40, 48, 56, 60, 64, 72, 80, 88, 96, 100, 104, 105,
        108, 112,
    ];
    let word = |at: usize| u32::from_be_bytes(image[at..at + 4].try_into().expect("4 bytes"));
    let backing_offset = u64::from_be_bytes(image[8..16].try_into().expect("8 bytes")) as usize;
    let backing_len = word(16) as usize;
    let mut at = word(100) as usize;
    while at + 8 <= backing_offset && word(at) != 0 {
        let len = word(at + 4) as usize;
        cuts.extend([at + 2, at + 4, at + 6, at + 8, at + 8 + len / 2]);
        at += 8 + len.div_ceil(8) * 8;
    }
    cuts.extend([at, at + 4, backing_offset, backing_offset + 1]);
    cuts.push(backing_offset + backing_len - 1);
    cuts
}

impl Corpus {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `bytes` as `name` and adds the case.
    fn file(&mut self, name: &str, bytes: &[u8], expect: Expect) {
        let path = self.path(name);
        fs::write(&path, bytes).expect("a corpus file");
        self.case(name, path, expect);
    }

    fn case(&mut self, name: &str, path: PathBuf, expect: Expect) {
        self.cases.push(Case {
            name: name.to_owned(),
            path,
            expect,
        });
    }

    /// The whole corpus, in `dir`.
    fn build(dir: &Path) -> Self {
        fs::create_dir_all(dir).expect("the corpus directory");
        let mut corpus = Self {
            dir: dir.to_path_buf(),
            cases: Vec::new(),
        };
        fs::write(corpus.path("base.raw"), vec![0u8; 4096]).expect("a base");
        fs::write(corpus.path("data.raw"), vec![0u8; 4096]).expect("a data file");
        corpus.qcow2_cases();
        corpus.name_cases();
        corpus.chain_cases();
        corpus.special_file_cases();
        corpus.other_format_cases();
        corpus
    }

    fn qcow2_cases(&mut self) {
        let good = qcow2_on(b"base.raw", Some("raw"));
        self.file("good.qcow2", &good, Expect::Reads(2));
        for cut in qcow2_boundaries(&good) {
            // Less than the magic is no header at all: raw, as QEMU probes it.
            let expect = if cut < 4 {
                Expect::Reads(1)
            } else {
                Expect::Refused("")
            };
            self.file(&format!("qcow2-cut-at-{cut}"), &good[..cut], expect);
        }
        let patched = |patch: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = good.clone();
            patch(&mut bytes);
            bytes
        };
        let first_extension = 112;
        let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
            (
                "backing-offset-max",
                patched(&|b| put_u64(b, 8, u64::MAX)),
                Expect::Refused("outside the first cluster"),
            ),
            (
                "backing-offset-past-cluster",
                patched(&|b| put_u64(b, 8, 4096 + 8)),
                Expect::Refused("outside the first cluster"),
            ),
            (
                "backing-size-max",
                patched(&|b| put_u32(b, 16, u32::MAX)),
                Expect::Refused("too long"),
            ),
            (
                "backing-size-1024",
                patched(&|b| put_u32(b, 16, 1024)),
                Expect::Refused("too long"),
            ),
            (
                "backing-name-past-eof",
                patched(&|b| {
                    put_u64(b, 8, 4000);
                    put_u32(b, 16, 90);
                    b.truncate(4050);
                }),
                Expect::Refused("outside the first cluster or the file"),
            ),
            (
                "extension-length-max",
                patched(&|b| put_u32(b, first_extension + 4, u32::MAX)),
                Expect::Refused("overruns"),
            ),
            (
                "extension-length-past-name",
                patched(&|b| put_u32(b, first_extension + 4, 4000)),
                Expect::Refused("overruns"),
            ),
            (
                "header-length-max",
                patched(&|b| put_u32(b, 100, u32::MAX)),
                Expect::Refused("header length"),
            ),
            (
                "header-length-50",
                patched(&|b| put_u32(b, 100, 50)),
                Expect::Refused("header length"),
            ),
            (
                "refcount-order-max",
                patched(&|b| put_u32(b, 96, u32::MAX)),
                Expect::Refused("refcount order"),
            ),
            (
                "crypt-method-max",
                patched(&|b| put_u32(b, 32, u32::MAX)),
                Expect::Refused("encryption method"),
            ),
            (
                "unknown-incompatible-bits",
                patched(&|b| put_u64(b, 72, u64::MAX << 5)),
                Expect::Refused("incompatible feature"),
            ),
            // QEMU checks the compression type bit before the unknown bits, and says so.
            (
                "every-incompatible-bit",
                patched(&|b| put_u64(b, 72, u64::MAX)),
                Expect::Refused("compression type"),
            ),
            (
                "compression-type-2",
                patched(&|b| {
                    put_u64(b, 72, 1 << 3 | 1 << 2);
                    b[104] = 2;
                }),
                Expect::Refused("compression type"),
            ),
            (
                "l1-size-max",
                patched(&|b| put_u32(b, 36, u32::MAX)),
                Expect::Refused("too large"),
            ),
            (
                "l1-offset-max",
                patched(&|b| put_u64(b, 40, u64::MAX - 4095)),
                Expect::Refused("offset"),
            ),
            (
                "virtual-size-2-62",
                patched(&|b| put_u64(b, 24, 1 << 62)),
                Expect::Refused("too big"),
            ),
            // QEMU's size_to_l1 wraps for sizes near 2^64: QEMU opens this image.
            (
                "virtual-size-max",
                patched(&|b| put_u64(b, 24, u64::MAX)),
                Expect::Reads(2),
            ),
        ];
        for (name, bytes, expect) in cases {
            self.file(name, &bytes, expect);
        }
        for bits in [0, 8, 22, 31, 32, 63, 64, u32::MAX] {
            let bytes = patched(&|b| put_u32(b, 20, bits));
            self.file(
                &format!("cluster-bits-{bits}"),
                &bytes,
                Expect::Refused("cluster size"),
            );
        }
        for version in [0, 4, 0x0100_0000, u32::MAX] {
            let bytes = patched(&|b| put_u32(b, 4, version));
            self.file(
                &format!("version-{version}"),
                &bytes,
                Expect::Refused("version"),
            );
        }
        // The largest first cluster (2 MiB) full of unknown extensions: bounded, and read.
        let mut big = create_image(&Qcow2Spec {
            cluster_bits: 21,
            ..Qcow2Spec::new(1 << 30)
        })
        .expect("an image");
        let mut at = 112;
        while at + 16 <= (1 << 21) {
            put_u32(&mut big, at, 0x1234_5678);
            put_u32(&mut big, at + 4, 8);
            at += 16;
        }
        self.file("two-mib-of-extensions", &big, Expect::Reads(1));
    }

    fn name_cases(&mut self) {
        // A NUL ends the name, as in C: "ba\0se.raw" names "ba".
        fs::write(self.path("ba"), b"raw bytes").expect("a file");
        let mut with_nul = qcow2_on(b"ba_se.raw", Some("raw"));
        let offset = u64::from_be_bytes(with_nul[8..16].try_into().expect("8 bytes")) as usize;
        with_nul[offset + 2] = 0;
        self.file("name-with-nul", &with_nul, Expect::Reads(2));
        // A name of bytes that are not UTF-8, and a file of that name.
        let odd = b"\xff\xfe-not-utf8.raw";
        fs::write(self.dir.join(std::ffi::OsStr::from_bytes(odd)), b"raw").expect("a file");
        self.file(
            "name-not-utf8",
            &qcow2_on(odd, Some("raw")),
            Expect::Reads(2),
        );
        // A name that is all NULs is no name.
        let mut nuls = qcow2_on(b"base.raw", Some("raw"));
        let offset = u64::from_be_bytes(nuls[8..16].try_into().expect("8 bytes")) as usize;
        nuls[offset..offset + 8].fill(0);
        self.file("name-of-nuls", &nuls, Expect::Reads(1));
        self.file(
            "name-missing",
            &qcow2_on(b"nowhere.raw", Some("raw")),
            Expect::Refused("does not exist"),
        );
        self.file(
            "name-is-a-protocol",
            &qcow2_on(b"nbd:localhost:10809", Some("raw")),
            Expect::Reads(1),
        );
    }

    fn chain_cases(&mut self) {
        self.file(
            "self.qcow2",
            &qcow2_on(b"self.qcow2", Some("qcow2")),
            Expect::Refused("loops"),
        );
        self.file(
            "loop-a.qcow2",
            &qcow2_on(b"loop-b.qcow2", None),
            Expect::Refused("loops"),
        );
        fs::write(self.path("loop-b.qcow2"), qcow2_on(b"loop-a.qcow2", None)).expect("a layer");
        // The same file again by another name: a symlink and a hard link.
        std::os::unix::fs::symlink("via-symlink.qcow2", self.path("alias.qcow2")).expect("link");
        self.file(
            "via-symlink.qcow2",
            &qcow2_on(b"alias.qcow2", None),
            Expect::Refused("loops"),
        );
        self.file(
            "via-hard-link.qcow2",
            &qcow2_on(b"hard-link.qcow2", None),
            Expect::Refused("loops"),
        );
        fs::hard_link(
            self.path("via-hard-link.qcow2"),
            self.path("hard-link.qcow2"),
        )
        .expect("a hard link");
        // 300 layers: deeper than the walk goes (256).
        fs::create_dir(self.path("deep")).expect("a directory");
        for i in 0..300 {
            let next = format!("{}.qcow2", i + 1);
            let layer = self.path(&format!("deep/{i}.qcow2"));
            fs::write(&layer, qcow2_on(next.as_bytes(), Some("qcow2"))).expect("a layer");
        }
        self.case(
            "300-deep",
            self.path("deep/0.qcow2"),
            Expect::Refused("deeper than 256"),
        );
    }

    fn special_file_cases(&mut self) {
        let fifo = self.path("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .expect("a FIFO");
        self.case("fifo", fifo, Expect::Refused("fifo, not a regular file"));
        for (name, backing, format, kind) in [
            ("on-fifo", &b"fifo"[..], Some("qcow2"), "fifo"),
            ("on-fifo-declared-raw", b"fifo", Some("raw"), "fifo"),
            ("on-dev-zero", b"/dev/zero", None, "character device"),
            (
                "on-dev-zero-declared-raw",
                b"/dev/zero",
                Some("raw"),
                "character device",
            ),
            ("on-a-directory", b"deep", None, "directory"),
            (
                "on-a-directory-declared-raw",
                b"deep",
                Some("raw"),
                "directory",
            ),
        ] {
            self.file(name, &qcow2_on(backing, format), Expect::Refused(kind));
        }
        self.case(
            "dev-zero",
            PathBuf::from("/dev/zero"),
            Expect::Refused("character device"),
        );
        self.case(
            "a-directory",
            self.path("deep"),
            Expect::Refused("directory"),
        );
        std::os::unix::fs::symlink("nowhere", self.path("dangling")).expect("a link");
        self.case(
            "dangling-symlink",
            self.path("dangling"),
            Expect::Refused("does not exist"),
        );
        std::os::unix::fs::symlink("link-loop-b", self.path("link-loop-a")).expect("a link");
        std::os::unix::fs::symlink("link-loop-a", self.path("link-loop-b")).expect("a link");
        self.case(
            "symlink-loop",
            self.path("link-loop-a"),
            Expect::Refused("symbolic links"),
        );
        // 10 GiB of nothing: raw, read in one small read.
        let sparse = self.path("sparse.raw");
        fs::File::create(&sparse)
            .and_then(|f| f.set_len(10 << 30))
            .expect("a sparse file");
        self.case("sparse-10-gib", sparse, Expect::Reads(1));
    }

    fn other_format_cases(&mut self) {
        // QED: magic, cluster size @4, table size @8, header size @12, features @16,
        // image size @48, backing name offset @56 and size @60 (little-endian).
        let mut qed = vec![0u8; 4096];
        qed[..4].copy_from_slice(b"QED\0");
        put_le32(&mut qed, 4, 65536);
        put_le32(&mut qed, 8, 4);
        put_le32(&mut qed, 12, 1);
        qed[16] = 1; // has a backing file
        qed[48..56].copy_from_slice(&(1u64 << 20).to_le_bytes());
        put_le32(&mut qed, 56, 1024);
        put_le32(&mut qed, 60, 8);
        qed[1024..1032].copy_from_slice(b"base.raw");
        let qed_with = |patch: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = qed.clone();
            patch(&mut bytes);
            bytes
        };
        self.file("qed-good", &qed, Expect::Reads(2));
        for cut in [4, 8, 12, 16, 48, 56, 60, 63, 1024, 1031] {
            self.file(
                &format!("qed-cut-at-{cut}"),
                &qed[..cut],
                Expect::Refused(""),
            );
        }
        self.file(
            "qed-name-offset-max",
            &qed_with(&|b| put_le32(b, 56, u32::MAX)),
            Expect::Refused("qed"),
        );
        self.file(
            "qed-name-size-max",
            &qed_with(&|b| put_le32(b, 60, u32::MAX)),
            Expect::Refused("qed"),
        );
        self.file(
            "qed-cluster-size-3",
            &qed_with(&|b| put_le32(b, 4, 3)),
            Expect::Refused("qed"),
        );

        // VMDK descriptors: no closing quote, a hint past 1 KiB of text, no CID, 1 MiB
        // without a newline.
        let descriptor = |body: &str| {
            format!(
                "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n\
                 createType=\"monolithicFlat\"\n{body}\nRW 2048 FLAT \"base.raw\" 0\n"
            )
        };
        self.file("vmdk-good", descriptor("").as_bytes(), Expect::Reads(1));
        // QEMU looks for the closing quote past the end of the line: with none anywhere after
        // it, the descriptor is refused.
        let unclosed = descriptor("") + "parentFileNameHint=\"base.raw\n";
        self.file(
            "vmdk-hint-unclosed",
            unclosed.as_bytes(),
            Expect::Refused("closing quote"),
        );
        self.file(
            "vmdk-no-cid",
            b"# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\nRW 1 FLAT \"base.raw\" 0\n",
            Expect::Refused("CID"),
        );
        let mut endless = descriptor("").into_bytes();
        endless.truncate(60);
        endless.extend(std::iter::repeat_n(b'x', 3 << 20));
        self.file("vmdk-3-mib-line", &endless, Expect::Refused("vmdk"));
        let mut kdmv = vec![0u8; 2048];
        kdmv[..4].copy_from_slice(b"KDMV");
        kdmv[4..8].copy_from_slice(&1u32.to_le_bytes());
        for cut in [4, 8, 12, 20, 28, 36, 44, 48, 56, 64, 72] {
            self.file(
                &format!("vmdk-sparse-cut-at-{cut}"),
                &kdmv[..cut],
                Expect::Refused(""),
            );
        }

        // VHD: a dynamic header beyond the first 2 MiB; a differencing disk.
        let mut vhd = vec![0u8; 2048];
        vhd[..8].copy_from_slice(b"conectix");
        put_u64(&mut vhd, 16, u64::MAX);
        put_u64(&mut vhd, 48, 1 << 20);
        put_u32(&mut vhd, 60, 3);
        self.file(
            "vhd-dynamic-header-far",
            &vhd,
            Expect::Refused("first 2 MiB"),
        );
        put_u32(&mut vhd, 60, 4);
        self.file("vhd-differencing", &vhd, Expect::Refused("parent"));
        self.file("vhd-cut-at-100", &vhd[..100], Expect::Refused("truncated"));
        // VDI: a differencing disk; VHDX: always a possible parent.
        let mut vdi = vec![0u8; 512];
        vdi[0x40..0x44].copy_from_slice(&0xbeda_107fu32.to_le_bytes());
        vdi[0x44..0x48].copy_from_slice(&0x0001_0001u32.to_le_bytes());
        vdi[0x48..0x4c].copy_from_slice(&0x190u32.to_le_bytes());
        put_le32(&mut vdi, 0x4c, 4);
        self.file("vdi-differencing", &vdi, Expect::Refused("parent"));
        self.file("vdi-cut-at-70", &vdi[..70], Expect::Refused("truncated"));
        self.vhdx_cases();
        self.file(
            "luks-cut-at-100",
            &[&b"LUKS\xba\xbe\0\x01"[..], &[0u8; 92]].concat(),
            Expect::Refused("truncated"),
        );
    }

    /// VHDX: cut short, broken checksums, a parent, a metadata region cut short; from a VHDX
    /// `qemu-img` makes (its headers carry CRC-32C checksums).
    fn vhdx_cases(&mut self) {
        let made = self.path("made.vhdx");
        let status = Command::new("qemu-img")
            .args(["create", "-q", "-f", "vhdx"])
            .arg(&made)
            .arg("16M")
            .status()
            .expect("qemu-img (Debian package qemu-utils) is installed");
        assert!(status.success());
        let good = fs::read(&made).expect("the VHDX");
        fs::remove_file(&made).expect("removed");
        self.file("vhdx-good", &good, Expect::Reads(1));
        for cut in [
            8,
            4096,
            64 << 10,
            100 << 10,
            200 << 10,
            1 << 20,
            (3 << 20) + 100,
        ] {
            self.file(
                &format!("vhdx-cut-at-{cut}"),
                &good[..cut],
                Expect::Refused("vhdx"),
            );
        }
        let flipped = |at: usize| {
            let mut bytes = good.clone();
            bytes[at] ^= 0x40;
            bytes
        };
        let mut no_header = flipped((64 << 10) + 20);
        no_header[(128 << 10) + 20] ^= 0x40;
        self.file(
            "vhdx-no-valid-header",
            &no_header,
            Expect::Refused("no valid header"),
        );
        self.file(
            "vhdx-region-table-checksum",
            &flipped((192 << 10) + 40),
            Expect::Refused("region table"),
        );
        // The file parameters (3 MiB + 64 KiB) say it has a parent, with no parent locator.
        let mut child = good.clone();
        child[(3 << 20) + (64 << 10) + 4] |= 2;
        self.file("vhdx-parent", &child, Expect::Refused("parent"));
        self.file(
            "vhdx-metadata-signature",
            &flipped(3 << 20),
            Expect::Refused("metadata table"),
        );
    }
}

/// `cachectl inspect --backing-chain --output json <path>` under a 20 s guard.
fn inspect(path: &Path) -> std::process::Output {
    Command::new("timeout")
        .arg("20")
        .arg(cachectl_bin())
        .args(["inspect", "--backing-chain", "--output", "json"])
        .arg(path)
        .output()
        .expect("cachectl runs")
}

#[test]
fn every_hostile_file_ends_in_a_clear_error_or_a_bounded_answer() {
    let tmp = TempDir::new().expect("a temporary directory");
    let corpus = Corpus::build(tmp.path());
    assert!(corpus.cases.len() > 100, "{} cases", corpus.cases.len());
    let mut failures = Vec::new();
    for case in &corpus.cases {
        let output = inspect(&case.path);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let code = output.status.code();
        let shown = case.path.display().to_string();
        let problem = match (&case.expect, code) {
            (_, Some(124) | None) => Some("did not end within 20 s".to_owned()),
            (_, Some(101)) => Some(format!("panicked: {stderr}")),
            (Expect::Refused(reason), Some(3)) => {
                let one_line = stderr.lines().count() == 1 && stdout.is_empty();
                let names_it = stderr.contains(&shown) || stderr.contains(&case.name);
                (!one_line || !names_it || !stderr.contains(reason))
                    .then(|| format!("a refusal that is not one line naming the file and saying {reason:?}: {stderr}"))
            }
            (Expect::Reads(len), Some(0)) => match serde_json::from_str::<Value>(&stdout) {
                Ok(Value::Array(chain)) if chain.len() == *len => None,
                Ok(other) => Some(format!("a chain other than {len} images: {other}")),
                Err(err) => Some(format!("not JSON ({err}): {stdout}")),
            },
            (expect, code) => Some(format!("exit {code:?}, expected {expect:?}: {stderr}")),
        };
        if let Some(problem) = problem {
            failures.push(format!("{}: {problem}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_host_whose_disks_are_the_hostile_corpus_is_audited_and_keeps_everything() {
    let host = Host::new();
    let used = fp("image-in-use");
    let unused = fp("image-nobody-uses");
    host.base_file(&used, 1 << 30, 3 * DAY);
    host.base_file(&unused, 1 << 30, 3 * DAY);
    host.overlay("0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01/disk", &used);
    // Every corpus file is a file under the instances path, so every one is read as a disk.
    let corpus = Corpus::build(&host.instances.join("hostile"));

    // As files no one declares a disk (what a tenant or a stray tool may leave), each that
    // cannot be read is named, and cleaning goes on.
    let run = host.run_with_timeout(120, &["audit", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(state_of(&report, &unused), "removable");
    assert_eq!(state_of(&report, &used), "in_use");
    check_each_doubt_is_reported(&host, &corpus, &report, |_| ("other_file", "warns"));

    // As disks that the directory's disk.info declares (in a format cachectl does not check),
    // the audit names each unreadable one and removes nothing.
    let hostile = host.instances.join("hostile");
    let declared: serde_json::Map<String, Value> = corpus
        .cases
        .iter()
        .filter(|case| case.path.parent() == Some(hostile.as_path()))
        .filter_map(|case| {
            let on_another_host = Path::new("/elsewhere/hostile").join(case.path.file_name()?);
            Some((on_another_host.display().to_string(), Value::from("ploop")))
        })
        .collect();
    host.file(
        "hostile/disk.info",
        Value::Object(declared).to_string().as_bytes(),
    );
    let run = host.run_with_timeout(120, &["audit", "--format", "json"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let report = run.json();
    assert_eq!(state_of(&report, &unused), "in_use");
    assert!(host.has(&used) && host.has(&unused));
    // A disk.info speaks for its own directory: the corpus's deeper files stay undeclared.
    check_each_doubt_is_reported(&host, &corpus, &report, |case| {
        if case.path.parent() == Some(hostile.as_path()) {
            ("disk_info", "blocks")
        } else {
            ("other_file", "warns")
        }
    });
}

/// Each refused file is reported with the rule and outcome `expected` gives for it, except what
/// is no disk at all (a FIFO or a directory named like one is never opened) and a disk whose
/// backing file is missing (it uses no file that exists). A dangling symlink is a disk that
/// vanished.
fn check_each_doubt_is_reported(
    host: &Host,
    corpus: &Corpus,
    report: &Value,
    expected: impl Fn(&Case) -> (&'static str, &'static str),
) {
    let unreadable = report["unreadable_files"]
        .as_array()
        .expect("unreadable_files");
    let mut wrong = Vec::new();
    for case in &corpus.cases {
        let Ok(shown) = case.path.strip_prefix(&host.instances) else {
            continue;
        };
        let no_disk = matches!(case.name.as_str(), "fifo" | "a-directory");
        let doubt = match case.expect {
            Expect::Refused(reason) => !no_disk && reason != "does not exist",
            Expect::Reads(_) => false,
        };
        let entry = unreadable
            .iter()
            .find(|file| file["path"] == shown.display().to_string());
        let reported = entry.is_some();
        if doubt != reported {
            wrong.push(format!("{} (reported: {reported})", case.name));
        }
        let (rule, outcome) = expected(case);
        if let Some(entry) = entry
            && (entry["rule"] != rule || entry["outcome"] != outcome)
        {
            wrong.push(format!("{}: {entry}", case.name));
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}\n{unreadable:?}");
}
