//! Registries built from manifests (`Registry::add_manifest`), including
//! the guide's two examples verbatim.

use plugin_resolver::{CandidateKey, DependencyKind, Registry, ResolveOptions, Wanted, resolve};

fn manifest(text: &str, file: &str) -> plugin_manifest::Manifest {
    plugin_manifest::parse(text.as_bytes(), file)
        .unwrap_or_else(|e| panic!("{file}: {e:?}"))
        .manifest
}

fn guide(file: &str) -> plugin_manifest::Manifest {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/guide/");
    let text = std::fs::read_to_string(format!("{path}{file}"))
        .unwrap_or_else(|e| panic!("reading {file}: {e}"));
    manifest(&text, file)
}

#[test]
fn the_guide_manifests_resolve_with_their_dependencies() {
    let mut registry = Registry::new();
    registry
        .add_manifest(&guide("plugin-manifest.json"))
        .unwrap();
    registry
        .add_manifest(&guide("plugin-manifest.yaml"))
        .unwrap();
    registry
        .add_manifest(&manifest(
            r#"{"name": "logging-service", "version": "1.4.0", "transport": "grpc", "endpoint": "log:9000"}"#,
            "logging.json",
        ))
        .unwrap();
    registry
        .add_manifest(&manifest(
            "name: metrics-service\nversion: 0.9.0\ntransport: grpc\nendpoint: metrics:9100\n",
            "metrics.yaml",
        ))
        .unwrap();

    let resolution = resolve(
        &registry,
        &[Wanted::new("payment-service")],
        &ResolveOptions::default(),
    )
    .unwrap();
    assert_eq!(
        resolution.load_order(),
        [
            "logging-service",
            "metrics-service",
            "auth-service",
            "payment-service"
        ]
    );
    let auth: Vec<(&str, DependencyKind)> = resolution
        .dependencies("auth-service")
        .iter()
        .map(|edge| (edge.name(), edge.kind()))
        .collect();
    assert_eq!(
        auth,
        [
            ("logging-service", DependencyKind::Required),
            ("metrics-service", DependencyKind::Optional)
        ]
    );
    // payment-service's optional fraud-detection is absent: said so.
    let warnings: Vec<String> = resolution
        .warnings()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        warnings,
        [
            "payment-service 2.1.0 loads without its optional dependency fraud-detection: no plugin named fraud-detection was found"
        ]
    );
}

#[test]
fn manifest_constraints_are_kept() {
    let mut registry = Registry::new();
    registry
        .add_manifest(&manifest(
            r#"{"name": "app", "version": "1.0.0", "transport": "grpc", "endpoint": "app:1",
                "requirements": {"required_plugins": [{"name": "db", "version": "^2"}]}}"#,
            "app.json",
        ))
        .unwrap();
    let candidate = registry
        .candidate("app", &plugin_version::parse_version("1.0.0").unwrap())
        .unwrap();
    assert_eq!(candidate.required()[0].name(), "db");
    assert_eq!(candidate.required()[0].constraint().as_str(), "^2");
}

#[test]
fn a_key_given_with_a_manifest_comes_back_with_the_chosen_version() {
    let text = |version: &str| {
        format!(
            r#"{{"name": "greeter", "version": "{version}", "transport": "grpc", "endpoint": "g:1"}}"#
        )
    };
    let mut registry = Registry::new();
    for (key, version) in [(7, "1.0.0"), (9, "2.0.0")] {
        registry
            .add_manifest_with_key(&manifest(&text(version), "g.json"), CandidateKey::new(key))
            .unwrap();
    }
    // The same version again, under another key: refused, the first kept.
    assert!(
        registry
            .add_manifest_with_key(&manifest(&text("2.0.0"), "g.json"), CandidateKey::new(11))
            .is_err()
    );
    let resolution = resolve(
        &registry,
        &[Wanted::new("greeter")],
        &ResolveOptions::default(),
    )
    .unwrap();
    assert_eq!(resolution.key("greeter"), Some(CandidateKey::new(9)));
}
