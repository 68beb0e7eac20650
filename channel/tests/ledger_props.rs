//! Property tests of the hub's ledger rules (`channel::ledger`) against a simple
//! reference model.
//!
//! Each case opens a few channels, then runs a random stream of honest payments
//! (signed or pending, to known, unknown or self payees, within or beyond the
//! balance and the pending limits), faults (wrong seq, spent or chain, forged
//! signature, zero amount), duplicates of earlier vouchers, resends after a
//! dropped session, top-ups, exits and group commits (`BatchBuilder` +
//! `apply_batch`, through the batch's binary log form). After every voucher the
//! ledger's outcome must equal the model's; after every commit the committed
//! records must equal the model's, `Ledger::totals()` must hold (B ≥ 0,
//! Σ R = Σ S, Σ B = Σ D), and no `(payer, seq)` may be applied twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use channel::Fe;
use channel::codec::ErrorCode;
use channel::crypto::{PrivateKey, PublicKey, chain_next};
use channel::ledger::{
    Admit, AdmitContext, Batch, BatchBuilder, ChannelTable, Event, Head, Ledger, Limits,
    VoucherError, apply_batch,
};
use channel::types::{Amount, ChannelId, Seq, Voucher, VoucherIn};
use proptest::prelude::*;

const HUB_ID: u64 = 42;
const N: u32 = 4;
const UNKNOWN: ChannelId = N + 1;
const LIMITS: Limits = Limits {
    max_pending_count: 4,
    max_pending_amount: 600,
};

static KEYS: LazyLock<Vec<(PrivateKey, PublicKey)>> = LazyLock::new(|| {
    (0..=N as u8)
        .map(|i| {
            let k = PrivateKey([i + 1; 32]);
            let pk = k.public();
            (k, pk)
        })
        .collect()
});
static FORGER: LazyLock<PrivateKey> = LazyLock::new(|| PrivateKey([99; 32]));

fn key(ch: ChannelId) -> &'static PrivateKey {
    &KEYS[ch as usize].0
}

#[derive(Debug, Clone)]
enum Fault {
    WrongSeq(u64),
    WrongSpent,
    WrongChain,
    ForgedSig,
    ZeroAmount,
    /// One more than the balance (pending counted).
    Overspend,
}

#[derive(Debug, Clone)]
enum Action {
    Pay {
        from: ChannelId,
        to: ChannelId,
        amount: Amount,
        sign: bool,
    },
    /// Spend exactly the remaining balance (pending counted).
    PayAll {
        from: ChannelId,
        to: ChannelId,
        sign: bool,
    },
    Fault {
        from: ChannelId,
        to: ChannelId,
        amount: Amount,
        fault: Fault,
    },
    Duplicate {
        from: ChannelId,
        pick: usize,
    },
    Resend {
        from: ChannelId,
    },
    Disconnect {
        from: ChannelId,
    },
    TopUp {
        ch: ChannelId,
        amount: Amount,
    },
    Exit {
        ch: ChannelId,
    },
    Commit,
}

fn action() -> impl Strategy<Value = Action> {
    let ch = 1..=N;
    let to = prop_oneof![8 => 1..=N, 1 => Just(UNKNOWN)];
    prop_oneof![
        24 => (ch.clone(), to.clone(), 1..=300u64, prop::bool::weighted(0.4))
            .prop_map(|(from, to, amount, sign)| Action::Pay { from, to, amount, sign }),
        3 => (ch.clone(), 1..=N, any::<bool>())
            .prop_map(|(from, to, sign)| Action::PayAll { from, to, sign }),
        6 => (ch.clone(), 1..=N, 1..=100u64, prop_oneof![
                (2..6u64).prop_map(Fault::WrongSeq),
                Just(Fault::WrongSpent),
                Just(Fault::WrongChain),
                Just(Fault::ForgedSig),
                Just(Fault::ZeroAmount),
                Just(Fault::Overspend),
            ])
            .prop_map(|(from, to, amount, fault)| Action::Fault { from, to, amount, fault }),
        4 => (ch.clone(), any::<usize>()).prop_map(|(from, pick)| Action::Duplicate { from, pick }),
        4 => ch.clone().prop_map(|from| Action::Resend { from }),
        4 => ch.clone().prop_map(|from| Action::Disconnect { from }),
        2 => (ch.clone(), 1..=500u64).prop_map(|(ch, amount)| Action::TopUp { ch, amount }),
        1 => ch.prop_map(|ch| Action::Exit { ch }),
        10 => Just(Action::Commit),
    ]
}

/// What the ledger did with one voucher.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Pending,
    Covered,
    /// Checkpoint refused; the listed seqs were dropped.
    Refused(Vec<Seq>),
    AlreadyCommitted,
    AlreadyStaged,
    Rejected(ErrorCode),
}

// ---------------------------------------------------------------------------
// Reference model: plain structs, the rules written out once more.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct MStaged {
    to: ChannelId,
    amount: Amount,
    head: Head,
}

#[derive(Debug, Clone)]
struct MChannel {
    deposit: Amount,
    received: Amount,
    exiting: bool,
    committed: Head,
    covered: Head,
    staged: Vec<MStaged>,
    /// The honest client's vouchers the hub admitted and has not committed, by seq
    /// (what a reconnecting client resends).
    log: BTreeMap<Seq, Voucher>,
    /// Every voucher the hub ever admitted from the honest client (for duplicates).
    history: Vec<Voucher>,
}

impl MChannel {
    fn head(&self) -> Head {
        self.staged.last().map(|s| s.head).unwrap_or(self.covered)
    }
}

#[derive(Debug, Default)]
struct Model {
    channels: BTreeMap<ChannelId, MChannel>,
    /// Covered payments awaiting commit: (payer, seq, to, amount, payer head).
    covered: Vec<(ChannelId, Seq, ChannelId, Amount, Head)>,
    events: Vec<Event>,
    applied: BTreeSet<(ChannelId, Seq)>,
    /// Channels with a covered range refused behind their exit in this batch.
    doomed: BTreeSet<ChannelId>,
}

impl Model {
    /// Predict and apply the model's outcome for `v` (sig validity known by construction).
    fn admit(&mut self, v: &Voucher, sig_valid: bool) -> Outcome {
        let exists = |id: ChannelId| (1..=N).contains(&id);
        let payee_known = exists(v.to);
        let c = self.channels.get_mut(&v.channel).unwrap();
        // A held seq: a resend unless it differs from what the hub can compare there
        // (the committed and covered heads by spent and chain, staged vouchers in full).
        let differs = |h: &Head| v.spent != h.spent || v.chain != h.chain;
        if v.seq <= c.committed.seq {
            if v.seq == c.committed.seq && differs(&c.committed) {
                return Outcome::Rejected(ErrorCode::Conflict);
            }
            return Outcome::AlreadyCommitted;
        }
        let head = c.head();
        if v.seq <= head.seq {
            let conflict = match c.staged.iter().find(|s| s.head.seq == v.seq) {
                Some(s) => s.to != v.to || s.amount != v.amount || differs(&s.head),
                None => v.seq == c.covered.seq && differs(&c.covered),
            };
            if conflict {
                return Outcome::Rejected(ErrorCode::Conflict);
            }
            return Outcome::AlreadyStaged;
        }
        let reject = |code| Outcome::Rejected(code);
        if c.exiting {
            return reject(ErrorCode::ChannelExiting);
        }
        if v.seq != head.seq + 1 {
            return reject(ErrorCode::BadSeq);
        }
        if v.amount == 0 {
            return reject(ErrorCode::ZeroAmount);
        }
        if v.to == v.channel {
            return reject(ErrorCode::SelfPayment);
        }
        let spent = head.spent + v.amount;
        if v.spent != spent {
            return reject(ErrorCode::BadSpent);
        }
        if !payee_known {
            return reject(ErrorCode::UnknownPayee);
        }
        if spent > c.deposit + c.received {
            return reject(ErrorCode::InsufficientBalance);
        }
        let over = c.staged.len() >= LIMITS.max_pending_count as usize
            || spent - c.covered.spent > LIMITS.max_pending_amount;
        if over && v.sig.is_none() {
            return reject(ErrorCode::PendingLimit);
        }
        if v.chain != chain_next(&head.chain, v.seq, v.to, v.amount) {
            return reject(ErrorCode::BadChain);
        }
        let next = Head {
            seq: v.seq,
            spent,
            chain: v.chain,
        };
        if v.sig.is_none() {
            c.staged.push(MStaged {
                to: v.to,
                amount: v.amount,
                head: next,
            });
            return Outcome::Pending;
        }
        if !sig_valid {
            return Outcome::Refused(vec![v.seq]);
        }
        if self.events.contains(&Event::Exit { channel: v.channel }) {
            // Covered, but queued behind the payer's exit: refused at commit.
            c.staged.clear();
            c.covered = next;
            self.doomed.insert(v.channel);
            return Outcome::Covered;
        }
        for s in c.staged.drain(..) {
            self.covered
                .push((v.channel, s.head.seq, s.to, s.amount, s.head));
        }
        self.covered.push((v.channel, v.seq, v.to, v.amount, next));
        c.covered = next;
        Outcome::Covered
    }

    fn commit(&mut self) {
        for e in self.events.drain(..) {
            match e {
                Event::TopUp { channel, amount } => {
                    self.channels.get_mut(&channel).unwrap().deposit += amount
                }
                Event::Exit { channel } => self.channels.get_mut(&channel).unwrap().exiting = true,
                _ => unreachable!(),
            }
        }
        for (payer, seq, to, amount, head) in self.covered.drain(..) {
            assert!(
                self.applied.insert((payer, seq)),
                "payment ({payer}, {seq}) applied twice"
            );
            self.channels.get_mut(&to).unwrap().received += amount;
            let c = self.channels.get_mut(&payer).unwrap();
            assert!(head.seq > c.committed.seq);
            c.committed = head;
            c.log = c.log.split_off(&(head.seq + 1));
        }
        // Refused ranges: the client is told; nothing above the final head remains.
        for ch in std::mem::take(&mut self.doomed) {
            let c = self.channels.get_mut(&ch).unwrap();
            c.staged.clear();
            c.covered = c.committed;
            c.log.clear();
        }
    }
}

// ---------------------------------------------------------------------------
// System under test: the real ledger, driven as the hub drives it.
// ---------------------------------------------------------------------------

struct Hub {
    ledger: Ledger,
    builder: BatchBuilder,
    next_batch: u64,
}

impl Hub {
    fn admit(&mut self, v: &Voucher) -> Outcome {
        let (to, known) = (v.to, self.ledger.contains(v.to));
        let payee_exists = move |c: ChannelId| c == to && known;
        let ctx = AdmitContext {
            hub_id: HUB_ID,
            limits: LIMITS,
            payee_exists: &payee_exists,
        };
        let vin: VoucherIn = v.to_incoming();
        let builder = &mut self.builder;
        self.ledger
            .with_channel(v.channel, |c| match c.admit(&vin, &ctx) {
                Err(e) => Outcome::Rejected(e.code()),
                Ok(Admit::Pending) => Outcome::Pending,
                Ok(Admit::AlreadyCommitted) => Outcome::AlreadyCommitted,
                Ok(Admit::AlreadyStaged) => Outcome::AlreadyStaged,
                Ok(Admit::Checkpoint { msg, sig }) => {
                    let msg = msg.hash();
                    assert_eq!(msg, v.message(HUB_ID), "admit computes the signed message");
                    if c.record.pk.verify(&msg, &sig).is_ok() {
                        // A refusal (an exit queued in this batch) is reported at commit.
                        let _ =
                            builder.push_covered(c.cover(v.seq, sig).unwrap(), c.record.exiting);
                        Outcome::Covered
                    } else {
                        Outcome::Refused(c.refuse_checkpoint(v.seq).unwrap())
                    }
                }
            })
            .expect("payer channel exists")
    }

    fn commit(&mut self) -> Option<Batch> {
        let mut builder = std::mem::take(&mut self.builder);
        let refused = builder.take_refused();
        let batch = self.commit_builder(builder);
        // As the hub's writer: refusals are reported once the exits are applied.
        for r in refused {
            self.ledger
                .with_channel(r.channel, |c| c.abandon_uncommitted())
                .expect("payer exists");
        }
        batch
    }

    fn commit_builder(&mut self, builder: BatchBuilder) -> Option<Batch> {
        if builder.is_empty() {
            return None;
        }
        let batch = builder.build(self.next_batch);
        self.next_batch += 1;
        // Apply what the log would hold.
        let logged = Batch::decode(&batch.encode()).expect("batch round-trips");
        assert_eq!(logged, batch);
        apply_batch(&self.ledger, &logged).expect("a built batch applies");
        Some(batch)
    }
}

fn build(c: &MChannel, from: ChannelId, to: ChannelId, amount: Amount, sign: bool) -> Voucher {
    let head = c.head();
    let seq = head.seq + 1;
    let spent = head.spent + amount;
    let chain = chain_next(&head.chain, seq, to, amount);
    let mut v = Voucher {
        channel: from,
        seq,
        spent,
        to,
        amount,
        chain,
        sig: None,
    };
    if sign {
        v.sig = Some(key(from).sign(&v.message(HUB_ID)));
    }
    v
}

fn check_records(hub: &Hub, model: &Model) {
    let totals = hub.ledger.totals();
    assert_eq!(totals.deposits, totals.balances as i128);
    for r in hub.ledger.records() {
        let m = &model.channels[&r.id];
        assert_eq!(
            (
                r.seq,
                r.spent,
                r.chain,
                r.received,
                r.deposit as Amount,
                r.exiting
            ),
            (
                m.committed.seq,
                m.committed.spent,
                m.committed.chain,
                m.received,
                m.deposit,
                m.exiting
            ),
            "channel {} differs from the model",
            r.id
        );
        assert_eq!(
            r.checkpoint_sig.is_some(),
            r.seq > 0,
            "committed state ends at a signed checkpoint"
        );
    }
}

fn run(deposits: Vec<Amount>, actions: Vec<Action>) {
    let mut hub = Hub {
        ledger: Ledger::new(),
        builder: BatchBuilder::new(),
        next_batch: 1,
    };
    let mut model = Model::default();
    for (i, &deposit) in deposits.iter().enumerate() {
        let ch = i as ChannelId + 1;
        hub.builder.push_event(Event::Open {
            channel: ch,
            pk: KEYS[ch as usize].1,
            deposit,
        });
        let zero = Head {
            seq: 0,
            spent: 0,
            chain: Fe::from(0u64),
        };
        model.channels.insert(
            ch,
            MChannel {
                deposit,
                received: 0,
                exiting: false,
                committed: zero,
                covered: zero,
                staged: Vec::new(),
                log: BTreeMap::new(),
                history: Vec::new(),
            },
        );
    }
    hub.commit();
    check_records(&hub, &model);

    let send = |hub: &mut Hub, model: &mut Model, v: &Voucher, sig_valid: bool, honest: bool| {
        let expected = model.admit(v, sig_valid);
        let got = hub.admit(v);
        assert_eq!(got, expected, "voucher {v:?}");
        if honest && matches!(got, Outcome::Pending | Outcome::Covered) {
            let c = model.channels.get_mut(&v.channel).unwrap();
            c.log = {
                let mut log = std::mem::take(&mut c.log);
                log.split_off(&v.seq);
                log
            };
            c.log.insert(v.seq, v.clone());
            c.history.push(v.clone());
        }
        got
    };

    for action in actions {
        match action {
            Action::Pay {
                from,
                to,
                amount,
                sign,
            } => {
                let v = build(&model.channels[&from], from, to, amount, sign);
                send(&mut hub, &mut model, &v, true, true);
            }
            Action::PayAll { from, to, sign } => {
                let to = if to == from { UNKNOWN - to } else { to };
                let c = &model.channels[&from];
                let amount = (c.deposit + c.received).saturating_sub(c.head().spent);
                if amount == 0 {
                    continue;
                }
                let v = build(c, from, to, amount, sign);
                send(&mut hub, &mut model, &v, true, true);
            }
            Action::Fault {
                from,
                to,
                mut amount,
                fault,
            } => {
                let to = if to == from { UNKNOWN - to } else { to };
                if let Fault::Overspend = fault {
                    let c = &model.channels[&from];
                    amount = (c.deposit + c.received).saturating_sub(c.head().spent) + 1;
                }
                let mut v = build(&model.channels[&from], from, to, amount, false);
                let mut sig_valid = true;
                match fault {
                    Fault::WrongSeq(d) => v.seq += d - 1,
                    Fault::WrongSpent => v.spent += 1,
                    Fault::WrongChain => v.chain += Fe::from(1u64),
                    Fault::ZeroAmount => {
                        v.spent -= v.amount;
                        v.amount = 0;
                    }
                    Fault::Overspend => {}
                    Fault::ForgedSig => {
                        v.sig = Some(FORGER.sign(&v.message(HUB_ID)));
                        sig_valid = false;
                    }
                }
                let got = send(&mut hub, &mut model, &v, sig_valid, false);
                assert!(
                    !matches!(got, Outcome::Pending | Outcome::Covered),
                    "a faulty voucher was accepted: {got:?}"
                );
            }
            Action::Duplicate { from, pick } => {
                let history = &model.channels[&from].history;
                if history.is_empty() {
                    continue;
                }
                let v = history[pick % history.len()].clone();
                send(&mut hub, &mut model, &v, true, false);
            }
            Action::Resend { from } => {
                let c = &model.channels[&from];
                let mut vs: Vec<Voucher> = c
                    .log
                    .range(c.committed.seq + 1..)
                    .map(|(_, v)| v.clone())
                    .collect();
                if let Some(last) = vs.last_mut()
                    && last.sig.is_none()
                {
                    last.sig = Some(key(from).sign(&last.message(HUB_ID)));
                }
                for v in &vs {
                    send(&mut hub, &mut model, v, true, true);
                }
            }
            Action::Disconnect { from } => {
                let dropped = hub.ledger.with_channel(from, |c| c.drop_staged()).unwrap();
                let c = model.channels.get_mut(&from).unwrap();
                assert_eq!(dropped, c.staged.len());
                c.staged.clear();
            }
            Action::TopUp { ch, amount } => {
                let e = Event::TopUp {
                    channel: ch,
                    amount,
                };
                hub.builder.push_event(e.clone());
                model.events.push(e);
            }
            Action::Exit { ch } => {
                let e = Event::Exit { channel: ch };
                hub.builder.push_event(e.clone());
                model.events.push(e);
            }
            Action::Commit => {
                if let Some(batch) = hub.commit() {
                    let expected_debits: BTreeMap<ChannelId, Seq> = model
                        .covered
                        .iter()
                        .map(|&(p, _, _, _, h)| (p, h.seq))
                        .collect();
                    let got: BTreeMap<ChannelId, Seq> =
                        batch.debits.iter().map(|d| (d.channel, d.seq)).collect();
                    assert_eq!(got, expected_debits);
                }
                model.commit();
                check_records(&hub, &model);
            }
        }
    }
    hub.commit();
    model.commit();
    check_records(&hub, &model);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn ledger_matches_the_model_and_keeps_its_invariants(
        deposits in prop::collection::vec(0..2_000u64, N as usize),
        actions in prop::collection::vec(action(), 1..80),
    ) {
        run(deposits, actions);
    }
}

#[test]
fn a_refused_checkpoint_drops_the_vouchers_staged_after_it() {
    // Checkpoint verification may finish after later vouchers were admitted; the
    // ledger then keeps the valid prefix and rejects the rest.
    let mut hub = Hub {
        ledger: Ledger::new(),
        builder: BatchBuilder::new(),
        next_batch: 1,
    };
    for ch in 1..=2 {
        hub.builder.push_event(Event::Open {
            channel: ch,
            pk: KEYS[ch as usize].1,
            deposit: 1_000,
        });
    }
    hub.commit();
    let mut head = Head {
        seq: 0,
        spent: 0,
        chain: Fe::from(0u64),
    };
    let ctx_exists = |c: ChannelId| c == 2;
    let ctx = AdmitContext {
        hub_id: HUB_ID,
        limits: LIMITS,
        payee_exists: &ctx_exists,
    };
    let mut admitted = Vec::new();
    for seq in 1..=4u64 {
        let chain = chain_next(&head.chain, seq, 2, 10);
        head = Head {
            seq,
            spent: head.spent + 10,
            chain,
        };
        let sig = (seq == 2).then(|| {
            FORGER.sign(&channel::types::voucher_message(
                HUB_ID, 1, seq, head.spent, &chain,
            ))
        });
        let vin = VoucherIn {
            seq,
            to: 2,
            amount: 10,
            spent: None,
            chain: None,
            sig,
        };
        admitted.push(hub.ledger.with_channel(1, |c| c.admit(&vin, &ctx)).unwrap());
    }
    assert!(matches!(admitted[1], Ok(Admit::Checkpoint { .. })));
    let dropped = hub
        .ledger
        .with_channel(1, |c| c.refuse_checkpoint(2))
        .unwrap()
        .unwrap();
    assert_eq!(dropped, vec![2, 3, 4]);
    let (head_seq, pending) = hub
        .ledger
        .with_channel(1, |c| (c.head().seq, c.pending_count()))
        .unwrap();
    assert_eq!(
        (head_seq, pending),
        (1, 1),
        "the valid prefix stays pending"
    );
    assert_eq!(
        hub.ledger
            .with_channel(1, |c| c.cover(1, FORGER.sign(&Fe::from(1u64))))
            .unwrap(),
        Err(VoucherError::NoSuchCheckpoint),
        "only an admitted checkpoint can cover"
    );
}
