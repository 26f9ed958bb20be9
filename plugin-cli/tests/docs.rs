//! The docs cannot drift: every ```` ```console ```` block in `docs/*.md`
//! is run, and its shown output must be what the commands print now; every
//! link in the docs must point at a file (and heading) of the repository.
//!
//! A console block is a list of commands, each a line `$ COMMAND`,
//! followed by the lines it prints (stdout and stderr together, as a
//! terminal shows them). A command's exit code must be 0, or the one its
//! trailing comment names (`$ plugkit resolve DIR  # exit 1`).
//!
//! Blocks run at the repository's root and may only run `plugkit`, `cat`
//! and `grep`, unless the line before the fence is `<!-- docs-test: sandbox -->`:
//! then the block runs in a fresh directory where `examples`, `fixtures`,
//! `plugin-cli` and `plugin-discovery` lead to the repository's, and
//! `target/ex` holds the example plugins laid out by `cargo xtask
//! example-plugins` (built once, when a block needs it). There the commands
//! understood are a small shell: `plugkit`, `mkdir -p`, `cp -r`, `mv`,
//! `rm -rf`, `ln -s`, `cat`, `grep [-v] TEXT FILE` (fixed text),
//! `timeout -s INT N plugkit ...`, redirections
//! `> FILE` and `2> FILE`, and a pipe into plugkit from `echo 'LINE'` or
//! from a subshell `(STEP; STEP; ...)` of `echo 'LINE'`, `sleep N` and the
//! file commands.
//!
//! Waiting is on output, never on time: `sleep` in a subshell waits until
//! every call sent so far is answered and plugkit's events have settled
//! (after a file command, until they changed), and `timeout` interrupts
//! its command once its output has settled. The ceilings are generous.
//!
//! `UPDATE_DOCS=1 cargo test -p plugin-cli --test docs` writes the output
//! the commands print now into the docs (then read the diff).

#![cfg(unix)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long any wait may take before the test gives up.
const CEILING: Duration = Duration::from_secs(120);
/// How long output must stay unchanged to count as settled.
const QUIET: Duration = Duration::from_millis(700);
/// Events after which more are on their way (a load, a drain, discovery
/// seeing files the host has not acted on yet).
const IN_PROGRESS: &[&str] = &[
    "\"event\":\"plugin_loading\"",
    "\"event\":\"plugin_unloading\"",
    "\"event\":\"plugin_discovered\"",
    "\"event\":\"plugin_removed\"",
    "\"stream\":\"discovery\"",
];
/// Log lines on `plugkit run --json`'s stderr, which say nothing about
/// whether the host is done.
const LOG_LINE: &str = "\"event\":\"log\"";
/// The repository directories a sandbox sees.
const SANDBOX_LINKS: &[&str] = &["examples", "fixtures", "plugin-cli", "plugin-discovery"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn doc_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
}

/// One console block.
struct Block {
    /// The doc, relative to the root.
    file: String,
    /// Line indexes (0-based) of the opening and closing fences.
    open: usize,
    close: usize,
    sandbox: bool,
    commands: Vec<Shown>,
}

/// One command of a block and the output the doc shows for it.
struct Shown {
    line: String,
    expected: Vec<String>,
}

fn blocks(file: &str, text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let open = i;
        let close = (open + 1..lines.len())
            .find(|&j| lines[j].trim_start().starts_with("```"))
            .unwrap_or_else(|| panic!("{file}:{}: a code block is not closed", open + 1));
        if info.trim() == "console" {
            let marker = lines[..open]
                .iter()
                .rev()
                .find(|line| !line.trim().is_empty())
                .map(|line| line.trim());
            let mut commands: Vec<Shown> = Vec::new();
            for line in &lines[open + 1..close] {
                if let Some(command) = line.strip_prefix("$ ") {
                    commands.push(Shown {
                        line: command.to_string(),
                        expected: Vec::new(),
                    });
                } else {
                    match commands.last_mut() {
                        Some(shown) => shown.expected.push(line.to_string()),
                        None => panic!(
                            "{file}:{}: a console block starts with output, not `$ COMMAND`",
                            open + 2
                        ),
                    }
                }
            }
            out.push(Block {
                file: file.to_string(),
                open,
                close,
                sandbox: marker == Some("<!-- docs-test: sandbox -->"),
                commands,
            });
        }
        i = close + 1;
    }
    out
}

/// A word or an operator of a command line.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Op(&'static str),
}

/// Splits a command line the way a POSIX shell would for the subset the
/// docs use; returns the tokens and the exit code a trailing
/// `# exit N` comment names.
fn tokenize(line: &str) -> (Vec<Token>, i32) {
    let mut tokens = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    let mut exit = 0;
    let end_word = |word: &mut Option<String>, tokens: &mut Vec<Token>| {
        if let Some(w) = word.take() {
            tokens.push(Token::Word(w));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                let text = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(other) => text.push(other),
                        None => panic!("unclosed quote in `{line}`"),
                    }
                }
            }
            ' ' | '\t' => end_word(&mut word, &mut tokens),
            '#' if word.is_none() => {
                let comment: String = chars.by_ref().collect();
                if let Some(code) = comment.trim().strip_prefix("exit ") {
                    exit = code.trim().parse().expect("`# exit N` names a number");
                }
                break;
            }
            '(' | ')' | ';' | '|' => {
                end_word(&mut word, &mut tokens);
                tokens.push(Token::Op(match c {
                    '(' => "(",
                    ')' => ")",
                    ';' => ";",
                    _ => "|",
                }));
            }
            '>' => {
                if word.as_deref() == Some("2") {
                    word = None;
                    tokens.push(Token::Op("2>"));
                } else {
                    end_word(&mut word, &mut tokens);
                    tokens.push(Token::Op(">"));
                }
            }
            other => word.get_or_insert_with(String::new).push(other),
        }
    }
    end_word(&mut word, &mut tokens);
    (tokens, exit)
}

fn words(tokens: &[Token]) -> Vec<String> {
    tokens
        .iter()
        .map(|t| match t {
            Token::Word(w) => w.clone(),
            Token::Op(op) => panic!("unexpected `{op}`"),
        })
        .collect()
}

/// Where a block runs.
struct Place {
    dir: PathBuf,
    sandbox: bool,
    /// Kept so the sandbox lives as long as the block.
    _temp: Option<tempfile::TempDir>,
}

impl Place {
    fn new(sandbox: bool, needs_examples: bool) -> Place {
        if !sandbox {
            return Place {
                dir: root(),
                sandbox,
                _temp: None,
            };
        }
        let temp = tempfile::tempdir().expect("a sandbox");
        let dir = temp.path().to_path_buf();
        for name in SANDBOX_LINKS {
            std::os::unix::fs::symlink(root().join(name), dir.join(name)).expect("link");
        }
        std::fs::create_dir(dir.join("target")).expect("target/");
        if needs_examples {
            std::os::unix::fs::symlink(
                bench_support::example_plugins(false),
                dir.join("target/ex"),
            )
            .expect("link target/ex");
        }
        Place {
            dir,
            sandbox,
            _temp: Some(temp),
        }
    }

    /// `path` in the place, refusing anything that could leave it.
    fn path(&self, path: &str) -> PathBuf {
        let relative = Path::new(path);
        assert!(
            relative
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
            "the docs' commands use relative paths inside the repository, not `{path}`"
        );
        self.dir.join(relative)
    }

    fn writable(&self, what: &str) {
        assert!(
            self.sandbox,
            "`{what}` changes files: mark the block <!-- docs-test: sandbox -->"
        );
    }

    /// Runs a file command (`mkdir -p`, `cp -r`, `mv`, `rm -rf`, `ln -s`).
    fn file_command(&self, words: &[String]) {
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        self.writable(&args.join(" "));
        match args.as_slice() {
            ["mkdir", "-p", dirs @ ..] => {
                for dir in dirs {
                    std::fs::create_dir_all(self.path(dir)).expect("mkdir -p");
                }
            }
            ["cp", "-r", sources @ .., target] if !sources.is_empty() => {
                let target = self.path(target);
                for source in sources {
                    let source = self.path(source);
                    let name = source.file_name().expect("a name");
                    let to = if target.is_dir() {
                        target.join(name)
                    } else {
                        target.clone()
                    };
                    copy_tree(&source, &to);
                }
            }
            ["mv", source, target] => {
                let (source, mut target) = (self.path(source), self.path(target));
                if target.is_dir() {
                    target = target.join(source.file_name().expect("a name"));
                }
                std::fs::rename(source, target).expect("mv");
            }
            ["rm", "-rf", paths @ ..] => {
                for path in paths {
                    let _ = std::fs::remove_dir_all(self.path(path));
                }
            }
            ["ln", "-s", target, link] => {
                std::os::unix::fs::symlink(target, self.path(link)).expect("ln -s");
            }
            _ => panic!("the docs test does not run `{}`", args.join(" ")),
        }
    }
}

/// Copies a file or a directory tree (symlinks are followed).
fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("create a directory");
        for entry in std::fs::read_dir(from).expect("list a directory") {
            let entry = entry.expect("an entry");
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("copy a file");
    }
}

/// Where a command's output goes: the terminal (one file for stdout and
/// stderr, in the order written) or files of the place.
struct Outputs {
    terminal: File,
    stdout: Option<PathBuf>,
    stderr: Option<PathBuf>,
}

impl Outputs {
    fn stdio(&self) -> (Stdio, Stdio) {
        let target = |path: &Option<PathBuf>| -> Stdio {
            match path {
                Some(path) => File::create(path).expect("create the output file").into(),
                None => self
                    .terminal
                    .try_clone()
                    .expect("share the terminal")
                    .into(),
            }
        };
        (target(&self.stdout), target(&self.stderr))
    }
}

fn read_all(file: &mut File) -> String {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).expect("seek");
    file.read_to_string(&mut text).expect("UTF-8 output");
    text
}

/// Runs one command line; returns what the terminal shows and the exit
/// code. `expected_lines`: how many lines the doc shows for it (`None`
/// when the docs are being rewritten).
fn run_line(place: &Place, line: &str, expected_lines: Option<usize>) -> (String, i32) {
    let (tokens, _) = tokenize(line);
    let mut terminal = tempfile::tempfile().expect("a terminal file");
    let code = run_tokens(place, &tokens, &terminal, expected_lines);
    (read_all(&mut terminal), code)
}

fn run_tokens(
    place: &Place,
    tokens: &[Token],
    terminal: &File,
    expected_lines: Option<usize>,
) -> i32 {
    // Split off a source piped into the command.
    let (source, command) = match tokens.iter().position(|t| *t == Token::Op("|")) {
        Some(bar) => (Some(&tokens[..bar]), &tokens[bar + 1..]),
        None => (None, tokens),
    };
    // Redirections at the end of the command.
    let mut outputs = Outputs {
        terminal: terminal.try_clone().expect("share the terminal"),
        stdout: None,
        stderr: None,
    };
    let mut end = command.len();
    while end >= 2 {
        match (&command[end - 2], &command[end - 1]) {
            (Token::Op(op @ (">" | "2>")), Token::Word(file)) => {
                place.writable(&format!("{op} {file}"));
                let path = place.path(file);
                if *op == ">" {
                    outputs.stdout = Some(path);
                } else {
                    outputs.stderr = Some(path);
                }
                end -= 2;
            }
            _ => break,
        }
    }
    let words = words(&command[..end]);
    match words.first().map(String::as_str) {
        Some("plugkit") => run_plugkit(place, &words[1..], source, &outputs),
        Some("timeout") => {
            let args: Vec<&str> = words.iter().map(String::as_str).collect();
            let ["timeout", "-s", "INT", _seconds, "plugkit", rest @ ..] = args.as_slice() else {
                panic!(
                    "the docs test runs `timeout -s INT N plugkit ...`, not `{}`",
                    args.join(" ")
                );
            };
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            interrupt_when_settled(place, &rest, &outputs, expected_lines)
        }
        Some("grep") => {
            let (invert, pattern, file) = match words.as_slice() {
                [_, flag, pattern, file] if flag == "-v" => (true, pattern, file),
                [_, pattern, file] => (false, pattern, file),
                _ => panic!(
                    "the docs test runs `grep [-v] TEXT FILE`, not `{}`",
                    words.join(" ")
                ),
            };
            let text = std::fs::read_to_string(place.path(file)).expect("grep: read the file");
            let mut out = outputs.terminal.try_clone().expect("terminal");
            let mut selected = 0;
            for line in text.lines() {
                if line.contains(pattern.as_str()) != invert {
                    writeln!(out, "{line}").expect("grep: write");
                    selected += 1;
                }
            }
            if selected == 0 { 1 } else { 0 }
        }
        Some("cat") => {
            let mut out = outputs.terminal.try_clone().expect("terminal");
            for file in &words[1..] {
                let text = std::fs::read(place.path(file)).expect("cat: read the file");
                out.write_all(&text).expect("cat: write");
            }
            0
        }
        Some("mkdir" | "cp" | "mv" | "rm" | "ln") => {
            assert!(source.is_none(), "nothing is piped into `{}`", words[0]);
            place.file_command(&words);
            0
        }
        _ => panic!("the docs test does not run `{}`", words.join(" ")),
    }
}

fn plugkit(place: &Place, args: &[String], outputs: &Outputs, stdin: Stdio) -> Child {
    let (stdout, stderr) = outputs.stdio();
    Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .args(args)
        .current_dir(&place.dir)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("plugkit starts")
}

/// Waits for a child, killing it past the ceiling.
fn finish(mut child: Child, what: &str) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        if start.elapsed() > CEILING {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` did not end within {CEILING:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_plugkit(place: &Place, args: &[String], source: Option<&[Token]>, outputs: &Outputs) -> i32 {
    let shown = format!("plugkit {}", args.join(" "));
    let Some(source) = source else {
        return finish(plugkit(place, args, outputs, Stdio::null()), &shown);
    };
    let steps: Vec<Vec<String>> = match source.first() {
        Some(Token::Op("(")) => {
            assert_eq!(
                source.last(),
                Some(&Token::Op(")")),
                "a subshell ends with `)`"
            );
            source[1..source.len() - 1]
                .split(|t| *t == Token::Op(";"))
                .map(words)
                .collect()
        }
        _ => vec![words(source)],
    };
    let mut child = plugkit(place, args, outputs, Stdio::piped());
    let mut stdin = child.stdin.take().expect("stdin");
    let mut calls = 0;
    let mut changed_files = false;
    let mut events_seen = 0;
    for step in steps {
        let step: Vec<&str> = step.iter().map(String::as_str).collect();
        match step.as_slice() {
            ["echo", text] => {
                writeln!(stdin, "{text}").expect("write a call");
                stdin.flush().expect("flush");
                calls += 1;
            }
            ["sleep", _] => {
                let stderr = outputs
                    .stderr
                    .clone()
                    .expect("a subshell piped into plugkit needs `2> FILE`, so answers and events are apart");
                let mut answers = outputs.terminal.try_clone().expect("terminal");
                let stdout = outputs.stdout.clone();
                let answers = move || match &stdout {
                    Some(path) => std::fs::read_to_string(path).unwrap_or_default(),
                    None => read_all(&mut answers),
                };
                events_seen = settle(
                    answers,
                    calls,
                    &stderr,
                    changed_files.then_some(events_seen),
                );
                changed_files = false;
            }
            _ => {
                let words: Vec<String> = step.iter().map(|s| s.to_string()).collect();
                place.file_command(&words);
                changed_files = true;
            }
        }
    }
    drop(stdin);
    finish(child, &shown)
}

/// Waits until `answers` has `calls` lines and `stderr` has settled (and,
/// after a file change, grown beyond `grown_from` bytes); returns the
/// size of `stderr` then.
fn settle(
    mut answers: impl FnMut() -> String,
    calls: usize,
    stderr: &Path,
    grown_from: Option<usize>,
) -> usize {
    let start = Instant::now();
    let mut last = String::new();
    let mut since = Instant::now();
    loop {
        let answers = answers();
        let events = std::fs::read_to_string(stderr).unwrap_or_default();
        if events != last {
            last = events.clone();
            since = Instant::now();
        }
        let done = answers.lines().count() >= calls
            && !events.is_empty()
            && grown_from.is_none_or(|size| events.len() > size)
            && since.elapsed() >= QUIET
            && events
                .lines()
                .rfind(|line| !line.contains(LOG_LINE))
                .is_some_and(|line| !IN_PROGRESS.iter().any(|marker| line.contains(marker)));
        if done {
            return events.len();
        }
        assert!(
            start.elapsed() < CEILING,
            "plugkit did not settle within {CEILING:?}: {calls} call(s) sent, answers:\n{answers}\nevents:\n{events}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `timeout -s INT N plugkit ...`: runs plugkit until it has printed as
/// many lines as the doc shows (a state, however slow the machine), then
/// interrupts it; exits 124, as `timeout` does. While the docs are being
/// rewritten (`expected_lines` is `None`) it waits for the output to stay
/// quiet instead.
fn interrupt_when_settled(
    place: &Place,
    args: &[String],
    outputs: &Outputs,
    expected_lines: Option<usize>,
) -> i32 {
    let child = plugkit(place, args, outputs, Stdio::null());
    let mut terminal = outputs.terminal.try_clone().expect("terminal");
    let start = Instant::now();
    let mut last = String::new();
    let mut since = Instant::now();
    loop {
        let now = read_all(&mut terminal);
        if now != last {
            last = now;
            since = Instant::now();
        }
        let settled = match expected_lines {
            Some(lines) => last.lines().count() >= lines.max(1),
            None => !last.is_empty() && since.elapsed() >= QUIET * 2,
        };
        if settled {
            break;
        }
        assert!(
            start.elapsed() < CEILING,
            "plugkit {} printed {} line(s) within {CEILING:?}, the doc shows {}:\n{last}",
            args.join(" "),
            last.lines().count(),
            expected_lines.map_or("some".to_string(), |n| n.to_string()),
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(interrupted.success(), "kill -INT failed");
    let code = finish(child, &format!("plugkit {}", args.join(" ")));
    assert_eq!(code, 0, "plugkit {} exits 0 on Ctrl-C", args.join(" "));
    124
}

#[test]
fn console_blocks_show_what_the_commands_print() {
    let update = std::env::var_os("UPDATE_DOCS").is_some();
    let mut problems = Vec::new();
    let mut checked = 0;
    for path in doc_files() {
        let text = std::fs::read_to_string(&path).expect("read a doc");
        let file = format!(
            "docs/{}",
            path.file_name().expect("a name").to_string_lossy()
        );
        let mut fresh: BTreeMap<usize, (usize, Vec<String>)> = BTreeMap::new();
        for block in blocks(&file, &text) {
            let needs_examples = block.commands.iter().any(|c| c.line.contains("target/ex"));
            let place = Place::new(block.sandbox, needs_examples);
            let mut lines = Vec::new();
            for shown in &block.commands {
                let (_, expected_code) = tokenize(&shown.line);
                let (output, code) = run_line(
                    &place,
                    &shown.line,
                    (!update).then_some(shown.expected.len()),
                );
                checked += 1;
                let actual: Vec<String> = output.lines().map(str::to_string).collect();
                if code != expected_code {
                    problems.push(format!(
                        "{}:{}: `$ {}` exited {code}, the doc says {expected_code}\n{output}",
                        block.file,
                        block.open + 1,
                        shown.line
                    ));
                }
                if actual != shown.expected {
                    problems.push(format!(
                        "{}:{}: `$ {}` prints other output than the doc shows.\n--- the doc shows:\n{}\n--- it prints:\n{}",
                        block.file,
                        block.open + 1,
                        shown.line,
                        shown.expected.join("\n"),
                        actual.join("\n")
                    ));
                }
                lines.push(format!("$ {}", shown.line));
                lines.extend(actual);
            }
            fresh.insert(block.open, (block.close, lines));
        }
        if update {
            let old: Vec<&str> = text.lines().collect();
            let mut new = Vec::new();
            let mut i = 0;
            while i < old.len() {
                new.push(old[i].to_string());
                if let Some((close, lines)) = fresh.get(&i) {
                    new.extend(lines.iter().cloned());
                    i = *close;
                    continue;
                }
                i += 1;
            }
            let mut joined = new.join("\n");
            joined.push('\n');
            if joined != text {
                std::fs::write(&path, joined).expect("update the doc");
            }
        }
    }
    assert!(checked > 0, "no console block found in docs/");
    if update {
        return;
    }
    assert!(
        problems.is_empty(),
        "{} problem(s); if the new output is right, run `UPDATE_DOCS=1 cargo test -p plugin-cli --test docs`:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// GitHub's anchors of a Markdown file's headings.
fn anchors(text: &str) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#').trim();
        let base: String = heading
            .chars()
            .filter_map(|c| match c {
                c if c.is_alphanumeric() => Some(c.to_lowercase().next().unwrap_or(c)),
                '-' | '_' => Some(c),
                ' ' => Some('-'),
                _ => None,
            })
            .collect();
        let count = seen.entry(base.clone()).or_insert(0);
        out.push(if *count == 0 {
            base
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    out
}

/// The targets of a Markdown file's inline links, outside code.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_code = false;
    for (number, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        // Drop code spans, whose brackets are not links.
        let mut plain = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                plain.push_str(part);
            }
        }
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            out.push((number + 1, after[..end].to_string()));
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn links_stay_inside_the_repository_and_resolve() {
    let mut problems = Vec::new();
    for path in doc_files() {
        let text = std::fs::read_to_string(&path).expect("read a doc");
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .to_string();
        for (line, target) in links(&text) {
            let at = format!("docs/{name}:{line}: ({target})");
            if target.contains("://") || target.starts_with("mailto:") || target.starts_with('/') {
                problems.push(format!("{at} points outside the repository"));
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let resolved = if file.is_empty() {
                path.clone()
            } else {
                path.parent().expect("docs/").join(file)
            };
            if !resolved.exists() {
                problems.push(format!("{at} names a file that does not exist"));
                continue;
            }
            let inside = resolved
                .canonicalize()
                .is_ok_and(|p| p.starts_with(root().canonicalize().expect("the root")));
            if !inside {
                problems.push(format!("{at} leaves the repository"));
            }
            if let Some(anchor) = anchor {
                let is_markdown = resolved.extension().is_some_and(|e| e == "md");
                let text = std::fs::read_to_string(&resolved).unwrap_or_default();
                if !is_markdown || !anchors(&text).iter().any(|a| a == anchor) {
                    problems.push(format!("{at} names a heading that does not exist"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_command_language_is_parsed_as_a_shell_would() {
    let (tokens, exit) = tokenize(r#"echo '{"id": 1}' | plugkit run dir 2> e.jsonl  # exit 3"#);
    assert_eq!(exit, 3);
    assert_eq!(
        tokens,
        [
            Token::Word("echo".into()),
            Token::Word(r#"{"id": 1}"#.into()),
            Token::Op("|"),
            Token::Word("plugkit".into()),
            Token::Word("run".into()),
            Token::Word("dir".into()),
            Token::Op("2>"),
            Token::Word("e.jsonl".into()),
        ]
    );
    let (tokens, exit) = tokenize("(sleep 1; mv a b) | plugkit resolve 'x y'");
    assert_eq!(exit, 0);
    assert_eq!(tokens[0], Token::Op("("));
    assert_eq!(tokens[3], Token::Op(";"));
    assert_eq!(tokens.last(), Some(&Token::Word("x y".into())));
    assert_eq!(
        anchors("# A `b`: c\n## A `b`: c\n```\n# not\n```\n### x_y-z.w\n"),
        ["a-b-c", "a-b-c-1", "x_y-zw"]
    );
    assert_eq!(
        links("see [a](b.md#c) and `[x](y)` [d](../e)"),
        [(1, "b.md#c".to_string()), (1, "../e".to_string())]
    );
}
