//! [`DiscoveryEngine`]: one configuration, its subscribers and error
//! handler, and (once started) the watch worker.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;

use plugin_events::Publisher;

use crate::config::Compiled;
use crate::event::Subscription;
use crate::remote::RemoteWorker;
use crate::scan::{ReadOptions, scan_roots};
use crate::select::{Selection, select, select_owned};
use crate::shared::{Shared, lock};
use crate::watch::{self, Message};
use crate::{ConfigError, Discovery, DiscoveryConfig, DiscoveryError};

/// The largest event buffer per subscriber (a larger configured capacity is
/// lowered to this; the buffer is allocated up front).
const MAX_EVENT_CAPACITY: usize = 1 << 16;

enum State {
    Idle,
    Starting,
    Running {
        messages: std::sync::mpsc::Sender<Message>,
        worker: JoinHandle<()>,
        remote: Option<RemoteWorker>,
    },
    Stopped,
}

/// Discovery with events: scans the configured directories, keeps watching
/// them (in watch mode) and sends a [`DiscoveryEvent`](crate::DiscoveryEvent) for every change to
/// every subscriber.
///
/// Subscribe before [`start`](Self::start) to receive the first scan as
/// events too (`Discovered` for each plugin found, and so on); subscribe
/// later and read [`current`](Self::current) for the state so far.
/// Dropping the engine stops it.
pub struct DiscoveryEngine {
    shared: Arc<Shared>,
    state: Mutex<State>,
}

impl std::fmt::Debug for DiscoveryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveryEngine")
            .field("config", &self.shared.config.config)
            .finish_non_exhaustive()
    }
}

/// Why [`DiscoveryEngine::start`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The engine was started before (an engine runs once).
    #[error("the discovery engine was already started")]
    AlreadyStarted,
    /// The watch thread (or the etcd source's) could not be created.
    #[error("cannot start the watch thread")]
    Thread(#[source] std::io::Error),
}

impl DiscoveryEngine {
    /// An engine for `config`, not started yet. Fails when a glob or
    /// manifest name of the configuration is invalid.
    pub fn new(config: DiscoveryConfig) -> Result<DiscoveryEngine, ConfigError> {
        let compiled = Compiled::new(config)?;
        let capacity = compiled.config.event_capacity.clamp(1, MAX_EVENT_CAPACITY);
        let sender = Publisher::new(capacity);
        Ok(DiscoveryEngine {
            shared: Arc::new(Shared {
                config: compiled,
                sender: Mutex::new(Some(sender)),
                handler: RwLock::new(None),
                current: Mutex::new(Arc::new(Discovery::default())),
                halves: Mutex::new(Default::default()),
            }),
            state: Mutex::new(State::Idle),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DiscoveryConfig {
        &self.shared.config.config
    }

    /// Sets the function that receives every discovery error (an unreadable
    /// directory or manifest, a symlink loop, a watcher failure), with its
    /// path and its source. Without one, errors are logged through
    /// `tracing`. In watch mode an error is handed over when it first
    /// appears, not again at each rescan. The handler runs on the thread
    /// that found the error: keep it short.
    pub fn set_error_handler<F>(&self, handler: F)
    where
        F: Fn(&DiscoveryError) + Send + Sync + 'static,
    {
        *self
            .shared
            .handler
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(handler));
    }

    /// A new subscription to the events. After [`stop`](Self::stop) it
    /// reports [`RecvError::Closed`](crate::RecvError::Closed) at once.
    pub fn subscribe(&self) -> Subscription {
        match lock(&self.shared.sender).as_ref() {
            Some(sender) => sender.subscribe(),
            None => Subscription::closed(),
        }
    }

    /// Scans once (and lists the etcd source once, when there is one) and
    /// returns what it found, without events; errors (an etcd cluster that
    /// does not answer within its `connect_timeout` included) are in
    /// [`Discovery::errors`] and also go to the error handler. Works
    /// whether or not the engine is started, from any thread (the etcd
    /// client runs on a thread of its own, so an async caller's runtime is
    /// not touched).
    pub fn discover(&self) -> Discovery {
        let entries = scan_roots(&self.shared.config, ReadOptions::default());
        let selection = select_owned(&self.shared.config, entries);
        let discovery = match crate::remote::list_once(&self.shared.config) {
            None => Arc::unwrap_or_clone(selection.discovery),
            Some(Ok(remote)) => crate::remote::merge(&selection.discovery, &remote),
            Some(Err(error)) => {
                let mut discovery = Arc::unwrap_or_clone(selection.discovery);
                discovery.errors.push(error);
                discovery
            }
        };
        for error in &discovery.errors {
            self.shared.report(error);
        }
        discovery
    }

    /// The state as of the last event sent (empty before
    /// [`start`](Self::start)).
    pub fn current(&self) -> Arc<Discovery> {
        lock(&self.shared.current).clone()
    }

    /// Starts discovery: sets up the watcher (in watch mode, so nothing
    /// that changes during the first scan is missed), scans, and sends the
    /// first scan's events; then, with an etcd source, lists it and sends
    /// its events (waiting for the listing at most about twice its
    /// `connect_timeout`: a cluster that does not answer is reported and
    /// tried again in the background). In watch mode threads then keep
    /// watching until [`stop`](Self::stop); otherwise the event stream
    /// ends here.
    pub fn start(&self) -> Result<(), StartError> {
        {
            let mut state = lock(&self.state);
            if !matches!(*state, State::Idle) {
                return Err(StartError::AlreadyStarted);
            }
            // Not holding the lock from here: an error handler may call `stop`.
            *state = State::Starting;
        }
        let shared = &self.shared;
        let watching = shared.config.config.watch;
        let (messages, inbox) = std::sync::mpsc::channel();
        let backend = watching.then(|| watch::start_backend(shared, messages.clone()));

        let options = ReadOptions {
            stamp_artifacts: watching,
        };
        let entries = scan_roots(&shared.config, options);
        let selection = select(&shared.config, &entries);
        shared.report_new_errors(&Discovery::default(), &selection.discovery);
        shared.publish_files(&Selection::default(), &selection);

        let Some(backend) = backend else {
            if let Some(result) = crate::remote::list_once(&shared.config) {
                match result {
                    Ok(remote) => shared.publish_remote(Arc::new(remote)),
                    Err(error) => shared.report(&error),
                }
            }
            self.stop();
            return Ok(());
        };
        let remote = match crate::remote::start(shared) {
            Ok(remote) => remote,
            Err(error) => {
                self.stop();
                return Err(error);
            }
        };
        let worker = watch::Worker::new(Arc::clone(shared), inbox, backend, entries, selection);
        let spawned = std::thread::Builder::new()
            .name("plugkit-discovery".into())
            .spawn(move || worker.run());
        let handle = match spawned {
            Ok(handle) => handle,
            Err(error) => {
                if let Some(remote) = remote {
                    remote.stop();
                }
                self.stop();
                return Err(StartError::Thread(error));
            }
        };
        let mut state = lock(&self.state);
        if matches!(*state, State::Stopped) {
            // Stopped while starting.
            drop(state);
            let _ = messages.send(Message::Shutdown);
            let _ = handle.join();
            if let Some(remote) = remote {
                remote.stop();
            }
            return Ok(());
        }
        *state = State::Running {
            messages,
            worker: handle,
            remote,
        };
        Ok(())
    }

    /// Stops watching and ends the event stream: subscribers receive the
    /// events already sent, then [`RecvError::Closed`](crate::RecvError::Closed).
    /// Idempotent.
    pub fn stop(&self) {
        let state = std::mem::replace(&mut *lock(&self.state), State::Stopped);
        if let State::Running {
            messages,
            worker,
            remote,
        } = state
        {
            if let Some(remote) = remote {
                remote.stop();
            }
            let _ = messages.send(Message::Shutdown);
            // From the worker itself (an error handler calling `stop`), the
            // worker ends once the handler returns; waiting would deadlock.
            if worker.thread().id() != std::thread::current().id() {
                let _ = worker.join();
            }
        }
        lock(&self.shared.sender).take();
    }
}

#[cfg(test)]
impl DiscoveryEngine {
    pub(crate) fn shared_for_tests(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }
}

impl Drop for DiscoveryEngine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Scans the configured directories once: the convenience form of
/// [`DiscoveryEngine::discover`]. Errors are in [`Discovery::errors`] (and
/// logged through `tracing`).
pub fn discover(config: &DiscoveryConfig) -> Result<Discovery, ConfigError> {
    Ok(DiscoveryEngine::new(config.clone())?.discover())
}
