//! `kill -9` at random moments of a refresh, many times: the store always opens, passes
//! SQLite's integrity check and holds a whole record (the old one or the new one, sealed and
//! authenticated), and the next process goes on.
//!
//! Every run here forces a refresh (`token --min-ttl 2h` of 1 h tokens), and the provider takes
//! 40 ms to answer *after* rotating the refresh token (mockauth's `processed` latency fault),
//! so a kill often lands in the one window no client can close: the server rotated, the answer
//! died with the process, and the store still holds the refresh token the server replaced.
//! With reuse grace 0 the next refresh is refused and the session revoked: exit 3, reported as
//! a probably lost rotation (the in-flight mark), and a new login is needed. With a reuse grace
//! the provider answers the previous refresh token with the same successor, and the next
//! process simply recovers.

use super::sessions::{P, kill9, logged_in, mock, store};
use crate::login::{Running, login_browser};
use std::time::{Duration, Instant, SystemTime};
use tokenwarden::store::Store as _;

/// Outcomes of a series of kills.
#[derive(Debug, Default)]
struct Outcomes {
    /// The killed process had finished before the kill.
    completed: u32,
    /// Killed before its refresh reached the server.
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

const FORCE: [&str; 5] = ["--profile", P, "token", "--min-ttl", "2h"];

fn kill_at_random_moments(reuse_grace: Duration, rounds: u32) -> Outcomes {
    let mock = mock(Duration::from_secs(3600), reuse_grace);
    let env = logged_in(&mock);
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
        let started = Instant::now();
        env.run(&FORCE).code(0);
        span = span.max(started.elapsed());
    }
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7)
        | 1;
    eprintln!("kills over {span:?}, seed {seed}, reuse grace {reuse_grace:?}");
    let mut rng = Rng(seed);
    let mut out = Outcomes::default();
    for round in 0..rounds {
        let before = mock.server.stats();
        let version = store(&env).read(P).unwrap().expect("stored").version;
        let run = Running::spawn(&env, &FORCE, &[]);
        std::thread::sleep(rng.below(span));
        kill9(run.pid());
        let killed = run.finish();

        // The store opens, is intact, and holds a whole record: the old one or a newer one.
        let s = store(&env);
        assert_eq!(
            s.integrity_check().unwrap(),
            Vec::<String>::new(),
            "round {round}"
        );
        let st = s
            .read(P)
            .unwrap_or_else(|e| panic!("round {round}: {}", e.report()))
            .unwrap_or_else(|| panic!("round {round}: the record is gone"));
        assert!(st.version >= version, "round {round}");
        let set_aside = std::fs::read_dir(env.home())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(".corrupt-"));
        assert!(!set_aside, "round {round}: the database was set aside");

        let settled = mock.server.stats();
        let rotated = settled.tokens_issued.refresh > before.tokens_issued.refresh;
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

        // The next process goes on: it refreshes with what is stored.
        let next = env.run(&FORCE);
        match next.code {
            0 => assert!(next.stdout.trim().starts_with("mat_"), "{}", next.stdout),
            3 => {
                assert!(
                    reuse_grace.is_zero(),
                    "round {round}: a reuse grace must avoid the re-login:\n{}",
                    next.stderr
                );
                assert!(
                    rotated && !stored_new,
                    "round {round}: exit 3 without a lost rotation:\n{}",
                    next.stderr
                );
                assert!(next.stderr.contains("probably rotated"), "{}", next.stderr);
                out.relogins += 1;
                login_browser(&env, &mock, P).code(0);
            }
            other => panic!(
                "round {round}: the run after a kill exited {other}:\n{}",
                next.stderr
            ),
        }
    }
    eprintln!("{out:?}");
    out
}

#[test]
fn kill_9_mid_refresh_30_times_without_reuse_grace() {
    let out = kill_at_random_moments(Duration::ZERO, 30);
    assert_eq!(
        out.relogins, out.lost_rotation,
        "exactly the lost rotations need a new login: {out:?}"
    );
    assert!(
        out.lost_rotation > 0,
        "no kill landed after the server rotated: {out:?}"
    );
}

#[test]
fn kill_9_mid_refresh_with_a_reuse_grace_always_recovers() {
    let out = kill_at_random_moments(Duration::from_secs(60), 15);
    assert_eq!(out.relogins, 0, "{out:?}");
    assert!(
        out.lost_rotation > 0,
        "no kill landed after the server rotated: {out:?}"
    );
}
