//! One WebSocket connection to the hub: open it, read the `challenge`, make a request
//! and wait for its response, decode hub frames (text or binary) into
//! [`ServerMessage`]s.

use std::time::Duration;

use channel::codec::{
    Ack, Challenge, ClientMessage, CodecError, Id, Reject, Reply, Request, ServerFrame,
    ServerMessage, decode_server_binary,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::ClientError;

/// The client's WebSocket.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Decode one frame from the hub. `Ok(None)`: nothing for the protocol (control
/// frames, notifications this client does not know).
pub(crate) fn decode(msg: Message) -> Result<Option<ServerMessage>, ClientError> {
    match msg {
        Message::Text(text) => match ServerMessage::decode(text.as_str()) {
            Ok(m) => Ok(Some(m)),
            // The hub may add notifications; a client skips the ones it does not know.
            Err(CodecError::MethodNotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        },
        Message::Binary(bytes) => Ok(Some(match decode_server_binary(&bytes)? {
            ServerFrame::Ack { seq } => ServerMessage::Ack(Ack { seq }),
            ServerFrame::Reject { seq, code, message } => ServerMessage::Reject(Reject {
                seq,
                code,
                message: message.to_owned(),
            }),
        })),
        Message::Close(_) => Err(ClientError::Disconnected),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(None),
    }
}

/// Read the next protocol message, or fail when the connection ends.
pub(crate) async fn next(ws: &mut Ws) -> Result<ServerMessage, ClientError> {
    loop {
        match ws.next().await {
            None => return Err(ClientError::Disconnected),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(msg)) => {
                if let Some(m) = decode(msg)? {
                    return Ok(m);
                }
            }
        }
    }
}

/// Open a connection and read the hub's `challenge`, within `limit`.
pub(crate) async fn open(url: &str, limit: Duration) -> Result<(Ws, Challenge), ClientError> {
    let attempt = async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
        loop {
            match next(&mut ws).await? {
                ServerMessage::Challenge(c) => return Ok((ws, c)),
                ServerMessage::Epoch(_) => continue,
                other => {
                    return Err(ClientError::Unexpected(format!(
                        "{other:?} before the challenge"
                    )));
                }
            }
        }
    };
    tokio::time::timeout(limit, attempt)
        .await
        .map_err(|_| ClientError::Timeout)?
}

/// Send `request` with `id` and wait for its response within `limit`. Notifications
/// that arrive meanwhile are appended to `early` for the caller to process.
pub(crate) async fn call(
    ws: &mut Ws,
    id: i64,
    request: Request,
    limit: Duration,
    early: &mut Vec<ServerMessage>,
) -> Result<Reply, ClientError> {
    let text = ClientMessage::Request {
        id: Id::Num(id),
        request,
    }
    .to_text();
    let attempt = async {
        ws.send(Message::Text(text.into())).await?;
        loop {
            match next(ws).await? {
                ServerMessage::Response {
                    id: Id::Num(got),
                    result,
                } if got == id => {
                    return result.map_err(ClientError::Rpc);
                }
                ServerMessage::Response {
                    id: Id::Null,
                    result: Err(e),
                } => return Err(ClientError::Rpc(e)),
                ServerMessage::Response { .. } => continue, // an earlier, abandoned request
                other => early.push(other),
            }
        }
    };
    tokio::time::timeout(limit, attempt)
        .await
        .map_err(|_| ClientError::Timeout)?
}
