//! Builds the example and fixture plugins (`cargo build`, once per test
//! process) and stages them with manifests in temporary plugin directories,
//! so the loader's tests need nothing prepared by hand.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Built libraries, copied out of `target/` so later builds cannot change them.
pub(crate) struct Libraries {
    dir: tempfile::TempDir,
}

impl Libraries {
    /// A built executable (`greeter-plugin`, `fixture-process`).
    pub(crate) fn binary(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The built library of a package (`greeter-native`, `greeter-native-v2`, ...).
    pub(crate) fn path(&self, package: &str) -> PathBuf {
        self.dir
            .path()
            .join(format!("lib{}.so", package.replace('-', "_")))
    }
}

/// The fixtures get a target directory of their own: their builds select
/// other packages and features than the workspace's, and must never
/// overwrite the artifacts the workspace's own build links against.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("plugkit-fixtures")
}

fn cargo_build(packages: &[&str], features: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "--target-dir"])
        .arg(target_dir());
    for package in packages {
        command.args(["--package", package]);
    }
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    let status = command.status().expect("cargo starts");
    assert!(
        status.success(),
        "cargo build {packages:?} {features:?} failed"
    );
}

/// Every library the tests load, built once.
pub(crate) fn libraries() -> &'static Libraries {
    static LIBRARIES: OnceLock<Libraries> = OnceLock::new();
    LIBRARIES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let built = target_dir().join("debug");
        let libraries = [
            "greeter-native",
            "kv-store-native",
            "fixture-not-a-plugin",
            "fixture-wrong-abi",
            "fixture-future-sdk",
            "fixture-panicky",
        ];
        let binaries = ["greeter-plugin", "fixture-process"];
        cargo_build(&[&libraries[..], &binaries[..]].concat(), &[]);
        for package in libraries {
            let file = format!("lib{}.so", package.replace('-', "_"));
            std::fs::copy(built.join(&file), dir.path().join(&file)).expect("copy library");
        }
        for binary in binaries {
            std::fs::copy(built.join(binary), dir.path().join(binary)).expect("copy binary");
        }
        cargo_build(&["greeter-native"], &["greeter-native/v2"]);
        std::fs::copy(
            built.join("libgreeter_native.so"),
            dir.path().join("libgreeter_native_v2.so"),
        )
        .expect("copy library");
        Libraries { dir }
    })
}

/// A plugin directory: a manifest and its library, in a fresh temporary directory.
pub(crate) struct Staged {
    pub(crate) dir: tempfile::TempDir,
}

impl Staged {
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn manifest(&self) -> plugin_manifest::Manifest {
        let bytes = std::fs::read(self.path().join("plugin-manifest.yaml")).expect("manifest");
        plugin_manifest::parse(&bytes, "plugin-manifest.yaml")
            .unwrap_or_else(|e| panic!("{e}"))
            .manifest
    }
}

/// Stages `library` as `lib.so` with a manifest of `name` and `version`
/// plus `extra` YAML lines.
pub(crate) fn stage(library: &Path, name: &str, version: &str, extra: &str) -> Staged {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::copy(library, dir.path().join("lib.so")).expect("stage library");
    let manifest =
        format!("name: {name}\nversion: {version}\ntransport: native\nendpoint: lib.so\n{extra}");
    std::fs::write(dir.path().join("plugin-manifest.yaml"), manifest).expect("write manifest");
    Staged { dir }
}

/// A loader with its own cache directory.
pub(crate) fn loader() -> (plugin_loader::NativeLoader, tempfile::TempDir) {
    let cache = tempfile::tempdir().expect("temporary directory");
    (plugin_loader::NativeLoader::new(cache.path()), cache)
}

/// Stages `binary` as `file_name` (its name picks fixture behaviours) with
/// a process-transport manifest of `name` and `version` plus `extra` YAML.
pub(crate) fn stage_process(
    binary: &Path,
    file_name: &str,
    name: &str,
    version: &str,
    extra: &str,
) -> Staged {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::copy(binary, dir.path().join(file_name)).expect("stage binary");
    let manifest = format!(
        "name: {name}\nversion: {version}\ntransport: process\nendpoint: {file_name}\n{extra}"
    );
    std::fs::write(dir.path().join("plugin-manifest.yaml"), manifest).expect("write manifest");
    Staged { dir }
}

/// Stages `package`'s library with a manifest and loads it with a fresh
/// loader (the staging and cache directories are not needed once loaded).
pub(crate) fn load_native(
    package: &str,
    name: &str,
    version: &str,
    extra: &str,
) -> Result<plugin_loader::NativePlugin, plugin_loader::LoadError> {
    let staged = stage(&libraries().path(package), name, version, extra);
    let (loader, _cache) = loader();
    loader.load(&staged.manifest(), staged.path())
}
