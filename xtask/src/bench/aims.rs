//! The aims the project's issues set for the benchmark figures, in one
//! table ([`AIMS`]) keyed by (group, name), and how each is checked.
//!
//! A key's group and name may hold `*`, which stands for any text (the
//! hot-swap figures carry the swap count in their name: `p99 of 30`). The
//! first entry that matches a figure is its aim. A figure no entry matches
//! shows the aim its bench gave (`bench_support::Figure::aim`), unchecked,
//! or `-`.

use super::summary::{show, show_limit};

/// One aim: the figures it is for and what they should reach.
pub(crate) struct Aim {
    group: &'static str,
    name: &'static str,
    target: Target,
}

/// What a figure should reach.
#[derive(Clone, Copy)]
enum Target {
    /// `value / baseline`.
    Ratio(Cmp, f64),
    /// `value / ` the value of the named figure of the same group.
    RatioTo(&'static str, Cmp, f64),
    /// `value - baseline`, in the figure's unit.
    OverBaseline(Cmp, f64),
    /// The value itself, in the figure's unit.
    Value(Cmp, f64),
    /// Shown as is, not checked.
    Said(&'static str),
}

#[derive(Clone, Copy)]
enum Cmp {
    AtMost,
    Below,
    AtLeast,
}

impl Cmp {
    fn symbol(self) -> &'static str {
        match self {
            Cmp::AtMost => "≤",
            Cmp::Below => "<",
            Cmp::AtLeast => "≥",
        }
    }

    fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Cmp::AtMost => measured <= limit,
            Cmp::Below => measured < limit,
            Cmp::AtLeast => measured >= limit,
        }
    }
}

const fn aim(group: &'static str, name: &'static str, target: Target) -> Aim {
    Aim {
        group,
        name,
        target,
    }
}

/// The issues' aims, by the group and name each figure has in the table
/// (criterion's group and function id, or the bench's own figure's).
/// Criterion times are in ns.
pub(crate) const AIMS: &[Aim] = &[
    // plugin-loader/benches/native.rs
    aim(
        "native-call-raw",
        "plugkit:call_into(echo)",
        Target::RatioTo("dyn-Trait", Cmp::AtMost, 2.0),
    ),
    aim(
        "native-call-instance",
        "plugkit:Instance::call(echo)",
        Target::OverBaseline(Cmp::AtMost, 20.0),
    ),
    aim(
        "native-call-typed",
        "plugkit:call_typed(greet)",
        Target::Ratio(Cmp::AtMost, 1.5),
    ),
    // plugin-loader/benches/process.rs: the round trip (one call in
    // flight) beside the raw pipe echo, and calls/s with 64 in flight,
    // both as criterion times and as the bench's own figures.
    aim(
        "process-*-inflight-1",
        "plugkit:call(echo)",
        Target::Ratio(Cmp::AtMost, 1.5),
    ),
    aim(
        "process-free-inflight-64",
        "plugkit:call(echo)",
        Target::Value(Cmp::AtMost, 2_000.0),
    ),
    aim(
        "process-pinned-inflight-64",
        "plugkit:call(echo)",
        Target::Value(Cmp::AtMost, 1_000.0),
    ),
    aim(
        "process-*",
        "round trip p50",
        Target::Ratio(Cmp::AtMost, 1.5),
    ),
    aim(
        "process-*",
        "round trip p99",
        Target::Ratio(Cmp::AtMost, 2.0),
    ),
    aim(
        "process-free",
        "calls/s, 64 in flight",
        Target::Value(Cmp::AtLeast, 500_000.0),
    ),
    aim(
        "process-pinned",
        "calls/s, 64 in flight",
        Target::Value(Cmp::AtLeast, 1_000_000.0),
    ),
    // plugin-host/benches/host.rs
    aim(
        "host-call",
        "plugkit:DynamicLoader::call(greet)",
        Target::OverBaseline(Cmp::Below, 50.0),
    ),
    // `calls/s, 1 thread` too; `p99` alone too, should the swap count
    // move from the name to the note.
    aim(
        "host-call",
        "calls/s, *",
        Target::Said("scales with threads"),
    ),
    aim("hot-swap *", "p99*", Target::Value(Cmp::Below, 100.0)),
    // plugin-loader/benches/grpc.rs: beside a bare tonic unary echo.
    aim("grpc", "round trip p50", Target::Ratio(Cmp::AtMost, 1.2)),
    aim("grpc", "round trip p99", Target::Ratio(Cmp::AtMost, 1.2)),
    aim("grpc", "calls/s, *", Target::Said("report only")),
    aim(
        "hot-swap native",
        "RSS growth per swap",
        Target::Said("report only"),
    ),
];

/// How a figure did against its aim.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    /// Whether the figure reaches its aim.
    pub(crate) met: bool,
    /// The quantity the aim is about, when the table's ratio is not it
    /// (`2.38x dyn-Trait`, `+34.1 ns`).
    pub(crate) measured: Option<String>,
}

impl Verdict {
    /// `yes`, `no`, or either with the measured quantity: `no (+34.1 ns)`.
    pub(crate) fn text(&self) -> String {
        let answer = if self.met { "yes" } else { "no" };
        match &self.measured {
            Some(measured) => format!("{answer} ({measured})"),
            None => answer.to_string(),
        }
    }
}

/// The aim for the figure `name` of `group`, if the table has one.
pub(crate) fn find(group: &str, name: &str) -> Option<&'static Aim> {
    AIMS.iter()
        .find(|aim| matches(aim.group, group) && matches(aim.name, name))
}

impl Aim {
    /// The aim as the table shows it, for a figure in `unit`.
    pub(crate) fn text(&self, unit: &str) -> String {
        match self.target {
            Target::Ratio(cmp, limit) => format!("{} {}x baseline", cmp.symbol(), trim(limit)),
            Target::RatioTo(peer, cmp, limit) => {
                format!("{} {}x {peer}", cmp.symbol(), trim(limit))
            }
            Target::OverBaseline(cmp, limit) => {
                format!("{} baseline + {}", cmp.symbol(), show_limit(limit, unit))
            }
            Target::Value(cmp, limit) => format!("{} {}", cmp.symbol(), show_limit(limit, unit)),
            Target::Said(text) => text.to_string(),
        }
    }

    /// Checks a figure: its value and unit, its baseline, and `peer`, the
    /// value of another figure of its group by name. `None` when the aim
    /// is not checked or a figure it needs is missing.
    pub(crate) fn check(
        &self,
        value: f64,
        unit: &str,
        baseline: Option<f64>,
        peer: impl Fn(&str) -> Option<f64>,
    ) -> Option<Verdict> {
        let (measured, shown, cmp, limit) = match self.target {
            Target::Ratio(cmp, limit) => (value / baseline?, None, cmp, limit),
            Target::RatioTo(name, cmp, limit) => {
                let ratio = value / peer(name)?;
                (ratio, Some(format!("{ratio:.2}x {name}")), cmp, limit)
            }
            Target::OverBaseline(cmp, limit) => {
                let over = value - baseline?;
                let sign = if over < 0.0 { "-" } else { "+" };
                let shown = format!("{sign}{}", show(over.abs(), unit));
                (over, Some(shown), cmp, limit)
            }
            Target::Value(cmp, limit) => (value, None, cmp, limit),
            Target::Said(_) => return None,
        };
        measured.is_finite().then(|| Verdict {
            met: cmp.holds(measured, limit),
            measured: shown,
        })
    }
}

/// `1.5` as `1.5`, `2.0` as `2`.
fn trim(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

/// Whether `text` matches `pattern`, where `*` stands for any text.
fn matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_with_stars() {
        assert!(matches("host-call", "host-call"));
        assert!(!matches("host-call", "host-call-json"));
        assert!(matches("hot-swap *", "hot-swap native, 20+20 ms windows"));
        assert!(!matches("hot-swap *", "host-call"));
        assert!(matches("calls/s, * threads", "calls/s, 8 threads"));
        assert!(!matches("calls/s, * threads", "calls/s, 8 in flight"));
        assert!(matches("process-*-inflight-1", "process-pinned-inflight-1"));
        assert!(!matches(
            "process-*-inflight-1",
            "process-pinned-inflight-16"
        ));
        assert!(matches("a*a", "aa"));
        assert!(!matches("a*a", "a"));
    }

    #[test]
    fn every_aim_the_issues_state_has_an_entry() {
        let figures = [
            ("native-call-raw", "plugkit:call_into(echo)"),
            ("native-call-instance", "plugkit:Instance::call(echo)"),
            ("native-call-typed", "plugkit:call_typed(greet)"),
            ("process-free", "round trip p50"),
            ("process-pinned", "round trip p50"),
            ("process-free", "round trip p99"),
            ("process-pinned", "round trip p99"),
            ("process-free", "calls/s, 64 in flight"),
            ("process-pinned", "calls/s, 64 in flight"),
            ("host-call", "plugkit:DynamicLoader::call(greet)"),
            ("host-call", "calls/s, 1 threads"),
            ("host-call", "calls/s, 2 threads"),
            ("host-call", "calls/s, 8 threads"),
            ("hot-swap native", "p99 of 30"),
            ("hot-swap process", "p99 of 100"),
            ("hot-swap native", "RSS growth per swap"),
            ("hot-swap native", "p99"),
            ("host-call", "calls/s, 1 thread"),
        ];
        for (group, name) in figures {
            assert!(find(group, name).is_some(), "{group} / {name}");
        }
        assert!(find("process-free", "calls/s, 4 in flight").is_none());
        assert!(find("hot-swap native", "p50 of 30").is_none());
        assert!(
            find(
                "host-call",
                "plugkit:instance(greeter)+Instance::call(greet)"
            )
            .is_none()
        );
    }

    #[test]
    fn aims_read_and_check() {
        let none = |_: &str| None;
        let raw = find("native-call-raw", "plugkit:call_into(echo)").expect("aim");
        assert_eq!(raw.text("ns"), "≤ 2x dyn-Trait");
        let dyn_trait = |name: &str| (name == "dyn-Trait").then_some(2.0);
        assert_eq!(
            raw.check(5.0, "ns", Some(1.0), dyn_trait),
            Some(Verdict {
                met: false,
                measured: Some("2.50x dyn-Trait".into())
            })
        );
        assert_eq!(raw.check(5.0, "ns", Some(1.0), none), None);

        let host = find("host-call", "plugkit:DynamicLoader::call(greet)").expect("aim");
        assert_eq!(host.text("ns"), "< baseline + 50 ns");
        let verdict = host.check(260.0, "ns", Some(210.0), none).expect("checked");
        assert_eq!(verdict.text(), "no (+50.00 ns)");
        let verdict = host.check(200.0, "ns", Some(210.0), none).expect("checked");
        assert_eq!(verdict.text(), "yes (-10.00 ns)");

        let swap = find("hot-swap process, 20+20 ms windows", "p99 of 30").expect("aim");
        assert_eq!(swap.text("ms"), "< 100 ms");
        assert_eq!(
            swap.check(99.0, "ms", Some(40.0), none)
                .expect("checked")
                .text(),
            "yes"
        );

        let pinned = find("process-pinned", "calls/s, 64 in flight").expect("aim");
        assert_eq!(pinned.text("calls/s"), "≥ 1 M calls/s");
        let free = find("process-free", "calls/s, 64 in flight").expect("aim");
        assert_eq!(free.text("calls/s"), "≥ 500 k calls/s");
        let per_call = find("process-pinned-inflight-64", "plugkit:call(echo)").expect("aim");
        assert_eq!(per_call.text("ns"), "≤ 1 µs");

        let p50 = find("process-free", "round trip p50").expect("aim");
        assert_eq!(p50.text("µs"), "≤ 1.5x baseline");
        assert_eq!(p50.check(30.0, "µs", None, none), None);

        let scales = find("host-call", "calls/s, 2 threads").expect("aim");
        assert_eq!(scales.text("calls/s"), "scales with threads");
        assert_eq!(scales.check(1.0, "calls/s", Some(1.0), none), None);
    }
}
