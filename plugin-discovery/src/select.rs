//! Selection: from entries to a [`Discovery`]. Picks the manifest of each
//! directory (the others are shadowed), applies the configured filters and
//! settles duplicates. A pure function of the
//! entries, so a full scan and watch mode's incremental model give the same
//! answer for the same files.
//!
//! Two phases: [`decide`] gives each entry its verdict by reference, then
//! the verdicts are applied either to borrowed entries (watch mode keeps
//! its model, so values are cloned) or to owned ones (a one-off scan moves
//! them, cloning nothing).

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugin_version::Version;

use crate::config::Compiled;
use crate::scan::{Entries, Entry, ManifestEntry, Outcome, Stamp};
use crate::{DiscoveredPlugin, Discovery, InvalidManifest, SkipReason, SkippedPlugin};

/// A discovery with what watch mode needs to tell updates apart: the
/// artifact stamp of each plugin, by manifest path.
#[derive(Debug, Default, Clone)]
pub(crate) struct Selection {
    pub(crate) discovery: Arc<Discovery>,
    pub(crate) artifacts: HashMap<PathBuf, Option<Stamp>>,
}

/// What becomes of one entry.
enum Verdict {
    Plugin,
    Skipped(SkipReason),
    /// Invalid manifests, errors: reported as they are.
    AsIs,
}

/// Resolves a model that is kept (values are cloned).
pub(crate) fn select(config: &Compiled, entries: &Entries) -> Selection {
    let verdicts = decide(config, entries);
    apply(
        entries
            .iter()
            .map(|(p, e)| (Cow::Borrowed(p), Cow::Borrowed(e))),
        verdicts,
        true,
    )
}

/// Resolves entries that are not needed afterwards (values are moved, and
/// no artifact stamps are kept: there will be no next state to compare).
pub(crate) fn select_owned(config: &Compiled, entries: Entries) -> Selection {
    let verdicts = decide(config, &entries);
    apply(
        entries
            .into_iter()
            .map(|(p, e)| (Cow::Owned(p), Cow::Owned(e))),
        verdicts,
        false,
    )
}

fn parent(path: &Path) -> &OsStr {
    path.parent().unwrap_or(Path::new("")).as_os_str()
}

fn decide(config: &Compiled, entries: &Entries) -> Vec<Verdict> {
    // The manifest of each directory: the best-ranked file name in it.
    // (Keyed by the directory's bytes: paths here are spelled one way, and
    // hashing bytes is much cheaper than hashing path components.)
    let mut preferred: HashMap<&OsStr, (usize, &Path)> = HashMap::new();
    for (path, entry) in entries {
        if let Entry::Manifest(manifest) = entry {
            let directory = parent(path);
            preferred
                .entry(directory)
                .and_modify(|best| {
                    if manifest.rank < best.0 {
                        *best = (manifest.rank, path);
                    }
                })
                .or_insert((manifest.rank, path));
        }
    }

    let mut verdicts = Vec::with_capacity(entries.len());
    // (index, entry, plugin) of the plugins that passed the filters.
    let mut passed: Vec<(usize, &ManifestEntry, &DiscoveredPlugin)> = Vec::new();
    for (index, (path, entry)) in entries.iter().enumerate() {
        let verdict = match entry {
            Entry::Error(_) => Verdict::AsIs,
            Entry::Symlink => Verdict::Skipped(SkipReason::SymlinkNotFollowed),
            Entry::Manifest(manifest) => match preferred.get(parent(path)) {
                Some((_, best)) if *best != path.as_path() => {
                    Verdict::Skipped(SkipReason::Shadowed {
                        by: best.to_path_buf(),
                    })
                }
                _ => match &manifest.outcome {
                    Outcome::Parsed { plugin, .. } => match filter(config, plugin) {
                        Some(reason) => Verdict::Skipped(reason),
                        None => {
                            passed.push((index, manifest, plugin));
                            Verdict::Plugin
                        }
                    },
                    Outcome::Invalid(_) | Outcome::Unreadable(_) => Verdict::AsIs,
                },
            },
        };
        verdicts.push(verdict);
    }

    // Duplicates: one winner per name and version (the earliest search
    // directory, then the shallowest, then the first path).
    fn rank<'a>(
        &(_, entry, plugin): &(usize, &ManifestEntry, &'a DiscoveredPlugin),
    ) -> (usize, usize, &'a Path) {
        (entry.root, entry.depth, plugin.manifest_path.as_path())
    }
    let mut winners: HashMap<(&str, &Version), usize> = HashMap::with_capacity(passed.len());
    for (position, candidate) in passed.iter().enumerate() {
        let key = (candidate.2.name(), candidate.2.version());
        winners
            .entry(key)
            .and_modify(|best| {
                if rank(candidate) < rank(&passed[*best]) {
                    *best = position;
                }
            })
            .or_insert(position);
    }
    for (position, &(index, _, plugin)) in passed.iter().enumerate() {
        let winner = winners
            .get(&(plugin.name(), plugin.version()))
            .copied()
            .unwrap_or(position);
        if winner != position {
            verdicts[index] = Verdict::Skipped(SkipReason::Duplicate {
                name: plugin.name().to_string(),
                version: plugin.version().clone(),
                winner: passed[winner].2.manifest_path.clone(),
            });
        }
    }
    verdicts
}

fn apply<'a, I>(entries: I, verdicts: Vec<Verdict>, keep_artifacts: bool) -> Selection
where
    I: Iterator<Item = (Cow<'a, PathBuf>, Cow<'a, Entry>)>,
{
    let mut discovery = Discovery::default();
    let mut artifacts = HashMap::new();
    for ((path, entry), verdict) in entries.zip(verdicts) {
        match (entry.into_owned(), verdict) {
            (Entry::Error(error), _) => discovery.errors.push(error),
            (Entry::Manifest(manifest), Verdict::Plugin) => {
                if let Outcome::Parsed { plugin, artifact } = manifest.outcome {
                    if keep_artifacts {
                        artifacts.insert(path.into_owned(), artifact);
                    }
                    discovery.plugins.push(*plugin);
                }
            }
            (entry, Verdict::Skipped(reason)) => {
                let manifest = match entry {
                    Entry::Manifest(ManifestEntry {
                        outcome: Outcome::Parsed { plugin, .. },
                        ..
                    }) => Some(plugin.manifest),
                    _ => None,
                };
                discovery.skipped.push(SkippedPlugin {
                    path: path.into_owned(),
                    manifest,
                    reason,
                });
            }
            (Entry::Manifest(manifest), Verdict::AsIs) => match manifest.outcome {
                Outcome::Invalid(diagnostics) => discovery.invalid.push(InvalidManifest {
                    path: path.into_owned(),
                    diagnostics,
                }),
                Outcome::Unreadable(error) => discovery.errors.push(error),
                Outcome::Parsed { .. } => {}
            },
            (Entry::Symlink, _) => {}
        }
    }
    discovery.plugins.sort_by(|a, b| {
        (a.name(), a.version(), &a.manifest_path).cmp(&(b.name(), b.version(), &b.manifest_path))
    });
    // Entries come in path order, so the other lists already are sorted.
    discovery.errors.sort_by(|a, b| a.path().cmp(&b.path()));
    Selection {
        discovery: Arc::new(discovery),
        artifacts,
    }
}

/// Why a valid plugin is not returned, if it is not.
pub(crate) fn filter(config: &Compiled, plugin: &DiscoveredPlugin) -> Option<SkipReason> {
    let settings = &config.config;
    let manifest = &plugin.manifest;
    if !settings.allowed_transports.is_empty()
        && !settings.allowed_transports.contains(&manifest.transport())
    {
        return Some(SkipReason::TransportNotAllowed {
            transport: manifest.transport(),
        });
    }
    if settings.validate_manifests
        && let Some(field) = settings
            .required_fields
            .iter()
            .find(|field| !field.is_present_in(manifest))
    {
        return Some(SkipReason::MissingField { field: *field });
    }
    if let Some(capability) = settings
        .required_capabilities
        .iter()
        .find(|capability| !manifest.has_capability(capability))
    {
        return Some(SkipReason::MissingCapability {
            capability: capability.clone(),
        });
    }
    if settings.validate_manifests
        && let Some(artifact) = &plugin.artifact_path
        && !config.artifact_matches(artifact)
    {
        return Some(SkipReason::ArtifactPattern {
            artifact: artifact.clone(),
        });
    }
    None
}
