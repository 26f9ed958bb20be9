//! Validation: a value tree in, a [`Manifest`] plus warnings, or every
//! problem at once, out. Each check records its diagnostic and goes on, so a
//! user fixes a manifest in one round instead of one error per run.

use std::collections::{BTreeMap, BTreeSet};

use plugin_version::{Constraint, parse_version};
use serde_json::{Map, Value};

use crate::Format;
use crate::diagnostic::{Diagnostic, DiagnosticKind as Kind};
use crate::model::{Checksum, Dependency, Manifest, Requirements, Resources, Transport};
use crate::name::check_plugin_name;

/// Top-level fields plugkit reads. `$schema` is accepted so editors can
/// point at the JSON Schema.
pub const TOP_LEVEL_FIELDS: &[&str] = &[
    "name",
    "version",
    "description",
    "author",
    "capabilities",
    "transport",
    "endpoint",
    "requirements",
    "resources",
    "checksum",
    "metadata",
];
/// Fields of `requirements`.
pub const REQUIREMENT_FIELDS: &[&str] =
    &["required_plugins", "optional_plugins", "plugkit_version"];
/// Fields of `resources`.
pub const RESOURCE_FIELDS: &[&str] = &["max_memory_mb", "max_cpu_cores", "max_file_handles"];
/// Fields of a dependency written as a mapping.
pub const DEPENDENCY_FIELDS: &[&str] = &["name", "version"];

/// Validates a manifest tree. `Ok` holds the manifest and its warnings;
/// `Err` every diagnostic (at least one error), in document order.
pub(crate) fn validate(
    root: Value,
    format: Format,
) -> Result<(Manifest, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut v = Validator {
        diagnostics: Vec::new(),
        format,
    };
    let manifest = v.manifest(root);
    match manifest {
        Some(manifest) if !v.has_errors() => Ok((manifest, v.diagnostics)),
        _ => Err(v.diagnostics),
    }
}

struct Validator {
    diagnostics: Vec<Diagnostic>,
    /// The format read, for hints that depend on it (how to quote).
    format: Format,
}

/// A mapping being read: fields are taken out one by one; whatever is left
/// at the end is unknown and reported as a warning.
struct Fields {
    path: String,
    map: Map<String, Value>,
}

impl Fields {
    fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    fn field_path(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// How a value is described in messages: its type, and short values shown.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    }
}

impl Validator {
    fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    fn error(&mut self, kind: Kind, path: &str, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::error(kind, path, message));
    }

    fn warn(&mut self, kind: Kind, path: &str, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::warning(kind, path, message));
    }

    fn wrong_type(&mut self, path: &str, expected: &str, found: &Value) {
        let message = format!("expected {expected}, found {}", describe(found));
        self.error(Kind::WrongType, path, message);
    }

    /// A text field holds a number or a boolean: the value was written
    /// without quotes. The hint says how to quote it in the format read.
    fn wrong_type_for_text(&mut self, path: &str, expected: &str, found: &Value) {
        let mut message = format!("expected {expected}, found {}", describe(found));
        let what = match found {
            Value::Number(_) => Some("a number"),
            Value::Bool(_) => Some("a boolean"),
            _ => None,
        };
        if let Some(what) = what {
            match self.format {
                Format::Json => message.push_str(&format!(
                    " (JSON reads a value without double quotes as {what}: write it as a string, in double quotes)"
                )),
                _ => message.push_str(&format!(
                    " (YAML reads this unquoted value as {what}: quote it)"
                )),
            }
        }
        self.error(Kind::WrongType, path, message);
    }

    /// Whether `text`, the value of a field that names something, is free
    /// of control characters; if not, the error names the field and the
    /// character. (Such a value printed to a terminal could move the cursor
    /// or forge whole lines of output.)
    fn no_control_characters(&mut self, path: &str, text: &str) -> bool {
        let Some((at, c)) = text.char_indices().find(|(_, c)| c.is_control()) else {
            return true;
        };
        self.error(
            Kind::ControlCharacter,
            path,
            format!(
                "{text:?} contains the control character U+{:04X} at byte {at}; a name, transport or endpoint cannot contain control characters",
                u32::from(c)
            ),
        );
        false
    }

    fn manifest(&mut self, root: Value) -> Option<Manifest> {
        let Value::Object(map) = root else {
            self.wrong_type("", "a mapping of manifest fields", &root);
            return None;
        };
        let mut fields = Fields {
            path: String::new(),
            map,
        };
        let _schema = fields.take("$schema");

        let name = self
            .required_string(&mut fields, "name")
            .filter(|name| self.no_control_characters("name", name))
            .and_then(|name| match check_plugin_name(&name) {
                Ok(()) => Some(name),
                Err(error) => {
                    self.error(Kind::InvalidName, "name", error.to_string());
                    None
                }
            });
        let version = self
            .required_string_of(&mut fields, "version", "a version string like \"1.2.0\"")
            .and_then(|text| match parse_version(&text) {
                Ok(version) => Some(version),
                Err(error) => {
                    self.error(Kind::InvalidVersion, "version", error.to_string());
                    None
                }
            });
        let description = self.optional_string(&mut fields, "description");
        let author = self.optional_string(&mut fields, "author");
        let capabilities = self.capabilities(&mut fields);
        let transport = self.transport(&mut fields);
        let endpoint = self.endpoint(&mut fields, transport);
        let requirements = self.requirements(&mut fields, name.as_deref());
        let resources = self.resources(&mut fields);
        let checksum = self.checksum(&mut fields);
        let metadata = self.metadata(&mut fields);
        self.unknown_fields(fields, "field");

        Some(Manifest {
            name: name?,
            version: version?,
            description,
            author,
            capabilities,
            transport: transport?,
            endpoint: endpoint?,
            requirements,
            resources,
            checksum,
            metadata,
        })
    }

    fn unknown_fields(&mut self, fields: Fields, what: &str) {
        for key in fields.map.keys() {
            let path = join(&fields.path, key);
            self.warn(
                Kind::UnknownField,
                &path,
                format!("unknown {what} `{key}` is ignored"),
            );
        }
    }

    fn required_string(&mut self, fields: &mut Fields, key: &str) -> Option<String> {
        self.required_string_of(fields, key, "a string")
    }

    /// Takes the required field `key` as a string (`expected` says what
    /// kind of string, for the message when it is something else).
    fn required_string_of(
        &mut self,
        fields: &mut Fields,
        key: &str,
        expected: &str,
    ) -> Option<String> {
        let path = fields.field_path(key);
        match fields.take(key) {
            None | Some(Value::Null) => {
                self.error(
                    Kind::MissingField,
                    &path,
                    format!("missing required field `{key}`"),
                );
                None
            }
            Some(value) => self.string(&path, value, expected),
        }
    }

    fn optional_string(&mut self, fields: &mut Fields, key: &str) -> Option<String> {
        let path = fields.field_path(key);
        match fields.take(key)? {
            Value::Null => None,
            value => self.string(&path, value, "a string"),
        }
    }

    fn string(&mut self, path: &str, value: Value, expected: &str) -> Option<String> {
        match value {
            Value::String(s) => Some(s),
            other => {
                self.wrong_type_for_text(path, expected, &other);
                None
            }
        }
    }

    /// Takes `key` as a list (absent or null is an empty list).
    fn list(&mut self, fields: &mut Fields, key: &str) -> Vec<Value> {
        let path = fields.field_path(key);
        match fields.take(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.wrong_type(&path, "a list", &other);
                Vec::new()
            }
        }
    }

    /// Takes `key` as a mapping (absent or null is an empty mapping).
    fn mapping(&mut self, fields: &mut Fields, key: &str) -> Fields {
        let path = fields.field_path(key);
        let map = match fields.take(key) {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                self.wrong_type(&path, "a mapping", &other);
                Map::new()
            }
        };
        Fields { path, map }
    }

    fn capabilities(&mut self, fields: &mut Fields) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut capabilities = Vec::new();
        for (i, item) in self.list(fields, "capabilities").into_iter().enumerate() {
            let path = format!("capabilities[{i}]");
            let Some(capability) = self.string(&path, item, "a capability name") else {
                continue;
            };
            if !is_valid_capability(&capability) {
                self.error(
                    Kind::InvalidCapability,
                    &path,
                    format!(
                        "invalid capability {capability:?}: use 1 to 64 ASCII letters, digits, `-`, `_`, `.` or `:`, starting with a letter or digit"
                    ),
                );
            } else if !seen.insert(capability.clone()) {
                self.warn(
                    Kind::DuplicateCapability,
                    &path,
                    format!("capability `{capability}` is listed more than once"),
                );
            } else {
                capabilities.push(capability);
            }
        }
        capabilities
    }

    fn transport(&mut self, fields: &mut Fields) -> Option<Transport> {
        let text = self
            .required_string(fields, "transport")
            .filter(|text| self.no_control_characters("transport", text))?;
        let found = Transport::SPELLINGS
            .iter()
            .find(|(spelling, _)| *spelling == text)
            .map(|&(_, transport)| transport);
        if found.is_none() {
            let known: Vec<&str> = Transport::SPELLINGS.iter().map(|(s, _)| *s).collect();
            self.error(
                Kind::UnknownTransport,
                "transport",
                format!(
                    "unknown transport {text:?}; expected one of: {}",
                    known.join(", ")
                ),
            );
        }
        found
    }

    fn endpoint(&mut self, fields: &mut Fields, transport: Option<Transport>) -> Option<String> {
        let endpoint = self
            .required_string(fields, "endpoint")
            .filter(|endpoint| self.no_control_characters("endpoint", endpoint))?;
        let checked = match transport? {
            Transport::Native | Transport::Process => check_local_endpoint(&endpoint),
            Transport::Grpc => check_remote_endpoint(&endpoint),
        };
        match checked {
            Ok(()) => Some(endpoint),
            Err(message) => {
                self.error(Kind::InvalidEndpoint, "endpoint", message);
                None
            }
        }
    }

    fn requirements(&mut self, fields: &mut Fields, own_name: Option<&str>) -> Requirements {
        let mut section = self.mapping(fields, "requirements");
        let mut listed: BTreeMap<String, String> = BTreeMap::new();
        let required_plugins =
            self.dependencies(&mut section, "required_plugins", own_name, &mut listed);
        let optional_plugins =
            self.dependencies(&mut section, "optional_plugins", own_name, &mut listed);
        let plugkit_version = self.constraint_field(&mut section, "plugkit_version");
        for key in section.map.keys() {
            let path = join(&section.path, key);
            let message = if key == "min_go_version" {
                "`min_go_version` is a requirement of Go hosts; plugkit ignores it (use `plugkit_version` for the plugkit host version)".to_string()
            } else {
                format!("unknown requirement `{key}` is ignored (plugkit checks `plugkit_version`)")
            };
            self.warn(Kind::UnknownField, &path, message);
        }
        Requirements {
            required_plugins,
            optional_plugins,
            plugkit_version,
        }
    }

    fn constraint_field(&mut self, fields: &mut Fields, key: &str) -> Option<Constraint> {
        let path = fields.field_path(key);
        let value = fields.take(key)?;
        let text = match value {
            Value::Null => return None,
            other => self.string(&path, other, "a version constraint string like \">=0.1.0\"")?,
        };
        match Constraint::parse(&text) {
            Ok(constraint) => Some(constraint),
            Err(error) => {
                self.error(Kind::InvalidConstraint, &path, error.to_string());
                None
            }
        }
    }

    /// Reads a dependency list; `listed` maps every dependency name seen so
    /// far (in either list) to where it was first listed.
    fn dependencies(
        &mut self,
        section: &mut Fields,
        key: &str,
        own_name: Option<&str>,
        listed: &mut BTreeMap<String, String>,
    ) -> Vec<Dependency> {
        let list_path = section.field_path(key);
        let mut dependencies = Vec::new();
        for (i, item) in self.list(section, key).into_iter().enumerate() {
            let path = format!("{list_path}[{i}]");
            let Some(dependency) = self.dependency(&path, item) else {
                continue;
            };
            if Some(dependency.name()) == own_name {
                self.error(
                    Kind::SelfDependency,
                    &path,
                    format!("plugin `{}` depends on itself", dependency.name()),
                );
                continue;
            }
            if let Some(first) = listed.get(dependency.name()) {
                self.error(
                    Kind::DuplicateDependency,
                    &path,
                    format!("`{}` is already listed at {first}", dependency.name()),
                );
                continue;
            }
            listed.insert(dependency.name.clone(), path);
            dependencies.push(dependency);
        }
        dependencies
    }

    /// A dependency in one of its three forms: `"name"`, `"name CONSTRAINT"`
    /// or `{name: ..., version: ...}`.
    fn dependency(&mut self, path: &str, item: Value) -> Option<Dependency> {
        let is_mapping = item.is_object();
        // The string form is checked whole: a line break would otherwise
        // split it into a name and a "constraint".
        if let Value::String(text) = &item
            && !self.no_control_characters(path, text)
        {
            return None;
        }
        let (name, constraint_text, constraint_path) = match item {
            Value::String(text) => {
                let text = text.trim();
                match text.split_once(char::is_whitespace) {
                    Some((name, rest)) => (
                        name.to_string(),
                        Some(rest.trim().to_string()),
                        path.to_string(),
                    ),
                    None => (text.to_string(), None, path.to_string()),
                }
            }
            Value::Object(map) => {
                let mut fields = Fields {
                    path: path.to_string(),
                    map,
                };
                let name = self.required_string(&mut fields, "name");
                let version_path = fields.field_path("version");
                let version = match fields.take("version") {
                    None | Some(Value::Null) => None,
                    Some(value) => {
                        Some(self.string(&version_path, value, "a version constraint string")?)
                    }
                };
                self.unknown_fields(fields, "dependency field");
                (name?, version, version_path)
            }
            other => {
                self.wrong_type_for_text(
                    path,
                    "a plugin name, \"name CONSTRAINT\", or a mapping with `name` and `version`",
                    &other,
                );
                return None;
            }
        };
        let name_path = if is_mapping {
            join(path, "name")
        } else {
            path.to_string()
        };
        if !self.no_control_characters(&name_path, &name) {
            return None;
        }
        let name_ok = match check_plugin_name(&name) {
            Ok(()) => true,
            Err(error) => {
                self.error(Kind::InvalidDependency, &name_path, error.to_string());
                false
            }
        };
        let constraint = match constraint_text {
            None => Some(Constraint::any()),
            Some(text) => match Constraint::parse(&text) {
                Ok(constraint) => Some(constraint),
                Err(error) => {
                    self.error(Kind::InvalidConstraint, &constraint_path, error.to_string());
                    None
                }
            },
        };
        Some(Dependency {
            name: name_ok.then_some(name)?,
            constraint: constraint?,
        })
    }

    fn resources(&mut self, fields: &mut Fields) -> Resources {
        let mut section = self.mapping(fields, "resources");
        let max_memory_mb = self.bounded(&mut section, "max_memory_mb", Resources::MEMORY_MB);
        let max_cpu_cores = self
            .bounded(&mut section, "max_cpu_cores", Resources::CPU_CORES)
            .and_then(|n| u32::try_from(n).ok());
        let max_file_handles =
            self.bounded(&mut section, "max_file_handles", Resources::FILE_HANDLES);
        self.unknown_fields(section, "resource");
        Resources {
            max_memory_mb,
            max_cpu_cores,
            max_file_handles,
        }
    }

    /// A whole number within `min..=max`.
    fn bounded(&mut self, fields: &mut Fields, key: &str, (min, max): (u64, u64)) -> Option<u64> {
        let path = fields.field_path(key);
        let value = fields.take(key)?;
        let out_of_range = |shown: &str| {
            format!("{shown} is out of range: it must be a whole number from {min} to {max}")
        };
        match &value {
            Value::Null => None,
            Value::Number(n) => match n.as_u64() {
                Some(n) if (min..=max).contains(&n) => Some(n),
                _ => {
                    self.error(Kind::OutOfRange, &path, out_of_range(&n.to_string()));
                    None
                }
            },
            Value::String(text) => {
                let mut message = format!("expected a whole number, found {}", describe(&value));
                let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
                if digits.len() > 1
                    && digits.starts_with('0')
                    && digits.bytes().all(|b| b.is_ascii_digit())
                {
                    message.push_str(" (a leading zero makes it octal in YAML 1.1 and decimal in YAML 1.2: write the number without it)");
                } else if text.contains('_')
                    && text.bytes().all(|b| b.is_ascii_digit() || b == b'_')
                {
                    message.push_str(" (YAML 1.2 has no `_` in numbers: write the digits alone)");
                }
                self.error(Kind::WrongType, &path, message);
                None
            }
            other => {
                self.wrong_type(&path, "a whole number", other);
                None
            }
        }
    }

    fn checksum(&mut self, fields: &mut Fields) -> Option<Checksum> {
        let text = self.optional_string(fields, "checksum")?;
        let checksum = Checksum::parse(&text);
        if checksum.is_none() {
            self.error(
                Kind::InvalidChecksum,
                "checksum",
                format!("invalid checksum {text:?}: expected `sha256:` followed by 64 hex digits"),
            );
        }
        checksum
    }

    fn metadata(&mut self, fields: &mut Fields) -> BTreeMap<String, Value> {
        self.mapping(fields, "metadata").map.into_iter().collect()
    }
}

fn is_valid_capability(capability: &str) -> bool {
    let bytes = capability.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// A local endpoint is a relative path that stays inside the manifest's
/// directory and names something in it (not the directory itself). The
/// check is lexical: `..` may step back out of a subdirectory, never above
/// the start. Symlinks are discovery's concern, at load time.
fn check_local_endpoint(endpoint: &str) -> Result<(), String> {
    if endpoint.trim().is_empty() {
        return Err("endpoint is empty; a local transport needs the artifact's path, relative to the manifest".to_string());
    }
    if endpoint.contains('\0') {
        return Err(format!("{endpoint:?} contains a NUL byte"));
    }
    let bytes = endpoint.as_bytes();
    let windows_drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if endpoint.starts_with(['/', '\\']) || windows_drive {
        return Err(format!(
            "{endpoint:?} is an absolute path; a local endpoint is relative to the manifest's directory"
        ));
    }
    let mut depth = 0usize;
    for component in endpoint.split(['/', '\\']) {
        match component {
            "" | "." => {}
            ".." => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("{endpoint:?} escapes the plugin's directory"))?;
            }
            _ => depth += 1,
        }
    }
    if depth == 0 {
        return Err(format!(
            "{endpoint:?} names the plugin's directory itself, not a file in it"
        ));
    }
    Ok(())
}

/// A remote endpoint is `host:port` (IPv6 hosts in brackets).
fn check_remote_endpoint(endpoint: &str) -> Result<(), String> {
    let bad = |why: &str| format!("{endpoint:?} is not `host:port`: {why}");
    let (host, port) = endpoint.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    match port.parse::<u16>() {
        Ok(1..) => {}
        _ => return Err(bad("the port must be a number from 1 to 65535")),
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.is_empty() {
        return Err(bad("no host"));
    }
    if bare.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(bad("the host contains a space or `/`"));
    }
    if !host.starts_with('[') && bare.contains(':') {
        return Err(bad("write an IPv6 host in brackets, like [::1]:9090"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_endpoints() {
        for ok in ["./payment-plugin", "lib/libx.so", "a/../b", "bin\\x.exe"] {
            assert_eq!(check_local_endpoint(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("/usr/lib/x.so", "absolute"),
            ("C:\\x.dll", "absolute"),
            ("../x", "escapes"),
            ("a/../../x", "escapes"),
            ("a/..", "directory itself"),
            (".", "directory itself"),
        ] {
            let error = check_local_endpoint(bad).expect_err(bad);
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn remote_endpoints() {
        for ok in [
            "auth.internal.company.com:9090",
            "[::1]:1",
            "127.0.0.1:65535",
        ] {
            assert_eq!(check_remote_endpoint(ok), Ok(()), "{ok}");
        }
        for bad in ["host", "host:0", "host:65536", ":80", "::1:80", "a b:80"] {
            assert!(check_remote_endpoint(bad).is_err(), "{bad}");
        }
    }
}
