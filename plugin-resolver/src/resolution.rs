//! A successful [`Resolution`]: the chosen versions, the dependency graph,
//! the load order, and what was dropped or left out on the way.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use plugin_version::{Constraint, Version};

use crate::error::{Failure, cycle_text};
use crate::registry::CandidateKey;

/// Whether an edge of the dependency graph is required or optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DependencyKind {
    /// The plugin cannot load without it.
    Required,
    /// The plugin uses it when it is loaded.
    Optional,
}

/// One edge of the resolved dependency graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyEdge {
    pub(crate) name: Arc<str>,
    pub(crate) constraint: Arc<Constraint>,
    pub(crate) kind: DependencyKind,
}

impl DependencyEdge {
    /// The plugin depended on.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The versions the dependent accepts.
    pub fn constraint(&self) -> &Constraint {
        &self.constraint
    }

    /// Required or optional.
    pub fn kind(&self) -> DependencyKind {
        self.kind
    }
}

impl PartialOrd for DependencyEdge {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DependencyEdge {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.name, self.kind, self.constraint.as_str()).cmp(&(
            &other.name,
            other.kind,
            other.constraint.as_str(),
        ))
    }
}

/// A plugin that depends on another in the resolved graph: one edge of
/// [`Resolution::dependents`], seen from the plugin depended on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependent {
    pub(crate) name: Arc<str>,
    pub(crate) constraint: Arc<Constraint>,
    pub(crate) kind: DependencyKind,
}

impl Dependent {
    /// The plugin that depends.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The versions it accepts of the plugin depended on.
    pub fn constraint(&self) -> &Constraint {
        &self.constraint
    }

    /// Required (it cannot load without it) or optional (it uses it, and
    /// it is loaded).
    pub fn kind(&self) -> DependencyKind {
        self.kind
    }
}

/// A plugin affected when others go away: one entry of
/// [`Resolution::transitive_dependents`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affected {
    pub(crate) name: Arc<str>,
    pub(crate) kind: DependencyKind,
    pub(crate) via: Vec<Arc<str>>,
}

impl Affected {
    /// The plugin affected.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// [`DependencyKind::Required`]: it requires a plugin that goes away,
    /// directly or through a chain of required dependencies, and must go
    /// too. [`DependencyKind::Optional`]: it stays loadable, but loses an
    /// optional dependency (a plugin that goes away).
    pub fn kind(&self) -> DependencyKind {
        self.kind
    }

    /// Its dependencies (of that kind) that go away, sorted by name: for a
    /// required one, why it must go; for an optional one, what it loses.
    pub fn via(&self) -> &[Arc<str>] {
        &self.via
    }
}

/// Why an optional dependency was left out: what a program reads; its
/// `Display` is what a person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeftOut {
    /// No plugin of that name is in the registry.
    Missing,
    /// Versions exist, but none matches the constraint (and the policy):
    /// `explanation` says which exist and, when the policy rules out the
    /// ones that match, why.
    NoVersionFits {
        /// Every version in the registry, oldest first.
        available: Vec<Version>,
        /// "no version of metrics matches ^3; only metrics 1.0.0 exists".
        explanation: String,
    },
    /// Another version of it is loaded (one that a required dependency or
    /// an earlier optional one chose), and it does not fit.
    OtherVersionLoaded {
        /// The version loaded.
        version: Version,
    },
    /// It, or what it requires, conflicts with the chosen set: `explanation`
    /// is the derivation, step by step.
    Conflict {
        /// Why it cannot be added to the chosen plugins.
        explanation: String,
    },
    /// With it, a chain of required dependencies would be longer than
    /// [`ResolveLimits::max_depth`](crate::ResolveLimits::max_depth).
    TooDeep {
        /// The chain it would make.
        chain: Vec<String>,
        /// The maximum allowed.
        max: usize,
    },
}

impl fmt::Display for LeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeftOut::Missing => f.write_str("it was not found"),
            LeftOut::NoVersionFits { explanation, .. } | LeftOut::Conflict { explanation } => {
                f.write_str(explanation)
            }
            LeftOut::OtherVersionLoaded { version } => {
                write!(f, "version {version} is loaded instead")
            }
            LeftOut::TooDeep { chain, max } => write!(
                f,
                "with it, the chain of required dependencies {} would be longer than the maximum of {max}",
                chain.join(" -> ")
            ),
        }
    }
}

/// Something worth telling about a resolution that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// An optional dependency is left out (missing, no version fits, it
    /// conflicts with the chosen set, ...), and the plugin loads without it.
    OptionalLeftOut {
        /// The plugin with the optional dependency.
        plugin: String,
        /// Its chosen version.
        version: Version,
        /// The optional dependency.
        dependency: String,
        /// The versions it accepts.
        constraint: Constraint,
        /// Why it is left out.
        reason: LeftOut,
    },
    /// Required dependencies form a cycle; with
    /// [`CircularDependencyMode::Allow`](crate::CircularDependencyMode::Allow)
    /// its members load together as one group.
    CycleLoadedTogether {
        /// The members of the group, sorted.
        members: Vec<String>,
        /// The cycles among them, each in order (`[a, b]`: a requires b,
        /// b requires a).
        cycles: Vec<Vec<String>>,
    },
    /// An optional dependency closes a cycle, so the load order cannot put
    /// it first; the plugin may load before it.
    OptionalOrderIgnored {
        /// The plugin with the optional dependency.
        plugin: String,
        /// The optional dependency, which (indirectly) depends on `plugin`.
        dependency: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::OptionalLeftOut {
                plugin,
                version,
                dependency,
                constraint,
                reason,
            } => {
                write!(
                    f,
                    "{plugin} {version} loads without its optional dependency {dependency}"
                )?;
                if constraint.as_str() != "*" {
                    write!(f, " {constraint}")?;
                }
                match reason {
                    LeftOut::Missing => write!(f, ": no plugin named {dependency} was found"),
                    LeftOut::OtherVersionLoaded { version } => {
                        write!(f, ": {dependency} {version} is loaded instead")
                    }
                    other => write!(f, ": {other}"),
                }
            }
            Warning::CycleLoadedTogether { members, cycles } => {
                let cycles: Vec<String> = cycles.iter().map(|c| cycle_text(c)).collect();
                write!(
                    f,
                    "required dependencies form a cycle ({}); {} load together as one group",
                    cycles.join("; "),
                    members.join(", ")
                )
            }
            Warning::OptionalOrderIgnored { plugin, dependency } => write!(
                f,
                "{plugin} may load before its optional dependency {dependency}, which depends on {plugin}"
            ),
        }
    }
}

/// Why best effort dropped a wanted plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// The plugin cannot be loaded even on its own.
    Unresolvable(Box<Failure>),
    /// The plugin loads on its own, but not together with the plugins kept
    /// (`with`: the kept wanted plugins the conflict involves).
    Conflict {
        /// The kept wanted plugins it conflicts with.
        with: Vec<String>,
        /// Why they cannot load together.
        failure: Box<Failure>,
    },
}

impl DropReason {
    /// The structured failure behind the drop.
    pub fn failure(&self) -> &Failure {
        match self {
            DropReason::Unresolvable(failure) | DropReason::Conflict { failure, .. } => failure,
        }
    }

    /// The step-by-step explanation.
    pub fn explanation(&self) -> &str {
        self.failure().explanation()
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Unresolvable(failure) => {
                write!(f, "cannot be loaded: {}", failure.summary())
            }
            DropReason::Conflict { with, failure } => write!(
                f,
                "conflicts with {}: {}",
                with.join(", "),
                failure.summary()
            ),
        }
    }
}

/// A wanted plugin that best effort left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub(crate) name: String,
    pub(crate) reason: DropReason,
}

impl Dropped {
    /// The wanted plugin.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why it was dropped.
    pub fn reason(&self) -> &DropReason {
        &self.reason
    }
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.reason)
    }
}

/// The outcome of [`resolve`](crate::resolve): a version for every plugin to
/// load, the dependency graph between them, and the order to load them in.
///
/// For a host it also answers which candidate each version came from
/// ([`Resolution::key`]), what depends on a plugin
/// ([`Resolution::dependents`], [`Resolution::transitive_dependents`]) and
/// what changed since another resolution ([`Resolution::diff`]). Equality
/// compares everything, keys included.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolution {
    pub(crate) selected: BTreeMap<Arc<str>, Version>,
    /// The keys of the chosen candidates that have one.
    pub(crate) keys: BTreeMap<Arc<str>, CandidateKey>,
    pub(crate) edges: BTreeMap<Arc<str>, Vec<DependencyEdge>>,
    pub(crate) groups: Vec<Vec<Arc<str>>>,
    pub(crate) cycles: Vec<Vec<String>>,
    pub(crate) dropped: Vec<Dropped>,
    pub(crate) warnings: Vec<Warning>,
    /// Derived by [`Resolution::index`]: the reverse of `edges`, each list
    /// sorted like `edges`.
    pub(crate) dependents: BTreeMap<Arc<str>, Vec<Dependent>>,
    /// Derived by [`Resolution::index`]: each plugin's place in the load
    /// order.
    pub(crate) positions: BTreeMap<Arc<str>, usize>,
}

impl Resolution {
    /// The chosen version of every plugin to load, by name.
    pub fn selected(&self) -> &BTreeMap<Arc<str>, Version> {
        &self.selected
    }

    /// The chosen version of `name`, if it is loaded.
    pub fn version(&self, name: &str) -> Option<&Version> {
        self.selected.get(name)
    }

    /// The key of the candidate chosen for `name`
    /// ([`Candidate::with_key`](crate::Candidate::with_key)); `None` if
    /// `name` is not loaded or its candidate has no key.
    pub fn key(&self, name: &str) -> Option<CandidateKey> {
        self.keys.get(name).copied()
    }

    /// Number of plugins to load.
    pub fn len(&self) -> usize {
        self.selected.len()
    }

    /// Whether nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.selected.is_empty()
    }

    /// The dependencies of `name` among the loaded plugins, sorted by name:
    /// every required one, and the optional ones that are loaded.
    pub fn dependencies(&self, name: &str) -> &[DependencyEdge] {
        self.edges.get(name).map_or(&[], Vec::as_slice)
    }

    /// The plugins that depend on `name` among the loaded plugins, sorted
    /// by name: the reverse of [`Resolution::dependencies`]. Each one is
    /// tagged required or optional; an optional dependent is listed only
    /// when the optional dependency was loaded (an edge of the graph). Empty
    /// when `name` is not loaded or nothing depends on it.
    ///
    /// ```
    /// use plugin_resolver::{Candidate, DependencyKind, Registry, ResolveOptions, Wanted, resolve};
    /// use plugin_version::{Constraint, Version};
    ///
    /// let mut registry = Registry::new();
    /// registry.add(Candidate::new("app", Version::new(1, 0, 0)).require("db", Constraint::any()))?;
    /// registry.add(Candidate::new("admin", Version::new(1, 0, 0)).optional("db", Constraint::any()))?;
    /// registry.add(Candidate::new("db", Version::new(1, 0, 0)))?;
    /// let wanted = [Wanted::new("app"), Wanted::new("admin")];
    /// let resolution = resolve(&registry, &wanted, &ResolveOptions::default())?;
    /// let dependents: Vec<_> = resolution.dependents("db").iter().map(|d| (d.name(), d.kind())).collect();
    /// assert_eq!(dependents, [("admin", DependencyKind::Optional), ("app", DependencyKind::Required)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dependents(&self, name: &str) -> &[Dependent] {
        self.dependents.get(name).map_or(&[], Vec::as_slice)
    }

    /// Everything affected if `name` went away (failed, or was unloaded),
    /// in load order; see [`Resolution::transitive_dependents_of`].
    pub fn transitive_dependents(&self, name: &str) -> Vec<Affected> {
        self.transitive_dependents_of([name])
    }

    /// Everything affected if the plugins `names` went away together, in
    /// load order (so in reverse for unloading), the plugins `names`
    /// themselves excluded, and names not loaded ignored:
    ///
    /// - tagged [`DependencyKind::Required`], every plugin that requires
    ///   one of them, directly or through a chain of required
    ///   dependencies: it cannot run without them ("a plugin that fails
    ///   takes its dependents down with it");
    /// - tagged [`DependencyKind::Optional`], every other plugin with an
    ///   optional dependency on one of them or on a plugin that goes down
    ///   with them: it keeps running, without that dependency. The ones
    ///   that depend on *it* are not affected, so the search stops there.
    ///
    /// ```
    /// use plugin_resolver::{Candidate, DependencyKind, Registry, ResolveOptions, Wanted, resolve};
    /// use plugin_version::{Constraint, Version};
    ///
    /// let mut registry = Registry::new();
    /// let v1 = Version::new(1, 0, 0);
    /// registry.add(Candidate::new("kv", v1.clone()))?;
    /// registry.add(Candidate::new("greeter", v1.clone()).require("kv", Constraint::any()))?;
    /// registry.add(Candidate::new("web", v1.clone()).require("greeter", Constraint::any()))?;
    /// registry.add(Candidate::new("stats", v1.clone()).optional("web", Constraint::any()))?;
    /// let wanted = [Wanted::new("web"), Wanted::new("stats")];
    /// let resolution = resolve(&registry, &wanted, &ResolveOptions::default())?;
    /// let affected = resolution.transitive_dependents("kv");
    /// let affected: Vec<_> = affected.iter().map(|a| (a.name(), a.kind())).collect();
    /// assert_eq!(
    ///     affected,
    ///     [
    ///         ("greeter", DependencyKind::Required),
    ///         ("web", DependencyKind::Required),
    ///         ("stats", DependencyKind::Optional),
    ///     ]
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn transitive_dependents_of<'n>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Vec<Affected> {
        let mut gone: BTreeSet<&str> = BTreeSet::new();
        let mut queue: Vec<&str> = Vec::new();
        for name in names {
            if let Some((name, _)) = self.selected.get_key_value(name)
                && gone.insert(name)
            {
                queue.push(name);
            }
        }
        let first: BTreeSet<&str> = gone.clone();
        // Everything that requires a plugin gone, to a fixed point.
        while let Some(name) = queue.pop() {
            for dependent in self.dependents(name) {
                if dependent.kind == DependencyKind::Required && gone.insert(&dependent.name) {
                    queue.push(&dependent.name);
                }
            }
        }
        let mut optional: BTreeSet<&str> = BTreeSet::new();
        for name in &gone {
            for dependent in self.dependents(name) {
                if dependent.kind == DependencyKind::Optional && !gone.contains(&*dependent.name) {
                    optional.insert(&dependent.name);
                }
            }
        }
        let affected = |name: &str, kind: DependencyKind| Affected {
            name: self.shared(name),
            kind,
            via: self
                .dependencies(name)
                .iter()
                .filter(|edge| edge.kind == kind && gone.contains(&*edge.name))
                .map(|edge| edge.name.clone())
                .collect(),
        };
        let mut out: Vec<Affected> = gone
            .iter()
            .filter(|name| !first.contains(*name))
            .map(|name| affected(name, DependencyKind::Required))
            .chain(
                optional
                    .iter()
                    .map(|name| affected(name, DependencyKind::Optional)),
            )
            .collect();
        out.sort_by_key(|affected| self.position(&affected.name));
        out
    }

    /// Every edge of the dependency graph, as `(dependent, edge)`, sorted.
    pub fn edges(&self) -> impl Iterator<Item = (&str, &DependencyEdge)> {
        self.edges
            .iter()
            .flat_map(|(from, edges)| edges.iter().map(move |edge| (&**from, edge)))
    }

    /// The plugins in load order: each after everything it requires, and
    /// after its loaded optional dependencies unless that would close a
    /// cycle; ties broken by name. Members of one load group (a cycle
    /// allowed by [`CircularDependencyMode::Allow`](crate::CircularDependencyMode::Allow))
    /// are adjacent, sorted by name.
    pub fn load_order(&self) -> Vec<&str> {
        self.groups.iter().flatten().map(|name| &**name).collect()
    }

    /// The load order as groups: a group of several plugins is a cycle of
    /// required dependencies that loads together.
    pub fn load_groups(&self) -> &[Vec<Arc<str>>] {
        &self.groups
    }

    /// Cycles of required dependencies that were allowed, each in order.
    pub fn circular_dependencies(&self) -> &[Vec<String>] {
        &self.cycles
    }

    /// Wanted plugins that best effort dropped, by name.
    pub fn dropped(&self) -> &[Dropped] {
        &self.dropped
    }

    /// What is worth telling: optional dependencies left out, cycles loaded
    /// together, optional dependencies the order could not respect.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Fills the derived fields (reverse edges, load positions) from
    /// `edges` and `groups`; called once the resolution is complete.
    pub(crate) fn index(&mut self) {
        self.dependents.clear();
        for (from, edges) in &self.edges {
            for edge in edges {
                self.dependents
                    .entry(edge.name.clone())
                    .or_default()
                    .push(Dependent {
                        name: from.clone(),
                        constraint: edge.constraint.clone(),
                        kind: edge.kind,
                    });
            }
        }
        // `edges` is walked by dependent name, so each list is already in
        // name order; one dependent has at most one edge to a plugin.
        self.positions = self
            .groups
            .iter()
            .flatten()
            .enumerate()
            .map(|(at, name)| (name.clone(), at))
            .collect();
    }

    /// The place of `name` in the load order (`usize::MAX` if not loaded).
    pub(crate) fn position(&self, name: &str) -> usize {
        self.positions.get(name).copied().unwrap_or(usize::MAX)
    }

    /// The resolution's own `Arc` of a loaded plugin's name.
    fn shared(&self, name: &str) -> Arc<str> {
        self.selected
            .get_key_value(name)
            .map_or_else(|| Arc::from(name), |(name, _)| name.clone())
    }
}
