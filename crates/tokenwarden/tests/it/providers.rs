//! Providers as they really are, each against mockauth configured as its look-alike: an
//! Anthropic-like provider (the preset's localhost redirect on any port, `code=true`, JSON-only
//! token endpoint behind a User-Agent filter, an API that wants `anthropic-beta`), a
//! Microsoft-like multi-tenant authority (templated issuer, ID tokens checked against their
//! `tid`), a strict RFC 8707 server (indicators required in the authorization request and in
//! every token request), RFC 8414 metadata published appended to the issuer's path, extra
//! headers and the `User-Agent` on token requests.

use crate::login::{WAIT, open};
use crate::util;
use std::time::Duration;
use tokenwarden::ErrorKind;
use tokenwarden::config::{Config, HeaderSpec, Profile};
use tokenwarden::discovery::Document;
use tokenwarden::error::Cause;
use tokenwarden::flow::authcode;
use tokenwarden::http::issuer::IssuerRule;

const GUID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

async fn start(config: mockauth::Config) -> mockauth::ServerHandle {
    mockauth::Server::start(mockauth::Config {
        auto_approve: true,
        ..config
    })
    .await
    .expect("mockauth starts")
}

/// A Microsoft profile for `tenant` whose issuer is mockauth's tenant authority: its endpoints
/// are discovered (the preset's are for the public cloud).
fn microsoft(server: &mockauth::ServerHandle, tenant: &str) -> Profile {
    let text = format!(
        "[profiles.p]\nprovider = \"microsoft\"\nclient_id = \"cli\"\ntenant = \"{tenant}\"\n\
         issuer = \"{}/{tenant}/v2.0\"\nscopes = [\"openid\", \"offline_access\"]\n\
         redirect_uri = \"http://127.0.0.1/callback\"\ntimeout = \"10s\"\n",
        server.issuer()
    );
    Config::parse(std::path::Path::new("/t/config.toml"), &text)
        .and_then(|c| c.profile("p"))
        .unwrap_or_else(|e| panic!("{}", e.report()))
        .profile
}

async fn login(profile: Profile) -> tokenwarden::Result<tokenwarden::token::TokenSet> {
    let h = util::client(profile, None);
    let prepared = authcode::prepare(&h.client).await?;
    let url = prepared.url.clone();
    let (tokens, _) = tokio::join!(prepared.finish(&h.client, WAIT), open(&url));
    tokens
}

#[tokio::test]
async fn a_microsoft_common_profile_logs_in_against_a_templated_issuer() {
    let server = start(mockauth::Config {
        tenant_id: Some(GUID.into()),
        ..mockauth::Config::default()
    })
    .await;
    let profile = microsoft(&server, "common");
    let h = util::client(profile.clone(), None);
    let m = h
        .client
        .metadata()
        .await
        .unwrap_or_else(|e| panic!("{}", e.report()))
        .expect("an issuer");
    assert_eq!(m.issuer, format!("{}/{{tenantid}}/v2.0", server.issuer()));
    assert!(
        matches!(&m.issuer_rule, IssuerRule::Tenant { template, .. } if template == &m.issuer),
        "{:?}",
        m.issuer_rule
    );
    let tokens = login(profile)
        .await
        .unwrap_or_else(|e| panic!("login: {}", e.report()));
    assert_eq!(
        tokens.issuer.as_deref(),
        Some(format!("{}/{GUID}/v2.0", server.issuer()).as_str()),
        "the tenant's own issuer, from the ID token"
    );
    // The single-tenant authority of the GUID stays exact, and logs in too.
    let tokens = login(microsoft(&server, GUID))
        .await
        .unwrap_or_else(|e| panic!("login: {}", e.report()));
    assert!(tokens.id_token.is_some());
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_id_token_whose_tid_does_not_match_its_issuer_is_refused() {
    let server = start(mockauth::Config {
        tenant_id: Some(GUID.into()),
        id_token_tid: Some("00000000-0000-0000-0000-000000000001".into()),
        ..mockauth::Config::default()
    })
    .await;
    let e = login(microsoft(&server, "common"))
        .await
        .expect_err("a wrong tid is refused");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{}", e.report());
    let m = e.message();
    assert!(
        m.contains("the ID token is not valid")
            && m.contains("00000000-0000-0000-0000-000000000001")
            && m.contains("is not its tenant's"),
        "{m}"
    );
    assert!(
        e.hint().is_some_and(|h| h.contains("issuer")),
        "{}",
        e.report()
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_consumers_authority_refuses_a_work_account() {
    let server = start(mockauth::Config {
        tenant_id: Some(GUID.into()),
        ..mockauth::Config::default()
    })
    .await;
    let e = login(microsoft(&server, "consumers"))
        .await
        .expect_err("consumers signs in personal accounts only");
    assert!(
        e.message().contains("which `consumers` does not sign in"),
        "{}",
        e.report()
    );
    server.shutdown().await.expect("shutdown");
}

/// A strict RFC 8707 server knowing `api`, and a profile of `cli` that discovers it.
async fn strict(api: &str) -> (mockauth::ServerHandle, Profile) {
    let server = start(mockauth::Config {
        resource_indicators: vec![api.to_string()],
        ..mockauth::Config::default()
    })
    .await;
    let mut p = Profile::new("p", "cli");
    p.issuer = Some(server.issuer());
    p.scopes = vec!["openid".into(), "offline_access".into()];
    p.redirect_uri = Some("http://127.0.0.1/callback".into());
    p.timeout = Duration::from_secs(10);
    p.resource = Some(server.url("/v1/messages"));
    (server, p)
}

#[tokio::test]
async fn a_resource_indicator_logs_in_and_refreshes_against_a_strict_server() {
    let api = "https://api.example.test/";
    let (server, mut p) = strict(api).await;
    p.resource_indicators = vec![api.to_string()];
    let h = util::client(p.clone(), None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    assert!(
        crate::login::query(&prepared.url)
            .get("resource")
            .is_some_and(|r| r == api),
        "the authorization request names the indicator: {}",
        prepared.url
    );
    let url = prepared.url.clone();
    let (tokens, _) = tokio::join!(prepared.finish(&h.client, WAIT), open(&url));
    let tokens = tokens.unwrap_or_else(|e| panic!("login: {}", e.report()));
    let rt = tokens.refresh_token.expect("a refresh token");
    let fresh = h
        .client
        .refresh(&rt)
        .await
        .unwrap_or_else(|e| panic!("refresh: {}", e.report()));
    assert_ne!(fresh.access_token.expose(), tokens.access_token.expose());
    let stats = server.stats();
    assert_eq!(stats.token_requests.refresh_token, 1);
    assert!(stats.token_errors.is_empty(), "{:?}", stats.token_errors);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn invalid_target_is_a_configuration_error_naming_the_key() {
    let (server, mut p) = strict("https://api.example.test/").await;
    // `resource` alone is the API, not an indicator: the strict server says it is missing.
    let e = login(p.clone()).await.expect_err("no indicator");
    assert_eq!(e.kind(), ErrorKind::Config, "{}", e.report());
    assert_eq!(e.cause(), Some(Cause::ResourceIndicator), "{}", e.report());
    assert!(
        e.hint().is_some_and(|h| h.contains("`resource_indicator`")),
        "{}",
        e.report()
    );
    // An unknown indicator is refused the same way, at the authorization request.
    p.resource_indicators = vec!["https://unknown.example.test/".into()];
    let e = login(p.clone()).await.expect_err("unknown indicator");
    assert_eq!(e.cause(), Some(Cause::ResourceIndicator), "{}", e.report());
    // At the token endpoint: a refresh naming an indicator its grant was not authorized for.
    let known = "https://api.example.test/";
    p.resource_indicators = vec![known.into()];
    let tokens = login(p.clone())
        .await
        .unwrap_or_else(|e| panic!("{}", e.report()));
    p.resource_indicators = vec![known.into(), "https://unknown.example.test/".into()];
    let e = util::client(p, None)
        .client
        .refresh(&tokens.refresh_token.expect("a refresh token"))
        .await
        .expect_err("not authorized");
    assert_eq!(e.kind(), ErrorKind::Config, "{}", e.report());
    assert_eq!(e.cause(), Some(Cause::ResourceIndicator), "{}", e.report());
    assert_eq!(e.status(), Some(400));
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn rfc8414_metadata_appended_to_the_issuer_is_found_and_named() {
    let server = start(mockauth::Config {
        issuer_path: Some("/oauth".into()),
        metadata_location: mockauth::MetadataLocation::Appended,
        ..mockauth::Config::default()
    })
    .await;
    let mut p = Profile::new("p", "cli");
    p.issuer = Some(server.issuer());
    let h = util::client(p, None);
    let m = h
        .client
        .metadata()
        .await
        .unwrap_or_else(|e| panic!("{}", e.report()))
        .expect("an issuer");
    assert_eq!(m.document, Document::Rfc8414Appended);
    assert_eq!(
        m.source.as_str(),
        format!("{}/.well-known/oauth-authorization-server", server.issuer())
    );
    assert!(m.revocation_endpoint.is_some());
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn token_requests_carry_the_profiles_headers_and_user_agent() {
    let server = start(mockauth::Config {
        blocked_user_agents: vec!["tokenwarden/*".into()],
        ..mockauth::Config::default()
    })
    .await;
    let mut p = util::svc_profile(&server);
    // tokenwarden's own User-Agent is filtered by this look-alike, as some providers do.
    let e = util::client(p.clone(), Some("svc-secret"))
        .client
        .client_credentials()
        .await
        .expect_err("filtered");
    assert_eq!(e.cause(), Some(Cause::RateLimited), "{}", e.report());
    p.user_agent = Some("my-tool/1.0".into());
    p.token_request_headers = vec![HeaderSpec::plain("X-Client-Name", "tw-test")];
    let seen = std::sync::Arc::new(Headers::default());
    let client = tokenwarden::TokenClient::builder(p)
        .client_secret(tokenwarden::secret::ClientSecret::new("svc-secret"))
        .tracer(seen.clone())
        .build()
        .expect("client");
    client
        .client_credentials()
        .await
        .unwrap_or_else(|e| panic!("{}", e.report()));
    let headers = seen.0.lock().expect("lock").clone();
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "X-Client-Name" && v == "tw-test"),
        "{headers:?}"
    );
    server.shutdown().await.expect("shutdown");
}

#[derive(Default)]
struct Headers(std::sync::Mutex<Vec<(String, String)>>);

impl tokenwarden::http::Tracer for Headers {
    fn trace(&self, event: &tokenwarden::http::TraceEvent<'_>) {
        if let tokenwarden::http::TraceEvent::Request { headers, .. } = event {
            self.0.lock().expect("lock").extend(headers.iter().cloned());
        }
    }
}

#[tokio::test]
async fn the_anthropic_preset_against_its_look_alike() {
    let app =
        mockauth::ClientConfig::public("my-claude-app", &["http://localhost:{port}/callback"])
            .with_token_request_format(mockauth::TokenRequestFormat::Json);
    let server = start(
        mockauth::Config {
            blocked_user_agents: vec!["claude-cli/*".into(), "claude-code/*".into()],
            required_resource_headers: vec![
                "anthropic-beta: oauth-2025-04-20"
                    .parse()
                    .expect("a header"),
            ],
            scopes_supported: vec!["user:profile".into(), "user:inference".into()],
            ..mockauth::Config::default()
        }
        .with_client(app),
    )
    .await;
    let text = format!(
        "[profiles.p]\nprovider = \"anthropic\"\nclient_id = \"my-claude-app\"\n\
         authorization_endpoint = \"{}\"\ntoken_endpoint = \"{}\"\ntimeout = \"10s\"\n",
        server.url("/authorize"),
        server.url("/token"),
    );
    let profile = Config::parse(std::path::Path::new("/t/config.toml"), &text)
        .and_then(|c| c.profile("p"))
        .unwrap_or_else(|e| panic!("{}", e.report()))
        .profile;
    let h = util::client(profile.clone(), None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    let q = crate::login::query(&prepared.url);
    assert_eq!(
        q.get("code").map(String::as_str),
        Some("true"),
        "{}",
        prepared.url
    );
    assert_eq!(q["scope"], "user:profile user:inference");
    assert!(
        q["redirect_uri"].starts_with("http://localhost:")
            && q["redirect_uri"].ends_with("/callback"),
        "{}",
        q["redirect_uri"]
    );
    let url = prepared.url.clone();
    let (tokens, _) = tokio::join!(prepared.finish(&h.client, WAIT), open(&url));
    let tokens = tokens.unwrap_or_else(|e| panic!("login: {}", e.report()));

    // The API wants the preset's header, which `resource_headers` carries.
    let api = server.url("/v1/messages");
    let http = reqwest::Client::new();
    let bearer = format!("Bearer {}", tokens.access_token.expose());
    let headers =
        tokenwarden::http::resource::header_map(&profile.resource_headers().expect("headers"))
            .expect("a header map");
    let ok = http
        .get(&api)
        .headers(headers)
        .header("Authorization", &bearer)
        .send()
        .await
        .expect("the API answers");
    assert_eq!(ok.status(), 200);
    let without = http
        .get(&api)
        .header("Authorization", &bearer)
        .send()
        .await
        .expect("the API answers");
    assert_eq!(without.status(), 400);

    // Refreshes go to the same JSON-only endpoint, with tokenwarden's own User-Agent.
    let refreshed = h
        .client
        .refresh(tokens.refresh_token.as_ref().expect("a refresh token"))
        .await
        .unwrap_or_else(|e| panic!("refresh: {}", e.report()));
    assert_ne!(
        refreshed.access_token.expose(),
        tokens.access_token.expose()
    );
    let refresh_token = refreshed
        .refresh_token
        .as_ref()
        .or(tokens.refresh_token.as_ref())
        .expect("a refresh token");

    // The token endpoint filters agents: a User-Agent it refuses is rate limited, and named so.
    let mut filtered = profile;
    filtered.user_agent = Some("claude-code/2.0".into());
    let e = util::client(filtered, None)
        .client
        .refresh(refresh_token)
        .await
        .expect_err("filtered");
    assert_eq!(e.cause(), Some(Cause::RateLimited), "{}", e.report());
    server.shutdown().await.expect("shutdown");
}
