//! etcd discovery latency (feature `etcd`), beside a bare `etcd-client`
//! watch in the same run, against a real etcd on loopback
//! (`etcd-harness`).
//!
//! Each round registers one instance (a lease, then a put bound to it) and
//! measures, from just before the put, how long until the engine sends
//! `plugin_discovered` and until a bare watch of the same prefix (the
//! baseline: what any etcd watcher pays) sees the put; then it revokes the
//! lease and measures the same to `plugin_removed` and to the delete.
//! Both observers see the same writes, so the difference is what
//! discovery adds: parsing the record, selecting, merging, diffing and
//! publishing. Reported as p50 and p99 through `bench_support::Figure`;
//! rounds: `$PLUGKIT_BENCH_ETCD_ROUNDS`, else 50 (200 with `--full`).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use bench_support::Figure;
use etcd_client::{Client, EventType, PutOptions, WatchOptions};
use etcd_harness::EtcdServer;
use plugin_discovery::{DiscoveryConfig, DiscoveryEngine, DiscoveryEvent, EtcdSource};

/// The longest wait for one event.
const PATIENCE: Duration = Duration::from_secs(30);

fn main() {
    let rounds = bench_support::count("PLUGKIT_BENCH_ETCD_ROUNDS", 50, 200);
    let etcd = EtcdServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");

    let engine =
        DiscoveryEngine::new(DiscoveryConfig::default().with_etcd(EtcdSource::new([etcd.url()])))
            .expect("a valid configuration");
    let mut events = engine.subscribe();
    engine.start().expect("the engine starts");

    // The baseline: a bare watch of the same prefix, on a thread of its
    // own, telling when each put and delete arrives.
    let (seen, raw) = mpsc::channel::<(EventType, Instant)>();
    let (watching, watch_ready) = mpsc::channel();
    let url = etcd.url();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let mut client = Client::connect([url], None).await.expect("a client");
            let options = WatchOptions::new().with_prefix();
            let mut stream = client
                .watch("/plugkit/plugins/", Some(options))
                .await
                .expect("a watch");
            let _ = watching.send(());
            while let Ok(Some(response)) = stream.message().await {
                let now = Instant::now();
                for event in response.events() {
                    if seen.send((event.event_type(), now)).is_err() {
                        return;
                    }
                }
            }
        });
    });
    watch_ready
        .recv_timeout(PATIENCE)
        .expect("the bare watch starts");

    let mut client = runtime
        .block_on(Client::connect([etcd.url()], None))
        .expect("a client");
    let mut discovered = Vec::with_capacity(rounds);
    let mut removed = Vec::with_capacity(rounds);
    let mut raw_put = Vec::with_capacity(rounds);
    let mut raw_delete = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let lease = runtime
            .block_on(client.lease_grant(60, None))
            .expect("a lease");
        let key = format!("/plugkit/plugins/bench/1.0.{round}/{:x}", lease.id());
        let value = format!(
            r#"{{"name": "bench", "version": "1.0.{round}", "transport": "grpc", "endpoint": "127.0.0.1:7001"}}"#
        );
        let start = Instant::now();
        runtime
            .block_on(client.put(key, value, Some(PutOptions::new().with_lease(lease.id()))))
            .expect("put");
        wait_for(&mut events, |e| {
            matches!(e, DiscoveryEvent::Discovered { .. })
        });
        discovered.push(start.elapsed());
        raw_put.push(raw_at(&raw, EventType::Put) - start);

        let start = Instant::now();
        runtime
            .block_on(client.lease_revoke(lease.id()))
            .expect("revoke");
        wait_for(&mut events, |e| matches!(e, DiscoveryEvent::Removed { .. }));
        removed.push(start.elapsed());
        raw_delete.push(raw_at(&raw, EventType::Delete) - start);
    }
    engine.stop();

    let note =
        format!("{rounds} rounds on loopback; baseline: bare etcd-client watch of the same prefix");
    for (what, engine_times, raw_times) in [
        ("put to plugin_discovered", &mut discovered, &mut raw_put),
        ("revoke to plugin_removed", &mut removed, &mut raw_delete),
    ] {
        for (label, quantile) in [("p50", 0.50), ("p99", 0.99)] {
            let value = percentile(engine_times, quantile);
            let baseline = percentile(raw_times, quantile);
            println!("etcd-discovery: {what} {label}: {value:.3} ms (bare watch {baseline:.3} ms)");
            Figure::new("etcd-discovery", format!("{what} {label}"), value, "ms")
                .baseline("bare etcd-client watch", baseline)
                .note(note.clone())
                .write();
        }
    }
}

/// Waits for the first event `wanted` accepts (others are skipped).
fn wait_for(events: &mut plugin_discovery::Subscription, wanted: impl Fn(&DiscoveryEvent) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if wanted(&event) => return,
            Ok(_) => continue,
            Err(error) => panic!("no discovery event within {PATIENCE:?}: {error:?}"),
        }
    }
}

/// When the bare watch saw the next event of `kind`.
fn raw_at(raw: &mpsc::Receiver<(EventType, Instant)>, kind: EventType) -> Instant {
    loop {
        match raw.recv_timeout(PATIENCE) {
            Ok((seen, at)) if seen == kind => return at,
            Ok(_) => continue,
            Err(error) => panic!("no event from the bare watch within {PATIENCE:?}: {error}"),
        }
    }
}

/// The `quantile` of `times`, in milliseconds.
fn percentile(times: &mut [Duration], quantile: f64) -> f64 {
    times.sort_unstable();
    let index = ((times.len() as f64 - 1.0) * quantile).round() as usize;
    times[index.min(times.len() - 1)].as_secs_f64() * 1e3
}
