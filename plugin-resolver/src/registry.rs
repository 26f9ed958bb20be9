//! The [`Registry`] of candidate plugins: every version of every plugin the
//! resolver may choose, each with its required and optional dependencies.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use plugin_manifest::Manifest;
use plugin_version::{Constraint, Version};

/// One dependency of a candidate: a plugin name and the versions it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    name: Arc<str>,
    constraint: Constraint,
}

impl Requirement {
    /// A dependency on `name` at a version matching `constraint`.
    pub fn new(name: impl Into<Arc<str>>, constraint: Constraint) -> Self {
        Requirement {
            name: name.into(),
            constraint,
        }
    }

    /// A dependency on any (non-pre-release) version of `name`.
    pub fn any(name: impl Into<Arc<str>>) -> Self {
        Requirement::new(name, Constraint::any())
    }

    /// The plugin depended on.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The versions accepted.
    pub fn constraint(&self) -> &Constraint {
        &self.constraint
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.constraint)
    }
}

/// An opaque key a caller attaches to a [`Candidate`], carried unchanged
/// into the [`Resolution`](crate::Resolution) that chooses it
/// ([`Resolution::key`](crate::Resolution::key)) and into a
/// [`ResolutionDiff`](crate::ResolutionDiff).
///
/// The resolver never interprets it: it is not part of a candidate's
/// identity (that is the name and the version), it never decides a choice,
/// and two candidates may carry the same key. It is a number so that it is
/// `Copy` and the resolver stays below whatever it points to: a host gives
/// each discovered plugin an index (or an id it keeps in a map) and finds
/// the discovered plugin a chosen version came from with it.
///
/// ```
/// use plugin_resolver::{Candidate, CandidateKey, Registry, ResolveOptions, Wanted, resolve};
/// use plugin_version::Version;
///
/// // What discovery found, in the host's own table; the key is the index.
/// let found = [("greeter", Version::new(1, 0, 0)), ("greeter", Version::new(2, 0, 0))];
/// let mut registry = Registry::new();
/// for (at, (name, version)) in found.iter().enumerate() {
///     registry.add(Candidate::new(*name, version.clone()).with_key(CandidateKey::new(at as u64)))?;
/// }
/// let resolution = resolve(&registry, &[Wanted::new("greeter")], &ResolveOptions::default())?;
/// let key = resolution.key("greeter").expect("keyed");
/// assert_eq!(found[key.get() as usize].1, Version::new(2, 0, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CandidateKey(u64);

impl CandidateKey {
    /// The key holding `value`.
    pub const fn new(value: u64) -> Self {
        CandidateKey(value)
    }

    /// The value given to [`CandidateKey::new`].
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for CandidateKey {
    fn from(value: u64) -> Self {
        CandidateKey(value)
    }
}

impl From<CandidateKey> for u64 {
    fn from(key: CandidateKey) -> Self {
        key.0
    }
}

impl fmt::Display for CandidateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One version of one plugin the resolver may choose, with the caller's
/// optional [`CandidateKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    name: Arc<str>,
    version: Version,
    required: Vec<Requirement>,
    optional: Vec<Requirement>,
    key: Option<CandidateKey>,
}

impl Candidate {
    /// A candidate without dependencies; add them with [`Candidate::require`]
    /// and [`Candidate::optional`].
    pub fn new(name: impl Into<Arc<str>>, version: Version) -> Self {
        Candidate {
            name: name.into(),
            version,
            required: Vec::new(),
            optional: Vec::new(),
            key: None,
        }
    }

    /// The candidate described by a manifest: its name, version, and its
    /// `required_plugins` and `optional_plugins`.
    pub fn from_manifest(manifest: &Manifest) -> Self {
        let requirements = manifest.requirements();
        let convert = |deps: &[plugin_manifest::Dependency]| {
            deps.iter()
                .map(|dep| Requirement::new(dep.name(), dep.constraint().clone()))
                .collect()
        };
        Candidate {
            name: manifest.name().into(),
            version: manifest.version().clone(),
            required: convert(requirements.required_plugins()),
            optional: convert(requirements.optional_plugins()),
            key: None,
        }
    }

    /// Attaches the caller's key (replacing any earlier one); the resolver
    /// carries it into the resolution and never reads it.
    #[must_use]
    pub fn with_key(mut self, key: CandidateKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Adds a required dependency.
    #[must_use]
    pub fn require(mut self, name: impl Into<Arc<str>>, constraint: Constraint) -> Self {
        self.required.push(Requirement::new(name, constraint));
        self
    }

    /// Adds an optional dependency: loaded when some version fits, never a
    /// reason for resolution to fail.
    #[must_use]
    pub fn optional(mut self, name: impl Into<Arc<str>>, constraint: Constraint) -> Self {
        self.optional.push(Requirement::new(name, constraint));
        self
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// Required dependencies, in the order given.
    pub fn required(&self) -> &[Requirement] {
        &self.required
    }

    /// Optional dependencies, in the order given.
    pub fn optional_dependencies(&self) -> &[Requirement] {
        &self.optional
    }

    /// The caller's key, if one was attached ([`Candidate::with_key`]).
    pub fn key(&self) -> Option<CandidateKey> {
        self.key
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

/// Why a candidate was not added to a [`Registry`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The same plugin version was added twice.
    #[error("{name} {version} is already in the registry")]
    DuplicateVersion {
        /// The plugin.
        name: String,
        /// The version added twice.
        version: Version,
    },
    /// A candidate names itself as a dependency.
    #[error("{name} {version} depends on itself")]
    SelfDependency {
        /// The plugin.
        name: String,
        /// Its version.
        version: Version,
    },
    /// A candidate lists one dependency twice (in either list), as a
    /// manifest may not.
    #[error("{name} {version} lists the dependency {dependency} more than once")]
    DuplicateDependency {
        /// The plugin.
        name: String,
        /// Its version.
        version: Version,
        /// The dependency listed twice.
        dependency: String,
    },
    /// A candidate or a dependency without a name.
    #[error("a plugin name is empty (in {candidate})")]
    EmptyName {
        /// The candidate, as `name version`.
        candidate: String,
    },
}

/// An interned plugin name: an index into [`Registry::plugins`].
pub(crate) type PluginId = u32;

/// One dependency edge with the target interned.
#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub(crate) to: PluginId,
    /// Shared with every resolution that reports this edge.
    pub(crate) constraint: Arc<Constraint>,
}

/// One version of a plugin, with interned dependencies.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) candidate: Candidate,
    pub(crate) required: Vec<Edge>,
    pub(crate) optional: Vec<Edge>,
}

impl Entry {
    pub(crate) fn version(&self) -> &Version {
        &self.candidate.version
    }
}

/// Every name the registry has seen: plugins with versions and plugins only
/// named as dependencies (with no versions).
#[derive(Debug, Clone)]
pub(crate) struct Plugin {
    pub(crate) name: Arc<str>,
    /// Sorted by version, oldest first.
    pub(crate) versions: Vec<Entry>,
}

/// The candidate plugins: several versions of one plugin allowed, each with
/// its required and optional dependencies.
///
/// ```
/// use plugin_resolver::{Candidate, Registry};
/// use plugin_version::{Constraint, Version};
///
/// let mut registry = Registry::new();
/// registry.add(
///     Candidate::new("auth", Version::new(1, 2, 3))
///         .require("logging", Constraint::parse("^2").unwrap()),
/// )?;
/// registry.add(Candidate::new("logging", Version::new(2, 0, 1)))?;
/// assert_eq!(registry.len(), 2);
/// assert_eq!(registry.versions("logging").count(), 1);
/// # Ok::<(), plugin_resolver::RegistryError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    index: HashMap<Arc<str>, PluginId>,
    plugins: Vec<Plugin>,
    candidates: usize,
    /// The position of each plugin id in name order, computed on demand.
    ranks: OnceLock<Vec<u32>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds one candidate. As in a manifest, a candidate may not depend on
    /// itself nor list one dependency twice (as required, optional, or both).
    ///
    /// A name and version identify a candidate: a second candidate with the
    /// name and version of one already added is refused
    /// ([`RegistryError::DuplicateVersion`]), whatever the keys, and the
    /// first keeps its place and its key. So each chosen version has exactly
    /// one key (or none); a caller that wants another candidate of the same
    /// version to win settles that before adding (discovery does: it
    /// reports one plugin per name and version). The key of the one kept is
    /// `registry.candidate(name, version).and_then(Candidate::key)`.
    pub fn add(&mut self, candidate: Candidate) -> Result<(), RegistryError> {
        let shown = || format!("{} {}", candidate.name, candidate.version);
        if candidate.name.is_empty()
            || candidate
                .required
                .iter()
                .chain(&candidate.optional)
                .any(|dep| dep.name.is_empty())
        {
            return Err(RegistryError::EmptyName { candidate: shown() });
        }
        if candidate
            .required
            .iter()
            .chain(&candidate.optional)
            .any(|dep| dep.name == candidate.name)
        {
            return Err(RegistryError::SelfDependency {
                name: candidate.name.to_string(),
                version: candidate.version.clone(),
            });
        }
        let mut listed: Vec<&str> = candidate
            .required
            .iter()
            .chain(&candidate.optional)
            .map(|dep| &*dep.name)
            .collect();
        listed.sort_unstable();
        if let Some(pair) = listed.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(RegistryError::DuplicateDependency {
                name: candidate.name.to_string(),
                version: candidate.version.clone(),
                dependency: pair[0].to_owned(),
            });
        }
        self.ranks = OnceLock::new();
        let id = self.intern(&candidate.name);
        let position = match self.plugins[id as usize]
            .versions
            .binary_search_by(|entry| entry.version().cmp(&candidate.version))
        {
            Ok(_) => {
                return Err(RegistryError::DuplicateVersion {
                    name: candidate.name.to_string(),
                    version: candidate.version.clone(),
                });
            }
            Err(position) => position,
        };
        let required: Vec<Edge> = candidate
            .required
            .iter()
            .map(|dep| Edge {
                to: self.intern(&dep.name),
                constraint: Arc::new(dep.constraint.clone()),
            })
            .collect();
        let optional: Vec<Edge> = candidate
            .optional
            .iter()
            .map(|dep| Edge {
                to: self.intern(&dep.name),
                constraint: Arc::new(dep.constraint.clone()),
            })
            .collect();
        self.plugins[id as usize].versions.insert(
            position,
            Entry {
                candidate,
                required,
                optional,
            },
        );
        self.candidates += 1;
        Ok(())
    }

    /// Adds the candidate a manifest describes; see [`Candidate::from_manifest`].
    pub fn add_manifest(&mut self, manifest: &Manifest) -> Result<(), RegistryError> {
        self.add(Candidate::from_manifest(manifest))
    }

    /// Adds the candidate a manifest describes, with the caller's key (for
    /// instance the index of the discovered plugin the manifest came from).
    /// Duplicates are refused as by [`Registry::add`].
    pub fn add_manifest_with_key(
        &mut self,
        manifest: &Manifest,
        key: CandidateKey,
    ) -> Result<(), RegistryError> {
        self.add(Candidate::from_manifest(manifest).with_key(key))
    }

    /// Number of candidates (plugin versions).
    pub fn len(&self) -> usize {
        self.candidates
    }

    /// Whether the registry has no candidate.
    pub fn is_empty(&self) -> bool {
        self.candidates == 0
    }

    /// Whether some version of `name` is a candidate.
    pub fn contains(&self, name: &str) -> bool {
        self.id(name)
            .is_some_and(|id| !self.plugins[id as usize].versions.is_empty())
    }

    /// The names of the plugins with at least one candidate, sorted.
    pub fn plugin_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .plugins
            .iter()
            .filter(|plugin| !plugin.versions.is_empty())
            .map(|plugin| &*plugin.name)
            .collect();
        names.sort_unstable();
        names
    }

    /// The versions of `name`, oldest first (empty if unknown).
    pub fn versions(&self, name: &str) -> impl Iterator<Item = &Version> {
        self.entries(name).iter().map(Entry::version)
    }

    /// The candidate `name` at `version`, if any.
    pub fn candidate(&self, name: &str, version: &Version) -> Option<&Candidate> {
        let entries = self.entries(name);
        entries
            .binary_search_by(|entry| entry.version().cmp(version))
            .ok()
            .map(|at| &entries[at].candidate)
    }

    /// Every candidate, by plugin (in the order first seen) and version.
    pub fn candidates(&self) -> impl Iterator<Item = &Candidate> {
        self.plugins
            .iter()
            .flat_map(|plugin| plugin.versions.iter().map(|entry| &entry.candidate))
    }

    fn entries(&self, name: &str) -> &[Entry] {
        match self.id(name) {
            Some(id) => &self.plugins[id as usize].versions,
            None => &[],
        }
    }

    pub(crate) fn id(&self, name: &str) -> Option<PluginId> {
        self.index.get(name).copied()
    }

    pub(crate) fn plugins(&self) -> &[Plugin] {
        &self.plugins
    }

    /// The position of every plugin id in name order.
    pub(crate) fn name_ranks(&self) -> &[u32] {
        self.ranks.get_or_init(|| {
            let mut ids: Vec<usize> = (0..self.plugins.len()).collect();
            ids.sort_unstable_by(|&a, &b| self.plugins[a].name.cmp(&self.plugins[b].name));
            let mut ranks = vec![0u32; self.plugins.len()];
            for (rank, id) in ids.into_iter().enumerate() {
                ranks[id] = u32::try_from(rank).unwrap_or(u32::MAX);
            }
            ranks
        })
    }

    fn intern(&mut self, name: &Arc<str>) -> PluginId {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        // More than u32::MAX - 1 distinct names cannot be built in memory.
        let id = PluginId::try_from(self.plugins.len()).unwrap_or(PluginId::MAX - 1);
        self.index.insert(name.clone(), id);
        self.plugins.push(Plugin {
            name: name.clone(),
            versions: Vec::new(),
        });
        id
    }
}
