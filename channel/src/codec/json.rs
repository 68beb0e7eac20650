//! JSON-RPC 2.0 text messages (docs/DESIGN.md §5, docs/PROTOCOL.md §3–§5).
//!
//! Two directions, each with an encoder and a decoder, so that the hub and the Rust
//! client / load generator share one definition:
//!
//! - [`ClientMessage`] (client → hub): requests (`hello`, `status`, `receipt`,
//!   `subscribe`, `opening`, `disclosure`, `ping`) carry an id and get a [`ServerMessage::Response`];
//!   `pay` is a notification (no id).
//! - [`ServerMessage`] (hub → client): notifications (`challenge`, `ack`, `reject`,
//!   `credit`, `receipt`, `epoch`) and responses.
//!
//! The hub's decoder is strict (unknown fields in params are refused, so a typo never
//! silently turns a checkpoint into a pending voucher); the client's decoder ignores
//! unknown fields so that the hub can add fields without breaking clients (except in a
//! `disclosure` result: a versioned file, read by [`crate::disclosure::Disclosure::from_json`],
//! that changes only with its version).

use std::borrow::Cow;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::{CodecError, Id, clip, clip_to};
use super::num::{net_json, u32_json, u64_json, u64_json_opt};
use super::{ErrorCode, MAX_MESSAGE_BYTES, MAX_VOUCHERS_PER_FRAME};
use crate::crypto::Signature;
use crate::field::{self, Fe};
use crate::types::{Amount, ChannelId, Epoch, HubId, NetAmount, Seq, Voucher, VoucherIn};

/// The `jsonrpc` member every message carries.
pub const JSONRPC_VERSION: &str = "2.0";

/// Longest Merkle path accepted in an [`Opening`] (far above any real tree depth).
pub const MAX_OPENING_PATH_LEN: usize = 256;

/// Longest `message` text the hub puts in a `reject` or an error.
pub const MAX_ERROR_MESSAGE_LEN: usize = 1024;

/// Method names, as on the wire.
pub mod method {
    /// client → hub request: bind the session to a channel.
    pub const HELLO: &str = "hello";
    /// client → hub request: the session channel's state.
    pub const STATUS: &str = "status";
    /// client → hub request: a fresh receipt (also hub → client notification).
    pub const RECEIPT: &str = "receipt";
    /// client → hub request: read-only credit subscription.
    pub const SUBSCRIBE: &str = "subscribe";
    /// client → hub request: balance-leaf opening for a closed epoch.
    pub const OPENING: &str = "opening";
    /// client → hub request: the session channel's disclosure file for a closed epoch.
    pub const DISCLOSURE: &str = "disclosure";
    /// client → hub request: liveness; answered with `"pong"`.
    pub const PING: &str = "ping";
    /// client → hub notification: vouchers.
    pub const PAY: &str = "pay";
    /// hub → client notification: sent on connect.
    pub const CHALLENGE: &str = "challenge";
    /// hub → client notification: cumulative durable ack.
    pub const ACK: &str = "ack";
    /// hub → client notification: a voucher was refused.
    pub const REJECT: &str = "reject";
    /// hub → client notification: the channel received a payment.
    pub const CREDIT: &str = "credit";
    /// hub → client notification: a new epoch began.
    pub const EPOCH: &str = "epoch";
}

/// Bounds the hub applies when decoding client text messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimits {
    /// Largest message in bytes.
    pub max_message_bytes: usize,
    /// Most vouchers in one `pay` (at most [`MAX_VOUCHERS_PER_FRAME`]).
    pub max_vouchers: usize,
}

impl TextLimits {
    /// 1 MiB messages, 4,096 vouchers per `pay`.
    pub const DEFAULT: TextLimits = TextLimits {
        max_message_bytes: MAX_MESSAGE_BYTES,
        max_vouchers: MAX_VOUCHERS_PER_FRAME,
    };
}

impl Default for TextLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

// ---------------------------------------------------------------------------------
// Params and results (each is the `params` or `result` object of one message).
// ---------------------------------------------------------------------------------

/// `hello` params: bind the session to `channel`, proving key ownership with a
/// signature over `hello_message(hub_id, nonce, channel)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// The channel to bind.
    #[serde(with = "u32_json")]
    pub channel: ChannelId,
    /// Signature by the channel key over `hello_message(hub_id, nonce, channel)`.
    pub sig: Signature,
}

/// `subscribe` params: receive `credit` notifications of `channel` (read-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {
    /// The channel to watch.
    #[serde(with = "u32_json")]
    pub channel: ChannelId,
}

/// `opening` params: the session channel's balance-leaf opening for closed `epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpeningRequest {
    /// A closed epoch.
    #[serde(with = "u64_json")]
    pub epoch: Epoch,
}

/// `disclosure` params: the session channel's disclosure of accepted `epoch`
/// ([`crate::disclosure`]), with the epoch before unless `previous` is `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureRequest {
    /// An epoch whose close was accepted.
    #[serde(with = "u64_json")]
    pub epoch: Epoch,
    /// Include the epoch before, so the file states the epoch's own amounts (default).
    #[serde(default = "yes")]
    pub previous: bool,
}

fn yes() -> bool {
    true
}

/// Empty params (`status`, `receipt`, `ping`): `{}` or omitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// One voucher in a JSON `pay`. `spent` and `chain` may be omitted (the hub derives
/// them); a signature still covers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayVoucher {
    /// Paying channel: must be the session's.
    #[serde(with = "u32_json")]
    pub channel: ChannelId,
    /// Sequence number.
    #[serde(with = "u64_json")]
    pub seq: Seq,
    /// Cumulative spent after this voucher (checked when present).
    #[serde(
        default,
        with = "u64_json_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub spent: Option<Amount>,
    /// Receiving channel.
    #[serde(with = "u32_json")]
    pub to: ChannelId,
    /// Amount (> 0).
    #[serde(with = "u64_json")]
    pub amount: Amount,
    /// Payment chain after this voucher (checked when present).
    #[serde(
        default,
        with = "field::dec_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub chain: Option<Fe>,
    /// Checkpoint signature over `voucher_message`; absent for a pending voucher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<Signature>,
}

impl PayVoucher {
    /// The wire form of an incoming voucher of `channel`.
    pub fn new(channel: ChannelId, v: &VoucherIn) -> Self {
        PayVoucher {
            channel,
            seq: v.seq,
            spent: v.spent,
            to: v.to,
            amount: v.amount,
            chain: v.chain,
            sig: v.sig,
        }
    }

    /// The voucher as the hub admits it (the caller checks `channel` against the session).
    pub fn to_incoming(&self) -> VoucherIn {
        VoucherIn {
            seq: self.seq,
            to: self.to,
            amount: self.amount,
            spent: self.spent,
            chain: self.chain,
            sig: self.sig,
        }
    }
}

impl From<&Voucher> for PayVoucher {
    /// Every field present.
    fn from(v: &Voucher) -> Self {
        PayVoucher::new(v.channel, &v.to_incoming())
    }
}

/// `pay` params: vouchers of the session's channel, consecutive or not (each is
/// checked on its own, in order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pay {
    /// The vouchers, in order (1 to 4,096).
    #[serde(deserialize_with = "bounded_vouchers")]
    pub vouchers: Vec<PayVoucher>,
}

/// Deserialize at most [`MAX_VOUCHERS_PER_FRAME`] vouchers, failing as soon as the
/// list grows past it (so a hostile list never allocates more than the limit).
fn bounded_vouchers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PayVoucher>, D::Error> {
    struct Bounded;
    impl<'de> Visitor<'de> for Bounded {
        type Value = Vec<PayVoucher>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "an array of at most {MAX_VOUCHERS_PER_FRAME} vouchers")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let hint = seq.size_hint().unwrap_or(0).min(64);
            let mut out = Vec::with_capacity(hint);
            while let Some(v) = seq.next_element::<PayVoucher>()? {
                if out.len() == MAX_VOUCHERS_PER_FRAME {
                    return Err(de::Error::custom(format_args!(
                        "more than {MAX_VOUCHERS_PER_FRAME} vouchers"
                    )));
                }
                out.push(v);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Bounded)
}

/// `challenge` notification, sent by the hub on connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// The hub's id (signature domain).
    #[serde(with = "u64_json")]
    pub hub_id: HubId,
    /// The current epoch.
    #[serde(with = "u64_json")]
    pub epoch: Epoch,
    /// A fresh random field element that `hello` signs.
    #[serde(with = "field::dec")]
    pub nonce: Fe,
}

/// `ack` notification: every voucher of the session's channel with `seq ≤ self.seq`
/// is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Highest durable seq.
    #[serde(with = "u64_json")]
    pub seq: Seq,
}

/// `ack` notification answering a resent voucher at an already committed seq (a
/// *re-ack*): `seq` is the committed head and `spent`, `chain` are its cumulative
/// spent and payment chain, so that a client whose state diverged from the hub's can
/// tell (its own `spent` and `chain` at `seq` differ). Same method as [`Ack`], with
/// two more members that a client reading only `seq` ignores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reack {
    /// The committed head's seq.
    #[serde(with = "u64_json")]
    pub seq: Seq,
    /// Cumulative spent at `seq`.
    #[serde(with = "u64_json")]
    pub spent: Amount,
    /// Payment chain at `seq`.
    #[serde(with = "field::dec")]
    pub chain: Fe,
}

/// The params of an `ack` as read by a client: with or without the committed head.
#[derive(Deserialize)]
struct AckIn {
    #[serde(with = "u64_json")]
    seq: Seq,
    #[serde(default, with = "u64_json_opt")]
    spent: Option<Amount>,
    #[serde(default, with = "field::dec_opt")]
    chain: Option<Fe>,
}

impl From<AckIn> for ServerMessage {
    fn from(a: AckIn) -> Self {
        match (a.spent, a.chain) {
            (Some(spent), Some(chain)) => ServerMessage::Reack(Reack {
                seq: a.seq,
                spent,
                chain,
            }),
            _ => ServerMessage::Ack(Ack { seq: a.seq }),
        }
    }
}

/// `reject` notification: the voucher at `seq` was refused (and, if it was staged
/// behind a failed checkpoint, everything after it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    /// The refused voucher's seq.
    #[serde(with = "u64_json")]
    pub seq: Seq,
    /// Stable error code (see [`ErrorCode`]).
    pub code: i32,
    /// Human-readable reason.
    pub message: String,
}

impl Reject {
    /// A reject with a known code; `message` is cut to [`MAX_ERROR_MESSAGE_LEN`].
    pub fn new(seq: Seq, code: ErrorCode, message: &str) -> Self {
        Reject {
            seq,
            code: code.as_i32(),
            message: clip_to(message, MAX_ERROR_MESSAGE_LEN),
        }
    }

    /// The code, if this side knows it.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_i32(self.code)
    }
}

/// `credit` notification to a payee (its own session or a subscription).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    /// The credited channel.
    #[serde(with = "u32_json")]
    pub channel: ChannelId,
    /// Sum of the payments in this credit.
    #[serde(with = "u64_json")]
    pub amount: Amount,
    /// New cumulative received total (durable).
    #[serde(with = "u64_json")]
    pub received: Amount,
}

/// A receipt: the hub's signature over
/// `receipt_message(hub_id, epoch, channel, received)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The hub's id.
    #[serde(with = "u64_json")]
    pub hub_id: HubId,
    /// The epoch the receipt speaks of.
    #[serde(with = "u64_json")]
    pub epoch: Epoch,
    /// The payee channel.
    #[serde(with = "u32_json")]
    pub channel: ChannelId,
    /// Cumulative received, at least.
    #[serde(with = "u64_json")]
    pub received: Amount,
    /// The hub's signature (packed, hex).
    pub sig: Signature,
}

/// `epoch` notification: epoch `epoch` began after a cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEpoch {
    /// The new epoch.
    #[serde(with = "u64_json")]
    pub epoch: Epoch,
}

/// A channel's state (result of `hello` and `status`). `seq`, `spent` and `chain` are
/// the **committed** head: a resuming client resends every voucher after `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelStatus {
    /// Channel id.
    #[serde(with = "u32_json")]
    pub channel: ChannelId,
    /// Committed seq (0: none).
    #[serde(with = "u64_json")]
    pub seq: Seq,
    /// Committed cumulative spent.
    #[serde(with = "u64_json")]
    pub spent: Amount,
    /// Committed chain.
    #[serde(with = "field::dec")]
    pub chain: Fe,
    /// Net deposit `D` (negative after a payee withdrew more than it deposited).
    #[serde(with = "net_json")]
    pub deposit: NetAmount,
    /// Committed cumulative received.
    #[serde(with = "u64_json")]
    pub received: Amount,
    /// `deposit + received − spent`.
    #[serde(with = "u64_json")]
    pub balance: Amount,
    /// Exit requested: the channel may receive but not spend.
    pub exiting: bool,
}

/// Result of `subscribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The watched channel.
    #[serde(with = "u32_json")]
    pub channel: ChannelId,
    /// Its committed received total now; `credit`s follow.
    #[serde(with = "u64_json")]
    pub received: Amount,
}

/// Result of `opening`: the channel's balance leaf in closed epoch `epoch` and its
/// Merkle path to the accepted `balances_root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    /// The closed epoch.
    #[serde(with = "u64_json")]
    pub epoch: Epoch,
    /// Leaf index (slot) in the epoch's tree.
    #[serde(with = "u64_json")]
    pub index: u64,
    /// Channel id.
    #[serde(with = "u32_json")]
    pub channel: ChannelId,
    /// Public key x.
    #[serde(with = "field::dec")]
    pub ax: Fe,
    /// Public key y.
    #[serde(with = "field::dec")]
    pub ay: Fe,
    /// Balance `B` at the cut.
    #[serde(with = "u64_json")]
    pub balance: Amount,
    /// Spent `S` at the cut.
    #[serde(with = "u64_json")]
    pub spent: Amount,
    /// Received `R` at the cut.
    #[serde(with = "u64_json")]
    pub received: Amount,
    /// The leaf blind.
    #[serde(with = "field::dec")]
    pub blind: Fe,
    /// Sibling hashes from the leaf level up (layout of `channel::merkle`).
    #[serde(with = "field::dec_vec")]
    pub path: Vec<Fe>,
    /// The epoch's balances root, as accepted by the settlement layer.
    #[serde(with = "field::dec")]
    pub balances_root: Fe,
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcError {
    /// Stable code (see [`ErrorCode`]).
    pub code: i32,
    /// Human-readable reason.
    pub message: String,
    /// Optional structured detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl RpcError {
    /// An error with a known code; `message` is cut to [`MAX_ERROR_MESSAGE_LEN`].
    pub fn new(code: ErrorCode, message: &str) -> Self {
        RpcError {
            code: code.as_i32(),
            message: clip_to(message, MAX_ERROR_MESSAGE_LEN),
            data: None,
        }
    }

    /// The code, if this side knows it.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_i32(self.code)
    }
}

impl From<&CodecError> for RpcError {
    fn from(e: &CodecError) -> Self {
        RpcError::new(e.code(), &e.to_string())
    }
}

// ---------------------------------------------------------------------------------
// Messages.
// ---------------------------------------------------------------------------------

/// A client → hub request (it carries an id and gets one response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Bind the session to a channel; result [`Reply::Status`].
    Hello(Hello),
    /// The session channel's state; result [`Reply::Status`].
    Status,
    /// A fresh receipt for the session channel; result [`Reply::Receipt`].
    Receipt,
    /// Watch a channel's credits (no `hello` needed); result [`Reply::Subscribed`].
    Subscribe(Subscribe),
    /// A closed epoch's balance-leaf opening; result [`Reply::Opening`].
    Opening(OpeningRequest),
    /// A closed epoch's disclosure file; result [`Reply::Disclosure`].
    Disclosure(DisclosureRequest),
    /// Liveness; result [`Reply::Pong`].
    Ping,
}

impl Request {
    /// The wire method name.
    pub fn method(&self) -> &'static str {
        match self {
            Request::Hello(_) => method::HELLO,
            Request::Status => method::STATUS,
            Request::Receipt => method::RECEIPT,
            Request::Subscribe(_) => method::SUBSCRIBE,
            Request::Opening(_) => method::OPENING,
            Request::Disclosure(_) => method::DISCLOSURE,
            Request::Ping => method::PING,
        }
    }
}

/// A message from a client to the hub (text frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// A request with an id.
    Request {
        /// The id the response echoes.
        id: Id,
        /// The request.
        request: Request,
    },
    /// The `pay` notification.
    Pay(Pay),
}

/// The result of a successful request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Result of `hello` and `status`.
    Status(ChannelStatus),
    /// Result of `receipt`.
    Receipt(Receipt),
    /// Result of `subscribe`.
    Subscribed(Subscribed),
    /// Result of `opening`.
    Opening(Opening),
    /// Result of `disclosure`: the file itself.
    Disclosure(Box<crate::disclosure::Disclosure>),
    /// Result of `ping`: the string `"pong"`.
    Pong,
}

/// A message from the hub to a client (text frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// Sent on connect.
    Challenge(Challenge),
    /// Cumulative durable ack.
    Ack(Ack),
    /// Cumulative durable ack answering a resend, with the committed head (`ack` too).
    Reack(Reack),
    /// A voucher refused.
    Reject(Reject),
    /// A payee was credited.
    Credit(Credit),
    /// A receipt pushed to a payee (at most once per second).
    Receipt(Receipt),
    /// A new epoch began.
    Epoch(NewEpoch),
    /// The response to a request.
    Response {
        /// The request's id (`Id::Null` if it could not be read).
        id: Id,
        /// Result or error.
        result: Result<Reply, RpcError>,
    },
}

impl ServerMessage {
    /// The error response for a message that could not be decoded.
    pub fn error_response(e: &CodecError) -> Self {
        ServerMessage::Response {
            id: e.id().clone(),
            result: Err(RpcError::from(e)),
        }
    }
}

// ---------------------------------------------------------------------------------
// Encoding.
// ---------------------------------------------------------------------------------

#[derive(Serialize)]
struct NotificationOut<'a, P> {
    jsonrpc: &'static str,
    method: &'a str,
    params: &'a P,
}

#[derive(Serialize)]
struct RequestOut<'a, P> {
    jsonrpc: &'static str,
    id: &'a Id,
    method: &'a str,
    params: &'a P,
}

#[derive(Serialize)]
struct ResultOut<'a, R: ?Sized> {
    jsonrpc: &'static str,
    id: &'a Id,
    result: &'a R,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    jsonrpc: &'static str,
    id: &'a Id,
    error: &'a RpcError,
}

fn write<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    // Serializing these types into memory cannot fail: no maps with non-string keys,
    // no fallible custom serializers.
    serde_json::to_writer(out, value).expect("serializing a message into memory cannot fail");
}

fn notification<P: Serialize>(method: &str, params: &P, out: &mut Vec<u8>) {
    write(
        &NotificationOut {
            jsonrpc: JSONRPC_VERSION,
            method,
            params,
        },
        out,
    );
}

fn request_out<P: Serialize>(id: &Id, method: &str, params: &P, out: &mut Vec<u8>) {
    write(
        &RequestOut {
            jsonrpc: JSONRPC_VERSION,
            id,
            method,
            params,
        },
        out,
    );
}

fn result_out<R: Serialize + ?Sized>(id: &Id, result: &R, out: &mut Vec<u8>) {
    write(
        &ResultOut {
            jsonrpc: JSONRPC_VERSION,
            id,
            result,
        },
        out,
    );
}

/// The result of `ping`.
const PONG: &str = "pong";

fn into_string(bytes: Vec<u8>) -> String {
    // serde_json only writes UTF-8.
    String::from_utf8(bytes).expect("serde_json writes UTF-8")
}

impl ClientMessage {
    /// Append the JSON text of this message to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ClientMessage::Pay(pay) => notification(method::PAY, pay, out),
            ClientMessage::Request { id, request } => {
                let m = request.method();
                match request {
                    Request::Hello(p) => request_out(id, m, p, out),
                    Request::Subscribe(p) => request_out(id, m, p, out),
                    Request::Opening(p) => request_out(id, m, p, out),
                    Request::Disclosure(p) => request_out(id, m, p, out),
                    Request::Status | Request::Receipt | Request::Ping => {
                        request_out(id, m, &NoParams {}, out)
                    }
                }
            }
        }
    }

    /// The JSON text of this message.
    pub fn to_text(&self) -> String {
        let mut out = Vec::with_capacity(128);
        self.encode(&mut out);
        into_string(out)
    }
}

impl ServerMessage {
    /// Append the JSON text of this message to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ServerMessage::Challenge(p) => notification(method::CHALLENGE, p, out),
            ServerMessage::Ack(p) => notification(method::ACK, p, out),
            ServerMessage::Reack(p) => notification(method::ACK, p, out),
            ServerMessage::Reject(p) => notification(method::REJECT, p, out),
            ServerMessage::Credit(p) => notification(method::CREDIT, p, out),
            ServerMessage::Receipt(p) => notification(method::RECEIPT, p, out),
            ServerMessage::Epoch(p) => notification(method::EPOCH, p, out),
            ServerMessage::Response { id, result } => match result {
                Ok(Reply::Status(r)) => result_out(id, r, out),
                Ok(Reply::Receipt(r)) => result_out(id, r, out),
                Ok(Reply::Subscribed(r)) => result_out(id, r, out),
                Ok(Reply::Opening(r)) => result_out(id, r, out),
                Ok(Reply::Disclosure(r)) => result_out(id, r, out),
                Ok(Reply::Pong) => result_out(id, PONG, out),
                Err(error) => write(
                    &ErrorOut {
                        jsonrpc: JSONRPC_VERSION,
                        id,
                        error,
                    },
                    out,
                ),
            },
        }
    }

    /// The JSON text of this message.
    pub fn to_text(&self) -> String {
        let mut out = Vec::with_capacity(96);
        self.encode(&mut out);
        into_string(out)
    }
}

// ---------------------------------------------------------------------------------
// Decoding.
// ---------------------------------------------------------------------------------

/// A string member, borrowed from the input unless it had escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// A member that is present, even as `null`, is `Some(raw)`; an absent one is `None`
/// (through `#[serde(default)]`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// The members of any JSON-RPC message; which combination is present decides its kind.
/// Unknown members are ignored.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Text<'a>>,
    #[serde(borrow, default)]
    method: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    /// Parse the outer object; invalid JSON is `Parse`, valid JSON of the wrong shape
    /// (an array batch, a number, a non-string method) is `InvalidRequest`.
    fn parse(text: &'a str, max_bytes: usize) -> Result<Self, CodecError> {
        if text.len() > max_bytes {
            return Err(CodecError::TooLarge {
                len: text.len(),
                limit: max_bytes,
            });
        }
        let env: Envelope<'a> = serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => CodecError::InvalidRequest {
                id: Id::Null,
                detail: clip(&format!("not a JSON-RPC 2.0 object: {e}")),
            },
            _ => CodecError::Parse {
                detail: clip(&e.to_string()),
            },
        })?;
        Ok(env)
    }

    /// The id, if present; an id that is not a string, an integer or null is refused.
    fn id(&self) -> Result<Option<Id>, CodecError> {
        self.id
            .map(|raw| {
                serde_json::from_str::<Id>(raw.get()).map_err(|_| CodecError::InvalidRequest {
                    id: Id::Null,
                    detail: "id must be a string, an integer or null".into(),
                })
            })
            .transpose()
    }

    fn check_version(&self, id: &Id) -> Result<(), CodecError> {
        match &self.jsonrpc {
            Some(v) if v.0 == JSONRPC_VERSION => Ok(()),
            _ => Err(CodecError::InvalidRequest {
                id: id.clone(),
                detail: "jsonrpc must be \"2.0\"".into(),
            }),
        }
    }
}

/// Decode `params` (an object, or `{}` when omitted) as `T`.
fn parse_params<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
    method: &'static str,
    id: &Id,
) -> Result<T, CodecError> {
    let text = raw.map_or("{}", RawValue::get);
    let invalid = |detail: String| CodecError::InvalidParams {
        id: id.clone(),
        method,
        detail,
    };
    if !text.starts_with('{') {
        return Err(invalid("params must be an object".into()));
    }
    serde_json::from_str(text).map_err(|e| invalid(clip(&e.to_string())))
}

/// The static name of a known client → hub method.
fn client_method(name: &str) -> Option<&'static str> {
    [
        method::PAY,
        method::HELLO,
        method::STATUS,
        method::RECEIPT,
        method::SUBSCRIBE,
        method::OPENING,
        method::DISCLOSURE,
        method::PING,
    ]
    .into_iter()
    .find(|m| *m == name)
}

/// The static name of a known hub → client notification.
fn server_method(name: &str) -> Option<&'static str> {
    [
        method::ACK,
        method::REJECT,
        method::CREDIT,
        method::RECEIPT,
        method::CHALLENGE,
        method::EPOCH,
    ]
    .into_iter()
    .find(|m| *m == name)
}

impl ClientMessage {
    /// Decode a client text frame (the hub's side). Never panics; allocates at most
    /// what `limits` allow. Errors carry the request id when it could be read.
    pub fn decode(text: &str, limits: &TextLimits) -> Result<Self, CodecError> {
        let env = Envelope::parse(text, limits.max_message_bytes)?;
        let id = env.id()?;
        env.check_version(id.as_ref().unwrap_or(&Id::Null))?;
        let Some(name) = &env.method else {
            return Err(CodecError::InvalidRequest {
                id: id.unwrap_or(Id::Null),
                detail: "missing method".into(),
            });
        };
        let Some(m) = client_method(&name.0) else {
            return Err(CodecError::MethodNotFound {
                id: id.unwrap_or(Id::Null),
                method: clip_to(&name.0, 64),
            });
        };
        if m == method::PAY {
            if let Some(id) = id {
                return Err(CodecError::InvalidRequest {
                    id,
                    detail: "pay is a notification: send it without an id".into(),
                });
            }
            return Self::decode_pay(env.params, limits).map(ClientMessage::Pay);
        }
        let Some(id) = id else {
            return Err(CodecError::InvalidRequest {
                id: Id::Null,
                detail: clip(&format!("{m} is a request: it needs an id")),
            });
        };
        let request = match m {
            method::HELLO => Request::Hello(parse_params(env.params, m, &id)?),
            method::SUBSCRIBE => Request::Subscribe(parse_params(env.params, m, &id)?),
            method::OPENING => Request::Opening(parse_params(env.params, m, &id)?),
            method::DISCLOSURE => Request::Disclosure(parse_params(env.params, m, &id)?),
            _ => {
                let NoParams {} = parse_params(env.params, m, &id)?;
                match m {
                    method::STATUS => Request::Status,
                    method::RECEIPT => Request::Receipt,
                    _ => {
                        debug_assert_eq!(m, method::PING);
                        Request::Ping
                    }
                }
            }
        };
        Ok(ClientMessage::Request { id, request })
    }

    fn decode_pay(params: Option<&RawValue>, limits: &TextLimits) -> Result<Pay, CodecError> {
        let pay: Pay = parse_params(params, method::PAY, &Id::Null)?;
        let count = pay.vouchers.len();
        if count == 0 || count > limits.max_vouchers.min(MAX_VOUCHERS_PER_FRAME) {
            return Err(CodecError::InvalidParams {
                id: Id::Null,
                method: method::PAY,
                detail: format!(
                    "a pay carries 1 to {} vouchers, not {count}",
                    limits.max_vouchers
                ),
            });
        }
        Ok(pay)
    }
}

impl ServerMessage {
    /// Decode a hub text frame (the client's side). Never panics. Unknown members
    /// are ignored; unknown notification methods are `MethodNotFound` (a client
    /// may skip them).
    pub fn decode(text: &str) -> Result<Self, CodecError> {
        let env = Envelope::parse(text, MAX_MESSAGE_BYTES)?;
        let id = env.id()?;
        env.check_version(id.as_ref().unwrap_or(&Id::Null))?;
        if let Some(name) = &env.method {
            let Some(m) = server_method(&name.0) else {
                return Err(CodecError::MethodNotFound {
                    id: Id::Null,
                    method: clip_to(&name.0, 64),
                });
            };
            let p = env.params;
            let null = Id::Null;
            return Ok(match m {
                method::ACK => parse_params::<AckIn>(p, m, &null)?.into(),
                method::REJECT => ServerMessage::Reject(parse_params(p, m, &null)?),
                method::CREDIT => ServerMessage::Credit(parse_params(p, m, &null)?),
                method::RECEIPT => ServerMessage::Receipt(parse_params(p, m, &null)?),
                method::CHALLENGE => ServerMessage::Challenge(parse_params(p, m, &null)?),
                _ => {
                    debug_assert_eq!(m, method::EPOCH);
                    ServerMessage::Epoch(parse_params(p, m, &null)?)
                }
            });
        }
        let Some(id) = id else {
            return Err(CodecError::InvalidRequest {
                id: Id::Null,
                detail: "neither a notification (method) nor a response (id)".into(),
            });
        };
        let result = match (env.result, env.error) {
            (Some(result), None) => Ok(decode_reply(result, &id)?),
            (None, Some(error)) => {
                Err(serde_json::from_str::<RpcError>(error.get()).map_err(|e| {
                    CodecError::InvalidParams {
                        id: id.clone(),
                        method: "error",
                        detail: clip(&e.to_string()),
                    }
                })?)
            }
            _ => {
                return Err(CodecError::InvalidRequest {
                    id,
                    detail: "a response has exactly one of result and error".into(),
                });
            }
        };
        Ok(ServerMessage::Response { id, result })
    }
}

/// Which result a response carries, told apart by its members: `"pong"` is a string;
/// a disclosure has `format`, an opening `path`, a receipt `sig`, a status `deposit`, a subscription only
/// `channel` and `received`.
fn decode_reply(raw: &RawValue, id: &Id) -> Result<Reply, CodecError> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        format: Option<de::IgnoredAny>,
        #[serde(default)]
        path: Option<de::IgnoredAny>,
        #[serde(default)]
        sig: Option<de::IgnoredAny>,
        #[serde(default)]
        deposit: Option<de::IgnoredAny>,
        #[serde(default)]
        received: Option<de::IgnoredAny>,
    }
    const RESULT: &str = "result";
    let invalid = |detail: String| CodecError::InvalidParams {
        id: id.clone(),
        method: RESULT,
        detail,
    };
    let text = raw.get();
    if text.starts_with('"') {
        let s: Text<'_> = serde_json::from_str(text).map_err(|e| invalid(clip(&e.to_string())))?;
        return match s.0.as_ref() {
            PONG => Ok(Reply::Pong),
            _ => Err(invalid("unknown string result".into())),
        };
    }
    let probe: Probe = parse_params(Some(raw), RESULT, id)?;
    if probe.format.is_some() {
        let disclosure = crate::disclosure::Disclosure::from_json(text.as_bytes())
            .map_err(|e| invalid(clip(&e.to_string())))?;
        Ok(Reply::Disclosure(Box::new(disclosure)))
    } else if probe.path.is_some() {
        let opening: Opening = parse_params(Some(raw), RESULT, id)?;
        if opening.path.len() > MAX_OPENING_PATH_LEN {
            return Err(invalid("opening path too long".into()));
        }
        Ok(Reply::Opening(opening))
    } else if probe.sig.is_some() {
        Ok(Reply::Receipt(parse_params(Some(raw), RESULT, id)?))
    } else if probe.deposit.is_some() {
        Ok(Reply::Status(parse_params(Some(raw), RESULT, id)?))
    } else if probe.received.is_some() {
        Ok(Reply::Subscribed(parse_params(Some(raw), RESULT, id)?))
    } else {
        Err(invalid("unrecognised result object".into()))
    }
}
