// Generates examples/web/test/vectors/chain.json with the Rust `channel::crypto::chain_next`.
// Run: a throwaway binary crate with `channel = { path = "<repo>/channel" }` and this file as
// src/main.rs (`cargo run --release > examples/web/test/vectors/chain.json`).
use channel::crypto::chain_next;
use channel::field::{Fe, fe_to_dec};
fn main() {
    // (seq, to, amount) steps from chain_0, plus edge values.
    let steps: &[(u64, u32, u64)] = &[(1, 2, 5), (2, 2, 10), (3, 7, 1), (4, u32::MAX, u64::MAX), (5, 0, 1 << 53), (u64::MAX, 1, 12345)];
    let mut prev = Fe::from(0u64);
    let mut out = Vec::new();
    for &(seq, to, amount) in steps {
        let next = chain_next(&prev, seq, to, amount);
        out.push(format!(
            "    {{ \"prev\": \"{}\", \"seq\": \"{}\", \"to\": {}, \"amount\": \"{}\", \"chain\": \"{}\" }}",
            fe_to_dec(&prev), seq, to, amount, fe_to_dec(&next)
        ));
        prev = next;
    }
    // A non-chained prev near p.
    let prev = -Fe::from(1u64);
    let next = chain_next(&prev, 9, 3, 77);
    out.push(format!(
        "    {{ \"prev\": \"{}\", \"seq\": \"9\", \"to\": 3, \"amount\": \"77\", \"chain\": \"{}\" }}",
        fe_to_dec(&prev), fe_to_dec(&next)
    ));
    println!("{{\n  \"generator\": \"channel::crypto::chain_next (Rust), examples/web/test/gen-chain-vectors.rs\",\n  \"chain\": [\n{}\n  ]\n}}", out.join(",\n"));
}
