//! Turns one plugin artifact into a callable instance.
//!
//! Two transports, one plugin code base:
//!
//! - **native** ([`NativeLoader`]): `cdylib`s built with `plugkit-sdk`'s
//!   `export_plugin!`, opened in-process through a checked stable ABI;
//! - **process** ([`ProcessLoader`], async on tokio): executables whose
//!   `main` calls `plugkit_sdk::serve`, run as supervised child processes
//!   speaking the SDK's framed protocol over stdio (see [`process`]).
//!
//! ```no_run
//! use std::path::Path;
//! use plugin_loader::NativeLoader;
//!
//! let dir = Path::new("plugins/greeter");
//! let bytes = std::fs::read(dir.join("plugin-manifest.yaml"))?;
//! let manifest = plugin_manifest::parse(&bytes, "plugin-manifest.yaml")?.manifest;
//!
//! let loader = NativeLoader::new("target/plugkit-cache");
//! let greeter = loader.load(&manifest, dir)?;
//! let reply: String = greeter.call_typed("greet", &"Ada".to_string())?;
//! println!("{reply}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same plugin as a child process (manifest `transport: process`):
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//! use plugin_loader::ProcessLoader;
//!
//! let dir = Path::new("plugins/greeter-process");
//! let bytes = std::fs::read(dir.join("plugin-manifest.yaml"))?;
//! let manifest = plugin_manifest::parse(&bytes, "plugin-manifest.yaml")?.manifest;
//! let greeter = ProcessLoader::default().load(&manifest, dir).await?;
//! let reply: String = greeter.call_typed("greet", &"Ada".to_string()).await?;
//! println!("{reply}, from process {:?}", greeter.pid());
//! greeter.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # What a native load guarantees
//!
//! - The manifest's `checksum` is verified on the exact bytes that are then
//!   loaded, before any of the plugin's code is mapped.
//! - A library built against an incompatible SDK, a library that is not a
//!   plugin, a file that is not a library at all, a missing file and a
//!   library whose `info()` differs from its manifest each fail with their
//!   own [`LoadError`] variant, never a crash.
//! - Each load is a fresh library image (the artifact is copied to a unique
//!   path first), so version 2 of a plugin really runs version 2's code
//!   while version 1 is still loaded.
//! - A panic in a plugin's `call`, `init` or `health` comes back as an error
//!   naming the plugin and the method; the plugin is then marked failed and
//!   refuses further calls ([`CallError::Failed`]).
//!
//! What cannot be unloaded, and what it costs, is documented in [`native`];
//! the process transport's handshake, fault handling, restarts, limits and
//! shutdown in [`process`].
#![deny(missing_docs)]

mod error;
mod limits;
pub mod native;
pub mod process;

pub use error::{CallError, LoadError};
pub use native::{NativeLoader, NativePlugin, ResponseBuffer};
pub use plugkit_sdk::{Health, PluginError};
pub use process::{
    ProcessConfig, ProcessEvent, ProcessLoader, ProcessPlugin, ProcessState, RestartPolicy,
};
