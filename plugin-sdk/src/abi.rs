//! The stable ABI between a host and a native plugin: one abi_stable root
//! module of `extern "C"` functions. Plugin authors never touch this; the
//! loader (host side) and [`export_plugin!`](crate::export_plugin) (plugin
//! side) do.
//!
//! The layout of every type here is recorded in the library and checked by
//! abi_stable when the host loads it, and the root module carries this SDK's
//! version: a library built against an SDK with another major version (or,
//! before 1.0, another minor version) is refused before any of its code runs.
//!
//! A call borrows the method name and the request (`RStr`, `RSlice`) and
//! writes into a response buffer the host lends (`&mut RVec<u8>`), so a call
//! allocates nothing once the host's buffer has grown to size.

use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RResult, RSlice, RStr, RString, RVec};
use abi_stable::{StableAbi, declare_root_module_statics, package_version_strings};

#[cfg(doc)]
use crate::plugin::LogSink;
use crate::plugin::{ErrorKind, PluginError};

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
}

/// [`ErrorKind`] across the ABI.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfiErrorKind {
    /// See [`ErrorKind::UnknownMethod`].
    UnknownMethod,
    /// See [`ErrorKind::BadRequest`].
    BadRequest,
    /// See [`ErrorKind::Failed`].
    Failed,
    /// See [`ErrorKind::Panicked`].
    Panicked,
    /// See [`ErrorKind::NotInitialized`].
    NotInitialized,
}

/// A [`PluginError`] across the ABI.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct FfiError {
    /// What kind of failure.
    pub kind: FfiErrorKind,
    /// The message.
    pub message: RString,
}

impl From<PluginError> for FfiError {
    fn from(error: PluginError) -> Self {
        let kind = match error.kind() {
            ErrorKind::UnknownMethod => FfiErrorKind::UnknownMethod,
            ErrorKind::BadRequest => FfiErrorKind::BadRequest,
            ErrorKind::Failed => FfiErrorKind::Failed,
            ErrorKind::Panicked => FfiErrorKind::Panicked,
            ErrorKind::NotInitialized => FfiErrorKind::NotInitialized,
        };
        FfiError {
            kind,
            message: RString::from(error.message()),
        }
    }
}

impl From<FfiError> for PluginError {
    fn from(error: FfiError) -> Self {
        let kind = match error.kind {
            FfiErrorKind::UnknownMethod => ErrorKind::UnknownMethod,
            FfiErrorKind::BadRequest => ErrorKind::BadRequest,
            FfiErrorKind::Failed => ErrorKind::Failed,
            FfiErrorKind::Panicked => ErrorKind::Panicked,
            FfiErrorKind::NotInitialized => ErrorKind::NotInitialized,
        };
        PluginError::new(kind, error.message.into_string())
    }
}

/// Health across the ABI: `status` 0 healthy, 1 degraded, 2 unhealthy.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct FfiHealth {
    /// 0 healthy, 1 degraded, 2 unhealthy.
    pub status: u8,
    /// Why, for degraded and unhealthy.
    pub message: RString,
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
