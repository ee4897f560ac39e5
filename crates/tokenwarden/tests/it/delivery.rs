//! Whether a failed request reached the server ([`Delivery`]), decided once by the HTTP layer,
//! for each way an exchange can fail, over real loopback sockets: the error's delivery, whether
//! the server may have processed the request (what tells a lost refresh-token rotation from a
//! revocation), and the refresh's evidence that a session reads.

use crate::util;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokenwarden::config::Profile;
use tokenwarden::error::{Cause, Delivery, ErrorKind};
use tokenwarden::secret::RefreshToken;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// What the scripted server does with each connection.
#[derive(Clone)]
enum Then {
    /// Reads nothing and keeps the connection open (a TLS handshake is never answered).
    Silent,
    /// Writes a plain-text HTTP error at once, whatever comes, and closes (a plain-http server
    /// spoken to with TLS).
    Plain,
    /// Reads the whole request, then keeps the connection open without answering.
    Hang,
    /// Reads the whole request, then closes the connection without answering.
    Close,
    /// Reads the whole request, then sends this response.
    Answer(Arc<str>),
}

/// A server on 127.0.0.1 that plays a [`Then`] on every connection; stopped on drop.
struct Scripted {
    port: u16,
    /// Set once a whole request (headers and body) was read.
    read_request: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection task.
        self.task.abort();
    }
}

async fn scripted(then: Then) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let read_request = Arc::new(AtomicBool::new(false));
    let seen = read_request.clone();
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok((socket, _)) = listener.accept().await {
            connections.spawn(serve(socket, then.clone(), seen.clone()));
        }
    });
    Scripted {
        port,
        read_request,
        task,
    }
}

async fn serve(mut socket: TcpStream, then: Then, seen: Arc<AtomicBool>) {
    match then {
        Then::Silent => std::future::pending::<()>().await,
        Then::Plain => {
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
            let _ = socket.shutdown().await;
            return;
        }
        _ => {}
    }
    if !read_request(&mut socket).await {
        return;
    }
    seen.store(true, Ordering::SeqCst);
    match then {
        Then::Silent | Then::Plain | Then::Hang => std::future::pending::<()>().await,
        Then::Close => drop(socket),
        Then::Answer(bytes) => {
            let _ = socket.write_all(bytes.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    }
}

/// Reads one request, its headers and `Content-Length` bytes of body; false if the peer left
/// before.
async fn read_request(socket: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return true;
            }
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A whole HTTP/1.1 response.
fn answer(status: &str, content_type: &str, body: &str) -> Then {
    Then::Answer(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into(),
    )
}

/// A profile whose token endpoint is `url`, one attempt per request, short timeouts.
fn profile(url: &str) -> Profile {
    let mut p = Profile::new("delivery", "cli");
    p.endpoints.token = url::Url::parse(url).ok();
    p.retry.max_attempts = 1;
    p.connect_timeout = Duration::from_millis(500);
    p.timeout = Duration::from_secs(2);
    p
}

/// Polls `done` until it holds, for at most 10 s.
async fn eventually(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// The row of the table: what the server does, and what the refresh's error must say.
struct Row {
    name: &'static str,
    then: Option<Then>,
    scheme: &'static str,
    delivery: Delivery,
    kind: ErrorKind,
    cause: Cause,
    processed: bool,
}

#[tokio::test]
async fn each_failure_says_whether_the_request_reached_the_server() {
    use Delivery::*;
    use ErrorKind::{Protocol, ProviderUnavailable};
    let row = |name, then, scheme, delivery, kind, cause, processed| Row {
        name,
        then,
        scheme,
        delivery,
        kind,
        cause,
        processed,
    };
    let rows = [
        row(
            "dns failure",
            None,
            "http",
            NotSent,
            ProviderUnavailable,
            Cause::Dns,
            false,
        ),
        row(
            "connect refused",
            None,
            "http",
            NotSent,
            ProviderUnavailable,
            Cause::Connect,
            false,
        ),
        row(
            "tls failure (https to a plain-http server)",
            Some(Then::Plain),
            "https",
            NotSent,
            ProviderUnavailable,
            Cause::Tls,
            false,
        ),
        row(
            "timeout before the request was sent (the TLS handshake is never answered)",
            Some(Then::Silent),
            "https",
            NotSent,
            ProviderUnavailable,
            Cause::Timeout,
            false,
        ),
        row(
            "timeout after the body was sent",
            Some(Then::Hang),
            "http",
            MaybeProcessed,
            ProviderUnavailable,
            Cause::Timeout,
            true,
        ),
        row(
            "connection closed after the body was sent",
            Some(Then::Close),
            "http",
            MaybeProcessed,
            ProviderUnavailable,
            Cause::Connect,
            true,
        ),
        row(
            "5xx JSON",
            Some(answer(
                "500 Internal Server Error",
                "application/json",
                r#"{"error":"server_error","error_description":"database down"}"#,
            )),
            "http",
            Answered,
            ProviderUnavailable,
            Cause::ProviderOutage,
            true,
        ),
        row(
            "a proxy's HTML 502",
            Some(answer(
                "502 Bad Gateway",
                "text/html",
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )),
            "http",
            Answered,
            ProviderUnavailable,
            Cause::ProxyAnswered,
            true,
        ),
        row(
            "a 200 with garbage",
            Some(answer(
                "200 OK",
                "text/plain",
                "this is not a token response",
            )),
            "http",
            Answered,
            Protocol,
            Cause::MalformedResponse,
            true,
        ),
        row(
            "a clean refusal (400 invalid_grant)",
            Some(answer(
                "400 Bad Request",
                "application/json",
                r#"{"error":"invalid_grant"}"#,
            )),
            "http",
            Answered,
            ErrorKind::LoginRequired,
            Cause::RefreshTokenRevoked,
            false,
        ),
    ];
    for r in rows {
        let server = match &r.then {
            Some(then) => Some(scripted(then.clone()).await),
            None => None,
        };
        let url = match (&server, r.cause) {
            (Some(s), _) => format!("{}://127.0.0.1:{}/token", r.scheme, s.port),
            (None, Cause::Dns) => "http://tokenwarden-delivery-test.invalid/token".to_string(),
            (None, _) => format!("http://127.0.0.1:{}/token", util::closed_port()),
        };
        let h = util::client(profile(&url), None);
        let done = h
            .client
            .refresh_exchanged(&RefreshToken::new("rt-presented"))
            .await;
        let e = done.result.expect_err(r.name);
        let case = format!("{}: {}", r.name, e.report());
        assert_eq!(e.delivery(), Some(r.delivery), "{case}");
        assert_eq!(e.kind(), r.kind, "{case}");
        assert_eq!(e.cause(), Some(r.cause), "{case}");
        assert_eq!(e.may_have_been_processed(), r.processed, "{case}");
        assert_eq!(done.exchange.maybe_processed, r.processed, "{case}");
        assert_eq!(done.exchange.attempts, 1, "{case}");
        assert_eq!(
            done.exchange.status,
            e.status(),
            "the evidence names the answer: {case}"
        );
        assert_eq!(
            e.status().is_some(),
            r.delivery == Answered,
            "a status exactly when answered: {case}"
        );
        if let Some(s) = &server
            && r.delivery != NotSent
        {
            let seen = s.read_request.clone();
            assert!(
                eventually(|| seen.load(Ordering::SeqCst)).await,
                "the server read the whole request: {case}"
            );
        }
        if r.delivery == NotSent
            && let Some(s) = &server
        {
            assert!(
                !s.read_request.load(Ordering::SeqCst),
                "no request reached the server: {case}"
            );
        }
    }
}

#[tokio::test]
async fn a_code_exchange_is_sent_again_only_when_it_never_left() {
    // A refused connection never reached the server: the single-use code is still good, so the
    // exchange is tried again (and again refused, up to the attempts allowed).
    let mut p = profile(&format!("http://127.0.0.1:{}/token", util::closed_port()));
    p.retry.max_attempts = 3;
    let h = util::client(p, None);
    let e = h
        .client
        .exchange_code(
            tokenwarden::secret::AuthorizationCode::new("code"),
            "http://127.0.0.1/callback",
            None,
            None,
        )
        .await
        .expect_err("refused");
    assert_eq!(e.delivery(), Some(Delivery::NotSent), "{}", e.report());
    assert_eq!(h.sleeper.slept().len(), 2, "{}", e.report());
    // A timeout after the request was written may have used the code up: not sent again.
    let server = scripted(Then::Hang).await;
    let mut p = profile(&format!("http://127.0.0.1:{}/token", server.port));
    p.retry.max_attempts = 3;
    let h = util::client(p, None);
    let e = h
        .client
        .exchange_code(
            tokenwarden::secret::AuthorizationCode::new("code"),
            "http://127.0.0.1/callback",
            None,
            None,
        )
        .await
        .expect_err("timed out");
    assert_eq!(
        e.delivery(),
        Some(Delivery::MaybeProcessed),
        "{}",
        e.report()
    );
    assert_eq!(e.cause(), Some(Cause::CodeMaybeConsumed), "{}", e.report());
    assert!(h.sleeper.slept().is_empty(), "{}", e.report());
}
