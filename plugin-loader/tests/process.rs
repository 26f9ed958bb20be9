//! The process transport against real children: the greeter served as a
//! process and the misbehaving `fixture-process`, built by the test itself.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use plugin_loader::{
    CallError, LoadError, ProcessConfig, ProcessEvent, ProcessLoader, ProcessPlugin, ProcessState,
};
use plugkit_example_interface::{GreetReply, GreetRequest};
use plugkit_sdk::Health;
use support::{libraries, stage_process};

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
    let mut config = ProcessConfig::default();
    config.handshake_timeout = Duration::from_secs(10);
    config.shutdown_grace = Duration::from_millis(500);
    config.restart.initial_backoff = Duration::from_millis(20);
    config
}

async fn load(staged: &support::Staged, config: ProcessConfig) -> Result<ProcessPlugin, LoadError> {
    ProcessLoader::new(config)
        .load(&staged.manifest(), staged.path())
        .await
}

fn sleep_ms(ms: u64) -> Vec<u8> {
    ms.to_le_bytes().to_vec()
}

/// Whether a process still runs the executable at `path`, or lingers as an
/// unreaped child of this test process (a zombie has no command line, so it
/// is found by its name, which the kernel keeps to 15 bytes, and its state).
fn running(path: &Path) -> bool {
    let wanted = path.display().to_string();
    let name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().chars().take(15).collect())
        .unwrap_or_default();
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).starts_with(&wanted) {
                return true;
            }
            // stat: "PID (COMM) STATE PPID ..."
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let Some((comm, rest)) = stat.split_once(" (").and_then(|(_, r)| r.rsplit_once(") "))
            else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            let (state, ppid) = (fields.next(), fields.next());
            comm == name && state == Some("Z") && ppid == Some(me.as_str())
        })
}

async fn next_event(events: &mut tokio::sync::broadcast::Receiver<ProcessEvent>) -> ProcessEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("event channel open")
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
    let greeter = load(&staged, quick())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(greeter.capabilities(), ["greet"]);
    assert_eq!(greeter.sdk_version(), plugkit_sdk::SDK_VERSION);
    let reply: GreetReply = greeter
        .call_typed("greet", &GreetRequest { name: "Ada".into() })
        .await
        .expect("greet");
    assert_eq!(reply.text, "howdy, Ada");
    assert_eq!(greeter.health().await, Ok(Health::Healthy));
    let ended = greeter.shutdown().await;
    assert_eq!(ended, "the child exited (exit status: 0)");
    assert_eq!(greeter.state(), ProcessState::Stopped);
}

#[tokio::test]
async fn calls_are_multiplexed_and_answered_out_of_order() {
    let staged = fixture("fixture-process", "");
    let plugin = load(&staged, quick()).await.expect("loads");
    let started = Instant::now();
    let calls = (0..16u64).rev().map(|i| {
        let plugin = plugin.clone();
        tokio::spawn(async move {
            let reply = plugin.call("sleep", &sleep_ms(i * 40)).await;
            (i, reply, Instant::now())
        })
    });
    let mut finished = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        let (i, reply, at) = call.await.expect("task");
        assert_eq!(reply.as_deref(), Ok(&b"slept"[..]));
        finished.push((at, i));
    }
    finished.sort();
    let order: Vec<u64> = finished.iter().map(|(_, i)| *i).collect();
    assert_ne!(
        order,
        (0..16).rev().collect::<Vec<_>>(),
        "replies came back in issue order"
    );
    // Sequentially they would take 4.8 s; in flight together, far less.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    plugin.shutdown().await;
}

#[tokio::test]
async fn handshake_failures_are_bounded_and_leave_no_process() {
    let mut config = quick();
    config.handshake_timeout = Duration::from_secs(2);
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
        (
            "wrong-protocol-plugin",
            "speaks protocol version 99, this host speaks 1",
        ),
        ("oversized-hello-plugin", "exceeds the limit"),
    ] {
        let staged = fixture(file_name, "");
        let started = Instant::now();
        let error = load(&staged, config.clone()).await.expect_err(file_name);
        assert!(
            matches!(error, LoadError::Handshake { .. }),
            "{file_name}: {error}"
        );
        assert!(error.to_string().contains(expect), "{file_name}: {error}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{file_name} took {:?}",
            started.elapsed()
        );
        assert!(
            !running(&staged.path().join(file_name)),
            "{file_name} left a process behind"
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
    let error = load(&staged, quick()).await.expect_err("version differs");
    assert!(
        matches!(error, LoadError::IdentityMismatch { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_crash_fails_calls_in_flight_at_once_then_restarts() {
    for crash in ["exit", "abort", "kill -9"] {
        let staged = fixture("fixture-process", "");
        let plugin = load(&staged, quick()).await.expect("loads");
        let mut events = plugin.events();
        let in_flight: Vec<_> = (0..5)
            .map(|_| {
                let plugin = plugin.clone();
                tokio::spawn(async move { plugin.call("sleep", &sleep_ms(30_000)).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let crashed_at = Instant::now();
        match crash {
            "kill -9" => {
                let pid = plugin.pid().expect("running");
                let pid = rustix::process::Pid::from_raw(pid as i32).expect("pid");
                rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("kill");
            }
            method => {
                let _ = plugin
                    .call_with_timeout(method, b"", Duration::from_secs(10))
                    .await;
            }
        }
        for call in in_flight {
            let error = call.await.expect("task").expect_err("in-flight call fails");
            assert!(
                matches!(error, CallError::Crashed { .. }),
                "{crash}: {error}"
            );
        }
        assert!(
            crashed_at.elapsed() < Duration::from_secs(1),
            "{crash}: calls failed after {:?}",
            crashed_at.elapsed()
        );
        match next_event(&mut events).await {
            ProcessEvent::Crashed { in_flight, .. } => {
                assert!(in_flight >= 5, "{crash}: {in_flight}")
            }
            other => panic!("{crash}: {other:?}"),
        }
        assert!(
            matches!(
                next_event(&mut events).await,
                ProcessEvent::Restarted { attempt: 1, .. }
            ),
            "{crash}"
        );
        assert_eq!(
            plugin.call("echo", b"again").await.as_deref(),
            Ok(&b"again"[..]),
            "{crash}"
        );
        plugin.shutdown().await;
    }
}

#[tokio::test]
async fn bad_frames_from_the_child_are_protocol_errors_not_allocations() {
    for method in ["oversized", "malformed"] {
        let staged = fixture("fixture-process", "");
        let plugin = load(&staged, quick()).await.expect("loads");
        let mut events = plugin.events();
        let error = plugin.call(method, b"").await.expect_err(method);
        assert!(
            matches!(error, CallError::Crashed { .. }),
            "{method}: {error}"
        );
        let ProcessEvent::Crashed { reason, .. } = next_event(&mut events).await else {
            panic!("{method}: no crash event");
        };
        let expect = if method == "oversized" {
            "exceeds the limit"
        } else {
            "malformed frame"
        };
        assert!(reason.contains(expect), "{method}: {reason}");
        plugin.shutdown().await;
    }
}

#[tokio::test]
async fn a_timeout_does_not_poison_the_connection() {
    let staged = fixture("fixture-process", "");
    let plugin = load(&staged, quick()).await.expect("loads");
    let error = plugin
        .call_with_timeout("sleep", &sleep_ms(1_000), Duration::from_millis(100))
        .await
        .expect_err("times out");
    assert!(matches!(error, CallError::Timeout { .. }), "{error}");
    assert_eq!(
        plugin.call("echo", b"still here").await.as_deref(),
        Ok(&b"still here"[..])
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await; // the late reply arrives and is dropped
    assert_eq!(
        plugin.call("echo", b"and here").await.as_deref(),
        Ok(&b"and here"[..])
    );
    plugin.shutdown().await;
}

#[tokio::test]
async fn restarts_are_bounded_then_the_plugin_is_failed() {
    let staged = fixture("fixture-process", "");
    let mut config = quick();
    config.restart.max_restarts = 2;
    let plugin = load(&staged, config).await.expect("loads");
    let mut events = plugin.events();
    for round in 1..=3 {
        let _ = plugin.call("exit", b"").await;
        assert!(
            matches!(next_event(&mut events).await, ProcessEvent::Crashed { .. }),
            "round {round}"
        );
        let event = next_event(&mut events).await;
        if round < 3 {
            assert!(
                matches!(event, ProcessEvent::Restarted { attempt, .. } if attempt == round),
                "{event:?}"
            );
        } else {
            assert!(matches!(event, ProcessEvent::Failed { .. }), "{event:?}");
        }
    }
    assert_eq!(plugin.state(), ProcessState::Failed);
    let error = plugin
        .call("echo", b"")
        .await
        .expect_err("failed plugins refuse");
    assert!(matches!(error, CallError::Unavailable { .. }), "{error}");
}

/// Shuts `staged`'s plugin down while a 60 s call is in flight: the child
/// cannot finish, so shutdown must escalate until `signal` ends it, within
/// `within`, failing the call and leaving no process behind.
async fn shutdown_with_a_call_in_flight(staged: &support::Staged, signal: &str, within: Duration) {
    let plugin = load(staged, quick()).await.expect("loads");
    let busy = plugin.clone();
    let call = tokio::spawn(async move { busy.call("sleep", &sleep_ms(60_000)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let ended = plugin.shutdown().await;
    assert!(ended.contains(signal), "{ended}");
    assert!(started.elapsed() < within, "{:?}", started.elapsed());
    assert!(call.await.expect("task").is_err());
    assert!(!running(&staged.path().join("fixture-process")));
}

#[tokio::test]
async fn shutdown_escalates_to_sigterm_when_the_child_does_not_finish() {
    let staged = fixture("fixture-process", "");
    shutdown_with_a_call_in_flight(&staged, "SIGTERM", Duration::from_secs(3)).await;
}

#[tokio::test]
async fn shutdown_escalates_to_sigkill_when_sigterm_is_ignored() {
    // A wrapper that ignores SIGTERM, then becomes the fixture: an ignored
    // signal stays ignored across exec.
    let staged = fixture("fixture-process", "");
    let wrapper = staged.path().join("stubborn-plugin");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\ntrap '' TERM\nexec ./fixture-process\n",
    )
    .expect("write wrapper");
    let mut permissions = std::fs::metadata(&wrapper).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&wrapper, permissions).expect("chmod");
    let manifest =
        std::fs::read_to_string(staged.path().join("plugin-manifest.yaml")).expect("read");
    std::fs::write(
        staged.path().join("plugin-manifest.yaml"),
        manifest.replace("endpoint: fixture-process", "endpoint: stubborn-plugin"),
    )
    .expect("write manifest");
    shutdown_with_a_call_in_flight(&staged, "SIGKILL", Duration::from_secs(4)).await;
}

#[tokio::test]
async fn the_child_gets_a_clean_environment_and_its_own_directory() {
    let staged = fixture("fixture-process", "");
    let plugin = load(&staged, quick()).await.expect("loads");
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
            "PLUGKIT_PLUGIN",
            "PLUGKIT_PLUGIN_VERSION",
            "PLUGKIT_PROTOCOL"
        ]
    );
    let cwd = std::fs::canonicalize(staged.path()).expect("canonical");
    assert_eq!(json["cwd"], cwd.display().to_string());
    plugin.shutdown().await;
}

#[tokio::test]
async fn resource_limits_from_the_manifest_apply_to_the_child() {
    let extra = "resources:\n  max_memory_mb: 256\n  max_cpu_cores: 1\n  max_file_handles: 32\n";
    let staged = fixture("fixture-process", extra);
    let plugin = load(&staged, quick()).await.expect("loads");
    let limits =
        String::from_utf8(plugin.call("limits", b"").await.expect("limits")).expect("text");
    let line = |prefix: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("Max address space").contains(&(256u64 << 20).to_string()),
        "{}",
        line("Max address space")
    );
    assert!(
        line("Max open files").split_whitespace().nth(3) == Some("32"),
        "{}",
        line("Max open files")
    );
    let cpus = line("Cpus_allowed_list:");
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
        ProcessEvent::Crashed { .. }
    ));
    assert!(matches!(
        next_event(&mut events).await,
        ProcessEvent::Restarted { .. }
    ));
    assert_eq!(
        plugin.call("echo", b"alive").await.as_deref(),
        Ok(&b"alive"[..])
    );
    plugin.shutdown().await;
}

/// The child of a host that is killed (`SIGKILL`, no cleanup) dies too.
/// The "host" is this test binary run again with `PLUGKIT_ORPHAN_HOST` set;
/// it publishes its plugin's pid in a file (its stdout is libtest's).
#[test]
fn no_orphan_when_the_host_is_killed() {
    if std::env::var_os("PLUGKIT_ORPHAN_HOST").is_some() {
        return orphan_host();
    }
    let staged = fixture("fixture-process", "");
    let pid_file = staged.path().join("plugin.pid");
    let mut host = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "no_orphan_when_the_host_is_killed",
            "--test-threads=1",
        ])
        .env("PLUGKIT_ORPHAN_HOST", staged.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("host starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "the host did not start the plugin within 30 s"
        );
        assert!(
            host.try_wait().expect("host status").is_none(),
            "the host ended without starting the plugin"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    host.kill().expect("SIGKILL the host");
    host.wait().expect("reap the host");
    let alive = || {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(), "plugin process {pid} outlived its killed host");
}

fn orphan_host() {
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
        let plugin = ProcessLoader::new(quick())
            .load(&manifest, &dir)
            .await
            .expect("loads");
        let pid = plugin.pid().expect("running").to_string();
        std::fs::write(dir.join("plugin.pid.tmp"), pid).expect("write pid");
        std::fs::rename(dir.join("plugin.pid.tmp"), dir.join("plugin.pid")).expect("publish pid");
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
}
