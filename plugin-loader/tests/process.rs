//! The process transport against real children, through [`Instance`]: the
//! greeter served as a process and the misbehaving `fixture-process`, built
//! by the test itself. Tests wait on events and states, never on time: a
//! time bound here is a generous ceiling.

mod support;

use std::path::Path;
use std::time::Duration;

use plugin_loader::{
    CallError, CrashCause, Ended, FailureCause, Instance, InstanceEvent, InstanceEventKind,
    InstanceState, LoadError, ProcessConfig, RestartPolicy, Subscription,
};
use plugkit_example_interface::{GreetReply, GreetRequest};
use plugkit_sdk::{ErrorKind, Health};
use support::{eventually, libraries, processes_from, stage_process, write_script};

fn fixture(file_name: &str, extra: &str) -> support::Staged {
    stage_process(
        &libraries().binary("fixture-process"),
        file_name,
        "fixture-process",
        "1.0.0",
        extra,
    )
}

fn quick() -> ProcessConfig {
    ProcessConfig::default()
        .with_handshake_timeout(Duration::from_secs(10))
        .with_stop_timeout(Duration::from_millis(500))
        .with_restart(RestartPolicy::default().with_initial_backoff(Duration::from_millis(20)))
}

/// A loaded plugin with the cache directory it runs from.
struct Loaded {
    plugin: Instance,
    cache: tempfile::TempDir,
}

async fn load_in(
    staged: &support::Staged,
    config: ProcessConfig,
) -> Result<Loaded, (LoadError, tempfile::TempDir)> {
    let (loader, cache) = support::loader(config);
    match loader.load(&staged.manifest(), staged.path()).await {
        Ok(plugin) => Ok(Loaded { plugin, cache }),
        Err(error) => Err((error, cache)),
    }
}

async fn load(staged: &support::Staged, config: ProcessConfig) -> Loaded {
    load_in(staged, config)
        .await
        .unwrap_or_else(|(e, _)| panic!("{e}"))
}

/// Points `staged`'s manifest at another executable of its directory (a
/// wrapper script the test wrote).
fn point_at(staged: &support::Staged, endpoint: &str) {
    let path = staged.path().join("plugin-manifest.yaml");
    let manifest = std::fs::read_to_string(&path).expect("read manifest");
    std::fs::write(
        &path,
        manifest.replace(
            "endpoint: fixture-process",
            &format!("endpoint: {endpoint}"),
        ),
    )
    .expect("write manifest");
}

fn pid(plugin: &Instance) -> u32 {
    plugin
        .as_process()
        .expect("process")
        .pid()
        .expect("a child runs")
}

/// The next event, within a generous ceiling.
async fn next_event(events: &mut Subscription<InstanceEvent>) -> InstanceEventKind {
    tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .expect("an event within 30 s")
        .expect("event stream open")
        .kind
}

fn kill_9(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("kill");
}

/// Starts a call that returns once the file it returns exists (in `dir`),
/// and waits until it is in flight.
async fn call_held_open(
    plugin: &Instance,
    dir: &Path,
) -> (
    std::path::PathBuf,
    tokio::task::JoinHandle<Result<Vec<u8>, CallError>>,
) {
    let (release, release_bytes) = release_path(dir);
    let busy = tokio::spawn({
        let plugin = plugin.clone();
        async move { plugin.call("wait_for_file", &release_bytes).await }
    });
    eventually("the call is in flight", || plugin.stats().in_flight == 1).await;
    (release, busy)
}

fn release_path(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir.join("release");
    let bytes = path.display().to_string().into_bytes();
    (path, bytes)
}

#[tokio::test]
async fn the_greeter_runs_the_same_code_as_a_process() {
    let staged = stage_process(
        &libraries().binary("greeter-plugin"),
        "greeter-plugin",
        "greeter",
        "1.0.0",
        "metadata:\n  greeting: howdy\n",
    );
    let Loaded {
        plugin: greeter,
        cache: _cache,
    } = load(&staged, quick()).await;
    assert_eq!(greeter.info().capabilities, ["greet"]);
    assert_eq!(greeter.info().sdk_version, plugkit_sdk::SDK_VERSION);
    assert_eq!(
        greeter.info().transport,
        plugin_manifest::Transport::Process
    );
    let reply: GreetReply = greeter
        .call_typed("greet", &GreetRequest { name: "Ada".into() })
        .await
        .expect("greet");
    assert_eq!(reply.text, "howdy, Ada");
    let json = greeter
        .call_json("greet", &serde_json::json!({"name": "Bob"}))
        .await
        .expect("JSON call");
    assert_eq!(
        json,
        serde_json::json!({"text": "howdy, Bob", "version": "1.0.0"})
    );
    let methods = greeter.methods().await.expect("methods");
    assert_eq!(
        methods.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["greet"]
    );
    assert_eq!(greeter.health().await, Ok(Health::Healthy));
    let outcome = greeter.shutdown(Duration::from_secs(5)).await;
    assert_eq!((outcome.abandoned_calls, outcome.ended), (0, Ended::Clean));
    assert_eq!(greeter.state(), InstanceState::Stopped);
}

#[tokio::test]
async fn calls_are_multiplexed_a_slow_one_holds_up_no_other() {
    let staged = fixture("fixture-process", "");
    let Loaded {
        plugin,
        cache: _cache,
    } = load(&staged, quick()).await;
    let (release, slow) = call_held_open(&plugin, staged.path()).await;
    for i in 0..16u8 {
        assert_eq!(plugin.call("echo", &[i]).await.as_deref(), Ok(&[i][..]));
    }
    assert!(!slow.is_finished(), "the slow call is still running");
    std::fs::write(&release, b"").expect("release");
    assert_eq!(slow.await.expect("task").as_deref(), Ok(&b"released"[..]));
    plugin.shutdown(Duration::from_secs(5)).await;
}

/// The name of the child's thread that ran a call with `payload`.
async fn thread_of(plugin: &Instance, payload: &[u8]) -> String {
    let name = plugin.call("thread", payload).await.expect("thread");
    String::from_utf8(name).expect("a name")
}

#[tokio::test]
async fn one_call_at_a_time_runs_on_the_call_lane_overlapping_ones_in_the_pool() {
    use plugkit_sdk::protocol::{CALL_LANE_MAX_FRAME, CALL_LANE_THREAD};
    let staged = fixture("fixture-process", "");
    let Loaded {
        plugin,
        cache: _cache,
    } = load(&staged, quick()).await;
    assert_eq!(thread_of(&plugin, b"").await, CALL_LANE_THREAD);
    // The lane is taken by a call held open: the next goes to the pool,
    // and is not held up by it.
    let (release, slow) = call_held_open(&plugin, staged.path()).await;
    assert_eq!(thread_of(&plugin, b"").await, "unnamed");
    std::fs::write(&release, b"").expect("release");
    assert_eq!(slow.await.expect("task").as_deref(), Ok(&b"released"[..]));
    assert_eq!(thread_of(&plugin, b"").await, CALL_LANE_THREAD);
    // A frame larger than one atomic pipe write goes on stdin.
    let large = vec![7u8; CALL_LANE_MAX_FRAME];
    assert_eq!(thread_of(&plugin, &large).await, "unnamed");
    // A child that dies in a call on the lane: the call fails as a crash,
    // and the restarted child has a lane of its own.
    let mut events = plugin.events();
    let error = plugin.call("exit", b"").await.expect_err("crashes");
    assert!(matches!(error, CallError::Crashed { .. }), "{error}");
    loop {
        if let InstanceEventKind::Restarted { .. } = next_event(&mut events).await {
            break;
        }
    }
    assert_eq!(thread_of(&plugin, b"").await, CALL_LANE_THREAD);
    plugin.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_plugins_own_children_inherit_no_descriptor_of_plugkits() {
    // The lane's read end stays open across the plugin's exec; the SDK
    // then keeps only a close-on-exec copy of it. (The reading of
    // `/proc/self/fd` itself shows up as one descriptor, close-on-exec.)
    let staged = fixture("fixture-process", "");
    let Loaded {
        plugin,
        cache: _cache,
    } = load(&staged, quick()).await;
    let fds = plugin.call("fds", b"").await.expect("fds");
    let fds = String::from_utf8(fds).expect("text");
    assert!(!fds.is_empty(), "the lane at least is open");
    for line in fds.lines() {
        let flags = line.split_whitespace().last().unwrap_or_default();
        let flags = u32::from_str_radix(flags, 8).unwrap_or_else(|_| panic!("flags in {line:?}"));
        assert_ne!(
            flags & 0o2000000,
            0,
            "not close-on-exec: {line:?} of\n{fds}"
        );
    }
    plugin.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_child_that_does_not_read_the_call_lane_gets_every_call_on_stdin() {
    // An SDK before protocol 4 says 3 in its hello: the host never uses
    // the lane it offered.
    let staged = fixture("fixture-process-protocol-3", "");
    let Loaded {
        plugin,
        cache: _cache,
    } = load(&staged, quick()).await;
    for i in 0..4u8 {
        assert_eq!(plugin.call("echo", &[i]).await.as_deref(), Ok(&[i][..]));
        assert_eq!(thread_of(&plugin, b"").await, "unnamed");
    }
    assert_eq!(
        plugin.shutdown(Duration::from_secs(5)).await.ended,
        Ended::Clean
    );
}

#[tokio::test]
async fn handshake_failures_are_bounded_and_leave_no_process() {
    let config = quick().with_handshake_timeout(Duration::from_secs(2));
    for (file_name, expect) in [
        (
            "garbage-plugin",
            "not a plugkit process plugin: it printed \"hello, I",
        ),
        ("silent-plugin", "no complete handshake within 2000 ms"),
        (
            "early-exit-plugin",
            "closed its output before the handshake",
        ),
        ("wrong-protocol-plugin", "speaks protocol version 99"),
        ("oversized-hello-plugin", "exceeds the limit"),
    ] {
        let staged = fixture(file_name, "");
        let started = std::time::Instant::now();
        let (error, cache) = load_in(&staged, config.clone())
            .await
            .err()
            .expect(file_name);
        assert!(
            matches!(error, LoadError::Handshake { .. }),
            "{file_name}: {error}"
        );
        assert!(error.to_string().contains(expect), "{file_name}: {error}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{file_name} took {:?}",
            started.elapsed()
        );
        assert_eq!(
            processes_from(cache.path(), file_name),
            Vec::<u32>::new(),
            "{file_name} left a process behind"
        );
        assert_eq!(
            std::fs::read_dir(cache.path()).expect("cache").count(),
            0,
            "{file_name}: the copy is removed"
        );
    }
}

#[tokio::test]
async fn a_hello_that_differs_from_the_manifest_is_refused() {
    let staged = stage_process(
        &libraries().binary("fixture-process"),
        "fixture-process",
        "fixture-process",
        "2.0.0",
        "",
    );
    let (error, _) = load_in(&staged, quick())
        .await
        .err()
        .expect("version differs");
    assert!(
        matches!(error, LoadError::IdentityMismatch { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_crash_fails_calls_in_flight_at_once_then_restarts() {
    for crash in ["exit", "abort", "kill -9"] {
        let staged = fixture("fixture-process", "");
        let Loaded {
            plugin,
            cache: _cache,
        } = load(&staged, quick()).await;
        let mut events = plugin.events();
        let (_, release_bytes) = release_path(staged.path());
        let in_flight: Vec<_> = (0..5)
            .map(|_| {
                let plugin = plugin.clone();
                let release_bytes = release_bytes.clone();
                tokio::spawn(async move {
                    plugin
                        .call_with_timeout(
                            "wait_for_file",
                            &release_bytes,
                            Duration::from_secs(600),
                        )
                        .await
                })
            })
            .collect();
        eventually("five calls in flight", || plugin.stats().in_flight == 5).await;
        match crash {
            "kill -9" => kill_9(pid(&plugin)),
            method => {
                let _ = plugin.call(method, b"").await;
            }
        }
        // Each call fails with the crash, not with its ten-minute timeout.
        for call in in_flight {
            let error = call.await.expect("task").expect_err("in-flight call fails");
            assert!(
                matches!(error, CallError::Crashed { .. }),
                "{crash}: {error}"
            );
        }
        match next_event(&mut events).await {
            InstanceEventKind::Crashed { in_flight, cause } => {
                assert!(in_flight >= 5, "{crash}: {in_flight}");
                let expected = match crash {
                    "exit" => matches!(cause, CrashCause::Exited { code: 7 }),
                    "abort" => matches!(cause, CrashCause::Signaled { signal: 6 }),
                    _ => matches!(cause, CrashCause::Signaled { signal: 9 }),
                };
                assert!(expected, "{crash}: {cause}");
            }
            other => panic!("{crash}: {other:?}"),
        }
        assert!(
            matches!(
                next_event(&mut events).await,
                InstanceEventKind::Restarting { attempt: 1, .. }
            ),
            "{crash}"
        );
        assert!(
            matches!(
                next_event(&mut events).await,
                InstanceEventKind::Restarted { attempt: 1 }
            ),
            "{crash}"
        );
        assert_eq!(
            plugin.call("echo", b"again").await.as_deref(),
            Ok(&b"again"[..]),
            "{crash}"
        );
        plugin.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn calls_during_a_restart_wait_for_the_new_child() {
    let staged = fixture("fixture-process", "");
    let config = quick()
        .with_restart(RestartPolicy::default().with_initial_backoff(Duration::from_millis(300)));
    let Loaded {
        plugin,
        cache: _cache,
    } = load(&staged, config).await;
    let mut events = plugin.events();
    kill_9(pid(&plugin));
    assert!(matches!(
        next_event(&mut events).await,
        InstanceEventKind::Crashed { .. }
    ));
    assert!(matches!(
        next_event(&mut events).await,
        InstanceEventKind::Restarting { .. }
    ));
    assert!(matches!(
        plugin.state(),
        InstanceState::Restarting { attempt: 1 }
    ));
    // Made while no child runs: it waits for the restart instead of failing.
    assert_eq!(
        plugin.call("echo", b"waited").await.as_deref(),
        Ok(&b"waited"[..])
    );
    assert_eq!(plugin.state(), InstanceState::Running);
    plugin.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn bad_frames_from_the_child_are_protocol_errors_not_allocations() {
    // Called alone, the call goes on the lane and its caller reads the
    // reply stream itself; called while another holds the lane, it goes
    // on stdin and the reader task reads it: both readers refuse it.
    for (method, lane_held) in [
        ("oversized", false),
        ("malformed", false),
        ("oversized", true),
        ("malformed", true),
    ] {
        let staged = fixture("fixture-process", "");
        let Loaded {
            plugin,
            cache: _cache,
        } = load(&staged, quick()).await;
        let mut events = plugin.events();
        let held = if lane_held {
            Some(call_held_open(&plugin, staged.path()).await)
        } else {
            None
        };
        let error = plugin.call(method, b"").await.expect_err(method);
        assert!(
            matches!(error, CallError::Crashed { .. }),
            "{method}: {error}"
        );
        let InstanceEventKind::Crashed {
            cause: CrashCause::Protocol { message },
            ..
        } = next_event(&mut events).await
        else {
            panic!("{method}: no protocol crash event");
        };
        let expect = if method == "oversized" {
            "exceeds the limit"
        } else {
            "malformed frame"
        };
        assert!(message.contains(expect), "{method}: {message}");
        if let Some((_, held)) = held {
            let error = held
                .await
                .expect("task")
                .expect_err("crashed with the child");
            assert!(matches!(error, CallError::Crashed { .. }), "{error}");
        }
        plugin.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn a_timeout_does_not_poison_the_connection() {
    let staged = fixture("fixture-process", "");
    let Loaded {
        plugin,
        cache: _cache,
    } = load(&staged, quick()).await;
    let (release, release_bytes) = release_path(staged.path());
    let error = plugin
        .call_with_timeout("wait_for_file", &release_bytes, Duration::from_millis(50))
        .await
        .expect_err("times out");
    assert!(matches!(error, CallError::Timeout { .. }), "{error}");
    assert_eq!(
        plugin.call("echo", b"still here").await.as_deref(),
        Ok(&b"still here"[..])
    );
    std::fs::write(&release, b"").expect("release"); // the late reply comes and is dropped
    assert_eq!(
        plugin.call("echo", b"and here").await.as_deref(),
        Ok(&b"and here"[..])
    );
    plugin.shutdown(Duration::from_secs(5)).await;
}

/// Calls with the instance's default timeout are timed by their
/// connection (one queue of deadlines, not a timer each): a held call
/// times out while calls made after it are answered, and the connection
/// serves on.
#[tokio::test]
async fn default_timeouts_fail_held_calls_while_later_calls_are_answered() {
    let staged = fixture("fixture-process", "");
    let timeout = Duration::from_millis(500);
    let Loaded {
        plugin,
        cache: _cache,
    } = load(&staged, quick().with_call_timeout(timeout)).await;
    let (release, release_bytes) = release_path(staged.path());
    let held: Vec<_> = (0..2)
        .map(|_| {
            let (plugin, bytes) = (plugin.clone(), release_bytes.clone());
            tokio::spawn(async move { plugin.call("wait_for_file", &bytes).await })
        })
        .collect();
    // Answered calls queue behind the held ones and are skipped when their
    // deadlines come up.
    for i in 0..200u32 {
        let payload = i.to_le_bytes();
        assert_eq!(
            plugin.call("echo", &payload).await.as_deref(),
            Ok(&payload[..])
        );
    }
    for call in held {
        let error = call.await.expect("task").expect_err("times out");
        assert!(
            matches!(error, CallError::Timeout { after, .. } if after == timeout),
            "{error}"
        );
    }
    std::fs::write(&release, b"").expect("release"); // the late replies are dropped
    assert_eq!(
        plugin.call("echo", b"still here").await.as_deref(),
        Ok(&b"still here"[..])
    );
    // A timeout of its own is kept by a timer beside the connection's queue.
    let error = plugin
        .call_with_timeout(
            "wait_for_file",
            b"/nonexistent/never",
            Duration::from_millis(50),
        )
        .await
        .expect_err("times out");
    assert!(matches!(error, CallError::Timeout { .. }), "{error}");
    plugin.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn restarts_are_bounded_then_the_plugin_is_failed() {
    let staged = fixture("fixture-process", "");
    let config = quick().with_restart(
        RestartPolicy::default()
            .with_initial_backoff(Duration::from_millis(20))
            .with_max_restarts(2),
    );
    let Loaded {
        plugin,
        cache: _cache,
    } = load(&staged, config).await;
    let mut events = plugin.events();
    for round in 1..=3u32 {
        let _ = plugin.call("exit", b"").await;
        assert!(
            matches!(
                next_event(&mut events).await,
                InstanceEventKind::Crashed { .. }
            ),
            "round {round}"
        );
        if round < 3 {
            assert!(
                matches!(next_event(&mut events).await, InstanceEventKind::Restarting { attempt, .. } if attempt == round)
            );
            assert!(
                matches!(next_event(&mut events).await, InstanceEventKind::Restarted { attempt } if attempt == round)
            );
        } else {
            let event = next_event(&mut events).await;
            assert!(
                matches!(
                    event,
                    InstanceEventKind::Failed {
                        cause: FailureCause::Crashed { crashes: 3, .. }
                    }
                ),
                "{event:?}"
            );
        }
    }
    assert!(matches!(plugin.state(), InstanceState::Failed { .. }));
    let error = plugin
        .call("echo", b"")
        .await
        .expect_err("failed plugins refuse");
    assert!(matches!(error, CallError::Failed { .. }), "{error}");
    let outcome = plugin.shutdown(Duration::from_secs(5)).await;
    assert_eq!(outcome.ended, Ended::NotRunning);
    assert_eq!(plugin.state(), InstanceState::Stopped);
}

#[tokio::test]
async fn a_panic_fails_a_process_instance_and_stops_its_child() {
    let staged = fixture("fixture-process", "");
    let Loaded { plugin, cache } = load(&staged, quick()).await;
    let mut events = plugin.events();
    let error = plugin.call("panic", b"").await.expect_err("panics");
    assert!(
        matches!(&error, CallError::Plugin { error, .. } if error.kind() == ErrorKind::Panicked),
        "{error}"
    );
    assert!(matches!(
        next_event(&mut events).await,
        InstanceEventKind::Failed {
            cause: FailureCause::Panicked { .. }
        }
    ));
    let refused = plugin.call("echo", b"").await.expect_err("failed");
    assert!(matches!(refused, CallError::Failed { .. }), "{refused}");
    eventually("the child is stopped", || {
        processes_from(cache.path(), "fixture-process").is_empty()
    })
    .await;
}

#[tokio::test]
async fn shutdown_drains_process_calls_in_flight() {
    let staged = fixture("fixture-process", "");
    let Loaded { plugin, cache } = load(&staged, quick()).await;
    let (release, busy) = call_held_open(&plugin, staged.path()).await;
    let mut events = plugin.events();
    let shutting_down = tokio::spawn({
        let plugin = plugin.clone();
        async move { plugin.shutdown(Duration::from_secs(60)).await }
    });
    assert_eq!(
        next_event(&mut events).await,
        InstanceEventKind::Draining { in_flight: 1 }
    );
    let refused = plugin.call("echo", b"x").await.expect_err("draining");
    assert!(
        matches!(
            refused,
            CallError::Stopped {
                state: "draining",
                ..
            }
        ),
        "{refused}"
    );
    std::fs::write(&release, b"").expect("release");
    assert_eq!(busy.await.expect("task").as_deref(), Ok(&b"released"[..]));
    let outcome = shutting_down.await.expect("task");
    assert_eq!((outcome.abandoned_calls, outcome.ended), (0, Ended::Clean));
    assert_eq!(
        next_event(&mut events).await,
        InstanceEventKind::Stopped {
            ended: Ended::Clean
        }
    );
    assert_eq!(
        processes_from(cache.path(), "fixture-process"),
        Vec::<u32>::new()
    );
    assert_eq!(
        std::fs::read_dir(cache.path()).expect("cache").count(),
        0,
        "the copy is removed"
    );
    let refused = plugin.call("echo", b"x").await.expect_err("stopped");
    assert!(
        matches!(
            refused,
            CallError::Stopped {
                state: "stopped",
                ..
            }
        ),
        "{refused}"
    );
}

/// Shuts a plugin down while a call that never finishes by itself is in
/// flight: after the grace the call is abandoned, the child gets
/// `Shutdown`, cannot finish, and must be ended by `expected`.
async fn shutdown_with_a_call_stuck(staged: &support::Staged, expected: Ended) {
    // Each stage waits its whole stop timeout for a child that cannot
    // finish; 2 s lets a loaded machine deliver the signal of the next.
    let config = quick().with_stop_timeout(Duration::from_secs(2));
    let Loaded { plugin, cache } = load(staged, config).await;
    let (_, busy) = call_held_open(&plugin, staged.path()).await;
    let outcome = plugin.shutdown(Duration::from_millis(10)).await;
    assert_eq!((outcome.abandoned_calls, outcome.ended), (1, expected));
    let error = busy.await.expect("task").expect_err("abandoned");
    assert!(matches!(error, CallError::Abandoned { .. }), "{error}");
    assert_eq!(
        processes_from(cache.path(), "fixture-process"),
        Vec::<u32>::new()
    );
}

#[tokio::test]
async fn shutdown_escalates_to_sigterm_when_the_child_does_not_finish() {
    let staged = fixture("fixture-process", "");
    shutdown_with_a_call_stuck(&staged, Ended::Terminated).await;
}

#[tokio::test]
async fn shutdown_escalates_to_sigkill_when_sigterm_is_ignored() {
    // A wrapper that ignores SIGTERM, then becomes the fixture: an ignored
    // signal stays ignored across exec.
    let staged = fixture("fixture-process", "");
    let fixture = staged.path().join("fixture-process").display().to_string();
    write_script(
        staged.path(),
        "stubborn-plugin",
        &format!("#!/bin/sh\ntrap '' TERM\nexec {fixture}\n"),
    );
    point_at(&staged, "stubborn-plugin");
    shutdown_with_a_call_stuck(&staged, Ended::Killed).await;
}

#[tokio::test]
async fn a_shutdown_during_the_restart_backoff_ends_stopped_with_no_child() {
    let staged = fixture("fixture-process", "");
    let config = quick()
        .with_restart(RestartPolicy::default().with_initial_backoff(Duration::from_secs(600)));
    let Loaded { plugin, cache } = load(&staged, config).await;
    let mut events = plugin.events();
    kill_9(pid(&plugin));
    assert!(matches!(
        next_event(&mut events).await,
        InstanceEventKind::Crashed { .. }
    ));
    assert!(matches!(
        next_event(&mut events).await,
        InstanceEventKind::Restarting { .. }
    ));
    let outcome = plugin.shutdown(Duration::from_secs(5)).await;
    assert_eq!(outcome.ended, Ended::NotRunning);
    assert_eq!(plugin.state(), InstanceState::Stopped);
    assert_eq!(
        processes_from(cache.path(), "fixture-process"),
        Vec::<u32>::new()
    );
}

/// Calls made as the child dies: each is answered (by the restarted child,
/// if it never reached the dead one) or fails as `Crashed`; none is refused
/// as if the instance were stopping. (A request whose frame could not be
/// written to the dead child's connection, before the supervisor noticed
/// the death, used to fail with `Stopped { state: "running" }`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_made_as_the_child_dies_are_answered_or_crashed_never_refused() {
    let staged = fixture("fixture-process", "");
    let Loaded {
        plugin,
        cache: _cache,
    } = load(&staged, quick()).await;
    let mut events = plugin.events();
    // Four rounds: within the default restart budget of five.
    for round in 0..4 {
        kill_9(pid(&plugin));
        let calls: Vec<_> = (0..16)
            .map(|_| {
                let plugin = plugin.clone();
                tokio::spawn(async move { plugin.call("echo", b"x").await })
            })
            .collect();
        for call in calls {
            match call.await.expect("call task") {
                Ok(reply) => assert_eq!(reply, b"x"),
                Err(CallError::Crashed { .. }) => {}
                Err(other) => panic!("round {round}: {other}"),
            }
        }
        loop {
            if matches!(
                next_event(&mut events).await,
                InstanceEventKind::Restarted { .. }
            ) {
                break;
            }
        }
    }
    plugin.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_shutdown_during_the_restart_handshake_ends_stopped_with_no_child() {
    // Serves the first time, hangs in the handshake of every restart.
    let staged = fixture("hang-on-restart-plugin", "");
    let config = quick().with_handshake_timeout(Duration::from_secs(600));
    let Loaded { plugin, cache } = load(&staged, config).await;
    let mut events = plugin.events();
    let first = pid(&plugin);
    kill_9(first);
    assert!(matches!(
        next_event(&mut events).await,
        InstanceEventKind::Crashed { .. }
    ));
    assert!(matches!(
        next_event(&mut events).await,
        InstanceEventKind::Restarting { .. }
    ));
    eventually("a new child hangs in its handshake", || {
        processes_from(cache.path(), "hang-on-restart-plugin")
            .iter()
            .any(|&pid| pid != first && support::alive(pid))
    })
    .await;
    let outcome = plugin.shutdown(Duration::from_secs(5)).await;
    assert_eq!(outcome.ended, Ended::NotRunning);
    assert_eq!(plugin.state(), InstanceState::Stopped);
    eventually("no child is left", || {
        processes_from(cache.path(), "hang-on-restart-plugin").is_empty()
    })
    .await;
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_child() {
    let staged = fixture("fixture-process", "");
    let Loaded { plugin, cache } = load(&staged, quick()).await;
    let child = pid(&plugin);
    let clone = plugin.clone();
    drop(plugin);
    assert!(support::alive(child), "a clone still holds it");
    drop(clone);
    eventually("the child stops", || !support::alive(child)).await;
    eventually("the copy is removed", || {
        std::fs::read_dir(cache.path())
            .map(|d| d.count())
            .unwrap_or(0)
            == 0
    })
    .await;
}

#[tokio::test]
async fn the_verified_copy_runs_for_life_even_when_the_file_is_replaced() {
    let staged = fixture("fixture-process", "");
    let Loaded {
        plugin,
        cache: _cache,
    } = load(&staged, quick()).await;
    let mut events = plugin.events();
    // Replace the executable on disk with something that is no plugin.
    write_script(
        staged.path(),
        "fixture-process",
        "#!/bin/sh\necho replaced\n",
    );
    kill_9(pid(&plugin));
    assert!(matches!(
        next_event(&mut events).await,
        InstanceEventKind::Crashed { .. }
    ));
    assert!(matches!(
        next_event(&mut events).await,
        InstanceEventKind::Restarting { .. }
    ));
    assert!(matches!(
        next_event(&mut events).await,
        InstanceEventKind::Restarted { .. }
    ));
    assert_eq!(
        plugin.call("echo", b"same code").await.as_deref(),
        Ok(&b"same code"[..])
    );
    plugin.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_tampered_executable_is_refused_and_nothing_runs() {
    let binary = libraries().binary("fixture-process");
    let checksum = support::reference_sha256(&std::fs::read(&binary).expect("read"));
    let staged = fixture("fixture-process", &format!("checksum: sha256:{checksum}\n"));
    load(&staged, quick())
        .await
        .plugin
        .shutdown(Duration::from_secs(5))
        .await;
    // Tampered after the manifest was written.
    let mut bytes = std::fs::read(staged.path().join("fixture-process")).expect("read");
    bytes.extend_from_slice(b"tampered");
    std::fs::write(staged.path().join("fixture-process"), bytes).expect("tamper");
    let (error, cache) = load_in(&staged, quick()).await.err().expect("refused");
    assert!(
        matches!(error, LoadError::ChecksumMismatch { .. }),
        "{error}"
    );
    assert_eq!(
        std::fs::read_dir(cache.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "nothing staged"
    );
    assert_eq!(
        processes_from(cache.path(), "fixture-process"),
        Vec::<u32>::new()
    );
}

#[tokio::test]
async fn a_plugins_own_children_end_with_a_failed_handshake() {
    let staged = fixture("fixture-process", "");
    write_script(
        staged.path(),
        "spawning-plugin",
        "#!/bin/sh\nsleep 1000 &\necho $! > sleeper.pid\necho 'about to hang' >&2\nexec sleep 1000\n",
    );
    point_at(&staged, "spawning-plugin");
    let config = quick().with_handshake_timeout(Duration::from_millis(500));
    let (error, _cache) = load_in(&staged, config).await.err().expect("never answers");
    assert!(matches!(error, LoadError::Handshake { .. }), "{error}");
    assert!(
        error.to_string().contains("| about to hang"),
        "its stderr is shown: {error}"
    );
    let sleeper: u32 = std::fs::read_to_string(staged.path().join("sleeper.pid"))
        .expect("the script wrote its child's pid")
        .trim()
        .parse()
        .expect("pid");
    eventually("the plugin's own child is ended", || {
        !support::alive(sleeper)
    })
    .await;
}

#[tokio::test]
async fn a_relative_plugin_directory_starts() {
    let staged = fixture("fixture-process", "");
    let relative = support::relative_to_cwd(staged.path());
    let (loader, _cache) = support::loader(quick());
    let plugin = loader
        .load(&staged.manifest(), &relative)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", relative.display()));
    assert_eq!(
        plugin.call("echo", b"relative").await.as_deref(),
        Ok(&b"relative"[..])
    );
    plugin.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn process_load_errors_read_well() {
    let mut lines = Vec::new();
    // An executable whose interpreter is missing: a spawn error, not
    // "cannot read".
    let staged = fixture("fixture-process", "");
    write_script(
        staged.path(),
        "fixture-process",
        "#!/nonexistent/interpreter\n",
    );
    let (error, cache) = load_in(&staged, quick()).await.err().expect("cannot start");
    assert!(matches!(error, LoadError::Spawn { .. }), "{error}");
    let text = error
        .to_string()
        .replace(&cache.path().display().to_string(), "<cache>");
    let text = regex_lite_replace_copy_suffix(&text);
    lines.push(text);
    // A child that explains itself on stderr before exiting.
    let staged = fixture("fixture-process", "");
    write_script(
        staged.path(),
        "complaining-plugin",
        "#!/bin/sh\necho 'error: config file /etc/x is missing' >&2\nexit 3\n",
    );
    point_at(&staged, "complaining-plugin");
    let (error, _) = load_in(&staged, quick()).await.err().expect("exits");
    lines.push(error.to_string());
    insta::assert_snapshot!(lines.join("\n"));
}

/// `fixture-process-PID-N` → `fixture-process-<n>`: the copy's name varies.
fn regex_lite_replace_copy_suffix(text: &str) -> String {
    let marker = "/fixture-process-";
    let Some(start) = text.find(marker) else {
        return text.to_string();
    };
    let rest = &text[start + marker.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(rest.len());
    format!("{}{marker}<n>{}", &text[..start], &rest[end..])
}

/// The child of a host that is killed (`SIGKILL`, no cleanup) dies too.
/// The "host" is this test binary run again with `PLUGKIT_ORPHAN_HOST` set;
/// it prints its plugin's pid on a line of its own to its stdout (written
/// to the descriptor, past libtest's capture), where this test reads it.
#[test]
fn no_orphan_when_the_host_is_killed() {
    use std::io::BufRead;
    if std::env::var_os("PLUGKIT_ORPHAN_HOST").is_some() {
        return orphan_host();
    }
    let staged = fixture("fixture-process", "");
    let mut host = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "no_orphan_when_the_host_is_killed",
            "--test-threads=1",
        ])
        .env("PLUGKIT_ORPHAN_HOST", staged.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("host starts");
    // Kept open until the host is killed, so no write of its sees a closed pipe.
    let mut output = std::io::BufReader::new(host.stdout.take().expect("piped")).lines();
    let pid = output
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix(ORPHAN_PID)?.trim().parse::<i32>().ok())
        .expect("the host printed its plugin's pid before it ended");
    let plugin = rustix::process::Pid::from_raw(pid).expect("a pid");
    // Opened before the host dies, so the pid cannot be reused under it.
    let exited = rustix::process::pidfd_open(plugin, rustix::process::PidfdFlags::empty())
        .expect("the plugin runs");
    assert!(
        support::alive(pid as u32),
        "the plugin runs before its host dies"
    );
    host.kill().expect("SIGKILL the host");
    host.wait().expect("reap the host");
    drop(output);
    // A pidfd becomes readable when its process exits.
    let timeout = rustix::event::Timespec {
        tv_sec: 30,
        tv_nsec: 0,
    };
    let died = loop {
        let mut fds = [rustix::event::PollFd::new(
            &exited,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Err(rustix::io::Errno::INTR) => continue,
            ready => break ready.expect("poll the pidfd") == 1,
        }
    };
    assert!(
        died,
        "plugin process {pid} outlived its killed host by 30 s"
    );
}

/// How the orphan test's host says its plugin's pid.
const ORPHAN_PID: &str = "plugin pid: ";

fn orphan_host() {
    use std::io::Write;
    let dir = std::path::PathBuf::from(std::env::var_os("PLUGKIT_ORPHAN_HOST").expect("set"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let bytes = std::fs::read(dir.join("plugin-manifest.yaml")).expect("manifest");
        let manifest = plugin_manifest::parse(&bytes, "plugin-manifest.yaml")
            .expect("valid")
            .manifest;
        let (loader, _cache) = support::loader(quick());
        let plugin = loader.load(&manifest, &dir).await.expect("loads");
        // To the descriptor: `println!` would be captured by libtest.
        let mut stdout = std::io::stdout();
        writeln!(stdout, "\n{ORPHAN_PID}{}", pid(&plugin)).expect("print pid");
        stdout.flush().expect("flush");
        tokio::time::sleep(Duration::from_secs(600)).await;
    });
}

#[tokio::test]
async fn the_child_gets_a_clean_environment_and_its_own_directory() {
    let staged = fixture("fixture-process", "");
    let Loaded {
        plugin,
        cache: _cache,
    } = load(&staged, quick()).await;
    let reply = plugin.call("env", b"").await.expect("env");
    let json: serde_json::Value = serde_json::from_slice(&reply).expect("JSON");
    let mut names: Vec<&str> = json["env"]
        .as_object()
        .expect("env")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "PATH",
            "PLUGKIT_CALL_LANE_FD",
            "PLUGKIT_PLUGIN",
            "PLUGKIT_PLUGIN_VERSION",
            "PLUGKIT_PROTOCOL"
        ]
    );
    let cwd = std::fs::canonicalize(staged.path()).expect("canonical");
    assert_eq!(json["cwd"], cwd.display().to_string());
    plugin.shutdown(Duration::from_secs(5)).await;
}

/// What the fixture reports of its own limits (`/proc/self/status` and
/// `/proc/self/limits`).
struct Limits(String);

impl Limits {
    async fn of(plugin: &Instance) -> Limits {
        let text = plugin.call("limits", b"").await.expect("limits");
        Limits(String::from_utf8(text).expect("text"))
    }

    fn line(&self, prefix: &str) -> String {
        self.0
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_default()
            .to_string()
    }

    /// The soft limit of a `/proc/self/limits` line.
    fn soft(&self, prefix: &str) -> Option<u64> {
        self.line(prefix)
            .strip_prefix(prefix)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    fn address_space(&self) -> Option<u64> {
        self.soft("Max address space")
    }

    fn open_files(&self) -> Option<u64> {
        self.soft("Max open files")
    }
}

#[tokio::test]
async fn default_limits_apply_where_the_manifest_sets_none() {
    // The manifest sets only the open-files limit: it wins over the
    // default; the memory default applies.
    let staged = fixture("fixture-process", "resources:\n  max_file_handles: 48\n");
    let config = quick().with_default_limits(
        plugin_loader::DefaultLimits::default()
            .with_max_memory_mb(Some(384))
            .with_max_file_handles(Some(16)),
    );
    let Loaded {
        plugin,
        cache: _cache,
    } = load(&staged, config).await;
    let limits = Limits::of(&plugin).await;
    assert_eq!(limits.address_space(), Some(384 << 20), "{}", limits.0);
    assert_eq!(limits.open_files(), Some(48), "{}", limits.0);
    plugin.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn resource_limits_from_the_manifest_apply_to_the_child() {
    let extra = "resources:\n  max_memory_mb: 256\n  max_cpu_cores: 1\n  max_file_handles: 32\n";
    let staged = fixture("fixture-process", extra);
    let Loaded {
        plugin,
        cache: _cache,
    } = load(&staged, quick()).await;
    let limits = Limits::of(&plugin).await;
    assert_eq!(limits.address_space(), Some(256 << 20), "{}", limits.0);
    assert_eq!(limits.open_files(), Some(32), "{}", limits.0);
    let cpus = limits.line("Cpus_allowed_list:");
    assert!(
        !cpus.contains(',') && !cpus.contains('-'),
        "one CPU only: {cpus}"
    );

    // Allocating past the limit kills the plugin, not the host.
    let mut events = plugin.events();
    let error = plugin.call("alloc", b"").await.expect_err("the child dies");
    assert!(matches!(error, CallError::Crashed { .. }), "{error}");
    assert!(matches!(
        next_event(&mut events).await,
        InstanceEventKind::Crashed { .. }
    ));
    assert!(matches!(
        next_event(&mut events).await,
        InstanceEventKind::Restarting { .. }
    ));
    assert!(matches!(
        next_event(&mut events).await,
        InstanceEventKind::Restarted { .. }
    ));
    assert_eq!(
        plugin.call("echo", b"alive").await.as_deref(),
        Ok(&b"alive"[..])
    );
    plugin.shutdown(Duration::from_secs(5)).await;
}

/// A plugin binary built without the SDK's `grpc` feature answers
/// `--grpc-listen` with a clear error and exit status 2 (a contract of
/// every plugin binary). `fixture-process` is built alone for it, so
/// nothing in the build turns the feature on.
#[test]
fn a_plugin_built_without_grpc_refuses_grpc_listen_with_exit_2() {
    support::cargo_build(&["fixture-process"], &[]);
    let built = support::target_dir().join("debug").join("fixture-process");
    let binary = tempfile::tempdir().expect("temporary directory");
    let copy = binary.path().join("fixture-process");
    std::fs::copy(&built, &copy).expect("copy the binary");
    let output = std::process::Command::new(&copy)
        .args(["--grpc-listen", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("was built without plugkit-sdk's `grpc` feature")
            && stderr.contains("--grpc-listen"),
        "{stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "it must not serve: {:?}",
        output.stdout
    );
}
