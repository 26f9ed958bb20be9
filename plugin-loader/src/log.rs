//! Plugin log lines, from either transport, into `tracing` under the
//! plugin's name.

use plugkit_sdk::LogLevel;

/// Records one line a plugin logged.
pub(crate) fn plugin_line(plugin: &str, level: LogLevel, message: &str) {
    match level {
        LogLevel::Trace => tracing::trace!(plugin, "{message}"),
        LogLevel::Debug => tracing::debug!(plugin, "{message}"),
        LogLevel::Info => tracing::info!(plugin, "{message}"),
        LogLevel::Warn => tracing::warn!(plugin, "{message}"),
        _ => tracing::error!(plugin, "{message}"),
    }
}

/// Splits a process plugin's stderr line into its level and message: the
/// SDK writes `[level] message`; anything else is an `info` line as it is.
pub(crate) fn parse_stderr_line(line: &str) -> (LogLevel, &str) {
    line.strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
        .and_then(|(level, message)| Some((LogLevel::from_name(level)?, message)))
        .unwrap_or((LogLevel::Info, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_lines_carry_their_level() {
        assert_eq!(
            parse_stderr_line("[warn] disk almost full"),
            (LogLevel::Warn, "disk almost full")
        );
        assert_eq!(parse_stderr_line("plain"), (LogLevel::Info, "plain"));
        assert_eq!(
            parse_stderr_line("[loud] not a level"),
            (LogLevel::Info, "[loud] not a level")
        );
    }
}
