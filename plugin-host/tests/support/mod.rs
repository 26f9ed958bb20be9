//! The example plugins, laid out once per test binary by the same command
//! users run (`cargo xtask example-plugins --out DIR`), and helpers to put
//! plugin directories into a watched directory the way a deploy would.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use plugin_discovery::DiscoveryConfig;
use plugin_host::{DynamicLoader, HostConfig, HostEvent, HotLoadConfig, HotLoadEvent};
use plugin_loader::LoaderConfig;

/// `DIR` of `cargo xtask example-plugins --out DIR`, built once.
pub(crate) fn layout() -> &'static Path {
    bench_support::example_plugins(false)
}

/// A watched plugins directory, and the cache the host uses.
pub(crate) struct Plugins {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) cache: tempfile::TempDir,
}

impl Plugins {
    /// A directory holding these laid-out plugin directories
    /// (`"native/greeter-1.0.0"`, ...).
    pub(crate) fn with(entries: &[&str]) -> Plugins {
        let plugins = Plugins {
            dir: tempfile::tempdir().expect("temporary directory"),
            cache: tempfile::tempdir().expect("temporary directory"),
        };
        for entry in entries {
            plugins.add(entry);
        }
        plugins
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Puts a laid-out plugin directory in, atomically (copied beside the
    /// watched directory, then renamed into it), as a deploy tool would.
    pub(crate) fn add(&self, entry: &str) -> PathBuf {
        let source = layout().join(entry);
        let name = source.file_name().expect("a directory name").to_owned();
        let staging = self.cache.path().join(format!("staging-{}", unique()));
        copy_dir(&source, &staging);
        let target = self.path().join(name);
        std::fs::rename(&staging, &target).expect("move into the plugins directory");
        target
    }

    /// Puts a laid-out plugin directory in under `dir_name`, after `edit`
    /// has changed the copy (a corrupted artifact, a rewritten manifest),
    /// atomically like [`add`](Plugins::add).
    pub(crate) fn add_edited(
        &self,
        entry: &str,
        dir_name: &str,
        edit: impl FnOnce(&Path),
    ) -> PathBuf {
        let staging = self.cache.path().join(format!("staging-{}", unique()));
        copy_dir(&layout().join(entry), &staging);
        edit(&staging);
        let target = self.path().join(dir_name);
        std::fs::rename(&staging, &target).expect("move into the plugins directory");
        target
    }

    /// Takes a plugin directory out, atomically.
    pub(crate) fn remove(&self, dir_name: &str) {
        let gone = self.cache.path().join(format!("gone-{}", unique()));
        std::fs::rename(self.path().join(dir_name), &gone).expect("move out");
        std::fs::remove_dir_all(gone).expect("remove");
    }

    /// A host over this directory, with the test's policy and short
    /// windows, its cache in `self.cache`.
    pub(crate) fn host(&self, config: HostConfig) -> DynamicLoader {
        let discovery =
            DiscoveryConfig::new([self.path()]).with_debounce(Duration::from_millis(20));
        let config = config
            .with_loader(LoaderConfig::default().with_cache_dir(self.cache.path().join("loader")))
            .with_batch_window(Duration::from_millis(20));
        DynamicLoader::new(discovery, config).expect("host")
    }
}

/// Test defaults: downgrades and breaking changes allowed (the tests swap
/// both ways), a generous health deadline for a loaded machine.
pub(crate) fn config() -> HostConfig {
    HostConfig::default()
        .with_policy(
            plugin_version::VersionPolicy::default()
                .with_allow_downgrade(true)
                .with_breaking_change(plugin_version::BreakingChange::Allow),
        )
        .with_hot_load(
            HotLoadConfig::default()
                .with_health_check_delay(Duration::from_secs(30))
                .with_graceful_timeout(Duration::from_secs(30)),
        )
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

use bench_support::copy_dir;

/// Waits (up to a generous minute) for the first hot-load event that
/// `matches`, skipping the others.
pub(crate) async fn hot_load_event(
    events: &mut plugin_events::Subscription<HostEvent>,
    what: &str,
    mut matches: impl FnMut(&HotLoadEvent) -> bool,
) -> HotLoadEvent {
    let found = tokio::time::timeout(
        Duration::from_secs(60),
        events.wait_for(|event| matches!(event, HostEvent::HotLoad(e) if matches(e))),
    )
    .await
    .unwrap_or_else(|_| panic!("no {what} event within 60 s"))
    .expect("event stream open");
    match found {
        HostEvent::HotLoad(event) => event,
        other => panic!("{other:?}"),
    }
}

pub(crate) fn v(text: &str) -> plugin_version::Version {
    plugin_version::Version::parse(text).expect("version")
}

/// Greets `name` through the host: the version that answered, and its text.
pub(crate) async fn greet(host: &DynamicLoader, name: &str) -> (plugin_version::Version, String) {
    let reply = host
        .call_json("greeter", "greet", &serde_json::json!({ "name": name }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (
        reply.version,
        reply.result["text"].as_str().expect("text").to_string(),
    )
}
