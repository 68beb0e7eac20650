//! Real Spartan2 NeutronNova proofs of small closes: prove, verify, and refuse altered
//! public inputs, corrupted or hostile proof files, missing or mislabelled keys, and
//! proofs whose step instances were dropped, repeated or replayed. Keys go to a
//! temporary directory.

mod common;

use std::path::Path;

use channel::ledger::Snapshot;
use channel::settlement::CloseVerifier;
use closer::circuit::FoldedClose;
use closer::proof_file::HEADER_LEN;
use closer::{CloseError, CloseProof, KeyDirVerifier, Layout, NoProgress, Verifier, keys};
use closer::{prover, witness};
use common::*;

/// Prove `snap` with the tests' volume blind, keys in `keys`.
fn prove(snap: &Snapshot, keys: &Path) -> Result<CloseProof, CloseError> {
    closer::prove_epoch(snap, &closer::testing::volume_blind(), keys, &NoProgress)
}

/// The public inputs the settlement layer expects for `snap`.
fn public_inputs(snap: &Snapshot) -> channel::statement::PublicInputs {
    channel::statement::close_public_inputs(snap, &closer::testing::volume_blind())
        .unwrap()
        .0
}

fn key_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    files
}

#[test]
fn prove_verify_and_reject_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let snap = snapshot3();
    let proof = prove(&snap, dir.path()).expect("prove");
    let native = public_inputs(&snap);
    assert_eq!(proof.public, native);
    assert_eq!(proof.layout, Layout::for_channels(3).unwrap());

    // Keys are cached: one .pk and one .vk, named by layout.
    let files = key_files(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0].starts_with("close-v3-k2-m2-") && files[0].ends_with(".pk"));

    // The file round-trips and verifies, and says what it verified.
    let bytes = proof.to_bytes();
    println!("proof file: {} bytes", bytes.len());
    let verifier = Verifier::new(dir.path());
    let verified = verifier.verify_file(&bytes).expect("verify");
    assert_eq!(verified.public, native);
    assert_eq!(verified.layout, proof.layout);
    assert_eq!(verified.key_digest, proof.key_digest);

    // An altered public input is refused (the SNARK is bound to its instance).
    for field in 0..5 {
        let mut altered = proof.clone();
        match field {
            0 => altered.public.hub_id += 1,
            1 => altered.public.epoch += 1,
            2 => altered.public.n += 1, // 4 channels: the same layout
            3 => altered.public.deposits_root += channel::Fe::from(1u64),
            _ => altered.public.balances_root += channel::Fe::from(1u64),
        }
        let err = verifier.verify_file(&altered.to_bytes()).unwrap_err();
        assert!(
            matches!(err, CloseError::PublicInputsMismatch),
            "field {field}: {err}"
        );
    }

    // A flipped byte anywhere in the proof is refused, never a panic.
    let step = (bytes.len() - HEADER_LEN) / 23;
    for offset in (HEADER_LEN..bytes.len()).step_by(step.max(1)) {
        let mut corrupt = bytes.clone();
        corrupt[offset] ^= 0x01;
        assert!(
            verifier.verify_file(&corrupt).is_err(),
            "flip at {offset} accepted"
        );
    }

    // The settlement layer's verifier checks the inputs it expects.
    let settlement = KeyDirVerifier::new(dir.path());
    settlement
        .verify(&native, &bytes)
        .expect("settlement verify");
    let mut other = native;
    other.epoch += 1;
    assert!(settlement.verify(&other, &bytes).is_err());

    // Proving again reuses the cached keys and gives a different (zero-knowledge) proof.
    let again = prove(&snap, dir.path()).expect("prove again");
    assert_ne!(again.snark, proof.snark);
    assert_eq!(again.key_digest, proof.key_digest);
    verifier.verify_proof(&again).expect("verify again");
    assert_eq!(key_files(dir.path()).len(), 2);

    // A payee that withdrew more than it deposited (D < 0) closes too.
    let withdrawn = snapshot3_after_withdrawal();
    let proof = prove(&withdrawn, dir.path()).expect("prove D < 0");
    let native = public_inputs(&withdrawn);
    assert_eq!(proof.public, native);
    verifier.verify_proof(&proof).expect("verify D < 0");
}

#[test]
fn hostile_proof_files_are_refused_without_work() {
    let dir = tempfile::tempdir().unwrap();
    let snap = snapshot2();
    let proof = prove(&snap, dir.path()).expect("prove");
    let good = proof.to_bytes();
    let verifier = Verifier::new(dir.path());
    verifier.verify_file(&good).expect("honest file");

    // Bytes appended after the proof, with the length field patched to cover them.
    let mut appended = good.clone();
    appended.extend_from_slice(&[0u8; 16]);
    let len = (appended.len() - HEADER_LEN) as u32;
    appended[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&len.to_le_bytes());
    let err = verifier.verify_file(&appended).unwrap_err();
    assert!(
        matches!(err, CloseError::Invalid(ref why) if why.starts_with("decoding")),
        "appended bytes: {err}"
    );
    // ... and without patching the length.
    let mut appended = good.clone();
    appended.push(0);
    assert!(matches!(
        verifier.verify_file(&appended),
        Err(CloseError::Malformed(_))
    ));

    // A header claiming 2^24 slots, or 64: refused by the header, no key is made.
    for chunks in [1u32 << 23, 32] {
        let mut big = good.clone();
        big[16..20].copy_from_slice(&chunks.to_le_bytes());
        let err = verifier.verify_file(&big).unwrap_err();
        assert!(matches!(err, CloseError::WrongShape { .. }), "{err}");
    }
    // An honest-looking file for an epoch of 64 channels (layout canonical for its n):
    // the verifier has no key for it and says so; it never runs setup.
    let mut for64 = proof.clone();
    for64.public.n = 64;
    for64.layout = Layout::for_channels(64).unwrap();
    let err = verifier.verify_file(&for64.to_bytes()).unwrap_err();
    assert!(matches!(err, CloseError::MissingKey { .. }), "{err}");
    assert!(err.to_string().contains("zkhub keys"), "{err}");
    assert_eq!(key_files(dir.path()).len(), 2, "a verifier made keys");

    // The settlement layer derives the shape from the epoch: a file whose own n says
    // 64 channels is refused for an epoch of 2 before anything else.
    let settlement = KeyDirVerifier::new(dir.path());
    let err = settlement
        .check(&proof.public, &for64.to_bytes())
        .unwrap_err();
    assert!(matches!(err, CloseError::WrongShape { .. }), "{err}");

    // A proof naming another verifier key.
    let mut other_key = proof.clone();
    other_key.key_digest[0] ^= 1;
    let err = verifier.verify_file(&other_key.to_bytes()).unwrap_err();
    assert!(matches!(err, CloseError::KeyMismatch { .. }), "{err}");

    // Version 1 files get a clear message.
    let mut v1 = good.clone();
    v1[8] = 1;
    let err = verifier.verify_file(&v1).unwrap_err();
    assert!(matches!(err, CloseError::UnsupportedVersion(1)), "{err}");
    // So do version 2 files (the statement before the volume commitment).
    let mut v2 = good.clone();
    v2[8] = 2;
    let err = verifier.verify_file(&v2).unwrap_err();
    assert!(matches!(err, CloseError::UnsupportedVersion(2)), "{err}");
    assert!(err.to_string().contains("version 3"), "{err}");

    // A proof cut short.
    let mut short = good.clone();
    short.truncate(good.len() - 100);
    let len = (short.len() - HEADER_LEN) as u32;
    short[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&len.to_le_bytes());
    assert!(verifier.verify_file(&short).is_err());
}

#[test]
fn a_key_saved_under_another_layouts_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let small = Layout::for_slots(2).unwrap();
    let large = Layout::for_slots(4).unwrap();
    let digest = keys::setup(dir.path(), small).expect("setup").digest;
    // Rename the 2-slot keys to the 4-slot names.
    let id_large = hex::encode(&keys::shape_id(large)[..8]);
    for f in key_files(dir.path()) {
        let ext = &f[f.len() - 2..];
        let to = format!(
            "close-v3-k{}-m{}-{id_large}.{ext}",
            large.slots_per_chunk, large.chunks
        );
        std::fs::rename(dir.path().join(&f), dir.path().join(to)).unwrap();
    }
    let err = keys::verifier_key(dir.path(), large, &digest)
        .err()
        .expect("mislabelled vk");
    assert!(matches!(err, CloseError::BadKeyFile { .. }), "{err}");
    let err = keys::prover_key(dir.path(), large)
        .err()
        .expect("mislabelled pk");
    assert!(matches!(err, CloseError::BadKeyFile { .. }), "{err}");
}

#[test]
fn keys_are_reproducible() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let layout = Layout::for_slots(2).unwrap();
    let ka = keys::setup(a.path(), layout).unwrap();
    let kb = keys::setup(b.path(), layout).unwrap();
    assert_eq!(ka.digest, kb.digest, "setup is deterministic");
}

/// Prove the honest close of `snap` but with `steps` rearranged by `edit`.
fn prove_edited(
    dir: &Path,
    snap: &channel::ledger::Snapshot,
    edit: impl FnOnce(&mut Vec<closer::step::StepCircuit>),
) -> Result<CloseProof, CloseError> {
    let (public, a) = witness::assignment(snap, &closer::testing::volume_blind()).unwrap();
    let mut folded = FoldedClose::new(&a).unwrap();
    let (pk, key_digest) = keys::prover_key(dir, folded.layout).unwrap();
    edit(&mut folded.steps);
    let snark = prover::prove_circuits(&pk, &folded.steps, &folded.core, &NoProgress)?;
    Ok(CloseProof {
        layout: folded.layout,
        key_digest,
        public,
        snark,
    })
}

#[test]
fn a_step_instance_dropped_duplicated_or_reordered_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // 16 channels: K = 4, M = 4 chunks.
    let snap = closer::testing::synthetic_snapshot(HUB, EPOCH, 16);
    let verifier = Verifier::new(dir.path());
    let honest = prove_edited(dir.path(), &snap, |_| {}).expect("honest");
    verifier.verify_proof(&honest).expect("honest verifies");

    // Step 1 replaced by a second copy of step 0: every instance is satisfied (step 0
    // twice), chunk 1 is never checked.
    let duplicated = prove_edited(dir.path(), &snap, |steps| steps[1] = steps[0].clone())
        .expect("the prover does not notice");
    let err = verifier.verify_proof(&duplicated).unwrap_err();
    assert!(
        matches!(err, CloseError::Invalid(ref why) if why.contains("step instance 1")),
        "{err}"
    );
    // Steps 1 and 2 swapped.
    let swapped = prove_edited(dir.path(), &snap, |steps| steps.swap(1, 2)).expect("prove");
    assert!(verifier.verify_proof(&swapped).is_err());
    // Step 3 dropped: three instances where four are expected.
    match prove_edited(dir.path(), &snap, |steps| {
        steps.pop();
    }) {
        Ok(dropped) => assert!(verifier.verify_proof(&dropped).is_err()),
        Err(e) => println!("the prover refused three steps: {e}"),
    }
}

#[test]
fn a_proof_replayed_for_another_epoch_or_hub_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let snap = snapshot2();
    let proof = prove(&snap, dir.path()).expect("prove");
    let settlement = KeyDirVerifier::new(dir.path());
    // The same proof submitted as the close of the next epoch, or of another hub with
    // the same channels and roots.
    let mut next = proof.public;
    next.epoch += 1;
    let mut relabelled = proof.clone();
    relabelled.public = next;
    let err = settlement.check(&next, &relabelled.to_bytes()).unwrap_err();
    assert!(matches!(err, CloseError::PublicInputsMismatch), "{err}");
    let mut other_hub = proof.public;
    other_hub.hub_id += 1;
    relabelled.public = other_hub;
    let err = settlement
        .check(&other_hub, &relabelled.to_bytes())
        .unwrap_err();
    assert!(matches!(err, CloseError::PublicInputsMismatch), "{err}");
}

#[test]
fn a_snapshot_that_breaks_the_statement_is_refused_before_proving() {
    let dir = tempfile::tempdir().unwrap();
    let mut snap = snapshot2();
    snap.channels[1].received += 1; // Σ R ≠ Σ S
    let err = prove(&snap, dir.path()).unwrap_err();
    assert!(matches!(err, CloseError::Statement(_)), "{err}");
    assert!(
        key_files(dir.path()).is_empty(),
        "no keys for a refused snapshot"
    );
}
