//! From the native incremental statement (`channel::incremental`, which checks the
//! snapshot against the closed state first) to the circuit's assignment.

use channel::incremental::{ClosedChannel, IncrementalInputs, IncrementalWitness, TouchedSlot};
use channel::statement::{net_deposit_fe, slot_count};
use ff::Field;

use super::slot::{LeafValues, TouchedAssignment};
use super::{NUM_INPUTS, TransitionAssignment};
use crate::error::CloseError;
use crate::field::{F, fe_to_f};
use crate::gadgets::state_path::DEPTH;
use crate::witness::{key_point, signature_witness};

/// The public inputs as circuit scalars, in circuit order.
pub fn public_scalars(inputs: &IncrementalInputs) -> [F; NUM_INPUTS] {
    inputs.to_field_elements().map(|x| fe_to_f(&x))
}

fn leaf_values(c: &ClosedChannel) -> LeafValues {
    LeafValues {
        deposit: fe_to_f(&net_deposit_fe(c.net_deposit)),
        spent: F::from(c.spent),
        received: F::from(c.received),
        balance: F::from(c.balance),
        blind: fe_to_f(&c.blind),
    }
}

fn touched(slot: &TouchedSlot) -> Result<TouchedAssignment, CloseError> {
    let mut siblings = [[F::ZERO; 3]; DEPTH];
    for (level, native) in siblings.iter_mut().zip(&slot.path.siblings) {
        *level = native.map(|x| fe_to_f(&x));
    }
    Ok(TouchedAssignment {
        is_real: F::ONE,
        id: F::from(u64::from(slot.id)),
        key: key_point(&slot.pk),
        is_new: F::from(u64::from(slot.old.is_none())),
        deposit_changed: F::from(u64::from(slot.deposit_changed)),
        old: slot.old.as_ref().map_or_else(LeafValues::zero, leaf_values),
        new: leaf_values(&slot.new),
        seq: F::from(slot.seq),
        chain: fe_to_f(&slot.chain),
        sig: signature_witness(slot.id, slot.sig.as_ref())?,
        siblings,
    })
}

/// The circuit's assignment for a checked `witness`: its touched slots in order, then
/// padding up to `slot_count(n)`.
pub fn assignment(witness: &IncrementalWitness) -> Result<TransitionAssignment, CloseError> {
    let mut slots = witness
        .slots
        .iter()
        .map(touched)
        .collect::<Result<Vec<_>, _>>()?;
    slots.resize(
        slot_count(slots.len()),
        TouchedAssignment::padding([[F::ZERO; 3]; DEPTH]),
    );
    Ok(TransitionAssignment {
        public: public_scalars(&witness.inputs),
        slots,
        volume_blind: fe_to_f(&witness.volume_blind),
    })
}
