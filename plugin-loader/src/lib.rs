//! Turns one plugin artifact into a callable instance.
//!
//! This release loads **native** plugins: `cdylib`s built with
//! `plugkit-sdk`'s `export_plugin!`, opened through a checked stable ABI.
//! The process transport (child processes over stdio) comes in a later
//! release behind the same calls.
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
//! # What a load guarantees
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
//! What cannot be unloaded, and what it costs, is documented in [`native`].
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
