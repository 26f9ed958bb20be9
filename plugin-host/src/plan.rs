//! The plan of a change: a pure function of what runs and what the new
//! resolution selects, so it can be tested exhaustively; the effects
//! (load, drain, switch) stay thin around it in [`host`](crate::host).

use std::collections::BTreeMap;

use plugin_version::Version;

/// One thing to do to one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Stop a plugin the new resolution no longer selects.
    Unload { name: String, version: Version },
    /// Start a plugin that does not run yet.
    Load { name: String, version: Version },
    /// Replace the running version by another (upgrade or downgrade).
    Swap {
        name: String,
        from: Version,
        to: Version,
    },
}

impl Step {
    pub(crate) fn name(&self) -> &str {
        match self {
            Step::Unload { name, .. } | Step::Load { name, .. } | Step::Swap { name, .. } => name,
        }
    }
}

/// The steps that turn `running` (started in `running_order`) into
/// `selected` (to be started in `new_order`):
///
/// 1. unloads first, in reverse of the order the plugins were started
///    (dependents before what they depend on; nothing the new selection
///    keeps depends on a plugin it drops, the resolver sees to that);
/// 2. then loads and swaps, in the new load order (a plugin after
///    everything it requires).
///
/// Plugins whose version does not change get no step.
pub(crate) fn plan(
    running: &BTreeMap<String, Version>,
    running_order: &[String],
    selected: &BTreeMap<String, Version>,
    new_order: &[String],
) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut unloads: Vec<&String> = running_order
        .iter()
        .filter(|name| running.contains_key(*name) && !selected.contains_key(*name))
        .collect();
    // Running plugins missing from the recorded order (should not happen)
    // are unloaded last, by name.
    unloads.extend(
        running
            .keys()
            .filter(|name| !selected.contains_key(*name) && !running_order.contains(name)),
    );
    let mut seen = std::collections::BTreeSet::new();
    for name in unloads.into_iter().rev() {
        if seen.insert(name) {
            steps.push(Step::Unload {
                name: name.clone(),
                version: running[name].clone(),
            });
        }
    }
    let ordered = new_order
        .iter()
        .chain(selected.keys().filter(|name| !new_order.contains(name)));
    let mut seen = std::collections::BTreeSet::new();
    for name in ordered {
        let (Some(to), true) = (selected.get(name), seen.insert(name)) else {
            continue;
        };
        match running.get(name) {
            None => steps.push(Step::Load {
                name: name.clone(),
                version: to.clone(),
            }),
            Some(from) if from != to => steps.push(Step::Swap {
                name: name.clone(),
                from: from.clone(),
                to: to.clone(),
            }),
            Some(_) => {}
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).expect("version")
    }

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, Version> {
        entries
            .iter()
            .map(|(n, ver)| (n.to_string(), v(ver)))
            .collect()
    }

    fn order(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_first_start_loads_in_load_order() {
        let steps = plan(
            &BTreeMap::new(),
            &[],
            &map(&[("a", "1.0.0"), ("b", "1.0.0")]),
            &order(&["b", "a"]),
        );
        assert_eq!(
            steps,
            [
                Step::Load {
                    name: "b".into(),
                    version: v("1.0.0")
                },
                Step::Load {
                    name: "a".into(),
                    version: v("1.0.0")
                },
            ]
        );
    }

    #[test]
    fn unloads_come_first_in_reverse_start_order_then_swaps_in_load_order() {
        let running = map(&[
            ("c", "1.0.0"),
            ("b", "1.0.0"),
            ("a", "1.0.0"),
            ("x", "1.0.0"),
            ("y", "1.0.0"),
        ]);
        let selected = map(&[
            ("c", "2.0.0"),
            ("b", "1.0.0"),
            ("a", "1.1.0"),
            ("n", "0.1.0"),
        ]);
        let steps = plan(
            &running,
            &order(&["x", "c", "y", "b", "a"]),
            &selected,
            &order(&["c", "n", "b", "a"]),
        );
        assert_eq!(
            steps,
            [
                Step::Unload {
                    name: "y".into(),
                    version: v("1.0.0")
                },
                Step::Unload {
                    name: "x".into(),
                    version: v("1.0.0")
                },
                Step::Swap {
                    name: "c".into(),
                    from: v("1.0.0"),
                    to: v("2.0.0")
                },
                Step::Load {
                    name: "n".into(),
                    version: v("0.1.0")
                },
                Step::Swap {
                    name: "a".into(),
                    from: v("1.0.0"),
                    to: v("1.1.0")
                },
            ]
        );
    }

    #[test]
    fn the_same_selection_plans_nothing_and_downgrades_are_swaps() {
        let running = map(&[("a", "2.0.0")]);
        assert!(plan(&running, &order(&["a"]), &running, &order(&["a"])).is_empty());
        let steps = plan(
            &running,
            &order(&["a"]),
            &map(&[("a", "1.0.0")]),
            &order(&["a"]),
        );
        assert_eq!(
            steps,
            [Step::Swap {
                name: "a".into(),
                from: v("2.0.0"),
                to: v("1.0.0")
            }]
        );
    }

    /// Every plan, for every pair of small selections: applying the steps to
    /// the running set yields the selection; each plugin gets at most one
    /// step; no step for an unchanged plugin; unloads precede the rest.
    #[test]
    fn every_plan_reaches_the_selection_exhaustively() {
        let names = ["a", "b", "c"];
        let versions = [None, Some("1.0.0"), Some("2.0.0")];
        let mut states = vec![BTreeMap::new()];
        for name in names {
            states = states
                .into_iter()
                .flat_map(|state: BTreeMap<String, Version>| {
                    versions.iter().map(move |version| {
                        let mut state = state.clone();
                        if let Some(version) = version {
                            state.insert(name.to_string(), v(version));
                        }
                        state
                    })
                })
                .collect();
        }
        for running in &states {
            for selected in &states {
                let running_order: Vec<String> = running.keys().rev().cloned().collect();
                let new_order: Vec<String> = selected.keys().cloned().collect();
                let steps = plan(running, &running_order, selected, &new_order);
                let mut state = running.clone();
                let mut touched = std::collections::BTreeSet::new();
                let mut loading = false;
                for step in &steps {
                    assert!(touched.insert(step.name().to_string()), "{step:?} twice");
                    match step {
                        Step::Unload { name, version } => {
                            assert!(!loading, "unload after a load: {steps:?}");
                            assert_eq!(state.remove(name).as_ref(), Some(version));
                        }
                        Step::Load { name, version } => {
                            loading = true;
                            assert!(state.insert(name.clone(), version.clone()).is_none());
                        }
                        Step::Swap { name, from, to } => {
                            loading = true;
                            assert_ne!(from, to);
                            assert_eq!(state.insert(name.clone(), to.clone()).as_ref(), Some(from));
                        }
                    }
                }
                assert_eq!(&state, selected, "{running:?} -> {selected:?}: {steps:?}");
            }
        }
    }
}
