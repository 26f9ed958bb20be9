//! `plugkit version satisfies VERSION CONSTRAINT` and `plugkit version check`
//! (bulk: `VERSION<TAB>CONSTRAINT` lines on stdin, one answer line each).

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
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
            check_lines(
                stdin.lock(),
                BufWriter::with_capacity(1 << 16, stdout.lock()),
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

/// The bulk check: exactly one output line per input line, in order.
///
/// The constraint of the previous line is kept: bulk input usually checks
/// many versions against few constraints, and this skips re-parsing them.
fn check_lines(mut input: impl BufRead, mut out: impl Write) -> Result<()> {
    let mut line = Vec::new();
    let mut last: Option<(String, Constraint)> = None;
    loop {
        line.clear();
        let read = input
            .read_until(b'\n', &mut line)
            .context("cannot read standard input")?;
        if read == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let result = std::str::from_utf8(text)
            .map_err(|_| anyhow::anyhow!("line is not valid UTF-8"))
            .and_then(|text| check_line(text, &mut last));
        match result {
            Ok(true) => out.write_all(b"true\n"),
            Ok(false) => out.write_all(b"false\n"),
            Err(error) => writeln!(out, "error: {error:#}"),
        }
        .context("cannot write standard output")?;
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
    use super::check_lines;

    fn check(input: &str) -> String {
        let mut out = Vec::new();
        check_lines(input.as_bytes(), &mut out).expect("in-memory IO");
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
        assert_eq!(lines[3], "error: expected VERSION<TAB>CONSTRAINT");
        assert!(lines[4].starts_with("error: "), "{}", lines[4]);
        assert_eq!(lines[5], "false");
    }

    #[test]
    fn last_line_without_newline_and_invalid_utf8() {
        let mut out = Vec::new();
        check_lines(&b"1.0.0\t*\n\xff\t*\n1.0.0\t1.0.0"[..], &mut out).expect("in-memory IO");
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            "true\nerror: line is not valid UTF-8\ntrue\n"
        );
    }
}
