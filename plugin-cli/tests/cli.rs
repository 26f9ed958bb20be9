//! The `plugkit` binary's contract: output, `--json` shapes and exit codes
//! (0 success, 1 negative answer, 2 usage or IO error).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn plugkit(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(args)
        .current_dir(root)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("plugkit starts");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).expect("write stdin");
    }
    child.wait_with_output().expect("plugkit finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

#[test]
fn manifest_check_accepts_the_guide_manifests() {
    let out = plugkit(
        &[
            "manifest",
            "check",
            "fixtures/guide/plugin-manifest.json",
            "fixtures/guide/plugin-manifest.yaml",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!(text(&out.stdout));
}

#[test]
fn manifest_check_reports_every_problem_and_exits_1() {
    let out = plugkit(
        &[
            "manifest",
            "check",
            "examples/manifests/good/greeter/plugin-manifest.yaml",
            "examples/manifests/bad/broken/plugin-manifest.yaml",
            "examples/manifests/bad/syntax-error/plugin-manifest.json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    insta::assert_snapshot!(text(&out.stdout));
}

#[test]
fn manifest_check_json_prints_one_object_per_file() {
    let out = plugkit(
        &[
            "manifest",
            "check",
            "--json",
            "examples/manifests/good/kv-store/plugin-manifest.json",
            "examples/manifests/bad/broken/plugin-manifest.yaml",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let objects: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
        .collect();
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[0]["valid"], true);
    assert_eq!(objects[0]["manifest"]["name"], "kv-store");
    assert_eq!(objects[1]["valid"], false);
    let first = &objects[1]["diagnostics"][0];
    assert_eq!(first["severity"], "error");
    assert_eq!(first["kind"], "invalid_name");
    assert_eq!(first["path"], "name");
}

#[test]
fn manifest_check_missing_file_exits_2() {
    let out = plugkit(&["manifest", "check", "no/such/plugin-manifest.json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            == "error: cannot read manifest no/such/plugin-manifest.json: no such file or directory (os error 2)\n",
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(plugkit(&["manifest", "check"], None).status.code(), Some(2));
    assert_eq!(plugkit(&["no-such-command"], None).status.code(), Some(2));
    assert_eq!(
        plugkit(&["version", "satisfies", "1.0.0"], None)
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn version_satisfies_prints_true_or_false_and_exits_0() {
    let yes = plugkit(&["version", "satisfies", "1.4.2", "^1.2.0"], None);
    assert_eq!(
        (yes.status.code(), text(&yes.stdout).as_str()),
        (Some(0), "true\n")
    );
    let no = plugkit(&["version", "satisfies", "1.2.4", "1.2.3"], None);
    assert_eq!(
        (no.status.code(), text(&no.stdout).as_str()),
        (Some(0), "false\n")
    );
}

#[test]
fn version_satisfies_bad_input_is_an_error_on_stderr_exit_2() {
    for (version, constraint) in [("1.2.3", "^^1"), ("1.2.3.4", "*"), ("1.0.0", "")] {
        let out = plugkit(&["version", "satisfies", version, constraint], None);
        assert_eq!(out.status.code(), Some(2), "{version} {constraint}");
        assert!(out.stdout.is_empty());
        assert!(
            text(&out.stderr).starts_with("error: "),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn version_check_answers_each_line_in_order() {
    let input =
        b"1.2.3\t~1.2.0\n1.3.0\t~1.2.0\n1.0.0-beta.2\t>=1.0.0-beta <1.0.0\nbad\t*\n1.0.0\t>=abc\n";
    let out = plugkit(&["version", "check"], Some(input));
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(&lines[..3], ["true", "false", "true"]);
    assert!(lines[3].starts_with("error: "), "{}", lines[3]);
    assert!(lines[4].starts_with("error: "), "{}", lines[4]);
    assert_eq!(lines.len(), 5);
}

/// Runs plugkit from a temporary directory.
#[cfg(unix)]
fn plugkit_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("plugkit runs")
}

/// File names (and so paths) can hold ESC, CR and LF; printed raw, one
/// once forged an `ok:` line for another file. Every text output escapes
/// them: each item stays on its own line and shows what is really there.
#[cfg(unix)]
#[test]
fn untrusted_text_cannot_forge_output_lines() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "x\r\u{1b}[2Kother.json: ok: forged 9.9.9\n";
    let plugin_dir = dir.path().join(evil);
    std::fs::create_dir(&plugin_dir).unwrap();
    let manifest = r#"{"name": "real", "version": "1.0.0", "transport": "native", "endpoint": "libreal.so", "bogus": 1}"#;
    std::fs::write(plugin_dir.join("plugin-manifest.json"), manifest).unwrap();
    std::fs::write(plugin_dir.join("plugin-manifest.yaml"), "name: [").unwrap();
    let bad = dir.path().join("bad\n");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("plugin-manifest.json"), "{\"name\": 1}").unwrap();

    let file = format!("{evil}/plugin-manifest.json");
    let check = plugkit_in(
        dir.path(),
        &["manifest", "check", &file, "bad\n/plugin-manifest.json"],
    );
    let discover = plugkit_in(dir.path(), &["discover", "."]);
    let resolve = plugkit_in(dir.path(), &["resolve", "."]);
    let all = format!(
        "manifest check:\n{}{}\ndiscover:\n{}\nresolve:\n{}{}",
        text(&check.stdout),
        text(&check.stderr),
        text(&discover.stdout),
        text(&resolve.stdout),
        text(&resolve.stderr),
    );
    assert!(!all.contains(['\r', '\u{1b}']), "{all}");
    assert!(
        !all.lines().any(|line| line.starts_with("other.json")),
        "{all}"
    );
    insta::assert_snapshot!(all);
}

/// `version check` as a co-process: each answer can be read before the
/// next line is written (it once printed nothing until EOF).
#[test]
fn version_check_answers_each_line_as_it_comes() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(["version", "check"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("plugkit starts");
    let mut input = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, answers) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let ceiling = std::time::Duration::from_secs(10);
    for (line, expected) in [
        ("1.2.3\t^1.0.0\n", "true"),
        ("0.9.0\t^1.0.0\n", "false"),
        ("bad\t*\n", "error: "),
        ("2.0.0-rc.1\t>=2.0.0-rc.0\n", "true"),
    ] {
        input.write_all(line.as_bytes()).unwrap();
        input.flush().unwrap();
        let answer = answers
            .recv_timeout(ceiling)
            .unwrap_or_else(|e| panic!("no answer to {line:?} while stdin stays open: {e}"));
        assert!(answer.starts_with(expected), "{line:?}: {answer}");
    }
    // A blank last line is not an input: no answer for it.
    input.write_all(b"\n").unwrap();
    drop(input);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(answers.recv_timeout(ceiling).ok(), None);
}
