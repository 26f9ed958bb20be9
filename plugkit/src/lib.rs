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
//! | [`events`] | `plugin-events` | the one event stream type (publisher, subscriptions) |
//! | [`discovery`] | `plugin-discovery` | scanning and watching plugin directories |
//! | [`sdk`] | `plugkit-sdk` | what a plugin author implements and exports |
//! | [`loader`] | `plugin-loader` | one `Instance` over native and process plugins |
//! | [`host`] | `plugin-host` | lifecycle of many plugins: `DynamicLoader`, hot swap, rollback |
//! | [`Host`] | (this crate) | `Host::builder()`: a running host in one expression |
//!
//! ```
//! use plugkit::manifest;
//! use plugkit::resolver::{Registry, ResolveOptions, Wanted, resolve};
//! use plugkit::version::{Constraint, parse_version};
//!
//! // Manifests as discovery would read them from plugin directories.
//! let greeter = manifest::parse(br#"
//! name: greeter
//! version: 1.2.0
//! transport: native
//! endpoint: libgreeter.so
//! requirements:
//!   required_plugins: [kv-store ^1.0]
//! "#, "greeter/plugin-manifest.yaml")?.manifest;
//! let kv = manifest::parse(
//!     br#"{"name": "kv-store", "version": "1.4.1", "transport": "process", "endpoint": "bin/kv"}"#,
//!     "kv-store/plugin-manifest.json",
//! )?.manifest;
//!
//! // Versions follow npm's rules: a bare version is an exact match.
//! assert!(Constraint::parse("^1.0")?.matches(kv.version()));
//! assert!(!Constraint::parse("1.4.0")?.matches(&parse_version("1.4.1")?));
//!
//! // Resolve what to load, and in which order.
//! let mut registry = Registry::new();
//! registry.add_manifest(&greeter)?;
//! registry.add_manifest(&kv)?;
//! let resolution = resolve(&registry, &[Wanted::new("greeter")], &ResolveOptions::default())?;
//! assert_eq!(resolution.load_order(), ["kv-store", "greeter"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A running host in one expression
//!
//! [`Host::builder`] gives a host with auto-discovery and hot loading; the
//! advanced path sets the discovery configuration, version policy,
//! resolution strategy, hot-load and rollback settings, resource limits
//! and a lifecycle monitor on the same builder.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let plugins = tempfile::tempdir()?;
//! # let dir = plugins.path();
//! let host = plugkit::Host::builder()
//!     .from_directory(dir)           // "./plugins"
//!     .with_pattern("*-plugin")
//!     .with_defaults()
//!     .build()
//!     .await?;
//! // Typed calls go through the plugin's interface crate
//! // (`host.call_typed("greeter", "greet", &request)`), JSON calls need none:
//! let error = host
//!     .call_json("greeter", "greet", &serde_json::json!({"name": "Ada"}))
//!     .await
//!     .unwrap_err();
//! assert_eq!(error.to_string(), "plugin greeter is not loaded"); // the directory is empty
//! host.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! To watch a host from its very first scan, take its events with it:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use plugkit::discovery::DiscoveryEvent;
//! use plugkit::host::HostEvent;
//!
//! let plugins = tempfile::tempdir()?;
//! std::fs::create_dir(plugins.path().join("broken"))?;
//! std::fs::write(plugins.path().join("broken/plugin-manifest.yaml"), "name: broken\n")?;
//! let (host, mut events) = plugkit::Host::builder()
//!     .from_directory(plugins.path())
//!     .build_with_events()
//!     .await?;
//! // The first scan's events come first, the invalid manifest among them.
//! let first = events.recv().await?;
//! assert!(matches!(
//!     first,
//!     HostEvent::Discovery(event) if matches!(*event, DiscoveryEvent::ManifestInvalid { .. })
//! ));
//! assert!(host.start_report().loaded.is_empty());
//! host.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod builder;

pub use builder::{Host, HostBuilder};
pub use plugin_discovery as discovery;
pub use plugin_events as events;
pub use plugin_host as host;
pub use plugin_loader as loader;
pub use plugin_manifest as manifest;
pub use plugin_resolver as resolver;
pub use plugin_version as version;
pub use plugkit_sdk as sdk;
