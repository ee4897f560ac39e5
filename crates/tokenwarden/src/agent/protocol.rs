//! The agent's wire protocol, shared by the agent and every client: newline-delimited JSON,
//! one request and one answer per line, each an object with the protocol version `"v"` and a
//! `"type"`.
//!
//! ```text
//! {"v":1,"type":"token","profile":"work","min_ttl_ms":0}
//! {"v":1,"type":"token","access_token":"…","token_type":"Bearer","expires_at_ms":…,…}
//! {"v":1,"type":"error","error":{"kind":"login_required","message":"…",…}}
//! ```
//!
//! Requests: `hello` (versions), `token` (a profile, a minimum TTL), `invalidate` (a token
//! version a resource server rejected), `rejected` (a resource server's 401, for the event
//! log), `status` (the agent's), `profiles` (what `tokenwarden status` shows), `stop`. An error is the same object the CLI prints with `--json`
//! ([`ErrorDocument`]).
//!
//! # Versions
//! A request whose `"v"` differs from [`PROTOCOL_VERSION`] gets a `version_mismatch` answer
//! naming the agent's version; the client then says so and works without the agent. An agent
//! that meets a *newer* client (a larger `"v"`, or a newer release in `hello`) answers and then
//! exits cleanly, so that the new binary's agent can take its place.

use crate::error::{Error, Result};
use crate::exit::ErrorDocument;
use crate::secret::{AccessToken, IdToken};
use crate::session::Token;
use crate::store::Version;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The release of this build (`hello` names it).
pub const RELEASE: &str = env!("CARGO_PKG_VERSION");

/// One line: the protocol version and a request or an answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The protocol version of the sender.
    pub v: u32,
    /// The request or the answer.
    #[serde(flatten)]
    pub body: T,
}

impl<T> Envelope<T> {
    /// `body` at this build's protocol version.
    pub fn new(body: T) -> Envelope<T> {
        Envelope {
            v: PROTOCOL_VERSION,
            body,
        }
    }
}

/// Only the version of a line (read when the whole line does not parse).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct VersionOnly {
    /// The protocol version of the sender.
    pub v: u32,
}

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// The versions of both sides; `client_release` is the client's build.
    Hello {
        /// The client's release, e.g. `0.1.0`.
        client_release: String,
    },
    /// A token of `profile` valid for at least `min_ttl_ms`.
    Token {
        /// The profile.
        profile: String,
        /// The minimum time to live, milliseconds.
        #[serde(default)]
        min_ttl_ms: u64,
    },
    /// A resource server rejected the token of `version`: mark exactly that one rejected.
    Invalidate {
        /// The profile.
        profile: String,
        /// The rejected token's version.
        version: i64,
    },
    /// A resource server answered 401; recorded in the event log.
    Rejected {
        /// The profile.
        profile: String,
        /// The HTTP status.
        status: u16,
        /// The resource server's request id.
        request_id: Option<String>,
        /// 1 for a request's first 401, 2 for its retry's.
        attempt: u32,
        /// The second 401 in a row: the session is rejected.
        session_rejected: bool,
    },
    /// The agent's status.
    Status,
    /// What `tokenwarden status` shows of every profile.
    Profiles,
    /// Stop the agent.
    Stop,
}

impl Request {
    /// The token version an `invalidate` request names.
    pub fn invalidated_version(&self) -> Option<Version> {
        match self {
            Request::Invalidate { version, .. } => Some(Version::from_raw(*version)),
            _ => None,
        }
    }
}

/// True when `release` (`1.2.3`) is newer than this build's [`RELEASE`].
pub fn is_newer_release(release: &str) -> bool {
    fn parts(r: &str) -> Vec<u64> {
        r.split(['.', '-', '+'])
            .take(3)
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    }
    parts(release) > parts(RELEASE)
}

/// What the agent answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// The agent's versions.
    Hello {
        /// The agent's release.
        agent_release: String,
        /// The agent's process id.
        pid: u32,
    },
    /// A token.
    Token(WireToken),
    /// Done (`invalidate`, `rejected`).
    Done,
    /// The agent's status.
    Status(AgentStatus),
    /// Every profile, as `tokenwarden status` shows them.
    Profiles {
        /// The profiles, sorted by name.
        profiles: Vec<crate::profiles::ProfileState>,
    },
    /// The agent is stopping.
    Stopping,
    /// The request's version is not the agent's.
    VersionMismatch {
        /// The agent's protocol version.
        agent_protocol: u32,
        /// The agent's release.
        agent_release: String,
    },
    /// The request failed: the CLI's error object.
    Error(ErrorDocument),
}

/// A token as the agent hands it out. `Debug` never shows the token.
#[derive(Clone, Serialize, Deserialize)]
pub struct WireToken {
    /// The access token (a secret: it is what the socket is for).
    pub access_token: String,
    /// Normally `Bearer`.
    pub token_type: String,
    /// When it expires (Unix milliseconds).
    pub expires_at_ms: Option<u64>,
    /// How long the provider granted it for, milliseconds.
    pub lifetime_ms: Option<u64>,
    /// When it enters the proactive refresh window (Unix milliseconds): a client may keep it
    /// until then without asking again.
    pub refresh_due_ms: Option<u64>,
    /// The granted scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The stored version it came from.
    pub version: i64,
    /// The degraded-mode warning, when the provider is failing.
    pub degraded: Option<String>,
    /// Any other warning (a `min_ttl` the provider cannot meet).
    pub warning: Option<String>,
    /// The stored OpenID Connect ID token (a secret, like the access token), when there is one.
    #[serde(default)]
    pub id_token: Option<String>,
    /// When the refresh token behind it expires (Unix milliseconds), when known.
    #[serde(default)]
    pub refresh_token_expires_at_ms: Option<u64>,
}

impl fmt::Debug for WireToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WireToken")
            .field("access_token", &"[redacted]")
            .field("expires_at_ms", &self.expires_at_ms)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl WireToken {
    /// The wire form of `token`, due for refresh at `refresh_due`.
    pub fn of(token: &Token, refresh_due: Option<SystemTime>) -> WireToken {
        WireToken {
            access_token: token.access_token().expose().to_string(),
            token_type: token.token_type().to_string(),
            expires_at_ms: token.expires_at().map(unix_ms),
            lifetime_ms: token.lifetime().map(millis),
            refresh_due_ms: refresh_due.map(unix_ms),
            scopes: token.scopes().to_vec(),
            version: token.version().get(),
            degraded: token.degraded().map(str::to_string),
            warning: token.warning().map(str::to_string),
            id_token: token.id_token().map(|t| t.expose().to_string()),
            refresh_token_expires_at_ms: token.refresh_token_expires_at().map(unix_ms),
        }
    }

    /// The token, as a session would have handed it out.
    pub fn into_token(self) -> Token {
        Token::from_parts(
            AccessToken::new(self.access_token),
            self.token_type,
            self.expires_at_ms.map(from_unix_ms),
            self.scopes,
            Version::from_raw(self.version),
            self.lifetime_ms.map(Duration::from_millis),
            self.id_token.map(IdToken::new),
            self.refresh_token_expires_at_ms.map(from_unix_ms),
        )
        .with_degraded(self.degraded)
        .with_warning(self.warning)
    }

    /// When it enters the proactive window, as a time.
    pub fn refresh_due(&self) -> Option<SystemTime> {
        self.refresh_due_ms.map(from_unix_ms)
    }
}

/// The agent's state, for `agent status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentStatus {
    /// The agent's process id.
    pub pid: u32,
    /// The agent's release.
    pub release: String,
    /// The protocol version it speaks.
    pub protocol: u32,
    /// Its socket.
    pub socket: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Seconds since it started.
    pub uptime_s: u64,
    /// Token requests answered.
    pub tokens_served: u64,
    /// Token requests that had to wait for a refresh (the keepalive had not refreshed ahead).
    pub waited_for_refresh: u64,
    /// Every profile it keeps.
    pub profiles: Vec<ProfileStatus>,
}

/// One profile the agent keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileStatus {
    /// The profile.
    pub profile: String,
    /// `valid`, `degraded`, `login_required`, `logged_out` or `failing`.
    pub state: String,
    /// When the access token expires (RFC 3339).
    pub expires_at: Option<String>,
    /// When the agent refreshes it next (RFC 3339).
    pub next_refresh: Option<String>,
    /// When the agent last refreshed it (RFC 3339).
    pub last_refresh: Option<String>,
    /// Refreshes the agent made.
    pub refreshes: u64,
    /// The circuit breaker of its token endpoint: `closed`, `failing` or `open`.
    pub breaker: String,
    /// Until when the breaker is open (RFC 3339).
    pub breaker_open_until: Option<String>,
    /// What the last refresh attempt said, when it failed.
    pub last_error: Option<String>,
}

/// Serialises `v` as one line (with its line break).
pub fn to_line<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    let mut line = serde_json::to_vec(v)
        .map_err(|e| Error::protocol(format!("cannot encode an agent message: {e}")))?;
    line.push(b'\n');
    Ok(line)
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// A time from milliseconds since the Unix epoch.
pub fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_one_line_with_its_version_and_type() {
        let line = to_line(&Envelope::new(Request::Token {
            profile: "work".into(),
            min_ttl_ms: 5,
        }))
        .expect("encodes");
        let text = String::from_utf8(line).expect("utf-8");
        assert_eq!(
            text,
            "{\"v\":1,\"type\":\"token\",\"profile\":\"work\",\"min_ttl_ms\":5}\n"
        );
        let back: Envelope<Request> = serde_json::from_str(text.trim()).expect("decodes");
        assert_eq!(
            back.body,
            Request::Token {
                profile: "work".into(),
                min_ttl_ms: 5
            }
        );
    }

    #[test]
    fn an_unknown_request_of_a_newer_client_still_shows_its_version() {
        let line = r#"{"v":7,"type":"teleport","where":"moon"}"#;
        assert!(serde_json::from_str::<Envelope<Request>>(line).is_err());
        let v: VersionOnly = serde_json::from_str(line).expect("the version reads");
        assert_eq!(v.v, 7);
    }

    #[test]
    fn an_error_answer_is_the_cli_error_object() {
        let err = Error::login_required("no tokens").with_hint("log in");
        let line =
            to_line(&Envelope::new(Reply::Error(ErrorDocument::new(&err)))).expect("encodes");
        let value: serde_json::Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(value["type"], "error");
        assert_eq!(value["error"]["kind"], "login_required");
        assert_eq!(value["error"]["exit_code"], 3);
        let back: Envelope<Reply> = serde_json::from_slice(&line).expect("decodes");
        let Reply::Error(doc) = back.body else {
            panic!("not an error")
        };
        let e = doc.into_error();
        assert_eq!(e.kind(), crate::ErrorKind::LoginRequired);
        assert_eq!(e.hint(), Some("log in"));
    }

    #[test]
    fn a_wire_token_never_shows_its_secret() {
        let w = WireToken {
            access_token: "very-secret".into(),
            token_type: "Bearer".into(),
            expires_at_ms: Some(1),
            lifetime_ms: None,
            refresh_due_ms: None,
            scopes: vec![],
            version: 3,
            degraded: None,
            warning: None,
            id_token: Some("very-secret-id".into()),
            refresh_token_expires_at_ms: None,
        };
        assert!(!format!("{w:?}").contains("very-secret"));
        let t = w.into_token();
        assert_eq!(t.version().get(), 3);
        assert_eq!(t.access_token().expose(), "very-secret");
    }
}
