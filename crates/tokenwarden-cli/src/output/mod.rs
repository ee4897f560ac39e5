//! The printer: the one way commands write to stdout and stderr. It owns `--json` (one JSON
//! document of a serde type per command), colour (anstyle styles written through an anstream
//! stream that keeps or strips them, as [`color::enabled`] decided once), and escaping: every
//! piece of text for a person passes through [`escape::escape`] before it is written, so no
//! text from the network reaches a terminal raw.
//!
//! # Layout
//! - this file: [`Printer`] and [`Text`], a line built from plain and styled pieces.
//! - [`escape`]: the escaping of control characters and bidi overrides.
//! - [`color`]: `--color`, `NO_COLOR`, `CLICOLOR_FORCE`.
//! - `report`: a failed command's error, for a person or (with `--json`) as a document.
//! - `logging`: the tracing subscriber (`-v`), writing escaped lines on stderr.
//! - `trace`: the `--trace-http` tracer.

pub mod color;
pub mod escape;
mod logging;
mod report;
mod trace;

pub use logging::init as init_logging;
pub use report::usage_error;
pub use trace::StderrTracer;

use anstyle::{AnsiColor, Style};
use color::ColorWhen;
use escape::{Breaks, escape};
use std::io::{IsTerminal as _, Write as _};

/// The styles tokenwarden paints with.
pub mod style {
    use super::{AnsiColor, Style};

    /// A check that passed.
    pub const OK: Style = AnsiColor::Green.on_default();
    /// A warning.
    pub const WARN: Style = AnsiColor::Yellow.on_default();
    /// A failure.
    pub const FAIL: Style = AnsiColor::Red.on_default().bold();
}

/// Text for a person, in pieces. Each piece is escaped when printed (line breaks kept: a
/// field that must stay on one line is passed through [`escape::one_line`] first); a styled
/// piece is then painted.
#[derive(Debug, Clone, Default)]
pub struct Text {
    pieces: Vec<(Style, String)>,
}

impl Text {
    /// Empty text.
    pub fn new() -> Text {
        Text::default()
    }

    /// Appends plain text.
    pub fn plain(mut self, text: impl Into<String>) -> Text {
        self.pieces.push((Style::new(), text.into()));
        self
    }

    /// Appends text painted with `style`.
    pub fn styled(mut self, style: Style, text: impl Into<String>) -> Text {
        self.pieces.push((style, text.into()));
        self
    }

    /// The text escaped and painted (the stream strips the paint when colour is off).
    fn render(&self) -> String {
        let mut out = String::new();
        for (style, piece) in &self.pieces {
            let piece = escape(piece, Breaks::Keep);
            if style.is_plain() {
                out.push_str(&piece);
            } else {
                out.push_str(&format!("{style}{piece}{style:#}"));
            }
        }
        out
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text::new().plain(text)
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Text {
        Text::new().plain(text)
    }
}

/// Where commands write. Cheap to copy (a task such as a spinner takes its own).
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    json: bool,
    verbose: bool,
    stdout_terminal: bool,
    stdout_color: bool,
    stderr_color: bool,
}

impl Printer {
    /// The printer for `--json` and `--color`, with the environment and the terminals of this
    /// process.
    pub fn new(json: bool, color: ColorWhen) -> Printer {
        let var = |name: &str| std::env::var(name).ok();
        let stdout_terminal = std::io::stdout().is_terminal();
        Printer {
            json,
            verbose: false,
            stdout_terminal,
            stdout_color: color::enabled(color, stdout_terminal, var),
            stderr_color: color::enabled(color, std::io::stderr().is_terminal(), var),
        }
    }

    /// The printer for the global options.
    pub fn for_global(global: &crate::cmd::Global) -> Printer {
        Printer {
            verbose: global.verbose > 0,
            ..Printer::new(global.json, global.color)
        }
    }

    /// True with `-v`: an error shows its whole chain of causes.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// The width to wrap text for a person at: the terminal's when stdout is one, else
    /// `COLUMNS` when set; `None` (no wrapping) otherwise.
    pub fn width(&self) -> Option<usize> {
        if self.stdout_terminal
            && let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size()
        {
            return Some(usize::from(w));
        }
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse().ok())
            .filter(|&w: &usize| w > 0)
    }

    /// True with `--json`: results go to stdout as JSON documents, errors to stderr as one.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Prints `doc` as one line of JSON on stdout.
    pub fn print_json<T: serde::Serialize>(&self, doc: &T) -> std::io::Result<()> {
        let mut line = serde_json::to_string(doc).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut out = std::io::stdout().lock();
        out.write_all(line.as_bytes())?;
        out.flush()
    }

    /// Prints a line for a person on stdout.
    pub fn out(&self, text: impl Into<Text>) -> std::io::Result<()> {
        let mut line = text.into().render();
        line.push('\n');
        write_to(std::io::stdout(), self.stdout_color, &line)
    }

    /// Prints text for a person on stdout, without a line break after it.
    pub fn out_partial(&self, text: impl Into<Text>) -> std::io::Result<()> {
        write_to(std::io::stdout(), self.stdout_color, &text.into().render())
    }

    /// Prints a line for a person on stderr. A failure to write there is ignored: there is
    /// nowhere left to say it.
    pub fn err(&self, text: impl Into<Text>) {
        let mut line = text.into().render();
        line.push('\n');
        let _ = write_to(std::io::stderr(), self.stderr_color, &line);
    }

    /// `warning: MESSAGE` on stderr, the message kept on its line; with `--json`, one JSON
    /// line `{"warning":{"message":MESSAGE}}`.
    pub fn warning(&self, message: &str) {
        if self.json {
            let doc = serde_json::json!({ "warning": { "message": message } });
            let _ = writeln!(std::io::stderr().lock(), "{doc}");
            return;
        }
        self.err(format!("warning: {}", escape::one_line(message)));
    }

    /// Rewrites the current stderr line with `text` (a spinner's frame): a carriage return,
    /// the text, no line break.
    pub fn progress(&self, text: &str) {
        let line = format!("\r{}", Text::from(text).render());
        let _ = write_to(std::io::stderr(), self.stderr_color, &line);
    }

    /// Blanks the current stderr line that [`Printer::progress`] wrote, `width` characters.
    pub fn clear_progress(&self, width: usize) {
        let line = format!("\r{:width$}\r", "");
        let _ = write_to(std::io::stderr(), self.stderr_color, &line);
    }

    /// An API's response body on stdout: as it came to a pipe or a file; escaped (line breaks
    /// kept) to a terminal, with a final line break when it has none.
    pub fn body(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        if !self.stdout_terminal {
            out.write_all(bytes)?;
            return out.flush();
        }
        let text = String::from_utf8_lossy(bytes);
        out.write_all(escape(&text, Breaks::Keep).as_bytes())?;
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// Shows a failed command's error on stderr (one JSON document with `--json`) and returns
    /// the exit code. An error that names no correlation id yet gets the command's, `corr`.
    /// A closed standard output (`| head`) is no error to report: the exit is quiet, with
    /// 141 (128 + SIGPIPE), the status of a program that a closed pipe ends.
    pub fn error(&self, err: anyhow::Error, corr: Option<&str>) -> tokenwarden::exit::ExitCode {
        if is_closed_pipe(&err) {
            return tokenwarden::exit::ExitCode::Signalled(SIGPIPE);
        }
        report::show(self, err, corr, None)
    }

    /// Like [`Printer::error`], ending with `code` instead of the code of the error's kind
    /// (`exec`'s 126 and 127, `request --fail`'s 22).
    pub fn error_with_code(
        &self,
        err: anyhow::Error,
        code: tokenwarden::exit::ExitCode,
    ) -> tokenwarden::exit::ExitCode {
        report::show(
            self,
            err,
            tokenwarden::correlation::current().as_deref(),
            Some(code),
        )
    }

    /// Shows that the command was cancelled (`message` for a person; with `--json`, the error
    /// document with exit code 130) and returns [`ExitCode::Cancelled`].
    ///
    /// [`ExitCode::Cancelled`]: tokenwarden::exit::ExitCode::Cancelled
    pub fn cancelled(&self, message: &str) -> tokenwarden::exit::ExitCode {
        report::cancelled(self, message)
    }
}

/// `text` broken into lines of at most `width` characters at spaces (a longer word stands on a
/// line of its own).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if !line.is_empty() && needed > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// The number of SIGPIPE.
const SIGPIPE: u8 = 13;

/// True when `err` is (or was caused by) writing to a closed pipe.
fn is_closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes `text` in one go, through a stream that keeps the paint when `color` is on and
/// strips it otherwise.
fn write_to<S>(stream: S, color: bool, text: &str) -> std::io::Result<()>
where
    S: anstream::stream::RawStream + anstream::stream::AsLockedWrite,
{
    let mut stream = painted(stream, color);
    stream.write_all(text.as_bytes())?;
    stream.flush()
}

/// `stream`, keeping the paint written to it when `color` is on, stripping it otherwise.
fn painted<S: anstream::stream::RawStream>(stream: S, color: bool) -> anstream::AutoStream<S> {
    let choice = if color {
        anstream::ColorChoice::Always
    } else {
        anstream::ColorChoice::Never
    };
    anstream::AutoStream::new(stream, choice)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &Text, color: bool) -> String {
        let mut stream = painted(Vec::new(), color);
        stream.write_all(text.render().as_bytes()).expect("writes");
        String::from_utf8(stream.into_inner()).expect("utf-8")
    }

    #[test]
    fn wrapping_breaks_at_spaces_within_the_width() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("a verylongword b", 4), ["a", "verylongword", "b"]);
        assert_eq!(wrap("", 10), [""]);
    }

    #[test]
    fn styles_are_painted_only_when_colour_is_on() {
        let text = Text::new()
            .plain("  ")
            .styled(style::FAIL, "FAIL")
            .plain("  dns");
        assert_eq!(shown(&text, false), "  FAIL  dns");
        let painted = shown(&text, true);
        assert!(painted.contains("\u{1b}["), "{painted:?}");
        assert!(painted.contains("FAIL"), "{painted:?}");
    }

    #[test]
    fn text_from_the_network_is_escaped_even_in_a_styled_piece() {
        let text = Text::new()
            .plain("detail: \u{1b}]0;owned\u{7}")
            .styled(style::WARN, "\u{1b}[2J");
        let plain = shown(&text, false);
        assert!(!plain.contains('\u{1b}'), "{plain:?}");
        assert!(plain.contains("\\u{1b}]0;owned\\u{7}"), "{plain:?}");
        let painted = shown(&text, true);
        assert!(painted.contains("\\u{1b}[2J"), "{painted:?}");
    }
}
