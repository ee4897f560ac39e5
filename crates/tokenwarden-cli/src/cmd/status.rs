//! `tokenwarden status`: every profile at a glance: logged in or not, expiry, scopes, refresh
//! token present, last refresh, state and last error. Reads only; never refreshes.

use super::Global;
use super::context;
use anyhow::Result;
use serde_json::json;
use tokenwarden::store::{Store as _, TokenState};

/// Arguments of `tokenwarden status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

/// Runs `tokenwarden status`.
pub async fn run(global: &Global, _args: StatusArgs) -> Result<()> {
    let w = context::warden(global)?;
    let store = w.store()?;
    let now = w.clock().now();
    let mut names = w.config().profile_names();
    for stored in store.list_profiles()? {
        if !names.contains(&stored) {
            names.push(stored);
        }
    }
    names.sort();
    let mut rows = Vec::new();
    for name in &names {
        let configured = w.config().has_profile(name);
        let row = match store.read(name)? {
            None => json!({
                "profile": name, "configured": configured, "logged_in": false,
                "state": "logged_out",
            }),
            Some(s) => {
                let t = &s.tokens;
                let state = match (&s.state, t.is_expired(now)) {
                    (TokenState::Valid, true) => "expired".to_string(),
                    (st, _) => st.as_str().to_string(),
                };
                json!({
                    "profile": name,
                    "configured": configured,
                    "logged_in": !matches!(s.state, TokenState::LoginRequired { .. }),
                    "state": state,
                    "expires_at": t.expires_at.map(context::rfc3339),
                    "expires_in_s": t.expires_at.map(|e| e.duration_since(now).map(|d| d.as_secs() as i64).unwrap_or_else(|e| -(e.duration().as_secs() as i64))),
                    "scope": t.scope_string(),
                    "refresh_token": t.refresh_token.is_some(),
                    "refresh_token_obtained_at": t.refresh_token_obtained_at.map(context::rfc3339),
                    "obtained_at": context::rfc3339(t.obtained_at),
                    "last_refresh_at": s.last_refresh_at.map(context::rfc3339),
                    "last_error": s.last_error,
                    "subject": t.subject,
                    "version": s.version.get(),
                })
            }
        };
        rows.push(row);
    }
    if global.json {
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    if rows.is_empty() {
        println!(
            "No profiles. Add one with `tokenwarden profile add NAME --issuer URL --client-id ID`."
        );
        return Ok(());
    }
    for r in &rows {
        let name = r["profile"].as_str().unwrap_or_default();
        let marker = if name == global.profile { "*" } else { " " };
        if r["logged_in"] == false && r["state"] == "logged_out" {
            println!("{marker} {name}: not logged in");
            continue;
        }
        let expires = match (r["expires_at"].as_str(), r["expires_in_s"].as_i64()) {
            (Some(_), Some(s)) if s > 0 => format!(
                "expires in {}",
                context::short(std::time::Duration::from_secs(s as u64))
            ),
            (Some(_), Some(s)) => format!(
                "expired {} ago",
                context::short(std::time::Duration::from_secs(s.unsigned_abs()))
            ),
            _ => "does not expire".into(),
        };
        println!(
            "{marker} {name}: {} — {expires}; scopes: {}; refresh token: {}",
            r["state"].as_str().unwrap_or_default(),
            r["scope"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("(none)"),
            if r["refresh_token"] == true {
                "yes"
            } else {
                "no"
            },
        );
        if let Some(t) = r["last_refresh_at"].as_str() {
            println!("    last refresh: {t}");
        }
        if let Some(e) = r["last_error"].as_str() {
            println!("    last error: {}", e.lines().next().unwrap_or(e));
        }
    }
    Ok(())
}
