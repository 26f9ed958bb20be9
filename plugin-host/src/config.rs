//! How a [`DynamicLoader`](crate::DynamicLoader) behaves: defaults a user
//! would pick, each field documented with its default.

use std::time::Duration;

use plugin_loader::LoaderConfig;
use plugin_resolver::{CircularDependencyMode, ResolveLimits, Strategy};
use plugin_version::VersionPolicy;

/// How hot swaps behave. `Default` gives the documented values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HotLoadConfig {
    /// How long the calls in flight on an old instance may take to finish
    /// after a swap or an unload, before it is stopped anyway. Default 30 s.
    pub graceful_timeout: Duration,
    /// How many previous versions of each plugin are kept (as copies of
    /// their manifest and artifact) for [`rollback`](crate::DynamicLoader::rollback).
    /// Default 3.
    pub backup_versions: usize,
    /// When a new version fails to load, to initialise, or to become
    /// healthy: keep the old one serving (`true`, default) or stop it and
    /// mark the plugin failed (`false`, for users who prefer failing loudly).
    pub rollback_on_failure: bool,
    /// Before a new version takes traffic, check that it offers every typed
    /// method the old one offered (so no caller meets "unknown method").
    /// Default `true`.
    pub preload_validation: bool,
    /// The deadline for a new version to load, initialise and answer its
    /// health check as healthy (or degraded). A deadline, not a wait: a
    /// plugin that is ready sooner takes traffic sooner. Default 5 s.
    pub health_check_delay: Duration,
    /// For plugins that hand their state over across a swap: how long calls
    /// to the plugin may wait while the state moves (the serving version's
    /// calls in flight finish, it exports, the new one imports). Past it,
    /// the swap is rolled back and the calls go to the serving version.
    /// Default 5 s.
    pub state_handover_wait: Duration,
    /// What a swap does when the new version refuses the serving version's
    /// state (a format it does not know). Default
    /// [`StateRefused::RefuseUpdate`].
    pub on_state_refused: StateRefused,
}

/// What a swap does when the new version refuses the state the serving
/// version hands it ([`HotLoadConfig::on_state_refused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StateRefused {
    /// The update is refused, as one the version policy refuses: an
    /// `UpdateRefused` event with the new version's reason, the serving
    /// version keeps serving with its state, and the refused version is not
    /// tried again until its files change. Nothing is lost, whatever
    /// [`HotLoadConfig::rollback_on_failure`] says. The default.
    #[default]
    RefuseUpdate,
    /// A failed swap like any other: `LoadFailed` and `RolledBack`, or, with
    /// [`HotLoadConfig::rollback_on_failure`] `false`, the serving version is
    /// stopped (its state with it) and the plugin marked failed.
    RollBack,
}

impl Default for HotLoadConfig {
    fn default() -> Self {
        HotLoadConfig {
            graceful_timeout: Duration::from_secs(30),
            backup_versions: 3,
            rollback_on_failure: true,
            preload_validation: true,
            health_check_delay: Duration::from_secs(5),
            state_handover_wait: Duration::from_secs(5),
            on_state_refused: StateRefused::default(),
        }
    }
}

impl HotLoadConfig {
    /// With another graceful timeout.
    pub fn with_graceful_timeout(mut self, timeout: Duration) -> Self {
        self.graceful_timeout = timeout;
        self
    }

    /// With another number of kept versions.
    pub fn with_backup_versions(mut self, versions: usize) -> Self {
        self.backup_versions = versions;
        self
    }

    /// With another rollback rule.
    pub fn with_rollback_on_failure(mut self, rollback: bool) -> Self {
        self.rollback_on_failure = rollback;
        self
    }

    /// With or without preload validation.
    pub fn with_preload_validation(mut self, validate: bool) -> Self {
        self.preload_validation = validate;
        self
    }

    /// With another health-check deadline.
    pub fn with_health_check_delay(mut self, delay: Duration) -> Self {
        self.health_check_delay = delay;
        self
    }

    /// With another bound on how long calls wait while state moves.
    pub fn with_state_handover_wait(mut self, wait: Duration) -> Self {
        self.state_handover_wait = wait;
        self
    }

    /// With another rule for a state the new version refuses.
    pub fn with_on_state_refused(mut self, rule: StateRefused) -> Self {
        self.on_state_refused = rule;
        self
    }
}

/// How a host behaves. `Default` gives the documented values.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HostConfig {
    /// Hot swaps, rollback and health checks.
    pub hot_load: HotLoadConfig,
    /// Which version changes are allowed (downgrades, pre-releases,
    /// breaking changes, exact matches); applied to every change, from
    /// discovery or by hand. Default: [`VersionPolicy::default`].
    pub policy: VersionPolicy,
    /// Strict (any unresolvable plugin fails the whole resolution) or best
    /// effort (it is left out, with its reason, and the rest load).
    /// Default best effort: a host keeps serving what it can.
    pub strategy: Strategy,
    /// Whether plugins that require each other in a cycle load together.
    /// Default: refused.
    pub circular: CircularDependencyMode,
    /// The resolver's bounds on each re-resolution: the longest chain of
    /// required plugins, the most solver steps and the longest run.
    /// Defaults: the resolver's (256 plugins, 1,000,000 steps, 10 s). A
    /// bound hit fails the whole re-resolution: every plugin not yet
    /// running is reported failed with the bound named, and the running
    /// ones keep serving.
    pub resolve_limits: ResolveLimits,
    /// How instances are loaded: cache directory, process settings, and the
    /// default resource limits for plugins whose manifest sets none
    /// (`loader.process.default_limits`).
    pub loader: LoaderConfig,
    /// The timeout of a call that names none (process plugins; a native
    /// call cannot be interrupted). Default 30 s.
    pub call_timeout: Duration,
    /// With auto-loading: how long after a discovery event the host waits
    /// for another before it re-resolves (each event starts the wait anew,
    /// for 1 s at most), so that one change of many paths is one
    /// re-resolution. Default 20 ms: discovery already waits for each path
    /// to settle (its `debounce`), so this only gathers the paths of one
    /// change, whose events come together.
    pub batch_window: Duration,
    /// With auto-loading: when the directories no longer hold any version
    /// of a running plugin, how long they must stay quiet before it is
    /// unloaded, so that a deploy which takes the old directory out before
    /// (or while) it puts the new one in does not unload the plugin in
    /// between. Default 500 ms.
    pub removal_window: Duration,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            hot_load: HotLoadConfig::default(),
            policy: VersionPolicy::default(),
            strategy: Strategy::BestEffort,
            resolve_limits: ResolveLimits::default(),
            circular: CircularDependencyMode::default(),
            loader: LoaderConfig::default(),
            call_timeout: Duration::from_secs(30),
            batch_window: Duration::from_millis(20),
            removal_window: Duration::from_millis(500),
        }
    }
}

impl HostConfig {
    /// With another hot-load configuration.
    pub fn with_hot_load(mut self, hot_load: HotLoadConfig) -> Self {
        self.hot_load = hot_load;
        self
    }

    /// With another version policy.
    pub fn with_policy(mut self, policy: VersionPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// With another resolution strategy.
    pub fn with_strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// With another cycle rule.
    pub fn with_circular(mut self, circular: CircularDependencyMode) -> Self {
        self.circular = circular;
        self
    }

    /// With other bounds on each re-resolution.
    pub fn with_resolve_limits(mut self, limits: ResolveLimits) -> Self {
        self.resolve_limits = limits;
        self
    }

    /// With another loader configuration.
    pub fn with_loader(mut self, loader: LoaderConfig) -> Self {
        self.loader = loader;
        self
    }

    /// With another default call timeout.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// With another batch window.
    pub fn with_batch_window(mut self, window: Duration) -> Self {
        self.batch_window = window;
        self
    }

    /// With another removal window.
    pub fn with_removal_window(mut self, window: Duration) -> Self {
        self.removal_window = window;
        self
    }
}
