//! The demo's directories: the watched plugins directory (empty at first),
//! a staging directory beside it, and the host's cache, all in one
//! temporary directory removed at the end.
//!
//! Plugin directories are put into the watched directory the way a deploy
//! tool does: copied whole into the staging directory, then moved in with
//! one rename, so the host never sees half a plugin (a manifest whose
//! artifact is still being written).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, Result};

/// A plugin that requires one that no directory provides. It is never
/// loaded (the resolver leaves it out), so it needs no artifact.
pub(crate) const AUDIT_LOG: &str = "\
# A plugin whose dependency is missing: nothing provides `metrics`.
name: audit-log
version: 0.3.0
description: Keeps an audit trail of every greeting
capabilities: [\"audit\"]
transport: process
endpoint: audit-log-plugin
requirements:
  required_plugins:
    - kv-store ^1.4
    - metrics ^1.0
";

/// A manifest with several mistakes, each reported with its field.
pub(crate) const BROKEN: &str = "\
# A manifest with mistakes: discovery reports each, and nothing loads.
name: Report_Generator
version: 1.2
transport: carrier-pigeon
endpoint: /usr/local/bin/report
requirements:
  required_plugins:
    - kv-store ^^1
";

/// The temporary directories of one demo run.
pub(crate) struct Plugins {
    root: tempfile::TempDir,
    examples: PathBuf,
    staged: AtomicU64,
}

impl Plugins {
    /// Fresh directories; `examples` is the layout of
    /// `cargo xtask example-plugins --out DIR`.
    pub(crate) fn new(examples: &Path) -> Result<Plugins> {
        let root = tempfile::Builder::new()
            .prefix("plugkit-demo-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        for dir in ["plugins", "staging", "cache"] {
            let path = root.path().join(dir);
            std::fs::create_dir(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
        }
        Ok(Plugins {
            root,
            examples: examples.to_path_buf(),
            staged: AtomicU64::new(0),
        })
    }

    /// The watched plugins directory.
    pub(crate) fn dir(&self) -> PathBuf {
        self.root.path().join("plugins")
    }

    /// The host's cache directory (verified copies of artifacts, kept
    /// versions).
    pub(crate) fn cache(&self) -> PathBuf {
        self.root.path().join("cache")
    }

    /// `path` relative to the plugins directory, for display.
    pub(crate) fn relative(&self, path: &Path) -> String {
        let shown = path.strip_prefix(self.dir()).unwrap_or(path);
        plugkit::discovery::printable_path(shown).into_owned()
    }

    /// Copies a laid-out example plugin directory (`"process/greeter-1.0.0"`)
    /// into the plugins directory under its own name.
    pub(crate) fn copy_in(&self, entry: &str) -> Result<PathBuf> {
        let source = self.examples.join(entry);
        let name = source
            .file_name()
            .with_context(|| format!("{entry} has no directory name"))?
            .to_owned();
        let staging = self.staging_dir();
        copy_dir(&source, &staging)?;
        self.move_in(&staging, Path::new(&name))
    }

    /// Writes a plugin directory named `name` holding `files` (name,
    /// contents) into the plugins directory.
    pub(crate) fn write_in(&self, name: &str, files: &[(&str, &str)]) -> Result<PathBuf> {
        let staging = self.staging_dir();
        std::fs::create_dir(&staging)
            .with_context(|| format!("cannot create {}", staging.display()))?;
        for (file, contents) in files {
            let path = staging.join(file);
            std::fs::write(&path, contents)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        self.move_in(&staging, Path::new(name))
    }

    fn staging_dir(&self) -> PathBuf {
        let n = self.staged.fetch_add(1, Ordering::Relaxed);
        self.root.path().join("staging").join(n.to_string())
    }

    fn move_in(&self, staging: &Path, name: &Path) -> Result<PathBuf> {
        let target = self.dir().join(name);
        std::fs::rename(staging, &target).with_context(|| {
            format!("cannot move {} to {}", staging.display(), target.display())
        })?;
        Ok(target)
    }

    /// Removes the directories (the host must be shut down first).
    pub(crate) fn remove(self) -> Result<()> {
        let path = self.root.path().to_path_buf();
        self.root
            .close()
            .with_context(|| format!("cannot remove {}", path.display()))
    }
}

/// Copies the directory `from` to a new directory `to`, recursively.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir(to).with_context(|| format!("cannot create {}", to.display()))?;
    let entries =
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", from.display()))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot stat {}", source.display()))?;
        if kind.is_dir() {
            copy_dir(&source, &target)?;
        } else {
            std::fs::copy(&source, &target).with_context(|| {
                format!("cannot copy {} to {}", source.display(), target.display())
            })?;
        }
    }
    Ok(())
}
