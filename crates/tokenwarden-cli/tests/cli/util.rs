//! Running the real binary in a temporary TOKENWARDEN_HOME, and checking exit codes and output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long one run of the binary may take before the test kills it and fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

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
    fn from(status: ExitStatus, stdout: &[u8], stderr: &[u8]) -> Self {
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(stdout).into_owned(),
            stderr: String::from_utf8_lossy(stderr).into_owned(),
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

    /// The binary with a clean environment pointing at the temporary home. The OS keyring is
    /// off (a developer's desktop keyring must not collect keys of temporary homes); the tests
    /// of the keyring turn it on against a Secret Service of their own.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tokenwarden"));
        c.env_clear()
            .env("TOKENWARDEN_HOME", self.home())
            .env("TOKENWARDEN_KEYRING", "off")
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        c
    }

    /// Runs the binary with `args`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs with extra environment variables (killed after [`RUN_TIMEOUT`]).
    pub fn run_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        self.run_env_timeout(args, vars, RUN_TIMEOUT)
    }

    /// Runs with extra environment variables; a run still going after `timeout` is killed
    /// and the test fails with what it printed so far.
    pub fn run_env_timeout(&self, args: &[&str], vars: &[(&str, &str)], timeout: Duration) -> Run {
        let mut c = self.cmd();
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in vars {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("run tokenwarden");
        let out = drain(child.stdout.take());
        let err = drain(child.stderr.take());
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for tokenwarden") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        match status {
            Some(status) => Run::from(status, &stdout, &stderr),
            None => panic!(
                "tokenwarden {args:?} was still running after {timeout:?} and was killed\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            ),
        }
    }
}

/// Reads a pipe to its end on a thread of its own (so that a full pipe never blocks the child).
fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// The permission bits of `p`.
#[cfg(unix)]
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}
