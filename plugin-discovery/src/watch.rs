//! Watch mode: the watcher backend (notify, or polling as the fallback),
//! per-path debouncing, and the worker that rescans the affected regions,
//! diffs the result against its model and publishes the events.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher as _};

use crate::config::Compiled;
use crate::scan::{
    Entries, Entry, ManifestEntry, Outcome, ReadOptions, Region, Walked, read_all, take_range, walk,
};
use crate::select::{Selection, select};
use crate::shared::Shared;
use crate::{DiscoveryError, DiscoveryEvent};

/// What reaches the worker.
pub(crate) enum Message {
    /// Something the native watcher saw.
    Notify(notify::Result<notify::Event>),
    /// Stop.
    Shutdown,
}

/// How changes are noticed.
pub(crate) enum Backend {
    /// The platform's notifications, through notify (kept for as long as
    /// it watches: dropping it stops it).
    Native {
        _watcher: Box<dyn notify::Watcher + Send>,
    },
    /// Periodic rescans.
    Poll,
}

/// Sets up the configured backend, falling back to polling (with a warning
/// event) when the native one cannot be used.
pub(crate) fn start_backend(shared: &Shared, messages: Sender<Message>) -> Backend {
    choose_backend(shared, || native(&shared.config, messages))
}

fn choose_backend<F>(shared: &Shared, make_native: F) -> Backend
where
    F: FnOnce() -> notify::Result<Box<dyn notify::Watcher + Send>>,
{
    let settings = &shared.config.config;
    if settings.backend == crate::WatchBackend::Poll {
        return Backend::Poll;
    }
    match make_native() {
        Ok(watcher) => Backend::Native { _watcher: watcher },
        Err(error) => {
            let message = fallback_message(&error, settings.poll_interval);
            tracing::warn!("{message}");
            shared.report(&DiscoveryError::watch(error));
            shared.send(DiscoveryEvent::Warning { message });
            Backend::Poll
        }
    }
}

fn fallback_message(error: &notify::Error, interval: Duration) -> String {
    let why = match &error.kind {
        notify::ErrorKind::MaxFilesWatch => "the limit of watched directories is reached".into(),
        notify::ErrorKind::Io(io) => io.to_string(),
        _ => error.to_string(),
    };
    format!(
        "native file watching is unavailable ({why}); falling back to polling every {} ms",
        interval.as_millis()
    )
}

/// The native watcher, watching every search directory that exists (one
/// that does not is reported by the scan instead).
fn native(
    config: &Compiled,
    messages: Sender<Message>,
) -> notify::Result<Box<dyn notify::Watcher + Send>> {
    let handler = move |event: notify::Result<notify::Event>| {
        let _ = messages.send(Message::Notify(event));
    };
    let settings = notify::Config::default().with_follow_symlinks(config.config.follow_symlinks);
    let mut watcher = notify::RecommendedWatcher::new(handler, settings)?;
    for root in &config.roots {
        match watcher.watch(root, RecursiveMode::Recursive) {
            Ok(()) => {}
            Err(error) if is_not_found(&error) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(Box::new(watcher))
}

fn is_not_found(error: &notify::Error) -> bool {
    match &error.kind {
        notify::ErrorKind::PathNotFound => true,
        notify::ErrorKind::Io(io) => io.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// A path with changes not yet looked at.
#[derive(Debug, Clone, Copy)]
struct Pending {
    first: Instant,
    last: Instant,
}

impl Pending {
    /// When to look: once quiet for `debounce`, or `max_wait` after the
    /// first change at the latest.
    fn due(&self, debounce: Duration, max_wait: Duration) -> Instant {
        later(self.last, debounce).min(later(self.first, max_wait))
    }
}

/// `at + wait`, or a moment a year away when that cannot be represented
/// (a configured duration may be huge; adding must not panic).
fn later(at: Instant, wait: Duration) -> Instant {
    at.checked_add(wait)
        .or_else(|| at.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(at)
}

/// The watch thread's state: the model of the directories (entries and
/// their resolution) and the changes waiting for their debounce.
pub(crate) struct Worker {
    shared: Arc<Shared>,
    inbox: Receiver<Message>,
    backend: Backend,
    entries: Entries,
    selection: Selection,
    /// Artifact path -> the manifests naming it.
    artifacts: HashMap<PathBuf, Vec<PathBuf>>,
    pending: HashMap<PathBuf, Pending>,
    /// Directories to scan once more, and when.
    confirm: Vec<(Instant, PathBuf)>,
    rescan_all: bool,
    next_poll: Option<Instant>,
}

impl Worker {
    pub(crate) fn new(
        shared: Arc<Shared>,
        inbox: Receiver<Message>,
        backend: Backend,
        entries: Entries,
        selection: Selection,
    ) -> Worker {
        let next_poll = matches!(backend, Backend::Poll)
            .then(|| later(Instant::now(), shared.config.config.poll_interval));
        let mut worker = Worker {
            shared,
            inbox,
            backend,
            entries,
            selection,
            artifacts: HashMap::new(),
            pending: HashMap::new(),
            confirm: Vec::new(),
            rescan_all: false,
            next_poll,
        };
        worker.index_artifacts();
        worker
    }

    fn debounce(&self) -> Duration {
        self.shared.config.config.debounce
    }

    /// A path that keeps changing is looked at no later than this after its
    /// first change.
    fn max_wait(&self) -> Duration {
        self.debounce()
            .saturating_mul(20)
            .max(Duration::from_secs(1))
    }

    /// How long after scanning a new directory it is scanned again, to catch
    /// files written into it before its watch was in place.
    fn confirm_delay(&self) -> Duration {
        self.debounce()
            .saturating_mul(4)
            .max(Duration::from_millis(200))
    }

    pub(crate) fn run(mut self) {
        loop {
            let message = match self.next_deadline() {
                Some(deadline) => self
                    .inbox
                    .recv_timeout(deadline.saturating_duration_since(Instant::now())),
                None => self
                    .inbox
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
            };
            match message {
                Ok(Message::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Message::Notify(event)) => self.note(event),
                Err(RecvTimeoutError::Timeout) => {}
            }
            loop {
                match self.inbox.try_recv() {
                    Ok(Message::Notify(event)) => self.note(event),
                    Ok(Message::Shutdown) => return,
                    Err(_) => break,
                }
            }
            self.process_due(Instant::now());
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let debounce = self.debounce();
        let max_wait = self.max_wait();
        let pending = self.pending.values().map(|p| p.due(debounce, max_wait));
        let confirm = self.confirm.iter().map(|(due, _)| *due);
        let soon = self.rescan_all.then(Instant::now);
        pending
            .chain(confirm)
            .chain(self.next_poll)
            .chain(soon)
            .min()
    }

    /// Takes in one notification.
    fn note(&mut self, event: notify::Result<notify::Event>) {
        let event = match event {
            Ok(event) => event,
            Err(error) => return self.backend_failed(error),
        };
        if event.need_rescan() {
            self.rescan_all = true;
        }
        match event.kind {
            // Writes finishing matter; opening and reading (ours included) do not.
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
            EventKind::Access(_) => return,
            _ => {}
        }
        let now = Instant::now();
        for path in event.paths {
            let path = self.shared.config.respell(path);
            self.touch(path, now);
        }
    }

    fn touch(&mut self, path: PathBuf, now: Instant) {
        self.pending
            .entry(path)
            .and_modify(|p| p.last = now)
            .or_insert(Pending {
                first: now,
                last: now,
            });
    }

    /// The native watcher failed. Running out of watches (or any failure
    /// that leaves part of the tree unwatched) switches to polling.
    fn backend_failed(&mut self, error: notify::Error) {
        let fatal = matches!(
            error.kind,
            notify::ErrorKind::MaxFilesWatch | notify::ErrorKind::Io(_)
        ) && matches!(self.backend, Backend::Native { .. });
        let interval = self.shared.config.config.poll_interval;
        let message = fallback_message(&error, interval);
        self.shared.report(&DiscoveryError::watch(error));
        if fatal {
            tracing::warn!("{message}");
            self.backend = Backend::Poll;
            self.next_poll = Some(later(Instant::now(), interval));
            self.rescan_all = true;
            self.shared.send(DiscoveryEvent::Warning { message });
        }
    }

    fn process_due(&mut self, now: Instant) {
        let debounce = self.debounce();
        let max_wait = self.max_wait();
        let mut ready = Vec::new();
        self.pending.retain(|path, p| {
            let due = p.due(debounce, max_wait);
            if due <= now {
                ready.push(path.clone());
                false
            } else {
                true
            }
        });
        let mut confirm = Vec::new();
        self.confirm.retain(|(due, path)| {
            if *due <= now {
                confirm.push(path.clone());
                false
            } else {
                true
            }
        });
        if let Some(next) = self.next_poll
            && next <= now
        {
            self.rescan_all = true;
            self.next_poll = Some(later(now, self.shared.config.config.poll_interval));
        }
        if ready.is_empty() && confirm.is_empty() && !self.rescan_all {
            return;
        }
        let all = std::mem::take(&mut self.rescan_all);
        self.process(ready, confirm, all);
    }

    /// Rescans what changed and publishes the difference.
    fn process(&mut self, changed: Vec<PathBuf>, confirm: Vec<PathBuf>, all: bool) {
        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        let now = Instant::now();
        // (region, whether a directory found there gets a second look)
        let mut regions: Vec<(Region, bool)> = Vec::new();
        if all {
            regions.extend((0..config.roots.len()).map(|root| (Region::root(config, root), false)));
        } else {
            for path in &changed {
                if let Some((root, depth)) = config.locate(path) {
                    let region = Region {
                        root,
                        path: path.clone(),
                        depth,
                    };
                    regions.push((region, true));
                }
                for manifest in self.artifacts.get(path).into_iter().flatten() {
                    if let Some(Entry::Manifest(entry)) = self.entries.get(manifest) {
                        let region = Region {
                            root: entry.root,
                            path: manifest.clone(),
                            depth: entry.depth,
                        };
                        regions.push((region, false));
                    }
                }
            }
            for path in confirm {
                if let Some((root, depth)) = config.locate(&path) {
                    regions.push((Region { root, path, depth }, false));
                }
            }
        }
        let regions = outermost(regions);
        if regions.is_empty() {
            return;
        }

        let mut walked = Walked::default();
        for (region, second_look) in &regions {
            let mut here = Walked::default();
            walk(config, region, &mut here);
            if here.was_dir && *second_look {
                self.confirm
                    .push((later(now, self.confirm_delay()), region.path.clone()));
            }
            walked.candidates.append(&mut here.candidates);
            walked.entries.append(&mut here.entries);
        }
        let mut old: HashMap<PathBuf, Entry> = HashMap::new();
        for (region, _) in &regions {
            old.extend(take_range(&mut self.entries, &region.path));
        }
        if old.is_empty() && walked.candidates.is_empty() && walked.entries.is_empty() {
            // Nothing was there and nothing is: a file that is neither a
            // manifest nor an artifact.
            return;
        }

        // A manifest still being written waits for its own debounce: one
        // with changes pending, or modified within the debounce period.
        let system_now = SystemTime::now();
        let debounce = self.debounce();
        let (deferred, candidates): (Vec<_>, Vec<_>) =
            walked.candidates.into_iter().partition(|candidate| {
                self.pending.contains_key(&candidate.path)
                    || recently_modified(&candidate.path, system_now, debounce)
            });
        for candidate in deferred {
            if let Some(entry) = old.remove(&candidate.path) {
                self.entries.insert(candidate.path.clone(), entry);
            }
            self.touch(candidate.path, now);
        }
        let forced: HashSet<&PathBuf> = changed.iter().collect();
        let previous = |path: &Path| match old.get(path) {
            Some(Entry::Manifest(entry)) if !forced.contains(&path.to_path_buf()) => Some(entry),
            _ => None,
        };
        let options = ReadOptions {
            stamp_artifacts: true,
        };
        let read = read_all(config, candidates, options, previous);
        self.entries.extend(read);
        self.entries.extend(walked.entries);

        let selection = select(config, &self.entries);
        self.shared
            .report_new_errors(&self.selection.discovery, &selection.discovery);
        tracing::debug!(regions = regions.len(), "discovery rescan");
        self.shared.publish_files(&self.selection, &selection);
        self.selection = selection;
        self.index_artifacts();
    }

    fn index_artifacts(&mut self) {
        self.artifacts.clear();
        for (path, entry) in &self.entries {
            if let Entry::Manifest(ManifestEntry {
                outcome: Outcome::Parsed { plugin, .. },
                ..
            }) = entry
                && let Some(artifact) = &plugin.artifact_path
            {
                self.artifacts
                    .entry(artifact.clone())
                    .or_default()
                    .push(path.clone());
            }
        }
    }
}

/// Whether the file was modified less than `window` ago (a modification
/// time in the future does not count: it would never settle).
fn recently_modified(path: &Path, now: SystemTime, window: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| now.duration_since(modified).ok())
        .is_some_and(|age| age < window)
}

/// The regions not inside another one (scanning a directory covers
/// everything below it), each once.
fn outermost(mut regions: Vec<(Region, bool)>) -> Vec<(Region, bool)> {
    regions.sort_by(|a, b| a.0.path.cmp(&b.0.path).then(b.1.cmp(&a.1)));
    let mut kept: Vec<(Region, bool)> = Vec::new();
    for (region, second_look) in regions {
        if let Some((last, _)) = kept.last()
            && region.path.starts_with(&last.path)
        {
            continue;
        }
        kept.push((region, second_look));
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::DiscoveryEngine;
    use crate::{DiscoveryConfig, RecvError};

    fn region(path: &str) -> Region {
        Region {
            root: 0,
            path: PathBuf::from(path),
            depth: 1,
        }
    }

    #[test]
    fn outermost_keeps_ancestors_only() {
        let regions = vec![
            (region("r/a/b/plugin-manifest.json"), false),
            (region("r/a"), true),
            (region("r/ab"), false),
            (region("r/a"), false),
        ];
        let kept: Vec<(PathBuf, bool)> = outermost(regions)
            .into_iter()
            .map(|(r, second)| (r.path, second))
            .collect();
        assert_eq!(
            kept,
            [(PathBuf::from("r/a"), true), (PathBuf::from("r/ab"), false)]
        );
    }

    #[test]
    fn a_native_watcher_that_cannot_start_falls_back_to_polling_with_a_warning() {
        let directory = tempfile::tempdir().unwrap();
        let engine = DiscoveryEngine::new(DiscoveryConfig::new([directory.path()])).unwrap();
        let mut events = engine.subscribe();
        let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&errors);
        engine.set_error_handler(move |e| seen.lock().unwrap().push(e.to_string()));
        let backend = choose_backend(&engine.shared_for_tests(), || {
            Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch))
        });
        assert!(matches!(backend, Backend::Poll));
        assert_eq!(
            events.try_recv(),
            Ok(DiscoveryEvent::Warning {
                message: "native file watching is unavailable (the limit of watched directories \
                          is reached); falling back to polling every 1000 ms"
                    .into()
            })
        );
        assert_eq!(events.try_recv(), Err(RecvError::Timeout));
        assert_eq!(*errors.lock().unwrap(), ["file watcher failed"]);
    }

    #[test]
    fn running_out_of_watches_while_watching_switches_to_polling() {
        let directory = tempfile::tempdir().unwrap();
        let engine = DiscoveryEngine::new(DiscoveryConfig::new([directory.path()])).unwrap();
        let mut events = engine.subscribe();
        let (_messages, inbox) = std::sync::mpsc::channel();
        let native = native(&engine.shared_for_tests().config, _messages.clone()).unwrap();
        let mut worker = Worker::new(
            engine.shared_for_tests(),
            inbox,
            Backend::Native { _watcher: native },
            Entries::new(),
            Selection::default(),
        );
        worker.note(Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch)));
        assert!(matches!(worker.backend, Backend::Poll));
        assert!(worker.rescan_all && worker.next_poll.is_some());
        assert!(matches!(
            events.try_recv(),
            Ok(DiscoveryEvent::Warning { message }) if message.contains("falling back to polling")
        ));
        // A second failure does not warn again.
        worker.note(Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch)));
        assert_eq!(events.try_recv(), Err(RecvError::Timeout));
    }
}
