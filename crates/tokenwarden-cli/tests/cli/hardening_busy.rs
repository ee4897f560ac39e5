//! A refreshed token set is never dropped, through the binary: another connection holds a write
//! transaction on `tokens.db` while `token` refreshes. Held 15 s after the provider answered,
//! the refresh waits and stores its answer; held for longer than `store_write_wait`, the answer
//! goes to a 0600 recovery file, the error says so (exit 6), and the next run stores it before
//! anything else. Either way no refresh token is lost: the provider rotates them and revokes
//! the session on reuse, and no new login is needed.

use crate::login_util::{Mock, Running, home_with, login_browser, reject_stored, stored};
use crate::util::{Env, Run};
use std::path::Path;
use std::time::{Duration, Instant};

const P: &str = "web";

/// Rotating refresh tokens, reuse revokes the session at once.
fn mock() -> Mock {
    Mock::start(mockauth::Config {
        auto_approve: true,
        rotate_refresh_tokens: true,
        reuse_grace: Duration::ZERO,
        ..mockauth::Config::default()
    })
}

/// A logged-in home whose stored token the next `token` must refresh; `extra` is added to
/// the profile.
fn logged_in(mock: &Mock, extra: &str) -> Env {
    let profile = format!(
        "[profiles.{P}]\nissuer = \"{}\"\nclient_id = \"cli\"\n\
         redirect_uri = \"http://127.0.0.1/callback\"\nscopes = [\"openid\", \"offline_access\"]\n{extra}",
        mock.issuer()
    );
    let env = home_with(&[profile]);
    login_browser(&env, mock, P).code(0);
    reject_stored(&env, P);
    env
}

/// A second connection holding a write transaction on the token database until dropped.
struct WriteLock(rusqlite::Connection);

impl WriteLock {
    fn take(db: &Path) -> WriteLock {
        let conn = rusqlite::Connection::open(db).expect("opens");
        conn.execute_batch(
            "BEGIN IMMEDIATE; UPDATE meta SET value = value WHERE key = 'created_at';",
        )
        .expect("write transaction open");
        WriteLock(conn)
    }

    fn release(self) {
        self.0.execute_batch("ROLLBACK").expect("released");
    }
}

fn refreshes(mock: &Mock) -> u64 {
    mock.server.stats().token_requests.refresh_token
}

/// Polls `cond` every 50 ms until it holds, or fails after `deadline`.
fn wait_for(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn no_reuse(mock: &Mock) {
    assert_eq!(
        mock.server.stats().refresh_reuse_detected,
        0,
        "an old refresh token was presented: the rotation was lost"
    );
}

#[test]
fn a_write_lock_held_15_s_during_a_refresh_loses_nothing() {
    let mock = mock();
    let env = logged_in(&mock, "");
    let lock = WriteLock::take(&env.home().join("tokens.db"));
    let mut token = Running::spawn(&env, &["--profile", P, "token"], &[]);
    // The provider has answered: from now on its answer is the only copy of the new tokens.
    wait_for(
        "the refresh to reach the provider",
        Duration::from_secs(60),
        || refreshes(&mock) == 1,
    );
    let held = Instant::now();
    while held.elapsed() < Duration::from_secs(15) {
        assert!(
            !token.exited(),
            "token gave up while the database was held (the refreshed tokens would be lost)"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    lock.release();
    let run = token.finish_within(Duration::from_secs(60));
    run.code(0);
    let printed = run.stdout.trim().to_string();
    let now = stored(&env, P).expect("stored");
    assert_eq!(
        now.access_token.expose(),
        printed,
        "the refreshed token was stored"
    );
    // The next run uses it, and the rotated refresh token works.
    let again = env.run(&["--profile", P, "token"]);
    again.code(0);
    assert_eq!(again.stdout.trim(), printed);
    reject_stored(&env, P);
    env.run(&["--profile", P, "token"]).code(0);
    assert_eq!(refreshes(&mock), 2);
    no_reuse(&mock);
}

#[test]
fn a_store_held_too_long_keeps_the_refreshed_tokens_for_the_next_run() {
    let mock = mock();
    let env = logged_in(&mock, "store_write_wait = \"0s\"\n");
    let lock = WriteLock::take(&env.home().join("tokens.db"));
    let run: Run = Running::spawn(&env, &["--profile", P, "token"], &[])
        .finish_within(Duration::from_secs(120));
    run.code(6);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(refreshes(&mock), 1);
    let file = env.home().join("recovery").join(format!("{P}.json"));
    assert!(
        run.stderr.contains("could not be stored")
            && run.stderr.contains(&file.display().to_string())
            && run.stderr.contains("stores before anything else"),
        "the error names the recovery file: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("locked by another process"),
        "{}",
        run.stderr
    );
    assert_eq!(crate::util::mode(&file), 0o600);
    assert_eq!(crate::util::mode(&env.home().join("recovery")), 0o700);
    let kept = std::fs::read(&file).expect("recovery file");

    // The next run stores them first: the new token, without a refresh and without a login.
    lock.release();
    let next = env.run(&["--profile", P, "token"]);
    next.code(0);
    assert_eq!(refreshes(&mock), 1, "no second refresh");
    assert!(!file.exists(), "adopted and removed");
    let adopted = stored(&env, P).expect("stored");
    assert_eq!(next.stdout.trim(), adopted.access_token.expose());
    let refresh = adopted.refresh_token.expect("a rotated refresh token");
    for secret in [adopted.access_token.expose(), refresh.expose()] {
        assert!(
            !kept.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the recovery file holds a token in plaintext"
        );
    }
    // The rotated refresh token was kept: the next refresh works, nothing was reused.
    reject_stored(&env, P);
    env.run(&["--profile", P, "token"]).code(0);
    assert_eq!(refreshes(&mock), 2);
    no_reuse(&mock);
}

#[test]
fn a_recovery_file_made_stale_by_a_new_login_is_dropped() {
    let mock = mock();
    let env = logged_in(&mock, "store_write_wait = \"0s\"\n");
    let lock = WriteLock::take(&env.home().join("tokens.db"));
    Running::spawn(&env, &["--profile", P, "token"], &[])
        .finish_within(Duration::from_secs(120))
        .code(6);
    lock.release();
    let file = env.home().join("recovery").join(format!("{P}.json"));
    assert!(file.exists());
    // A login replaces the tokens before anything read them: the kept ones are stale.
    login_browser(&env, &mock, P).code(0);
    let fresh = stored(&env, P).expect("stored");
    let next = env.run(&["--profile", P, "token"]);
    next.code(0);
    assert_eq!(next.stdout.trim(), fresh.access_token.expose());
    assert!(!file.exists(), "the stale recovery file is gone");
}
