//! The shared circuit breaker against absurd provider answers, through the binary: a
//! `Retry-After` of 95 years, 12,675 years or `u64::MAX` seconds never panics and holds
//! requests back for at most `max_retry_after`; `doctor` names the open breaker with its reason
//! and end and `doctor --reset-breaker` clears it; a login is never refused and clears it too;
//! a record an older build left in the store (open until the 22nd century, or a time the clock
//! cannot represent) is read within the same bounds.

use crate::login_util::{Mock, home_with, login_browser, reject_stored, web_profile};
use crate::util::Env;
use std::time::{Duration, SystemTime};
use tokenwarden::store::{BreakerBackend as _, BreakerRecord, KeySource, SqliteStore};

/// A logged-in `web` profile whose stored token the next `token` must refresh.
fn logged_in(mock: &Mock) -> Env {
    let env = home_with(&[web_profile("web", &mock.issuer())]);
    login_browser(&env, mock, "web").code(0);
    reject_stored(&env, "web");
    env
}

fn token(env: &Env) -> crate::util::Run {
    let run = env.run(&["--profile", "web", "token"]);
    assert_ne!(run.code, 101, "token panicked: {}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

fn token_requests(mock: &Mock) -> u64 {
    mock.server.stats().token_requests.total()
}

#[test]
fn an_absurd_retry_after_never_panics_and_a_new_login_is_never_refused() {
    for secs in [3_000_000_000_u64, 400_000_000_000, u64::MAX] {
        let mock = Mock::auto();
        let env = logged_in(&mock);
        mock.server
            .set_faults(mockauth::FaultPlan::default().with(
                mockauth::Endpoint::Token,
                mockauth::FaultSpec::status(503).retry_after(secs).count(1),
            ))
            .expect("fault plan accepted");
        let first = token(&env);
        first.code(4);
        assert!(
            first
                .stderr
                .contains("longer than the 1 min tokenwarden waits"),
            "{}",
            first.stderr
        );
        // The next runs are held back, without a request, for at most a minute: never until
        // the year 2121, never a panic.
        let before = token_requests(&mock);
        for _ in 0..2 {
            let run = token(&env);
            run.code(4);
            assert!(
                run.stderr.contains("asked clients to wait"),
                "{}",
                run.stderr
            );
            assert!(!run.stderr.contains("2121"), "{}", run.stderr);
        }
        assert_eq!(token_requests(&mock), before, "held back: nothing sent");

        // doctor names it, with its reason and end, and how to clear it.
        let doctor = env.run(&["--profile", "web", "doctor", "--offline"]);
        doctor.code(1);
        assert!(
            doctor.stdout.contains("FAIL  breaker") && doctor.stdout.contains("held back until"),
            "{}",
            doctor.stdout
        );
        assert!(
            doctor.stdout.contains("Retry-After") && doctor.stdout.contains("--reset-breaker"),
            "{}",
            doctor.stdout
        );

        // A new login is sent, succeeds, and clears the breaker: refreshes work again.
        mock.server.clear_faults();
        login_browser(&env, &mock, "web").code(0);
        reject_stored(&env, "web");
        token(&env).code(0);
        let doctor = env.run(&["--profile", "web", "doctor", "--offline"]);
        assert!(doctor.stdout.contains("ok    breaker"), "{}", doctor.stdout);
    }
}

/// Writes the breaker record of the profile's token endpoint behind the binary's back.
fn plant(env: &Env, mock: &Mock, record: &BreakerRecord) {
    let paths = tokenwarden::paths::Paths::in_dir(env.home());
    let store = SqliteStore::open(&paths, KeySource::KeyFile).expect("store opens");
    store
        .save(&mock.server.url("/token"), record)
        .expect("record saved");
}

#[test]
fn a_record_an_older_build_left_is_bounded_and_reset_breaker_clears_it() {
    let mock = Mock::auto();
    let env = logged_in(&mock);
    let now = SystemTime::now();
    let year_2121 = SystemTime::UNIX_EPOCH + Duration::from_secs(4_796_668_800);
    plant(
        &env,
        &mock,
        &BreakerRecord {
            consecutive_failures: 9,
            open_until: Some(year_2121),
            last_retry_after: Some(Duration::from_secs(3_000_000_000)),
            updated_at: now,
        },
    );
    let before = token_requests(&mock);
    let run = token(&env);
    run.code(4);
    assert!(
        run.stderr.contains("failed 9 times in a row") && !run.stderr.contains("2121"),
        "held back for the cool-down at most: {}",
        run.stderr
    );
    assert_eq!(token_requests(&mock), before);
    let json = env.run(&["--profile", "web", "--json", "token"]);
    json.code(4);
    let error: serde_json::Value = serde_json::from_str(&json.stderr).expect("an error as JSON");
    let retry_at = error["error"]["retry_at"]
        .as_str()
        .expect("retry_at")
        .to_string();
    let at = humantime::parse_rfc3339(&retry_at).expect("an RFC 3339 time");
    assert!(
        at <= now + Duration::from_secs(61),
        "at most max_retry_after (60 s) after the record changed: {retry_at}"
    );

    let reset = env.run(&["--profile", "web", "doctor", "--offline", "--reset-breaker"]);
    reset.code(0);
    assert!(
        reset.stderr.contains("cleared the circuit breaker of")
            && reset.stderr.contains("9 transient failures in a row"),
        "{}",
        reset.stderr
    );
    assert!(reset.stdout.contains("ok    breaker"), "{}", reset.stdout);
    token(&env).code(0);
    assert_eq!(token_requests(&mock), before + 1, "refreshed once");
    let again = env.run(&["--profile", "web", "doctor", "--offline", "--reset-breaker"]);
    again.code(0);
    assert!(
        again.stderr.contains("nothing to clear"),
        "{}",
        again.stderr
    );

    // Times the clock cannot represent, or changed in an impossible future: expired.
    let end = SystemTime::UNIX_EPOCH + Duration::from_millis(i64::MAX as u64);
    for (open_until, updated_at) in [(end, now), (end, end)] {
        plant(
            &env,
            &mock,
            &BreakerRecord {
                consecutive_failures: u32::MAX,
                open_until: Some(open_until),
                last_retry_after: Some(Duration::from_millis(i64::MAX as u64)),
                updated_at,
            },
        );
        reject_stored(&env, "web");
        let run = token(&env);
        let doctor = env.run(&["--profile", "web", "doctor", "--offline"]);
        assert_ne!(doctor.code, 101, "{}", doctor.stderr);
        if updated_at == end {
            run.code(0);
        } else {
            run.code(4);
            assert!(
                doctor.stdout.contains("held back until"),
                "{}",
                doctor.stdout
            );
        }
    }
}
