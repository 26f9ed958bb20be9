//! The [`pubgrub::DependencyProvider`] over a [`Registry`]: plugins are
//! interned ids, the wanted set is a virtual root package, the version policy
//! is applied inside every range, and every solver step spends from a
//! [`Budget`].

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_version::{Constraint, Version, VersionPolicy, VersionRanges};
use pubgrub::{Dependencies, DependencyProvider, PackageResolutionStatistics};

use crate::registry::{Entry, PluginId, Registry};

/// A package as pubgrub sees it: an interned plugin name, or the virtual root
/// that depends on everything wanted. Users never see this type: the
/// explanation is written from names (see `report.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Pkg(pub(crate) PluginId);

/// The virtual root package.
pub(crate) const ROOT: Pkg = Pkg(PluginId::MAX);

impl Pkg {
    pub(crate) fn is_root(self) -> bool {
        self == ROOT
    }
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            f.write_str("the wanted plugins")
        } else {
            write!(f, "plugin #{}", self.0)
        }
    }
}

/// The only version of the virtual root.
pub(crate) fn root_version() -> Version {
    Version::new(0, 0, 0)
}

/// The registry plus the wanted names it does not know: every package the
/// solver may meet has a name and a (possibly empty) list of versions.
#[derive(Debug)]
pub(crate) struct Universe<'r> {
    pub(crate) registry: &'r Registry,
    extra: Vec<Arc<str>>,
    extra_index: std::collections::HashMap<Arc<str>, usize>,
    /// The loaded version of each plugin, by id (for the policy).
    current: Vec<Option<Version>>,
}

impl<'r> Universe<'r> {
    pub(crate) fn new(
        registry: &'r Registry,
        current: &std::collections::BTreeMap<String, Version>,
    ) -> Self {
        let mut loaded = vec![None; registry.plugins().len()];
        for (name, version) in current {
            if let Some(id) = registry.id(name) {
                loaded[id as usize] = Some(version.clone());
            }
        }
        Universe {
            registry,
            extra: Vec::new(),
            extra_index: std::collections::HashMap::new(),
            current: loaded,
        }
    }

    /// The package of `name`, adding it (without versions) if the registry
    /// does not know it.
    pub(crate) fn intern(&mut self, name: &str) -> Pkg {
        if let Some(id) = self.registry.id(name) {
            return Pkg(id);
        }
        let base = self.registry.plugins().len();
        if let Some(&at) = self.extra_index.get(name) {
            return Pkg(to_id(base + at));
        }
        self.extra_index.insert(name.into(), self.extra.len());
        self.extra.push(name.into());
        Pkg(to_id(base + self.extra.len() - 1))
    }

    /// Number of package ids in use (registry plugins and extra names).
    pub(crate) fn len(&self) -> usize {
        self.registry.plugins().len() + self.extra.len()
    }

    /// The name as a shared string (cheap to clone into results).
    pub(crate) fn shared_name(&self, pkg: Pkg) -> Arc<str> {
        let plugins = self.registry.plugins();
        match plugins.get(pkg.0 as usize) {
            Some(plugin) => plugin.name.clone(),
            None => self.name(pkg).into(),
        }
    }

    pub(crate) fn name(&self, pkg: Pkg) -> &str {
        if pkg.is_root() {
            return "the wanted plugins";
        }
        let plugins = self.registry.plugins();
        let at = pkg.0 as usize;
        match plugins.get(at) {
            Some(plugin) => &plugin.name,
            None => self
                .extra
                .get(at - plugins.len())
                .map_or("an unknown plugin", |name| name),
        }
    }

    /// The candidates of `pkg`, oldest first (empty for unknown plugins).
    pub(crate) fn entries(&self, pkg: Pkg) -> &'r [Entry] {
        match self.registry.plugins().get(pkg.0 as usize) {
            Some(plugin) => &plugin.versions,
            None => &[],
        }
    }

    pub(crate) fn entry(&self, pkg: Pkg, version: &Version) -> Option<&'r Entry> {
        let entries = self.entries(pkg);
        entries
            .binary_search_by(|entry| entry.version().cmp(version))
            .ok()
            .map(|at| &entries[at])
    }

    pub(crate) fn current(&self, pkg: Pkg) -> Option<&Version> {
        self.current.get(pkg.0 as usize).and_then(Option::as_ref)
    }
}

fn to_id(index: usize) -> PluginId {
    PluginId::try_from(index).unwrap_or(PluginId::MAX - 1)
}

/// Why the root depends on a package.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// The caller wants it: the constraint as written (`*` for any
    /// version), the range it stands for under the policy, and whether it
    /// was "any version" (a name without a constraint).
    Wanted {
        constraint: Constraint,
        range: VersionRanges,
        any: bool,
    },
    /// An earlier pass selected it at this version, which must not change.
    Pinned(Version),
    /// A selected plugin names it as an optional dependency.
    Optional {
        parent: Pkg,
        version: Version,
        constraint: Constraint,
    },
}

impl Origin {
    /// The constraint the caller or a plugin wrote, if any.
    pub(crate) fn constraint(&self) -> Option<&Constraint> {
        match self {
            Origin::Wanted { constraint, .. } | Origin::Optional { constraint, .. } => {
                Some(constraint)
            }
            Origin::Pinned(_) => None,
        }
    }
}

/// One dependency of the virtual root.
#[derive(Debug, Clone)]
pub(crate) struct RootDep {
    pub(crate) pkg: Pkg,
    pub(crate) range: VersionRanges,
    pub(crate) origins: Vec<Origin>,
}

/// Why the solver was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Stop {
    #[error("the step limit was reached")]
    Steps,
    #[error("the time limit was reached")]
    Time,
}

/// The steps and time one call of `resolve` may spend, over all attempts.
#[derive(Debug)]
pub(crate) struct Budget {
    steps: Cell<u64>,
    max_steps: u64,
    started: Instant,
    limit: Option<Duration>,
}

impl Budget {
    pub(crate) fn new(max_steps: u64, limit: Option<Duration>) -> Self {
        Budget {
            steps: Cell::new(0),
            max_steps,
            started: Instant::now(),
            limit,
        }
    }

    pub(crate) fn tick(&self) -> Result<(), Stop> {
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        if steps > self.max_steps {
            return Err(Stop::Steps);
        }
        // Reading the clock costs more than a cheap step; every 16 is plenty.
        if steps.is_multiple_of(16)
            && let Some(limit) = self.limit
            && self.started.elapsed() > limit
        {
            return Err(Stop::Time);
        }
        Ok(())
    }

    pub(crate) fn steps(&self) -> u64 {
        self.steps.get()
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// What the policy admits of each constraint text, for plugins not loaded
/// now (for those, it depends on the text alone). Registries repeat a few
/// constraint texts many times, so this saves most of the range building.
pub(crate) type RangeCache<'r> = RefCell<HashMap<&'r str, VersionRanges>>;

/// The dependency provider of one attempt.
pub(crate) struct Provider<'a, 'r> {
    pub(crate) universe: &'a Universe<'r>,
    pub(crate) policy: &'a VersionPolicy,
    pub(crate) root: &'a [RootDep],
    pub(crate) budget: &'a Budget,
    pub(crate) cache: &'a RangeCache<'r>,
}

impl<'r> Provider<'_, 'r> {
    /// The range pubgrub sees for a dependency: the constraint with the
    /// policy applied inside it.
    fn admissible(&self, to: Pkg, constraint: &'r Constraint) -> VersionRanges {
        let current = self.universe.current(to);
        if current.is_some() {
            return self.policy.admissible(constraint, current);
        }
        let mut cache = self.cache.borrow_mut();
        cache
            .entry(constraint.as_str())
            .or_insert_with(|| self.policy.admissible(constraint, None))
            .clone()
    }
}

impl<'r> DependencyProvider for Provider<'_, 'r> {
    type P = Pkg;
    type V = Version;
    type VS = VersionRanges;
    type M = String;
    type Err = Stop;
    /// Packages with more conflicts first, then those with fewer versions left.
    type Priority = (u32, Reverse<usize>);

    fn prioritize(
        &self,
        package: &Pkg,
        range: &VersionRanges,
        statistics: &PackageResolutionStatistics,
    ) -> Self::Priority {
        if package.is_root() {
            return (u32::MAX, Reverse(0));
        }
        let count = self
            .universe
            .entries(*package)
            .iter()
            .filter(|entry| range.contains(entry.version()))
            .count();
        if count == 0 {
            // Fails at once: decide it first so the conflict shows early.
            return (u32::MAX, Reverse(0));
        }
        (statistics.conflict_count(), Reverse(count))
    }

    fn choose_version(
        &self,
        package: &Pkg,
        range: &VersionRanges,
    ) -> Result<Option<Version>, Stop> {
        if package.is_root() {
            let version = root_version();
            return Ok(range.contains(&version).then_some(version));
        }
        // The newest release in range; the newest pre-release only when no
        // release fits.
        let mut prerelease = None;
        for version in self
            .universe
            .entries(*package)
            .iter()
            .rev()
            .map(Entry::version)
        {
            if range.contains(version) {
                if version.pre.is_empty() {
                    return Ok(Some(version.clone()));
                }
                prerelease = prerelease.or(Some(version));
            }
        }
        Ok(prerelease.cloned())
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, VersionRanges, String>, Stop> {
        if package.is_root() {
            return Ok(Dependencies::Available(
                self.root
                    .iter()
                    .map(|dep| (dep.pkg, dep.range.clone()))
                    .collect(),
            ));
        }
        let universe: &Universe<'r> = self.universe;
        let Some(entry) = universe.entry(*package, version) else {
            return Ok(Dependencies::Unavailable(
                "this version is not in the registry".to_owned(),
            ));
        };
        let mut deps: Vec<(Pkg, VersionRanges)> = Vec::with_capacity(entry.required.len());
        for edge in &entry.required {
            let to = Pkg(edge.to);
            let range = self.admissible(to, &edge.constraint);
            // Several requirements on one plugin must all hold.
            match deps.iter_mut().find(|(pkg, _)| *pkg == to) {
                Some((_, existing)) => *existing = existing.intersection(&range),
                None => deps.push((to, range)),
            }
        }
        Ok(Dependencies::Available(deps.into_iter().collect()))
    }

    fn should_cancel(&self) -> Result<(), Stop> {
        self.budget.tick()
    }
}
