//! Scanning: the fixture tree under `tests/fixtures/tree` (good, invalid,
//! nested, excluded, capability-lacking, duplicate and shadowed plugins) and,
//! in temporary directories, symlinks, special files and hostile sizes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use plugin_discovery::{
    DEFAULT_ARTIFACT_PATTERNS, Discovery, DiscoveryConfig, DiscoveryEngine, DiscoveryError,
    RequiredField, SkipReason, Transport, discover,
};

fn tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tree")
}

/// Paths relative to the fixture tree, for short assertions.
fn rel(path: &Path) -> String {
    let root = tree();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn plugins(found: &Discovery) -> Vec<String> {
    found
        .plugins
        .iter()
        .map(|p| format!("{} {} {}", p.name(), p.version(), rel(&p.manifest_path)))
        .collect()
}

fn skipped(found: &Discovery) -> Vec<String> {
    found
        .skipped
        .iter()
        .map(|s| {
            format!("{}: {}", rel(&s.path), s.reason).replace(&tree().display().to_string(), "TREE")
        })
        .collect()
}

fn invalid(found: &Discovery) -> Vec<String> {
    found.invalid.iter().map(|i| rel(&i.path)).collect()
}

fn scan(configure: impl FnOnce(&mut DiscoveryConfig)) -> Discovery {
    let mut config = DiscoveryConfig::new([tree()]);
    configure(&mut config);
    discover(&config).expect("valid configuration")
}

#[test]
fn the_fixture_tree_yields_every_valid_plugin_and_reports_the_rest() {
    let found = scan(|_| {});
    assert_eq!(
        plugins(&found),
        [
            "alpha 1.0.0 good/alpha/plugin-manifest.json",
            "alpha 2.0.0 versions/alpha-2/plugin-manifest.yaml",
            "beta 0.3.1 good/beta/plugin-manifest.yaml",
            "deep 0.1.0 nested/a/b/deep/plugin-manifest.json",
            "gamma 2.0.0-rc.1 good/gamma/plugin-manifest.yml",
            "hidden 1.0.0 excluded/node_modules/hidden/plugin-manifest.json",
            "shade 1.0.0 shadowed/plugin-manifest.json",
            "silent 0.2.0 nocap/plugin-manifest.yaml",
            "twin 1.0.0 duplicates/one/plugin-manifest.json",
        ]
    );
    assert_eq!(
        invalid(&found),
        [
            "invalid/broken/plugin-manifest.yaml",
            "invalid/syntax/plugin-manifest.json"
        ]
    );
    assert_eq!(
        skipped(&found),
        [
            "duplicates/two/plugin-manifest.json: duplicate of twin 1.0.0, which is used from TREE/duplicates/one/plugin-manifest.json",
            "shadowed/plugin-manifest.yaml: shadowed by TREE/shadowed/plugin-manifest.json in the same directory",
        ]
    );
    assert!(found.errors.is_empty(), "{:?}", found.errors);

    // Artifacts resolve next to the manifest for local transports only.
    let alpha = &found.plugins[0];
    assert_eq!(alpha.transport(), Transport::Native);
    assert_eq!(
        alpha.artifact_path.as_deref(),
        Some(tree().join("good/alpha/libalpha.so").as_path())
    );
    let gamma = found.versions_of("gamma").next().unwrap();
    assert_eq!(gamma.artifact_path, None);
    let beta = found.versions_of("beta").next().unwrap();
    assert_eq!(beta.transport(), Transport::Process);
    assert_eq!(
        beta.artifact_path.as_deref(),
        Some(tree().join("good/beta/bin/beta-plugin").as_path())
    );

    // Every diagnostic of an invalid manifest is kept.
    let broken = &found.invalid[0];
    let fields: Vec<&str> = broken.errors().map(|d| d.path.as_str()).collect();
    assert_eq!(fields, ["version", "transport"]);
    let syntax = &found.invalid[1];
    assert_eq!(syntax.diagnostics[0].location.map(|l| l.line), Some(3));
}

#[test]
fn max_depth_counts_directory_levels_below_the_search_directory() {
    let names = |depth| {
        let found = scan(|c| c.max_depth = depth);
        let mut names: Vec<String> = found.plugins.iter().map(|p| p.name().to_string()).collect();
        names.dedup();
        names
    };
    assert!(names(4).contains(&"deep".to_string()));
    assert!(!names(3).contains(&"deep".to_string()));
    assert_eq!(names(0), Vec::<String>::new());
    assert_eq!(
        names(1),
        ["shade", "silent"],
        "manifests one level down only"
    );
}

#[test]
fn excluded_paths_and_globs_are_not_searched() {
    let by_path = scan(|c| c.exclude_paths.push(tree().join("excluded")));
    assert!(by_path.versions_of("hidden").next().is_none());
    assert_eq!(by_path.plugins.len(), 8);

    let by_glob = scan(|c| c.exclude_globs.push("**/node_modules".into()));
    assert!(by_glob.versions_of("hidden").next().is_none());
    assert_eq!(plugins(&by_glob), plugins(&by_path));

    let several = scan(|c| {
        c.exclude_globs.push("invalid".into());
        c.exclude_globs.push("*/two".into());
    });
    assert!(several.invalid.is_empty());
    assert!(
        several
            .skipped
            .iter()
            .all(|s| !s.path.starts_with(tree().join("duplicates")))
    );
}

#[test]
fn a_plugin_lacking_a_required_capability_is_skipped_with_the_capability() {
    let found = scan(|c| {
        c.required_capabilities = vec!["greet".into(), "kv:get".into()];
    });
    assert_eq!(
        plugins(&found),
        ["alpha 1.0.0 good/alpha/plugin-manifest.json"]
    );
    let reasons: Vec<String> = found
        .skipped
        .iter()
        .filter_map(|s| match &s.reason {
            SkipReason::MissingCapability { capability } => {
                Some(format!("{} lacks {capability}", rel(&s.path)))
            }
            _ => None,
        })
        .collect();
    assert!(reasons.contains(&"nocap/plugin-manifest.yaml lacks greet".to_string()));
    assert!(reasons.contains(&"good/beta/plugin-manifest.yaml lacks kv:get".to_string()));
    // A skipped plugin keeps its manifest, so a tool can say which it was.
    let silent = found
        .skipped
        .iter()
        .find(|s| s.path.ends_with("nocap/plugin-manifest.yaml"));
    assert_eq!(
        silent.and_then(|s| s.manifest.as_ref()).map(|m| m.name()),
        Some("silent")
    );
}

#[test]
fn transports_required_fields_and_artifact_patterns_filter_plugins() {
    let grpc_only = scan(|c| c.allowed_transports = vec![Transport::Grpc]);
    assert_eq!(
        plugins(&grpc_only),
        ["gamma 2.0.0-rc.1 good/gamma/plugin-manifest.yml"]
    );

    let described = scan(|c| c.required_fields = vec![RequiredField::Description]);
    let names: Vec<&str> = described.plugins.iter().map(|p| p.name()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert!(described.skipped.iter().any(|s| s.reason
        == SkipReason::MissingField {
            field: RequiredField::Description
        }));

    // With validation off, discovery's own checks do not run.
    let unchecked = scan(|c| {
        c.required_fields = vec![RequiredField::Description];
        c.artifact_patterns = vec!["*.dll".into()];
        c.validate_manifests = false;
    });
    assert_eq!(unchecked.plugins.len(), 9);

    let patterned = scan(|c| {
        c.artifact_patterns = DEFAULT_ARTIFACT_PATTERNS
            .iter()
            .map(|p| p.to_string())
            .collect()
    });
    // Every local artifact of the tree matches the guide's patterns.
    assert_eq!(patterned.plugins.len(), 9);
    let only_dlls = scan(|c| c.artifact_patterns = vec!["*.dll".into()]);
    assert_eq!(
        plugins(&only_dlls),
        ["gamma 2.0.0-rc.1 good/gamma/plugin-manifest.yml"]
    );
    assert!(only_dlls.skipped.iter().any(|s| matches!(
        &s.reason,
        SkipReason::ArtifactPattern { artifact } if artifact.ends_with("libalpha.so")
    )));
}

#[test]
fn a_missing_search_directory_is_reported_and_the_others_are_still_scanned() {
    let missing = tree().join("no-such-directory");
    let config = DiscoveryConfig::new([missing.clone(), tree()]);
    let found = discover(&config).unwrap();
    assert_eq!(found.plugins.len(), 9);
    assert_eq!(found.errors.len(), 1);
    let error = &found.errors[0];
    assert_eq!(error.path(), Some(missing.as_path()));
    assert!(matches!(error, DiscoveryError::ReadDir { .. }));
    let source = std::error::Error::source(error).expect("the io error is the source");
    assert_eq!(
        source.downcast_ref::<std::io::Error>().map(|e| e.kind()),
        Some(std::io::ErrorKind::NotFound)
    );
    assert!(
        error
            .to_string_with_causes()
            .starts_with(&format!("cannot read directory {}: ", missing.display()))
    );
}

#[test]
fn the_error_handler_receives_each_error_with_its_source() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let engine = DiscoveryEngine::new(DiscoveryConfig::new(["/no/such/plugkit/dir"])).unwrap();
    let sink = Arc::clone(&seen);
    engine.set_error_handler(move |error| {
        let source = std::error::Error::source(error).map(|s| s.to_string());
        sink.lock()
            .unwrap()
            .push((error.to_string(), source.is_some()));
    });
    let found = engine.discover();
    assert_eq!(found.errors.len(), 1);
    assert_eq!(
        *seen.lock().unwrap(),
        [(
            "cannot read directory /no/such/plugkit/dir".to_string(),
            true
        )]
    );
}

#[test]
fn the_same_version_in_two_search_directories_is_taken_from_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("z-first"), dir.path().join("a-second"));
    for root in [&first, &second] {
        write(
            &root.join("p/plugin-manifest.json"),
            &manifest("twin", "1.0.0"),
        );
    }
    let found = discover(&DiscoveryConfig::new([&first, &second])).unwrap();
    assert_eq!(found.plugins.len(), 1);
    assert!(found.plugins[0].manifest_path.starts_with(&first));
    assert_eq!(
        found.skipped[0].reason,
        SkipReason::Duplicate {
            name: "twin".into(),
            version: "1.0.0".parse().unwrap(),
            winner: first.join("p/plugin-manifest.json"),
        }
    );
    // Shallower wins within one directory, whatever the names.
    write(
        &second.join("plugin-manifest.json"),
        &manifest("twin", "1.0.0"),
    );
    let found = discover(&DiscoveryConfig::new([&second])).unwrap();
    assert_eq!(
        found.plugins[0].manifest_path,
        second.join("plugin-manifest.json")
    );
}

#[test]
fn a_search_path_that_is_a_manifest_file_is_read_as_one() {
    let file = tree().join("good/beta/plugin-manifest.yaml");
    let found = discover(&DiscoveryConfig::new([file])).unwrap();
    assert_eq!(
        plugins(&found),
        ["beta 0.3.1 good/beta/plugin-manifest.yaml"]
    );
}

#[test]
fn an_oversized_manifest_is_refused_with_its_real_size_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big/plugin-manifest.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(2 << 30).unwrap(); // sparse: 2 GiB of zeros
    let found = discover(&DiscoveryConfig::new([dir.path()])).unwrap();
    assert!(found.invalid.is_empty() && found.plugins.is_empty());
    match found.errors.as_slice() {
        [error @ DiscoveryError::TooLarge { size, limit, .. }] => {
            assert_eq!((*size, *limit), (Some(2 << 30), 1 << 20));
            assert_eq!(
                error.to_string(),
                format!(
                    "manifest {} is 2147483648 bytes, more than the limit of 1048576 bytes",
                    path.display()
                )
            );
        }
        other => panic!("expected one too-large error, got {other:?}"),
    }
}

#[cfg(unix)]
mod unix {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_are_reported_not_followed_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        write(
            &outside.path().join("linked/plugin-manifest.json"),
            &manifest("linked", "1.0.0"),
        );
        let root = dir.path().join("plugins");
        write(
            &root.join("own/plugin-manifest.json"),
            &manifest("own", "1.0.0"),
        );
        symlink(outside.path().join("linked"), root.join("linked")).unwrap();
        symlink(
            outside.path().join("linked/plugin-manifest.json"),
            root.join("own-too/plugin-manifest.json").tap_parent(),
        )
        .unwrap();
        std::fs::write(outside.path().join("unrelated.txt"), "x").unwrap();
        symlink(
            outside.path().join("unrelated.txt"),
            root.join("unrelated.txt"),
        )
        .unwrap();

        let found = discover(&DiscoveryConfig::new([&root])).unwrap();
        assert_eq!(found.plugins.len(), 1);
        let skipped: Vec<(PathBuf, SkipReason)> = found
            .skipped
            .iter()
            .map(|s| (s.path.clone(), s.reason.clone()))
            .collect();
        assert_eq!(
            skipped,
            [
                (root.join("linked"), SkipReason::SymlinkNotFollowed),
                (
                    root.join("own-too/plugin-manifest.json"),
                    SkipReason::SymlinkNotFollowed
                ),
            ]
        );

        let mut config = DiscoveryConfig::new([&root]);
        config.follow_symlinks = true;
        let found = discover(&config).unwrap();
        // Followed, the same manifest is reached twice: a duplicate, and the
        // shallower-then-first path wins.
        let names: Vec<(&str, PathBuf)> = found
            .plugins
            .iter()
            .map(|p| (p.name(), p.manifest_path.clone()))
            .collect();
        assert_eq!(
            names,
            [
                ("linked", root.join("linked/plugin-manifest.json")),
                ("own", root.join("own/plugin-manifest.json")),
            ]
        );
        assert_eq!(found.skipped.len(), 1);
        assert!(found.errors.is_empty());
    }

    #[test]
    fn a_symlink_loop_is_reported_once_and_the_scan_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("plugins");
        write(
            &root.join("a/plugin-manifest.json"),
            &manifest("a", "1.0.0"),
        );
        symlink(&root, root.join("a/back-to-root")).unwrap();
        let mut config = DiscoveryConfig::new([&root]);
        config.follow_symlinks = true;
        let found = discover(&config).unwrap();
        assert_eq!(found.plugins.len(), 1);
        assert_eq!(found.errors.len(), 1);
        assert!(matches!(
            &found.errors[0],
            DiscoveryError::SymlinkLoop { path, ancestor }
                if path == &root.join("a/back-to-root") && ancestor == &root
        ));
        // Not following, the loop is just a link not followed.
        let found = discover(&DiscoveryConfig::new([&root])).unwrap();
        assert!(found.errors.is_empty());
        assert_eq!(found.skipped[0].reason, SkipReason::SymlinkNotFollowed);
    }

    #[test]
    fn a_dangling_manifest_link_is_an_unreadable_path() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("ok/plugin-manifest.json"),
            &manifest("ok", "1.0.0"),
        );
        std::fs::create_dir(dir.path().join("gone")).unwrap();
        symlink(
            dir.path().join("nowhere.json"),
            dir.path().join("gone/plugin-manifest.json"),
        )
        .unwrap();
        let mut config = DiscoveryConfig::new([dir.path()]);
        config.follow_symlinks = true;
        let found = discover(&config).unwrap();
        assert_eq!(found.plugins.len(), 1);
        assert_eq!(found.errors.len(), 1);
        assert_eq!(
            found.errors[0].path(),
            Some(dir.path().join("gone/plugin-manifest.json").as_path())
        );
    }

    #[test]
    fn a_fifo_named_like_a_manifest_is_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("p/plugin-manifest.json");
        std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let found = discover(&DiscoveryConfig::new([dir.path()])).unwrap();
        assert!(matches!(
            &found.errors[..],
            [DiscoveryError::NotAFile { path }] if path == &fifo
        ));
    }

    #[test]
    fn a_manifest_symlinked_to_a_device_or_a_fifo_as_search_path_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("z/plugin-manifest.json");
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        symlink("/dev/zero", &link).unwrap();
        // Not followed: reported as a symlink.
        let found = discover(&DiscoveryConfig::new([dir.path()])).unwrap();
        assert_eq!(found.skipped[0].reason, SkipReason::SymlinkNotFollowed);
        // Followed: a device, refused without being opened.
        let mut config = DiscoveryConfig::new([dir.path()]);
        config.follow_symlinks = true;
        let found = discover(&config).unwrap();
        assert!(matches!(
            &found.errors[..],
            [DiscoveryError::NotAFile { path }] if path == &link
        ));
        // Named as a search path (read as a manifest file): refused too.
        let found = discover(&DiscoveryConfig::new([&link])).unwrap();
        assert!(
            matches!(&found.errors[..], [DiscoveryError::NotAFile { .. }]),
            "{:?}",
            found.errors
        );
        let fifo = dir.path().join("fifo.json");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let found = discover(&DiscoveryConfig::new([&fifo])).unwrap();
        assert!(
            matches!(&found.errors[..], [DiscoveryError::NotAFile { .. }]),
            "{:?}",
            found.errors
        );
    }

    trait TapParent {
        fn tap_parent(self) -> Self;
    }

    impl TapParent for PathBuf {
        /// Creates the parent directory, returning the path.
        fn tap_parent(self) -> Self {
            std::fs::create_dir_all(self.parent().unwrap()).unwrap();
            self
        }
    }
}

fn manifest(name: &str, version: &str) -> String {
    format!(
        r#"{{"name": "{name}", "version": "{version}", "transport": "process", "endpoint": "{name}-plugin"}}"#
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn extreme_settings_do_not_panic() {
    let mut config = DiscoveryConfig::new([tree()]);
    config.max_depth = usize::MAX;
    config.limits.max_bytes = usize::MAX;
    config.debounce = std::time::Duration::MAX;
    config.poll_interval = std::time::Duration::MAX;
    config.event_capacity = usize::MAX;
    assert_eq!(discover(&config).unwrap().plugins.len(), 9);
    let engine = DiscoveryEngine::new(config).unwrap();
    let mut events = engine.subscribe();
    engine.start().unwrap();
    assert!(events.try_recv().is_ok());
    engine.stop();
}

#[test]
fn engines_and_subscriptions_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<DiscoveryEngine>();
    send_sync::<Discovery>();
    send_sync::<DiscoveryError>();
    send::<plugin_discovery::Subscription>();
}
