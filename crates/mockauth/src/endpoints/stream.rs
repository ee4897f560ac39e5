//! A streaming API, `GET /v1/stream?chunks=N&interval_ms=M`: server-sent events
//! (`text/event-stream`), N `data:` events, the first at once and then one every M ms, each
//! written as it is produced (never buffered). Out-of-range parameters get a 400 naming them;
//! then it is guarded exactly like `/v1/messages` (required headers, bearer token, dead-token
//! status). The stream ends early when the server shuts down.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::endpoints::resource::api_guard;
use crate::oauth::{OAuthError, Params};
use crate::state::AppState;

/// Bounds and defaults of the query parameters.
const CHUNKS: Bound = Bound {
    name: "chunks",
    min: 1,
    max: 1000,
    default: 5,
};
const INTERVAL_MS: Bound = Bound {
    name: "interval_ms",
    min: 0,
    max: 60_000,
    default: 200,
};

struct Bound {
    name: &'static str,
    min: u64,
    max: u64,
    default: u64,
}

impl Bound {
    fn read(&self, params: &Params) -> Result<u64, OAuthError> {
        let Some(text) = params.get(self.name)? else {
            return Ok(self.default);
        };
        text.parse::<u64>()
            .ok()
            .filter(|n| (self.min..=self.max).contains(n))
            .ok_or_else(|| {
                OAuthError::invalid_request(format!(
                    "`{}` = {text:?}: must be a whole number from {} to {}",
                    self.name, self.min, self.max
                ))
            })
    }
}

/// One event: `id` and a JSON `data` line.
fn event(index: u64, of: u64) -> String {
    let data = json!({"index": index, "of": of, "text": format!("chunk {index} of {of}")});
    format!("id: {index}\ndata: {data}\n\n")
}

/// `GET /v1/stream`.
pub(crate) async fn stream(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::from_urlencoded(query.unwrap_or_default().as_bytes());
    let (chunks, interval) = match (CHUNKS.read(&params), INTERVAL_MS.read(&params)) {
        (Ok(c), Ok(ms)) => (c, Duration::from_millis(ms)),
        (Err(e), _) | (_, Err(e)) => {
            st.stats().resource_requests.bad_request += 1;
            return e.into_response();
        }
    };
    if let Err(refused) = api_guard(&st, &headers) {
        return *refused;
    }
    let events = futures_util::stream::unfold(
        (1u64, st.shutdown.clone()),
        move |(index, mut shutdown)| async move {
            if index > chunks || *shutdown.borrow() {
                return None;
            }
            if index > 1 {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = shutdown.changed() => return None,
                }
            }
            Some((
                Ok::<_, Infallible>(event(index, chunks)),
                (index + 1, shutdown),
            ))
        },
    );
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            // Asks proxies that buffer (nginx) not to.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(events),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let p = Params::from_urlencoded(b"chunks=0&interval_ms=60001");
        assert!(CHUNKS.read(&p).is_err());
        assert!(INTERVAL_MS.read(&p).is_err());
        let p = Params::from_urlencoded(b"chunks=3&interval_ms=x");
        assert_eq!(CHUNKS.read(&p).ok(), Some(3));
        assert!(INTERVAL_MS.read(&p).is_err());
        assert_eq!(CHUNKS.read(&Params::default()).ok(), Some(5));
    }

    #[test]
    fn events_are_sse() {
        let e = event(2, 5);
        assert!(e.starts_with("id: 2\ndata: {"), "{e}");
        assert!(e.ends_with("}\n\n"), "{e}");
    }
}
