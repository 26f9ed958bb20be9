//! `plugkit resolve`: text and `--json` output and exit codes, on the
//! fixture directories under `tests/fixtures/resolve/`.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `plugkit resolve ARGS` from this crate's directory, so fixture
/// paths (and the paths in warnings) are short and stable.
fn resolve(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .arg("resolve")
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .output()
        .expect("plugkit runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// stdout, then stderr under a marker, for one snapshot.
fn both(out: &Output) -> String {
    format!("{}--- stderr ---\n{}", text(&out.stdout), text(&out.stderr))
}

fn json(out: &Output) -> Value {
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    serde_json::from_str(&stdout).expect("valid JSON")
}

const OK: &str = "tests/fixtures/resolve/ok";
const CONFLICT: &str = "tests/fixtures/resolve/conflict";
const CYCLE: &str = "tests/fixtures/resolve/cycle";
const PRERELEASE: &str = "tests/fixtures/resolve/prerelease";

#[test]
fn resolves_every_plugin_found_and_warns_about_invalid_manifests() {
    let out = resolve(&[OK]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!(both(&out));
}

#[test]
fn json_success_is_one_object_with_the_documented_keys() {
    let out = resolve(&[OK, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let value = json(&out);
    assert_eq!(value["ok"], true);
    assert_eq!(value["selected"]["logging-service"], "1.4.0");
    assert_eq!(
        value["load_order"],
        serde_json::json!(["logging-service", "metrics-service", "auth-service"])
    );
    assert_eq!(value["dropped"], serde_json::json!([]));
    let warnings = value["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("broken/plugin-manifest.json")
    );
    insta::assert_snapshot!(serde_json::to_string_pretty(&value).unwrap());
}

#[test]
fn wanted_plugins_and_constraints_narrow_the_resolution() {
    let out = resolve(&[
        OK,
        "--want",
        "auth-service@^1",
        "--want",
        "logging-service@<1.4",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("logging-service 1.0.0"), "{stdout}");
    // metrics-service needs logging >=1.2: left out, with a warning.
    assert!(!stdout.contains("metrics-service"), "{stdout}");
    assert!(text(&out.stderr).contains("loads without its optional dependency metrics-service"));
}

#[test]
fn no_resolution_prints_the_explanation_and_exits_1() {
    let out = resolve(&[CONFLICT]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(both(&out));
}

#[test]
fn json_failure_is_one_object_with_the_structured_reasons() {
    let out = resolve(&[CONFLICT, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let value = json(&out);
    assert_eq!(value["ok"], false);
    assert!(
        value["error"]
            .as_str()
            .unwrap()
            .contains("auth-service 1.2.3 requires logging-service ^2")
    );
    assert_eq!(value["conflicts"][0]["plugin"], "auth-service");
    assert_eq!(value["conflicts"][0]["constraint"], "^2");
    assert_eq!(
        value["conflicts"][0]["available"],
        serde_json::json!(["1.0.0", "1.1.0"])
    );
    assert_eq!(value["unresolved"], serde_json::json!({}));
    assert_eq!(value["cycles"], serde_json::json!([]));
    insta::assert_snapshot!(serde_json::to_string_pretty(&value).unwrap());
}

#[test]
fn a_missing_plugin_is_unresolved_in_json() {
    let out = resolve(&[OK, "--want", "ghost", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let value = json(&out);
    assert_eq!(value["missing_wanted"], serde_json::json!(["ghost"]));
}

#[test]
fn best_effort_drops_what_cannot_load_and_says_why() {
    let out = resolve(&[CONFLICT, "--best-effort"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!(both(&out));
    let value = json(&resolve(&[CONFLICT, "--best-effort", "--json"]));
    assert_eq!(value["dropped"][0]["name"], "auth-service");
    assert!(
        value["dropped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("logging-service")
    );
    assert_eq!(
        value["load_order"],
        serde_json::json!(["logging-service", "audit"])
    );
}

#[test]
fn cycles_fail_unless_allowed() {
    let out = resolve(&[CYCLE, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["cycles"], serde_json::json!([["alpha", "beta"]]));
    let out = resolve(&[CYCLE, "--allow-cycles"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!(both(&out));
}

#[test]
fn pre_releases_need_allow_prerelease() {
    let out = resolve(&[PRERELEASE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("pre-releases are not allowed"));
    let out = resolve(&[PRERELEASE, "--allow-prerelease", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out)["selected"]["engine"], "2.0.0-rc.1");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let out = resolve(&["tests/fixtures/resolve/does-not-exist"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("error: cannot read directory"));
    let out = resolve(&[OK, "--want", "auth@not a range"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid constraint in `auth@not a range`"));
    let out = resolve(&[]);
    assert_eq!(out.status.code(), Some(2));
}

/// The discovery fixture tree: shadowed, too deep, excluded and duplicate
/// manifests (relative to this crate's directory).
const TREE: &str = "../plugin-discovery/tests/fixtures/tree";

fn discover_json(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_plugkit"))
        .arg("discover")
        .arg("--json")
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .output()
        .expect("plugkit runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    json(&out)
}

/// `resolve` considers exactly what `discover` lists, under every scan
/// flag: the names it selects are the names discover lists, each at a
/// version discover lists.
#[test]
fn resolve_considers_exactly_what_discover_lists() {
    let flag_sets: [&[&str]; 5] = [
        &[],
        &["--max-depth", "2"],
        &["--exclude", "**/node_modules"],
        &["--exclude", "../plugin-discovery/tests/fixtures/tree/good"],
        &["--require-capability", "greet", "--pattern", "*.so"],
    ];
    for flags in flag_sets {
        let mut args = vec![TREE];
        args.extend_from_slice(flags);
        let listed = discover_json(&args);
        let mut resolve_args = args.clone();
        resolve_args.extend(["--json", "--allow-prerelease"]);
        let out = resolve(&resolve_args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{flags:?}: {}",
            text(&out.stdout)
        );
        let resolved = json(&out);
        let mut names: Vec<&str> = listed["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        names.dedup();
        let selected = resolved["selected"].as_object().unwrap();
        let selected_names: Vec<&str> = selected.keys().map(String::as_str).collect();
        assert_eq!(selected_names, names, "{flags:?}");
        for (name, version) in selected {
            assert!(
                listed["plugins"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == name.as_str() && p["version"] == *version),
                "{flags:?}: {name} {version} is not listed by discover"
            );
        }
    }
}

#[test]
fn a_shadowed_too_deep_or_excluded_manifest_is_never_resolved() {
    // shadowed/plugin-manifest.yaml (shade 1.1.0) is shadowed by the JSON
    // beside it (shade 1.0.0): resolve must not take it.
    let value = json(&resolve(&[TREE, "--json", "--allow-prerelease"]));
    assert_eq!(value["selected"]["shade"], "1.0.0");
    let out = resolve(&[TREE, "--want", "shade@1.1.0", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(value["warnings"].as_array().unwrap().iter().any(|w| {
        w.as_str()
            .unwrap()
            .contains("shadowed/plugin-manifest.yaml: skipped: shadowed by")
    }));
    // nested/a/b/deep is four levels down.
    let value = json(&resolve(&[
        TREE,
        "--json",
        "--allow-prerelease",
        "--max-depth",
        "2",
    ]));
    assert!(value["selected"].get("deep").is_none(), "{value}");
    let value = json(&resolve(&[
        TREE,
        "--json",
        "--allow-prerelease",
        "--exclude",
        "**/node_modules",
    ]));
    assert!(value["selected"].get("hidden").is_none(), "{value}");
}

#[test]
fn the_time_limit_flag_takes_a_positive_number_of_seconds() {
    let out = resolve(&[OK, "--time-limit", "30", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for bad in ["0", "0.0", "soon", "NaN"] {
        let out = resolve(&[OK, "--time-limit", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            text(&out.stderr).contains("--time-limit"),
            "{}",
            text(&out.stderr)
        );
    }
}

/// Where a flag of this command would change a failed answer, the output
/// names it (the resolver's typed hints, mapped to our flags).
#[test]
fn a_failure_names_the_flag_that_would_change_it() {
    let cases: [(&str, &[&str], &str, &str); 4] = [
        (PRERELEASE, &[], "allow_prerelease", "--allow-prerelease"),
        (CYCLE, &[], "allow_cycles", "--allow-cycles"),
        (
            OK,
            &["--max-steps", "1"],
            "raise_step_limit",
            "--max-steps N",
        ),
        (
            OK,
            &["--max-chain", "1"],
            "raise_depth_limit",
            "--max-chain N",
        ),
    ];
    for (dir, flags, hint, flag) in cases {
        let mut args = vec![dir];
        args.extend_from_slice(flags);
        let out = resolve(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(&format!("\nhint: {flag}: ")),
            "{args:?}: {stdout}"
        );
        args.push("--json");
        let value = json(&resolve(&args));
        assert_eq!(value["hints"][0]["hint"], hint, "{args:?}");
        assert_eq!(value["hints"][0]["flag"], flag, "{args:?}");
    }
    // A success has no hints to give.
    let value = json(&resolve(&[PRERELEASE, "--allow-prerelease", "--json"]));
    assert!(value.get("hints").is_none());
}
