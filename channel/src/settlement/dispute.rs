//! Disputes (a payee's receipt against a close) and forced-exit receipt claims, both
//! paid from the hub's bond.

use crate::statement::BalanceOpening;
use crate::types::{Amount, ChannelId, Epoch};

use super::{Dispute, DisputeStatus, PayoutKind, Receipt, Settlement, SettlementError, Stamp};

/// What filing a dispute did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeFiled {
    /// The payee's own opening proved the shortfall: paid at once.
    Paid {
        /// Dispute id.
        dispute: u64,
        /// Amount paid from the bond.
        amount: Amount,
        /// Award the bond could not cover.
        shortfall: Amount,
    },
    /// Waiting for the hub's answer until `answer_deadline`.
    Open {
        /// Dispute id.
        dispute: u64,
        /// Last height at which the hub may answer.
        answer_deadline: u64,
    },
}

impl Settlement {
    /// File a dispute: `receipt` (hub-signed, epoch `e`) claims more `received` than
    /// close `e` shows. With `opening` (the payee's own leaf of close `e`) the shortfall
    /// is proven and paid from the bond at once; without, the hub has `answer_window`
    /// blocks to [`answer_dispute`](Settlement::answer_dispute).
    ///
    /// Refused if the signature is bad, close `e` is not accepted, the dispute window
    /// has passed, a dispute for `(e, channel)` is open, or nothing is owed (the receipt
    /// is not above what is already proven or paid for `(e, channel)`).
    pub fn dispute(
        &mut self,
        receipt: &Receipt,
        opening: Option<&BalanceOpening>,
    ) -> Result<DisputeFiled, SettlementError> {
        self.check_receipt(receipt)?;
        let (epoch, channel) = (receipt.epoch, receipt.channel);
        let record = self
            .epochs
            .get(&epoch)
            .ok_or(SettlementError::CloseNotAccepted(epoch))?;
        let close = record
            .close
            .as_ref()
            .ok_or(SettlementError::CloseNotAccepted(epoch))?;
        if self.height
            > close
                .accepted
                .height
                .saturating_add(self.params.dispute_window)
        {
            return Err(SettlementError::DisputeWindowClosed(epoch));
        }
        if self
            .disputes
            .values()
            .any(|d| d.epoch == epoch && d.channel == channel && d.status == DisputeStatus::Open)
        {
            return Err(SettlementError::DisputeAlreadyOpen { channel, epoch });
        }
        let mut book = self.received_book(epoch, channel);
        if let Some(opening) = opening {
            self.check_opening(channel, epoch, opening)?;
            book.proven = Some(opening.received);
        }
        if book.owed(receipt.received) == 0 {
            return Err(SettlementError::NothingToPay);
        }
        let filed = self.stamp();
        let id = self.disputes.len() as u64 + 1;
        let answer_deadline = self.height.saturating_add(self.params.answer_window);
        self.disputes.insert(
            id,
            Dispute {
                id,
                epoch,
                channel,
                claimed: receipt.received,
                filed,
                answer_deadline,
                status: DisputeStatus::Open,
            },
        );
        *self.book_mut(epoch, channel) = book;
        let outcome = if opening.is_some() {
            let (amount, shortfall) = self.award(filed, id);
            DisputeFiled::Paid {
                dispute: id,
                amount,
                shortfall,
            }
        } else {
            DisputeFiled::Open {
                dispute: id,
                answer_deadline,
            }
        };
        self.assert_value_invariant();
        Ok(outcome)
    }

    /// The hub answers dispute `id` by opening the payee's leaf of that close. If the
    /// leaf shows at least the claimed `received`, the dispute is refuted; otherwise
    /// the payee is paid the difference from the bond. Returns the final status.
    pub fn answer_dispute(
        &mut self,
        id: u64,
        opening: &BalanceOpening,
    ) -> Result<DisputeStatus, SettlementError> {
        let dispute = self
            .disputes
            .get(&id)
            .ok_or(SettlementError::UnknownDispute(id))?;
        if dispute.status != DisputeStatus::Open || self.height > dispute.answer_deadline {
            return Err(SettlementError::DisputeNotOpen(id));
        }
        let (epoch, channel, claimed) = (dispute.epoch, dispute.channel, dispute.claimed);
        self.check_opening(channel, epoch, opening)?;
        let at = self.stamp();
        let book = self.book_mut(epoch, channel);
        book.proven = Some(opening.received);
        let status = if opening.received >= claimed {
            let status = DisputeStatus::Refuted {
                proven: opening.received,
            };
            self.disputes.get_mut(&id).expect("looked up above").status = status.clone();
            status
        } else {
            self.award(at, id);
            self.disputes[&id].status.clone()
        };
        self.assert_value_invariant();
        Ok(status)
    }

    /// Disputes past their answer deadline, unanswered, are awarded (called by `advance`).
    pub(super) fn resolve_expired_disputes(&mut self, at: Stamp) {
        let expired: Vec<u64> = self
            .disputes
            .values()
            .filter(|d| d.status == DisputeStatus::Open && at.height > d.answer_deadline)
            .map(|d| d.id)
            .collect();
        for id in expired {
            self.award(at, id);
        }
    }

    /// Pay open dispute `id` what its receipt is owed beyond what is proven or already
    /// paid for its `(epoch, channel)`, from the bond. Returns `(paid, shortfall)`.
    fn award(&mut self, at: Stamp, id: u64) -> (Amount, Amount) {
        let d = &self.disputes[&id];
        debug_assert_eq!(d.status, DisputeStatus::Open);
        let (epoch, claimed, channel) = (d.epoch, d.claimed, d.channel);
        let book = self.book_mut(epoch, channel);
        let owed = book.owed(claimed);
        book.compensated_to = book.compensated_to.max(claimed);
        let (amount, shortfall) =
            self.pay_from_bond(at, channel, owed, PayoutKind::Dispute { dispute: id });
        self.disputes.get_mut(&id).expect("dispute exists").status =
            DisputeStatus::Paid { amount, shortfall };
        (amount, shortfall)
    }

    /// Forced exit: a payee claims from the bond what `receipt` (of an epoch newer than
    /// the last accepted close) shows beyond its `received` in that close, proven by
    /// `opening` of its leaf (none if the channel is newer than that close), and beyond
    /// what was already paid for that close or for earlier claims. Cumulative: a later
    /// receipt is paid only its increase. Returns `(paid, shortfall)`.
    pub fn claim_receipt(
        &mut self,
        receipt: &Receipt,
        opening: Option<&BalanceOpening>,
    ) -> Result<(Amount, Amount), SettlementError> {
        let forced = self.forced.ok_or(SettlementError::NotForcedExit)?;
        self.check_receipt(receipt)?;
        let channel = receipt.channel;
        if forced.last_accepted.is_some_and(|a| receipt.epoch <= a) {
            return Err(SettlementError::ReceiptNotNewer {
                epoch: receipt.epoch,
            });
        }
        let covered = self.received_in_last_close(channel, forced.last_accepted, opening)?;
        let already = self.account(channel)?.forced_claimed_to;
        let owed = receipt.received.saturating_sub(covered.max(already));
        if owed == 0 {
            return Err(SettlementError::NothingToPay);
        }
        let at = self.stamp();
        self.account_mut(channel)?.forced_claimed_to = receipt.received;
        let paid = self.pay_from_bond(at, channel, owed, PayoutKind::ReceiptClaim);
        self.assert_value_invariant();
        Ok(paid)
    }

    /// `received` settled for `channel` by the last accepted close: proven `R` (plus
    /// dispute awards above it) if the channel is in it, 0 if newer.
    fn received_in_last_close(
        &self,
        channel: ChannelId,
        last_accepted: Option<Epoch>,
        opening: Option<&BalanceOpening>,
    ) -> Result<Amount, SettlementError> {
        let Some(epoch) = last_accepted else {
            return Ok(0);
        };
        if u64::from(channel) > self.epochs[&epoch].n {
            return Ok(0);
        }
        let opening = opening.ok_or(SettlementError::BadOpening(super::OpeningFault::Missing))?;
        self.check_opening(channel, epoch, opening)?;
        let book = self.received_book(epoch, channel);
        Ok(opening.received.max(book.compensated_to))
    }

    /// The receipt's channel exists and the hub's signature over it verifies.
    fn check_receipt(&self, receipt: &Receipt) -> Result<(), SettlementError> {
        let hub = self.hub_ref()?;
        self.account(receipt.channel)?;
        hub.pk
            .verify(&receipt.message(hub.hub_id), &receipt.sig)
            .map_err(|_| SettlementError::BadSignature)
    }
}
