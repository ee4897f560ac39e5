//! [`AgentSource`]: a [`TokenSource`] that asks the running agent and, when there is none or
//! it fails, works on its own through a [`Session`] built on first need (so a caller served by
//! the agent never opens the store). Used by the CLI's `token`, `exec` and `request` and by the
//! proxy.
//!
//! A token from the agent is kept and handed out again until it reaches its proactive refresh
//! window (the agent refreshes ahead of it), so a busy caller such as the proxy asks the agent
//! about once per token lifetime. After the agent could not be used, the next attempt to reach
//! it waits [`RECONNECT_AFTER`].

use super::client::{AgentClient, Unavailable};
use super::dirs::AgentPaths;
use super::protocol::Request;
use crate::error::Result;
use crate::session::{BoxFuture, Rejection, Session, Token, TokenSource};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// How long after a failed attempt to use the agent the next one is made.
pub const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Builds the session used without the agent.
pub type SessionFactory = Box<dyn Fn() -> Result<Session> + Send + Sync>;

/// Tokens from the agent, else from a session of this process.
pub struct AgentSource {
    profile: String,
    paths: Option<AgentPaths>,
    agent: tokio::sync::Mutex<Option<AgentClient>>,
    next_try: Mutex<Option<Instant>>,
    kept: Mutex<Option<(Token, SystemTime)>>,
    factory: SessionFactory,
    session: OnceLock<Arc<Session>>,
    used_agent: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for AgentSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSource")
            .field("profile", &self.profile)
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl AgentSource {
    /// Tokens of `profile` from the agent of `paths` (`None`: never use an agent), else from
    /// the session `factory` builds.
    pub fn new(
        profile: impl Into<String>,
        paths: Option<AgentPaths>,
        factory: SessionFactory,
    ) -> AgentSource {
        AgentSource {
            profile: profile.into(),
            paths,
            agent: tokio::sync::Mutex::new(None),
            next_try: Mutex::new(None),
            kept: Mutex::new(None),
            factory,
            session: OnceLock::new(),
            used_agent: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// True once a token came from the agent.
    pub fn used_agent(&self) -> bool {
        self.used_agent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The session of this process, built on first use.
    pub fn session(&self) -> Result<&Arc<Session>> {
        if let Some(s) = self.session.get() {
            return Ok(s);
        }
        let built = Arc::new((self.factory)()?);
        Ok(self.session.get_or_init(|| built))
    }

    /// The warning of the last degraded token, for callers that do not see the token.
    pub fn warning(&self) -> Option<String> {
        if let Some(s) = self.session.get() {
            return s.warning();
        }
        self.kept.lock().ok().and_then(|k| {
            k.as_ref()
                .and_then(|(t, _)| t.degraded().map(str::to_string))
        })
    }

    fn kept_token(&self, min_ttl: Duration) -> Option<Token> {
        let kept = self.kept.lock().ok()?;
        let (token, due) = kept.as_ref()?;
        let now = SystemTime::now();
        (now + min_ttl < *due).then(|| token.clone())
    }

    /// Runs `f` on the agent connection (connecting first); `None` when no agent can be used
    /// now (the reason is logged at `-v`).
    async fn with_agent<T>(
        &self,
        f: impl AsyncFnOnce(&mut AgentClient) -> std::result::Result<T, Unavailable>,
    ) -> Option<T> {
        let paths = self.paths.as_ref()?;
        if self
            .next_try
            .lock()
            .ok()
            .and_then(|n| *n)
            .is_some_and(|at| Instant::now() < at)
        {
            return None;
        }
        let mut conn = self.agent.lock().await;
        if conn.is_none() {
            match AgentClient::connect(paths).await {
                Ok(c) => *conn = Some(c),
                Err(e) => {
                    self.unavailable(&e);
                    return None;
                }
            }
        }
        let client = conn.as_mut()?;
        match f(client).await {
            Ok(v) => Some(v),
            Err(e) => {
                *conn = None;
                self.unavailable(&e);
                None
            }
        }
    }

    fn unavailable(&self, why: &Unavailable) {
        tracing::info!("not using the agent: {why}; working without it");
        if let Ok(mut n) = self.next_try.lock() {
            *n = Some(Instant::now() + RECONNECT_AFTER);
        }
    }
}

impl TokenSource for AgentSource {
    fn profile(&self) -> &str {
        &self.profile
    }

    fn token(&self, min_ttl: Duration) -> BoxFuture<'_, Result<Token>> {
        Box::pin(async move {
            if let Some(t) = self.kept_token(min_ttl) {
                return Ok(t);
            }
            let profile = self.profile.clone();
            let answered = self
                .with_agent(async |c: &mut AgentClient| c.token(&profile, min_ttl).await)
                .await;
            match answered {
                Some(Ok(wire)) => {
                    self.used_agent
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    let due = wire.refresh_due();
                    let token = wire.into_token();
                    if let (Ok(mut kept), Some(due), None) =
                        (self.kept.lock(), due, token.degraded())
                    {
                        *kept = Some((token.clone(), due));
                    }
                    Ok(token)
                }
                Some(Err(e)) => Err(e),
                None => self.session()?.get_token(min_ttl).await,
            }
        })
    }

    fn invalidate<'a>(&'a self, token: &'a Token) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if let Ok(mut kept) = self.kept.lock() {
                *kept = None;
            }
            let profile = self.profile.clone();
            let version = token.version().get();
            let answered = self
                .with_agent(async |c: &mut AgentClient| {
                    c.done(Request::Invalidate { profile, version }).await
                })
                .await;
            match answered {
                Some(result) => result,
                None => self.session()?.invalidate(token),
            }
        })
    }

    fn rejected<'a>(&'a self, rejection: &'a Rejection) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let request = Request::Rejected {
                profile: self.profile.clone(),
                status: rejection.status,
                request_id: rejection.request_id.clone(),
                attempt: rejection.attempt,
                session_rejected: rejection.session_rejected,
            };
            let answered = self
                .with_agent(async |c: &mut AgentClient| c.done(request).await)
                .await;
            if answered.is_none() {
                match self.session() {
                    Ok(s) => s.rejected(rejection).await,
                    Err(e) => tracing::warn!(error = %e, "could not record a 401 of the API"),
                }
            }
        })
    }

    // The three below are asked only once the API refused a request (a 403, a second 401):
    // this process's session answers them from the configuration and the store.

    fn revokes_previous(&self) -> bool {
        self.session().is_ok_and(|s| s.revokes_previous())
    }

    fn refreshed_since(&self, version: crate::store::Version) -> Result<bool> {
        self.session()?.refreshed_since(version)
    }

    fn refusal_hint(
        &self,
        status: u16,
        www_authenticate: Option<&str>,
        body: &[u8],
    ) -> Option<String> {
        self.session()
            .ok()?
            .refusal_hint(status, www_authenticate, body)
    }
}
