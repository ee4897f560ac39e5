//! The event log through the real binary: `events --since` and `stats --since` filter by time
//! and profile, and every kind of operation is recorded with its evidence and the command's
//! correlation id: a resource 401 and the invalidation and refresh it causes, a
//! client-credentials grant, a logout with its revocations. (Lock waits are recorded by the
//! session: see the library's `correlation` tests.)

use crate::login_util::{Mock, home_with, login_browser, svc_profile, web_profile};
use crate::util::Env;
use serde_json::Value;
use std::time::{Duration, SystemTime};
use tokenwarden::ErrorKind;
use tokenwarden::store::{Event, KeySource, Operation, Outcome, SqliteStore, Store as _};

const P: &str = "d";

fn events(env: &Env, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["--profile", P, "events", "--json"];
    full.extend_from_slice(args);
    let r = env.run(&full);
    r.code(0);
    r.json().as_array().cloned().expect("an array")
}

fn stats(env: &Env, args: &[&str]) -> Value {
    let mut full = vec!["--profile", P, "stats", "--json"];
    full.extend_from_slice(args);
    let r = env.run(&full);
    r.code(0);
    r.json()
}

/// Appends `e` to the home's event log, as a process of two hours ago would have.
fn append(env: &Env, e: &Event) {
    let paths = tokenwarden::paths::Paths::in_dir(env.home());
    let store = SqliteStore::open(&paths, KeySource::KeyFile).expect("store opens");
    store.append_event(e).expect("appended");
}

#[test]
fn since_filters_by_time_and_profile() {
    let mock = Mock::auto();
    let env = home_with(&[web_profile(P, &mock.issuer())]);
    login_browser(&env, &mock, P).code(0);
    let mut old = Event::new(
        SystemTime::now() - Duration::from_secs(2 * 3600),
        P,
        Operation::Refresh,
        Outcome::Failed(ErrorKind::ProviderUnavailable),
    );
    old.status = Some(503);
    append(&env, &old);
    append(
        &env,
        &Event::new(SystemTime::now(), "other", Operation::Refresh, Outcome::Ok),
    );

    let recent = events(&env, &["--since", "1h"]);
    assert!(
        recent.iter().any(|e| e["operation"] == "code_exchange"),
        "{recent:#?}"
    );
    assert!(
        recent
            .iter()
            .all(|e| e["profile"] == P && e["status"] != 503),
        "{recent:#?}"
    );
    let longer = events(&env, &["--since", "3h"]);
    assert_eq!(longer.len(), recent.len() + 1, "{longer:#?}");
    assert_eq!(longer[0]["status"], 503, "oldest first: {longer:#?}");
    let all = events(&env, &["--since", "1h", "--all"]);
    assert!(all.iter().any(|e| e["profile"] == "other"), "{all:#?}");

    // A header, then aligned columns: HTTP is the fourth.
    let http_column = |out: &str| -> Vec<String> {
        let mut lines = out.lines();
        let header = lines.next().unwrap_or_default();
        assert!(header.starts_with("TIME  "), "{out}");
        let at = header.find("HTTP").expect("an HTTP column");
        lines
            .map(|l| {
                l.get(at..)
                    .unwrap_or("")
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    let r = env.run(&["--profile", P, "events", "--since", "1h"]);
    assert!(
        !http_column(&r.stdout).contains(&"503".to_string()),
        "{}",
        r.stdout
    );
    // Windows are told in words, whatever syntax --since was given in.
    for (since, words) in [
        ("15m", "15 min"),
        ("2h", "2 h"),
        ("90m", "1 h 30 min"),
        ("7d", "7 days"),
    ] {
        let r = env.run(&["--profile", "nobody", "events", "--since", since]);
        r.code(0);
        assert_eq!(
            r.stdout.trim(),
            format!("No token operations of profile `nobody` in the last {words}."),
            "--since {since}"
        );
    }
    let r = env.run(&["--profile", "nobody", "events"]);
    assert!(r.stdout.contains("in the last 1 day."), "{}", r.stdout);
    let r = env.run(&["--profile", P, "stats", "--since", "2h"]);
    r.code(0);
    assert!(
        r.stdout.contains(&format!(
            "Token operations of profile `{P}` in the last 2 h: "
        )),
        "{}",
        r.stdout
    );
    let r = env.run(&["--profile", P, "events", "--since", "3h"]);
    assert!(
        http_column(&r.stdout).contains(&"503".to_string()),
        "{}",
        r.stdout
    );

    let s = stats(&env, &["--since", "1h"]);
    assert_eq!(s["server_errors"], 0, "{s:#}");
    assert_eq!(s["events"].as_u64(), Some(recent.len() as u64), "{s:#}");
    let s = stats(&env, &["--since", "3h"]);
    assert_eq!(s["server_errors"], 1, "{s:#}");
    assert_eq!(
        s["by_operation"]["refresh"]["provider_unavailable"], 1,
        "{s:#}"
    );
    let s = stats(&env, &["--since", "1h", "--all"]);
    assert_eq!(s["by_operation"]["refresh"]["ok"], 1, "{s:#}");

    // The old 503 is outside the 15-minute window: no warning in `status --json`.
    let r = env.run(&["--profile", P, "status", "--json"]);
    r.code(0);
    let rows = r.json();
    assert_eq!(rows[0]["profile"], P, "{rows:#}");
    assert_eq!(rows[0]["warnings"], serde_json::json!([]), "{rows:#}");
}

/// The records of the one command whose records include `op`/`outcome`, all with its id.
fn of_command<'a>(list: &'a [Value], op: &str, outcome: &str) -> Vec<&'a Value> {
    let corr = list
        .iter()
        .rev()
        .find(|e| e["operation"] == op && e["outcome"] == outcome)
        .and_then(|e| e["correlation_id"].as_str())
        .unwrap_or_else(|| panic!("no {op}/{outcome} record with a correlation id: {list:#?}"));
    list.iter()
        .filter(|e| e["correlation_id"] == corr)
        .collect()
}

fn steps(records: &[&Value]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap_or_default().to_string(),
                e["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn has_evidence(e: &Value) {
    assert!(e["status"].is_u64(), "no status: {e}");
    assert!(
        e["request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("mock-")),
        "no request id: {e}"
    );
    assert!(e["attempt"].as_u64().is_some_and(|a| a >= 1), "{e}");
}

#[test]
fn every_kind_of_operation_is_recorded_with_its_evidence() {
    let mock = Mock::auto();
    let resource = mock.server.url("/v1/messages");
    let env = home_with(&[
        format!(
            "{}resource = \"{resource}\"\n",
            web_profile(P, &mock.issuer())
        ),
        svc_profile("svc", &mock.issuer()),
    ]);
    let secret = [("SVC_SECRET", "svc-secret")];
    login_browser(&env, &mock, P).code(0);

    // A resource 401 (early revocation): unauthorized, invalidate, refresh, one command.
    mock.server.revoke_all();
    env.run(&["--profile", P, "request"]).code(0);
    let list = events(&env, &["--all"]);
    let request = of_command(&list, "resource", "unauthorized");
    assert_eq!(
        steps(&request),
        pairs(&[
            ("resource", "unauthorized"),
            ("invalidate", "ok"),
            ("refresh", "ok"),
        ]),
        "{list:#?}"
    );
    assert_eq!(request[0]["status"], 401);
    has_evidence(request[0]);
    assert_eq!(request[2]["status"], 200);
    has_evidence(request[2]);

    // Client credentials: the login (its token request recorded as such, with its evidence,
    // under the command's id), then a renewal by the session.
    env.run_env(
        &["--profile", "svc", "login", "--client-credentials"],
        &secret,
    )
    .code(0);
    let list = events(&env, &["--all"]);
    let login = of_command(&list, "login", "ok");
    assert_eq!(
        steps(&login),
        pairs(&[("client_credentials", "ok"), ("login", "ok")]),
        "{list:#?}"
    );
    assert_eq!(login[0]["profile"], "svc");
    assert_eq!(login[0]["status"], 200);
    assert!(login[0]["duration_ms"].is_u64(), "{}", login[0]);
    has_evidence(login[0]);
    // A refused one is recorded with the provider's answer.
    env.run_env(
        &["--profile", "svc", "login", "--client-credentials"],
        &[("SVC_SECRET", "not-the-secret")],
    )
    .code(2);
    let list = events(&env, &["--all"]);
    let failed = of_command(&list, "login", "config");
    assert_eq!(
        steps(&failed),
        pairs(&[("client_credentials", "config"), ("login", "config")]),
        "{list:#?}"
    );
    assert_eq!(failed[0]["oauth_error"], "invalid_client", "{}", failed[0]);
    has_evidence(failed[0]);
    // Marked rejected, as an API's 401 does: the next `token` must renew.
    crate::login_util::reject_stored(&env, "svc");
    env.run_env(&["--profile", "svc", "token"], &secret).code(0);
    let list = events(&env, &["--all"]);
    let cc: Vec<&Value> = list
        .iter()
        .filter(|e| e["operation"] == "client_credentials" && e["outcome"] == "ok")
        .collect();
    assert_eq!(cc.len(), 2, "the login's and the renewal's: {list:#?}");
    assert_ne!(cc[0]["correlation_id"], cc[1]["correlation_id"]);
    let renewal = cc.last().expect("renewal");
    assert_eq!(renewal["profile"], "svc");
    assert_eq!(renewal["status"], 200);
    has_evidence(renewal);

    // A logout: both revocations and the logout, one command.
    env.run(&["--profile", P, "logout"]).code(0);
    let list = events(&env, &["--all"]);
    let logout = of_command(&list, "logout", "ok");
    assert_eq!(
        steps(&logout),
        pairs(&[("revocation", "ok"), ("revocation", "ok"), ("logout", "ok"),]),
        "{list:#?}"
    );
    for r in &logout[..2] {
        assert_eq!(r["status"], 200, "{r}");
        has_evidence(r);
    }

    let s = stats(&env, &["--all"]);
    assert_eq!(s["resource_rejections"], 1, "{s:#}");
    assert!(
        s["by_operation"]["revocation"]["ok"].as_u64() >= Some(2),
        "{s:#}"
    );
    assert!(
        s["by_operation"]["client_credentials"]["ok"].as_u64() >= Some(1),
        "{s:#}"
    );
}
