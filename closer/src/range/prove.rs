//! Keys, proving and verifying the range statement with `spartan2::spartan_zk`.
//!
//! Keys are made by Spartan2's setup of the blank [`RangeCircuit`], which is
//! deterministic (the commitment key is derived from a fixed label), so the prover and
//! every verifier make the same keys; [`keys`] makes them once per process. The proof
//! file carries the verifier key's digest, so a proof from a build with another circuit
//! is named as such instead of failing obscurely.

use std::sync::OnceLock;

use bincode::Options;
use spartan2::spartan_zk::{SpartanProverKey, SpartanVerifierKey, SpartanZkSNARK};
use spartan2::traits::snark::{DigestHelperTrait, R1CSSNARKTrait};

use super::circuit::{RangeAssignment, RangeCircuit};
use super::file::{MAX_PROOF_LEN, RangeProof};
use super::{RangeError, RangeStatement, RangeWitness};
use crate::field::Engine;
use crate::keys::bincode_options;

/// The SNARK.
pub type RangeSnark = SpartanZkSNARK<Engine>;
/// The prover's key.
pub type RangeProverKey = SpartanProverKey<Engine>;
/// The verifier's key.
pub type RangeVerifierKey = SpartanVerifierKey<Engine>;

/// Both keys and the verifier key's digest.
pub struct RangeKeys {
    /// Prover key.
    pub pk: RangeProverKey,
    /// Verifier key.
    pub vk: RangeVerifierKey,
    /// Spartan2's digest of `vk`.
    pub digest: [u8; 32],
}

/// Run the setup (deterministic; no disk).
pub fn generate() -> Result<RangeKeys, RangeError> {
    let (pk, vk) =
        RangeSnark::setup(RangeCircuit::blank()).map_err(|e| RangeError::Prover(e.to_string()))?;
    let digest = vk.digest().map_err(|e| RangeError::Prover(e.to_string()))?;
    Ok(RangeKeys { pk, vk, digest })
}

/// This process's keys, made on first use.
pub fn keys() -> Result<&'static RangeKeys, RangeError> {
    static KEYS: OnceLock<Result<RangeKeys, String>> = OnceLock::new();
    KEYS.get_or_init(|| generate().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| RangeError::Prover(e.clone()))
}

/// Prove `statement` from `witness`. The witness is checked natively first, so a false
/// range (or a leaf that does not open the roots) is a typed error, not a bad proof.
pub fn prove(statement: &RangeStatement, witness: &RangeWitness) -> Result<RangeProof, RangeError> {
    witness.check(statement)?;
    let keys = keys()?;
    let snark = prove_assignment(keys, RangeAssignment::new(statement, witness))?;
    Ok(RangeProof {
        statement: *statement,
        key_digest: keys.digest,
        snark,
    })
}

/// Prove an assignment as it is, unchecked (tests use it to show that what a cheating
/// prover can produce does not verify): the proof bytes.
pub fn prove_assignment(
    keys: &RangeKeys,
    assignment: RangeAssignment,
) -> Result<Vec<u8>, RangeError> {
    let circuit = RangeCircuit::new(assignment);
    let prover = |e: spartan2::errors::SpartanError| RangeError::Prover(e.to_string());
    let prep = RangeSnark::prep_prove(&keys.pk, circuit.clone(), false).map_err(prover)?;
    let (snark, _) = RangeSnark::prove(&keys.pk, circuit, prep, false).map_err(prover)?;
    bincode_options(u64::MAX)
        .serialize(&snark)
        .map_err(|e| RangeError::Prover(e.to_string()))
}

/// Verify proof bytes `snark` for `statement` with `keys`.
pub fn verify_snark(
    keys: &RangeKeys,
    statement: &RangeStatement,
    snark: &[u8],
) -> Result<(), RangeError> {
    if snark.len() > MAX_PROOF_LEN {
        return Err(RangeError::Malformed(format!(
            "proof of {} bytes exceeds the {MAX_PROOF_LEN}-byte limit",
            snark.len()
        )));
    }
    let proof: RangeSnark = bincode_options(snark.len() as u64)
        .deserialize(snark)
        .map_err(|e| RangeError::Malformed(format!("proof encoding: {e}")))?;
    // Spartan2 indexes into the proof's vectors: a crafted proof must be an error,
    // never a crash of the verifier.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| proof.verify(&keys.vk)))
        .map_err(|_| RangeError::Invalid("malformed proof (verifier panicked)".into()))?;
    let public = outcome.map_err(|e| RangeError::Invalid(e.to_string()))?;
    if public != statement.to_scalars() {
        return Err(RangeError::PublicInputsMismatch);
    }
    Ok(())
}
