//! `doctor`'s checks on a healthy setup, against mockauth in-process: every step passes, the
//! probe rotates nothing, `--live` renews only when needed; and the helpers the fault table
//! (`diagnose_faults`) shares: a warden in a temporary home with a profile pointed at mockauth,
//! and a login that stores real tokens.

use crate::util;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;
use tokenwarden::diagnose::{self, Options, Report, Status};
use tokenwarden::paths::Paths;
use tokenwarden::warden::Warden;

/// A temporary home with a config and the warden over it.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    /// A home whose `config.toml` has the profile `d` for the client `cli` at `issuer`, plus the
    /// `extra` lines.
    pub fn new(issuer: &str, extra: &str) -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        // The store refuses a directory open to other users.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        let home = Home { dir };
        home.write_config(&format!(
            "[profiles.d]\nissuer = \"{issuer}\"\nclient_id = \"cli\"\nscopes = [\"openid\", \"offline_access\"]\n\
             redirect_uri = \"http://127.0.0.1/callback\"\ntimeout = \"5s\"\nconnect_timeout = \"2s\"\n{extra}\n"
        ));
        home
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `config.toml`, private (0600) as `profile add` writes it: an inline secret in a
    /// file others may read is refused.
    pub fn write_config(&self, text: &str) {
        let path = self.path().join("config.toml");
        std::fs::write(&path, text).expect("write config");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }

    pub fn warden(&self) -> Warden {
        Warden::open(Paths::in_dir(self.path())).expect("warden opens")
    }
}

/// Logs the profile `d` in: an authorization code from mockauth, exchanged and stored.
pub async fn login(server: &mockauth::ServerHandle, w: &Warden) {
    tokenwarden::http::install_crypto_provider();
    let redirect = "http://127.0.0.1:5555/callback";
    let profile = w.profile("d").expect("profile").profile;
    let (code, verifier) = util::authorize(server, "cli", redirect).await;
    let tokens = w
        .client(&profile)
        .expect("client")
        .exchange_code(code, redirect, Some(verifier), Some("st"))
        .await
        .expect("code exchange");
    w.store()
        .expect("store")
        .replace("d", &tokens)
        .expect("stored");
}

/// Runs doctor on `d`.
pub async fn doctor(w: &Warden, live: bool) -> Report {
    diagnose::diagnose(
        w,
        "d",
        &Options {
            live,
            ..Options::default()
        },
    )
    .await
}

/// The check `name`, which must have run.
pub fn check<'a>(r: &'a Report, name: &str) -> &'a diagnose::Check {
    r.check(name)
        .unwrap_or_else(|| panic!("no `{name}` check in {:#?}", r.checks))
}

/// Asserts that `name` has `status` and that its detail and fix together mention every word.
pub fn assert_check(r: &Report, name: &str, status: Status, words: &[&str]) {
    let c = check(r, name);
    assert_eq!(c.status, status, "{name}: {c:#?}\nall: {:#?}", r.checks);
    let text = format!("{} {}", c.detail, c.fix.as_deref().unwrap_or("")).to_lowercase();
    for w in words {
        assert!(
            text.contains(&w.to_lowercase()),
            "{name} does not mention `{w}`: {c:#?}"
        );
    }
    if status != Status::Ok {
        assert!(
            c.fix.as_deref().is_some_and(|f| !f.is_empty()),
            "{name} has no fix: {c:#?}"
        );
    }
}

#[tokio::test]
async fn a_healthy_profile_passes_and_nothing_is_rotated() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "");
    let w = home.warden();
    login(&server, &w).await;
    let before = w.store().unwrap().read("d").unwrap().unwrap().version;
    server.reset_stats();

    let r = doctor(&w, false).await;
    assert_ne!(r.status(), Status::Fail, "{:#?}", r.checks);
    for name in [
        "config",
        "redirect_uri",
        "client_secret",
        "proxy",
        "dns",
        "tcp",
        "tls",
        "discovery",
        "issuer",
        "token_endpoint",
        "token_endpoint_refresh",
        "store",
        "store_integrity",
        "token",
        "scopes",
        "refresh_token",
        "clock",
        "clock_iat",
        "failure_rate",
    ] {
        assert_eq!(check(&r, name).status, Status::Ok, "{:#?}", r.checks);
    }
    assert_check(&r, "token_endpoint", Status::Ok, &["invalid_grant"]);
    assert_check(&r, "store_integrity", Status::Ok, &["integrity_check"]);
    assert_check(&r, "tls", Status::Ok, &["loopback"]);

    assert_check(
        &r,
        "token_endpoint_refresh",
        Status::Ok,
        &["refresh_token grant"],
    );

    // The probes used a made-up code and a made-up refresh token: nothing rotated or stored.
    let stats = server.stats();
    assert_eq!(stats.token_requests.refresh_token, 1, "{stats:?}");
    assert_eq!(stats.token_requests.authorization_code, 1, "{stats:?}");
    assert_eq!(stats.tokens_issued.access, 0, "{stats:?}");
    assert_eq!(stats.refresh_reuse_detected, 0, "{stats:?}");
    assert_eq!(
        w.store().unwrap().read("d").unwrap().unwrap().version,
        before
    );
}

#[tokio::test]
async fn live_uses_the_stored_token_and_calls_the_resource() {
    let server = util::mock(Vec::new()).await;
    let resource = server.url("/v1/messages");
    let home = Home::new(&server.issuer(), &format!("resource = \"{resource}\""));
    let w = home.warden();
    login(&server, &w).await;
    let before = w.store().unwrap().read("d").unwrap().unwrap().version;
    server.reset_stats();

    let r = doctor(&w, true).await;
    assert_ne!(r.status(), Status::Fail, "{:#?}", r.checks);
    assert_check(&r, "live_token", Status::Ok, &["no renewal needed"]);
    assert_check(&r, "live_resource", Status::Ok, &["200"]);
    // Only the probe's made-up refresh token was presented: nothing was issued.
    assert_eq!(server.stats().token_requests.refresh_token, 1);
    assert_eq!(server.stats().tokens_issued.access, 0);
    assert_eq!(
        w.store().unwrap().read("d").unwrap().unwrap().version,
        before
    );
}

#[tokio::test]
async fn an_expired_token_is_renewed_by_live_only() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "");
    let w = home.warden();
    login(&server, &w).await;
    // Make the stored token expired (as if an hour had passed).
    let store = w.store().unwrap();
    let mut stored = store.read("d").unwrap().unwrap();
    stored.tokens.expires_at = Some(std::time::SystemTime::now() - Duration::from_secs(3600));
    store.replace("d", &stored.tokens).unwrap();

    server.reset_stats();
    let r = doctor(&w, false).await;
    assert_check(&r, "token", Status::Ok, &["expired", "renewed on next use"]);
    assert_eq!(server.stats().tokens_issued.access, 0);

    let r = doctor(&w, true).await;
    assert_check(&r, "live_token", Status::Ok, &["renewed"]);
    assert_eq!(server.stats().tokens_issued.access, 1);
}

#[tokio::test]
async fn an_unknown_profile_and_a_missing_login_are_named() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "");
    let w = home.warden();
    let r = diagnose::diagnose(&w, "nope", &Options::default()).await;
    assert_check(
        &r,
        "config",
        Status::Fail,
        &["no profile `nope`", "profile add"],
    );

    let r = doctor(&w, false).await;
    assert_check(&r, "token", Status::Warn, &["not logged in", "login"]);
    assert_ne!(r.status(), Status::Fail, "{:#?}", r.checks);
}

#[tokio::test]
async fn a_probe_with_client_credentials_is_accepted_and_curl_matches_the_request() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), "");
    home.write_config(&format!(
        "[profiles.d]\nissuer = \"{}\"\nclient_id = \"svc\"\nclient_auth = \"client_secret_basic\"\n\
         client_secret = \"svc-secret\"\ngrant = \"client_credentials\"\n",
        server.issuer()
    ));
    let w = home.warden();
    let r = doctor(&w, false).await;
    // The probe's authorization_code grant is refused as unauthorized_client only after the
    // client authenticated: the credentials are right.
    assert_check(&r, "token_endpoint", Status::Ok, &["unauthorized_client"]);
    assert_check(
        &r,
        "client_secret",
        Status::Warn,
        &["config.toml", "client_secret_env"],
    );
    assert_check(&r, "redirect_uri", Status::Ok, &["client credentials"]);

    let p = w.profile("d").unwrap().profile;
    let token = url::Url::parse(&server.url("/token")).unwrap();
    let cmds = diagnose::curl::commands(&p, Some(&token));
    assert_eq!(cmds.len(), 1);
    let script = cmds[0].script();
    assert!(script.contains("grant_type=client_credentials"), "{script}");
    assert!(script.contains("Authorization: Basic $BASIC"), "{script}");
    assert!(!script.contains("svc-secret"), "{script}");
}

#[tokio::test]
async fn the_event_log_is_bounded() {
    let home = Home::new("http://127.0.0.1:9", "");
    let w = home.warden();
    let store = w.store().unwrap();
    let now = std::time::SystemTime::now();
    let old = now - Duration::from_secs(40 * 24 * 3600);
    for (at, n) in [(old, 3), (now, 5)] {
        for _ in 0..n {
            store
                .append_event(&tokenwarden::store::Event::new(
                    at,
                    "d",
                    tokenwarden::store::Operation::Refresh,
                    tokenwarden::store::Outcome::Ok,
                ))
                .unwrap();
        }
    }
    assert_eq!(tokenwarden::events::prune(store.as_ref(), now).unwrap(), 3);
    let left = tokenwarden::events::load(store.as_ref(), std::time::UNIX_EPOCH, None).unwrap();
    assert_eq!(left.len(), 5);
    // The row bound keeps the newest.
    assert_eq!(store.prune_events(std::time::UNIX_EPOCH, 2).unwrap(), 3);
    assert_eq!(
        store
            .recent_events(std::time::UNIX_EPOCH, None, 100)
            .unwrap()
            .len(),
        2
    );
    // Within the bounds, nothing more goes.
    assert_eq!(store.prune_events(std::time::UNIX_EPOCH, 2).unwrap(), 0);
    assert_eq!(store.prune_events(std::time::UNIX_EPOCH, 3).unwrap(), 0);
}
