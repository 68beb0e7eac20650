//! One folded close per size: layout, constraints, setup, prove, verify (cold: a fresh
//! verifier loading the key from disk, as `zkhub verify` does; warm: key in memory),
//! proof and verifier-key size, peak RSS.
//!
//! `cargo run --release -p closer --example close_bench -- 256 1024 4096 16384`
//! (default sizes: 16 64). Peak RSS is the process's high-water mark (`VmHWM`), so run
//! one size per process to isolate it.

use std::time::Instant;

use closer::circuit::FoldedClose;
use closer::{Layout, NoProgress, Verifier, keys, prover, witness};

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("slot count"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![16, 64]
    } else {
        sizes
    };
    println!(
        "slots,K,M,constraints,setup_s,witness_s,prove_s,verify_cold_ms,verify_warm_ms,proof_bytes,vk_bytes,peak_rss_mib"
    );
    for slots in sizes {
        let layout = Layout::for_slots(slots).expect("layout");
        let dir = tempfile::tempdir().expect("tempdir");
        let snapshot = closer::testing::synthetic_snapshot(1, 1, slots as u32);
        let t = Instant::now();
        let keys = keys::setup(dir.path(), layout).expect("setup");
        let setup = t.elapsed().as_secs_f64();
        drop(keys.pk);
        let t = Instant::now();
        let (public, assignment) =
            witness::assignment(&snapshot, &closer::testing::volume_blind()).expect("snapshot");
        let folded = FoldedClose::new(&assignment).expect("layout");
        let witness_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let proof = prover::prove_folded(public, &folded, dir.path(), &NoProgress).expect("prove");
        let prove = t.elapsed().as_secs_f64();
        let bytes = proof.to_bytes();
        let t = Instant::now();
        let verifier = Verifier::new(dir.path());
        verifier.verify_file(&bytes).expect("verify");
        let cold = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        verifier.verify_file(&bytes).expect("verify");
        let warm = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "{slots},{},{},{},{setup:.2},{witness_s:.2},{prove:.2},{cold:.1},{warm:.1},{},{},{:.0}",
            layout.slots_per_chunk,
            layout.chunks,
            closer::circuit::num_constraints(layout),
            bytes.len(),
            keys.vk_bytes,
            closer::testing::peak_rss_mib().unwrap_or(f64::NAN)
        );
    }
}
