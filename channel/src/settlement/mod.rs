//! The settlement-layer model (docs/DESIGN.md §7): a deterministic, serializable state
//! machine standing in for an on-chain contract. The binary persists it (its own redb
//! file); a chain contract is a later port of the same rules.
//!
//! It holds the hub's registration and bond, every channel's key and net deposit, a
//! block height (moved only by [`Settlement::advance`]: there is no clock), the cut and
//! close of each epoch, exit requests, withdrawals, disputes, and a numbered log of the
//! events the hub's ledger must mirror ([`LoggedEvent`]: `Open`, `TopUp`, `Withdraw`,
//! `Exit`). Every operation either succeeds or returns a [`SettlementError`] and
//! changes nothing; after each success the value invariant
//! `bond + Σ net deposits + paid out = bond posted + deposits received` is asserted.
//!
//! Rules, as chosen here:
//! - **Channels** get ids `1, 2, 3, …` in order of first deposit (the registry at a cut
//!   is always ids `1..=n`, and channel `id` sits in slot `id − 1` of both trees).
//! - **Epochs** are cut in order `1, 2, …`. Epoch `e + 1` can be cut only once close `e`
//!   is accepted. A cut records the registry (net deposit per channel, `n`,
//!   `deposits_root` computed with [`crate::statement::deposit_leaf`]) and a
//!   deadline `height + close_window`.
//! - **Forced exit**: when the height passes a pending cut's deadline, the hub has
//!   failed. The layer freezes for good (no deposits, cuts or closes). Each channel may
//!   take out `B` of the last accepted close plus its net deposit changes since that
//!   cut ([`Settlement::forced_withdraw`]), and payees claim receipts of newer epochs
//!   from the bond ([`Settlement::claim_receipt`]). Σ of these equals Σ net deposits
//!   because the close proved Σ B = Σ D.
//! - **Exit and withdraw**: exit is requested with the channel key's signature over
//!   [`exit_message`] and is permanent. A channel withdraws `B` from the *latest* cut,
//!   once that close is accepted, if its exit request came before the cut; at most once
//!   per close. Its net deposit drops by `B`, so the next cut's leaf has `B = 0` plus
//!   whatever it received since.
//! - **Disputes**: a payee shows a hub receipt for epoch `e` within `dispute_window` of
//!   close `e`'s acceptance. With its own opening showing less `received`, it is paid the
//!   difference at once. Without one, the hub has `answer_window` blocks to open the
//!   leaf; an opening showing at least the receipt refutes it, one showing less pays the
//!   difference, silence pays the receipt (less anything already proven or paid). Awards
//!   come from the bond, as far as it goes.
//!
//! Net deposits are signed (docs/DESIGN.md §4): a payee that withdraws what it received
//! ends below zero. The project brief had `D` a `u64`, which cannot represent that state;
//! see the module docs of [`crate::statement`].

mod close;
mod dispute;
pub mod error;
mod exit;
pub mod model;

use std::collections::BTreeMap;

use once_cell::sync::Lazy;
use serde::{Deserialize, Serialize};

use crate::crypto::{PublicKey, poseidon};
use crate::field::{Fe, domain_tag};
use crate::incremental::IncrementalInputs;
use crate::ledger::Event;
use crate::statement::{BalanceOpening, PublicInputs};
use crate::types::{Amount, ChannelId, Epoch, HubId};

pub use dispute::DisputeFiled;
pub use error::{InputField, OpeningFault, SettlementError};
pub use model::{
    AcceptedClose, ChannelAccount, CloseKind, Dispute, DisputeStatus, EpochRecord, ForcedExit,
    HubRegistration, LoggedEvent, Params, Payout, PayoutKind, Receipt, ReceivedBook, Stamp, Totals,
};

/// Domain tag `"zkhub/exit/v1"`.
pub static TAG_EXIT: Lazy<Fe> = Lazy::new(|| domain_tag("zkhub/exit/v1"));

/// `Poseidon(EXIT, hub_id, channel)`: what a channel key signs to request exit.
/// Exit is permanent, so the message needs no nonce: a replay is refused.
pub fn exit_message(hub_id: HubId, channel: ChannelId) -> Fe {
    poseidon(&[*TAG_EXIT, Fe::from(hub_id), Fe::from(channel)])
}

/// Verifies a close proof against its public inputs (the closer's Spartan verifier in
/// production; stubs in tests).
pub trait CloseVerifier {
    /// `Ok` iff `proof` proves the close statement for `inputs`.
    fn verify(&self, inputs: &PublicInputs, proof: &[u8]) -> Result<(), String>;

    /// `Ok` iff `proof` proves the incremental close statement for `inputs`
    /// (docs/DESIGN.md §8.2). A verifier that knows only the full close refuses.
    fn verify_incremental(&self, inputs: &IncrementalInputs, proof: &[u8]) -> Result<(), String> {
        let _ = (inputs, proof);
        Err("this verifier does not verify incremental closes".into())
    }
}

/// The settlement layer's whole state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    params: Params,
    height: u64,
    /// Operations applied so far (orders events within a height).
    ops: u64,
    hub: Option<HubRegistration>,
    /// Channel `id` is `channels[id - 1]`.
    channels: Vec<ChannelAccount>,
    epochs: BTreeMap<Epoch, EpochRecord>,
    disputes: BTreeMap<u64, Dispute>,
    /// Per epoch, per channel: proven and compensated `received`.
    books: BTreeMap<Epoch, BTreeMap<ChannelId, ReceivedBook>>,
    forced: Option<ForcedExit>,
    payouts: Vec<Payout>,
    events: Vec<LoggedEvent>,
    totals: Totals,
}

impl Settlement {
    /// An empty settlement layer at height 0.
    pub fn new(params: Params) -> Self {
        Settlement {
            params,
            height: 0,
            ops: 0,
            hub: None,
            channels: Vec::new(),
            epochs: BTreeMap::new(),
            disputes: BTreeMap::new(),
            books: BTreeMap::new(),
            forced: None,
            payouts: Vec::new(),
            events: Vec::new(),
            totals: Totals::default(),
        }
    }

    // ---- getters ----

    /// Parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Current block height.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The registered hub.
    pub fn hub(&self) -> Option<&HubRegistration> {
        self.hub.as_ref()
    }

    /// Channel `id`'s account.
    pub fn channel(&self, id: ChannelId) -> Option<&ChannelAccount> {
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        self.channels.get(index)
    }

    /// Number of channels ever opened.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// The record of epoch `epoch`'s cut and close.
    pub fn epoch(&self, epoch: Epoch) -> Option<&EpochRecord> {
        self.epochs.get(&epoch)
    }

    /// The latest cut epoch.
    pub fn latest_epoch(&self) -> Option<Epoch> {
        self.epochs.keys().next_back().copied()
    }

    /// The latest epoch whose close was accepted.
    pub fn last_accepted(&self) -> Option<Epoch> {
        self.epochs
            .values()
            .rev()
            .find(|r| r.close.is_some())
            .map(|r| r.epoch)
    }

    /// `deposits_root` of the registry at the cut of `epoch`, computed at the cut with
    /// [`crate::statement::deposit_leaf`] over [`crate::statement::slot_count`] slots.
    pub fn registry_deposits_root(&self, epoch: Epoch) -> Option<Fe> {
        self.epochs.get(&epoch).map(|r| r.deposits_root)
    }

    /// Dispute `id`.
    pub fn dispute_record(&self, id: u64) -> Option<&Dispute> {
        self.disputes.get(&id)
    }

    /// What is known about `channel`'s `received` in the close of `epoch`.
    pub fn received_book(&self, epoch: Epoch, channel: ChannelId) -> ReceivedBook {
        self.books
            .get(&epoch)
            .and_then(|b| b.get(&channel))
            .copied()
            .unwrap_or_default()
    }

    /// Forced exit, if it has begun.
    pub fn forced_exit(&self) -> Option<&ForcedExit> {
        self.forced.as_ref()
    }

    /// Every payout so far, in order.
    pub fn payouts(&self) -> &[Payout] {
        &self.payouts
    }

    /// Value totals.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Logged events with `seq > after`, for the hub to mirror in order.
    pub fn events_since(&self, after: u64) -> &[LoggedEvent] {
        // Event `seq` is at index `seq - 1`.
        let start = usize::try_from(after).map_or(self.events.len(), |a| a.min(self.events.len()));
        &self.events[start..]
    }

    // ---- operations ----

    /// Move the height to `height` (not backwards). Resolves disputes whose answer
    /// deadline has passed and begins forced exit if a close missed its deadline.
    pub fn advance(&mut self, height: u64) -> Result<(), SettlementError> {
        if height < self.height {
            return Err(SettlementError::HeightBackwards {
                current: self.height,
                requested: height,
            });
        }
        self.height = height;
        let at = self.stamp();
        self.resolve_expired_disputes(at);
        if self.forced.is_none()
            && let Some(pending) = self.epochs.values().next_back()
            && pending.close.is_none()
            && height > pending.deadline
        {
            self.forced = Some(ForcedExit {
                missed_epoch: pending.epoch,
                last_accepted: self.last_accepted(),
                since: height,
            });
        }
        self.assert_value_invariant();
        Ok(())
    }

    /// Advance by one block.
    pub fn tick(&mut self) -> Result<(), SettlementError> {
        let next = self
            .height
            .checked_add(1)
            .ok_or(SettlementError::Overflow)?;
        self.advance(next)
    }

    /// Register the hub with its bond (once).
    pub fn register_hub(
        &mut self,
        hub_id: HubId,
        pk: PublicKey,
        bond: Amount,
    ) -> Result<(), SettlementError> {
        if let Some(h) = &self.hub {
            return Err(SettlementError::HubAlreadyRegistered(h.hub_id));
        }
        if bond == 0 {
            return Err(SettlementError::ZeroAmount);
        }
        self.stamp();
        self.hub = Some(HubRegistration { hub_id, pk, bond });
        self.totals.bond_in += u128::from(bond);
        self.assert_value_invariant();
        Ok(())
    }

    /// Open a channel for `pk` with a first deposit; returns its id (`1, 2, …`).
    pub fn deposit(&mut self, pk: PublicKey, amount: Amount) -> Result<ChannelId, SettlementError> {
        self.require_live()?;
        if amount == 0 {
            return Err(SettlementError::ZeroAmount);
        }
        // Every channel's D + R must fit in 64 bits (the ledger's and the circuit's
        // amounts): the sum of all net deposits bounds any R, so it is kept below 2^64.
        if self.totals.net_deposits + i128::from(amount) > i128::from(Amount::MAX) {
            return Err(SettlementError::Overflow);
        }
        let id =
            ChannelId::try_from(self.channels.len() + 1).map_err(|_| SettlementError::Overflow)?;
        let at = self.stamp();
        self.channels.push(ChannelAccount {
            id,
            pk,
            net_deposit: i128::from(amount),
            exit: None,
            last_withdrawal: None,
            forced_withdrawn: false,
            forced_claimed_to: 0,
        });
        self.totals.deposits_in += u128::from(amount);
        self.totals.net_deposits += i128::from(amount);
        self.log(
            at,
            Event::Open {
                channel: id,
                pk,
                deposit: amount,
            },
        );
        self.assert_value_invariant();
        Ok(id)
    }

    /// Add `amount` to channel `id`'s deposit.
    pub fn top_up(&mut self, id: ChannelId, amount: Amount) -> Result<(), SettlementError> {
        self.require_live()?;
        if amount == 0 {
            return Err(SettlementError::ZeroAmount);
        }
        // Every channel's D + R must fit in 64 bits (the ledger's and the circuit's
        // amounts): the sum of all net deposits bounds any R, so it is kept below 2^64.
        if self.totals.net_deposits + i128::from(amount) > i128::from(Amount::MAX) {
            return Err(SettlementError::Overflow);
        }
        let current = self.account(id)?.net_deposit;
        let next = current + i128::from(amount);
        // The ledger keeps D + R − S in 64 bits; a net deposit beyond that is refused.
        if next > i128::from(Amount::MAX) {
            return Err(SettlementError::Overflow);
        }
        let at = self.stamp();
        self.account_mut(id)?.net_deposit = next;
        self.totals.deposits_in += u128::from(amount);
        self.totals.net_deposits += i128::from(amount);
        self.log(
            at,
            Event::TopUp {
                channel: id,
                amount,
            },
        );
        self.assert_value_invariant();
        Ok(())
    }

    // ---- internals shared by the submodules ----

    /// Next operation stamp (consumes an operation number).
    fn stamp(&mut self) -> Stamp {
        self.ops += 1;
        Stamp {
            height: self.height,
            op: self.ops,
        }
    }

    fn log(&mut self, at: Stamp, event: Event) {
        let seq = self.events.len() as u64 + 1;
        self.events.push(LoggedEvent { seq, at, event });
    }

    fn book_mut(&mut self, epoch: Epoch, channel: ChannelId) -> &mut ReceivedBook {
        self.books
            .entry(epoch)
            .or_default()
            .entry(channel)
            .or_default()
    }

    fn hub_ref(&self) -> Result<&HubRegistration, SettlementError> {
        self.hub.as_ref().ok_or(SettlementError::NoHub)
    }

    /// Refuse when no hub is registered or forced exit is active.
    fn require_live(&self) -> Result<&HubRegistration, SettlementError> {
        if let Some(f) = &self.forced {
            return Err(SettlementError::ForcedExit {
                missed_epoch: f.missed_epoch,
            });
        }
        self.hub_ref()
    }

    fn account(&self, id: ChannelId) -> Result<&ChannelAccount, SettlementError> {
        self.channel(id).ok_or(SettlementError::UnknownChannel(id))
    }

    fn account_mut(&mut self, id: ChannelId) -> Result<&mut ChannelAccount, SettlementError> {
        let index = usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .filter(|&i| i < self.channels.len())
            .ok_or(SettlementError::UnknownChannel(id))?;
        Ok(&mut self.channels[index])
    }

    /// Check an opening of channel `id`'s leaf in the close of `epoch`.
    fn check_opening(
        &self,
        id: ChannelId,
        epoch: Epoch,
        opening: &BalanceOpening,
    ) -> Result<(), SettlementError> {
        let account = self.account(id)?;
        let record = self
            .epochs
            .get(&epoch)
            .ok_or(SettlementError::UnknownEpoch(epoch))?;
        let close = record
            .close
            .as_ref()
            .ok_or(SettlementError::CloseNotAccepted(epoch))?;
        let fault = |f| Err(SettlementError::BadOpening(f));
        if opening.epoch != epoch {
            return fault(OpeningFault::WrongEpoch);
        }
        if opening.channel != id {
            return fault(OpeningFault::WrongChannel);
        }
        if opening.pk != account.pk {
            return fault(OpeningFault::WrongKey);
        }
        if opening.index != opening.expected_index() {
            return fault(OpeningFault::WrongIndex);
        }
        if opening.state.is_some() != (close.kind == CloseKind::Incremental) {
            return fault(OpeningFault::WrongTree);
        }
        if !opening.verify(&close.balances_root) {
            return fault(OpeningFault::NotInTree);
        }
        Ok(())
    }

    /// Pay `amount` to channel `channel`'s owner out of the bond, as far as it goes.
    /// Returns `(paid, shortfall)`.
    fn pay_from_bond(
        &mut self,
        at: Stamp,
        channel: ChannelId,
        amount: Amount,
        kind: PayoutKind,
    ) -> (Amount, Amount) {
        let hub = self
            .hub
            .as_mut()
            .expect("awards exist only once a hub is registered");
        let paid = amount.min(hub.bond);
        hub.bond -= paid;
        self.totals.paid_out += u128::from(paid);
        if paid > 0 {
            self.payouts.push(Payout {
                at,
                channel,
                amount: paid,
                kind,
            });
        }
        (paid, amount - paid)
    }

    /// Pay `amount` out of channel `channel`'s net deposit.
    fn pay_from_deposit(
        &mut self,
        at: Stamp,
        channel: ChannelId,
        amount: Amount,
        kind: PayoutKind,
    ) {
        let account = &mut self.channels[channel as usize - 1];
        account.net_deposit -= i128::from(amount);
        self.totals.net_deposits -= i128::from(amount);
        self.totals.paid_out += u128::from(amount);
        self.payouts.push(Payout {
            at,
            channel,
            amount,
            kind,
        });
        self.log(at, Event::Withdraw { channel, amount });
    }

    /// `bond + Σ net deposits + paid out = bond posted + deposits received`, with the
    /// running Σ net deposits (O(1): asserted after every operation).
    fn assert_value_invariant(&self) {
        let bond = self.hub.as_ref().map_or(0, |h| i128::from(h.bond));
        let t = &self.totals;
        let held = bond + t.net_deposits + t.paid_out as i128;
        assert_eq!(
            held,
            (t.bond_in + t.deposits_in) as i128,
            "settlement value conservation"
        );
        assert!(
            t.net_deposits >= 0,
            "the settlement layer never owes more than it holds"
        );
    }

    /// Full check of every invariant (O(channels)): the running total equals the sum
    /// of the accounts, and the value invariant holds.
    pub fn check_invariants(&self) {
        let sum: i128 = self.channels.iter().map(|c| c.net_deposit).sum();
        assert_eq!(sum, self.totals.net_deposits, "running Σ net deposits");
        for (i, c) in self.channels.iter().enumerate() {
            assert_eq!(c.id as usize, i + 1, "ids are dense from 1");
        }
        assert_eq!(
            self.totals.paid_out,
            self.payouts
                .iter()
                .map(|p| u128::from(p.amount))
                .sum::<u128>(),
            "paid out equals the payout log"
        );
        self.assert_value_invariant();
    }
}

impl Default for Settlement {
    fn default() -> Self {
        Self::new(Params::DEFAULT)
    }
}
