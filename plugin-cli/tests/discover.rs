//! `plugkit discover`: the table and its problems (snapshots), the exact
//! `--json` shape, the options, and exit codes (0 whenever the scan ran, 2
//! for usage and IO errors, such as a directory that does not exist).

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
    let out = plugkit(&["discover", TREE]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!(text(&out.stdout));
}

#[test]
fn a_directory_that_does_not_exist_is_an_io_error() {
    for json in [false, true] {
        let mut args = vec![
            "discover",
            TREE,
            "plugin-discovery/tests/fixtures/no-such-dir",
        ];
        if json {
            args.push("--json");
        }
        let out = plugkit(&args);
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        assert_eq!(
            text(&out.stderr),
            "error: cannot read directory plugin-discovery/tests/fixtures/no-such-dir: \
             no such file or directory (os error 2)\n"
        );
    }
}

/// The text and the JSON file an unreadable path under the same heading,
/// `unreadable`, apart from the skipped plugins.
#[test]
fn unreadable_paths_have_one_heading_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big/plugin-manifest.json");
    std::fs::create_dir_all(big.parent().unwrap()).unwrap();
    std::fs::File::create(&big)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let shadowed = dir.path().join("two");
    std::fs::create_dir_all(&shadowed).unwrap();
    let manifest = r#"{"name": "two", "version": "1.0.0", "transport": "grpc", "endpoint": "h:1"}"#;
    std::fs::write(shadowed.join("plugin-manifest.json"), manifest).unwrap();
    std::fs::write(shadowed.join("plugin-manifest.yaml"), manifest).unwrap();
    let root = dir.path().to_str().unwrap();

    let out = plugkit(&["discover", "--json", root]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json_of(&out);
    assert_eq!(
        report["unreadable"],
        json!([{
            "path": format!("{root}/big/plugin-manifest.json"),
            "reason": "manifest is 2147483648 bytes, more than the limit of 1048576 bytes",
        }])
    );
    assert_eq!(report["skipped"].as_array().unwrap().len(), 1);
    assert_eq!(
        report["skipped"][0]["path"],
        format!("{root}/two/plugin-manifest.yaml")
    );

    let out = plugkit(&["discover", root]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(text(&out.stdout).replace(root, "ROOT"));
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
fn discover_json_is_exactly_one_object_of_plugins_invalid_skipped_and_unreadable() {
    let out = plugkit(&[
        "discover",
        "--json",
        "--require-capability",
        "kv:get",
        &format!("{TREE}/good"),
        &format!("{TREE}/invalid/syntax"),
        &format!("{TREE}/nocap"),
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
                    "path": format!("{tree}/nocap/plugin-manifest.yaml"),
                    "reason": "lacks required capability `kv:get`",
                },
            ],
            "unreadable": [],
        })
    );
}

#[test]
fn discover_json_with_nothing_found_keeps_the_four_lists() {
    let dir = tempfile::tempdir().unwrap();
    let out = plugkit(&["discover", "--json", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        json_of(&out),
        json!({"plugins": [], "invalid": [], "skipped": [], "unreadable": []})
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
