//! Error types: [`VersionError`] and [`ConstraintError`], both pointing at a byte position.

use std::fmt;

/// Largest number of bytes of the input quoted in an error message.
const WINDOW: usize = 60;

/// Why a version string was rejected by [`parse_version`](crate::parse_version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version `{quoted}` at position {position}: {message}", quoted = Quoted(&self.input, self.position))]
pub struct VersionError {
    input: String,
    position: usize,
    message: String,
}

impl VersionError {
    pub(crate) fn new(input: &str, position: usize, message: impl Into<String>) -> Self {
        Self {
            input: input.to_owned(),
            position: position.min(input.len()),
            message: message.into(),
        }
    }

    /// The text that was parsed.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Byte offset in [`input`](Self::input) where the problem was found.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What is wrong, without the quoted input (lowercase, no trailing period).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// What kind of mistake a [`ConstraintError`] reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConstraintErrorKind {
    /// The constraint text is empty or blank (npm would read it as `*`; we do not).
    #[error("empty constraint")]
    Empty,
    /// An alternative between `||` is empty (npm would read it as `*`; we do not).
    #[error("empty alternative around `||`")]
    EmptyAlternative,
    /// An operator (`^`, `~`, `>=`, ...) is not followed by a version.
    #[error("expected a version after `{0}`")]
    ExpectedVersionAfter(String),
    /// A number or wildcard was expected (after `v` or `.`).
    #[error("expected a number, `x` or `*`")]
    ExpectedPart,
    /// A version number has a leading zero.
    #[error("version numbers must not have leading zeros")]
    LeadingZero,
    /// A version number is above `2^53 - 1`, npm's largest safe integer.
    #[error("version number is larger than 9007199254740991")]
    NumberTooLarge,
    /// Desugaring produced a version number above `2^53 - 1` (npm rejects it too).
    #[error("the next version number after this one is larger than 9007199254740991")]
    Overflow,
    /// A version is longer than 256 characters (npm's limit).
    #[error("version is longer than 256 characters")]
    TooLong,
    /// A pre-release or build identifier is empty (e.g. `1.2.3-`, `1.2.3+a..b`).
    #[error("empty {0} identifier")]
    EmptyIdentifier(&'static str),
    /// A numeric pre-release identifier has a leading zero (`1.2.3-01`).
    #[error("numeric pre-release identifiers must not have leading zeros")]
    LeadingZeroIdentifier,
    /// A version has more than three numbers (`1.2.3.4`).
    #[error("a version has at most three numbers")]
    TooManyParts,
    /// A pre-release follows a partial version (`1.2-beta`).
    #[error("a pre-release needs a full `major.minor.patch` version")]
    PrereleaseOnPartial,
    /// A number follows a wildcard outside `^`, `~` and hyphen ranges (`1.x.3`).
    #[error("a number cannot follow a wildcard")]
    WildcardOrder,
    /// A hyphen range lacks its lower or upper end.
    #[error("hyphen range is missing the version on its {0}")]
    IncompleteHyphen(&'static str),
    /// A hyphen range is combined with other comparators in the same alternative.
    #[error("a hyphen range must be `version - version` alone between `||`")]
    HyphenNotAlone,
    /// The `-` of a hyphen range lacks whitespace on one side.
    #[error("a hyphen range needs whitespace on both sides of `-`")]
    HyphenSpacing,
    /// Two comparators are not separated by whitespace or a comma.
    #[error("expected whitespace, `,` or `||` before `{}`", .0.escape_debug())]
    MissingSeparator(char),
    /// A comma with no comparator before or after it.
    #[error("expected a comparator on both sides of `,`")]
    EmptyComma,
    /// A character that cannot appear here.
    #[error("unexpected character `{}`", .0.escape_debug())]
    UnexpectedChar(char),
}

/// Why a constraint string was rejected by [`Constraint::parse`](crate::Constraint::parse).
///
/// Display is one lowercase line quoting the input (a window around the
/// position for long input), e.g.
/// ``invalid constraint `^^1` at position 1: expected a version after `^` ``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid constraint `{quoted}` at position {position}: {kind}", quoted = Quoted(&self.input, self.position))]
pub struct ConstraintError {
    input: String,
    position: usize,
    kind: ConstraintErrorKind,
}

impl ConstraintError {
    pub(crate) fn new(input: &str, position: usize, kind: ConstraintErrorKind) -> Self {
        Self {
            input: input.to_owned(),
            position: position.min(input.len()),
            kind,
        }
    }

    /// The text that was parsed (as given, untrimmed).
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Byte offset in [`input`](Self::input) where the problem was found.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What is wrong.
    pub fn kind(&self) -> &ConstraintErrorKind {
        &self.kind
    }
}

/// Displays `input`, or a window of it around `position` with `...` marks
/// when it is longer than [`WINDOW`] bytes; control characters are escaped
/// so the message stays on one line.
struct Quoted<'a>(&'a str, usize);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Quoted(input, position) = *self;
        let (start, end) = if input.len() <= WINDOW {
            (0, input.len())
        } else {
            let start = floor_char_boundary(input, position.saturating_sub(WINDOW / 2));
            let end = floor_char_boundary(input, start.saturating_add(WINDOW).min(input.len()));
            (start, end)
        };
        if start > 0 {
            f.write_str("...")?;
        }
        for c in input.get(start..end).unwrap_or_default().chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_debug())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        if end < input.len() {
            f.write_str("...")?;
        }
        Ok(())
    }
}

/// The largest char boundary of `s` not above `index`.
fn floor_char_boundary(s: &str, index: usize) -> usize {
    let mut i = index.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
