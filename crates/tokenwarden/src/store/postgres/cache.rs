//! What this machine last saw of each profile's row in the fleet store, kept so that a token
//! that is still valid can be served while the database cannot be reached (degraded mode),
//! also by a process that just started (`tokenwarden token`).
//!
//! Each profile's row is kept as the database holds it: the secrets sealed with the fleet key
//! and bound to the row's profile, version and fields, in `<data dir>/fleet/<profile>.json`
//! (0600, in 0700 directories), written atomically (a temporary file renamed into place) and
//! only when what was seen differs from what the file holds. Nothing here is authoritative:
//! the database is; this copy only answers when it cannot.

use super::rows::PgRow;
use crate::paths::{Paths, safe_join};
use crate::store::perms::{create_private_file, ensure_private_dir};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

/// The rows this machine last saw.
pub(super) struct LastSeen {
    dir: PathBuf,
    seen: Mutex<HashMap<String, PgRow>>,
}

impl LastSeen {
    /// The copies of the machine whose files are under `paths`.
    pub(super) fn new(paths: &Paths) -> LastSeen {
        LastSeen {
            dir: paths.data_dir.join("fleet"),
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, PgRow>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers `row` as the latest of its profile (in memory, and on disk when it differs
    /// from the file). A failure to write is logged: this copy is a convenience.
    pub(super) fn saw(&self, row: &PgRow) {
        if self.map().get(&row.profile) == Some(row) {
            return;
        }
        let path = safe_join(&self.dir, &row.profile, ".json");
        if self.load_file(&row.profile).as_ref() != Some(row)
            && let Err(e) = self.write(&path, row)
        {
            tracing::debug!(error = %e, "cannot keep this machine's copy of the fleet store's row");
        }
        self.map().insert(row.profile.clone(), row.clone());
    }

    /// Forgets `profile` (its tokens were deleted).
    pub(super) fn forget(&self, profile: &str) {
        self.map().remove(profile);
        let _ = std::fs::remove_file(safe_join(&self.dir, profile, ".json"));
    }

    /// The row of `profile` as last seen: by this process, else as the file keeps it.
    pub(super) fn get(&self, profile: &str) -> Option<PgRow> {
        if let Some(row) = self.map().get(profile) {
            return Some(row.clone());
        }
        self.load_file(profile)
    }

    fn load_file(&self, profile: &str) -> Option<PgRow> {
        let text = std::fs::read(safe_join(&self.dir, profile, ".json")).ok()?;
        serde_json::from_slice::<PgRow>(&text)
            .ok()
            .filter(|row| row.profile == profile)
    }

    fn write(&self, path: &std::path::Path, row: &PgRow) -> std::io::Result<()> {
        ensure_private_dir(&self.dir, "the fleet store's copies").map_err(std::io::Error::other)?;
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let result = (|| {
            let mut file = create_private_file(&tmp)?;
            file.write_all(&serde_json::to_vec(row).map_err(std::io::Error::other)?)?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}
