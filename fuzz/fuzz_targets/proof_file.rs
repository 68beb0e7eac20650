//! Close proof files of both statements; what decodes re-encodes to the same bytes,
//! and its Spartan2 proof body then goes through the verifier's bounded bincode
//! decoder.
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::proof_file(data));
