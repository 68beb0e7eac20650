//! The ledger's hot path (channel::ledger), without I/O:
//!
//! - `admit/pending`: admitting one pending (unsigned) voucher whose `spent` and
//!   `chain` the hub derives, so it includes `chain_next` (BLAKE3). Together with
//!   the binary decode of one voucher (`codec` bench) this is the per-payment cost
//!   of the ack path before commit; target ≤ 300 ns for both.
//! - `admit/chain_next_only`: the chain hash alone, to show its share of `pending`.
//! - `admit/checkpoint_msg`: admitting a signed voucher up to the message to verify
//!   (adds the Poseidon voucher message; verification itself is the `crypto` bench).
//! - `cover_build/64`: covering a range of 64 staged vouchers with its checkpoint and
//!   gathering it into a batch, per payment.
//! - `apply_batch`: applying one durable batch (1,000 payers × 64 payments to 16
//!   payees) to the in-memory table, per payment.

use std::hint::black_box;
use std::time::{Duration, Instant};

use channel::Fe;
use channel::crypto::{PrivateKey, PublicKey, Signature, chain_next};
use channel::ledger::{
    AdmitContext, BatchBuilder, ChannelRecord, ChannelState, ChannelTable, Event, Head, Ledger,
    Limits, apply_batch,
};
use channel::types::{ChannelId, VoucherIn};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const HUB_ID: u64 = 1;
const RUN: u64 = 1000;

fn pk() -> PublicKey {
    PublicKey::from_xy_unchecked(Fe::from(1u64), Fe::from(2u64))
}

fn payer() -> ChannelState {
    ChannelState::new(ChannelRecord::open(1, pk(), u64::MAX / 2))
}

fn limits() -> Limits {
    Limits {
        max_pending_count: u32::MAX,
        max_pending_amount: u64::MAX,
    }
}

fn vin(seq: u64, to: ChannelId, sig: Option<Signature>) -> VoucherIn {
    VoucherIn {
        seq,
        to,
        amount: 3,
        spent: None,
        chain: None,
        sig,
    }
}

fn a_signature() -> Signature {
    PrivateKey([7; 32]).sign(&Fe::from(42u64))
}

fn admit(c: &mut Criterion) {
    let exists = |to: ChannelId| to == 2;
    let ctx = AdmitContext {
        hub_id: HUB_ID,
        limits: limits(),
        payee_exists: &exists,
    };
    let mut g = c.benchmark_group("admit");
    g.throughput(Throughput::Elements(1));
    // Runs of RUN vouchers on one channel; dropping the staged run between runs is
    // not timed.
    let vouchers: Vec<VoucherIn> = (1..=RUN).map(|s| vin(s, 2, None)).collect();
    g.bench_function("pending", |b| {
        b.iter_custom(|iters| admit_runs(iters, &vouchers, &ctx))
    });
    // The share of `pending` that is the chain hash (BLAKE3 + field conversions).
    g.bench_function("chain_next_only", |b| {
        let prev = chain_next(&Fe::from(0u64), 1, 2, 3);
        b.iter(|| chain_next(black_box(&prev), black_box(2), 2, 3))
    });
    let sig = a_signature();
    let signed: Vec<VoucherIn> = (1..=RUN).map(|s| vin(s, 2, Some(sig))).collect();
    g.bench_function("checkpoint_msg", |b| {
        b.iter_custom(|iters| admit_runs(iters, &signed, &ctx))
    });
    g.finish();
}

/// Time `iters` admissions from `vouchers` (seqs `1..=RUN`), on a fresh payer every
/// `RUN` vouchers; building the payer is not timed.
fn admit_runs(iters: u64, vouchers: &[VoucherIn], ctx: &AdmitContext<'_>) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let mut state = payer();
        let n = (iters - done).min(RUN) as usize;
        let t = Instant::now();
        for v in &vouchers[..n] {
            let _ = black_box(state.admit(black_box(v), ctx));
        }
        total += t.elapsed();
        done += n as u64;
    }
    total
}

fn cover_build(c: &mut Criterion) {
    let exists = |to: ChannelId| to == 2;
    let ctx = AdmitContext {
        hub_id: HUB_ID,
        limits: limits(),
        payee_exists: &exists,
    };
    let sig = a_signature();
    let staged = {
        let mut s = payer();
        for seq in 1..=64 {
            let _ = s
                .admit(&vin(seq, 2, (seq == 64).then_some(sig)), &ctx)
                .expect("admits");
        }
        s
    };
    let mut g = c.benchmark_group("cover_build");
    g.throughput(Throughput::Elements(64));
    g.bench_function("64", |b| {
        b.iter_batched(
            || staged.clone(),
            |mut s| {
                let covered = s.cover(64, sig).expect("covers");
                let mut builder = BatchBuilder::new();
                builder.push_covered(covered, false).expect("not exiting");
                black_box(builder.build(1))
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn apply(c: &mut Criterion) {
    const PAYERS: u32 = 1000;
    const PAYEES: u32 = 16;
    const PER_PAYER: u64 = 64;
    let exists = |to: ChannelId| to <= PAYEES;
    let ctx = AdmitContext {
        hub_id: HUB_ID,
        limits: limits(),
        payee_exists: &exists,
    };
    let sig = a_signature();
    let mut builder = BatchBuilder::new();
    for p in 0..PAYERS {
        let id = PAYEES + 1 + p;
        let mut s = ChannelState::new(ChannelRecord::open(id, pk(), u64::MAX / 2));
        for seq in 1..=PER_PAYER {
            let to = 1 + (seq as u32 + p) % PAYEES;
            let _ = s
                .admit(&vin(seq, to, (seq == PER_PAYER).then_some(sig)), &ctx)
                .expect("admits");
        }
        builder
            .push_covered(s.cover(PER_PAYER, sig).expect("covers"), false)
            .expect("not exiting");
    }
    let batch = builder.build(2);
    let opens = {
        let mut b = BatchBuilder::new();
        for id in 1..=PAYEES + PAYERS {
            b.push_event(Event::Open {
                channel: id,
                pk: pk(),
                deposit: u64::MAX / 2,
            });
        }
        b.build(1)
    };
    let fresh = || {
        let ledger = Ledger::new();
        apply_batch(&ledger, &opens).expect("the opens apply");
        ledger
    };
    // Sanity: the batch applies and keeps the books balanced.
    {
        let l = fresh();
        apply_batch(&l, &batch).expect("the batch applies");
        l.totals();
        let head = l
            .with_channel(PAYEES + 1, |c| c.covered_head())
            .expect("payer");
        assert_eq!(
            head,
            Head {
                seq: PER_PAYER,
                spent: 3 * PER_PAYER,
                chain: (1..=PER_PAYER).fold(Fe::from(0u64), |ch, s| chain_next(
                    &ch,
                    s,
                    1 + (s as u32) % PAYEES,
                    3
                )),
            }
        );
    }
    let mut g = c.benchmark_group("apply_batch");
    g.throughput(Throughput::Elements(PAYERS as u64 * PER_PAYER));
    g.sample_size(20);
    g.bench_function("1000x64", |b| {
        b.iter_batched(
            fresh,
            |ledger| black_box(apply_batch(&ledger, &batch)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, admit, cover_build, apply);
criterion_main!(benches);
