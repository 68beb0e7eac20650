//! The ledger consistency model of `channel/tests/fuzz_ledger.rs` (four channels,
//! honest clients, verifier queue, group commit, folds, settlement events, crashes;
//! Σ R = Σ S, Σ B = Σ D, nothing acked lost, nothing applied twice) driven by libFuzzer
//! through its `run_bytes`: the first 8 bytes are the deposits, the rest the tape.
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../channel/tests/fuzz_ledger.rs"]
mod model;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    model::run_bytes(data);
});
