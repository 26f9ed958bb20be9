//! Discovery events, the subscription that receives them, and the diff of
//! two discoveries that produces them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;

use plugin_manifest::Diagnostic;
use plugin_version::Version;

use crate::remote::same_but_endpoint;
use crate::select::Selection;
use crate::{DiscoveredPlugin, SkipReason};

/// A change in what the search directories hold.
///
/// Events describe the difference between two states of the directories,
/// per manifest path: a plugin whose manifest moves to another path is
/// `Removed` at the old path and `Discovered` at the new one.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DiscoveryEvent {
    /// A valid plugin appeared (or started to pass the filters, or stopped
    /// being shadowed by a duplicate).
    Discovered {
        /// The plugin.
        plugin: DiscoveredPlugin,
    },
    /// The manifest of a plugin changed (same path, same name), or its
    /// artifact was rebuilt, replaced, created or deleted.
    Updated {
        /// The plugin as it is now.
        plugin: DiscoveredPlugin,
        /// The version it had before (equal to the current one when only
        /// the artifact or another field changed).
        old_version: Version,
    },
    /// The set of instances of a plugin registered in etcd changed (one
    /// more registered, one gone), its manifest otherwise the same: the
    /// same plugin served from other endpoints, for a client to balance
    /// over, not a new version to swap in.
    EndpointsChanged {
        /// The plugin as it is now, with its instances.
        plugin: DiscoveredPlugin,
        /// The endpoints it had before, in instance-id order.
        old_endpoints: Vec<String>,
    },
    /// A plugin is gone: its manifest was deleted or moved away, became
    /// invalid, or the plugin no longer passes the filters; for a plugin
    /// registered in etcd, its last instance is gone (its lease expired or
    /// was revoked).
    Removed {
        /// Its name.
        name: String,
        /// Its version.
        version: Version,
        /// Where its manifest was.
        path: PathBuf,
    },
    /// A manifest is invalid (newly, or with different diagnostics).
    ManifestInvalid {
        /// The manifest file.
        path: PathBuf,
        /// Every diagnostic, errors and warnings.
        diagnostics: Vec<Diagnostic>,
    },
    /// A plugin or path is skipped (newly, or for a different reason).
    Skipped {
        /// The manifest file or symlink.
        path: PathBuf,
        /// Why.
        reason: SkipReason,
    },
    /// Something about discovery itself, such as falling back to polling.
    Warning {
        /// What happened, in words.
        message: String,
    },
}

/// The JSON form of an event: one object, the discovery half of the
/// `plugkit run --json` event schema, which `plugkit watch --json` prints
/// one per line.
///
/// Every object has `event` (its name), `stream` (always `"discovery"`),
/// `plugin` and `version` (`null` where unknown, as for a manifest that does
/// not parse), and, where they apply, `path` (the manifest file or the
/// skipped path; for etcd, `<prefix>/<name>/<version>` for a plugin and the
/// record's key for a record), `old_version`, `endpoints` and
/// `old_endpoints` (a registered plugin's instances' `host:port`, in
/// instance-id order), `error` (the errors in one line) and
/// `diagnostics` (each with `severity`, `kind`, `path`, `message`, and
/// `line`/`column` when known), `reason`, `message`:
///
/// ```text
/// {"event":"plugin_discovered","stream":"discovery","plugin":"greeter","version":"1.0.0","path":"p/greeter/plugin-manifest.json"}
/// {"event":"plugin_updated","stream":"discovery","plugin":"greeter","version":"1.1.0","old_version":"1.0.0","path":"..."}
/// {"event":"plugin_endpoints_changed","stream":"discovery","plugin":"greeter","version":"1.1.0","path":"/plugkit/plugins/greeter/1.1.0","endpoints":["127.0.0.1:7001","127.0.0.1:7002"],"old_endpoints":["127.0.0.1:7001"]}
/// {"event":"plugin_removed","stream":"discovery","plugin":"greeter","version":"1.1.0","path":"..."}
/// {"event":"manifest_invalid","stream":"discovery","plugin":null,"version":null,"path":"...","error":"version: ...","diagnostics":[...]}
/// {"event":"plugin_skipped","stream":"discovery","plugin":null,"version":null,"path":"...","reason":"shadowed by ..."}
/// {"event":"warning","stream":"discovery","plugin":null,"version":null,"message":"..."}
/// ```
///
/// `plugin_discovered`, `plugin_updated`, `plugin_removed` and
/// `manifest_invalid` are the guide's names; `plugin_endpoints_changed`,
/// `plugin_skipped` and `warning` are discovery's own. Paths that are not UTF-8 are written lossily
/// (U+FFFD).
impl serde::Serialize for DiscoveryEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        EventJson::of(self).serialize(serializer)
    }
}

/// The fields of [`DiscoveryEvent`]'s JSON form, in their order.
#[derive(serde::Serialize)]
struct EventJson<'a> {
    event: &'static str,
    stream: &'static str,
    plugin: Option<&'a str>,
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoints: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_endpoints: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnostics: Option<&'a [Diagnostic]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

impl<'a> EventJson<'a> {
    fn new(event: &'static str) -> Self {
        EventJson {
            event,
            stream: "discovery",
            plugin: None,
            version: None,
            old_version: None,
            path: None,
            endpoints: None,
            old_endpoints: None,
            error: None,
            diagnostics: None,
            reason: None,
            message: None,
        }
    }

    fn of(event: &'a DiscoveryEvent) -> Self {
        match event {
            DiscoveryEvent::Discovered { plugin } => EventJson {
                plugin: Some(plugin.name()),
                version: Some(plugin.version().to_string()),
                path: Some(plugin.manifest_path.to_string_lossy()),
                endpoints: endpoints(plugin),
                ..EventJson::new("plugin_discovered")
            },
            DiscoveryEvent::EndpointsChanged {
                plugin,
                old_endpoints,
            } => EventJson {
                plugin: Some(plugin.name()),
                version: Some(plugin.version().to_string()),
                path: Some(plugin.manifest_path.to_string_lossy()),
                endpoints: Some(plugin.endpoints().collect()),
                old_endpoints: Some(old_endpoints),
                ..EventJson::new("plugin_endpoints_changed")
            },
            DiscoveryEvent::Updated {
                plugin,
                old_version,
            } => EventJson {
                plugin: Some(plugin.name()),
                version: Some(plugin.version().to_string()),
                old_version: Some(old_version.to_string()),
                path: Some(plugin.manifest_path.to_string_lossy()),
                endpoints: endpoints(plugin),
                ..EventJson::new("plugin_updated")
            },
            DiscoveryEvent::Removed {
                name,
                version,
                path,
            } => EventJson {
                plugin: Some(name),
                version: Some(version.to_string()),
                path: Some(path.to_string_lossy()),
                ..EventJson::new("plugin_removed")
            },
            DiscoveryEvent::ManifestInvalid { path, diagnostics } => {
                let errors: Vec<String> = diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| match d.path.as_str() {
                        "" => d.message.clone(),
                        field => format!("{field}: {}", d.message),
                    })
                    .collect();
                EventJson {
                    path: Some(path.to_string_lossy()),
                    error: Some(errors.join("; ")),
                    diagnostics: Some(diagnostics),
                    ..EventJson::new("manifest_invalid")
                }
            }
            DiscoveryEvent::Skipped { path, reason } => {
                let (plugin, version) = match reason {
                    SkipReason::Duplicate { name, version, .. } => {
                        (Some(name.as_str()), Some(version.to_string()))
                    }
                    _ => (None, None),
                };
                EventJson {
                    plugin,
                    version,
                    path: Some(path.to_string_lossy()),
                    reason: Some(reason.to_string()),
                    ..EventJson::new("plugin_skipped")
                }
            }
            DiscoveryEvent::Warning { message } => EventJson {
                message: Some(message),
                ..EventJson::new("warning")
            },
        }
    }
}

/// A registered plugin's endpoints, for its JSON form (`None`: found in a
/// directory).
fn endpoints(plugin: &DiscoveredPlugin) -> Option<Vec<&str>> {
    plugin.is_registered().then(|| plugin.endpoints().collect())
}

/// The events that turn `old` into `new`: removals first (so a name is
/// free before it comes back), then updates, discoveries, invalid
/// manifests and skips, each group in path order.
pub(crate) fn diff(old: &Selection, new: &Selection) -> Vec<DiscoveryEvent> {
    let mut events = Vec::new();
    let old_plugins: HashMap<&PathBuf, &DiscoveredPlugin> = old
        .discovery
        .plugins
        .iter()
        .map(|p| (&p.manifest_path, p))
        .collect();
    let new_plugins: HashMap<&PathBuf, &DiscoveredPlugin> = new
        .discovery
        .plugins
        .iter()
        .map(|p| (&p.manifest_path, p))
        .collect();

    let mut removed: Vec<&DiscoveredPlugin> = old_plugins
        .iter()
        .filter(|(path, plugin)| {
            new_plugins
                .get(*path)
                .is_none_or(|now| now.name() != plugin.name())
        })
        .map(|(_, plugin)| *plugin)
        .collect();
    removed.sort_by(|a, b| a.manifest_path.cmp(&b.manifest_path));
    events.extend(removed.into_iter().map(|p| DiscoveryEvent::Removed {
        name: p.name().to_string(),
        version: p.version().clone(),
        path: p.manifest_path.clone(),
    }));

    let mut updated = Vec::new();
    let mut discovered = Vec::new();
    for plugin in &new.discovery.plugins {
        let path = &plugin.manifest_path;
        match old_plugins.get(path) {
            Some(before) if before.name() == plugin.name() => {
                // A registered plugin's manifest is its earliest instance's:
                // its endpoint changes with the instances, which is no update.
                let manifest_changed = if plugin.is_registered() && before.is_registered() {
                    !same_but_endpoint(&before.manifest, &plugin.manifest)
                } else {
                    before.manifest != plugin.manifest
                };
                let changed = manifest_changed
                    || before.artifact_path != plugin.artifact_path
                    || before.is_registered() != plugin.is_registered()
                    || old.artifacts.get(path) != new.artifacts.get(path);
                if changed {
                    updated.push(DiscoveryEvent::Updated {
                        plugin: plugin.clone(),
                        old_version: before.version().clone(),
                    });
                } else if before.instances != plugin.instances {
                    let old_endpoints: Vec<String> =
                        before.endpoints().map(str::to_string).collect();
                    if old_endpoints
                        .iter()
                        .map(String::as_str)
                        .ne(plugin.endpoints())
                    {
                        updated.push(DiscoveryEvent::EndpointsChanged {
                            plugin: plugin.clone(),
                            old_endpoints,
                        });
                    }
                }
            }
            _ => discovered.push(plugin),
        }
    }
    updated.sort_by(|a, b| event_path(a).cmp(event_path(b)));
    discovered.sort_by(|a, b| a.manifest_path.cmp(&b.manifest_path));
    events.extend(updated);
    events.extend(
        discovered
            .into_iter()
            .map(|plugin| DiscoveryEvent::Discovered {
                plugin: plugin.clone(),
            }),
    );

    let old_invalid: HashMap<&PathBuf, &Vec<Diagnostic>> = old
        .discovery
        .invalid
        .iter()
        .map(|i| (&i.path, &i.diagnostics))
        .collect();
    for invalid in &new.discovery.invalid {
        if old_invalid.get(&invalid.path) != Some(&&invalid.diagnostics) {
            events.push(DiscoveryEvent::ManifestInvalid {
                path: invalid.path.clone(),
                diagnostics: invalid.diagnostics.clone(),
            });
        }
    }

    let old_skipped: HashMap<&PathBuf, &SkipReason> = old
        .discovery
        .skipped
        .iter()
        .map(|s| (&s.path, &s.reason))
        .collect();
    for skipped in &new.discovery.skipped {
        if old_skipped.get(&skipped.path) != Some(&&skipped.reason) {
            events.push(DiscoveryEvent::Skipped {
                path: skipped.path.clone(),
                reason: skipped.reason.clone(),
            });
        }
    }
    events
}

fn event_path(event: &DiscoveryEvent) -> &std::path::Path {
    match event {
        DiscoveryEvent::Discovered { plugin }
        | DiscoveryEvent::Updated { plugin, .. }
        | DiscoveryEvent::EndpointsChanged { plugin, .. } => &plugin.manifest_path,
        DiscoveryEvent::Removed { path, .. }
        | DiscoveryEvent::ManifestInvalid { path, .. }
        | DiscoveryEvent::Skipped { path, .. } => path,
        DiscoveryEvent::Warning { .. } => std::path::Path::new(""),
    }
}

/// One subscriber's view of the discovery events, from
/// [`DiscoveryEngine::subscribe`](crate::DiscoveryEngine::subscribe): the
/// workspace's one event stream type, [`plugin_events::Subscription`].
///
/// Each subscription has its own buffer of
/// [`DiscoveryConfig::event_capacity`](crate::DiscoveryConfig::event_capacity)
/// events. Discovery never waits for a subscriber: one that falls behind
/// loses the oldest events and learns how many through
/// [`RecvError::Lagged`](crate::RecvError::Lagged).
pub type Subscription = plugin_events::Subscription<DiscoveryEvent>;
