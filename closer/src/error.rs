//! Errors of closing an epoch and of verifying a close.

use channel::statement::StatementError;

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
    /// More slots than the prover supports.
    #[error("{0} slots exceed the supported maximum")]
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
    /// A cached key or a proof could not be (de)serialized.
    #[error("encoding: {0}")]
    Encoding(String),
    /// The proof file is malformed (bad magic, version, lengths or field elements).
    #[error("malformed proof file: {0}")]
    Malformed(&'static str),
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
