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
    #[error("{}", unavailable(plugin, state, reason.as_deref()))]
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

/// "plugin greeter is not loaded", "plugin greeter failed: why" (a reason
/// that names the plugin again is not made to say it twice).
fn unavailable(plugin: &str, state: &str, reason: Option<&str>) -> String {
    let mut text = match state {
        "failed" => format!("plugin {plugin} failed"),
        state => format!("plugin {plugin} is {state}"),
    };
    if let Some(reason) = reason {
        let reason = reason
            .strip_prefix(&format!("plugin {plugin}: "))
            .unwrap_or(reason);
        text.push_str(": ");
        text.push_str(reason);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_plugins_are_named_once_in_plain_words() {
        let error = |state, reason: Option<&str>| HostCallError::Unavailable {
            plugin: "greeter".into(),
            state,
            reason: reason.map(String::from),
        };
        assert_eq!(
            error("not loaded", None).to_string(),
            "plugin greeter is not loaded"
        );
        assert_eq!(
            error("failed", Some("plugin greeter: init failed: boom")).to_string(),
            "plugin greeter failed: init failed: boom"
        );
        assert_eq!(
            error("being unloaded", Some("its directory is gone")).to_string(),
            "plugin greeter is being unloaded: its directory is gone"
        );
    }
}
