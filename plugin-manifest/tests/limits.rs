//! Hostile inputs: each is refused quickly (well under a second), with a
//! clear diagnostic of the right kind, and never a panic.

use std::time::{Duration, Instant};

use plugin_manifest::{DiagnosticKind, ManifestErrors, parse};

/// Parses `source` and returns its single error, checking it came fast.
fn refused(source: &[u8], file: &str) -> (DiagnosticKind, String, ManifestErrors) {
    let start = Instant::now();
    let result = parse(source, file);
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(1), "{file}: took {elapsed:?}");
    let errors = result.expect_err("hostile input must be refused");
    let first = errors.errors().next().expect("at least one error").clone();
    (first.kind, first.to_string(), errors)
}

#[test]
fn billion_laughs_alias_bomb() {
    let mut yaml = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
    let mut previous = "a";
    for name in names {
        let refs = vec![format!("*{previous}"); 9].join(",");
        yaml.push_str(&format!("{name}: &{name} [{refs}]\n"));
        previous = name;
    }
    let (kind, message, _) = refused(yaml.as_bytes(), "bomb.yaml");
    assert_eq!(kind, DiagnosticKind::LimitExceeded, "{message}");
    assert!(message.contains("is this an alias bomb?"), "{message}");
}

#[test]
fn ten_thousand_deep_json() {
    let json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let (kind, message, _) = refused(json.as_bytes(), "deep.json");
    assert_eq!(kind, DiagnosticKind::LimitExceeded, "{message}");
    assert!(
        message.contains("nesting deeper than the limit of 64 levels"),
        "{message}"
    );
}

#[test]
fn ten_thousand_deep_yaml_flow_and_block() {
    let flow = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let (kind, message, _) = refused(flow.as_bytes(), "deep-flow.yaml");
    assert_eq!(kind, DiagnosticKind::LimitExceeded, "{message}");
    assert!(
        message.contains("nesting deeper than the limit of 64 levels"),
        "{message}"
    );

    // Compact nested block sequences: `- - - ... x`.
    let block = format!("{}x\n", "- ".repeat(10_000));
    let (kind, message, _) = refused(block.as_bytes(), "deep-block.yaml");
    assert_eq!(kind, DiagnosticKind::LimitExceeded, "{message}");
    assert!(
        message.contains("nesting deeper than the limit of 64 levels"),
        "{message}"
    );
}

#[test]
fn fifty_mib_file() {
    let mut json = b"{\"name\": \"big\", \"metadata\": {\"blob\": \"".to_vec();
    json.resize(50 << 20, b'x');
    json.extend_from_slice(b"\"}}");
    let (kind, message, _) = refused(&json, "big.json");
    assert_eq!(kind, DiagnosticKind::TooLarge, "{message}");
    assert!(
        message.contains("more than the limit of 1048576 bytes"),
        "{message}"
    );
}

#[test]
fn invalid_utf8_is_located() {
    let yaml = b"name: ok\nversion: 1.0.0\ndescription: caf\xe9\n";
    let (kind, message, errors) = refused(yaml, "latin1.yaml");
    assert_eq!(kind, DiagnosticKind::InvalidUtf8, "{message}");
    assert!(message.contains("0xe9"), "{message}");
    let location = errors.diagnostics()[0].location.expect("located");
    assert_eq!((location.line, location.column), (3, 17));
}

#[test]
fn duplicate_keys_in_both_formats() {
    let (kind, message, _) = refused(b"{\"a\": 1, \"a\": 2}", "dup.json");
    assert_eq!(
        (kind, message.as_str()),
        (DiagnosticKind::DuplicateKey, "error: duplicate key `a`")
    );
    let (kind, message, _) = refused(b"a: 1\nb:\n  c: 1\n  c: 2\n", "dup.yaml");
    assert_eq!(
        (kind, message.as_str()),
        (DiagnosticKind::DuplicateKey, "error: duplicate key `c`")
    );
}

#[test]
fn unknown_extension_is_refused() {
    let (kind, message, _) = refused(b"name = \"toml\"", "plugin-manifest.toml");
    assert_eq!(kind, DiagnosticKind::UnknownFormat, "{message}");
}

#[test]
fn non_finite_and_huge_numbers_do_not_panic() {
    for (source, file) in [
        (&b"name: x\nversion: .nan\n"[..], "nan.yaml"),
        (
            b"{\"name\": \"x\", \"resources\": {\"max_memory_mb\": 1e400}}",
            "inf.json",
        ),
        (
            b"{\"resources\": {\"max_memory_mb\": 99999999999999999999999999}}",
            "big.json",
        ),
        (
            b"name: x\nresources: {max_cpu_cores: -9223372036854775809}\n",
            "neg.yaml",
        ),
    ] {
        let _ = refused(source, file);
    }
}
