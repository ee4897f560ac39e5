//! The token store: where each profile's tokens, their version and their state live, the
//! per-profile refresh lock that serialises refreshes across processes, the circuit breakers'
//! shared state and the token-operation log.
//!
//! # Layout
//! - this file: the [`Store`] trait, the seam every backend plugs into, and the types it
//!   speaks ([`Version`], [`TokenState`], [`StoredTokens`], [`LastError`], [`CasOutcome`]);
//!   breaker records are the retry module's [`BreakerRecord`], kept through its
//!   [`BreakerBackend`] trait.
//! - [`guard`]: [`RefreshGuard`], the refresh lock a store hands out, and the bounded wait.
//! - [`events`]: the token-operation log's records ([`Event`], [`Operation`], [`Outcome`]).
//! - [`revocation`]: [`PendingRevocation`], what a logout could not revoke yet.
//! - [`discovery`]: [`StoredDiscovery`], an issuer's metadata and key set kept for every process.
//! - [`sqlite`]: [`SqliteStore`], the default: one SQLite file (WAL, `synchronous=FULL`), token
//!   secrets sealed with XChaCha20-Poly1305, the refresh lock a [`lock::FileLock`].
//! - [`postgres`]: [`PgStore`], the fleet store: one PostgreSQL database shared by machines,
//!   the refresh lock an advisory lock the server releases when its holder's connection ends.
//! - [`memory`]: [`MemoryStore`], the same semantics in memory, for tests of the session.
//! - [`copy`]: moving logins between stores without a new login.
//! - [`changes`]: [`ChangeFeed`], how a shared store tells running processes that tokens changed
//!   elsewhere.
//! - [`keys`]: where the key comes from ([`KeySource`]: `TOKENWARDEN_KEY`, the key file, the OS
//!   keyring); [`crypto`]: sealing with it; [`kdf`]: passphrases stretched with Argon2id;
//!   [`os_keyring`]: the key in the OS keyring.
//! - [`lock`]: the kernel advisory lock (`flock`) per profile that the SQLite store uses.
//! - `perms`: private directories and files, and the `chmod` that fixes them.
//!
//! # Versions and compare-and-swap
//! Every write of token values ([`Store::write_if_version`], [`Store::replace`]) gives the profile
//! a new [`Version`], taken from one store-wide sequence, so a version is never reused, not even
//! after [`Store::delete`]. A version therefore names exactly one set of token values. Marking
//! a state ([`Store::mark_rejected`], [`Store::mark_state`]) or a refresh attempt
//! ([`Store::mark_in_flight`], [`Store::record_refresh_failure`]) does not change the version: it
//! applies only while the stored version still equals the one the caller saw, so a mark meant
//! for a token that has since been refreshed is dropped instead of hitting the new token.
//!
//! # Locks
//! [`Store::lock_profile`] and [`Store::try_lock_profile`] hand out a [`RefreshGuard`] that
//! other *processes* see (and, for a store shared between machines, other machines): how it
//! locks is the backend's business (a file lock for SQLite; a database server would hold a lock
//! on a connection the guard owns). It is not the tool for threads of one process: the session
//! keeps an in-process mutex per profile and takes the store's lock inside it.
//!
//! # A second backend
//! Everything the session and the token client need goes through [`Store`] (and its
//! supertrait [`BreakerBackend`]): tokens with compare-and-swap, marks, the refresh lock, the
//! breaker records shared by every process, the event log. No SQLite or file type appears in
//! the trait, so a backend shared by a fleet implements the same methods.

pub mod changes;
pub mod copy;
pub mod crypto;
pub mod discovery;
pub mod events;
pub mod guard;
pub mod kdf;
pub mod keys;
pub mod lock;
pub mod memory;
pub mod os_keyring;
mod perms;
pub mod postgres;
pub mod revocation;
pub mod sqlite;

pub use changes::{Change, ChangeFeed};
pub use crypto::StoreKey;
pub use discovery::{DiscoveryKind, StoredDiscovery};
pub use events::{Event, Operation, Outcome, Retention};
pub use guard::RefreshGuard;
pub use keys::{KeyOrigin, KeySource};
pub use memory::MemoryStore;
pub use postgres::PgStore;
pub use revocation::PendingRevocation;
pub use sqlite::SqliteStore;

pub use crate::retry::{BreakerBackend, BreakerRecord};

use crate::error::{Cause, Error, Result};
use crate::http::TokenTypeHint;
use crate::secret::SecretString;
use crate::token::TokenSet;
use std::fmt;
use std::time::{Duration, SystemTime};

/// The version of a profile's stored tokens, for compare-and-swap.
///
/// Versions only grow and are never reused; [`Version::NONE`] means "nothing stored".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(i64);

impl Version {
    /// Nothing stored. As the `expected` version of a write: the profile must not exist yet.
    pub const NONE: Version = Version(0);

    /// The version as stored (0 for [`Version::NONE`]). For logs and diagnostics.
    pub fn get(self) -> i64 {
        self.0
    }

    /// A version read back from a store. Stores only.
    pub(crate) fn from_raw(raw: i64) -> Version {
        Version(raw)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Version::NONE {
            f.write_str("none")
        } else {
            write!(f, "v{}", self.0)
        }
    }
}

/// What is known about the stored tokens beyond their expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenState {
    /// Usable as far as anyone knows.
    Valid,
    /// A resource server rejected the access token of this version: the next `get_token` must
    /// refresh, whatever `expires_at` says.
    Rejected,
    /// Refreshing failed for good (the refresh token was refused). The credentials are kept
    /// until a new login replaces them, so the evidence stays inspectable.
    LoginRequired {
        /// Why, in words a person understands (e.g. the OAuth error and its description).
        reason: String,
        /// Why, as data: the cause the session named when it marked the tokens (a revoked
        /// session, a possibly lost rotation, ...). `None` for marks written before the store
        /// kept causes, or with a cause this build does not know.
        cause: Option<Cause>,
    },
}

impl TokenState {
    /// The state's name as stored and shown: `valid`, `rejected`, `login_required`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenState::Valid => "valid",
            TokenState::Rejected => "rejected",
            TokenState::LoginRequired { .. } => "login_required",
        }
    }

    /// The reason, for [`TokenState::LoginRequired`].
    pub fn reason(&self) -> Option<&str> {
        match self {
            TokenState::LoginRequired { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The stored cause, for [`TokenState::LoginRequired`] (when known).
    pub fn cause(&self) -> Option<Cause> {
        match self {
            TokenState::LoginRequired { cause, .. } => *cause,
            _ => None,
        }
    }

    /// Rebuilds a state from its stored name, reason and cause name; `None` for an unknown
    /// state name. An unknown cause name reads as no cause (a newer tokenwarden may know more
    /// causes than this one).
    pub(crate) fn from_parts(
        name: &str,
        reason: Option<String>,
        cause: Option<&str>,
    ) -> Option<TokenState> {
        match name {
            "valid" => Some(TokenState::Valid),
            "rejected" => Some(TokenState::Rejected),
            "login_required" => Some(TokenState::LoginRequired {
                reason: reason.unwrap_or_default(),
                cause: cause.and_then(Cause::parse),
            }),
            _ => None,
        }
    }
}

impl fmt::Display for TokenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenState::LoginRequired { reason, .. } if !reason.is_empty() => {
                write!(f, "login required ({reason})")
            }
            TokenState::LoginRequired { .. } => f.write_str("login required"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// A profile's tokens as stored, with their version and state. `Debug` redacts the secrets
/// (the [`TokenSet`] fields are secret newtypes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTokens {
    /// The profile name.
    pub profile: String,
    /// The token values and what is known about them (expiry, scopes, `sub`, `iss`, when they
    /// were obtained).
    pub tokens: TokenSet,
    /// The version of these token values.
    pub version: Version,
    /// Valid, rejected, or login required.
    pub state: TokenState,
    /// The last refresh failure recorded for these tokens (no secrets). Cleared by every write
    /// of new token values.
    pub last_error: Option<LastError>,
    /// When the last refresh attempt ended: set by a successful [`Store::write_if_version`] over
    /// an existing version and by [`Store::mark_state`]; `None` after a login
    /// ([`Store::replace`], or a write with `expected` = [`Version::NONE`]).
    pub last_refresh_at: Option<SystemTime>,
    /// The last refresh attempt ended in a transient failure (5xx, timeout, connection lost),
    /// or is still in flight (or its process died), so the server may have rotated the refresh
    /// token without the answer arriving. A later `invalid_grant` is then reported as a possibly
    /// lost rotation; a LoginRequired state reached that way keeps the flag, and names the
    /// cause itself ([`TokenState::cause`]), so that it is reported as such again.
    pub refresh_failure_transient: bool,
    /// When this record last changed (a write or a mark).
    pub updated_at: SystemTime,
}

impl StoredTokens {
    /// True when the state is [`TokenState::Valid`].
    pub fn is_valid_state(&self) -> bool {
        self.state == TokenState::Valid
    }
}

/// A refresh failure as a store records it: its cause as data, and what happened in words.
/// Never the rendered report of an error (its evidence is in the event log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastError {
    /// The cause, when the error named one. `None` as well for a cause this build does not
    /// know (stored by a newer tokenwarden).
    pub cause: Option<Cause>,
    /// What happened, for a person ([`Error::message`]; no secrets).
    pub message: String,
}

impl LastError {
    /// A failure with `message` and `cause`.
    pub fn new(message: impl Into<String>, cause: Option<Cause>) -> LastError {
        LastError {
            cause,
            message: message.into(),
        }
    }

    /// What a store records of `err`: its cause and its message.
    pub fn of(err: &Error) -> LastError {
        LastError::new(err.message(), err.cause())
    }

    /// The first line of the message: what a one-line summary shows.
    pub fn headline(&self) -> &str {
        self.message.lines().next().unwrap_or_default()
    }
}

impl fmt::Display for LastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The outcome of a compare-and-swap write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasOutcome {
    /// Written; the new version.
    Written(Version),
    /// The stored version was not the expected one; nothing was written. Holds what is stored
    /// now (`None`: nothing), so the caller need not read again.
    Conflict(Option<Box<StoredTokens>>),
}

impl CasOutcome {
    /// The new version, when written.
    pub fn written(&self) -> Option<Version> {
        match self {
            CasOutcome::Written(v) => Some(*v),
            CasOutcome::Conflict(_) => None,
        }
    }
}

/// `t` to the millisecond, as stores keep times.
pub(crate) fn truncate_ms(t: SystemTime) -> SystemTime {
    crate::token::from_unix_millis(crate::token::to_unix_millis(t))
}

/// `d` to the millisecond, as stores keep durations.
pub(crate) fn truncate_duration_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A breaker record with its times to the millisecond, as stores keep it.
pub(crate) fn truncate_breaker(record: &BreakerRecord) -> BreakerRecord {
    BreakerRecord {
        consecutive_failures: record.consecutive_failures,
        open_until: record.open_until.map(truncate_ms),
        last_retry_after: record.last_retry_after.map(truncate_duration_ms),
        updated_at: truncate_ms(record.updated_at),
    }
}

/// A token store. Every method is a short, synchronous operation (async callers may use
/// `spawn_blocking`); every write is atomic, and seen by every process, when it returns. The
/// writes of token values, states, failure records, deletions and revocations are durable
/// then (they survive a power loss); the refresh-in-flight mark ([`Store::mark_in_flight`]),
/// the event log, breaker records and discovery documents need not be (a store may spare
/// them the wait for the disk). A read first stores what [`Store::keep_unwritten`] kept aside
/// for the profile, if anything.
///
/// A store is also where circuit-breaker state lives ([`BreakerBackend`], the retry module's
/// trait), so every process using the store shares one breaker per credential; an
/// `Arc<dyn Store>` coerces to an `Arc<dyn BreakerBackend>`.
pub trait Store: BreakerBackend + Send + Sync {
    /// The stored tokens of `profile`, or `None` when nothing is stored.
    fn read(&self, profile: &str) -> Result<Option<StoredTokens>>;

    /// Writes `tokens` if the stored version is still `expected` ([`Version::NONE`]: the
    /// profile must not exist). The state becomes [`TokenState::Valid`], `last_error` and
    /// `refresh_failure_transient` are cleared. Atomic across processes.
    fn write_if_version(
        &self,
        profile: &str,
        expected: Version,
        tokens: &TokenSet,
    ) -> Result<CasOutcome>;

    /// Writes `tokens` whatever is stored (a new login). Returns the new version.
    fn replace(&self, profile: &str, tokens: &TokenSet) -> Result<Version>;

    /// Keeps `tokens`, the answer to a refresh of the tokens of version `expected` that could
    /// not be written (the store was held by another process), so that they are not lost: the
    /// next [`Store::read`] of `profile`, in any process, writes them with compare-and-swap on
    /// `expected` before it reads, and drops them when the stored version is no longer
    /// `expected` (a login or a logout came first). Returns where they are kept, for the error
    /// to name. The default keeps nothing and says so: the caller then reports the tokens lost.
    fn keep_unwritten(
        &self,
        _profile: &str,
        _expected: Version,
        _tokens: &TokenSet,
    ) -> Result<String> {
        Err(Error::store(
            "this token store cannot keep tokens aside when a write fails",
        ))
    }

    /// Deletes the tokens of `profile` (only that profile). True when something was deleted.
    fn delete(&self, profile: &str) -> Result<bool>;

    /// A logout that could not revoke everything: in one step, deletes the tokens of `profile`
    /// if their version is still `version` (true when deleted), and keeps `pending`, the
    /// tokens whose revocation failed in a way that may succeed later, as
    /// [`PendingRevocation`]s of `profile` with `error` saying why ([`revocation`]). The
    /// default keeps nothing and says so: the caller then deletes the tokens and reports them
    /// as possibly live.
    fn delete_keeping_revocations(
        &self,
        _profile: &str,
        _version: Version,
        _pending: &[(TokenTypeHint, SecretString)],
        _error: &LastError,
    ) -> Result<bool> {
        Err(Error::store(
            "this token store cannot keep revocations for later",
        ))
    }

    /// The revocations still pending for `profile`, oldest first. A kept token that no longer
    /// opens is dropped (with a warning): it cannot be revoked anyway. The default: none.
    fn pending_revocations(&self, _profile: &str) -> Result<Vec<PendingRevocation>> {
        Ok(Vec::new())
    }

    /// The outcome of asking the provider again to revoke the pending revocation `id`: `None`
    /// when it took it (the token is forgotten), else why it failed again (counted, kept).
    fn settle_revocation(&self, _id: i64, _failure: Option<&LastError>) -> Result<()> {
        Err(Error::store(
            "this token store keeps no pending revocations",
        ))
    }

    /// The profiles with stored tokens, sorted.
    fn list_profiles(&self) -> Result<Vec<String>>;

    /// Marks the access token of `version` rejected by a resource server, if `version` is still
    /// the stored one; true when it was. A `LoginRequired` state is kept (it says more).
    fn mark_rejected(&self, profile: &str, version: Version) -> Result<bool>;

    /// Records the outcome of a refresh attempt for the tokens of `version` (if it is still the
    /// stored one; true when it was): the new state (a [`TokenState::LoginRequired`] with its
    /// reason and cause), the error (no secrets), whether the failure was transient. Sets
    /// `last_refresh_at`. Never touches token values.
    fn mark_state(
        &self,
        profile: &str,
        version: Version,
        state: TokenState,
        last_error: Option<&LastError>,
        transient: bool,
    ) -> Result<bool>;

    /// Sets (or, with `in_flight` false, clears) the mark "a refresh of these tokens may be in
    /// flight" (`refresh_failure_transient`) on the tokens of `version`, if it is still the
    /// stored one (true when it was). Touches nothing else: above all not the state, so that a
    /// concurrent [`Store::mark_rejected`] or LoginRequired mark is never undone. Need not
    /// survive a power loss: losing it only changes how a later `invalid_grant` is explained
    /// (a revoked session rather than a possibly lost rotation).
    fn mark_in_flight(&self, profile: &str, version: Version, in_flight: bool) -> Result<bool>;

    /// Records a failed refresh attempt of the tokens of `version` (if it is still the stored
    /// one; true when it was): the error (no secrets), whether the server may have rotated the
    /// refresh token without the answer arriving (`refresh_failure_transient`), and
    /// `last_refresh_at`. Leaves the state and the token values as they are.
    fn record_refresh_failure(
        &self,
        profile: &str,
        version: Version,
        last_error: &LastError,
        maybe_rotated: bool,
    ) -> Result<bool>;

    /// Takes the refresh lock of `profile` if it is free; `None` when another holder has it.
    /// The lock is held until the guard is dropped, and released as well when its holder
    /// dies (a store must never leave a dead holder's lock behind).
    fn try_lock_profile(&self, profile: &str) -> Result<Option<Box<dyn RefreshGuard>>>;

    /// Takes the refresh lock of `profile`, waiting at most `wait` (blocking the thread). On
    /// timeout: [`Store::lock_wait_exceeded`]. The default polls [`Store::try_lock_profile`]
    /// every 1 to 50 ms.
    fn lock_profile(&self, profile: &str, wait: Duration) -> Result<Box<dyn RefreshGuard>> {
        match guard::poll_until(wait, || self.try_lock_profile(profile))? {
            Some(held) => Ok(held),
            None => Err(self.lock_wait_exceeded(profile, wait)),
        }
    }

    /// The Store error for a wait of `waited` for the refresh lock of `profile` that ran out:
    /// it names the lock and its holder when the store knows them, and says what to do.
    fn lock_wait_exceeded(&self, profile: &str, waited: Duration) -> Error {
        guard::wait_exceeded(profile, waited, None, None)
    }

    /// Appends one record to the token-operation log; every [`Retention::prune_every`] records
    /// the store also applies its retention bounds. Need not survive a power loss.
    fn append_event(&self, event: &Event) -> Result<()>;

    /// The newest `limit` log records at or after `since` (of `profile` only, when given),
    /// oldest first.
    fn recent_events(
        &self,
        since: SystemTime,
        profile: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Event>>;

    /// Bounded retention of the log: deletes the records older than `before`, then all but the
    /// newest `keep`. Returns how many were deleted.
    fn prune_events(&self, before: SystemTime, keep: usize) -> Result<usize>;

    /// The changes other machines make to this store, for a store shared between machines
    /// (started on the first call); `None` (the default) for a store every process of the
    /// machine reads directly. A running process that caches tokens drops what it holds when
    /// the feed moves on ([`ChangeFeed::generation`]); an agent may follow each change
    /// ([`ChangeFeed::subscribe`]).
    fn changes(&self) -> Option<ChangeFeed> {
        None
    }

    /// The document of `kind` kept for `issuer` ([`Store::write_discovery`]), whether or not
    /// it is still fresh; `None` when there is none, or when the stored one does not open. The
    /// default keeps nothing.
    fn read_discovery(&self, issuer: &str, kind: DiscoveryKind) -> Result<Option<StoredDiscovery>> {
        let _ = (issuer, kind);
        Ok(None)
    }

    /// Keeps `doc` for its issuer and kind, replacing the one kept before, so that other
    /// processes need not fetch it. Public metadata and keys, not tokens: the write need not
    /// survive a power loss (a lost document is fetched again). The default keeps nothing.
    fn write_discovery(&self, doc: &StoredDiscovery) -> Result<()> {
        let _ = doc;
        Ok(())
    }

    /// Forgets the document of `kind` kept for `issuer`, if any (it looks stale). The default
    /// has nothing to forget.
    fn forget_discovery(&self, issuer: &str, kind: DiscoveryKind) -> Result<()> {
        let _ = (issuer, kind);
        Ok(())
    }

    /// The tokens of `profile` as this machine last read or wrote them, for when the store
    /// cannot be reached (an error of cause [`Cause::StoreUnreachable`]): a store on another
    /// machine keeps a copy here. `None` (the default) when there is no such copy.
    fn last_known(&self, profile: &str) -> Option<StoredTokens> {
        let _ = profile;
        None
    }
}
