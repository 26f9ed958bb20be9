//! Failure reports: the explanation a person reads, written from pubgrub's
//! derivation tree in terms of plugins and their versions, and the structured
//! facts (missing plugins, version conflicts) a program reads.
//!
//! The explanation follows the shape of pubgrub's `DefaultStringReporter`
//! (numbered lines for conclusions used twice), with its own phrases: the
//! virtual root never shows ("auth is wanted", not "root 0.0.0 depends on
//! auth"), versions are named by what exists ("only logging 1.0.0 and 1.1.0
//! exist"), and ranges by the constraint a manifest wrote (`^2`).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use plugin_version::{Constraint, Reason, Verdict, Version, VersionPolicy, VersionRanges};
use pubgrub::{External, Term};

use crate::error::{Failure, Hint, VersionConflict};
use crate::provider::{Origin, Pkg, RootDep, Universe};
use crate::registry::Entry;
use crate::tree::{Ext, Node, Tree};

/// Trees deeper than this are explained as a list of facts rather than step
/// by step (the step-by-step writer recurses once per level).
const MAX_STEPWISE_DEPTH: usize = 200;
/// At most this many lines of explanation; the rest is summarised.
const MAX_LINES: usize = 400;
/// At most this many versions are listed one by one.
const MAX_LISTED: usize = 5;

/// What the attempt that failed was trying to do; it words the conclusion.
#[derive(Debug, Clone)]
pub(crate) enum Goal {
    /// Load these wanted plugins (names).
    Wanted(Vec<String>),
    /// Add an optional dependency to an existing selection.
    Optional(String),
}

/// Writes explanations and extracts facts from one failed attempt.
pub(crate) struct Reporter<'a> {
    universe: &'a Universe<'a>,
    policy: &'a VersionPolicy,
    root: &'a [RootDep],
    goal: Goal,
    /// Ranges handed to the solver, by the constraint that produced them.
    known: HashMap<VersionRanges, Constraint>,
    /// The policy settings found in the way while explaining.
    hints: RefCell<BTreeSet<Hint>>,
}

/// The facts of a failure plus which root requirements it rests on.
pub(crate) struct Analysis {
    pub(crate) failure: Failure,
    /// The packages the root requires that the failure rests on.
    pub(crate) culprits: BTreeSet<Pkg>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(
        universe: &'a Universe<'a>,
        policy: &'a VersionPolicy,
        root: &'a [RootDep],
        goal: Goal,
    ) -> Self {
        Reporter {
            universe,
            policy,
            root,
            goal,
            known: HashMap::new(),
            hints: RefCell::new(BTreeSet::new()),
        }
    }

    /// A policy refusal in words, remembering the setting that would lift it.
    fn policy_reason(&self, reason: Reason) -> Option<String> {
        let hint = match &reason {
            Reason::Prerelease { .. } => Hint::AllowPrerelease,
            Reason::Downgrade { .. } => Hint::AllowDowngrade,
            Reason::Breaking { .. } => Hint::AllowBreakingChange,
            Reason::NotExact { .. } | Reason::NoConstraint { .. } => Hint::AllowRangeConstraints,
            // Not the policy: the version does not match the constraint.
            _ => return None,
        };
        self.hints.borrow_mut().insert(hint);
        Some(reason.to_string())
    }

    /// The settings found in the way, taken out.
    pub(crate) fn take_hints(&self) -> Vec<Hint> {
        std::mem::take(&mut *self.hints.borrow_mut())
            .into_iter()
            .collect()
    }

    fn admissible(&self, to: Pkg, constraint: &Constraint) -> VersionRanges {
        self.policy
            .admissible(constraint, self.universe.current(to))
    }

    /// Remembers the constraint behind every range the tree mentions, so
    /// ranges print as the manifest wrote them.
    fn learn(&mut self, tree: &Tree) {
        for dep in self.root {
            for origin in &dep.origins {
                match origin {
                    Origin::Wanted {
                        constraint, range, ..
                    } => {
                        self.known
                            .entry(range.clone())
                            .or_insert_with(|| constraint.clone());
                    }
                    Origin::Optional { constraint, .. } => {
                        let range = self.admissible(dep.pkg, constraint);
                        self.known
                            .entry(range)
                            .or_insert_with(|| constraint.clone());
                    }
                    Origin::Pinned(_) => {}
                }
            }
        }
        for external in tree.externals() {
            if let External::FromDependencyOf(p, set, d, _) = external
                && !p.is_root()
            {
                let entries: Vec<&Entry> = self.entries_in(*p, set).collect();
                for entry in entries {
                    for edge in &entry.required {
                        if edge.to == d.0 {
                            let range = self.admissible(*d, &edge.constraint);
                            self.known
                                .entry(range)
                                .or_insert_with(|| (*edge.constraint).clone());
                        }
                    }
                }
            }
        }
    }

    /// The explanation and the structured facts of a failed attempt.
    pub(crate) fn analyze(mut self, mut tree: Tree) -> Analysis {
        tree.collapse_missing_versions();
        self.learn(&tree);
        if let Goal::Wanted(names) = &self.goal {
            // Word the conclusion after the wanted plugins the proof uses.
            let used: BTreeSet<&str> = tree
                .externals()
                .into_iter()
                .filter_map(|external| match external {
                    External::FromDependencyOf(p, _, d, _) if p.is_root() => Some(self.name(*d)),
                    _ => None,
                })
                .collect();
            let used: Vec<String> = names
                .iter()
                .filter(|name| used.contains(name.as_str()))
                .cloned()
                .collect();
            if !used.is_empty() {
                self.goal = Goal::Wanted(used);
            }
        }
        let mut explanation = self.explain(&tree);
        let hints = self.take_hints();
        for hint in &hints {
            explanation.push('\n');
            explanation.push_str(&sentence(&hint.to_string()));
        }
        let mut failure = Failure {
            explanation,
            hints,
            ..Failure::default()
        };
        let mut culprits = BTreeSet::new();
        // Requirements on each dependency that exists: (requirer, version,
        // constraint, admissible range).
        let mut on: BTreeMap<Pkg, Vec<Requirer>> = BTreeMap::new();
        for external in tree.externals() {
            let External::FromDependencyOf(p, set_p, d, _) = external else {
                continue;
            };
            let requirers = self.requirers(*p, set_p, *d);
            if p.is_root() {
                culprits.insert(*d);
            }
            if self.universe.entries(*d).is_empty() {
                let missing = self.universe.name(*d).to_owned();
                if p.is_root() {
                    failure.missing_wanted.insert(missing);
                } else {
                    failure
                        .unresolved
                        .entry(self.universe.name(*p).to_owned())
                        .or_default()
                        .insert(missing);
                }
                continue;
            }
            on.entry(*d).or_default().extend(requirers);
        }
        for (d, requirers) in on {
            failure.conflicts.extend(self.conflicts(d, requirers));
        }
        failure.conflicts.sort();
        failure.conflicts.dedup();
        Analysis { failure, culprits }
    }

    /// The requirements on `d` behind "`p` in `set` depends on `d`".
    fn requirers(&self, p: Pkg, set: &VersionRanges, d: Pkg) -> Vec<Requirer> {
        if p.is_root() {
            let Some(dep) = self.root.iter().find(|dep| dep.pkg == d) else {
                return Vec::new();
            };
            return dep
                .origins
                .iter()
                .filter_map(|origin| match origin {
                    Origin::Wanted {
                        constraint, range, ..
                    } => Some(Requirer {
                        plugin: None,
                        constraint: constraint.clone(),
                        range: range.clone(),
                    }),
                    Origin::Optional {
                        parent,
                        version,
                        constraint,
                    } => Some(Requirer {
                        plugin: Some((*parent, version.clone())),
                        constraint: constraint.clone(),
                        range: self.admissible(d, constraint),
                    }),
                    Origin::Pinned(_) => None,
                })
                .collect();
        }
        let mut requirers = Vec::new();
        for entry in self.entries_in(p, set) {
            for edge in entry.required.iter().filter(|edge| edge.to == d.0) {
                requirers.push(Requirer {
                    plugin: Some((p, entry.version().clone())),
                    constraint: (*edge.constraint).clone(),
                    range: self.admissible(d, &edge.constraint),
                });
            }
        }
        requirers
    }

    /// The requirements on `d` that no available version satisfies: the ones
    /// that fail alone, or else (when each could hold alone) all of them if
    /// together they leave no version.
    fn conflicts(&self, d: Pkg, requirers: Vec<Requirer>) -> Vec<VersionConflict> {
        let entries = self.universe.entries(d);
        let fits = |range: &VersionRanges| entries.iter().any(|e| range.contains(e.version()));
        let alone: Vec<&Requirer> = requirers.iter().filter(|r| !fits(&r.range)).collect();
        let chosen: Vec<&Requirer> = if !alone.is_empty() {
            alone
        } else {
            // Versions of one requirer are alternatives (union); different
            // requirers must all be satisfied (intersection).
            // Two wants of the caller are two requirements, not alternatives.
            let mut by_requirer: BTreeMap<(Option<Pkg>, usize), VersionRanges> = BTreeMap::new();
            for (at, requirer) in requirers.iter().enumerate() {
                let key = match &requirer.plugin {
                    Some((p, _)) => (Some(*p), 0),
                    None => (None, at),
                };
                let range = by_requirer.entry(key).or_insert_with(VersionRanges::empty);
                *range = range.union(&requirer.range);
            }
            let together = by_requirer
                .values()
                .fold(VersionRanges::full(), |all, range| all.intersection(range));
            if by_requirer.len() > 1 && !fits(&together) {
                requirers.iter().collect()
            } else {
                Vec::new()
            }
        };
        let available: Vec<Version> = entries.iter().map(|e| e.version().clone()).collect();
        chosen
            .into_iter()
            .map(|requirer| VersionConflict {
                plugin: requirer
                    .plugin
                    .as_ref()
                    .map(|(p, v)| (self.universe.name(*p).to_owned(), v.clone())),
                dependency: self.universe.name(d).to_owned(),
                constraint: requirer.constraint.clone(),
                available: available.clone(),
            })
            .collect()
    }

    fn entries_in<'s>(
        &'s self,
        p: Pkg,
        set: &'s VersionRanges,
    ) -> impl Iterator<Item = &'a Entry> + 's {
        self.universe
            .entries(p)
            .iter()
            .filter(move |entry| set.contains(entry.version()))
    }

    // ----- the explanation ------------------------------------------------

    fn explain(&self, tree: &Tree) -> String {
        let Some(root) = tree.nodes.get(tree.root) else {
            return self.goal_failed();
        };
        if let Node::External(external) = root {
            return format!(
                "Because {}, {}.",
                self.external(external),
                self.goal_failed()
            );
        }
        if tree.depth() > MAX_STEPWISE_DEPTH {
            return self.explain_as_list(tree);
        }
        let mut writer = Writer {
            reporter: self,
            tree,
            lines: Vec::new(),
            refs: HashMap::new(),
            ref_count: 0,
            last: None,
        };
        match self.redundant_last_step(tree) {
            Some(derived) => {
                writer.last = Some(derived);
                writer.build(derived);
            }
            None => writer.build(tree.root),
        }
        let mut lines = writer.lines;
        if lines.len() > MAX_LINES {
            let cut = lines.len() - MAX_LINES;
            lines.drain(MAX_LINES / 2..MAX_LINES / 2 + cut);
            lines.insert(MAX_LINES / 2, format!("[... {cut} more lines ...]"));
        }
        lines.join("\n")
    }

    /// When the last steps only add "X is wanted" to a conclusion that
    /// already says no wanted version of X can be loaded, that conclusion
    /// can state the goal itself: its index.
    fn redundant_last_step(&self, tree: &Tree) -> Option<usize> {
        let goal: BTreeSet<&str> = match &self.goal {
            Goal::Wanted(names) => names.iter().map(String::as_str).collect(),
            Goal::Optional(name) => BTreeSet::from([name.as_str()]),
        };
        let mut wanted: BTreeSet<Pkg> = BTreeSet::new();
        let mut at = tree.root;
        loop {
            let Node::Derived { causes, .. } = tree.nodes.get(at)? else {
                return None;
            };
            let (derived, external) = match (tree.nodes.get(causes[0])?, tree.nodes.get(causes[1])?)
            {
                (Node::Derived { .. }, Node::External(e)) => (causes[0], e),
                (Node::External(e), Node::Derived { .. }) => (causes[1], e),
                _ => return None,
            };
            let External::FromDependencyOf(p, _, x, _) = &**external else {
                return None;
            };
            if !p.is_root() {
                return None;
            }
            wanted.insert(*x);
            let Node::Derived { terms, shared, .. } = tree.nodes.get(derived)? else {
                return None;
            };
            let terms: Vec<&(Pkg, Term<VersionRanges>)> =
                terms.iter().filter(|(p, _)| !p.is_root()).collect();
            let covered = terms.len() == wanted.len()
                && terms.iter().all(|(pkg, term)| {
                    let Term::Positive(set) = term else {
                        return false;
                    };
                    let Some(dep) = self.root.iter().find(|dep| dep.pkg == *pkg) else {
                        return false;
                    };
                    wanted.contains(pkg)
                        && self
                            .universe
                            .entries(*pkg)
                            .iter()
                            .filter(|entry| dep.range.contains(entry.version()))
                            .all(|entry| set.contains(entry.version()))
                });
            let names: BTreeSet<&str> = wanted.iter().map(|pkg| self.name(*pkg)).collect();
            if covered && shared.is_none() && names == goal {
                return Some(derived);
            }
            at = derived;
        }
    }

    /// For trees too deep to walk step by step: the facts, then the verdict.
    fn explain_as_list(&self, tree: &Tree) -> String {
        let mut lines = vec![format!(
            "Because of the facts below, {}. (The reasoning is too long to write out step by step.)",
            self.goal_failed()
        )];
        let mut seen = BTreeSet::new();
        for external in tree.externals() {
            let text = self.external(external);
            if seen.insert(text.clone()) {
                lines.push(format!("- {text}"));
            }
        }
        if lines.len() > MAX_LINES {
            let cut = lines.len() - MAX_LINES;
            lines.truncate(MAX_LINES);
            lines.push(format!("- ... and {cut} more"));
        }
        lines.join("\n")
    }

    fn goal_failed(&self) -> String {
        match &self.goal {
            Goal::Wanted(names) if names.len() == 1 => format!("{} cannot be loaded", names[0]),
            Goal::Wanted(names) if names.len() <= MAX_LISTED => {
                format!("{} cannot be loaded together", join_and(names))
            }
            Goal::Wanted(_) => "the wanted plugins cannot be loaded together".to_owned(),
            Goal::Optional(name) => format!("{name} cannot be loaded beside the selected plugins"),
        }
    }

    fn name(&self, pkg: Pkg) -> &str {
        self.universe.name(pkg)
    }

    /// One external fact, without a final period.
    fn external(&self, external: &Ext) -> String {
        match external {
            External::NotRoot(_, _) => "the wanted plugins are resolved".to_owned(),
            External::NoVersions(pkg, set) => self.no_versions(*pkg, set, self.known.get(set)),
            External::Custom(pkg, set, reason) => {
                format!("{} cannot be used: {reason}", self.subject(*pkg, set).text)
            }
            External::FromDependencyOf(p, set_p, d, set_d) => self.dependency(*p, set_p, *d, set_d),
        }
    }

    /// "auth 1.2.3 requires logging ^2", "db is wanted".
    fn dependency(&self, p: Pkg, set_p: &VersionRanges, d: Pkg, set_d: &VersionRanges) -> String {
        if p.is_root() {
            return self.root_dependency(d, set_d);
        }
        let subject = self.subject(p, set_p);
        let verb = if subject.plural {
            "require"
        } else {
            "requires"
        };
        let constraint = self.dependency_constraint(p, set_p, d, set_d);
        let mut text = format!(
            "{} {verb} {}",
            subject.text,
            with_range(self.name(d), &constraint)
        );
        if set_d.is_empty() {
            text.push_str(&self.why_none(d, &constraint));
        }
        text
    }

    /// Why no version of `d` fits `constraint` at all (the range handed to
    /// the solver is empty): no such version exists, or the policy rules
    /// out the ones that match. A clause to follow the requirement.
    fn why_none(&self, d: Pkg, constraint: &str) -> String {
        let entries = self.universe.entries(d);
        if entries.is_empty() {
            return format!(", but no plugin named {} was found", self.name(d));
        }
        let matching = Constraint::parse(constraint)
            .is_ok_and(|c| entries.iter().any(|e| c.matches(e.version())));
        if !matching {
            return format!(", but no such version exists ({})", self.available(d));
        }
        match self.refusal(d, constraint) {
            Some(reason) => format!(", which the version policy rules out ({reason})"),
            None => String::new(),
        }
    }

    fn root_dependency(&self, d: Pkg, set_d: &VersionRanges) -> String {
        let name = self.name(d);
        let Some(dep) = self.root.iter().find(|dep| dep.pkg == d) else {
            return format!("{} is wanted", with_range(name, &self.range_text(set_d)));
        };
        // Several wants of the caller, each possible alone, that no version
        // can satisfy together: the wants conflict, whatever exists.
        let wants: Vec<&VersionRanges> = dep
            .origins
            .iter()
            .filter_map(|origin| match origin {
                Origin::Wanted { range, .. } => Some(range),
                _ => None,
            })
            .collect();
        let wants_conflict = set_d.is_empty()
            && wants.len() > 1
            && wants.iter().all(|range| !range.is_empty())
            && wants
                .iter()
                .fold(VersionRanges::full(), |all, range| all.intersection(range))
                .is_empty();
        let mut parts: Vec<String> = dep
            .origins
            .iter()
            .map(|origin| match origin {
                Origin::Wanted {
                    constraint, range, ..
                } => {
                    let mut text = format!("{} is wanted", with_range(name, constraint.as_str()));
                    if set_d.is_empty() && range.is_empty() {
                        text.push_str(&self.why_none(d, constraint.as_str()));
                    }
                    text
                }
                Origin::Pinned(version) => format!("{name} {version} is already selected"),
                Origin::Optional {
                    parent,
                    version,
                    constraint,
                } => format!(
                    "{} {version} optionally uses {}",
                    self.name(*parent),
                    with_range(name, constraint.as_str())
                ),
            })
            .collect();
        if wants_conflict && let Some(last) = parts.last_mut() {
            last.push_str(", two wants that no one version can satisfy");
        }
        join_and(&parts)
    }

    /// The constraint text of `p`'s requirement on `d`: the one every
    /// version in `set_p` writes, else the range.
    fn dependency_constraint(
        &self,
        p: Pkg,
        set_p: &VersionRanges,
        d: Pkg,
        set_d: &VersionRanges,
    ) -> String {
        let mut texts = BTreeSet::new();
        for entry in self.entries_in(p, set_p) {
            let edges: Vec<&str> = entry
                .required
                .iter()
                .filter(|edge| edge.to == d.0)
                .map(|edge| edge.constraint.as_str())
                .collect();
            texts.insert(edges.join(" and "));
        }
        match texts.len() {
            1 => texts.pop_first().unwrap_or_default(),
            _ => self.range_text(set_d),
        }
    }

    /// Why the policy refuses the versions of `d` that `constraint` names,
    /// e.g. "2.0.0-rc.1 is a pre-release and pre-releases are not allowed".
    /// Only versions that match the constraint count: one that does not
    /// match is not the policy's doing.
    fn refusal(&self, d: Pkg, constraint: &str) -> Option<String> {
        let constraint = Constraint::parse(constraint).ok()?;
        let current = self.universe.current(d);
        let entries = self.universe.entries(d);
        entries
            .iter()
            .rev()
            .filter(|entry| constraint.matches(entry.version()))
            .find_map(|entry| {
                match self
                    .policy
                    .check(current, entry.version(), Some(&constraint))
                {
                    Verdict::Refused(reason) => self.policy_reason(reason),
                    _ => None,
                }
            })
    }

    /// "no version of logging matches ^2; only logging 1.0.0 and 1.1.0
    /// exist", for an optional dependency no version fits.
    pub(crate) fn no_matching_version(
        &self,
        d: Pkg,
        set: &VersionRanges,
        constraint: &Constraint,
    ) -> String {
        self.no_versions(d, set, Some(constraint))
    }

    /// "no plugin named logging was found", "no version of logging matches
    /// ^2; only logging 1.0.0 and 1.1.0 exist".
    fn no_versions(&self, d: Pkg, set: &VersionRanges, constraint: Option<&Constraint>) -> String {
        let name = self.name(d);
        let entries = self.universe.entries(d);
        if entries.is_empty() {
            return format!("no plugin named {name} was found");
        }
        let mut text = match constraint {
            Some(constraint) => format!("no version of {name} matches {constraint}"),
            None => format!("{name} has no version in {}", self.range_text(set)),
        };
        text.push_str("; ");
        text.push_str(&self.absent(d, set, constraint.map(Constraint::as_str)));
        text
    }

    /// "only logging 1.0.0 and 1.1.0 exist", with the policy's reason when
    /// it rules out versions that match `constraint`.
    fn absent(&self, d: Pkg, set: &VersionRanges, constraint: Option<&str>) -> String {
        self.absent_asked(d, set, constraint.map_or(Asked::Unknown, Asked::Constraint))
    }

    fn absent_asked(&self, d: Pkg, set: &VersionRanges, asked: Asked<'_>) -> String {
        let entries = self.universe.entries(d);
        if entries.is_empty() {
            return format!("no plugin named {} was found", self.name(d));
        }
        let mut text = self.available(d);
        let reason = match asked {
            Asked::Constraint(constraint) => Constraint::parse(constraint).ok().and_then(|c| {
                let refused = entries
                    .iter()
                    .any(|e| c.matches(e.version()) && !set.contains(e.version()));
                if refused {
                    self.refusal(d, c.as_str())
                } else {
                    None
                }
            }),
            Asked::Any => {
                let current = self.universe.current(d);
                entries
                    .iter()
                    .rev()
                    .filter(|e| !set.contains(e.version()))
                    .find_map(|e| match self.policy.check(current, e.version(), None) {
                        Verdict::Refused(reason) => self.policy_reason(reason),
                        _ => None,
                    })
            }
            Asked::Unknown => None,
        };
        if let Some(reason) = reason {
            text.push_str(&format!(" (ruled out by the version policy: {reason})"));
        }
        text
    }

    /// "only logging 1.0.0 and 1.1.0 exist".
    fn available(&self, d: Pkg) -> String {
        let versions: Vec<&Version> = self
            .universe
            .entries(d)
            .iter()
            .map(Entry::version)
            .collect();
        let name = self.name(d);
        match versions.as_slice() {
            [] => format!("no version of {name} exists"),
            [one] => format!("only {name} {one} exists"),
            [first, .., last] if versions.len() > MAX_LISTED => format!(
                "only {} versions of {name} exist, {first} to {last}",
                versions.len()
            ),
            _ => {
                let listed: Vec<String> = versions.iter().map(|v| v.to_string()).collect();
                format!("only {name} {} exist", join_and(&listed))
            }
        }
    }

    /// How to name the versions of `p` in `set`.
    fn subject(&self, p: Pkg, set: &VersionRanges) -> Subject {
        let name = self.name(p);
        if p.is_root() {
            return Subject {
                text: name.to_owned(),
                plural: true,
                all: true,
            };
        }
        let entries = self.universe.entries(p);
        let inside: Vec<&Version> = self.entries_in(p, set).map(Entry::version).collect();
        if !entries.is_empty() && inside.len() == entries.len() {
            let text = match inside.as_slice() {
                [only] => format!("{name} {only}"),
                _ => format!("every version of {name}"),
            };
            return Subject {
                text,
                plural: false,
                all: true,
            };
        }
        if !inside.is_empty() && inside.len() <= MAX_LISTED {
            let inside: Vec<String> = inside.iter().map(ToString::to_string).collect();
            return Subject {
                text: format!("{name} {}", join_and(&inside)),
                plural: inside.len() > 1,
                all: false,
            };
        }
        Subject {
            text: with_range(name, &self.range_text(set)),
            plural: false,
            all: false,
        }
    }

    /// A range as the constraint that produced it, else in range syntax.
    fn range_text(&self, set: &VersionRanges) -> String {
        if let Some(constraint) = self.known.get(set) {
            return constraint.as_str().to_owned();
        }
        if *set == VersionRanges::full() {
            return "*".to_owned();
        }
        if set.is_empty() {
            return "(no version)".to_owned();
        }
        let release = set.release();
        let pre = set.prerelease();
        match (release.is_empty(), pre.is_empty()) {
            (false, true) => release.to_string(),
            (true, false) => pre.to_string(),
            _ if release == pre => release.to_string(),
            _ => format!("{release} (pre-releases: {pre})"),
        }
    }

    /// What a derived incompatibility says, as a clause.
    fn terms(&self, terms: &[(Pkg, Term<VersionRanges>)]) -> String {
        let terms: Vec<&(Pkg, Term<VersionRanges>)> = {
            let mut sorted: Vec<&(Pkg, Term<VersionRanges>)> =
                terms.iter().filter(|(p, _)| !p.is_root()).collect();
            sorted.sort_by(|a, b| self.name(a.0).cmp(self.name(b.0)));
            sorted
        };
        let positive: Vec<(Pkg, &VersionRanges)> = terms
            .iter()
            .filter_map(|(p, t)| match t {
                Term::Positive(set) => Some((*p, set)),
                Term::Negative(_) => None,
            })
            .collect();
        let negative: Vec<(Pkg, &VersionRanges)> = terms
            .iter()
            .filter_map(|(p, t)| match t {
                Term::Negative(set) => Some((*p, set)),
                Term::Positive(_) => None,
            })
            .collect();
        let required = |list: &[(Pkg, &VersionRanges)]| -> Vec<String> {
            list.iter()
                .map(|(p, set)| with_range(self.name(*p), &self.range_text(set)))
                .collect()
        };
        match (positive.as_slice(), negative.as_slice()) {
            ([], []) => self.goal_failed(),
            ([(p, set)], []) => {
                let subject = self.subject(*p, set);
                if subject.all {
                    format!("no version of {} can be loaded", self.name(*p))
                } else {
                    format!("{} cannot be loaded", subject.text)
                }
            }
            ([], negatives) => {
                let verb = if negatives.len() > 1 { "are" } else { "is" };
                format!(
                    "{} {verb} required",
                    join_or(&required(negatives), negatives.len())
                )
            }
            ([(p, set)], negatives) => {
                let subject = self.subject(*p, set);
                let verb = if subject.plural {
                    "require"
                } else {
                    "requires"
                };
                format!("{} {verb} {}", subject.text, join_and(&required(negatives)))
            }
            (positives, []) => {
                let names: Vec<String> = positives
                    .iter()
                    .map(|(p, set)| self.subject(*p, set).text)
                    .collect();
                format!("{} cannot be loaded together", join_and(&names))
            }
            (positives, negatives) => {
                let names: Vec<String> = positives
                    .iter()
                    .map(|(p, set)| self.subject(*p, set).text)
                    .collect();
                format!(
                    "{} together require {}",
                    join_and(&names),
                    join_and(&required(negatives))
                )
            }
        }
    }

    /// Two external facts that together make a clause; a dependency next to
    /// the absence of what it needs reads as one fact.
    fn pair(&self, first: &Ext, second: &Ext) -> String {
        let (first, second) = if rank(first) <= rank(second) {
            (first, second)
        } else {
            (second, first)
        };
        if let (External::FromDependencyOf(p, set_p, d, set_d), External::NoVersions(missing, set)) =
            (first, second)
            && d == missing
            && set_d.subset_of_set(set)
        {
            let dependency = self.dependency(*p, set_p, *d, set_d);
            let absent = if p.is_root() {
                let origins = self
                    .root
                    .iter()
                    .find(|dep| dep.pkg == *d)
                    .map_or(&[][..], |dep| dep.origins.as_slice());
                let asked = match origins {
                    [Origin::Wanted { any: true, .. }] => Asked::Any,
                    [origin] => origin
                        .constraint()
                        .map_or(Asked::Unknown, |c| Asked::Constraint(c.as_str())),
                    _ => Asked::Unknown,
                };
                self.absent_asked(*d, set_d, asked)
            } else {
                let constraint = self.dependency_constraint(*p, set_p, *d, set_d);
                self.absent(*d, set_d, Some(&constraint))
            };
            return format!("{dependency}, but {absent}");
        }
        if let (
            External::FromDependencyOf(p1, s1, d1, r1),
            External::FromDependencyOf(p2, s2, d2, r2),
        ) = (first, second)
            && p1 == p2
            && s1 == s2
            && !p1.is_root()
        {
            // "app 1.0.0 requires menu and icons ^1"
            let subject = self.subject(*p1, s1);
            let verb = if subject.plural {
                "require"
            } else {
                "requires"
            };
            let one = with_range(
                self.name(*d1),
                &self.dependency_constraint(*p1, s1, *d1, r1),
            );
            let two = with_range(
                self.name(*d2),
                &self.dependency_constraint(*p2, s2, *d2, r2),
            );
            return format!("{} {verb} {one} and {two}", subject.text);
        }
        let (first, second) = (self.external(first), self.external(second));
        // "a is wanted and b is wanted" -> "a and b are wanted"
        if let (Some(a), Some(b)) = (
            first.strip_suffix(" is wanted"),
            second.strip_suffix(" is wanted"),
        ) && !a.contains(" is wanted")
            && !b.contains(" is wanted")
        {
            return format!("{a} and {b} are wanted");
        }
        format!("{first} and {second}")
    }
}

/// Dependencies of the root first, then other dependencies, then the rest.
fn rank(external: &Ext) -> u8 {
    match external {
        External::FromDependencyOf(p, ..) if p.is_root() => 0,
        External::FromDependencyOf(..) => 1,
        _ => 2,
    }
}

trait SubsetOf {
    fn subset_of_set(&self, other: &Self) -> bool;
}

impl SubsetOf for VersionRanges {
    fn subset_of_set(&self, other: &Self) -> bool {
        self.intersection(other) == *self
    }
}

/// What was asked of a plugin that has no fitting version.
#[derive(Clone, Copy)]
enum Asked<'c> {
    /// A constraint as written.
    Constraint(&'c str),
    /// Any version (a wanted plugin named without a constraint).
    Any,
    /// Several requirements or none known.
    Unknown,
}

/// A requirement on some plugin, as the analysis collects them.
struct Requirer {
    /// `None` for the caller's own (wanted) requirement.
    plugin: Option<(Pkg, Version)>,
    constraint: Constraint,
    range: VersionRanges,
}

/// How a set of versions of one plugin reads.
struct Subject {
    text: String,
    plural: bool,
    /// The set holds every version the registry has.
    all: bool,
}

/// The step-by-step writer (the structure of pubgrub's DefaultStringReporter).
struct Writer<'r, 't> {
    reporter: &'r Reporter<'r>,
    tree: &'t Tree,
    lines: Vec<String>,
    /// Line numbers given to shared conclusions, by pubgrub's shared id.
    refs: HashMap<usize, usize>,
    ref_count: usize,
    /// A node whose conclusion is worded as the goal (its parent, the last
    /// step, would only repeat it).
    last: Option<usize>,
}

impl Writer<'_, '_> {
    fn terms(&self, at: usize) -> &[(Pkg, Term<VersionRanges>)] {
        match self.tree.nodes.get(at) {
            Some(Node::Derived { terms, .. }) => terms,
            _ => &[],
        }
    }

    /// The conclusion of node `at`, as a clause.
    fn conclusion(&self, at: usize) -> String {
        if self.last == Some(at) {
            return self.reporter.goal_failed();
        }
        self.reporter.terms(self.terms(at))
    }

    fn build(&mut self, at: usize) {
        let Some(Node::Derived { shared, .. }) = self.tree.nodes.get(at) else {
            return;
        };
        let shared = *shared;
        self.build_helper(at);
        if let Some(id) = shared
            && !self.refs.contains_key(&id)
        {
            self.add_line_ref();
            self.refs.insert(id, self.ref_count);
        }
    }

    fn build_helper(&mut self, at: usize) {
        let tree = self.tree;
        let Some(Node::Derived { causes, .. }) = tree.nodes.get(at) else {
            return;
        };
        let [c1, c2] = *causes;
        let (Some(first), Some(second)) = (tree.nodes.get(c1), tree.nodes.get(c2)) else {
            return;
        };
        let r = self.reporter;
        match (first, second) {
            (Node::External(e1), Node::External(e2)) => {
                let line = format!("Because {}, {}.", r.pair(e1, e2), self.conclusion(at));
                self.lines.push(line);
            }
            (Node::Derived { .. }, Node::External(e)) => self.one_each(c1, e, at),
            (Node::External(e), Node::Derived { .. }) => self.one_each(c2, e, at),
            (Node::Derived { shared: s1, .. }, Node::Derived { shared: s2, .. }) => {
                match (self.line_ref(*s1), self.line_ref(*s2)) {
                    (Some(r1), Some(r2)) => {
                        let line = format!(
                            "Because {} ({r1}) and {} ({r2}), {}.",
                            self.conclusion(c1),
                            self.conclusion(c2),
                            self.conclusion(at)
                        );
                        self.lines.push(line);
                    }
                    (Some(r1), None) => {
                        self.build(c2);
                        self.and_ref(r1, c1, at);
                    }
                    (None, Some(r2)) => {
                        self.build(c1);
                        self.and_ref(r2, c2, at);
                    }
                    (None, None) => {
                        self.build(c1);
                        if s1.is_some() {
                            self.lines.push(String::new());
                            self.build(at);
                        } else {
                            self.add_line_ref();
                            let r1 = self.ref_count;
                            self.lines.push(String::new());
                            self.build(c2);
                            self.and_ref(r1, c1, at);
                        }
                    }
                }
            }
        }
    }

    fn and_ref(&mut self, line: usize, derived: usize, at: usize) {
        let text = format!(
            "And because {} ({line}), {}.",
            self.conclusion(derived),
            self.conclusion(at)
        );
        self.lines.push(text);
    }

    /// One derived cause and one external one.
    fn one_each(&mut self, derived: usize, external: &Ext, at: usize) {
        let tree = self.tree;
        let r = self.reporter;
        let Some(Node::Derived { shared, causes, .. }) = tree.nodes.get(derived) else {
            return;
        };
        if let Some(line) = self.line_ref(*shared) {
            let text = format!(
                "Because {} ({line}) and {}, {}.",
                self.conclusion(derived),
                r.external(external),
                self.conclusion(at)
            );
            self.lines.push(text);
            return;
        }
        let prior = match (tree.nodes.get(causes[0]), tree.nodes.get(causes[1])) {
            (Some(Node::Derived { .. }), Some(Node::External(prior))) => Some((causes[0], prior)),
            (Some(Node::External(prior)), Some(Node::Derived { .. })) => Some((causes[1], prior)),
            _ => None,
        };
        match prior {
            Some((prior_derived, prior_external)) => {
                self.build(prior_derived);
                let text = format!(
                    "And because {}, {}.",
                    r.pair(prior_external, external),
                    self.conclusion(at)
                );
                self.lines.push(text);
            }
            None => {
                self.build(derived);
                let text = format!(
                    "And because {}, {}.",
                    r.external(external),
                    self.conclusion(at)
                );
                self.lines.push(text);
            }
        }
    }

    fn add_line_ref(&mut self) {
        self.ref_count += 1;
        if let Some(line) = self.lines.last_mut() {
            line.push_str(&format!(" ({})", self.ref_count));
        }
    }

    fn line_ref(&self, shared: Option<usize>) -> Option<usize> {
        shared.and_then(|id| self.refs.get(&id).copied())
    }
}

/// "logging ^2", or just "logging" for any version.
fn with_range(name: &str, range: &str) -> String {
    if range.is_empty() || range == "*" {
        name.to_owned()
    } else {
        format!("{name} {range}")
    }
}

/// `text` as a sentence: capitalised, with a final period.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// "a", "a and b", "a, b and c".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// "a", "one of a or b".
fn join_or(items: &[String], count: usize) -> String {
    match items {
        [one] if count == 1 => one.clone(),
        [init @ .., last] => format!("one of {} or {last}", init.join(", ")),
        [] => String::new(),
    }
}
