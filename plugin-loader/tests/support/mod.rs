//! Builds the example and fixture plugins (`cargo build`, once per test
//! process) and stages them with manifests in temporary plugin directories,
//! so the loader's tests need nothing prepared by hand.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Built libraries, copied out of the build's directories so later builds
/// cannot change them: into `target/plugkit-fixtures/libraries/`, one
/// directory for every test process (a temporary directory would outlive
/// the process, statics are never dropped, and fill the disk run after
/// run). The process holds a lock on it for its whole life, exclusive while
/// it copies and shared after, so a process never replaces a library
/// another one has mapped: it waits for that one to exit.
pub(crate) struct Libraries {
    dir: PathBuf,
    _lock: std::fs::File,
}

impl Libraries {
    /// A built executable (`greeter-plugin`, `fixture-process`).
    pub(crate) fn binary(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The built library of a package (`greeter-native`, `greeter-native-v2`, ...).
    pub(crate) fn path(&self, package: &str) -> PathBuf {
        self.dir
            .join(format!("lib{}.so", package.replace('-', "_")))
    }
}

/// The fixtures get a target directory of their own: their builds select
/// other packages and features than the workspace's, and must never
/// overwrite the artifacts the workspace's own build links against.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("plugkit-fixtures")
}

pub(crate) fn cargo_build(packages: &[&str], features: &[&str]) {
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
        std::fs::create_dir_all(target_dir()).expect("create the fixtures' target directory");
        let lock = std::fs::File::create(target_dir().join("libraries.lock"))
            .expect("create the libraries' lock file");
        lock.lock().expect("lock the libraries");
        let dir = target_dir().join("libraries");
        std::fs::create_dir_all(&dir).expect("create the libraries directory");
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
            replace(&built.join(&file), &dir.join(&file));
        }
        for binary in binaries {
            replace(&built.join(binary), &dir.join(binary));
        }
        cargo_build(&["greeter-native"], &["greeter-native/v2"]);
        replace(
            &built.join("libgreeter_native.so"),
            &dir.join("libgreeter_native_v2.so"),
        );
        // From exclusive to shared: other processes may use them too; one
        // that would copy them again waits until this one has exited.
        lock.unlock().expect("unlock the libraries");
        lock.lock_shared().expect("lock the libraries for reading");
        Libraries { dir, _lock: lock }
    })
}

/// Copies `from` to `to` as a new file (removing `to` first: a library a
/// finished process had mapped is not written over in place).
fn replace(from: &Path, to: &Path) {
    let _ = std::fs::remove_file(to);
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
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

/// A loader with its own cache directory (kept alive by the returned guard).
pub(crate) fn loader(
    process: plugin_loader::ProcessConfig,
) -> (plugin_loader::Loader, tempfile::TempDir) {
    let cache = tempfile::tempdir().expect("temporary directory");
    let config = plugin_loader::LoaderConfig::default()
        .with_cache_dir(cache.path())
        .with_process(process);
    (plugin_loader::Loader::new(config), cache)
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
pub(crate) async fn load_native(
    package: &str,
    name: &str,
    version: &str,
    extra: &str,
) -> Result<plugin_loader::Instance, plugin_loader::LoadError> {
    let staged = stage(&libraries().path(package), name, version, extra);
    let (loader, _cache) = loader(plugin_loader::ProcessConfig::default());
    loader.load(&staged.manifest(), staged.path()).await
}

/// Writes `script` as an executable file `name` in `dir`.
pub(crate) fn write_script(dir: &Path, name: &str, script: &str) {
    let path = dir.join(name);
    std::fs::write(&path, script).expect("write script");
    let mut permissions = std::fs::metadata(&path).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&path, permissions).expect("chmod");
}

/// The path from the current directory to `path`, with `..` components:
/// the same directory, named relatively.
pub(crate) fn relative_to_cwd(path: &Path) -> PathBuf {
    let cwd = std::env::current_dir().expect("cwd");
    let cwd = std::fs::canonicalize(cwd).expect("canonical cwd");
    let path = std::fs::canonicalize(path).expect("canonical path");
    let common = cwd
        .components()
        .zip(path.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut relative = PathBuf::new();
    for _ in cwd.components().skip(common) {
        relative.push("..");
    }
    for component in path.components().skip(common) {
        relative.push(component);
    }
    assert!(relative.is_relative(), "{}", relative.display());
    relative
}

/// Waits, up to a generous minute, until `condition` holds; for states the
/// tests cannot subscribe to (processes coming and going).
pub(crate) async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "not within 60 s: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// The processes (pids) whose command line starts with `cache` (the
/// copies a loader runs live there), plus the unreaped children of this
/// test process whose executable's name starts with `stem` (a zombie has
/// no command line; the kernel keeps 15 bytes of its name).
///
/// A zombie cannot be told apart from one of a test running beside this
/// one, whose supervisor is about to reap it: a zombie counts only if it
/// is still unreaped after a while (a leaked one stays for good).
pub(crate) fn processes_from(cache: &Path, stem: &str) -> Vec<u32> {
    let wanted = cache.display().to_string();
    let short: String = stem.chars().take(15).collect();
    let me = std::process::id().to_string();
    let zombie = |pid: u32| -> bool {
        // stat: "PID (COMM) STATE PPID ..."
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let Some((_, rest)) = stat.split_once(" (") else {
            return false;
        };
        let Some((comm, rest)) = rest.rsplit_once(") ") else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        fields.next() == Some("Z") && fields.next() == Some(me.as_str()) && comm.starts_with(&short)
    };
    let mut live = Vec::new();
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).starts_with(&wanted) {
            live.push(pid);
        } else if zombie(pid) {
            zombies.push(pid);
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !zombies.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
        zombies.retain(|&pid| zombie(pid));
    }
    live.extend(zombies);
    live
}

/// Whether the process `pid` is alive (not gone, not a zombie).
pub(crate) fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.contains(") Z "))
        .unwrap_or(false)
}

/// The digest from `sha256sum`, not from the crate the loader uses, so the
/// check is not circular.
pub(crate) fn reference_sha256(bytes: &[u8]) -> String {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write");
    let output = child.wait_with_output().expect("sha256sum runs");
    String::from_utf8(output.stdout).expect("UTF-8")[..64].to_string()
}

/// The files in a loader's cache directory, sorted (none if it does not
/// exist).
pub(crate) fn cache_files(cache: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(cache)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}
