//! The plugkit plugin service over gRPC: the `.proto`
//! (`proto/plugkit/plugin/v1/plugin.proto`) and the Rust code generated
//! from it, committed.
//!
//! plugkit-sdk serves it (feature `grpc`: `serve_grpc`, and `--grpc-listen`
//! for plugin binaries); plugin-loader dials it (manifest `transport:
//! grpc`). This crate is only the wire contract, shared by both, so that
//! neither needs the other.
//!
//! ```
//! use plugin_grpc::v1::{CallRequest, call_reply};
//!
//! // A JSON call of the typed method `greet`, as a host sends it.
//! let request = CallRequest { method: "greet".into(), payload: br#"{"name":"Ada"}"#.to_vec(), json: true };
//! assert_eq!(request.method, "greet");
//! // A reply carries either the payload or the plugin's own error.
//! let ok = call_reply::Result::Payload(b"\"hello, Ada\"".to_vec());
//! assert!(matches!(ok, call_reply::Result::Payload(_)));
//! assert_eq!(plugin_grpc::SERVICE_NAME, "plugkit.plugin.v1.Plugin");
//! ```
//!
//! # Design
//!
//! - **No `protoc` in any build.** The generated code is committed in
//!   `src/generated/`, produced by protox (a pure-Rust `.proto` compiler)
//!   and tonic-prost-build's `compile_fds`. Both are dev-dependencies of
//!   this crate's `codegen` test only, which regenerates into a temporary
//!   directory and fails when the committed file differs (so `cargo test
//!   --workspace` catches a `.proto` edited without regenerating); a
//!   default build compiles neither. `PLUGKIT_REGENERATE_GRPC=1 cargo test
//!   -p plugin-grpc --test codegen` rewrites the file.
//! - **Lean.** Only tonic's `codegen` feature: the stubs are generic over
//!   the transport, and the crates that serve (plugkit-sdk) and dial
//!   (plugin-loader) choose tonic's server, channel and TLS features.
//! - **A plugin's error is an answer, not a status.** `Call` answers with
//!   the payload or the plugin's [`v1::PluginError`]; a gRPC status always
//!   means the transport or the server failed, so a host can tell "the
//!   plugin said no" from "the call may not have arrived".
//! - **Unary calls, streamed health.** Each call is one HTTP/2 stream
//!   already multiplexed on one connection, so a unary `Call` costs no
//!   more than a stream would. Health is where streaming earns its place:
//!   the standard `grpc.health.v1.Health/Watch` (served beside this service
//!   under [`SERVICE_NAME`]) tells a host the moment an endpoint stops
//!   serving or its connection breaks, without polling.
//! - **Versions.** [`GRPC_PROTOCOL_VERSION`] travels in `Info`; a host
//!   accepts [`SUPPORTED_GRPC_PROTOCOLS`]. Fields are only added (proto3
//!   rules); a breaking change is a new package (`v2`).
#![deny(missing_docs)]

#[allow(missing_docs, unreachable_pub, clippy::all, rust_2018_idioms)]
#[path = "generated/plugkit.plugin.v1.rs"]
pub mod v1;

/// The fully qualified name of the plugin service, which is also the
/// service name its `grpc.health.v1` status is kept under.
pub const SERVICE_NAME: &str = "plugkit.plugin.v1.Plugin";

/// The gRPC protocol version this crate describes (sent in `Info`).
pub const GRPC_PROTOCOL_VERSION: u32 = 1;

/// The protocol versions a host built with this crate accepts.
pub const SUPPORTED_GRPC_PROTOCOLS: std::ops::RangeInclusive<u32> = 1..=GRPC_PROTOCOL_VERSION;

/// The largest message either side accepts by default (16 MiB, like the
/// process protocol's frames; tonic's own default is 4 MiB).
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;

/// An error with its sources, `outer: inner: innermost` (a source whose
/// text the chain holds already is not repeated; 16 levels at most): how
/// both ends of the transport report what tonic, hyper and rustls say.
///
/// ```
/// let error = std::io::Error::other("connection refused");
/// assert_eq!(plugin_grpc::error_chain(&error), "connection refused");
/// ```
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    let mut depth = 0;
    while let Some(inner) = source
        && depth < 16
    {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
        depth += 1;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::v1::plugin_server::SERVICE_NAME;

    #[test]
    fn the_service_name_is_the_generated_one() {
        assert_eq!(SERVICE_NAME, super::SERVICE_NAME);
    }
}
