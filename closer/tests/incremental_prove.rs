//! Real proofs of the incremental close: two epochs proved and verified from their
//! files, and every altered input, swapped statement, replayed epoch or damaged file
//! refused.

mod common;

use channel::Fe;
use channel::incremental::ClosedState;
use closer::proof_file::header_len;
use closer::{CloseError, CloseProof, Layout, NoProgress, TransitionProof, Verifier};
use common::{HUB, epoch1, epoch2};

#[test]
fn two_epochs_prove_and_verify_and_tampering_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (w1, state1) = ClosedState::genesis(HUB)
        .close(&epoch1(), &closer::testing::volume_blind())
        .unwrap();
    let (w2, _) = state1
        .close(&epoch2(), &closer::testing::volume_blind())
        .unwrap();
    let p1 = closer::prove_transition(&w1, dir.path(), &NoProgress).expect("prove epoch 1");
    let p2 = closer::prove_transition(&w2, dir.path(), &NoProgress).expect("prove epoch 2");
    assert_eq!(p1.layout, Layout::for_touched(5).unwrap());
    assert_eq!(p2.layout, Layout::for_touched(4).unwrap());

    let verifier = Verifier::new(dir.path());
    for (p, w) in [(&p1, &w1), (&p2, &w2)] {
        let bytes = p.to_bytes();
        println!(
            "epoch {}: {} touched, {} bytes",
            w.inputs.epoch,
            w.inputs.n,
            bytes.len()
        );
        let verified = verifier.verify_transition_file(&bytes).expect("verify");
        assert_eq!(verified.inputs, w.inputs);
    }
    // Epoch 2 starts where epoch 1 ended.
    assert_eq!(p2.inputs.prev_root, p1.inputs.new_root);

    // Every public input is bound.
    for field in 0..6 {
        let mut altered = p2.clone();
        let one = Fe::from(1u64);
        match field {
            0 => altered.inputs.hub_id += 1,
            1 => altered.inputs.epoch += 1,
            2 => altered.inputs.n -= 1, // 3 touched: the same layout
            3 => altered.inputs.prev_root += one,
            4 => altered.inputs.new_root += one,
            _ => altered.inputs.deposits_hash += one,
        }
        assert_eq!(
            altered.layout,
            Layout::for_touched(altered.inputs.n).unwrap()
        );
        let err = verifier
            .verify_transition_file(&altered.to_bytes())
            .unwrap_err();
        assert!(
            matches!(
                err,
                CloseError::PublicInputsMismatch | CloseError::Invalid(_)
            ),
            "field {field}: {err}"
        );
    }

    // Epoch 2's proof replayed as if it extended the empty tree (epoch 1's start).
    let mut replayed = p2.clone();
    replayed.inputs.prev_root = w1.inputs.prev_root;
    assert!(verifier.verify_transition(&replayed).is_err());

    // A full-close reader refuses an incremental file, and the reverse.
    let bytes = p2.to_bytes();
    assert!(matches!(
        CloseProof::from_bytes(&bytes),
        Err(CloseError::Malformed(_))
    ));
    let mut full_tag = bytes.clone();
    full_tag[10] = 0;
    assert!(TransitionProof::from_bytes(&full_tag).is_err());

    // Damaged files.
    let header = header_len(closer::layout::Statement::Incremental);
    let mut flipped = bytes.clone();
    flipped[header + 100] ^= 0x20;
    assert!(verifier.verify_transition_file(&flipped).is_err());
    assert!(
        verifier
            .verify_transition_file(&bytes[..bytes.len() - 1])
            .is_err()
    );
    let mut other_layout = bytes.clone();
    other_layout[16..20].copy_from_slice(&(1u32 << 20).to_le_bytes());
    assert!(matches!(
        TransitionProof::from_bytes(&other_layout),
        Err(CloseError::WrongShape { .. })
    ));
}

#[test]
fn a_verifier_without_the_key_makes_none() {
    let keys = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let (w1, _) = ClosedState::genesis(HUB)
        .close(&epoch1(), &closer::testing::volume_blind())
        .unwrap();
    let proof = closer::prove_transition(&w1, keys.path(), &NoProgress).unwrap();
    let err = Verifier::new(empty.path())
        .verify_transition_file(&proof.to_bytes())
        .unwrap_err();
    assert!(matches!(err, CloseError::MissingKey { .. }), "{err}");
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
}
