//! Where the agent's files live: a private (0700) directory holding its socket `agent.sock`,
//! its pidfile `agent.pid` (flocked while the agent runs) and, for a detached agent, its log
//! `agent.log`.
//!
//! The directory is `$XDG_RUNTIME_DIR/tokenwarden` (a per-user runtime directory the system
//! empties at logout), or `<data dir>/run` when `TOKENWARDEN_HOME` is set (so that each home
//! has its own agent) or when there is no runtime directory.

use crate::paths::Paths;
use std::ffi::OsString;
use std::path::PathBuf;

/// The agent's directory and files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPaths {
    /// The private directory.
    pub dir: PathBuf,
}

impl AgentPaths {
    /// The agent's files for `paths`, with the environment of this process.
    pub fn from_env(paths: &Paths) -> AgentPaths {
        Self::from_vars(paths, |name| {
            std::env::var_os(name).filter(|v| !v.is_empty())
        })
    }

    /// The agent's files for `paths`, with the environment given as a lookup.
    pub fn from_vars(paths: &Paths, var: impl Fn(&str) -> Option<OsString>) -> AgentPaths {
        let runtime = var("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let dir = match (var("TOKENWARDEN_HOME"), runtime) {
            (None, Some(run)) => run.join("tokenwarden"),
            _ => paths.data_dir.join("run"),
        };
        AgentPaths { dir }
    }

    /// The Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("agent.sock")
    }

    /// The pidfile, flocked by the running agent.
    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("agent.pid")
    }

    /// The log of a detached agent.
    pub fn log(&self) -> PathBuf {
        self.dir.join("agent.log")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn the_runtime_dir_unless_a_home_is_set() {
        let paths = Paths::in_dir("/h");
        let a = AgentPaths::from_vars(&paths, vars(&[("XDG_RUNTIME_DIR", "/run/user/7")]));
        assert_eq!(
            a.socket(),
            PathBuf::from("/run/user/7/tokenwarden/agent.sock")
        );
        let b = AgentPaths::from_vars(
            &paths,
            vars(&[
                ("XDG_RUNTIME_DIR", "/run/user/7"),
                ("TOKENWARDEN_HOME", "/h"),
            ]),
        );
        assert_eq!(b.socket(), PathBuf::from("/h/run/agent.sock"));
        let c = AgentPaths::from_vars(&paths, vars(&[("XDG_RUNTIME_DIR", "relative")]));
        assert_eq!(c.pidfile(), PathBuf::from("/h/run/agent.pid"));
    }
}
