//! The bytes at hand ([`Source`]) and what every parser reads from them: C strings, backing
//! names, truncation, and how many bytes there may be.

use crate::error::HeaderError;

/// The most bytes [`bytes_needed`](crate::bytes_needed) ever asks for: the largest first
/// cluster (2 MiB: a qcow2 cluster of 2^[`MAX_CLUSTER_BITS`](crate::MAX_CLUSTER_BITS) bytes).
pub const MAX_HEADER_BYTES: usize = 2 << 20;
/// The longest backing file name QEMU reads.
pub const MAX_BACKING_NAME_LEN: u32 = 1023;

/// The bytes before the first NUL, as C reads a string.
pub(crate) fn c_string(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    bytes.get(..end).unwrap_or(bytes)
}

/// `Some` unless empty.
pub(crate) fn non_empty(bytes: &[u8]) -> Option<Vec<u8>> {
    (!bytes.is_empty()).then(|| bytes.to_vec())
}

/// The backing name of `size` bytes at `offset`, read as a C string (empty is none); past the
/// end of the file it is [`HeaderError::BackingNameOutOfBounds`].
pub(crate) fn backing_name(
    src: &Source<'_>,
    offset: u64,
    size: u32,
) -> Result<Option<Vec<u8>>, HeaderError> {
    match src.get(offset, u64::from(size)) {
        Ok(name) => Ok(non_empty(c_string(name))),
        Err(Short::PastEof) => Err(HeaderError::BackingNameOutOfBounds { offset, size }),
        Err(Short::NotRead(needed)) => Err(truncated(needed, src.buf)),
    }
}

/// A [`HeaderError::Truncated`] for `needed` bytes out of `buf`.
pub(crate) fn truncated(needed: u64, buf: &[u8]) -> HeaderError {
    HeaderError::Truncated {
        needed: usize::try_from(needed).unwrap_or(usize::MAX),
        have: buf.len(),
    }
}

/// The bytes at hand and where the file ends.
pub(crate) struct Source<'a> {
    /// The first bytes of the file.
    pub(crate) buf: &'a [u8],
    /// The file's length (at least `buf.len()`), or `u64::MAX` when unknown.
    pub(crate) eof: u64,
}

/// Why [`Source::get`] has no bytes to give.
pub(crate) enum Short {
    /// The range goes past the end of the file.
    PastEof,
    /// The range is in the file but past `buf`: this many bytes from offset 0 are needed.
    NotRead(u64),
}

impl<'a> Source<'a> {
    /// The `len` bytes at `offset`.
    pub(crate) fn get(&self, offset: u64, len: u64) -> Result<&'a [u8], Short> {
        let end = offset.checked_add(len).ok_or(Short::PastEof)?;
        let in_buf = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(start, end)| self.buf.get(start..end));
        match in_buf {
            Some(bytes) => Ok(bytes),
            None if end > self.eof => Err(Short::PastEof),
            None => Err(Short::NotRead(end)),
        }
    }

    /// The `len` bytes at `offset`, which are part of the fixed header: missing is truncation.
    pub(crate) fn need(&self, offset: u64, len: u64) -> Result<&'a [u8], HeaderError> {
        self.get(offset, len)
            .map_err(|_| truncated(offset.saturating_add(len), self.buf))
    }

    /// The bytes at `offset`, at most `len` of them, cut at the end of the file (as QEMU reads
    /// past the end of a file: zeros, so the caller reads the end as the end of a C string).
    /// Empty if `offset` is at or past the end of the file; truncation if not all in `buf`.
    pub(crate) fn window(&self, offset: u64, len: u64) -> Result<&'a [u8], HeaderError> {
        if offset >= self.eof {
            return Ok(&[]);
        }
        let end = offset.saturating_add(len).min(self.eof);
        self.need(offset, end - offset)
    }
}
