//! The host's event stream as the demo shows it: every event printed as it
//! comes (discovery's and the host's, in words), the events a step waits
//! for, and the counts the summary gives.

use anyhow::{Result, bail};
use plugkit::discovery::DiscoveryEvent;
use plugkit::events::{RecvError, Subscription};
use plugkit::host::{HostEvent, HotLoadEvent};
use plugkit::manifest::Transport;

use crate::CEILING;
use crate::plugins::Plugins;
use crate::ui::{Source, Ui};

/// An event a step waits for.
pub(crate) struct Awaited {
    what: String,
    matches: Box<dyn Fn(&HostEvent) -> bool + Send>,
    seen: bool,
}

impl Awaited {
    /// Waits for the first event that `matches`; `what` names it in a
    /// timeout's error.
    pub(crate) fn new(
        what: impl Into<String>,
        matches: impl Fn(&HostEvent) -> bool + Send + 'static,
    ) -> Self {
        Awaited {
            what: what.into(),
            matches: Box::new(matches),
            seen: false,
        }
    }
}

/// `plugin_discovered` for `plugin` `version`.
pub(crate) fn discovered(plugin: &'static str, version: &'static str) -> Awaited {
    Awaited::new(
        format!("plugin_discovered for {plugin} {version}"),
        move |event| {
            matches!(discovery_event(event), Some(DiscoveryEvent::Discovered { plugin: p })
                if p.name() == plugin && p.version().to_string() == version)
        },
    )
}

/// `plugin_loaded` for `plugin` `version`.
pub(crate) fn loaded(plugin: &'static str, version: &'static str) -> Awaited {
    Awaited::new(
        format!("plugin_loaded for {plugin} {version}"),
        move |event| {
            matches!(event, HostEvent::HotLoad(HotLoadEvent::Loaded { plugin: p, version: v })
            if p == plugin && v.to_string() == version)
        },
    )
}

/// The discovery event inside a host event, if it is one.
pub(crate) fn discovery_event(event: &HostEvent) -> Option<&DiscoveryEvent> {
    match event {
        HostEvent::Discovery(event) => Some(event),
        _ => None,
    }
}

/// The host's event stream, shown as it comes, with what the summary counts.
pub(crate) struct Events<'a> {
    subscription: Subscription<HostEvent>,
    ui: &'a Ui,
    plugins: &'a Plugins,
    /// The error of the last `plugin_load_failed`, so that the rollback
    /// that follows it need not repeat it.
    last_load_error: Option<String>,
    /// `plugin_updated` events.
    pub(crate) swaps: u32,
    /// `plugin_rolled_back` events.
    pub(crate) rollbacks: u32,
    /// The updates refused, as `name version`.
    pub(crate) refused: Vec<String>,
    /// `manifest_invalid` events.
    pub(crate) invalid_manifests: u32,
}

impl<'a> Events<'a> {
    /// Shows and counts the events of `subscription`.
    pub(crate) fn new(
        subscription: Subscription<HostEvent>,
        ui: &'a Ui,
        plugins: &'a Plugins,
    ) -> Self {
        Events {
            subscription,
            ui,
            plugins,
            last_load_error: None,
            swaps: 0,
            rollbacks: 0,
            refused: Vec::new(),
            invalid_manifests: 0,
        }
    }

    /// Shows every event until all of `awaited` have come (within the
    /// ceiling), and returns them all. A hot-load event that `expected`
    /// does not allow is a failed check.
    pub(crate) async fn until(
        &mut self,
        expected: impl Fn(&HotLoadEvent) -> bool,
        mut awaited: Vec<Awaited>,
    ) -> Result<Vec<HostEvent>> {
        let deadline = tokio::time::Instant::now() + CEILING;
        let mut seen = Vec::new();
        while awaited.iter().any(|a| !a.seen) {
            let event = match tokio::time::timeout_at(deadline, self.subscription.recv()).await {
                Err(_) => {
                    let missing: Vec<&str> = awaited
                        .iter()
                        .filter(|a| !a.seen)
                        .map(|a| a.what.as_str())
                        .collect();
                    bail!(
                        "no {} within {} s",
                        missing.join(", no "),
                        CEILING.as_secs()
                    );
                }
                Ok(Err(RecvError::Lagged(missed))) => {
                    self.ui
                        .fail(format_args!("the demo missed {missed} host events"));
                    continue;
                }
                Ok(Err(error)) => bail!("the host's event stream: {error}"),
                Ok(Ok(event)) => event,
            };
            self.show(&event, &expected);
            for waiting in awaited.iter_mut().filter(|a| !a.seen) {
                if (waiting.matches)(&event) {
                    waiting.seen = true;
                }
            }
            seen.push(event);
        }
        Ok(seen)
    }

    /// Shows the events that have arrived and were not waited for; a
    /// hot-load event that `expected` does not allow is a failed check.
    pub(crate) fn drain(&mut self, expected: impl Fn(&HotLoadEvent) -> bool) {
        loop {
            match self.subscription.try_recv() {
                Ok(event) => self.show(&event, &expected),
                Err(RecvError::Lagged(missed)) => self
                    .ui
                    .fail(format_args!("the demo missed {missed} host events")),
                Err(_) => return,
            }
        }
    }

    fn show(&mut self, event: &HostEvent, expected: &dyn Fn(&HotLoadEvent) -> bool) {
        match event {
            HostEvent::Discovery(discovery) => {
                let text = match &**discovery {
                    DiscoveryEvent::Discovered { plugin } => format!(
                        "discovered {} {} ({}) in {}",
                        plugin.name(),
                        plugin.version(),
                        transport(plugin.transport()),
                        self.plugins.relative(&plugin.manifest_path)
                    ),
                    DiscoveryEvent::ManifestInvalid { path, diagnostics } => {
                        self.invalid_manifests += 1;
                        let file = self.plugins.relative(path);
                        let mut text = format!("invalid manifest {file}");
                        for diagnostic in diagnostics {
                            text.push('\n');
                            text.push_str(&diagnostic.display_in(&file).to_string());
                        }
                        text
                    }
                    other => other.to_string(),
                };
                let warning = matches!(&**discovery, DiscoveryEvent::ManifestInvalid { .. });
                self.ui.event(Source::Discovery, warning, &text);
            }
            HostEvent::HotLoad(hot_load) => {
                let text = match hot_load {
                    HotLoadEvent::LoadFailed { error, .. } => {
                        self.last_load_error = Some(error.clone());
                        hot_load.to_string()
                    }
                    HotLoadEvent::RolledBack {
                        plugin,
                        version,
                        failed_version: Some(failed),
                        reason,
                    } if self.last_load_error.as_ref() == Some(reason) => format!(
                        "{plugin} {failed} was rolled back, {version} serves (why: just above)"
                    ),
                    _ => hot_load.to_string(),
                };
                let warning = matches!(
                    hot_load,
                    HotLoadEvent::LoadFailed { .. }
                        | HotLoadEvent::RolledBack { .. }
                        | HotLoadEvent::UpdateRefused { .. }
                        | HotLoadEvent::Crashed { .. }
                        | HotLoadEvent::Failed { .. }
                );
                self.ui.event(Source::Host, warning, &text);
                match hot_load {
                    HotLoadEvent::Updated { .. } => self.swaps += 1,
                    HotLoadEvent::RolledBack { .. } => self.rollbacks += 1,
                    HotLoadEvent::UpdateRefused {
                        plugin, candidate, ..
                    } => self.refused.push(match candidate {
                        Some(candidate) => format!("{plugin} {candidate}"),
                        None => plugin.clone(),
                    }),
                    _ => {}
                }
                if !expected(hot_load) {
                    self.ui
                        .fail(format_args!("unexpected host event: {hot_load}"));
                }
            }
            other => {
                // A kind of event this demo does not know yet.
                self.ui.event(Source::Host, false, &format!("{other:?}"));
            }
        }
    }
}

/// A transport in words.
fn transport(transport: Transport) -> &'static str {
    match transport {
        Transport::Native => "native library",
        Transport::Process => "child process",
        other => other.as_str(),
    }
}
