//! [`Instance`]: one loaded plugin, whatever its transport, with one state
//! machine, one event stream and one shutdown.
//!
//! **Design decision: an enum over the transports, not a trait object.**
//! The transports are a closed set that this crate owns (native, process
//! and gRPC), so a `match` dispatches each call statically: no
//! allocation of a boxed future per call and nothing for the optimizer to
//! lose, which matters on the native path where a whole call costs a few
//! nanoseconds. Everything a host relies on (states, draining, the panic
//! rule, events) lives in one shared [`Lifecycle`](crate::lifecycle), so
//! the transports cannot drift apart on it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use plugin_events::Subscription;
use plugin_manifest::Transport;
use plugin_version::Version;
use plugkit_sdk::{Health, MethodInfo, State};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::CallError;
use crate::grpc::{EndpointError, GrpcPlugin};
use crate::native::NativePlugin;
use crate::process::ProcessPlugin;

/// What a loaded plugin is: from its manifest and its own `info`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceInfo {
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: Version,
    /// The capabilities the plugin reported.
    pub capabilities: Vec<String>,
    /// The plugkit-sdk version it was built with.
    pub sdk_version: String,
    /// How it runs.
    pub transport: Transport,
    /// The artifact named by its manifest (the original path; what runs is
    /// a verified copy in the loader's cache).
    pub artifact: PathBuf,
    /// The format of the state the plugin hands over across a hot swap, if
    /// it hands any over.
    pub state_format: Option<String>,
}

impl InstanceInfo {
    #[cfg(test)]
    pub(crate) fn for_tests(name: &str) -> Self {
        InstanceInfo {
            name: name.to_string(),
            version: Version::new(1, 0, 0),
            capabilities: Vec::new(),
            sdk_version: plugkit_sdk::SDK_VERSION.to_string(),
            transport: Transport::Native,
            artifact: PathBuf::from("lib.so"),
            state_format: None,
        }
    }
}

/// Where an instance is in its life.
///
/// ```text
/// Starting ─▶ Running ◀──▶ Restarting        (process: a crash, then a new child)
///               ▲ ╲
///               │  ▶ Disconnected            (grpc: no endpoint in rotation, reconnecting)
///               └────┘
///                │  ╲          │
///                │   ╲─────────┴──▶ Failed { cause }   (panic, restarts exhausted)
///                ▼                     │
///             Draining ─▶ Stopped ◀────┘    (shutdown)
/// ```
///
/// `Stopped` is final; `Failed` is final except that shutting a failed
/// instance down moves it to `Stopped`. [`Loader::load`](crate::Loader::load)
/// returns instances `Running`; `Starting` is the state a host reports
/// for a plugin it is loading.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstanceState {
    /// Being loaded and initialised.
    Starting,
    /// Taking calls.
    Running,
    /// A process plugin's child ended; a new one is being started. Calls
    /// wait for it, up to their timeout.
    Restarting {
        /// Which consecutive restart (from 1).
        attempt: u32,
    },
    /// A remote (gRPC) plugin has no endpoint in rotation: every endpoint
    /// is unreachable or not serving (or the set is empty). The loader
    /// keeps reconnecting; calls wait for an endpoint, up to their deadline.
    Disconnected,
    /// Shutting down: no new calls, the calls in flight may finish.
    Draining,
    /// Shut down.
    Stopped,
    /// Out of service for good; the host must replace it.
    Failed {
        /// Why.
        cause: FailureCause,
    },
}

impl InstanceState {
    /// The state's name in `snake_case` (`running`, `failed`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            InstanceState::Starting => "starting",
            InstanceState::Running => "running",
            InstanceState::Restarting { .. } => "restarting",
            InstanceState::Disconnected => "disconnected",
            InstanceState::Draining => "draining",
            InstanceState::Stopped => "stopped",
            InstanceState::Failed { .. } => "failed",
        }
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceState::Restarting { attempt } => write!(f, "restarting (attempt {attempt})"),
            InstanceState::Failed { cause } => write!(f, "failed: {cause}"),
            other => f.write_str(other.name()),
        }
    }
}

/// Why an instance failed for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FailureCause {
    /// The plugin panicked. **The panic rule, for every transport:** the
    /// call that panicked gets its error, and the instance fails, because
    /// the plugin's state can no longer be trusted (a half-done update, a
    /// poisoned lock). A native library cannot be restarted in place and a
    /// process child would only be restarted into the same state, so the
    /// host decides: reload, roll back, or leave it failed.
    #[error("it panicked in {method}: {message}")]
    Panicked {
        /// Where (`call`'s method, `health`, ...).
        method: String,
        /// The panic message.
        message: String,
    },
    /// A process plugin's child kept crashing: restarts are exhausted.
    #[error("it crashed {crashes} time(s) in a row; the last time {last}")]
    Crashed {
        /// Consecutive crashes.
        crashes: u32,
        /// The last one.
        last: CrashCause,
    },
    /// A restart could not start a new child, `max_restarts` times in a row.
    #[error("it could not be restarted: {error}")]
    StartFailed {
        /// The last start's error.
        error: String,
    },
}

/// How a process plugin's child ended without being asked to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrashCause {
    /// It exited by itself with this status code.
    #[error("the child exited with status {code}")]
    Exited {
        /// The exit code.
        code: i32,
    },
    /// It was killed by this signal (from outside, a limit, or its own abort).
    #[error("the child was killed by signal {signal}")]
    Signaled {
        /// The signal number.
        signal: i32,
    },
    /// It broke the protocol (a malformed or oversized frame, an unexpected
    /// message) and was killed.
    #[error("the child broke the protocol and was killed: {message}")]
    Protocol {
        /// What it did.
        message: String,
    },
    /// It closed its output but kept running, and was killed.
    #[error("the child closed its output and was killed")]
    ClosedOutput,
}

/// How a shutdown went: [`Instance::shutdown`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownOutcome {
    /// The calls still running when the grace period ended. Native calls
    /// cannot be interrupted: they run on, and the plugin's `shutdown` runs
    /// when the last of them returns ([`Ended::Deferred`]). Process calls
    /// fail with [`CallError::Abandoned`] when the child is stopped.
    pub abandoned_calls: usize,
    /// How the plugin ended.
    pub ended: Ended,
}

/// How a plugin ended at shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ended {
    /// The plugin's `shutdown` ran; a child then exited with status 0.
    Clean,
    /// Native: calls were still running; the plugin's `shutdown` runs when
    /// the last of them returns.
    Deferred,
    /// The plugin's `shutdown` panicked, or the child exited on request
    /// but not with status 0.
    Unclean {
        /// What happened.
        reason: String,
    },
    /// The child did not exit on request and was ended with `SIGTERM`.
    Terminated,
    /// The child ignored `SIGTERM` too and was ended with `SIGKILL`.
    Killed,
    /// A remote (gRPC) plugin: this host closed its connections; the
    /// service itself runs on (other hosts may share it).
    Disconnected,
    /// No child was running (it was between restarts, or had failed).
    NotRunning,
    /// The instance was already stopped.
    AlreadyStopped,
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Clean => f.write_str("shut down cleanly"),
            Ended::Deferred => {
                f.write_str("shutdown deferred until the calls still running return")
            }
            Ended::Unclean { reason } => write!(f, "shut down uncleanly: {reason}"),
            Ended::Terminated => f.write_str("ended with SIGTERM"),
            Ended::Killed => f.write_str("ended with SIGKILL"),
            Ended::Disconnected => f.write_str("disconnected (the remote service runs on)"),
            Ended::NotRunning => f.write_str("no child was running"),
            Ended::AlreadyStopped => f.write_str("already stopped"),
        }
    }
}

/// Something that happened to an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceEvent {
    /// The plugin.
    pub plugin: String,
    /// Its version.
    pub version: Version,
    /// What happened.
    pub kind: InstanceEventKind,
}

/// What happened to an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstanceEventKind {
    /// A process plugin's child ended unasked; its calls in flight failed.
    Crashed {
        /// How.
        cause: CrashCause,
        /// How many calls were in flight and failed.
        in_flight: usize,
    },
    /// A new child is being started after `backoff`.
    Restarting {
        /// Which consecutive restart (from 1).
        attempt: u32,
        /// The wait before it.
        backoff: Duration,
    },
    /// A new child serves after a crash.
    Restarted {
        /// Which consecutive restart.
        attempt: u32,
    },
    /// The instance failed for good.
    Failed {
        /// Why.
        cause: FailureCause,
    },
    /// A shutdown began: new calls are refused, these may finish.
    Draining {
        /// Calls in flight when it began.
        in_flight: usize,
    },
    /// The instance stopped.
    Stopped {
        /// How the plugin ended.
        ended: Ended,
    },
    /// A remote plugin's endpoint connected and passed the handshake.
    Connected {
        /// The endpoint (`host:port`).
        endpoint: String,
    },
    /// A remote plugin's endpoint went away (its connection broke); the
    /// calls in flight on it fail with [`CallError::Disconnected`].
    Disconnected {
        /// The endpoint.
        endpoint: String,
        /// What broke.
        reason: String,
        /// Calls in flight on that endpoint when it broke.
        in_flight: usize,
    },
    /// A remote plugin's endpoint is dialled again after `backoff`.
    Reconnecting {
        /// The endpoint.
        endpoint: String,
        /// Which consecutive attempt (from 1).
        attempt: u32,
        /// The wait before it.
        backoff: Duration,
        /// Why the last attempt or connection failed.
        reason: String,
    },
    /// A remote plugin's endpoint takes calls again (its health serves).
    InRotation {
        /// The endpoint.
        endpoint: String,
    },
    /// A remote plugin's endpoint is connected but takes no calls: its
    /// health does not serve.
    OutOfRotation {
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// A remote plugin's endpoint set changed
    /// ([`Instance::set_endpoints`]).
    EndpointsChanged {
        /// Endpoints added.
        added: Vec<String>,
        /// Endpoints removed (their calls in flight may finish).
        removed: Vec<String>,
    },
}

/// The counters of an instance, for status pages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceStats {
    /// Calls running now.
    pub in_flight: usize,
    /// Requests taken since the load (answered, failed, or running): calls,
    /// and the health checks and method listings that go through the same
    /// gate (a host makes one or two of those when it loads a version).
    pub calls: u64,
    /// When the instance entered its current state.
    pub since: Instant,
}

/// One loaded plugin, native or process, with one lifecycle. Cheap to
/// clone: every clone is the same instance.
///
/// # Guarantees
///
/// - **Calls in flight are counted**, and [`shutdown`](Instance::shutdown)
///   drains them: it stops taking new calls (they fail at once with
///   [`CallError::Stopped`]), waits up to `grace` for the calls in flight,
///   then stops the plugin. The plugin's own `shutdown` runs exactly once,
///   never while one of its calls is still running.
/// - **One panic rule** for both transports: see
///   [`FailureCause::Panicked`].
/// - **Calls during a restart wait** (process): while a crashed child is
///   replaced, a new call waits for the new child, up to its timeout;
///   calls that were in flight at the crash fail at once.
/// - **Timeouts.** A process call has a timeout
///   ([`ProcessConfig::call_timeout`](crate::ProcessConfig::call_timeout),
///   or [`call_with_timeout`](Instance::call_with_timeout)); a native call
///   runs on the caller's thread and cannot be interrupted, so it has none,
///   and for native plugins `grace` only bounds how long `shutdown` waits
///   before it reports the calls still running.
/// - **Dropping the last clone** of a process instance stops its child
///   (gracefully, in the background); of a native instance, runs the
///   plugin's `shutdown` if it was never shut down.
#[derive(Clone)]
pub struct Instance {
    transport: Transports,
}

#[derive(Clone)]
enum Transports {
    Native(NativePlugin),
    Process(ProcessPlugin),
    Grpc(GrpcPlugin),
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.info();
        f.debug_struct("Instance")
            .field("name", &info.name)
            .field("version", &info.version.to_string())
            .field("transport", &info.transport)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl From<NativePlugin> for Instance {
    fn from(plugin: NativePlugin) -> Self {
        Instance {
            transport: Transports::Native(plugin),
        }
    }
}

impl From<ProcessPlugin> for Instance {
    fn from(plugin: ProcessPlugin) -> Self {
        Instance {
            transport: Transports::Process(plugin),
        }
    }
}

impl From<GrpcPlugin> for Instance {
    fn from(plugin: GrpcPlugin) -> Self {
        Instance {
            transport: Transports::Grpc(plugin),
        }
    }
}

impl Instance {
    fn life(&self) -> &crate::lifecycle::Lifecycle {
        match &self.transport {
            Transports::Native(plugin) => plugin.life(),
            Transports::Process(plugin) => plugin.life(),
            Transports::Grpc(plugin) => plugin.life(),
        }
    }

    /// What the plugin is.
    pub fn info(&self) -> &InstanceInfo {
        self.life().info()
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.info().name
    }

    /// The plugin's version.
    pub fn version(&self) -> &Version {
        &self.info().version
    }

    /// Where the instance is in its life.
    pub fn state(&self) -> InstanceState {
        self.life().state()
    }

    /// Calls in flight and taken, and since when the state holds.
    pub fn stats(&self) -> InstanceStats {
        let life = self.life();
        InstanceStats {
            in_flight: life.in_flight_snapshot(),
            calls: life.admitted(),
            since: life.since(),
        }
    }

    /// The instance's events, from now on, for as many subscribers as want
    /// them (a slow one misses the oldest and is told how many).
    pub fn events(&self) -> Subscription<InstanceEvent> {
        self.life().subscribe()
    }

    /// This instance's identity: unique among the instances this process
    /// loaded (never reused), equal for its clones.
    pub fn id(&self) -> u64 {
        self.life().id()
    }

    /// Whether `other` is a clone of this instance (the same loaded plugin,
    /// not merely the same name and version).
    pub fn same_instance(&self, other: &Instance) -> bool {
        self.id() == other.id()
    }

    /// The native handle, when this is a native plugin (for hosts that call
    /// it from plain threads, and for benchmarks).
    pub fn as_native(&self) -> Option<&NativePlugin> {
        match &self.transport {
            Transports::Native(plugin) => Some(plugin),
            _ => None,
        }
    }

    /// The process handle, when this is a process plugin.
    pub fn as_process(&self) -> Option<&ProcessPlugin> {
        match &self.transport {
            Transports::Process(plugin) => Some(plugin),
            _ => None,
        }
    }

    /// The remote handle, when this is a gRPC plugin.
    pub fn as_grpc(&self) -> Option<&GrpcPlugin> {
        match &self.transport {
            Transports::Grpc(plugin) => Some(plugin),
            _ => None,
        }
    }

    /// Replaces a remote plugin's endpoint set, keeping this instance (see
    /// [`GrpcPlugin::set_endpoints`]); other transports have no endpoints
    /// and answer [`EndpointError::NotRemote`].
    pub fn set_endpoints(&self, endpoints: &[String]) -> Result<(), EndpointError> {
        match &self.transport {
            Transports::Grpc(plugin) => plugin.set_endpoints(endpoints),
            _ => Err(EndpointError::NotRemote {
                plugin: self.name().to_string(),
            }),
        }
    }

    /// Calls `method` with raw request bytes.
    pub async fn call(&self, method: &str, request: &[u8]) -> Result<Vec<u8>, CallError> {
        // The calls of the two remote transports are boxed here and in the
        // other call methods: unboxed, every call's future (a native one's
        // too, and the host's around it) would be as large as theirs,
        // kilobytes, and each move of it would cost more than a native call.
        // One allocation is nothing beside their round trip.
        match &self.transport {
            Transports::Native(plugin) => plugin.call(method, request),
            Transports::Process(plugin) => Box::pin(plugin.call(method, request)).await,
            Transports::Grpc(plugin) => Box::pin(plugin.call(method, request)).await,
        }
    }

    /// Calls `method` with raw request bytes and a timeout of its own
    /// (process plugins; a native call cannot be interrupted and ignores it).
    pub async fn call_with_timeout(
        &self,
        method: &str,
        request: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, CallError> {
        match &self.transport {
            Transports::Native(plugin) => plugin.call(method, request),
            Transports::Process(plugin) => {
                Box::pin(plugin.call_with_timeout(method, request, timeout)).await
            }
            Transports::Grpc(plugin) => {
                Box::pin(plugin.call_with_timeout(method, request, timeout)).await
            }
        }
    }

    /// Calls `method` with a typed request and decodes the typed reply
    /// (both in the SDK's encoding; the types come from the plugin's
    /// interface crate).
    pub async fn call_typed<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &str,
        request: &Req,
    ) -> Result<Resp, CallError> {
        match &self.transport {
            Transports::Native(plugin) => plugin.call_typed(method, request),
            Transports::Process(plugin) => Box::pin(plugin.call_typed(method, request)).await,
            Transports::Grpc(plugin) => Box::pin(plugin.call_typed(method, request)).await,
        }
    }

    /// Calls the typed method `method` with a JSON request and returns its
    /// JSON reply: for hosts that have no Rust types for the plugin.
    pub async fn call_json(
        &self,
        method: &str,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value, CallError> {
        match &self.transport {
            Transports::Native(plugin) => plugin.call_json(method, request),
            Transports::Process(plugin) => Box::pin(plugin.call_json(method, request)).await,
            Transports::Grpc(plugin) => Box::pin(plugin.call_json(method, request)).await,
        }
    }

    /// The plugin's typed methods with their types (empty when it registers
    /// none).
    pub async fn methods(&self) -> Result<Vec<MethodInfo>, CallError> {
        match &self.transport {
            Transports::Native(plugin) => plugin.methods(),
            Transports::Process(plugin) => plugin.methods().await,
            Transports::Grpc(plugin) => plugin.methods().await,
        }
    }

    /// Asks the plugin for its health.
    pub async fn health(&self) -> Result<Health, CallError> {
        match &self.transport {
            Transports::Native(plugin) => plugin.health(),
            Transports::Process(plugin) => plugin.health().await,
            Transports::Grpc(plugin) => plugin.health().await,
        }
    }

    /// Pauses the instance for a state hand-over: new calls are refused with
    /// [`CallError::Stopped`] (state `paused`; they never reach the plugin,
    /// so a host can send them again) until [`resume`](Instance::resume).
    pub fn pause(&self) {
        self.life().pause();
    }

    /// Whether the instance is paused (and not stopping).
    pub fn is_paused(&self) -> bool {
        self.life().is_paused()
    }

    /// Takes calls again after [`pause`](Instance::pause).
    pub fn resume(&self) {
        self.life().resume();
    }

    /// Waits, up to `timeout`, until no call is in flight (after
    /// [`pause`](Instance::pause)); returns whether none is.
    pub async fn quiesce(&self, timeout: Duration) -> bool {
        self.life().drain(timeout).await
    }

    /// Asks the plugin for the state it hands its successor (after
    /// [`pause`](Instance::pause) and [`quiesce`](Instance::quiesce), so no
    /// call can change it afterwards); `None` when it has none.
    pub async fn export_state(&self) -> Result<Option<State>, CallError> {
        match &self.transport {
            Transports::Native(plugin) => plugin.export_state(),
            Transports::Process(plugin) => plugin.export_state().await,
            Transports::Grpc(plugin) => plugin.export_state().await,
        }
    }

    /// Hands the plugin the state of the version it replaces, before it
    /// takes calls; the plugin refuses a format it does not know.
    pub async fn import_state(&self, state: State) -> Result<(), CallError> {
        match &self.transport {
            Transports::Native(plugin) => plugin.import_state(state),
            Transports::Process(plugin) => plugin.import_state(state).await,
            Transports::Grpc(plugin) => plugin.import_state(state).await,
        }
    }

    /// Shuts the instance down: stops taking calls, waits up to `grace` for
    /// the calls in flight, then stops the plugin (see [`ShutdownOutcome`]).
    /// Safe to call any number of times, from any clone, at any moment.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownOutcome {
        match &self.transport {
            Transports::Native(plugin) => plugin.shutdown(grace).await,
            Transports::Process(plugin) => plugin.shutdown(grace).await,
            Transports::Grpc(plugin) => plugin.shutdown(grace).await,
        }
    }

    /// The artifact the manifest names.
    pub fn artifact(&self) -> &Path {
        &self.info().artifact
    }
}

/// Starts a drain: closes the gate, moves to `Draining` and says so.
/// Returns `false` when the instance was stopped already.
pub(crate) fn begin_shutdown(life: &crate::lifecycle::Lifecycle) -> bool {
    life.close();
    if life.state() == InstanceState::Stopped {
        return false;
    }
    let in_flight = life.in_flight();
    if life.set_state(InstanceState::Draining) {
        life.publish(InstanceEventKind::Draining { in_flight });
    }
    true
}

/// Ends a shutdown: `Stopped`, and the event.
pub(crate) fn finish_shutdown(life: &crate::lifecycle::Lifecycle, ended: Ended) {
    if life.set_state(InstanceState::Stopped) {
        tracing::info!(plugin = %life.info().name, version = %life.info().version, %ended, "plugin instance stopped");
        life.publish(InstanceEventKind::Stopped { ended });
    }
}
