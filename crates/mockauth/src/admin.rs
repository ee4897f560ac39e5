//! The admin API under `/admin`, for loopback peers only: faults, mass revocation,
//! statistics, device decisions and the test clock. The same operations back the in-process
//! [`crate::ServerHandle`] methods.
//!
//! | method and path | body | effect |
//! |---|---|---|
//! | `GET /admin` | | this list |
//! | `GET /admin/faults` | | the plan in force |
//! | `POST /admin/faults` | `FaultPlan` JSON | merge: named endpoints replaced, others kept |
//! | `PUT /admin/faults` | `FaultPlan` JSON | replace the whole plan |
//! | `DELETE /admin/faults` | | clear every fault and the skew |
//! | `DELETE /admin/faults/{endpoint}` | | clear one endpoint's fault |
//! | `POST /admin/revoke-all` | | revoke every access token (refresh tokens keep working) |
//! | `POST /admin/revoke-sessions` | | revoke every session: access and refresh tokens |
//! | `GET /admin/stats` | | `Stats` JSON |
//! | `POST /admin/stats/reset` | | zero the statistics |
//! | `POST /admin/device/approve`, `/deny` | `{"user_code": "…"}` | decide a device request |
//! | `POST /admin/clock/advance` | `{"seconds": 61}` | move the server's clock forward |
//! | `POST /admin/keys/rotate` | | a new ID-token signing key; the old one stays in `/jwks` |

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::endpoints::device;
use crate::faults::{Endpoint, FaultPlan};
use crate::oauth::read_body;
use crate::state::AppState;
use crate::stats::Stats;

/// The admin routes, guarded to loopback peers.
pub(crate) fn router(st: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin", get(index))
        .route(
            "/admin/faults",
            get(get_faults)
                .post(merge_faults)
                .put(replace_faults)
                .delete(clear_faults),
        )
        .route("/admin/faults/{endpoint}", axum::routing::delete(clear_one))
        .route("/admin/revoke-all", post(revoke_all))
        .route("/admin/revoke-sessions", post(revoke_sessions))
        .route("/admin/stats", get(stats))
        .route("/admin/stats/reset", post(reset_stats))
        .route("/admin/device/approve", post(approve_device))
        .route("/admin/device/deny", post(deny_device))
        .route("/admin/clock/advance", post(advance_clock))
        .route("/admin/keys/rotate", post(rotate_key))
        .route_layer(middleware::from_fn_with_state(st, loopback_only))
}

fn error(status: StatusCode, description: impl Into<String>) -> Response {
    let body = json!({"error": "invalid_request", "error_description": description.into()});
    (status, Json(body)).into_response()
}

async fn loopback_only(req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    match peer {
        Some(addr) if addr.ip().is_loopback() => next.run(req).await,
        _ => error(
            StatusCode::FORBIDDEN,
            "the admin API answers loopback clients only",
        ),
    }
}

async fn json_body<T: DeserializeOwned>(body: Body) -> Result<T, Response> {
    let bytes = read_body(body)
        .await
        .map_err(|e| error(StatusCode::PAYLOAD_TOO_LARGE, e.description))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

async fn index() -> Response {
    Json(json!({
        "endpoints": [
            "GET /admin/faults", "POST /admin/faults (merge)", "PUT /admin/faults (replace)",
            "DELETE /admin/faults", "DELETE /admin/faults/{endpoint}",
            "POST /admin/revoke-all", "POST /admin/revoke-sessions",
            "GET /admin/stats", "POST /admin/stats/reset",
            "POST /admin/device/approve {\"user_code\"}", "POST /admin/device/deny {\"user_code\"}",
            "POST /admin/clock/advance {\"seconds\"}", "POST /admin/keys/rotate",
        ],
        "fault_endpoints": Endpoint::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn get_faults(State(st): State<Arc<AppState>>) -> Response {
    Json(st.faults().plan().clone()).into_response()
}

async fn merge_faults(State(st): State<Arc<AppState>>, body: Body) -> Response {
    let plan: FaultPlan = match json_body(body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(m) = plan.validate() {
        return error(StatusCode::BAD_REQUEST, m.0);
    }
    let mut faults = st.faults();
    faults.merge(plan);
    Json(faults.plan().clone()).into_response()
}

async fn replace_faults(State(st): State<Arc<AppState>>, body: Body) -> Response {
    let plan: FaultPlan = match json_body(body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(m) = plan.validate() {
        return error(StatusCode::BAD_REQUEST, m.0);
    }
    let mut faults = st.faults();
    faults.replace(plan);
    Json(faults.plan().clone()).into_response()
}

async fn clear_faults(State(st): State<Arc<AppState>>) -> Response {
    st.faults().replace(FaultPlan::default());
    Json(FaultPlan::default()).into_response()
}

async fn clear_one(State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let Some(endpoint) = Endpoint::parse(&name) else {
        return error(StatusCode::NOT_FOUND, format!("no fault endpoint `{name}`"));
    };
    let mut faults = st.faults();
    faults.remove(endpoint);
    Json(faults.plan().clone()).into_response()
}

/// Revokes every access token; returns how many were live.
pub(crate) fn do_revoke_all(st: &AppState) -> usize {
    let now = st.now();
    st.store().revoke_all_access(now)
}

/// Revokes every session; returns how many were live.
pub(crate) fn do_revoke_sessions(st: &AppState) -> usize {
    st.store().revoke_all_families()
}

async fn revoke_all(State(st): State<Arc<AppState>>) -> Response {
    Json(json!({"revoked_access_tokens": do_revoke_all(&st)})).into_response()
}

async fn revoke_sessions(State(st): State<Arc<AppState>>) -> Response {
    Json(json!({"revoked_sessions": do_revoke_sessions(&st)})).into_response()
}

async fn stats(State(st): State<Arc<AppState>>) -> Response {
    Json(st.stats().clone()).into_response()
}

async fn reset_stats(State(st): State<Arc<AppState>>) -> Response {
    *st.stats() = Stats::default();
    Json(Stats::default()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserCode {
    user_code: String,
}

async fn decide_device(st: &AppState, body: Body, approve: bool) -> Response {
    let req: UserCode = match json_body(body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    match device::decide(st, &req.user_code, approve) {
        Ok(client_id) => Json(json!({"client_id": client_id, "approved": approve})).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn approve_device(State(st): State<Arc<AppState>>, body: Body) -> Response {
    decide_device(&st, body, true).await
}

async fn deny_device(State(st): State<Arc<AppState>>, body: Body) -> Response {
    decide_device(&st, body, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: f64,
}

async fn advance_clock(State(st): State<Arc<AppState>>, body: Body) -> Response {
    let req: Advance = match json_body(body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    match Duration::try_from_secs_f64(req.seconds) {
        Ok(d) => {
            st.clock.advance(d);
            Json(json!({"advanced_s": req.seconds})).into_response()
        }
        Err(_) => error(
            StatusCode::BAD_REQUEST,
            "`seconds` must be a non-negative number",
        ),
    }
}

async fn rotate_key(State(st): State<Arc<AppState>>) -> Response {
    match st.rotate_key() {
        Ok(kid) => Json(json!({"kid": kid})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
