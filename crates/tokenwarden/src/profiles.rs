//! What `status` shows of every profile ([`ProfileState`]), read in one place for the CLI
//! (from the store) and the agent (which answers `status` over its socket without the client
//! opening the store). Nothing secret: expiry, scopes, whether a refresh token is held, the
//! last refresh and its error, the state and why.

use crate::error::{Cause, Result};
use crate::horizon::{DEFAULT_WARNING, Horizon};
use crate::store::{StoredTokens, TokenState};
use crate::warden::Warden;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// One profile: configured, stored, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileState {
    /// The profile's name.
    pub profile: String,
    /// Whether config.toml has it (tokens may outlive it).
    pub configured: bool,
    /// The 5xx-rate warning when its recent requests pass its threshold; that a new login
    /// will be needed soon, inside the profile's `refresh_expiry_warning`.
    pub warnings: Vec<String>,
    /// What is stored; `None` when logged out.
    pub stored: Option<StoredState>,
}

/// A profile's stored tokens, without the secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredState {
    /// `valid`, `rejected` or `login_required`.
    pub state: String,
    /// What the provider said when the session ended.
    pub login_required_reason: Option<String>,
    /// Why a new login is needed ([`Cause::as_str`]).
    pub login_required_cause: Option<String>,
    /// When the access token expires (Unix milliseconds).
    pub expires_at_ms: Option<u64>,
    /// When the tokens were obtained (Unix milliseconds).
    pub obtained_at_ms: u64,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// Whether a refresh token is held.
    pub refresh_token: bool,
    /// When the refresh token was obtained (Unix milliseconds).
    pub refresh_token_obtained_at_ms: Option<u64>,
    /// When the refresh token expires: a new login is needed then (Unix milliseconds).
    #[serde(default)]
    pub refresh_token_expires_at_ms: Option<u64>,
    /// When the last refresh attempt ended (Unix milliseconds).
    pub last_refresh_at_ms: Option<u64>,
    /// The last refresh failure's message.
    pub last_error: Option<String>,
    /// The last refresh failure's cause ([`Cause::as_str`]).
    pub last_error_cause: Option<String>,
    /// The last refresh failed transiently (or is in flight).
    pub refresh_failure_transient: bool,
    /// The `sub` of the login.
    pub subject: Option<String>,
    /// The stored version.
    pub version: i64,
}

impl StoredState {
    /// What `status` shows of `s`.
    pub fn of(s: &StoredTokens) -> StoredState {
        let ms = crate::agent::protocol::unix_ms;
        let t = &s.tokens;
        StoredState {
            state: s.state.as_str().to_string(),
            login_required_reason: s.state.reason().map(str::to_string),
            login_required_cause: s.state.cause().map(|c| c.as_str().to_string()),
            expires_at_ms: t.expires_at.map(ms),
            obtained_at_ms: ms(t.obtained_at),
            scope: t.scope_string(),
            refresh_token: t.refresh_token.is_some(),
            refresh_token_obtained_at_ms: t.refresh_token_obtained_at.map(ms),
            refresh_token_expires_at_ms: t.refresh_token_expires_at.map(ms),
            last_refresh_at_ms: s.last_refresh_at.map(ms),
            last_error: s.last_error.as_ref().map(|e| e.message.clone()),
            last_error_cause: s
                .last_error
                .as_ref()
                .and_then(|e| e.cause)
                .map(|c| c.as_str().to_string()),
            refresh_failure_transient: s.refresh_failure_transient,
            subject: t.subject.clone(),
            version: s.version.get(),
        }
    }

    /// The stored state's name, `expired` for a valid token past its expiry at `now`.
    pub fn state_at(&self, now: SystemTime) -> &'static str {
        let expired = self
            .expires_at_ms
            .is_some_and(|e| crate::agent::protocol::from_unix_ms(e) <= now);
        match self.state.as_str() {
            "valid" if expired => "expired",
            "valid" => "valid",
            "rejected" => "rejected",
            _ => "login_required",
        }
    }

    /// False once a new login is needed.
    pub fn logged_in(&self) -> bool {
        self.state != "login_required"
    }

    /// True while refreshes fail transiently and the current token is used meanwhile.
    pub fn provider_failing(&self) -> bool {
        self.refresh_failure_transient
            && self.last_error.is_some()
            && self.state == TokenState::Valid.as_str()
    }

    /// The cause names as this build knows them (`None` for an unknown one).
    pub fn causes(&self) -> (Option<Cause>, Option<Cause>) {
        (
            self.last_error_cause.as_deref().and_then(Cause::parse),
            self.login_required_cause.as_deref().and_then(Cause::parse),
        )
    }
}

/// Every profile of the configuration and of the store, sorted by name.
pub fn profile_states(w: &Warden) -> Result<Vec<ProfileState>> {
    let store = w.store()?;
    let mut names = w.config().profile_names();
    for stored in crate::store::Store::list_profiles(store.as_ref())? {
        if !names.contains(&stored) {
            names.push(stored);
        }
    }
    names.sort();
    let now = w.clock().now();
    let mut rows = Vec::with_capacity(names.len());
    for name in names {
        let loaded = w.profile(&name).ok();
        let mut warnings: Vec<String> = loaded
            .as_ref()
            .and_then(|loaded| w.failure_rate_warning(&loaded.profile).ok().flatten())
            .into_iter()
            .collect();
        let warn_before = loaded
            .as_ref()
            .map_or(DEFAULT_WARNING, |l| l.profile.refresh_expiry_warning);
        let stored = crate::store::Store::read(store.as_ref(), &name)?;
        if let Some(s) = &stored {
            let soon = Horizon::at(s.tokens.refresh_token_expires_at, now, warn_before)
                .filter(|h| h.within_warning && s.tokens.refresh_token.is_some());
            warnings.extend(soon.map(|h| h.message(&name)));
        }
        rows.push(ProfileState {
            configured: w.config().has_profile(&name),
            profile: name,
            warnings,
            stored: stored.as_ref().map(StoredState::of),
        });
    }
    Ok(rows)
}
