//! Turns one plugin artifact into a callable [`Instance`].
//!
//! A [`Loader`] takes a manifest and its directory, picks the transport, and
//! hands back an [`Instance`], whatever the transport:
//!
//! - **native**: `cdylib`s built with `plugkit-sdk`'s `export_plugin!`,
//!   opened in-process through a checked stable ABI (see [`native`]);
//! - **process**: executables whose `main` calls `plugkit_sdk::serve`, run
//!   as supervised child processes speaking the SDK's framed protocol over
//!   stdio (see [`process`]);
//! - **grpc**: remote plugins (`plugkit_sdk::serve_grpc`, or a plugin
//!   binary started with `--grpc-listen`), dialled with tonic at one or
//!   more `host:port` endpoints, load-balanced, with TLS or mutual TLS,
//!   reconnecting with backoff (see [`grpc`]; [`Loader::load_remote`]
//!   takes an endpoint set, [`Instance::set_endpoints`] changes it).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use plugin_loader::{Loader, LoaderConfig};
//! use plugkit_example_interface::{GreetReply, GreetRequest};
//!
//! let dir = std::path::Path::new("plugins/greeter");
//! let bytes = std::fs::read(dir.join("plugin-manifest.yaml"))?;
//! let manifest = plugin_manifest::parse(&bytes, "plugin-manifest.yaml")?.manifest;
//!
//! let loader = Loader::new(LoaderConfig::default().with_cache_dir("target/plugkit-cache"));
//! let greeter = loader.load(&manifest, dir).await?;
//! // Typed, through the plugin's interface crate...
//! let reply: GreetReply = greeter.call_typed("greet", &GreetRequest { name: "Ada".into() }).await?;
//! // ...or JSON, with no Rust types at all.
//! let json = greeter.call_json("greet", &serde_json::json!({"name": "Ada"})).await?;
//! println!("{} / {json}", reply.text);
//! let outcome = greeter.shutdown(Duration::from_secs(5)).await;
//! println!("{} ({} calls abandoned)", outcome.ended, outcome.abandoned_calls);
//! # Ok(())
//! # }
//! ```
//!
//! # What an instance guarantees
//!
//! One state machine ([`InstanceState`]), one event stream
//! ([`InstanceEvent`] through a `plugin_events::Subscription`), one
//! shutdown ([`Instance::shutdown`], which drains the calls in flight), one
//! panic rule ([`FailureCause::Panicked`]) and one error type per
//! direction ([`LoadError`], [`CallError`]) for every transport; the
//! [`Instance`] docs list the guarantees.
//!
//! # What a load guarantees
//!
//! - The artifact is read only if it is a regular file within
//!   [`LoaderConfig::max_artifact_size`]; the manifest's `checksum` is
//!   verified on the exact bytes that are then loaded or run, and those
//!   bytes are copied into the cache directory first, so each load is a
//!   fresh library image (native) and a binary replaced on disk never
//!   changes what runs (process, restarts included).
//! - A library built against an incompatible SDK, a library that is not a
//!   plugin, a file that is not a library at all, a missing file, a child
//!   that speaks another protocol and a plugin whose `info()` differs from
//!   its manifest each fail with their own [`LoadError`] variant, never a
//!   crash.
//!
//! # Platforms
//!
//! The native transport works wherever abi_stable does (Linux, macOS,
//! Windows); it is tested on Linux. The process transport needs Unix
//! (process groups, signals); resource limits and the parent-death signal
//! are Linux-only, and elsewhere a manifest with limits is refused with
//! [`LoadError::Unsupported`].
#![deny(missing_docs)]

mod error;
pub mod grpc;
mod instance;
mod lifecycle;
mod limits;
mod loader;
mod log;
pub mod native;
pub mod process;
mod staging;

pub use error::{CallError, LoadError};
pub use grpc::{EndpointError, GrpcConfig, GrpcPlugin, GrpcTls};
pub use instance::{
    CrashCause, Ended, FailureCause, Instance, InstanceEvent, InstanceEventKind, InstanceInfo,
    InstanceState, InstanceStats, ShutdownOutcome,
};
pub use loader::{Loader, LoaderConfig};
pub use native::{NativePlugin, ResponseBuffer};
pub use plugin_events::{RecvError, Subscription};
pub use plugkit_sdk::{Health, MethodInfo, PluginError};
pub use process::{DefaultLimits, ProcessConfig, ProcessPlugin, RestartPolicy};
