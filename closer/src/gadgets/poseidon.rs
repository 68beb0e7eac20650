//! Poseidon (circomlib parameters) as an R1CS gadget; twin of
//! [`channel::crypto::poseidon`].
//!
//! The round structure is the reference one of `channel::crypto::poseidon` (capacity
//! element first, `t = arity + 1`, 8 full rounds around `R_P` partial rounds). In R1CS
//! the round constants and the MDS mix are linear and cost nothing; each `x^5` S-box
//! costs 3 constraints (`x²`, `x⁴`, `x⁵`). An S-box whose input is a constant (the zero
//! capacity element and constant inputs such as domain tags in the first round) is
//! evaluated natively for free, so a hash of `k` variable inputs costs
//! `3 · (R_F · t + R_P) − 3 · (t − k)` constraints.

use std::sync::OnceLock;

use bellpepper_core::{ConstraintSystem, SynthesisError};
use channel::crypto::poseidon::{MAX_ARITY, params};

use super::{Expr, mul};
use crate::field::{F, fe_to_f};

/// Poseidon parameters converted to the circuit field.
struct Params {
    t: usize,
    full_rounds: usize,
    partial_rounds: usize,
    round_constants: Vec<F>,
    mds: Vec<Vec<F>>,
}

fn circuit_params(arity: usize) -> &'static Params {
    static TABLES: [OnceLock<Params>; MAX_ARITY] = [const { OnceLock::new() }; MAX_ARITY];
    assert!(
        (1..=MAX_ARITY).contains(&arity),
        "poseidon arity {arity} outside 1..=16"
    );
    TABLES[arity - 1].get_or_init(|| {
        let p = params(arity);
        Params {
            t: p.t,
            full_rounds: p.full_rounds,
            partial_rounds: p.partial_rounds,
            round_constants: p.round_constants.iter().map(fe_to_f).collect(),
            mds: p
                .mds
                .iter()
                .map(|row| row.iter().map(fe_to_f).collect())
                .collect(),
        }
    })
}

/// Constraints of a Poseidon hash of `arity` inputs of which `constant_inputs` are
/// constants (the capacity element is always constant).
pub fn num_constraints(arity: usize, constant_inputs: usize) -> usize {
    let p = circuit_params(arity);
    3 * (p.full_rounds * p.t + p.partial_rounds) - 3 * (1 + constant_inputs)
}

/// `x^5`: 3 constraints, none for a constant.
fn sbox<CS: ConstraintSystem<F>>(mut cs: CS, x: &Expr) -> Result<Expr, SynthesisError> {
    if let Some(c) = x.as_constant() {
        return Ok(Expr::constant(c.square().square() * c));
    }
    let x2 = mul(&mut cs, "x2", x, x)?;
    let x4 = mul(&mut cs, "x4", &x2, &x2)?;
    mul(&mut cs, "x5", &x4, x)
}

/// Poseidon of `inputs` (1..=16 of them), equal to `channel::crypto::poseidon`.
pub fn poseidon<CS: ConstraintSystem<F>>(
    mut cs: CS,
    inputs: &[Expr],
) -> Result<Expr, SynthesisError> {
    let p = circuit_params(inputs.len());
    let t = p.t;
    let mut state: Vec<Expr> = std::iter::once(Expr::zero())
        .chain(inputs.iter().cloned())
        .collect();
    let half = p.full_rounds / 2;
    for r in 0..p.full_rounds + p.partial_rounds {
        let mut cs = cs.namespace(|| format!("round {r}"));
        for (i, s) in state.iter_mut().enumerate() {
            *s = s.add_const(p.round_constants[r * t + i]);
        }
        let full = r < half || r >= half + p.partial_rounds;
        for (i, s) in state.iter_mut().enumerate().take(if full { t } else { 1 }) {
            *s = sbox(cs.namespace(|| format!("sbox {i}")), s)?;
        }
        state = p
            .mds
            .iter()
            .map(|row| Expr::sum(row.iter().copied().zip(state.iter().cloned())))
            .collect();
    }
    Ok(state.swap_remove(0))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::field::f_to_fe;
    use ff::Field;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn matches_native_for_every_arity_used_and_pins_counts() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // (arity, constraints): the arities of the close circuit.
        for (arity, expected) in [(2usize, 240usize), (3, 261), (4, 297), (5, 321), (6, 354)] {
            let mut cs = new_cs();
            let values: Vec<F> = (0..arity)
                .map(|_| F::from(rng.r#gen::<u64>()).square())
                .collect();
            let inputs: Vec<Expr> = values
                .iter()
                .enumerate()
                .map(|(i, v)| witness(&mut cs, &format!("in {i}"), *v))
                .collect();
            let out = poseidon(cs.namespace(|| "h"), &inputs).unwrap();
            let native = channel::crypto::poseidon(&values.iter().map(f_to_fe).collect::<Vec<_>>());
            assert_eq!(
                out.value().map(|v| f_to_fe(&v)),
                Some(native),
                "arity {arity}"
            );
            assert!(cs.is_satisfied());
            assert_eq!(cs.num_constraints(), expected, "arity {arity}");
            assert_eq!(num_constraints(arity, 0), expected);
        }
    }

    #[test]
    fn constant_inputs_are_free_in_the_first_round() {
        let mut cs = new_cs();
        let x = witness(&mut cs, "x", F::from(3u64));
        let out = poseidon(cs.namespace(|| "h"), &[Expr::from(7), x]).unwrap();
        assert_eq!(cs.num_constraints(), num_constraints(2, 1));
        let native = channel::crypto::poseidon(&[channel::Fe::from(7u64), channel::Fe::from(3u64)]);
        assert_eq!(out.value().map(|v| f_to_fe(&v)), Some(native));
    }

    #[test]
    fn a_wrong_sbox_witness_is_caught() {
        let mut cs = new_cs();
        let x = witness(&mut cs, "x", F::from(3u64));
        let y = witness(&mut cs, "y", F::from(4u64));
        poseidon(cs.namespace(|| "h"), &[x, y]).unwrap();
        assert!(cs.is_satisfied());
        let path = "h/round 5/sbox 0/x5/product";
        let honest = cs.get(path);
        cs.set(path, honest + F::ONE);
        assert_eq!(
            cs.which_is_unsatisfied(),
            Some("h/round 5/sbox 0/x5/product constraint")
        );
        cs.set(path, honest);
        assert!(cs.is_satisfied());
    }
}
