//! The host against the real example plugins (laid out by `cargo xtask
//! example-plugins`), native and process: start in order, calls, hot swaps
//! under load driven by discovery, bad updates, rollback, removal,
//! shutdown. Tests wait on events and states; time bounds are ceilings.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use plugin_host::{HostCallError, HotLoadEvent, PluginState, StateRefused};
use serde_json::json;
use support::{Plugins, config, greet, hot_load_event, v};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_loads_in_dependency_order_native_and_process() {
    for transport in ["native", "process"] {
        let plugins = Plugins::with(&[
            &format!("{transport}/kv-store-1.4.1"),
            &format!("{transport}/greeter-1.0.0"),
        ]);
        let host = plugins.host(config());
        let report = host.start().await.expect("starts");
        assert_eq!(
            report.loaded,
            [
                ("kv-store".to_string(), v("1.4.1")),
                ("greeter".to_string(), v("1.0.0"))
            ],
            "{transport}"
        );
        assert!(report.failed.is_empty(), "{transport}: {:?}", report.failed);
        assert_eq!(host.calculate_load_order(), ["kv-store", "greeter"]);
        assert_eq!(
            greet(&host, "Ada").await,
            (v("1.0.0"), "hello, Ada".to_string())
        );
        let graph = host.dependency_graph();
        assert_eq!(graph["greeter"].required[0].0, "kv-store", "{graph:?}");
        let status = host.hot_load_status();
        assert!(
            status.iter().all(|s| s.state == PluginState::Running),
            "{status:?}"
        );
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_whose_dependency_is_missing_fails_with_the_reason_and_the_rest_start() {
    let plugins = Plugins::with(&["native/greeter-1.0.0"]);
    let host = plugins.host(config());
    let report = host.start().await.expect("starts");
    assert!(report.loaded.is_empty());
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert!(
        report.failed[0].1.contains("kv-store"),
        "{:?}",
        report.failed
    );
    let error = host
        .call_json("greeter", "greet", &json!({"name": "Ada"}))
        .await
        .expect_err("not loaded");
    assert!(
        matches!(
            &error,
            HostCallError::Unavailable {
                state: "failed",
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("kv-store"),
        "the reason is given: {error}"
    );
    assert!(!host.unresolved_dependencies().is_empty() || !host.version_conflicts().is_empty());
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolve_limits_bound_each_resolution_and_say_which_bound() {
    // greeter requires kv-store: a chain of 2, over a bound of 1. The
    // bound fails the whole resolution, and the report says so for each.
    let plugins = Plugins::with(&["native/kv-store-1.4.1", "native/greeter-1.0.0"]);
    let host = plugins.host(
        config().with_resolve_limits(plugin_host::ResolveLimits::default().with_max_depth(1)),
    );
    let report = host.start().await.expect("starts");
    assert!(report.loaded.is_empty(), "{:?}", report.loaded);
    let failed: Vec<&str> = report
        .failed
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(failed, ["greeter", "kv-store"], "{:?}", report.failed);
    for (_, reason) in &report.failed {
        assert!(reason.contains("depth"), "the bound is named: {reason}");
    }
    host.shutdown().await;

    // The default bounds let the same chain load.
    let host = plugins.host(config());
    let report = host.start().await.expect("starts");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    host.shutdown().await;
}

/// 8 callers call the greeter without pause while it is swapped `swaps`
/// times between 1.0.0 and 2.0.0 by putting the other version's directory
/// in and taking the serving one out. No call fails, every answer comes
/// from 1.0.0 or 2.0.0 with that version's text, and a call that starts
/// after a `plugin_updated` event (and before the next swap begins) is
/// answered by the new version.
async fn swap_under_load(transport: &str, swaps: usize) {
    let plugins = Plugins::with(&[
        &format!("{transport}/kv-store-1.4.1"),
        &format!("{transport}/greeter-1.0.0"),
    ]);
    let host = plugins.host(config());
    host.start().await.expect("starts");
    host.enable_auto_loading().expect("watches");
    let mut events = host.subscribe();
    let stop = Arc::new(AtomicBool::new(false));
    // The version every call that starts now must be answered by: 0 while
    // a swap is under way, else the major version of the new one.
    let expected = Arc::new(AtomicU64::new(1));
    let callers: Vec<_> = (0..8)
        .map(|i| {
            let (host, stop, expected) = (host.clone(), Arc::clone(&stop), Arc::clone(&expected));
            tokio::spawn(async move {
                let (mut answered, mut problems) = (0u64, Vec::new());
                while !stop.load(Ordering::SeqCst) {
                    let must_be = expected.load(Ordering::SeqCst);
                    let reply = host
                        .call_json(
                            "greeter",
                            "greet",
                            &json!({ "name": format!("caller {i}") }),
                        )
                        .await;
                    answered += 1;
                    let problem = match reply {
                        Err(error) => Some(format!("a call failed: {error}")),
                        Ok(reply) => {
                            let text = reply.result["text"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string();
                            let word = match reply.version.major {
                                1 => "hello",
                                2 => "hi",
                                _ => "?",
                            };
                            if !text.starts_with(word) {
                                Some(format!("{} answered {text:?}", reply.version))
                            } else if must_be != 0 && reply.version.major != must_be {
                                Some(format!(
                                    "{} answered a call made after {must_be}.0.0's plugin_updated",
                                    reply.version
                                ))
                            } else {
                                None
                            }
                        }
                    };
                    if let (Some(problem), true) = (problem, problems.len() < 10) {
                        problems.push(problem);
                    }
                    // Callers of a real host do IO between calls; without a
                    // yield, native calls (which never wait) would hold the
                    // runtime's workers and starve the host's own tasks.
                    tokio::task::yield_now().await;
                }
                (answered, problems)
            })
        })
        .collect();
    let mut serving = ("greeter-1.0.0", 1u64);
    for _ in 0..swaps {
        let next = if serving.1 == 1 {
            ("greeter-2.0.0", 2)
        } else {
            ("greeter-1.0.0", 1)
        };
        expected.store(0, Ordering::SeqCst);
        plugins.add(&format!("{transport}/{}", next.0));
        plugins.remove(serving.0);
        let version = v(&format!("{}.0.0", next.1));
        hot_load_event(
            &mut events,
            "plugin_updated",
            |e| matches!(e, HotLoadEvent::Updated { new_version, .. } if *new_version == version),
        )
        .await;
        expected.store(next.1, Ordering::SeqCst);
        serving = next;
    }
    stop.store(true, Ordering::SeqCst);
    let mut total = 0;
    for caller in callers {
        let (answered, problems) = caller.await.expect("caller");
        assert!(problems.is_empty(), "{transport}: {problems:#?}");
        total += answered;
    }
    assert!(total > swaps as u64, "{transport}: only {total} calls");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn native_swaps_under_load_lose_no_call() {
    swap_under_load("native", 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn process_swaps_under_load_lose_no_call() {
    swap_under_load("process", 50).await;
}

/// A bad version written in beside a serving one is rolled back: the old
/// version serves on, no call fails, and the event says why.
async fn bad_update(transport: &str, variant: &str, because: &str) {
    let plugins = Plugins::with(&[
        &format!("{transport}/kv-store-1.4.1"),
        &format!("{transport}/greeter-1.0.0"),
    ]);
    let host = plugins.host(config());
    host.start().await.expect("starts");
    host.enable_auto_loading().expect("watches");
    let mut events = host.subscribe();
    plugins.add(&format!("{transport}-extra/{variant}"));
    let event = hot_load_event(&mut events, "plugin_rolled_back", |e| {
        matches!(e, HotLoadEvent::RolledBack { .. })
    })
    .await;
    let HotLoadEvent::RolledBack {
        version,
        failed_version,
        reason,
        ..
    } = event
    else {
        unreachable!()
    };
    assert_eq!((version, failed_version), (v("1.0.0"), Some(v("3.0.0"))));
    assert!(reason.contains(because), "{transport} {variant}: {reason}");
    assert_eq!(greet(&host, "Ada").await.0, v("1.0.0"));
    let status = host.hot_load_status();
    let greeter = status.iter().find(|s| s.name == "greeter").expect("status");
    assert_eq!(greeter.state, PluginState::Running);
    assert!(
        greeter
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains(because)
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_panics_in_init_is_rolled_back() {
    bad_update("native", "greeter-3.0.0-panics-in-init", "panicked").await;
    bad_update("process", "greeter-3.0.0-panics-in-init", "panicked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_fails_its_health_check_is_rolled_back() {
    bad_update("native", "greeter-3.0.0-unhealthy", "health check failed").await;
    bad_update("process", "greeter-3.0.0-unhealthy", "health check failed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_goes_back_to_a_kept_copy_even_when_the_files_are_gone() {
    let plugins = Plugins::with(&["native/kv-store-1.4.1", "native/greeter-1.0.0"]);
    let host = plugins.host(config());
    host.start().await.expect("starts");
    let mut events = host.subscribe();
    plugins.add("native/greeter-2.0.0");
    plugins.remove("greeter-1.0.0");
    assert_eq!(host.load("greeter").await.expect("loads"), v("2.0.0"));
    hot_load_event(&mut events, "plugin_updated", |e| {
        matches!(e, HotLoadEvent::Updated { .. })
    })
    .await;
    let status = host.hot_load_status();
    let greeter = status.iter().find(|s| s.name == "greeter").expect("status");
    assert_eq!(greeter.rollback_target, Some(v("1.0.0")));
    assert_eq!(
        host.rollback("greeter").await.expect("rolls back"),
        v("1.0.0")
    );
    assert_eq!(
        greet(&host, "Ada").await,
        (v("1.0.0"), "hello, Ada".to_string())
    );
    hot_load_event(&mut events, "plugin_rolled_back", |e| {
        matches!(e, HotLoadEvent::RolledBack { .. })
    })
    .await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_manifest_keeps_the_last_good_version_serving() {
    let plugins = Plugins::with(&["native/kv-store-1.4.1", "native/greeter-1.0.0"]);
    let host = plugins.host(config());
    host.start().await.expect("starts");
    host.enable_auto_loading().expect("watches");
    let mut events = host.subscribe();
    let manifest = plugins.path().join("greeter-1.0.0/plugin-manifest.yaml");
    std::fs::write(&manifest, "name: greeter\nversion: [half written").expect("break it");
    tokio::time::timeout(
        Duration::from_secs(60),
        events.wait_for(|e| {
            matches!(e, plugin_host::HostEvent::Discovery(d)
                if matches!(**d, plugin_discovery::DiscoveryEvent::ManifestInvalid { .. }))
        }),
    )
    .await
    .expect("manifest_invalid within 60 s")
    .expect("stream");
    // A sentinel change proves the host has acted on the batch: kv-store
    // 2.0.0 is refused (the greeter 1.0.0 that still serves needs ^1.4),
    // and the greeter must still serve 1.0.0.
    plugins.add("native-extra/kv-store-2.0.0");
    let refused = hot_load_event(
        &mut events,
        "kv-store update refused",
        |e| matches!(e, HotLoadEvent::UpdateRefused { plugin, .. } if plugin == "kv-store"),
    )
    .await;
    assert!(refused.to_string().contains("greeter"), "{refused}");
    assert_eq!(greet(&host, "Ada").await.0, v("1.0.0"));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_plugin_is_unloaded_and_calls_say_so() {
    let plugins = Plugins::with(&["native/kv-store-1.4.1", "native/greeter-1.0.0"]);
    let host = plugins.host(config());
    host.start().await.expect("starts");
    host.enable_auto_loading().expect("watches");
    let mut events = host.subscribe();
    plugins.remove("greeter-1.0.0");
    hot_load_event(
        &mut events,
        "plugin_unloaded",
        |e| matches!(e, HotLoadEvent::Unloaded { plugin, .. } if plugin == "greeter"),
    )
    .await;
    let error = host
        .call_json("greeter", "greet", &json!({"name": "Ada"}))
        .await
        .expect_err("gone");
    assert!(
        matches!(error, HostCallError::Unavailable { .. }),
        "{error}"
    );
    assert!(
        error.to_string().starts_with("plugin greeter is "),
        "{error}"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_busy_callers_answers_or_refuses_every_call() {
    let plugins = Plugins::with(&["process/kv-store-1.4.1", "process/greeter-1.0.0"]);
    let host = plugins.host(config());
    host.start().await.expect("starts");
    let callers: Vec<_> = (0..8)
        .map(|i| {
            let host = host.clone();
            tokio::spawn(async move {
                let mut results = Vec::new();
                loop {
                    let reply = host
                        .call_json(
                            "greeter",
                            "greet",
                            &json!({ "name": format!("caller {i}") }),
                        )
                        .await;
                    let refused = reply.is_err();
                    results.push(reply);
                    if refused {
                        return results;
                    }
                }
            })
        })
        .collect();
    support_wait_for(&host, "greeter", 100).await;
    tokio::time::timeout(Duration::from_secs(60), host.shutdown())
        .await
        .expect("shutdown within 60 s");
    for caller in callers {
        let results = tokio::time::timeout(Duration::from_secs(60), caller)
            .await
            .expect("no caller hangs")
            .expect("caller");
        let last = results.last().expect("a result");
        let error = last.as_ref().expect_err("the last call was refused");
        assert!(error.to_string().contains("greeter"), "{error}");
    }
}

/// kv-store hands its keys over across a swap from 1.4.1 to 2.0.0 while 8
/// callers write and read: every write acknowledged (by either version) is
/// there afterwards, every read sees the caller's last write, no call
/// fails. (kv-store 2.0.0 is outside the greeter's `^1.4`, so the greeter
/// is not in this directory.)
async fn state_moves_across_a_swap(transport: &str) {
    let plugins = Plugins::with(&[&format!("{transport}/kv-store-1.4.1")]);
    let host = plugins.host(config());
    host.start().await.expect("starts");
    host.enable_auto_loading().expect("watches");
    let mut events = host.subscribe();
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..8)
        .map(|i| {
            let (host, stop) = (host.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut written = Vec::new();
                let mut problems = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) && problems.len() < 10 {
                    let (key, value) = (format!("c{i}-{n}"), n.to_string());
                    n += 1;
                    let set = host
                        .call_json("kv-store", "set", &json!({"key": key, "value": value}))
                        .await;
                    if let Err(error) = set {
                        problems.push(format!("set {key}: {error}"));
                        continue;
                    }
                    written.push((key.clone(), value.clone()));
                    match host
                        .call_json("kv-store", "get", &json!({"key": key}))
                        .await
                    {
                        Ok(reply) if reply.result == json!(value) => {}
                        Ok(reply) => problems.push(format!(
                            "{} read {key} as {} after writing {value}",
                            reply.version, reply.result
                        )),
                        Err(error) => problems.push(format!("get {key}: {error}")),
                    }
                    tokio::task::yield_now().await;
                }
                (written, problems)
            })
        })
        .collect();
    support_wait_for(&host, "kv-store", 200).await;
    plugins.add(&format!("{transport}-extra/kv-store-2.0.0"));
    plugins.remove("kv-store-1.4.1");
    hot_load_event(&mut events, "kv-store updated to 2.0.0", |e| {
        matches!(e, HotLoadEvent::Updated { plugin, new_version, .. }
            if plugin == "kv-store" && *new_version == v("2.0.0"))
    })
    .await;
    let after = host
        .hot_load_status()
        .iter()
        .find(|s| s.name == "kv-store")
        .map_or(0, |s| s.calls);
    support_wait_for(&host, "kv-store", after + 200).await;
    stop.store(true, Ordering::SeqCst);
    let mut keys = 0;
    for caller in callers {
        let (written, problems) = caller.await.expect("caller");
        assert!(problems.is_empty(), "{transport}: {problems:#?}");
        for (key, value) in written {
            let reply = host
                .call_json("kv-store", "get", &json!({"key": key}))
                .await
                .expect("get");
            assert_eq!(reply.version, v("2.0.0"));
            assert_eq!(
                reply.result,
                json!(value),
                "{transport}: {key} lost across the swap"
            );
            keys += 1;
        }
    }
    assert!(keys > 400, "{transport}: only {keys} keys written");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn native_state_moves_across_a_swap_with_no_write_lost() {
    state_moves_across_a_swap("native").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn process_state_moves_across_a_swap_with_no_write_lost() {
    state_moves_across_a_swap("process").await;
}

/// A new version that refuses the serving version's state (kv-store 3.0.0
/// reads only its own format): by default the update is refused and 1.4.1
/// serves on with every key; with `StateRefused::RollBack` it is a failed
/// swap, rolled back, and the keys are still there.
async fn state_refused(transport: &str, rule: StateRefused) {
    let plugins = Plugins::with(&[&format!("{transport}/kv-store-1.4.1")]);
    let mut config = config();
    config.hot_load = config.hot_load.with_on_state_refused(rule);
    let host = plugins.host(config);
    host.start().await.expect("starts");
    host.enable_auto_loading().expect("watches");
    let mut events = host.subscribe();
    host.call_json("kv-store", "set", &json!({"key": "k", "value": "kept"}))
        .await
        .expect("set");
    plugins.add(&format!(
        "{transport}-extra/kv-store-3.0.0-new-state-format"
    ));
    let reason = match rule {
        StateRefused::RefuseUpdate => {
            let event = hot_load_event(&mut events, "plugin_update_refused", |e| {
                matches!(e, HotLoadEvent::UpdateRefused { .. })
            })
            .await;
            let HotLoadEvent::UpdateRefused {
                version,
                candidate,
                reason,
                ..
            } = event
            else {
                unreachable!()
            };
            assert_eq!((version, candidate), (Some(v("1.4.1")), Some(v("3.0.0"))));
            reason
        }
        _ => {
            let event = hot_load_event(&mut events, "plugin_rolled_back", |e| {
                matches!(e, HotLoadEvent::RolledBack { .. })
            })
            .await;
            let HotLoadEvent::RolledBack {
                version, reason, ..
            } = event
            else {
                unreachable!()
            };
            assert_eq!(version, v("1.4.1"));
            reason
        }
    };
    assert!(
        reason.contains("unknown state format `kv-store/1`"),
        "{transport} {rule:?}: {reason}"
    );
    let reply = host
        .call_json("kv-store", "get", &json!({"key": "k"}))
        .await
        .expect("get");
    assert_eq!((reply.version, reply.result), (v("1.4.1"), json!("kept")));
    let status = host.hot_load_status();
    let store = status
        .iter()
        .find(|s| s.name == "kv-store")
        .expect("status");
    assert_eq!(store.state, PluginState::Running);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_refuses_the_state_is_refused_and_the_state_stays() {
    state_refused("native", StateRefused::RefuseUpdate).await;
    state_refused("process", StateRefused::RefuseUpdate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_refuses_the_state_is_rolled_back_when_configured() {
    state_refused("native", StateRefused::RollBack).await;
}

/// Waits until `plugin`'s serving instance has taken `calls` calls.
async fn support_wait_for(host: &plugin_host::DynamicLoader, plugin: &str, calls: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while host
        .hot_load_status()
        .iter()
        .find(|s| s.name == plugin)
        .is_none_or(|s| s.calls < calls)
    {
        assert!(
            Instant::now() < deadline,
            "{plugin} did not take {calls} calls"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
