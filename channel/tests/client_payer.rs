//! Payer and payee state machines against the in-memory hub (`channel::client::pair`):
//! signing policy and held-back tail, acks, rejects, reconnect and resend, receipts.

use std::time::{Duration, Instant};

use channel::Voucher;
use channel::client::{
    HubHead, MemHub, Net, PayError, Payee, PayeeError, Payer, PayerConfig, PayerEvent,
    ProtocolError, SigningPolicy, ToClient,
};
use channel::codec::ErrorCode;
use channel::crypto::PrivateKey;
use channel::ledger::Limits;

const HUB_ID: u64 = 7;

fn key(i: u8) -> PrivateKey {
    PrivateKey([i; 32])
}

fn config(policy: SigningPolicy) -> PayerConfig {
    PayerConfig {
        policy,
        ..PayerConfig::default()
    }
}

/// A hub with a creator (channel 1) and `fans` fans with `deposit` each.
fn net(fans: u8, deposit: u64, policy: SigningPolicy) -> (Net, u32, Vec<u32>) {
    let hub = MemHub::new(HUB_ID, key(200), Limits::DEFAULT);
    let mut net = Net::new(hub, Instant::now());
    let creator = net.open(key(1), 0, config(policy));
    let fans = (0..fans)
        .map(|i| net.open(key(10 + i), deposit, config(policy)))
        .collect();
    (net, creator, fans)
}

fn record(net: &Net, ch: u32) -> channel::ledger::ChannelRecord {
    net.hub
        .ledger()
        .records()
        .into_iter()
        .find(|r| r.id == ch)
        .unwrap()
}

fn drain(p: &mut Payer) -> Vec<Voucher> {
    let mut out = Vec::new();
    p.poll_transmit_into(&mut out, usize::MAX);
    out
}

#[test]
fn every_k_holds_back_the_unsigned_tail_until_flush() {
    let (mut net, creator, fans) = net(1, 1_000, SigningPolicy::EveryK(4));
    let fan = fans[0];
    let now = net.now;
    for _ in 0..10 {
        net.payer(fan).pay(now, creator, 3).unwrap();
    }
    let sent = drain(net.payer(fan));
    // 1..=9 released (4 and 8 signed), 10 held back unsigned.
    assert_eq!(
        sent.iter().map(|v| v.seq).collect::<Vec<_>>(),
        (1..=9).collect::<Vec<_>>()
    );
    let signed: Vec<u64> = sent
        .iter()
        .filter(|v| v.sig.is_some())
        .map(|v| v.seq)
        .collect();
    assert_eq!(signed, vec![4, 8]);
    assert!(net.payer(fan).has_held_tail());

    for v in &sent {
        net.hub.receive(fan, v);
    }
    net.hub.commit();
    net.deliver_down();
    assert_eq!(
        net.payer(fan).acked().seq,
        8,
        "acked up to the last checkpoint"
    );
    assert_eq!(record(&net, creator).received, 24);

    assert_eq!(net.payer(fan).flush(), Some(10));
    let tail = drain(net.payer(fan));
    assert_eq!(
        tail.iter()
            .map(|v| (v.seq, v.sig.is_some()))
            .collect::<Vec<_>>(),
        vec![(10, true)]
    );
    net.hub.receive(fan, &tail[0]);
    net.drive(10);
    assert!(net.payer(fan).all_acked());
    assert_eq!(record(&net, fan).seq, 10);
    assert_eq!(record(&net, creator).received, 30);
    assert_eq!(net.payees[&creator].received(), 30);
    assert_eq!(net.payer(fan).available(), 970);
}

#[test]
fn every_voucher_is_signed_and_sent_at_once() {
    let (mut net, creator, fans) = net(1, 100, SigningPolicy::EveryVoucher);
    let now = net.now;
    let v = net.payer(fans[0]).pay(now, creator, 5).unwrap();
    assert!(v.sig.is_some());
    assert!(!net.payer(fans[0]).has_held_tail());
    assert_eq!(net.payer(fans[0]).poll_timeout(), None);
    net.drive(10);
    assert_eq!(net.payer(fans[0]).acked().seq, 1);
    assert_eq!(
        net.payer_events[&fans[0]],
        vec![PayerEvent::Acked { seq: 1, spent: 5 }]
    );
}

#[test]
fn linger_deadline_signs_the_tail() {
    let (mut net, creator, fans) = net(1, 100, SigningPolicy::EveryK(64));
    let fan = fans[0];
    let now = net.now;
    net.payer(fan).pay(now, creator, 1).unwrap();
    net.payer(fan).pay(now, creator, 1).unwrap();
    let linger = net.payer(fan).config().linger;
    assert_eq!(net.payer(fan).poll_timeout(), Some(now + linger));
    net.advance(linger / 2);
    net.drive(10);
    assert_eq!(
        net.payer(fan).acked().seq,
        0,
        "tail still held: nothing coverable"
    );
    net.advance(linger);
    assert_eq!(net.payer(fan).poll_timeout(), None);
    net.drive(10);
    assert_eq!(net.payer(fan).acked().seq, 2);
    assert_eq!(record(&net, creator).received, 2);
}

#[test]
fn hub_pending_limits_force_early_signatures() {
    let hub = MemHub::new(
        HUB_ID,
        key(200),
        Limits {
            max_pending_count: 3,
            max_pending_amount: 50,
        },
    );
    let mut net = Net::new(hub, Instant::now());
    let limits = Limits {
        max_pending_count: 3,
        max_pending_amount: 50,
    };
    let cfg = PayerConfig {
        policy: SigningPolicy::EveryK(1000),
        hub_limits: limits,
        ..PayerConfig::default()
    };
    let creator = net.open(key(1), 0, cfg);
    let fan = net.open(key(2), 1_000, cfg);
    let now = net.now;
    let mut signed = Vec::new();
    for _ in 0..9 {
        let v = net.payer(fan).pay(now, creator, 1).unwrap();
        if v.sig.is_some() {
            signed.push(v.seq);
        }
    }
    assert_eq!(signed, vec![4, 8], "three unsigned, then a checkpoint");
    let v = net.payer(fan).pay(now, creator, 60).unwrap();
    assert!(
        v.sig.is_some(),
        "an amount beyond the pending limit is signed"
    );
    net.settle();
    assert!(net.payer(fan).all_acked());
    assert!(
        net.payer_events[&fan]
            .iter()
            .all(|e| matches!(e, PayerEvent::Acked { .. }))
    );
    assert_eq!(record(&net, creator).received, 69);
}

#[test]
fn local_checks_refuse_without_building() {
    let (mut net, creator, fans) = net(1, 10, SigningPolicy::EveryVoucher);
    let fan = fans[0];
    let now = net.now;
    let p = net.payer(fan);
    assert_eq!(p.pay(now, creator, 0), Err(PayError::ZeroAmount));
    assert_eq!(p.pay(now, fan, 1), Err(PayError::SelfPayment));
    assert_eq!(
        p.pay(now, creator, 11),
        Err(PayError::InsufficientBalance { available: 10 })
    );
    p.pay(now, creator, 10).unwrap();
    assert_eq!(
        p.pay(now, creator, 1),
        Err(PayError::InsufficientBalance { available: 0 })
    );
    assert_eq!(p.head().seq, 1);

    let fresh = &mut Payer::new(key(3), HUB_ID, 9, PayerConfig::default());
    assert_eq!(fresh.pay(now, 1, 1), Err(PayError::NotSynced));
}

#[test]
fn unacked_window_is_bounded() {
    let hub = MemHub::new(HUB_ID, key(200), Limits::DEFAULT);
    let mut net = Net::new(hub, Instant::now());
    let cfg = PayerConfig {
        policy: SigningPolicy::EveryK(2),
        max_unacked: 3,
        ..PayerConfig::default()
    };
    let creator = net.open(key(1), 0, cfg);
    let fan = net.open(key(2), 100, cfg);
    let now = net.now;
    for _ in 0..3 {
        net.payer(fan).pay(now, creator, 1).unwrap();
    }
    assert_eq!(
        net.payer(fan).pay(now, creator, 1),
        Err(PayError::WindowFull(3))
    );
    net.drive(10);
    assert_eq!(
        net.payer(fan).unacked_len(),
        1,
        "the held tail awaits a flush"
    );
    net.payer(fan).pay(now, creator, 1).unwrap();
    net.settle();
    assert_eq!(record(&net, fan).seq, 4);
}

#[test]
fn reject_of_the_last_voucher_continues_in_place() {
    let (mut net, creator, fans) = net(1, 100, SigningPolicy::EveryVoucher);
    let fan = fans[0];
    let now = net.now;
    net.payer(fan).pay(now, creator, 5).unwrap();
    net.drive(10);
    let bad = net.payer(fan).pay(now, 99, 5).unwrap(); // no such payee
    net.drive(10);
    let events = &net.payer_events[&fan];
    assert_eq!(
        events.last(),
        Some(&PayerEvent::Failed {
            voucher: bad,
            code: ErrorCode::UnknownPayee,
            rejected: 2,
        })
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, PayerEvent::Desynced { .. }))
    );
    assert!(net.payer(fan).is_synced());
    assert_eq!(
        net.payer(fan).head().seq,
        1,
        "rolled back to the last good voucher"
    );
    assert_eq!(net.payer(fan).available(), 95);
    // The next payment reuses seq 2.
    let v = net.payer(fan).pay(now, creator, 7).unwrap();
    assert_eq!(v.seq, 2);
    net.drive(10);
    assert_eq!(record(&net, fan).seq, 2);
    assert_eq!(record(&net, fan).spent, 12);
    assert_eq!(record(&net, creator).received, 12);
}

#[test]
fn reject_mid_stream_desyncs_then_reconnect_resends_the_valid_prefix() {
    let (mut net, creator, fans) = net(2, 1_000, SigningPolicy::EveryK(4));
    let fan = fans[0];
    let now = net.now;
    for _ in 0..2 {
        net.payer(fan).pay(now, creator, 1).unwrap();
    }
    net.payer(fan).pay(now, 77, 1).unwrap(); // seq 3: unknown payee
    for _ in 0..6 {
        net.payer(fan).pay(now, creator, 1).unwrap();
    }
    // 1..=8 transmitted, 9 held. The hub rejects 3, then 4..=8 for bad seq.
    net.transmit();
    net.deliver_up();
    net.hub.commit();
    net.deliver_down();
    assert!(net.payer(fan).needs_resync());
    let failed: Vec<u64> = net.payer_events[&fan]
        .iter()
        .filter_map(|e| match e {
            PayerEvent::Failed {
                voucher,
                rejected: 3,
                ..
            } => Some(voucher.seq),
            _ => None,
        })
        .collect();
    assert_eq!(failed, (3..=9).collect::<Vec<_>>());
    assert!(net.payer_events[&fan].contains(&PayerEvent::Desynced { at: 3 }));

    // Still desynced: a new payment builds on the rolled-back head, unsent.
    let v = net.payer(fan).pay(now, creator, 10).unwrap();
    assert_eq!(v.seq, 3);
    assert!(net.payer(fan).poll_transmit().is_none());

    // Reconnect: the hub drops staged 1..=2; the payer resends 1..=3, 3 signed.
    net.reconnect(fan);
    let resent = drain(net.payer(fan));
    assert_eq!(
        resent
            .iter()
            .map(|v| (v.seq, v.sig.is_some()))
            .collect::<Vec<_>>(),
        vec![(1, false), (2, false), (3, true)]
    );
    for v in &resent {
        net.hub.receive(fan, v);
    }
    net.drive(10);
    assert_eq!(record(&net, fan).seq, 3);
    assert_eq!(record(&net, fan).spent, 12);
    assert_eq!(record(&net, creator).received, 12);
}

#[test]
fn reconnect_drops_staged_and_resend_is_acked_once() {
    let (mut net, creator, fans) = net(1, 1_000, SigningPolicy::EveryK(8));
    let fan = fans[0];
    let now = net.now;
    for _ in 0..5 {
        net.payer(fan).pay(now, creator, 2).unwrap();
    }
    net.transmit();
    net.deliver_up(); // 1..=4 staged pending at the hub
    net.reconnect(fan);
    let resent = drain(net.payer(fan));
    assert_eq!(resent.len(), 5);
    assert!(resent[4].sig.is_some(), "the resent tail is signed");
    for v in &resent {
        net.hub.receive(fan, v);
    }
    net.drive(10);
    assert_eq!(net.payer(fan).acked().seq, 5);
    assert_eq!(record(&net, creator).received, 10);
}

#[test]
fn lost_ack_is_recovered_by_resume_and_never_reapplied() {
    let (mut net, creator, fans) = net(1, 1_000, SigningPolicy::EveryVoucher);
    let fan = fans[0];
    let now = net.now;
    for _ in 0..3 {
        net.payer(fan).pay(now, creator, 4).unwrap();
    }
    net.transmit();
    net.deliver_up();
    net.hub.commit(); // durable; the acks are in the outbox
    let applied = net.hub.applied_payments();
    net.reconnect(fan); // the acks are lost with the session
    assert!(net.payer(fan).all_acked(), "the hello head acks them");
    assert!(net.payer_events[&fan].contains(&PayerEvent::Acked { seq: 3, spent: 12 }));
    assert!(drain(net.payer(fan)).is_empty());

    // A stale copy of a committed voucher is re-acked and not applied again.
    let old = {
        let hub = HubHead {
            seq: 0,
            spent: 0,
            chain: channel::Fe::from(0u64),
            deposit: 1_000,
            received: 0,
            exiting: false,
        };
        let mut twin = Payer::new(key(10), HUB_ID, fan, config(SigningPolicy::EveryVoucher));
        twin.resume(&hub).unwrap();
        twin.pay(now, creator, 4).unwrap()
    };
    net.hub.receive(fan, &old);
    net.hub.commit();
    let head = record(&net, fan).head();
    assert_eq!((head.seq, head.spent), (3, 12));
    assert_eq!(
        Vec::from(net.hub.take_outbox(fan)),
        vec![ToClient::Reack(head)],
        "re-acked with the committed head"
    );
    assert_eq!(net.hub.applied_payments(), applied);
    assert_eq!(record(&net, creator).received, 12);
}

#[test]
fn resume_refuses_a_hub_that_lost_acked_payments_or_diverged() {
    let (mut net, creator, fans) = net(1, 1_000, SigningPolicy::EveryVoucher);
    let fan = fans[0];
    let now = net.now;
    net.payer(fan).pay(now, creator, 4).unwrap();
    net.payer(fan).pay(now, creator, 4).unwrap();
    net.drive(10);
    net.payer(fan).pay(now, creator, 4).unwrap();
    let head = net.hub.hub_head(fan).unwrap();
    assert_eq!(head.seq, 2);

    let p = net.payer(fan);
    let behind = HubHead { seq: 1, ..head };
    assert_eq!(
        p.resume(&behind),
        Err(ProtocolError::HubRegressed { acked: 2, hub: 1 })
    );
    let ahead = HubHead { seq: 5, ..head };
    assert_eq!(p.resume(&ahead), Err(ProtocolError::Diverged { hub: 5 }));
    let forked = HubHead { spent: 9, ..head };
    assert_eq!(p.resume(&forked), Err(ProtocolError::Diverged { hub: 2 }));
    assert_eq!(p.head().seq, 3, "a refused resume changes nothing");
    assert_eq!(
        p.handle_ack(9),
        Err(ProtocolError::AckBeyondSent { seq: 9, sent: 2 })
    );
    assert_eq!(
        p.handle_reject(1, ErrorCode::BadSeq),
        Err(ProtocolError::RejectOfAcked { seq: 1, acked: 2 })
    );
    assert!(p.resume(&head).is_ok());
    net.drive(10);
    assert_eq!(record(&net, fan).seq, 3);
}

#[test]
fn payee_keeps_the_best_verified_receipt_per_epoch() {
    let (mut net, creator, fans) = net(2, 1_000, SigningPolicy::EveryVoucher);
    let now = net.now;
    net.payer(fans[0]).pay(now, creator, 5).unwrap();
    net.drive(10);
    let r1 = net.hub.receipt(creator).unwrap();
    net.payer(fans[1]).pay(now, creator, 6).unwrap();
    net.drive(10);
    let r2 = net.hub.receipt(creator).unwrap();
    assert_eq!((r1.received, r2.received), (5, 11));

    let payee = net.payees.get_mut(&creator).unwrap();
    assert_eq!(payee.received(), 11);
    assert_eq!(payee.handle_receipt(&r2), Ok(true));
    assert_eq!(
        payee.handle_receipt(&r1),
        Ok(false),
        "a lower receipt is not kept"
    );
    assert_eq!(payee.best_receipt(0), Some(&r2));

    let forged = channel::codec::Receipt {
        received: 1_000_000,
        ..r2.clone()
    };
    assert_eq!(
        payee.handle_receipt(&forged),
        Err(PayeeError::BadReceiptSignature)
    );
    let other_key = {
        let mut r = r2.clone();
        r.received = 50;
        r.sig = key(201).sign(&channel::types::receipt_message(HUB_ID, 0, creator, 50));
        r
    };
    assert_eq!(
        payee.handle_receipt(&other_key),
        Err(PayeeError::BadReceiptSignature)
    );
    let other_hub = channel::codec::Receipt {
        hub_id: HUB_ID + 1,
        ..r2.clone()
    };
    assert!(matches!(
        payee.handle_receipt(&other_hub),
        Err(PayeeError::WrongHub { .. })
    ));
    assert_eq!(payee.best_receipt(0).unwrap().received, 11);
    assert!(matches!(
        payee.handle_receipt(&net.hub.receipt(fans[0]).unwrap()),
        Err(PayeeError::WrongChannel { .. })
    ));

    net.hub.next_epoch();
    let r3 = net.hub.receipt(creator).unwrap();
    let payee = net.payees.get_mut(&creator).unwrap();
    assert_eq!(payee.handle_receipt(&r3), Ok(true));
    assert_eq!(payee.latest_receipt().unwrap().epoch, 1);
    payee.prune_before(1);
    assert_eq!(payee.receipts().count(), 1);
}

#[test]
fn payee_credits_detect_gaps_and_duplicates() {
    let mut p = Payee::new(HUB_ID, key(200).public(), 4);
    let c = p.handle_credit(4, 10, 10).unwrap().unwrap();
    assert_eq!((c.amount, c.received, c.missed), (10, 10, 0));
    assert_eq!(p.handle_credit(4, 10, 10), Ok(None), "duplicate");
    let c = p.handle_credit(4, 5, 25).unwrap().unwrap();
    assert_eq!(c.missed, 10);
    assert!(p.handle_credit(4, 30, 20).is_err());
    assert!(p.handle_credit(5, 1, 26).is_err());
    assert_eq!(p.received(), 25);
}

#[test]
fn virtual_time_only() {
    // The payer never reads a clock: a deadline far in the past or future is only
    // acted on when the caller says so.
    let (mut net, creator, fans) = net(1, 100, SigningPolicy::EveryK(4));
    let t0 = net.now;
    net.payer(fans[0]).pay(t0, creator, 1).unwrap();
    net.payer(fans[0]).handle_timeout(t0);
    assert!(net.payer(fans[0]).has_held_tail());
    net.payer(fans[0])
        .handle_timeout(t0 + Duration::from_secs(3600));
    assert!(!net.payer(fans[0]).has_held_tail());
}

#[test]
fn ack_for_the_old_session_after_resume_is_accepted_and_skips_the_resend() {
    let (mut net, creator, fans) = net(1, 1_000, SigningPolicy::EveryK(3));
    let fan = fans[0];
    let now = net.now;
    for _ in 0..4 {
        net.payer(fan).pay(now, creator, 1).unwrap();
    }
    net.transmit(); // 1..=3 (3 signed); 4 held
    net.deliver_up(); // covered, not yet committed
    net.reconnect(fan); // hello head: seq 0; covered 1..=3 survive the dropped session
    assert_eq!(net.payer(fan).sent(), 0);
    net.hub.commit(); // the ack of 3 goes to the new session before any resend
    net.deliver_down();
    assert_eq!(net.payer(fan).acked().seq, 3);
    let resent = drain(net.payer(fan));
    assert_eq!(
        resent.iter().map(|v| v.seq).collect::<Vec<_>>(),
        vec![4],
        "acked vouchers are not resent"
    );
    assert!(resent[0].sig.is_some());
    net.hub.receive(fan, &resent[0]);
    net.drive(10);
    assert_eq!(record(&net, creator).received, 4);
    assert_eq!(net.hub.applied_payments(), 4);
}
