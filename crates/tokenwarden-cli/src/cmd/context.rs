//! Building the library objects a command needs from the global options: paths, the
//! [`Warden`] (with the `--trace-http` tracer), and the small formatting helpers commands share.

use super::Global;
use crate::output::{Printer, StderrTracer};
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokenwarden::agent::{AgentPaths, AgentSource};
use tokenwarden::paths::Paths;
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
    humantime::format_rfc3339_seconds(t).to_string()
}

/// RFC 3339 with milliseconds (event times).
pub fn rfc3339_millis(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses a duration such as `30s`, `5m`, `1h30m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration like 30s, 5m or 1h ({e})"))
}
