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
    for row in table(&list, args.all) {
        out.out(row)?;
    }
    Ok(())
}

/// The records as aligned columns under a header; `-` where a record has nothing to say. A HOST
/// column is shown when any record names the machine it came from (the fleet store).
fn table(list: &[Event], with_profile: bool) -> Vec<String> {
    let with_host = list.iter().any(|e| e.host.is_some());
    let mut header = vec!["TIME"];
    if with_host {
        header.push("HOST");
    }
    if with_profile {
        header.push("PROFILE");
    }
    header.extend([
        "OPERATION",
        "OUTCOME",
        "HTTP",
        "MS",
        "TRY",
        "OAUTH ERROR",
        "REQUEST ID",
        "CORRELATION ID",
    ]);
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    let dash = || "-".to_string();
    for e in list {
        let mut row = vec![context::rfc3339_millis(e.at)];
        if with_host {
            row.push(
                e.host
                    .as_deref()
                    .map_or_else(dash, |h| one_line(h).into_owned()),
            );
        }
        if with_profile {
            row.push(one_line(&e.profile).into_owned());
        }
        row.push(e.operation.to_string());
        row.push(e.outcome.to_string());
        row.push(e.status.map_or_else(dash, |s| s.to_string()));
        row.push(e.duration.map_or_else(dash, |d| d.as_millis().to_string()));
        row.push(e.attempt.to_string());
        row.push(
            e.oauth_error
                .as_ref()
                .map_or_else(dash, |o| one_line(&o.to_string()).into_owned()),
        );
        row.push(
            e.request_id
                .as_deref()
                .map_or_else(dash, |r| one_line(r).into_owned()),
        );
        row.push(e.correlation_id.clone().unwrap_or_else(dash));
        rows.push(row);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}
