//! # zkhub `channel`: the protocol core
//!
//! Everything that decides what a payment *means* lives here, once: field
//! elements and domain tags, the cryptography (Poseidon, Baby Jubjub
//! EdDSA-Poseidon, the payment chain hash), the wire codec, the hub's ledger
//! rules, the payer/payee client state machines, Merkle trees and the
//! settlement-layer model.
//!
//! This crate is deliberately *sans-I/O* (like `quinn-proto`): it has no
//! sockets, no clock, no disk, no tokio and no redb. Time and randomness are
//! passed in by the caller. That is what makes every rule testable and
//! fuzzable without a server; `hub` and `closer` add I/O and proving around it.

pub mod bytes;
pub mod client;
pub mod codec;
pub mod crypto;
pub mod disclosure;
pub mod field;
pub mod incremental;
pub mod ledger;
pub mod merkle;
pub mod settlement;
pub mod state_tree;
pub mod statement;
pub mod types;
pub mod volume;

pub use field::Fe;
pub use types::{Amount, ChannelId, Epoch, HubId, NetAmount, Seq, Voucher};
