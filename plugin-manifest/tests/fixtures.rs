//! Data-driven tests: every manifest under `tests/fixtures/valid` must parse,
//! every one under `tests/fixtures/invalid` must be rejected, and what each
//! produces (the manifest, or its diagnostics as the CLI prints them) is a
//! reviewed snapshot in `tests/snapshots/`.

use std::path::{Path, PathBuf};

use plugin_manifest::{DiagnosticKind, parse};

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", root.display());
    files
}

fn read(path: &Path) -> (String, Vec<u8>) {
    let name = path
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    (name, bytes)
}

#[test]
fn valid_manifests_parse_and_match_their_snapshots() {
    let guide = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/guide");
    let mut files = fixtures("valid");
    files.push(guide.join("plugin-manifest.json"));
    files.push(guide.join("plugin-manifest.yaml"));
    for path in files {
        let (name, bytes) = read(&path);
        let parsed =
            parse(&bytes, &name).unwrap_or_else(|e| panic!("{} should parse: {e}", path.display()));
        let mut rendered =
            serde_json::to_string_pretty(&parsed.manifest).expect("manifest serializes");
        for warning in &parsed.warnings {
            rendered.push_str(&format!("\n{}", warning.display_in(&name)));
        }
        let snapshot = if path.starts_with(&guide) {
            format!("guide-{name}")
        } else {
            format!("valid-{name}")
        };
        insta::assert_snapshot!(snapshot, rendered);
    }
}

#[test]
fn invalid_manifests_are_rejected_with_every_problem() {
    for path in fixtures("invalid") {
        let (name, bytes) = read(&path);
        let errors = match parse(&bytes, &name) {
            Ok(parsed) => panic!(
                "{} should be rejected, parsed as {:?}",
                path.display(),
                parsed.manifest
            ),
            Err(errors) => errors,
        };
        assert!(
            errors.errors().count() > 0,
            "{name}: rejected without an error"
        );
        let rendered: Vec<String> = errors
            .diagnostics()
            .iter()
            .map(|d| format!("[{}] {}", d.kind.code(), d.display_in(&name)))
            .collect();
        insta::assert_snapshot!(format!("invalid-{name}"), rendered.join("\n"));
    }
}

/// The kinds each named bad input must produce, independent of wording.
#[test]
fn each_bad_input_gets_its_kind_of_error() {
    use DiagnosticKind as K;
    let cases: &[(&str, &[DiagnosticKind])] = &[
        (
            "empty-object.json",
            &[
                K::MissingField,
                K::MissingField,
                K::MissingField,
                K::MissingField,
            ],
        ),
        ("endpoint-escapes.yaml", &[K::InvalidEndpoint]),
        ("endpoint-absolute.json", &[K::InvalidEndpoint]),
        ("grpc-endpoint.json", &[K::InvalidEndpoint]),
        (
            "self-and-duplicate-deps.yaml",
            &[
                K::SelfDependency,
                K::DuplicateDependency,
                K::DuplicateDependency,
            ],
        ),
        ("syntax-error.json", &[K::Syntax]),
        ("syntax-error.yaml", &[K::Syntax]),
        ("duplicate-key.json", &[K::DuplicateKey]),
        ("duplicate-key.yaml", &[K::DuplicateKey]),
        ("not-a-mapping.yaml", &[K::WrongType]),
        ("empty.yaml", &[K::WrongType]),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    for (file, expected) in cases {
        let (name, bytes) = read(&dir.join(file));
        let errors = parse(&bytes, &name).expect_err(file);
        let kinds: Vec<DiagnosticKind> = errors.errors().map(|d| d.kind).collect();
        assert_eq!(&kinds, expected, "{file}: {errors}");
    }
}

#[test]
fn every_field_wrong_reports_each_field() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let (name, bytes) = read(&dir.join("every-field-wrong.yaml"));
    let errors = parse(&bytes, &name).expect_err("rejected");
    let paths: Vec<&str> = errors.errors().map(|d| d.path.as_str()).collect();
    for expected in [
        "name",
        "version",
        "description",
        "capabilities",
        "transport",
        "requirements.required_plugins[0]",
        "requirements.required_plugins[1]",
        "requirements.required_plugins[2]",
        "requirements.required_plugins[3].name",
        "requirements.optional_plugins",
        "requirements.plugkit_version",
        "resources.max_memory_mb",
        "resources.max_cpu_cores",
        "resources.max_file_handles",
        "checksum",
        "metadata",
    ] {
        assert!(
            paths.contains(&expected),
            "no error for {expected}; got {paths:?}"
        );
    }
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    for (file, line) in [
        ("syntax-error.json", 5),
        ("syntax-error.yaml", 4),
        ("duplicate-key.json", 4),
    ] {
        let (name, bytes) = read(&dir.join(file));
        let errors = parse(&bytes, &name).expect_err(file);
        let location = errors.diagnostics()[0]
            .location
            .unwrap_or_else(|| panic!("{file}: no location"));
        assert_eq!(location.line, line, "{file}: {errors}");
    }
}
