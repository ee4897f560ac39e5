//! `tokenwarden demo-worker` (hidden): one worker process of the demo. It loops — get a token,
//! call the protected resource — until its deadline, and reports every step as one JSON line
//! on stdout (see [`super::protocol`]). It starts when the parent writes `go` and stops early
//! when its stdin closes, so a worker never outlives the demo.
//!
//! The tokenwarden strategy is the library's [`Session`], built as `Warden::session` builds it
//! (the code path of `tokenwarden token` and `tokenwarden request`), with the refresh grant
//! wrapped only to report each refresh. The naive strategy is in [`super::naive`].

use super::naive::NaiveWorker;
use super::protocol::{Event, GO, Kind, Strategy, label};
use crate::cmd::Global;
use crate::cmd::context;
use anyhow::{Context as _, Result};
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokenwarden::config::Profile;
use tokenwarden::error::OAuthErrorCode;
use tokenwarden::http::Exchanged;
use tokenwarden::http::TokenClient;
use tokenwarden::secret::RefreshToken;
use tokenwarden::session::{BoxFuture, Effort, Grants, Session, SessionOptions};
use tokenwarden::store::{SqliteStore, Store};
use tokenwarden::token::TokenSet;
use tokenwarden::warden::{ClientGrants, Warden};
use tokenwarden::{Error, ErrorKind};

/// How long after its deadline a worker stops even in the middle of a call.
const GRACE: Duration = Duration::from_secs(3);

/// How long a ready worker waits for `go` before giving up.
const GO_WAIT: Duration = Duration::from_secs(120);

/// Arguments of the hidden `tokenwarden demo-worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// This worker's number.
    #[arg(long)]
    pub worker: u32,
    /// How the worker keeps its token.
    #[arg(long, value_enum)]
    pub strategy: Strategy,
    /// How long to run after `go`, in milliseconds.
    #[arg(long)]
    pub run_ms: u64,
    /// The pause between calls, in milliseconds (jittered by ±30 %).
    #[arg(long, default_value_t = 150)]
    pub interval_ms: u64,
}

/// Writes events, one JSON line each, on stdout.
#[derive(Debug, Clone)]
pub struct Emitter {
    worker: u32,
    broken: Arc<AtomicBool>,
}

impl Emitter {
    fn new(worker: u32) -> Self {
        Emitter {
            worker,
            broken: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Reports `kind`, which started at `at` and took `took`.
    pub fn emit(&self, at: SystemTime, took: Duration, kind: Kind) {
        let event = Event {
            worker: self.worker,
            at_ms: unix_ms(at),
            ms: took.as_secs_f64() * 1000.0,
            kind,
        };
        let Ok(line) = serde_json::to_string(&event) else {
            return;
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            // The parent is gone.
            self.broken.store(true, Ordering::Relaxed);
        }
    }

    /// Reports an instant `kind`, now.
    pub fn now(&self, kind: Kind) {
        self.emit(SystemTime::now(), Duration::ZERO, kind);
    }

    fn broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// True when `e` means the session is gone and only a new login helps.
pub fn is_login_required(e: &Error) -> bool {
    e.kind() == ErrorKind::LoginRequired
}

/// True when `e` carries the OAuth error `invalid_grant`.
pub fn is_invalid_grant(e: &Error) -> bool {
    matches!(
        e.oauth().map(|o| &o.code),
        Some(OAuthErrorCode::InvalidGrant)
    )
}

/// Runs `tokenwarden demo-worker`.
pub async fn run(global: &Global, args: WorkerArgs) -> Result<()> {
    let out = Emitter::new(args.worker);
    let w = context::warden(global)?;
    let profile = w.profile(&global.profile)?.profile;
    let url = profile
        .resource
        .as_deref()
        .and_then(|u| reqwest::Url::parse(u).ok())
        .context("the demo profile has no valid `resource`")?;
    let mut worker = match args.strategy {
        Strategy::Tokenwarden => {
            Worker::Tokenwarden(TokenwardenWorker::new(&w, profile, url, out.clone())?)
        }
        Strategy::Naive => Worker::Naive(NaiveWorker::new(&w, profile, url, out.clone())?),
    };
    out.now(Kind::Ready);
    let mut stdin = watch_stdin();
    match tokio::time::timeout(GO_WAIT, stdin.recv()).await {
        Ok(Some(line)) if line.trim() == GO => {}
        _ => return Ok(()),
    }
    let deadline = Instant::now() + Duration::from_millis(args.run_ms);
    let parent_gone = async { while stdin.recv().await.is_some() {} };
    let mut jitter = Jitter::new(args.worker);
    let work = async {
        while Instant::now() < deadline && !out.broken() {
            worker.call().await;
            let pause = jitter.around(Duration::from_millis(args.interval_ms));
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

/// The refresh grant, reporting each refresh (with its retries) as an event.
struct Observed {
    inner: ClientGrants,
    out: Emitter,
}

impl Grants for Observed {
    fn prepare<'a>(&'a self, effort: Effort) -> BoxFuture<'a, tokenwarden::Result<()>> {
        self.inner.prepare(effort)
    }

    fn refresh<'a>(
        &'a self,
        refresh_token: &'a RefreshToken,
        effort: Effort,
    ) -> BoxFuture<'a, Exchanged<TokenSet>> {
        Box::pin(async move {
            let at = SystemTime::now();
            let started = Instant::now();
            let done = self.inner.refresh(refresh_token, effort).await;
            let took = started.elapsed();
            match &done.result {
                Ok(_) => self.out.emit(
                    at,
                    took,
                    Kind::Refresh {
                        ok: true,
                        error: None,
                    },
                ),
                Err(e) => {
                    self.out.emit(
                        at,
                        took,
                        Kind::Refresh {
                            ok: false,
                            error: Some(label(e)),
                        },
                    );
                    if is_invalid_grant(e) {
                        self.out.emit(at, took, Kind::InvalidGrant);
                    }
                }
            }
            done
        })
    }

    fn client_credentials<'a>(
        &'a self,
        effort: Effort,
    ) -> Option<BoxFuture<'a, Exchanged<TokenSet>>> {
        self.inner.client_credentials(effort)
    }
}

/// A worker that gets its token from the library's [`Session`].
struct TokenwardenWorker {
    name: String,
    session: Session,
    client: TokenClient,
    store: Arc<SqliteStore>,
    http: reqwest::Client,
    url: reqwest::Url,
    out: Emitter,
    lost: bool,
}

impl TokenwardenWorker {
    fn new(w: &Warden, profile: Profile, url: reqwest::Url, out: Emitter) -> Result<Self> {
        let client = w.client(&profile)?;
        let store = w.store()?;
        let grants = Observed {
            inner: ClientGrants(w.client(&profile)?),
            out: out.clone(),
        };
        // As `Warden::session` builds it.
        let shared: Arc<dyn Store> = store.clone();
        let session = Session::new(
            profile.name.clone(),
            shared,
            Arc::new(grants),
            w.clock().clone(),
            SessionOptions {
                refresh_skew: profile.refresh_skew,
                lock_wait: profile.lock_wait(),
            },
        );
        Ok(TokenwardenWorker {
            name: profile.name.clone(),
            http: client.http().raw().clone(),
            session,
            client,
            store,
            url,
            out,
            lost: false,
        })
    }

    async fn call(&mut self) {
        let at = SystemTime::now();
        let started = Instant::now();
        if self.lost && !self.relogin().await {
            self.out.emit(
                at,
                started.elapsed(),
                Kind::ResourceFail {
                    status: None,
                    error: "logged out".into(),
                },
            );
            return;
        }
        match self.session.get_token(Duration::ZERO).await {
            Ok(token) => self.out.emit(
                at,
                started.elapsed(),
                Kind::TokenOk {
                    degraded: token.degraded.is_some(),
                },
            ),
            Err(e) => {
                self.out
                    .emit(at, started.elapsed(), Kind::TokenErr { error: label(&e) });
                let error = label(&e);
                self.lost_session(&e).await;
                self.out.emit(
                    at,
                    started.elapsed(),
                    Kind::ResourceFail {
                        status: None,
                        error,
                    },
                );
                return;
            }
        }
        let attempts = AtomicU32::new(0);
        let result = self
            .session
            .send(|token| {
                attempts.fetch_add(1, Ordering::Relaxed);
                self.http
                    .get(self.url.clone())
                    .header(reqwest::header::AUTHORIZATION, token.authorization())
            })
            .await;
        let kind = match result {
            Ok(resp) => {
                let status = resp.status();
                let _ = resp.bytes().await;
                if status.is_success() {
                    Kind::ResourceOk {
                        retried: attempts.load(Ordering::Relaxed) > 1,
                    }
                } else {
                    Kind::ResourceFail {
                        status: Some(status.as_u16()),
                        error: format!("the API answered {status}"),
                    }
                }
            }
            Err(e) => {
                let kind = Kind::ResourceFail {
                    status: e.status(),
                    error: label(&e),
                };
                self.lost_session(&e).await;
                kind
            }
        };
        self.out.emit(at, started.elapsed(), kind);
    }

    /// A LoginRequired error is a forced re-login: count it and log in again (a person would
    /// have to). tokenwarden should never get here.
    async fn lost_session(&mut self, e: &Error) {
        if is_login_required(e) && !self.lost {
            self.lost = true;
            self.out.now(Kind::LoginRequired);
            self.relogin().await;
        }
    }

    async fn relogin(&mut self) -> bool {
        let at = SystemTime::now();
        let started = Instant::now();
        let result = match super::login::headless(&self.client).await {
            Ok(tokens) => self.store.replace(&self.name, &tokens).map(|_| ()),
            Err(e) => Err(e),
        };
        let (ok, error) = match result {
            Ok(()) => (true, None),
            Err(e) => (false, Some(label(&e))),
        };
        self.out
            .emit(at, started.elapsed(), Kind::Relogin { ok, error });
        if ok {
            self.lost = false;
        }
        ok
    }
}
