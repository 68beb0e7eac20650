//! What the incremental close's saved state adds to a hub restart: write and read back
//! `epochs/E/state.bin` for N channels (default 1,000,000), as `Operator::open` reads
//! it at every start.
//!
//! `cargo run --release -p hub --example closed_state_restart -- 1000000`
//!
//! The leaves are stand-ins (`id + 1`), not hashes of the channels' values: loading
//! never rehashes leaves (`ClosedState::from_parts`), so the figure is the same, and
//! building a real tree of a million leaves would take the example a minute.

use std::time::Instant;

use channel::crypto::PrivateKey;
use channel::field::Fe;
use channel::incremental::{ClosedChannel, ClosedState};
use channel::state_tree::StateTree;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let pk = PrivateKey::from_bytes([7; 32]).public();
    let channels: Vec<ClosedChannel> = (1..=n)
        .map(|id| ClosedChannel {
            id,
            pk,
            net_deposit: 1_000,
            spent: u64::from(id % 500),
            received: 0,
            balance: 1_000 - u64::from(id % 500),
            blind: Fe::from(u64::from(id) * 7919),
        })
        .collect();
    let started = Instant::now();
    let tree = StateTree::from_leaves((1..=n).map(|id| (id, Fe::from(u64::from(id) + 1))))?;
    println!(
        "tree of {n} leaves built in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let state = ClosedState::from_parts(1, 1, channels, tree)?;
    let dir = tempfile::tempdir()?;

    let started = Instant::now();
    let path = hub::store::write_closed_state(dir.path(), &state)?;
    let write = started.elapsed();
    let bytes = std::fs::metadata(&path)?.len();
    drop(state);

    for round in 1..=3 {
        let started = Instant::now();
        let back = hub::store::read_closed_state(dir.path(), 1)?;
        println!(
            "read {round}: {} channels in {:.3} s",
            back.len(),
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "state.bin: {:.1} MB, written (fsync included) in {:.2} s",
        bytes as f64 / 1e6,
        write.as_secs_f64()
    );
    Ok(())
}
