//! Tokenizer and parser for constraint text and for plain versions.
//!
//! The grammar (whitespace is any of the characters JavaScript's `\s`
//! matches, as npm splits on those):
//!
//! ```text
//! constraint  := alternative ( "||" alternative )*
//! alternative := hyphen | comparator ( ( ws | "," ) comparator )*
//! hyphen      := version ws "-" ws version
//! comparator  := op? ws? version
//! op          := "^" | "~" | "~>" | "=" | ">" | ">=" | "<" | "<="
//! version     := "v"? part ( "." part ( "." part pre? )? )? build?
//! part        := "0" | [1-9][0-9]* | "x" | "X" | "*"
//! pre         := "-" ident ( "." ident )*
//! build       := "+" ident ( "." ident )*
//! ```
//!
//! The parser only checks the shape; [`crate::desugar`] gives it npm's meaning.

use crate::error::{ConstraintError, ConstraintErrorKind as Kind, VersionError};

/// npm's `Number.MAX_SAFE_INTEGER`: larger version numbers are rejected.
pub(crate) const MAX_SAFE: u64 = 9_007_199_254_740_991;

/// npm's `MAX_LENGTH`: longer version strings are rejected.
pub(crate) const MAX_VERSION_LEN: usize = 256;

/// Whether `c` is whitespace for npm: exactly the characters of its
/// `WHITESPACE_CHARACTERS` list, which is what JavaScript's `\s` and
/// `String.prototype.trim` use.
pub(crate) fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// `text` without leading and trailing npm whitespace.
pub(crate) fn trim(text: &str) -> &str {
    text.trim_matches(is_space)
}

/// One of the three numbers of a version, or a wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// A number; saturates at `u64::MAX` (anything above [`MAX_SAFE`] is
    /// rejected when it is used).
    Num(u64),
    /// `x`, `X` or `*`.
    Wild,
}

/// A [`Part`] and where it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Component {
    pub(crate) part: Part,
    pub(crate) pos: usize,
}

/// A version as written in a constraint: possibly partial, possibly wild.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PartialVersion {
    /// Byte offset of the version (of its `v` prefix if any).
    pub(crate) pos: usize,
    /// Whether the version was written with a `v` prefix.
    pub(crate) v: bool,
    pub(crate) major: Component,
    pub(crate) minor: Option<Component>,
    pub(crate) patch: Option<Component>,
    /// The pre-release text (without `-`) and its byte offset.
    pub(crate) pre: Option<(String, usize)>,
}

/// A comparison or range operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Caret,
    Tilde,
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

/// One comparator of an alternative: an optional operator and a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) op: Option<Op>,
    pub(crate) version: PartialVersion,
}

/// One `||`-separated alternative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Alternative {
    /// `from - to`.
    Hyphen {
        from: Box<PartialVersion>,
        to: Box<PartialVersion>,
    },
    /// Comparators that must all hold.
    All(Vec<Item>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum TokenKind {
    Or,
    Comma,
    Hyphen,
    Op(Op),
    Version(PartialVersion),
    /// A malformed version; lexing goes on after it so that an earlier
    /// mistake (found by the parser) is reported first.
    Bad(usize, Kind),
    /// A character that starts no token; the parser words the error.
    Stray(char),
    End,
}

#[derive(Clone, Debug)]
struct Token {
    kind: TokenKind,
    start: usize,
    end: usize,
    /// Whether whitespace came right before this token.
    spaced: bool,
}

/// Reads characters from the input, keeping the byte position.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.text
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    fn peek_byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn peek_byte_at(&self, offset: usize) -> Option<u8> {
        self.text.as_bytes().get(self.pos + offset).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek_byte() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips whitespace; returns whether there was any.
    fn skip_space(&mut self) -> bool {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|&c| is_space(c)) {
            self.pos += c.len_utf8();
        }
        self.pos > start
    }

    /// Reads a run of ASCII digits; returns (value saturated at u64::MAX, length).
    fn digits(&mut self) -> (u64, usize) {
        let start = self.pos;
        let mut value: u64 = 0;
        while let Some(b) = self.peek_byte().filter(u8::is_ascii_digit) {
            value = value.saturating_mul(10).saturating_add(u64::from(b - b'0'));
            self.pos += 1;
        }
        (value, self.pos - start)
    }

    /// Reads `[0-9A-Za-z-]*`.
    fn ident(&mut self) -> &'a str {
        let start = self.pos;
        while self
            .peek_byte()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            self.pos += 1;
        }
        self.text.get(start..self.pos).unwrap_or_default()
    }
}

/// A shape problem found while scanning: where, and what.
type Problem = (usize, Kind);

/// Reads a numeric version part with npm's rules (no leading zero).
fn number(cur: &mut Cursor<'_>) -> Result<Option<u64>, Problem> {
    let start = cur.pos;
    let (value, len) = cur.digits();
    if len == 0 {
        return Ok(None);
    }
    if len > 1 && cur.text.as_bytes().get(start) == Some(&b'0') {
        return Err((start, Kind::LeadingZero));
    }
    Ok(Some(value))
}

/// Reads one part: a number or a wildcard.
fn component(cur: &mut Cursor<'_>, wild_ok: bool) -> Result<Component, Problem> {
    let pos = cur.pos;
    if let Some(value) = number(cur)? {
        return Ok(Component {
            part: Part::Num(value),
            pos,
        });
    }
    if wild_ok && matches!(cur.peek_byte(), Some(b'x' | b'X' | b'*')) {
        cur.pos += 1;
        return Ok(Component {
            part: Part::Wild,
            pos,
        });
    }
    Err((pos, Kind::ExpectedPart))
}

/// Reads dot-separated identifiers after a `-` or `+`; returns the text.
fn identifiers<'a>(cur: &mut Cursor<'a>, pre: bool) -> Result<&'a str, Problem> {
    let start = cur.pos;
    loop {
        let ident_start = cur.pos;
        let ident = cur.ident();
        if ident.is_empty() {
            let kind = if pre {
                Kind::EmptyIdentifier("pre-release")
            } else {
                Kind::EmptyIdentifier("build")
            };
            return Err((ident_start, kind));
        }
        if pre
            && ident.len() > 1
            && ident.starts_with('0')
            && ident.bytes().all(|b| b.is_ascii_digit())
        {
            return Err((ident_start, Kind::LeadingZeroIdentifier));
        }
        if !cur.eat(b'.') {
            break;
        }
    }
    Ok(cur.text.get(start..cur.pos).unwrap_or_default())
}

/// Reads a version as written in a constraint, stopping before the next
/// separator; `pos` is at `v`, a digit or a wildcard.
fn partial_version(cur: &mut Cursor<'_>) -> Result<PartialVersion, Problem> {
    let pos = cur.pos;
    let v = cur.eat(b'v');
    let major = component(cur, true)?;
    let mut minor = None;
    let mut patch = None;
    if cur.eat(b'.') {
        minor = Some(component(cur, true)?);
        if cur.eat(b'.') {
            patch = Some(component(cur, true)?);
        }
    }
    let mut pre = None;
    if cur.peek_byte() == Some(b'-') {
        if patch.is_none() {
            return Err((cur.pos, Kind::PrereleaseOnPartial));
        }
        cur.pos += 1;
        let at = cur.pos;
        pre = Some((identifiers(cur, true)?.to_owned(), at));
    }
    if cur.eat(b'+') {
        identifiers(cur, false)?;
    }
    match cur.peek() {
        None | Some(',' | '|') => {}
        Some(c) if is_space(c) => {}
        Some('.') if patch.is_some() => return Err((cur.pos, Kind::TooManyParts)),
        Some(c @ ('<' | '>' | '=' | '^' | '~')) => {
            return Err((cur.pos, Kind::MissingSeparator(c)));
        }
        Some(c) => return Err((cur.pos, Kind::UnexpectedChar(c))),
    }
    Ok(PartialVersion {
        pos,
        v,
        major,
        minor,
        patch,
        pre,
    })
}

/// Splits constraint text into tokens, one at a time.
struct Lexer<'a> {
    cur: Cursor<'a>,
}

impl Lexer<'_> {
    /// Skips what is left of a malformed token.
    fn skip_to_delimiter(&mut self) {
        while let Some(c) = self.cur.peek() {
            if is_space(c) || c == ',' || c == '|' {
                break;
            }
            self.cur.pos += c.len_utf8();
        }
    }

    fn next(&mut self) -> Token {
        let spaced = self.cur.skip_space();
        let start = self.cur.pos;
        let Some(c) = self.cur.peek() else {
            return Token {
                kind: TokenKind::End,
                start,
                end: start,
                spaced,
            };
        };
        let one = |kind| (kind, 1);
        let two_if = |next: u8, long, short| {
            if self.cur.peek_byte_at(1) == Some(next) {
                (long, 2)
            } else {
                (short, 1)
            }
        };
        let (kind, len) = match c {
            '|' if self.cur.peek_byte_at(1) == Some(b'|') => (TokenKind::Or, 2),
            ',' => one(TokenKind::Comma),
            '-' => one(TokenKind::Hyphen),
            '^' => one(TokenKind::Op(Op::Caret)),
            '~' => two_if(b'>', TokenKind::Op(Op::Tilde), TokenKind::Op(Op::Tilde)),
            '>' => two_if(b'=', TokenKind::Op(Op::Ge), TokenKind::Op(Op::Gt)),
            '<' => two_if(b'=', TokenKind::Op(Op::Le), TokenKind::Op(Op::Lt)),
            '=' => one(TokenKind::Op(Op::Eq)),
            'v' | 'x' | 'X' | '*' | '0'..='9' => {
                let kind = match partial_version(&mut self.cur) {
                    Ok(version) => TokenKind::Version(version),
                    Err((pos, kind)) => {
                        self.skip_to_delimiter();
                        TokenKind::Bad(pos, kind)
                    }
                };
                return Token {
                    kind,
                    start,
                    end: self.cur.pos,
                    spaced,
                };
            }
            other => (TokenKind::Stray(other), other.len_utf8()),
        };
        self.cur.pos += len;
        Token {
            kind,
            start,
            end: self.cur.pos,
            spaced,
        }
    }
}

/// Parses constraint text (already trimmed, non-empty) into alternatives.
pub(crate) fn parse_constraint(text: &str) -> Result<Vec<Alternative>, ConstraintError> {
    parse_alternatives(text).map_err(|(pos, kind)| ConstraintError::new(text, pos, kind))
}

fn parse_alternatives(text: &str) -> Result<Vec<Alternative>, Problem> {
    let mut lexer = Lexer {
        cur: Cursor::new(text),
    };
    let mut alternatives = Vec::new();
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next();
        match token.kind {
            TokenKind::Or | TokenKind::End => {
                let end = matches!(token.kind, TokenKind::End);
                alternatives.push(alternative(text, &mut tokens, token.start)?);
                if end {
                    return Ok(alternatives);
                }
            }
            _ => tokens.push(token),
        }
    }
}

/// Builds one alternative from its tokens (consumed); `end` is where it stops.
fn alternative(text: &str, tokens: &mut Vec<Token>, end: usize) -> Result<Alternative, Problem> {
    let is_hyphen = |i: usize| {
        tokens
            .get(i)
            .is_some_and(|t| matches!(t.kind, TokenKind::Hyphen))
    };
    match tokens.len() {
        0 => return Err((end, Kind::EmptyAlternative)),
        3 if is_hyphen(1) => return hyphen(tokens, end),
        1 | 2 if is_hyphen(0) => {
            let at = tokens.first().map_or(end, |t| t.start);
            return Err((at, Kind::IncompleteHyphen("left")));
        }
        2 if is_hyphen(1) => return Err((end, Kind::IncompleteHyphen("right"))),
        _ => {}
    }
    let mut items = Vec::with_capacity(tokens.len());
    // Whether a comparator may start here: at the start or after a comma.
    let mut separated = true;
    let mut iter = tokens.drain(..).peekable();
    while let Some(token) = iter.next() {
        let missing_separator = !separated && !token.spaced;
        match token.kind {
            TokenKind::Comma => {
                let next = iter.peek().map(|t| &t.kind);
                if separated || matches!(next, None | Some(TokenKind::Comma)) {
                    return Err((token.start, Kind::EmptyComma));
                }
                separated = true;
                continue;
            }
            TokenKind::Op(_) | TokenKind::Version(_) if missing_separator => {
                let c = first_char(text, token.start);
                return Err((token.start, Kind::MissingSeparator(c)));
            }
            TokenKind::Op(op) => match iter.next() {
                Some(Token {
                    kind: TokenKind::Version(version),
                    ..
                }) => items.push(Item {
                    op: Some(op),
                    version,
                }),
                Some(Token {
                    kind: TokenKind::Bad(pos, kind),
                    ..
                }) => return Err((pos, kind)),
                next => {
                    let at = next.map_or(end, |t| t.start);
                    let op_text = text.get(token.start..token.end).unwrap_or_default();
                    return Err((at, Kind::ExpectedVersionAfter(op_text.to_owned())));
                }
            },
            TokenKind::Version(version) => items.push(Item { op: None, version }),
            TokenKind::Stray(c) => return Err((token.start, Kind::UnexpectedChar(c))),
            TokenKind::Bad(pos, kind) => return Err((pos, kind)),
            TokenKind::Hyphen => return Err((token.start, Kind::HyphenNotAlone)),
            TokenKind::Or | TokenKind::End => {
                let c = first_char(text, token.start);
                return Err((token.start, Kind::UnexpectedChar(c)));
            }
        }
        separated = false;
    }
    Ok(Alternative::All(items))
}

fn first_char(text: &str, pos: usize) -> char {
    text.get(pos..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or(' ')
}

/// Parses `from - to`: exactly three tokens (consumed), the middle one a hyphen.
fn hyphen(tokens: &mut Vec<Token>, end: usize) -> Result<Alternative, Problem> {
    let mut drain = tokens.drain(..);
    let (Some(from), Some(hyphen), Some(to), None) =
        (drain.next(), drain.next(), drain.next(), drain.next())
    else {
        return Err((end, Kind::HyphenNotAlone));
    };
    let side = |token: Token| match token.kind {
        TokenKind::Version(v) => Ok(Box::new(v)),
        TokenKind::Bad(pos, kind) => Err((pos, kind)),
        TokenKind::Stray(c) => Err((token.start, Kind::UnexpectedChar(c))),
        _ => Err((hyphen.start, Kind::HyphenNotAlone)),
    };
    let from = side(from)?;
    if !hyphen.spaced || !to.spaced {
        return Err((hyphen.start, Kind::HyphenSpacing));
    }
    let to = side(to)?;
    Ok(Alternative::Hyphen { from, to })
}

/// Parses a strict semver 2.0 version: `MAJOR.MINOR.PATCH[-PRE][+BUILD]`,
/// numbers at most [`MAX_SAFE`], at most [`MAX_VERSION_LEN`] bytes.
pub(crate) fn parse_version(text: &str) -> Result<semver::Version, VersionError> {
    let fail = |pos: usize, message: String| VersionError::new(text, pos, message);
    if text.is_empty() {
        return Err(fail(0, "empty version".to_owned()));
    }
    if text.len() > MAX_VERSION_LEN {
        return Err(fail(
            MAX_VERSION_LEN,
            format!("version is longer than {MAX_VERSION_LEN} characters"),
        ));
    }
    let mut cur = Cursor::new(text);
    let mut numbers = [0u64; 3];
    for (i, (slot, name)) in numbers
        .iter_mut()
        .zip(["major", "minor", "patch"])
        .enumerate()
    {
        if i > 0 && !cur.eat(b'.') {
            let message = match cur.peek() {
                None => format!("missing {name} version number"),
                Some(c) => format!(
                    "expected `.` before the {name} version number, found `{}`",
                    c.escape_debug()
                ),
            };
            return Err(fail(cur.pos, message));
        }
        let pos = cur.pos;
        match number(&mut cur) {
            Ok(Some(value)) if value > MAX_SAFE => {
                return Err(fail(pos, Kind::NumberTooLarge.to_string()));
            }
            Ok(Some(value)) => *slot = value,
            Ok(None) => {
                let message = match cur.peek() {
                    None => format!("missing {name} version number"),
                    Some('v') if pos == 0 => "a version is written without a `v` prefix".to_owned(),
                    Some(c) => format!(
                        "expected the {name} version number, found `{}`",
                        c.escape_debug()
                    ),
                };
                return Err(fail(pos, message));
            }
            Err((at, kind)) => return Err(fail(at, kind.to_string())),
        }
    }
    let [major, minor, patch] = numbers;
    let mut version = semver::Version::new(major, minor, patch);
    if cur.eat(b'-') {
        let pre = identifiers(&mut cur, true).map_err(|(at, kind)| fail(at, kind.to_string()))?;
        version.pre = semver::Prerelease::new(pre).map_err(|e| fail(cur.pos, e.to_string()))?;
    }
    if cur.eat(b'+') {
        let build =
            identifiers(&mut cur, false).map_err(|(at, kind)| fail(at, kind.to_string()))?;
        version.build =
            semver::BuildMetadata::new(build).map_err(|e| fail(cur.pos, e.to_string()))?;
    }
    match cur.peek() {
        None => Ok(version),
        Some('.') if version.pre.is_empty() && version.build.is_empty() => {
            Err(fail(cur.pos, Kind::TooManyParts.to_string()))
        }
        Some(c) => Err(fail(cur.pos, Kind::UnexpectedChar(c).to_string())),
    }
}
