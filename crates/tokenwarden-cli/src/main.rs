//! The `tokenwarden` binary: parses arguments, runs one command, and ends with its exit code.
//!
//! Everything reusable lives in the `tokenwarden` library and in `mockauth`; this crate only
//! parses and renders: [`output`] is the printer (colour, escaping, errors, logs) and [`json`]
//! the `--json` output contract. Exit codes are the library's [`ExitCode`].

mod cmd;
mod json;
mod output;

use clap::{Parser, Subcommand};
use tokenwarden::exit::ExitCode;

/// Keeps OAuth tokens valid for every program and process, and explains every failure.
#[derive(Debug, Parser)]
#[command(name = "tokenwarden", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: cmd::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Log in: authorization code + PKCE in a browser (default), --device, or --client-credentials.
    Login(cmd::login::LoginArgs),
    /// Revoke the profile's tokens at the provider and delete them locally.
    Logout(cmd::logout::LogoutArgs),
    /// Print a valid access token (refreshing once if needed).
    Token(cmd::token::TokenArgs),
    /// Show every profile: logged in or not, expiry, scopes, last refresh, last error.
    Status(cmd::status::StatusArgs),
    /// Call an API with the bearer token; a 401 is retried once with a fresh token.
    Request(cmd::request::RequestArgs),
    /// Run a command with a valid access token in its environment.
    Exec(cmd::exec::ExecArgs),
    /// Check configuration, connectivity, clock, store and tokens; name causes and fixes.
    Doctor(cmd::doctor::Args),
    /// Show the token-operation log.
    Events(cmd::events::Args),
    /// Statistics of token operations: outcomes, refresh latency, 5xx rate, forced logins.
    Stats(cmd::stats::Args),
    /// Show tokenwarden keeping many processes logged in through outages, beside a naive client.
    Demo(cmd::demo::Args),
    /// Manage profiles in config.toml (add, list, show, remove).
    Profile(cmd::profile::ProfileArgs),
    /// The token store: set up the fleet store (migrate), move logins to or from it (copy).
    Store(cmd::store::StoreArgs),
    /// Run the embedded OAuth authorization server (with fault injection) on loopback.
    MockServer(cmd::mock_server::MockServerArgs),
    /// One worker process of `tokenwarden demo` (started by the demo, not by people).
    #[command(hide = true)]
    DemoWorker(cmd::demo::WorkerArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let out = output::Printer::for_global(&cli.global);
    let code = run(cli, &out);
    std::process::ExitCode::from(code.code())
}

/// Runs the command and shows how it failed, if it did.
fn run(cli: Cli, out: &output::Printer) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let e = anyhow::Error::new(e).context("cannot start the async runtime");
            return out.error(e, None);
        }
    };
    output::init_logging(
        cli.global.verbose,
        matches!(cli.command, Command::MockServer(_)),
    );
    let g = &cli.global;
    // One invocation is one operation: its log lines, traces, event records and errors share
    // one correlation id. Long-running commands (the demo, the mock server) serve many
    // operations, each with its own.
    let corr = match &cli.command {
        Command::Demo(_) | Command::DemoWorker(_) | Command::MockServer(_) => None,
        _ => Some(tokenwarden::correlation::new_id()),
    };
    let command = async {
        let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::Success);
        match cli.command {
            Command::Login(args) => cmd::login::run(g, out, args).await,
            Command::Logout(args) => done(cmd::logout::run(g, out, args).await),
            Command::Token(args) => done(cmd::token::run(g, out, args).await),
            Command::Status(args) => done(cmd::status::run(g, out, args).await),
            Command::Request(args) => done(cmd::request::run(g, out, args).await),
            Command::Exec(args) => cmd::exec::run(g, out, args).await,
            Command::Doctor(args) => done(cmd::doctor::run(g, out, args).await),
            Command::Events(args) => done(cmd::events::run(g, out, args).await),
            Command::Stats(args) => done(cmd::stats::run(g, out, args).await),
            Command::Demo(args) => done(cmd::demo::run(g, args).await),
            Command::Profile(args) => done(cmd::profile::run(g, out, args).await),
            Command::Store(args) => done(cmd::store::run(g, out, args).await),
            Command::MockServer(args) => done(cmd::mock_server::run(args).await),
            Command::DemoWorker(args) => done(cmd::demo::run_worker(g, args).await),
        }
    };
    let result = runtime.block_on(async {
        match &corr {
            Some(id) => tokenwarden::correlation::scope(id.clone(), command).await,
            None => command.await,
        }
    });
    // Do not wait for lingering tasks (a spinner, an idle connection) at exit.
    runtime.shutdown_background();
    result.unwrap_or_else(|e| out.error(e, corr.as_deref()))
}
