//! Every command that takes a directory or a file behaves the same for
//! `dir`, `./dir`, `../x/dir` and the absolute path: `discover`, `resolve`,
//! `watch` (which once saw only the first scan with a relative directory)
//! and `manifest check`. Each spelling runs from a current directory where
//! it names the same directory; paths in the output keep the spelling
//! given.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

use serde_json::{Value, json};

/// Generous, for a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(10);

/// A temporary tree `BASE/x/dir` holding one plugin, and every spelling of
/// `dir` with the current directory it is relative to.
struct Tree {
    _base: tempfile::TempDir,
    plugins: PathBuf,
    spellings: Vec<(PathBuf, String)>,
}

fn tree() -> Tree {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().canonicalize().unwrap();
    let plugins = root.join("x/dir");
    std::fs::create_dir_all(plugins.join("a")).unwrap();
    std::fs::create_dir_all(root.join("y")).unwrap();
    write(&plugins.join("a/plugin-manifest.json"), "1.0.0");
    let x = root.join("x");
    let spellings = vec![
        (x.clone(), "dir".to_string()),
        (x.clone(), "./dir".to_string()),
        (x, "dir/".to_string()),
        (root.join("y"), "../x/dir".to_string()),
        (root.join("y"), plugins.to_str().unwrap().to_string()),
    ];
    Tree {
        _base: base,
        plugins,
        spellings,
    }
}

/// Writes a manifest of `alpha` at `version` atomically.
fn write(path: &Path, version: &str) {
    let text = format!(
        r#"{{"name": "alpha", "version": "{version}", "transport": "native", "endpoint": "libalpha.so"}}"#
    );
    let temp = path.with_extension("writing");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

fn plugkit(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("plugkit runs")
}

fn json_of(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// `dir` as spelled, joined with `rest`, as the output spells it.
fn spelled(dir: &str, rest: &str) -> String {
    let dir = dir.strip_prefix("./").unwrap_or(dir);
    let dir = dir.strip_suffix('/').unwrap_or(dir);
    format!("{dir}/{rest}")
}

#[test]
fn discover_takes_every_spelling() {
    let tree = tree();
    for (cwd, dir) in &tree.spellings {
        let report = json_of(&plugkit(cwd, &["discover", "--json", dir]));
        assert_eq!(
            report["plugins"][0]["manifest_path"],
            spelled(dir, "a/plugin-manifest.json"),
            "{dir}"
        );
        assert_eq!(report["plugins"].as_array().unwrap().len(), 1, "{dir}");
        assert_eq!(report["unreadable"], json!([]), "{dir}");
    }
}

#[test]
fn resolve_takes_every_spelling() {
    let tree = tree();
    for (cwd, dir) in &tree.spellings {
        let report = json_of(&plugkit(cwd, &["resolve", "--json", dir]));
        assert_eq!(report["selected"], json!({"alpha": "1.0.0"}), "{dir}");
        assert_eq!(report["warnings"], json!([]), "{dir}");
    }
}

#[test]
fn manifest_check_takes_every_spelling() {
    let tree = tree();
    for (cwd, dir) in &tree.spellings {
        let file = spelled(dir, "a/plugin-manifest.json");
        let out = plugkit(cwd, &["manifest", "check", &file]);
        assert_eq!(out.status.code(), Some(0), "{dir}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{file}: ok: alpha 1.0.0 (native, libalpha.so)\n")
        );
    }
}

#[test]
fn watch_sees_changes_with_every_spelling() {
    let tree = tree();
    let manifest = tree.plugins.join("a/plugin-manifest.json");
    for (n, (cwd, dir)) in tree.spellings.iter().enumerate() {
        write(&manifest, "1.0.0");
        let mut child = Command::new(env!("CARGO_BIN_EXE_plugkit"))
            .args(["watch", "--json", "--debounce-ms", "50", dir])
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let next = || -> Value {
            let line = lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|e| panic!("{dir}: no event from plugkit watch: {e}"));
            serde_json::from_str(&line).unwrap()
        };
        let path = spelled(dir, "a/plugin-manifest.json");
        let first = next();
        assert_eq!(
            (&first["event"], &first["path"]),
            (&json!("plugin_discovered"), &json!(path)),
            "{dir}"
        );
        let version = format!("1.1.{n}");
        write(&manifest, &version);
        let update = next();
        assert_eq!(
            (&update["event"], &update["version"], &update["path"]),
            (&json!("plugin_updated"), &json!(version), &json!(path)),
            "{dir}"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
