//! [`Loader`]: takes a manifest and its directory, picks the transport,
//! and hands back an [`Instance`]. Artifacts of both local transports go through
//! the same staging: copied into the cache directory in one pass (bounded,
//! regular files only), verified against the manifest's checksum on the
//! bytes copied; the copy is what runs.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use plugin_manifest::{Checksum, Manifest, Transport};
use sha2::{Digest, Sha256};

use crate::error::LoadError;
use crate::grpc::GrpcConfig;
use crate::instance::Instance;
use crate::process::ProcessConfig;

/// How a [`Loader`] behaves. `Default` gives the documented values; build
/// one in an expression with the `with_*` methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoaderConfig {
    /// Where verified copies of artifacts are written before they are
    /// loaded or run (created when needed; must allow executing files,
    /// not `noexec`). Default: `plugkit-cache` in the system's temporary
    /// directory.
    pub cache_dir: PathBuf,
    /// The largest artifact accepted, in bytes. Default 1 GiB.
    pub max_artifact_size: u64,
    /// How process plugins are run.
    pub process: ProcessConfig,
    /// How remote (gRPC) plugins are dialled.
    pub grpc: GrpcConfig,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            cache_dir: std::env::temp_dir().join("plugkit-cache"),
            max_artifact_size: 1 << 30,
            process: ProcessConfig::default(),
            grpc: GrpcConfig::default(),
        }
    }
}

impl LoaderConfig {
    /// The same configuration with another cache directory.
    pub fn with_cache_dir(mut self, cache_dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = cache_dir.into();
        self
    }

    /// The same configuration with another artifact size limit.
    pub fn with_max_artifact_size(mut self, bytes: u64) -> Self {
        self.max_artifact_size = bytes;
        self
    }

    /// The same configuration with another process configuration.
    pub fn with_process(mut self, process: ProcessConfig) -> Self {
        self.process = process;
        self
    }

    /// The same configuration with another gRPC configuration.
    pub fn with_grpc(mut self, grpc: GrpcConfig) -> Self {
        self.grpc = grpc;
        self
    }
}

/// Loads plugins of every transport into [`Instance`]s.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use plugin_loader::{Loader, LoaderConfig};
///
/// let dir = std::path::Path::new("plugins/greeter");
/// let bytes = std::fs::read(dir.join("plugin-manifest.yaml"))?;
/// let manifest = plugin_manifest::parse(&bytes, "plugin-manifest.yaml")?.manifest;
///
/// let loader = Loader::new(LoaderConfig::default().with_cache_dir("target/plugkit-cache"));
/// let greeter = loader.load(&manifest, dir).await?;
/// let reply = greeter.call_json("greet", &serde_json::json!({"name": "Ada"})).await?;
/// println!("{reply}");
/// greeter.shutdown(Duration::from_secs(5)).await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Loader {
    config: LoaderConfig,
}

impl Loader {
    /// A loader with `config`.
    pub fn new(config: LoaderConfig) -> Self {
        Loader { config }
    }

    /// The configuration.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// Loads the plugin `manifest` describes; `manifest_dir` is the
    /// directory of its manifest file, against which the endpoint is
    /// resolved (relative or absolute: it is made absolute first).
    ///
    /// Native loads (reading, hashing, mapping, `init`) run on tokio's
    /// blocking pool when called inside a runtime, so they never stall it;
    /// process loads need a tokio runtime with IO and time enabled.
    pub async fn load(
        &self,
        manifest: &Manifest,
        manifest_dir: &Path,
    ) -> Result<Instance, LoadError> {
        let plugin = manifest.name().to_string();
        let manifest_dir =
            std::path::absolute(manifest_dir).map_err(|source| LoadError::ReadArtifact {
                plugin: plugin.clone(),
                path: manifest_dir.to_path_buf(),
                source,
            })?;
        let staging = Staging {
            cache_dir: std::path::absolute(&self.config.cache_dir)
                .unwrap_or_else(|_| self.config.cache_dir.clone()),
            max_artifact_size: self.config.max_artifact_size,
        };
        match manifest.transport() {
            Transport::Native => {
                let artifact = artifact(manifest, &manifest_dir)?;
                let runtime = tokio::runtime::Handle::try_current();
                let plugin = match runtime {
                    Ok(runtime) => {
                        let manifest = manifest.clone();
                        runtime
                            .spawn_blocking(move || {
                                crate::native::load(&staging, &manifest, &artifact)
                            })
                            .await
                            .unwrap_or_else(|error| {
                                Err(LoadError::Init {
                                    plugin,
                                    stage: "load",
                                    error: plugkit_sdk::PluginError::failed(format!(
                                        "the loading thread ended: {error}"
                                    )),
                                    stderr: Vec::new(),
                                })
                            })?
                    }
                    Err(_) => crate::native::load(&staging, manifest, &artifact)?,
                };
                Ok(Instance::from(plugin))
            }
            Transport::Process => {
                let artifact = artifact(manifest, &manifest_dir)?;
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(LoadError::NoRuntime { plugin });
                }
                let plugin = crate::process::load(
                    &staging,
                    &self.config.process,
                    manifest,
                    &manifest_dir,
                    &artifact,
                )
                .await?;
                Ok(Instance::from(plugin))
            }
            Transport::Grpc => {
                self.load_remote(manifest, &[manifest.endpoint().to_string()])
                    .await
            }
            transport => Err(LoadError::UnsupportedTransport { plugin, transport }),
        }
    }

    /// Loads a remote (gRPC) plugin served at `endpoints` (each
    /// `host:port`): several endpoints of one plugin version are one
    /// instance, load-balanced over those in rotation. The handshake checks
    /// each against the manifest's name and version; the manifest's own
    /// `endpoint` is not used (a discovery source such as etcd gives the
    /// set). Every endpoint is checked before any is dialled (syntax, the
    /// plaintext rule); the load succeeds when at least one passes its
    /// handshake within [`GrpcConfig::connect_timeout`], and the others
    /// keep being dialled with backoff. Change the set later with
    /// [`Instance::set_endpoints`], which keeps the instance. Needs a tokio
    /// runtime.
    ///
    /// ```no_run
    /// # async fn example(manifest: plugin_manifest::Manifest) -> Result<(), Box<dyn std::error::Error>> {
    /// use plugin_loader::{Loader, LoaderConfig};
    ///
    /// let loader = Loader::new(LoaderConfig::default());
    /// let endpoints = ["127.0.0.1:50051".to_string(), "127.0.0.1:50052".to_string()];
    /// let greeter = loader.load_remote(&manifest, &endpoints).await?;
    /// let reply = greeter.call_json("greet", &serde_json::json!({"name": "Ada"})).await?;
    /// // Later, from a discovery source: the same instance, another set.
    /// greeter.set_endpoints(&["127.0.0.1:50053".to_string()])?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn load_remote(
        &self,
        manifest: &Manifest,
        endpoints: &[String],
    ) -> Result<Instance, LoadError> {
        let plugin = crate::grpc::load(&self.config.grpc, manifest, endpoints).await?;
        Ok(Instance::from(plugin))
    }
}

fn artifact(manifest: &Manifest, manifest_dir: &Path) -> Result<PathBuf, LoadError> {
    manifest
        .artifact_path(manifest_dir)
        .ok_or_else(|| LoadError::NoArtifact {
            plugin: manifest.name().to_string(),
        })
}

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
