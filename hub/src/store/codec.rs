//! Fixed-layout binary encodings of what the store keeps: channel rows and epoch
//! records (read with `channel::bytes::Reader`).
//!
//! Channel row (value of the `channels` table, key = channel id), big-endian, 202 bytes:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | row version (1) |
//! | 1 | 8 | `as_of`: the last batch number this row reflects |
//! | 9 | 32 | `pk.x` |
//! | 41 | 32 | `pk.y` |
//! | 73 | 8 | net deposit `|D|` (its sign is flag bit 2) |
//! | 81 | 8 | spent `S` |
//! | 89 | 8 | received `R` |
//! | 97 | 8 | seq |
//! | 105 | 32 | chain |
//! | 137 | 1 | flags: bit 0 = has checkpoint signature, bit 1 = exiting, bit 2 = `D < 0` |
//! | 138 | 64 | checkpoint signature (packed), zero when absent |
//!
//! Keys are read back with [`PublicKey::from_xy_unchecked`]: they were validated when
//! the channel was opened, and skipping point decompression keeps loading a million
//! rows cheap.

use channel::bytes::{ReadError, Reader};
use channel::crypto::PublicKey;
use channel::field::{fe_from_be_bytes, fe_to_be_bytes};
use channel::ledger::ChannelRecord;
use channel::types::{ChannelId, Epoch};

/// Length of an encoded channel row.
pub const ROW_LEN: usize = 202;
const ROW_VERSION: u8 = 1;
const FLAG_SIG: u8 = 1;
const FLAG_EXITING: u8 = 2;
/// The net deposit is negative (a payee withdrew more than it deposited). Rows
/// written before signed deposits never set it, so they read back unchanged.
const FLAG_NEGATIVE_DEPOSIT: u8 = 4;

/// Why a stored row could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// Wrong length.
    #[error("row has {0} bytes, expected {ROW_LEN}")]
    Length(usize),
    /// Unknown row version.
    #[error("unknown row version {0}")]
    Version(u8),
    /// A field element is not below the modulus.
    #[error("field element out of range")]
    Field,
    /// Unknown flag bits, a signature without a seq (or the reverse), signature bytes
    /// without the signature flag, or `-0`.
    #[error("inconsistent flags")]
    Flags,
}

/// Encode `record` as a row reflecting every batch up to `as_of`.
pub fn encode_row(record: &ChannelRecord, as_of: u64) -> [u8; ROW_LEN] {
    let mut out = [0u8; ROW_LEN];
    out[0] = ROW_VERSION;
    out[1..9].copy_from_slice(&as_of.to_be_bytes());
    out[9..41].copy_from_slice(&fe_to_be_bytes(&record.pk.0.x));
    out[41..73].copy_from_slice(&fe_to_be_bytes(&record.pk.0.y));
    let magnitude = u64::try_from(record.deposit.unsigned_abs())
        .expect("|D| < 2^64 (asserted when the ledger applies events)");
    out[73..81].copy_from_slice(&magnitude.to_be_bytes());
    out[81..89].copy_from_slice(&record.spent.to_be_bytes());
    out[89..97].copy_from_slice(&record.received.to_be_bytes());
    out[97..105].copy_from_slice(&record.seq.to_be_bytes());
    out[105..137].copy_from_slice(&fe_to_be_bytes(&record.chain));
    let mut flags = 0;
    if let Some(sig) = &record.checkpoint_sig {
        flags |= FLAG_SIG;
        out[138..202].copy_from_slice(sig);
    }
    if record.exiting {
        flags |= FLAG_EXITING;
    }
    if record.deposit < 0 {
        flags |= FLAG_NEGATIVE_DEPOSIT;
    }
    out[137] = flags;
    out
}

/// Decode a row of channel `id`; returns the record and its `as_of`.
pub fn decode_row(id: ChannelId, bytes: &[u8]) -> Result<(ChannelRecord, u64), RowError> {
    if bytes.len() != ROW_LEN {
        return Err(RowError::Length(bytes.len()));
    }
    // The length is checked: no read below can come up short.
    let short = |_: ReadError| RowError::Length(bytes.len());
    let mut r = Reader::new(bytes);
    let version = r.u8().map_err(short)?;
    if version != ROW_VERSION {
        return Err(RowError::Version(version));
    }
    let as_of = r.u64_be().map_err(short)?;
    let pk_x = r.array::<32>().map_err(short)?;
    let pk_y = r.array::<32>().map_err(short)?;
    let magnitude = i128::from(r.u64_be().map_err(short)?);
    let spent = r.u64_be().map_err(short)?;
    let received = r.u64_be().map_err(short)?;
    let seq = r.u64_be().map_err(short)?;
    let chain = r.array::<32>().map_err(short)?;
    let flags = r.u8().map_err(short)?;
    let sig = r.array::<64>().map_err(short)?;
    r.finish().map_err(short)?;
    if flags & !(FLAG_SIG | FLAG_EXITING | FLAG_NEGATIVE_DEPOSIT) != 0 {
        return Err(RowError::Flags);
    }
    let deposit = if flags & FLAG_NEGATIVE_DEPOSIT != 0 {
        if magnitude == 0 {
            return Err(RowError::Flags);
        }
        -magnitude
    } else {
        magnitude
    };
    let has_sig = flags & FLAG_SIG != 0;
    if has_sig != (seq != 0) || (!has_sig && sig.iter().any(|&x| x != 0)) {
        return Err(RowError::Flags);
    }
    let fe = |b: &[u8; 32]| fe_from_be_bytes(b).map_err(|_| RowError::Field);
    let record = ChannelRecord {
        id,
        pk: PublicKey::from_xy_unchecked(fe(pk_x)?, fe(pk_y)?),
        deposit,
        spent,
        received,
        seq,
        chain: fe(chain)?,
        checkpoint_sig: has_sig.then_some(*sig),
        exiting: flags & FLAG_EXITING != 0,
    };
    Ok((record, as_of))
}

/// The `epochs` table's value: what the store knows about one epoch cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochRecord {
    /// The epoch.
    pub epoch: Epoch,
    /// The last batch included in the epoch (the snapshot is the state after it).
    pub cut_batch: u64,
    /// Wall-clock time of the cut, milliseconds since the Unix epoch.
    pub cut_unix_ms: u64,
    /// Set once the snapshot file is durably written.
    pub snapshot: Option<SnapshotMeta>,
}

/// A written snapshot file: how many channels and its BLAKE3 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// Number of channels in the snapshot.
    pub channels: u64,
    /// BLAKE3 of the file's body (the file's last 32 bytes).
    pub digest: [u8; 32],
}

/// Length of an encoded [`EpochRecord`].
pub const EPOCH_LEN: usize = 66;

impl EpochRecord {
    /// `version u8 (1), epoch u64, cut_batch u64, cut_unix_ms u64, has_snapshot u8,
    /// channels u64, digest [32]`, big-endian.
    pub fn encode(&self) -> [u8; EPOCH_LEN] {
        let mut out = [0u8; EPOCH_LEN];
        out[0] = 1;
        out[1..9].copy_from_slice(&self.epoch.to_be_bytes());
        out[9..17].copy_from_slice(&self.cut_batch.to_be_bytes());
        out[17..25].copy_from_slice(&self.cut_unix_ms.to_be_bytes());
        if let Some(s) = &self.snapshot {
            out[25] = 1;
            out[26..34].copy_from_slice(&s.channels.to_be_bytes());
            out[34..66].copy_from_slice(&s.digest);
        }
        out
    }

    /// Inverse of [`EpochRecord::encode`]; `None` if malformed (including a record
    /// without a snapshot whose snapshot fields are not zero: one encoding per record).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader::new(bytes);
        let (version, epoch, cut_batch, cut_unix_ms) = (
            r.u8().ok()?,
            r.u64_be().ok()?,
            r.u64_be().ok()?,
            r.u64_be().ok()?,
        );
        let has_snapshot = r.u8().ok()?;
        let channels = r.u64_be().ok()?;
        let digest = *r.array::<32>().ok()?;
        r.finish().ok()?;
        let unused_nonzero = has_snapshot == 0 && (channels != 0 || digest.iter().any(|&x| x != 0));
        if version != 1 || has_snapshot > 1 || unused_nonzero {
            return None;
        }
        Some(EpochRecord {
            epoch,
            cut_batch,
            cut_unix_ms,
            snapshot: (has_snapshot == 1).then_some(SnapshotMeta { channels, digest }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use channel::field::Fe;

    fn record(seq: u64) -> ChannelRecord {
        ChannelRecord {
            id: 7,
            pk: PublicKey::from_xy_unchecked(Fe::from(123u64), -Fe::from(5u64)),
            deposit: 1_000,
            spent: 40,
            received: u64::MAX - 3,
            seq,
            chain: -Fe::from(99u64),
            checkpoint_sig: (seq > 0).then_some([0xab; 64]),
            exiting: seq % 2 == 1,
        }
    }

    #[test]
    fn row_round_trip() {
        for seq in [0, 1, 2] {
            let r = record(seq);
            let row = encode_row(&r, 42 + seq);
            assert_eq!(decode_row(7, &row), Ok((r, 42 + seq)));
        }
        // Signed net deposits: a payee that withdrew more than it deposited.
        for deposit in [-1, -(u64::MAX as i128), u64::MAX as i128, 0] {
            let r = ChannelRecord {
                deposit,
                ..record(1)
            };
            let row = encode_row(&r, 5);
            assert_eq!(row[137] & FLAG_NEGATIVE_DEPOSIT != 0, deposit < 0);
            assert_eq!(decode_row(7, &row), Ok((r, 5)));
        }
    }

    #[test]
    fn an_epoch_record_without_a_snapshot_but_bytes_in_its_snapshot_fields_is_refused() {
        // Found by the `store_record` libFuzzer target (fuzz/): such a record used to
        // decode, silently dropping the bytes, so one record had many encodings.
        let record = EpochRecord {
            epoch: 3,
            cut_batch: 9,
            cut_unix_ms: 1_700_000_000_000,
            snapshot: None,
        };
        let good = record.encode();
        assert_eq!(EpochRecord::decode(&good), Some(record));
        for at in 26..EPOCH_LEN {
            let mut bad = good;
            bad[at] = 0x42;
            assert_eq!(EpochRecord::decode(&bad), None, "byte {at} set");
        }
        let with = EpochRecord {
            snapshot: Some(SnapshotMeta {
                channels: 0,
                digest: [0; 32],
            }),
            ..record
        };
        assert_eq!(EpochRecord::decode(&with.encode()), Some(with));
    }

    #[test]
    fn a_row_without_a_signature_but_bytes_in_its_signature_field_is_refused() {
        // Found by the `store_record` libFuzzer target (fuzz/): such a row used to
        // decode, silently dropping the 64 bytes, so one row had many encodings.
        let good = encode_row(&record(0), 5);
        assert_eq!(decode_row(7, &good).map(|(r, _)| r.seq), Ok(0));
        for at in 138..ROW_LEN {
            let mut bad = good;
            bad[at] = 0x42;
            assert_eq!(decode_row(7, &bad), Err(RowError::Flags), "byte {at} set");
        }
    }

    #[test]
    fn malformed_rows_are_refused() {
        let row = encode_row(&record(1), 1);
        assert_eq!(decode_row(7, &row[..100]), Err(RowError::Length(100)));
        let mut bad = row;
        bad[0] = 9;
        assert_eq!(decode_row(7, &bad), Err(RowError::Version(9)));
        let mut bad = row;
        bad[9..41].copy_from_slice(&[0xff; 32]);
        assert_eq!(decode_row(7, &bad), Err(RowError::Field));
        let mut bad = row;
        bad[137] = 0x80;
        assert_eq!(decode_row(7, &bad), Err(RowError::Flags));
        let mut bad = row;
        bad[73..81].fill(0);
        bad[137] |= FLAG_NEGATIVE_DEPOSIT; // -0
        assert_eq!(decode_row(7, &bad), Err(RowError::Flags));
        let mut bad = row;
        bad[137] = 0; // seq 1 without a signature
        assert_eq!(decode_row(7, &bad), Err(RowError::Flags));
    }

    #[test]
    fn epoch_record_round_trip() {
        let mut e = EpochRecord {
            epoch: 3,
            cut_batch: 900,
            cut_unix_ms: 1_700_000_000_000,
            snapshot: None,
        };
        assert_eq!(EpochRecord::decode(&e.encode()), Some(e));
        e.snapshot = Some(SnapshotMeta {
            channels: 10,
            digest: [7; 32],
        });
        assert_eq!(EpochRecord::decode(&e.encode()), Some(e));
        assert_eq!(EpochRecord::decode(&e.encode()[..10]), None);
    }
}
