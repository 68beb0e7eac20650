//! Binary Poseidon Merkle roots; twin of [`channel::merkle`] (`parent = Poseidon(left,
//! right)`, leaves in slot order, a power-of-two number of them).
//!
//! A tree over `N` leaves costs `(N − 1)` two-input Poseidon hashes, 240 constraints each.

use bellpepper_core::{ConstraintSystem, SynthesisError};

use super::Expr;
use super::poseidon::poseidon;
use crate::field::F;

/// The root over `leaves` (a power of two, at least two).
pub fn root<CS: ConstraintSystem<F>>(mut cs: CS, leaves: &[Expr]) -> Result<Expr, SynthesisError> {
    assert!(
        leaves.len() >= 2 && leaves.len().is_power_of_two(),
        "a binary tree needs 2^k ≥ 2 leaves"
    );
    let mut level: Vec<Expr> = leaves.to_vec();
    let mut depth = 0;
    while level.len() > 1 {
        let mut cs = cs.namespace(|| format!("level {depth}"));
        level = level
            .chunks(2)
            .enumerate()
            .map(|(i, pair)| poseidon(cs.namespace(|| format!("node {i}")), pair))
            .collect::<Result<Vec<_>, _>>()?;
        depth += 1;
    }
    Ok(level.swap_remove(0))
}

/// Constraints of [`root`] over `n` leaves.
pub fn num_constraints(n: usize) -> usize {
    (n - 1) * super::poseidon::num_constraints(2, 0)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::field::{f_to_fe, fe_to_f};
    use channel::Fe;
    use ff::Field;

    #[test]
    fn root_matches_channel_merkle() {
        for n in [2usize, 4, 8] {
            let values: Vec<Fe> = (0..n as u64).map(|i| Fe::from(i * i + 3)).collect();
            let mut cs = new_cs();
            let leaves: Vec<Expr> = values
                .iter()
                .enumerate()
                .map(|(i, v)| witness(&mut cs, &format!("leaf {i}"), fe_to_f(v)))
                .collect();
            let r = root(cs.namespace(|| "root"), &leaves).unwrap();
            let native = channel::merkle::MerkleTree::new(values.clone())
                .unwrap()
                .root();
            assert_eq!(r.value().map(|v| f_to_fe(&v)), Some(native));
            assert!(cs.is_satisfied());
            assert_eq!(cs.num_constraints(), num_constraints(n));
        }
    }

    #[test]
    fn swapping_leaves_changes_the_root() {
        let mut cs = new_cs();
        let a = witness(&mut cs, "a", F::ONE);
        let b = witness(&mut cs, "b", F::ZERO);
        let ab = root(cs.namespace(|| "ab"), &[a.clone(), b.clone()]).unwrap();
        let ba = root(cs.namespace(|| "ba"), &[b, a]).unwrap();
        assert_ne!(ab.value(), ba.value());
    }
}
