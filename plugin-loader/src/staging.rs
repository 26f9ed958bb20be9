//! Staging: an artifact of a local transport is copied into the cache
//! directory in one pass (bounded, regular files only) and verified against
//! the manifest's checksum on the bytes copied; the copy is what runs.
//!
//! A copy can also be made ahead of its load ([`Prepared`]): the host
//! prepares a new version's artifact while it waits for its batch window to
//! close, so the copying and hashing (about 10 ms for a 6 MB executable)
//! are off the swap's path. A prepared copy is used only for the same
//! artifact file, unchanged since (device, inode, size, modification and
//! change times), the same checksum and the same use; anything else is
//! staged anew, so a load never runs bytes other than the ones it would
//! have copied itself.

use std::collections::VecDeque;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use plugin_manifest::{Checksum, Manifest};
use sha2::{Digest, Sha256};

use crate::error::LoadError;

/// Distinguishes the cache copies of one process.
static COPIES: AtomicU64 = AtomicU64::new(0);

/// Reads, verifies and copies artifacts into the cache directory.
#[derive(Debug, Clone)]
pub(crate) struct Staging {
    pub(crate) cache_dir: PathBuf,
    pub(crate) max_artifact_size: u64,
}

/// How much of an artifact is read, hashed and written at a time.
const CHUNK: usize = 256 * 1024;

impl Staging {
    /// Copies the artifact into the cache, verifying it on the way, and
    /// returns the copy: a fresh, unique file (`STEM-PID-N[.EXT]`),
    /// read-only, executable when asked. The artifact must be a regular
    /// file within the size limit (counted as it is read, so a file that
    /// grows meanwhile cannot blow it), and exactly the bytes copied must
    /// match the manifest's checksum. One pass in chunks: the artifact is
    /// never held in memory whole (a read into a fresh buffer of the whole
    /// file, then a write, cost three times as much, page faults included).
    /// On any failure the partial copy is removed.
    pub(crate) fn copy_verified(
        &self,
        manifest: &Manifest,
        path: &Path,
        executable: bool,
    ) -> Result<PathBuf, LoadError> {
        let plugin = manifest.name().to_string();
        let read_error = |source| LoadError::ReadArtifact {
            plugin: plugin.clone(),
            path: path.to_path_buf(),
            source,
        };
        // Non-blocking, so that a FIFO put in the artifact's place cannot
        // hang the open; it is refused below as not a regular file.
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
        }
        let mut file = options.open(path).map_err(read_error)?;
        let metadata = file.metadata().map_err(read_error)?;
        if !metadata.is_file() {
            return Err(LoadError::NotAFile {
                plugin,
                path: path.to_path_buf(),
                kind: file_kind(&metadata),
            });
        }
        let limit = self.max_artifact_size;
        let too_large = |size| LoadError::ArtifactTooLarge {
            plugin: plugin.clone(),
            path: path.to_path_buf(),
            size,
            limit,
        };
        if metadata.len() > limit {
            return Err(too_large(metadata.len()));
        }
        let (copy, mut out) = self.create_copy(manifest, path, executable)?;
        let copy = RemoveUnlessKept(Some(copy));
        let write_error = |source: std::io::Error| {
            self.cache_error(
                manifest,
                path,
                format!("cannot write {}: {source}", copy.path().display()),
                source,
            )
        };
        // Hashing costs about 1 ms per MiB, so only when there is a
        // checksum to verify. Every checksum the manifest accepts is a
        // SHA-256.
        let mut hasher = manifest.checksum().map(|_| Sha256::new());
        let mut chunk = vec![0u8; CHUNK];
        let mut size: u64 = 0;
        loop {
            let n = match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(read_error(error)),
            };
            size += n as u64;
            if size > limit {
                return Err(too_large(size));
            }
            if let Some(hasher) = &mut hasher {
                hasher.update(&chunk[..n]);
            }
            out.write_all(&chunk[..n]).map_err(write_error)?;
        }
        // Closed before anything runs it (an open writer makes exec fail
        // with ETXTBSY).
        drop(out);
        if let (Some(expected), Some(hasher)) = (manifest.checksum(), hasher) {
            let digest: [u8; 32] = hasher.finalize().into();
            if expected.sha256() != Some(&digest) {
                return Err(LoadError::ChecksumMismatch {
                    plugin,
                    path: path.to_path_buf(),
                    expected: expected.to_string(),
                    actual: Checksum::Sha256(digest).to_string(),
                });
            }
        }
        Ok(copy.keep())
    }

    /// [`copy_verified`](Self::copy_verified) on tokio's blocking pool.
    pub(crate) async fn copy_on_pool(
        &self,
        manifest: &Manifest,
        artifact: &Path,
        executable: bool,
    ) -> Result<PathBuf, LoadError> {
        let (staging, owned, path) = (self.clone(), manifest.clone(), artifact.to_path_buf());
        tokio::task::spawn_blocking(move || staging.copy_verified(&owned, &path, executable))
            .await
            .unwrap_or_else(|error| {
                Err(LoadError::ReadArtifact {
                    plugin: manifest.name().to_string(),
                    path: artifact.to_path_buf(),
                    source: std::io::Error::other(format!("the staging thread ended: {error}")),
                })
            })
    }

    fn cache_error(
        &self,
        manifest: &Manifest,
        path: &Path,
        reason: String,
        source: std::io::Error,
    ) -> LoadError {
        LoadError::Cache {
            plugin: manifest.name().to_string(),
            path: path.to_path_buf(),
            cache: self.cache_dir.clone(),
            reason,
            source,
        }
    }

    /// Creates a new, unique file in the cache (`STEM-PID-N[.EXT]`; never
    /// an existing one), read-only for everyone but readable and, when
    /// asked, executable by its owner, open for writing.
    fn create_copy(
        &self,
        manifest: &Manifest,
        path: &Path,
        executable: bool,
    ) -> Result<(PathBuf, std::fs::File), LoadError> {
        let cache_error = |reason: String, source| self.cache_error(manifest, path, reason, source);
        if let Ok(metadata) = std::fs::metadata(&self.cache_dir)
            && !metadata.is_dir()
        {
            return Err(cache_error(
                format!("it exists and is {}, not a directory", file_kind(&metadata)),
                std::io::Error::from(std::io::ErrorKind::NotADirectory),
            ));
        }
        std::fs::create_dir_all(&self.cache_dir)
            .map_err(|e| cache_error(format!("cannot create it: {e}"), e))?;
        // `STEM-PID-N.EXT`: unique per process and load, so no content hash
        // is needed; the stem keeps `ps` output and process names readable.
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| manifest.name().to_string());
        let extension = path
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let copy = self.cache_dir.join(format!(
            "{stem}-{}-{}{extension}",
            std::process::id(),
            COPIES.fetch_add(1, Ordering::Relaxed),
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(if executable { 0o500 } else { 0o400 });
        }
        #[cfg(not(unix))]
        let _ = executable;
        let file = options
            .open(&copy)
            .map_err(|e| cache_error(format!("cannot write {}: {e}", copy.display()), e))?;
        Ok((copy, file))
    }
}

/// A copy in the cache that is removed when dropped, unless kept.
struct RemoveUnlessKept(Option<PathBuf>);

impl RemoveUnlessKept {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn keep(mut self) -> PathBuf {
        self.0.take().unwrap_or_default()
    }
}

impl Drop for RemoveUnlessKept {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What a file that is not a regular file is, in words.
pub(crate) fn file_kind(metadata: &std::fs::Metadata) -> &'static str {
    let kind = metadata.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// How many prepared copies wait at most; the oldest is dropped (and its
/// file removed) to make room.
const MAX_PREPARED: usize = 8;

/// Verified copies made ahead of their loads, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    slots: Mutex<VecDeque<(Key, Arc<Slot>)>>,
}

/// What a prepared copy was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    artifact: PathBuf,
    identity: Identity,
    checksum: Option<String>,
    executable: bool,
}

impl Key {
    /// The key of `artifact` as it is now; `None` if it cannot be read.
    pub(crate) fn of(manifest: &Manifest, artifact: &Path, executable: bool) -> Option<Key> {
        let metadata = std::fs::metadata(artifact).ok()?;
        Some(Key {
            artifact: artifact.to_path_buf(),
            identity: Identity::of(&metadata),
            checksum: manifest.checksum().map(|c| c.to_string()),
            executable,
        })
    }
}

/// A file's identity and version, as far as its metadata tells: any write
/// changes its change time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    #[cfg(unix)]
    device_inode: (u64, u64),
    size: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    changed: (i64, i64),
}

impl Identity {
    fn of(metadata: &std::fs::Metadata) -> Identity {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt as _;
        Identity {
            #[cfg(unix)]
            device_inode: (metadata.dev(), metadata.ino()),
            size: metadata.len(),
            modified: metadata.modified().ok(),
            #[cfg(unix)]
            changed: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

/// One prepared copy: made once, by whichever comes first of the
/// preparation and the load that claims it.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    copy: tokio::sync::OnceCell<Option<PathBuf>>,
    /// Who owns the copy: 0 while it waits in the list, then [`CLAIMED`]
    /// (a load) or [`DROPPED`] (nobody: it is removed).
    owner: AtomicU8,
}

const CLAIMED: u8 = 1;
const DROPPED: u8 = 2;

impl Prepared {
    /// A new slot for `key`, or `None` when one exists already. The
    /// oldest slot beyond [`MAX_PREPARED`] is dropped.
    pub(crate) fn insert(&self, key: Key) -> Option<Arc<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.iter().any(|(k, _)| *k == key) {
            return None;
        }
        let slot = Arc::new(Slot::default());
        slots.push_back((key, Arc::clone(&slot)));
        while slots.len() > MAX_PREPARED {
            if let Some((_, dropped)) = slots.pop_front() {
                dropped.drop_copy();
            }
        }
        Some(slot)
    }

    /// Takes the slot for `key`, if one was prepared: the caller owns its
    /// copy.
    pub(crate) fn claim(&self, key: &Key) -> Option<Arc<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let at = slots.iter().position(|(k, _)| k == key)?;
        let (_, slot) = slots.remove(at)?;
        slot.owner.store(CLAIMED, Ordering::SeqCst);
        Some(slot)
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        let slots = self.slots.get_mut().unwrap_or_else(PoisonError::into_inner);
        for (_, slot) in slots.drain(..) {
            slot.drop_copy();
        }
    }
}

impl Slot {
    /// The copy, made with `staging` unless it was made (or is being made)
    /// already; `None` if making it failed, or if the slot was dropped
    /// meanwhile (the copy is then removed).
    pub(crate) async fn copy(
        &self,
        staging: &Staging,
        manifest: &Manifest,
        artifact: &Path,
        executable: bool,
    ) -> Option<PathBuf> {
        let copy = self
            .copy
            .get_or_init(|| async {
                staging
                    .copy_on_pool(manifest, artifact, executable)
                    .await
                    .ok()
            })
            .await
            .clone();
        if self.owner.load(Ordering::SeqCst) == DROPPED {
            self.drop_copy();
            return None;
        }
        copy
    }

    /// Drops a slot nobody will claim: its copy is removed now if it is
    /// made, else by [`copy`](Self::copy) once it is.
    fn drop_copy(&self) {
        self.owner.store(DROPPED, Ordering::SeqCst);
        if let Some(Some(copy)) = self.copy.get() {
            let _ = std::fs::remove_file(copy);
        }
    }
}
