//! DESIGN.md's failure table, one fault at a time on mockauth (and the local failures beside
//! it): for each, `doctor` fails or warns on the right check and names the cause and the fix.

use crate::diagnose::{Home, assert_check, doctor, login};
use crate::util;
use mockauth::{Endpoint, FaultBody, FaultPlan, FaultSpec};
use std::time::{Duration, SystemTime};
use tokenwarden::diagnose::{self, Options, Status};
use tokenwarden::store::{Event, Store as _};

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
        &["did not answer within 1s", "timeout"],
    );
}

#[tokio::test]
async fn a_refused_refresh_token_needs_a_login() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "");
    let w = home.warden();
    login(&server, &w).await;
    // Another session rotated or the provider revoked: the refresh is refused.
    server.revoke_sessions();
    let session = w.session("d").unwrap();
    // The API refused the token: the refresh is due.
    let store = w.store().unwrap();
    let v = tokenwarden::store::Store::read(&*store, "d")
        .unwrap()
        .expect("logged in")
        .version;
    assert!(tokenwarden::store::Store::mark_rejected(&*store, "d", v).unwrap());
    let err = session
        .get_token(Duration::ZERO)
        .await
        .expect_err("the refresh is refused");
    assert_eq!(err.kind(), tokenwarden::ErrorKind::LoginRequired);
    let r = doctor(&w, false).await;
    assert_check(
        &r,
        "token",
        Status::Fail,
        &["new login is needed", "invalid_grant", "login"],
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
            "refresh",
            if status.is_some() {
                "provider_unavailable"
            } else {
                "ok"
            },
        );
        e.status = status;
        store.append_event(&e).unwrap();
    }
    let r = doctor(&w, false).await;
    assert_check(&r, "failure_rate", Status::Warn, &["2 of 4", "50%", "20%"]);
    let warnings =
        tokenwarden::events::failure_rate_warnings(store.as_ref(), w.config(), SystemTime::now());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[tokio::test]
async fn configuration_and_credential_faults_are_named() {
    let server = util::mock(Vec::new()).await;
    let issuer = server.issuer();
    let cases: Vec<(&str, String, &str, Status, &[&str])> = vec![
        (
            "redirect_uri differs by a trailing slash",
            "registered_redirect_uris = [\"http://127.0.0.1/callback/\"]".into(),
            "config",
            Status::Fail,
            &["trailing slash", "redirect_uri"],
        ),
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
