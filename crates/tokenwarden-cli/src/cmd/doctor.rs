//! `tokenwarden doctor`: runs the library's checks (`tokenwarden::diagnose`) for one profile or
//! all, and renders them: one line per check with an ok / warn / fail mark (coloured as the
//! printer decides) and the fix under each warning and failure, or one JSON object with
//! `--json`. Exit 0 when nothing fails. `--curl` prints the profile's token requests as
//! curl commands instead, with secrets as shell variables.

use super::Global;
use super::context;
use crate::json;
use crate::output::escape::one_line;
use crate::output::{Printer, Text, style};
use anyhow::Result;
use tokenwarden::diagnose::{self, Options, Report, Status, curl};
use tokenwarden::{Error, ErrorKind};

/// Arguments of `tokenwarden doctor`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Checks, in order: the configuration and redirect-URI lint, the client secret's variable, proxy \
variables, DNS / TCP / TLS / HTTP to the provider (each failure named), discovery and the issuer, \
probes of the token endpoint with a made-up code and a made-up refresh token (no token is used \
or rotated; a client not allowed the grant the profile needs fails), clock skew (Date header, JWT iat), the token store (path, permissions, key, integrity), the \
token's state, the 5xx rate of the last 15 minutes, and the shared circuit breaker (whether requests to the provider are held back, why and until when).

--reset-breaker clears the circuit breaker of the profile's provider first (use it once the provider is healthy again; a new login clears it too), then runs the checks.")]
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
    /// Clear the circuit breaker of the provider (requests held back after failures or a
    /// `Retry-After`) before checking.
    #[arg(long, conflicts_with = "curl")]
    reset_breaker: bool,
}

/// Runs `tokenwarden doctor`.
pub async fn run(global: &Global, out: &Printer, args: Args) -> Result<()> {
    if args.curl {
        return print_curl(global, out).await;
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
                return Err(no_profiles(out, &w.paths().config_file())?.into());
            }
            if args.reset_breaker {
                for name in &names {
                    reset_breaker(&w, name, &opts, out).await?;
                }
            }
            let mut reports = Vec::new();
            for name in names {
                reports.push(diagnose::diagnose(&w, &name, &opts).await);
            }
            reports
        }
        Err(e) => vec![diagnose::unreadable_config(&global.profile, &e)],
    };
    if out.json() {
        out.print_json(&json::Doctor {
            ok: reports.iter().all(|r| r.status() != Status::Fail),
            profiles: reports
                .iter()
                .map(|r| json::DoctorProfile {
                    profile: &r.profile,
                    status: r.status().as_str(),
                    checks: &r.checks,
                })
                .collect(),
        })?;
    } else {
        for (i, r) in reports.iter().enumerate() {
            if i > 0 {
                out.out("")?;
            }
            render(out, r)?;
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

/// `doctor --reset-breaker` for profile `name`: clears the breaker records about its provider
/// and says which (on stderr: stdout stays the report).
async fn reset_breaker(
    w: &tokenwarden::warden::Warden,
    name: &str,
    opts: &Options,
    out: &Printer,
) -> Result<()> {
    let profile = w.profile(name)?.profile;
    let cleared = diagnose::breaker::reset(w, &profile, !opts.offline).await?;
    if cleared.is_empty() {
        out.err(format!(
            "Profile `{name}`: the circuit breaker holds nothing back; nothing to clear."
        ));
    }
    for c in cleared {
        let what = match (c.before.held_until(), c.before.reason()) {
            (Some(until), Some(reason)) => format!(
                "it held requests back until {}: {}",
                tokenwarden::human::timestamp(until),
                reason
            ),
            _ => "it counted failures, holding nothing back yet".to_string(),
        };
        out.err(format!(
            "Profile `{name}`: cleared the circuit breaker of {} ({}).",
            one_line(&c.endpoint),
            what
        ));
    }
    Ok(())
}

/// `doctor --all` with no profile to check: says so (with `--json`, an empty report on stdout
/// too) and how to add one.
fn no_profiles(out: &Printer, config: &std::path::Path) -> std::io::Result<Error> {
    if out.json() {
        out.print_json(&json::Doctor {
            ok: false,
            profiles: Vec::new(),
        })?;
    }
    let why = if config.exists() {
        "has no profiles"
    } else {
        "does not exist yet"
    };
    Ok(Error::new(
        ErrorKind::Other,
        format!("doctor has no profile to check: {} {why}", config.display()),
    )
    .with_hint(
        "add one with `tokenwarden profile add NAME --issuer URL --client-id ID`, then run `tokenwarden doctor --all` again",
    ))
}

/// The mark of a check: its text and style.
fn mark(s: Status) -> Text {
    let (text, paint) = match s {
        Status::Ok => ("ok  ", style::OK),
        Status::Warn => ("warn", style::WARN),
        Status::Fail => ("FAIL", style::FAIL),
    };
    Text::new().plain("  ").styled(paint, text)
}

/// A report as lines: a heading, one line per check, the fix under warnings and failures, a
/// summary. A check's detail and fix may quote the provider: each stays on its line.
fn render(out: &Printer, r: &Report) -> std::io::Result<()> {
    let width = r.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    out.out(format!("doctor: profile `{}`", r.profile))?;
    // "  FAIL  name  detail": the detail and the fix wrap under the detail's column.
    let indent = 2 + 4 + 2 + width + 2;
    let wrapped = |text: &str| -> Vec<String> {
        match out.width() {
            Some(w) => crate::output::wrap(text, w.saturating_sub(indent).max(30)),
            None => vec![text.to_string()],
        }
    };
    for c in &r.checks {
        let detail = wrapped(&one_line(&c.detail));
        let mut lines = detail.iter();
        let first = lines.next().map(String::as_str).unwrap_or("");
        out.out(mark(c.status).plain(format!("  {:width$}  {first}", c.name)))?;
        for more in lines {
            out.out(format!("{:indent$}{more}", ""))?;
        }
        if let (Some(fix), true) = (&c.fix, c.status != Status::Ok) {
            for (i, line) in wrapped(&format!("fix: {}", one_line(fix)))
                .iter()
                .enumerate()
            {
                let pad = if i == 0 { indent } else { indent + 5 };
                out.out(format!("{:pad$}{line}", ""))?;
            }
        }
    }
    let (ok, warn, fail) = (
        r.count(Status::Ok),
        r.count(Status::Warn),
        r.count(Status::Fail),
    );
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    out.out(format!(
        "{}, {}, {}",
        plural(ok, "check passed", "checks passed"),
        plural(warn, "warning", "warnings"),
        plural(fail, "failure", "failures")
    ))
}

/// `doctor --curl`: the token requests of the profile, endpoints discovered when needed.
async fn print_curl(global: &Global, out: &Printer) -> Result<()> {
    let w = context::warden(global)?;
    let profile = w.profile(&global.profile)?.profile;
    let endpoint = match profile.endpoints.token.clone() {
        Some(u) => Some(u),
        // Only discovery: no store is opened, so nothing is created on a fresh home.
        None => match w.client_without_store(&profile)?.endpoints().await {
            Ok(e) => e.token,
            Err(e) => {
                out.warning(&format!(
                    "the token endpoint could not be discovered ({}); it is left as $TOKEN_ENDPOINT",
                    e.message()
                ));
                None
            }
        },
    };
    let commands = curl::commands(&profile, endpoint.as_ref());
    if out.json() {
        out.print_json(&json::DoctorCurl {
            profile: &profile.name,
            commands: &commands,
        })?;
        return Ok(());
    }
    for (i, c) in commands.iter().enumerate() {
        if i > 0 {
            out.out("")?;
        }
        out.out_partial(c.script())?;
    }
    Ok(())
}
