//! Correlation ids: one per operation (a CLI command, one [`Session::get_token`] or
//! [`Session::send`] call, one [`TokenClient`] call made on its own), shared by every log line,
//! trace line, event record and error of that operation.
//!
//! An operation runs inside a [`scope`]: a task-local context holding its id, and a `tracing`
//! span named `operation` with a `correlation_id` field, so every log line emitted inside
//! (tokenwarden's, and those of the HTTP stack) names it. The span is at ERROR level so that it
//! is enabled whatever the verbosity: a warning printed at the default level names the id too.
//! Code that starts an operation calls [`operation`], which joins the current one when there
//! is one (a `get_token` inside a CLI command keeps the command's id) and opens a new one
//! otherwise.
//!
//! The context also keeps what the last token-endpoint exchange of the operation looked like
//! ([`Exchange`]: status, request id, attempts), so that whoever records the operation in the
//! event log (the session) can say so without the evidence being threaded through every
//! signature.
//!
//! [`Session::get_token`]: crate::session::Session::get_token
//! [`Session::send`]: crate::session::Session::send
//! [`TokenClient`]: crate::http::TokenClient

use crate::error::Result;
use rand::Rng as _;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tracing::Instrument as _;

/// A new correlation id: `tw-` and 16 random hex digits.
pub fn new_id() -> String {
    let n: u64 = rand::thread_rng().r#gen();
    format!("tw-{n:016x}")
}

/// What the last token-endpoint exchange of an operation looked like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exchange {
    /// The HTTP status of the last answer, when one came.
    pub status: Option<u16>,
    /// The provider's request id of the last answer.
    pub request_id: Option<String>,
    /// How many attempts were sent (retries included).
    pub attempts: u32,
}

#[derive(Debug)]
struct Context {
    id: String,
    exchange: Mutex<Option<Exchange>>,
}

tokio::task_local! {
    static CURRENT: Arc<Context>;
}

/// The correlation id of the operation running now, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(|c| c.id.clone()).ok()
}

/// The current correlation id, or a new one when no operation is running.
pub fn current_or_new() -> String {
    current().unwrap_or_else(new_id)
}

/// Runs `fut` as the operation `id`: the id is [`current`] inside, and every log line is in
/// the `operation` span that names it.
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    let span = tracing::error_span!("operation", correlation_id = %id);
    let ctx = Arc::new(Context {
        id,
        exchange: Mutex::new(None),
    });
    CURRENT.scope(ctx, fut.instrument(span)).await
}

/// Runs `f` as one operation: within the current one when there is one, else in a new
/// [`scope`]. `f` gets the id; an error it returns carries the id.
pub async fn operation<T, F, Fut>(f: F) -> Result<T>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    match current() {
        Some(id) => f(id.clone()).await.map_err(|e| e.with_correlation_id(id)),
        None => {
            let id = new_id();
            scope(id.clone(), async move {
                f(id.clone()).await.map_err(|e| e.with_correlation_id(id))
            })
            .await
        }
    }
}

/// Runs `fut` in the operation `id`: joins the current one when it has that id, else opens a
/// [`scope`] (an explicit id given to a client, for instance).
pub async fn within<F: Future>(id: &str, fut: F) -> F::Output {
    if current().as_deref() == Some(id) {
        fut.await
    } else {
        scope(id.to_string(), fut).await
    }
}

/// Remembers `exchange` as the last token-endpoint exchange of the current operation (nothing
/// happens outside an operation).
pub fn note_exchange(exchange: Exchange) {
    let _ = CURRENT.try_with(|c| {
        if let Ok(mut e) = c.exchange.lock() {
            *e = Some(exchange);
        }
    });
}

/// Takes the last token-endpoint exchange noted in the current operation (once).
pub fn take_exchange() -> Option<Exchange> {
    CURRENT
        .try_with(|c| c.exchange.lock().ok().and_then(|mut e| e.take()))
        .ok()
        .flatten()
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
    async fn a_new_operation_names_its_errors_and_keeps_its_exchange() {
        let err = operation(|_| async {
            note_exchange(Exchange {
                status: Some(503),
                request_id: None,
                attempts: 3,
            });
            assert_eq!(take_exchange().map(|e| e.attempts), Some(3));
            assert_eq!(take_exchange(), None);
            Err::<(), _>(crate::Error::store("x"))
        })
        .await
        .unwrap_err();
        assert!(err.correlation_id().is_some_and(|c| c.starts_with("tw-")));
        note_exchange(Exchange::default());
        assert_eq!(
            take_exchange(),
            None,
            "nothing is kept outside an operation"
        );
    }

    #[test]
    fn ids_look_right() {
        let a = new_id();
        assert!(a.starts_with("tw-") && a.len() == 19);
        assert_ne!(a, new_id());
    }
}
