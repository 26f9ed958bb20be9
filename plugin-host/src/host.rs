//! [`DynamicLoader`]: owns discovery, resolution, the running instances and
//! their versions; applies each change as a plan of steps
//! ([`plan`](crate::plan)), each step a small transaction.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use plugin_discovery::{DiscoveredPlugin, Discovery, DiscoveryConfig, DiscoveryEngine};
use plugin_events::{Publisher, Subscription};
use plugin_loader::{CallError, Health, Instance, InstanceEventKind, Loader};
use plugin_manifest::{Manifest, Transport};
use plugin_resolver::{
    DependencyKind, Registry, Resolution, ResolveError, ResolveOptions, Wanted, resolve,
};
use plugin_version::{Constraint, Verdict, Version};
use rustc_hash::FxHashMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::config::{HostConfig, StateRefused};
use crate::error::{HostCallError, HostError};
use crate::event::{HostEvent, HotLoadEvent, LifecycleMonitor};
use crate::plan::{Step, plan};
use crate::status::{Dependencies, PluginState, PluginStatus};

/// Events kept per subscriber before the oldest are dropped.
const EVENT_CAPACITY: usize = 1024;

/// How often a call refused by an instance that was just replaced is sent
/// again to its replacement before the host gives up.
const MAX_CALL_ATTEMPTS: usize = 8;

/// The most resolve-and-apply rounds of one change (each leaves out the
/// versions that failed in the one before).
const MAX_ROUNDS: usize = 8;

/// The longest a batch of discovery events is gathered, however many come
/// (each extends [`HostConfig::batch_window`]).
const MAX_BATCH: Duration = Duration::from_secs(1);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The calls' routing table: the instance that serves each plugin.
type Table = FxHashMap<String, Instance>;

/// Where a loaded version came from: its manifest and directory.
#[derive(Debug, Clone)]
struct Source {
    manifest: Manifest,
    /// The manifest file it was read from (discovery's path; a snapshot's
    /// for a rollback; for a plugin registered in etcd, its key).
    manifest_path: PathBuf,
    /// For a plugin registered in etcd: the endpoints of its instances
    /// (one plugin to the host, balanced by its instance). Empty for one
    /// found in a directory.
    endpoints: Vec<String>,
}

impl Source {
    fn from_discovered(plugin: &DiscoveredPlugin) -> Self {
        Source {
            manifest: plugin.manifest.clone(),
            manifest_path: plugin.manifest_path.clone(),
            endpoints: plugin.endpoints().map(str::to_string).collect(),
        }
    }

    fn dir(&self) -> &Path {
        self.manifest_path.parent().unwrap_or(Path::new("."))
    }

    fn version(&self) -> &Version {
        self.manifest.version()
    }
}

/// A running version.
struct Running {
    instance: Instance,
    source: Source,
    /// A copy of its manifest and artifact, for a later rollback.
    snapshot: Option<Source>,
}

/// What the host knows of one plugin, for status queries.
#[derive(Debug, Clone)]
struct Record {
    state: PluginState,
    version: Option<Version>,
    last_error: Option<String>,
    since: Instant,
    /// Earlier versions, newest first (snapshots).
    backups: VecDeque<Source>,
}

impl Record {
    fn new(state: PluginState, version: Option<Version>) -> Self {
        Record {
            state,
            version,
            last_error: None,
            since: Instant::now(),
            backups: VecDeque::new(),
        }
    }
}

/// What queries read without waiting for an operation in progress.
#[derive(Default)]
struct Snapshot {
    resolution: Option<Arc<Resolution>>,
    failure: Option<Arc<ResolveError>>,
    discovery: Arc<Discovery>,
    records: BTreeMap<String, Record>,
}

/// Owned by the operation lock: one change at a time.
#[derive(Default)]
struct State {
    running: BTreeMap<String, Running>,
    /// The order the running plugins were started in.
    order: Vec<String>,
    /// Constraints set by `update`.
    wants: BTreeMap<String, Constraint>,
    /// Plugins unloaded by hand: not loaded again until `load`.
    excluded: BTreeSet<String>,
    /// Plugins rolled back by hand: held at that version until `update` or `load`.
    pins: BTreeMap<String, Source>,
    /// Refused updates already reported, so each is reported once.
    refused: BTreeSet<(String, Version)>,
    /// Versions that failed to load, by the manifest they came from: not
    /// candidates again until discovery reports a change to that manifest
    /// (or its artifact), so a bad version is tried once, not at every
    /// re-resolution.
    bad: BTreeMap<(String, Version), PathBuf>,
    started: bool,
}

struct Inner {
    config: HostConfig,
    engine: DiscoveryEngine,
    loader: Loader,
    table: ArcSwap<Table>,
    /// Bumped whenever a route changes or a paused instance resumes: calls
    /// waiting out a state hand-over watch it.
    route_changes: tokio::sync::watch::Sender<u64>,
    ops: tokio::sync::Mutex<State>,
    snapshot: Mutex<Snapshot>,
    events: Publisher<HostEvent>,
    monitor: RwLock<Option<Arc<dyn LifecycleMonitor>>>,
    /// Old instances draining after a swap or an unload.
    draining: Mutex<JoinSet<()>>,
    auto_loading: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The discovery events `start` sent for its own scan; the watch's
    /// first scan repeats them, and those repeats are not sent again.
    announced: Mutex<BTreeSet<String>>,
    shut_down: AtomicBool,
    /// Where snapshots of loaded versions are kept.
    backups_dir: PathBuf,
    copies: AtomicU64,
}

/// Loads plugins in dependency order and keeps them loaded while their
/// directories change: hot swaps with rollback, without losing a call.
///
/// Cheap to clone; every clone is the same host. See the crate docs for
/// the guarantees and an example.
#[derive(Clone)]
pub struct DynamicLoader {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DynamicLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicLoader")
            .field("plugins", &self.inner.table.load().len())
            .finish_non_exhaustive()
    }
}

/// The outcome of [`DynamicLoader::start`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StartReport {
    /// The plugins loaded, in load order, with their versions.
    pub loaded: Vec<(String, Version)>,
    /// The plugins that could not be loaded, with why (a failed load, an
    /// unresolvable dependency, a dependency that failed).
    pub failed: Vec<(String, String)>,
}

/// A JSON call's answer, with the version of the instance that gave it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JsonReply {
    /// The version that answered.
    pub version: Version,
    /// The method's reply.
    pub result: serde_json::Value,
}

static HOSTS: AtomicU64 = AtomicU64::new(0);

impl DynamicLoader {
    /// A host over the directories of `discovery`, not started yet.
    pub fn new(discovery: DiscoveryConfig, config: HostConfig) -> Result<Self, HostError> {
        let engine = DiscoveryEngine::new(discovery)?;
        let backups_dir = config.loader.cache_dir.join(format!(
            "host-{}-{}",
            std::process::id(),
            HOSTS.fetch_add(1, Ordering::Relaxed)
        ));
        Ok(DynamicLoader {
            inner: Arc::new(Inner {
                loader: Loader::new(config.loader.clone()),
                config,
                engine,
                table: ArcSwap::from_pointee(Table::default()),
                route_changes: tokio::sync::watch::Sender::new(0),
                ops: tokio::sync::Mutex::new(State::default()),
                snapshot: Mutex::new(Snapshot::default()),
                events: Publisher::new(EVENT_CAPACITY),
                monitor: RwLock::new(None),
                draining: Mutex::new(JoinSet::new()),
                auto_loading: Mutex::new(None),
                announced: Mutex::new(BTreeSet::new()),
                shut_down: AtomicBool::new(false),
                backups_dir,
                copies: AtomicU64::new(0),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// Sets the monitor whose callbacks see every load, failure and unload.
    pub fn set_monitor(&self, monitor: Arc<dyn LifecycleMonitor>) {
        *self
            .inner
            .monitor
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(monitor);
    }

    /// Every event from now on: discovery's and the host's, in one stream.
    pub fn subscribe(&self) -> Subscription<HostEvent> {
        self.inner.events.subscribe()
    }

    /// Discovers the plugins, resolves them (strategy and version policy
    /// from the configuration) and starts them in load order, each after
    /// everything it requires is running. A plugin that fails takes its
    /// dependents down with it (each reported); the rest start.
    pub async fn start(&self) -> Result<StartReport, HostError> {
        let mut state = self.inner.ops.lock().await;
        if state.started {
            return Err(HostError::AlreadyStarted);
        }
        state.started = true;
        let discovery = Arc::new(self.inner.engine.discover());
        // What the scan found, as events, before anything loads.
        let found = discovery
            .plugins
            .iter()
            .map(|plugin| plugin_discovery::DiscoveryEvent::Discovered {
                plugin: plugin.clone(),
            })
            .chain(discovery.invalid.iter().map(|invalid| {
                plugin_discovery::DiscoveryEvent::ManifestInvalid {
                    path: invalid.path.clone(),
                    diagnostics: invalid.diagnostics.clone(),
                }
            }));
        for event in found {
            lock(&self.inner.announced).insert(format!("{event:?}"));
            self.inner
                .events
                .send(HostEvent::Discovery(Box::new(event)));
        }
        lock(&self.inner.snapshot).discovery = Arc::clone(&discovery);
        let outcome = self.reconcile(&mut state).await;
        Ok(outcome)
    }

    /// Lets discovery drive the host: after each batch of discovery events
    /// (gathered until they pause for [`HostConfig::batch_window`], 1 s at
    /// most) the host re-resolves and
    /// applies the difference. Discovery events are forwarded to the host's
    /// subscribers as they come.
    pub fn enable_auto_loading(&self) -> Result<(), HostError> {
        let mut slot = lock(&self.inner.auto_loading);
        if slot.is_some() {
            return Ok(());
        }
        let mut events = self.inner.engine.subscribe();
        self.inner.engine.start()?;
        let host = Arc::downgrade(&self.inner);
        let window = self.inner.config.batch_window;
        *slot = Some(tokio::spawn(async move {
            loop {
                let Ok(first) = events.recv().await else {
                    // Lagging is not fatal (the host re-resolves from the
                    // current state anyway); a closed stream is the end.
                    if matches!(events.try_recv(), Err(plugin_events::RecvError::Closed)) {
                        return;
                    }
                    continue;
                };
                let Some(inner) = host.upgrade() else { return };
                let mut changed = BTreeSet::new();
                // The watch retells what the first scan found; those
                // events were announced already and change nothing (so a
                // version that failed at start is not tried again).
                let forward = |event: plugin_discovery::DiscoveryEvent,
                               changed: &mut BTreeSet<PathBuf>| {
                    if !lock(&inner.announced).remove(&format!("{event:?}")) {
                        changed.extend(changed_path(&event));
                        prepare(&inner.loader, &event);
                        inner.events.send(HostEvent::Discovery(Box::new(event)));
                    }
                };
                forward(first, &mut changed);
                // A quiet window: each event extends it, up to a cap, so a
                // change of many paths is one re-resolution and a stream
                // of changes cannot hold the host off for ever.
                let cap = tokio::time::Instant::now() + MAX_BATCH;
                loop {
                    let deadline = (tokio::time::Instant::now() + window).min(cap);
                    match tokio::time::timeout_at(deadline, events.recv()).await {
                        Ok(Ok(event)) => forward(event, &mut changed),
                        Ok(Err(_)) | Err(_) => break,
                    }
                }
                // A plugin that would be unloaded because no version of it
                // is left gets a longer look: a deploy that takes the old
                // directory out and puts the new one in (or whose two
                // renames discovery reports apart) must not unload it in
                // between. Its removal waits until the directories were
                // quiet for `removal_window`.
                let removal = inner.config.removal_window;
                let probe = DynamicLoader {
                    inner: Arc::clone(&inner),
                };
                while probe.loses_a_plugin() {
                    match tokio::time::timeout(removal, events.recv()).await {
                        Ok(Ok(event)) => forward(event, &mut changed),
                        Ok(Err(_)) | Err(_) => break,
                    }
                }
                drop(probe);
                lock(&inner.announced).clear();
                let host = DynamicLoader { inner };
                host.refresh(&changed).await;
            }
        }));
        Ok(())
    }

    /// Whether discovery now sees no version at all of a plugin that runs
    /// (and whose manifest is not merely broken).
    fn loses_a_plugin(&self) -> bool {
        let discovery = self.inner.engine.current();
        let running: Vec<String> = self.inner.table.load().keys().cloned().collect();
        running.iter().any(|name| {
            discovery.versions_of(name).next().is_none()
                && !lock(&self.inner.snapshot)
                    .records
                    .get(name)
                    .is_some_and(|r| r.state == PluginState::Failed)
        })
    }

    /// Re-resolves from what discovery sees now and applies the difference;
    /// versions that failed before are tried again if their manifest or
    /// artifact `changed`.
    async fn refresh(&self, changed: &BTreeSet<PathBuf>) {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.inner.ops.lock().await;
        state.bad.retain(|_, path| !changed.contains(path));
        let discovery = self.inner.engine.current();
        // A refused version whose manifest lands again (deployed anew, or
        // edited) is a new proposal: its refusal is reported again.
        let proposed: BTreeSet<(String, Version)> = discovery
            .plugins
            .iter()
            .filter(|plugin| changed.contains(&plugin.manifest_path))
            .map(|plugin| (plugin.name().to_string(), plugin.version().clone()))
            .collect();
        state.refused.retain(|key| !proposed.contains(key));
        lock(&self.inner.snapshot).discovery = Arc::clone(&discovery);
        self.reconcile(&mut state).await;
        self.follow_endpoints(&mut state, &discovery);
    }

    /// A running remote plugin whose registered instances changed (one
    /// came, one went; same name and version) takes the new set in place:
    /// no swap, its instance balances over what is there now.
    fn follow_endpoints(&self, state: &mut State, discovery: &Discovery) {
        for (name, running) in state.running.iter_mut() {
            if running.source.endpoints.is_empty() {
                continue;
            }
            let Some(plugin) = discovery
                .versions_of(name)
                .find(|p| p.version() == running.source.version() && p.is_registered())
            else {
                continue;
            };
            let endpoints: Vec<String> = plugin.endpoints().map(str::to_string).collect();
            if endpoints == running.source.endpoints {
                continue;
            }
            match running.instance.set_endpoints(&endpoints) {
                Ok(()) => {
                    tracing::info!(plugin = %name, version = %running.source.version(), endpoints = ?endpoints, "endpoints changed");
                    running.source.endpoints = endpoints;
                }
                Err(error) => {
                    let error = format!("cannot use its new endpoints: {error}");
                    tracing::warn!(plugin = %name, version = %running.source.version(), "{error}");
                    self.update_record(name, |r| r.last_error = Some(error));
                }
            }
        }
    }

    /// Loads `name` (again): clears a manual unload or rollback pin, and
    /// re-resolves. Fails when no plugin of that name is discovered or it
    /// cannot be loaded (the reason is also an event).
    pub async fn load(&self, name: &str) -> Result<Version, HostError> {
        let mut state = self.started_state().await?;
        state.excluded.remove(name);
        state.pins.remove(name);
        state.bad.retain(|(plugin, _), _| plugin != name);
        self.refresh_discovery();
        self.reconcile(&mut state).await;
        self.serving_version(name)
    }

    /// Moves `name` to the newest version that satisfies `constraint`
    /// (`"2.0.0"`, `"^1.4"`, ...) and the version policy, with its
    /// dependents as the resolver decides; the constraint stays until the
    /// next `update` or `load`. A refused or failed update leaves the old
    /// version serving and is also an event.
    pub async fn update(&self, name: &str, constraint: &str) -> Result<Version, HostError> {
        let constraint = Constraint::parse(constraint).map_err(|error| HostError::Refused {
            plugin: name.to_string(),
            reason: format!("invalid constraint: {error}"),
        })?;
        let mut state = self.started_state().await?;
        state.pins.remove(name);
        state.excluded.remove(name);
        state.bad.retain(|(plugin, _), _| plugin != name);
        state.wants.insert(name.to_string(), constraint.clone());
        self.refresh_discovery();
        self.reconcile(&mut state).await;
        let now = self.serving_version(name)?;
        if !constraint.matches(&now) {
            let reason = self
                .record(name)
                .and_then(|r| r.last_error)
                .unwrap_or_else(|| format!("no version satisfying {constraint} could be loaded"));
            state.wants.remove(name);
            return Err(HostError::Refused {
                plugin: name.to_string(),
                reason,
            });
        }
        Ok(now)
    }

    /// Stops `name` (and what requires it), waiting up to `grace` for its
    /// calls in flight; auto-loading does not bring it back until `load`.
    pub async fn unload(&self, name: &str, grace: Duration) -> Result<(), HostError> {
        let mut state = self.started_state().await?;
        if !state.running.contains_key(name) {
            return Err(HostError::Refused {
                plugin: name.to_string(),
                reason: "it is not loaded".to_string(),
            });
        }
        state.excluded.insert(name.to_string());
        // The resolver drops what requires it; unload those first, then it.
        self.reconcile_with_grace(&mut state, Some(grace)).await;
        Ok(())
    }

    /// Goes back to the version that served before the last swap of `name`
    /// (a kept copy, so a deleted or overwritten file does not matter), and
    /// holds it there until the next `update` or `load`.
    pub async fn rollback(&self, name: &str) -> Result<Version, HostError> {
        let mut state = self.started_state().await?;
        let target = self
            .record(name)
            .and_then(|record| record.backups.front().cloned())
            .ok_or_else(|| HostError::NoRollbackTarget {
                plugin: name.to_string(),
            })?;
        let version = target.version().clone();
        state.pins.insert(name.to_string(), target);
        state.wants.remove(name);
        self.reconcile(&mut state).await;
        let now = self.serving_version(name)?;
        if now == version {
            self.emit(HotLoadEvent::RolledBack {
                plugin: name.to_string(),
                version: version.clone(),
                failed_version: None,
                reason: "rolled back by hand".to_string(),
            });
            Ok(now)
        } else {
            state.pins.remove(name);
            Err(HostError::Refused {
                plugin: name.to_string(),
                reason: self
                    .record(name)
                    .and_then(|r| r.last_error)
                    .unwrap_or_else(|| format!("{version} could not be loaded")),
            })
        }
    }

    async fn started_state(&self) -> Result<tokio::sync::MutexGuard<'_, State>, HostError> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(HostError::ShutDown);
        }
        let state = self.inner.ops.lock().await;
        if !state.started {
            return Err(HostError::NotStarted);
        }
        Ok(state)
    }

    /// Takes a fresh look at the directories (manual operations act on
    /// what is there now, watched or not).
    fn refresh_discovery(&self) {
        let discovery = if lock(&self.inner.auto_loading).is_some() {
            self.inner.engine.current()
        } else {
            Arc::new(self.inner.engine.discover())
        };
        lock(&self.inner.snapshot).discovery = discovery;
    }

    fn serving_version(&self, name: &str) -> Result<Version, HostError> {
        if let Some(instance) = self.inner.table.load().get(name) {
            return Ok(instance.version().clone());
        }
        let reason = self.record(name).and_then(|r| r.last_error);
        Err(match reason {
            Some(reason) => HostError::Refused {
                plugin: name.to_string(),
                reason,
            },
            None => HostError::UnknownPlugin {
                plugin: name.to_string(),
            },
        })
    }

    fn record(&self, name: &str) -> Option<Record> {
        lock(&self.inner.snapshot).records.get(name).cloned()
    }

    fn update_record(&self, name: &str, f: impl FnOnce(&mut Record)) {
        let mut snapshot = lock(&self.inner.snapshot);
        let record = snapshot
            .records
            .entry(name.to_string())
            .or_insert_with(|| Record::new(PluginState::Loading, None));
        let before = record.state;
        f(record);
        if record.state != before {
            record.since = Instant::now();
        }
    }

    fn monitor(&self) -> Option<Arc<dyn LifecycleMonitor>> {
        self.inner
            .monitor
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn emit(&self, event: HotLoadEvent) {
        tracing::info!(plugin = %event.plugin(), event = event.name(), "{event}");
        if let Some(monitor) = self.monitor() {
            match &event {
                HotLoadEvent::Loaded { plugin, version }
                | HotLoadEvent::Updated {
                    plugin,
                    new_version: version,
                    ..
                } => monitor.on_loaded(plugin, version),
                HotLoadEvent::LoadFailed {
                    plugin,
                    version,
                    error,
                }
                | HotLoadEvent::Failed {
                    plugin,
                    version,
                    error,
                } => monitor.on_failed(plugin, version, error),
                HotLoadEvent::Unloaded { plugin, version } => monitor.on_unloaded(plugin, version),
                _ => {}
            }
        }
        self.inner.events.send(HostEvent::HotLoad(event));
    }

    async fn reconcile(&self, state: &mut State) -> StartReport {
        self.reconcile_with_grace(state, None).await
    }

    /// Resolves and applies until no version fails any more: a version that
    /// fails to load or swap in is left out of the next round, so the
    /// resolver falls back to the best version left (greeter 1.0.0 loads
    /// when 3.0.0 beside it fails its health check) and the resolution kept
    /// for the queries is the one that runs. Each round leaves out at least
    /// one more version; [`MAX_ROUNDS`] bounds them anyway.
    async fn reconcile_with_grace(
        &self,
        state: &mut State,
        grace: Option<Duration>,
    ) -> StartReport {
        let mut report = StartReport::default();
        for _ in 0..MAX_ROUNDS {
            let bad = state.bad.len();
            let round = self.reconcile_once(state, grace).await;
            report.loaded.extend(round.loaded);
            report.failed.extend(round.failed);
            if state.bad.len() == bad {
                break;
            }
        }
        // A plugin that loaded in a later round did not fail.
        report
            .failed
            .retain(|(name, _)| !report.loaded.iter().any(|(loaded, _)| loaded == name));
        let mut seen = BTreeSet::new();
        report.failed.retain(|(name, _)| seen.insert(name.clone()));
        report
    }

    /// One round: resolves what discovery sees (plus what runs, pins and
    /// wants) and applies the difference to what runs.
    async fn reconcile_once(&self, state: &mut State, grace: Option<Duration>) -> StartReport {
        let discovery = Arc::clone(&lock(&self.inner.snapshot).discovery);
        let (registry, sources) = self.candidates(state, &discovery);
        let mut names: BTreeSet<String> = sources.keys().map(|(name, _)| name.clone()).collect();
        names.retain(|name| !state.excluded.contains(name));
        let wanted: Vec<Wanted> = names
            .iter()
            .map(|name| {
                if let Some(pin) = state.pins.get(name) {
                    Wanted::with_constraint(name.as_str(), Constraint::exact(pin.version()))
                } else if let Some(constraint) = state.wants.get(name) {
                    Wanted::with_constraint(name.as_str(), constraint.clone())
                } else {
                    Wanted::new(name.as_str())
                }
            })
            .collect();
        let current: BTreeMap<String, Version> = state
            .running
            .iter()
            .filter(|(name, _)| !state.pins.contains_key(*name))
            .map(|(name, running)| (name.clone(), running.source.version().clone()))
            .collect();
        let config = &self.inner.config;
        let options = ResolveOptions::default()
            .with_policy(config.policy.clone())
            .with_strategy(config.strategy)
            .with_circular(config.circular)
            .with_current(current)
            .with_limits(config.resolve_limits);
        let resolution = match resolve(&registry, &wanted, &options) {
            Ok(resolution) => resolution,
            Err(error) => {
                // The whole resolution failed (strict strategy, or a bound
                // of `resolve_limits` hit): running plugins keep serving,
                // the others fail, each reported with the reason.
                let reason = error.to_string();
                let mut report = StartReport::default();
                for name in &names {
                    if let Some(version) =
                        state.running.get(name).map(|r| r.source.version().clone())
                    {
                        self.refuse_once(state, name, Some(&version), None, &reason);
                    } else {
                        self.update_record(name, |r| {
                            r.state = PluginState::Failed;
                            r.last_error = Some(reason.clone());
                        });
                        report.failed.push((name.clone(), reason.clone()));
                    }
                }
                lock(&self.inner.snapshot).failure = Some(Arc::new(error));
                return report;
            }
        };
        let mut report = StartReport::default();
        // Plugins the resolver left out, with why.
        for dropped in resolution.dropped() {
            let reason = dropped.reason().explanation().to_string();
            if let Some(version) = state
                .running
                .get(dropped.name())
                .map(|r| r.source.version().clone())
            {
                // It serves, but can no longer be resolved (its manifest is
                // gone and no admissible version is left, say): it will be
                // unloaded; say why once.
                self.refuse_once(state, dropped.name(), Some(&version), None, &reason);
            } else {
                self.update_record(dropped.name(), |r| {
                    r.state = PluginState::Failed;
                    r.last_error = Some(reason.clone());
                });
                report.failed.push((dropped.name().to_string(), reason));
            }
        }
        self.report_refused_updates(state, &discovery, &registry, &resolution);
        let selected: BTreeMap<String, Version> = resolution
            .selected()
            .iter()
            .map(|(name, version)| (name.to_string(), version.clone()))
            .collect();
        let running: BTreeMap<String, Version> = state
            .running
            .iter()
            .map(|(name, r)| (name.clone(), r.source.version().clone()))
            .collect();
        let new_order: Vec<String> = resolution
            .load_order()
            .iter()
            .map(|n| n.to_string())
            .collect();
        let steps = plan(&running, &state.order, &selected, &new_order);
        let mut failed: BTreeSet<String> = BTreeSet::new();
        for step in steps {
            let name = step.name().to_string();
            if let Some(dependency) = self.failed_dependency(&resolution, &name, &failed) {
                let reason = format!("it requires {dependency}, which failed to load");
                match &step {
                    Step::Load { version, .. } => {
                        self.emit(HotLoadEvent::LoadFailed {
                            plugin: name.clone(),
                            version: version.clone(),
                            error: reason.clone(),
                        });
                        self.update_record(&name, |r| {
                            r.state = PluginState::Failed;
                            r.version = Some(version.clone());
                            r.last_error = Some(reason.clone());
                        });
                        report.failed.push((name.clone(), reason));
                        failed.insert(name);
                    }
                    Step::Swap { from, to, .. } => {
                        self.refuse_once(state, &name, Some(from), Some(to), &reason);
                    }
                    Step::Unload { .. } => {}
                }
                continue;
            }
            match step {
                Step::Unload { name, version } => {
                    let span = tracing::info_span!("unload", plugin = %name, version = %version);
                    self.unload_step(state, &name, &version, grace)
                        .instrument(span)
                        .await;
                }
                Step::Load { name, version } => {
                    let Some(source) = sources.get(&(name.clone(), version.clone())).cloned()
                    else {
                        continue;
                    };
                    let path = source.manifest_path.clone();
                    let span = tracing::info_span!("load", plugin = %name, version = %version);
                    match self.load_step(state, &name, source).instrument(span).await {
                        Ok(()) => report.loaded.push((name, version)),
                        Err(reason) => {
                            state.bad.insert((name.clone(), version), path);
                            report.failed.push((name.clone(), reason));
                            failed.insert(name);
                        }
                    }
                }
                Step::Swap { name, to, .. } => {
                    let Some(source) = sources.get(&(name.clone(), to.clone())).cloned() else {
                        continue;
                    };
                    let path = source.manifest_path.clone();
                    let span = tracing::info_span!("swap", plugin = %name, version = %to);
                    if self
                        .swap_step(state, &name, source)
                        .instrument(span)
                        .await
                        .is_err()
                    {
                        state.bad.insert((name.clone(), to), path);
                        failed.insert(name);
                    }
                }
            }
        }
        let mut snapshot = lock(&self.inner.snapshot);
        snapshot.resolution = Some(Arc::new(resolution));
        snapshot.failure = None;
        report
    }

    /// The registry of candidates: every valid discovered plugin (but those
    /// unloaded by hand), every running version whose manifest path still
    /// holds something (a running plugin whose manifest turns invalid or is
    /// rewritten keeps its version as a candidate; only a plugin whose
    /// manifest is gone loses it), and rollback pins.
    fn candidates(
        &self,
        state: &State,
        discovery: &Discovery,
    ) -> (Registry, BTreeMap<(String, Version), Source>) {
        let mut sources: BTreeMap<(String, Version), Source> = BTreeMap::new();
        for plugin in &discovery.plugins {
            let key = (plugin.name().to_string(), plugin.version().clone());
            if state.bad.get(&key) == Some(&plugin.manifest_path) {
                continue;
            }
            sources
                .entry((plugin.name().to_string(), plugin.version().clone()))
                .or_insert_with(|| Source::from_discovered(plugin));
        }
        for (name, running) in &state.running {
            let path = &running.source.manifest_path;
            let still_there = discovery.plugins.iter().any(|p| &p.manifest_path == path)
                || discovery.invalid.iter().any(|i| &i.path == path)
                || discovery
                    .errors
                    .iter()
                    .any(|e| e.path() == Some(path.as_path()))
                || state.pins.contains_key(name);
            if still_there {
                sources
                    .entry((name.clone(), running.source.version().clone()))
                    .or_insert_with(|| running.source.clone());
            }
        }
        for (name, pin) in &state.pins {
            sources
                .entry((name.clone(), pin.version().clone()))
                .or_insert_with(|| pin.clone());
        }
        let mut registry = Registry::new();
        sources.retain(|_, source| registry.add_manifest(&source.manifest).is_ok());
        (registry, sources)
    }

    /// The first required dependency of `name` (transitively) that failed.
    fn failed_dependency(
        &self,
        resolution: &Resolution,
        name: &str,
        failed: &BTreeSet<String>,
    ) -> Option<String> {
        let mut seen = BTreeSet::new();
        let mut queue = vec![name.to_string()];
        while let Some(next) = queue.pop() {
            for edge in resolution.dependencies(&next) {
                if edge.kind() != DependencyKind::Required {
                    continue;
                }
                if failed.contains(edge.name()) {
                    return Some(edge.name().to_string());
                }
                if seen.insert(edge.name().to_string()) {
                    queue.push(edge.name().to_string());
                }
            }
        }
        None
    }

    /// Reports, once each, the discovered versions of running plugins that
    /// the resolution did not move to because the version policy refused
    /// them.
    fn report_refused_updates(
        &self,
        state: &mut State,
        discovery: &Discovery,
        registry: &Registry,
        resolution: &Resolution,
    ) {
        let policy = &self.inner.config.policy;
        let mut refusals = Vec::new();
        for (name, running) in &state.running {
            let current = running.source.version();
            if resolution.version(name) != Some(current) || state.pins.contains_key(name) {
                continue;
            }
            for plugin in discovery.versions_of(name) {
                let candidate = plugin.version();
                // Only newer versions: an older one beside the serving one
                // is no proposed change (a downgrade happens when the
                // serving version's manifest goes; see the dropped plugins).
                if candidate <= current
                    || state.refused.contains(&(name.clone(), candidate.clone()))
                {
                    continue;
                }
                if let Verdict::Refused(reason) =
                    policy.check(Some(current), candidate, state.wants.get(name))
                {
                    refusals.push((
                        name.clone(),
                        current.clone(),
                        candidate.clone(),
                        reason.to_string(),
                    ));
                } else if !state.bad.contains_key(&(name.clone(), candidate.clone())) {
                    // Newer and allowed, yet not chosen: its dependencies
                    // do not resolve. Say why, in the resolver's words.
                    let why = self.why_not(registry, resolution, name, candidate);
                    refusals.push((name.clone(), current.clone(), candidate.clone(), why));
                }
            }
        }
        for (name, current, candidate, reason) in refusals {
            self.refuse_once(state, &name, Some(&current), Some(&candidate), &reason);
        }
    }

    /// Why `name` `candidate` cannot be chosen: the plugins whose
    /// constraints exclude it, or else the resolver's explanation for that
    /// version alone.
    fn why_not(
        &self,
        registry: &Registry,
        resolution: &Resolution,
        name: &str,
        candidate: &Version,
    ) -> String {
        let blockers: Vec<String> = resolution
            .dependents(name)
            .iter()
            .filter(|dependent| !dependent.constraint().matches(candidate))
            .map(|dependent| {
                let version = resolution
                    .version(dependent.name())
                    .map(|v| format!(" {v}"))
                    .unwrap_or_default();
                format!(
                    "{}{version} requires {name} {}",
                    dependent.name(),
                    dependent.constraint()
                )
            })
            .collect();
        if !blockers.is_empty() {
            return blockers.join("; ");
        }
        let options = ResolveOptions::default()
            .with_policy(self.inner.config.policy.clone())
            .with_circular(self.inner.config.circular)
            .with_limits(self.inner.config.resolve_limits);
        let wanted = [Wanted::with_constraint(name, Constraint::exact(candidate))];
        match resolve(registry, &wanted, &options) {
            Ok(_) => "it conflicts with the versions the other plugins need".to_string(),
            Err(error) => error.to_string(),
        }
    }

    fn refuse_once(
        &self,
        state: &mut State,
        name: &str,
        version: Option<&Version>,
        candidate: Option<&Version>,
        reason: &str,
    ) {
        let key = (
            name.to_string(),
            candidate.cloned().unwrap_or_else(|| Version::new(0, 0, 0)),
        );
        if !state.refused.insert(key) {
            return;
        }
        self.update_record(name, |r| r.last_error = Some(reason.to_string()));
        self.emit(HotLoadEvent::UpdateRefused {
            plugin: name.to_string(),
            version: version.cloned(),
            candidate: candidate.cloned(),
            reason: reason.to_string(),
        });
    }

    /// Loads `source`, checks its health (and, for a swap, that it offers
    /// every typed method of `previous`), all within the health-check
    /// deadline.
    async fn load_ready(
        &self,
        source: &Source,
        previous: Option<&Instance>,
    ) -> Result<Instance, String> {
        let deadline = self.inner.config.hot_load.health_check_delay;
        let loading = async {
            let loader = &self.inner.loader;
            let instance = if source.endpoints.is_empty() {
                loader.load(&source.manifest, source.dir()).await
            } else {
                loader
                    .load_remote(&source.manifest, &source.endpoints)
                    .await
            }
            .map_err(|e| e.to_string())?;
            let ready = async {
                match instance.health().await {
                    Ok(Health::Unhealthy(why)) => {
                        return Err(format!("its health check failed: {why}"));
                    }
                    Ok(_) => {}
                    Err(error) => return Err(format!("its health check failed: {error}")),
                }
                if let (Some(previous), true) =
                    (previous, self.inner.config.hot_load.preload_validation)
                {
                    let old: BTreeSet<String> = previous
                        .methods()
                        .await
                        .map(|m| m.into_iter().map(|m| m.name).collect())
                        .unwrap_or_default();
                    let new: BTreeSet<String> = instance
                        .methods()
                        .await
                        .map_err(|e| format!("cannot list its methods: {e}"))?
                        .into_iter()
                        .map(|m| m.name)
                        .collect();
                    let missing: Vec<&String> = old.difference(&new).collect();
                    if !missing.is_empty() {
                        return Err(format!(
                            "it lacks methods the serving version offers: {}",
                            missing
                                .iter()
                                .map(|m| m.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                }
                Ok(())
            };
            match ready.await {
                Ok(()) => Ok(instance),
                Err(reason) => {
                    instance.shutdown(Duration::from_secs(1)).await;
                    Err(reason)
                }
            }
        };
        match tokio::time::timeout(deadline, loading).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "it was not loaded and healthy within the health-check deadline of {} ms",
                deadline.as_millis()
            )),
        }
    }

    async fn load_step(&self, state: &mut State, name: &str, source: Source) -> Result<(), String> {
        let version = source.version().clone();
        self.emit(HotLoadEvent::Loading {
            plugin: name.to_string(),
            version: version.clone(),
        });
        self.update_record(name, |r| {
            r.state = PluginState::Loading;
            r.version = Some(version.clone());
        });
        match self.load_ready(&source, None).await {
            Ok(instance) => {
                self.route(name, Some(instance.clone()));
                self.watch(name, &instance);
                // Kept aside once it serves: the copy is off the path of the
                // first call.
                let snapshot = self.snapshot(&source).await;
                state.running.insert(
                    name.to_string(),
                    Running {
                        instance,
                        source,
                        snapshot,
                    },
                );
                state.order.retain(|n| n != name);
                state.order.push(name.to_string());
                self.update_record(name, |r| {
                    r.state = PluginState::Running;
                    r.last_error = None;
                });
                self.emit(HotLoadEvent::Loaded {
                    plugin: name.to_string(),
                    version,
                });
                Ok(())
            }
            Err(error) => {
                self.update_record(name, |r| {
                    r.state = PluginState::Failed;
                    r.last_error = Some(error.clone());
                });
                self.emit(HotLoadEvent::LoadFailed {
                    plugin: name.to_string(),
                    version,
                    error: error.clone(),
                });
                Err(error)
            }
        }
    }

    /// The swap transaction: the new version is loaded beside the old one
    /// and must be healthy within the deadline; then new calls go to it
    /// atomically, and the old one drains in the background.
    async fn swap_step(&self, state: &mut State, name: &str, source: Source) -> Result<(), String> {
        let Some(old) = state.running.remove(name) else {
            return self.load_step(state, name, source).await;
        };
        let (from, to) = (old.source.version().clone(), source.version().clone());
        // The policy let the change through (the resolver applies it); a
        // change it allows with a warning (a breaking change under
        // `BreakingChange::Warn`, say) is said out loud.
        if let Verdict::AllowedWithWarning(reason) =
            self.inner
                .config
                .policy
                .check(Some(&from), &to, state.wants.get(name))
        {
            tracing::warn!(plugin = %name, from = %from, to = %to, "{name} {from} -> {to}: {reason}");
        }
        self.emit(HotLoadEvent::Loading {
            plugin: name.to_string(),
            version: to.clone(),
        });
        self.update_record(name, |r| r.state = PluginState::Swapping);
        let ready = match self.load_ready(&source, Some(&old.instance)).await {
            Ok(instance) => match self.hand_over(&old.instance, &instance).await {
                Ok(()) => Ok(instance),
                Err(failure) => {
                    instance.shutdown(Duration::from_secs(1)).await;
                    match failure {
                        HandOver::Refused(reason)
                            if self.inner.config.hot_load.on_state_refused
                                == StateRefused::RefuseUpdate =>
                        {
                            self.update_record(name, |r| r.state = PluginState::Running);
                            state.running.insert(name.to_string(), old);
                            self.refuse_once(state, name, Some(&from), Some(&to), &reason);
                            return Err(reason);
                        }
                        HandOver::Refused(reason) | HandOver::Failed(reason) => Err(reason),
                    }
                }
            },
            Err(reason) => Err(reason),
        };
        match ready {
            Ok(instance) => {
                self.route(name, Some(instance.clone()));
                self.watch(name, &instance);
                // Kept aside once it serves: the copy is off the path of the
                // first call.
                let snapshot = self.snapshot(&source).await;
                let backups = self.inner.config.hot_load.backup_versions;
                let mut dropped = Vec::new();
                self.update_record(name, |r| {
                    r.state = PluginState::Running;
                    r.version = Some(to.clone());
                    r.last_error = None;
                    if let Some(previous) = old.snapshot.clone() {
                        r.backups.retain(|b| b.version() != previous.version());
                        r.backups.push_front(previous);
                    }
                    while r.backups.len() > backups {
                        dropped.extend(r.backups.pop_back());
                    }
                });
                if !dropped.is_empty() {
                    // Off the runtime and outside the record's lock.
                    tokio::task::spawn_blocking(move || {
                        for backup in dropped {
                            let _ = std::fs::remove_dir_all(backup.dir());
                        }
                    });
                }
                self.emit(HotLoadEvent::Updated {
                    plugin: name.to_string(),
                    old_version: from,
                    new_version: to,
                });
                self.drain(old.instance);
                state.running.insert(
                    name.to_string(),
                    Running {
                        instance,
                        source,
                        snapshot,
                    },
                );
                Ok(())
            }
            Err(error) => {
                self.emit(HotLoadEvent::LoadFailed {
                    plugin: name.to_string(),
                    version: to.clone(),
                    error: error.clone(),
                });
                if self.inner.config.hot_load.rollback_on_failure {
                    self.update_record(name, |r| {
                        r.state = PluginState::Running;
                        r.last_error = Some(error.clone());
                    });
                    self.emit(HotLoadEvent::RolledBack {
                        plugin: name.to_string(),
                        version: from,
                        failed_version: Some(to.clone()),
                        reason: error.clone(),
                    });
                    state.refused.insert((name.to_string(), to));
                    state.running.insert(name.to_string(), old);
                } else {
                    self.route(name, None);
                    self.update_record(name, |r| {
                        r.state = PluginState::Failed;
                        r.version = Some(to.clone());
                        r.last_error = Some(error.clone());
                    });
                    state.order.retain(|n| n != name);
                    self.drain(old.instance);
                }
                Err(error)
            }
        }
    }

    async fn unload_step(
        &self,
        state: &mut State,
        name: &str,
        version: &Version,
        grace: Option<Duration>,
    ) {
        let Some(old) = state.running.remove(name) else {
            return;
        };
        state.order.retain(|n| n != name);
        self.route(name, None);
        self.update_record(name, |r| r.state = PluginState::Unloading);
        self.emit(HotLoadEvent::Unloading {
            plugin: name.to_string(),
            version: version.clone(),
        });
        let grace = grace.unwrap_or(self.inner.config.hot_load.graceful_timeout);
        old.instance.shutdown(grace).await;
        if let Some(snapshot) = old.snapshot {
            self.update_record(name, |r| {
                r.backups.retain(|b| b.version() != snapshot.version());
                r.backups.push_front(snapshot);
            });
        }
        self.update_record(name, |r| r.state = PluginState::Unloaded);
        self.emit(HotLoadEvent::Unloaded {
            plugin: name.to_string(),
            version: version.clone(),
        });
    }

    /// Moves the state of `old` into `new` when the plugin hands state over
    /// (the model: Erlang/OTP's `code_change`): `old` is paused (new calls
    /// wait), its calls in flight finish, it exports, `new` imports. On any
    /// failure `old` resumes and the reason is returned. On success `old`
    /// stays paused: no call reaches it after its export.
    async fn hand_over(&self, old: &Instance, new: &Instance) -> Result<(), HandOver> {
        if old.info().state_format.is_none() {
            return Ok(());
        }
        let wait = self.inner.config.hot_load.state_handover_wait;
        old.pause();
        let moved = async {
            if !old.quiesce(wait).await {
                return Err(HandOver::Failed(format!(
                    "calls to the serving version did not finish within {} ms, so its state could not be moved",
                    wait.as_millis()
                )));
            }
            match old.export_state().await {
                Ok(None) => Ok(()),
                Ok(Some(state)) => new.import_state(state).await.map_err(|error| {
                    HandOver::Refused(format!("the new version refused the state: {error}"))
                }),
                Err(error) => Err(HandOver::Failed(format!(
                    "the serving version could not hand its state over: {error}"
                ))),
            }
        }
        .await;
        if moved.is_err() {
            old.resume();
            self.inner.route_changes.send_modify(|n| *n += 1);
        }
        moved
    }

    /// Points calls to `name` at `instance` (or nowhere), atomically.
    fn route(&self, name: &str, instance: Option<Instance>) {
        self.inner.table.rcu(|table| {
            let mut table = Table::clone(table);
            match &instance {
                Some(instance) => {
                    table.insert(name.to_string(), instance.clone());
                }
                None => {
                    table.remove(name);
                }
            }
            table
        });
        self.inner.route_changes.send_modify(|n| *n += 1);
    }

    /// Drains and stops a replaced instance in the background, within the
    /// graceful timeout.
    fn drain(&self, instance: Instance) {
        let grace = self.inner.config.hot_load.graceful_timeout;
        lock(&self.inner.draining).spawn(async move {
            let outcome = instance.shutdown(grace).await;
            tracing::debug!(plugin = %instance.name(), version = %instance.version(), ended = %outcome.ended, abandoned = outcome.abandoned_calls, "old instance stopped");
        });
    }

    /// Follows an instance's own events into the plugin's status (a crash
    /// and restart, a failure).
    fn watch(&self, name: &str, instance: &Instance) {
        let mut events = instance.events();
        let host: Weak<Inner> = Arc::downgrade(&self.inner);
        let name = name.to_string();
        let version = instance.version().clone();
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                let Some(inner) = host.upgrade() else { return };
                let host = DynamicLoader { inner };
                let serving = host
                    .inner
                    .table
                    .load()
                    .get(&name)
                    .is_some_and(|i| i.version() == &version);
                if !serving {
                    continue;
                }
                match event.kind {
                    InstanceEventKind::Restarting { .. } => {
                        host.update_record(&name, |r| r.state = PluginState::Restarting);
                    }
                    InstanceEventKind::Restarted { attempt } => {
                        host.update_record(&name, |r| r.state = PluginState::Running);
                        host.emit(HotLoadEvent::Restarted {
                            plugin: name.clone(),
                            version: version.clone(),
                            attempt,
                        });
                    }
                    InstanceEventKind::Crashed { cause, in_flight } => {
                        host.update_record(&name, |r| r.last_error = Some(cause.to_string()));
                        let calls = match in_flight {
                            1 => "1 call in flight failed".to_string(),
                            n => format!("{n} calls in flight failed"),
                        };
                        host.emit(HotLoadEvent::Crashed {
                            plugin: name.clone(),
                            version: version.clone(),
                            error: format!("{cause} ({calls})"),
                        });
                    }
                    InstanceEventKind::Disconnected {
                        endpoint,
                        reason,
                        in_flight,
                    } => {
                        let error = format!("{reason} ({in_flight} calls in flight failed)");
                        host.update_record(&name, |r| {
                            r.last_error = Some(format!("{endpoint}: {error}"));
                        });
                        host.emit(HotLoadEvent::EndpointDown {
                            plugin: name.clone(),
                            version: version.clone(),
                            endpoint,
                            error,
                        });
                    }
                    InstanceEventKind::OutOfRotation { endpoint, reason } => {
                        host.emit(HotLoadEvent::EndpointDown {
                            plugin: name.clone(),
                            version: version.clone(),
                            endpoint,
                            error: format!("out of rotation: {reason}"),
                        });
                    }
                    InstanceEventKind::InRotation { endpoint } => {
                        host.emit(HotLoadEvent::EndpointUp {
                            plugin: name.clone(),
                            version: version.clone(),
                            endpoint,
                        });
                    }
                    InstanceEventKind::Failed { cause } => {
                        let error = format!("the running instance failed: {cause}");
                        host.update_record(&name, |r| {
                            r.state = PluginState::Failed;
                            r.last_error = Some(error.clone());
                        });
                        // `emit` tells the monitor (`on_failed`).
                        host.emit(HotLoadEvent::Failed {
                            plugin: name.clone(),
                            version: version.clone(),
                            error,
                        });
                    }
                    InstanceEventKind::Stopped { .. } => return,
                    _ => {}
                }
            }
        });
    }

    /// Copies a version's manifest and artifact aside, for a later
    /// rollback (when backups are kept). The copying (megabytes) runs on
    /// the blocking pool: calls served by the same runtime never wait for
    /// it.
    async fn snapshot(&self, source: &Source) -> Option<Source> {
        // A remote plugin has nothing on this machine to keep: its code runs
        // where it is served.
        if self.inner.config.hot_load.backup_versions == 0
            || source.manifest.transport() == Transport::Grpc
        {
            return None;
        }
        let manifest = &source.manifest;
        let dir = self.inner.backups_dir.join(format!(
            "{}-{}-{}",
            manifest.name(),
            manifest.version(),
            self.inner.copies.fetch_add(1, Ordering::Relaxed)
        ));
        let kept = {
            let (source, dir) = (source.clone(), dir.clone());
            tokio::task::spawn_blocking(move || copy_aside(&source, &dir))
                .await
                .unwrap_or_else(|error| Err(std::io::Error::other(error.to_string())))
        };
        match kept {
            Ok(snapshot) => Some(snapshot),
            Err(error) => {
                tracing::warn!(plugin = %manifest.name(), version = %manifest.version(), %error, "cannot keep a copy for rollback");
                let _ = std::fs::remove_dir_all(&dir);
                None
            }
        }
    }

    /// Calls `method` of `plugin` with raw bytes (the host's default
    /// timeout for process plugins).
    pub async fn call(
        &self,
        plugin: &str,
        method: &str,
        request: &[u8],
    ) -> Result<Vec<u8>, HostCallError> {
        self.call_with_timeout(plugin, method, request, self.inner.config.call_timeout)
            .await
    }

    /// Calls `method` of `plugin` with raw bytes and a timeout of its own.
    pub async fn call_with_timeout(
        &self,
        plugin: &str,
        method: &str,
        request: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, HostCallError> {
        self.routed(
            plugin,
            Raw {
                method,
                request,
                timeout,
            },
        )
        .await
    }

    /// Calls `method` of `plugin` with a typed request and decodes the typed
    /// reply (types from the plugin's interface crate). The request is
    /// borrowed for the whole call, so it is `Sync` (the call's future is
    /// `Send`, for `tokio::spawn`).
    pub async fn call_typed<Req: Serialize + Sync, Resp: DeserializeOwned>(
        &self,
        plugin: &str,
        method: &str,
        request: &Req,
    ) -> Result<Resp, HostCallError> {
        self.routed(
            plugin,
            Typed {
                method,
                request,
                reply: PhantomData,
            },
        )
        .await
    }

    /// Calls the typed method `method` of `plugin` with a JSON request; the
    /// reply says which version answered.
    pub async fn call_json(
        &self,
        plugin: &str,
        method: &str,
        request: &serde_json::Value,
    ) -> Result<JsonReply, HostCallError> {
        self.routed(plugin, Json { method, request }).await
    }

    /// Runs `call` on the instance that serves `plugin`. A call refused by
    /// an instance that was replaced meanwhile never reached the plugin, so
    /// it goes to the replacement: a swap loses no call.
    ///
    /// The instance is borrowed from the routing table's guard for the
    /// whole call, not cloned: a clone is a write to a counter every caller
    /// shares, which is what stops calls from scaling across threads. The
    /// guard pins this snapshot of the table until a swap publishes a new
    /// one, which turns the pin into an ordinary reference, so a long call
    /// never holds a swap up.
    async fn routed<C: RoutedCall>(
        &self,
        plugin: &str,
        call: C,
    ) -> Result<C::Reply, HostCallError> {
        let mut last = None;
        for _ in 0..MAX_CALL_ATTEMPTS {
            let table = self.inner.table.load();
            let Some(instance) = table.get(plugin) else {
                return Err(self.unavailable(plugin));
            };
            let id = instance.id();
            match call.send(instance).await {
                Ok(reply) => return Ok(reply),
                Err(error @ CallError::Stopped { .. }) => {
                    drop(table);
                    let current = self.inner.table.load().get(plugin).map(Instance::id);
                    match current {
                        // Removed meanwhile (unloaded, or failed): the call
                        // gets the answer a call made a moment later gets,
                        // naming the plugin and its state.
                        None => return Err(self.unavailable(plugin)),
                        Some(current) if current == id => {
                            // The same instance refused: paused while its
                            // state moves (wait for the route to change or
                            // the instance to resume, then send again), or
                            // stopping for good.
                            if !matches!(
                                error,
                                CallError::Stopped {
                                    state: "paused",
                                    ..
                                }
                            ) {
                                return Err(error.into());
                            }
                            // Subscribed before the look, so a resume or a
                            // new route after it is not missed.
                            let mut changes = self.inner.route_changes.subscribe();
                            let paused = self
                                .inner
                                .table
                                .load()
                                .get(plugin)
                                .is_some_and(|i| i.id() == id && i.is_paused());
                            if paused {
                                let wait = self.inner.config.hot_load.state_handover_wait;
                                let _ = tokio::time::timeout(wait, changes.changed()).await;
                            }
                            last = Some(error.into());
                        }
                        Some(_) => last = Some(error.into()),
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(last.unwrap_or_else(|| self.unavailable(plugin)))
    }

    fn unavailable(&self, plugin: &str) -> HostCallError {
        let record = self.record(plugin);
        HostCallError::Unavailable {
            plugin: plugin.to_string(),
            state: match record.as_ref().map(|r| r.state) {
                Some(PluginState::Failed) => "failed",
                Some(PluginState::Unloading) => "being unloaded",
                Some(PluginState::Unloaded) => "unloaded",
                Some(PluginState::Loading) => "still loading",
                _ => "not loaded",
            },
            reason: record.and_then(|r| r.last_error),
        }
    }

    /// The instance that serves `plugin` now, if one does.
    pub fn instance(&self, plugin: &str) -> Option<Instance> {
        self.inner.table.load().get(plugin).cloned()
    }

    /// The plugins in the order they load (each after what it requires),
    /// from the last resolution.
    pub fn calculate_load_order(&self) -> Vec<String> {
        lock(&self.inner.snapshot)
            .resolution
            .as_ref()
            .map(|r| r.load_order().iter().map(|n| n.to_string()).collect())
            .unwrap_or_default()
    }

    /// Each discovered plugin's declared dependencies (of its newest
    /// version, or of the version that serves), required and optional.
    pub fn dependency_graph(&self) -> BTreeMap<String, Dependencies> {
        let snapshot = lock(&self.inner.snapshot);
        let mut graph = BTreeMap::new();
        for plugin in &snapshot.discovery.plugins {
            let serving = snapshot
                .records
                .get(plugin.name())
                .and_then(|r| r.version.as_ref());
            let newest = snapshot
                .discovery
                .versions_of(plugin.name())
                .map(|p| p.version())
                .max();
            let chosen = serving.filter(|v| *v == plugin.version()).is_some()
                || (serving.is_none() && newest == Some(plugin.version()));
            if !chosen && graph.contains_key(plugin.name()) {
                continue;
            }
            let requirements = plugin.manifest.requirements();
            let list = |deps: &[plugin_manifest::Dependency]| {
                deps.iter()
                    .map(|d| (d.name().to_string(), d.constraint().to_string()))
                    .collect()
            };
            graph.insert(
                plugin.name().to_string(),
                Dependencies {
                    required: list(requirements.required_plugins()),
                    optional: list(requirements.optional_plugins()),
                },
            );
        }
        graph
    }

    /// The version conflicts of the last resolution that failed or left
    /// plugins out, in words.
    pub fn version_conflicts(&self) -> Vec<String> {
        self.failures(|failure| {
            failure
                .version_conflicts()
                .iter()
                .map(|c| c.to_string())
                .collect()
        })
    }

    /// The dependencies that could not be found: dependent → missing plugins.
    pub fn unresolved_dependencies(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut all = BTreeMap::new();
        for map in self.failures(|failure| vec![failure.unresolved_dependencies().clone()]) {
            for (dependent, missing) in map {
                all.entry(dependent)
                    .or_insert_with(BTreeSet::new)
                    .extend(missing);
            }
        }
        all
    }

    /// The dependency cycles found, each in order.
    pub fn circular_dependencies(&self) -> Vec<Vec<String>> {
        let snapshot = lock(&self.inner.snapshot);
        let mut cycles: Vec<Vec<String>> = snapshot
            .resolution
            .as_ref()
            .map(|r| r.circular_dependencies().to_vec())
            .unwrap_or_default();
        drop(snapshot);
        cycles.extend(self.failures(|failure| failure.circular_dependencies().to_vec()));
        cycles.sort();
        cycles.dedup();
        cycles
    }

    fn failures<T>(&self, f: impl Fn(&plugin_resolver::Failure) -> Vec<T>) -> Vec<T> {
        let snapshot = lock(&self.inner.snapshot);
        let mut out = Vec::new();
        if let Some(ResolveError::NoSolution(failure)) = snapshot.failure.as_deref() {
            out.extend(f(failure));
        }
        if let Some(resolution) = &snapshot.resolution {
            for dropped in resolution.dropped() {
                out.extend(f(dropped.reason().failure()));
            }
        }
        out
    }

    /// Every plugin the host knows of: state, version, last error, since
    /// when, calls in flight and taken, and the rollback target.
    pub fn hot_load_status(&self) -> Vec<PluginStatus> {
        let table = self.inner.table.load();
        let snapshot = lock(&self.inner.snapshot);
        snapshot
            .records
            .iter()
            .map(|(name, record)| {
                let stats = table.get(name).map(|i| i.stats());
                PluginStatus {
                    name: name.clone(),
                    state: record.state,
                    version: record.version.clone(),
                    last_error: record.last_error.clone(),
                    since: record.since,
                    in_flight: stats.as_ref().map_or(0, |s| s.in_flight),
                    calls: stats.as_ref().map_or(0, |s| s.calls),
                    rollback_target: record.backups.front().map(|b| b.version().clone()),
                }
            })
            .collect()
    }

    /// Stops the host: no more auto-loading, every plugin shut down in
    /// reverse load order (each with the graceful timeout for its calls in
    /// flight), old instances drained, kept copies removed.
    pub async fn shutdown(&self) {
        self.inner.shut_down.store(true, Ordering::Release);
        if let Some(task) = lock(&self.inner.auto_loading).take() {
            task.abort();
        }
        self.inner.engine.stop();
        let mut state = self.inner.ops.lock().await;
        let order: Vec<String> = state.order.iter().rev().cloned().collect();
        for name in order {
            if let Some(version) = state.running.get(&name).map(|r| r.source.version().clone()) {
                self.unload_step(&mut state, &name, &version, None).await;
            }
        }
        let mut draining = std::mem::take(&mut *lock(&self.inner.draining));
        while draining.join_next().await.is_some() {}
        let _ = std::fs::remove_dir_all(&self.inner.backups_dir);
    }
}

/// The manifest path a discovery event is about, when it may bring a
/// version that failed before back into play.
fn changed_path(event: &plugin_discovery::DiscoveryEvent) -> Option<PathBuf> {
    match event {
        plugin_discovery::DiscoveryEvent::Discovered { plugin }
        | plugin_discovery::DiscoveryEvent::Updated { plugin, .. } => {
            Some(plugin.manifest_path.clone())
        }
        _ => None,
    }
}

/// Has the loader copy and verify the artifact of a plugin version that
/// just appeared or changed while the batch window is open: the load that
/// follows, if the resolution picks it, finds the work done (about 10 ms
/// for a 6 MB executable, off the swap's path). A version the resolution
/// passes over leaves a copy the loader drops in time.
fn prepare(loader: &Loader, event: &plugin_discovery::DiscoveryEvent) {
    let (plugin_discovery::DiscoveryEvent::Discovered { plugin }
    | plugin_discovery::DiscoveryEvent::Updated { plugin, .. }) = event
    else {
        return;
    };
    let Some(dir) = plugin.manifest_path.parent() else {
        return;
    };
    if plugin.artifact_path.is_none() || !plugin.instances.is_empty() {
        return;
    }
    let (loader, manifest, dir) = (loader.clone(), plugin.manifest.clone(), dir.to_path_buf());
    tokio::spawn(async move { loader.prepare(&manifest, &dir).await });
}

/// Why a state hand-over did not happen.
enum HandOver {
    /// The new version refused the state (see [`StateRefused`]).
    Refused(String),
    /// The serving version could not export it, or its calls did not
    /// finish in time.
    Failed(String),
}

/// One kind of call the host routes: sent to whichever instance serves the
/// plugin, again to its replacement if a swap refused it.
trait RoutedCall {
    type Reply;

    fn send<'a>(
        &'a self,
        instance: &'a Instance,
    ) -> impl Future<Output = Result<Self::Reply, CallError>> + Send + 'a;
}

struct Raw<'a> {
    method: &'a str,
    request: &'a [u8],
    timeout: Duration,
}

impl RoutedCall for Raw<'_> {
    type Reply = Vec<u8>;

    fn send<'a>(
        &'a self,
        instance: &'a Instance,
    ) -> impl Future<Output = Result<Vec<u8>, CallError>> + Send + 'a {
        instance.call_with_timeout(self.method, self.request, self.timeout)
    }
}

struct Typed<'a, Req, Resp> {
    method: &'a str,
    request: &'a Req,
    reply: PhantomData<fn() -> Resp>,
}

impl<Req: Serialize + Sync, Resp: DeserializeOwned> RoutedCall for Typed<'_, Req, Resp> {
    type Reply = Resp;

    fn send<'a>(
        &'a self,
        instance: &'a Instance,
    ) -> impl Future<Output = Result<Resp, CallError>> + Send + 'a {
        instance.call_typed(self.method, self.request)
    }
}

struct Json<'a> {
    method: &'a str,
    request: &'a serde_json::Value,
}

impl RoutedCall for Json<'_> {
    type Reply = JsonReply;

    async fn send(&self, instance: &Instance) -> Result<JsonReply, CallError> {
        let result = instance.call_json(self.method, self.request).await?;
        Ok(JsonReply {
            version: instance.version().clone(),
            result,
        })
    }
}

/// Copies `source`'s manifest and artifact into `dir` (blocking).
fn copy_aside(source: &Source, dir: &Path) -> std::io::Result<Source> {
    std::fs::create_dir_all(dir)?;
    let file_name = source
        .manifest_path
        .file_name()
        .ok_or_else(|| std::io::Error::other("a manifest path has a file name"))?;
    let manifest_path = dir.join(file_name);
    std::fs::copy(&source.manifest_path, &manifest_path)?;
    if let (Some(from), Some(to)) = (
        source.manifest.artifact_path(source.dir()),
        source.manifest.artifact_path(dir),
    ) {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from, to)?;
    }
    Ok(Source {
        manifest: source.manifest.clone(),
        manifest_path,
        endpoints: Vec::new(),
    })
}
