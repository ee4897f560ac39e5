//! The report's file, written atomically (`--report FILE.html`): reserved before the runs, so
//! that an unwritable path fails at once, and put in place whole once the page is complete.

use anyhow::{Context as _, Result};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The report's file, written atomically: a temporary file beside FILE.html is created before
/// the run (so an unwritable directory is reported at once), and renamed over FILE.html once
/// the page is complete. A failed or interrupted run removes it and leaves FILE.html as it
/// was.
#[derive(Debug)]
pub struct ReportFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<std::fs::File>,
}

impl ReportFile {
    /// Creates the temporary file beside `path`; fails when the report cannot be written there.
    pub fn reserve(path: &Path) -> Result<ReportFile> {
        let cannot = || format!("cannot write the report to {}", path.display());
        if path.is_dir() {
            anyhow::bail!("{}: it is a directory", cannot());
        }
        let name = path
            .file_name()
            .with_context(|| format!("{}: no file name", cannot()))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(cannot)?;
        Ok(ReportFile {
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
        })
    }

    /// Writes `page` and puts it in place; returns the report's path.
    pub fn commit(mut self, page: &str) -> Result<PathBuf> {
        let cannot = || format!("cannot write the report to {}", self.path.display());
        let mut file = self.file.take().with_context(cannot)?;
        file.write_all(page.as_bytes()).with_context(cannot)?;
        file.sync_all().with_context(cannot)?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path).with_context(cannot)?;
        Ok(std::mem::take(&mut self.path))
    }
}

impl Drop for ReportFile {
    fn drop(&mut self) {
        // After a commit the temporary file was renamed: this finds nothing to remove.
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_appears_whole_or_not_at_all() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let path = dir.join("r.html");
        // Reserved, then abandoned (a failed run): nothing is left, not even an empty page.
        drop(ReportFile::reserve(&path).expect("reserve"));
        let left: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
        assert!(left.is_empty(), "{left:?}");
        // An earlier report survives a failed run.
        std::fs::write(&path, "old").expect("write");
        drop(ReportFile::reserve(&path).expect("reserve"));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "old");
        // Committed: the page, and no temporary file.
        let file = ReportFile::reserve(&path).expect("reserve");
        assert_eq!(file.commit("<p>new</p>").expect("commit"), path);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "<p>new</p>");
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 1);
        // A directory, or a missing one, fails before any run.
        let err = ReportFile::reserve(&dir).expect_err("a directory");
        assert!(err.to_string().contains("cannot write the report"), "{err}");
        let err = ReportFile::reserve(&dir.join("missing/r.html")).expect_err("no such dir");
        assert!(
            format!("{err:#}").contains("cannot write the report"),
            "{err:#}"
        );
    }
}
