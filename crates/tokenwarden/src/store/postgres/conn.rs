//! The fleet store's connection: a small runtime of its own (one worker thread that drives the
//! connections), the one connection every operation of the process shares, reconnecting when
//! it was lost, and PostgreSQL's errors turned into Store errors that name the host and port
//! (never a password) and say what to do.
//!
//! The [`crate::store::Store`] trait is synchronous and is called from inside async code (the
//! session). A store call therefore runs its statements on this store's own runtime: from a
//! thread that is not a runtime's directly, else from a short-lived scoped thread, so that the
//! caller's runtime is never blocked from inside itself.
//!
//! A statement that fails because the connection was lost (the server restarted, a network
//! blip) is sent once more on a new connection; an operation may also ask to keep trying to
//! reconnect for a while (the write of a refreshed token: its answer must not be lost).
//! Connecting when the server cannot be reached fails at once with a Store error of cause
//! [`Cause::StoreUnreachable`], which the session meets with the token this machine last saw.

use super::tls::RustlsMakeTls;
use super::url::{Host, PasswordSource, SslMode, StoreUrl};
use crate::error::{Cause, Error, Result};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

/// How long one statement may run on the server.
pub(super) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an operation failed.
#[derive(Debug)]
pub(super) enum OpError {
    /// The server or the connection failed.
    Pg(tokio_postgres::Error),
    /// Anything else, already explained.
    Store(Error),
}

impl From<tokio_postgres::Error> for OpError {
    fn from(e: tokio_postgres::Error) -> Self {
        OpError::Pg(e)
    }
}

impl From<Error> for OpError {
    fn from(e: Error) -> Self {
        OpError::Store(e)
    }
}

/// What opening a connection takes: the URL and the TLS connector.
#[derive(Clone)]
pub(super) struct Connector {
    url: StoreUrl,
    pub(super) tls: Option<RustlsMakeTls>,
}

impl Connector {
    /// The client library's configuration, with this store's timeouts.
    pub(super) fn config(&self) -> tokio_postgres::Config {
        let mut config = self.url.pg_config();
        config.options(format!(
            "-c statement_timeout={ms} -c idle_in_transaction_session_timeout={ms}",
            ms = STATEMENT_TIMEOUT.as_millis()
        ));
        config
    }

    /// A new connection, driven by a task on `handle`.
    pub(super) async fn connect(
        &self,
        handle: &tokio::runtime::Handle,
    ) -> std::result::Result<Client, tokio_postgres::Error> {
        let config = self.config();
        let ended = |e: tokio_postgres::Error| {
            tracing::debug!(error = %e, "the fleet store connection ended");
        };
        Ok(match &self.tls {
            Some(tls) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                handle.spawn(async move { connection.await.unwrap_or_else(ended) });
                client
            }
            None => {
                let (client, connection) = config.connect(NoTls).await?;
                handle.spawn(async move { connection.await.unwrap_or_else(ended) });
                client
            }
        })
    }
}

/// The connection of one process to the fleet store.
pub(super) struct Db {
    rt: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pub(super) url: StoreUrl,
    pub(super) connector: Connector,
    conn: tokio::sync::Mutex<Option<Client>>,
    /// The profiles whose advisory lock this process holds (on `conn`): taken again after a
    /// reconnect.
    pub(super) held: Mutex<BTreeSet<String>>,
}

impl Db {
    /// Ready to connect to `url` (nothing is sent yet).
    pub(super) fn new(url: StoreUrl) -> Result<Db> {
        let tls = match (&url.host, url.sslmode) {
            (Host::Socket(_), _) | (_, SslMode::Disable) => None,
            _ => Some(RustlsMakeTls::for_url(&url)),
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tokenwarden-store")
            .enable_all()
            .build()
            .map_err(|e| Error::store("cannot start the fleet store's runtime").with_source(e))?;
        Ok(Db {
            handle: rt.handle().clone(),
            rt: Some(rt),
            connector: Connector {
                url: url.clone(),
                tls,
            },
            url,
            conn: tokio::sync::Mutex::new(None),
            held: Mutex::new(BTreeSet::new()),
        })
    }

    /// The runtime's handle (for the listener's task).
    pub(super) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Runs the future `make` gives on this store's runtime and waits for it, from any thread.
    pub(super) fn block_on<F, Fut, T>(&self, make: F) -> T
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = T>,
        T: Send,
    {
        let handle = self.handle().clone();
        if tokio::runtime::Handle::try_current().is_err() {
            return handle.block_on(make());
        }
        std::thread::scope(|s| match s.spawn(move || handle.block_on(make())).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }

    /// A new connection (driven on this runtime), with this store's timeouts.
    pub(super) async fn connect(&self) -> std::result::Result<Client, tokio_postgres::Error> {
        self.connector.connect(&self.handle).await
    }

    /// Runs `op` on the shared connection, connecting first when there is none (or it was
    /// lost). A statement that fails because the connection was lost is run once more on a new
    /// one; with `patience`, connecting is retried (every 100 ms to 1 s) until that much time
    /// has passed.
    pub(super) fn run<T, F>(&self, patience: Duration, mut op: F) -> Result<T>
    where
        T: Send,
        F: AsyncFnMut(&mut Client) -> std::result::Result<T, OpError> + Send,
    {
        self.block_on(|| async {
            let started = Instant::now();
            let mut guard = self.conn.lock().await;
            let mut resent = false;
            let mut pause = Duration::from_millis(100);
            loop {
                if guard.as_ref().is_none_or(Client::is_closed) {
                    *guard = None;
                    match self.connect().await {
                        Ok(client) => {
                            self.take_held_locks_again(&client).await;
                            *guard = Some(client);
                        }
                        Err(e) if is_connection_error(&e) && started.elapsed() < patience => {
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(Duration::from_secs(1));
                            continue;
                        }
                        Err(e) => return Err(self.error(&e)),
                    }
                }
                let Some(client) = guard.as_mut() else {
                    continue;
                };
                match op(client).await {
                    Ok(v) => return Ok(v),
                    Err(OpError::Pg(e))
                        if is_connection_error(&e) && (!resent || started.elapsed() < patience) =>
                    {
                        resent = true;
                        *guard = None;
                    }
                    Err(OpError::Pg(e)) => return Err(self.error(&e)),
                    Err(OpError::Store(e)) => return Err(e),
                }
            }
        })
    }

    /// After a reconnect: the advisory locks this process held were released with the old
    /// connection; take them again before anything else runs.
    async fn take_held_locks_again(&self, client: &Client) {
        let held: Vec<String> = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        for profile in held {
            let (ns, key) = super::records::lock_keys(&profile);
            let again = client
                .query_typed_one(
                    "SELECT pg_try_advisory_lock($1, $2)",
                    &[
                        (&ns, tokio_postgres::types::Type::INT4),
                        (&key, tokio_postgres::types::Type::INT4),
                    ],
                )
                .await
                .and_then(|r| r.try_get::<_, bool>(0));
            if !matches!(again, Ok(true)) {
                tracing::warn!(
                    profile = %profile,
                    "the connection to the fleet store was lost while this process held the refresh lock of profile `{profile}`, and another holder has it now"
                );
            }
        }
    }

    /// The Store error for `e`: what failed, where (host and port, never a password), and what
    /// to do.
    pub(super) fn error(&self, e: &tokio_postgres::Error) -> Error {
        let url = &self.url;
        let at = format!("{} ({})", url.host_port(), url.redacted());
        if let Some(db) = e.as_db_error() {
            let code = db.code();
            let (message, hint) = if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            {
                (
                    format!(
                        "the fleet store at {at} refused the login of user `{}`: {}",
                        url.user,
                        db.message()
                    ),
                    password_hint(url),
                )
            } else if *code == SqlState::INVALID_CATALOG_NAME {
                (
                    format!("the fleet store at {at} has no database `{}`", url.dbname),
                    format!(
                        "create it (`createdb -h HOST -p PORT {}`) or fix the database name in the store URL",
                        url.dbname
                    ),
                )
            } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
                (
                    format!(
                        "the fleet store at {at} refused user `{}`: {}",
                        url.user,
                        db.message()
                    ),
                    format!(
                        "grant user `{}` SELECT, INSERT, UPDATE and DELETE on the tw_* tables and USAGE on the sequence tw_version (or run `tokenwarden store migrate` as the tables' owner); `tokenwarden doctor` lists what is missing",
                        url.user
                    ),
                )
            } else if is_connection_error(e) {
                return unreachable(url, &at, db.message());
            } else {
                (
                    format!("the fleet store at {at} failed: {}", db.message()),
                    "try again; if it persists, `tokenwarden doctor` checks the store".to_string(),
                )
            };
            return Error::store(message).with_hint(hint);
        }
        if let Some(setup) = tls_setup_failure(e) {
            return setup;
        }
        if let Some(tls) = tls_failure(e) {
            return Error::store(format!(
                "the TLS handshake with the fleet store at {at} failed: {tls}"
            ))
            .with_cause(Cause::Tls)
            .with_hint(
                "the server's certificate must be signed by a CA you trust: name its certificate with `sslrootcert=/path/ca.crt` in the store URL (the host name must match it unless `sslmode=verify-ca`)",
            );
        }
        if is_connection_error(e) {
            return unreachable(url, &at, &e.to_string());
        }
        Error::store(format!("cannot connect to the fleet store at {at}: {e}")).with_hint(format!(
            "{}; with `sslmode=require` or stricter the server must offer TLS",
            password_hint(url)
        ))
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is refused inside another runtime: let it go.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The Store error of an unreachable server.
fn unreachable(url: &StoreUrl, at: &str, detail: &str) -> Error {
    let check = match &url.host {
        Host::Tcp(h) => format!("pg_isready -h {h} -p {}", url.port),
        Host::Socket(dir) => format!("pg_isready -h {} -p {}", dir.display(), url.port),
    };
    Error::store(format!("cannot reach the fleet store at {at}: {detail}"))
        .with_cause(Cause::StoreUnreachable)
        .with_hint(format!(
            "check that PostgreSQL is running there and accepts connections from this machine (`{check}`), and that TOKENWARDEN_STORE_URL or `[store] url` names it; tokens that are still valid are served from this machine's copy meanwhile"
        ))
}

/// What to do about a refused login, given where the password came from.
fn password_hint(url: &StoreUrl) -> String {
    let line = match &url.host {
        Host::Tcp(h) => format!("{h}:{}:{}:{}:PASSWORD", url.port, url.dbname, url.user),
        Host::Socket(_) => format!(
            "localhost:{}:{}:{}:PASSWORD",
            url.port, url.dbname, url.user
        ),
    };
    match url.password_source() {
        PasswordSource::None => format!(
            "no password was found for it: set PGPASSWORD, or add `{line}` to ~/.pgpass (or the file PGPASSFILE names; chmod 600)"
        ),
        PasswordSource::Env => "the password in PGPASSWORD was refused: correct it".to_string(),
        PasswordSource::File(f) => format!(
            "the password in {} was refused: correct its line `{line}`",
            f.display()
        ),
        PasswordSource::Url => {
            "the password in the URL was refused: correct it (better: remove it from the URL and use ~/.pgpass)".to_string()
        }
    }
}

/// True when `e` says the connection could not be made or was lost: the server is down,
/// restarting or unreachable (not: it refused what was asked).
pub(super) fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        return code.code().starts_with("08")
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW;
    }
    tls_failure(e).is_none() && tls_setup_failure(e).is_none() && io_source(e).is_some()
}

/// The error of a TLS configuration that could not be built (an unreadable `sslrootcert`),
/// carried through the connection attempt.
fn tls_setup_failure(e: &tokio_postgres::Error) -> Option<Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(ours) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<Error>())
        {
            let mut again = Error::store(ours.message()).with_cause(Cause::Tls);
            if let Some(hint) = ours.hint() {
                again = again.with_hint(hint);
            }
            return Some(again);
        }
        source = s.source();
    }
    None
}

/// The I/O error behind `e`, if any.
fn io_source(e: &tokio_postgres::Error) -> Option<&std::io::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = s.source();
    }
    None
}

/// The TLS error behind `e`, if the handshake failed.
fn tls_failure(e: &tokio_postgres::Error) -> Option<String> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<rustls::Error>() {
            return Some(t.to_string());
        }
        if let Some(inner) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && let Some(t) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(t.to_string());
        }
        source = s.source();
    }
    None
}
