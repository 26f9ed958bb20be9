//! The JSON Schema of the manifest format, checked in at
//! `schema/plugin-manifest.schema.json` for editors and other tools.
//!
//! The schema is generated here from a description of the file format (not
//! from `Manifest`, which is the validated model) and compared with the
//! checked-in file; run with `UPDATE_SCHEMA=1` to rewrite it. A second test
//! keeps the schema's field names equal to the fields the validator reads,
//! so the two cannot drift apart.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use schemars::{JsonSchema, schema_for};

/// A plugkit plugin manifest (`plugin-manifest.json`, `.yaml` or `.yml`).
#[derive(JsonSchema)]
#[schemars(title = "plugkit plugin manifest")]
struct ManifestFile {
    /// The JSON Schema this file follows (ignored by plugkit).
    #[serde(rename = "$schema")]
    schema: Option<String>,
    /// Plugin name: lowercase ASCII letters and digits in words joined by single `-`, `_` or `.`, starting with a letter, at most 64 characters.
    #[schemars(
        regex(pattern = r"^[a-z][a-z0-9]*([-_.][a-z0-9]+)*$"),
        length(max = 64)
    )]
    name: String,
    /// Semantic version 2.0 (`1.2.3`, `2.0.0-rc.1`).
    version: String,
    /// One-line description.
    description: Option<String>,
    /// Author or owning team.
    author: Option<String>,
    /// What the plugin can do.
    capabilities: Option<Vec<String>>,
    /// How the plugin is reached.
    transport: TransportName,
    /// `native`/`process`: the artifact's path relative to the manifest's directory (never outside it); `grpc`: `host:port`.
    endpoint: String,
    /// What the plugin requires of other plugins and of the host.
    requirements: Option<RequirementsFile>,
    /// Resource limits applied to the plugin.
    resources: Option<ResourcesFile>,
    /// Checksum of the artifact, `sha256:` followed by 64 hex digits; verified before loading.
    #[schemars(regex(pattern = r"^sha256:[0-9a-fA-F]{64}$"))]
    checksum: Option<String>,
    /// Free-form metadata.
    metadata: Option<BTreeMap<String, serde_json::Value>>,
}

/// Transport names; `subprocess` is a synonym of `process`.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
enum TransportName {
    /// A cdylib loaded in-process.
    Native,
    /// A child process speaking plugkit's protocol over stdio.
    Process,
    /// Synonym of `process`.
    Subprocess,
    /// A remote gRPC service.
    Grpc,
}

/// Requirements.
#[derive(JsonSchema)]
struct RequirementsFile {
    /// Plugins that must be loaded first.
    required_plugins: Option<Vec<DependencyFile>>,
    /// Plugins used when available in a compatible version.
    optional_plugins: Option<Vec<DependencyFile>>,
    /// npm-style constraint on the plugkit host version.
    plugkit_version: Option<String>,
}

/// A dependency: `"name"`, `"name CONSTRAINT"`, or `{name, version}`.
#[derive(JsonSchema)]
#[serde(untagged)]
enum DependencyFile {
    /// A name, optionally followed by whitespace and an npm-style constraint.
    Text(String),
    /// A name and a constraint.
    Map {
        /// The plugin depended on.
        name: String,
        /// npm-style constraint; any version when absent.
        version: Option<String>,
    },
}

/// Resource limits.
#[derive(JsonSchema)]
struct ResourcesFile {
    /// Memory limit in MiB.
    #[schemars(range(min = 1, max = 1048576))]
    max_memory_mb: Option<u64>,
    /// CPU cores.
    #[schemars(range(min = 1, max = 1024))]
    max_cpu_cores: Option<u32>,
    /// Open files.
    #[schemars(range(min = 1, max = 1048576))]
    max_file_handles: Option<u64>,
}

fn generated() -> String {
    let schema = schema_for!(ManifestFile);
    let mut text = serde_json::to_string_pretty(&schema).expect("schema serializes");
    text.push('\n');
    text
}

#[test]
fn checked_in_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/plugin-manifest.schema.json");
    let fresh = generated();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &fresh).expect("write schema");
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "{} is out of date: run `UPDATE_SCHEMA=1 cargo test -p plugin-manifest --test schema`",
        path.display()
    );
}

#[test]
fn schema_fields_are_the_validators_fields() {
    let schema: serde_json::Value = serde_json::from_str(&generated()).expect("valid JSON");
    let keys = |value: &serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = value
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        keys.retain(|k| k != "$schema");
        keys.sort();
        keys
    };
    let sorted = |fields: &[&str]| {
        let mut fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        fields.sort();
        fields
    };
    assert_eq!(
        keys(&schema["properties"]),
        sorted(plugin_manifest::TOP_LEVEL_FIELDS)
    );
    let defs = &schema["$defs"];
    assert_eq!(
        keys(&defs["RequirementsFile"]["properties"]),
        sorted(plugin_manifest::REQUIREMENT_FIELDS)
    );
    assert_eq!(
        keys(&defs["ResourcesFile"]["properties"]),
        sorted(plugin_manifest::RESOURCE_FIELDS)
    );
}
