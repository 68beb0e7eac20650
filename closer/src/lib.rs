//! # zkhub `closer`: the close circuit and its Spartan2 prover
//!
//! One zero-knowledge proof per epoch that the final balances of all channels are
//! correct (DESIGN.md §8): R1CS gadgets ([`gadgets`]), the close circuit ([`circuit`]),
//! the witness from an epoch snapshot ([`witness`]), proving and verifying with
//! Spartan2's `SpartanZkSNARK` over BN254 ([`prover`]), keys cached on disk ([`keys`]),
//! and the versioned proof file ([`proof_file`]).
//!
//! ```no_run
//! # fn demo(snapshot: &channel::ledger::Snapshot) -> Result<(), closer::CloseError> {
//! let dir = std::path::Path::new("keys");
//! let proof = closer::prove_epoch(snapshot, dir, &closer::NoProgress)?;
//! let bytes = proof.to_bytes();
//! let public = closer::verify_file(&bytes, dir)?;
//! # let _ = public; Ok(()) }
//! ```

pub mod circuit;
pub mod error;
pub mod field;
pub mod gadgets;
pub mod keys;
pub mod progress;
pub mod proof_file;
pub mod prover;
pub mod testing;
pub mod witness;

pub use error::CloseError;
pub use progress::{NoProgress, Phase, Progress};
pub use proof_file::CloseProof;
pub use prover::{KeyDirVerifier, prove_epoch, verify, verify_file};
