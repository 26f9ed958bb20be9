//! `cargo xtask`: project automation for the plugkit workspace.
//!
//! matklad's xtask pattern: one binary, run through the alias in
//! `.cargo/config.toml`, with every path resolved from `CARGO_MANIFEST_DIR` so
//! it works from any directory of the checkout.
//!
//! - `cargo xtask test`: tidy, `setup`, the example host on the example
//!   plugins laid out by `example-plugins`, then `cargo test --workspace`
//!   with the etcd feature on (tests that need built plugins or the npm
//!   `semver` package build or install them themselves; the etcd tests
//!   start the server `setup` installed), then the README's own-plugin
//!   walkthrough, run as a newcomer runs it (`xtask/src/walkthrough.rs`;
//!   alone: `cargo xtask walkthrough`).
//! - `cargo xtask setup`: installs what the `etcd` feature needs beyond
//!   Rust (protoc, etcd) when missing (`xtask/src/setup.rs`).
//! - `cargo xtask demo`: the main job, watched live: a host discovering,
//!   resolving, hot-swapping, rolling back and restarting the example
//!   plugins while callers call, every step checked (`xtask/src/demo.rs`).
//! - `cargo xtask example-plugins --out DIR [--release]`: builds every
//!   variant of the example plugins and lays them out as ready-to-load
//!   plugin directories (the layout: `xtask/src/examples.rs`).
//! - `cargo xtask bench [--full]`: runs every benchmark (short by default)
//!   and prints one table of figures, baselines, ratios and aims, also
//!   written to `target/plugkit-bench/summary.{json,md}`.
//! - `cargo xtask tidy`: mechanical rules (crate graph, `//!` headers, docs lints,
//!   `docs/manifest.md` up to date).
//! - `cargo xtask manifest-docs`: writes `docs/manifest.md`, the manifest
//!   reference, from the manifest's JSON Schema (`xtask/src/manifest_docs.rs`).

mod bench;
mod demo;
mod examples;
mod manifest_docs;
mod setup;
mod tidy;
mod walkthrough;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const USAGE: &str =
    "usage: cargo xtask <test|setup|demo|bench|tidy|walkthrough|example-plugins|manifest-docs>

  test    everything a fresh clone needs, then cargo test --workspace
          (with the etcd feature on), then the README's walkthrough
  walkthrough
          run the README's \"Your own plugin\" steps as a newcomer would
  setup   install what the etcd feature needs when missing: protoc and
          etcd (apt-get, as root on Debian; elsewhere it names them)
  demo    the main job, live: a host loads, hot-swaps, rolls back and restarts
          the example plugins while 8 callers call; every step checked
  bench   [--full] [-p PKG] [-- FILTER]
          run the benchmarks (short; --full for the long run); one table of
          figures, baselines, ratios and aims, also in
          target/plugkit-bench/summary.{json,md}
  tidy    check the crate graph, //! headers, crate docs and that
          docs/manifest.md is current
  example-plugins --out DIR [--release]
          build the example plugins (every version and variant) and lay them
          out as plugin directories: DIR/native/, DIR/process/ (greeter 1.0.0
          and 2.0.0, kv-store 1.4.1) and DIR/native-extra/, DIR/process-extra/
          (kv-store 2.0.0, greeter 3.0.0 that panics in init or is unhealthy)
  manifest-docs
          write docs/manifest.md, the manifest reference, from
          plugin-manifest/schema/plugin-manifest.schema.json";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("test") => test(&root, &args[1..]),
        Some("setup") => setup::run(),
        Some("walkthrough") => walkthrough::run(&root),
        Some("demo") => demo::run(&root),
        Some("bench") => bench::run(&root, &args[1..]),
        Some("example-plugins") => examples::command(&root, &args[1..]),
        Some("manifest-docs") => manifest_docs::command(&root, &args[1..]),
        Some("tidy") => {
            tidy::check(&root)?;
            println!("tidy: ok");
            Ok(())
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2)
        }
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

fn test(root: &Path, extra: &[String]) -> Result<()> {
    tidy::check(root)?;
    setup::run()?;
    examples::run_host(root)?;
    let mut cmd = cargo(root);
    cmd.args(["test", "--workspace", "--features", setup::ETCD_FEATURES])
        .args(extra);
    run(&mut cmd)?;
    walkthrough::run(root)
}

/// A `cargo` command run from the workspace root, honouring `$CARGO`.
fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

/// Runs a command to completion, failing with its command line if it fails.
fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("failed to start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed: {status}");
    }
    Ok(())
}
