//! What [`DynamicLoader::hot_load_status`](crate::DynamicLoader::hot_load_status)
//! reports per plugin, and the dependency graph.

use std::time::Instant;

use plugin_version::Version;

/// Where a plugin is, as the host sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PluginState {
    /// Being loaded (first load).
    Loading,
    /// Taking calls.
    Running,
    /// Taking calls while a new version is being loaded beside it.
    Swapping,
    /// A process plugin whose child is being restarted after a crash.
    Restarting,
    /// Being removed: draining its calls.
    Unloading,
    /// Failed; it takes no calls.
    Failed,
    /// Stopped (unloaded by hand or by auto-loading).
    Unloaded,
}

impl PluginState {
    /// The state's name (`running`, `failed`, ...).
    pub fn name(self) -> &'static str {
        match self {
            PluginState::Loading => "loading",
            PluginState::Running => "running",
            PluginState::Swapping => "swapping",
            PluginState::Restarting => "restarting",
            PluginState::Unloading => "unloading",
            PluginState::Failed => "failed",
            PluginState::Unloaded => "unloaded",
        }
    }
}

/// One plugin's status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginStatus {
    /// The plugin.
    pub name: String,
    /// Its state.
    pub state: PluginState,
    /// The version that serves (or served last, or failed).
    pub version: Option<Version>,
    /// The last error: a failed load, a rollback's reason, a refused update.
    pub last_error: Option<String>,
    /// Since when the plugin is in this state.
    pub since: Instant,
    /// Calls running now.
    pub in_flight: usize,
    /// Requests taken by the serving instance since it was loaded: calls,
    /// plus the health check and method listing the host made when it
    /// loaded it (`InstanceStats::calls`).
    pub calls: u64,
    /// The version a [`rollback`](crate::DynamicLoader::rollback) would go
    /// back to, if one is kept.
    pub rollback_target: Option<Version>,
}

/// A plugin's declared dependencies, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dependencies {
    /// Required plugins, with their constraints as written.
    pub required: Vec<(String, String)>,
    /// Optional plugins, with their constraints as written.
    pub optional: Vec<(String, String)>,
}
