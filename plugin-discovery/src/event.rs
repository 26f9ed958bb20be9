//! Discovery events, the subscription that receives them, and the diff of
//! two discoveries that produces them.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use plugin_manifest::Diagnostic;
use plugin_version::Version;
use tokio::sync::broadcast;

use crate::resolve::Resolved;
use crate::{DiscoveredPlugin, SkipReason};

/// A change in what the search directories hold.
///
/// Events describe the difference between two states of the directories,
/// per manifest path: a plugin whose manifest moves to another path is
/// `Removed` at the old path and `Discovered` at the new one.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DiscoveryEvent {
    /// A valid plugin appeared (or started to pass the filters, or stopped
    /// being shadowed by a duplicate).
    Discovered {
        /// The plugin.
        plugin: DiscoveredPlugin,
    },
    /// The manifest of a plugin changed (same path, same name), or its
    /// artifact was rebuilt, replaced, created or deleted.
    Updated {
        /// The plugin as it is now.
        plugin: DiscoveredPlugin,
        /// The version it had before (equal to the current one when only
        /// the artifact or another field changed).
        old_version: Version,
    },
    /// A plugin is gone: its manifest was deleted or moved away, became
    /// invalid, or the plugin no longer passes the filters.
    Removed {
        /// Its name.
        name: String,
        /// Its version.
        version: Version,
        /// Where its manifest was.
        path: PathBuf,
    },
    /// A manifest is invalid (newly, or with different diagnostics).
    ManifestInvalid {
        /// The manifest file.
        path: PathBuf,
        /// Every diagnostic, errors and warnings.
        diagnostics: Vec<Diagnostic>,
    },
    /// A plugin or path is skipped (newly, or for a different reason).
    Skipped {
        /// The manifest file or symlink.
        path: PathBuf,
        /// Why.
        reason: SkipReason,
    },
    /// Something about discovery itself, such as falling back to polling.
    Warning {
        /// What happened, in words.
        message: String,
    },
}

/// The events that turn `old` into `new`: removals first (so a name is
/// free before it comes back), then updates, discoveries, invalid
/// manifests and skips, each group in path order.
pub(crate) fn diff(old: &Resolved, new: &Resolved) -> Vec<DiscoveryEvent> {
    let mut events = Vec::new();
    let old_plugins: HashMap<&PathBuf, &DiscoveredPlugin> = old
        .discovery
        .plugins
        .iter()
        .map(|p| (&p.manifest_path, p))
        .collect();
    let new_plugins: HashMap<&PathBuf, &DiscoveredPlugin> = new
        .discovery
        .plugins
        .iter()
        .map(|p| (&p.manifest_path, p))
        .collect();

    let mut removed: Vec<&DiscoveredPlugin> = old_plugins
        .iter()
        .filter(|(path, plugin)| {
            new_plugins
                .get(*path)
                .is_none_or(|now| now.name() != plugin.name())
        })
        .map(|(_, plugin)| *plugin)
        .collect();
    removed.sort_by(|a, b| a.manifest_path.cmp(&b.manifest_path));
    events.extend(removed.into_iter().map(|p| DiscoveryEvent::Removed {
        name: p.name().to_string(),
        version: p.version().clone(),
        path: p.manifest_path.clone(),
    }));

    let mut updated = Vec::new();
    let mut discovered = Vec::new();
    for plugin in &new.discovery.plugins {
        let path = &plugin.manifest_path;
        match old_plugins.get(path) {
            Some(before) if before.name() == plugin.name() => {
                let changed = before.manifest != plugin.manifest
                    || before.artifact_path != plugin.artifact_path
                    || old.artifacts.get(path) != new.artifacts.get(path);
                if changed {
                    updated.push(DiscoveryEvent::Updated {
                        plugin: plugin.clone(),
                        old_version: before.version().clone(),
                    });
                }
            }
            _ => discovered.push(plugin),
        }
    }
    updated.sort_by(|a, b| event_path(a).cmp(event_path(b)));
    discovered.sort_by(|a, b| a.manifest_path.cmp(&b.manifest_path));
    events.extend(updated);
    events.extend(
        discovered
            .into_iter()
            .map(|plugin| DiscoveryEvent::Discovered {
                plugin: plugin.clone(),
            }),
    );

    let old_invalid: HashMap<&PathBuf, &Vec<Diagnostic>> = old
        .discovery
        .invalid
        .iter()
        .map(|i| (&i.path, &i.diagnostics))
        .collect();
    for invalid in &new.discovery.invalid {
        if old_invalid.get(&invalid.path) != Some(&&invalid.diagnostics) {
            events.push(DiscoveryEvent::ManifestInvalid {
                path: invalid.path.clone(),
                diagnostics: invalid.diagnostics.clone(),
            });
        }
    }

    let old_skipped: HashMap<&PathBuf, &SkipReason> = old
        .discovery
        .skipped
        .iter()
        .map(|s| (&s.path, &s.reason))
        .collect();
    for skipped in &new.discovery.skipped {
        if old_skipped.get(&skipped.path) != Some(&&skipped.reason) {
            events.push(DiscoveryEvent::Skipped {
                path: skipped.path.clone(),
                reason: skipped.reason.clone(),
            });
        }
    }
    events
}

fn event_path(event: &DiscoveryEvent) -> &std::path::Path {
    match event {
        DiscoveryEvent::Discovered { plugin } | DiscoveryEvent::Updated { plugin, .. } => {
            &plugin.manifest_path
        }
        DiscoveryEvent::Removed { path, .. }
        | DiscoveryEvent::ManifestInvalid { path, .. }
        | DiscoveryEvent::Skipped { path, .. } => path,
        DiscoveryEvent::Warning { .. } => std::path::Path::new(""),
    }
}

/// Why [`Subscription::recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// The subscriber fell behind and this many of the oldest events were
    /// dropped for it; the next call returns the oldest event still kept.
    #[error("subscriber lagged behind and missed {0} events")]
    Lagged(u64),
    /// Discovery stopped and every event sent has been received.
    #[error("discovery stopped")]
    Closed,
    /// No event came within the timeout (only from
    /// [`Subscription::recv_timeout`]).
    #[error("no event within the timeout")]
    Timeout,
}

/// One subscriber's view of the event stream, from
/// [`DiscoveryEngine::subscribe`](crate::DiscoveryEngine::subscribe).
///
/// Each subscription has its own buffer of
/// [`DiscoveryConfig::event_capacity`](crate::DiscoveryConfig::event_capacity)
/// events. Discovery never waits for a subscriber: one that falls behind
/// loses the oldest events and learns how many through
/// [`RecvError::Lagged`].
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<DiscoveryEvent>,
}

impl Subscription {
    pub(crate) fn new(receiver: broadcast::Receiver<DiscoveryEvent>) -> Self {
        Subscription { receiver }
    }

    /// Waits for the next event (from async code; any executor).
    pub async fn recv(&mut self) -> Result<DiscoveryEvent, RecvError> {
        self.receiver.recv().await.map_err(|error| match error {
            broadcast::error::RecvError::Lagged(n) => RecvError::Lagged(n),
            broadcast::error::RecvError::Closed => RecvError::Closed,
        })
    }

    /// Blocks the current thread until the next event.
    pub fn blocking_recv(&mut self) -> Result<DiscoveryEvent, RecvError> {
        block_on(self.recv(), None).unwrap_or(Err(RecvError::Timeout))
    }

    /// Blocks the current thread until the next event or until `timeout`
    /// has passed ([`RecvError::Timeout`]).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<DiscoveryEvent, RecvError> {
        let deadline = Instant::now().checked_add(timeout);
        block_on(self.recv(), deadline).unwrap_or(Err(RecvError::Timeout))
    }

    /// The next event if one is waiting, without blocking
    /// ([`RecvError::Timeout`] when none is).
    pub fn try_recv(&mut self) -> Result<DiscoveryEvent, RecvError> {
        self.receiver.try_recv().map_err(|error| match error {
            broadcast::error::TryRecvError::Lagged(n) => RecvError::Lagged(n),
            broadcast::error::TryRecvError::Closed => RecvError::Closed,
            broadcast::error::TryRecvError::Empty => RecvError::Timeout,
        })
    }
}

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread, parking between polls, until it is ready
/// or `deadline` passes (`None`). Needs no runtime, so it also works from
/// plain threads and never panics inside one.
fn block_on<F: Future>(future: F, deadline: Option<Instant>) -> Option<F::Output> {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Some(output);
        }
        match deadline {
            None => thread::park(),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return None;
                }
                thread::park_timeout(deadline - now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lagging_subscription_learns_how_many_it_missed() {
        let (sender, receiver) = broadcast::channel(2);
        let mut subscription = Subscription::new(receiver);
        for i in 0..5 {
            let _ = sender.send(DiscoveryEvent::Warning {
                message: i.to_string(),
            });
        }
        assert_eq!(subscription.try_recv(), Err(RecvError::Lagged(3)));
        let next = subscription.recv_timeout(Duration::from_secs(1));
        assert_eq!(
            next,
            Ok(DiscoveryEvent::Warning {
                message: "3".into()
            })
        );
        let _ = subscription.blocking_recv();
        assert_eq!(
            subscription.recv_timeout(Duration::from_millis(10)),
            Err(RecvError::Timeout)
        );
        drop(sender);
        assert_eq!(subscription.blocking_recv(), Err(RecvError::Closed));
    }

    #[test]
    fn recv_timeout_wakes_when_an_event_is_sent_from_another_thread() {
        let (sender, receiver) = broadcast::channel(4);
        let mut subscription = Subscription::new(receiver);
        let sending = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            let _ = sender.send(DiscoveryEvent::Warning {
                message: "late".into(),
            });
            sender
        });
        let event = subscription.recv_timeout(Duration::from_secs(10));
        assert!(matches!(event, Ok(DiscoveryEvent::Warning { .. })));
        drop(sending.join());
    }
}
