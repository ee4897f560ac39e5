//! `tokenwarden doctor`: runs the library's checks (`tokenwarden::diagnose`) for one profile or
//! all, and renders them: one line per check with an ok / warn / fail mark (coloured only on a
//! terminal without `NO_COLOR`) and the fix under each warning and failure, or one JSON object
//! with `--json`. Exit 0 when nothing fails. `--curl` prints the profile's token requests as
//! curl commands instead, with secrets as shell variables.

use super::Global;
use super::context;
use anyhow::Result;
use serde_json::json;
use std::io::IsTerminal as _;
use tokenwarden::diagnose::{self, Options, Report, Status, curl};
use tokenwarden::{Error, ErrorKind};

/// Arguments of `tokenwarden doctor`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Checks, in order: the configuration and redirect-URI lint, the client secret's variable, proxy \
variables, DNS / TCP / TLS / HTTP to the provider (each failure named), discovery and the issuer, \
probes of the token endpoint with a made-up code and a made-up refresh token (no token is used \
or rotated; a client not allowed the grant the profile needs fails), clock skew (Date header, JWT iat), the token store (path, permissions, key, integrity), the \
token's state, and the 5xx rate of the last 15 minutes.

Exit codes: 0 nothing failed (warnings allowed); 1 at least one check failed, or no profile to \
check.")]
pub struct Args {
    /// Check every profile in config.toml.
    #[arg(long)]
    all: bool,
    /// Also fetch a token (renewed only if it needs to be) and call the profile's `resource`.
    #[arg(long)]
    live: bool,
    /// Skip the network checks (DNS, TCP, TLS, discovery, token endpoint).
    #[arg(long, conflicts_with = "live")]
    offline: bool,
    /// Print the profile's token requests as curl commands (secrets as shell variables to fill
    /// in) instead of checking.
    #[arg(long, conflicts_with_all = ["all", "live", "offline"])]
    curl: bool,
}

/// Runs `tokenwarden doctor`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    if args.curl {
        return print_curl(global).await;
    }
    let opts = Options {
        live: args.live,
        offline: args.offline,
    };
    let reports = match context::warden(global) {
        Ok(w) => {
            let names = if args.all {
                w.config().profile_names()
            } else {
                vec![global.profile.clone()]
            };
            if names.is_empty() {
                return Err(no_profiles(global, &w.paths().config_file()).into());
            }
            let mut reports = Vec::new();
            for name in names {
                reports.push(diagnose::diagnose(&w, &name, &opts).await);
            }
            reports
        }
        Err(e) => vec![diagnose::unreadable_config(&global.profile, &e)],
    };
    if global.json {
        let ok = reports.iter().all(|r| r.status() != Status::Fail);
        let profiles: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| {
                json!({
                    "profile": r.profile,
                    "status": r.status().as_str(),
                    "checks": r.checks,
                })
            })
            .collect();
        println!("{}", json!({ "ok": ok, "profiles": profiles }));
    } else {
        let paint = Paint::for_stdout();
        for (i, r) in reports.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print!("{}", render(r, &paint));
        }
    }
    let failing: Vec<&Report> = reports
        .iter()
        .filter(|r| r.status() == Status::Fail)
        .collect();
    if failing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = failing.iter().map(|r| format!("`{}`", r.profile)).collect();
    let count: usize = failing.iter().map(|r| r.count(Status::Fail)).sum();
    let profiles = match names.as_slice() {
        [one] => format!("profile {one}"),
        [rest @ .., last] => format!("profiles {} and {last}", rest.join(", ")),
        [] => String::new(),
    };
    Err(Error::new(
        ErrorKind::Other,
        format!(
            "doctor found {count} failing check{} for {profiles}",
            if count == 1 { "" } else { "s" },
        ),
    )
    .with_hint("apply the fix shown under each failing check, then run doctor again")
    .into())
}

/// `doctor --all` with no profile to check: says so (with `--json`, an empty report on stdout
/// too) and how to add one.
fn no_profiles(global: &Global, config: &std::path::Path) -> Error {
    if global.json {
        println!("{}", json!({ "ok": false, "profiles": [] }));
    }
    let why = if config.exists() {
        "has no profiles"
    } else {
        "does not exist yet"
    };
    Error::new(
        ErrorKind::Other,
        format!("doctor has no profile to check: {} {why}", config.display()),
    )
    .with_hint(
        "add one with `tokenwarden profile add NAME --issuer URL --client-id ID`, then run `tokenwarden doctor --all` again",
    )
}

/// Colours for the marks, or none.
struct Paint {
    on: bool,
}

impl Paint {
    fn for_stdout() -> Paint {
        Paint {
            on: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn mark(&self, s: Status) -> String {
        let (text, colour) = match s {
            Status::Ok => ("ok  ", "32"),
            Status::Warn => ("warn", "33"),
            Status::Fail => ("FAIL", "31;1"),
        };
        if self.on {
            format!("\x1b[{colour}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// A report as lines: a heading, one line per check, the fix under warnings and failures, a
/// summary.
fn render(r: &Report, paint: &Paint) -> String {
    let width = r.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = format!("doctor: profile `{}`\n", r.profile);
    for c in &r.checks {
        out.push_str(&format!(
            "  {}  {:width$}  {}\n",
            paint.mark(c.status),
            c.name,
            c.detail
        ));
        if let (Some(fix), true) = (&c.fix, c.status != Status::Ok) {
            out.push_str(&format!("        {:width$}  fix: {fix}\n", ""));
        }
    }
    let (ok, warn, fail) = (
        r.count(Status::Ok),
        r.count(Status::Warn),
        r.count(Status::Fail),
    );
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    out.push_str(&format!(
        "{}, {}, {}\n",
        plural(ok, "check passed", "checks passed"),
        plural(warn, "warning", "warnings"),
        plural(fail, "failure", "failures")
    ));
    out
}

/// `doctor --curl`: the token requests of the profile, endpoints discovered when needed.
async fn print_curl(global: &Global) -> Result<()> {
    let w = context::warden(global)?;
    let profile = w.profile(&global.profile)?.profile;
    let endpoint = match profile.endpoints.token.clone() {
        Some(u) => Some(u),
        // Only discovery: no store is opened, so nothing is created on a fresh home.
        None => match w.client_without_store(&profile)?.endpoints().await {
            Ok(e) => e.token,
            Err(e) => {
                eprintln!(
                    "warning: the token endpoint could not be discovered ({}); it is left as $TOKEN_ENDPOINT",
                    e.message()
                );
                None
            }
        },
    };
    let commands = curl::commands(&profile, endpoint.as_ref());
    if global.json {
        println!(
            "{}",
            json!({ "profile": profile.name, "commands": commands })
        );
        return Ok(());
    }
    for (i, c) in commands.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print!("{}", c.script());
    }
    Ok(())
}
