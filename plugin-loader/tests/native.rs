//! The native transport against real libraries, through [`Instance`]: the
//! example plugins and the failure fixtures of `examples/fixtures/`, built
//! by the test itself.

mod support;

use std::time::Duration;

use plugin_loader::{
    CallError, Ended, FailureCause, Instance, InstanceEventKind, InstanceState, LoadError,
    ProcessConfig,
};
use plugkit_example_interface::{GetRequest, GreetReply, GreetRequest, SetRequest};
use plugkit_sdk::{ErrorKind, Health};
use support::{libraries, load_native, loader, stage};

async fn greet(plugin: &Instance, name: &str) -> GreetReply {
    plugin
        .call_typed(
            "greet",
            &GreetRequest {
                name: name.to_string(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn load(staged: &support::Staged) -> Result<Instance, LoadError> {
    let (loader, _cache) = loader(ProcessConfig::default());
    loader.load(&staged.manifest(), staged.path()).await
}

#[tokio::test]
async fn loads_a_plugin_and_calls_it_typed_and_raw() {
    let store = load_native("kv-store-native", "kv-store", "1.4.1", "")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let info = store.info();
    assert_eq!(
        (info.name.as_str(), info.version.to_string()),
        ("kv-store", "1.4.1".into())
    );
    assert_eq!(info.capabilities, ["kv:get", "kv:set"]);
    assert_eq!(info.sdk_version, plugkit_sdk::SDK_VERSION);
    assert_eq!(info.transport, plugin_manifest::Transport::Native);
    assert_eq!(store.state(), InstanceState::Running);

    let previous: Option<String> = store
        .call_typed(
            "set",
            &SetRequest {
                key: "k".into(),
                value: "v".into(),
            },
        )
        .await
        .expect("set");
    assert_eq!(previous, None);
    let raw = store
        .call(
            "get",
            &plugkit_sdk::encode(&GetRequest { key: "k".into() }).expect("encode"),
        )
        .await
        .expect("raw call");
    assert_eq!(
        plugkit_sdk::decode::<Option<String>>(&raw).expect("decode"),
        Some("v".into())
    );
    assert_eq!(store.health().await, Ok(Health::Healthy));
    let outcome = store.shutdown(Duration::from_secs(5)).await;
    assert_eq!((outcome.abandoned_calls, outcome.ended), (0, Ended::Clean));
    assert_eq!(store.state(), InstanceState::Stopped);
}

#[tokio::test]
async fn typed_methods_answer_json_and_list_themselves() {
    let greeter = load_native("greeter-native", "greeter", "1.0.0", "")
        .await
        .expect("loads");
    let reply = greeter
        .call_json("greet", &serde_json::json!({"name": "Ada"}))
        .await
        .expect("JSON call");
    assert_eq!(
        reply,
        serde_json::json!({"text": "hello, Ada", "version": "1.0.0"})
    );
    let error = greeter
        .call_json("greet", &serde_json::json!({"nom": "Ada"}))
        .await
        .expect_err("a request of the wrong shape");
    assert!(
        matches!(&error, CallError::Plugin { error, .. } if error.kind() == ErrorKind::BadRequest),
        "{error}"
    );
    let methods = greeter.methods().await.expect("methods");
    assert_eq!(methods.len(), 1);
    assert_eq!(methods[0].name, "greet");
    assert!(
        methods[0].request.ends_with("GreetRequest"),
        "{:?}",
        methods[0]
    );
    assert!(
        methods[0].response.ends_with("GreetReply"),
        "{:?}",
        methods[0]
    );

    // A plugin with no typed methods says so.
    let panicky = load_native("fixture-panicky", "panicky", "1.0.0", "")
        .await
        .expect("loads");
    assert_eq!(panicky.methods().await, Ok(Vec::new()));
    let error = panicky
        .call_json("echo", &serde_json::json!(1))
        .await
        .expect_err("no typed methods");
    assert!(
        error.to_string().contains("registers no typed methods"),
        "{error}"
    );
}

#[tokio::test]
async fn the_manifests_metadata_is_the_plugins_config() {
    let extra = "metadata:\n  greeting: howdy\n";
    let staged = stage(
        &libraries().path("greeter-native"),
        "greeter",
        "1.0.0",
        extra,
    );
    let greeter = load(&staged).await.expect("loads");
    assert_eq!(greet(&greeter, "Ada").await.text, "howdy, Ada");
}

#[tokio::test]
async fn version_one_and_two_run_side_by_side() {
    let v1 = stage(&libraries().path("greeter-native"), "greeter", "1.0.0", "");
    let v2 = stage(
        &libraries().path("greeter-native-v2"),
        "greeter",
        "2.0.0",
        "",
    );
    let one = load(&v1).await.expect("v1 loads");
    assert_eq!(
        greet(&one, "Ada").await,
        GreetReply {
            text: "hello, Ada".into(),
            version: "1.0.0".into()
        }
    );
    let two = load(&v2).await.expect("v2 loads");
    assert_eq!(
        greet(&two, "Ada").await,
        GreetReply {
            text: "hi, Ada".into(),
            version: "2.0.0".into()
        }
    );
    assert_eq!(
        greet(&one, "Bob").await.text,
        "hello, Bob",
        "v1 still runs v1's code"
    );
}

#[tokio::test]
async fn a_library_rebuilt_in_place_is_loaded_anew() {
    let staged = stage(&libraries().path("greeter-native"), "greeter", "1.0.0", "");
    let (loader, _cache) = loader(ProcessConfig::default());
    let before = loader
        .load(&staged.manifest(), staged.path())
        .await
        .expect("v1 loads");
    // "Rebuild" in place: new bytes at the same path, manifest bumped.
    std::fs::copy(
        libraries().path("greeter-native-v2"),
        staged.path().join("lib.so"),
    )
    .expect("overwrite");
    let manifest =
        std::fs::read_to_string(staged.path().join("plugin-manifest.yaml")).expect("read");
    std::fs::write(
        staged.path().join("plugin-manifest.yaml"),
        manifest.replace("1.0.0", "2.0.0"),
    )
    .expect("write");
    let after = loader
        .load(&staged.manifest(), staged.path())
        .await
        .expect("v2 loads");
    assert_eq!(greet(&after, "Ada").await.text, "hi, Ada");
    assert_eq!(greet(&before, "Ada").await.text, "hello, Ada");
}

#[tokio::test]
async fn reloading_the_same_bytes_gives_a_fresh_instance() {
    let staged = stage(
        &libraries().path("kv-store-native"),
        "kv-store",
        "1.4.1",
        "",
    );
    let first = load(&staged).await.expect("loads");
    let _: Option<String> = first
        .call_typed(
            "set",
            &SetRequest {
                key: "k".into(),
                value: "1".into(),
            },
        )
        .await
        .expect("set");
    let second = load(&staged).await.expect("loads again");
    let value: Option<String> = second
        .call_typed("get", &GetRequest { key: "k".into() })
        .await
        .expect("get");
    assert_eq!(
        value, None,
        "a reload must not share the first instance's state"
    );
}

#[tokio::test]
async fn the_cache_directory_does_not_grow() {
    let staged = stage(
        &libraries().path("kv-store-native"),
        "kv-store",
        "1.4.1",
        "",
    );
    let (loader, cache) = loader(ProcessConfig::default());
    for _ in 0..5 {
        loader
            .load(&staged.manifest(), staged.path())
            .await
            .expect("loads");
    }
    let left = support::cache_files(cache.path());
    assert!(
        left.is_empty(),
        "cache copies are removed once opened: {left:?}"
    );
}

#[tokio::test]
async fn a_refused_artifact_leaves_no_copy_in_the_cache() {
    let library = libraries().path("kv-store-native");
    let bytes = std::fs::read(&library).expect("read library");
    let (loader, cache) = loader(ProcessConfig::default());
    let small = plugin_loader::Loader::new(
        loader
            .config()
            .clone()
            .with_max_artifact_size(bytes.len() as u64 / 2),
    );
    let cache_is_empty = |why: &str| {
        let left = support::cache_files(cache.path());
        assert!(left.is_empty(), "{why}: the cache holds {left:?}");
    };

    let bad = format!("checksum: sha256:{}\n", "0".repeat(64));
    let staged = stage(&library, "kv-store", "1.4.1", &bad);
    let error = loader
        .load(&staged.manifest(), staged.path())
        .await
        .expect_err("mismatch refused");
    assert!(
        matches!(error, LoadError::ChecksumMismatch { .. }),
        "{error}"
    );
    cache_is_empty("after a checksum mismatch");

    let truncated = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(truncated.path(), &bytes[..bytes.len() / 3]).expect("write");
    let staged = stage(truncated.path(), "kv-store", "1.4.1", "");
    let error = loader
        .load(&staged.manifest(), staged.path())
        .await
        .expect_err("truncated");
    assert!(matches!(error, LoadError::NotALibrary { .. }), "{error}");
    cache_is_empty("after a truncated library");

    // Refused on its size before a copy is made.
    let staged = stage(&library, "kv-store", "1.4.1", "");
    let error = small
        .load(&staged.manifest(), staged.path())
        .await
        .expect_err("too large");
    assert!(
        matches!(error, LoadError::ArtifactTooLarge { .. }),
        "{error}"
    );
    cache_is_empty("after a too large artifact");
}

#[tokio::test]
async fn checksum_is_verified_before_loading() {
    let library = libraries().path("kv-store-native");
    let bytes = std::fs::read(&library).expect("read library");
    let good = format!("checksum: sha256:{}\n", support::reference_sha256(&bytes));
    let staged = stage(&library, "kv-store", "1.4.1", &good);
    load(&staged).await.expect("matching checksum loads");

    let bad = format!("checksum: sha256:{}\n", "0".repeat(64));
    let staged = stage(&library, "kv-store", "1.4.1", &bad);
    let error = load(&staged).await.expect_err("mismatch refused");
    assert!(
        matches!(error, LoadError::ChecksumMismatch { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn each_bad_library_fails_with_its_own_error() {
    let libs = libraries();
    let load_bad = |library: std::path::PathBuf, name: &'static str, version: &'static str| async move {
        let staged = stage(&library, name, version, "");
        load(&staged).await.expect_err("must be refused")
    };

    let missing = {
        let staged = stage(&libs.path("kv-store-native"), "kv-store", "1.4.1", "");
        std::fs::remove_file(staged.path().join("lib.so")).expect("remove");
        load(&staged).await.expect_err("missing file")
    };
    assert!(
        matches!(missing, LoadError::ReadArtifact { .. }),
        "{missing}"
    );

    let garbage = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(garbage.path(), b"this is not an ELF file\n").expect("write");
    let error = load_bad(garbage.path().to_path_buf(), "kv-store", "1.4.1").await;
    assert!(matches!(error, LoadError::NotALibrary { .. }), "{error}");

    let truncated = tempfile::NamedTempFile::new().expect("temp file");
    let bytes = std::fs::read(libs.path("kv-store-native")).expect("read");
    std::fs::write(truncated.path(), &bytes[..bytes.len() / 3]).expect("write");
    let error = load_bad(truncated.path().to_path_buf(), "kv-store", "1.4.1").await;
    assert!(matches!(error, LoadError::NotALibrary { .. }), "{error}");

    let error = load_bad(libs.path("fixture-not-a-plugin"), "not-a-plugin", "0.1.0").await;
    assert!(matches!(error, LoadError::NotAPlugin { .. }), "{error}");

    let error = load_bad(libs.path("fixture-wrong-abi"), "wrong-abi", "0.1.0").await;
    assert!(
        matches!(error, LoadError::IncompatibleAbi { .. }),
        "{error}"
    );

    let error = load_bad(libs.path("fixture-future-sdk"), "future-sdk", "0.1.0").await;
    assert!(
        matches!(error, LoadError::IncompatibleSdk { ref found, .. } if found == "9.0.0"),
        "{error}"
    );

    let error = load_bad(libs.path("greeter-native"), "greeter", "1.0.1").await;
    assert!(
        matches!(error, LoadError::IdentityMismatch { .. }),
        "{error}"
    );
    let error = load_bad(libs.path("greeter-native"), "welcomer", "1.0.0").await;
    assert!(
        matches!(error, LoadError::IdentityMismatch { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn load_errors_read_well() {
    let libs = libraries();
    let mut lines = Vec::new();
    for (package, name, version) in [
        ("fixture-not-a-plugin", "not-a-plugin", "0.1.0"),
        ("fixture-wrong-abi", "wrong-abi", "0.1.0"),
        ("fixture-future-sdk", "future-sdk", "0.1.0"),
        ("greeter-native", "greeter", "1.0.1"),
    ] {
        let staged = stage(&libs.path(package), name, version, "");
        let error = load(&staged).await.expect_err("refused");
        let shown = staged.path().display().to_string();
        lines.push(error.to_string().replace(&shown, "<plugin-dir>"));
    }
    insta::assert_snapshot!(lines.join("\n"));
}

#[tokio::test]
async fn a_panic_in_call_fails_the_instance() {
    let plugin = load_native("fixture-panicky", "panicky", "1.0.0", "")
        .await
        .expect("loads");
    let mut events = plugin.events();
    assert_eq!(plugin.call("echo", b"ping").await.expect("echo"), b"ping");
    let error = plugin
        .call("panic", b"")
        .await
        .expect_err("panic is an error");
    match &error {
        CallError::Plugin {
            plugin,
            method,
            error,
        } => {
            assert_eq!((plugin.as_str(), method.as_str()), ("panicky", "panic"));
            assert_eq!(error.kind(), ErrorKind::Panicked);
            assert!(error.message().contains("told to panic in call"), "{error}");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(matches!(
        plugin.state(),
        InstanceState::Failed {
            cause: FailureCause::Panicked { .. }
        }
    ));
    let event = events.recv().await.expect("event");
    assert!(
        matches!(event.kind, InstanceEventKind::Failed { .. }),
        "{event:?}"
    );
    let refused = plugin
        .call("echo", b"ping")
        .await
        .expect_err("failed instances refuse calls");
    assert!(matches!(refused, CallError::Failed { .. }), "{refused}");
    assert!(
        refused.to_string().contains("panicked in panic"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_panic_in_init_fails_the_load() {
    let error = load_native(
        "fixture-panicky",
        "panicky",
        "1.0.0",
        "metadata:\n  panic_in_init: true\n",
    )
    .await
    .expect_err("init panics");
    match &error {
        LoadError::Init {
            plugin,
            stage,
            error,
            ..
        } => {
            assert_eq!((plugin.as_str(), *stage), ("panicky", "init"));
            assert_eq!(error.kind(), ErrorKind::Panicked);
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn a_panic_in_health_fails_the_instance() {
    let plugin = load_native(
        "fixture-panicky",
        "panicky",
        "1.0.0",
        "metadata:\n  panic_in_health: true\n",
    )
    .await
    .expect("loads");
    let error = plugin.health().await.expect_err("health panics");
    assert!(
        error
            .to_string()
            .contains("panicky: health: panicked in health"),
        "{error}"
    );
    assert!(matches!(plugin.state(), InstanceState::Failed { .. }));
}

#[tokio::test]
async fn many_threads_call_one_plugin_at_once() {
    let store = load_native("kv-store-native", "kv-store", "1.4.1", "")
        .await
        .expect("loads");
    let handle = store.as_native().expect("native").clone();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = handle.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    let key = format!("{t}-{i}");
                    let _: Option<String> = store
                        .call_typed(
                            "set",
                            &SetRequest {
                                key: key.clone(),
                                value: key.clone(),
                            },
                        )
                        .expect("set");
                    let value: Option<String> = store
                        .call_typed("get", &GetRequest { key: key.clone() })
                        .expect("get");
                    assert_eq!(value, Some(key));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no thread panicked");
    }
    assert_eq!(store.stats().calls, 8 * 500 * 2);
    assert_eq!(store.stats().in_flight, 0);
}

#[tokio::test]
async fn a_grpc_plugin_that_does_not_answer_fails_to_load_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Port 9 (discard) on loopback: nothing listens, the connection is refused.
    let manifest = plugin_manifest::parse(
        b"name: remote\nversion: 1.0.0\ntransport: grpc\nendpoint: 127.0.0.1:9\n",
        "m.yaml",
    )
    .expect("valid")
    .manifest;
    let (loader, _cache) = loader(ProcessConfig::default());
    let error = loader
        .load(&manifest, dir.path())
        .await
        .expect_err("nothing answers");
    assert!(
        matches!(
            &error,
            LoadError::Remote { errors, .. }
                if matches!(&errors[..], [plugin_loader::EndpointError::Connect { .. }])
        ),
        "{error}"
    );
    assert!(error.to_string().contains("127.0.0.1:9"), "{error}");
}

/// A native instance whose plugin records each `shutdown` in a file.
async fn recording(record: &std::path::Path) -> Instance {
    let extra = format!("metadata:\n  shutdown_record: {}\n", record.display());
    load_native("fixture-panicky", "panicky", "1.0.0", &extra)
        .await
        .expect("loads")
}

/// Starts a native call (on a thread of its own) that returns once
/// `release` exists, and waits until it is in flight.
async fn call_held_open(
    plugin: &Instance,
    release: &std::path::Path,
) -> std::thread::JoinHandle<Result<Vec<u8>, CallError>> {
    let handle = plugin.as_native().expect("native").clone();
    let release = release.display().to_string().into_bytes();
    let busy = std::thread::spawn(move || handle.call("wait_for_file", &release));
    support::eventually("the call is in flight", || plugin.stats().in_flight == 1).await;
    busy
}

fn records(record: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn shutdown_drains_native_calls_and_runs_the_plugins_shutdown_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (record, release) = (dir.path().join("record"), dir.path().join("release"));
    let plugin = recording(&record).await;
    let busy = call_held_open(&plugin, &release).await;

    let mut events = plugin.events();
    let shutting_down = tokio::spawn({
        let plugin = plugin.clone();
        async move { plugin.shutdown(Duration::from_secs(60)).await }
    });
    let draining = events.recv().await.expect("event");
    assert_eq!(draining.kind, InstanceEventKind::Draining { in_flight: 1 });
    // Later calls fail at once; the plugin's shutdown has not run.
    let refused = plugin.call("echo", b"x").await.expect_err("draining");
    assert!(
        matches!(
            refused,
            CallError::Stopped {
                state: "draining",
                ..
            }
        ),
        "{refused}"
    );
    assert!(records(&record).is_empty(), "shutdown ran during a call");

    std::fs::write(&release, b"").expect("release the call");
    assert_eq!(
        busy.join().expect("thread").expect("the call finishes"),
        b"released"
    );
    let outcome = shutting_down.await.expect("task");
    assert_eq!((outcome.abandoned_calls, outcome.ended), (0, Ended::Clean));
    assert_eq!(records(&record), ["shutdown with 0 call(s) running"]);

    let again = plugin.shutdown(Duration::from_secs(1)).await;
    assert_eq!(again.ended, Ended::AlreadyStopped);
    let refused = plugin.call("echo", b"x").await.expect_err("stopped");
    assert!(
        matches!(
            refused,
            CallError::Stopped {
                state: "stopped",
                ..
            }
        ),
        "{refused}"
    );
    drop(plugin);
    assert_eq!(records(&record).len(), 1, "the plugin's shutdown runs once");
}

#[tokio::test]
async fn a_native_call_that_outlives_the_grace_defers_the_plugins_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (record, release) = (dir.path().join("record"), dir.path().join("release"));
    let plugin = recording(&record).await;
    let busy = call_held_open(&plugin, &release).await;

    let mut events = plugin.events();
    let outcome = plugin.shutdown(Duration::from_millis(1)).await;
    assert_eq!(
        (outcome.abandoned_calls, outcome.ended),
        (1, Ended::Deferred)
    );
    assert!(records(&record).is_empty(), "shutdown ran during a call");
    assert_eq!(plugin.state(), InstanceState::Draining);

    std::fs::write(&release, b"").expect("release the call");
    assert_eq!(
        busy.join().expect("thread").expect("the call finishes"),
        b"released"
    );
    assert_eq!(records(&record), ["shutdown with 0 call(s) running"]);
    assert_eq!(plugin.state(), InstanceState::Stopped);
    let kinds: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            InstanceEventKind::Draining { in_flight: 1 },
            InstanceEventKind::Stopped {
                ended: Ended::Clean
            }
        ]
    );
}

#[tokio::test]
async fn dropping_the_last_handle_runs_the_plugins_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let record = dir.path().join("record");
    let plugin = recording(&record).await;
    let clone = plugin.clone();
    drop(plugin);
    assert!(records(&record).is_empty(), "a clone is still alive");
    drop(clone);
    assert_eq!(records(&record), ["shutdown with 0 call(s) running"]);
}

#[tokio::test]
async fn a_relative_plugin_directory_loads() {
    let staged = stage(&libraries().path("greeter-native"), "greeter", "1.0.0", "");
    let relative = support::relative_to_cwd(staged.path());
    let (loader, _cache) = loader(ProcessConfig::default());
    let greeter = loader
        .load(&staged.manifest(), &relative)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", relative.display()));
    assert_eq!(greet(&greeter, "Ada").await.text, "hello, Ada");
}

#[tokio::test]
async fn an_artifact_that_is_not_a_regular_file_or_too_large_is_refused() {
    let staged = stage(&libraries().path("greeter-native"), "greeter", "1.0.0", "");
    let artifact = staged.path().join("lib.so");
    let (loader, _cache) = loader(ProcessConfig::default());
    let small = plugin_loader::Loader::new(loader.config().clone().with_max_artifact_size(1024));
    let error = small
        .load(&staged.manifest(), staged.path())
        .await
        .expect_err("too large");
    assert!(
        matches!(error, LoadError::ArtifactTooLarge { limit: 1024, .. }),
        "{error}"
    );

    std::fs::remove_file(&artifact).expect("remove");
    std::os::unix::fs::symlink("/dev/zero", &artifact).expect("symlink");
    let error = loader
        .load(&staged.manifest(), staged.path())
        .await
        .expect_err("a device");
    assert!(
        matches!(
            error,
            LoadError::NotAFile {
                kind: "a device",
                ..
            }
        ),
        "{error}"
    );

    std::fs::remove_file(&artifact).expect("remove");
    let status = std::process::Command::new("mkfifo")
        .arg(&artifact)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let error = loader
        .load(&staged.manifest(), staged.path())
        .await
        .expect_err("a FIFO, refused without blocking on open");
    assert!(
        matches!(error, LoadError::NotAFile { kind: "a FIFO", .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_cache_directory_that_is_a_file_is_named_as_such() {
    let staged = stage(&libraries().path("greeter-native"), "greeter", "1.0.0", "");
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let loader = plugin_loader::Loader::new(
        plugin_loader::LoaderConfig::default().with_cache_dir(file.path()),
    );
    let error = loader
        .load(&staged.manifest(), staged.path())
        .await
        .expect_err("cache is a file");
    let text = error
        .to_string()
        .replace(&file.path().display().to_string(), "<cache>")
        .replace(&staged.path().display().to_string(), "<plugin-dir>");
    insta::assert_snapshot!(text, @"plugin greeter: cannot copy <plugin-dir>/lib.so into the cache directory <cache>: it exists and is a regular file, not a directory");
}

#[tokio::test]
async fn state_moves_between_instances_and_an_unknown_format_is_refused() {
    let one = load_native("kv-store-native", "kv-store", "1.4.1", "")
        .await
        .expect("loads");
    let two = load_native("kv-store-native", "kv-store", "1.4.1", "")
        .await
        .expect("loads again");
    assert_eq!(one.info().state_format.as_deref(), Some("kv-store/1"));
    let _: Option<String> = one
        .call_typed(
            "set",
            &SetRequest {
                key: "k".into(),
                value: "v".into(),
            },
        )
        .await
        .expect("set");
    one.pause();
    let refused = one.call("get", b"").await.expect_err("paused");
    assert!(
        matches!(
            refused,
            CallError::Stopped {
                state: "paused",
                ..
            }
        ),
        "{refused}"
    );
    assert!(one.quiesce(Duration::from_secs(5)).await);
    let state = one
        .export_state()
        .await
        .expect("exports")
        .expect("has state");
    two.import_state(state).await.expect("imports");
    let value: Option<String> = two
        .call_typed("get", &GetRequest { key: "k".into() })
        .await
        .expect("get");
    assert_eq!(value.as_deref(), Some("v"));
    let error = two
        .import_state(plugkit_sdk::State::new("kv-store/9", Vec::new()))
        .await
        .expect_err("an unknown format");
    assert!(
        error
            .to_string()
            .contains("unknown state format `kv-store/9`"),
        "{error}"
    );
    one.resume();
    assert!(
        one.call_typed::<_, Option<String>>("get", &GetRequest { key: "k".into() })
            .await
            .is_ok()
    );
}

/// A native call completes in its first poll, so what its future costs is
/// its size: each move copies it. The remote transports' calls are boxed
/// inside `Instance` so that their kilobytes of state do not land in every
/// native call's future (nor in the host's futures around it).
#[tokio::test]
async fn the_futures_of_native_calls_stay_small() {
    let greeter = load_native("greeter-native", "greeter", "1.0.0", "")
        .await
        .expect("loads");
    let request = GreetRequest {
        name: "Ada".to_string(),
    };
    let json = serde_json::json!({"name": "Ada"});
    let sizes = [
        ("call", std::mem::size_of_val(&greeter.call("greet", b""))),
        (
            "call_with_timeout",
            std::mem::size_of_val(&greeter.call_with_timeout("greet", b"", Duration::ZERO)),
        ),
        (
            "call_typed",
            std::mem::size_of_val(&greeter.call_typed::<_, GreetReply>("greet", &request)),
        ),
        (
            "call_json",
            std::mem::size_of_val(&greeter.call_json("greet", &json)),
        ),
    ];
    for (method, size) in sizes {
        assert!(
            size <= 128,
            "Instance::{method}'s future takes {size} bytes"
        );
    }
}
