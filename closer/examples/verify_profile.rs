//! Repeated verification of one close, for profiling the verifier.
//!
//! `cargo run --release -p closer --example verify_profile -- 1024 [DIR]` proves a
//! synthetic close of that many slots once (keys and proof cached in DIR, default
//! `/tmp/zkhub-verify-<slots>`), then times a cold verification (key from disk) and 20
//! warm ones (key in memory).

use std::path::PathBuf;
use std::time::Instant;

use closer::{NoProgress, Verifier};

fn main() {
    let mut args = std::env::args().skip(1);
    let slots: u32 = args
        .next()
        .map(|a| a.parse().expect("slot count"))
        .unwrap_or(1024);
    let dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/zkhub-verify-{slots}")));
    std::fs::create_dir_all(&dir).expect("dir");
    let proof_path = dir.join("close.proof");
    let bytes = match std::fs::read(&proof_path) {
        Ok(b) => b,
        Err(_) => {
            let snapshot = closer::testing::synthetic_snapshot(1, 1, slots);
            let proof = closer::prove_epoch(
                &snapshot,
                &closer::testing::volume_blind(),
                &dir,
                &NoProgress,
            )
            .expect("prove");
            let b = proof.to_bytes();
            std::fs::write(&proof_path, &b).expect("write proof");
            b
        }
    };
    let t = Instant::now();
    let verifier = Verifier::new(&dir);
    verifier.verify_file(&bytes).expect("verify");
    println!("cold {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        verifier.verify_file(&bytes).expect("verify");
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "warm min {:.1} ms, median {:.1} ms, max {:.1} ms ({} bytes)",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1],
        bytes.len()
    );
}
