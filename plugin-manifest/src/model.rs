//! The validated manifest model. Every value here has passed validation:
//! fields are private and read through getters, so a `Manifest` in hand is
//! always a valid one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use plugin_version::{Constraint, Version};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// A validated plugin manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub(crate) name: String,
    #[serde(serialize_with = "display")]
    pub(crate) version: Version,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) author: Option<String>,
    pub(crate) capabilities: Vec<String>,
    pub(crate) transport: Transport,
    pub(crate) endpoint: String,
    pub(crate) requirements: Requirements,
    pub(crate) resources: Resources,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) checksum: Option<Checksum>,
    pub(crate) metadata: BTreeMap<String, Value>,
}

impl Manifest {
    /// The plugin's name (see the crate docs for the naming rule).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// A one-line description, if given.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The author, if given.
    pub fn author(&self) -> Option<&str> {
        self.author.as_deref()
    }

    /// What the plugin can do, as the manifest lists it (duplicates removed).
    pub fn capabilities(&self) -> &[String] {
        &self.capabilities
    }

    /// Whether the manifest lists `capability`.
    pub fn has_capability(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }

    /// How the plugin is reached.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The endpoint as written: a path relative to the manifest's directory
    /// for local transports, `host:port` for gRPC.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The artifact to load for a local transport (`native` library or
    /// `process` executable): the endpoint joined to the manifest's
    /// directory. `None` for remote transports. Validation guarantees the
    /// path stays inside `manifest_dir`.
    pub fn artifact_path(&self, manifest_dir: &Path) -> Option<PathBuf> {
        self.transport
            .is_local()
            .then(|| manifest_dir.join(&self.endpoint))
    }

    /// What the plugin requires of other plugins and of the host.
    pub fn requirements(&self) -> &Requirements {
        &self.requirements
    }

    /// Resource limits the host applies to the plugin.
    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    /// The expected checksum of the artifact, verified before it is loaded.
    pub fn checksum(&self) -> Option<&Checksum> {
        self.checksum.as_ref()
    }

    /// Free-form metadata, as written.
    pub fn metadata(&self) -> &BTreeMap<String, Value> {
        &self.metadata
    }
}

/// How a plugin is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Transport {
    /// A `cdylib` loaded into the host process; the endpoint is the library file.
    Native,
    /// A child process speaking plugkit's framed protocol over stdio; the
    /// endpoint is the executable. Written `process` or `subprocess`.
    Process,
    /// A remote gRPC service; the endpoint is `host:port`.
    Grpc,
}

impl Transport {
    /// Every accepted spelling, with the transport it names.
    pub const SPELLINGS: &'static [(&'static str, Transport)] = &[
        ("native", Transport::Native),
        ("process", Transport::Process),
        ("subprocess", Transport::Process),
        ("grpc", Transport::Grpc),
    ];

    /// Whether the endpoint is a file next to the manifest.
    pub fn is_local(self) -> bool {
        matches!(self, Transport::Native | Transport::Process)
    }

    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Native => "native",
            Transport::Process => "process",
            Transport::Grpc => "grpc",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a plugin requires.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Requirements {
    pub(crate) required_plugins: Vec<Dependency>,
    pub(crate) optional_plugins: Vec<Dependency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) plugkit_version: Option<Constraint>,
}

impl Requirements {
    /// Plugins that must be loaded first; without them this plugin fails.
    pub fn required_plugins(&self) -> &[Dependency] {
        &self.required_plugins
    }

    /// Plugins used when present in a compatible version; never a reason to fail.
    pub fn optional_plugins(&self) -> &[Dependency] {
        &self.optional_plugins
    }

    /// The plugkit host versions this plugin works with (`plugkit_version`
    /// in the manifest), if it says.
    pub fn plugkit_version(&self) -> Option<&Constraint> {
        self.plugkit_version.as_ref()
    }
}

/// A dependency on another plugin: its name and the versions accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Dependency {
    pub(crate) name: String,
    #[serde(rename = "version")]
    pub(crate) constraint: Constraint,
}

impl Dependency {
    /// The plugin depended on.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The versions accepted (`*` when the manifest gave only a name).
    pub fn constraint(&self) -> &Constraint {
        &self.constraint
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.constraint)
    }
}

/// Resource limits the host applies to a plugin (enforced for process
/// plugins; advisory for native ones, which share the host's process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Resources {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_memory_mb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_cpu_cores: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_file_handles: Option<u64>,
}

impl Resources {
    /// Allowed range of `max_memory_mb`: 1 MiB to 1 TiB.
    pub const MEMORY_MB: (u64, u64) = (1, 1 << 20);
    /// Allowed range of `max_cpu_cores`.
    pub const CPU_CORES: (u64, u64) = (1, 1024);
    /// Allowed range of `max_file_handles`.
    pub const FILE_HANDLES: (u64, u64) = (1, 1 << 20);

    /// Memory limit in MiB.
    pub fn max_memory_mb(&self) -> Option<u64> {
        self.max_memory_mb
    }

    /// How many CPU cores the plugin may use.
    pub fn max_cpu_cores(&self) -> Option<u32> {
        self.max_cpu_cores
    }

    /// How many files the plugin may have open at once.
    pub fn max_file_handles(&self) -> Option<u64> {
        self.max_file_handles
    }
}

/// The expected digest of a plugin's artifact, written `sha256:HEX`.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Checksum {
    /// A SHA-256 digest.
    Sha256([u8; 32]),
}

impl Checksum {
    /// Parses `sha256:` followed by 64 hex digits (either case).
    pub fn parse(text: &str) -> Option<Checksum> {
        let hex = text.strip_prefix("sha256:")?;
        if hex.len() != 64 {
            return None;
        }
        let mut digest = [0u8; 32];
        for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Checksum::Sha256(digest))
    }

    /// The SHA-256 digest, when this is one.
    pub fn sha256(&self) -> Option<&[u8; 32]> {
        match self {
            Checksum::Sha256(digest) => Some(digest),
        }
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checksum::Sha256(digest) => {
                f.write_str("sha256:")?;
                digest.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Checksum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn display<T: fmt::Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}
