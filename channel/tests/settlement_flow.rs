//! Settlement layer, normal operation: registration, deposits, cuts, closes, exit and
//! withdrawal, with a hub ledger mirroring every event through the real batch path and
//! openings built from real snapshots with real signatures.

#[path = "settlement_support.rs"]
mod support;

use channel::field::Fe;
use channel::settlement::{
    InputField, OpeningFault, Params, PayoutKind, Settlement, SettlementError,
};
use channel::statement::{CloseWitness, PublicInputs, deposit_leaf, slot_count};
use support::*;

#[test]
fn happy_path_deposit_pay_close_exit_withdraw() {
    // 1: payer, 2: payee, 3: another payer.
    let mut w = World::new(&[1_000, 10, 500]);
    w.pay(1, 2, 100);
    w.pay(1, 2, 200);
    w.pay(3, 2, 50);
    let snap1 = w.cut_and_close(1);

    // Alice (1) exits; the hub mirrors it and the next close includes her final state.
    w.chain.request_exit(1, &w.exit_sig(1)).unwrap();
    w.mirror();
    assert!(w.ledger.records()[0].exiting);
    // An opening of close 1 is refused: the exit came after that cut.
    let old = w.opening(&snap1, 1);
    assert_eq!(
        w.chain.withdraw(1, &old),
        Err(SettlementError::NoCloseSinceExit(1))
    );

    w.chain.advance(3).unwrap();
    let snap2 = w.cut_and_close(2);
    let opening = w.opening(&snap2, 1);
    assert_eq!(opening.balance, 700);
    assert_eq!(w.chain.withdraw(1, &opening), Ok(700));
    w.chain.check_invariants();
    assert_eq!(w.chain.channel(1).unwrap().net_deposit, 300);
    assert_eq!(w.chain.totals().paid_out, 700);
    assert_eq!(
        w.chain.payouts().last().unwrap().kind,
        PayoutKind::Withdrawal { epoch: 2 }
    );

    // The hub mirrors the withdrawal: Alice's balance is now 0 and the next cut agrees.
    w.mirror();
    let alice = w.ledger.records()[0].clone();
    assert_eq!((alice.deposit, alice.balance()), (300, Some(0)));
    w.chain.advance(5).unwrap();
    let snap3 = w.cut_and_close(3);
    assert_eq!(w.opening(&snap3, 1).balance, 0);
    // Value: Σ B in the last close equals what the layer still holds for channels.
    let held: i128 = (1..=3)
        .map(|i| w.chain.channel(i).unwrap().net_deposit)
        .sum();
    let balances: u64 = snap3.channels.iter().map(|c| c.balance().unwrap()).sum();
    assert_eq!(held, i128::from(balances));
}

#[test]
fn second_withdrawal_from_the_same_close_is_refused() {
    let mut w = World::new(&[1_000, 10]);
    w.pay(1, 2, 100);
    w.chain.request_exit(1, &w.exit_sig(1)).unwrap();
    let snap = w.cut_and_close(1);
    let opening = w.opening(&snap, 1);
    assert_eq!(w.chain.withdraw(1, &opening), Ok(900));
    let before = w.chain.clone();
    assert_eq!(
        w.chain.withdraw(1, &opening),
        Err(SettlementError::AlreadyWithdrawn {
            channel: 1,
            epoch: 1
        })
    );
    assert_eq!(w.chain, before, "a refused operation changes nothing");
    // Withdrawal needs the latest cut: once epoch 2 is cut, close 1 is stale.
    w.mirror();
    w.chain.cut_epoch(2).unwrap();
    assert_eq!(
        w.chain.withdraw(1, &opening),
        Err(SettlementError::StaleOpening { latest: 2, got: 1 })
    );
}

#[test]
fn withdrawal_rules() {
    let mut w = World::new(&[1_000, 10]);
    w.pay(1, 2, 100);
    let snap = w.cut_and_close(1);
    let opening = w.opening(&snap, 1);
    // No exit request.
    assert_eq!(
        w.chain.withdraw(1, &opening),
        Err(SettlementError::NotExiting(1))
    );
    // Exit needs the channel key's signature, over this channel and hub.
    assert_eq!(
        w.chain.request_exit(1, &w.exit_sig(2)),
        Err(SettlementError::BadSignature)
    );
    let wrong_channel = w.keys[0].sign(&channel::settlement::exit_message(HUB_ID, 2));
    assert_eq!(
        w.chain.request_exit(1, &wrong_channel),
        Err(SettlementError::BadSignature)
    );
    w.chain.request_exit(1, &w.exit_sig(1)).unwrap();
    assert_eq!(
        w.chain.request_exit(1, &w.exit_sig(1)),
        Err(SettlementError::AlreadyExiting(1))
    );
    w.chain.request_exit(2, &w.exit_sig(2)).unwrap();
    w.mirror();
    w.chain.cut_epoch(2).unwrap();
    let snap2 = w.snapshot(2);
    let mut opening = w.opening(&snap2, 1);
    // Close not accepted yet.
    assert_eq!(
        w.chain.withdraw(1, &opening),
        Err(SettlementError::CloseNotAccepted(2))
    );
    let witness = CloseWitness::from_snapshot(&snap2, &channel::Fe::from(5u64)).unwrap();
    w.chain
        .submit_close(&witness.public, b"", &AcceptAll)
        .unwrap();
    // Tampered openings.
    let good = opening.clone();
    opening.balance += 1;
    assert_eq!(
        w.chain.withdraw(1, &opening),
        Err(SettlementError::BadOpening(OpeningFault::NotInTree))
    );
    assert_eq!(
        w.chain.withdraw(2, &good),
        Err(SettlementError::BadOpening(OpeningFault::WrongChannel))
    );
    let mut other_key = good.clone();
    other_key.pk = w.pk(2);
    assert_eq!(
        w.chain.withdraw(1, &other_key),
        Err(SettlementError::BadOpening(OpeningFault::WrongKey))
    );
    assert_eq!(
        w.chain.withdraw(9, &good),
        Err(SettlementError::UnknownChannel(9))
    );
    assert_eq!(w.chain.withdraw(1, &good), Ok(900));
    // A payee withdraws what it received: its net deposit goes below zero (signed D).
    let payee = w.opening(&snap2, 2);
    assert_eq!(payee.balance, 110);
    assert_eq!(w.chain.withdraw(2, &payee), Ok(110));
    assert_eq!(w.chain.channel(2).unwrap().net_deposit, -100);
    w.chain.check_invariants();
    // The next cut's registry commits to the signed net deposits.
    w.chain.advance(1).unwrap();
    let rec = w.chain.cut_epoch(3).unwrap().clone();
    assert_eq!(rec.registry, vec![100, -100]);
    let leaves = [
        deposit_leaf(1, &w.pk(1), 100),
        deposit_leaf(2, &w.pk(2), -100),
    ];
    let root = channel::merkle::MerkleTree::with_size(leaves.to_vec(), slot_count(2))
        .unwrap()
        .root();
    assert_eq!(rec.deposits_root, root);
}

#[test]
fn close_with_wrong_public_inputs_is_refused_field_by_field() {
    let mut w = World::new(&[1_000, 10, 20]);
    w.pay(1, 2, 5);
    w.mirror();
    w.chain.cut_epoch(1).unwrap();
    let good = CloseWitness::from_snapshot(&w.snapshot(1), &channel::Fe::from(5u64))
        .unwrap()
        .public;
    type Tamper = fn(&mut PublicInputs);
    let cases: [(Tamper, InputField); 4] = [
        (|p| p.hub_id += 1, InputField::HubId),
        (|p| p.epoch += 1, InputField::Epoch),
        (|p| p.n -= 1, InputField::N),
        (
            |p| p.deposits_root += Fe::from(1u64),
            InputField::DepositsRoot,
        ),
    ];
    for (tamper, field) in cases {
        let mut bad = good;
        tamper(&mut bad);
        match w.chain.submit_close(&bad, b"", &AcceptAll) {
            Err(SettlementError::InputMismatch { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    // A snapshot that disagrees with the registry (the hub dropped a channel) fails too.
    let mut short = w.snapshot(1);
    short.channels.pop();
    short.blinds.pop();
    let p = CloseWitness::from_snapshot(&short, &channel::Fe::from(5u64))
        .unwrap()
        .public;
    assert!(matches!(
        w.chain.submit_close(&p, b"", &AcceptAll),
        Err(SettlementError::InputMismatch {
            field: InputField::N,
            ..
        })
    ));
    // Deposit changed after the cut is not in the cut's registry.
    let mut late = w.snapshot(1);
    late.channels[2].deposit += 1;
    let p = CloseWitness::from_snapshot(&late, &channel::Fe::from(5u64))
        .unwrap()
        .public;
    assert!(matches!(
        w.chain.submit_close(&p, b"", &AcceptAll),
        Err(SettlementError::InputMismatch {
            field: InputField::DepositsRoot,
            ..
        })
    ));
    // A rejecting verifier: refused, nothing stored.
    assert_eq!(
        w.chain.submit_close(&good, b"proof", &RejectAll),
        Err(SettlementError::ProofRejected("bad proof".into()))
    );
    assert!(w.chain.epoch(1).unwrap().close.is_none());
    // The verifier sees exactly the submitted inputs.
    assert!(
        w.chain
            .submit_close(&good, b"not it", &ProofIsInputs)
            .is_err()
    );
    w.chain
        .submit_close(&good, &serde_json::to_vec(&good).unwrap(), &ProofIsInputs)
        .unwrap();
    assert_eq!(
        w.chain
            .epoch(1)
            .unwrap()
            .close
            .as_ref()
            .unwrap()
            .balances_root,
        good.balances_root
    );
    assert_eq!(
        w.chain.submit_close(&good, b"", &AcceptAll),
        Err(SettlementError::CloseAlreadyAccepted(1))
    );
}

#[test]
fn epochs_are_cut_in_order_after_the_previous_close() {
    let mut w = World::new(&[5]);
    assert_eq!(
        w.chain.cut_epoch(2).map(|_| ()),
        Err(SettlementError::EpochOutOfOrder {
            expected: 1,
            got: 2
        })
    );
    w.chain.cut_epoch(1).unwrap();
    assert_eq!(
        w.chain.cut_epoch(2).map(|_| ()),
        Err(SettlementError::CloseNotAccepted(1))
    );
    let p = CloseWitness::from_snapshot(&w.snapshot(1), &channel::Fe::from(5u64))
        .unwrap()
        .public;
    w.chain.submit_close(&p, b"", &AcceptAll).unwrap();
    assert_eq!(
        w.chain.cut_epoch(1).map(|_| ()),
        Err(SettlementError::EpochOutOfOrder {
            expected: 2,
            got: 1
        })
    );
    w.chain.cut_epoch(2).unwrap();
    // An empty layer can be cut too: n = 0, two padding slots.
    let mut empty = Settlement::new(Params::DEFAULT);
    empty.register_hub(1, key(9).public(), 1).unwrap();
    let rec = empty.cut_epoch(1).unwrap();
    assert_eq!(rec.n, 0);
    assert_eq!(rec.deposits_root, channel::merkle::zero_root(1));
}

#[test]
fn deposits_and_registration_rules() {
    let mut s = Settlement::new(PARAMS);
    assert_eq!(s.deposit(key(1).public(), 5), Err(SettlementError::NoHub));
    assert_eq!(
        s.register_hub(HUB_ID, key(2).public(), 0),
        Err(SettlementError::ZeroAmount)
    );
    s.register_hub(HUB_ID, key(2).public(), 10).unwrap();
    assert_eq!(
        s.register_hub(HUB_ID, key(2).public(), 10),
        Err(SettlementError::HubAlreadyRegistered(HUB_ID))
    );
    assert_eq!(
        s.deposit(key(1).public(), 0),
        Err(SettlementError::ZeroAmount)
    );
    assert_eq!(s.deposit(key(1).public(), 5), Ok(1));
    assert_eq!(s.deposit(key(1).public(), 6), Ok(2));
    s.top_up(1, 4).unwrap();
    assert_eq!(s.top_up(3, 4), Err(SettlementError::UnknownChannel(3)));
    assert_eq!(s.top_up(0, 4), Err(SettlementError::UnknownChannel(0)));
    assert_eq!(s.top_up(1, u64::MAX), Err(SettlementError::Overflow));
    assert_eq!(s.channel(1).unwrap().net_deposit, 9);
    assert_eq!(s.totals().deposits_in, 15);
    assert_eq!(
        s.advance(0)
            .and_then(|_| s.advance(3))
            .and_then(|_| s.advance(2)),
        Err(SettlementError::HeightBackwards {
            current: 3,
            requested: 2
        })
    );
    // Events for the hub: Open, Open, TopUp, numbered from 1.
    let ev = s.events_since(0);
    assert_eq!(ev.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(s.events_since(2).len(), 1);
    assert_eq!(s.events_since(3).len(), 0);
    assert_eq!(s.events_since(99).len(), 0);
    s.check_invariants();
}

#[test]
fn serialization_round_trip_and_determinism() {
    let run = || {
        let mut w = World::new(&[1_000, 10, 300]);
        w.pay(1, 2, 40);
        w.pay(3, 2, 60);
        w.chain.request_exit(3, &w.exit_sig(3)).unwrap();
        let snap = w.cut_and_close(1);
        w.chain.withdraw(3, &w.opening(&snap, 3)).unwrap();
        let r = w.receipt(1, 2, 200);
        w.chain.dispute(&r, None).unwrap();
        w.chain.advance(2).unwrap();
        w.mirror();
        w.chain.cut_epoch(2).unwrap();
        w.chain
    };
    let a = run();
    let b = run();
    assert_eq!(a, b, "same operations, same state");
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(json, serde_json::to_string(&b).unwrap());
    let back: Settlement = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
    back.check_invariants();
    // The restored layer carries on exactly like the original.
    let (mut x, mut y) = (a, back);
    for s in [&mut x, &mut y] {
        s.advance(20).unwrap();
        s.top_up(1, 1).unwrap_err();
    }
    assert_eq!(x, y);
    assert!(x.forced_exit().is_some());
}
