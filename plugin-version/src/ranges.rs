//! [`VersionRanges`]: a pair of [`Ranges`], one for releases, one for pre-releases.

use std::fmt;

use version_ranges::Ranges;

use crate::Version;

/// A set of versions as a pair of ranges.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VersionRanges {
    release: Ranges<Version>,
    prerelease: Ranges<Version>,
}

impl VersionRanges {
    /// Builds from the two components.
    pub fn from_parts(release: Ranges<Version>, prerelease: Ranges<Version>) -> Self {
        Self { release, prerelease }
    }
    /// Every version.
    pub fn full() -> Self {
        Self::from_parts(Ranges::full(), Ranges::full())
    }
    /// No version.
    pub fn empty() -> Self {
        Self::from_parts(Ranges::empty(), Ranges::empty())
    }
    /// Exactly `v`.
    pub fn singleton(v: Version) -> Self {
        if v.pre.is_empty() {
            Self::from_parts(Ranges::singleton(v), Ranges::empty())
        } else {
            Self::from_parts(Ranges::empty(), Ranges::singleton(v))
        }
    }
    /// Every version `>= v`.
    pub fn at_least(v: &Version) -> Self {
        Self::from_parts(Ranges::higher_than(v.clone()), Ranges::higher_than(v.clone()))
    }
    /// Membership.
    pub fn contains(&self, v: &Version) -> bool {
        if v.pre.is_empty() {
            self.release.contains(v)
        } else {
            self.prerelease.contains(v)
        }
    }
    /// Complement.
    pub fn complement(&self) -> Self {
        Self::from_parts(self.release.complement(), self.prerelease.complement())
    }
    /// Intersection.
    pub fn intersection(&self, other: &Self) -> Self {
        Self::from_parts(
            self.release.intersection(&other.release),
            self.prerelease.intersection(&other.prerelease),
        )
    }
    /// Union.
    pub fn union(&self, other: &Self) -> Self {
        Self::from_parts(
            self.release.union(&other.release),
            self.prerelease.union(&other.prerelease),
        )
    }
    /// Emptiness.
    pub fn is_empty(&self) -> bool {
        self.release.is_empty() && self.prerelease.is_empty()
    }
    /// Release component.
    pub fn release(&self) -> &Ranges<Version> {
        &self.release
    }
    /// Pre-release component.
    pub fn prerelease(&self) -> &Ranges<Version> {
        &self.prerelease
    }
    /// Drops the pre-release component.
    pub fn without_prereleases(&self) -> Self {
        Self::from_parts(self.release.clone(), Ranges::empty())
    }
}

impl fmt::Display for VersionRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "releases {} and pre-releases {}", self.release, self.prerelease)
    }
}

#[cfg(feature = "pubgrub")]
impl pubgrub::VersionSet for VersionRanges {
    type V = Version;
    fn empty() -> Self {
        VersionRanges::empty()
    }
    fn singleton(v: Version) -> Self {
        VersionRanges::singleton(v)
    }
    fn complement(&self) -> Self {
        VersionRanges::complement(self)
    }
    fn intersection(&self, other: &Self) -> Self {
        VersionRanges::intersection(self, other)
    }
    fn contains(&self, v: &Version) -> bool {
        VersionRanges::contains(self, v)
    }
    fn full() -> Self {
        VersionRanges::full()
    }
    fn union(&self, other: &Self) -> Self {
        VersionRanges::union(self, other)
    }
}
