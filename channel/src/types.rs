//! Protocol identifiers, vouchers and the messages that signatures cover (docs/DESIGN.md §2, §4).

use crate::crypto::{Signature, poseidon};
use crate::field::{Fe, domain_tag};
use once_cell::sync::Lazy;
use serde::{Deserialize, Serialize};

/// Channel identifier, assigned by the settlement layer at deposit in increasing order.
pub type ChannelId = u32;
/// An amount in base units (e.g. micro-dollars or millisatoshi).
pub type Amount = u64;
/// A signed net deposit `D` (deposits − withdrawals) in base units. Negative for a
/// channel that withdrew more than it deposited (a payee cashing out what it was
/// paid); always `|D| < 2^64` (the settlement layer caps Σ D below 2^64, and a
/// withdrawal never exceeds a balance `B = D + R − S ≥ 0` with `R < 2^64`).
pub type NetAmount = i128;
/// Voucher sequence number: cumulative for the life of a channel, the first voucher is 1.
pub type Seq = u64;
/// Identifier of a hub, registered on the settlement layer.
pub type HubId = u64;
/// Epoch number; epoch `e` is closed by one proof.
pub type Epoch = u64;

/// Domain tag `"zkhub/voucher/v1"`.
pub static TAG_VOUCHER: Lazy<Fe> = Lazy::new(|| domain_tag("zkhub/voucher/v1"));
/// Domain tag `"zkhub/receipt/v1"`.
pub static TAG_RECEIPT: Lazy<Fe> = Lazy::new(|| domain_tag("zkhub/receipt/v1"));
/// Domain tag `"zkhub/hello/v1"`.
pub static TAG_HELLO: Lazy<Fe> = Lazy::new(|| domain_tag("zkhub/hello/v1"));

/// `M = Poseidon(VOUCHER, hub_id, channel, seq, spent, chain)`: what a payer signs.
pub fn voucher_message(
    hub_id: HubId,
    channel: ChannelId,
    seq: Seq,
    spent: Amount,
    chain: &Fe,
) -> Fe {
    VoucherMessage {
        hub_id,
        channel,
        seq,
        spent,
        chain: *chain,
    }
    .hash()
}

/// The fields of a [`voucher_message`] before hashing. Admission hands a checkpoint's
/// message on in this form so that the verifier can hash many at once
/// ([`voucher_messages`]: eight per pass on CPUs with AVX-512 IFMA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoucherMessage {
    /// Hub id (domain).
    pub hub_id: HubId,
    /// Paying channel.
    pub channel: ChannelId,
    /// Voucher seq.
    pub seq: Seq,
    /// Cumulative spent after the voucher.
    pub spent: Amount,
    /// Payment chain after the voucher.
    pub chain: Fe,
}

impl VoucherMessage {
    /// The Poseidon inputs, in order.
    pub fn inputs(&self) -> [Fe; 6] {
        [
            *TAG_VOUCHER,
            Fe::from(self.hub_id),
            Fe::from(self.channel),
            Fe::from(self.seq),
            Fe::from(self.spent),
            self.chain,
        ]
    }

    /// `M`, what the payer signed.
    pub fn hash(&self) -> Fe {
        poseidon(&self.inputs())
    }
}

/// `out[i] = msgs[i].hash()` for every `i`, many at once (see
/// [`crate::crypto::poseidon_many`]).
///
/// # Panics
/// If `out` is not as long as `msgs`.
pub fn voucher_messages<'a>(msgs: impl IntoIterator<Item = &'a VoucherMessage>, out: &mut [Fe]) {
    let inputs: Vec<[Fe; 6]> = msgs.into_iter().map(VoucherMessage::inputs).collect();
    crate::crypto::poseidon_many(&inputs, out);
}

/// `Poseidon(RECEIPT, hub_id, epoch, channel, received)`: what the hub signs for a payee.
pub fn receipt_message(hub_id: HubId, epoch: Epoch, channel: ChannelId, received: Amount) -> Fe {
    poseidon(&[
        *TAG_RECEIPT,
        Fe::from(hub_id),
        Fe::from(epoch),
        Fe::from(channel),
        Fe::from(received),
    ])
}

/// `Poseidon(HELLO, hub_id, nonce, channel)`: what a client signs to bind a session.
pub fn hello_message(hub_id: HubId, nonce: &Fe, channel: ChannelId) -> Fe {
    poseidon(&[*TAG_HELLO, Fe::from(hub_id), *nonce, Fe::from(channel)])
}

/// A payment voucher in full form (docs/DESIGN.md §4).
///
/// `seq = prev.seq + 1`, `spent = prev.spent + amount`, `amount > 0`, `to != channel`,
/// `chain = chain_next(prev.chain, seq, to, amount)`. With `sig` it is a *checkpoint*
/// that covers itself and every pending voucher before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voucher {
    /// Paying channel.
    pub channel: ChannelId,
    /// Sequence number.
    pub seq: Seq,
    /// Cumulative amount spent by the channel including this voucher.
    pub spent: Amount,
    /// Receiving channel.
    pub to: ChannelId,
    /// Amount of this payment (> 0).
    pub amount: Amount,
    /// Payment chain after this voucher.
    #[serde(with = "crate::field::dec")]
    pub chain: Fe,
    /// Signature over [`voucher_message`]; `None` for a pending voucher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<Signature>,
}

impl Voucher {
    /// The message a checkpoint signature covers.
    pub fn message(&self, hub_id: HubId) -> Fe {
        voucher_message(hub_id, self.channel, self.seq, self.spent, &self.chain)
    }

    /// The voucher as a hub receives it, with every field present.
    pub fn to_incoming(&self) -> VoucherIn {
        VoucherIn {
            seq: self.seq,
            to: self.to,
            amount: self.amount,
            spent: Some(self.spent),
            chain: Some(self.chain),
            sig: self.sig,
        }
    }
}

/// A voucher as it arrives on a session bound to one channel. The binary form may
/// leave out `spent` and `chain`, which the hub derives; a signature still covers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherIn {
    /// Sequence number.
    pub seq: Seq,
    /// Receiving channel.
    pub to: ChannelId,
    /// Amount of this payment.
    pub amount: Amount,
    /// Cumulative spent, if the sender included it (checked when present).
    pub spent: Option<Amount>,
    /// Payment chain, if the sender included it (checked when present).
    pub chain: Option<Fe>,
    /// Checkpoint signature.
    pub sig: Option<Signature>,
}
