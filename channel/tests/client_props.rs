//! Property test of the payer state machine against the in-memory hub
//! (`channel::client::pair`): random payments (some to unknown payees, some beyond
//! the balance), flushes, lost messages, dropped sessions, commits and timer ticks,
//! then settle. Whatever happened:
//!
//! - every payer ends fully acked, its acked head equal to the hub's committed head;
//! - what the hub committed for each payer is exactly the payments `pay` accepted
//!   minus those reported `Failed`: nothing lost, nothing applied twice, nothing
//!   failed and applied;
//! - every payee's received is the sum of the successful payments to it, and the
//!   in-memory payee saw the same total through its credits;
//! - `Ledger::totals()` holds after every commit (checked inside `MemHub::commit`);
//! - the honest hub never triggers a payer `ProtocolError` (`Net` panics on one).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use channel::client::{MemHub, Net, PayerConfig, PayerEvent, SigningPolicy};
use channel::crypto::PrivateKey;
use channel::ledger::Limits;
use channel::types::{Amount, ChannelId, Seq};
use proptest::prelude::*;

const PAYERS: u32 = 3;

#[derive(Debug, Clone)]
enum Step {
    Pay { from: u32, to: u32, amount: Amount },
    Flush { who: u32 },
    Transmit,
    DeliverUp,
    LoseUp { who: u32 },
    Commit,
    DeliverDown,
    Reconnect { who: u32 },
    Tick,
}

fn step() -> impl Strategy<Value = Step> {
    let who = 0..PAYERS;
    prop_oneof![
        10 => (who.clone(), 0..PAYERS + 2, 1..=40u64).prop_map(|(from, to, amount)| Step::Pay { from, to, amount }),
        2 => who.clone().prop_map(|who| Step::Flush { who }),
        4 => Just(Step::Transmit),
        4 => Just(Step::DeliverUp),
        1 => who.clone().prop_map(|who| Step::LoseUp { who }),
        3 => Just(Step::Commit),
        4 => Just(Step::DeliverDown),
        1 => who.prop_map(|who| Step::Reconnect { who }),
        1 => Just(Step::Tick),
    ]
}

fn run(k: u32, deposits: Vec<Amount>, steps: Vec<Step>) {
    let hub = MemHub::new(
        9,
        PrivateKey([77; 32]),
        Limits {
            max_pending_count: 8,
            max_pending_amount: 150,
        },
    );
    let mut net = Net::new(hub, Instant::now());
    let config = PayerConfig {
        policy: SigningPolicy::EveryK(k),
        max_unacked: 32,
        hub_limits: Limits {
            max_pending_count: 8,
            max_pending_amount: 150,
        },
        linger: Duration::from_millis(10),
    };
    // Channel ids: payers 1..=PAYERS, then one payee-only channel.
    let ids: Vec<ChannelId> = deposits
        .iter()
        .enumerate()
        .map(|(i, &d)| net.open(PrivateKey([i as u8 + 1; 32]), d, config))
        .collect();
    let payee = net.open(PrivateKey([50; 32]), 1, config);
    let unknown: ChannelId = 1000;
    // Every voucher `pay` accepted, by (payer, seq) at build time; a seq may be
    // reused after a failure, so keep them in build order.
    let mut built: BTreeMap<ChannelId, Vec<(Seq, ChannelId, Amount)>> = BTreeMap::new();

    for s in steps {
        match s {
            Step::Pay { from, to, amount } => {
                let from = ids[from as usize];
                let to = match to {
                    t if t < PAYERS => ids[t as usize],
                    t if t == PAYERS => payee,
                    _ => unknown,
                };
                let now = net.now;
                if let Ok(v) = net.payer(from).pay(now, to, amount) {
                    built.entry(from).or_default().push((v.seq, v.to, v.amount));
                }
            }
            Step::Flush { who } => {
                net.payer(ids[who as usize]).flush();
            }
            Step::Transmit => {
                net.transmit();
            }
            Step::DeliverUp => {
                net.deliver_up();
            }
            Step::LoseUp { who } => {
                net.lose_up(ids[who as usize]);
            }
            Step::Commit => {
                net.hub.commit();
            }
            Step::DeliverDown => {
                net.deliver_down();
            }
            Step::Reconnect { who } => net.reconnect(ids[who as usize]),
            Step::Tick => net.advance(Duration::from_millis(11)),
        }
    }
    // Settle: flush, drive to quiet (desynced payers reconnect), and again until no
    // payer holds anything.
    for _ in 0..10 {
        net.settle();
        if net.payers.values().all(|p| p.all_acked()) {
            break;
        }
    }

    let records: BTreeMap<ChannelId, _> = net
        .hub
        .ledger()
        .records()
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let mut expected_received: BTreeMap<ChannelId, Amount> = BTreeMap::new();
    for (&ch, p) in &net.payers {
        assert!(p.all_acked(), "payer {ch} settled: {p:?}");
        let r = &records[&ch];
        assert_eq!(
            (p.acked().seq, p.acked().spent, p.acked().chain),
            (r.seq, r.spent, r.chain)
        );
        // Successful payments: built, minus the ones reported failed. Failures name
        // the exact voucher (seq and content) that was dropped.
        let mut ok: Vec<(Seq, ChannelId, Amount)> = built.get(&ch).cloned().unwrap_or_default();
        for e in net.payer_events.get(&ch).into_iter().flatten() {
            if let PayerEvent::Failed { voucher, .. } = e {
                let at = ok
                    .iter()
                    .rposition(|&(s, to, a)| {
                        (s, to, a) == (voucher.seq, voucher.to, voucher.amount)
                    })
                    .expect("a failed voucher was built");
                ok.remove(at);
            }
        }
        let spent: Amount = ok.iter().map(|&(_, _, a)| a).sum();
        assert_eq!(
            r.spent, spent,
            "payer {ch}: committed spent = successful payments"
        );
        assert_eq!(
            r.seq as usize,
            ok.len(),
            "payer {ch}: one seq per successful payment"
        );
        for &(_, to, a) in &ok {
            assert_ne!(
                to, unknown,
                "a payment to an unknown channel never succeeds"
            );
            *expected_received.entry(to).or_default() += a;
        }
    }
    for (&ch, r) in &records {
        let want = expected_received.get(&ch).copied().unwrap_or(0);
        assert_eq!(
            r.received, want,
            "channel {ch}: received = successful payments to it"
        );
        assert_eq!(
            net.payees[&ch].received(),
            want,
            "channel {ch}: credits seen by its payee"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 500, ..ProptestConfig::default() })]

    #[test]
    fn payers_and_hub_agree_whatever_the_faults(
        k in prop_oneof![Just(1u32), Just(3), Just(16)],
        deposits in prop::collection::vec(0..400u64, PAYERS as usize),
        steps in prop::collection::vec(step(), 1..120),
    ) {
        run(k, deposits, steps);
    }
}
