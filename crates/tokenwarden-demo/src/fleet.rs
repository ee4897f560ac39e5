//! The worker processes of one run: started as the hidden subcommand of the running program
//! with the run's `TOKENWARDEN_HOME`, their JSON lines read into a channel, their stderr kept
//! (the last lines) to explain a worker that fails, started together with `go`, stopped by
//! closing their stdin.

use crate::protocol::{Event, GO, Kind, WORKER_COMMAND, WorkerSettings};
use anyhow::{Context as _, Result, bail};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// How long workers may take to start.
const READY_WAIT: Duration = Duration::from_secs(30);

/// The worker processes.
pub struct Fleet {
    children: Vec<Child>,
    stdins: Vec<ChildStdin>,
    stderr: Vec<Arc<Mutex<VecDeque<String>>>>,
    workers: u32,
}

impl Fleet {
    /// Starts `workers` workers for `profile` under `home`, each with `settings` and its own
    /// number; their events go to `tx`.
    pub fn spawn(
        home: &Path,
        profile: &str,
        workers: u32,
        settings: WorkerSettings,
        tx: mpsc::UnboundedSender<Event>,
    ) -> Result<Fleet> {
        let exe = this_program()?;
        let mut fleet = Fleet {
            children: Vec::new(),
            stdins: Vec::new(),
            stderr: Vec::new(),
            workers,
        };
        for i in 0..workers {
            let worker = WorkerSettings {
                worker: i,
                ..settings
            };
            let mut cmd = Command::new(&exe);
            // `ps` shows the program's name rather than /proc/self/exe.
            #[cfg(unix)]
            cmd.arg0("tokenwarden");
            let mut child = cmd
                .args(["--profile", profile, WORKER_COMMAND])
                .args(worker.args())
                .env("TOKENWARDEN_HOME", home)
                .env(tokenwarden::store::keys::KEYRING_ENV, "off")
                .env("RUST_LOG", "error")
                .env_remove("TOKENWARDEN_TRACE_HTTP")
                .env_remove("TOKENWARDEN_PROFILE")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("cannot start worker {i} ({})", exe.display()))?;
            let (Some(stdin), Some(stdout), Some(stderr)) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                bail!("worker {i} has no pipes");
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(e) = serde_json::from_str::<Event>(&line)
                        && tx.send(e).is_err()
                    {
                        break;
                    }
                }
            });
            let tail = Arc::new(Mutex::new(VecDeque::new()));
            let keep = tail.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut t = keep.lock().unwrap_or_else(|e| e.into_inner());
                    if t.len() == 20 {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            });
            fleet.children.push(child);
            fleet.stdins.push(stdin);
            fleet.stderr.push(tail);
        }
        Ok(fleet)
    }

    /// Waits until every worker said it is ready (events before `go` are only `ready`); a
    /// worker that ends first is reported with its last stderr lines.
    pub async fn wait_ready(&mut self, rx: &mut mpsc::UnboundedReceiver<Event>) -> Result<()> {
        let mut ready = vec![false; self.workers as usize];
        let deadline = Instant::now() + READY_WAIT;
        let mut poll = tokio::time::interval(Duration::from_millis(200));
        while let Some(missing) = ready.iter().position(|r| !r) {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(e) if e.kind == Kind::Ready => {
                        if let Some(r) = ready.get_mut(e.worker as usize) {
                            *r = true;
                        }
                    }
                    Some(_) => {}
                    None => bail!("the workers ended before starting{}", stderr_of(&self.stderr, missing)),
                },
                _ = poll.tick() => {
                    for (i, child) in self.children.iter_mut().enumerate() {
                        if ready.get(i) == Some(&false)
                            && let Ok(Some(status)) = child.try_wait()
                        {
                            // Let the stderr reader catch the last lines.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            bail!("worker {i} ended with {status} before starting{}", stderr_of(&self.stderr, i));
                        }
                    }
                    if Instant::now() >= deadline {
                        bail!(
                            "worker {missing} did not start within {} s{}",
                            READY_WAIT.as_secs(),
                            stderr_of(&self.stderr, missing)
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Starts every worker.
    pub async fn go(&mut self) -> Result<()> {
        for (i, stdin) in self.stdins.iter_mut().enumerate() {
            stdin
                .write_all(format!("{GO}\n").as_bytes())
                .await
                .with_context(|| format!("cannot start worker {i}"))?;
        }
        Ok(())
    }

    /// Closes the workers' stdin (they stop), waits a little, then kills what is left.
    /// Returns a warning for each worker that failed, with its last stderr lines.
    pub async fn stop(mut self) -> Vec<String> {
        self.stdins.clear();
        let mut warnings = Vec::new();
        for (i, child) in self.children.iter_mut().enumerate() {
            match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => {
                    warnings.push(format!(
                        "worker {i} ended with {status}{}",
                        stderr_of(&self.stderr, i)
                    ));
                }
                _ => {
                    let _ = child.kill().await;
                }
            }
        }
        warnings
    }
}

/// This very program, to start workers with. On Linux `/proc/self/exe`, which still names
/// the running binary when its file was replaced (by a rebuild) during the run.
fn this_program() -> Result<PathBuf> {
    let proc_exe = Path::new("/proc/self/exe");
    if cfg!(target_os = "linux") && proc_exe.exists() {
        return Ok(proc_exe.to_path_buf());
    }
    std::env::current_exe().context("cannot find this program to start the workers")
}

/// The last stderr lines of a worker, as `:\n  line…`, or nothing.
fn stderr_of(tails: &[Arc<Mutex<VecDeque<String>>>], worker: usize) -> String {
    let lines: Vec<String> = tails
        .get(worker)
        .map(|t| {
            t.lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if lines.is_empty() {
        String::new()
    } else {
        format!(":\n  {}", lines.join("\n  "))
    }
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}
