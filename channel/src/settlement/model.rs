//! The settlement layer's records: hub registration, channel accounts, epoch cuts and
//! closes, disputes, payouts and the event log the hub mirrors. All serializable.

use serde::{Deserialize, Serialize};

use crate::crypto::{PublicKey, Signature};
use crate::field::Fe;
use crate::ledger::Event;
use crate::types::{Amount, ChannelId, Epoch, HubId, receipt_message};

/// Block counts that bound how long each party has to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// Blocks from a cut to its close deadline (the close is accepted at heights
    /// `<= cut + close_window`; one block later forced exit begins).
    pub close_window: u64,
    /// Blocks after a close is accepted during which its receipts may be disputed.
    pub dispute_window: u64,
    /// Blocks the hub has to answer a dispute with an opening.
    pub answer_window: u64,
}

impl Params {
    /// Defaults for the embedded model (blocks are ticks of the caller's choosing).
    pub const DEFAULT: Params = Params {
        close_window: 100,
        dispute_window: 100,
        answer_window: 20,
    };
}

impl Default for Params {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The registered hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubRegistration {
    /// Hub id (domain of every signature).
    pub hub_id: HubId,
    /// The hub's key (signs receipts).
    pub pk: PublicKey,
    /// What is left of the bond (disputes and forced-exit claims are paid from it).
    pub bond: Amount,
}

/// One channel's account on the settlement layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelAccount {
    /// Channel id (`1, 2, …` in order of first deposit).
    pub id: ChannelId,
    /// Owner key.
    pub pk: PublicKey,
    /// Net deposit `D` = deposits − withdrawals. Negative once a channel has withdrawn
    /// more than it deposited (a payee withdrawing what it received).
    pub net_deposit: i128,
    /// The exit request, if any (permanent: the channel never spends again).
    pub exit: Option<Stamp>,
    /// Epoch of the close this channel last withdrew from.
    pub last_withdrawal: Option<Epoch>,
    /// Forced exit: the withdrawal was made.
    pub forced_withdrawn: bool,
    /// Forced exit: receipts newer than the last accepted close are paid up to this
    /// cumulative `received`.
    pub forced_claimed_to: Amount,
}

/// When something happened: the block height and the operation number (a total order
/// over all operations, so two things at the same height are still ordered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Stamp {
    /// Block height.
    pub height: u64,
    /// Operation number.
    pub op: u64,
}

/// The registry as of the cut of an epoch, and its close once accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch.
    pub epoch: Epoch,
    /// When it was cut.
    pub cut: Stamp,
    /// The close is accepted up to this height.
    pub deadline: u64,
    /// Seq of the last logged event before the cut: the hub's snapshot for this epoch
    /// must include exactly the events `1..=events_through`.
    pub events_through: u64,
    /// Channels in the registry at the cut (ids `1..=n`).
    pub n: u64,
    /// Root of the deposit leaves of the registry at the cut.
    #[serde(with = "crate::field::dec")]
    pub deposits_root: Fe,
    /// Hash of the net deposits that changed since the previous cut (an incremental
    /// close's `deposits_hash`, `crate::incremental::deposits_hash`). `None` for an
    /// epoch cut by a version that did not record it: such an epoch cannot be closed
    /// incrementally (0 is the hash of "nothing changed", so it cannot stand for
    /// "unknown").
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::field::dec_opt"
    )]
    pub deposits_hash: Option<Fe>,
    /// Net deposit of channel `i + 1` at the cut. Kept for the latest accepted close
    /// and the pending cut (forced exit needs it); emptied for older epochs.
    pub registry: Vec<i128>,
    /// The accepted close.
    pub close: Option<AcceptedClose>,
}

/// Which statement a close proved (docs/DESIGN.md §8, §8.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseKind {
    /// Every channel, dense binary trees: `balances_root`.
    #[default]
    Full,
    /// The touched channels as updates of the state tree: the state root.
    Incremental,
}

/// An accepted close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedClose {
    /// The root openings are checked against: the proven `balances_root` of a full
    /// close, the new state root of an incremental one.
    #[serde(with = "crate::field::dec")]
    pub balances_root: Fe,
    /// The statement proved.
    #[serde(default)]
    pub kind: CloseKind,
    /// The close's public input `Cv = Poseidon(VOLUME, V, rv)`, the hidden commitment
    /// to its volume (docs/DESIGN.md §11; what a `volume::VolumeAttestation` opens).
    /// `None` only in a record made before closes carried it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::field::dec_opt"
    )]
    pub volume_commitment: Option<Fe>,
    /// When it was accepted.
    pub accepted: Stamp,
}

/// A hub-signed receipt: "as of epoch `epoch`, channel `channel` has received at
/// least `received`" (signature over [`receipt_message`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Epoch.
    pub epoch: Epoch,
    /// Payee channel.
    pub channel: ChannelId,
    /// Cumulative received.
    pub received: Amount,
    /// The hub's signature.
    pub sig: Signature,
}

impl Receipt {
    /// The message the hub signed.
    pub fn message(&self, hub_id: HubId) -> Fe {
        receipt_message(hub_id, self.epoch, self.channel, self.received)
    }
}

/// A dispute: a receipt against the close of its epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// Dispute id (`1, 2, …`).
    pub id: u64,
    /// Epoch of the receipt and close.
    pub epoch: Epoch,
    /// Payee channel.
    pub channel: ChannelId,
    /// `received` claimed by the receipt.
    pub claimed: Amount,
    /// When it was filed.
    pub filed: Stamp,
    /// The hub may answer up to this height.
    pub answer_deadline: u64,
    /// Where it stands.
    pub status: DisputeStatus,
}

/// Where a dispute stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisputeStatus {
    /// Waiting for the hub's opening.
    Open,
    /// The hub opened the leaf and it shows at least the claimed amount.
    Refuted {
        /// `R` in the opened leaf.
        proven: Amount,
    },
    /// The payee was paid from the bond (the opening showed less, or the hub was silent).
    Paid {
        /// Amount paid.
        amount: Amount,
        /// Part of the award the bond could not cover.
        shortfall: Amount,
    },
}

/// Per `(epoch, channel)`: what is known and already paid about its `received`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedBook {
    /// `R` proven by an opening of the close's leaf.
    pub proven: Option<Amount>,
    /// Receipts up to this cumulative `received` have been compensated.
    pub compensated_to: Amount,
}

impl ReceivedBook {
    /// What a receipt for `received` is owed beyond what is proven or paid.
    pub fn owed(&self, received: Amount) -> Amount {
        received.saturating_sub(self.proven.unwrap_or(0).max(self.compensated_to))
    }
}

/// Why money left the settlement layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayoutKind {
    /// A withdrawal of `B` after exit, from the close of `epoch`.
    Withdrawal {
        /// Close epoch.
        epoch: Epoch,
    },
    /// A dispute award from the bond.
    Dispute {
        /// Dispute id.
        dispute: u64,
    },
    /// Forced exit: balance of the last accepted close plus later deposits.
    ForcedWithdrawal,
    /// Forced exit: receipts newer than the last accepted close, from the bond.
    ReceiptClaim,
}

/// Money paid to a channel's owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    /// When.
    pub at: Stamp,
    /// To whom.
    pub channel: ChannelId,
    /// How much.
    pub amount: Amount,
    /// Why.
    pub kind: PayoutKind,
}

/// A settlement event the hub's ledger mirrors, numbered so the hub can resume
/// from the last one it applied (see [`crate::ledger::Event`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedEvent {
    /// Event number (`1, 2, …`).
    pub seq: u64,
    /// When.
    pub at: Stamp,
    /// What.
    pub event: Event,
}

/// Forced exit, entered when a close misses its deadline. Permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForcedExit {
    /// The epoch whose close was missed.
    pub missed_epoch: Epoch,
    /// The last accepted close (`None`: no close was ever accepted).
    pub last_accepted: Option<Epoch>,
    /// Height at which it began.
    pub since: u64,
}

/// Value that entered and left, for the conservation invariant
/// `bond + Σ net deposits + paid_out = bond_in + deposits_in`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Bond posted.
    pub bond_in: u128,
    /// Deposits and top-ups received.
    pub deposits_in: u128,
    /// Everything paid out (withdrawals, awards, claims).
    pub paid_out: u128,
    /// Σ net deposits, kept in step with the accounts.
    pub net_deposits: i128,
}
