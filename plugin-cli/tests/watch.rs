//! `plugkit watch`: events as lines (one JSON object each with `--json`),
//! as changes happen, until Ctrl-C, which exits cleanly with 0.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use serde_json::{Value, json};

/// Generous, for a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(10);

struct Watching {
    child: Child,
    lines: Receiver<String>,
}

fn start(args: &[&str]) -> Watching {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .arg("watch")
        // Long enough that a truncate-then-write by a descheduled test
        // thread still lands in one debounce period.
        .args(["--debounce-ms", "300"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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
    Watching { child, lines }
}

impl Watching {
    fn line(&self) -> String {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(error) => panic!("no line from plugkit watch: {error}"),
        }
    }

    fn json(&self) -> Value {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    fn no_more_lines(&self) {
        match self.lines.recv_timeout(Duration::from_millis(700)) {
            Err(RecvTimeoutError::Timeout) => {}
            other => panic!("unexpected output: {other:?}"),
        }
    }

    /// Ctrl-C, then the exit code and stderr.
    fn interrupt(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                use std::io::Read;
                let _ = self
                    .child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr);
                return (status.code(), stderr);
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("plugkit watch did not stop on Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn manifest(version: &str) -> String {
    format!(
        r#"{{"name": "alpha", "version": "{version}", "transport": "native", "endpoint": "libalpha.so"}}"#
    )
}

#[test]
fn watch_json_prints_one_object_per_event_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let alpha = format!("{root}/a/plugin-manifest.json");
    write(Path::new(&alpha), &manifest("1.0.0"));
    let watching = start(&["--json", &root]);

    // The first scan, once the watch is in place.
    assert_eq!(
        watching.json(),
        json!({"event": "plugin_discovered", "name": "alpha", "version": "1.0.0", "path": alpha})
    );
    write(Path::new(&alpha), &manifest("1.1.0"));
    assert_eq!(
        watching.json(),
        json!({"event": "plugin_updated", "name": "alpha", "version": "1.1.0", "old_version": "1.0.0", "path": alpha})
    );
    let broken = format!("{root}/b/plugin-manifest.yaml");
    write(Path::new(&broken), "name: beta\nversion: 1\n");
    let invalid = watching.json();
    assert_eq!(invalid["event"], "manifest_invalid");
    assert_eq!(invalid["path"], broken.as_str());
    let fields: Vec<&str> = invalid["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["version", "transport", "endpoint"]);
    assert_eq!(invalid["errors"][0]["severity"], "error");

    std::fs::remove_dir_all(dir.path().join("a")).unwrap();
    assert_eq!(
        watching.json(),
        json!({"event": "plugin_removed", "name": "alpha", "version": "1.1.0", "path": alpha})
    );
    watching.no_more_lines();
    let (code, stderr) = watching.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn watch_prints_readable_lines() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    write(
        &dir.path().join("a/plugin-manifest.json"),
        &manifest("1.0.0"),
    );
    let watching = start(&[&root]);
    assert_eq!(
        watching.line(),
        format!("discovered alpha 1.0.0 (native) {root}/a/plugin-manifest.json")
    );
    write(
        &dir.path().join("a/plugin-manifest.json"),
        &manifest("2.0.0"),
    );
    assert_eq!(
        watching.line(),
        format!("updated alpha 1.0.0 -> 2.0.0 {root}/a/plugin-manifest.json")
    );
    let (code, stderr) = watching.interrupt();
    assert_eq!(code, Some(0));
    assert_eq!(stderr, format!("watching {root} (Ctrl-C to stop)\n"));
}

#[test]
fn watch_reports_an_unreadable_directory_on_stderr_and_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let missing = format!("{root}/missing");
    write(
        &dir.path().join("a/plugin-manifest.json"),
        &manifest("1.0.0"),
    );
    let watching = start(&["--json", &missing, &root]);
    assert_eq!(watching.json()["event"], "plugin_discovered");
    let (code, stderr) = watching.interrupt();
    assert_eq!(code, Some(0));
    assert_eq!(
        stderr,
        format!(
            "warning: {missing}: cannot read directory: no such file or directory (os error 2)\n"
        )
    );
}

#[test]
fn watch_usage_errors_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(["watch", ".", "--exclude", "[oops"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: invalid exclude pattern `[oops`")
    );
}
