//! The tokenwarden strategy: the worker gets its token from the library's [`Session`], built by
//! [`Warden::session_with_grants`] as `Warden::session` builds its own, with the refresh grant
//! wrapped only to report each refresh. A lost session (which tokenwarden should never meet)
//! is a forced re-login, counted.

use crate::emit::Emitter;
use crate::errors::{is_invalid_grant, is_login_required, label};
use crate::login;
use crate::protocol::Kind;
use anyhow::Result;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokenwarden::Error;
use tokenwarden::config::Profile;
use tokenwarden::http::Exchanged;
use tokenwarden::http::TokenClient;
use tokenwarden::secret::RefreshToken;
use tokenwarden::session::{BoxFuture, Effort, Grants, Session};
use tokenwarden::store::Store;
use tokenwarden::token::TokenSet;
use tokenwarden::warden::{ClientGrants, Warden};

/// The refresh grant, reporting each refresh (with its retries) as an event.
struct Observed {
    inner: ClientGrants,
    out: Emitter,
}

impl Grants for Observed {
    fn prepare<'a>(&'a self, effort: Effort) -> BoxFuture<'a, tokenwarden::Result<()>> {
        self.inner.prepare(effort)
    }

    fn refresh<'a>(
        &'a self,
        refresh_token: &'a RefreshToken,
        effort: Effort,
    ) -> BoxFuture<'a, Exchanged<TokenSet>> {
        Box::pin(async move {
            let at = SystemTime::now();
            let started = Instant::now();
            let done = self.inner.refresh(refresh_token, effort).await;
            let took = started.elapsed();
            match &done.result {
                Ok(_) => self.out.emit(
                    at,
                    took,
                    Kind::Refresh {
                        ok: true,
                        error: None,
                    },
                ),
                Err(e) => {
                    self.out.emit(
                        at,
                        took,
                        Kind::Refresh {
                            ok: false,
                            error: Some(label(e)),
                        },
                    );
                    if is_invalid_grant(e) {
                        self.out.emit(at, took, Kind::InvalidGrant);
                    }
                }
            }
            done
        })
    }

    fn client_credentials<'a>(
        &'a self,
        effort: Effort,
    ) -> Option<BoxFuture<'a, Exchanged<TokenSet>>> {
        self.inner.client_credentials(effort)
    }
}

/// A worker that gets its token from the library's [`Session`].
pub struct TokenwardenWorker {
    name: String,
    session: Session,
    client: TokenClient,
    store: Arc<dyn Store>,
    http: reqwest::Client,
    url: reqwest::Url,
    out: Emitter,
    lost: bool,
}

impl TokenwardenWorker {
    /// A worker over a session of `profile`, reporting through `out`.
    pub fn new(w: &Warden, profile: Profile, url: reqwest::Url, out: Emitter) -> Result<Self> {
        let client = w.client(&profile)?;
        let store = w.store()?;
        let grants = Observed {
            inner: ClientGrants(w.client(&profile)?),
            out: out.clone(),
        };
        let session = w.session_with_grants(&profile.name, Arc::new(grants))?;
        Ok(TokenwardenWorker {
            name: profile.name.clone(),
            http: client.http().raw().clone(),
            session,
            client,
            store,
            url,
            out,
            lost: false,
        })
    }

    /// One API call: get a token from the session, call the API through it.
    pub async fn call(&mut self) {
        let at = SystemTime::now();
        let started = Instant::now();
        if self.lost && !self.relogin().await {
            self.out.emit(
                at,
                started.elapsed(),
                Kind::ResourceFail {
                    status: None,
                    error: "logged out".into(),
                },
            );
            return;
        }
        match self.session.get_token(Duration::ZERO).await {
            Ok(token) => self.out.emit(
                at,
                started.elapsed(),
                Kind::TokenOk {
                    degraded: token.degraded().is_some(),
                },
            ),
            Err(e) => {
                self.out
                    .emit(at, started.elapsed(), Kind::TokenErr { error: label(&e) });
                let error = label(&e);
                self.lost_session(&e).await;
                self.out.emit(
                    at,
                    started.elapsed(),
                    Kind::ResourceFail {
                        status: None,
                        error,
                    },
                );
                return;
            }
        }
        let attempts = AtomicU32::new(0);
        let result = self
            .session
            .send(|token| {
                attempts.fetch_add(1, Ordering::Relaxed);
                self.http
                    .get(self.url.clone())
                    .header(reqwest::header::AUTHORIZATION, token.authorization())
            })
            .await;
        let kind = match result {
            Ok(resp) => {
                let status = resp.status();
                let _ = resp.bytes().await;
                if status.is_success() {
                    Kind::ResourceOk {
                        retried: attempts.load(Ordering::Relaxed) > 1,
                    }
                } else {
                    Kind::ResourceFail {
                        status: Some(status.as_u16()),
                        error: format!("the API answered {status}"),
                    }
                }
            }
            Err(e) => {
                let kind = Kind::ResourceFail {
                    status: e.status(),
                    error: label(&e),
                };
                self.lost_session(&e).await;
                kind
            }
        };
        self.out.emit(at, started.elapsed(), kind);
    }

    /// A LoginRequired error is a forced re-login: count it and log in again (a person would
    /// have to). tokenwarden should never get here.
    async fn lost_session(&mut self, e: &Error) {
        if is_login_required(e) && !self.lost {
            self.lost = true;
            self.out.now(Kind::LoginRequired);
            self.relogin().await;
        }
    }

    async fn relogin(&mut self) -> bool {
        let at = SystemTime::now();
        let started = Instant::now();
        let result = match login::headless(&self.client).await {
            Ok(tokens) => self.store.replace(&self.name, &tokens).map(|_| ()),
            Err(e) => Err(e),
        };
        let (ok, error) = match result {
            Ok(()) => (true, None),
            Err(e) => (false, Some(label(&e))),
        };
        self.out
            .emit(at, started.elapsed(), Kind::Relogin { ok, error });
        if ok {
            self.lost = false;
        }
        ok
    }
}
