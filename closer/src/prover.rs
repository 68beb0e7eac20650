//! Proving a close: the epoch's witness cut into chunks ([`FoldedClose`]), the steps'
//! witnesses committed (`prep_prove`, where nearly all the time goes), folded and
//! proved with the core (`prove`) by Spartan2's `NeutronNovaZkSNARK`.

use std::path::Path;

use bincode::Options;
use channel::ledger::Snapshot;
use channel::statement::PublicInputs;
use spartan2::traits::circuit::SpartanCircuit;

use crate::circuit::{CloseAssignment, FoldedClose};
use crate::error::CloseError;
use crate::field::Engine;
use crate::keys::{self, KeyDigest, ProverKey, Snark, bincode_options};
use crate::progress::{Phase, Progress};
use crate::proof_file::CloseProof;
use crate::witness;

/// Prove `steps` and `core` with `pk`: the raw proof bytes. Callers pass the honest
/// [`FoldedClose`]'s circuits; tests pass others (a step dropped or repeated) to check
/// that the verifier refuses what the prover can be made to produce.
pub fn prove_circuits<S, C>(
    pk: &ProverKey,
    steps: &[S],
    core: &C,
    progress: &dyn Progress,
) -> Result<Vec<u8>, CloseError>
where
    S: SpartanCircuit<Engine>,
    C: SpartanCircuit<Engine>,
{
    progress.start(Phase::Commit, 0);
    let prep =
        Snark::prep_prove(pk, steps, core, false).map_err(|e| CloseError::Prover(e.to_string()))?;
    progress.finish(Phase::Commit);
    progress.start(Phase::Prove, 0);
    let (snark, _) = Snark::prove(pk, steps, core, prep, false)
        .map_err(|e| CloseError::Prover(e.to_string()))?;
    let bytes = bincode_options(u64::MAX)
        .serialize(&snark)
        .map_err(|e| CloseError::Encoding(e.to_string()))?;
    progress.finish(Phase::Prove);
    Ok(bytes)
}

/// Prove `folded` with the key for its layout from `keys_dir` (made there if missing).
pub fn prove_folded(
    public: PublicInputs,
    folded: &FoldedClose,
    keys_dir: &Path,
    progress: &dyn Progress,
) -> Result<CloseProof, CloseError> {
    progress.start(Phase::Setup, 0);
    let (pk, key_digest): (ProverKey, KeyDigest) = keys::prover_key(keys_dir, folded.layout)?;
    progress.finish(Phase::Setup);
    let snark = prove_circuits(&pk, &folded.steps, &folded.core, progress)?;
    Ok(CloseProof {
        layout: folded.layout,
        key_digest,
        public,
        snark,
    })
}

/// Prove `assignment` (already checked) with the keys in `keys_dir`.
pub fn prove_assignment(
    public: PublicInputs,
    assignment: &CloseAssignment,
    keys_dir: &Path,
    progress: &dyn Progress,
) -> Result<CloseProof, CloseError> {
    let folded = FoldedClose::new(assignment)?;
    prove_folded(public, &folded, keys_dir, progress)
}

/// Check `snapshot` and prove its close, its volume committed with blind
/// `volume_blind` (`channel::volume::volume_blind` of the hub's seed and the epoch),
/// using (or creating) keys in `keys_dir`.
pub fn prove_epoch(
    snapshot: &Snapshot,
    volume_blind: &channel::Fe,
    keys_dir: &Path,
    progress: &dyn Progress,
) -> Result<CloseProof, CloseError> {
    progress.start(Phase::Witness, 0);
    let (public, assignment) = witness::assignment(snapshot, volume_blind)?;
    let folded = FoldedClose::new(&assignment)?;
    progress.finish(Phase::Witness);
    prove_folded(public, &folded, keys_dir, progress)
}
