//! The gRPC transport end to end, on loopback: plugins served with
//! plugkit-sdk's `GrpcServer` (in this process, on a runtime of their own,
//! so killing one cuts its connections like a crash) and the example
//! greeter binary started with `--grpc-listen 127.0.0.1:0`, loaded through
//! the `Loader`. Tests wait on events and states, never on sleeps.

mod support;

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use plugin_loader::{
    CallError, Ended, EndpointError, GrpcConfig, GrpcTls, Instance, InstanceEvent,
    InstanceEventKind, InstanceState, LoadError, Loader, LoaderConfig, Subscription,
};
use plugkit_example_interface::{GreetReply, GreetRequest};
use plugkit_sdk::grpc::{GrpcServeConfig, GrpcServer, ServerTls};
use plugkit_sdk::{Health, Methods, Plugin, PluginError, PluginInfo, Version};

/// The ceiling of every wait: generous, never reached when things work.
const CEILING: Duration = Duration::from_secs(30);

/// A plugin that says which server it is, can be made unhealthy, and has a
/// call that stays open until the test lets it go.
struct Echo {
    id: String,
    healthy: Arc<AtomicBool>,
    hold: Arc<Hold>,
    methods: Methods<Echo>,
}

/// A call held open: `entered` fires when it starts, `release` ends it.
#[derive(Default)]
struct Hold {
    entered: tokio::sync::Notify,
    released: std::sync::Mutex<bool>,
    release: std::sync::Condvar,
}

impl Echo {
    fn new(id: &str) -> (Echo, Arc<AtomicBool>, Arc<Hold>) {
        let healthy = Arc::new(AtomicBool::new(true));
        let hold = Arc::new(Hold::default());
        let echo = Echo {
            id: id.to_string(),
            healthy: Arc::clone(&healthy),
            hold: Arc::clone(&hold),
            methods: Methods::new()
                .method("who", Echo::who)
                .method("hold", Echo::hold),
        };
        (echo, healthy, hold)
    }

    fn who(&self, _: ()) -> Result<String, PluginError> {
        Ok(self.id.clone())
    }

    fn hold(&self, _: ()) -> Result<String, PluginError> {
        self.hold.entered.notify_one();
        let released = self
            .hold
            .released
            .lock()
            .map_err(|_| PluginError::failed("poisoned"))?;
        let (_released, _) = self
            .hold
            .release
            .wait_timeout_while(released, CEILING, |released| !*released)
            .map_err(|_| PluginError::failed("poisoned"))?;
        Ok(self.id.clone())
    }
}

impl Plugin for Echo {
    fn info(&self) -> PluginInfo {
        PluginInfo::new("echo", Version::new(1, 0, 0))
    }

    fn methods(&self) -> Option<&Methods<Self>> {
        Some(&self.methods)
    }

    fn health(&self) -> Health {
        if self.healthy.load(Ordering::SeqCst) {
            Health::Healthy
        } else {
            Health::Unhealthy("told to be".to_string())
        }
    }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

fn serve_config() -> GrpcServeConfig {
    GrpcServeConfig::default().with_health_interval(Duration::from_millis(20))
}

fn echo_server(id: &str, addr: SocketAddr) -> (GrpcServer, Arc<AtomicBool>, Arc<Hold>) {
    let (echo, healthy, hold) = Echo::new(id);
    let server = GrpcServer::start(echo, addr, serve_config()).expect("server starts");
    (server, healthy, hold)
}

fn manifest(name: &str, version: &str, endpoint: &str) -> plugin_manifest::Manifest {
    let text = format!("name: {name}\nversion: {version}\ntransport: grpc\nendpoint: {endpoint}\n");
    plugin_manifest::parse(text.as_bytes(), "plugin-manifest.yaml")
        .unwrap_or_else(|e| panic!("{e}"))
        .manifest
}

fn fast() -> GrpcConfig {
    GrpcConfig::default()
        .with_call_timeout(Duration::from_secs(10))
        .with_initial_backoff(Duration::from_millis(20))
        .with_max_backoff(Duration::from_millis(200))
}

fn loader(grpc: GrpcConfig) -> Loader {
    Loader::new(LoaderConfig::default().with_grpc(grpc))
}

async fn load_echo(endpoints: &[SocketAddr]) -> Instance {
    let endpoints: Vec<String> = endpoints.iter().map(ToString::to_string).collect();
    loader(fast())
        .load_remote(&manifest("echo", "1.0.0", &endpoints[0]), &endpoints)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The next event that `matches`, within the ceiling.
async fn event(
    events: &mut Subscription<InstanceEvent>,
    matches: impl FnMut(&InstanceEvent) -> bool,
) -> InstanceEvent {
    tokio::time::timeout(CEILING, events.wait_for(matches))
        .await
        .expect("the event within the ceiling")
        .expect("the event stream is open")
}

async fn who(instance: &Instance) -> Result<String, CallError> {
    instance.call_typed("who", &()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_plugin_answers_raw_typed_and_json_calls_and_its_health() {
    let server = GrpcServer::start(
        greeter_plugin::Greeter::default(),
        any_port(),
        serve_config(),
    )
    .expect("server starts");
    let endpoint = server.local_addr().to_string();
    let manifest = manifest("greeter", "1.0.0", &endpoint);
    let greeter = loader(fast())
        .load(&manifest, std::path::Path::new("."))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(greeter.state(), InstanceState::Running);
    assert_eq!(greeter.info().transport, plugin_manifest::Transport::Grpc);
    assert_eq!(greeter.info().capabilities, ["greet"]);

    let request = GreetRequest { name: "Ada".into() };
    let raw = greeter
        .call("greet", &plugkit_sdk::encode(&request).expect("encodes"))
        .await
        .expect("raw call");
    let reply: GreetReply = plugkit_sdk::decode(&raw).expect("decodes");
    assert!(reply.text.contains("Ada"), "{}", reply.text);
    let typed: GreetReply = greeter.call_typed("greet", &request).await.expect("typed");
    assert_eq!(typed.text, reply.text);
    let json = greeter
        .call_json("greet", &serde_json::json!({"name": "Ada"}))
        .await
        .expect("json");
    assert_eq!(json["text"], serde_json::json!(reply.text));
    let unknown = greeter.call("nope", b"").await.expect_err("no such method");
    assert!(
        matches!(&unknown, CallError::Plugin { error, .. } if error.kind() == plugkit_sdk::ErrorKind::UnknownMethod),
        "{unknown}"
    );
    assert_eq!(greeter.health().await.expect("health"), Health::Healthy);
    let methods = greeter.methods().await.expect("methods");
    assert_eq!(methods.len(), 1);
    assert_eq!(methods[0].name, "greet");

    // The host's shutdown closes its connection and never stops the service.
    let outcome = greeter.shutdown(Duration::from_secs(5)).await;
    assert_eq!(outcome.ended, Ended::Disconnected);
    assert_eq!(greeter.state(), InstanceState::Stopped);
    let refused = greeter.call("greet", b"").await.expect_err("stopped");
    assert!(matches!(refused, CallError::Stopped { .. }), "{refused}");
    let again = loader(fast())
        .load(&manifest, std::path::Path::new("."))
        .await
        .expect("the service still serves another host");
    let json = again
        .call_json("greet", &serde_json::json!({"name": "Bo"}))
        .await
        .expect("json");
    assert!(
        json["text"].as_str().is_some_and(|t| t.contains("Bo")),
        "{json}"
    );
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_refuses_another_name_or_version() {
    let (server, _, _) = echo_server("a", any_port());
    let endpoint = server.local_addr().to_string();
    for (name, version) in [("echo", "2.0.0"), ("greeter", "1.0.0")] {
        let error = loader(fast())
            .load(
                &manifest(name, version, &endpoint),
                std::path::Path::new("."),
            )
            .await
            .expect_err("refused");
        let LoadError::Remote { errors, .. } = &error else {
            panic!("{error}");
        };
        assert!(
            matches!(&errors[..], [EndpointError::Identity { .. }]),
            "{error}"
        );
        let text = error.to_string();
        assert!(
            text.contains("says it is echo 1.0.0")
                && text.contains(&format!("the manifest says {name} {version}")),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_off_loopback_is_refused_without_dialling() {
    // TEST-NET-1 addresses: refused before any connection is tried.
    let endpoints = ["192.0.2.1:50051".to_string(), "127.0.0.1:1".to_string()];
    let error = loader(fast())
        .load_remote(&manifest("echo", "1.0.0", &endpoints[0]), &endpoints)
        .await
        .expect_err("refused");
    let LoadError::Remote { errors, .. } = &error else {
        panic!("{error}");
    };
    assert!(
        matches!(&errors[..], [EndpointError::PlaintextNotAllowed { endpoint }] if endpoint == "192.0.2.1:50051"),
        "{error}"
    );
    assert!(error.to_string().contains("allow_plaintext"), "{error}");

    let (server, _, _) = echo_server("a", any_port());
    let echo = load_echo(&[server.local_addr()]).await;
    let refused = echo
        .set_endpoints(&["192.0.2.1:50051".to_string()])
        .expect_err("refused");
    assert!(
        matches!(refused, EndpointError::PlaintextNotAllowed { .. }),
        "{refused}"
    );
    assert_eq!(who(&echo).await.expect("the set is unchanged"), "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_fails_calls_in_flight_and_is_reconnected_when_back() {
    let (server, _, hold) = echo_server("a", any_port());
    let addr = server.local_addr();
    let echo = load_echo(&[addr]).await;
    let mut events = echo.events();

    let held = {
        let echo = echo.clone();
        tokio::spawn(async move { echo.call_typed::<(), String>("hold", &()).await })
    };
    tokio::time::timeout(CEILING, hold.entered.notified())
        .await
        .expect("the call is in flight");
    let killed = tokio::time::Instant::now();
    server.kill();
    let failed = tokio::time::timeout(CEILING, held)
        .await
        .expect("the call in flight ends")
        .expect("joins")
        .expect_err("the server is gone");
    assert!(
        killed.elapsed() < fast().call_timeout,
        "failed after {:?}, not within the deadline",
        killed.elapsed()
    );
    assert!(
        matches!(&failed, CallError::Disconnected { endpoint, .. } if *endpoint == addr.to_string()),
        "{failed}"
    );
    event(&mut events, |e| {
        matches!(&e.kind, InstanceEventKind::Disconnected { endpoint, .. } if *endpoint == addr.to_string())
    })
    .await;
    event(&mut events, |e| {
        matches!(e.kind, InstanceEventKind::Reconnecting { .. })
    })
    .await;
    assert_eq!(echo.state(), InstanceState::Disconnected);
    let health = echo.health().await.expect("health answers at once");
    assert!(matches!(health, Health::Unhealthy(_)), "{health:?}");

    // The same port again: the loader's backoff finds it.
    let (_server, _, _) = echo_server("b", addr);
    event(&mut events, |e| {
        matches!(e.kind, InstanceEventKind::InRotation { .. })
    })
    .await;
    assert_eq!(who(&echo).await.expect("reconnected"), "b");
    assert_eq!(echo.state(), InstanceState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_an_endpoint_fails_at_its_deadline() {
    let (server, _, _) = echo_server("a", any_port());
    let echo = load_echo(&[server.local_addr()]).await;
    let mut events = echo.events();
    server.kill();
    event(&mut events, |e| {
        matches!(e.kind, InstanceEventKind::Disconnected { .. })
    })
    .await;
    let error = echo
        .call_with_timeout(
            "who",
            &plugkit_sdk::encode(&()).expect("encodes"),
            Duration::from_millis(200),
        )
        .await
        .expect_err("no endpoint");
    assert!(matches!(error, CallError::Unavailable { .. }), "{error}");
    assert!(
        error.to_string().contains(&server_addr_text(&echo)),
        "{error}"
    );
}

fn server_addr_text(instance: &Instance) -> String {
    instance.as_grpc().expect("remote").endpoints()[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_endpoint_leaves_the_rotation_and_comes_back() {
    let (a, a_healthy, _) = echo_server("a", any_port());
    let (b, _, _) = echo_server("b", any_port());
    let echo = load_echo(&[a.local_addr(), b.local_addr()]).await;
    let mut events = echo.events();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        seen.insert(who(&echo).await.expect("call"));
    }
    assert_eq!(seen.len(), 2, "round robin over both: {seen:?}");

    a_healthy.store(false, Ordering::SeqCst);
    event(&mut events, |e| {
        matches!(&e.kind, InstanceEventKind::OutOfRotation { endpoint, .. } if *endpoint == a.local_addr().to_string())
    })
    .await;
    for _ in 0..6 {
        assert_eq!(who(&echo).await.expect("call"), "b");
    }
    a_healthy.store(true, Ordering::SeqCst);
    event(&mut events, |e| {
        matches!(&e.kind, InstanceEventKind::InRotation { endpoint } if *endpoint == a.local_addr().to_string())
    })
    .await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        seen.insert(who(&echo).await.expect("call"));
    }
    assert_eq!(seen.len(), 2, "back in rotation: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_one_killed_no_call_fails_after_failover() {
    let servers: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| echo_server(id, any_port()))
        .collect();
    let addrs: Vec<SocketAddr> = servers.iter().map(|(s, _, _)| s.local_addr()).collect();
    let echo = load_echo(&addrs).await;
    let mut events = echo.events();
    let mut servers = servers.into_iter();
    let (victim, _, _) = servers.next().expect("three");
    let _rest: Vec<_> = servers.collect();

    // Callers keep calling while the first server is killed.
    let failed_over = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for _ in 0..4 {
        let echo = echo.clone();
        let failed_over = Arc::clone(&failed_over);
        callers.push(tokio::spawn(async move {
            let (mut ok, mut in_flight_on_dead, mut after_failover) = (0, 0, Vec::new());
            for _ in 0..200 {
                let after = failed_over.load(Ordering::SeqCst);
                match who(&echo).await {
                    Ok(_) => ok += 1,
                    Err(error) if after => after_failover.push(error.to_string()),
                    Err(CallError::Disconnected { .. }) => in_flight_on_dead += 1,
                    Err(error) => after_failover.push(error.to_string()),
                }
            }
            (ok, in_flight_on_dead, after_failover)
        }));
    }
    victim.kill();
    event(&mut events, |e| {
        matches!(&e.kind, InstanceEventKind::Disconnected { endpoint, .. } if *endpoint == addrs[0].to_string())
    })
    .await;
    failed_over.store(true, Ordering::SeqCst);
    let (mut ok, mut in_flight_on_dead) = (0, 0);
    for caller in callers {
        let (caller_ok, caller_dead, after) = caller.await.expect("caller");
        assert!(after.is_empty(), "calls failed after failover: {after:?}");
        ok += caller_ok;
        in_flight_on_dead += caller_dead;
    }
    assert_eq!(ok + in_flight_on_dead, 800);
    assert!(
        in_flight_on_dead <= 8,
        "{in_flight_on_dead} calls failed on the dead server"
    );
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        seen.insert(who(&echo).await.expect("call"));
    }
    assert_eq!(
        seen,
        ["b", "c"].map(String::from).into(),
        "the survivors serve"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_set_changes_without_a_new_instance() {
    let (a, _, _) = echo_server("a", any_port());
    let (b, _, _) = echo_server("b", any_port());
    let echo = load_echo(&[a.local_addr()]).await;
    let id = echo.id();
    let mut events = echo.events();
    echo.set_endpoints(&[a.local_addr().to_string(), b.local_addr().to_string()])
        .expect("valid");
    event(&mut events, |e| {
        matches!(&e.kind, InstanceEventKind::InRotation { endpoint } if *endpoint == b.local_addr().to_string())
    })
    .await;
    echo.set_endpoints(&[b.local_addr().to_string()])
        .expect("valid");
    event(&mut events, |e| {
        matches!(&e.kind, InstanceEventKind::EndpointsChanged { removed, .. } if removed.len() == 1)
    })
    .await;
    for _ in 0..4 {
        assert_eq!(who(&echo).await.expect("call"), "b");
    }
    assert_eq!(echo.id(), id);
    let not_remote = Instance::from(echo.as_grpc().expect("remote").clone());
    assert_eq!(not_remote.id(), id, "clones are the same instance");
}

/// A CA and certificates for `localhost`/127.0.0.1, written to `dir`.
struct Pki {
    ca: std::path::PathBuf,
    server_cert: std::path::PathBuf,
    server_key: std::path::PathBuf,
    client_cert: std::path::PathBuf,
    client_key: std::path::PathBuf,
}

fn pki(dir: &std::path::Path, tag: &str) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let write = |name: &str, text: String| {
        let path = dir.join(format!("{tag}-{name}.pem"));
        std::fs::write(&path, text).expect("write PEM");
        path
    };
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &issuer)
            .expect("signed");
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()]);
    let (client_cert, client_key) = leaf(vec!["host".into()]);
    Pki {
        ca: write("ca", ca_cert.pem()),
        server_cert: write("server", server_cert),
        server_key: write("server-key", server_key),
        client_cert: write("client", client_cert),
        client_key: write("client-key", client_key),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_works_and_a_wrong_ca_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let good = pki(dir.path(), "good");
    let other = pki(dir.path(), "other");
    let (echo, _, _) = Echo::new("tls");
    let server = GrpcServer::start(
        echo,
        any_port(),
        serve_config().with_tls(Some(
            ServerTls::new(&good.server_cert, &good.server_key)
                .with_client_ca(Some(good.ca.clone())),
        )),
    )
    .expect("server starts");
    let endpoint = format!("localhost:{}", server.local_addr().port());
    let manifest = manifest("echo", "1.0.0", &endpoint);
    let dial = |tls: GrpcTls| loader(fast().with_tls(Some(tls)));

    let mtls = GrpcTls::new(&good.ca)
        .with_client_certificate(Some(good.client_cert.clone()))
        .with_client_key(Some(good.client_key.clone()));
    let echo = dial(mtls.clone())
        .load(&manifest, std::path::Path::new("."))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(who(&echo).await.expect("call over mTLS"), "tls");

    // The server's certificate is not signed by the CA this host trusts.
    let wrong_ca = GrpcTls::new(&other.ca)
        .with_client_certificate(Some(good.client_cert.clone()))
        .with_client_key(Some(good.client_key.clone()));
    let error = dial(wrong_ca)
        .load(&manifest, std::path::Path::new("."))
        .await
        .expect_err("refused");
    let LoadError::Remote { errors, .. } = &error else {
        panic!("{error}");
    };
    assert!(
        matches!(&errors[..], [EndpointError::Tls { .. }]),
        "{error}"
    );
    assert!(error.to_string().contains("certificate"), "{error}");

    // A client certificate the server's CA did not sign is refused too.
    let wrong_client = GrpcTls::new(&good.ca)
        .with_client_certificate(Some(other.client_cert.clone()))
        .with_client_key(Some(other.client_key.clone()));
    let error = dial(wrong_client)
        .load(&manifest, std::path::Path::new("."))
        .await
        .expect_err("refused");
    assert!(matches!(error, LoadError::Remote { .. }), "{error}");

    // Per-plugin TLS wins over the host-wide setting.
    let per_plugin = fast()
        .with_tls(Some(GrpcTls::new(&other.ca)))
        .with_plugin_tls([("echo".to_string(), mtls)].into());
    let echo = loader(per_plugin)
        .load(&manifest, std::path::Path::new("."))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(who(&echo).await.expect("call"), "tls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_binary_serves_over_grpc_with_grpc_listen() {
    let binary = support::libraries().binary("greeter-plugin");
    let mut child = std::process::Command::new(&binary)
        .args(["--grpc-listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    });
    let line = tokio::time::timeout(CEILING, line)
        .await
        .expect("the address within the ceiling")
        .expect("joins")
        .expect("reads");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    let greeter = loader(fast())
        .load(
            &manifest("greeter", "1.0.0", &addr),
            std::path::Path::new("."),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let json = greeter
        .call_json("greet", &serde_json::json!({"name": "Ada"}))
        .await
        .expect("json");
    assert!(
        json["text"].as_str().is_some_and(|t| t.contains("Ada")),
        "{json}"
    );
    let mut events = greeter.events();
    child.kill().expect("kill");
    let _ = child.wait();
    event(&mut events, |e| {
        matches!(e.kind, InstanceEventKind::Disconnected { .. })
    })
    .await;
    let outcome = greeter.shutdown(Duration::from_secs(1)).await;
    assert_eq!(outcome.ended, Ended::Disconnected);
}
