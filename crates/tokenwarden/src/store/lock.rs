//! The SQLite store's refresh lock: a kernel advisory lock (`flock`, through std's `File::lock`
//! family) on `<lock dir>/<profile>.lock`, handed out as a [`FileLock`].
//!
//! The kernel releases the lock when its holder's file is closed, including when the holder is
//! killed with `kill -9`: no lock is ever judged by a file's age or a PID. The holder writes its
//! PID into the file only so that a waiter can name it in a message.
//!
//! `flock` belongs to an open file description, so a second open of the same lock file in the
//! same process is refused too: the lock is correct between threads, but the session should
//! serialise its own threads with a mutex (they are then woken instead of polling) and take
//! this lock for other processes.

use super::guard::{RefreshGuard, poll_until, wait_exceeded};
use super::perms::open_private_file;
use crate::error::{Error, Result};
use crate::paths::{Paths, safe_join};
use std::fs::{File, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A held lock file of one profile. Dropping it releases the lock.
#[derive(Debug)]
pub struct FileLock {
    profile: String,
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl RefreshGuard for FileLock {
    fn profile(&self) -> &str {
        &self.profile
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first makes it explicit.
        let _ = self.file.unlock();
    }
}

/// The lock file of `profile`.
pub(crate) fn lock_path(paths: &Paths, profile: &str) -> PathBuf {
    safe_join(&paths.lock_dir(), profile, ".lock")
}

/// Takes the lock of `profile` if it is free.
pub(crate) fn try_lock_file(paths: &Paths, profile: &str) -> Result<Option<FileLock>> {
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
            Ok(Some(FileLock {
                profile: profile.to_string(),
                file,
                path,
            }))
        }
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => {
            Err(Error::store(format!("cannot lock {}", path.display())).with_source(e))
        }
    }
}

/// Takes the lock of `profile`, polling with growing intervals until `wait` has passed.
pub(crate) fn lock_file(paths: &Paths, profile: &str, wait: Duration) -> Result<FileLock> {
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
        let path = held.path().to_path_buf();
        assert_eq!(path.parent().unwrap(), paths.lock_dir());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
