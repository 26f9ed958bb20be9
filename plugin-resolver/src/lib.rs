//! PubGrub-based dependency resolution of plugins, load order and explanations.
//!
//! Given a [`Registry`] of candidate plugins (several versions of one plugin
//! allowed, each with required and optional dependencies taken from its
//! manifest) and the plugins a host [`Wanted`], [`resolve`] chooses a version
//! for every plugin to load, builds the dependency graph between them, and
//! orders them so each loads after everything it requires. When that is
//! impossible it says why, in words a person can act on, and in a structure a
//! program can read.
//!
//! ```
//! use plugin_resolver::{Candidate, Registry, ResolveOptions, Wanted, resolve};
//! use plugin_version::{Constraint, Version};
//!
//! let v = |text: &str| plugin_version::parse_version(text).unwrap();
//! let c = |text: &str| Constraint::parse(text).unwrap();
//!
//! let mut registry = Registry::new();
//! registry.add(Candidate::new("auth-service", v("1.2.3"))
//!     .require("logging-service", c("^1"))
//!     .optional("metrics", c("^0.3")))?;
//! registry.add(Candidate::new("logging-service", v("1.0.0")))?;
//! registry.add(Candidate::new("logging-service", v("1.4.0")))?;
//! registry.add(Candidate::new("logging-service", v("2.0.0")))?;
//! registry.add(Candidate::new("metrics", v("0.3.1")))?;
//!
//! let wanted = [Wanted::new("auth-service")];
//! let resolution = resolve(&registry, &wanted, &ResolveOptions::default())?;
//! // The newest version the constraints allow; the optional dependency fits.
//! assert_eq!(resolution.version("logging-service"), Some(&v("1.4.0")));
//! assert_eq!(resolution.load_order(), ["logging-service", "metrics", "auth-service"]);
//!
//! // Nothing satisfies `^3`: no resolution, and the reason.
//! let wanted = ["auth-service".parse()?, "logging-service@^3".parse()?];
//! let error = resolve(&registry, &wanted, &ResolveOptions::default()).unwrap_err();
//! assert_eq!(error.version_conflicts()[0].dependency(), "logging-service");
//! assert!(error.explanation().contains("only logging-service 1.0.0, 1.4.0 and 2.0.0 exist"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What it does
//!
//! - **Versions.** Each plugin gets the newest release its dependents'
//!   constraints and the [`VersionPolicy`](plugin_version::VersionPolicy) allow
//!   (pre-releases, exact matches, downgrades relative to the versions loaded
//!   now, [`ResolveOptions::current`]); a pre-release only when no release
//!   fits. The policy is applied *inside* every range the solver sees
//!   ([`VersionPolicy::admissible`](plugin_version::VersionPolicy::admissible)),
//!   so the solver never picks a version the policy refuses, and the
//!   explanation says when the policy is why nothing fits. Constraints follow
//!   npm, so `*` or `^2` match no pre-release whatever the policy; a plugin
//!   wanted by name alone ([`Wanted::new`]) accepts any version the policy
//!   admits, pre-releases included when it allows them.
//! - **Optional dependencies** load when some version fits and are never the
//!   reason a resolution fails. Each one left out is reported as a
//!   [`Warning::OptionalLeftOut`] with its reason, typed ([`LeftOut`]:
//!   missing from the registry, no version fits the constraint, another
//!   version is loaded, it conflicts with the chosen set, the chain would be
//!   too deep) and in words, so a person learns why an optional feature is
//!   off.
//! - **Load order.** [`Resolution::load_order`] puts every plugin after all it
//!   requires and after its loaded optional dependencies; ties go by name, so
//!   the order is deterministic. [`Resolution::load_groups`] is the same order
//!   in groups.
//! - **Cycles** of required dependencies are an error by default
//!   ([`CircularDependencyMode::Reject`]) that names the members in order
//!   (`a -> b -> c -> a`); with [`CircularDependencyMode::Allow`] a cycle's
//!   members form one load group, and a [`Warning::CycleLoadedTogether`] says
//!   so. Optional edges never make a cycle an error: the order respects them
//!   where it can and a [`Warning::OptionalOrderIgnored`] names the one it
//!   could not.
//! - **Strategies.** [`Strategy::Strict`]: every wanted plugin or an error.
//!   [`Strategy::BestEffort`]: the wanted plugins that cannot load are dropped,
//!   with their reasons ([`Resolution::dropped`]), and the rest load.
//! - **Failures** are a [`ResolveError`]: for "no solution", a [`Failure`]
//!   with `unresolved_dependencies` (plugin → names not in the registry),
//!   `missing_wanted`, `version_conflicts` (plugin, constraint, available
//!   versions), `circular_dependencies`, and `explanation()`, written from
//!   PubGrub's derivation tree in terms of plugins.
//! - **For a host.** A candidate may carry the caller's [`CandidateKey`],
//!   handed back for the chosen version ([`Resolution::key`]);
//!   [`Resolution::dependents`] and [`Resolution::transitive_dependents`]
//!   say what depends on a plugin and what goes down with it;
//!   [`Resolution::diff`] says what to unload, swap, load and reload to go
//!   from one resolution to the next.
//! - **Bounds** ([`ResolveLimits`], in [`ResolveOptions::limits`]).
//!   [`ResolveLimits::max_depth`] limits the longest chain of required
//!   dependencies; [`ResolveLimits::max_steps`] and
//!   [`ResolveLimits::time_limit`] bound the solver's work (checked at every
//!   solver step through PubGrub's `should_cancel`), so an adversarial
//!   registry cannot hang the host. Both give a typed error. No input makes
//!   this crate panic, and nothing in it recurses on the input's depth.
//! - **Hints.** When a setting would change a failed answer, the error
//!   carries it as a typed [`Hint`] ([`ResolveError::hints`]): a pre-release,
//!   downgrade, breaking change or range the policy refuses, a rejected
//!   cycle, a time, step or depth bound reached. Front ends name their own
//!   switch for it; the library says it in words (the explanation's last
//!   lines, or the error message for bounds). The explanation blames the
//!   policy only for versions that match and that it refuses; a wanted
//!   version that does not exist, or two wants of one plugin that no
//!   version satisfies together, are named as such.
//!
//! # Design decisions
//!
//! **PubGrub with a virtual root.** The resolver implements
//! `pubgrub::DependencyProvider` itself (pubgrub 0.4). Packages are interned
//! plugin ids; the wanted set is the dependencies of a virtual root package.
//! The root never appears in what users read: the explanation is written by
//! our own reporter, which says "auth-service is wanted" where pubgrub's
//! default reporter would say "root 0.0.0 depends on auth-service". Versions
//! are `semver::Version`; version sets are `plugin_version::VersionRanges`
//! (a pair of `Ranges`, because one `Ranges` cannot express npm's pre-release
//! rule). The solver picks the newest admissible release (a pre-release only
//! when no release fits, as pip and cargo do) and decides the packages with
//! the most conflicts, then the fewest remaining versions, first (pubgrub's
//! own heuristic); a plugin with no version left is decided at once so a
//! conflict surfaces early.
//!
//! **A name alone means any version.** A constraint follows npm, and npm's
//! `*` matches no pre-release; so [`Wanted::new`] (a name without a
//! constraint) is not `*` but "any version the policy admits". Otherwise a
//! plugin that exists only as a pre-release could never be loaded by name,
//! whatever the policy (`plugkit resolve --allow-prerelease` wants every
//! plugin found, by name). Dependencies in manifests keep npm's meaning.
//!
//! **Optional dependencies: a second pass, not feature packages.** PubGrub
//! decides whether a set of requirements can hold; "load it if it can be
//! loaded" is a preference, which PubGrub cannot express. The feature-like
//! virtual packages of PubGrub's guide model optional dependencies that
//! someone *switches on*; ours are switched on by availability. So the
//! resolver first resolves the required dependencies alone, then tries the
//! optional dependencies of the chosen plugins with every version already
//! chosen pinned: all pending ones at once (the common case, one solver run),
//! and, if they do not fit together, one at a time in (plugin, dependency)
//! name order, keeping each one that fits. What an accepted optional
//! dependency requires is resolved in the same run, and its own optional
//! dependencies are tried next. Consequences, all intended: an optional
//! dependency can never make a resolution fail or change a version chosen for
//! a required plugin; the result is deterministic; each one left out has its
//! own reason. The price is that a combination where an older required
//! version would admit an optional dependency is not searched for.
//!
//! **Best effort: drop culprits, then verify.** Resolve everything; on
//! failure the derivation tree names the wanted plugins the proof rests on
//! (the root's dependencies among its leaves). Of those, the first by name
//! that cannot load even alone is dropped with its own explanation; if each
//! loads alone, they conflict with each other, and the last by name is
//! dropped (earlier names win). Repeat until the rest resolves. Then every
//! dropped plugin is tried once more against the final set and kept if it
//! now fits, so the kept set is maximal: adding back any dropped plugin
//! fails. With one bad plugin among a thousand good ones this costs four
//! solver runs, not a thousand.
//!
//! **Cycles are found after solving.** PubGrub has no notion of a cycle, so
//! cycles are found on the chosen graph (Tarjan's algorithm, iterative) and
//! reported as the shortest cycles through each member, starting from the
//! first name. The resolver does not search for other versions that would
//! avoid a cycle: a cycle among required plugins is a design error a person
//! should see.
//!
//! **The reporter.** pubgrub's `DefaultStringReporter` prints packages and
//! ranges (`root 0.0.0 depends on auth >=1.0.0, <2.0.0`). Ours walks the
//! same derivation tree in the same shape (numbered lines for conclusions
//! used twice) but words every fact in terms of plugins: the root is "X is
//! wanted", a range is the constraint a manifest wrote (`^2`), a set of
//! versions is the versions that exist ("auth 1.2.3", "every version of
//! menu"), a dependency next to the absence of what it needs reads as one
//! fact ("auth 1.2.3 requires logging ^2, but only logging 1.0.0 and 1.1.0
//! exist"), and the policy's reason is given when it is what rules versions
//! out. "No other version of X exists" facts about the *dependent* are
//! folded into its dependency, and a last step that only repeats the
//! previous conclusion is dropped. The structured facts come from the same
//! tree's leaves: a dependency on a name with no candidates is unresolved;
//! requirements on one plugin that no version satisfies (alone, or together
//! across different dependents) are version conflicts.
//!
//! **Keys: a number the resolver carries and never reads.** A host builds
//! its registry from discovered plugins and must find, for every chosen
//! version, the discovered plugin it came from; but the resolver stays
//! below discovery and knows nothing of paths or artifacts. So a candidate
//! may carry a [`CandidateKey`] (a `u64`, `Copy`, given with
//! [`Candidate::with_key`] or [`Registry::add_manifest_with_key`]) that the
//! resolution hands back ([`Resolution::key`]). A number rather than a
//! type parameter keeps `Registry` and `Resolution` plain types every crate
//! can name, and rather than a path or an `Arc<dyn Any>` keeps the resolver
//! from knowing what it points to (an index into the host's table of
//! discovered plugins, or an id in a map). A key is not identity: the name
//! and version are. A second candidate of one name and version is refused
//! whatever its key, the first keeping its place and its key, so every
//! chosen version has exactly one key or none; keys never decide a choice,
//! and two candidates may share one.
//!
//! **Dependents: what stops, and what only loses an option.** A host
//! whose plugin fails takes down what requires it, and must decide what to
//! do with what merely uses it. [`Resolution::dependents`] is the exact
//! reverse of the graph's edges (an optional dependent only when the
//! optional dependency was loaded), each tagged with its
//! [`DependencyKind`]. [`Resolution::transitive_dependents`] follows
//! required edges to a fixed point (everything that cannot run without the
//! plugin) and adds, tagged optional, the plugins with an optional
//! dependency on anything in that set, but goes no further from them:
//! they keep running. The answer is in load order, so a host stops it in
//! reverse. Both are computed from an index built once per resolution.
//!
//! **A diff in the order a host applies it.** A host re-resolves after
//! every batch of discovery events and must act on the difference, whatever
//! events brought it: v2 appearing beside v1 and v1 disappearing is one
//! version change, as is an in-place update. [`Resolution::diff`] matches
//! plugins by name and compares versions (build metadata included, as the
//! registry does; [`Direction`] says upgrade, downgrade or rebuild by
//! semver precedence). Removals come in reverse load order of the old
//! resolution (dependents first), additions, version changes and kept
//! plugins in load order of the new one, so each list can be applied as
//! it stands. A kept plugin lists its [`DependencyChange`]s (an optional
//! dependency now loaded or gone, a dependency at another version, a
//! constraint or kind changed by a manifest rewritten under the same
//! version); [`KeptPlugin::required_changed`] singles out a change of its
//! required dependencies' versions, after which a host reloads it. Keys are
//! carried on both sides but never compared: what a key points to is the
//! host's to judge.
//!
//! **Depth and steps.** The depth is the longest chain in the chosen graph
//! (a cycle's group counts once). PubGrub's work can grow faster than the
//! number of its steps on adversarial input (a failing chain of 50,000
//! plugins takes tens of seconds), so a time limit backs the step limit.
//! Derivation trees that deep are taken apart without recursion and
//! explained as a list of facts rather than step by step.
//!
//! **Cost.** Plugin names are interned ids inside the solver; what the
//! policy admits of each constraint text is computed once per resolution;
//! results share names and constraints with the registry (`Arc`). Resolving
//! all of a solvable registry of 1,000 plugins x 20 versions takes about
//! 20 ms, 1.2-1.3x pubgrub's own `OfflineDependencyProvider` on the same
//! data, which does none of the policy, graph, order or optional work
//! (`cargo xtask bench`).
#![deny(missing_docs)]

mod diff;
mod error;
mod graph;
mod options;
mod provider;
mod registry;
mod report;
mod resolution;
mod solve;
mod tree;

pub use diff::{
    DependencyChange, Direction, KeptPlugin, ResolutionDiff, ResolvedDependency, SelectedPlugin,
    VersionChange,
};
pub use error::{CancelReason, Failure, Hint, ResolveError, VersionConflict};
pub use options::{
    CircularDependencyMode, ResolveLimits, ResolveOptions, Strategy, Wanted, WantedParseError,
};
pub use registry::{Candidate, CandidateKey, Registry, RegistryError, Requirement};
pub use resolution::{
    Affected, DependencyEdge, DependencyKind, Dependent, DropReason, Dropped, LeftOut, Resolution,
    Warning,
};
pub use solve::resolve;
