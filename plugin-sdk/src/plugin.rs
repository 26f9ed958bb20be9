//! The [`Plugin`] trait every plugin implements, whatever its transport,
//! and the values that cross it.

use std::fmt;
use std::io;

use abi_stable::std_types::{RStr, RVec};
use plugin_version::Version;
use serde::de::DeserializeOwned;

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
}

impl PluginInfo {
    /// Info for `name` at `version`, with no capabilities.
    pub fn new(name: impl Into<String>, version: Version) -> Self {
        PluginInfo {
            name: name.into(),
            version,
            capabilities: Vec::new(),
        }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
}

/// An error a plugin returns (or the SDK returns on its behalf).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Working normally.
    Healthy,
    /// Working, with a problem worth reporting.
    Degraded(String),
    /// Not able to serve; the host may restart or roll it back.
    Unhealthy(String),
}

/// Severity of a log line a plugin sends to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
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
    pub(crate) fn new(plugin: String, sink: LogSink) -> Self {
        Logger { plugin, sink }
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
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        match &mut self.buffer {
            Buffer::Native(buffer) => buffer.extend_from_slice(bytes),
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
/// stopped sending calls.
pub trait Plugin: Send + Sync + 'static {
    /// Name, version and capabilities; must match the manifest.
    fn info(&self) -> PluginInfo;

    /// Prepares the plugin; no call comes before it succeeds.
    fn init(&mut self, context: &InitContext<'_>) -> Result<(), PluginError> {
        let _ = context;
        Ok(())
    }

    /// Answers one call: `request` bytes in, response bytes written to
    /// `response`. Typed plugins dispatch with [`Methods`](crate::Methods)
    /// or [`typed`](crate::typed).
    fn call(
        &self,
        method: &str,
        request: &[u8],
        response: &mut Response<'_>,
    ) -> Result<(), PluginError>;

    /// Reports the plugin's health.
    fn health(&self) -> Health {
        Health::Healthy
    }

    /// Releases what the plugin holds; no call comes after it.
    fn shutdown(&self) {}
}
