//! Keys, proving and verifying for the incremental close, in memory.
//!
//! The same Spartan2 NeutronNova machinery and key files as the full close
//! ([`crate::prover`], [`crate::verifier`], [`crate::keys`]: a layout names its
//! statement, so `keys::prover_key(dir, layout)` makes or finds this statement's keys).

use crate::error::CloseError;
use crate::field::F;
use crate::keys::{ProverKey, VerifierKey};
use crate::layout::Layout;
use crate::progress::Progress;

use super::{IncrementalClose, NUM_INPUTS};

/// Prove `close` with `pk` (made by `keys::generate` or `keys::prover_key` for its layout): the raw proof bytes.
pub fn prove(
    pk: &ProverKey,
    close: &IncrementalClose,
    progress: &dyn Progress,
) -> Result<Vec<u8>, CloseError> {
    crate::prover::prove_circuits(pk, &close.steps, &close.core, progress)
}

/// Verify proof bytes for `layout` against the expected public inputs.
pub fn verify(
    vk: &VerifierKey,
    layout: Layout,
    public: &[F; NUM_INPUTS],
    proof: &[u8],
) -> Result<(), CloseError> {
    crate::verifier::verify_snark(vk, layout, proof, public)
}
