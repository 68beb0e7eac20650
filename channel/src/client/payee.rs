//! The payee's state machine: credits as the hub reports them, and hub-signed
//! receipts, verified and kept (the best one per epoch).
//!
//! Credits are notifications: they tell the payee what arrived, but prove nothing.
//! A receipt is the hub's signature over `Poseidon(RECEIPT, hub_id, epoch, channel,
//! received)`: "as of epoch e, this channel has received at least this much". It is
//! the payee's protection: if the close of epoch e shows less, the payee claims the
//! difference from the hub's bond (docs/DESIGN.md §7). So the payee keeps, per epoch, the
//! verified receipt with the highest `received`.

use std::collections::BTreeMap;

use crate::codec::Receipt;
use crate::crypto::PublicKey;
use crate::types::{Amount, ChannelId, Epoch, HubId, receipt_message};

/// Verify a hub receipt: its signature over [`receipt_message`] under `hub_pk`, for
/// hub `hub_id`.
pub fn verify_receipt(
    receipt: &Receipt,
    hub_id: HubId,
    hub_pk: &PublicKey,
) -> Result<(), PayeeError> {
    if receipt.hub_id != hub_id {
        return Err(PayeeError::WrongHub {
            expected: hub_id,
            got: receipt.hub_id,
        });
    }
    let msg = receipt_message(hub_id, receipt.epoch, receipt.channel, receipt.received);
    hub_pk
        .verify(&msg, &receipt.sig)
        .map_err(|_| PayeeError::BadReceiptSignature)
}

/// Why the payee refused a message from the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PayeeError {
    /// The receipt's signature does not verify under the hub's key.
    #[error("receipt signature does not verify under the hub key")]
    BadReceiptSignature,
    /// The receipt names another hub.
    #[error("receipt of hub {got}, expected hub {expected}")]
    WrongHub {
        /// This payee's hub.
        expected: HubId,
        /// What the receipt named.
        got: HubId,
    },
    /// The receipt or credit names another channel.
    #[error("message for channel {got}, expected {expected}")]
    WrongChannel {
        /// This payee's channel.
        expected: ChannelId,
        /// What the message named.
        got: ChannelId,
    },
    /// A credit whose new total does not add up (`received < amount`).
    #[error("credit of {amount} with cumulative received {received}")]
    InconsistentCredit {
        /// Credited amount.
        amount: Amount,
        /// Cumulative received the hub reported.
        received: Amount,
    },
}

/// A credit as the payee applied it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credit {
    /// Amount of this credit (one batch's payments to this channel).
    pub amount: Amount,
    /// Cumulative received after it.
    pub received: Amount,
    /// Credited amount this payee missed before this one (e.g. while disconnected).
    pub missed: Amount,
}

/// The payee's state for one channel.
#[derive(Debug, Clone)]
pub struct Payee {
    hub_id: HubId,
    hub_pk: PublicKey,
    channel: ChannelId,
    received: Amount,
    receipts: BTreeMap<Epoch, Receipt>,
}

impl Payee {
    /// A payee for `channel` of hub `hub_id` whose key is `hub_pk`.
    pub fn new(hub_id: HubId, hub_pk: PublicKey, channel: ChannelId) -> Self {
        Payee {
            hub_id,
            hub_pk,
            channel,
            received: 0,
            receipts: BTreeMap::new(),
        }
    }

    /// The channel.
    pub fn channel(&self) -> ChannelId {
        self.channel
    }

    /// Cumulative received, as credited by the hub (not proven).
    pub fn received(&self) -> Amount {
        self.received
    }

    /// Start from the hub's reported cumulative received (e.g. a `subscribe` result).
    pub fn resume(&mut self, received: Amount) {
        self.received = self.received.max(received);
    }

    /// A `credit` notification: `amount` arrived, cumulative received is now
    /// `received`. Returns `None` for a stale or duplicate credit.
    pub fn handle_credit(
        &mut self,
        channel: ChannelId,
        amount: Amount,
        received: Amount,
    ) -> Result<Option<Credit>, PayeeError> {
        self.check_channel(channel)?;
        if received < amount || amount == 0 {
            return Err(PayeeError::InconsistentCredit { amount, received });
        }
        if received <= self.received {
            return Ok(None);
        }
        let missed = (received - amount).saturating_sub(self.received);
        self.received = received;
        Ok(Some(Credit {
            amount,
            received,
            missed,
        }))
    }

    /// A receipt from the hub: verify it and keep it if it is the best for its
    /// epoch. Returns whether it was kept.
    pub fn handle_receipt(&mut self, receipt: &Receipt) -> Result<bool, PayeeError> {
        self.check_channel(receipt.channel)?;
        if receipt.hub_id != self.hub_id {
            return Err(PayeeError::WrongHub {
                expected: self.hub_id,
                got: receipt.hub_id,
            });
        }
        if self
            .receipts
            .get(&receipt.epoch)
            .is_some_and(|best| best.received >= receipt.received)
        {
            return Ok(false); // verifying would prove nothing new
        }
        verify_receipt(receipt, self.hub_id, &self.hub_pk)?;
        self.receipts.insert(receipt.epoch, receipt.clone());
        Ok(true)
    }

    /// The best receipt for `epoch`.
    pub fn best_receipt(&self, epoch: Epoch) -> Option<&Receipt> {
        self.receipts.get(&epoch)
    }

    /// The best receipt of the latest epoch.
    pub fn latest_receipt(&self) -> Option<&Receipt> {
        self.receipts.values().next_back()
    }

    /// Every kept receipt, by epoch.
    pub fn receipts(&self) -> impl Iterator<Item = &Receipt> {
        self.receipts.values()
    }

    /// Forget receipts of epochs before `epoch` (once their closes are final).
    pub fn prune_before(&mut self, epoch: Epoch) {
        self.receipts = self.receipts.split_off(&epoch);
    }

    fn check_channel(&self, got: ChannelId) -> Result<(), PayeeError> {
        if got != self.channel {
            return Err(PayeeError::WrongChannel {
                expected: self.channel,
                got,
            });
        }
        Ok(())
    }
}
