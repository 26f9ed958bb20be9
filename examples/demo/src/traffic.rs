//! The callers: tasks that call the greeter and the kv-store through the
//! host without pause, check every answer, and count what they saw.
//!
//! Every answer is checked, not just counted: the greeting must be the
//! one of the version that says it answered, no greeting may come from a
//! version older than the one the host announced (`plugin_updated`), none
//! from the bad 3.0.0, and each caller's `set` must return the value that
//! caller wrote last (the store keeps every write). A call that fails is
//! unexpected, but for one kind: a greet call that was in flight in the
//! greeter's child process when the demo killed it, and failed saying so.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use plugkit::host::{DynamicLoader, HostCallError};
use plugkit::loader::{CallError, CrashCause};
use plugkit_example_interface::{SetRequest, methods};
use serde_json::json;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// SIGKILL's number, as a crash cause reports it.
const SIGKILL: i32 = 9;

/// How many problems are kept with their text (all are counted).
const KEPT_PROBLEMS: usize = 20;

/// How often a greet call refused at the crash (it never reached the
/// plugin) is sent again before it counts as failed.
const MAX_RESENDS: u32 = 1_000;

/// The greeting word of each greeter major version (index = major).
fn greeting_word(major: u64) -> Option<&'static str> {
    match major {
        1 => Some("hello"),
        2 => Some("hi"),
        3 => Some("hey"),
        _ => None,
    }
}

/// What the callers share with the demo.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// The lowest greeter major version a call started now may be answered
    /// by: raised by the demo once `plugin_updated` has arrived.
    min_greeter_major: AtomicU64,
    /// Set just before the greeter's child is killed.
    killed: AtomicBool,
    /// Greetings answered, by the greeter's major version (index 0: other).
    greeted: [AtomicU64; 4],
    /// kv-store `set` calls answered.
    stored: AtomicU64,
    /// Calls that failed unexpectedly, or whose answer was wrong.
    failed: AtomicU64,
    /// Greet calls in flight in the killed child, failed with a crash error.
    expected: AtomicU64,
    /// Greet calls refused at the moment of the crash, before they reached
    /// the plugin, and sent again.
    resent: AtomicU64,
    /// The error such a call got first.
    resent_error: Mutex<Option<String>>,
    /// The slowest answered greet call started after the kill, in µs.
    slowest_after_kill: AtomicU64,
    /// The first unexpected problems, in words.
    problems: Mutex<Vec<String>>,
    /// The error the first expected failure got, to show it.
    expected_error: Mutex<Option<String>>,
    /// Woken after every call.
    progress: Notify,
}

impl Shared {
    fn counts(&self) -> Counts {
        let load = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        Counts {
            greeted: [
                load(&self.greeted[0]),
                load(&self.greeted[1]),
                load(&self.greeted[2]),
                load(&self.greeted[3]),
            ],
            stored: load(&self.stored),
            failed: load(&self.failed),
            expected: load(&self.expected),
            resent: load(&self.resent),
        }
    }

    fn problem(&self, text: String) {
        self.failed.fetch_add(1, Ordering::SeqCst);
        let mut problems = self.problems.lock().unwrap_or_else(PoisonError::into_inner);
        if problems.len() < KEPT_PROBLEMS {
            problems.push(text);
        }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Greetings answered, by major version (index 0: any other).
    pub(crate) greeted: [u64; 4],
    /// kv-store `set` calls answered.
    pub(crate) stored: u64,
    /// Unexpected failures and wrong answers.
    pub(crate) failed: u64,
    /// Expected failures: calls in flight in the killed child.
    pub(crate) expected: u64,
    /// Calls refused at the crash before they reached the plugin, and sent
    /// again (counted once each, whatever came of them).
    pub(crate) resent: u64,
}

impl Counts {
    /// Every call answered.
    pub(crate) fn served(&self) -> u64 {
        self.greeted.iter().sum::<u64>() + self.stored
    }

    /// Greetings answered by any version.
    pub(crate) fn greetings(&self) -> u64 {
        self.greeted.iter().sum()
    }
}

/// Call latencies in microseconds, per plugin, of the calls answered.
#[derive(Debug, Default)]
pub(crate) struct Latencies {
    /// greeter `greet` (child process).
    pub(crate) greet: Vec<u32>,
    /// kv-store `set` (native library).
    pub(crate) set: Vec<u32>,
}

impl Latencies {
    fn add(&mut self, other: Latencies) {
        self.greet.extend(other.greet);
        self.set.extend(other.set);
    }
}

/// The callers, running.
pub(crate) struct Traffic {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<Latencies>>,
}

impl Traffic {
    /// Starts `n` callers. Each calls, in turn and without pause,
    /// `greeter.greet` (JSON, which says which version answered) and
    /// `kv-store.set` (typed, with the interface crate's types).
    pub(crate) fn start(host: &DynamicLoader, n: usize) -> Traffic {
        let shared = Arc::new(Shared::default());
        shared.min_greeter_major.store(1, Ordering::SeqCst);
        let tasks = (0..n)
            .map(|i| tokio::spawn(caller(host.clone(), Arc::clone(&shared), i)))
            .collect();
        Traffic { shared, tasks }
    }

    /// The counters now.
    pub(crate) fn counts(&self) -> Counts {
        self.shared.counts()
    }

    /// Reads the counters, also after the callers stopped.
    pub(crate) fn reader(&self) -> impl Fn() -> Counts + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move || shared.counts()
    }

    /// Waits until `done` holds for the counters, up to `ceiling`; past it,
    /// an error that says `what` was awaited.
    pub(crate) async fn wait_until(
        &self,
        what: &str,
        ceiling: Duration,
        done: impl Fn(&Counts) -> bool,
    ) -> Result<()> {
        let waited = tokio::time::timeout(ceiling, async {
            loop {
                // Created before the look, so a call that ends after the
                // look wakes it.
                let notified = self.shared.progress.notified();
                if done(&self.counts()) {
                    return;
                }
                notified.await;
            }
        })
        .await;
        if waited.is_err() {
            let counts = self.counts();
            bail!(
                "the callers did not get {what} within {} s (answered: {}, failed: {})",
                ceiling.as_secs(),
                counts.served(),
                counts.failed
            );
        }
        Ok(())
    }

    /// From now on a greeting from a major version below `major` is wrong.
    pub(crate) fn expect_greeter_major(&self, major: u64) {
        self.shared.min_greeter_major.store(major, Ordering::SeqCst);
    }

    /// The greeter's child is about to be killed: greet calls in flight in
    /// it may fail, saying so.
    pub(crate) fn arm_kill(&self) {
        self.shared.killed.store(true, Ordering::SeqCst);
    }

    /// The slowest greet call answered since the kill (calls made while
    /// the child restarted wait for it).
    pub(crate) fn slowest_after_kill(&self) -> Duration {
        Duration::from_micros(self.shared.slowest_after_kill.load(Ordering::SeqCst))
    }

    /// The first unexpected problems, in words.
    pub(crate) fn problems(&self) -> Vec<String> {
        self.shared
            .problems
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The error of the first call refused at the crash and sent again,
    /// if there was one.
    pub(crate) fn resent_error(&self) -> Option<String> {
        self.shared
            .resent_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The error of the first expected failure, if there was one.
    pub(crate) fn expected_error(&self) -> Option<String> {
        self.shared
            .expected_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops the callers (each finishes the call it is in) and returns the
    /// latencies of every call answered.
    pub(crate) async fn stop(self, ceiling: Duration) -> Result<Latencies> {
        self.shared.stop.store(true, Ordering::SeqCst);
        let mut all = Latencies::default();
        for task in self.tasks {
            let latencies = tokio::time::timeout(ceiling, task)
                .await
                .context("a caller did not stop")?
                .context("a caller panicked")?;
            all.add(latencies);
        }
        Ok(all)
    }
}

fn micros(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)
}

/// One caller: greet, set, repeat, until stopped.
async fn caller(host: DynamicLoader, shared: Arc<Shared>, index: usize) -> Latencies {
    let name = format!("caller {index}");
    let key = format!("caller-{index}");
    // The value this caller wrote last, which its next `set` must return
    // (`None`: unknown, after a failed `set`).
    let mut last_written: Option<Option<String>> = Some(None);
    let mut latencies = Latencies::default();
    let mut round = 0u64;
    while !shared.stop.load(Ordering::SeqCst) {
        round += 1;

        let min_major = shared.min_greeter_major.load(Ordering::SeqCst);
        let killed_before = shared.killed.load(Ordering::SeqCst);
        let started = Instant::now();
        let mut resends = 0;
        let reply = loop {
            let reply = host
                .call_json("greeter", methods::GREET, &json!({ "name": name }))
                .await;
            // A call that reaches the child's connection just after the
            // child died, before its supervisor noticed, is refused as
            // `Stopped` ("refused, the plugin is running"): it never
            // reached the plugin, which is what `Stopped` promises, so it
            // is safe to send again, and the host does not do it for a
            // refusal by the instance that still serves.
            let refused_at_the_crash = matches!(
                &reply,
                Err(HostCallError::Call(CallError::Stopped {
                    state: "running",
                    ..
                }))
            ) && shared.killed.load(Ordering::SeqCst);
            if !refused_at_the_crash || resends == MAX_RESENDS {
                break reply;
            }
            if resends == 0 {
                shared.resent.fetch_add(1, Ordering::SeqCst);
                if let Err(error) = &reply {
                    let mut first = shared
                        .resent_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    first.get_or_insert_with(|| error.to_string());
                }
            }
            resends += 1;
            tokio::task::yield_now().await;
        };
        let elapsed = started.elapsed();
        match reply {
            Ok(reply) => {
                let major = reply.version.major;
                let text = reply.result["text"].as_str().unwrap_or_default();
                let said_version = reply.result["version"].as_str().unwrap_or_default();
                let expected = greeting_word(major).map(|word| format!("{word}, {name}"));
                if expected.as_deref() != Some(text) || said_version != reply.version.to_string() {
                    shared.problem(format!(
                        "greeter {} answered {}",
                        reply.version, reply.result
                    ));
                } else if major < min_major {
                    shared.problem(format!(
                        "greeter {} answered a call made after the host announced {min_major}.x",
                        reply.version
                    ));
                } else if major == 3 {
                    shared.problem(format!("the bad greeter {} answered a call", reply.version));
                } else {
                    let slot = usize::try_from(major).unwrap_or(0).min(3);
                    shared.greeted[slot].fetch_add(1, Ordering::SeqCst);
                    latencies.greet.push(micros(elapsed));
                    if killed_before {
                        shared
                            .slowest_after_kill
                            .fetch_max(elapsed.as_micros() as u64, Ordering::SeqCst);
                    }
                }
            }
            Err(error) => {
                let killed = shared.killed.load(Ordering::SeqCst);
                let crashed_by_the_kill = matches!(
                    &error,
                    HostCallError::Call(CallError::Crashed {
                        cause: CrashCause::Signaled { signal: SIGKILL },
                        ..
                    })
                );
                if killed && crashed_by_the_kill {
                    shared.expected.fetch_add(1, Ordering::SeqCst);
                    let mut first = shared
                        .expected_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    first.get_or_insert_with(|| error.to_string());
                } else {
                    shared.problem(format!("a greet call failed: {error}"));
                }
            }
        }

        let value = format!("{key}:{round}");
        let request = SetRequest {
            key: key.clone(),
            value: value.clone(),
        };
        let started = Instant::now();
        let previous: Result<Option<String>, _> =
            host.call_typed("kv-store", methods::SET, &request).await;
        let elapsed = started.elapsed();
        match previous {
            Ok(previous) if last_written.as_ref().is_none_or(|last| *last == previous) => {
                shared.stored.fetch_add(1, Ordering::SeqCst);
                latencies.set.push(micros(elapsed));
                last_written = Some(Some(value));
            }
            Ok(previous) => {
                shared.problem(format!(
                    "kv-store's set of {key} returned {previous:?}, but this caller wrote {:?} last",
                    last_written.flatten()
                ));
                last_written = Some(Some(value));
            }
            Err(error) => {
                shared.problem(format!("a kv-store call failed: {error}"));
                // Whether it was applied is unknown.
                last_written = None;
            }
        }

        shared.progress.notify_waiters();
        // A real caller does IO between calls; without a yield, native
        // calls (which never wait) would hold the runtime's workers.
        tokio::task::yield_now().await;
    }
    latencies
}
