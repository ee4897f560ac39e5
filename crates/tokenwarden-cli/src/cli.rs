//! The command line: what clap parses ([`Cli`], [`Command`]), the `git-credential-tokenwarden`
//! alias, and the "Exit codes" section every subcommand's `--help` ends with (the numbers and
//! their meanings come from the library's [`ExitCode`], the one place they are decided).

use crate::cmd;
use clap::parser::ValueSource;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use std::ffi::OsString;
use tokenwarden::exit::ExitCode;

/// Keeps OAuth tokens valid for every program and process, and explains every failure.
#[derive(Debug, Parser)]
#[command(name = "tokenwarden", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: cmd::Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in: authorization code + PKCE in a browser (default), --device, or --client-credentials.
    Login(cmd::login::LoginArgs),
    /// Revoke the profile's tokens at the provider and delete them locally.
    Logout(cmd::logout::LogoutArgs),
    /// Print a valid access token (refreshing once if needed), alone or in a format other
    /// programs read (json, header, env, exec-credential).
    Token(cmd::token::TokenArgs),
    /// Print shell lines that export a valid access token (`eval "$(tokenwarden env)"`).
    Env(cmd::env::EnvArgs),
    /// Show the selected profile (or --all): logged in or not, expiry, scopes, last error.
    Status(cmd::status::StatusArgs),
    /// Call an API with the bearer token, like a small curl; a 401 is retried once with a
    /// fresh token.
    Request(cmd::request::RequestArgs),
    /// Run a command with valid access tokens in its environment (tokenwarden becomes it).
    Exec(cmd::exec::ExecArgs),
    /// Git's credential helper: `credential.helper = "!tokenwarden git-credential"`.
    GitCredential(cmd::git_credential::GitCredentialArgs),
    /// Check configuration, connectivity, clock, store and tokens; name causes and fixes.
    Doctor(cmd::doctor::Args),
    /// Show the token-operation log.
    Events(cmd::events::Args),
    /// Statistics of token operations: outcomes, refresh latency, 5xx rate, forced logins.
    Stats(cmd::stats::Args),
    /// Show tokenwarden keeping many processes logged in through outages, beside a naive client.
    Demo(cmd::demo::Args),
    /// Manage profiles in config.toml (add, set, unset, list, show, remove, keys).
    Profile(cmd::profile::ProfileArgs),
    /// The token store: set up the fleet store (migrate), move logins to or from it (copy).
    Store(cmd::store::StoreArgs),
    /// Run the embedded OAuth authorization server (with fault injection) on loopback.
    MockServer(cmd::mock_server::MockServerArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(cmd::completions::CompletionsArgs),
    /// Print the man page (roff), e.g. `tokenwarden man > tokenwarden.1`.
    Man(cmd::completions::ManArgs),
    /// Run the agent: refreshes every logged-in profile ahead of time and serves tokens over a
    /// Unix socket (agent stop, agent status).
    Agent(cmd::agent::AgentArgs),
    /// Run a local reverse proxy that puts the profile's bearer token on every request.
    Proxy(cmd::proxy::ProxyArgs),
    /// One worker process of `tokenwarden demo` (started by the demo, not by people).
    #[command(hide = true)]
    DemoWorker(cmd::demo::WorkerArgs),
}

/// The name under which git runs a helper configured as `credential.helper = tokenwarden`.
pub const GIT_HELPER_NAME: &str = "git-credential-tokenwarden";

/// The process arguments; invoked as [`GIT_HELPER_NAME`], the same as `tokenwarden
/// git-credential ARGS…`.
pub fn arguments(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let invoked = args
        .first()
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .map(|n| n.trim_end_matches(".exe"));
    if invoked == Some(GIT_HELPER_NAME) {
        args[0] = "tokenwarden".into();
        args.insert(1, "git-credential".into());
    }
    args
}

/// The whole command line: [`Cli`] with each subcommand's help ending with its exit codes.
pub fn command() -> clap::Command {
    let mut c = Cli::command();
    let names: Vec<String> = c
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        c = c.mut_subcommand(&name, |sub| {
            let section = exit_codes_help(sub.get_name());
            let text = match sub.get_after_help() {
                Some(before) => format!("{before}\n\n{section}"),
                None => section,
            };
            sub.after_help(text)
        });
    }
    c.after_help(exit_codes_help(""))
}

/// Parses `args`; the error is clap's (usage, or a request for help or the version).
pub fn parse(args: &[OsString]) -> Result<Cli, clap::Error> {
    let matches = command().try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    cli.global.profile_explicit = matches!(
        matches.value_source("profile"),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    );
    Ok(cli)
}

/// True when `--json` is among the options (before any `--`): a usage error is then reported
/// as the JSON error document.
pub fn json_requested(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// The "Exit codes" section of `name`'s help (the top-level help for `""`).
fn exit_codes_help(name: &str) -> String {
    use ExitCode as E;
    let common = [E::Success, E::Failure, E::Usage];
    let mut rows: Vec<(String, String)> = Vec::new();
    fn named(rows: &mut Vec<(String, String)>, codes: &[ExitCode]) {
        for c in codes {
            rows.push((c.code().to_string(), c.meaning().to_string()));
        }
    }
    match name {
        "login" => named(
            &mut rows,
            &[
                E::Success,
                E::Failure,
                E::Usage,
                E::LoginRequired,
                E::ProviderUnavailable,
                E::Store,
                E::Cancelled,
            ],
        ),
        "token" | "env" | "git-credential" => named(
            &mut rows,
            &[
                E::Success,
                E::Failure,
                E::Usage,
                E::LoginRequired,
                E::ProviderUnavailable,
                E::Store,
            ],
        ),
        "status" => {
            named(&mut rows, &[E::Success]);
            rows.push((
                "3".into(),
                "the selected profile needs a login (without --all)".into(),
            ));
            named(&mut rows, &[E::Usage, E::Store]);
        }
        "request" => {
            named(
                &mut rows,
                &[
                    E::Success,
                    E::Failure,
                    E::Usage,
                    E::LoginRequired,
                    E::ProviderUnavailable,
                    E::SessionRejected,
                    E::Store,
                ],
            );
            rows.push((
                "22".into(),
                "with --fail: the API answered an HTTP error (400 or more), as curl -f".into(),
            ));
        }
        "exec" => {
            rows.push(("N".into(), "the command's own exit code".into()));
            rows.push(("128+N".into(), "the command was ended by signal N".into()));
            rows.push(("126".into(), "the command cannot be executed".into()));
            rows.push(("127".into(), "the command was not found".into()));
            named(
                &mut rows,
                &[E::Usage, E::LoginRequired, E::ProviderUnavailable, E::Store],
            );
        }
        "" => {
            named(
                &mut rows,
                &[
                    E::Success,
                    E::Failure,
                    E::Usage,
                    E::LoginRequired,
                    E::ProviderUnavailable,
                    E::SessionRejected,
                    E::Store,
                    E::Cancelled,
                ],
            );
            rows.push((
                "141".into(),
                "standard output was closed early (e.g. `| head`): a quiet exit".into(),
            ));
        }
        _ => named(&mut rows, &common),
    }
    let mut text = String::from("Exit codes:");
    for (code, meaning) in rows {
        text.push_str(&format!("\n  {code:>5}  {meaning}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn the_git_helper_name_runs_git_credential() {
        let args = arguments([
            "/usr/local/bin/git-credential-tokenwarden".into(),
            "get".into(),
        ]);
        assert_eq!(args, ["tokenwarden", "git-credential", "get"]);
        let args = arguments(["tokenwarden".into(), "token".into()]);
        assert_eq!(args, ["tokenwarden", "token"]);
    }

    #[test]
    fn json_is_requested_only_before_a_double_dash() {
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(json_requested(&a(&["tw", "--json", "token", "--bad"])));
        assert!(json_requested(&a(&["tw", "token", "--json"])));
        assert!(!json_requested(&a(&["tw", "exec", "--", "jq", "--json"])));
    }

    #[test]
    fn every_subcommand_help_ends_with_its_exit_codes() {
        let mut c = command();
        for sub in c.get_subcommands_mut() {
            let help = sub.render_long_help().to_string();
            assert!(help.contains("Exit codes:"), "{}: {help}", sub.get_name());
        }
    }
}
