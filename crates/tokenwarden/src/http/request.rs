//! Building token-endpoint, device-authorization and revocation requests from a profile.
//!
//! Client authentication (RFC 6749 §2.3): `none` puts `client_id` in the body;
//! `client_secret_post` puts `client_id` and `client_secret` in the body; `client_secret_basic`
//! sends `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` — the id and secret
//! are `application/x-www-form-urlencoded` *before* base64 (RFC 6749 §2.3.1), which matters for
//! secrets containing `:`, `+`, `%` or spaces. Bodies are form-encoded, or JSON for providers
//! that want it (the profile's `token_request_format`).

use super::{Body, HttpRequest, Method, Param, RequestKind};
use crate::config::{ClientAuth, Profile, ResolvedHeader, TokenRequestFormat};
use crate::secret::{AuthorizationCode, ClientSecret, DeviceCode, PkceVerifier, RefreshToken};
use base64::Engine as _;
use url::Url;

/// The RFC 8628 grant type.
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A grant to present at the token endpoint. Codes and verifiers are moved in: they are used
/// once.
#[derive(Debug)]
#[non_exhaustive]
pub enum Grant {
    /// RFC 6749 §4.1.3, with the PKCE verifier (RFC 7636 §4.5).
    AuthorizationCode {
        /// The code from the callback.
        code: AuthorizationCode,
        /// The redirect URI sent to the authorization endpoint, exactly.
        redirect_uri: String,
        /// The PKCE verifier.
        verifier: Option<PkceVerifier>,
        /// The `state`, for providers that want it again here (Anthropic).
        state: Option<String>,
    },
    /// RFC 6749 §6.
    RefreshToken {
        /// The refresh token.
        refresh_token: RefreshToken,
    },
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 8628 §3.4.
    DeviceCode {
        /// The device code.
        device_code: DeviceCode,
    },
}

impl Grant {
    /// The request kind.
    pub fn kind(&self) -> RequestKind {
        match self {
            Grant::AuthorizationCode { .. } => RequestKind::CodeExchange,
            Grant::RefreshToken { .. } => RequestKind::Refresh,
            Grant::ClientCredentials => RequestKind::ClientCredentials,
            Grant::DeviceCode { .. } => RequestKind::DevicePoll,
        }
    }
}

/// Which token a revocation request names (RFC 7009 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypeHint {
    /// `access_token`.
    AccessToken,
    /// `refresh_token`.
    RefreshToken,
}

impl TokenTypeHint {
    /// The hint as sent and stored: `access_token` or `refresh_token`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenTypeHint::AccessToken => "access_token",
            TokenTypeHint::RefreshToken => "refresh_token",
        }
    }

    /// The hint named `name` (the form of [`TokenTypeHint::as_str`]).
    pub fn parse(name: &str) -> Option<TokenTypeHint> {
        [TokenTypeHint::AccessToken, TokenTypeHint::RefreshToken]
            .into_iter()
            .find(|h| h.as_str() == name)
    }
}

/// The `Authorization: Basic` value for `client_secret_basic` (RFC 6749 §2.3.1).
pub fn basic_auth_value(client_id: &str, secret: &ClientSecret) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(client_id), enc(secret.expose()));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

struct Builder<'a> {
    profile: &'a Profile,
    secret: Option<&'a ClientSecret>,
    params: Vec<Param>,
    headers: Vec<Param>,
}

impl<'a> Builder<'a> {
    fn new(profile: &'a Profile, secret: Option<&'a ClientSecret>) -> Self {
        Builder {
            profile,
            secret,
            params: Vec::new(),
            headers: Vec::new(),
        }
    }

    fn plain(&mut self, k: &str, v: impl Into<String>) {
        self.params.push(Param::plain(k, v));
    }

    fn secret(&mut self, k: &str, v: &str) {
        self.params.push(Param::secret(k, v));
    }

    fn scope(&mut self) {
        if !self.profile.scopes.is_empty() {
            self.plain("scope", self.profile.scopes.join(" "));
        }
    }

    /// The RFC 8707 resource indicators (one `resource` parameter each, §2), `audience` and
    /// `extra_params`.
    fn indicators_and_extras(&mut self) {
        for r in &self.profile.resource_indicators {
            self.plain("resource", r.clone());
        }
        if let Some(a) = &self.profile.audience {
            self.plain("audience", a.clone());
        }
        for (k, v) in &self.profile.extra_params {
            self.plain(k, v.clone());
        }
    }

    /// Client authentication as the profile says. A method that needs a secret but has none
    /// falls back to sending only `client_id` (the server will answer `invalid_client`, which is
    /// classified with a hint); [`super::TokenClient`] checks for the secret before this.
    fn client_auth(&mut self) {
        let p = self.profile;
        match (p.client_auth, self.secret) {
            (ClientAuth::ClientSecretBasic, Some(s)) => {
                self.headers.push(Param::secret(
                    "Authorization",
                    basic_auth_value(&p.client_id, s),
                ));
            }
            (ClientAuth::ClientSecretPost, Some(s)) => {
                self.plain("client_id", p.client_id.clone());
                self.secret("client_secret", s.expose());
            }
            _ => self.plain("client_id", p.client_id.clone()),
        }
    }

    fn finish(mut self, kind: RequestKind, url: Url) -> HttpRequest {
        if self.profile.quirks.send_accept_json {
            self.headers
                .push(Param::plain("Accept", "application/json"));
        }
        let body = match self.profile.token_request_format {
            TokenRequestFormat::Form => Body::Form(self.params),
            TokenRequestFormat::Json => Body::Json(self.params),
        };
        HttpRequest {
            kind,
            method: Method::Post,
            url,
            headers: self.headers,
            body,
        }
    }
}

/// A token request for `grant` to `endpoint`.
pub fn token_request(
    profile: &Profile,
    secret: Option<&ClientSecret>,
    endpoint: Url,
    grant: Grant,
) -> HttpRequest {
    let kind = grant.kind();
    let mut b = Builder::new(profile, secret);
    match grant {
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            verifier,
            state,
        } => {
            b.plain("grant_type", "authorization_code");
            b.secret("code", code.expose());
            b.plain("redirect_uri", redirect_uri);
            if let Some(v) = verifier {
                b.secret("code_verifier", v.expose());
            }
            if let (true, Some(s)) = (profile.quirks.state_in_token_request, state) {
                b.plain("state", s);
            }
            if profile.quirks.scope_on_every_token_request {
                b.scope();
            }
        }
        Grant::RefreshToken { refresh_token } => {
            b.plain("grant_type", "refresh_token");
            b.secret("refresh_token", refresh_token.expose());
            if profile.quirks.scope_on_every_token_request {
                b.scope();
            }
        }
        Grant::ClientCredentials => {
            b.plain("grant_type", "client_credentials");
            b.scope();
        }
        Grant::DeviceCode { device_code } => {
            b.plain("grant_type", DEVICE_CODE_GRANT_TYPE);
            b.secret("device_code", device_code.expose());
        }
    }
    b.indicators_and_extras();
    b.client_auth();
    b.finish(kind, endpoint)
}

/// A device authorization request (RFC 8628 §3.1). Always form-encoded, as the RFC requires.
pub fn device_authorization_request(
    profile: &Profile,
    secret: Option<&ClientSecret>,
    endpoint: Url,
) -> HttpRequest {
    let mut b = Builder::new(profile, secret);
    b.scope();
    b.indicators_and_extras();
    b.client_auth();
    let mut req = b.finish(RequestKind::DeviceAuthorization, endpoint);
    if let Body::Json(p) = req.body {
        req.body = Body::Form(p);
    }
    req
}

/// A revocation request (RFC 7009 §2.1). Always form-encoded, as the RFC requires.
pub fn revocation_request(
    profile: &Profile,
    secret: Option<&ClientSecret>,
    endpoint: Url,
    token: &str,
    hint: TokenTypeHint,
) -> HttpRequest {
    let mut b = Builder::new(profile, secret);
    b.secret("token", token);
    b.plain("token_type_hint", hint.as_str());
    b.client_auth();
    let mut req = b.finish(RequestKind::Revocation, endpoint);
    if let Body::Json(p) = req.body {
        req.body = Body::Form(p);
    }
    req
}

/// Adds the profile's extra token-request headers (`token_request_headers`, read with
/// [`Profile::token_request_headers`]) to `req`; secret ones are redacted in traces.
pub fn add_headers(req: &mut HttpRequest, headers: &[ResolvedHeader]) {
    for h in headers {
        req.headers.push(if h.secret {
            Param::secret(&h.name, &h.value)
        } else {
            Param::plain(&h.name, &h.value)
        });
    }
}

/// A discovery metadata request.
pub fn discovery_request(url: Url) -> HttpRequest {
    HttpRequest {
        kind: RequestKind::Discovery,
        method: Method::Get,
        url,
        headers: vec![Param::plain("Accept", "application/json")],
        body: Body::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_urlencodes_before_base64() {
        let v = basic_auth_value("my client", &ClientSecret::new("a:b +%c"));
        let b64 = v.strip_prefix("Basic ").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(String::from_utf8(raw).unwrap(), "my+client:a%3Ab+%2B%25c");
    }

    #[test]
    fn resource_indicators_go_with_token_requests_not_revocation() {
        let mut p = Profile::new("t", "cli");
        p.resource = Some("https://api.example.test/v1/messages".into());
        p.resource_indicators = vec!["https://a.test/".into(), "https://b.test/".into()];
        let url = Url::parse("https://x/token").unwrap();
        let refresh = token_request(
            &p,
            None,
            url.clone(),
            Grant::RefreshToken {
                refresh_token: RefreshToken::new("rt"),
            },
        );
        let Body::Form(params) = &refresh.body else {
            panic!("not a form");
        };
        let resources: Vec<&str> = params
            .iter()
            .filter(|p| p.name == "resource")
            .map(|p| p.value.as_str())
            .collect();
        assert_eq!(resources, ["https://a.test/", "https://b.test/"]);
        let revoke = revocation_request(&p, None, url, "t", TokenTypeHint::AccessToken);
        assert!(
            !revoke.redacted_body().contains("resource="),
            "{}",
            revoke.redacted_body()
        );
        p.token_request_format = TokenRequestFormat::Json;
        let json = token_request(
            &p,
            None,
            Url::parse("https://x/token").unwrap(),
            Grant::ClientCredentials,
        );
        assert!(
            json.redacted_body()
                .contains(r#""resource":["https://a.test/","https://b.test/"]"#),
            "{}",
            json.redacted_body()
        );
    }

    #[test]
    fn json_bodies_and_secrets_flagged() {
        let mut p = Profile::new("t", "cli");
        p.token_request_format = TokenRequestFormat::Json;
        let req = token_request(
            &p,
            None,
            Url::parse("https://x/token").unwrap(),
            Grant::RefreshToken {
                refresh_token: RefreshToken::new("rt"),
            },
        );
        let Body::Json(params) = &req.body else {
            panic!("not json");
        };
        assert!(params.iter().any(|p| p.name == "refresh_token" && p.secret));
        assert!(params.iter().any(|p| p.name == "client_id" && !p.secret));
    }
}
