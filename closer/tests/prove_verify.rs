//! Real Spartan2 proofs of a small close (2 slots): prove, verify, and reject altered
//! public inputs and corrupted proof files. Keys go to a temporary directory.

mod common;

use channel::settlement::CloseVerifier;
use closer::{
    CloseError, CloseProof, KeyDirVerifier, NoProgress, prove_epoch, verify, verify_file,
};
use common::*;

#[test]
fn prove_verify_and_reject_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let snap = snapshot2();
    let proof = prove_epoch(&snap, dir.path(), &NoProgress).expect("prove");
    let (native, _) = channel::statement::close_public_inputs(&snap).unwrap();
    assert_eq!(proof.public, native);
    assert_eq!(proof.slots, 2);

    // Keys are cached: one .pk and one .vk.
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0].starts_with("close-2-") && files[0].ends_with(".pk"));

    // The file round-trips and verifies.
    let bytes = proof.to_bytes();
    println!("proof file: {} bytes", bytes.len());
    assert_eq!(verify_file(&bytes, dir.path()).expect("verify"), native);
    verify(&proof, dir.path()).expect("verify");

    // An altered public input is refused (the SNARK is bound to its instance).
    for field in 0..5 {
        let mut altered = proof.clone();
        match field {
            0 => altered.public.hub_id += 1,
            1 => altered.public.epoch += 1,
            2 => altered.public.n -= 1,
            3 => altered.public.deposits_root += channel::Fe::from(1u64),
            _ => altered.public.balances_root += channel::Fe::from(1u64),
        }
        let err = verify_file(&altered.to_bytes(), dir.path()).unwrap_err();
        assert!(
            matches!(err, CloseError::PublicInputsMismatch),
            "field {field}: {err}"
        );
    }

    // A flipped byte anywhere in the proof is refused.
    let step = (bytes.len() - closer::proof_file::HEADER_LEN) / 7;
    for offset in (closer::proof_file::HEADER_LEN..bytes.len()).step_by(step.max(1)) {
        let mut corrupt = bytes.clone();
        corrupt[offset] ^= 0x01;
        assert!(
            verify_file(&corrupt, dir.path()).is_err(),
            "flip at {offset} accepted"
        );
    }

    // The settlement layer's verifier checks the inputs it expects.
    let verifier = KeyDirVerifier::new(dir.path());
    verifier.verify(&native, &bytes).expect("settlement verify");
    let mut other = native;
    other.epoch += 1;
    assert!(verifier.verify(&other, &bytes).is_err());

    // Proving again reuses the cached keys and gives a different (zero-knowledge) proof.
    let again = prove_epoch(&snap, dir.path(), &NoProgress).expect("prove again");
    assert_ne!(again.snark, proof.snark);
    assert!(verify(&again, dir.path()).is_ok());

    // A payee that withdrew more than it deposited (D = 20 − 25 < 0) closes too.
    let mut withdrawn = snap.clone();
    withdrawn.channels[1].deposit -= 25;
    let proof = prove_epoch(&withdrawn, dir.path(), &NoProgress).expect("prove D < 0");
    let (native, _) = channel::statement::close_public_inputs(&withdrawn).unwrap();
    assert_eq!(proof.public, native);
    verify(&proof, dir.path()).expect("verify D < 0");
    let _: Option<CloseProof> = None;
}

#[test]
fn a_snapshot_that_breaks_the_statement_is_refused_before_proving() {
    let dir = tempfile::tempdir().unwrap();
    let mut snap = snapshot2();
    snap.channels[1].received += 1; // Σ R ≠ Σ S
    let err = prove_epoch(&snap, dir.path(), &NoProgress).unwrap_err();
    assert!(matches!(err, CloseError::Statement(_)), "{err}");
}
