//! A minimal qcow2 writer: the bytes of a valid, empty image, laid out as `qemu-img create` does.
//!
//! The image is: cluster 0 the header, its extensions (backing format, data file, the feature
//! name table for clusters over 4 KiB with version 3), the end marker and the backing file name;
//! cluster 1 the refcount table; cluster 2 the one refcount block; from cluster 3 the L1 table,
//! all zero, sized for the virtual size. The file ends where the L1 table ends. With the same
//! options, `qemu-img create -f qcow2` writes the same bytes.

use crate::disk::{
    INCOMPAT_COMPRESSION, INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, INCOMPAT_DIRTY, INCOMPAT_EXTL2,
};
use crate::magic::QCOW2_MAGIC;
use crate::qcow2::{
    EXT_BACKING_FORMAT, EXT_DATA_FILE, EXT_END, EXT_FEATURE_TABLE, MAX_BACKING_FORMAT_LEN,
    MAX_CLUSTER_BITS, MAX_L1_BYTES, MIN_CLUSTER_BITS, QEMU_HEADER_LEN, V2_HEADER_LEN,
};
use crate::source::MAX_BACKING_NAME_LEN;

/// The refcount order of the images QEMU creates: 16-bit refcounts.
const REFCOUNT_ORDER: u32 = 4;
/// Clusters QEMU leaves out the feature name table for (too little room in cluster 0).
const FEATURE_TABLE_MIN_CLUSTER: usize = 4096;

/// The feature name table QEMU writes: (type, bit, name).
const FEATURE_NAMES: [(u8, u8, &str); 8] = [
    (0, INCOMPAT_DIRTY.trailing_zeros() as u8, "dirty bit"),
    (0, INCOMPAT_CORRUPT.trailing_zeros() as u8, "corrupt bit"),
    (
        0,
        INCOMPAT_DATA_FILE.trailing_zeros() as u8,
        "external data file",
    ),
    (
        0,
        INCOMPAT_COMPRESSION.trailing_zeros() as u8,
        "compression type",
    ),
    (
        0,
        INCOMPAT_EXTL2.trailing_zeros() as u8,
        "extended L2 entries",
    ),
    (1, 0, "lazy refcounts"),
    (2, 0, "bitmaps"),
    (2, 1, "raw external data"),
];

/// What image to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qcow2Spec<'a> {
    /// Virtual disk size in bytes, a multiple of 512.
    pub virtual_size: u64,
    /// Cluster size as a power of two, 9..=21 (QEMU's default is 16: 64 KiB).
    pub cluster_bits: u32,
    /// 2 (`compat=0.10`) or 3 (`compat=1.1`, the default).
    pub version: u32,
    /// Backing file name, stored as given (at most 1023 bytes, no NUL).
    pub backing_file: Option<&'a [u8]>,
    /// Backing format (`raw`, `qcow2`...), at most 15 bytes; needs a backing file.
    pub backing_format: Option<&'a str>,
    /// External data file name (version 3 only); the caller creates that file.
    pub data_file: Option<&'a [u8]>,
}

impl Qcow2Spec<'_> {
    /// An image of `virtual_size` bytes with QEMU's defaults: version 3, 64 KiB clusters, no
    /// backing file, no data file.
    pub fn new(virtual_size: u64) -> Self {
        Qcow2Spec {
            virtual_size,
            cluster_bits: 16,
            version: 3,
            backing_file: None,
            backing_format: None,
            data_file: None,
        }
    }
}

impl Default for Qcow2Spec<'_> {
    fn default() -> Self {
        Qcow2Spec::new(0)
    }
}

/// Why an image could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// A version other than 2 or 3.
    #[error("unsupported qcow2 version {0} (must be 2 or 3)")]
    UnsupportedVersion(u32),
    /// `cluster_bits` outside 9..=21.
    #[error("unsupported cluster size 2^{0} (cluster_bits must be 9 to 21)")]
    InvalidClusterBits(u32),
    /// A virtual size that is not a multiple of 512.
    #[error("virtual size {0} is not a multiple of 512")]
    UnalignedVirtualSize(u64),
    /// A virtual size this writer cannot lay out (QEMU's L1 limit, or more clusters than one
    /// refcount block covers).
    #[error("virtual size {0} is too large for this cluster size")]
    VirtualSizeTooLarge(u64),
    /// A backing file name over 1023 bytes.
    #[error("backing file name of {0} bytes is too long (at most 1023)")]
    BackingNameTooLong(usize),
    /// A backing format over 15 bytes.
    #[error("backing format {0:?} is too long (at most 15 bytes)")]
    BackingFormatTooLong(String),
    /// A backing format without a backing file.
    #[error("a backing format needs a backing file")]
    BackingFormatWithoutBackingFile,
    /// An external data file with version 2.
    #[error("an external data file needs qcow2 version 3")]
    DataFileNeedsVersion3,
    /// A name with a NUL byte, which QEMU would cut short.
    #[error("{0} contains a NUL byte")]
    NulInName(&'static str),
    /// An empty name, which QEMU would read as no name.
    #[error("{0} is empty")]
    EmptyName(&'static str),
    /// The header, its extensions and the backing file name do not fit in the first cluster.
    #[error("the header needs {needed} bytes, more than the cluster size {cluster_size}")]
    HeaderTooLarge {
        /// Bytes the header would take.
        needed: usize,
        /// The cluster size.
        cluster_size: usize,
    },
}

/// Creates the bytes of a valid, empty qcow2 image as `qemu-img create -f qcow2` would.
pub fn create_image(spec: &Qcow2Spec<'_>) -> Result<Vec<u8>, CreateError> {
    check(spec)?;
    let cluster_size: usize = 1 << spec.cluster_bits;
    let cluster_size_u64 = u64::try_from(cluster_size).unwrap_or(u64::MAX);

    // One L2 table maps cluster_size / 8 clusters; one L1 entry per L2 table.
    let bytes_per_l2 = cluster_size_u64 * (cluster_size_u64 / 8);
    let l1_entries = spec.virtual_size.div_ceil(bytes_per_l2);
    let l1_bytes = l1_entries * 8;
    let l1_clusters = l1_bytes.div_ceil(cluster_size_u64);
    // Header, refcount table, refcount block, L1: all counted in the one refcount block.
    let used_clusters = 3 + l1_clusters;
    let refcounts_per_block = cluster_size_u64 * 8 / (1 << REFCOUNT_ORDER);
    let too_large = || CreateError::VirtualSizeTooLarge(spec.virtual_size);
    if l1_bytes > MAX_L1_BYTES || used_clusters > refcounts_per_block {
        return Err(too_large());
    }
    let l1_size = u32::try_from(l1_entries).map_err(|_| too_large())?;
    let l1_bytes = usize::try_from(l1_bytes).map_err(|_| too_large())?;
    let used_clusters = usize::try_from(used_clusters).map_err(|_| too_large())?;

    let mut image = vec![0u8; 3 * cluster_size + l1_bytes];
    let header = header_cluster(spec, cluster_size, l1_size)?;
    put(&mut image, 0, &header);
    // Refcount table: its one entry points at the refcount block in cluster 2.
    put(
        &mut image,
        cluster_size,
        &(2 * cluster_size_u64).to_be_bytes(),
    );
    // Refcount block: every used cluster has refcount 1.
    for cluster in 0..used_clusters {
        put(
            &mut image,
            2 * cluster_size + 2 * cluster,
            &1u16.to_be_bytes(),
        );
    }
    Ok(image)
}

/// Refuses what QEMU would refuse, or what this writer cannot lay out.
fn check(spec: &Qcow2Spec<'_>) -> Result<(), CreateError> {
    if spec.version != 2 && spec.version != 3 {
        return Err(CreateError::UnsupportedVersion(spec.version));
    }
    if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&spec.cluster_bits) {
        return Err(CreateError::InvalidClusterBits(spec.cluster_bits));
    }
    if !spec.virtual_size.is_multiple_of(512) {
        return Err(CreateError::UnalignedVirtualSize(spec.virtual_size));
    }
    if let Some(name) = spec.backing_file {
        check_name("backing file name", name)?;
        if name.len() > MAX_BACKING_NAME_LEN as usize {
            return Err(CreateError::BackingNameTooLong(name.len()));
        }
    }
    if let Some(format) = spec.backing_format {
        if spec.backing_file.is_none() {
            return Err(CreateError::BackingFormatWithoutBackingFile);
        }
        check_name("backing format", format.as_bytes())?;
        if format.len() > MAX_BACKING_FORMAT_LEN as usize {
            return Err(CreateError::BackingFormatTooLong(format.to_owned()));
        }
    }
    if let Some(name) = spec.data_file {
        if spec.version < 3 {
            return Err(CreateError::DataFileNeedsVersion3);
        }
        check_name("data file name", name)?;
    }
    Ok(())
}

/// A name must be a non-empty C string.
fn check_name(what: &'static str, name: &[u8]) -> Result<(), CreateError> {
    if name.is_empty() {
        Err(CreateError::EmptyName(what))
    } else if name.contains(&0) {
        Err(CreateError::NulInName(what))
    } else {
        Ok(())
    }
}

/// The used part of cluster 0: the header, its extensions, the end marker, the backing name.
fn header_cluster(
    spec: &Qcow2Spec<'_>,
    cluster_size: usize,
    l1_size: u32,
) -> Result<Vec<u8>, CreateError> {
    let cluster_size_u64 = u64::try_from(cluster_size).unwrap_or(u64::MAX);
    let mut out = Vec::with_capacity(cluster_size.min(4096));
    out.extend_from_slice(&QCOW2_MAGIC);
    out.extend_from_slice(&spec.version.to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes()); // backing_file_offset, set below
    out.extend_from_slice(&0u32.to_be_bytes()); // backing_file_size, set below
    out.extend_from_slice(&spec.cluster_bits.to_be_bytes());
    out.extend_from_slice(&spec.virtual_size.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes()); // crypt_method: none
    out.extend_from_slice(&l1_size.to_be_bytes());
    let l1_table_offset = if l1_size == 0 {
        0
    } else {
        3 * cluster_size_u64
    };
    out.extend_from_slice(&l1_table_offset.to_be_bytes());
    out.extend_from_slice(&cluster_size_u64.to_be_bytes()); // refcount_table_offset
    out.extend_from_slice(&1u32.to_be_bytes()); // refcount_table_clusters
    out.extend_from_slice(&0u32.to_be_bytes()); // nb_snapshots
    out.extend_from_slice(&0u64.to_be_bytes()); // snapshots_offset
    debug_assert_eq!(out.len(), V2_HEADER_LEN as usize);
    if spec.version >= 3 {
        let incompatible = if spec.data_file.is_some() {
            INCOMPAT_DATA_FILE
        } else {
            0
        };
        out.extend_from_slice(&incompatible.to_be_bytes());
        out.extend_from_slice(&0u64.to_be_bytes()); // compatible features
        out.extend_from_slice(&0u64.to_be_bytes()); // autoclear features
        out.extend_from_slice(&REFCOUNT_ORDER.to_be_bytes());
        out.extend_from_slice(&QEMU_HEADER_LEN.to_be_bytes());
        out.extend_from_slice(&[0u8; 8]); // compression type zlib, padding
    }
    if let Some(format) = spec.backing_format {
        push_extension(&mut out, EXT_BACKING_FORMAT, format.as_bytes());
    }
    if let Some(name) = spec.data_file {
        push_extension(&mut out, EXT_DATA_FILE, name);
    }
    if spec.version >= 3 && cluster_size > FEATURE_TABLE_MIN_CLUSTER {
        let mut table = Vec::with_capacity(FEATURE_NAMES.len() * 48);
        for (kind, bit, name) in FEATURE_NAMES {
            let mut entry = [0u8; 48];
            entry[0] = kind;
            entry[1] = bit;
            entry[2..2 + name.len()].copy_from_slice(name.as_bytes());
            table.extend_from_slice(&entry);
        }
        push_extension(&mut out, EXT_FEATURE_TABLE, &table);
    }
    push_extension(&mut out, EXT_END, &[]);
    if let Some(name) = spec.backing_file {
        let offset = u64::try_from(out.len()).unwrap_or(u64::MAX);
        let size = u32::try_from(name.len()).unwrap_or(u32::MAX);
        put(&mut out, 8, &offset.to_be_bytes());
        put(&mut out, 16, &size.to_be_bytes());
        out.extend_from_slice(name);
    }
    if out.len() > cluster_size {
        return Err(CreateError::HeaderTooLarge {
            needed: out.len(),
            cluster_size,
        });
    }
    Ok(out)
}

/// Appends a header extension: type, length, data padded to 8 bytes.
fn push_extension(out: &mut Vec<u8>, magic: u32, data: &[u8]) {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&magic.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(8), 0);
}

/// Writes `bytes` at `offset` (always within `out`: the layout is computed above).
fn put(out: &mut [u8], offset: usize, bytes: &[u8]) {
    if let Some(to) = out.get_mut(offset..offset + bytes.len()) {
        to.copy_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::parse_header;
    use crate::test_support::{assert_matches_info, qemu_check, qemu_img, qemu_info};

    /// One image spec with the `qemu-img create` arguments that make the same image.
    struct Case {
        name: &'static str,
        spec: Qcow2Spec<'static>,
        args: &'static [&'static str],
    }

    fn cases() -> Vec<Case> {
        let spec = Qcow2Spec::new;
        vec![
            Case {
                name: "v3",
                spec: spec(1 << 30),
                args: &["1G"],
            },
            Case {
                name: "v3-empty",
                spec: spec(0),
                args: &["0"],
            },
            Case {
                name: "v2",
                spec: Qcow2Spec {
                    version: 2,
                    ..spec(1 << 30)
                },
                args: &["-o", "compat=0.10", "1G"],
            },
            Case {
                name: "v2-backing",
                spec: Qcow2Spec {
                    version: 2,
                    backing_file: Some(b"base.raw"),
                    backing_format: Some("raw"),
                    ..spec(1 << 30)
                },
                args: &["-o", "compat=0.10", "-F", "raw", "-b", "base.raw", "1G"],
            },
            Case {
                name: "v3-backing",
                spec: Qcow2Spec {
                    backing_file: Some(b"./base.qcow2"),
                    backing_format: Some("qcow2"),
                    ..spec(20 << 30)
                },
                args: &["-F", "qcow2", "-b", "./base.qcow2", "20G"],
            },
            Case {
                name: "v3-data",
                spec: Qcow2Spec {
                    data_file: Some(b"v3-data.data"),
                    ..spec(100 << 20)
                },
                args: &["-o", "data_file=v3-data.data", "100M"],
            },
            Case {
                name: "v3-data-backing",
                spec: Qcow2Spec {
                    backing_file: Some(b"base.raw"),
                    backing_format: Some("raw"),
                    data_file: Some(b"v3-data-backing.data"),
                    ..spec(1 << 30)
                },
                args: &[
                    "-o",
                    "data_file=v3-data-backing.data",
                    "-F",
                    "raw",
                    "-b",
                    "base.raw",
                    "1G",
                ],
            },
            Case {
                name: "v3-512",
                spec: Qcow2Spec {
                    cluster_bits: 9,
                    backing_file: Some(b"base.raw"),
                    backing_format: Some("raw"),
                    ..spec(3 << 20)
                },
                args: &[
                    "-o",
                    "cluster_size=512",
                    "-F",
                    "raw",
                    "-b",
                    "base.raw",
                    "3M",
                ],
            },
            Case {
                name: "v3-4k",
                spec: Qcow2Spec {
                    cluster_bits: 12,
                    ..spec(1 << 30)
                },
                args: &["-o", "cluster_size=4k", "1G"],
            },
            Case {
                name: "v3-2m",
                spec: Qcow2Spec {
                    cluster_bits: 21,
                    ..spec(1 << 40)
                },
                args: &["-o", "cluster_size=2M", "1T"],
            },
        ]
    }

    #[test]
    fn same_bytes_as_qemu_img_create_and_qemu_img_accepts_them() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        std::fs::write(dir.join("base.raw"), vec![0u8; 1 << 20]).expect("write");
        qemu_img(dir, &["create", "-q", "-f", "qcow2", "base.qcow2", "1M"]);
        for case in cases() {
            let ours = create_image(&case.spec).expect("create");
            // qemu-img's image, for comparison.
            let theirs_name = format!("{}.qemu", case.name);
            let mut argv = vec!["create", "-q", "-f", "qcow2"];
            argv.extend_from_slice(&case.args[..case.args.len() - 1]);
            argv.push(&theirs_name);
            argv.extend_from_slice(&case.args[case.args.len() - 1..]);
            qemu_img(dir, &argv);
            let theirs = std::fs::read(dir.join(&theirs_name)).expect("read");
            assert!(
                ours == theirs,
                "{}: bytes differ from qemu-img create",
                case.name
            );
            // Ours, written out and checked by qemu-img (the data file is qemu-img's).
            std::fs::write(dir.join(case.name), &ours).expect("write");
            qemu_check(dir, case.name);
            let header = parse_header(&ours, ours.len() as u64).expect("parse");
            assert_matches_info(&header, &qemu_info(dir, case.name));
        }
    }

    #[test]
    fn refused_specs() {
        let spec = Qcow2Spec::new;
        let check = |s: Qcow2Spec<'_>, e: CreateError| assert_eq!(create_image(&s), Err(e));
        check(
            Qcow2Spec {
                version: 1,
                ..spec(0)
            },
            CreateError::UnsupportedVersion(1),
        );
        check(
            Qcow2Spec {
                cluster_bits: 8,
                ..spec(0)
            },
            CreateError::InvalidClusterBits(8),
        );
        check(
            Qcow2Spec {
                cluster_bits: 22,
                ..spec(0)
            },
            CreateError::InvalidClusterBits(22),
        );
        check(spec(1000), CreateError::UnalignedVirtualSize(1000));
        check(
            spec(u64::MAX - 511),
            CreateError::VirtualSizeTooLarge(u64::MAX - 511),
        );
        check(
            Qcow2Spec {
                cluster_bits: 9,
                ..spec(1 << 30)
            },
            CreateError::VirtualSizeTooLarge(1 << 30),
        );
        check(
            Qcow2Spec {
                backing_file: Some(&[b'a'; 1024]),
                ..spec(0)
            },
            CreateError::BackingNameTooLong(1024),
        );
        check(
            Qcow2Spec {
                backing_file: Some(b"a\0b"),
                ..spec(0)
            },
            CreateError::NulInName("backing file name"),
        );
        check(
            Qcow2Spec {
                backing_file: Some(b""),
                ..spec(0)
            },
            CreateError::EmptyName("backing file name"),
        );
        check(
            Qcow2Spec {
                backing_format: Some("raw"),
                ..spec(0)
            },
            CreateError::BackingFormatWithoutBackingFile,
        );
        check(
            Qcow2Spec {
                backing_file: Some(b"b"),
                backing_format: Some("0123456789abcdef"),
                ..spec(0)
            },
            CreateError::BackingFormatTooLong("0123456789abcdef".into()),
        );
        check(
            Qcow2Spec {
                version: 2,
                data_file: Some(b"d"),
                ..spec(0)
            },
            CreateError::DataFileNeedsVersion3,
        );
        check(
            Qcow2Spec {
                cluster_bits: 9,
                backing_file: Some(&[b'a'; 1000]),
                ..spec(0)
            },
            CreateError::HeaderTooLarge {
                needed: 1120,
                cluster_size: 512,
            },
        );
    }

    #[test]
    fn a_name_that_fills_the_cluster_exactly_fits() {
        let name = [b'n'; 512 - 120];
        let spec = Qcow2Spec {
            cluster_bits: 9,
            backing_file: Some(&name),
            ..Qcow2Spec::new(0)
        };
        let image = create_image(&spec).expect("fits");
        let header = parse_header(&image, image.len() as u64).expect("parse");
        assert_eq!(header.backing_file.as_deref(), Some(&name[..]));
    }
}
