//! `doctor`'s checks of the fleet store (when `[store] url` or `TOKENWARDEN_STORE_URL` names
//! one): `store` (the URL and the fleet key), `store_reachable`, `store_tls`, `store_schema`,
//! `store_privileges`, `store_key` and `store_clock` (this machine's clock against the
//! database's `clock_timestamp()`: the fleet's tokens carry times written by every machine).

use super::{Check, SKEW_FAIL, SKEW_WARN};
use crate::error::Error;
use crate::store::postgres::{FleetSettings, ServerFacts, SslMode, url::Host};
use crate::store::{PgStore, Store};
use crate::warden::{Backend, Warden};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Every check of the fleet store `settings` names. The store, when it can be used.
pub fn checks(
    warden: &Warden,
    settings: &FleetSettings,
    checks: &mut Vec<Check>,
) -> Option<Arc<dyn Store>> {
    let url = &settings.url;
    let store = match warden.backend() {
        Ok(Backend::Fleet(s)) => s,
        Ok(Backend::Local(_)) => return None,
        Err(e) => {
            checks.push(Check::from_error("store", &e));
            return None;
        }
    };
    checks.push(Check::ok(
        "store",
        format!(
            "the fleet store {} (sslmode {}), sealed with the fleet key from {}",
            url.redacted(),
            url.sslmode.as_str(),
            store.key_origin()
        ),
    ));
    let asked = SystemTime::now();
    let started = Instant::now();
    let facts = match store.server_facts() {
        Ok(f) => f,
        Err(e) => {
            checks.push(Check::from_error("store_reachable", &e));
            return None;
        }
    };
    let round_trip = started.elapsed();
    checks.push(Check::ok(
        "store_reachable",
        format!(
            "PostgreSQL {} at {} answered in {} ms",
            facts.version,
            url.host_port(),
            round_trip.as_millis()
        ),
    ));
    checks.push(tls(settings, &facts));
    let schema = schema(&facts);
    let usable = schema.status != super::Status::Fail;
    checks.push(schema);
    if facts.schema.is_some() {
        checks.push(privileges(settings, &facts));
    }
    if usable {
        checks.push(key(&store));
    }
    checks.push(clock(&facts, asked, round_trip));
    usable.then_some(store as Arc<dyn Store>)
}

fn tls(settings: &FleetSettings, facts: &ServerFacts) -> Check {
    let url = &settings.url;
    if facts.tls {
        return Check::ok(
            "store_tls",
            format!(
                "the connection is encrypted (TLS; the certificate checked against {})",
                match &url.sslrootcert {
                    Some(p) => format!("the CA certificates of {}", p.display()),
                    None => "the system's CA certificates".to_string(),
                }
            ),
        );
    }
    let local = match &url.host {
        Host::Socket(_) => true,
        Host::Tcp(h) => {
            h == "localhost"
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    };
    if local {
        Check::ok(
            "store_tls",
            "the connection is not encrypted: the database is on this machine (loopback or a Unix socket)",
        )
    } else {
        let why = if url.sslmode == SslMode::Disable {
            "sslmode=disable"
        } else {
            "the server offers no TLS"
        };
        Check::warn(
            "store_tls",
            format!(
                "the connection to {} is not encrypted ({why})",
                url.host_port()
            ),
            "tokens are sealed, but the database login and the event log are not: enable ssl on the server and use sslmode=verify-full (with sslrootcert=/path/ca.crt for a private CA)",
        )
    }
}

fn schema(facts: &ServerFacts) -> Check {
    let supported = facts.schema_supported;
    match facts.schema {
        Some(v) if v == supported => Check::ok("store_schema", format!("schema version {v}")),
        Some(v) if v > supported => Check::fail(
            "store_schema",
            format!("schema version {v}, newer than this build knows ({supported})"),
            "upgrade tokenwarden on this machine: every machine sharing the store needs a build that knows its schema",
        ),
        Some(v) => Check::warn(
            "store_schema",
            format!("schema version {v}, older than this build's {supported}"),
            "run `tokenwarden store migrate` (the first use migrates too unless `auto_migrate = false`)",
        ),
        None => Check::warn(
            "store_schema",
            "the database has no tokenwarden tables yet",
            "run `tokenwarden store migrate` (the first login creates them too unless `auto_migrate = false`)",
        ),
    }
}

fn privileges(settings: &FleetSettings, facts: &ServerFacts) -> Check {
    if facts.missing_privileges.is_empty() {
        return Check::ok(
            "store_privileges",
            format!(
                "user `{}` may read and write every table of the store",
                settings.url.user
            ),
        );
    }
    Check::fail(
        "store_privileges",
        format!(
            "user `{}` lacks: {}",
            settings.url.user,
            facts.missing_privileges.join(", ")
        ),
        format!(
            "as the tables' owner: GRANT SELECT, INSERT, UPDATE, DELETE ON tw_tokens, tw_breaker, tw_events, tw_meta, tw_schema TO \"{u}\"; GRANT USAGE, UPDATE ON SEQUENCE tw_version, tw_events_id_seq TO \"{u}\"",
            u = settings.url.user
        ),
    )
}

fn key(store: &PgStore) -> Check {
    match store.check() {
        Ok(()) => Check::ok(
            "store_key",
            format!(
                "the fleet key from {} opens the store's key check",
                store.key_origin()
            ),
        ),
        Err(e) => Check::from_error("store_key", &e),
    }
}

fn clock(facts: &ServerFacts, asked: SystemTime, round_trip: Duration) -> Check {
    // The server read its clock about halfway through the round trip.
    let local = asked + round_trip / 2;
    let (skew, ahead) = match local.duration_since(facts.now) {
        Ok(d) => (d, true),
        Err(e) => (e.duration(), false),
    };
    let how = format!(
        "this machine's clock is {:.1} s {} the database's",
        skew.as_secs_f64(),
        if ahead { "ahead of" } else { "behind" }
    );
    let fix = "synchronise the clocks (NTP: `timedatectl set-ntp true`, chrony): every machine of the fleet judges expiry by the times the others wrote";
    if skew > SKEW_FAIL {
        Check::fail("store_clock", how, fix)
    } else if skew > SKEW_WARN {
        Check::warn("store_clock", how, fix)
    } else {
        Check::ok("store_clock", how)
    }
}

/// The `store` check for a fleet configuration that does not parse.
pub fn settings_error(err: &Error) -> Check {
    Check::from_error("store", err)
}
