//! `plugkit discover`: the table and its problems (snapshots), the exact
//! `--json` shape, the options, and exit codes (0 whenever the scan ran, 2
//! for usage errors).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

const TREE: &str = "plugin-discovery/tests/fixtures/tree";

fn plugkit(args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(args)
        .current_dir(root)
        .output()
        .expect("plugkit runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

fn json_of(out: &Output) -> Value {
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "exactly one object: {stdout}");
    serde_json::from_str(&stdout).expect("one JSON object")
}

#[test]
fn discover_prints_a_table_and_every_problem() {
    let out = plugkit(&[
        "discover",
        TREE,
        "plugin-discovery/tests/fixtures/no-such-dir",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!(text(&out.stdout));
}

#[test]
fn discover_options_filter_what_is_listed() {
    let out = plugkit(&[
        "discover",
        TREE,
        "--max-depth",
        "2",
        "--exclude",
        "**/node_modules",
        "--exclude",
        "plugin-discovery/tests/fixtures/tree/invalid",
        "--require-capability",
        "greet",
        "--pattern",
        "*.so",
        "--pattern",
        "*-plugin",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!(text(&out.stdout));
}

#[test]
fn discover_json_is_exactly_one_object_of_plugins_invalid_and_skipped() {
    let out = plugkit(&[
        "discover",
        "--json",
        "--require-capability",
        "kv:get",
        &format!("{TREE}/good"),
        &format!("{TREE}/invalid/syntax"),
        &format!("{TREE}/nocap"),
        &format!("{TREE}/missing"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let tree = TREE;
    assert_eq!(
        json_of(&out),
        json!({
            "plugins": [{
                "name": "alpha",
                "version": "1.0.0",
                "transport": "native",
                "manifest_path": format!("{tree}/good/alpha/plugin-manifest.json"),
                "artifact_path": format!("{tree}/good/alpha/libalpha.so"),
            }],
            "invalid": [{
                "path": format!("{tree}/invalid/syntax/plugin-manifest.json"),
                "errors": [{
                    "severity": "error",
                    "kind": "syntax",
                    "path": "",
                    "message": "key must be a string",
                    "line": 3,
                    "column": 22,
                }],
            }],
            "skipped": [
                {
                    "path": format!("{tree}/good/beta/plugin-manifest.yaml"),
                    "reason": "lacks required capability `kv:get`",
                },
                {
                    "path": format!("{tree}/good/gamma/plugin-manifest.yml"),
                    "reason": "lacks required capability `kv:get`",
                },
                {
                    "path": format!("{tree}/missing"),
                    "reason": "cannot read directory: no such file or directory (os error 2)",
                },
                {
                    "path": format!("{tree}/nocap/plugin-manifest.yaml"),
                    "reason": "lacks required capability `kv:get`",
                },
            ],
        })
    );
}

#[test]
fn discover_json_with_nothing_found_keeps_the_three_lists() {
    let dir = tempfile::tempdir().unwrap();
    let out = plugkit(&["discover", "--json", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        json_of(&out),
        json!({"plugins": [], "invalid": [], "skipped": []})
    );
    let out = plugkit(&["discover", dir.path().to_str().unwrap()]);
    assert_eq!(
        text(&out.stdout),
        "no plugins found\n\n0 plugins, 0 invalid manifests, 0 skipped, 0 unreadable paths\n"
    );
}

#[test]
fn discover_usage_errors_exit_2() {
    let out = plugkit(&["discover"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("<DIR>..."));

    let out = plugkit(&["discover", TREE, "--pattern", "lib[.so"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: invalid artifact pattern `lib[.so`: unclosed character class; missing ']'\n"
    );
    assert!(out.stdout.is_empty());

    let out = plugkit(&["discover", TREE, "--max-depth", "-1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[cfg(unix)]
#[test]
fn discover_follows_symlinks_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let target = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugin-discovery/tests/fixtures/tree/good/beta");
    let root = dir.path().join("plugins");
    std::fs::create_dir(&root).unwrap();
    std::os::unix::fs::symlink(&target, root.join("beta")).unwrap();
    let root = root.to_str().unwrap();

    let out = plugkit(&["discover", "--json", root]);
    let report = json_of(&out);
    assert_eq!(report["plugins"], json!([]));
    assert_eq!(
        report["skipped"],
        json!([{"path": format!("{root}/beta"), "reason": "symlink not followed (following symlinks is off)"}])
    );

    let out = plugkit(&["discover", "--json", "--follow-symlinks", root]);
    let report = json_of(&out);
    assert_eq!(report["plugins"][0]["name"], "beta");
    assert_eq!(
        report["plugins"][0]["manifest_path"],
        format!("{root}/beta/plugin-manifest.yaml")
    );
}
