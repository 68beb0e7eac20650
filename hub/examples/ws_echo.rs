//! WebSocket conformance testee: the hub's WebSocket layer with an echo handler.
//!
//! ```text
//! cargo run --release -p hub --example ws_echo [-- ADDR]    # default 127.0.0.1:9001
//! ```
//!
//! Serves `ws://ADDR/echo` for the Autobahn fuzzing client (`scripts/autobahn.sh`).
//! It runs the same library as the hub (axum's WebSocket over tungstenite), configured
//! by the same code ([`hub::config::ServerLimits::websocket`]: frame and message size
//! limits, write-buffer bound) with the hub's default limits, and it ends a connection
//! on a read error the way a hub session does (`hub/src/server/session.rs`,
//! `read_loop`): close code 1009 for a size-limit error, 1002 for anything else. Only
//! the handler differs: it echoes every text and binary message instead of speaking
//! the payment protocol. Pings are answered by the library, as in the hub.
//!
//! Conformance-only: it has no payment logic and no state, and listens on loopback by
//! default.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use hub::config::ServerLimits;
// axum 0.8 runs tungstenite 0.29 (the hub's `axum-tungstenite` dependency), as in the hub.
use axum_tungstenite::Error as WsError;

/// Close codes the hub uses when a read fails (RFC 6455 §7.4.1).
const PROTOCOL_ERROR: u16 = 1002;
const TOO_BIG: u16 = 1009;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = match std::env::args().nth(1) {
        Some(a) => a.parse().map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{a}: {e}"))
        })?,
        None => SocketAddr::from(([127, 0, 0, 1], 9001)),
    };
    let limits = ServerLimits::default();
    let app = Router::new().route(
        "/echo",
        get(move |ws: WebSocketUpgrade| async move { upgrade(&limits, ws) }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("ws_echo: serving ws://{}/echo", listener.local_addr()?);
    axum::serve(listener, app).await
}

fn upgrade(limits: &ServerLimits, ws: WebSocketUpgrade) -> Response {
    limits.websocket(ws).on_upgrade(echo)
}

async fn echo(mut socket: WebSocket) {
    while let Some(next) = socket.recv().await {
        let reply = match next {
            Ok(Message::Text(t)) => Message::Text(t),
            Ok(Message::Binary(b)) => Message::Binary(b),
            // Pongs to pings are queued by the library and flushed on the next read;
            // after a close frame the library has queued the reply: keep reading until
            // it reports the end, which flushes it.
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_)) => continue,
            Err(e) => {
                // As the hub's session (`read_error_reason`): size-limit errors close
                // with 1009, everything else with 1002.
                let code = match e.into_inner().downcast::<WsError>() {
                    Ok(ws) if matches!(*ws, WsError::Capacity(_)) => TOO_BIG,
                    _ => PROTOCOL_ERROR,
                };
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code,
                        reason: "".into(),
                    })))
                    .await;
                return;
            }
        };
        if socket.send(reply).await.is_err() {
            return;
        }
    }
}
