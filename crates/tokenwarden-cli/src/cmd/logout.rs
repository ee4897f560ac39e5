//! `tokenwarden logout`: revokes the profile's refresh and access tokens at the provider
//! (RFC 7009, when it has a revocation endpoint), then deletes that profile's tokens, and only
//! that profile's. A failed revocation is reported; the local delete still happens, and a
//! failure that may pass leaves the token pending, asked again by the next logout or doctor
//! (which is reported first).
//!
//! The library does the work ([`tokenwarden::account`]: read, revoke and delete under the
//! profile's refresh lock); this module says what it did.

use super::Global;
use super::context;
use crate::json;
use crate::output::Printer;
use anyhow::Result;
use tokenwarden::account::{Logout, Retried, RevocationProblem};
use tokenwarden::http::TokenTypeHint;

/// Arguments of `tokenwarden logout`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Only this profile's tokens are deleted. The refresh token is revoked first (with \
token_type_hint), then the access token. If the provider cannot be reached or fails (5xx, 429), \
logout says so, still logs the profile out, and keeps the tokens it could not revoke (sealed) to \
ask again: the next `logout` or `doctor` of the profile does (RFC 7009 §2.2.1). A refusal for \
good is reported and not kept. It exits 0 once the local tokens are gone.")]
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
        Logout::NothingStored(retried) => {
            report_retried(out, &retried);
            if out.json() {
                out.print_json(&json::Logout {
                    profile: global.profile.clone(),
                    revoked: Vec::new(),
                    pending: Vec::new(),
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
    report_retried(out, &done.retried);
    let revoked: Vec<&'static str> = done.revoked.iter().map(|&t| token_name(t)).collect();
    let pending: Vec<&'static str> = done.pending.iter().map(|&t| token_name(t)).collect();
    let warnings: Vec<String> = done.problems.iter().map(problem).collect();
    for warning in &warnings {
        out.warning(warning);
    }
    if !pending.is_empty() {
        // A warning, so that under --json it is one JSON line on stderr like the others.
        out.warning(&format!(
            "the provider could not take the revocation of the {} now; tokenwarden keeps {} sealed and asks again on the next `tokenwarden --profile {p} logout` or `tokenwarden --profile {p} doctor`",
            pending.join(" and "),
            if pending.len() == 1 { "it" } else { "them" },
            p = global.profile
        ));
    } else if !warnings.is_empty() && !args.local_only && !out.json() {
        out.err(
            "hint: the local tokens are deleted, so tokenwarden cannot retry; if it matters, revoke this app's access in your account settings at the provider",
        );
    }
    if out.json() {
        out.print_json(&json::Logout {
            profile: global.profile.clone(),
            revoked,
            pending,
            warnings,
            deleted: true,
        })?;
    } else if revoked.is_empty() {
        out.err(format!(
            "Logged out: deleted the local tokens of profile `{}`{}.",
            global.profile,
            if pending.is_empty() {
                ""
            } else {
                " (their revocation at the provider is pending)"
            }
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

/// What asking again to revoke an earlier logout's tokens did (nothing when nothing was
/// pending).
fn report_retried(out: &Printer, r: &Retried) {
    if !r.revoked.is_empty() && !out.json() {
        let names: Vec<&str> = r.revoked.iter().map(|&t| token_name(t)).collect();
        out.err(format!(
            "Revoked the {} that an earlier logout could not revoke.",
            names.join(" and ")
        ));
    }
    if let Some(e) = &r.not_asked {
        out.warning(&format!(
            "could not ask the provider again to revoke the tokens of an earlier logout ({}): they stay pending",
            e.message()
        ));
    } else {
        for (t, why) in &r.still_pending {
            out.warning(&format!(
                "the provider still did not revoke the {} of an earlier logout ({}): it is kept and asked again next time",
                token_name(*t),
                why.headline()
            ));
        }
    }
    for (t, why) in &r.given_up {
        out.warning(&format!(
            "gave up revoking the {} of an earlier logout ({why}): it may still be live at the provider",
            token_name(*t)
        ));
    }
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
