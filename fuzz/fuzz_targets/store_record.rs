//! The hub store's fixed-layout values: a channel row (the first 4 bytes are the
//! channel id, the rest the row) and an epoch record (the whole input).
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::store_record(data));
