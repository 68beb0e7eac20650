//! From an epoch [`Snapshot`] to the circuit's assignment, through the native statement
//! (`channel::statement::CloseWitness`), which checks the snapshot first.

use ark_ff::{BigInteger, PrimeField};
use channel::Fe;
use channel::crypto::{PackedSignature, PublicKey, Signature};
use channel::ledger::Snapshot;
use channel::statement::{CloseWitness, PublicInputs, SlotWitness, net_deposit_fe};
use channel::types::ChannelId;
use ff::Field;
use num_bigint::BigUint;

use crate::circuit::CloseAssignment;
use crate::error::CloseError;
use crate::field::{F, fe_to_f};
use crate::gadgets::ecc::NativePoint;
use crate::gadgets::eddsa::{SignatureWitness, dummy_signature};
use crate::slot::SlotAssignment;

/// The public inputs as circuit scalars, in circuit order.
pub fn public_scalars(public: &PublicInputs) -> [F; crate::slot::NUM_PUBLIC_INPUTS] {
    public.to_field_elements().map(|x| fe_to_f(&x))
}

/// A channel key as the circuit's point.
pub fn key_point(pk: &PublicKey) -> NativePoint {
    NativePoint {
        x: fe_to_f(&pk.0.x),
        y: fe_to_f(&pk.0.y),
    }
}

/// The circuit's witness of a checkpoint signature (a dummy where there is none).
pub fn signature_witness(
    channel: ChannelId,
    sig: Option<&PackedSignature>,
) -> Result<SignatureWitness, CloseError> {
    Ok(match sig {
        Some(packed) => {
            let sig =
                Signature::unpack(packed).map_err(|_| CloseError::BadSignature { channel })?;
            SignatureWitness {
                r8: NativePoint {
                    x: fe_to_f(&sig.r8.x),
                    y: fe_to_f(&sig.r8.y),
                },
                s: BigUint::from_bytes_le(&sig.s.into_bigint().to_bytes_le()),
            }
        }
        None => dummy_signature(),
    })
}

fn slot_assignment(slot: &SlotWitness) -> Result<SlotAssignment, CloseError> {
    let sig = signature_witness(slot.id, slot.sig.as_ref())?;
    Ok(SlotAssignment {
        is_real: F::ONE,
        id: F::from(u64::from(slot.id)),
        key: key_point(&slot.pk),
        deposit: fe_to_f(&net_deposit_fe(slot.deposit)),
        spent: F::from(slot.spent),
        received: F::from(slot.received),
        balance: F::from(slot.balance),
        blind: fe_to_f(&slot.blind),
        seq: F::from(slot.seq),
        chain: fe_to_f(&slot.chain),
        sig,
    })
}

/// Check `snapshot` (ids, balances, sums, signatures) and build the assignment, its
/// volume committed with blind `volume_blind` (the hub's `channel::volume::volume_blind`).
pub fn assignment(
    snapshot: &Snapshot,
    volume_blind: &Fe,
) -> Result<(PublicInputs, CloseAssignment), CloseError> {
    let witness = CloseWitness::from_snapshot(snapshot, volume_blind)?;
    witness.verify_signatures()?;
    let mut slots = witness
        .slots
        .iter()
        .map(slot_assignment)
        .collect::<Result<Vec<_>, _>>()?;
    slots.resize(witness.slot_count(), SlotAssignment::padding());
    let public = witness.public;
    Ok((
        public,
        CloseAssignment {
            public: public_scalars(&public),
            slots,
            volume_blind: fe_to_f(volume_blind),
        },
    ))
}
