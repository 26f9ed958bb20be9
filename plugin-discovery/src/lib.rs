//! Filesystem discovery of plugins: scanning directories for manifests,
//! watching them, and discovery events.
//!
//! Discovery finds manifest files (`plugin-manifest.json`,
//! `plugin-manifest.yaml`, `plugin-manifest.yml`) under a list of search
//! directories, reads and validates them with `plugin-manifest`, and reports
//! the valid plugins apart from everything else: invalid manifests with their
//! diagnostics, plugins skipped with the reason, and paths that could not be
//! read with their IO error. One bad file never stops a scan, and a search
//! directory that is missing or unreadable is reported, not fatal (a front
//! end decides what it means: the `plugkit` command line makes a directory
//! it was given that does not exist an IO error). A search directory may be
//! relative or absolute; paths keep the spelling given.
//!
//! # Scanning
//!
//! ```
//! use plugin_discovery::{DiscoveryConfig, SkipReason, discover};
//!
//! # let tree = tempfile::tempdir()?;
//! # let plugins = tree.path();
//! std::fs::create_dir_all(plugins.join("greeter"))?;
//! std::fs::write(
//!     plugins.join("greeter/plugin-manifest.yaml"),
//!     "name: greeter\nversion: 1.0.0\ntransport: native\nendpoint: libgreeter.so\ncapabilities: [greet]\n",
//! )?;
//! std::fs::create_dir_all(plugins.join("mute"))?;
//! std::fs::write(
//!     plugins.join("mute/plugin-manifest.json"),
//!     r#"{"name": "mute", "version": "0.1.0", "transport": "process", "endpoint": "mute-plugin"}"#,
//! )?;
//!
//! let mut config = DiscoveryConfig::new([plugins]);
//! config.required_capabilities.push("greet".into());
//! let found = discover(&config)?;
//!
//! assert_eq!(found.plugins.len(), 1);
//! let greeter = &found.plugins[0];
//! assert_eq!((greeter.name(), greeter.version().to_string().as_str()), ("greeter", "1.0.0"));
//! assert_eq!(greeter.artifact_path, Some(plugins.join("greeter/libgreeter.so")));
//!
//! // The plugin without the capability is reported, with why.
//! assert_eq!(
//!     found.skipped[0].reason,
//!     SkipReason::MissingCapability { capability: "greet".into() }
//! );
//! assert!(found.invalid.is_empty() && found.errors.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`DiscoveryConfig`] holds every option of the guide's discovery engine:
//! search directories, artifact patterns (`*.so`, `*.dll`, `*.dylib`,
//! `*-plugin`), manifest file names, maximum depth, symlink policy, excluded
//! paths and globs, manifest validation on or off, required fields, required
//! capabilities, allowed transports, and the watch-mode settings.
//!
//! Walking uses `walkdir` (which also detects symlink loops), patterns use
//! `globset`, and manifests are read and parsed in parallel with `rayon`, so a
//! large tree keeps both cores busy.
//!
//! # Watching
//!
//! ```no_run
//! use plugin_discovery::{DiscoveryConfig, DiscoveryEngine, DiscoveryEvent, RecvError};
//!
//! let engine = DiscoveryEngine::new(DiscoveryConfig::new(["plugins"]))?;
//! engine.set_error_handler(|error| eprintln!("discovery: {}", error.to_string_with_causes()));
//! let mut events = engine.subscribe(); // before start: the first scan arrives as events too
//! engine.start()?;
//! loop {
//!     match events.blocking_recv() {
//!         Ok(DiscoveryEvent::Discovered { plugin }) => println!("new: {}", plugin.name()),
//!         Ok(DiscoveryEvent::Updated { plugin, old_version }) => {
//!             println!("{} {old_version} -> {}", plugin.name(), plugin.version())
//!         }
//!         Ok(other) => println!("{other}"), // an event's Display is its line
//!         Err(RecvError::Lagged(missed)) => eprintln!("missed {missed} events"),
//!         Err(_) => break, // the engine stopped
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Events go to any number of [`Subscription`]s (the workspace's one event
//! stream type, from `plugin-events`): a subscriber that falls behind loses the
//! oldest events and is told how many ([`RecvError::Lagged`]), and never
//! slows discovery down. A subscription works from async code
//! ([`Subscription::recv`]) and from plain threads
//! ([`Subscription::blocking_recv`], [`Subscription::recv_timeout`]); no
//! runtime is needed.
//!
//! # Plugins on other machines: etcd (feature `etcd`)
//!
//! Beside the directories, discovery can watch an etcd cluster where
//! remote (gRPC) plugin instances register
//! ([`DiscoveryConfig::with_etcd`], [`EtcdSource`]). The record is a
//! contract: key `<prefix>/<name>/<version>/<instance-id>` (default prefix
//! [`DEFAULT_ETCD_PREFIX`]), value the manifest as JSON with
//! `transport: grpc` and `endpoint` the `host:port` the instance listens
//! on, bound to a lease the instance keeps alive (`Registration`, behind
//! the feature; `plugkit register` on the command line).
//!
//! - The instances of one name and version are **one** [`DiscoveredPlugin`]
//!   whose [`instances`](DiscoveredPlugin::instances) (and
//!   [`endpoints`](DiscoveredPlugin::endpoints)) are the set a client
//!   balances over. Its `manifest_path` is the path-like
//!   `<prefix>/<name>/<version>`, its `artifact_path` is `None`, and its
//!   manifest is that of its earliest registered live instance.
//! - Its first instance is [`DiscoveryEvent::Discovered`]; another
//!   instance coming or going is [`DiscoveryEvent::EndpointsChanged`] (a
//!   membership change: nothing to swap); its last instance going (lease
//!   expired or revoked) is [`DiscoveryEvent::Removed`]; a manifest that
//!   changes in anything but its endpoint is [`DiscoveryEvent::Updated`].
//! - A value that is not a valid manifest is
//!   [`DiscoveryEvent::ManifestInvalid`] at its key; a record with another
//!   transport, or whose key does not match its manifest, is
//!   [`DiscoveryEvent::Skipped`] ([`SkipReason::TransportNotAllowed`],
//!   [`SkipReason::RecordKey`]). The configured filters apply as to files.
//! - One [`Discovery`] holds both sources: a name and version found in a
//!   directory and in etcd is the directory's (the registered one is
//!   [`SkipReason::Duplicate`]). Events are the difference between two
//!   merged states, so they are exact whichever source changed.
//! - The watch resumes where it broke off (from the revision after the
//!   last change it applied), so a restarted server or a dropped
//!   connection loses nothing; a revision compacted meanwhile is answered
//!   by listing the prefix again, and since events are a diff, nothing is
//!   sent twice. An unreachable cluster is a [`DiscoveryError::Etcd`],
//!   reported once per outage, and is retried (50 ms doubling up to
//!   [`EtcdSource::retry_interval`]).
//! - The client (`etcd-client`, tonic) runs on threads of its own with a
//!   current-thread runtime, so the engine's API stays synchronous and
//!   usable from inside any async runtime.
//!
//! Without the feature a configuration naming an etcd source is refused
//! ([`ConfigError::EtcdUnavailable`]): a default build needs nothing but
//! Rust (the feature's build runs `protoc`).
//!
//! # Design decisions
//!
//! **Duplicates.** When two manifests claim the same name and version at
//! different paths, one wins and the other is reported as
//! [`SkipReason::Duplicate`]: the one in the earlier search directory (the
//! order of [`DiscoveryConfig::directories`], like `PATH`), then the one fewer
//! levels down, then the path that sorts first. Different versions of one
//! plugin are all returned: choosing among them is the resolver's job. When
//! one directory holds several manifest files, the one whose name comes first
//! in [`DiscoveryConfig::manifest_names`] is the plugin's manifest and the
//! others are [`SkipReason::Shadowed`].
//!
//! **State model.** A scan produces one entry per path (a manifest read, an
//! error, a symlink not followed), and a pure function turns the entries into
//! a [`Discovery`]. Watch mode keeps the entries as its model of the current
//! state. A change rescans only the affected region (the changed file, or
//! the changed directory with everything below it, or the manifest whose
//! artifact changed), replaces that region's entries, selects again and
//! sends the *difference* between the old and the new [`Discovery`] as
//! events. So events are exact by construction: nothing is sent twice, a
//! change that leaves a plugin as it was sends nothing, a rescan of an
//! unchanged region sends nothing, and [`DiscoveryEvent::Updated`] carries the
//! version the plugin had. Events are per manifest path: a plugin directory
//! moved elsewhere in the tree is `Removed` at the old path and `Discovered`
//! at the new one. An artifact counts as changed when its size, modification
//! time, inode or change time differs (a rebuild in place is an update).
//!
//! **New directories.** A directory that appears (`mkdir -p a/b`, a plugin
//! directory moved in) is scanned as a whole as soon as it has settled,
//! because files can land in it before its watch is in place, and scanned
//! once more a moment later (four debounce periods, at least 200 ms) to catch
//! what landed between that scan and the watch. The second look sends
//! events only if something really was missed. This makes the stable `notify`
//! 8 enough: the `9.0.0-rc` line reports the subdirectories created before
//! their watch was added, but not the files in them, which we need anyway.
//!
//! **Debouncing.** Per path: a path is looked at once it has been quiet for
//! [`DiscoveryConfig::debounce`] (50 ms by default), or at the latest twenty
//! debounce periods (at least 1 s) after its first change if it never goes
//! quiet. All paths that are due are handled in one batch. A manifest
//! modified within the last debounce period when a directory scan meets it is
//! left for its own debounce, so a half-written file is not reported as
//! invalid. Editors' patterns (write in place, write a temporary file and
//! rename it over, delete and re-create) become one event. Opening and
//! reading files (discovery's own reads included) are ignored.
//!
//! **Fallback.** If the native watcher cannot be used (it cannot start, the
//! limit of inotify watches is reached, it fails while watching) discovery
//! switches to polling: every [`DiscoveryConfig::poll_interval`] it rescans
//! all search directories, rereading only manifests whose size, times or
//! inode changed, and diffs as above. The switch is announced by a
//! [`DiscoveryEvent::Warning`] and a `tracing` warning. An event-queue
//! overflow also triggers a full rescan. [`WatchBackend::Poll`] chooses
//! polling from the start.
//!
//! **Errors.** [`DiscoveryError`]s name their path and keep their cause as
//! `source()`. They are collected in [`Discovery::errors`] and handed to the
//! [`DiscoveryEngine::set_error_handler`] hook (in watch mode, once when they
//! first appear).
//!
//! **Limits.** Manifests are read with [`DiscoveryConfig::limits`] (1 MiB by
//! default): a larger file is refused from its metadata before it is read
//! ([`DiscoveryError::TooLarge`], with its real size and the limit), and no
//! read goes further than the limit. Only regular files are opened (a FIFO
//! named like a manifest cannot block a scan), and with symlinks followed a
//! link back to an ancestor is reported as [`DiscoveryError::SymlinkLoop`].
//! [`read_manifest_file`] is this bounded read, for other readers of
//! manifests (the CLI's `manifest check` uses it).
//!
//! What is not covered: the native backend does not watch a search
//! directory that is missing when watching starts, nor one deleted and
//! re-created while watched (its contents are reported removed); polling
//! ([`WatchBackend::Poll`]) sees both. The native backend watches excluded
//! directories too (notify's recursive watches cannot skip them; their
//! events are dropped), which counts against the inotify watch limit.
#![deny(missing_docs)]
// Some docs link the `etcd` feature's items; without the feature they
// render as text.
#![cfg_attr(not(feature = "etcd"), allow(rustdoc::broken_intra_doc_links))]

mod config;
mod display;
mod engine;
mod error;
#[cfg(feature = "etcd")]
mod etcd;
mod event;
mod model;
mod read;
mod remote;
mod scan;
mod select;
mod shared;
mod watch;

pub use config::{
    ConfigError, DEFAULT_ARTIFACT_PATTERNS, DiscoveryConfig, RequiredField, WatchBackend,
};
pub use display::{printable, printable_path};
pub use engine::{DiscoveryEngine, StartError, discover};
pub use error::DiscoveryError;
#[cfg(feature = "etcd")]
pub use etcd::{RecordError, RegisterError, Registration, grpc_record};
pub use event::{DiscoveryEvent, Subscription};
pub use model::{
    DiscoveredPlugin, Discovery, InvalidManifest, RegisteredInstance, SkipReason, SkippedPlugin,
};
pub use plugin_events::RecvError;
pub use plugin_manifest::{MANIFEST_FILE_NAMES, Transport};
pub use read::{SpecialFiles, read_manifest_file};
pub use remote::{DEFAULT_ETCD_PREFIX, EtcdSource};
