//! `Loader::prepare`: a verified copy made ahead of its load is the one
//! the load runs, but only for the same, unchanged artifact with the same
//! checksum; a changed file, a failed preparation or too many waiting
//! copies never change what a load runs or leave files behind.

mod support;

use std::path::Path;
use std::time::Duration;

use plugin_loader::{LoadError, ProcessConfig};
use support::{cache_files, libraries, stage, stage_process};

fn greeter_process(extra: &str) -> support::Staged {
    stage_process(
        &libraries().binary("greeter-plugin"),
        "greeter-plugin",
        "greeter",
        "1.0.0",
        extra,
    )
}

fn checksum_of(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read");
    format!("checksum: sha256:{}\n", support::reference_sha256(&bytes))
}

#[tokio::test]
async fn a_load_runs_the_copy_prepared_for_it() {
    let binary = libraries().binary("greeter-plugin");
    let staged = greeter_process(&checksum_of(&binary));
    let (loader, cache) = support::loader(ProcessConfig::default());
    loader.prepare(&staged.manifest(), staged.path()).await;
    let prepared = cache_files(cache.path());
    assert_eq!(prepared.len(), 1, "one copy made ahead: {prepared:?}");

    let greeter = loader
        .load(&staged.manifest(), staged.path())
        .await
        .expect("loads");
    let program = greeter
        .as_process()
        .expect("process")
        .program()
        .to_path_buf();
    assert_eq!(program, prepared[0], "the load runs the prepared copy");
    assert_eq!(cache_files(cache.path()), prepared, "and makes no other");
    greeter.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_artifact_changed_after_its_preparation_is_staged_anew() {
    let staged = greeter_process("");
    let (loader, cache) = support::loader(ProcessConfig::default());
    loader.prepare(&staged.manifest(), staged.path()).await;
    let prepared = cache_files(cache.path());
    assert_eq!(prepared.len(), 1);

    // Rewritten in place with other bytes: the prepared copy is stale.
    let artifact = staged.path().join("greeter-plugin");
    let fixture = std::fs::read(libraries().binary("fixture-process")).expect("read");
    std::fs::write(&artifact, &fixture).expect("rewrite");
    let error = loader
        .load(&staged.manifest(), staged.path())
        .await
        .expect_err("the fixture is not a greeter");
    // The load ran what the file holds now (the fixture, which is not the
    // greeter the manifest names), not the stale copy of the greeter.
    assert!(
        error
            .to_string()
            .contains("says it is fixture-process 1.0.0"),
        "{error}"
    );
    assert_eq!(
        cache_files(cache.path()),
        prepared,
        "the unclaimed stale copy waits; the failed load's copy is gone"
    );

    drop(loader);
    assert!(
        cache_files(cache.path()).is_empty(),
        "a dropped loader removes the copies nobody claimed"
    );
}

#[tokio::test]
async fn a_bad_artifact_prepared_fails_its_load_with_the_same_error() {
    let bad = format!("checksum: sha256:{}\n", "0".repeat(64));
    let staged = greeter_process(&bad);
    let (loader, cache) = support::loader(ProcessConfig::default());
    loader.prepare(&staged.manifest(), staged.path()).await;
    assert!(
        cache_files(cache.path()).is_empty(),
        "no copy of a bad file"
    );
    let error = loader
        .load(&staged.manifest(), staged.path())
        .await
        .expect_err("mismatch");
    assert!(
        matches!(error, LoadError::ChecksumMismatch { .. }),
        "{error}"
    );
    assert!(cache_files(cache.path()).is_empty());
}

#[tokio::test]
async fn at_most_eight_copies_wait_and_native_ones_are_used_too() {
    let library = libraries().path("greeter-native");
    let staged: Vec<_> = (0..9)
        .map(|_| stage(&library, "greeter", "1.0.0", ""))
        .collect();
    let (loader, cache) = support::loader(ProcessConfig::default());
    for plugin in &staged {
        loader.prepare(&plugin.manifest(), plugin.path()).await;
    }
    assert_eq!(cache_files(cache.path()).len(), 8, "the oldest was dropped");
    // The newest is still prepared: its load takes (and, being native,
    // removes) that copy; the first one's copy was dropped, so its load
    // stages its own.
    let newest = staged.last().expect("nine");
    loader
        .load(&newest.manifest(), newest.path())
        .await
        .expect("loads");
    assert_eq!(cache_files(cache.path()).len(), 7);
    loader
        .load(&staged[0].manifest(), staged[0].path())
        .await
        .expect("loads");
    assert_eq!(cache_files(cache.path()).len(), 7);
    // Preparing what is already prepared makes no second copy.
    loader
        .prepare(&staged[1].manifest(), staged[1].path())
        .await;
    assert_eq!(cache_files(cache.path()).len(), 7);
}
