//! The gRPC transport: a remote plugin (manifest `transport: grpc`, or
//! [`Loader::load_remote`](crate::Loader::load_remote) with a set of
//! endpoints) behind the same [`Instance`](crate::Instance) as the local
//! transports, dialled with tonic. The service is `plugkit.plugin.v1`
//! (crate `plugin-grpc`), served by plugkit-sdk's `serve_grpc` or by a
//! plugin binary started with `--grpc-listen`.
//!
//! - **Endpoints.** An instance holds a set of `host:port` endpoints of
//!   one plugin version: one plugin to the host, load-balanced round robin
//!   over the endpoints *in rotation* (connected, handshake passed, health
//!   serving). [`GrpcPlugin::set_endpoints`] (or
//!   [`Instance::set_endpoints`](crate::Instance::set_endpoints)) changes
//!   the set in place: new endpoints are dialled at once, removed ones
//!   leave the rotation at once and are closed once their calls in flight
//!   have finished (within the call timeout). No new `Instance`, so the
//!   host's routing and state need no swap: what a discovery source
//!   (etcd) reports is applied with one call.
//! - **Handshake.** Each connection starts with `Info`: the plugin's name
//!   and version must be the manifest's, its encoding the SDK's and its
//!   protocol in [`plugin_grpc::SUPPORTED_GRPC_PROTOCOLS`]; an endpoint that
//!   differs is refused with [`EndpointError::Identity`] (a load whose
//!   every endpoint is refused fails with [`LoadError::Remote`] listing
//!   each reason).
//! - **Health, watched.** Each endpoint keeps one `grpc.health.v1.Health/
//!   Watch` stream open (service [`plugin_grpc::SERVICE_NAME`]): `SERVING`
//!   puts it in rotation, anything else takes it out
//!   ([`InstanceEventKind::InRotation`] / [`OutOfRotation`](InstanceEventKind::OutOfRotation)),
//!   and the stream breaking is how a vanished server is noticed at once
//!   (HTTP/2 keep-alive pings catch a silent one within
//!   [`GrpcConfig::keepalive`] twice).
//! - **Going away.** When an endpoint's connection breaks, its calls in
//!   flight fail at once with [`CallError::Disconnected`] (they may or may
//!   not have run), a `Disconnected` event goes out, and the endpoint is
//!   dialled again with exponential backoff (`Reconnecting` events) for as
//!   long as it is in the set and the instance lives. While no endpoint is
//!   in rotation the instance is [`InstanceState::Disconnected`] and calls
//!   wait for one, up to their deadline ([`CallError::Unavailable`]).
//! - **A deadline on every call** ([`GrpcConfig::call_timeout`], or
//!   [`call_with_timeout`](GrpcPlugin::call_with_timeout)), sent as the gRPC
//!   deadline and enforced here too ([`CallError::Timeout`]).
//! - **Shutdown drains and disconnects.** [`GrpcPlugin::shutdown`] closes
//!   the gate, waits up to `grace` for the calls in flight (those still
//!   running then are [`CallError::Abandoned`]), and closes this host's
//!   connections. It never stops the service, which other hosts may share
//!   ([`Ended::Disconnected`]); dropping the last handle does the same.
//! - **Security.** TLS and mutual TLS with rustls ([`GrpcTls`]: the CA, and
//!   a client certificate and key for mTLS), host-wide
//!   ([`GrpcConfig::tls`]) or per plugin ([`GrpcConfig::plugin_tls`], which
//!   wins). Without TLS only loopback endpoints are dialled (`127.0.0.0/8`,
//!   `::1`, `localhost`); any other is refused before dialling
//!   ([`EndpointError::PlaintextNotAllowed`]) unless
//!   [`GrpcConfig::allow_plaintext`] says otherwise. Certificates are read
//!   again on every connection, so rotated files are picked up.
//! - **What differs from local plugins.** A remote service is initialised
//!   once by whoever runs it (not with this host's manifest metadata), is
//!   shared, and keeps its own state: a remote instance reports no
//!   `state_format` and hands no state over across a hot swap. A panic in
//!   the remote plugin is returned to the caller and, by the SDK's panic
//!   rule, takes that server out of rotation for good (it reports
//!   `NOT_SERVING`); the instance itself stays up while other endpoints
//!   serve. [`InstanceInfo::artifact`](crate::InstanceInfo::artifact) is
//!   the manifest's endpoint.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use plugin_grpc::v1::plugin_client::PluginClient;
use plugin_grpc::v1::{self, call_reply};
use plugin_manifest::{Manifest, Transport};
use plugin_version::Version;
use plugkit_sdk::{ErrorKind, Health, MethodInfo, PluginError, State};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, watch};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::error::{CallError, LoadError};
use crate::instance::{
    Ended, InstanceEventKind, InstanceInfo, InstanceState, ShutdownOutcome, begin_shutdown,
    finish_shutdown,
};
use crate::lifecycle::Lifecycle;

/// The largest PEM file read (1 MiB).
const MAX_PEM: u64 = 1 << 20;

/// How the gRPC transport behaves. `Default` gives the documented values;
/// build one in an expression with the `with_*` methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GrpcConfig {
    /// The deadline of a call that names none. Default 10 s.
    pub call_timeout: Duration,
    /// How long one connection attempt (TCP, TLS, HTTP/2, handshake and
    /// the first health status) may take. Default 5 s.
    pub connect_timeout: Duration,
    /// The wait before the first reconnection; it doubles after each
    /// failed attempt. Default 100 ms.
    pub initial_backoff: Duration,
    /// The longest wait between reconnections. Default 5 s.
    pub max_backoff: Duration,
    /// The HTTP/2 keep-alive ping interval, and how long a ping may go
    /// unanswered before the connection counts as broken. Default 10 s.
    pub keepalive: Duration,
    /// TLS for every remote plugin without a setting of its own. Default:
    /// none (plaintext, loopback only unless `allow_plaintext`).
    pub tls: Option<GrpcTls>,
    /// TLS per plugin name; wins over `tls`. Default: empty.
    pub plugin_tls: BTreeMap<String, GrpcTls>,
    /// Dial endpoints that are not loopback without TLS. Default `false`.
    pub allow_plaintext: bool,
    /// The largest message sent or received, in bytes. Default 16 MiB.
    pub max_message: usize,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            call_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            keepalive: Duration::from_secs(10),
            tls: None,
            plugin_tls: BTreeMap::new(),
            allow_plaintext: false,
            max_message: plugin_grpc::DEFAULT_MAX_MESSAGE,
        }
    }
}

impl GrpcConfig {
    /// With another default call deadline.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// With another connection timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// With another first reconnection wait.
    pub fn with_initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// With another longest reconnection wait.
    pub fn with_max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// With another keep-alive interval.
    pub fn with_keepalive(mut self, keepalive: Duration) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// With host-wide TLS (or none).
    pub fn with_tls(mut self, tls: Option<GrpcTls>) -> Self {
        self.tls = tls;
        self
    }

    /// With these per-plugin TLS settings.
    pub fn with_plugin_tls(mut self, plugin_tls: BTreeMap<String, GrpcTls>) -> Self {
        self.plugin_tls = plugin_tls;
        self
    }

    /// Allowing (or not) plaintext to endpoints that are not loopback.
    pub fn with_allow_plaintext(mut self, allow: bool) -> Self {
        self.allow_plaintext = allow;
        self
    }

    /// With another message size limit.
    pub fn with_max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// The TLS settings for `plugin`: its own, else the host-wide ones.
    pub fn tls_for(&self, plugin: &str) -> Option<&GrpcTls> {
        self.plugin_tls.get(plugin).or(self.tls.as_ref())
    }
}

/// TLS to a remote plugin (rustls): the CA that signs the servers'
/// certificates and, for mutual TLS, this host's client certificate and
/// key, all PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GrpcTls {
    /// The CA certificate(s) the server's certificate must chain to.
    pub ca_certificate: PathBuf,
    /// This host's certificate chain, for mutual TLS. Default: none.
    pub client_certificate: Option<PathBuf>,
    /// This host's private key, for mutual TLS. Default: none.
    pub client_key: Option<PathBuf>,
    /// The name the server's certificate must be issued to. Default: the
    /// endpoint's host.
    pub domain_name: Option<String>,
}

impl GrpcTls {
    /// TLS trusting the CA in `ca_certificate`.
    pub fn new(ca_certificate: impl Into<PathBuf>) -> Self {
        GrpcTls {
            ca_certificate: ca_certificate.into(),
            client_certificate: None,
            client_key: None,
            domain_name: None,
        }
    }

    /// With (or without) a client certificate chain, for mutual TLS.
    pub fn with_client_certificate(mut self, path: Option<PathBuf>) -> Self {
        self.client_certificate = path;
        self
    }

    /// With (or without) the client certificate's key, for mutual TLS.
    pub fn with_client_key(mut self, path: Option<PathBuf>) -> Self {
        self.client_key = path;
        self
    }

    /// With (or without) the server name to verify.
    pub fn with_domain_name(mut self, name: Option<String>) -> Self {
        self.domain_name = name;
        self
    }
}

/// Why an endpoint of a remote plugin cannot be used. Each names the
/// endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// Not `host:port`.
    #[error("{endpoint:?} is not `host:port`: {reason}")]
    Invalid {
        /// The endpoint.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
    /// Plaintext to an endpoint that is not loopback; refused before
    /// dialling.
    #[error(
        "{endpoint}: refusing plaintext to an endpoint that is not loopback; configure TLS for the plugin (GrpcConfig::tls or plugin_tls) or allow plaintext explicitly (GrpcConfig::allow_plaintext)"
    )]
    PlaintextNotAllowed {
        /// The endpoint.
        endpoint: String,
    },
    /// A TLS file could not be read or was refused.
    #[error("{endpoint}: bad TLS configuration: {reason}")]
    TlsConfig {
        /// The endpoint.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
    /// The TLS handshake failed (a server certificate the CA does not
    /// sign, a client certificate the server refuses, ...).
    #[error("{endpoint}: TLS refused: {reason}")]
    Tls {
        /// The endpoint.
        endpoint: String,
        /// The TLS error.
        reason: String,
    },
    /// The connection could not be made (refused, unreachable, reset).
    #[error("{endpoint}: cannot connect: {reason}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// The error.
        reason: String,
    },
    /// No connection, handshake and first health status within the
    /// connection timeout.
    #[error("{endpoint}: no answer within {} ms", after.as_millis())]
    Timeout {
        /// The endpoint.
        endpoint: String,
        /// The timeout.
        after: Duration,
    },
    /// The server answered the handshake with an error or not at all.
    #[error("{endpoint}: the handshake failed: {reason}")]
    Handshake {
        /// The endpoint.
        endpoint: String,
        /// What happened.
        reason: String,
    },
    /// The server is another plugin or version than the manifest names.
    #[error("{endpoint} says it is {found}, but the manifest says {expected}")]
    Identity {
        /// The endpoint.
        endpoint: String,
        /// `name version` from the manifest.
        expected: String,
        /// `name version` from the server.
        found: String,
    },
    /// The server speaks a protocol version or encoding this host does not.
    #[error("{endpoint}: {reason}")]
    Incompatible {
        /// The endpoint.
        endpoint: String,
        /// Which and why.
        reason: String,
    },
    /// Endpoints were set on an instance that is not a remote plugin.
    #[error("plugin {plugin} is not a remote (grpc) plugin; only remote plugins have endpoints")]
    NotRemote {
        /// The plugin.
        plugin: String,
    },
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether a failure reads as a TLS failure (rustls' certificate and
/// alert errors, which reach us as text through hyper and tonic).
fn is_tls_failure(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    ["certificate", "tls", "handshake", "unknownissuer", "alert"]
        .iter()
        .any(|word| reason.contains(word))
}

/// The host of `host:port` (brackets stripped), checking the syntax the
/// manifest checks.
fn endpoint_host(endpoint: &str) -> Result<&str, EndpointError> {
    let invalid = |reason: &str| EndpointError::Invalid {
        endpoint: endpoint.to_string(),
        reason: reason.to_string(),
    };
    let (host, port) = endpoint
        .rsplit_once(':')
        .ok_or_else(|| invalid("no port"))?;
    match port.parse::<u16>() {
        Ok(1..) => {}
        _ => return Err(invalid("the port must be a number from 1 to 65535")),
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.is_empty() {
        return Err(invalid("no host"));
    }
    if bare
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '@' | '?' | '#'))
    {
        return Err(invalid(
            "the host contains a space, a control character or one of / @ ? #",
        ));
    }
    if !host.starts_with('[') && bare.contains(':') {
        return Err(invalid("write an IPv6 host in brackets, like [::1]:9090"));
    }
    Ok(bare)
}

/// Whether `host` is a loopback address (or `localhost`).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks an endpoint before it is dialled: syntax, and the plaintext rule.
pub(crate) fn check_endpoint(
    endpoint: &str,
    tls: Option<&GrpcTls>,
    allow_plaintext: bool,
) -> Result<(), EndpointError> {
    let host = endpoint_host(endpoint)?;
    if tls.is_none() && !allow_plaintext && !is_loopback(host) {
        return Err(EndpointError::PlaintextNotAllowed {
            endpoint: endpoint.to_string(),
        });
    }
    Ok(())
}

fn read_pem(endpoint: &str, what: &str, path: &Path) -> Result<Vec<u8>, EndpointError> {
    let error = |reason: String| EndpointError::TlsConfig {
        endpoint: endpoint.to_string(),
        reason: format!("cannot read {what} {}: {reason}", path.display()),
    };
    let file = std::fs::File::open(path).map_err(|e| error(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| error(e.to_string()))?;
    if bytes.len() as u64 > MAX_PEM {
        return Err(error(format!("it is larger than {MAX_PEM} bytes")));
    }
    Ok(bytes)
}

fn client_tls(endpoint: &str, host: &str, tls: &GrpcTls) -> Result<ClientTlsConfig, EndpointError> {
    let ca = read_pem(endpoint, "the CA certificate", &tls.ca_certificate)?;
    let mut config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name(tls.domain_name.clone().unwrap_or_else(|| host.to_string()));
    match (&tls.client_certificate, &tls.client_key) {
        (Some(certificate), Some(key)) => {
            let certificate = read_pem(endpoint, "the client certificate", certificate)?;
            let key = read_pem(endpoint, "the client key", key)?;
            config = config.identity(Identity::from_pem(certificate, key));
        }
        (None, None) => {}
        _ => {
            return Err(EndpointError::TlsConfig {
                endpoint: endpoint.to_string(),
                reason: "a client certificate and its key go together".to_string(),
            });
        }
    }
    Ok(config)
}

/// What a plugin's endpoints must be: from the manifest and configuration.
struct Expect {
    plugin: String,
    version: Version,
    config: GrpcConfig,
    tls: Option<GrpcTls>,
}

/// A connected endpoint: the plugin client, the health stream, the
/// handshake's answer and the first health status.
struct Connected {
    client: PluginClient<Channel>,
    health: tonic::Streaming<HealthCheckResponse>,
    info: v1::InfoReply,
    serving: bool,
}

/// Dials `endpoint`, checks the handshake and waits for the first
/// definite health status, all within the connection timeout.
async fn connect(expect: &Expect, endpoint: &str) -> Result<Connected, EndpointError> {
    let after = expect.config.connect_timeout;
    tokio::time::timeout(after, connect_inner(expect, endpoint))
        .await
        .unwrap_or_else(|_| {
            Err(EndpointError::Timeout {
                endpoint: endpoint.to_string(),
                after,
            })
        })
}

async fn connect_inner(expect: &Expect, endpoint: &str) -> Result<Connected, EndpointError> {
    let config = &expect.config;
    let host = endpoint_host(endpoint)?;
    let scheme = if expect.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let invalid = |reason: String| EndpointError::Invalid {
        endpoint: endpoint.to_string(),
        reason,
    };
    let mut dial = tonic::transport::Endpoint::from_shared(format!("{scheme}://{endpoint}"))
        .map_err(|e| invalid(plugin_grpc::error_chain(&e)))?
        .connect_timeout(config.connect_timeout)
        .http2_keep_alive_interval(config.keepalive)
        .keep_alive_timeout(config.keepalive)
        .keep_alive_while_idle(true)
        .tcp_nodelay(true);
    if let Some(tls) = &expect.tls {
        dial = dial
            .tls_config(client_tls(endpoint, host, tls)?)
            .map_err(|e| EndpointError::TlsConfig {
                endpoint: endpoint.to_string(),
                reason: plugin_grpc::error_chain(&e),
            })?;
    }
    let failed = |reason: String| {
        if expect.tls.is_some() && is_tls_failure(&reason) {
            EndpointError::Tls {
                endpoint: endpoint.to_string(),
                reason,
            }
        } else {
            EndpointError::Connect {
                endpoint: endpoint.to_string(),
                reason,
            }
        }
    };
    let channel = dial
        .connect()
        .await
        .map_err(|e| failed(plugin_grpc::error_chain(&e)))?;
    let mut client = PluginClient::new(channel.clone())
        .max_decoding_message_size(config.max_message)
        .max_encoding_message_size(config.max_message);
    let info = client
        .info(v1::InfoRequest {})
        .await
        .map_err(|status| {
            let reason = status_text(&status);
            if expect.tls.is_some() && is_tls_failure(&reason) {
                failed(reason)
            } else {
                EndpointError::Handshake {
                    endpoint: endpoint.to_string(),
                    reason,
                }
            }
        })?
        .into_inner();
    check_info(expect, endpoint, &info)?;
    let mut health = HealthClient::new(channel)
        .watch(HealthCheckRequest {
            service: plugin_grpc::SERVICE_NAME.to_string(),
        })
        .await
        .map_err(|status| EndpointError::Handshake {
            endpoint: endpoint.to_string(),
            reason: format!("cannot watch its health: {}", status_text(&status)),
        })?
        .into_inner();
    // The first definite status (a server that has not set it yet says
    // SERVICE_UNKNOWN first).
    for _ in 0..16 {
        let message = health
            .message()
            .await
            .map_err(|status| EndpointError::Handshake {
                endpoint: endpoint.to_string(),
                reason: format!("its health stream broke: {}", status_text(&status)),
            })?;
        let Some(message) = message else {
            return Err(EndpointError::Handshake {
                endpoint: endpoint.to_string(),
                reason: "its health stream ended".to_string(),
            });
        };
        match message.status() {
            ServingStatus::Serving => {
                return Ok(Connected {
                    client,
                    health,
                    info,
                    serving: true,
                });
            }
            ServingStatus::NotServing => {
                return Ok(Connected {
                    client,
                    health,
                    info,
                    serving: false,
                });
            }
            _ => {}
        }
    }
    Err(EndpointError::Handshake {
        endpoint: endpoint.to_string(),
        reason: "its health status stays unknown".to_string(),
    })
}

fn check_info(expect: &Expect, endpoint: &str, info: &v1::InfoReply) -> Result<(), EndpointError> {
    let incompatible = |reason: String| EndpointError::Incompatible {
        endpoint: endpoint.to_string(),
        reason,
    };
    if !plugin_grpc::SUPPORTED_GRPC_PROTOCOLS.contains(&info.protocol) {
        return Err(incompatible(format!(
            "it speaks plugkit gRPC protocol {}; this host speaks {} to {}",
            info.protocol,
            plugin_grpc::SUPPORTED_GRPC_PROTOCOLS.start(),
            plugin_grpc::SUPPORTED_GRPC_PROTOCOLS.end()
        )));
    }
    let same_version = Version::parse(&info.version).is_ok_and(|v| v == expect.version);
    if info.name != expect.plugin || !same_version {
        return Err(EndpointError::Identity {
            endpoint: endpoint.to_string(),
            expected: format!("{} {}", expect.plugin, expect.version),
            found: format!("{} {}", info.name, info.version),
        });
    }
    if info.encoding != plugkit_sdk::ENCODING {
        return Err(incompatible(format!(
            "it encodes calls as `{}`, this host speaks `{}`",
            info.encoding,
            plugkit_sdk::ENCODING
        )));
    }
    Ok(())
}

fn status_text(status: &tonic::Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    if let Some(source) = std::error::Error::source(status) {
        let chain = plugin_grpc::error_chain(source);
        if !text.contains(&chain) {
            text.push_str(": ");
            text.push_str(&chain);
        }
    }
    text
}

/// Where one endpoint is.
enum LinkState {
    /// Being dialled (or waiting to be); the last failure, if any.
    Connecting { reason: String },
    /// Connected; in rotation while `serving`.
    Up {
        client: PluginClient<Channel>,
        serving: bool,
    },
    /// Removed from the set or closed.
    Gone,
}

/// One endpoint of the set.
struct Link {
    endpoint: String,
    state: Mutex<LinkState>,
    in_flight: AtomicUsize,
    idle: Notify,
    removed: watch::Sender<bool>,
}

struct OnLink<'a>(&'a Link);

impl Drop for OnLink<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Link {
    fn new(endpoint: String, reason: String) -> Arc<Link> {
        Arc::new(Link {
            endpoint,
            state: Mutex::new(LinkState::Connecting { reason }),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            removed: watch::Sender::new(false),
        })
    }

    fn enter(&self) -> OnLink<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        OnLink(self)
    }

    /// The client, when the endpoint is in rotation.
    fn serving_client(&self) -> Option<PluginClient<Channel>> {
        match &*lock(&self.state) {
            LinkState::Up {
                client,
                serving: true,
            } => Some(client.clone()),
            _ => None,
        }
    }

    /// Why it is out of rotation, in words.
    fn why_out(&self) -> Option<String> {
        match &*lock(&self.state) {
            LinkState::Up { serving: true, .. } => None,
            LinkState::Up { serving: false, .. } => Some(format!(
                "{}: connected, but its health does not serve",
                self.endpoint
            )),
            LinkState::Connecting { reason } if reason.is_empty() => {
                Some(format!("{}: connecting", self.endpoint))
            }
            LinkState::Connecting { reason } => Some(reason.clone()),
            LinkState::Gone => Some(format!("{}: removed", self.endpoint)),
        }
    }

    async fn drained(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let idle = self.idle.notified();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return;
            }
        }
    }
}

/// Everything the handles and the endpoint tasks share.
struct Shared {
    life: Lifecycle,
    expect: Expect,
    runtime: tokio::runtime::Handle,
    links: Mutex<Vec<Arc<Link>>>,
    /// Bumped whenever the rotation may have changed; calls waiting for
    /// an endpoint watch it.
    rotation: watch::Sender<u64>,
    next: AtomicUsize,
    /// Set at shutdown (or when the last handle goes): endpoint tasks end,
    /// calls still in flight are abandoned.
    closed: watch::Sender<bool>,
}

impl Shared {
    fn name(&self) -> &str {
        &self.expect.plugin
    }

    fn changed(&self) {
        self.rotation.send_modify(|n| *n = n.wrapping_add(1));
        let any = lock(&self.links)
            .iter()
            .any(|link| link.serving_client().is_some());
        let (from, to) = if any {
            (InstanceState::Disconnected, InstanceState::Running)
        } else {
            (InstanceState::Running, InstanceState::Disconnected)
        };
        self.life.set_state_if(|state| *state == from, to);
    }

    fn set(&self, link: &Link, state: LinkState) {
        *lock(&link.state) = state;
        self.changed();
    }

    /// The next endpoint in rotation, round robin.
    fn pick(&self) -> Option<(Arc<Link>, PluginClient<Channel>)> {
        let links = lock(&self.links);
        let count = links.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..count).find_map(|i| {
            let link = &links[start.wrapping_add(i) % count];
            link.serving_client()
                .map(|client| (Arc::clone(link), client))
        })
    }

    fn why_unavailable(&self) -> String {
        let links = lock(&self.links);
        if links.is_empty() {
            return "the plugin has no endpoint".to_string();
        }
        links
            .iter()
            .filter_map(|link| link.why_out())
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let config = &self.expect.config;
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        config
            .initial_backoff
            .saturating_mul(factor)
            .min(config.max_backoff)
    }
}

/// Ends the endpoint tasks when the last handle goes.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.closed.send_replace(true);
    }
}

/// How an endpoint's task starts.
enum Start {
    /// Connected already (at load).
    Connected(Box<Connected>),
    /// The load's attempt failed: back off first.
    Failed(String),
    /// Added later: dial at once.
    Fresh,
}

/// Resolves when the link is removed or the instance closes.
async fn stopped(removed: &mut watch::Receiver<bool>, closed: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = removed.wait_for(|removed| *removed) => {}
        _ = closed.wait_for(|closed| *closed) => {}
    }
}

/// One endpoint's life: connected, watching its health; reconnecting with
/// backoff when it breaks; ends when it is removed or the instance closes.
async fn supervise(shared: Arc<Shared>, link: Arc<Link>, start: Start) {
    let mut removed = link.removed.subscribe();
    let mut closed = shared.closed.subscribe();
    let endpoint = link.endpoint.clone();
    let mut attempt = 0u32;
    let mut next = match start {
        Start::Connected(connected) => Ok(*connected),
        Start::Failed(reason) => Err(reason),
        Start::Fresh => {
            tokio::select! {
                connected = connect(&shared.expect, &endpoint) => {
                    connected.map_err(|error| error.to_string())
                }
                () = stopped(&mut removed, &mut closed) => Err(String::new()),
            }
        }
    };
    // Bounded by the instance's life and the endpoint's membership: every
    // turn waits on one of them.
    loop {
        if *removed.borrow() || *closed.borrow() {
            break;
        }
        let reason = match next {
            Ok(connected) => {
                attempt = 0;
                match watch_health(&shared, &link, connected, &mut removed, &mut closed).await {
                    Some(reason) => reason,
                    None => break,
                }
            }
            Err(reason) => reason,
        };
        shared.set(
            &link,
            LinkState::Connecting {
                reason: reason.clone(),
            },
        );
        attempt = attempt.saturating_add(1);
        let backoff = shared.backoff(attempt);
        shared.life.publish(InstanceEventKind::Reconnecting {
            endpoint: endpoint.clone(),
            attempt,
            backoff,
            reason,
        });
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stopped(&mut removed, &mut closed) => break,
        }
        next = tokio::select! {
            connected = connect(&shared.expect, &endpoint) => {
                connected.map_err(|error| error.to_string())
            }
            () = stopped(&mut removed, &mut closed) => break,
        };
        if next.is_ok() {
            shared.life.publish(InstanceEventKind::Connected {
                endpoint: endpoint.clone(),
            });
        }
    }
    // Removed or closed: out of rotation at once; the calls in flight on
    // it may finish (within the call timeout) before the connection goes.
    let client = match std::mem::replace(&mut *lock(&link.state), LinkState::Gone) {
        LinkState::Up { client, .. } => Some(client),
        _ => None,
    };
    shared.changed();
    if client.is_some() && !*closed.borrow() {
        link.drained(shared.expect.config.call_timeout).await;
    }
    drop(client);
}

/// Serves an endpoint while its health stream lasts: `Some(reason)` when
/// it broke, `None` when the endpoint was removed or the instance closed.
async fn watch_health(
    shared: &Shared,
    link: &Link,
    connected: Connected,
    removed: &mut watch::Receiver<bool>,
    closed: &mut watch::Receiver<bool>,
) -> Option<String> {
    let Connected {
        client,
        mut health,
        serving,
        ..
    } = connected;
    let endpoint = &link.endpoint;
    shared.set(
        link,
        LinkState::Up {
            client: client.clone(),
            serving,
        },
    );
    if serving {
        shared.life.publish(InstanceEventKind::InRotation {
            endpoint: endpoint.clone(),
        });
    } else {
        shared.life.publish(InstanceEventKind::OutOfRotation {
            endpoint: endpoint.clone(),
            reason: "its health does not serve".to_string(),
        });
    }
    let mut was_serving = serving;
    // Bounded by the stream: it ends when the connection does.
    loop {
        let message = tokio::select! {
            message = health.message() => message,
            () = stopped(removed, closed) => return None,
        };
        let reason = match message {
            Ok(Some(message)) => {
                let serving = message.status() == ServingStatus::Serving;
                if serving != was_serving {
                    was_serving = serving;
                    shared.set(
                        link,
                        LinkState::Up {
                            client: client.clone(),
                            serving,
                        },
                    );
                    shared.life.publish(if serving {
                        InstanceEventKind::InRotation {
                            endpoint: endpoint.clone(),
                        }
                    } else {
                        InstanceEventKind::OutOfRotation {
                            endpoint: endpoint.clone(),
                            reason: format!("its health says {}", message.status().as_str_name()),
                        }
                    });
                }
                continue;
            }
            Ok(None) => format!("{endpoint}: the server ended the connection"),
            Err(status) => format!("{endpoint}: the connection broke: {}", status_text(&status)),
        };
        shared.set(
            link,
            LinkState::Connecting {
                reason: reason.clone(),
            },
        );
        shared.life.publish(InstanceEventKind::Disconnected {
            endpoint: endpoint.clone(),
            reason: reason.clone(),
            in_flight: link.in_flight.load(Ordering::SeqCst),
        });
        return Some(reason);
    }
}

/// Loads a remote plugin: checks every endpoint (syntax, plaintext rule)
/// before dialling any, dials them all at once, and succeeds when at
/// least one passes the handshake; the others keep being dialled.
pub(crate) async fn load(
    config: &GrpcConfig,
    manifest: &Manifest,
    endpoints: &[String],
) -> Result<GrpcPlugin, LoadError> {
    let plugin = manifest.name().to_string();
    let endpoints = dedup(endpoints);
    if endpoints.is_empty() {
        return Err(LoadError::NoEndpoints { plugin });
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Err(LoadError::NoRuntime { plugin });
    };
    let tls = config.tls_for(&plugin).cloned();
    let refused: Vec<EndpointError> = endpoints
        .iter()
        .filter_map(|endpoint| check_endpoint(endpoint, tls.as_ref(), config.allow_plaintext).err())
        .collect();
    if !refused.is_empty() {
        return Err(LoadError::Remote {
            plugin,
            errors: refused,
        });
    }
    let expect = Arc::new(Expect {
        plugin: plugin.clone(),
        version: manifest.version().clone(),
        config: config.clone(),
        tls,
    });
    let mut attempts = tokio::task::JoinSet::new();
    for (index, endpoint) in endpoints.iter().enumerate() {
        let expect = Arc::clone(&expect);
        let endpoint = endpoint.clone();
        attempts.spawn(async move { (index, connect(&expect, &endpoint).await) });
    }
    let mut results: Vec<Option<Result<Connected, EndpointError>>> =
        endpoints.iter().map(|_| None).collect();
    while let Some(joined) = attempts.join_next().await {
        if let Ok((index, result)) = joined {
            results[index] = Some(result);
        }
    }
    let info = results
        .iter()
        .flatten()
        .find_map(|result| result.as_ref().ok().map(|connected| connected.info.clone()));
    let Some(info) = info else {
        let errors = results
            .into_iter()
            .zip(&endpoints)
            .map(|(result, endpoint)| match result {
                Some(Err(error)) => error,
                _ => EndpointError::Connect {
                    endpoint: endpoint.clone(),
                    reason: "the attempt did not finish".to_string(),
                },
            })
            .collect();
        return Err(LoadError::Remote { plugin, errors });
    };
    let expect = Arc::try_unwrap(expect).unwrap_or_else(|shared| Expect {
        plugin: shared.plugin.clone(),
        version: shared.version.clone(),
        config: shared.config.clone(),
        tls: shared.tls.clone(),
    });
    let life = Lifecycle::new(InstanceInfo {
        name: plugin.clone(),
        version: manifest.version().clone(),
        capabilities: info.capabilities,
        sdk_version: info.sdk_version,
        transport: Transport::Grpc,
        artifact: PathBuf::from(manifest.endpoint()),
        // A remote service keeps its own state: none is handed over.
        state_format: None,
    });
    let links: Vec<Arc<Link>> = endpoints
        .iter()
        .map(|endpoint| Link::new(endpoint.clone(), String::new()))
        .collect();
    let shared = Arc::new(Shared {
        life,
        expect,
        runtime: runtime.clone(),
        links: Mutex::new(links.clone()),
        rotation: watch::Sender::new(0),
        next: AtomicUsize::new(0),
        closed: watch::Sender::new(false),
    });
    for (link, result) in links.into_iter().zip(results) {
        let start = match result {
            Some(Ok(connected)) => {
                // In rotation before `load` returns, so the first call
                // and health check find it.
                *lock(&link.state) = LinkState::Up {
                    client: connected.client.clone(),
                    serving: connected.serving,
                };
                Start::Connected(Box::new(connected))
            }
            Some(Err(error)) => {
                let reason = error.to_string();
                *lock(&link.state) = LinkState::Connecting {
                    reason: reason.clone(),
                };
                Start::Failed(reason)
            }
            None => Start::Fresh,
        };
        runtime.spawn(supervise(Arc::clone(&shared), link, start));
    }
    shared.changed();
    tracing::info!(plugin = %plugin, version = %manifest.version(), endpoints = ?endpoints, "remote plugin loaded");
    Ok(GrpcPlugin {
        _closer: Arc::new(Handle {
            shared: Arc::clone(&shared),
        }),
        shared,
    })
}

fn dedup(endpoints: &[String]) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    endpoints
        .iter()
        .filter(|endpoint| seen.insert(endpoint.as_str()))
        .cloned()
        .collect()
}

/// A remote plugin: a set of endpoints of one plugin version, dialled with
/// tonic (see the [module docs](self)). Cheap to clone: every clone is the
/// same instance; dropping the last one closes its connections.
#[derive(Clone)]
pub struct GrpcPlugin {
    shared: Arc<Shared>,
    /// Held for its `Drop`: the last clone closes the connections.
    _closer: Arc<Handle>,
}

impl std::fmt::Debug for GrpcPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcPlugin")
            .field("name", &self.shared.expect.plugin)
            .field("state", &self.shared.life.state())
            .field("endpoints", &self.endpoints())
            .finish_non_exhaustive()
    }
}

/// One RPC of the plugin service, given a client and the request's deadline.
type Rpc<T> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>> + Send>,
>;

impl GrpcPlugin {
    pub(crate) fn life(&self) -> &Lifecycle {
        &self.shared.life
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.shared.name()
    }

    /// The endpoint set, in the order given.
    pub fn endpoints(&self) -> Vec<String> {
        lock(&self.shared.links)
            .iter()
            .map(|link| link.endpoint.clone())
            .collect()
    }

    /// The endpoints in rotation now (connected, handshake passed, health
    /// serving).
    pub fn in_rotation(&self) -> Vec<String> {
        lock(&self.shared.links)
            .iter()
            .filter(|link| link.serving_client().is_some())
            .map(|link| link.endpoint.clone())
            .collect()
    }

    /// Replaces the endpoint set, keeping this instance: endpoints new to
    /// the set are dialled at once (and join the rotation once their
    /// handshake passes and their health serves), endpoints no longer in
    /// it leave the rotation at once and are closed once their calls in
    /// flight finish (within the call timeout). An `EndpointsChanged` event
    /// says what changed. Every endpoint is checked first (syntax, the
    /// plaintext rule); one that fails leaves the set as it was. An empty
    /// set is allowed: calls then wait for endpoints, up to their deadline.
    pub fn set_endpoints(&self, endpoints: &[String]) -> Result<(), EndpointError> {
        let shared = &self.shared;
        let endpoints = dedup(endpoints);
        for endpoint in &endpoints {
            check_endpoint(
                endpoint,
                shared.expect.tls.as_ref(),
                shared.expect.config.allow_plaintext,
            )?;
        }
        if *shared.closed.borrow() {
            return Ok(());
        }
        let (added, removed) = {
            let mut links = lock(&shared.links);
            let removed: Vec<Arc<Link>> = links
                .iter()
                .filter(|link| !endpoints.contains(&link.endpoint))
                .cloned()
                .collect();
            let mut added = Vec::new();
            let next: Vec<Arc<Link>> = endpoints
                .iter()
                .map(|endpoint| {
                    links
                        .iter()
                        .find(|link| link.endpoint == *endpoint)
                        .cloned()
                        .unwrap_or_else(|| {
                            let link = Link::new(endpoint.clone(), String::new());
                            added.push(Arc::clone(&link));
                            link
                        })
                })
                .collect();
            *links = next;
            (added, removed)
        };
        for link in &removed {
            link.removed.send_replace(true);
        }
        for link in &added {
            shared.runtime.spawn(supervise(
                Arc::clone(shared),
                Arc::clone(link),
                Start::Fresh,
            ));
        }
        shared.changed();
        if !added.is_empty() || !removed.is_empty() {
            shared.life.publish(InstanceEventKind::EndpointsChanged {
                added: added.iter().map(|link| link.endpoint.clone()).collect(),
                removed: removed.iter().map(|link| link.endpoint.clone()).collect(),
            });
        }
        Ok(())
    }

    fn call_error(
        &self,
        method: &str,
        link: &Link,
        status: &tonic::Status,
        after: Duration,
    ) -> CallError {
        use tonic::Code;
        let plugin = self.name().to_string();
        let method = method.to_string();
        match status.code() {
            Code::DeadlineExceeded => CallError::Timeout {
                plugin,
                method,
                after,
            },
            Code::Unavailable
            | Code::Unknown
            | Code::Cancelled
            | Code::Internal
            | Code::Aborted => CallError::Disconnected {
                plugin,
                method,
                endpoint: link.endpoint.clone(),
                reason: status_text(status),
            },
            _ => CallError::Remote {
                plugin,
                method,
                endpoint: link.endpoint.clone(),
                message: status_text(status),
            },
        }
    }

    /// Waits (until `deadline`) for an endpoint in rotation.
    async fn endpoint(
        &self,
        method: &str,
        deadline: tokio::time::Instant,
        after: Duration,
    ) -> Result<(Arc<Link>, PluginClient<Channel>), CallError> {
        let mut rotation = self.shared.rotation.subscribe();
        // Bounded by the deadline.
        loop {
            rotation.borrow_and_update();
            if let Some(found) = self.shared.pick() {
                return Ok(found);
            }
            if *self.shared.closed.borrow() {
                return Err(self.shared.life.refusal(method));
            }
            match tokio::time::timeout_at(deadline, rotation.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(self.shared.life.refusal(method)),
                Err(_) => {
                    return Err(CallError::Unavailable {
                        plugin: self.name().to_string(),
                        method: method.to_string(),
                        after,
                        reason: self.shared.why_unavailable(),
                    });
                }
            }
        }
    }

    /// One RPC through the gate, on the next endpoint in rotation, with a
    /// deadline; abandoned when the instance closes under it.
    async fn rpc<T>(
        &self,
        method: &str,
        timeout: Duration,
        rpc: impl FnOnce(PluginClient<Channel>, Duration) -> Rpc<T>,
    ) -> Result<T, CallError> {
        let _admission = self.shared.life.enter(method)?;
        let deadline = tokio::time::Instant::now() + timeout;
        let (link, client) = self.endpoint(method, deadline, timeout).await?;
        let _on_link = link.enter();
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let mut closed = self.shared.closed.subscribe();
        tokio::select! {
            answer = tokio::time::timeout_at(deadline, rpc(client, remaining)) => match answer {
                Ok(Ok(response)) => Ok(response.into_inner()),
                Ok(Err(status)) => Err(self.call_error(method, &link, &status, timeout)),
                Err(_) => Err(CallError::Timeout {
                    plugin: self.name().to_string(),
                    method: method.to_string(),
                    after: timeout,
                }),
            },
            _ = closed.wait_for(|closed| *closed) => Err(CallError::Abandoned {
                plugin: self.name().to_string(),
                method: method.to_string(),
            }),
        }
    }

    fn plugin_error(&self, method: &str, error: Option<v1::PluginError>) -> CallError {
        let error = match error {
            Some(error) => {
                let kind = match v1::ErrorKind::try_from(error.kind) {
                    Ok(v1::ErrorKind::UnknownMethod) => ErrorKind::UnknownMethod,
                    Ok(v1::ErrorKind::BadRequest) => ErrorKind::BadRequest,
                    Ok(v1::ErrorKind::Panicked) => ErrorKind::Panicked,
                    Ok(v1::ErrorKind::NotInitialized) => ErrorKind::NotInitialized,
                    Ok(v1::ErrorKind::Stopped) => ErrorKind::Stopped,
                    _ => ErrorKind::Failed,
                };
                PluginError::new(kind, error.message)
            }
            None => PluginError::failed("the server answered with neither a reply nor an error"),
        };
        CallError::Plugin {
            plugin: self.name().to_string(),
            method: method.to_string(),
            error,
        }
    }

    async fn call_request(
        &self,
        method: &str,
        payload: Vec<u8>,
        json: bool,
        timeout: Duration,
    ) -> Result<Vec<u8>, CallError> {
        let request = v1::CallRequest {
            method: method.to_string(),
            payload,
            json,
        };
        let reply = self
            .rpc(method, timeout, move |mut client, remaining| {
                Box::pin(async move {
                    let mut request = tonic::Request::new(request);
                    request.set_timeout(remaining);
                    client.call(request).await
                })
            })
            .await?;
        match reply.result {
            Some(call_reply::Result::Payload(payload)) => Ok(payload),
            Some(call_reply::Result::Error(error)) => Err(self.plugin_error(method, Some(error))),
            None => Err(self.plugin_error(method, None)),
        }
    }

    /// Calls `method` with raw bytes, with the default deadline.
    pub async fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        self.call_with_timeout(method, payload, self.shared.expect.config.call_timeout)
            .await
    }

    /// Calls `method` with raw bytes and a deadline of its own.
    pub async fn call_with_timeout(
        &self,
        method: &str,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, CallError> {
        self.call_request(method, payload.to_vec(), false, timeout)
            .await
    }

    /// Calls `method` with a typed request and decodes the typed reply.
    pub async fn call_typed<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &str,
        request: &Req,
    ) -> Result<Resp, CallError> {
        let request = crate::error::encode_request(self.name(), method, request)?;
        let reply = self.call(method, &request).await?;
        crate::error::decode_reply(self.name(), method, &reply)
    }

    /// Calls the typed method `method` with a JSON request; returns the
    /// JSON reply (the server dispatches it through the plugin's `Methods`,
    /// as the other transports do).
    pub async fn call_json(
        &self,
        method: &str,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value, CallError> {
        let payload = crate::error::encode_json(self.name(), method, request)?;
        let reply = self
            .call_request(
                method,
                payload,
                true,
                self.shared.expect.config.call_timeout,
            )
            .await?;
        crate::error::decode_json(self.name(), method, &reply)
    }

    /// The plugin's typed methods (asked of an endpoint in rotation).
    pub async fn methods(&self) -> Result<Vec<MethodInfo>, CallError> {
        let reply = self
            .rpc(
                "methods",
                self.shared.expect.config.call_timeout,
                |mut client, remaining| {
                    Box::pin(async move {
                        let mut request = tonic::Request::new(v1::MethodsRequest {});
                        request.set_timeout(remaining);
                        client.methods(request).await
                    })
                },
            )
            .await?;
        Ok(reply
            .methods
            .into_iter()
            .map(|info| MethodInfo::new(info.name, info.request, info.response))
            .collect())
    }

    /// The plugin's health: the answer of an endpoint in rotation (round
    /// robin), or, when none is, `Unhealthy` with each endpoint's reason,
    /// at once (a health check never waits for a reconnection).
    pub async fn health(&self) -> Result<Health, CallError> {
        if self.shared.pick().is_none() {
            let _admission = self.shared.life.enter("health")?;
            return Ok(Health::Unhealthy(format!(
                "no endpoint takes calls: {}",
                self.shared.why_unavailable()
            )));
        }
        let reply = self
            .rpc(
                "health",
                self.shared.expect.config.call_timeout,
                |mut client, remaining| {
                    Box::pin(async move {
                        let mut request = tonic::Request::new(v1::HealthRequest {});
                        request.set_timeout(remaining);
                        client.health(request).await
                    })
                },
            )
            .await?;
        Ok(match v1::HealthStatus::try_from(reply.status) {
            Ok(v1::HealthStatus::Healthy) => Health::Healthy,
            Ok(v1::HealthStatus::Degraded) => Health::Degraded(reply.reason),
            _ => Health::Unhealthy(reply.reason),
        })
    }

    /// A remote service keeps its own state: nothing to hand over.
    pub async fn export_state(&self) -> Result<Option<State>, CallError> {
        let _admission = self.shared.life.enter_paused("export_state")?;
        Ok(None)
    }

    /// A remote service keeps its own state: a state handed to it is refused.
    pub async fn import_state(&self, state: State) -> Result<(), CallError> {
        let _admission = self.shared.life.enter_paused("import_state")?;
        Err(CallError::Plugin {
            plugin: self.name().to_string(),
            method: "import_state".to_string(),
            error: PluginError::bad_request(format!(
                "a remote plugin keeps its own state and takes none over (it was handed `{}`)",
                state.format
            )),
        })
    }

    /// Shuts this host's use of the plugin down: no new calls, up to
    /// `grace` for the calls in flight (those still running then fail with
    /// [`CallError::Abandoned`]), then this host's connections close. The
    /// remote service is not stopped.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownOutcome {
        let life = &self.shared.life;
        if !begin_shutdown(life) {
            return ShutdownOutcome {
                abandoned_calls: 0,
                ended: Ended::AlreadyStopped,
            };
        }
        let drained = life.drain(grace).await;
        let abandoned_calls = if drained { 0 } else { life.in_flight() };
        self.shared.closed.send_replace(true);
        finish_shutdown(life, Ended::Disconnected);
        ShutdownOutcome {
            abandoned_calls,
            ended: Ended::Disconnected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_before_dialling() {
        assert_eq!(check_endpoint("127.0.0.1:9", None, false), Ok(()));
        assert_eq!(check_endpoint("[::1]:9", None, false), Ok(()));
        assert_eq!(check_endpoint("localhost:9", None, false), Ok(()));
        let refused = check_endpoint("192.0.2.1:50051", None, false).expect_err("not loopback");
        assert!(
            matches!(refused, EndpointError::PlaintextNotAllowed { .. }),
            "{refused}"
        );
        assert!(refused.to_string().contains("allow_plaintext"), "{refused}");
        assert_eq!(check_endpoint("192.0.2.1:50051", None, true), Ok(()));
        let tls = GrpcTls::new("ca.pem");
        assert_eq!(
            check_endpoint("plugins.example:443", Some(&tls), false),
            Ok(())
        );
        for bad in [
            "host", "host:0", ":80", "::1:80", "a b:80", "a/b:80", "u@h:80",
        ] {
            assert!(
                matches!(
                    check_endpoint(bad, None, true),
                    Err(EndpointError::Invalid { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn tls_files_are_bounded_and_named() {
        let error =
            client_tls("h:1", "h", &GrpcTls::new("/nonexistent/ca.pem")).expect_err("missing");
        assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
        let half = GrpcTls::new("/nonexistent/ca.pem").with_client_key(Some("k.pem".into()));
        assert!(client_tls("h:1", "h", &half).is_err());
    }
}
