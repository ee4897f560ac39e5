//! One operation, one correlation id: every error a session returns (the ones it raises itself
//! included: not logged in, login required again, the lock wait, the session rejected), and
//! every event record of the operation, name the same id; the records of a refresh carry the
//! status, request id and attempt count of its exchange.

use crate::diagnose::{Home, login};
use crate::util;
use mockauth::{Endpoint, FaultPlan, FaultSpec};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use tokenwarden::error::OAuthErrorCode;
use tokenwarden::session::{Session, SessionOptions};
use tokenwarden::store::{Event, Operation, Outcome};
use tokenwarden::warden::{ClientGrants, Warden};
use tokenwarden::{Error, ErrorKind};

const QUICK: &str =
    "retry_base_delay = \"5ms\"\nretry_max_delay = \"20ms\"\nbreaker_threshold = 1000";

fn id_of(e: &Error) -> String {
    e.correlation_id()
        .filter(|c| c.starts_with("tw-"))
        .unwrap_or_else(|| panic!("no correlation id: {}", e.report()))
        .to_string()
}

fn events_of(w: &Warden, corr: &str) -> Vec<Event> {
    tokenwarden::events::load(w.store().unwrap().as_ref(), UNIX_EPOCH, None)
        .unwrap()
        .into_iter()
        .filter(|e| e.correlation_id.as_deref() == Some(corr))
        .collect()
}

#[tokio::test]
async fn session_errors_name_the_operation() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), QUICK);
    let w = home.warden();

    // Not logged in.
    let e = w
        .session("d")
        .unwrap()
        .get_token(Duration::ZERO)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LoginRequired);
    id_of(&e);

    // The provider refuses the refresh token: the error and the refresh record share the id,
    // and the record has the exchange's evidence.
    login(&server, &w).await;
    server.revoke_sessions();
    let session = w.session("d").unwrap();
    let token = session.get_token(Duration::ZERO).await.unwrap();
    session.invalidate(&token).unwrap();
    let e = session.get_token(Duration::ZERO).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LoginRequired, "{}", e.report());
    let corr = id_of(&e);
    let records = events_of(&w, &corr);
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    assert_eq!(
        (r.operation, r.outcome),
        (
            Operation::Refresh,
            Outcome::Failed(ErrorKind::LoginRequired)
        )
    );
    assert_eq!(r.status, Some(400));
    assert_eq!(r.oauth_error, Some(OAuthErrorCode::InvalidGrant));
    assert!(
        r.request_id
            .as_deref()
            .is_some_and(|i| i.starts_with("mock-"))
    );
    assert_eq!(r.attempt, 1);

    // Asked again: "a new login is needed", from the store, with an id of its own.
    let again = w
        .session("d")
        .unwrap()
        .get_token(Duration::ZERO)
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::LoginRequired);
    assert_ne!(id_of(&again), corr);
}

#[tokio::test]
async fn a_retried_refresh_records_its_attempts_under_one_id() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), QUICK);
    let w = home.warden();
    login(&server, &w).await;
    server
        .set_faults(FaultPlan::default().with(Endpoint::Token, FaultSpec::status(503).count(1)))
        .unwrap();
    let session = w.session("d").unwrap();
    let token = session.get_token(Duration::ZERO).await.unwrap();
    session.invalidate(&token).unwrap();
    session.get_token(Duration::ZERO).await.unwrap();
    let all = tokenwarden::events::load(w.store().unwrap().as_ref(), UNIX_EPOCH, None).unwrap();
    let ok = all
        .iter()
        .find(|e| e.operation == Operation::Refresh && e.outcome == Outcome::Ok)
        .unwrap_or_else(|| panic!("{all:#?}"));
    assert_eq!(ok.status, Some(200), "{ok:#?}");
    assert_eq!(ok.attempt, 2, "{ok:#?}");
    assert!(
        ok.request_id
            .as_deref()
            .is_some_and(|i| i.starts_with("mock-"))
    );
    let corr = ok.correlation_id.clone().expect("correlation id");
    let retried = events_of(&w, &corr);
    assert!(
        retried
            .iter()
            .any(|e| e.outcome == Outcome::Retried && e.status == Some(503) && e.attempt == 1),
        "{retried:#?}"
    );
}

#[tokio::test]
async fn a_lock_wait_that_runs_out_names_the_operation() {
    let server = util::mock(Vec::new()).await;
    let home = Home::new(&server.issuer(), QUICK);
    let w = home.warden();
    login(&server, &w).await;
    let store = w.store().unwrap();
    // Expired, so the caller must wait for the lock another holder keeps.
    let mut stored = store.read("d").unwrap().unwrap();
    stored.tokens.expires_at = Some(std::time::SystemTime::now() - Duration::from_secs(60));
    store.replace("d", &stored.tokens).unwrap();
    let profile = w.profile("d").unwrap().profile;
    let session = Session::new(
        "d",
        store.clone(),
        Arc::new(ClientGrants(w.client(&profile).unwrap())),
        w.clock().clone(),
        SessionOptions {
            lock_wait: Duration::from_millis(100),
            ..SessionOptions::default()
        },
    );
    let held = store.lock_profile("d", Duration::ZERO).unwrap();
    let e = session.get_token(Duration::ZERO).await.unwrap_err();
    drop(held);
    assert_eq!(e.kind(), ErrorKind::Store, "{}", e.report());
    let corr = id_of(&e);
    let records = events_of(&w, &corr);
    assert!(
        records
            .iter()
            .any(|r| r.operation == Operation::LockWait && r.outcome == Outcome::Timeout),
        "{records:#?}"
    );
}

#[tokio::test]
async fn send_is_one_operation_from_the_first_401_to_the_rejection() {
    let server = util::mock(Vec::new()).await;
    let resource = server.url("/v1/messages");
    let home = Home::new(
        &server.issuer(),
        &format!("{QUICK}\nresource = \"{resource}\""),
    );
    let w = home.warden();
    login(&server, &w).await;
    server
        .set_faults(FaultPlan::default().with(Endpoint::Resource, FaultSpec::status(401)))
        .unwrap();
    let session = w.session("d").unwrap();
    let http = reqwest::Client::new();
    let e = session
        .send(|t| {
            http.get(resource.as_str())
                .header("Authorization", t.authorization())
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SessionRejected, "{}", e.report());
    let corr = id_of(&e);
    let records = events_of(&w, &corr);
    let steps: Vec<(Operation, Outcome, u32)> = records
        .iter()
        .map(|r| (r.operation, r.outcome, r.attempt))
        .collect();
    assert_eq!(
        steps,
        [
            (Operation::Resource, Outcome::Unauthorized, 1),
            (Operation::Invalidate, Outcome::Ok, 1),
            (Operation::Refresh, Outcome::Ok, 1),
            (
                Operation::Resource,
                Outcome::Failed(ErrorKind::SessionRejected),
                2
            ),
        ],
        "{records:#?}"
    );
    for r in &records {
        if r.operation != Operation::Invalidate {
            assert!(r.status.is_some(), "{r:#?}");
            assert!(r.request_id.is_some(), "{r:#?}");
        }
    }
}
