//! Paths in the sparse 4-ary Poseidon state tree; twin of `channel::state_tree`.
//!
//! A node is `Poseidon(c0, c1, c2, c3)` of its four children; the leaf of channel `id`
//! sits at position `id`, and the child index of the path at level `h` (0 = leaves) is
//! the digit `d_h = (id >> 2h) & 3`. A path gives, per level, the three siblings in
//! increasing child index. Four children per node make a path of depth 10 cover 2^20
//! positions with 10 four-input hashes (297 constraints each) where a binary tree needs
//! 20 two-input ones (240 each): ~3,030 constraints per path instead of ~4,860.
//!
//! Written by hand: no crate offers circomlib-compatible 4-ary Poseidon paths for
//! bellpepper.

use bellpepper_core::{ConstraintSystem, SynthesisError};
use ff::Field;
use num_bigint::BigUint;

use super::poseidon::{self, poseidon};
use super::range::alloc_bits;
use super::{Expr, enforce_equal, mul};
use crate::field::F;

/// Levels of the state tree.
pub const DEPTH: usize = 10;
/// Bits of a position (`2 · DEPTH`).
pub const POSITION_BITS: usize = 2 * DEPTH;

/// The one-hot digit of each level: `digits[h][k] = 1` iff `d_h = k`.
pub type Digits = Vec<[Expr; 4]>;

/// Decompose `position` into `DEPTH` base-4 digits, one-hot encoded; this also proves
/// `position < 2^20` (`POSITION_BITS + 1 + DEPTH` constraints).
pub fn digits<CS: ConstraintSystem<F>>(
    mut cs: CS,
    position: &Expr,
) -> Result<Digits, SynthesisError> {
    let value: Option<BigUint> = position.value().map(|v| crate::field::f_to_biguint(&v));
    let bits = alloc_bits(cs.namespace(|| "bits"), value.as_ref(), POSITION_BITS)?;
    enforce_equal(&mut cs, "position fits the tree", &bits.packed, position);
    (0..DEPTH)
        .map(|h| {
            let (b0, b1) = (&bits.bits[2 * h], &bits.bits[2 * h + 1]);
            let e3 = mul(cs.namespace(|| format!("digit {h}")), "e3", b0, b1)?;
            let e1 = b0.sub(&e3);
            let e2 = b1.sub(&e3);
            let e0 = Expr::from(1).sub(b0).sub(b1).add(&e3);
            Ok([e0, e1, e2, e3])
        })
        .collect()
}

/// The root above `leaf` with `siblings` (three per level, in increasing child index)
/// along `digits` (`DEPTH · (6 + 297)` constraints).
pub fn root<CS: ConstraintSystem<F>>(
    mut cs: CS,
    leaf: &Expr,
    digits: &[[Expr; 4]],
    siblings: &[[Expr; 3]],
) -> Result<Expr, SynthesisError> {
    assert_eq!(digits.len(), DEPTH, "one digit per level");
    assert_eq!(siblings.len(), DEPTH, "one sibling triple per level");
    let mut node = leaf.clone();
    for (h, ([e0, e1, e2, e3], [s0, s1, s2])) in digits.iter().zip(siblings).enumerate() {
        let mut cs = cs.namespace(|| format!("level {h}"));
        let mut product = |name: &str, a: &Expr, b: &Expr| mul(cs.namespace(|| name), "p", a, b);
        // Children for digit d: [node, s0, s1, s2], [s0, node, s1, s2],
        // [s0, s1, node, s2] or [s0, s1, s2, node].
        let c0 = s0.add(&product("c0", e0, &node.sub(s0))?);
        let c1 = s1.add(&product("c1 d=0", e0, &s0.sub(s1))?).add(&product(
            "c1 d=1",
            e1,
            &node.sub(s1),
        )?);
        let c2 = s2
            .add(&product("c2 d<2", &e0.add(e1), &s1.sub(s2))?)
            .add(&product("c2 d=2", e2, &node.sub(s2))?);
        let c3 = s2.add(&product("c3", e3, &node.sub(s2))?);
        node = poseidon(cs.namespace(|| "node"), &[c0, c1, c2, c3])?;
    }
    Ok(node)
}

/// Constraints of [`digits`].
pub fn digits_constraints() -> usize {
    POSITION_BITS + 1 + DEPTH
}

/// Constraints of one [`root`].
pub fn root_constraints() -> usize {
    DEPTH * (6 + poseidon::num_constraints(4, 0))
}

/// The native root above `leaf` (for tests and witness checks), same conventions.
pub fn native_root(position: u32, leaf: F, siblings: &[[F; 3]]) -> F {
    use crate::field::{f_to_fe, fe_to_f};
    let mut node = leaf;
    for (h, s) in siblings.iter().enumerate() {
        let d = ((position >> (2 * h)) & 3) as usize;
        let mut children = [F::ZERO; 4];
        let mut next = s.iter();
        for (k, child) in children.iter_mut().enumerate() {
            *child = if k == d {
                node
            } else {
                *next.next().expect("three siblings")
            };
        }
        let fes: Vec<_> = children.iter().map(f_to_fe).collect();
        node = fe_to_f(&channel::crypto::poseidon(&fes));
    }
    node
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn siblings_for(seed: u64) -> Vec<[F; 3]> {
        (0..DEPTH as u64)
            .map(|h| {
                [
                    F::from(seed * 100 + 3 * h + 1),
                    F::from(seed * 100 + 3 * h + 2),
                    F::from(seed * 100 + 3 * h + 3),
                ]
            })
            .collect()
    }

    fn gadget_root(position: u64, leaf: F, siblings: &[[F; 3]]) -> (Option<F>, bool, usize) {
        let mut cs = new_cs();
        let pos = witness(&mut cs, "position", F::from(position));
        let leaf = witness(&mut cs, "leaf", leaf);
        let sibs: Vec<[Expr; 3]> = siblings
            .iter()
            .enumerate()
            .map(|(h, s)| [0, 1, 2].map(|k| witness(&mut cs, &format!("sibling {h} {k}"), s[k])))
            .collect();
        let d = digits(cs.namespace(|| "digits"), &pos).unwrap();
        let r = root(cs.namespace(|| "root"), &leaf, &d, &sibs).unwrap();
        (r.value(), cs.is_satisfied(), cs.num_constraints())
    }

    #[test]
    fn root_matches_the_native_path_for_every_digit() {
        // Positions that put every digit value at several levels.
        for position in [0u32, 1, 2, 3, 4, 7, 0b11_10_01_00, 1_000_000, (1 << 20) - 1] {
            let sibs = siblings_for(u64::from(position % 97));
            let leaf = F::from(42 + u64::from(position));
            let (value, satisfied, constraints) = gadget_root(u64::from(position), leaf, &sibs);
            assert!(satisfied, "position {position}");
            assert_eq!(
                value,
                Some(native_root(position, leaf, &sibs)),
                "position {position}"
            );
            assert_eq!(constraints, digits_constraints() + root_constraints());
        }
    }

    #[test]
    fn a_position_beyond_the_tree_is_unsatisfiable() {
        let sibs = siblings_for(1);
        let (_, satisfied, _) = gadget_root(1 << 20, F::from(5), &sibs);
        assert!(!satisfied);
    }

    #[test]
    fn the_same_leaf_at_another_position_has_another_root() {
        let sibs = siblings_for(2);
        let (a, ..) = gadget_root(5, F::from(9), &sibs);
        let (b, ..) = gadget_root(6, F::from(9), &sibs);
        assert_ne!(a, b);
    }
}
