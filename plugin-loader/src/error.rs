//! Typed errors of loading and calling plugins. Every message names the
//! plugin and, for load errors, the file.

use std::fmt::Write as _;
use std::path::PathBuf;

use plugin_manifest::Transport;
use plugkit_sdk::PluginError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::instance::{CrashCause, FailureCause};

/// Why a plugin could not be loaded. Each failure mode a host can meet has
/// its own variant, so hosts and tests can tell them apart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The manifest's transport is not one this loader can run yet.
    #[error(
        "plugin {plugin}: transport `{transport}` is not supported by this loader (it runs `native`, `process` and `grpc` plugins)"
    )]
    UnsupportedTransport {
        /// The plugin.
        plugin: String,
        /// Its transport.
        transport: Transport,
    },
    /// The manifest names no local artifact (no endpoint).
    #[error("plugin {plugin}: its manifest names no artifact (endpoint) to load")]
    NoArtifact {
        /// The plugin.
        plugin: String,
    },
    /// The artifact could not be read (missing file, permissions).
    #[error("plugin {plugin}: cannot read {path}: {source}")]
    ReadArtifact {
        /// The plugin.
        plugin: String,
        /// The artifact.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The artifact is not a regular file (a directory, a device, a FIFO).
    #[error("plugin {plugin}: {path} is not a regular file ({kind})")]
    NotAFile {
        /// The plugin.
        plugin: String,
        /// The artifact.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// The artifact is larger than the loader accepts.
    #[error("plugin {plugin}: {path} is {size} bytes, more than the limit of {limit} bytes")]
    ArtifactTooLarge {
        /// The plugin.
        plugin: String,
        /// The artifact.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit ([`LoaderConfig::max_artifact_size`](crate::LoaderConfig::max_artifact_size)).
        limit: u64,
    },
    /// The artifact's SHA-256 differs from the manifest's checksum; nothing
    /// of it was loaded or run.
    #[error(
        "plugin {plugin}: checksum mismatch for {path}: the manifest says {expected}, the file is {actual}"
    )]
    ChecksumMismatch {
        /// The plugin.
        plugin: String,
        /// The artifact.
        path: PathBuf,
        /// The manifest's checksum.
        expected: String,
        /// The file's checksum.
        actual: String,
    },
    /// The artifact could not be copied into the loader's cache directory.
    #[error("plugin {plugin}: cannot copy {path} into the cache directory {cache}: {reason}")]
    Cache {
        /// The plugin.
        plugin: String,
        /// The artifact.
        path: PathBuf,
        /// The cache directory.
        cache: PathBuf,
        /// What went wrong, in words.
        reason: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not a loadable shared library (truncated, not ELF, wrong
    /// architecture).
    #[error("plugin {plugin}: {path} is not a loadable library: {reason}")]
    NotALibrary {
        /// The plugin.
        plugin: String,
        /// The artifact.
        path: PathBuf,
        /// What the dynamic loader said.
        reason: String,
    },
    /// The file is a shared library but exports no plugkit plugin.
    #[error(
        "plugin {plugin}: {path} is a library but not a plugkit plugin (it exports no plugin root module)"
    )]
    NotAPlugin {
        /// The plugin.
        plugin: String,
        /// The artifact.
        path: PathBuf,
    },
    /// The library was built against a plugkit-sdk this host cannot use.
    #[error(
        "plugin {plugin}: {path} was built against plugkit-sdk {found}, which is incompatible with this host's {expected}; rebuild the plugin"
    )]
    IncompatibleSdk {
        /// The plugin.
        plugin: String,
        /// The artifact.
        path: PathBuf,
        /// The host's SDK version.
        expected: String,
        /// The library's SDK version.
        found: String,
    },
    /// The library's plugin interface has another layout than this host's
    /// (built against a modified or incompatible SDK, or a foreign root module).
    #[error(
        "plugin {plugin}: {path} has an incompatible plugin ABI ({summary}); rebuild it against this plugkit-sdk"
    )]
    IncompatibleAbi {
        /// The plugin.
        plugin: String,
        /// The artifact.
        path: PathBuf,
        /// The first line of abi_stable's report.
        summary: String,
        /// abi_stable's full (multi-line) report.
        details: String,
    },
    /// The plugin says it is another plugin or version than its manifest.
    #[error("plugin {plugin}: {path} says it is {found}, but its manifest says {expected}")]
    IdentityMismatch {
        /// The plugin.
        plugin: String,
        /// The artifact.
        path: PathBuf,
        /// `name version` from the manifest.
        expected: String,
        /// `name version` from the plugin.
        found: String,
    },
    /// The plugin encodes typed calls in a way this host does not speak.
    #[error("plugin {plugin}: it encodes calls as `{found}`, this host speaks `{expected}`")]
    Encoding {
        /// The plugin.
        plugin: String,
        /// The host's encoding.
        expected: String,
        /// The plugin's encoding.
        found: String,
    },
    /// A process plugin's executable could not be started.
    #[error("plugin {plugin}: cannot start {program}: {source}")]
    Spawn {
        /// The plugin.
        plugin: String,
        /// The executable (the verified copy in the cache).
        program: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// A process plugin's child did not complete the handshake: it printed
    /// something else, stayed silent past the timeout, exited, or speaks
    /// another protocol version. The child was killed and reaped.
    #[error("plugin {plugin}: handshake failed: {reason}{}", stderr_tail(stderr))]
    Handshake {
        /// The plugin.
        plugin: String,
        /// What went wrong.
        reason: String,
        /// The last lines the child wrote to stderr.
        stderr: Vec<String>,
    },
    /// `info` or `init` failed (or panicked) inside the plugin.
    #[error("plugin {plugin}: {stage} failed: {error}{}", stderr_tail(stderr))]
    Init {
        /// The plugin.
        plugin: String,
        /// `info` or `init`.
        stage: &'static str,
        /// The plugin's error.
        error: PluginError,
        /// The last lines a process plugin wrote to stderr.
        stderr: Vec<String>,
    },
    /// The platform lacks what the manifest asks for (resource limits and
    /// the parent-death signal are Linux-only).
    #[error("plugin {plugin}: {what} is not supported on this platform")]
    Unsupported {
        /// The plugin.
        plugin: String,
        /// What is missing.
        what: &'static str,
    },
    /// A remote (gRPC) plugin was given no endpoint.
    #[error("plugin {plugin}: no endpoint to load it from")]
    NoEndpoints {
        /// The plugin.
        plugin: String,
    },
    /// No endpoint of a remote (gRPC) plugin could be used: each one's
    /// reason, in the order given (invalid or plaintext endpoints are
    /// refused before any is dialled).
    #[error(
        "plugin {plugin}: no endpoint could be used: {}",
        endpoint_list(errors)
    )]
    Remote {
        /// The plugin.
        plugin: String,
        /// Why each endpoint failed.
        errors: Vec<crate::grpc::EndpointError>,
    },
    /// Process plugins need a tokio runtime with IO and time enabled.
    #[error("plugin {plugin}: process plugins are loaded from inside a tokio runtime")]
    NoRuntime {
        /// The plugin.
        plugin: String,
    },
}

fn endpoint_list(errors: &[crate::grpc::EndpointError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `; its stderr ended with: ...` when a child wrote anything. Control
/// characters (a terminal escape sequence, say) are shown escaped, so a
/// child's output cannot drive the terminal that shows the error; the rest,
/// quotes and non-ASCII text included, as the child wrote it.
fn stderr_tail(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut tail = String::from("; its stderr ended with:");
    for line in lines {
        tail.push_str("\n  | ");
        for c in line.chars() {
            if c.is_control() {
                let _ = write!(tail, "{}", c.escape_default());
            } else {
                tail.push(c);
            }
        }
    }
    tail
}

/// Why a call to a loaded plugin failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The plugin returned an error (or panicked, which the SDK turned into
    /// one, and which fails the instance).
    #[error("plugin {plugin}: {method}: {error}")]
    Plugin {
        /// The plugin.
        plugin: String,
        /// The method called.
        method: String,
        /// The plugin's error.
        error: PluginError,
    },
    /// The instance failed for good and takes no calls; the host must
    /// reload it (or roll back).
    #[error("plugin {plugin}: {method}: refused, the plugin failed ({cause})")]
    Failed {
        /// The plugin.
        plugin: String,
        /// The method refused.
        method: String,
        /// Why it failed.
        cause: FailureCause,
    },
    /// The instance is shutting down or shut down and takes no new calls.
    /// The call never reached the plugin, so it is safe to send again (to
    /// the instance that replaced this one, say).
    #[error("plugin {plugin}: {method}: refused, the plugin is {state}")]
    Stopped {
        /// The plugin.
        plugin: String,
        /// The method refused.
        method: String,
        /// `draining` or `stopped`.
        state: &'static str,
    },
    /// A shutdown stopped the plugin while the call was still in flight,
    /// after the grace period: the call may or may not have taken effect.
    #[error(
        "plugin {plugin}: {method}: the plugin was stopped while the call was in flight (the shutdown's grace period had passed)"
    )]
    Abandoned {
        /// The plugin.
        plugin: String,
        /// The method called.
        method: String,
    },
    /// A process plugin's child ended while the call was in flight.
    #[error(
        "plugin {plugin}: {method}: the plugin process ended while the call was in flight: {cause}"
    )]
    Crashed {
        /// The plugin.
        plugin: String,
        /// The method called.
        method: String,
        /// How the child ended.
        cause: CrashCause,
    },
    /// No answer within the call's timeout (also: no child came back from
    /// a restart in time); the connection goes on.
    #[error("plugin {plugin}: {method}: no answer within {} ms", after.as_millis())]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The method called.
        method: String,
        /// The timeout.
        after: std::time::Duration,
    },
    /// A remote plugin's connection broke while the call was in flight:
    /// it may or may not have run.
    #[error(
        "plugin {plugin}: {method}: the connection to {endpoint} broke while the call was in flight (it may or may not have run): {reason}"
    )]
    Disconnected {
        /// The plugin.
        plugin: String,
        /// The method called.
        method: String,
        /// The endpoint the call went to.
        endpoint: String,
        /// What broke.
        reason: String,
    },
    /// No endpoint of a remote plugin was in rotation before the call's
    /// deadline; the call was never sent.
    #[error("plugin {plugin}: {method}: no endpoint took calls within {} ms: {reason}", after.as_millis())]
    Unavailable {
        /// The plugin.
        plugin: String,
        /// The method called.
        method: String,
        /// How long the call waited.
        after: std::time::Duration,
        /// Why each endpoint is out of rotation.
        reason: String,
    },
    /// A remote plugin's server refused the call (a gRPC status that is no
    /// transport failure: unimplemented, message too large, ...).
    #[error("plugin {plugin}: {method}: the server at {endpoint} refused the call: {message}")]
    Remote {
        /// The plugin.
        plugin: String,
        /// The method called.
        method: String,
        /// The endpoint.
        endpoint: String,
        /// The status, in words.
        message: String,
    },
    /// A request could not be encoded or a reply decoded.
    #[error("plugin {plugin}: {method}: {message}")]
    Codec {
        /// The plugin.
        plugin: String,
        /// The method called.
        method: String,
        /// What went wrong.
        message: String,
    },
}

fn codec(plugin: &str, method: &str, message: String) -> CallError {
    CallError::Codec {
        plugin: plugin.to_string(),
        method: method.to_string(),
        message,
    }
}

/// Encodes a typed request in the SDK's encoding.
pub(crate) fn encode_request<T: Serialize>(
    plugin: &str,
    method: &str,
    request: &T,
) -> Result<Vec<u8>, CallError> {
    let mut out = Vec::new();
    encode_request_into(plugin, method, request, &mut out)?;
    Ok(out)
}

/// Encodes a typed request in the SDK's encoding into `out` (replacing
/// what it held; its allocation is reused).
pub(crate) fn encode_request_into<T: Serialize>(
    plugin: &str,
    method: &str,
    request: &T,
    out: &mut Vec<u8>,
) -> Result<(), CallError> {
    plugkit_sdk::encode_into(request, &mut plugkit_sdk::Response::new(out))
        .map_err(|e| codec(plugin, method, e.message().to_string()))
}

/// Decodes a typed reply in the SDK's encoding.
pub(crate) fn decode_reply<T: DeserializeOwned>(
    plugin: &str,
    method: &str,
    bytes: &[u8],
) -> Result<T, CallError> {
    postcard::from_bytes(bytes)
        .map_err(|e| codec(plugin, method, format!("cannot decode the reply: {e}")))
}

/// Encodes a JSON request.
pub(crate) fn encode_json(
    plugin: &str,
    method: &str,
    request: &serde_json::Value,
) -> Result<Vec<u8>, CallError> {
    serde_json::to_vec(request).map_err(|e| {
        codec(
            plugin,
            method,
            format!("cannot encode the JSON request: {e}"),
        )
    })
}

/// Decodes a JSON reply.
pub(crate) fn decode_json(
    plugin: &str,
    method: &str,
    bytes: &[u8],
) -> Result<serde_json::Value, CallError> {
    serde_json::from_slice(bytes)
        .map_err(|e| codec(plugin, method, format!("cannot decode the JSON reply: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_childs_stderr_is_shown_as_written_but_for_control_characters() {
        let lines = [
            "it said \"héllo\" and 'bye'".to_string(),
            "\u{1b}[2Jcleared\tthe screen".to_string(),
        ];
        assert_eq!(
            super::stderr_tail(&lines),
            "; its stderr ended with:\n  | it said \"héllo\" and 'bye'\n  | \\u{1b}[2Jcleared\\tthe screen"
        );
        assert_eq!(super::stderr_tail(&[]), "");
    }
}
