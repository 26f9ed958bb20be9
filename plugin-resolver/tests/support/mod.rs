//! Test support: a small DSL to build registries (in the spirit of cargo's
//! resolver-tests), renderings of resolutions and failures for snapshots,
//! and a brute-force reference solver.
//!
//! ```ignore
//! let registry = registry([
//!     pkg!("a@1.0.0" => ["b ^1", "c"]),
//!     pkg!("a@2.0.0" => ["b ^2"], optional ["d >=1"]),
//!     pkg!("b@1.0.0"),
//! ]);
//! ```
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use plugin_resolver::{
    Candidate, CandidateKey, Registry, Resolution, ResolveError, ResolveOptions, Wanted, resolve,
};
use plugin_version::{Constraint, Version};

/// A candidate: `pkg!("name@version")`, `pkg!("name@version" => ["dep
/// constraint", ...])`, optionally followed by `, optional ["dep constraint",
/// ...]`. A dependency without a constraint accepts any version.
#[allow(unused_macros)]
macro_rules! pkg {
    ($id:literal) => {
        crate::support::candidate($id, &[], &[])
    };
    ($id:literal => [$($dep:literal),* $(,)?]) => {
        crate::support::candidate($id, &[$($dep),*], &[])
    };
    ($id:literal => [$($dep:literal),* $(,)?], optional [$($opt:literal),* $(,)?]) => {
        crate::support::candidate($id, &[$($dep),*], &[$($opt),*])
    };
}

pub fn version(text: &str) -> Version {
    plugin_version::parse_version(text).unwrap_or_else(|e| panic!("bad version {text:?}: {e}"))
}

pub fn constraint(text: &str) -> Constraint {
    Constraint::parse(text).unwrap_or_else(|e| panic!("bad constraint {text:?}: {e}"))
}

/// `"b ^1"` -> (`b`, `^1`); `"b"` -> (`b`, `*`).
pub fn dep(text: &str) -> (String, Constraint) {
    match text.trim().split_once(' ') {
        Some((name, rest)) => (name.to_owned(), constraint(rest)),
        None => (text.trim().to_owned(), Constraint::any()),
    }
}

pub fn candidate(id: &str, required: &[&str], optional: &[&str]) -> Candidate {
    let (name, v) = id
        .split_once('@')
        .unwrap_or_else(|| panic!("pkg id {id:?} is not name@version"));
    let mut candidate = Candidate::new(name, version(v));
    for text in required {
        let (name, c) = dep(text);
        candidate = candidate.require(name, c);
    }
    for text in optional {
        let (name, c) = dep(text);
        candidate = candidate.optional(name, c);
    }
    candidate
}

pub fn registry(candidates: impl IntoIterator<Item = Candidate>) -> Registry {
    let mut registry = Registry::new();
    for candidate in candidates {
        registry
            .add(candidate)
            .unwrap_or_else(|e| panic!("bad registry: {e}"));
    }
    registry
}

/// `"a"` or `"a@^1"`.
pub fn wants(list: &[&str]) -> Vec<Wanted> {
    list.iter()
        .map(|text| {
            text.parse()
                .unwrap_or_else(|e| panic!("bad want {text:?}: {e}"))
        })
        .collect()
}

pub fn run(registry: &Registry, wanted: &[&str]) -> Result<Resolution, ResolveError> {
    resolve(registry, &wants(wanted), &ResolveOptions::default())
}

pub fn run_with(
    registry: &Registry,
    wanted: &[&str],
    options: &ResolveOptions,
) -> Result<Resolution, ResolveError> {
    resolve(registry, &wants(wanted), options)
}

/// `name version` pairs, sorted by name.
pub fn selected(resolution: &Resolution) -> Vec<String> {
    resolution
        .selected()
        .iter()
        .map(|(name, version)| format!("{name} {version}"))
        .collect()
}

/// Everything a resolution says, for snapshots.
pub fn render(resolution: &Resolution) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "selected:");
    for (name, version) in resolution.selected() {
        let _ = writeln!(out, "  {name} {version}");
    }
    let _ = writeln!(out, "load order: {}", resolution.load_order().join(", "));
    if resolution.load_groups().iter().any(|group| group.len() > 1) {
        let groups: Vec<String> = resolution
            .load_groups()
            .iter()
            .map(|group| format!("[{}]", group.join(", ")))
            .collect();
        let _ = writeln!(out, "load groups: {}", groups.join(" "));
    }
    let edges: Vec<String> = resolution
        .edges()
        .map(|(from, edge)| {
            format!(
                "{from} -> {} {} ({:?})",
                edge.name(),
                edge.constraint(),
                edge.kind()
            )
        })
        .collect();
    if !edges.is_empty() {
        let _ = writeln!(out, "edges:");
        for edge in edges {
            let _ = writeln!(out, "  {edge}");
        }
    }
    for dropped in resolution.dropped() {
        let _ = writeln!(out, "dropped {}: {}", dropped.name(), dropped.reason());
        for line in dropped.reason().explanation().lines() {
            let _ = writeln!(out, "  | {line}");
        }
    }
    for warning in resolution.warnings() {
        let mut lines = warning.to_string();
        lines = lines.replace('\n', "\n  | ");
        let _ = writeln!(out, "warning: {lines}");
    }
    out
}

/// Everything an error says, for snapshots.
pub fn render_error(error: &ResolveError) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "error: {error}");
    if !error.missing_wanted().is_empty() {
        let names: Vec<&str> = error.missing_wanted().iter().map(String::as_str).collect();
        let _ = writeln!(out, "missing wanted: {}", names.join(", "));
    }
    for (plugin, missing) in error.unresolved_dependencies() {
        let names: Vec<&str> = missing.iter().map(String::as_str).collect();
        let _ = writeln!(out, "unresolved: {plugin} -> {}", names.join(", "));
    }
    for conflict in error.version_conflicts() {
        let _ = writeln!(out, "conflict: {conflict}");
    }
    for cycle in error.circular_dependencies() {
        let _ = writeln!(out, "cycle: {}", cycle.join(" -> "));
    }
    let _ = writeln!(out, "explanation:");
    for line in error.explanation().lines() {
        let _ = writeln!(out, "  | {line}");
    }
    out
}

// ----- brute force -------------------------------------------------------

/// A registry as plain data, for the reference solver.
#[derive(Clone)]
pub struct Spec {
    /// name -> versions, each with required and optional deps.
    pub plugins: BTreeMap<String, Vec<SpecVersion>>,
}

#[derive(Debug, Clone)]
pub struct SpecVersion {
    pub version: Version,
    pub required: Vec<(String, Constraint)>,
    pub optional: Vec<(String, Constraint)>,
}

/// As `pkg!` lines, so a failing case reads like a test.
impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |deps: &[(String, Constraint)]| {
            deps.iter()
                .map(|(name, c)| format!("{:?}", format!("{name} {c}")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(f, "registry([")?;
        for (name, versions) in &self.plugins {
            for v in versions {
                write!(
                    f,
                    "    pkg!(\"{name}@{}\" => [{}]",
                    v.version,
                    list(&v.required)
                )?;
                if !v.optional.is_empty() {
                    write!(f, ", optional [{}]", list(&v.optional))?;
                }
                writeln!(f, "),")?;
            }
        }
        write!(f, "])")
    }
}

impl Spec {
    /// The registry of the spec; every candidate gets a key, numbered in
    /// the order added (a host numbers its discovered plugins alike).
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::new();
        let mut next_key = 0u64;
        for (name, versions) in &self.plugins {
            for v in versions {
                next_key += 1;
                let mut candidate = Candidate::new(name.as_str(), v.version.clone())
                    .with_key(CandidateKey::new(next_key));
                for (dep, c) in &v.required {
                    candidate = candidate.require(dep.as_str(), c.clone());
                }
                for (dep, c) in &v.optional {
                    candidate = candidate.optional(dep.as_str(), c.clone());
                }
                // Generated specs may repeat a version: keep the first.
                let _ = registry.add(candidate);
            }
        }
        registry
    }

    fn find(&self, name: &str, version: &Version) -> Option<&SpecVersion> {
        self.plugins
            .get(name)?
            .iter()
            .find(|v| &v.version == version)
    }
}

/// Every plugin name mentioned (with or without versions), sorted.
fn all_names(spec: &Spec, wanted: &[(String, Constraint)]) -> Vec<String> {
    let mut names: BTreeSet<String> = spec.plugins.keys().cloned().collect();
    for versions in spec.plugins.values() {
        for v in versions {
            names.extend(v.required.iter().map(|(n, _)| n.clone()));
        }
    }
    names.extend(wanted.iter().map(|(n, _)| n.clone()));
    names.into_iter().collect()
}

/// Exhaustive search for any assignment (each plugin: absent or one of its
/// versions) in which every wanted plugin is present and matches, and every
/// present plugin's required dependencies are present and match. Optional
/// dependencies impose nothing. Pairwise checks prune as soon as both ends
/// are assigned, which keeps the search exhaustive.
pub fn brute_force(
    spec: &Spec,
    wanted: &[(String, Constraint)],
) -> Option<BTreeMap<String, Version>> {
    brute_force_with(spec, wanted, &|c: &Constraint, v: &Version| c.matches(v))
}

/// [`brute_force`] with `fits(constraint, version)` deciding what a
/// constraint admits (for instance a version policy on top of it).
pub fn brute_force_with(
    spec: &Spec,
    wanted: &[(String, Constraint)],
    fits: Fits<'_>,
) -> Option<BTreeMap<String, Version>> {
    let names = all_names(spec, wanted);
    let mut assignment: Vec<Option<Version>> = Vec::new();
    if search(spec, wanted, &names, &mut assignment, fits) {
        Some(
            names
                .iter()
                .zip(assignment)
                .filter_map(|(name, v)| v.map(|v| (name.clone(), v)))
                .collect(),
        )
    } else {
        None
    }
}

/// Whether a constraint admits a version.
pub type Fits<'a> = &'a dyn Fn(&Constraint, &Version) -> bool;

fn search(
    spec: &Spec,
    wanted: &[(String, Constraint)],
    names: &[String],
    assignment: &mut Vec<Option<Version>>,
    fits: Fits<'_>,
) -> bool {
    let at = assignment.len();
    if at == names.len() {
        return true;
    }
    let name = &names[at];
    let mut options: Vec<Option<Version>> = vec![None];
    if let Some(versions) = spec.plugins.get(name) {
        options.extend(versions.iter().map(|v| Some(v.version.clone())));
    }
    for option in options {
        assignment.push(option);
        if consistent(spec, wanted, names, assignment, fits)
            && search(spec, wanted, names, assignment, fits)
        {
            return true;
        }
        assignment.pop();
    }
    false
}

/// Checks every constraint between the newest assignment and earlier ones.
fn consistent(
    spec: &Spec,
    wanted: &[(String, Constraint)],
    names: &[String],
    assignment: &[Option<Version>],
    fits: Fits<'_>,
) -> bool {
    let at = assignment.len() - 1;
    let name = &names[at];
    let mine = &assignment[at];
    for (w, c) in wanted {
        if w == name {
            match mine {
                Some(v) if fits(c, v) => {}
                _ => return false,
            }
        }
    }
    for (other_at, other) in assignment.iter().enumerate() {
        let other_name = &names[other_at];
        // mine requires other (including other == mine: not allowed by the registry)
        if let Some(v) = mine
            && let Some(spec_v) = spec.find(name, v)
        {
            for (dep, c) in &spec_v.required {
                if dep == other_name {
                    match other {
                        Some(ov) if fits(c, ov) => {}
                        _ => return false,
                    }
                }
            }
        }
        // other requires mine
        if other_at != at
            && let Some(ov) = other
            && let Some(spec_o) = spec.find(other_name, ov)
        {
            for (dep, c) in &spec_o.required {
                if dep == name {
                    match mine {
                        Some(v) if fits(c, v) => {}
                        _ => return false,
                    }
                }
            }
        }
    }
    // A required dependency with no versions at all can never be met.
    if let Some(v) = mine
        && let Some(spec_v) = spec.find(name, v)
    {
        for (dep, _) in &spec_v.required {
            if !names.contains(dep) {
                return false;
            }
        }
    }
    true
}

/// Checks that `resolution` satisfies every constraint of `spec` and
/// `wanted`, and that its load order respects every required edge (members
/// of one load group count as loaded together). Returns what is wrong.
pub fn check_resolution(
    spec: &Spec,
    wanted: &[(String, Constraint)],
    resolution: &Resolution,
) -> Result<(), String> {
    let selected = resolution.selected();
    for (name, c) in wanted {
        match selected.get(name.as_str()) {
            Some(v) if c.matches(v) => {}
            other => return Err(format!("wanted {name} {c} but got {other:?}")),
        }
    }
    let mut group_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (g, group) in resolution.load_groups().iter().enumerate() {
        for member in group {
            if group_of.insert(member, g).is_some() {
                return Err(format!("{member} appears twice in the load order"));
            }
        }
    }
    if group_of.len() != selected.len() {
        return Err("load order and selection differ".to_owned());
    }
    for (name, v) in selected {
        let Some(spec_v) = spec.find(name, v) else {
            return Err(format!("{name} {v} is not in the registry"));
        };
        let Some(&g) = group_of.get(&**name) else {
            return Err(format!("{name} is not in the load order"));
        };
        for (dep, c) in &spec_v.required {
            match selected.get(dep.as_str()) {
                Some(dv) if c.matches(dv) => {}
                other => return Err(format!("{name} {v} requires {dep} {c}, got {other:?}")),
            }
            let dg = group_of.get(dep.as_str()).copied().unwrap_or(usize::MAX);
            if dg > g {
                return Err(format!("{name} loads before its dependency {dep}"));
            }
        }
        for edge in resolution.dependencies(name) {
            let Some(dv) = selected.get(edge.name()) else {
                return Err(format!(
                    "edge {name} -> {} to an unloaded plugin",
                    edge.name()
                ));
            };
            if !edge.constraint().matches(dv) {
                return Err(format!(
                    "edge {name} -> {} {} but {dv} loaded",
                    edge.name(),
                    edge.constraint()
                ));
            }
        }
    }
    Ok(())
}
