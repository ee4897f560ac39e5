//! The tokenwarden demonstration (`tokenwarden demo`): tokenwarden keeping many processes logged
//! in through provider failures, beside the naive client of the troubleshooting guides.
//!
//! [`run`] starts mockauth in-process (short access tokens, refresh-token rotation, no reuse
//! grace), logs a demo profile in under a temporary `TOKENWARDEN_HOME` with no browser, spawns
//! N worker processes of the running program, and plays a fault schedule against mockauth. It
//! returns the [`Summary`] of each run (which the caller shows as a [`table`] or JSON) and can
//! write an HTML report.
//!
//! The workers are processes of the running program: it must dispatch the hidden subcommand
//! [`WORKER_COMMAND`] (with the flags [`WorkerSettings::args`] writes, and the global
//! `--profile`) to [`run_worker`]. Each loops "get a token, call the API" and reports every step
//! as one JSON line on its stdout. While it runs, the demo draws its progress on stderr.
//!
//! # Layout
//! - [`schedule`]: token lifetime, the fault phases and what each does to mockauth.
//! - `run`: one run from the parent's side (temporary home, login, workers, schedule, display);
//!   `fleet`: the worker processes.
//! - `worker`: the worker process; its strategies, tokenwarden's (the library's `Session`,
//!   `worker::session`) and the naive client's (`worker::naive`), both reporting through `emit`.
//! - [`naive`]: the naive strategy's client. [`login`]: a login with no browser.
//! - `protocol`: the wire between the parent and its workers; `errors`: what the workers make of
//!   the library's errors.
//! - `summary`: the numbers; [`table`]: the closing table; `report`: the HTML page and
//!   `report_file` its atomic write; `display`: the live display.
#![deny(missing_docs)]

mod display;
mod emit;
mod errors;
mod fleet;
pub mod login;
pub mod naive;
mod protocol;
mod report;
mod report_file;
mod run;
pub mod schedule;
mod summary;
pub mod table;
mod worker;

pub use protocol::{Strategy, WORKER_COMMAND, WorkerSettings};
pub use summary::{Latency, Summary};
pub use worker::run as run_worker;

use anyhow::Result;
use report_file::ReportFile;
use std::path::PathBuf;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The strategies to run, one after the other, on the same schedule ([`Strategy::BOTH`]
    /// to compare them).
    pub strategies: Vec<Strategy>,
    /// Worker processes per run.
    pub workers: u32,
    /// Length of a run, seconds (at least [`schedule::MIN_SECONDS`] to play every phase).
    pub seconds: u64,
    /// The seed of the storms' fault draws (`None`: a new one).
    pub seed: Option<u64>,
    /// Also write the HTML report to this file.
    pub report: Option<PathBuf>,
    /// Animate the display on stderr (stderr is a terminal).
    pub tty: bool,
    /// Colour the animated display.
    pub color: bool,
}

/// What the demo produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// One summary per run, in the order of [`Options::strategies`].
    pub summaries: Vec<Summary>,
    /// Where the report was written, when one was asked for.
    pub report: Option<PathBuf>,
}

/// Runs the demo: each strategy in turn, then the report. The report's file is reserved before
/// the first run, so that an unwritable path fails before anything runs; a failed run leaves
/// no half page.
pub async fn run(options: Options) -> Result<Outcome> {
    let report_file = match &options.report {
        Some(path) => Some(ReportFile::reserve(path)?),
        None => None,
    };
    let seed = options.seed.unwrap_or_else(new_seed);
    let mut runs = Vec::new();
    for &strategy in &options.strategies {
        let settings = run::Settings {
            strategy,
            workers: options.workers,
            seconds: options.seconds,
            seed,
            tty: options.tty,
            color: options.color,
        };
        runs.push(run::run(settings).await?);
    }
    let summaries: Vec<Summary> = runs.iter().map(summary::Run::summary).collect();
    let report = match report_file {
        Some(file) => Some(file.commit(&report::html(&runs, &summaries))?),
        None => None,
    };
    Ok(Outcome { summaries, report })
}

/// A seed that differs from run to run (the storms' outcome must not depend on it).
fn new_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (nanos ^ (u64::from(std::process::id()) << 20)) % 1_000_000
}
