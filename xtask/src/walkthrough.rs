//! The README's "Your own plugin, loaded and hot-swapped" walkthrough, run
//! as a newcomer runs it (part of `cargo xtask test`), so that it cannot
//! drift from what plugkit does.
//!
//! The section is read from `README.md` itself: its shell blocks run with
//! `bash` in a scratch directory outside the repository (a crate made by
//! `cargo new` must not find this workspace above it), with `$PLUGKIT` set
//! to the clone. The first block's last line starts `plugkit run`; it is
//! run with its standard streams piped, and each `text` block's call is
//! sent to it and its answer compared (as JSON) with the one the README
//! shows. The edit the prose asks for is made to `src/main.rs` before the
//! second shell block runs, and the line the prose promises on stderr is
//! awaited before the second call. Every wait is on output, bounded by a
//! generous ceiling (the first answer waits for `cargo run` to build).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The heading of the section this runs.
const SECTION: &str = "## Your own plugin, loaded and hot-swapped";
/// How the first shell block's last line starts: `plugkit run`, by cargo.
const RUN_LINE: &str = "cargo run --manifest-path \"$PLUGKIT/Cargo.toml\" -p plugin-cli -- run ";
/// The edit the prose asks for between the two versions: (prose, before, after).
const EDITS: &[(&str, &str, &str)] = &[
    (
        "change the greeting to `hi`",
        "format!(\"hello, {name}\")",
        "format!(\"hi, {name}\")",
    ),
    (
        "the version to `1.1.0`",
        "Version::new(1, 0, 0)",
        "Version::new(1, 1, 0)",
    ),
];
/// How long any wait may take (a cold `cargo build` included).
const CEILING: Duration = Duration::from_secs(900);

/// The section's fenced blocks, in order: (info string, body).
fn blocks(readme: &str) -> Result<(String, Vec<(String, String)>)> {
    let start = readme
        .find(SECTION)
        .with_context(|| format!("README.md has no section {SECTION:?}"))?;
    let section = &readme[start + SECTION.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut blocks = Vec::new();
    let mut prose = String::new();
    let mut open: Option<(String, String)> = None;
    for line in section.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_string(), String::new())),
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {
                prose.push_str(line);
                prose.push(' ');
            }
        }
    }
    let prose = prose.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok((prose, blocks))
}

/// A `text` block's call line and the answer line the README shows.
fn exchange(body: &str) -> Result<(String, serde_json::Value)> {
    let lines: Vec<&str> = body.lines().filter(|l| !l.trim().is_empty()).collect();
    let [call, answer] = lines[..] else {
        bail!("README: a text block of the walkthrough is not one call and one answer: {body:?}");
    };
    let answer = serde_json::from_str(answer)
        .with_context(|| format!("README: the answer {answer:?} is not JSON"))?;
    Ok((call.to_string(), answer))
}

/// A running `plugkit run` and the lines it prints.
struct Run {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<(&'static str, String)>,
}

impl Run {
    fn start(command: &str, dir: &Path, plugkit: &Path) -> Result<Run> {
        let mut child = bash(&format!("exec {command}"), dir, plugkit)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start bash")?;
        let (tx, lines) = channel();
        let stdout = child.stdout.take().context("stdout")?;
        let stderr = child.stderr.take().context("stderr")?;
        for (name, stream) in [
            ("stdout", Box::new(stdout) as Box<dyn std::io::Read + Send>),
            ("stderr", Box::new(stderr)),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send((name, line)).is_err() {
                        break;
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        Ok(Run {
            child,
            stdin,
            lines,
        })
    }

    /// Waits for a line on `stream` that `wanted` accepts; prints stderr.
    fn wait_for(&self, stream: &str, what: &str, wanted: impl Fn(&str) -> bool) -> Result<String> {
        let deadline = Instant::now() + CEILING;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((name, line)) => {
                    if name == "stderr" {
                        println!("  plugkit run: {line}");
                    }
                    if name == stream && wanted(&line) {
                        return Ok(line);
                    }
                    if name == "stdout" {
                        bail!("walkthrough: waiting for {what}, plugkit run answered {line:?}");
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    bail!("walkthrough: no {what} within {CEILING:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    bail!("walkthrough: plugkit run ended before {what}")
                }
            }
        }
    }

    fn call(&mut self, (line, expected): &(String, serde_json::Value)) -> Result<()> {
        println!("  > {line}");
        let stdin = self.stdin.as_mut().context("stdin closed")?;
        writeln!(stdin, "{line}").context("writing a call to plugkit run")?;
        stdin.flush().context("writing a call to plugkit run")?;
        let answer = self.wait_for("stdout", "an answer", |_| true)?;
        println!("  < {answer}");
        let got: serde_json::Value = serde_json::from_str(&answer)
            .with_context(|| format!("walkthrough: the answer {answer:?} is not JSON"))?;
        if got != *expected {
            bail!(
                "walkthrough: the README shows the answer {expected}, plugkit run answered {got}"
            );
        }
        Ok(())
    }

    /// Closes stdin (plugkit drains and exits) and checks it exited 0.
    fn finish(mut self) -> Result<()> {
        drop(self.stdin.take());
        // Both streams close when plugkit exits.
        let deadline = Instant::now() + CEILING;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((_, line)) => println!("  plugkit run: {line}"),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    bail!("walkthrough: plugkit run did not exit at EOF")
                }
            }
        }
        let status = self.child.wait().context("waiting for plugkit run")?;
        if !status.success() {
            bail!("walkthrough: plugkit run exited with {status} at EOF");
        }
        Ok(())
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // On an error path: plugkit's plugins die with it (parent-death signal).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bash(script: &str, dir: &Path, plugkit: &Path) -> Command {
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PLUGKIT", plugkit)
        .env_remove("CARGO_TARGET_DIR");
    cmd
}

fn run_block(script: &str, dir: &Path, plugkit: &Path) -> Result<()> {
    for line in script.lines() {
        println!("  $ {line}");
    }
    crate::run(&mut bash(script, dir, plugkit))
}

/// The section, as read from the README.
struct Walkthrough {
    /// The first shell block but its last line.
    setup: String,
    /// The first shell block's last line: `plugkit run`, by cargo.
    run_line: String,
    /// The second shell block: the new version built and moved in.
    second: String,
    /// The two calls, each with the answer the README shows.
    calls: [(String, serde_json::Value); 2],
    /// What the prose says `plugkit run` prints on stderr at the swap.
    promised: String,
}

impl Walkthrough {
    fn parse(readme: &str) -> Result<Walkthrough> {
        let (prose, blocks) = blocks(readme)?;
        let kinds: Vec<&str> = blocks.iter().map(|(info, _)| info.as_str()).collect();
        let [(_, first), (_, call_1), (_, second), (_, call_2)] = &blocks[..] else {
            bail!("README: the walkthrough's blocks are {kinds:?}, not sh, text, sh, text");
        };
        if kinds != ["sh", "text", "sh", "text"] {
            bail!("README: the walkthrough's blocks are {kinds:?}, not sh, text, sh, text");
        }
        let (setup, run_line) = first
            .trim_end()
            .rsplit_once('\n')
            .context("README: the walkthrough's first block is one line")?;
        if !run_line.starts_with(RUN_LINE) {
            bail!(
                "README: the walkthrough's first block ends with {run_line:?}, not {RUN_LINE}..."
            );
        }
        let promised = prose
            .split_once("`plugkit run` says `")
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(line, _)| line.to_string())
            .context("README: the walkthrough does not say what `plugkit run` says on a swap")?;
        for (asked, _, _) in EDITS {
            if !prose.contains(asked) {
                bail!(
                    "README: the walkthrough no longer asks to {asked:?}; update xtask's walkthrough"
                );
            }
        }
        Ok(Walkthrough {
            setup: setup.to_string(),
            run_line: run_line.to_string(),
            second: second.clone(),
            calls: [exchange(call_1)?, exchange(call_2)?],
            promised,
        })
    }

    fn steps(&self, root: &Path, scratch: &Path) -> Result<()> {
        run_block(&self.setup, scratch, root)?;
        let hello = scratch.join("hello");
        println!("  $ {}", self.run_line);
        let mut run = Run::start(&self.run_line, &hello, root)?;
        run.call(&self.calls[0])?;

        let main = hello.join("src/main.rs");
        let mut code = std::fs::read_to_string(&main).context("reading src/main.rs")?;
        for (_, before, after) in EDITS {
            if !code.contains(before) {
                bail!("walkthrough: src/main.rs has no {before:?} to change");
            }
            code = code.replace(before, after);
        }
        std::fs::write(&main, code).context("writing src/main.rs")?;
        run_block(&self.second, &hello, root)?;
        let promised = &self.promised;
        run.wait_for("stderr", &format!("{promised:?} on stderr"), |line| {
            line.contains(promised)
        })?;
        run.call(&self.calls[1])?;
        run.finish()
    }
}

/// Runs the walkthrough in a scratch directory, removed afterwards.
pub(crate) fn run(root: &Path) -> Result<()> {
    let readme = std::fs::read_to_string(root.join("README.md")).context("reading README.md")?;
    let walkthrough = Walkthrough::parse(&readme)?;
    let scratch: PathBuf =
        std::env::temp_dir().join(format!("plugkit-walkthrough-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).context("creating the walkthrough's directory")?;
    println!(
        "walkthrough: README.md's {SECTION:?} in {}",
        scratch.display()
    );
    let result = walkthrough.steps(root, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    println!("walkthrough: ok");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_walkthrough_is_read_whole() {
        let root = crate::workspace_root();
        let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
        let walkthrough = Walkthrough::parse(&readme).expect("the walkthrough parses");
        assert!(walkthrough.setup.starts_with("cargo new "));
        assert!(
            walkthrough
                .second
                .contains("mv ../stage/hello-1.1.0 ../plugins/")
        );
        assert_eq!(walkthrough.promised, "hello updated from 1.0.0 to 1.1.0");
        assert_eq!(walkthrough.calls[0].1["result"], "hello, Ada");
        assert_eq!(walkthrough.calls[1].1["version"], "1.1.0");
    }

    #[test]
    fn a_changed_walkthrough_is_refused_with_what_changed() {
        let readme = format!("{SECTION}\n\n```sh\ncargo new x\n```\n\n## Next\n");
        let error = Walkthrough::parse(&readme)
            .err()
            .expect("refused")
            .to_string();
        assert_eq!(
            error,
            "README: the walkthrough's blocks are [\"sh\"], not sh, text, sh, text"
        );
        let error = Walkthrough::parse("# no such section")
            .err()
            .expect("refused");
        assert!(error.to_string().contains("has no section"), "{error}");
    }
}
