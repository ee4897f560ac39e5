//! `tokenwarden token`: prints a valid access token alone on stdout (refreshing once if needed,
//! whoever else asks at the same time), or as JSON.

use super::Global;
use super::context::{self, parse_duration};
use anyhow::Result;
use std::time::Duration;

/// Arguments of `tokenwarden token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The token must stay valid at least this long (refresh first otherwise). When the
    /// provider's tokens live less, the freshest token comes with a warning.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    min_ttl: Duration,
}

/// Runs `tokenwarden token`.
pub async fn run(global: &Global, args: TokenArgs) -> Result<()> {
    let w = context::warden(global)?;
    let session = w.session(&global.profile)?;
    let token = session.get_token(args.min_ttl).await?;
    for warning in token.degraded.iter().chain(&token.warning) {
        eprintln!("warning: {warning}");
    }
    if global.json {
        println!(
            "{}",
            serde_json::json!({
                "access_token": token.access_token.expose(),
                "token_type": token.token_type,
                "expires_at": token.expires_at.map(context::rfc3339),
                "scope": token.scopes.join(" "),
                "degraded": token.degraded.is_some(),
                "warning": token.degraded.as_ref().or(token.warning.as_ref()),
            })
        );
    } else {
        println!("{}", token.access_token.expose());
    }
    Ok(())
}
