//! `revocation`: tokens an earlier logout could not revoke (the provider was unavailable) are
//! still owed to the provider. Online, doctor asks it again ([`Warden::retry_revocations`], RFC
//! 7009 §2.2.1) and says what happened; offline, it says what is pending and how to retry. No
//! check is added when nothing is pending.

use super::Check;
use crate::config::Profile;
use crate::store::Store;
use crate::warden::Warden;

fn count(n: usize) -> String {
    if n == 1 {
        "1 token".to_string()
    } else {
        format!("{n} tokens")
    }
}

/// `revocation`: see the module docs.
pub async fn check(
    warden: &Warden,
    p: &Profile,
    store: &dyn Store,
    online: bool,
    checks: &mut Vec<Check>,
) {
    let pending = match store.pending_revocations(&p.name) {
        Ok(pending) if pending.is_empty() => return,
        Ok(pending) => pending,
        Err(e) => {
            checks.push(Check::from_error("revocation", &e));
            return;
        }
    };
    let retry = format!(
        "`tokenwarden --profile {0} doctor` (online) or `tokenwarden --profile {0} logout` asks the provider again",
        p.name
    );
    if !online {
        let since = pending
            .iter()
            .map(|r| r.since)
            .min()
            .map(crate::human::timestamp)
            .unwrap_or_default();
        let why = pending
            .iter()
            .rev()
            .find_map(|r| r.last_error.as_ref())
            .map(|e| format!(" (last failure: {})", e.headline()))
            .unwrap_or_default();
        checks.push(Check::warn(
            "revocation",
            format!(
                "{} of a logout at {since} still await revocation at the provider{why}",
                count(pending.len())
            ),
            retry,
        ));
        return;
    }
    let retried = match warden.retry_revocations(&p.name).await {
        Ok(r) => r,
        Err(e) => {
            checks.push(Check::from_error("revocation", &e));
            return;
        }
    };
    let mut done = Vec::new();
    if !retried.revoked.is_empty() {
        done.push(format!(
            "the provider revoked {} an earlier logout could not",
            count(retried.revoked.len())
        ));
    }
    for (_, why) in &retried.given_up {
        done.push(format!("gave up on one: {why}"));
    }
    let check = match (&retried.not_asked, retried.still_pending.first()) {
        (Some(e), _) => Check::warn(
            "revocation",
            format!(
                "{} of an earlier logout still await revocation; they could not be asked for: {}",
                count(retried.still_pending.len()),
                e.message()
            ),
            retry,
        ),
        (None, Some((_, why))) => Check::warn(
            "revocation",
            format!(
                "{} of an earlier logout still await revocation: asked again, the provider still failed ({}){}",
                count(retried.still_pending.len()),
                why.headline(),
                if done.is_empty() {
                    String::new()
                } else {
                    format!("; {}", done.join("; "))
                }
            ),
            format!(
                "the provider is still failing; {retry} later, or revoke this app's access in your account settings at the provider"
            ),
        ),
        (None, None) if retried.given_up.is_empty() => Check::ok("revocation", done.join("; ")),
        (None, None) => Check::warn(
            "revocation",
            done.join("; "),
            "a token given up on may stay live at the provider until it expires; revoke this app's access in your account settings at the provider if it matters",
        ),
    };
    checks.push(check);
}
