//! The [`Constraint`] type: parsing, matching and conversion to ranges.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use semver::Prerelease;
use version_ranges::Ranges;

use crate::desugar::{self, CmpOp, Comparator};
use crate::error::{ConstraintError, ConstraintErrorKind};
use crate::{Version, VersionRanges, syntax};

/// A parsed npm-style version constraint such as `^1.2.0`, `>=1.0.0, <2.0.0`
/// or `1.2.x || >=3.0.0-rc.1`.
///
/// Matching follows npm `semver`'s `satisfies()`; see the [crate
/// documentation](crate) for the syntax and the few deliberate differences.
/// Two constraints are equal when their (trimmed) texts are equal.
#[derive(Clone, Debug)]
pub struct Constraint {
    text: String,
    /// The `||` alternatives that can match anything, as precomputed bounds.
    sets: Vec<Set>,
    /// `Some(v)` when the constraint admits exactly `v` (build metadata aside).
    exact: Option<Version>,
}

/// One alternative, reduced to an interval of precedence plus the release
/// tuples whose pre-releases it may admit (npm's pre-release rule).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Set {
    /// Inclusive lower bound, without build metadata; `None` = unbounded.
    lower: Option<Version>,
    /// Exclusive upper bound, without build metadata; `None` = unbounded.
    upper: Option<Version>,
    /// `(major, minor, patch)` of every comparator that carries a pre-release.
    tuples: Vec<(u64, u64, u64)>,
}

impl PartialEq for Constraint {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Constraint {}

impl Hash for Constraint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

/// The smallest version whose precedence is above `v`'s (above every
/// `v+build` too): `x.y.(z+1)-0` for a release, `x.y.z-pre.0` for a
/// pre-release. `None` when nothing is above (all numbers `u64::MAX`).
pub(crate) fn successor(v: &Version) -> Option<Version> {
    if !v.pre.is_empty() {
        let pre = Prerelease::new(&format!("{}.0", v.pre)).ok()?;
        let mut next = Version::new(v.major, v.minor, v.patch);
        next.pre = pre;
        return Some(next);
    }
    if let Some(patch) = v.patch.checked_add(1) {
        return Some(desugar::dash_zero(v.major, v.minor, patch));
    }
    if let Some(minor) = v.minor.checked_add(1) {
        return Some(desugar::dash_zero(v.major, minor, 0));
    }
    v.major
        .checked_add(1)
        .map(|major| desugar::dash_zero(major, 0, 0))
}

/// `v` without build metadata.
pub(crate) fn without_build(v: &Version) -> Version {
    let mut v = v.clone();
    v.build = semver::BuildMetadata::EMPTY;
    v
}

impl Set {
    /// Intersects the comparators of one alternative. `None` if it is empty.
    fn from_comparators(comparators: &[Comparator]) -> Option<Set> {
        let mut set = Set {
            lower: None,
            upper: None,
            tuples: Vec::new(),
        };
        for c in comparators {
            let v = &c.version;
            match c.op {
                CmpOp::Eq => {
                    set.raise(v.clone());
                    set.lower_upper(successor(v));
                }
                CmpOp::Ge => set.raise(v.clone()),
                CmpOp::Gt => set.raise(successor(v)?),
                CmpOp::Lt => set.lower_upper(Some(v.clone())),
                CmpOp::Le => set.lower_upper(successor(v)),
            }
            let tuple = (v.major, v.minor, v.patch);
            if !v.pre.is_empty() && !set.tuples.contains(&tuple) {
                set.tuples.push(tuple);
            }
        }
        match (&set.lower, &set.upper) {
            (Some(lower), Some(upper)) if lower >= upper => None,
            _ => Some(set),
        }
    }

    fn raise(&mut self, lower: Version) {
        if self.lower.as_ref().is_none_or(|l| *l < lower) {
            self.lower = Some(lower);
        }
    }

    /// Lowers the upper bound to `upper` (`None` = no bound, no change).
    fn lower_upper(&mut self, upper: Option<Version>) {
        if let Some(upper) = upper
            && self.upper.as_ref().is_none_or(|u| upper < *u)
        {
            self.upper = Some(upper);
        }
    }

    #[inline]
    fn matches(&self, v: &Version) -> bool {
        if let Some(lower) = &self.lower
            && v.cmp_precedence(lower) == Ordering::Less
        {
            return false;
        }
        if let Some(upper) = &self.upper
            && v.cmp_precedence(upper) != Ordering::Less
        {
            return false;
        }
        v.pre.is_empty() || self.tuples.contains(&(v.major, v.minor, v.patch))
    }

    fn to_ranges(&self) -> VersionRanges {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let lower = self.lower.clone().map_or(Unbounded, Included);
        let upper = self.upper.clone().map_or(Unbounded, Excluded);
        let interval = Ranges::from_range_bounds((lower, upper));
        let allowed =
            self.tuples
                .iter()
                .fold(Ranges::empty(), |acc: Ranges<Version>, &(ma, mi, pa)| {
                    acc.union(&Ranges::between(
                        desugar::dash_zero(ma, mi, pa),
                        Version::new(ma, mi, pa),
                    ))
                });
        let prerelease = interval.intersection(&allowed);
        // The release component is only asked about releases: a bound
        // `x.y.z-pre` admits or excludes exactly the releases `x.y.z` does,
        // so drop pre-releases from bounds to keep the representation
        // canonical (`>1.2.3 <1.2.4` is then empty, not `[1.2.4-0, 1.2.4)`).
        let release_bound = |v: &Version| Version::new(v.major, v.minor, v.patch);
        let lower = self
            .lower
            .as_ref()
            .map_or(Unbounded, |v| Included(release_bound(v)));
        let upper = self
            .upper
            .as_ref()
            .map_or(Unbounded, |v| Excluded(release_bound(v)));
        let release = if upper == Excluded(Version::new(0, 0, 0)) {
            // `<0.0.0`: no release is below 0.0.0
            Ranges::empty()
        } else {
            Ranges::from_range_bounds((lower, upper))
        };
        VersionRanges::from_parts(release, prerelease)
    }

    /// `Some(v)` if this set admits exactly `v` (build metadata aside).
    fn exact(&self) -> Option<&Version> {
        let lower = self.lower.as_ref()?;
        let admits_lower = lower.pre.is_empty()
            || self
                .tuples
                .contains(&(lower.major, lower.minor, lower.patch));
        (admits_lower && self.upper == successor(lower)).then_some(lower)
    }
}

impl Constraint {
    /// Parses a constraint; see the [crate documentation](crate) for the syntax.
    ///
    /// ```
    /// use plugin_version::{Constraint, parse_version};
    ///
    /// let c = Constraint::parse("^1.2.0 || >=3.0.0-rc.1")?;
    /// assert!(c.matches(&parse_version("1.9.0")?));
    /// assert!(!c.matches(&parse_version("2.0.0")?));
    /// assert!(c.matches(&parse_version("3.0.0-rc.2")?));
    /// assert_eq!(
    ///     Constraint::parse("^^1").unwrap_err().to_string(),
    ///     "invalid constraint `^^1` at position 1: expected a version after `^`"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(text: &str) -> Result<Constraint, ConstraintError> {
        let trimmed = syntax::trim(text);
        let offset = text.len() - text.trim_start_matches(syntax::is_space).len();
        let fail = |pos: usize, kind| ConstraintError::new(text, offset + pos, kind);
        if trimmed.is_empty() {
            return Err(ConstraintError::new(text, 0, ConstraintErrorKind::Empty));
        }
        let alternatives =
            syntax::parse_constraint(trimmed).map_err(|e| fail(e.position(), e.kind().clone()))?;
        let comparators = desugar::desugar(&alternatives).map_err(|(pos, kind)| fail(pos, kind))?;
        Ok(Self::from_comparators(trimmed.to_owned(), &comparators))
    }

    fn from_comparators(text: String, alternatives: &[Vec<Comparator>]) -> Constraint {
        let sets: Vec<Set> = alternatives
            .iter()
            .filter_map(|c| Set::from_comparators(c))
            .collect();
        let mut constraint = Constraint {
            text,
            sets,
            exact: None,
        };
        constraint.exact = constraint.find_exact();
        constraint
    }

    /// The single version admitted, if every alternative admits just it.
    fn find_exact(&self) -> Option<Version> {
        let first = self.sets.first()?.exact()?;
        self.sets
            .iter()
            .all(|set| set.exact() == Some(first))
            .then(|| first.clone())
    }

    /// `*`: every version without a pre-release.
    pub fn any() -> Constraint {
        Self::from_comparators("*".to_owned(), &[Vec::new()])
    }

    /// `=version`: exactly `version` (its build metadata is ignored, as npm
    /// does). The text is `={version}`, which parses back to an equal
    /// constraint unless a number of `version` is above `2^53 - 1`.
    pub fn exact(version: &Version) -> Constraint {
        let bare = without_build(version);
        let comparator = Comparator {
            op: CmpOp::Eq,
            version: bare.clone(),
        };
        let sets: Vec<Set> = Set::from_comparators(&[comparator]).into_iter().collect();
        Constraint {
            text: format!("={version}"),
            sets,
            exact: Some(bare),
        }
    }

    /// Whether `version` satisfies the constraint, exactly as npm's
    /// `semver.satisfies(version, constraint)` answers.
    #[inline]
    pub fn matches(&self, version: &Version) -> bool {
        self.sets.iter().any(|set| set.matches(version))
    }

    /// The set of versions this constraint matches, as a [`VersionRanges`]
    /// pair; `c.to_ranges().contains(v) == c.matches(v)` for every `v`.
    pub fn to_ranges(&self) -> VersionRanges {
        self.sets.iter().fold(VersionRanges::empty(), |acc, set| {
            acc.union(&set.to_ranges())
        })
    }

    /// The text as written (trimmed); [`Display`](fmt::Display) prints it too.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `Some(v)` iff the constraint admits exactly `v` (and `v+build` for any
    /// build metadata), e.g. for `1.2.3`, `=1.2.3` or `>=1.2.3 <=1.2.3`.
    /// The returned version has no build metadata.
    pub fn exact_version(&self) -> Option<&Version> {
        self.exact.as_ref()
    }
}

impl FromStr for Constraint {
    type Err = ConstraintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Constraint::parse(s)
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Whether `version` satisfies `constraint`; the same as
/// [`constraint.matches(version)`](Constraint::matches).
pub fn satisfies(version: &Version, constraint: &Constraint) -> bool {
    constraint.matches(version)
}

#[cfg(feature = "serde")]
impl serde::Serialize for Constraint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Constraint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Constraint::parse(&text).map_err(serde::de::Error::custom)
    }
}
