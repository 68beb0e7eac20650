//! An async Rust client for the hub, on tokio-tungstenite, built on the sans-I/O
//! state machines of `channel::client`.
//!
//! - [`Client`]: a paying session bound to one channel. [`Client::connect`] reads the
//!   hub's `challenge`, answers `hello` and resumes the [`Payer`] from the committed
//!   head in the result. A background task owns the socket: it sends whatever the
//!   payer releases (many vouchers per binary frame under load), feeds acks and
//!   rejects back, fires the linger timer, pings, and reconnects on its own after a
//!   lost connection or a reject that desynchronised the payer, resending everything
//!   the hub has not committed (the hub re-acks what it already has, and never
//!   applies a payment twice).
//! - [`Subscription`] ([`subscribe`]): a read-only session for a payee dashboard,
//!   with no `hello`: credits and verified receipts as a stream.
//!
//! Wire format: `channel::codec` (JSON-RPC text, binary pay/ack/reject frames).

mod conn;
mod payer;
mod subscription;

pub use payer::{Client, ClientConfig, ClientEvent};
pub use subscription::{PayeeEvent, Subscription, subscribe};

use channel::client::{PayError, PayeeError, ProtocolError};
use channel::codec::{CodecError, ErrorCode, RpcError};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The WebSocket could not be opened or broke.
    #[error("websocket: {0}")]
    WebSocket(#[from] Box<tokio_tungstenite::tungstenite::Error>),
    /// The hub refused a request (its code says why).
    #[error("hub refused the request: {} ({})", .0.message, .0.code)]
    Rpc(RpcError),
    /// The hub sent something the codec refused.
    #[error("undecodable message from the hub: {0}")]
    Codec(#[from] CodecError),
    /// The hub broke the protocol (see [`ProtocolError`]).
    #[error("hub protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
    /// The hub sent an unexpected message.
    #[error("unexpected message from the hub: {0}")]
    Unexpected(String),
    /// The payment was refused locally (balance, amount, window...).
    #[error("payment refused: {0}")]
    Pay(#[from] PayError),
    /// A receipt failed verification.
    #[error("receipt refused: {0}")]
    Receipt(#[from] PayeeError),
    /// Receipts can only be verified with the hub's public key (from the settlement
    /// layer's registration): set [`ClientConfig::hub_key`].
    #[error("the hub's public key is not configured; receipts cannot be verified")]
    NoHubKey,
    /// The operation did not complete in time.
    #[error("timed out")]
    Timeout,
    /// The connection was lost while the request was outstanding; retry.
    #[error("connection lost")]
    Disconnected,
    /// The client was closed.
    #[error("client closed")]
    Closed,
}

impl ClientError {
    /// The hub's error code, for a refused request.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Rpc(e) => e.error_code(),
            _ => None,
        }
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for ClientError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        ClientError::WebSocket(Box::new(e))
    }
}
