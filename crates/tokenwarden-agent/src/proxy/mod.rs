//! `tokenwarden proxy`: a local reverse proxy that forwards every request to the upstream with
//! `Authorization: Bearer <token>` (replacing whatever the client sent), so that programs that
//! know nothing of OAuth (anything that takes an API base URL) share one login.
//!
//! - Tokens come from a [`TokenSource`]: the agent when one runs, else a session of the proxy
//!   (the CLI passes an [`AgentSource`](tokenwarden::agent::AgentSource)), so many proxies and
//!   CLIs on one machine still refresh once per expiry.
//! - Bodies stream both ways; a request body is held whole only when it fits in the replay
//!   bound (`body`), which a 401 retry needs. A 401 is handled by the library's one 401 rule
//!   ([`send_retrying`]): invalidate that token version, refresh once, send once more; a second
//!   401 goes to the client as it came (and the event log names it SessionRejected); a request
//!   whose body could not be kept is not sent again.
//! - When no valid token can be had the client gets a 503 with the CLI's JSON error object
//!   (and `Retry-After` when the provider or the breaker named a time); an upstream that
//!   cannot be reached is a 502 with the same object.
//! - [`Proxy::serve`] takes a bound listener and a shutdown future; at shutdown in-flight
//!   requests finish, bounded by a grace period.
//!
//! # Layout
//! - this file: [`Proxy`], the server and one request's way through it.
//! - [`headers`]: hop-by-hop headers, stripped and added headers.
//! - `body`: held or streamed request bodies.

mod body;
pub mod headers;

use bytes::Bytes;
use headers::RequestHeaders;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokenwarden::exit::ErrorDocument;
use tokenwarden::secret::ClientSecret;
use tokenwarden::session::{Rejected, SendFailed, TokenSource, send_retrying};
use tokenwarden::{Error, ErrorKind};
use url::Url;

/// A request body held whole for a 401 retry is at most this large (1 MiB).
pub const MAX_REPLAY_BODY: usize = 1024 * 1024;

/// How long in-flight requests may run on after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The body of an answer to the client.
pub type ProxyBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// What the proxy is set up with.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Where requests go: scheme, host, port and an optional path prefix.
    pub upstream: Url,
    /// Headers stripped and added.
    pub headers: RequestHeaders,
    /// When set, clients must send `Authorization: Bearer <it>` (or `Proxy-Authorization`).
    pub client_token: Option<ClientSecret>,
    /// The largest request body held for a retry.
    pub max_replay_body: usize,
    /// The TCP + TLS connect timeout to the upstream.
    pub connect_timeout: Duration,
    /// How long in-flight requests may run on after shutdown.
    pub shutdown_grace: Duration,
}

/// The reverse proxy.
pub struct Proxy {
    settings: ProxySettings,
    source: Arc<dyn TokenSource>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("upstream", &self.settings.upstream.as_str())
            .field("profile", &self.source.profile())
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// A proxy to `settings.upstream` with tokens from `source`. Its HTTP client is the
    /// project's stack (reqwest on rustls), without a whole-request timeout: streams may last.
    pub fn new(
        settings: ProxySettings,
        source: Arc<dyn TokenSource>,
    ) -> tokenwarden::Result<Proxy> {
        // The project's TLS: the system's CA certificates are read at the first https
        // handshake, not here (an http upstream on loopback never reads them).
        let http = tokenwarden::http::tls::client_builder()?
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::Other, "cannot set up the proxy's HTTP client").with_source(e)
            })?;
        Ok(Proxy {
            settings,
            source,
            http,
        })
    }

    /// Serves `listener` until `shutdown` resolves; then stops accepting and lets in-flight
    /// requests finish, for at most the grace period.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("accepting a connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let proxy = self.clone();
            let service = hyper::service::service_fn(move |req| {
                let proxy = proxy.clone();
                async move { Ok::<_, std::convert::Infallible>(proxy.handle(req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("a client connection ended: {e}");
                }
            });
        }
        drop(listener);
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(self.settings.shutdown_grace) => {
                tracing::warn!(
                    "requests still running {} s after shutdown were cut off",
                    self.settings.shutdown_grace.as_secs()
                );
            }
        }
    }

    /// One request's way through the proxy.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<ProxyBody> {
        if let Some(secret) = &self.settings.client_token
            && !crate::daemon::listen::bearer_matches(req.headers(), secret.expose())
        {
            let err = Error::new(
                ErrorKind::Usage,
                "this request has no valid bearer secret for the proxy",
            )
            .with_hint("send `Authorization: Bearer <the secret in the --client-token-file>`");
            return error_response(StatusCode::UNAUTHORIZED, &err);
        }
        let (parts, incoming) = req.into_parts();
        let url = match self.upstream_url(&parts.uri) {
            Ok(u) => u,
            Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
        };
        let length = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut outgoing =
            match body::prepare(incoming, length, self.settings.max_replay_body).await {
                Ok(b) => b,
                Err(e) => {
                    let err = Error::new(
                        ErrorKind::Other,
                        format!("reading the client's request body failed: {e}"),
                    );
                    return error_response(StatusCode::BAD_REQUEST, &err);
                }
            };
        // A streamed body of known length keeps it (the upstream sees a plain upload).
        let keep_length = !outgoing.replayable() && length.is_some();
        let headers = self.settings.headers.upstream(&parts.headers, keep_length);
        let method = parts.method.clone();
        let replayable = outgoing.replayable();
        let sent = tokenwarden::correlation::joined(|_| {
            send_retrying(self.source.as_ref(), None, replayable, |token| {
                let mut h = headers.clone();
                if let Ok(v) = HeaderValue::from_str(&token.authorization()) {
                    h.insert(header::AUTHORIZATION, v);
                }
                self.http
                    .request(method.clone(), url.clone())
                    .headers(h)
                    .body(outgoing.take())
            })
        })
        .await;
        match sent {
            Ok(sent) => {
                match sent.rejected {
                    Rejected::Twice { .. } => tracing::warn!(
                        profile = %self.source.profile(),
                        "the API rejected a freshly refreshed token (401 twice): the session is rejected by the server; the 401 goes to the client"
                    ),
                    Rejected::NotResent => tracing::info!(
                        profile = %self.source.profile(),
                        "401 for a request whose body was too large to keep: not sent again; the next request gets a fresh token"
                    ),
                    Rejected::No => {}
                }
                let mut resp = answer(sent.response);
                if !replayable
                    && (resp.status().is_client_error() || resp.status().is_server_error())
                {
                    // The upstream may have answered before reading the whole upload, which then
                    // was never read from the client either: this connection cannot carry
                    // another request.
                    resp.headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                resp
            }
            Err(SendFailed::Api(e)) => error_response(StatusCode::BAD_GATEWAY, &e),
            Err(SendFailed::Token(e)) => error_response(StatusCode::SERVICE_UNAVAILABLE, &e),
        }
    }

    /// The upstream URL of a request for `uri`: the upstream's origin, its path prefix, then
    /// the request's path and query.
    fn upstream_url(&self, uri: &http::Uri) -> tokenwarden::Result<Url> {
        let base = &self.settings.upstream;
        let prefix = base.path().trim_end_matches('/');
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        if !path_and_query.starts_with('/') {
            return Err(Error::usage(format!(
                "`{path_and_query}` is not a path: the proxy is a reverse proxy, send requests to it as to the API"
            )));
        }
        let joined = format!(
            "{}://{}{}{prefix}{path_and_query}",
            base.scheme(),
            base.host_str().unwrap_or_default(),
            base.port().map(|p| format!(":{p}")).unwrap_or_default(),
        );
        Url::parse(&joined).map_err(|e| Error::usage(format!("`{path_and_query}`: {e}")))
    }
}

/// The upstream's answer, streamed back with its hop-by-hop headers removed.
fn answer(resp: reqwest::Response) -> Response<ProxyBody> {
    let resp: http::Response<reqwest::Body> = resp.into();
    let (mut parts, body) = resp.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    let body = body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
    Response::from_parts(parts, UnsyncBoxBody::new(body))
}

/// `err` as the CLI's JSON error object with `status`, and `Retry-After` when the error names
/// a time to try again.
pub fn error_response(status: StatusCode, err: &Error) -> Response<ProxyBody> {
    let body = serde_json::to_vec(&ErrorDocument::new(err)).unwrap_or_default();
    let mut resp = Response::new(full(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(at) = err.retry_at() {
        let secs = at
            .duration_since(std::time::SystemTime::now())
            .map_or(1, |d| d.as_secs().max(1));
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            h.insert(header::RETRY_AFTER, v);
        }
    }
    resp
}

fn full(bytes: Bytes) -> ProxyBody {
    UnsyncBoxBody::new(
        http_body_util::Full::new(bytes)
            .map_err(|never| -> Box<dyn std::error::Error + Send + Sync> { match never {} }),
    )
}
