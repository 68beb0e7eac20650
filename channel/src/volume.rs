//! The epoch's volume: committed, hidden, in every close, and disclosed by the operator
//! to a regulator only (docs/DESIGN.md §11, docs/SECURITY.md §2.9).
//!
//! Each close carries one more public input, `Cv = Poseidon(VOLUME, V, rv)`
//! ([`volume_commitment`]):
//! - an incremental close: `V = Σ (S_new − S_old)` over the touched channels, exactly the
//!   epoch's volume (an untouched channel spent nothing);
//! - a full close: `V = Σ S`, the cumulative volume (an epoch's own is the difference of
//!   two attested values).
//!
//! The blind `rv` is [`volume_blind`]: BLAKE3 keyed by the hub's blind seed, like the
//! leaves' blinds (`ledger::snapshot::blind`), under its own domain string, so the hub
//! stores nothing and can re-derive it for any epoch. The circuit proves that `Cv`
//! commits to the sum of what the slots show; the settlement layer stores `Cv` with
//! the accepted close, learning nothing about `V` (the blind is 254 bits of PRF output).
//!
//! The operator gives a regulator a [`VolumeAttestation`] `(hub, E, kind, V, rv)`;
//! [`VolumeAttestation::verify`] recomputes `Cv` and compares it with the
//! [`SettledVolume`] the settlement layer stored.

use std::fmt;

use once_cell::sync::Lazy;
use serde::{Deserialize, Serialize};

use crate::field::{Fe, domain_tag, fe_to_dec};
use crate::ledger::Snapshot;
use crate::settlement::{CloseKind, Settlement};
use crate::types::{Epoch, HubId};

/// Domain tag `"zkhub/volume/v1"`, the first input of [`volume_commitment`].
pub static TAG_VOLUME: Lazy<Fe> = Lazy::new(|| domain_tag("zkhub/volume/v1"));

/// `Poseidon(VOLUME, V, rv)`: the close's commitment to its volume `V` with blind `rv`.
pub fn volume_commitment(volume: u128, blind: &Fe) -> Fe {
    crate::crypto::poseidon(&[*TAG_VOLUME, Fe::from(volume), *blind])
}

/// The blind `rv` of epoch `epoch`'s volume commitment: BLAKE3 keyed by the hub's blind
/// seed over `"zkhub/volume-blind/v1" ‖ epoch`, 64 bytes of output reduced modulo the
/// field order (as the leaf blinds, under another domain string, so it is independent
/// of every leaf's blind). Nothing is stored: the operator re-derives it to attest.
pub fn volume_blind(seed: &Fe, epoch: Epoch) -> Fe {
    let mut hasher = blake3::Hasher::new_keyed(&crate::field::fe_to_be_bytes(seed));
    hasher.update(b"zkhub/volume-blind/v1");
    hasher.update(&epoch.to_le_bytes());
    let mut wide = [0u8; 64];
    hasher.finalize_xof().fill(&mut wide);
    <Fe as ark_ff::PrimeField>::from_le_bytes_mod_order(&wide)
}

/// `Σ S` over a snapshot's channels: the cumulative volume at its cut.
pub fn total_spent(snapshot: &Snapshot) -> u128 {
    snapshot.channels.iter().map(|c| u128::from(c.spent)).sum()
}

/// The volume a close of `kind` of `snapshot` commits to: `Σ S` for a full close;
/// `Σ S − Σ S` of the `previous` epoch's snapshot for an incremental one (every channel
/// of the previous close is in the next snapshot and untouched ones did not spend, so
/// this is `Σ (S_new − S_old)` over the touched channels; `None` before epoch 1).
pub fn epoch_volume(kind: CloseKind, snapshot: &Snapshot, previous: Option<&Snapshot>) -> u128 {
    let now = total_spent(snapshot);
    match kind {
        CloseKind::Full => now,
        CloseKind::Incremental => now.saturating_sub(previous.map_or(0, total_spent)),
    }
}

/// The `format` field of an attestation file.
pub const FORMAT: &str = "zkhub/volume-attestation";
/// The version this code writes and reads.
pub const VERSION: u32 = 1;
/// The largest attestation file read.
pub const MAX_FILE_BYTES: usize = 4096;

/// Why an attestation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// The file is longer than [`MAX_FILE_BYTES`].
    #[error("an attestation is at most {MAX_FILE_BYTES} bytes; this one is {0}")]
    TooLong(usize),
    /// Not valid JSON of the attestation's shape.
    #[error("not a volume attestation: {0}")]
    Malformed(String),
    /// Another `format`.
    #[error("format {0:?} is not {FORMAT:?}")]
    Format(String),
    /// Another `version`.
    #[error("attestation version {0} is not supported (this build reads version {VERSION})")]
    Version(u32),
    /// The settlement layer has no accepted close of this epoch with a volume commitment.
    #[error("hub {hub_id}'s epoch {epoch} has no accepted close with a volume commitment")]
    NotSettled {
        /// Hub.
        hub_id: HubId,
        /// Epoch.
        epoch: Epoch,
    },
    /// The settlement record is of another hub.
    #[error("the attestation is hub {attested}'s, the settlement record hub {settled}'s")]
    WrongHub {
        /// The attestation's hub.
        attested: HubId,
        /// The record's.
        settled: HubId,
    },
    /// The settlement record is of another epoch.
    #[error("the attestation is of epoch {attested}, the settlement record of epoch {settled}")]
    WrongEpoch {
        /// The attestation's epoch.
        attested: Epoch,
        /// The record's.
        settled: Epoch,
    },
    /// The attestation names another statement than the accepted close proved.
    #[error("the attestation says the close was {attested:?}, the settlement layer {settled:?}")]
    KindMismatch {
        /// The attestation's kind.
        attested: CloseKind,
        /// The record's.
        settled: CloseKind,
    },
    /// `Poseidon(VOLUME, V, rv)` is not the stored commitment: `V` or `rv` is not the
    /// one the close proved.
    #[error(
        "Poseidon(VOLUME, V, rv) = {computed} is not the commitment {settled} the settlement layer stored for epoch {epoch}"
    )]
    CommitmentMismatch {
        /// Epoch.
        epoch: Epoch,
        /// From the attestation.
        computed: String,
        /// Stored.
        settled: String,
    },
}

/// What the settlement layer stored about an accepted close's volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettledVolume {
    /// Hub.
    pub hub_id: HubId,
    /// Epoch.
    pub epoch: Epoch,
    /// The statement the close proved.
    pub kind: CloseKind,
    /// Its public input `Cv`.
    #[serde(with = "crate::field::dec")]
    pub volume_commitment: Fe,
}

impl SettledVolume {
    /// Epoch `epoch`'s record on `settlement`, if its close was accepted with a volume
    /// commitment.
    pub fn from_settlement(settlement: &Settlement, epoch: Epoch) -> Option<SettledVolume> {
        let hub_id = settlement.hub()?.hub_id;
        let close = settlement.epoch(epoch)?.close.as_ref()?;
        Some(SettledVolume {
            hub_id,
            epoch,
            kind: close.kind,
            volume_commitment: close.volume_commitment?,
        })
    }
}

/// Serde adapter: a `u128` as a decimal string (JSON numbers lose precision past 2^53).
mod u128_dec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&x.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = <&str>::deserialize(d)?;
        if s.is_empty() || s.len() > 39 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom("a volume is a decimal string"));
        }
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The operator's disclosure of one epoch's volume: the opening `(V, rv)` of the close's
/// `Cv`. A JSON file (`format`, `version`, unknown fields refused), given to a regulator
/// only: anyone holding it learns `V`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeAttestation {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// Hub.
    pub hub_id: HubId,
    /// Epoch.
    pub epoch: Epoch,
    /// The statement the close proved (what `V` means: the epoch's own volume for an
    /// incremental close, the cumulative one for a full close).
    pub kind: CloseKind,
    /// `V`.
    #[serde(with = "u128_dec")]
    pub volume: u128,
    /// `rv`.
    #[serde(with = "crate::field::dec")]
    pub blind: Fe,
}

/// What a verified attestation proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VolumeReport {
    /// Hub.
    pub hub_id: HubId,
    /// Epoch.
    pub epoch: Epoch,
    /// The close's statement.
    pub kind: CloseKind,
    /// The volume the accepted close proved.
    pub volume: u128,
}

impl fmt::Display for VolumeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            CloseKind::Incremental => writeln!(
                f,
                "hub {}, epoch {}: the epoch's volume (Σ spent in the epoch) is {}, as the accepted incremental close proved",
                self.hub_id, self.epoch, self.volume
            ),
            CloseKind::Full => writeln!(
                f,
                "hub {}, epoch {}: the cumulative volume (Σ spent since the hub began) is {}, as the accepted full close proved",
                self.hub_id, self.epoch, self.volume
            ),
        }
    }
}

impl VolumeAttestation {
    /// The attestation of `volume` with blind `blind`.
    pub fn new(
        hub_id: HubId,
        epoch: Epoch,
        kind: CloseKind,
        volume: u128,
        blind: Fe,
    ) -> VolumeAttestation {
        VolumeAttestation {
            format: FORMAT.into(),
            version: VERSION,
            hub_id,
            epoch,
            kind,
            volume,
            blind,
        }
    }

    /// The attestation of `volume` with the blind [`volume_blind`] derives from the
    /// hub's blind `seed`.
    pub fn from_seed(
        hub_id: HubId,
        epoch: Epoch,
        kind: CloseKind,
        volume: u128,
        seed: &Fe,
    ) -> VolumeAttestation {
        VolumeAttestation::new(hub_id, epoch, kind, volume, volume_blind(seed, epoch))
    }

    /// `Poseidon(VOLUME, V, rv)`.
    pub fn commitment(&self) -> Fe {
        volume_commitment(self.volume, &self.blind)
    }

    /// Check the attestation against what the settlement layer stored: same hub, epoch
    /// and statement, and `Poseidon(VOLUME, V, rv)` is the stored `Cv`.
    pub fn verify(&self, settled: &SettledVolume) -> Result<VolumeReport, AttestationError> {
        if settled.hub_id != self.hub_id {
            return Err(AttestationError::WrongHub {
                attested: self.hub_id,
                settled: settled.hub_id,
            });
        }
        if settled.epoch != self.epoch {
            return Err(AttestationError::WrongEpoch {
                attested: self.epoch,
                settled: settled.epoch,
            });
        }
        if settled.kind != self.kind {
            return Err(AttestationError::KindMismatch {
                attested: self.kind,
                settled: settled.kind,
            });
        }
        let computed = self.commitment();
        if computed != settled.volume_commitment {
            return Err(AttestationError::CommitmentMismatch {
                epoch: self.epoch,
                computed: fe_to_dec(&computed),
                settled: fe_to_dec(&settled.volume_commitment),
            });
        }
        Ok(VolumeReport {
            hub_id: self.hub_id,
            epoch: self.epoch,
            kind: self.kind,
            volume: self.volume,
        })
    }

    /// [`VolumeAttestation::verify`] against the settlement layer itself.
    pub fn verify_on(&self, settlement: &Settlement) -> Result<VolumeReport, AttestationError> {
        let settled = SettledVolume::from_settlement(settlement, self.epoch).ok_or(
            AttestationError::NotSettled {
                hub_id: self.hub_id,
                epoch: self.epoch,
            },
        )?;
        self.verify(&settled)
    }

    /// The file's JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("an attestation serializes") + "\n"
    }

    /// Parse a file (hostile input: bounded, shape and version checked).
    pub fn from_json(bytes: &[u8]) -> Result<VolumeAttestation, AttestationError> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(AttestationError::TooLong(bytes.len()));
        }
        let a: VolumeAttestation = serde_json::from_slice(bytes)
            .map_err(|e| AttestationError::Malformed(e.to_string()))?;
        if a.format != FORMAT {
            return Err(AttestationError::Format(a.format));
        }
        if a.version != VERSION {
            return Err(AttestationError::Version(a.version));
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(a: &VolumeAttestation) -> SettledVolume {
        SettledVolume {
            hub_id: a.hub_id,
            epoch: a.epoch,
            kind: a.kind,
            volume_commitment: a.commitment(),
        }
    }

    fn attestation() -> VolumeAttestation {
        VolumeAttestation::from_seed(7, 3, CloseKind::Incremental, 1_234, &Fe::from(99u64))
    }

    #[test]
    fn the_blind_is_a_function_of_seed_and_epoch() {
        let seed = Fe::from(99u64);
        assert_eq!(volume_blind(&seed, 3), volume_blind(&seed, 3));
        assert_ne!(volume_blind(&seed, 3), volume_blind(&seed, 4));
        assert_ne!(volume_blind(&seed, 3), volume_blind(&Fe::from(98u64), 3));
        // Not a leaf's blind of the same seed.
        assert_ne!(
            volume_blind(&seed, 3),
            crate::ledger::snapshot::blind(&seed, 3, 0)
        );
    }

    #[test]
    fn an_honest_attestation_holds_and_survives_its_file() {
        let a = attestation();
        let back = VolumeAttestation::from_json(a.to_json().as_bytes()).unwrap();
        assert_eq!(back, a);
        let report = back.verify(&settled(&a)).unwrap();
        assert_eq!(report.volume, 1_234);
        assert!(report.to_string().contains("epoch's volume"), "{report}");
    }

    #[test]
    fn an_attestation_with_an_altered_volume_is_refused() {
        let a = attestation();
        let record = settled(&a);
        for volume in [1_233, 1_235, 0, u128::from(u64::MAX) + 1_234] {
            let altered = VolumeAttestation {
                volume,
                ..a.clone()
            };
            assert!(matches!(
                altered.verify(&record),
                Err(AttestationError::CommitmentMismatch { epoch: 3, .. })
            ));
        }
    }

    #[test]
    fn an_attestation_with_an_altered_blind_is_refused() {
        let a = attestation();
        let record = settled(&a);
        let other_epochs_blind = VolumeAttestation {
            blind: volume_blind(&Fe::from(99u64), 2),
            ..a.clone()
        };
        let other_seeds_blind = VolumeAttestation {
            blind: volume_blind(&Fe::from(98u64), 3),
            ..a.clone()
        };
        for altered in [other_epochs_blind, other_seeds_blind] {
            assert!(matches!(
                altered.verify(&record),
                Err(AttestationError::CommitmentMismatch { .. })
            ));
        }
    }

    #[test]
    fn an_attestation_checked_against_another_hubs_record_is_refused() {
        let a = attestation();
        // Even a record carrying the very same commitment.
        let other = SettledVolume {
            hub_id: 8,
            ..settled(&a)
        };
        assert_eq!(
            a.verify(&other),
            Err(AttestationError::WrongHub {
                attested: 7,
                settled: 8
            })
        );
    }

    #[test]
    fn an_attestation_checked_against_another_epochs_record_is_refused() {
        let a = attestation();
        let epoch2 = VolumeAttestation::from_seed(7, 2, a.kind, a.volume, &Fe::from(99u64));
        assert!(matches!(
            a.verify(&settled(&epoch2)),
            Err(AttestationError::WrongEpoch {
                attested: 3,
                settled: 2
            })
        ));
        // Relabelled as epoch 3, epoch 2's commitment still does not open.
        let relabelled = SettledVolume {
            epoch: 3,
            ..settled(&epoch2)
        };
        assert!(matches!(
            a.verify(&relabelled),
            Err(AttestationError::CommitmentMismatch { .. })
        ));
    }

    #[test]
    fn an_attestation_naming_the_other_statement_is_refused() {
        let a = attestation();
        let full = SettledVolume {
            kind: CloseKind::Full,
            ..settled(&a)
        };
        assert!(matches!(
            a.verify(&full),
            Err(AttestationError::KindMismatch { .. })
        ));
    }

    #[test]
    fn hostile_attestation_files_are_refused() {
        let a = attestation();
        let json = a.to_json();
        assert!(matches!(
            VolumeAttestation::from_json(&vec![b' '; MAX_FILE_BYTES + 1]),
            Err(AttestationError::TooLong(_))
        ));
        let extra = json.replacen('{', "{\"note\": 1,", 1);
        assert!(matches!(
            VolumeAttestation::from_json(extra.as_bytes()),
            Err(AttestationError::Malformed(_))
        ));
        let v2 = json.replace("\"version\": 1", "\"version\": 2");
        assert_eq!(
            VolumeAttestation::from_json(v2.as_bytes()),
            Err(AttestationError::Version(2))
        );
        let other = json.replace(FORMAT, "zkhub/disclosure");
        assert!(matches!(
            VolumeAttestation::from_json(other.as_bytes()),
            Err(AttestationError::Format(_))
        ));
        let number = json.replace("\"1234\"", "1234");
        assert!(matches!(
            VolumeAttestation::from_json(number.as_bytes()),
            Err(AttestationError::Malformed(_))
        ));
    }
}
