//! # zkhub `closer`: the folded close circuit and its Spartan2 NeutronNova prover
//!
//! One zero-knowledge proof per epoch that the final balances of all channels are
//! correct (docs/DESIGN.md §8). The epoch's slots are cut into `M` chunks of `K`
//! ([`layout`]); each chunk is an instance of one step circuit ([`step`], the slot rules
//! of [`slot`]), a core circuit ([`core_circuit`]) checks what spans chunks, and a
//! shared, hidden chunk table ([`table`]) ties them together. NeutronNova folds the `M`
//! steps into one and Spartan2 proves it with the core ([`prover`], [`verifier`]).
//! R1CS gadgets are in [`gadgets`], the witness from an epoch snapshot in [`witness`],
//! keys cached on disk per layout in [`keys`], the versioned proof file in
//! [`proof_file`].
//!
//! ```no_run
//! # fn demo(snapshot: &channel::ledger::Snapshot, seed: &channel::Fe) -> Result<(), closer::CloseError> {
//! let dir = std::path::Path::new("keys");
//! // The volume commitment's blind, from the hub's blind seed (docs/DESIGN.md §11).
//! let blind = channel::volume::volume_blind(seed, snapshot.epoch);
//! let proof = closer::prove_epoch(snapshot, &blind, dir, &closer::NoProgress)?;
//! let bytes = proof.to_bytes();
//! let verified = closer::Verifier::new(dir).verify_file(&bytes)?;
//! # let _ = verified; Ok(()) }
//! ```

pub mod circuit;
pub mod core_circuit;
pub mod error;
pub mod field;
pub mod gadgets;
pub mod incremental;
pub mod keys;
pub mod layout;
pub mod progress;
pub mod proof_file;
pub mod prover;
pub mod range;
pub mod slot;
pub mod step;
pub mod table;
pub mod testing;
pub mod verifier;
pub mod witness;

pub use error::CloseError;
pub use incremental::prove::prove_transition;
pub use layout::Layout;
pub use progress::{NoProgress, Phase, Progress};
pub use proof_file::{CloseProof, TransitionProof};
pub use prover::prove_epoch;
pub use verifier::{KeyDirVerifier, Verified, VerifiedTransition, Verifier};
