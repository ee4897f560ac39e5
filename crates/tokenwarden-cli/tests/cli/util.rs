//! Running the real binary in a temporary TOKENWARDEN_HOME, and checking exit codes and output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary home and a command builder for the binary.
pub struct Env {
    dir: tempfile::TempDir,
}

/// What a run produced.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn code(&self, want: i32) -> &Self {
        assert_eq!(
            self.code, want,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl Env {
    pub fn new() -> Self {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// TOKENWARDEN_HOME (not created until the binary writes).
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn config(&self) -> PathBuf {
        self.home().join("config.toml")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.home()).expect("mkdir");
        std::fs::write(self.config(), text).expect("write");
    }

    pub fn read_config(&self) -> String {
        std::fs::read_to_string(self.config()).unwrap_or_default()
    }

    /// The binary with a clean environment pointing at the temporary home.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tokenwarden"));
        c.env_clear()
            .env("TOKENWARDEN_HOME", self.home())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        c
    }

    /// Runs the binary with `args`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs with extra environment variables.
    pub fn run_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut c = self.cmd();
        c.args(args);
        for (k, v) in vars {
            c.env(k, v);
        }
        Run::from(c.output().expect("run tokenwarden"))
    }
}

/// The permission bits of `p`.
#[cfg(unix)]
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}
