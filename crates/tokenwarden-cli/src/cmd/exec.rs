//! `tokenwarden exec`: runs a command with valid access tokens in its environment.
//!
//! tokenwarden gets the tokens (each `--env NAME=PROFILE` from its own profile), then becomes
//! the command (`execvp`, as `env`, `sudo` and `aws-vault exec` do): the command keeps
//! tokenwarden's process id, so every signal sent to it (INT, TERM, HUP, QUIT, …) reaches the
//! command itself, and its exit status is the command's own, 128 + N when signal N ended it.
//! A command that cannot start exits as shells do: 127 when it is not found, 126 when it
//! cannot be executed.
//!
//! Without `--min-ttl` the token is asked for 60 s, or, when the provider's tokens are too
//! short for that, for as long as a fresh one serves (half its lifetime less the refresh
//! window): a fresh token never draws a warning. With `--min-ttl` the rule is that of `token`.
//! A running agent gives the token when there is one.

use super::Global;
use super::context::{self, MinTtl, parse_duration};
use crate::output::Printer;
use anyhow::Result;
use std::collections::BTreeMap;
use std::time::Duration;
use tokenwarden::Error;
use tokenwarden::exit::ExitCode;

/// What `exec` asks for when `--min-ttl` is not given (less when the provider's tokens are
/// shorter; see the module docs).
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(60);

/// Arguments of `tokenwarden exec`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  tokenwarden --profile github exec --env GH_TOKEN -- gh api user
  tokenwarden exec --env API_TOKEN --env GH_TOKEN=github -- ./deploy.sh

tokenwarden becomes the command (its process id is the command's), so signals reach the \
command directly and its exit status is passed on as it is.")]
pub struct ExecArgs {
    /// A variable that receives a token: NAME takes the selected profile's, NAME=PROFILE that
    /// profile's (repeat for several; default: the profile's `export_env`, else
    /// TOKENWARDEN_ACCESS_TOKEN).
    #[arg(long = "env", value_name = "NAME[=PROFILE]")]
    env: Vec<String>,
    /// Each token must stay valid at least this long when the command starts (default: 60 s,
    /// or less when the provider's tokens are shorter, without a warning).
    #[arg(long, value_parser = parse_duration)]
    min_ttl: Option<Duration>,
    /// The command and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Runs `tokenwarden exec`: returns only when the command could not be started.
pub async fn run(global: &Global, out: &Printer, args: ExecArgs) -> Result<ExitCode> {
    let (prog, rest) = args
        .command
        .split_first()
        .ok_or_else(|| Error::usage("no command given").with_hint("tokenwarden exec -- curl …"))?;
    let w = context::warden(global)?;
    let wanted = variables(&w, global, &args.env)?;
    let min_ttl = match args.min_ttl {
        Some(d) => MinTtl::Asked(d),
        None => MinTtl::UpTo(DEFAULT_MIN_TTL),
    };
    // One token per profile, however many variables receive it.
    let mut tokens: BTreeMap<&str, String> = BTreeMap::new();
    for profile in wanted.values() {
        if !tokens.contains_key(profile.as_str()) {
            let token = context::valid_token(global, &w, out, profile, min_ttl).await?;
            tokens.insert(profile, token.access_token().expose().to_string());
        }
    }
    let mut command = std::process::Command::new(prog);
    command.args(rest);
    for (name, profile) in &wanted {
        command.env(name, &tokens[profile.as_str()]);
    }
    drop(w);
    let err = std::os::unix::process::CommandExt::exec(&mut command);
    let (code, what, hint) = match err.kind() {
        std::io::ErrorKind::NotFound => (
            127,
            format!("command not found: `{prog}`"),
            "check the spelling, and that it is on PATH (or give its path)",
        ),
        std::io::ErrorKind::PermissionDenied => (
            126,
            format!("cannot execute `{prog}`: permission denied"),
            "make it executable (chmod +x), or run it through its interpreter (sh script.sh)",
        ),
        _ => (
            126,
            format!("cannot execute `{prog}`: {err}"),
            "check that it is a program for this system, or run it through its interpreter",
        ),
    };
    let e = Error::usage(what).with_hint(hint);
    Ok(out.error_with_code(e.into(), ExitCode::Command(code)))
}

/// Variable name to profile, from `--env NAME` / `--env NAME=PROFILE`.
fn variables(
    w: &tokenwarden::warden::Warden,
    global: &Global,
    env: &[String],
) -> tokenwarden::Result<BTreeMap<String, String>> {
    let mut wanted = BTreeMap::new();
    if env.is_empty() {
        let profile = w.profile(&global.profile)?.profile;
        wanted.insert(context::token_variable(&profile), global.profile.clone());
        return Ok(wanted);
    }
    for spec in env {
        let (name, profile) = match spec.split_once('=') {
            Some((n, p)) if !p.is_empty() => (n, p.to_string()),
            Some((n, _)) => {
                return Err(
                    Error::usage(format!("`--env {spec}` names no profile")).with_hint(format!(
                        "--env {n}=PROFILE, or --env {n} for the selected profile"
                    )),
                );
            }
            None => (spec.as_str(), global.profile.clone()),
        };
        let name = super::env::checked_name(name)?;
        w.profile(&profile)?;
        wanted.insert(name, profile);
    }
    Ok(wanted)
}
