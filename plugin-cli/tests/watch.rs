//! `plugkit watch`: events as lines (one JSON object each with `--json`,
//! the discovery stream of the `plugkit run --json` schema), as changes
//! happen, until Ctrl-C, which exits cleanly with 0. Files are written
//! atomically (renamed into place), so no test depends on how fast it runs;
//! "nothing more" is proven by a sentinel change whose event must come next.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
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
        .args(["--debounce-ms", "50"])
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

    /// Proves that no line is still coming: writes a sentinel plugin under
    /// `root` and asserts that the next line is its discovery.
    fn no_more_lines(&self, root: &str) {
        let sentinel = format!("{root}/zz-sentinel/plugin-manifest.json");
        write(
            Path::new(&sentinel),
            r#"{"name": "sentinel", "version": "0.0.1", "transport": "grpc", "endpoint": "h:1"}"#,
        );
        let line = self.json();
        assert_eq!(
            (&line["event"], &line["plugin"]),
            (&json!("plugin_discovered"), &json!("sentinel")),
            "an unexpected line: {line}"
        );
    }

    /// Ctrl-C, then the exit code and stderr (waited for on a thread, with
    /// a generous ceiling, not polled).
    fn interrupt(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(status.success());
        let mut stderr = self.child.stderr.take().unwrap();
        let (done, exited) = channel();
        let mut child = self.child;
        std::thread::spawn(move || {
            let status = child.wait();
            let _ = done.send(status);
            child
        });
        let status = match exited.recv_timeout(PATIENCE) {
            Ok(status) => status.unwrap(),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                panic!("plugkit watch did not stop on Ctrl-C");
            }
        };
        let mut text = String::new();
        use std::io::Read;
        let _ = stderr.read_to_string(&mut text);
        (status.code(), text)
    }
}

/// Writes `path` atomically (a temporary file renamed over it).
fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let temp = path.with_extension("writing");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, path).unwrap();
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
        json!({"event": "plugin_discovered", "stream": "discovery", "plugin": "alpha", "version": "1.0.0", "path": alpha})
    );
    write(Path::new(&alpha), &manifest("1.1.0"));
    assert_eq!(
        watching.json(),
        json!({"event": "plugin_updated", "stream": "discovery", "plugin": "alpha", "version": "1.1.0", "old_version": "1.0.0", "path": alpha})
    );
    let broken = format!("{root}/b/plugin-manifest.yaml");
    write(Path::new(&broken), "name: beta\nversion: 1\n");
    let invalid = watching.json();
    assert_eq!(invalid["event"], "manifest_invalid");
    assert_eq!(invalid["stream"], "discovery");
    assert_eq!(
        (&invalid["plugin"], &invalid["version"]),
        (&json!(null), &json!(null))
    );
    assert_eq!(invalid["path"], broken.as_str());
    let fields: Vec<&str> = invalid["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["version", "transport", "endpoint"]);
    assert!(
        invalid["error"].as_str().unwrap().starts_with("version: "),
        "{invalid}"
    );

    std::fs::remove_dir_all(dir.path().join("a")).unwrap();
    assert_eq!(
        watching.json(),
        json!({"event": "plugin_removed", "stream": "discovery", "plugin": "alpha", "version": "1.1.0", "path": alpha})
    );
    watching.no_more_lines(&root);
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
fn watch_refuses_a_directory_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let missing = format!("{root}/missing");
    let out = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(["watch", "--json", &missing, &root])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("error: cannot read directory {missing}: no such file or directory (os error 2)\n")
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
