//! The few HTML pages a person sees: the consent page, the device verification page, and the
//! error page shown when an authorization request cannot safely redirect.
//!
//! Every interpolated value goes through [`escape`].

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}code{background:#f2f2f2;padding:0 .2rem}\
.row{display:flex;gap:1rem;margin-top:1.5rem}\
button{font-size:1rem;padding:.5rem 1.5rem;cursor:pointer}\
.approve{background:#1a7f37;color:#fff;border:0;border-radius:4px}\
.deny{background:#fff;border:1px solid #999;border-radius:4px}\
input[type=text]{font-size:1.2rem;padding:.4rem;letter-spacing:.15rem;text-transform:uppercase}\
.err{color:#b00}";

/// A whole page with a title and body HTML (already escaped).
pub(crate) fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t} · mockauth</title><style>{STYLE}</style></head>\
<body><h1>{t}</h1>{body_html}<hr><p><small>mockauth — a test authorization server</small></p></body></html>\n",
        t = escape(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// The 400 page for authorization errors that must not redirect (RFC 6749 §4.1.2.1).
pub(crate) fn authorize_error(message: &str) -> Response {
    let body = format!(
        "<p class=\"err\">{}</p><p>The authorization request was refused and, because the \
redirect target could not be trusted, the browser was not sent back to the application.</p>",
        escape(message)
    );
    page(
        StatusCode::BAD_REQUEST,
        "Invalid authorization request",
        &body,
    )
}

/// The consent page: Approve / Deny post to `/authorize/decision`.
pub(crate) fn consent(
    action: &str,
    consent_id: &str,
    client_id: &str,
    scope: &[String],
    redirect_uri: &str,
) -> Response {
    let scopes = if scope.is_empty() {
        "<li><em>no scopes</em></li>".to_owned()
    } else {
        scope
            .iter()
            .map(|s| format!("<li><code>{}</code></li>", escape(s)))
            .collect::<String>()
    };
    let body = format!(
        "<p>The application <strong>{client}</strong> asks for access to your account.</p>\
<p>Requested scopes:</p><ul>{scopes}</ul>\
<p>After you decide you will be sent to <code>{redirect}</code>.</p>\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"consent\" value=\"{id}\">\
<div class=\"row\"><button class=\"approve\" type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\
<button class=\"deny\" type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></div></form>",
        client = escape(client_id),
        redirect = escape(redirect_uri),
        id = escape(consent_id),
        action = escape(action),
    );
    page(StatusCode::OK, "Authorize application", &body)
}

/// The device verification page: enter the user code, then Approve or Deny.
pub(crate) fn device_form(
    action: &str,
    status: StatusCode,
    user_code: &str,
    message: Option<&str>,
) -> Response {
    let msg = message
        .map(|m| format!("<p class=\"err\">{}</p>", escape(m)))
        .unwrap_or_default();
    let body = format!(
        "{msg}<p>Enter the code shown on your device.</p>\
<form method=\"post\" action=\"{action}\">\
<label>Code <input type=\"text\" name=\"user_code\" value=\"{code}\" autocomplete=\"off\" \
autofocus required placeholder=\"XXXX-XXXX\"></label>\
<div class=\"row\"><button class=\"approve\" type=\"submit\" name=\"action\" value=\"approve\">Approve</button>\
<button class=\"deny\" type=\"submit\" name=\"action\" value=\"deny\">Deny</button></div></form>",
        code = escape(user_code),
        action = escape(action),
    );
    page(status, "Connect a device", &body)
}

/// The page after a device decision.
pub(crate) fn device_done(approved: bool, client_id: &str) -> Response {
    let (title, text) = if approved {
        (
            "Device connected",
            format!(
                "<p>You approved <strong>{}</strong>. You can return to your device.</p>",
                escape(client_id)
            ),
        )
    } else {
        (
            "Request denied",
            format!(
                "<p>You denied <strong>{}</strong>. The device will be told.</p>",
                escape(client_id)
            ),
        )
    };
    page(StatusCode::OK, title, &text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_covers_the_five() {
        assert_eq!(
            super::escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
