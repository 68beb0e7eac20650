//! Range disclosure in zero knowledge (issue 17 items 2 and 5): a channel's received or
//! spent amount in an epoch proved to lie in `[min, max]` against the state roots the
//! settlement layer stored. The settlement layer and the hub's ledger are the real
//! model (two incremental closes, their proofs stubbed by their inputs as in the
//! settlement tests); the range proofs are real. Two real proofs in all (the shared
//! honest one and a cheating prover's); the other soundness cases run the circuit in
//! bellpepper's test constraint system.

#[path = "../../channel/tests/settlement_support.rs"]
mod support;

use std::sync::OnceLock;

use bellpepper_core::test_cs::TestConstraintSystem;
use channel::disclosure::{
    Disclosure, EpochDisclosure, PublishedRoots, SettledEpoch, SettledRoots,
};
use channel::field::Fe;
use channel::incremental::ClosedState;
use channel::state_tree::empty_root;
use closer::field::F;
use closer::range::circuit::{RangeAssignment, RangeCircuit, num_constraints};
use closer::range::file::{HEADER_LEN, MAX_FILE_BYTES, MAX_PROOF_LEN, VERSION};
use closer::range::prove::{generate, keys, prove_assignment};
use closer::range::{
    Counter, PreviousLeaf, RangeError, RangeProof, RangeStatement, RangeWitness, prove,
    settled_roots,
};
use ff::Field;
use support::*;

/// Three channels, two incremental closes: in epoch 1, 1 pays 2 100; in epoch 2, 1
/// pays 2 40 and 3 pays 2 25 (channel 2 receives 65 in epoch 2). Returns the world and
/// the closed states after epochs 1 and 2.
fn two_incremental_closes(second_payment: u64) -> (World, ClosedState, ClosedState) {
    let mut w = World::new(&[1_000, 10, 500]);
    let mut state = ClosedState::genesis(HUB_ID);
    w.pay(1, 2, 100);
    w.cut_and_close_incremental(1, &mut state);
    let first = state.clone();
    w.chain.advance(3).unwrap();
    w.pay(1, 2, second_payment);
    w.pay(3, 2, 25);
    w.cut_and_close_incremental(2, &mut state);
    (w, first, state)
}

fn epoch_disclosure(w: &World, state: &ClosedState, channel: u32) -> EpochDisclosure {
    let record = SettledEpoch::from_settlement(&w.chain, state.epoch).unwrap();
    EpochDisclosure::from_closed_state(record, state, channel).unwrap()
}

/// Channel `channel`'s disclosure of epoch 2 with epoch 1.
fn disclosure(w: &World, first: &ClosedState, second: &ClosedState, channel: u32) -> Disclosure {
    Disclosure::new(
        epoch_disclosure(w, second, channel),
        Some(epoch_disclosure(w, first, channel)),
    )
}

/// The statement "channel 2 received [60, 70] in epoch 2" and its witness.
fn honest() -> (World, RangeStatement, RangeWitness) {
    let (w, first, second) = two_incremental_closes(40);
    let (witness, root, prev_root) =
        RangeWitness::from_disclosure(&disclosure(&w, &first, &second, 2)).unwrap();
    let statement = RangeStatement {
        hub_id: HUB_ID,
        epoch: 2,
        channel: 2,
        counter: Counter::Received,
        min: 60,
        max: 70,
        root,
        prev_root,
    };
    (w, statement, witness)
}

/// The one honest proof the tests share.
fn shared_proof() -> &'static RangeProof {
    static PROOF: OnceLock<RangeProof> = OnceLock::new();
    PROOF.get_or_init(|| {
        let (_, statement, witness) = honest();
        prove(&statement, &witness).unwrap()
    })
}

/// Whether the circuit is satisfied by `assignment`, and the first failing constraint.
fn satisfied(assignment: RangeAssignment) -> (bool, Option<String>) {
    let mut cs = TestConstraintSystem::<F>::new();
    RangeCircuit::new(assignment)
        .synthesize_range(&mut cs)
        .unwrap();
    assert_eq!(cs.num_constraints(), num_constraints());
    (
        cs.is_satisfied(),
        cs.which_is_unsatisfied().map(String::from),
    )
}

#[test]
fn a_true_range_verifies_against_the_settled_roots() {
    let (w, statement, witness) = honest();
    assert_eq!(witness.amount(Counter::Received), Some(65));
    assert!(satisfied(RangeAssignment::new(&statement, &witness)).0);

    let proof = shared_proof();
    let bytes = proof.to_bytes();
    assert_eq!(bytes.len(), HEADER_LEN + proof.snark.len());
    let read = RangeProof::from_bytes(&bytes).unwrap();
    assert_eq!(&read, proof);
    let report = read.verify(&w.chain).unwrap();
    assert!(report.anchored);
    assert_eq!(
        (report.hub_id, report.channel, report.epoch, report.counter),
        (HUB_ID, 2, 2, Counter::Received)
    );
    assert_eq!((report.min, report.max), (60, 70));
    let text = report.to_string();
    assert!(text.contains("received between 60 and 70"), "{text}");
    assert!(
        text.split_whitespace().all(|word| word != "65"),
        "the amount is not printed: {text}"
    );
    // Roots copied from the settlement layer (no close kind) do as well.
    let published = PublishedRoots {
        hub_id: HUB_ID,
        roots: [1, 2]
            .map(|e| (e, w.chain.settled(HUB_ID, e).unwrap().root))
            .into(),
    };
    assert!(read.verify(&published).unwrap().anchored);
    // Unanchored, the report says so.
    assert!(!read.check().unwrap().anchored);
}

#[test]
fn a_range_proof_for_a_false_range_is_rejected() {
    let (_, statement, witness) = honest();
    // No witness: the prover refuses with a typed error, for every false bound.
    for (counter, min, max) in [
        (Counter::Received, 0, 64),
        (Counter::Received, 66, u64::MAX),
        (Counter::Spent, 1, u64::MAX),
    ] {
        let false_statement = RangeStatement {
            counter,
            min,
            max,
            ..statement
        };
        assert!(matches!(
            prove(&false_statement, &witness),
            Err(RangeError::FalseRange { .. })
        ));
    }
    let empty = RangeStatement {
        min: 70,
        max: 60,
        ..statement
    };
    assert!(matches!(
        prove(&empty, &witness),
        Err(RangeError::EmptyRange { .. })
    ));

    // A cheating prover who runs the circuit anyway: "received at most 64".
    let at_most_64 = RangeStatement {
        max: 64,
        ..statement
    };
    let cheat = RangeAssignment::new(&at_most_64, &witness);
    let (ok, failing) = satisfied(cheat.clone());
    assert!(!ok);
    assert!(failing.unwrap().starts_with("max - delta"));
    // Forcing the decomposition of max − Δ = −1: any 64 bits (all ones: 2^64 − 1, or
    // zero) leave the packing constraint unsatisfied, since −1 is p − 1 in the field.
    for forced in [F::ONE, F::ZERO] {
        let mut cs = TestConstraintSystem::<F>::new();
        RangeCircuit::new(cheat.clone())
            .synthesize_range(&mut cs)
            .unwrap();
        for i in 0..64 {
            cs.set(&format!("max - delta/bits/bit {i}/b/bit"), forced);
        }
        assert!(!cs.is_satisfied());
        assert_eq!(
            cs.which_is_unsatisfied(),
            Some("max - delta/packing"),
            "booleanity holds, only the packing fails"
        );
    }
    // And the proof a cheating prover gets out of Spartan2 does not verify.
    let keys = keys().unwrap();
    match prove_assignment(keys, cheat) {
        Err(RangeError::Prover(_)) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(snark) => {
            let forged = RangeProof {
                statement: at_most_64,
                key_digest: keys.digest,
                snark,
            };
            assert!(matches!(forged.check(), Err(RangeError::Invalid(_))));
        }
    }
}

#[test]
fn altered_public_inputs_fail_verification() {
    let proof = shared_proof();
    let s = proof.statement;
    let other = Fe::from(12345u64);
    for altered in [
        RangeStatement { min: 59, ..s },
        RangeStatement { min: 61, ..s },
        RangeStatement { max: 69, ..s },
        RangeStatement { max: 71, ..s },
        RangeStatement { channel: 3, ..s },
        RangeStatement { epoch: 3, ..s },
        RangeStatement {
            hub_id: HUB_ID + 1,
            ..s
        },
        RangeStatement {
            counter: Counter::Spent,
            ..s
        },
        RangeStatement { root: other, ..s },
        RangeStatement {
            prev_root: other,
            ..s
        },
    ] {
        let forged = RangeProof {
            statement: altered,
            ..proof.clone()
        };
        // Through the file, as a verifier reads it.
        let read = RangeProof::from_bytes(&forged.to_bytes()).unwrap();
        assert!(
            matches!(read.check(), Err(RangeError::PublicInputsMismatch)),
            "{altered:?}"
        );
    }
    // A damaged proof body fails to decode or to verify.
    let n = proof.snark.len();
    for at in [
        0,
        8,
        100,
        1_000,
        5_000,
        n / 4,
        n / 2,
        3 * n / 4,
        n - 1_000,
        n - 40,
        n - 1,
    ] {
        let mut damaged = proof.clone();
        damaged.snark[at] ^= 0x01;
        assert!(
            matches!(
                damaged.check(),
                Err(RangeError::Invalid(_) | RangeError::Malformed(_))
            ),
            "byte {at}"
        );
    }
}

#[test]
fn a_leaf_from_another_channel_epoch_or_hub_is_refused() {
    let (_, statement, honest_witness) = honest();
    let (w, first, second) = two_incremental_closes(40);
    // Channel 3's leaf (it spent 25, received nothing) presented as channel 2's.
    let (of_3, ..) = RangeWitness::from_disclosure(&disclosure(&w, &first, &second, 3)).unwrap();
    assert!(matches!(
        prove(&statement, &of_3),
        Err(RangeError::Witness(_))
    ));
    let relabelled = RangeWitness {
        channel: 2,
        ..of_3.clone()
    };
    let zero_range = RangeStatement {
        min: 0,
        max: 0,
        ..statement
    };
    assert!(matches!(
        prove(&zero_range, &relabelled),
        Err(RangeError::NotInTree { epoch: 2, .. })
    ));
    // In the circuit, at channel 2's position with its path: no root matches.
    let mut cheat = RangeAssignment::new(&zero_range, &honest_witness);
    let of_3_assignment = RangeAssignment::new(&zero_range, &relabelled);
    cheat.key = of_3_assignment.key;
    cheat.current = of_3_assignment.current;
    cheat.previous = of_3_assignment.previous;
    assert!(!satisfied(cheat).0);

    // Epoch 1's leaf of channel 2 as its epoch-2 leaf (received 0 "in epoch 2").
    let d = disclosure(&w, &first, &second, 2);
    let stale = RangeWitness::new(
        &d.previous.as_ref().unwrap().opening,
        honest_witness.previous.clone(),
    )
    .unwrap();
    assert!(matches!(
        prove(&zero_range, &stale),
        Err(RangeError::NotInTree { epoch: 2, .. })
    ));
    assert!(!satisfied(RangeAssignment::new(&zero_range, &stale)).0);

    // Another hub's leaf (same keys, channel 2 was paid 500 more there).
    let (other, other_first, other_second) = two_incremental_closes(540);
    let (foreign, ..) =
        RangeWitness::from_disclosure(&disclosure(&other, &other_first, &other_second, 2)).unwrap();
    let at_least_500 = RangeStatement {
        min: 500,
        max: u64::MAX,
        ..statement
    };
    assert!(matches!(
        prove(&at_least_500, &foreign),
        Err(RangeError::NotInTree { epoch: 2, .. })
    ));
    assert!(!satisfied(RangeAssignment::new(&at_least_500, &foreign)).0);
    // A proof relabelled to a hub the settlement layer does not know is refused.
    let relabelled = RangeProof {
        statement: RangeStatement {
            hub_id: HUB_ID + 1,
            ..shared_proof().statement
        },
        ..shared_proof().clone()
    };
    assert!(matches!(
        relabelled.verify(&w.chain),
        Err(RangeError::NotSettled { epoch: 2, .. })
    ));
}

#[test]
fn a_proof_against_a_root_the_settlement_layer_did_not_store_is_refused() {
    let proof = shared_proof();
    let (w, ..) = two_incremental_closes(40);
    let stored = |e| w.chain.settled(HUB_ID, e).unwrap().root;
    let roots = |r1: Option<Fe>, r2: Option<Fe>| PublishedRoots {
        hub_id: HUB_ID,
        roots: [(1, r1), (2, r2)]
            .into_iter()
            .filter_map(|(e, r)| Some((e, r?)))
            .collect(),
    };
    let forged = Fe::from(777u64);
    assert!(matches!(
        proof.verify(&roots(Some(stored(1)), Some(forged))),
        Err(RangeError::RootMismatch { epoch: 2, .. })
    ));
    assert!(matches!(
        proof.verify(&roots(Some(forged), Some(stored(2)))),
        Err(RangeError::RootMismatch { epoch: 1, .. })
    ));
    assert!(matches!(
        proof.verify(&roots(Some(stored(1)), None)),
        Err(RangeError::NotSettled { epoch: 2, .. })
    ));
    assert!(matches!(
        proof.verify(&roots(None, Some(stored(2)))),
        Err(RangeError::NotSettled { epoch: 1, .. })
    ));
    // A file whose roots were swapped for others (its proof is for the real ones).
    let moved = RangeProof {
        statement: RangeStatement {
            root: forged,
            ..proof.statement
        },
        ..proof.clone()
    };
    assert!(matches!(
        moved.verify(&w.chain),
        Err(RangeError::RootMismatch { epoch: 2, .. })
    ));
    // A hub that closes with full closes has no state root to prove against.
    let mut full = World::new(&[1_000, 10, 500]);
    full.pay(1, 2, 100);
    full.cut_and_close(1);
    full.chain.advance(3).unwrap();
    full.pay(1, 2, 40);
    full.cut_and_close(2);
    assert!(matches!(
        proof.verify(&full.chain),
        Err(RangeError::FullClose(_) | RangeError::RootMismatch { .. })
    ));
    assert!(matches!(
        settled_roots(&full.chain, HUB_ID, 2),
        Err(RangeError::FullClose(2))
    ));
}

#[test]
fn hostile_range_proof_files_get_typed_errors() {
    let bytes = shared_proof().to_bytes();
    let malformed = |b: &[u8]| matches!(RangeProof::from_bytes(b), Err(RangeError::Malformed(_)));
    // Truncated anywhere.
    for len in [0, 5, 9, 11, 60, HEADER_LEN - 1, HEADER_LEN, bytes.len() - 1] {
        assert!(malformed(&bytes[..len]), "truncated to {len}");
    }
    // A trailing byte.
    let mut long = bytes.clone();
    long.push(0);
    assert!(malformed(&long));
    // Length fields beyond the limit (refused before anything is allocated), or
    // claiming more than the file holds.
    for len in [MAX_PROOF_LEN as u32 + 1, u32::MAX, bytes.len() as u32] {
        let mut b = bytes.clone();
        b[144..148].copy_from_slice(&len.to_le_bytes());
        assert!(malformed(&b), "length {len}");
    }
    // A file beyond the limit.
    assert!(malformed(&vec![0u8; MAX_FILE_BYTES + 1]));
    // Wrong version, magic, tags, bounds, field elements.
    let mut b = bytes.clone();
    b[8..10].copy_from_slice(&(VERSION + 1).to_le_bytes());
    assert!(matches!(
        RangeProof::from_bytes(&b),
        Err(RangeError::UnsupportedVersion(v)) if v == VERSION + 1
    ));
    let edits: [(usize, &[u8]); 7] = [
        (0, b"ZKHUBCLS"),                  // another zkhub file's magic
        (10, &[2]),                        // counter tag
        (11, &[1]),                        // reserved
        (20, &0u64.to_le_bytes()),         // epoch 0
        (28, &(1u32 << 20).to_le_bytes()), // channel beyond the tree
        (32, &u64::MAX.to_le_bytes()),     // min > max
        (48, &[0xff; 32]),                 // a root ≥ p
    ];
    for (at, patch) in edits {
        let mut b = bytes.clone();
        b[at..at + patch.len()].copy_from_slice(patch);
        assert!(malformed(&b), "patch at {at}");
    }
    // A well-formed header over a proof body that is not one.
    let mut garbage = bytes.clone();
    garbage[HEADER_LEN..].fill(0xa5);
    let read = RangeProof::from_bytes(&garbage).unwrap();
    assert!(matches!(
        read.check(),
        Err(RangeError::Malformed(_) | RangeError::Invalid(_))
    ));
    // A proof naming another verifier key.
    let mut b = bytes.clone();
    b[112] ^= 1;
    assert!(matches!(
        RangeProof::from_bytes(&b).unwrap().check(),
        Err(RangeError::KeyMismatch { .. })
    ));
}

#[test]
fn a_fresh_channel_proves_from_the_empty_leaf_and_only_a_fresh_one() {
    let mut w = World::new(&[1_000, 10, 500]);
    let mut state = ClosedState::genesis(HUB_ID);
    w.pay(1, 2, 100);
    w.cut_and_close_incremental(1, &mut state);
    let first = state.clone();
    // Epoch 1: every channel is fresh; the tree before is the empty tree.
    let d1 = Disclosure::new(epoch_disclosure(&w, &first, 2), None);
    let (witness, root, prev_root) = RangeWitness::from_disclosure(&d1).unwrap();
    assert_eq!(prev_root, empty_root());
    assert_eq!(
        settled_roots(&w.chain, HUB_ID, 1).unwrap(),
        (root, prev_root)
    );
    let exactly_100 = RangeStatement {
        hub_id: HUB_ID,
        epoch: 1,
        channel: 2,
        counter: Counter::Received,
        min: 100,
        max: 100,
        root,
        prev_root,
    };
    witness.check(&exactly_100).unwrap();
    assert!(satisfied(RangeAssignment::new(&exactly_100, &witness)).0);

    // Channel 4 opens during epoch 2 and is paid 30: its leaf in epoch 1's tree is the
    // empty leaf, whose path the closed state gives.
    w.chain.advance(3).unwrap();
    let four = w.open(200);
    w.mirror();
    w.pay(1, four, 30);
    w.cut_and_close_incremental(2, &mut state);
    let current = epoch_disclosure(&w, &state, four);
    let empty_path = first.tree.path(four).unwrap();
    let witness = RangeWitness::new(&current.opening, PreviousLeaf::Empty(empty_path)).unwrap();
    let (root, prev_root) = settled_roots(&w.chain, HUB_ID, 2).unwrap();
    let received_30 = RangeStatement {
        epoch: 2,
        channel: four,
        min: 30,
        max: 30,
        root,
        prev_root,
        ..exactly_100
    };
    witness.check(&received_30).unwrap();
    assert!(satisfied(RangeAssignment::new(&received_30, &witness)).0);
    // Without the epoch before, a disclosure of epoch 2 cannot make the witness.
    let d = Disclosure::new(current, None);
    assert!(matches!(
        RangeWitness::from_disclosure(&d),
        Err(RangeError::Witness(_))
    ));

    // Cheat: channel 2 (which had a leaf with R = 100 in epoch 1) claims to be fresh,
    // so that its cumulative 100 would count as received in epoch 2.
    let d2 = Disclosure::new(
        epoch_disclosure(&w, &state, 2),
        Some(epoch_disclosure(&w, &first, 2)),
    );
    let (honest_2, ..) = RangeWitness::from_disclosure(&d2).unwrap();
    let PreviousLeaf::Opened(_, path) = honest_2.previous.clone() else {
        panic!("channel 2 had a leaf in epoch 1")
    };
    let fresh_claim = RangeWitness {
        previous: PreviousLeaf::Empty(path),
        ..honest_2
    };
    let at_least_100 = RangeStatement {
        channel: 2,
        min: 100,
        max: u64::MAX,
        ..received_30
    };
    assert!(matches!(
        prove(&at_least_100, &fresh_claim),
        Err(RangeError::NotInTree { epoch: 1, .. })
    ));
    assert!(!satisfied(RangeAssignment::new(&at_least_100, &fresh_claim)).0);
    // Nor can a fresh flag zero out a real previous leaf's counters: with the leaf's
    // real values and fresh = 1, S' and R' must be zero.
    let (honest_2, ..) = RangeWitness::from_disclosure(&d2).unwrap();
    let mut cheat = RangeAssignment::new(&at_least_100, &honest_2);
    cheat.fresh = F::ONE;
    assert!(!satisfied(cheat).0);
}

#[test]
fn the_setup_is_deterministic() {
    assert_eq!(generate().unwrap().digest, keys().unwrap().digest);
}
