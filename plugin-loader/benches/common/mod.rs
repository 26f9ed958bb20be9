//! What the loader's benches share: building plugins optimised.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds `packages` with the bench profile, in a target directory of
/// their own (their feature selection must not overwrite the workspace's
/// artifacts); returns the output directory.
pub(crate) fn build_optimised(packages: &[&str]) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("plugkit-bench-plugins");
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--quiet", "--profile", "bench", "--target-dir"])
        .arg(&target);
    for package in packages {
        command.args(["-p", package]);
    }
    let status = command.status().expect("cargo starts");
    assert!(status.success(), "building {packages:?} failed");
    target.join("release")
}
