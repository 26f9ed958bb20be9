//! Discovery events, the subscription that receives them, and the diff of
//! two discoveries that produces them.

use std::collections::HashMap;
use std::path::PathBuf;

use plugin_manifest::Diagnostic;
use plugin_version::Version;

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
    /// A plugin is gone: its manifest was deleted or moved away, became
    /// invalid, or the plugin no longer passes the filters.
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
                let changed = before.manifest != plugin.manifest
                    || before.artifact_path != plugin.artifact_path
                    || old.artifacts.get(path) != new.artifacts.get(path);
                if changed {
                    updated.push(DiscoveryEvent::Updated {
                        plugin: plugin.clone(),
                        old_version: before.version().clone(),
                    });
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
        DiscoveryEvent::Discovered { plugin } | DiscoveryEvent::Updated { plugin, .. } => {
            &plugin.manifest_path
        }
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
