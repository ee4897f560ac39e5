//! An inline `client_secret` in a `config.toml` that its group or other users may read: the
//! secret is as good as published, so the profile that uses it is refused (a Config problem
//! on the secret's line) until the file is private, with the `chmod` that makes it so.

use super::{Config, Diagnostic, parse};
use std::path::Path;

/// The permission bits of the file at `path` when its group or others may read it.
#[cfg(unix)]
pub(super) fn shared_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o044 != 0).then_some(mode)
}

/// Other systems have no Unix permission bits to check.
#[cfg(not(unix))]
pub(super) fn shared_mode(_path: &Path) -> Option<u32> {
    None
}

/// The problem of the profile `name` (its table `table`) when its inline `client_secret` sits
/// in a file its group or others may read. (`[defaults]` may not hold one at all.)
pub(super) fn exposed_secret(
    config: &Config,
    table: &parse::RawProfileTable,
    name: &str,
) -> Option<Diagnostic> {
    let mode = config.shared_mode?;
    let entry = table.keys.get("client_secret")?;
    let key = format!("profiles.{name}.client_secret");
    let who = match (mode & 0o040 != 0, mode & 0o004 != 0) {
        (true, true) => "its group and every user",
        (false, true) => "every user",
        _ => "its group",
    };
    let path = config.path.display().to_string();
    Some(
        Diagnostic::new(
            entry.loc,
            key,
            format!(
                "profile `{name}` has an inline client_secret, and {path} is readable by {who} (mode {:03o}): refused until the file is private",
                mode & 0o777
            ),
        )
        .with_hint(format!(
            "run `chmod 600 {}`; better, move the secret to an environment variable and set client_secret_env",
            shell_quoted(&path)
        )),
    )
}

/// `text` as one shell word: as it is when it is made of safe characters, else single-quoted.
fn shell_quoted(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(
            shell_quoted("/home/me/.config/tokenwarden/config.toml"),
            "/home/me/.config/tokenwarden/config.toml"
        );
        assert_eq!(
            shell_quoted("/tmp/a b/config.toml"),
            "'/tmp/a b/config.toml'"
        );
        assert_eq!(shell_quoted("/tmp/it's/c"), "'/tmp/it'\\''s/c'");
    }
}
