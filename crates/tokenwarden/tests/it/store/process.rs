//! The store between real processes. The helper process is this test binary run again on the
//! test [`child`] with `TW_STORE_CHILD` naming its role; without that variable `child` does
//! nothing. A child talks to its parent through stdout lines starting with `@@` (the test
//! harness prints on the same stdout, sometimes without ending its line first).

use super::sqlite::assert_one_winner_per_version;
use super::{open, temp_paths, tokens};
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tokenwarden::ErrorKind;
use tokenwarden::paths::Paths;
use tokenwarden::store::{CasOutcome, Store};

const ROLE: &str = "TW_STORE_CHILD";
const DIR: &str = "TW_STORE_CHILD_DIR";
/// How long a test waits for a child to say something before failing (a deadline, not a sleep).
const DEADLINE: Duration = Duration::from_secs(60);

/// The child's side. Roles:
/// - `hold-lock`: takes the lock of profile `p`, prints `READY`, then blocks until killed (or
///   until its stdin closes).
/// - `cas`: 20 rounds of read + compare-and-swap on profile `p`; prints `WIN <seen> <new>` per
///   win, then `DONE`.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let dir = std::env::var(DIR).expect("TW_STORE_CHILD_DIR");
    let paths = Paths::in_dir(dir);
    let store = open(&paths);
    match role.as_str() {
        "hold-lock" => {
            let _lock = store.lock_profile("p", DEADLINE).expect("lock");
            say("READY");
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        }
        "cas" => {
            for round in 0..20 {
                let seen = store.read("p").unwrap().unwrap().version;
                let tag = format!("pid{}r{round}", std::process::id());
                if let CasOutcome::Written(new) =
                    store.write_if_version("p", seen, &tokens(&tag)).unwrap()
                {
                    say(&format!("WIN {} {}", seen.get(), new.get()));
                }
            }
            say("DONE");
        }
        other => panic!("unknown child role {other}"),
    }
}

/// Sends one message to the parent.
fn say(message: &str) {
    println!("\n@@{message}");
}

/// A running child; killed (SIGKILL) and reaped when dropped.
struct Helper {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Helper {
    fn spawn(role: &str, paths: &Paths) -> Helper {
        let exe = std::env::current_exe().expect("current exe");
        let mut child = Command::new(exe)
            .args([
                "--exact",
                "store::process::child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ROLE, role)
            .env(DIR, &paths.data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Helper { child, lines }
    }

    /// The child's messages up to and including `last`.
    fn read_until(&self, last: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(DEADLINE)
                .unwrap_or_else(|_| panic!("the child did not say {last:?}; got {out:?}"));
            let Some((_, message)) = line.split_once("@@") else {
                continue;
            };
            let message = message.trim_end().to_string();
            let done = message == last;
            out.push(message);
            if done {
                return out;
            }
        }
    }

    fn kill(&mut self) {
        // `Child::kill` sends SIGKILL on Unix: the child gets no chance to clean up.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn a_lock_held_by_another_process_blocks_and_dies_with_it() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    let mut holder = Helper::spawn("hold-lock", &paths);
    holder.read_until("READY");

    assert!(store.try_lock_profile("p").unwrap().is_none());
    assert!(store.try_lock_profile("other").unwrap().is_some());
    let err = store
        .lock_profile("p", Duration::from_millis(100))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    let pid = holder.child.id();
    let file = paths.lock_dir().join("p.lock");
    assert_eq!(
        err.message(),
        format!(
            "waited 100 ms for the refresh lock of profile \"p\" (lock file {}) held by another process (pid {pid})",
            file.display()
        )
    );

    // kill -9: the kernel releases the lock as the process dies, no stale lock left behind.
    holder.kill();
    let lock = store.try_lock_profile("p").unwrap();
    assert!(
        lock.is_some(),
        "the lock was not released when its holder was killed"
    );
}

#[test]
fn a_waiter_gets_the_lock_when_the_holder_is_killed() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    let mut holder = Helper::spawn("hold-lock", &paths);
    holder.read_until("READY");
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| store.lock_profile("p", DEADLINE).map(|_| ()));
        holder.kill();
        waiter
            .join()
            .expect("waiter")
            .expect("lock after the holder died");
    });
}

#[test]
fn concurrent_cas_from_processes_has_one_winner_per_version() {
    let (_dir, paths) = temp_paths();
    let first = open(&paths).replace("p", &tokens("0")).unwrap();
    let helpers: Vec<Helper> = (0..3).map(|_| Helper::spawn("cas", &paths)).collect();
    let mut wins: Vec<(i64, i64)> = Vec::new();
    for helper in &helpers {
        for line in helper.read_until("DONE") {
            let mut parts = line.split_whitespace();
            if parts.next() != Some("WIN") {
                continue;
            }
            let mut num = || {
                parts
                    .next()
                    .and_then(|p| p.parse::<i64>().ok())
                    .expect("WIN <seen> <new>")
            };
            let (seen, new) = (num(), num());
            wins.push((seen, new));
        }
    }
    let last = open(&paths).read("p").unwrap().unwrap().version;
    assert_one_winner_per_version(first, &wins, last);
}
