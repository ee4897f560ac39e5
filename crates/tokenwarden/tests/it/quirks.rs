//! Each provider quirk, tested against mockauth set up to behave like that provider, with the
//! preset pointed at mockauth through the profile's endpoint overrides.

use crate::util;
use mockauth::{ClientConfig, TokenRequestFormat, TokenResponseFormat};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokenwarden::ErrorKind;
use tokenwarden::config::{Config, Profile};
use tokenwarden::error::Cause;
use tokenwarden::http::{TraceEvent, Tracer};
use tokenwarden::secret::AuthorizationCode;

const REDIRECT: &str = "http://127.0.0.1:5555/callback";

fn preset_profile(server: &mockauth::ServerHandle, provider: &str, client_id: &str) -> Profile {
    let text = format!(
        "[profiles.p]\nprovider = \"{provider}\"\nclient_id = \"{client_id}\"\n\
         authorization_endpoint = \"{}\"\ntoken_endpoint = \"{}\"\n\
         device_authorization_endpoint = \"{}\"\nrevocation_endpoint = \"{}\"\n\
         scopes = [\"openid\", \"offline_access\"]\n",
        server.url("/authorize"),
        server.url("/token"),
        server.url("/device_authorization"),
        server.url("/revoke"),
    );
    Config::parse(Path::new("/t/config.toml"), &text)
        .and_then(|c| c.profile("p"))
        .expect("preset profile")
        .profile
}

/// Records request bodies and response content types.
#[derive(Default)]
struct Seen {
    bodies: Mutex<Vec<String>>,
    headers: Mutex<Vec<(String, String)>>,
    content_types: Mutex<Vec<Option<String>>>,
}

impl Tracer for Seen {
    fn trace(&self, event: &TraceEvent<'_>) {
        match event {
            TraceEvent::Request { body, headers, .. } => {
                self.bodies.lock().expect("lock").push(body.clone());
                self.headers
                    .lock()
                    .expect("lock")
                    .extend(headers.iter().cloned());
            }
            TraceEvent::Response { evidence, .. } => {
                self.content_types
                    .lock()
                    .expect("lock")
                    .push(evidence.content_type.clone());
            }
            _ => {}
        }
    }
}

fn traced(profile: Profile) -> (tokenwarden::TokenClient, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let client = tokenwarden::TokenClient::builder(profile)
        .tracer(seen.clone())
        .build()
        .expect("client");
    (client, seen)
}

#[tokio::test]
async fn anthropic_sends_json_bodies_with_state() {
    let json_only = ClientConfig::public("claude", &["http://127.0.0.1/callback"])
        .with_token_request_format(TokenRequestFormat::Json);
    let server = util::mock(vec![json_only]).await;
    let (client, seen) = traced(preset_profile(&server, "anthropic", "claude"));
    let (code, verifier) = util::authorize(&server, "claude", REDIRECT).await;
    client
        .exchange_code(code, REDIRECT, Some(verifier), Some("st"))
        .await
        .expect("JSON exchange accepted");
    let body = seen.bodies.lock().expect("lock")[0].clone();
    assert!(
        body.starts_with('{') && body.contains("\"state\":\"st\""),
        "{body}"
    );

    // The same server refuses a form body: the quirk is what makes it work.
    let generic = util::client(util::profile(&server, "claude"), None);
    let (code, verifier) = util::authorize(&server, "claude", REDIRECT).await;
    let e = generic
        .client
        .exchange_code(code, REDIRECT, Some(verifier), None)
        .await
        .expect_err("form refused");
    assert_eq!(e.kind(), ErrorKind::Config, "{}", e.report());
}

#[tokio::test]
async fn github_accept_json_form_responses_and_tokens_that_never_expire() {
    let mut gh = ClientConfig::public("gh", &["http://127.0.0.1/callback"])
        .with_token_response_format(TokenResponseFormat::FormUnlessAcceptJson);
    gh.omit_expires_in = true;
    gh.errors_with_status_200 = true;
    let server = util::mock(vec![gh]).await;

    // The preset sends Accept: application/json and gets JSON.
    let (client, seen) = traced(preset_profile(&server, "github", "gh"));
    let (code, verifier) = util::authorize(&server, "gh", REDIRECT).await;
    let again = AuthorizationCode::new(code.expose());
    let again_verifier = tokenwarden::secret::PkceVerifier::new(verifier.expose());
    let t = client
        .exchange_code(code, REDIRECT, Some(verifier), None)
        .await
        .expect("exchange");
    assert_eq!(
        t.expires_at, None,
        "no expires_in: the token does not expire"
    );
    assert!(
        seen.headers
            .lock()
            .expect("lock")
            .contains(&("Accept".into(), "application/json".into()))
    );
    let ct = seen.content_types.lock().expect("lock")[0]
        .clone()
        .unwrap_or_default();
    assert!(ct.contains("json"), "{ct}");

    // An error with status 200 is still an error.
    let e = client
        .exchange_code(again, REDIRECT, Some(again_verifier), None)
        .await
        .expect_err("code reuse");
    assert_eq!(e.status(), Some(200));
    assert_eq!(e.kind(), ErrorKind::LoginRequired);
    assert_eq!(e.cause(), Some(Cause::CodeExpiredOrReused));

    // Without the header the body is form-encoded, and is still read.
    let (plain, seen) = traced(util::profile(&server, "gh"));
    let (code, verifier) = util::authorize(&server, "gh", REDIRECT).await;
    let t = plain
        .exchange_code(code, REDIRECT, Some(verifier), None)
        .await
        .expect("form response parsed");
    assert!(!t.access_token.expose().is_empty());
    let ct = seen.content_types.lock().expect("lock")[0]
        .clone()
        .unwrap_or_default();
    assert!(ct.contains("x-www-form-urlencoded"), "{ct}");
}

#[tokio::test]
async fn loose_token_responses_are_read() {
    let mut c = ClientConfig::public("loose", &["http://127.0.0.1/callback"]);
    c.expires_in_as_string = true;
    c.omit_token_type = true;
    let mut d = ClientConfig::public("lower", &["http://127.0.0.1/callback"]);
    d.lowercase_token_type = true;
    let server = util::mock(vec![c, d]).await;
    for id in ["loose", "lower"] {
        let h = util::client(util::profile(&server, id), None);
        let (code, verifier) = util::authorize(&server, id, REDIRECT).await;
        let t = h
            .client
            .exchange_code(code, REDIRECT, Some(verifier), None)
            .await
            .expect("exchange");
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(
            t.expires_at,
            Some(util::t0() + std::time::Duration::from_secs(3600))
        );
        assert_eq!(
            t.scopes,
            vec!["openid".to_string(), "offline_access".to_string()]
        );
    }
}

#[tokio::test]
async fn microsoft_sends_scope_on_refresh() {
    let server = util::mock(vec![]).await;
    let (client, seen) = traced(preset_profile(&server, "microsoft", "cli"));
    let (code, verifier) = util::authorize(&server, "cli", REDIRECT).await;
    let t = client
        .exchange_code(code, REDIRECT, Some(verifier), None)
        .await
        .expect("exchange");
    client
        .refresh(t.refresh_token.as_ref().expect("rt"))
        .await
        .expect("refresh");
    let bodies = seen.bodies.lock().expect("lock").clone();
    let refresh = bodies
        .iter()
        .find(|b| b.contains("grant_type=refresh_token"))
        .expect("refresh sent");
    assert!(refresh.contains("scope=openid offline_access"), "{refresh}");
    // Plain RFC profiles do not.
    let (client, seen) = traced(util::profile(&server, "cli"));
    client
        .refresh(&t.refresh_token.clone().expect("rt"))
        .await
        .ok();
    assert!(!seen.bodies.lock().expect("lock")[0].contains("scope="));
}

#[tokio::test]
async fn presets_without_revocation_say_so_without_discovery() {
    for provider in ["github", "microsoft"] {
        let text = format!("[profiles.p]\nprovider = \"{provider}\"\nclient_id = \"c\"\n");
        let p = Config::parse(Path::new("/t/config.toml"), &text)
            .and_then(|c| c.profile("p"))
            .expect("preset profile")
            .profile;
        let client = tokenwarden::TokenClient::new(p).expect("client");
        let r = client
            .revoke("t", tokenwarden::http::TokenTypeHint::AccessToken)
            .await
            .expect("no request is made");
        assert_eq!(r, tokenwarden::http::client::Revocation::NotSupported);
    }
}

#[tokio::test]
async fn google_posts_the_client_secret_in_the_body() {
    let mut g = ClientConfig::confidential("g", "g-secret")
        .with_redirect_uris(&["http://127.0.0.1/callback"])
        .with_grant_types(&[
            mockauth::GrantType::AuthorizationCode,
            mockauth::GrantType::RefreshToken,
        ]);
    g.auth_methods = vec![mockauth::ClientAuthMethod::ClientSecretPost];
    g.require_pkce = true;
    let server = util::mock(vec![g]).await;
    // The issuer too is mockauth's: a refresh's ID token is verified with its keys, and
    // nothing is asked of the real Google.
    let text = format!(
        "[profiles.p]\nprovider = \"google\"\nclient_id = \"g\"\n\
         client_secret_env = \"TW_TEST_GOOGLE_SECRET_UNSET\"\n\
         issuer = \"{}\"\n\
         authorization_endpoint = \"{}\"\ntoken_endpoint = \"{}\"\n",
        server.issuer(),
        server.url("/authorize"),
        server.url("/token"),
    );
    let profile = Config::parse(Path::new("/t/config.toml"), &text)
        .and_then(|c| c.profile("p"))
        .expect("google profile")
        .profile;
    assert_eq!(
        profile.client_auth,
        tokenwarden::config::ClientAuth::ClientSecretPost,
        "the google preset's default"
    );
    let seen = Arc::new(Seen::default());
    let client = tokenwarden::TokenClient::builder(profile)
        .tracer(seen.clone())
        .client_secret(tokenwarden::secret::ClientSecret::new("g-secret"))
        .build()
        .expect("client");
    let (code, verifier) = util::authorize(&server, "g", REDIRECT).await;
    let t = client
        .exchange_code(code, REDIRECT, Some(verifier), None)
        .await
        .expect("client_secret_post accepted");
    client
        .refresh(t.refresh_token.as_ref().expect("rt"))
        .await
        .expect("refresh with the secret in the body");
    // The token requests (the GETs of discovery and the key set have no body).
    let bodies: Vec<String> = seen
        .bodies
        .lock()
        .expect("lock")
        .iter()
        .filter(|b| !b.is_empty())
        .cloned()
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(
        bodies.iter().all(|b| b.contains("client_secret=")),
        "{bodies:?}"
    );
    assert!(bodies.iter().all(|b| !b.contains("g-secret")), "redacted");
    assert!(
        !seen
            .headers
            .lock()
            .expect("lock")
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization")),
        "no Basic header"
    );
}

#[test]
fn microsoft_puts_the_tenant_in_every_endpoint() {
    let text = "[profiles.p]\nprovider = \"microsoft\"\nclient_id = \"c\"\ntenant = \"contoso.onmicrosoft.com\"\n\
                [profiles.q]\nprovider = \"microsoft\"\nclient_id = \"c\"\n";
    let config = Config::parse(Path::new("/t/config.toml"), text).expect("parses");
    let p = config.profile("p").expect("valid").profile;
    for url in [&p.endpoints.authorization, &p.endpoints.token]
        .into_iter()
        .map(|u| u.as_ref().expect("a preset endpoint").to_string())
    {
        assert!(
            url.starts_with(
                "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/"
            ),
            "{url}"
        );
    }
    let q = config.profile("q").expect("valid").profile;
    let token = q
        .endpoints
        .token
        .as_ref()
        .expect("token endpoint")
        .to_string();
    assert!(token.contains("/common/"), "the default tenant: {token}");
}
