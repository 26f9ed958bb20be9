//! [`VersionPolicy`]: which version changes are allowed.

use crate::{Constraint, Version, VersionRanges};

/// What to do with a breaking change (npm caret semantics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum BreakingChange {
    /// Refuse it.
    Reject,
    /// Allow it with a warning.
    #[default]
    Warn,
    /// Allow it silently.
    Allow,
}

/// Rules for accepting a version change.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct VersionPolicy {
    /// Admit pre-release versions.
    pub allow_prerelease: bool,
    /// Admit a version lower than the current one.
    pub allow_downgrade: bool,
    /// Admit only exact constraints.
    pub require_exact_match: bool,
    /// What to do with breaking changes.
    pub breaking_change: BreakingChange,
}

/// The judgement of [`VersionPolicy::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Fine.
    Allowed,
    /// Allowed, but worth a warning.
    AllowedWithWarning(Reason),
    /// Refused.
    Refused(Reason),
}

/// Why a change is refused or warned about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// A pre-release while pre-releases are not allowed.
    #[error("{candidate} is a pre-release and pre-releases are not allowed")]
    Prerelease {
        /// The proposed version.
        candidate: Version,
    },
    /// A downgrade.
    #[error("{candidate} is lower than the loaded {current} and downgrades are not allowed")]
    Downgrade {
        /// Loaded version.
        current: Version,
        /// Proposed version.
        candidate: Version,
    },
    /// A breaking change.
    #[error("{candidate} is a breaking change from the loaded {current}")]
    Breaking {
        /// Loaded version.
        current: Version,
        /// Proposed version.
        candidate: Version,
    },
    /// A range constraint while exact matches are required.
    #[error("constraint `{constraint}` is not an exact version and exact matches are required")]
    NotExact {
        /// The constraint.
        constraint: Constraint,
    },
    /// The candidate does not satisfy the constraint.
    #[error("{candidate} does not satisfy `{constraint}`")]
    Unsatisfied {
        /// The constraint.
        constraint: Constraint,
        /// Proposed version.
        candidate: Version,
    },
}

impl VersionPolicy {
    /// Judges a proposed change.
    pub fn check(
        &self,
        _current: Option<&Version>,
        _candidate: &Version,
        _constraint: Option<&Constraint>,
    ) -> Verdict {
        Verdict::Allowed
    }
    /// The versions this policy admits.
    pub fn admissible(&self, constraint: &Constraint, _current: Option<&Version>) -> VersionRanges {
        constraint.to_ranges()
    }
}
