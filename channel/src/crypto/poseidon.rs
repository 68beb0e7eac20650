//! Poseidon hash with circomlib's parameters (BN254, x^5, arities 1..=16).
//! TODO(crypto helper): implement; hot path must be fast (optimized partial rounds).

use crate::field::Fe;

/// Poseidon parameters for state width `t = arity + 1`, in circomlib's unoptimized form
/// (what an R1CS gadget needs: linear layers are free there).
pub struct PoseidonParams {
    /// State width `t = arity + 1`.
    pub t: usize,
    /// Number of full rounds (8).
    pub full_rounds: usize,
    /// Number of partial rounds.
    pub partial_rounds: usize,
    /// Round constants, `t` per round, `(full_rounds + partial_rounds) * t` in all.
    pub round_constants: Vec<Fe>,
    /// The `t x t` MDS matrix, row-major: `new[i] = Σ_j mds[i][j] * old[j]`.
    pub mds: Vec<Vec<Fe>>,
}

/// Parameters for `arity` inputs (1..=16).
pub fn params(arity: usize) -> &'static PoseidonParams {
    let _ = arity;
    todo!("crypto helper")
}

/// Poseidon of 1..=16 inputs, equal to circomlibjs `poseidon(inputs)`.
///
/// The arity is always fixed by the caller (never taken from input), so an arity
/// outside 1..=16 is a programming error and panics.
pub fn poseidon(inputs: &[Fe]) -> Fe {
    let _ = inputs;
    todo!("crypto helper")
}
