//! What the engine and its watch worker share: the compiled configuration,
//! the event publisher, the error handler and the current state. Its own
//! module so that `engine` (which starts the worker) and `watch` (the
//! worker) both depend on it and not on each other.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use plugin_events::Publisher;

use crate::config::Compiled;
use crate::event::diff;
use crate::select::Selection;
use crate::{Discovery, DiscoveryError, DiscoveryEvent};

pub(crate) type ErrorHandler = dyn Fn(&DiscoveryError) + Send + Sync;

/// What the engine and its worker share.
pub(crate) struct Shared {
    pub(crate) config: Compiled,
    pub(crate) sender: Mutex<Option<Publisher<DiscoveryEvent>>>,
    pub(crate) handler: RwLock<Option<Arc<ErrorHandler>>>,
    pub(crate) current: Mutex<Arc<Discovery>>,
    /// With an etcd source: what each source sees and their merge (the
    /// state events were last sent for), under one lock.
    pub(crate) halves: Mutex<Halves>,
}

/// The two sources' states and their merge.
#[derive(Default)]
pub(crate) struct Halves {
    files: Selection,
    remote: Arc<Discovery>,
    merged: Selection,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Hands an error to the error handler, or logs it when there is none.
    pub(crate) fn report(&self, error: &DiscoveryError) {
        let handler = self
            .handler
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match handler {
            Some(handler) => handler(error),
            None => tracing::warn!(error = %error.to_string_with_causes(), "discovery error"),
        }
    }

    /// Makes `current` the state and sends `events`, under one lock, so a
    /// subscriber that reads [`DiscoveryEngine::current`] sees a state no
    /// older than the events it has received.
    pub(crate) fn publish(&self, events: Vec<DiscoveryEvent>, current: Arc<Discovery>) {
        let sender = lock(&self.sender);
        *lock(&self.current) = current;
        for event in events {
            tracing::debug!(?event, "discovery event");
            if let Some(sender) = sender.as_ref() {
                sender.send(event);
            }
        }
    }

    /// The directories' state went from `old` to `new`: sends the events
    /// of the difference (merged with the etcd source's state when there
    /// is one) and makes the result current.
    pub(crate) fn publish_files(&self, old: &Selection, new: &Selection) {
        if self.config.config.etcd.is_none() {
            self.publish(diff(old, new), Arc::clone(&new.discovery));
            return;
        }
        let mut halves = lock(&self.halves);
        halves.files = new.clone();
        self.publish_merged(&mut halves);
    }

    /// The etcd source's state is now `remote`: sends the events of the
    /// difference to the merged state and makes the result current.
    pub(crate) fn publish_remote(&self, remote: Arc<Discovery>) {
        let mut halves = lock(&self.halves);
        halves.remote = remote;
        self.publish_merged(&mut halves);
    }

    fn publish_merged(&self, halves: &mut Halves) {
        let merged = Selection {
            discovery: Arc::new(crate::remote::merge(
                &halves.files.discovery,
                &halves.remote,
            )),
            artifacts: halves.files.artifacts.clone(),
        };
        let events = diff(&halves.merged, &merged);
        self.publish(events, Arc::clone(&merged.discovery));
        halves.merged = merged;
    }

    /// Sends one event without changing the state.
    pub(crate) fn send(&self, event: DiscoveryEvent) {
        tracing::debug!(?event, "discovery event");
        if let Some(sender) = lock(&self.sender).as_ref() {
            sender.send(event);
        }
    }

    /// Reports the errors of `new` that `old` did not have.
    pub(crate) fn report_new_errors(&self, old: &Discovery, new: &Discovery) {
        if new.errors.is_empty() {
            return;
        }
        let known: std::collections::HashSet<String> = old
            .errors
            .iter()
            .map(|e| e.to_string_with_causes())
            .collect();
        for error in &new.errors {
            if !known.contains(&error.to_string_with_causes()) {
                self.report(error);
            }
        }
    }
}
