//! The difference between two resolutions ([`Resolution::diff`]): what a
//! host must load, unload, swap and rewire to go from one to the other.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use plugin_version::{Constraint, Version};

use crate::registry::CandidateKey;
use crate::resolution::{DependencyKind, Resolution};

/// A plugin at one version, with the key of its candidate: an entry of
/// [`ResolutionDiff::added`] or [`ResolutionDiff::removed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedPlugin {
    name: Arc<str>,
    version: Version,
    key: Option<CandidateKey>,
}

impl SelectedPlugin {
    /// The plugin.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its version (the new one for an addition, the old one for a removal).
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The key of its candidate, if it had one.
    pub fn key(&self) -> Option<CandidateKey> {
        self.key
    }
}

impl fmt::Display for SelectedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

/// Which way a plugin's version moved, by semver precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Direction {
    /// The new version is newer.
    Upgrade,
    /// The new version is older.
    Downgrade,
    /// The versions differ only in build metadata (`1.0.0+a` and
    /// `1.0.0+b`), which semver precedence ignores.
    Rebuild,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
            Direction::Rebuild => "rebuild",
        })
    }
}

/// A plugin loaded in both resolutions at different versions: an entry of
/// [`ResolutionDiff::changed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionChange {
    name: Arc<str>,
    old: Version,
    new: Version,
    old_key: Option<CandidateKey>,
    new_key: Option<CandidateKey>,
}

impl VersionChange {
    /// The plugin.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its version in the old resolution.
    pub fn old_version(&self) -> &Version {
        &self.old
    }

    /// Its version in the new resolution.
    pub fn new_version(&self) -> &Version {
        &self.new
    }

    /// The key of the old version's candidate.
    pub fn old_key(&self) -> Option<CandidateKey> {
        self.old_key
    }

    /// The key of the new version's candidate.
    pub fn new_key(&self) -> Option<CandidateKey> {
        self.new_key
    }

    /// Upgrade, downgrade, or a change of build metadata only.
    pub fn direction(&self) -> Direction {
        match self.new.cmp_precedence(&self.old) {
            Ordering::Greater => Direction::Upgrade,
            Ordering::Less => Direction::Downgrade,
            Ordering::Equal => Direction::Rebuild,
        }
    }
}

impl fmt::Display for VersionChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} -> {} ({})",
            self.name,
            self.old,
            self.new,
            self.direction()
        )
    }
}

/// One dependency edge as resolved: its kind, the constraint, and the
/// version of the dependency that was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedDependency {
    kind: DependencyKind,
    constraint: Arc<Constraint>,
    version: Version,
}

impl ResolvedDependency {
    /// Required or optional.
    pub fn kind(&self) -> DependencyKind {
        self.kind
    }

    /// The versions the dependent accepts.
    pub fn constraint(&self) -> &Constraint {
        &self.constraint
    }

    /// The version of the dependency loaded.
    pub fn version(&self) -> &Version {
        &self.version
    }
}

/// How one dependency of a kept plugin differs between two resolutions:
/// an edge that appeared (no [`old_edge`](DependencyChange::old_edge): an
/// optional dependency now loaded), disappeared (no
/// [`new_edge`](DependencyChange::new_edge)), or whose target version, kind or
/// constraint changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyChange {
    dependency: Arc<str>,
    old: Option<ResolvedDependency>,
    new: Option<ResolvedDependency>,
}

impl DependencyChange {
    /// The plugin depended on.
    pub fn dependency(&self) -> &str {
        &self.dependency
    }

    /// The edge in the old resolution, if there was one.
    pub fn old_edge(&self) -> Option<&ResolvedDependency> {
        self.old.as_ref()
    }

    /// The edge in the new resolution, if there is one.
    pub fn new_edge(&self) -> Option<&ResolvedDependency> {
        self.new.as_ref()
    }

    /// Whether the plugin's required dependencies changed here: the edge is
    /// required on one side and not the same required edge, at the same
    /// version, on the other. (A constraint alone changing does not count.)
    pub fn is_required_change(&self) -> bool {
        fn required(side: Option<&ResolvedDependency>) -> Option<&Version> {
            side.filter(|edge| edge.kind == DependencyKind::Required)
                .map(|edge| &edge.version)
        }
        required(self.old.as_ref()) != required(self.new.as_ref())
    }
}

/// A plugin loaded at the same version in both resolutions: an entry of
/// [`ResolutionDiff::kept`], with how its dependency edges changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptPlugin {
    name: Arc<str>,
    version: Version,
    old_key: Option<CandidateKey>,
    new_key: Option<CandidateKey>,
    dependency_changes: Vec<DependencyChange>,
}

impl KeptPlugin {
    /// The plugin.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its version, the same in both.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The key of its candidate in the old resolution.
    pub fn old_key(&self) -> Option<CandidateKey> {
        self.old_key
    }

    /// The key of its candidate in the new resolution. The diff does not
    /// compare keys; a host whose keys point to discovered files can
    /// compare what the two point to (an artifact rewritten under the same
    /// version, for instance).
    pub fn new_key(&self) -> Option<CandidateKey> {
        self.new_key
    }

    /// Its dependencies whose edge changed, by name (empty when the plugin
    /// is wired exactly as before).
    pub fn dependency_changes(&self) -> &[DependencyChange] {
        &self.dependency_changes
    }

    /// Whether its required dependencies, as (name, loaded version),
    /// changed: it then runs against other code than before, and a host
    /// reloads it.
    pub fn required_changed(&self) -> bool {
        self.dependency_changes
            .iter()
            .any(DependencyChange::is_required_change)
    }
}

/// What changed from one [`Resolution`] to another, in the order a host
/// applies it; made by [`Resolution::diff`].
///
/// Plugins are matched by name and compared by version (build metadata
/// included, as the registry does); [`CandidateKey`]s are carried along but
/// never compared. A host unloads [`removed`](ResolutionDiff::removed) (in
/// reverse load order of the old resolution, dependents first), then
/// swaps [`changed`](ResolutionDiff::changed), loads
/// [`added`](ResolutionDiff::added) and reloads the
/// [`rewired`](ResolutionDiff::rewired) plugins whose required
/// dependencies changed, all in load order of the new resolution.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolutionDiff {
    added: Vec<SelectedPlugin>,
    removed: Vec<SelectedPlugin>,
    changed: Vec<VersionChange>,
    kept: Vec<KeptPlugin>,
}

impl ResolutionDiff {
    /// Plugins loaded only in the new resolution, at their new version, in
    /// its load order.
    pub fn added(&self) -> &[SelectedPlugin] {
        &self.added
    }

    /// Plugins loaded only in the old resolution, at their old version, in
    /// reverse load order of the old resolution (each before what it
    /// depends on).
    pub fn removed(&self) -> &[SelectedPlugin] {
        &self.removed
    }

    /// Plugins loaded in both at different versions, in load order of the
    /// new resolution.
    pub fn changed(&self) -> &[VersionChange] {
        &self.changed
    }

    /// Plugins loaded in both at the same version, in load order of the new
    /// resolution.
    pub fn kept(&self) -> &[KeptPlugin] {
        &self.kept
    }

    /// The kept plugins whose dependency edges changed, in load order of
    /// the new resolution; [`KeptPlugin::required_changed`] says which must
    /// be reloaded.
    pub fn rewired(&self) -> impl Iterator<Item = &KeptPlugin> {
        self.kept
            .iter()
            .filter(|kept| !kept.dependency_changes.is_empty())
    }

    /// Whether nothing was added, removed, changed or rewired (keys aside).
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.rewired().next().is_none()
    }
}

impl Resolution {
    /// What changed from `self` (the old resolution, the one running) to
    /// `new`; see [`ResolutionDiff`].
    ///
    /// ```
    /// use plugin_resolver::{Candidate, Direction, Registry, ResolveOptions, Wanted, resolve};
    /// use plugin_version::{Constraint, Version};
    ///
    /// let v = |text: &str| plugin_version::parse_version(text).unwrap();
    /// let wanted = [Wanted::new("greeter")];
    /// let mut registry = Registry::new();
    /// registry.add(Candidate::new("greeter", v("1.0.0")).require("kv", Constraint::parse("^1")?))?;
    /// registry.add(Candidate::new("kv", v("1.4.0")))?;
    /// let old = resolve(&registry, &wanted, &ResolveOptions::default())?;
    ///
    /// registry.add(Candidate::new("kv", v("1.5.0")))?;
    /// let new = resolve(&registry, &wanted, &ResolveOptions::default())?;
    /// let diff = old.diff(&new);
    /// assert_eq!(diff.changed()[0].to_string(), "kv 1.4.0 -> 1.5.0 (upgrade)");
    /// assert_eq!(diff.changed()[0].direction(), Direction::Upgrade);
    /// // greeter is kept, but what it requires changed: reload it.
    /// let rewired: Vec<_> = diff.rewired().filter(|k| k.required_changed()).map(|k| k.name()).collect();
    /// assert_eq!(rewired, ["greeter"]);
    /// assert!(diff.added().is_empty() && diff.removed().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn diff(&self, new: &Resolution) -> ResolutionDiff {
        let old = self;
        let mut diff = ResolutionDiff::default();
        for name in new.groups.iter().flatten() {
            let Some(version) = new.selected.get(name) else {
                continue;
            };
            match old.selected.get(name) {
                None => diff.added.push(SelectedPlugin {
                    name: name.clone(),
                    version: version.clone(),
                    key: new.key(name),
                }),
                Some(was) if was == version => diff.kept.push(KeptPlugin {
                    name: name.clone(),
                    version: version.clone(),
                    old_key: old.key(name),
                    new_key: new.key(name),
                    dependency_changes: dependency_changes(old, new, name),
                }),
                Some(was) => diff.changed.push(VersionChange {
                    name: name.clone(),
                    old: was.clone(),
                    new: version.clone(),
                    old_key: old.key(name),
                    new_key: new.key(name),
                }),
            }
        }
        for name in old.groups.iter().flatten().rev() {
            if new.selected.contains_key(name) {
                continue;
            }
            if let Some(version) = old.selected.get(name) {
                diff.removed.push(SelectedPlugin {
                    name: name.clone(),
                    version: version.clone(),
                    key: old.key(name),
                });
            }
        }
        diff
    }
}

/// The edges of `name` that differ between `old` and `new`, by dependency
/// name.
fn dependency_changes(old: &Resolution, new: &Resolution, name: &str) -> Vec<DependencyChange> {
    type Sides = (Option<ResolvedDependency>, Option<ResolvedDependency>);
    let mut by_dependency: BTreeMap<Arc<str>, Sides> = BTreeMap::new();
    for (resolution, is_new) in [(old, false), (new, true)] {
        for edge in resolution.dependencies(name) {
            let Some(version) = resolution.version(&edge.name) else {
                continue;
            };
            let resolved = ResolvedDependency {
                kind: edge.kind,
                constraint: edge.constraint.clone(),
                version: version.clone(),
            };
            let sides = by_dependency.entry(edge.name.clone()).or_default();
            if is_new {
                sides.1 = Some(resolved);
            } else {
                sides.0 = Some(resolved);
            }
        }
    }
    by_dependency
        .into_iter()
        .filter(|(_, (old, new))| old != new)
        .map(|(dependency, (old, new))| DependencyChange {
            dependency,
            old,
            new,
        })
        .collect()
}
