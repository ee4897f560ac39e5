//! Token responses (RFC 6749 §5.1) and token errors (§5.2), with each client's provider quirks:
//! form encoding unless `Accept: application/json`, `expires_in` left out or a string,
//! `token_type` left out or lower-case, errors with status 200. A refresh token with an expiry
//! comes with `refresh_token_expires_in`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::{ClientConfig, TokenResponseFormat};
use crate::endpoints::token::Issued;
use crate::oauth::{ErrorTag, OAuthError};
use crate::store::join_scope;

fn uses_form(client: &ClientConfig, accept_json: bool) -> bool {
    client.token_response_format == TokenResponseFormat::FormUnlessAcceptJson && !accept_json
}

fn no_store(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub(crate) fn render_tokens(client: &ClientConfig, accept_json: bool, t: &Issued) -> Response {
    let mut fields: Vec<(&str, serde_json::Value)> =
        vec![("access_token", t.access_token.clone().into())];
    if !client.omit_token_type {
        let tt = if client.lowercase_token_type {
            "bearer"
        } else {
            "Bearer"
        };
        fields.push(("token_type", tt.into()));
    }
    if !client.omit_expires_in {
        let v = if client.expires_in_as_string {
            t.expires_in.to_string().into()
        } else {
            t.expires_in.into()
        };
        fields.push(("expires_in", v));
    }
    if let Some(rt) = &t.refresh_token {
        fields.push(("refresh_token", rt.clone().into()));
        if let Some(secs) = t.refresh_expires_in {
            fields.push(("refresh_token_expires_in", secs.into()));
        }
    }
    if !t.scope.is_empty() {
        fields.push(("scope", join_scope(&t.scope).into()));
    }
    if let Some(id) = &t.id_token {
        fields.push(("id_token", id.clone().into()));
    }
    if uses_form(client, accept_json) {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &fields {
            match v {
                serde_json::Value::String(s) => ser.append_pair(k, s),
                other => ser.append_pair(k, &other.to_string()),
            };
        }
        no_store(
            StatusCode::OK,
            "application/x-www-form-urlencoded",
            ser.finish(),
        )
    } else {
        let map: serde_json::Map<String, serde_json::Value> =
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        no_store(
            StatusCode::OK,
            "application/json",
            serde_json::Value::Object(map).to_string(),
        )
    }
}

pub(crate) fn render_error(
    client: Option<&ClientConfig>,
    accept_json: bool,
    e: OAuthError,
) -> Response {
    let Some(client) = client else {
        return e.into_response();
    };
    if !uses_form(client, accept_json) && !client.errors_with_status_200 {
        return e.into_response();
    }
    let status = if client.errors_with_status_200 {
        StatusCode::OK
    } else {
        e.status
    };
    let mut resp = if uses_form(client, accept_json) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("error", e.code.as_str())
            .append_pair("error_description", &e.description)
            .finish();
        no_store(status, "application/x-www-form-urlencoded", body)
    } else {
        no_store(status, "application/json", e.json_body().to_string())
    };
    if status == StatusCode::UNAUTHORIZED
        && let Some(challenge) = &e.www_authenticate
        && let Ok(v) = HeaderValue::from_str(challenge)
    {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp.extensions_mut()
        .insert(ErrorTag(e.code.as_str().to_owned()));
    resp
}
