//! `tokenwarden exec`: runs a command with a valid access token in its environment and exits
//! with the command's exit code. A running agent gives the token when there is one.

use super::Global;
use super::context::{self, parse_duration};
use crate::output::Printer;
use anyhow::Result;
use std::time::Duration;
use tokenwarden::Error;
use tokenwarden::exit::ExitCode;
use tokenwarden::session::TokenSource as _;

/// The variable used when neither `--env` nor the profile's `export_env` names one.
pub const DEFAULT_ENV: &str = "TOKENWARDEN_ACCESS_TOKEN";

/// Arguments of `tokenwarden exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The environment variable that receives the token (default: the profile's `export_env`,
    /// else TOKENWARDEN_ACCESS_TOKEN).
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
    /// The token must stay valid at least this long when the command starts.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    min_ttl: Duration,
    /// The command and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Runs `tokenwarden exec`; returns the command's exit code.
pub async fn run(global: &Global, out: &Printer, args: ExecArgs) -> Result<ExitCode> {
    let name = match &args.env {
        Some(name) => name.clone(),
        None => context::warden(global)?
            .profile(&global.profile)?
            .profile
            .export_env
            .unwrap_or_else(|| DEFAULT_ENV.to_string()),
    };
    let source = context::agent_source(global, &global.profile)?;
    let token = source.token(args.min_ttl).await?;
    for warning in token.degraded.iter().chain(&token.warning) {
        out.warning(warning);
    }
    let (prog, rest) = args
        .command
        .split_first()
        .ok_or_else(|| Error::usage("no command given").with_hint("tokenwarden exec -- curl …"))?;
    let status = tokio::process::Command::new(prog)
        .args(rest)
        .env(&name, token.access_token.expose())
        .status()
        .await
        .map_err(|e| {
            Error::usage(format!("cannot run `{prog}`: {e}"))
                .with_hint("check the command name and that it is on PATH")
        })?;
    // The command's own code; 128 + N when signal N ended it, as shells report it.
    use std::os::unix::process::ExitStatusExt as _;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => u8::try_from(c).map_or(ExitCode::Failure, ExitCode::Command),
        (None, signal) => signal
            .and_then(|s| u8::try_from(s).ok())
            .map_or(ExitCode::Failure, ExitCode::Signalled),
    })
}
