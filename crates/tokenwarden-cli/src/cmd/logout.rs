//! `tokenwarden logout`: revokes the profile's refresh and access tokens at the provider
//! (RFC 7009, when it has a revocation endpoint), then deletes that profile's tokens, and only
//! that profile's. A failed revocation is reported; the local delete still happens.
//!
//! The library does the work ([`tokenwarden::account`]: read, revoke and delete under the
//! profile's refresh lock); this module says what it did.

use super::Global;
use super::context;
use crate::json;
use crate::output::Printer;
use anyhow::Result;
use tokenwarden::account::{Logout, RevocationProblem};
use tokenwarden::http::TokenTypeHint;

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
pub async fn run(global: &Global, out: &Printer, args: LogoutArgs) -> Result<()> {
    let w = context::warden(global)?;
    let done = match w.logout(&global.profile, !args.local_only).await? {
        Logout::LoggedOut(done) => done,
        Logout::NothingStored => {
            if out.json() {
                out.print_json(&json::Logout {
                    profile: global.profile.clone(),
                    revoked: Vec::new(),
                    warnings: Vec::new(),
                    deleted: false,
                })?;
            } else {
                out.err(format!(
                    "Profile `{}` has no stored tokens: nothing to do.",
                    global.profile
                ));
            }
            return Ok(());
        }
    };
    let revoked: Vec<&'static str> = done.revoked.iter().map(|&t| token_name(t)).collect();
    let warnings: Vec<String> = done.problems.iter().map(problem).collect();
    for warning in &warnings {
        out.warning(warning);
    }
    if !warnings.is_empty() && !args.local_only && !out.json() {
        out.err(
            "hint: the local tokens are deleted, so tokenwarden cannot retry; if it matters, revoke this app's access in your account settings at the provider",
        );
    }
    if out.json() {
        out.print_json(&json::Logout {
            profile: global.profile.clone(),
            revoked,
            warnings,
            deleted: true,
        })?;
    } else if revoked.is_empty() {
        out.err(format!(
            "Logged out: deleted the local tokens of profile `{}`.",
            global.profile
        ));
    } else {
        out.err(format!(
            "Logged out: revoked the {} at the provider and deleted the local tokens of profile `{}`.",
            revoked.join(" and "),
            global.profile
        ));
    }
    Ok(())
}

/// "refresh token" or "access token".
fn token_name(token: TokenTypeHint) -> &'static str {
    match token {
        TokenTypeHint::RefreshToken => "refresh token",
        TokenTypeHint::AccessToken => "access token",
    }
}

/// A revocation that did not happen, in words.
fn problem(p: &RevocationProblem) -> String {
    match p {
        RevocationProblem::NotSupported(t) => format!(
            "the provider has no revocation endpoint: the {} stays live at the provider until it expires",
            token_name(*t)
        ),
        RevocationProblem::Failed(t, e) => format!(
            "revoking the {} failed ({}): it may still be live at the provider",
            token_name(*t),
            e.message()
        ),
        RevocationProblem::NoClient(e) => format!(
            "could not revoke at the provider ({}): the tokens may still be live there",
            e.message()
        ),
    }
}
