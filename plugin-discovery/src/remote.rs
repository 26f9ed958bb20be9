//! The etcd source's contract and its pure half: [`EtcdSource`] (where to
//! look), the records read from etcd, the selection that turns them into a
//! [`Discovery`], and the merge of that with the directories' discovery.
//! Compiled whatever the features, so a configuration can name an etcd
//! source in any build and the selection is tested without a server; the
//! client that fills the records is `etcd.rs` (feature `etcd`).

// Without the `etcd` feature nothing fills records; their selection is
// still compiled, and unit-tested.
#![cfg_attr(not(feature = "etcd"), allow(dead_code))]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use plugin_manifest::{Diagnostic, Limits, Manifest, Transport};
use plugin_version::Version;

use crate::config::Compiled;
use crate::{
    DiscoveredPlugin, Discovery, DiscoveryError, InvalidManifest, RegisteredInstance, SkipReason,
    SkippedPlugin,
};

/// The key prefix under which plugin instances register by default.
pub const DEFAULT_ETCD_PREFIX: &str = "/plugkit/plugins";

/// An etcd cluster to discover plugins in, beside the search directories
/// ([`DiscoveryConfig::with_etcd`](crate::DiscoveryConfig::with_etcd)).
///
/// The record is a contract: each running instance of a plugin writes
/// one key `<prefix>/<name>/<version>/<instance-id>` whose value is its
/// manifest as JSON, with `transport: grpc` and `endpoint` the `host:port`
/// it listens on, bound to a lease it keeps alive
/// ([`Registration`](crate::Registration), `plugkit register`). Discovery
/// watches the prefix: the instances of one name and version are one
/// discovered plugin with a set of endpoints.
///
/// A configuration type (public fields, defaults, `with_<field>`);
/// [`EtcdSource::new`] takes the endpoints, the one value without a
/// default. Watching etcd needs this crate's `etcd` feature: without it,
/// a configuration naming a source is refused
/// ([`ConfigError::EtcdUnavailable`](crate::ConfigError::EtcdUnavailable)).
///
/// ```
/// use plugin_discovery::{DiscoveryConfig, EtcdSource};
///
/// let config = DiscoveryConfig::new(["plugins"])
///     .with_etcd(EtcdSource::new(["http://127.0.0.1:2379"]).with_prefix("/shop/plugins"));
/// assert_eq!(config.etcd.unwrap().prefix, "/shop/plugins");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EtcdSource {
    /// The cluster's client URLs (`http://127.0.0.1:2379`); requests are
    /// balanced over them.
    pub endpoints: Vec<String>,
    /// The key prefix the records live under, without a trailing `/`.
    /// Default [`DEFAULT_ETCD_PREFIX`].
    pub prefix: String,
    /// How long connecting, listing or starting a watch may take before
    /// the attempt counts as failed (and is retried). Default 5 s.
    pub connect_timeout: Duration,
    /// The longest wait between two attempts to reach a cluster that does
    /// not answer (waits start at 50 ms and double). Default 1 s.
    pub retry_interval: Duration,
}

impl EtcdSource {
    /// A source at `endpoints`, with every other option at its default.
    pub fn new<I, S>(endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        EtcdSource {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            ..EtcdSource::default()
        }
    }

    /// Sets [`endpoints`](Self::endpoints): the cluster's client URLs.
    pub fn with_endpoints<I, S>(mut self, endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.endpoints = endpoints.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`prefix`](Self::prefix): the key prefix of the records.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout): how long one attempt may take.
    pub fn with_connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// Sets [`retry_interval`](Self::retry_interval): the longest wait between attempts.
    pub fn with_retry_interval(mut self, retry_interval: Duration) -> Self {
        self.retry_interval = retry_interval;
        self
    }

    /// The prefix as keys use it: without trailing `/`.
    pub fn key_prefix(&self) -> &str {
        self.prefix.trim_end_matches('/')
    }

    /// The key of one instance's record:
    /// `<prefix>/<name>/<version>/<instance_id>`.
    pub fn record_key(&self, name: &str, version: &Version, instance_id: &str) -> String {
        format!("{}/{name}/{version}/{instance_id}", self.key_prefix())
    }

    /// The endpoints joined for messages.
    pub(crate) fn shown(&self) -> String {
        self.endpoints.join(",")
    }
}

impl Default for EtcdSource {
    fn default() -> Self {
        EtcdSource {
            endpoints: Vec::new(),
            prefix: DEFAULT_ETCD_PREFIX.to_string(),
            connect_timeout: Duration::from_secs(5),
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// One record read from etcd.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    /// When the key was created (the instance registered): the earliest
    /// live instance's manifest is the plugin's.
    pub(crate) create_revision: i64,
    pub(crate) outcome: RecordOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RecordOutcome {
    Parsed {
        manifest: Box<Manifest>,
        warnings: Vec<Diagnostic>,
    },
    Invalid(Vec<Diagnostic>),
}

/// Every record under the prefix, by key.
pub(crate) type Records = BTreeMap<String, Record>;

/// The file name a record's value is parsed as (its format is JSON; the
/// name is what diagnostics would mention).
pub(crate) const RECORD_FILE_NAME: &str = "plugin-manifest.json";

/// Reads one record's value.
pub(crate) fn read_record(limits: &Limits, value: &[u8], create_revision: i64) -> Record {
    let outcome = match plugin_manifest::parse_with(value, RECORD_FILE_NAME, limits) {
        Ok(parsed) => RecordOutcome::Parsed {
            manifest: Box::new(parsed.manifest),
            warnings: parsed.warnings,
        },
        Err(errors) => RecordOutcome::Invalid(errors.diagnostics().to_vec()),
    };
    Record {
        create_revision,
        outcome,
    }
}

/// The records as a discovery: one plugin per name and version, whose
/// instances are its valid records; invalid values as invalid manifests
/// at their key; records that break the contract (another transport than
/// gRPC, a key that does not match the manifest) and plugins the filters
/// refuse as skipped. Sorted like every [`Discovery`].
pub(crate) fn select_records(
    config: &Compiled,
    source: &EtcdSource,
    records: &Records,
) -> Discovery {
    let prefix = source.key_prefix();
    let mut discovery = Discovery::default();
    // (name, version) -> its valid records: (create revision, key, id, manifest, warnings)
    type Member<'a> = (i64, &'a str, &'a str, &'a Manifest, &'a [Diagnostic]);
    let mut groups: BTreeMap<(&str, &Version), Vec<Member<'_>>> = BTreeMap::new();
    for (key, record) in records {
        let (manifest, warnings) = match &record.outcome {
            RecordOutcome::Invalid(diagnostics) => {
                discovery.invalid.push(InvalidManifest {
                    path: PathBuf::from(key),
                    diagnostics: diagnostics.clone(),
                });
                continue;
            }
            RecordOutcome::Parsed { manifest, warnings } => (&**manifest, warnings),
        };
        let skip = |reason| SkippedPlugin {
            path: PathBuf::from(key),
            manifest: Some(manifest.clone()),
            reason,
        };
        if manifest.transport() != Transport::Grpc {
            discovery
                .skipped
                .push(skip(SkipReason::TransportNotAllowed {
                    transport: manifest.transport(),
                }));
            continue;
        }
        let version = manifest.version().to_string();
        let id = key
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.strip_prefix(manifest.name()))
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.strip_prefix(version.as_str()))
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|id| !id.is_empty() && !id.contains('/'));
        let Some(id) = id else {
            discovery.skipped.push(skip(SkipReason::RecordKey {
                expected: format!("{prefix}/{}/{version}/<instance-id>", manifest.name()),
            }));
            continue;
        };
        groups
            .entry((manifest.name(), manifest.version()))
            .or_default()
            .push((record.create_revision, key, id, manifest, warnings));
    }
    for ((name, version), mut members) in groups {
        // The earliest registered instance speaks for the plugin.
        members.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let (_, _, _, manifest, warnings) = members[0];
        let mut instances: Vec<RegisteredInstance> = members
            .iter()
            .map(|(_, key, id, manifest, _)| RegisteredInstance {
                id: id.to_string(),
                endpoint: manifest.endpoint().to_string(),
                key: key.to_string(),
            })
            .collect();
        instances.sort();
        let plugin = DiscoveredPlugin {
            manifest: manifest.clone(),
            manifest_path: PathBuf::from(format!("{prefix}/{name}/{version}")),
            artifact_path: None,
            warnings: warnings.to_vec(),
            instances,
        };
        match crate::select::filter(config, &plugin) {
            Some(reason) => discovery.skipped.push(SkippedPlugin {
                path: plugin.manifest_path,
                manifest: Some(plugin.manifest),
                reason,
            }),
            None => discovery.plugins.push(plugin),
        }
    }
    sort(&mut discovery);
    discovery
}

/// The directories' discovery and the etcd source's as one. A name and
/// version found in both is the directory's (local first, as an earlier
/// search directory wins): the registered one is skipped as its
/// duplicate.
pub(crate) fn merge(files: &Discovery, remote: &Discovery) -> Discovery {
    let mut merged = files.clone();
    let local: HashMap<(&str, &Version), &PathBuf> = files
        .plugins
        .iter()
        .map(|p| ((p.name(), p.version()), &p.manifest_path))
        .collect();
    for plugin in &remote.plugins {
        match local.get(&(plugin.name(), plugin.version())) {
            Some(winner) => merged.skipped.push(SkippedPlugin {
                path: plugin.manifest_path.clone(),
                manifest: Some(plugin.manifest.clone()),
                reason: SkipReason::Duplicate {
                    name: plugin.name().to_string(),
                    version: plugin.version().clone(),
                    winner: (*winner).clone(),
                },
            }),
            None => merged.plugins.push(plugin.clone()),
        }
    }
    merged.invalid.extend(remote.invalid.iter().cloned());
    merged.skipped.extend(remote.skipped.iter().cloned());
    merged.errors.extend(remote.errors.iter().cloned());
    sort(&mut merged);
    merged
}

fn sort(discovery: &mut Discovery) {
    discovery.plugins.sort_by(|a, b| {
        (a.name(), a.version(), &a.manifest_path).cmp(&(b.name(), b.version(), &b.manifest_path))
    });
    discovery.invalid.sort_by(|a, b| a.path.cmp(&b.path));
    discovery.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    discovery.errors.sort_by(|a, b| a.path().cmp(&b.path()));
}

/// Whether two manifests say the same but for their endpoint (the
/// instances of one plugin differ in it; which one speaks for the plugin
/// is no update). Every field but `endpoint` is compared: keep this in
/// step with `Manifest`'s fields.
pub(crate) fn same_but_endpoint(a: &Manifest, b: &Manifest) -> bool {
    a.name() == b.name()
        && a.version() == b.version()
        && a.description() == b.description()
        && a.author() == b.author()
        && a.capabilities() == b.capabilities()
        && a.transport() == b.transport()
        && a.requirements() == b.requirements()
        && a.resources() == b.resources()
        && a.checksum() == b.checksum()
        && a.metadata() == b.metadata()
}

/// The remote half of the engine's work, started with it: a watch of the
/// etcd source (feature `etcd`), or nothing.
pub(crate) struct RemoteWorker {
    #[cfg(feature = "etcd")]
    inner: crate::etcd::Worker,
}

impl RemoteWorker {
    /// Stops the watch and waits for it to end.
    pub(crate) fn stop(self) {
        #[cfg(feature = "etcd")]
        self.inner.stop();
    }
}

/// Starts watching the configured etcd source, once its first listing is
/// in (or failed); `None` without a source.
pub(crate) fn start(
    shared: &Arc<crate::shared::Shared>,
) -> Result<Option<RemoteWorker>, crate::StartError> {
    #[cfg(feature = "etcd")]
    if shared.config.config.etcd.is_some() {
        let inner = crate::etcd::Worker::start(Arc::clone(shared))?;
        return Ok(Some(RemoteWorker { inner }));
    }
    let _ = shared;
    Ok(None)
}

/// Lists the configured etcd source once: `None` without a source.
pub(crate) fn list_once(config: &Compiled) -> Option<Result<Discovery, DiscoveryError>> {
    #[cfg(feature = "etcd")]
    if let Some(source) = &config.config.etcd {
        return Some(crate::etcd::list_once(config, source));
    }
    let _ = config;
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DiscoveryConfig;
    use crate::event::diff;
    use crate::select::Selection;

    fn record(revision: i64, json: &str) -> Record {
        read_record(&Limits::default(), json.as_bytes(), revision)
    }

    fn greeter(endpoint: &str) -> String {
        format!(
            r#"{{"name": "greeter", "version": "1.0.0", "transport": "grpc", "endpoint": "{endpoint}"}}"#
        )
    }

    fn selected(records: &Records) -> Selection {
        let source = EtcdSource::new(["http://127.0.0.1:2379"]);
        let config = Compiled::new(DiscoveryConfig::new(["unused"])).unwrap();
        Selection {
            discovery: Arc::new(select_records(&config, &source, records)),
            artifacts: HashMap::new(),
        }
    }

    #[test]
    fn instances_of_one_name_and_version_are_one_plugin_spoken_for_by_the_earliest() {
        let mut records = Records::new();
        records.insert(
            "/plugkit/plugins/greeter/1.0.0/b".into(),
            record(5, &greeter("h:2")),
        );
        records.insert(
            "/plugkit/plugins/greeter/1.0.0/a".into(),
            record(9, &greeter("h:1")),
        );
        let one = selected(&records);
        let plugin = &one.discovery.plugins[0];
        assert_eq!(one.discovery.plugins.len(), 1);
        assert_eq!(plugin.manifest.endpoint(), "h:2", "the earliest registered");
        assert_eq!(plugin.endpoints().collect::<Vec<_>>(), ["h:1", "h:2"]);
        assert_eq!(
            plugin.manifest_path,
            PathBuf::from("/plugkit/plugins/greeter/1.0.0")
        );

        // The earliest going is a membership change, not an update.
        records.remove("/plugkit/plugins/greeter/1.0.0/b");
        let two = selected(&records);
        assert!(matches!(
            diff(&one, &two).as_slice(),
            [crate::DiscoveryEvent::EndpointsChanged { old_endpoints, .. }] if old_endpoints == &["h:1", "h:2"]
        ));
        // A real change of the manifest is an update.
        records.insert(
            "/plugkit/plugins/greeter/1.0.0/a".into(),
            record(
                9,
                &greeter("h:1").replace(r#""grpc","#, r#""grpc", "capabilities": ["greet"],"#),
            ),
        );
        assert!(matches!(
            diff(&two, &selected(&records)).as_slice(),
            [crate::DiscoveryEvent::Updated { .. }]
        ));
    }

    #[test]
    fn broken_records_are_reported_at_their_key() {
        let mut records = Records::new();
        records.insert("/plugkit/plugins/x/1.0.0/a".into(), record(1, "{not json"));
        records.insert(
            "/plugkit/plugins/greeter/2.0.0/a".into(),
            record(2, &greeter("h:1")),
        );
        records.insert(
            "/plugkit/plugins/greeter/1.0.0/a/b".into(),
            record(3, &greeter("h:1")),
        );
        records.insert(
            "/plugkit/plugins/greeter/1.0.0/".into(),
            record(4, &greeter("h:1")),
        );
        let discovery = selected(&records).discovery;
        assert!(discovery.plugins.is_empty());
        assert_eq!(
            discovery.invalid[0].path,
            PathBuf::from("/plugkit/plugins/x/1.0.0/a")
        );
        assert_eq!(discovery.skipped.len(), 3);
        assert!(discovery.skipped.iter().all(|s| matches!(
            &s.reason,
            SkipReason::RecordKey { expected } if expected == "/plugkit/plugins/greeter/1.0.0/<instance-id>"
        )));
    }

    #[test]
    fn a_directory_wins_a_duplicate_from_etcd() {
        let mut records = Records::new();
        records.insert(
            "/plugkit/plugins/greeter/1.0.0/a".into(),
            record(1, &greeter("h:1")),
        );
        let remote = selected(&records).discovery;
        let mut files = Discovery::default();
        let mut local = remote.plugins[0].clone();
        local.instances.clear();
        local.manifest_path = PathBuf::from("p/greeter/plugin-manifest.json");
        files.plugins.push(local.clone());
        let merged = merge(&files, &remote);
        assert_eq!(merged.plugins, [local]);
        assert!(
            matches!(&merged.skipped[0].reason, SkipReason::Duplicate { winner, .. } if winner == Path::new("p/greeter/plugin-manifest.json"))
        );
    }

    use std::path::Path;
}
