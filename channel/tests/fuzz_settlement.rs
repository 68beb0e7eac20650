//! Fuzzer for the settlement-layer model: tape-driven operation sequences
//! (deposits, top-ups, signed payments committed in the hub's mirrored ledger,
//! exits with good and forged signatures, cuts and closes from real snapshots, bad
//! closes, withdrawals with fresh, stale and replayed openings, disputes with and
//! without the payee's opening, answers, block advances into forced exit, forced
//! withdrawals and receipt claims).
//!
//! After every operation: `check_invariants()` holds; a refused operation changed
//! nothing (the whole state compares equal); nothing is paid twice (one withdrawal
//! per channel and close, one forced withdrawal per channel, dispute and claim awards
//! for a payee and epoch never exceed what its receipts show beyond the close); and,
//! until a forced exit (the hub has failed and stops mirroring), the hub's ledger
//! mirrors the layer (signed net deposits included): its Σ D and every channel's D
//! equal the layer's, and Σ B = Σ D.
//!
//! `ZKHUB_FUZZ_CASES` sets the executions (default: a few seconds).

mod fuzz_support;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use channel::crypto::{PrivateKey, SigningKey, chain_next};
use channel::field::Fe;
use channel::ledger::{Batch, Debit, Ledger, Snapshot, apply_batch};
use channel::settlement::{CloseVerifier, Params, PayoutKind, Receipt, Settlement, exit_message};
use channel::statement::{CloseWitness, PublicInputs, balance_opening};
use channel::types::{Amount, ChannelId, Epoch, receipt_message, voucher_message};
use fuzz_support::{Tape, fuzz};
use proptest::prelude::*;

const HUB_ID: u64 = 5;
const BOND: Amount = 50_000;
const MAX_CHANNELS: usize = 6;
const PARAMS: Params = Params {
    close_window: 6,
    dispute_window: 6,
    answer_window: 3,
};

static KEYS: LazyLock<Vec<SigningKey>> = LazyLock::new(|| {
    (0..MAX_CHANNELS as u8 + 1)
        .map(|i| PrivateKey([i + 40; 32]).signing_key())
        .collect()
});
static HUB_KEY: LazyLock<SigningKey> = LazyLock::new(|| PrivateKey([99; 32]).signing_key());
static FORGER: LazyLock<SigningKey> = LazyLock::new(|| PrivateKey([98; 32]).signing_key());

struct Accept;
impl CloseVerifier for Accept {
    fn verify(&self, _: &PublicInputs, proof: &[u8]) -> Result<(), String> {
        (proof == b"ok")
            .then_some(())
            .ok_or_else(|| "bad proof".into())
    }
}

pub(crate) struct World {
    chain: Settlement,
    ledger: Ledger,
    mirrored: u64,
    batch: u64,
    /// The ledger stopped mirroring (forced exit: the hub has failed).
    diverged: bool,
    snapshots: BTreeMap<Epoch, Snapshot>,
    /// Highest receipt shown per (epoch, channel), for the award bound.
    claimed: BTreeMap<(Epoch, ChannelId), Amount>,
    ops_ok: u64,
    /// Mirrored states with a negative net deposit (a payee that cashed out).
    negative_deposits: u64,
}

impl World {
    fn new() -> World {
        let mut chain = Settlement::new(PARAMS);
        chain
            .register_hub(HUB_ID, HUB_KEY.public(), BOND)
            .expect("register");
        World {
            chain,
            ledger: Ledger::new(),
            mirrored: 0,
            batch: 0,
            diverged: false,
            snapshots: BTreeMap::new(),
            claimed: BTreeMap::new(),
            ops_ok: 0,
            negative_deposits: 0,
        }
    }

    fn n(&self) -> ChannelId {
        self.chain.channel_count() as ChannelId
    }

    fn pick(&self, t: &mut Tape) -> ChannelId {
        // Sometimes an unknown channel.
        t.range(1, u64::from(self.n()) + 1) as ChannelId
    }

    /// Mirror the layer's events into the ledger, as the hub does (one batch).
    fn mirror(&mut self) {
        // In forced exit the hub has failed: payouts follow the last accepted close,
        // not the hub's later ledger, which stops mirroring for good.
        if self.chain.forced_exit().is_some() {
            self.diverged = true;
        }
        if self.diverged {
            return;
        }
        let logged = self.chain.events_since(self.mirrored);
        let Some(last) = logged.last() else {
            return;
        };
        let last = last.seq;
        let events: Vec<_> = logged.iter().map(|e| e.event.clone()).collect();
        // Net deposits are signed in the ledger too: every withdrawal mirrors,
        // including a payee's that takes D below zero.
        self.batch += 1;
        apply_batch(
            &self.ledger,
            &Batch {
                number: self.batch,
                events,
                debits: vec![],
                credits: vec![],
            },
        )
        .expect("mirrored settlement events apply");
        self.mirrored = last;
    }

    /// A signed payment committed in the ledger (only while mirrored and in balance).
    fn pay(&mut self, t: &mut Tape) {
        self.mirror();
        if self.diverged || self.n() < 2 {
            return;
        }
        let from = t.range(1, u64::from(self.n())) as ChannelId;
        let to = (from % self.n()) + 1;
        let Some(rec) = self.ledger.records().into_iter().find(|r| r.id == from) else {
            return;
        };
        let balance = rec.balance().expect("B >= 0");
        if rec.exiting || balance == 0 {
            return;
        }
        let amount = t.range(1, balance);
        let seq = rec.seq + 1;
        let spent = rec.spent + amount;
        let chain = chain_next(&rec.chain, seq, to, amount);
        let sig = KEYS[from as usize]
            .sign(&voucher_message(HUB_ID, from, seq, spent, &chain))
            .pack();
        self.batch += 1;
        apply_batch(
            &self.ledger,
            &Batch {
                number: self.batch,
                events: vec![],
                debits: vec![Debit {
                    channel: from,
                    seq,
                    spent,
                    chain,
                    sig,
                }],
                credits: vec![(to, amount)],
            },
        )
        .expect("a payment within the balance applies");
    }

    fn receipt(&self, epoch: Epoch, channel: ChannelId, received: Amount, forged: bool) -> Receipt {
        let key = if forged { &*FORGER } else { &*HUB_KEY };
        Receipt {
            epoch,
            channel,
            received,
            sig: key.sign(&receipt_message(HUB_ID, epoch, channel, received)),
        }
    }

    /// `received` of `channel` in the snapshot of `epoch`.
    fn snap_received(&self, epoch: Epoch, channel: ChannelId) -> Option<Amount> {
        self.snapshots
            .get(&epoch)?
            .channels
            .iter()
            .find(|r| r.id == channel)
            .map(|r| r.received)
    }

    fn opening(
        &self,
        epoch: Epoch,
        channel: ChannelId,
    ) -> Option<channel::statement::BalanceOpening> {
        balance_opening(self.snapshots.get(&epoch)?, channel).ok()
    }

    fn step(&mut self, t: &mut Tape) {
        let before = self.chain.clone();
        let op = t.u8() % 16;
        let result: Result<(), String> = match op {
            0 | 1 => {
                if self.chain.channel_count() < MAX_CHANNELS {
                    let i = self.chain.channel_count() + 1;
                    let amount = if t.one_in(8) { 0 } else { t.range(1, 5_000) };
                    self.chain
                        .deposit(KEYS[i].public(), amount)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                } else {
                    Ok(())
                }
            }
            2 => {
                let c = self.pick(t);
                let amount = if t.one_in(8) {
                    u64::MAX
                } else {
                    t.range(0, 3_000)
                };
                self.chain.top_up(c, amount).map_err(|e| e.to_string())
            }
            3..=5 => {
                self.pay(t);
                Ok(())
            }
            6 => {
                let c = self.pick(t);
                let key = if t.one_in(5) {
                    &*FORGER
                } else {
                    &KEYS[(c as usize).min(MAX_CHANNELS)]
                };
                let sig = key.sign(&exit_message(HUB_ID, c));
                self.chain.request_exit(c, &sig).map_err(|e| e.to_string())
            }
            7 => {
                self.cut_and_close(t);
                return self.after(op, before, Ok(()));
            }
            8 => {
                let c = self.pick(t);
                let epoch = self
                    .chain
                    .latest_epoch()
                    .unwrap_or(1)
                    .saturating_sub(t.range(0, 1));
                match self.opening(epoch, c) {
                    Some(o) => self
                        .chain
                        .withdraw(c, &o)
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    None => Ok(()),
                }
            }
            9 => {
                let blocks = t.range(0, 8);
                let h = self.chain.height() + blocks;
                self.chain.advance(h).map_err(|e| e.to_string())
            }
            10 | 11 => {
                // A payee disputes a close with a hub receipt claiming more.
                let Some(epoch) = self.chain.last_accepted() else {
                    return self.after(op, before, Ok(()));
                };
                let c = self.pick(t);
                let base = self.snap_received(epoch, c).unwrap_or(0);
                let claimed = base + t.range(0, 400);
                let r = self.receipt(epoch, c, claimed, t.one_in(10));
                let opening = if t.one_in(2) {
                    self.opening(epoch, c)
                } else {
                    None
                };
                self.note_claim(epoch, c, claimed);
                self.chain
                    .dispute(&r, opening.as_ref())
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            12 => {
                // The hub answers the latest open dispute.
                let id = t.range(1, 6);
                match self.chain.dispute_record(id).map(|d| (d.epoch, d.channel)) {
                    Some((epoch, c)) => match self.opening(epoch, c) {
                        Some(o) => self
                            .chain
                            .answer_dispute(id, &o)
                            .map(|_| ())
                            .map_err(|e| e.to_string()),
                        None => Ok(()),
                    },
                    None => Ok(()),
                }
            }
            13 => {
                let c = self.pick(t);
                let opening = self
                    .chain
                    .forced_exit()
                    .and_then(|f| f.last_accepted)
                    .and_then(|e| self.opening(e, c));
                self.chain
                    .forced_withdraw(c, opening.as_ref())
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            14 => {
                let c = self.pick(t);
                let last = self.chain.forced_exit().and_then(|f| f.last_accepted);
                let epoch = last.map_or(1, |e| e + 1) + t.range(0, 1);
                let base = last.and_then(|e| self.snap_received(e, c)).unwrap_or(0);
                let claimed = base + t.range(0, 500);
                let opening = last.and_then(|e| self.opening(e, c));
                self.note_claim(epoch, c, claimed);
                let r = self.receipt(epoch, c, claimed, false);
                self.chain
                    .claim_receipt(&r, opening.as_ref())
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            _ => {
                self.mirror();
                Ok(())
            }
        };
        self.after(op, before, result);
    }

    fn note_claim(&mut self, epoch: Epoch, c: ChannelId, claimed: Amount) {
        let e = self.claimed.entry((epoch, c)).or_default();
        *e = (*e).max(claimed);
    }

    /// Cut the next epoch from a mirrored snapshot and close it (or submit a bad close
    /// first, which must change nothing).
    fn cut_and_close(&mut self, t: &mut Tape) {
        self.mirror();
        if self.diverged || self.chain.forced_exit().is_some() {
            return;
        }
        let epoch = self.chain.latest_epoch().map_or(1, |e| e + 1);
        let Ok(record) = self.chain.cut_epoch(epoch) else {
            return;
        };
        assert_eq!(
            record.events_through, self.mirrored,
            "the snapshot holds exactly the events before the cut"
        );
        let snap = Snapshot::new(HUB_ID, epoch, self.ledger.records(), &Fe::from(77u64));
        let witness = CloseWitness::from_snapshot(&snap, &channel::Fe::from(5u64))
            .expect("a mirrored ledger closes");
        assert_eq!(
            Some(witness.public.deposits_root),
            self.chain.registry_deposits_root(epoch),
            "the hub's snapshot matches the registry at the cut"
        );
        self.snapshots.insert(epoch, snap);
        self.chain.check_invariants();
        if t.one_in(4) {
            return; // left open: the deadline may pass (forced exit)
        }
        if t.one_in(3) {
            let before = self.chain.clone();
            let mut bad = witness.public;
            match t.u8() % 5 {
                0 => bad.hub_id += 1,
                1 => bad.epoch += 1,
                2 => bad.n += 1,
                3 => bad.deposits_root += Fe::from(1u64),
                _ => {}
            }
            let proof: &[u8] = if bad == witness.public {
                b"forged"
            } else {
                b"ok"
            };
            assert!(
                self.chain.submit_close(&bad, proof, &Accept).is_err(),
                "a bad close is refused"
            );
            assert!(self.chain == before, "a refused close changes nothing");
        }
        self.chain
            .submit_close(&witness.public, b"ok", &Accept)
            .expect("a good close is accepted before its deadline");
        self.ops_ok += 1;
    }

    fn after(&mut self, op: u8, before: Settlement, result: Result<(), String>) {
        if std::env::var("ZKHUB_FUZZ_TRACE").is_ok() {
            println!(
                "op {op}: {result:?} height {} latest {:?} accepted {:?}",
                self.chain.height(),
                self.chain.latest_epoch(),
                self.chain.last_accepted()
            );
            for r in self.ledger.records() {
                println!(
                    "   ch {} D {} R {} S {} exiting {}",
                    r.id, r.deposit, r.received, r.spent, r.exiting
                );
            }
        }
        self.chain.check_invariants();
        match result {
            Ok(()) => self.ops_ok += 1,
            Err(e) => assert!(
                self.chain == before,
                "operation {op} was refused ({e}) but changed the state"
            ),
        }
        self.check_payouts();
        self.mirror();
        if !self.diverged {
            let totals = self.ledger.totals();
            let d = totals.deposits;
            assert_eq!(d, totals.balances as i128);
            let net: i128 = (1..=self.n())
                .map(|c| self.chain.channel(c).expect("channel").net_deposit)
                .sum();
            assert_eq!(d, net, "ledger Σ D = layer Σ net deposits");
            for r in self.ledger.records() {
                let account = self.chain.channel(r.id).expect("channel");
                assert_eq!(r.deposit, account.net_deposit, "channel {} D", r.id);
                self.negative_deposits += u64::from(r.deposit < 0);
            }
        }
    }

    fn check_payouts(&self) {
        let mut withdrawals = BTreeMap::new();
        let mut forced = BTreeMap::new();
        let mut awards: BTreeMap<(Epoch, ChannelId), Amount> = BTreeMap::new();
        let mut claims: BTreeMap<ChannelId, Amount> = BTreeMap::new();
        let mut dispute_epoch = BTreeMap::new();
        for p in self.chain.payouts() {
            match p.kind {
                PayoutKind::Withdrawal { epoch } => {
                    let n = withdrawals.entry((p.channel, epoch)).or_insert(0);
                    *n += 1;
                    assert_eq!(
                        *n, 1,
                        "channel {} withdrew twice from close {epoch}",
                        p.channel
                    );
                }
                PayoutKind::ForcedWithdrawal => {
                    let n = forced.entry(p.channel).or_insert(0);
                    *n += 1;
                    assert_eq!(*n, 1, "channel {} forced-withdrew twice", p.channel);
                }
                PayoutKind::Dispute { dispute } => {
                    let d = self
                        .chain
                        .dispute_record(dispute)
                        .expect("paid dispute exists");
                    dispute_epoch.insert(dispute, d.epoch);
                    *awards.entry((d.epoch, p.channel)).or_default() += p.amount;
                }
                PayoutKind::ReceiptClaim => *claims.entry(p.channel).or_default() += p.amount,
            }
        }
        // An unanswered dispute pays the whole receipt (the hub's silence proves
        // nothing), so the bound is the highest receipt shown, paid at most once.
        for ((epoch, c), paid) in awards {
            let claimed = self.claimed.get(&(epoch, c)).copied().unwrap_or(0);
            assert!(
                paid <= claimed,
                "disputes of channel {c} for epoch {epoch} paid {paid}, its receipts show at most {claimed}"
            );
        }
        for (c, paid) in claims {
            let most = self
                .claimed
                .iter()
                .filter(|((_, ch), _)| *ch == c)
                .map(|(_, &v)| v)
                .max()
                .unwrap_or(0);
            assert!(
                paid <= most,
                "channel {c} claimed {paid} from receipts showing at most {most}"
            );
        }
    }
}

pub(crate) fn run(tape: &[u8]) -> World {
    let mut w = World::new();
    let mut t = Tape::new(tape);
    while !t.is_empty() {
        w.step(&mut t);
    }
    w
}

#[test]
fn fuzz_settlement_model() {
    let negative = std::cell::Cell::new(0u64);
    fuzz(
        "settlement/model",
        3_000,
        prop::collection::vec(any::<u8>(), 0..300),
        |tape| {
            negative.set(negative.get() + run(&tape).negative_deposits);
        },
    );
    // How often it reaches payees that withdrew more than they deposited (typically
    // 100–250 mirrored states with D < 0 in the default run, from a handful of cases:
    // printed, not asserted, since a random run may miss them; `settlement_flow.rs`
    // and `hub/tests/server_http.rs` reach D < 0 deterministically).
    eprintln!(
        "mirrored states with a negative net deposit: {}",
        negative.get()
    );
}

#[test]
fn a_fixed_long_run_reaches_closes_and_payouts() {
    let tape: Vec<u8> = (0..3_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    let mut w = World::new();
    let mut t = Tape::new(&tape);
    while !t.is_empty() {
        w.step(&mut t);
    }
    assert!(w.ops_ok > 100, "{} operations succeeded", w.ops_ok);
    assert!(w.chain.last_accepted().is_some(), "a close was accepted");
}

#[test]
fn a_full_deposit_that_receives_overflows_its_balance() {
    // Minimised from seed 17529196355601379669 (100,000 cases).
    let mut w = World::new();
    w.chain.deposit(KEYS[1].public(), 1).expect("deposit");
    w.chain
        .top_up(1, u64::MAX - 1)
        .expect("top-up to u64::MAX is accepted");
    // Fixed: Σ net deposits is capped below 2^64, so no balance can pass u64::MAX.
    assert!(
        w.chain.deposit(KEYS[2].public(), 1).is_err(),
        "a deposit past the Σ D cap is refused"
    );
    w.mirror();
    w.ledger.totals();
}

/// Every file of the libFuzzer corpus `fuzz/corpus/settlement/` (grown by
/// `scripts/fuzz.sh`, minimized) replays through the model with every check on.
#[test]
fn the_libfuzzer_corpus_replays_through_the_model() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/settlement");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    for path in &files {
        let data = std::fs::read(path).expect("corpus file");
        run(&data);
    }
}
