//! Channel disclosures (issue 17): a channel's leaf of an accepted close opened for an
//! auditor and checked against the root the settlement layer stored, for both close
//! kinds; every forgery the issue names is refused by a named test, and hostile files
//! get typed errors. The settlement layer and the hub's ledger are the real model
//! (proofs stubbed by their inputs, as in the other settlement tests).

#[path = "settlement_support.rs"]
mod support;

use channel::disclosure::{
    Disclosure, DisclosureError, EpochDisclosure, MAX_FILE_BYTES, PublishedRoots, SettledEpoch,
};
use channel::field::Fe;
use channel::incremental::ClosedState;
use channel::ledger::Snapshot;
use channel::settlement::CloseKind;
use support::*;

/// Three channels, two full closes: 1 pays 2 in both epochs, 3 pays 2 in the second.
fn two_full_closes() -> (World, Snapshot, Snapshot) {
    let mut w = World::new(&[1_000, 10, 500]);
    w.pay(1, 2, 100);
    let first = w.cut_and_close(1);
    w.chain.advance(3).unwrap();
    w.pay(1, 2, 40);
    w.pay(3, 2, 25);
    let second = w.cut_and_close(2);
    (w, first, second)
}

fn full_epoch(w: &World, snap: &Snapshot, id: u32) -> EpochDisclosure {
    let record = SettledEpoch::from_settlement(&w.chain, snap.epoch).unwrap();
    EpochDisclosure::from_snapshot(record, snap, id).unwrap()
}

fn full_disclosure() -> (World, Disclosure) {
    let (w, first, second) = two_full_closes();
    let d = Disclosure::new(full_epoch(&w, &second, 2), Some(full_epoch(&w, &first, 2)));
    (w, d)
}

/// Three channels, two incremental closes (same payments); returns the disclosure of
/// channel 2 in epoch 2 with epoch 1.
fn incremental_disclosure() -> (World, Disclosure) {
    let mut w = World::new(&[1_000, 10, 500]);
    let mut state = ClosedState::genesis(HUB_ID);
    w.pay(1, 2, 100);
    w.cut_and_close_incremental(1, &mut state);
    let record = SettledEpoch::from_settlement(&w.chain, 1).unwrap();
    let first = EpochDisclosure::from_closed_state(record, &state, 2).unwrap();
    w.chain.advance(3).unwrap();
    w.pay(1, 2, 40);
    w.pay(3, 2, 25);
    w.cut_and_close_incremental(2, &mut state);
    let record = SettledEpoch::from_settlement(&w.chain, 2).unwrap();
    let second = EpochDisclosure::from_closed_state(record, &state, 2).unwrap();
    (w, Disclosure::new(second, Some(first)))
}

fn refused(w: &World, d: &Disclosure) -> DisclosureError {
    d.verify(&w.chain)
        .expect_err("the disclosure must be refused")
}

#[test]
fn a_full_close_disclosure_verifies_and_states_the_epochs_amounts() {
    let (w, d) = full_disclosure();
    let report = d.verify(&w.chain).unwrap();
    assert!(report.anchored);
    assert_eq!(
        (report.hub_id, report.channel, report.epoch),
        (HUB_ID, 2, 2)
    );
    assert_eq!(report.kind, CloseKind::Full);
    assert_eq!(report.pk, w.pk(2));
    assert_eq!(
        (report.received, report.spent, report.balance),
        (165, 0, 175)
    );
    assert_eq!(report.net_deposit, None);
    let epoch = report.in_epoch.unwrap();
    assert_eq!((epoch.since, epoch.received, epoch.spent), (1, 65, 0));
    assert_eq!(
        report.root,
        w.chain
            .epoch(2)
            .unwrap()
            .close
            .as_ref()
            .unwrap()
            .balances_root
    );
    // The file round-trips, and check() alone says it is not anchored.
    let back = Disclosure::from_json(&d.to_json()).unwrap();
    assert_eq!(back, d);
    assert!(!back.check().unwrap().anchored);
    // The payer's side: spent in the epoch.
    let (w, first, second) = two_full_closes();
    let payer = Disclosure::new(full_epoch(&w, &second, 1), Some(full_epoch(&w, &first, 1)));
    let epoch = payer.verify(&w.chain).unwrap().in_epoch.unwrap();
    assert_eq!((epoch.received, epoch.spent), (0, 40));
}

#[test]
fn an_incremental_close_disclosure_verifies_against_the_state_root() {
    let (w, d) = incremental_disclosure();
    let report = d.verify(&w.chain).unwrap();
    assert_eq!(report.kind, CloseKind::Incremental);
    assert_eq!((report.received, report.balance), (165, 175));
    assert_eq!(report.net_deposit, Some(10));
    let epoch = report.in_epoch.unwrap();
    assert_eq!((epoch.received, epoch.spent), (65, 0));
    let back = Disclosure::from_json(&d.to_json()).unwrap();
    assert_eq!(back.verify(&w.chain).unwrap(), report);
}

#[test]
fn a_single_epoch_disclosure_states_cumulative_amounts_only() {
    let (w, mut d) = full_disclosure();
    d.previous = None;
    let report = d.verify(&w.chain).unwrap();
    assert_eq!(report.in_epoch, None);
    assert_eq!(report.received, 165);
}

#[test]
fn a_wrong_path_is_rejected() {
    for (w, d) in [full_disclosure(), incremental_disclosure()] {
        // A sibling changed.
        let mut bad = d.clone();
        match &mut bad.epoch.opening.state {
            None => bad.epoch.opening.proof.siblings[0] += Fe::from(1u64),
            Some(s) => s.path.siblings[3][1] += Fe::from(1u64),
        }
        assert_eq!(refused(&w, &bad), DisclosureError::NotInTree { epoch: 2 });
        // Another channel's path under this channel's leaf.
        let mut bad = d.clone();
        match &mut bad.epoch.opening.state {
            None => {
                let (w3, _, second) = two_full_closes();
                bad.epoch.opening.proof = full_epoch(&w3, &second, 3).opening.proof;
            }
            Some(s) => s.path = other_channel_incremental(3).state.unwrap().path,
        }
        let err = refused(&w, &bad);
        assert!(
            matches!(
                err,
                DisclosureError::NotInTree { .. } | DisclosureError::WrongIndex { .. }
            ),
            "{err}"
        );
        // The leaf claimed at another index.
        let mut bad = d.clone();
        bad.epoch.opening.index += 1;
        assert!(matches!(
            refused(&w, &bad),
            DisclosureError::WrongIndex { .. }
        ));
    }
}

fn other_channel_incremental(id: u32) -> channel::statement::BalanceOpening {
    let mut w = World::new(&[1_000, 10, 500]);
    let mut state = ClosedState::genesis(HUB_ID);
    w.pay(1, 2, 100);
    w.cut_and_close_incremental(1, &mut state);
    w.chain.advance(3).unwrap();
    w.pay(1, 2, 40);
    w.pay(3, 2, 25);
    w.cut_and_close_incremental(2, &mut state);
    state.balance_opening(id).unwrap()
}

#[test]
fn a_leaf_from_another_epoch_is_rejected() {
    for (w, d) in [full_disclosure(), incremental_disclosure()] {
        let previous = d.previous.clone().unwrap();
        // Epoch 1's leaf under epoch 2's record, as it is.
        let mut bad = d.clone();
        bad.epoch.opening = previous.opening.clone();
        assert_eq!(
            refused(&w, &bad),
            DisclosureError::WrongEpoch {
                epoch: 2,
                opened: 1
            }
        );
        // Relabelled as epoch 2: it is not under epoch 2's root.
        bad.epoch.opening.epoch = 2;
        assert_eq!(refused(&w, &bad), DisclosureError::NotInTree { epoch: 2 });
        // Epoch 1's whole record presented as epoch 2's: the settlement layer's root
        // of epoch 2 is another.
        let mut bad = d.clone();
        bad.epoch = previous.clone();
        bad.epoch.record.epoch = 2;
        bad.epoch.opening.epoch = 2;
        bad.previous = None;
        assert!(matches!(
            refused(&w, &bad),
            DisclosureError::RootMismatch { epoch: 2, .. }
        ));
        // The two epochs in the wrong order.
        let mut bad = d.clone();
        bad.previous = Some(d.epoch.clone());
        bad.epoch = previous;
        assert!(matches!(
            refused(&w, &bad),
            DisclosureError::NotConsecutive {
                epoch: 1,
                previous: 2
            }
        ));
    }
}

#[test]
fn a_leaf_from_another_hub_is_rejected() {
    // Another hub with the same channel keys and a larger payment to channel 2.
    let mut other = World::new(&[1_000, 10, 500]);
    other.blind_seed = Fe::from(99u64);
    other.pay(1, 2, 900);
    let first = other.cut_and_close(1);
    other.chain.advance(3).unwrap();
    other.pay(3, 2, 400);
    let second = other.cut_and_close(2);
    let foreign = full_epoch(&other, &second, 2);
    assert_eq!(foreign.opening.received, 1_300);
    let _ = first;

    let (w, d) = full_disclosure();
    // Its leaf and path under this hub's record: not in this hub's root.
    let mut bad = d.clone();
    bad.epoch.opening = foreign.opening.clone();
    assert_eq!(refused(&w, &bad), DisclosureError::NotInTree { epoch: 2 });
    // Its whole record, consistent in itself, checked against this hub's settlement.
    let mut bad = d.clone();
    bad.epoch = foreign.clone();
    bad.previous = None;
    assert!(bad.check().is_ok(), "consistent with its own root");
    assert!(matches!(
        refused(&w, &bad),
        DisclosureError::RootMismatch { epoch: 2, .. }
    ));
    // Labelled as a hub the auditor's roots do not cover.
    let mut bad = d;
    bad.epoch = foreign;
    bad.epoch.record.hub_id = HUB_ID + 1;
    bad.previous = None;
    let roots = PublishedRoots {
        hub_id: HUB_ID,
        roots: [(2, bad.epoch.record.root)].into(),
    };
    assert_eq!(
        bad.verify(&roots),
        Err(DisclosureError::NotSettled {
            hub_id: HUB_ID + 1,
            epoch: 2
        })
    );
}

/// One way to alter a disclosure.
type Alteration = fn(&mut Disclosure);

#[test]
fn an_altered_amount_is_rejected() {
    for (w, d) in [full_disclosure(), incremental_disclosure()] {
        let alterations: [(&str, Alteration); 5] = [
            ("received", |d| d.epoch.opening.received += 1),
            ("spent", |d| d.epoch.opening.spent += 1),
            ("balance", |d| d.epoch.opening.balance += 1),
            ("received before", |d| {
                d.previous.as_mut().unwrap().opening.received -= 1
            }),
            ("net deposit", |d| match &mut d.epoch.opening.state {
                Some(s) => s.net_deposit += 1,
                None => d.epoch.opening.received -= 1,
            }),
        ];
        for (what, alter) in alterations {
            let mut bad = d.clone();
            alter(&mut bad);
            let err = refused(&w, &bad);
            assert!(
                matches!(err, DisclosureError::NotInTree { .. }),
                "{what}: {err}"
            );
        }
    }
}

#[test]
fn a_blind_from_another_channel_is_rejected() {
    let (w, first, second) = two_full_closes();
    let mut bad = Disclosure::new(full_epoch(&w, &second, 2), None);
    bad.epoch.opening.blind = full_epoch(&w, &second, 1).opening.blind;
    assert_eq!(refused(&w, &bad), DisclosureError::NotInTree { epoch: 2 });
    // Its own blind of another epoch.
    bad.epoch.opening.blind = full_epoch(&w, &first, 2).opening.blind;
    assert_eq!(refused(&w, &bad), DisclosureError::NotInTree { epoch: 2 });

    let (w, d) = incremental_disclosure();
    let mut bad = d;
    bad.epoch.opening.blind = other_channel_incremental(1).blind;
    assert_eq!(refused(&w, &bad), DisclosureError::NotInTree { epoch: 2 });
}

#[test]
fn a_root_the_settlement_layer_did_not_store_is_rejected() {
    // A hub forging a consistent file: its own tree with an inflated amount.
    let (w, _, second) = two_full_closes();
    let mut inflated = second.clone();
    inflated.channels[1].received += 1_000;
    inflated.channels[0].spent += 1_000;
    inflated.channels[0].deposit += 1_000;
    let record = SettledEpoch {
        root: channel::statement::BalanceTree::from_snapshot(&inflated)
            .unwrap()
            .public()
            .balances_root,
        ..SettledEpoch::from_settlement(&w.chain, 2).unwrap()
    };
    let forged = Disclosure::new(
        EpochDisclosure::from_snapshot(record, &inflated, 2).unwrap(),
        None,
    );
    assert_eq!(forged.check().unwrap().received, 1_165);
    assert!(matches!(
        refused(&w, &forged),
        DisclosureError::RootMismatch { epoch: 2, .. }
    ));
    // Published roots an auditor copied: the same verdicts.
    let roots = PublishedRoots {
        hub_id: HUB_ID,
        roots: [(
            2,
            w.chain
                .epoch(2)
                .unwrap()
                .close
                .as_ref()
                .unwrap()
                .balances_root,
        )]
        .into(),
    };
    assert!(matches!(
        forged.verify(&roots),
        Err(DisclosureError::RootMismatch { .. })
    ));
    let honest = Disclosure::new(full_epoch(&w, &second, 2), None);
    assert!(honest.verify(&roots).unwrap().anchored);
}

#[test]
fn a_close_kind_other_than_the_settled_one_is_rejected() {
    let (w, d) = full_disclosure();
    let mut bad = d;
    bad.epoch.record.kind = CloseKind::Incremental;
    assert!(matches!(
        bad.verify(&w.chain),
        Err(DisclosureError::WrongTree { .. })
    ));
}

#[test]
fn an_epoch_not_yet_closed_is_rejected() {
    let (mut w, d) = full_disclosure();
    // Epoch 3 is cut but not closed: a disclosure naming it has nothing to check against.
    w.chain.advance(6).unwrap();
    w.mirror();
    w.chain.cut_epoch(3).unwrap();
    let mut bad = d.clone();
    bad.previous = Some(d.epoch.clone());
    bad.epoch.record.epoch = 3;
    bad.epoch.opening.epoch = 3;
    assert_eq!(
        refused(&w, &bad),
        DisclosureError::NotSettled {
            hub_id: HUB_ID,
            epoch: 3
        }
    );
}

#[test]
fn a_channel_other_than_the_named_one_is_rejected() {
    let (w, mut d) = full_disclosure();
    d.channel = 1;
    assert!(matches!(
        refused(&w, &d),
        DisclosureError::WrongChannel {
            channel: 1,
            opened: 2,
            ..
        }
    ));
}

/// What error a hostile file must get.
type Expected = fn(&DisclosureError) -> bool;

#[test]
fn hostile_files_get_typed_errors() {
    let (_, d) = full_disclosure();
    let good = String::from_utf8(d.to_json()).unwrap();
    let too_long = vec![b' '; MAX_FILE_BYTES + 1];
    assert!(matches!(
        Disclosure::from_json(&too_long),
        Err(DisclosureError::TooLarge { .. })
    ));
    let cases: Vec<(String, Expected)> = vec![
        (good[..good.len() / 2].into(), |e| {
            matches!(e, DisclosureError::Malformed(_))
        }),
        (good.replace("zkhub/disclosure", "zkhub/other"), |e| {
            matches!(e, DisclosureError::WrongFormat(_))
        }),
        (good.replace("\"version\": 1", "\"version\": 2"), |e| {
            *e == DisclosureError::UnsupportedVersion(2)
        }),
        (
            good.replacen("\"channel\": 2", "\"channel\": 2, \"extra\": 1", 1),
            |e| matches!(e, DisclosureError::Malformed(_)),
        ),
        (
            // A root ≥ p (not canonical).
            {
                let root = channel::field::fe_to_dec(&d.epoch.record.root);
                // The BN254 scalar field modulus p.
                let p =
                    "21888242871839275222246405745257275088548364400416034343698204186575808495617";
                good.replacen(&root, p, 1)
            },
            |e| matches!(e, DisclosureError::Malformed(_)),
        ),
        ("[]".into(), |e| matches!(e, DisclosureError::Malformed(_))),
        ("{\"format\":1}".into(), |e| {
            matches!(e, DisclosureError::Malformed(_))
        }),
        (good.replace("\"received\": 165", "\"received\": -1"), |e| {
            matches!(e, DisclosureError::Malformed(_))
        }),
    ];
    for (text, expected) in cases {
        let err = Disclosure::from_json(text.as_bytes()).unwrap_err();
        assert!(expected(&err), "unexpected error: {err}");
    }
    // A path longer than any tree stays within the file limit and simply fails.
    let mut long = d.clone();
    long.epoch.opening.proof.siblings = vec![Fe::from(1u64); 200];
    let parsed = Disclosure::from_json(&long.to_json()).unwrap();
    assert!(parsed.check().is_err());
}

#[test]
fn the_disclosure_request_and_its_reply_round_trip_on_the_wire() {
    use channel::codec::{
        ClientMessage, DisclosureRequest, Id, Reply, Request, ServerMessage, TextLimits,
    };
    let limits = TextLimits {
        max_message_bytes: 1 << 20,
        max_vouchers: 64,
    };
    let text = r#"{"jsonrpc":"2.0","id":3,"method":"disclosure","params":{"epoch":2}}"#;
    let request = ClientMessage::Request {
        id: Id::Num(3),
        request: Request::Disclosure(DisclosureRequest {
            epoch: 2,
            previous: true,
        }),
    };
    assert_eq!(ClientMessage::decode(text, &limits), Ok(request.clone()));
    assert_eq!(
        ClientMessage::decode(&request.to_text(), &limits),
        Ok(request)
    );
    let unknown =
        r#"{"jsonrpc":"2.0","id":3,"method":"disclosure","params":{"epoch":2,"channel":1}}"#;
    assert!(
        ClientMessage::decode(unknown, &limits).is_err(),
        "no channel: the session's"
    );

    let (_, d) = full_disclosure();
    let reply = ServerMessage::Response {
        id: Id::Num(3),
        result: Ok(Reply::Disclosure(Box::new(d))),
    };
    assert_eq!(ServerMessage::decode(&reply.to_text()), Ok(reply));
}
