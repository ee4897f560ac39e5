//! `doctor`'s checks, as data: each [`Check`] is ok, warn or fail, with a detail saying what was
//! found and, when something is wrong, the fix. The library never prints; the CLI renders a
//! [`Report`] as lines or JSON.
//!
//! What is checked, in order (later checks are skipped when what they need failed; on a fresh
//! home no store is created, and `store` says where the first login will put it):
//! - `config`, `redirect_uri`, `client_secret`, `proxy` ([`local`]): the profile parses and
//!   validates, the redirect-URI lint, the client secret's variable, proxy variables;
//! - `dns`, `tcp`, `tls`, `discovery`, `issuer`, `token_endpoint` ([`network`], with the
//!   `connectivity` and `probe` modules): each step to the provider told apart, then a probe of
//!   the token endpoint with a deliberately invalid code, which tells a refused client or a wrong
//!   body format from an outage without touching any token, and `token_endpoint_refresh`, the
//!   same for the refresh_token grant (`token_endpoint_config` warns when a configured token
//!   endpoint differs from the advertised one); `revocation` and `resource_indicator`
//!   ([`provider`]): whether `logout` can revoke, and whether the RFC 8707 indicators fit;
//! - `clock`, `clock_iat` ([`clock`]): skew from the `Date` header and from JWT `iat`;
//! - with a fleet store, `store`, `store_reachable`, `store_tls`, `store_schema`,
//!   `store_privileges`, `store_key`, `store_clock` ([`fleet`]) instead of the file's checks;
//! - `store`, `store_integrity`, `token`, `scopes`, `refresh_token`, `last_error`,
//!   `failure_rate` ([`local`]): the store's path, permissions, key and integrity, the token's
//!   state, and the 5xx rate of the last 15 minutes; a refused refresh token is explained by
//!   [`refusal`] (a revocation, a lost rotation, or another program sharing the token);
//! - `breaker` ([`breaker`]): whether the shared circuit breaker holds requests to the provider
//!   back, why and until when ([`breaker::reset`] clears it: `doctor --reset-breaker`);
//! - `revocation` ([`revocation`], only when something is pending): tokens an earlier logout
//!   could not revoke, asked again when online;
//! - with `--live`, `live_token` and `live_resource` ([`live`]): a token (refreshed only when
//!   needed) and a call to the profile's `resource`.
//!
//! [`curl`] renders the profile's token request as a curl command (`doctor --curl`).

pub mod breaker;
pub mod clock;
mod connectivity;
pub mod curl;
pub mod fleet;
pub mod live;
pub mod local;
pub mod network;
mod probe;
pub mod provider;
pub mod refusal;
pub mod revocation;

use crate::error::Error;
use crate::warden::Warden;
use std::time::Duration;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but deserves attention.
    Warn,
    /// Broken: the fix says what to do.
    Fail,
}

impl Status {
    /// `ok`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// A stable identifier, e.g. `clock` or `token_endpoint`.
    pub name: &'static str,
    /// Ok, warn or fail.
    pub status: Status,
    /// What was found (never a secret).
    pub detail: String,
    /// What to do, for warnings and failures.
    pub fix: Option<String>,
}

impl Check {
    /// A passing check.
    pub fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A warning, with its fix.
    pub fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A failure, with its fix.
    pub fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A failure described by `err`: its message with the evidence (HTTP status, OAuth error,
    /// request id, correlation id), and its hint as the fix.
    pub fn from_error(name: &'static str, err: &Error) -> Check {
        Check::fail(
            name,
            describe_error(err),
            err.hint()
                .unwrap_or("run the command again with --trace-http to see the exchange"),
        )
    }
}

/// An error's message followed by its evidence, on one line.
pub fn describe_error(err: &Error) -> String {
    let mut s = err.message().to_string();
    let mut extra = Vec::new();
    if let Some(o) = err.oauth() {
        // The message already quotes the description.
        extra.push(format!("oauth error {}", o.code));
    }
    if let Some(st) = err.status() {
        extra.push(format!("HTTP {st}"));
    }
    if let Some(id) = err.request_id() {
        extra.push(format!("request id {id}"));
    }
    if let Some(c) = err.correlation_id() {
        extra.push(format!("correlation id {c}"));
    }
    if !extra.is_empty() {
        s.push_str(&format!(" [{}]", extra.join("; ")));
    }
    s
}

/// Every check of one profile.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// The profile.
    pub profile: String,
    /// The checks, in the order run.
    pub checks: Vec<Check>,
}

impl Report {
    /// The worst status (ok for no checks).
    pub fn status(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    /// How many checks have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The check named `name`, if it ran.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

/// What `doctor` does beyond the local and read-only network checks.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Also fetch a token (refreshing only when needed) and call the profile's `resource`.
    pub live: bool,
    /// Skip the network checks (DNS, TCP, TLS, discovery, the token-endpoint probe).
    pub offline: bool,
}

/// Warn when the clock differs from the provider's by more than this.
pub const SKEW_WARN: Duration = Duration::from_secs(5);

/// Fail when the clock differs from the provider's by more than this.
pub const SKEW_FAIL: Duration = Duration::from_secs(30);

/// Runs every check for `profile`. Never fails: what goes wrong is a failing check. The checks
/// are one operation: their exchanges, log lines and errors share the current correlation id
/// (a new one when none is current).
pub async fn diagnose(warden: &Warden, profile: &str, opts: &Options) -> Report {
    crate::correlation::joined(|_| run(warden, profile, opts)).await
}

async fn run(warden: &Warden, profile: &str, opts: &Options) -> Report {
    let mut checks = Vec::new();
    let loaded = local::config(warden, profile, &mut checks);
    let mut observed = clock::Observations::default();
    if let Some(p) = &loaded {
        local::redirect_uri(p, &mut checks);
        local::client_secret(p, &mut checks);
        local::proxy(p, &mut checks);
        if !opts.offline {
            network::run(warden, p, &mut checks, &mut observed).await;
        }
    }
    let (exists, store) = match warden.fleet_settings() {
        Ok(Some(settings)) => (true, fleet::checks(warden, &settings, &mut checks)),
        Ok(None) if local::store_exists(warden) => (true, local::store(warden, &mut checks)),
        Ok(None) => {
            local::no_store_yet(warden, &mut checks);
            (false, None)
        }
        Err(e) => {
            checks.push(fleet::settings_error(&e));
            (true, None)
        }
    };
    match (&loaded, &store) {
        (Some(p), Some(store)) => {
            let stored = local::token(warden, p, store.as_ref(), &mut checks);
            if let Some(s) = &stored {
                clock::from_tokens(&s.tokens, &mut observed);
            }
            clock::checks(&observed, opts.offline, &mut checks);
            local::failure_rate(warden, p, store.as_ref(), &mut checks);
            breaker::check(warden, p, store.clone(), !opts.offline, &mut checks).await;
            revocation::check(warden, p, store.as_ref(), !opts.offline, &mut checks).await;
            if opts.live {
                live::run(warden, p, &mut checks).await;
            }
        }
        (Some(p), None) => {
            if !exists {
                checks.push(local::not_logged_in(p));
            }
            clock::checks(&observed, opts.offline, &mut checks);
        }
        // No profile, no provider to compare the clock with.
        (None, _) => {}
    }
    Report {
        profile: profile.to_string(),
        checks,
    }
}

/// The report when the configuration file itself cannot be read (a TOML syntax error): one
/// failing `config` check.
pub fn unreadable_config(profile: &str, err: &Error) -> Report {
    Report {
        profile: profile.to_string(),
        checks: vec![Check::from_error("config", err)],
    }
}
