//! `tokenwarden token`: prints a valid access token alone on stdout (refreshing once if needed,
//! whoever else asks at the same time), or as JSON. A running agent answers when there is one.

use super::Global;
use super::context::{self, parse_duration};
use crate::json;
use crate::output::Printer;
use anyhow::Result;
use std::time::Duration;
use tokenwarden::session::TokenSource as _;

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
    let source = context::agent_source(global, &global.profile)?;
    let token = source.token(args.min_ttl).await?;
    for warning in token.degraded.iter().chain(&token.warning) {
        out.warning(warning);
    }
    if out.json() {
        out.print_json(&json::Token {
            access_token: token.access_token.expose().to_string(),
            token_type: token.token_type.clone(),
            expires_at: token.expires_at.map(context::rfc3339),
            scope: token.scopes.join(" "),
            degraded: token.degraded.is_some(),
            warning: token.degraded.clone().or_else(|| token.warning.clone()),
        })?;
    } else {
        out.out(token.access_token.expose())?;
    }
    Ok(())
}
