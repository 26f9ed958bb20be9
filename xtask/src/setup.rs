//! `cargo xtask setup`: installs what the `etcd` feature needs beyond Rust,
//! so a fresh machine builds and tests it with no step by hand.
//!
//! - `protoc` and protobuf's well-known `.proto` files: `etcd-client`
//!   compiles etcd's protocol at build time (Debian: `protobuf-compiler`,
//!   `libprotobuf-dev`);
//! - `etcd` itself, the real server the tests start (`/usr/bin/etcd`,
//!   Debian: `etcd-server`; `$PLUGKIT_ETCD` names another binary).
//!
//! What is present is left alone. What is missing is installed with
//! `apt-get` when running as root on Debian; anywhere else the command
//! fails naming what to install. `.ci/run` runs it before the lints, and
//! `cargo xtask test` before the tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

/// The features `.ci/run` and `cargo xtask test` turn on: the etcd source,
/// the command line's `--etcd`, and the host's tests of remote plugins.
pub(crate) const ETCD_FEATURES: &str = "plugin-discovery/etcd,plugin-cli/etcd,plugin-host/etcd";

/// One thing the feature needs: what it is, how to tell it is there, and
/// the Debian package that brings it.
struct Need {
    what: &'static str,
    present: fn() -> bool,
    package: &'static str,
}

const NEEDS: &[Need] = &[
    Need {
        what: "protoc (the protobuf compiler)",
        present: protoc_present,
        package: "protobuf-compiler",
    },
    Need {
        what: "protobuf's well-known types (google/protobuf/descriptor.proto)",
        present: well_known_types_present,
        package: "libprotobuf-dev",
    },
    Need {
        what: "etcd (the server the tests run)",
        present: etcd_present,
        package: "etcd-server",
    },
];

fn protoc_present() -> bool {
    let protoc = std::env::var_os("PROTOC").unwrap_or_else(|| "protoc".into());
    Command::new(protoc)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn well_known_types_present() -> bool {
    let include = std::env::var_os("PROTOC_INCLUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    include.join("google/protobuf/descriptor.proto").is_file()
}

fn etcd_present() -> bool {
    std::env::var_os("PLUGKIT_ETCD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"))
        .is_file()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn is_debian() -> bool {
    Path::new("/etc/debian_version").is_file() && Path::new("/usr/bin/apt-get").is_file()
}

/// Installs what is missing, or fails naming it.
pub(crate) fn run() -> Result<()> {
    let missing: Vec<&Need> = NEEDS.iter().filter(|need| !(need.present)()).collect();
    if missing.is_empty() {
        println!("setup: protoc, protobuf's well-known types and etcd are present");
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|need| need.package).collect();
    let list = missing
        .iter()
        .map(|need| format!("{} (Debian package {})", need.what, need.package))
        .collect::<Vec<_>>()
        .join(", ");
    if !is_root() || !is_debian() {
        bail!(
            "missing: {list}. `cargo xtask setup` installs them only as root on Debian; \
             install them yourself (Debian: `apt-get install {}`), then run it again",
            packages.join(" ")
        );
    }
    println!("setup: installing {}", packages.join(" "));
    apt_get(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&packages);
    apt_get(&install)?;
    let still: Vec<&str> = NEEDS
        .iter()
        .filter(|need| !(need.present)())
        .map(|need| need.what)
        .collect();
    if !still.is_empty() {
        bail!("still missing after apt-get install: {}", still.join(", "));
    }
    Ok(())
}

fn apt_get(args: &[&str]) -> Result<()> {
    crate::run(
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}
