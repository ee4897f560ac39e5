//! The retry schedule and the circuit breaker, driven with a recording sleeper and a manual
//! clock: nothing here waits.

use crate::util::t0;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokenwarden::error::{Cause, Delivery, Error, ErrorKind, HttpEvidence};
use tokenwarden::retry::{
    Backoff, BreakerBackend, BreakerRecord, Clock, Gate, Idempotence, ManualClock,
    MemoryBreakerBackend, RecordingSleeper, Retrier, RetryPolicy,
};

fn transient(retry_after: Option<u64>) -> Error {
    Error::new(
        ErrorKind::ProviderUnavailable,
        "the token endpoint answered 503",
    )
    .with_cause(Cause::ProviderOutage)
    .with_http(HttpEvidence {
        status: Some(503),
        retry_after: retry_after.map(Duration::from_secs),
        ..HttpEvidence::default()
    })
}

struct Rig {
    retrier: Retrier,
    sleeper: Arc<RecordingSleeper>,
    clock: Arc<ManualClock>,
    backend: Arc<MemoryBreakerBackend>,
}

fn rig(policy: RetryPolicy) -> Rig {
    let clock = Arc::new(ManualClock::new(t0()));
    let sleeper = Arc::new(RecordingSleeper::new(Some(clock.clone())));
    let backend = Arc::new(MemoryBreakerBackend::default());
    Rig {
        retrier: Retrier::with_parts(
            policy,
            backend.clone(),
            sleeper.clone(),
            clock.clone(),
            Some(42),
        ),
        sleeper,
        clock,
        backend,
    }
}

/// Runs an operation that fails `fails` times with `err()` and then succeeds; returns the
/// result and the number of calls.
async fn run(
    r: &Retrier,
    idem: Idempotence,
    fails: u32,
    err: impl Fn() -> Error,
) -> (Result<u32, Error>, u32) {
    run_as(r, Gate::Guarded, idem, fails, err).await
}

/// [`run`] with a gate: `Gate::Login` for a login.
async fn run_as(
    r: &Retrier,
    gate: Gate,
    idem: Idempotence,
    fails: u32,
    err: impl Fn() -> Error,
) -> (Result<u32, Error>, u32) {
    let calls = AtomicU32::new(0);
    let res = r
        .run("https://as.example/token", idem, gate, |attempt| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let e = (n < fails).then(&err);
            async move {
                match e {
                    Some(e) => Err(e),
                    None => Ok(attempt),
                }
            }
        })
        .await;
    (res, calls.load(Ordering::SeqCst))
}

#[test]
fn full_jitter_stays_within_the_doubling_ceiling_and_the_cap() {
    let policy = RetryPolicy::default();
    let mut b = Backoff::new(policy, Some(1));
    for retry in 0..12 {
        let ceiling = b.ceiling(retry);
        assert!(ceiling <= policy.max_delay);
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..400 {
            let d = b.delay(retry);
            assert!(d <= ceiling, "{d:?} > {ceiling:?}");
            seen_low |= d < ceiling / 4;
            seen_high |= d > ceiling * 3 / 4;
        }
        assert!(seen_low && seen_high, "not spread over [0, {ceiling:?}]");
    }
    assert_eq!(b.ceiling(0), Duration::from_millis(500));
    assert_eq!(b.ceiling(3), Duration::from_secs(4));
    assert_eq!(b.ceiling(10), Duration::from_secs(30));
    // The same seed gives the same schedule.
    let mut a = Backoff::new(policy, Some(9));
    let mut c = Backoff::new(policy, Some(9));
    assert_eq!(
        (0..5).map(|i| a.delay(i)).collect::<Vec<_>>(),
        (0..5).map(|i| c.delay(i)).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn retries_transient_failures_with_backoff_then_succeeds() {
    let r = rig(RetryPolicy::default());
    let (res, calls) = run(&r.retrier, Idempotence::Repeatable, 2, || transient(None)).await;
    assert_eq!(res.expect("succeeds"), 3);
    assert_eq!(calls, 3);
    let slept = r.sleeper.slept();
    assert_eq!(slept.len(), 2);
    assert!(slept[0] <= Duration::from_millis(500) && slept[1] <= Duration::from_secs(1));
    let rec = r.backend.load("https://as.example/token").expect("record");
    assert_eq!(rec.consecutive_failures, 0, "success closes the breaker");
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let r = rig(RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    });
    let (res, calls) = run(&r.retrier, Idempotence::Repeatable, 10, || transient(None)).await;
    let e = res.expect_err("exhausted");
    assert_eq!(calls, 3);
    assert_eq!(e.kind(), ErrorKind::ProviderUnavailable);
    assert!(
        e.message().contains("gave up after 3 attempts"),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn retry_after_replaces_the_backoff_and_long_ones_give_up() {
    let r = rig(RetryPolicy::default());
    let (res, _) = run(&r.retrier, Idempotence::Repeatable, 1, || {
        transient(Some(7))
    })
    .await;
    res.expect("succeeds");
    assert_eq!(r.sleeper.slept(), vec![Duration::from_secs(7)]);

    let r = rig(RetryPolicy::default());
    let (res, calls) = run(&r.retrier, Idempotence::Repeatable, 10, || {
        transient(Some(600))
    })
    .await;
    let e = res.expect_err("too long to wait");
    assert_eq!(calls, 1);
    assert!(r.sleeper.slept().is_empty());
    // Tried again after the longest wait tokenwarden honours, not the provider's 10 min.
    assert_eq!(e.retry_at(), Some(t0() + Duration::from_secs(60)));
    assert!(
        e.message().contains("asks to wait 10 min"),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn an_absurd_retry_after_never_panics_and_holds_requests_back_at_most_the_maximum() {
    for secs in [3_000_000_000, 400_000_000_000, u64::MAX] {
        let r = rig(RetryPolicy::default());
        let (res, calls) = run(&r.retrier, Idempotence::Repeatable, 10, || {
            transient(Some(secs))
        })
        .await;
        let e = res.expect_err("the provider asks to wait");
        assert_eq!(calls, 1);
        assert_eq!(e.retry_at(), Some(t0() + Duration::from_secs(60)));
        let rec = r.backend.load("https://as.example/token").expect("record");
        assert_eq!(rec.last_retry_after, Some(Duration::from_secs(60)));
        // Held back for the maximum, then sent again.
        let (res, calls) = run(&r.retrier, Idempotence::Repeatable, 0, || transient(None)).await;
        assert_eq!(res.expect_err("waiting").cause(), Some(Cause::RateLimited));
        assert_eq!(calls, 0);
        r.clock.advance(Duration::from_secs(60));
        let (res, calls) = run(&r.retrier, Idempotence::Repeatable, 0, || transient(None)).await;
        res.expect("sent after the bounded wait");
        assert_eq!(calls, 1);
    }
}

#[tokio::test]
async fn a_login_is_never_refused_by_the_breaker_and_its_success_closes_it() {
    let policy = RetryPolicy {
        max_attempts: 1,
        breaker_threshold: 1,
        ..RetryPolicy::default()
    };
    let r = rig(policy);
    // A record an older build left: open until the 22nd century.
    r.backend
        .save(
            "https://as.example/token",
            &BreakerRecord {
                consecutive_failures: 3,
                open_until: Some(t0() + Duration::from_secs(3_000_000_000)),
                last_retry_after: Some(Duration::from_secs(3_000_000_000)),
                updated_at: t0(),
            },
        )
        .expect("saved");
    let (res, calls) = run(&r.retrier, Idempotence::Repeatable, 0, || transient(None)).await;
    let e = res.expect_err("a refresh is held back");
    assert_eq!(e.cause(), Some(Cause::CircuitOpen));
    assert_eq!(calls, 0);
    assert_eq!(
        e.retry_at(),
        Some(t0() + Duration::from_secs(60)),
        "bounded"
    );
    // A login is sent; a failed one does not stop it from being sent again either.
    let (res, calls) = run_as(&r.retrier, Gate::Login, Idempotence::SingleUse, 1, || {
        transient(None)
    })
    .await;
    res.expect_err("the provider failed the login");
    assert_eq!(calls, 1);
    let (res, calls) = run_as(&r.retrier, Gate::Login, Idempotence::SingleUse, 0, || {
        transient(None)
    })
    .await;
    res.expect("the login succeeds");
    assert_eq!(calls, 1);
    // ... and its success closed the breaker for everyone.
    let rec = r.backend.load("https://as.example/token").expect("record");
    assert!(rec.is_clear(), "{rec:?}");
    let (res, calls) = run(&r.retrier, Idempotence::Repeatable, 0, || transient(None)).await;
    res.expect("refreshes go through again");
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn errors_that_are_not_transient_are_not_retried() {
    let r = rig(RetryPolicy::default());
    let (res, calls) = run(&r.retrier, Idempotence::Repeatable, 10, || {
        Error::login_required("invalid_grant")
    })
    .await;
    assert_eq!(res.expect_err("final").kind(), ErrorKind::LoginRequired);
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn single_use_requests_repeat_only_when_never_sent() {
    let r = rig(RetryPolicy::default());
    let (res, calls) = run(&r.retrier, Idempotence::SingleUse, 10, || transient(None)).await;
    res.expect_err("not repeated");
    assert_eq!(calls, 1);
    let (res, calls) = run(&r.retrier, Idempotence::SingleUse, 1, || {
        Error::new(ErrorKind::ProviderUnavailable, "refused")
            .with_cause(Cause::Connect)
            .with_delivery(Delivery::NotSent)
    })
    .await;
    res.expect("repeated: the request never left");
    assert_eq!(calls, 2);
}

#[tokio::test]
async fn breaker_opens_after_n_failures_then_half_opens() {
    let policy = RetryPolicy {
        max_attempts: 1,
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_secs(30),
        ..RetryPolicy::default()
    };
    let r = rig(policy);
    for _ in 0..2 {
        run(&r.retrier, Idempotence::Repeatable, 10, || transient(None))
            .await
            .0
            .expect_err("fails");
    }
    // The third failure opens it: the error says until when.
    let e = run(&r.retrier, Idempotence::Repeatable, 10, || transient(None))
        .await
        .0
        .expect_err("opens");
    assert_eq!(e.retry_at(), Some(t0() + Duration::from_secs(30)));
    assert_eq!(
        e.cause(),
        Some(Cause::ProviderOutage),
        "the last real error is kept"
    );
    // Now callers are refused without a request.
    let (res, calls) = run(&r.retrier, Idempotence::Repeatable, 0, || transient(None)).await;
    let e = res.expect_err("open");
    assert_eq!(calls, 0);
    assert_eq!(e.kind(), ErrorKind::ProviderUnavailable);
    assert_eq!(e.cause(), Some(Cause::CircuitOpen));
    assert_eq!(e.retry_at(), Some(t0() + Duration::from_secs(30)));

    // After the cool-down one probe goes through; while it is out, others are refused.
    r.clock.advance(Duration::from_secs(31));
    let probe = r
        .retrier
        .breaker()
        .admit("https://as.example/token", r.clock.now())
        .expect("probe");
    assert_eq!(probe, tokenwarden::retry::Admission::HalfOpen);
    let (res, calls) = run(&r.retrier, Idempotence::Repeatable, 0, || transient(None)).await;
    assert_eq!(
        res.expect_err("still open for others").cause(),
        Some(Cause::CircuitOpen)
    );
    assert_eq!(calls, 0);

    // A failed probe opens it again; a successful one closes it.
    r.clock.advance(Duration::from_secs(31));
    run(&r.retrier, Idempotence::Repeatable, 10, || transient(None))
        .await
        .0
        .expect_err("probe fails");
    let (res, calls) = run(&r.retrier, Idempotence::Repeatable, 0, || transient(None)).await;
    assert_eq!(res.expect_err("reopened").cause(), Some(Cause::CircuitOpen));
    assert_eq!(calls, 0);
    r.clock.advance(Duration::from_secs(31));
    let (res, calls) = run(&r.retrier, Idempotence::Repeatable, 0, || transient(None)).await;
    res.expect("probe succeeds");
    assert_eq!(calls, 1);
    let rec = r.backend.load("https://as.example/token").expect("record");
    assert_eq!((rec.consecutive_failures, rec.open_until), (0, None));
}

#[tokio::test]
async fn breaker_state_is_shared_through_the_backend() {
    let policy = RetryPolicy {
        max_attempts: 1,
        breaker_threshold: 2,
        ..RetryPolicy::default()
    };
    let a = rig(policy);
    // A second "process": its own retrier over the same backend.
    let b = Retrier::with_parts(
        policy,
        a.backend.clone(),
        Arc::new(RecordingSleeper::new(None)),
        a.clock.clone(),
        None,
    );
    for _ in 0..2 {
        run(&a.retrier, Idempotence::Repeatable, 10, || transient(None))
            .await
            .0
            .expect_err("fails");
    }
    let (res, calls) = run(&b, Idempotence::Repeatable, 0, || transient(None)).await;
    assert_eq!(
        res.expect_err("open for b too").cause(),
        Some(Cause::CircuitOpen)
    );
    assert_eq!(calls, 0);
}
