//! The gRPC transport, plugin side (feature `grpc`): the same [`Plugin`]
//! that builds as a `cdylib` and runs as a child process, served as the
//! `plugkit.plugin.v1.Plugin` service (see the `plugin-grpc` crate for the
//! `.proto`), beside the standard `grpc.health.v1.Health` service.
//!
//! Three ways in:
//!
//! - [`serve_grpc`]`(plugin, addr)`: from a `main`, serves until `SIGINT`
//!   or `SIGTERM`, then drains and runs the plugin's `shutdown`;
//! - [`GrpcServer::start`]: from any code (tests, a process serving several
//!   things), with the bound address ([`GrpcServer::local_addr`], so port 0
//!   works) and [`GrpcServer::shutdown`] / [`GrpcServer::kill`];
//! - a plugin binary whose `main` calls [`serve`](crate::serve), started
//!   with `--grpc-listen HOST:PORT`: it prints `listening on ADDR` (the
//!   bound address) as its first line on stdout and serves until `SIGINT`
//!   or `SIGTERM`. The other flags: `--grpc-tls-cert FILE` and
//!   `--grpc-tls-key FILE` (PEM; serve TLS), `--grpc-tls-client-ca FILE`
//!   (mutual TLS: require client certificates signed by this CA),
//!   `--grpc-allow-plaintext` (plaintext on an address that is not
//!   loopback) and `--grpc-config FILE` (the JSON handed to `init`, at most
//!   1 MiB; default `{}`). A binary built without the `grpc` feature
//!   answers any `--grpc-*` flag with an error on stderr and exit status 2.
//!
//! ```no_run
//! # use plugkit_sdk::{Plugin, PluginInfo, Version};
//! # #[derive(Default)] struct Greeter;
//! # impl Plugin for Greeter {
//! #     fn info(&self) -> PluginInfo { PluginInfo::new("greeter", Version::new(1, 0, 0)) }
//! # }
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use plugkit_sdk::grpc::{GrpcServeConfig, GrpcServer};
//!
//! let server = GrpcServer::start(
//!     Greeter::default(),
//!     "127.0.0.1:0".parse()?,
//!     GrpcServeConfig::default(),
//! )?;
//! println!("serving on {}", server.local_addr());
//! server.shutdown(std::time::Duration::from_secs(5)).await;
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! - **A runtime of its own.** A server runs on a tokio runtime it owns
//!   (`worker_threads`, default 2), so it works the same from `main`, from
//!   sync code and from inside another runtime, and ending it ends every
//!   connection it has: [`GrpcServer::kill`] (or dropping the server) is a
//!   crash as a host sees one, which is what failure tests need.
//! - **Plugin code runs on the blocking pool.** `call`, `health` and
//!   friends are synchronous and may block; each runs on tokio's blocking
//!   pool under `catch_unwind`, so a slow call holds up no other.
//! - **`init` once, `shutdown` once.** A served plugin is shared by every
//!   host that dials it, so it is initialised once, at start, with
//!   [`GrpcServeConfig::config_json`] (not a host's manifest metadata),
//!   and no host can stop it: a host's shutdown closes its own connection.
//!   The plugin's `shutdown` runs when the server ends and the last call
//!   has returned (never during a call).
//! - **Health, twice.** The plugin's `Health` RPC answers with the reason;
//!   the standard `grpc.health.v1.Health` service reports `SERVING` or
//!   `NOT_SERVING` for [`plugin_grpc::SERVICE_NAME`] and `""`, refreshed
//!   every `health_interval` and on every `Health` call, so standard probes
//!   work and hosts learn of a change through `Watch` without polling.
//! - **The panic rule.** A panic in the plugin is returned to its caller
//!   (kind `panicked`), and the server serves no more: its state can no
//!   longer be trusted, so it reports `NOT_SERVING` for good and answers
//!   later calls with a `stopped` error; hosts take it out of rotation.
//! - **Plaintext only on loopback**, unless allowed explicitly
//!   ([`GrpcServeConfig::allow_plaintext`], `--grpc-allow-plaintext`).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use plugin_grpc::v1::plugin_server::{Plugin as PluginService, PluginServer};
use plugin_grpc::v1::{self, call_reply};
use tokio::sync::{Notify, oneshot};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::plugin::{ErrorKind, Health, InitContext, Logger, Plugin, PluginError, Response};

/// The largest PEM or config file read (1 MiB).
const MAX_FILE: u64 = 1 << 20;

/// How a gRPC server behaves. `Default` gives the documented values; build
/// one in an expression with the `with_*` methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GrpcServeConfig {
    /// Serve TLS (and, with a client CA, mutual TLS). Default: none
    /// (plaintext, which only a loopback address accepts unless
    /// `allow_plaintext`).
    pub tls: Option<ServerTls>,
    /// Serve plaintext on an address that is not loopback. Default `false`.
    pub allow_plaintext: bool,
    /// How often the plugin's `health` refreshes the `grpc.health.v1`
    /// status. Default 1 s.
    pub health_interval: Duration,
    /// The JSON configuration handed to the plugin's `init`. Default `{}`.
    pub config_json: String,
    /// The server runtime's worker threads (plugin code runs on its
    /// blocking pool, not on these). Default 2.
    pub worker_threads: usize,
    /// The largest message received or sent, in bytes. Default 16 MiB.
    pub max_message: usize,
    /// [`serve_grpc`]'s and `--grpc-listen`'s grace period for calls in
    /// flight at `SIGINT`/`SIGTERM`. Default 5 s.
    pub shutdown_grace: Duration,
}

impl Default for GrpcServeConfig {
    fn default() -> Self {
        GrpcServeConfig {
            tls: None,
            allow_plaintext: false,
            health_interval: Duration::from_secs(1),
            config_json: "{}".to_string(),
            worker_threads: 2,
            max_message: plugin_grpc::DEFAULT_MAX_MESSAGE,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl GrpcServeConfig {
    /// With TLS (or none).
    pub fn with_tls(mut self, tls: Option<ServerTls>) -> Self {
        self.tls = tls;
        self
    }

    /// Allowing (or not) plaintext on an address that is not loopback.
    pub fn with_allow_plaintext(mut self, allow: bool) -> Self {
        self.allow_plaintext = allow;
        self
    }

    /// With another health refresh interval.
    pub fn with_health_interval(mut self, interval: Duration) -> Self {
        self.health_interval = interval;
        self
    }

    /// With this configuration for the plugin's `init`.
    pub fn with_config_json(mut self, config_json: impl Into<String>) -> Self {
        self.config_json = config_json.into();
        self
    }

    /// With this many runtime worker threads.
    pub fn with_worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads;
        self
    }

    /// With another message size limit.
    pub fn with_max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// With another shutdown grace period.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
}

/// The server's TLS: its certificate chain and key (PEM files), and for
/// mutual TLS the CA that client certificates must be signed by.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerTls {
    /// The server's certificate chain (PEM).
    pub certificate: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by this CA
    /// (PEM): mutual TLS. Default: none.
    pub client_ca: Option<PathBuf>,
}

impl ServerTls {
    /// TLS with this certificate chain and key.
    pub fn new(certificate: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        ServerTls {
            certificate: certificate.into(),
            key: key.into(),
            client_ca: None,
        }
    }

    /// The same, requiring client certificates signed by `ca` (or not).
    pub fn with_client_ca(mut self, ca: Option<PathBuf>) -> Self {
        self.client_ca = ca;
        self
    }
}

/// Why a plugin could not be served over gRPC.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrpcServeError {
    /// The plugin's `init` failed (or panicked).
    #[error("plugin {plugin}: init failed: {error}")]
    Init {
        /// The plugin.
        plugin: String,
        /// Its error.
        error: PluginError,
    },
    /// Plaintext was asked for on an address that is not loopback.
    #[error(
        "plugin {plugin}: refusing to serve plaintext on {addr}, which is not a loopback address; configure TLS (--grpc-tls-cert and --grpc-tls-key) or allow plaintext explicitly (--grpc-allow-plaintext)"
    )]
    PlaintextNotAllowed {
        /// The plugin.
        plugin: String,
        /// The address.
        addr: SocketAddr,
    },
    /// The address could not be resolved or bound.
    #[error("plugin {plugin}: cannot listen on {addr}: {source}")]
    Bind {
        /// The plugin.
        plugin: String,
        /// The address, as given.
        addr: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// A TLS or configuration file could not be read.
    #[error("plugin {plugin}: cannot read {what} {path}: {source}")]
    ReadFile {
        /// The plugin.
        plugin: String,
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The TLS configuration was refused (bad PEM, a key that does not fit).
    #[error("plugin {plugin}: bad TLS configuration: {reason}")]
    Tls {
        /// The plugin.
        plugin: String,
        /// What was wrong.
        reason: String,
    },
    /// The server's runtime could not start.
    #[error("plugin {plugin}: cannot start the server's runtime: {source}")]
    Runtime {
        /// The plugin.
        plugin: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The server failed while serving.
    #[error("plugin {plugin}: the gRPC server failed: {reason}")]
    Serve {
        /// The plugin.
        plugin: String,
        /// What happened.
        reason: String,
    },
}

/// Runs the plugin's `shutdown` when the last holder lets go: after the
/// server ended and the last call returned, exactly once.
struct Served<P: Plugin> {
    plugin: P,
}

impl<P: Plugin> Drop for Served<P> {
    fn drop(&mut self) {
        let _ = catch_unwind(AssertUnwindSafe(|| self.plugin.shutdown()));
    }
}

/// Counts the plugin's calls in flight, so a shutdown can wait for them.
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

struct Entered<'a>(&'a InFlight);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl InFlight {
    fn enter(&self) -> Entered<'_> {
        self.count.fetch_add(1, Ordering::SeqCst);
        Entered(self)
    }

    async fn drained(&self, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let idle = self.idle.notified();
            if self.count.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.count.load(Ordering::SeqCst) == 0;
            }
        }
    }
}

/// What the service shares with the server handle and the health poller.
struct Shared<P: Plugin> {
    served: Arc<Served<P>>,
    info: v1::InfoReply,
    reporter: HealthReporter,
    in_flight: InFlight,
    /// Set by the first panic: the server serves no more.
    poisoned: Mutex<Option<String>>,
}

impl<P: Plugin> Shared<P> {
    fn poisoned(&self) -> Option<String> {
        self.poisoned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn poison(&self, error: &PluginError) {
        {
            let mut poisoned = self.poisoned.lock().unwrap_or_else(PoisonError::into_inner);
            if poisoned.is_none() {
                *poisoned = Some(error.message().to_string());
            }
        }
        self.report(false).await;
    }

    async fn report(&self, serving: bool) {
        let status = if serving && self.poisoned().is_none() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter
            .set_service_status(plugin_grpc::SERVICE_NAME, status)
            .await;
        self.reporter.set_service_status("", status).await;
    }

    /// The plugin's health, on the blocking pool; a panic poisons. `Err`
    /// only when the server is going away and the check did not run.
    async fn health(&self) -> Result<Result<Health, PluginError>, tonic::Status> {
        if let Some(message) = self.poisoned() {
            return Ok(Ok(Health::Unhealthy(format!(
                "the plugin panicked and serves no more: {message}"
            ))));
        }
        let served = Arc::clone(&self.served);
        let health = on_blocking_pool("health check", move || {
            catch_unwind(AssertUnwindSafe(|| served.plugin.health()))
                .map_err(|panic| crate::serve::panicked("health", panic.as_ref()))
        })
        .await?;
        match &health {
            Ok(health) => self.report(health.is_serving()).await,
            Err(error) => self.poison(error).await,
        }
        Ok(health)
    }
}

/// Runs plugin code on the runtime's blocking pool. A task that never ran
/// was cancelled by the server's runtime going away (a kill, or a drop
/// without `shutdown`): the caller gets `UNAVAILABLE`, as it would from a
/// cut connection, and never an answer that blames the plugin.
async fn on_blocking_pool<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tonic::Status> {
    joined(what, tokio::task::spawn_blocking(work)).await
}

/// The outcome of a task that runs plugin code: see [`on_blocking_pool`].
async fn joined<T>(what: &str, task: tokio::task::JoinHandle<T>) -> Result<T, tonic::Status> {
    task.await.map_err(|error| {
        tonic::Status::unavailable(format!(
            "the plugin server is going away: the {what} did not run ({error})"
        ))
    })
}

/// The `plugkit.plugin.v1.Plugin` service over one plugin.
struct Service<P: Plugin> {
    shared: Arc<Shared<P>>,
}

fn plugin_error(error: &PluginError) -> v1::PluginError {
    let kind = match error.kind() {
        ErrorKind::UnknownMethod => v1::ErrorKind::UnknownMethod,
        ErrorKind::BadRequest => v1::ErrorKind::BadRequest,
        ErrorKind::Failed => v1::ErrorKind::Failed,
        ErrorKind::Panicked => v1::ErrorKind::Panicked,
        ErrorKind::NotInitialized => v1::ErrorKind::NotInitialized,
        ErrorKind::Stopped => v1::ErrorKind::Stopped,
    };
    v1::PluginError {
        kind: kind as i32,
        message: error.message().to_string(),
    }
}

#[tonic::async_trait]
impl<P: Plugin> PluginService for Service<P> {
    async fn info(
        &self,
        _request: tonic::Request<v1::InfoRequest>,
    ) -> Result<tonic::Response<v1::InfoReply>, tonic::Status> {
        Ok(tonic::Response::new(self.shared.info.clone()))
    }

    async fn call(
        &self,
        request: tonic::Request<v1::CallRequest>,
    ) -> Result<tonic::Response<v1::CallReply>, tonic::Status> {
        let shared = &self.shared;
        let _entered = shared.in_flight.enter();
        let v1::CallRequest {
            method,
            payload,
            json,
        } = request.into_inner();
        let result = match shared.poisoned() {
            Some(message) => Err(PluginError::new(
                ErrorKind::Stopped,
                format!("the plugin panicked earlier and serves no more: {message}"),
            )),
            None => {
                let served = Arc::clone(&shared.served);
                on_blocking_pool("call", move || {
                    call(&served.plugin, &method, &payload, json)
                })
                .await?
            }
        };
        if let Err(error) = &result
            && error.kind() == ErrorKind::Panicked
        {
            shared.poison(error).await;
        }
        let result = match result {
            Ok(payload) => call_reply::Result::Payload(payload),
            Err(error) => call_reply::Result::Error(plugin_error(&error)),
        };
        Ok(tonic::Response::new(v1::CallReply {
            result: Some(result),
        }))
    }

    async fn health(
        &self,
        _request: tonic::Request<v1::HealthRequest>,
    ) -> Result<tonic::Response<v1::HealthReply>, tonic::Status> {
        let _entered = self.shared.in_flight.enter();
        let (status, reason) = match self.shared.health().await? {
            Ok(Health::Healthy) => (v1::HealthStatus::Healthy, String::new()),
            Ok(Health::Degraded(reason)) => (v1::HealthStatus::Degraded, reason),
            Ok(Health::Unhealthy(reason)) => (v1::HealthStatus::Unhealthy, reason),
            Err(error) => (v1::HealthStatus::Unhealthy, error.message().to_string()),
        };
        Ok(tonic::Response::new(v1::HealthReply {
            status: status as i32,
            reason,
        }))
    }

    async fn methods(
        &self,
        _request: tonic::Request<v1::MethodsRequest>,
    ) -> Result<tonic::Response<v1::MethodsReply>, tonic::Status> {
        let methods = self
            .shared
            .served
            .plugin
            .methods()
            .map(|methods| {
                methods
                    .infos()
                    .map(|info| v1::MethodInfo {
                        name: info.name.clone(),
                        request: info.request.clone(),
                        response: info.response.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(tonic::Response::new(v1::MethodsReply { methods }))
    }
}

/// One call, bytes or JSON, under `catch_unwind` (as the other transports).
fn call<P: Plugin>(
    plugin: &P,
    method: &str,
    payload: &[u8],
    json: bool,
) -> Result<Vec<u8>, PluginError> {
    let mut buffer = Vec::new();
    catch_unwind(AssertUnwindSafe(|| {
        let response = &mut Response::new(&mut buffer);
        if json {
            let methods = plugin
                .methods()
                .ok_or_else(crate::export::no_typed_methods)?;
            methods.dispatch_json(plugin, method, payload, response)
        } else {
            plugin.call(method, payload, response)
        }
    }))
    .unwrap_or_else(|panic| Err(crate::serve::panicked(method, panic.as_ref())))?;
    Ok(buffer)
}

/// A plugin served over gRPC, on a runtime of its own. Dropping it is
/// [`kill`](GrpcServer::kill).
pub struct GrpcServer {
    plugin: String,
    local_addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<oneshot::Sender<()>>,
    finished: Option<oneshot::Receiver<Result<(), String>>>,
    drain: Arc<dyn Fn(Duration) -> DrainFuture + Send + Sync>,
}

type DrainFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl std::fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServer")
            .field("plugin", &self.plugin)
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl GrpcServer {
    /// Initialises `plugin` (with [`GrpcServeConfig::config_json`]), binds
    /// `addr` (port 0 picks a free port: see
    /// [`local_addr`](GrpcServer::local_addr)) and serves it on a runtime of
    /// its own. Returns once the socket is bound; callable from sync code
    /// and from inside another runtime.
    pub fn start<P: Plugin>(
        mut plugin: P,
        addr: SocketAddr,
        config: GrpcServeConfig,
    ) -> Result<GrpcServer, GrpcServeError> {
        let info = plugin.info();
        let name = info.name.clone();
        if config.tls.is_none() && !config.allow_plaintext && !addr.ip().is_loopback() {
            return Err(GrpcServeError::PlaintextNotAllowed { plugin: name, addr });
        }
        let tls = config
            .tls
            .as_ref()
            .map(|tls| tls_config(&name, tls))
            .transpose()?;
        let logger = Logger::stderr(name.clone());
        catch_unwind(AssertUnwindSafe(|| {
            plugin.init(&InitContext::new(&config.config_json, logger))
        }))
        .unwrap_or_else(|panic| Err(crate::serve::panicked("init", panic.as_ref())))
        .map_err(|error| GrpcServeError::Init {
            plugin: name.clone(),
            error,
        })?;
        let bind_error = |source| GrpcServeError::Bind {
            plugin: name.clone(),
            addr: addr.to_string(),
            source,
        };
        let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .thread_name("plugkit-grpc")
            .enable_all()
            .build()
            .map_err(|source| GrpcServeError::Runtime {
                plugin: name.clone(),
                source,
            })?;
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(bind_error)?
        };
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));

        let (reporter, health_service) = tonic_health::server::health_reporter();
        let shared = Arc::new(Shared {
            served: Arc::new(Served { plugin }),
            info: v1::InfoReply {
                protocol: plugin_grpc::GRPC_PROTOCOL_VERSION,
                name: info.name.clone(),
                version: info.version.to_string(),
                capabilities: info.capabilities.clone(),
                sdk_version: crate::SDK_VERSION.to_string(),
                encoding: crate::ENCODING.to_string(),
                state_format: info.state_format.clone(),
            },
            reporter,
            in_flight: InFlight::default(),
            poisoned: Mutex::new(None),
        });
        let service = PluginServer::new(Service {
            shared: Arc::clone(&shared),
        })
        .max_decoding_message_size(config.max_message)
        .max_encoding_message_size(config.max_message);
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            builder = builder
                .tls_config(tls)
                .map_err(|error| GrpcServeError::Tls {
                    plugin: name.clone(),
                    reason: plugin_grpc::error_chain(&error),
                })?;
        }
        let router = builder.add_service(health_service).add_service(service);

        // SERVING before the first connection is accepted, so no host
        // ever watches a status that is not set yet.
        let (reported, ready) = std::sync::mpsc::channel();
        {
            let shared = Arc::clone(&shared);
            runtime.spawn(async move {
                shared.report(true).await;
                let _ = reported.send(());
            });
        }
        let _ = ready.recv();
        let (stop, stopped) = oneshot::channel::<()>();
        let (done, finished) = oneshot::channel();
        {
            runtime.spawn(async move {
                let served = router
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = stopped.await;
                    })
                    .await
                    .map_err(|error| plugin_grpc::error_chain(&error));
                let _ = done.send(served);
            });
        }
        {
            // Refreshes the grpc.health.v1 status; ends with the runtime.
            let shared = Arc::clone(&shared);
            let interval = config.health_interval.max(Duration::from_millis(10));
            runtime.spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    let _ = shared.health().await;
                }
            });
        }
        let drain = {
            let shared = Arc::clone(&shared);
            Arc::new(move |grace: Duration| -> DrainFuture {
                let shared = Arc::clone(&shared);
                Box::pin(async move {
                    shared.report(false).await;
                    shared.in_flight.drained(grace).await;
                })
            })
        };
        Ok(GrpcServer {
            plugin: name,
            local_addr,
            runtime: Some(runtime),
            stop: Some(stop),
            finished: Some(finished),
            drain,
        })
    }

    /// The address the server is bound to (with the port picked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving gracefully: reports `NOT_SERVING` (so hosts take it
    /// out of rotation), stops accepting connections, waits up to `grace`
    /// for the calls in flight, then ends every connection. The plugin's
    /// `shutdown` runs once the last call has returned. Runtime-agnostic:
    /// the waiting runs on the server's own runtime.
    pub async fn shutdown(mut self, grace: Duration) {
        let (done, drained) = oneshot::channel();
        if let Some(runtime) = &self.runtime {
            let drain = (self.drain)(grace);
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            runtime.spawn(async move {
                drain.await;
                let _ = done.send(());
            });
            let _ = drained.await;
        }
        self.kill_now();
    }

    /// Ends the server at once, as a crash would: every connection is cut,
    /// calls in flight get no answer.
    pub fn kill(mut self) {
        self.kill_now();
    }

    /// Drops every task of the server's runtime, its listener with them,
    /// before it returns: the port is free for a new server at once (with
    /// `shutdown_background` the listener could outlive the call, and a
    /// server started on the same port failed to bind). A call still
    /// running in the plugin is left to finish on its own thread. Runs the
    /// shutdown on a thread of its own, so it may be called from async code.
    fn kill_now(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            let (hand, take) = std::sync::mpsc::channel::<tokio::runtime::Runtime>();
            let stopping = std::thread::Builder::new()
                .name("plugkit-grpc-kill".into())
                .spawn(move || {
                    if let Ok(runtime) = take.recv() {
                        runtime.shutdown_timeout(Duration::from_millis(100));
                    }
                });
            match stopping {
                Ok(thread) => {
                    let _ = hand.send(runtime);
                    let _ = thread.join();
                }
                // No thread to spare: stop without waiting.
                Err(_) => runtime.shutdown_background(),
            }
        }
    }

    /// Serves until `SIGINT` or `SIGTERM` (or the server fails), then shuts
    /// down with `grace`. Blocks the calling thread: for a `main`.
    fn run_until_signal(mut self, grace: Duration) -> Result<(), GrpcServeError> {
        let Some(runtime) = self.runtime.take() else {
            return Ok(());
        };
        let finished = self.finished.take();
        let served = runtime.block_on(async {
            let finished = async {
                match finished {
                    Some(finished) => finished.await.unwrap_or(Ok(())),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                served = finished => Some(served),
                () = signalled() => None,
            }
        });
        let result = match served {
            Some(Err(reason)) => Err(GrpcServeError::Serve {
                plugin: self.plugin.clone(),
                reason,
            }),
            Some(Ok(())) => Ok(()),
            None => {
                let drain = (self.drain)(grace);
                if let Some(stop) = self.stop.take() {
                    let _ = stop.send(());
                }
                runtime.block_on(drain);
                Ok(())
            }
        };
        runtime.shutdown_background();
        result
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// Waits for `SIGINT` or (on Unix) `SIGTERM`.
async fn signalled() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves `plugin` over gRPC on `addr` until `SIGINT` or `SIGTERM`, then
/// drains the calls in flight (up to 5 s) and runs the plugin's
/// `shutdown`. Blocks the calling thread: call it from `main`, not from
/// async code (there, use [`GrpcServer::start`]).
///
/// ```no_run
/// # use plugkit_sdk::{Plugin, PluginInfo, Version};
/// # #[derive(Default)] struct Greeter;
/// # impl Plugin for Greeter {
/// #     fn info(&self) -> PluginInfo { PluginInfo::new("greeter", Version::new(1, 0, 0)) }
/// # }
/// fn main() -> Result<(), plugkit_sdk::grpc::GrpcServeError> {
///     plugkit_sdk::serve_grpc(Greeter::default(), "127.0.0.1:50051")
/// }
/// ```
pub fn serve_grpc<P: Plugin>(plugin: P, addr: impl ToSocketAddrs) -> Result<(), GrpcServeError> {
    let name = plugin.info().name;
    let addr = resolve(&name, addr)?;
    let config = GrpcServeConfig::default();
    let grace = config.shutdown_grace;
    GrpcServer::start(plugin, addr, config)?.run_until_signal(grace)
}

fn resolve(plugin: &str, addr: impl ToSocketAddrs) -> Result<SocketAddr, GrpcServeError> {
    let bind_error = |source| GrpcServeError::Bind {
        plugin: plugin.to_string(),
        addr: String::from("the address given"),
        source,
    };
    addr.to_socket_addrs()
        .map_err(bind_error)?
        .next()
        .ok_or_else(|| {
            bind_error(std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                "it resolves to no address",
            ))
        })
}

fn read_bounded(plugin: &str, what: &'static str, path: &Path) -> Result<Vec<u8>, GrpcServeError> {
    let error = |source| GrpcServeError::ReadFile {
        plugin: plugin.to_string(),
        what,
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(error)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(error)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("it is larger than the limit of {MAX_FILE} bytes"),
        )));
    }
    Ok(bytes)
}

fn tls_config(plugin: &str, tls: &ServerTls) -> Result<ServerTlsConfig, GrpcServeError> {
    let certificate = read_bounded(plugin, "the TLS certificate", &tls.certificate)?;
    let key = read_bounded(plugin, "the TLS key", &tls.key)?;
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(certificate, key));
    if let Some(ca) = &tls.client_ca {
        let ca = read_bounded(plugin, "the client CA", ca)?;
        config = config.client_ca_root(Certificate::from_pem(ca));
    }
    Ok(config)
}

/// The `--grpc-*` flags of a plugin binary.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct GrpcArgs {
    pub(crate) listen: Option<String>,
    pub(crate) certificate: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
    pub(crate) client_ca: Option<PathBuf>,
    pub(crate) allow_plaintext: bool,
    pub(crate) config: Option<PathBuf>,
}

impl GrpcArgs {
    /// Parses the flags (`--flag VALUE` or `--flag=VALUE`); any other
    /// argument is an error.
    pub(crate) fn parse(args: &[String]) -> Result<GrpcArgs, String> {
        let mut parsed = GrpcArgs::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag, Some(value.to_string())),
                None => (arg.as_str(), None),
            };
            if flag == "--grpc-allow-plaintext" {
                if inline.is_some() {
                    return Err("--grpc-allow-plaintext takes no value".to_string());
                }
                parsed.allow_plaintext = true;
                continue;
            }
            if !matches!(
                flag,
                "--grpc-listen"
                    | "--grpc-tls-cert"
                    | "--grpc-tls-key"
                    | "--grpc-tls-client-ca"
                    | "--grpc-config"
            ) {
                return Err(format!(
                    "unknown argument {flag:?}; a plugin binary takes --grpc-listen HOST:PORT, --grpc-tls-cert FILE, --grpc-tls-key FILE, --grpc-tls-client-ca FILE, --grpc-allow-plaintext and --grpc-config FILE, or no argument at all (stdio)"
                ));
            }
            let value = match inline {
                Some(value) => value,
                None => args
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value"))?,
            };
            match flag {
                "--grpc-listen" => parsed.listen = Some(value),
                "--grpc-tls-cert" => parsed.certificate = Some(value.into()),
                "--grpc-tls-key" => parsed.key = Some(value.into()),
                "--grpc-tls-client-ca" => parsed.client_ca = Some(value.into()),
                _ => parsed.config = Some(value.into()),
            }
        }
        if parsed.listen.is_none() {
            return Err("the --grpc-* flags need --grpc-listen HOST:PORT".to_string());
        }
        match (&parsed.certificate, &parsed.key) {
            (Some(_), None) | (None, Some(_)) => {
                return Err("--grpc-tls-cert and --grpc-tls-key go together".to_string());
            }
            (None, None) if parsed.client_ca.is_some() => {
                return Err(
                    "--grpc-tls-client-ca needs --grpc-tls-cert and --grpc-tls-key".to_string(),
                );
            }
            _ => {}
        }
        Ok(parsed)
    }
}

/// A plugin binary's `main` under `--grpc-listen`: serves until a signal.
/// Exit codes as [`serve`](crate::serve): 0 after a clean shutdown, 1 when
/// `init` failed, 2 on a usage, IO or server error.
pub(crate) fn serve_binary<P: Plugin>(plugin: P, args: GrpcArgs) -> ExitCode {
    let name = plugin.info().name;
    let fail = |error: &dyn std::fmt::Display| {
        let _ = writeln!(std::io::stderr(), "[error] plugkit gRPC plugin: {error}");
    };
    let listen = args.listen.unwrap_or_default();
    let addr = match resolve(&name, listen.as_str()) {
        Ok(addr) => addr,
        Err(error) => {
            fail(&error);
            return ExitCode::from(2);
        }
    };
    let mut config = GrpcServeConfig::default().with_allow_plaintext(args.allow_plaintext);
    if let (Some(certificate), Some(key)) = (args.certificate, args.key) {
        config = config.with_tls(Some(
            ServerTls::new(certificate, key).with_client_ca(args.client_ca),
        ));
    }
    if let Some(path) = &args.config {
        match read_bounded(&name, "the configuration", path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => config = config.with_config_json(text),
                Err(_) => {
                    fail(&format!("{} is not UTF-8 text", path.display()));
                    return ExitCode::from(2);
                }
            },
            Err(error) => {
                fail(&error);
                return ExitCode::from(2);
            }
        }
    }
    let grace = config.shutdown_grace;
    let server = match GrpcServer::start(plugin, addr, config) {
        Ok(server) => server,
        Err(error) => {
            fail(&error);
            return ExitCode::from(match error {
                GrpcServeError::Init { .. } => 1,
                _ => 2,
            });
        }
    };
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "listening on {}", server.local_addr())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        // Nobody reads the address; serving on is still useful.
    }
    match server.run_until_signal(grace) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            fail(&error);
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_cancelled_by_the_runtime_going_away_is_unavailable() {
        let task = tokio::spawn(std::future::pending::<()>());
        task.abort();
        let status = joined("call", task).await.expect_err("cancelled");
        // The loader reads UNAVAILABLE as a cut connection (`Disconnected`),
        // as a crash: never as the plugin's own failure.
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(
            status.message().contains("the call did not run"),
            "{}",
            status.message()
        );
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_parse_in_both_spellings() {
        let parsed = GrpcArgs::parse(&args(&[
            "--grpc-listen=127.0.0.1:0",
            "--grpc-tls-cert",
            "c.pem",
            "--grpc-tls-key=k.pem",
            "--grpc-allow-plaintext",
        ]))
        .expect("parses");
        assert_eq!(parsed.listen.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(parsed.certificate, Some(PathBuf::from("c.pem")));
        assert_eq!(parsed.key, Some(PathBuf::from("k.pem")));
        assert!(parsed.allow_plaintext);
    }

    #[test]
    fn bad_flags_are_refused_with_the_reason() {
        for (list, why) in [
            (&["--grpc-listen"][..], "needs a value"),
            (&["--grpc-tls-cert", "c.pem"][..], "need --grpc-listen"),
            (
                &["--grpc-listen", "x:1", "--grpc-tls-cert", "c"][..],
                "go together",
            ),
            (
                &["--grpc-listen", "x:1", "--grpc-tls-client-ca", "c"][..],
                "needs --grpc-tls-cert",
            ),
            (
                &["--grpc-listen", "x:1", "--verbose"][..],
                "unknown argument",
            ),
            (
                &["--grpc-listen", "x:1", "--grpc-allow-plaintext=yes"][..],
                "takes no value",
            ),
        ] {
            let error = GrpcArgs::parse(&args(list)).expect_err(why);
            assert!(error.contains(why), "{list:?}: {error}");
        }
    }

    #[test]
    fn plaintext_off_loopback_is_refused_before_binding() {
        struct Quiet;
        impl Plugin for Quiet {
            fn info(&self) -> crate::PluginInfo {
                crate::PluginInfo::new("quiet", crate::Version::new(1, 0, 0))
            }
        }
        // TEST-NET-1: never bound, never dialled; the refusal comes first.
        let error = GrpcServer::start(
            Quiet,
            "192.0.2.1:50051".parse().expect("addr"),
            GrpcServeConfig::default(),
        )
        .expect_err("refused");
        assert!(
            matches!(error, GrpcServeError::PlaintextNotAllowed { .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("--grpc-allow-plaintext"),
            "{error}"
        );
    }
}
