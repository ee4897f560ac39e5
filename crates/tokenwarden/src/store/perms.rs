//! File and directory permissions of the store: created private (files 0600, directories 0700,
//! whatever the umask), and refused when looser, with the exact command that fixes them.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Group and other permission bits: none may be set on the store's files and directories.
const NOT_PRIVATE: u32 = 0o077;

/// Quotes `s` for a POSIX shell when it needs it, so a printed command can be pasted.
pub(crate) fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn chmod_hint(mode: u32, path: &Path) -> String {
    format!(
        "run `chmod {mode:o} {}`",
        shell_quote(&path.display().to_string())
    )
}

/// Creates `dir` with mode 0700 when missing (its parents with the default mode), and refuses it
/// when group or others have any access.
pub(crate) fn ensure_private_dir(dir: &Path, what: &str) -> Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => check_mode(dir, meta.permissions().mode(), 0o700, what),
        Ok(_) => Err(Error::store(format!(
            "{what} {} is not a directory",
            dir.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(|e| create_error(parent, e))?;
            }
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return ensure_private_dir(dir, what);
                }
                Err(e) => return Err(create_error(dir, e)),
            }
            // The umask may have removed owner bits: set the mode explicitly.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| create_error(dir, e))
        }
        Err(e) => {
            Err(Error::store(format!("cannot inspect {what} {}", dir.display())).with_source(e))
        }
    }
}

fn create_error(path: &Path, e: io::Error) -> Error {
    Error::store(format!("cannot create the directory {}", path.display()))
        .with_source(e)
        .with_hint(
            "check that the parent directory exists and is writable, or set TOKENWARDEN_HOME",
        )
}

/// Refuses `path` when group or others have any access. `Ok(false)` when it does not exist.
pub(crate) fn check_private_file(path: &Path, what: &str) -> Result<bool> {
    match fs::metadata(path) {
        Ok(meta) => {
            check_mode(path, meta.permissions().mode(), 0o600, what)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => {
            Err(Error::store(format!("cannot inspect {what} {}", path.display())).with_source(e))
        }
    }
}

fn check_mode(path: &Path, mode: u32, wanted: u32, what: &str) -> Result<()> {
    if mode & NOT_PRIVATE == 0 {
        return Ok(());
    }
    Err(Error::store(format!(
        "{what} {} is open to other users (mode {:o}); refusing to use it because it holds or guards secrets",
        path.display(),
        mode & 0o777
    ))
    .with_hint(chmod_hint(wanted, path)))
}

/// Creates a new file with mode 0600 (fails if it exists), whatever the umask.
pub(crate) fn create_private_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Opens (creating when missing) a file that must be 0600, e.g. a lock file.
pub(crate) fn open_private_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    if file.metadata()?.permissions().mode() & 0o777 != 0o600 {
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Makes a rename or link in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/a/b.db"), "/a/b.db");
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }

    #[test]
    fn dirs_are_created_private_and_loose_ones_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("x").join("y");
        ensure_private_dir(&dir, "the data directory").unwrap();
        let mode = fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
        let err = ensure_private_dir(&dir, "the data directory").unwrap_err();
        assert_eq!(
            err.hint(),
            Some(format!("run `chmod 700 {}`", dir.display()).as_str())
        );
    }

    #[test]
    fn files_are_created_private() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        create_private_file(&path).unwrap();
        assert!(create_private_file(&path).is_err());
        assert!(check_private_file(&path, "the file").unwrap());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = check_private_file(&path, "the file").unwrap_err();
        assert!(err.hint().unwrap_or("").contains("chmod 600"));
        assert!(!check_private_file(&tmp.path().join("none"), "the file").unwrap());
    }
}
