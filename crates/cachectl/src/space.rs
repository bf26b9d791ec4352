//! `--min-free` and `--max-cache-size`: sizes as operators write them (`500G`, `1.5TiB`,
//! `10%` of the file system), resolved against the file system that holds the cache.

use cachectl_fs::FsUsage;
use cachectl_policy::{RemovalCap, SpaceFacts, SpaceTarget};

/// A size as given: bytes, or a share of the file system's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SizeArg {
    /// Bytes.
    Bytes(u64),
    /// Per cent of the file system's size (0 to 100).
    Percent(f64),
}

impl SizeArg {
    /// In bytes, on a file system of `size` bytes.
    fn bytes(self, size: u64) -> u64 {
        match self {
            Self::Bytes(bytes) => bytes,
            // Rounded up: "keep 10% free" is never met by less.
            Self::Percent(pct) => (size as f64 * pct / 100.0).ceil() as u64,
        }
    }
}

/// Parses `500G` (single-letter units are powers of 1024, as `df -h` and qemu-img write
/// them), `1.5TiB`, `500GB` (powers of 1000), `1048576` (bytes), or `10%`.
pub(crate) fn parse_size_arg(text: &str) -> Result<SizeArg, String> {
    let text = text.trim();
    if let Some(number) = text.strip_suffix('%') {
        let pct: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a share: expected a per cent, like 10%"))?;
        if !(0.0..=100.0).contains(&pct) {
            return Err(format!("{text:?} is not between 0% and 100%"));
        }
        return Ok(SizeArg::Percent(pct));
    }
    // "G" alone is GiB, as df -h, du -h and qemu-img mean it; "GB" is 10^9, "GiB" 2^30.
    let binary_letter = text
        .strip_suffix(|c: char| "kKmMgGtTpPeE".contains(c))
        .filter(|number| number.ends_with(|c: char| c.is_ascii_digit() || c == '.' || c == ' '));
    let spelled = match binary_letter {
        Some(number) => format!("{number}{}i", &text[number.len()..]),
        None => text.to_owned(),
    };
    parse_size::parse_size(&spelled)
        .map(SizeArg::Bytes)
        .map_err(|err| {
            format!(
                "{text:?} is not a size ({err}): expected bytes or a size like 500G, 1.5TiB, 10%"
            )
        })
}

/// Parses `--max-remove`: a plain number of files (`100`), or a size (`50G`, `1.5TiB`, `500B`).
pub(crate) fn parse_removal_cap(text: &str) -> Result<RemovalCap, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map(RemovalCap::Files)
            .map_err(|_| format!("{text:?} is too many files"));
    }
    match parse_size_arg(text) {
        Ok(SizeArg::Bytes(bytes)) => Ok(RemovalCap::Bytes(bytes)),
        Ok(SizeArg::Percent(_)) => Err(format!(
            "{text:?}: a cap is a number of files or a size, not a share"
        )),
        Err(_) => Err(format!(
            "{text:?} is not a cap: expected a number of files (100) or a size (50G, 500B)"
        )),
    }
}

/// The space facts of a pass: the target in bytes, and the file system and the cache as the
/// pass first found them.
pub(crate) fn space_facts(
    min_free: Option<SizeArg>,
    max_cache: Option<SizeArg>,
    fs: FsUsage,
    cache_bytes: u64,
) -> SpaceFacts {
    SpaceFacts {
        target: SpaceTarget {
            min_free: min_free.map(|size| size.bytes(fs.size_bytes)),
            max_cache: max_cache.map(|size| size.bytes(fs.size_bytes)),
        },
        avail_bytes: fs.avail_bytes,
        cache_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_operators_write_them() {
        let bytes = |text: &str| match parse_size_arg(text) {
            Ok(SizeArg::Bytes(bytes)) => Some(bytes),
            _ => None,
        };
        assert_eq!(bytes("500G"), Some(500 << 30));
        assert_eq!(bytes("500g"), Some(500 << 30));
        assert_eq!(bytes("1.5TiB"), Some(3 << 39));
        assert_eq!(bytes("1.5T"), Some(3 << 39));
        assert_eq!(bytes("500GB"), Some(500_000_000_000));
        assert_eq!(bytes("10 MiB"), Some(10 << 20));
        assert_eq!(bytes("1048576"), Some(1 << 20));
        assert_eq!(parse_size_arg("10%"), Ok(SizeArg::Percent(10.0)));
        assert_eq!(parse_size_arg("2.5 %"), Ok(SizeArg::Percent(2.5)));
        for bad in ["", "G", "ten", "101%", "-1%", "5X", "1e400", "%"] {
            assert!(parse_size_arg(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_cap_is_files_or_bytes() {
        assert_eq!(parse_removal_cap("100"), Ok(RemovalCap::Files(100)));
        assert_eq!(parse_removal_cap("50G"), Ok(RemovalCap::Bytes(50 << 30)));
        assert_eq!(parse_removal_cap("500B"), Ok(RemovalCap::Bytes(500)));
        for bad in ["", "10%", "many", "-1"] {
            assert!(parse_removal_cap(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_share_is_of_the_file_system_and_rounded_up() {
        let fs = FsUsage {
            size_bytes: 1_000,
            free_bytes: 300,
            avail_bytes: 250,
        };
        let facts = space_facts(
            Some(SizeArg::Percent(10.05)),
            Some(SizeArg::Bytes(7)),
            fs,
            40,
        );
        assert_eq!(facts.target.min_free, Some(101));
        assert_eq!(facts.target.max_cache, Some(7));
        assert_eq!((facts.avail_bytes, facts.cache_bytes), (250, 40));
    }
}
