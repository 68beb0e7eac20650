//! # zkhub `closer`: the close circuit and its Spartan2 prover
//!
//! One zero-knowledge proof per epoch that the final balances of all channels are
//! correct (DESIGN.md §8): R1CS gadgets ([`gadgets`]), the close circuit ([`circuit`]),
//! proving and verifying with Spartan2's `SpartanZkSNARK` over BN254 ([`prover`]), keys
//! cached on disk ([`keys`]), and the versioned proof file ([`proof_file`]).

pub mod field;
pub mod gadgets;
