//! The event log on the real path: a session refreshing against mockauth through a token client
//! whose records go to a SQLite store; retention is applied while the records are appended, not
//! only when a store is opened, and `load` returns the newest records of the profile asked for.

use crate::store::{key, temp_paths};
use crate::util;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokenwarden::TokenClient;
use tokenwarden::clock::SystemClock;
use tokenwarden::session::{Session, SessionOptions};
use tokenwarden::store::{Event, Operation, Outcome, Retention, SqliteStore, Store as _};
use tokenwarden::warden::ClientGrants;

#[tokio::test]
async fn a_refreshing_session_keeps_the_log_bounded() {
    tokenwarden::http::install_crypto_provider();
    let server = util::mock(Vec::new()).await;
    let (_dir, paths) = temp_paths();
    let retention = Retention {
        max_age: Duration::from_secs(3600),
        max_events: 3,
        prune_every: 2,
    };
    let store = Arc::new(
        SqliteStore::open(&paths, key())
            .unwrap()
            .with_event_retention(retention),
    );
    // Records from before the retention window, of this profile and another.
    let old = SystemTime::now() - Duration::from_secs(2 * 3600);
    for p in ["test", "other"] {
        store
            .append_event(&Event::new(old, p, Operation::Refresh, Outcome::Ok))
            .unwrap();
    }

    let profile = util::profile(&server, "cli");
    let client = TokenClient::builder(profile.clone())
        .events(store.clone())
        .build()
        .unwrap();
    let redirect = "http://127.0.0.1:5555/callback";
    let (code, verifier) = util::authorize(&server, "cli", redirect).await;
    let tokens = client
        .exchange_code(code, redirect, Some(verifier), Some("st"))
        .await
        .unwrap();
    store.replace("test", &tokens).unwrap();
    let session = Session::new(
        "test",
        store.clone(),
        Arc::new(ClientGrants(client)),
        Arc::new(SystemClock),
        SessionOptions::default(),
    );
    // Each token is rejected (as an API's 401 does): each next call refreshes.
    let mut token = session.get_token(Duration::ZERO).await.unwrap();
    for _ in 0..8 {
        session.invalidate(&token).unwrap();
        token = session.get_token(Duration::ZERO).await.unwrap();
    }
    assert_eq!(server.stats().token_requests.refresh_token, 8);

    let left = store.recent_events(UNIX_EPOCH, None, 100).unwrap();
    assert!(
        left.len() < retention.max_events + retention.prune_every as usize,
        "{left:#?}"
    );
    assert!(left.iter().all(|e| e.at > old), "{left:#?}");
    assert!(
        left.iter().all(|e| {
            [Operation::Refresh, Operation::Invalidate].contains(&e.operation)
                && e.outcome == Outcome::Ok
        }),
        "{left:#?}"
    );
    // The last refresh is among them, with its evidence.
    let last = left
        .iter()
        .rev()
        .find(|e| e.operation == Operation::Refresh)
        .unwrap();
    assert_eq!(last.status, Some(200), "{last:#?}");
    assert!(last.correlation_id.is_some(), "{last:#?}");
}

#[tokio::test]
async fn load_returns_the_newest_records_of_the_profile() {
    let (_dir, paths) = temp_paths();
    let store = SqliteStore::open(&paths, key()).unwrap();
    let t0 = SystemTime::now() - Duration::from_secs(600);
    for i in 0..30u64 {
        let p = if i % 3 == 0 { "p" } else { "q" };
        let mut e = Event::new(
            t0 + Duration::from_secs(i),
            p,
            Operation::Refresh,
            Outcome::Ok,
        );
        e.attempt = u32::try_from(i).unwrap();
        store.append_event(&e).unwrap();
    }
    let since = t0 + Duration::from_secs(10);
    let of_p = tokenwarden::events::load(&store, since, Some("p")).unwrap();
    let attempts: Vec<u32> = of_p.iter().map(|e| e.attempt).collect();
    assert_eq!(attempts, [12, 15, 18, 21, 24, 27]);
    let all = tokenwarden::events::load(&store, since, None).unwrap();
    assert_eq!(all.len(), 20);
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
}
