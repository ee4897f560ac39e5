//! A cached access token, side by side: what one call costs a caller that already has a fresh
//! token, on 1, 2 and 8 threads at once, for a 47-byte and a 1 KiB token.
//!
//! - `tokenwarden`: `Session::get_token` on a fresh cached token (the fast path every caller
//!   takes between refreshes), over an in-memory store;
//! - `yup-oauth2`: `Authenticator::token()` of an installed-flow authenticator whose token
//!   cache (its JSON file storage, held in memory) has a fresh token for the scopes asked;
//! - `floor`: an `ArcSwap<String>` load and a clone of the token: about the least any cache
//!   handing out an owned copy of the token can cost;
//! - `tokio RwLock`: a `tokio::sync::RwLock<String>` read and a clone, the obvious cache.
//!
//! Every contender hands the caller an owned copy of the token (dropped after `black_box`).
//! The futures are driven by the same minimal executor (poll; park the thread until woken),
//! so no runtime is measured. With several threads, the time reported per iteration is the
//! wall time divided by the calls made by all threads together: a cache without shared
//! writes on its read path keeps that at 1/cores of the 1-thread figure; one whose readers
//! write shared memory (a lock's reader count, a reference count) gets slower as threads
//! are added.
//!
//! Run with `cargo bench` in `bench/` (about 2 minutes; see bench/README.md).

use arc_swap::ArcSwap;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant, SystemTime};
use tokenwarden::clock::SystemClock;
use tokenwarden::http::Exchanged;
use tokenwarden::secret::{AccessToken, RefreshToken};
use tokenwarden::session::{BoxFuture, Effort, Grants, Session, SessionOptions};
use tokenwarden::store::{MemoryStore, Store as _};
use tokenwarden::token::TokenSet;

/// The token sizes: a typical opaque token (mockauth's) and a JWT-sized one.
const SIZES: [(usize, &str); 2] = [(47, "47 B"), (1024, "1 KiB")];

/// How many threads call at once.
const THREADS: [usize; 3] = [1, 2, 8];

/// The scopes the token was granted for (yup-oauth2 caches by scope set).
const SCOPES: [&str; 2] = ["openid", "offline_access"];

/// A token of `len` bytes.
fn token_of(len: usize) -> String {
    let prefix = "mat_";
    prefix.to_string() + &"x".repeat(len - prefix.len())
}

/// One way to hand out a cached token.
trait Contender: Send + Sync + 'static {
    /// What a caller gets: an owned copy of the token.
    type Out;
    /// One call, driving any future with `cx`.
    fn get(&self, cx: &mut Context<'_>) -> Self::Out;
}

/// Polls `fut` to completion on this thread: the first poll normally completes; when it does
/// not (a lock held by another thread), the thread parks until the waker in `cx` unparks it.
fn block_on<F: Future>(cx: &mut Context<'_>, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return out;
        }
        std::thread::park();
    }
}

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// tokenwarden: a session whose store holds a fresh token, its cache warmed.
struct Tokenwarden(Session);

/// Grants that are never called: the token stays fresh for the whole run.
struct NoGrants;

impl Grants for NoGrants {
    fn refresh<'a>(&'a self, _: &'a RefreshToken, _: Effort) -> BoxFuture<'a, Exchanged<TokenSet>> {
        Box::pin(async {
            Exchanged::unsent(Err(tokenwarden::Error::protocol(
                "the benchmark's token is fresh: no refresh is expected",
            )))
        })
    }

    fn client_credentials<'a>(&'a self, _: Effort) -> Option<BoxFuture<'a, Exchanged<TokenSet>>> {
        None
    }
}

impl Tokenwarden {
    fn new(token: String) -> Tokenwarden {
        let now = SystemTime::now();
        let store = Arc::new(MemoryStore::new());
        let tokens = TokenSet {
            access_token: AccessToken::new(token),
            token_type: "Bearer".into(),
            refresh_token: Some(RefreshToken::new("mrt_refresh")),
            id_token: None,
            expires_at: Some(now + Duration::from_secs(3600)),
            scopes: SCOPES.map(String::from).to_vec(),
            obtained_at: now,
            refresh_token_obtained_at: Some(now),
            refresh_token_expires_at: None,
            subject: None,
            issuer: None,
        };
        store.replace("bench", &tokens).expect("store the token");
        let session = Session::new(
            "bench",
            store,
            Arc::new(NoGrants),
            Arc::new(SystemClock),
            SessionOptions::default(),
        );
        let contender = Tokenwarden(session);
        // The first call reads the store and fills the cache.
        contender.get(&mut Context::from_waker(Waker::noop()));
        contender
    }
}

impl Contender for Tokenwarden {
    type Out = tokenwarden::session::Token;
    fn get(&self, cx: &mut Context<'_>) -> Self::Out {
        match block_on(cx, self.0.get_token(Duration::ZERO)) {
            Ok(token) => token,
            Err(e) => panic!("get_token failed: {}", e.report()),
        }
    }
}

/// yup-oauth2: an installed-flow authenticator whose token file holds a fresh token for
/// [`SCOPES`]; the file is read once, when it is built, then served from memory.
struct Yup {
    auth: yup_oauth2::authenticator::DefaultAuthenticator,
    /// Holds the token file.
    _dir: tempfile::TempDir,
    /// The runtime it was built in (kept alive for its HTTP client, which is never used).
    _rt: tokio::runtime::Runtime,
}

impl Yup {
    fn new(token: String) -> Yup {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("tokens.json");
        let info = yup_oauth2::storage::TokenInfo {
            access_token: Some(token),
            refresh_token: Some("mrt_refresh".into()),
            expires_at: Some(time::OffsetDateTime::now_utc() + time::Duration::hours(1)),
            id_token: None,
        };
        let cache = serde_json::json!([{ "scopes": SCOPES, "token": info }]);
        std::fs::write(&file, cache.to_string()).expect("write the token file");
        let secret = yup_oauth2::ApplicationSecret {
            client_id: "cli".into(),
            token_uri: "http://127.0.0.1:9/token".into(),
            auth_uri: "http://127.0.0.1:9/authorize".into(),
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            ..Default::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let auth = rt.block_on(async {
            yup_oauth2::InstalledFlowAuthenticator::builder(
                secret,
                yup_oauth2::InstalledFlowReturnMethod::HTTPRedirect,
            )
            .persist_tokens_to_disk(&file)
            .build()
            .await
            .expect("yup-oauth2 authenticator")
        });
        let yup = Yup {
            auth,
            _dir: dir,
            _rt: rt,
        };
        // A cached token must come back without any flow running (there is no server).
        yup.get(&mut Context::from_waker(Waker::noop()));
        yup
    }
}

impl Contender for Yup {
    type Out = yup_oauth2::AccessToken;
    fn get(&self, cx: &mut Context<'_>) -> Self::Out {
        match block_on(cx, self.auth.token(&SCOPES)) {
            Ok(token) => token,
            Err(e) => panic!("yup-oauth2 token() failed: {e}"),
        }
    }
}

/// The floor: an atomic pointer load and a copy of the token.
struct Floor(ArcSwap<String>);

impl Contender for Floor {
    type Out = String;
    fn get(&self, _: &mut Context<'_>) -> String {
        self.0.load().as_ref().clone()
    }
}

/// A `tokio::sync::RwLock` read and a copy of the token.
struct TokioRwLock(tokio::sync::RwLock<String>);

impl Contender for TokioRwLock {
    type Out = String;
    fn get(&self, cx: &mut Context<'_>) -> String {
        block_on(cx, self.0.read()).clone()
    }
}

/// Wall time of `iters` calls shared by `threads` threads started together, scaled to exactly
/// `iters` calls.
fn timed<C: Contender>(contender: &Arc<C>, threads: usize, iters: u64) -> Duration {
    let per_thread = iters.div_ceil(threads as u64).max(1);
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (c, bar) = (contender.clone(), barrier.clone());
            std::thread::spawn(move || {
                let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
                let mut cx = Context::from_waker(&waker);
                bar.wait();
                for _ in 0..per_thread {
                    black_box(c.get(&mut cx));
                }
                bar.wait();
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    barrier.wait();
    let elapsed = start.elapsed();
    for h in handles {
        h.join().expect("a benchmark thread panicked");
    }
    elapsed.mul_f64(iters as f64 / (per_thread * threads as u64) as f64)
}

fn bench_contender<C: Contender>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    contender: C,
) {
    let contender = Arc::new(contender);
    for threads in THREADS {
        let id = BenchmarkId::new(name, format!("{threads} thread{}", plural(threads)));
        group.bench_function(id, |b| {
            b.iter_custom(|iters| timed(&contender, threads, iters))
        });
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn cached_token(c: &mut Criterion) {
    for (len, size) in SIZES {
        let mut group = c.benchmark_group(format!("cached token {size}"));
        bench_contender(&mut group, "tokenwarden", Tokenwarden::new(token_of(len)));
        bench_contender(&mut group, "yup-oauth2", Yup::new(token_of(len)));
        bench_contender(
            &mut group,
            "floor",
            Floor(ArcSwap::from_pointee(token_of(len))),
        );
        bench_contender(
            &mut group,
            "tokio RwLock",
            TokioRwLock(tokio::sync::RwLock::new(token_of(len))),
        );
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // About 3 s per case (24 cases): the suite fits in about 2 minutes. Flags given after
    // `cargo bench --` override these.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = cached_token
}
criterion_main!(benches);
