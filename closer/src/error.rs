//! Errors of closing an epoch and of verifying a close.

use channel::statement::StatementError;

use crate::layout::Layout;

/// Why a close could not be proved or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// The snapshot does not satisfy the close statement (fix the hub's state first).
    #[error("snapshot rejected: {0}")]
    Statement(#[from] StatementError),
    /// A checkpoint signature could not be decoded.
    #[error("channel {channel}: malformed checkpoint signature")]
    BadSignature {
        /// Channel id.
        channel: channel::ChannelId,
    },
    /// No layout exists for this many slots.
    #[error("{0} slots: not a supported size (a power of two from 2 to 2^24)")]
    TooManySlots(usize),
    /// Reading or writing the key cache failed.
    #[error("key cache {path}: {source}")]
    Io {
        /// File involved.
        path: std::path::PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A cached key file is not the key it is named as.
    #[error("key file {path} refused: {why} (delete it to make it again)")]
    BadKeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        why: &'static str,
    },
    /// The verifier key for a layout is not in the key directory (verifiers never make
    /// keys: `zkhub keys` or a close on this machine does).
    #[error(
        "no verifier key for {layout} at {path}: make it with `zkhub keys --slots {}` (or prove a close on this machine)",
        layout.slots()
    )]
    MissingKey {
        /// The layout.
        layout: Layout,
        /// Where it was looked for.
        path: std::path::PathBuf,
    },
    /// A cached key or a proof could not be (de)serialized.
    #[error("encoding: {0}")]
    Encoding(String),
    /// The proof file is malformed (bad magic, lengths or field elements).
    #[error("malformed proof file: {0}")]
    Malformed(&'static str),
    /// The proof file is of another format version.
    #[error(
        "proof file version {0} is not supported: this verifier reads version 3 (folded close with a volume commitment); prove the epoch again with this zkhub"
    )]
    UnsupportedVersion(u16),
    /// The file's layout is not the one the epoch's channel count calls for.
    #[error("proof is for {got}, but an epoch with {n} channels is closed over {expected}")]
    WrongShape {
        /// Channels in the epoch.
        n: u64,
        /// The layout the epoch calls for.
        expected: Layout,
        /// The layout the file names.
        got: Layout,
    },
    /// The proof names another verifier key than the one this verifier holds.
    #[error("proof was made with verifier key {proof}, this verifier holds {ours}")]
    KeyMismatch {
        /// The digest in the proof file (hex, first 8 bytes).
        proof: String,
        /// The digest of the local key (hex, first 8 bytes).
        ours: String,
    },
    /// Spartan2 failed to set up or prove (a witness that does not satisfy the circuit
    /// shows up here).
    #[error("prover: {0}")]
    Prover(String),
    /// The proof does not verify against its public inputs.
    #[error("proof does not verify: {0}")]
    Invalid(String),
    /// The proof is valid but for other public inputs than expected.
    #[error("proof is for different public inputs")]
    PublicInputsMismatch,
}
