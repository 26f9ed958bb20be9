//! YAML 1.2, core schema: plain scalars that YAML 1.1 read as booleans or
//! numbers (`on`, `y`, `NO`, `1_0`, `012`, ...) are text in every field that
//! holds text, and what the parser still reads as a number or boolean in a
//! text field gets a "quote it" hint. The class is tested: every YAML 1.1
//! boolean word and legacy number form, in every text field.

use plugin_manifest::{Diagnostic, ParsedManifest, parse};
use serde_json::Value;

/// Every YAML 1.1 boolean spelling (the 1.1 type repository's regular
/// expression), plus mixed-case spellings serde-saphyr's 1.1 mode took.
const YAML11_BOOLEANS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    "OFF", "oN", "yEs", "tRUE", "fAlSe",
];

/// YAML 1.1 number forms that are not YAML 1.2 core numbers.
const YAML11_NUMBERS: &[&str] = &[
    "1_0",
    "012",
    "0755",
    "-012",
    "1_000.5",
    "1:30",
    "190:20:30.15",
    "0b11",
    "+0x1F",
];

/// A text field: where it sits in a manifest (a YAML template with `@`
/// where the value goes), its diagnostic path, and how to read it back.
struct TextField {
    path: &'static str,
    template: &'static str,
    read: fn(&ParsedManifest) -> Option<String>,
}

const BASE: &str = "name: base\nversion: 1.0.0\ntransport: native\nendpoint: ./lib.so\n";

fn fields() -> Vec<TextField> {
    fn text(value: &Value) -> Option<String> {
        value.as_str().map(str::to_owned)
    }
    vec![
        TextField {
            path: "name",
            template: "name: @\nversion: 1.0.0\ntransport: native\nendpoint: ./lib.so\n",
            read: |p| Some(p.manifest.name().to_owned()),
        },
        TextField {
            path: "description",
            template: "description: @\n",
            read: |p| p.manifest.description().map(str::to_owned),
        },
        TextField {
            path: "author",
            template: "author: @\n",
            read: |p| p.manifest.author().map(str::to_owned),
        },
        TextField {
            path: "capabilities[0]",
            template: "capabilities: [@]\n",
            read: |p| p.manifest.capabilities().first().cloned(),
        },
        TextField {
            path: "transport",
            template: "name: base\nversion: 1.0.0\ntransport: @\nendpoint: ./lib.so\n",
            read: |p| Some(p.manifest.transport().to_string()),
        },
        TextField {
            path: "endpoint",
            template: "name: base\nversion: 1.0.0\ntransport: native\nendpoint: @\n",
            read: |p| Some(p.manifest.endpoint().to_owned()),
        },
        TextField {
            path: "checksum",
            template: "checksum: @\n",
            read: |p| p.manifest.checksum().map(ToString::to_string),
        },
        TextField {
            path: "requirements.plugkit_version",
            template: "requirements:\n  plugkit_version: @\n",
            read: |p| {
                let c = p.manifest.requirements().plugkit_version()?;
                Some(c.as_str().to_owned())
            },
        },
        TextField {
            path: "requirements.required_plugins[0]",
            template: "requirements:\n  required_plugins: [@]\n",
            read: |p| {
                let d = p.manifest.requirements().required_plugins().first()?;
                Some(d.name().to_owned())
            },
        },
        TextField {
            path: "requirements.optional_plugins[0].name",
            template: "requirements:\n  optional_plugins:\n    - name: @\n",
            read: |p| {
                let d = p.manifest.requirements().optional_plugins().first()?;
                Some(d.name().to_owned())
            },
        },
        TextField {
            path: "requirements.optional_plugins[0].version",
            template: "requirements:\n  optional_plugins:\n    - name: other\n      version: @\n",
            read: |p| {
                let d = p.manifest.requirements().optional_plugins().first()?;
                Some(d.constraint().as_str().to_owned())
            },
        },
        TextField {
            path: "metadata.flag",
            template: "metadata:\n  flag: @\n",
            read: |p| p.manifest.metadata().get("flag").and_then(text),
        },
    ]
}

/// The manifest with `field` set to the plain (unquoted) scalar `value`.
fn manifest_with(field: &TextField, value: &str) -> String {
    let filled = field.template.replace('@', value);
    if field.template.starts_with("name:") {
        filled
    } else {
        format!("{BASE}{filled}")
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// `value`, unquoted in `field`, is read as the text written: the manifest
/// holds it, or the field's own rule refuses it, naming it as text.
fn assert_read_as_text(field: &TextField, value: &str) {
    let yaml = manifest_with(field, value);
    match parse(yaml.as_bytes(), "m.yaml") {
        Ok(parsed) => {
            // A checksum or constraint is normalised; the rest is kept as written.
            let read = (field.read)(&parsed);
            assert_eq!(read.as_deref(), Some(value), "{}: {value}", field.path);
        }
        Err(errors) => {
            let all = render(errors.diagnostics());
            assert!(
                !all.contains("found the"),
                "{}: {value}:\n{all}",
                field.path
            );
            let at_field = errors
                .errors()
                .find(|d| d.path == field.path)
                .unwrap_or_else(|| {
                    panic!("{}: {value}: no error at the field:\n{all}", field.path)
                });
            assert!(
                at_field.message.contains(value),
                "{}: {value}: the message should quote the text:\n{all}",
                field.path
            );
        }
    }
}

#[test]
fn yaml11_boolean_words_are_text_in_every_text_field() {
    for field in fields() {
        for &word in YAML11_BOOLEANS {
            assert_read_as_text(&field, word);
        }
    }
}

#[test]
fn yaml11_number_forms_are_text_or_get_the_quote_hint_in_every_text_field() {
    // What the parser reads as a number anyway (`0b11`, `+0x1F` are YAML
    // 1.1 integers, text in 1.2) must be refused with the hint.
    let still_numbers = ["0b11", "+0x1F"];
    for field in fields() {
        for &form in YAML11_NUMBERS {
            if !still_numbers.contains(&form) {
                assert_read_as_text(&field, form);
                continue;
            }
            let yaml = manifest_with(&field, form);
            let result = parse(yaml.as_bytes(), "m.yaml");
            if field.path == "metadata.flag" {
                // free data: kept as the value read
                assert!(result.is_ok(), "{form}");
                continue;
            }
            let errors = result.expect_err(form);
            let all = render(errors.diagnostics());
            let at_field = errors
                .errors()
                .find(|d| d.path == field.path)
                .unwrap_or_else(|| panic!("{}: {form}: no error at the field:\n{all}", field.path));
            assert!(
                at_field
                    .message
                    .ends_with("(YAML reads this unquoted value as a number: quote it)"),
                "{}: {form}:\n{all}",
                field.path
            );
        }
    }
}

#[test]
fn the_cases_of_the_issue() {
    let read = |yaml: &str| parse(yaml.as_bytes(), "m.yaml").map(|p| p.manifest);
    let m = read(&BASE.replace("name: base", "name: on")).unwrap();
    assert_eq!(m.name(), "on");
    let m = read(&BASE.replace("name: base", "name: y")).unwrap();
    assert_eq!(m.name(), "y");
    let errors = read(&BASE.replace("name: base", "name: NO")).unwrap_err();
    assert_eq!(
        errors.errors().next().unwrap().to_string(),
        "error: name: invalid plugin name \"NO\": a name starts with a lowercase ASCII letter"
    );
    let m = read(&format!("{BASE}capabilities: [on]\n")).unwrap();
    assert_eq!(m.capabilities(), ["on"]);
    let m = read(&BASE.replace("endpoint: ./lib.so", "endpoint: off")).unwrap();
    assert_eq!(m.endpoint(), "off");
    let m = read(&format!("{BASE}metadata:\n  a: 1_0\n  b: 012\n  on: yes\n")).unwrap();
    let metadata = serde_json::to_value(m.metadata()).unwrap();
    assert_eq!(
        metadata,
        serde_json::json!({"a": "1_0", "b": "012", "on": "yes"})
    );
}

#[test]
fn core_schema_scalars_keep_their_type() {
    let read = |extra: &str| parse(format!("{BASE}{extra}").as_bytes(), "m.yaml");
    let m = read("metadata: {a: true, b: False, c: NULL, d: ~, e: 12, f: 0o17, g: 0x1F, h: 1.5, i: -3, j: 1e3}\n")
        .unwrap()
        .manifest;
    let metadata = serde_json::to_value(m.metadata()).unwrap();
    assert_eq!(
        metadata,
        serde_json::json!({"a": true, "b": false, "c": null, "d": null, "e": 12, "f": 15, "g": 31, "h": 1.5, "i": -3, "j": 1000.0})
    );
    let m = read("resources: {max_memory_mb: 0o17, max_cpu_cores: 0x2, max_file_handles: 64}\n")
        .unwrap()
        .manifest;
    assert_eq!(m.resources().max_memory_mb(), Some(15));
    assert_eq!(m.resources().max_cpu_cores(), Some(2));
    // A core boolean in a text field gets the hint.
    let errors = read("description: TRUE\n").unwrap_err();
    assert_eq!(
        errors.errors().next().unwrap().to_string(),
        "error: description: expected a string, found the boolean true (YAML reads this unquoted value as a boolean: quote it)"
    );
}

#[test]
fn legacy_number_forms_in_number_fields_are_refused_with_a_hint() {
    for (value, hint) in [
        (
            "012",
            "a leading zero makes it octal in YAML 1.1 and decimal in YAML 1.2",
        ),
        ("0755", "a leading zero"),
        ("1_024", "YAML 1.2 has no `_` in numbers"),
    ] {
        let yaml = format!("{BASE}resources:\n  max_memory_mb: {value}\n");
        let errors = parse(yaml.as_bytes(), "m.yaml").unwrap_err();
        let error = errors.errors().next().unwrap();
        assert_eq!(error.path, "resources.max_memory_mb");
        assert!(error.message.contains(hint), "{value}: {error}");
    }
}
