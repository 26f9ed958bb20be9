//! Remote plugins under a host: greeters served over gRPC by the example
//! binary (`--grpc-listen`), registered in a real etcd (started on
//! loopback by `etcd-harness`), beside a kv-store found in a directory.
//! The host discovers, loads, calls, balances and swaps them as it does
//! local ones. Every address is on 127.0.0.1; waits are on events.

mod support;

use std::io::BufRead as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use etcd_harness::EtcdServer;
use plugin_discovery::{EtcdSource, Registration};
use plugin_host::{DynamicLoader, HotLoadEvent};
use plugin_loader::LoaderConfig;
use serde_json::json;
use support::{Plugins, config, hot_load_event, layout, v};

/// A greeter served over gRPC by the example binary of `version`, on a
/// free loopback port; killed on drop.
struct Server {
    child: std::process::Child,
    addr: String,
}

impl Server {
    fn start(version: &str) -> Server {
        let binary = layout()
            .join(format!("process/greeter-{version}"))
            .join("greeter-plugin");
        let mut child = std::process::Command::new(&binary)
            .args(["--grpc-listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        // The binary's first line says where it listens (a contract of
        // `--grpc-listen`); it comes once the port is bound.
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the address line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("not an address line: {line:?}"))
            .to_string();
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The greeter's manifest of `version`, as laid out (the registration sets
/// transport and endpoint).
fn manifest(version: &str) -> plugin_manifest::Manifest {
    let path = layout().join(format!("process/greeter-{version}/plugin-manifest.yaml"));
    let bytes = std::fs::read(&path).expect("read the manifest");
    plugin_manifest::parse(&bytes, &path.display().to_string())
        .expect("a valid manifest")
        .manifest
}

async fn register(source: &EtcdSource, version: &str, server: &Server) -> Registration {
    Registration::register(
        source,
        &manifest(version),
        &server.addr,
        Duration::from_secs(30),
    )
    .await
    .unwrap_or_else(|e| panic!("register greeter {version}: {e}"))
}

/// A host over a directory with kv-store 1.4.1 and the etcd prefix.
fn host(plugins: &Plugins, source: &EtcdSource) -> DynamicLoader {
    let discovery = plugin_discovery::DiscoveryConfig::new([plugins.path()])
        .with_debounce(Duration::from_millis(20))
        .with_etcd(source.clone());
    let config = config()
        .with_loader(LoaderConfig::default().with_cache_dir(plugins.cache.path().join("loader")))
        .with_batch_window(Duration::from_millis(20));
    DynamicLoader::new(discovery, config).expect("host")
}

async fn greet(host: &DynamicLoader) -> Result<(String, String), String> {
    host.call_json("greeter", "greet", &json!({"name": "Ada"}))
        .await
        .map(|reply| {
            (
                reply.version.to_string(),
                reply.result["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .map_err(|e| e.to_string())
}

/// Registered, discovered, loaded after what it requires (a local
/// kv-store), called; two more instances of the same version are a
/// membership change (no swap, all three serve); one of them killed is an
/// `EndpointDown`, and calls go on on the others with none failing after
/// it; then v2 registered and v1's leases revoked while 8 callers call:
/// swapped, with no failed call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_plugin_is_loaded_balanced_and_swapped_like_a_local_one() {
    let etcd = EtcdServer::start();
    let source = EtcdSource::new([etcd.url()]);
    let plugins = Plugins::with(&["native/kv-store-1.4.1"]);
    let first = Server::start("1.0.0");
    let first_registration = register(&source, "1.0.0", &first).await;
    let host = host(&plugins, &source);
    let mut events = host.subscribe();
    let report = host.start().await.expect("starts");
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(host.calculate_load_order(), ["kv-store", "greeter"]);
    assert_eq!(
        greet(&host).await,
        Ok(("1.0.0".to_string(), "hello, Ada".to_string()))
    );
    host.enable_auto_loading().expect("watches");

    // Two more instances of 1.0.0: the same plugin, balanced; no swap.
    let second = Server::start("1.0.0");
    let second_registration = register(&source, "1.0.0", &second).await;
    hot_load_event(
        &mut events,
        "the second endpoint up",
        |e| matches!(e, HotLoadEvent::EndpointUp { endpoint, .. } if *endpoint == second.addr),
    )
    .await;
    let third = Server::start("1.0.0");
    let third_registration = register(&source, "1.0.0", &third).await;
    hot_load_event(
        &mut events,
        "the third endpoint up",
        |e| matches!(e, HotLoadEvent::EndpointUp { endpoint, .. } if *endpoint == third.addr),
    )
    .await;
    let status = host.hot_load_status();
    let greeter = status.iter().find(|s| s.name == "greeter").expect("status");
    assert_eq!(greeter.version, Some(v("1.0.0")));

    // The first one killed: reported, and the calls go to the second.
    let mut first = first;
    let _ = first.child.kill();
    let _ = first.child.wait();
    hot_load_event(
        &mut events,
        "the first endpoint down",
        |e| matches!(e, HotLoadEvent::EndpointDown { endpoint, .. } if *endpoint == first.addr),
    )
    .await;
    for _ in 0..20 {
        assert_eq!(
            greet(&host).await,
            Ok(("1.0.0".to_string(), "hello, Ada".to_string()))
        );
    }
    drop(first_registration); // its lease expires in its own time

    // v2 registered, v1's instances leave, while 8 callers call.
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let (host, stop) = (host.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let (mut answered, mut problems) = (0u64, Vec::new());
                while !stop.load(Ordering::SeqCst) && problems.len() < 10 {
                    match greet(&host).await {
                        Ok((version, text)) => {
                            let right = match version.as_str() {
                                "1.0.0" => text == "hello, Ada",
                                "2.0.0" => text == "hi, Ada",
                                _ => false,
                            };
                            if !right {
                                problems.push(format!("{version} answered {text:?}"));
                            }
                            answered += 1;
                        }
                        Err(error) => problems.push(error),
                    }
                }
                (answered, problems)
            })
        })
        .collect();
    let fourth = Server::start("2.0.0");
    let _fourth_registration = register(&source, "2.0.0", &fourth).await;
    second_registration.revoke().await.expect("revoke");
    third_registration.revoke().await.expect("revoke");
    hot_load_event(&mut events, "greeter updated to 2.0.0", |e| {
        matches!(e, HotLoadEvent::Updated { plugin, new_version, .. }
            if plugin == "greeter" && *new_version == v("2.0.0"))
    })
    .await;
    for _ in 0..20 {
        assert_eq!(
            greet(&host).await.map(|(version, _)| version),
            Ok("2.0.0".to_string())
        );
    }
    stop.store(true, Ordering::SeqCst);
    let mut total = 0;
    for caller in callers {
        let (answered, problems) = caller.await.expect("caller");
        assert!(problems.is_empty(), "{problems:#?}");
        total += answered;
    }
    assert!(total > 0);
    host.shutdown().await;
    drop((second, third, fourth));
}

/// The registry's server restarted under a watching host: the watch
/// resumes (a version registered after the restart is swapped in). Then
/// the only instance killed: the host says so at once (`EndpointDown`),
/// calls made meanwhile fail within their deadline with a clear error,
/// and when its lease runs out the plugin is removed and unloaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_restart_is_survived_and_a_dead_plugin_is_removed_when_its_lease_ends() {
    let mut etcd = EtcdServer::start();
    let source = EtcdSource::new([etcd.url()]);
    let plugins = Plugins::with(&["native/kv-store-1.4.1"]);
    let first = Server::start("1.0.0");
    let first_registration = register(&source, "1.0.0", &first).await;
    let host = host(&plugins, &source);
    let mut events = host.subscribe();
    host.start().await.expect("starts");
    host.enable_auto_loading().expect("watches");
    assert_eq!(
        greet(&host).await.map(|(version, _)| version),
        Ok("1.0.0".to_string())
    );

    etcd.restart();
    let second = Server::start("2.0.0");
    // A short lease, never renewed: it ends two seconds after the server
    // is killed below, at the latest.
    let second_registration = Registration::register(
        &source,
        &manifest("2.0.0"),
        &second.addr,
        Duration::from_secs(2),
    )
    .await
    .expect("register 2.0.0 after the restart");
    first_registration.revoke().await.expect("revoke 1.0.0");
    hot_load_event(&mut events, "greeter updated to 2.0.0", |e| {
        matches!(e, HotLoadEvent::Updated { plugin, new_version, .. }
            if plugin == "greeter" && *new_version == v("2.0.0"))
    })
    .await;
    assert_eq!(
        greet(&host).await.map(|(version, _)| version),
        Ok("2.0.0".to_string())
    );

    let mut second = second;
    let _ = second.child.kill();
    let _ = second.child.wait();
    hot_load_event(
        &mut events,
        "the endpoint down",
        |e| matches!(e, HotLoadEvent::EndpointDown { endpoint, .. } if *endpoint == second.addr),
    )
    .await;
    let error = host
        .call_with_timeout("greeter", "greet", b"", Duration::from_millis(500))
        .await
        .expect_err("no endpoint serves");
    assert!(error.to_string().contains("greeter"), "{error}");
    hot_load_event(
        &mut events,
        "greeter unloaded",
        |e| matches!(e, HotLoadEvent::Unloaded { plugin, .. } if plugin == "greeter"),
    )
    .await;
    drop(second_registration);
    let error = greet(&host).await.expect_err("unloaded");
    assert!(
        error.contains("not loaded") || error.contains("unloaded"),
        "{error}"
    );
    host.shutdown().await;
}
