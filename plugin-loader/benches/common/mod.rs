//! What the loader's benches share: building plugins optimised, and writing
//! the extra figures `cargo xtask bench` prints.

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

/// Appends one extra figure for `cargo xtask bench` (see xtask's bench docs).
pub(crate) fn write_figure(
    figure: &str,
    value: f64,
    unit: &str,
    baseline: Option<f64>,
    note: &str,
) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugkit-bench");
    let _ = std::fs::create_dir_all(&dir);
    let line = serde_json::json!({"figure": figure, "value": value, "unit": unit, "baseline": baseline, "note": note});
    let mut text = std::fs::read_to_string(dir.join("figures.jsonl")).unwrap_or_default();
    text.push_str(&format!("{line}\n"));
    let _ = std::fs::write(dir.join("figures.jsonl"), text);
}
