//! Stable protocol error codes (documented in docs/PROTOCOL.md). Never renumber.

use serde::{Deserialize, Serialize};

/// A stable error code sent to clients in `reject` notifications and JSON-RPC errors.
/// JSON-RPC's own codes are negative; zkhub's are 1000 and up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(i32)]
pub enum ErrorCode {
    /// Invalid JSON.
    ParseError = -32700,
    /// Not a valid JSON-RPC 2.0 request.
    InvalidRequest = -32600,
    /// Unknown method.
    MethodNotFound = -32601,
    /// Bad parameters.
    InvalidParams = -32602,
    /// Unexpected server failure.
    InternalError = -32603,

    /// `seq` is not `head.seq + 1`.
    BadSeq = 1001,
    /// `spent` is not `head.spent + amount`.
    BadSpent = 1002,
    /// `chain` does not match the hub's chain.
    BadChain = 1003,
    /// The payee channel does not exist.
    UnknownPayee = 1004,
    /// The payer cannot afford the payment (pending vouchers counted).
    InsufficientBalance = 1005,
    /// Too many pending (unsigned) vouchers, by count or by amount.
    PendingLimit = 1006,
    /// A checkpoint signature does not verify.
    BadSignature = 1007,
    /// `amount` is zero.
    ZeroAmount = 1008,
    /// `to` equals the paying channel.
    SelfPayment = 1009,
    /// An amount overflows u64.
    Overflow = 1010,
    /// The channel has requested exit: it may not spend.
    ChannelExiting = 1011,
    /// The session has not completed `hello`.
    NotAuthenticated = 1012,
    /// A voucher names a channel other than the session's.
    WrongChannel = 1013,
    /// The channel does not exist.
    UnknownChannel = 1014,
    /// Too many messages: inbound rate limit.
    RateLimited = 1015,
    /// The hub is overloaded (queue full); retry later.
    Overloaded = 1016,
    /// The hub could not make the payment durable; it was not applied.
    StorageFailed = 1017,
    /// `hello` sent twice on one session.
    AlreadyAuthenticated = 1018,
    /// `hello` signature invalid.
    HelloFailed = 1019,
    /// Binary frame malformed.
    BadFrame = 1020,
    /// Message too large.
    TooLarge = 1021,
    /// The requested epoch or item is not available.
    NotAvailable = 1022,
    /// A voucher at a seq the hub already holds (committed or staged) differs from
    /// the one it holds: the client's state diverged; resynchronise with `status`.
    Conflict = 1023,
}

/// What a client does next when the hub answers with an [`ErrorCode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAction {
    /// The hub dropped the input without judging it (its head was not where the
    /// stream expected, or it was busy or could not store): nothing failed; resume on
    /// a new session and resend.
    Resync,
    /// The hub refused the voucher's content and kept its head at the voucher before:
    /// that voucher and every later one fail; the stream can go on in place.
    FailAndContinue,
    /// The client's stream or request is at fault (it diverged from the hub's, or broke
    /// the protocol): what it answers fails; resume on a new session.
    FailAndResync,
    /// The channel or its key is refused: reconnecting cannot help; stop.
    Stop,
}

impl ErrorCode {
    /// What a client does next on this code (one decision for every client).
    pub fn action(self) -> ClientAction {
        match self {
            // Not the voucher's fault: a lost message, or the hub could not take it.
            ErrorCode::BadSeq
            | ErrorCode::RateLimited
            | ErrorCode::Overloaded
            | ErrorCode::StorageFailed
            | ErrorCode::InternalError => ClientAction::Resync,
            // Refused at admission (or its signature); the hub's head is unchanged.
            ErrorCode::UnknownPayee
            | ErrorCode::InsufficientBalance
            | ErrorCode::PendingLimit
            | ErrorCode::BadSignature
            | ErrorCode::ZeroAmount
            | ErrorCode::SelfPayment
            | ErrorCode::Overflow
            | ErrorCode::ChannelExiting => ClientAction::FailAndContinue,
            ErrorCode::ParseError
            | ErrorCode::InvalidRequest
            | ErrorCode::MethodNotFound
            | ErrorCode::InvalidParams
            | ErrorCode::BadSpent
            | ErrorCode::BadChain
            | ErrorCode::NotAuthenticated
            | ErrorCode::WrongChannel
            | ErrorCode::BadFrame
            | ErrorCode::TooLarge
            | ErrorCode::NotAvailable
            | ErrorCode::Conflict => ClientAction::FailAndResync,
            ErrorCode::HelloFailed
            | ErrorCode::UnknownChannel
            | ErrorCode::AlreadyAuthenticated => ClientAction::Stop,
        }
    }

    /// Every code, in numeric order of declaration (for documentation and tests).
    pub const ALL: [ErrorCode; 28] = [
        ErrorCode::ParseError,
        ErrorCode::InvalidRequest,
        ErrorCode::MethodNotFound,
        ErrorCode::InvalidParams,
        ErrorCode::InternalError,
        ErrorCode::BadSeq,
        ErrorCode::BadSpent,
        ErrorCode::BadChain,
        ErrorCode::UnknownPayee,
        ErrorCode::InsufficientBalance,
        ErrorCode::PendingLimit,
        ErrorCode::BadSignature,
        ErrorCode::ZeroAmount,
        ErrorCode::SelfPayment,
        ErrorCode::Overflow,
        ErrorCode::ChannelExiting,
        ErrorCode::NotAuthenticated,
        ErrorCode::WrongChannel,
        ErrorCode::UnknownChannel,
        ErrorCode::RateLimited,
        ErrorCode::Overloaded,
        ErrorCode::StorageFailed,
        ErrorCode::AlreadyAuthenticated,
        ErrorCode::HelloFailed,
        ErrorCode::BadFrame,
        ErrorCode::TooLarge,
        ErrorCode::NotAvailable,
        ErrorCode::Conflict,
    ];

    /// The numeric wire value.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The code with wire value `v`, if this version knows it. Clients must treat an
    /// unknown code as a refusal of the voucher or request it answers.
    pub fn from_i32(v: i32) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|c| c.as_i32() == v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_distinct() {
        // Pinned wire values: changing any of these breaks deployed clients.
        assert_eq!(ErrorCode::ParseError.as_i32(), -32700);
        assert_eq!(ErrorCode::BadSeq.as_i32(), 1001);
        assert_eq!(ErrorCode::NotAvailable.as_i32(), 1022);
        assert_eq!(ErrorCode::Conflict.as_i32(), 1023);
        for (i, c) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(ErrorCode::from_i32(c.as_i32()), Some(*c));
            for d in &ErrorCode::ALL[i + 1..] {
                assert_ne!(c.as_i32(), d.as_i32());
            }
        }
        assert_eq!(ErrorCode::from_i32(0), None);
        assert_eq!(ErrorCode::from_i32(1024), None);
    }

    #[test]
    fn every_code_has_its_action() {
        use ClientAction::*;
        let pinned = [
            (ErrorCode::ParseError, FailAndResync),
            (ErrorCode::InvalidRequest, FailAndResync),
            (ErrorCode::MethodNotFound, FailAndResync),
            (ErrorCode::InvalidParams, FailAndResync),
            (ErrorCode::InternalError, Resync),
            (ErrorCode::BadSeq, Resync),
            (ErrorCode::BadSpent, FailAndResync),
            (ErrorCode::BadChain, FailAndResync),
            (ErrorCode::UnknownPayee, FailAndContinue),
            (ErrorCode::InsufficientBalance, FailAndContinue),
            (ErrorCode::PendingLimit, FailAndContinue),
            (ErrorCode::BadSignature, FailAndContinue),
            (ErrorCode::ZeroAmount, FailAndContinue),
            (ErrorCode::SelfPayment, FailAndContinue),
            (ErrorCode::Overflow, FailAndContinue),
            (ErrorCode::ChannelExiting, FailAndContinue),
            (ErrorCode::NotAuthenticated, FailAndResync),
            (ErrorCode::WrongChannel, FailAndResync),
            (ErrorCode::UnknownChannel, Stop),
            (ErrorCode::RateLimited, Resync),
            (ErrorCode::Overloaded, Resync),
            (ErrorCode::StorageFailed, Resync),
            (ErrorCode::AlreadyAuthenticated, Stop),
            (ErrorCode::HelloFailed, Stop),
            (ErrorCode::BadFrame, FailAndResync),
            (ErrorCode::TooLarge, FailAndResync),
            (ErrorCode::NotAvailable, FailAndResync),
            (ErrorCode::Conflict, FailAndResync),
        ];
        assert_eq!(pinned.map(|(c, _)| c), ErrorCode::ALL);
        for (code, action) in pinned {
            assert_eq!(code.action(), action, "{code:?}");
        }
    }
}
