//! Mechanical rules of the workspace, checked by `cargo xtask tidy` and by
//! the `tidy` unit test (so `cargo test` keeps them true).
//!
//! - The crate graph: each crate of ours may have normal and build
//!   dependencies only on the crates of ours [`ALLOWED`] lists for it (for
//!   instance discovery never on the resolver, the loader never on
//!   discovery or the resolver). Dev-dependencies may point anywhere. Every
//!   workspace crate outside `examples/`, `xtask` and `bench-support` must
//!   be in the list, so a new crate gets its rule when it is added.
//! - `plugkit-sdk`'s normal dependency closure pulls in none of the host's
//!   heavy crates ([`SDK_MUST_NOT_PULL`]).
//! - `anyhow` only in binaries, `xtask` and examples: a package with a
//!   library target (outside `examples/` and `xtask`) has no normal
//!   dependency on `anyhow`; libraries return typed errors.
//! - No test is `#[ignore]`d: a test that cannot run in the suite is
//!   fixed or deleted, not hidden.
//! - Every `.rs` file starts with a `//!` doc comment.
//! - Every library crate of the workspace denies `missing_docs`.
//! - `docs/manifest.md` is what `cargo xtask manifest-docs` generates from
//!   the manifest's JSON Schema now ([`crate::manifest_docs`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Our crates, lowest layer first, each with the crates of ours it may
/// depend on (normal and build dependencies). ARCHITECTURE.md's layering,
/// written out: the graph is not a straight line (discovery and the SDK sit
/// beside the resolver, not above it).
pub(crate) const ALLOWED: &[(&str, &[&str])] = &[
    ("plugin-events", &[]),
    ("plugin-version", &[]),
    ("plugin-manifest", &["plugin-version"]),
    ("plugin-resolver", &["plugin-version", "plugin-manifest"]),
    (
        "plugin-discovery",
        &["plugin-events", "plugin-version", "plugin-manifest"],
    ),
    // The gRPC wire contract (generated code): no crate of ours. The SDK
    // serves it behind its `grpc` feature, the loader dials it.
    ("plugin-grpc", &[]),
    ("plugkit-sdk", &["plugin-version", "plugin-grpc"]),
    (
        "plugin-loader",
        &[
            "plugin-events",
            "plugin-version",
            "plugin-manifest",
            "plugkit-sdk",
            "plugin-grpc",
        ],
    ),
    ("plugin-host", BELOW_HOST),
    ("plugkit", BELOW_FACADE),
    ("plugin-cli", BELOW_CLI),
];

/// Every crate below the host.
const BELOW_HOST: &[&str] = &[
    "plugin-events",
    "plugin-version",
    "plugin-manifest",
    "plugin-resolver",
    "plugin-discovery",
    "plugkit-sdk",
    "plugin-grpc",
    "plugin-loader",
];

/// Every crate below the facade.
const BELOW_FACADE: &[&str] = &[
    "plugin-events",
    "plugin-version",
    "plugin-manifest",
    "plugin-resolver",
    "plugin-discovery",
    "plugkit-sdk",
    "plugin-grpc",
    "plugin-loader",
    "plugin-host",
];

/// Every crate below the CLI.
const BELOW_CLI: &[&str] = &[
    "plugin-events",
    "plugin-version",
    "plugin-manifest",
    "plugin-resolver",
    "plugin-discovery",
    "plugkit-sdk",
    "plugin-grpc",
    "plugin-loader",
    "plugin-host",
    "plugkit",
];

/// Workspace packages outside the layering (besides everything under
/// `examples/`): tooling and dev-only helpers.
const OUTSIDE_THE_LAYERS: &[&str] = &["xtask", "bench-support", "etcd-harness"];

/// Crates a plugin's build must never pull in through the SDK.
const SDK_MUST_NOT_PULL: &[&str] = &["tokio", "notify", "pubgrub"];

/// Runs every rule and reports all violations at once.
pub(crate) fn check(root: &Path) -> Result<()> {
    let metadata = metadata(root)?;
    let mut problems = graph_problems(&metadata);
    check_sdk_closure(root, &mut problems)?;
    check_sources(root, &mut problems)?;
    crate::manifest_docs::check(root, &mut problems)?;
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "tidy found {} problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    )
}

fn metadata(root: &Path) -> Result<Value> {
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
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

fn allowed(name: &str) -> Option<&'static [&'static str]> {
    ALLOWED.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

/// Whether a package is an example (or fixture) crate: under `examples/`.
fn is_example(package: &Value) -> bool {
    let manifest = package["manifest_path"].as_str().unwrap_or_default();
    Path::new(manifest)
        .components()
        .any(|c| c.as_os_str() == "examples")
}

fn has_library(package: &Value) -> bool {
    package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| {
            t["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| matches!(k.as_str(), Some("lib" | "rlib" | "dylib" | "proc-macro")))
        })
}

/// The crate-graph and dependency rules, on `cargo metadata --no-deps`
/// output.
fn graph_problems(metadata: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let packages: Vec<&Value> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    for package in &packages {
        let name = package["name"].as_str().unwrap_or_default();
        let normal_deps = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|dep| dep["kind"].as_str() != Some("dev"))
            .filter_map(|dep| dep["name"].as_str());
        let example = is_example(package);
        let may_use = allowed(name);
        if may_use.is_none() && !example && !OUTSIDE_THE_LAYERS.contains(&name) {
            problems.push(format!(
                "crate graph: {name} is not in tidy's ALLOWED list; add it with the crates it may depend on"
            ));
        }
        let anyhow_allowed = example || name == "xtask" || !has_library(package);
        for dep in normal_deps {
            if dep == "anyhow" && !anyhow_allowed {
                problems.push(format!(
                    "{name}: a library crate depends on anyhow; return typed errors (anyhow only in binaries, xtask and examples)"
                ));
            }
            if let Some(may_use) = may_use
                && allowed(dep).is_some()
                && !may_use.contains(&dep)
            {
                let list = if may_use.is_empty() {
                    "no crate of ours".to_string()
                } else {
                    may_use.join(", ")
                };
                problems.push(format!(
                    "crate graph: {name} depends on {dep}; it may depend only on {list}"
                ));
            }
        }
    }
    for (expected, _) in ALLOWED {
        if !packages
            .iter()
            .any(|p| p["name"].as_str() == Some(expected))
        {
            problems.push(format!(
                "crate graph: the workspace has no crate {expected}"
            ));
        }
    }
    problems
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
        problems.extend(source_problems(&shown, &text, file.ends_with("src/lib.rs")));
    }
    Ok(())
}

/// The rules on one source file's text.
fn source_problems(shown: &str, text: &str, is_crate_root: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if !text.starts_with("//!") {
        problems.push(format!("{shown}: does not start with a `//!` doc comment"));
    }
    if is_crate_root && !text.contains("#![deny(missing_docs)]") {
        problems.push(format!(
            "{shown}: a library crate must `#![deny(missing_docs)]`"
        ));
    }
    for (number, line) in text.lines().enumerate() {
        if is_ignore_attribute(line) {
            problems.push(format!(
                "{shown}:{}: an ignored test; make it run in the suite or remove it",
                number + 1
            ));
        }
    }
    problems
}

/// Whether `line` is an `ignore` attribute, plain or under `cfg_attr`.
fn is_ignore_attribute(line: &str) -> bool {
    let line = line.trim_start();
    let Some(attribute) = line.strip_prefix("#[") else {
        return false;
    };
    let attribute: String = attribute.chars().filter(|c| !c.is_whitespace()).collect();
    attribute.starts_with("ignore]")
        || attribute.starts_with("ignore=")
        || (attribute.starts_with("cfg_attr(")
            && attribute
                .split([',', '(', ')'])
                .any(|part| part == "ignore" || part.starts_with("ignore=")))
}

/// Every `.rs` file of the checkout, outside `target/` and hidden or vendored directories.
fn collect_rs_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
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
    use serde_json::{Value, json};

    use super::*;

    /// Keeps the workspace's mechanical rules true under `cargo test`.
    #[test]
    fn tidy() {
        if let Err(error) = super::check(&crate::workspace_root()) {
            panic!("{error:#}");
        }
    }

    fn package(name: &str, path: &str, kinds: &[&str], deps: &[(&str, Option<&str>)]) -> Value {
        json!({
            "name": name,
            "manifest_path": format!("/w/{path}/Cargo.toml"),
            "targets": [{"kind": kinds}],
            "dependencies": deps
                .iter()
                .map(|(name, kind)| json!({"name": name, "kind": kind}))
                .collect::<Vec<_>>(),
        })
    }

    /// The workspace as it should be, with `extra` packages added.
    fn workspace(extra: Vec<Value>) -> Value {
        let mut packages: Vec<Value> = ALLOWED
            .iter()
            .map(|(name, deps)| {
                let deps: Vec<(&str, Option<&str>)> = deps.iter().map(|d| (*d, None)).collect();
                let kinds: &[&str] = if *name == "plugin-cli" {
                    &["bin"]
                } else {
                    &["lib"]
                };
                package(name, name, kinds, &deps)
            })
            .collect();
        packages.extend(extra);
        json!({ "packages": packages })
    }

    fn with(name: &str, dep: &str, kind: Option<&str>) -> Value {
        let mut metadata = workspace(Vec::new());
        for package in metadata["packages"].as_array_mut().unwrap() {
            if package["name"] == name {
                package["dependencies"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": dep, "kind": kind}));
            }
        }
        metadata
    }

    #[test]
    fn the_allowed_graph_passes() {
        assert_eq!(graph_problems(&workspace(Vec::new())), Vec::<String>::new());
    }

    #[test]
    fn forbidden_edges_are_reported_with_what_is_allowed() {
        assert_eq!(
            graph_problems(&with("plugin-discovery", "plugin-resolver", None)),
            [
                "crate graph: plugin-discovery depends on plugin-resolver; it may depend only on plugin-events, plugin-version, plugin-manifest"
            ]
        );
        assert_eq!(
            graph_problems(&with("plugin-loader", "plugin-discovery", Some("build"))).len(),
            1
        );
        assert_eq!(
            graph_problems(&with("plugin-events", "plugin-version", None)),
            [
                "crate graph: plugin-events depends on plugin-version; it may depend only on no crate of ours"
            ]
        );
        // Dev-dependencies may point anywhere.
        assert!(graph_problems(&with("plugin-version", "plugkit", Some("dev"))).is_empty());
    }

    #[test]
    fn anyhow_only_in_binaries_xtask_and_examples() {
        assert_eq!(
            graph_problems(&with("plugin-resolver", "anyhow", None)),
            [
                "plugin-resolver: a library crate depends on anyhow; return typed errors (anyhow only in binaries, xtask and examples)"
            ]
        );
        assert!(graph_problems(&with("plugin-resolver", "anyhow", Some("dev"))).is_empty());
        assert!(graph_problems(&with("plugin-cli", "anyhow", None)).is_empty());
        let tools = vec![
            package("xtask", "xtask", &["bin"], &[("anyhow", None)]),
            package(
                "example-host",
                "examples/host",
                &["bin"],
                &[("anyhow", None)],
            ),
            package(
                "greeter-plugin",
                "examples/greeter",
                &["lib"],
                &[("anyhow", None)],
            ),
        ];
        assert!(graph_problems(&workspace(tools)).is_empty());
    }

    #[test]
    fn a_new_crate_needs_its_rule() {
        let extra = vec![package("plugin-new", "plugin-new", &["lib"], &[])];
        assert_eq!(
            graph_problems(&workspace(extra)),
            [
                "crate graph: plugin-new is not in tidy's ALLOWED list; add it with the crates it may depend on"
            ]
        );
    }

    #[test]
    fn ignored_tests_are_found_plain_or_under_cfg_attr() {
        let attribute = concat!("#[", "ignore", "]");
        let text = format!("//! t\n#[test]\n{attribute}\nfn t() {{}}\n");
        assert_eq!(
            source_problems("a.rs", &text, false),
            ["a.rs:3: an ignored test; make it run in the suite or remove it"]
        );
        for line in [
            concat!("    #[", "ignore = \"slow\"]"),
            concat!("#[cfg_attr(miri, ", "ignore)]"),
        ] {
            assert!(is_ignore_attribute(line), "{line}");
        }
        for line in [
            "// #[ignore] in a comment",
            "#[ignored_by_nothing]",
            "let ignore = 1;",
        ] {
            assert!(!is_ignore_attribute(line), "{line}");
        }
        assert!(source_problems("b.rs", "fn x() {}", false)[0].contains("`//!`"));
    }
}
