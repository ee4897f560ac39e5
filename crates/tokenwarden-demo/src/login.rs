//! A login with no person and no browser, for the demo: the library's authorization code +
//! PKCE flow over its loopback listener, with an HTTP client standing in for the browser. It
//! opens the authorization URL and follows the redirects; the demo's mockauth approves at once
//! and redirects to the loopback listener, which receives the code.

use std::time::Duration;
use tokenwarden::flow::authcode;
use tokenwarden::http::TokenClient;
use tokenwarden::token::TokenSet;
use tokenwarden::{Error, ErrorKind};

/// How long a headless login may take in all.
const LOGIN_WAIT: Duration = Duration::from_secs(10);

/// Logs in through `client`'s profile without a person: see the module docs.
pub async fn headless(client: &TokenClient) -> tokenwarden::Result<TokenSet> {
    let prepared = authcode::prepare(client).await?;
    let url = prepared.url.clone();
    tokenwarden::http::install_crypto_provider();
    let browser = reqwest::Client::builder()
        .timeout(LOGIN_WAIT)
        .no_proxy()
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!("cannot build the demo's stand-in browser: {e}"),
            )
        })?;
    let visit = async move {
        let resp = browser.get(&url).send().await.map_err(|e| {
            Error::new(
                ErrorKind::ProviderUnavailable,
                format!("the authorization page could not be opened: {e}"),
            )
        })?;
        let status = resp.status();
        // Read the page so that the loopback listener's answer is complete.
        let _ = resp.bytes().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::ProviderUnavailable,
                format!("the authorization page answered {status}"),
            ))
        }
    };
    let finish = prepared.finish(client, LOGIN_WAIT);
    tokio::pin!(finish);
    tokio::select! {
        tokens = &mut finish => tokens,
        visited = visit => match visited {
            Ok(()) => finish.await,
            // The listener's own error (state mismatch, consent denied…) says more, when it
            // has one.
            Err(e) => match tokio::time::timeout(Duration::from_secs(1), finish).await {
                Ok(result) => result,
                Err(_) => Err(e),
            },
        },
    }
}
