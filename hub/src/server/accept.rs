//! The accept loop: one HTTP/1.1 connection task per TCP connection, on hyper
//! directly (rather than `axum::serve`) so that the pre-upgrade phase is bounded too:
//!
//! - **Header read timeout**: a peer that does not finish its request headers within
//!   the handshake timeout is disconnected (no slowloris).
//! - **Pre-upgrade connection limit**: at most `max_connections` TCP connections may
//!   be waiting for (or making) their HTTP request at once; more are closed at accept.
//!   Upgraded WebSocket sessions count separately, under the same limit.
//! - **Graceful shutdown**: on stop, idle keep-alive connections close and in-flight
//!   requests finish.
//! - **Graceful close**: every connection closes through [`LingerStream`] (FIN, then
//!   a bounded drain), so a peer still sending reads the close frame, not a reset.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::Service;
use tracing::debug;

use super::linger::LingerStream;
use crate::config::HubConfig;

/// Pause after an accept error (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serve `app` on `listener` until `stop` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    config: Arc<HubConfig>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let pending = Arc::new(Semaphore::new(config.limits.max_connections.max(1)));
    let header_timeout = config.limits.handshake_timeout;
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    debug!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => return Ok(()),
        };
        let Ok(permit) = Arc::clone(&pending).try_acquire_owned() else {
            debug!(%remote, "too many connections awaiting their request; closing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(remote));
                let mut app = app.clone();
                async move { app.call(req).await }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(LingerStream::new(stream)), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        debug!(%remote, error = %e, "http connection ended");
                    }
                }
                () = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
            // Upgraded sessions run in their own tasks; this slot is free again.
            drop(permit);
        });
    }
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
