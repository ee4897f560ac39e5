//! The agent: a per-user daemon that keeps every logged-in profile's token refreshed ahead of
//! its proactive window and hands tokens out over a Unix socket (and, optionally, over HTTP),
//! with Prometheus metrics.
//!
//! [`run`] takes what the caller has already prepared (the warden, the agent's paths, bound
//! TCP listeners) and a shutdown future; it takes the pidfile, binds the socket, calls `ready`
//! once the socket accepts connections (the start-up acknowledgement), and serves until the
//! shutdown future resolves or a client tells it to stop. It uses only the warden and the
//! [`Store`](tokenwarden::store::Store) trait, never a backend's own types.
//!
//! # Layout
//! - [`pidfile`]: the 0700 directory and the flocked pidfile.
//! - [`state`]: the agent's state, the kept profiles, the status.
//! - [`keepalive`]: refreshing ahead, and the watcher of the configuration and the store.
//! - [`serve`]: the socket, peer credentials, the protocol's requests.
//! - [`listen`]: the metrics and token HTTP listeners.
//! - [`metrics`]: the Prometheus metrics.

pub mod keepalive;
pub mod listen;
pub mod metrics;
pub mod pidfile;
pub mod serve;
pub mod state;

use std::future::Future;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use tokenwarden::agent::AgentPaths;
use tokenwarden::secret::ClientSecret;
use tokenwarden::warden::Warden;
use tokenwarden::{Error, ErrorKind, Result};

/// The optional listeners, already bound.
#[derive(Debug, Default)]
pub struct Listeners {
    /// `--metrics`.
    pub metrics: Option<tokio::net::TcpListener>,
    /// `--http`, with the bearer secret clients must send.
    pub http: Option<(tokio::net::TcpListener, ClientSecret)>,
}

/// What a started agent tells its starter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Started {
    /// The agent's process id.
    pub pid: u32,
    /// Its socket.
    pub socket: PathBuf,
}

/// Runs the agent until `shutdown` resolves or a client stops it. `ready` is called once the
/// socket is bound.
pub async fn run(
    warden: Warden,
    paths: &AgentPaths,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
    ready: impl FnOnce(&Started),
) -> Result<()> {
    let pid_lock = pidfile::acquire(paths)?;
    let uid = pidfile::own_uid()?;
    let socket = paths.socket();
    // Holding the pidfile, any socket file left is a dead agent's.
    match std::fs::remove_file(&socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::new(
                ErrorKind::Other,
                format!("cannot remove the old socket {}", socket.display()),
            )
            .with_source(e));
        }
    }
    let listener = tokio::net::UnixListener::bind(&socket).map_err(|e| {
        Error::new(
            ErrorKind::Other,
            format!("cannot listen on {}", socket.display()),
        )
        .with_source(e)
        .with_hint("the path must be shorter than 108 bytes and its directory writable")
    })?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        Error::new(
            ErrorKind::Other,
            format!("cannot make {} private", socket.display()),
        )
        .with_source(e)
    })?;
    let agent = Arc::new(state::Agent::new(warden, socket.display().to_string())?);
    keepalive::sync_profiles(&agent);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(keepalive::watch(agent.clone()));
    tasks.spawn(serve::serve(agent.clone(), listener, uid));
    if let Some(l) = listeners.metrics {
        tasks.spawn(listen::serve_metrics(agent.clone(), l));
    }
    if let Some((l, secret)) = listeners.http {
        tasks.spawn(listen::serve_tokens(agent.clone(), l, secret));
    }
    tracing::info!(socket = %socket.display(), "the agent is listening");
    ready(&Started {
        pid: std::process::id(),
        socket: socket.clone(),
    });
    tokio::select! {
        () = shutdown => {}
        () = agent.stopped() => {}
    }
    agent.stop();
    tasks.abort_all();
    let _ = std::fs::remove_file(&socket);
    tracing::info!("the agent stopped");
    drop(pid_lock);
    Ok(())
}
