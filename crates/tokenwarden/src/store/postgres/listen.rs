//! The change feed of the fleet store: a connection of its own that `LISTEN`s on the channel
//! the token table's trigger notifies (`super::schema`), and publishes each change on a
//! [`ChangeFeed`]. Started the first time a process asks for the feed (a one-shot command
//! never does), it runs until the store is dropped. When its connection is lost it connects
//! again (100 ms, doubling to 2 s), and announces "anything may have changed" once it listens
//! again, since changes may have been missed meanwhile.

use super::conn::Connector;
use super::schema::CHANNEL;
use crate::store::Version;
use crate::store::changes::{Change, ChangeFeed};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::{AsyncMessage, Client, Connection, NoTls, Notification};

/// Starts following the store's changes on `handle`, publishing them on `feed`.
pub(super) fn start(handle: &tokio::runtime::Handle, connector: Connector, feed: ChangeFeed) {
    handle.spawn(async move {
        let mut pause = Duration::from_millis(100);
        loop {
            let config = connector.config();
            let followed = match &connector.tls {
                Some(tls) => match config.connect(tls.clone()).await {
                    Ok((client, connection)) => follow(client, connection, &feed).await,
                    Err(e) => Err(e),
                },
                None => match config.connect(NoTls).await {
                    Ok((client, connection)) => follow(client, connection, &feed).await,
                    Err(e) => Err(e),
                },
            };
            match followed {
                // It listened, then lost the connection: try again soon.
                Ok(()) => pause = Duration::from_millis(100),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot follow the fleet store's changes");
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
            tokio::time::sleep(pause).await;
        }
    });
}

/// Listens on `client`, publishing every notification, until the connection ends.
async fn follow<S, T>(
    client: Client,
    mut connection: Connection<S, T>,
    feed: &ChangeFeed,
) -> Result<(), tokio_postgres::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Notification>();
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notification(n) = message
                && tx.send(n).is_err()
            {
                break;
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    // Whatever changed while nobody listened is unknown: re-read everything once.
    feed.publish(Change {
        profile: None,
        version: None,
    });
    while let Some(n) = rx.recv().await {
        feed.publish(parse(n.payload()));
    }
    Ok(())
}

/// A notification's payload, `<version> <profile>` (version 0: deleted).
fn parse(payload: &str) -> Change {
    match payload.split_once(' ') {
        Some((version, profile)) => Change {
            profile: Some(profile.to_string()),
            version: version
                .parse::<i64>()
                .ok()
                .filter(|v| *v > 0)
                .map(Version::from_raw),
        },
        None => Change {
            profile: None,
            version: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        assert_eq!(
            parse("12 my profile"),
            Change {
                profile: Some("my profile".into()),
                version: Some(Version::from_raw(12)),
            }
        );
        assert_eq!(parse("0 gone").version, None);
        assert_eq!(parse("junk").profile, None);
    }
}
