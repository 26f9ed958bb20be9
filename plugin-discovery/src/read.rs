//! Bounded reading of manifest files: the one function through which
//! discovery (and the CLI, for `plugkit manifest check`) reads untrusted
//! manifest bytes.
//!
//! The rule: nothing is read before it is known to be bounded. The path's
//! metadata is checked first (a regular file larger than the limit is
//! refused without being opened; a FIFO, socket or device is refused or,
//! when the caller accepts streams, read with the cap), the file's own
//! metadata is checked again once open (the path may have been replaced in
//! between), and the read itself is capped with [`Read::take`] at one byte
//! over the limit, so a file that grows while it is read, or a stream
//! without end (`/dev/zero`), costs at most the limit. Errors carry the
//! limit and, where it can be known, the real size.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use crate::DiscoveryError;

/// What [`read_manifest_file`] does with a path that is not a regular file
/// (a FIFO, a socket, a character or block device).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SpecialFiles {
    /// Refuse it with [`DiscoveryError::NotAFile`] without opening it, so
    /// it cannot block (what a scan does: a FIFO named like a manifest must
    /// not hang discovery).
    #[default]
    Refuse,
    /// Read it like a file, with the same cap (what a command given one
    /// path explicitly does: `plugkit manifest check <(generate)` reads a
    /// pipe). Opening a FIFO waits for its writer.
    ReadWithCap,
}

/// Reads the manifest file at `path`, at most `limit` bytes.
///
/// A regular file larger than `limit` is refused from its metadata, before
/// anything is read, with [`DiscoveryError::TooLarge`] giving its size; a
/// stream that yields more than `limit` bytes is refused after reading
/// `limit + 1` of them, with the size unknown. A directory is
/// [`DiscoveryError::NotAFile`]; other special files follow `special`.
/// Symlinks are followed (the target's type and size count).
///
/// ```
/// use plugin_discovery::{DiscoveryError, SpecialFiles, read_manifest_file};
///
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("plugin-manifest.json");
/// std::fs::File::create(&path)?.set_len(2 << 30)?; // 2 GiB, sparse
/// let error = read_manifest_file(&path, 1 << 20, SpecialFiles::Refuse).unwrap_err();
/// assert!(matches!(error, DiscoveryError::TooLarge { size: Some(size), limit: 1048576, .. } if size == 2 << 30));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_manifest_file(
    path: &Path,
    limit: u64,
    special: SpecialFiles,
) -> Result<Vec<u8>, DiscoveryError> {
    let metadata = std::fs::metadata(path).map_err(|e| unreadable(path, e))?;
    check(path, &metadata, limit, special)?;
    let file = File::open(path).map_err(|e| unreadable(path, e))?;
    let metadata = file.metadata().map_err(|e| unreadable(path, e))?;
    check(path, &metadata, limit, special)?;
    read_open(file, &metadata, path, limit)
}

/// Whether what `metadata` describes may be read under `limit`.
fn check(
    path: &Path,
    metadata: &Metadata,
    limit: u64,
    special: SpecialFiles,
) -> Result<(), DiscoveryError> {
    if metadata.is_dir() || (!metadata.is_file() && special == SpecialFiles::Refuse) {
        return Err(DiscoveryError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    if metadata.is_file() && metadata.len() > limit {
        return Err(too_large(path, Some(metadata.len()), limit));
    }
    Ok(())
}

/// Reads an open file whose `metadata` was checked, capped at `limit`
/// (the scanner opens files itself, to stamp them from the same handle).
pub(crate) fn read_open(
    file: File,
    metadata: &Metadata,
    path: &Path,
    limit: u64,
) -> Result<Vec<u8>, DiscoveryError> {
    if metadata.is_file() && metadata.len() > limit {
        return Err(too_large(path, Some(metadata.len()), limit));
    }
    // Never more than the limit up front, whatever the metadata claims.
    let expected = if metadata.is_file() {
        metadata.len()
    } else {
        0
    };
    let mut bytes = Vec::with_capacity(usize::try_from(expected.min(limit)).unwrap_or(0));
    let mut capped = file.take(limit.saturating_add(1));
    capped
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(path, e))?;
    if bytes.len() as u64 > limit {
        // A regular file that grew while it was read has a size to report.
        let file = capped.into_inner();
        let size = metadata
            .is_file()
            .then(|| file.metadata().map(|m| m.len()).ok())
            .flatten()
            .filter(|size| *size > limit);
        return Err(too_large(path, size, limit));
    }
    Ok(bytes)
}

fn too_large(path: &Path, size: Option<u64>, limit: u64) -> DiscoveryError {
    DiscoveryError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit,
    }
}

fn unreadable(path: &Path, error: io::Error) -> DiscoveryError {
    DiscoveryError::ReadManifest {
        path: path.to_path_buf(),
        source: Arc::new(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_within_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(
            read_manifest_file(&path, 10, SpecialFiles::Refuse).unwrap(),
            b"0123456789"
        );
        let error = read_manifest_file(&path, 9, SpecialFiles::Refuse).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "manifest {} is 10 bytes, more than the limit of 9 bytes",
                path.display()
            )
        );
    }

    #[test]
    fn a_directory_is_not_a_file_even_when_streams_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_manifest_file(dir.path(), 10, SpecialFiles::ReadWithCap).unwrap_err();
        assert!(matches!(error, DiscoveryError::NotAFile { .. }), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_or_read_with_the_cap() {
        let zero = Path::new("/dev/zero");
        let error = read_manifest_file(zero, 1024, SpecialFiles::Refuse).unwrap_err();
        assert_eq!(error.to_string(), "/dev/zero is not a regular file");
        let error = read_manifest_file(zero, 1024, SpecialFiles::ReadWithCap).unwrap_err();
        assert_eq!(
            error.to_string(),
            "manifest /dev/zero holds more than the limit of 1024 bytes"
        );
    }
}
