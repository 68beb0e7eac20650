//! The incremental close of a large hub where few channels moved: the tree at the cut,
//! the witness, prove, verify (cold: a fresh verifier loading the key; warm), proof and
//! key size, peak RSS.
//!
//! `cargo run --release -p closer --example incremental_bench -- CHANNELS TOUCHED...`
//! (default: 100000 channels, 10 and 64 touched). Keys are made once per layout in a
//! temporary directory and not counted in the prove time. Peak RSS is the process's
//! high-water mark (`VmHWM`): run one size per process to isolate it.

use std::time::Instant;

use closer::incremental::{step_constraints, touched_constraints};
use closer::{Layout, NoProgress, Verifier, keys};

fn main() {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let channels = args.first().copied().unwrap_or(100_000);
    let touched: Vec<u32> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        vec![10, 64]
    };
    println!(
        "channels,touched,K,M,constraints_per_touched,step_constraints,build_tree_s,cut_s,setup_s,prove_s,verify_cold_ms,verify_warm_ms,proof_bytes,peak_rss_mib"
    );
    for t in touched {
        let start = Instant::now();
        let (state, snapshot) = closer::testing::synthetic_hub(1, channels, t);
        let build = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let (witness, next) = state
            .close(&snapshot, &closer::testing::volume_blind())
            .expect("close");
        let cut = start.elapsed().as_secs_f64();
        assert_eq!(witness.inputs.n, u64::from(t));
        drop((state, next, snapshot));
        let layout = Layout::for_touched(u64::from(t)).expect("layout");
        let dir = tempfile::tempdir().expect("tempdir");
        let start = Instant::now();
        drop(keys::setup(dir.path(), layout).expect("setup"));
        let setup = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let proof = closer::prove_transition(&witness, dir.path(), &NoProgress).expect("prove");
        let prove = start.elapsed().as_secs_f64();
        let bytes = proof.to_bytes();
        let start = Instant::now();
        let verifier = Verifier::new(dir.path());
        verifier.verify_transition_file(&bytes).expect("verify");
        let cold = start.elapsed().as_secs_f64() * 1e3;
        let start = Instant::now();
        verifier.verify_transition_file(&bytes).expect("verify");
        let warm = start.elapsed().as_secs_f64() * 1e3;
        println!(
            "{channels},{t},{},{},{},{},{build:.2},{cut:.2},{setup:.2},{prove:.2},{cold:.1},{warm:.1},{},{:.0}",
            layout.slots_per_chunk,
            layout.chunks,
            touched_constraints(),
            step_constraints(layout),
            bytes.len(),
            closer::testing::peak_rss_mib().unwrap_or(f64::NAN),
        );
    }
}
