//! `tokenwarden events`: the token-operation log of the profile (or of every profile with
//! `--all`) since a time: one line per operation with its outcome, HTTP status, OAuth error,
//! duration, attempt, the provider's request id and our correlation id; or a JSON array.

use super::Global;
use super::context::{self, parse_duration};
use crate::json;
use crate::output::Printer;
use crate::output::escape::one_line;
use anyhow::Result;
use std::time::Duration;
use tokenwarden::events;
use tokenwarden::store::Event;

/// Arguments of `tokenwarden events`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show the operations of this long ago and since (e.g. 15m, 2h, 7d).
    #[arg(long, value_parser = parse_duration, default_value = "24h", value_name = "DURATION")]
    since: Duration,
    /// Show every profile's operations, not only the selected profile's.
    #[arg(long)]
    all: bool,
}

/// One record as JSON.
fn event_json(e: &Event) -> json::Event {
    json::Event {
        at: context::rfc3339_millis(e.at),
        profile: e.profile.clone(),
        operation: e.operation.to_string(),
        outcome: e.outcome.to_string(),
        status: e.status,
        oauth_error: e.oauth_error.as_ref().map(ToString::to_string),
        request_id: e.request_id.clone(),
        correlation_id: e.correlation_id.clone(),
        duration_ms: e.duration.map(|d| d.as_millis() as u64),
        attempt: e.attempt,
        host: e.host.clone(),
    }
}

/// Runs `tokenwarden events`.
pub async fn run(global: &Global, out: &Printer, args: Args) -> Result<()> {
    let w = context::warden(global)?;
    let store = w.store()?;
    let now = w.clock().now();
    let since = now.checked_sub(args.since).unwrap_or(std::time::UNIX_EPOCH);
    let profile = (!args.all).then_some(global.profile.as_str());
    let list = events::load(store.as_ref(), since, profile)?;
    if out.json() {
        let rows: Vec<json::Event> = list.iter().map(event_json).collect();
        out.print_json(&rows)?;
        return Ok(());
    }
    if list.is_empty() {
        let whose = match profile {
            Some(p) => format!("profile `{p}`"),
            None => "any profile".to_string(),
        };
        out.out(format!(
            "No token operations of {whose} in the last {}.",
            context::short(args.since)
        ))?;
        return Ok(());
    }
    for e in &list {
        out.out(line(e, args.all))?;
    }
    Ok(())
}

/// One record as a line.
fn line(e: &Event, with_profile: bool) -> String {
    let mut parts = vec![context::rfc3339_millis(e.at)];
    if let Some(host) = &e.host {
        parts.push(one_line(host).into_owned());
    }
    if with_profile {
        parts.push(e.profile.clone());
    }
    parts.push(format!("{:<20}", e.operation));
    parts.push(format!("{:<20}", e.outcome));
    if let Some(s) = e.status {
        parts.push(format!("HTTP {s}"));
    }
    if let Some(o) = &e.oauth_error {
        parts.push(one_line(&o.to_string()).into_owned());
    }
    if let Some(d) = e.duration {
        parts.push(format!("{} ms", d.as_millis()));
    }
    if e.attempt > 1 {
        parts.push(format!("attempt {}", e.attempt));
    }
    if let Some(r) = &e.request_id {
        parts.push(format!("request id {}", one_line(r)));
    }
    if let Some(c) = &e.correlation_id {
        parts.push(c.clone());
    }
    parts.join("  ").trim_end().to_string()
}
