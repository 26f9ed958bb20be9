//! The [`Plugin`] trait every plugin implements, whatever its transport,
//! and the values that cross it.

use std::fmt;
use std::io;

use abi_stable::StableAbi;
use abi_stable::std_types::{RStr, RVec};
use plugin_version::Version;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::typed::Methods;

/// What a plugin says about itself. The host compares `name` and `version`
/// with the plugin's manifest and refuses the plugin when they differ.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginInfo {
    /// The plugin's name, as in its manifest.
    pub name: String,
    /// The plugin's version, as in its manifest.
    pub version: Version,
    /// What the plugin can do.
    pub capabilities: Vec<String>,
    /// The format of the state this plugin hands to its successor across a
    /// hot swap ([`Plugin::export_state`]), if it hands any over.
    pub state_format: Option<String>,
}

impl PluginInfo {
    /// Info for `name` at `version`, with no capabilities and no state to
    /// hand over.
    pub fn new(name: impl Into<String>, version: Version) -> Self {
        PluginInfo {
            name: name.into(),
            version,
            capabilities: Vec::new(),
            state_format: None,
        }
    }

    /// The same info, saying the plugin hands its state over across a hot
    /// swap in `format` (a name and a version of your choosing, such as
    /// `kv-store/1`): the host then moves the state of the serving version
    /// into the new one before it takes traffic.
    pub fn with_state_format(mut self, format: impl Into<String>) -> Self {
        self.state_format = Some(format.into());
        self
    }

    /// The same info with these capabilities.
    pub fn with_capabilities<I, S>(mut self, capabilities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.capabilities = capabilities.into_iter().map(Into::into).collect();
        self
    }
}

/// What kind of failure a [`PluginError`] is.
///
/// One enum for every transport: it crosses the native ABI as it is (its
/// layout is checked at load) and the process protocol by its serde form,
/// so there is no second encoding to keep in step. New kinds are a change
/// under the SDK's [compatibility policy](crate#compatibility).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, StableAbi, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The plugin has no method of that name.
    UnknownMethod,
    /// The request could not be decoded or is invalid.
    BadRequest,
    /// The plugin tried and failed.
    Failed,
    /// The plugin panicked; the SDK caught the panic at the boundary.
    Panicked,
    /// A call came before `init` succeeded.
    NotInitialized,
    /// A call came after `shutdown`: the plugin takes no more calls.
    Stopped,
}

impl ErrorKind {
    /// The kind's name in `snake_case` (`unknown_method`, `bad_request`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::UnknownMethod => "unknown_method",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Failed => "failed",
            ErrorKind::Panicked => "panicked",
            ErrorKind::NotInitialized => "not_initialized",
            ErrorKind::Stopped => "stopped",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a plugin returns (or the SDK returns on its behalf).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct PluginError {
    kind: ErrorKind,
    message: String,
}

impl PluginError {
    /// An error of `kind` with a message (lowercase, no trailing period).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            kind,
            message: message.into(),
        }
    }

    /// The plugin tried and failed.
    pub fn failed(message: impl Into<String>) -> Self {
        PluginError::new(ErrorKind::Failed, message)
    }

    /// The request is invalid.
    pub fn bad_request(message: impl Into<String>) -> Self {
        PluginError::new(ErrorKind::BadRequest, message)
    }

    /// There is no method `method`.
    pub fn unknown_method(method: &str) -> Self {
        PluginError::new(
            ErrorKind::UnknownMethod,
            format!("unknown method `{method}`"),
        )
    }

    /// There is no method `method` for a reason worth saying.
    pub(crate) fn unknown_method_because(why: &str) -> Self {
        PluginError::new(ErrorKind::UnknownMethod, why)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A plugin's answer to a health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Health {
    /// Working normally.
    Healthy,
    /// Working, with a problem worth reporting.
    Degraded(String),
    /// Not able to serve; the host may restart or roll it back.
    Unhealthy(String),
}

impl Health {
    /// Whether the plugin can serve (healthy or degraded).
    pub fn is_serving(&self) -> bool {
        !matches!(self, Health::Unhealthy(_))
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Healthy => f.write_str("healthy"),
            Health::Degraded(why) => write!(f, "degraded: {why}"),
            Health::Unhealthy(why) => write!(f, "unhealthy: {why}"),
        }
    }
}

/// Severity of a log line a plugin sends to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum LogLevel {
    /// Very detailed.
    Trace = 0,
    /// For debugging.
    Debug = 1,
    /// Normal operation.
    Info = 2,
    /// Something to look at.
    Warn = 3,
    /// Something failed.
    Error = 4,
}

impl LogLevel {
    /// The level a number stands for (unknown numbers are `Error`, so
    /// nothing is lost).
    pub fn from_u8(level: u8) -> LogLevel {
        match level {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            _ => LogLevel::Error,
        }
    }

    /// The level's name (`trace`, `debug`, `info`, `warn`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// The level a name stands for (as [`as_str`](Self::as_str) writes it).
    pub fn from_name(name: &str) -> Option<LogLevel> {
        [
            LogLevel::Trace,
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
        ]
        .into_iter()
        .find(|level| level.as_str() == name)
    }
}

/// The host's log sink, as it crosses the ABI: level, plugin name, message.
pub type LogSink = extern "C" fn(level: u8, plugin: RStr<'_>, message: RStr<'_>);

/// A handle for sending log lines to the host, which records them (with
/// `tracing`) under the plugin's name. Cheap to clone; keep it for the
/// plugin's lifetime.
#[derive(Clone)]
pub struct Logger {
    plugin: String,
    sink: LogSink,
}

impl Logger {
    /// A logger sending `plugin`'s lines to `sink`. Hosts build these; a
    /// plugin's unit tests can too, to call `init` directly (or use
    /// [`Logger::stderr`]).
    pub fn new(plugin: impl Into<String>, sink: LogSink) -> Self {
        Logger {
            plugin: plugin.into(),
            sink,
        }
    }

    /// A logger writing `[level] message` lines to stderr: what a process
    /// plugin's logger does, and handy in a plugin's unit tests.
    ///
    /// ```
    /// use plugkit_sdk::{InitContext, Logger};
    ///
    /// let context = InitContext::new(r#"{"greeting": "howdy"}"#, Logger::stderr("greeter"));
    /// assert_eq!(context.config_json(), r#"{"greeting": "howdy"}"#);
    /// context.logger().info("ready");
    /// ```
    pub fn stderr(plugin: impl Into<String>) -> Self {
        Logger::new(plugin, stderr_sink)
    }

    /// The plugin this logger speaks for.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// Sends one line at `level`.
    pub fn log(&self, level: LogLevel, message: &str) {
        (self.sink)(
            level as u8,
            RStr::from(self.plugin.as_str()),
            RStr::from(message),
        );
    }

    /// Sends one line at `Info`.
    pub fn info(&self, message: &str) {
        self.log(LogLevel::Info, message);
    }

    /// Sends one line at `Warn`.
    pub fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message);
    }
}

/// Writes `[level] message` to stderr (the process transport's log format).
extern "C" fn stderr_sink(level: u8, _plugin: RStr<'_>, message: RStr<'_>) {
    use std::io::Write as _;
    let level = LogLevel::from_u8(level).as_str();
    let _ = writeln!(io::stderr().lock(), "[{level}] {}", message.as_str());
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("plugin", &self.plugin)
            .finish()
    }
}

/// What `init` receives from the host: the plugin's configuration (the
/// manifest's `metadata`, as JSON) and a [`Logger`].
#[derive(Debug)]
pub struct InitContext<'a> {
    config_json: &'a str,
    logger: Logger,
}

impl<'a> InitContext<'a> {
    /// A context with `config_json` and `logger` (hosts and tests build these).
    pub fn new(config_json: &'a str, logger: Logger) -> Self {
        InitContext {
            config_json,
            logger,
        }
    }

    /// The configuration as JSON text (`{}` when the manifest has none).
    pub fn config_json(&self) -> &str {
        self.config_json
    }

    /// The configuration decoded into `T`.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        serde_json::from_str(self.config_json)
            .map_err(|e| PluginError::bad_request(format!("invalid plugin configuration: {e}")))
    }

    /// The host's logger for this plugin.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }
}

/// Where a plugin writes a call's response. The host lends the buffer, so a
/// call allocates nothing when the buffer is already large enough; it
/// implements [`io::Write`] and [`Extend<u8>`] for serializers.
pub struct Response<'a> {
    buffer: Buffer<'a>,
}

enum Buffer<'a> {
    /// A buffer lent across the native ABI.
    Native(&'a mut RVec<u8>),
    /// A plain buffer (process transport, tests).
    Plain(&'a mut Vec<u8>),
}

impl<'a> Response<'a> {
    /// A response written into `buffer` (cleared first).
    pub fn new(buffer: &'a mut Vec<u8>) -> Self {
        buffer.clear();
        Response {
            buffer: Buffer::Plain(buffer),
        }
    }

    pub(crate) fn native(buffer: &'a mut RVec<u8>) -> Self {
        buffer.clear();
        Response {
            buffer: Buffer::Native(buffer),
        }
    }

    /// Appends bytes.
    #[inline]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        match &mut self.buffer {
            Buffer::Native(buffer) => buffer.extend_from_copy_slice(bytes),
            Buffer::Plain(buffer) => buffer.extend_from_slice(bytes),
        }
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        match &self.buffer {
            Buffer::Native(buffer) => buffer.as_slice(),
            Buffer::Plain(buffer) => buffer.as_slice(),
        }
    }
}

impl io::Write for Response<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Extend<u8> for Response<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
        match &mut self.buffer {
            Buffer::Native(buffer) => buffer.extend(bytes),
            Buffer::Plain(buffer) => buffer.extend(bytes),
        }
    }
}

/// So serializers that take their writer by value can borrow a response.
impl Extend<u8> for &mut Response<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
        (**self).extend(bytes);
    }
}

/// State one version of a plugin hands to the next across a hot swap: bytes
/// in a format the plugin names (and versions), so that a successor can
/// refuse a format it does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct State {
    /// The format, such as `kv-store/1`.
    pub format: String,
    /// The state, encoded as the format says.
    pub bytes: Vec<u8>,
}

impl State {
    /// State of `format` made of `bytes`.
    pub fn new(format: impl Into<String>, bytes: Vec<u8>) -> Self {
        State {
            format: format.into(),
            bytes,
        }
    }
}

/// A method a plugin offers, as [`Methods`] registered it: its name and
/// the Rust types of its request and reply (for people and tools; calls
/// go by name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MethodInfo {
    /// The method's name.
    pub name: String,
    /// The request's Rust type, as `std::any::type_name` spells it.
    pub request: String,
    /// The reply's Rust type.
    pub response: String,
}

impl MethodInfo {
    /// A method `name` taking `request` and answering `response`.
    pub fn new(
        name: impl Into<String>,
        request: impl Into<String>,
        response: impl Into<String>,
    ) -> Self {
        MethodInfo {
            name: name.into(),
            request: request.into(),
            response: response.into(),
        }
    }
}

/// A plugin. Implement it once; export it from a `cdylib` with
/// [`export_plugin!`](crate::export_plugin), or serve the same code as a
/// child process with [`serve`](crate::serve).
///
/// # Concurrency
///
/// The host may call `call` and `health` from many threads at once, so a
/// plugin is `Send + Sync` and those methods take `&self`: keep mutable
/// state behind a `Mutex`, `RwLock` or atomics. `init` runs once, before any
/// call, with exclusive access; `shutdown` runs once, after the host has
/// stopped sending calls and every call it sent has returned.
///
/// # Typed plugins
///
/// A plugin whose methods are typed registers them in a [`Methods`] table
/// and returns it from [`methods`](Plugin::methods); then `call` needs no
/// code (the provided one dispatches through the table), and the plugin
/// also answers JSON calls and lists its methods, for hosts that have no
/// Rust types for it (the `plugkit` command line, scripts, gateways).
pub trait Plugin: Send + Sync + Sized + 'static {
    /// Name, version and capabilities; must match the manifest.
    fn info(&self) -> PluginInfo;

    /// Prepares the plugin; no call comes before it succeeds.
    fn init(&mut self, context: &InitContext<'_>) -> Result<(), PluginError> {
        let _ = context;
        Ok(())
    }

    /// The plugin's typed methods, if it registers them in a [`Methods`]
    /// table. The provided [`call`](Plugin::call) dispatches through it,
    /// and the SDK answers JSON calls and method listings from it.
    fn methods(&self) -> Option<&Methods<Self>> {
        None
    }

    /// Answers one call: `request` bytes in, response bytes written to
    /// `response`. The provided implementation dispatches through
    /// [`methods`](Plugin::methods); a plugin with its own byte protocol
    /// overrides it (typed helpers: [`typed`](crate::typed)).
    fn call(
        &self,
        method: &str,
        request: &[u8],
        response: &mut Response<'_>,
    ) -> Result<(), PluginError> {
        match self.methods() {
            Some(methods) => methods.dispatch(self, method, request, response),
            None => Err(PluginError::unknown_method(method)),
        }
    }

    /// Reports the plugin's health.
    fn health(&self) -> Health {
        Health::Healthy
    }

    /// Hands the plugin's state to its successor, during a hot swap (the
    /// model: Erlang/OTP's `code_change`). The host calls it when no call of
    /// this instance runs and none will come any more, so what it returns is
    /// everything the successor needs; `None` hands nothing over. Plugins
    /// that hand state over say so with [`PluginInfo::with_state_format`].
    fn export_state(&self) -> Result<Option<State>, PluginError> {
        Ok(None)
    }

    /// Takes over the state of the version this one replaces, after `init`
    /// and before any call. Refuse a format you do not know with an error
    /// (the host then refuses or rolls back the swap, by its configuration).
    fn import_state(&self, state: State) -> Result<(), PluginError> {
        Err(PluginError::bad_request(format!(
            "this plugin takes over no state (it was handed `{}`)",
            state.format
        )))
    }

    /// Releases what the plugin holds; no call comes after it.
    fn shutdown(&self) {}
}
