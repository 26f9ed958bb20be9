//! `cargo xtask demo`: the main job, shown end to end with the `plugkit` CLI
//! on the example manifests bundled in `examples/manifests/` and the guide's
//! manifests in `fixtures/guide/`.
//!
//! Each step prints the command it runs, its output and its exit code, and
//! checks that the exit code is the one the CLI's contract promises, so the
//! demo fails loudly if the tool stops doing what it shows.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

pub(crate) fn run(root: &Path) -> Result<()> {
    let mut build = crate::cargo(root);
    build.args(["build", "--quiet", "--package", "plugin-cli"]);
    crate::run(&mut build)?;
    let exe = root.join("target").join("debug").join("plugkit");

    section("1. Manifests: the guide's two examples parse verbatim (JSON and YAML)");
    step(
        root,
        &exe,
        &[
            "manifest",
            "check",
            "fixtures/guide/plugin-manifest.json",
            "fixtures/guide/plugin-manifest.yaml",
        ],
        None,
        0,
    )?;

    section("2. Every problem of a broken manifest at once, with file, line and column");
    step(
        root,
        &exe,
        &[
            "manifest",
            "check",
            "examples/manifests/bad/broken/plugin-manifest.yaml",
        ],
        None,
        1,
    )?;
    step(
        root,
        &exe,
        &[
            "manifest",
            "check",
            "examples/manifests/bad/syntax-error/plugin-manifest.json",
        ],
        None,
        1,
    )?;

    section("3. Machine-readable output for scripts (--json, one object per file)");
    step(
        root,
        &exe,
        &[
            "manifest",
            "check",
            "--json",
            "examples/manifests/good/greeter/plugin-manifest.yaml",
        ],
        None,
        0,
    )?;

    section("4. Version constraints, npm-style (bare version = exact)");
    step(
        root,
        &exe,
        &["version", "satisfies", "1.4.2", "^1.2.0"],
        None,
        0,
    )?;
    step(
        root,
        &exe,
        &[
            "version",
            "satisfies",
            "2.0.0-rc.1",
            "^1.2.0 || >=2.0.0-rc.0 <2.0.0",
        ],
        None,
        0,
    )?;
    step(
        root,
        &exe,
        &["version", "satisfies", "1.2.4", "1.2.3"],
        None,
        0,
    )?;
    step(
        root,
        &exe,
        &["version", "satisfies", "1.2.3", "^^1"],
        None,
        2,
    )?;

    section("5. Bulk checks on stdin: one answer per line, in order");
    let lines = "1.2.3\t~1.2.0\n1.3.0\t~1.2.0\n1.0.0-beta.2\t>=1.0.0-beta <1.0.0\n0.9.9\t1.x || >=0.9.5 <0.9.9\nnot-a-version\t*\n";
    step(root, &exe, &["version", "check"], Some(lines), 0)?;

    section("6. Discovery: every plugin under a tree, the invalid manifests beside them");
    step(root, &exe, &["discover", "examples/manifests"], None, 0)?;

    section("7. Resolution with PubGrub: versions and load order, or why not");
    step(root, &exe, &["resolve", "examples/manifests/good"], None, 0)?;
    step(
        root,
        &exe,
        &["resolve", "examples/manifests/good", "--want", "greeter@^2"],
        None,
        1,
    )?;

    section("8. An application: resolve the example plugins, load them in order, call them");
    crate::examples::run_host(root)?;
    println!("\ndemo: ok");
    Ok(())
}

fn section(title: &str) {
    println!("\n== {title}");
}

/// Runs `plugkit ARGS` from the workspace root, shows its output, and checks
/// its exit code against the CLI contract.
fn step(root: &Path, exe: &Path, args: &[&str], stdin: Option<&str>, expect: i32) -> Result<()> {
    println!(
        "\n$ plugkit {}",
        args.iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if let Some(input) = stdin {
        for line in input.lines() {
            println!("  < {}", line.replace('\t', "<TAB>"));
        }
    }
    let mut child = Command::new(exe)
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
        .with_context(|| format!("failed to start {}", exe.display()))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .context("failed to write to plugkit's stdin")?;
    }
    let output = child
        .wait_with_output()
        .context("failed to wait for plugkit")?;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        println!("  {line}");
    }
    for line in String::from_utf8_lossy(&output.stderr).lines() {
        println!("  {line}");
    }
    let code = output.status.code().unwrap_or(-1);
    println!("  (exit {code})");
    if code != expect {
        bail!(
            "plugkit {} exited with {code}, the contract says {expect}",
            args.join(" ")
        );
    }
    Ok(())
}

fn shell_quote(arg: &str) -> String {
    if arg
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:@".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{arg}'")
    }
}
