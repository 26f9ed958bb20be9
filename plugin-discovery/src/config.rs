//! What to scan and how: [`DiscoveryConfig`], and its checked, compiled form
//! (glob sets built once, exclusions made absolute) used by the scanner.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use plugin_manifest::{Format, Limits, MANIFEST_FILE_NAMES, Manifest, Transport};

use crate::EtcdSource;

/// The artifact patterns of the guide, for [`DiscoveryConfig::artifact_patterns`]:
/// native libraries on each platform and process plugins named `*-plugin`.
pub const DEFAULT_ARTIFACT_PATTERNS: &[&str] = &["*.so", "*.dll", "*.dylib", "*-plugin"];

/// Every option of a discovery: where to look, what counts as a plugin, and
/// how to watch.
///
/// The project's convention for configuration types: public, documented
/// fields; [`Default`] gives every documented default (and no directory);
/// [`DiscoveryConfig::new`] takes the directories, the one value without a
/// useful default; and a chainable `with_<field>` sets each field.
///
/// ```
/// use plugin_discovery::DiscoveryConfig;
///
/// let config = DiscoveryConfig::new(["plugins", "/opt/plugins"])
///     .with_max_depth(2)
///     .with_exclude_globs(["**/node_modules"])
///     .with_required_capabilities(["greet"]);
/// assert!(config.follow_symlinks == false && config.validate_manifests);
/// assert_eq!(config.max_depth, 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DiscoveryConfig {
    /// The directories to search (the guide's search paths), in order of
    /// precedence: when two of them hold the same plugin version, the one
    /// found in the earlier directory wins. A path that is itself a manifest
    /// file is read as one.
    pub directories: Vec<PathBuf>,
    /// File-name globs (`*.so`, `*-plugin`) an artifact of a local plugin
    /// (`native` or `process`) must match; a plugin whose artifact matches
    /// none is skipped. Empty (the default) accepts any artifact name;
    /// [`DEFAULT_ARTIFACT_PATTERNS`] holds the guide's set. Checked only when
    /// [`validate_manifests`](Self::validate_manifests) is on.
    pub artifact_patterns: Vec<String>,
    /// The file names that are manifests, in order of preference: when one
    /// directory holds several, the earliest in this list is the plugin's
    /// manifest and the others are skipped as shadowed. Default
    /// [`MANIFEST_FILE_NAMES`]. Each must end in `.json`, `.yaml` or `.yml`.
    pub manifest_names: Vec<String>,
    /// How many directory levels below a search directory are searched: 0
    /// reads only manifests directly in it, 1 also those in its
    /// subdirectories, and so on. Default 5.
    pub max_depth: usize,
    /// Whether symbolic links are followed (default off: a symlink found in
    /// a search directory is reported as skipped, not read). When on, a link
    /// that leads back to one of its own ancestors is reported as a loop and
    /// not entered again.
    pub follow_symlinks: bool,
    /// Paths that are not searched, with everything below them. Relative
    /// paths are taken from the current directory, as the search directories
    /// are.
    pub exclude_paths: Vec<PathBuf>,
    /// Globs of paths that are not searched, matched against the path
    /// relative to its search directory (`**/node_modules`, `*.tmp`,
    /// `backup/*`; `*` also crosses `/`).
    pub exclude_globs: Vec<String>,
    /// Whether the checks discovery adds to manifest validation run:
    /// [`required_fields`](Self::required_fields) and
    /// [`artifact_patterns`](Self::artifact_patterns). Default on. A manifest
    /// is always parsed and validated by `plugin-manifest` (a `Manifest`
    /// value is valid by construction), so this cannot admit a broken one.
    pub validate_manifests: bool,
    /// Optional manifest fields this application requires; a plugin lacking
    /// one is skipped (when [`validate_manifests`](Self::validate_manifests)
    /// is on). Default none.
    pub required_fields: Vec<RequiredField>,
    /// Capabilities every plugin must list; a plugin lacking one is skipped
    /// and reported with the capability it lacks. Default none.
    pub required_capabilities: Vec<String>,
    /// The transports accepted; a plugin using another is skipped. Empty
    /// (the default) accepts all.
    pub allowed_transports: Vec<Transport>,
    /// Whether [`DiscoveryEngine::start`](crate::DiscoveryEngine::start)
    /// keeps watching after its first scan (default on). Off, it scans once,
    /// sends the events of that scan and ends the event stream.
    pub watch: bool,
    /// How long a path must stay quiet before a change to it is looked at
    /// (per path). Default 50 ms.
    pub debounce: Duration,
    /// Which watcher to use. Default [`WatchBackend::Native`], falling back
    /// to polling when the native watcher cannot be used.
    pub backend: WatchBackend,
    /// How often the polling backend rescans. Default 1 s.
    pub poll_interval: Duration,
    /// How many events the event stream buffers per subscriber before a
    /// slow subscriber starts missing the oldest ones. Default 1024, at
    /// most 65,536.
    pub event_capacity: usize,
    /// Bounds on each manifest file (size, nesting, YAML aliases), and on
    /// each record's value from etcd.
    pub limits: Limits,
    /// An etcd cluster to discover registered (gRPC) plugins in, beside
    /// the directories; `None` (the default) for none. Needs this crate's
    /// `etcd` feature. With a source, [`directories`](Self::directories)
    /// may be empty.
    pub etcd: Option<EtcdSource>,
}

impl DiscoveryConfig {
    /// A configuration searching `directories`, with every other option at
    /// its default.
    pub fn new<I, P>(directories: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        DiscoveryConfig {
            directories: directories.into_iter().map(Into::into).collect(),
            ..DiscoveryConfig::default()
        }
    }

    /// Sets [`directories`](Self::directories): the directories to search.
    pub fn with_directories<I, P>(mut self, directories: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.directories = directories.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`artifact_patterns`](Self::artifact_patterns): the artifact file-name globs.
    pub fn with_artifact_patterns<I, S>(mut self, artifact_patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.artifact_patterns = artifact_patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`manifest_names`](Self::manifest_names): the manifest file names, in order of preference.
    pub fn with_manifest_names<I, S>(mut self, manifest_names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.manifest_names = manifest_names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`max_depth`](Self::max_depth): how many directory levels are searched.
    pub fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// Sets [`follow_symlinks`](Self::follow_symlinks): whether symbolic links are followed.
    pub fn with_follow_symlinks(mut self, follow_symlinks: bool) -> Self {
        self.follow_symlinks = follow_symlinks;
        self
    }

    /// Sets [`exclude_paths`](Self::exclude_paths): the paths that are not searched.
    pub fn with_exclude_paths<I, P>(mut self, exclude_paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.exclude_paths = exclude_paths.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`exclude_globs`](Self::exclude_globs): the globs of paths that are not searched.
    pub fn with_exclude_globs<I, S>(mut self, exclude_globs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exclude_globs = exclude_globs.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`validate_manifests`](Self::validate_manifests): whether discovery's own manifest checks run.
    pub fn with_validate_manifests(mut self, validate_manifests: bool) -> Self {
        self.validate_manifests = validate_manifests;
        self
    }

    /// Sets [`required_fields`](Self::required_fields): the optional manifest fields this application requires.
    pub fn with_required_fields(
        mut self,
        required_fields: impl IntoIterator<Item = RequiredField>,
    ) -> Self {
        self.required_fields = required_fields.into_iter().collect();
        self
    }

    /// Sets [`required_capabilities`](Self::required_capabilities): the capabilities every plugin must list.
    pub fn with_required_capabilities<I, S>(mut self, required_capabilities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_capabilities = required_capabilities.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`allowed_transports`](Self::allowed_transports): the transports accepted.
    pub fn with_allowed_transports(
        mut self,
        allowed_transports: impl IntoIterator<Item = Transport>,
    ) -> Self {
        self.allowed_transports = allowed_transports.into_iter().collect();
        self
    }

    /// Sets [`watch`](Self::watch): whether `start` keeps watching after its first scan.
    pub fn with_watch(mut self, watch: bool) -> Self {
        self.watch = watch;
        self
    }

    /// Sets [`debounce`](Self::debounce): how long a path must stay quiet before its change is looked at.
    pub fn with_debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
        self
    }

    /// Sets [`backend`](Self::backend): the watcher watch mode uses.
    pub fn with_backend(mut self, backend: WatchBackend) -> Self {
        self.backend = backend;
        self
    }

    /// Sets [`poll_interval`](Self::poll_interval): how often the polling backend rescans.
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Sets [`event_capacity`](Self::event_capacity): how many events are buffered per subscriber.
    pub fn with_event_capacity(mut self, event_capacity: usize) -> Self {
        self.event_capacity = event_capacity;
        self
    }

    /// Sets [`limits`](Self::limits): the bounds on each manifest file.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`etcd`](Self::etcd): the etcd cluster to discover registered
    /// plugins in.
    pub fn with_etcd(mut self, etcd: impl Into<Option<EtcdSource>>) -> Self {
        self.etcd = etcd.into();
        self
    }
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            directories: Vec::new(),
            artifact_patterns: Vec::new(),
            manifest_names: MANIFEST_FILE_NAMES.iter().map(|n| n.to_string()).collect(),
            max_depth: 5,
            follow_symlinks: false,
            exclude_paths: Vec::new(),
            exclude_globs: Vec::new(),
            validate_manifests: true,
            required_fields: Vec::new(),
            required_capabilities: Vec::new(),
            allowed_transports: Vec::new(),
            watch: true,
            debounce: Duration::from_millis(50),
            backend: WatchBackend::Native,
            poll_interval: Duration::from_secs(1),
            event_capacity: 1024,
            limits: Limits::default(),
            etcd: None,
        }
    }
}

/// Which file watcher watch mode uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WatchBackend {
    /// The platform's notification API (inotify, FSEvents,
    /// ReadDirectoryChangesW) through `notify`. When it cannot be used (the
    /// inotify watch limit is reached, the filesystem does not support it),
    /// discovery falls back to polling and says so in a
    /// [`DiscoveryEvent::Warning`](crate::DiscoveryEvent::Warning).
    #[default]
    Native,
    /// Rescan every [`DiscoveryConfig::poll_interval`].
    Poll,
}

/// An optional manifest field an application may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RequiredField {
    /// `description`.
    Description,
    /// `author`.
    Author,
    /// `capabilities`, with at least one entry.
    Capabilities,
    /// `checksum` (so the loader can verify the artifact).
    Checksum,
    /// `requirements.plugkit_version`.
    PlugkitVersion,
}

impl RequiredField {
    /// Every field, with the name it has in a manifest.
    pub const ALL: &'static [(&'static str, RequiredField)] = &[
        ("description", RequiredField::Description),
        ("author", RequiredField::Author),
        ("capabilities", RequiredField::Capabilities),
        ("checksum", RequiredField::Checksum),
        (
            "requirements.plugkit_version",
            RequiredField::PlugkitVersion,
        ),
    ];

    /// The field's path in a manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            RequiredField::Description => "description",
            RequiredField::Author => "author",
            RequiredField::Capabilities => "capabilities",
            RequiredField::Checksum => "checksum",
            RequiredField::PlugkitVersion => "requirements.plugkit_version",
        }
    }

    /// The field named `name` (as in a manifest), if it is one.
    pub fn from_name(name: &str) -> Option<RequiredField> {
        RequiredField::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
    }

    /// Whether `manifest` has this field.
    pub fn is_present_in(self, manifest: &Manifest) -> bool {
        match self {
            RequiredField::Description => manifest.description().is_some(),
            RequiredField::Author => manifest.author().is_some(),
            RequiredField::Capabilities => !manifest.capabilities().is_empty(),
            RequiredField::Checksum => manifest.checksum().is_some(),
            RequiredField::PlugkitVersion => manifest.requirements().plugkit_version().is_some(),
        }
    }
}

impl fmt::Display for RequiredField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A glob does not parse.
    #[error("invalid {what} pattern `{pattern}`: {message}")]
    InvalidGlob {
        /// Which option held it (`artifact`, `exclude`).
        what: &'static str,
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A manifest file name does not end in `.json`, `.yaml` or `.yml`, so
    /// its format would be unknown.
    #[error("manifest file name `{0}` must end in .json, .yaml or .yml")]
    ManifestName(String),
    /// No directory to search (and no etcd source).
    #[error("no directory to search")]
    NoDirectories,
    /// An etcd source is configured, but this build of `plugin-discovery`
    /// lacks its `etcd` feature.
    #[error(
        "etcd discovery is not built in: build plugin-discovery with its `etcd` feature \
         (the plugkit command line: `--features etcd`)"
    )]
    EtcdUnavailable,
    /// The etcd source cannot be used (no endpoint, an empty prefix).
    #[error("invalid etcd source: {0}")]
    EtcdSource(String),
    /// The current directory is needed to make a relative path absolute
    /// and cannot be read.
    #[error("cannot resolve {}: {message}", crate::printable_path(path))]
    Path {
        /// The path.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// A checked configuration, with its globs compiled and its paths made
/// absolute for exclusion checks.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) config: DiscoveryConfig,
    /// The search directories as given, lexically tidied (so event paths
    /// and walked paths share one spelling).
    pub(crate) roots: Vec<PathBuf>,
    /// The same, absolute (the current directory joined in front, `..`
    /// kept: how `notify` spells the paths of its events).
    roots_abs: Vec<PathBuf>,
    /// The same, canonical (symlinks resolved), for watchers that report
    /// canonical paths; `None` for a root that does not exist.
    roots_canonical: Vec<Option<PathBuf>>,
    excludes_abs: Vec<PathBuf>,
    exclude_globs: Option<GlobSet>,
    artifact_globs: Option<GlobSet>,
}

impl Compiled {
    pub(crate) fn new(config: DiscoveryConfig) -> Result<Compiled, ConfigError> {
        if config.directories.is_empty() && config.etcd.is_none() {
            return Err(ConfigError::NoDirectories);
        }
        if let Some(source) = &config.etcd {
            if !cfg!(feature = "etcd") {
                return Err(ConfigError::EtcdUnavailable);
            }
            if source.endpoints.is_empty() {
                return Err(ConfigError::EtcdSource("no endpoint".into()));
            }
            if source.key_prefix().is_empty() {
                return Err(ConfigError::EtcdSource(
                    "the key prefix is empty (the records would be every key of the cluster)"
                        .into(),
                ));
            }
        }
        for name in &config.manifest_names {
            if Format::from_file_name(name).is_none() || name.contains(['/', '\\']) {
                return Err(ConfigError::ManifestName(name.clone()));
            }
        }
        let roots: Vec<PathBuf> = config.directories.iter().map(|d| tidy(d)).collect();
        let roots_abs = roots
            .iter()
            .map(|r| absolute(r))
            .collect::<Result<_, _>>()?;
        let roots_canonical = roots.iter().map(|r| r.canonicalize().ok()).collect();
        let excludes_abs = config
            .exclude_paths
            .iter()
            .map(|p| absolute(&tidy(p)))
            .collect::<Result<_, _>>()?;
        let exclude_globs = glob_set("exclude", &config.exclude_globs)?;
        let artifact_globs = glob_set("artifact", &config.artifact_patterns)?;
        Ok(Compiled {
            config,
            roots,
            roots_abs,
            roots_canonical,
            excludes_abs,
            exclude_globs,
            artifact_globs,
        })
    }

    /// Whether `path`, found under root `root`, is excluded.
    pub(crate) fn is_excluded(&self, root: usize, path: &Path) -> bool {
        if self.excludes_abs.is_empty() && self.exclude_globs.is_none() {
            return false;
        }
        let relative = path.strip_prefix(&self.roots[root]).unwrap_or(path);
        if let Some(globs) = &self.exclude_globs
            && !relative.as_os_str().is_empty()
            && globs.is_match(relative)
        {
            return true;
        }
        if !self.excludes_abs.is_empty() {
            let absolute = self.roots_abs[root].join(relative);
            return self.excludes_abs.iter().any(|e| absolute.starts_with(e));
        }
        false
    }

    /// `path` (from a file watcher) spelled like the roots, so it can be
    /// compared with the walked paths: a watcher reports absolute paths
    /// (notify joins the current directory in front of a relative root, and
    /// some platforms resolve symlinks), while the roots and everything
    /// found under them keep the spelling they were given. A path under no
    /// root is returned as it is.
    pub(crate) fn respell(&self, path: PathBuf) -> PathBuf {
        if self.roots.iter().any(|root| path.starts_with(root)) {
            return path;
        }
        let spelled_as = |prefix: &Path, root: &PathBuf| {
            path.strip_prefix(prefix).ok().map(|rest| {
                if rest.as_os_str().is_empty() {
                    root.clone()
                } else {
                    root.join(rest)
                }
            })
        };
        let absolute = self.roots.iter().zip(&self.roots_abs);
        let canonical = self
            .roots
            .iter()
            .zip(&self.roots_canonical)
            .filter_map(|(root, canonical)| Some((root, canonical.as_ref()?)));
        absolute
            .chain(canonical)
            .find_map(|(root, prefix)| spelled_as(prefix, root))
            .unwrap_or(path)
    }

    /// Which root `path` (an event path, spelled like the roots) is under,
    /// and how many components below it; `None` when it is outside every
    /// root, excluded (itself or through a directory above it), or deeper
    /// than any manifest can be.
    pub(crate) fn locate(&self, path: &Path) -> Option<(usize, usize)> {
        let (root, depth) = self.roots.iter().enumerate().find_map(|(i, root)| {
            path.strip_prefix(root)
                .ok()
                .map(|rel| (i, rel.components().count()))
        })?;
        if depth > self.config.max_depth.saturating_add(1) {
            return None;
        }
        let root_path = &self.roots[root];
        let excluded = path
            .ancestors()
            .take(depth)
            .any(|ancestor| ancestor != root_path && self.is_excluded(root, ancestor));
        (!excluded).then_some((root, depth))
    }

    /// The preference rank of a manifest file name (`None`: not a manifest).
    pub(crate) fn manifest_rank(&self, file_name: &std::ffi::OsStr) -> Option<usize> {
        self.config
            .manifest_names
            .iter()
            .position(|n| std::ffi::OsStr::new(n) == file_name)
    }

    /// Whether an artifact's file name matches the artifact patterns (always
    /// true when there are none).
    pub(crate) fn artifact_matches(&self, artifact: &Path) -> bool {
        match (&self.artifact_globs, artifact.file_name()) {
            (None, _) => true,
            (Some(globs), Some(name)) => globs.is_match(name),
            (Some(_), None) => false,
        }
    }
}

fn glob_set(what: &'static str, patterns: &[String]) -> Result<Option<GlobSet>, ConfigError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|e| ConfigError::InvalidGlob {
            what,
            pattern: pattern.clone(),
            message: e.kind().to_string(),
        })?;
        builder.add(glob);
    }
    builder
        .build()
        .map(Some)
        .map_err(|e| ConfigError::InvalidGlob {
            what,
            pattern: patterns.join(", "),
            message: e.to_string(),
        })
}

/// The path without `.` components and trailing separators (lexical only:
/// `..` is kept, symlinks are not resolved).
pub(crate) fn tidy(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        if component != Component::CurDir {
            out.push(component);
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn absolute(path: &Path) -> Result<PathBuf, ConfigError> {
    std::path::absolute(path).map_err(|e| ConfigError::Path {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_drops_dot_components() {
        assert_eq!(
            tidy(Path::new("./plugins/./a/")),
            PathBuf::from("plugins/a")
        );
        assert_eq!(tidy(Path::new(".")), PathBuf::from("."));
        assert_eq!(tidy(Path::new("../x")), PathBuf::from("../x"));
    }

    #[test]
    fn bad_globs_and_names_are_refused() {
        let mut config = DiscoveryConfig::new(["p"]);
        config.artifact_patterns.push("lib[.so".into());
        let error = Compiled::new(config).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid artifact pattern `lib[.so`")
        );

        let mut config = DiscoveryConfig::new(["p"]);
        config.manifest_names = vec!["plugin.toml".into()];
        assert_eq!(
            Compiled::new(config).unwrap_err().to_string(),
            "manifest file name `plugin.toml` must end in .json, .yaml or .yml"
        );
        assert_eq!(
            Compiled::new(DiscoveryConfig::default()).unwrap_err(),
            ConfigError::NoDirectories
        );
    }

    #[test]
    fn exclusions_match_paths_and_globs() {
        let mut config = DiscoveryConfig::new(["plugins"]);
        config.exclude_paths.push("./plugins/old".into());
        config.exclude_globs.push("**/node_modules".into());
        let compiled = Compiled::new(config).unwrap();
        assert!(compiled.is_excluded(0, Path::new("plugins/old")));
        assert!(compiled.is_excluded(0, Path::new("plugins/old/x/plugin-manifest.json")));
        assert!(!compiled.is_excluded(0, Path::new("plugins/older")));
        assert!(compiled.is_excluded(0, Path::new("plugins/a/node_modules")));
        assert!(!compiled.is_excluded(0, Path::new("plugins")));
        assert_eq!(compiled.locate(Path::new("plugins/a/b")), Some((0, 2)));
        assert_eq!(compiled.locate(Path::new("plugins/node_modules/x")), None);
        assert_eq!(compiled.locate(Path::new("plugins/old/x")), None);
        assert_eq!(compiled.locate(Path::new("elsewhere/a")), None);
    }

    #[test]
    fn watcher_paths_are_respelled_like_the_roots() {
        let cwd = std::env::current_dir().unwrap();
        let config = DiscoveryConfig::new(["./plugins", "../x/dir", "/abs/dir"]);
        let compiled = Compiled::new(config).unwrap();
        let cases = [
            (
                cwd.join("plugins/a/plugin-manifest.json"),
                "plugins/a/plugin-manifest.json",
            ),
            (cwd.join("./plugins/a"), "plugins/a"),
            (cwd.join("plugins"), "plugins"),
            (cwd.join("../x/dir/b"), "../x/dir/b"),
            (PathBuf::from("/abs/dir/c"), "/abs/dir/c"),
            (PathBuf::from("/elsewhere/d"), "/elsewhere/d"),
            (PathBuf::from("plugins/e"), "plugins/e"),
        ];
        for (reported, expected) in cases {
            assert_eq!(
                compiled.respell(reported.clone()),
                Path::new(expected),
                "{reported:?}"
            );
        }
    }
}
