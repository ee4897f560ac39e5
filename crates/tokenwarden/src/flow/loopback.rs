//! The loopback redirect listener of an authorization-code login (RFC 8252 §7.3).
//!
//! It binds 127.0.0.1 (or `[::1]`) on the redirect URI's port, or an ephemeral one when the URI
//! names none, serves exactly the redirect path, checks `state` and `iss` on the callback, shows
//! a short "you may close this tab" page that loads nothing from elsewhere and redirects nowhere,
//! and closes after the first valid callback: a second one that races it is answered "already
//! handled" (409) and ignored, and later ones find nobody listening.
//!
//! A callback whose `state` does not match cannot belong to this login (a stale tab, another
//! program, a forged request): it is refused with a 400 page and a warning, and the listener
//! keeps waiting for the real one. If none comes before the timeout, the refusal is the error.

use crate::error::{Cause, Error, OAuthError, OAuthErrorCode, Result};
use crate::http::issuer::IssuerRule;
use crate::secret::AuthorizationCode;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use url::Url;

/// What the listener checks a callback against.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The `state` sent with the authorization request.
    pub state: String,
    /// The issuer, for the RFC 9207 `iss` check.
    pub issuer: Option<IssuerRule>,
    /// Whether `iss` must be present (the metadata said
    /// `authorization_response_iss_parameter_supported`).
    pub iss_required: bool,
}

/// A successful callback: the code, to be exchanged at once.
#[derive(Debug)]
pub struct Callback {
    /// The authorization code.
    pub code: AuthorizationCode,
}

pub(crate) type Outcome = std::result::Result<Callback, Error>;

struct Shared {
    expect: Expect,
    /// The `Host` header a real callback carries (`127.0.0.1:PORT`, `localhost:PORT`, ...).
    host: String,
    done: Mutex<Option<oneshot::Sender<Outcome>>>,
    /// The last callback refused for its `state`, reported if no valid one comes in time.
    refused: Mutex<Option<Error>>,
}

/// A bound listener waiting for one callback.
pub struct Listener {
    redirect_uri: String,
    shared: Arc<Shared>,
    outcome: oneshot::Receiver<Outcome>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// Binds the listener for `redirect_uri`, which must be an `http` loopback URI
/// (`127.0.0.1`, `[::1]` or `localhost`).
pub async fn bind(redirect_uri: &str, expect: Expect) -> Result<Listener> {
    let mut url = Url::parse(redirect_uri).map_err(|e| {
        Error::config(format!(
            "redirect_uri `{redirect_uri}` is not a valid URL: {e}"
        ))
    })?;
    if url.scheme() != "http" {
        return Err(Error::config(format!(
            "redirect_uri `{redirect_uri}` cannot be received here: a loopback redirect uses `http`"
        ))
        .with_hint("use a loopback redirect such as http://127.0.0.1/callback (RFC 8252 §7.3)"));
    }
    let (first, second) = match url.host() {
        Some(url::Host::Ipv4(v4)) if v4.is_loopback() => (IpAddr::V4(v4), Fallback::Replace),
        Some(url::Host::Ipv6(v6)) if v6.is_loopback() => (IpAddr::V6(v6), Fallback::None),
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
            (IpAddr::V4(LOOPBACK_V4), Fallback::Also)
        }
        _ => {
            return Err(Error::config(format!(
                "redirect_uri `{redirect_uri}` is not a loopback address, so tokenwarden cannot receive the callback"
            ))
            .with_hint("use http://127.0.0.1/callback and register it with the provider, or use `login --device`"));
        }
    };
    let port = url.port().unwrap_or(0);
    let v6 = IpAddr::V6(LOOPBACK_V6);
    // RFC 8252 §7.3: 127.0.0.1 first; `[::1]` when this machine has no IPv4 loopback (the
    // redirect then names `[::1]`), and for `localhost` on the same port as well, since a
    // browser may resolve `localhost` to either.
    let (listeners, bound) = match bind_one(first, port).await {
        Ok(l) => {
            let bound = local_addr(&l)?;
            let mut listeners = vec![l];
            if second == Fallback::Also {
                match bind_one(v6, bound.port()).await {
                    Ok(l6) => listeners.push(l6),
                    Err(e) => {
                        tracing::debug!("no [::1] listener beside {bound} for localhost: {e}")
                    }
                }
            }
            (listeners, bound)
        }
        Err(e) if second != Fallback::None && e.kind() == std::io::ErrorKind::AddrNotAvailable => {
            let l = bind_one(v6, port)
                .await
                .map_err(|e6| bind_error(v6, port, &e6))?;
            let bound = local_addr(&l)?;
            if second == Fallback::Replace {
                tracing::info!("no IPv4 loopback on this machine: the login callback uses [::1]");
                // Infallible for http URLs.
                let _ = url.set_ip_host(v6);
            }
            (vec![l], bound)
        }
        Err(e) => return Err(bind_error(first, port, &e)),
    };
    if port == 0 {
        // Infallible for http URLs with a host.
        let _ = url.set_port(Some(bound.port()));
    }
    // The Host header a browser sends for this redirect: anything else is not this login's
    // callback (DNS rebinding, a page on another name that points here).
    let host = format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port().unwrap_or(bound.port())
    );
    let path = url.path().to_string();
    let (tx, rx) = oneshot::channel();
    let shared = Arc::new(Shared {
        expect,
        host,
        done: Mutex::new(Some(tx)),
        refused: Mutex::new(None),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let app = axum::Router::new()
        .route(&path, axum::routing::get(callback))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .with_state(shared.clone());
    // In the login's span, so the listener's log lines name its correlation id too.
    let task = tokio::spawn(tracing::Instrument::instrument(
        async move {
            // One server per listener (IPv4 and, for `localhost`, IPv6 loopback); the set
            // aborts them all when this task is aborted.
            let mut servers = tokio::task::JoinSet::new();
            for listener in listeners {
                let app = app.clone();
                let mut stop_rx = stop_rx.clone();
                servers.spawn(tracing::Instrument::in_current_span(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stop_rx.wait_for(|stop| *stop).await;
                        })
                        .await;
                }));
            }
            while servers.join_next().await.is_some() {}
        },
        tracing::Span::current(),
    ));
    Ok(Listener {
        redirect_uri: url.to_string(),
        shared,
        outcome: rx,
        stop: stop_tx,
        task,
    })
}

/// Where else the listener may listen when the redirect's own address cannot be bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback {
    /// An IPv6 literal: nowhere else.
    None,
    /// `127.0.0.1`: `[::1]` instead when IPv4 loopback is missing, naming it in the redirect.
    Replace,
    /// `localhost`: `[::1]` on the same port too (or instead, when IPv4 loopback is missing).
    Also,
}

async fn bind_one(ip: IpAddr, port: u16) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(SocketAddr::new(ip, port)).await
}

fn local_addr(l: &tokio::net::TcpListener) -> Result<SocketAddr> {
    l.local_addr()
        .map_err(|e| Error::new(crate::ErrorKind::Other, format!("loopback listener: {e}")))
}

fn bind_error(ip: IpAddr, port: u16, e: &std::io::Error) -> Error {
    let at = SocketAddr::new(ip, port);
    Error::new(
        crate::ErrorKind::Other,
        format!("cannot listen on {at} for the login callback: {e}"),
    )
    .with_hint(if port == 0 {
        "check that the loopback interface is up".to_string()
    } else {
        format!("another program uses port {port}; close it, or remove the port from redirect_uri so an ephemeral one is used")
    })
}

/// How long the listener, once it has its callback, lets connections in flight finish (the
/// page reaching the browser) before it drops them.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

impl Listener {
    /// The redirect URI to send, with the bound port.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits at most `timeout` for the first callback (valid, or one that proves the login
    /// failed), then closes the listener: `None` when none came in time, or the refusal of
    /// the last callback whose `state` did not match.
    ///
    /// The port stops accepting at once; connections in flight get [`CLOSE_GRACE`] to finish,
    /// so that a connection that never completes a request cannot hold up the login.
    pub async fn wait(mut self, timeout: Duration) -> Option<Result<Callback>> {
        let outcome = tokio::time::timeout(timeout, &mut self.outcome).await;
        let _ = self.stop.send(true);
        if tokio::time::timeout(CLOSE_GRACE, &mut self.task)
            .await
            .is_err()
        {
            tracing::debug!("a connection to the callback listener did not finish; dropped");
            self.task.abort();
        }
        match outcome {
            Err(_elapsed) => {
                let refused = self.shared.refused.lock().ok().and_then(|mut r| r.take());
                refused.map(|e| {
                    let hint = format!(
                        "no callback with the right `state` came within {}; {}",
                        crate::human::duration(timeout),
                        e.hint().unwrap_or("start the login again")
                    );
                    Err(e.with_hint(hint))
                })
            }
            Ok(Ok(outcome)) => Some(outcome),
            Ok(Err(_)) => Some(Err(Error::new(
                crate::ErrorKind::Other,
                "the login callback listener stopped before a callback arrived",
            ))),
        }
    }
}

impl Drop for Listener {
    /// A login abandoned (Ctrl-C, its future dropped) closes the port and every connection.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

async fn callback(
    State(shared): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !host.eq_ignore_ascii_case(&shared.host) {
        // Not addressed to the redirect this login issued (e.g. DNS rebinding): never read
        // its query, and keep waiting for the real callback.
        tracing::warn!(
            "a request to the login callback carried Host {:?}, not `{}`: refused; still waiting for the login's own callback",
            host,
            shared.host
        );
        return page(
            StatusCode::BAD_REQUEST,
            "Login callback refused",
            "This request was not addressed to the redirect tokenwarden issued. Use the URL the terminal printed.",
        );
    }
    let outcome = check(&shared.expect, &params);
    let outcome = match outcome {
        Err(e) if e.cause() == Some(Cause::StateMismatch) => {
            // Not this login's callback: refuse it and keep waiting for the real one.
            let message = e.message().to_string();
            tracing::warn!("{message}; still waiting for the login's own callback");
            if let Ok(mut r) = shared.refused.lock() {
                *r = Some(e);
            }
            return page(
                StatusCode::BAD_REQUEST,
                "Login callback refused",
                &format!(
                    "{message}. This is not the tab tokenwarden is waiting for: use the URL the terminal printed."
                ),
            );
        }
        other => other,
    };
    let (status, title, body) = match &outcome {
        Ok(_) => (
            StatusCode::OK,
            "Login complete",
            "tokenwarden received the authorization. You may close this tab.".to_string(),
        ),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            "Login failed",
            e.message().to_string(),
        ),
    };
    let sender = shared.done.lock().map(|mut g| g.take()).unwrap_or(None);
    match sender {
        Some(tx) => {
            let _ = tx.send(outcome);
            page(status, title, &body)
        }
        None => page(
            StatusCode::CONFLICT,
            "Already handled",
            "This login already received its callback. You may close this tab.",
        ),
    }
}

/// Checks one callback's query parameters.
pub(crate) fn check(expect: &Expect, params: &HashMap<String, String>) -> Outcome {
    let state = params.get("state").map(String::as_str).unwrap_or("");
    if state != expect.state {
        return Err(Error::protocol(
            "the login callback's `state` does not match the one tokenwarden sent: the callback was refused",
        )
        .with_cause(Cause::StateMismatch)
        .with_hint("start the login again from this terminal; if it keeps happening, another program or page is sending callbacks to this port"));
    }
    match (&expect.issuer, params.get("iss")) {
        (Some(want), Some(got)) if !want.admits(got) => {
            return Err(Error::protocol(format!(
                "the login callback came from issuer `{got}`, not `{}` (RFC 9207 mix-up defence): refused",
                want.shown()
            ))
            .with_hint("check the profile's issuer; another authorization server answered this login"));
        }
        (Some(want), None) if expect.iss_required => {
            return Err(Error::protocol(format!(
                "the login callback has no `iss`, but `{}` says it always sends one (RFC 9207): refused",
                want.shown()
            ))
            .with_hint("start the login again; if it keeps happening, the callback did not come from the provider"));
        }
        _ => {}
    }
    if let Some(code) = params.get("error") {
        let oauth = OAuthError {
            code: OAuthErrorCode::parse(code),
            description: params.get("error_description").cloned(),
            uri: params.get("error_uri").cloned(),
        };
        let described = oauth
            .description
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        let err = match oauth.code.meaning() {
            OAuthErrorCode::AccessDenied => Error::login_required(format!(
                "the authorization was denied{described}"
            ))
            .with_cause(Cause::ConsentDenied)
            .with_hint("run `tokenwarden login` again and approve the request"),
            OAuthErrorCode::InvalidScope | OAuthErrorCode::UnauthorizedClient | OAuthErrorCode::InvalidClient | OAuthErrorCode::UnsupportedResponseType => {
                Error::config(format!("the provider refused the authorization request ({}){described}", oauth.code))
                    .with_hint("check the profile's client_id, scopes and redirect_uri against the provider's registration")
            }
            OAuthErrorCode::InvalidTarget => Error::config(format!(
                "the provider refused the authorization request's resource indicator ({}){described}",
                oauth.code
            ))
            .with_cause(Cause::ResourceIndicator)
            .with_hint(crate::http::classify::HINT_TARGET),
            OAuthErrorCode::ServerError | OAuthErrorCode::TemporarilyUnavailable => Error::new(
                crate::ErrorKind::ProviderUnavailable,
                format!("the provider failed during authorization ({}){described}", oauth.code),
            )
            .with_cause(Cause::ProviderOutage)
            .with_hint("try `tokenwarden login` again in a minute"),
            _ => Error::protocol(format!("the provider answered the authorization with `{}`{described}", oauth.code))
                .with_hint("check the profile against the provider's documentation; `tokenwarden doctor` helps"),
        };
        return Err(err.with_oauth(oauth));
    }
    match params.get("code").filter(|c| !c.is_empty()) {
        Some(code) => Ok(Callback {
            code: AuthorizationCode::new(code.clone()),
        }),
        None => Err(
            Error::protocol("the login callback has neither `code` nor `error`")
                .with_hint("start the login again"),
        ),
    }
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:4em auto;max-width:36em;color:#222}}</style>\
         </head><body><h1>{t}</h1><p>{b}</p></body></html>",
        t = escape(title),
        b = escape(body)
    );
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    resp
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The loopback address used for a `localhost` redirect URI; exposed for `doctor`.
pub const LOOPBACK_V4: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// The IPv6 loopback address.
pub const LOOPBACK_V6: Ipv6Addr = Ipv6Addr::LOCALHOST;

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> Expect {
        Expect {
            state: "s1".into(),
            issuer: Some(IssuerRule::Exact("http://127.0.0.1:9".into())),
            iss_required: true,
        }
    }

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn checks_state_iss_and_errors() {
        let ok = check(
            &expect(),
            &q(&[
                ("state", "s1"),
                ("iss", "http://127.0.0.1:9"),
                ("code", "c"),
            ]),
        );
        assert_eq!(ok.unwrap().code.expose(), "c");
        let e = check(&expect(), &q(&[("state", "s2"), ("code", "c")])).unwrap_err();
        assert_eq!(e.cause(), Some(Cause::StateMismatch));
        let e = check(&expect(), &q(&[("state", "s1"), ("code", "c")])).unwrap_err();
        assert!(e.message().contains("no `iss`"));
        let e = check(
            &expect(),
            &q(&[("state", "s1"), ("iss", "http://evil"), ("code", "c")]),
        )
        .unwrap_err();
        assert!(e.message().contains("RFC 9207"));
        let e = check(
            &expect(),
            &q(&[
                ("state", "s1"),
                ("iss", "http://127.0.0.1:9"),
                ("error", "access_denied"),
                ("error_description", "user said no"),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::LoginRequired);
        assert!(e.message().contains("user said no"));
    }

    #[tokio::test]
    async fn binds_an_ephemeral_port_and_rejects_non_loopback() {
        let l = bind("http://127.0.0.1/callback", expect()).await.unwrap();
        let uri = Url::parse(l.redirect_uri()).unwrap();
        assert!(uri.port().unwrap() > 0);
        assert_eq!(uri.path(), "/callback");
        assert!(bind("https://example.com/cb", expect()).await.is_err());
        assert!(bind("http://10.0.0.1/cb", expect()).await.is_err());
    }

    /// Sends a raw GET for `target` with the given Host header; returns the status code.
    async fn get_with_host(addr: SocketAddr, target: &str, host: &str) -> u16 {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out);
        text.split(' ').nth(1).unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn a_callback_for_another_host_is_refused_and_the_real_one_still_counts() {
        let mut e = expect();
        e.issuer = None;
        e.iss_required = false;
        let l = bind("http://127.0.0.1/callback", e).await.unwrap();
        let uri = Url::parse(l.redirect_uri()).unwrap();
        let port = uri.port().unwrap();
        let addr = SocketAddr::new(IpAddr::V4(LOOPBACK_V4), port);
        let target = "/callback?state=s1&code=c";
        assert_eq!(get_with_host(addr, target, "evil.example:80").await, 400);
        assert_eq!(
            get_with_host(addr, target, &format!("localhost:{port}")).await,
            400
        );
        assert_eq!(
            get_with_host(addr, target, &format!("127.0.0.1:{port}")).await,
            200
        );
        let got = l.wait(Duration::from_secs(5)).await.unwrap().unwrap();
        assert_eq!(got.code.expose(), "c");
    }

    #[tokio::test]
    async fn localhost_listens_on_both_loopbacks_when_the_machine_has_them() {
        let mut e = expect();
        e.issuer = None;
        e.iss_required = false;
        let l = bind("http://localhost/callback", e).await.unwrap();
        let uri = Url::parse(l.redirect_uri()).unwrap();
        assert_eq!(uri.host_str(), Some("localhost"));
        let port = uri.port().unwrap();
        let v6 = SocketAddr::new(IpAddr::V6(LOOPBACK_V6), port);
        let host = format!("localhost:{port}");
        if std::net::TcpListener::bind((LOOPBACK_V6, 0)).is_ok() {
            // A browser that resolved `localhost` to ::1 reaches the same login.
            assert_eq!(
                get_with_host(v6, "/callback?state=s1&code=c6", &host).await,
                200
            );
        } else {
            let v4 = SocketAddr::new(IpAddr::V4(LOOPBACK_V4), port);
            assert_eq!(
                get_with_host(v4, "/callback?state=s1&code=c6", &host).await,
                200
            );
        }
        let got = l.wait(Duration::from_secs(5)).await.unwrap().unwrap();
        assert_eq!(got.code.expose(), "c6");
    }
}
