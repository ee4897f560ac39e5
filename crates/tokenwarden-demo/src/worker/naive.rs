//! The naive strategy: the [`NaiveClient`] (the troubleshooting guides' sample code:
//! each process reads the tokens once at start and keeps its own copy, refreshes when its copy
//! looks expired, no lock, no re-read), driven the way such programs drive it: a failed
//! refresh fails the call; a 401 makes it refresh and try once more; `invalid_grant` means the
//! session is lost and the process logs in again (a "forced re-login": in real life, a person
//! at a browser). One attempt per refresh: no backoff, no circuit breaker, no degraded mode.

use crate::emit::Emitter;
use crate::errors::{is_invalid_grant, is_login_required, label};
use crate::login;
use crate::naive::NaiveClient;
use crate::protocol::Kind;
use anyhow::Result;
use std::time::{Duration, Instant, SystemTime};
use tokenwarden::config::Profile;
use tokenwarden::http::TokenClient;
use tokenwarden::secret::AccessToken;
use tokenwarden::warden::Warden;

/// A worker with its own copy of the tokens.
pub struct NaiveWorker {
    client: TokenClient,
    naive: Option<NaiveClient>,
    http: reqwest::Client,
    url: reqwest::Url,
    out: Emitter,
    lost: bool,
}

/// Why there is no token: a short label.
type NoToken = String;

impl NaiveWorker {
    /// Reads the profile's tokens once: from now on this process's copy is its own.
    pub fn new(w: &Warden, mut profile: Profile, url: reqwest::Url, out: Emitter) -> Result<Self> {
        let copy = w.store()?.read(&profile.name)?.map(|s| s.tokens);
        profile.retry.max_attempts = 1;
        profile.retry.breaker_threshold = u32::MAX;
        let client = TokenClient::builder(profile).build()?;
        Ok(NaiveWorker {
            http: client.http().raw().clone(),
            naive: copy.map(|t| NaiveClient::new(client.clone(), t)),
            client,
            url,
            out,
            lost: false,
        })
    }

    /// One API call: get a token (refreshing when the copy looks expired), call the API.
    pub async fn call(&mut self) {
        let at = SystemTime::now();
        let started = Instant::now();
        let token = self.token().await;
        let took = started.elapsed();
        let token = match token {
            Ok(t) => {
                self.out.emit(at, took, Kind::TokenOk { degraded: false });
                t
            }
            Err(error) => {
                self.out.emit(
                    at,
                    took,
                    Kind::TokenErr {
                        error: error.clone(),
                    },
                );
                self.out.emit(
                    at,
                    took,
                    Kind::ResourceFail {
                        status: None,
                        error,
                    },
                );
                return;
            }
        };
        let kind = match self.get(&token).await {
            Ok(200) => Kind::ResourceOk { retried: false },
            Ok(401) => {
                // The copy is dead: refresh it and try once more.
                self.expire_copy();
                match self.token().await {
                    Ok(fresh) => match self.get(&fresh).await {
                        Ok(200) => Kind::ResourceOk { retried: true },
                        Ok(s) => fail(Some(s), format!("the API answered {s}")),
                        Err(e) => fail(None, e),
                    },
                    Err(e) => fail(Some(401), e),
                }
            }
            Ok(s) => fail(Some(s), format!("the API answered {s}")),
            Err(e) => fail(None, e),
        };
        self.out.emit(at, started.elapsed(), kind);
    }

    async fn token(&mut self) -> Result<AccessToken, NoToken> {
        let naive = match self.naive.as_mut() {
            Some(naive) if !self.lost => naive,
            _ => return self.lost_session().await,
        };
        let before = naive.refreshes();
        let at = SystemTime::now();
        let started = Instant::now();
        let result = naive.token().await;
        if naive.refreshes() == before {
            return result.map_err(|e| label(&e));
        }
        let took = started.elapsed();
        match result {
            Ok(token) => {
                let ok = Kind::Refresh {
                    ok: true,
                    error: None,
                };
                self.out.emit(at, took, ok);
                Ok(token)
            }
            Err(e) => {
                let failed = Kind::Refresh {
                    ok: false,
                    error: Some(label(&e)),
                };
                self.out.emit(at, took, failed);
                if is_invalid_grant(&e) {
                    self.out.emit(at, took, Kind::InvalidGrant);
                }
                if is_invalid_grant(&e) || is_login_required(&e) {
                    return self.lost_session().await;
                }
                Err(label(&e))
            }
        }
    }

    /// Marks the copy expired, as sample code does after a 401.
    fn expire_copy(&mut self) {
        if let Some(naive) = self.naive.as_mut() {
            let mut tokens = naive.tokens().clone();
            tokens.expires_at = Some(SystemTime::now() - Duration::from_secs(1));
            naive.replace(tokens);
        }
    }

    async fn get(&self, token: &AccessToken) -> Result<u16, String> {
        let resp = self
            .http
            .get(self.url.clone())
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|e| format!("the API could not be reached: {e}"))?;
        let status = resp.status().as_u16();
        let _ = resp.bytes().await;
        Ok(status)
    }

    /// The session is gone: log in again (counted once per loss).
    async fn lost_session(&mut self) -> Result<AccessToken, NoToken> {
        if !self.lost {
            self.lost = true;
            self.out.now(Kind::LoginRequired);
        }
        let at = SystemTime::now();
        let started = Instant::now();
        match login::headless(&self.client).await {
            Ok(tokens) => {
                let ok = Kind::Relogin {
                    ok: true,
                    error: None,
                };
                self.out.emit(at, started.elapsed(), ok);
                self.lost = false;
                let token = tokens.access_token.clone();
                match self.naive.as_mut() {
                    Some(naive) => naive.replace(tokens),
                    None => self.naive = Some(NaiveClient::new(self.client.clone(), tokens)),
                }
                Ok(token)
            }
            Err(e) => {
                let failed = Kind::Relogin {
                    ok: false,
                    error: Some(label(&e)),
                };
                self.out.emit(at, started.elapsed(), failed);
                Err(format!("logged out; login failed ({})", label(&e)))
            }
        }
    }
}

fn fail(status: Option<u16>, error: String) -> Kind {
    Kind::ResourceFail { status, error }
}
