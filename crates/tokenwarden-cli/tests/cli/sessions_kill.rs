//! `kill -9` in the middle of a refresh, many times: the store always opens, passes SQLite's
//! integrity check and holds a whole record (the old one or the new one, sealed and
//! authenticated), and the next process goes on.
//!
//! Every run here must refresh: the stored token is first marked rejected, as an API's 401
//! does. Two moments are pinned, so that both are covered on every run whatever the timing:
//! - *after the server rotated, before the answer arrived*: the provider processes the refresh
//!   (rotating the refresh token) and holds its answer (mockauth's `processed` latency fault);
//!   the process is killed once mockauth has issued the new tokens. This is the one window no
//!   client can close: the answer died with the process and the store still holds the refresh
//!   token the server replaced. With reuse grace 0 the next refresh is refused and the session
//!   revoked: exit 3, reported as a probably lost rotation (the in-flight mark), and a new
//!   login is needed. With a reuse grace the provider answers the previous refresh token with
//!   the same successor, and the next process simply recovers.
//! - *before the server processed it*: the request is held in front of the provider, which
//!   never processes it; the next process refreshes with the same refresh token, unharmed by
//!   the in-flight mark the killed one left.
//!
//! Then kills at random moments of a refresh whose answer takes 40 ms after the rotation. A
//! kill is classified only once mockauth's counts have settled (a request the dying process
//! sent may still be on its way), so the classification does not depend on timing.

use super::sessions::{P, force_refresh, kill9, logged_in, mock, store, wait_for};
use crate::login::{Mock, Running, login_browser};
use crate::util::Env;
use std::time::{Duration, Instant, SystemTime};
use tokenwarden::store::Store as _;

/// Outcomes of a series of kills.
#[derive(Debug, Default)]
struct Outcomes {
    /// The killed process had finished before the kill.
    completed: u32,
    /// Killed before its refresh was processed by the server.
    before_server: u32,
    /// Killed after the new tokens were stored, before the process ended.
    stored: u32,
    /// Killed after the server rotated, before the new tokens were stored.
    lost_rotation: u32,
    /// Runs after a lost rotation that needed a new login (exit 3).
    relogins: u32,
}

/// A small xorshift generator: the kill moments, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `[0, max]`.
    fn below(&mut self, max: Duration) -> Duration {
        let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX).max(1);
        Duration::from_micros(self.next() % (ms * 1000))
    }
}

const TOKEN: [&str; 3] = ["--profile", P, "token"];

/// The refresh requests mockauth received and the refresh tokens it issued.
fn refresh_counts(mock: &Mock) -> (u64, u64) {
    let s = mock.server.stats();
    (s.token_requests.refresh_token, s.tokens_issued.refresh)
}

/// The counts once they have settled: unchanged over the last 100 ms of polling. A request
/// the killed process sent may still be in the server's socket when the kill returns.
fn settled_counts(mock: &Mock) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = refresh_counts(mock);
    let mut stable_since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let now = refresh_counts(mock);
        if now != last {
            last = now;
            stable_since = Instant::now();
        } else if stable_since.elapsed() >= Duration::from_millis(100) {
            return now;
        }
        assert!(Instant::now() < deadline, "mockauth's counts never settled");
    }
}

/// When to kill the refreshing process.
enum Moment {
    /// Once mockauth has issued the new tokens (its answer is held back).
    AfterRotation,
    /// Once mockauth has received the request (held back, never processed).
    BeforeProcessing,
    /// After this long.
    After(Duration),
}

/// One round: force a refresh, kill it at `moment`, check the store, classify the kill, and
/// run the next process.
fn round(
    env: &Env,
    mock: &Mock,
    n: u32,
    moment: Moment,
    reuse_grace: Duration,
    out: &mut Outcomes,
) {
    force_refresh(env);
    let version = store(env).read(P).unwrap().expect("stored").version;
    let (requests, issued) = refresh_counts(mock);
    let run = Running::spawn(env, &TOKEN, &[]);
    match moment {
        Moment::AfterRotation => wait_for("mockauth to rotate the refresh token", || {
            refresh_counts(mock).1 > issued
        }),
        Moment::BeforeProcessing => wait_for("the refresh to reach mockauth", || {
            refresh_counts(mock).0 > requests
        }),
        Moment::After(d) => std::thread::sleep(d),
    }
    kill9(run.pid());
    let killed = run.finish();

    // The store opens, is intact, and holds a whole record: the old one or a newer one.
    let s = store(env);
    assert_eq!(
        s.integrity_check().unwrap(),
        Vec::<String>::new(),
        "round {n}"
    );
    let st = s
        .read(P)
        .unwrap_or_else(|e| panic!("round {n}: {}", e.report()))
        .unwrap_or_else(|| panic!("round {n}: the record is gone"));
    assert!(st.version >= version, "round {n}");
    let set_aside = std::fs::read_dir(env.home())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains(".corrupt-"));
    assert!(!set_aside, "round {n}: the database was set aside");

    let (_, issued_after) = settled_counts(mock);
    let rotated = issued_after > issued;
    let stored_new = st.version != version;
    if killed.code == 0 {
        out.completed += 1;
    } else if !rotated {
        out.before_server += 1;
    } else if stored_new {
        out.stored += 1;
    } else {
        out.lost_rotation += 1;
    }

    // The next process goes on: it refreshes with what is stored (when it must).
    let next = env.run(&TOKEN);
    match next.code {
        0 => assert!(next.stdout.trim().starts_with("mat_"), "{}", next.stdout),
        3 => {
            assert!(
                reuse_grace.is_zero(),
                "round {n}: a reuse grace must avoid the re-login:\n{}",
                next.stderr
            );
            assert!(
                rotated && !stored_new,
                "round {n}: exit 3 without a lost rotation:\n{}",
                next.stderr
            );
            assert!(next.stderr.contains("probably rotated"), "{}", next.stderr);
            out.relogins += 1;
            login_browser(env, mock, P).code(0);
        }
        other => panic!(
            "round {n}: the run after a kill exited {other}:\n{}",
            next.stderr
        ),
    }
}

/// A fault on the next token request: held `latency`, processed first when `processed`,
/// answered 503 (never processed) otherwise.
fn hold_next_refresh(mock: &Mock, processed: bool) {
    let spec = if processed {
        mockauth::FaultSpec::default().processed()
    } else {
        mockauth::FaultSpec::status(503)
    };
    mock.server
        .set_faults(mockauth::FaultPlan::default().with(
            mockauth::Endpoint::Token,
            spec.latency(Duration::from_secs(30)).count(1),
        ))
        .unwrap();
}

fn kill_mid_refresh(reuse_grace: Duration, random_rounds: u32) -> Outcomes {
    let mock = mock(Duration::from_secs(3600), reuse_grace);
    let env = logged_in(&mock);
    let mut out = Outcomes::default();
    let mut n = 0;

    // The pinned moments, twice each.
    for _ in 0..2 {
        hold_next_refresh(&mock, true);
        let before = out.lost_rotation;
        round(&env, &mock, n, Moment::AfterRotation, reuse_grace, &mut out);
        assert_eq!(out.lost_rotation, before + 1, "round {n}: {out:?}");
        n += 1;
        hold_next_refresh(&mock, false);
        let before = out.before_server;
        round(
            &env,
            &mock,
            n,
            Moment::BeforeProcessing,
            reuse_grace,
            &mut out,
        );
        assert_eq!(out.before_server, before + 1, "round {n}: {out:?}");
        n += 1;
    }

    // Random moments of a refresh whose answer takes 40 ms after the rotation.
    mock.server
        .set_faults(
            mockauth::FaultPlan::default().with(
                mockauth::Endpoint::Token,
                mockauth::FaultSpec::default()
                    .latency(Duration::from_millis(40))
                    .processed(),
            ),
        )
        .unwrap();
    // How long a whole forced refresh takes here: the range the kills are drawn from.
    let mut span = Duration::ZERO;
    for _ in 0..2 {
        force_refresh(&env);
        let started = Instant::now();
        env.run(&TOKEN).code(0);
        span = span.max(started.elapsed());
    }
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7)
        | 1;
    eprintln!("kills over {span:?}, seed {seed}, reuse grace {reuse_grace:?}");
    let mut rng = Rng(seed);
    for _ in 0..random_rounds {
        let at = rng.below(span);
        round(&env, &mock, n, Moment::After(at), reuse_grace, &mut out);
        n += 1;
    }
    eprintln!("{out:?}");
    out
}

#[test]
fn kill_9_mid_refresh_30_times_without_reuse_grace() {
    let out = kill_mid_refresh(Duration::ZERO, 26);
    assert_eq!(
        out.relogins, out.lost_rotation,
        "exactly the lost rotations need a new login: {out:?}"
    );
    assert!(out.lost_rotation >= 2, "{out:?}");
}

#[test]
fn kill_9_mid_refresh_with_a_reuse_grace_always_recovers() {
    let out = kill_mid_refresh(Duration::from_secs(60), 11);
    assert_eq!(out.relogins, 0, "{out:?}");
    assert!(out.lost_rotation >= 2, "{out:?}");
}
