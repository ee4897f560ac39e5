//! The leak canary: an end-to-end run of the real binary — logins (browser flow and client
//! credentials), many refreshes, faults of every kind, errors, `doctor` (also `--live` and
//! `--curl`), `--trace-http`, `-vv`, `events --json`, `stats --json`, `status --json`,
//! `request`, a device-flow login, `logout` — with known secret values: the client secret (from
//! the environment), the `Authorization: Basic` value and base64(id:secret) of the confidential
//! client, every authorization code, PKCE code verifier, device code and refresh token the
//! binary sent (as mockauth received them), and every access, refresh and ID token issued
//! (read back from the store after each step). None may appear in any stdout, stderr or log
//! output, in the event log, or in any file of the home directory (the database included). The
//! only output allowed to hold a token is `token`'s stdout, which is how a token is handed out.

use crate::diagnostics::QUICK_RETRIES;
use crate::login_device::is_user_code;
use crate::login_util::{Mock, Running, assert_nowhere_in_files, home_with, stored};
use crate::util::{Env, Run};
use base64::Engine as _;
use mockauth::{ClientConfig, Endpoint, FaultBody, FaultPlan, FaultSpec, GrantType};
use std::collections::BTreeSet;
use std::time::Duration;

const WEB: &str = "web";
const SVC: &str = "svc";
const SECRET: &str = "canary-client-secret-Q7v9xK2mZp4LwT8rN3sD";

/// What the run printed, and every secret it saw.
struct Canary {
    env: Env,
    outputs: Vec<(String, String)>,
    secrets: BTreeSet<String>,
    /// What was sent, by parameter name (for the checks that each kind was seen).
    sent: std::collections::BTreeMap<String, BTreeSet<String>>,
}

impl Canary {
    fn vars() -> Vec<(&'static str, &'static str)> {
        vec![
            ("SVC_SECRET", SECRET),
            ("TOKENWARDEN_TRACE_HTTP", "1"),
            ("NO_COLOR", "1"),
        ]
    }

    /// Runs `args` with `-vv` and `--trace-http` (through the environment); keeps all output.
    fn run(&mut self, profile: &str, args: &[&str]) -> Run {
        let mut full = vec!["--profile", profile, "-vv"];
        full.extend_from_slice(args);
        let r = self.env.run_env(&full, &Self::vars());
        self.outputs
            .push((format!("{} (stdout)", full.join(" ")), r.stdout.clone()));
        self.outputs
            .push((format!("{} (stderr)", full.join(" ")), r.stderr.clone()));
        self.collect();
        r
    }

    /// `token`: its stdout is the token (collected as a secret, not checked); stderr is kept.
    fn token(&mut self, profile: &str, args: &[&str]) -> Run {
        let mut full = vec!["--profile", profile, "-vv", "token"];
        full.extend_from_slice(args);
        let r = self.env.run_env(&full, &Self::vars());
        if r.code == 0 {
            self.secrets.insert(r.stdout.trim().to_string());
        }
        self.outputs
            .push((format!("{} (stderr)", full.join(" ")), r.stderr.clone()));
        self.collect();
        r
    }

    /// Every secret the binary sent to the token endpoint so far (as mockauth received it)
    /// becomes a known secret: codes, PKCE verifiers, device codes, refresh tokens, client
    /// secrets and `Authorization` values (whole, and the credentials after the scheme).
    fn collect_sent(&mut self, mock: &Mock) {
        for req in mock.server.received_token_requests() {
            for (k, v) in &req.params {
                if [
                    "code",
                    "code_verifier",
                    "device_code",
                    "refresh_token",
                    "client_secret",
                ]
                .contains(&k.as_str())
                {
                    self.sent.entry(k.clone()).or_default().insert(v.clone());
                    self.secrets.insert(v.clone());
                }
            }
            if let Some(a) = req.authorization {
                if let Some((_, cred)) = a.split_once(' ') {
                    self.secrets.insert(cred.to_string());
                }
                self.sent
                    .entry("authorization".into())
                    .or_default()
                    .insert(a.clone());
                self.secrets.insert(a);
            }
        }
    }

    /// `token` after the stored token was marked rejected (as an API's 401 does), so that it
    /// must refresh (or renew).
    fn forced_token(&mut self, profile: &str) -> Run {
        crate::login_util::reject_stored(&self.env, profile);
        self.token(profile, &[])
    }

    /// Every token stored now becomes a known secret.
    fn collect(&mut self) {
        for p in [WEB, SVC] {
            if let Some(t) = stored(&self.env, p) {
                self.secrets.insert(t.access_token.expose().to_string());
                if let Some(r) = &t.refresh_token {
                    self.secrets.insert(r.expose().to_string());
                }
                if let Some(i) = &t.id_token {
                    self.secrets.insert(i.expose().to_string());
                }
            }
        }
    }
}

#[test]
fn no_secret_leaks_anywhere() {
    let mock = Mock::start(
        mockauth::Config {
            auto_approve: true,
            access_ttl: Duration::from_secs(3600),
            rotate_refresh_tokens: true,
            // A timed-out refresh may still be processed after its retry: within the grace the
            // same successor comes back instead of the family being revoked.
            reuse_grace: Duration::from_secs(60),
            device_interval: Duration::from_secs(1),
            ..mockauth::Config::default()
        }
        .with_client(
            ClientConfig::confidential(SVC, SECRET)
                .with_grant_types(&[GrantType::ClientCredentials]),
        ),
    );
    let issuer = mock.issuer();
    let resource = mock.server.url("/v1/messages");
    let env = home_with(&[
        format!(
            "[profiles.{WEB}]\nissuer = \"{issuer}\"\nclient_id = \"cli\"\n\
             redirect_uri = \"http://127.0.0.1/callback\"\nscopes = [\"openid\", \"offline_access\"]\n\
             resource = \"{resource}\"\ntimeout = \"2s\"\n{QUICK_RETRIES}"
        ),
        format!(
            "[profiles.{SVC}]\nissuer = \"{issuer}\"\nclient_id = \"{SVC}\"\n\
             client_secret_env = \"SVC_SECRET\"\nclient_auth = \"client_secret_basic\"\n\
             grant = \"client_credentials\"\n{QUICK_RETRIES}"
        ),
    ]);
    // The confidential client's HTTP Basic credentials (RFC 6749 §2.3.1: each part
    // form-urlencoded, then base64).
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        url_encode(SVC),
        url_encode(SECRET)
    ));
    let mut c = Canary {
        env,
        outputs: Vec::new(),
        secrets: BTreeSet::from([SECRET.to_string(), basic.clone(), format!("Basic {basic}")]),
        sent: Default::default(),
    };

    // A browser login with trace and -vv; the code is taken from the redirect, then delivered.
    let mut login = Running::spawn(
        &c.env,
        &[
            "--profile",
            WEB,
            "-vv",
            "login",
            "--no-browser",
            "--timeout",
            "30s",
        ],
        &Canary::vars(),
    );
    let url = login.url();
    let callback = mock.location(&url);
    let code = crate::login_util::param(&callback, "code");
    c.secrets.insert(code);
    let (status, _) = mock.get(&callback);
    assert_eq!(status, 200);
    let r = login.finish();
    r.code(0);
    c.outputs.push(("login (stdout)".into(), r.stdout));
    c.outputs.push(("login (stderr)".into(), r.stderr));
    c.collect();
    c.run(SVC, &["login", "--client-credentials"]).code(0);

    // Many refreshes, each rotating the refresh token.
    for _ in 0..6 {
        c.forced_token(WEB).code(0);
        c.forced_token(SVC).code(0);
    }

    // A device-flow login (the device code is polled with, never shown).
    let mut login = Running::spawn(
        &c.env,
        &[
            "--profile",
            WEB,
            "-vv",
            "login",
            "--device",
            "--timeout",
            "30s",
        ],
        &Canary::vars(),
    );
    login.line("user code", is_user_code);
    let r = login.finish();
    r.code(0);
    c.outputs.push(("device login (stdout)".into(), r.stdout));
    c.outputs.push(("device login (stderr)".into(), r.stderr));
    c.collect();
    c.forced_token(WEB).code(0);

    // Faults of every kind on the refresh.
    let faults = [
        FaultSpec::status(500),
        FaultSpec::status(503).retry_after(1),
        FaultSpec::status(429).retry_after(1),
        FaultSpec::status(502).body(FaultBody::Html),
        FaultSpec::status(500).body(FaultBody::Empty),
        FaultSpec::status(500).body(FaultBody::MalformedJson),
        FaultSpec::status(500).body(FaultBody::Huge),
        FaultSpec::status(400).oauth_error("invalid_request"),
        FaultSpec::status(401).oauth_error("invalid_client"),
        FaultSpec::status(200).body(FaultBody::MalformedJson),
        FaultSpec {
            latency_ms: Some(2_500),
            ..FaultSpec::default()
        },
    ];
    for spec in faults {
        mock.server
            .set_faults(FaultPlan::default().with(Endpoint::Token, spec.count(1)))
            .expect("fault");
        c.forced_token(WEB);
        mock.server.clear_faults();
        c.forced_token(WEB).code(0);
    }
    // Every fault on the client-credentials grant and on discovery.
    mock.server
        .set_faults(FaultPlan::default().with(Endpoint::Token, FaultSpec::status(503).count(1)))
        .expect("fault");
    c.forced_token(SVC).code(0);
    mock.server
        .set_faults(FaultPlan::default().with(Endpoint::Discovery, FaultSpec::status(500)))
        .expect("fault");
    c.forced_token(WEB);
    c.run(WEB, &["doctor"]);
    mock.server.clear_faults();

    // A lost rotation: the server rotates, the answer is lost, the retry presents the old token.
    mock.server
        .set_faults(
            FaultPlan::default().with(Endpoint::Token, FaultSpec::status(502).count(1).processed()),
        )
        .expect("fault");
    c.forced_token(WEB);
    mock.server.clear_faults();

    // Log in again, then the resource rejects tokens: early revocation, then always.
    let mut login = Running::spawn(
        &c.env,
        &[
            "--profile",
            WEB,
            "-vv",
            "login",
            "--no-browser",
            "--timeout",
            "30s",
        ],
        &Canary::vars(),
    );
    let url = login.url();
    let callback = mock.location(&url);
    let code = crate::login_util::param(&callback, "code");
    c.secrets.insert(code);
    let (status, _) = mock.get(&callback);
    assert_eq!(status, 200);
    let r = login.finish();
    r.code(0);
    c.outputs.push(("second login (stdout)".into(), r.stdout));
    c.outputs.push(("second login (stderr)".into(), r.stderr));
    c.collect();
    mock.server.revoke_all();
    c.run(WEB, &["request"]).code(0);
    mock.server
        .set_faults(FaultPlan::default().with(Endpoint::Resource, FaultSpec::status(401)))
        .expect("fault");
    c.run(WEB, &["request"]).code(5);
    c.run(WEB, &["doctor", "--live"]).code(1);
    mock.server
        .set_faults(FaultPlan::default().with_clock_skew(90))
        .expect("fault");
    c.run(WEB, &["doctor", "--json"]).code(1);
    mock.server.clear_faults();

    // Every diagnostic view.
    c.run(WEB, &["doctor", "--live"]).code(0);
    c.run(SVC, &["doctor", "--json"]).code(0);
    c.run(WEB, &["doctor", "--curl"]).code(0);
    c.run(SVC, &["doctor", "--curl"]).code(0);
    c.run(WEB, &["doctor", "--all", "--json"]).code(0);
    let events = c.run(WEB, &["events", "--all", "--json"]);
    events.code(0);
    c.run(WEB, &["events"]).code(0);
    c.run(WEB, &["stats", "--json"]).code(0);
    c.run(WEB, &["stats"]).code(0);
    c.run(WEB, &["status", "--json"]).code(0);
    c.run(WEB, &["status"]).code(0);

    // A refused session, then logout (revocations).
    mock.server.revoke_sessions();
    c.forced_token(WEB).code(3);
    c.run(WEB, &["doctor"]).code(1);
    c.run(SVC, &["logout"]).code(0);

    // Everything the binary sent to the token endpoint is a known secret too; each kind was
    // seen: the codes of both browser logins with their PKCE verifiers, the device code, the
    // refresh tokens, and the confidential client's Basic credentials.
    c.collect_sent(&mock);
    let seen = |k: &str| c.sent.get(k).map_or(0, BTreeSet::len);
    assert!(seen("code") >= 2, "{:?}", c.sent.keys());
    assert!(seen("code_verifier") >= 2, "{:?}", c.sent.keys());
    assert!(seen("device_code") >= 1, "{:?}", c.sent.keys());
    assert!(seen("refresh_token") >= 6, "{:?}", c.sent.keys());
    assert!(
        c.sent
            .get("authorization")
            .is_some_and(|a| a.contains(&format!("Basic {basic}"))),
        "the Basic credentials were not the ones expected"
    );

    // The run did what it says: tokens were issued and rotated, faults seen, events recorded.
    let list = events.json();
    let n = list.as_array().map_or(0, Vec::len);
    assert!(n > 30, "only {n} events:\n{}", events.stdout);
    assert!(
        c.secrets.len() > 40,
        "only {} secrets seen",
        c.secrets.len()
    );
    let joined: String = c.outputs.iter().map(|(_, o)| o.as_str()).collect();
    assert!(joined.contains("[redacted len="), "no trace output at all");
    assert!(
        joined.contains("correlation_id"),
        "no -vv log output at all"
    );

    // The outputs did talk about these very secrets, as fingerprints: the set is the real one.
    let fingerprinted = c
        .secrets
        .iter()
        .filter(|s| joined.contains(&tokenwarden::secret::fingerprint(s)))
        .count();
    assert!(
        fingerprinted > 20,
        "only {fingerprinted} secrets show up as fingerprints"
    );

    for secret in &c.secrets {
        assert!(
            secret.len() >= 16,
            "a short secret would match by chance: {secret}"
        );
        for (what, out) in &c.outputs {
            assert!(
                !out.contains(secret.as_str()),
                "a secret ({}) appears in the output of `{what}`:\n{out}",
                tokenwarden::secret::fingerprint(secret)
            );
        }
        assert_nowhere_in_files(&c.env, secret, "known secret");
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn url_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
