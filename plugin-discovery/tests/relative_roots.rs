//! A search directory behaves the same however it is spelled: `dir`,
//! `./dir`, `../x/dir` or absolute, for a one-off scan and for watch mode
//! (the native watcher reports absolute paths; a relative root once saw
//! the first scan and then no change at all).
//!
//! The spellings are relative to the current directory, which is one per
//! process: this file is a test binary of its own with a single test, so
//! changing the current directory cannot disturb another test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use plugin_discovery::{DiscoveryConfig, DiscoveryEngine, DiscoveryEvent, WatchBackend, discover};

/// Generous, for a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(10);

fn manifest(version: &str) -> String {
    format!(
        r#"{{"name": "alpha", "version": "{version}", "transport": "native", "endpoint": "libalpha.so"}}"#
    )
}

fn next(events: &mut plugin_discovery::Subscription) -> DiscoveryEvent {
    events
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|e| panic!("no discovery event within {PATIENCE:?}: {e:?}"))
}

/// Scans and watches `root` (spelled as given, from the current directory)
/// with `backend`, and checks that paths keep that spelling and that a
/// change, a new plugin and a removal are all seen.
fn scan_and_watch(root: &str, plugins: &Path, backend: WatchBackend) {
    let alpha = plugins.join("a/plugin-manifest.json");
    std::fs::create_dir_all(alpha.parent().unwrap()).unwrap();
    std::fs::write(&alpha, manifest("1.0.0")).unwrap();
    let spelled = |rest: &str| -> PathBuf {
        let root = root.strip_prefix("./").unwrap_or(root);
        Path::new(root).join(rest)
    };

    let found = discover(&DiscoveryConfig::new([root])).unwrap();
    assert!(found.errors.is_empty(), "{root}: {:?}", found.errors);
    let paths: Vec<&Path> = found
        .plugins
        .iter()
        .map(|p| p.manifest_path.as_path())
        .collect();
    assert_eq!(paths, [spelled("a/plugin-manifest.json")], "{root}");

    let mut config = DiscoveryConfig::new([root]);
    config.debounce = Duration::from_millis(50);
    config.backend = backend;
    config.poll_interval = Duration::from_millis(100);
    let engine = DiscoveryEngine::new(config).unwrap();
    let mut events = engine.subscribe();
    engine.start().unwrap();
    match next(&mut events) {
        DiscoveryEvent::Discovered { plugin } => {
            assert_eq!(
                plugin.manifest_path,
                spelled("a/plugin-manifest.json"),
                "{root}"
            )
        }
        other => panic!("{root}: expected the first scan's discovery, got {other:?}"),
    }

    std::fs::write(&alpha, manifest("1.1.0")).unwrap();
    match next(&mut events) {
        DiscoveryEvent::Updated {
            plugin,
            old_version,
        } => {
            assert_eq!(
                plugin.manifest_path,
                spelled("a/plugin-manifest.json"),
                "{root}"
            );
            assert_eq!(
                (old_version.to_string(), plugin.version().to_string()),
                ("1.0.0".into(), "1.1.0".into())
            );
        }
        other => panic!("{root} ({backend:?}): expected an update, got {other:?}"),
    }

    std::fs::remove_dir_all(plugins.join("a")).unwrap();
    match next(&mut events) {
        DiscoveryEvent::Removed { path, .. } => {
            assert_eq!(path, spelled("a/plugin-manifest.json"), "{root}")
        }
        other => panic!("{root} ({backend:?}): expected a removal, got {other:?}"),
    }
    engine.stop();
}

#[test]
fn every_spelling_of_a_search_directory_scans_and_watches_alike() {
    let base = tempfile::tempdir().unwrap();
    // Canonical, so the absolute spelling is the one the watcher reports
    // even where the temporary directory is reached through a symlink.
    let base = base.path().canonicalize().unwrap();
    let plugins = base.join("x/dir");
    let elsewhere = base.join("y");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let absolute = plugins.to_str().unwrap().to_string();

    for backend in [WatchBackend::Native, WatchBackend::Poll] {
        std::env::set_current_dir(base.join("x")).unwrap();
        scan_and_watch("dir", &plugins, backend);
        scan_and_watch("./dir", &plugins, backend);
        scan_and_watch("dir/", &plugins, backend);
        std::env::set_current_dir(&elsewhere).unwrap();
        scan_and_watch("../x/dir", &plugins, backend);
        scan_and_watch(&absolute, &plugins, backend);
    }
}
