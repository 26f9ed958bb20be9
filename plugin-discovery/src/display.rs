//! Text for people: [`printable`] and [`printable_path`] make untrusted
//! text (manifest values, file names, IO messages) safe to print on a
//! terminal, and the `Display` of [`DiscoveryEvent`] is the one line (or
//! block) form of an event that every front end prints.
//!
//! A file name or a manifest value may hold ESC, CR, LF or a bidirectional
//! override; printed raw, it can move the cursor, recolour the terminal or
//! forge a line of output that seems to come from another file. Every such
//! character is written as a Rust escape (`\u{1b}`), so one item of output
//! is always one line and says what is really there.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use crate::DiscoveryEvent;

/// Whether `c` must not reach a terminal as it is: control characters (C0,
/// DEL, C1) and the bidirectional embedding, override and isolate
/// characters (which reorder what is shown).
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character (and every bidirectional override)
/// written as a Rust escape (`\u{1b}`); borrowed when there is none.
///
/// ```
/// use plugin_discovery::printable;
///
/// assert_eq!(printable("libgreeter.so"), "libgreeter.so");
/// assert_eq!(printable("x\r\nok: forged"), "x\\u{d}\\u{a}ok: forged");
/// ```
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A path as text safe to print: bytes that are not UTF-8 become U+FFFD
/// (as [`Path::display`] does) and control characters are escaped as by
/// [`printable`]. Every path in discovery's messages, events and errors is
/// written this way.
pub fn printable_path(path: &Path) -> Cow<'_, str> {
    match path.to_string_lossy() {
        Cow::Borrowed(text) => printable(text),
        Cow::Owned(text) => Cow::Owned(printable(&text).into_owned()),
    }
}

/// One event as people read it, the form `plugkit watch` prints:
///
/// ```text
/// discovered greeter 1.0.0 (native) plugins/greeter/plugin-manifest.json
/// updated greeter 1.0.0 -> 1.1.0 plugins/greeter/plugin-manifest.json
/// endpoints greeter 1.1.0 127.0.0.1:7001,127.0.0.1:7002 (was 127.0.0.1:7001) /plugkit/plugins/greeter/1.1.0
/// removed greeter 1.1.0 plugins/greeter/plugin-manifest.json
/// invalid plugins/broken/plugin-manifest.yaml
///   plugins/broken/plugin-manifest.yaml: error: version: ...
/// skipped plugins/old/plugin-manifest.yaml: shadowed by ... in the same directory
/// warning: native file watching is unavailable (...); falling back to polling every 1000 ms
/// ```
///
/// Only an invalid manifest takes more than one line (one more per error,
/// indented). Paths and every text taken from the files are escaped
/// ([`printable`]), so no event can print a line that is not its own.
impl fmt::Display for DiscoveryEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryEvent::Discovered { plugin } => write!(
                f,
                "discovered {} {} ({}) {}",
                printable(plugin.name()),
                plugin.version(),
                plugin.transport(),
                printable_path(&plugin.manifest_path)
            ),
            DiscoveryEvent::Updated {
                plugin,
                old_version,
            } => write!(
                f,
                "updated {} {old_version} -> {} {}",
                printable(plugin.name()),
                plugin.version(),
                printable_path(&plugin.manifest_path)
            ),
            DiscoveryEvent::EndpointsChanged {
                plugin,
                old_endpoints,
            } => write!(
                f,
                "endpoints {} {} {} (was {}) {}",
                printable(plugin.name()),
                plugin.version(),
                printable(&plugin.endpoints().collect::<Vec<_>>().join(",")),
                printable(&old_endpoints.join(",")),
                printable_path(&plugin.manifest_path)
            ),
            DiscoveryEvent::Removed {
                name,
                version,
                path,
            } => write!(
                f,
                "removed {} {version} {}",
                printable(name),
                printable_path(path)
            ),
            DiscoveryEvent::ManifestInvalid { path, diagnostics } => {
                let file = printable_path(path);
                write!(f, "invalid {file}")?;
                for diagnostic in diagnostics.iter().filter(|d| d.is_error()) {
                    let line = diagnostic.display_in(&file).to_string();
                    write!(f, "\n  {}", printable(&line))?;
                }
                Ok(())
            }
            DiscoveryEvent::Skipped { path, reason } => {
                write!(f, "skipped {}: {reason}", printable_path(path))
            }
            DiscoveryEvent::Warning { message } => write!(f, "warning: {}", printable(message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("\u{202e}txt.so"), "\\u{202e}txt.so");
        assert_eq!(printable("tab\there"), "tab\\u{9}here");
        assert!(matches!(printable("plain ünïcode"), Cow::Borrowed(_)));
    }

    #[cfg(unix)]
    #[test]
    fn paths_are_lossy_and_escaped() {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"a\xff/b\nok: c"));
        assert_eq!(printable_path(path), "a\u{fffd}/b\\u{a}ok: c");
    }
}
