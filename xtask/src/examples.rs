//! The example plugins and host: built, staged as plugin directories under
//! `target/plugkit-examples/plugins/` (manifest + library, as a user would
//! install them), and run. `cargo xtask test` and `demo` both do this, so the
//! examples cannot rot.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

/// Example plugins: (directory under `examples/`, manifest file, library file).
const PLUGINS: &[(&str, &str, &str)] = &[
    ("greeter", "plugin-manifest.yaml", "libgreeter_native.so"),
    ("kv-store", "plugin-manifest.json", "libkv_store_native.so"),
];

/// Builds the example plugins and host; stages the plugins. Returns the
/// plugin directory.
pub(crate) fn stage(root: &Path) -> Result<PathBuf> {
    let mut build = crate::cargo(root);
    build.args([
        "build",
        "--quiet",
        "-p",
        "greeter-native",
        "-p",
        "kv-store-native",
        "-p",
        "greeter-plugin",
        "-p",
        "example-host",
    ]);
    crate::run(&mut build)?;
    let built = root.join("target").join("debug");
    let plugins = root.join("target").join("plugkit-examples").join("plugins");
    for (name, manifest, library) in PLUGINS {
        let dir = plugins.join(name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let copies = [
            (
                root.join("examples").join(name).join(manifest),
                dir.join(manifest),
            ),
            (built.join(library), dir.join(library)),
        ];
        for (from, to) in copies {
            std::fs::copy(&from, &to)
                .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        }
    }
    // The greeter again, as a child process (same code, other transport).
    let process = root
        .join("target")
        .join("plugkit-examples")
        .join("process-plugins")
        .join("greeter");
    std::fs::create_dir_all(&process)
        .with_context(|| format!("cannot create {}", process.display()))?;
    let copies = [
        (
            root.join("examples/greeter/process/plugin-manifest.yaml"),
            process.join("plugin-manifest.yaml"),
        ),
        (built.join("greeter-plugin"), process.join("greeter-plugin")),
    ];
    for (from, to) in copies {
        std::fs::copy(&from, &to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    Ok(plugins)
}

/// Stages the examples and runs the example host on them.
pub(crate) fn run_host(root: &Path) -> Result<()> {
    let plugins = stage(root)?;
    let host = root.join("target").join("debug").join("example-host");
    let examples = root.join("target").join("plugkit-examples");
    let cache = examples.join("cache");
    let process = examples.join("process-plugins").join("greeter");
    println!(
        "$ example-host {} {} {}",
        plugins.display(),
        cache.display(),
        process.display()
    );
    crate::run(Command::new(host).arg(&plugins).arg(&cache).arg(&process))
}
