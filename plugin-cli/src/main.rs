//! `plugkit`: the command-line tool of the plugkit framework. Every
//! capability of the library is reachable from the shell; `--json` gives
//! machine-readable output.
//!
//! Exit codes (a contract scripts rely on): 0 success, 1 a negative answer
//! (an invalid manifest, no resolution), 2 a usage or IO error.
//! `plugkit version satisfies` answers `true`/`false` with exit 0 either way,
//! as its issue specifies: the answer is the output, and only bad input is an
//! error (exit 2).

mod discover;
mod lines;
mod logs;
mod manifest;
mod register;
mod resolve;
mod run;
mod scan;
mod version;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Load, version, resolve and hot-swap plugins at run time.
#[derive(Parser)]
#[command(
    name = "plugkit",
    version,
    about = "Find, check, resolve, load and hot-swap plugins from the command line",
    after_help = "Start with `plugkit run DIR` (a host over a plugins directory) or \
                  `plugkit discover DIR`; `plugkit COMMAND --help` tells more. \
                  Exit codes: 0 success, 1 a negative answer (invalid manifest, \
                  no resolution), 2 a usage or IO error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check plugin manifests.
    #[command(subcommand)]
    Manifest(manifest::Command),
    /// Check versions against npm-style constraints.
    #[command(subcommand)]
    Version(version::Command),
    /// Resolve the plugins found in directories: versions and load order.
    Resolve(resolve::Args),
    /// Find plugins in directories (and etcd).
    Discover(discover::Args),
    /// Watch directories (and etcd) and print discovery events as they happen.
    Watch(watch::Args),
    /// Register a running remote (gRPC) plugin instance in etcd until stopped.
    Register(register::Args),
    /// Run a host over directories: load, hot-reload on change, and answer
    /// JSON calls read from stdin, one per line.
    Run(run::Args),
}

/// Exit code of a negative answer.
pub(crate) const NEGATIVE: u8 = 1;
/// Exit code of a usage or IO error.
pub(crate) const FAILURE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Manifest(command) => manifest::run(command),
        Command::Version(command) => version::run(command),
        Command::Resolve(args) => resolve::run(args),
        Command::Discover(args) => discover::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Register(args) => register::run(args),
        Command::Run(args) => run::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks of the command tree (argument names,
    /// conflicts), which otherwise only fire when a user hits the command.
    #[test]
    fn command_tree_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
