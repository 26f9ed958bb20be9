//! Error messages, checked against the fixtures in `tests/fixtures/`: each
//! quotes the input, names the byte position and says what is wrong in one
//! lowercase line. Also: huge garbage is rejected fast and quoted briefly.

use std::path::Path;
use std::time::{Duration, Instant};

use plugin_version::{Constraint, ConstraintErrorKind, parse_version};

/// `(input, expected message)` pairs from a fixture file.
fn fixtures(name: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut cases = Vec::new();
    let mut input = None;
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("input:") {
            input = Some(unescape(rest.strip_prefix(' ').unwrap_or(rest)));
        } else if let Some(rest) = line.strip_prefix("error: ") {
            let input = input.take().expect("`error:` without `input:` before it");
            cases.push((input, rest.to_owned()));
        } else {
            panic!("unexpected line in {name}: {line:?}");
        }
    }
    assert!(input.is_none(), "{name} ends with an input without error");
    cases
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            other => panic!("unknown escape \\{other:?} in fixture"),
        }
    }
    out
}

/// The number after "at position " in a message.
fn position_in(message: &str) -> usize {
    let rest = message
        .split(" at position ")
        .nth(1)
        .expect("message names a position");
    rest.split(':').next().unwrap().parse().expect("a number")
}

fn assert_message_style(message: &str) {
    assert!(!message.contains('\n'), "one line: {message:?}");
    assert!(!message.ends_with('.'), "no trailing period: {message:?}");
    let first = message.chars().next().unwrap();
    assert!(first.is_lowercase(), "lowercase: {message:?}");
}

#[test]
fn constraint_errors_match_fixtures() {
    let cases = fixtures("constraint_errors.txt");
    assert!(cases.len() >= 25);
    for (input, expected) in cases {
        let err = Constraint::parse(&input).expect_err(&input);
        assert_eq!(err.to_string(), expected, "for input {input:?}");
        assert_eq!(err.input(), input);
        assert_eq!(
            err.position(),
            position_in(&expected),
            "for input {input:?}"
        );
        assert_message_style(&expected);
    }
}

#[test]
fn version_errors_match_fixtures() {
    let cases = fixtures("version_errors.txt");
    assert!(cases.len() >= 10);
    for (input, expected) in cases {
        let err = parse_version(&input).expect_err(&input);
        assert_eq!(err.to_string(), expected, "for input {input:?}");
        assert_eq!(err.input(), input);
        assert_eq!(
            err.position(),
            position_in(&expected),
            "for input {input:?}"
        );
        assert!(expected.ends_with(err.message()));
        assert_message_style(&expected);
    }
}

#[test]
fn error_kinds_are_exposed() {
    let err = Constraint::parse("^^1").unwrap_err();
    assert_eq!(
        err.kind(),
        &ConstraintErrorKind::ExpectedVersionAfter("^".to_owned())
    );
    assert_eq!(
        Constraint::parse("").unwrap_err().kind(),
        &ConstraintErrorKind::Empty
    );
    assert_eq!(
        Constraint::parse("1 ||").unwrap_err().kind(),
        &ConstraintErrorKind::EmptyAlternative
    );
    let err: Box<dyn std::error::Error> = Box::new(Constraint::parse("1.2.3.4").unwrap_err());
    assert!(err.to_string().contains("at most three numbers"));
}

#[test]
fn versions_over_256_bytes_are_rejected_like_npm() {
    let long = format!("1.2.3-{}", "a".repeat(251));
    assert_eq!(long.len(), 257);
    let err = parse_version(&long).unwrap_err();
    assert_eq!(err.position(), 256);
    assert!(
        err.to_string()
            .ends_with("version is longer than 256 characters")
    );
    assert!(parse_version(&long[..256]).is_ok());
    let err = Constraint::parse(&format!(">={long}")).unwrap_err();
    assert_eq!(err.kind(), &ConstraintErrorKind::TooLong);
}

/// 100 KiB of operator soup, and of valid comparators ending in garbage.
#[test]
fn huge_garbage_is_rejected_fast_with_a_short_message() {
    let soup: String = (0..100 * 1024)
        .map(|i| {
            [
                "^", "~", "1", ".", " ", "|", "x", ">", "=", "-", "a", "é", "\t",
            ][(i * 7919 + i / 3) % 13]
        })
        .collect();
    let long_valid = format!("{}!", ">=1.2.3 <2 ".repeat(100 * 1024 / 11));
    let binary: String = (0..100 * 1024u32)
        .map(|i| char::from_u32(i % 0x2000 + 1).unwrap_or('?'))
        .collect();
    for input in [soup, long_valid, binary] {
        assert!(input.len() >= 100 * 1024);
        let started = Instant::now();
        let err = Constraint::parse(&input).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
        let message = err.to_string();
        assert!(
            message.len() < 400,
            "message too long: {} bytes",
            message.len()
        );
        assert!(
            message.contains("..."),
            "a long input is quoted as a window: {message}"
        );
        assert!(!message.contains('\n'));
        assert_eq!(
            err.input().len(),
            input.len(),
            "the whole input stays available"
        );
        assert_eq!(err.position(), position_in(&message));
        assert!(input.is_char_boundary(err.position()));
    }
}

#[test]
fn the_quoted_window_surrounds_the_position() {
    let input = format!("{} ^^1 {}", ">=1.0.0 ".repeat(50), "<2.0.0 ".repeat(50));
    let err = Constraint::parse(&input).unwrap_err();
    assert_eq!(err.position(), 402);
    let message = err.to_string();
    assert!(message.starts_with("invalid constraint `..."), "{message}");
    assert!(message.contains("^^1"), "{message}");
    assert!(
        message.ends_with("...` at position 402: expected a version after `^`"),
        "{message}"
    );
}
