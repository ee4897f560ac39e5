//! `tokenwarden-bench`: the helper binary of the benchmark suite (see `bench/README.md`).
//!
//! - `setup`: a tokenwarden home with the profile `bench` logged in (against mockauth, started
//!   here and stopped on exit), plus the same token as a plain file and as a JSON credentials
//!   file, for the whole-process comparison (`process.sh`).
//! - `fill-events`: fills a home's token-operation log to its retention cap.
//! - `summarize`: the table of the whole-process comparison, from the times `process.sh`
//!   collected ([`process`]).
//! - `refresh`: one refresh per cold process on loopback, with its phases, side by side with
//!   the `tokenwarden token` binary refreshing ([`refresh`]).
//!
//! Figures are printed, never asserted.

mod events;
mod login;
mod process;
mod refresh;
mod stats;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The profile every benchmark uses.
pub const PROFILE: &str = "bench";

#[derive(Debug, Parser)]
#[command(about = "Helpers and drivers of tokenwarden's benchmark suite (see bench/README.md)")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates HOME with the profile `bench` logged in, and writes OUT/token.txt (the access
    /// token alone) and OUT/credentials.json (the tokens as a JSON credentials file).
    Setup {
        /// The tokenwarden home to create (must not exist, or be empty).
        #[arg(long)]
        home: PathBuf,
        /// Where to write token.txt and credentials.json.
        #[arg(long)]
        out: PathBuf,
    },
    /// Appends records to the event log of $TOKENWARDEN_HOME until it holds as many as its
    /// retention keeps (the cap).
    FillEvents,
    /// Prints the table of the whole-process comparison from the raw times (lines of round,
    /// command, microseconds) and peak RSS (lines of command, KiB), tab-separated.
    Summarize {
        /// The times file.
        times: PathBuf,
        /// The peak RSS file.
        #[arg(long)]
        rss: Option<PathBuf>,
    },
    /// Times one refresh per cold process, on loopback: the library's steps in a process of
    /// this binary, and the `tokenwarden token` binary refreshing a rejected token.
    Refresh {
        /// How many refreshes of each kind (interleaved).
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// The `tokenwarden` binary to time; without it only the library's phases are timed.
        #[arg(long)]
        cli: Option<PathBuf>,
    },
    /// One refresh in this process, printing its phases as one JSON line (run by `refresh`).
    #[command(hide = true)]
    RefreshChild,
}

fn main() -> ExitCode {
    match run(Args::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Setup { home, out } => login::setup(&home, &out),
        Command::FillEvents => events::fill(),
        Command::Summarize { times, rss } => process::summarize(&times, rss.as_deref()),
        Command::Refresh { rounds, cli } => refresh::drive(rounds, cli.as_deref()),
        Command::RefreshChild => refresh::child(),
    }
}
