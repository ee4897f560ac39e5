//! The paste-back login (`login --paste`): the authorization code grant with PKCE for machines
//! that cannot receive a redirect (SSH, containers, CI). The person opens the authorization URL
//! anywhere; the provider redirects to a page that shows the code (a provider-hosted page such
//! as mockauth's `{issuer}/oauth/code/callback`, named by the profile's `paste_redirect_uri`),
//! and the person pastes what it shows. No listener is bound.
//!
//! What may be pasted ([`parse`]):
//! - `CODE#STATE`, as hosted pages show it: the state must be this login's;
//! - the whole redirect URL (or its query, `code=…&state=…`), as the browser's address bar
//!   shows it when the redirect goes to a loopback address nobody listens on: the state, `iss`
//!   and an `error` are checked as the loopback listener checks them;
//! - the code alone, for pages that show only the code: the state cannot be checked then, but
//!   PKCE still binds the code to this login (a code from another login fails the exchange).
//!
//! Everything before and after is shared with [`super::authcode`]: the PKCE pair, the state,
//! the nonce, the exchange and the ID token's validation.

use super::authcode::{self, DEFAULT_REDIRECT_URI, Request};
use super::loopback::{self, Callback, Expect};
use crate::config::Profile;
use crate::error::{Cause, Error, Result};
use crate::http::TokenClient;
use crate::secret::AuthorizationCode;
use crate::token::TokenSet;
use std::collections::HashMap;

/// A paste login waiting for the person: show `url`, then read what they paste and call
/// [`PasteLogin::finish`]. Its `Debug` shows the URL, never the PKCE verifier.
pub struct PasteLogin {
    /// The authorization URL to open (on any device).
    pub url: String,
    /// The redirect URI sent: the page that shows the code.
    pub redirect_uri: String,
    request: Request,
}

impl std::fmt::Debug for PasteLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasteLogin")
            .field("url", &self.url)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// The redirect URI of a paste login for `profile`: its `paste_redirect_uri`, else its
/// `redirect_uri`, else the default loopback one (nobody listens there: the person copies the
/// address the browser was sent to).
pub fn redirect_uri(profile: &Profile) -> String {
    profile
        .paste_redirect_uri
        .clone()
        .or_else(|| profile.redirect_uri.clone())
        .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_string())
}

/// Readies a paste login: the same checks as a loopback login ([`authcode::prepare`]), and the
/// authorization URL with the profile's paste redirect ([`redirect_uri`]). Nothing listens.
pub async fn prepare(client: &TokenClient) -> Result<PasteLogin> {
    let request = authcode::begin(client).await?;
    let redirect_uri = redirect_uri(client.profile());
    Ok(PasteLogin {
        url: request.url(client, &redirect_uri),
        redirect_uri,
        request,
    })
}

impl PasteLogin {
    /// Checks what the person pasted ([`parse`]), then exchanges the code at once, exactly once
    /// (with the PKCE verifier); with `openid`, validates the ID token. One operation (one
    /// correlation id).
    ///
    /// A wrong state is refused before anything is sent (Protocol,
    /// [`Cause::StateMismatch`]); a code the provider refuses (expired, already used) is
    /// LoginRequired with [`Cause::CodeExpiredOrReused`] and says to start again.
    pub async fn finish(self, client: &TokenClient, pasted: &str) -> Result<TokenSet> {
        let PasteLogin {
            redirect_uri,
            request,
            ..
        } = self;
        let callback = parse(pasted, &request.expect())?;
        crate::correlation::operation(|corr| async move {
            request
                .exchange(client, callback.code, &redirect_uri, &corr)
                .await
                .map_err(|e| match e.cause() {
                    Some(Cause::CodeExpiredOrReused) => e.with_hint(
                        "a code works once and only for about a minute: run `tokenwarden login --paste` again and paste the new code at once",
                    ),
                    _ => e,
                })
        })
        .await
    }
}

/// Reads what was pasted (see the module docs for the forms) and checks it against this
/// login: the code to exchange, or why not.
pub fn parse(pasted: &str, expect: &Expect) -> Result<Callback> {
    let text = pasted.trim();
    if text.is_empty() {
        return Err(Error::usage(
            "nothing was pasted: the login needs the code the provider's page shows",
        )
        .with_hint(
            "open the printed URL, approve, and paste the code (or `code#state`) the page shows",
        ));
    }
    if text.chars().any(char::is_whitespace) {
        return Err(Error::usage(
            "the pasted text is not a code: it contains spaces or several lines",
        )
        .with_hint(
            "paste only the code (or `code#state`) the provider's page shows, on one line",
        ));
    }
    if let Some(params) = redirect_params(text) {
        return loopback::check(expect, &params).map_err(|e| match e.cause() {
            Some(Cause::StateMismatch) => wrong_state(),
            _ => e,
        });
    }
    let (code, state) = match text.split_once('#') {
        Some((code, state)) => (code, Some(state)),
        None => (text, None),
    };
    if code.is_empty() {
        return Err(Error::usage("the pasted text has no code before its `#`")
            .with_hint("paste the whole `code#state` the provider's page shows"));
    }
    if let Some(state) = state
        && state != expect.state
    {
        return Err(wrong_state());
    }
    Ok(Callback {
        code: AuthorizationCode::new(code.to_string()),
    })
}

/// The parameters of a pasted redirect URL, or of its query alone; `None` for other text.
fn redirect_params(text: &str) -> Option<HashMap<String, String>> {
    let query = if text.starts_with("http://") || text.starts_with("https://") {
        let url = url::Url::parse(text).ok()?;
        // Some providers answer in the fragment (`response_mode=fragment`).
        let mut both = url.query().unwrap_or_default().to_string();
        if let Some(fragment) = url.fragment() {
            both.push('&');
            both.push_str(fragment);
        }
        both
    } else if text.contains("code=") || text.contains("error=") {
        text.trim_start_matches('?').to_string()
    } else {
        return None;
    };
    Some(
        url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    )
}

fn wrong_state() -> Error {
    Error::protocol(
        "the pasted code belongs to another login: its state does not match the one this login sent, so it was refused (nothing was sent to the provider)",
    )
    .with_cause(Cause::StateMismatch)
    .with_hint("open the URL this `tokenwarden login --paste` printed and paste what that page shows; every login has its own state, so a code from an earlier login cannot be used")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::issuer::IssuerRule;

    fn expect() -> Expect {
        Expect {
            state: "S1".into(),
            issuer: Some(IssuerRule::Exact("http://127.0.0.1:9".into())),
            iss_required: false,
        }
    }

    #[test]
    fn code_hash_state_is_checked() {
        let ok = parse("  abc#S1\n", &expect()).unwrap();
        assert_eq!(ok.code.expose(), "abc");
        let e = parse("abc#S2", &expect()).unwrap_err();
        assert_eq!(e.cause(), Some(Cause::StateMismatch));
        assert_eq!(e.kind(), crate::ErrorKind::Protocol);
        assert_eq!(parse("abc", &expect()).unwrap().code.expose(), "abc");
    }

    #[test]
    fn a_redirect_url_or_query_is_checked_like_a_callback() {
        let ok = parse(
            "http://127.0.0.1:9/callback?code=c1&state=S1&iss=http%3A%2F%2F127.0.0.1%3A9",
            &expect(),
        )
        .unwrap();
        assert_eq!(ok.code.expose(), "c1");
        let e = parse("http://127.0.0.1/callback?code=c1&state=no", &expect()).unwrap_err();
        assert_eq!(e.cause(), Some(Cause::StateMismatch));
        assert_eq!(
            parse("?code=c2&state=S1", &expect()).unwrap().code.expose(),
            "c2"
        );
        let e = parse("error=access_denied&state=S1", &expect()).unwrap_err();
        assert_eq!(e.cause(), Some(Cause::ConsentDenied));
        let e = parse(
            "http://127.0.0.1/callback?code=c1&state=S1&iss=http%3A%2F%2Fevil",
            &expect(),
        )
        .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Protocol);
    }

    #[test]
    fn nothing_or_junk_is_a_usage_error() {
        for junk in ["", "   \n", "two words", "#S1"] {
            let e = parse(junk, &expect()).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Usage, "{junk:?}");
        }
    }
}
