//! Scanning: walk regions of the search directories (walkdir), then read
//! and parse the manifests found, in parallel (rayon). The result is a set
//! of [`Entry`]s keyed by path, which `select` turns into a
//! [`Discovery`](crate::Discovery) and which watch mode keeps as its model
//! of the current state.

use std::collections::BTreeMap;
use std::fs::{self, File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use plugin_manifest::Diagnostic;
use rayon::prelude::*;
use walkdir::WalkDir;

use crate::config::Compiled;
use crate::read::read_open;
use crate::{DiscoveredPlugin, DiscoveryError};

/// Everything known about the search directories, keyed by path. Paths are
/// ordered by components, so everything below a directory sits in one
/// contiguous range after it.
pub(crate) type Entries = BTreeMap<PathBuf, Entry>;

/// What is at one path.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// A file with a manifest's name.
    Manifest(ManifestEntry),
    /// A path that could not be walked.
    Error(DiscoveryError),
    /// A symlink not followed.
    Symlink,
}

/// A manifest file and what reading it gave.
#[derive(Debug, Clone)]
pub(crate) struct ManifestEntry {
    /// Index of the search directory it was found in.
    pub(crate) root: usize,
    /// Components below that directory (1 = directly in it).
    pub(crate) depth: usize,
    /// Preference of its file name among the manifest names (0 = first).
    pub(crate) rank: usize,
    /// The file's metadata when read: an unchanged stamp lets a rescan keep
    /// the parsed result instead of reading the file again.
    pub(crate) stamp: Option<Stamp>,
    pub(crate) outcome: Outcome,
}

/// The result of reading one manifest.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Parsed {
        plugin: Box<DiscoveredPlugin>,
        /// The artifact's stamp (watch mode only): a rebuild changes it.
        artifact: Option<Stamp>,
    },
    Invalid(Vec<Diagnostic>),
    Unreadable(DiscoveryError),
}

/// What identifies one version of a file's content without reading it:
/// size, modification time and, on Unix, inode and change time (a rename
/// over the file changes the inode; any write changes the change time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64, i64, i64),
}

impl Stamp {
    pub(crate) fn of(metadata: &Metadata) -> Stamp {
        Stamp {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            #[cfg(unix)]
            inode: {
                use std::os::unix::fs::MetadataExt;
                (
                    metadata.dev(),
                    metadata.ino(),
                    metadata.ctime(),
                    metadata.ctime_nsec(),
                )
            },
        }
    }
}

/// A part of a search directory to (re)scan: a directory with everything
/// below it, or one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) root: usize,
    pub(crate) path: PathBuf,
    /// Components of `path` below the root.
    pub(crate) depth: usize,
}

impl Region {
    pub(crate) fn root(config: &Compiled, root: usize) -> Region {
        Region {
            root,
            path: config.roots[root].clone(),
            depth: 0,
        }
    }
}

/// A manifest to read.
#[derive(Debug)]
pub(crate) struct Candidate {
    pub(crate) path: PathBuf,
    pub(crate) root: usize,
    pub(crate) depth: usize,
    pub(crate) rank: usize,
}

/// What walking found: manifests to read, and the entries that need no
/// reading (errors, symlinks not followed).
#[derive(Debug, Default)]
pub(crate) struct Walked {
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) entries: Vec<(PathBuf, Entry)>,
    /// Whether the region was a directory (watch mode rescans new
    /// directories a second time).
    pub(crate) was_dir: bool,
}

/// One thing walking found.
#[derive(Debug)]
pub(crate) enum Found {
    /// A manifest to read.
    Candidate(Candidate),
    /// An entry that needs no reading (an error, a symlink not followed).
    Entry(PathBuf, Entry),
    /// The region is a directory.
    Directory,
}

/// Walks one region, appending to `out`.
pub(crate) fn walk(config: &Compiled, region: &Region, out: &mut Walked) {
    for found in walk_iter(config, region) {
        match found {
            Found::Candidate(candidate) => out.candidates.push(candidate),
            Found::Entry(path, entry) => out.entries.push((path, entry)),
            Found::Directory => out.was_dir = true,
        }
    }
}

/// Walks one region lazily, so reading can start before walking ends.
pub(crate) fn walk_iter<'a>(
    config: &'a Compiled,
    region: &'a Region,
) -> Box<dyn Iterator<Item = Found> + Send + 'a> {
    let settings = &config.config;
    let follow = settings.follow_symlinks;
    let path = &region.path;
    let error_at = |path: &Path, error| {
        let entry = Entry::Error(read_error(config, path, error));
        Box::new(std::iter::once(Found::Entry(path.to_path_buf(), entry)))
    };
    let nothing = || Box::new(std::iter::empty());
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound && region.depth > 0 => {
            return nothing();
        }
        Err(error) => return error_at(path, error),
    };
    let is_root = region.depth == 0;
    let mut file_type = metadata.file_type();
    if file_type.is_symlink() {
        if !follow && !is_root {
            if is_interesting_link(config, path) {
                return Box::new(std::iter::once(Found::Entry(path.clone(), Entry::Symlink)));
            }
            return nothing();
        }
        match fs::metadata(path) {
            Ok(target) => file_type = target.file_type(),
            Err(error) => return error_at(path, error),
        }
    }
    if !file_type.is_dir() {
        let rank = path
            .file_name()
            .and_then(|name| config.manifest_rank(name))
            // A search "directory" that is a file is read as a manifest.
            .or(is_root.then_some(0));
        let Some(rank) = rank else {
            return nothing();
        };
        let found = if file_type.is_file() {
            Found::Candidate(Candidate {
                path: path.clone(),
                root: region.root,
                depth: region.depth,
                rank,
            })
        } else {
            let error = DiscoveryError::NotAFile { path: path.clone() };
            Found::Entry(path.clone(), Entry::Error(error))
        };
        return Box::new(std::iter::once(found));
    }
    // How many levels below the region may hold manifests. (Zero must not
    // reach walkdir: with `min_depth(1)`, `max_depth(0)` would become 1.)
    let levels = settings
        .max_depth
        .saturating_add(1)
        .saturating_sub(region.depth);
    if levels == 0 {
        return Box::new(std::iter::once(Found::Directory));
    }
    let walker = WalkDir::new(path)
        .min_depth(1)
        .max_depth(levels)
        .follow_links(follow)
        .into_iter()
        .filter_entry(|entry| !config.is_excluded(region.root, entry.path()));
    let found = walker.filter_map(move |item| match item {
        Ok(entry) => {
            let file_type = entry.file_type();
            if file_type.is_dir() {
                return None;
            }
            if file_type.is_symlink() {
                // Only reached when not following links.
                return is_interesting_link(config, entry.path())
                    .then(|| Found::Entry(entry.into_path(), Entry::Symlink));
            }
            let rank = config.manifest_rank(entry.file_name())?;
            let depth = region.depth + entry.depth();
            let path = entry.into_path();
            Some(if file_type.is_file() {
                Found::Candidate(Candidate {
                    path,
                    root: region.root,
                    depth,
                    rank,
                })
            } else {
                let error = DiscoveryError::NotAFile { path: path.clone() };
                Found::Entry(path, Entry::Error(error))
            })
        }
        Err(error) => {
            let path = error.path().unwrap_or(&region.path).to_path_buf();
            let entry = match error.loop_ancestor() {
                Some(ancestor) => DiscoveryError::SymlinkLoop {
                    path: path.clone(),
                    ancestor: ancestor.to_path_buf(),
                },
                None => {
                    let io = error
                        .into_io_error()
                        .unwrap_or_else(|| io::Error::other("walk failed"));
                    read_error(config, &path, io)
                }
            };
            Some(Found::Entry(path, Entry::Error(entry)))
        }
    });
    Box::new(std::iter::once(Found::Directory).chain(found))
}

/// A symlink worth reporting as not followed: one with a manifest's name
/// or one leading to a directory (which may hold plugins).
fn is_interesting_link(config: &Compiled, path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| config.manifest_rank(name).is_some())
        || fs::metadata(path).is_ok_and(|m| m.is_dir())
}

fn read_error(config: &Compiled, path: &Path, error: io::Error) -> DiscoveryError {
    let is_manifest = path
        .file_name()
        .is_some_and(|name| config.manifest_rank(name).is_some());
    let path = path.to_path_buf();
    let source = Arc::new(error);
    if is_manifest {
        DiscoveryError::ReadManifest { path, source }
    } else {
        DiscoveryError::ReadDir { path, source }
    }
}

/// How to read manifests.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReadOptions {
    /// Stamp artifacts (watch mode).
    pub(crate) stamp_artifacts: bool,
}

/// Reads and parses every candidate, in parallel. `previous` gives the
/// entry a path had before, whose parse is reused when the file's stamp is
/// unchanged; `None` forces a read.
pub(crate) fn read_all<'a, F>(
    config: &Compiled,
    candidates: Vec<Candidate>,
    options: ReadOptions,
    previous: F,
) -> Vec<(PathBuf, Entry)>
where
    F: Fn(&Path) -> Option<&'a ManifestEntry> + Sync,
{
    candidates
        .into_par_iter()
        .map(|candidate| {
            let entry = read_one(config, &candidate, options, previous(&candidate.path));
            (candidate.path, Entry::Manifest(entry))
        })
        .collect()
}

fn read_one(
    config: &Compiled,
    candidate: &Candidate,
    options: ReadOptions,
    previous: Option<&ManifestEntry>,
) -> ManifestEntry {
    let path = &candidate.path;
    let entry = |stamp, outcome| ManifestEntry {
        root: candidate.root,
        depth: candidate.depth,
        rank: candidate.rank,
        stamp,
        outcome,
    };
    let unreadable = |error: io::Error| {
        Outcome::Unreadable(DiscoveryError::ReadManifest {
            path: path.clone(),
            source: Arc::new(error),
        })
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) => return entry(None, unreadable(error)),
    };
    let metadata = match file.metadata() {
        Ok(metadata) if metadata.is_file() => metadata,
        Ok(_) => {
            let error = DiscoveryError::NotAFile { path: path.clone() };
            return entry(None, Outcome::Unreadable(error));
        }
        Err(error) => return entry(None, unreadable(error)),
    };
    let stamp = Stamp::of(&metadata);
    if let Some(previous) = previous
        && previous.stamp == Some(stamp)
    {
        let mut outcome = previous.outcome.clone();
        if let Outcome::Parsed { plugin, artifact } = &mut outcome {
            *artifact = artifact_stamp(plugin, options);
        }
        return entry(Some(stamp), outcome);
    }
    let limit = config.config.limits.max_bytes as u64;
    let bytes = match read_open(file, &metadata, path, limit) {
        Ok(bytes) => bytes,
        Err(error) => return entry(Some(stamp), Outcome::Unreadable(error)),
    };
    let shown = path.to_string_lossy();
    let outcome = match plugin_manifest::parse_with(&bytes, &shown, &config.config.limits) {
        Ok(parsed) => {
            let directory = path.parent().unwrap_or(Path::new(""));
            let plugin = DiscoveredPlugin {
                artifact_path: parsed.manifest.artifact_path(directory),
                manifest: parsed.manifest,
                manifest_path: path.clone(),
                warnings: parsed.warnings,
                instances: Vec::new(),
            };
            let artifact = artifact_stamp(&plugin, options);
            Outcome::Parsed {
                plugin: Box::new(plugin),
                artifact,
            }
        }
        Err(errors) => Outcome::Invalid(errors.diagnostics().to_vec()),
    };
    entry(Some(stamp), outcome)
}

fn artifact_stamp(plugin: &DiscoveredPlugin, options: ReadOptions) -> Option<Stamp> {
    if !options.stamp_artifacts {
        return None;
    }
    let artifact = plugin.artifact_path.as_deref()?;
    fs::metadata(artifact).ok().map(|m| Stamp::of(&m))
}

/// Scans whole search directories into a fresh set of entries. Walking
/// and reading overlap: the walk feeds manifests to the thread pool as it
/// finds them. Where two search directories overlap, a path keeps the entry
/// of the earlier one.
pub(crate) fn scan_roots(config: &Compiled, options: ReadOptions) -> Entries {
    let regions: Vec<Region> = (0..config.roots.len())
        .map(|root| Region::root(config, root))
        .collect();
    let found: Vec<(usize, PathBuf, Entry)> = regions
        .iter()
        .flat_map(|region| walk_iter(config, region).map(move |found| (region.root, found)))
        .par_bridge()
        .filter_map(|(root, found)| match found {
            Found::Candidate(candidate) => {
                let entry = read_one(config, &candidate, options, None);
                Some((root, candidate.path, Entry::Manifest(entry)))
            }
            Found::Entry(path, entry) => Some((root, path, entry)),
            Found::Directory => None,
        })
        .collect();
    if regions.len() == 1 {
        return found
            .into_iter()
            .map(|(_, path, entry)| (path, entry))
            .collect();
    }
    let mut entries = Entries::new();
    let mut roots = std::collections::HashMap::new();
    for (root, path, entry) in found {
        match roots.get(&path) {
            Some(&earlier) if earlier <= root => {}
            _ => {
                roots.insert(path.clone(), root);
                entries.insert(path, entry);
            }
        }
    }
    entries
}

/// Removes and returns every entry at `path` or below it.
pub(crate) fn take_range(entries: &mut Entries, path: &Path) -> Vec<(PathBuf, Entry)> {
    let keys: Vec<PathBuf> = entries
        .range(path.to_path_buf()..)
        .take_while(|(key, _)| key.starts_with(path))
        .map(|(key, _)| key.clone())
        .collect();
    keys.into_iter()
        .filter_map(|key| entries.remove(&key).map(|entry| (key, entry)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_at_the_depth_limit_yields_no_manifest_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/plugin-manifest.json");
        std::fs::create_dir_all(deep.parent().unwrap()).unwrap();
        std::fs::write(&deep, "{}").unwrap();
        let mut config = crate::DiscoveryConfig::new([dir.path()]);
        config.max_depth = 1;
        let config = Compiled::new(config).unwrap();
        let region = Region {
            root: 0,
            path: dir.path().join("a/b"),
            depth: 2,
        };
        let mut walked = Walked::default();
        walk(&config, &region, &mut walked);
        assert!(walked.was_dir);
        assert!(walked.candidates.is_empty(), "{:?}", walked.candidates);
    }

    #[test]
    fn take_range_takes_a_whole_subtree_and_nothing_else() {
        let mut entries = Entries::new();
        for path in ["a", "a/b", "a/b/c", "a/b.txt", "a/bc", "a/b/c/d", "b"] {
            entries.insert(PathBuf::from(path), Entry::Symlink);
        }
        let taken: Vec<PathBuf> = take_range(&mut entries, Path::new("a/b"))
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(taken, ["a/b", "a/b/c", "a/b/c/d"].map(PathBuf::from));
        let left: Vec<&PathBuf> = entries.keys().collect();
        assert_eq!(left, ["a", "a/b.txt", "a/bc", "b"].map(Path::new));
    }
}
