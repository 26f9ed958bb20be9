//! The etcd source at work (feature `etcd`): listing and watching the
//! records with `etcd-client`, and [`Registration`], the other side of the
//! contract (what `plugkit register` and a gRPC plugin's server use).
//!
//! The client is async (tonic); the engine is not. Each listing and the
//! watch run on a thread of their own with a current-thread tokio runtime,
//! so the engine works from plain threads and from inside any async
//! runtime (the host calls [`DiscoveryEngine::discover`](crate::DiscoveryEngine::discover)
//! from a tokio task).
//!
//! The watch keeps the records (key → parsed value) and the revision of
//! the last change it applied. A watch that breaks (the server restarts,
//! the connection drops) is opened again from that revision + 1, so no
//! change is missed; one whose revision was compacted meanwhile is answered
//! by listing the prefix again. Either way the records are turned into a
//! [`Discovery`] and diffed against what was sent before, so nothing is
//! sent twice. A cluster that does not answer is reported once per outage
//! to the error handler and tried again after 50 ms, doubling up to
//! [`EtcdSource::retry_interval`].

use std::error::Error as StdError;
use std::pin::pin;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, EventType, GetOptions, PutOptions, WatchOptions};
use plugin_manifest::{Manifest, ManifestErrors};
use tokio::sync::oneshot;

use crate::config::Compiled;
use crate::remote::{RECORD_FILE_NAME, Records, read_record, select_records};
use crate::shared::Shared;
use crate::{Discovery, DiscoveryError, EtcdSource, StartError};

/// The first wait before trying an unreachable cluster again.
const FIRST_RETRY: Duration = Duration::from_millis(50);

/// HTTP/2 keep-alive on the client's connection, so a watch on a peer that
/// vanished without closing the connection breaks, and resumes.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Something that failed, and what was being done.
struct Failure {
    action: &'static str,
    source: Arc<dyn StdError + Send + Sync>,
}

impl Failure {
    fn new(action: &'static str, source: impl StdError + Send + Sync + 'static) -> Failure {
        Failure {
            action,
            source: Arc::new(source),
        }
    }

    fn into_error(self, source: &EtcdSource) -> DiscoveryError {
        DiscoveryError::Etcd {
            endpoints: source.shown(),
            action: self.action,
            source: self.source,
        }
    }
}

/// An attempt that took longer than the source allows.
#[derive(Debug, thiserror::Error)]
#[error("no answer within {} ms", .0.as_millis())]
struct TimedOut(Duration);

/// `future`, failing as `action` after `limit` or with its own error.
async fn bounded<T, F>(limit: Duration, action: &'static str, future: F) -> Result<T, Failure>
where
    F: Future<Output = Result<T, etcd_client::Error>>,
{
    match tokio::time::timeout(limit, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Failure::new(action, error)),
        Err(_) => Err(Failure::new(action, TimedOut(limit))),
    }
}

async fn connect(source: &EtcdSource) -> Result<Client, Failure> {
    let options = ConnectOptions::new()
        .with_connect_timeout(source.connect_timeout)
        .with_keep_alive(KEEP_ALIVE, KEEP_ALIVE);
    bounded(
        source.connect_timeout,
        "connect to",
        Client::connect(&source.endpoints, Some(options)),
    )
    .await
}

/// The watched prefix: the key prefix and its separator.
fn watched(source: &EtcdSource) -> String {
    format!("{}/", source.key_prefix())
}

/// Every record under the prefix, and the revision they are as of.
async fn list(
    client: &mut Client,
    config: &Compiled,
    source: &EtcdSource,
) -> Result<(Records, i64), Failure> {
    let response = bounded(
        source.connect_timeout,
        "list",
        client.get(watched(source), Some(GetOptions::new().with_prefix())),
    )
    .await?;
    let revision = response.header().map_or(0, |h| h.revision());
    let records = response
        .kvs()
        .iter()
        .map(|kv| {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            let record = read_record(&config.config.limits, kv.value(), kv.create_revision());
            (key, record)
        })
        .collect();
    Ok((records, revision))
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Lists `source` once, on a thread of its own.
pub(crate) fn list_once(
    config: &Compiled,
    source: &EtcdSource,
) -> Result<Discovery, DiscoveryError> {
    let listed = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let runtime = runtime().map_err(|e| Failure::new("start a client for", e))?;
            runtime.block_on(async {
                let mut client = connect(source).await?;
                list(&mut client, config, source).await
            })
        });
        worker.join()
    });
    match listed {
        Ok(Ok((records, _))) => Ok(select_records(config, source, &records)),
        Ok(Err(failure)) => Err(failure.into_error(source)),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The watch of the etcd source, on its thread.
pub(crate) struct Worker {
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl Worker {
    /// Starts the watch thread and waits for the first listing (or its
    /// failure), at most about twice the connect timeout.
    pub(crate) fn start(shared: Arc<Shared>) -> Result<Worker, StartError> {
        let Some(source) = shared.config.config.etcd.clone() else {
            unreachable!("the remote worker starts only with an etcd source")
        };
        // Connecting and listing are each bounded by the connect timeout.
        let limit = source
            .connect_timeout
            .saturating_mul(2)
            .saturating_add(Duration::from_millis(500));
        let (stop, stopped) = oneshot::channel();
        let (ready, listed) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("plugkit-etcd".into())
            .spawn(move || {
                let runtime = match runtime() {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let failure = Failure::new("start a client for", error);
                        shared.report(&failure.into_error(&source));
                        return;
                    }
                };
                let mut watch = Watch {
                    shared,
                    source,
                    records: None,
                    revision: 0,
                    ready: Some(ready),
                };
                runtime.block_on(watch.run(stopped));
            })
            .map_err(StartError::Thread)?;
        let _ = listed.recv_timeout(limit);
        Ok(Worker { stop, thread })
    }

    /// Stops the watch and waits for its thread (unless called from it: an
    /// error handler that stops the engine).
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        if self.thread.thread().id() != std::thread::current().id() {
            let _ = self.thread.join();
        }
    }
}

/// The watch's state.
struct Watch {
    shared: Arc<Shared>,
    source: EtcdSource,
    /// The records, once listed (`None`: list before watching).
    records: Option<Records>,
    /// The revision of the last change applied.
    revision: i64,
    /// Told when the first listing is in, or failed.
    ready: Option<std::sync::mpsc::Sender<()>>,
}

impl Watch {
    async fn run(&mut self, mut stopped: oneshot::Receiver<()>) {
        let mut wait = FIRST_RETRY;
        let mut outage = false;
        loop {
            let mut reached = false;
            let result = tokio::select! {
                _ = &mut stopped => return,
                result = self.attempt(&mut reached) => result,
            };
            if reached {
                if outage {
                    tracing::info!(revision = self.revision, "etcd watch resumed");
                }
                outage = false;
                wait = FIRST_RETRY;
            }
            if let Err(failure) = result {
                if !outage {
                    let error = failure.into_error(&self.source);
                    tracing::warn!(error = %error.to_string_with_causes(), "etcd source");
                    self.shared.report(&error);
                    outage = true;
                }
                self.ready.take();
                tokio::select! {
                    _ = &mut stopped => return,
                    () = tokio::time::sleep(wait) => {}
                }
                wait = wait
                    .saturating_mul(2)
                    .min(self.source.retry_interval.max(FIRST_RETRY));
            }
        }
    }

    /// Connects, lists when needed and watches until the watch breaks
    /// (`Err`) or must list again (`Ok`). Sets `reached` once the watch is
    /// open.
    async fn attempt(&mut self, reached: &mut bool) -> Result<(), Failure> {
        let source = self.source.clone();
        let mut client = connect(&source).await?;
        if self.records.is_none() {
            let (records, revision) = list(&mut client, &self.shared.config, &source).await?;
            self.revision = revision;
            self.publish(&records);
            self.records = Some(records);
            if let Some(ready) = self.ready.take() {
                let _ = ready.send(());
            }
        }
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(self.revision + 1);
        let mut stream = bounded(
            source.connect_timeout,
            "watch",
            client.watch(watched(&source), Some(options)),
        )
        .await?;
        *reached = true;
        loop {
            let response = match stream.message().await {
                Ok(Some(response)) => response,
                Ok(None) => {
                    return Err(Failure::new(
                        "watch",
                        etcd_client::Error::WatchError("the watch stream ended".into()),
                    ));
                }
                Err(error) => return Err(Failure::new("watch", error)),
            };
            if response.compact_revision() > 0 {
                tracing::info!(
                    compacted = response.compact_revision(),
                    revision = self.revision,
                    "etcd history compacted past the watch; listing again"
                );
                self.records = None;
                return Ok(());
            }
            if response.canceled() {
                return Err(Failure::new(
                    "watch",
                    etcd_client::Error::WatchError(format!(
                        "the watch was canceled: {}",
                        response.cancel_reason()
                    )),
                ));
            }
            if response.events().is_empty() {
                continue;
            }
            let Some(records) = self.records.as_mut() else {
                return Ok(());
            };
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                self.revision = self.revision.max(kv.mod_revision());
                let key = String::from_utf8_lossy(kv.key()).into_owned();
                match event.event_type() {
                    EventType::Put => {
                        let limits = &self.shared.config.config.limits;
                        records.insert(key, read_record(limits, kv.value(), kv.create_revision()));
                    }
                    EventType::Delete => {
                        records.remove(&key);
                    }
                }
            }
            let records = self.records.take().unwrap_or_default();
            self.publish(&records);
            self.records = Some(records);
        }
    }

    fn publish(&self, records: &Records) {
        let discovery = select_records(&self.shared.config, &self.source, records);
        self.shared.publish_remote(Arc::new(discovery));
    }
}

/// Why a manifest cannot be made into a gRPC instance's record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record does not validate (the endpoint is not `host:port`, ...).
    #[error("the record is not a valid manifest: {0}")]
    Invalid(#[source] ManifestErrors),
    /// The manifest could not be written as JSON.
    #[error("cannot write the manifest as JSON")]
    Json(#[source] serde_json::Error),
}

/// `manifest` as the record of an instance listening on `endpoint`: the
/// same manifest with `transport: grpc` and that `endpoint`, as JSON,
/// validated again (so the record is one discovery accepts). Returns the
/// record's manifest and its JSON text.
///
/// ```
/// # let parsed = plugin_manifest::parse(
/// #     br#"{"name": "greeter", "version": "1.0.0", "transport": "native", "endpoint": "libgreeter.so"}"#,
/// #     "plugin-manifest.json",
/// # )?;
/// let (record, json) = plugin_discovery::grpc_record(&parsed.manifest, "127.0.0.1:7001")?;
/// assert_eq!((record.transport().as_str(), record.endpoint()), ("grpc", "127.0.0.1:7001"));
/// assert!(json.contains(r#""transport":"grpc""#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn grpc_record(manifest: &Manifest, endpoint: &str) -> Result<(Manifest, String), RecordError> {
    let mut value = serde_json::to_value(manifest).map_err(RecordError::Json)?;
    if let Some(object) = value.as_object_mut() {
        object.insert("transport".into(), "grpc".into());
        object.insert("endpoint".into(), endpoint.into());
    }
    let json = serde_json::to_string(&value).map_err(RecordError::Json)?;
    let parsed =
        plugin_manifest::parse(json.as_bytes(), RECORD_FILE_NAME).map_err(RecordError::Invalid)?;
    Ok((parsed.manifest, json))
}

/// Why registering, keeping or revoking a record failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The manifest cannot be made into a record.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The TTL is under one second (etcd counts leases in seconds).
    #[error("the lease TTL must be at least 1 s, not {} ms", .0.as_millis())]
    Ttl(Duration),
    /// etcd did not do what was asked.
    #[error("cannot {action} etcd at {endpoints}")]
    Etcd {
        /// The cluster's endpoints, joined by `,`.
        endpoints: String,
        /// What failed (`connect to`, `grant a lease on`, `write the record to`, ...).
        action: &'static str,
        /// Why.
        #[source]
        source: Arc<dyn StdError + Send + Sync>,
    },
    /// The lease ran out (etcd could not be reached for longer than its
    /// TTL, or it was revoked by someone else): the record is gone.
    #[error("the lease of {key} is lost: the record is gone from etcd")]
    Lost {
        /// The record's key.
        key: String,
    },
}

impl RegisterError {
    fn etcd(source: &EtcdSource, failure: Failure) -> RegisterError {
        RegisterError::Etcd {
            endpoints: source.shown(),
            action: failure.action,
            source: failure.source,
        }
    }
}

/// One instance's record in etcd, bound to a lease this value keeps alive:
/// the writing side of the [`EtcdSource`] contract.
///
/// [`register`](Self::register) grants a lease of the given TTL, takes its
/// id (in hex) as the instance id and writes the record
/// `<prefix>/<name>/<version>/<instance-id>`: the manifest with
/// `transport: grpc` and the endpoint the instance listens on.
/// [`keep_alive_until`](Self::keep_alive_until) renews the lease (every
/// third of its TTL) until a future completes; [`revoke`](Self::revoke)
/// removes the record at once. A registration dropped without `revoke`
/// leaves its record until the lease expires.
///
/// The client is tonic's, so these run on a tokio runtime.
pub struct Registration {
    client: Client,
    source: EtcdSource,
    key: String,
    instance_id: String,
    lease: i64,
    ttl: Duration,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("key", &self.key)
            .field("lease", &self.lease)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Registration {
    /// Writes the record of an instance of `manifest` listening on
    /// `endpoint`, bound to a fresh lease of `ttl` (whole seconds).
    pub async fn register(
        source: &EtcdSource,
        manifest: &Manifest,
        endpoint: &str,
        ttl: Duration,
    ) -> Result<Registration, RegisterError> {
        if ttl < Duration::from_secs(1) {
            return Err(RegisterError::Ttl(ttl));
        }
        let (record, json) = grpc_record(manifest, endpoint)?;
        let fail = |failure| RegisterError::etcd(source, failure);
        let mut client = connect(source).await.map_err(fail)?;
        let limit = source.connect_timeout;
        let seconds = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let lease = bounded(limit, "grant a lease on", client.lease_grant(seconds, None))
            .await
            .map_err(fail)?;
        let granted = Duration::from_secs(u64::try_from(lease.ttl()).unwrap_or(1).max(1));
        let instance_id = format!("{:x}", lease.id());
        let key = source.record_key(record.name(), record.version(), &instance_id);
        let options = PutOptions::new().with_lease(lease.id());
        bounded(
            limit,
            "write the record to",
            client.put(key.clone(), json, Some(options)),
        )
        .await
        .map_err(fail)?;
        Ok(Registration {
            client,
            source: source.clone(),
            key,
            instance_id,
            lease: lease.id(),
            ttl: granted,
        })
    }

    /// The record's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The instance id: the lease id in hex.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The lease id.
    pub fn lease_id(&self) -> i64 {
        self.lease
    }

    /// The TTL etcd granted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Renews the lease every third of its TTL until `stop` completes
    /// (then returns `Ok`, the record still there). A connection that
    /// breaks is opened again; if the lease runs out meanwhile, or etcd
    /// says it is gone, returns [`RegisterError::Lost`].
    pub async fn keep_alive_until<F: Future<Output = ()>>(
        &mut self,
        stop: F,
    ) -> Result<(), RegisterError> {
        let mut stop = pin!(stop);
        let interval = (self.ttl / 3).max(Duration::from_millis(100));
        let limit = self.source.connect_timeout.min(interval);
        let mut alive_until = Instant::now() + self.ttl;
        let mut wait = FIRST_RETRY;
        loop {
            let opened = bounded(
                limit,
                "keep the lease alive on",
                self.client.lease_keep_alive(self.lease),
            )
            .await;
            if let Ok((mut keeper, mut answers)) = opened {
                loop {
                    let renewed = async {
                        keeper.keep_alive().await?;
                        answers.message().await
                    };
                    match tokio::time::timeout(limit, renewed).await {
                        Ok(Ok(Some(answer))) if answer.ttl() > 0 => {
                            alive_until = Instant::now() + self.ttl;
                            wait = FIRST_RETRY;
                        }
                        Ok(Ok(Some(_))) => {
                            return Err(RegisterError::Lost {
                                key: self.key.clone(),
                            });
                        }
                        _ => break,
                    }
                    tokio::select! {
                        () = &mut stop => return Ok(()),
                        () = tokio::time::sleep(interval) => {}
                    }
                }
            }
            if Instant::now() >= alive_until {
                return Err(RegisterError::Lost {
                    key: self.key.clone(),
                });
            }
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = tokio::time::sleep(wait) => {}
            }
            wait = wait.saturating_mul(2).min(interval);
        }
    }

    /// Revokes the lease: the record is deleted at once (watchers see the
    /// instance go).
    pub async fn revoke(mut self) -> Result<(), RegisterError> {
        bounded(
            self.source.connect_timeout,
            "revoke the lease on",
            self.client.lease_revoke(self.lease),
        )
        .await
        .map_err(|failure| RegisterError::etcd(&self.source, failure))?;
        Ok(())
    }
}
