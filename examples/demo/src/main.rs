//! `plugkit-demo EXAMPLES_DIR`: plugkit's main job, watched live. Run by
//! `cargo xtask demo`, which builds the example plugins into `EXAMPLES_DIR`
//! (`cargo xtask example-plugins --out EXAMPLES_DIR`) and then this.
//!
//! A host started through the facade (`plugkit::Host::builder()`) follows
//! an empty temporary plugins directory; the demo copies plugin
//! directories into it, as a user or a deploy tool would, and shows what
//! the host does, step by step:
//!
//! 1. discovery: the plugins found, and an invalid manifest with its
//!    diagnostics; kv-store (a native library) and greeter (a child
//!    process) load in dependency order;
//! 2. resolution: the load order, a plugin left out for an unmet
//!    dependency, and a refused update, each explained in words;
//! 3. calls: 8 callers call both plugins without pause, with a live
//!    counter of calls served and failed;
//! 4. a hot swap: greeter 2.0.0 is copied in while they call; no call
//!    fails and the answers change to 2.0.0's;
//! 5. a rollback: a greeter 3.0.0 that panics in `init` is copied in;
//!    it is rolled back and 2.0.0 serves on, no call failed;
//! 6. a crash: the greeter's child process is killed with SIGKILL; the
//!    calls in flight fail with a clear error (counted apart, as
//!    expected), the child is restarted and later calls succeed;
//! 7. a summary: plugins, swaps, rollbacks, restarts, calls served and
//!    failed, call latency.
//!
//! Every step is checked, not only shown: the exit code is 0 only if
//! every check passed and no call failed unexpectedly. Waits are on
//! events and counters, each with a generous ceiling that turns into a
//! clear failure. On a terminal the output is coloured with a live
//! counter; piped, it is plain lines.

mod events;
mod plugins;
mod steps;
mod traffic;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use plugkit::host::{HotLoadConfig, HotLoadEvent, PluginState};
use plugkit::loader::LoaderConfig;

use crate::events::Events;
use crate::plugins::Plugins;
use crate::traffic::{Counts, Latencies, Traffic};
use crate::ui::Ui;

/// The ceiling of every wait: generous, for a loaded machine.
pub(crate) const CEILING: Duration = Duration::from_secs(30);

/// How many callers call at once.
pub(crate) const CALLERS: usize = 8;

/// How many calls a step lets the callers make (answered by the version
/// the step is about) before it checks what they saw.
pub(crate) const CALLS_PER_STEP: u64 = 15_000;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(examples), None) = (args.next(), args.next()) else {
        eprintln!(
            "usage: plugkit-demo EXAMPLES_DIR\n  \
             EXAMPLES_DIR: the layout of `cargo xtask example-plugins --out EXAMPLES_DIR`\n  \
             (`cargo xtask demo` builds it and runs this)"
        );
        return ExitCode::from(2);
    };
    let ui = Ui::new();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            ui.fail(format_args!("cannot start a tokio runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(demo(&ui, PathBuf::from(examples)));
    ui.stop_live();
    if let Err(error) = outcome {
        ui.fail(format_args!("{error:#}"));
    }
    let failures = ui.failures();
    if failures.is_empty() {
        ui.verdict(
            true,
            format_args!("every step checked, in {:.1} s", ui.elapsed().as_secs_f64()),
        );
        ui.line(
            "next: README.md shows how to write a plugin, and `plugkit run` runs this host \
             from the command line",
        );
        ExitCode::SUCCESS
    } else {
        ui.verdict(false, format_args!("{} check(s) failed:", failures.len()));
        for failure in failures {
            ui.note(format_args!("- {failure}"));
        }
        ExitCode::FAILURE
    }
}

/// The whole demo: directories, host, steps, shutdown.
async fn demo(ui: &Ui, examples: PathBuf) -> Result<()> {
    ui.title("plugkit demo: a host that follows a plugins directory, watched live");
    let plugins = Plugins::new(&examples)?;
    // Started on an empty directory, so that every event of the plugins'
    // arrival is seen: `build()` runs the first scan and loads before
    // anyone can subscribe.
    let host = plugkit::Host::builder()
        .from_directory(plugins.dir())
        .with_defaults()
        .with_loader(LoaderConfig::default().with_cache_dir(plugins.cache()))
        // A generous deadline for a new version to be healthy, for a
        // loaded machine; a bad version fails long before it.
        .with_hot_load(HotLoadConfig::default().with_health_check_delay(CEILING))
        .build()
        .await
        .context("the host did not start")?;
    let mut events = Events::new(host.subscribe(), ui, &plugins);
    ui.note("a host runs, built with plugkit::Host::builder().from_directory(DIR).build(),");
    ui.note(format_args!(
        "following DIR = {} (empty for now)",
        plugins.dir().display()
    ));
    let outcome = steps(ui, &host, &plugins, &mut events).await;
    ui.stop_live();
    ui.line("");
    ui.note("shutting the host down: every plugin drained and stopped, in reverse load order");
    if tokio::time::timeout(CEILING, host.shutdown())
        .await
        .is_err()
    {
        ui.fail(format_args!(
            "the host did not shut down within {} s",
            CEILING.as_secs()
        ));
    }
    events.drain(|event| {
        matches!(
            event,
            HotLoadEvent::Unloading { .. } | HotLoadEvent::Unloaded { .. }
        )
    });
    drop(events);
    let removed = plugins.remove();
    outcome.and(removed)
}

/// Steps 1 to 7.
async fn steps(
    ui: &Ui,
    host: &plugkit::Host,
    plugins: &Plugins,
    events: &mut Events<'_>,
) -> Result<()> {
    steps::discovery(ui, plugins, events).await?;
    steps::resolution(ui, host, plugins, events).await?;
    steps::first_calls(ui, host).await?;

    let traffic = Traffic::start(host, CALLERS);
    let counts = traffic.reader();
    ui.start_live(live_message(traffic.reader(), host));
    let outcome = with_traffic(ui, host, plugins, events, &traffic).await;
    ui.stop_live();
    let latencies = traffic.stop(CEILING).await;
    let restarts = outcome?;
    let latencies = latencies?;
    // Whatever arrived since the last step, shown and checked.
    events.drain(|_| false);
    summary(ui, host, events, restarts, &counts(), &latencies);
    Ok(())
}

/// Steps 3 to 6: everything that happens while the callers call. Returns
/// the restarts seen.
async fn with_traffic(
    ui: &Ui,
    host: &plugkit::Host,
    plugins: &Plugins,
    events: &mut Events<'_>,
    traffic: &Traffic,
) -> Result<u32> {
    steps::callers(ui, traffic).await?;
    steps::swap(ui, host, plugins, events, traffic).await?;
    steps::rollback(ui, host, plugins, events, traffic).await?;
    steps::restart(ui, host, events, traffic).await
}

// ---------------------------------------------------------------------------
// 7. Summary

/// Step 7: what the host holds now, what changed, the calls.
fn summary(
    ui: &Ui,
    host: &plugkit::Host,
    events: &Events<'_>,
    restarts: u32,
    counts: &Counts,
    latencies: &Latencies,
) {
    ui.section(7, "Summary");
    let unresolved = host.unresolved_dependencies();
    let mut serving = Vec::new();
    let mut left_out = Vec::new();
    for status in host.hot_load_status() {
        if status.state == PluginState::Failed {
            left_out.push(match unresolved.get(&status.name) {
                Some(missing) => format!(
                    "{} (requires {}: missing)",
                    status.name,
                    missing.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                None => status.name,
            });
            continue;
        }
        let version = status
            .version
            .as_ref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default();
        let transport = match host.instance(&status.name) {
            Some(instance) if instance.as_process().is_some() => "child process, ",
            Some(_) => "native library, ",
            None => "",
        };
        serving.push(format!(
            "{}{version} ({transport}{})",
            status.name,
            status.state.name()
        ));
    }
    ui.fact("plugins", serving.join(" · "));
    ui.fact(
        "not loaded",
        format_args!(
            "left out: {} · refused: {} · invalid manifests: {}",
            list(&left_out),
            list(&events.refused),
            events.invalid_manifests
        ),
    );
    ui.fact(
        "changes",
        format_args!(
            "{} swap(s), {} rollback(s), {} restart(s)",
            events.swaps, events.rollbacks, restarts
        ),
    );
    ui.fact(
        "calls served",
        format_args!(
            "{} (greeter 1.0.0: {}, greeter 2.0.0: {}, kv-store: {})",
            thousands(counts.served()),
            thousands(counts.greeted[1]),
            thousands(counts.greeted[2]),
            thousands(counts.stored)
        ),
    );
    ui.fact(
        "calls failed",
        format_args!(
            "{} unexpected; {} expected (in flight in the killed process){}",
            counts.failed,
            counts.expected,
            if counts.resent > 0 {
                format!(
                    "; {} refused unsent at the crash and sent again",
                    counts.resent
                )
            } else {
                String::new()
            }
        ),
    );
    ui.fact(
        "latency",
        format_args!(
            "greeter (child process) {}; kv-store (native library) {}",
            percentiles(&latencies.greet),
            percentiles(&latencies.set)
        ),
    );
    ui.check(
        (events.swaps, events.rollbacks, restarts) == (1, 1, 1),
        "1 swap, 1 rollback, 1 restart: what the demo caused, nothing more",
        format_args!(
            "{} swap(s), {} rollback(s), {} restart(s)",
            events.swaps, events.rollbacks, restarts
        ),
    );
    ui.check(
        counts.failed == 0,
        "no call failed unexpectedly",
        format_args!("{} did", counts.failed),
    );
}

// ---------------------------------------------------------------------------
// Helpers

/// Items joined by commas, or `none`.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// Fails the step if any call failed unexpectedly or any answer was
/// wrong, showing the first few.
pub(crate) fn check_no_failures(ui: &Ui, traffic: &Traffic, text: &str) {
    let counts = traffic.counts();
    if counts.failed == 0 {
        ui.ok(text);
        return;
    }
    ui.fail(format_args!(
        "{} call(s) failed or were answered wrongly",
        counts.failed
    ));
    for problem in traffic.problems().iter().take(5) {
        ui.note(format_args!("  {problem}"));
    }
}

/// One line of counters.
pub(crate) fn counter_line(counts: &Counts) -> String {
    format!(
        "{} served (greeter {}, kv-store {}) · {} failed · {} expected failures",
        thousands(counts.served()),
        thousands(counts.greetings()),
        thousands(counts.stored),
        counts.failed,
        counts.expected
    )
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `p50 … · p99 …` of latencies in µs.
fn percentiles(micros: &[u32]) -> String {
    if micros.is_empty() {
        return "no calls".to_string();
    }
    let mut sorted = micros.to_vec();
    sorted.sort_unstable();
    let at = |p: usize| sorted[(sorted.len() - 1) * p / 100];
    format!("p50 {} · p99 {}", duration(at(50)), duration(at(99)))
}

/// Microseconds, readably.
fn duration(micros: u32) -> String {
    if micros < 1_000 {
        format!("{micros} µs")
    } else {
        format!("{:.1} ms", f64::from(micros) / 1_000.0)
    }
}

/// The live counter's text: the callers' counters and what serves now.
fn live_message(
    counts: impl Fn() -> Counts + Send + Sync + 'static,
    host: &plugkit::Host,
) -> impl Fn() -> String + Send + Sync + 'static {
    let host = host.clone();
    move || {
        let serving = |name: &str| {
            host.instance(name)
                .map_or(format!("no {name}"), |i| format!("{name} {}", i.version()))
        };
        format!(
            "{} · serving {}, {}",
            counter_line(&counts()),
            serving("greeter"),
            serving("kv-store")
        )
    }
}
