//! `LISTEN` on `db-channel` (default `pgrst`): `NOTIFY pgrst, 'reload schema'` (or an empty
//! payload) reloads the schema cache without restarting anything. Bursts are folded into one
//! reload; a lost connection is re-established with a backoff.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

use crate::app::App;
use crate::error::Error;

/// Payloads that ask for a schema reload (`NOTIFY pgrst` alone reloads everything).
fn asks_for_reload(payload: &str) -> bool {
    matches!(payload.trim(), "" | "reload schema")
}

/// Runs forever: listens, and reloads the schema cache when asked.
pub async fn listen(app: Arc<App>, channel: String) {
    let mut delay = Duration::from_millis(200);
    loop {
        match listen_once(&app, &channel).await {
            Ok(()) => delay = Duration::from_millis(200),
            Err(e) => {
                tracing::error!(
                    target: crate::logging::LIFECYCLE,
                    "listener on '{channel}' lost ({e}); retrying"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn listen_once(app: &Arc<App>, channel: &str) -> Result<(), Error> {
    let config =
        tokio_postgres::Config::from_str(app.config.db_uri.expose()).map_err(Error::DbUri)?;
    let (client, mut connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(Error::Listen)?;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_string()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    let listen = format!("LISTEN {}", sql_engine::sql::quote_ident(channel));
    client.batch_execute(&listen).await.map_err(Error::Listen)?;
    tracing::info!(target: crate::logging::LIFECYCLE, "listening for reloads on '{channel}'");
    // The cache may have changed while no listener was up.
    let _ = app.reload_schema().await;
    while let Some(payload) = rx.recv().await {
        if !asks_for_reload(&payload) {
            continue;
        }
        // Fold a burst of notifications into one reload.
        tokio::time::sleep(Duration::from_millis(100)).await;
        while rx.try_recv().is_ok() {}
        let _ = app.reload_schema().await;
    }
    driver.abort();
    Err(Error::ListenClosed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_payloads() {
        assert!(asks_for_reload("reload schema"));
        assert!(asks_for_reload(""));
        assert!(!asks_for_reload("reload config"));
    }
}
