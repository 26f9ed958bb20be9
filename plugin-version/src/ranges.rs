//! [`VersionRanges`]: a set of versions as a pair of [`Ranges`], one asked
//! about releases, one about pre-releases (see the crate docs for why).

use std::fmt;

use version_ranges::Ranges;

use crate::Version;
use crate::constraint::without_build;

/// A set of versions, closed under complement, intersection and union.
///
/// It is a pair of [`Ranges<Version>`]: [`release`](Self::release) decides
/// for versions without a pre-release tag and
/// [`prerelease`](Self::prerelease) for versions with one. This is what
/// lets it represent npm's pre-release rule exactly (see the [crate
/// documentation](crate#ranges-why-a-pair)).
///
/// ```
/// use plugin_version::{Constraint, VersionRanges, parse_version};
///
/// let caret = Constraint::parse("^1.0.0")?.to_ranges();
/// assert!(caret.contains(&parse_version("1.0.2")?));
/// assert!(!caret.contains(&parse_version("1.0.2-alpha")?));
/// assert_eq!(caret.to_string(), ">=1.0.0, <2.0.0 (no pre-releases)");
///
/// let not_caret = caret.complement();
/// assert!(not_caret.contains(&parse_version("1.0.2-alpha")?));
/// assert!(caret.intersection(&not_caret).is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VersionRanges {
    release: Ranges<Version>,
    prerelease: Ranges<Version>,
}

impl VersionRanges {
    /// Builds a set from its two components: `release` is consulted for
    /// versions without a pre-release, `prerelease` for the others (what
    /// each contains of the other kind does not matter).
    pub fn from_parts(release: Ranges<Version>, prerelease: Ranges<Version>) -> Self {
        Self {
            release,
            prerelease,
        }
    }

    /// Every version.
    pub fn full() -> Self {
        Self::from_parts(Ranges::full(), Ranges::full())
    }

    /// No version.
    pub fn empty() -> Self {
        Self::from_parts(Ranges::empty(), Ranges::empty())
    }

    /// Exactly `v`, build metadata included (`1.2.3+a` is not `1.2.3+b`);
    /// what the resolver uses for a chosen version.
    pub fn singleton(v: Version) -> Self {
        if v.pre.is_empty() {
            Self::from_parts(Ranges::singleton(v), Ranges::empty())
        } else {
            Self::from_parts(Ranges::empty(), Ranges::singleton(v))
        }
    }

    /// Every version at least `v` by semver precedence, releases and
    /// pre-releases alike (`v`'s build metadata is ignored, so
    /// `at_least(1.2.3+b)` contains `1.2.3`).
    pub fn at_least(v: &Version) -> Self {
        let v = without_build(v);
        Self::from_parts(Ranges::higher_than(v.clone()), Ranges::higher_than(v))
    }

    /// Whether `v` is in the set: the release component decides for a
    /// version without pre-release, the pre-release component otherwise.
    pub fn contains(&self, v: &Version) -> bool {
        if v.pre.is_empty() {
            self.release.contains(v)
        } else {
            self.prerelease.contains(v)
        }
    }

    /// Every version not in the set.
    pub fn complement(&self) -> Self {
        Self::from_parts(self.release.complement(), self.prerelease.complement())
    }

    /// The versions in both sets.
    pub fn intersection(&self, other: &Self) -> Self {
        Self::from_parts(
            self.release.intersection(&other.release),
            self.prerelease.intersection(&other.prerelease),
        )
    }

    /// The versions in either set.
    pub fn union(&self, other: &Self) -> Self {
        Self::from_parts(
            self.release.union(&other.release),
            self.prerelease.union(&other.prerelease),
        )
    }

    /// Whether the set is empty (as represented: `>1.2.3 <1.2.4`, which no
    /// release can satisfy, is normalised to empty by
    /// [`Constraint::to_ranges`](crate::Constraint::to_ranges)).
    pub fn is_empty(&self) -> bool {
        self.release.is_empty() && self.prerelease.is_empty()
    }

    /// Whether no version is in both sets.
    pub fn is_disjoint(&self, other: &Self) -> bool {
        self.release.is_disjoint(&other.release) && self.prerelease.is_disjoint(&other.prerelease)
    }

    /// Whether every version of `self` is in `other`.
    pub fn subset_of(&self, other: &Self) -> bool {
        self.release.subset_of(&other.release) && self.prerelease.subset_of(&other.prerelease)
    }

    /// The component consulted for versions without a pre-release.
    pub fn release(&self) -> &Ranges<Version> {
        &self.release
    }

    /// The component consulted for versions with a pre-release.
    pub fn prerelease(&self) -> &Ranges<Version> {
        &self.prerelease
    }

    /// The same set without any pre-release.
    pub fn without_prereleases(&self) -> Self {
        Self::from_parts(self.release.clone(), Ranges::empty())
    }
}

impl fmt::Display for VersionRanges {
    /// `>=1.0.0, <2.0.0 (no pre-releases)`, `∅`,
    /// `>=1.0.0, <2.0.0 (pre-releases: >=1.0.0-rc.1, <1.0.0)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.release.is_empty(), self.prerelease.is_empty()) {
            (true, true) => f.write_str("∅"),
            (false, true) => write!(f, "{} (no pre-releases)", self.release),
            (true, false) => write!(f, "pre-releases {}", self.prerelease),
            (false, false) if self.release == self.prerelease => {
                write!(f, "{} (pre-releases included)", self.release)
            }
            (false, false) => write!(f, "{} (pre-releases: {})", self.release, self.prerelease),
        }
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

    fn is_disjoint(&self, other: &Self) -> bool {
        VersionRanges::is_disjoint(self, other)
    }

    fn subset_of(&self, other: &Self) -> bool {
        VersionRanges::subset_of(self, other)
    }
}
