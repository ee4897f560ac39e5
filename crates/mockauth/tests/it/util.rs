//! Helpers: start a server, drive the flows over real HTTP, read redirects and JSON.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mockauth::{Config, Server, ServerHandle};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const REDIRECT: &str = "http://127.0.0.1:45678/callback";

/// A running server and an HTTP client that does not follow redirects.
pub struct Env {
    pub server: ServerHandle,
    pub http: reqwest::Client,
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// An HTTP client that follows redirects, as a browser (or `curl -L`) does.
pub fn following() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("reqwest client")
}

/// The default configuration with auto-approval.
pub fn auto() -> Config {
    Config {
        auto_approve: true,
        ..Config::default()
    }
}

pub async fn start(config: Config) -> Env {
    let server = Server::start(config).await.expect("server starts");
    Env {
        server,
        http: client(),
    }
}

/// A PKCE pair (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let verifier = format!("v{}", URL_SAFE_NO_PAD.encode(rand_bytes()));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn rand_bytes() -> [u8; 32] {
    use std::time::{SystemTime, UNIX_EPOCH};
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    Sha256::digest(format!("{t}-{n}")).into()
}

/// The query parameters of a redirect's `Location`.
pub fn location_params(resp: &reqwest::Response) -> HashMap<String, String> {
    let loc = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location header (status {})", resp.status()));
    let url = url::Url::parse(loc).expect("Location is a URL");
    url.query_pairs().into_owned().collect()
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Form-urlencodes, then base64s, as RFC 6749 §2.3.1 requires.
pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// The tokens of one login.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub json: Value,
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .query(query)
            .send()
            .await
            .expect("request")
    }

    /// `GET /authorize` for client `cli` with PKCE; `extra` params are added or override.
    pub async fn authorize(&self, challenge: &str, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", "cli"),
            ("redirect_uri", REDIRECT),
            ("state", "st-1"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("scope", "openid offline_access"),
        ];
        for (k, v) in extra {
            params.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        self.get("/authorize", &params).await
    }

    /// An authorization code for `cli` (auto-approve servers), with its verifier.
    pub async fn code(&self, extra: &[(&str, &str)]) -> (String, String) {
        let (verifier, challenge) = pkce();
        let resp = self.authorize(&challenge, extra).await;
        assert!(
            resp.status().is_redirection(),
            "authorize: {}",
            resp.status()
        );
        let q = location_params(&resp);
        let code = q
            .get("code")
            .unwrap_or_else(|| panic!("no code in redirect: {q:?}"))
            .clone();
        (code, verifier)
    }

    /// POSTs a form to `/token`.
    pub async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url("/token"))
            .form(form)
            .send()
            .await
            .expect("token request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub async fn exchange(&self, code: &str, verifier: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", "cli"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "cli"),
        ])
        .await
    }

    /// A full PKCE login for `cli`.
    pub async fn login(&self) -> Tokens {
        let (code, verifier) = self.code(&[]).await;
        let (status, json) = self.exchange(&code, &verifier).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        tokens(json)
    }

    /// The status of `GET /v1/messages` with this bearer token.
    pub async fn resource(&self, access_token: &str) -> StatusCode {
        self.http
            .get(self.url("/v1/messages"))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("resource request")
            .status()
    }

    /// POSTs a form to an endpoint with Basic credentials.
    pub async fn post_basic(
        &self,
        path: &str,
        id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header(reqwest::header::AUTHORIZATION, basic(id, secret))
            .form(form)
            .send()
            .await
            .expect("request")
    }

    /// POSTs JSON to an admin path.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let base = self.server.admin_url().expect("admin enabled");
        let mut req = self.http.request(method, format!("{base}{path}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("admin request")
    }
}

pub fn tokens(json: Value) -> Tokens {
    let access = json["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let refresh = json["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    Tokens {
        access,
        refresh,
        json,
    }
}

pub fn error_of(json: &Value) -> &str {
    json["error"].as_str().unwrap_or("<no error field>")
}
