//! `tokenwarden status`: the selected profile (`--all`: every profile) at a glance: logged in
//! or not, when the access token expires, scopes, refresh token present, last refresh, and the
//! last error (a failing provider, a revoked session). Reads only; never refreshes.
//!
//! Like `gh auth status`, it tells a script whether a login is needed: exit 3 when the selected
//! profile has no tokens or its session ended (`status || tokenwarden login`); with `--all` it
//! reports every profile and exits 0.
//!
//! A running agent answers when there is one (the command then opens no store); otherwise the
//! store is read directly.
//!
//! JSON (`--json`): an array with one object per profile shown, with `profile`, `configured`,
//! `logged_in`, `state`
//! (`logged_out`, `valid`, `expired`, `rejected`, `login_required`), `expires_at`,
//! `expires_in_s`, `scope`, `refresh_token`, `refresh_token_obtained_at`,
//! `refresh_token_expires_at` (when a new login will be needed; null when not known),
//! `obtained_at`,
//! `last_refresh_at`, `last_error` (what the last failed refresh attempt said),
//! `last_error_cause` (its cause as a stable name, null when none was named),
//! `provider_failing`, `login_required_reason`,
//! `login_required_cause` (why a new login is needed, as a stable name such as
//! `refresh_token_revoked` or `possibly_lost_rotation`; null when not known), `subject`,
//! `version`, and `warnings`: an array of strings (the 5xx-rate warning when the profile's
//! requests of the last 15 minutes pass its `failure_rate_threshold`, and the refresh token's
//! expiry within the profile's `refresh_expiry_warning`), empty when all is well.
//! Without `--json` the warnings are printed on stderr.

use super::Global;
use super::context;
use crate::json::{StatusRow, StatusTokens};
use crate::output::Printer;
use crate::output::escape::one_line;
use anyhow::Result;
use std::time::{Duration, SystemTime};
use tokenwarden::agent::protocol::from_unix_ms;
use tokenwarden::agent::{AgentClient, AgentPaths};
use tokenwarden::error::Cause;
use tokenwarden::exit::ExitCode;
use tokenwarden::paths::Paths;
use tokenwarden::profiles::{ProfileState, profile_states};

/// Arguments of `tokenwarden status`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example: tokenwarden --profile work status >/dev/null || tokenwarden --profile work login"
)]
pub struct StatusArgs {
    /// Show every profile (configured or with stored tokens) and exit 0 whatever their state.
    #[arg(long)]
    all: bool,
}

/// Runs `tokenwarden status`; exit 3 when the selected profile needs a login (not with
/// `--all`).
pub async fn run(global: &Global, out: &Printer, args: StatusArgs) -> Result<ExitCode> {
    let mut states = match from_agent(global).await? {
        Some(states) => states,
        None => profile_states(&context::warden(global)?)?,
    };
    if !args.all {
        states.retain(|p| p.profile == global.profile);
        if states.is_empty() {
            let w = context::warden(global)?;
            return Err(w.config().no_such_profile(&global.profile).into());
        }
    }
    let now = SystemTime::now();
    let rows: Vec<StatusRow> = states.iter().map(|s| row(s, now)).collect();
    let code = match rows.as_slice() {
        [one] if !args.all && matches!(one.state, "logged_out" | "login_required") => {
            ExitCode::LoginRequired
        }
        _ => ExitCode::Success,
    };
    if out.json() {
        out.print_json(&rows)?;
        return Ok(code);
    }
    for warning in rows.iter().flat_map(|r| &r.warnings) {
        out.warning(warning);
    }
    if rows.is_empty() {
        out.out(
            "No profiles. Add one with `tokenwarden profile add NAME --issuer URL --client-id ID`.",
        )?;
        return Ok(code);
    }
    for r in &rows {
        print_row(out, r, &global.profile, now)?;
    }
    Ok(code)
}

/// The profiles as a running agent sees them (`None`: no agent, or it cannot be used; `-v`
/// says why).
async fn from_agent(global: &Global) -> tokenwarden::Result<Option<Vec<ProfileState>>> {
    if global.no_agent || !tokenwarden::agent::enabled_by_env() {
        return Ok(None);
    }
    let paths = AgentPaths::from_env(&Paths::from_env()?);
    let answered = match AgentClient::connect(&paths).await {
        Ok(mut c) => c.profiles().await,
        Err(e) => Err(e),
    };
    match answered {
        Ok(states) => states.map(Some),
        Err(why) => {
            tracing::info!("not using the agent: {why}; reading the store");
            Ok(None)
        }
    }
}

fn row(p: &ProfileState, now: SystemTime) -> StatusRow {
    let Some(s) = &p.stored else {
        return StatusRow {
            profile: p.profile.clone(),
            configured: p.configured,
            logged_in: false,
            state: "logged_out",
            tokens: None,
            warnings: p.warnings.clone(),
        };
    };
    let at = |ms: u64| context::rfc3339(from_unix_ms(ms));
    let expires_in_s = s
        .expires_at_ms
        .map(|e| match from_unix_ms(e).duration_since(now) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(past) => -i64::try_from(past.duration().as_secs()).unwrap_or(i64::MAX),
        });
    let (last_error_cause, login_required_cause) = s.causes();
    StatusRow {
        profile: p.profile.clone(),
        configured: p.configured,
        logged_in: s.logged_in(),
        state: s.state_at(now),
        tokens: Some(StatusTokens {
            expires_at: s.expires_at_ms.map(at),
            expires_in_s,
            scope: s.scope.clone(),
            refresh_token: s.refresh_token,
            refresh_token_obtained_at: s.refresh_token_obtained_at_ms.map(at),
            refresh_token_expires_at: s
                .refresh_token_expires_at_ms
                .filter(|_| s.refresh_token)
                .map(at),
            obtained_at: at(s.obtained_at_ms),
            last_refresh_at: s.last_refresh_at_ms.map(at),
            last_error: s.last_error.clone(),
            last_error_cause: last_error_cause.map(Cause::as_str),
            provider_failing: s.provider_failing(),
            login_required_reason: s.login_required_reason.clone(),
            login_required_cause: login_required_cause.map(Cause::as_str),
            subject: s.subject.clone(),
            version: s.version,
        }),
        warnings: p.warnings.clone(),
    }
}

/// One profile in words:
/// `* work: logged in — access token expires in 52m 10s; scopes: openid; refresh token: yes`.
fn print_row(out: &Printer, r: &StatusRow, current: &str, now: SystemTime) -> std::io::Result<()> {
    let name = &r.profile;
    let marker = if *name == current { "*" } else { " " };
    let Some(t) = &r.tokens else {
        out.out(format!("{marker} {name}: not logged in"))?;
        return out.out(format!("    run `tokenwarden --profile {name} login`"));
    };
    let has_refresh = t.refresh_token;
    let headline = match r.state {
        "login_required" => "login required".to_string(),
        "rejected" if has_refresh => {
            "logged in — access token rejected by the API, renewed at next use".to_string()
        }
        "rejected" => "access token rejected by the API; no refresh token".to_string(),
        "expired" if has_refresh => {
            format!(
                "logged in — access token {}, renewed at next use",
                expiry(t)
            )
        }
        "expired" => format!("access token {}; no refresh token", expiry(t)),
        _ => format!("logged in — access token {}", expiry(t)),
    };
    let scopes = if t.scope.is_empty() {
        "(none)".to_string()
    } else {
        one_line(&t.scope).into_owned()
    };
    let refresh = if has_refresh { "yes" } else { "no" };
    out.out(format!(
        "{marker} {name}: {headline}; scopes: {scopes}; refresh token: {refresh}"
    ))?;
    if let Some(at) = &t.last_refresh_at {
        let ago = humantime::parse_rfc3339(at)
            .map(|when| format!("{} ({at})", context::relative(when, now)))
            .unwrap_or_else(|_| at.clone());
        out.out(format!("    last refresh: {ago}"))?;
    }
    if let Some(at) = &t.refresh_token_expires_at {
        let line = match humantime::parse_rfc3339(at) {
            Ok(when) if when <= now => format!(
                "refresh token expired {} ({at}): a new login is needed",
                context::relative(when, now)
            ),
            Ok(when) => format!(
                "refresh token expires {} ({at}): a new login is needed then",
                context::relative(when, now)
            ),
            Err(_) => format!("refresh token expires at {at}: a new login is needed then"),
        };
        out.out(format!("    {line}"))?;
    }
    if let Some(e) = &t.last_error {
        let first = e.lines().next().unwrap_or(e);
        let label = if t.provider_failing {
            "last error (provider failing; the current token is used while it lasts)"
        } else {
            "last error"
        };
        out.out(format!("    {label}: {}", one_line(first)))?;
    }
    if r.state == "login_required" {
        let cause = t.login_required_cause.and_then(Cause::parse);
        let said = t
            .login_required_reason
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(one_line);
        match (cause, said) {
            (Some(c), Some(s)) => out.out(format!(
                "    why: {} (the provider said: {s})",
                c.describe()
            ))?,
            (Some(c), None) => out.out(format!("    why: {}", c.describe()))?,
            (None, Some(s)) => out.out(format!("    the provider said: {s}"))?,
            (None, None) => {}
        }
        out.out(format!("    run `tokenwarden --profile {name} login`"))?;
    }
    Ok(())
}

/// "expires in 4 min 10 s", "expired 3 s ago" or "does not expire".
fn expiry(t: &StatusTokens) -> String {
    match t.expires_in_s {
        Some(s) if s > 0 => format!(
            "expires in {}",
            context::short(Duration::from_secs(s.unsigned_abs()))
        ),
        Some(s) => format!(
            "expired {} ago",
            context::short(Duration::from_secs(s.unsigned_abs()))
        ),
        None => "does not expire".into(),
    }
}
