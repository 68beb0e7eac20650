//! Epoch snapshot files, read from a real file by `hub::store::read_snapshot_file`.
//! The input after its first byte is the body: the right BLAKE3 digest is appended
//! (so the parser past the digest is reached) unless the first byte is odd, when the
//! rest is the whole file. It is written where the reader looks for the epoch the
//! header names.
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::snapshot_file(data));
