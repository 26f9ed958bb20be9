//! What a scan finds: [`Discovery`] with its valid plugins, invalid
//! manifests, skipped plugins and errors.

use std::fmt;
use std::path::{Path, PathBuf};

use plugin_manifest::{Diagnostic, Manifest, Transport};
use plugin_version::Version;

use crate::display::{printable, printable_path};
use crate::{DiscoveryError, RequiredField};

/// The result of a scan. Every list is sorted: plugins by name, version and
/// manifest path, the others by path.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Discovery {
    /// The valid plugins that passed every filter. Different versions of one
    /// plugin are all here (choosing is the resolver's job); the same
    /// version found twice is here once (see [`SkipReason::Duplicate`]).
    pub plugins: Vec<DiscoveredPlugin>,
    /// Manifests that failed validation, with every diagnostic.
    pub invalid: Vec<InvalidManifest>,
    /// Plugins (or paths) found but not returned, each with why.
    pub skipped: Vec<SkippedPlugin>,
    /// Paths that could not be read, symlink loops, watcher failures.
    pub errors: Vec<DiscoveryError>,
}

impl Discovery {
    /// The plugin whose manifest is at `manifest_path`, if it is a valid one.
    pub fn plugin_at(&self, manifest_path: &Path) -> Option<&DiscoveredPlugin> {
        self.plugins
            .iter()
            .find(|p| p.manifest_path == manifest_path)
    }

    /// Every version found of the plugin named `name`, oldest first.
    pub fn versions_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a DiscoveredPlugin> {
        self.plugins.iter().filter(move |p| p.name() == name)
    }
}

/// A valid plugin: its manifest and where it is.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DiscoveredPlugin {
    /// The validated manifest.
    pub manifest: Manifest,
    /// The manifest file, spelled from the search directory it was found in.
    pub manifest_path: PathBuf,
    /// The artifact to load for a local transport (`native` library or
    /// `process` executable): the endpoint joined to the manifest's
    /// directory. `None` for gRPC. Discovery does not require the file to
    /// exist yet (a build may still be writing it); watch mode reports it
    /// appearing or changing as [`DiscoveryEvent::Updated`](crate::DiscoveryEvent::Updated).
    pub artifact_path: Option<PathBuf>,
    /// Warnings the manifest raised (unknown fields, ...).
    pub warnings: Vec<Diagnostic>,
    /// For a plugin registered in etcd (see
    /// [`EtcdSource`](crate::EtcdSource)): its live instances, each with
    /// the endpoint it listens on, sorted by instance id; never empty for
    /// such a plugin. Empty for a plugin found in a directory. A change of
    /// this set alone is [`DiscoveryEvent::EndpointsChanged`](crate::DiscoveryEvent::EndpointsChanged).
    pub instances: Vec<RegisteredInstance>,
}

impl DiscoveredPlugin {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.manifest.name()
    }

    /// The plugin's version.
    pub fn version(&self) -> &Version {
        self.manifest.version()
    }

    /// How the plugin is reached.
    pub fn transport(&self) -> Transport {
        self.manifest.transport()
    }

    /// Whether the plugin was registered in etcd (it has instances) rather
    /// than found in a directory.
    pub fn is_registered(&self) -> bool {
        !self.instances.is_empty()
    }

    /// The endpoints (`host:port`) of its registered instances, in
    /// instance-id order: what a gRPC client balances over. Empty for a
    /// plugin found in a directory.
    pub fn endpoints(&self) -> impl Iterator<Item = &str> {
        self.instances.iter().map(|i| i.endpoint.as_str())
    }
}

/// One live instance of a plugin registered in etcd: one record
/// `<prefix>/<name>/<version>/<instance-id>`, bound to a lease.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct RegisteredInstance {
    /// The instance id: the last segment of its key.
    pub id: String,
    /// Where the instance listens (`host:port`): the `endpoint` of its
    /// record's manifest.
    pub endpoint: String,
    /// Its whole key in etcd.
    pub key: String,
}

/// A manifest that failed validation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InvalidManifest {
    /// The manifest file.
    pub path: PathBuf,
    /// Every diagnostic, errors and warnings, in document order.
    pub diagnostics: Vec<Diagnostic>,
}

impl InvalidManifest {
    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

/// A plugin (or a path) discovery found and did not return.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SkippedPlugin {
    /// The manifest file (or the symlink not followed).
    pub path: PathBuf,
    /// The manifest, when it was valid.
    pub manifest: Option<Manifest>,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// Why a plugin was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// It does not list a capability the configuration requires.
    MissingCapability {
        /// The first required capability it lacks.
        capability: String,
    },
    /// Its transport is not among the allowed ones.
    TransportNotAllowed {
        /// Its transport.
        transport: Transport,
    },
    /// It lacks a manifest field the configuration requires.
    MissingField {
        /// The field.
        field: RequiredField,
    },
    /// Its artifact's file name matches none of the artifact patterns.
    ArtifactPattern {
        /// The artifact.
        artifact: PathBuf,
    },
    /// The same name and version was found at another path, which wins:
    /// the one in the earlier search directory, then the one fewer levels
    /// down, then the path that sorts first (component by component).
    Duplicate {
        /// The name and version.
        name: String,
        /// The version.
        version: Version,
        /// The manifest that won.
        winner: PathBuf,
    },
    /// Its directory holds a manifest whose file name comes earlier in
    /// [`DiscoveryConfig::manifest_names`](crate::DiscoveryConfig::manifest_names).
    Shadowed {
        /// The manifest used instead.
        by: PathBuf,
    },
    /// A symbolic link, not followed because
    /// [`DiscoveryConfig::follow_symlinks`](crate::DiscoveryConfig::follow_symlinks)
    /// is off.
    SymlinkNotFollowed,
    /// An etcd record whose key is not `<prefix>/<name>/<version>/<instance-id>`
    /// of the manifest it holds.
    RecordKey {
        /// The key its manifest calls for (`<instance-id>` standing for the
        /// last segment).
        expected: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::MissingCapability { capability } => {
                write!(f, "lacks required capability `{}`", printable(capability))
            }
            SkipReason::TransportNotAllowed { transport } => {
                write!(f, "transport `{transport}` is not allowed")
            }
            SkipReason::MissingField { field } => write!(f, "lacks required field `{field}`"),
            SkipReason::ArtifactPattern { artifact } => write!(
                f,
                "artifact {} matches no artifact pattern",
                printable_path(artifact)
            ),
            SkipReason::Duplicate {
                name,
                version,
                winner,
            } => write!(
                f,
                "duplicate of {} {version}, which is used from {}",
                printable(name),
                printable_path(winner)
            ),
            SkipReason::Shadowed { by } => {
                write!(
                    f,
                    "shadowed by {} in the same directory",
                    printable_path(by)
                )
            }
            SkipReason::SymlinkNotFollowed => {
                f.write_str("symlink not followed (following symlinks is off)")
            }
            SkipReason::RecordKey { expected } => write!(
                f,
                "the key does not match its manifest: expected {}",
                printable(expected)
            ),
        }
    }
}
