//! The agent's private directory (0700) and its pidfile: a file holding the agent's PID,
//! `flock`ed for as long as the agent runs, so that a second agent for the same home refuses
//! (naming the running one) and a killed agent's lock goes with it (the kernel releases it).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};
use tokenwarden::agent::AgentPaths;
use tokenwarden::{Error, ErrorKind, Result};

/// The held pidfile of the running agent. Dropping it releases the lock.
#[derive(Debug)]
pub struct PidLock {
    _file: File,
    path: PathBuf,
}

impl PidLock {
    /// The pidfile.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The uid of this process (the owner of `/proc/self`).
pub fn own_uid() -> Result<u32> {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|e| {
            Error::new(ErrorKind::Other, "cannot read this process's user id").with_source(e)
        })
}

/// Makes the agent's directory: created 0700, or an existing one of this user tightened to
/// 0700; one of another user is refused.
pub fn private_dir(dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) => {
            if !m.is_dir() {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!("{} is not a directory", dir.display()),
                )
                .with_hint("remove it; the agent makes its directory itself"));
            }
            if m.uid() != own_uid()? {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!("{} belongs to another user", dir.display()),
                )
                .with_hint("the agent's directory must be yours; set TOKENWARDEN_HOME or XDG_RUNTIME_DIR to a directory of your own"));
            }
            if m.mode() & 0o077 != 0 {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(
                    |e| {
                        Error::new(
                            ErrorKind::Other,
                            format!("cannot make {} private", dir.display()),
                        )
                        .with_source(e)
                    },
                )?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                Error::new(ErrorKind::Other, format!("cannot create {}", dir.display()))
                    .with_source(e)
            }),
        Err(e) => Err(
            Error::new(ErrorKind::Other, format!("cannot read {}", dir.display())).with_source(e),
        ),
    }
}

/// The PID written in the pidfile of `paths`, when an agent holds it (runs); `None` when no
/// agent runs.
pub fn running_pid(paths: &AgentPaths) -> Option<u32> {
    let mut file = File::open(paths.pidfile()).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => read_pid(&mut file),
        Err(TryLockError::Error(_)) => None,
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Takes the pidfile of `paths` (making the directory first) and writes this process's PID
/// in it. A Usage error naming the running agent's PID when another agent holds it.
pub fn acquire(paths: &AgentPaths) -> Result<PidLock> {
    private_dir(&paths.dir)?;
    let path = paths.pidfile();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!("cannot open the pidfile {}", path.display()),
            )
            .with_source(e)
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let pid = read_pid(&mut file)
                .map(|p| format!(" (pid {p})"))
                .unwrap_or_default();
            return Err(Error::new(
                ErrorKind::Usage,
                format!("an agent is already running for this home{pid}"),
            )
            .with_hint("use it as it is, or stop it first with `tokenwarden agent stop`"));
        }
        Err(TryLockError::Error(e)) => {
            return Err(Error::new(
                ErrorKind::Other,
                format!("cannot lock the pidfile {}", path.display()),
            )
            .with_source(e));
        }
    }
    let write = (|| {
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        file.sync_all()
    })();
    write.map_err(|e| {
        Error::new(
            ErrorKind::Other,
            format!("cannot write the pidfile {}", path.display()),
        )
        .with_source(e)
    })?;
    Ok(PidLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_told_the_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = AgentPaths {
            dir: dir.path().join("run"),
        };
        let held = acquire(&paths).expect("the first takes it");
        let mode = std::fs::metadata(&paths.dir).expect("dir").mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(running_pid(&paths), Some(std::process::id()));
        let err = acquire(&paths).expect_err("the second is refused");
        assert!(
            err.message().contains(&std::process::id().to_string()),
            "{}",
            err.message()
        );
        drop(held);
        assert_eq!(running_pid(&paths), None);
        acquire(&paths).expect("free again");
    }
}
