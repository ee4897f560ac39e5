//! `tokenwarden token`: prints a valid access token alone on stdout (refreshing once if needed,
//! whoever else asks at the same time), or as JSON. Within the profile's
//! `refresh_expiry_warning` of the refresh token's expiry it warns on stderr, once a day
//! ([`tokenwarden::horizon`]).

use super::Global;
use super::context::{self, parse_duration};
use crate::json;
use crate::output::Printer;
use anyhow::Result;
use std::time::Duration;
use tokenwarden::horizon::{self, Horizon};

/// Arguments of `tokenwarden token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The token must stay valid at least this long (refresh first otherwise). When the
    /// provider's tokens live less, the freshest token comes with a warning.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    min_ttl: Duration,
}

/// Runs `tokenwarden token`.
pub async fn run(global: &Global, out: &Printer, args: TokenArgs) -> Result<()> {
    let w = context::warden(global)?;
    let session = w.session(&global.profile)?;
    let token = session.get_token(args.min_ttl).await?;
    for warning in token.degraded.iter().chain(&token.warning) {
        out.warning(warning);
    }
    let profile = w.profile(&global.profile)?.profile;
    let now = w.clock().now();
    let store = w.store()?;
    if let Some(h) = horizon::due_warning(
        store.as_ref(),
        &profile,
        token.refresh_token_expires_at,
        now,
    ) {
        out.warning(&h.message(&profile.name));
    }
    let expires_soon = Horizon::at(
        token.refresh_token_expires_at,
        now,
        profile.refresh_expiry_warning,
    )
    .is_some_and(|h| h.within_warning);
    if out.json() {
        out.print_json(&json::Token {
            access_token: token.access_token.expose().to_string(),
            token_type: token.token_type.clone(),
            expires_at: token.expires_at.map(context::rfc3339),
            scope: token.scopes.join(" "),
            degraded: token.degraded.is_some(),
            warning: token.degraded.clone().or_else(|| token.warning.clone()),
            refresh_token_expires_at: token.refresh_token_expires_at.map(context::rfc3339),
            refresh_token_expires_soon: expires_soon,
        })?;
    } else {
        out.out(token.access_token.expose())?;
    }
    Ok(())
}
