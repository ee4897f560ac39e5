//! A profile's login as a whole: storing what a login obtained ([`Warden::store_login`]) and
//! logging out ([`Warden::logout`]). The CLI calls these and renders what they return.
//!
//! Logout reads, revokes and deletes under the profile's refresh lock, the one every refresh
//! takes: a refresh running now finishes (and stores its tokens) first, and none starts until
//! the tokens are gone. Otherwise a refresh could rotate the refresh token between the read and
//! the revocation and leave its fresh refresh token alive at the provider.
//!
//! The revocations follow RFC 7009: the refresh token first (with `token_type_hint`), then the
//! access token. A failed revocation does not stop the logout: the profile is logged out all
//! the same (its tokens row goes, so `token` refuses it), and the failure is returned for the
//! caller to show. A failure that may succeed later (RFC 7009 §2.2.1: a 503, any 5xx or 429,
//! the network) keeps the tokens the provider did not take, sealed, as pending revocations
//! ([`crate::store::revocation`]); the next `logout` of the profile asks the provider again
//! first, and so does `doctor` ([`Warden::retry_revocations`]). A refusal for good (an
//! unsupported token type, a refused client) is reported and not kept: asking again would not
//! help.

use crate::config::{GrantType, Profile};
use crate::error::{Error, ErrorKind, Result};
use crate::events::Operation;
use crate::http::{Revocation, TokenTypeHint};
use crate::secret::SecretString;
use crate::session::SessionOptions;
use crate::store::{LastError, RefreshGuard, Store, Version};
use crate::token::TokenSet;
use crate::warden::Warden;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What [`Warden::store_login`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct StoredLogin {
    /// The version of the stored tokens.
    pub version: Version,
    /// Set when the login used client credentials but the profile does not say
    /// `grant = "client_credentials"`: without it, the token cannot be renewed by itself.
    pub grant: Option<GrantWrite>,
}

/// Whether `grant = "client_credentials"` was written into the profile in config.toml.
#[derive(Debug)]
pub enum GrantWrite {
    /// Written into the file at `path` (comments and the rest of the file kept).
    Written {
        /// The configuration file.
        path: PathBuf,
    },
    /// Not written: the person must add it.
    Failed {
        /// The configuration file.
        path: PathBuf,
        /// Why it could not be written.
        error: Error,
    },
}

/// What [`Warden::logout`] did.
#[derive(Debug)]
pub enum Logout {
    /// The profile had no stored tokens: nothing to log out. Revocations an earlier logout
    /// left pending were asked again.
    NothingStored(Retried),
    /// The profile's tokens were deleted.
    LoggedOut(LoggedOut),
}

/// A logout that deleted the local tokens.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct LoggedOut {
    /// The tokens the provider accepted to revoke, in the order asked.
    pub revoked: Vec<TokenTypeHint>,
    /// What could not be revoked (the tokens may stay live at the provider until they expire).
    pub problems: Vec<RevocationProblem>,
    /// Of those, the tokens kept to be revoked later (the failure may pass: 5xx, 429, the
    /// network): the next `logout` or `doctor` of the profile asks the provider again.
    pub pending: Vec<TokenTypeHint>,
    /// Revocations an earlier logout left pending, asked again first.
    pub retried: Retried,
}

/// Revocations an earlier logout left pending, asked again ([`Warden::retry_revocations`]).
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Retried {
    /// The tokens the provider took now (forgotten).
    pub revoked: Vec<TokenTypeHint>,
    /// The tokens it still did not take, with why (kept, asked again next time).
    pub still_pending: Vec<(TokenTypeHint, LastError)>,
    /// The tokens it refused for good, or can no longer be asked to revoke (no revocation
    /// endpoint any more), with why (forgotten: asking again would not help).
    pub given_up: Vec<(TokenTypeHint, String)>,
    /// Why nothing could be asked (the profile or its client could not be set up); the pending
    /// revocations are kept.
    pub not_asked: Option<Error>,
}

impl Retried {
    /// True when nothing was pending.
    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
            && self.still_pending.is_empty()
            && self.given_up.is_empty()
            && self.not_asked.is_none()
    }
}

/// Whether a failed revocation may succeed when asked again (RFC 7009 §2.2.1): the provider
/// was unavailable (5xx, 429, the network), as opposed to refusing the request.
fn may_succeed_later(e: &Error) -> bool {
    e.kind() == ErrorKind::ProviderUnavailable
}

/// A token that may still be live at the provider after a logout.
#[derive(Debug)]
pub enum RevocationProblem {
    /// The profile or its client could not be set up: nothing was revoked.
    NoClient(Error),
    /// The provider has no revocation endpoint: this token (and the ones after it) stays live
    /// until it expires.
    NotSupported(TokenTypeHint),
    /// The provider could not be reached, or refused to revoke this token.
    Failed(TokenTypeHint, Error),
}

impl Warden {
    /// Stores the tokens a login of `profile` obtained with `grant`, replacing what the profile
    /// had. A login with client credentials into a profile that does not say
    /// `grant = "client_credentials"` also writes that into config.toml, so that the token
    /// renews itself; [`StoredLogin::grant`] says how that went (a failure to write it does not
    /// fail the login: the tokens are stored).
    pub fn store_login(
        &self,
        profile: &Profile,
        grant: GrantType,
        tokens: &TokenSet,
    ) -> Result<StoredLogin> {
        let tokens = crate::horizon::with_session_cap(tokens, profile.session_lifetime);
        let version = self.store()?.replace(&profile.name, &tokens)?;
        tracing::debug!(%version, "stored new tokens");
        let grant = (grant == GrantType::ClientCredentials
            && profile.grant != GrantType::ClientCredentials)
            .then(|| self.remember_client_credentials(&profile.name));
        Ok(StoredLogin { version, grant })
    }

    fn remember_client_credentials(&self, profile: &str) -> GrantWrite {
        use crate::config::edit::{EditValue, set_profile_key};
        let path = self.paths().config_file();
        let value = EditValue::Str(GrantType::ClientCredentials.as_str().to_string());
        match set_profile_key(&path, profile, "grant", value) {
            Ok(_) => GrantWrite::Written { path },
            Err(error) => GrantWrite::Failed { path, error },
        }
    }

    /// Logs `profile` out: under its refresh lock, asks the provider again to revoke what an
    /// earlier logout could not (unless `revoke` is false), reads its tokens, revokes them at
    /// the provider (unless `revoke` is false) and deletes them locally, and only that
    /// profile's. Records the logout in the event log. A failed revocation is returned in
    /// [`LoggedOut::problems`], not as an error: the profile is logged out all the same, and a
    /// failure that may pass keeps the token for the next `logout` or `doctor`
    /// ([`LoggedOut::pending`]).
    pub async fn logout(&self, profile: &str, revoke: bool) -> Result<Logout> {
        let started = Instant::now();
        let store = self.store()?;
        let wait = self
            .profile(profile)
            .map(|p| p.profile.lock_wait())
            .unwrap_or_else(|_| SessionOptions::default().lock_wait);
        let _lock = refresh_lock(&store, profile, wait).await?;
        let retried = if revoke {
            self.retry_revocations(profile).await?
        } else {
            Retried::default()
        };
        let Some(stored) = store.read(profile)? else {
            return Ok(Logout::NothingStored(retried));
        };
        let mut done = LoggedOut {
            retried,
            ..LoggedOut::default()
        };
        let mut later: Vec<(TokenTypeHint, SecretString)> = Vec::new();
        let mut why_later: Option<LastError> = None;
        if revoke {
            match self.profile(profile).and_then(|p| self.client(&p.profile)) {
                Ok(client) => {
                    let tokens = &stored.tokens;
                    let mut targets = Vec::new();
                    if let Some(rt) = &tokens.refresh_token {
                        targets.push((rt.expose(), TokenTypeHint::RefreshToken));
                    }
                    targets.push((tokens.access_token.expose(), TokenTypeHint::AccessToken));
                    for (token, hint) in targets {
                        match client.revoke(token, hint).await {
                            Ok(Revocation::Revoked) => done.revoked.push(hint),
                            Ok(Revocation::NotSupported) => {
                                done.problems.push(RevocationProblem::NotSupported(hint));
                                break;
                            }
                            Err(e) => {
                                if may_succeed_later(&e) {
                                    later.push((hint, SecretString::new(token)));
                                    why_later.get_or_insert_with(|| LastError::of(&e));
                                }
                                done.problems.push(RevocationProblem::Failed(hint, e));
                            }
                        }
                    }
                }
                Err(e) => done.problems.push(RevocationProblem::NoClient(e)),
            }
        }
        let deleted = match why_later {
            Some(why) => {
                match store.delete_keeping_revocations(profile, stored.version, &later, &why) {
                    Ok(deleted) => {
                        done.pending = later.iter().map(|(hint, _)| *hint).collect();
                        Ok(deleted)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot keep the failed revocations for later");
                        store.delete(profile)
                    }
                }
            }
            None => store.delete(profile),
        };
        self.record_outcome(profile, Operation::Logout, &deleted, started.elapsed());
        deleted?;
        Ok(Logout::LoggedOut(done))
    }
}

impl Warden {
    /// Asks the provider again to revoke what an earlier logout of `profile` could not (RFC
    /// 7009 §2.2.1), forgetting each token it takes or refuses for good and counting each
    /// failure that may still pass. Nothing is sent when nothing is pending; nothing is opened
    /// on a home with no local store yet (a fleet store is always asked).
    pub async fn retry_revocations(&self, profile: &str) -> Result<Retried> {
        let mut retried = Retried::default();
        let local = self.fleet_settings()?.is_none();
        if local && std::fs::symlink_metadata(self.paths().database()).is_err() {
            return Ok(retried);
        }
        let store = self.store()?;
        let pending = store.pending_revocations(profile)?;
        if pending.is_empty() {
            return Ok(retried);
        }
        let client = match self.profile(profile).and_then(|p| self.client(&p.profile)) {
            Ok(c) => c,
            Err(e) => {
                retried.still_pending = pending
                    .iter()
                    .map(|p| {
                        let why = p.last_error.clone().unwrap_or_else(|| LastError::of(&e));
                        (p.hint, why)
                    })
                    .collect();
                retried.not_asked = Some(e);
                return Ok(retried);
            }
        };
        for p in pending {
            match client.revoke(p.token.expose(), p.hint).await {
                Ok(Revocation::Revoked) => {
                    store.settle_revocation(p.id, None)?;
                    retried.revoked.push(p.hint);
                }
                Ok(Revocation::NotSupported) => {
                    store.settle_revocation(p.id, None)?;
                    retried.given_up.push((
                        p.hint,
                        "the provider has no revocation endpoint any more".to_string(),
                    ));
                }
                Err(e) if may_succeed_later(&e) => {
                    let why = LastError::of(&e);
                    store.settle_revocation(p.id, Some(&why))?;
                    retried.still_pending.push((p.hint, why));
                }
                Err(e) => {
                    store.settle_revocation(p.id, None)?;
                    retried.given_up.push((p.hint, e.message().to_string()));
                }
            }
        }
        Ok(retried)
    }
}

/// The refresh lock of `profile`, waiting at most `wait` for a refresh in progress to finish.
async fn refresh_lock(
    store: &Arc<dyn Store>,
    profile: &str,
    wait: Duration,
) -> Result<Box<dyn RefreshGuard>> {
    if let Some(lock) = store.try_lock_profile(profile)? {
        return Ok(lock);
    }
    tracing::info!(
        "waiting for the refresh lock of profile `{profile}`: a refresh is in progress (at most {:.1} s)",
        wait.as_secs_f64()
    );
    let (store, name) = (store.clone(), profile.to_string());
    tokio::task::spawn_blocking(move || store.lock_profile(&name, wait))
        .await
        .map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!("waiting for the refresh lock of profile `{profile}` failed: {e}"),
            )
        })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use crate::secret::AccessToken;
    use std::time::SystemTime;

    /// A fresh private home (0700) in `dir` whose profile `svc` logs in with the authorization
    /// code grant (its default); no provider is ever asked.
    fn home(dir: &tempfile::TempDir) -> Paths {
        use std::os::unix::fs::DirBuilderExt as _;
        let home = dir.path().join("home");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&home)
            .expect("home created");
        std::fs::write(
            home.join("config.toml"),
            "[profiles.svc]\ntoken_endpoint = \"http://127.0.0.1:9/token\"\nclient_id = \"svc\"\n",
        )
        .expect("config written");
        Paths::in_dir(home)
    }

    fn warden(dir: &tempfile::TempDir) -> Warden {
        Warden::open(home(dir)).expect("warden opens")
    }

    fn tokens(access: &str) -> TokenSet {
        TokenSet {
            access_token: AccessToken::new(access),
            token_type: "Bearer".into(),
            refresh_token: None,
            id_token: None,
            expires_at: None,
            scopes: Vec::new(),
            obtained_at: SystemTime::now(),
            refresh_token_obtained_at: None,
            refresh_token_expires_at: None,
            subject: None,
            issuer: None,
        }
    }

    fn stored_access(w: &Warden, profile: &str) -> Option<String> {
        let stored = w.store().expect("store").read(profile).expect("reads");
        stored.map(|s| s.tokens.access_token.expose().to_string())
    }

    #[test]
    fn a_client_credentials_login_is_stored_and_remembered_in_the_profile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = warden(&dir);
        let profile = w.profile("svc").expect("profile").profile;
        let stored = w
            .store_login(&profile, GrantType::ClientCredentials, &tokens("at-1"))
            .expect("stored");
        assert!(stored.version > Version::NONE);
        assert_eq!(stored_access(&w, "svc").as_deref(), Some("at-1"));
        let Some(GrantWrite::Written { path }) = stored.grant else {
            panic!("the grant is written into the profile: {stored:?}");
        };
        let config = std::fs::read_to_string(path).expect("config");
        assert!(
            config.contains("grant = \"client_credentials\""),
            "{config}"
        );

        // A login with the profile's own grant leaves config.toml alone.
        let again = Warden::open(w.paths().clone()).expect("reopens");
        let profile = again.profile("svc").expect("profile").profile;
        let stored = again
            .store_login(&profile, GrantType::ClientCredentials, &tokens("at-2"))
            .expect("stored");
        assert!(stored.grant.is_none(), "{stored:?}");
        assert_eq!(stored_access(&again, "svc").as_deref(), Some("at-2"));
    }

    #[tokio::test]
    async fn a_local_logout_deletes_the_tokens_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = warden(&dir);
        let profile = w.profile("svc").expect("profile").profile;
        w.store_login(&profile, GrantType::AuthorizationCode, &tokens("at-1"))
            .expect("stored");
        let Logout::LoggedOut(done) = w.logout("svc", false).await.expect("logs out") else {
            panic!("tokens were stored");
        };
        assert!(
            done.revoked.is_empty() && done.problems.is_empty(),
            "{done:?}"
        );
        assert_eq!(stored_access(&w, "svc"), None);
        assert!(matches!(
            w.logout("svc", false).await.expect("logs out"),
            Logout::NothingStored(_)
        ));
    }

    #[tokio::test]
    async fn tokens_of_an_unconfigured_profile_go_even_when_nothing_can_be_revoked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = warden(&dir);
        w.store()
            .expect("store")
            .replace("gone", &tokens("at-gone"))
            .expect("stored");
        let Logout::LoggedOut(done) = w.logout("gone", true).await.expect("logs out") else {
            panic!("tokens were stored");
        };
        assert!(done.revoked.is_empty(), "{done:?}");
        assert!(
            matches!(done.problems.as_slice(), [RevocationProblem::NoClient(_)]),
            "{done:?}"
        );
        assert_eq!(stored_access(&w, "gone"), None);
        assert_eq!(stored_access(&w, "svc"), None);
    }
}
