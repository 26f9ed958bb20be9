//! The process transport: a plugin as a child process speaking plugkit-sdk's
//! [`protocol`](plugkit_sdk::protocol#framing) over stdio, driven by tokio.
//!
//! - **What runs.** The manifest's executable is read (a regular file,
//!   bounded), checked against the manifest's `checksum`, and copied into
//!   the loader's cache directory (read-only, executable by the owner). The
//!   copy is what runs, for the whole life of the instance, restarts
//!   included: a binary replaced in place on disk can neither turn a
//!   crash-restart of v1 into a start of v2 nor break a rollback to v1.
//!   The copy is removed when the instance stops.
//! - **Spawn.** The child runs in the plugin's directory (made absolute
//!   first, so relative plugin directories work), with a clean environment
//!   (only `PATH=/usr/local/bin:/usr/bin:/bin`, `PLUGKIT_PLUGIN`,
//!   `PLUGKIT_PLUGIN_VERSION`, `PLUGKIT_PROTOCOL`, on Linux
//!   `PLUGKIT_CALL_LANE_FD`, plus [`ProcessConfig::env`]): the host's
//!   secrets stay in the host, and on Linux so do its open descriptors:
//!   the child inherits stdio and the call lane, nothing else. It leads
//!   a process group of its own, so whatever it starts is ended with it.
//!   On Linux, before it executes, the child sets its parent-death signal to
//!   `SIGKILL` (so it dies with the host, even a host killed with `SIGKILL`;
//!   children are spawned from one long-lived thread because Linux ties that
//!   signal to the spawning *thread*), and applies the manifest's
//!   `resources`: `max_memory_mb` as `RLIMIT_AS`, `max_file_handles` as
//!   `RLIMIT_NOFILE`, `max_cpu_cores` as CPU affinity to that many of the
//!   host's CPUs. (`RLIMIT_AS` counts address space, not resident memory:
//!   leave room for thread stacks. cgroup v2 limits are not used: they need
//!   a delegated, writable cgroup, which hosts rarely have.) On other
//!   platforms a manifest with resource limits is refused
//!   ([`LoadError::Unsupported`]).
//! - **Handshake**, bounded by [`ProcessConfig::handshake_timeout`]: magic,
//!   `Hello` checked against the manifest (protocol range, name, version,
//!   encoding), `Init` with the manifest's metadata, `Ready`. A child that
//!   prints garbage, stays silent or exits is killed with its group and
//!   reaped (no zombie, no orphan), and the load fails with
//!   [`LoadError::Handshake`] carrying the last lines of its stderr.
//! - **Calls** are multiplexed: each gets an id and waits for its reply,
//!   which may come in any order. A call made while the
//!   [call lane](plugkit_sdk::protocol#the-call-lane-protocol-4) is free
//!   goes there, in one non-blocking write from the caller, and the child
//!   runs it on the thread that read it; every other frame is encoded into
//!   one shared buffer that one writer task writes whole (coalesced under
//!   load). A call that times out is forgotten (its late reply is dropped);
//!   the connection goes on.
//! - **Supervision, one owner.** One supervisor task per instance owns the
//!   child (the [`Child`] value and the right to signal its group) for its
//!   whole life, restarts included, and makes every state change: a
//!   shutdown reaches it as a message at any moment (serving, backoff,
//!   handshake) and always ends in `Stopped` with no child left. Signals
//!   are sent to the child's process group only while the child is not yet
//!   reaped, so the id cannot have been reused.
//! - **Faults.** A child that exits, is killed or sends a malformed or
//!   oversized frame ends its connection at once: every call in flight fails
//!   with [`CallError::Crashed`], a `Crashed` event goes out, and a new
//!   child is started with exponential backoff; calls made meanwhile wait
//!   for it (up to their timeout). After [`RestartPolicy::max_restarts`]
//!   consecutive failures the instance is `Failed`.
//! - **Shutdown** ([`ProcessPlugin::shutdown`]): no new calls, up to the
//!   grace period for the calls in flight, then a `Shutdown` message, up to
//!   [`ProcessConfig::stop_timeout`] for the child to exit, then `SIGTERM`
//!   to its group, then `SIGKILL`. Dropping the last handle does the same
//!   in the background.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use plugin_manifest::{Manifest, Transport};
use plugin_version::Version;
use plugkit_sdk::protocol::{self, FromPlugin, ToPlugin};
use plugkit_sdk::{ErrorKind, Health, MethodInfo, PluginError, State};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::error::{CallError, LoadError};
use crate::instance::{
    CrashCause, Ended, FailureCause, InstanceEventKind, InstanceInfo, InstanceState,
    ShutdownOutcome, begin_shutdown, finish_shutdown,
};
use crate::lifecycle::Lifecycle;

/// How the process transport behaves. `Default` gives the documented
/// values; build one in an expression with the `with_*` methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProcessConfig {
    /// How long a child may take from spawn to `Ready`. Default 5 s.
    pub handshake_timeout: Duration,
    /// The timeout of a call that names none. Default 30 s.
    pub call_timeout: Duration,
    /// The largest frame accepted from the child. Default 16 MiB.
    pub max_frame: usize,
    /// At shutdown, how long the child may take to exit after `Shutdown`,
    /// and again after `SIGTERM`, before the next step. Default 2 s.
    pub stop_timeout: Duration,
    /// Restarts after a crash.
    pub restart: RestartPolicy,
    /// Extra environment variables for every child.
    pub env: Vec<(String, String)>,
    /// Resource limits for plugins whose manifest sets none; a limit the
    /// manifest sets wins. Default: none.
    pub default_limits: DefaultLimits,
}

/// Resource limits applied to process plugins whose manifest sets none
/// (Linux; see the module docs for what each becomes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DefaultLimits {
    /// Address space, in MiB (`RLIMIT_AS`).
    pub max_memory_mb: Option<u64>,
    /// Open files (`RLIMIT_NOFILE`).
    pub max_file_handles: Option<u64>,
    /// CPUs the child may run on (affinity).
    pub max_cpu_cores: Option<u32>,
}

impl DefaultLimits {
    /// With a default memory limit.
    pub fn with_max_memory_mb(mut self, mb: Option<u64>) -> Self {
        self.max_memory_mb = mb;
        self
    }

    /// With a default open-files limit.
    pub fn with_max_file_handles(mut self, files: Option<u64>) -> Self {
        self.max_file_handles = files;
        self
    }

    /// With a default CPU limit.
    pub fn with_max_cpu_cores(mut self, cores: Option<u32>) -> Self {
        self.max_cpu_cores = cores;
        self
    }
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            handshake_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(30),
            max_frame: protocol::DEFAULT_MAX_FRAME,
            stop_timeout: Duration::from_secs(2),
            restart: RestartPolicy::default(),
            env: Vec::new(),
            default_limits: DefaultLimits::default(),
        }
    }
}

impl ProcessConfig {
    /// With another handshake timeout.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// With another default call timeout.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// With another frame limit.
    pub fn with_max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// With another stop timeout.
    pub fn with_stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// With another restart policy.
    pub fn with_restart(mut self, restart: RestartPolicy) -> Self {
        self.restart = restart;
        self
    }

    /// With these extra environment variables.
    pub fn with_env(mut self, env: Vec<(String, String)>) -> Self {
        self.env = env;
        self
    }

    /// With these limits for plugins whose manifest sets none.
    pub fn with_default_limits(mut self, limits: DefaultLimits) -> Self {
        self.default_limits = limits;
        self
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

impl RestartPolicy {
    /// With another restart limit.
    pub fn with_max_restarts(mut self, restarts: u32) -> Self {
        self.max_restarts = restarts;
        self
    }

    /// With another first backoff.
    pub fn with_initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// With another longest backoff.
    pub fn with_max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// With another stability period.
    pub fn with_stable_after(mut self, period: Duration) -> Self {
        self.stable_after = period;
        self
    }

    /// The wait before restart number `attempt` (from 1).
    fn backoff(&self, attempt: u32) -> Duration {
        self.initial_backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_backoff)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Everything needed to start (and restart) the child.
#[derive(Debug)]
struct Spec {
    plugin: String,
    version: Version,
    /// The verified copy in the cache.
    program: PathBuf,
    /// The artifact the manifest names.
    artifact: PathBuf,
    /// The plugin's directory (absolute): the child's working directory.
    dir: PathBuf,
    config_json: String,
    memory_bytes: Option<u64>,
    file_handles: Option<u64>,
    cpu_cores: Option<u32>,
}

/// Loads a process plugin: starts `program`, the verified copy of its
/// executable `artifact` in the cache (removed if the start fails).
pub(crate) async fn load(
    program: PathBuf,
    config: &ProcessConfig,
    manifest: &Manifest,
    manifest_dir: &Path,
    artifact: &Path,
) -> Result<ProcessPlugin, LoadError> {
    let plugin = manifest.name().to_string();
    let resources = manifest.resources();
    let spec = Spec {
        plugin: plugin.clone(),
        version: manifest.version().clone(),
        program,
        artifact: artifact.to_path_buf(),
        dir: manifest_dir.to_path_buf(),
        config_json: serde_json::to_string(manifest.metadata()).unwrap_or_else(|_| "{}".into()),
        memory_bytes: resources
            .max_memory_mb()
            .or(config.default_limits.max_memory_mb)
            .map(|mb| mb.saturating_mul(1 << 20)),
        file_handles: resources
            .max_file_handles()
            .or(config.default_limits.max_file_handles),
        cpu_cores: resources
            .max_cpu_cores()
            .or(config.default_limits.max_cpu_cores),
    };
    let supported = crate::limits::check_supported(
        &plugin,
        spec.memory_bytes.is_some() || spec.file_handles.is_some() || spec.cpu_cores.is_some(),
    );
    let shared_config = config.clone();
    let started = match supported {
        Ok(()) => start(&spec, &shared_config).await,
        Err(error) => Err(error),
    };
    let started = match started {
        Ok(started) => started,
        Err(error) => {
            let _ = std::fs::remove_file(&spec.program);
            return Err(error);
        }
    };
    let info = InstanceInfo {
        name: spec.plugin.clone(),
        version: spec.version.clone(),
        capabilities: started.hello.capabilities.clone(),
        sdk_version: started.hello.sdk_version.clone(),
        transport: Transport::Process,
        artifact: spec.artifact.clone(),
        state_format: started.hello.state_format.clone(),
    };
    let (commands, receiver) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        spec,
        config: shared_config,
        life: Lifecycle::new(info),
        link: watch::Sender::new(Link::Up(Arc::clone(&started.connection))),
        next_id: AtomicU64::new(1),
        pid: Mutex::new(started.child.pid()),
    });
    tokio::spawn(supervise(Arc::clone(&shared), receiver, started));
    tracing::info!(plugin = %shared.spec.plugin, version = %shared.spec.version, "started process plugin");
    Ok(ProcessPlugin {
        shared,
        handle: Arc::new(Handle { commands }),
    })
}

/// What the child said in its hello.
#[derive(Debug, Clone)]
struct Hello {
    /// The protocol version the child speaks (4 and up: it reads the call lane).
    protocol: u32,
    capabilities: Vec<String>,
    sdk_version: String,
    state_format: Option<String>,
}

/// Where calls go: the current child's connection, or why there is none.
enum Link {
    Up(Arc<Connection>),
    /// Between children: calls wait.
    Restarting,
    /// No child will come: calls are refused with the instance's state.
    Down,
}

struct Shared {
    spec: Spec,
    config: ProcessConfig,
    life: Lifecycle,
    link: watch::Sender<Link>,
    next_id: AtomicU64,
    /// The current child's process id, for observers (never for signals).
    pid: Mutex<Option<u32>>,
}

/// Held by every handle; when the last is dropped the command channel
/// closes and the supervisor stops the child.
struct Handle {
    commands: mpsc::UnboundedSender<Order>,
}

/// What the supervisor is asked to do.
enum Order {
    /// Stop the child (the calls have been drained) and answer how it ended.
    Shutdown(oneshot::Sender<Ended>),
    /// Stop the child: the instance failed.
    Stop,
}

/// A reply a call waits for.
enum Reply {
    Call(Result<Vec<u8>, PluginError>),
    State(Result<Option<State>, PluginError>),
    Health(Result<Health, PluginError>),
    Methods(Vec<MethodInfo>),
    /// No reply: the call's deadline passed (see [`Pending::expiries`]).
    Expired,
}

/// A call's place among a connection's waiters.
struct Registered {
    reply: oneshot::Receiver<Reply>,
    /// The only request in flight (it may take the lane).
    alone: bool,
    /// Its deadline is kept by the connection, not a timer of its own.
    timed_here: bool,
}

/// Why a connection closed.
#[derive(Clone)]
enum Closed {
    Crashed(CrashCause),
    Stopped,
}

/// Which way a request went.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sent {
    Lane,
    Stdin,
}

/// What a request sends: a call, encoded from borrowed parts (no copy of
/// its method or payload), or another message.
enum Request<'a> {
    Call {
        method: &'a str,
        payload: &'a [u8],
        json: bool,
    },
    Message(ToPlugin),
}

/// One child's connection.
struct Connection {
    outgoing: Arc<Outgoing>,
    replies: Replies,
    pending: Mutex<Pending>,
    /// Wakes the reader task when the first call waits in [`Pending::expiries`].
    expiry_armed: tokio::sync::Notify,
    /// The call lane, when the child reads one.
    lane: Option<Lane>,
}

/// The [call lane](plugkit_sdk::protocol#the-call-lane-protocol-4): a
/// second pipe to the child, read by a thread that runs each call itself.
/// It carries one call at a time, so that call needs no hand-off in the
/// child; the others go on stdin to the child's pool, as before, so a slow
/// call on the lane holds up no other.
struct Lane {
    /// The id of the call on the lane until its reply is read; [`Lane::FREE`] when none.
    taken: AtomicU64,
    /// The pipe's write end, and the buffer frames are encoded in.
    pipe: Mutex<LanePipe>,
}

struct LanePipe {
    /// The write end (non-blocking), until the lane is closed.
    fd: Option<std::os::fd::OwnedFd>,
    frame: Vec<u8>,
}

impl Lane {
    /// No call on the lane (no call has this id: ids count up from 1).
    const FREE: u64 = u64::MAX;

    fn new(pipe: std::os::fd::OwnedFd) -> Option<Lane> {
        let nonblocking = rustix::fs::fcntl_getfl(&pipe)
            .and_then(|flags| rustix::fs::fcntl_setfl(&pipe, flags | rustix::fs::OFlags::NONBLOCK));
        nonblocking.is_ok().then(|| Lane {
            taken: AtomicU64::new(Lane::FREE),
            pipe: Mutex::new(LanePipe {
                fd: Some(pipe),
                frame: Vec::new(),
            }),
        })
    }

    /// Sends `call` on the lane if the lane is free and its frame fits one
    /// atomic write; `false`: send it on stdin instead (nothing of it
    /// reached the child).
    fn send(&self, call: &protocol::CallRef<'_>) -> bool {
        // The frame's size at most: prefix, variant, id, two lengths.
        let bound = 4 + 1 + 10 + 5 + call.method.len() + 5 + call.payload.len();
        if bound > protocol::CALL_LANE_MAX_FRAME
            || self
                .taken
                .compare_exchange(Lane::FREE, call.id, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        let mut pipe = lock(&self.pipe);
        let LanePipe { fd, frame } = &mut *pipe;
        frame.clear();
        let written = match fd {
            Some(fd) if call.encode(frame).is_ok() => rustix::io::write(&*fd, frame),
            _ => Err(rustix::io::Errno::BADF),
        };
        match written {
            Ok(n) if n == frame.len() => true,
            Ok(_) => {
                // A pipe write of at most PIPE_BUF bytes is whole or
                // nothing; should one be cut anyway, the child reads a
                // truncated frame and exits, and the call fails as a crash.
                pipe.fd.take();
                true
            }
            // Full (the child is not reading), closed, or the child is gone:
            // the frame goes on stdin, where the supervisor sees the rest.
            Err(_) => {
                self.taken.store(Lane::FREE, Ordering::Release);
                false
            }
        }
    }

    /// The reply to call `id` is in: the lane is free if it carried it.
    fn answered(&self, id: u64) {
        let _ = self
            .taken
            .compare_exchange(id, Lane::FREE, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// Closes the lane; the child's lane reader ends.
    fn close(&self) {
        lock(&self.pipe).fd.take();
    }
}

#[derive(Default)]
struct Pending {
    /// Why the connection closed, once it has.
    closed: Option<Closed>,
    /// Keyed by call id (sequential, so the hash need not resist attack).
    waiting: rustc_hash::FxHashMap<u64, oneshot::Sender<Reply>>,
    expiries: Expiries,
}

/// The deadlines of the calls a connection times itself, oldest first: a
/// call with the instance's default timeout whose deadline is no earlier
/// than the last one here (so all stay in order). The reader task sleeps
/// until the first and fails the calls whose deadline passed. A call
/// answered first is skipped then, or compacted away once answered calls
/// outnumber the waiting ones, so this holds at most about twice the calls
/// in flight. (A tokio timer per call cost about 15% of a call's time at
/// 64 calls in flight.)
#[derive(Default)]
struct Expiries(VecDeque<(tokio::time::Instant, u64)>);

/// Calls beyond twice the waiting ones that [`Expiries`] keeps before it
/// compacts.
const EXPIRIES_SLACK: usize = 64;

impl Expiries {
    /// Adds call `id` unless its deadline is earlier than the last one's;
    /// `waiting` says whether a call still waits (`waiting_now` of them do).
    /// Returns whether it was added.
    fn push(
        &mut self,
        deadline: tokio::time::Instant,
        id: u64,
        waiting: impl Fn(u64) -> bool,
        waiting_now: usize,
    ) -> bool {
        if self.0.back().is_some_and(|&(last, _)| last > deadline) {
            return false;
        }
        if self.0.len() > 2 * waiting_now + EXPIRIES_SLACK {
            self.0.retain(|&(_, id)| waiting(id));
        }
        self.0.push_back((deadline, id));
        true
    }

    /// The first call still waiting: `Ok(id)`, taken out, if its deadline
    /// passed by `now`, else `Err` with its deadline (`Err(None)`: none waits).
    fn pop_expired(
        &mut self,
        now: tokio::time::Instant,
        waiting: impl Fn(u64) -> bool,
    ) -> Result<u64, Option<tokio::time::Instant>> {
        while let Some(&(deadline, id)) = self.0.front() {
            if !waiting(id) {
                self.0.pop_front();
            } else if deadline <= now {
                self.0.pop_front();
                return Ok(id);
            } else {
                return Err(Some(deadline));
            }
        }
        Err(None)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The frames on their way to the child's stdin: senders encode into one
/// shared buffer, and one writer task writes whatever has gathered in one
/// write (no allocation or copy per frame, coalesced writes under load).
struct Outgoing {
    queue: Mutex<Queue>,
    /// Wakes the writer when the queue stops being empty, or closes.
    ready: tokio::sync::Notify,
}

#[derive(Default)]
struct Queue {
    bytes: Vec<u8>,
    /// No more frames: the connection is gone, or stdin broke.
    closed: bool,
}

impl Outgoing {
    /// Appends the frame `encode` writes; `false` if it could not be sent.
    fn send(&self, encode: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> bool {
        let mut queue = lock(&self.queue);
        if queue.closed {
            return false;
        }
        let was_empty = queue.bytes.is_empty();
        let start = queue.bytes.len();
        if encode(&mut queue.bytes).is_err() {
            queue.bytes.truncate(start);
            return false;
        }
        drop(queue);
        if was_empty {
            self.ready.notify_one();
        }
        true
    }

    fn close(&self) {
        lock(&self.queue).closed = true;
        self.ready.notify_one();
    }
}

/// The child's stdout once the handshake is done, read by whoever gets
/// there first: the reader task, woken by the runtime when bytes arrive,
/// or a caller that has just sent a call on the lane. On one CPU the child
/// runs (and answers) the moment the caller's write wakes it, so the
/// caller finds its reply waiting and takes it without a wake-up.
struct Replies {
    stdout: tokio::net::unix::pipe::Receiver,
    max_frame: usize,
    state: Mutex<ReplyState>,
    /// Wakes the reader task when a caller found the stream ended.
    ended: tokio::sync::Notify,
}

#[derive(Default)]
struct ReplyState {
    /// Bytes read and not yet routed (whole frames are routed at once).
    bytes: Vec<u8>,
    /// How the stream ended: `Some(None)` at its end, `Some(Some(why))` at
    /// a protocol or read error.
    ended: Option<Option<String>>,
}

/// The least room a read of replies is given.
const READ_CHUNK: usize = 64 << 10;

impl Drop for Connection {
    fn drop(&mut self) {
        // The writer ends, closing the child's stdin.
        self.outgoing.close();
    }
}

impl Connection {
    /// Reads and routes every reply there is now, without waiting:
    /// `Err(WouldBlock)` once none is left, `Ok(())` once the stream ended
    /// (`state.ended` says how).
    fn drain_replies(&self, state: &mut ReplyState, caller: bool) -> std::io::Result<()> {
        use std::io::{Error, ErrorKind};
        let stdout = &self.replies.stdout;
        let read_into = |bytes: &mut Vec<u8>| {
            rustix::io::read(stdout, rustix::buffer::spare_capacity(bytes)).map_err(Error::from)
        };
        loop {
            if state.ended.is_some() {
                return Ok(());
            }
            state.bytes.reserve(READ_CHUNK);
            let (before, room) = (
                state.bytes.len(),
                state.bytes.capacity() - state.bytes.len(),
            );
            let read = if caller {
                // Past the runtime's readiness (which only its reactor sets,
                // so would say "not ready" here): the bytes may well be in.
                read_into(&mut state.bytes)
            } else {
                let bytes = &mut state.bytes;
                stdout.try_io(|| {
                    let n = read_into(bytes)?;
                    if 0 < n && n < room {
                        // Fewer bytes than there was room for: the pipe is
                        // empty now. Said as `WouldBlock`, this clears the
                        // readiness until the reactor sees bytes arrive
                        // again, which saves a read that would find none
                        // (tokio's own reads clear it the same way).
                        return Err(ErrorKind::WouldBlock.into());
                    }
                    Ok(n)
                })
            };
            if state.bytes.len() > before
                && let Err(why) = self.route_frames(&mut state.bytes)
            {
                state.ended = Some(Some(why));
                return Ok(());
            }
            match read {
                Ok(0) => state.ended = Some(None),
                // A partial read drained the pipe.
                Ok(n) if n < room => return Err(ErrorKind::WouldBlock.into()),
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Err(error),
                Err(error) => {
                    state.ended = Some(Some(format!("cannot read the child's output: {error}")));
                }
            }
        }
    }

    /// Routes the whole frames at the start of `bytes` and removes them.
    fn route_frames(&self, bytes: &mut Vec<u8>) -> Result<(), String> {
        let mut at = 0;
        while let Some(prefix) = bytes.get(at..at + 4) {
            let length = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
            let length = protocol::check_frame_length(length, self.replies.max_frame)
                .map_err(|error| error.to_string())?;
            let Some(frame) = bytes.get(at + 4..at + 4 + length) else {
                break;
            };
            let message =
                protocol::decode_message::<FromPlugin>(frame).map_err(|error| error.to_string())?;
            self.route(message)?;
            at += 4 + length;
        }
        bytes.drain(..at);
        // One large reply does not keep its memory for the connection's life.
        bytes.shrink_to(KEPT_CAPACITY);
        Ok(())
    }

    /// Hands one reply to the call waiting for it.
    fn route(&self, message: FromPlugin) -> Result<(), String> {
        let (id, reply) = match message {
            FromPlugin::Reply { id, result } => (id, Reply::Call(result)),
            FromPlugin::Health { id, health } => (id, Reply::Health(health)),
            FromPlugin::Methods { id, methods } => (id, Reply::Methods(methods)),
            FromPlugin::State { id, result } => (id, Reply::State(result)),
            FromPlugin::Bye => return Ok(()),
            other => return Err(format!("unexpected message {other:?}")),
        };
        if let Some(lane) = &self.lane {
            // Freed before the caller hears back, so its next call finds
            // the lane free.
            lane.answered(id);
        }
        let waiter = lock(&self.pending).waiting.remove(&id);
        if let Some(waiter) = waiter {
            let _ = waiter.send(reply);
        }
        // No waiter: the call timed out and was forgotten; drop the late reply.
        Ok(())
    }

    /// A caller's turn at reading replies (right after it sent a call on
    /// the lane), unless the reader task is at it.
    fn take_replies(&self) {
        let mut state = match self.replies.state.try_lock() {
            Ok(state) => state,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        if self.drain_replies(&mut state, true).is_ok() {
            // Ended: the reader task reports it to the supervisor.
            self.replies.ended.notify_one();
        }
    }

    /// Registers a waiter for `id`, unless the connection is closed. A
    /// call with the instance's default timeout passes its `deadline`, and
    /// the connection times it when it can (see [`Pending::expiries`]).
    fn register(
        &self,
        id: u64,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Registered, Closed> {
        let mut pending = lock(&self.pending);
        if let Some(closed) = &pending.closed {
            return Err(closed.clone());
        }
        let (tx, reply) = oneshot::channel();
        pending.waiting.insert(id, tx);
        let alone = pending.waiting.len() == 1;
        let Pending {
            expiries, waiting, ..
        } = &mut *pending;
        let timed_here = deadline.is_some_and(|deadline| {
            let arm = expiries.is_empty();
            let pushed = expiries.push(deadline, id, |id| waiting.contains_key(&id), waiting.len());
            if pushed && arm {
                self.expiry_armed.notify_one();
            }
            pushed
        });
        Ok(Registered {
            reply,
            alone,
            timed_here,
        })
    }

    /// Fails the calls timed here whose deadline has passed by `now`
    /// (skipping those answered since); returns the next deadline.
    fn expire(&self, now: tokio::time::Instant) -> Option<tokio::time::Instant> {
        let mut expired = Vec::new();
        let next = {
            let mut pending = lock(&self.pending);
            let Pending {
                expiries, waiting, ..
            } = &mut *pending;
            loop {
                match expiries.pop_expired(now, |id| waiting.contains_key(&id)) {
                    Ok(id) => expired.extend(waiting.remove(&id)),
                    Err(next) => break next,
                }
            }
        };
        for waiter in expired {
            let _ = waiter.send(Reply::Expired);
        }
        next
    }

    fn forget(&self, id: u64) {
        lock(&self.pending).waiting.remove(&id);
    }

    /// Closes the connection: every waiter fails at once. Returns how many were waiting.
    fn close(&self, why: Closed) -> usize {
        let mut pending = lock(&self.pending);
        pending.closed.get_or_insert(why);
        pending.expiries = Expiries::default();
        let waiting = std::mem::take(&mut pending.waiting);
        waiting.len() // dropping the senders wakes every waiter with an error
    }

    fn closed(&self) -> Option<Closed> {
        lock(&self.pending).closed.clone()
    }

    /// Sends a message that is not a call.
    fn send(&self, message: &ToPlugin) -> bool {
        self.outgoing
            .send(|queue| protocol::encode_frame(message, queue))
    }

    /// Sends request `id`: a call made `alone` (no other request in flight)
    /// on the lane when it is free, anything else on stdin, where calls
    /// made together are written together and the child's workers take
    /// them without sleeping in between. `None`: the connection is closed.
    fn send_request(&self, id: u64, request: &Request<'_>, alone: bool) -> Option<Sent> {
        match *request {
            Request::Call {
                method,
                payload,
                json,
            } => {
                let call = protocol::CallRef {
                    id,
                    method,
                    payload,
                    json,
                };
                if alone && self.lane.as_ref().is_some_and(|lane| lane.send(&call)) {
                    return Some(Sent::Lane);
                }
                self.outgoing
                    .send(|queue| call.encode(queue))
                    .then_some(Sent::Stdin)
            }
            Request::Message(ref message) => self.send(message).then_some(Sent::Stdin),
        }
    }
}

/// The child, owned: its process group is signalled only through this
/// value and only while the child is not reaped, so the id cannot have
/// been reused. Dropped without being reaped, it kills the whole group
/// (and tokio reaps the leader).
struct Owned {
    child: Child,
    /// The group (the child's pid), while the child is not reaped.
    group: Option<rustix::process::Pid>,
}

impl Owned {
    fn new(child: Child) -> Self {
        let group = child
            .id()
            .and_then(|pid| rustix::process::Pid::from_raw(pid as i32));
        Owned { child, group }
    }

    fn pid(&self) -> Option<u32> {
        self.group.map(|pid| pid.as_raw_nonzero().get() as u32)
    }

    /// Sends `signal` to the child's whole process group.
    fn signal(&self, signal: rustix::process::Signal) {
        if let Some(group) = self.group {
            let _ = rustix::process::kill_process_group(group, signal);
        }
    }

    /// Waits, up to `timeout`, until the child has exited, without reaping
    /// it (so its group can still be signalled). Returns whether it exited.
    async fn exited(&self, timeout: Duration) -> bool {
        let Some(pid) = self.group else { return true };
        let waiting = tokio::task::spawn_blocking(move || {
            use rustix::process::{WaitId, WaitIdOptions, waitid};
            loop {
                match waitid(
                    WaitId::Pid(pid),
                    WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
                ) {
                    Err(rustix::io::Errno::INTR) => continue,
                    _ => return,
                }
            }
        });
        tokio::time::timeout(timeout, waiting).await.is_ok()
    }

    /// Ends the group's stragglers and reaps the child; returns its status.
    async fn reap(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.signal(rustix::process::Signal::KILL);
        let status = self.child.wait().await;
        self.group = None;
        status
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // Not reaped: kill the whole group (kill_on_drop kills the leader
        // too, and tokio reaps it in the background).
        self.signal(rustix::process::Signal::KILL);
    }
}

/// A started child: owned, its connection, the task reading its replies.
struct Started {
    child: Owned,
    connection: Arc<Connection>,
    /// Ends when the child's output ends (`None`) or breaks the protocol.
    reader: JoinHandle<Option<String>>,
    hello: Hello,
}

/// The last lines a child wrote to stderr, for load errors.
#[derive(Clone, Default)]
struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    const LINES: usize = 10;

    fn push(&self, line: String) {
        let mut lines = lock(&self.0);
        if lines.len() == Self::LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn take(&self) -> Vec<String> {
        lock(&self.0).drain(..).collect()
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
    static SPAWNER: std::sync::OnceLock<Mutex<std::sync::mpsc::Sender<Request>>> =
        std::sync::OnceLock::new();
    let (tx, rx) = oneshot::channel();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = std::sync::mpsc::channel::<Request>();
        let started = std::thread::Builder::new()
            .name("plugkit-spawner".into())
            .spawn(move || {
                for (handle, mut command, reply) in incoming {
                    let _runtime = handle.enter();
                    let _ = reply.send(spawn_retrying(&mut command));
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
        let _ = reply.send(spawn_retrying(&mut command));
    }
    rx
}

/// Spawns, retrying a few times on `ETXTBSY`: the executable was just
/// written, and a fork elsewhere in the process may still hold the writing
/// descriptor until its exec.
fn spawn_retrying(command: &mut Command) -> std::io::Result<Child> {
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(error) if error.raw_os_error() == Some(26) && attempt < 50 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            other => return other,
        }
    }
}

/// Builds the child's command: clean environment, working directory,
/// own process group, resource limits and the parent-death signal.
/// The child's command; `lane` is the call lane's read end, offered to it.
fn command(spec: &Spec, config: &ProcessConfig, lane: Option<RawFd>) -> Command {
    let mut command = Command::new(&spec.program);
    command
        .current_dir(&spec.dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("PLUGKIT_PLUGIN", &spec.plugin)
        .env("PLUGKIT_PLUGIN_VERSION", spec.version.to_string())
        .env("PLUGKIT_PROTOCOL", protocol::PROTOCOL_VERSION.to_string())
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(lane) = lane {
        command.env(protocol::CALL_LANE_ENV, lane.to_string());
    }
    crate::limits::apply(
        &mut command,
        spec.memory_bytes,
        spec.file_handles,
        spec.cpu_cores,
        lane,
    );
    command
}

/// Starts a child and completes the handshake; on any failure the child's
/// group is killed and the child reaped, and the error carries the last
/// lines of its stderr.
async fn start(spec: &Spec, config: &ProcessConfig) -> Result<Started, LoadError> {
    let spawn_error = |source| LoadError::Spawn {
        plugin: spec.plugin.clone(),
        program: spec.program.clone(),
        source,
    };
    // The call lane: both ends close-on-exec here; the child's copy of the
    // read end is kept open across its exec (see `limits::apply`), and the
    // host's copy closes once the child is spawned.
    let lane = crate::limits::CALL_LANE
        .then(|| rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ok())
        .flatten();
    let lane_read = lane.as_ref().map(|(read, _)| read.as_raw_fd());
    let child = spawn_child(command(spec, config, lane_read))
        .await
        .map_err(|_| spawn_error(std::io::Error::other("the spawner thread is gone")))?
        .map_err(|error| {
            if error.kind() == std::io::ErrorKind::NotFound && spec.program.exists() {
                // The file is there: what is missing is what runs it.
                return spawn_error(std::io::Error::new(
                    error.kind(),
                    "its interpreter (the #! line) or dynamic loader does not exist",
                ));
            }
            spawn_error(error)
        })?;
    let mut child = Owned::new(child);
    let (Some(stdin), Some(stdout), Some(stderr)) = (
        child.child.stdin.take(),
        child.child.stdout.take(),
        child.child.stderr.take(),
    ) else {
        let _ = child.reap().await;
        return Err(spawn_error(std::io::Error::other(
            "the child's stdio is not piped",
        )));
    };
    let tail = StderrTail::default();
    let forwarder = tokio::spawn(forward_stderr(spec.plugin.clone(), stderr, tail.clone()));
    let mut stdin = stdin;
    let mut stdout = BufReader::new(stdout);
    let handshake = tokio::time::timeout(
        config.handshake_timeout,
        handshake(spec, config, &mut stdin, &mut stdout),
    )
    .await
    .unwrap_or_else(|_| {
        Err(LoadError::Handshake {
            plugin: spec.plugin.clone(),
            reason: format!(
                "no complete handshake within {} ms",
                config.handshake_timeout.as_millis()
            ),
            stderr: Vec::new(),
        })
    });
    let hello = match handshake {
        Ok(hello) => hello,
        Err(mut error) => {
            // Kill the group and reap: no zombie, no orphan. If the child
            // had exited by itself, say how; show what it said on stderr.
            // A child that closed its output is most likely exiting: give
            // it a moment, so that the error can say how it ended.
            let closed = matches!(
                tokio::time::timeout(Duration::ZERO, stdout.read(&mut [0u8; 1])).await,
                Ok(Ok(0))
            );
            let grace = if closed {
                Duration::from_secs(2)
            } else {
                Duration::ZERO
            };
            let exited_before = child.exited(grace).await;
            let status = child.reap().await;
            let _ = tokio::time::timeout(Duration::from_secs(1), forwarder).await;
            let lines = tail.take();
            match &mut error {
                LoadError::Handshake { reason, stderr, .. } => {
                    if exited_before && let Ok(status) = status {
                        reason.push_str(&format!(" ({status})"));
                    }
                    *stderr = lines;
                }
                LoadError::Init { stderr, .. } => *stderr = lines,
                _ => {}
            }
            return Err(error);
        }
    };
    let lane = lane
        .filter(|_| hello.protocol >= protocol::CALL_LANE_PROTOCOL)
        .and_then(|(_, write)| Lane::new(write));
    let outgoing = Arc::new(Outgoing {
        queue: Mutex::new(Queue::default()),
        ready: tokio::sync::Notify::new(),
    });
    let replies = match replies(stdout, config.max_frame) {
        Ok(replies) => replies,
        Err(error) => {
            let _ = child.reap().await;
            return Err(spawn_error(error));
        }
    };
    let connection = Arc::new(Connection {
        outgoing: Arc::clone(&outgoing),
        replies,
        pending: Mutex::new(Pending::default()),
        expiry_armed: tokio::sync::Notify::new(),
        lane,
    });
    tokio::spawn(write_frames(stdin, outgoing));
    let reader = tokio::spawn(route_replies(Arc::clone(&connection)));
    Ok(Started {
        child,
        connection,
        reader,
        hello,
    })
}

async fn handshake(
    spec: &Spec,
    config: &ProcessConfig,
    stdin: &mut ChildStdin,
    stdout: &mut BufReader<ChildStdout>,
) -> Result<Hello, LoadError> {
    let refuse = |reason: String| LoadError::Handshake {
        plugin: spec.plugin.clone(),
        reason,
        stderr: Vec::new(),
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
    let hello = read_message(stdout, config.max_frame)
        .await
        .map_err(|e| refuse(format!("no hello: {e}")))?;
    let FromPlugin::Hello {
        protocol: version,
        name,
        version: plugin_version,
        capabilities,
        sdk_version,
        encoding,
        state_format,
    } = hello
    else {
        return Err(refuse("the first message is not a hello".to_string()));
    };
    if !protocol::SUPPORTED_PROTOCOLS.contains(&version) {
        return Err(refuse(format!(
            "the child speaks protocol version {version} (plugkit-sdk {sdk_version}), this host speaks {}..={} (plugkit-sdk {}); rebuild the plugin",
            protocol::SUPPORTED_PROTOCOLS.start(),
            protocol::SUPPORTED_PROTOCOLS.end(),
            plugkit_sdk::SDK_VERSION,
        )));
    }
    let found = format!("{name} {plugin_version}");
    let expected = format!("{} {}", spec.plugin, spec.version);
    if found != expected {
        return Err(LoadError::IdentityMismatch {
            plugin: spec.plugin.clone(),
            path: spec.artifact.clone(),
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
    match read_message(stdout, config.max_frame)
        .await
        .map_err(|e| refuse(format!("no answer to init: {e}")))?
    {
        FromPlugin::Ready => Ok(Hello {
            protocol: version,
            capabilities,
            sdk_version,
            state_format,
        }),
        FromPlugin::InitFailed { error } => Err(LoadError::Init {
            plugin: spec.plugin.clone(),
            stage: "init",
            error,
            stderr: Vec::new(),
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

/// Writes the queued frames, everything queued at once in one write,
/// until the connection closes (then the child's stdin closes).
async fn write_frames(mut stdin: ChildStdin, outgoing: Arc<Outgoing>) {
    let mut batch = Vec::new();
    loop {
        let closed = {
            let mut queue = lock(&outgoing.queue);
            std::mem::swap(&mut batch, &mut queue.bytes);
            queue.closed
        };
        if batch.is_empty() {
            if closed {
                return;
            }
            outgoing.ready.notified().await;
            continue;
        }
        if stdin.write_all(&batch).await.is_err() || stdin.flush().await.is_err() {
            // The child is gone; its supervisor reports it.
            lock(&outgoing.queue).closed = true;
            return;
        }
        batch.clear();
        // One large frame does not keep its memory for the connection's life.
        batch.shrink_to(KEPT_CAPACITY);
    }
}

/// The most a write buffer keeps between writes.
const KEPT_CAPACITY: usize = 1 << 20;

/// Forwards the child's stderr, line by line, to `tracing` under its name,
/// keeping the last lines for load errors.
async fn forward_stderr(plugin: String, stderr: tokio::process::ChildStderr, tail: StderrTail) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let (level, message) = crate::log::parse_stderr_line(&line);
        crate::log::plugin_line(&plugin, level, message);
        tail.push(line);
    }
}

/// The child's stdout after the handshake (with what the handshake read
/// beyond its last message), made ready for [`Replies`].
fn replies(stdout: BufReader<ChildStdout>, max_frame: usize) -> std::io::Result<Replies> {
    let read_ahead = stdout.buffer().to_vec();
    let fd = stdout.into_inner().into_owned_fd()?;
    Ok(Replies {
        stdout: tokio::net::unix::pipe::Receiver::from_owned_fd(fd)?,
        max_frame,
        state: Mutex::new(ReplyState {
            bytes: read_ahead,
            ..ReplyState::default()
        }),
        ended: tokio::sync::Notify::new(),
    })
}

/// Reads replies whenever the child's stdout is readable (unless a caller
/// took them first) until the stream ends (`None`) or breaks the protocol
/// (`Some(why)`).
async fn route_replies(connection: Arc<Connection>) -> Option<String> {
    let replies = &connection.replies;
    {
        // Replies the handshake read ahead.
        let mut state = lock(&replies.state);
        let mut bytes = std::mem::take(&mut state.bytes);
        if let Err(why) = connection.route_frames(&mut bytes) {
            return Some(why);
        }
        state.bytes = bytes;
    }
    // The next deadline of a call timed by the connection, if any waits.
    let expiry = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(expiry);
    let mut armed = false;
    loop {
        if let Some(ended) = lock(&replies.state).ended.clone() {
            return ended;
        }
        tokio::select! {
            ready = replies.stdout.readable() => {
                if let Err(error) = ready {
                    return Some(format!("cannot wait for the child's output: {error}"));
                }
                // Reads until none is left (or a caller read them first).
                let _ = connection.drain_replies(&mut lock(&replies.state), false);
            }
            () = replies.ended.notified() => {}
            () = &mut expiry, if armed => {
                armed = false;
                if let Some(next) = connection.expire(tokio::time::Instant::now()) {
                    expiry.as_mut().reset(next);
                    armed = true;
                }
            }
            () = connection.expiry_armed.notified(), if !armed => {
                if let Some(next) = connection.expire(tokio::time::Instant::now()) {
                    expiry.as_mut().reset(next);
                    armed = true;
                }
            }
        }
    }
}

/// Owns the child for the instance's whole life: serves until it crashes
/// (then restarts it) or a command stops it.
async fn supervise(
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<Order>,
    mut running: Started,
) {
    let policy = shared.config.restart.clone();
    let mut crashes = 0u32;
    loop {
        let serving_since = Instant::now();
        let stop = tokio::select! {
            ended = &mut running.reader => Err(ended.unwrap_or_else(|e| Some(format!("the reader task ended: {e}")))),
            command = commands.recv() => Ok(command),
        };
        match stop {
            Ok(command) => {
                let ended = stop_child(&shared, &mut running).await;
                return finish(&shared, commands, command, ended);
            }
            Err(protocol_error) => {
                let cause = crashed(&shared, &mut running, protocol_error).await;
                if serving_since.elapsed() >= policy.stable_after {
                    crashes = 0;
                }
                crashes += 1;
                match restart(&shared, &mut commands, crashes, cause).await {
                    Ok(started) => running = started,
                    Err(command) => return finish(&shared, commands, command, Ended::NotRunning),
                }
            }
        }
    }
}

/// The child ended unasked: new calls wait, the group is ended, the child
/// reaped, the calls in flight fail with the cause, and a `Crashed` event
/// goes out.
async fn crashed(
    shared: &Shared,
    running: &mut Started,
    protocol_error: Option<String>,
) -> CrashCause {
    shared.link.send_replace(Link::Restarting);
    let child = &mut running.child;
    let cause = match protocol_error {
        Some(message) => {
            child.signal(rustix::process::Signal::KILL);
            let _ = child.reap().await;
            CrashCause::Protocol { message }
        }
        None => {
            if child.exited(shared.config.stop_timeout * 2).await {
                match child.reap().await {
                    Ok(status) => exit_cause(status),
                    Err(_) => CrashCause::ClosedOutput,
                }
            } else {
                // It closed its output but lives on: end it.
                let _ = child.reap().await;
                CrashCause::ClosedOutput
            }
        }
    };
    *lock(&shared.pid) = None;
    let in_flight = running.connection.close(Closed::Crashed(cause.clone()));
    tracing::warn!(plugin = %shared.spec.plugin, %cause, in_flight, "process plugin crashed");
    shared.life.publish(InstanceEventKind::Crashed {
        cause: cause.clone(),
        in_flight,
    });
    cause
}

fn exit_cause(status: std::process::ExitStatus) -> CrashCause {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return CrashCause::Signaled { signal };
        }
    }
    CrashCause::Exited {
        code: status.code().unwrap_or(-1),
    }
}

/// Starts new children with backoff until one serves (`Ok`), restarts are
/// exhausted (the instance fails; then waits for the command that ends
/// it), or a command stops it (`Err(command)`).
async fn restart(
    shared: &Shared,
    commands: &mut mpsc::UnboundedReceiver<Order>,
    crashes: u32,
    cause: CrashCause,
) -> Result<Started, Option<Order>> {
    let policy = &shared.config.restart;
    let mut attempt = crashes;
    let mut last_error = None;
    loop {
        if attempt > policy.max_restarts {
            let failure = match last_error {
                Some(error) => FailureCause::StartFailed { error },
                None => FailureCause::Crashed {
                    crashes,
                    last: cause,
                },
            };
            shared.life.fail(failure);
            shared.link.send_replace(Link::Down);
            return Err(commands.recv().await);
        }
        let backoff = policy.backoff(attempt);
        shared.life.set_state(InstanceState::Restarting { attempt });
        shared
            .life
            .publish(InstanceEventKind::Restarting { attempt, backoff });
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            command = commands.recv() => {
                shared.link.send_replace(Link::Down);
                return Err(command);
            }
        }
        // A shutdown during the handshake drops the start: its child's
        // group is killed by `Owned`'s drop, and no new child serves.
        let started = tokio::select! {
            started = start(&shared.spec, &shared.config) => started,
            command = commands.recv() => {
                shared.link.send_replace(Link::Down);
                return Err(command);
            }
        };
        match started {
            Ok(started) => {
                *lock(&shared.pid) = started.child.pid();
                if shared.life.set_state(InstanceState::Running) {
                    shared
                        .link
                        .send_replace(Link::Up(Arc::clone(&started.connection)));
                    tracing::info!(plugin = %shared.spec.plugin, attempt, "process plugin restarted");
                    shared
                        .life
                        .publish(InstanceEventKind::Restarted { attempt });
                }
                return Ok(started);
            }
            Err(error) => {
                tracing::warn!(plugin = %shared.spec.plugin, attempt, %error, "process plugin restart failed");
                last_error = Some(error.to_string());
                attempt += 1;
            }
        }
    }
}

/// Stops a serving child: `Shutdown`, then `SIGTERM`, then `SIGKILL` to its
/// group, each after [`ProcessConfig::stop_timeout`]; reaps it; fails the
/// calls still in flight with `Stopped`.
async fn stop_child(shared: &Shared, running: &mut Started) -> Ended {
    use rustix::process::Signal;
    shared.link.send_replace(Link::Down);
    running.connection.send(&ToPlugin::Shutdown);
    if let Some(lane) = &running.connection.lane {
        lane.close();
    }
    let mut ended = None;
    for (signal, result) in [
        (None, Ended::Clean),
        (Some(Signal::TERM), Ended::Terminated),
        (Some(Signal::KILL), Ended::Killed),
    ] {
        if let Some(signal) = signal {
            running.child.signal(signal);
        }
        if running.child.exited(shared.config.stop_timeout).await {
            ended = Some(result);
            break;
        }
    }
    let status = running.child.reap().await;
    *lock(&shared.pid) = None;
    // Replies written before the child exited are still routed.
    let _ = tokio::time::timeout(Duration::from_secs(1), &mut running.reader).await;
    running.connection.close(Closed::Stopped);
    match (ended, status) {
        (Some(Ended::Clean), Ok(status)) if !status.success() => Ended::Unclean {
            reason: format!("the child exited with {status}"),
        },
        (Some(ended), _) => ended,
        (None, _) => Ended::Killed,
    }
}

/// The supervisor's last act: the instance is stopped (unless it failed),
/// the copy of the executable is removed, and every shutdown waiting is
/// told how it ended.
fn finish(
    shared: &Shared,
    mut commands: mpsc::UnboundedReceiver<Order>,
    first: Option<Order>,
    ended: Ended,
) {
    shared.link.send_replace(Link::Down);
    let _ = std::fs::remove_file(&shared.spec.program);
    if !matches!(shared.life.state(), InstanceState::Failed { .. })
        || matches!(first, Some(Order::Shutdown(_)))
    {
        finish_shutdown(&shared.life, ended.clone());
    }
    commands.close();
    let mut waiting: Vec<Order> = first.into_iter().collect();
    while let Ok(command) = commands.try_recv() {
        waiting.push(command);
    }
    for command in waiting {
        if let Order::Shutdown(reply) = command {
            let _ = reply.send(ended.clone());
        }
    }
}

/// A loaded process plugin: the handle under a process
/// [`Instance`](crate::Instance). Cheap to clone; every clone talks to the
/// same child, and dropping the last one stops it.
#[derive(Clone)]
pub struct ProcessPlugin {
    shared: Arc<Shared>,
    handle: Arc<Handle>,
}

impl std::fmt::Debug for ProcessPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPlugin")
            .field("name", &self.shared.spec.plugin)
            .field("state", &self.shared.life.state())
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

impl ProcessPlugin {
    pub(crate) fn life(&self) -> &Lifecycle {
        &self.shared.life
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.shared.spec.plugin
    }

    /// The current child's process id, when one is running (to observe it;
    /// signals go through the instance).
    pub fn pid(&self) -> Option<u32> {
        *lock(&self.shared.pid)
    }

    /// The verified copy of the executable that runs.
    pub fn program(&self) -> &Path {
        &self.shared.spec.program
    }

    /// The connection of the current child, waiting (until `deadline`)
    /// while one is being restarted.
    async fn connection(
        &self,
        method: &str,
        deadline: tokio::time::Instant,
        timeout: Duration,
        dead: Option<&Arc<Connection>>,
    ) -> Result<Arc<Connection>, CallError> {
        if dead.is_none()
            && let Link::Up(connection) = &*self.shared.link.borrow()
        {
            // The common case, without a receiver (whose drop, as the
            // channel's last, would wake the sender's watchers each call).
            return Ok(Arc::clone(connection));
        }
        let mut link = self.shared.link.subscribe();
        loop {
            match &*link.borrow_and_update() {
                Link::Up(connection) if !dead.is_some_and(|dead| Arc::ptr_eq(dead, connection)) => {
                    return Ok(Arc::clone(connection));
                }
                Link::Down => return Err(self.shared.life.refusal(method)),
                // Restarting, or still the connection found dead (the
                // supervisor has not noticed yet): wait for the next.
                Link::Up(_) | Link::Restarting => {}
            }
            match tokio::time::timeout_at(deadline, link.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(self.shared.life.refusal(method)),
                Err(_) => return Err(self.timeout(method, timeout)),
            }
        }
    }

    fn timeout(&self, method: &str, after: Duration) -> CallError {
        CallError::Timeout {
            plugin: self.name().to_string(),
            method: method.to_string(),
            after,
        }
    }

    fn closed_error(&self, method: &str, closed: Option<Closed>) -> CallError {
        match closed {
            Some(Closed::Crashed(cause)) => CallError::Crashed {
                plugin: self.name().to_string(),
                method: method.to_string(),
                cause,
            },
            Some(Closed::Stopped) => CallError::Abandoned {
                plugin: self.name().to_string(),
                method: method.to_string(),
            },
            None => self.shared.life.refusal(method),
        }
    }

    /// Sends `message` (built for a fresh id) and waits for its reply.
    async fn request<'r>(
        &self,
        method: &str,
        timeout: Duration,
        message: impl FnOnce(u64) -> Request<'r>,
    ) -> Result<Reply, CallError> {
        let _admission = self.shared.life.enter(method)?;
        self.exchange(method, timeout, message).await
    }

    /// The exchange of a request admitted through the gate.
    async fn exchange<'r>(
        &self,
        method: &str,
        timeout: Duration,
        message: impl FnOnce(u64) -> Request<'r>,
    ) -> Result<Reply, CallError> {
        let deadline = tokio::time::Instant::now() + timeout;
        // Only calls with the default timeout may be timed by the
        // connection: their deadlines come in order.
        let default_deadline = (timeout == self.shared.config.call_timeout).then_some(deadline);
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = message(id);
        // A request that cannot be registered or written on a connection
        // that died under it never reached the child: it waits for the
        // restarted child and goes there (within its deadline), like a
        // request made during the restart.
        let mut dead = None;
        let (connection, registered, sent) = loop {
            let connection = self
                .connection(method, deadline, timeout, dead.as_ref())
                .await?;
            if let Ok(registered) = connection.register(id, default_deadline) {
                match connection.send_request(id, &frame, registered.alone) {
                    Some(sent) => break (connection, registered, sent),
                    None => connection.forget(id),
                }
            }
            dead = Some(connection);
        };
        if sent == Sent::Lane {
            connection.take_replies();
        }
        let reply = if registered.timed_here {
            registered.reply.await
        } else {
            match tokio::time::timeout_at(deadline, registered.reply).await {
                Ok(reply) => reply,
                Err(_) => {
                    connection.forget(id);
                    return Err(self.timeout(method, timeout));
                }
            }
        };
        match reply {
            Ok(Reply::Expired) => Err(self.timeout(method, timeout)),
            Ok(reply) => Ok(reply),
            Err(_) => Err(self.closed_error(method, connection.closed())),
        }
    }

    /// A plugin error as a call error; a panic fails the instance and stops
    /// its child (the panic rule, [`FailureCause::Panicked`]).
    fn plugin_error(&self, method: &str, error: PluginError) -> CallError {
        if error.kind() == ErrorKind::Panicked
            && self.shared.life.fail(FailureCause::Panicked {
                method: method.to_string(),
                message: error.message().to_string(),
            })
        {
            let _ = self.handle.commands.send(Order::Stop);
        }
        CallError::Plugin {
            plugin: self.name().to_string(),
            method: method.to_string(),
            error,
        }
    }

    fn unexpected(&self, method: &str) -> CallError {
        CallError::Codec {
            plugin: self.name().to_string(),
            method: method.to_string(),
            message: "the plugin answered with a reply of another kind".to_string(),
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
            .request(method, timeout, |_| Request::Call {
                method,
                payload,
                json: false,
            })
            .await?;
        match reply {
            Reply::Call(result) => result.map_err(|error| self.plugin_error(method, error)),
            _ => Err(self.unexpected(method)),
        }
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
    /// JSON reply.
    pub async fn call_json(
        &self,
        method: &str,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value, CallError> {
        let payload = crate::error::encode_json(self.name(), method, request)?;
        let reply = self
            .request(method, self.shared.config.call_timeout, |_| Request::Call {
                method,
                payload: &payload,
                json: true,
            })
            .await?;
        match reply {
            Reply::Call(result) => {
                let bytes = result.map_err(|error| self.plugin_error(method, error))?;
                crate::error::decode_json(self.name(), method, &bytes)
            }
            _ => Err(self.unexpected(method)),
        }
    }

    /// The plugin's typed methods.
    pub async fn methods(&self) -> Result<Vec<MethodInfo>, CallError> {
        let reply = self
            .request("methods", self.shared.config.call_timeout, |id| {
                Request::Message(ToPlugin::Methods { id })
            })
            .await?;
        match reply {
            Reply::Methods(methods) => Ok(methods),
            _ => Err(self.unexpected("methods")),
        }
    }

    /// The state the plugin hands its successor (passes a paused gate).
    pub async fn export_state(&self) -> Result<Option<State>, CallError> {
        let _admission = self.shared.life.enter_paused("export_state")?;
        let reply = self
            .exchange("export_state", self.shared.config.call_timeout, |id| {
                Request::Message(ToPlugin::ExportState { id })
            })
            .await?;
        match reply {
            Reply::State(result) => {
                result.map_err(|error| self.plugin_error("export_state", error))
            }
            _ => Err(self.unexpected("export_state")),
        }
    }

    /// Hands the plugin its predecessor's state (passes a paused gate).
    pub async fn import_state(&self, state: State) -> Result<(), CallError> {
        let _admission = self.shared.life.enter_paused("import_state")?;
        let reply = self
            .exchange("import_state", self.shared.config.call_timeout, |id| {
                Request::Message(ToPlugin::ImportState { id, state })
            })
            .await?;
        match reply {
            Reply::Call(result) => result
                .map(|_| ())
                .map_err(|error| self.plugin_error("import_state", error)),
            _ => Err(self.unexpected("import_state")),
        }
    }

    /// Asks the child for its health (with the default call timeout).
    pub async fn health(&self) -> Result<Health, CallError> {
        let reply = self
            .request("health", self.shared.config.call_timeout, |id| {
                Request::Message(ToPlugin::Health { id })
            })
            .await?;
        match reply {
            Reply::Health(result) => result.map_err(|error| self.plugin_error("health", error)),
            _ => Err(self.unexpected("health")),
        }
    }

    /// Shuts the plugin down: no new calls, up to `grace` for the calls in
    /// flight, then the child is stopped (`Shutdown`, `SIGTERM`, `SIGKILL`;
    /// calls still in flight then fail with [`CallError::Abandoned`]).
    pub async fn shutdown(&self, grace: Duration) -> ShutdownOutcome {
        if !begin_shutdown(&self.shared.life) {
            return ShutdownOutcome {
                abandoned_calls: 0,
                ended: Ended::AlreadyStopped,
            };
        }
        let drained = self.shared.life.drain(grace).await;
        let abandoned_calls = if drained {
            0
        } else {
            self.shared.life.in_flight()
        };
        let (reply, ended) = oneshot::channel();
        let ended = if self.handle.commands.send(Order::Shutdown(reply)).is_ok() {
            ended.await.unwrap_or(Ended::AlreadyStopped)
        } else {
            Ended::AlreadyStopped
        };
        ShutdownOutcome {
            abandoned_calls,
            ended,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn at(millis: u64) -> tokio::time::Instant {
        // A fixed origin: only the order of deadlines matters here.
        static ORIGIN: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
        *ORIGIN.get_or_init(tokio::time::Instant::now) + Duration::from_millis(millis)
    }

    #[test]
    fn expiries_fail_calls_in_deadline_order_and_skip_answered_ones() {
        let mut expiries = Expiries::default();
        let mut waiting: HashSet<u64> = HashSet::new();
        for (id, deadline) in [(1, 10), (2, 20), (3, 20), (4, 30)] {
            waiting.insert(id);
            assert!(expiries.push(at(deadline), id, |id| waiting.contains(&id), waiting.len()));
        }
        waiting.remove(&2); // answered
        let is_waiting = |id| waiting.contains(&id);
        assert_eq!(expiries.pop_expired(at(5), is_waiting), Err(Some(at(10))));
        assert_eq!(expiries.pop_expired(at(25), is_waiting), Ok(1));
        assert_eq!(
            expiries.pop_expired(at(25), is_waiting),
            Ok(3),
            "2 was answered"
        );
        assert_eq!(expiries.pop_expired(at(25), is_waiting), Err(Some(at(30))));
        assert_eq!(expiries.pop_expired(at(30), is_waiting), Ok(4));
        assert_eq!(expiries.pop_expired(at(99), is_waiting), Err(None));
    }

    #[test]
    fn an_earlier_deadline_than_the_last_is_left_to_a_timer_of_its_own() {
        let mut expiries = Expiries::default();
        assert!(expiries.push(at(20), 1, |_| true, 1));
        assert!(!expiries.push(at(10), 2, |_| true, 2), "out of order");
        assert!(
            expiries.push(at(20), 3, |_| true, 3),
            "an equal deadline keeps the order"
        );
    }

    #[test]
    fn answered_calls_are_compacted_away_so_the_queue_stays_bounded() {
        // One call never answered (a slow call at the front), and a
        // million answered behind it, one in flight at a time.
        let mut expiries = Expiries::default();
        let slow = 0;
        assert!(expiries.push(at(0), slow, |_| true, 1));
        let mut longest = 0;
        for id in 1..1_000_000u64 {
            let waiting = |call| call == slow || call == id;
            assert!(expiries.push(at(1), id, waiting, 2));
            longest = longest.max(expiries.0.len());
        }
        assert!(
            longest <= 2 * 2 + EXPIRIES_SLACK + 1,
            "the queue grew to {longest} entries for 2 calls in flight"
        );
    }
}
