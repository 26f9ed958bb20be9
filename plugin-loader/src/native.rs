//! The native transport: a plugin as a `cdylib` loaded into the host
//! process through the SDK's checked abi_stable root module.
//!
//! Loading one plugin:
//!
//! 1. copy the artifact named by the manifest's endpoint (a regular file,
//!    at most [`LoaderConfig::max_artifact_size`](crate::LoaderConfig::max_artifact_size) bytes)
//!    in one pass to a unique file in the cache directory (`STEM-PID-N.so`:
//!    unique per process and load, so no content hash is needed to name
//!    it), so every load, even of a file rebuilt in place, is a new library
//!    image with its own code and statics;
//! 2. verify the manifest's `checksum` on exactly the bytes copied, so the
//!    bytes verified are the bytes loaded (before any code is mapped);
//! 3. check that the copy is a shared library whose segments lie inside
//!    the file (the dynamic loader maps a truncated library and the host
//!    would die of `SIGBUS` on first touch);
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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use abi_stable::library::{LibraryError, lib_header_from_path};
use abi_stable::std_types::{RResult, RSlice, RStr, RVec};
use plugin_manifest::{Manifest, Transport};
use plugkit_sdk::abi::{FfiInitContext, PluginModuleRef};
use plugkit_sdk::{ErrorKind, Health, LogLevel, MethodInfo, PluginError, State};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{CallError, LoadError};
use crate::instance::{Ended, InstanceInfo, ShutdownOutcome, begin_shutdown, finish_shutdown};
use crate::lifecycle::Lifecycle;

/// Loads the native plugin `manifest` describes from `copy`, the verified
/// copy of `artifact` in the cache, which it removes (blocking: the loader
/// runs it where it cannot stall the async runtime).
pub(crate) fn load(
    copy: PathBuf,
    manifest: &Manifest,
    artifact: &Path,
) -> Result<NativePlugin, LoadError> {
    let plugin = manifest.name().to_string();
    if let Err(reason) = check_image(&copy) {
        let _ = std::fs::remove_file(&copy);
        return Err(LoadError::NotALibrary {
            plugin,
            path: artifact.to_path_buf(),
            reason,
        });
    }
    let opened = lib_header_from_path(&copy);
    // Opened or not, the copy is no longer needed (see the module docs).
    let _ = std::fs::remove_file(&copy);
    let module = opened
        .and_then(|header| header.init_root_module::<PluginModuleRef>())
        .map_err(|error| library_error(&plugin, artifact, error))?;
    let loaded = NativePlugin::start(module, manifest, artifact)?;
    tracing::info!(plugin = %plugin, version = %manifest.version(), path = %artifact.display(), "loaded native plugin");
    Ok(loaded)
}

/// Checks, before the dynamic loader sees it, that the verified copy is a
/// shared library whose loadable segments all lie inside the file. The dynamic
/// loader does not check the latter: it maps a truncated library happily,
/// and the first touch of a page past the end of the file kills the host
/// with `SIGBUS`.
fn check_image(copy: &Path) -> Result<(), String> {
    use object::{Object, ObjectKind, ObjectSegment};
    let file = std::fs::File::open(copy).map_err(|e| format!("cannot read its copy: {e}"))?;
    let size = file
        .metadata()
        .map_err(|e| format!("cannot read its copy: {e}"))?
        .len();
    // Reads the headers only, as the parser asks for them.
    let cache = object::ReadCache::new(file);
    let image = object::File::parse(&cache).map_err(|e| format!("not an object file: {e}"))?;
    if image.kind() != ObjectKind::Dynamic {
        return Err(format!(
            "not a shared library (object kind {:?})",
            image.kind()
        ));
    }
    for segment in image.segments() {
        let (offset, length) = segment.file_range();
        if offset.checked_add(length).is_none_or(|end| end > size) {
            return Err(
                "truncated: a loadable segment extends past the end of the file".to_string(),
            );
        }
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
            stderr: Vec::new(),
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
        crate::log::plugin_line(plugin.as_str(), LogLevel::from_u8(level), message.as_str());
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

/// What a call borrows from its thread: the encoded typed request and the
/// response, reused so that calls allocate nothing once they have grown.
#[derive(Default)]
struct Buffers {
    request: Vec<u8>,
    response: ResponseBuffer,
}

thread_local! {
    /// Boxed, so taking and putting back moves one pointer.
    static BUFFERS: Cell<Option<Box<Buffers>>> = const { Cell::new(None) };
}

/// A loaded native plugin: the handle under a native [`Instance`](crate::Instance),
/// for hosts that call it from plain threads without an async runtime.
/// Cheap to clone; `Send + Sync`, so many threads may call it at once (the
/// SDK requires plugins to be `Sync`). It keeps the instance's lifecycle
/// itself (calls counted, refused after shutdown or a panic).
#[derive(Clone)]
pub struct NativePlugin {
    inner: Arc<Inner>,
}

struct Inner {
    life: Lifecycle,
    module: PluginModuleRef,
    /// Set by whoever runs the plugin's `shutdown` (exactly once).
    stop_claimed: AtomicBool,
}

impl Inner {
    /// Runs the plugin's `shutdown` unless it ran already; `None` if it did.
    fn stop_once(&self) -> Option<Ended> {
        if self.stop_claimed.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(match (self.module.shutdown())() {
            RResult::ROk(()) => Ended::Clean,
            RResult::RErr(error) => Ended::Unclean {
                reason: PluginError::from(error).to_string(),
            },
        })
    }
}

impl Drop for Inner {
    /// The last handle is gone: nothing can call the plugin any more, so
    /// its `shutdown` runs now if no shutdown ran it.
    fn drop(&mut self) {
        if let Some(ended) = self.stop_once() {
            finish_shutdown(&self.life, ended);
        }
    }
}

impl std::fmt::Debug for NativePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let info = self.inner.life.info();
        f.debug_struct("NativePlugin")
            .field("name", &info.name)
            .field("version", &info.version.to_string())
            .field("artifact", &info.artifact)
            .field("state", &self.inner.life.state())
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
            stderr: Vec::new(),
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
        let info = InstanceInfo {
            name: plugin,
            version: manifest.version().clone(),
            capabilities: info
                .capabilities
                .into_iter()
                .map(|c| c.into_string())
                .collect(),
            sdk_version: info.sdk_version.into_string(),
            transport: Transport::Native,
            artifact: path.to_path_buf(),
            state_format: info.state_format.into_option().map(|f| f.into_string()),
        };
        Ok(NativePlugin {
            inner: Arc::new(Inner {
                life: Lifecycle::new(info),
                module,
                stop_claimed: AtomicBool::new(false),
            }),
        })
    }

    pub(crate) fn life(&self) -> &Lifecycle {
        &self.inner.life
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.inner.life.info().name
    }

    /// Turns a plugin error into a call error; a panic fails the instance
    /// (the panic rule, [`FailureCause::Panicked`](crate::FailureCause::Panicked)).
    fn plugin_error(&self, method: &str, error: PluginError) -> CallError {
        if error.kind() == ErrorKind::Panicked {
            self.inner
                .life
                .fail(crate::instance::FailureCause::Panicked {
                    method: method.to_string(),
                    message: error.message().to_string(),
                });
        }
        CallError::Plugin {
            plugin: self.name().to_string(),
            method: method.to_string(),
            error,
        }
    }

    /// Calls `method` with raw request bytes, writing the response into a
    /// buffer the caller lends (no allocation once it has grown).
    pub fn call_into(
        &self,
        method: &str,
        request: &[u8],
        response: &mut ResponseBuffer,
    ) -> Result<(), CallError> {
        let _admission = self.inner.life.enter_here(method)?;
        match (self.inner.module.call())(RStr::from(method), RSlice::from(request), &mut response.0)
        {
            RResult::ROk(()) => Ok(()),
            RResult::RErr(error) => Err(self.plugin_error(method, error.into())),
        }
    }

    /// Calls `method` with raw request bytes and returns the response bytes.
    pub fn call(&self, method: &str, request: &[u8]) -> Result<Vec<u8>, CallError> {
        with_buffers(|buffers| {
            self.call_into(method, request, &mut buffers.response)?;
            Ok(buffers.response.as_slice().to_vec())
        })
    }

    /// Calls `method` with a typed request and decodes the typed reply
    /// (both in the SDK's encoding).
    pub fn call_typed<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &str,
        request: &Req,
    ) -> Result<Resp, CallError> {
        with_buffers(|buffers| {
            crate::error::encode_request_into(self.name(), method, request, &mut buffers.request)?;
            self.call_into(method, &buffers.request, &mut buffers.response)?;
            crate::error::decode_reply(self.name(), method, buffers.response.as_slice())
        })
    }

    /// Calls the typed method `method` with a JSON request; returns the
    /// JSON reply.
    pub fn call_json(
        &self,
        method: &str,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value, CallError> {
        let request = crate::error::encode_json(self.name(), method, request)?;
        let _admission = self.inner.life.enter_here(method)?;
        with_buffers(|buffers| {
            let response = &mut buffers.response;
            match (self.inner.module.call_json())(
                RStr::from(method),
                RSlice::from(request.as_slice()),
                &mut response.0,
            ) {
                RResult::ROk(()) => {
                    crate::error::decode_json(self.name(), method, response.as_slice())
                }
                RResult::RErr(error) => Err(self.plugin_error(method, error.into())),
            }
        })
    }

    /// The plugin's typed methods.
    pub fn methods(&self) -> Result<Vec<MethodInfo>, CallError> {
        let _admission = self.inner.life.enter_here("methods")?;
        match (self.inner.module.methods())() {
            RResult::ROk(methods) => Ok(methods.into_iter().map(MethodInfo::from).collect()),
            RResult::RErr(error) => Err(self.plugin_error("methods", error.into())),
        }
    }

    /// The state the plugin hands its successor (passes a paused gate).
    pub fn export_state(&self) -> Result<Option<State>, CallError> {
        let _admission = self.inner.life.enter_paused("export_state")?;
        match (self.inner.module.export_state())() {
            RResult::ROk(state) => Ok(state.into_option().map(State::from)),
            RResult::RErr(error) => Err(self.plugin_error("export_state", error.into())),
        }
    }

    /// Hands the plugin its predecessor's state (passes a paused gate).
    pub fn import_state(&self, state: State) -> Result<(), CallError> {
        let _admission = self.inner.life.enter_paused("import_state")?;
        match (self.inner.module.import_state())(
            RStr::from(state.format.as_str()),
            RSlice::from(state.bytes.as_slice()),
        ) {
            RResult::ROk(()) => Ok(()),
            RResult::RErr(error) => Err(self.plugin_error("import_state", error.into())),
        }
    }

    /// Asks the plugin for its health; a panic fails the instance.
    pub fn health(&self) -> Result<Health, CallError> {
        let _admission = self.inner.life.enter_here("health")?;
        match (self.inner.module.health())() {
            RResult::ROk(health) => Ok(health.into()),
            RResult::RErr(error) => Err(self.plugin_error("health", error.into())),
        }
    }

    /// Shuts the plugin down: no new calls, up to `grace` for the calls in
    /// flight, then the plugin's `shutdown`, exactly once. A native call
    /// cannot be interrupted: if calls still run after `grace`, the plugin's
    /// `shutdown` runs when the last of them returns ([`Ended::Deferred`]).
    /// The library itself stays mapped (see the module docs).
    pub async fn shutdown(&self, grace: Duration) -> ShutdownOutcome {
        let life = &self.inner.life;
        if !begin_shutdown(life) {
            return ShutdownOutcome {
                abandoned_calls: 0,
                ended: Ended::AlreadyStopped,
            };
        }
        if life.drain(grace).await {
            let ended = self.inner.stop_once().unwrap_or(Ended::AlreadyStopped);
            finish_shutdown(life, ended.clone());
            return ShutdownOutcome {
                abandoned_calls: 0,
                ended,
            };
        }
        let abandoned_calls = life.in_flight();
        tracing::warn!(plugin = %self.name(), abandoned_calls, "native calls outlived the grace period; the plugin shuts down when they return");
        let inner = Arc::clone(&self.inner);
        life.defer(Box::new(move || {
            if let Some(ended) = inner.stop_once() {
                finish_shutdown(&inner.life, ended);
            }
        }));
        ShutdownOutcome {
            abandoned_calls,
            ended: Ended::Deferred,
        }
    }
}

/// Runs `f` with this thread's buffers, taken out of the thread-local
/// while in use (a nested call, such as a plugin calling back into the
/// host, gets fresh ones; nothing can panic here).
fn with_buffers<T>(f: impl FnOnce(&mut Buffers) -> T) -> T {
    let mut buffers = BUFFERS
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_default();
    let result = f(&mut buffers);
    let _ = BUFFERS.try_with(|cell| cell.set(Some(buffers)));
    result
}
