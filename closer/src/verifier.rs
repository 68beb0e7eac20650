//! Verifying a close proof file, as `zkhub verify` and the settlement layer do.
//!
//! Order of checks, cheapest first, so a hostile file costs nothing it chose: the header
//! ([`CloseProof::from_bytes`]: layout canonical for `n`, lengths bounded), the expected
//! inputs (the settlement layer's epoch record), the verifier key (the one in the key
//! directory whose digest the file names, found by its header; never made here), the
//! proof decoded within
//! its length, NeutronNova's verification with the expected step count, then step `i`'s
//! public value must be `i` (no chunk dropped, repeated or reordered) and the core's the
//! file's public inputs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bincode::Options;
use channel::incremental::IncrementalInputs;
use channel::settlement::CloseVerifier;
use channel::statement::PublicInputs;

use crate::error::CloseError;
use crate::field::F;
use crate::field::fe_to_f;
use crate::keys::{self, KeyDigest, Snark, VerifierKey, bincode_options};
use crate::layout::Layout;
use crate::proof_file::{CloseProof, TransitionProof};
use crate::witness::public_scalars;

/// What a valid proof file established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Its public inputs (hub, epoch, channel count, roots).
    pub public: PublicInputs,
    /// Its layout.
    pub layout: Layout,
    /// The verifier key it was checked with.
    pub key_digest: KeyDigest,
    /// The verifier key's file.
    pub key_path: PathBuf,
}

/// What an incremental close proof proved, and with which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTransition {
    /// The public inputs.
    pub inputs: IncrementalInputs,
    /// The layout.
    pub layout: Layout,
    /// The verifier key's digest.
    pub key_digest: KeyDigest,
    /// The key file.
    pub key_path: PathBuf,
}

/// A verifier key loaded from disk, with its digest.
pub struct LoadedKey {
    /// The key.
    pub vk: VerifierKey,
    /// BLAKE3 of its body.
    pub digest: KeyDigest,
    /// The file it was read from.
    pub path: PathBuf,
}

type KeyMap = HashMap<(Layout, KeyDigest), Arc<LoadedKey>>;

/// Verifies proof files with keys from a directory, keeping each key it loads in
/// memory (decoding and rehashing a key costs more than a verification).
pub struct Verifier {
    keys_dir: PathBuf,
    loaded: Mutex<KeyMap>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("keys_dir", &self.keys_dir)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier reading keys from `keys_dir`.
    pub fn new(keys_dir: impl Into<PathBuf>) -> Self {
        Verifier {
            keys_dir: keys_dir.into(),
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The verifier key of `layout` with `digest` (loaded once).
    pub fn key(&self, layout: Layout, digest: &KeyDigest) -> Result<Arc<LoadedKey>, CloseError> {
        if let Some(k) = self.lock().get(&(layout, *digest)) {
            return Ok(k.clone());
        }
        let (vk, path) = keys::verifier_key(&self.keys_dir, layout, digest)?;
        let key = Arc::new(LoadedKey {
            vk,
            digest: *digest,
            path,
        });
        self.lock().insert((layout, *digest), key.clone());
        Ok(key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeyMap> {
        // A panic while holding the lock leaves the map valid: keep using it.
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Verify a parsed proof against its own public inputs.
    pub fn verify_proof(&self, proof: &CloseProof) -> Result<Verified, CloseError> {
        let key = self.key(proof.layout, &proof.key_digest)?;
        verify_with_key(proof, &key)?;
        Ok(Verified {
            public: proof.public,
            layout: proof.layout,
            key_digest: key.digest,
            key_path: key.path.clone(),
        })
    }

    /// Parse and verify a proof file.
    pub fn verify_file(&self, bytes: &[u8]) -> Result<Verified, CloseError> {
        self.verify_proof(&CloseProof::from_bytes(bytes)?)
    }

    /// Verify an incremental close proof with the key its header names (never made
    /// here), as [`Verifier::verify_proof`] does for a full close.
    pub fn verify_transition(
        &self,
        proof: &TransitionProof,
    ) -> Result<VerifiedTransition, CloseError> {
        let key = self.key(proof.layout, &proof.key_digest)?;
        check_digest(&proof.key_digest, &key)?;
        let public = proof.inputs.to_field_elements().map(|x| fe_to_f(&x));
        verify_snark(&key.vk, proof.layout, &proof.snark, &public)?;
        Ok(VerifiedTransition {
            inputs: proof.inputs,
            layout: proof.layout,
            key_digest: key.digest,
            key_path: key.path.clone(),
        })
    }

    /// Decode and verify an incremental close proof file.
    pub fn verify_transition_file(&self, bytes: &[u8]) -> Result<VerifiedTransition, CloseError> {
        self.verify_transition(&TransitionProof::from_bytes(bytes)?)
    }
}

/// Verify `proof` with an already loaded key.
pub fn verify_with_key(proof: &CloseProof, key: &LoadedKey) -> Result<(), CloseError> {
    check_digest(&proof.key_digest, key)?;
    verify_snark(
        &key.vk,
        proof.layout,
        &proof.snark,
        &public_scalars(&proof.public),
    )
}

fn check_digest(named: &KeyDigest, key: &LoadedKey) -> Result<(), CloseError> {
    if *named != key.digest {
        return Err(CloseError::KeyMismatch {
            proof: hex::encode(&named[..8]),
            ours: hex::encode(&key.digest[..8]),
        });
    }
    Ok(())
}

/// Verify raw NeutronNova proof bytes with `vk` for `layout`: `M` step instances whose
/// public values are `0, 1, …, M − 1` in order, and a core whose public values are
/// `public`. The bytes are decoded within their own length; a verifier panic on a
/// crafted proof is an error.
pub fn verify_snark(
    vk: &VerifierKey,
    layout: Layout,
    snark: &[u8],
    public: &[F],
) -> Result<(), CloseError> {
    let snark: Snark = bincode_options(snark.len() as u64)
        .deserialize(snark)
        .map_err(|e| CloseError::Invalid(format!("decoding: {e}")))?;
    let chunks = layout.chunks;
    // Spartan2 indexes into the proof's vectors; a crafted proof must be an error here,
    // never a crash of the settlement layer.
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| snark.verify(vk, chunks)))
            .map_err(|_| CloseError::Invalid("malformed proof (verifier panicked)".into()))?;
    let (steps, core) = outcome.map_err(|e| CloseError::Invalid(e.to_string()))?;
    if steps.len() != chunks {
        return Err(CloseError::Invalid(format!(
            "{} step instances for {chunks} chunks",
            steps.len()
        )));
    }
    for (i, values) in steps.iter().enumerate() {
        if values.as_slice() != [F::from(i as u64)] {
            return Err(CloseError::Invalid(format!(
                "step instance {i} does not prove chunk {i}"
            )));
        }
    }
    if core.as_slice() != public {
        return Err(CloseError::PublicInputsMismatch);
    }
    Ok(())
}

/// The settlement layer's [`CloseVerifier`]: the file's inputs must be the epoch's
/// (`inputs`, from the layer's record), which also fixes the layout the header must
/// name; keys come from a directory and are never made here.
#[derive(Debug)]
pub struct KeyDirVerifier {
    verifier: Verifier,
}

impl KeyDirVerifier {
    /// A verifier reading keys from `keys_dir`.
    pub fn new(keys_dir: impl Into<PathBuf>) -> Self {
        KeyDirVerifier {
            verifier: Verifier::new(keys_dir),
        }
    }

    /// Verify `proof` (a whole file) as the close of the epoch described by `inputs`.
    pub fn check(&self, inputs: &PublicInputs, proof: &[u8]) -> Result<Verified, CloseError> {
        let expected = Layout::for_channels(inputs.n)?;
        let file = CloseProof::from_bytes(proof)?;
        expect_shape(inputs.n, expected, file.layout)?;
        if &file.public != inputs {
            return Err(CloseError::PublicInputsMismatch);
        }
        self.verifier.verify_proof(&file)
    }

    /// Verify `proof` (a whole file) as the incremental close described by `inputs`
    /// (the settlement layer's: its epoch record and previous state root).
    pub fn check_transition(
        &self,
        inputs: &IncrementalInputs,
        proof: &[u8],
    ) -> Result<VerifiedTransition, CloseError> {
        let expected = Layout::for_touched(inputs.n)?;
        let file = TransitionProof::from_bytes(proof)?;
        expect_shape(inputs.n, expected, file.layout)?;
        if &file.inputs != inputs {
            return Err(CloseError::PublicInputsMismatch);
        }
        self.verifier.verify_transition(&file)
    }
}

/// A file's layout must be the one the settlement layer's `n` calls for.
fn expect_shape(n: u64, expected: Layout, got: Layout) -> Result<(), CloseError> {
    if got != expected {
        return Err(CloseError::WrongShape { n, expected, got });
    }
    Ok(())
}

impl CloseVerifier for KeyDirVerifier {
    fn verify(&self, inputs: &PublicInputs, proof: &[u8]) -> Result<(), String> {
        self.check(inputs, proof)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn verify_incremental(&self, inputs: &IncrementalInputs, proof: &[u8]) -> Result<(), String> {
        self.check_transition(inputs, proof)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
