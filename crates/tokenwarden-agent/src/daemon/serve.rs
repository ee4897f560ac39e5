//! The agent's socket: accepts connections from this user only (`SO_PEERCRED`), reads one
//! request per line and writes one answer per line. Answers are written in batches: a client
//! that sends several requests before reading gets them flushed together.

use super::metrics::Metrics;
use super::state::Agent;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokenwarden::agent::protocol::{
    Envelope, PROTOCOL_VERSION, RELEASE, Reply, Request, VersionOnly, WireToken, is_newer_release,
    to_line,
};
use tokenwarden::exit::ErrorDocument;
use tokenwarden::session::{Rejection, TokenSource as _};
use tokenwarden::{Error, ErrorKind};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, BufWriter};
use tokio::net::{UnixListener, UnixStream};

/// What the connection does after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    Continue,
    /// Answered; now the agent stops (`stop`, or a newer client).
    Stop,
}

/// Serves the socket until the agent is told to stop.
pub async fn serve(agent: Arc<Agent>, listener: UnixListener, own_uid: u32) {
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
            () = agent.stopped() => return,
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == own_uid => {}
            Ok(cred) => {
                tracing::warn!(
                    uid = cred.uid(),
                    pid = ?cred.pid(),
                    "refused a connection from another user (uid {})",
                    cred.uid()
                );
                continue;
            }
            Err(e) => {
                tracing::warn!("refused a connection whose peer cannot be identified: {e}");
                continue;
            }
        }
        tokio::spawn(connection(agent.clone(), stream));
    }
}

async fn connection(agent: Arc<Agent>, stream: UnixStream) {
    let (r, w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let mut writer = BufWriter::new(w);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let (reply, after) = answer(&agent, line.trim_end()).await;
        let bytes = match to_line(&Envelope::new(reply)) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("cannot encode an answer: {}", e.message());
                break;
            }
        };
        if writer.write_all(&bytes).await.is_err() {
            break;
        }
        if (reader.buffer().is_empty() || after == After::Stop) && writer.flush().await.is_err() {
            break;
        }
        if after == After::Stop {
            agent.stop();
            break;
        }
    }
}

/// The answer to one request line.
async fn answer(agent: &Arc<Agent>, line: &str) -> (Reply, After) {
    let request: Envelope<Request> = match serde_json::from_str(line) {
        Ok(r) => r,
        Err(e) => {
            return match serde_json::from_str::<VersionOnly>(line) {
                Ok(v) if v.v != PROTOCOL_VERSION => mismatch(v.v),
                _ => (
                    error(Error::protocol(format!(
                        "the agent cannot read this request: {e}"
                    ))),
                    After::Continue,
                ),
            };
        }
    };
    if request.v != PROTOCOL_VERSION {
        return mismatch(request.v);
    }
    match request.body {
        Request::Hello { client_release } => {
            let reply = Reply::Hello {
                agent_release: RELEASE.to_string(),
                pid: std::process::id(),
            };
            if is_newer_release(&client_release) {
                tracing::info!(
                    "a newer tokenwarden ({client_release}) asked; this agent ({RELEASE}) stops so that it can take over"
                );
                return (reply, After::Stop);
            }
            (reply, After::Continue)
        }
        Request::Token {
            profile,
            min_ttl_ms,
        } => (
            token(agent, &profile, Duration::from_millis(min_ttl_ms)).await,
            After::Continue,
        ),
        ref invalidate @ Request::Invalidate { ref profile, .. } => {
            let version = invalidate.invalidated_version();
            let reply = match (kept_or_error(agent, profile), version) {
                (Ok(k), Some(v)) => match k.session.invalidate_version(v) {
                    Ok(()) => {
                        k.wake.notify_one();
                        Reply::Done
                    }
                    Err(e) => error(e),
                },
                (Err(e), _) => error(e),
                (Ok(_), None) => Reply::Done,
            };
            (reply, After::Continue)
        }
        Request::Rejected {
            profile,
            status,
            request_id,
            attempt,
            session_rejected,
        } => {
            let reply = match kept_or_error(agent, &profile) {
                Ok(k) => {
                    agent
                        .metrics
                        .unauthorized
                        .get_or_create(&Metrics::profile(&profile))
                        .inc();
                    let r = Rejection {
                        status,
                        request_id,
                        attempt,
                        session_rejected,
                    };
                    k.session.rejected(&r).await;
                    Reply::Done
                }
                Err(e) => error(e),
            };
            (reply, After::Continue)
        }
        Request::Status => (Reply::Status(agent.status()), After::Continue),
        Request::Profiles => {
            let reply = match tokenwarden::profiles::profile_states(&agent.warden()) {
                Ok(profiles) => Reply::Profiles { profiles },
                Err(e) => error(e),
            };
            (reply, After::Continue)
        }
        Request::Stop => (Reply::Stopping, After::Stop),
    }
}

/// A token of `profile`: the one at hand when there is one (the keepalive refreshes ahead);
/// otherwise the caller waits for the refresh, which is counted.
pub async fn token(agent: &Arc<Agent>, profile: &str, min_ttl: Duration) -> Reply {
    let k = match kept_or_error(agent, profile) {
        Ok(k) => k,
        Err(e) => return error(e),
    };
    agent.tokens_served.fetch_add(1, Ordering::Relaxed);
    let label = Metrics::profile(profile);
    agent.metrics.tokens_served.get_or_create(&label).inc();
    let token = match k.session.usable_token(min_ttl) {
        Ok(Some(t)) => Ok(t),
        Ok(None) => {
            agent.waited.fetch_add(1, Ordering::Relaxed);
            agent.metrics.token_waits.get_or_create(&label).inc();
            let t = k.session.get_token(min_ttl).await;
            k.wake.notify_one();
            t
        }
        Err(e) => Err(e),
    };
    match token {
        Ok(t) => {
            let due = t.refresh_due(k.refresh_skew);
            Reply::Token(WireToken::of(&t, due))
        }
        Err(e) => error(e),
    }
}

/// The kept profile `name`; a profile added to the configuration a moment ago is picked up
/// now; an unknown one is the error the CLI would give.
fn kept_or_error(agent: &Arc<Agent>, name: &str) -> tokenwarden::Result<Arc<super::state::Kept>> {
    if let Some(k) = agent.kept(name) {
        return Ok(k);
    }
    super::keepalive::sync_profiles(agent);
    if let Some(k) = agent.kept(name) {
        return Ok(k);
    }
    // The configuration's own error (no such profile, or what is wrong with it).
    agent.warden().profile(name)?;
    Err(Error::new(
        ErrorKind::Other,
        format!("the agent cannot keep profile `{name}`"),
    )
    .with_hint("see the agent's log, or run the command with TOKENWARDEN_AGENT=0"))
}

fn mismatch(client: u32) -> (Reply, After) {
    let reply = Reply::VersionMismatch {
        agent_protocol: PROTOCOL_VERSION,
        agent_release: RELEASE.to_string(),
    };
    if client > PROTOCOL_VERSION {
        tracing::info!(
            "a client speaking protocol {client} asked; this agent speaks {PROTOCOL_VERSION} and stops so that a newer one can take over"
        );
        (reply, After::Stop)
    } else {
        (reply, After::Continue)
    }
}

fn error(e: Error) -> Reply {
    Reply::Error(ErrorDocument::new(&e))
}
