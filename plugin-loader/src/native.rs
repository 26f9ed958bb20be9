//! The native transport: a plugin as a `cdylib` loaded into the host
//! process through the SDK's checked abi_stable root module.
//!
//! Loading one plugin:
//!
//! 1. read the artifact named by the manifest's endpoint;
//! 2. verify the manifest's `checksum` on those bytes (before any code is
//!    mapped), and check that they are a shared library whose segments lie
//!    inside the file (the dynamic loader maps a truncated library and the
//!    host would die of `SIGBUS` on first touch);
//! 3. write exactly those bytes to a unique file in the cache directory
//!    (`NAME-VERSION-PID-N.so`: unique per process and load, so no content
//!    hash is needed to name it), so the bytes verified are the bytes loaded
//!    and every load, even of a file rebuilt in place, is a new library image
//!    with its own code and statics;
//! 4. open it with abi_stable's `lib_header_from_path` and
//!    `init_root_module` (per file, never the per-type static cache of
//!    `RootModule::load_from_file`, which would hand back the first library
//!    for every later one), which checks the SDK version and the layout of
//!    the whole root module;
//! 5. remove the cache file: the mapping keeps the inode alive, so the
//!    dynamic loader can never confuse a later copy with it, and the cache
//!    directory stays empty between loads;
//! 6. ask the plugin its `info`, compare name, version and encoding with
//!    the manifest, and `init` it with the manifest's metadata as config.
//!
//! **What is never unloaded.** abi_stable never unloads a library (a
//! plugin's code may still be referenced by values it handed out), so every
//! load leaks its library image for the life of the process: its mapped code
//! and data (a few hundred KiB for a small plugin, shared with nothing) and
//! whatever the plugin itself allocated and did not free in `shutdown`. The
//! `native-reload-rss` figure of `cargo xtask bench` measures it; a host that
//! reloads very often should prefer the process transport, whose memory
//! returns to the system when the child exits.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use abi_stable::library::{LibraryError, lib_header_from_path};
use abi_stable::std_types::{RResult, RSlice, RStr, RVec};
use plugin_manifest::{Checksum, Manifest, Transport};
use plugin_version::Version;
use plugkit_sdk::abi::{FfiInitContext, PluginModuleRef};
use plugkit_sdk::{ErrorKind, Health, LogLevel, PluginError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::{CallError, LoadError};

/// Loads native plugins, copying each artifact into a cache directory first.
#[derive(Debug, Clone)]
pub struct NativeLoader {
    cache_dir: PathBuf,
}

/// Distinguishes the cache copies of one process.
static LOADS: AtomicU64 = AtomicU64::new(0);

impl NativeLoader {
    /// A loader that stages libraries in `cache_dir` (created when needed).
    /// The directory must allow mapping executables (not `noexec`).
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        NativeLoader {
            cache_dir: cache_dir.into(),
        }
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Loads the plugin `manifest` describes; `manifest_dir` is the directory
    /// of its manifest file, against which the endpoint is resolved.
    pub fn load(
        &self,
        manifest: &Manifest,
        manifest_dir: &Path,
    ) -> Result<NativePlugin, LoadError> {
        let plugin = manifest.name().to_string();
        let path = match (manifest.transport(), manifest.artifact_path(manifest_dir)) {
            (Transport::Native, Some(path)) => path,
            (transport, _) => {
                return Err(LoadError::WrongTransport {
                    plugin,
                    transport: transport.to_string(),
                });
            }
        };
        let bytes = std::fs::read(&path).map_err(|source| LoadError::ReadArtifact {
            plugin: plugin.clone(),
            path: path.clone(),
            source,
        })?;
        if let Some(expected) = manifest.checksum() {
            // Hashing costs about 3 ms per MiB, so only when there is a
            // checksum to verify. Every checksum the manifest accepts is a
            // SHA-256.
            let digest: [u8; 32] = Sha256::digest(&bytes).into();
            if expected.sha256() != Some(&digest) {
                return Err(LoadError::ChecksumMismatch {
                    plugin,
                    path,
                    expected: expected.to_string(),
                    actual: Checksum::Sha256(digest).to_string(),
                });
            }
        }
        check_image(&bytes).map_err(|reason| LoadError::NotALibrary {
            plugin: plugin.clone(),
            path: path.clone(),
            reason,
        })?;
        let copy = self.stage(manifest, &path, &bytes)?;
        let opened = lib_header_from_path(&copy);
        // Opened or not, the copy is no longer needed (see the module docs).
        let _ = std::fs::remove_file(&copy);
        let module = opened
            .and_then(|header| header.init_root_module::<PluginModuleRef>())
            .map_err(|error| library_error(&plugin, &path, error))?;
        let loaded = NativePlugin::start(module, manifest, &path)?;
        tracing::info!(plugin = %plugin, version = %loaded.version, path = %path.display(), "loaded native plugin");
        Ok(loaded)
    }

    /// Writes the verified bytes to a fresh, unique file in the cache.
    fn stage(&self, manifest: &Manifest, path: &Path, bytes: &[u8]) -> Result<PathBuf, LoadError> {
        let cache_error = |source| LoadError::Cache {
            plugin: manifest.name().to_string(),
            path: path.to_path_buf(),
            cache: self.cache_dir.clone(),
            source,
        };
        std::fs::create_dir_all(&self.cache_dir).map_err(cache_error)?;
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("so");
        let copy = self.cache_dir.join(format!(
            "{}-{}-{}-{}.{extension}",
            manifest.name(),
            manifest.version(),
            std::process::id(),
            LOADS.fetch_add(1, Ordering::Relaxed),
        ));
        std::fs::write(&copy, bytes).map_err(cache_error)?;
        Ok(copy)
    }
}

/// Checks, before the dynamic loader sees them, that the bytes are a shared
/// library whose loadable segments all lie inside the file. The dynamic
/// loader does not check the latter: it maps a truncated library happily,
/// and the first touch of a page past the end of the file kills the host
/// with `SIGBUS`.
fn check_image(bytes: &[u8]) -> Result<(), String> {
    use object::{Object, ObjectKind, ObjectSegment};
    let file = object::File::parse(bytes).map_err(|e| format!("not an object file: {e}"))?;
    if file.kind() != ObjectKind::Dynamic {
        return Err(format!(
            "not a shared library (object kind {:?})",
            file.kind()
        ));
    }
    for segment in file.segments() {
        segment.data().map_err(|_| {
            "truncated: a loadable segment extends past the end of the file".to_string()
        })?;
    }
    Ok(())
}

/// Maps abi_stable's (multi-line, untyped) errors to our typed ones.
fn library_error(plugin: &str, path: &Path, error: LibraryError) -> LoadError {
    let plugin = plugin.to_string();
    let path = path.to_path_buf();
    match error {
        LibraryError::OpenError { err, .. } => LoadError::NotALibrary {
            plugin,
            path,
            reason: first_line(&err.to_string()),
        },
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin { plugin, path },
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => LoadError::IncompatibleSdk {
            plugin,
            path,
            expected: expected_version.to_string(),
            found: actual_version.to_string(),
        },
        LibraryError::ParseVersionError(error) => LoadError::IncompatibleSdk {
            plugin,
            path,
            expected: plugkit_sdk::SDK_VERSION.to_string(),
            found: format!("an unreadable version ({error})"),
        },
        LibraryError::RootModule { err, .. } => LoadError::Init {
            plugin,
            stage: "root module",
            error: PluginError::failed(first_line(&err.to_string())),
        },
        LibraryError::Many(errors) => match errors.into_iter().next() {
            Some(first) => library_error(&plugin, &path, first),
            None => LoadError::NotAPlugin { plugin, path },
        },
        other => {
            let details = other.to_string();
            LoadError::IncompatibleAbi {
                plugin,
                path,
                summary: abi_summary(&details),
                details,
            }
        }
    }
}

/// One line out of abi_stable's layout report: what differs, and where the
/// library's version of the interface comes from when the report says.
fn abi_summary(details: &str) -> String {
    let origin = details
        .split("error(s)inside:")
        .nth(1)
        .and_then(|rest| {
            rest.lines()
                .find_map(|line| line.trim().strip_prefix("package:"))
        })
        .map(|package| {
            let package = package.replace(" version:", " ").replace('\'', "");
            format!("; the library's comes from {package}")
        })
        .unwrap_or_default();
    format!(
        "its plugin interface's layout differs from plugkit-sdk {}'s{origin}",
        plugkit_sdk::SDK_VERSION
    )
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("no details")
        .to_string()
}

/// The host's log sink: plugin log lines go to `tracing` under the plugin's name.
extern "C" fn host_log(level: u8, plugin: RStr<'_>, message: RStr<'_>) {
    // A panic must not unwind into the plugin's frames.
    let _ = std::panic::catch_unwind(|| {
        let (plugin, message) = (plugin.as_str(), message.as_str());
        match LogLevel::from_u8(level) {
            LogLevel::Trace => tracing::trace!(plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            LogLevel::Info => tracing::info!(plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
    });
}

/// A response buffer the host lends to plugin calls; reuse one per thread
/// and calls allocate nothing once it has grown to size.
#[derive(Debug, Default)]
pub struct ResponseBuffer(RVec<u8>);

impl ResponseBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        ResponseBuffer(RVec::new())
    }

    /// The last response written into it.
    pub fn as_slice(&self) -> &[u8] {
        self.0.as_slice()
    }
}

thread_local! {
    static BUFFER: Cell<ResponseBuffer> = Cell::new(ResponseBuffer::new());
}

/// A loaded native plugin. `Send + Sync`: many threads may call it at once
/// (the SDK requires plugins to be `Sync`).
pub struct NativePlugin {
    name: String,
    version: Version,
    capabilities: Vec<String>,
    sdk_version: String,
    artifact: PathBuf,
    module: PluginModuleRef,
    failed: AtomicBool,
}

impl std::fmt::Debug for NativePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativePlugin")
            .field("name", &self.name)
            .field("version", &self.version.to_string())
            .field("artifact", &self.artifact)
            .field("failed", &self.is_failed())
            .finish_non_exhaustive()
    }
}

impl NativePlugin {
    /// Checks the plugin's identity against the manifest and initializes it.
    fn start(module: PluginModuleRef, manifest: &Manifest, path: &Path) -> Result<Self, LoadError> {
        let plugin = manifest.name().to_string();
        let init_error = |stage, error: PluginError| LoadError::Init {
            plugin: plugin.clone(),
            stage,
            error,
        };
        let info = match (module.info())() {
            RResult::ROk(info) => info,
            RResult::RErr(error) => return Err(init_error("info", error.into())),
        };
        let found = format!("{} {}", info.name, info.version);
        let expected = format!("{} {}", manifest.name(), manifest.version());
        if found != expected {
            return Err(LoadError::IdentityMismatch {
                plugin,
                path: path.to_path_buf(),
                expected,
                found,
            });
        }
        if info.encoding.as_str() != plugkit_sdk::ENCODING {
            return Err(LoadError::Encoding {
                plugin,
                expected: plugkit_sdk::ENCODING.to_string(),
                found: info.encoding.into_string(),
            });
        }
        let config =
            serde_json::to_string(manifest.metadata()).unwrap_or_else(|_| "{}".to_string());
        let context = FfiInitContext {
            config_json: RStr::from(config.as_str()),
            log: host_log,
        };
        if let RResult::RErr(error) = (module.init())(context) {
            return Err(init_error("init", error.into()));
        }
        Ok(NativePlugin {
            name: plugin,
            version: manifest.version().clone(),
            capabilities: info
                .capabilities
                .into_iter()
                .map(|c| c.into_string())
                .collect(),
            sdk_version: info.sdk_version.into_string(),
            artifact: path.to_path_buf(),
            module,
            failed: AtomicBool::new(false),
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The capabilities the plugin reported.
    pub fn capabilities(&self) -> &[String] {
        &self.capabilities
    }

    /// The plugkit-sdk version the plugin was built with.
    pub fn sdk_version(&self) -> &str {
        &self.sdk_version
    }

    /// The artifact it was loaded from (the original, not the cache copy).
    pub fn artifact(&self) -> &Path {
        &self.artifact
    }

    /// Whether the plugin panicked and was marked failed.
    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Turns a plugin error into a call error, marking the plugin failed
    /// when it panicked.
    fn plugin_error(&self, method: &str, error: PluginError) -> CallError {
        if error.kind() == ErrorKind::Panicked {
            self.failed.store(true, Ordering::Release);
            tracing::error!(plugin = %self.name, method, %error, "plugin panicked; marked failed");
        }
        CallError::Plugin {
            plugin: self.name.clone(),
            method: method.to_string(),
            error,
        }
    }

    fn refuse_if_failed(&self, method: &str) -> Result<(), CallError> {
        if self.is_failed() {
            return Err(CallError::Failed {
                plugin: self.name.clone(),
                method: method.to_string(),
            });
        }
        Ok(())
    }

    /// Calls `method` with raw request bytes, writing the response into a
    /// buffer the caller lends (no allocation once it has grown).
    pub fn call_into(
        &self,
        method: &str,
        request: &[u8],
        response: &mut ResponseBuffer,
    ) -> Result<(), CallError> {
        self.refuse_if_failed(method)?;
        match (self.module.call())(RStr::from(method), RSlice::from(request), &mut response.0) {
            RResult::ROk(()) => Ok(()),
            RResult::RErr(error) => Err(self.plugin_error(method, error.into())),
        }
    }

    /// Calls `method` with raw request bytes and returns the response bytes.
    pub fn call(&self, method: &str, request: &[u8]) -> Result<Vec<u8>, CallError> {
        self.with_buffer(|buffer| {
            self.call_into(method, request, buffer)?;
            Ok(buffer.as_slice().to_vec())
        })
    }

    /// Calls `method` with a typed request and decodes the typed reply
    /// (both in the SDK's encoding).
    pub fn call_typed<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &str,
        request: &Req,
    ) -> Result<Resp, CallError> {
        let codec = |message: String| CallError::Codec {
            plugin: self.name.clone(),
            method: method.to_string(),
            message,
        };
        let request = plugkit_sdk::encode(request).map_err(|e| codec(e.to_string()))?;
        self.with_buffer(|buffer| {
            self.call_into(method, &request, buffer)?;
            plugkit_sdk::decode(buffer.as_slice())
                .map_err(|e| codec(format!("cannot decode the reply: {e}")))
        })
    }

    /// Runs `f` with this thread's response buffer, taken out of the
    /// thread-local while in use (a nested call, such as a plugin calling
    /// back into the host, gets a fresh one; nothing can panic here).
    fn with_buffer<T>(&self, f: impl FnOnce(&mut ResponseBuffer) -> T) -> T {
        let mut buffer = BUFFER.try_with(Cell::take).unwrap_or_default();
        let result = f(&mut buffer);
        let _ = BUFFER.try_with(|cell| cell.set(buffer));
        result
    }

    /// Asks the plugin for its health; a panic marks it failed.
    pub fn health(&self) -> Result<Health, CallError> {
        self.refuse_if_failed("health")?;
        match (self.module.health())() {
            RResult::ROk(health) => Ok(match health.status {
                0 => Health::Healthy,
                1 => Health::Degraded(health.message.into_string()),
                _ => Health::Unhealthy(health.message.into_string()),
            }),
            RResult::RErr(error) => Err(self.plugin_error("health", error.into())),
        }
    }

    /// Tells the plugin to release what it holds. The library itself stays
    /// mapped (see the module docs); call nothing after this.
    pub fn shutdown(&self) -> Result<(), CallError> {
        match (self.module.shutdown())() {
            RResult::ROk(()) => Ok(()),
            RResult::RErr(error) => Err(self.plugin_error("shutdown", error.into())),
        }
    }
}
