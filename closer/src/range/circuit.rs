//! The range statement's circuit (rules in [`super`]'s module doc), as a single
//! `SpartanCircuit` for `spartan2::spartan_zk`.
//!
//! Everything, the public inputs included, is allocated in `synthesize`: `spartan_zk`
//! drops public inputs allocated earlier (its `prove` truncates the input assignment
//! to the constant one before `synthesize`), and with one proof per witness there is
//! nothing to cache across `prep_prove` calls.

use bellpepper_core::num::AllocatedNum;
use bellpepper_core::{ConstraintSystem, SynthesisError};
use ff::Field;
use spartan2::traits::circuit::SpartanCircuit;

use super::{NUM_INPUTS, RangeStatement, RangeWitness};
use crate::field::{Engine, F, fe_to_f};
use crate::gadgets::poseidon::{self, poseidon};
use crate::gadgets::range::range_check;
use crate::gadgets::state_path::{self, DEPTH};
use crate::gadgets::{Expr, alloc, alloc_boolean_value, alloc_input, enforce, enforce_equal, mul};
use crate::slot::AMOUNT_BITS;

/// Names of the public inputs, in order.
pub const INPUT_NAMES: [&str; NUM_INPUTS] = [
    "hub_id",
    "epoch",
    "channel",
    "counter",
    "min",
    "max",
    "root",
    "prev_root",
];

/// One leaf's values as raw scalars: `D, B, S, R, blind`.
pub type LeafScalars = [F; 5];

/// The full assignment as raw scalars (tests feed cheating values through it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeAssignment {
    /// Public inputs ([`INPUT_NAMES`]).
    pub public: [F; NUM_INPUTS],
    /// Key `(Ax, Ay)`.
    pub key: [F; 2],
    /// The leaf of the epoch.
    pub current: LeafScalars,
    /// The leaf of the epoch before (zero for a fresh channel).
    pub previous: LeafScalars,
    /// 1 if the channel has no leaf in the tree before.
    pub fresh: F,
    /// The current leaf's siblings.
    pub siblings: [[F; 3]; DEPTH],
    /// The previous leaf's siblings.
    pub prev_siblings: [[F; 3]; DEPTH],
}

impl RangeAssignment {
    /// The assignment of an honest witness for `statement` (not checked: see
    /// [`RangeWitness::check`]).
    pub fn new(statement: &RangeStatement, w: &RangeWitness) -> RangeAssignment {
        let leaf = |v: &super::LeafValues| {
            [
                fe_to_f(&v.deposit),
                F::from(v.balance),
                F::from(v.spent),
                F::from(v.received),
                fe_to_f(&v.blind),
            ]
        };
        let siblings =
            |p: &channel::state_tree::StatePath| p.siblings.map(|s| s.map(|x| fe_to_f(&x)));
        let (before, prev_path, fresh) = w.previous_values();
        RangeAssignment {
            public: statement.to_scalars(),
            key: [fe_to_f(&w.key.0), fe_to_f(&w.key.1)],
            current: leaf(&w.current.0),
            previous: leaf(&before),
            fresh: F::from(u64::from(fresh)),
            siblings: siblings(&w.current.1),
            prev_siblings: siblings(prev_path),
        }
    }
}

/// The circuit: blank (for setup) or with an assignment.
#[derive(Debug, Clone, Default)]
pub struct RangeCircuit {
    assignment: Option<RangeAssignment>,
}

impl RangeCircuit {
    /// The shape only.
    pub fn blank() -> Self {
        RangeCircuit { assignment: None }
    }

    /// With an assignment.
    pub fn new(assignment: RangeAssignment) -> Self {
        RangeCircuit {
            assignment: Some(assignment),
        }
    }

    /// Synthesize the statement into `cs`.
    pub fn synthesize_range<CS: ConstraintSystem<F>>(
        &self,
        cs: &mut CS,
    ) -> Result<(), SynthesisError> {
        let a = self.assignment.as_ref();
        let public = INPUT_NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| alloc_input(cs.namespace(|| *name), name, a.map(|a| a.public[i])))
            .collect::<Result<Vec<_>, _>>()?;
        // hub_id and epoch (public[0], public[1]) are bound by the verifier's root lookup
        // and the transcript; no leaf carries them.
        let (channel, counter, min, max) = (&public[2], &public[3], &public[4], &public[5]);
        let (root, prev_root) = (&public[6], &public[7]);

        let key = [0, 1].map(|i| {
            alloc(
                cs.namespace(|| format!("key {i}")),
                "k",
                a.map(|a| a.key[i]),
            )
        });
        let [kx, ky] = key;
        let (kx, ky) = (kx?, ky?);
        let fresh = alloc_boolean_value(cs.namespace(|| "fresh"), "fresh", a.map(|a| a.fresh))?;
        let current = alloc_leaf(cs, "current", a.map(|a| &a.current))?;
        let previous = alloc_leaf(cs, "previous", a.map(|a| &a.previous))?;
        let siblings = alloc_siblings(cs, "siblings", a.map(|a| &a.siblings))?;
        let prev_siblings = alloc_siblings(cs, "prev siblings", a.map(|a| &a.prev_siblings))?;

        // Both leaves hang at position `channel` (the digits also prove channel < 2^20).
        let digits = state_path::digits(cs.namespace(|| "position"), channel)?;
        let leaf = state_leaf(cs, "leaf", channel, [&kx, &ky], &current)?;
        let opened = state_path::root(cs.namespace(|| "path"), &leaf, &digits, &siblings)?;
        enforce_equal(cs, "the leaf opens root", &opened, root);

        let prev_hash = state_leaf(cs, "prev leaf", channel, [&kx, &ky], &previous)?;
        let gated = mul(cs.namespace(|| "fresh gate"), "g", &fresh, &prev_hash)?;
        let prev_leaf = prev_hash.sub(&gated);
        let prev_opened = state_path::root(
            cs.namespace(|| "prev path"),
            &prev_leaf,
            &digits,
            &prev_siblings,
        )?;
        enforce_equal(
            cs,
            "the previous leaf opens prev_root",
            &prev_opened,
            prev_root,
        );
        // A fresh channel starts from nothing.
        let (spent, received) = (&current[2], &current[3]);
        let (prev_spent, prev_received) = (&previous[2], &previous[3]);
        enforce(cs, "fresh: S' = 0", &fresh, prev_spent, &Expr::zero());
        enforce(cs, "fresh: R' = 0", &fresh, prev_received, &Expr::zero());

        // Δ of the chosen counter, and min ≤ Δ ≤ max with 64-bit decompositions.
        enforce(
            cs,
            "counter is boolean",
            counter,
            &counter.add_const(-F::ONE),
            &Expr::zero(),
        );
        let d_received = received.sub(prev_received);
        let d_spent = spent.sub(prev_spent);
        let chosen = mul(
            cs.namespace(|| "counter select"),
            "s",
            counter,
            &d_spent.sub(&d_received),
        )?;
        let delta = d_received.add(&chosen);
        range_check(cs.namespace(|| "delta"), &delta, AMOUNT_BITS)?;
        range_check(cs.namespace(|| "delta - min"), &delta.sub(min), AMOUNT_BITS)?;
        range_check(
            cs.namespace(|| "max - delta"),
            &max.sub(&delta),
            AMOUNT_BITS,
        )?;
        Ok(())
    }
}

fn alloc_leaf<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    name: &str,
    values: Option<&LeafScalars>,
) -> Result<[Expr; 5], SynthesisError> {
    let mut cs = cs.namespace(|| name);
    let names = ["D", "B", "S", "R", "blind"];
    let mut out = Vec::with_capacity(5);
    for (i, n) in names.iter().enumerate() {
        out.push(alloc(cs.namespace(|| *n), n, values.map(|v| v[i]))?);
    }
    out.try_into().map_err(|_| SynthesisError::Unsatisfiable)
}

fn alloc_siblings<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    name: &str,
    values: Option<&[[F; 3]; DEPTH]>,
) -> Result<Vec<[Expr; 3]>, SynthesisError> {
    let mut cs = cs.namespace(|| name);
    (0..DEPTH)
        .map(|h| {
            let mut s = |k: usize| {
                alloc(
                    cs.namespace(|| format!("{h} {k}")),
                    "s",
                    values.map(|v| v[h][k]),
                )
            };
            Ok([s(0)?, s(1)?, s(2)?])
        })
        .collect()
}

/// `Poseidon(id, Ax, Ay, D, B, Poseidon(S, R, blind))`: the state leaf
/// (`channel::incremental::state_leaf`).
fn state_leaf<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    name: &str,
    id: &Expr,
    [kx, ky]: [&Expr; 2],
    [deposit, balance, spent, received, blind]: &[Expr; 5],
) -> Result<Expr, SynthesisError> {
    let mut cs = cs.namespace(|| name);
    let commitment = poseidon(
        cs.namespace(|| "commitment"),
        &[spent.clone(), received.clone(), blind.clone()],
    )?;
    poseidon(
        cs.namespace(|| "leaf"),
        &[
            id.clone(),
            kx.clone(),
            ky.clone(),
            deposit.clone(),
            balance.clone(),
            commitment,
        ],
    )
}

/// Constraints of the circuit.
pub fn num_constraints() -> usize {
    let leaf = poseidon::num_constraints(3, 0) + poseidon::num_constraints(6, 0);
    1 // fresh is boolean
        + state_path::digits_constraints()
        + 2 * (leaf + state_path::root_constraints() + 1)
        + 1 // fresh gate
        + 2 // fresh: S' = R' = 0
        + 1 // counter is boolean
        + 1 // counter select
        + 3 * (AMOUNT_BITS + 1)
}

impl SpartanCircuit<Engine> for RangeCircuit {
    fn public_values(&self) -> Result<Vec<F>, SynthesisError> {
        self.assignment
            .as_ref()
            .map(|a| a.public.to_vec())
            .ok_or(SynthesisError::AssignmentMissing)
    }

    fn shared<CS: ConstraintSystem<F>>(
        &self,
        _: &mut CS,
    ) -> Result<Vec<AllocatedNum<F>>, SynthesisError> {
        Ok(vec![])
    }

    fn precommitted<CS: ConstraintSystem<F>>(
        &self,
        _: &mut CS,
        _: &[AllocatedNum<F>],
    ) -> Result<Vec<AllocatedNum<F>>, SynthesisError> {
        Ok(vec![])
    }

    fn num_challenges(&self) -> usize {
        0
    }

    fn synthesize<CS: ConstraintSystem<F>>(
        &self,
        cs: &mut CS,
        _: &[AllocatedNum<F>],
        _: &[AllocatedNum<F>],
        _: Option<&[F]>,
    ) -> Result<(), SynthesisError> {
        self.synthesize_range(cs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bellpepper_core::test_cs::TestConstraintSystem;

    #[test]
    fn the_blank_circuit_has_the_counted_constraints() {
        // TestConstraintSystem needs values: any (unsatisfying) assignment counts.
        let zero = RangeAssignment {
            public: [F::ZERO; NUM_INPUTS],
            key: [F::ZERO; 2],
            current: [F::ZERO; 5],
            previous: [F::ZERO; 5],
            fresh: F::ZERO,
            siblings: [[F::ZERO; 3]; DEPTH],
            prev_siblings: [[F::ZERO; 3]; DEPTH],
        };
        let mut cs = TestConstraintSystem::<F>::new();
        RangeCircuit::new(zero).synthesize_range(&mut cs).unwrap();
        assert_eq!(cs.num_constraints(), num_constraints());
        assert_eq!(cs.num_inputs(), NUM_INPUTS + 1);
    }
}
