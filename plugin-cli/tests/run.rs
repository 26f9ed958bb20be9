//! `plugkit run`: the contract of its stdin, stdout and stderr, against the
//! example plugins laid out by `cargo xtask example-plugins`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// `DIR` of `cargo xtask example-plugins --out DIR`, built once.
fn layout() -> &'static Path {
    bench_support::example_plugins(false)
}

use bench_support::copy_dir;

use bench_support::plugins_dir as plugins;

/// Runs `plugkit run` over `dir` with `input` on stdin; the answers by id,
/// the stderr lines, and the exit code.
fn run(dir: &Path, extra: &[&str], input: &str) -> (Vec<Value>, Vec<String>, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .arg("run")
        .arg(dir)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("plugkit starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write calls");
    let output = child.wait_with_output().expect("plugkit runs");
    let answers = String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let stderr = String::from_utf8(output.stderr)
        .expect("UTF-8")
        .lines()
        .map(str::to_string)
        .collect();
    (answers, stderr, output.status.code().unwrap_or(-1))
}

fn by_id<'a>(answers: &'a [Value], id: &Value) -> Vec<&'a Value> {
    answers.iter().filter(|a| &a["id"] == id).collect()
}

#[test]
fn calls_are_answered_by_id_and_bad_lines_get_errors() {
    let dir = plugins(&["native/kv-store-1.4.1", "native/greeter-1.0.0"]);
    let input = [
        r#"{"id": 1, "plugin": "greeter", "method": "greet", "payload": {"name": "Ada"}}"#,
        r#"{"id": "two", "plugin": "kv-store", "method": "set", "payload": {"key": "k", "value": "v"}}"#,
        r#"{"id": 1, "plugin": "greeter", "method": "greet", "payload": {"name": "Bob"}}"#,
        r#"{"id": 3, "plugin": "missing", "method": "greet"}"#,
        r#"{"id": 4, "plugin": "greeter", "method": "nope"}"#,
        r#"not json"#,
        r#"{"id": {"no": 1}, "plugin": "greeter", "method": "greet"}"#,
        r#"{"id": 5, "method": "greet"}"#,
        "",
    ]
    .join("\n");
    let (answers, stderr, code) = run(dir.path(), &[], &input);
    assert_eq!(code, 0, "{stderr:#?}");
    assert_eq!(answers.len(), 8, "{answers:#?}");
    let ones = by_id(&answers, &json!(1));
    assert_eq!(ones.len(), 2, "duplicate ids are answered each");
    for one in ones {
        assert_eq!(one["ok"], true);
        assert_eq!(one["plugin"], "greeter");
        assert_eq!(one["version"], "1.0.0");
        assert_eq!(one["result"]["version"], "1.0.0");
    }
    assert_eq!(
        by_id(&answers, &json!("two"))[0]["ok"],
        true,
        "string ids echo as given"
    );
    let missing = by_id(&answers, &json!(3))[0];
    assert_eq!(missing["ok"], false);
    assert!(
        missing["error"]
            .as_str()
            .unwrap_or_default()
            .contains("missing"),
        "{missing}"
    );
    assert!(
        by_id(&answers, &json!(4))[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("nope")
    );
    assert_eq!(
        by_id(&answers, &json!(5))[0]["ok"],
        false,
        "the id is echoed on a bad call"
    );
    let nulls = by_id(&answers, &Value::Null);
    assert_eq!(nulls.len(), 2, "{nulls:#?}");
    assert!(
        nulls
            .iter()
            .all(|a| a["ok"] == false && a["error"].is_string())
    );
    // Shut down in reverse load order.
    let unloaded: Vec<&String> = stderr.iter().filter(|l| l.contains("unloaded")).collect();
    assert!(
        unloaded[0].contains("greeter") && unloaded[1].contains("kv-store"),
        "{stderr:#?}"
    );
}

#[test]
fn json_events_are_one_object_per_line_in_the_schema() {
    let dir = plugins(&["process/kv-store-1.4.1", "process/greeter-1.0.0"]);
    std::fs::create_dir(dir.path().join("broken")).expect("dir");
    std::fs::write(
        dir.path().join("broken/plugin-manifest.yaml"),
        "name: broken\nversion: nope\n",
    )
    .expect("write");
    let input = r#"{"id": 1, "plugin": "greeter", "method": "greet", "payload": {"name": "Ada"}}"#;
    let (answers, stderr, code) = run(dir.path(), &["--json"], &format!("{input}\n"));
    assert_eq!(code, 0);
    assert_eq!(answers[0]["ok"], true, "{answers:#?}");
    let events: Vec<Value> = stderr
        .iter()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{e}: not one JSON object: {line}"))
        })
        .collect();
    for event in &events {
        assert!(
            event["event"].is_string() && event["stream"].is_string(),
            "{event}"
        );
    }
    let names: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["stream"].as_str().unwrap_or_default(),
                e["event"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for expected in [
        ("discovery", "plugin_discovered"),
        ("discovery", "manifest_invalid"),
        ("hot_load", "plugin_loading"),
        ("hot_load", "plugin_loaded"),
        ("hot_load", "plugin_unloading"),
        ("hot_load", "plugin_unloaded"),
    ] {
        assert!(
            names.contains(&expected),
            "{expected:?} missing from {names:?}"
        );
    }
    // Log lines are objects of the schema too: here the plugin's own (the
    // greeter logs at init through the SDK's logger, which a process
    // plugin writes to its stderr; plugkit's own lines are at `warn` and
    // above by default, and there are none).
    let logs: Vec<&Value> = events.iter().filter(|e| e["event"] == "log").collect();
    assert!(
        logs.iter().any(|e| e["stream"] == "plugin"
            && e["plugin"] == "greeter"
            && e["level"] == "info"
            && e["message"] == "greeter ready"),
        "{logs:#?}"
    );
    let invalid = events
        .iter()
        .find(|e| e["event"] == "manifest_invalid")
        .expect("invalid");
    assert!(
        invalid["path"]
            .as_str()
            .unwrap_or_default()
            .ends_with("broken/plugin-manifest.yaml")
    );
}

#[test]
fn a_swap_while_running_changes_the_answers_to_the_new_version() {
    let dir = plugins(&["native/kv-store-1.4.1", "native/greeter-1.0.0"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(["run", "--json"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("plugkit starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut call = |id: u32| -> Value {
        writeln!(stdin, r#"{{"id": {id}, "plugin": "greeter", "method": "greet", "payload": {{"name": "Ada"}}}}"#)
            .expect("write");
        stdin.flush().expect("flush");
        let line = stdout.next().expect("an answer").expect("read");
        serde_json::from_str(&line).expect("JSON")
    };
    assert_eq!(call(1)["version"], "1.0.0");
    copy_dir(
        &layout().join("native/greeter-2.0.0"),
        &dir.path().join("greeter-2.0.0"),
    );
    // Wait for the hot-load plugin_updated event. 1.0.0 -> 2.0.0 is a
    // breaking change, which the default policy allows with a warning:
    // a log line before it says so.
    let mut warned = false;
    loop {
        let line = stderr
            .next()
            .expect("an event before the end")
            .expect("read");
        let event: Value = serde_json::from_str(&line).expect("JSON event");
        if event["event"] == "log" && event["level"] == "warn" && event["plugin"] == "greeter" {
            let message = event["message"].as_str().unwrap_or_default();
            assert!(message.starts_with("greeter 1.0.0 -> 2.0.0: "), "{event}");
            warned = true;
        }
        if event["stream"] == "hot_load" && event["event"] == "plugin_updated" {
            assert!(warned, "no warning before the breaking change");
            assert_eq!(
                (event["old_version"].clone(), event["version"].clone()),
                (json!("1.0.0"), json!("2.0.0"))
            );
            break;
        }
    }
    let answer = call(2);
    assert_eq!(answer["version"], "2.0.0");
    assert_eq!(answer["result"]["text"], "hi, Ada");

    drop(stdin); // EOF: the host shuts down and exits 0
    let status = child.wait().expect("exits at EOF");
    assert!(status.success());
}

#[test]
fn a_missing_directory_is_an_io_error_and_relative_paths_work() {
    let (_, stderr, code) = run(Path::new("/nonexistent/plugins"), &[], "");
    assert_eq!(code, 2, "{stderr:#?}");
    assert!(
        stderr.join("\n").contains("cannot read directory"),
        "{stderr:#?}"
    );

    let dir = plugins(&["native/kv-store-1.4.1", "native/greeter-1.0.0"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .current_dir(dir.path().parent().expect("parent"))
        .arg("run")
        .arg(dir.path().file_name().expect("name"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("plugkit starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"{\"id\": 1, \"plugin\": \"greeter\", \"method\": \"greet\", \"payload\": {\"name\": \"Ada\"}}\n")
        .expect("write");
    let output = child.wait_with_output().expect("runs");
    let answer: Value = serde_json::from_slice(&output.stdout).expect("one answer");
    assert_eq!(answer["ok"], true, "{answer}");
}

#[test]
fn the_status_query_answers_with_each_plugins_state() {
    let dir = plugins(&["native/kv-store-1.4.1", "process/greeter-1.0.0"]);
    let input = [
        r#"{"id": "s", "query": "status"}"#,
        r#"{"id": "bad", "query": "everything"}"#,
        "",
    ]
    .join("\n");
    let (answers, stderr, code) = run(dir.path(), &[], &input);
    assert_eq!(code, 0, "{stderr:#?}");
    let status = by_id(&answers, &json!("s"))[0];
    assert_eq!(status["ok"], true, "{status}");
    let plugins = status["status"].as_array().expect("a list");
    let described: Vec<(String, String, String)> = plugins
        .iter()
        .map(|p| {
            (
                p["plugin"].as_str().unwrap_or_default().to_string(),
                p["state"].as_str().unwrap_or_default().to_string(),
                p["version"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            ("greeter".into(), "running".into(), "1.0.0".into()),
            ("kv-store".into(), "running".into(), "1.4.1".into()),
        ]
    );
    for plugin in plugins {
        assert_eq!(plugin["last_error"], Value::Null, "{plugin}");
        assert_eq!(plugin["rollback_target"], Value::Null, "{plugin}");
        assert_eq!(plugin["in_flight"], 0, "{plugin}");
        // The host's own health check and method listing at load.
        assert!(plugin["calls"].as_u64().is_some_and(|n| n >= 1), "{plugin}");
        assert!(plugin["for_ms"].is_u64(), "{plugin}");
    }
    let bad = by_id(&answers, &json!("bad"))[0];
    assert_eq!(bad["ok"], false);
    assert_eq!(
        bad["error"],
        r#"invalid query "everything": the one query is "status""#
    );
}
