//! Wire codec: JSON-RPC 2.0 text messages and the compact binary frames (DESIGN.md §5).
//! Decoding never panics, allocates within bounds and returns typed errors.
//! TODO(codec helper): implement json and binary; layout documented in docs/PROTOCOL.md.

pub mod error_code;

pub use error_code::ErrorCode;
