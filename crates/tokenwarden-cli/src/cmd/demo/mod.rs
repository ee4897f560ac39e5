//! `tokenwarden demo`: shows tokenwarden keeping many processes logged in through provider
//! failures, beside the naive client of the troubleshooting guides.
//!
//! It starts mockauth in-process (short access tokens, refresh-token rotation, no reuse
//! grace), logs a demo profile in under a temporary `TOKENWARDEN_HOME` with no browser, spawns
//! N worker processes of this binary (`demo-worker`, hidden) that loop "get a token, call the
//! API", and plays a fault schedule against mockauth. It ends with a table, or JSON, and can
//! write an HTML report.
//!
//! # Layout
//! - [`schedule`]: token lifetime, the fault phases and what each does to mockauth.
//! - `run`: one run from the parent's side (temporary home, login, workers, schedule, display).
//! - [`worker`]: the worker process; the tokenwarden strategy (the library's `Session`).
//! - `naive`: the naive strategy. `login`: a login with no browser.
//! - `protocol`: the JSON lines between workers and the parent.
//! - `summary`: the numbers; `table`: the closing table; `report`: the HTML page;
//!   `display`: the live display.

mod display;
mod login;
mod naive;
mod protocol;
mod report;
mod run;
pub mod schedule;
mod summary;
mod table;
pub mod worker;

use super::Global;
use super::context;
use anyhow::{Context as _, Result};
use protocol::Strategy;
use std::io::Write as _;
use std::path::PathBuf;

pub use worker::{WorkerArgs, run as run_worker};

/// Arguments of `tokenwarden demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Worker processes, each a separate `tokenwarden` process.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    workers: u32,
    /// Length of a run, in seconds (access tokens live 4 s).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=3600))]
    seconds: u64,
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
        vec![Strategy::Tokenwarden, Strategy::Naive]
    } else if args.naive {
        vec![Strategy::Naive]
    } else {
        vec![Strategy::Tokenwarden]
    };
    // Fail before the run, not after it, when the report cannot be written.
    let mut report_file = match &args.report {
        Some(path) => Some(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write the report to {}", path.display()))?,
        ),
        None => None,
    };
    let tty = context::stderr_is_tty();
    let mut runs = Vec::new();
    for strategy in strategies {
        let settings = run::Settings {
            strategy,
            workers: args.workers,
            seconds: args.seconds,
            tty,
        };
        runs.push(run::run(settings).await?);
    }
    let summaries: Vec<summary::Summary> = runs.iter().map(summary::Run::summary).collect();
    if let (Some(file), Some(path)) = (report_file.as_mut(), &args.report) {
        file.write_all(report::html(&runs, &summaries).as_bytes())
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    let mut out = std::io::stdout().lock();
    if global.json {
        let value = match summaries.as_slice() {
            [one] => serde_json::to_value(one)?,
            many => serde_json::to_value(many)?,
        };
        writeln!(out, "{value}")?;
    } else {
        writeln!(out, "{}", table::render(&summaries))?;
    }
    Ok(())
}
