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
use std::path::{Path, PathBuf};

pub use worker::{WorkerArgs, run as run_worker};

/// Arguments of `tokenwarden demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Worker processes, each a separate `tokenwarden` process.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    workers: u32,
    /// Length of a run, in seconds (at least 12: every run plays every fault phase, scaled to
    /// its length). Access tokens live 4 s in runs under 30 s, 6 s under 40 s, then 8 s.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(schedule::MIN_SECONDS..=3600))]
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
        vec![Strategy::Tokenwarden, Strategy::Naive]
    } else if args.naive {
        vec![Strategy::Naive]
    } else {
        vec![Strategy::Tokenwarden]
    };
    // Fail before the run, not after it, when the report cannot be written.
    let report_file = match &args.report {
        Some(path) => Some(ReportFile::reserve(path)?),
        None => None,
    };
    let seed = args.seed.unwrap_or_else(new_seed);
    let tty = context::stderr_is_tty();
    let mut runs = Vec::new();
    for strategy in strategies {
        let settings = run::Settings {
            strategy,
            workers: args.workers,
            seconds: args.seconds,
            seed,
            tty,
        };
        runs.push(run::run(settings).await?);
    }
    let summaries: Vec<summary::Summary> = runs.iter().map(summary::Run::summary).collect();
    if let Some(file) = report_file {
        let path = file.commit(&report::html(&runs, &summaries))?;
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

/// A seed that differs from run to run (the storms' outcome must not depend on it).
fn new_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (nanos ^ (u64::from(std::process::id()) << 20)) % 1_000_000
}

/// The report's file, written atomically: a temporary file beside FILE.html is created before
/// the run (so an unwritable directory is reported at once), and renamed over FILE.html once
/// the page is complete. A failed or interrupted run removes it and leaves FILE.html as it
/// was.
#[derive(Debug)]
struct ReportFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<std::fs::File>,
}

impl ReportFile {
    fn reserve(path: &Path) -> Result<ReportFile> {
        let cannot = || format!("cannot write the report to {}", path.display());
        if path.is_dir() {
            anyhow::bail!("{}: it is a directory", cannot());
        }
        let name = path
            .file_name()
            .with_context(|| format!("{}: no file name", cannot()))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(cannot)?;
        Ok(ReportFile {
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
        })
    }

    /// Writes `page` and puts it in place; returns the report's path.
    fn commit(mut self, page: &str) -> Result<PathBuf> {
        let cannot = || format!("cannot write the report to {}", self.path.display());
        let mut file = self.file.take().with_context(cannot)?;
        file.write_all(page.as_bytes()).with_context(cannot)?;
        file.sync_all().with_context(cannot)?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path).with_context(cannot)?;
        Ok(std::mem::take(&mut self.path))
    }
}

impl Drop for ReportFile {
    fn drop(&mut self) {
        // After a commit the temporary file was renamed: this finds nothing to remove.
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_appears_whole_or_not_at_all() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let path = dir.join("r.html");
        // Reserved, then abandoned (a failed run): nothing is left, not even an empty page.
        drop(ReportFile::reserve(&path).expect("reserve"));
        let left: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
        assert!(left.is_empty(), "{left:?}");
        // An earlier report survives a failed run.
        std::fs::write(&path, "old").expect("write");
        drop(ReportFile::reserve(&path).expect("reserve"));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "old");
        // Committed: the page, and no temporary file.
        let file = ReportFile::reserve(&path).expect("reserve");
        assert_eq!(file.commit("<p>new</p>").expect("commit"), path);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "<p>new</p>");
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 1);
        // A directory, or a missing one, fails before any run.
        let err = ReportFile::reserve(&dir).expect_err("a directory");
        assert!(err.to_string().contains("cannot write the report"), "{err}");
        let err = ReportFile::reserve(&dir.join("missing/r.html")).expect_err("no such dir");
        assert!(
            format!("{err:#}").contains("cannot write the report"),
            "{err:#}"
        );
    }
}
