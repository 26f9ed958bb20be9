//! `cargo xtask example-plugins --out DIR [--release]`: builds the example
//! plugins in every variant and lays them out as ready-to-load plugin
//! directories, one per plugin, version and transport. It is the one way
//! the example plugins reach a host: `cargo xtask test` and `demo` run the
//! example host on this layout, and tests, benches and the demo that need
//! built plugins use it too.
//!
//! ```text
//! DIR/
//!   native/                           one version of each plugin, and what it needs
//!     greeter-1.0.0/                  plugin-manifest.yaml  libgreeter_native.so
//!     greeter-2.0.0/                  plugin-manifest.yaml  libgreeter_native.so
//!     kv-store-1.4.1/                 plugin-manifest.yaml  libkv_store_native.so
//!   process/                          the same plugins as child processes
//!     greeter-1.0.0/                  plugin-manifest.yaml  greeter-plugin
//!     greeter-2.0.0/                  plugin-manifest.yaml  greeter-plugin
//!     kv-store-1.4.1/                 plugin-manifest.yaml  kv-store-plugin
//!   native-extra/                     variants that tests bring in on purpose
//!     kv-store-2.0.0/                 same methods (state hand-over)
//!     greeter-3.0.0-panics-in-init/   panics in init
//!     greeter-3.0.0-unhealthy/        loads, answers, reports Unhealthy
//!     kv-store-3.0.0-new-state-format/ refuses the state of 1.x and 2.x
//!     front-desk-1.0.0/               requires greeter >=1.0.0: a chain of three
//!   process-extra/                    the same five, as child processes
//! ```
//!
//! Copying one `DIR/<transport>/` whole into an empty directory gives a set
//! that resolves and loads (both greeters require `kv-store ^1.4`; the
//! resolver picks greeter 2.0.0). The `-extra` directories hold what must
//! not be in such a set: a second kv-store major (which the greeters do not
//! accept) and the bad greeters; a test copies the one it needs beside a
//! set. Every variant's `info()` (name, version, capabilities) matches its
//! manifest; `greet` answers `{"text": "hello, NAME"}` in 1.0.0, `"hi, NAME"`
//! in 2.0.0 and `"hey, NAME"` in 3.0.0, with `"version"` the greeter's.
//!
//! Each manifest (YAML, written here from the tables below) names the plugin, its
//! version, description, capabilities, transport, endpoint (the artifact's
//! file name, beside it) and requirements, and carries the artifact's
//! `checksum: sha256:...`. They set no resource limits and no metadata.
//!
//! Builds are debug builds by default (`--release` for release builds: the
//! tests check behaviour, not speed, and a debug build is the fast one on a
//! small machine), in a target directory of their own,
//! `target/plugkit-example-plugins/` (under `$CARGO_TARGET_DIR` if set): a
//! `cdylib`'s outputs carry no hash, so each feature variant overwrites the
//! last one's (see ARCHITECTURE.md), and nothing here may overwrite what the
//! workspace's own build links against. Each variant's artifacts are copied
//! out right after its build, under a lock file, so two layouts running at
//! once cannot copy each other's variants. The four directories under
//! `DIR` are replaced; nothing else in `DIR` is touched.
//!
//! A test of another crate gets the layout by running
//! `cargo run --quiet -p xtask -- example-plugins --out DIR` (with `$CARGO`
//! and the workspace root as working directory); the test of this module
//! runs [`lay_out`] itself.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// One example plugin: its packages and the manifest fields that do not
/// change between its variants.
pub(crate) struct Plugin {
    /// The plugin's name.
    pub(crate) name: &'static str,
    /// The package of its code, whose binary serves it as a child process.
    package: &'static str,
    /// The `cdylib` package exporting it.
    native_package: &'static str,
    description: &'static str,
    /// What `info()` reports.
    pub(crate) capabilities: &'static [&'static str],
    /// `requirements.required_plugins`.
    requires: &'static [&'static str],
}

const GREETER: Plugin = Plugin {
    name: "greeter",
    package: "greeter-plugin",
    native_package: "greeter-native",
    description: "Greets people by name",
    capabilities: &["greet"],
    requires: &["kv-store ^1.4"],
};

const KV_STORE: Plugin = Plugin {
    name: "kv-store",
    package: "kv-store-plugin",
    native_package: "kv-store-native",
    description: "An in-memory key-value store",
    capabilities: &["kv:get", "kv:set"],
    requires: &[],
};

const FRONT_DESK: Plugin = Plugin {
    name: "front-desk",
    package: "front-desk-plugin",
    native_package: "front-desk-native",
    description: "Welcomes visitors; the top of the examples' dependency chain",
    capabilities: &["welcome"],
    requires: &["greeter >=1.0.0"],
};

/// One built variant of a plugin and where it goes.
pub(crate) struct Variant {
    pub(crate) plugin: &'static Plugin,
    /// The version its code reports (and its manifest says).
    pub(crate) version: &'static str,
    /// Appended to `NAME-VERSION` in its directory's name.
    pub(crate) suffix: &'static str,
    /// In `DIR/<transport>-extra/` rather than `DIR/<transport>/`.
    pub(crate) extra: bool,
}

impl Variant {
    /// The plugin directory's name: `greeter-1.0.0`, `greeter-3.0.0-unhealthy`.
    pub(crate) fn dir_name(&self) -> String {
        format!("{}-{}{}", self.plugin.name, self.version, self.suffix)
    }
}

/// One `cargo build`: the features it enables and the variants it yields.
struct Build {
    features: &'static [&'static str],
    variants: &'static [Variant],
}

const fn variant(
    plugin: &'static Plugin,
    version: &'static str,
    suffix: &'static str,
    extra: bool,
) -> Variant {
    Variant {
        plugin,
        version,
        suffix,
        extra,
    }
}

/// Every build, in order. Each builds the plugins of its variants, native
/// and process, with its features.
const BUILDS: &[Build] = &[
    Build {
        features: &[],
        variants: &[
            variant(&GREETER, "1.0.0", "", false),
            variant(&KV_STORE, "1.4.1", "", false),
            variant(&FRONT_DESK, "1.0.0", "", true),
        ],
    },
    Build {
        features: &["greeter-plugin/v2", "kv-store-plugin/v2"],
        variants: &[
            variant(&GREETER, "2.0.0", "", false),
            variant(&KV_STORE, "2.0.0", "", true),
        ],
    },
    Build {
        features: &["greeter-plugin/v3-panics-in-init"],
        variants: &[variant(&GREETER, "3.0.0", "-panics-in-init", true)],
    },
    Build {
        features: &["greeter-plugin/v3-unhealthy"],
        variants: &[variant(&GREETER, "3.0.0", "-unhealthy", true)],
    },
    Build {
        features: &["kv-store-plugin/v3-new-state-format"],
        variants: &[variant(&KV_STORE, "3.0.0", "-new-state-format", true)],
    },
];

/// Every variant the layout holds.
#[cfg(test)]
pub(crate) fn variants() -> impl Iterator<Item = &'static Variant> {
    BUILDS.iter().flat_map(|build| build.variants)
}

/// The two transports, as manifests and directory names spell them.
pub(crate) const TRANSPORTS: &[&str] = &["native", "process"];

/// Debug or release builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Profile {
    Debug,
    Release,
}

impl Profile {
    /// The directory under the target directory.
    fn dir(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// `cargo xtask example-plugins --out DIR [--release]`.
pub(crate) fn command(root: &Path, args: &[String]) -> Result<()> {
    let mut out = None;
    let mut profile = Profile::Debug;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = Some(args.next().context("--out needs a directory")?.clone()),
            "--release" => profile = Profile::Release,
            other => match other.strip_prefix("--out=") {
                Some(dir) => out = Some(dir.to_string()),
                None => bail!("example-plugins: unknown argument {other:?}"),
            },
        }
    }
    let Some(out) = out else {
        bail!("usage: cargo xtask example-plugins --out DIR [--release]");
    };
    let out = std::path::absolute(&out).with_context(|| format!("bad directory {out:?}"))?;
    for dir in lay_out(root, &out, profile)? {
        println!("{}", dir.display());
    }
    Ok(())
}

/// The target directory of the workspace's own builds.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// Builds every variant and lays it out under `out` (see the module docs).
/// Returns the plugin directories written, in build order.
pub(crate) fn lay_out(root: &Path, out: &Path, profile: Profile) -> Result<Vec<PathBuf>> {
    let target = target_dir(root).join("plugkit-example-plugins");
    std::fs::create_dir_all(&target)
        .with_context(|| format!("cannot create {}", target.display()))?;
    let lock_path = target.join("layout.lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    for transport in TRANSPORTS {
        for dir in [out.join(transport), out.join(format!("{transport}-extra"))] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot clear {}", dir.display()))?;
            }
        }
    }
    let built = target.join(profile.dir());
    let mut written = Vec::new();
    for build in BUILDS {
        let mut cargo = crate::cargo(root);
        cargo
            .args(["build", "--quiet", "--target-dir"])
            .arg(&target);
        if profile == Profile::Release {
            cargo.arg("--release");
        }
        for variant in build.variants {
            cargo.args([
                "-p",
                variant.plugin.package,
                "-p",
                variant.plugin.native_package,
            ]);
        }
        if !build.features.is_empty() {
            cargo.args(["--features", &build.features.join(",")]);
        }
        crate::run(&mut cargo)?;
        for variant in build.variants {
            for transport in TRANSPORTS {
                let artifact = artifact_name(variant.plugin, transport);
                let group = if variant.extra {
                    format!("{transport}-extra")
                } else {
                    transport.to_string()
                };
                let dir = out.join(group).join(variant.dir_name());
                written.push(write_plugin_dir(
                    variant,
                    transport,
                    &built.join(&artifact),
                    &dir,
                )?);
            }
        }
    }
    drop(lock);
    Ok(written)
}

/// The artifact's file name: the built library or executable.
fn artifact_name(plugin: &Plugin, transport: &str) -> String {
    if transport == "native" {
        let stem = plugin.native_package.replace('-', "_");
        format!(
            "{}{stem}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        )
    } else {
        format!("{}{}", plugin.package, std::env::consts::EXE_SUFFIX)
    }
}

/// Copies `artifact` into a fresh `dir` and writes its manifest beside it.
fn write_plugin_dir(
    variant: &Variant,
    transport: &str,
    artifact: &Path,
    dir: &Path,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file_name = artifact
        .file_name()
        .context("an artifact has a file name")?
        .to_str()
        .context("artifact names are UTF-8")?;
    let copy = dir.join(file_name);
    std::fs::copy(artifact, &copy)
        .with_context(|| format!("cannot copy {} to {}", artifact.display(), copy.display()))?;
    let bytes = std::fs::read(&copy).with_context(|| format!("cannot read {}", copy.display()))?;
    let manifest = manifest(variant, transport, file_name, &sha256_hex(&bytes));
    let path = dir.join("plugin-manifest.yaml");
    std::fs::write(&path, manifest).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(dir.to_path_buf())
}

/// A variant's manifest.
fn manifest(variant: &Variant, transport: &str, endpoint: &str, sha256: &str) -> String {
    let plugin = variant.plugin;
    let capabilities: Vec<String> = plugin
        .capabilities
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect();
    let mut text = format!(
        "# Written by `cargo xtask example-plugins`: {name} {version}{suffix}, {transport} transport.\n\
         name: {name}\n\
         version: {version}\n\
         description: {description}\n\
         author: plugkit examples\n\
         capabilities: [{capabilities}]\n\
         transport: {transport}\n\
         endpoint: {endpoint}\n\
         checksum: sha256:{sha256}\n\
         requirements:\n  plugkit_version: \">=0.1.0\"\n",
        name = plugin.name,
        version = variant.version,
        suffix = variant.suffix,
        description = plugin.description,
        capabilities = capabilities.join(", "),
    );
    if !plugin.requires.is_empty() {
        text.push_str("  required_plugins:\n");
        for requirement in plugin.requires {
            let _ = writeln!(text, "    - {requirement}");
        }
    }
    text
}

/// Lowercase hex SHA-256.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Lays the example plugins out under `target/plugkit-examples/plugins/`
/// and runs the example host on `native/` (then on `process/`, as child
/// processes).
pub(crate) fn run_host(root: &Path) -> Result<()> {
    let examples = target_dir(root).join("plugkit-examples");
    let plugins = examples.join("plugins");
    println!("$ cargo xtask example-plugins --out {}", plugins.display());
    lay_out(root, &plugins, Profile::Debug)?;
    let mut build = crate::cargo(root);
    build.args(["build", "--quiet", "-p", "example-host"]);
    crate::run(&mut build)?;
    let host = target_dir(root).join("debug").join("example-host");
    let cache = examples.join("cache");
    let native = plugins.join("native");
    let process = plugins.join("process");
    println!(
        "$ example-host {} {} {}",
        native.display(),
        cache.display(),
        process.display()
    );
    crate::run(Command::new(host).arg(&native).arg(&cache).arg(&process))
}

#[cfg(test)]
mod tests;
