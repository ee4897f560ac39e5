//! The `tokenwarden` binary: parses arguments, runs one command, and ends with its exit code.
//!
//! Everything reusable lives in the `tokenwarden` library and in `mockauth`; this crate only
//! parses and renders: [`output`] is the printer (colour, escaping, errors, logs) and [`json`]
//! the `--json` output contract. Exit codes are the library's [`ExitCode`]; [`cli`] is the
//! command line itself (what clap parses, the help's exit-code sections).
//!
//! Invoked as `git-credential-tokenwarden` (a link on PATH, for `credential.helper =
//! tokenwarden`), the binary is `tokenwarden git-credential`.

mod cli;
mod cmd;
mod json;
mod output;

use cli::{Cli, Command};
use tokenwarden::exit::ExitCode;

fn main() -> std::process::ExitCode {
    let args = cli::arguments(std::env::args_os());
    let code = match cli::parse(&args) {
        Ok(cli) => {
            let out = output::Printer::for_global(&cli.global);
            run(cli, &out)
        }
        Err(e) => output::usage_error(&e, cli::json_requested(&args)),
    };
    std::process::ExitCode::from(code.code())
}

/// Runs the command and shows how it failed, if it did.
fn run(cli: Cli, out: &output::Printer) -> ExitCode {
    // A short command that mostly waits on one socket or file runs on this thread alone:
    // starting worker threads would cost it more than its work (`token` through the agent is
    // about one round trip). Tools run these once per use: a script asking for a token, git
    // asking its credential helper.
    let mut builder = if matches!(
        cli.command,
        Command::Token(_) | Command::Status(_) | Command::Env(_) | Command::GitCredential(_)
    ) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let e = anyhow::Error::new(e).context("cannot start the async runtime");
            return out.error(e, None);
        }
    };
    output::init_logging(
        cli.global.verbose,
        matches!(
            cli.command,
            Command::MockServer(_) | Command::Agent(_) | Command::Proxy(_)
        ),
    );
    let g = &cli.global;
    // One invocation is one operation: its log lines, traces, event records and errors share
    // one correlation id. Long-running commands (the demo, the mock server) serve many
    // operations, each with its own.
    let corr = match &cli.command {
        Command::Demo(_)
        | Command::DemoWorker(_)
        | Command::MockServer(_)
        | Command::Agent(_)
        | Command::Proxy(_) => None,
        _ => Some(tokenwarden::correlation::new_id()),
    };
    let command = async {
        let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::Success);
        match cli.command {
            Command::Login(args) => cmd::login::run(g, out, args.0).await,
            Command::Logout(args) => done(cmd::logout::run(g, out, args.0).await),
            Command::Token(args) => done(cmd::token::run(g, out, args.0).await),
            Command::Env(args) => done(cmd::env::run(g, out, args.0).await),
            Command::Status(args) => cmd::status::run(g, out, args.0).await,
            Command::Request(args) => cmd::request::run(g, out, args.0).await,
            Command::Exec(args) => cmd::exec::run(g, out, args.0).await,
            Command::GitCredential(args) => done(cmd::git_credential::run(g, out, args.0).await),
            Command::Doctor(args) => done(cmd::doctor::run(g, out, args.0).await),
            Command::Events(args) => done(cmd::events::run(g, out, args.0).await),
            Command::Stats(args) => done(cmd::stats::run(g, out, args.0).await),
            Command::Demo(args) => done(cmd::demo::run(g, args.0).await),
            Command::Profile(args) => done(cmd::profile::run(g, out, args).await),
            Command::Store(args) => done(cmd::store::run(g, out, args).await),
            Command::MockServer(args) => done(cmd::mock_server::run(args.0).await),
            Command::Completions(args) => done(cmd::completions::run(out, args.0)),
            Command::Man(args) => done(cmd::completions::man(out, args.0)),
            Command::DemoWorker(args) => done(cmd::demo::run_worker(g, args.0).await),
            Command::Agent(args) => cmd::agent::run(g, out, args).await,
            Command::Proxy(args) => done(cmd::proxy::run(g, out, args.0).await),
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
