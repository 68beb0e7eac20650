//! The operator's attestation of an epoch's volume (docs/DESIGN.md §11) against the
//! commitment the settlement layer stored with each accepted close, both statements.
//! Proofs are stubbed (the inputs' JSON); `closer/tests` prove the commitment for real.

#[path = "settlement_support.rs"]
mod support;

use channel::Fe;
use channel::incremental::ClosedState;
use channel::settlement::CloseKind;
use channel::volume::{
    AttestationError, SettledVolume, VolumeAttestation, epoch_volume, volume_commitment,
};
use support::*;

#[test]
fn the_settlement_layer_keeps_each_closes_volume_commitment_and_an_attestation_opens_it() {
    let mut w = World::new(&[1_000, 10, 500, 70]);
    let mut state = ClosedState::genesis(HUB_ID);
    w.pay(1, 2, 100);
    w.pay(3, 2, 50);
    let first = w.cut_and_close_incremental(1, &mut state);
    let snapshot1 = w.snapshot(1);
    w.pay(1, 2, 200);
    let second = w.cut_and_close_incremental(2, &mut state);
    let snapshots = [snapshot1, w.snapshot(2)];
    assert_eq!(
        (first.volume, second.volume),
        (150, 200),
        "each epoch's own volume"
    );

    for (epoch, witness) in [(1, &first), (2, &second)] {
        let settled = SettledVolume::from_settlement(&w.chain, epoch).expect("accepted");
        assert_eq!(settled.volume_commitment, witness.inputs.volume_commitment);
        assert_eq!(settled.kind, CloseKind::Incremental);
        // What the operator computes from its snapshots, with its seed.
        let i = epoch as usize - 1;
        let previous = i.checked_sub(1).map(|p| &snapshots[p]);
        let volume = epoch_volume(settled.kind, &snapshots[i], previous);
        assert_eq!(volume, witness.volume);
        let a = VolumeAttestation::from_seed(HUB_ID, epoch, settled.kind, volume, &w.blind_seed);
        let report = a
            .verify_on(&w.chain)
            .expect("the operator's attestation holds");
        assert_eq!(report.volume, witness.volume);
    }
}

#[test]
fn a_full_close_attests_the_cumulative_volume() {
    let mut w = World::new(&[1_000, 10, 500]);
    w.pay(1, 2, 100);
    w.cut_and_close(1);
    w.pay(3, 2, 40);
    let snap = w.cut_and_close(2);
    let volume = epoch_volume(CloseKind::Full, &snap, None);
    assert_eq!(volume, 140, "Σ S since the hub began");
    let a = VolumeAttestation::from_seed(HUB_ID, 2, CloseKind::Full, volume, &w.blind_seed);
    assert_eq!(a.verify_on(&w.chain).expect("holds").volume, 140);
    // The epoch's own volume is not what a full close commits to.
    let own = VolumeAttestation { volume: 40, ..a };
    assert!(matches!(
        own.verify_on(&w.chain),
        Err(AttestationError::CommitmentMismatch { .. })
    ));
}

#[test]
fn an_attestation_against_a_settlement_record_from_another_hub_is_refused() {
    let mut w = World::new(&[1_000, 10]);
    let mut state = ClosedState::genesis(HUB_ID);
    w.pay(1, 2, 100);
    w.cut_and_close_incremental(1, &mut state);
    // Another hub's operator attests the same epoch with this hub's very commitment
    // opening (it copied V and rv): the record is this hub's, not its own.
    let honest =
        VolumeAttestation::from_seed(HUB_ID, 1, CloseKind::Incremental, 100, &w.blind_seed);
    honest.verify_on(&w.chain).expect("holds for this hub");
    let other = VolumeAttestation {
        hub_id: HUB_ID + 1,
        ..honest.clone()
    };
    assert_eq!(
        other.verify_on(&w.chain),
        Err(AttestationError::WrongHub {
            attested: HUB_ID + 1,
            settled: HUB_ID
        })
    );
    // And this hub's attestation against a record another hub's layer stored.
    let foreign = SettledVolume {
        hub_id: HUB_ID + 1,
        ..SettledVolume::from_settlement(&w.chain, 1).unwrap()
    };
    assert!(matches!(
        honest.verify(&foreign),
        Err(AttestationError::WrongHub { .. })
    ));
    // An epoch with no accepted close.
    let later = VolumeAttestation { epoch: 2, ..honest };
    assert!(matches!(
        later.verify_on(&w.chain),
        Err(AttestationError::NotSettled { epoch: 2, .. })
    ));
    // A commitment that is not the stored one never opens.
    assert_ne!(
        volume_commitment(100, &Fe::from(0u64)),
        SettledVolume::from_settlement(&w.chain, 1)
            .unwrap()
            .volume_commitment
    );
}
