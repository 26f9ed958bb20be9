//! Mechanical rules of the workspace, checked by `cargo xtask tidy` and by
//! the `tidy` unit test (so `cargo test` keeps them true).
//!
//! - The crate graph points one way only: a crate never has a normal or build
//!   dependency on a crate to its right in [`LAYERS`]. Dev-dependencies may
//!   point sideways.
//! - `plugkit-sdk` depends on no crate of ours but `plugin-version`.
//! - Every `.rs` file starts with a `//!` doc comment.
//! - Every library crate of the workspace denies `missing_docs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Our crates, lowest layer first (DESIGN.md, "Workspace").
pub(crate) const LAYERS: &[&str] = &[
    "plugin-events",
    "plugin-version",
    "plugin-manifest",
    "plugin-resolver",
    "plugin-discovery",
    "plugkit-sdk",
    "plugin-loader",
    "plugin-host",
    "plugkit",
    "plugin-cli",
];

/// What the SDK may depend on among our crates.
const SDK_MAY_USE: &[&str] = &["plugin-version"];

/// Crates a plugin's build must never pull in through the SDK.
const SDK_MUST_NOT_PULL: &[&str] = &["tokio", "notify", "pubgrub"];

/// Runs every rule and reports all violations at once.
pub(crate) fn check(root: &Path) -> Result<()> {
    let mut problems = Vec::new();
    check_graph(root, &mut problems)?;
    check_sdk_closure(root, &mut problems)?;
    check_sources(root, &mut problems)?;
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "tidy found {} problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    )
}

fn metadata(root: &Path, extra: &[&str]) -> Result<Value> {
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root)
        .args(["metadata", "--format-version", "1"])
        .args(extra)
        .output()
        .context("failed to run cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("cargo metadata printed invalid JSON")
}

/// The SDK's normal dependency closure must stay free of the host's heavy
/// crates. `cargo tree -p` resolves features for the SDK alone, as a
/// plugin's own build does (cargo metadata would show the workspace-wide
/// feature union, where the resolver turns on plugin-version's `pubgrub`).
fn check_sdk_closure(root: &Path, problems: &mut Vec<String>) -> Result<()> {
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root)
        .args([
            "tree",
            "-p",
            "plugkit-sdk",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-f",
            "{p}",
        ])
        .output()
        .context("failed to run cargo tree")?;
    if !output.status.success() {
        bail!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let mut pulled: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| SDK_MUST_NOT_PULL.contains(name))
        .collect();
    pulled.sort_unstable();
    pulled.dedup();
    for name in pulled {
        problems.push(format!(
            "crate graph: plugkit-sdk pulls in {name}; a plugin's build must not"
        ));
    }
    Ok(())
}

fn check_graph(root: &Path, problems: &mut Vec<String>) -> Result<()> {
    let metadata = metadata(root, &["--no-deps"])?;
    let packages = metadata["packages"]
        .as_array()
        .context("no packages in metadata")?;
    let layer: BTreeMap<&str, usize> = LAYERS.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    for package in packages {
        let name = package["name"].as_str().unwrap_or_default();
        let Some(&own) = layer.get(name) else {
            continue;
        };
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            if dep["kind"].as_str() == Some("dev") {
                continue;
            }
            let dep_name = dep["name"].as_str().unwrap_or_default();
            let Some(&theirs) = layer.get(dep_name) else {
                continue;
            };
            if theirs >= own {
                problems.push(format!(
                    "crate graph: {name} depends on {dep_name}, which is not below it in DESIGN.md's layering"
                ));
            }
            if name == "plugkit-sdk" && !SDK_MAY_USE.contains(&dep_name) {
                problems.push(format!(
                    "crate graph: plugkit-sdk depends on {dep_name}; the SDK may only use {SDK_MAY_USE:?}"
                ));
            }
        }
    }
    for expected in LAYERS {
        if !packages
            .iter()
            .any(|p| p["name"].as_str() == Some(expected))
        {
            problems.push(format!(
                "crate graph: the workspace has no crate {expected}"
            ));
        }
    }
    Ok(())
}

fn check_sources(root: &Path, problems: &mut Vec<String>) -> Result<()> {
    let mut files = Vec::new();
    collect_rs_files(root, &mut files)?;
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("failed to read {}", file.display()))?;
        let shown = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        if !text.starts_with("//!") {
            problems.push(format!("{shown}: does not start with a `//!` doc comment"));
        }
        let is_crate_root = file.ends_with("src/lib.rs");
        if is_crate_root && !text.contains("#![deny(missing_docs)]") {
            problems.push(format!(
                "{shown}: a library crate must `#![deny(missing_docs)]`"
            ));
        }
    }
    Ok(())
}

/// Every `.rs` file of the checkout, outside `target/` and hidden or vendored directories.
fn collect_rs_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("failed to list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("failed to list {}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let file_type = entry
            .file_type()
            .with_context(|| format!("failed to stat {}", path.display()))?;
        if file_type.is_dir() {
            if name.starts_with('.') || name == "target" || name == "node_modules" {
                continue;
            }
            collect_rs_files(&path, out)?;
        } else if file_type.is_file() && name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Keeps the workspace's mechanical rules true under `cargo test`.
    #[test]
    fn tidy() {
        if let Err(error) = super::check(&crate::workspace_root()) {
            panic!("{error:#}");
        }
    }
}
