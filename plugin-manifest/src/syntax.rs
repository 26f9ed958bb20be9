//! The syntax layer: bytes in, a JSON value tree or one located diagnostic
//! out. JSON and YAML go through the same tree builder ([`TreeSeed`]), so
//! both formats get the same limits, the same duplicate-key rule and the same
//! value model; validation then never needs to know which format it read.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::diagnostic::{Diagnostic, DiagnosticKind, Location};
use crate::{Format, Limits};

/// Reads `source` as `format` into a value tree.
pub(crate) fn read(source: &[u8], format: Format, limits: &Limits) -> Result<Value, Diagnostic> {
    if source.len() > limits.max_bytes {
        return Err(Diagnostic::error(
            DiagnosticKind::TooLarge,
            "",
            format!(
                "manifest is {} bytes, more than the limit of {} bytes",
                source.len(),
                limits.max_bytes
            ),
        ));
    }
    let text = match std::str::from_utf8(source) {
        Ok(text) => text,
        Err(error) => {
            let offset = error.valid_up_to();
            return Err(Diagnostic::error(
                DiagnosticKind::InvalidUtf8,
                "",
                format!(
                    "manifest is not valid UTF-8: invalid byte 0x{:02x}",
                    source[offset]
                ),
            )
            .at(Some(location_of_offset(source, offset))));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        Format::Json => read_json(text, limits),
        Format::Yaml => read_yaml(text, limits),
    }
}

fn read_json(text: &str, limits: &Limits) -> Result<Value, Diagnostic> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = TreeSeed::new(limits)
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    value.map_err(|error| {
        // serde_json counts the column from 0 at the start of a line (at end
        // of file); ours count from 1.
        let location = (error.line() > 0).then(|| Location {
            line: error.line() as u64,
            column: error.column().max(1) as u64,
        });
        // serde_json appends " at line L column C"; we report the location
        // separately, so keep only the message.
        let full = error.to_string();
        let message = match full.rfind(" at line ") {
            Some(cut) if location.is_some() => full[..cut].to_string(),
            _ => full,
        };
        let message = message.replace("EOF while parsing", "unexpected end of file while parsing");
        syntax_diagnostic(message, location, limits)
    })
}

/// YAML 1.2 core schema for plain scalars, as far as `serde-saphyr` can be
/// told to follow it: only `true`/`True`/`TRUE`/`false`/`False`/`FALSE` are
/// booleans (`on`, `y`, `NO`, ... are text), `1_0` is text, and a decimal
/// with a leading zero (`012`, octal in YAML 1.1, decimal in 1.2) is kept as
/// the text written, so no reading of it is silently chosen. Merge keys
/// (`<<`, a YAML 1.1 type) are refused. What the parser still reads
/// differently from the core schema (`0b11`, `+0x1F` as integers) can only
/// reach a string field as a number, where validation says to quote it.
fn yaml_options(limits: &Limits) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.max_depth;
    budget.max_aliases = limits.max_yaml_aliases;
    budget.max_anchors = limits.max_yaml_aliases;
    budget.max_nodes = limits.max_nodes;
    budget.max_documents = 1;
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = limits.max_nodes;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits = alias_limits;
    // serde-saphyr locates the second occurrence of a key; its message is
    // reworded below to match the JSON one.
    options.duplicate_keys = serde_saphyr::options::DuplicateKeyPolicy::Error;
    options.strict_booleans = true;
    options.legacy_octal_numbers = false;
    options.leading_zero_numbers_as_strings = true;
    options.underscored_numbers_as_strings = true;
    options.merge_keys = serde_saphyr::MergeKeyPolicy::Error;
    options
}

fn read_yaml(text: &str, limits: &Limits) -> Result<Value, Diagnostic> {
    let seed = TreeSeed::new(limits);
    let tree =
        serde_saphyr::with_deserializer_from_str_with_options(text, yaml_options(limits), |d| {
            seed.deserialize(d)
        });
    tree.map_err(|error| {
        let location = error.location().map(|l| Location {
            line: l.line(),
            column: l.column(),
        });
        if let Some(diagnostic) = yaml_error_in_words(error.without_snippet(), limits) {
            return diagnostic.at(location);
        }
        let mut message = first_line(&error.without_snippet().to_string());
        // serde-saphyr appends " at line L, column C"; we report it separately.
        if let Some(cut) = message.rfind(" at line ").filter(|_| location.is_some()) {
            message.truncate(cut);
        }
        if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
            let key = rest
                .split(", set DuplicateKeyPolicy")
                .next()
                .unwrap_or(rest);
            message = format!("duplicate key `{key}`");
        }
        syntax_diagnostic(message, location, limits)
    })
}

/// The serde-saphyr errors whose own text is not written for a person (a
/// budget breach prints as Rust `Debug`, `Documents { documents: 2 }`), in
/// words, in terms of our [`Limits`].
fn yaml_error_in_words(error: &serde_saphyr::Error, limits: &Limits) -> Option<Diagnostic> {
    use serde_saphyr::budget::BudgetBreach;
    let limit = |message: String| Diagnostic::error(DiagnosticKind::LimitExceeded, "", message);
    let alias_bomb = || {
        limit(format!(
            "too many YAML aliases or alias expansions (limits: {} aliases, {} nodes); is this an alias bomb?",
            limits.max_yaml_aliases, limits.max_nodes
        ))
    };
    Some(match error {
        serde_saphyr::Error::Budget { breach, .. } => match breach {
            BudgetBreach::Documents { .. } => Diagnostic::error(
                DiagnosticKind::Syntax,
                "",
                "a manifest is one YAML document, but this file holds more than one (separated by `---`)",
            ),
            BudgetBreach::Depth { .. } => limit(format!(
                "nesting deeper than the limit of {} levels",
                limits.max_depth
            )),
            BudgetBreach::Aliases { .. }
            | BudgetBreach::Anchors { .. }
            | BudgetBreach::AliasAnchorRatio { .. }
            | BudgetBreach::RecordedAnchorEvents { .. }
            | BudgetBreach::RecordedAnchorBytes { .. } => alias_bomb(),
            BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => limit(format!(
                "more YAML values than the limit of {} nodes",
                limits.max_nodes
            )),
            _ => limit(format!(
                "the YAML is larger or more complex than a manifest may be (limits: {} bytes, {} levels, {} nodes, {} aliases)",
                limits.max_bytes, limits.max_depth, limits.max_nodes, limits.max_yaml_aliases
            )),
        },
        serde_saphyr::Error::MergeKeyNotAllowed { .. } => Diagnostic::error(
            DiagnosticKind::Syntax,
            "",
            "merge keys (`<<`) are YAML 1.1, not part of YAML 1.2: write the fields out",
        ),
        serde_saphyr::Error::NonFiniteFloat { value, .. } => Diagnostic::error(
            DiagnosticKind::Syntax,
            "",
            format!(
                "YAML reads an unquoted {value} as a number that is not finite, which a manifest cannot hold: quote it if it is text"
            ),
        ),
        _ => return None,
    })
}

/// Classifies a parser's message into a diagnostic kind, so limits and
/// duplicate keys are told apart from plain syntax errors, and rewords the
/// parsers' internal wording of limit breaches in terms of our [`Limits`].
fn syntax_diagnostic(message: String, location: Option<Location>, limits: &Limits) -> Diagnostic {
    let lower = message.to_lowercase();
    let (kind, message) = if lower.contains("duplicate") {
        (DiagnosticKind::DuplicateKey, message)
    } else if lower.contains("alias") || lower.contains("anchor") {
        let message = format!(
            "too many YAML aliases or alias expansions (limits: {} aliases, {} nodes); is this an alias bomb?",
            limits.max_yaml_aliases, limits.max_nodes
        );
        (DiagnosticKind::LimitExceeded, message)
    } else if lower.contains("recursion limit")
        || lower.contains("depth")
        || lower.contains("nesting")
    {
        let message = format!(
            "nesting deeper than the limit of {} levels",
            limits.max_depth
        );
        (DiagnosticKind::LimitExceeded, message)
    } else if lower.contains("budget") || lower.contains("limit") {
        (
            DiagnosticKind::LimitExceeded,
            format!("YAML resource limit exceeded: {message}"),
        )
    } else {
        (DiagnosticKind::Syntax, lowercase_first(&message))
    };
    Diagnostic::error(kind, "", message).at(location)
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_string()
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first)
            if first.is_uppercase() && !chars.clone().next().is_some_and(char::is_uppercase) =>
        {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_string(),
    }
}

/// Line and column (both from 1, column in characters) of a byte offset.
pub(crate) fn location_of_offset(source: &[u8], offset: usize) -> Location {
    let before = &source[..offset.min(source.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count() as u64
        + 1;
    Location { line, column }
}

/// Builds a [`Value`] from any self-describing deserializer, rejecting
/// duplicate keys and nesting deeper than the limit.
#[derive(Clone, Copy)]
struct TreeSeed {
    depth: usize,
    max_depth: usize,
}

impl TreeSeed {
    fn new(limits: &Limits) -> Self {
        TreeSeed {
            depth: 0,
            max_depth: limits.max_depth,
        }
    }

    fn nested<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= self.max_depth {
            return Err(E::custom(format_args!(
                "nesting deeper than the limit of {} levels",
                self.max_depth
            )));
        }
        Ok(TreeSeed {
            depth: self.depth + 1,
            ..self
        })
    }
}

impl<'de> DeserializeSeed<'de> for TreeSeed {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TreeSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON or YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format_args!("the number {v} is not finite")))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut entries = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if entries.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key `{}`",
                    key.escape_debug()
                )));
            }
            let value = map.next_value_seed(inner)?;
            entries.insert(key, value);
        }
        Ok(Value::Object(entries))
    }
}

/// Mapping keys: strings, or YAML scalars (numbers, booleans) taken as their text.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_string<E>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_bool<E>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}
