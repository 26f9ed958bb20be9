//! The scan flags every command that searches directories shares
//! (`discover`, `resolve`, `watch`, and later `run`), so what `discover`
//! lists is exactly what the others consider: one [`ScanArgs`], flattened
//! into each command's arguments, turned into one `DiscoveryConfig`.
//!
//! `--etcd URL` (repeatable: the client URLs of one cluster) adds an etcd
//! source where remote plugin instances register (`plugkit register`),
//! under `--etcd-prefix` (default `/plugkit/plugins`); with it the
//! directories may be left out. It needs the command line built with its
//! `etcd` feature; without, it is a usage error naming the feature.
//!
//! A directory named on the command line must exist: a missing or unreadable
//! one is an IO error (exit 2) in every command. Discovery itself reports a
//! missing search directory in its results and carries on (a library user
//! may watch for it); the command line turns it into an error, because a
//! mistyped path must not look like "no plugins found".

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use plugkit::discovery::{DEFAULT_ETCD_PREFIX, DiscoveryConfig, EtcdSource, printable_path};

/// What to scan and how: shared by `discover`, `resolve` and `watch`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ScanArgs {
    /// Directories to search, in order of precedence (a manifest file is
    /// read as one). Each must exist.
    #[arg(required_unless_present = "etcd", value_name = "DIR")]
    pub(crate) dirs: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) etcd: EtcdArgs,
    /// Accept only plugins whose artifact's file name matches GLOB, such as
    /// '*.so' or '*-plugin' (repeatable; default: any name).
    #[arg(long = "pattern", value_name = "GLOB")]
    patterns: Vec<String>,
    /// How many directory levels below each DIR are searched.
    #[arg(long, value_name = "N", default_value_t = 5)]
    max_depth: usize,
    /// Follow symbolic links (loops are detected and reported).
    #[arg(long)]
    follow_symlinks: bool,
    /// Do not search PATH (repeatable). A PATH with `*`, `?`, `[` or `{` is a
    /// glob matched against paths relative to each DIR, such as
    /// '**/node_modules'.
    #[arg(long = "exclude", value_name = "PATH")]
    excludes: Vec<String>,
    /// Skip plugins that do not list capability CAP (repeatable).
    #[arg(long = "require-capability", value_name = "CAP")]
    capabilities: Vec<String>,
}

/// Where remote plugins register: shared by the scanning commands and
/// `plugkit register`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct EtcdArgs {
    /// Also discover the plugins registered in the etcd cluster at URL,
    /// such as http://127.0.0.1:2379 (repeatable: one cluster's URLs).
    #[arg(long = "etcd", value_name = "URL")]
    pub(crate) etcd: Vec<String>,
    /// The key prefix the plugins register under in etcd.
    #[arg(long, value_name = "PREFIX", default_value = DEFAULT_ETCD_PREFIX, requires = "etcd")]
    pub(crate) etcd_prefix: String,
}

impl EtcdArgs {
    /// The etcd source, when `--etcd` was given.
    pub(crate) fn source(&self) -> Option<EtcdSource> {
        (!self.etcd.is_empty())
            .then(|| EtcdSource::new(self.etcd.iter().cloned()).with_prefix(&self.etcd_prefix))
    }
}

impl ScanArgs {
    /// The discovery configuration these arguments describe.
    pub(crate) fn config(&self) -> DiscoveryConfig {
        let (globs, paths): (Vec<&String>, Vec<&String>) = self
            .excludes
            .iter()
            .partition(|exclude| exclude.contains(['*', '?', '[', '{']));
        DiscoveryConfig::new(self.dirs.iter().cloned())
            .with_artifact_patterns(self.patterns.iter().cloned())
            .with_max_depth(self.max_depth)
            .with_follow_symlinks(self.follow_symlinks)
            .with_exclude_globs(globs.into_iter().cloned())
            .with_exclude_paths(paths)
            .with_required_capabilities(self.capabilities.iter().cloned())
            .with_etcd(self.etcd.source())
    }

    /// Fails (exit 2) when a directory named on the command line is missing
    /// or cannot be listed.
    pub(crate) fn check_dirs(&self) -> Result<()> {
        for dir in &self.dirs {
            check_dir(dir)?;
        }
        Ok(())
    }
}

fn check_dir(dir: &Path) -> Result<()> {
    let shown = printable_path(dir);
    let metadata = match std::fs::metadata(dir) {
        Ok(metadata) => metadata,
        Err(error) => bail!("cannot read directory {shown}: {}", io_reason(&error)),
    };
    if metadata.is_dir()
        && let Err(error) = std::fs::read_dir(dir)
    {
        bail!("cannot read directory {shown}: {}", io_reason(&error));
    }
    Ok(())
}

/// An IO error as our messages write it: lowercase first letter.
pub(crate) fn io_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
