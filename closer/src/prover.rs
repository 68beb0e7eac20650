//! Proving and verifying a close with Spartan2 (`SpartanZkSNARK<Bn254Engine>`).

use std::path::{Path, PathBuf};

use channel::ledger::Snapshot;
use channel::settlement::CloseVerifier;
use channel::statement::PublicInputs;
use spartan2::traits::snark::R1CSSNARKTrait;

use crate::circuit::{CloseAssignment, CloseCircuit};
use crate::error::CloseError;
use crate::keys::{self, Snark};
use crate::progress::{Phase, Progress};
use crate::proof_file::CloseProof;
use crate::witness::{self, public_scalars};

/// Prove `assignment` (already checked) with the keys in `keys_dir`.
pub fn prove_assignment(
    public: PublicInputs,
    assignment: CloseAssignment,
    keys_dir: &Path,
    progress: &dyn Progress,
) -> Result<CloseProof, CloseError> {
    let slots = assignment.slots.len();
    progress.start(Phase::Setup, 1);
    let pk = keys::prover_key(keys_dir, slots)?;
    progress.advance(Phase::Setup, 1);
    progress.finish(Phase::Setup);

    progress.start(Phase::Prove, 2);
    let circuit = CloseCircuit::with_assignment(assignment);
    let prep = Snark::prep_prove(&pk, circuit.clone(), false)
        .map_err(|e| CloseError::Prover(e.to_string()))?;
    progress.advance(Phase::Prove, 1);
    let (snark, _) =
        Snark::prove(&pk, circuit, prep, false).map_err(|e| CloseError::Prover(e.to_string()))?;
    let snark = bincode::serialize(&snark).map_err(|e| CloseError::Encoding(e.to_string()))?;
    progress.advance(Phase::Prove, 1);
    progress.finish(Phase::Prove);
    Ok(CloseProof {
        slots: u32::try_from(slots).map_err(|_| CloseError::TooManySlots(slots))?,
        public,
        snark,
    })
}

/// Check `snapshot` and prove its close, using (or creating) keys in `keys_dir`.
pub fn prove_epoch(
    snapshot: &Snapshot,
    keys_dir: &Path,
    progress: &dyn Progress,
) -> Result<CloseProof, CloseError> {
    progress.start(Phase::Witness, snapshot.channels.len() as u64);
    let (public, assignment) = witness::assignment(snapshot)?;
    progress.advance(Phase::Witness, snapshot.channels.len() as u64);
    progress.finish(Phase::Witness);
    prove_assignment(public, assignment, keys_dir, progress)
}

/// Verify `proof` against its own public inputs with the verifier key in `keys_dir`.
pub fn verify(proof: &CloseProof, keys_dir: &Path) -> Result<(), CloseError> {
    let vk = keys::verifier_key(keys_dir, proof.slots as usize)?;
    verify_with_key(proof, &vk)
}

/// Verify `proof` with an already loaded verifier key (for `proof.slots` slots).
pub fn verify_with_key(proof: &CloseProof, vk: &keys::VerifierKey) -> Result<(), CloseError> {
    let snark: Snark = bincode::deserialize(&proof.snark)
        .map_err(|e| CloseError::Invalid(format!("decoding: {e}")))?;
    let public = snark
        .verify(vk)
        .map_err(|e| CloseError::Invalid(e.to_string()))?;
    // The SNARK carries its instance; it must be the one the file claims.
    if public.as_slice() != public_scalars(&proof.public).as_slice() {
        return Err(CloseError::PublicInputsMismatch);
    }
    Ok(())
}

/// Parse and verify a proof file; returns its public inputs.
pub fn verify_file(bytes: &[u8], keys_dir: &Path) -> Result<PublicInputs, CloseError> {
    let proof = CloseProof::from_bytes(bytes)?;
    verify(&proof, keys_dir)?;
    Ok(proof.public)
}

/// The settlement layer's [`CloseVerifier`], backed by a key directory. `proof` is a
/// whole proof file; its public inputs must equal `inputs`.
#[derive(Debug, Clone)]
pub struct KeyDirVerifier {
    keys_dir: PathBuf,
}

impl KeyDirVerifier {
    /// A verifier reading (or creating) keys in `keys_dir`.
    pub fn new(keys_dir: impl Into<PathBuf>) -> Self {
        KeyDirVerifier {
            keys_dir: keys_dir.into(),
        }
    }
}

impl CloseVerifier for KeyDirVerifier {
    fn verify(&self, inputs: &PublicInputs, proof: &[u8]) -> Result<(), String> {
        let file = CloseProof::from_bytes(proof).map_err(|e| e.to_string())?;
        if &file.public != inputs {
            return Err(CloseError::PublicInputsMismatch.to_string());
        }
        verify(&file, &self.keys_dir).map_err(|e| e.to_string())
    }
}
