//! Messages written for a person: no Rust `Debug` text, hints that fit the
//! format read, and no control character from the manifest reaching the
//! output. Each case is a line of one reviewed snapshot.

use plugin_manifest::{DiagnosticKind, Limits, parse, parse_with};

const BASE_YAML: &str = "name: base\nversion: 1.0.0\ntransport: native\nendpoint: ./lib.so\n";

/// Every diagnostic of `source` as the CLI prints it, errors and warnings.
fn rendered(file: &str, source: &str, limits: &Limits) -> String {
    let diagnostics = match parse_with(source.as_bytes(), file, limits) {
        Ok(parsed) => parsed.warnings,
        Err(errors) => errors.diagnostics().to_vec(),
    };
    let lines: Vec<String> = diagnostics
        .iter()
        .map(|d| format!("[{}] {}", d.kind.code(), d.display_in(file)))
        .collect();
    lines.join("\n")
}

#[test]
fn messages_for_a_person() {
    let json = |fields: &str| {
        format!(
            r#"{{"name": "base", "version": "1.0.0", "transport": "native", "endpoint": "./lib.so", {fields}}}"#
        )
    };
    let defaults = Limits::default();
    let cases: Vec<(&str, String, Limits)> = vec![
        ("yaml-number-version.yaml", BASE_YAML.replace("1.0.0", "1.2"), defaults.clone()),
        ("yaml-boolean-name.yaml", BASE_YAML.replace("name: base", "name: true"), defaults.clone()),
        (
            "json-number-version.json",
            r#"{"name": "base", "version": 1, "transport": "native", "endpoint": "./lib.so"}"#.to_owned(),
            defaults.clone(),
        ),
        ("json-boolean-author.json", json(r#""author": false"#), defaults.clone()),
        ("json-number-dependency.json", json(r#""requirements": {"required_plugins": [7]}"#), defaults.clone()),
        ("two-documents.yaml", format!("{BASE_YAML}---\nname: other\n"), defaults.clone()),
        ("merge-key.yaml", format!("{BASE_YAML}metadata:\n  base: &b {{a: 1}}\n  more:\n    <<: *b\n"), defaults.clone()),
        ("non-finite.yaml", format!("{BASE_YAML}description: .inf\n"), defaults.clone()),
        ("too-many-nodes.yaml", format!("{BASE_YAML}capabilities: [a, b, c, d, e, f]\n"), defaults.clone().with_max_nodes(8)),
        ("leading-zero.yaml", format!("{BASE_YAML}resources:\n  max_cpu_cores: 08\n"), defaults.clone()),
        ("underscore.yaml", format!("{BASE_YAML}resources:\n  max_file_handles: 1_024\n"), defaults.clone()),
        (
            "forged-endpoint.json",
            r#"{"name": "base", "version": "1.0.0", "transport": "native", "endpoint": "./x\u001b[2K\rok: other.json\n"}"#.to_owned(),
            defaults.clone(),
        ),
        ("control-in-key.json", json(r#""\u001b[31mred": 1"#), defaults.clone()),
        ("control-in-duplicate-key.json", json(r#""\u001bk": 1, "\u001bk": 2"#), defaults.clone()),
    ];
    let mut out = String::new();
    for (file, source, limits) in &cases {
        let text = rendered(file, source, limits);
        assert!(!text.is_empty(), "{file}: no diagnostic");
        assert!(
            text.chars().all(|c| c == '\n' || !c.is_control()),
            "{file}: a control character reached the output: {text:?}"
        );
        for forbidden in ["{ ", " }", "Some(", "budget breached"] {
            assert!(!text.contains(forbidden), "{file}: Debug text in {text}");
        }
        out.push_str(&text);
        out.push('\n');
    }
    // No line of output is anything but a diagnostic line.
    for line in out.lines() {
        assert!(line.starts_with('['), "a forged line: {line:?}");
        assert!(!line.contains('\u{1b}') && !line.contains('\r'), "{line:?}");
    }
    insta::assert_snapshot!(out);
}

#[test]
fn control_characters_are_refused_in_every_field_that_names_something() {
    let base = serde_json::json!({
        "name": "base", "version": "1.0.0", "transport": "native", "endpoint": "./lib.so",
    });
    let forged = "a\u{1b}[2K\r\nb";
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("name", serde_json::json!({"name": forged})),
        ("transport", serde_json::json!({"transport": forged})),
        ("endpoint", serde_json::json!({"endpoint": forged})),
        (
            "endpoint",
            serde_json::json!({"transport": "grpc", "endpoint": "h\u{85}ost:80"}),
        ),
        (
            "endpoint",
            serde_json::json!({"endpoint": "./lib\u{7f}.so"}),
        ),
        (
            "requirements.required_plugins[0]",
            serde_json::json!({"requirements": {"required_plugins": ["dep\n>=1"]}}),
        ),
        (
            "requirements.optional_plugins[0].name",
            serde_json::json!({"requirements": {"optional_plugins": [{"name": "dep\u{9b}"}]}}),
        ),
    ];
    for (path, fields) in cases {
        let mut manifest = base.clone();
        for (key, value) in fields.as_object().unwrap() {
            manifest[key] = value.clone();
        }
        let source = serde_json::to_vec(&manifest).unwrap();
        let errors = parse(&source, "m.json").expect_err(path);
        let error = errors
            .errors()
            .find(|d| d.kind == DiagnosticKind::ControlCharacter)
            .unwrap_or_else(|| panic!("{path}: {errors}"));
        assert_eq!(error.path, path, "{errors}");
        assert!(!error.message.chars().any(char::is_control), "{error:?}");
    }
}
