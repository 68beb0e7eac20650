//! Figures of the range disclosure (issue 17 item 2; docs/DESIGN.md §11): setup, prove
//! and verify times, proof and key sizes, constraint count, for one channel's received
//! amount in one epoch against two state trees of 1,000 channels (the tree's size does
//! not change the cost: a path has 10 levels whatever the number of channels).
//!
//! `cargo run --release -p closer --example range_proof`

use std::time::Instant;

use bincode::Options;
use channel::crypto::PrivateKey;
use channel::field::Fe;
use channel::incremental::state_leaf;
use channel::state_tree::StateTree;
use channel::statement::net_deposit_fe;
use closer::keys::bincode_options;
use closer::range::circuit::num_constraints;
use closer::range::{
    Counter, LeafValues, PreviousLeaf, RangeProof, RangeStatement, RangeWitness, prove,
};

const CHANNELS: u32 = 1_000;
const CHANNEL: u32 = 417;

fn values(id: u32, received: u64) -> LeafValues {
    LeafValues {
        deposit: net_deposit_fe(1_000),
        balance: 1_000 + received,
        spent: 0,
        received,
        blind: Fe::from(u64::from(id) * 7 + received),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = PrivateKey([9; 32]).public();
    let leaf = |id: u32, v: &LeafValues| {
        state_leaf(id, &key, 1_000, v.balance, v.spent, v.received, &v.blind)
    };
    let tree = |received_by_417: u64| {
        StateTree::from_leaves((1..=CHANNELS).map(|id| {
            let r = if id == CHANNEL { received_by_417 } else { 5 };
            (id, leaf(id, &values(id, r)))
        }))
    };
    let (before, after) = (tree(300)?, tree(1_234)?);
    let witness = RangeWitness {
        channel: CHANNEL,
        key: (key.0.x, key.0.y),
        current: (values(CHANNEL, 1_234), after.path(CHANNEL)?),
        previous: PreviousLeaf::Opened(values(CHANNEL, 300), before.path(CHANNEL)?),
    };
    let statement = RangeStatement {
        hub_id: 7,
        epoch: 2,
        channel: CHANNEL,
        counter: Counter::Received,
        min: 0,
        max: 1_000,
        root: after.root(),
        prev_root: before.root(),
    };

    let t = Instant::now();
    let keys = closer::range::prove::keys()?;
    let setup = t.elapsed();
    let pk = bincode_options(u64::MAX).serialize(&keys.pk)?.len();
    let vk = bincode_options(u64::MAX).serialize(&keys.vk)?.len();

    let t = Instant::now();
    let proof = prove(&statement, &witness)?;
    let proving = t.elapsed();
    let bytes = proof.to_bytes();

    let t = Instant::now();
    let report = RangeProof::from_bytes(&bytes)?.check()?;
    let verifying = t.elapsed();

    println!(
        "range proof: received in [{}, {}]",
        statement.min, statement.max
    );
    println!("  constraints      {}", num_constraints());
    println!("  setup (keys)     {:.2} s", setup.as_secs_f64());
    println!("  prove            {:.2} s", proving.as_secs_f64());
    println!("  verify           {:.1} ms", verifying.as_secs_f64() * 1e3);
    println!("  proof file       {} bytes", bytes.len());
    println!("  prover key       {} bytes", pk);
    println!("  verifier key     {} bytes", vk);
    if let Some(mib) = closer::testing::peak_rss_mib() {
        println!("  peak memory      {mib:.0} MiB");
    }
    print!("{report}");
    Ok(())
}
