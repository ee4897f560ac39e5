//! Providers as they really are, with the real binary: processes sharing a login against a
//! provider that revokes the previous access token on refresh and answers a dead token with a
//! bare 403 (with `request`, and scripts sending what `token` printed); `request` sending the
//! profile's API headers; `profile add` checking the issuer's discovery document and suggesting
//! the path it lacks.

use crate::login::{Mock, home_with, login_browser, web_profile};
use crate::sessions::{all_ok, loop_workers};
use std::time::Duration;

/// mockauth that kills the previous access token of a grant when it is refreshed, and answers
/// a dead token with a bare 403; access tokens live `access_ttl`.
fn revoking(access_ttl: Duration) -> Mock {
    Mock::start(mockauth::Config {
        auto_approve: true,
        access_ttl,
        rotate_refresh_tokens: true,
        revoke_previous_on_refresh: true,
        dead_token_status: mockauth::DeadTokenStatus::Forbidden,
        ..mockauth::Config::default()
    })
}

#[test]
fn processes_sharing_a_login_never_fail_against_a_provider_that_revokes_on_refresh() {
    let mock = revoking(Duration::from_secs(2));
    let issuer = mock.issuer();
    let env = home_with(&[format!(
        "{}resource = \"{issuer}/v1/messages\"\nrefresh_revokes_previous_access_token = true\n",
        web_profile("r", &issuer)
    )]);
    login_browser(&env, &mock, "r").code(0);
    let runs = loop_workers(
        &env,
        8,
        Duration::from_secs(6),
        &["--profile", "r", "request"],
    );
    all_ok(&runs);
    let stats = mock.server.stats();
    assert!(
        stats.token_requests.refresh_token >= 2,
        "the run crossed several refreshes: {stats:?}"
    );
    assert_eq!(stats.refresh_reuse_detected, 0, "{stats:?}");
    assert!(runs.len() >= 16, "{} runs", runs.len());
}

/// Scripts that run `tokenwarden token` and send the token themselves (no retry): a token
/// handed out just before a refresh starts must outlive the moment its user sends it.
#[test]
fn scripts_sending_the_token_themselves_never_fail_against_a_provider_that_revokes_on_refresh() {
    let mock = revoking(Duration::from_secs(2));
    let issuer = mock.issuer();
    let env = home_with(&[format!(
        "{}refresh_revokes_previous_access_token = true\n",
        web_profile("r", &issuer)
    )]);
    login_browser(&env, &mock, "r").code(0);
    let start = std::time::Instant::now();
    let outcomes: Vec<(i32, u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let mut seen = Vec::new();
                    while start.elapsed() < Duration::from_secs(6) {
                        let run = env.run(&["--profile", "r", "token"]);
                        let status = if run.code == 0 {
                            mock.resource_status(run.stdout.trim())
                        } else {
                            0
                        };
                        seen.push((run.code, status, run.stderr));
                    }
                    seen
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|(c, s, _)| *c != 0 || *s != 200)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} calls failed; first: {:?}",
        failed.len(),
        outcomes.len(),
        failed[0]
    );
    let stats = mock.server.stats();
    assert!(
        stats.token_requests.refresh_token >= 2,
        "the run crossed several refreshes: {stats:?}"
    );
    assert!(outcomes.len() >= 16, "{} calls", outcomes.len());
}

#[test]
fn request_sends_the_profiles_api_headers() {
    let mock = Mock::start(mockauth::Config {
        auto_approve: true,
        required_resource_headers: vec![
            "anthropic-beta: oauth-2025-04-20"
                .parse()
                .expect("a header"),
        ],
        ..mockauth::Config::default()
    });
    let issuer = mock.issuer();
    let env = home_with(&[format!(
        "{}resource = \"{issuer}/v1/messages\"\n\
         resource_headers = {{ \"anthropic-beta\" = \"oauth-2025-04-20\", \"X-Secret-Thing\" = {{ value = \"hush-hush-value\", secret = true }} }}\n",
        web_profile("h", &issuer)
    )]);
    login_browser(&env, &mock, "h").code(0);
    let r = env.run(&["--profile", "h", "--trace-http", "request"]);
    r.code(0);
    assert!(
        r.stderr.contains("anthropic-beta: oauth-2025-04-20"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("x-secret-thing: [redacted"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hush-hush-value") && !r.stdout.contains("hush-hush-value"));
    // A header given on the command line replaces the profile's.
    let r = env.run(&[
        "--profile",
        "h",
        "request",
        "-H",
        "anthropic-beta: something-else",
    ]);
    r.code(1);
    assert!(r.stdout.contains("missing required header"), "{}", r.stdout);
}

#[test]
fn profile_add_suggests_the_path_an_issuer_lacks() {
    let mock = Mock::start(mockauth::Config {
        auto_approve: true,
        issuer_path: Some("/oauth".into()),
        metadata_location: mockauth::MetadataLocation::Appended,
        ..mockauth::Config::default()
    });
    let issuer = mock.issuer();
    let host = issuer.trim_end_matches("/oauth").to_string();
    let env = crate::util::Env::new();
    let add = |issuer: &str, extra: &[&str]| {
        let mut args = vec![
            "profile",
            "add",
            "p",
            "--issuer",
            issuer,
            "--client-id",
            "cli",
        ];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    let r = add(&host, &[]);
    r.code(2);
    assert!(
        r.stderr.contains("publishes no discovery document there")
            && r.stderr.contains(&format!("--issuer {issuer}")),
        "{}",
        r.stderr
    );
    assert!(!env.config().exists(), "nothing written");
    // --offline adds it as given.
    add(&host, &["--offline"]).code(0);
    // The right issuer passes the check.
    add(&issuer, &["--force"]).code(0);
    assert!(
        env.read_config()
            .contains(&format!("issuer = \"{issuer}\""))
    );
    // A host that cannot be reached: a warning, and the profile is added.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let r = add(&format!("http://127.0.0.1:{closed}"), &["--force"]);
    r.code(0);
    assert!(
        r.stderr.contains("could not check the discovery document"),
        "{}",
        r.stderr
    );
}
