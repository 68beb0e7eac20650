//! Pre-signing: every voucher of the run is built, signed where the policy says so,
//! and encoded into binary `pay` frames before the timed part starts.

use std::sync::atomic::{AtomicU64, Ordering};

use channel::codec::{SigForm, encode_pay_frame_with};
use channel::crypto::{PrivateKey, chain_next};
use channel::types::VoucherIn;
use channel::types::voucher_message;
use channel::{Amount, ChannelId, Fe, HubId, Seq};

use crate::LoadError;

/// One encoded binary `pay` frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The encoded frame.
    pub bytes: Vec<u8>,
    /// Seq of its last voucher (a signed checkpoint): its ack covers the frame.
    pub last_seq: Seq,
    /// Vouchers in the frame.
    pub vouchers: u32,
}

/// What one paying connection will send.
pub struct ChannelPlan {
    /// The paying channel.
    pub channel: ChannelId,
    /// Its key.
    pub key: PrivateKey,
    /// Committed head to continue from (from `hello`).
    pub start: (Seq, Amount, Fe),
    /// Payments to send.
    pub payments: u64,
}

/// Shared parameters of the pre-signing.
pub struct PlanParams<'a> {
    /// Hub id (signature domain).
    pub hub_id: HubId,
    /// Payees, paid round-robin.
    pub payees: &'a [ChannelId],
    /// Amount per payment.
    pub amount: Amount,
    /// Sign every k-th voucher.
    pub sign_every: u32,
    /// Vouchers per frame.
    pub frame_len: usize,
}

/// Build and sign the frames of one channel. `signed` counts vouchers done (progress).
pub fn frames_for(
    plan: &ChannelPlan,
    p: &PlanParams<'_>,
    signed: &AtomicU64,
) -> Result<Vec<Frame>, LoadError> {
    assert!(!p.payees.is_empty(), "at least one payee");
    assert!(p.frame_len >= 1, "frames hold at least one voucher");
    let signing = plan.key.signing_key();
    let (mut seq, mut spent, mut chain) = plan.start;
    let mut frames = Vec::with_capacity((plan.payments as usize).div_ceil(p.frame_len));
    let mut batch: Vec<VoucherIn> = Vec::with_capacity(p.frame_len);
    let offset = plan.channel as usize;
    for i in 0..plan.payments {
        seq += 1;
        spent = spent
            .checked_add(p.amount)
            .ok_or_else(|| LoadError::Config("total spent overflows u64".into()))?;
        let to = p.payees[(offset + i as usize) % p.payees.len()];
        chain = chain_next(&chain, seq, to, p.amount);
        let last_of_frame = batch.len() + 1 == p.frame_len || i + 1 == plan.payments;
        let sig = (last_of_frame || seq % p.sign_every as u64 == 0)
            .then(|| signing.sign(&voucher_message(p.hub_id, plan.channel, seq, spent, &chain)));
        batch.push(VoucherIn {
            seq,
            to,
            amount: p.amount,
            spent: None,
            chain: None,
            sig,
        });
        if last_of_frame {
            let mut bytes = Vec::new();
            encode_pay_frame_with(&batch, SigForm::Point, &mut bytes)
                .map_err(|e| LoadError::Config(format!("encoding frame: {e}")))?;
            frames.push(Frame {
                bytes,
                last_seq: seq,
                vouchers: batch.len() as u32,
            });
            signed.fetch_add(batch.len() as u64, Ordering::Relaxed);
            batch.clear();
        }
    }
    debug_assert!(batch.is_empty());
    Ok(frames)
}

/// Pre-sign all channels on all cores.
pub fn presign(
    plans: &[ChannelPlan],
    p: &PlanParams<'_>,
    signed: &AtomicU64,
) -> Result<Vec<Vec<Frame>>, LoadError> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = plans.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = plans
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|plan| frames_for(plan, p, signed))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(plans.len());
        for h in handles {
            let part = h
                .join()
                .map_err(|_| LoadError::Config("pre-signing thread panicked".into()))?;
            for frames in part {
                out.push(frames?);
            }
        }
        Ok(out)
    })
}
