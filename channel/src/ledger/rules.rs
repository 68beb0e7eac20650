//! The voucher rules (docs/DESIGN.md §4): what the hub accepts, in one place.

use crate::codec::ErrorCode;
use crate::crypto::{Signature, chain_next};
use crate::types::{Amount, ChannelId, HubId, Seq, VoucherIn, VoucherMessage};

use super::Debit;
use super::state::{ChannelState, Covered, Head, Staged};

/// Most vouchers a channel may have staged (uncovered, including checkpoints awaiting
/// verification and what they cover): bounds a channel's memory whatever its limits.
pub const MAX_STAGED_PER_CHANNEL: usize = 16_384;

/// Bounds on the unsigned run: vouchers after a channel's last checkpoint. A signed
/// checkpoint closes the run (it may always be admitted); vouchers it covers stop
/// counting even while its signature is being verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most unsigned vouchers after the last checkpoint.
    pub max_pending_count: u32,
    /// Most unsigned amount after the last checkpoint.
    pub max_pending_amount: Amount,
}

impl Limits {
    /// Default: 1,024 pending vouchers, 10^12 base units.
    pub const DEFAULT: Limits = Limits {
        max_pending_count: 1024,
        max_pending_amount: 1_000_000_000_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What `admit` needs from outside the channel.
pub struct AdmitContext<'a> {
    /// The hub's id (domain of signatures).
    pub hub_id: HubId,
    /// Pending limits.
    pub limits: Limits,
    /// Whether a payee channel exists.
    pub payee_exists: &'a dyn Fn(ChannelId) -> bool,
}

/// The outcome of admitting one voucher.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Admit {
    /// Staged as pending; covered by a later checkpoint.
    Pending,
    /// A checkpoint: verify `sig` over `msg.hash()` with the channel key, then call
    /// [`ChannelState::cover`] or [`ChannelState::refuse_checkpoint`].
    Checkpoint {
        /// The voucher message's fields, unhashed (the verifier hashes many at once).
        msg: VoucherMessage,
        /// The signature to verify.
        sig: Signature,
    },
    /// `seq` is already committed and the voucher agrees with what the hub holds (a
    /// resend): re-ack with the committed head, do not apply again.
    AlreadyCommitted,
    /// `seq` is already staged or covered and the voucher agrees with what the hub
    /// holds (a resend in flight): the ack will follow.
    AlreadyStaged,
}

/// Why a voucher was rejected. Each maps to a stable [`ErrorCode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VoucherError {
    /// `seq` does not follow the head.
    #[error("expected seq {expected}, got {got}")]
    BadSeq {
        /// The next seq the hub expects.
        expected: Seq,
        /// What the voucher carried.
        got: Seq,
    },
    /// `spent` does not equal `head.spent + amount`.
    #[error("spent does not equal previous spent plus amount")]
    BadSpent,
    /// `chain` does not match.
    #[error("chain does not match the payment history")]
    BadChain,
    /// No such payee.
    #[error("payee channel {0} does not exist")]
    UnknownPayee(ChannelId),
    /// Payment exceeds the balance (pending counted).
    #[error("insufficient balance")]
    InsufficientBalance,
    /// Too many or too much pending.
    #[error("pending voucher limit reached; send a signed checkpoint")]
    PendingLimit,
    /// The checkpoint signature is invalid.
    #[error("checkpoint signature does not verify")]
    BadSignature,
    /// `amount == 0`.
    #[error("amount must be positive")]
    ZeroAmount,
    /// `to == channel`.
    #[error("a channel cannot pay itself")]
    SelfPayment,
    /// An amount overflows u64.
    #[error("amount overflows")]
    Overflow,
    /// The channel has requested exit.
    #[error("channel is exiting and may not spend")]
    ChannelExiting,
    /// A voucher at a seq the hub already holds differs from the one it holds (the
    /// client's state diverged from the hub's).
    #[error("seq {seq} is already held with a different payment; resynchronise with status")]
    Conflict {
        /// The voucher's seq.
        seq: Seq,
    },
    /// `cover`/`refuse_checkpoint` named a seq that is not an awaiting checkpoint.
    #[error("no checkpoint awaiting verification at that seq")]
    NoSuchCheckpoint,
}

impl VoucherError {
    /// The stable protocol error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            VoucherError::BadSeq { .. } => ErrorCode::BadSeq,
            VoucherError::BadSpent => ErrorCode::BadSpent,
            VoucherError::BadChain => ErrorCode::BadChain,
            VoucherError::UnknownPayee(_) => ErrorCode::UnknownPayee,
            VoucherError::InsufficientBalance => ErrorCode::InsufficientBalance,
            VoucherError::PendingLimit => ErrorCode::PendingLimit,
            VoucherError::BadSignature => ErrorCode::BadSignature,
            VoucherError::ZeroAmount => ErrorCode::ZeroAmount,
            VoucherError::SelfPayment => ErrorCode::SelfPayment,
            VoucherError::Overflow => ErrorCode::Overflow,
            VoucherError::ChannelExiting => ErrorCode::ChannelExiting,
            VoucherError::Conflict { .. } => ErrorCode::Conflict,
            VoucherError::NoSuchCheckpoint => ErrorCode::InternalError,
        }
    }
}

impl ChannelState {
    /// Admit one voucher on this channel (the payer's). Pure check-then-stage: on
    /// error nothing changes.
    pub fn admit(&mut self, v: &VoucherIn, ctx: &AdmitContext<'_>) -> Result<Admit, VoucherError> {
        let head = self.head();
        if v.seq <= head.seq {
            return self.admit_resend(v);
        }
        // Before the seq check: an exited channel's head may have been rolled back
        // (`abandon_uncommitted`), and nothing new is admitted anyway.
        if self.record.exiting {
            return Err(VoucherError::ChannelExiting);
        }
        if v.seq != head.seq + 1 {
            return Err(VoucherError::BadSeq {
                expected: head.seq + 1,
                got: v.seq,
            });
        }
        if v.amount == 0 {
            return Err(VoucherError::ZeroAmount);
        }
        if v.to == self.record.id {
            return Err(VoucherError::SelfPayment);
        }
        let spent = head
            .spent
            .checked_add(v.amount)
            .ok_or(VoucherError::Overflow)?;
        if v.spent.is_some_and(|s| s != spent) {
            return Err(VoucherError::BadSpent);
        }
        if !(ctx.payee_exists)(v.to) {
            return Err(VoucherError::UnknownPayee(v.to));
        }
        // Only committed receipts count towards what a channel can spend.
        if i128::from(spent) > self.record.available() {
            return Err(VoucherError::InsufficientBalance);
        }
        if self.staged.len() >= MAX_STAGED_PER_CHANNEL {
            return Err(VoucherError::PendingLimit);
        }
        let run_amount = self
            .run_amount
            .checked_add(v.amount)
            .ok_or(VoucherError::Overflow)?;
        // A checkpoint closes the run, so it is always admitted.
        if v.sig.is_none()
            && (self.run_len >= ctx.limits.max_pending_count
                || run_amount > ctx.limits.max_pending_amount)
        {
            return Err(VoucherError::PendingLimit);
        }
        let chain = chain_next(&head.chain, v.seq, v.to, v.amount);
        if v.chain.is_some_and(|c| c != chain) {
            return Err(VoucherError::BadChain);
        }
        let next = Head {
            seq: v.seq,
            spent,
            chain,
        };
        self.staged.push_back(Staged {
            to: v.to,
            amount: v.amount,
            head: next,
            awaiting_sig: v.sig.is_some(),
        });
        if v.sig.is_some() {
            self.run_len = 0;
            self.run_amount = 0;
        } else {
            self.run_len += 1;
            self.run_amount = run_amount;
        }
        debug_assert_eq!(self.head().seq, v.seq);
        match v.sig {
            None => Ok(Admit::Pending),
            Some(sig) => Ok(Admit::Checkpoint {
                msg: VoucherMessage {
                    hub_id: ctx.hub_id,
                    channel: self.record.id,
                    seq: v.seq,
                    spent,
                    chain,
                },
                sig,
            }),
        }
    }

    /// A voucher at a seq the hub already holds: a resend if it agrees with what the
    /// hub holds there, [`VoucherError::Conflict`] if the hub can tell it differs.
    /// What the hub can compare: a staged voucher in full (`to`, `amount`, `spent`,
    /// `chain`); the committed head by `spent`, `chain` and the checkpoint signature
    /// (deterministic, §8 of PROTOCOL.md, so a resend carries the same bytes, and it
    /// binds `spent` and `chain`, hence every amount); the covered head by `spent` and
    /// `chain`. A field the voucher leaves out is not compared; older seqs are not
    /// held, so a re-ack carries the committed head for the client to compare.
    #[cold]
    #[inline(never)]
    fn admit_resend(&self, v: &VoucherIn) -> Result<Admit, VoucherError> {
        let conflict = Err(VoucherError::Conflict { seq: v.seq });
        if v.seq <= self.record.seq {
            if v.seq == self.record.seq {
                let sig_differs = match (&v.sig, &self.record.checkpoint_sig) {
                    (Some(sig), Some(held)) => sig.pack() != *held,
                    _ => false,
                };
                if sig_differs || differs_from(v, &self.record.head()) {
                    return conflict;
                }
            }
            return Ok(Admit::AlreadyCommitted);
        }
        let staged = self.staged.front().and_then(|first| {
            let idx = usize::try_from(v.seq.checked_sub(first.head.seq)?).ok()?;
            self.staged.get(idx)
        });
        match staged {
            Some(s) => {
                debug_assert_eq!(s.head.seq, v.seq);
                if s.to != v.to || s.amount != v.amount || differs_from(v, &s.head) {
                    return conflict;
                }
            }
            None if v.seq == self.covered.seq && differs_from(v, &self.covered) => {
                return conflict;
            }
            None => {}
        }
        Ok(Admit::AlreadyStaged)
    }

    /// The checkpoint at `seq` verified: cover every staged voucher up to it.
    ///
    /// Refused with [`VoucherError::ChannelExiting`] (nothing changes) if the channel
    /// has exited since the checkpoint was admitted: its committed head is final;
    /// the caller then calls [`ChannelState::abandon_uncommitted`].
    pub fn cover(&mut self, seq: Seq, sig: Signature) -> Result<Covered, VoucherError> {
        let idx = self.staged_index(seq)?;
        if self.record.exiting {
            return Err(VoucherError::ChannelExiting);
        }
        let mut payments = Vec::with_capacity(idx + 1);
        let mut last = self.covered;
        for s in self.staged.drain(..=idx) {
            payments.push((s.to, s.amount));
            last = s.head;
        }
        debug_assert_eq!(last.seq, seq);
        debug_assert!(last.spent >= self.covered.spent);
        self.covered = last;
        Ok(Covered {
            debit: Debit {
                channel: self.record.id,
                seq: last.seq,
                spent: last.spent,
                chain: last.chain,
                sig: sig.pack(),
            },
            payments,
        })
    }

    /// The checkpoint at `seq` failed verification: keep the valid prefix (vouchers
    /// before `seq` stay pending) and drop it and everything staged after it.
    /// Returns the dropped seqs, in order, so the caller can reject them.
    pub fn refuse_checkpoint(&mut self, seq: Seq) -> Result<Vec<Seq>, VoucherError> {
        let idx = self.staged_index(seq)?;
        let dropped = self.staged.drain(idx..).map(|s| s.head.seq).collect();
        self.recount_run();
        Ok(dropped)
    }

    fn staged_index(&self, seq: Seq) -> Result<usize, VoucherError> {
        let first = self
            .staged
            .front()
            .ok_or(VoucherError::NoSuchCheckpoint)?
            .head
            .seq;
        let idx = seq
            .checked_sub(first)
            .and_then(|i| usize::try_from(i).ok())
            .ok_or(VoucherError::NoSuchCheckpoint)?;
        match self.staged.get(idx) {
            Some(s) if s.awaiting_sig && s.head.seq == seq => Ok(idx),
            _ => Err(VoucherError::NoSuchCheckpoint),
        }
    }
}

/// Whether `v` carries a `spent` or `chain` other than `head`'s (fields left out
/// are not compared).
fn differs_from(v: &VoucherIn, head: &Head) -> bool {
    v.spent.is_some_and(|s| s != head.spent) || v.chain.is_some_and(|c| c != head.chain)
}
