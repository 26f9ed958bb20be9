//! Why a resolution failed: [`ResolveError`], the structured [`Failure`] and
//! its [`VersionConflict`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use plugin_version::{Constraint, Version};

/// A requirement that no available version satisfies, alone or together
/// with the other requirements on the same plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionConflict {
    pub(crate) plugin: Option<(String, Version)>,
    pub(crate) dependency: String,
    pub(crate) constraint: Constraint,
    pub(crate) available: Vec<Version>,
}

impl VersionConflict {
    /// The plugin that requires [`dependency`](Self::dependency); `None` when
    /// the requirement is the caller's own (a wanted plugin).
    pub fn plugin(&self) -> Option<&str> {
        self.plugin.as_ref().map(|(name, _)| name.as_str())
    }

    /// The version of [`plugin`](Self::plugin) that has the requirement.
    pub fn plugin_version(&self) -> Option<&Version> {
        self.plugin.as_ref().map(|(_, version)| version)
    }

    /// The plugin required.
    pub fn dependency(&self) -> &str {
        &self.dependency
    }

    /// The versions required.
    pub fn constraint(&self) -> &Constraint {
        &self.constraint
    }

    /// Every version of the dependency in the registry, oldest first.
    pub fn available(&self) -> &[Version] {
        &self.available
    }
}

impl VersionConflict {
    fn key(&self) -> (Option<&(String, Version)>, &str, &str, &[Version]) {
        (
            self.plugin.as_ref(),
            &self.dependency,
            self.constraint.as_str(),
            &self.available,
        )
    }
}

impl PartialOrd for VersionConflict {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for VersionConflict {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for VersionConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.plugin {
            Some((name, version)) => write!(f, "{name} {version} requires ")?,
            None => f.write_str("wanted: ")?,
        }
        write!(f, "{} {}", self.dependency, self.constraint)?;
        if self.available.is_empty() {
            f.write_str(" (no version available)")
        } else {
            f.write_str(" (available: ")?;
            for (i, version) in self.available.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{version}")?;
            }
            f.write_str(")")
        }
    }
}

/// A setting of [`ResolveOptions`](crate::ResolveOptions) that would (or
/// may) change a failed answer, so a front end can name its own switch for
/// it (`plugkit resolve` names its flags). `Display` says it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Hint {
    /// [`VersionPolicy::allow_prerelease`](plugin_version::VersionPolicy::allow_prerelease):
    /// a version that fits is a pre-release the policy refuses.
    AllowPrerelease,
    /// [`VersionPolicy::allow_downgrade`](plugin_version::VersionPolicy::allow_downgrade):
    /// a version that fits is lower than the one loaded now.
    AllowDowngrade,
    /// [`VersionPolicy::breaking_change`](plugin_version::VersionPolicy::breaking_change):
    /// a version that fits is a breaking change from the one loaded now.
    AllowBreakingChange,
    /// [`VersionPolicy::require_exact_match`](plugin_version::VersionPolicy::require_exact_match):
    /// exact matches are required and a constraint is a range.
    AllowRangeConstraints,
    /// [`ResolveOptions::circular`](crate::ResolveOptions::circular): a cycle
    /// of required dependencies is rejected.
    AllowCycles,
    /// [`ResolveLimits::time_limit`](crate::ResolveLimits::time_limit):
    /// the resolution ran out of time.
    RaiseTimeLimit,
    /// [`ResolveLimits::max_steps`](crate::ResolveLimits::max_steps): the
    /// resolution ran out of solver steps.
    RaiseStepLimit,
    /// [`ResolveLimits::max_depth`](crate::ResolveLimits::max_depth):
    /// a chain of required dependencies is longer than allowed.
    RaiseDepthLimit,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hint::AllowPrerelease => "allowing pre-release versions may change this",
            Hint::AllowDowngrade => "allowing downgrades may change this",
            Hint::AllowBreakingChange => "allowing breaking changes may change this",
            Hint::AllowRangeConstraints => {
                "accepting range constraints, not only exact versions, may change this"
            }
            Hint::AllowCycles => {
                "allowing cycles, whose members then load together as one group, would change this"
            }
            Hint::RaiseTimeLimit => "a larger time limit may let the resolution finish",
            Hint::RaiseStepLimit => "a larger step budget may let the resolution finish",
            Hint::RaiseDepthLimit => "a larger maximum depth would allow this chain",
        })
    }
}

/// Why no set of plugin versions satisfies the wanted plugins: structured,
/// and explained in words.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Failure {
    pub(crate) explanation: String,
    pub(crate) unresolved: BTreeMap<String, BTreeSet<String>>,
    pub(crate) missing_wanted: BTreeSet<String>,
    pub(crate) conflicts: Vec<VersionConflict>,
    pub(crate) cycles: Vec<Vec<String>>,
    pub(crate) hints: Vec<Hint>,
}

impl Failure {
    /// The explanation: why, step by step, in terms of plugins and versions.
    pub fn explanation(&self) -> &str {
        &self.explanation
    }

    /// Required plugins that are not in the registry at all, by the plugin
    /// that requires them.
    pub fn unresolved_dependencies(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.unresolved
    }

    /// Wanted plugins that are not in the registry at all.
    pub fn missing_wanted(&self) -> &BTreeSet<String> {
        &self.missing_wanted
    }

    /// Requirements no available version satisfies.
    pub fn version_conflicts(&self) -> &[VersionConflict] {
        &self.conflicts
    }

    /// Cycles of required dependencies, each as its members in order: `[a,
    /// b, c]` means a requires b, b requires c and c requires a.
    pub fn circular_dependencies(&self) -> &[Vec<String>] {
        &self.cycles
    }

    /// The settings that would (or may) change this answer, sorted; the
    /// explanation says each in words.
    pub fn hints(&self) -> &[Hint] {
        &self.hints
    }

    /// One line for an error message.
    pub(crate) fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.missing_wanted.is_empty() {
            let names: Vec<&str> = self.missing_wanted.iter().map(String::as_str).collect();
            parts.push(format!("not found: {}", names.join(", ")));
        }
        if !self.unresolved.is_empty() {
            let names: BTreeSet<&str> = self
                .unresolved
                .values()
                .flatten()
                .map(String::as_str)
                .collect();
            let names: Vec<&str> = names.into_iter().collect();
            parts.push(format!("missing dependencies: {}", names.join(", ")));
        }
        if !self.conflicts.is_empty() {
            let names: BTreeSet<&str> = self
                .conflicts
                .iter()
                .map(|conflict| conflict.dependency.as_str())
                .collect();
            let names: Vec<&str> = names.into_iter().collect();
            parts.push(format!("version conflicts on: {}", names.join(", ")));
        }
        for cycle in &self.cycles {
            parts.push(format!("dependency cycle: {}", cycle_text(cycle)));
        }
        if parts.is_empty() {
            "the requirements cannot all hold".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// `a -> b -> c -> a`.
pub(crate) fn cycle_text(cycle: &[String]) -> String {
    let mut text = cycle.join(" -> ");
    if let Some(first) = cycle.first() {
        text.push_str(" -> ");
        text.push_str(first);
    }
    text
}

/// Why [`resolve`](crate::resolve) returned no resolution.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// No set of plugin versions satisfies the requirements, or (with
    /// [`CircularDependencyMode::Reject`](crate::CircularDependencyMode::Reject))
    /// the one found has a cycle of required dependencies.
    #[error("no resolution: {}", .0.summary())]
    NoSolution(Box<Failure>),
    /// The chosen plugins form a chain of required dependencies longer than
    /// [`ResolveLimits::max_depth`](crate::ResolveLimits::max_depth).
    #[error(
        "the chain of required dependencies {} is {} plugins long, more than the maximum of {max}; {}",
        .chain.join(" -> "), .chain.len(), Hint::RaiseDepthLimit
    )]
    TooDeep {
        /// The maximum allowed.
        max: usize,
        /// The longest chain, from the dependent to its last dependency.
        chain: Vec<String>,
    },
    /// The solver used up its step or time budget.
    #[error(
        "resolution stopped: {reason} after {steps} steps and {} ms; {}",
        .elapsed.as_millis(), .reason.hint()
    )]
    Cancelled {
        /// Which bound was hit.
        reason: CancelReason,
        /// Solver steps taken.
        steps: u64,
        /// Time spent.
        elapsed: Duration,
    },
    /// The solver failed in a way it never should; a bug, please report it.
    #[error("internal resolver error: {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
}

/// Which bound stopped the solver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelReason {
    /// [`ResolveLimits::max_steps`](crate::ResolveLimits::max_steps).
    StepLimit(u64),
    /// [`ResolveLimits::time_limit`](crate::ResolveLimits::time_limit).
    TimeLimit(Duration),
}

impl CancelReason {
    /// The setting that may let the resolution finish.
    pub fn hint(&self) -> Hint {
        match self {
            CancelReason::StepLimit(_) => Hint::RaiseStepLimit,
            CancelReason::TimeLimit(_) => Hint::RaiseTimeLimit,
        }
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelReason::StepLimit(max) => {
                write!(f, "the limit of {max} solver steps was reached")
            }
            CancelReason::TimeLimit(limit) => {
                write!(f, "the time limit of {} ms was reached", limit.as_millis())
            }
        }
    }
}

static EMPTY_MAP: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
static EMPTY_SET: BTreeSet<String> = BTreeSet::new();

impl ResolveError {
    /// The structured failure, when there is no solution.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            ResolveError::NoSolution(failure) => Some(failure),
            _ => None,
        }
    }

    /// See [`Failure::unresolved_dependencies`]; empty for other errors.
    pub fn unresolved_dependencies(&self) -> &BTreeMap<String, BTreeSet<String>> {
        self.failure()
            .map_or(&EMPTY_MAP, Failure::unresolved_dependencies)
    }

    /// See [`Failure::missing_wanted`]; empty for other errors.
    pub fn missing_wanted(&self) -> &BTreeSet<String> {
        self.failure().map_or(&EMPTY_SET, Failure::missing_wanted)
    }

    /// See [`Failure::version_conflicts`]; empty for other errors.
    pub fn version_conflicts(&self) -> &[VersionConflict] {
        self.failure().map_or(&[], Failure::version_conflicts)
    }

    /// See [`Failure::circular_dependencies`]; empty for other errors.
    pub fn circular_dependencies(&self) -> &[Vec<String>] {
        self.failure().map_or(&[], Failure::circular_dependencies)
    }

    /// The settings that would (or may) change this answer: a pre-release,
    /// downgrade, breaking change or range the policy refuses, a rejected
    /// cycle, or a bound that was reached. Empty when no setting would help.
    ///
    /// ```
    /// use plugin_resolver::{Candidate, Hint, Registry, ResolveOptions, Wanted, resolve};
    ///
    /// let mut registry = Registry::new();
    /// registry.add(Candidate::new("engine", plugin_version::parse_version("2.0.0-rc.1")?))?;
    /// let error = resolve(&registry, &[Wanted::new("engine")], &ResolveOptions::default())
    ///     .unwrap_err();
    /// assert_eq!(error.hints(), [Hint::AllowPrerelease]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn hints(&self) -> Vec<Hint> {
        match self {
            ResolveError::NoSolution(failure) => failure.hints.clone(),
            ResolveError::TooDeep { .. } => vec![Hint::RaiseDepthLimit],
            ResolveError::Cancelled { reason, .. } => vec![reason.hint()],
            ResolveError::Internal { .. } => Vec::new(),
        }
    }

    /// The human explanation: the derivation for [`ResolveError::NoSolution`],
    /// the error message otherwise.
    pub fn explanation(&self) -> String {
        match self {
            ResolveError::NoSolution(failure) => failure.explanation.clone(),
            other => other.to_string(),
        }
    }
}
