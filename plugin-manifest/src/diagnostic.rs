//! Diagnostics: every problem found in a manifest, with where it is.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// The manifest is accepted; the problem is reported (for example an
    /// unknown field, kept so the format can grow).
    Warning,
    /// The manifest is rejected.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// What kind of problem a [`Diagnostic`] reports; stable across releases
/// for scripts and tests (its `code()` is the snake_case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// The file is not valid JSON or YAML.
    Syntax,
    /// The file is larger than [`Limits::max_bytes`](crate::Limits::max_bytes).
    TooLarge,
    /// The file is not UTF-8.
    InvalidUtf8,
    /// A mapping has the same key twice.
    DuplicateKey,
    /// The document nests deeper than [`Limits::max_depth`](crate::Limits::max_depth),
    /// or a YAML resource budget (aliases, nodes) was exceeded.
    LimitExceeded,
    /// The file name does not say which format it is in.
    UnknownFormat,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong type (a number where a string belongs, ...).
    WrongType,
    /// A plugin name breaks the naming rule.
    InvalidName,
    /// A version is not semver 2.0.
    InvalidVersion,
    /// A version constraint does not parse.
    InvalidConstraint,
    /// A dependency entry is malformed.
    InvalidDependency,
    /// A plugin depends on itself.
    SelfDependency,
    /// A dependency is listed more than once.
    DuplicateDependency,
    /// The transport is not one plugkit knows.
    UnknownTransport,
    /// The endpoint is malformed, absolute, or escapes the plugin's directory.
    InvalidEndpoint,
    /// A resource limit is outside its allowed range.
    OutOfRange,
    /// The checksum is not `sha256:` followed by 64 hex digits.
    InvalidChecksum,
    /// A capability is malformed.
    InvalidCapability,
    /// A field that names something (name, transport, endpoint, dependency
    /// name) contains a control character (C0, DEL or C1).
    ControlCharacter,
    /// A capability is listed twice (warning).
    DuplicateCapability,
    /// A field plugkit does not know (warning).
    UnknownField,
}

impl DiagnosticKind {
    /// The stable snake_case code of this kind, as in JSON output.
    pub fn code(self) -> &'static str {
        match self {
            DiagnosticKind::Syntax => "syntax",
            DiagnosticKind::TooLarge => "too_large",
            DiagnosticKind::InvalidUtf8 => "invalid_utf8",
            DiagnosticKind::DuplicateKey => "duplicate_key",
            DiagnosticKind::LimitExceeded => "limit_exceeded",
            DiagnosticKind::UnknownFormat => "unknown_format",
            DiagnosticKind::MissingField => "missing_field",
            DiagnosticKind::WrongType => "wrong_type",
            DiagnosticKind::InvalidName => "invalid_name",
            DiagnosticKind::InvalidVersion => "invalid_version",
            DiagnosticKind::InvalidConstraint => "invalid_constraint",
            DiagnosticKind::InvalidDependency => "invalid_dependency",
            DiagnosticKind::SelfDependency => "self_dependency",
            DiagnosticKind::DuplicateDependency => "duplicate_dependency",
            DiagnosticKind::UnknownTransport => "unknown_transport",
            DiagnosticKind::InvalidEndpoint => "invalid_endpoint",
            DiagnosticKind::OutOfRange => "out_of_range",
            DiagnosticKind::InvalidChecksum => "invalid_checksum",
            DiagnosticKind::InvalidCapability => "invalid_capability",
            DiagnosticKind::ControlCharacter => "control_character",
            DiagnosticKind::DuplicateCapability => "duplicate_capability",
            DiagnosticKind::UnknownField => "unknown_field",
        }
    }
}

/// `text` with every control character (C0, DEL, C1) written as a Rust
/// escape (`\u{1b}`), and borrowed when there is none.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A line and column in the manifest's text, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1 (in characters for YAML and UTF-8 errors, bytes for JSON).
    pub column: u64,
}

/// One problem in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Diagnostic {
    /// Error (manifest rejected) or warning (accepted, reported).
    pub severity: Severity,
    /// What kind of problem this is.
    pub kind: DiagnosticKind,
    /// The field it is about, as a path (`requirements.required_plugins[1]`);
    /// empty when it is about the whole document (syntax errors, size).
    pub path: String,
    /// What is wrong, in words: lowercase, no trailing period.
    pub message: String,
    /// Where in the text, when known (always for syntax errors).
    #[serde(flatten)]
    pub location: Option<Location>,
}

impl Diagnostic {
    /// An error. Control characters in `path` and `message` (which quote
    /// the manifest's own text) are escaped, so no diagnostic can move the
    /// cursor or forge a line when printed to a terminal.
    pub(crate) fn error(kind: DiagnosticKind, path: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Diagnostic {
            severity: Severity::Error,
            kind,
            path: printable(path).into_owned(),
            message: match printable(&message) {
                Cow::Borrowed(_) => message,
                Cow::Owned(escaped) => escaped,
            },
            location: None,
        }
    }

    pub(crate) fn warning(kind: DiagnosticKind, path: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(kind, path, message)
        }
    }

    pub(crate) fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    /// Whether this diagnostic rejects the manifest.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Formats this diagnostic as `FILE:LINE:COL: SEVERITY: PATH: MESSAGE`
    /// (line and column only where known, path only where there is one),
    /// the form compilers use so editors can jump to it.
    pub fn display_in<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        DisplayIn {
            diagnostic: self,
            file,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.severity)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

struct DisplayIn<'a> {
    diagnostic: &'a Diagnostic,
    file: &'a str,
}

impl fmt::Display for DisplayIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file)?;
        if let Some(Location { line, column }) = self.diagnostic.location {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}", self.diagnostic)
    }
}

/// A manifest that was rejected: every diagnostic found (errors and
/// warnings, in document order), with the file they are about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ManifestErrors {
    file: String,
    diagnostics: Vec<Diagnostic>,
}

impl ManifestErrors {
    pub(crate) fn new(file: &str, diagnostics: Vec<Diagnostic>) -> Self {
        ManifestErrors {
            file: file.to_string(),
            diagnostics,
        }
    }

    /// The file name the manifest was parsed under.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Every diagnostic, errors and warnings, in the order found.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    fn render(&self) -> String {
        let errors: Vec<String> = self
            .errors()
            .map(|d| d.display_in(&self.file).to_string())
            .collect();
        format!("invalid manifest {}: {}", self.file, errors.join("; "))
    }
}
