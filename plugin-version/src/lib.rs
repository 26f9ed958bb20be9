//! Semver versions, npm-style constraints, pubgrub ranges and the version policy of plugkit.
#![deny(missing_docs)]

mod constraint;
mod desugar;
mod error;
mod policy;
mod ranges;
mod syntax;

pub use constraint::{satisfies, Constraint};
pub use error::{ConstraintError, ConstraintErrorKind, VersionError};
pub use policy::{BreakingChange, Reason, Verdict, VersionPolicy};
pub use ranges::VersionRanges;
pub use semver::Version;
pub use version_ranges::Ranges;

/// Parses a strict semver 2.0 version such as `1.2.3-rc.1+build.5`.
pub fn parse_version(text: &str) -> Result<Version, VersionError> {
    syntax::parse_version(text)
}
