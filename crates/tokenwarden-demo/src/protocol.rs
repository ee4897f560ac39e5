//! The wire between `tokenwarden demo` and its worker processes (`tokenwarden demo-worker`).
//!
//! The parent starts a worker as the hidden subcommand [`WORKER_COMMAND`] of the running program
//! with the flags of [`WorkerSettings::args`]. A worker writes one JSON [`Event`] per line on its
//! stdout. The parent writes `go` on the
//! worker's stdin once every worker is ready, and the worker stops by itself at its deadline,
//! or as soon as its stdin closes (the parent is gone).

use serde::{Deserialize, Serialize};

/// The line the parent writes to start the workers.
pub const GO: &str = "go";

/// The hidden subcommand of the running program that runs one worker.
pub const WORKER_COMMAND: &str = "demo-worker";

/// How a worker keeps its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Through the library's `Session`: one shared store, single-flight refresh across
    /// processes, re-read after a lost race, degraded mode while the provider fails.
    Tokenwarden,
    /// The troubleshooting guides' sample code: each process keeps its own copy, refreshes when
    /// its copy looks expired, no lock, no re-read; `invalid_grant` means logging in again.
    Naive,
}

impl Strategy {
    /// Both strategies, in the order a comparison runs them.
    pub const BOTH: [Strategy; 2] = [Strategy::Tokenwarden, Strategy::Naive];

    /// The name used in tables, JSON and on a worker's command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Tokenwarden => "tokenwarden",
            Strategy::Naive => "naive",
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;

    /// The strategy named `s` (as [`Strategy::as_str`] writes it).
    fn from_str(s: &str) -> Result<Strategy, String> {
        Strategy::BOTH
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown strategy `{s}` (expected tokenwarden or naive)"))
    }
}

/// What one worker process is told on its command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// This worker's number (0-based).
    pub worker: u32,
    /// How the worker keeps its token.
    pub strategy: Strategy,
    /// How long to run after `go`, in milliseconds.
    pub run_ms: u64,
    /// The pause between calls, in milliseconds (jittered by ±30 %).
    pub interval_ms: u64,
}

impl WorkerSettings {
    /// The flags that follow [`WORKER_COMMAND`] on the worker's command line.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--worker".into(),
            self.worker.to_string(),
            "--strategy".into(),
            self.strategy.as_str().into(),
            "--run-ms".into(),
            self.run_ms.to_string(),
            "--interval-ms".into(),
            self.interval_ms.to_string(),
        ]
    }
}

/// Something that happened in a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The worker (0-based).
    pub worker: u32,
    /// When it started, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// How long it took, in milliseconds (0 for instants).
    #[serde(default)]
    pub ms: f64,
    /// What happened.
    #[serde(flatten)]
    pub kind: Kind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// Set up and waiting for `go`.
    Ready,
    /// A token was obtained; `degraded` when it is a still-valid token handed out while the
    /// provider fails.
    TokenOk {
        /// Handed out in degraded mode.
        degraded: bool,
    },
    /// No token could be obtained.
    TokenErr {
        /// A short label of the error (`provider_unavailable: 503`…).
        error: String,
    },
    /// The API call (get a token, call `/v1/messages`) succeeded.
    ResourceOk {
        /// A 401 made the worker refresh and call again.
        retried: bool,
    },
    /// The API call failed.
    ResourceFail {
        /// The API's last status, when it answered.
        status: Option<u16>,
        /// A short label of why.
        error: String,
    },
    /// A refresh request sequence (with its retries) ended.
    Refresh {
        /// It produced a new token.
        ok: bool,
        /// A short label of the error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The provider answered `invalid_grant` to a refresh.
    InvalidGrant,
    /// The worker lost its session and must log in again (counted once per loss).
    LoginRequired,
    /// A login attempt after a [`Kind::LoginRequired`].
    Relogin {
        /// It worked.
        ok: bool,
        /// A short label of the error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The worker stopped.
    Done,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_one_line() {
        let e = Event {
            worker: 2,
            at_ms: 1_700_000_000_000,
            ms: 1.5,
            kind: Kind::ResourceFail {
                status: Some(401),
                error: "session_rejected".into(),
            },
        };
        let line = serde_json::to_string(&e).expect("serialises");
        assert!(!line.contains('\n'));
        assert!(line.contains(r#""kind":"resource_fail""#), "{line}");
        let back: Event = serde_json::from_str(&line).expect("parses");
        assert_eq!(back, e);
        let ready: Event =
            serde_json::from_str(r#"{"worker":0,"at_ms":1,"kind":"ready"}"#).expect("parses");
        assert_eq!(ready.kind, Kind::Ready);
    }

    #[test]
    fn strategies_are_named_as_they_are_parsed() {
        for s in Strategy::BOTH {
            assert_eq!(s.as_str().parse::<Strategy>(), Ok(s));
        }
        assert!("careful".parse::<Strategy>().is_err());
    }
}
