//! `plugkit register MANIFEST --etcd URL --endpoint HOST:PORT [--ttl S]
//! [--etcd-prefix P]`: registers one running instance of a remote (gRPC)
//! plugin in etcd, where `plugkit discover|watch|run --etcd` (and any host
//! with an etcd source) find it, and keeps it registered until stopped.
//!
//! The record is the discovery contract (`plugin-discovery`'s
//! `EtcdSource`): key `<prefix>/<name>/<version>/<instance-id>`, value the
//! manifest as JSON with `transport` set to `grpc` and `endpoint` to
//! `--endpoint`, bound to a lease of `--ttl` seconds (default 10). The
//! instance id is the lease's id, so it is fresh for every registration.
//! The lease is renewed every third of its TTL; on SIGTERM or Ctrl-C it is
//! revoked, so the record goes at once (watchers see `plugin_removed` for
//! the last instance), and the command exits 0.
//!
//! stdout: `registered KEY` once the record is written (flushed, so a
//! script can wait for it), `revoked KEY` once it is gone. Exit codes: 0
//! stopped and revoked; 1 the manifest is invalid (its diagnostics on
//! stdout, as `manifest check` prints them); 2 a usage or IO error, etcd
//! not answering, or the lease lost (etcd unreachable for longer than the
//! TTL). Needs the command line's `etcd` feature.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::scan::EtcdArgs;

/// Arguments of `plugkit register`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The plugin's manifest (JSON or YAML); its transport and endpoint
    /// are replaced by `grpc` and --endpoint.
    #[arg(value_name = "MANIFEST")]
    manifest: PathBuf,
    #[command(flatten)]
    etcd: EtcdArgs,
    /// Where this instance listens, as host:port.
    #[arg(long, value_name = "HOST:PORT")]
    endpoint: String,
    /// The lease's time to live, in seconds: how long the record outlives
    /// this command if it dies without revoking it.
    #[arg(long, value_name = "S", default_value_t = 10)]
    ttl: u64,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    if args.etcd.etcd.is_empty() {
        anyhow::bail!("--etcd URL is required: the cluster to register in");
    }
    imp::run(args)
}

#[cfg(not(feature = "etcd"))]
mod imp {
    use super::*;

    pub(super) fn run(_: Args) -> Result<ExitCode> {
        anyhow::bail!(
            "plugkit register needs etcd support, which this build lacks: \
             build the command line with `--features etcd` (cargo xtask setup installs what it needs)"
        )
    }
}

#[cfg(feature = "etcd")]
mod imp {
    use std::io::Write;
    use std::time::Duration;

    use anyhow::Context;
    use plugkit::discovery::{
        Registration, SpecialFiles, printable, printable_path, read_manifest_file,
    };
    use plugkit::manifest::{Limits, parse_with};

    use super::*;
    use crate::NEGATIVE;

    pub(super) fn run(args: Args) -> Result<ExitCode> {
        let limits = Limits::default();
        let bytes = read_manifest_file(
            &args.manifest,
            limits.max_bytes as u64,
            SpecialFiles::ReadWithCap,
        )
        .map_err(|error| anyhow::anyhow!(error.to_string_with_causes()))?;
        let shown = printable_path(&args.manifest).into_owned();
        let manifest = match parse_with(&bytes, &shown, &limits) {
            Ok(parsed) => parsed.manifest,
            Err(errors) => {
                for diagnostic in errors.diagnostics() {
                    println!("{}", printable(&diagnostic.display_in(&shown).to_string()));
                }
                return Ok(ExitCode::from(NEGATIVE));
            }
        };
        let source = args
            .etcd
            .source()
            .context("--etcd URL is required: the cluster to register in")?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(async {
            // Handlers in place before `registered` is printed: a signal
            // right after it must revoke, not kill.
            let stop = stopped()?;
            let ttl = Duration::from_secs(args.ttl);
            let mut registration =
                Registration::register(&source, &manifest, &args.endpoint, ttl).await?;
            say(&format!("registered {}", printable(registration.key())))?;
            registration.keep_alive_until(stop).await?;
            let key = registration.key().to_string();
            registration.revoke().await?;
            say(&format!("revoked {}", printable(&key)))?;
            Ok(ExitCode::SUCCESS)
        })
    }

    /// A line on stdout, flushed at once.
    fn say(line: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        Ok(())
    }

    /// A future that completes on SIGTERM or Ctrl-C (SIGINT), its handlers
    /// installed now.
    #[cfg(unix)]
    fn stopped() -> Result<impl Future<Output = ()>> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle Ctrl-C")?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }

    /// A future that completes on Ctrl-C.
    #[cfg(not(unix))]
    fn stopped() -> Result<impl Future<Output = ()>> {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
