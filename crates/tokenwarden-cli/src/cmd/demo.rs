//! `tokenwarden demo` and the hidden `tokenwarden demo-worker`: their arguments, and the calls
//! into the `tokenwarden_demo` crate, which runs the demonstration. This module parses and
//! renders the closing table or JSON; the demo draws its own progress on stderr while it runs.

use super::Global;
use super::context;
use anyhow::Result;
use std::io::Write as _;
use std::path::PathBuf;
use tokenwarden_demo::schedule::MIN_SECONDS;
use tokenwarden_demo::{Strategy, WorkerSettings};

/// Arguments of `tokenwarden demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Worker processes, each a separate `tokenwarden` process.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    workers: u32,
    /// Length of a run, in seconds (at least 12: every run plays every fault phase, scaled to
    /// its length). Access tokens live 4 s in runs under 30 s, 6 s under 40 s, then 8 s.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(MIN_SECONDS..=3600))]
    seconds: u64,
    /// The seed of the fault storms' generators (default: a new one each time; the summary
    /// shows it, so that a run's faults can be drawn again).
    #[arg(long)]
    seed: Option<u64>,
    /// Run the naive client instead: each process keeps its own copy of the tokens, refreshes
    /// when its copy looks expired, no lock, no re-read.
    #[arg(long, conflicts_with = "compare")]
    naive: bool,
    /// Run tokenwarden, then the naive client, on the same schedule, and show them side by
    /// side (with --json: an array of two objects).
    #[arg(long)]
    compare: bool,
    /// Also write a self-contained HTML page with the timeline and the summary.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
}

/// Runs `tokenwarden demo`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    let strategies = if args.compare {
        Strategy::BOTH.to_vec()
    } else if args.naive {
        vec![Strategy::Naive]
    } else {
        vec![Strategy::Tokenwarden]
    };
    let tty = context::stderr_is_tty();
    let outcome = tokenwarden_demo::run(tokenwarden_demo::Options {
        strategies,
        workers: args.workers,
        seconds: args.seconds,
        seed: args.seed,
        report: args.report,
        tty,
        color: tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    })
    .await?;
    if let Some(path) = &outcome.report {
        eprintln!("report written to {}", path.display());
    }
    let mut out = std::io::stdout().lock();
    if global.json {
        let value = match outcome.summaries.as_slice() {
            [one] => serde_json::to_value(one)?,
            many => serde_json::to_value(many)?,
        };
        writeln!(out, "{value}")?;
    } else {
        writeln!(
            out,
            "{}",
            tokenwarden_demo::table::render(&outcome.summaries)
        )?;
    }
    Ok(())
}

/// Arguments of the hidden `tokenwarden demo-worker` (the demo writes them: see
/// [`WorkerSettings::args`]).
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// This worker's number.
    #[arg(long)]
    worker: u32,
    /// How the worker keeps its token (tokenwarden or naive).
    #[arg(long)]
    strategy: Strategy,
    /// How long to run after `go`, in milliseconds.
    #[arg(long)]
    run_ms: u64,
    /// The pause between calls, in milliseconds (jittered by ±30 %).
    #[arg(long, default_value_t = 150)]
    interval_ms: u64,
}

impl From<WorkerArgs> for WorkerSettings {
    fn from(a: WorkerArgs) -> WorkerSettings {
        WorkerSettings {
            worker: a.worker,
            strategy: a.strategy,
            run_ms: a.run_ms,
            interval_ms: a.interval_ms,
        }
    }
}

/// Runs `tokenwarden demo-worker`: one worker process of the demo, for the global profile.
pub async fn run_worker(global: &Global, args: WorkerArgs) -> Result<()> {
    let warden = context::warden(global)?;
    tokenwarden_demo::run_worker(&warden, &global.profile, args.into()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(Debug, clap::Parser)]
    struct Worker {
        #[command(flatten)]
        args: WorkerArgs,
    }

    /// The flags the demo starts its workers with are the flags this command reads.
    #[test]
    fn the_worker_reads_what_the_demo_writes() {
        for strategy in Strategy::BOTH {
            let settings = WorkerSettings {
                worker: 3,
                strategy,
                run_ms: 20_000,
                interval_ms: 120,
            };
            let argv = std::iter::once(tokenwarden_demo::WORKER_COMMAND.to_string())
                .chain(settings.args());
            let parsed = Worker::try_parse_from(argv).expect("the worker's flags parse");
            assert_eq!(WorkerSettings::from(parsed.args), settings);
        }
    }
}
