//! Library and plugin log lines (`tracing` events) on stderr, for the
//! commands that run plugins: as text, or with `--json` as objects of the
//! `plugkit run --json` schema, so every stderr line is one JSON object:
//! `{"event": "log", "stream": "plugin" | "host", "level": "info",
//! "message": "...", "plugin": "greeter", ...}`. `stream` is `"plugin"`
//! for what a plugin logged (its SDK logger, or a process plugin's stderr)
//! and `"host"` for plugkit's own lines; the fields of the event and of the
//! spans it happened in (such as `plugin` and `version`) come along.
//!
//! By default a plugin's lines at `info` and above are written, and
//! plugkit's own at `warn` and above (its `info` lines retell the hot-load
//! events, which are written already); `PLUGKIT_LOG` sets one level for
//! both (`error`, `warn`, `info`, `debug`, `trace` or `off`).

use std::io::Write as _;

use plugkit::discovery::printable;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, filter_fn};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The target of the events that carry a plugin's own log lines.
const PLUGIN_TARGET: &str = "plugin_loader::log";

/// Sends `tracing` events to stderr from now on (once per process).
pub(crate) fn install(json: bool) {
    let chosen = std::env::var("PLUGKIT_LOG")
        .ok()
        .and_then(|level| level.parse::<LevelFilter>().ok());
    let filter = filter_fn(move |metadata| {
        let level = chosen.unwrap_or(if metadata.target() == PLUGIN_TARGET {
            LevelFilter::INFO
        } else {
            LevelFilter::WARN
        });
        *metadata.level() <= level
    });
    let _ = tracing_subscriber::registry()
        .with(Lines { json }.with_filter(filter))
        .try_init();
}

/// The layer: one line per event.
struct Lines {
    json: bool,
}

/// The fields of an event or a span, in the order they were recorded.
#[derive(Default)]
struct Fields(Vec<(&'static str, Value)>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), Value::from(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), Value::from(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), Value::from(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), Value::from(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .push((field.name(), Value::from(format!("{value:?}"))));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Lines {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        // The event's own fields first, then those of its spans, innermost
        // first; a name already there keeps its first value.
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if let Some(outer) = span.extensions().get::<Fields>() {
                    fields.0.extend(outer.0.iter().cloned());
                }
            }
        }
        let metadata = event.metadata();
        let stream = if metadata.target() == PLUGIN_TARGET {
            "plugin"
        } else {
            "host"
        };
        let level = metadata.level().as_str().to_ascii_lowercase();
        let line = if self.json {
            json_line(stream, &level, fields)
        } else {
            text_line(stream, &level, fields)
        };
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// `{"event": "log", "stream": .., "level": .., "message": .., fields..}`;
/// a field whose name the schema uses already gets a `field_` prefix.
fn json_line(stream: &str, level: &str, fields: Fields) -> String {
    let mut object = Map::new();
    object.insert("event".into(), "log".into());
    object.insert("stream".into(), stream.into());
    object.insert("level".into(), level.into());
    object.insert("message".into(), Value::Null);
    for (name, value) in fields.0 {
        let key = match name {
            "message" => "message".to_string(),
            "event" | "stream" | "level" => format!("field_{name}"),
            other => other.to_string(),
        };
        if name == "message" || !object.contains_key(&key) {
            object.insert(key, value);
        }
    }
    Value::Object(object).to_string()
}

/// `level [plugin greeter] message (field=value ...)`, escaped for the
/// terminal: plugins write what they like.
fn text_line(stream: &str, level: &str, fields: Fields) -> String {
    let text = |value: &Value| match value {
        Value::String(text) => printable(text).into_owned(),
        other => other.to_string(),
    };
    let mut message = String::new();
    let mut plugin = None;
    let mut rest: Vec<String> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (name, value) in &fields.0 {
        if !seen.insert(*name) {
            continue;
        }
        match *name {
            "message" => message = text(value),
            "plugin" => plugin = Some(text(value)),
            other => rest.push(format!("{other}={}", text(value))),
        }
    }
    let mut line = level.to_string();
    match (stream, plugin) {
        ("plugin", Some(plugin)) => line.push_str(&format!(" [plugin {plugin}]")),
        (_, Some(plugin)) => rest.insert(0, format!("plugin={plugin}")),
        _ => {}
    }
    line.push_str(&format!(" {message}"));
    if !rest.is_empty() {
        line.push_str(&format!(" ({})", rest.join(" ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&'static str, &str)]) -> Fields {
        Fields(pairs.iter().map(|(k, v)| (*k, Value::from(*v))).collect())
    }

    #[test]
    fn json_lines_follow_the_run_schema() {
        let line = json_line(
            "plugin",
            "warn",
            fields(&[
                ("message", "disk almost full"),
                ("plugin", "kv-store"),
                ("stream", "x"),
                ("plugin", "outer span's"),
            ]),
        );
        let value: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(
            value,
            serde_json::json!({"event": "log", "stream": "plugin", "level": "warn",
                "message": "disk almost full", "plugin": "kv-store", "field_stream": "x"})
        );
    }

    #[test]
    fn text_lines_name_the_plugin_and_escape_what_it_wrote() {
        assert_eq!(
            text_line(
                "plugin",
                "info",
                fields(&[("message", "hi\u{1b}[2J"), ("plugin", "greeter")])
            ),
            format!("info [plugin greeter] {}", printable("hi\u{1b}[2J"))
        );
        assert_eq!(
            text_line(
                "host",
                "warn",
                fields(&[
                    ("message", "cannot keep a copy"),
                    ("plugin", "greeter"),
                    ("version", "1.0.0")
                ])
            ),
            "warn cannot keep a copy (plugin=greeter version=1.0.0)"
        );
    }
}
