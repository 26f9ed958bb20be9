//! [`DiscoveryError`]: a path discovery could not read, a symlink loop, or
//! a watcher failure. None of them stops a scan.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::display::{printable, printable_path};

/// Something discovery could not look at. Each names its path; IO and
/// watcher errors keep their cause as [`source`](std::error::Error::source).
///
/// Errors are cheap to clone (their sources are shared), so the same error
/// can be kept in a [`Discovery`](crate::Discovery) and handed to an
/// error handler.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// A directory (a search directory or one below it) cannot be listed.
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: Arc<io::Error>,
    },
    /// A manifest file cannot be read.
    ReadManifest {
        /// The manifest file.
        path: PathBuf,
        /// Why.
        source: Arc<io::Error>,
    },
    /// A path with a manifest's name is not a regular file (a FIFO, a
    /// socket, a device); it is not opened, so it cannot block a scan.
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A manifest is larger than
    /// [`Limits::max_bytes`](plugin_manifest::Limits::max_bytes); it is not
    /// read beyond the limit.
    TooLarge {
        /// The manifest file.
        path: PathBuf,
        /// Its size, when it is known (a regular file's, from its metadata;
        /// `None` for a stream, which was read up to one byte past the
        /// limit).
        size: Option<u64>,
        /// The limit, in bytes.
        limit: u64,
    },
    /// Following symlinks, a link leads back to a directory it is in.
    SymlinkLoop {
        /// The link.
        path: PathBuf,
        /// The directory it leads back to.
        ancestor: PathBuf,
    },
    /// The file watcher reported a failure (the directories are still
    /// watched, by polling when the native watcher gave up).
    Watch {
        /// The path it is about, when it says.
        path: Option<PathBuf>,
        /// Why.
        source: Arc<notify::Error>,
    },
    /// The etcd source could not be reached, listed or watched (discovery
    /// keeps trying, and resumes its watch where it broke off).
    Etcd {
        /// The cluster's endpoints, joined by `,`.
        endpoints: String,
        /// What failed (`connect to`, `list`, `watch`).
        action: &'static str,
        /// Why (the client's error).
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::ReadDir { path, .. } => {
                write!(f, "cannot read directory {}", printable_path(path))
            }
            DiscoveryError::ReadManifest { path, .. } => {
                write!(f, "cannot read manifest {}", printable_path(path))
            }
            DiscoveryError::NotAFile { path } => {
                write!(f, "{} is not a regular file", printable_path(path))
            }
            DiscoveryError::TooLarge {
                path,
                size: Some(size),
                limit,
            } => write!(
                f,
                "manifest {} is {size} bytes, more than the limit of {limit} bytes",
                printable_path(path)
            ),
            DiscoveryError::TooLarge {
                path,
                size: None,
                limit,
            } => write!(
                f,
                "manifest {} holds more than the limit of {limit} bytes",
                printable_path(path)
            ),
            DiscoveryError::SymlinkLoop { path, ancestor } => write!(
                f,
                "symlink loop: {} leads back to {}",
                printable_path(path),
                printable_path(ancestor)
            ),
            DiscoveryError::Watch { path: None, .. } => f.write_str("file watcher failed"),
            DiscoveryError::Watch {
                path: Some(path), ..
            } => write!(f, "file watcher failed at {}", printable_path(path)),
            DiscoveryError::Etcd {
                endpoints, action, ..
            } => write!(f, "cannot {action} etcd at {}", printable(endpoints)),
        }
    }
}

/// The source is the underlying `std::io::Error` or `notify::Error` itself
/// (not the `Arc` that shares it), so it can be downcast.
impl std::error::Error for DiscoveryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DiscoveryError::ReadDir { source, .. }
            | DiscoveryError::ReadManifest { source, .. } => Some(&**source),
            DiscoveryError::Watch { source, .. } => Some(&**source),
            DiscoveryError::Etcd { source, .. } => Some(&**source),
            DiscoveryError::NotAFile { .. }
            | DiscoveryError::TooLarge { .. }
            | DiscoveryError::SymlinkLoop { .. } => None,
        }
    }
}

impl DiscoveryError {
    /// The path the error is about, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            DiscoveryError::ReadDir { path, .. }
            | DiscoveryError::ReadManifest { path, .. }
            | DiscoveryError::NotAFile { path }
            | DiscoveryError::TooLarge { path, .. }
            | DiscoveryError::SymlinkLoop { path, .. } => Some(path),
            DiscoveryError::Watch { path, .. } => path.as_deref(),
            DiscoveryError::Etcd { .. } => None,
        }
    }

    /// What went wrong, without the path (for lists that show the path
    /// first, `PATH: REASON`), with its causes:
    /// `cannot read directory: no such file or directory (os error 2)`.
    /// Escaped like every message of this crate.
    pub fn reason(&self) -> String {
        let what = match self {
            DiscoveryError::ReadDir { .. } => "cannot read directory".to_string(),
            DiscoveryError::ReadManifest { .. } => "cannot read manifest".to_string(),
            DiscoveryError::NotAFile { .. } => "not a regular file".to_string(),
            DiscoveryError::TooLarge {
                size: Some(size),
                limit,
                ..
            } => format!("manifest is {size} bytes, more than the limit of {limit} bytes"),
            DiscoveryError::TooLarge {
                size: None, limit, ..
            } => format!("manifest holds more than the limit of {limit} bytes"),
            DiscoveryError::SymlinkLoop { ancestor, .. } => {
                format!("symlink loop back to {}", printable_path(ancestor))
            }
            DiscoveryError::Watch { .. } => "file watcher failed".to_string(),
            DiscoveryError::Etcd {
                endpoints, action, ..
            } => format!("cannot {action} etcd at {}", printable(endpoints)),
        };
        let mut text = what;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&printable(&lowercase_first(&cause.to_string())));
            source = cause.source();
        }
        text
    }

    /// The error with its causes, joined by `: ` (as `anyhow` prints `{:#}`),
    /// for one-line reports.
    pub fn to_string_with_causes(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&printable(&lowercase_first(&cause.to_string())));
            source = cause.source();
        }
        text
    }

    pub(crate) fn watch(source: notify::Error) -> DiscoveryError {
        DiscoveryError::Watch {
            path: source.paths.first().cloned(),
            source: Arc::new(source),
        }
    }
}

/// Two errors are the same report when they say the same thing about the
/// same path (their sources are compared by their text).
impl PartialEq for DiscoveryError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string_with_causes() == other.to_string_with_causes()
    }
}

/// `text` with its first letter in lower case (IO errors from the OS start
/// with a capital; our messages do not).
fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
