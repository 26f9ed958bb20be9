//! `plugkit version check` on a million `VERSION<TAB>CONSTRAINT` lines,
//! beside `cat` moving the same bytes through a pipe (the IO floor: process
//! start, reading stdin, writing stdout).
//!
//! Convention (see xtask): in each group one function id starts with `baseline:`.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

const LINES: usize = 1_000_000;

fn input() -> Vec<u8> {
    let constraints = [
        "^1.2.0",
        "~1.2.3",
        ">=1.0.0 <2.0.0",
        "1.x || >=3.0.0-rc.0",
        "*",
    ];
    let mut text = String::with_capacity(LINES * 24);
    for i in 0..LINES {
        let version = format!("{}.{}.{}", i % 4, (i / 4) % 10, (i / 40) % 7);
        // Runs of one constraint, as bulk input usually has.
        let constraint = constraints[(i / 1000) % constraints.len()];
        text.push_str(&version);
        text.push('\t');
        text.push_str(constraint);
        text.push('\n');
    }
    text.into_bytes()
}

/// Runs `program args`, feeding `input` on a thread, and returns the number
/// of output bytes (so the work cannot be skipped).
fn pipe_through(program: &str, args: &[&str], input: &[u8]) -> usize {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("program starts");
    let mut stdin = child.stdin.take().expect("stdin piped");
    let mut stdout = child.stdout.take().expect("stdout piped");
    std::thread::scope(|scope| {
        scope.spawn(move || stdin.write_all(input).expect("write input"));
        let mut output = Vec::new();
        stdout.read_to_end(&mut output).expect("read output");
        assert!(child.wait().expect("program exits").success());
        output.len()
    })
}

fn version_check(c: &mut Criterion) {
    let input = input();
    let plugkit = env!("CARGO_BIN_EXE_plugkit");
    let mut group = c.benchmark_group("version-check-1M-lines");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("baseline:cat", |b| {
        b.iter(|| pipe_through("cat", &[], &input))
    });
    group.bench_function("plugkit:version-check", |b| {
        b.iter(|| pipe_through(plugkit, &["version", "check"], &input))
    });
    group.finish();
}

criterion_group!(benches, version_check);
criterion_main!(benches);
