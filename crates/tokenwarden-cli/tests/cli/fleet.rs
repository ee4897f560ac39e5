//! The fleet store: "machines" (separate TOKENWARDEN_HOMEs that share only the database URL and
//! the fleet key, both in their config.toml's `[store]`) running the real binary against a real
//! PostgreSQL (a throwaway cluster, see `pg`) and mockauth with rotation on and reuse grace 0.
//!
//! One login serves every machine; the fleet refreshes once per expiry window with no reuse and
//! no failed call; a database restart mid-run fails no call while tokens are valid; the lock
//! holder killed with `kill -9` mid-refresh lets the others proceed; a wrong key, an
//! unreachable database and a newer schema are each a clear error that loses nothing; logins
//! move between a machine's file and the fleet store; `doctor` checks the fleet store; a
//! revocation a logout on one machine left pending is asked again by another's `doctor`.

use crate::login::{Mock, Running, home_with, login_browser, web_profile};
use crate::pg::{Cluster, Database};
use crate::sessions::{P, all_ok, invalid_grants, kill9, mock, one_client_needs, wait_for};
use crate::util::{Env, Run};
use std::time::{Duration, Instant};
use tokenwarden::paths::Paths;
use tokenwarden::store::postgres::{FleetSettings, StoreUrl};
use tokenwarden::store::{PgStore, Store as _, StoreKey};

/// The fleet key every machine of a test shares.
const KEY: &str = "5f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// A machine: a home whose config.toml has profile [`P`] on `mock` (with `profile_extra`),
/// and a `[store]` naming the fleet key file (0600, beside it), the database `url` when given,
/// and `store_extra`.
fn home(mock: &Mock, url: Option<&str>, profile_extra: &str, store_extra: &str) -> Env {
    let url = url.map(|u| format!("url = \"{u}\"\n")).unwrap_or_default();
    let env = home_with(&[format!(
        "{}{profile_extra}[store]\n{url}key_file = \"fleet.key\"\n{store_extra}",
        web_profile(P, &mock.issuer())
    )]);
    let key = env.home().join("fleet.key");
    std::fs::write(&key, KEY).expect("write the key file");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    env
}

/// A machine of the fleet at `url`.
fn machine(mock: &Mock, url: &str, profile_extra: &str) -> Env {
    home(mock, Some(url), profile_extra, "")
}

/// The fleet store as a machine opens it (with the library).
fn fleet_store(env: &Env, url: &str) -> PgStore {
    let settings = FleetSettings {
        url: StoreUrl::parse(url).expect("the URL parses"),
        key_file: None,
        auto_migrate: true,
    };
    PgStore::open_with_key(
        &Paths::in_dir(env.home()),
        &settings,
        StoreKey::parse(KEY).expect("the key parses"),
    )
    .expect("the fleet store opens")
}

const TOKEN: [&str; 5] = ["--profile", P, "token", "--min-ttl", "0s"];

/// Every machine's `workers` threads run `token` (one process each time, paced every 50 ms)
/// while `go()` says so; every run's result, with the machine's index.
fn fleet_loop(
    machines: &[Env],
    workers: usize,
    go: impl Fn() -> bool + Sync,
    seen: impl Fn(&Run) + Sync,
) -> Vec<(usize, Instant, Run)> {
    std::thread::scope(|scope| {
        let (go, seen) = (&go, &seen);
        let handles: Vec<_> = machines
            .iter()
            .enumerate()
            .flat_map(|(m, env)| {
                (0..workers).map(move |_| {
                    scope.spawn(move || {
                        let mut runs = Vec::new();
                        while go() {
                            let at = Instant::now();
                            let run = env.run(&TOKEN);
                            seen(&run);
                            runs.push((m, at, run));
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        runs
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    })
}

fn fleet(cluster: &Cluster, mock: &Mock, n: usize) -> (Database, Vec<Env>) {
    let db = cluster.database();
    let machines = (0..n).map(|_| machine(mock, &db.url, "")).collect();
    (db, machines)
}

#[test]
fn a_login_on_one_machine_serves_the_fleet_with_one_refresh_per_window() {
    let Some(cluster) = crate::pg::shared() else {
        return;
    };
    let ttl = Duration::from_secs(4);
    let mock = mock(ttl, Duration::ZERO);
    let (_db, machines) = fleet(cluster, &mock, 3);
    // The first use sets the store up; machine A logs in; B and C do nothing but use it.
    login_browser(&machines[0], &mock, P).code(0);
    for m in &machines[1..] {
        let run = m.run(&TOKEN);
        run.code(0);
        assert!(run.stdout.trim().starts_with("mat_"), "{}", run.stdout);
    }
    let before = mock.server.stats();
    let start = Instant::now();
    let runs = fleet_loop(
        &machines,
        4,
        || start.elapsed() < Duration::from_secs(20),
        |_| {},
    );
    let elapsed = start.elapsed();
    let after = mock.server.stats();
    let runs: Vec<Run> = runs.into_iter().map(|(_, _, r)| r).collect();
    all_ok(&runs);
    let refreshes = after.token_requests.refresh_token - before.token_requests.refresh_token;
    let windows = one_client_needs(elapsed, ttl);
    eprintln!(
        "3 machines x 4 processes: {} calls, {refreshes} refreshes in {elapsed:?} ({windows} expiry windows + 1 allowed)",
        runs.len()
    );
    assert!(
        refreshes <= windows + 1,
        "{refreshes} refreshes for {windows} expiry windows across the fleet"
    );
    assert!(
        refreshes >= 5,
        "{refreshes} refreshes: the run crossed few windows"
    );
    assert_eq!(after.refresh_reuse_detected, 0);
    assert_eq!(invalid_grants(&after), 0, "{:?}", after.token_errors);
    // Every machine's events are in the one log, each naming its host.
    let events = machines[2].run(&["--json", "events", "--all"]);
    events.code(0);
    let list = events.json();
    let list = list.as_array().expect("an array");
    assert!(
        list.iter()
            .filter(|e| e["operation"] == "refresh")
            .all(|e| e["host"].is_string()),
        "{list:?}"
    );
}

#[test]
fn a_new_login_on_one_machine_reaches_the_others_with_no_action() {
    let Some(cluster) = crate::pg::shared() else {
        return;
    };
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let (_db, machines) = fleet(cluster, &mock, 3);
    // B and C are set up before anyone logged in: they say so.
    machines[1].run(&TOKEN).code(3);
    login_browser(&machines[0], &mock, P).code(0);
    let first = machines[1].run(&TOKEN);
    first.code(0);
    assert_eq!(machines[2].run(&TOKEN).stdout, first.stdout);
    // A logs in again: B and C use the new login at once.
    login_browser(&machines[0], &mock, P).code(0);
    let second = machines[2].run(&TOKEN);
    second.code(0);
    assert_ne!(second.stdout, first.stdout);
    assert_eq!(machines[1].run(&TOKEN).stdout, second.stdout);
    // A logout on C logs out the fleet.
    machines[2]
        .run(&["--profile", P, "logout", "--local-only"])
        .code(0);
    machines[0].run(&TOKEN).code(3);
}

#[test]
fn a_database_restart_mid_run_fails_no_call_while_tokens_are_valid() {
    // A cluster of its own: it is restarted.
    let Some(cluster) = Cluster::start() else {
        return;
    };
    // Tokens live 8 s and are refreshed from half their life, so the token in use always has
    // seconds left: longer than the restart takes.
    let mock = mock(Duration::from_secs(8), Duration::ZERO);
    let (_db, machines) = fleet(&cluster, &mock, 3);
    login_browser(&machines[0], &mock, P).code(0);
    for m in &machines {
        m.run(&TOKEN).code(0);
    }
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let refreshes = || mock.server.stats().token_requests.refresh_token;
    let (restarted, served_from_copy) = (AtomicBool::new(false), AtomicU64::new(0));
    let refreshes_at_restart = AtomicU64::new(u64::MAX);
    let start = Instant::now();
    let runs = std::thread::scope(|scope| {
        let workers = scope.spawn(|| {
            fleet_loop(
                &machines,
                2,
                // Until the fleet refreshed through the restarted database (or a minute).
                || {
                    start.elapsed() < Duration::from_secs(60)
                        && !(restarted.load(Ordering::SeqCst)
                            && refreshes() > refreshes_at_restart.load(Ordering::SeqCst))
                },
                |run| {
                    if run.stderr.contains("this machine last saw") {
                        served_from_copy.fetch_add(1, Ordering::SeqCst);
                    }
                },
            )
        });
        let before = refreshes();
        wait_for("a refresh through the database", || refreshes() > before);
        cluster.stop();
        wait_for("calls served while the database is down", || {
            served_from_copy.load(Ordering::SeqCst) >= 6
        });
        cluster.start_again();
        refreshes_at_restart.store(refreshes(), Ordering::SeqCst);
        restarted.store(true, Ordering::SeqCst);
        workers.join().expect("workers")
    });
    assert!(
        refreshes() > refreshes_at_restart.load(Ordering::SeqCst),
        "no refresh after the restart"
    );
    let degraded = runs
        .iter()
        .filter(|(_, _, r)| r.stderr.contains("this machine last saw"))
        .count();
    let runs: Vec<Run> = runs.into_iter().map(|(_, _, r)| r).collect();
    all_ok(&runs);
    eprintln!(
        "{} calls, {degraded} served from a machine's copy while the database was down",
        runs.len()
    );
    assert!(degraded > 0, "no call met the database down");
    let after = mock.server.stats();
    assert_eq!(after.refresh_reuse_detected, 0);
    assert_eq!(invalid_grants(&after), 0, "{:?}", after.token_errors);
}

#[test]
fn the_lock_holder_killed_mid_refresh_lets_another_machine_proceed() {
    let Some(cluster) = crate::pg::shared() else {
        return;
    };
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let db = cluster.database();
    // A wait bound that a test can see pass: the others proceed well within it.
    let extra = "lock_wait = \"20s\"\n";
    let a = machine(&mock, &db.url, extra);
    let b = machine(&mock, &db.url, extra);
    login_browser(&a, &mock, P).code(0);
    let store = fleet_store(&a, &db.url);
    let reject = || {
        let v = store.read(P).unwrap().expect("stored").version;
        assert!(store.mark_rejected(P, v).unwrap());
    };
    reject();
    // A's refresh reaches mockauth and is held there (never processed); A holds the lock.
    mock.server
        .set_faults(
            mockauth::FaultPlan::default().with(
                mockauth::Endpoint::Token,
                mockauth::FaultSpec::status(503)
                    .latency(Duration::from_secs(30))
                    .count(1),
            ),
        )
        .unwrap();
    let requests = mock.server.stats().token_requests.refresh_token;
    let holder = Running::spawn(&a, &TOKEN, &[]);
    wait_for("A's refresh to reach mockauth", || {
        mock.server.stats().token_requests.refresh_token > requests
    });
    // B waits for the lock (its token is rejected: nothing to use meanwhile).
    let waiter = Running::spawn(&b, &TOKEN, &[]);
    kill9(holder.pid());
    let _ = holder.finish();
    let done = waiter.finish();
    done.code(0);
    assert!(done.stdout.trim().starts_with("mat_"), "{}", done.stdout);
    let after = mock.server.stats();
    assert_eq!(after.refresh_reuse_detected, 0);
    assert_eq!(invalid_grants(&after), 0, "{:?}", after.token_errors);
    // A's next process uses B's refresh.
    let next = a.run(&TOKEN);
    next.code(0);
    assert_eq!(next.stdout, done.stdout);
}

#[test]
fn a_wrong_key_an_unreachable_database_and_a_newer_schema_are_clear_and_lose_nothing() {
    let Some(cluster) = crate::pg::shared() else {
        return;
    };
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let db = cluster.database();
    let a = machine(&mock, &db.url, "");
    login_browser(&a, &mock, P).code(0);
    let good = a.run(&TOKEN);
    good.code(0);

    // A machine with another key: refused, exit 6, and the store is untouched.
    let other_key = "0000000000000000000000000000000000000000000000000000000000000001";
    let wrong = a.run_env(&TOKEN, &[("TOKENWARDEN_KEY", other_key)]);
    wrong.code(6);
    assert!(
        wrong
            .stderr
            .contains("sealed with a different key than TOKENWARDEN_KEY"),
        "{}",
        wrong.stderr
    );

    // An unreachable database, no valid copy on this machine (a fresh home): exit 6, the
    // host and port named, no password shown.
    let fresh = machine(&mock, "postgres://tw:hunter2@127.0.0.1:1/fleet", "");
    let down = fresh.run_env(&TOKEN, &[("PGPASSWORD", "s3cr3t-pw")]);
    down.code(6);
    assert!(
        down.stderr
            .contains("cannot reach the fleet store at host 127.0.0.1 port 1"),
        "{}",
        down.stderr
    );
    assert!(down.stderr.contains("pg_isready"), "{}", down.stderr);
    for secret in ["hunter2", "s3cr3t-pw"] {
        assert!(!down.stderr.contains(secret), "{}", down.stderr);
    }
    // The same with a copy still valid on this machine: served, with a warning.
    let unreachable_a = a.run_env(
        &TOKEN,
        &[(
            "TOKENWARDEN_STORE_URL",
            "postgres://postgres@127.0.0.1:1/fleet",
        )],
    );
    unreachable_a.code(0);
    assert_eq!(unreachable_a.stdout, good.stdout);
    assert!(
        unreachable_a.stderr.contains("this machine last saw"),
        "{}",
        unreachable_a.stderr
    );

    // A schema from a newer tokenwarden: refused with the fix, nothing written.
    let current = cluster.psql(&db.name, "SELECT version FROM tw_schema");
    cluster.psql(&db.name, "UPDATE tw_schema SET version = 99");
    let newer = a.run(&TOKEN);
    newer.code(6);
    assert!(
        newer
            .stderr
            .contains("set up by a newer tokenwarden (schema 99"),
        "{}",
        newer.stderr
    );
    assert_eq!(
        cluster.psql(&db.name, "SELECT version FROM tw_schema"),
        "99"
    );
    cluster.psql(
        &db.name,
        &format!("UPDATE tw_schema SET version = {current}"),
    );
    let again = a.run(&TOKEN);
    again.code(0);
    assert_eq!(again.stdout, good.stdout, "the login survived");
}

#[test]
fn store_copy_moves_a_login_into_the_fleet_and_back() {
    let Some(cluster) = crate::pg::shared() else {
        return;
    };
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let db = cluster.database();
    // A machine that has used its own file so far; the operator gave it the fleet key file.
    let local = home(&mock, None, "", "");
    login_browser(&local, &mock, P).code(0);
    let token = local.run(&TOKEN);
    token.code(0);
    let copied = local.run(&["--json", "store", "copy", "--to", &db.url]);
    copied.code(0);
    let doc = copied.json();
    assert_eq!(doc["copied"], serde_json::json!([P]), "{doc}");
    assert_eq!(doc["removed_from_source"], true);
    // The local file no longer has it; the fleet has, with no new login.
    local.run(&TOKEN).code(3);
    let member = machine(&mock, &db.url, "");
    let used = member.run(&TOKEN);
    used.code(0);
    assert_eq!(used.stdout, token.stdout);
    // And back into a machine's own file.
    let leaving = home(&mock, None, "", "");
    leaving
        .run(&["store", "copy", "--from", &db.url, "--to", "local"])
        .code(0);
    let back = leaving.run(&TOKEN);
    back.code(0);
    assert_eq!(back.stdout, token.stdout);
    member.run(&TOKEN).code(3);
}

#[test]
fn store_migrate_and_doctor_check_the_fleet_store() {
    let Some(cluster) = crate::pg::shared() else {
        return;
    };
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let db = cluster.database();
    let a = home(&mock, Some(&db.url), "", "auto_migrate = false\n");
    // Not set up, and not allowed to set itself up: says what to run.
    let early = a.run(&TOKEN);
    early.code(6);
    assert!(
        early.stderr.contains("has no tokenwarden tables yet")
            && early.stderr.contains("tokenwarden store migrate"),
        "{}",
        early.stderr
    );
    let migrated = a.run(&["store", "migrate"]);
    migrated.code(0);
    assert!(
        migrated.stdout.contains("(schema 4)"),
        "{}",
        migrated.stdout
    );
    let again = a.run(&["store", "migrate"]);
    again.code(0);
    assert!(again.stdout.contains("up to date"), "{}", again.stdout);
    login_browser(&a, &mock, P).code(0);
    let doctor = a.run(&["--json", "--profile", P, "doctor", "--offline"]);
    let doc = doctor.json();
    let checks = doc["profiles"][0]["checks"].as_array().expect("checks");
    for name in [
        "store",
        "store_reachable",
        "store_tls",
        "store_schema",
        "store_privileges",
        "store_key",
        "store_clock",
    ] {
        let check = checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check: {doc}"));
        assert_eq!(check["status"], "ok", "{name}: {check}");
    }
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == "token" && c["status"] == "ok"),
        "{doc}"
    );
}

#[test]
fn a_revocation_a_logout_left_pending_is_asked_again_from_another_machine() {
    let Some(cluster) = crate::pg::shared() else {
        return;
    };
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let db = cluster.database();
    let a = machine(&mock, &db.url, "max_attempts = 1\n");
    let b = machine(&mock, &db.url, "max_attempts = 1\n");
    login_browser(&a, &mock, P).code(0);
    let token = a.run(&TOKEN);
    token.code(0);
    let access = token.stdout.trim().to_string();
    mock.server
        .set_faults(
            mockauth::FaultPlan::default()
                .with(mockauth::Endpoint::Revoke, mockauth::FaultSpec::status(503)),
        )
        .expect("valid plan");
    let logout = a.run(&["--profile", P, "--json", "logout"]);
    logout.code(0);
    assert_eq!(
        logout.json()["pending"],
        serde_json::json!(["refresh token", "access token"]),
        "{}",
        logout.stderr
    );
    // The fleet is logged out; what is owed to the provider is kept in the database.
    b.run(&TOKEN).code(3);
    assert_eq!(
        fleet_store(&b, &db.url)
            .pending_revocations(P)
            .expect("lists")
            .len(),
        2
    );
    assert_eq!(
        mock.resource_status(&access),
        200,
        "still live, as reported"
    );
    // Another machine's doctor asks again once the provider answers.
    mock.server.clear_faults();
    let doctor = b.run(&["--profile", P, "doctor"]);
    assert!(
        doctor
            .stdout
            .contains("revoked 2 tokens an earlier logout could not"),
        "{}",
        doctor.stdout
    );
    assert_eq!(
        mock.resource_status(&access),
        401,
        "the access token is dead"
    );
    assert!(
        fleet_store(&a, &db.url)
            .pending_revocations(P)
            .expect("lists")
            .is_empty()
    );
}
