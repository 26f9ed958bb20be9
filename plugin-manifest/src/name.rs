//! The plugin naming rule, shared by manifests, dependencies and the CLI.

/// The longest plugin name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Why a plugin name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid plugin name {name:?}: {reason}")]
pub struct InvalidName {
    name: String,
    reason: &'static str,
}

impl InvalidName {
    /// The name as given.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Checks a plugin name against the rule: 1 to 64 characters; lowercase
/// ASCII letters and digits in words joined by single `-`, `_` or `.`;
/// starting with a letter (`auth-service`, `fraud_detection`,
/// `com.example.greeter`, `kv2`).
///
/// Why so strict: names become file names, cache keys, log fields and CLI
/// arguments (`--want NAME@CONSTRAINT`), so no spaces, no `@`, no case
/// games (`Auth` vs `auth`), nothing a shell or a file system treats
/// specially.
pub fn check_plugin_name(name: &str) -> Result<(), InvalidName> {
    let refuse = |reason| {
        Err(InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    let bytes = name.as_bytes();
    let Some(&first) = bytes.first() else {
        return refuse("a name cannot be empty");
    };
    if bytes.len() > MAX_NAME_LEN {
        return refuse("a name has at most 64 characters");
    }
    if !first.is_ascii_lowercase() {
        return refuse("a name starts with a lowercase ASCII letter");
    }
    let is_separator = |b: u8| matches!(b, b'-' | b'_' | b'.');
    let mut previous = first;
    for &b in &bytes[1..] {
        if is_separator(b) {
            if is_separator(previous) {
                return refuse("separators `-`, `_` and `.` cannot follow one another");
            }
        } else if !(b.is_ascii_lowercase() || b.is_ascii_digit()) {
            return refuse("use only lowercase ASCII letters, digits, `-`, `_` and `.`");
        }
        previous = b;
    }
    if is_separator(previous) {
        return refuse("a name cannot end with `-`, `_` or `.`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_rule() {
        for name in [
            "auth-service",
            "fraud_detection",
            "com.example.greeter",
            "kv2",
            "a",
        ] {
            assert_eq!(check_plugin_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn refuses_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("Auth", "starts with a lowercase"),
            ("1password", "starts with a lowercase"),
            ("auth service", "only lowercase"),
            ("auth@1", "only lowercase"),
            ("auth--service", "follow one another"),
            ("auth-", "cannot end"),
            ("é", "starts with a lowercase"),
        ];
        for (name, reason) in cases {
            let error = check_plugin_name(name).expect_err(name).to_string();
            assert!(error.contains(reason), "{name}: {error}");
        }
        let long = "a".repeat(65);
        assert!(check_plugin_name(&long).is_err());
    }
}
