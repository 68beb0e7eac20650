//! Channel records and in-memory channel state (committed record + staged head).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::crypto::{PackedSignature, PublicKey};
use crate::field::Fe;
use crate::types::{Amount, ChannelId, NetAmount, Seq};

use super::totals::Totals;

/// The durable state of one channel: one row of the hub's channel table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRecord {
    /// Channel id.
    pub id: ChannelId,
    /// The channel owner's key.
    pub pk: PublicKey,
    /// Net deposit `D` (deposits − withdrawals), mirrored from the settlement layer;
    /// negative once a payee withdrew more than it deposited.
    pub deposit: NetAmount,
    /// Cumulative spent `S`, covered by `checkpoint_sig`.
    pub spent: Amount,
    /// Cumulative received `R`, credited by the hub.
    pub received: Amount,
    /// Sequence number of the latest committed voucher (0: none yet).
    pub seq: Seq,
    /// Payment chain after the latest committed voucher.
    #[serde(with = "crate::field::dec")]
    pub chain: Fe,
    /// Signature of the latest committed checkpoint (`None` iff `seq == 0`).
    #[serde(with = "crate::crypto::eddsa::serde_opt_packed_sig")]
    pub checkpoint_sig: Option<PackedSignature>,
    /// The channel has requested exit: it may receive but not spend.
    pub exiting: bool,
}

impl ChannelRecord {
    /// A fresh channel with deposit `deposit`.
    pub fn open(id: ChannelId, pk: PublicKey, deposit: Amount) -> Self {
        ChannelRecord {
            id,
            pk,
            deposit: NetAmount::from(deposit),
            spent: 0,
            received: 0,
            seq: 0,
            chain: Fe::from(0u64),
            checkpoint_sig: None,
            exiting: false,
        }
    }

    /// `B = D + R − S`, or `None` if the record is inconsistent (negative or overflowing).
    pub fn balance(&self) -> Option<Amount> {
        Amount::try_from(self.available() - NetAmount::from(self.spent)).ok()
    }

    /// The committed head: latest committed seq, its spent and chain.
    pub fn head(&self) -> Head {
        Head {
            seq: self.seq,
            spent: self.spent,
            chain: self.chain,
        }
    }

    /// `D + R`: what the channel may spend in all (committed receipts only).
    pub fn available(&self) -> NetAmount {
        self.deposit + NetAmount::from(self.received)
    }
}

/// The tip of a channel's voucher sequence, including staged (uncommitted) vouchers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Latest sequence number.
    pub seq: Seq,
    /// Cumulative spent at `seq`.
    pub spent: Amount,
    /// Chain at `seq`.
    pub chain: Fe,
}

/// One staged voucher, with the head after it (so the head can be rolled back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Staged {
    pub(crate) to: ChannelId,
    pub(crate) amount: Amount,
    pub(crate) head: Head,
    /// A checkpoint awaiting signature verification.
    pub(crate) awaiting_sig: bool,
}

/// A range of vouchers covered by a verified checkpoint, ready for group commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Covered {
    /// The payer's new committed head and its checkpoint signature.
    pub debit: super::Debit,
    /// Each payment in the range, `(to, amount)`, in order.
    pub payments: Vec<(ChannelId, Amount)>,
}

/// Full in-memory state of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelState {
    /// Committed (durable) record.
    pub record: ChannelRecord,
    /// Vouchers after `covered_seq` that are staged but not yet covered.
    pub(crate) staged: VecDeque<Staged>,
    /// Head after the last covered range (handed to commit, maybe not durable yet).
    pub(crate) covered: Head,
    /// Staged vouchers after the last staged checkpoint (the unsigned run).
    pub(crate) run_len: u32,
    /// Their total amount.
    pub(crate) run_amount: Amount,
}

impl ChannelState {
    /// State for a record loaded from storage (nothing staged).
    pub fn new(record: ChannelRecord) -> Self {
        ChannelState {
            covered: record.head(),
            record,
            staged: VecDeque::new(),
            run_len: 0,
            run_amount: 0,
        }
    }

    /// The tip including staged vouchers.
    pub fn head(&self) -> Head {
        self.staged.back().map(|s| s.head).unwrap_or(self.covered)
    }

    /// Head of the covered prefix (committed or on its way to commit).
    pub fn covered_head(&self) -> Head {
        self.covered
    }

    /// Number of staged, uncovered vouchers (including checkpoints awaiting
    /// verification and the vouchers they will cover).
    pub fn pending_count(&self) -> usize {
        self.staged.len()
    }

    /// Sum of staged, uncovered amounts.
    pub fn pending_amount(&self) -> Amount {
        self.head().spent - self.covered.spent
    }

    /// Unsigned vouchers after the last staged checkpoint: what the pending limits bound.
    pub fn unsigned_run(&self) -> (u32, Amount) {
        (self.run_len, self.run_amount)
    }

    /// Recompute the unsigned run from the staged queue (after a rollback).
    pub(crate) fn recount_run(&mut self) {
        let mut len = 0u32;
        let mut amount: Amount = 0;
        for s in self.staged.iter().rev() {
            if s.awaiting_sig {
                break;
            }
            len += 1;
            amount += s.amount;
        }
        self.run_len = len;
        self.run_amount = amount;
    }

    /// The channel has exited (its record reads `exiting`, so the committed head is
    /// final): drop everything staged and roll the covered head back to the committed
    /// one, since ranges handed to the commit path after the exit are refused there.
    /// Returns the dropped staged seqs, in order.
    pub fn abandon_uncommitted(&mut self) -> Vec<Seq> {
        debug_assert!(
            self.record.exiting,
            "only an exited channel abandons covered ranges"
        );
        let dropped = self.staged.iter().map(|s| s.head.seq).collect();
        self.drop_staged();
        self.covered = self.record.head();
        dropped
    }

    /// Drop everything staged (e.g. when a session ends: uncovered vouchers were
    /// never acked, so the client resends them).
    pub fn drop_staged(&mut self) -> usize {
        let n = self.staged.len();
        self.staged.clear();
        self.run_len = 0;
        self.run_amount = 0;
        n
    }
}

/// Access to a table of channels, implemented by the in-memory [`Ledger`] and by the
/// hub's concurrent map, so that batch application is written once.
pub trait ChannelTable {
    /// Run `f` on channel `id`'s state, if it exists.
    fn with_channel<R>(&self, id: ChannelId, f: impl FnOnce(&mut ChannelState) -> R) -> Option<R>;
    /// Insert a new channel (from an `Open` event); replaces nothing if it exists.
    fn insert_channel(&self, state: ChannelState);
}

/// A single-threaded ledger over all channels: the reference model used by tests,
/// recovery and snapshots.
#[derive(Debug, Default)]
pub struct Ledger {
    channels: std::cell::RefCell<BTreeMap<ChannelId, ChannelState>>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every committed record, by id.
    pub fn records(&self) -> Vec<ChannelRecord> {
        self.channels
            .borrow()
            .values()
            .map(|c| c.record.clone())
            .collect()
    }

    /// Whether channel `id` exists.
    pub fn contains(&self, id: ChannelId) -> bool {
        self.channels.borrow().contains_key(&id)
    }

    /// Sums over the committed records. Panics if they break a ledger invariant
    /// ([`Totals::check`]): this is the reference model, where that is a bug.
    pub fn totals(&self) -> Totals {
        let totals = Totals::of(self.channels.borrow().values().map(|c| &c.record));
        if let Err(broken) = totals.check() {
            panic!("ledger invariant broken: {broken}");
        }
        totals
    }
}

impl ChannelTable for Ledger {
    fn with_channel<R>(&self, id: ChannelId, f: impl FnOnce(&mut ChannelState) -> R) -> Option<R> {
        self.channels.borrow_mut().get_mut(&id).map(f)
    }

    fn insert_channel(&self, state: ChannelState) {
        self.channels
            .borrow_mut()
            .entry(state.record.id)
            .or_insert(state);
    }
}
