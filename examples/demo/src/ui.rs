//! What the demo prints: sections, actions, events, checks and a live
//! counter. On a terminal, lines are coloured and a spinner line under
//! them shows the calls served and failed as they happen (redrawn by a
//! fixed-rate ticker); when the output is piped, styles are stripped
//! (anstream) and the counter is hidden (indicatif), so the output is
//! plain lines, and each step ends with a counter line instead.

use std::fmt::Display;
use std::io::{IsTerminal as _, Write as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Section titles.
const TITLE: Style = AnsiColor::Cyan.on_default().bold();
/// What the demo does to the plugins directory or a process.
const ACTION: Style = Style::new().bold();
/// Timestamps and asides.
const DIM: Style = Style::new().dimmed();
/// A check that passed.
const OK: Style = AnsiColor::Green.on_default().bold();
/// A check that failed.
const FAILED: Style = AnsiColor::Red.on_default().bold();
/// Discovery events.
const DISCOVERY: Style = AnsiColor::Blue.on_default();
/// Hot-load events.
const HOST: Style = AnsiColor::Magenta.on_default();
/// Events that report something going wrong (on purpose, in this demo).
const WARNING: Style = AnsiColor::Yellow.on_default().bold();

/// Where an event comes from, for its tag and colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Discovery (files seen in the plugins directory).
    Discovery,
    /// The host (loads, swaps, rollbacks, refusals, crashes, restarts).
    Host,
}

/// The demo's output, and the checks that failed.
pub(crate) struct Ui {
    start: Instant,
    terminal: bool,
    live: Mutex<Option<Live>>,
    failures: Mutex<Vec<String>>,
}

/// The live counter: a spinner line redrawn by a ticker.
struct Live {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Ui {
    /// Output to stdout, styled and live only when stdout is a terminal.
    pub(crate) fn new() -> Ui {
        Ui {
            start: Instant::now(),
            terminal: std::io::stdout().is_terminal(),
            live: Mutex::new(None),
            failures: Mutex::new(Vec::new()),
        }
    }

    /// Since the demo started.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Prints one line (or block), above the live counter if it runs.
    pub(crate) fn line(&self, text: impl Display) {
        let print = || {
            let mut out = anstream::stdout().lock();
            // Nothing to do about a closed stdout but to go on: the exit
            // code still tells the result.
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        };
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        match live.as_ref() {
            Some(live) => live.bar.suspend(print),
            None => print(),
        }
    }

    /// The demo's title.
    pub(crate) fn title(&self, text: &str) {
        self.line(format_args!("{TITLE}{text}{TITLE:#}"));
    }

    /// A numbered section.
    pub(crate) fn section(&self, number: u32, title: &str) {
        self.line("");
        self.line(format_args!("{TITLE}━━ {number}. {title}{TITLE:#}"));
    }

    /// Plain explanatory text.
    pub(crate) fn note(&self, text: impl Display) {
        self.line(format_args!("   {text}"));
    }

    /// Something the demo does (a copy into the plugins directory, a kill).
    pub(crate) fn action(&self, text: impl Display) {
        self.line(format_args!(
            "{DIM}[{:>6.2}s]{DIM:#} {ACTION}→ {text}{ACTION:#}",
            self.elapsed().as_secs_f64()
        ));
    }

    /// An event, with where it came from; `warning` for the ones that
    /// report a failure. Lines after the first are indented under it.
    pub(crate) fn event(&self, source: Source, warning: bool, text: &str) {
        let (tag, style) = match source {
            Source::Discovery => ("discovery", DISCOVERY),
            Source::Host => ("host", HOST),
        };
        let text_style = if warning { WARNING } else { Style::new() };
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default();
        self.line(format_args!(
            "{DIM}[{:>6.2}s]{DIM:#}   {style}{tag:<9}{style:#} {text_style}{first}{text_style:#}",
            self.elapsed().as_secs_f64()
        ));
        for line in lines {
            self.line(format_args!("{:22}{DIM}{line}{DIM:#}", ""));
        }
    }

    /// An answer or a fact the host gave, indented under the step.
    pub(crate) fn fact(&self, label: &str, text: impl Display) {
        self.line(format_args!("   {DIM}{label}:{DIM:#} {text}"));
    }

    /// A check that passed.
    pub(crate) fn ok(&self, text: impl Display) {
        self.line(format_args!("   {OK}✓{OK:#} {text}"));
    }

    /// Something that went wrong that the demo worked around, shown.
    pub(crate) fn warn(&self, text: impl Display) {
        self.line(format_args!("   {WARNING}!{WARNING:#} {text}"));
    }

    /// A check that failed: shown, and remembered for the exit code.
    pub(crate) fn fail(&self, text: impl Display) {
        let text = text.to_string();
        self.line(format_args!("   {FAILED}✗ {text}{FAILED:#}"));
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(text);
    }

    /// `ok(text)` if `passed`, else `fail(text)` with `why` appended.
    pub(crate) fn check(&self, passed: bool, text: impl Display, why: impl Display) {
        if passed {
            self.ok(text);
        } else {
            self.fail(format_args!("{text}: {why}"));
        }
    }

    /// The checks that failed so far.
    pub(crate) fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The final verdict line.
    pub(crate) fn verdict(&self, passed: bool, text: impl Display) {
        self.line("");
        if passed {
            self.line(format_args!("{OK}demo: ok{OK:#} {text}"));
        } else {
            self.line(format_args!("{FAILED}demo: FAILED{FAILED:#} {text}"));
        }
    }

    /// Starts the live counter (on a terminal): a spinner line whose text
    /// `message` gives, redrawn ten times a second. Needs a tokio runtime.
    pub(crate) fn start_live(&self, message: impl Fn() -> String + Send + Sync + 'static) {
        if !self.terminal {
            return;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
        if let Ok(style) = ProgressStyle::with_template("   {spinner:.cyan} {msg}") {
            bar.set_style(style);
        }
        let message = Arc::new(message);
        bar.set_message(message());
        let ticking = bar.clone();
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(100));
            loop {
                every.tick().await;
                ticking.set_message(message());
                ticking.tick();
            }
        });
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        *live = Some(Live { bar, ticker });
    }

    /// Stops the live counter and clears its line.
    pub(crate) fn stop_live(&self) {
        let live = self
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(live) = live {
            live.ticker.abort();
            live.bar.finish_and_clear();
        }
    }
}
