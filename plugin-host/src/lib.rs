//! The lifecycle of many plugins over time: loading in dependency order,
//! hot swap, rollback and events.
//!
//! A [`DynamicLoader`] owns the discovery engine, the resolver's answers,
//! the running [`Instance`](plugin_loader::Instance)s and their versions.
//! [`start`](DynamicLoader::start) discovers, resolves and loads in
//! dependency order; [`enable_auto_loading`](DynamicLoader::enable_auto_loading)
//! lets discovery drive it: after each batch of discovery events the host
//! re-resolves and applies the difference, as a plan of steps (unload,
//! load, swap) computed by a pure function and applied one small
//! transaction at a time.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use plugin_discovery::DiscoveryConfig;
//! use plugin_host::{DynamicLoader, HostConfig};
//!
//! let host = DynamicLoader::new(DiscoveryConfig::new(["./plugins"]), HostConfig::default())?;
//! let report = host.start().await?;
//! println!("loaded {:?}, failed {:?}", report.loaded, report.failed);
//! host.enable_auto_loading()?;
//! let reply = host.call_json("greeter", "greet", &serde_json::json!({"name": "Ada"})).await?;
//! println!("{} answered {}", reply.version, reply.result);
//! host.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//!
//! - **A swap is a transaction.** The new version is loaded beside the old
//!   one, initialised, and must answer its health check (and offer every
//!   typed method the old one offered) within
//!   [`HotLoadConfig::health_check_delay`]; only then do new calls go to it,
//!   atomically, and `plugin_updated` is sent. Calls already in flight
//!   finish on the old one within [`HotLoadConfig::graceful_timeout`]; then
//!   it is stopped. A new version that fails to load, to initialise or to
//!   become healthy leaves the old one serving (`RolledBack`), unless
//!   [`HotLoadConfig::rollback_on_failure`] is off.
//! - **No call is lost to a swap.** A call that reached an old instance
//!   just as it closed was refused before it ran, so the host sends it to
//!   the instance that replaced it.
//! - **Every change obeys the version policy**, whatever brought it (an
//!   edit in place, v2 beside v1, `update`): a refused change is an
//!   `UpdateRefused` event with the reason, and the old version serves on.
//! - **A broken manifest does not unload a plugin.** A running plugin whose
//!   manifest turns invalid, unreadable or half-written keeps serving its
//!   last good version (discovery reports `manifest_invalid`); only a
//!   plugin whose manifest is gone is unloaded.
//! - **Dependencies.** Plugins start in load order, each after what it
//!   requires; a plugin that fails to load takes its dependents down (each
//!   reported), the rest start. Plugins call each other through the host
//!   by name, so a dependency's swap needs no reload of its dependents; a
//!   swap the dependents' constraints do not admit is refused by the
//!   resolver (`UpdateRefused`), and a dependent whose new version needs a
//!   dependency that failed to swap keeps its old version. When a plugin
//!   is removed, its dependents are unloaded first (the resolver drops
//!   them; policy: unload, never leave a plugin calling a gone one).
//! - **Kept versions.** Each loaded version's manifest and artifact are
//!   copied aside ([`HotLoadConfig::backup_versions`] are kept), so
//!   [`rollback`](DynamicLoader::rollback) works even when the files were
//!   deleted or overwritten.
//!
//! What native swaps leave behind: a native library is never unmapped
//! (see `plugin_loader::native`), so each native swap keeps the old image
//! mapped; prefer the process transport for plugins swapped very often.
#![deny(missing_docs)]

mod config;
mod error;
mod event;
mod host;
mod plan;
mod status;

pub use config::{HostConfig, HotLoadConfig, StateRefused};
pub use error::{HostCallError, HostError};
pub use event::{HostEvent, HotLoadEvent, LifecycleMonitor};
pub use host::{DynamicLoader, JsonReply, StartReport};
/// The resolver's bounds, as [`HostConfig::resolve_limits`] takes them.
pub use plugin_resolver::ResolveLimits;
pub use status::{Dependencies, PluginState, PluginStatus};
