//! Why the settlement layer refused an operation. Every refusal leaves the state unchanged.

use crate::types::{ChannelId, Epoch, HubId};

/// A public input of a close, named for error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputField {
    /// `hub_id`.
    HubId,
    /// `epoch`.
    Epoch,
    /// `n`.
    N,
    /// `deposits_root`.
    DepositsRoot,
    /// `prev_root` of an incremental close.
    PrevRoot,
    /// `deposits_hash` of an incremental close.
    DepositsHash,
}

impl std::fmt::Display for InputField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InputField::HubId => "hub_id",
            InputField::Epoch => "epoch",
            InputField::N => "n",
            InputField::DepositsRoot => "deposits_root",
            InputField::PrevRoot => "prev_root",
            InputField::DepositsHash => "deposits_hash",
        })
    }
}

/// Why a balance opening was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpeningFault {
    /// The opening is for another epoch than the close it must open.
    WrongEpoch,
    /// The opening is for another channel.
    WrongChannel,
    /// The opening's key is not the channel's key.
    WrongKey,
    /// The opening is not at the channel's slot (`id − 1`).
    WrongIndex,
    /// The leaf and path do not hash to the close's `balances_root`.
    NotInTree,
    /// A binary-tree opening for an incremental close, or a state-tree opening for a
    /// full close.
    WrongTree,
    /// The channel was in the close, but no opening was given.
    Missing,
}

/// Why the settlement layer refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettlementError {
    /// An incremental close must extend the previous epoch's state root, and the
    /// previous epoch was closed by a full close (or not at all).
    #[error(
        "epoch {0} has no state root to extend: an incremental close follows an incremental close or starts the hub"
    )]
    NoStateRoot(u64),
    /// The epoch was cut before the layer recorded deposits hashes.
    #[error("epoch {0} was cut without a deposits hash: it cannot be closed incrementally")]
    NoDepositsHash(u64),
    /// No hub is registered yet.
    #[error("no hub is registered")]
    NoHub,
    /// A hub is already registered.
    #[error("hub {0} is already registered")]
    HubAlreadyRegistered(HubId),
    /// Unknown channel id.
    #[error("unknown channel {0}")]
    UnknownChannel(ChannelId),
    /// Deposits, top-ups and bonds must be positive.
    #[error("amount must be positive")]
    ZeroAmount,
    /// A total would exceed its range (`u64` per channel, `u32` channel ids).
    #[error("amount or count out of range")]
    Overflow,
    /// The height may only move forward.
    #[error("height {requested} is below the current height {current}")]
    HeightBackwards {
        /// Current height.
        current: u64,
        /// Requested height.
        requested: u64,
    },
    /// The hub missed a close deadline: only forced-exit operations remain.
    #[error("forced exit is active (close of epoch {missed_epoch} missed its deadline)")]
    ForcedExit {
        /// The epoch whose close was missed.
        missed_epoch: Epoch,
    },
    /// The operation is only for forced exit, which is not active.
    #[error("forced exit is not active")]
    NotForcedExit,
    /// Epochs are cut in order, starting at 1.
    #[error("expected to cut epoch {expected}, got {got}")]
    EpochOutOfOrder {
        /// The next epoch.
        expected: Epoch,
        /// The epoch asked for.
        got: Epoch,
    },
    /// The previous epoch's close has not been accepted yet.
    #[error("close of epoch {0} is not accepted yet")]
    CloseNotAccepted(Epoch),
    /// No cut exists for this epoch.
    #[error("epoch {0} was never cut")]
    UnknownEpoch(Epoch),
    /// This epoch's close was already accepted.
    #[error("close of epoch {0} was already accepted")]
    CloseAlreadyAccepted(Epoch),
    /// A public input differs from the settlement layer's record of the cut.
    #[error("public input {field} is {got}, expected {expected}")]
    InputMismatch {
        /// Which input.
        field: InputField,
        /// The recorded value (decimal).
        expected: String,
        /// The submitted value (decimal).
        got: String,
    },
    /// The proof did not verify.
    #[error("close proof rejected: {0}")]
    ProofRejected(String),
    /// A signature (exit request by the channel key, receipt by the hub key) is invalid.
    #[error("invalid signature")]
    BadSignature,
    /// The channel has already requested exit.
    #[error("channel {0} has already requested exit")]
    AlreadyExiting(ChannelId),
    /// The channel has not requested exit.
    #[error("channel {0} has not requested exit")]
    NotExiting(ChannelId),
    /// No accepted close was cut after the exit request yet.
    #[error("channel {0}: no accepted close cut after its exit request yet")]
    NoCloseSinceExit(ChannelId),
    /// Withdrawals use the latest cut, which is `latest`.
    #[error("opening is for epoch {got}; withdrawals use the latest cut, epoch {latest}")]
    StaleOpening {
        /// Latest cut epoch.
        latest: Epoch,
        /// The opening's epoch.
        got: Epoch,
    },
    /// The channel already withdrew from this close.
    #[error("channel {channel} already withdrew from the close of epoch {epoch}")]
    AlreadyWithdrawn {
        /// Channel.
        channel: ChannelId,
        /// Epoch.
        epoch: Epoch,
    },
    /// The balance opening does not hold.
    #[error("balance opening refused: {0:?}")]
    BadOpening(OpeningFault),
    /// There is nothing to pay (zero balance, or a receipt already covered).
    #[error("nothing to pay")]
    NothingToPay,
    /// The dispute window of this close has passed.
    #[error("dispute window for epoch {0} has closed")]
    DisputeWindowClosed(Epoch),
    /// A dispute for this epoch and channel is already open.
    #[error("a dispute for channel {channel} in epoch {epoch} is already open")]
    DisputeAlreadyOpen {
        /// Channel.
        channel: ChannelId,
        /// Epoch.
        epoch: Epoch,
    },
    /// Unknown dispute id.
    #[error("unknown dispute {0}")]
    UnknownDispute(u64),
    /// The dispute is already resolved, or its answer deadline has passed.
    #[error("dispute {0} is no longer open")]
    DisputeNotOpen(u64),
    /// A receipt that forced exit does not cover (its epoch is settled by a close).
    #[error("receipt of epoch {epoch} is covered by the accepted close; dispute it instead")]
    ReceiptNotNewer {
        /// Receipt epoch.
        epoch: Epoch,
    },
    /// Forced-exit withdrawal already made.
    #[error("channel {0} already made its forced-exit withdrawal")]
    AlreadyForcedOut(ChannelId),
    /// The amount the settlement layer owes cannot be computed (would be negative).
    #[error("inconsistent amounts: {0}")]
    Inconsistent(&'static str),
}

impl SettlementError {
    /// A mismatch report for an integer input.
    pub(crate) fn mismatch_u64(field: InputField, expected: u64, got: u64) -> Self {
        SettlementError::InputMismatch {
            field,
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }
}
