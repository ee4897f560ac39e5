//! The checks that need no network: the configuration, the redirect-URI lint, the client
//! secret's variable, proxy variables, the store (path, permissions, key, integrity), the
//! token's state, and the recent 5xx rate from the event log.

use super::Check;
use crate::config::{GrantType, Profile, SecretSource};
use crate::error::Cause;
use crate::store::{LastError, Store, StoredTokens, TokenState};
use crate::warden::Warden;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// `config`: the profile exists, parses and validates. The profile, when it does, or when its
/// only problems are lint findings (a redirect-URI mismatch): those are reported by their own
/// check (`redirect_uri`) and the other checks run; only a profile that cannot be read stops
/// them.
pub fn config(warden: &Warden, name: &str, checks: &mut Vec<Check>) -> Option<Profile> {
    let cfg = warden.config();
    let Some(checked) = cfg.check(name) else {
        let err = cfg.no_such_profile(name);
        let mut check = Check::from_error("config", &err);
        let add = format!("`tokenwarden profile add {name} --issuer URL --client-id ID`");
        check.fix = Some(match cfg.profile_names().first() {
            Some(other) => format!(
                "check a profile that exists: `tokenwarden --profile {other} doctor` (or `tokenwarden doctor --all` for every profile); or add `{name}` with {add}"
            ),
            None => format!("add the profile with {add}, then run doctor again"),
        });
        checks.push(check);
        return None;
    };
    if checked.linted.is_none() {
        let list: Vec<String> = checked.problems.iter().map(|p| p.to_string()).collect();
        let fix = match checked.problems.as_slice() {
            [one] => one.hint.clone(),
            _ => None,
        }
        .unwrap_or_else(|| format!("edit {} and fix each line listed", cfg.path().display()));
        checks.push(Check::fail(
            "config",
            format!(
                "profile `{name}` in {} does not validate: {}",
                cfg.path().display(),
                list.join("; ")
            ),
            fix,
        ));
        return None;
    }
    let profile = checked.linted?;
    let lint = if checked.lint.is_empty() {
        String::new()
    } else {
        " (apart from the redirect-URI finding reported below)".to_string()
    };
    if checked.warnings.is_empty() {
        checks.push(Check::ok(
            "config",
            format!(
                "profile `{name}` in {} parses and validates{lint}",
                cfg.path().display()
            ),
        ));
    } else {
        let list: Vec<String> = checked.warnings.iter().map(|w| w.to_string()).collect();
        let fix = checked
            .warnings
            .iter()
            .find_map(|w| w.hint.clone())
            .unwrap_or_else(|| format!("edit {}", cfg.path().display()));
        checks.push(Check::warn(
            "config",
            format!(
                "profile `{name}` validates{lint}, with warnings: {}",
                list.join("; ")
            ),
            fix,
        ));
    }
    Some(profile)
}

/// `redirect_uri`: the lint against `registered_redirect_uris` (a mismatch, with the difference
/// named, fails here; a login refuses such a profile).
pub fn redirect_uri(p: &Profile, checks: &mut Vec<Check>) {
    if p.grant == GrantType::ClientCredentials {
        checks.push(Check::ok(
            "redirect_uri",
            "not used: the profile logs in with client credentials",
        ));
        return;
    }
    let uri = p
        .redirect_uri
        .clone()
        .unwrap_or_else(|| crate::flow::authcode::DEFAULT_REDIRECT_URI.to_string());
    let check = match (p.lint_redirect(), p.registered_redirect_uris.is_empty()) {
        (Some(m), _) => Check::fail("redirect_uri", m.to_string(), m.hint()),
        (None, true) => Check::ok(
            "redirect_uri",
            format!(
                "{uri} (no registered_redirect_uris to compare it with; add the provider's list to have mismatches named before a login fails)"
            ),
        ),
        (None, false) => Check::ok(
            "redirect_uri",
            format!("{uri} matches a registered redirect URI"),
        ),
    };
    checks.push(check);
}

/// `client_secret`: where the secret comes from and whether it is available (never its value).
pub fn client_secret(p: &Profile, checks: &mut Vec<Check>) {
    let needs = p.client_auth.needs_secret();
    let check = match &p.client_secret {
        SecretSource::None if !needs => Check::ok(
            "client_secret",
            "public client: no client secret needed (client_auth = none)",
        ),
        SecretSource::None => Check::fail(
            "client_secret",
            format!(
                "client_auth = {} needs a client secret, and the profile names none",
                p.client_auth.as_str()
            ),
            "set client_secret_env = \"VAR\" in the profile and export VAR",
        ),
        SecretSource::Env(var) if p.secret_status().available => Check::ok(
            "client_secret",
            format!("read from the environment variable {var}, which is set"),
        ),
        SecretSource::Env(var) => Check::fail(
            "client_secret",
            format!("the environment variable {var} (client_secret_env) is not set"),
            format!("export {var}=<the client secret from the provider's app settings>"),
        ),
        SecretSource::Inline(_) => Check::warn(
            "client_secret",
            "the client secret is written in config.toml",
            "move it to an environment variable and name it with client_secret_env",
        ),
    };
    checks.push(check);
}

/// The URL the provider is reached at first: the issuer, else the token endpoint.
pub(crate) fn provider_url(p: &Profile) -> Option<url::Url> {
    p.issuer
        .as_deref()
        .and_then(|i| url::Url::parse(i).ok())
        .or_else(|| p.endpoints.token.clone())
}

/// `proxy`: the proxy variables set, and whether one applies to the provider's host.
pub fn proxy(p: &Profile, checks: &mut Vec<Check>) {
    let names = ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"];
    let set: Vec<String> = names
        .iter()
        .flat_map(|n| [n.to_string(), n.to_ascii_lowercase()])
        .filter(|n| std::env::var_os(n).is_some_and(|v| !v.is_empty()))
        .collect();
    let Some(url) = provider_url(p) else {
        checks.push(Check::ok("proxy", "no provider URL to check"));
        return;
    };
    let host = url.host_str().unwrap_or_default().to_string();
    let check = match (crate::http::proxy_for(&url), set.is_empty()) {
        (_, true) => Check::ok("proxy", "no proxy variables set: requests go direct"),
        (Some(proxy), false) => Check::ok(
            "proxy",
            format!(
                "requests to {host} go through the proxy {proxy} (from {}); an HTML error page from it is reported as \"something other than the OAuth server answered\"",
                set.join(", ")
            ),
        ),
        (None, false) => Check::ok(
            "proxy",
            format!(
                "{} set, but none applies to {host} (NO_PROXY or another scheme): requests go direct",
                set.join(", ")
            ),
        ),
    };
    checks.push(check);
}

fn mode(path: &Path) -> Option<u32> {
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

/// True when something is at the token database path (an empty file and a dangling symbolic
/// link included: opening the store names them). On a fresh home doctor opens no store: that
/// would create the database and a key file, and a `TOKENWARDEN_KEY` set afterwards would then
/// be refused as the wrong key.
pub fn store_exists(warden: &Warden) -> bool {
    std::fs::symlink_metadata(warden.paths().database()).is_ok()
}

/// `store` on a fresh home: where the store will be and which key will seal it, created by the
/// first login. Nothing is created.
pub fn no_store_yet(warden: &Warden, checks: &mut Vec<Check>) {
    let paths = warden.paths();
    let key = match crate::store::KeySource::from_env() {
        Ok(crate::store::KeySource::Value(_)) => crate::store::keys::KEY_ENV.to_string(),
        Ok(_) if paths.key_file().exists() => {
            format!("the key file {}", paths.key_file().display())
        }
        Ok(crate::store::KeySource::KeyringOrFile) => {
            use crate::store::os_keyring::{Lookup, lookup};
            match lookup(paths) {
                Ok(Lookup::Found(_)) => "the key the OS keyring holds for it".to_string(),
                Ok(Lookup::Absent) => "a new key kept in the OS keyring".to_string(),
                Ok(Lookup::Unavailable(why)) => format!(
                    "a new key file {} (no OS keyring answered: {why})",
                    paths.key_file().display()
                ),
                Err(e) => {
                    checks.push(Check::from_error("store", &e));
                    return;
                }
            }
        }
        Ok(_) => format!(
            "a new key file {} (to use a key of your own instead, set {} before that login)",
            paths.key_file().display(),
            crate::store::keys::KEY_ENV
        ),
        Err(e) => {
            checks.push(Check::from_error("store", &e));
            return;
        }
    };
    checks.push(Check::ok(
        "store",
        format!(
            "no token store yet: the first login creates {}, sealed with {key}",
            paths.database().display()
        ),
    ));
}

/// `store` and `store_integrity`: opening checks the directory and file permissions, the key
/// and a quick check; then the full `PRAGMA integrity_check`. The store, when it opened.
pub fn store(warden: &Warden, checks: &mut Vec<Check>) -> Option<Arc<dyn Store>> {
    let store = match warden.local_store() {
        Ok(s) => s,
        Err(e) => {
            checks.push(Check::from_error("store", &e));
            return None;
        }
    };
    let db = store.database_path();
    let dir = &warden.paths().data_dir;
    let modes = match (mode(dir), mode(db)) {
        (Some(d), Some(f)) => format!(" (directory {d:o}, file {f:o})"),
        _ => String::new(),
    };
    checks.push(Check::ok(
        "store",
        format!(
            "{}{modes}, key from {}{}",
            db.display(),
            store.key_origin(),
            store
                .kdf()
                .map(|k| format!(", stretched with {k}"))
                .unwrap_or_default()
        ),
    ));
    checks.push(match store.integrity_check() {
        Ok(problems) if problems.is_empty() => {
            Check::ok("store_integrity", "PRAGMA integrity_check: ok")
        }
        Ok(problems) => Check::fail(
            "store_integrity",
            format!(
                "PRAGMA integrity_check reports damage: {}",
                problems
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            if problems.iter().all(|p| p.contains(" index ")) {
                format!(
                    "only an index is damaged, the rows are intact: `sqlite3 {} 'REINDEX;'` (with no tokenwarden running) rebuilds it and keeps the tokens; if that fails, move the file away (every profile then logs in again)",
                    db.display()
                )
            } else {
                format!(
                    "move {} away (every profile then logs in again)",
                    db.display()
                )
            },
        ),
        Err(e) => Check::from_error("store_integrity", &e),
    });
    Some(store)
}

fn ago(t: SystemTime, now: SystemTime) -> String {
    let d = now.duration_since(t).unwrap_or(Duration::ZERO);
    format!(
        "{} ago",
        crate::human::duration(Duration::from_secs(d.as_secs()))
    )
}

fn login_fix(p: &Profile) -> String {
    format!("run `tokenwarden --profile {} login`", p.name)
}

/// `token` for a profile with no tokens stored.
pub fn not_logged_in(p: &Profile) -> Check {
    Check::warn(
        "token",
        format!("profile `{}` is not logged in (no tokens stored)", p.name),
        login_fix(p),
    )
}

/// Whether a login-required mark is the provider refusing the refresh token, which
/// [`super::refusal`] explains: the cause stored with the mark says so (the store gave the
/// marks made before it kept causes the one the session names for them).
fn refresh_token_refused(cause: Option<Cause>) -> bool {
    matches!(
        cause,
        Some(Cause::RefreshTokenRevoked | Cause::PossiblyLostRotation)
    )
}

/// `token`, `scopes`, `refresh_token`, `last_error`: what is stored and what it means. The
/// stored tokens, when there are some.
pub fn token(
    warden: &Warden,
    p: &Profile,
    store: &dyn Store,
    checks: &mut Vec<Check>,
) -> Option<StoredTokens> {
    let stored = match store.read(&p.name) {
        Ok(Some(s)) => s,
        Ok(None) => {
            checks.push(not_logged_in(p));
            return None;
        }
        Err(e) => {
            checks.push(Check::from_error("token", &e));
            return None;
        }
    };
    let now = warden.clock().now();
    let t = &stored.tokens;
    let renewable = t.refresh_token.is_some() || p.grant == GrantType::ClientCredentials;
    let expiry = match t.expires_at {
        None => "does not expire".to_string(),
        Some(at) if t.is_expired(now) => {
            format!("expired {} ({})", ago(at, now), crate::human::timestamp(at))
        }
        Some(at) => format!(
            "expires in {} ({})",
            crate::human::duration(Duration::from_secs(
                t.remaining(now).unwrap_or_default().as_secs()
            )),
            crate::human::timestamp(at)
        ),
    };
    let check = match &stored.state {
        TokenState::LoginRequired { reason, cause } if refresh_token_refused(*cause) => {
            super::refusal::check(p, &stored, reason, store)
        }
        TokenState::LoginRequired { reason, cause } => Check::fail(
            "token",
            match (
                stored
                    .last_error
                    .as_ref()
                    .map(LastError::headline)
                    .filter(|e| !e.is_empty()),
                cause,
            ) {
                (Some(e), _) => {
                    format!("a new login is needed: {e} (the provider said: {reason})")
                }
                (None, Some(c)) => {
                    format!("a new login is needed: {} ({reason})", c.describe())
                }
                (None, None) => format!(
                    "a new login is needed: the provider refused to renew the tokens ({reason})"
                ),
            },
            login_fix(p),
        ),
        TokenState::Rejected => Check::warn(
            "token",
            format!(
                "the API rejected the current access token, which {expiry}; the next use refreshes it"
            ),
            "nothing to do unless it keeps happening; then see `tokenwarden events` (early revocation, or a token bound to another client)",
        ),
        TokenState::Valid if t.is_expired(now) && !renewable => Check::fail(
            "token",
            format!("the access token {expiry} and there is no refresh token to renew it"),
            login_fix(p),
        ),
        TokenState::Valid if t.is_expired(now) => Check::ok(
            "token",
            format!("the access token {expiry}; it is renewed on next use"),
        ),
        TokenState::Valid if !t.is_fresh(now, Duration::ZERO, p.refresh_skew) => Check::ok(
            "token",
            format!("the access token {expiry}: inside the refresh window, renewed on next use"),
        ),
        TokenState::Valid => Check::ok("token", format!("the access token is valid and {expiry}")),
    };
    checks.push(check);
    scopes(p, &stored, checks);
    refresh_token(p, &stored, now, checks);
    if let (Some(err), TokenState::Valid | TokenState::Rejected) =
        (&stored.last_error, &stored.state)
    {
        let when = stored
            .last_refresh_at
            .map(|t| format!(" ({})", ago(t, now)))
            .unwrap_or_default();
        checks.push(Check::warn(
            "last_error",
            format!("the last refresh attempt failed{when}: {}", err.headline()),
            format!(
                "the current token is still used; see `tokenwarden --profile {} events` for what happened",
                p.name
            ),
        ));
    }
    Some(stored)
}

fn scopes(p: &Profile, stored: &StoredTokens, checks: &mut Vec<Check>) {
    let granted = &stored.tokens.scopes;
    let missing: Vec<&String> = p.scopes.iter().filter(|s| !granted.contains(s)).collect();
    let shown = |v: &[String]| {
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.join(" ")
        }
    };
    let check = if missing.is_empty() {
        Check::ok("scopes", format!("granted: {}", shown(granted)))
    } else {
        Check::warn(
            "scopes",
            format!(
                "requested {} but granted {}: missing {}",
                shown(&p.scopes),
                shown(granted),
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            "the provider did not grant every scope: check the scopes the app may request at the provider, then log in again",
        )
    };
    checks.push(check);
}

fn refresh_token(p: &Profile, stored: &StoredTokens, now: SystemTime, checks: &mut Vec<Check>) {
    let t = &stored.tokens;
    let check = match (&t.refresh_token, p.grant) {
        (Some(_), _) => {
            let when = t
                .refresh_token_obtained_at
                .map(|at| {
                    format!(
                        "obtained {} ({})",
                        ago(at, now),
                        crate::human::timestamp(at)
                    )
                })
                .unwrap_or_else(|| "obtained at an unknown time".into());
            Check::ok("refresh_token", format!("present, {when}"))
        }
        (None, GrantType::ClientCredentials) => Check::ok(
            "refresh_token",
            "none needed: client credentials are presented again",
        ),
        (None, _) if t.expires_at.is_none() => Check::ok(
            "refresh_token",
            "none, and the access token does not expire",
        ),
        (None, _) => Check::warn(
            "refresh_token",
            "the provider gave no refresh token: when the access token expires, a new login is needed",
            "request offline access (scope offline_access, or the provider's equivalent) and log in again",
        ),
    };
    checks.push(check);
    if t.refresh_token.is_some() {
        refresh_token_expiry(p, stored, now, checks);
    }
}

/// `refresh_token_expiry`, when the refresh token's horizon is known ([`crate::horizon`]): fails
/// within the profile's `refresh_expiry_warning` of it, so that the new login is done before
/// every program using the profile stops at once.
fn refresh_token_expiry(
    p: &Profile,
    stored: &StoredTokens,
    now: SystemTime,
    checks: &mut Vec<Check>,
) {
    let Some(h) = crate::horizon::Horizon::at(
        stored.tokens.refresh_token_expires_at,
        now,
        p.refresh_expiry_warning,
    ) else {
        return;
    };
    let when = humantime::format_rfc3339_seconds(h.expires_at);
    checks.push(if h.expired() {
        Check::fail(
            "refresh_token_expiry",
            format!("the refresh token expired at {when}: a new login is needed"),
            login_fix(p),
        )
    } else if h.within_warning {
        Check::fail(
            "refresh_token_expiry",
            h.message(&p.name),
            format!(
                "{} now; the warning starts {} before (`refresh_expiry_warning`)",
                login_fix(p),
                crate::human::duration(p.refresh_expiry_warning)
            ),
        )
    } else {
        Check::ok(
            "refresh_token_expiry",
            format!(
                "the refresh token expires in {} (at {when}); warnings start {} before",
                crate::human::duration(Duration::from_secs(h.left.as_secs())),
                crate::human::duration(p.refresh_expiry_warning)
            ),
        )
    });
}

/// `failure_rate`: the 5xx rate of the last 15 minutes against `failure_rate_threshold`.
pub fn failure_rate(warden: &Warden, p: &Profile, store: &dyn Store, checks: &mut Vec<Check>) {
    let now = warden.clock().now();
    let rate = match crate::events::failure_rate(store, &p.name, p.failure_rate_threshold, now) {
        Ok(r) => r,
        Err(e) => {
            checks.push(Check::from_error("failure_rate", &e));
            return;
        }
    };
    let window = crate::human::duration(rate.window);
    let check = match rate.warning(&p.name) {
        Some(w) => Check::warn(
            "failure_rate",
            w,
            format!(
                "usually temporary; `tokenwarden --profile {} stats` shows the trend, and the provider's status page or its request ids confirm an incident",
                p.name
            ),
        ),
        None if rate.requests == 0 => Check::ok(
            "failure_rate",
            format!("no requests to the authorization server in the last {window}"),
        ),
        None => Check::ok(
            "failure_rate",
            format!(
                "{} of {} requests in the last {window} answered 5xx ({:.0}%; threshold {:.0}%)",
                rate.server_errors,
                rate.requests,
                rate.rate() * 100.0,
                rate.threshold * 100.0
            ),
        ),
    };
    checks.push(check);
}
