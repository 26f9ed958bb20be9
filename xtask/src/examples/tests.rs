//! The layout, end to end: lay the example plugins out in a temporary
//! directory, check the tree, load every plugin directory with the loader
//! (its `info()` must match its manifest), call it as JSON, and resolve each
//! `DIR/<transport>/` as `plugkit run` would.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use plugin_loader::{LoadError, Loader, LoaderConfig};
use serde_json::json;

use super::{Profile, TRANSPORTS, Variant, lay_out, variants};

/// The directory names (or file names) directly under `dir`.
fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("UTF-8")
        })
        .collect()
}

fn manifest(dir: &Path) -> plugin_manifest::Manifest {
    let bytes = std::fs::read(dir.join("plugin-manifest.yaml")).expect("manifest");
    let parsed = plugin_manifest::parse(&bytes, "plugin-manifest.yaml")
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    assert!(
        parsed.warnings.is_empty(),
        "{}: {:?}",
        dir.display(),
        parsed.warnings
    );
    parsed.manifest
}

/// Loads one plugin directory and checks it against its manifest and its variant.
async fn check(loader: &Loader, variant: &Variant, transport: &str, dir: &Path) {
    let manifest = manifest(dir);
    let plugin = variant.plugin;
    assert_eq!(manifest.name(), plugin.name, "{}", dir.display());
    assert_eq!(
        manifest.version().to_string(),
        variant.version,
        "{}",
        dir.display()
    );
    assert_eq!(manifest.transport().to_string(), transport);
    assert!(
        manifest.checksum().is_some(),
        "{}: no checksum",
        dir.display()
    );
    let instance = match loader.load(&manifest, dir).await {
        Err(LoadError::Init { stage, error, .. }) if variant.suffix == "-panics-in-init" => {
            // `info` was checked against the manifest before `init` ran.
            assert_eq!(stage, "init", "{}: {error}", dir.display());
            assert!(error.to_string().contains("panic"), "{error}");
            return;
        }
        Err(error) => panic!("{}: {error}", dir.display()),
        Ok(instance) => instance,
    };
    assert_ne!(
        variant.suffix,
        "-panics-in-init",
        "{}: loaded",
        dir.display()
    );
    let info = instance.info();
    assert_eq!(info.name, plugin.name);
    assert_eq!(info.version.to_string(), variant.version);
    assert_eq!(info.capabilities, manifest.capabilities());
    assert_eq!(info.capabilities, plugin.capabilities);
    assert_eq!(info.transport.to_string(), transport);
    let health = instance.health().await.expect("health");
    assert_eq!(
        health.is_serving(),
        variant.suffix != "-unhealthy",
        "{}: {health}",
        dir.display()
    );
    if plugin.name == "greeter" {
        let word = match variant.version {
            "1.0.0" => "hello",
            "2.0.0" => "hi",
            _ => "hey",
        };
        let reply = instance
            .call_json("greet", &json!({"name": "Ada"}))
            .await
            .expect("greet");
        assert_eq!(
            reply,
            json!({"text": format!("{word}, Ada"), "version": variant.version}),
            "{}",
            dir.display()
        );
    } else if plugin.name == "front-desk" {
        let reply = instance
            .call_json("welcome", &json!({"name": "Ada"}))
            .await
            .expect("welcome");
        assert_eq!(reply, json!({"text": "welcome, Ada"}));
    } else {
        let set = instance
            .call_json("set", &json!({"key": "k", "value": "v"}))
            .await
            .expect("set");
        assert_eq!(set, json!(null));
        let get = instance
            .call_json("get", &json!({"key": "k"}))
            .await
            .expect("get");
        assert_eq!(get, json!("v"));
    }
    instance.shutdown(Duration::from_secs(5)).await;
}

/// What `plugkit run DIR/<transport>` would load: every plugin found, resolved.
fn resolve(dir: &Path) -> Vec<(String, String)> {
    let found = plugin_discovery::discover(&plugin_discovery::DiscoveryConfig::new([dir]))
        .expect("discovery");
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    assert!(found.invalid.is_empty(), "{:?}", found.invalid);
    assert!(found.skipped.is_empty(), "{:?}", found.skipped);
    let mut registry = plugin_resolver::Registry::new();
    for plugin in &found.plugins {
        registry.add_manifest(&plugin.manifest).expect("candidate");
    }
    let names: BTreeSet<&str> = found.plugins.iter().map(|p| p.name()).collect();
    let wanted: Vec<_> = names
        .into_iter()
        .map(plugin_resolver::Wanted::new)
        .collect();
    let resolution = plugin_resolver::resolve(
        &registry,
        &wanted,
        &plugin_resolver::ResolveOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    resolution
        .load_order()
        .into_iter()
        .map(|name| {
            let version = resolution.version(name).expect("a version");
            (name.to_string(), version.to_string())
        })
        .collect()
}

#[test]
fn every_laid_out_plugin_loads_and_matches_its_manifest() {
    let root = crate::workspace_root();
    let out = tempfile::tempdir().expect("temporary directory");
    let written = lay_out(&root, out.path(), Profile::Debug).expect("layout");

    // The tree, exactly.
    let expected_main = ["greeter-1.0.0", "greeter-2.0.0", "kv-store-1.4.1"];
    let expected_extra = [
        "front-desk-1.0.0",
        "greeter-3.0.0-panics-in-init",
        "greeter-3.0.0-unhealthy",
        "kv-store-2.0.0",
        "kv-store-3.0.0-new-state-format",
    ];
    assert_eq!(
        entries(out.path()),
        ["native", "native-extra", "process", "process-extra"]
            .map(String::from)
            .into()
    );
    for transport in TRANSPORTS {
        assert_eq!(
            entries(&out.path().join(transport)),
            expected_main.map(String::from).into()
        );
        assert_eq!(
            entries(&out.path().join(format!("{transport}-extra"))),
            expected_extra.map(String::from).into()
        );
    }
    assert_eq!(written.len(), 2 * variants().count());

    // Every directory loads (or fails in init, as built to), and is what its
    // manifest says.
    let cache = tempfile::tempdir().expect("temporary directory");
    let loader = Loader::new(LoaderConfig::default().with_cache_dir(cache.path()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for variant in variants() {
            for transport in TRANSPORTS {
                let group = if variant.extra {
                    format!("{transport}-extra")
                } else {
                    transport.to_string()
                };
                let dir = out.path().join(group).join(variant.dir_name());
                assert_eq!(
                    entries(&dir).len(),
                    2,
                    "{}: a manifest and an artifact",
                    dir.display()
                );
                check(&loader, variant, transport, &dir).await;
            }
        }
    });

    // Each DIR/<transport>/ resolves on its own: the newest greeter and the
    // kv-store it needs, in load order.
    for transport in TRANSPORTS {
        assert_eq!(
            resolve(&out.path().join(transport)),
            [("kv-store", "1.4.1"), ("greeter", "2.0.0")]
                .map(|(n, v)| (n.to_string(), v.to_string()))
        );
    }
}
