//! Where tokenwarden keeps its files.
//!
//! `TOKENWARDEN_HOME=DIR` puts everything (config.toml, the token database, the key, lock files)
//! in DIR. Otherwise the config lives under the XDG config dir (`$XDG_CONFIG_HOME/tokenwarden`,
//! default `~/.config/tokenwarden`) and the data under the XDG data dir
//! (`$XDG_DATA_HOME/tokenwarden`, default `~/.local/share/tokenwarden`).

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The directories tokenwarden uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The directory holding `config.toml`.
    pub config_dir: PathBuf,
    /// The directory holding the token database, the key file and lock files.
    pub data_dir: PathBuf,
}

impl Paths {
    /// Both directories set to `dir` (what `TOKENWARDEN_HOME` does).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Paths {
            config_dir: dir.clone(),
            data_dir: dir,
        }
    }

    /// Resolves the directories from the environment.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
    }

    /// Resolves the directories from a variable lookup (testable without touching the process
    /// environment).
    pub fn from_vars(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<Self> {
        if let Some(home) = var("TOKENWARDEN_HOME") {
            return Ok(Self::in_dir(PathBuf::from(home)));
        }
        let user_home = var("HOME").map(PathBuf::from);
        let base = |xdg: &str, fallback: &[&str]| -> Result<PathBuf> {
            if let Some(dir) = var(xdg).map(PathBuf::from).filter(|p| p.is_absolute()) {
                return Ok(dir.join("tokenwarden"));
            }
            let home = user_home.clone().ok_or_else(|| {
                Error::config("cannot find where to keep tokenwarden's files: neither TOKENWARDEN_HOME, nor HOME, nor XDG dirs are set")
                    .with_hint("set TOKENWARDEN_HOME=/some/dir")
            })?;
            Ok(fallback
                .iter()
                .fold(home, |p, c| p.join(c))
                .join("tokenwarden"))
        };
        Ok(Paths {
            config_dir: base("XDG_CONFIG_HOME", &[".config"])?,
            data_dir: base("XDG_DATA_HOME", &[".local", "share"])?,
        })
    }

    /// `config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    /// The SQLite token database.
    pub fn database(&self) -> PathBuf {
        self.data_dir.join("tokens.db")
    }

    /// The key file, used when neither `TOKENWARDEN_KEY` nor an OS keyring gives a key.
    pub fn key_file(&self) -> PathBuf {
        self.data_dir.join("key")
    }

    /// The directory of per-profile lock files.
    pub fn lock_dir(&self) -> PathBuf {
        self.data_dir.join("locks")
    }
}

/// Makes a profile name safe as a file name: keeps `[A-Za-z0-9._-]`, escapes the rest as `%XX`.
pub fn file_safe(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'.' | b'_' | b'-') && !(out.is_empty() && b == b'.')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Joins `dir` and a file name derived from `name` with [`file_safe`].
pub fn safe_join(dir: &Path, name: &str, ext: &str) -> PathBuf {
    dir.join(format!("{}{ext}", file_safe(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn home_overrides_everything() {
        let p =
            Paths::from_vars(|k| (k == "TOKENWARDEN_HOME").then(|| OsString::from("/tw"))).unwrap();
        assert_eq!(p.config_file(), PathBuf::from("/tw/config.toml"));
        assert_eq!(p.database(), PathBuf::from("/tw/tokens.db"));
    }

    #[test]
    fn xdg_then_home() {
        let p = Paths::from_vars(|k| match k {
            "HOME" => Some(OsString::from("/h")),
            "XDG_DATA_HOME" => Some(OsString::from("/d")),
            _ => None,
        })
        .unwrap();
        assert_eq!(p.config_dir, PathBuf::from("/h/.config/tokenwarden"));
        assert_eq!(p.data_dir, PathBuf::from("/d/tokenwarden"));
        assert!(Paths::from_vars(|_| None).is_err());
    }

    #[test]
    fn file_safe_escapes() {
        assert_eq!(file_safe("default"), "default");
        assert_eq!(file_safe("a/b"), "a%2Fb");
        assert_eq!(file_safe(".."), "%2E.");
    }
}
