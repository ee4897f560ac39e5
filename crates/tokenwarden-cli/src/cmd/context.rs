//! Building the library objects a command needs from the global options: paths, the
//! [`Warden`] (with the `--trace-http` tracer), and the small formatting helpers commands share.

use super::Global;
use crate::output::{Printer, StderrTracer};
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokenwarden::agent::{AgentPaths, AgentSource};
use tokenwarden::paths::Paths;
use tokenwarden::session::TokenSource as _;
use tokenwarden::warden::Warden;

/// Opens the warden for these options (config loaded; store opened on first use).
pub fn warden(global: &Global) -> tokenwarden::Result<Warden> {
    let paths = Paths::from_env()?;
    let w = Warden::open(paths)?;
    Ok(if global.trace_http {
        w.with_tracer(Arc::new(StderrTracer(Printer::for_global(global))))
    } else {
        w
    })
}

/// Tokens of `profile` from the running agent, else (no agent, `--no-agent`,
/// `TOKENWARDEN_AGENT=0`, or the agent failing) from a session of this process, opened only
/// then.
pub fn agent_source(global: &Global, profile: &str) -> tokenwarden::Result<AgentSource> {
    let paths = Paths::from_env()?;
    let agent = (!global.no_agent && tokenwarden::agent::enabled_by_env())
        .then(|| AgentPaths::from_env(&paths));
    let g = global.clone();
    let name = profile.to_string();
    Ok(AgentSource::new(
        profile,
        agent,
        Box::new(move || warden(&g)?.session(&name)),
    ))
}

/// True when stderr is a terminal (a spinner or a live display is welcome).
pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// "in 4 min 10 s" / "3 min ago" for a time relative to now.
pub fn relative(t: SystemTime, now: SystemTime) -> String {
    match t.duration_since(now) {
        Ok(d) => format!("in {}", short(d)),
        Err(e) => format!("{} ago", short(e.duration())),
    }
}

/// A duration truncated to seconds, for a sentence: "1 day", "15 min", "2 h 5 min".
pub fn short(d: Duration) -> String {
    tokenwarden::human::duration(Duration::from_secs(d.as_secs()))
}

/// RFC 3339 with seconds.
pub fn rfc3339(t: SystemTime) -> String {
    tokenwarden::human::timestamp(t)
}

/// RFC 3339 with milliseconds (event times).
pub fn rfc3339_millis(t: SystemTime) -> String {
    tokenwarden::human::timestamp_millis(t)
}

/// Parses a duration such as `30s`, `5m`, `1h30m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration like 30s, 5m or 1h ({e})"))
}

/// The variable a token goes in when neither `--env` nor the profile's `export_env` names
/// one.
pub const DEFAULT_TOKEN_VARIABLE: &str = "TOKENWARDEN_ACCESS_TOKEN";

/// The variable `env`, `token --format env` and `exec` put the profile's token in: its
/// `export_env`, else [`DEFAULT_TOKEN_VARIABLE`].
pub fn token_variable(profile: &tokenwarden::config::Profile) -> String {
    profile
        .export_env
        .clone()
        .unwrap_or_else(|| DEFAULT_TOKEN_VARIABLE.to_string())
}

/// How long a token must stay valid.
#[derive(Debug, Clone, Copy)]
pub enum MinTtl {
    /// As asked (`--min-ttl`): a provider whose tokens are shorter gets a warning.
    Asked(Duration),
    /// A default: at most this long, less when the provider's tokens are shorter, silently.
    UpTo(Duration),
}

/// A valid token of `profile` (from the running agent when there is one, see
/// [`agent_source`]), its warnings shown: degraded mode, a `min_ttl` the provider cannot meet
/// (only when asked for), and, once a day whichever command or process asks, that the refresh
/// token expires soon ([`tokenwarden::horizon`]).
pub async fn valid_token(
    global: &Global,
    w: &Warden,
    out: &Printer,
    profile: &str,
    min_ttl: MinTtl,
) -> tokenwarden::Result<tokenwarden::session::Token> {
    let source = agent_source(global, profile)?;
    let token = match min_ttl {
        MinTtl::Asked(d) => source.token(d).await?,
        // A default the caller did not ask for: the provider's shorter tokens are no news.
        MinTtl::UpTo(d) => source.token(d).await?.without_warning(),
    };
    for warning in token.degraded().into_iter().chain(token.warning()) {
        out.warning(warning);
    }
    // The store is opened for this only inside the warning window.
    let loaded = w.profile(profile)?;
    let now = w.clock().now();
    let within = tokenwarden::horizon::Horizon::at(
        token.refresh_token_expires_at(),
        now,
        loaded.profile.refresh_expiry_warning,
    )
    .is_some_and(|h| h.within_warning);
    if within
        && let Some(h) = tokenwarden::horizon::due_warning(
            w.store()?.as_ref(),
            &loaded.profile,
            token.refresh_token_expires_at(),
            now,
        )
    {
        out.warning(&h.message(&loaded.profile.name));
    }
    Ok(token)
}

/// Seconds since the Unix epoch.
pub fn epoch_seconds(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
