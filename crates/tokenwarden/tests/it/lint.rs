//! The redirect-URI lint: each kind of difference is named in words, loopback IP ports may vary
//! (RFC 8252 §7.3), and a mismatch in config.toml is a Config error saying what differs.

use std::path::Path;
use tokenwarden::config::{Config, RedirectDifference as D, lint_redirect_uri, redirect_matches};
use tokenwarden::error::Cause;

fn lint(configured: &str, registered: &[&str]) -> Option<(Vec<D>, String)> {
    let reg: Vec<String> = registered.iter().map(|s| s.to_string()).collect();
    lint_redirect_uri(configured, &reg).map(|m| (m.differences.clone(), m.to_string()))
}

#[test]
fn exact_matches_and_loopback_ports_pass() {
    assert!(lint("http://127.0.0.1/callback", &["http://127.0.0.1/callback"]).is_none());
    assert!(
        lint(
            "http://127.0.0.1:49152/callback",
            &["http://127.0.0.1/callback"]
        )
        .is_none()
    );
    assert!(lint("http://[::1]:8080/cb", &["http://[::1]/cb"]).is_none());
    assert!(
        lint("https://app.example/cb", &[]).is_none(),
        "nothing registered: no lint"
    );
    assert!(!redirect_matches(
        "http://localhost:8080/cb",
        "http://localhost/cb"
    ));
}

#[test]
fn trailing_slash() {
    let (d, msg) =
        lint("http://127.0.0.1/callback/", &["http://127.0.0.1/callback"]).expect("mismatch");
    assert_eq!(
        d,
        vec![D::TrailingSlash {
            configured_has_it: true
        }]
    );
    assert!(msg.contains("trailing slash"), "{msg}");
    let (d, _) = lint("https://app.example", &["https://app.example/"]).expect("mismatch");
    assert_eq!(
        d,
        vec![D::TrailingSlash {
            configured_has_it: false
        }]
    );
}

#[test]
fn scheme() {
    let (d, msg) = lint("http://app.example/cb", &["https://app.example/cb"]).expect("mismatch");
    assert!(
        matches!(&d[..], [D::Scheme { configured, registered }] if configured == "http" && registered == "https")
    );
    assert!(
        msg.contains("`http` where the registered URI uses `https`"),
        "{msg}"
    );
}

#[test]
fn localhost_vs_ip_literals() {
    let (d, msg) =
        lint("http://localhost/callback", &["http://127.0.0.1/callback"]).expect("mismatch");
    assert!(matches!(&d[..], [D::Host { .. }]), "{d:?}");
    assert!(
        msg.contains("`localhost`") && msg.contains("`127.0.0.1`") && msg.contains("[::1]"),
        "{msg}"
    );
    let (_, msg) = lint("http://[::1]/callback", &["http://127.0.0.1/callback"]).expect("mismatch");
    assert!(
        msg.contains("`[::1]` where the registered URI has `127.0.0.1`"),
        "{msg}"
    );
}

#[test]
fn path_case_query_port_and_fragment() {
    let (d, msg) = lint(
        "https://app.example/Callback",
        &["https://app.example/callback"],
    )
    .expect("mismatch");
    assert!(matches!(&d[..], [D::PathCase { .. }]), "{d:?}");
    assert!(msg.contains("letter case"), "{msg}");
    let (d, msg) =
        lint("https://app.example/cb?x=1", &["https://app.example/cb"]).expect("mismatch");
    assert!(matches!(&d[..], [D::Query { .. }]), "{d:?}");
    assert!(msg.contains("query string `?x=1`"), "{msg}");
    let (d, msg) =
        lint("https://app.example:8443/cb", &["https://app.example/cb"]).expect("mismatch");
    assert!(
        matches!(
            &d[..],
            [D::Port {
                configured: Some(8443),
                registered: None
            }]
        ),
        "{d:?}"
    );
    assert!(msg.contains("port 8443"), "{msg}");
    let (d, _) = lint("http://localhost:8080/cb", &["http://localhost:9090/cb"]).expect("mismatch");
    assert!(
        matches!(&d[..], [D::Port { .. }]),
        "localhost ports may not vary: {d:?}"
    );
    let (d, _) = lint("https://app.example/other", &["https://app.example/cb"]).expect("mismatch");
    assert!(matches!(&d[..], [D::Path { .. }]), "{d:?}");
}

#[test]
fn the_closest_registered_uri_is_compared() {
    let m = lint_redirect_uri(
        "http://127.0.0.1/callback/",
        &[
            "https://prod.example/cb".to_string(),
            "http://127.0.0.1/callback".to_string(),
        ],
    )
    .expect("mismatch");
    assert_eq!(m.closest, "http://127.0.0.1/callback");
    assert!(m.hint().contains("exactly `http://127.0.0.1/callback`"));
}

#[test]
fn a_mismatch_in_config_is_a_config_error() {
    let c = Config::parse(
        Path::new("/c/config.toml"),
        "[profiles.gamma]\nissuer = \"http://127.0.0.1:8080\"\nclient_id = \"cli\"\n\
         redirect_uri = \"http://127.0.0.1/callback/\"\nregistered_redirect_uris = [\"http://127.0.0.1/callback\"]\n",
    )
    .expect("toml");
    let e = c.profile("gamma").expect_err("lint");
    assert_eq!(e.kind().exit_code(), 2);
    assert_eq!(e.cause(), Some(Cause::RedirectMismatch));
    assert!(
        e.message().contains("line 4, column 1: redirect_uri"),
        "{}",
        e.message()
    );
    assert!(e.message().to_lowercase().contains("trailing slash"));
    assert!(e.hint().unwrap_or("").contains("exact strings"));
}
