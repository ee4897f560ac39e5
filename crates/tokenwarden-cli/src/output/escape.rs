//! The one function that makes text safe for a terminal: every character that could move the
//! cursor, change colours, set the window title, reorder what is shown (bidi overrides) or
//! start a line of its own is written as a visible escape (`\u{1b}`, `\n`, `\u{202e}`).
//!
//! Everything printed for a person goes through it (the printer applies it to every piece of
//! text it writes, the logger to every log line, the `--trace-http` tracer to every line), so
//! text from the network never reaches a terminal raw. `--json` output needs none of this:
//! JSON escapes control characters itself.

use std::borrow::Cow;

/// Whether line breaks are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breaks {
    /// `\n` is kept: a block of several lines that tokenwarden composed (a report, a URL set
    /// apart). Every other control character is escaped.
    Keep,
    /// `\n` is escaped too: one field on one line, so that text from the network cannot start a
    /// line that looks like one of tokenwarden's (`hint: ...`).
    Escape,
}

/// `text` with every dangerous character escaped: C0 controls (but `\t`, and `\n` with
/// [`Breaks::Keep`]), DEL, C1 controls, and the bidi embeddings, overrides and isolates
/// (U+202A–U+202E, U+2066–U+2069). Borrows when there is nothing to escape.
pub fn escape(text: &str, breaks: Breaks) -> Cow<'_, str> {
    let unsafe_char = |c: char| match c {
        '\t' => false,
        '\n' => breaks == Breaks::Escape,
        c => is_dangerous(c),
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One field on one line: [`escape`] with [`Breaks::Escape`].
pub fn one_line(text: &str) -> Cow<'_, str> {
    escape(text, Breaks::Escape)
}

fn is_dangerous(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "token endpoint answered 400 (invalid_grant): naïve — ok\tsee https://x/é";
        assert!(matches!(escape(text, Breaks::Escape), Cow::Borrowed(t) if t == text));
        assert!(matches!(
            escape("two\nlines", Breaks::Keep),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn terminal_sequences_become_visible() {
        let forged = "\u{1b}]0;owned\u{7}\u{1b}[2J\nhint: run rm -rf";
        let shown = one_line(forged);
        assert_eq!(shown, "\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\nhint: run rm -rf");
        assert!(!shown.contains('\u{1b}') && !shown.contains('\n'));
        let kept = escape(forged, Breaks::Keep);
        assert_eq!(kept, "\\u{1b}]0;owned\\u{7}\\u{1b}[2J\nhint: run rm -rf");
    }

    #[test]
    fn carriage_returns_c1_controls_and_bidi_overrides_are_escaped() {
        assert_eq!(escape("a\rb", Breaks::Keep), "a\\rb");
        assert_eq!(one_line("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(one_line("\u{7f}"), "\\u{7f}");
        assert_eq!(one_line("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(one_line("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
        assert_eq!(one_line("\u{202a}\u{202d}"), "\\u{202a}\\u{202d}");
        assert_eq!(one_line("\u{0}"), "\\u{0}");
    }
}
