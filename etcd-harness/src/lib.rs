//! A real etcd server for tests and benchmarks (a dev-dependency only):
//! Debian's `etcd-server` (`/usr/bin/etcd`, installed by `cargo xtask
//! setup`), started on two free loopback ports with a temporary data
//! directory, and stopped (killed and reaped) on drop.
//!
//! [`EtcdServer::start`] returns once the server says it serves client
//! requests (a line of its own log), not after a sleep; a server
//! that exits first, or is not ready within [`READY_WITHIN`], fails the
//! test with its log. [`EtcdServer::restart`] stops it and starts it again
//! on the same ports and data, as a crash and restart would, for the tests
//! of watches that must resume.
//!
//! When etcd is not installed the test fails with what to install: it is
//! never skipped.
//!
//! ```no_run
//! let etcd = etcd_harness::EtcdServer::start();
//! println!("etcd at {}", etcd.url()); // http://127.0.0.1:PORT
//! ```
#![deny(missing_docs)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a server may take to become ready.
pub const READY_WITHIN: Duration = Duration::from_secs(30);

/// The etcd binary: `$PLUGKIT_ETCD` when set, else Debian's.
pub fn etcd_binary() -> PathBuf {
    std::env::var_os("PLUGKIT_ETCD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"))
}

/// What etcd logs once it serves clients: 3.4's zap logger says the
/// second (once its client listener serves, after the server is ready),
/// other versions and loggers the first.
const READY_LINES: &[&str] = &["ready to serve client requests", "serving client traffic"];

/// A running etcd server on loopback.
pub struct EtcdServer {
    child: Option<Child>,
    data: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for EtcdServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdServer")
            .field("url", &self.url())
            .field("data", &self.data.path())
            .finish_non_exhaustive()
    }
}

impl EtcdServer {
    /// Starts a server with a fresh data directory, on free ports.
    ///
    /// # Panics
    ///
    /// When etcd is not installed (with what to install), or does not
    /// become ready.
    pub fn start() -> EtcdServer {
        let binary = etcd_binary();
        assert!(
            binary.is_file(),
            "etcd is not installed ({} is missing): run `cargo xtask setup` \
             (it installs Debian's etcd-server), or set PLUGKIT_ETCD to an etcd binary",
            binary.display()
        );
        let mut last_failure = String::new();
        // Ports are free when picked, but another process may take one
        // before etcd binds it: a few fresh tries.
        for _ in 0..3 {
            let (client_port, peer_port) = free_ports();
            let mut server = EtcdServer {
                child: None,
                data: tempfile::Builder::new()
                    .prefix("plugkit-etcd-")
                    .tempdir()
                    .expect("a temporary data directory"),
                client_port,
                peer_port,
                log: Arc::default(),
            };
            match server.launch() {
                Ok(()) => return server,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("etcd did not start:\n{last_failure}");
    }

    /// The client URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// What the server logged so far, one line each.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops the server (killed, as a crash would) and reaps it. Its data
    /// stays. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server and starts it again on the same ports and data.
    ///
    /// # Panics
    ///
    /// When it does not become ready again.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(failure) = self.launch() {
            panic!("etcd did not restart:\n{failure}");
        }
    }

    /// Starts etcd and waits for its ready line; on failure, the reason
    /// with its log.
    fn launch(&mut self) -> Result<(), String> {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let mut child = Command::new(etcd_binary())
            .arg("--name=plugkit-test")
            .arg(format!(
                "--data-dir={}",
                self.data.path().join("member").display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=plugkit-test={peer}"))
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", etcd_binary().display()))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let (ready, is_ready) = mpsc::channel();
        let log = Arc::clone(&self.log);
        // Reads the log to its end (so etcd never blocks on a full pipe),
        // telling when the ready line passes or the log ends.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let is_ready_line = READY_LINES.iter().any(|ready| line.contains(ready));
                log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                if is_ready_line {
                    let _ = ready.send(true);
                }
            }
            let _ = ready.send(false);
        });
        let deadline = Instant::now() + READY_WITHIN;
        let outcome = is_ready.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        match outcome {
            Ok(true) => {
                self.child = Some(child);
                Ok(())
            }
            other => {
                let _ = child.kill();
                let _ = child.wait();
                let why = match other {
                    Ok(_) => "etcd exited before it was ready".to_string(),
                    Err(_) => format!("etcd was not ready within {READY_WITHIN:?}"),
                };
                Err(format!("{why}; its log:\n{}", self.log().join("\n")))
            }
        }
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Two distinct loopback ports free right now.
fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = |l: &TcpListener| l.local_addr().expect("a local address").port();
    (port(&a), port(&b))
}
