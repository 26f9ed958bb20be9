//! What to resolve ([`Wanted`]) and how ([`ResolveOptions`], [`Strategy`],
//! [`CircularDependencyMode`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use plugin_version::{Constraint, ConstraintError, Version, VersionPolicy};

/// A plugin the caller wants loaded, with the versions it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Wanted {
    name: Arc<str>,
    constraint: Option<Constraint>,
}

impl Wanted {
    /// Any version of `name` the policy admits: every release, and every
    /// pre-release too when the policy allows pre-releases. (The constraint
    /// `*` is narrower: like npm, it matches no pre-release.)
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Wanted {
            name: name.into(),
            constraint: None,
        }
    }

    /// A version of `name` matching `constraint`.
    pub fn with_constraint(name: impl Into<Arc<str>>, constraint: Constraint) -> Self {
        Wanted {
            name: name.into(),
            constraint: Some(constraint),
        }
    }

    /// The plugin wanted.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The versions accepted; `None` for any version (see [`Wanted::new`]).
    pub fn constraint(&self) -> Option<&Constraint> {
        self.constraint.as_ref()
    }
}

impl fmt::Display for Wanted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.constraint {
            None => f.write_str(&self.name),
            Some(constraint) => write!(f, "{}@{}", self.name, constraint),
        }
    }
}

/// Why `NAME[@CONSTRAINT]` did not parse as a [`Wanted`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WantedParseError {
    /// Nothing before the `@`.
    #[error("empty plugin name in `{input}`")]
    EmptyName {
        /// The text given.
        input: String,
    },
    /// The name breaks the plugin naming rule.
    #[error("{error}")]
    InvalidName {
        /// The text given.
        input: String,
        /// What is wrong with the name.
        error: plugin_manifest::InvalidName,
    },
    /// The constraint after the `@` is invalid.
    #[error("invalid constraint in `{input}`: {error}")]
    Constraint {
        /// The text given.
        input: String,
        /// What is wrong with the constraint.
        error: ConstraintError,
    },
}

impl FromStr for Wanted {
    type Err = WantedParseError;

    /// Parses `NAME` (any version, see [`Wanted::new`]) or
    /// `NAME@CONSTRAINT` (the `plugkit resolve --want` syntax).
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let (name, constraint) = match input.split_once('@') {
            Some((name, constraint)) => (name.trim(), Some(constraint)),
            None => (input.trim(), None),
        };
        if name.is_empty() {
            return Err(WantedParseError::EmptyName {
                input: input.to_owned(),
            });
        }
        // A name no manifest could have is a mistake in the request, not a
        // plugin that happens to be missing.
        plugin_manifest::check_plugin_name(name).map_err(|error| {
            WantedParseError::InvalidName {
                input: input.to_owned(),
                error,
            }
        })?;
        match constraint {
            None => Ok(Wanted::new(name)),
            Some(text) => Constraint::parse(text)
                .map(|constraint| Wanted::with_constraint(name, constraint))
                .map_err(|error| WantedParseError::Constraint {
                    input: input.to_owned(),
                    error,
                }),
        }
    }
}

/// What to do when some wanted plugins cannot be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// All wanted plugins or nothing: any failure is an error.
    #[default]
    Strict,
    /// Drop the wanted plugins that cannot be resolved (and the wanted
    /// plugins that need them), resolve the rest, and report what was
    /// dropped and why.
    BestEffort,
}

/// What to do with a cycle of required dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CircularDependencyMode {
    /// A cycle is an error that names its members in order.
    #[default]
    Reject,
    /// A cycle's members load together, as one group of the load order; a
    /// warning says so.
    Allow,
}

/// How to resolve: the version policy, the strategy, the cycle mode and the
/// bounds that keep an adversarial registry from hanging the host.
///
/// Like every plugkit configuration type, build it from
/// [`ResolveOptions::default`] and the `with_*` methods, one per field (the
/// struct is `#[non_exhaustive]`, so it can grow):
///
/// ```
/// use plugin_resolver::{ResolveOptions, Strategy};
/// let options = ResolveOptions::default()
///     .with_strategy(Strategy::BestEffort)
///     .with_max_steps(50_000);
/// assert_eq!(options.strategy, Strategy::BestEffort);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ResolveOptions {
    /// Which versions are admissible (pre-releases, downgrades, exact
    /// matches), applied inside every range the solver sees.
    pub policy: VersionPolicy,
    /// Strict or best effort.
    pub strategy: Strategy,
    /// Reject or allow cycles of required dependencies.
    pub circular: CircularDependencyMode,
    /// The versions loaded now, by plugin name; the policy judges downgrades
    /// and breaking changes against them.
    pub current: BTreeMap<String, Version>,
    /// Bounds on the search: chain depth, solver steps, time.
    pub limits: ResolveLimits,
}

/// Bounds on one call of [`resolve`](crate::resolve), so that a
/// pathological set of plugins ends in a clear error (naming the bound)
/// instead of a long search. One type for every caller: the host's
/// re-resolutions take it as they are (`HostConfig::resolve_limits`).
///
/// ```
/// use plugin_resolver::{ResolveLimits, ResolveOptions};
/// let limits = ResolveLimits::default().with_max_depth(8);
/// let options = ResolveOptions::default().with_limits(limits);
/// assert_eq!(options.limits.max_depth, 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolveLimits {
    /// The longest chain of required dependencies allowed, counted in
    /// plugins (a wanted plugin alone is a chain of 1; a cycle loaded as one
    /// group counts once).
    pub max_depth: usize,
    /// The most solver steps one call of [`resolve`](crate::resolve) may
    /// take, over all the attempts it makes.
    pub max_steps: u64,
    /// The longest one call of [`resolve`](crate::resolve) may run; `None`
    /// for no time limit (the step bound still holds).
    pub time_limit: Option<Duration>,
}

impl Default for ResolveLimits {
    fn default() -> Self {
        ResolveLimits {
            max_depth: ResolveLimits::DEFAULT_MAX_DEPTH,
            max_steps: ResolveLimits::DEFAULT_MAX_STEPS,
            time_limit: Some(ResolveLimits::DEFAULT_TIME_LIMIT),
        }
    }
}

impl ResolveLimits {
    /// Default of [`ResolveLimits::max_depth`].
    pub const DEFAULT_MAX_DEPTH: usize = 256;
    /// Default of [`ResolveLimits::max_steps`]: far above what a registry
    /// of 10,000 plugins needs, far below what takes seconds.
    pub const DEFAULT_MAX_STEPS: u64 = 1_000_000;
    /// Default of [`ResolveLimits::time_limit`].
    pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(10);

    /// Sets the longest chain of required dependencies allowed (default:
    /// [`DEFAULT_MAX_DEPTH`](Self::DEFAULT_MAX_DEPTH)).
    #[must_use]
    pub fn with_max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Sets the step bound (default: [`DEFAULT_MAX_STEPS`](Self::DEFAULT_MAX_STEPS)).
    #[must_use]
    pub fn with_max_steps(mut self, steps: u64) -> Self {
        self.max_steps = steps;
        self
    }

    /// Sets (or with `None` removes) the time limit (default:
    /// [`DEFAULT_TIME_LIMIT`](Self::DEFAULT_TIME_LIMIT)).
    #[must_use]
    pub fn with_time_limit(mut self, limit: Option<Duration>) -> Self {
        self.time_limit = limit;
        self
    }
}

impl ResolveOptions {
    /// Sets the version policy (default: [`VersionPolicy::default`]).
    #[must_use]
    pub fn with_policy(mut self, policy: VersionPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the strategy (default: [`Strategy::Strict`]).
    #[must_use]
    pub fn with_strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Sets the cycle mode (default: [`CircularDependencyMode::Reject`]).
    #[must_use]
    pub fn with_circular(mut self, circular: CircularDependencyMode) -> Self {
        self.circular = circular;
        self
    }

    /// Sets the versions loaded now, by plugin name (default: none).
    #[must_use]
    pub fn with_current(mut self, current: BTreeMap<String, Version>) -> Self {
        self.current = current;
        self
    }

    /// Sets the bounds on the search (default: [`ResolveLimits::default`]).
    #[must_use]
    pub fn with_limits(mut self, limits: ResolveLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the longest chain of required dependencies allowed (see
    /// [`ResolveLimits::max_depth`]).
    #[must_use]
    pub fn with_max_resolution_depth(mut self, depth: usize) -> Self {
        self.limits.max_depth = depth;
        self
    }

    /// Sets the step bound (see [`ResolveLimits::max_steps`]).
    #[must_use]
    pub fn with_max_steps(mut self, steps: u64) -> Self {
        self.limits.max_steps = steps;
        self
    }

    /// Sets (or with `None` removes) the time limit (see
    /// [`ResolveLimits::time_limit`]).
    #[must_use]
    pub fn with_time_limit(mut self, limit: Option<Duration>) -> Self {
        self.limits.time_limit = limit;
        self
    }
}
