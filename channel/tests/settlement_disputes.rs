//! Settlement layer against a misbehaving or failed hub: receipt disputes paid from the
//! bond or answered with an opening, and forced exit after a missed close deadline.

#[path = "settlement_support.rs"]
mod support;

use channel::settlement::{DisputeFiled, DisputeStatus, OpeningFault, PayoutKind, SettlementError};
use support::*;

/// Payer 1 pays payee 2 100 in epoch 1; close 1 is accepted at height 0.
fn closed_world() -> (World, channel::ledger::Snapshot) {
    let mut w = World::new(&[1_000, 10]);
    w.pay(1, 2, 100);
    let snap = w.cut_and_close(1);
    (w, snap)
}

#[test]
fn dispute_with_own_opening_is_paid_from_the_bond_at_once() {
    let (mut w, snap) = closed_world();
    // The hub signed "received 150" but its close proves 100.
    let receipt = w.receipt(1, 2, 150);
    let own = w.opening(&snap, 2);
    assert_eq!(own.received, 100);
    let filed = w.chain.dispute(&receipt, Some(&own)).unwrap();
    assert_eq!(
        filed,
        DisputeFiled::Paid {
            dispute: 1,
            amount: 50,
            shortfall: 0
        }
    );
    assert_eq!(w.bond(), BOND - 50);
    assert_eq!(
        w.chain.payouts().last().unwrap().kind,
        PayoutKind::Dispute { dispute: 1 }
    );
    // The same receipt again is owed nothing; a higher one only its increase.
    assert_eq!(
        w.chain.dispute(&receipt, None),
        Err(SettlementError::NothingToPay)
    );
    let higher = w.receipt(1, 2, 170);
    assert!(matches!(
        w.chain.dispute(&higher, Some(&own)),
        Ok(DisputeFiled::Paid { amount: 20, .. })
    ));
    assert_eq!(w.bond(), BOND - 70);
    w.chain.check_invariants();
}

#[test]
fn dispute_answered_by_the_hub() {
    let (mut w, snap) = closed_world();
    // A receipt within what the close proves: the hub's opening refutes it.
    let honest = w.receipt(1, 2, 80);
    let DisputeFiled::Open {
        dispute,
        answer_deadline,
    } = w.chain.dispute(&honest, None).unwrap()
    else {
        panic!("no opening given: the dispute waits for the hub");
    };
    assert_eq!(answer_deadline, PARAMS.answer_window);
    assert_eq!(
        w.chain.dispute(&w.receipt(1, 2, 90), None),
        Err(SettlementError::DisputeAlreadyOpen {
            channel: 2,
            epoch: 1
        })
    );
    // The hub must open the disputed channel's leaf, not another one.
    assert_eq!(
        w.chain.answer_dispute(dispute, &w.opening(&snap, 1)),
        Err(SettlementError::BadOpening(OpeningFault::WrongChannel))
    );
    let status = w
        .chain
        .answer_dispute(dispute, &w.opening(&snap, 2))
        .unwrap();
    assert_eq!(status, DisputeStatus::Refuted { proven: 100 });
    assert_eq!(w.bond(), BOND);
    assert_eq!(
        w.chain.answer_dispute(dispute, &w.opening(&snap, 2)),
        Err(SettlementError::DisputeNotOpen(dispute))
    );
    // Once R = 100 is proven, receipts up to 100 are owed nothing.
    assert_eq!(
        w.chain.dispute(&w.receipt(1, 2, 100), None),
        Err(SettlementError::NothingToPay)
    );

    // A receipt above what the close proves: the hub's opening shows less, payee paid.
    let cheated = w.receipt(1, 2, 130);
    let DisputeFiled::Open { dispute, .. } = w.chain.dispute(&cheated, None).unwrap() else {
        panic!("open");
    };
    let status = w
        .chain
        .answer_dispute(dispute, &w.opening(&snap, 2))
        .unwrap();
    assert_eq!(
        status,
        DisputeStatus::Paid {
            amount: 30,
            shortfall: 0
        }
    );
    assert_eq!(w.bond(), BOND - 30);
    w.chain.check_invariants();
}

#[test]
fn unanswered_dispute_is_paid_after_the_deadline() {
    let (mut w, snap) = closed_world();
    let receipt = w.receipt(1, 2, 150);
    let DisputeFiled::Open {
        dispute,
        answer_deadline,
    } = w.chain.dispute(&receipt, None).unwrap()
    else {
        panic!("open");
    };
    w.chain.advance(answer_deadline).unwrap();
    assert_eq!(
        w.chain.dispute_record(dispute).unwrap().status,
        DisputeStatus::Open
    );
    w.chain.tick().unwrap();
    // Silence: the settlement layer cannot know R, so the receipt is paid in full.
    assert_eq!(
        w.chain.dispute_record(dispute).unwrap().status,
        DisputeStatus::Paid {
            amount: 150,
            shortfall: 0
        }
    );
    assert_eq!(w.bond(), BOND - 150);
    assert_eq!(
        w.chain.answer_dispute(dispute, &w.opening(&snap, 2)),
        Err(SettlementError::DisputeNotOpen(dispute))
    );
    w.chain.check_invariants();
}

#[test]
fn dispute_refusals() {
    let (mut w, _) = closed_world();
    // Forged receipt (signed by a channel key, not the hub's).
    let mut forged = w.receipt(1, 2, 500);
    forged.sig = w.keys[1].sign(&forged.message(HUB_ID));
    assert_eq!(
        w.chain.dispute(&forged, None),
        Err(SettlementError::BadSignature)
    );
    // Receipt altered after signing.
    let mut altered = w.receipt(1, 2, 500);
    altered.received = 600;
    assert_eq!(
        w.chain.dispute(&altered, None),
        Err(SettlementError::BadSignature)
    );
    // No accepted close for that epoch.
    assert_eq!(
        w.chain.dispute(&w.receipt(2, 2, 500), None),
        Err(SettlementError::CloseNotAccepted(2))
    );
    assert_eq!(
        w.chain.dispute(&w.receipt(1, 9, 500), None),
        Err(SettlementError::UnknownChannel(9))
    );
    // After the dispute window.
    w.chain.advance(PARAMS.dispute_window + 1).unwrap();
    assert_eq!(
        w.chain.dispute(&w.receipt(1, 2, 500), None),
        Err(SettlementError::DisputeWindowClosed(1))
    );
}

#[test]
fn dispute_award_is_capped_by_the_bond() {
    let (mut w, snap) = closed_world();
    let huge = w.receipt(1, 2, BOND + 1_000);
    let filed = w.chain.dispute(&huge, Some(&w.opening(&snap, 2))).unwrap();
    assert_eq!(
        filed,
        DisputeFiled::Paid {
            dispute: 1,
            amount: BOND,
            shortfall: 900
        }
    );
    assert_eq!(w.bond(), 0);
    w.chain.check_invariants();
}

#[test]
fn forced_exit_after_a_missed_close_deadline() {
    // 1 pays 2; 3 exits before cut 1 and withdraws from close 1.
    let mut w = World::new(&[1_000, 10, 300]);
    w.pay(1, 2, 100);
    w.chain.request_exit(3, &w.exit_sig(3)).unwrap();
    let snap1 = w.cut_and_close(1);
    assert_eq!(w.chain.withdraw(3, &w.opening(&snap1, 3)), Ok(300));
    assert_eq!(
        w.chain.forced_withdraw(1, None),
        Err(SettlementError::NotForcedExit)
    );
    // Epoch 2: more payments, a top-up, a new channel; the hub then never closes.
    w.mirror();
    w.pay(1, 2, 50);
    w.chain.top_up(3, 20).unwrap();
    assert_eq!(w.open(40), 4);
    w.chain.advance(4).unwrap();
    w.chain.cut_epoch(2).unwrap();
    let deadline = w.chain.epoch(2).unwrap().deadline;
    assert_eq!(deadline, 4 + PARAMS.close_window);
    w.chain.advance(deadline).unwrap();
    assert!(
        w.chain.forced_exit().is_none(),
        "the deadline height itself is still in time"
    );
    w.chain.tick().unwrap();
    let forced = *w.chain.forced_exit().unwrap();
    assert_eq!((forced.missed_epoch, forced.last_accepted), (2, Some(1)));

    // The layer is frozen for the hub.
    let frozen = Err(SettlementError::ForcedExit { missed_epoch: 2 });
    assert_eq!(w.chain.deposit(key(50).public(), 5).map(|_| ()), frozen);
    assert_eq!(w.chain.cut_epoch(3).map(|_| ()), frozen);
    let late =
        channel::statement::CloseWitness::from_snapshot(&w.snapshot(2), &channel::Fe::from(5u64))
            .unwrap()
            .public;
    assert_eq!(w.chain.submit_close(&late, b"", &AcceptAll), frozen);

    // Each channel takes its close-1 balance plus deposit changes since cut 1.
    assert_eq!(
        w.chain.forced_withdraw(1, None),
        Err(SettlementError::BadOpening(OpeningFault::Missing))
    );
    assert_eq!(
        w.chain.forced_withdraw(1, Some(&w.opening(&snap1, 1))),
        Ok(900)
    );
    assert_eq!(
        w.chain.forced_withdraw(1, Some(&w.opening(&snap1, 1))),
        Err(SettlementError::AlreadyForcedOut(1))
    );
    assert_eq!(
        w.chain.forced_withdraw(2, Some(&w.opening(&snap1, 2))),
        Ok(110)
    );
    assert_eq!(
        w.chain.forced_withdraw(3, Some(&w.opening(&snap1, 3))),
        Ok(20)
    );
    assert_eq!(w.chain.forced_withdraw(4, None), Ok(40));
    // Everything deposited is back out.
    w.chain.check_invariants();
    assert_eq!(
        (1..=4)
            .map(|i| w.chain.channel(i).unwrap().net_deposit)
            .sum::<i128>(),
        0
    );

    // The payee's epoch-2 payment (50) comes from the bond, on a newer receipt.
    assert_eq!(
        w.chain
            .claim_receipt(&w.receipt(1, 2, 100), Some(&w.opening(&snap1, 2))),
        Err(SettlementError::ReceiptNotNewer { epoch: 1 })
    );
    let r2 = w.receipt(2, 2, 150);
    assert_eq!(
        w.chain.claim_receipt(&r2, None),
        Err(SettlementError::BadOpening(OpeningFault::Missing))
    );
    assert_eq!(
        w.chain.claim_receipt(&r2, Some(&w.opening(&snap1, 2))),
        Ok((50, 0))
    );
    assert_eq!(
        w.chain.claim_receipt(&r2, Some(&w.opening(&snap1, 2))),
        Err(SettlementError::NothingToPay)
    );
    assert_eq!(w.bond(), BOND - 50);
    // Channel 4 (newer than close 1) claims receipts without an opening.
    assert_eq!(w.chain.claim_receipt(&w.receipt(2, 4, 7), None), Ok((7, 0)));
    let t = *w.chain.totals();
    assert_eq!(t.paid_out, 300 + 900 + 110 + 20 + 40 + 50 + 7);
    assert_eq!(t.deposits_in, 1_000 + 10 + 300 + 20 + 40);
    w.chain.check_invariants();
}

#[test]
fn forced_exit_without_any_accepted_close_refunds_deposits() {
    let mut w = World::new(&[100, 50]);
    w.chain.cut_epoch(1).unwrap();
    w.chain.advance(PARAMS.close_window + 1).unwrap();
    assert_eq!(w.chain.forced_exit().unwrap().last_accepted, None);
    assert_eq!(w.chain.forced_withdraw(1, None), Ok(100));
    assert_eq!(w.chain.forced_withdraw(2, None), Ok(50));
    assert_eq!(w.chain.claim_receipt(&w.receipt(1, 2, 5), None), Ok((5, 0)));
    w.chain.check_invariants();
}
