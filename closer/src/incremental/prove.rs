//! Proving the incremental close, with the same Spartan2 NeutronNova machinery and key
//! files as the full close ([`crate::prover`], [`crate::keys`]: a layout names its
//! statement, so `keys::prover_key(dir, layout)` makes or finds this statement's keys).
//! Verifying is [`crate::Verifier::verify_transition`].

use std::path::Path;

use channel::incremental::IncrementalWitness;

use super::IncrementalClose;
use super::witness::assignment;
use crate::error::CloseError;
use crate::keys::{self, ProverKey};
use crate::progress::{Phase, Progress};
use crate::proof_file::TransitionProof;

/// Prove `close` with `pk` (made by `keys::generate` or `keys::prover_key` for its layout): the raw proof bytes.
pub fn prove(
    pk: &ProverKey,
    close: &IncrementalClose,
    progress: &dyn Progress,
) -> Result<Vec<u8>, CloseError> {
    crate::prover::prove_circuits(pk, &close.steps, &close.core, progress)
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
