//! Wire codec (docs/DESIGN.md §5; the normative description is `docs/PROTOCOL.md`).
//!
//! - [`json`]: JSON-RPC 2.0 text messages in both directions, [`ClientMessage`]
//!   (client → hub) and [`ServerMessage`] (hub → client), each with `encode` and
//!   `decode`, so the hub, the Rust client and the load generator share one definition.
//! - [`binary`]: the compact fixed-layout frames, `pay` (client → hub, many vouchers)
//!   and `ack` / `reject` (hub → client), with caller-owned buffers.
//! - [`num`]: fast, allocation-free field element and integer encodings.
//! - [`error`]: [`CodecError`], each variant mapped to a stable [`ErrorCode`].
//! - [`error_code`]: [`ErrorCode`] and what a client does on each ([`ClientAction`]).
//! - [`close_code`]: [`CloseCode`], why the hub closes a session and with which code.
//! - [`fuzz`]: entry points for fuzzers (also driven by the property tests).
//!
//! Decoders never panic, allocate within stated bounds and return typed errors. The
//! codec is sans-I/O: it turns bytes into messages and back, nothing else.

pub mod binary;
pub mod close_code;
pub mod error;
pub mod error_code;
pub mod fuzz;
pub mod json;
pub mod num;

pub use binary::{
    FrameEncodeError, ServerFrame, SigForm, decode_pay_frame, decode_server_binary,
    encode_ack_frame, encode_pay_frame, encode_pay_frame_with, encode_reject_frame,
};
pub use close_code::CloseCode;
pub use error::{CodecError, FrameFault, Id};
pub use error_code::{ClientAction, ErrorCode};
pub use json::{
    Ack, Challenge, ChannelStatus, ClientMessage, Credit, DisclosureRequest, Hello, NewEpoch,
    Opening, OpeningRequest, Pay, PayVoucher, Reack, Receipt, Reject, Reply, Request, RpcError,
    ServerMessage, Subscribe, Subscribed, TextLimits,
};

/// Largest text message, in bytes, the hub accepts by default (1 MiB).
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Largest WebSocket frame, in bytes, the hub accepts by default (1 MiB).
pub const MAX_FRAME_BYTES: usize = 1 << 20;
/// Most vouchers in one `pay`, text or binary (4,096).
pub const MAX_VOUCHERS_PER_FRAME: usize = 4096;

/// Default limits enforced outside the codec (by the hub), stated here once so that
/// the hub, the clients and `docs/PROTOCOL.md` agree.
pub mod defaults {
    /// A connection that has not completed `hello` or `subscribe` within this many
    /// seconds is closed.
    pub const HANDSHAKE_TIMEOUT_SECS: u64 = 10;
    /// A connection silent for this many seconds is closed (clients `ping`).
    pub const IDLE_TIMEOUT_SECS: u64 = 120;
    /// Most pending (unsigned, uncovered) vouchers per channel
    /// (`ledger::Limits::DEFAULT`).
    pub const MAX_PENDING_VOUCHERS: u32 = crate::ledger::Limits::DEFAULT.max_pending_count;
    /// The WebSocket path.
    pub const WS_PATH: &str = "/v1";
}
