//! The command line against a real etcd server (feature `etcd`; the server
//! from `etcd-harness`, on loopback): `plugkit register` writes the record
//! and revokes its lease on SIGTERM, `plugkit discover --etcd` lists what
//! is registered, and `plugkit watch --etcd --json` prints the events in
//! the run schema, a second instance as `plugin_endpoints_changed`.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use etcd_harness::EtcdServer;
use serde_json::{Value, json};

/// Generous, for a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running `plugkit` whose stdout is read line by line.
struct Running {
    child: Child,
    lines: Receiver<String>,
    /// Lines read while waiting for the exit, not yet asked for.
    last_words: std::collections::VecDeque<String>,
}

fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("plugkit starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (sender, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    Running {
        child,
        lines,
        last_words: Default::default(),
    }
}

impl Running {
    fn line(&mut self) -> String {
        if let Some(line) = self.last_words.pop_front() {
            return line;
        }
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(error) => panic!("no line from plugkit: {error}"),
        }
    }

    fn json(&mut self) -> Value {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Sends `signal` and waits for the exit (killed past the ceiling):
    /// for the end of its output, which comes with the exit, then reaps it.
    fn stop(&mut self, signal: &str) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(sent.success(), "kill {signal} failed");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.last_words.push_back(line),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("plugkit did not stop within {PATIENCE:?} of {signal}");
                }
            }
        }
        self.child.wait().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_manifest(dir: &Path, name: &str, version: &str) -> String {
    let path = dir.join(format!("{name}-{version}.yaml"));
    std::fs::write(
        &path,
        format!("name: {name}\nversion: {version}\ntransport: native\nendpoint: lib{name}.so\n"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// `plugkit register` until its `registered KEY` line; returns it and the key.
fn register(etcd: &EtcdServer, manifest: &str, endpoint: &str) -> (Running, String) {
    let url = etcd.url();
    let mut running = spawn(&[
        "register",
        manifest,
        "--etcd",
        &url,
        "--endpoint",
        endpoint,
        "--ttl",
        "30",
    ]);
    let line = running.line();
    let key = line
        .strip_prefix("registered ")
        .unwrap_or_else(|| panic!("expected `registered KEY`, got {line:?}"))
        .to_string();
    (running, key)
}

fn discover_json(etcd: &EtcdServer) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(["discover", "--etcd", &etcd.url(), "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn register_writes_the_record_discover_lists_it_and_sigterm_revokes_it() {
    let etcd = EtcdServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), "greeter", "1.0.0");
    let (mut registered, key) = register(&etcd, &manifest, "127.0.0.1:7001");
    assert!(key.starts_with("/plugkit/plugins/greeter/1.0.0/"), "{key}");

    let found = discover_json(&etcd);
    assert_eq!(
        found["plugins"],
        json!([{
            "name": "greeter", "version": "1.0.0", "transport": "grpc",
            "manifest_path": "/plugkit/plugins/greeter/1.0.0", "artifact_path": null,
            "endpoints": ["127.0.0.1:7001"],
        }])
    );

    let status = registered.stop("-TERM");
    assert!(status.success(), "{status}");
    assert_eq!(registered.line(), format!("revoked {key}"));
    // Revoked, not left to expire: gone at once.
    assert_eq!(discover_json(&etcd)["plugins"], json!([]));
}

#[test]
fn watch_prints_registrations_as_events_of_the_run_schema() {
    let etcd = EtcdServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), "greeter", "1.0.0");
    let url = etcd.url();
    let mut watch = spawn(&["watch", "--etcd", &url, "--json"]);

    let (mut first, _) = register(&etcd, &manifest, "127.0.0.1:7001");
    assert_eq!(
        watch.json(),
        json!({
            "event": "plugin_discovered", "stream": "discovery", "plugin": "greeter",
            "version": "1.0.0", "path": "/plugkit/plugins/greeter/1.0.0",
            "endpoints": ["127.0.0.1:7001"],
        })
    );
    let (mut second, _) = register(&etcd, &manifest, "127.0.0.1:7002");
    let changed = watch.json();
    assert_eq!(changed["event"], "plugin_endpoints_changed", "{changed}");
    assert_eq!(changed["plugin"], "greeter");
    assert_eq!(changed["old_endpoints"], json!(["127.0.0.1:7001"]));
    let mut endpoints: Vec<String> = serde_json::from_value(changed["endpoints"].clone()).unwrap();
    endpoints.sort();
    assert_eq!(endpoints, ["127.0.0.1:7001", "127.0.0.1:7002"]);

    assert!(second.stop("-TERM").success());
    let shrunk = watch.json();
    assert_eq!(shrunk["event"], "plugin_endpoints_changed", "{shrunk}");
    assert_eq!(shrunk["endpoints"], json!(["127.0.0.1:7001"]));
    assert!(first.stop("-TERM").success());
    assert_eq!(
        watch.json(),
        json!({
            "event": "plugin_removed", "stream": "discovery", "plugin": "greeter",
            "version": "1.0.0", "path": "/plugkit/plugins/greeter/1.0.0",
        })
    );
    assert!(watch.stop("-INT").success());
}

#[test]
fn an_invalid_manifest_is_not_registered() {
    let etcd = EtcdServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("broken.yaml");
    std::fs::write(&manifest, "name: broken\nversion: one\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args([
            "register",
            manifest.to_str().unwrap(),
            "--etcd",
            &etcd.url(),
        ])
        .args(["--endpoint", "127.0.0.1:7001"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("version"));
    // A bad endpoint is refused before anything is written.
    let manifest = write_manifest(dir.path(), "greeter", "1.0.0");
    let output = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(["register", &manifest, "--etcd", &etcd.url()])
        .args(["--endpoint", "no-port"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(discover_json(&etcd)["plugins"], json!([]));
}
