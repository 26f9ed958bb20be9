//! What a host tells its subscribers: hot-load events, beside the
//! discovery events that caused them, and the [`LifecycleMonitor`]
//! callbacks.

use std::fmt;

use plugin_discovery::DiscoveryEvent;
use plugin_version::Version;
use serde_json::{Value, json};

/// Something the host did to a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HotLoadEvent {
    /// A version is being loaded (first load, or the new side of a swap).
    Loading {
        /// The plugin.
        plugin: String,
        /// The version being loaded.
        version: Version,
    },
    /// A version is loaded and takes calls.
    Loaded {
        /// The plugin.
        plugin: String,
        /// Its version.
        version: Version,
    },
    /// A version could not be loaded (or failed its health check); for a
    /// swap, see `RolledBack` for what serves instead.
    LoadFailed {
        /// The plugin.
        plugin: String,
        /// The version that failed.
        version: Version,
        /// Why.
        error: String,
    },
    /// A version stops taking calls and drains.
    Unloading {
        /// The plugin.
        plugin: String,
        /// Its version.
        version: Version,
    },
    /// A version is stopped.
    Unloaded {
        /// The plugin.
        plugin: String,
        /// Its version.
        version: Version,
    },
    /// New calls go to `new_version` from now on (sent once they do).
    Updated {
        /// The plugin.
        plugin: String,
        /// The version that served before.
        old_version: Version,
        /// The version that serves now.
        new_version: Version,
    },
    /// A new version failed; `version` keeps (or goes back to) serving.
    RolledBack {
        /// The plugin.
        plugin: String,
        /// The version that serves.
        version: Version,
        /// The version that failed, if it got that far.
        failed_version: Option<Version>,
        /// Why.
        reason: String,
    },
    /// The serving version's process ended unasked; its calls in flight
    /// failed, and it is being restarted (calls made meanwhile wait).
    Crashed {
        /// The plugin.
        plugin: String,
        /// Its version.
        version: Version,
        /// How it ended, and how many calls were in flight.
        error: String,
    },
    /// The serving version runs again after a crash.
    Restarted {
        /// The plugin.
        plugin: String,
        /// Its version.
        version: Version,
        /// Which consecutive restart (from 1).
        attempt: u32,
    },
    /// The serving version failed for good (a panic, or restarts that kept
    /// failing); calls to the plugin are refused.
    Failed {
        /// The plugin.
        plugin: String,
        /// Its version.
        version: Version,
        /// Why.
        error: String,
    },
    /// One endpoint of a remote plugin went away (or stopped serving): its
    /// calls in flight failed, the others carry the calls, and it is
    /// dialled again with backoff.
    EndpointDown {
        /// The plugin.
        plugin: String,
        /// Its version.
        version: Version,
        /// The endpoint (`host:port`).
        endpoint: String,
        /// What happened.
        error: String,
    },
    /// An endpoint of a remote plugin takes calls (again).
    EndpointUp {
        /// The plugin.
        plugin: String,
        /// Its version.
        version: Version,
        /// The endpoint (`host:port`).
        endpoint: String,
    },
    /// A change was refused (by the version policy, or because the
    /// dependencies would break); `version` keeps serving.
    UpdateRefused {
        /// The plugin.
        plugin: String,
        /// The version that keeps serving, if any.
        version: Option<Version>,
        /// The version that was refused, if one was proposed.
        candidate: Option<Version>,
        /// Why.
        reason: String,
    },
}

impl HotLoadEvent {
    /// The event's name in the `plugkit run --json` schema.
    pub fn name(&self) -> &'static str {
        match self {
            HotLoadEvent::Loading { .. } => "plugin_loading",
            HotLoadEvent::Loaded { .. } => "plugin_loaded",
            HotLoadEvent::LoadFailed { .. } => "plugin_load_failed",
            HotLoadEvent::Unloading { .. } => "plugin_unloading",
            HotLoadEvent::Unloaded { .. } => "plugin_unloaded",
            HotLoadEvent::Updated { .. } => "plugin_updated",
            HotLoadEvent::RolledBack { .. } => "plugin_rolled_back",
            HotLoadEvent::UpdateRefused { .. } => "plugin_update_refused",
            HotLoadEvent::Crashed { .. } => "plugin_crashed",
            HotLoadEvent::Restarted { .. } => "plugin_restarted",
            HotLoadEvent::Failed { .. } => "plugin_failed",
            HotLoadEvent::EndpointDown { .. } => "plugin_endpoint_down",
            HotLoadEvent::EndpointUp { .. } => "plugin_endpoint_up",
        }
    }

    /// The plugin the event is about.
    pub fn plugin(&self) -> &str {
        match self {
            HotLoadEvent::Loading { plugin, .. }
            | HotLoadEvent::Loaded { plugin, .. }
            | HotLoadEvent::LoadFailed { plugin, .. }
            | HotLoadEvent::Unloading { plugin, .. }
            | HotLoadEvent::Unloaded { plugin, .. }
            | HotLoadEvent::Updated { plugin, .. }
            | HotLoadEvent::RolledBack { plugin, .. }
            | HotLoadEvent::UpdateRefused { plugin, .. }
            | HotLoadEvent::Crashed { plugin, .. }
            | HotLoadEvent::Restarted { plugin, .. }
            | HotLoadEvent::Failed { plugin, .. }
            | HotLoadEvent::EndpointDown { plugin, .. }
            | HotLoadEvent::EndpointUp { plugin, .. } => plugin,
        }
    }

    /// The event as one JSON object of the `plugkit run --json` schema:
    /// `event`, `stream` (`"hot_load"`), `plugin`, `version`, and
    /// `old_version`, `failed_version`, `candidate`, `error`, `reason`,
    /// `attempt` or `endpoint` where they apply.
    pub fn to_json(&self) -> Value {
        let text = |v: &Version| Value::String(v.to_string());
        let optional = |v: &Option<Version>| v.as_ref().map_or(Value::Null, text);
        let mut object = json!({
            "event": self.name(),
            "stream": "hot_load",
            "plugin": self.plugin(),
        });
        let fields = match self {
            HotLoadEvent::Loading { version, .. }
            | HotLoadEvent::Loaded { version, .. }
            | HotLoadEvent::Unloading { version, .. }
            | HotLoadEvent::Unloaded { version, .. } => json!({"version": text(version)}),
            HotLoadEvent::LoadFailed { version, error, .. }
            | HotLoadEvent::Crashed { version, error, .. }
            | HotLoadEvent::Failed { version, error, .. } => {
                json!({"version": text(version), "error": error})
            }
            HotLoadEvent::Restarted {
                version, attempt, ..
            } => json!({"version": text(version), "attempt": attempt}),
            HotLoadEvent::EndpointDown {
                version,
                endpoint,
                error,
                ..
            } => json!({"version": text(version), "endpoint": endpoint, "error": error}),
            HotLoadEvent::EndpointUp {
                version, endpoint, ..
            } => json!({"version": text(version), "endpoint": endpoint}),
            HotLoadEvent::Updated {
                old_version,
                new_version,
                ..
            } => json!({"version": text(new_version), "old_version": text(old_version)}),
            HotLoadEvent::RolledBack {
                version,
                failed_version,
                reason,
                ..
            } => json!({
                "version": text(version),
                "failed_version": optional(failed_version),
                "reason": reason,
            }),
            HotLoadEvent::UpdateRefused {
                version,
                candidate,
                reason,
                ..
            } => json!({
                "version": optional(version),
                "candidate": optional(candidate),
                "reason": reason,
            }),
        };
        if let (Value::Object(object), Value::Object(fields)) = (&mut object, fields) {
            object.extend(fields);
        }
        object
    }
}

impl fmt::Display for HotLoadEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HotLoadEvent::Loading { plugin, version } => write!(f, "loading {plugin} {version}"),
            HotLoadEvent::Loaded { plugin, version } => write!(f, "loaded {plugin} {version}"),
            HotLoadEvent::LoadFailed {
                plugin,
                version,
                error,
            } => write!(f, "{plugin} {version} failed to load: {error}"),
            HotLoadEvent::Unloading { plugin, version } => {
                write!(f, "unloading {plugin} {version}")
            }
            HotLoadEvent::Unloaded { plugin, version } => write!(f, "unloaded {plugin} {version}"),
            HotLoadEvent::Updated {
                plugin,
                old_version,
                new_version,
            } => write!(f, "{plugin} updated from {old_version} to {new_version}"),
            HotLoadEvent::RolledBack {
                plugin,
                version,
                failed_version,
                reason,
            } => match failed_version {
                Some(failed) => write!(
                    f,
                    "{plugin} {failed} was rolled back, {version} serves: {reason}"
                ),
                None => write!(f, "{plugin} rolled back to {version}: {reason}"),
            },
            HotLoadEvent::UpdateRefused {
                plugin,
                version,
                candidate,
                reason,
            } => {
                write!(f, "update of {plugin}")?;
                if let Some(candidate) = candidate {
                    write!(f, " to {candidate}")?;
                }
                write!(f, " refused: {reason}")?;
                if let Some(version) = version {
                    write!(f, " ({version} keeps serving)")?;
                }
                Ok(())
            }
            HotLoadEvent::Crashed {
                plugin,
                version,
                error,
            } => write!(f, "{plugin} {version} crashed: {error}; restarting"),
            HotLoadEvent::Restarted {
                plugin,
                version,
                attempt,
            } => write!(f, "{plugin} {version} restarted (attempt {attempt})"),
            HotLoadEvent::Failed {
                plugin,
                version,
                error,
            } => write!(f, "{plugin} {version} failed: {error}"),
            HotLoadEvent::EndpointDown {
                plugin,
                version,
                endpoint,
                error,
            } => write!(f, "{plugin} {version} at {endpoint} is down: {error}"),
            HotLoadEvent::EndpointUp {
                plugin,
                version,
                endpoint,
            } => write!(f, "{plugin} {version} at {endpoint} takes calls"),
        }
    }
}

/// Every event of a host, in one stream: what discovery saw and what the
/// host did about it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HostEvent {
    /// A discovery event (plugin discovered, updated, removed, invalid
    /// manifest, ...), as discovery sent it (boxed: it is large, and every
    /// subscriber's buffer holds one slot per event).
    Discovery(Box<DiscoveryEvent>),
    /// A hot-load event.
    HotLoad(HotLoadEvent),
}

/// Callbacks for applications that would rather be called than subscribe.
/// They run on the host's task: keep them short and do not call the host
/// back from them.
pub trait LifecycleMonitor: Send + Sync {
    /// `plugin` `version` takes calls (first load or a swap).
    fn on_loaded(&self, plugin: &str, version: &Version) {
        let _ = (plugin, version);
    }

    /// `plugin` `version` failed to load, to become healthy, or failed
    /// while running.
    fn on_failed(&self, plugin: &str, version: &Version, error: &str) {
        let _ = (plugin, version, error);
    }

    /// `plugin` `version` is stopped.
    fn on_unloaded(&self, plugin: &str, version: &Version) {
        let _ = (plugin, version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_the_run_schema_names_and_fields() {
        let v = |s: &str| Version::parse(s).expect("version");
        let updated = HotLoadEvent::Updated {
            plugin: "greeter".into(),
            old_version: v("1.0.0"),
            new_version: v("2.0.0"),
        };
        assert_eq!(
            updated.to_json(),
            json!({"event": "plugin_updated", "stream": "hot_load", "plugin": "greeter",
                   "version": "2.0.0", "old_version": "1.0.0"})
        );
        let refused = HotLoadEvent::UpdateRefused {
            plugin: "greeter".into(),
            version: Some(v("2.0.0")),
            candidate: Some(v("1.0.0")),
            reason: "downgrades are not allowed".into(),
        };
        assert_eq!(refused.to_json()["event"], "plugin_update_refused");
        assert_eq!(
            refused.to_string(),
            "update of greeter to 1.0.0 refused: downgrades are not allowed (2.0.0 keeps serving)"
        );
        let crashed = HotLoadEvent::Crashed {
            plugin: "greeter".into(),
            version: v("1.0.0"),
            error: "killed by signal 9 (2 calls in flight failed)".into(),
        };
        assert_eq!(
            crashed.to_json(),
            json!({"event": "plugin_crashed", "stream": "hot_load", "plugin": "greeter",
                   "version": "1.0.0", "error": "killed by signal 9 (2 calls in flight failed)"})
        );
        let restarted = HotLoadEvent::Restarted {
            plugin: "greeter".into(),
            version: v("1.0.0"),
            attempt: 1,
        };
        assert_eq!(
            restarted.to_json(),
            json!({"event": "plugin_restarted", "stream": "hot_load", "plugin": "greeter",
                   "version": "1.0.0", "attempt": 1})
        );
        assert_eq!(restarted.to_string(), "greeter 1.0.0 restarted (attempt 1)");
        let failed = HotLoadEvent::Failed {
            plugin: "greeter".into(),
            version: v("1.0.0"),
            error: "panicked in greet".into(),
        };
        assert_eq!(failed.to_json()["event"], "plugin_failed");
        let down = HotLoadEvent::EndpointDown {
            plugin: "greeter".into(),
            version: v("1.0.0"),
            endpoint: "127.0.0.1:7001".into(),
            error: "connection reset (1 calls in flight failed)".into(),
        };
        assert_eq!(
            down.to_json(),
            json!({"event": "plugin_endpoint_down", "stream": "hot_load", "plugin": "greeter",
                   "version": "1.0.0", "endpoint": "127.0.0.1:7001",
                   "error": "connection reset (1 calls in flight failed)"})
        );
        let up = HotLoadEvent::EndpointUp {
            plugin: "greeter".into(),
            version: v("1.0.0"),
            endpoint: "127.0.0.1:7001".into(),
        };
        assert_eq!(
            up.to_string(),
            "greeter 1.0.0 at 127.0.0.1:7001 takes calls"
        );
    }
}
