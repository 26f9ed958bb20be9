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
//!     // `call` (and JSON calls, and the method list) come from the table.
//!     fn methods(&self) -> Option<&Methods<Self>> {
//!         Some(&self.methods)
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
//! - **Callable without the interface crate.** Every typed method also
//!   answers a JSON request with a JSON reply, and a plugin lists its
//!   methods with their types, so hosts with no Rust types for a plugin
//!   (the `plugkit` command line, scripts) can call it.
//! - **Small builds.** The SDK depends on abi_stable, serde, postcard and
//!   `plugin-version` only: no async runtime, no solver, no file watcher
//!   (checked by the workspace's tidy test). Serving over gRPC is behind
//!   the `grpc` feature, which brings tokio and tonic.
//!
//! # gRPC
//!
//! With the `grpc` feature, the same plugin also serves over gRPC, for
//! hosts on other machines (manifest `transport: grpc`):
//! [`serve_grpc`]`(plugin, addr)` from code, [`grpc::GrpcServer`] for
//! control (bound address, shutdown), and any plugin binary whose `main`
//! calls [`serve`] serves over gRPC when started with `--grpc-listen
//! HOST:PORT` (printing `listening on ADDR` first on stdout). Without the
//! feature, such a binary answers `--grpc-*` flags with a clear error and
//! exit status 2. See the [`grpc`] module (feature `grpc`) for TLS, health
//! and the design.
//!
//! # Compatibility
//!
//! A plugin and a host built with different plugkit-sdk versions meet
//! through one of two contracts, each with its own version number and one
//! rule for it.
//!
//! - **The native ABI** ([`abi`]) is versioned by [`SDK_VERSION`], read as
//!   Cargo reads semver: before 1.0 the minor number is the breaking one
//!   (0.**2**.x), from 1.0 the major. Any change to the root module or to
//!   a type that crosses it (a field, a function, a variant of
//!   [`ErrorKind`]) is a breaking change and bumps that number. A host
//!   accepts a library built with the same breaking number and any other
//!   number after it (0.2.0 and 0.2.7 meet); abi_stable then checks the
//!   layout of every type in the root module as well. A library outside
//!   the range is refused before any of its code runs, with an error that
//!   names both versions (the loader's `IncompatibleSdk`).
//! - **The process protocol** ([`protocol`]) is versioned by
//!   [`protocol::PROTOCOL_VERSION`], a plain integer: any change to the
//!   bytes of a message bumps it (postcard is not self-describing). A host
//!   accepts the versions in [`protocol::SUPPORTED_PROTOCOLS`]; a child
//!   speaking another is refused at the handshake, naming both.
//!
//! Changes so far: SDK 0.2 and protocol 2 added JSON calls, method
//! listings, the [`ErrorKind::Stopped`] kind and one encoding each for
//! error kinds and health; SDK 0.3 and protocol 3 added state hand-over
//! across a hot swap ([`Plugin::export_state`], [`Plugin::import_state`],
//! [`PluginInfo::with_state_format`]); protocol 4 (the same messages) added
//! the [call lane](protocol#the-call-lane-protocol-4), which a host uses
//! only with a child that says 4, so children of SDK 0.3 that say 3 keep
//! working unchanged.
#![deny(missing_docs)]
// The crate docs link the `grpc` feature's items; without the feature they
// render as text (docs.rs builds with it, see Cargo.toml).
#![cfg_attr(not(feature = "grpc"), allow(rustdoc::broken_intra_doc_links))]

pub mod abi;
mod export;
#[cfg(feature = "grpc")]
pub mod grpc;
mod plugin;
pub mod protocol;
mod serve;
mod typed;

#[cfg(feature = "grpc")]
pub use grpc::serve_grpc;
pub use plugin::{
    ErrorKind, Health, InitContext, LogLevel, LogSink, Logger, MethodInfo, Plugin, PluginError,
    PluginInfo, Response, State,
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
