//! Moving logins from one store to another without a new login (`tokenwarden store copy`):
//! from this machine's file to the fleet store when a machine joins a fleet, and back.
//!
//! Each profile is copied under the refresh locks of both stores, so no refresh of either
//! runs meanwhile and the refresh token copied is the current one. Then, unless asked to keep
//! it, the source's copy is deleted: two stores holding one rotating refresh token would each
//! refresh it in turn, and a provider with reuse detection would revoke the session at the
//! second. Only usable logins are copied (a profile marked "login required" is not).

use super::{Store, TokenState, Version};
use crate::error::Result;
use std::time::Duration;

/// What to copy and how.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Only these profiles (empty: every profile of the source).
    pub only: Vec<String>,
    /// Replace a login the destination already has.
    pub force: bool,
    /// Keep the source's copy (by default it is deleted once copied).
    pub keep_source: bool,
    /// How long to wait for each store's refresh lock.
    pub lock_wait: Duration,
}

/// Why a profile was not copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// The source has no tokens for it.
    NotStored,
    /// The destination has a login already (copy with `force` to replace it).
    Exists,
    /// The source's tokens are not usable (their state, e.g. `login_required`).
    NotUsable(String),
}

/// What a copy did.
#[derive(Debug, Clone, Default)]
pub struct CopyReport {
    /// The profiles copied, with their version in the destination.
    pub copied: Vec<(String, Version)>,
    /// The profiles not copied, and why.
    pub skipped: Vec<(String, Skipped)>,
    /// True when the copied profiles were deleted from the source.
    pub removed_from_source: bool,
}

/// Copies the logins `opts` names from `from` to `to`.
pub fn copy_logins(from: &dyn Store, to: &dyn Store, opts: &CopyOptions) -> Result<CopyReport> {
    let profiles = if opts.only.is_empty() {
        from.list_profiles()?
    } else {
        opts.only.clone()
    };
    let mut report = CopyReport {
        removed_from_source: !opts.keep_source,
        ..CopyReport::default()
    };
    for profile in profiles {
        let _source_lock = from.lock_profile(&profile, opts.lock_wait)?;
        let _dest_lock = to.lock_profile(&profile, opts.lock_wait)?;
        let Some(stored) = from.read(&profile)? else {
            report.skipped.push((profile, Skipped::NotStored));
            continue;
        };
        if stored.state != TokenState::Valid && stored.state != TokenState::Rejected {
            report
                .skipped
                .push((profile, Skipped::NotUsable(stored.state.to_string())));
            continue;
        }
        if !opts.force && to.read(&profile)?.is_some() {
            report.skipped.push((profile, Skipped::Exists));
            continue;
        }
        let version = to.replace(&profile, &stored.tokens)?;
        if !opts.keep_source {
            from.delete(&profile)?;
        }
        report.copied.push((profile, version));
    }
    Ok(report)
}
