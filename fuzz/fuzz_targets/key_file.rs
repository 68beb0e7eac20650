//! Verifier key files, read from a real file by `closer::keys::verifier_key` (the
//! lookup a verifier handed a proof does): the header checks, then the bounded bincode
//! decoder of the key body. Unless the first input byte is odd, the body's length and
//! BLAKE3 digest are written into the header so the body decoder is reached.
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::key_file(data));
