//! Semver versions, npm-style constraints, pubgrub ranges and the version
//! policy of plugkit.
//!
//! A plugin manifest says `"version": "1.4.0"` and asks for its dependencies
//! with constraints such as `"^1.2.0"` or `">=2.0.0, <3.0.0"`. This crate
//! parses both, answers "does this version satisfy that constraint?" exactly
//! as npm's `semver` package does, turns constraints into sets of versions
//! the PubGrub resolver can compute with, and judges whether a proposed
//! version change is acceptable under a [`VersionPolicy`].
//!
//! ```
//! use plugin_version::{
//!     BreakingChange, Constraint, Reason, Verdict, VersionPolicy, parse_version, satisfies,
//! };
//!
//! let constraint: Constraint = "^1.2.0 || >=3.0.0-rc.1".parse()?;
//! let v = |s| parse_version(s);
//! assert!(satisfies(&v("1.9.0")?, &constraint));
//! assert!(!satisfies(&v("2.0.0")?, &constraint));
//! // pre-releases match only when a comparator names one of the same x.y.z
//! assert!(satisfies(&v("3.0.0-rc.2")?, &constraint));
//! assert!(!satisfies(&v("1.9.1-beta")?, &constraint));
//! // build metadata is ignored, as npm ignores it
//! assert!(satisfies(&v("1.2.0+linux.x64")?, &constraint));
//!
//! // the same set, as a pair of `version_ranges::Ranges` for the resolver
//! let ranges = constraint.to_ranges();
//! assert!(ranges.contains(&v("3.0.0-rc.2")?) && !ranges.contains(&v("1.9.1-beta")?));
//!
//! // errors point at the offending character
//! let err = Constraint::parse(">=1.2.3 <2.0.0.1").unwrap_err();
//! assert_eq!(err.position(), 14);
//! assert_eq!(
//!     err.to_string(),
//!     "invalid constraint `>=1.2.3 <2.0.0.1` at position 14: a version has at most three numbers"
//! );
//!
//! // policy: may the loaded 1.4.0 be replaced by 2.0.0?
//! let policy = VersionPolicy::default().with_breaking_change(BreakingChange::Reject);
//! let verdict = policy.check(Some(&v("1.4.0")?), &v("2.0.0")?, None);
//! assert!(matches!(verdict, Verdict::Refused(Reason::Breaking { .. })));
//! assert_eq!(
//!     verdict.reason().map(ToString::to_string).as_deref(),
//!     Some("2.0.0 is a breaking change from the loaded 1.4.0")
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Versions
//!
//! [`Version`] is [`semver::Version`], re-exported. [`parse_version`] reads
//! strict semver 2.0 (`1.2.3`, `1.2.3-rc.1+build.5`; no `v` prefix, no
//! surrounding whitespace, no leading zeros) with npm's two limits: every
//! number is at most `2^53 - 1` and the text is at most 256 bytes.
//!
//! # Constraint syntax and meaning
//!
//! [`Constraint`] follows npm `semver` 7.x `satisfies(version, range)` with
//! default options (not loose, no `includePrerelease`); the reference is
//! npm's `classes/range.js`, and a differential test runs thousands of
//! generated cases through the real package.
//!
//! | written | means |
//! |---|---|
//! | `1.2.3`, `=1.2.3`, `v1.2.3` | exactly 1.2.3 (unlike Cargo, where a bare version means `^`) |
//! | `>1.2.3` `>=1.2.3` `<1.2.3` `<=1.2.3` | comparisons; `>= 1.2.3` (space after the operator) is fine |
//! | `^1.2.3` / `^0.2.3` / `^0.0.3` | `>=1.2.3 <2.0.0-0` / `>=0.2.3 <0.3.0-0` / `>=0.0.3 <0.0.4-0` |
//! | `~1.2.3`, `~>1.2.3` | `>=1.2.3 <1.3.0-0`; `~1` is `>=1.0.0 <2.0.0-0` |
//! | `*`, `x`, `1.x`, `1.2.X`, `1`, `1.2` | wildcards and partial versions: `1.2` is `>=1.2.0 <1.3.0-0` |
//! | `>1.2` / `<=1.2` / `<1.2` | `>=1.3.0` / `<1.3.0-0` / `<1.2.0-0`; `>*` and `<*` match nothing |
//! | `1.2.3 - 2.3` | hyphen range: `>=1.2.3 <2.4.0-0` (a partial upper end is rounded up) |
//! | `A B`, `A, B` | AND: both must hold (whitespace, or our comma) |
//! | `A \|\| B` | OR |
//!
//! Build metadata in a constraint (`^1.2.3+build`) is accepted and ignored.
//!
//! **Pre-releases.** A version with a pre-release tag (`1.2.4-beta`)
//! satisfies an AND-set only if every comparator holds *and* some
//! comparator of the set names a pre-release of the same `major.minor.patch`.
//! So `^1.2.3` does not match `1.2.4-beta`, `^1.2.3-alpha` matches
//! `1.2.3-beta` but not `1.2.4-beta`, and `*` matches no pre-release. Like
//! npm, an OR whose alternative is `*` (or `>=0.0.0`) is `*` as a whole:
//! `* || 1.2.3-beta` does not match `1.2.3-beta`.
//!
//! **Build metadata** never affects a comparison (npm ignores it), even
//! though `semver::Version`'s `Ord` orders `1.2.3 < 1.2.3+build`: `<=1.2.3`
//! includes `1.2.3+build` and `>1.2.3` excludes it.
//!
//! ## Where we knowingly differ from npm
//!
//! Apart from the comma (item 2), every difference is a constraint npm
//! accepts and we reject; whenever both accept a constraint, the answers
//! are the same for every version npm can represent. Limits are npm's: a
//! number above `2^53 - 1`, or one that desugaring would push above it
//! (`^9007199254740991`), and a version longer than 256 characters are
//! errors for both.
//!
//! 1. **Empty text and empty alternatives are errors.** npm reads `""`,
//!    blank text, `"1.2.3 ||"` and `"|| 1.2.3"` as `*`; a manifest with an
//!    empty constraint is far more likely a mistake.
//! 2. **Comma as AND** (`>=1.0.0, <2.0.0`) is our extension, so manifests
//!    written with Cargo habits work; npm rejects commas. A comma must stand
//!    between two comparators (no leading, trailing or doubled commas) and
//!    cannot join a hyphen range to anything.
//! 3. **npm's loose mode is not supported** (`1.2.3beta`, `01.02.03`,
//!    `1.2.3-01`, ...): we implement npm's default, strict mode only.
//! 4. **Malformed text npm's regular expressions happen to tolerate is
//!    rejected:** npm deletes `+build` runs anywhere (`>=1.0.0 +x`,
//!    `1.2.3+a+b`), deletes a stray `*` (`1.2.3*`), skips any run of `v`,
//!    `=` and spaces before a version (`vv1.2`, `^=1.2.3`, `~>=1.2`,
//!    `>==1.2`, and `=1.2 - 2`, though it rejects `=1.2.3 - 2`), and glues
//!    operators across spaces (`> =1.2.3`, `~ >1.2`). We accept one optional
//!    `v` before a version (`v1.2.3`, `=v1.2.3`, `^v1.2`, `>= v1.2.3`), one
//!    `+build` right after a version (full or partial), and whitespace only
//!    between an operator and its version; a hyphen range's ends take no
//!    `=`. The differential test checks every such case it generates by
//!    applying npm's rewrite and comparing answers.
//! 5. **Numbers.** Versions built in Rust may use any `u64`; npm cannot
//!    represent numbers above `2^53 - 1`, so text containing them is
//!    rejected (as npm rejects it), but a [`Version`] made in code with a
//!    larger number is compared exactly. Numeric pre-release identifiers
//!    above `2^53 - 1` are compared exactly too (npm compares them as
//!    floating-point numbers).
//!
//! # Ranges: why a pair
//!
//! The resolver (PubGrub, through the `pubgrub` feature) computes with sets
//! of versions: complement, intersection, union. `version_ranges::Ranges`
//! is a finite union of intervals of [`Version`]s, and *one* such value
//! cannot represent npm's pre-release rule: `^1.0.0` must contain `1.0.1`
//! and `1.0.2` but not `1.0.1-alpha` or `1.0.2-alpha`, and in semver order
//! those interleave (`1.0.1-alpha < 1.0.1 < 1.0.2-alpha < 1.0.2`), so no
//! finite union of intervals contains exactly the right ones.
//!
//! [`VersionRanges`] is therefore a **pair** of `Ranges<Version>`:
//! `release`, asked only about versions without a pre-release, and
//! `prerelease`, asked only about versions with one. For an AND-set whose
//! comparators bound the interval `I`, and whose comparators that carry a
//! pre-release name the release tuples `T`:
//!
//! * `release = I`
//! * `prerelease = I ∩ ⋃_{t ∈ T} [t-0, t)` (all pre-releases of `t`)
//!
//! and an OR is the componentwise union. The pair is closed under
//! complement, intersection and union (componentwise), so it implements
//! `pubgrub::VersionSet` exactly, and
//! `constraint.to_ranges().contains(v) == constraint.matches(v)` for every
//! version (a property test checks it, with pre-releases and build metadata).
//!
//! Bounds are chosen so build metadata cannot leak through `semver`'s
//! `Ord`: every bound carries no build metadata; an upper bound is
//! exclusive and a lower bound inclusive, using the successor of a version
//! for strict comparisons: above every `x.y.z+build` lies `x.y.(z+1)-0`,
//! above every `x.y.z-pre+build` lies `x.y.z-pre.0`. So `<=1.2.3` is
//! `<1.2.4-0` and `>1.2.3` is `>=1.2.4-0`.
//!
//! # Policy
//!
//! [`VersionPolicy`] decides whether a version change is acceptable:
//! pre-releases, downgrades, breaking changes (what npm's caret considers
//! incompatible: another major for `>=1.0.0`, another minor for `0.x`,
//! another patch for `0.0.x`), and exact-only constraints.
//! [`VersionPolicy::check`] judges one candidate with a [`Reason`];
//! [`VersionPolicy::admissible`] gives the whole admitted set as
//! [`VersionRanges`] for the resolver, and the two always agree.
//!
//! # Features
//!
//! * `pubgrub`: `impl pubgrub::VersionSet for VersionRanges`.
//! * `serde`: `Serialize`/`Deserialize` for [`Constraint`], as its text.
#![deny(missing_docs)]

mod constraint;
mod desugar;
mod error;
mod policy;
mod ranges;
mod syntax;

pub use constraint::{Constraint, satisfies};
pub use error::{ConstraintError, ConstraintErrorKind, VersionError};
pub use policy::{BreakingChange, Reason, Verdict, VersionPolicy};
pub use ranges::VersionRanges;
pub use semver::Version;
pub use version_ranges::Ranges;

/// Parses a strict semver 2.0 version such as `1.2.3` or `1.2.3-rc.1+build.5`.
///
/// Numbers above `2^53 - 1` and texts longer than 256 bytes are rejected, as
/// npm rejects them. The error quotes the input and points at the byte.
///
/// ```
/// let v = plugin_version::parse_version("1.2.3-rc.1")?;
/// assert_eq!((v.major, v.minor, v.patch), (1, 2, 3));
/// let err = plugin_version::parse_version("1.2.x").unwrap_err();
/// assert_eq!(err.position(), 4);
/// assert_eq!(
///     err.to_string(),
///     "invalid version `1.2.x` at position 4: expected the patch version number, found `x`"
/// );
/// # Ok::<(), plugin_version::VersionError>(())
/// ```
pub fn parse_version(text: &str) -> Result<Version, VersionError> {
    syntax::parse_version(text)
}
