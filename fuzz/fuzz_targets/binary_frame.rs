//! Binary wire frames (pay frames from payers, ack/reject frames from the hub).
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::binary_frame(data));
