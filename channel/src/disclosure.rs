//! Channel disclosures (docs/DESIGN.md §11, docs/SECURITY.md §2.9): one
//! channel's leaf of an accepted close, opened for an auditor, checked against the root
//! the settlement layer stored — with no access to the hub.
//!
//! A [`Disclosure`] carries, for the disclosed epoch (and optionally the epoch before,
//! so the epoch's own amounts follow: `R_E − R_{E−1}`, `S_E − S_{E−1}`):
//! - the epoch's settlement record fields ([`SettledEpoch`]: hub, epoch, `n`, deposits
//!   root, close kind and the accepted root);
//! - the channel's leaf opened with its path ([`BalanceOpening`]: a full close's binary
//!   path to `balances_root`, or an incremental close's 4-ary state path, both checked
//!   by [`BalanceOpening::verify`]).
//!
//! [`Disclosure::check`] checks the file against the roots it carries;
//! [`Disclosure::verify`] also checks every record against a [`SettledRoots`] (the
//! settlement layer itself, or roots an auditor copied from it: [`PublishedRoots`]).
//! Either returns a [`DisclosureReport`]: exactly what the file proves.
//!
//! The file is JSON (`format`, `version`, `channel`, `epoch`, `previous`), at most
//! [`MAX_FILE_BYTES`] long, unknown fields refused; every field element is a canonical
//! decimal string, every key a valid curve point. Other channels' leaves appear only as
//! Merkle siblings (hashes), and each leaf has its own blind, so a disclosure reveals
//! nothing about another channel.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::crypto::PublicKey;
use crate::field::{Fe, fe_to_dec};
use crate::incremental::ClosedState;
use crate::ledger::Snapshot;
use crate::settlement::{CloseKind, EpochRecord, Settlement};
use crate::statement::{BalanceOpening, BalanceTree, StatementError};
use crate::types::{Amount, ChannelId, Epoch, HubId, NetAmount};

/// The `format` field of every disclosure file.
pub const FORMAT: &str = "zkhub/disclosure";
/// The version this code writes and reads.
pub const VERSION: u32 = 1;
/// The largest disclosure file read (two openings with 32-level paths are ~20 KB).
pub const MAX_FILE_BYTES: usize = 64 * 1024;

/// Why a disclosure was refused or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisclosureError {
    /// The file is longer than [`MAX_FILE_BYTES`].
    #[error("disclosure file of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a well-formed disclosure (JSON, field elements, keys, unknown fields).
    #[error("malformed disclosure: {0}")]
    Malformed(String),
    /// The `format` field is not [`FORMAT`].
    #[error("not a zkhub disclosure (format {0:?})")]
    WrongFormat(String),
    /// A version this code does not read.
    #[error("disclosure version {0} is not supported (this build reads {VERSION})")]
    UnsupportedVersion(u32),
    /// An opening is for another channel than the file names.
    #[error("the opening of epoch {epoch} is for channel {opened}, the file discloses {channel}")]
    WrongChannel {
        /// Epoch of the opening.
        epoch: Epoch,
        /// Channel the file names.
        channel: ChannelId,
        /// Channel the opening opens.
        opened: ChannelId,
    },
    /// An opening is for another epoch than its record.
    #[error("an opening of epoch {opened} is attached to the record of epoch {epoch}")]
    WrongEpoch {
        /// Epoch of the record.
        epoch: Epoch,
        /// Epoch of the opening.
        opened: Epoch,
    },
    /// The opening's index is not the channel's position.
    #[error("epoch {epoch}: the leaf is at index {index}, channel {channel} sits at {expected}")]
    WrongIndex {
        /// Epoch.
        epoch: Epoch,
        /// Channel.
        channel: ChannelId,
        /// Index claimed.
        index: u64,
        /// Index the channel's leaf has.
        expected: u64,
    },
    /// A full-close opening for an incremental close, or the reverse.
    #[error("epoch {epoch}: a {opened:?} opening cannot open a {kind:?} close")]
    WrongTree {
        /// Epoch.
        epoch: Epoch,
        /// The record's close kind.
        kind: CloseKind,
        /// The opening's kind.
        opened: CloseKind,
    },
    /// The leaf and path do not give the record's root: a wrong path, an altered value
    /// or blind, or a leaf of another epoch or hub.
    #[error("epoch {epoch}: the opened leaf is not in the close's root")]
    NotInTree {
        /// Epoch.
        epoch: Epoch,
    },
    /// The two epochs of a disclosure name different hubs.
    #[error("the records name hub {previous} and hub {hub_id}")]
    HubMismatch {
        /// Hub of the disclosed epoch.
        hub_id: HubId,
        /// Hub of the epoch before.
        previous: HubId,
    },
    /// The previous epoch is not the one right before.
    #[error("the previous epoch {previous} is not the one before epoch {epoch}")]
    NotConsecutive {
        /// The disclosed epoch.
        epoch: Epoch,
        /// The previous epoch given.
        previous: Epoch,
    },
    /// The channel's key differs between the two epochs.
    #[error("channel {channel} has another key in epoch {epoch} than in the epoch before")]
    KeyChanged {
        /// Channel.
        channel: ChannelId,
        /// Disclosed epoch.
        epoch: Epoch,
    },
    /// A cumulative counter went down from one epoch to the next.
    #[error("cumulative {counter} went down from {before} to {after} in epoch {epoch}")]
    NotMonotone {
        /// `"spent"` or `"received"`.
        counter: &'static str,
        /// Disclosed epoch.
        epoch: Epoch,
        /// Value in the epoch before.
        before: Amount,
        /// Value in the disclosed epoch.
        after: Amount,
    },
    /// The settlement layer has no accepted close of this hub's epoch.
    #[error("the settlement layer has no accepted close of hub {hub_id}'s epoch {epoch}")]
    NotSettled {
        /// Hub.
        hub_id: HubId,
        /// Epoch.
        epoch: Epoch,
    },
    /// The record's root differs from the one the settlement layer stored.
    #[error("epoch {epoch}: the file's root {file} is not the settled root {settled}")]
    RootMismatch {
        /// Epoch.
        epoch: Epoch,
        /// Root in the file (decimal).
        file: String,
        /// Root on the settlement layer (decimal).
        settled: String,
    },
    /// The record's close kind differs from the settlement layer's.
    #[error("epoch {epoch}: the file says a {file:?} close, the settlement layer a {settled:?}")]
    KindMismatch {
        /// Epoch.
        epoch: Epoch,
        /// Kind in the file.
        file: CloseKind,
        /// Kind settled.
        settled: CloseKind,
    },
    /// The opened key is not the one the settlement layer registered for the channel.
    #[error("channel {channel}: the opened key is not the one the settlement layer registered")]
    WrongKey {
        /// Channel.
        channel: ChannelId,
    },
    /// The channel or epoch cannot be opened from the hub's data.
    #[error("cannot open channel {channel} in epoch {epoch}: {reason}")]
    Unavailable {
        /// Channel.
        channel: ChannelId,
        /// Epoch.
        epoch: Epoch,
        /// Why.
        reason: String,
    },
}

/// The fields of an accepted epoch's settlement record a disclosure is checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettledEpoch {
    /// Hub.
    pub hub_id: HubId,
    /// Epoch.
    pub epoch: Epoch,
    /// Channels in the registry at the cut.
    pub n: u64,
    /// Root of the deposit leaves at the cut.
    #[serde(with = "crate::field::dec")]
    pub deposits_root: Fe,
    /// The statement the close proved.
    pub kind: CloseKind,
    /// The accepted root: `balances_root` of a full close, the state root of an
    /// incremental one.
    #[serde(with = "crate::field::dec")]
    pub root: Fe,
}

impl SettledEpoch {
    /// The fields of `record`, if its close was accepted.
    pub fn from_record(hub_id: HubId, record: &EpochRecord) -> Option<SettledEpoch> {
        let close = record.close.as_ref()?;
        Some(SettledEpoch {
            hub_id,
            epoch: record.epoch,
            n: record.n,
            deposits_root: record.deposits_root,
            kind: close.kind,
            root: close.balances_root,
        })
    }

    /// The record of `epoch` on `settlement`, if closed.
    pub fn from_settlement(settlement: &Settlement, epoch: Epoch) -> Option<SettledEpoch> {
        let hub_id = settlement.hub()?.hub_id;
        SettledEpoch::from_record(hub_id, settlement.epoch(epoch)?)
    }
}

/// One epoch of a disclosure: its record and the channel's opened leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochDisclosure {
    /// The settlement record fields.
    pub record: SettledEpoch,
    /// The channel's leaf with its path to `record.root`.
    pub opening: BalanceOpening,
}

impl EpochDisclosure {
    /// Channel `channel`'s leaf in a full close of `snapshot` (which must be the
    /// snapshot `record` was proved from: [`Disclosure::check`] tells).
    pub fn from_snapshot(
        record: SettledEpoch,
        snapshot: &Snapshot,
        channel: ChannelId,
    ) -> Result<EpochDisclosure, DisclosureError> {
        let unavailable = |reason: String| DisclosureError::Unavailable {
            channel,
            epoch: record.epoch,
            reason,
        };
        let opening = BalanceTree::from_snapshot(snapshot)
            .and_then(|tree| tree.opening(channel))
            .map_err(|e: StatementError| unavailable(e.to_string()))?;
        Ok(EpochDisclosure { record, opening })
    }

    /// Channel `channel`'s leaf in the state an incremental close left (`state.epoch`
    /// must be `record.epoch`).
    pub fn from_closed_state(
        record: SettledEpoch,
        state: &ClosedState,
        channel: ChannelId,
    ) -> Result<EpochDisclosure, DisclosureError> {
        let unavailable = |reason: String| DisclosureError::Unavailable {
            channel,
            epoch: record.epoch,
            reason,
        };
        if state.epoch != record.epoch {
            return Err(unavailable(format!(
                "the closed state is of epoch {}",
                state.epoch
            )));
        }
        let opening = state
            .balance_opening(channel)
            .ok_or_else(|| unavailable("no such channel in the closed state".into()))?;
        Ok(EpochDisclosure { record, opening })
    }

    fn kind(&self) -> CloseKind {
        match self.opening.state {
            None => CloseKind::Full,
            Some(_) => CloseKind::Incremental,
        }
    }

    /// The opening is the channel's, of this record's epoch, at the channel's position
    /// and under the record's root.
    fn check(&self, channel: ChannelId) -> Result<(), DisclosureError> {
        let (o, epoch) = (&self.opening, self.record.epoch);
        if o.channel != channel {
            return Err(DisclosureError::WrongChannel {
                epoch,
                channel,
                opened: o.channel,
            });
        }
        if o.epoch != epoch {
            return Err(DisclosureError::WrongEpoch {
                epoch,
                opened: o.epoch,
            });
        }
        if o.index != o.expected_index() {
            return Err(DisclosureError::WrongIndex {
                epoch,
                channel,
                index: o.index,
                expected: o.expected_index(),
            });
        }
        if self.kind() != self.record.kind {
            return Err(DisclosureError::WrongTree {
                epoch,
                kind: self.record.kind,
                opened: self.kind(),
            });
        }
        if !o.verify(&self.record.root) {
            return Err(DisclosureError::NotInTree { epoch });
        }
        Ok(())
    }

    /// The record equals what `settled` holds for its hub and epoch, and the key is
    /// the registered one where `settled` knows it.
    fn anchor(&self, settled: &dyn SettledRoots) -> Result<(), DisclosureError> {
        let r = &self.record;
        let on_chain = settled
            .settled(r.hub_id, r.epoch)
            .ok_or(DisclosureError::NotSettled {
                hub_id: r.hub_id,
                epoch: r.epoch,
            })?;
        if on_chain.root != r.root {
            return Err(DisclosureError::RootMismatch {
                epoch: r.epoch,
                file: fe_to_dec(&r.root),
                settled: fe_to_dec(&on_chain.root),
            });
        }
        if let Some(kind) = on_chain.kind
            && kind != r.kind
        {
            return Err(DisclosureError::KindMismatch {
                epoch: r.epoch,
                file: r.kind,
                settled: kind,
            });
        }
        if let Some(pk) = settled.channel_key(r.hub_id, self.opening.channel)
            && pk != self.opening.pk
        {
            return Err(DisclosureError::WrongKey {
                channel: self.opening.channel,
            });
        }
        Ok(())
    }
}

/// A disclosure file: one channel's leaf in one epoch, optionally with the epoch before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disclosure {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] when written by this code.
    pub version: u32,
    /// The disclosed channel.
    pub channel: ChannelId,
    /// The disclosed epoch.
    pub epoch: EpochDisclosure,
    /// The epoch before (for the epoch's own amounts), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<EpochDisclosure>,
}

/// What the settlement layer stored for an accepted close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettledRoot {
    /// The accepted root.
    pub root: Fe,
    /// The close kind, where the source records it.
    pub kind: Option<CloseKind>,
}

/// Where an auditor reads the roots the settlement layer stored.
pub trait SettledRoots {
    /// The accepted root of hub `hub_id`'s epoch `epoch`, if any.
    fn settled(&self, hub_id: HubId, epoch: Epoch) -> Option<SettledRoot>;

    /// The key registered for `channel`, where the source knows it.
    fn channel_key(&self, hub_id: HubId, channel: ChannelId) -> Option<PublicKey> {
        let _ = (hub_id, channel);
        None
    }
}

impl SettledRoots for Settlement {
    fn settled(&self, hub_id: HubId, epoch: Epoch) -> Option<SettledRoot> {
        let record = SettledEpoch::from_settlement(self, epoch)?;
        (record.hub_id == hub_id).then_some(SettledRoot {
            root: record.root,
            kind: Some(record.kind),
        })
    }

    fn channel_key(&self, hub_id: HubId, channel: ChannelId) -> Option<PublicKey> {
        (self.hub()?.hub_id == hub_id).then_some(self.channel(channel)?.pk)
    }
}

/// Accepted roots of one hub copied from the settlement layer (what a block explorer
/// or `zkhub chain status --json` shows).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishedRoots {
    /// The hub.
    pub hub_id: HubId,
    /// Accepted root per epoch.
    pub roots: BTreeMap<Epoch, Fe>,
}

impl SettledRoots for PublishedRoots {
    fn settled(&self, hub_id: HubId, epoch: Epoch) -> Option<SettledRoot> {
        (hub_id == self.hub_id).then_some(SettledRoot {
            root: *self.roots.get(&epoch)?,
            kind: None,
        })
    }
}

/// The epoch's own amounts: the difference of two consecutive cumulative openings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EpochAmounts {
    /// The epoch before (whose close gives the starting counters).
    pub since: Epoch,
    /// `S_E − S_{E−1}`: paid out in the epoch.
    pub spent: Amount,
    /// `R_E − R_{E−1}`: received in the epoch.
    pub received: Amount,
}

/// What a disclosure proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisclosureReport {
    /// Hub.
    pub hub_id: HubId,
    /// Channel.
    pub channel: ChannelId,
    /// Its key.
    pub pk: PublicKey,
    /// Epoch.
    pub epoch: Epoch,
    /// The close's kind.
    pub kind: CloseKind,
    /// The root the leaf is under (decimal in JSON).
    #[serde(with = "crate::field::dec")]
    pub root: Fe,
    /// Whether the roots were checked against the settlement layer ([`Disclosure::verify`])
    /// or only taken from the file ([`Disclosure::check`]).
    pub anchored: bool,
    /// `B` at the close.
    pub balance: Amount,
    /// Cumulative `S` at the close.
    pub spent: Amount,
    /// Cumulative `R` at the close.
    pub received: Amount,
    /// Net deposit `D` (in the leaf of an incremental close only).
    pub net_deposit: Option<NetAmount>,
    /// The epoch's own amounts, when the epoch before is disclosed too.
    pub in_epoch: Option<EpochAmounts>,
}

impl fmt::Display for DisclosureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            CloseKind::Full => "full close, balances root",
            CloseKind::Incremental => "incremental close, state root",
        };
        writeln!(
            f,
            "channel {} of hub {} in the close of epoch {}",
            self.channel, self.hub_id, self.epoch
        )?;
        writeln!(f, "  key            {}", hex::encode(self.pk.pack()))?;
        writeln!(f, "  root           {} ({kind})", fe_to_dec(&self.root))?;
        if self.anchored {
            writeln!(
                f,
                "  anchored       yes: the settlement layer stored this root"
            )?;
        } else {
            writeln!(
                f,
                "  anchored       NO: compare the root with the one the settlement layer stored"
            )?;
        }
        writeln!(f, "  balance B      {}", self.balance)?;
        writeln!(f, "  spent S        {} (cumulative)", self.spent)?;
        writeln!(f, "  received R     {} (cumulative)", self.received)?;
        if let Some(d) = self.net_deposit {
            writeln!(f, "  net deposit D  {d}")?;
        }
        match self.in_epoch {
            Some(a) => {
                writeln!(
                    f,
                    "  in epoch {}     received {}, spent {} (since the close of epoch {})",
                    self.epoch, a.received, a.spent, a.since
                )?;
            }
            None => writeln!(
                f,
                "  in epoch {}     not stated (the epoch before is not disclosed)",
                self.epoch
            )?,
        }
        Ok(())
    }
}

impl Disclosure {
    /// A disclosure of `epoch`, with `previous` (the epoch before) if given.
    pub fn new(epoch: EpochDisclosure, previous: Option<EpochDisclosure>) -> Disclosure {
        Disclosure {
            format: FORMAT.into(),
            version: VERSION,
            channel: epoch.opening.channel,
            epoch,
            previous,
        }
    }

    /// Read a disclosure file, refusing anything longer than [`MAX_FILE_BYTES`] before
    /// parsing. Only the shape is checked here: see [`Disclosure::check`].
    pub fn from_json(bytes: &[u8]) -> Result<Disclosure, DisclosureError> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(DisclosureError::TooLarge {
                len: bytes.len(),
                max: MAX_FILE_BYTES,
            });
        }
        // Format and version first, so a file of another version gets the right error.
        #[derive(Deserialize)]
        struct Header {
            format: String,
            version: u32,
        }
        let header: Header =
            serde_json::from_slice(bytes).map_err(|e| DisclosureError::Malformed(e.to_string()))?;
        if header.format != FORMAT {
            return Err(DisclosureError::WrongFormat(header.format));
        }
        if header.version != VERSION {
            return Err(DisclosureError::UnsupportedVersion(header.version));
        }
        serde_json::from_slice(bytes).map_err(|e| DisclosureError::Malformed(e.to_string()))
    }

    /// The file's bytes (pretty JSON).
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a disclosure serializes");
        bytes.push(b'\n');
        bytes
    }

    /// Check the file against the roots it carries: each opening is the channel's leaf
    /// of its record's epoch under the record's root, and the two epochs (if given)
    /// follow each other. The report says `anchored: false`: the roots still have to be
    /// compared with the settlement layer's ([`Disclosure::verify`]).
    pub fn check(&self) -> Result<DisclosureReport, DisclosureError> {
        if self.format != FORMAT {
            return Err(DisclosureError::WrongFormat(self.format.clone()));
        }
        if self.version != VERSION {
            return Err(DisclosureError::UnsupportedVersion(self.version));
        }
        let current = &self.epoch;
        current.check(self.channel)?;
        let o = &current.opening;
        let in_epoch = match &self.previous {
            None => None,
            Some(previous) => {
                previous.check(self.channel)?;
                Some(epoch_amounts(current, previous)?)
            }
        };
        Ok(DisclosureReport {
            hub_id: current.record.hub_id,
            channel: self.channel,
            pk: o.pk,
            epoch: current.record.epoch,
            kind: current.record.kind,
            root: current.record.root,
            anchored: false,
            balance: o.balance,
            spent: o.spent,
            received: o.received,
            net_deposit: o.state.as_ref().map(|s| s.net_deposit),
            in_epoch,
        })
    }

    /// [`Disclosure::check`], then every record against what `settled` stored: the
    /// root (and close kind and channel key, where `settled` knows them).
    pub fn verify(&self, settled: &dyn SettledRoots) -> Result<DisclosureReport, DisclosureError> {
        let mut report = self.check()?;
        self.epoch.anchor(settled)?;
        if let Some(previous) = &self.previous {
            previous.anchor(settled)?;
        }
        report.anchored = true;
        Ok(report)
    }
}

/// The epoch's own amounts from two checked consecutive openings of one channel.
fn epoch_amounts(
    current: &EpochDisclosure,
    previous: &EpochDisclosure,
) -> Result<EpochAmounts, DisclosureError> {
    let (now, before) = (&current.opening, &previous.opening);
    let epoch = current.record.epoch;
    if previous.record.hub_id != current.record.hub_id {
        return Err(DisclosureError::HubMismatch {
            hub_id: current.record.hub_id,
            previous: previous.record.hub_id,
        });
    }
    if previous.record.epoch.checked_add(1) != Some(epoch) {
        return Err(DisclosureError::NotConsecutive {
            epoch,
            previous: previous.record.epoch,
        });
    }
    if before.pk != now.pk {
        return Err(DisclosureError::KeyChanged {
            channel: now.channel,
            epoch,
        });
    }
    let delta = |counter, before: Amount, after: Amount| {
        after
            .checked_sub(before)
            .ok_or(DisclosureError::NotMonotone {
                counter,
                epoch,
                before,
                after,
            })
    };
    Ok(EpochAmounts {
        since: previous.record.epoch,
        spent: delta("spent", before.spent, now.spent)?,
        received: delta("received", before.received, now.received)?,
    })
}
