//! `tokenwarden env`: prints shell lines that export a valid access token, for
//! `eval "$(tokenwarden env)"` (sh, bash, zsh) or `tokenwarden env --shell fish | source`.
//! The variable is the profile's `export_env`, else `TOKENWARDEN_ACCESS_TOKEN`; `--env NAME`
//! overrides it. The same lines are what `token --format env` prints.

use super::Global;
use super::context::{self, MinTtl, parse_duration};
use crate::json;
use crate::output::Printer;
use anyhow::Result;
use std::time::Duration;

/// The shell whose syntax the lines use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// POSIX sh, bash, zsh: `export NAME='value'`.
    #[default]
    Sh,
    /// fish: `set -gx NAME 'value'`.
    Fish,
}

/// Arguments of `tokenwarden env`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  eval \"$(tokenwarden --profile github env --env GH_TOKEN)\"
  tokenwarden env --shell fish | source")]
pub struct EnvArgs {
    /// The shell syntax of the lines.
    #[arg(long, value_enum, default_value_t)]
    shell: Shell,
    /// The variable that receives the token (default: the profile's `export_env`, else
    /// TOKENWARDEN_ACCESS_TOKEN).
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
    /// The token must stay valid at least this long (refresh first otherwise).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    min_ttl: Duration,
}

/// Runs `tokenwarden env`.
pub async fn run(global: &Global, out: &Printer, args: EnvArgs) -> Result<()> {
    let w = context::warden(global)?;
    let profile = w.profile(&global.profile)?.profile;
    let name = match args.env {
        Some(n) => checked_name(&n)?,
        None => context::token_variable(&profile),
    };
    let token = context::valid_token(
        global,
        &w,
        out,
        &global.profile,
        MinTtl::Asked(args.min_ttl),
    )
    .await?;
    let value = token.access_token().expose();
    if out.json() {
        out.print_json(&json::Env {
            variables: [(name, value.to_string())].into_iter().collect(),
            expires_at: token.expires_at().map(context::rfc3339),
            expires_on: token.expires_at().map(context::epoch_seconds),
        })?;
    } else {
        out.out(export_line(args.shell, &name, value))?;
    }
    Ok(())
}

/// `name` when it is a usable environment variable name; a Usage error otherwise.
pub fn checked_name(name: &str) -> tokenwarden::Result<String> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(name.to_string())
    } else {
        Err(
            tokenwarden::Error::usage(format!("`{name}` is not an environment variable name"))
                .with_hint(
                    "use letters, digits and `_`, not starting with a digit (e.g. GH_TOKEN)",
                ),
        )
    }
}

/// One line that sets `name` to `value` in `shell`, the value quoted.
pub fn export_line(shell: Shell, name: &str, value: &str) -> String {
    match shell {
        Shell::Sh => format!("export {name}='{}'", value.replace('\'', r"'\''")),
        Shell::Fish => format!(
            "set -gx {name} '{}'",
            value.replace('\\', r"\\").replace('\'', r"\'")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_for_each_shell() {
        assert_eq!(export_line(Shell::Sh, "T", "a'b"), r"export T='a'\''b'");
        assert_eq!(
            export_line(Shell::Fish, "T", r"a'b\c"),
            r"set -gx T 'a\'b\\c'"
        );
    }

    #[test]
    fn variable_names_are_checked() {
        assert!(checked_name("GH_TOKEN").is_ok());
        assert!(checked_name("1X").is_err());
        assert!(checked_name("A-B").is_err());
        assert!(checked_name("A=B").is_err());
    }
}
