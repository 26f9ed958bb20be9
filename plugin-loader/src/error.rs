//! Typed errors of loading and calling plugins. Every message names the
//! plugin and, for load errors, the file.

use std::path::PathBuf;

use plugkit_sdk::PluginError;

/// Why a plugin could not be loaded. Each failure mode a host can meet has
/// its own variant, so hosts and tests can tell them apart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The manifest's transport is not the one this loader handles.
    #[error("plugin {plugin}: transport `{transport}` is not loaded by the native loader")]
    WrongTransport {
        /// The plugin.
        plugin: String,
        /// Its transport.
        transport: String,
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
    /// The artifact's SHA-256 differs from the manifest's checksum; nothing
    /// of it was loaded.
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
    #[error("plugin {plugin}: cannot copy {path} into the cache {cache}: {source}")]
    Cache {
        /// The plugin.
        plugin: String,
        /// The artifact.
        path: PathBuf,
        /// The cache directory.
        cache: PathBuf,
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
    /// The library says it is another plugin or version than its manifest.
    #[error("plugin {plugin}: {path} says it is {found}, but its manifest says {expected}")]
    IdentityMismatch {
        /// The plugin.
        plugin: String,
        /// The artifact.
        path: PathBuf,
        /// `name version` from the manifest.
        expected: String,
        /// `name version` from the library.
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
    /// A process plugin's child did not complete the handshake: it printed
    /// something else, stayed silent past the timeout, exited, or speaks
    /// another protocol version. The child was killed and reaped.
    #[error("plugin {plugin}: handshake failed: {reason}")]
    Handshake {
        /// The plugin.
        plugin: String,
        /// What went wrong.
        reason: String,
    },
    /// `info` or `init` failed (or panicked) inside the plugin.
    #[error("plugin {plugin}: {stage} failed: {error}")]
    Init {
        /// The plugin.
        plugin: String,
        /// `info` or `init`.
        stage: &'static str,
        /// The plugin's error.
        error: PluginError,
    },
}

/// Why a call to a loaded plugin failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The plugin returned an error (or panicked, which the SDK turned into one).
    #[error("plugin {plugin}: {method}: {error}")]
    Plugin {
        /// The plugin.
        plugin: String,
        /// The method called.
        method: String,
        /// The plugin's error.
        error: PluginError,
    },
    /// The plugin panicked earlier and is marked failed; the host must
    /// reload it (or roll back) before calling it again.
    #[error("plugin {plugin} is marked failed after a panic; call to {method} refused")]
    Failed {
        /// The plugin.
        plugin: String,
        /// The method refused.
        method: String,
    },
    /// A process plugin's child ended (exit, crash, protocol error) while the
    /// call was in flight, or before it was sent.
    #[error("plugin {plugin}: {method}: the plugin process ended: {reason}")]
    Crashed {
        /// The plugin.
        plugin: String,
        /// The method called.
        method: String,
        /// How the child ended.
        reason: String,
    },
    /// No answer within the call's timeout; the connection goes on.
    #[error("plugin {plugin}: {method}: no answer within {} ms", after.as_millis())]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The method called.
        method: String,
        /// The timeout.
        after: std::time::Duration,
    },
    /// The plugin has no running child (restarting, failed or stopped).
    #[error("plugin {plugin}: {method}: the plugin is {state}, not running")]
    Unavailable {
        /// The plugin.
        plugin: String,
        /// The method refused.
        method: String,
        /// Its state.
        state: String,
    },
    /// A typed request could not be encoded or a reply decoded.
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
