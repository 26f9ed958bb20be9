//! `plugkit version satisfies VERSION CONSTRAINT` and `plugkit version check`
//! (bulk: `VERSION<TAB>CONSTRAINT` lines on stdin, one answer line each).
//!
//! `version check` works as a co-process: when stdin is not a regular file
//! (a pipe, a terminal) each answer is flushed as soon as it is written, so
//! a program can write a line and read its answer before writing the next.
//! From a regular file, answers are buffered (bulk speed). A line longer
//! than [`MAX_LINE`] bytes is answered with an error naming its length and
//! the limit, without ever holding more than the limit in memory. Blank
//! lines at the end of the input are not inputs (an editor's trailing
//! newline gets no answer); a blank line followed by more input is answered
//! with an error when that input arrives.

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::lines::{Line, read_line};
use clap::Subcommand;
use plugkit::version::{Constraint, parse_version};

/// Version subcommands.
#[derive(Subcommand)]
pub(crate) enum Command {
    /// Print `true` if VERSION satisfies CONSTRAINT, else `false` (exit 0
    /// either way; exit 2 with `error: ...` on stderr for invalid input).
    Satisfies {
        /// A semver 2.0 version, e.g. `1.2.3-rc.1`.
        version: String,
        /// An npm-style constraint, e.g. `^1.2.0 || >=2.0.0-rc.0`.
        constraint: String,
    },
    /// Read `VERSION<TAB>CONSTRAINT` lines on stdin and print, for each line
    /// in order, `true`, `false` or `error: MESSAGE`.
    Check,
}

pub(crate) fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Satisfies {
            version,
            constraint,
        } => {
            let answer = answer(&version, &constraint)?;
            println!("{answer}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let stdin = std::io::stdin();
            let stdout = std::io::stdout();
            let flush = if stdin_is_a_file() {
                Flush::AtEnd
            } else {
                Flush::EachLine
            };
            check_lines(
                stdin.lock(),
                BufWriter::with_capacity(1 << 16, stdout.lock()),
                flush,
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Whether `version` satisfies `constraint`; an error names the bad input.
fn answer(version: &str, constraint: &str) -> Result<bool> {
    let version = parse_version(version)?;
    let constraint = Constraint::parse(constraint)?;
    Ok(constraint.matches(&version))
}

/// The longest input line `version check` reads, in bytes (without its
/// line ending): far above any real version and constraint.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// When answers are flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flush {
    /// After each answer (a co-process waits for it).
    EachLine,
    /// Once, at the end (bulk input from a file).
    AtEnd,
}

/// Whether stdin is a regular file (then nobody waits for each answer).
fn stdin_is_a_file() -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .and_then(|file| file.metadata())
            .is_ok_and(|metadata| metadata.is_file())
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// The bulk check: one output line per input line, in order (blank lines
/// at the very end excepted).
///
/// The constraint of the previous line is kept: bulk input usually checks
/// many versions against few constraints, and this skips re-parsing them.
fn check_lines(mut input: impl BufRead, mut out: impl Write, flush: Flush) -> Result<()> {
    let mut line = Vec::new();
    let mut last: Option<(String, Constraint)> = None;
    // Blank lines not answered yet: answered once more input follows.
    let mut blank = 0usize;
    loop {
        let read =
            read_line(&mut input, &mut line, MAX_LINE).context("cannot read standard input")?;
        let answer = match read {
            Line::End => break,
            Line::Read if line.iter().all(u8::is_ascii_whitespace) => {
                blank += 1;
                continue;
            }
            Line::Read => std::str::from_utf8(&line)
                .map_err(|_| anyhow::anyhow!("line is not valid UTF-8"))
                .and_then(|text| check_line(text, &mut last)),
            Line::TooLong(length) => Err(anyhow::anyhow!(
                "line is {length} bytes, more than the limit of {MAX_LINE} bytes"
            )),
        };
        for _ in 0..std::mem::take(&mut blank) {
            writeln!(
                out,
                "error: expected VERSION<TAB>CONSTRAINT, found a blank line"
            )
            .context("cannot write standard output")?;
        }
        match answer {
            Ok(true) => out.write_all(b"true\n"),
            Ok(false) => out.write_all(b"false\n"),
            Err(error) => writeln!(out, "error: {error:#}"),
        }
        .context("cannot write standard output")?;
        if flush == Flush::EachLine {
            out.flush().context("cannot write standard output")?;
        }
    }
    out.flush().context("cannot write standard output")
}

fn check_line(text: &str, last: &mut Option<(String, Constraint)>) -> Result<bool> {
    let (version, constraint_text) = text
        .split_once('\t')
        .context("expected VERSION<TAB>CONSTRAINT")?;
    let version = parse_version(version)?;
    if let Some((cached_text, cached)) = last.as_ref()
        && cached_text == constraint_text
    {
        return Ok(cached.matches(&version));
    }
    let constraint = Constraint::parse(constraint_text)?;
    let answer = constraint.matches(&version);
    *last = Some((constraint_text.to_string(), constraint));
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::{Flush, MAX_LINE, check_lines};

    fn check(input: &str) -> String {
        let mut out = Vec::new();
        check_lines(input.as_bytes(), &mut out, Flush::AtEnd).expect("in-memory IO");
        String::from_utf8(out).expect("UTF-8 output")
    }

    #[test]
    fn one_answer_per_line_in_order() {
        let input = "1.2.3\t^1.0.0\n0.9.0\t^1.0.0\nno tab here\n\n1.2.3\t^^1\r\n2.0.0\t^1.0.0\n";
        let output = check(input);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 6, "{output}");
        assert_eq!(lines[0], "true");
        assert_eq!(lines[1], "false");
        assert_eq!(lines[2], "error: expected VERSION<TAB>CONSTRAINT");
        assert_eq!(
            lines[3],
            "error: expected VERSION<TAB>CONSTRAINT, found a blank line"
        );
        assert!(lines[4].starts_with("error: "), "{}", lines[4]);
        assert_eq!(lines[5], "false");
    }

    #[test]
    fn last_line_without_newline_and_invalid_utf8() {
        let mut out = Vec::new();
        check_lines(
            &b"1.0.0\t*\n\xff\t*\n1.0.0\t1.0.0"[..],
            &mut out,
            Flush::AtEnd,
        )
        .expect("in-memory IO");
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            "true\nerror: line is not valid UTF-8\ntrue\n"
        );
    }

    #[test]
    fn blank_lines_at_the_end_are_not_inputs() {
        assert_eq!(check("1.0.0\t*\n\n"), "true\n");
        assert_eq!(check("1.0.0\t*\n\n \r\n\n"), "true\n");
        assert_eq!(check("\n"), "");
        assert_eq!(
            check("\n1.0.0\t*\n"),
            "error: expected VERSION<TAB>CONSTRAINT, found a blank line\ntrue\n"
        );
    }

    #[test]
    fn a_line_longer_than_the_limit_is_an_error_with_its_length() {
        let long = "1".repeat(MAX_LINE + 10);
        // Exactly the limit: read and judged (an invalid version).
        let fits = format!("{}\t*", "0".repeat(MAX_LINE - 2));
        let output = check(&format!("{long}\n1.0.0\t*\n{fits}\r\n{long}"));
        let lines: Vec<&str> = output.lines().collect();
        let too_long = format!(
            "error: line is {} bytes, more than the limit of {MAX_LINE} bytes",
            MAX_LINE + 10
        );
        assert_eq!(lines.len(), 4, "{output}");
        assert_eq!(
            (lines[0], lines[1], lines[3]),
            (too_long.as_str(), "true", too_long.as_str())
        );
        assert!(lines[2].starts_with("error: ") && !lines[2].starts_with("error: line is"));
    }
}
