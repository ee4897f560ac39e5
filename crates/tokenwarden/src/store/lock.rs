//! The per-profile refresh lock: a kernel advisory lock (`flock`, through std's `File::lock`
//! family) on `<lock dir>/<profile>.lock`.
//!
//! The kernel releases the lock when its holder's file is closed, including when the holder is
//! killed with `kill -9`: no lock is ever judged by a file's age or a PID. The holder writes its
//! PID into the file only so that a waiter can name it in a message.
//!
//! `flock` belongs to an open file description, so a second open of the same lock file in the
//! same process is refused too: the lock is correct between threads, but the session should
//! serialise its own threads with a mutex (they are then woken instead of polling) and take
//! this lock for other processes.

use super::memory::MemoryLockGuard;
use super::perms::{open_private_file, shell_quote};
use crate::error::{Error, Result};
use crate::paths::{Paths, safe_join};
use std::fmt;
use std::fs::{File, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A held refresh lock of one profile. Dropping it releases the lock.
pub struct ProfileLock {
    profile: String,
    inner: Inner,
}

enum Inner {
    File { file: File, path: PathBuf },
    Memory(#[allow(dead_code)] MemoryLockGuard),
}

impl ProfileLock {
    pub(crate) fn from_memory(profile: &str, guard: MemoryLockGuard) -> ProfileLock {
        ProfileLock {
            profile: profile.to_string(),
            inner: Inner::Memory(guard),
        }
    }

    /// The profile this lock is for.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The lock file, for a file lock.
    pub fn path(&self) -> Option<&Path> {
        match &self.inner {
            Inner::File { path, .. } => Some(path),
            Inner::Memory(_) => None,
        }
    }
}

impl fmt::Debug for ProfileLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfileLock")
            .field("profile", &self.profile)
            .field("path", &self.path())
            .finish()
    }
}

impl Drop for ProfileLock {
    fn drop(&mut self) {
        if let Inner::File { file, .. } = &self.inner {
            // Closing the file releases the lock anyway; unlocking first makes it explicit.
            let _ = file.unlock();
        }
    }
}

/// The lock file of `profile`.
pub(crate) fn lock_path(paths: &Paths, profile: &str) -> PathBuf {
    safe_join(&paths.lock_dir(), profile, ".lock")
}

/// Takes the lock of `profile` if it is free.
pub(crate) fn try_lock_file(paths: &Paths, profile: &str) -> Result<Option<ProfileLock>> {
    let path = lock_path(paths, profile);
    let file = match open_private_file(&path) {
        Ok(file) => Ok(file),
        // The lock directory was removed since the store was opened: make it again.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            super::perms::ensure_private_dir(&paths.lock_dir(), "the lock directory")?;
            open_private_file(&path)
        }
        Err(e) => Err(e),
    }
    .map_err(|e| {
        Error::store(format!("cannot open the lock file {}", path.display())).with_source(e)
    })?;
    match file.try_lock() {
        Ok(()) => {
            record_holder(&file);
            Ok(Some(ProfileLock {
                profile: profile.to_string(),
                inner: Inner::File { file, path },
            }))
        }
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => {
            Err(Error::store(format!("cannot lock {}", path.display())).with_source(e))
        }
    }
}

/// Takes the lock of `profile`, polling with growing intervals until `wait` has passed.
pub(crate) fn lock_file(paths: &Paths, profile: &str, wait: Duration) -> Result<ProfileLock> {
    match poll_until(wait, || try_lock_file(paths, profile))? {
        Some(lock) => Ok(lock),
        None => Err(file_wait_exceeded(paths, profile, wait)),
    }
}

/// The error of a wait of `waited` for the lock file of `profile` that ran out, naming the file
/// and the PID its holder wrote.
pub(crate) fn file_wait_exceeded(paths: &Paths, profile: &str, waited: Duration) -> Error {
    let path = lock_path(paths, profile);
    wait_exceeded(profile, waited, Some(&path), read_holder(&path))
}

/// Calls `attempt` until it gives `Some`, or `wait` has passed (then `None`). Sleeps between
/// attempts start at 1 ms and double up to 50 ms, never past the deadline.
pub(crate) fn poll_until<T, E>(
    wait: Duration,
    mut attempt: impl FnMut() -> std::result::Result<Option<T>, E>,
) -> std::result::Result<Option<T>, E> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(found) = attempt()? {
            return Ok(Some(found));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The error of a lock wait that ran out.
pub(crate) fn wait_exceeded(
    profile: &str,
    wait: Duration,
    path: Option<&Path>,
    holder: Option<u32>,
) -> Error {
    let by = match holder {
        Some(pid) => format!("another process (pid {pid})"),
        None => "another process".to_string(),
    };
    let mut hint = format!(
        "{by} is refreshing profile {profile:?} and has not finished; try again in a moment. \
         If it is stuck, end it: its lock is released the moment it exits"
    );
    if let Some(path) = path {
        hint.push_str(&format!(
            " (`fuser -v {}` shows it)",
            shell_quote(&path.display().to_string())
        ));
    }
    hint.push_str(
        ". If the provider is only slow, raise `lock_wait` in the profile (by default it covers \
         the longest refresh the retry policy allows)",
    );
    let file = path
        .map(|p| format!(" (lock file {})", p.display()))
        .unwrap_or_default();
    Error::store(format!(
        "waited {} for the refresh lock of profile {profile:?}{file} held by {by}",
        crate::human::duration(wait)
    ))
    .with_hint(hint)
}

/// Writes our PID into the lock file we hold (diagnostics only; failures are ignored).
fn record_holder(mut file: &File) {
    let _ = file
        .set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| writeln!(file, "{}", std::process::id()));
}

/// The PID the current holder wrote, if it is readable.
fn read_holder(path: &Path) -> Option<u32> {
    let mut text = String::new();
    File::open(path)
        .ok()?
        .take(32)
        .read_to_string(&mut text)
        .ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::in_dir(dir.path());
        super::super::perms::ensure_private_dir(&paths.lock_dir(), "the lock directory").unwrap();
        (dir, paths)
    }

    #[test]
    fn second_open_is_refused_until_release() {
        let (_dir, paths) = paths();
        let held = try_lock_file(&paths, "p").unwrap().unwrap();
        assert_eq!(held.profile(), "p");
        assert!(try_lock_file(&paths, "p").unwrap().is_none());
        assert!(try_lock_file(&paths, "other").unwrap().is_some());
        let err = lock_file(&paths, "p", Duration::from_millis(20)).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Store);
        assert!(
            err.message()
                .starts_with("waited 20 ms for the refresh lock of profile \"p\" (lock file "),
            "{}",
            err.message()
        );
        assert!(
            err.message()
                .contains(&format!("pid {}", std::process::id()))
        );
        drop(held);
        assert!(try_lock_file(&paths, "p").unwrap().is_some());
    }

    #[test]
    fn lock_files_are_private_and_names_escaped() {
        use std::os::unix::fs::PermissionsExt as _;
        let (_dir, paths) = paths();
        let held = lock_file(&paths, "../evil", Duration::ZERO).unwrap();
        let path = held.path().unwrap().to_path_buf();
        assert_eq!(path.parent().unwrap(), paths.lock_dir());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
