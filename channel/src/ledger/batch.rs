//! The commit path: covered ranges gathered into one [`Batch`] (one log record per
//! group commit) and applied to a channel table once durable.
//!
//! A batch is atomic: its debits and the payees' credits land together, so Σ R = Σ S
//! holds after every batch. Its binary form (below) is what the hub appends to its
//! log; it grows with the number of channels touched, not with the payments.

use std::collections::{BTreeMap, BTreeSet};

use crate::crypto::{PackedSignature, PublicKey};
use crate::field::{Fe, fe_from_be_bytes, fe_to_be_bytes};
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

/// A settlement-layer event mirrored into the hub's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Apply a durable batch to a table. Debits advance payers' committed heads (not
/// their staged heads); credits raise payees' received.
///
/// Order: opens, top-ups and withdrawals first; then debits and credits; exits last.
/// A debit in the same batch as its payer's exit was gathered before the exit
/// ([`BatchBuilder::push_covered`] refuses the others), so once a record reads
/// `exiting` its committed head is final: nothing above it will ever commit.
///
/// Panics if the batch would break an invariant (a corrupted log must stop the hub,
/// not be guessed at).
pub fn apply_batch<T: ChannelTable>(table: &T, batch: &Batch) -> Applied {
    let mut applied = Applied::default();
    let mut vouchers = 0;
    for event in batch
        .events
        .iter()
        .filter(|e| !matches!(e, Event::Exit { .. }))
    {
        apply_event(table, event);
    }
    for d in &batch.debits {
        let found = table.with_channel(d.channel, |c| {
            let r = &mut c.record;
            if d.seq <= r.seq {
                return; // replayed batch: already applied
            }
            assert!(d.spent >= r.spent, "spent is monotonic");
            vouchers += d.seq - r.seq;
            r.seq = d.seq;
            r.spent = d.spent;
            r.chain = d.chain;
            r.checkpoint_sig = Some(d.sig);
            // A recovered table has nothing staged; keep the covered head in step.
            if c.covered.seq < d.seq {
                c.covered = c.record.head();
            }
        });
        assert!(found.is_some(), "debit for unknown channel {}", d.channel);
        applied.acks.push((d.channel, d.seq));
    }
    applied.vouchers = vouchers;
    for &(to, amount) in &batch.credits {
        let received = table.with_channel(to, |c| {
            c.record.received = c
                .record
                .received
                .checked_add(amount)
                .expect("received fits u64");
            c.record.received
        });
        let received = received.unwrap_or_else(|| panic!("credit for unknown channel {to}"));
        applied.credits.push((to, amount, received));
    }
    for event in batch
        .events
        .iter()
        .filter(|e| matches!(e, Event::Exit { .. }))
    {
        apply_event(table, event);
        if let Event::Exit { channel } = *event {
            applied.exited.push(channel);
        }
    }
    applied
}

fn apply_event<T: ChannelTable>(table: &T, event: &Event) {
    match *event {
        Event::Open {
            channel,
            pk,
            deposit,
        } => table.insert_channel(ChannelState::new(ChannelRecord::open(channel, pk, deposit))),
        Event::TopUp { channel, amount } => {
            table.with_channel(channel, |c| {
                c.record.deposit += NetAmount::from(amount);
                assert!(c.record.deposit < 1 << 64, "net deposit below 2^64");
            });
        }
        Event::Withdraw { channel, amount } => {
            table.with_channel(channel, |c| {
                // A payee may withdraw more than it deposited (D < 0): what bounds a
                // withdrawal is the balance B = D + R − S ≥ 0, not D.
                c.record.deposit -= NetAmount::from(amount);
                assert!(c.record.balance().is_some(), "withdrawal keeps B >= 0");
            });
        }
        Event::Exit { channel } => {
            table.with_channel(channel, |c| c.record.exiting = true);
        }
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
        let mut r = Reader(bytes);
        if r.u8()? != BATCH_VERSION {
            return Err(BatchDecodeError::Malformed("version"));
        }
        let number = r.u64()?;
        let n_events = r.u32()? as usize;
        let n_debits = r.u32()? as usize;
        let n_credits = r.u32()? as usize;
        if n_events > r.0.len()
            || n_debits.saturating_mul(116) > r.0.len()
            || n_credits.saturating_mul(12) > r.0.len()
        {
            return Err(BatchDecodeError::Truncated);
        }
        let mut events = Vec::with_capacity(n_events);
        for _ in 0..n_events {
            let e = match r.u8()? {
                1 => Event::Open {
                    channel: r.u32()?,
                    pk: PublicKey::from_xy_unchecked(r.fe()?, r.fe()?),
                    deposit: r.u64()?,
                },
                2 => Event::TopUp {
                    channel: r.u32()?,
                    amount: r.u64()?,
                },
                3 => Event::Withdraw {
                    channel: r.u32()?,
                    amount: r.u64()?,
                },
                4 => Event::Exit { channel: r.u32()? },
                _ => return Err(BatchDecodeError::Malformed("event tag")),
            };
            events.push(e);
        }
        let mut debits = Vec::with_capacity(n_debits);
        for _ in 0..n_debits {
            debits.push(Debit {
                channel: r.u32()?,
                seq: r.u64()?,
                spent: r.u64()?,
                chain: r.fe()?,
                sig: r.array::<64>()?,
            });
        }
        let mut credits = Vec::with_capacity(n_credits);
        for _ in 0..n_credits {
            credits.push((r.u32()?, r.u64()?));
        }
        if !r.0.is_empty() {
            return Err(BatchDecodeError::Malformed("trailing bytes"));
        }
        Ok(Batch {
            number,
            events,
            debits,
            credits,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], BatchDecodeError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(BatchDecodeError::Truncated)?;
        self.0 = rest;
        Ok(*head)
    }
    fn u8(&mut self) -> Result<u8, BatchDecodeError> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, BatchDecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, BatchDecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn fe(&mut self) -> Result<Fe, BatchDecodeError> {
        fe_from_be_bytes(&self.array()?).map_err(|_| BatchDecodeError::Malformed("field element"))
    }
}
