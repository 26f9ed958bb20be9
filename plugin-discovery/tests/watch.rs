//! Watch mode against what editors and build tools really do: write in
//! place, write a temporary file and rename it over, delete then create,
//! `mkdir -p` followed at once by a manifest, moving a plugin directory in
//! and out, a burst of 1,000 plugins, an artifact rebuilt in place. Each
//! test asserts the exact events: it waits (up to 10 s, generous for a
//! loaded 2-core machine) for the events it expects, then proves that no
//! extra event follows with a sentinel: it changes a plugin of its own and
//! asserts that the very next event is that change's. No test depends on
//! how fast it runs: files are written atomically (a temporary file renamed
//! into place) unless the test is about a write in place, and those tests
//! use a debounce far longer than any pause of a loaded machine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugin_discovery::{
    DiscoveryConfig, DiscoveryEngine, DiscoveryEvent, RecvError, Subscription, WatchBackend,
};

/// How long to wait for an expected event.
const PATIENCE: Duration = Duration::from_secs(10);
/// The debounce of tests whose file operations pass through intermediate
/// states (a truncated file, a deleted one): long enough that a test thread
/// descheduled between two operations on a loaded machine still lands both
/// in one debounce period, as an editor's would. (Events then arrive this
/// long after the change: the price of not depending on the scheduler.)
const SLOW_DEBOUNCE: Duration = Duration::from_secs(2);
/// The directory of the sentinel plugin (depth 1, so no depth limit or
/// exclusion of a test hides it).
const SENTINEL: &str = "zz-sentinel";

fn slow(config: &mut DiscoveryConfig) {
    config.debounce = SLOW_DEBOUNCE;
}

struct Watched {
    _dir: tempfile::TempDir,
    /// Outside the watched directory, same filesystem (for moves).
    outside: PathBuf,
    root: PathBuf,
    engine: DiscoveryEngine,
    events: Subscription,
    /// Changes made to the sentinel plugin so far.
    sentinels: u32,
}

fn watch(setup: impl FnOnce(&Path)) -> Watched {
    watch_with(setup, |_| {})
}

fn watch_with(setup: impl FnOnce(&Path), configure: impl FnOnce(&mut DiscoveryConfig)) -> Watched {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("plugins");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&outside).unwrap();
    setup(&root);
    let mut config = DiscoveryConfig::new([&root]);
    config.debounce = Duration::from_millis(50);
    configure(&mut config);
    let engine = DiscoveryEngine::new(config).unwrap();
    let events = engine.subscribe();
    engine.start().unwrap();
    Watched {
        _dir: dir,
        outside,
        root,
        engine,
        events,
        sentinels: 0,
    }
}

impl Watched {
    /// Exactly `expected` (as rendered by [`show`]), in order, then quiet.
    fn expect(&mut self, expected: &[&str]) {
        let got = self.next(expected.len());
        assert_eq!(got, expected);
    }

    /// The next `count` events, and then nothing else: the next event
    /// after them is the sentinel's.
    fn next(&mut self, count: usize) -> Vec<String> {
        let got = self.take(count);
        self.sentinel(&got);
        got
    }

    /// The next `count` events.
    fn take(&mut self, count: usize) -> Vec<String> {
        let mut got = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        while got.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => got.push(show(&self.root, &event)),
                Err(error) => panic!("after {got:?}: expected {count} events, {error}"),
            }
        }
        got
    }

    /// Changes the sentinel plugin and asserts that the next event is that
    /// change: any event still coming from the test's own changes (they
    /// were all made before) would arrive first.
    fn sentinel(&mut self, before: &[String]) {
        self.sentinels += 1;
        let n = self.sentinels;
        plugin(&self.root, SENTINEL, "sentinel", &format!("0.0.{n}"));
        let expected = match n {
            1 => format!("discovered sentinel 0.0.1 {SENTINEL}/plugin-manifest.json"),
            n => format!(
                "updated sentinel 0.0.{} -> 0.0.{n} {SENTINEL}/plugin-manifest.json",
                n - 1
            ),
        };
        match self.events.recv_timeout(PATIENCE) {
            Ok(event) => {
                let got = show(&self.root, &event);
                assert_eq!(got, expected, "after {before:?}: an unexpected event");
            }
            Err(error) => panic!("after {before:?}: no sentinel event: {error}"),
        }
    }

    /// The plugins the engine holds now, the sentinel left out.
    fn plugins_now(&self) -> usize {
        let current = self.engine.current();
        current
            .plugins
            .iter()
            .filter(|p| p.name() != "sentinel")
            .count()
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}

/// One line per event, paths relative to the watched directory.
fn show(root: &Path, event: &DiscoveryEvent) -> String {
    let rel = |path: &Path| {
        path.strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    match event {
        DiscoveryEvent::Discovered { plugin } => format!(
            "discovered {} {} {}",
            plugin.name(),
            plugin.version(),
            rel(&plugin.manifest_path)
        ),
        DiscoveryEvent::Updated {
            plugin,
            old_version,
        } => format!(
            "updated {} {old_version} -> {} {}",
            plugin.name(),
            plugin.version(),
            rel(&plugin.manifest_path)
        ),
        DiscoveryEvent::Removed {
            name,
            version,
            path,
        } => format!("removed {name} {version} {}", rel(path)),
        DiscoveryEvent::ManifestInvalid { path, .. } => format!("invalid {}", rel(path)),
        DiscoveryEvent::Skipped { path, reason } => format!(
            "skipped {}: {}",
            rel(path),
            reason
                .to_string()
                .replace(&root.display().to_string(), "ROOT")
        ),
        DiscoveryEvent::Warning { message } => format!("warning: {message}"),
        other => format!("{other:?}"),
    }
}

fn manifest(name: &str, version: &str) -> String {
    format!(
        "{{\"name\": \"{name}\", \"version\": \"{version}\", \"transport\": \"native\", \"endpoint\": \"lib{name}.so\"}}"
    )
}

/// Writes `path` atomically: a temporary file beside it (a name that is
/// neither a manifest nor an artifact), renamed over it. No scan can see
/// the file half-written, however slowly the test runs.
fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let temp = path.with_extension("writing");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

/// Writes `path` in place (truncate, then write), as some editors and
/// build tools do; a scan may see it half-written.
fn write_in_place(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn plugin(root: &Path, dir: &str, name: &str, version: &str) {
    write(
        &root.join(dir).join("plugin-manifest.json"),
        &manifest(name, version),
    );
}

#[test]
fn the_first_scan_arrives_as_events_and_without_watch_mode_the_stream_ends() {
    let setup = |root: &Path| {
        plugin(root, "a", "alpha", "1.0.0");
        write(&root.join("bad/plugin-manifest.yaml"), "name: [");
    };
    let mut watched = watch(setup);
    watched.expect(&[
        "discovered alpha 1.0.0 a/plugin-manifest.json",
        "invalid bad/plugin-manifest.yaml",
    ]);
    assert_eq!(watched.plugins_now(), 1);

    let mut once = watch_with(setup, |c| c.watch = false);
    let mut got = Vec::new();
    loop {
        match once.events.recv_timeout(PATIENCE) {
            Ok(event) => got.push(show(&once.root, &event)),
            Err(error) => {
                assert_eq!(error, RecvError::Closed);
                break;
            }
        }
    }
    assert_eq!(
        got,
        [
            "discovered alpha 1.0.0 a/plugin-manifest.json",
            "invalid bad/plugin-manifest.yaml",
        ]
    );
    assert!(once.engine.start().is_err(), "an engine runs once");
}

#[test]
fn writing_a_manifest_in_place_is_one_update() {
    let mut watched = watch_with(|root| plugin(root, "a", "alpha", "1.0.0"), slow);
    watched.expect(&["discovered alpha 1.0.0 a/plugin-manifest.json"]);
    // Truncate, then write in two pieces, as a slow editor does.
    let path = watched.path("a/plugin-manifest.json");
    let text = manifest("alpha", "1.1.0");
    let (head, tail) = text.split_at(20);
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(head.as_bytes()).unwrap();
        file.flush().unwrap();
        file.write_all(tail.as_bytes()).unwrap();
    }
    watched.expect(&["updated alpha 1.0.0 -> 1.1.0 a/plugin-manifest.json"]);
    // Writing the same content again changes nothing a host cares about.
    write_in_place(&path, &text);
    watched.expect(&[]);
}

#[test]
fn writing_a_temporary_file_and_renaming_it_over_is_one_update() {
    let mut watched = watch(|root| plugin(root, "a", "alpha", "1.0.0"));
    watched.expect(&["discovered alpha 1.0.0 a/plugin-manifest.json"]);
    let temp = watched.path("a/.plugin-manifest.json.swp");
    write(&temp, &manifest("alpha", "1.2.0"));
    std::fs::rename(&temp, watched.path("a/plugin-manifest.json")).unwrap();
    watched.expect(&["updated alpha 1.0.0 -> 1.2.0 a/plugin-manifest.json"]);
}

#[test]
fn delete_then_create_is_one_update_when_quick_and_two_events_when_not() {
    let mut watched = watch_with(|root| plugin(root, "a", "alpha", "1.0.0"), slow);
    watched.expect(&["discovered alpha 1.0.0 a/plugin-manifest.json"]);
    let path = watched.path("a/plugin-manifest.json");
    std::fs::remove_file(&path).unwrap();
    write(&path, &manifest("alpha", "2.0.0"));
    watched.expect(&["updated alpha 1.0.0 -> 2.0.0 a/plugin-manifest.json"]);

    std::fs::remove_file(&path).unwrap();
    watched.expect(&["removed alpha 2.0.0 a/plugin-manifest.json"]);
    write(&path, &manifest("alpha", "2.0.1"));
    watched.expect(&["discovered alpha 2.0.1 a/plugin-manifest.json"]);
}

#[test]
fn mkdir_p_followed_at_once_by_a_manifest_is_discovered_once() {
    let mut watched = watch(|_| {});
    watched.expect(&[]);
    // Several new levels at once, the manifest right after, at the bottom.
    for (i, dir) in ["a/b", "c/d/e/f"].iter().enumerate() {
        std::fs::create_dir_all(watched.path(dir)).unwrap();
        plugin(&watched.root, dir, &format!("p{i}"), "1.0.0");
    }
    let mut got = watched.next(2);
    got.sort();
    assert_eq!(
        got,
        [
            "discovered p0 1.0.0 a/b/plugin-manifest.json",
            "discovered p1 1.0.0 c/d/e/f/plugin-manifest.json",
        ]
    );
    // The new directories are watched: a change in one is seen.
    plugin(&watched.root, "c/d/e/f", "p1", "1.0.1");
    watched.expect(&["updated p1 1.0.0 -> 1.0.1 c/d/e/f/plugin-manifest.json"]);
}

#[test]
fn moving_a_plugin_directory_in_and_out() {
    let mut watched = watch(|_| {});
    watched.expect(&[]);
    let staged = watched.outside.join("staged");
    plugin(&watched.outside, "staged", "mover", "1.0.0");
    write(
        &staged.join("nested/deeper/plugin-manifest.yaml"),
        "name: inner\nversion: 0.1.0\ntransport: grpc\nendpoint: localhost:1\n",
    );
    std::fs::rename(&staged, watched.path("moved")).unwrap();
    watched.expect(&[
        "discovered inner 0.1.0 moved/nested/deeper/plugin-manifest.yaml",
        "discovered mover 1.0.0 moved/plugin-manifest.json",
    ]);
    // Moved within the tree: gone at the old path, found at the new one.
    std::fs::rename(watched.path("moved"), watched.path("renamed")).unwrap();
    watched.expect(&[
        "removed inner 0.1.0 moved/nested/deeper/plugin-manifest.yaml",
        "removed mover 1.0.0 moved/plugin-manifest.json",
        "discovered inner 0.1.0 renamed/nested/deeper/plugin-manifest.yaml",
        "discovered mover 1.0.0 renamed/plugin-manifest.json",
    ]);
    std::fs::rename(watched.path("renamed"), watched.outside.join("back")).unwrap();
    watched.expect(&[
        "removed inner 0.1.0 renamed/nested/deeper/plugin-manifest.yaml",
        "removed mover 1.0.0 renamed/plugin-manifest.json",
    ]);
}

#[test]
fn a_burst_of_1000_new_plugins_is_1000_discoveries() {
    let mut watched = watch(|_| {});
    watched.expect(&[]);
    for i in 0..1000 {
        plugin(
            &watched.root,
            &format!("p{i:04}"),
            &format!("p{i:04}"),
            "1.0.0",
        );
    }
    let got = watched.next(1000);
    let unique: BTreeSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), 1000, "no duplicates");
    assert!(got.iter().all(|e| e.starts_with("discovered p")));
    assert_eq!(watched.plugins_now(), 1000);
}

#[test]
fn an_artifact_rebuilt_in_place_is_an_update() {
    let setup = |root: &Path| {
        plugin(root, "a", "alpha", "1.0.0");
        write(&root.join("a/libalpha.so"), "build 1");
    };
    let mut watched = watch_with(setup, slow);
    watched.expect(&["discovered alpha 1.0.0 a/plugin-manifest.json"]);
    write_in_place(&watched.path("a/libalpha.so"), "build 2"); // same size
    watched.expect(&["updated alpha 1.0.0 -> 1.0.0 a/plugin-manifest.json"]);
    // A rebuild that replaces the file (the linker's way) too.
    write(&watched.path("a/libalpha.so.tmp"), "build 3, longer");
    std::fs::rename(
        watched.path("a/libalpha.so.tmp"),
        watched.path("a/libalpha.so"),
    )
    .unwrap();
    watched.expect(&["updated alpha 1.0.0 -> 1.0.0 a/plugin-manifest.json"]);
    // Files that are not the artifact change nothing.
    write(&watched.path("a/README.md"), "notes");
    watched.expect(&[]);
}

#[test]
fn a_manifest_turning_invalid_removes_the_plugin_and_fixing_it_brings_it_back() {
    let mut watched = watch_with(|root| plugin(root, "a", "alpha", "1.0.0"), slow);
    watched.expect(&["discovered alpha 1.0.0 a/plugin-manifest.json"]);
    write(
        &watched.path("a/plugin-manifest.json"),
        "{\"name\": \"alpha\"",
    );
    watched.expect(&[
        "removed alpha 1.0.0 a/plugin-manifest.json",
        "invalid a/plugin-manifest.json",
    ]);
    plugin(&watched.root, "a", "alpha", "1.0.1");
    watched.expect(&["discovered alpha 1.0.1 a/plugin-manifest.json"]);
}

#[test]
fn a_duplicate_takes_over_when_the_winner_goes() {
    let mut watched = watch(|root| plugin(root, "a", "twin", "1.0.0"));
    watched.expect(&["discovered twin 1.0.0 a/plugin-manifest.json"]);
    plugin(&watched.root, "b", "twin", "1.0.0");
    watched.expect(&[
        "skipped b/plugin-manifest.json: duplicate of twin 1.0.0, which is used from ROOT/a/plugin-manifest.json",
    ]);
    std::fs::remove_dir_all(watched.path("a")).unwrap();
    watched.expect(&[
        "removed twin 1.0.0 a/plugin-manifest.json",
        "discovered twin 1.0.0 b/plugin-manifest.json",
    ]);
}

#[test]
fn a_slow_subscriber_lags_and_is_told_how_many_events_it_missed() {
    let mut watched = watch_with(|_| {}, |c| c.event_capacity = 8);
    watched.expect(&[]);
    let mut slow = watched.engine.subscribe();
    // The fast subscriber keeps up and gets all 20; discovery never waits
    // for the slow one, which reads nothing meanwhile.
    for i in 0..20 {
        plugin(
            &watched.root,
            &format!("p{i:02}"),
            &format!("p{i:02}"),
            "1.0.0",
        );
        let event = watched.events.recv_timeout(PATIENCE).unwrap();
        assert!(show(&watched.root, &event).starts_with(&format!("discovered p{i:02}")));
    }
    assert_eq!(watched.plugins_now(), 20);
    assert_eq!(slow.try_recv(), Err(RecvError::Lagged(12)));
    let mut kept = 0;
    while slow.try_recv().is_ok() {
        kept += 1;
    }
    assert_eq!(kept, 8);
}

#[test]
fn polling_sees_the_same_changes() {
    let mut watched = watch_with(
        |root| plugin(root, "a", "alpha", "1.0.0"),
        |c| {
            c.backend = WatchBackend::Poll;
            c.poll_interval = Duration::from_millis(100);
        },
    );
    watched.expect(&["discovered alpha 1.0.0 a/plugin-manifest.json"]);
    plugin(&watched.root, "b/c", "beta", "0.1.0");
    watched.expect(&["discovered beta 0.1.0 b/c/plugin-manifest.json"]);
    plugin(&watched.root, "a", "alpha", "1.0.1");
    watched.expect(&["updated alpha 1.0.0 -> 1.0.1 a/plugin-manifest.json"]);
    std::fs::remove_dir_all(watched.path("b")).unwrap();
    watched.expect(&["removed beta 0.1.0 b/c/plugin-manifest.json"]);
}

#[test]
fn excluded_and_too_deep_paths_are_not_watched_into_events() {
    let mut watched = watch_with(
        |_| {},
        |c| {
            c.exclude_globs.push("**/node_modules".into());
            c.max_depth = 1;
        },
    );
    watched.expect(&[]);
    plugin(&watched.root, "x/node_modules", "hidden", "1.0.0");
    plugin(&watched.root, "node_modules", "hidden", "1.0.0");
    plugin(&watched.root, "a/b", "deep", "1.0.0");
    plugin(&watched.root, "a", "shallow", "1.0.0");
    watched.expect(&["discovered shallow 1.0.0 a/plugin-manifest.json"]);
}

#[cfg(unix)]
#[test]
fn errors_while_watching_reach_the_error_handler_once() {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&errors);
    let (first, first_error) = std::sync::mpsc::channel();
    let mut watched = watch_with(|_| {}, |c| c.debounce = Duration::from_millis(50));
    watched.engine.set_error_handler(move |error| {
        sink.lock().unwrap().push(error.to_string());
        let _ = first.send(());
    });
    watched.expect(&[]);
    let fifo = watched.path("p/plugin-manifest.json");
    std::fs::create_dir(watched.path("p")).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    first_error
        .recv_timeout(PATIENCE)
        .expect("the error reaches the handler");
    // Later rescans (the second look at the new directory, the sentinel's)
    // do not hand it over again: the handler runs before the events of its
    // rescan are sent, so after the sentinel's event it has seen them all.
    watched.expect(&[]);
    watched.expect(&[]);
    assert_eq!(
        *errors.lock().unwrap(),
        [format!("{} is not a regular file", fifo.display())]
    );
    assert_eq!(watched.engine.current().errors.len(), 1);
}

#[test]
fn stopping_ends_every_subscription() {
    let mut watched = watch(|root| plugin(root, "a", "alpha", "1.0.0"));
    let mut second = watched.engine.subscribe();
    watched.expect(&["discovered alpha 1.0.0 a/plugin-manifest.json"]);
    plugin(&watched.root, "a", "alpha", "1.0.1");
    watched.expect(&["updated alpha 1.0.0 -> 1.0.1 a/plugin-manifest.json"]);
    watched.engine.stop();
    assert_eq!(
        watched.events.recv_timeout(PATIENCE),
        Err(RecvError::Closed)
    );
    // Events sent before the stop are still delivered, then the end.
    let mut delivered = Vec::new();
    let end = loop {
        match second.try_recv() {
            Ok(event) => delivered.push(show(&watched.root, &event)),
            Err(error) => break error,
        }
    };
    assert_eq!(end, RecvError::Closed);
    assert!(
        delivered.contains(&"updated alpha 1.0.0 -> 1.0.1 a/plugin-manifest.json".to_string()),
        "{delivered:?}"
    );
    assert_eq!(second.blocking_recv(), Err(RecvError::Closed));
    assert_eq!(
        watched.engine.subscribe().try_recv(),
        Err(RecvError::Closed)
    );
}

#[test]
fn an_error_handler_may_stop_the_engine_without_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let engine = Arc::new(DiscoveryEngine::new(DiscoveryConfig::new([&missing])).unwrap());
    let weak = Arc::downgrade(&engine);
    engine.set_error_handler(move |_| {
        if let Some(engine) = weak.upgrade() {
            engine.stop();
        }
    });
    let mut events = engine.subscribe();
    // The missing directory is reported during the first scan, and the
    // handler stops the engine from inside `start`.
    engine.start().unwrap();
    assert_eq!(events.recv_timeout(PATIENCE), Err(RecvError::Closed));
}
