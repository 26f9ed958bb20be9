//! The plugin side of the process transport: [`serve`] runs a [`Plugin`] as
//! a child process speaking the [`protocol`](crate::protocol) over stdio.
//!
//! Threads, no async runtime: the main thread reads frames from stdin and
//! hands calls to a pool of workers that grows whenever every worker is busy
//! (calls in flight run concurrently, which is why plugins are `Sync`, and a
//! slow call never holds up the others). When the host offers the
//! [call lane](crate::protocol#the-call-lane-protocol-4), one more thread
//! reads it and runs each call it brings itself: the host sends a call
//! there only when the lane's previous call is answered, so one call at a
//! time costs no hand-off at all. A worker writes its reply itself
//! unless another is writing, in which case the writer sends it with its own
//! in one write: no extra thread hop when idle (each hop is a context switch
//! on a loaded machine). Under load (other calls wait for a worker) a
//! worker leaves its reply to a writer thread instead, and the worker that
//! answers the last waiting call writes what has gathered: coalesced writes
//! (one write per reply caps a pipe at a few hundred thousand messages a
//! second), and a slow call holds up no reply left before it.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::plugin::{ErrorKind, InitContext, Logger, Plugin, PluginError, Response};
use crate::protocol::{self, FromPlugin, ToPlugin};

/// Work for the pool.
enum Job {
    /// A call's frame, decoded (borrowing from it) by the worker.
    Call(Vec<u8>),
    Health {
        id: u64,
    },
}

/// Runs `plugin` as a process plugin until the host says shut down (or goes
/// away); returns the process's exit code. A plugin's `main` is one line:
///
/// ```no_run
/// # use plugkit_sdk::{Plugin, PluginError, PluginInfo, Response, Version};
/// # #[derive(Default)] struct Greeter;
/// # impl Plugin for Greeter {
/// #     fn info(&self) -> PluginInfo { PluginInfo::new("greeter", Version::new(1, 0, 0)) }
/// #     fn call(&self, _: &str, _: &[u8], _: &mut Response<'_>) -> Result<(), PluginError> { Ok(()) }
/// # }
/// fn main() -> std::process::ExitCode {
///     plugkit_sdk::serve(Greeter::default())
/// }
/// ```
///
/// Started with `--grpc-listen HOST:PORT` (and the other `--grpc-*`
/// flags), the same `main` serves the plugin over gRPC instead, when the
/// SDK's `grpc` feature is on (see [`grpc`](crate#grpc)); built without
/// it, the binary answers those flags with an error and exit status 2.
///
/// Exit codes: 0 after a clean shutdown, 1 when `init` failed, 2 on a
/// protocol, usage or IO error.
pub fn serve<P: Plugin>(plugin: P) -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    if args.iter().any(|arg| arg.starts_with("--grpc-")) {
        return serve_grpc_args(plugin, &args);
    }
    match session(plugin, io::stdin().lock(), io::stdout(), call_lane()) {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(io::stderr(), "[error] plugkit process plugin: {error}");
            ExitCode::from(2)
        }
    }
}

/// `--grpc-listen` and friends: serve over gRPC instead of stdio.
#[cfg(feature = "grpc")]
fn serve_grpc_args<P: Plugin>(plugin: P, args: &[String]) -> ExitCode {
    match crate::grpc::GrpcArgs::parse(args) {
        Ok(args) => crate::grpc::serve_binary(plugin, args),
        Err(error) => {
            let _ = writeln!(io::stderr(), "[error] plugkit gRPC plugin: {error}");
            ExitCode::from(2)
        }
    }
}

/// `--grpc-*` in a plugin built without the `grpc` feature: a clear no.
#[cfg(not(feature = "grpc"))]
fn serve_grpc_args<P: Plugin>(plugin: P, args: &[String]) -> ExitCode {
    let flag = args
        .iter()
        .find(|arg| arg.starts_with("--grpc-"))
        .map(String::as_str)
        .unwrap_or("--grpc-listen");
    let _ = writeln!(
        io::stderr(),
        "[error] plugkit process plugin: {} was built without plugkit-sdk's `grpc` feature, so it cannot serve over gRPC ({flag:?}); rebuild it with `plugkit-sdk = {{ features = [\"grpc\"] }}`, or start it with no argument to serve over stdio",
        plugin.info().name
    );
    ExitCode::from(2)
}

/// The call lane the host offers, if it offers one that is open: the
/// inherited read end of a pipe, named in the environment.
#[cfg(unix)]
fn call_lane() -> Option<std::fs::File> {
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::FileTypeExt;
    let fd: i32 = std::env::var(protocol::CALL_LANE_ENV).ok()?.parse().ok()?;
    if fd <= 2 {
        return None;
    }
    #[allow(unsafe_code)]
    // SAFETY: the host passed this descriptor to this process for it to
    // own. It is checked to be an open pipe before it is used; anything
    // else (a stray variable) is given up without being closed.
    let lane = unsafe { std::fs::File::from_raw_fd(fd) };
    match lane.metadata() {
        // A copy that closes on exec (what `try_clone` makes), so that the
        // plugin's own children do not inherit the lane.
        Ok(metadata) if metadata.file_type().is_fifo() => Some(lane.try_clone().unwrap_or(lane)),
        _ => {
            std::mem::forget(lane);
            None
        }
    }
}

/// No call lane where there are no inherited pipes to name.
#[cfg(not(unix))]
fn call_lane() -> Option<std::fs::File> {
    None
}

/// [`serve`] over any reader and writer (tests drive it in memory).
pub fn run<P: Plugin>(
    plugin: P,
    input: impl Read,
    output: impl Write + Send,
) -> io::Result<ExitCode> {
    session(plugin, input, output, None::<io::Empty>)
}

/// One session with a host, with the call lane when there is one.
fn session<P: Plugin>(
    mut plugin: P,
    input: impl Read,
    output: impl Write + Send,
    lane: Option<impl Read + Send>,
) -> io::Result<ExitCode> {
    let mut input = BufReader::new(input);
    let mut output = BufWriter::new(output);
    let info = plugin.info();
    output.write_all(&protocol::MAGIC)?;
    protocol::write_frame(
        &mut output,
        &FromPlugin::Hello {
            // Protocol 4 is protocol 3 with the call lane read.
            protocol: if lane.is_some() {
                protocol::CALL_LANE_PROTOCOL
            } else {
                protocol::CALL_LANE_PROTOCOL - 1
            },
            name: info.name.clone(),
            version: info.version.to_string(),
            capabilities: info.capabilities.clone(),
            sdk_version: crate::SDK_VERSION.to_string(),
            encoding: crate::ENCODING.to_string(),
            state_format: info.state_format.clone(),
        },
    )?;
    let Some(ToPlugin::Init { config_json }) =
        protocol::read_frame(&mut input, protocol::DEFAULT_MAX_FRAME)?
    else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "expected Init after Hello",
        ));
    };
    // Log lines go to stderr, which the host forwards to its log.
    let logger = Logger::stderr(info.name.clone());
    let init = catch_unwind(AssertUnwindSafe(|| {
        plugin.init(&InitContext::new(&config_json, logger))
    }))
    .unwrap_or_else(|payload| Err(panicked("init", payload.as_ref())));
    if let Err(error) = init {
        protocol::write_frame(&mut output, &FromPlugin::InitFailed { error })?;
        return Ok(ExitCode::from(1));
    }
    protocol::write_frame(&mut output, &FromPlugin::Ready)?;

    let plugin = &plugin;
    let outbox = &Outbox::new(output);
    let has_lane = lane.is_some();
    std::thread::scope(|scope| {
        if let Some(lane) = lane {
            let reader = std::thread::Builder::new()
                .name(protocol::CALL_LANE_THREAD.into())
                .spawn_scoped(scope, move || {
                    if let Err(error) = read_lane(lane, plugin, outbox) {
                        fatal(&format!("call lane: {error}"));
                    }
                });
            if let Err(error) = reader {
                // The hello promised the lane is read.
                fatal(&format!("cannot start the call lane's reader: {error}"));
            }
        }
        let writer = std::thread::Builder::new()
            .name("plugkit-writer".into())
            .spawn_scoped(scope, || outbox.write_owed());
        if let Err(error) = writer {
            fatal(&format!("cannot start the reply writer: {error}"));
        }
        let mut workers = Vec::new();
        let (job_tx, job_rx) = crossbeam_channel::unbounded::<Job>();
        let pool = Pool {
            jobs: job_rx,
            idle: Arc::new(AtomicUsize::new(0)),
            queued: Arc::new(AtomicUsize::new(0)),
            workers: AtomicUsize::new(0),
        };
        let read = read_jobs(&mut input, outbox, plugin, |job| {
            // A call never waits for a worker: one more is started when all
            // are busy (up to MAX_WORKERS), so a slow call cannot starve the
            // others of a multiplexed connection.
            let queued = pool.queued.fetch_add(1, Ordering::AcqRel) + 1;
            if pool.idle.load(Ordering::Acquire) < queued
                && pool.workers.load(Ordering::Acquire) < MAX_WORKERS
            {
                pool.workers.fetch_add(1, Ordering::AcqRel);
                let (jobs, idle, queued) = (
                    pool.jobs.clone(),
                    Arc::clone(&pool.idle),
                    Arc::clone(&pool.queued),
                );
                workers.push(scope.spawn(move || work(plugin, &jobs, &idle, &queued, outbox)));
            }
            job_tx.send(job).is_ok()
        });
        drop(job_tx); // workers finish the calls in flight, then stop
        for worker in workers {
            let _ = worker.join(); // calls catch their panics
        }
        // Whatever the workers left for the writer is written before the
        // `Bye` below.
        outbox.close_writer();
        if let (Err(error), true) = (&read, has_lane) {
            // The lane's reader ends only when the host closes the lane,
            // which it does not know to do: exit as `serve` would.
            fatal(&error.to_string());
        }
        read
    })?;
    let shutdown = catch_unwind(AssertUnwindSafe(|| plugin.shutdown()));
    outbox.send(&FromPlugin::Bye)?;
    Ok(if shutdown.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Where replies go. The worker that finishes a reply writes it itself,
/// unless another is writing already: then it leaves its frame in the queue
/// and the writer sends the whole queue in its next write. Idle, a reply
/// costs no hand-off to another thread; busy, replies are coalesced.
///
/// Under load a worker does not write at all: when more calls wait for a
/// worker, it leaves its reply in the queue and, if nobody was asked yet,
/// wakes the writer thread ([`write_owed`](Self::write_owed)); the worker
/// that answers the last waiting call writes everything itself. Without
/// this, on one CPU (where no two workers ever write at once) every reply
/// was a write of its own: a system call and a wake-up of the host's reader
/// each. The writer thread is what keeps a slow call from holding up the
/// replies left before it: it writes them while that call runs.
struct Outbox<W> {
    state: Mutex<OutboxState<W>>,
    /// Wakes the writer thread: frames are owed, or it is to stop.
    owed: std::sync::Condvar,
}

struct OutboxState<W> {
    queue: Vec<u8>,
    /// The buffer the writer swaps with the queue (each keeps its allocation).
    spare: Vec<u8>,
    /// The output, unless a worker is writing with it right now.
    output: Option<W>,
    /// The first write error; every later send reports it.
    failed: Option<io::ErrorKind>,
    /// Frames in the queue were left to the writer thread.
    owed: bool,
    /// The writer thread writes what is owed and stops.
    closing: bool,
}

impl<W: Write> Outbox<W> {
    fn new(output: W) -> Self {
        Outbox {
            state: Mutex::new(OutboxState {
                queue: Vec::new(),
                spare: Vec::new(),
                output: Some(output),
                failed: None,
                owed: false,
                closing: false,
            }),
            owed: std::sync::Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutboxState<W>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn send(&self, message: &FromPlugin) -> io::Result<()> {
        self.send_frame(|queue| protocol::encode_frame(message, queue), false)
    }

    /// Sends a call's reply, encoded from the borrowed response.
    /// `more`: other calls wait for a worker, so the reply may be left to
    /// the writer thread.
    fn reply(&self, id: u64, result: Result<&[u8], &PluginError>, more: bool) -> io::Result<()> {
        self.send_frame(|queue| protocol::encode_reply(id, result, queue), more)
    }

    /// Appends a frame, then writes the queue, unless someone is writing
    /// (they send it too) or `more` leaves it to the writer thread.
    fn send_frame(
        &self,
        encode: impl FnOnce(&mut Vec<u8>) -> io::Result<()>,
        more: bool,
    ) -> io::Result<()> {
        let mut state = self.lock();
        if let Some(kind) = state.failed {
            return Err(io::Error::new(kind, "the host's pipe is broken"));
        }
        encode(&mut state.queue)?;
        if more && !state.closing {
            if !std::mem::replace(&mut state.owed, true) {
                drop(state);
                self.owed.notify_one();
            }
            return Ok(());
        }
        // Someone else is writing: they will send our frame too.
        let Some(output) = state.output.take() else {
            return Ok(());
        };
        self.write_queue(state, output).1
    }

    /// The writer thread: writes what workers left to it, until
    /// [`close_writer`](Self::close_writer) (then what is still owed).
    fn write_owed(&self) {
        let mut state = self.lock();
        loop {
            while !state.owed && !state.closing {
                state = self
                    .owed
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if !std::mem::take(&mut state.owed) {
                return; // closing, and nothing owed
            }
            // Someone else is writing: they send the queue.
            if let Some(output) = state.output.take() {
                state = self.write_queue(state, output).0;
            }
        }
    }

    /// Stops the writer thread once it has written what is owed.
    fn close_writer(&self) {
        self.lock().closing = true;
        self.owed.notify_one();
    }

    /// Writes the queue with `output` (taken out of `state`, so others only
    /// append meanwhile) until it is empty, then puts `output` back.
    fn write_queue<'a>(
        &'a self,
        mut state: std::sync::MutexGuard<'a, OutboxState<W>>,
        mut output: W,
    ) -> (std::sync::MutexGuard<'a, OutboxState<W>>, io::Result<()>) {
        let mut batch = std::mem::take(&mut state.spare);
        loop {
            std::mem::swap(&mut batch, &mut state.queue);
            drop(state);
            let written = output.write_all(&batch).and_then(|()| output.flush());
            batch.clear();
            // One large reply does not keep its memory for good.
            batch.shrink_to(1 << 20);
            state = self.lock();
            if let Err(error) = written {
                state.failed = Some(error.kind());
                state.output = Some(output);
                state.spare = batch;
                return (state, Err(error));
            }
            if state.queue.is_empty() {
                state.output = Some(output);
                state.spare = batch;
                return (state, Ok(()));
            }
        }
    }
}

/// A protocol or IO error that ends the process (exit status 2) without
/// waiting for the call lane's reader, which only the host can end.
fn fatal(error: &str) -> ! {
    let _ = writeln!(io::stderr(), "[error] plugkit process plugin: {error}");
    std::process::exit(2)
}

/// Reads the call lane until the host closes it, running each call on this
/// thread (the host sends one at a time, see the protocol).
fn read_lane<P: Plugin, W: Write>(
    lane: impl Read,
    plugin: &P,
    outbox: &Outbox<W>,
) -> io::Result<()> {
    let mut lane = BufReader::new(lane);
    let (mut frame, mut buffer) = (Vec::new(), Vec::new());
    while protocol::read_frame_into(&mut lane, protocol::DEFAULT_MAX_FRAME, &mut frame)? {
        let Some(call) = protocol::CallRef::decode(&frame)? else {
            let message: ToPlugin = protocol::decode_message(&frame)?;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("only calls travel on the call lane, not {message:?}"),
            ));
        };
        // One call at a time travels on the lane: nothing waits behind it.
        if run_call(plugin, call, outbox, &mut buffer, || false).is_err() {
            break; // the host is gone
        }
    }
    Ok(())
}

/// Runs one call (panics caught) and sends its reply.
fn run_call<P: Plugin, W: Write>(
    plugin: &P,
    call: protocol::CallRef<'_>,
    outbox: &Outbox<W>,
    buffer: &mut Vec<u8>,
    more: impl FnOnce() -> bool,
) -> io::Result<()> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let response = &mut Response::new(buffer);
        if call.json {
            let methods = plugin
                .methods()
                .ok_or_else(crate::export::no_typed_methods)?;
            methods.dispatch_json(plugin, call.method, call.payload, response)
        } else {
            plugin.call(call.method, call.payload, response)
        }
    }))
    .unwrap_or_else(|panic| Err(panicked(call.method, panic.as_ref())));
    outbox.reply(call.id, result.as_ref().map(|()| buffer.as_slice()), more())
}

/// The most calls a process plugin runs at once; more wait in the queue.
const MAX_WORKERS: usize = 256;

/// Workers grow with demand (whenever fewer are idle than jobs are
/// queued) and stay for reuse. Each worker waits on its own clone of the
/// receiver, and a job wakes one of them: with one `std` receiver shared
/// behind a mutex, every job woke two (the worker in `recv`, then the one
/// queued on the mutex), two of the five context switches of a round trip.
struct Pool {
    jobs: crossbeam_channel::Receiver<Job>,
    /// Workers waiting for a job.
    idle: Arc<AtomicUsize>,
    /// Jobs sent and not yet taken.
    queued: Arc<AtomicUsize>,
    workers: AtomicUsize,
}

/// Reads calls until `Shutdown` or the end of stdin (the host went away).
/// Method listings are answered here (they run no plugin code that could
/// be slow); everything else goes to the pool.
fn read_jobs<P: Plugin, W: Write>(
    input: &mut impl Read,
    outbox: &Outbox<W>,
    plugin: &P,
    mut dispatch: impl FnMut(Job) -> bool,
) -> io::Result<()> {
    let mut frame = Vec::new();
    while protocol::read_frame_into(input, protocol::DEFAULT_MAX_FRAME, &mut frame)? {
        if protocol::CallRef::decode(&frame)?.is_some() {
            // The worker decodes it again, borrowing: no copy of the
            // method or payload.
            if !dispatch(Job::Call(std::mem::take(&mut frame))) {
                break;
            }
            continue;
        }
        let job = match protocol::decode_message::<ToPlugin>(&frame)? {
            ToPlugin::Health { id } => Job::Health { id },
            // State moves while no call runs (the host sees to that), so
            // these are answered here, in order, like method listings.
            ToPlugin::ExportState { id } => {
                let result = catch_unwind(AssertUnwindSafe(|| plugin.export_state()))
                    .unwrap_or_else(|panic| Err(panicked("export_state", panic.as_ref())));
                outbox.send(&FromPlugin::State { id, result })?;
                continue;
            }
            ToPlugin::ImportState { id, state } => {
                let result = catch_unwind(AssertUnwindSafe(|| plugin.import_state(state)))
                    .unwrap_or_else(|panic| Err(panicked("import_state", panic.as_ref())));
                outbox.send(&FromPlugin::Reply {
                    id,
                    result: result.map(|()| Vec::new()),
                })?;
                continue;
            }
            ToPlugin::Methods { id } => {
                let methods = plugin
                    .methods()
                    .map(|methods| methods.infos().cloned().collect())
                    .unwrap_or_default();
                outbox.send(&FromPlugin::Methods { id, methods })?;
                continue;
            }
            ToPlugin::Shutdown => return Ok(()),
            ToPlugin::Init { .. } => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "Init sent twice",
                ));
            }
            // Calls were taken above.
            ToPlugin::Call { .. } | ToPlugin::CallJson { .. } => continue,
        };
        if !dispatch(job) {
            break;
        }
    }
    Ok(())
}

fn work<P: Plugin, W: Write>(
    plugin: &P,
    jobs: &crossbeam_channel::Receiver<Job>,
    idle: &AtomicUsize,
    queued: &AtomicUsize,
    outbox: &Outbox<W>,
) {
    let mut buffer = Vec::new();
    loop {
        idle.fetch_add(1, Ordering::AcqRel);
        let job = jobs.recv();
        idle.fetch_sub(1, Ordering::AcqRel);
        let Ok(job) = job else { return };
        queued.fetch_sub(1, Ordering::AcqRel);
        let sent = match job {
            Job::Call(frame) => match protocol::CallRef::decode(&frame) {
                Ok(Some(call)) => run_call(plugin, call, outbox, &mut buffer, || {
                    queued.load(Ordering::Acquire) > 0
                }),
                // The reader decoded this frame as a call already.
                Ok(None) | Err(_) => Ok(()),
            },
            Job::Health { id } => {
                let health = catch_unwind(AssertUnwindSafe(|| plugin.health()))
                    .map_err(|panic| panicked("health", panic.as_ref()));
                outbox.send(&FromPlugin::Health { id, health })
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

pub(crate) fn panicked(what: &str, payload: &(dyn std::any::Any + Send)) -> PluginError {
    let message = crate::export::panic_message(payload);
    PluginError::new(
        ErrorKind::Panicked,
        format!("panicked in {what}: {message}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PluginInfo, Version};

    struct Echo;

    impl Plugin for Echo {
        fn info(&self) -> PluginInfo {
            PluginInfo::new("echo", Version::new(1, 0, 0))
        }

        fn call(
            &self,
            _method: &str,
            request: &[u8],
            response: &mut Response<'_>,
        ) -> Result<(), PluginError> {
            response.extend_from_slice(request);
            Ok(())
        }
    }

    fn frames(messages: &[ToPlugin]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for message in messages {
            protocol::encode_frame(message, &mut bytes).expect("encodes");
        }
        bytes
    }

    fn replies(outbox: Outbox<Vec<u8>>) -> Vec<FromPlugin> {
        let written = outbox.lock().output.take().expect("output");
        let mut reader = written.as_slice();
        std::iter::from_fn(|| {
            protocol::read_frame(&mut reader, protocol::DEFAULT_MAX_FRAME).expect("a frame")
        })
        .collect()
    }

    #[test]
    fn the_call_lane_runs_each_call_and_ends_when_the_host_closes_it() {
        let call = |id| ToPlugin::Call {
            id,
            method: "echo".into(),
            payload: vec![id as u8],
        };
        let outbox = Outbox::new(Vec::new());
        read_lane(frames(&[call(1), call(2)]).as_slice(), &Echo, &outbox).expect("ends at EOF");
        assert_eq!(
            replies(outbox),
            [
                FromPlugin::Reply {
                    id: 1,
                    result: Ok(vec![1])
                },
                FromPlugin::Reply {
                    id: 2,
                    result: Ok(vec![2])
                }
            ]
        );
    }

    #[test]
    fn anything_but_a_call_on_the_lane_is_a_protocol_error() {
        for message in [ToPlugin::Health { id: 1 }, ToPlugin::Shutdown] {
            let outbox = Outbox::new(Vec::new());
            let error =
                read_lane(frames(&[message]).as_slice(), &Echo, &outbox).expect_err("refused");
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            assert!(
                error
                    .to_string()
                    .starts_with("only calls travel on the call lane"),
                "{error}"
            );
        }
        // A frame cut short (a host gone mid-write) is an error, not a call.
        let mut cut = frames(&[ToPlugin::Health { id: 1 }]);
        cut.pop();
        let outbox = Outbox::new(Vec::new());
        assert!(read_lane(cut.as_slice(), &Echo, &outbox).is_err());
    }

    /// A writer that hands each write to the test as it happens.
    struct Writes(std::sync::mpsc::Sender<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let _ = self.0.send(bytes.to_vec());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn reply_ids(mut bytes: &[u8]) -> Vec<u64> {
        std::iter::from_fn(|| {
            protocol::read_frame::<FromPlugin>(&mut bytes, protocol::DEFAULT_MAX_FRAME)
                .expect("a frame")
        })
        .map(|reply| match reply {
            FromPlugin::Reply { id, .. } => id,
            other => panic!("not a reply: {other:?}"),
        })
        .collect()
    }

    /// A reply left for the writer thread (more calls were waiting) is
    /// written by it, with no other call finishing: a slow call that a
    /// worker takes next holds up no reply it left behind.
    #[test]
    fn replies_left_to_the_writer_thread_are_written_without_another_call() {
        let (tx, writes) = std::sync::mpsc::channel();
        let outbox = Outbox::new(Writes(tx));
        std::thread::scope(|scope| {
            let writer = scope.spawn(|| outbox.write_owed());
            outbox.reply(1, Ok(b"one"), true).expect("left");
            outbox.reply(2, Ok(b"two"), true).expect("left");
            let mut written = Vec::new();
            while reply_ids(&written).len() < 2 {
                written.extend(writes.recv().expect("the writer writes them"));
            }
            assert_eq!(reply_ids(&written), [1, 2]);
            // The last waiting call's reply is written by its worker, and
            // the writer stops once closed.
            outbox.reply(3, Ok(b"three"), false).expect("written");
            assert_eq!(reply_ids(&writes.recv().expect("written")), [3]);
            outbox.close_writer();
            writer.join().expect("the writer stops");
        });
    }

    /// What is still owed when the workers are done is written before the
    /// writer thread stops (and so before the session's `Bye`).
    #[test]
    fn closing_the_writer_writes_what_is_owed_first() {
        let (tx, writes) = std::sync::mpsc::channel();
        let outbox = Outbox::new(Writes(tx));
        {
            let mut state = outbox.lock();
            protocol::encode_reply(7, Ok(b"late"), &mut state.queue).expect("encodes");
            state.owed = true;
        }
        outbox.close_writer();
        outbox.write_owed(); // returns only once nothing is owed
        assert_eq!(reply_ids(&writes.recv().expect("written")), [7]);
    }
}
