//! `tokenwarden stats`: what the token-operation log says about a profile (or every profile with
//! `--all`) since a time: counts by operation and outcome, refresh latency p50/p99, the 5xx rate,
//! forced logins; and whether the 5xx rate of the last 15 minutes passes the profile's
//! `failure_rate_threshold`.

use super::Global;
use super::context::{self, parse_duration};
use crate::json;
use crate::output::Printer;
use anyhow::Result;
use std::time::Duration;
use tokenwarden::events::{self, Stats};

/// Arguments of `tokenwarden stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Count the operations of this long ago and since (e.g. 15m, 2h, 7d).
    #[arg(long, value_parser = parse_duration, default_value = "24h", value_name = "DURATION")]
    since: Duration,
    /// Count every profile's operations, not only the selected profile's.
    #[arg(long)]
    all: bool,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Runs `tokenwarden stats`.
pub async fn run(global: &Global, out: &Printer, args: Args) -> Result<()> {
    let w = context::warden(global)?;
    let store = w.store()?;
    let now = w.clock().now();
    let since = now.checked_sub(args.since).unwrap_or(std::time::UNIX_EPOCH);
    let profile = (!args.all).then_some(global.profile.as_str());
    let stats = Stats::of(&events::load(store.as_ref(), since, profile)?);
    let alert = match profile {
        Some(name) => Some(w.failure_rate(name)?),
        None => None,
    };
    if out.json() {
        out.print_json(&json::Stats {
            profile,
            since: context::rfc3339(since),
            events: stats.events,
            by_operation: stats
                .by_operation
                .iter()
                .map(|(op, outcomes)| {
                    let outcomes = outcomes.iter().map(|(o, n)| (o.to_string(), *n));
                    (op.to_string(), outcomes.collect())
                })
                .collect(),
            by_outcome: stats
                .by_outcome
                .iter()
                .map(|(o, n)| (o.to_string(), *n))
                .collect(),
            refresh_latency: stats.refresh_latency.as_ref().map(|l| json::Latency {
                samples: l.samples,
                p50_ms: ms(l.p50),
                p99_ms: ms(l.p99),
                max_ms: ms(l.max),
            }),
            token_requests: stats.token_requests,
            server_errors: stats.server_errors,
            server_error_rate: stats.server_error_rate(),
            forced_logins: stats.forced_logins,
            resource_rejections: stats.resource_rejections,
            lock_waits: stats.lock_waits,
            by_host: stats
                .by_host
                .iter()
                .map(|(host, c)| {
                    (
                        host.clone(),
                        json::HostCounts {
                            events: c.events,
                            refreshes: c.renewals,
                        },
                    )
                })
                .collect(),
            failure_rate_15m: alert.as_ref().map(|a| json::FailureRate {
                window_s: a.window.as_secs(),
                requests: a.requests,
                server_errors: a.server_errors,
                rate: a.rate(),
                threshold: a.threshold,
                exceeded: a.exceeded(),
            }),
        })?;
        return Ok(());
    }
    let whose = match profile {
        Some(p) => format!("profile `{p}`"),
        None => "all profiles".to_string(),
    };
    out.out(format!(
        "Token operations of {whose} in the last {}: {}",
        context::short(args.since),
        stats.events
    ))?;
    for (op, outcomes) in &stats.by_operation {
        let list: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o} {n}")).collect();
        out.out(format!("  {op:<20} {}", list.join(", ")))?;
    }
    match &stats.refresh_latency {
        Some(l) => out.out(format!(
            "Refresh latency: p50 {} ms, p99 {} ms, max {} ms ({} refreshes)",
            ms(l.p50),
            ms(l.p99),
            ms(l.max),
            l.samples
        ))?,
        None => out.out("Refresh latency: no refreshes")?,
    }
    match stats.server_error_rate() {
        Some(r) => out.out(format!(
            "5xx rate: {} of {} requests to the authorization server ({:.1}%)",
            stats.server_errors,
            stats.token_requests,
            r * 100.0
        ))?,
        None => out.out("5xx rate: no requests to the authorization server")?,
    }
    out.out(format!("Forced logins: {}", stats.forced_logins))?;
    if !stats.by_host.is_empty() {
        let hosts: Vec<String> = stats
            .by_host
            .iter()
            .map(|(host, c)| {
                format!(
                    "{} ({} operations, {} refreshes)",
                    crate::output::escape::one_line(host),
                    c.events,
                    c.renewals
                )
            })
            .collect();
        out.out(format!("Machines: {}", hosts.join(", ")))?;
    }
    if stats.resource_rejections > 0 || stats.lock_waits > 0 {
        out.out(format!(
            "Resource 401s: {}; lock waits: {}",
            stats.resource_rejections, stats.lock_waits
        ))?;
    }
    if let (Some(a), Some(name)) = (&alert, profile)
        && let Some(warning) = a.warning(name)
    {
        out.warning(&warning);
    }
    Ok(())
}
