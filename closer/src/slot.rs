//! One slot of the close (docs/DESIGN.md §8): the rules every channel's final state obeys,
//! synthesized a chunk of `K` slots at a time by the step circuit ([`crate::step`]).
//!
//! Per slot `i` (witness `is_real, id, Ax, Ay, D, S, R, B, blind, seq, chain, R8, S_sig`):
//!
//! 1. `is_real` is boolean; `is_real_i ≤ is_real_(i−1)` (real slots first); ids strictly
//!    increase among real slots: `is_real_i · (id_i − id_(i−1) − 1)` is a 32-bit number.
//!    Within a chunk the step checks this; across a chunk boundary the core does, from
//!    the chunk table ([`crate::table`]).
//! 2. `S, R, B` are 64-bit numbers (bit decompositions), the net deposit `D` is signed
//!    with `D + 2^64` a 65-bit number (a payee that withdrew what it was paid has
//!    `D < 0`), and `B = D + R − S`; all of them lie in `[−2^64, 2^64)`, so the field
//!    equation is an integer equation: no overdraft or wrap-around exists. A padding
//!    slot has `S + R = 0` and `D = 0`, hence `D = S = R = B = 0`.
//! 3. If `S ≠ 0`, the EdDSA-Poseidon signature `(R8, S_sig)` by `A = (Ax, Ay)` over
//!    `Poseidon(VOUCHER, hub_id, id, seq, S, chain)` is valid ([`gadgets::eddsa`]); `A`
//!    must be on the curve and not of small order in every slot.
//! 4. `deposit_leaf = is_real · Poseidon(id, Ax, Ay, D)`,
//!    `balance_leaf = is_real · Poseidon(id, Ax, Ay, B, Poseidon(S, R, blind))`.
//!
//! The native twin is `channel::statement`.

use bellpepper_core::{ConstraintSystem, SynthesisError};
use ff::Field;

use crate::field::{F, f_to_biguint, fe_to_f};
use crate::gadgets::ecc::{EdwardsPoint, NativePoint};
use crate::gadgets::eddsa::{self, SignatureWitness};
use crate::gadgets::range::{alloc_bits, range_check};
use crate::gadgets::{
    Expr, alloc, alloc_boolean_value, enforce, enforce_equal, is_nonzero, mul, poseidon,
};

/// Bits of an amount.
pub const AMOUNT_BITS: usize = 64;
/// Bits of an id gap.
pub const ID_GAP_BITS: usize = 32;
/// Number of public inputs.
pub const NUM_PUBLIC_INPUTS: usize = 6;

/// One slot's witness, as raw field elements (so tests can feed cheating values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotAssignment {
    /// 1 for a real channel, 0 for padding.
    pub is_real: F,
    /// Channel id.
    pub id: F,
    /// Channel key.
    pub key: NativePoint,
    /// Net deposit `D`.
    pub deposit: F,
    /// Spent `S`.
    pub spent: F,
    /// Received `R`.
    pub received: F,
    /// Balance `B` (honestly `D + R − S`).
    pub balance: F,
    /// Blind of the balance leaf.
    pub blind: F,
    /// Seq of the checkpoint.
    pub seq: F,
    /// Chain at `seq`.
    pub chain: F,
    /// The checkpoint signature (a dummy where `S = 0`).
    pub sig: SignatureWitness,
}

impl SlotAssignment {
    /// A padding slot: no value, dummy key and signature.
    pub fn padding() -> Self {
        SlotAssignment {
            is_real: F::ZERO,
            id: F::ZERO,
            key: NativePoint::base8(),
            deposit: F::ZERO,
            spent: F::ZERO,
            received: F::ZERO,
            balance: F::ZERO,
            blind: F::ZERO,
            seq: F::ZERO,
            chain: F::ZERO,
            sig: eddsa::dummy_signature(),
        }
    }
}

/// What a slot contributes to its chunk.
pub struct SlotOutput {
    /// `is_real` of the slot.
    pub is_real: Expr,
    /// `id` of the slot.
    pub id: Expr,
    /// `spent` of the slot.
    pub spent: Expr,
    /// `received` of the slot.
    pub received: Expr,
    /// `deposit_leaf` of the slot.
    pub deposit_leaf: Expr,
    /// `balance_leaf` of the slot.
    pub balance_leaf: Expr,
}

pub(crate) fn amount<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    name: &str,
    value: Option<F>,
) -> Result<Expr, SynthesisError> {
    let value = value.map(|v| f_to_biguint(&v));
    Ok(alloc_bits(cs.namespace(|| name), value.as_ref(), AMOUNT_BITS)?.packed)
}

/// A signed amount in `[−2^64, 2^64)`: `value + 2^64` is allocated as a 65-bit number.
/// A value outside the range (e.g. `p − 2^65`) has no 65-bit decomposition.
pub(crate) fn signed_amount<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    name: &str,
    value: Option<F>,
) -> Result<Expr, SynthesisError> {
    let offset = F::from(u64::MAX) + F::ONE; // 2^64
    let shifted = value.map(|v| f_to_biguint(&(v + offset)));
    let bits = alloc_bits(cs.namespace(|| name), shifted.as_ref(), AMOUNT_BITS + 1)?;
    Ok(bits.packed.add_const(-offset))
}

/// Synthesize one slot; `previous` is the `(is_real, id)` of the slot before it in the
/// same chunk (`None` for a chunk's first slot).
pub fn synthesize_slot<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    hub_id: &Expr,
    slot: Option<&SlotAssignment>,
    previous: Option<&(Expr, Expr)>,
) -> Result<SlotOutput, SynthesisError> {
    let is_real = alloc_boolean_value(&mut *cs, "is_real", slot.map(|s| s.is_real))?;
    let id = alloc(&mut *cs, "id", slot.map(|s| s.id))?;
    let key = EdwardsPoint::alloc(cs.namespace(|| "A"), slot.map(|s| s.key))?;
    let amounts = balance_rule(cs, &is_real, slot)?;

    // Rule 1: real slots first, ids strictly increasing among them.
    if let Some(previous) = previous {
        id_order(cs, &is_real, &id, previous)?;
    }

    // Rule 3: the checkpoint signature, where S ≠ 0.
    let blind = alloc(&mut *cs, "blind", slot.map(|s| s.blind))?;
    checkpoint_signature(
        cs,
        hub_id,
        &id,
        &key,
        &amounts.spent,
        slot.map(|s| (s.seq, s.chain, &s.sig)),
    )?;

    let (deposit_leaf, balance_leaf) = gated_leaves(cs, &is_real, &id, key, &amounts, blind)?;
    Ok(SlotOutput {
        is_real,
        id,
        spent: amounts.spent,
        received: amounts.received,
        deposit_leaf,
        balance_leaf,
    })
}

/// A slot's amounts, range-checked.
struct Amounts {
    deposit: Expr,
    spent: Expr,
    received: Expr,
    balance: Expr,
}

/// Rule 2: S, R, B in [0, 2^64), D in [−2^64, 2^64), B = D + R − S; and padding
/// carries no value.
fn balance_rule<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    is_real: &Expr,
    slot: Option<&SlotAssignment>,
) -> Result<Amounts, SynthesisError> {
    let deposit = signed_amount(cs, "D", slot.map(|s| s.deposit))?;
    let spent = amount(cs, "S", slot.map(|s| s.spent))?;
    let received = amount(cs, "R", slot.map(|s| s.received))?;
    let balance = amount(cs, "B", slot.map(|s| s.balance))?;
    enforce_equal(
        cs,
        "B = D + R - S",
        &balance,
        &deposit.add(&received).sub(&spent),
    );
    // Padding carries no value: (1 − is_real)·(S + R) = 0 (both are non-negative, so
    // each is 0) and (1 − is_real)·D = 0 (D may be negative: it needs its own check).
    let padding = Expr::from(1).sub(is_real);
    enforce(
        cs,
        "padding has no payments",
        &padding,
        &spent.add(&received),
        &Expr::zero(),
    );
    enforce(
        cs,
        "padding has no deposit",
        &padding,
        &deposit,
        &Expr::zero(),
    );
    Ok(Amounts {
        deposit,
        spent,
        received,
        balance,
    })
}

/// Rule 4: the slot's deposit leaf `Poseidon(id, Ax, Ay, D)` and balance leaf
/// `Poseidon(id, Ax, Ay, B, Poseidon(S, R, blind))`, each times `is_real` (padding
/// leaves are 0).
fn gated_leaves<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    is_real: &Expr,
    id: &Expr,
    key: EdwardsPoint,
    amounts: &Amounts,
    blind: Expr,
) -> Result<(Expr, Expr), SynthesisError> {
    let deposit_leaf = poseidon::poseidon(
        cs.namespace(|| "deposit leaf"),
        &[
            id.clone(),
            key.x.clone(),
            key.y.clone(),
            amounts.deposit.clone(),
        ],
    )?;
    let commitment = poseidon::poseidon(
        cs.namespace(|| "balance commitment"),
        &[amounts.spent.clone(), amounts.received.clone(), blind],
    )?;
    let balance_leaf = poseidon::poseidon(
        cs.namespace(|| "balance leaf"),
        &[
            id.clone(),
            key.x,
            key.y,
            amounts.balance.clone(),
            commitment,
        ],
    )?;
    let deposit_leaf = mul(
        cs.namespace(|| "gated deposit leaf"),
        "leaf",
        is_real,
        &deposit_leaf,
    )?;
    let balance_leaf = mul(
        cs.namespace(|| "gated balance leaf"),
        "leaf",
        is_real,
        &balance_leaf,
    )?;
    Ok((deposit_leaf, balance_leaf))
}

/// Rule 1 between a slot and the one before it in its chunk: real slots first
/// (`is_real · (1 − prev_real) = 0`) and ids strictly increasing among real slots
/// (`is_real · (id − prev_id − 1)` a 32-bit number). [`ID_ORDER_CONSTRAINTS`].
pub(crate) fn id_order<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    is_real: &Expr,
    id: &Expr,
    (prev_real, prev_id): &(Expr, Expr),
) -> Result<(), SynthesisError> {
    enforce(
        cs,
        "real slots first",
        is_real,
        &Expr::from(1).sub(prev_real),
        &Expr::zero(),
    );
    let gap = mul(
        cs.namespace(|| "id gap"),
        "gap",
        is_real,
        &id.sub(prev_id).add_const(-F::ONE),
    )?;
    range_check(cs.namespace(|| "id gap range"), &gap, ID_GAP_BITS)?;
    Ok(())
}

/// Rule 3: if `spent ≠ 0`, the EdDSA-Poseidon signature by `key` over
/// `Poseidon(VOUCHER, hub_id, id, seq, spent, chain)` is valid; `key` is on the curve
/// and not of small order in any case. `witness` is `(seq, chain, signature)`.
pub(crate) fn checkpoint_signature<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    hub_id: &Expr,
    id: &Expr,
    key: &EdwardsPoint,
    spent: &Expr,
    witness: Option<(F, F, &SignatureWitness)>,
) -> Result<(), SynthesisError> {
    let seq = alloc(&mut *cs, "seq", witness.map(|w| w.0))?;
    let chain = alloc(&mut *cs, "chain", witness.map(|w| w.1))?;
    let voucher = Expr::constant(fe_to_f(&channel::types::TAG_VOUCHER));
    let msg = poseidon::poseidon(
        cs.namespace(|| "voucher message"),
        &[
            voucher,
            hub_id.clone(),
            id.clone(),
            seq,
            spent.clone(),
            chain,
        ],
    )?;
    let signed = is_nonzero(cs.namespace(|| "S != 0"), spent)?;
    eddsa::verify(
        cs.namespace(|| "signature"),
        &signed,
        key,
        &msg,
        witness.map(|w| w.2),
    )
}

/// Constraints of [`checkpoint_signature`].
pub(crate) fn checkpoint_signature_constraints() -> usize {
    crate::gadgets::poseidon::num_constraints(6, 1) + 2 + eddsa::num_constraints()
}

/// Constraints per slot, excluding the two Merkle trees (the first slot has no
/// predecessor and so no ordering constraints: it costs [`ID_ORDER_CONSTRAINTS`] less).
pub fn slot_constraints() -> usize {
    use crate::gadgets::poseidon::num_constraints as p;
    1 // is_real
        + 4 * AMOUNT_BITS + 1 + 3 // amounts (D has 65 bits), B equation, padding
        + ID_ORDER_CONSTRAINTS
        + p(6, 1) // voucher message (the tag is a constant)
        + 2 // S != 0
        + eddsa::num_constraints()
        + p(4, 0) + p(3, 0) + p(5, 0) + 2 // leaves
}

/// Constraints of the ordering rules between two consecutive slots.
pub const ID_ORDER_CONSTRAINTS: usize = 1 + 1 + ID_GAP_BITS + 1;
