//! One event stream type for every plugkit crate that reports events:
//! discovery (plugins found, updated, removed), the loader (an instance
//! restarting, failing, stopping) and the host (hot loads, swaps,
//! rollbacks).
//!
//! A [`Publisher`] sends to any number of [`Subscription`]s. The publisher
//! never waits for a subscriber: each subscription has its own buffer, and
//! one that falls behind loses the oldest events and learns how many
//! through [`RecvError::Lagged`]. A subscription is received from async
//! code on any executor ([`Subscription::recv`]) or from plain threads
//! ([`Subscription::blocking_recv`], [`Subscription::recv_timeout`]).
//!
//! ```
//! use plugin_events::{Publisher, RecvError};
//!
//! let publisher = Publisher::new(16);
//! let mut first = publisher.subscribe();
//! let mut second = publisher.subscribe();
//! publisher.send("loaded");
//! assert_eq!(first.blocking_recv(), Ok("loaded"));
//! assert_eq!(second.try_recv(), Ok("loaded"));
//! drop(publisher);
//! assert_eq!(first.blocking_recv(), Err(RecvError::Closed));
//! ```
//!
//! # Design
//!
//! The channel underneath is `tokio::sync::broadcast` (only its `sync`
//! part, no runtime), but no tokio type appears in this crate's API, so the
//! crates above can change the channel without changing theirs. The crate
//! sits at the bottom of the workspace beside `plugin-version`: it depends
//! on no crate of ours.
#![deny(missing_docs)]

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

/// Why a [`Subscription`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// The subscriber fell behind and this many of the oldest events were
    /// dropped for it; the next call returns the oldest event still kept.
    #[error("subscriber lagged behind and missed {0} events")]
    Lagged(u64),
    /// The publisher is gone and every event it sent has been received.
    #[error("the event stream ended")]
    Closed,
    /// No event came within the timeout ([`Subscription::recv_timeout`]),
    /// or none was waiting ([`Subscription::try_recv`]).
    #[error("no event within the timeout")]
    Timeout,
}

/// The sending side of an event stream. Cheap to clone; every clone sends
/// to the same subscribers. The stream ends for the subscribers when the
/// last clone is dropped.
pub struct Publisher<E> {
    sender: broadcast::Sender<E>,
}

impl<E> Clone for Publisher<E> {
    fn clone(&self) -> Self {
        Publisher {
            sender: self.sender.clone(),
        }
    }
}

impl<E> fmt::Debug for Publisher<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("subscribers", &self.sender.receiver_count())
            .finish()
    }
}

impl<E: Clone> Publisher<E> {
    /// A publisher whose subscriptions each buffer up to `capacity` events
    /// (at least 1).
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Publisher { sender }
    }

    /// Sends `event` to every current subscription, without waiting;
    /// returns how many there were (none is not an error).
    pub fn send(&self, event: E) -> usize {
        self.sender.send(event).unwrap_or(0)
    }

    /// A new subscription, receiving the events sent from now on.
    pub fn subscribe(&self) -> Subscription<E> {
        Subscription {
            receiver: self.sender.subscribe(),
        }
    }

    /// How many subscriptions are alive.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// One subscriber's view of an event stream, from [`Publisher::subscribe`].
pub struct Subscription<E> {
    receiver: broadcast::Receiver<E>,
}

impl<E> fmt::Debug for Subscription<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("waiting", &self.receiver.len())
            .finish()
    }
}

impl<E: Clone> Subscription<E> {
    /// A subscription that has already ended: every receive returns
    /// [`RecvError::Closed`] (for sources that never publish, such as a
    /// discovery engine that was never started).
    pub fn closed() -> Self {
        let (_, receiver) = broadcast::channel(1);
        Subscription { receiver }
    }

    /// Waits for the next event (from async code; any executor).
    pub async fn recv(&mut self) -> Result<E, RecvError> {
        self.receiver.recv().await.map_err(|error| match error {
            broadcast::error::RecvError::Lagged(n) => RecvError::Lagged(n),
            broadcast::error::RecvError::Closed => RecvError::Closed,
        })
    }

    /// Blocks the current thread until the next event.
    pub fn blocking_recv(&mut self) -> Result<E, RecvError> {
        block_on(self.recv(), None).unwrap_or(Err(RecvError::Timeout))
    }

    /// Blocks the current thread until the next event or until `timeout`
    /// has passed ([`RecvError::Timeout`]).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<E, RecvError> {
        let deadline = Instant::now().checked_add(timeout);
        block_on(self.recv(), deadline).unwrap_or(Err(RecvError::Timeout))
    }

    /// The next event if one is waiting, without blocking
    /// ([`RecvError::Timeout`] when none is).
    pub fn try_recv(&mut self) -> Result<E, RecvError> {
        self.receiver.try_recv().map_err(|error| match error {
            broadcast::error::TryRecvError::Lagged(n) => RecvError::Lagged(n),
            broadcast::error::TryRecvError::Closed => RecvError::Closed,
            broadcast::error::TryRecvError::Empty => RecvError::Timeout,
        })
    }

    /// Waits (from async code) for the first event that `matches`,
    /// skipping the others; `Err` when the stream ends first. A lag is
    /// skipped too: the caller asked for one kind of event, not for all.
    pub async fn wait_for(&mut self, mut matches: impl FnMut(&E) -> bool) -> Result<E, RecvError> {
        loop {
            match self.recv().await {
                Ok(event) if matches(&event) => return Ok(event),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(error) => return Err(error),
            }
        }
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
        let publisher = Publisher::new(2);
        let mut subscription = publisher.subscribe();
        for i in 0..5 {
            publisher.send(i);
        }
        assert_eq!(subscription.try_recv(), Err(RecvError::Lagged(3)));
        assert_eq!(subscription.recv_timeout(Duration::from_secs(1)), Ok(3));
        assert_eq!(subscription.blocking_recv(), Ok(4));
        assert_eq!(
            subscription.recv_timeout(Duration::from_millis(10)),
            Err(RecvError::Timeout)
        );
        drop(publisher);
        assert_eq!(subscription.blocking_recv(), Err(RecvError::Closed));
    }

    #[test]
    fn recv_timeout_wakes_when_an_event_is_sent_from_another_thread() {
        let publisher = Publisher::new(4);
        let mut subscription = publisher.subscribe();
        let sending = thread::spawn(move || {
            publisher.send("late");
            publisher
        });
        assert_eq!(
            subscription.recv_timeout(Duration::from_secs(30)),
            Ok("late")
        );
        drop(sending.join());
    }

    #[test]
    fn a_closed_subscription_ends_at_once() {
        let mut subscription = Subscription::<u8>::closed();
        assert_eq!(subscription.blocking_recv(), Err(RecvError::Closed));
    }

    #[test]
    fn wait_for_skips_other_events_and_lags() {
        let publisher = Publisher::new(2);
        let mut subscription = publisher.subscribe();
        for i in 0..5 {
            publisher.send(i);
        }
        let found = block_on(subscription.wait_for(|e| *e == 4), None);
        assert_eq!(found, Some(Ok(4)));
        assert_eq!(publisher.subscribers(), 1);
        assert_eq!(
            Publisher::<u8>::new(1).send(1),
            0,
            "no subscriber is not an error"
        );
    }
}
