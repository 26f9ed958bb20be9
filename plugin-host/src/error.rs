//! The host's errors: for operations, and for calls.

use plugin_loader::CallError;

/// Why a host operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The discovery configuration is invalid (a bad glob, say).
    #[error(transparent)]
    Discovery(#[from] plugin_discovery::ConfigError),
    /// The discovery engine could not start watching.
    #[error("cannot start watching the plugin directories: {0}")]
    Watch(#[from] plugin_discovery::StartError),
    /// `start` was called twice.
    #[error("the host was started already")]
    AlreadyStarted,
    /// The operation needs a started host.
    #[error("the host is not started (call start first)")]
    NotStarted,
    /// The host is shutting down or shut down.
    #[error("the host is shut down")]
    ShutDown,
    /// No discovered plugin has this name.
    #[error("no plugin named {plugin} was discovered")]
    UnknownPlugin {
        /// The name asked for.
        plugin: String,
    },
    /// `rollback` found no earlier version to go back to.
    #[error("plugin {plugin} has no earlier version to roll back to")]
    NoRollbackTarget {
        /// The plugin.
        plugin: String,
    },
    /// The change was refused or failed; the reason is also sent as an
    /// event (`UpdateRefused`, `LoadFailed` or `RolledBack`).
    #[error("plugin {plugin}: {reason}")]
    Refused {
        /// The plugin.
        plugin: String,
        /// Why.
        reason: String,
    },
}

/// Why a call through the host failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostCallError {
    /// No version of the plugin takes calls: it is not loaded, failed, or
    /// is being removed.
    #[error("plugin {plugin} is {state}{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Unavailable {
        /// The plugin.
        plugin: String,
        /// `not loaded`, `failed`, `unloading`, ...
        state: &'static str,
        /// Why, when known (the load error, say).
        reason: Option<String>,
    },
    /// The plugin's instance answered with an error (or the call timed out,
    /// or its process crashed).
    #[error(transparent)]
    Call(#[from] CallError),
}
