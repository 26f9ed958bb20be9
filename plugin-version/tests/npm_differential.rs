//! Differential test against the real npm `semver` package (pinned in
//! `tests/npm/package.json`): thousands of generated `(version, constraint)`
//! cases are piped to one `node tests/npm/satisfies.js` process and every
//! answer npm gives must be ours too.
//!
//! Runs `npm ci` in `tests/npm` first when `node_modules/semver` is missing,
//! so a fresh clone's `cargo test` works. Node.js and npm must be installed.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use plugin_version::{Constraint, Version, parse_version};

/// Seed of the case generator; fixed so failures reproduce. Set
/// `NPM_DIFF_SEED=<u64>` to explore other cases locally.
const SEED: u64 = 0x5eed_2024_0a11_cafe;
/// Generated well-formed constraints (each tried against several versions).
const CONSTRAINTS: usize = 3_200;
/// Versions tried per well-formed constraint.
const VERSIONS_PER_CONSTRAINT: usize = 8;
/// Mutated (mostly malformed) constraints.
const MUTANTS: usize = 4_000;

/// SplitMix64: a tiny deterministic generator, enough for test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
}

const PRE: &[&str] = &[
    "alpha",
    "alpha.1",
    "alpha.beta",
    "beta",
    "beta.2",
    "beta.11",
    "rc.1",
    "0",
    "1",
    "x",
    "rc-1",
];
const BUILD: &[&str] = &["build", "001", "sha.5114f85", "b-1"];

fn number(rng: &mut Rng) -> String {
    match rng.below(80) {
        0..=3 => "10".to_owned(),
        4 => "9007199254740991".to_owned(),
        _ => rng.below(4).to_string(),
    }
}

fn full_version(rng: &mut Rng, build_ok: bool) -> String {
    let mut s = format!("{}.{}.{}", number(rng), number(rng), number(rng));
    if rng.chance(35) {
        s.push('-');
        s.push_str(rng.pick(PRE));
    }
    if build_ok && rng.chance(10) {
        s.push('+');
        s.push_str(rng.pick(BUILD));
    }
    s
}

fn wild(rng: &mut Rng) -> &'static str {
    rng.pick(&["x", "X", "*"])
}

/// A partial or wildcard version (`1`, `1.2`, `1.x`, `*`, `1.2.x-beta`, ...).
fn partial_version(rng: &mut Rng) -> String {
    let mut s = match rng.below(9) {
        0 => number(rng),
        1 => format!("{}.{}", number(rng), number(rng)),
        2 => format!("{}.{}", number(rng), wild(rng)),
        3 => format!("{}.{}.{}", number(rng), number(rng), wild(rng)),
        4 => format!("{}.{}.{}", number(rng), wild(rng), wild(rng)),
        5 => wild(rng).to_owned(),
        6 => format!("{}.{}", wild(rng), wild(rng)),
        7 => format!("{}.{}.{}", wild(rng), wild(rng), wild(rng)),
        _ => format!(
            "{}.{}.{}-{}",
            number(rng),
            number(rng),
            wild(rng),
            rng.pick(PRE)
        ),
    };
    if rng.chance(5) {
        s.push('+');
        s.push_str(rng.pick(BUILD));
    }
    s
}

fn any_version(rng: &mut Rng) -> String {
    let v = if rng.chance(55) {
        full_version(rng, true)
    } else {
        partial_version(rng)
    };
    if rng.chance(10) { format!("v{v}") } else { v }
}

fn space(rng: &mut Rng) -> &'static str {
    rng.pick(&[" ", " ", " ", " ", "  ", "\t", " \t ", "\u{a0}"])
}

fn comparator(rng: &mut Rng) -> String {
    let op = rng.pick(&["", "", "=", ">", ">=", "<", "<=", "^", "^", "~", "~", "~>"]);
    let gap = if !op.is_empty() && rng.chance(15) {
        space(rng)
    } else {
        ""
    };
    let mut version = any_version(rng);
    if op.is_empty() && rng.chance(10) {
        // `=v1.2.3`
        version = format!("=v{}", version.trim_start_matches('v'));
    }
    format!("{op}{gap}{version}")
}

fn hyphen_side(rng: &mut Rng) -> String {
    let v = if rng.chance(50) {
        full_version(rng, true)
    } else {
        partial_version(rng)
    };
    if rng.chance(10) { format!("v{v}") } else { v }
}

fn alternative(rng: &mut Rng) -> String {
    if rng.chance(15) {
        return format!(
            "{}{}-{}{}",
            hyphen_side(rng),
            space(rng),
            space(rng),
            hyphen_side(rng)
        );
    }
    let count = 1 + rng.below(3);
    let mut s = comparator(rng);
    for _ in 1..count {
        let sep = if rng.chance(20) {
            rng.pick(&[",", ", ", " , ", " ,"])
        } else {
            space(rng)
        };
        s.push_str(sep);
        s.push_str(&comparator(rng));
    }
    s
}

fn constraint(rng: &mut Rng) -> String {
    let count = if rng.chance(70) { 1 } else { 2 + rng.below(2) };
    let mut s = String::new();
    if rng.chance(5) {
        s.push_str(space(rng));
    }
    s.push_str(&alternative(rng));
    for _ in 1..count {
        s.push_str(rng.pick(&[" || ", "||", "  ||\t", " ||", "|| "]));
        s.push_str(&alternative(rng));
    }
    if rng.chance(5) {
        s.push_str(space(rng));
    }
    s
}

/// Versions near the numbers a constraint mentions, plus random ones.
fn versions_for(rng: &mut Rng, constraint: &str, n: usize) -> Vec<String> {
    let numbers: Vec<u64> = constraint
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .filter(|&n| n < 100)
        .collect();
    let near = |rng: &mut Rng| -> String {
        if numbers.is_empty() || rng.chance(30) {
            return number(rng);
        }
        let base = numbers[rng.below(numbers.len())];
        match rng.below(4) {
            0 => base.saturating_sub(1),
            1 => base + 1,
            _ => base,
        }
        .to_string()
    };
    (0..n)
        .map(|_| {
            let mut v = format!("{}.{}.{}", near(rng), near(rng), near(rng));
            if rng.chance(40) {
                v.push('-');
                v.push_str(rng.pick(PRE));
            }
            if rng.chance(15) {
                v.push('+');
                v.push_str(rng.pick(BUILD));
            }
            v
        })
        .collect()
}

/// A random edit of a well-formed constraint: mostly malformed results.
fn mutate(rng: &mut Rng, text: &str) -> String {
    const CHARS: &[&str] = &[
        "^",
        "~",
        ">",
        "<",
        "=",
        "-",
        "|",
        "||",
        ",",
        ".",
        "x",
        "*",
        "v",
        "0",
        "1",
        "01",
        "a",
        "+",
        " ",
        "",
        ".0",
        "-",
        "9007199254740992",
        "!",
        "é",
    ];
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(2) {
        let at = rng.below(chars.len() + 1);
        let insert: Vec<char> = rng.pick(CHARS).chars().collect();
        match rng.below(3) {
            0 => {
                chars.splice(at..at, insert);
            }
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ if at < chars.len() => {
                chars.splice(at..=at, insert);
            }
            _ => chars.extend(insert),
        }
    }
    chars.into_iter().collect()
}

/// Constraints npm accepts but we reject on purpose (documented in the crate
/// docs): blank text, a blank `||` alternative.
fn documented_difference(constraint: &str) -> Option<&'static str> {
    let blank = |s: &str| s.chars().all(|c| c.is_whitespace() || c == '\u{feff}');
    if blank(constraint) {
        return Some("empty constraint");
    }
    if constraint.split("||").any(blank) {
        return Some("empty alternative");
    }
    None
}

/// npm's text rewrites that accept malformed input, each emulated so a
/// malformed constraint npm accepts can be checked: after the rewrite we
/// must accept it and answer like npm did. These are the "npm tolerates
/// junk" differences of the crate docs.
type Rewrite = fn(&str) -> String;

const NPM_REWRITES: &[(&str, Rewrite)] = &[
    ("commas are only allowed between two comparators", |s| {
        s.replace(',', " ")
    }),
    ("npm deletes `+build` anywhere", strip_builds),
    ("npm joins `> =1`, `< *` and `~ >1`", glue_operators),
    (
        "npm skips any run of `v` and `=` before a version",
        drop_prefix_junk,
    ),
    ("npm deletes a stray `*`", drop_stray_stars),
];

/// npm `BUILDSTRIPRE`: `\+[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*`, everywhere.
fn strip_builds(s: &str) -> String {
    let ident = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-';
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'+' && bytes.get(i + 1).is_some_and(ident) {
            let mut j = i + 1;
            loop {
                while bytes.get(j).is_some_and(ident) {
                    j += 1;
                }
                if bytes.get(j) == Some(&b'.') && bytes.get(j + 1).is_some_and(ident) {
                    j += 1;
                } else {
                    break;
                }
            }
            i = j;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("removed ASCII only")
}

fn collapse_space(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c == '\u{feff}')
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// npm's comparator trim (`> =1` => `>=1`) and its `TILDETRIM` and
/// `CARETTRIM` (`~> >=1` => `~>=1`, `^ 1` => `^1`).
fn glue_operators(s: &str) -> String {
    let s = collapse_space(s);
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '~' || c == '^' {
            let mut j = i + 1;
            if c == '~' && chars.get(j) == Some(&'>') {
                j += 1;
            }
            if chars.get(j) == Some(&' ') {
                out.push(c);
                i = j + 1;
                continue;
            }
        }
        let glued = c == ' '
            && i > 0
            && matches!(chars[i - 1], '<' | '>' | '=')
            && chars[i + 1..]
                .iter()
                .find(|c| !matches!(c, 'v' | '='))
                .is_some_and(|c| matches!(c, '0'..='9' | 'x' | 'X' | '*'));
        if !glued {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// Drops runs of `v`, `=` and spaces before a version start, keeping the
/// `=` of `>=` and `<=`.
fn drop_prefix_junk(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let mut j = i;
        if matches!(chars[i], 'v' | '=') {
            while j < chars.len() && matches!(chars[j], 'v' | '=' | ' ') {
                j += 1;
            }
        }
        let starts_version = matches!(chars.get(j), Some('0'..='9' | 'x' | 'X' | '*'));
        let after_word = i > 0 && chars[i - 1].is_ascii_alphanumeric();
        if j > i && starts_version && !after_word {
            let comparison = i > 0
                && matches!(chars[i - 1], '<' | '>')
                && !(i > 1 && chars[i - 1] == '>' && chars[i - 2] == '~');
            if comparison && chars[i] == '=' {
                out.push('=');
            }
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// npm `replaceStars` on a comparator it could not otherwise read: deletes
/// the leftmost `(<|>)?=?\*`.
fn drop_stray_stars(s: &str) -> String {
    s.split("||")
        .map(drop_stray_stars_in_alternative)
        .collect::<Vec<_>>()
        .join("||")
}

fn drop_stray_stars_in_alternative(s: &str) -> String {
    s.split(' ')
        .map(|token| {
            if !token.contains('*') || Constraint::parse(token).is_ok() {
                return token.to_owned();
            }
            let chars: Vec<char> = token.chars().collect();
            for start in 0..chars.len() {
                let mut k = start;
                if matches!(chars[k], '<' | '>') {
                    k += 1;
                }
                if chars.get(k) == Some(&'=') {
                    k += 1;
                }
                if chars.get(k) == Some(&'*') {
                    let mut t: String = chars[..start].iter().collect();
                    t.extend(&chars[k + 1..]);
                    return t;
                }
            }
            token.to_owned()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// For a constraint npm accepts and we reject: the npm rewrites that
/// explain it, if after them we give npm's answer.
fn explained_by_npm_rewrites(
    version: &str,
    constraint: &str,
    npm: &str,
) -> Option<Vec<&'static str>> {
    let mut text = constraint.to_owned();
    let mut used = Vec::new();
    for (name, rewrite) in NPM_REWRITES {
        let next = rewrite(&text);
        if next != text {
            used.push(*name);
            text = next;
        }
        if ours(version, &text) == npm || documented_difference(&text).is_some() {
            return Some(used);
        }
    }
    None
}

/// Malformed constraints npm accepts and we reject on purpose (the examples
/// of the crate docs' list of differences, item 4).
const NPM_TOLERATES: &[&str] = &[
    ">=1.0.0 +x",
    "1.2.3+a+b",
    "1.2.3*",
    "vv1.2",
    "^=1.2.3",
    "~>=1.2",
    ">==1.2",
    "> =1.2.3",
    "~ >1.2",
    "=1.2 - 2",
];

/// Hand-picked cases: `(version, constraint, npm's answer)`.
pub const EDGE_CASES: &[(&str, &str, bool)] = &[
    ("0.0.3", "^0.0.3", true),
    ("0.0.4", "^0.0.3", false),
    ("0.0.4-0", "^0.0.3", false),
    ("0.0.3-beta", "^0.0.3", false),
    ("0.9.9", "^0.x", true),
    ("1.0.0", "^0.x", false),
    ("0.0.0", "^0.x", true),
    ("1.9.9", "~1", true),
    ("2.0.0", "~1", false),
    ("1.0.0", "~1", true),
    ("1.2.3-alpha", "<1.2.3-beta", true),
    ("1.2.3-beta", "<1.2.3-beta", false),
    ("1.2.2", "<1.2.3-beta", true),
    ("1.2.2-alpha", "<1.2.3-beta", false),
    ("1.2.3", "1.2.3 - 2", true),
    ("2.9.9", "1.2.3 - 2", true),
    ("3.0.0", "1.2.3 - 2", false),
    ("3.0.0-0", "1.2.3 - 2", false),
    ("1.2.2", "1.2.3 - 2", false),
    ("1.3.0", ">1.2", true),
    ("1.2.9", ">1.2", false),
    ("1.2.9", "<=1.2", true),
    ("1.3.0", "<=1.2", false),
    ("1.2.0", "<1.2", false),
    ("1.1.9", "<1.2", true),
    ("1.2.3+build", "<=1.2.3", true),
    ("1.2.3+build", ">1.2.3", false),
    ("1.2.3+build", "1.2.3", true),
    ("1.2.3+build", "<1.2.3", false),
    ("1.2.3-alpha", "<1.2.3-alpha.1", true),
    ("1.2.3-alpha.1", "<1.2.3-beta", true),
    ("1.2.3-beta", "<1.2.3-rc.1", true),
    ("1.2.3-rc.1", "<1.2.3", false),
    ("1.2.3-rc.1", ">=1.2.3-alpha <1.2.3", true),
    ("1.2.3", ">1.2.3-rc.1", true),
    ("1.2.3-alpha.1", ">1.2.3-alpha", true),
    ("1.2.3-alpha", ">1.2.3-alpha.1", false),
    ("1.2.4-alpha", "^1.2.3-alpha", false),
    ("1.2.3-beta", "^1.2.3-alpha", true),
    ("2.0.0-0", "^1.2.3", false),
    ("1.2.3-beta", "*", false),
    ("0.0.0", "*", true),
    ("1.2.3", ">*", false),
    ("1.2.3", "<=*", true),
    ("1.2.3", "1.x || >=3.0.0-rc.1", true),
    ("3.0.0-rc.2", "1.x || >=3.0.0-rc.1", true),
    ("3.1.0-rc.2", "1.x || >=3.0.0-rc.1", false),
    ("1.2.3", "~> 1.2", true),
    ("1.2.3", ">= 1.2.3", true),
    ("1.2.3", "v1.2.3", true),
    ("1.2.3", "=v1.2.3", true),
    ("1.2.3", "^1.2.3+build", true),
    // pre-release ordering: alpha < alpha.1 < beta < rc.1 < release
    ("1.0.0-alpha", ">=1.0.0-0 <1.0.0-alpha.1", true),
    ("1.0.0-alpha.1", ">=1.0.0-0 <1.0.0-alpha", false),
    ("1.0.0-alpha.1", ">=1.0.0-0 <1.0.0-beta", true),
    ("1.0.0-beta", ">=1.0.0-0 <1.0.0-alpha.1", false),
    ("1.0.0-beta", ">=1.0.0-0 <1.0.0-rc.1", true),
    ("1.0.0-rc.1", ">=1.0.0-0 <1.0.0-beta", false),
    ("1.0.0-rc.1", ">=1.0.0-0 <1.0.0", true),
    ("1.0.0", ">=1.0.0-0 <1.0.0-rc.1", false),
    // `*` in an OR makes the whole constraint `*`
    ("1.2.3-beta", "* || 1.2.3-beta", false),
    ("1.2.3-beta", ">=0.0.0 || 1.2.3-beta", false),
    ("1.2.3-beta", ">=v0.0.0 || 1.2.3-beta", true),
];

fn npm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("npm")
}

/// Installs the pinned npm `semver` with `npm ci` unless it is already there.
fn ensure_npm_semver(dir: &Path) {
    if dir.join("node_modules/semver/package.json").is_file() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "running `npm ci` in {}: {e} (are Node.js and npm installed?)",
                dir.display()
            )
        });
    assert!(
        status.success(),
        "`npm ci` in {} failed: {status}",
        dir.display()
    );
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// Asks npm about every case through one node process.
fn ask_npm(cases: &[(String, String)]) -> Vec<String> {
    let dir = npm_dir();
    ensure_npm_semver(&dir);
    let mut child = Command::new("node")
        .arg("satisfies.js")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting `node satisfies.js` in {}: {e}", dir.display()));
    let mut input = String::new();
    for (version, constraint) in cases {
        input.push_str(&escape(version));
        input.push('\t');
        input.push_str(&escape(constraint));
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("child stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let stdout = child.stdout.take().expect("child stdout");
    let answers: Vec<String> = BufReader::new(stdout)
        .lines()
        .collect::<Result<_, _>>()
        .expect("reading node's answers");
    writer
        .join()
        .expect("writer thread")
        .expect("writing cases to node");
    let status = child.wait().expect("waiting for node");
    assert!(status.success(), "node satisfies.js failed: {status}");
    assert_eq!(
        answers.len(),
        cases.len(),
        "node answered a different number of lines"
    );
    answers
}

fn ours(version: &str, constraint: &str) -> String {
    let Ok(version) = parse_version(version) else {
        return "invalid".to_owned();
    };
    match Constraint::parse(constraint) {
        Ok(c) => c.matches(&version).to_string(),
        Err(_) => "invalid".to_owned(),
    }
}

/// What npm is asked: commas (our AND extension) become spaces.
fn npm_text(constraint: &str) -> String {
    constraint.replace(',', " ")
}

#[test]
fn agrees_with_npm_semver() {
    let seed = std::env::var("NPM_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let mut rng = Rng(seed);
    let mut cases: Vec<(String, String)> = Vec::new();
    for &(v, c, _) in EDGE_CASES {
        cases.push((v.to_owned(), c.to_owned()));
    }
    // npm's 256-character limit on versions, which counts a verbatim `v`
    let long_pre = "a".repeat(250);
    for c in [
        format!(">=1.2.3-{long_pre}"),
        format!(">=v1.2.3-{long_pre}"),
        format!("^v1.2.3-{long_pre}"),
        format!("1.2.3-{long_pre}a"),
        format!("v1.2.3-{long_pre} - 2"),
        format!("1 - v2.0.0-{long_pre}"),
    ] {
        cases.push(("1.2.3-b".to_owned(), c));
    }
    let mut wellformed = Vec::new();
    for _ in 0..CONSTRAINTS {
        let c = constraint(&mut rng);
        for v in versions_for(&mut rng, &c, VERSIONS_PER_CONSTRAINT) {
            cases.push((v, c.clone()));
        }
        wellformed.push(c);
    }
    let first_mutant = cases.len();
    for _ in 0..MUTANTS {
        let base = &wellformed[rng.below(wellformed.len())];
        let c = mutate(&mut rng, base);
        for v in versions_for(&mut rng, &c, 2) {
            cases.push((v, c.clone()));
        }
    }
    // Documented differences: npm reads these as `*`, we reject them.
    for c in ["", "   ", "1.2.3 ||", "|| 1.2.3", "1 || || 2"] {
        cases.push(("1.2.3".to_owned(), c.to_owned()));
    }
    // Documented differences: malformed text npm tolerates (crate docs, item 4).
    let first_quirk = cases.len();
    for c in NPM_TOLERATES {
        cases.push(("1.2.3".to_owned(), (*c).to_owned()));
    }
    let after_quirks = cases.len();

    let asked: Vec<(String, String)> = cases
        .iter()
        .map(|(v, c)| (v.clone(), npm_text(c)))
        .collect();
    let answers = ask_npm(&asked);

    // Disagreements: different answers, we accept what npm rejects, npm
    // accepts what we reject (outside the documented differences).
    let mut differ = Vec::new();
    let mut too_loose = Vec::new();
    let mut too_strict = Vec::new();
    let mut compared = 0usize;
    let mut rejected_by_both = 0usize;
    let mut documented = 0usize;
    let mut wellformed_rejected = 0usize;
    let mut tolerated = std::collections::BTreeMap::new();
    for (index, ((version, constraint), npm)) in cases.iter().zip(&answers).enumerate() {
        let ours = ours(version, constraint);
        if let Some(&(_, _, expected)) = EDGE_CASES.get(index) {
            assert_eq!(
                *npm,
                expected.to_string(),
                "the edge-case table is wrong about npm for {version:?} {constraint:?}"
            );
        }
        if (first_quirk..after_quirks).contains(&index) {
            assert!(
                npm != "invalid" && ours == "invalid",
                "documented npm quirk {constraint:?}: npm {npm}, ours {ours}"
            );
            continue;
        }
        let line = || {
            let why = Constraint::parse(constraint)
                .err()
                .map(|e| format!(" ({e})"));
            format!(
                "  version {version:?} constraint {constraint:?}: npm {npm}, ours {ours}{}",
                why.unwrap_or_default()
            )
        };
        match (npm.as_str(), ours.as_str()) {
            (n, o) if n == o && n == "invalid" => {
                rejected_by_both += 1;
                if index < first_mutant {
                    wellformed_rejected += 1;
                    if std::env::var_os("SHOW_REJECTED").is_some() {
                        eprintln!("rejected: {}", line());
                    }
                }
            }
            (n, o) if n == o => compared += 1,
            ("invalid", _) => too_loose.push(line()),
            (_, "invalid") if documented_difference(constraint).is_some() => documented += 1,
            (_, "invalid") if index >= first_mutant => {
                match explained_by_npm_rewrites(version, constraint, npm) {
                    Some(rewrites) if !rewrites.is_empty() => {
                        for r in rewrites {
                            *tolerated.entry(r).or_insert(0usize) += 1;
                        }
                    }
                    _ => too_strict.push(line()),
                }
            }
            (_, "invalid") => too_strict.push(line()),
            _ => differ.push(line()),
        }
    }
    eprintln!(
        "npm differential: {} cases, {compared} answered alike, {rejected_by_both} rejected by both, {documented} documented differences",
        cases.len()
    );
    eprintln!("malformed constraints npm tolerates and we reject, by npm rewrite: {tolerated:?}");
    let mut report = String::new();
    for (title, list) in [
        ("answers differ", &differ),
        ("we accept, npm rejects", &too_loose),
        ("npm accepts, we reject (undocumented)", &too_strict),
    ] {
        if !list.is_empty() {
            report.push_str(&format!("{} cases: {title}; first ones:\n", list.len()));
            for line in list.iter().take(25) {
                report.push_str(line);
                report.push('\n');
            }
        }
    }
    assert!(
        report.is_empty(),
        "disagreements with npm semver:\n{report}"
    );
    assert!(
        compared >= 20_000,
        "only {compared} cases compared; the generator needs more"
    );
    assert!(
        rejected_by_both >= 1_000,
        "only {rejected_by_both} malformed constraints exercised"
    );
    assert!(
        wellformed_rejected * 20 < first_mutant,
        "{wellformed_rejected} generated well-formed cases are invalid for npm: generator bug?"
    );
    assert!(documented >= 5, "the documented differences should show up");
}

/// The hand-picked cases hold for us without npm too.
#[test]
fn edge_cases_hold_without_npm() {
    for &(v, c, expected) in EDGE_CASES {
        let version: Version = parse_version(v).unwrap();
        let constraint = Constraint::parse(c).unwrap();
        assert_eq!(constraint.matches(&version), expected, "{v} against {c}");
    }
}
