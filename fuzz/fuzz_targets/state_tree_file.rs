//! State-tree files (`StateTree::read_from`) under a small position limit, so each
//! execution stays cheap. Unless the first input byte is odd, the right BLAKE3 digest
//! is written into the header so the body checks are reached. A tree that loads saves
//! to the same bytes.
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::state_tree_file(data));
