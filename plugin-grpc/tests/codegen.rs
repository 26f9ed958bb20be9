//! The committed generated code is what the `.proto` compiles to now.
//!
//! No build of the workspace runs a `.proto` compiler: `src/generated/` is
//! committed. This test compiles `proto/` again with protox (pure Rust, no
//! `protoc`) and tonic-prost-build into a temporary directory and fails if
//! the result differs from the committed file. After changing the
//! `.proto`, regenerate with
//!
//! ```sh
//! PLUGKIT_REGENERATE_GRPC=1 cargo test -p plugin-grpc --test codegen
//! ```

use std::path::Path;
use std::process::Command;

const GENERATED: &str = "plugkit.plugin.v1.rs";

/// The generated module's doc (the workspace wants every `.rs` file to
/// start with one); the rest of the file is tonic-prost-build's, formatted
/// by rustfmt so that `cargo fmt --check` agrees with it.
const HEADER: &str = "//! The `plugkit.plugin.v1` package: messages, `plugin_client` and\n\
//! `plugin_server`, generated from `proto/plugkit/plugin/v1/plugin.proto`\n\
//! (see it for each item's meaning). Do not edit: see `tests/codegen.rs`.\n\n";

fn generate(out: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let proto = root.join("proto");
    let descriptors = protox::compile([proto.join("plugkit/plugin/v1/plugin.proto")], [&proto])
        .unwrap_or_else(|error| panic!("the .proto does not compile: {error:?}"));
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // No `connect` constructors: they would tie the stubs to tonic's
        // transport; callers hand the client a channel of their choosing.
        .build_transport(false)
        .emit_rerun_if_changed(false)
        .out_dir(out)
        .compile_fds(descriptors)
        .unwrap_or_else(|error| panic!("code generation failed: {error}"));
}

#[test]
fn committed_generated_code_is_fresh() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/generated")
        .join(GENERATED);
    let out = tempfile::tempdir().expect("temporary directory");
    generate(out.path());
    let file = out.path().join(GENERATED);
    let generated = std::fs::read_to_string(&file).expect("generated file");
    std::fs::write(&file, format!("{HEADER}{generated}")).expect("write the header");
    let rustfmt = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let status = Command::new(rustfmt)
        .args(["--edition", "2024"])
        .arg(&file)
        .status()
        .expect("rustfmt runs (rustup component add rustfmt)");
    assert!(status.success(), "rustfmt failed on the generated code");
    let fresh = std::fs::read_to_string(&file).expect("formatted file");
    if std::env::var_os("PLUGKIT_REGENERATE_GRPC").is_some() {
        std::fs::write(&committed, &fresh).expect("write the generated file");
        return;
    }
    let current = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(
        current == fresh,
        "{} is stale: the .proto compiles to something else now; regenerate with \
         `PLUGKIT_REGENERATE_GRPC=1 cargo test -p plugin-grpc --test codegen` and commit it",
        committed.display()
    );
}
