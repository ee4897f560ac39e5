//! tokenwarden keeps a valid OAuth 2.0 / OpenID Connect access token available to every thread
//! and process that needs one, refreshes it exactly once per expiry, and explains every failure.
//!
//! # Layout
//! - [`secret`]: secret values that redact themselves.
//! - [`token`]: `TokenSet` and the expiry arithmetic.
//! - [`error`]: the error taxonomy and hints; [`exit`]: exit codes and the `--json` error document.
//! - [`correlation`]: one correlation id per operation, on every log line, event and error.
//! - [`paths`]: where files live (`TOKENWARDEN_HOME`, XDG).
//! - [`config`]: profiles, provider presets, validation and the redirect-URI lint.
//! - [`discovery`]: RFC 8414 / OpenID Connect metadata (part of [`http`], which fetches it
//!   and uses it).
//! - [`http`]: one token-endpoint exchange, with everything seen captured; classification.
//! - [`retry`]: backoff with full jitter, `Retry-After`, the circuit breaker.
//! - [`store`]: the `Store` trait a backend plugs into (tokens, refresh lock, breaker state,
//!   event log records); the encrypted SQLite store; the in-memory store for tests.
//! - [`session`]: the refresh coordinator; [`warden`]: the facade the CLI opens (also what
//!   needs both the configuration and the store: the failure-rate warnings).
//! - [`agent`]: the agent's protocol, where it lives, and its clients (the daemon is the
//!   `tokenwarden-agent` crate).
//! - [`account`]: a login as a whole: storing what it obtained, logging out.
//! - [`horizon`]: when the refresh token expires (a new login is needed), and its warning.
//! - [`profiles`]: what `status` shows of every profile (read by the CLI and the agent).
//! - [`events`]: recording the token-operation log, its statistics and the 5xx rate.
//! - [`diagnose`]: `doctor`'s checks, as data.
#![deny(missing_docs)]

pub mod account;
pub mod agent;
pub mod clock;
pub mod config;
pub mod correlation;
pub mod diagnose;
pub use http::discovery;
pub mod error;
pub mod events;
pub use error::exit;
pub mod flow;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod horizon;
pub mod http;
pub mod human;
pub mod paths;
pub mod profiles;
pub mod retry;
pub mod secret;
pub mod session;
pub mod store;
pub mod token;
pub mod warden;

pub use config::{Config, Profile};
pub use error::{Error, ErrorKind, Result};
pub use http::TokenClient;
