//! Correlation ids: one per operation (a CLI command, one [`Session::get_token`] or
//! [`Session::send`] call, one [`TokenClient`] call made on its own), shared by every log line,
//! trace line, event record and error of that operation.
//!
//! This module is the id's one home: it makes ids ([`new_id`]) and holds the current one. An
//! operation runs inside a [`scope`]: a task-local context holding its id, and a `tracing` span
//! named `operation` with a `correlation_id` field, so every log line emitted inside
//! (tokenwarden's, and those of the HTTP stack) names it. The span is at ERROR level so that it
//! is enabled whatever the verbosity: a warning printed at the default level names the id too.
//! Code that starts an operation calls [`operation`] (or [`joined`]), which joins the current
//! one when there is one (a `get_token` inside a CLI command keeps the command's id) and opens a
//! new one otherwise; everything inside reads the id with [`current`], or gets it from there.
//!
//! [`Session::get_token`]: crate::session::Session::get_token
//! [`Session::send`]: crate::session::Session::send
//! [`TokenClient`]: crate::http::TokenClient

use crate::error::Result;
use rand::Rng as _;
use std::future::Future;
use tracing::Instrument as _;

/// A new correlation id: `tw-` and 16 random hex digits.
pub fn new_id() -> String {
    let n: u64 = rand::thread_rng().r#gen();
    format!("tw-{n:016x}")
}

tokio::task_local! {
    static CURRENT: String;
}

/// The correlation id of the operation running now, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `fut` as the operation `id`: the id is [`current`] inside, and every log line is in
/// the `operation` span that names it.
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    let span = tracing::error_span!("operation", correlation_id = %id);
    CURRENT.scope(id, fut.instrument(span)).await
}

/// Runs `f` as one operation: within the current one when there is one, else in a new
/// [`scope`]. `f` gets the id, and is called inside the operation (a span it creates is a child
/// of the `operation` span).
pub async fn joined<T, F, Fut>(f: F) -> T
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = T>,
{
    match current() {
        Some(id) => f(id).await,
        None => {
            let id = new_id();
            scope(id.clone(), async move { f(id).await }).await
        }
    }
}

/// [`joined`] for an operation that can fail: an error it returns carries the id.
pub async fn operation<T, F, Fut>(f: F) -> Result<T>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    joined(|id| async move { f(id.clone()).await.map_err(|e| e.with_correlation_id(id)) }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_operation_joins_the_current_one() {
        assert_eq!(current(), None);
        let outer = new_id();
        let seen = scope(outer.clone(), async {
            let inner = operation(|id| async move { Ok::<_, crate::Error>(id) })
                .await
                .unwrap();
            (inner, current())
        })
        .await;
        assert_eq!(seen, (outer.clone(), Some(outer)));
        assert_eq!(current(), None);
    }

    #[tokio::test]
    async fn a_new_operation_names_its_errors() {
        let (err, inside) = joined(|id| async move {
            let err = operation(|_| async { Err::<(), _>(crate::Error::store("x")) })
                .await
                .unwrap_err();
            (err, id)
        })
        .await;
        assert!(inside.starts_with("tw-"));
        assert_eq!(err.correlation_id(), Some(inside.as_str()));
        assert_eq!(current(), None, "nothing is kept outside an operation");
    }

    #[test]
    fn ids_look_right() {
        let a = new_id();
        assert!(a.starts_with("tw-") && a.len() == 19);
        assert_ne!(a, new_id());
    }
}
