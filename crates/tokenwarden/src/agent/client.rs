//! [`AgentClient`]: one connection to a running agent. It never opens the store, reads the
//! configuration or decrypts anything: it writes a request line and reads the answer.
//!
//! Every failure to use the agent is an [`Unavailable`] (none runs, another protocol version,
//! a broken connection): the caller then works without the agent. What the agent *answered*
//! (a token, or the error of getting one) is the agent's result, passed on as it is.

use super::dirs::AgentPaths;
use super::protocol::{Envelope, PROTOCOL_VERSION, RELEASE, Reply, Request, WireToken, to_line};
use crate::error::Error;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// The longest a client waits for an answer (a refresh the agent runs for the caller may take
/// that long at worst; a dead agent closes the connection at once).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// Why the agent cannot be used (the caller works without it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Unavailable {
    /// Nothing listens on the socket.
    #[error("no agent is running (nothing listens on {})", .0.display())]
    NotRunning(PathBuf),
    /// The agent speaks another protocol version.
    #[error(
        "the agent speaks protocol {agent} (release {release}) and this tokenwarden speaks {ours}: not using it (restart the agent with this tokenwarden)"
    )]
    Version {
        /// The agent's protocol version.
        agent: u32,
        /// The agent's release.
        release: String,
        /// This build's protocol version.
        ours: u32,
    },
    /// Reading or writing the socket failed.
    #[error("the connection to the agent failed: {0}")]
    Io(#[from] std::io::Error),
    /// The agent closed the connection before answering (it stopped or died).
    #[error("the agent closed the connection without answering")]
    Closed,
    /// The agent did not answer in time.
    #[error("the agent did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The answer was not one this build can read.
    #[error("the agent sent an answer this tokenwarden cannot read: {0}")]
    BadAnswer(String),
}

/// A connection to the agent.
#[derive(Debug)]
pub struct AgentClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    line: String,
}

impl AgentClient {
    /// Connects to the agent of `paths`.
    pub async fn connect(paths: &AgentPaths) -> Result<AgentClient, Unavailable> {
        Self::connect_to(&paths.socket()).await
    }

    /// Connects to the agent listening on `socket`.
    pub async fn connect_to(socket: &Path) -> Result<AgentClient, Unavailable> {
        let stream = UnixStream::connect(socket).await.map_err(|e| {
            use std::io::ErrorKind as K;
            match e.kind() {
                K::NotFound | K::ConnectionRefused => Unavailable::NotRunning(socket.into()),
                _ => Unavailable::Io(e),
            }
        })?;
        let (r, w) = stream.into_split();
        Ok(AgentClient {
            reader: BufReader::new(r),
            writer: w,
            line: String::new(),
        })
    }

    /// Sends `request` and reads the answer. A `version_mismatch` answer is
    /// [`Unavailable::Version`].
    pub async fn call(&mut self, request: Request) -> Result<Reply, Unavailable> {
        let line = to_line(&Envelope::new(request))
            .map_err(|e| Unavailable::BadAnswer(e.message().to_string()))?;
        self.writer.write_all(&line).await?;
        self.line.clear();
        let read = tokio::time::timeout(ANSWER_TIMEOUT, self.reader.read_line(&mut self.line))
            .await
            .map_err(|_| Unavailable::Timeout(ANSWER_TIMEOUT))??;
        if read == 0 {
            return Err(Unavailable::Closed);
        }
        let answer: Envelope<Reply> = serde_json::from_str(self.line.trim_end()).map_err(|e| {
            match serde_json::from_str::<super::protocol::VersionOnly>(self.line.trim_end()) {
                Ok(v) if v.v != PROTOCOL_VERSION => Unavailable::Version {
                    agent: v.v,
                    release: "unknown".into(),
                    ours: PROTOCOL_VERSION,
                },
                _ => Unavailable::BadAnswer(e.to_string()),
            }
        })?;
        match answer.body {
            Reply::VersionMismatch {
                agent_protocol,
                agent_release,
            } => Err(Unavailable::Version {
                agent: agent_protocol,
                release: agent_release,
                ours: PROTOCOL_VERSION,
            }),
            reply => Ok(reply),
        }
    }

    /// A token of `profile` valid for at least `min_ttl`: the outer result says whether the
    /// agent could be used, the inner one what it answered.
    pub async fn token(
        &mut self,
        profile: &str,
        min_ttl: Duration,
    ) -> Result<Result<WireToken, Error>, Unavailable> {
        let reply = self
            .call(Request::Token {
                profile: profile.to_string(),
                min_ttl_ms: u64::try_from(min_ttl.as_millis()).unwrap_or(u64::MAX),
            })
            .await?;
        match reply {
            Reply::Token(t) => Ok(Ok(t)),
            Reply::Error(doc) => Ok(Err(doc.into_error())),
            other => Err(unexpected(&other)),
        }
    }

    /// Sends `request`, which the agent answers with `done` (or an error).
    pub async fn done(&mut self, request: Request) -> Result<Result<(), Error>, Unavailable> {
        match self.call(request).await? {
            Reply::Done => Ok(Ok(())),
            Reply::Error(doc) => Ok(Err(doc.into_error())),
            other => Err(unexpected(&other)),
        }
    }

    /// What `tokenwarden status` shows of every profile.
    pub async fn profiles(
        &mut self,
    ) -> Result<Result<Vec<crate::profiles::ProfileState>, Error>, Unavailable> {
        match self.call(Request::Profiles).await? {
            Reply::Profiles { profiles } => Ok(Ok(profiles)),
            Reply::Error(doc) => Ok(Err(doc.into_error())),
            other => Err(unexpected(&other)),
        }
    }

    /// The agent's release and pid (`hello`, which also tells an older agent that a newer
    /// client exists).
    pub async fn hello(&mut self) -> Result<(String, u32), Unavailable> {
        match self
            .call(Request::Hello {
                client_release: RELEASE.to_string(),
            })
            .await?
        {
            Reply::Hello { agent_release, pid } => Ok((agent_release, pid)),
            other => Err(unexpected(&other)),
        }
    }
}

/// An answer of the wrong type.
pub(crate) fn unexpected(reply: &Reply) -> Unavailable {
    let name = match reply {
        Reply::Hello { .. } => "hello",
        Reply::Token(_) => "token",
        Reply::Done => "done",
        Reply::Status(_) => "status",
        Reply::Profiles { .. } => "profiles",
        Reply::Stopping => "stopping",
        Reply::VersionMismatch { .. } => "version_mismatch",
        Reply::Error(_) => "error",
    };
    Unavailable::BadAnswer(format!("an unexpected `{name}` answer"))
}

/// True unless `TOKENWARDEN_AGENT` turns the agent off (`0`, `false`, `no`, `off`).
pub fn enabled_by_env() -> bool {
    enabled_by(std::env::var("TOKENWARDEN_AGENT").ok().as_deref())
}

/// True unless `value` (of `TOKENWARDEN_AGENT`) turns the agent off.
pub fn enabled_by(value: Option<&str>) -> bool {
    !matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("0" | "false" | "no" | "off")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_turns_the_agent_off() {
        assert!(enabled_by(None));
        assert!(enabled_by(Some("1")));
        assert!(!enabled_by(Some("0")));
        assert!(!enabled_by(Some("Off")));
    }
}
