//! One close per size: setup, prove and verify time, proof size and peak RSS.
//!
//! `cargo run --release -p closer --example close_bench -- 16 64 256 1024`
//! (default sizes: 16 64). Each size runs once; peak RSS is the process's high-water
//! mark (`VmHWM`), so run one size per process to isolate it.

use std::time::Instant;

use closer::{NoProgress, keys, prover, witness};

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

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
    println!("slots,constraints,setup_s,witness_s,prove_s,verify_ms,proof_bytes,peak_rss_mib");
    for slots in sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        let snapshot = closer::testing::synthetic_snapshot(1, 1, slots as u32);
        let t = Instant::now();
        keys::setup(dir.path(), slots).expect("setup");
        let setup = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (public, assignment) = witness::assignment(&snapshot).expect("snapshot");
        let witness_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let proof =
            prover::prove_assignment(public, assignment, dir.path(), &NoProgress).expect("prove");
        let prove = t.elapsed().as_secs_f64();
        let vk = keys::verifier_key(dir.path(), slots).expect("vk");
        let t = Instant::now();
        prover::verify_with_key(&proof, &vk).expect("verify");
        let verify = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "{slots},{},{setup:.2},{witness_s:.2},{prove:.2},{verify:.1},{},{:.0}",
            closer::circuit::num_constraints(slots),
            proof.to_bytes().len(),
            peak_rss_mib().unwrap_or(f64::NAN)
        );
    }
}
