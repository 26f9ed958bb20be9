//! `cargo xtask manifest-docs`: writes `docs/manifest.md`, the manifest
//! reference, from the JSON Schema at
//! `plugin-manifest/schema/plugin-manifest.schema.json` (itself generated
//! and kept current by `plugin-manifest`'s schema test) and the guide's two
//! example manifests in `fixtures/guide/`.
//!
//! The page is generated so it cannot drift from the schema: tidy
//! ([`check`]) fails when `docs/manifest.md` differs from what [`render`]
//! produces now. Every field gets its path (`requirements.required_plugins`),
//! type, whether it is required, its constraints (pattern, length, range,
//! allowed values) and the schema's description.
//!
//! The renderer reads the subset of JSON Schema that schemars writes for
//! the manifest: `type` (one or a list, `null` meaning the field may be
//! left out), `$ref` into `$defs`, `anyOf`/`oneOf` (with `const`
//! alternatives for enums), `properties`/`required`, `items`,
//! `additionalProperties`, `pattern`, `maxLength`/`minLength`,
//! `minimum`/`maximum`. A keyword it does not know fails the generation,
//! so a schema change it cannot render is noticed rather than dropped.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

/// The schema, relative to the workspace root.
pub(crate) const SCHEMA: &str = "plugin-manifest/schema/plugin-manifest.schema.json";
/// The generated page, relative to the workspace root.
pub(crate) const OUTPUT: &str = "docs/manifest.md";
/// The example manifests shown on the page, relative to the workspace root.
const EXAMPLES: &[(&str, &str)] = &[
    ("fixtures/guide/plugin-manifest.json", "json"),
    ("fixtures/guide/plugin-manifest.yaml", "yaml"),
];

/// Keywords the renderer understands; any other fails the generation.
const KNOWN_KEYWORDS: &[&str] = &[
    "$schema",
    "$ref",
    "$defs",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "anyOf",
    "oneOf",
    "const",
    "pattern",
    "maxLength",
    "minLength",
    "minimum",
    "maximum",
    "format",
];

/// `cargo xtask manifest-docs`: writes the page.
pub(crate) fn command(root: &Path, args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("manifest-docs: unknown argument {arg:?} (it takes none)");
    }
    let text = generate(root)?;
    let path = root.join(OUTPUT);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {OUTPUT}");
    Ok(())
}

/// The tidy rule: `docs/manifest.md` is what the generator writes now.
pub(crate) fn check(root: &Path, problems: &mut Vec<String>) -> Result<()> {
    let fresh = generate(root)?;
    match std::fs::read_to_string(root.join(OUTPUT)) {
        Ok(current) if current == fresh => {}
        Ok(current) => problems.push(format!(
            "{OUTPUT} is out of date with {SCHEMA} or fixtures/guide/ (first difference at line {}): run `cargo xtask manifest-docs`",
            first_difference(&current, &fresh)
        )),
        Err(error) => problems.push(format!(
            "{OUTPUT} cannot be read ({error}): run `cargo xtask manifest-docs`"
        )),
    }
    Ok(())
}

/// The 1-based number of the first line where `a` and `b` differ.
fn first_difference(a: &str, b: &str) -> usize {
    let mut a_lines = a.lines();
    let mut b_lines = b.lines();
    let mut line = 1;
    loop {
        match (a_lines.next(), b_lines.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            _ => return line,
        }
    }
}

/// The page, from the files in the workspace.
pub(crate) fn generate(root: &Path) -> Result<String> {
    let schema_text = std::fs::read_to_string(root.join(SCHEMA))
        .with_context(|| format!("cannot read {SCHEMA}"))?;
    let schema: Value =
        serde_json::from_str(&schema_text).with_context(|| format!("{SCHEMA} is not JSON"))?;
    let mut examples = Vec::new();
    for (path, language) in EXAMPLES {
        let text = std::fs::read_to_string(root.join(path))
            .with_context(|| format!("cannot read {path}"))?;
        examples.push(Example {
            path,
            language,
            text,
        });
    }
    render(&schema, &examples)
}

/// An example manifest shown on the page.
pub(crate) struct Example<'a> {
    /// Its path relative to the workspace root.
    pub(crate) path: &'a str,
    /// The code block's language.
    pub(crate) language: &'a str,
    /// The file's text.
    pub(crate) text: String,
}

/// One field of the manifest, as the page lists it.
struct Field {
    /// `name`, `requirements.required_plugins`, `requirements.required_plugins[].name`.
    path: String,
    /// In words: `string`, `array of dependency`, `integer`.
    kind: String,
    /// Whether the field must be present (given its parent is); `None`
    /// for a list's items.
    required: Option<bool>,
    /// Pattern, length, range, allowed values; one sentence each.
    constraints: Vec<String>,
    /// The schema's description.
    description: String,
}

/// Renders the page from the schema and the examples.
pub(crate) fn render(schema: &Value, examples: &[Example<'_>]) -> Result<String> {
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let walker = Walker { defs: &defs };
    walker.check_keywords(schema, "the schema")?;
    let mut fields = Vec::new();
    walker.object_fields("", schema, &mut fields)?;

    let anchors = anchors(fields.iter().map(|field| field.path.as_str()));
    let mut out = String::new();
    let title = text(schema, "title").unwrap_or("plugin manifest");
    let _ = writeln!(
        out,
        "<!-- Generated by `cargo xtask manifest-docs` from {SCHEMA} and fixtures/guide/. Do not edit: change the schema (plugin-manifest/tests/schema.rs) or the generator (xtask/src/manifest_docs.rs), then run `cargo xtask manifest-docs`. `cargo xtask tidy` fails when this file is out of date. -->\n"
    );
    let _ = writeln!(out, "# Manifest reference\n");
    let _ = writeln!(
        out,
        "This page lists every field of the {title}, generated from its JSON Schema, [`{SCHEMA}`](../{SCHEMA})."
    );
    out.push_str(
        "\nEach plugin directory holds one manifest: `plugin-manifest.json`, \
         `plugin-manifest.yaml` or `plugin-manifest.yml` (when a directory holds \
         several, the first in that order is used and the others are skipped as \
         shadowed). The format is chosen by the file name's extension. Fields not \
         listed here are accepted with a warning, so the format can grow.\n\
         \n\
         Check a manifest with `plugkit manifest check FILE...`: it prints every \
         problem at once, with the field's path, and exits 1 if any file is \
         invalid. Editors that read JSON Schema can validate as you type: point \
         `$schema` at the schema file.\n\
         \n\
         A field marked *or null* may also be left out: leaving it out and \
         writing `null` (in YAML, nothing) mean the same. A field marked \
         *required* must be present whenever the mapping it belongs to is.\n",
    );

    out.push_str("\n## Fields\n\n");
    out.push_str("| field | type | required | constraints |\n|---|---|---|---|\n");
    for (field, anchor) in fields.iter().zip(&anchors) {
        let _ = writeln!(
            out,
            "| [`{path}`](#{anchor}) | {kind} | {required} | {constraints} |",
            path = field.path,
            kind = cell(&field.kind),
            required = required_word(field.required),
            constraints = if field.constraints.is_empty() {
                "".to_string()
            } else {
                cell(&field.constraints.join("; "))
            },
        );
    }

    for field in &fields {
        let _ = write!(out, "\n### `{}`\n\n", field.path);
        if !field.description.is_empty() {
            let _ = write!(out, "{}\n\n", field.description);
        }
        let _ = writeln!(out, "- Type: {}", field.kind);
        if field.required.is_some() {
            let _ = writeln!(out, "- Required: {}", required_word(field.required));
        }
        for constraint in &field.constraints {
            let _ = writeln!(out, "- {}", capitalized(constraint));
        }
    }

    out.push_str(
        "\n## Examples\n\n\
         The guide's two example manifests, as they are in the repository. Both \
         are valid",
    );
    if examples.iter().any(|e| e.text.contains("min_go_version")) {
        out.push_str(
            " (`requirements.min_go_version` draws a warning: it is a requirement \
             of Go hosts, which plugkit ignores; plugkit's own is \
             `requirements.plugkit_version`)",
        );
    }
    out.push_str(".\n");
    for example in examples {
        let _ = write!(
            out,
            "\n[`{path}`](../{path}):\n\n```{language}\n{text}",
            path = example.path,
            language = example.language,
            text = example.text,
        );
        if !example.text.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("```\n");
    }
    Ok(out)
}

/// Reads the schema: resolves references, describes types, collects fields.
struct Walker<'a> {
    defs: &'a Map<String, Value>,
}

impl Walker<'_> {
    /// Fails on a keyword the renderer does not know, anywhere in `schema`.
    fn check_keywords(&self, schema: &Value, at: &str) -> Result<()> {
        let Some(object) = schema.as_object() else {
            return Ok(());
        };
        for (key, value) in object {
            if !KNOWN_KEYWORDS.contains(&key.as_str()) {
                bail!(
                    "{SCHEMA}: {at} uses `{key}`, which the manifest-docs generator does not render; teach xtask/src/manifest_docs.rs about it"
                );
            }
            match key.as_str() {
                "properties" | "$defs" => {
                    for (name, sub) in value.as_object().into_iter().flatten() {
                        self.check_keywords(sub, &format!("{at} > {name}"))?;
                    }
                }
                "items" => self.check_keywords(value, &format!("{at} > items"))?,
                "anyOf" | "oneOf" => {
                    for (i, sub) in value.as_array().into_iter().flatten().enumerate() {
                        self.check_keywords(sub, &format!("{at} > {key}[{i}]"))?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The schema `$ref` points at, or `schema` itself.
    fn resolve<'s>(&'s self, schema: &'s Value) -> Result<&'s Value> {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            return Ok(schema);
        };
        let Some(name) = reference.strip_prefix("#/$defs/") else {
            bail!("{SCHEMA}: unsupported reference `{reference}`");
        };
        self.defs
            .get(name)
            .with_context(|| format!("{SCHEMA}: reference to a missing definition `{name}`"))
    }

    /// The alternatives of `schema` other than `null`, and whether `null`
    /// is one of them.
    fn alternatives<'s>(&'s self, schema: &'s Value) -> Result<(Vec<&'s Value>, bool)> {
        let schema = self.resolve(schema)?;
        let mut nullable = false;
        let mut out = Vec::new();
        let list = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array);
        match list {
            // An enum of constants stays one alternative (described as such).
            Some(list) if !list.iter().all(|alt| alt.get("const").is_some()) => {
                for alternative in list {
                    let alternative = self.resolve(alternative)?;
                    if alternative.get("type").and_then(Value::as_str) == Some("null") {
                        nullable = true;
                    } else {
                        out.push(alternative);
                    }
                }
            }
            _ => {
                if let Some(types) = schema.get("type").and_then(Value::as_array) {
                    nullable = types.iter().any(|t| t == "null");
                }
                out.push(schema);
            }
        }
        Ok((out, nullable))
    }

    /// The types of `schema` other than `null`.
    fn types(schema: &Value) -> Vec<&str> {
        match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect(),
            _ => Vec::new(),
        }
    }

    /// `schema` in a few words, without its null alternative.
    fn describe(&self, schema: &Value) -> Result<String> {
        let (alternatives, _) = self.alternatives(schema)?;
        let mut words = Vec::new();
        for alternative in alternatives {
            words.push(self.describe_one(alternative)?);
        }
        Ok(words.join(" or "))
    }

    fn describe_one(&self, schema: &Value) -> Result<String> {
        if let Some(list) = schema.get("oneOf").or_else(|| schema.get("anyOf"))
            && let Some(list) = list.as_array()
            && list.iter().all(|alt| alt.get("const").is_some())
        {
            return Ok("string".to_string());
        }
        let types = Self::types(schema);
        let mut words = Vec::new();
        for kind in &types {
            words.push(match *kind {
                "array" => match schema.get("items") {
                    Some(items) => format!("array of {}", self.item_name(items)?),
                    None => "array".to_string(),
                },
                "object" if schema.get("properties").is_some() => "mapping".to_string(),
                "object" => "mapping of any keys".to_string(),
                other => other.to_string(),
            });
        }
        if words.is_empty() {
            bail!("{SCHEMA}: a schema without a type: {schema}");
        }
        Ok(words.join(" or "))
    }

    /// How an array's items are called: the definition's name in words
    /// (`DependencyFile` is "dependency"), or their type.
    fn item_name(&self, items: &Value) -> Result<String> {
        if let Some(reference) = items.get("$ref").and_then(Value::as_str) {
            let name = reference.rsplit('/').next().unwrap_or(reference);
            let name = name.strip_suffix("File").unwrap_or(name);
            return Ok(words_of(name));
        }
        self.describe(items)
    }

    /// The constraints of `schema`, one sentence each.
    fn constraints(&self, schema: &Value) -> Result<Vec<String>> {
        let (alternatives, _) = self.alternatives(schema)?;
        let mut out = Vec::new();
        for alternative in alternatives {
            if let Some(list) = alternative
                .get("oneOf")
                .or_else(|| alternative.get("anyOf"))
                .and_then(Value::as_array)
                .filter(|list| list.iter().all(|alt| alt.get("const").is_some()))
            {
                let values: Vec<String> = list
                    .iter()
                    .map(|alt| {
                        let value = match &alt["const"] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        match text(alt, "description") {
                            Some(description) => {
                                format!("`{value}` ({})", lowercase_first(description))
                            }
                            None => format!("`{value}`"),
                        }
                    })
                    .collect();
                out.push(format!("one of {}", values.join(", ")));
            }
            if let Some(pattern) = alternative.get("pattern").and_then(Value::as_str) {
                out.push(format!("matches the regular expression `{pattern}`"));
            }
            match (
                alternative.get("minLength").and_then(Value::as_u64),
                alternative.get("maxLength").and_then(Value::as_u64),
            ) {
                (Some(min), Some(max)) => out.push(format!("{min} to {max} characters")),
                (Some(min), None) => out.push(format!("at least {min} characters")),
                (None, Some(max)) => out.push(format!("at most {max} characters")),
                (None, None) => {}
            }
            match (alternative.get("minimum"), alternative.get("maximum")) {
                (Some(min), Some(max)) => out.push(format!("from {min} to {max}")),
                (Some(min), None) => out.push(format!("at least {min}")),
                (None, Some(max)) => out.push(format!("at most {max}")),
                (None, None) => {}
            }
        }
        Ok(out)
    }

    /// The fields of an object schema, depth first, each followed by its
    /// own fields.
    fn object_fields(&self, prefix: &str, schema: &Value, out: &mut Vec<Field>) -> Result<()> {
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            return Ok(());
        };
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for name in required.iter().copied() {
            if !properties.contains_key(name) {
                bail!("{SCHEMA}: `{prefix}{name}` is required but not described");
            }
        }
        // Required fields first, in the schema's order of `required`; then
        // the others in the schema's order, `$`-fields (for editors) last.
        let mut names: Vec<&str> = required.clone();
        let mut optional: Vec<&str> = properties
            .keys()
            .map(String::as_str)
            .filter(|name| !required.contains(name))
            .collect();
        optional.sort_by_key(|name| name.starts_with('$'));
        names.extend(optional);
        for name in names {
            let property = &properties[name];
            let path = format!("{prefix}{name}");
            self.field(&path, property, required.contains(&name), out)?;
        }
        Ok(())
    }

    /// One field and, for a mapping or a list of mappings, its own fields.
    fn field(
        &self,
        path: &str,
        schema: &Value,
        required: bool,
        out: &mut Vec<Field>,
    ) -> Result<()> {
        let (alternatives, nullable) = self.alternatives(schema)?;
        let mut kind = self.describe(schema)?;
        if nullable {
            kind.push_str(", or null");
        }
        let mut description = text(schema, "description").unwrap_or_default().to_string();
        // A field typed by a definition: its description says what the
        // definition is, after the field's own.
        let resolved = self.resolve(schema)?;
        if !std::ptr::eq(resolved, schema)
            && let Some(more) = text(resolved, "description")
            && !description.contains(more)
        {
            if description.is_empty() {
                description = more.to_string();
            } else {
                description = format!("{description} {more}");
            }
        }
        out.push(Field {
            path: path.to_string(),
            kind,
            required: Some(required),
            constraints: self.constraints(schema)?,
            description,
        });
        for alternative in alternatives {
            self.object_fields(&format!("{path}."), alternative, out)?;
            if let Some(items) = alternative.get("items") {
                self.items(path, items, out)?;
            }
        }
        Ok(())
    }

    /// The forms of a list's items (`requirements.required_plugins[]`),
    /// when they are more than a plain type.
    fn items(&self, path: &str, items: &Value, out: &mut Vec<Field>) -> Result<()> {
        let resolved = self.resolve(items)?;
        if std::ptr::eq(resolved, items) && resolved.get("properties").is_none() {
            return Ok(());
        }
        let item_path = format!("{path}[]");
        let (alternatives, _) = self.alternatives(items)?;
        let mut description = text(resolved, "description")
            .unwrap_or_default()
            .to_string();
        if alternatives.len() > 1 {
            let forms: Vec<String> = alternatives
                .iter()
                .map(|alt| {
                    let kind = self.describe_one(alt)?;
                    Ok(match text(alt, "description") {
                        Some(d) => format!("{kind}: {}", lowercase_first(d)),
                        None => kind,
                    })
                })
                .collect::<Result<_>>()?;
            description = format!("{description} Forms: {}.", forms.join("; "));
        }
        out.push(Field {
            path: item_path.clone(),
            kind: self.describe(items)?,
            required: None,
            constraints: self.constraints(items)?,
            description: description.trim().to_string(),
        });
        for alternative in alternatives {
            self.object_fields(&format!("{item_path}."), alternative, out)?;
        }
        Ok(())
    }
}

/// `schema[key]` as text.
fn text<'a>(schema: &'a Value, key: &str) -> Option<&'a str> {
    schema.get(key).and_then(Value::as_str)
}

/// `DependencyFile`'s stem in words: "dependency".
fn words_of(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first
            .to_lowercase()
            .chain(chars)
            .collect::<String>()
            .trim_end_matches('.')
            .to_string(),
        None => String::new(),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A table cell: pipes escaped so they do not end the cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// `yes`, `no`, or `-` for a list's items.
fn required_word(required: Option<bool>) -> &'static str {
    match required {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    }
}

/// GitHub's anchors for headings whose texts are `` `path` ``, in page
/// order: lowercase, spaces to `-`, everything but letters, digits, `-`
/// and `_` dropped, and `-1`, `-2`, ... appended to repeats.
fn anchors<'a>(paths: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    paths
        .map(|path| {
            let base: String = path
                .chars()
                .filter_map(|c| match c {
                    'a'..='z' | '0'..='9' | '-' | '_' => Some(c),
                    'A'..='Z' => Some(c.to_ascii_lowercase()),
                    ' ' => Some('-'),
                    _ => None,
                })
                .collect();
            let count = seen.entry(base.clone()).or_insert(0);
            let anchor = if *count == 0 {
                base
            } else {
                format!("{base}-{count}")
            };
            *count += 1;
            anchor
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn page(schema: &Value) -> String {
        render(schema, &[]).expect("renders")
    }

    #[test]
    fn fields_show_type_requirement_constraints_and_description() {
        let schema = json!({
            "title": "t",
            "type": "object",
            "properties": {
                "size": {"description": "How big.", "type": ["integer", "null"], "minimum": 1, "maximum": 9},
                "name": {"description": "The name.", "type": "string", "pattern": "^[a-z]+$", "maxLength": 64},
            },
            "required": ["name"],
        });
        let page = page(&schema);
        assert!(
            page.contains("| [`name`](#name) | string | yes | matches the regular expression `^[a-z]+$`; at most 64 characters |"),
            "{page}"
        );
        assert!(
            page.contains("| [`size`](#size) | integer, or null | no | from 1 to 9 |"),
            "{page}"
        );
        // Required fields come first.
        assert!(page.find("### `name`").unwrap() < page.find("### `size`").unwrap());
        assert!(page.contains(
            "### `size`\n\nHow big.\n\n- Type: integer, or null\n- Required: no\n- From 1 to 9\n"
        ));
    }

    #[test]
    fn references_enums_nested_objects_and_list_items_are_followed() {
        let schema = json!({
            "type": "object",
            "properties": {
                "kind": {"description": "How.", "$ref": "#/$defs/Kind"},
                "needs": {"anyOf": [{"$ref": "#/$defs/NeedsFile"}, {"type": "null"}]},
            },
            "$defs": {
                "Kind": {"oneOf": [
                    {"description": "In-process.", "type": "string", "const": "native"},
                    {"type": "string", "const": "grpc"},
                ]},
                "NeedsFile": {"type": "object", "properties": {
                    "plugins": {"type": ["array", "null"], "items": {"$ref": "#/$defs/DependencyFile"}},
                }},
                "DependencyFile": {"description": "A dependency.", "anyOf": [
                    {"description": "A name.", "type": "string"},
                    {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
                ]},
            },
        });
        let page = page(&schema);
        assert!(
            page.contains(
                "| [`kind`](#kind) | string | no | one of `native` (in-process), `grpc` |"
            ),
            "{page}"
        );
        assert!(
            page.contains("| [`needs`](#needs) | mapping, or null | no |  |"),
            "{page}"
        );
        assert!(
            page.contains(
                "| [`needs.plugins`](#needsplugins) | array of dependency, or null | no |  |"
            ),
            "{page}"
        );
        assert!(
            page.contains("### `needs.plugins[]`\n\nA dependency. Forms: string: a name; mapping.\n\n- Type: string or mapping\n\n"),
            "{page}"
        );
        // The items' heading repeats the list's anchor; GitHub numbers it.
        assert!(
            page.contains("| [`needs.plugins[]`](#needsplugins-1) | string or mapping | - |  |"),
            "{page}"
        );
        assert!(
            page.contains("| [`needs.plugins[].name`](#needspluginsname) | string | yes |"),
            "{page}"
        );
    }

    #[test]
    fn an_unknown_keyword_fails_rather_than_being_dropped() {
        let schema =
            json!({"type": "object", "properties": {"a": {"type": "string", "enum": ["x"]}}});
        let error = render(&schema, &[]).unwrap_err().to_string();
        assert!(error.contains("`enum`"), "{error}");
    }

    #[test]
    fn examples_are_included_verbatim() {
        let page = render(
            &json!({"type": "object"}),
            &[Example {
                path: "fixtures/x.yaml",
                language: "yaml",
                text: "name: x\n".to_string(),
            }],
        )
        .expect("renders");
        assert!(
            page.ends_with("[`fixtures/x.yaml`](../fixtures/x.yaml):\n\n```yaml\nname: x\n```\n")
        );
    }

    #[test]
    fn the_difference_is_located() {
        assert_eq!(first_difference("a\nb\nc\n", "a\nb\nc\n"), 4);
        assert_eq!(first_difference("a\nb\n", "a\nx\n"), 2);
    }
}
