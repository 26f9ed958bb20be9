//! What a child process plugin sets on itself between `fork` and `exec`:
//! the parent-death signal, the manifest's resource limits, no descriptor
//! of the host's left open but stdio and the call lane's read end. Linux only: elsewhere a child
//! gets none of them (no call lane is offered), and a manifest that sets
//! limits is refused ([`check_supported`]).

#[cfg(target_os = "linux")]
use std::io;
use std::os::fd::RawFd;

use tokio::process::Command;

use crate::error::LoadError;

/// Refuses a manifest with resource limits where they cannot be applied.
pub(crate) fn check_supported(plugin: &str, has_limits: bool) -> Result<(), LoadError> {
    if cfg!(target_os = "linux") || !has_limits {
        return Ok(());
    }
    Err(LoadError::Unsupported {
        plugin: plugin.to_string(),
        what: "resource limits (resources.max_memory_mb, max_file_handles, max_cpu_cores)",
    })
}

/// Elsewhere than Linux: nothing to set (see [`check_supported`]).
#[cfg(not(target_os = "linux"))]
pub(crate) fn apply(
    _command: &mut Command,
    _memory_bytes: Option<u64>,
    _file_handles: Option<u64>,
    _cpu_cores: Option<u32>,
    _lane: Option<RawFd>,
) {
}

/// Whether children get the call lane (see [`apply`]).
pub(crate) const CALL_LANE: bool = cfg!(target_os = "linux");

#[cfg(target_os = "linux")]
/// Registers the pre-exec step on `command`: `PR_SET_PDEATHSIG = SIGKILL`
/// (checked against a host that already died), `RLIMIT_AS`, `RLIMIT_NOFILE`,
/// CPU affinity to the first `cpu_cores` CPUs the host may use,
/// close-on-exec set on every descriptor above stderr (the host's open
/// files and sockets stay in the host) and then cleared on `lane` (the call
/// lane's read end, which is close-on-exec in the host so that no other
/// child inherits it).
pub(crate) fn apply(
    command: &mut Command,
    memory_bytes: Option<u64>,
    file_handles: Option<u64>,
    cpu_cores: Option<u32>,
    lane: Option<RawFd>,
) {
    let parent = rustix::process::getpid();
    // Computed before the fork: the child must not allocate.
    let cpus = cpu_cores.and_then(|cores| cpu_set(cores as usize));
    // The only unsafe of the loader: `pre_exec` runs in the forked child,
    // where only async-signal-safe work is allowed.
    #[allow(unsafe_code)]
    // SAFETY: the closure only makes system calls (prctl, getppid,
    // setrlimit, sched_setaffinity, close_range, fcntl) on values computed before the
    // fork; it allocates nothing and takes no lock. `lane` is open until
    // the spawn returns (the caller holds it).
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            if rustix::process::getppid() != Some(parent) {
                return Err(io::Error::other(
                    "the host exited while the plugin was starting",
                ));
            }
            let limit = |bytes| rustix::process::Rlimit {
                current: Some(bytes),
                maximum: Some(bytes),
            };
            if let Some(bytes) = memory_bytes {
                rustix::process::setrlimit(rustix::process::Resource::As, limit(bytes))?;
            }
            if let Some(files) = file_handles {
                rustix::process::setrlimit(rustix::process::Resource::Nofile, limit(files))?;
            }
            if let Some(cpus) = &cpus {
                rustix::thread::sched_setaffinity(None, cpus)?;
            }
            // Every descriptor the host left open without close-on-exec
            // (its own, or one it inherited) closes at exec: the plugin
            // gets stdio and the lane, nothing else of the host's. Best
            // effort: kernels before 5.11 do not know the flag.
            libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            if let Some(lane) = lane {
                let lane = std::os::fd::BorrowedFd::borrow_raw(lane);
                rustix::io::fcntl_setfd(lane, rustix::io::FdFlags::empty())?;
            }
            Ok(())
        });
    }
}

/// The first `cores` CPUs of the host's own affinity set.
#[cfg(target_os = "linux")]
fn cpu_set(cores: usize) -> Option<rustix::thread::CpuSet> {
    let allowed = rustix::thread::sched_getaffinity(None).ok()?;
    let mut set = rustix::thread::CpuSet::new();
    let mut taken = 0;
    for cpu in 0..rustix::thread::CpuSet::MAX_CPU {
        if taken == cores {
            break;
        }
        if allowed.is_set(cpu) {
            set.set(cpu);
            taken += 1;
        }
    }
    (taken > 0).then_some(set)
}
