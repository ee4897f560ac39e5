//! `Session::get_token` on a fresh cached token: the fast path every caller takes between
//! refreshes. Measured on 1 thread, and as the aggregate cost per call when 2 and 8 threads
//! call at once (a fast path without shared writes keeps that at 1/cores of the 1-thread cost).
//!
//! Run with `cargo bench -p tokenwarden --bench get_token`. The future is polled once with a
//! no-op waker: the fast path never awaits, so no runtime is needed and none is measured.

use criterion::{Criterion, criterion_group, criterion_main};
use std::future::Future as _;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};
use tokenwarden::clock::SystemClock;
use tokenwarden::http::Exchanged;
use tokenwarden::secret::{AccessToken, RefreshToken};
use tokenwarden::session::{BoxFuture, Effort, Grants, Session, SessionOptions, Token};
use tokenwarden::store::{MemoryStore, Store as _};
use tokenwarden::token::TokenSet;

/// Grants that are never called: the token stays fresh for the whole run.
struct NoGrants;

impl Grants for NoGrants {
    fn refresh<'a>(&'a self, _: &'a RefreshToken, _: Effort) -> BoxFuture<'a, Exchanged<TokenSet>> {
        Box::pin(async {
            Exchanged::unsent(Err(tokenwarden::Error::protocol(
                "not expected in the benchmark",
            )))
        })
    }

    fn client_credentials<'a>(&'a self, _: Effort) -> Option<BoxFuture<'a, Exchanged<TokenSet>>> {
        None
    }
}

fn session() -> Session {
    let now = SystemTime::now();
    let store = Arc::new(MemoryStore::new());
    let tokens = TokenSet {
        access_token: AccessToken::new("mat_".to_string() + &"x".repeat(43)),
        token_type: "Bearer".into(),
        refresh_token: Some(RefreshToken::new("mrt_refresh")),
        id_token: None,
        expires_at: Some(now + Duration::from_secs(3600)),
        scopes: vec!["openid".into(), "offline_access".into()],
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
    // Warm the cache (the first call reads the store).
    get(&session);
    session
}

/// One `get_token(0)`, polled once: the fast path completes without waiting.
fn get(session: &Session) -> Token {
    let mut fut = pin!(session.get_token(Duration::ZERO));
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(t)) => t,
        Poll::Ready(Err(e)) => panic!("get_token failed: {}", e.report()),
        Poll::Pending => panic!("the fast path waited"),
    }
}

fn bench(c: &mut Criterion) {
    let session = Arc::new(session());
    let mut group = c.benchmark_group("get_token");
    group.bench_function("1 thread", |b| b.iter(|| black_box(get(&session))));
    for threads in [2usize, 8] {
        // Reported time per iteration = wall time / calls made by all threads together.
        group.bench_function(format!("{threads} threads, per call"), |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(threads as u64);
                let barrier = Arc::new(Barrier::new(threads + 1));
                let handles: Vec<_> = (0..threads)
                    .map(|_| {
                        let (s, bar) = (session.clone(), barrier.clone());
                        std::thread::spawn(move || {
                            bar.wait();
                            for _ in 0..per_thread {
                                black_box(get(&s));
                            }
                            bar.wait();
                        })
                    })
                    .collect();
                let start = Instant::now();
                barrier.wait();
                barrier.wait();
                let elapsed = start.elapsed();
                for h in handles {
                    h.join().expect("bench thread");
                }
                elapsed.mul_f64(iters as f64 / (per_thread * threads as u64) as f64)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
