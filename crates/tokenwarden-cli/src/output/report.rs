//! A failed command's error on stderr: the library's report for a person, or with `--json` the
//! library's [`ErrorDocument`]; and the exit code, from the error's kind.
//!
//! Before the report is composed, every field that may carry the provider's words (the
//! message, the OAuth error and its description, the body snippet, the request id, the hint)
//! is escaped on its own and kept on one line, so a description with control characters or a
//! line break cannot paint the terminal or forge a line of the report (`hint: ...`). The message
//! of an error that came from no exchange (no HTTP evidence, no OAuth error: a configuration
//! problem listing each bad key on its own line) keeps its line breaks.

use super::Printer;
use super::escape::{Breaks, escape, one_line};
use tokenwarden::error::{Causes, HttpEvidence, OAuthError, OAuthErrorCode};
use tokenwarden::exit::{ErrorDocument, ExitCode};
use tokenwarden::{Error, ErrorKind};

/// Prints `err` (see the module docs) and returns its exit code: `code`, else that of its kind.
/// Without `-v` only the innermost cause is shown (the one that names what failed); with it,
/// the whole chain.
pub(super) fn show(
    printer: &Printer,
    err: anyhow::Error,
    corr: Option<&str>,
    code: Option<ExitCode>,
) -> ExitCode {
    let err = match err.downcast::<Error>() {
        Ok(e) => e,
        Err(other) => Error::new(ErrorKind::Other, format!("{other:#}")),
    };
    let err = match corr {
        Some(id) if err.correlation_id().is_none() => err.with_correlation_id(id),
        _ => err,
    };
    let code = code.unwrap_or_else(|| ExitCode::from(err.kind()));
    if printer.json() {
        printer.err(json_line(&ErrorDocument::new(&err).with_exit_code(code)));
    } else {
        let causes = if printer.verbose() {
            Causes::Chain
        } else {
            Causes::Innermost
        };
        printer.err(escaped(err).report_with(causes));
    }
    code
}

/// Reports a command line clap refused: its own text (exit 2), or with `--json` the error
/// document of a usage error. A request for help or the version prints it (exit 0).
pub fn usage_error(e: &clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind as K;
    if matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) {
        let _ = e.print();
        return ExitCode::Success;
    }
    if !json {
        let _ = e.print();
        return ExitCode::Usage;
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let message = lines
        .next()
        .map(|l| l.trim_start_matches("error:").trim().to_string())
        .unwrap_or_else(|| "the command line is not valid".into());
    let hint = lines
        .find_map(|l| l.strip_prefix("tip:"))
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|| "run `tokenwarden --help` (or `tokenwarden COMMAND --help`)".into());
    let err = Error::usage(message).with_hint(hint);
    let line = json_line(&ErrorDocument::new(&err));
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
    ExitCode::Usage
}

/// Prints the document of a cancelled command (exit code 130), or `message` for a person.
pub fn cancelled(printer: &Printer, message: &str) -> ExitCode {
    let code = ExitCode::Cancelled;
    if printer.json() {
        let err = Error::new(ErrorKind::Other, message);
        let doc = ErrorDocument::new(&err).with_exit_code(code);
        printer.err(json_line(&doc));
    } else {
        printer.err(message);
    }
    code
}

/// One JSON document on one line (JSON escapes control characters itself). Serializing it
/// cannot fail (strings, numbers and null only); if it ever did, the line stays empty rather
/// than the command panicking while it reports.
fn json_line(doc: &ErrorDocument) -> String {
    serde_json::to_string(doc).unwrap_or_default()
}

/// `err` with each field that may carry the provider's words escaped on its own.
fn escaped(err: Error) -> Error {
    let from_exchange = err.http().is_some() || err.oauth().is_some();
    let breaks = if from_exchange {
        Breaks::Escape
    } else {
        Breaks::Keep
    };
    let message = escape(err.message(), breaks).into_owned();
    let hint = err.hint().map(|h| one_line(h).into_owned());
    let oauth = err.oauth().map(|o| OAuthError {
        code: OAuthErrorCode::parse(&one_line(o.code.as_str())),
        description: o.description.as_deref().map(|d| one_line(d).into_owned()),
        uri: o.uri.as_deref().map(|u| one_line(u).into_owned()),
    });
    let http = err.http().map(|h| {
        let field = |v: &Option<String>| v.as_deref().map(|s| one_line(s).into_owned());
        HttpEvidence {
            request: field(&h.request),
            request_id: field(&h.request_id),
            www_authenticate: field(&h.www_authenticate),
            content_type: field(&h.content_type),
            body_snippet: field(&h.body_snippet),
            ..h.clone()
        }
    });
    let mut err = err.with_message(message);
    if let Some(h) = hint {
        err = err.with_hint(h);
    }
    if let Some(o) = oauth {
        err = err.with_oauth(o);
    }
    if let Some(h) = http {
        err = err.with_http(h);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forged() -> Error {
        let description = "\u{1b}]0;owned\u{7}\u{1b}[2J\nhint: run rm -rf";
        Error::new(
            ErrorKind::Config,
            format!("token endpoint answered 400 (invalid_request): {description}"),
        )
        .with_hint("check the request")
        .with_oauth(OAuthError {
            code: OAuthErrorCode::InvalidRequest,
            description: Some(description.into()),
            uri: None,
        })
        .with_http(HttpEvidence {
            status: Some(400),
            body_snippet: Some(format!("{{\"error_description\":\"{description}\"}}")),
            ..HttpEvidence::default()
        })
    }

    #[test]
    fn provider_words_cannot_paint_or_forge_a_line() {
        let report = escaped(forged()).report();
        assert!(!report.contains('\u{1b}'), "{report}");
        let hints: Vec<&str> = report
            .lines()
            .filter(|l| l.trim_start().starts_with("hint:"))
            .collect();
        assert_eq!(hints, ["  hint: check the request"], "{report}");
        assert!(report.contains("\\nhint: run rm -rf"), "{report}");
    }

    #[test]
    fn a_configuration_error_keeps_its_list_of_problems() {
        let e = Error::config("profile `a` has 2 problems:\n  - one\n  - two");
        let report = escaped(e).report();
        assert!(report.starts_with("error: profile `a` has 2 problems:\n  - one\n  - two"));
    }
}
