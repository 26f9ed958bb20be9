//! [`Host::builder`]: the short way to a running host with auto-discovery
//! and hot loading, and the long way with every setting.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use plugin_discovery::DiscoveryConfig;
use plugin_events::Subscription;
use plugin_host::{
    DynamicLoader, HostConfig, HostError, HostEvent, HotLoadConfig, LifecycleMonitor,
    ResolveLimits, StartReport,
};
use plugin_loader::{DefaultLimits, LoaderConfig};
use plugin_resolver::Strategy;
use plugin_version::VersionPolicy;

/// A running host: a [`DynamicLoader`] that was started (and, unless the
/// builder said otherwise, follows its directories). Every method of
/// [`DynamicLoader`] is available on it.
#[derive(Debug, Clone)]
pub struct Host {
    loader: DynamicLoader,
    started: StartReport,
}

impl Host {
    /// A builder: directories, then settings, then [`HostBuilder::build`].
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// The host underneath.
    pub fn loader(&self) -> &DynamicLoader {
        &self.loader
    }

    /// What the start loaded, and what it could not load with why.
    pub fn start_report(&self) -> &StartReport {
        &self.started
    }
}

impl Deref for Host {
    type Target = DynamicLoader;

    fn deref(&self) -> &DynamicLoader {
        &self.loader
    }
}

/// Builds a [`Host`]: where its plugins are and how it treats them. Every
/// setting has the default a user would pick (see [`HostConfig`]), so
/// `from_directory(..).build()` is a complete host.
#[derive(Clone, Default)]
pub struct HostBuilder {
    directories: Vec<PathBuf>,
    patterns: Vec<String>,
    discovery: Option<DiscoveryConfig>,
    config: HostConfig,
    monitor: Option<Arc<dyn LifecycleMonitor>>,
    manual: bool,
}

impl std::fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostBuilder")
            .field("directories", &self.directories)
            .field("patterns", &self.patterns)
            .field("monitor", &self.monitor.is_some())
            .finish_non_exhaustive()
    }
}

impl HostBuilder {
    /// Finds plugins under `dir` (call again for more directories, in
    /// order of precedence).
    pub fn from_directory(mut self, dir: impl Into<PathBuf>) -> Self {
        self.directories.push(dir.into());
        self
    }

    /// Accepts only plugins whose artifact's file name matches `glob`
    /// (repeatable; default: any name).
    pub fn with_pattern(mut self, glob: impl Into<String>) -> Self {
        self.patterns.push(glob.into());
        self
    }

    /// The documented defaults for everything not set (a no-op that says so
    /// in the code that builds the host).
    pub fn with_defaults(self) -> Self {
        self
    }

    /// An explicit discovery configuration (its directories and patterns
    /// come before those of `from_directory` and `with_pattern`).
    pub fn with_discovery_config(mut self, config: DiscoveryConfig) -> Self {
        self.discovery = Some(config);
        self
    }

    /// The version policy every change obeys.
    pub fn with_policy(mut self, policy: VersionPolicy) -> Self {
        self.config = self.config.with_policy(policy);
        self
    }

    /// Strict or best-effort resolution.
    pub fn with_strategy(mut self, strategy: Strategy) -> Self {
        self.config = self.config.with_strategy(strategy);
        self
    }

    /// Bounds on each resolution (depth, solver steps, time); one that is
    /// hit fails that resolution with the bound named.
    pub fn with_resolve_limits(mut self, limits: ResolveLimits) -> Self {
        self.config = self.config.with_resolve_limits(limits);
        self
    }

    /// Hot-load and rollback settings.
    pub fn with_hot_load(mut self, hot_load: HotLoadConfig) -> Self {
        self.config = self.config.with_hot_load(hot_load);
        self
    }

    /// Resource limits for process plugins whose manifest sets none.
    pub fn with_resource_limits(mut self, limits: DefaultLimits) -> Self {
        let loader = self.config.loader.clone();
        let process = loader.process.clone().with_default_limits(limits);
        self.config = self.config.with_loader(loader.with_process(process));
        self
    }

    /// How instances are loaded (cache directory, process settings).
    pub fn with_loader(mut self, loader: LoaderConfig) -> Self {
        self.config = self.config.with_loader(loader);
        self
    }

    /// Every host setting at once.
    pub fn with_config(mut self, config: HostConfig) -> Self {
        self.config = config;
        self
    }

    /// A monitor whose callbacks see every load, failure and unload.
    pub fn with_monitor(mut self, monitor: Arc<dyn LifecycleMonitor>) -> Self {
        self.monitor = Some(monitor);
        self
    }

    /// Loads once and does not follow the directories (no hot loading).
    pub fn without_auto_loading(mut self) -> Self {
        self.manual = true;
        self
    }

    /// Starts the host: discovers, resolves and loads in dependency order,
    /// then (unless [`without_auto_loading`](Self::without_auto_loading))
    /// follows the directories and hot-loads what changes. Needs a tokio
    /// runtime. What the start did is [`Host::start_report`]; to see its
    /// events as well, use [`build_with_events`](Self::build_with_events).
    pub async fn build(self) -> Result<Host, HostError> {
        self.build_with_events().await.map(|(host, _)| host)
    }

    /// [`build`](Self::build), with a subscription to the host's events
    /// taken before anything was discovered: the first scan's discovery
    /// events (invalid manifests included) and the first loads come first
    /// in it.
    pub async fn build_with_events(self) -> Result<(Host, Subscription<HostEvent>), HostError> {
        let discovery = match self.discovery {
            Some(config) => {
                let mut directories = config.directories.clone();
                directories.extend(self.directories);
                let mut patterns = config.artifact_patterns.clone();
                patterns.extend(self.patterns);
                config
                    .with_directories(directories)
                    .with_artifact_patterns(patterns)
            }
            None => DiscoveryConfig::new(self.directories).with_artifact_patterns(self.patterns),
        };
        let loader = DynamicLoader::new(discovery, self.config)?;
        if let Some(monitor) = self.monitor {
            loader.set_monitor(monitor);
        }
        let events = loader.subscribe();
        let started = loader.start().await?;
        if !self.manual {
            loader.enable_auto_loading()?;
        }
        Ok((Host { loader, started }, events))
    }
}
