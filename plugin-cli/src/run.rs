//! `plugkit run DIR... [--json] [--cache DIR] [scan flags]`: a host with
//! auto-loading over the directories, answering calls from stdin.
//!
//! A contract scripts rely on (names and shapes exactly):
//!
//! - **stdin**: one JSON call per line,
//!   `{"id": 1, "plugin": "greeter", "method": "greet", "payload": {"name": "Ada"}}`;
//!   `payload` is the method's request as JSON (default `null`); `id` is any
//!   JSON number or string, echoed back as given (duplicates are answered
//!   each). The initial load finishes before calls are answered (calls read
//!   meanwhile wait). A line longer than [`MAX_CALL_LINE`] bytes is an
//!   invalid call.
//! - **stdout**: one line per call, in any order, matched by `id`:
//!   `{"id": 1, "ok": true, "plugin": "greeter", "version": "1.0.0", "result": {...}}`
//!   (`version`: the version of the instance that answered; `result`: the
//!   method's reply as JSON), or `{"id": 1, "ok": false, "error": "..."}`. A
//!   line that is not a valid call gets `{"id": null, "ok": false, "error":
//!   "..."}` (with its `id` where one could be read), and the host goes on.
//! - **status**: a stdin line `{"id": 2, "query": "status"}` is answered on
//!   stdout with the host's `hot_load_status()`: `{"id": 2, "ok": true,
//!   "status": [{"plugin": "greeter", "state": "running", "version":
//!   "1.0.0", "last_error": null, "for_ms": 1520, "in_flight": 0, "calls":
//!   14, "rollback_target": null}, ...]}`, one object per plugin the host
//!   knows of, by name (`state`: `loading`, `running`, `swapping`,
//!   `restarting`, `unloading`, `failed` or `unloaded`; `for_ms`: how long
//!   it has been in that state).
//! - **stderr**: events as they happen; with `--json` one JSON object per
//!   line with `"event"` and `"stream"` (`"discovery"` or `"hot_load"`):
//!   discovery `plugin_discovered`, `plugin_updated`, `plugin_removed`,
//!   `manifest_invalid` (and its other events, such as `plugin_skipped`,
//!   and `plugin_endpoints_changed` for a plugin registered in etcd whose
//!   set of instances changed, with `endpoints` and `old_endpoints`);
//!   hot-load `plugin_loading`, `plugin_loaded`, `plugin_load_failed`,
//!   `plugin_unloading`, `plugin_unloaded`, `plugin_updated` (sent once new
//!   calls go to the new version), `plugin_rolled_back`,
//!   `plugin_update_refused`, and for a running process plugin
//!   `plugin_crashed`, `plugin_restarted` (with `attempt`) and
//!   `plugin_failed`, and for a remote plugin `plugin_endpoint_down` and
//!   `plugin_endpoint_up` (with `endpoint`); each with `plugin` and
//!   `version` (`null` where
//!   unknown) and `old_version`, `path`, `error`/`reason` where they apply.
//!   Log lines, the command's own and those of the host and the plugins
//!   (`tracing` events, at `info` and above unless `PLUGKIT_LOG` says
//!   otherwise), are `{"event": "log", "stream": "host" | "plugin",
//!   "level": .., "message": .., ..}` (see `logs.rs`).
//! - Native copies and kept versions live in a cache directory (`--cache
//!   DIR`, default a fresh directory under the system's temporary
//!   directory, removed at exit).
//! - `--etcd URL [--etcd-prefix P]` (beside or instead of directories)
//!   adds the plugins registered in etcd (`plugkit register`), each a gRPC
//!   plugin with its instances' endpoints.
//! - EOF on stdin or Ctrl-C: stop taking calls, answer those in flight,
//!   shut every plugin down in reverse load order, exit 0.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use plugkit::host::{DynamicLoader, HostConfig, HostEvent};
use plugkit::loader::LoaderConfig;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::lines::{Line, read_line};
use crate::scan::ScanArgs;

/// The longest call line read, in bytes (without its line ending).
pub(crate) const MAX_CALL_LINE: usize = 16 << 20;

/// Arguments of `plugkit run`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    scan: ScanArgs,
    /// Write events to stderr as JSON, one object per line.
    #[arg(long)]
    json: bool,
    /// Where native copies and kept versions live (default: a fresh
    /// temporary directory, removed at exit).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    crate::logs::install(args.json);
    args.scan.check_dirs()?;
    let temporary = match &args.cache {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("plugkit-run-")
                .tempdir()
                .context("cannot create the cache directory")?,
        ),
    };
    let cache = args
        .cache
        .clone()
        .or_else(|| temporary.as_ref().map(|t| t.path().to_path_buf()))
        .context("a cache directory")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(&args, cache));
    drop(temporary);
    result
}

/// A line to stderr, as JSON or text.
fn log(json: bool, level: &str, message: &str) {
    let line = if json {
        json!({"event": "log", "stream": "host", "level": level, "message": message}).to_string()
    } else {
        format!("{level}: {message}")
    };
    let _ = writeln!(io::stderr().lock(), "{line}");
}

async fn serve(args: &Args, cache: PathBuf) -> Result<ExitCode> {
    let json = args.json;
    let config = HostConfig::default().with_loader(LoaderConfig::default().with_cache_dir(cache));
    let host = DynamicLoader::new(args.scan.config(), config)?;
    let mut events = host.subscribe();
    let printer = tokio::spawn(async move {
        loop {
            let line = match events.recv().await {
                Ok(event) => event_line(&event, json),
                Err(plugkit::events::RecvError::Lagged(missed)) => {
                    if json {
                        json!({"event": "lagged", "stream": "host", "plugin": null, "version": null, "missed": missed}).to_string()
                    } else {
                        format!("warning: missed {missed} events")
                    }
                }
                Err(_) => return,
            };
            let _ = writeln!(io::stderr().lock(), "{line}");
        }
    });

    // Calls are read (on a thread of their own, so a slow reader holds up
    // nothing) while the initial load runs, and answered once it is done.
    let (lines, mut incoming) = mpsc::channel::<Line2>(1024);
    std::thread::Builder::new()
        .name("plugkit-run-stdin".into())
        .spawn(move || read_calls(lines))
        .context("cannot start the stdin reader")?;
    let (stop_tx, mut stop) = mpsc::unbounded_channel::<()>();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("cannot handle Ctrl-C")?;

    let report = host.start().await?;
    if !json {
        log(
            false,
            "info",
            &format!(
                "{} plugin(s) loaded, {} failed; reading calls from stdin",
                report.loaded.len(),
                report.failed.len()
            ),
        );
    }
    host.enable_auto_loading()?;

    let stdout = Arc::new(Mutex::new(io::stdout()));
    let mut calls = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            line = incoming.recv() => match line {
                Some(Line2::Call(text)) => {
                    let (host, stdout) = (host.clone(), Arc::clone(&stdout));
                    calls.spawn(async move {
                        let answer = answer(&host, &text).await;
                        write_line(&stdout, &answer);
                    });
                }
                Some(Line2::TooLong(length)) => write_line(
                    &stdout,
                    &json!({"id": null, "ok": false, "error": format!(
                        "the call line is {length} bytes, more than the limit of {MAX_CALL_LINE} bytes"
                    )}),
                ),
                Some(Line2::Failed(error)) => {
                    log(json, "error", &format!("cannot read standard input: {error}"));
                    break;
                }
                None => break,
            },
            _ = stop.recv() => break,
            // Finished calls are collected as they end.
            Some(_) = calls.join_next(), if !calls.is_empty() => {}
        }
    }
    while calls.join_next().await.is_some() {}
    host.shutdown().await;
    drop(host);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), printer).await;
    Ok(ExitCode::SUCCESS)
}

/// What the stdin reader hands over.
enum Line2 {
    Call(String),
    TooLong(u64),
    Failed(String),
}

fn read_calls(lines: mpsc::Sender<Line2>) {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut buf = Vec::new();
    loop {
        let line = match read_line(&mut input, &mut buf, MAX_CALL_LINE) {
            Ok(Line::End) => return,
            Ok(Line::Read) if buf.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(Line::Read) => Line2::Call(String::from_utf8_lossy(&buf).into_owned()),
            Ok(Line::TooLong(length)) => Line2::TooLong(length),
            Err(error) => Line2::Failed(error.to_string()),
        };
        if lines.blocking_send(line).is_err() {
            return;
        }
    }
}

/// Answers one call line, as the JSON object to print.
async fn answer(host: &DynamicLoader, line: &str) -> Value {
    let call: Value = match serde_json::from_str(line) {
        Ok(call) => call,
        Err(error) => {
            return json!({"id": null, "ok": false, "error": format!("invalid JSON: {error}")});
        }
    };
    let id = match call.get("id") {
        Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
        Some(Value::Null) | None => Value::Null,
        Some(_) => {
            return json!({"id": null, "ok": false, "error": "invalid call: `id` must be a number or a string"});
        }
    };
    let Some(object) = call.as_object() else {
        return json!({"id": id, "ok": false, "error": "invalid call: expected a JSON object"});
    };
    let field = |name: &str| object.get(name).and_then(Value::as_str);
    if let Some(query) = object.get("query") {
        return match query.as_str() {
            Some("status") => json!({"id": id, "ok": true, "status": status(host)}),
            _ => json!({"id": id, "ok": false, "error": format!(
                "invalid query {query}: the one query is \"status\""
            )}),
        };
    }
    let (Some(plugin), Some(method)) = (field("plugin"), field("method")) else {
        return json!({"id": id, "ok": false, "error": "invalid call: `plugin` and `method` must be strings"});
    };
    let payload = object.get("payload").cloned().unwrap_or(Value::Null);
    match host.call_json(plugin, method, &payload).await {
        Ok(reply) => json!({
            "id": id,
            "ok": true,
            "plugin": plugin,
            "version": reply.version.to_string(),
            "result": reply.result,
        }),
        Err(error) => json!({"id": id, "ok": false, "error": error.to_string()}),
    }
}

/// The host's `hot_load_status()` as the `status` query's JSON.
fn status(host: &DynamicLoader) -> Value {
    let mut plugins = host.hot_load_status();
    plugins.sort_by(|a, b| a.name.cmp(&b.name));
    plugins
        .iter()
        .map(|plugin| {
            json!({
                "plugin": plugin.name,
                "state": plugin.state.name(),
                "version": plugin.version.as_ref().map(ToString::to_string),
                "last_error": plugin.last_error,
                "for_ms": plugin.since.elapsed().as_millis() as u64,
                "in_flight": plugin.in_flight,
                "calls": plugin.calls,
                "rollback_target": plugin.rollback_target.as_ref().map(ToString::to_string),
            })
        })
        .collect()
}

fn write_line(stdout: &Mutex<io::Stdout>, value: &Value) {
    let stdout = stdout
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out = stdout.lock();
    let _ = writeln!(out, "{value}").and_then(|()| out.flush());
}

/// One event as a stderr line.
fn event_line(event: &HostEvent, json: bool) -> String {
    match event {
        HostEvent::Discovery(event) if json => serde_json::to_string(event.as_ref())
            .unwrap_or_else(|e| {
                json!({"event": "log", "level": "error", "message": e.to_string()}).to_string()
            }),
        HostEvent::Discovery(event) => format!("discovery: {event}"),
        HostEvent::HotLoad(event) if json => event.to_json().to_string(),
        HostEvent::HotLoad(event) => format!(
            "hot-load: {}",
            plugkit::discovery::printable(&event.to_string())
        ),
        _ => String::new(),
    }
}
