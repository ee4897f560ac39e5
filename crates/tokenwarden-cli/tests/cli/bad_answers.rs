//! A provider's bad answer, through the real binary: a malformed token response is a protocol
//! error (exit 1) that prints nothing on stdout and loses nothing stored; an ID token that comes
//! with a refresh is ignored with a warning unless verified; `request` sends the bearer only
//! where it belongs (exit 2 otherwise); an inline secret in a config.toml others may read is
//! refused with the `chmod`.

use crate::login_util::{Mock, home_with, login_browser, reject_stored, stored, web_profile};
use base64::Engine as _;
use std::time::SystemTime;

/// A logged-in home for the profile `h` of `mock`, with `extra` profile keys.
fn logged_in(mock: &Mock, extra: &str) -> crate::util::Env {
    let env = home_with(&[format!("{}{extra}", web_profile("h", &mock.issuer()))]);
    login_browser(&env, mock, "h").code(0);
    env
}

fn raw_once(mock: &Mock, status: u16, body: &str) {
    mock.server
        .set_faults(mockauth::FaultPlan::default().with(
            mockauth::Endpoint::Token,
            mockauth::FaultSpec::raw(status, body).count(1),
        ))
        .expect("valid plan");
}

#[test]
fn malformed_token_responses_are_protocol_errors_and_lose_nothing() {
    let mock = Mock::auto();
    let env = logged_in(&mock, "");
    let cases = [
        (
            r#"{"access_token":"s3cr3t\r\nX-Injected: 1","token_type":"Bearer","expires_in":60,"refresh_token":"r1"}"#,
            "access_token",
        ),
        (
            r#"{"access_token":"s3cr3t","token_type":"Bearer","expires_in":-3600,"refresh_token":"r2"}"#,
            "expires_in",
        ),
        (
            r#"{"access_token":"s3cr3t","token_type":"mac","expires_in":60,"refresh_token":"r3"}"#,
            "token_type",
        ),
        (
            r#"{"access_token":12345,"token_type":"Bearer","expires_in":60,"refresh_token":"r4"}"#,
            "access_token",
        ),
        (
            r#"{"access_token":"s3cr3t","token_type":"DPoP","expires_in":60}"#,
            "DPoP",
        ),
    ];
    for (body, field) in cases {
        let before = stored(&env, "h").expect("logged in");
        reject_stored(&env, "h");
        raw_once(&mock, 200, body);
        let run = env.run(&["--profile", "h", "token"]);
        run.code(1);
        assert!(run.stdout.is_empty(), "{body}: stdout: {:?}", run.stdout);
        assert!(
            run.stderr.contains(field),
            "{body}: no `{field}` in {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("s3cr3t") && !run.stderr.contains('\r'),
            "{body}: {:?}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        let after = stored(&env, "h").expect("still logged in");
        assert_eq!(after.refresh_token, before.refresh_token, "{body}");
        assert_eq!(after.access_token, before.access_token, "{body}");
        // The next healthy refresh works with what was stored.
        mock.server.clear_faults();
        let run = env.run(&["--profile", "h", "token"]);
        run.code(0);
        assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
        assert!(!run.stdout.contains("s3cr3t"));
    }
}

#[test]
fn a_malformed_token_response_is_a_json_protocol_error() {
    let mock = Mock::auto();
    let env = logged_in(&mock, "");
    reject_stored(&env, "h");
    raw_once(
        &mock,
        200,
        r#"{"access_token":"s3cr3t","token_type":"Bearer x","expires_in":60}"#,
    );
    let run = env.run(&["--profile", "h", "--json", "token"]);
    run.code(1);
    assert!(run.stdout.is_empty());
    let doc: serde_json::Value = serde_json::from_str(run.stderr.trim()).expect("one JSON error");
    assert_eq!(doc["error"]["kind"], "protocol");
    assert_eq!(doc["error"]["exit_code"], 1);
    assert_eq!(doc["error"]["status"], 200);
    let message = doc["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("token_type"), "{message}");
    assert!(!run.stderr.contains("s3cr3t"), "{}", run.stderr);
}

/// An ID token that looks like the provider's but is signed by no key of its JWKS.
fn forged_id_token(issuer: &str) -> String {
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let header = b64(serde_json::json!({"alg": "ES256", "typ": "JWT"}));
    let claims = b64(serde_json::json!({
        "iss": issuer, "sub": "attacker", "aud": "cli", "iat": now, "exp": now + 3600
    }));
    format!("{header}.{claims}.{}", "A".repeat(86))
}

#[test]
fn an_unverifiable_id_token_from_a_refresh_is_ignored_with_a_warning() {
    let mock = Mock::auto();
    let env = logged_in(&mock, "");
    let login = stored(&env, "h").expect("logged in");
    assert_eq!(login.subject.as_deref(), Some("mock-user"));

    // A genuine refresh: its ID token is verified and kept, silently.
    reject_stored(&env, "h");
    let run = env.run(&["--profile", "h", "token"]);
    run.code(0);
    assert!(!run.stderr.contains("ID token"), "{}", run.stderr);
    assert!(stored(&env, "h").expect("stored").id_token.is_some());

    // A forged one: the refresh stands, the ID token is dropped with a warning.
    reject_stored(&env, "h");
    let body = serde_json::json!({
        "access_token": "at-after-forged-id", "token_type": "Bearer", "expires_in": 3600,
        "id_token": forged_id_token(&mock.issuer()),
    })
    .to_string();
    raw_once(&mock, 200, &body);
    let run = env.run(&["--profile", "h", "token"]);
    run.code(0);
    assert_eq!(run.stdout.trim(), "at-after-forged-id");
    assert!(
        run.stderr.contains("ID token") && run.stderr.contains("ignored"),
        "no warning: {}",
        run.stderr
    );
    let after = stored(&env, "h").expect("stored");
    assert_eq!(after.subject.as_deref(), Some("mock-user"));
    assert_eq!(after.issuer, login.issuer);
    assert_eq!(after.id_token, None);
    let status = env.run(&["--profile", "h", "--json", "status"]);
    status.code(0);
    assert!(!status.stdout.contains("attacker"), "{}", status.stdout);
}

#[test]
fn request_sends_the_bearer_only_where_it_belongs() {
    let mock = Mock::auto();
    let resource = mock.server.url("/v1/messages");
    let env = logged_in(&mock, &format!("resource = \"{resource}\"\n"));
    // The profile's resource: sent.
    let run = env.run(&["--profile", "h", "request"]);
    run.code(0);

    // Plain http to a host that is not loopback: refused before anything is sent.
    let run = env.run(&[
        "--profile",
        "h",
        "request",
        "http://api.example.invalid/v1/messages",
    ]);
    run.code(2);
    assert!(
        run.stderr.contains("plain http") && run.stderr.contains("api.example.invalid"),
        "{}",
        run.stderr
    );

    // Another origin (another server on loopback): refused, and it receives nothing.
    let other = Mock::auto();
    let foreign = other.server.url("/v1/messages");
    let run = env.run(&["--profile", "h", "request", &foreign]);
    run.code(2);
    let origin = other.issuer();
    assert!(
        run.stderr.contains(&origin) && run.stderr.contains(&format!("--allow-origin {origin}")),
        "{}",
        run.stderr
    );
    let seen = other.server.stats().resource_requests;
    assert_eq!(seen.ok + seen.unauthorized + seen.bad_request, 0);

    // Allowed explicitly: sent (that server does not know the token: 401, then 5).
    let run = env.run(&[
        "--profile",
        "h",
        "request",
        "--allow-origin",
        &origin,
        &foreign,
    ]);
    assert_ne!(run.code, 2, "{}", run.stderr);
    assert!(other.server.stats().resource_requests.unauthorized > 0);

    // An --allow-origin that is not an origin is a usage error.
    let run = env.run(&[
        "--profile",
        "h",
        "request",
        "--allow-origin",
        &foreign,
        &foreign,
    ]);
    run.code(2);
    assert!(run.stderr.contains("not an origin"), "{}", run.stderr);

    // --json: the refusal is a usage error document.
    let run = env.run(&["--profile", "h", "--json", "request", &foreign]);
    run.code(2);
    let doc: serde_json::Value = serde_json::from_str(run.stderr.trim()).expect("one JSON error");
    assert_eq!(doc["error"]["kind"], "usage");
    assert_eq!(doc["error"]["exit_code"], 2);
}

#[cfg(unix)]
#[test]
fn an_inline_secret_in_a_config_others_can_read_is_refused_with_the_chmod() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = home_with(&["[profiles.svc]\ntoken_endpoint = \"http://127.0.0.1:9/token\"\nclient_id = \"svc\"\nclient_secret = \"s3cr3t-inline\"\ngrant = \"client_credentials\"\n".to_string()]);
    std::fs::set_permissions(env.config(), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let run = env.run(&["--profile", "svc", "token"]);
    run.code(2);
    let want = format!("chmod 600 {}", env.config().display());
    assert!(run.stderr.contains(&want), "no `{want}` in {}", run.stderr);
    assert!(!run.stderr.contains("s3cr3t"), "{}", run.stderr);
    // Made private, it is accepted (with the warning an inline secret always gets).
    std::fs::set_permissions(env.config(), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let run = env.run(&["--profile", "svc", "token"]);
    assert_ne!(run.code, 2, "{}", run.stderr);
}
