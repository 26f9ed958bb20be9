//! [`VersionPolicy`]: which version changes are acceptable, and why not.

use std::cmp::Ordering;
use std::ops::Bound::{Excluded, Included, Unbounded};

use version_ranges::Ranges;

use crate::constraint::without_build;
use crate::desugar::dash_zero;
use crate::{Constraint, Version, VersionRanges};

/// What to do with a breaking change: a candidate npm's caret considers
/// incompatible with the loaded version (another major for `>=1.0.0`,
/// another minor for `0.x`, another patch for `0.0.x`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum BreakingChange {
    /// Refuse it.
    Reject,
    /// Allow it, with a warning.
    #[default]
    Warn,
    /// Allow it silently.
    Allow,
}

/// Rules for accepting a version of a plugin, given what is loaded now.
///
/// The default refuses pre-releases and downgrades, accepts range
/// constraints and warns about breaking changes. Like every plugkit
/// configuration type it is built from [`Default`] and the `with_*`
/// methods (the struct is `#[non_exhaustive]`, so it can grow):
///
/// ```
/// use plugin_version::{BreakingChange, VersionPolicy};
///
/// let policy = VersionPolicy::default()
///     .with_allow_prerelease(true)
///     .with_breaking_change(BreakingChange::Reject);
/// assert!(policy.allow_prerelease && !policy.allow_downgrade);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct VersionPolicy {
    /// Admit versions with a pre-release tag (`2.0.0-rc.1`). Default `false`.
    pub allow_prerelease: bool,
    /// Admit a version lower than the loaded one. Default `false`.
    pub allow_downgrade: bool,
    /// Admit a version only when it was asked for by an exact constraint
    /// (`1.2.3`, `=1.2.3`) and equals it; range constraints are refused.
    /// Default `false`.
    pub require_exact_match: bool,
    /// What to do with breaking changes. Default [`BreakingChange::Warn`].
    pub breaking_change: BreakingChange,
}

/// The judgement of [`VersionPolicy::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The change is acceptable.
    Allowed,
    /// The change is acceptable, but someone should hear about it.
    AllowedWithWarning(Reason),
    /// The change is refused.
    Refused(Reason),
}

impl Verdict {
    /// Whether the change may go ahead (with or without a warning).
    pub fn is_allowed(&self) -> bool {
        !matches!(self, Verdict::Refused(_))
    }

    /// The reason of a warning or refusal.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Verdict::Allowed => None,
            Verdict::AllowedWithWarning(reason) | Verdict::Refused(reason) => Some(reason),
        }
    }
}

/// Why a change is refused or warned about. Display is a lowercase sentence.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// The candidate is a pre-release and pre-releases are not allowed.
    #[error("{candidate} is a pre-release and pre-releases are not allowed")]
    Prerelease {
        /// The proposed version.
        candidate: Version,
    },
    /// The candidate is lower than the loaded version.
    #[error("{candidate} is lower than the loaded {current} and downgrades are not allowed")]
    Downgrade {
        /// The loaded version.
        current: Version,
        /// The proposed version.
        candidate: Version,
    },
    /// The candidate is a breaking change from the loaded version.
    #[error("{candidate} is a breaking change from the loaded {current}")]
    Breaking {
        /// The loaded version.
        current: Version,
        /// The proposed version.
        candidate: Version,
    },
    /// Exact matches are required but the constraint is a range.
    #[error("constraint `{constraint}` is a range and exact version matches are required")]
    NotExact {
        /// The constraint that asked for the candidate.
        constraint: Constraint,
    },
    /// Exact matches are required but no constraint asked for the candidate.
    #[error(
        "{candidate} was not asked for by an exact constraint and exact version matches are required"
    )]
    NoConstraint {
        /// The proposed version.
        candidate: Version,
    },
    /// The candidate does not satisfy the constraint that asked for it.
    #[error("{candidate} does not satisfy `{constraint}`")]
    Unsatisfied {
        /// The constraint that asked for the candidate.
        constraint: Constraint,
        /// The proposed version.
        candidate: Version,
    },
}

/// Whether `candidate` is a breaking change from `current` (npm caret rules).
pub(crate) fn is_breaking(current: &Version, candidate: &Version) -> bool {
    match (current.major, current.minor) {
        (0, 0) => (candidate.major, candidate.minor, candidate.patch) != (0, 0, current.patch),
        (0, minor) => (candidate.major, candidate.minor) != (0, minor),
        (major, _) => candidate.major != major,
    }
}

/// Every version that is not a breaking change from `current`.
fn compatible_with(current: &Version) -> VersionRanges {
    let (lower, upper) = match (current.major, current.minor) {
        (0, 0) => (
            dash_zero(0, 0, current.patch),
            current.patch.checked_add(1).map(|p| dash_zero(0, 0, p)),
        ),
        (0, minor) => (
            dash_zero(0, minor, 0),
            minor.checked_add(1).map(|m| dash_zero(0, m, 0)),
        ),
        (major, _) => (
            dash_zero(major, 0, 0),
            major.checked_add(1).map(|m| dash_zero(m, 0, 0)),
        ),
    };
    let upper = upper.map_or(Unbounded, Excluded);
    let set = Ranges::from_range_bounds((Included(lower), upper));
    VersionRanges::from_parts(set.clone(), set)
}

impl VersionPolicy {
    /// Sets [`allow_prerelease`](Self::allow_prerelease) (default `false`).
    #[must_use]
    pub fn with_allow_prerelease(mut self, allow: bool) -> Self {
        self.allow_prerelease = allow;
        self
    }

    /// Sets [`allow_downgrade`](Self::allow_downgrade) (default `false`).
    #[must_use]
    pub fn with_allow_downgrade(mut self, allow: bool) -> Self {
        self.allow_downgrade = allow;
        self
    }

    /// Sets [`require_exact_match`](Self::require_exact_match) (default `false`).
    #[must_use]
    pub fn with_require_exact_match(mut self, require: bool) -> Self {
        self.require_exact_match = require;
        self
    }

    /// Sets [`breaking_change`](Self::breaking_change) (default
    /// [`BreakingChange::Warn`]).
    #[must_use]
    pub fn with_breaking_change(mut self, breaking_change: BreakingChange) -> Self {
        self.breaking_change = breaking_change;
        self
    }

    /// Judges a proposed change: `current` (`None` = nothing loaded yet)
    /// to `candidate`, optionally under the `constraint` that asked for it.
    ///
    /// Checks, in order: exactness (if required), the constraint,
    /// pre-release, downgrade, breaking change. With a constraint, the
    /// verdict is not [`Verdict::Refused`] exactly when
    /// [`admissible`](Self::admissible) contains the candidate.
    ///
    /// ```
    /// use plugin_version::{Constraint, VersionPolicy, Verdict, parse_version};
    ///
    /// let policy = VersionPolicy::default();
    /// let current = parse_version("1.4.0")?;
    /// let wanted: Constraint = "^1.0.0".parse()?;
    /// let verdict = policy.check(Some(&current), &parse_version("1.3.0")?, Some(&wanted));
    /// assert_eq!(
    ///     verdict.reason().unwrap().to_string(),
    ///     "1.3.0 is lower than the loaded 1.4.0 and downgrades are not allowed"
    /// );
    /// assert_eq!(policy.check(Some(&current), &parse_version("1.5.0")?, Some(&wanted)), Verdict::Allowed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check(
        &self,
        current: Option<&Version>,
        candidate: &Version,
        constraint: Option<&Constraint>,
    ) -> Verdict {
        if self.require_exact_match {
            match constraint {
                None => {
                    return Verdict::Refused(Reason::NoConstraint {
                        candidate: candidate.clone(),
                    });
                }
                Some(c) if c.exact_version().is_none() => {
                    return Verdict::Refused(Reason::NotExact {
                        constraint: c.clone(),
                    });
                }
                Some(_) => {}
            }
        }
        if let Some(c) = constraint
            && !c.matches(candidate)
        {
            return Verdict::Refused(Reason::Unsatisfied {
                constraint: c.clone(),
                candidate: candidate.clone(),
            });
        }
        if !self.allow_prerelease && !candidate.pre.is_empty() {
            return Verdict::Refused(Reason::Prerelease {
                candidate: candidate.clone(),
            });
        }
        let Some(current) = current else {
            return Verdict::Allowed;
        };
        if !self.allow_downgrade && candidate.cmp_precedence(current) == Ordering::Less {
            return Verdict::Refused(Reason::Downgrade {
                current: current.clone(),
                candidate: candidate.clone(),
            });
        }
        if is_breaking(current, candidate) {
            let reason = Reason::Breaking {
                current: current.clone(),
                candidate: candidate.clone(),
            };
            match self.breaking_change {
                BreakingChange::Reject => return Verdict::Refused(reason),
                BreakingChange::Warn => return Verdict::AllowedWithWarning(reason),
                BreakingChange::Allow => {}
            }
        }
        Verdict::Allowed
    }

    /// The set of versions this policy admits for `constraint` given what is
    /// loaded now: the constraint, without pre-releases unless allowed, at
    /// least `current` unless downgrades are allowed, no breaking change
    /// from `current` if those are rejected, and nothing at all for a range
    /// constraint when exact matches are required. The resolver searches
    /// inside this set.
    pub fn admissible(&self, constraint: &Constraint, current: Option<&Version>) -> VersionRanges {
        if self.require_exact_match && constraint.exact_version().is_none() {
            return VersionRanges::empty();
        }
        let mut set = constraint.to_ranges();
        if !self.allow_prerelease {
            set = set.without_prereleases();
        }
        if let Some(current) = current {
            if !self.allow_downgrade {
                set = set.intersection(&VersionRanges::at_least(&without_build(current)));
            }
            if self.breaking_change == BreakingChange::Reject {
                set = set.intersection(&compatible_with(current));
            }
        }
        set
    }
}
