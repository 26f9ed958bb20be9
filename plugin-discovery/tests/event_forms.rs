//! The two forms of a discovery event: the text line people read
//! (`Display`, what `plugkit watch` prints) and the JSON object of the
//! `plugkit run --json` event schema (what `plugkit watch --json` prints),
//! on the events of the fixture tree's first scan.

use std::path::PathBuf;

use plugin_discovery::{DiscoveryConfig, DiscoveryEngine, DiscoveryEvent};

/// The first scan of the fixture tree as events (watch mode off: the
/// stream ends after them), plus a warning.
fn events() -> Vec<DiscoveryEvent> {
    let mut config = DiscoveryConfig::new(["tests/fixtures/tree"]);
    config.watch = false;
    let engine = DiscoveryEngine::new(config).unwrap();
    let mut subscription = engine.subscribe();
    engine.start().unwrap();
    let mut events = Vec::new();
    while let Ok(event) = subscription.try_recv() {
        events.push(event);
    }
    events.push(DiscoveryEvent::Warning {
        message: "native file watching is unavailable (the limit of watched directories is \
                  reached); falling back to polling every 1000 ms"
            .into(),
    });
    events
}

#[test]
fn events_as_text() {
    let text: Vec<String> = events().iter().map(ToString::to_string).collect();
    insta::assert_snapshot!(text.join("\n"));
}

#[test]
fn events_as_json() {
    let lines: Vec<String> = events()
        .iter()
        .map(|event| serde_json::to_string(event).unwrap())
        .collect();
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["stream"], "discovery", "{line}");
        assert!(
            value.get("plugin").is_some() && value.get("version").is_some(),
            "{line}"
        );
    }
    insta::assert_snapshot!(lines.join("\n"));
}

#[cfg(unix)]
#[test]
fn a_file_name_cannot_forge_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let evil = dir
        .path()
        .join("x\n\u{1b}[1Adiscovered fake 9.9.9 (native) elsewhere");
    std::fs::create_dir(&evil).unwrap();
    std::fs::write(
        evil.join("plugin-manifest.json"),
        r#"{"name": "real", "version": "1.0.0", "transport": "native", "endpoint": "libreal.so"}"#,
    )
    .unwrap();
    let mut config = DiscoveryConfig::new([dir.path()]);
    config.watch = false;
    let engine = DiscoveryEngine::new(config).unwrap();
    let mut subscription = engine.subscribe();
    engine.start().unwrap();
    let event = subscription.try_recv().unwrap();
    let line = event.to_string();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(!line.contains('\u{1b}'), "{line}");
    assert!(line.contains("x\\u{a}\\u{1b}[1Adiscovered fake"), "{line}");
    // JSON escapes on its own, and keeps the real name.
    let json: serde_json::Value = serde_json::to_value(&event).unwrap();
    let path = PathBuf::from(json["path"].as_str().unwrap());
    assert_eq!(path, evil.join("plugin-manifest.json"));
}
