//! plugkit: a framework for Rust applications that load plugins at run time.
//!
//! This crate is a thin facade: each module is one of the layered crates of
//! the workspace, re-exported whole, so an application can depend on this one
//! crate while a plugin author or a tool depends only on the layer it needs.
//!
//! | module | crate | what it does |
//! |---|---|---|
//! | [`version`] | `plugin-version` | semver versions, npm-style constraints, version policy |
//! | [`manifest`] | `plugin-manifest` | manifest schema, JSON/YAML parsing, validation |
//! | [`resolver`] | `plugin-resolver` | PubGrub dependency resolution and load order |
//! | [`discovery`] | `plugin-discovery` | scanning and watching plugin directories |
//! | [`sdk`] | `plugkit-sdk` | what a plugin author implements and exports |
//! | [`loader`] | `plugin-loader` | native and process plugin loading |
//! | [`host`] | `plugin-host` | lifecycle of many plugins: hot swap, rollback |
#![deny(missing_docs)]

pub use plugin_discovery as discovery;
pub use plugin_host as host;
pub use plugin_loader as loader;
pub use plugin_manifest as manifest;
pub use plugin_resolver as resolver;
pub use plugin_version as version;
pub use plugkit_sdk as sdk;
