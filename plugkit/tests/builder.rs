//! `plugkit::Host::builder()` against the example plugins: the guide's
//! simple path gives a running host that answers and hot-loads.

use std::sync::{Arc, Mutex};

use plugkit::host::{HotLoadEvent, LifecycleMonitor};
use plugkit::version::Version;
use serde_json::json;

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl LifecycleMonitor for Recorder {
    fn on_loaded(&self, plugin: &str, version: &Version) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("loaded {plugin} {version}"));
    }
}

use bench_support::copy_dir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simple_path_loads_answers_and_hot_loads() {
    let plugins = bench_support::plugins_dir(&["process/kv-store-1.4.1", "process/greeter-1.0.0"]);
    let monitor = Arc::new(Recorder::default());
    let host = plugkit::Host::builder()
        .from_directory(plugins.path())
        .with_pattern("*-plugin")
        .with_defaults()
        .with_monitor(monitor.clone())
        .build()
        .await
        .expect("a running host");
    let reply = host
        .call_json("greeter", "greet", &json!({"name": "Ada"}))
        .await
        .expect("greet");
    assert_eq!(reply.result["text"], "hello, Ada");
    let mut events = host.subscribe();
    copy_dir(
        &bench_support::example_plugins(false).join("process/greeter-2.0.0"),
        &plugins.path().join("greeter-2.0.0"),
    );
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        events.wait_for(|e| {
            matches!(
                e,
                plugkit::host::HostEvent::HotLoad(HotLoadEvent::Updated { .. })
            )
        }),
    )
    .await
    .expect("a swap within 60 s")
    .expect("events");
    let reply = host
        .call_json("greeter", "greet", &json!({"name": "Ada"}))
        .await
        .expect("greet");
    assert_eq!(reply.result["text"], "hi, Ada");
    host.shutdown().await;
    assert_eq!(
        *monitor.0.lock().expect("lock"),
        [
            "loaded kv-store 1.4.1",
            "loaded greeter 1.0.0",
            "loaded greeter 2.0.0"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builder_passes_resolve_limits_to_the_host() {
    // greeter requires kv-store: a chain of 2, over a bound of 1.
    let plugins = bench_support::plugins_dir(&["native/kv-store-1.4.1", "native/greeter-1.0.0"]);
    let host = plugkit::Host::builder()
        .from_directory(plugins.path())
        .with_resolve_limits(plugkit::host::ResolveLimits::default().with_max_depth(1))
        .without_auto_loading()
        .build()
        .await
        .expect("a running host");
    let report = host.start_report();
    assert!(report.loaded.is_empty(), "{:?}", report.loaded);
    assert_eq!(report.failed.len(), 2, "{:?}", report.failed);
    for (_, reason) in &report.failed {
        assert!(reason.contains("depth"), "the bound is named: {reason}");
    }
    host.shutdown().await;
}
