//! The close statement's native side (docs/DESIGN.md §8): leaves, public inputs, the slot
//! witness built from an epoch [`Snapshot`], and balance openings.
//!
//! The closer's circuit proves exactly what this module computes; the settlement layer
//! checks public inputs and openings with it. Changing a formula here is a change of
//! the statement and must be made in the circuit at the same time.
//!
//! - `deposit_leaf  = Poseidon(id, Ax, Ay, D)`
//! - `balance_leaf  = Poseidon(id, Ax, Ay, B, Poseidon(S, R, blind))`, `B = D + R − S`
//! - padding slots have leaf `0`; real slots come first, ids strictly increasing;
//! - both roots are binary Poseidon Merkle roots ([`crate::merkle`]) over
//!   [`slot_count`]`(n)` slots;
//! - public inputs, in this order: `hub_id, epoch, n, deposits_root, balances_root,
//!   volume_commitment`, the last `Poseidon(VOLUME, Σ S, rv)` ([`crate::volume`]).
//!
//! `D` is the channel's *net* deposit (deposits − withdrawals). It can be negative for
//! a channel that has withdrawn more than it deposited (a payee paid out what it
//! received); [`net_deposit_fe`] encodes it as the field element `p − |D|` then.
//! The circuit range-checks `D + 2^64 ∈ [0, 2^65)`.

use serde::{Deserialize, Serialize};

use crate::crypto::{PackedSignature, PublicKey, poseidon};
use crate::field::Fe;
use crate::ledger::{ChannelRecord, Snapshot};
use crate::merkle::{MerkleError, MerkleProof, MerkleTree, verify};
use crate::types::{Amount, ChannelId, Epoch, HubId, NetAmount, Seq};

/// Why a snapshot cannot be closed, or an opening cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// The snapshot has a different number of blinds than channels.
    #[error("snapshot has {blinds} blinds for {channels} channels")]
    BlindCount {
        /// Channels in the snapshot.
        channels: usize,
        /// Blinds in the snapshot.
        blinds: usize,
    },
    /// Channel ids are not strictly increasing (duplicate or out of order).
    #[error("channel id {id} follows {previous}: ids must be strictly increasing")]
    IdsNotIncreasing {
        /// The id before.
        previous: ChannelId,
        /// The offending id.
        id: ChannelId,
    },
    /// `D + R − S` is negative (or does not fit 64 bits).
    #[error("channel {id}: balance D + R − S is negative or out of range")]
    NegativeBalance {
        /// Channel id.
        id: ChannelId,
    },
    /// A channel has spent without a checkpoint signature covering it.
    #[error("channel {id}: spent > 0 without a checkpoint signature")]
    MissingSignature {
        /// Channel id.
        id: ChannelId,
    },
    /// A checkpoint signature that does not verify.
    #[error("channel {id}: checkpoint signature does not verify")]
    BadSignature {
        /// Channel id.
        id: ChannelId,
    },
    /// Σ R ≠ Σ S: the snapshot creates or destroys money.
    #[error("sum of received {received} differs from sum of spent {spent}")]
    SumMismatch {
        /// Σ R.
        received: u128,
        /// Σ S.
        spent: u128,
    },
    /// More channels than a tree can hold.
    #[error("too many channels: {0}")]
    TooManyChannels(usize),
    /// The channel is not in the snapshot.
    #[error("channel {0} is not in the snapshot")]
    UnknownChannel(ChannelId),
    /// The Merkle tree could not be built.
    #[error(transparent)]
    Merkle(#[from] MerkleError),
}

/// Slots for `n` real channels: the smallest power of two `>= max(n, 2)`.
///
/// At least two slots, so every tree has depth ≥ 1 and every opening has a sibling
/// (a one-slot tree's root would be the bare leaf).
pub fn slot_count(n: usize) -> usize {
    n.max(2).next_power_of_two()
}

/// A signed net deposit as a field element: `D` if `D ≥ 0`, else `p − |D|`.
pub fn net_deposit_fe(net: NetAmount) -> Fe {
    let magnitude = Fe::from(net.unsigned_abs());
    if net < 0 { -magnitude } else { magnitude }
}

/// `Poseidon(id, Ax, Ay, D)` for a signed net deposit `D` (see [`net_deposit_fe`]).
pub fn deposit_leaf(id: ChannelId, pk: &PublicKey, net: NetAmount) -> Fe {
    poseidon(&[Fe::from(id), pk.0.x, pk.0.y, net_deposit_fe(net)])
}

/// `Poseidon(S, R, blind)`: the hidden part of a balance leaf.
pub fn balance_commitment(spent: Amount, received: Amount, blind: &Fe) -> Fe {
    poseidon(&[Fe::from(spent), Fe::from(received), *blind])
}

/// `Poseidon(id, Ax, Ay, B, Poseidon(S, R, blind))`.
pub fn balance_leaf(
    id: ChannelId,
    pk: &PublicKey,
    balance: Amount,
    spent: Amount,
    received: Amount,
    blind: &Fe,
) -> Fe {
    poseidon(&[
        Fe::from(id),
        pk.0.x,
        pk.0.y,
        Fe::from(balance),
        balance_commitment(spent, received, blind),
    ])
}

/// The close statement's public inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicInputs {
    /// Hub id.
    pub hub_id: HubId,
    /// Epoch closed.
    pub epoch: Epoch,
    /// Number of real (non-padding) slots.
    pub n: u64,
    /// Root of the deposit leaves (decimal string in JSON).
    #[serde(with = "crate::field::dec")]
    pub deposits_root: Fe,
    /// Root of the balance leaves (decimal string in JSON).
    #[serde(with = "crate::field::dec")]
    pub balances_root: Fe,
    /// `Poseidon(VOLUME, Σ S, rv)`: the hiding commitment to the cumulative volume
    /// ([`crate::volume::volume_commitment`]).
    #[serde(with = "crate::field::dec")]
    pub volume_commitment: Fe,
}

impl PublicInputs {
    /// The inputs as the circuit takes them: `hub_id, epoch, n, deposits_root,
    /// balances_root, volume_commitment`.
    pub fn to_field_elements(&self) -> [Fe; 6] {
        [
            Fe::from(self.hub_id),
            Fe::from(self.epoch),
            Fe::from(self.n),
            self.deposits_root,
            self.balances_root,
            self.volume_commitment,
        ]
    }
}

/// One real slot's witness: everything the circuit needs for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotWitness {
    /// Channel id.
    pub id: ChannelId,
    /// Channel key `(Ax, Ay)`.
    pub pk: PublicKey,
    /// Net deposit `D` (negative after a payee withdrew more than it deposited).
    pub deposit: NetAmount,
    /// Cumulative spent `S`.
    pub spent: Amount,
    /// Cumulative received `R`.
    pub received: Amount,
    /// `B = D + R − S`.
    pub balance: Amount,
    /// Blind of the balance leaf.
    #[serde(with = "crate::field::dec")]
    pub blind: Fe,
    /// Seq of the checkpoint covering `S` (0 if `S = 0`).
    pub seq: Seq,
    /// Chain at `seq`.
    #[serde(with = "crate::field::dec")]
    pub chain: Fe,
    /// Checkpoint signature over `Poseidon(VOUCHER, hub_id, id, seq, S, chain)`; `None` iff `S = 0`.
    #[serde(with = "crate::crypto::eddsa::serde_opt_packed_sig")]
    pub sig: Option<PackedSignature>,
}

impl SlotWitness {
    /// `Poseidon(id, Ax, Ay, D)`.
    pub fn deposit_leaf(&self) -> Fe {
        deposit_leaf(self.id, &self.pk, self.deposit)
    }

    /// `Poseidon(id, Ax, Ay, B, Poseidon(S, R, blind))`.
    pub fn balance_leaf(&self) -> Fe {
        balance_leaf(
            self.id,
            &self.pk,
            self.balance,
            self.spent,
            self.received,
            &self.blind,
        )
    }

    /// Verify the checkpoint signature natively, if there is one (what the circuit
    /// checks where `S ≠ 0`).
    pub fn verify_signature(&self, hub_id: HubId) -> Result<(), StatementError> {
        let Some(packed) = self.sig else {
            return Ok(());
        };
        let bad = StatementError::BadSignature { id: self.id };
        let sig = crate::crypto::Signature::unpack(&packed).map_err(|_| bad.clone())?;
        let msg = crate::types::voucher_message(hub_id, self.id, self.seq, self.spent, &self.chain);
        self.pk.verify(&msg, &sig).map_err(|_| bad)
    }

    /// The slot of a committed record: `B = D + R − S ≥ 0` and a checkpoint signature
    /// present wherever `S > 0` (not verified: [`SlotWitness::verify_signature`]).
    pub fn from_record(record: &ChannelRecord, blind: Fe) -> Result<Self, StatementError> {
        let id = record.id;
        let balance = record
            .balance()
            .ok_or(StatementError::NegativeBalance { id })?;
        if record.spent > 0 && (record.checkpoint_sig.is_none() || record.seq == 0) {
            return Err(StatementError::MissingSignature { id });
        }
        Ok(SlotWitness {
            id,
            pk: record.pk,
            deposit: record.deposit,
            spent: record.spent,
            received: record.received,
            balance,
            blind,
            seq: record.seq,
            chain: record.chain,
            sig: if record.spent > 0 {
                record.checkpoint_sig
            } else {
                None
            },
        })
    }
}

/// The whole witness of a close: public inputs and the real slots in order. Slots
/// `n..slot_count(n)` are padding (leaf 0, `is_real = 0`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseWitness {
    /// Public inputs.
    pub public: PublicInputs,
    /// Real slots, ids strictly increasing.
    pub slots: Vec<SlotWitness>,
    /// `V = Σ S`, the cumulative volume `volume_commitment` commits to.
    pub volume: u128,
    /// Its blind `rv` ([`crate::volume::volume_blind`] of the hub's seed and the epoch).
    #[serde(with = "crate::field::dec")]
    pub volume_blind: Fe,
}

impl CloseWitness {
    /// Check a snapshot and build the witness (both roots and the volume commitment
    /// with blind `volume_blind` computed).
    ///
    /// Checks: one blind per channel, ids strictly increasing, `B = D + R − S ≥ 0`,
    /// a checkpoint signature wherever `S > 0`, `Σ R = Σ S`. Signatures are not
    /// verified here (the circuit does it; see [`CloseWitness::verify_signatures`]).
    pub fn from_snapshot(snapshot: &Snapshot, volume_blind: &Fe) -> Result<Self, StatementError> {
        if snapshot.blinds.len() != snapshot.channels.len() {
            return Err(StatementError::BlindCount {
                channels: snapshot.channels.len(),
                blinds: snapshot.blinds.len(),
            });
        }
        let n = snapshot.channels.len();
        if n > 1 << crate::merkle::MAX_DEPTH {
            return Err(StatementError::TooManyChannels(n));
        }
        let mut slots = Vec::with_capacity(n);
        let (mut sum_received, mut sum_spent) = (0u128, 0u128);
        for (record, blind) in snapshot.channels.iter().zip(&snapshot.blinds) {
            if let Some(previous) = slots.last().map(|s: &SlotWitness| s.id)
                && record.id <= previous
            {
                return Err(StatementError::IdsNotIncreasing {
                    previous,
                    id: record.id,
                });
            }
            sum_received += u128::from(record.received);
            sum_spent += u128::from(record.spent);
            slots.push(SlotWitness::from_record(record, *blind)?);
        }
        if sum_received != sum_spent {
            return Err(StatementError::SumMismatch {
                received: sum_received,
                spent: sum_spent,
            });
        }
        let size = slot_count(n);
        let deposits =
            MerkleTree::with_size(slots.iter().map(SlotWitness::deposit_leaf).collect(), size)?;
        let balances =
            MerkleTree::with_size(slots.iter().map(SlotWitness::balance_leaf).collect(), size)?;
        let public = PublicInputs {
            hub_id: snapshot.hub_id,
            epoch: snapshot.epoch,
            n: n as u64,
            deposits_root: deposits.root(),
            balances_root: balances.root(),
            volume_commitment: crate::volume::volume_commitment(sum_spent, volume_blind),
        };
        Ok(CloseWitness {
            public,
            slots,
            volume: sum_spent,
            volume_blind: *volume_blind,
        })
    }

    /// Number of slots (`slot_count(n)`).
    pub fn slot_count(&self) -> usize {
        slot_count(self.slots.len())
    }

    /// Deposit leaves of all slots, padding included.
    pub fn deposit_leaves(&self) -> Vec<Fe> {
        self.padded(SlotWitness::deposit_leaf)
    }

    /// Balance leaves of all slots, padding included.
    pub fn balance_leaves(&self) -> Vec<Fe> {
        self.padded(SlotWitness::balance_leaf)
    }

    fn padded(&self, leaf: fn(&SlotWitness) -> Fe) -> Vec<Fe> {
        let mut leaves: Vec<Fe> = self.slots.iter().map(leaf).collect();
        leaves.resize(self.slot_count(), Fe::from(0u64));
        leaves
    }

    /// Verify every checkpoint signature natively (what the circuit will check), so a
    /// bad snapshot is caught before an expensive proof.
    pub fn verify_signatures(&self) -> Result<(), StatementError> {
        for slot in &self.slots {
            slot.verify_signature(self.public.hub_id)?;
        }
        Ok(())
    }
}

/// Public inputs and real slots of the close of `snapshot` with volume blind
/// `volume_blind` (see [`CloseWitness::from_snapshot`]).
pub fn close_public_inputs(
    snapshot: &Snapshot,
    volume_blind: &Fe,
) -> Result<(PublicInputs, Vec<SlotWitness>), StatementError> {
    let w = CloseWitness::from_snapshot(snapshot, volume_blind)?;
    Ok((w.public, w.slots))
}

/// A channel's balance leaf opened with its Merkle path: what the channel checks
/// against `balances_root` and presents to the settlement layer to withdraw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceOpening {
    /// Epoch of the close.
    pub epoch: Epoch,
    /// Slot index of the leaf.
    pub index: u64,
    /// Channel id.
    pub channel: ChannelId,
    /// Channel key.
    pub pk: PublicKey,
    /// `B`.
    pub balance: Amount,
    /// `S`.
    pub spent: Amount,
    /// `R`.
    pub received: Amount,
    /// The leaf's blind.
    #[serde(with = "crate::field::dec")]
    pub blind: Fe,
    /// Merkle path to `balances_root` (a full close's binary tree; empty when
    /// `state` is given).
    pub proof: MerkleProof,
    /// For an incremental close: the state leaf's net deposit and its path in the
    /// state tree (docs/DESIGN.md §8.2). Absent for a full close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateProof>,
}

/// What opens a leaf of the state tree beyond a balance opening's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateProof {
    /// Net deposit `D` in the leaf.
    pub net_deposit: NetAmount,
    /// The leaf's path (position = channel id).
    pub path: crate::state_tree::StatePath,
}

impl BalanceOpening {
    /// The opened leaf: the balance leaf of a full close, or the state leaf.
    pub fn leaf(&self) -> Fe {
        match &self.state {
            None => balance_leaf(
                self.channel,
                &self.pk,
                self.balance,
                self.spent,
                self.received,
                &self.blind,
            ),
            Some(state) => crate::incremental::state_leaf(
                self.channel,
                &self.pk,
                state.net_deposit,
                self.balance,
                self.spent,
                self.received,
                &self.blind,
            ),
        }
    }

    /// The index the channel's leaf must have: slot `id − 1` of a full close,
    /// position `id` of the state tree.
    pub fn expected_index(&self) -> u64 {
        match self.state {
            None => u64::from(self.channel).saturating_sub(1),
            Some(_) => u64::from(self.channel),
        }
    }

    /// Whether the opening is under `root` at its claimed index.
    pub fn verify(&self, root: &Fe) -> bool {
        match &self.state {
            None => self.proof.index == self.index && verify(root, &self.leaf(), &self.proof),
            Some(state) => {
                u64::from(state.path.position) == self.index
                    && state.path.verify(root, &self.leaf())
            }
        }
    }
}

/// Open `channel`'s balance leaf in the close of `snapshot` (builds the whole tree;
/// use [`BalanceTree`] to open many).
pub fn balance_opening(
    snapshot: &Snapshot,
    channel: ChannelId,
) -> Result<BalanceOpening, StatementError> {
    BalanceTree::from_snapshot(snapshot)?.opening(channel)
}

/// The balance tree of one close, kept to hand out many openings.
#[derive(Debug, Clone)]
pub struct BalanceTree {
    witness: CloseWitness,
    tree: MerkleTree,
}

impl BalanceTree {
    /// Check `snapshot` and build its balance tree.
    pub fn from_snapshot(snapshot: &Snapshot) -> Result<Self, StatementError> {
        // Openings need no volume: its commitment here is made with blind 0.
        let witness = CloseWitness::from_snapshot(snapshot, &Fe::from(0u64))?;
        let tree = MerkleTree::with_size(witness.balance_leaves(), witness.slot_count())?;
        debug_assert_eq!(tree.root(), witness.public.balances_root);
        Ok(BalanceTree { witness, tree })
    }

    /// The close's public inputs (but `volume_commitment`, made with blind 0 here: the
    /// tree serves openings, not closes).
    pub fn public(&self) -> &PublicInputs {
        &self.witness.public
    }

    /// The opening of `channel`'s leaf.
    pub fn opening(&self, channel: ChannelId) -> Result<BalanceOpening, StatementError> {
        let index = self
            .witness
            .slots
            .binary_search_by_key(&channel, |s| s.id)
            .map_err(|_| StatementError::UnknownChannel(channel))?;
        let slot = &self.witness.slots[index];
        let proof = self.tree.proof(index)?;
        Ok(BalanceOpening {
            state: None,
            epoch: self.witness.public.epoch,
            index: index as u64,
            channel,
            pk: slot.pk,
            balance: slot.balance,
            spent: slot.spent,
            received: slot.received,
            blind: slot.blind,
            proof,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_count_is_power_of_two_at_least_two() {
        assert_eq!(slot_count(0), 2);
        assert_eq!(slot_count(1), 2);
        assert_eq!(slot_count(2), 2);
        assert_eq!(slot_count(3), 4);
        assert_eq!(slot_count(5), 8);
        assert_eq!(slot_count(1 << 20), 1 << 20);
    }

    #[test]
    fn signed_net_deposit_encoding() {
        assert_eq!(net_deposit_fe(0), Fe::from(0u64));
        assert_eq!(net_deposit_fe(5), Fe::from(5u64));
        assert_eq!(net_deposit_fe(-5) + Fe::from(5u64), Fe::from(0u64));
        assert_eq!(net_deposit_fe(i128::from(u64::MAX)), Fe::from(u64::MAX));
    }

    #[test]
    fn public_inputs_json_and_order() {
        let p = PublicInputs {
            hub_id: 7,
            epoch: 3,
            n: 2,
            deposits_root: Fe::from(11u64),
            balances_root: Fe::from(13u64),
            volume_commitment: Fe::from(17u64),
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"hub_id":7,"epoch":3,"n":2,"deposits_root":"11","balances_root":"13","volume_commitment":"17"}"#
        );
        assert_eq!(serde_json::from_str::<PublicInputs>(&json).unwrap(), p);
        assert_eq!(
            p.to_field_elements(),
            [7u64, 3, 2, 11, 13, 17].map(Fe::from)
        );
    }

    use crate::crypto::{PrivateKey, chain_next};
    use crate::types::voucher_message;

    const HUB: HubId = 3;

    fn key(i: u8) -> PrivateKey {
        PrivateKey::from_bytes([i; 32])
    }

    /// Channel `i` (1-based) with key `key(i)`, after one signed payment of `spent`
    /// (if any) and `received` credited.
    fn record(id: ChannelId, deposit: Amount, spent: Amount, received: Amount) -> ChannelRecord {
        let k = key(id as u8);
        let mut r = ChannelRecord::open(id, k.public(), deposit);
        if spent > 0 {
            r.seq = 1;
            r.chain = chain_next(&Fe::from(0u64), 1, 99, spent);
            r.spent = spent;
            r.checkpoint_sig = Some(k.sign(&voucher_message(HUB, id, 1, spent, &r.chain)).pack());
        }
        r.received = received;
        r
    }

    fn snapshot() -> Snapshot {
        let channels = vec![
            record(1, 100, 30, 0),
            record(2, 0, 0, 25),
            record(3, 50, 5, 10),
        ];
        Snapshot::new(HUB, 4, channels, &Fe::from(77u64))
    }

    #[test]
    fn witness_from_snapshot_matches_the_definitions() {
        let snap = snapshot();
        let w = CloseWitness::from_snapshot(&snap, &Fe::from(3u64)).unwrap();
        assert_eq!(w.public.hub_id, HUB);
        assert_eq!(w.public.epoch, 4);
        assert_eq!(w.public.n, 3);
        assert_eq!(w.slot_count(), 4);
        assert_eq!(
            w.slots.iter().map(|s| s.balance).collect::<Vec<_>>(),
            vec![70, 25, 55]
        );
        // The full close commits to the cumulative volume Σ S.
        let volume: u128 = w.slots.iter().map(|s| u128::from(s.spent)).sum();
        assert_eq!(w.volume, volume);
        assert_eq!(
            w.public.volume_commitment,
            poseidon(&[*crate::volume::TAG_VOLUME, Fe::from(volume), Fe::from(3u64)])
        );
        w.verify_signatures().unwrap();
        // Leaves by the formulas, padding 0, roots over 4 slots.
        let pk1 = key(1).public();
        let d1 = poseidon(&[Fe::from(1u64), pk1.0.x, pk1.0.y, Fe::from(100u64)]);
        let inner = poseidon(&[Fe::from(30u64), Fe::from(0u64), snap.blinds[0]]);
        let b1 = poseidon(&[Fe::from(1u64), pk1.0.x, pk1.0.y, Fe::from(70u64), inner]);
        let dl = w.deposit_leaves();
        let bl = w.balance_leaves();
        assert_eq!((dl[0], bl[0]), (d1, b1));
        assert_eq!((dl[3], bl[3]), (Fe::from(0u64), Fe::from(0u64)));
        assert_eq!(w.public.deposits_root, MerkleTree::new(dl).unwrap().root());
        assert_eq!(w.public.balances_root, MerkleTree::new(bl).unwrap().root());
        assert_eq!(deposit_leaf(1, &pk1, 100), d1);
        // The witness serializes and comes back equal.
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(serde_json::from_str::<CloseWitness>(&json).unwrap(), w);
    }

    #[test]
    fn openings_verify_and_bind_every_field() {
        let snap = snapshot();
        let tree = BalanceTree::from_snapshot(&snap).unwrap();
        let root = tree.public().balances_root;
        for id in 1..=3 {
            let o = balance_opening(&snap, id).unwrap();
            assert_eq!(o, tree.opening(id).unwrap());
            assert_eq!(o.index, u64::from(id) - 1);
            assert!(o.verify(&root));
            let tampered: [fn(&mut BalanceOpening); 6] = [
                |o| o.balance += 1,
                |o| o.spent += 1,
                |o| o.received += 1,
                |o| o.blind += Fe::from(1u64),
                |o| o.channel += 1,
                |o| o.index ^= 1,
            ];
            for t in tampered {
                let mut bad = o.clone();
                t(&mut bad);
                assert!(!bad.verify(&root));
            }
        }
        assert_eq!(
            balance_opening(&snap, 9),
            Err(StatementError::UnknownChannel(9))
        );
    }

    #[test]
    fn bad_snapshots_are_refused() {
        let good = snapshot();
        let mut s = good.clone();
        s.blinds.pop();
        assert!(matches!(
            CloseWitness::from_snapshot(&s, &Fe::from(3u64)),
            Err(StatementError::BlindCount { .. })
        ));
        let mut s = good.clone();
        s.channels.swap(0, 1);
        assert_eq!(
            CloseWitness::from_snapshot(&s, &Fe::from(3u64)),
            Err(StatementError::IdsNotIncreasing { previous: 2, id: 1 })
        );
        let mut s = good.clone();
        s.channels[1].id = 1;
        assert_eq!(
            CloseWitness::from_snapshot(&s, &Fe::from(3u64)),
            Err(StatementError::IdsNotIncreasing { previous: 1, id: 1 })
        );
        let mut s = good.clone();
        s.channels[0].spent = 101;
        s.channels[1].received = 96;
        assert_eq!(
            CloseWitness::from_snapshot(&s, &Fe::from(3u64)),
            Err(StatementError::NegativeBalance { id: 1 })
        );
        let mut s = good.clone();
        s.channels[2].checkpoint_sig = None;
        assert_eq!(
            CloseWitness::from_snapshot(&s, &Fe::from(3u64)),
            Err(StatementError::MissingSignature { id: 3 })
        );
        let mut s = good.clone();
        s.channels[1].received += 1;
        assert_eq!(
            CloseWitness::from_snapshot(&s, &Fe::from(3u64)),
            Err(StatementError::SumMismatch {
                received: 36,
                spent: 35
            })
        );
        // A signature over another spent passes the cheap checks, not verification.
        let mut s = good;
        s.channels[0].spent = 29;
        s.channels[1].received = 24;
        let w = CloseWitness::from_snapshot(&s, &Fe::from(3u64)).unwrap();
        assert_eq!(
            w.verify_signatures(),
            Err(StatementError::BadSignature { id: 1 })
        );
    }
}
