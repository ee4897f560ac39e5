//! `tokenwarden-bench fill-events`: brings the token-operation log of `$TOKENWARDEN_HOME` to its
//! retention cap ([`tokenwarden::events::MAX_EVENTS`] records), through the store's public
//! `append_event`, as a long-used home has it. The records look like a busy profile's: mostly
//! refreshes that went well, some retried attempts, invalidations and lock waits, spread over
//! the last week (inside the retention age, so none is pruned for its age).

use crate::PROFILE;
use crate::login::report;
use anyhow::{Result, ensure};
use std::time::{Duration, SystemTime};
use tokenwarden::events::{MAX_EVENTS, Operation, Outcome};
use tokenwarden::paths::Paths;
use tokenwarden::store::{Event, Store};
use tokenwarden::warden::Warden;

/// How far back the records go.
const SPREAD: Duration = Duration::from_secs(7 * 24 * 3600);

/// Appends records until the log holds [`MAX_EVENTS`], then checks that it does.
pub fn fill() -> Result<()> {
    let warden = Warden::open(Paths::from_env().map_err(report)?).map_err(report)?;
    // A home made by `setup`, not a new one created here by mistake.
    warden.profile(PROFILE).map_err(report)?;
    let store = warden.store().map_err(report)?;
    let have = count(store.as_ref())?;
    let missing = MAX_EVENTS.saturating_sub(have);
    let now = SystemTime::now();
    for i in 0..missing {
        // Oldest first, so the log stays in time order.
        let back = SPREAD.mul_f64((missing - i) as f64 / missing as f64);
        store.append_event(&record(i, now - back)).map_err(report)?;
    }
    let total = count(store.as_ref())?;
    ensure!(
        total == MAX_EVENTS,
        "the event log holds {total} records after filling, not {MAX_EVENTS}"
    );
    println!("event log: {total} records (added {missing})");
    Ok(())
}

/// How many records the log holds (asking for one more than the cap, to see an excess).
fn count(store: &dyn Store) -> Result<usize> {
    Ok(store
        .recent_events(SystemTime::UNIX_EPOCH, None, MAX_EVENTS + 1)
        .map_err(report)?
        .len())
}

/// The `i`th record: 1 in 50 a retried attempt, 1 in 100 an invalidation, 1 in 200 a lock
/// wait, else a refresh that went well.
fn record(i: usize, at: SystemTime) -> Event {
    let (operation, outcome, status) = match i {
        i if i % 200 == 0 => (Operation::LockWait, Outcome::Ok, None),
        i if i % 100 == 0 => (Operation::Invalidate, Outcome::Ok, None),
        i if i % 50 == 0 => (Operation::Refresh, Outcome::Retried, Some(503)),
        _ => (Operation::Refresh, Outcome::Ok, Some(200)),
    };
    let mut e = Event::new(at, PROFILE, operation, outcome);
    e.status = status;
    e.request_id = status.map(|_| format!("req-{i:08x}"));
    e.correlation_id = Some(format!("tw-bench{i:08x}"));
    e.duration = Some(Duration::from_millis(15 + (i % 20) as u64));
    e
}
