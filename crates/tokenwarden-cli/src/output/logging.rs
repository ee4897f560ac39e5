//! The tracing subscriber behind `-v`/`-vv`/`-vvv` and `RUST_LOG`: log lines on stderr, each
//! escaped as one line (a field carrying the provider's words cannot paint the terminal or
//! start a line of its own) and never coloured, so that colour stays the printer's.

use super::escape::one_line;
use std::io::Write;

/// `-v` info, `-vv` debug for tokenwarden's own lines (other crates stay at warnings);
/// `-vvv` everything at trace, the HTTP stack included; RUST_LOG overrides. Logs go to stderr.
/// The servers (the mock server, the agent, the proxy) log at info by default: each request
/// mockauth answers, what the agent and the proxy do.
pub fn init(verbose: u8, server: bool) {
    let default = match verbose {
        0 if server => "warn,mockauth=info,tokenwarden_agent=info",
        0 => "warn",
        1 => "warn,tokenwarden=info,mockauth=info",
        2 => "warn,tokenwarden=debug,mockauth=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| EscapingStderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

/// Stderr, escaping what it is given: the formatter writes one whole line per event, whose
/// final line break is kept and everything else is escaped.
struct EscapingStderr;

impl Write for EscapingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (line, end) = match text.strip_suffix('\n') {
            Some(line) => (line, "\n"),
            None => (text.as_ref(), ""),
        };
        let mut err = std::io::stderr().lock();
        err.write_all(one_line(line).as_bytes())?;
        err.write_all(end.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
