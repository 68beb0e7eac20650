//! The hub's ledger, sans-I/O (docs/DESIGN.md §4, §6).
//!
//! Per channel, [`ChannelState`] holds the *committed* record (durable as of the last
//! group commit) and a *staged* head: pending vouchers (unsigned) and checkpoints
//! awaiting signature verification or commit. The voucher rules are in [`rules`]
//! (`ChannelState::admit`), the commit path (batches, applying a durable batch) in
//! [`batch`], the epoch snapshot in [`snapshot`].
//!
//! Life of a payment:
//! 1. `admit(voucher)` checks seq, spent, chain, payee, balance (pending counted),
//!    pending limits. An unsigned voucher becomes pending. A signed one returns
//!    [`Admit::Checkpoint`] with the message to verify.
//! 2. The caller verifies the signature (possibly on a verifier pool), then calls
//!    `cover(seq, sig)`, which returns a [`Covered`] range for the next group commit,
//!    or `refuse_checkpoint(seq)` which rolls the head back to before `seq` (the
//!    longest valid prefix is kept pending) and names the rejected seqs.
//! 3. The group committer collects [`Covered`] ranges into a [`Batch`], makes it
//!    durable, then calls [`apply_batch`]; only then are acks and credits released.
//!    A range whose payer's exit comes first in log order is [`Refused`] instead
//!    (an exiting channel may not spend: the withdrawal of its balance at the next
//!    cut must not be overdrawn by a debit committed after that cut).
//!
//! Invariants: `B = D + R − S ≥ 0` for every committed record, and over a whole
//! table Σ R = Σ S, so Σ B = Σ D. [`apply_batch`] refuses a batch that would break
//! them ([`ApplyError`], leaving the table unchanged); [`Totals::check`] checks a
//! whole table, before it is written out and after it is read back.

pub mod batch;
pub mod rules;
pub mod session;
pub mod snapshot;
pub mod state;
pub mod totals;

pub use batch::{
    Applied, ApplyError, Batch, BatchBuilder, BatchDecodeError, Debit, Event, Prepared, Refused,
    apply_batch, prepare_batch,
};
pub use rules::{Admit, AdmitContext, Limits, VoucherError};
pub use snapshot::Snapshot;
pub use state::{ChannelRecord, ChannelState, ChannelTable, Covered, Head, Ledger};
pub use totals::{InvariantError, Totals};
