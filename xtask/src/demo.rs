//! `cargo xtask demo`: the main job, watched live. Builds the example
//! plugins (the layout of `cargo xtask example-plugins`, into a temporary
//! directory), builds the demo (`examples/demo`, package `plugkit-demo`)
//! and runs it on them: a host started through `plugkit::Host::builder()`
//! discovers, resolves and loads the plugins copied into its directory,
//! swaps one while 8 callers call, rolls a bad version back and restarts a
//! killed plugin process, every step checked (`examples/demo/src/main.rs`
//! says what it shows). The demo's exit code is the verdict: non-zero if
//! any check failed or any call failed unexpectedly, so CI runs it.
//!
//! The demo is a binary of its own, built and run from here, so that xtask
//! depends on nothing of the plugkit stack.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::examples::{Profile, lay_out, target_dir};

pub(crate) fn run(root: &Path) -> Result<()> {
    let examples =
        std::env::temp_dir().join(format!("plugkit-demo-examples-{}", std::process::id()));
    let outcome = build_and_run(root, &examples);
    let removed = match std::fs::remove_dir_all(&examples) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("cannot remove {}", examples.display()))
        }
        _ => Ok(()),
    };
    outcome.and(removed)
}

fn build_and_run(root: &Path, examples: &Path) -> Result<()> {
    println!(
        "$ cargo xtask example-plugins --out {}   (the first build takes a few minutes)",
        examples.display()
    );
    lay_out(root, examples, Profile::Debug)?;
    println!("$ cargo build -p plugkit-demo");
    let mut build = crate::cargo(root);
    build.args(["build", "--quiet", "--package", "plugkit-demo"]);
    crate::run(&mut build)?;
    let demo = target_dir(root)
        .join("debug")
        .join(format!("plugkit-demo{}", std::env::consts::EXE_SUFFIX));
    println!("$ plugkit-demo {}", examples.display());
    println!();
    let status = Command::new(&demo)
        .arg(examples)
        .status()
        .with_context(|| format!("failed to start {}", demo.display()))?;
    if !status.success() {
        bail!("the demo failed ({status}): see the checks marked ✗ above");
    }
    Ok(())
}
