//! One slot of the incremental close: one *touched* channel's update of the state tree
//! (docs/DESIGN.md §8.2). The native twin is `channel::incremental`.
//!
//! Per slot (witness: `is_real, id, A, is_new, deposit_changed`, the old
//! `D, S, R, B, blind`, the new `D, S, R, B, blind`, `seq, chain, signature`, and the
//! path's siblings), given the running state root `root_in` and the running deposit
//! hash `acc_in`:
//!
//! 1. `is_real` is boolean, real slots first, ids strictly increasing (as the full
//!    close, [`crate::slot`]); a padding slot carries nothing (`D = S = R = 0`, old
//!    `S = R = 0`, no deposit change).
//! 2. New `S, R, B` are 64-bit, new `D` signed 65-bit, `B = D + R − S`.
//! 3. Monotone counters: `ΔS = S − S_old` and `ΔR = R − R_old` are 64-bit numbers (a
//!    hub cannot lower what a payee received or un-spend a payer). The slot's `net` is
//!    `ΔR − ΔS`; the core requires `Σ net = 0`.
//! 4. If `S ≠ 0`, the checkpoint signature over `Poseidon(VOUCHER, hub_id, id, seq, S,
//!    chain)` is valid.
//! 5. `is_new` is boolean; a new channel starts from nothing (`S_old = R_old = 0`) and
//!    its deposit changed. Unless `deposit_changed`, `D = D_old`. If it changed,
//!    `acc_out = Poseidon(acc_in, Poseidon(id, Ax, Ay, D))`, else `acc_out = acc_in`
//!    (the core compares the final `acc` with the settlement layer's `deposits_hash`,
//!    so every changed deposit is applied, with its key, and no other).
//! 6. `old_leaf = (1 − is_new) · Poseidon(id, Ax, Ay, D_old, B_old, Poseidon(S_old,
//!    R_old, blind_old))`, `new_leaf` likewise from the new values; both hang at
//!    position `id` (its base-4 digits, which also prove `id < 2^20`) with the same
//!    siblings: a real slot needs `root(old_leaf) = root_in` and gives
//!    `root_out = root(new_leaf)`; a padding slot passes `root_in` on.

use bellpepper_core::{ConstraintSystem, SynthesisError};
use ff::Field;

use crate::field::F;
use crate::gadgets::ecc::{EdwardsPoint, NativePoint};
use crate::gadgets::eddsa::{self, SignatureWitness};
use crate::gadgets::range::range_check;
use crate::gadgets::state_path::{self, DEPTH};
use crate::gadgets::{Expr, alloc, alloc_boolean_value, enforce, enforce_equal, mul, poseidon};
use crate::slot::{AMOUNT_BITS, amount, checkpoint_signature, id_order, signed_amount};

/// A channel's values in one state leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafValues {
    /// Net deposit `D`.
    pub deposit: F,
    /// Spent `S`.
    pub spent: F,
    /// Received `R`.
    pub received: F,
    /// Balance `B`.
    pub balance: F,
    /// Blind of the balance commitment.
    pub blind: F,
}

impl LeafValues {
    /// All zero (a new channel's "old" values, a padding slot's values).
    pub fn zero() -> Self {
        LeafValues {
            deposit: F::ZERO,
            spent: F::ZERO,
            received: F::ZERO,
            balance: F::ZERO,
            blind: F::ZERO,
        }
    }
}

/// One touched slot's witness, as raw field elements (tests feed cheating values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TouchedAssignment {
    /// 1 for a touched channel, 0 for padding.
    pub is_real: F,
    /// Channel id = position in the state tree.
    pub id: F,
    /// Channel key.
    pub key: NativePoint,
    /// 1 if the channel had no leaf before this epoch.
    pub is_new: F,
    /// 1 if its net deposit changed since the previous close (or it is new).
    pub deposit_changed: F,
    /// The leaf's values before (zero for a new channel).
    pub old: LeafValues,
    /// The leaf's values after.
    pub new: LeafValues,
    /// Seq of the checkpoint covering `new.spent`.
    pub seq: F,
    /// Chain at `seq`.
    pub chain: F,
    /// The checkpoint signature (a dummy where `S = 0`).
    pub sig: SignatureWitness,
    /// The siblings of position `id` in the tree as this slot finds it.
    pub siblings: [[F; 3]; DEPTH],
}

impl TouchedAssignment {
    /// A padding slot: position 0 (never a channel), nothing in it.
    pub fn padding(siblings: [[F; 3]; DEPTH]) -> Self {
        TouchedAssignment {
            is_real: F::ZERO,
            id: F::ZERO,
            key: NativePoint::base8(),
            is_new: F::ZERO,
            deposit_changed: F::ZERO,
            old: LeafValues::zero(),
            new: LeafValues::zero(),
            seq: F::ZERO,
            chain: F::ZERO,
            sig: eddsa::dummy_signature(),
            siblings,
        }
    }
}

/// What a slot passes on to the next one and to its chunk's row.
pub struct TouchedOutput {
    /// `is_real`.
    pub is_real: Expr,
    /// `id`.
    pub id: Expr,
    /// `ΔR − ΔS`.
    pub net: Expr,
    /// `ΔS = S − S_old` (a 64-bit number): the slot's share of the epoch's volume.
    pub spent_delta: Expr,
    /// The state root after this slot.
    pub root_out: Expr,
    /// The deposit hash after this slot.
    pub acc_out: Expr,
}

/// The running values a slot starts from.
pub struct Running<'a> {
    /// `(is_real, id)` of the slot before in the chunk (`None` for the first).
    pub previous: Option<&'a (Expr, Expr)>,
    /// The state root before this slot.
    pub root_in: &'a Expr,
    /// The deposit hash before this slot.
    pub acc_in: &'a Expr,
}

fn leaf<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    name: &str,
    id: &Expr,
    key: &EdwardsPoint,
    [deposit, spent, received, balance, blind]: [&Expr; 5],
) -> Result<Expr, SynthesisError> {
    let mut cs = cs.namespace(|| name);
    let commitment = poseidon::poseidon(
        cs.namespace(|| "commitment"),
        &[spent.clone(), received.clone(), blind.clone()],
    )?;
    poseidon::poseidon(
        cs.namespace(|| "leaf"),
        &[
            id.clone(),
            key.x.clone(),
            key.y.clone(),
            deposit.clone(),
            balance.clone(),
            commitment,
        ],
    )
}

/// Synthesize one touched slot (see the module doc for the rules).
pub fn synthesize_touched<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    hub_id: &Expr,
    slot: Option<&TouchedAssignment>,
    running: Running<'_>,
) -> Result<TouchedOutput, SynthesisError> {
    let t = alloc_touched(cs, slot)?;
    padding_and_order(cs, &t, running.previous)?;

    // Rule 3: counters only grow.
    let delta_spent = t.new.spent.sub(&t.old.spent);
    let delta_received = t.new.received.sub(&t.old.received);
    range_check(cs.namespace(|| "spent grows"), &delta_spent, AMOUNT_BITS)?;
    range_check(
        cs.namespace(|| "received grows"),
        &delta_received,
        AMOUNT_BITS,
    )?;

    // Rule 4: the checkpoint signature.
    checkpoint_signature(
        cs,
        hub_id,
        &t.id,
        &t.key,
        &t.new.spent,
        slot.map(|s| (s.seq, s.chain, &s.sig)),
    )?;

    let acc_out = deposit_rule(cs, &t, running.acc_in)?;
    let root_out = path_rule(cs, &t, slot, running.root_in)?;
    Ok(TouchedOutput {
        is_real: t.is_real,
        id: t.id,
        net: delta_received.sub(&delta_spent),
        spent_delta: delta_spent,
        root_out,
        acc_out,
    })
}

/// A leaf's values as circuit expressions.
struct LeafExprs {
    deposit: Expr,
    spent: Expr,
    received: Expr,
    balance: Expr,
    blind: Expr,
}

impl LeafExprs {
    fn parts(&self) -> [&Expr; 5] {
        [
            &self.deposit,
            &self.spent,
            &self.received,
            &self.balance,
            &self.blind,
        ]
    }
}

/// A touched slot's allocated variables.
struct Touched {
    is_real: Expr,
    id: Expr,
    key: EdwardsPoint,
    is_new: Expr,
    changed: Expr,
    new: LeafExprs,
    old: LeafExprs,
}

/// Allocate a touched slot: flags, id and key; the new values under rule 2 (S, R, B in
/// [0, 2^64), D in [−2^64, 2^64), B = D + R − S); the old values, bound by the old leaf
/// (proved by an earlier close) or zero.
fn alloc_touched<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    slot: Option<&TouchedAssignment>,
) -> Result<Touched, SynthesisError> {
    let is_real = alloc_boolean_value(&mut *cs, "is_real", slot.map(|s| s.is_real))?;
    let id = alloc(&mut *cs, "id", slot.map(|s| s.id))?;
    let key = EdwardsPoint::alloc(cs.namespace(|| "A"), slot.map(|s| s.key))?;
    let is_new = alloc_boolean_value(&mut *cs, "is_new", slot.map(|s| s.is_new))?;
    let changed =
        alloc_boolean_value(&mut *cs, "deposit_changed", slot.map(|s| s.deposit_changed))?;

    let deposit = signed_amount(cs, "D", slot.map(|s| s.new.deposit))?;
    let spent = amount(cs, "S", slot.map(|s| s.new.spent))?;
    let received = amount(cs, "R", slot.map(|s| s.new.received))?;
    let balance = amount(cs, "B", slot.map(|s| s.new.balance))?;
    enforce_equal(
        cs,
        "B = D + R - S",
        &balance,
        &deposit.add(&received).sub(&spent),
    );
    let blind = alloc(&mut *cs, "blind", slot.map(|s| s.new.blind))?;
    let new = LeafExprs {
        deposit,
        spent,
        received,
        balance,
        blind,
    };

    let old = |f: fn(&LeafValues) -> F| slot.map(|s| f(&s.old));
    let old = LeafExprs {
        deposit: alloc(&mut *cs, "old D", old(|v| v.deposit))?,
        spent: alloc(&mut *cs, "old S", old(|v| v.spent))?,
        received: alloc(&mut *cs, "old R", old(|v| v.received))?,
        balance: alloc(&mut *cs, "old B", old(|v| v.balance))?,
        blind: alloc(&mut *cs, "old blind", old(|v| v.blind))?,
    };
    Ok(Touched {
        is_real,
        id,
        key,
        is_new,
        changed,
        new,
        old,
    })
}

/// Rule 1: padding carries nothing, and the order of ids.
fn padding_and_order<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    t: &Touched,
    previous: Option<&(Expr, Expr)>,
) -> Result<(), SynthesisError> {
    let padding = Expr::from(1).sub(&t.is_real);
    for (name, value) in [
        ("padding has no payments", t.new.spent.add(&t.new.received)),
        ("padding has no deposit", t.new.deposit.clone()),
        ("padding has no old spent", t.old.spent.clone()),
        ("padding has no old received", t.old.received.clone()),
    ] {
        enforce(cs, name, &padding, &value, &Expr::zero());
    }
    if let Some(previous) = previous {
        id_order(cs, &t.is_real, &t.id, previous)?;
    }
    Ok(())
}

/// Rule 5: new channels and deposit changes; returns the deposit hash after this slot
/// (`acc_in` unless the deposit changed).
fn deposit_rule<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    t: &Touched,
    acc_in: &Expr,
) -> Result<Expr, SynthesisError> {
    let unchanged = Expr::from(1).sub(&t.changed);
    enforce(
        cs,
        "a new channel has spent nothing",
        &t.is_new,
        &t.old.spent,
        &Expr::zero(),
    );
    enforce(
        cs,
        "a new channel has received nothing",
        &t.is_new,
        &t.old.received,
        &Expr::zero(),
    );
    enforce(
        cs,
        "a new channel's deposit changed",
        &t.is_new,
        &unchanged,
        &Expr::zero(),
    );
    enforce(
        cs,
        "padding changes no deposit",
        &Expr::from(1).sub(&t.is_real),
        &t.changed,
        &Expr::zero(),
    );
    enforce(
        cs,
        "an unchanged deposit stays",
        &unchanged,
        &t.new.deposit.sub(&t.old.deposit),
        &Expr::zero(),
    );
    let deposit_leaf = poseidon::poseidon(
        cs.namespace(|| "deposit leaf"),
        &[
            t.id.clone(),
            t.key.x.clone(),
            t.key.y.clone(),
            t.new.deposit.clone(),
        ],
    )?;
    let acc_next = poseidon::poseidon(
        cs.namespace(|| "deposit hash step"),
        &[acc_in.clone(), deposit_leaf],
    )?;
    Ok(acc_in.add(&mul(
        cs.namespace(|| "deposit hash gate"),
        "step",
        &t.changed,
        &acc_next.sub(acc_in),
    )?))
}

/// Rule 6: the old leaf (0 for a new channel) opens the running root and the new leaf
/// under the same siblings gives the next; returns the root after this slot
/// (`root_in` for padding).
fn path_rule<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    t: &Touched,
    slot: Option<&TouchedAssignment>,
    root_in: &Expr,
) -> Result<Expr, SynthesisError> {
    let old_leaf = leaf(cs, "old leaf", &t.id, &t.key, t.old.parts())?;
    let old_leaf = mul(
        cs.namespace(|| "old leaf gate"),
        "leaf",
        &Expr::from(1).sub(&t.is_new),
        &old_leaf,
    )?;
    let new_leaf = leaf(cs, "new leaf", &t.id, &t.key, t.new.parts())?;
    let siblings = (0..DEPTH)
        .map(|h| {
            let mut sibling = |k: usize| {
                alloc(
                    &mut *cs,
                    &format!("sibling {h}.{k}"),
                    slot.map(|s| s.siblings[h][k]),
                )
            };
            Ok([sibling(0)?, sibling(1)?, sibling(2)?])
        })
        .collect::<Result<Vec<_>, SynthesisError>>()?;
    let digits = state_path::digits(cs.namespace(|| "position"), &t.id)?;
    let old_root = state_path::root(cs.namespace(|| "old path"), &old_leaf, &digits, &siblings)?;
    let new_root = state_path::root(cs.namespace(|| "new path"), &new_leaf, &digits, &siblings)?;
    enforce(
        cs,
        "old leaf is in the running root",
        &t.is_real,
        &old_root.sub(root_in),
        &Expr::zero(),
    );
    Ok(root_in.add(&mul(
        cs.namespace(|| "root gate"),
        "update",
        &t.is_real,
        &new_root.sub(root_in),
    )?))
}

/// Constraints of one touched slot (the first of a chunk has no ordering constraints:
/// [`crate::slot::ID_ORDER_CONSTRAINTS`] fewer).
pub fn touched_constraints() -> usize {
    use crate::gadgets::poseidon::num_constraints as p;
    3 // is_real, is_new, deposit_changed
        + 4 * AMOUNT_BITS + 1 + 1 // new amounts (D has 65 bits), B equation
        + 4 // padding
        + crate::slot::ID_ORDER_CONSTRAINTS
        + 2 * (AMOUNT_BITS + 1) // counters grow
        + crate::slot::checkpoint_signature_constraints()
        + 5 // new channel, deposit rules
        + p(4, 0) + p(2, 0) + 1 // deposit hash
        + 2 * (p(3, 0) + p(6, 0)) + 1 // leaves, gate
        + state_path::digits_constraints()
        + 2 * state_path::root_constraints()
        + 2 // root check, gate
}
