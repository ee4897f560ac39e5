//! Building the library objects a command needs from the global options: paths, the
//! [`Warden`], the `--trace-http` tracer, and the small rendering helpers commands share.

use super::Global;
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokenwarden::http::{TraceEvent, Tracer};
use tokenwarden::paths::Paths;
use tokenwarden::warden::Warden;

/// Opens the warden for these options (config loaded; store opened on first use).
pub fn warden(global: &Global) -> tokenwarden::Result<Warden> {
    let paths = Paths::from_env()?;
    let w = Warden::open(paths)?;
    Ok(if global.trace_http {
        w.with_tracer(Arc::new(StderrTracer))
    } else {
        w
    })
}

/// Prints every exchange on stderr; the events arrive already redacted (secrets as
/// fingerprints).
#[derive(Debug)]
pub struct StderrTracer;

impl Tracer for StderrTracer {
    fn trace(&self, event: &TraceEvent<'_>) {
        let text = match event {
            TraceEvent::Request {
                correlation_id,
                line,
                headers,
                body,
            } => {
                let mut s = format!("> [{correlation_id}] {line}\n");
                for (k, v) in headers {
                    s.push_str(&format!("> {k}: {v}\n"));
                }
                if !body.is_empty() {
                    s.push_str(&format!(">\n> {body}\n"));
                }
                s
            }
            TraceEvent::Response {
                correlation_id,
                evidence,
                headers,
            } => {
                let mut s = format!(
                    "< [{correlation_id}] {} ({} ms)\n",
                    evidence.status.map(|s| s.to_string()).unwrap_or_default(),
                    evidence.elapsed.map(|d| d.as_millis()).unwrap_or_default()
                );
                for (k, v) in headers {
                    s.push_str(&format!("< {k}: {v}\n"));
                }
                if let Some(b) = evidence.body_snippet.as_ref().filter(|b| !b.is_empty()) {
                    s.push_str(&format!("<\n< {b}\n"));
                }
                s
            }
            TraceEvent::Failed {
                correlation_id,
                line,
                error,
            } => format!("! [{correlation_id}] {line}: {}\n", error.message()),
            _ => return,
        };
        eprint!("{text}");
    }
}

/// True when stderr is a terminal and colour/animation are welcome.
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

/// True when stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}
