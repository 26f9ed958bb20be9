//! The process transport: a plugin as a child process speaking plugkit-sdk's
//! [`protocol`](plugkit_sdk::protocol#framing) over stdio, driven by tokio.
//!
//! - **Spawn.** The child runs the manifest's endpoint, in the plugin's
//!   directory, with a clean environment (only `PATH=/usr/local/bin:/usr/bin:/bin`,
//!   `PLUGKIT_PLUGIN`, `PLUGKIT_PLUGIN_VERSION`, `PLUGKIT_PROTOCOL`, plus
//!   [`ProcessConfig::env`]): the host's secrets stay in the host. Before it
//!   executes, the child sets its parent-death signal to `SIGKILL` (so it
//!   dies with the host, even a host killed with `SIGKILL`; children are
//!   spawned from one long-lived thread because Linux ties that signal to
//!   the spawning *thread*), and applies the manifest's `resources`:
//!   `max_memory_mb` as `RLIMIT_AS`, `max_file_handles` as `RLIMIT_NOFILE`,
//!   `max_cpu_cores` as CPU affinity to that many of the host's CPUs.
//!   (`RLIMIT_AS` counts address space, not resident memory: leave room for
//!   thread stacks. cgroup v2 limits are not used: they need a delegated,
//!   writable cgroup, which hosts rarely have.)
//! - **Handshake**, bounded by [`ProcessConfig::handshake_timeout`]: magic,
//!   `Hello` checked against the manifest (protocol, name, version,
//!   encoding), `Init` with the manifest's metadata, `Ready`. A child that
//!   prints garbage, stays silent or exits is killed and reaped (no zombie)
//!   and the load fails with [`LoadError::Handshake`].
//! - **Calls** are multiplexed: each gets an id and waits for its reply,
//!   which may come in any order. One writer task coalesces the frames
//!   queued at the same moment into one write. A call that times out is
//!   forgotten (its late reply is dropped); the connection goes on.
//! - **Faults.** A child that exits, is killed or sends a malformed or
//!   oversized frame ends its connection at once: every call in flight fails
//!   with [`CallError::Crashed`] (no call waits for a timeout), a
//!   [`ProcessEvent::Crashed`] is sent, and the child is restarted with
//!   exponential backoff; after [`RestartPolicy::max_restarts`] consecutive
//!   failures the plugin is [`ProcessState::Failed`].
//! - **Shutdown** ([`ProcessPlugin::shutdown`]): a `Shutdown` message, then
//!   up to the grace period for the child to finish its calls and exit, then
//!   `SIGTERM`, then `SIGKILL`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use plugin_manifest::{Manifest, Transport};
use plugin_version::Version;
use plugkit_sdk::protocol::{self, FromPlugin, ToPlugin, WireError};
use plugkit_sdk::{Health, PluginError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::error::{CallError, LoadError};

/// How the process transport behaves. `Default` gives the documented values.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProcessConfig {
    /// How long a child may take from spawn to `Ready`. Default 5 s.
    pub handshake_timeout: Duration,
    /// The timeout of a call that names none. Default 30 s.
    pub call_timeout: Duration,
    /// The largest frame accepted from the child. Default 16 MiB.
    pub max_frame: usize,
    /// How long `shutdown` waits before `SIGTERM`, and again before `SIGKILL`. Default 2 s.
    pub shutdown_grace: Duration,
    /// Restarts after a crash.
    pub restart: RestartPolicy,
    /// Extra environment variables for every child.
    pub env: Vec<(String, String)>,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            handshake_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(30),
            max_frame: protocol::DEFAULT_MAX_FRAME,
            shutdown_grace: Duration::from_secs(2),
            restart: RestartPolicy::default(),
            env: Vec::new(),
        }
    }
}

/// Restarts after a crash: exponential backoff from `initial_backoff`,
/// doubling up to `max_backoff`, at most `max_restarts` in a row (a child
/// that then ran for `stable_after` resets the count).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RestartPolicy {
    /// Consecutive restarts before the plugin is marked failed. Default 5.
    pub max_restarts: u32,
    /// The first backoff. Default 100 ms.
    pub initial_backoff: Duration,
    /// The longest backoff. Default 5 s.
    pub max_backoff: Duration,
    /// How long a child must run for its crash not to count as consecutive. Default 30 s.
    pub stable_after: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            stable_after: Duration::from_secs(30),
        }
    }
}

/// What happened to a process plugin's child.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessEvent {
    /// The child died or broke the protocol; its calls in flight failed.
    Crashed {
        /// The plugin.
        plugin: String,
        /// How it ended (exit status, signal, or protocol error).
        reason: String,
        /// How many calls were in flight and failed.
        in_flight: usize,
    },
    /// A new child is serving after a crash.
    Restarted {
        /// The plugin.
        plugin: String,
        /// Which consecutive restart this was (from 1).
        attempt: u32,
    },
    /// Restarts were exhausted; the plugin is failed.
    Failed {
        /// The plugin.
        plugin: String,
        /// The last reason.
        reason: String,
    },
    /// The child exited after a requested shutdown.
    Stopped {
        /// The plugin.
        plugin: String,
    },
}

/// Where a process plugin is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessState {
    /// A child is serving.
    Running,
    /// The child crashed; a new one is being started.
    Restarting,
    /// Restarts were exhausted.
    Failed,
    /// Shut down on request.
    Stopped,
}

/// Loads process plugins.
#[derive(Debug, Clone, Default)]
pub struct ProcessLoader {
    config: ProcessConfig,
}

impl ProcessLoader {
    /// A loader with `config`.
    pub fn new(config: ProcessConfig) -> Self {
        ProcessLoader { config }
    }

    /// Starts the plugin `manifest` describes (its endpoint resolved against
    /// `manifest_dir`) and completes the handshake.
    pub async fn load(
        &self,
        manifest: &Manifest,
        manifest_dir: &Path,
    ) -> Result<ProcessPlugin, LoadError> {
        let plugin = manifest.name().to_string();
        let program = match (manifest.transport(), manifest.artifact_path(manifest_dir)) {
            (Transport::Process, Some(path)) => path,
            (transport, _) => {
                return Err(LoadError::WrongTransport {
                    plugin,
                    transport: transport.to_string(),
                });
            }
        };
        let resources = manifest.resources();
        let spec = Spec {
            plugin: plugin.clone(),
            version: manifest.version().clone(),
            program,
            dir: manifest_dir.to_path_buf(),
            config_json: serde_json::to_string(manifest.metadata()).unwrap_or_else(|_| "{}".into()),
            memory_bytes: resources
                .max_memory_mb()
                .map(|mb| mb.saturating_mul(1 << 20)),
            file_handles: resources.max_file_handles(),
            cpu_cores: resources.max_cpu_cores(),
        };
        let (events, _) = broadcast::channel(64);
        let shared = Arc::new(Shared {
            spec,
            config: self.config.clone(),
            connection: Mutex::new(None),
            state: Mutex::new(ProcessState::Running),
            events,
            next_id: AtomicU64::new(1),
            stopping: AtomicBool::new(false),
            hello: OnceLock::new(),
            restarts: AtomicU32::new(0),
        });
        let connection = start(&shared).await?;
        *lock(&shared.connection) = Some(connection);
        Ok(ProcessPlugin { shared })
    }
}

/// Everything needed to start (and restart) the child.
#[derive(Debug)]
struct Spec {
    plugin: String,
    version: Version,
    program: PathBuf,
    dir: PathBuf,
    config_json: String,
    memory_bytes: Option<u64>,
    file_handles: Option<u64>,
    cpu_cores: Option<u32>,
}

/// What the child said in its hello (the first one; restarts must agree).
#[derive(Debug, Clone)]
struct Hello {
    capabilities: Vec<String>,
    sdk_version: String,
}

struct Shared {
    spec: Spec,
    config: ProcessConfig,
    connection: Mutex<Option<Arc<Connection>>>,
    state: Mutex<ProcessState>,
    events: broadcast::Sender<ProcessEvent>,
    next_id: AtomicU64,
    stopping: AtomicBool,
    hello: OnceLock<Hello>,
    /// Consecutive restarts so far.
    restarts: AtomicU32,
}

/// A reply a call waits for.
enum Reply {
    Call(Result<Vec<u8>, WireError>),
    Health(u8, String),
}

/// One child's connection.
struct Connection {
    pid: Option<u32>,
    frames: mpsc::UnboundedSender<Vec<u8>>,
    pending: Mutex<Pending>,
    /// Set once the child has exited, with how.
    exited: watch::Receiver<Option<String>>,
    started: Instant,
}

#[derive(Default)]
struct Pending {
    /// Why the connection closed, once it has.
    closed: Option<String>,
    waiting: HashMap<u64, oneshot::Sender<Reply>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Connection {
    /// Registers a waiter for `id`, unless the connection is closed.
    fn register(&self, id: u64) -> Result<oneshot::Receiver<Reply>, String> {
        let mut pending = lock(&self.pending);
        if let Some(reason) = &pending.closed {
            return Err(reason.clone());
        }
        let (tx, rx) = oneshot::channel();
        pending.waiting.insert(id, tx);
        Ok(rx)
    }

    fn forget(&self, id: u64) {
        lock(&self.pending).waiting.remove(&id);
    }

    /// Closes the connection: every waiter fails at once. Returns how many were waiting.
    fn close(&self, reason: &str) -> usize {
        let mut pending = lock(&self.pending);
        if pending.closed.is_none() {
            pending.closed = Some(reason.to_string());
        }
        let waiting = std::mem::take(&mut pending.waiting);
        waiting.len() // dropping the senders wakes every waiter with an error
    }

    fn closed_reason(&self) -> Option<String> {
        lock(&self.pending).closed.clone()
    }
}

/// Spawns children from one thread that lives as long as the process:
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits,
/// and tokio's worker and blocking threads come and go.
fn spawn_child(mut command: Command) -> oneshot::Receiver<std::io::Result<Child>> {
    type Request = (
        tokio::runtime::Handle,
        Command,
        oneshot::Sender<std::io::Result<Child>>,
    );
    static SPAWNER: OnceLock<Mutex<std::sync::mpsc::Sender<Request>>> = OnceLock::new();
    let (tx, rx) = oneshot::channel();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = std::sync::mpsc::channel::<Request>();
        let started = std::thread::Builder::new()
            .name("plugkit-spawner".into())
            .spawn(move || {
                for (handle, mut command, reply) in incoming {
                    let _runtime = handle.enter();
                    let _ = reply.send(command.spawn());
                }
            });
        if let Err(error) = started {
            tracing::error!(%error, "cannot start the plugkit spawner thread");
        }
        Mutex::new(requests)
    });
    let request = (tokio::runtime::Handle::current(), command, tx);
    if let Err(std::sync::mpsc::SendError((_, cmd, reply))) = lock(spawner).send(request) {
        // No spawner thread: spawn here (the parent-death signal then
        // depends on this thread's life, which is documented as best effort).
        command = cmd;
        let _ = reply.send(command.spawn());
    }
    rx
}

/// Builds the child's command: clean environment, working directory,
/// resource limits and the parent-death signal.
fn command(shared: &Shared) -> Command {
    let spec = &shared.spec;
    let mut command = Command::new(&spec.program);
    command
        .current_dir(&spec.dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("PLUGKIT_PLUGIN", &spec.plugin)
        .env("PLUGKIT_PLUGIN_VERSION", spec.version.to_string())
        .env("PLUGKIT_PROTOCOL", protocol::PROTOCOL_VERSION.to_string())
        .envs(shared.config.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    crate::limits::apply(
        &mut command,
        spec.memory_bytes,
        spec.file_handles,
        spec.cpu_cores,
    );
    command
}

/// Starts a child and completes the handshake; on any failure the child
/// is killed and reaped.
async fn start(shared: &Arc<Shared>) -> Result<Arc<Connection>, LoadError> {
    let spec = &shared.spec;
    let spawn_error = |source| LoadError::ReadArtifact {
        plugin: spec.plugin.clone(),
        path: spec.program.clone(),
        source,
    };
    let mut child = spawn_child(command(shared))
        .await
        .map_err(|_| spawn_error(std::io::Error::other("the spawner thread is gone")))?
        .map_err(spawn_error)?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill().await;
        return Err(spawn_error(std::io::Error::other(
            "the child's stdio is not piped",
        )));
    };
    tokio::spawn(forward_stderr(spec.plugin.clone(), stderr));
    let mut stdin = stdin;
    let mut stdout = BufReader::new(stdout);
    let handshake = tokio::time::timeout(
        shared.config.handshake_timeout,
        handshake(shared, &mut stdin, &mut stdout),
    )
    .await;
    let failure = match handshake {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error),
        Err(_) => Some(LoadError::Handshake {
            plugin: spec.plugin.clone(),
            reason: format!(
                "no complete handshake within {} ms",
                shared.config.handshake_timeout.as_millis()
            ),
        }),
    };
    if let Some(mut error) = failure {
        // Kill and reap: no zombie. If it had already exited, say how.
        let _ = child.start_kill();
        if let Ok(Ok(status)) = tokio::time::timeout(Duration::from_secs(5), child.wait()).await
            && let LoadError::Handshake { reason, .. } = &mut error
            && !status.success()
            && reason.contains("closed")
        {
            reason.push_str(&format!(" ({status})"));
        }
        return Err(error);
    }

    let (frames_tx, frames_rx) = mpsc::unbounded_channel();
    let (exited_tx, exited_rx) = watch::channel(None);
    let connection = Arc::new(Connection {
        pid: child.id(),
        frames: frames_tx,
        pending: Mutex::new(Pending::default()),
        exited: exited_rx,
        started: Instant::now(),
    });
    tokio::spawn(write_frames(stdin, frames_rx));
    tokio::spawn(supervise(
        Arc::clone(shared),
        Arc::clone(&connection),
        child,
        stdout,
        exited_tx,
    ));
    Ok(connection)
}

async fn handshake(
    shared: &Shared,
    stdin: &mut ChildStdin,
    stdout: &mut BufReader<ChildStdout>,
) -> Result<(), LoadError> {
    let spec = &shared.spec;
    let refuse = |reason: String| LoadError::Handshake {
        plugin: spec.plugin.clone(),
        reason,
    };
    let mut magic = [0u8; 8];
    let mut got = 0;
    while got < magic.len() {
        let n = stdout
            .read(&mut magic[got..])
            .await
            .map_err(|e| refuse(format!("cannot read the child's output: {e}")))?;
        if n == 0 {
            return Err(refuse(if got == 0 {
                "the child closed its output before the handshake (it exited?)".to_string()
            } else {
                format!(
                    "the child closed its output after printing {:?}",
                    String::from_utf8_lossy(&magic[..got])
                )
            }));
        }
        got += n;
        if magic[..got] != protocol::MAGIC[..got] {
            return Err(refuse(format!(
                "the child is not a plugkit process plugin: it printed {:?} instead of the protocol's greeting",
                String::from_utf8_lossy(&magic[..got])
            )));
        }
    }
    let hello = read_message(stdout, shared.config.max_frame)
        .await
        .map_err(|e| refuse(format!("no hello: {e}")))?;
    let FromPlugin::Hello {
        protocol: version,
        name,
        version: plugin_version,
        capabilities,
        sdk_version,
        encoding,
    } = hello
    else {
        return Err(refuse("the first message is not a hello".to_string()));
    };
    if version != protocol::PROTOCOL_VERSION {
        return Err(refuse(format!(
            "the child speaks protocol version {version}, this host speaks {}",
            protocol::PROTOCOL_VERSION
        )));
    }
    let found = format!("{name} {plugin_version}");
    let expected = format!("{} {}", spec.plugin, spec.version);
    if found != expected {
        return Err(LoadError::IdentityMismatch {
            plugin: spec.plugin.clone(),
            path: spec.program.clone(),
            expected,
            found,
        });
    }
    if encoding != plugkit_sdk::ENCODING {
        return Err(LoadError::Encoding {
            plugin: spec.plugin.clone(),
            expected: plugkit_sdk::ENCODING.to_string(),
            found: encoding,
        });
    }
    let _ = shared.hello.set(Hello {
        capabilities,
        sdk_version,
    });
    let mut frame = Vec::new();
    protocol::encode_frame(
        &ToPlugin::Init {
            config_json: spec.config_json.clone(),
        },
        &mut frame,
    )
    .map_err(|e| refuse(format!("cannot encode init: {e}")))?;
    stdin
        .write_all(&frame)
        .await
        .map_err(|e| refuse(format!("cannot send init: {e}")))?;
    stdin
        .flush()
        .await
        .map_err(|e| refuse(format!("cannot send init: {e}")))?;
    match read_message(stdout, shared.config.max_frame)
        .await
        .map_err(|e| refuse(format!("no answer to init: {e}")))?
    {
        FromPlugin::Ready => Ok(()),
        FromPlugin::InitFailed { error } => Err(LoadError::Init {
            plugin: spec.plugin.clone(),
            stage: "init",
            error: error.into(),
        }),
        _ => Err(refuse(
            "the child answered init with something else".to_string(),
        )),
    }
}

/// Reads one frame and decodes it; an oversized or malformed frame is an error.
async fn read_message<R: AsyncRead + Unpin, T: DeserializeOwned>(
    reader: &mut R,
    max_frame: usize,
) -> std::io::Result<T> {
    let mut length = [0u8; 4];
    reader.read_exact(&mut length).await?;
    let length = protocol::check_frame_length(u32::from_le_bytes(length), max_frame)?;
    let mut payload = vec![0u8; length];
    reader.read_exact(&mut payload).await?;
    protocol::decode_message(&payload)
}

/// Writes queued frames, coalescing everything queued at once into one write.
async fn write_frames(mut stdin: ChildStdin, mut frames: mpsc::UnboundedReceiver<Vec<u8>>) {
    let mut batch = Vec::new();
    while let Some(first) = frames.recv().await {
        batch.clear();
        batch.extend_from_slice(&first);
        while let Ok(next) = frames.try_recv() {
            batch.extend_from_slice(&next);
        }
        if stdin.write_all(&batch).await.is_err() || stdin.flush().await.is_err() {
            break; // the child is gone; its supervisor reports it
        }
    }
}

/// Forwards the child's stderr, line by line, to `tracing` under its name.
async fn forward_stderr(plugin: String, stderr: tokio::process::ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let (level, message) = match line.split_once("] ") {
            Some((level, message)) if level.starts_with('[') => (&level[1..], message),
            _ => ("info", line.as_str()),
        };
        match level {
            "trace" => tracing::trace!(plugin = %plugin, "{message}"),
            "debug" => tracing::debug!(plugin = %plugin, "{message}"),
            "warn" => tracing::warn!(plugin = %plugin, "{message}"),
            "error" => tracing::error!(plugin = %plugin, "{message}"),
            _ => tracing::info!(plugin = %plugin, "{message}"),
        }
    }
}

/// Owns one child: routes its replies, and when it ends (exit, kill,
/// protocol error) fails the calls in flight at once, reaps it, reports it
/// and restarts it unless the host is shutting down.
async fn supervise(
    shared: Arc<Shared>,
    connection: Arc<Connection>,
    mut child: Child,
    mut stdout: BufReader<ChildStdout>,
    exited: watch::Sender<Option<String>>,
) {
    let ended = route_replies(&shared, &connection, &mut stdout).await;
    let protocol_error = ended.is_some();
    if protocol_error {
        let _ = child.start_kill();
    }
    let in_flight = connection.close(ended.as_deref().unwrap_or("the child closed its output"));
    let status = match tokio::time::timeout(shared.config.shutdown_grace * 2, child.wait()).await {
        Ok(Ok(status)) => status.to_string(),
        Ok(Err(error)) => format!("cannot wait for it: {error}"),
        Err(_) => {
            // It closed stdout but lives on: end it.
            let _ = child.kill().await;
            "closed its output and was killed".to_string()
        }
    };
    let reason = match ended {
        Some(protocol) => format!("{protocol}; the child was killed ({status})"),
        None => format!("the child exited ({status})"),
    };
    {
        let mut pending = lock(&connection.pending);
        pending.closed = Some(reason.clone());
    }
    let _ = exited.send(Some(reason.clone()));
    let plugin = shared.spec.plugin.clone();
    if shared.stopping.load(Ordering::Acquire) {
        *lock(&shared.state) = ProcessState::Stopped;
        let _ = shared.events.send(ProcessEvent::Stopped { plugin });
        return;
    }
    tracing::warn!(plugin = %plugin, %reason, in_flight, "process plugin crashed");
    let _ = shared.events.send(ProcessEvent::Crashed {
        plugin: plugin.clone(),
        reason: reason.clone(),
        in_flight,
    });
    restart(shared, connection.started.elapsed(), reason).await;
}

/// Reads replies until the stream ends (`None`) or breaks the protocol (`Some(why)`).
async fn route_replies(
    shared: &Shared,
    connection: &Connection,
    stdout: &mut BufReader<ChildStdout>,
) -> Option<String> {
    loop {
        let message = match read_message::<_, FromPlugin>(stdout, shared.config.max_frame).await {
            Ok(message) => message,
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return None,
            Err(error) => return Some(format!("protocol error: {error}")),
        };
        let (id, reply) = match message {
            FromPlugin::Reply { id, result } => (id, Reply::Call(result)),
            FromPlugin::Health {
                id,
                status,
                message,
            } => (id, Reply::Health(status, message)),
            FromPlugin::Bye => continue,
            other => return Some(format!("protocol error: unexpected message {other:?}")),
        };
        let waiter = lock(&connection.pending).waiting.remove(&id);
        if let Some(waiter) = waiter {
            let _ = waiter.send(reply);
        }
        // No waiter: the call timed out and was forgotten; drop the late reply.
    }
}

/// [`start`] behind a boxed `Send` future: start spawns the supervisor,
/// which restarts through here, and the box breaks that cycle for the
/// compiler's `Send` inference.
fn start_again(
    shared: Arc<Shared>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Arc<Connection>, LoadError>> + Send>>
{
    Box::pin(async move { start(&shared).await })
}

/// Restarts with exponential backoff; marks the plugin failed when the
/// restarts are exhausted.
async fn restart(shared: Arc<Shared>, lived: Duration, mut reason: String) {
    *lock(&shared.state) = ProcessState::Restarting;
    *lock(&shared.connection) = None;
    let policy = shared.config.restart.clone();
    let mut attempt = if lived >= policy.stable_after {
        0
    } else {
        shared.restarts.load(Ordering::Acquire)
    };
    let plugin = shared.spec.plugin.clone();
    loop {
        if attempt >= policy.max_restarts || shared.stopping.load(Ordering::Acquire) {
            *lock(&shared.state) = ProcessState::Failed;
            tracing::error!(plugin = %plugin, %reason, "process plugin failed; restarts exhausted");
            let _ = shared.events.send(ProcessEvent::Failed { plugin, reason });
            return;
        }
        attempt += 1;
        shared.restarts.store(attempt, Ordering::Release);
        let backoff = policy
            .initial_backoff
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(policy.max_backoff);
        tokio::time::sleep(backoff).await;
        match start_again(Arc::clone(&shared)).await {
            Ok(connection) => {
                *lock(&shared.connection) = Some(connection);
                *lock(&shared.state) = ProcessState::Running;
                tracing::info!(plugin = %plugin, attempt, "process plugin restarted");
                let _ = shared
                    .events
                    .send(ProcessEvent::Restarted { plugin, attempt });
                return;
            }
            Err(error) => reason = error.to_string(),
        }
    }
}

/// A loaded process plugin. Cheap to clone; every clone talks to the same child.
#[derive(Clone)]
pub struct ProcessPlugin {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ProcessPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPlugin")
            .field("name", &self.shared.spec.plugin)
            .field("state", &self.state())
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

impl ProcessPlugin {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.shared.spec.plugin
    }

    /// The plugin's version.
    pub fn version(&self) -> &Version {
        &self.shared.spec.version
    }

    /// The capabilities the child reported.
    pub fn capabilities(&self) -> &[String] {
        self.shared.hello.get().map_or(&[], |h| &h.capabilities)
    }

    /// The plugkit-sdk version the child was built with.
    pub fn sdk_version(&self) -> &str {
        self.shared.hello.get().map_or("", |h| &h.sdk_version)
    }

    /// The current child's process id, when one is running.
    pub fn pid(&self) -> Option<u32> {
        lock(&self.shared.connection).as_ref().and_then(|c| c.pid)
    }

    /// Where the plugin is in its life.
    pub fn state(&self) -> ProcessState {
        *lock(&self.shared.state)
    }

    /// Crash, restart, failure and stop events, for as many subscribers as
    /// want them (a slow one misses events and is told how many).
    pub fn events(&self) -> broadcast::Receiver<ProcessEvent> {
        self.shared.events.subscribe()
    }

    fn connection(&self, method: &str) -> Result<Arc<Connection>, CallError> {
        lock(&self.shared.connection)
            .clone()
            .ok_or_else(|| CallError::Unavailable {
                plugin: self.shared.spec.plugin.clone(),
                method: method.to_string(),
                state: format!("{:?}", self.state()).to_lowercase(),
            })
    }

    /// Sends `message` (built for a fresh id) and waits for its reply.
    async fn request(
        &self,
        method: &str,
        timeout: Duration,
        message: impl FnOnce(u64) -> ToPlugin,
    ) -> Result<Reply, CallError> {
        let plugin = &self.shared.spec.plugin;
        let connection = self.connection(method)?;
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let crashed = |reason: String| CallError::Crashed {
            plugin: plugin.clone(),
            method: method.to_string(),
            reason,
        };
        let reply = connection.register(id).map_err(crashed)?;
        let mut frame = Vec::new();
        if let Err(error) = protocol::encode_frame(&message(id), &mut frame) {
            connection.forget(id);
            return Err(CallError::Codec {
                plugin: plugin.clone(),
                method: method.to_string(),
                message: error.to_string(),
            });
        }
        if connection.frames.send(frame).is_err() {
            connection.forget(id);
            return Err(crashed(
                connection
                    .closed_reason()
                    .unwrap_or_else(|| "the connection is closed".into()),
            ));
        }
        match tokio::time::timeout(timeout, reply).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(crashed(
                connection
                    .closed_reason()
                    .unwrap_or_else(|| "the connection closed".into()),
            )),
            Err(_) => {
                connection.forget(id);
                Err(CallError::Timeout {
                    plugin: plugin.clone(),
                    method: method.to_string(),
                    after: timeout,
                })
            }
        }
    }

    /// Calls `method` with raw bytes, with the default timeout.
    pub async fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        self.call_with_timeout(method, payload, self.shared.config.call_timeout)
            .await
    }

    /// Calls `method` with raw bytes and a timeout of its own.
    pub async fn call_with_timeout(
        &self,
        method: &str,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, CallError> {
        let reply = self
            .request(method, timeout, |id| ToPlugin::Call {
                id,
                method: method.to_string(),
                payload: payload.to_vec(),
            })
            .await?;
        match reply {
            Reply::Call(Ok(bytes)) => Ok(bytes),
            Reply::Call(Err(error)) => Err(CallError::Plugin {
                plugin: self.shared.spec.plugin.clone(),
                method: method.to_string(),
                error: PluginError::from(error),
            }),
            Reply::Health(..) => Err(CallError::Codec {
                plugin: self.shared.spec.plugin.clone(),
                method: method.to_string(),
                message: "a health answer came for a call".to_string(),
            }),
        }
    }

    /// Calls `method` with a typed request and decodes the typed reply.
    pub async fn call_typed<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &str,
        request: &Req,
    ) -> Result<Resp, CallError> {
        let codec = |message: String| CallError::Codec {
            plugin: self.shared.spec.plugin.clone(),
            method: method.to_string(),
            message,
        };
        let request = plugkit_sdk::encode(request).map_err(|e| codec(e.to_string()))?;
        let reply = self.call(method, &request).await?;
        plugkit_sdk::decode(&reply).map_err(|e| codec(format!("cannot decode the reply: {e}")))
    }

    /// Asks the child for its health (with the default call timeout).
    pub async fn health(&self) -> Result<Health, CallError> {
        let reply = self
            .request("health", self.shared.config.call_timeout, |id| {
                ToPlugin::Health { id }
            })
            .await?;
        match reply {
            Reply::Health(0, _) => Ok(Health::Healthy),
            Reply::Health(1, message) => Ok(Health::Degraded(message)),
            Reply::Health(_, message) => Ok(Health::Unhealthy(message)),
            Reply::Call(_) => Err(CallError::Codec {
                plugin: self.shared.spec.plugin.clone(),
                method: "health".to_string(),
                message: "a call answer came for a health check".to_string(),
            }),
        }
    }

    /// Shuts the child down: `Shutdown`, then up to the grace period for it
    /// to finish its calls and exit, then `SIGTERM`, then `SIGKILL`. Returns
    /// how it ended.
    pub async fn shutdown(&self) -> String {
        self.shared.stopping.store(true, Ordering::Release);
        let Some(connection) = lock(&self.shared.connection).take() else {
            *lock(&self.shared.state) = ProcessState::Stopped;
            return "not running".to_string();
        };
        let grace = self.shared.config.shutdown_grace;
        let mut frame = Vec::new();
        if protocol::encode_frame(&ToPlugin::Shutdown, &mut frame).is_ok() {
            let _ = connection.frames.send(frame);
        }
        let mut exited = connection.exited.clone();
        for signal in [
            None,
            Some(rustix::process::Signal::TERM),
            Some(rustix::process::Signal::KILL),
        ] {
            if let (Some(signal), Some(pid)) = (
                signal,
                connection
                    .pid
                    .and_then(|p| rustix::process::Pid::from_raw(p as i32)),
            ) {
                let _ = rustix::process::kill_process(pid, signal);
            }
            if let Ok(Ok(status)) =
                tokio::time::timeout(grace, exited.wait_for(Option::is_some)).await
            {
                return status.clone().unwrap_or_default();
            }
        }
        "did not exit after SIGKILL".to_string()
    }
}
