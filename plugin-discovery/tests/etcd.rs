//! The etcd source against a real etcd server (feature `etcd`; the server
//! is Debian's etcd-server, started by `etcd-harness` on loopback): records
//! registered, a second instance, leases revoked and expired, invalid
//! values, records that break the contract, the merge with directories,
//! a server restarted under a watching engine, and a watch cut off (by a
//! forwarder the test controls) while the history it would resume from is
//! compacted.

use std::time::Duration;

use etcd_client::Client;
use etcd_harness::EtcdServer;
use plugin_discovery::{
    DiscoveredPlugin, DiscoveryConfig, DiscoveryEngine, DiscoveryError, DiscoveryEvent, EtcdSource,
    RecvError, Registration, SkipReason, Subscription,
};
use plugin_manifest::Manifest;

/// The longest wait for an event that must come.
const PATIENCE: Duration = Duration::from_secs(30);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn manifest(name: &str, version: &str) -> Manifest {
    let text = format!(
        r#"{{"name": "{name}", "version": "{version}", "transport": "grpc", "endpoint": "127.0.0.1:1"}}"#
    );
    plugin_manifest::parse(text.as_bytes(), "plugin-manifest.json")
        .expect("a valid manifest")
        .manifest
}

fn source(etcd: &EtcdServer) -> EtcdSource {
    source_at(etcd.url())
}

fn source_at(url: String) -> EtcdSource {
    EtcdSource::new([url]).with_retry_interval(Duration::from_millis(200))
}

/// A started engine watching only `etcd`, and its events from the start.
fn watching(etcd: &EtcdServer) -> (DiscoveryEngine, Subscription) {
    watching_at(etcd.url())
}

/// [`watching`] through `url` (a forwarder to the server, say).
fn watching_at(url: String) -> (DiscoveryEngine, Subscription) {
    let config = DiscoveryConfig::default().with_etcd(source_at(url));
    let engine = DiscoveryEngine::new(config).expect("a valid configuration");
    let events = engine.subscribe();
    engine.start().expect("the engine starts");
    (engine, events)
}

/// The next event (warnings about the connection skipped), within
/// [`PATIENCE`].
fn next(events: &mut Subscription) -> DiscoveryEvent {
    loop {
        match events.recv_timeout(PATIENCE) {
            Ok(DiscoveryEvent::Warning { .. }) => continue,
            Ok(event) => return event,
            Err(error) => panic!("no event within {PATIENCE:?}: {error:?}"),
        }
    }
}

fn discovered(event: DiscoveryEvent) -> DiscoveredPlugin {
    match event {
        DiscoveryEvent::Discovered { plugin } => plugin,
        other => panic!("expected plugin_discovered, got {other:?}"),
    }
}

fn endpoints(plugin: &DiscoveredPlugin) -> Vec<&str> {
    plugin.endpoints().collect()
}

async fn register(etcd: &EtcdServer, name: &str, version: &str, endpoint: &str) -> Registration {
    Registration::register(
        &source(etcd),
        &manifest(name, version),
        endpoint,
        Duration::from_secs(60),
    )
    .await
    .expect("registered")
}

async fn client(etcd: &EtcdServer) -> Client {
    Client::connect([etcd.url()], None).await.expect("a client")
}

/// Registers the sentinel plugin and checks that the next event is its
/// discovery, so nothing else was sent before it; returns the names the
/// engine sees then.
fn sentinel_comes_next(
    rt: &tokio::runtime::Runtime,
    client: &mut Client,
    engine: &DiscoveryEngine,
    events: &mut Subscription,
) -> Vec<String> {
    let sentinel = r#"{"name": "sentinel", "version": "1.0.0", "transport": "grpc", "endpoint": "127.0.0.1:7003"}"#;
    rt.block_on(client.put("/plugkit/plugins/sentinel/1.0.0/c1", sentinel, None))
        .expect("put");
    assert_eq!(discovered(next(events)).name(), "sentinel");
    let current = engine.current();
    current
        .plugins
        .iter()
        .map(|p| p.name().to_string())
        .collect()
}

#[test]
fn a_registered_instance_is_discovered_with_its_endpoint_and_removed_when_revoked() {
    let etcd = EtcdServer::start();
    let rt = runtime();
    let (engine, mut events) = watching(&etcd);

    let registration = rt.block_on(register(&etcd, "greeter", "1.0.0", "127.0.0.1:7001"));
    let key = registration.key().to_string();
    assert_eq!(
        key,
        format!(
            "/plugkit/plugins/greeter/1.0.0/{}",
            registration.instance_id()
        )
    );
    let plugin = discovered(next(&mut events));
    assert_eq!(
        (plugin.name(), plugin.version().to_string().as_str()),
        ("greeter", "1.0.0")
    );
    assert_eq!(plugin.transport().as_str(), "grpc");
    assert_eq!(endpoints(&plugin), ["127.0.0.1:7001"]);
    assert_eq!(plugin.instances[0].key, key);
    assert_eq!(
        plugin.manifest_path.to_str(),
        Some("/plugkit/plugins/greeter/1.0.0")
    );
    assert_eq!(plugin.artifact_path, None);
    assert_eq!(engine.current().plugins, std::slice::from_ref(&plugin));

    let json = serde_json::to_value(DiscoveryEvent::Discovered { plugin }).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "event": "plugin_discovered", "stream": "discovery", "plugin": "greeter",
            "version": "1.0.0", "path": "/plugkit/plugins/greeter/1.0.0",
            "endpoints": ["127.0.0.1:7001"],
        })
    );

    rt.block_on(registration.revoke()).expect("revoked");
    match next(&mut events) {
        DiscoveryEvent::Removed {
            name,
            version,
            path,
        } => {
            assert_eq!(
                (name.as_str(), version.to_string().as_str()),
                ("greeter", "1.0.0")
            );
            assert_eq!(path.to_str(), Some("/plugkit/plugins/greeter/1.0.0"));
        }
        other => panic!("expected plugin_removed, got {other:?}"),
    }
    assert!(engine.current().plugins.is_empty());
}

#[test]
fn a_second_instance_is_a_membership_change_not_a_new_plugin() {
    let etcd = EtcdServer::start();
    let rt = runtime();
    let (_engine, mut events) = watching(&etcd);

    let first = rt.block_on(register(&etcd, "greeter", "1.0.0", "127.0.0.1:7001"));
    discovered(next(&mut events));
    let second = rt.block_on(register(&etcd, "greeter", "1.0.0", "127.0.0.1:7002"));
    let mut both = match next(&mut events) {
        DiscoveryEvent::EndpointsChanged {
            plugin,
            old_endpoints,
        } => {
            assert_eq!(old_endpoints, ["127.0.0.1:7001"]);
            endpoints(&plugin)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        }
        other => panic!("expected plugin_endpoints_changed, got {other:?}"),
    };
    both.sort();
    assert_eq!(both, ["127.0.0.1:7001", "127.0.0.1:7002"]);

    // The first instance going (the one whose manifest spoke for the
    // plugin) is a membership change too, not an update.
    rt.block_on(first.revoke()).expect("revoked");
    match next(&mut events) {
        DiscoveryEvent::EndpointsChanged {
            plugin,
            old_endpoints,
        } => {
            assert_eq!(endpoints(&plugin), ["127.0.0.1:7002"]);
            assert_eq!(plugin.manifest.endpoint(), "127.0.0.1:7002");
            assert_eq!(old_endpoints.len(), 2);
            let json = serde_json::to_value(DiscoveryEvent::EndpointsChanged {
                plugin,
                old_endpoints,
            })
            .unwrap();
            assert_eq!(json["event"], "plugin_endpoints_changed");
            assert_eq!(json["endpoints"], serde_json::json!(["127.0.0.1:7002"]));
        }
        other => panic!("expected plugin_endpoints_changed, got {other:?}"),
    }
    // Another version of the same plugin is a plugin of its own.
    let newer = rt.block_on(register(&etcd, "greeter", "2.0.0", "127.0.0.1:7003"));
    assert_eq!(discovered(next(&mut events)).version().to_string(), "2.0.0");

    rt.block_on(second.revoke()).expect("revoked");
    assert!(matches!(
        next(&mut events),
        DiscoveryEvent::Removed { version, .. } if version.to_string() == "1.0.0"
    ));
    rt.block_on(newer.revoke()).expect("revoked");
    assert!(matches!(next(&mut events), DiscoveryEvent::Removed { .. }));
}

#[test]
fn an_expired_lease_removes_the_plugin() {
    let etcd = EtcdServer::start();
    let rt = runtime();
    let (_engine, mut events) = watching(&etcd);
    // Registered with the shortest TTL and never renewed.
    let registration = rt
        .block_on(Registration::register(
            &source(&etcd),
            &manifest("short-lived", "1.0.0"),
            "127.0.0.1:7001",
            Duration::from_secs(1),
        ))
        .expect("registered");
    discovered(next(&mut events));
    assert!(
        matches!(next(&mut events), DiscoveryEvent::Removed { name, .. } if name == "short-lived"),
        "the lease of {} expired",
        registration.key()
    );
}

#[test]
fn an_invalid_value_is_manifest_invalid_at_its_key_and_broken_contracts_are_skipped() {
    let etcd = EtcdServer::start();
    let rt = runtime();
    let (engine, mut events) = watching(&etcd);
    let mut client = rt.block_on(client(&etcd));

    let key = "/plugkit/plugins/broken/1.0.0/a1";
    rt.block_on(client.put(key, r#"{"name": "broken", "version": "one"}"#, None))
        .expect("put");
    match next(&mut events) {
        DiscoveryEvent::ManifestInvalid { path, diagnostics } => {
            assert_eq!(path.to_str(), Some(key));
            assert!(
                diagnostics.iter().any(|d| d.path == "version"),
                "{diagnostics:?}"
            );
            let json = serde_json::to_value(DiscoveryEvent::ManifestInvalid { path, diagnostics })
                .unwrap();
            assert_eq!(json["event"], "manifest_invalid");
            assert_eq!(json["path"], key);
        }
        other => panic!("expected manifest_invalid, got {other:?}"),
    }

    // A key that does not match its manifest.
    let misplaced = "/plugkit/plugins/other/1.0.0/a2";
    let value = r#"{"name": "greeter", "version": "1.0.0", "transport": "grpc", "endpoint": "127.0.0.1:7001"}"#;
    rt.block_on(client.put(misplaced, value, None))
        .expect("put");
    match next(&mut events) {
        DiscoveryEvent::Skipped { path, reason } => {
            assert_eq!(path.to_str(), Some(misplaced));
            assert_eq!(
                reason,
                SkipReason::RecordKey {
                    expected: "/plugkit/plugins/greeter/1.0.0/<instance-id>".into()
                }
            );
        }
        other => panic!("expected plugin_skipped, got {other:?}"),
    }
    // A local transport cannot be reached from another machine.
    let native = "/plugkit/plugins/local/1.0.0/a3";
    let value = r#"{"name": "local", "version": "1.0.0", "transport": "native", "endpoint": "liblocal.so"}"#;
    rt.block_on(client.put(native, value, None)).expect("put");
    assert!(matches!(
        next(&mut events),
        DiscoveryEvent::Skipped {
            reason: SkipReason::TransportNotAllowed { .. },
            ..
        }
    ));
    // Fixing the value makes it a plugin; nothing else is sent on the way.
    let fixed = r#"{"name": "broken", "version": "1.0.0", "transport": "grpc", "endpoint": "127.0.0.1:7009"}"#;
    rt.block_on(client.put(key, fixed, None)).expect("put");
    assert_eq!(
        endpoints(&discovered(next(&mut events))),
        ["127.0.0.1:7009"]
    );
    let current = engine.current();
    assert_eq!(current.invalid.len(), 0);
    assert_eq!(current.skipped.len(), 2);
}

#[test]
fn discover_lists_etcd_beside_the_directories_and_a_directory_wins_a_duplicate() {
    let etcd = EtcdServer::start();
    let rt = runtime();
    let directory = tempfile::tempdir().unwrap();
    let local = directory.path().join("greeter/plugin-manifest.json");
    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
    std::fs::write(
        &local,
        r#"{"name": "greeter", "version": "1.0.0", "transport": "process", "endpoint": "greeter-plugin"}"#,
    )
    .unwrap();
    let _same = rt.block_on(register(&etcd, "greeter", "1.0.0", "127.0.0.1:7001"));
    let _other = rt.block_on(register(&etcd, "kv-store", "1.4.1", "127.0.0.1:7002"));

    let config = DiscoveryConfig::new([directory.path()]).with_etcd(source(&etcd));
    let found = plugin_discovery::discover(&config).expect("a valid configuration");
    let listed: Vec<(&str, bool)> = found
        .plugins
        .iter()
        .map(|p| (p.name(), p.is_registered()))
        .collect();
    assert_eq!(listed, [("greeter", false), ("kv-store", true)]);
    assert_eq!(found.skipped.len(), 1);
    assert_eq!(
        found.skipped[0].reason,
        SkipReason::Duplicate {
            name: "greeter".into(),
            version: "1.0.0".parse().unwrap(),
            winner: local,
        }
    );
    assert!(found.errors.is_empty(), "{:?}", found.errors);
}

#[test]
fn a_cluster_that_does_not_answer_is_an_error_in_the_discovery() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let source = EtcdSource::new([format!("http://127.0.0.1:{port}")])
        .with_connect_timeout(Duration::from_millis(500));
    let found = plugin_discovery::discover(&DiscoveryConfig::default().with_etcd(source))
        .expect("a valid configuration");
    assert!(found.plugins.is_empty());
    match found.errors.as_slice() {
        [error @ DiscoveryError::Etcd { .. }] => {
            assert!(error.to_string().starts_with("cannot "), "{error}");
            assert!(
                error.to_string().contains(&format!("127.0.0.1:{port}")),
                "{error}"
            );
        }
        other => panic!("expected one etcd error, got {other:?}"),
    }
}

#[test]
fn a_watch_resumes_after_a_server_restart_missing_nothing_and_doubling_nothing() {
    let mut etcd = EtcdServer::start();
    let rt = runtime();
    let (engine, mut events) = watching(&etcd);
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&errors);
    engine.set_error_handler(move |error| seen.lock().unwrap().push(error.to_string()));

    let _before = rt.block_on(register(&etcd, "greeter", "1.0.0", "127.0.0.1:7001"));
    discovered(next(&mut events));

    etcd.restart();
    // Written as soon as the server is back, most likely before the watch
    // is: the watch must still see it, from its last revision.
    let mut client = rt.block_on(client(&etcd));
    let value = r#"{"name": "kv-store", "version": "1.4.1", "transport": "grpc", "endpoint": "127.0.0.1:7002"}"#;
    rt.block_on(client.put("/plugkit/plugins/kv-store/1.4.1/b1", value, None))
        .expect("put");
    let plugin = discovered(next(&mut events));
    assert_eq!(
        plugin.name(),
        "kv-store",
        "the greeter is not discovered twice"
    );
    let names = sentinel_comes_next(&rt, &mut client, &engine, &mut events);
    assert_eq!(names, ["greeter", "kv-store", "sentinel"]);
    // The outage was reported once at most (the watch may be back before
    // its first retry).
    let errors = errors.lock().unwrap();
    assert!(errors.len() <= 1, "{errors:?}");
    assert_eq!(events.try_recv(), Err(RecvError::Timeout));
}

/// A TCP forwarder to etcd that the test can cut and restore: a network
/// partition between the engine and the cluster, while the test's own
/// client still reaches the server directly.
struct Partition {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Partition {
    fn to(etcd: &EtcdServer) -> Partition {
        use std::sync::atomic::Ordering;
        let upstream: std::net::SocketAddr = etcd
            .url()
            .trim_start_matches("http://")
            .parse()
            .expect("etcd's address");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (cutting, tracked) = (std::sync::Arc::clone(&cut), std::sync::Arc::clone(&open));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                // Partitioned: the connection is accepted and dropped.
                if cutting.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(upstream) else {
                    continue;
                };
                let pipes = [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ];
                tracked.lock().unwrap().extend([client, server]);
                for (from, to) in pipes {
                    if let (Ok(mut from), Ok(mut to)) = (from, to) {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                        });
                    }
                }
            }
        });
        Partition { port, cut, open }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Cuts every connection through it and refuses new ones.
    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_watch_cut_off_while_the_history_is_compacted_lists_again_and_misses_nothing() {
    let etcd = EtcdServer::start();
    let rt = runtime();
    let partition = Partition::to(&etcd);
    let (engine, mut events) = watching_at(partition.url());

    let mut client = rt.block_on(client(&etcd));
    let greeter = r#"{"name": "greeter", "version": "1.0.0", "transport": "grpc", "endpoint": "127.0.0.1:7001"}"#;
    rt.block_on(client.put("/plugkit/plugins/greeter/1.0.0/a1", greeter, None))
        .expect("put");
    assert_eq!(discovered(next(&mut events)).name(), "greeter");

    // While the engine is cut off: the greeter goes, the kv-store comes,
    // and the history of both is compacted away.
    partition.cut();
    rt.block_on(client.delete("/plugkit/plugins/greeter/1.0.0/a1", None))
        .expect("delete");
    let kv_store = r#"{"name": "kv-store", "version": "1.4.1", "transport": "grpc", "endpoint": "127.0.0.1:7002"}"#;
    let put = rt
        .block_on(client.put("/plugkit/plugins/kv-store/1.4.1/b1", kv_store, None))
        .expect("put");
    let revision = put.header().expect("a header").revision();
    rt.block_on(client.compact(revision, None))
        .expect("compact");
    partition.restore();

    // The watch resumes from a compacted revision: the engine lists again
    // and reports the difference, each change once.
    let mut seen = [next(&mut events), next(&mut events)];
    seen.sort_by_key(|event| format!("{event:?}"));
    let described: Vec<String> = seen
        .iter()
        .map(|event| match event {
            DiscoveryEvent::Discovered { plugin } => format!("discovered {}", plugin.name()),
            DiscoveryEvent::Removed { name, .. } => format!("removed {name}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(described, ["discovered kv-store", "removed greeter"]);
    let names = sentinel_comes_next(&rt, &mut client, &engine, &mut events);
    assert_eq!(names, ["kv-store", "sentinel"]);
}
