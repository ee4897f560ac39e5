//! Starting and stopping: the router, [`run`] (an already-bound listener and a shutdown
//! future), [`Server::start`] and the [`ServerHandle`] that tests drive the server with.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin;
use crate::boundary;
use crate::config::{Config, ConfigError, PASTE_CALLBACK_PATH};
use crate::endpoints::device::DeviceDecisionError;
use crate::endpoints::{authorize, device, discovery, paste, resource, revoke, stream, token};
use crate::faults::{FaultPlan, InvalidFaultPlan};
use crate::keys::{KeyError, Keys};
use crate::oauth::BODY_LIMIT;
use crate::sites;
use crate::state::AppState;
use crate::stats::Stats;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The listener's address could not be read.
    #[error("cannot read the listener's address")]
    LocalAddr(#[source] std::io::Error),
    /// The signing key could not be made.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Configuration, binding or key problems before serving.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The accept loop failed.
    #[error("the server failed")]
    Io(#[source] std::io::Error),
    /// The server task panicked or was cancelled.
    #[error("the server task ended abnormally: {0}")]
    Task(String),
}

/// The canonical routes. Requests reach them through [`sites::rewrite`] (see [`router`]).
fn routes(st: Arc<AppState>) -> Router {
    let mut app = Router::new()
        .route(sites::OAUTH_METADATA, get(discovery::metadata))
        .route(sites::OIDC_DISCOVERY, get(discovery::metadata))
        .route("/jwks", get(discovery::jwks))
        .route(
            "/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/authorize/decision", post(authorize::decision))
        .route(PASTE_CALLBACK_PATH, get(paste::page))
        .route("/token", post(token::token))
        .route("/device_authorization", post(device::device_authorization))
        .route("/device", get(device::page).post(device::submit))
        .route("/revoke", post(revoke::revoke))
        .route("/introspect", post(revoke::introspect))
        .route(
            "/userinfo",
            get(resource::userinfo).post(resource::userinfo),
        )
        .route(
            "/v1/messages",
            get(resource::messages).post(resource::messages),
        )
        .route("/v1/stream", get(stream::stream));
    if st.config.admin {
        app = app.merge(admin::router(st.clone()));
    }
    app.fallback(boundary::not_found)
        .layer(from_fn_with_state(st.clone(), boundary::faults_and_counts))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(st)
}

/// The whole service: [`boundary::stamp`] outermost, then [`sites::rewrite`], which must run
/// before routing and so wraps the canonical routes as a fallback service (a layer on a
/// router runs after its routing).
fn router(st: Arc<AppState>) -> Router {
    Router::new()
        .fallback_service(routes(st.clone()))
        .layer(from_fn_with_state(st.clone(), sites::rewrite))
        .layer(from_fn_with_state(st.clone(), boundary::stamp))
        .with_state(st)
}

fn issuer_for(config: &Config, local: SocketAddr) -> String {
    if let Some(issuer) = &config.issuer {
        return issuer.trim_end_matches('/').to_owned();
    }
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let path = config.issuer_path.as_deref().unwrap_or("");
    format!("http://{}{path}", SocketAddr::new(ip, local.port()))
}

fn prepare(
    listener: &TcpListener,
    config: Config,
    shutdown: watch::Receiver<bool>,
) -> Result<Arc<AppState>, StartError> {
    config.validate()?;
    let local = listener.local_addr().map_err(StartError::LocalAddr)?;
    let issuer = issuer_for(&config, local);
    let mut config = config;
    config.resolve_issuer(&issuer);
    let keys = Keys::generate()?;
    Ok(Arc::new(AppState::new(config, issuer, keys, shutdown)))
}

async fn serve(
    listener: TcpListener,
    st: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = router(st).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Io)
}

/// Serves on an already-bound listener until `shutdown` completes, then finishes the requests
/// in flight and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (tx, rx) = watch::channel(false);
    let st = prepare(&listener, config, rx)?;
    let signal = async move {
        shutdown.await;
        let _ = tx.send(true);
    };
    serve(listener, st, signal).await
}

/// Starts servers in the background of the current Tokio runtime.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Binds `config.addr` (default `127.0.0.1:0`) and starts serving.
    pub async fn start(config: Config) -> Result<ServerHandle, StartError> {
        let addr = config
            .addr
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Server::start_on(listener, config)
    }

    /// Starts serving on an already-bound listener (`config.addr` is ignored).
    pub fn start_on(listener: TcpListener, config: Config) -> Result<ServerHandle, StartError> {
        let (tx, rx) = watch::channel(false);
        let st = prepare(&listener, config, rx.clone())?;
        let local = listener.local_addr().map_err(StartError::LocalAddr)?;
        let mut rx = rx;
        let signal = async move {
            // Ends on `true` or when the handle (the sender) is dropped.
            while !*rx.borrow_and_update() {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        };
        let task = tokio::spawn(serve(listener, st.clone(), signal));
        Ok(ServerHandle {
            st,
            local,
            stop: tx,
            task: Some(task),
        })
    }
}

/// A running server. Dropping it stops the server (without waiting);
/// [`ServerHandle::shutdown`] stops it and waits.
#[derive(Debug)]
pub struct ServerHandle {
    st: Arc<AppState>,
    local: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl ServerHandle {
    /// The issuer URL, e.g. `http://127.0.0.1:41234`.
    pub fn issuer(&self) -> String {
        self.st.issuer.clone()
    }

    /// The admin API's base URL, `None` when the admin API is disabled.
    pub fn admin_url(&self) -> Option<String> {
        self.st.config.admin.then(|| self.st.url("/admin"))
    }

    /// An absolute URL on this server, e.g. `url("/token")`.
    pub fn url(&self, path: &str) -> String {
        self.st.url(path)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.st.config
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> Stats {
        self.st.stats().clone()
    }

    /// The newest `/token` requests received (up to 1024), oldest first, with every parameter
    /// and the `Authorization` header as sent: secrets included, for tests that look for them.
    pub fn received_token_requests(&self) -> Vec<crate::ReceivedTokenRequest> {
        self.st.received()
    }

    /// Zeroes the statistics.
    pub fn reset_stats(&self) {
        *self.st.stats() = Stats::default();
    }

    /// The fault plan in force (counts show what remains).
    pub fn faults(&self) -> FaultPlan {
        self.st.faults().plan().clone()
    }

    /// Replaces the whole fault plan.
    pub fn set_faults(&self, plan: FaultPlan) -> Result<(), InvalidFaultPlan> {
        plan.validate()?;
        self.st.faults().replace(plan);
        Ok(())
    }

    /// Merges into the fault plan as `POST /admin/faults` does.
    pub fn merge_faults(&self, plan: FaultPlan) -> Result<(), InvalidFaultPlan> {
        plan.validate()?;
        self.st.faults().merge(plan);
        Ok(())
    }

    /// Removes every fault and the clock skew.
    pub fn clear_faults(&self) {
        self.st.faults().replace(FaultPlan::default());
    }

    /// Revokes every access token now (refresh tokens keep working); returns how many.
    pub fn revoke_all(&self) -> usize {
        admin::do_revoke_all(&self.st)
    }

    /// Revokes every session: all access and refresh tokens; returns how many sessions.
    pub fn revoke_sessions(&self) -> usize {
        admin::do_revoke_sessions(&self.st)
    }

    /// Approves a pending device authorization by its user code.
    pub fn approve_device(&self, user_code: &str) -> Result<(), DeviceDecisionError> {
        device::decide(&self.st, user_code, true).map(|_| ())
    }

    /// Denies a pending device authorization by its user code.
    pub fn deny_device(&self, user_code: &str) -> Result<(), DeviceDecisionError> {
        device::decide(&self.st, user_code, false).map(|_| ())
    }

    /// Moves the server's clock forward: codes, tokens and device codes age at once, and the
    /// device-flow poll interval counts as elapsed. Tests use this instead of sleeping.
    pub fn advance_clock(&self, by: Duration) {
        self.st.clock.advance(by);
    }

    /// Replaces the ID-token signing key, as `POST /admin/keys/rotate` does: the new key signs
    /// the ID tokens issued from now on, and the old one stays published in `/jwks` beside it.
    /// Returns the new key's `kid`.
    pub fn rotate_signing_key(&self) -> Result<String, KeyError> {
        self.st.rotate_key()
    }

    /// Stops accepting, finishes the requests in flight, and waits for the server to end.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        let _ = self.stop.send(true);
        match self.task.take() {
            Some(task) => task.await.map_err(|e| ServeError::Task(e.to_string()))?,
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
