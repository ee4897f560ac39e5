//! Passphrase-keyed stores: reading the stored Argon2id parameters before the store is opened,
//! and re-keying a store made before passphrases were stretched.
//!
//! Such a store was sealed with `SHA-256(domain || passphrase)` and has no `meta.kdf`. Opening it
//! with the passphrase opens it with that old key, then, in one `BEGIN IMMEDIATE` transaction
//! under the maintenance lock: fresh Argon2id parameters and salt, every token row re-sealed with
//! the stretched key, a new key check, and `meta.kdf` written. A crash leaves the old store or
//! the new one, never half of each. A process that had the store open with the old key fails
//! its next operation on the key check (it is never taken for damage) and works again when run
//! again.

use super::SqliteStore;
use super::row::{self, OpError};
use super::schema::KDF_META_KEY;
use super::setaside::maintenance_lock;
use crate::error::{Error, Result};
use crate::secret::SecretString;
use crate::store::crypto::Sealer;
use crate::store::kdf::KdfParams;
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, params};
use std::path::Path;

/// The Argon2id parameters stored in the database at `db`; `None` when there are none (a
/// store keyed before passphrases were stretched, or one not created yet) or the file cannot
/// be read as a token database (opening proper then says why).
pub(super) fn stored_params(db: &Path) -> Option<KdfParams> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(db, flags).ok()?;
    conn.busy_timeout(super::connection::BUSY_TIMEOUT).ok()?;
    read_params(&conn).ok().flatten()
}

fn read_params(conn: &Connection) -> rusqlite::Result<Option<KdfParams>> {
    let stored: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [KDF_META_KEY],
            |r| r.get(0),
        )
        .optional()?;
    Ok(stored
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| KdfParams::decode(&s)))
}

impl SqliteStore {
    /// Re-keys a store opened with the key of an unstretched passphrase (see the module docs).
    /// When another process re-keyed it first, takes its parameters instead.
    pub(super) fn rekey(&mut self, passphrase: &SecretString) -> Result<()> {
        let _guard = maintenance_lock(&self.paths)?;
        let fresh = KdfParams::fresh();
        let new = Sealer::new(&fresh.derive(passphrase.expose())?);
        let old = &self.sealer;
        let outcome = self.run(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(theirs) = read_params(&tx)? {
                return Ok(Some(theirs));
            }
            let resealed = row::reseal_all(&tx, old, &new)?;
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'key_check'",
                [new.key_check()?],
            )?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                params![KDF_META_KEY, fresh.encode().into_bytes()],
            )?;
            tx.commit()?;
            tracing::info!(
                rows = resealed,
                "re-keyed the token store with a stretched passphrase"
            );
            Ok::<_, OpError>(None)
        })?;
        match outcome {
            None => {
                self.sealer = new;
                self.kdf = Some(fresh);
            }
            Some(theirs) => {
                let sealer = Sealer::new(&theirs.derive(passphrase.expose())?);
                let check: Vec<u8> = self.run(|conn| {
                    Ok(conn.query_row(
                        "SELECT value FROM meta WHERE key = 'key_check'",
                        [],
                        |r| r.get(0),
                    )?)
                })?;
                if sealer.verify_key_check(&check).is_err() {
                    return Err(Error::store(format!(
                        "the token database {} was re-keyed by another process with a different passphrase than {}",
                        self.db.display(),
                        crate::store::keys::KEY_ENV
                    ))
                    .with_hint("set TOKENWARDEN_KEY to the passphrase the store was made with"));
                }
                self.sealer = sealer;
                self.kdf = Some(theirs);
            }
        }
        Ok(())
    }
}
