//! Revocations still owed to the provider after a logout (RFC 7009 §2.2.1: a server that
//! answers 503, or cannot be reached, is to be asked again later).
//!
//! A logout whose revocation failed that way still logs the profile out (its tokens row goes:
//! `token` finds nothing, as after any logout), but the tokens the provider did not take are
//! kept, sealed, as [`PendingRevocation`]s; the next `logout` or `doctor` of the profile asks
//! the provider again, and forgets each one the provider takes. Kept apart from the tokens row,
//! they survive a new login of the same profile.

use super::LastError;
use crate::http::TokenTypeHint;
use crate::secret::SecretString;
use std::time::SystemTime;

/// A token a logout could not revoke, kept until the provider takes its revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRevocation {
    /// Its id in the store.
    pub id: i64,
    /// The profile that was logged out.
    pub profile: String,
    /// Which token.
    pub hint: TokenTypeHint,
    /// The token (redacted in `Debug`).
    pub token: SecretString,
    /// When the logout happened.
    pub since: SystemTime,
    /// Revocation attempts so far (the logout's included).
    pub attempts: u32,
    /// Why the last attempt failed (no secrets).
    pub last_error: Option<LastError>,
}
