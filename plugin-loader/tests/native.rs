//! The native loader against real libraries: the example plugins and the
//! failure fixtures of `examples/fixtures/`, built by the test itself.

mod support;

use std::sync::Arc;

use plugin_loader::{CallError, LoadError};
use plugkit_example_interface::{GetRequest, GreetReply, GreetRequest, SetRequest};
use plugkit_sdk::{ErrorKind, Health};
use support::{libraries, load_native, loader, stage};

fn greet(plugin: &plugin_loader::NativePlugin, name: &str) -> GreetReply {
    plugin
        .call_typed(
            "greet",
            &GreetRequest {
                name: name.to_string(),
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn loads_a_plugin_and_calls_it_typed_and_raw() {
    let store =
        load_native("kv-store-native", "kv-store", "1.4.1", "").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.name(), "kv-store");
    assert_eq!(store.version().to_string(), "1.4.1");
    assert_eq!(store.capabilities(), ["kv:get", "kv:set"]);
    assert_eq!(store.sdk_version(), plugkit_sdk::SDK_VERSION);

    let previous: Option<String> = store
        .call_typed(
            "set",
            &SetRequest {
                key: "k".into(),
                value: "v".into(),
            },
        )
        .expect("set");
    assert_eq!(previous, None);
    let raw = store
        .call(
            "get",
            &plugkit_sdk::encode(&GetRequest { key: "k".into() }).expect("encode"),
        )
        .expect("raw call");
    assert_eq!(
        plugkit_sdk::decode::<Option<String>>(&raw).expect("decode"),
        Some("v".into())
    );
    assert_eq!(store.health(), Ok(Health::Healthy));
    assert_eq!(store.shutdown(), Ok(()));
}

#[test]
fn the_manifests_metadata_is_the_plugins_config() {
    let extra = "metadata:\n  greeting: howdy\n";
    let staged = stage(
        &libraries().path("greeter-native"),
        "greeter",
        "1.0.0",
        extra,
    );
    let (loader, _cache) = loader();
    let greeter = loader
        .load(&staged.manifest(), staged.path())
        .expect("loads");
    assert_eq!(
        greeter
            .call_typed::<_, GreetReply>("greet", &GreetRequest { name: "Ada".into() })
            .expect("greet")
            .text,
        "howdy, Ada"
    );
}

#[test]
fn version_one_and_two_run_side_by_side() {
    let v1 = stage(&libraries().path("greeter-native"), "greeter", "1.0.0", "");
    let v2 = stage(
        &libraries().path("greeter-native-v2"),
        "greeter",
        "2.0.0",
        "",
    );
    let (loader, _cache) = loader();
    let one = loader.load(&v1.manifest(), v1.path()).expect("v1 loads");
    assert_eq!(
        greet(&one, "Ada"),
        GreetReply {
            text: "hello, Ada".into(),
            version: "1.0.0".into()
        }
    );
    let two = loader.load(&v2.manifest(), v2.path()).expect("v2 loads");
    assert_eq!(
        greet(&two, "Ada"),
        GreetReply {
            text: "hi, Ada".into(),
            version: "2.0.0".into()
        }
    );
    assert_eq!(
        greet(&one, "Bob").text,
        "hello, Bob",
        "v1 still runs v1's code"
    );
}

#[test]
fn a_library_rebuilt_in_place_is_loaded_anew() {
    let staged = stage(&libraries().path("greeter-native"), "greeter", "1.0.0", "");
    let (loader, _cache) = loader();
    let before = loader
        .load(&staged.manifest(), staged.path())
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
        .expect("v2 loads");
    assert_eq!(greet(&after, "Ada").text, "hi, Ada");
    assert_eq!(greet(&before, "Ada").text, "hello, Ada");
}

#[test]
fn reloading_the_same_bytes_gives_a_fresh_instance() {
    let staged = stage(
        &libraries().path("kv-store-native"),
        "kv-store",
        "1.4.1",
        "",
    );
    let (loader, _cache) = loader();
    let first = loader
        .load(&staged.manifest(), staged.path())
        .expect("loads");
    let _: Option<String> = first
        .call_typed(
            "set",
            &SetRequest {
                key: "k".into(),
                value: "1".into(),
            },
        )
        .expect("set");
    let second = loader
        .load(&staged.manifest(), staged.path())
        .expect("loads again");
    let value: Option<String> = second
        .call_typed("get", &GetRequest { key: "k".into() })
        .expect("get");
    assert_eq!(
        value, None,
        "a reload must not share the first instance's state"
    );
}

#[test]
fn the_cache_directory_does_not_grow() {
    let staged = stage(
        &libraries().path("kv-store-native"),
        "kv-store",
        "1.4.1",
        "",
    );
    let (loader, cache) = loader();
    for _ in 0..5 {
        loader
            .load(&staged.manifest(), staged.path())
            .expect("loads");
    }
    let left = std::fs::read_dir(cache.path()).expect("list cache").count();
    assert_eq!(left, 0, "cache copies are removed once opened");
}

#[test]
fn checksum_is_verified_before_loading() {
    let library = libraries().path("kv-store-native");
    let bytes = std::fs::read(&library).expect("read library");
    let good = format!("checksum: sha256:{}\n", reference_sha256(&bytes));
    let staged = stage(&library, "kv-store", "1.4.1", &good);
    let (loader, _cache) = loader();
    loader
        .load(&staged.manifest(), staged.path())
        .expect("matching checksum loads");

    let bad = format!("checksum: sha256:{}\n", "0".repeat(64));
    let staged = stage(&library, "kv-store", "1.4.1", &bad);
    let error = loader
        .load(&staged.manifest(), staged.path())
        .expect_err("mismatch refused");
    assert!(
        matches!(error, LoadError::ChecksumMismatch { .. }),
        "{error}"
    );
}

/// The digest from `sha256sum`, not from the crate the loader uses, so the
/// check is not circular.
fn reference_sha256(bytes: &[u8]) -> String {
    {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("sha256sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sha256sum starts");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(bytes)
            .expect("write");
        let output = child.wait_with_output().expect("sha256sum runs");
        String::from_utf8(output.stdout).expect("UTF-8")[..64].to_string()
    }
}

#[test]
fn each_bad_library_fails_with_its_own_error() {
    let (loader, _cache) = loader();
    let libs = libraries();
    let load = |library: &std::path::Path, name: &str, version: &str| {
        let staged = stage(library, name, version, "");
        loader
            .load(&staged.manifest(), staged.path())
            .expect_err("must be refused")
    };

    let missing = {
        let staged = stage(&libs.path("kv-store-native"), "kv-store", "1.4.1", "");
        std::fs::remove_file(staged.path().join("lib.so")).expect("remove");
        loader
            .load(&staged.manifest(), staged.path())
            .expect_err("missing file")
    };
    assert!(
        matches!(missing, LoadError::ReadArtifact { .. }),
        "{missing}"
    );

    let garbage = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(garbage.path(), b"this is not an ELF file\n").expect("write");
    let error = load(garbage.path(), "kv-store", "1.4.1");
    assert!(matches!(error, LoadError::NotALibrary { .. }), "{error}");

    let truncated = tempfile::NamedTempFile::new().expect("temp file");
    let bytes = std::fs::read(libs.path("kv-store-native")).expect("read");
    std::fs::write(truncated.path(), &bytes[..bytes.len() / 3]).expect("write");
    let error = load(truncated.path(), "kv-store", "1.4.1");
    assert!(matches!(error, LoadError::NotALibrary { .. }), "{error}");

    let error = load(&libs.path("fixture-not-a-plugin"), "not-a-plugin", "0.1.0");
    assert!(matches!(error, LoadError::NotAPlugin { .. }), "{error}");

    let error = load(&libs.path("fixture-wrong-abi"), "wrong-abi", "0.1.0");
    assert!(
        matches!(error, LoadError::IncompatibleAbi { .. }),
        "{error}"
    );

    let error = load(&libs.path("fixture-future-sdk"), "future-sdk", "0.1.0");
    assert!(
        matches!(error, LoadError::IncompatibleSdk { ref found, .. } if found == "9.0.0"),
        "{error}"
    );

    let error = load(&libs.path("greeter-native"), "greeter", "1.0.1");
    assert!(
        matches!(error, LoadError::IdentityMismatch { .. }),
        "{error}"
    );
    let error = load(&libs.path("greeter-native"), "welcomer", "1.0.0");
    assert!(
        matches!(error, LoadError::IdentityMismatch { .. }),
        "{error}"
    );
}

#[test]
fn load_errors_read_well() {
    let (loader, _cache) = loader();
    let libs = libraries();
    let mut lines = Vec::new();
    for (package, name, version) in [
        ("fixture-not-a-plugin", "not-a-plugin", "0.1.0"),
        ("fixture-wrong-abi", "wrong-abi", "0.1.0"),
        ("fixture-future-sdk", "future-sdk", "0.1.0"),
        ("greeter-native", "greeter", "1.0.1"),
    ] {
        let staged = stage(&libs.path(package), name, version, "");
        let error = loader
            .load(&staged.manifest(), staged.path())
            .expect_err("refused");
        let shown = staged.path().display().to_string();
        lines.push(error.to_string().replace(&shown, "<plugin-dir>"));
    }
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn a_panic_in_call_is_an_error_and_marks_the_plugin_failed() {
    let plugin = load_native("fixture-panicky", "panicky", "1.0.0", "").expect("loads");
    assert_eq!(plugin.call("echo", b"ping").expect("echo"), b"ping");
    let error = plugin.call("panic", b"").expect_err("panic is an error");
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
    assert!(plugin.is_failed());
    let refused = plugin
        .call("echo", b"ping")
        .expect_err("failed plugins refuse calls");
    assert!(matches!(refused, CallError::Failed { .. }), "{refused}");
}

#[test]
fn a_panic_in_init_fails_the_load() {
    let error = load_native(
        "fixture-panicky",
        "panicky",
        "1.0.0",
        "metadata:\n  panic_in_init: true\n",
    )
    .expect_err("init panics");
    match &error {
        LoadError::Init {
            plugin,
            stage,
            error,
        } => {
            assert_eq!((plugin.as_str(), *stage), ("panicky", "init"));
            assert_eq!(error.kind(), ErrorKind::Panicked);
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn a_panic_in_health_is_an_error_and_marks_the_plugin_failed() {
    let plugin = load_native(
        "fixture-panicky",
        "panicky",
        "1.0.0",
        "metadata:\n  panic_in_health: true\n",
    )
    .expect("loads");
    let error = plugin.health().expect_err("health panics");
    assert!(
        error
            .to_string()
            .contains("panicky: health: panicked in health"),
        "{error}"
    );
    assert!(plugin.is_failed());
}

#[test]
fn many_threads_call_one_plugin_at_once() {
    let store = Arc::new(load_native("kv-store-native", "kv-store", "1.4.1", "").expect("loads"));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
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
}

#[test]
fn other_transports_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = plugin_manifest::parse(
        b"name: remote\nversion: 1.0.0\ntransport: grpc\nendpoint: localhost:9\n",
        "m.yaml",
    )
    .expect("valid")
    .manifest;
    let (loader, _cache) = loader();
    let error = loader
        .load(&manifest, dir.path())
        .expect_err("grpc is not native");
    assert!(matches!(error, LoadError::WrongTransport { .. }), "{error}");
}
