//! The command line: what clap parses ([`Cli`], [`Command`]), the `git-credential-tokenwarden`
//! alias, and the "Exit codes" section every subcommand's `--help` ends with (the numbers and
//! their meanings come from the library's [`ExitCode`], the one place they are decided).

use crate::cmd;
use clap::builder::StyledStr;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory as _, FromArgMatches, Parser, Subcommand};
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
    Login(Deferred<cmd::login::LoginArgs>),
    /// Revoke the profile's tokens at the provider and delete them locally.
    Logout(Deferred<cmd::logout::LogoutArgs>),
    /// Print a valid access token (refreshing once if needed), alone or in a format other
    /// programs read (json, header, env, exec-credential).
    Token(Deferred<cmd::token::TokenArgs>),
    /// Print shell lines that export a valid access token (`eval "$(tokenwarden env)"`).
    Env(Deferred<cmd::env::EnvArgs>),
    /// Show the selected profile (or --all): logged in or not, expiry, scopes, last error.
    Status(Deferred<cmd::status::StatusArgs>),
    /// Call an API with the bearer token, like a small curl; a 401 is retried once with a
    /// fresh token.
    Request(Deferred<cmd::request::RequestArgs>),
    /// Run a command with valid access tokens in its environment (tokenwarden becomes it).
    Exec(Deferred<cmd::exec::ExecArgs>),
    /// Git's credential helper: `credential.helper = "!tokenwarden git-credential"`.
    GitCredential(Deferred<cmd::git_credential::GitCredentialArgs>),
    /// Check configuration, connectivity, clock, store and tokens; name causes and fixes.
    Doctor(Deferred<cmd::doctor::Args>),
    /// Show the token-operation log.
    Events(Deferred<cmd::events::Args>),
    /// Statistics of token operations: outcomes, refresh latency, 5xx rate, forced logins.
    Stats(Deferred<cmd::stats::Args>),
    /// Show tokenwarden keeping many processes logged in through outages, beside a naive client.
    Demo(Deferred<cmd::demo::Args>),
    /// Manage profiles in config.toml (add, set, unset, list, show, remove, keys).
    Profile(cmd::profile::ProfileArgs),
    /// The token store: set up the fleet store (migrate), move logins to or from it (copy).
    Store(cmd::store::StoreArgs),
    /// Run the embedded OAuth authorization server (with fault injection) on loopback.
    MockServer(Deferred<cmd::mock_server::MockServerArgs>),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(Deferred<cmd::completions::CompletionsArgs>),
    /// Print the man page (roff), e.g. `tokenwarden man > tokenwarden.1`.
    Man(Deferred<cmd::completions::ManArgs>),
    /// Run the agent: refreshes every logged-in profile ahead of time and serves tokens over a
    /// Unix socket (agent stop, agent status).
    Agent(cmd::agent::AgentArgs),
    /// Run a local reverse proxy that puts the profile's bearer token on every request.
    Proxy(Deferred<cmd::proxy::ProxyArgs>),
    /// One worker process of `tokenwarden demo` (started by the demo, not by people).
    #[command(hide = true)]
    DemoWorker(Deferred<cmd::demo::WorkerArgs>),
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
            let text = joined(sub.get_after_help(), exit_codes_help(sub.get_name()));
            sub.after_help(text)
        });
    }
    c.after_help(exit_codes_help(""))
}

/// `after` after `before`, a blank line between.
fn joined(before: Option<&StyledStr>, after: impl std::fmt::Display) -> String {
    match before {
        Some(before) => format!("{before}\n\n{after}"),
        None => after.to_string(),
    }
}

/// A subcommand's arguments, defined only when clap needs them: when that subcommand is parsed,
/// or its help, completions or man page are rendered (clap's [`clap::Command::defer`]). A
/// process parses one subcommand; defining the arguments of all of them on every start was
/// most of the heap a cached `tokenwarden token` touched before doing anything.
///
/// What was set on the subcommand from outside its arguments (its `about` from the variant's
/// doc, the exit codes [`command`] appends to its `after_help`) still wins or comes last, as
/// when nothing is deferred. The subcommands that have subcommands of their own (`agent`,
/// `profile`, `store`) are not deferred: clap's `help` subcommand and the completion scripts
/// list their subcommands by name before any deferred part is defined.
#[derive(Debug)]
pub struct Deferred<T>(pub T);

impl<T: FromArgMatches> FromArgMatches for Deferred<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Deferred)
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Deferred)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

impl<T: Args> Args for Deferred<T> {
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }

    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(|sub| defined(sub, T::augment_args))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(|sub| defined(sub, T::augment_args_for_update))
    }
}

/// `sub` with its arguments added by `augment`, keeping what was set on it from outside (see
/// [`Deferred`]).
fn defined(sub: clap::Command, augment: fn(clap::Command) -> clap::Command) -> clap::Command {
    let about = sub.get_about().cloned();
    let long_about = sub.get_long_about().cloned();
    let after_help = sub.get_after_help().cloned();
    let sub = augment(sub.after_help(None::<&str>));
    let sub = match after_help {
        Some(outside) => {
            let text = joined(sub.get_after_help(), &outside);
            sub.after_help(text)
        }
        None => sub,
    };
    let sub = match about {
        Some(about) => sub.about(about),
        None => sub.about(None::<&str>),
    };
    match long_about {
        Some(long_about) => sub.long_about(long_about),
        None => sub.long_about(None::<&str>),
    }
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
        "login" => {
            rows.push(("0".into(), "logged in".into()));
            rows.push((
                "1".into(),
                "the provider's answer failed a check (state, iss, ID token), or another failure"
                    .into(),
            ));
            named(&mut rows, &[E::Usage]);
            rows.push(("3".into(), "the login was denied or expired".into()));
            named(&mut rows, &[E::ProviderUnavailable, E::Store]);
            rows.push(("130".into(), "cancelled (Ctrl-C), nothing stored".into()));
        }
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
        "doctor" => {
            rows.push(("0".into(), "nothing failed (warnings allowed)".into()));
            rows.push((
                "1".into(),
                "at least one check failed, or there is no profile to check".into(),
            ));
            named(&mut rows, &[E::Usage]);
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
            for help in [sub.render_help(), sub.render_long_help()] {
                let help = help.to_string();
                assert_eq!(
                    help.matches("Exit codes:").count(),
                    1,
                    "{}: {help}",
                    sub.get_name()
                );
                assert!(
                    help.trim_end().ends_with(&exit_codes_help(sub.get_name())),
                    "{}: {help}",
                    sub.get_name()
                );
            }
        }
    }

    #[test]
    fn leaf_subcommands_define_their_arguments_only_when_used() {
        let c = command();
        let token = c.find_subcommand("token").unwrap();
        assert!(
            token.get_arguments().all(|a| a.get_id() != "min_ttl"),
            "`token`'s arguments were defined before it was used"
        );
        // Parsing defines them: the option is known.
        let cli = parse(&[
            "tokenwarden".into(),
            "token".into(),
            "--min-ttl".into(),
            "5m".into(),
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Token(_)));
    }

    #[test]
    fn deferred_subcommands_keep_their_description_and_own_after_help() {
        let mut c = command();
        for sub in c.get_subcommands_mut() {
            let name = sub.get_name().to_string();
            let help = sub.render_help().to_string();
            assert!(
                !help.starts_with("Arguments of"),
                "{name}: the arguments' doc replaced the subcommand's description: {help}"
            );
        }
        // `env` has its own text after the options; the exit codes come after it.
        let env = c
            .find_subcommand_mut("env")
            .unwrap()
            .render_help()
            .to_string();
        let codes = env.find("Exit codes:").unwrap();
        assert!(env[..codes].contains("eval"), "{env}");
    }
}
