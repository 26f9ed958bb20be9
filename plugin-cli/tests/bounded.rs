//! Every read of untrusted input is bounded, with the same limits in every
//! command, and the error gives the limit and (where it can be known) the
//! real size: a sparse 2 GiB manifest, a manifest path that is a symlink to
//! `/dev/zero`, a FIFO, and a line on stdin too long for `version check`.
//! None of these may read more than the limit (they once read gigabytes).

#![cfg(unix)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn plugkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("plugkit runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A directory with one sparse manifest of 2 GiB.
fn sparse_tree() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big/plugin-manifest.json");
    std::fs::create_dir_all(big.parent().unwrap()).unwrap();
    std::fs::File::create(&big)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let shown = big.to_str().unwrap().to_string();
    (dir, shown)
}

#[test]
fn a_sparse_2_gib_manifest_is_refused_by_size_in_every_command() {
    let (dir, big) = sparse_tree();
    let reason = "manifest is 2147483648 bytes, more than the limit of 1048576 bytes";

    let out = plugkit(&["manifest", "check", &big]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: manifest {big} is 2147483648 bytes, more than the limit of 1048576 bytes\n"
        )
    );

    let root = dir.path().to_str().unwrap();
    let out = plugkit(&["discover", "--json", root]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["unreadable"][0]["reason"], reason);

    let out = plugkit(&["resolve", "--json", root]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["warnings"][0], format!("{big}: {reason}"));
}

#[test]
fn a_manifest_that_is_a_symlink_to_dev_zero_is_read_no_further_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("plugin-manifest.json");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let link = link.to_str().unwrap();
    for path in ["/dev/zero", link] {
        let out = plugkit(&["manifest", "check", path]);
        assert_eq!(out.status.code(), Some(2), "{path}");
        assert_eq!(
            stderr(&out),
            format!("error: manifest {path} holds more than the limit of 1048576 bytes\n")
        );
    }
    // Discovery does not even open it (not a regular file).
    let out = plugkit(&[
        "discover",
        "--json",
        "--follow-symlinks",
        dir.path().to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["unreadable"][0]["reason"], "not a regular file");
}

#[test]
fn a_fifo_is_read_with_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("plugin-manifest.json");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let child = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(["manifest", "check"])
        .arg(&fifo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The writer blocks until plugkit opens the FIFO, and stops with a
    // broken pipe once plugkit has read its fill and closed it.
    let path = fifo.clone();
    let writer = std::thread::spawn(move || {
        let mut writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let chunk = vec![b' '; 1 << 16];
        let mut written = 0usize;
        while written < 64 << 20 {
            match writer.write(&chunk) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        written
    });
    let out = child.wait_with_output().unwrap();
    if !writer.is_finished() {
        // plugkit never opened the FIFO: release the writer (opening the
        // read end without blocking) so the test fails instead of hanging.
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            const O_NONBLOCK: i32 = 0o4000;
            let _reader = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(O_NONBLOCK)
                .open(&fifo);
        }
    }
    let written = writer.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: manifest {} holds more than the limit of 1048576 bytes\n",
            fifo.display()
        )
    );
    assert!(written < 64 << 20, "plugkit read the whole stream");
}

#[test]
fn a_stdin_line_longer_than_the_limit_is_one_error_answer() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(["version", "check"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let long = vec![b'1'; 10 << 20];
        stdin.write_all(&long).unwrap();
        stdin.write_all(b"\n1.0.0\t^1\n").unwrap();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "error: line is 10485760 bytes, more than the limit of 65536 bytes\ntrue\n"
    );
}

#[test]
fn the_same_limit_holds_for_a_file_just_under_and_just_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugin-manifest.json");
    let manifest = r#"{"name": "pad", "version": "1.0.0", "transport": "grpc", "endpoint": "h:1"}"#;
    let fill = |size: usize| {
        let mut text = manifest.to_string();
        text.push_str(&" ".repeat(size - manifest.len()));
        std::fs::write(&path, text).unwrap();
    };
    let shown = path.to_str().unwrap();
    fill(1 << 20);
    assert_eq!(
        plugkit(&["manifest", "check", shown]).status.code(),
        Some(0)
    );
    fill((1 << 20) + 1);
    let out = plugkit(&["manifest", "check", shown]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is 1048577 bytes, more than the limit of 1048576 bytes"));
    let root = Path::new(shown).parent().unwrap().to_str().unwrap();
    let report: Value =
        serde_json::from_slice(&plugkit(&["discover", "--json", root]).stdout).unwrap();
    assert_eq!(
        report["unreadable"][0]["reason"],
        "manifest is 1048577 bytes, more than the limit of 1048576 bytes"
    );
}
