//! Exit requests, withdrawals, and forced-exit withdrawals.

use crate::crypto::Signature;
use crate::ledger::Event;
use crate::statement::BalanceOpening;
use crate::types::{Amount, ChannelId};

use super::{OpeningFault, PayoutKind, Settlement, SettlementError, exit_message};

impl Settlement {
    /// Channel `id` asks to exit, authorized by its key's signature over
    /// [`exit_message`]`(hub_id, id)`. Permanent: the hub stops its spends (it may still
    /// receive). Emits `Exit`.
    pub fn request_exit(&mut self, id: ChannelId, sig: &Signature) -> Result<(), SettlementError> {
        let hub_id = self.require_live()?.hub_id;
        let account = self.account(id)?;
        if account.exit.is_some() {
            return Err(SettlementError::AlreadyExiting(id));
        }
        account
            .pk
            .verify(&exit_message(hub_id, id), sig)
            .map_err(|_| SettlementError::BadSignature)?;
        let at = self.stamp();
        self.account_mut(id)?.exit = Some(at);
        self.log(at, Event::Exit { channel: id });
        self.assert_value_invariant();
        Ok(())
    }

    /// Pay channel `id` its balance `B` from the latest close, shown by `opening`.
    ///
    /// Needs: an exit request before the latest cut, that cut's close accepted, the
    /// opening at slot `id − 1` under its `balances_root`, `B > 0`, and no earlier
    /// withdrawal from this close. The net deposit drops by `B`; emits `Withdraw`.
    /// Returns `B`.
    pub fn withdraw(
        &mut self,
        id: ChannelId,
        opening: &BalanceOpening,
    ) -> Result<Amount, SettlementError> {
        self.require_live()?;
        let account = self.account(id)?;
        let exit = account.exit.ok_or(SettlementError::NotExiting(id))?;
        let latest = self
            .epochs
            .values()
            .next_back()
            .ok_or(SettlementError::NoCloseSinceExit(id))?;
        let epoch = latest.epoch;
        if latest.cut < exit {
            return Err(SettlementError::NoCloseSinceExit(id));
        }
        if opening.epoch != epoch {
            return Err(SettlementError::StaleOpening {
                latest: epoch,
                got: opening.epoch,
            });
        }
        if latest.close.is_none() {
            return Err(SettlementError::CloseNotAccepted(epoch));
        }
        if account.last_withdrawal == Some(epoch) {
            return Err(SettlementError::AlreadyWithdrawn { channel: id, epoch });
        }
        self.check_opening(id, epoch, opening)?;
        if opening.balance == 0 {
            return Err(SettlementError::NothingToPay);
        }
        let at = self.stamp();
        self.account_mut(id)?.last_withdrawal = Some(epoch);
        self.pay_from_deposit(at, id, opening.balance, PayoutKind::Withdrawal { epoch });
        self.assert_value_invariant();
        Ok(opening.balance)
    }

    /// Forced exit: pay channel `id` its balance in the last accepted close plus its
    /// net deposit changes since that cut (deposits made after it, less a withdrawal
    /// already made from it). A channel in that close must give the opening of its
    /// leaf; a newer one gives none. Once per channel. Returns the amount.
    pub fn forced_withdraw(
        &mut self,
        id: ChannelId,
        opening: Option<&BalanceOpening>,
    ) -> Result<Amount, SettlementError> {
        let forced = self.forced.ok_or(SettlementError::NotForcedExit)?;
        let account = self.account(id)?;
        if account.forced_withdrawn {
            return Err(SettlementError::AlreadyForcedOut(id));
        }
        let now = account.net_deposit;
        // Net deposit and balance at the last accepted cut (0, 0 if not in it).
        let (at_cut, balance) = match forced.last_accepted {
            Some(epoch) => {
                let record = &self.epochs[&epoch];
                match record.registry.get(id as usize - 1) {
                    Some(&d) => {
                        let opening =
                            opening.ok_or(SettlementError::BadOpening(OpeningFault::Missing))?;
                        self.check_opening(id, epoch, opening)?;
                        (d, i128::from(opening.balance))
                    }
                    None => (0, 0),
                }
            }
            None => (0, 0),
        };
        let owed = balance + now - at_cut;
        let owed = Amount::try_from(owed)
            .map_err(|_| SettlementError::Inconsistent("forced payout out of range"))?;
        if owed == 0 {
            return Err(SettlementError::NothingToPay);
        }
        let at = self.stamp();
        self.account_mut(id)?.forced_withdrawn = true;
        self.pay_from_deposit(at, id, owed, PayoutKind::ForcedWithdrawal);
        self.assert_value_invariant();
        Ok(owed)
    }
}
