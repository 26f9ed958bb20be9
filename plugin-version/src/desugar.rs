//! Desugaring: parsed syntax to npm's primitive comparators.
//!
//! Every rule here mirrors a function of npm `semver` 7.x
//! `classes/range.js` (`replaceCaret`, `replaceTilde`, `replaceXRange`,
//! `hyphenReplace`) with default options: same outputs, including the
//! `-0` upper bounds that keep pre-releases of the next version out, and
//! the same failures when a desugared number passes `2^53 - 1`.

use std::sync::LazyLock;

use semver::{Prerelease, Version};

use crate::error::ConstraintErrorKind as Kind;
use crate::syntax::{
    Alternative, Component, Item, MAX_SAFE, MAX_VERSION_LEN, Op, Part, PartialVersion,
};

/// A primitive comparison operator (npm's `''`, `>`, `>=`, `<`, `<=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum CmpOp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A primitive comparator such as `>=1.2.3-beta`; its version has no build.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Comparator {
    pub(crate) op: CmpOp,
    pub(crate) version: Version,
}

/// A shape problem: where, and what.
type Problem = (usize, Kind);

/// The parts of a partial version npm actually uses: everything up to the
/// first wildcard (or missing part).
enum Shape {
    /// `*`, `x`, `x.1` ...: the major is a wildcard.
    Any,
    /// `1`, `1.x`, `1.x.3` ...
    Major(u64),
    /// `1.2`, `1.2.x`, `1.2.x-pre` ...
    Minor(u64, u64),
    /// `1.2.3` or `1.2.3-pre` (`pre` empty if none).
    Full(u64, u64, u64, Prerelease),
}

/// A used number: rejected above [`MAX_SAFE`] as npm's `SemVer` does.
fn num(c: Component) -> Result<Option<u64>, Problem> {
    match c.part {
        Part::Wild => Ok(None),
        Part::Num(n) if n <= MAX_SAFE => Ok(Some(n)),
        Part::Num(_) => Err((c.pos, Kind::NumberTooLarge)),
    }
}

/// `n + 1`, failing like npm when the result is not a safe integer.
fn inc(n: u64, pos: usize) -> Result<u64, Problem> {
    n.checked_add(1)
        .filter(|&m| m <= MAX_SAFE)
        .ok_or((pos, Kind::Overflow))
}

/// Reads the used parts of `v`. `verbatim` says npm hands the text as
/// written (with its `v`) to its `SemVer` parser, whose 256-character limit
/// then counts the `v` too.
fn shape(v: &PartialVersion, verbatim: bool) -> Result<Shape, Problem> {
    let Some(major) = num(v.major)? else {
        return Ok(Shape::Any);
    };
    let Some(minor) = v.minor.map(num).transpose()?.flatten() else {
        return Ok(Shape::Major(major));
    };
    let Some(patch) = v.patch.map(num).transpose()?.flatten() else {
        return Ok(Shape::Minor(major, minor));
    };
    let pre = match &v.pre {
        None => Prerelease::EMPTY,
        Some((text, pos)) => {
            let digits = |n: u64| n.checked_ilog10().map_or(1, |d| d as usize + 1);
            let prefix = usize::from(verbatim && v.v);
            let len = prefix + digits(major) + digits(minor) + digits(patch) + 3 + text.len();
            if len > MAX_VERSION_LEN {
                return Err((v.pos, Kind::TooLong));
            }
            Prerelease::new(text).map_err(|_| (*pos, Kind::EmptyIdentifier("pre-release")))?
        }
    };
    Ok(Shape::Full(major, minor, patch, pre))
}

/// Position of a component, for error messages (falls back to the version's).
fn pos_of(c: Option<Component>, v: &PartialVersion) -> usize {
    c.map_or(v.pos, |c| c.pos)
}

fn version(major: u64, minor: u64, patch: u64) -> Version {
    Version::new(major, minor, patch)
}

fn with_pre(mut v: Version, pre: Prerelease) -> Version {
    v.pre = pre;
    v
}

/// `M.m.p-0`: the lowest pre-release of a release.
pub(crate) fn dash_zero(major: u64, minor: u64, patch: u64) -> Version {
    /// The pre-release `0`, parsed once.
    static ZERO: LazyLock<Prerelease> =
        LazyLock::new(|| Prerelease::new("0").unwrap_or(Prerelease::EMPTY));
    with_pre(version(major, minor, patch), ZERO.clone())
}

fn cmp(op: CmpOp, version: Version) -> Comparator {
    Comparator { op, version }
}

/// Pushes a comparator, except that npm's `replaceGTE0` turns a comparator
/// spelled exactly `>=0.0.0` into `*` (which matters: an alternative that
/// is all `*` makes the whole constraint `*`, see [`desugar`]). Only a
/// verbatim `v` prefix (`>=v0.0.0`, `v0.0.0 - 1`) escapes that.
fn push(out: &mut Vec<Comparator>, c: Comparator, verbatim_v: bool) {
    let gte0 = c.op == CmpOp::Ge && c.version == Version::new(0, 0, 0);
    if verbatim_v || !gte0 {
        out.push(c);
    }
}

/// Desugars every alternative into its primitive comparators (an empty
/// list means `*`). As in npm's `Range` constructor, when one alternative
/// is `*` the whole constraint is `*`; this is not a no-op, because `*`
/// admits no pre-release: `* || 1.2.3-beta` does not match `1.2.3-beta`.
pub(crate) fn desugar(alternatives: &[Alternative]) -> Result<Vec<Vec<Comparator>>, Problem> {
    let sets = alternatives_comparators(alternatives)?;
    if sets.iter().any(Vec::is_empty) {
        return Ok(vec![Vec::new()]);
    }
    Ok(sets)
}

fn alternatives_comparators(alternatives: &[Alternative]) -> Result<Vec<Vec<Comparator>>, Problem> {
    alternatives
        .iter()
        .map(|alternative| match alternative {
            Alternative::Hyphen { from, to } => hyphen(from, to),
            Alternative::All(items) => {
                let mut out = Vec::with_capacity(items.len() * 2);
                for item in items {
                    item_comparators(item, &mut out)?;
                }
                Ok(out)
            }
        })
        .collect()
}

fn item_comparators(item: &Item, out: &mut Vec<Comparator>) -> Result<(), Problem> {
    let v = &item.version;
    match item.op {
        Some(Op::Caret) => caret(v, out),
        Some(Op::Tilde) => tilde(v, out),
        Some(Op::Eq) | None => x_range(None, v, out),
        Some(Op::Gt) => x_range(Some(CmpOp::Gt), v, out),
        Some(Op::Ge) => x_range(Some(CmpOp::Ge), v, out),
        Some(Op::Lt) => x_range(Some(CmpOp::Lt), v, out),
        Some(Op::Le) => x_range(Some(CmpOp::Le), v, out),
    }
}

/// npm `replaceCaret`: `^1.2.3` => `>=1.2.3 <2.0.0-0`, `^0.2.3` =>
/// `>=0.2.3 <0.3.0-0`, `^0.0.3` => `>=0.0.3 <0.0.4-0`, `^1.x` => `>=1.0.0 <2.0.0-0`.
fn caret(v: &PartialVersion, out: &mut Vec<Comparator>) -> Result<(), Problem> {
    let major_pos = v.major.pos;
    match shape(v, false)? {
        Shape::Any => {}
        Shape::Major(m) => {
            push(out, cmp(CmpOp::Ge, version(m, 0, 0)), false);
            out.push(cmp(CmpOp::Lt, dash_zero(inc(m, major_pos)?, 0, 0)));
        }
        Shape::Minor(ma, mi) => {
            push(out, cmp(CmpOp::Ge, version(ma, mi, 0)), false);
            let upper = if ma == 0 {
                dash_zero(0, inc(mi, pos_of(v.minor, v))?, 0)
            } else {
                dash_zero(inc(ma, major_pos)?, 0, 0)
            };
            out.push(cmp(CmpOp::Lt, upper));
        }
        Shape::Full(ma, mi, pa, pre) => {
            push(
                out,
                cmp(CmpOp::Ge, with_pre(version(ma, mi, pa), pre)),
                false,
            );
            let upper = match (ma, mi) {
                (0, 0) => dash_zero(0, 0, inc(pa, pos_of(v.patch, v))?),
                (0, _) => dash_zero(0, inc(mi, pos_of(v.minor, v))?, 0),
                _ => dash_zero(inc(ma, major_pos)?, 0, 0),
            };
            out.push(cmp(CmpOp::Lt, upper));
        }
    }
    Ok(())
}

/// npm `replaceTilde`: `~1.2.3` => `>=1.2.3 <1.3.0-0`, `~1` => `>=1.0.0 <2.0.0-0`.
fn tilde(v: &PartialVersion, out: &mut Vec<Comparator>) -> Result<(), Problem> {
    match shape(v, false)? {
        Shape::Any => {}
        Shape::Major(m) => {
            push(out, cmp(CmpOp::Ge, version(m, 0, 0)), false);
            out.push(cmp(CmpOp::Lt, dash_zero(inc(m, v.major.pos)?, 0, 0)));
        }
        Shape::Minor(ma, mi) => {
            push(out, cmp(CmpOp::Ge, version(ma, mi, 0)), false);
            out.push(cmp(
                CmpOp::Lt,
                dash_zero(ma, inc(mi, pos_of(v.minor, v))?, 0),
            ));
        }
        Shape::Full(ma, mi, pa, pre) => {
            push(
                out,
                cmp(CmpOp::Ge, with_pre(version(ma, mi, pa), pre)),
                false,
            );
            out.push(cmp(
                CmpOp::Lt,
                dash_zero(ma, inc(mi, pos_of(v.minor, v))?, 0),
            ));
        }
    }
    Ok(())
}

/// npm's `invalidXRangeOrder`: outside `^`, `~` and hyphen ranges a number
/// may not follow a wildcard (`1.x.3`, `*.1`).
fn check_x_order(v: &PartialVersion) -> Result<(), Problem> {
    let parts = [Some(v.major), v.minor, v.patch];
    let mut wild = false;
    for c in parts.into_iter().flatten() {
        match c.part {
            Part::Wild => wild = true,
            Part::Num(_) if wild => return Err((c.pos, Kind::WildcardOrder)),
            Part::Num(_) => {}
        }
    }
    Ok(())
}

/// npm `replaceXRange` (and plain comparators): `op` is `None` for a bare
/// version or `=`.
fn x_range(
    op: Option<CmpOp>,
    v: &PartialVersion,
    out: &mut Vec<Comparator>,
) -> Result<(), Problem> {
    check_x_order(v)?;
    let major_pos = v.major.pos;
    let minor_pos = pos_of(v.minor, v);
    match (op, shape(v, true)?) {
        (op, Shape::Full(ma, mi, pa, pre)) => {
            let c = cmp(op.unwrap_or(CmpOp::Eq), with_pre(version(ma, mi, pa), pre));
            push(out, c, v.v);
        }
        // `>*`, `<*`: nothing is allowed.
        (Some(CmpOp::Gt | CmpOp::Lt), Shape::Any) => out.push(cmp(CmpOp::Lt, dash_zero(0, 0, 0))),
        // `*`, `>=*`, `<=*`: anything.
        (_, Shape::Any) => {}
        (None, Shape::Major(m)) => {
            push(out, cmp(CmpOp::Ge, version(m, 0, 0)), false);
            out.push(cmp(CmpOp::Lt, dash_zero(inc(m, major_pos)?, 0, 0)));
        }
        (None, Shape::Minor(ma, mi)) => {
            push(out, cmp(CmpOp::Ge, version(ma, mi, 0)), false);
            out.push(cmp(CmpOp::Lt, dash_zero(ma, inc(mi, minor_pos)?, 0)));
        }
        (Some(op), Shape::Major(m)) => push(
            out,
            match op {
                // `>1` => `>=2.0.0`
                CmpOp::Gt => cmp(CmpOp::Ge, version(inc(m, major_pos)?, 0, 0)),
                // `<=1` => `<2.0.0-0`
                CmpOp::Le => cmp(CmpOp::Lt, dash_zero(inc(m, major_pos)?, 0, 0)),
                // `<1` => `<1.0.0-0`
                CmpOp::Lt => cmp(CmpOp::Lt, dash_zero(m, 0, 0)),
                CmpOp::Ge | CmpOp::Eq => cmp(CmpOp::Ge, version(m, 0, 0)),
            },
            false,
        ),
        (Some(op), Shape::Minor(ma, mi)) => push(
            out,
            match op {
                // `>1.2` => `>=1.3.0`
                CmpOp::Gt => cmp(CmpOp::Ge, version(ma, inc(mi, minor_pos)?, 0)),
                // `<=1.2` => `<1.3.0-0`
                CmpOp::Le => cmp(CmpOp::Lt, dash_zero(ma, inc(mi, minor_pos)?, 0)),
                // `<1.2` => `<1.2.0-0`
                CmpOp::Lt => cmp(CmpOp::Lt, dash_zero(ma, mi, 0)),
                CmpOp::Ge | CmpOp::Eq => cmp(CmpOp::Ge, version(ma, mi, 0)),
            },
            false,
        ),
    }
    Ok(())
}

/// npm `hyphenReplace`: `1.2 - 3.4` => `>=1.2.0 <3.5.0-0`,
/// `1.2.3 - 2.3.4` => `>=1.2.3 <=2.3.4`.
fn hyphen(from: &PartialVersion, to: &PartialVersion) -> Result<Vec<Comparator>, Problem> {
    let mut out = Vec::with_capacity(2);
    match shape(from, true)? {
        Shape::Any => {}
        Shape::Major(m) => push(&mut out, cmp(CmpOp::Ge, version(m, 0, 0)), false),
        Shape::Minor(ma, mi) => push(&mut out, cmp(CmpOp::Ge, version(ma, mi, 0)), false),
        Shape::Full(ma, mi, pa, pre) => {
            push(
                &mut out,
                cmp(CmpOp::Ge, with_pre(version(ma, mi, pa), pre)),
                from.v,
            );
        }
    }
    match shape(to, to.pre.is_none())? {
        Shape::Any => {}
        Shape::Major(m) => out.push(cmp(CmpOp::Lt, dash_zero(inc(m, to.major.pos)?, 0, 0))),
        Shape::Minor(ma, mi) => {
            out.push(cmp(
                CmpOp::Lt,
                dash_zero(ma, inc(mi, pos_of(to.minor, to))?, 0),
            ));
        }
        Shape::Full(ma, mi, pa, pre) => {
            out.push(cmp(CmpOp::Le, with_pre(version(ma, mi, pa), pre)))
        }
    }
    Ok(out)
}
