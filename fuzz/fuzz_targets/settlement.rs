//! The settlement-layer model of `channel/tests/fuzz_settlement.rs` (deposits, signed
//! payments mirrored in the hub's ledger, exits, cuts and closes, withdrawals, disputes,
//! forced exit; invariants after every step, nothing paid twice, Σ B = Σ D while the
//! hub mirrors the layer), driven by libFuzzer: the input is the tape.
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../channel/tests/fuzz_settlement.rs"]
mod model;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    model::run(data);
});
