//! Decoding errors ([`CodecError`]) and JSON-RPC request ids ([`Id`]).
//!
//! Every decoding failure maps to one stable [`ErrorCode`] and, for text messages,
//! carries the request id when it could be read, so the hub can answer a JSON-RPC
//! error to the right request (or with `id: null` when it could not).

use serde::{Deserialize, Serialize};

use super::ErrorCode;
use crate::bytes::ReadError;

/// A JSON-RPC 2.0 request id: a string, an integer, or `null`.
///
/// JSON-RPC also allows fractional numbers; zkhub refuses them (`InvalidRequest`).
/// Responses to messages whose id could not be read carry `Id::Null`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// An integer id.
    Num(i64),
    /// A string id.
    Str(String),
    /// `null`: unknown, or sent as null by the client.
    Null,
}

impl Id {
    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Id::Null)
    }
}

impl From<i64> for Id {
    fn from(v: i64) -> Self {
        Id::Num(v)
    }
}

/// Where in a binary frame decoding failed, and why. Static so that decoding a frame
/// allocates nothing, even on error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameFault {
    /// The frame is empty.
    #[error("empty frame")]
    Empty,
    /// The first byte names no frame kind known to this side.
    #[error("unknown frame kind")]
    UnknownKind,
    /// The frame ends before its declared content.
    #[error("frame is truncated")]
    Truncated,
    /// Bytes remain after the declared content.
    #[error("trailing bytes after the declared content")]
    TrailingBytes,
    /// The voucher count is zero.
    #[error("frame carries no voucher")]
    NoVouchers,
    /// The voucher count exceeds the limit.
    #[error("too many vouchers in one frame")]
    TooManyVouchers,
    /// The frame's base sequence number is zero, or the last seq overflows u64.
    #[error("sequence numbers out of range")]
    SeqOutOfRange,
    /// A voucher's flags byte has unknown bits set.
    #[error("unknown voucher flag bits")]
    UnknownFlags,
    /// A field element (`chain`) is not below the field modulus.
    #[error("field element is not canonical")]
    NonCanonicalField,
    /// A signature is malformed: `S >= l`, or `R8` is not a canonical curve point.
    #[error("malformed signature encoding")]
    BadSignatureEncoding,
    /// A text field is not UTF-8.
    #[error("text is not UTF-8")]
    NotUtf8,
}

/// Why an inbound message could not be decoded. Each variant maps to one stable
/// [`ErrorCode`] via [`CodecError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The text is not valid JSON (`-32700`).
    #[error("parse error: {detail}")]
    Parse {
        /// What the JSON parser reported.
        detail: String,
    },
    /// Valid JSON, but not a JSON-RPC 2.0 message zkhub accepts (`-32600`).
    #[error("invalid request: {detail}")]
    InvalidRequest {
        /// The request id, if it could be read.
        id: Id,
        /// What is wrong.
        detail: String,
    },
    /// The method is unknown (`-32601`).
    #[error("method not found: {method}")]
    MethodNotFound {
        /// The request id (`Id::Null` for a notification).
        id: Id,
        /// The method name (truncated to 64 bytes).
        method: String,
    },
    /// The method is known but its params are wrong (`-32602`).
    #[error("invalid params for {method}: {detail}")]
    InvalidParams {
        /// The request id (`Id::Null` for a notification such as `pay`).
        id: Id,
        /// The method.
        method: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The message or frame exceeds the size limit (`1021`). The hub closes the
    /// connection after answering.
    #[error("message of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the message.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A binary frame is malformed (`1020`).
    #[error("malformed binary frame at byte {offset}: {fault}")]
    BadFrame {
        /// Byte offset in the frame where decoding stopped.
        offset: usize,
        /// What is wrong.
        fault: FrameFault,
    },
}

/// Longest detail text kept in an error (the rest is cut, so errors never echo a
/// whole hostile message back).
pub const MAX_ERROR_DETAIL_LEN: usize = 200;

impl CodecError {
    /// The stable protocol error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            CodecError::Parse { .. } => ErrorCode::ParseError,
            CodecError::InvalidRequest { .. } => ErrorCode::InvalidRequest,
            CodecError::MethodNotFound { .. } => ErrorCode::MethodNotFound,
            CodecError::InvalidParams { .. } => ErrorCode::InvalidParams,
            CodecError::TooLarge { .. } => ErrorCode::TooLarge,
            CodecError::BadFrame { .. } => ErrorCode::BadFrame,
        }
    }

    /// The JSON-RPC id to answer to (`Id::Null` when unknown or for notifications).
    pub fn id(&self) -> &Id {
        static NULL: Id = Id::Null;
        match self {
            CodecError::InvalidRequest { id, .. }
            | CodecError::MethodNotFound { id, .. }
            | CodecError::InvalidParams { id, .. } => id,
            CodecError::Parse { .. }
            | CodecError::TooLarge { .. }
            | CodecError::BadFrame { .. } => &NULL,
        }
    }

    /// Whether the hub closes the connection after answering this error. Only
    /// oversize input does: everything else is answered and the session goes on.
    pub fn closes_connection(&self) -> bool {
        matches!(self, CodecError::TooLarge { .. })
    }

    pub(crate) fn bad_frame(offset: usize, fault: FrameFault) -> Self {
        CodecError::BadFrame { offset, fault }
    }
}

/// `s` cut to at most [`MAX_ERROR_DETAIL_LEN`] bytes at a character boundary.
impl From<ReadError> for CodecError {
    /// A binary frame's read fault at its offset.
    #[inline(always)]
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Short { at, .. } => CodecError::bad_frame(at, FrameFault::Truncated),
            ReadError::Trailing { at } => CodecError::bad_frame(at, FrameFault::TrailingBytes),
            ReadError::NonCanonical { at } => {
                CodecError::bad_frame(at, FrameFault::NonCanonicalField)
            }
        }
    }
}

pub(crate) fn clip(s: &str) -> String {
    clip_to(s, MAX_ERROR_DETAIL_LEN)
}

/// `s` cut to at most `max` bytes at a character boundary.
pub(crate) fn clip_to(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
