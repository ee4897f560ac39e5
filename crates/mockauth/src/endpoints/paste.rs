//! The paste-back page `{issuer}/oauth/code/callback`: a registered redirect URI of the
//! built-in `cli` client, for logins with no listener on the user's machine. The authorization
//! response lands here and the page shows `CODE#STATE` in `<code id="code">` for the user to
//! paste into the application (the application checks the state). An error response is shown
//! as such. Everything interpolated is HTML-escaped.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::html::{self, escape};
use crate::oauth::Params;
use crate::state::AppState;

/// `GET /oauth/code/callback`.
pub(crate) async fn page(State(st): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let params = Params::from_urlencoded(query.unwrap_or_default().as_bytes());
    let one = |name| params.get(name).ok().flatten();
    if let Some(error) = one("error") {
        let description = one("error_description").unwrap_or("");
        let body = format!(
            "<p class=\"err\">The authorization server refused the login: <code>{}</code> {}</p>\
<p>Go back to the application and start the login again.</p>",
            escape(error),
            escape(description)
        );
        return html::page(StatusCode::OK, "Login refused", &body);
    }
    let Some(code) = one("code") else {
        return html::page(
            StatusCode::BAD_REQUEST,
            "No code to paste",
            "<p class=\"err\">This page shows the code of a login, but it was opened without one \
(or with a repeated parameter).</p><p>Start the login again from the application.</p>",
        );
    };
    let pasted = match one("state") {
        Some(state) => format!("{code}#{state}"),
        None => code.to_owned(),
    };
    let body = format!(
        "<p>Copy the code below and paste it into the application that asked you to log in.</p>\
<p><code id=\"code\">{}</code></p>\
<p>It can be used once, within {}.</p>",
        escape(&pasted),
        humantime::format_duration(st.config.code_ttl)
    );
    html::page(StatusCode::OK, "Paste this code", &body)
}
