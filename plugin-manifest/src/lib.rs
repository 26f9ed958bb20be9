//! The plugkit plugin manifest: schema, JSON and YAML parsing, and
//! validation diagnostics. Parsing is pure: bytes and a file name in, a
//! [`Manifest`] or every problem out; this crate does no IO (finding and
//! reading files is `plugin-discovery`'s job).
//!
//! ```
//! let yaml = br#"
//! name: greeter
//! version: 1.0.0
//! transport: native
//! endpoint: ./libgreeter.so
//! requirements:
//!   required_plugins:
//!     - logging-service ^1.2
//! "#;
//! let parsed = plugin_manifest::parse(yaml, "greeter/plugin-manifest.yaml")?;
//! assert_eq!(parsed.manifest.name(), "greeter");
//! let dependency = &parsed.manifest.requirements().required_plugins()[0];
//! assert_eq!(dependency.name(), "logging-service");
//! assert_eq!(dependency.constraint().as_str(), "^1.2");
//!
//! // A broken manifest reports every problem at once, each with its field.
//! let errors = plugin_manifest::parse(br#"{"name": "Bad Name", "transport": "carrier-pigeon"}"#, "m.json")
//!     .unwrap_err();
//! let paths: Vec<&str> = errors.errors().map(|d| d.path.as_str()).collect();
//! assert_eq!(paths, ["name", "version", "transport", "endpoint"]);
//! # Ok::<(), plugin_manifest::ManifestErrors>(())
//! ```
//!
//! # The format
//!
//! A manifest is a JSON (`plugin-manifest.json`) or YAML
//! (`plugin-manifest.yaml`, `.yml`) mapping; the format is chosen by the
//! file name's extension. The guide's two examples parse verbatim.
//!
//! | field | required | meaning |
//! |---|---|---|
//! | `name` | yes | the plugin's name: see [`check_plugin_name`] for the rule |
//! | `version` | yes | semver 2.0 (`1.2.3`, `2.0.0-rc.1`) |
//! | `description`, `author` | no | strings |
//! | `capabilities` | no | list of capability names (letters, digits, `-_.:`) |
//! | `transport` | yes | `native`, `process` (or `subprocess`), `grpc` |
//! | `endpoint` | yes | `native`/`process`: the artifact's path, relative to the manifest's directory and inside it; `grpc`: `host:port` |
//! | `requirements.required_plugins` | no | dependencies that must load first |
//! | `requirements.optional_plugins` | no | dependencies used when available |
//! | `requirements.plugkit_version` | no | constraint on the plugkit host version |
//! | `resources.max_memory_mb` | no | 1 to 1048576 |
//! | `resources.max_cpu_cores` | no | 1 to 1024 |
//! | `resources.max_file_handles` | no | 1 to 1048576 |
//! | `checksum` | no | `sha256:` + 64 hex digits, of the artifact |
//! | `metadata` | no | free mapping, kept as written |
//!
//! A dependency is written in one of three forms:
//!
//! - a bare name, any version: `"logging-service"`;
//! - a name, whitespace, then a constraint (the rest of the string):
//!   `"logging-service ^1.2"`, `"auth-service >=1.0.0 <2.0.0"`;
//! - a mapping: `{"name": "logging-service", "version": "^1.2"}`.
//!
//! Constraints use the npm syntax of `plugin-version` (a bare version is an
//! exact match).
//!
//! Every field that names something (`name`, `transport`, `endpoint`, a
//! dependency's name) is refused if it contains a control character (C0,
//! DEL or C1), with a [`DiagnosticKind::ControlCharacter`] naming the field:
//! such a value, printed to a terminal, could forge lines of output. No
//! diagnostic carries a control character either: any in the manifest's
//! own text (an unknown key, a duplicate key) is written as an escape.
//!
//! # YAML 1.2
//!
//! YAML manifests are read with YAML 1.2's core schema for plain
//! (unquoted) scalars, not YAML 1.1's: only `true`, `True`, `TRUE`,
//! `false`, `False`, `FALSE` are booleans, so `name: on`, `name: y`,
//! `endpoint: off` and `capabilities: [NO]` are text; `null`, `Null`,
//! `NULL`, `~` and nothing are null; integers are `[-+]?[0-9]+`, `0o17`,
//! `0x1F`; floats are `1.5`, `1e3`, `.inf`, `.nan`. Merge keys (`<<`) are
//! YAML 1.1 and refused. Two deliberate differences, both towards reading
//! the text as written: `1_0` is text (as in 1.2), and a decimal with a
//! leading zero (`012`: octal in 1.1, decimal in 1.2) is kept as the text
//! written, so a text field holds `"012"` and a number field refuses it
//! with a hint. serde-saphyr still reads `0b11` and `+0x1F` as integers;
//! in a text field they, like any number or boolean, are refused with a
//! "quote it" hint. JSON gets its own hint (write it in double quotes).
//!
//! `requirements.min_go_version` (from the Go guide) and any other unknown
//! requirement are accepted with a warning. Unknown fields anywhere are
//! warnings, not errors, so the format can grow; `$schema` is accepted
//! silently so editors can use the JSON Schema in `schema/`.
//!
//! # Diagnostics
//!
//! Validation reports every problem at once as [`Diagnostic`]s with a field
//! path (`requirements.required_plugins[1]`), a [`DiagnosticKind`], and for
//! syntax errors a line and column. [`Diagnostic::display_in`] prints the
//! compiler-style `FILE:LINE:COL: error: PATH: MESSAGE`.
//!
//! # Limits
//!
//! Manifests come from plugin directories, which may hold anything. [`Limits`]
//! bounds the input size, nesting depth, YAML aliases and node count before
//! any of it is trusted, so a 50 MiB file, a billion-laughs alias bomb or
//! 10,000-deep nesting is refused at once with a clear error. YAML is parsed
//! by `serde-saphyr` (a maintained, panic-free parser with resource budgets);
//! duplicate keys are an error in both formats.
#![deny(missing_docs)]

mod diagnostic;
mod model;
mod name;
mod syntax;
mod validate;

pub use diagnostic::{Diagnostic, DiagnosticKind, Location, ManifestErrors, Severity};
pub use model::{Checksum, Dependency, Manifest, Requirements, Resources, Transport};
pub use name::{InvalidName, MAX_NAME_LEN, check_plugin_name};
pub use validate::{DEPENDENCY_FIELDS, REQUIREMENT_FIELDS, RESOURCE_FIELDS, TOP_LEVEL_FIELDS};

/// The manifest file names discovery looks for, in order of preference.
pub const MANIFEST_FILE_NAMES: &[&str] = &[
    "plugin-manifest.json",
    "plugin-manifest.yaml",
    "plugin-manifest.yml",
];

/// The text format of a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// JSON.
    Json,
    /// YAML 1.2, core schema (see [the crate docs](crate#yaml-12)).
    Yaml,
}

impl Format {
    /// The format a file name's extension names (`.json`, `.yaml`, `.yml`,
    /// any case), if any.
    pub fn from_file_name(file_name: &str) -> Option<Format> {
        let (_, extension) = file_name.rsplit_once('.')?;
        match extension.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

/// Bounds on what the parser accepts, checked before the input is trusted.
///
/// Built like every plugkit configuration type, from [`Default`] and the
/// `with_*` methods:
///
/// ```
/// let limits = plugin_manifest::Limits::default().with_max_bytes(64 * 1024);
/// assert_eq!((limits.max_bytes, limits.max_depth), (65_536, 64));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest manifest accepted, in bytes. Default 1 MiB.
    pub max_bytes: usize,
    /// Deepest nesting of lists and mappings. Default 64.
    pub max_depth: usize,
    /// Most YAML aliases (and anchors). Default 1,000.
    pub max_yaml_aliases: usize,
    /// Most YAML nodes, counting alias expansions. Default 100,000.
    pub max_nodes: usize,
}

impl Limits {
    /// Sets [`max_bytes`](Self::max_bytes).
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets [`max_depth`](Self::max_depth).
    #[must_use]
    pub fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// Sets [`max_yaml_aliases`](Self::max_yaml_aliases).
    #[must_use]
    pub fn with_max_yaml_aliases(mut self, max_yaml_aliases: usize) -> Self {
        self.max_yaml_aliases = max_yaml_aliases;
        self
    }

    /// Sets [`max_nodes`](Self::max_nodes).
    #[must_use]
    pub fn with_max_nodes(mut self, max_nodes: usize) -> Self {
        self.max_nodes = max_nodes;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1 << 20,
            max_depth: 64,
            max_yaml_aliases: 1_000,
            max_nodes: 100_000,
        }
    }
}

/// A manifest that passed validation, with the warnings it raised.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ParsedManifest {
    /// The validated manifest.
    pub manifest: Manifest,
    /// Warnings (unknown fields, ignored requirements, ...), in document order.
    pub warnings: Vec<Diagnostic>,
}

/// Parses and validates a manifest with the default [`Limits`]; the format
/// comes from `file_name`'s extension. `file_name` is also what errors name.
pub fn parse(source: &[u8], file_name: &str) -> Result<ParsedManifest, ManifestErrors> {
    parse_with(source, file_name, &Limits::default())
}

/// Parses and validates a manifest under explicit [`Limits`].
pub fn parse_with(
    source: &[u8],
    file_name: &str,
    limits: &Limits,
) -> Result<ParsedManifest, ManifestErrors> {
    let Some(format) = Format::from_file_name(file_name) else {
        let diagnostic = Diagnostic::error(
            DiagnosticKind::UnknownFormat,
            "",
            "unknown manifest format: the file name must end in .json, .yaml or .yml",
        );
        return Err(ManifestErrors::new(file_name, vec![diagnostic]));
    };
    parse_format(source, format, file_name, limits)
}

/// Parses and validates a manifest in a given format, whatever its file name.
pub fn parse_format(
    source: &[u8],
    format: Format,
    file_name: &str,
    limits: &Limits,
) -> Result<ParsedManifest, ManifestErrors> {
    let tree = syntax::read(source, format, limits)
        .map_err(|diagnostic| ManifestErrors::new(file_name, vec![diagnostic]))?;
    match validate::validate(tree, format) {
        Ok((manifest, warnings)) => Ok(ParsedManifest { manifest, warnings }),
        Err(diagnostics) => Err(ManifestErrors::new(file_name, diagnostics)),
    }
}
