//! `tokenwarden logout`: revokes the refresh and access tokens at the provider (the resource
//! refuses the old access token, the old refresh token no longer refreshes), deletes only that
//! profile's tokens, reports a failed revocation while still deleting locally, and has nothing
//! to do when nothing is stored.

use crate::login_util::{Mock, home_with, login_browser, stored, svc_profile, web_profile};

const SECRET: (&str, &str) = ("SVC_SECRET", "svc-secret");

#[test]
fn logout_revokes_at_the_provider_and_deletes_only_that_profile() {
    let mock = Mock::auto();
    let env = home_with(&[
        web_profile("web", &mock.issuer()),
        svc_profile("svc", &mock.issuer()),
    ]);
    login_browser(&env, &mock, "web").code(0);
    env.run_env(&["--profile", "svc", "login"], &[SECRET])
        .code(0);
    let svc_token = env.run_env(&["--profile", "svc", "token"], &[SECRET]);
    svc_token.code(0);
    let web = stored(&env, "web").expect("web is logged in");
    let access = web.access_token.expose().to_string();
    let refresh = web
        .refresh_token
        .as_ref()
        .expect("refresh token")
        .expose()
        .to_string();
    assert_eq!(mock.resource_status(&access), 200);

    let run = env.run(&["--profile", "web", "logout"]);
    run.code(0);
    assert!(
        run.stderr
            .contains("revoked the refresh token and access token at the provider"),
        "{}",
        run.stderr
    );
    // Two revocation requests; the refresh token's takes its access tokens with it (the
    // family), so the second finds nothing left to revoke.
    let revocations = mock.server.stats().revocations;
    assert_eq!(revocations.total, 2);
    assert!(revocations.revoked >= 1);
    assert_eq!(
        mock.resource_status(&access),
        401,
        "the access token is dead"
    );
    assert_eq!(
        mock.refresh_status(&refresh),
        400,
        "the refresh token is dead"
    );
    assert!(stored(&env, "web").is_none());
    env.run(&["--profile", "web", "token"]).code(3);

    // The other profile is untouched.
    let again = env.run_env(&["--profile", "svc", "token"], &[SECRET]);
    again.code(0);
    assert_eq!(again.stdout, svc_token.stdout);
}

#[test]
fn a_failed_revocation_logs_out_and_stays_pending_until_doctor_revokes() {
    let mock = Mock::auto();
    let mut profile = web_profile("web", &mock.issuer());
    profile.push_str("max_attempts = 1\n");
    let env = home_with(&[profile]);
    login_browser(&env, &mock, "web").code(0);
    let web = stored(&env, "web").expect("logged in");
    let access = web.access_token.expose().to_string();
    let refresh = web
        .refresh_token
        .expect("refresh token")
        .expose()
        .to_string();
    mock.server
        .set_faults(
            mockauth::FaultPlan::default()
                .with(mockauth::Endpoint::Revoke, mockauth::FaultSpec::status(503)),
        )
        .expect("valid plan");

    let run = env.run(&["--profile", "web", "--json", "logout"]);
    run.code(0);
    // Under --json each warning is one JSON line on stderr.
    let warnings: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(
        warnings.iter().any(|w| w["warning"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("revoking the refresh token failed")
                && m.contains("may still be live at the provider"))),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("asks again on the next") && run.stderr.contains("doctor"),
        "the hint says it is retried: {}",
        run.stderr
    );
    let v = run.json();
    assert_eq!(v["deleted"], true);
    assert_eq!(v["revoked"].as_array().map(Vec::len), Some(0));
    assert_eq!(v["warnings"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        v["pending"],
        serde_json::json!(["refresh token", "access token"])
    );
    // Logged out: `token` refuses, as after any logout; the tokens are not in plaintext.
    assert!(stored(&env, "web").is_none());
    env.run(&["--profile", "web", "token"]).code(3);
    crate::login_util::assert_nowhere_in_files(&env, &refresh, "pending refresh token");
    assert_eq!(
        mock.resource_status(&access),
        200,
        "still live, as reported"
    );

    // doctor offline names what is pending; online, it asks again.
    let offline = env.run(&["--profile", "web", "doctor", "--offline"]);
    assert!(
        offline.stdout.contains("warn  revocation")
            && offline.stdout.contains("2 tokens of a logout at")
            && offline.stdout.contains("503"),
        "{}",
        offline.stdout
    );
    let still = env.run(&["--profile", "web", "doctor"]);
    assert!(
        still.stdout.contains("the provider still failed"),
        "{}",
        still.stdout
    );
    mock.server.clear_faults();
    let doctor = env.run(&["--profile", "web", "doctor"]);
    assert!(
        doctor.stdout.contains("ok    revocation")
            && doctor
                .stdout
                .contains("revoked 2 tokens an earlier logout could not"),
        "{}",
        doctor.stdout
    );
    assert_eq!(
        mock.resource_status(&access),
        401,
        "the access token is dead"
    );
    assert_eq!(
        mock.refresh_status(&refresh),
        400,
        "the refresh token is dead"
    );
    let after = env.run(&["--profile", "web", "doctor", "--offline"]);
    assert!(!after.stdout.contains("revocation"), "{}", after.stdout);
}

#[test]
fn the_next_logout_retries_a_pending_revocation_even_after_a_new_login() {
    let mock = Mock::auto();
    let mut profile = web_profile("web", &mock.issuer());
    profile.push_str("max_attempts = 1\n");
    let env = home_with(&[profile]);
    login_browser(&env, &mock, "web").code(0);
    let first = stored(&env, "web").expect("logged in");
    let first_refresh = first.refresh_token.expect("refresh").expose().to_string();
    mock.server
        .set_faults(mockauth::FaultPlan::default().with(
            mockauth::Endpoint::Revoke,
            mockauth::FaultSpec::status(500).count(2),
        ))
        .expect("valid plan");
    env.run(&["--profile", "web", "logout"]).code(0);
    // A new login does not lose what the first logout owes the provider.
    login_browser(&env, &mock, "web").code(0);
    let second = stored(&env, "web").expect("logged in again");
    let run = env.run(&["--profile", "web", "logout"]);
    run.code(0);
    assert!(
        run.stderr.contains(
            "Revoked the refresh token and access token that an earlier logout could not revoke"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("revoked the refresh token and access token at the provider"),
        "{}",
        run.stderr
    );
    assert_eq!(mock.refresh_status(&first_refresh), 400);
    assert_eq!(mock.resource_status(second.access_token.expose()), 401);
    // Nothing is pending any more: a third logout has nothing to do and asks nothing.
    let before = mock.server.stats().revocations.total;
    let again = env.run(&["--profile", "web", "logout"]);
    again.code(0);
    assert!(again.stderr.contains("nothing to do"), "{}", again.stderr);
    assert_eq!(mock.server.stats().revocations.total, before);
}

#[test]
fn logout_with_nothing_stored_has_nothing_to_do() {
    let mock = Mock::auto();
    let env = home_with(&[web_profile("web", &mock.issuer())]);
    let run = env.run(&["--profile", "web", "logout"]);
    run.code(0);
    assert!(run.stderr.contains("nothing to do"), "{}", run.stderr);
    assert_eq!(mock.server.stats().revocations.total, 0);
}
