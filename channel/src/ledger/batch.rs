//! The commit path: covered ranges gathered into one [`Batch`] (one log record per
//! group commit) and applied to a channel table once durable.
//!
//! A batch is atomic: its debits and the payees' credits land together, so Σ R = Σ S
//! holds after every batch. Its binary form (below) is what the hub appends to its
//! log; it grows with the number of channels touched, not with the payments.

use std::collections::{BTreeMap, BTreeSet};

use crate::bytes::{ReadError, Reader};
use crate::crypto::{PackedSignature, PublicKey};
use crate::field::{Fe, fe_to_be_bytes};
use crate::types::{Amount, ChannelId, NetAmount, Seq};

use super::state::{ChannelRecord, ChannelState, ChannelTable, Covered};

/// A payer's new committed head and the checkpoint signature that covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debit {
    /// Paying channel.
    pub channel: ChannelId,
    /// Checkpoint seq.
    pub seq: Seq,
    /// Cumulative spent at `seq`.
    pub spent: Amount,
    /// Chain at `seq`.
    pub chain: Fe,
    /// The checkpoint signature, packed (`packSignature`).
    pub sig: PackedSignature,
}

/// A settlement-layer event mirrored into the hub's ledger (the settlement layer logs
/// it as [`crate::settlement::LoggedEvent`], hence the serde form).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Event {
    /// A new channel with its first deposit.
    Open {
        /// Channel id.
        channel: ChannelId,
        /// Owner key.
        pk: PublicKey,
        /// Deposit.
        deposit: Amount,
    },
    /// More deposit.
    TopUp {
        /// Channel id.
        channel: ChannelId,
        /// Added amount.
        amount: Amount,
    },
    /// A withdrawal paid on the settlement layer: net deposit drops.
    Withdraw {
        /// Channel id.
        channel: ChannelId,
        /// Paid amount.
        amount: Amount,
    },
    /// Exit requested: the channel stops spending.
    Exit {
        /// Channel id.
        channel: ChannelId,
    },
}

/// One group commit: settlement events, debits, and aggregated credits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    /// Monotonic batch number (log key).
    pub number: u64,
    /// Settlement events, applied first.
    pub events: Vec<Event>,
    /// Debits, at most one per channel (the latest covered head).
    pub debits: Vec<Debit>,
    /// Credits per payee, summed over the batch, sorted by channel.
    pub credits: Vec<(ChannelId, Amount)>,
}

/// A covered range that was not committed because its payer's exit came first in
/// log order (docs/DESIGN.md §4: an exiting channel may receive but not spend). Had it
/// been committed after the epoch cut that follows the exit, the withdrawal of the
/// cut's balance would overdraw the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The paying channel.
    pub channel: ChannelId,
    /// First seq of the refused range.
    pub first_seq: Seq,
    /// Its checkpoint seq (the last of the range).
    pub last_seq: Seq,
}

/// Collects covered ranges and events into a [`Batch`].
#[derive(Debug, Default)]
pub struct BatchBuilder {
    events: Vec<Event>,
    debits: BTreeMap<ChannelId, Debit>,
    credits: BTreeMap<ChannelId, Amount>,
    payments: u64,
    /// Channels whose `Exit` was pushed into this builder.
    exits: BTreeSet<ChannelId>,
    refused: Vec<Refused>,
}

impl BatchBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a settlement event.
    pub fn push_event(&mut self, event: Event) {
        if let Event::Exit { channel } = event {
            self.exits.insert(channel);
        }
        self.events.push(event);
    }

    /// Add a covered range, unless its payer's exit comes before it in log order:
    /// `exited` says whether an `Exit` of the payer is already committed or queued
    /// ahead of this builder; one pushed into this builder counts too. A refused
    /// range is kept in [`BatchBuilder::refused`] and returned.
    ///
    /// Ranges of one channel must come in seq order.
    pub fn push_covered(&mut self, covered: Covered, exited: bool) -> Result<(), Refused> {
        let channel = covered.debit.channel;
        if exited || self.exits.contains(&channel) {
            let last_seq = covered.debit.seq;
            let refused = Refused {
                channel,
                first_seq: last_seq + 1 - covered.payments.len() as Seq,
                last_seq,
            };
            self.refused.push(refused);
            return Err(refused);
        }
        self.push_unchecked(covered);
        Ok(())
    }

    fn push_unchecked(&mut self, covered: Covered) {
        let Covered { debit, payments } = covered;
        if let Some(prev) = self.debits.get(&debit.channel) {
            assert!(
                prev.seq < debit.seq,
                "covered ranges of a channel arrive in order"
            );
        }
        for (to, amount) in payments {
            let c = self.credits.entry(to).or_insert(0);
            // A payee's credits in one batch are bounded by payers' deposits (u64 each);
            // saturate rather than wrap if that were ever violated, and let apply assert.
            *c = c.saturating_add(amount);
            self.payments += 1;
        }
        self.debits.insert(debit.channel, debit);
    }

    /// Payments gathered so far.
    pub fn payments(&self) -> u64 {
        self.payments
    }

    /// Whether nothing was gathered for the log (refused ranges do not count).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.debits.is_empty()
    }

    /// Ranges refused so far; report them once the batch is applied (then the
    /// payers' committed records are final, see [`ChannelState::abandon_uncommitted`]).
    pub fn take_refused(&mut self) -> Vec<Refused> {
        std::mem::take(&mut self.refused)
    }

    /// Finish as batch `number`.
    pub fn build(self, number: u64) -> Batch {
        Batch {
            number,
            events: self.events,
            debits: self.debits.into_values().collect(),
            credits: self.credits.into_iter().collect(),
        }
    }
}

/// What applying a batch changed, for notifications.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// `(channel, seq)` acks to release.
    pub acks: Vec<(ChannelId, Seq)>,
    /// `(payee, amount, new received)` credits to release.
    pub credits: Vec<(ChannelId, Amount, Amount)>,
    /// Vouchers the acks cover (each ack's seq advance over the committed head).
    pub vouchers: u64,
    /// Channels whose exit this batch committed: whatever they hold uncommitted
    /// never will be, and is to be dropped and rejected.
    pub exited: Vec<ChannelId>,
}

/// Why a batch cannot be applied to a table: the batch (a log record) is corrupt or
/// was built against another state. Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// A debit, credit or event names a channel that neither exists nor is opened
    /// by the batch.
    #[error("channel {0} does not exist")]
    UnknownChannel(ChannelId),
    /// A debit advances a channel's seq but lowers its spent.
    #[error("debit of channel {channel} to seq {seq} lowers spent from {held} to {spent}")]
    SpentDecreases {
        /// The payer.
        channel: ChannelId,
        /// The debit's seq.
        seq: Seq,
        /// Spent held now.
        held: Amount,
        /// The debit's spent.
        spent: Amount,
    },
    /// A withdrawal, or the batch as a whole, leaves a balance negative.
    #[error("channel {0} would be overdrawn")]
    Overdrawn(ChannelId),
    /// A credit overflows a channel's received, or a top-up its net deposit.
    #[error("an amount of channel {0} overflows")]
    Overflow(ChannelId),
}

/// Apply a durable batch to a table. Debits advance payers' committed heads (not
/// their staged heads); credits raise payees' received.
///
/// Order: opens, top-ups and withdrawals first; then debits and credits; exits last.
/// A debit in the same batch as its payer's exit was gathered before the exit
/// ([`BatchBuilder::push_covered`] refuses the others), so once a record reads
/// `exiting` its committed head is final: nothing above it will ever commit.
///
/// Validate, then mutate: the batch is first applied to copies of the records it
/// touches, checking every rule (a withdrawal keeps `B ≥ 0`; every touched balance
/// is `B ≥ 0` afterwards; spent never decreases; nothing overflows; every channel
/// exists); only if all hold are the copies written back. On error the table is
/// unchanged. A debit at or below a payer's committed seq was applied already
/// (replay) and is skipped.
pub fn apply_batch<T: ChannelTable>(table: &T, batch: &Batch) -> Result<Applied, ApplyError> {
    Ok(prepare_batch(table, batch)?.apply())
}

/// The checking half of [`apply_batch`]: apply `batch` to copies of the records it
/// touches and check every rule, changing nothing. [`Prepared::apply`] then writes
/// the copies into the table. The group committer prepares before appending the
/// batch to its log, so that a batch that would break an invariant never becomes
/// durable, and applies once it is.
///
/// The table's committed records must not change in between (only the caller
/// applies batches); staged vouchers may.
pub fn prepare_batch<'t, T: ChannelTable>(
    table: &'t T,
    batch: &Batch,
) -> Result<Prepared<'t, T>, ApplyError> {
    let mut prepared = Prepared {
        table,
        records: BTreeMap::new(),
        applied: Applied::default(),
    };
    prepared.run(batch)?;
    Ok(prepared)
}

/// A batch checked against a table ([`prepare_batch`]): the records it touches, as
/// they will be once it is applied.
#[must_use = "a prepared batch changes nothing until applied"]
pub struct Prepared<'t, T> {
    table: &'t T,
    records: BTreeMap<ChannelId, Next>,
    applied: Applied,
}

impl<T> std::fmt::Debug for Prepared<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("channels", &self.records.len())
            .field("applied", &self.applied)
            .finish_non_exhaustive()
    }
}

struct Next {
    record: ChannelRecord,
    /// Opened by this batch (not in the table yet).
    opened: bool,
}

impl<T: ChannelTable> Prepared<'_, T> {
    /// Channel `id`'s record as the batch has left it so far.
    fn record(&mut self, id: ChannelId) -> Result<&mut ChannelRecord, ApplyError> {
        if !self.records.contains_key(&id) {
            let record = self
                .table
                .with_channel(id, |c| c.record.clone())
                .ok_or(ApplyError::UnknownChannel(id))?;
            self.records.insert(
                id,
                Next {
                    record,
                    opened: false,
                },
            );
        }
        Ok(&mut self.records.get_mut(&id).expect("inserted above").record)
    }

    fn run(&mut self, batch: &Batch) -> Result<(), ApplyError> {
        let mut applied = Applied::default();
        for event in batch
            .events
            .iter()
            .filter(|e| !matches!(e, Event::Exit { .. }))
        {
            self.apply_event(event)?;
        }
        for d in &batch.debits {
            let r = self.record(d.channel)?;
            if d.seq > r.seq {
                if d.spent < r.spent {
                    return Err(ApplyError::SpentDecreases {
                        channel: d.channel,
                        seq: d.seq,
                        held: r.spent,
                        spent: d.spent,
                    });
                }
                applied.vouchers += d.seq - r.seq;
                r.seq = d.seq;
                r.spent = d.spent;
                r.chain = d.chain;
                r.checkpoint_sig = Some(d.sig);
            }
            applied.acks.push((d.channel, d.seq));
        }
        for &(to, amount) in &batch.credits {
            let r = self.record(to)?;
            r.received = r
                .received
                .checked_add(amount)
                .ok_or(ApplyError::Overflow(to))?;
            applied.credits.push((to, amount, r.received));
        }
        for event in batch
            .events
            .iter()
            .filter(|e| matches!(e, Event::Exit { .. }))
        {
            self.apply_event(event)?;
            if let Event::Exit { channel } = *event {
                applied.exited.push(channel);
            }
        }
        if let Some((&id, _)) = self
            .records
            .iter()
            .find(|(_, n)| n.record.balance().is_none())
        {
            return Err(ApplyError::Overdrawn(id));
        }
        self.applied = applied;
        Ok(())
    }

    fn apply_event(&mut self, event: &Event) -> Result<(), ApplyError> {
        match *event {
            Event::Open {
                channel,
                pk,
                deposit,
            } => {
                // Opening a channel that exists changes nothing (a replayed open).
                let exists = self.records.contains_key(&channel)
                    || self.table.with_channel(channel, |_| ()).is_some();
                if !exists {
                    let record = ChannelRecord::open(channel, pk, deposit);
                    self.records.insert(
                        channel,
                        Next {
                            record,
                            opened: true,
                        },
                    );
                }
            }
            Event::TopUp { channel, amount } => {
                let r = self.record(channel)?;
                r.deposit += NetAmount::from(amount);
                if r.deposit >= 1 << 64 {
                    return Err(ApplyError::Overflow(channel));
                }
            }
            Event::Withdraw { channel, amount } => {
                // A payee may withdraw more than it deposited (D < 0): what bounds a
                // withdrawal is the balance B = D + R − S ≥ 0, not D. Checked here,
                // before this batch's credits, as well as at the end.
                let r = self.record(channel)?;
                r.deposit -= NetAmount::from(amount);
                if r.balance().is_none() {
                    return Err(ApplyError::Overdrawn(channel));
                }
            }
            Event::Exit { channel } => self.record(channel)?.exiting = true,
        }
        Ok(())
    }

    /// Write the checked records into the table; returns what changed, for
    /// notifications.
    pub fn apply(self) -> Applied {
        for (id, next) in self.records {
            if next.opened {
                self.table.insert_channel(ChannelState::new(next.record));
                continue;
            }
            let found = self.table.with_channel(id, |c| {
                c.record = next.record;
                // A recovered table has nothing staged; keep the covered head in step.
                if c.covered.seq < c.record.seq {
                    c.covered = c.record.head();
                }
            });
            debug_assert!(found.is_some(), "channels are never removed");
        }
        self.applied
    }
}

/// Why a stored batch could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchDecodeError {
    /// The record ended early.
    #[error("batch record truncated")]
    Truncated,
    /// Unknown version or tag, or a value out of range.
    #[error("batch record malformed: {0}")]
    Malformed(&'static str),
}

const BATCH_VERSION: u8 = 1;

impl Batch {
    /// Binary form: `version u8, number u64, n_events u32, n_debits u32, n_credits u32`,
    /// then events (`tag u8` + fields), debits (`channel u32, seq u64, spent u64,
    /// chain [32], sig [64]`), credits (`channel u32, amount u64`); big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(21 + self.debits.len() * 116 + self.credits.len() * 12);
        out.push(BATCH_VERSION);
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(&(self.events.len() as u32).to_be_bytes());
        out.extend_from_slice(&(self.debits.len() as u32).to_be_bytes());
        out.extend_from_slice(&(self.credits.len() as u32).to_be_bytes());
        for e in &self.events {
            match e {
                Event::Open {
                    channel,
                    pk,
                    deposit,
                } => {
                    out.push(1);
                    out.extend_from_slice(&channel.to_be_bytes());
                    out.extend_from_slice(&fe_to_be_bytes(&pk.0.x));
                    out.extend_from_slice(&fe_to_be_bytes(&pk.0.y));
                    out.extend_from_slice(&deposit.to_be_bytes());
                }
                Event::TopUp { channel, amount } => {
                    out.push(2);
                    out.extend_from_slice(&channel.to_be_bytes());
                    out.extend_from_slice(&amount.to_be_bytes());
                }
                Event::Withdraw { channel, amount } => {
                    out.push(3);
                    out.extend_from_slice(&channel.to_be_bytes());
                    out.extend_from_slice(&amount.to_be_bytes());
                }
                Event::Exit { channel } => {
                    out.push(4);
                    out.extend_from_slice(&channel.to_be_bytes());
                }
            }
        }
        for d in &self.debits {
            out.extend_from_slice(&d.channel.to_be_bytes());
            out.extend_from_slice(&d.seq.to_be_bytes());
            out.extend_from_slice(&d.spent.to_be_bytes());
            out.extend_from_slice(&fe_to_be_bytes(&d.chain));
            out.extend_from_slice(&d.sig);
        }
        for (c, a) in &self.credits {
            out.extend_from_slice(&c.to_be_bytes());
            out.extend_from_slice(&a.to_be_bytes());
        }
        out
    }

    /// Decode the binary form. Counts are checked against the record's length
    /// before anything is allocated.
    pub fn decode(bytes: &[u8]) -> Result<Batch, BatchDecodeError> {
        let mut r = Reader::new(bytes);
        if r.u8()? != BATCH_VERSION {
            return Err(BatchDecodeError::Malformed("version"));
        }
        let number = r.u64_be()?;
        let n_events = r.u32_be()? as usize;
        let n_debits = r.u32_be()? as usize;
        let n_credits = r.u32_be()? as usize;
        if n_events > r.remaining()
            || n_debits.saturating_mul(116) > r.remaining()
            || n_credits.saturating_mul(12) > r.remaining()
        {
            return Err(BatchDecodeError::Truncated);
        }
        let mut events = Vec::with_capacity(n_events);
        for _ in 0..n_events {
            events.push(read_event(&mut r)?);
        }
        let mut debits = Vec::with_capacity(n_debits);
        for _ in 0..n_debits {
            debits.push(Debit {
                channel: r.u32_be()?,
                seq: r.u64_be()?,
                spent: r.u64_be()?,
                chain: r.fe()?,
                sig: *r.array::<64>()?,
            });
        }
        let mut credits = Vec::with_capacity(n_credits);
        for _ in 0..n_credits {
            credits.push((r.u32_be()?, r.u64_be()?));
        }
        r.finish()?;
        Ok(Batch {
            number,
            events,
            debits,
            credits,
        })
    }
}

fn read_event(r: &mut Reader<'_>) -> Result<Event, BatchDecodeError> {
    Ok(match r.u8()? {
        1 => Event::Open {
            channel: r.u32_be()?,
            pk: PublicKey::from_xy_unchecked(r.fe()?, r.fe()?),
            deposit: r.u64_be()?,
        },
        2 => Event::TopUp {
            channel: r.u32_be()?,
            amount: r.u64_be()?,
        },
        3 => Event::Withdraw {
            channel: r.u32_be()?,
            amount: r.u64_be()?,
        },
        4 => Event::Exit {
            channel: r.u32_be()?,
        },
        _ => return Err(BatchDecodeError::Malformed("event tag")),
    })
}

impl From<ReadError> for BatchDecodeError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Short { .. } => BatchDecodeError::Truncated,
            ReadError::Trailing { .. } => BatchDecodeError::Malformed("trailing bytes"),
            ReadError::NonCanonical { .. } => BatchDecodeError::Malformed("field element"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Fe;
    use crate::ledger::Ledger;

    fn pk() -> PublicKey {
        PublicKey::from_xy_unchecked(Fe::from(1u64), Fe::from(2u64))
    }

    /// Channels 1 (deposit 100) and 2 (deposit 0); 1 has paid 2 `30` at seq 3.
    fn ledger() -> Ledger {
        let ledger = Ledger::new();
        let opens = Batch {
            number: 1,
            events: vec![
                Event::Open {
                    channel: 1,
                    pk: pk(),
                    deposit: 100,
                },
                Event::Open {
                    channel: 2,
                    pk: pk(),
                    deposit: 0,
                },
            ],
            ..Batch::default()
        };
        apply_batch(&ledger, &opens).expect("opens apply");
        apply_batch(&ledger, &payment(2, 3, 30, 30)).expect("a payment within the balance");
        ledger
    }

    /// Batch `number`: channel 1 debited to `seq`/`spent`, channel 2 credited `amount`.
    fn payment(number: u64, seq: Seq, spent: Amount, amount: Amount) -> Batch {
        Batch {
            number,
            debits: vec![Debit {
                channel: 1,
                seq,
                spent,
                chain: Fe::from(seq),
                sig: [7; 64],
            }],
            credits: vec![(2, amount)],
            ..Batch::default()
        }
    }

    #[test]
    fn an_invalid_batch_is_refused_and_leaves_the_table_unchanged() {
        let ledger = ledger();
        let before = ledger.records();
        let refused = [
            // Overdraws channel 1 (D = 100): the credit to 2 must not land either.
            (payment(3, 4, 101, 71), ApplyError::Overdrawn(1)),
            // Spent goes backwards while the seq advances.
            (
                payment(3, 5, 20, 0),
                ApplyError::SpentDecreases {
                    channel: 1,
                    seq: 5,
                    held: 30,
                    spent: 20,
                },
            ),
            // A withdrawal beyond the balance, even with a top-up of another channel
            // and an exit earlier in the batch.
            (
                Batch {
                    number: 3,
                    events: vec![
                        Event::TopUp {
                            channel: 2,
                            amount: 5,
                        },
                        Event::Exit { channel: 1 },
                        Event::Withdraw {
                            channel: 1,
                            amount: 71,
                        },
                    ],
                    ..Batch::default()
                },
                ApplyError::Overdrawn(1),
            ),
            // A credit to a channel that does not exist, after a valid debit.
            (
                Batch {
                    credits: vec![(2, 5), (9, 5)],
                    ..payment(3, 4, 40, 5)
                },
                ApplyError::UnknownChannel(9),
            ),
        ];
        for (batch, expected) in refused {
            assert_eq!(apply_batch(&ledger, &batch), Err(expected), "{batch:?}");
            assert_eq!(ledger.records(), before, "nothing changed by {batch:?}");
        }
        // The same table still takes a valid batch.
        let applied = apply_batch(&ledger, &payment(3, 4, 100, 70)).expect("valid");
        assert_eq!(applied.acks, vec![(1, 4)]);
        assert_eq!(applied.credits, vec![(2, 70, 100)]);
        assert_eq!(ledger.totals().balances, 100);
    }

    #[test]
    fn a_replayed_debit_is_acked_not_applied_again() {
        let ledger = ledger();
        let before = ledger.records();
        let applied = apply_batch(&ledger, &payment(2, 3, 30, 0)).expect("a replay applies");
        assert_eq!((applied.acks, applied.vouchers), (vec![(1, 3)], 0));
        assert_eq!(ledger.records(), before);
    }
}
