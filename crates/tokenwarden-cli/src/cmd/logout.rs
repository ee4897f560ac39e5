//! `tokenwarden logout`: revokes the profile's refresh and access tokens at the provider
//! (RFC 7009, when it has a revocation endpoint), then deletes that profile's tokens, and only
//! that profile's. A failed revocation is reported; the local delete still happens.
//!
//! Read, revoke and delete happen under the profile's refresh lock, the one every refresh
//! takes: a refresh running now finishes (and stores its tokens) first, and none starts until
//! the tokens are gone. Otherwise a refresh could rotate the refresh token between the read and
//! the revocation and leave its fresh refresh token alive at the provider.

use super::Global;
use super::context;
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;
use tokenwarden::http::TokenTypeHint;
use tokenwarden::http::client::Revocation;
use tokenwarden::session::SessionOptions;
use tokenwarden::store::{RefreshGuard, SqliteStore, Store as _};

/// Arguments of `tokenwarden logout`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Only this profile's tokens are deleted. The refresh token is revoked first (with \
token_type_hint), then the access token. If the provider cannot be reached or refuses, logout \
says so (the tokens may stay live there until they expire) and still deletes them locally; it \
exits 0 once the local tokens are gone.")]
pub struct LogoutArgs {
    /// Delete the local tokens without revoking them at the provider.
    #[arg(long)]
    local_only: bool,
}

/// Runs `tokenwarden logout`.
pub async fn run(global: &Global, args: LogoutArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let w = context::warden(global)?;
    let store = w.store()?;
    let wait = w
        .profile(&global.profile)
        .map(|p| p.profile.lock_wait())
        .unwrap_or_else(|_| SessionOptions::default().lock_wait);
    let _lock = refresh_lock(&store, &global.profile, wait).await?;
    let Some(stored) = store.read(&global.profile)? else {
        eprintln!(
            "Profile `{}` has no stored tokens: nothing to do.",
            global.profile
        );
        return Ok(());
    };
    let mut failures = Vec::new();
    let mut revoked = Vec::new();
    if !args.local_only {
        match w
            .profile(&global.profile)
            .and_then(|p| w.client(&p.profile))
        {
            Ok(client) => {
                let mut targets = Vec::new();
                if let Some(rt) = &stored.tokens.refresh_token {
                    targets.push((
                        rt.expose().to_string(),
                        TokenTypeHint::RefreshToken,
                        "refresh token",
                    ));
                }
                targets.push((
                    stored.tokens.access_token.expose().to_string(),
                    TokenTypeHint::AccessToken,
                    "access token",
                ));
                for (token, hint, name) in targets {
                    match client.revoke(&token, hint).await {
                        Ok(Revocation::Revoked) => revoked.push(name),
                        Ok(Revocation::NotSupported) => {
                            failures.push(format!("the provider has no revocation endpoint: the {name} stays live at the provider until it expires"));
                            break;
                        }
                        Err(e) => failures.push(format!(
                            "revoking the {name} failed ({}): it may still be live at the provider",
                            e.message()
                        )),
                    }
                }
            }
            Err(e) => failures.push(format!(
                "could not revoke at the provider ({}): the tokens may still be live there",
                e.message()
            )),
        }
    }
    let deleted = store.delete(&global.profile);
    w.record_outcome(
        &global.profile,
        tokenwarden::events::Operation::Logout,
        &deleted,
        started.elapsed(),
    );
    deleted?;
    for f in &failures {
        eprintln!("warning: {f}");
    }
    if !failures.is_empty() && !args.local_only {
        eprintln!(
            "hint: the local tokens are deleted, so tokenwarden cannot retry; if it matters, revoke this app's access in your account settings at the provider"
        );
    }
    if global.json {
        println!(
            "{}",
            serde_json::json!({"profile": global.profile, "revoked": revoked, "warnings": failures, "deleted": true})
        );
    } else if revoked.is_empty() {
        eprintln!(
            "Logged out: deleted the local tokens of profile `{}`.",
            global.profile
        );
    } else {
        eprintln!(
            "Logged out: revoked the {} at the provider and deleted the local tokens of profile `{}`.",
            revoked.join(" and "),
            global.profile
        );
    }
    Ok(())
}

/// The refresh lock of `profile`, waiting at most `wait` for a refresh in progress to finish.
async fn refresh_lock(
    store: &Arc<SqliteStore>,
    profile: &str,
    wait: Duration,
) -> tokenwarden::Result<Box<dyn RefreshGuard>> {
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
        .map_err(|e| tokenwarden::Error::new(tokenwarden::ErrorKind::Other, e.to_string()))?
}
