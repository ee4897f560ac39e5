//! Whether output is coloured: the global `--color`, then `NO_COLOR` and `CLICOLOR_FORCE`,
//! then whether the stream is a terminal, decided here and nowhere else.

/// `--color`: when to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorWhen {
    /// Colour a terminal, unless `NO_COLOR` is set (non-empty); `CLICOLOR_FORCE` (non-empty,
    /// not `0`) colours even a pipe.
    #[default]
    Auto,
    /// Always colour (overrides `NO_COLOR`).
    Always,
    /// Never colour.
    Never,
}

/// Whether a stream is coloured. `var` reads an environment variable (the process
/// environment, or a test's). An explicit `--color` wins; with `auto`, `NO_COLOR` (non-empty,
/// <https://no-color.org>) turns colour off, else `CLICOLOR_FORCE` (non-empty, not `0`) turns it
/// on, else a terminal is coloured and anything else is not.
pub fn enabled(when: ColorWhen, is_terminal: bool, var: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto if set("NO_COLOR").is_some() => false,
        ColorWhen::Auto if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") => true,
        ColorWhen::Auto => is_terminal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn auto_colours_a_terminal_only() {
        assert!(enabled(ColorWhen::Auto, true, env(&[])));
        assert!(!enabled(ColorWhen::Auto, false, env(&[])));
    }

    #[test]
    fn no_color_turns_auto_off_unless_empty() {
        assert!(!enabled(ColorWhen::Auto, true, env(&[("NO_COLOR", "1")])));
        assert!(enabled(ColorWhen::Auto, true, env(&[("NO_COLOR", "")])));
        assert!(!enabled(
            ColorWhen::Auto,
            true,
            env(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")])
        ));
    }

    #[test]
    fn clicolor_force_colours_a_pipe_unless_zero_or_empty() {
        assert!(enabled(
            ColorWhen::Auto,
            false,
            env(&[("CLICOLOR_FORCE", "1")])
        ));
        assert!(!enabled(
            ColorWhen::Auto,
            false,
            env(&[("CLICOLOR_FORCE", "0")])
        ));
        assert!(!enabled(
            ColorWhen::Auto,
            false,
            env(&[("CLICOLOR_FORCE", "")])
        ));
    }

    #[test]
    fn an_explicit_choice_wins() {
        assert!(enabled(ColorWhen::Always, false, env(&[("NO_COLOR", "1")])));
        assert!(!enabled(
            ColorWhen::Never,
            true,
            env(&[("CLICOLOR_FORCE", "1")])
        ));
    }
}
