//! `plugkit watch DIR...`: prints discovery events as they happen, first
//! those of the initial scan, until interrupted (Ctrl-C stops it cleanly,
//! exit 0). A directory named on the command line that does not exist is
//! an IO error (exit 2), as in every command.
//!
//! Text lines are the events' own `Display` (plugin-discovery), escaped so
//! no file can forge a line. With `--json`, one object per line, the
//! discovery stream of the `plugkit run --json` event schema (the events'
//! own JSON form, from plugin-discovery):
//!
//! ```text
//! {"event":"plugin_discovered","stream":"discovery","plugin":..,"version":..,"path":..}
//! {"event":"plugin_updated","stream":"discovery","plugin":..,"version":..,"old_version":..,"path":..}
//! {"event":"plugin_removed","stream":"discovery","plugin":..,"version":..,"path":..}
//! {"event":"manifest_invalid","stream":"discovery","plugin":null,"version":null,"path":..,"error":..,"diagnostics":[DIAGNOSTIC...]}
//! {"event":"plugin_skipped","stream":"discovery","plugin":..,"version":..,"path":..,"reason":..}
//! {"event":"warning","stream":"discovery","plugin":null,"version":null,"message":..}
//! {"event":"lagged","stream":"discovery","plugin":null,"version":null,"missed":N}
//! ```
//!
//! With `--etcd URL` the plugins registered in etcd are watched too (see
//! `scan.rs`): their `path` is `<prefix>/<name>/<version>` (a record's key
//! for `manifest_invalid` and `plugin_skipped`), their events carry
//! `endpoints`, and a change of their instances alone is
//!
//! ```text
//! {"event":"plugin_endpoints_changed","stream":"discovery","plugin":..,"version":..,"path":..,"endpoints":[..],"old_endpoints":[..]}
//! ```
//!
//! An etcd cluster that cannot be reached is reported on stderr and tried
//! again until it answers; the watch resumes where it broke off.
//!
//! `path` is the manifest's path. Errors found while watching (a directory
//! that cannot be read) go to stderr, so stdout stays a clean event stream.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use plugkit::discovery::{DiscoveryEngine, RecvError, WatchBackend, printable, printable_path};
use serde_json::json;

use crate::scan::ScanArgs;

/// Arguments of `plugkit watch`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    scan: ScanArgs,
    /// Print one JSON object per event, one per line.
    #[arg(long)]
    json: bool,
    /// How long a path must stay quiet before its change is reported, in
    /// milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    debounce_ms: u64,
    /// Rescan periodically instead of using the native file watcher.
    #[arg(long)]
    poll: bool,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let mut config = args.scan.config();
    config.debounce = Duration::from_millis(args.debounce_ms);
    if args.poll {
        config.backend = WatchBackend::Poll;
    }
    let engine = Arc::new(DiscoveryEngine::new(config)?);
    args.scan.check_dirs()?;
    engine.set_error_handler(|error| match error.path() {
        Some(path) => eprintln!("warning: {}: {}", printable_path(path), error.reason()),
        None => eprintln!("warning: {}", error.to_string_with_causes()),
    });
    let mut events = engine.subscribe();
    let stopper = Arc::clone(&engine);
    ctrlc::set_handler(move || stopper.stop()).context("cannot handle Ctrl-C")?;
    if !args.json {
        let mut dirs: Vec<String> = engine
            .config()
            .directories
            .iter()
            .map(|d| printable_path(d).into_owned())
            .collect();
        if let Some(source) = &engine.config().etcd {
            dirs.push(format!(
                "etcd {} under {}",
                printable(&source.endpoints.join(",")),
                printable(&source.prefix)
            ));
        }
        eprintln!("watching {} (Ctrl-C to stop)", dirs.join(", "));
    }
    engine.start()?;

    let stdout = io::stdout();
    loop {
        let line = match events.blocking_recv() {
            Ok(event) if args.json => serde_json::to_string(&event)?,
            Ok(event) => event.to_string(),
            Err(RecvError::Lagged(missed)) if args.json => json!({
                "event": "lagged",
                "stream": "discovery",
                "plugin": null,
                "version": null,
                "missed": missed,
            })
            .to_string(),
            Err(RecvError::Lagged(missed)) => {
                format!("warning: output fell behind and missed {missed} events")
            }
            Err(_) => break,
        };
        let mut out = stdout.lock();
        match writeln!(out, "{line}").and_then(|()| out.flush()) {
            Ok(()) => {}
            // The reader went away (`plugkit watch | head`): stop quietly.
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => break,
            Err(error) => return Err(error).context("cannot write to stdout"),
        }
    }
    engine.stop();
    Ok(ExitCode::SUCCESS)
}
