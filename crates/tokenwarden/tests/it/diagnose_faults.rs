//! DESIGN.md's failure table, one fault at a time on mockauth (and the local failures beside
//! it): for each, `doctor` fails or warns on the right check and names the cause and the fix.

use crate::diagnose::{Home, assert_check, doctor, login};
use crate::util;
use mockauth::{Endpoint, FaultBody, FaultPlan, FaultSpec};
use std::time::{Duration, SystemTime};
use tokenwarden::ErrorKind;
use tokenwarden::diagnose::{self, Options, Report, Status};
use tokenwarden::store::{Event, Operation, Outcome};
use tokenwarden::warden::Warden;

fn on(endpoint: Endpoint, spec: FaultSpec) -> FaultPlan {
    FaultPlan::default().with(endpoint, spec)
}

#[tokio::test]
async fn provider_faults_are_named() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "");
    let w = home.warden();
    login(&server, &w).await;
    let cases: Vec<(&str, FaultPlan, &str, Status, &[&str])> = vec![
        (
            "500 on the token endpoint (the code-exchange outage)",
            on(Endpoint::Token, FaultSpec::status(500)),
            "token_endpoint",
            Status::Fail,
            &["500", "server_error", "provider is failing", "request id"],
        ),
        (
            "503 with Retry-After",
            on(Endpoint::Token, FaultSpec::status(503).retry_after(7)),
            "token_endpoint",
            Status::Fail,
            &["503", "temporarily_unavailable"],
        ),
        (
            "429 rate limiting",
            on(Endpoint::Token, FaultSpec::status(429).retry_after(30)),
            "token_endpoint",
            Status::Fail,
            &["429", "rate limiting"],
        ),
        (
            "a proxy's HTML page",
            on(
                Endpoint::Token,
                FaultSpec::status(502).body(FaultBody::Html),
            ),
            "token_endpoint",
            Status::Fail,
            &["html", "proxy"],
        ),
        (
            "malformed JSON",
            on(
                Endpoint::Token,
                FaultSpec::status(500).body(FaultBody::MalformedJson),
            ),
            "token_endpoint",
            Status::Fail,
            &["malformed json"],
        ),
        (
            "discovery outage",
            on(Endpoint::Discovery, FaultSpec::status(503)),
            "discovery",
            Status::Fail,
            &["503", "discovery endpoint"],
        ),
        (
            "the provider's clock is 2 minutes ahead",
            FaultPlan::default().with_clock_skew(120),
            "clock",
            Status::Fail,
            &["clock skew", "behind", "NTP"],
        ),
        (
            "the provider's clock is 10 s behind",
            FaultPlan::default().with_clock_skew(-10),
            "clock",
            Status::Warn,
            &["clock skew", "ahead of", "NTP"],
        ),
    ];
    for (what, plan, name, status, words) in cases {
        server.set_faults(plan).expect("valid fault plan");
        let r = doctor(&w, false).await;
        server.clear_faults();
        println!("{what}: {:?}", r.check(name));
        assert_check(&r, name, status, words);
    }
    // With the faults gone, nothing fails.
    let r = doctor(&w, false).await;
    assert_ne!(r.status(), Status::Fail, "{:#?}", r.checks);
}

#[tokio::test]
async fn a_slow_provider_is_a_timeout() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "");
    home.write_config(&format!(
        "[profiles.d]\nissuer = \"{}\"\nclient_id = \"cli\"\ntimeout = \"1s\"\n",
        server.issuer()
    ));
    let w = home.warden();
    let slow = FaultSpec {
        latency_ms: Some(2_500),
        ..FaultSpec::default()
    };
    server.set_faults(on(Endpoint::Token, slow)).unwrap();
    let r = doctor(&w, false).await;
    assert_check(
        &r,
        "token_endpoint",
        Status::Fail,
        &["did not answer within 1 s", "timeout"],
    );
}

/// Retries that end at once (the backoff is real time in a warden).
const QUICK_RETRIES: &str = "retry_base_delay = \"5ms\"\nretry_max_delay = \"20ms\"";

/// Asks the session of `d` for a token until the refresh token is refused (at most `tries`
/// times: a transient failure comes first when retries are off); the refusal.
async fn refused(w: &Warden, tries: usize) -> tokenwarden::Error {
    let session = w.session("d").unwrap();
    let store = w.store().unwrap();
    for _ in 0..tries {
        // The API refused the token (as a 401 does): the refresh is due.
        let stored = tokenwarden::store::Store::read(&*store, "d")
            .unwrap()
            .expect("logged in");
        let _ = tokenwarden::store::Store::mark_rejected(&*store, "d", stored.version).unwrap();
        match session.get_token(Duration::ZERO).await {
            Ok(_) => panic!("the refresh succeeded"),
            Err(e) if e.kind() == tokenwarden::ErrorKind::LoginRequired => return e,
            Err(e) => println!("before the refusal: {}", e.report()),
        }
    }
    panic!("no refusal after {tries} refreshes")
}

/// The `token` check names `cause` and its fix, and none of the other causes.
fn assert_refusal(r: &Report, words: &[&str]) {
    println!("{:#?}", r.check("token"));
    assert_check(r, "token", Status::Fail, words);
    let c = crate::diagnose::check(r, "token");
    let text = format!("{} {}", c.detail, c.fix.as_deref().unwrap_or(""));
    let causes = [
        "the provider revoked the session",
        "rotation was probably lost",
        "another program shares this refresh token",
    ];
    let named = causes.iter().filter(|c| text.contains(*c)).count();
    assert_eq!(named, 1, "one cause, named once: {c:#?}");
}

/// Presents `refresh_token` at mockauth's token endpoint as another program would.
async fn foreign_refresh(server: &mockauth::ServerHandle, refresh_token: &str) -> u16 {
    reqwest::Client::new()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "cli"),
        ])
        .send()
        .await
        .expect("mockauth answers")
        .status()
        .as_u16()
}

fn stored_refresh_token(w: &Warden) -> String {
    let stored = w.store().unwrap().read("d").unwrap().expect("tokens");
    stored
        .tokens
        .refresh_token
        .expect("a refresh token")
        .expose()
        .to_string()
}

#[tokio::test]
async fn a_revoked_session_is_named_a_revocation() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "");
    let w = home.warden();
    login(&server, &w).await;
    // The provider signs the user out everywhere.
    server.revoke_sessions();
    refused(&w, 1).await;
    let r = doctor(&w, false).await;
    assert_refusal(
        &r,
        &[
            "new login is needed",
            "the provider revoked the session",
            "invalid_grant",
            "the refresh token was revoked",
            "request id mock-",
            "provider's side",
            "tokenwarden --profile d login",
        ],
    );
}

#[tokio::test]
async fn a_500_after_the_rotation_is_a_lost_rotation() {
    // Retried at once (one operation), and retried by the next call (retries off).
    for (extra, tries) in [(QUICK_RETRIES, 1), ("max_attempts = 1", 2)] {
        let server = util::mock(Vec::new()).await;
        let home = Home::new(&server.issuer(), extra);
        let w = home.warden();
        login(&server, &w).await;
        // The server rotates the refresh token, then the answer is lost: a 500.
        server
            .set_faults(on(
                Endpoint::Token,
                FaultSpec::status(500).processed().count(1),
            ))
            .unwrap();
        refused(&w, tries).await;
        assert_eq!(server.stats().refresh_reuse_detected, 1, "{extra}");
        let r = doctor(&w, false).await;
        assert_refusal(
            &r,
            &[
                "new login is needed",
                "rotation was probably lost",
                "HTTP 500",
                "invalid_grant",
                "reuse grace period",
                "tokenwarden --profile d login",
            ],
        );
    }
}

#[tokio::test]
async fn a_refresh_killed_after_the_rotation_is_a_lost_rotation_not_another_client() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "");
    let w = home.warden();
    login(&server, &w).await;
    // A process marked its refresh in flight, the server rotated the refresh token, and the
    // process was killed before storing the answer: the event log has nothing of it.
    let store = w.store().unwrap();
    let v = store.read("d").unwrap().expect("tokens").version;
    assert!(
        store
            .mark_state("d", v, tokenwarden::store::TokenState::Valid, None, true)
            .unwrap()
    );
    assert_eq!(
        foreign_refresh(&server, &stored_refresh_token(&w)).await,
        200
    );
    let e = refused(&w, 1).await;
    assert_eq!(
        e.cause(),
        Some(tokenwarden::error::Cause::PossiblyLostRotation)
    );
    let r = doctor(&w, false).await;
    assert_refusal(
        &r,
        &[
            "rotation was probably lost",
            "process stopped mid-refresh",
            "reuse grace period",
        ],
    );
    // The cause stored with the mark is enough: without the in-flight flag, and with no event
    // of the killed refresh, doctor names the same cause.
    let marked = store.read("d").unwrap().expect("tokens");
    assert_eq!(
        marked.state.cause(),
        Some(tokenwarden::error::Cause::PossiblyLostRotation)
    );
    assert!(store.mark_in_flight("d", marked.version, false).unwrap());
    let r = doctor(&w, false).await;
    assert_refusal(&r, &["rotation was probably lost", "reuse grace period"]);
}

#[tokio::test]
async fn another_client_refreshing_the_same_token_is_named() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "");
    let w = home.warden();
    login(&server, &w).await;
    // Another tool was given the same refresh token and refreshes first: mockauth rotates it.
    assert_eq!(
        foreign_refresh(&server, &stored_refresh_token(&w)).await,
        200
    );
    // tokenwarden presents the rotated token: reuse detection revokes the session.
    refused(&w, 1).await;
    assert_eq!(server.stats().refresh_reuse_detected, 1);
    let r = doctor(&w, false).await;
    assert_refusal(
        &r,
        &[
            "new login is needed",
            "another program shares this refresh token",
            "invalid_grant",
            "only one program may hold this refresh token",
            "tokenwarden --profile d token",
            "tokenwarden --profile d login",
        ],
    );

    // Once more, with a refresh of tokenwarden's own just before: the other program refreshes
    // with the token tokenwarden has just stored, and tokenwarden's next refresh is refused.
    login(&server, &w).await;
    let session = w.session("d").unwrap();
    let t = session.get_token(Duration::ZERO).await.expect("logged in");
    session.invalidate(&t).expect("marks");
    session
        .get_token(Duration::ZERO)
        .await
        .expect("our refresh");
    assert_eq!(
        foreign_refresh(&server, &stored_refresh_token(&w)).await,
        200
    );
    refused(&w, 1).await;
    let r = doctor(&w, false).await;
    assert_refusal(
        &r,
        &[
            "another program shares this refresh token",
            "after this store's own refresh",
            "correlation id tw-",
            "only one program may hold this refresh token",
        ],
    );
}

#[tokio::test]
async fn resource_rejections_are_told_apart() {
    let server = util::mock(Vec::new()).await;
    let resource = server.url("/v1/messages");
    let home = Home::new(&server.issuer(), &format!("resource = \"{resource}\""));
    let w = home.warden();
    login(&server, &w).await;

    // Early revocation: the token is refused before it expires; one renewal fixes it.
    server.revoke_all();
    let r = doctor(&w, true).await;
    assert_check(
        &r,
        "live_resource",
        Status::Warn,
        &["had not expired", "revoked"],
    );

    // The API refuses even a fresh token: the session is rejected, no loop.
    server
        .set_faults(on(Endpoint::Resource, FaultSpec::status(401)))
        .unwrap();
    let r = doctor(&w, true).await;
    assert_check(
        &r,
        "live_resource",
        Status::Fail,
        &["rejected by the server", "scope"],
    );
}

#[tokio::test]
async fn a_high_5xx_rate_warns() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "failure_rate_threshold = 0.2");
    let w = home.warden();
    let store = w.store().unwrap();
    let now = SystemTime::now();
    for status in [Some(503), Some(502), None, None] {
        let mut e = Event::new(
            now,
            "d",
            Operation::Refresh,
            if status.is_some() {
                Outcome::Failed(ErrorKind::ProviderUnavailable)
            } else {
                Outcome::Ok
            },
        );
        e.status = status;
        store.append_event(&e).unwrap();
    }
    let r = doctor(&w, false).await;
    assert_check(&r, "failure_rate", Status::Warn, &["2 of 4", "50%", "20%"]);
    let warnings = w.failure_rate_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[tokio::test]
async fn configuration_and_credential_faults_are_named() {
    let server = util::mock(Vec::new()).await;
    let issuer = server.issuer();
    let cases: Vec<(&str, String, &str, Status, &[&str])> = vec![
        (
            "the client secret's variable is not set",
            "client_auth = \"client_secret_post\"\nclient_secret_env = \"TW_DOCTOR_TEST_UNSET_7C1\""
                .into(),
            "client_secret",
            Status::Fail,
            &["TW_DOCTOR_TEST_UNSET_7C1", "export"],
        ),
        (
            "JSON body to a form-only token endpoint",
            "token_request_format = \"json\"".into(),
            "token_endpoint",
            Status::Fail,
            &["invalid_request", "token_request_format"],
        ),
    ];
    for (what, extra, name, status, words) in cases {
        let home = Home::new(&issuer, &extra);
        let r = doctor(&home.warden(), false).await;
        println!("{what}: {:?}", r.check(name));
        assert_check(&r, name, status, words);
    }

    // Wrong client credentials.
    let home = Home::new(&issuer, "");
    home.write_config(&format!(
        "[profiles.d]\nissuer = \"{issuer}\"\nclient_id = \"svc\"\nclient_auth = \"client_secret_basic\"\n\
         client_secret = \"not-the-secret\"\ngrant = \"client_credentials\"\n"
    ));
    let r = doctor(&home.warden(), false).await;
    assert_check(
        &r,
        "token_endpoint",
        Status::Fail,
        &["invalid_client", "client_id"],
    );
}

#[tokio::test]
async fn network_steps_are_told_apart() {
    let server = util::mock(Vec::new()).await;
    let port = server.local_addr().port();
    let closed = util::closed_port();
    let cases: Vec<(String, &str, &[&str])> = vec![
        (
            "https://tokenwarden-doctor-test.invalid".into(),
            "dns",
            &["tokenwarden-doctor-test.invalid", "dns"],
        ),
        (
            format!("http://127.0.0.1:{closed}"),
            "tcp",
            &["refused", "port"],
        ),
        // https to a plain-http port: DNS and TCP work, the handshake does not.
        (
            format!("https://127.0.0.1:{port}"),
            "tls",
            &["tls handshake"],
        ),
        // The document names 127.0.0.1, not localhost: the mix-up defence refuses it.
        (
            format!("http://localhost:{port}"),
            "issuer",
            &["mix-up", "set issuer"],
        ),
    ];
    for (issuer, name, words) in cases {
        let home = Home::new(&issuer, "");
        let r = doctor(&home.warden(), false).await;
        println!("{issuer}: {:?}", r.check(name));
        assert_check(&r, name, Status::Fail, words);
        if name != "dns" {
            assert_eq!(r.check("dns").map(|c| c.status), Some(Status::Ok));
        }
    }
}

#[tokio::test]
async fn a_damaged_store_is_named() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "");
    // A store created as usual, then overwritten with garbage.
    drop(home.warden().store().expect("store opens"));
    let db = home.path().join("tokens.db");
    for suffix in ["-wal", "-shm"] {
        std::fs::remove_file(home.path().join(format!("tokens.db{suffix}"))).ok();
    }
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&db)
            .unwrap();
        std::io::Write::write_all(&mut f, &[0x42; 8192]).unwrap();
    }
    let r = diagnose::diagnose(
        &home.warden(),
        "d",
        &Options {
            offline: true,
            live: false,
        },
    )
    .await;
    assert_check(&r, "store", Status::Fail, &["damaged", "log in again"]);
}

#[tokio::test]
async fn a_client_not_allowed_the_grant_it_needs_fails_with_the_fix() {
    let server = util::mock(vec![
        // A device-only client: no authorization_code.
        mockauth::ClientConfig::public("devonly", &[]).with_grant_types(&[
            mockauth::GrantType::DeviceCode,
            mockauth::GrantType::RefreshToken,
        ]),
        // A client that may not refresh.
        mockauth::ClientConfig::public("norefresh", &["http://127.0.0.1/callback"])
            .with_grant_types(&[mockauth::GrantType::AuthorizationCode]),
    ])
    .await;
    let issuer = server.issuer();
    let profile = |client: &str, grant: &str| {
        format!(
            "[profiles.d]\nissuer = \"{issuer}\"\nclient_id = \"{client}\"\ngrant = \"{grant}\"\n\
             redirect_uri = \"http://127.0.0.1/callback\"\n"
        )
    };
    let home = Home::new(&issuer, "");

    // The profile logs in with a code the client may not use.
    home.write_config(&profile("devonly", "authorization_code"));
    let r = doctor(&home.warden(), false).await;
    assert_check(
        &r,
        "token_endpoint",
        Status::Fail,
        &[
            "unauthorized_client",
            "does not allow client `devonly` the authorization_code grant",
            "allow the authorization_code grant",
            "app settings",
        ],
    );
    // The same client for a device profile: the code grant is not needed; refresh is allowed.
    home.write_config(&profile("devonly", "device_code"));
    let r = doctor(&home.warden(), false).await;
    assert_check(&r, "token_endpoint", Status::Ok, &["does not use"]);
    assert_check(&r, "token_endpoint_refresh", Status::Ok, &["invalid_grant"]);

    // A client that may log in but not refresh.
    home.write_config(&profile("norefresh", "authorization_code"));
    let r = doctor(&home.warden(), false).await;
    assert_check(&r, "token_endpoint", Status::Ok, &["invalid_grant"]);
    assert_check(
        &r,
        "token_endpoint_refresh",
        Status::Fail,
        &[
            "refresh_token grant",
            "renew",
            "allow the refresh_token grant",
        ],
    );
}

#[tokio::test]
async fn a_lint_finding_fails_its_own_check_and_the_others_still_run() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "");
    login(&server, &home.warden()).await;
    // Then the provider's list turns out to differ by a trailing slash.
    let linted = Home::new(
        &server.issuer(),
        "registered_redirect_uris = [\"http://127.0.0.1/callback/\"]",
    );
    std::fs::copy(
        linted.path().join("config.toml"),
        home.path().join("config.toml"),
    )
    .unwrap();
    let r = doctor(&home.warden(), false).await;
    assert_check(
        &r,
        "config",
        Status::Ok,
        &["parses", "redirect-uri finding"],
    );
    assert_check(
        &r,
        "redirect_uri",
        Status::Fail,
        &["trailing slash", "redirect_uri"],
    );
    for name in [
        "client_secret",
        "proxy",
        "dns",
        "tcp",
        "discovery",
        "token_endpoint",
        "clock",
        "store",
        "store_integrity",
        "token",
        "failure_rate",
    ] {
        assert_ne!(
            crate::diagnose::check(&r, name).status,
            Status::Fail,
            "{name}: {:#?}",
            r.checks
        );
    }
    assert_eq!(r.count(Status::Fail), 1, "{:#?}", r.checks);

    // A profile that cannot be read still stops at `config`.
    home.write_config(&format!(
        "[profiles.d]\nissuer = \"{}\"\nclient_id = \"cli\"\ntimeout = \"soon\"\n",
        server.issuer()
    ));
    let r = doctor(&home.warden(), false).await;
    assert_check(&r, "config", Status::Fail, &["timeout", "not a duration"]);
    assert!(r.check("dns").is_none(), "{:#?}", r.checks);
    // The login refuses the linted profile.
    home.write_config(&format!(
        "[profiles.d]\nissuer = \"{}\"\nclient_id = \"cli\"\nredirect_uri = \"http://127.0.0.1/callback\"\n\
         registered_redirect_uris = [\"http://127.0.0.1/callback/\"]\n",
        server.issuer()
    ));
    let e = home.warden().profile("d").unwrap_err();
    assert_eq!(e.kind(), tokenwarden::ErrorKind::Config, "{}", e.report());
}

#[tokio::test]
async fn a_skewed_iat_in_the_stored_tokens_warns_or_fails() {
    let server = util::mock(Vec::new()).await;
    for (skew, status, words) in [
        (
            10i64,
            Status::Warn,
            &["clock skew", "behind", "`iat`", "NTP"][..],
        ),
        (
            120,
            Status::Fail,
            &["clock skew", "behind", "`iat`", "NTP"][..],
        ),
        (-45, Status::Fail, &["clock skew", "ahead of", "`iat`"][..]),
    ] {
        let home = Home::new(&server.issuer(), "");
        let w = home.warden();
        // The tokens are issued while the provider's clock is off (the ID token's iat with it).
        server
            .set_faults(FaultPlan::default().with_clock_skew(skew))
            .unwrap();
        login(&server, &w).await;
        server.clear_faults();
        let r = doctor(&w, false).await;
        assert_check(&r, "clock", Status::Ok, &["within"]);
        assert_check(&r, "clock_iat", status, words);
        // Offline, the stored tokens still tell.
        let r = diagnose::diagnose(
            &w,
            "d",
            &Options {
                offline: true,
                live: false,
            },
        )
        .await;
        assert_check(&r, "clock_iat", status, words);
    }
}

#[tokio::test]
async fn offline_the_clock_fix_does_not_blame_connectivity() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "");
    let r = diagnose::diagnose(
        &home.warden(),
        "d",
        &Options {
            offline: true,
            live: false,
        },
    )
    .await;
    assert!(r.check("dns").is_none(), "{:#?}", r.checks);
    assert_check(
        &r,
        "clock",
        Status::Warn,
        &["--offline", "without --offline"],
    );
    let fix = r
        .check("clock")
        .and_then(|c| c.fix.clone())
        .unwrap_or_default();
    assert!(!fix.contains("connectivity"), "{fix}");
}

#[tokio::test]
async fn an_index_that_disagrees_with_its_table_fails_store_integrity() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "");
    {
        let w = home.warden();
        login(&server, &w).await;
        let store = w.store().unwrap();
        for i in 0..20u64 {
            store
                .append_event(&Event::new(
                    SystemTime::now() - Duration::from_secs(i),
                    "d",
                    Operation::Refresh,
                    Outcome::Ok,
                ))
                .unwrap();
        }
    }
    // Damage that opening and reading do not see: the index on `events.at` now
    // claims to index another column, so its entries no longer match the rows.
    {
        let conn = rusqlite::Connection::open(home.path().join("tokens.db")).unwrap();
        conn.execute_batch(
            "PRAGMA writable_schema = ON;
             UPDATE sqlite_master SET sql = 'CREATE INDEX events_at ON events (profile)'
               WHERE name = 'events_at';
             PRAGMA writable_schema = OFF;",
        )
        .unwrap();
    }
    let w = home.warden();
    let r = diagnose::diagnose(
        &w,
        "d",
        &Options {
            offline: true,
            live: false,
        },
    )
    .await;
    assert_check(&r, "store", Status::Ok, &["tokens.db"]);
    assert_check(
        &r,
        "store_integrity",
        Status::Fail,
        &[
            "integrity_check reports damage",
            "events_at",
            "REINDEX",
            "keeps the tokens",
        ],
    );
    // The fix works: after REINDEX the check passes and the tokens are there.
    drop(w);
    {
        let conn = rusqlite::Connection::open(home.path().join("tokens.db")).unwrap();
        conn.execute_batch("REINDEX;").unwrap();
    }
    let r = diagnose::diagnose(
        &home.warden(),
        "d",
        &Options {
            offline: true,
            live: false,
        },
    )
    .await;
    assert_check(&r, "store_integrity", Status::Ok, &["ok"]);
    // The tokens themselves are still readable.
    assert_check(&r, "token", Status::Ok, &["valid"]);
}
