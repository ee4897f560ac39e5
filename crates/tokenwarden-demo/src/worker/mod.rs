//! `tokenwarden demo-worker` (hidden): one worker process of the demo. It loops — get a token,
//! call the protected resource — until its deadline, and reports every step as one JSON line
//! on stdout (see `protocol`). It starts when the parent writes `go` and stops early when its
//! stdin closes, so a worker never outlives the demo.
//!
//! The strategies: `session`, tokenwarden's: the library's `Session` as `Warden` builds it (the
//! code path of `tokenwarden token` and `tokenwarden request`), with the refresh grant wrapped
//! only to report each refresh; `naive`, the naive client's.

mod naive;
mod session;

use crate::emit::{Emitter, unix_ms};
use crate::protocol::{GO, Kind, Strategy, WorkerSettings};
use anyhow::{Context as _, Result};
use naive::NaiveWorker;
use session::TokenwardenWorker;
use std::time::{Duration, Instant, SystemTime};
use tokenwarden::warden::Warden;

/// How long after its deadline a worker stops even in the middle of a call.
const GRACE: Duration = Duration::from_secs(3);

/// How long a ready worker waits for `go` before giving up.
const GO_WAIT: Duration = Duration::from_secs(120);

/// Runs one worker process of the demo for the profile `profile` of `warden` (the parent
/// starts it as the hidden subcommand [`WORKER_COMMAND`](crate::WORKER_COMMAND)).
pub async fn run(warden: &Warden, profile: &str, settings: WorkerSettings) -> Result<()> {
    let out = Emitter::new(settings.worker);
    let profile = warden.profile(profile)?.profile;
    let url = profile
        .resource
        .as_deref()
        .and_then(|u| reqwest::Url::parse(u).ok())
        .context("the demo profile has no valid `resource`")?;
    let mut worker = match settings.strategy {
        Strategy::Tokenwarden => {
            Worker::Tokenwarden(TokenwardenWorker::new(warden, profile, url, out.clone())?)
        }
        Strategy::Naive => Worker::Naive(NaiveWorker::new(warden, profile, url, out.clone())?),
    };
    out.now(Kind::Ready);
    let mut stdin = watch_stdin();
    match tokio::time::timeout(GO_WAIT, stdin.recv()).await {
        Ok(Some(line)) if line.trim() == GO => {}
        _ => return Ok(()),
    }
    let deadline = Instant::now() + Duration::from_millis(settings.run_ms);
    let parent_gone = async { while stdin.recv().await.is_some() {} };
    let mut jitter = Jitter::new(settings.worker);
    let work = async {
        while Instant::now() < deadline && !out.broken() {
            worker.call().await;
            let pause = jitter.around(Duration::from_millis(settings.interval_ms));
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
        }
    };
    tokio::select! {
        () = work => {}
        () = parent_gone => {}
        () = tokio::time::sleep_until((deadline + GRACE).into()) => {}
    }
    out.now(Kind::Done);
    Ok(())
}

/// The lines of stdin, read on a thread of their own; the channel closes at end of file.
fn watch_stdin() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::stdin().lock()) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// One per process, so the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Worker {
    Tokenwarden(TokenwardenWorker),
    Naive(NaiveWorker),
}

impl Worker {
    async fn call(&mut self) {
        match self {
            Worker::Tokenwarden(w) => w.call().await,
            Worker::Naive(w) => w.call().await,
        }
    }
}

/// ±30 % around a pause, so that workers do not march in step (xorshift; no crypto needed).
struct Jitter(u64);

impl Jitter {
    fn new(worker: u32) -> Self {
        let seed =
            unix_ms(SystemTime::now()) ^ (u64::from(worker) << 32) ^ u64::from(std::process::id());
        Jitter(seed | 1)
    }

    fn around(&mut self, d: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let unit = (self.0 % 1000) as f64 / 1000.0; // 0..1
        d.mul_f64(0.7 + 0.6 * unit)
    }
}
