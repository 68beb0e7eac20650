//! The close proof file: what `zkhub close` writes and `zkhub verify` and the settlement
//! layer read. Layout (version 3, all integers little-endian; see also
//! `docs/PROOF_FORMAT.md`):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `ZKHUBCLS` |
//! | 8 | 2 | format version, `3` (version 2 had no volume commitment: refused) |
//! | 10 | 1 | statement: `0` full close ([`CloseProof`]), `1` incremental ([`TransitionProof`]) |
//! | 11 | 1 | reserved, `0` |
//! | 12 | 4 | `K`, slots per chunk |
//! | 16 | 4 | `M`, chunks (`N = K·M` slots; must be the layout of `n`: [`Layout::for_channels`], [`Layout::for_touched`]) |
//! | 20 | 32 | verifier key digest (BLAKE3 of the key body, [`crate::keys`]) |
//! | 52 | 32·I | public inputs, 32-byte little-endian canonical field elements: full (I = 6) `hub_id, epoch, n, deposits_root, balances_root, volume_commitment`; incremental (I = 7) `hub_id, epoch, n, prev_root, new_root, deposits_hash, volume_commitment` |
//! | 52 + 32·I | 4 | proof length `L`, at most [`max_proof_len`] of the layout |
//! | 56 + 32·I | `L` | Spartan2 0.9 `NeutronNovaZkSNARK<Bn254Engine>`, bincode 1.3 (fixed-width integers), nothing after it |
//!
//! A file is hostile until verified: the header is checked whole (magic, version,
//! layout canonical for `n`, canonical field elements, `n`, length) before any byte of
//! the proof is decoded, and decoding is bounded by `L` and refuses trailing bytes.

use channel::bytes::{ReadError, Reader};
use channel::field::Fe;
use channel::incremental::IncrementalInputs;
use channel::statement::PublicInputs;
use ff::PrimeField;

use crate::error::CloseError;
use crate::field::{F, f_to_fe, fe_to_f};
use crate::keys::KeyDigest;
use crate::layout::{Layout, Statement};
use crate::witness::public_scalars;

/// File magic.
pub const MAGIC: [u8; 8] = *b"ZKHUBCLS";
/// Current format version.
pub const VERSION: u16 = 3;
/// Bytes before the proof of a full close (six inputs); see [`header_len`].
pub const HEADER_LEN: usize = 248;

/// Largest proof accepted for `layout`: a fixed part (Spartan's evaluation argument and
/// the verifier circuit's instance, ~80 KB) and the step instances' witness
/// commitments (Hyrax rows, ~1 KB per slot of a chunk per step at most), with margin.
pub fn max_proof_len(layout: Layout) -> usize {
    (256 << 10) + layout.chunks * layout.slots_per_chunk * 1024
}

/// A close proof: its layout, the verifier key it was made with, its public inputs and
/// the Spartan2 proof bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseProof {
    /// Chunks and slots per chunk.
    pub layout: Layout,
    /// Digest of the verifier key the proof was made for.
    pub key_digest: KeyDigest,
    /// Public inputs.
    pub public: PublicInputs,
    /// The Spartan2 proof (bincode).
    pub snark: Vec<u8>,
}

/// An incremental close proof (statement tag 1): like [`CloseProof`], with the seven
/// inputs of `channel::incremental::IncrementalInputs`; `(K, M)` must be
/// [`Layout::for_touched`]`(n)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionProof {
    /// Chunks and slots per chunk.
    pub layout: Layout,
    /// Digest of the verifier key the proof was made for.
    pub key_digest: KeyDigest,
    /// Public inputs.
    pub inputs: IncrementalInputs,
    /// The Spartan2 proof (bincode).
    pub snark: Vec<u8>,
}

impl CloseProof {
    /// Slots `N = K·M`.
    pub fn slots(&self) -> usize {
        self.layout.slots()
    }

    /// Encode as a proof file.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(
            self.layout,
            &self.key_digest,
            &public_scalars(&self.public),
            &self.snark,
        )
    }

    /// Decode a proof file (structure only; see [`crate::Verifier`] for the proof).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CloseError> {
        let raw = decode(bytes, Statement::Full)?;
        let f = &raw.fields;
        let public = PublicInputs {
            hub_id: small(&f[0])?,
            epoch: small(&f[1])?,
            n: small(&f[2])?,
            deposits_root: f[3],
            balances_root: f[4],
            volume_commitment: f[5],
        };
        let layout = raw.layout_for(public.n, Layout::for_channels)?;
        Ok(CloseProof {
            layout,
            key_digest: raw.key_digest,
            public,
            snark: raw.snark.to_vec(),
        })
    }
}

impl TransitionProof {
    /// Encode as a proof file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let fields = self.inputs.to_field_elements().map(|x| fe_to_f(&x));
        encode(self.layout, &self.key_digest, &fields, &self.snark)
    }

    /// Decode a proof file (structure only; see [`crate::Verifier`] for the proof).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CloseError> {
        let raw = decode(bytes, Statement::Incremental)?;
        let f = &raw.fields;
        let inputs = IncrementalInputs {
            hub_id: small(&f[0])?,
            epoch: small(&f[1])?,
            n: small(&f[2])?,
            prev_root: f[3],
            new_root: f[4],
            deposits_hash: f[5],
            volume_commitment: f[6],
        };
        let layout = raw.layout_for(inputs.n, Layout::for_touched)?;
        Ok(TransitionProof {
            layout,
            key_digest: raw.key_digest,
            inputs,
            snark: raw.snark.to_vec(),
        })
    }
}

/// The statement a proof file says it proves (its header's byte 10), if the file is
/// long enough and the tag is known; the file is checked in full by
/// [`CloseProof::from_bytes`] / [`TransitionProof::from_bytes`].
pub fn statement_of(bytes: &[u8]) -> Option<Statement> {
    match bytes.get(10)? {
        0 => Some(Statement::Full),
        1 => Some(Statement::Incremental),
        _ => None,
    }
}

/// Number of public inputs of `statement`.
fn input_count(statement: Statement) -> usize {
    match statement {
        Statement::Full => crate::slot::NUM_PUBLIC_INPUTS,
        Statement::Incremental => crate::incremental::NUM_INPUTS,
    }
}

/// Bytes before the proof for `statement`.
pub fn header_len(statement: Statement) -> usize {
    52 + 32 * input_count(statement) + 4
}

fn encode(layout: Layout, key_digest: &KeyDigest, fields: &[F], snark: &[u8]) -> Vec<u8> {
    debug_assert_eq!(fields.len(), input_count(layout.statement));
    let header = header_len(layout.statement);
    let mut out = Vec::with_capacity(header + snark.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&[layout.statement.tag(), 0]);
    out.extend_from_slice(&(layout.slots_per_chunk as u32).to_le_bytes());
    out.extend_from_slice(&(layout.chunks as u32).to_le_bytes());
    out.extend_from_slice(key_digest);
    for x in fields {
        out.extend_from_slice(x.to_repr().as_ref());
    }
    let len = u32::try_from(snark.len()).expect("proof below 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    debug_assert_eq!(out.len(), header);
    out.extend_from_slice(snark);
    out
}

/// A header checked for everything but its layout, and the proof bytes after it.
struct Raw<'a> {
    layout: Layout,
    key_digest: KeyDigest,
    fields: Vec<Fe>,
    len: usize,
    snark: &'a [u8],
}

impl Raw<'_> {
    /// The header's layout if it is exactly the one `n` calls for, with a proof length
    /// within that layout's bound.
    fn layout_for(
        &self,
        n: u64,
        expected: fn(u64) -> Result<Layout, CloseError>,
    ) -> Result<Layout, CloseError> {
        // The layout is a function of n: a header may not choose another.
        let expected = expected(n)
            .map_err(|_| CloseError::Malformed("n exceeds the largest supported epoch"))?;
        if self.layout != expected {
            return Err(CloseError::WrongShape {
                n,
                expected,
                got: self.layout,
            });
        }
        if self.len > max_proof_len(expected) {
            return Err(CloseError::Malformed(
                "proof length exceeds the bound for its layout",
            ));
        }
        Ok(expected)
    }
}

fn small(x: &Fe) -> Result<u64, CloseError> {
    channel::field::fe_to_u64(x).ok_or(CloseError::Malformed(
        "hub_id, epoch or n does not fit 64 bits",
    ))
}

fn decode(bytes: &[u8], statement: Statement) -> Result<Raw<'_>, CloseError> {
    let short = |_: ReadError| CloseError::Malformed("shorter than the header");
    let mut r = Reader::new(bytes);
    let magic = r.array::<8>().map_err(short)?;
    let version = r.u16_le().map_err(short)?;
    if *magic != MAGIC {
        return Err(CloseError::Malformed("bad magic: not a zkhub close proof"));
    }
    if version != VERSION {
        return Err(CloseError::UnsupportedVersion(version));
    }
    let header = header_len(statement);
    if bytes.len() < header {
        return Err(CloseError::Malformed("shorter than the header"));
    }
    if r.u8().map_err(short)? != statement.tag() {
        return Err(CloseError::Malformed(match statement {
            Statement::Full => "an incremental close proof, not a full one",
            Statement::Incremental => "a full close proof, not an incremental one",
        }));
    }
    if r.u8().map_err(short)? != 0 {
        return Err(CloseError::Malformed("reserved bytes are not zero"));
    }
    let layout = Layout {
        statement,
        slots_per_chunk: r.u32_le().map_err(short)? as usize,
        chunks: r.u32_le().map_err(short)? as usize,
    };
    let key_digest: KeyDigest = *r.array::<32>().map_err(short)?;
    let fields = (0..input_count(statement))
        .map(|_| {
            let mut repr = <F as PrimeField>::Repr::default();
            repr.as_mut()
                .copy_from_slice(r.array::<32>().map_err(short)?);
            Option::from(F::from_repr(repr))
                .map(|x: F| f_to_fe(&x))
                .ok_or(CloseError::Malformed("non-canonical field element"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let len = r.u32_le().map_err(short)? as usize;
    let appended = |_: ReadError| {
        CloseError::Malformed("proof length does not match the file (bytes missing or appended)")
    };
    let snark = r.take(len).map_err(appended)?;
    r.finish().map_err(appended)?;
    Ok(Raw {
        layout,
        key_digest,
        fields,
        len,
        snark,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CloseProof {
        CloseProof {
            layout: Layout::for_channels(3).unwrap(),
            key_digest: [0xab; 32],
            public: PublicInputs {
                hub_id: 7,
                epoch: 3,
                n: 3,
                deposits_root: Fe::from(11u64),
                balances_root: -Fe::from(13u64),
                volume_commitment: Fe::from(17u64),
            },
            snark: vec![1, 2, 3, 4, 5],
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let p = sample();
        let bytes = p.to_bytes();
        assert_eq!(bytes.len(), HEADER_LEN + 5);
        assert_eq!(&bytes[..8], b"ZKHUBCLS");
        assert_eq!(&bytes[8..10], &3u16.to_le_bytes());
        assert_eq!(&bytes[12..16], &2u32.to_le_bytes()); // K = 2
        assert_eq!(&bytes[16..20], &2u32.to_le_bytes()); // M = 2
        assert_eq!(bytes[52], 7); // hub_id, little-endian
        assert_eq!(CloseProof::from_bytes(&bytes).unwrap(), p);
    }

    #[test]
    fn malformed_headers_are_refused_before_the_proof_is_read() {
        let good = sample().to_bytes();
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        cases.push(("truncated header", good[..100].to_vec()));
        let mut b = good.clone();
        b[0] ^= 1;
        cases.push(("bad magic", b));
        let mut b = good.clone();
        b[10] = 1;
        cases.push(("reserved", b));
        let mut b = good.clone();
        b[52 + 31] = 0xff;
        cases.push(("hub_id not canonical", b));
        let mut b = good.clone();
        b[52 + 8] = 1;
        cases.push(("hub_id ≥ 2^64", b));
        let mut b = good.clone();
        b.push(0);
        cases.push(("trailing byte", b));
        let mut b = good.clone();
        b.pop();
        cases.push(("missing byte", b));
        let mut b = good.clone();
        b[52 + 64 + 4] = 1; // n = 2^32 + 3
        cases.push(("n too large", b));
        let mut b = good.clone();
        b[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&u32::MAX.to_le_bytes());
        cases.push(("length beyond the bound", b));
        for (name, c) in &cases {
            assert!(
                matches!(CloseProof::from_bytes(c), Err(CloseError::Malformed(_))),
                "{name}: {:?}",
                CloseProof::from_bytes(c)
            );
        }
    }

    #[test]
    fn a_header_naming_another_layout_is_refused() {
        // The N = 2^24 header that once made a verifier allocate 2.95 GB: refused by
        // its header alone, since n = 3 calls for 4 slots.
        for (k, m) in [(1u32, 1u32 << 24), (2, 4), (4, 1), (0, 0)] {
            let mut b = sample().to_bytes();
            b[12..16].copy_from_slice(&k.to_le_bytes());
            b[16..20].copy_from_slice(&m.to_le_bytes());
            assert!(
                matches!(
                    CloseProof::from_bytes(&b),
                    Err(CloseError::WrongShape { .. })
                ),
                "K={k} M={m}"
            );
        }
    }

    #[test]
    fn older_versions_are_refused_with_a_clear_message() {
        // Version 2 is the statement before the volume commitment; version 1 the
        // monolithic close.
        for old in [1u16, 2] {
            let mut b = sample().to_bytes();
            b[8..10].copy_from_slice(&old.to_le_bytes());
            let err = CloseProof::from_bytes(&b).unwrap_err();
            assert!(
                matches!(err, CloseError::UnsupportedVersion(v) if v == old),
                "{err}"
            );
            assert!(err.to_string().contains("version 3"), "{err}");
        }
    }
}
