//! `--trace-http`: every HTTP exchange on stderr, as it happens. The events arrive already
//! redacted (secrets as fingerprints); every field is escaped on its own line, and each line of
//! a body gets the `>`/`<` mark of its direction, so no part of an answer can pass for a line
//! of the trace.

use super::Printer;
use super::escape::one_line;
use std::fmt::Write as _;
use tokenwarden::http::{TraceEvent, Tracer};

/// Prints every exchange on stderr.
#[derive(Debug)]
pub struct StderrTracer(pub Printer);

impl Tracer for StderrTracer {
    fn trace(&self, event: &TraceEvent<'_>) {
        let mut s = String::new();
        match event {
            TraceEvent::Request {
                correlation_id,
                line,
                headers,
                body,
            } => {
                let _ = write!(s, "> [{correlation_id}] {}", one_line(line));
                headers_and_body(&mut s, '>', headers, body);
            }
            TraceEvent::Response {
                correlation_id,
                evidence,
                headers,
            } => {
                let _ = write!(
                    s,
                    "< [{correlation_id}] {} ({} ms)",
                    evidence.status.map(|s| s.to_string()).unwrap_or_default(),
                    evidence.elapsed.map(|d| d.as_millis()).unwrap_or_default()
                );
                let body = evidence.body_snippet.as_deref().unwrap_or_default();
                headers_and_body(&mut s, '<', headers, body);
            }
            TraceEvent::Failed {
                correlation_id,
                line,
                error,
            } => {
                let _ = write!(
                    s,
                    "! [{correlation_id}] {}: {}",
                    one_line(line),
                    one_line(error.message())
                );
            }
            _ => return,
        }
        self.0.err(s);
    }
}

/// The header lines, then the body after an empty marked line, each body line marked.
fn headers_and_body(s: &mut String, mark: char, headers: &[(String, String)], body: &str) {
    for (k, v) in headers {
        let _ = write!(s, "\n{mark} {}: {}", one_line(k), one_line(v));
    }
    if !body.is_empty() {
        let _ = write!(s, "\n{mark}");
        for line in body.split('\n') {
            let _ = write!(s, "\n{mark} {}", one_line(line));
        }
    }
}
