//! What a plugin author depends on: the [`Plugin`] trait, typed methods on
//! top of bytes, and [`export_plugin!`], which exports a plugin from a
//! `cdylib` through a checked stable ABI.
//!
//! ```
//! use plugkit_sdk::{Methods, Plugin, PluginError, PluginInfo, Response, Version};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! pub struct GreetRequest { pub name: String }
//! #[derive(Serialize, Deserialize)]
//! pub struct GreetReply { pub text: String }
//!
//! pub struct Greeter { methods: Methods<Greeter> }
//!
//! impl Default for Greeter {
//!     fn default() -> Self {
//!         Greeter { methods: Methods::new().method("greet", Greeter::greet) }
//!     }
//! }
//!
//! impl Greeter {
//!     fn greet(&self, request: GreetRequest) -> Result<GreetReply, PluginError> {
//!         Ok(GreetReply { text: format!("hello, {}", request.name) })
//!     }
//! }
//!
//! impl Plugin for Greeter {
//!     fn info(&self) -> PluginInfo {
//!         PluginInfo::new("greeter", Version::new(1, 0, 0)).with_capabilities(["greet"])
//!     }
//!     fn call(&self, method: &str, request: &[u8], response: &mut Response<'_>) -> Result<(), PluginError> {
//!         self.methods.dispatch(self, method, request, response)
//!     }
//! }
//!
//! // In the plugin's crate (crate-type = ["cdylib"]) this one line exports it:
//! // plugkit_sdk::export_plugin!(Greeter);
//!
//! // The same plugin, called directly (as unit tests do):
//! let greeter = Greeter::default();
//! let request = plugkit_sdk::encode(&GreetRequest { name: "Ada".into() })?;
//! let mut buffer = Vec::new();
//! greeter.call("greet", &request, &mut Response::new(&mut buffer))?;
//! let reply: GreetReply = plugkit_sdk::decode(&buffer)?;
//! assert_eq!(reply.text, "hello, Ada");
//! # Ok::<(), PluginError>(())
//! ```
//!
//! # Design
//!
//! - **One trait, any transport.** A plugin implements [`Plugin`] once: bytes
//!   in, bytes out, plus `info`, `init`, `health`, `shutdown`.
//!   [`export_plugin!`] exports it from a `cdylib` (native transport);
//!   [`serve`] runs the same code as a child process speaking the
//!   [`protocol`] over stdio (process transport), with no async runtime.
//! - **A checked ABI.** [`export_plugin!`] exports an abi_stable root module
//!   ([`abi::PluginModule`]). The host checks its layout and the SDK version
//!   it was built with before calling anything, so a library built against
//!   an incompatible SDK is refused with a clear error instead of crashing.
//!   Authors write no `unsafe` and see no abi_stable type.
//! - **Panics stop at the boundary.** Every entry point runs the plugin
//!   under `catch_unwind`; a panic becomes an error naming the method.
//! - **Calls do not allocate.** The request is borrowed and the response is
//!   written into a buffer the host lends ([`Response`]).
//! - **Typed methods.** [`Methods`] registers `fn(&P, Req) -> Result<Resp,
//!   PluginError>` handlers by name; requests and replies are encoded with
//!   [`ENCODING`] (postcard), which the plugin reports in its info.
//! - **Small builds.** The SDK depends on abi_stable, serde, postcard and
//!   `plugin-version` only: no async runtime, no solver, no file watcher
//!   (checked by the workspace's tidy test).
#![deny(missing_docs)]

pub mod abi;
mod export;
mod plugin;
pub mod protocol;
mod serve;
mod typed;

pub use plugin::{
    ErrorKind, Health, InitContext, LogLevel, LogSink, Logger, Plugin, PluginError, PluginInfo,
    Response,
};
pub use plugin_version::Version;
pub use serve::{run as serve_on, serve};
pub use typed::{ENCODING, Methods, decode, encode, encode_into, typed};

/// The version of this SDK, recorded in every plugin built with it.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What [`export_plugin!`] expands to; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{Exported, Slot, module};
    pub use abi_stable;
}

#[cfg(test)]
mod tests {
    /// `export_plugin!` spells out abi_stable's root-module symbol (so
    /// authors need no abi_stable dependency); it must be the one abi_stable
    /// looks up.
    #[test]
    fn exported_symbol_is_abi_stables_loader_name() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}
