//! The range proof file: what `zkhub audit prove` writes and `zkhub audit verify`
//! reads (docs/PROOF_FORMAT.md). All integers little-endian; field elements 32-byte
//! little-endian canonical.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `ZKHUBRNG` |
//! | 8 | 2 | format version, `1` |
//! | 10 | 1 | counter: `0` received, `1` spent |
//! | 11 | 1 | reserved, `0` |
//! | 12 | 8 | `hub_id` |
//! | 20 | 8 | `epoch` (≥ 1) |
//! | 28 | 4 | `channel` (< 2^20) |
//! | 32 | 8 | `min` |
//! | 40 | 8 | `max` (≥ `min`) |
//! | 48 | 32 | `root`: state root of `epoch` |
//! | 80 | 32 | `prev_root`: state root of `epoch − 1` |
//! | 112 | 32 | verifier key digest (Spartan2's) |
//! | 144 | 4 | proof length `L`, at most [`MAX_PROOF_LEN`] |
//! | 148 | `L` | Spartan2 0.9 `SpartanZkSNARK<Bn254Engine>`, bincode 1.3 (fixed-width integers), nothing after it |
//!
//! A file is hostile until verified: the whole header is checked (magic, version, tags,
//! canonical field elements, bounds, and `L` against [`MAX_PROOF_LEN`] and the bytes
//! present) before any byte of the proof is decoded, and decoding is bounded by `L`.

use channel::bytes::{ReadError, Reader};
use channel::disclosure::SettledRoots;
use channel::field::{Fe, fe_to_dec};
use channel::state_tree::CAPACITY;
use ff::PrimeField;

use super::prove::{keys, verify_snark};
use super::{Counter, RangeError, RangeReport, RangeStatement, settled_roots};
use crate::field::{F, f_to_fe, fe_to_f};

/// File magic.
pub const MAGIC: [u8; 8] = *b"ZKHUBRNG";
/// Current format version.
pub const VERSION: u16 = 1;
/// Bytes before the proof.
pub const HEADER_LEN: usize = 148;
/// The largest proof accepted (a proof is ~74 KB; the bound leaves room for Spartan2
/// encodings to grow a little without admitting an absurd allocation).
pub const MAX_PROOF_LEN: usize = 256 << 10;
/// The largest file accepted.
pub const MAX_FILE_BYTES: usize = HEADER_LEN + MAX_PROOF_LEN;

/// A range proof: the statement, the verifier key digest and the Spartan2 proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeProof {
    /// The public statement.
    pub statement: RangeStatement,
    /// Digest of the verifier key the proof was made with.
    pub key_digest: [u8; 32],
    /// The Spartan2 proof (bincode).
    pub snark: Vec<u8>,
}

/// Whether `bytes` starts like a range proof file (its magic).
pub fn is_range_proof(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

fn malformed(why: &str) -> RangeError {
    RangeError::Malformed(why.into())
}

fn read_fe(r: &mut Reader<'_>) -> Result<Fe, RangeError> {
    let bytes = r
        .array::<32>()
        .map_err(|_| malformed("shorter than the header"))?;
    let mut repr = <F as PrimeField>::Repr::default();
    repr.as_mut().copy_from_slice(bytes);
    let f: Option<F> = F::from_repr(repr).into();
    f.map(|f| f_to_fe(&f))
        .ok_or_else(|| malformed("a root is not a canonical field element"))
}

impl RangeProof {
    /// Encode as a file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let s = &self.statement;
        let mut out = Vec::with_capacity(HEADER_LEN + self.snark.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&[s.counter.tag(), 0]);
        out.extend_from_slice(&s.hub_id.to_le_bytes());
        out.extend_from_slice(&s.epoch.to_le_bytes());
        out.extend_from_slice(&s.channel.to_le_bytes());
        out.extend_from_slice(&s.min.to_le_bytes());
        out.extend_from_slice(&s.max.to_le_bytes());
        out.extend_from_slice(fe_to_f(&s.root).to_repr().as_ref());
        out.extend_from_slice(fe_to_f(&s.prev_root).to_repr().as_ref());
        out.extend_from_slice(&self.key_digest);
        let len = u32::try_from(self.snark.len()).expect("a proof is far below 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        debug_assert_eq!(out.len(), HEADER_LEN);
        out.extend_from_slice(&self.snark);
        out
    }

    /// Decode a file (structure only; [`RangeProof::verify`] checks the proof).
    pub fn from_bytes(bytes: &[u8]) -> Result<RangeProof, RangeError> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(RangeError::Malformed(format!(
                "file of {} bytes exceeds the {MAX_FILE_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let short = |_: ReadError| malformed("shorter than the header");
        let mut r = Reader::new(bytes);
        if *r.array::<8>().map_err(short)? != MAGIC {
            return Err(malformed("bad magic: not a zkhub range proof"));
        }
        let version = r.u16_le().map_err(short)?;
        if version != VERSION {
            return Err(RangeError::UnsupportedVersion(version));
        }
        if bytes.len() < HEADER_LEN {
            return Err(malformed("shorter than the header"));
        }
        let counter = Counter::from_tag(r.u8().map_err(short)?)
            .ok_or_else(|| malformed("unknown counter tag"))?;
        if r.u8().map_err(short)? != 0 {
            return Err(malformed("reserved byte is not zero"));
        }
        let hub_id = r.u64_le().map_err(short)?;
        let epoch = r.u64_le().map_err(short)?;
        let channel = r.u32_le().map_err(short)?;
        let min = r.u64_le().map_err(short)?;
        let max = r.u64_le().map_err(short)?;
        let root = read_fe(&mut r)?;
        let prev_root = read_fe(&mut r)?;
        let key_digest = *r.array::<32>().map_err(short)?;
        let len = r.u32_le().map_err(short)? as usize;
        if epoch == 0 {
            return Err(malformed("epoch 0 has no close"));
        }
        if u64::from(channel) >= CAPACITY {
            return Err(malformed("channel beyond the state tree"));
        }
        if min > max {
            return Err(malformed("min > max"));
        }
        if len > MAX_PROOF_LEN {
            return Err(malformed("proof length exceeds the limit"));
        }
        if r.remaining() != len {
            return Err(malformed(if r.remaining() < len {
                "truncated: fewer proof bytes than the header states"
            } else {
                "trailing bytes after the proof"
            }));
        }
        let snark = r.take(len).map_err(short)?.to_vec();
        Ok(RangeProof {
            statement: RangeStatement {
                hub_id,
                epoch,
                channel,
                counter,
                min,
                max,
                root,
                prev_root,
            },
            key_digest,
            snark,
        })
    }

    fn report(&self, anchored: bool) -> RangeReport {
        let s = &self.statement;
        RangeReport {
            hub_id: s.hub_id,
            channel: s.channel,
            epoch: s.epoch,
            counter: s.counter,
            min: s.min,
            max: s.max,
            root: s.root,
            anchored,
        }
    }

    /// Verify the proof against the roots the file states (the report says
    /// `anchored: false`: the roots still have to be compared with the settlement
    /// layer's, [`RangeProof::verify`]).
    pub fn check(&self) -> Result<RangeReport, RangeError> {
        let keys = keys()?;
        if self.key_digest != keys.digest {
            return Err(RangeError::KeyMismatch {
                proof: hex::encode(&self.key_digest[..8]),
                ours: hex::encode(&keys.digest[..8]),
            });
        }
        verify_snark(keys, &self.statement, &self.snark)?;
        Ok(self.report(false))
    }

    /// Compare both roots with what `settled` stored for the hub's epoch and the epoch
    /// before (the empty tree before epoch 1), then verify the proof.
    pub fn verify(&self, settled: &dyn SettledRoots) -> Result<RangeReport, RangeError> {
        let s = &self.statement;
        let (root, prev_root) = settled_roots(settled, s.hub_id, s.epoch)?;
        for (epoch, file, stored) in [
            (s.epoch, s.root, root),
            (s.epoch - 1, s.prev_root, prev_root),
        ] {
            if file != stored {
                return Err(RangeError::RootMismatch {
                    epoch,
                    file: fe_to_dec(&file),
                    settled: fe_to_dec(&stored),
                });
            }
        }
        self.check()?;
        Ok(self.report(true))
    }
}
