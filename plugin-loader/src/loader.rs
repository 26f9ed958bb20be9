//! [`Loader`]: takes a manifest and its directory, picks the transport,
//! and hands back an [`Instance`]. Artifacts of both local transports go
//! through the same staging (see the `staging` module): copied into the
//! cache directory and verified on the bytes copied; the copy is what runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugin_manifest::{Manifest, Transport};

use crate::error::LoadError;
use crate::grpc::GrpcConfig;
use crate::instance::Instance;
use crate::process::ProcessConfig;
use crate::staging::{Key, Prepared, Staging};

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
///
/// Clones share the copies made ahead by [`Loader::prepare`].
#[derive(Debug, Clone, Default)]
pub struct Loader {
    config: LoaderConfig,
    prepared: Arc<Prepared>,
}

impl Loader {
    /// A loader with `config`.
    pub fn new(config: LoaderConfig) -> Self {
        Loader {
            config,
            prepared: Arc::default(),
        }
    }

    fn staging(&self) -> Staging {
        Staging {
            cache_dir: std::path::absolute(&self.config.cache_dir)
                .unwrap_or_else(|_| self.config.cache_dir.clone()),
            max_artifact_size: self.config.max_artifact_size,
        }
    }

    /// Copies and verifies the artifact of the local plugin `manifest`
    /// describes into the cache ahead of its load, so that a later
    /// [`load`](Loader::load) of it (by this loader or a clone) skips that
    /// work, or waits for it if it is still under way. For a host that
    /// knows a load is coming: the copy waits unclaimed (eight at most,
    /// the oldest removed first) until a load of the same, unchanged
    /// artifact with the same checksum takes it; a changed file is staged
    /// anew by the load. Does nothing for a remote plugin; a failure is
    /// left for the load to report. Needs a tokio runtime.
    pub async fn prepare(&self, manifest: &Manifest, manifest_dir: &Path) {
        let executable = match manifest.transport() {
            Transport::Native => false,
            Transport::Process => true,
            _ => return,
        };
        let Ok(manifest_dir) = std::path::absolute(manifest_dir) else {
            return;
        };
        let Ok(artifact) = artifact(manifest, &manifest_dir) else {
            return;
        };
        let Some(key) = Key::of(manifest, &artifact, executable) else {
            return;
        };
        if let Some(slot) = self.prepared.insert(key) {
            slot.copy(&self.staging(), manifest, &artifact, executable)
                .await;
        }
    }

    /// The verified copy of `artifact` to load: the prepared one if there
    /// is one for the artifact as it is now, else a new one.
    async fn staged(
        &self,
        manifest: &Manifest,
        artifact: &Path,
        executable: bool,
    ) -> Result<PathBuf, LoadError> {
        let staging = self.staging();
        if let Some(key) = Key::of(manifest, artifact, executable)
            && let Some(slot) = self.prepared.claim(&key)
            && let Some(copy) = slot.copy(&staging, manifest, artifact, executable).await
        {
            return Ok(copy);
        }
        staging.copy_on_pool(manifest, artifact, executable).await
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
        match manifest.transport() {
            Transport::Native => {
                let artifact = artifact(manifest, &manifest_dir)?;
                let runtime = tokio::runtime::Handle::try_current();
                let plugin = match runtime {
                    Ok(runtime) => {
                        let copy = self.staged(manifest, &artifact, false).await?;
                        let manifest = manifest.clone();
                        runtime
                            .spawn_blocking(move || crate::native::load(copy, &manifest, &artifact))
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
                    Err(_) => {
                        let copy = self.staging().copy_verified(manifest, &artifact, false)?;
                        crate::native::load(copy, manifest, &artifact)?
                    }
                };
                Ok(Instance::from(plugin))
            }
            Transport::Process => {
                let artifact = artifact(manifest, &manifest_dir)?;
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(LoadError::NoRuntime { plugin });
                }
                let program = self.staged(manifest, &artifact, true).await?;
                let plugin = crate::process::load(
                    program,
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
