//! The stable ABI between a host and a native plugin: one abi_stable root
//! module of `extern "C"` functions. Plugin authors never touch this; the
//! loader (host side) and [`export_plugin!`](crate::export_plugin) (plugin
//! side) do.
//!
//! The layout of every type here is recorded in the library and checked by
//! abi_stable when the host loads it, and the root module carries this SDK's
//! version: a library built against an SDK with another major version (or,
//! before 1.0, another minor version) is refused before any of its code runs
//! (the [compatibility policy](crate#compatibility) says which changes bump
//! which number).
//!
//! A call borrows the method name and the request (`RStr`, `RSlice`) and
//! writes into a response buffer the host lends (`&mut RVec<u8>`), so a call
//! allocates nothing once the host's buffer has grown to size.

use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{ROption, RResult, RSlice, RStr, RString, RVec};
use abi_stable::{StableAbi, declare_root_module_statics, package_version_strings};

#[cfg(doc)]
use crate::plugin::LogSink;
use crate::plugin::{ErrorKind, Health, MethodInfo, PluginError, State};

/// What `info` returns across the ABI.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct FfiInfo {
    /// The plugin's name.
    pub name: RString,
    /// The plugin's version, as text.
    pub version: RString,
    /// Its capabilities.
    pub capabilities: RVec<RString>,
    /// The version of plugkit-sdk the plugin was built with.
    pub sdk_version: RString,
    /// The encoding of typed requests and responses (see [`ENCODING`](crate::ENCODING)).
    pub encoding: RString,
    /// The format of the state the plugin hands over, if any.
    pub state_format: ROption<RString>,
}

/// A [`State`] across the ABI.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct FfiState {
    /// The format.
    pub format: RString,
    /// The bytes.
    pub bytes: RVec<u8>,
}

impl From<State> for FfiState {
    fn from(state: State) -> Self {
        FfiState {
            format: RString::from(state.format),
            bytes: RVec::from(state.bytes),
        }
    }
}

impl From<FfiState> for State {
    fn from(state: FfiState) -> Self {
        State::new(state.format.into_string(), state.bytes.into_vec())
    }
}

/// A [`PluginError`] across the ABI. The kind is the SDK's own
/// [`ErrorKind`] (its layout is part of the checked root module).
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct FfiError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The message.
    pub message: RString,
}

impl From<PluginError> for FfiError {
    fn from(error: PluginError) -> Self {
        FfiError {
            kind: error.kind(),
            message: RString::from(error.message()),
        }
    }
}

impl From<FfiError> for PluginError {
    fn from(error: FfiError) -> Self {
        PluginError::new(error.kind, error.message.into_string())
    }
}

/// Whether a plugin is healthy, across the ABI.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfiHealthStatus {
    /// [`Health::Healthy`].
    Healthy,
    /// [`Health::Degraded`].
    Degraded,
    /// [`Health::Unhealthy`].
    Unhealthy,
}

/// A [`Health`] across the ABI; the one place where it is encoded and
/// decoded for the native transport (the process protocol carries
/// [`Health`] itself).
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct FfiHealth {
    /// How the plugin is.
    pub status: FfiHealthStatus,
    /// Why, for degraded and unhealthy.
    pub message: RString,
}

impl From<Health> for FfiHealth {
    fn from(health: Health) -> Self {
        let (status, message) = match health {
            Health::Healthy => (FfiHealthStatus::Healthy, String::new()),
            Health::Degraded(why) => (FfiHealthStatus::Degraded, why),
            Health::Unhealthy(why) => (FfiHealthStatus::Unhealthy, why),
        };
        FfiHealth {
            status,
            message: RString::from(message),
        }
    }
}

impl From<FfiHealth> for Health {
    fn from(health: FfiHealth) -> Self {
        let message = health.message.into_string();
        match health.status {
            FfiHealthStatus::Healthy => Health::Healthy,
            FfiHealthStatus::Degraded => Health::Degraded(message),
            FfiHealthStatus::Unhealthy => Health::Unhealthy(message),
        }
    }
}

/// A [`MethodInfo`] across the ABI.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct FfiMethod {
    /// The method's name.
    pub name: RString,
    /// Its request type.
    pub request: RString,
    /// Its reply type.
    pub response: RString,
}

impl From<&MethodInfo> for FfiMethod {
    fn from(info: &MethodInfo) -> Self {
        FfiMethod {
            name: RString::from(info.name.as_str()),
            request: RString::from(info.request.as_str()),
            response: RString::from(info.response.as_str()),
        }
    }
}

impl From<FfiMethod> for MethodInfo {
    fn from(method: FfiMethod) -> Self {
        MethodInfo::new(
            method.name.into_string(),
            method.request.into_string(),
            method.response.into_string(),
        )
    }
}

/// What `init` receives across the ABI.
#[repr(C)]
#[derive(StableAbi)]
pub struct FfiInitContext<'a> {
    /// The plugin's configuration as JSON.
    pub config_json: RStr<'a>,
    /// The host's log sink (the [`LogSink`] type, spelled out for the
    /// layout derive).
    pub log: extern "C" fn(level: u8, plugin: RStr<'_>, message: RStr<'_>),
}

/// The root module a native plugin exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
pub struct PluginModule {
    /// The plugin's info.
    pub info: extern "C" fn() -> RResult<FfiInfo, FfiError>,
    /// Initializes the plugin; no call before it succeeds.
    pub init: extern "C" fn(context: FfiInitContext<'_>) -> RResult<(), FfiError>,
    /// One call: borrowed method and request, host-lent response buffer.
    pub call: extern "C" fn(
        method: RStr<'_>,
        request: RSlice<'_, u8>,
        response: &mut RVec<u8>,
    ) -> RResult<(), FfiError>,
    /// One call with a JSON request and a JSON reply (typed methods only).
    pub call_json: extern "C" fn(
        method: RStr<'_>,
        request: RSlice<'_, u8>,
        response: &mut RVec<u8>,
    ) -> RResult<(), FfiError>,
    /// The plugin's typed methods (empty when it registers none).
    pub methods: extern "C" fn() -> RResult<RVec<FfiMethod>, FfiError>,
    /// Hands the plugin's state over (none when it has none).
    pub export_state: extern "C" fn() -> RResult<ROption<FfiState>, FfiError>,
    /// Takes over a predecessor's state.
    pub import_state:
        extern "C" fn(format: RStr<'_>, bytes: RSlice<'_, u8>) -> RResult<(), FfiError>,
    /// A health check (an error only when the check itself failed: the
    /// plugin panicked or is not initialized).
    pub health: extern "C" fn() -> RResult<FfiHealth, FfiError>,
    /// Shuts the plugin down; no call after it.
    #[sabi(last_prefix_field)]
    pub shutdown: extern "C" fn() -> RResult<(), FfiError>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "plugkit_plugin";
    const NAME: &'static str = "plugkit plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
