//! Keys, proving and verifying for the incremental close, in memory.
//!
//! The same Spartan2 NeutronNova machinery and key files as the full close
//! ([`crate::prover`], [`crate::verifier`], [`crate::keys`]: a layout names its
//! statement, so `keys::prover_key(dir, layout)` makes or finds this statement's keys).

use std::path::Path;

use channel::incremental::IncrementalWitness;

use super::witness::assignment;
use crate::error::CloseError;
use crate::field::F;
use crate::keys;
use crate::keys::{ProverKey, VerifierKey};
use crate::layout::Layout;
use crate::progress::Phase;
use crate::progress::Progress;
use crate::proof_file::TransitionProof;

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

/// Prove the close `witness` describes (built and checked by
/// `channel::incremental::ClosedState::close`) with the keys in `keys_dir` (made there
/// if missing).
pub fn prove_transition(
    witness: &IncrementalWitness,
    keys_dir: &Path,
    progress: &dyn Progress,
) -> Result<TransitionProof, CloseError> {
    progress.start(Phase::Witness, 0);
    let close = IncrementalClose::new(&assignment(witness)?)?;
    progress.finish(Phase::Witness);
    progress.start(Phase::Setup, 0);
    let (pk, key_digest) = keys::prover_key(keys_dir, close.layout)?;
    progress.finish(Phase::Setup);
    let snark = prove(&pk, &close, progress)?;
    Ok(TransitionProof {
        layout: close.layout,
        key_digest,
        inputs: witness.inputs,
        snark,
    })
}
