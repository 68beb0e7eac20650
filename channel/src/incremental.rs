//! The incremental close's native side (docs/DESIGN.md §8.2): the state leaf, the
//! deposits hash, the state as of the last accepted close, and the witness of the next
//! close: the channels a snapshot *touched* since then, each with its old and new leaf
//! and its path in the state tree as the close finds it.
//!
//! - `state_leaf = Poseidon(id, Ax, Ay, D, B, Poseidon(S, R, blind))` at position `id`
//!   of the [`StateTree`];
//! - `deposits_hash`: from 0, `h ← Poseidon(h, Poseidon(id, Ax, Ay, D))` over every
//!   channel whose net deposit differs from the previous cut's (or that is new), in
//!   increasing id order ([`deposits_hash`], used by the settlement layer and here);
//! - public inputs, in this order: `hub_id, epoch, n, prev_root, new_root,
//!   deposits_hash, volume_commitment` ([`IncrementalInputs`]), the last
//!   `Poseidon(VOLUME, Σ (S_new − S_old), rv)` over the touched channels
//!   ([`crate::volume`]).
//!
//! The closer's circuit (`closer::incremental`) proves exactly what this module
//! computes; a change of a formula here is a change of the statement.

use serde::{Deserialize, Serialize};

use crate::crypto::{PackedSignature, PublicKey, poseidon};
use crate::field::Fe;
use crate::ledger::{ChannelRecord, Snapshot};
use crate::state_tree::{StatePath, StateTree, StateTreeError, chained_path};
use crate::statement::{
    SlotWitness, StatementError, balance_commitment, deposit_leaf, net_deposit_fe,
};
use crate::types::{Amount, ChannelId, Epoch, HubId, NetAmount, Seq};

/// Why a snapshot cannot be closed incrementally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncrementalError {
    /// The snapshot is of another hub.
    #[error("snapshot of hub {got}, the closed state is hub {expected}'s")]
    WrongHub {
        /// The closed state's hub.
        expected: HubId,
        /// The snapshot's.
        got: HubId,
    },
    /// The snapshot is not of the epoch after the closed one.
    #[error("snapshot of epoch {got}, the next close is epoch {expected}")]
    WrongEpoch {
        /// The epoch expected.
        expected: Epoch,
        /// The snapshot's.
        got: Epoch,
    },
    /// A channel of the closed state is missing from the snapshot.
    #[error("channel {0} was closed before and is missing from the snapshot")]
    ChannelMissing(ChannelId),
    /// A channel's key differs from the closed state's.
    #[error("channel {0}'s key differs from the one closed before")]
    KeyChanged(ChannelId),
    /// A counter went down since the last close.
    #[error("channel {id}: {counter} went down since the last close ({before} → {after})")]
    CounterDecreased {
        /// Channel id.
        id: ChannelId,
        /// `"spent"` or `"received"`.
        counter: &'static str,
        /// Value at the last close.
        before: Amount,
        /// Value in the snapshot.
        after: Amount,
    },
    /// `Σ ΔR ≠ Σ ΔS` over the touched channels.
    #[error("the epoch credits {received} and debits {spent}: money created or destroyed")]
    SumMismatch {
        /// `Σ ΔR`.
        received: u128,
        /// `Σ ΔS`.
        spent: u128,
    },
    /// A slot rule of the full statement (balance, signature, ids, blinds).
    #[error(transparent)]
    Statement(#[from] StatementError),
    /// The state tree refused a position.
    #[error(transparent)]
    Tree(#[from] StateTreeError),
    /// Saved parts that do not make one closed state (see [`ClosedState::from_parts`]).
    #[error("the saved closed state is inconsistent: {0}")]
    Inconsistent(&'static str),
}

/// `Poseidon(id, Ax, Ay, D, B, Poseidon(S, R, blind))`.
pub fn state_leaf(
    id: ChannelId,
    pk: &PublicKey,
    net: NetAmount,
    balance: Amount,
    spent: Amount,
    received: Amount,
    blind: &Fe,
) -> Fe {
    poseidon(&[
        Fe::from(id),
        pk.0.x,
        pk.0.y,
        net_deposit_fe(net),
        Fe::from(balance),
        balance_commitment(spent, received, blind),
    ])
}

/// One step of the deposits hash: `Poseidon(acc, Poseidon(id, Ax, Ay, D))`.
pub fn deposits_hash_step(acc: &Fe, id: ChannelId, pk: &PublicKey, net: NetAmount) -> Fe {
    poseidon(&[*acc, deposit_leaf(id, pk, net)])
}

/// The deposits hash of a cut: over the channels of `current` (in increasing id order,
/// `(id, key, net deposit)`) whose net deposit differs from `previous(id)` (`None`: the
/// channel is new).
pub fn deposits_hash<'a>(
    current: impl IntoIterator<Item = (ChannelId, &'a PublicKey, NetAmount)>,
    previous: impl Fn(ChannelId) -> Option<NetAmount>,
) -> Fe {
    current
        .into_iter()
        .filter(|(id, _, net)| previous(*id) != Some(*net))
        .fold(Fe::from(0u64), |acc, (id, pk, net)| {
            deposits_hash_step(&acc, id, pk, net)
        })
}

/// The incremental close's public inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncrementalInputs {
    /// Hub id.
    pub hub_id: HubId,
    /// Epoch closed.
    pub epoch: Epoch,
    /// Touched channels.
    pub n: u64,
    /// The state root of the previous close (the empty tree's before the first).
    #[serde(with = "crate::field::dec")]
    pub prev_root: Fe,
    /// The state root after this close.
    #[serde(with = "crate::field::dec")]
    pub new_root: Fe,
    /// The settlement layer's hash of the deposit changes since the previous cut.
    #[serde(with = "crate::field::dec")]
    pub deposits_hash: Fe,
    /// `Poseidon(VOLUME, Σ (S_new − S_old), rv)`: the hiding commitment to the epoch's
    /// volume ([`crate::volume::volume_commitment`]).
    #[serde(with = "crate::field::dec")]
    pub volume_commitment: Fe,
}

impl IncrementalInputs {
    /// The inputs as field elements, in circuit order.
    pub fn to_field_elements(&self) -> [Fe; 7] {
        [
            Fe::from(self.hub_id),
            Fe::from(self.epoch),
            Fe::from(self.n),
            self.prev_root,
            self.new_root,
            self.deposits_hash,
            self.volume_commitment,
        ]
    }
}

/// A channel as a close left it: the values of its state leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedChannel {
    /// Channel id (its position in the tree).
    pub id: ChannelId,
    /// Channel key.
    pub pk: PublicKey,
    /// Net deposit `D`.
    pub net_deposit: NetAmount,
    /// Spent `S`.
    pub spent: Amount,
    /// Received `R`.
    pub received: Amount,
    /// Balance `B = D + R − S`.
    pub balance: Amount,
    /// Blind of the balance commitment.
    #[serde(with = "crate::field::dec")]
    pub blind: Fe,
}

impl ClosedChannel {
    /// Its state leaf.
    pub fn leaf(&self) -> Fe {
        state_leaf(
            self.id,
            &self.pk,
            self.net_deposit,
            self.balance,
            self.spent,
            self.received,
            &self.blind,
        )
    }

    fn from_slot(slot: &SlotWitness) -> ClosedChannel {
        ClosedChannel {
            id: slot.id,
            pk: slot.pk,
            net_deposit: slot.deposit,
            spent: slot.spent,
            received: slot.received,
            balance: slot.balance,
            blind: slot.blind,
        }
    }
}

/// One touched channel of a close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TouchedSlot {
    /// Channel id.
    pub id: ChannelId,
    /// Channel key.
    pub pk: PublicKey,
    /// Its leaf's values before (`None`: a new channel, the position was empty).
    pub old: Option<ClosedChannel>,
    /// Its leaf's values after.
    pub new: ClosedChannel,
    /// Seq of the checkpoint covering `new.spent` (0 if nothing spent).
    pub seq: Seq,
    /// Chain at `seq`.
    #[serde(with = "crate::field::dec")]
    pub chain: Fe,
    /// The checkpoint signature; `None` iff `new.spent = 0`.
    #[serde(with = "crate::crypto::eddsa::serde_opt_packed_sig")]
    pub sig: Option<PackedSignature>,
    /// The net deposit changed since the previous cut (or the channel is new).
    pub deposit_changed: bool,
    /// The path of position `id` in the tree after every lower touched id was applied:
    /// it gives the running root with the old leaf and the next one with the new.
    pub path: StatePath,
}

/// The witness of an incremental close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncrementalWitness {
    /// Public inputs.
    pub inputs: IncrementalInputs,
    /// Touched channels, ids strictly increasing.
    pub slots: Vec<TouchedSlot>,
    /// `V = Σ (S_new − S_old)` over the touched channels: the epoch's volume.
    pub volume: u128,
    /// Its blind `rv` ([`crate::volume::volume_blind`]).
    #[serde(with = "crate::field::dec")]
    pub volume_blind: Fe,
}

/// The state as of the last accepted close: every channel's leaf values and the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedState {
    /// The hub.
    pub hub_id: HubId,
    /// The epoch closed last (0: none yet).
    pub epoch: Epoch,
    /// Closed channels by id (`channels[id]`; `None` where no channel was closed).
    channels: Vec<Option<ClosedChannel>>,
    /// Closed channels (the `Some`s of `channels`).
    count: usize,
    /// The state tree over their leaves.
    pub tree: StateTree,
}

impl ClosedState {
    /// Before the first close: no channel, the empty tree.
    pub fn genesis(hub_id: HubId) -> Self {
        ClosedState {
            hub_id,
            epoch: 0,
            channels: Vec::new(),
            count: 0,
            tree: StateTree::new(),
        }
    }

    /// A closed state from its channels (ids strictly increasing), building the tree
    /// once: the leaves are hashed on every core (`threads`, at least 1).
    pub fn from_channels(
        hub_id: HubId,
        epoch: Epoch,
        channels: Vec<ClosedChannel>,
        threads: usize,
    ) -> Result<ClosedState, IncrementalError> {
        let chunk = channels.len().div_ceil(threads.max(1)).max(1);
        let leaves: Vec<Fe> = std::thread::scope(|scope| {
            let workers: Vec<_> = channels
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(ClosedChannel::leaf).collect()))
                .collect();
            workers
                .into_iter()
                .flat_map(|w: std::thread::ScopedJoinHandle<'_, Vec<Fe>>| {
                    w.join().expect("hashing leaves does not panic")
                })
                .collect()
        });
        let tree = StateTree::from_leaves(channels.iter().map(|c| c.id).zip(leaves))?;
        let count = channels.len();
        let mut by_id = Vec::new();
        for c in channels {
            let index = c.id as usize;
            if by_id.len() <= index {
                by_id.resize(index + 1, None);
            }
            by_id[index] = Some(c);
        }
        Ok(ClosedState {
            hub_id,
            epoch,
            channels: by_id,
            count,
            tree,
        })
    }

    /// A closed state from its saved parts: `channels` (ids strictly increasing) and
    /// the tree over their leaves, without hashing the leaves again (a million leaves
    /// take tens of seconds; a saved state is loaded at every start). Checks the shape:
    /// as many occupied leaves as channels, each channel's position occupied. A leaf
    /// that disagrees with its channel's values cannot go unnoticed: every opening of
    /// that channel fails against the root, and the caller checks the root against the
    /// settlement layer's.
    pub fn from_parts(
        hub_id: HubId,
        epoch: Epoch,
        channels: Vec<ClosedChannel>,
        tree: StateTree,
    ) -> Result<ClosedState, IncrementalError> {
        if tree.len() != channels.len() {
            return Err(IncrementalError::Inconsistent(
                "the tree has another number of leaves than channels",
            ));
        }
        if channels.windows(2).any(|w| w[0].id >= w[1].id) {
            return Err(IncrementalError::Inconsistent(
                "channel ids are not strictly increasing",
            ));
        }
        for c in &channels {
            if tree.leaf(c.id)? == Fe::from(0u64) {
                return Err(IncrementalError::Inconsistent(
                    "a channel's position is empty in the tree",
                ));
            }
        }
        let count = channels.len();
        let mut by_id: Vec<Option<ClosedChannel>> =
            Vec::with_capacity(channels.last().map_or(0, |c| c.id as usize + 1));
        for c in channels {
            by_id.resize(c.id as usize, None);
            by_id.push(Some(c));
        }
        Ok(ClosedState {
            hub_id,
            epoch,
            channels: by_id,
            count,
            tree,
        })
    }

    /// Every closed channel, in id order.
    pub fn channels(&self) -> impl Iterator<Item = &ClosedChannel> {
        self.channels.iter().flatten()
    }

    /// The closed values of channel `id`.
    pub fn channel(&self, id: ChannelId) -> Option<&ClosedChannel> {
        self.channels.get(id as usize).and_then(Option::as_ref)
    }

    /// The state root.
    pub fn root(&self) -> Fe {
        self.tree.root()
    }

    /// Channels closed.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no channel was closed yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Check `snapshot` (the next epoch of this hub) against this state and build the
    /// witness of its close (its volume committed with blind `volume_blind`), and the
    /// state after it.
    ///
    /// Touched: a channel that is new, or whose net deposit, spent or received differs
    /// from its closed values. A touched channel takes the snapshot's blind; an untouched
    /// one keeps its leaf. Checks: every slot rule of the full statement for touched
    /// channels (balance, signature present and valid), counters that never go down,
    /// no closed channel missing or re-keyed, `Σ ΔR = Σ ΔS`.
    pub fn close(
        &self,
        snapshot: &Snapshot,
        volume_blind: &Fe,
    ) -> Result<(IncrementalWitness, ClosedState), IncrementalError> {
        self.check_follows(snapshot)?;
        let mut next = self.clone();
        next.epoch = snapshot.epoch;
        let mut slots = Vec::new();
        let (mut credited, mut debited) = (0u128, 0u128);
        let mut previous_id: Option<ChannelId> = None;
        let mut closed_seen = 0usize;
        for (record, blind) in snapshot.channels.iter().zip(&snapshot.blinds) {
            if let Some(previous) = previous_id
                && record.id <= previous
            {
                return Err(StatementError::IdsNotIncreasing {
                    previous,
                    id: record.id,
                }
                .into());
            }
            previous_id = Some(record.id);
            let old = self.channel(record.id);
            if let Some(old) = old {
                closed_seen += 1;
                if old.pk != record.pk {
                    return Err(IncrementalError::KeyChanged(record.id));
                }
                if old.net_deposit == record.deposit
                    && old.spent == record.spent
                    && old.received == record.received
                {
                    continue;
                }
            }
            let slot = self.touched_slot(old, record, *blind)?;
            let (old_spent, old_received) = old.map_or((0, 0), |o| (o.spent, o.received));
            credited += u128::from(record.received - old_received);
            debited += u128::from(record.spent - old_spent);
            let index = record.id as usize;
            if next.channels.len() <= index {
                next.channels.resize(index + 1, None);
            }
            next.channels[index] = Some(slot.new.clone());
            slots.push(slot);
        }
        if closed_seen != self.count {
            let missing = self
                .channels
                .iter()
                .flatten()
                .find(|c| !snapshot_has(snapshot, c.id))
                .expect("a closed channel is missing");
            return Err(IncrementalError::ChannelMissing(missing.id));
        }
        if credited != debited {
            return Err(IncrementalError::SumMismatch {
                received: credited,
                spent: debited,
            });
        }
        next.set_leaves_and_paths(self, &mut slots)?;
        let deposits_hash = deposits_hash(
            snapshot.channels.iter().map(|c| (c.id, &c.pk, c.deposit)),
            |id| self.channel(id).map(|c| c.net_deposit),
        );
        let inputs = IncrementalInputs {
            hub_id: self.hub_id,
            epoch: snapshot.epoch,
            n: slots.len() as u64,
            prev_root: self.root(),
            new_root: next.root(),
            deposits_hash,
            volume_commitment: crate::volume::volume_commitment(debited, volume_blind),
        };
        let witness = IncrementalWitness {
            inputs,
            slots,
            volume: debited,
            volume_blind: *volume_blind,
        };
        Ok((witness, next))
    }

    /// `snapshot` is this hub's next epoch, with a blind per channel.
    fn check_follows(&self, snapshot: &Snapshot) -> Result<(), IncrementalError> {
        if snapshot.hub_id != self.hub_id {
            return Err(IncrementalError::WrongHub {
                expected: self.hub_id,
                got: snapshot.hub_id,
            });
        }
        if snapshot.epoch != self.epoch + 1 {
            return Err(IncrementalError::WrongEpoch {
                expected: self.epoch + 1,
                got: snapshot.epoch,
            });
        }
        if snapshot.blinds.len() != snapshot.channels.len() {
            return Err(StatementError::BlindCount {
                channels: snapshot.channels.len(),
                blinds: snapshot.blinds.len(),
            }
            .into());
        }
        Ok(())
    }

    /// The slot of a touched channel (closed as `old`, if ever): its counters did not
    /// go down, and its record passes the full statement's slot rules. Its path is
    /// set later, by [`ClosedState::set_leaves_and_paths`].
    fn touched_slot(
        &self,
        old: Option<&ClosedChannel>,
        record: &ChannelRecord,
        blind: Fe,
    ) -> Result<TouchedSlot, IncrementalError> {
        let (old_spent, old_received) = old.map_or((0, 0), |o| (o.spent, o.received));
        for (counter, before, after) in [
            ("spent", old_spent, record.spent),
            ("received", old_received, record.received),
        ] {
            if after < before {
                return Err(IncrementalError::CounterDecreased {
                    id: record.id,
                    counter,
                    before,
                    after,
                });
            }
        }
        let slot = SlotWitness::from_record(record, blind)?;
        slot.verify_signature(self.hub_id)?;
        Ok(TouchedSlot {
            id: record.id,
            pk: record.pk,
            old: old.cloned(),
            deposit_changed: old.is_none_or(|o| o.net_deposit != record.deposit),
            new: ClosedChannel::from_slot(&slot),
            seq: slot.seq,
            chain: slot.chain,
            sig: slot.sig,
            // Read from the trees before and after once every leaf is set.
            path: StatePath {
                position: record.id,
                siblings: Default::default(),
            },
        })
    }

    /// Set the touched slots' new leaves in this (the next) state's tree in one batch
    /// (each changed node hashed once), then every slot's path as the updates meet it
    /// one by one in id order from `before`: lower ids set, higher ones not yet.
    fn set_leaves_and_paths(
        &mut self,
        before: &ClosedState,
        slots: &mut [TouchedSlot],
    ) -> Result<(), IncrementalError> {
        self.tree
            .set_many(slots.iter().map(|s| (s.id, s.new.leaf())))?;
        self.count += slots.iter().filter(|s| s.old.is_none()).count();
        for slot in slots.iter_mut() {
            slot.path = chained_path(&before.tree, &self.tree, slot.id)?;
        }
        assert_eq!(
            self.tree.len(),
            self.count,
            "one non-empty leaf per closed channel"
        );
        if let (Some(first), Some(last)) = (slots.first(), slots.last()) {
            let old = first
                .old
                .as_ref()
                .map_or(Fe::from(0u64), ClosedChannel::leaf);
            assert_eq!(
                first.path.root(&old),
                before.root(),
                "the chain starts at prev_root"
            );
            assert_eq!(
                last.path.root(&last.new.leaf()),
                self.root(),
                "and ends at new_root"
            );
        }
        Ok(())
    }

    /// Channel `id`'s leaf opened as the settlement layer takes it (withdrawals,
    /// disputes, forced exit).
    pub fn balance_opening(&self, id: ChannelId) -> Option<crate::statement::BalanceOpening> {
        let opening = self.opening(id)?;
        let c = opening.channel;
        Some(crate::statement::BalanceOpening {
            epoch: self.epoch,
            index: u64::from(id),
            channel: id,
            pk: c.pk,
            balance: c.balance,
            spent: c.spent,
            received: c.received,
            blind: c.blind,
            proof: crate::merkle::MerkleProof {
                index: u64::from(id),
                siblings: Vec::new(),
            },
            state: Some(crate::statement::StateProof {
                net_deposit: c.net_deposit,
                path: opening.path,
            }),
        })
    }

    /// Channel `id`'s closed leaf opened with its path in the current tree.
    pub fn opening(&self, id: ChannelId) -> Option<StateOpening> {
        let channel = self.channel(id)?.clone();
        let path = self.tree.path(id).ok()?;
        Some(StateOpening {
            epoch: self.epoch,
            channel,
            path,
        })
    }
}

fn snapshot_has(snapshot: &Snapshot, id: ChannelId) -> bool {
    snapshot
        .channels
        .binary_search_by_key(&id, |c| c.id)
        .is_ok()
}

/// A channel's state leaf opened with its path: what it presents against an accepted
/// close's state root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateOpening {
    /// The epoch of the close.
    pub epoch: Epoch,
    /// The leaf's values.
    pub channel: ClosedChannel,
    /// Its path.
    pub path: StatePath,
}

impl StateOpening {
    /// Whether the leaf sits at its channel's position under `root`.
    pub fn verify(&self, root: &Fe) -> bool {
        self.path.position == self.channel.id && self.path.verify(root, &self.channel.leaf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{PrivateKey, chain_next};
    use crate::ledger::ChannelRecord;
    use crate::types::voucher_message;
    use proptest::prelude::*;

    const HUB: HubId = 41;

    /// Channels `1..=n` as the hub's ledger holds them, with real keys and signatures.
    #[derive(Clone)]
    struct World {
        records: Vec<ChannelRecord>,
    }

    fn key(id: ChannelId) -> PrivateKey {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&id.to_le_bytes());
        PrivateKey(bytes)
    }

    impl World {
        fn new(deposits: &[u64]) -> Self {
            let mut world = World {
                records: Vec::new(),
            };
            for &deposit in deposits {
                world.open(deposit);
            }
            world
        }

        fn open(&mut self, deposit: u64) -> ChannelId {
            let id = self.records.len() as ChannelId + 1;
            self.records
                .push(ChannelRecord::open(id, key(id).public(), deposit));
            id
        }

        fn record(&mut self, id: ChannelId) -> &mut ChannelRecord {
            &mut self.records[id as usize - 1]
        }

        /// `from` pays `to` in one signed checkpoint.
        fn pay(&mut self, from: ChannelId, to: ChannelId, amount: u64) {
            let payer = self.record(from);
            payer.seq += 1;
            payer.spent += amount;
            payer.chain = chain_next(&payer.chain, payer.seq, to, amount);
            let msg = voucher_message(HUB, from, payer.seq, payer.spent, &payer.chain);
            payer.checkpoint_sig = Some(key(from).sign(&msg).pack());
            self.record(to).received += amount;
        }

        fn snapshot(&self, epoch: Epoch) -> Snapshot {
            Snapshot::new(
                HUB,
                epoch,
                self.records.clone(),
                &Fe::from(epoch * 1000 + 7),
            )
        }
    }

    fn leaves_of(state: &ClosedState) -> Vec<(u32, Fe)> {
        state
            .channels
            .iter()
            .flatten()
            .map(|c| (c.id, c.leaf()))
            .collect()
    }

    /// Every slot's path takes the running root from its old leaf to its new one, from
    /// `prev_root` to `new_root`.
    fn assert_chained(witness: &IncrementalWitness) {
        let mut root = witness.inputs.prev_root;
        for slot in &witness.slots {
            let old = slot
                .old
                .as_ref()
                .map_or(Fe::from(0u64), ClosedChannel::leaf);
            assert_eq!(slot.path.position, slot.id);
            assert!(slot.path.verify(&root, &old), "slot {} old leaf", slot.id);
            root = slot.path.root(&slot.new.leaf());
        }
        assert_eq!(root, witness.inputs.new_root);
    }

    fn ids(witness: &IncrementalWitness) -> Vec<ChannelId> {
        witness.slots.iter().map(|s| s.id).collect()
    }

    /// Four channels, two epochs of payments closed: 1 → 2 thirty, 4 → 1 five.
    fn first_close() -> (World, IncrementalWitness, ClosedState) {
        let mut world = World::new(&[100, 0, 10, 50]);
        world.pay(1, 2, 30);
        world.pay(4, 1, 5);
        let (witness, state) = ClosedState::genesis(HUB)
            .close(&world.snapshot(1), &Fe::from(5u64))
            .unwrap();
        (world, witness, state)
    }

    #[test]
    fn a_first_close_from_genesis_touches_every_channel_and_builds_the_bulk_root() {
        let (world, witness, state) = first_close();
        assert_eq!(ids(&witness), [1, 2, 3, 4]);
        assert_eq!(witness.inputs.n, 4);
        assert_eq!(witness.inputs.epoch, 1);
        assert_eq!(witness.inputs.prev_root, crate::state_tree::empty_root());
        assert!(
            witness
                .slots
                .iter()
                .all(|s| s.old.is_none() && s.deposit_changed)
        );
        let bulk = StateTree::from_leaves(leaves_of(&state)).unwrap();
        assert_eq!(witness.inputs.new_root, bulk.root());
        assert_eq!(state.root(), bulk.root());
        assert_eq!((state.len(), state.epoch), (4, 1));
        // Each leaf is the state leaf of the snapshot's record with its epoch-1 blind.
        let snapshot = world.snapshot(1);
        for (record, blind) in snapshot.channels.iter().zip(&snapshot.blinds) {
            let balance = record.balance().unwrap();
            let leaf = state_leaf(
                record.id,
                &record.pk,
                record.deposit,
                balance,
                record.spent,
                record.received,
                blind,
            );
            assert_eq!(state.tree.leaf(record.id).unwrap(), leaf);
        }
        assert_chained(&witness);
        // Signatures exactly where something was spent.
        let signed: Vec<bool> = witness.slots.iter().map(|s| s.sig.is_some()).collect();
        assert_eq!(signed, [true, false, false, true]);
    }

    #[test]
    fn from_channels_builds_the_state_a_first_close_leaves() {
        let (world, _, closed) = first_close();
        let channels: Vec<ClosedChannel> = (1..=4)
            .map(|id| closed.channel(id).unwrap().clone())
            .collect();
        for threads in [1, 3] {
            let built = ClosedState::from_channels(HUB, 1, channels.clone(), threads).unwrap();
            assert_eq!(built, closed, "{threads} threads");
        }
        // It carries on like the closed one.
        let mut next = world.clone();
        next.pay(2, 3, 1);
        let built = ClosedState::from_channels(HUB, 1, channels.clone(), 2).unwrap();
        assert_eq!(
            built.close(&next.snapshot(2), &Fe::from(5u64)),
            closed.close(&next.snapshot(2), &Fe::from(5u64))
        );
        let mut unordered = channels;
        unordered.swap(1, 2);
        assert!(matches!(
            ClosedState::from_channels(HUB, 1, unordered, 2),
            Err(IncrementalError::Tree(StateTreeError::Order { .. }))
        ));
    }

    #[test]
    fn a_second_close_touches_exactly_payer_and_payee() {
        let (mut world, _, state1) = first_close();
        world.open(20);
        let (_, state2) = state1.close(&world.snapshot(2), &Fe::from(5u64)).unwrap();
        world.pay(3, 4, 7);
        let (witness, state3) = state2.close(&world.snapshot(3), &Fe::from(5u64)).unwrap();
        assert_eq!(ids(&witness), [3, 4]);
        assert_eq!(witness.inputs.n, 2);
        assert_eq!(witness.inputs.prev_root, state2.root());
        assert_eq!(witness.inputs.new_root, state3.root());
        assert_eq!(witness.inputs.deposits_hash, Fe::from(0u64));
        assert!(witness.slots.iter().all(|s| !s.deposit_changed));
        assert_eq!(witness.slots[0].old.as_ref().unwrap().spent, 0);
        assert_eq!(witness.slots[0].new.spent, 7);
        assert_eq!(witness.slots[1].new.received, 7);
        assert_chained(&witness);
        // Touched channels take this epoch's blind; the others keep leaf and blind.
        for id in 1..=5 {
            let before = state2.channel(id).unwrap();
            let after = state3.channel(id).unwrap();
            if id == 3 || id == 4 {
                assert_ne!(after.blind, before.blind);
                assert_ne!(state3.tree.leaf(id).unwrap(), state2.tree.leaf(id).unwrap());
            } else {
                assert_eq!(after, before, "channel {id}");
                assert_eq!(state3.tree.leaf(id).unwrap(), state2.tree.leaf(id).unwrap());
            }
            let opening = state3.opening(id).unwrap();
            assert!(opening.verify(&state3.root()), "channel {id}");
            assert!(!opening.verify(&state2.root()), "channel {id}");
        }
        assert_eq!(
            state3.root(),
            StateTree::from_leaves(leaves_of(&state3)).unwrap().root()
        );
    }

    #[test]
    fn a_top_up_on_an_idle_channel_is_touched_with_deposit_changed() {
        let (mut world, _, state1) = first_close();
        world.record(3).deposit += 25;
        let new = world.open(40);
        let (witness, _) = state1.close(&world.snapshot(2), &Fe::from(5u64)).unwrap();
        assert_eq!(ids(&witness), [3, new]);
        assert!(witness.slots.iter().all(|s| s.deposit_changed));
        assert_eq!(witness.slots[0].new.balance, 35);
        assert!(witness.slots[1].old.is_none());
        let records = &world.records;
        let expected = [3usize, 5].iter().fold(Fe::from(0u64), |acc, &id| {
            let r = &records[id - 1];
            poseidon(&[acc, deposit_leaf(r.id, &r.pk, r.deposit)])
        });
        assert_eq!(witness.inputs.deposits_hash, expected);
        assert_chained(&witness);
    }

    #[test]
    fn an_epoch_without_change_has_no_slot_keeps_the_root_and_hashes_no_deposit() {
        let (world, _, state1) = first_close();
        let (witness, state2) = state1.close(&world.snapshot(2), &Fe::from(5u64)).unwrap();
        assert_eq!(witness.inputs.n, 0);
        assert!(witness.slots.is_empty());
        assert_eq!(witness.inputs.prev_root, witness.inputs.new_root);
        assert_eq!(witness.inputs.deposits_hash, Fe::from(0u64));
        assert_eq!(state2.epoch, 2);
        assert_eq!(state2.root(), state1.root());
    }

    #[test]
    fn received_going_down_is_refused() {
        let (mut world, _, state1) = first_close();
        // The hub lowers what the payee received and books it as a deposit instead: its
        // balance stays, but a payee's received never goes down.
        world.record(2).received -= 10;
        world.record(2).deposit += 10;
        assert_eq!(
            state1
                .close(&world.snapshot(2), &Fe::from(5u64))
                .unwrap_err(),
            IncrementalError::CounterDecreased {
                id: 2,
                counter: "received",
                before: 30,
                after: 20
            }
        );
    }

    #[test]
    fn spent_going_down_is_refused() {
        let (mut world, _, state1) = first_close();
        let mut rolled_back = World::new(&[100, 0]);
        rolled_back.pay(1, 2, 10);
        world.records[0] = rolled_back.records[0].clone();
        world.record(2).received -= 20;
        assert!(matches!(
            state1.close(&world.snapshot(2), &Fe::from(5u64)),
            Err(IncrementalError::CounterDecreased {
                id: 1,
                counter: "spent",
                ..
            })
        ));
    }

    #[test]
    fn a_sum_mismatch_is_refused() {
        let (mut world, _, state1) = first_close();
        world.record(3).received += 9;
        assert_eq!(
            state1
                .close(&world.snapshot(2), &Fe::from(5u64))
                .unwrap_err(),
            IncrementalError::SumMismatch {
                received: 9,
                spent: 0
            }
        );
        let mut world = first_close().0;
        world.pay(1, 3, 4);
        world.record(3).received -= 1;
        assert_eq!(
            state1
                .close(&world.snapshot(2), &Fe::from(5u64))
                .unwrap_err(),
            IncrementalError::SumMismatch {
                received: 3,
                spent: 4
            }
        );
    }

    #[test]
    fn a_changed_key_is_refused() {
        let (mut world, _, state1) = first_close();
        world.record(3).pk = key(99).public();
        assert_eq!(
            state1
                .close(&world.snapshot(2), &Fe::from(5u64))
                .unwrap_err(),
            IncrementalError::KeyChanged(3)
        );
    }

    #[test]
    fn a_closed_channel_missing_from_the_snapshot_is_refused() {
        let (mut world, _, state1) = first_close();
        world.records.remove(2);
        assert_eq!(
            state1
                .close(&world.snapshot(2), &Fe::from(5u64))
                .unwrap_err(),
            IncrementalError::ChannelMissing(3)
        );
    }

    #[test]
    fn another_hub_or_epoch_is_refused() {
        let (world, _, state1) = first_close();
        assert_eq!(
            state1
                .close(&world.snapshot(3), &Fe::from(5u64))
                .unwrap_err(),
            IncrementalError::WrongEpoch {
                expected: 2,
                got: 3
            }
        );
        assert_eq!(
            state1
                .close(&world.snapshot(1), &Fe::from(5u64))
                .unwrap_err(),
            IncrementalError::WrongEpoch {
                expected: 2,
                got: 1
            }
        );
        let mut other = world.snapshot(2);
        other.hub_id = HUB + 1;
        assert_eq!(
            state1.close(&other, &Fe::from(5u64)).unwrap_err(),
            IncrementalError::WrongHub {
                expected: HUB,
                got: HUB + 1
            }
        );
    }

    #[test]
    fn slot_rules_of_the_full_statement_hold_for_touched_channels() {
        let (world, _, state1) = first_close();
        // Overdraft.
        let mut overdraft = world.clone();
        overdraft.pay(3, 2, 11);
        assert_eq!(
            state1
                .close(&overdraft.snapshot(2), &Fe::from(5u64))
                .unwrap_err(),
            IncrementalError::Statement(StatementError::NegativeBalance { id: 3 })
        );
        // A spend without a signature, then with another key's.
        let mut unsigned = world.clone();
        unsigned.pay(3, 2, 4);
        unsigned.record(3).checkpoint_sig = None;
        assert_eq!(
            state1
                .close(&unsigned.snapshot(2), &Fe::from(5u64))
                .unwrap_err(),
            IncrementalError::Statement(StatementError::MissingSignature { id: 3 })
        );
        let mut forged = world.clone();
        forged.pay(3, 2, 4);
        let r = forged.record(3);
        let msg = voucher_message(HUB, 3, r.seq, r.spent, &r.chain);
        r.checkpoint_sig = Some(key(2).sign(&msg).pack());
        assert_eq!(
            state1
                .close(&forged.snapshot(2), &Fe::from(5u64))
                .unwrap_err(),
            IncrementalError::Statement(StatementError::BadSignature { id: 3 })
        );
        // Ids out of order.
        let mut snapshot = world.snapshot(2);
        snapshot.channels.swap(0, 1);
        assert!(matches!(
            state1.close(&snapshot, &Fe::from(5u64)),
            Err(IncrementalError::Statement(
                StatementError::IdsNotIncreasing { .. }
            ))
        ));
        // A blind missing.
        let mut snapshot = world.snapshot(2);
        snapshot.blinds.pop();
        assert!(matches!(
            state1.close(&snapshot, &Fe::from(5u64)),
            Err(IncrementalError::Statement(
                StatementError::BlindCount { .. }
            ))
        ));
    }

    #[test]
    fn deposits_hash_folds_changed_and_new_channels_in_id_order() {
        let pk = |id| key(id).public();
        let keys: Vec<_> = (1..=4).map(pk).collect();
        let current: Vec<(ChannelId, &PublicKey, NetAmount)> = vec![
            (1, &keys[0], 10),
            (2, &keys[1], -5),
            (3, &keys[2], 7),
            (4, &keys[3], 0),
        ];
        let previous = |id: ChannelId| match id {
            1 => Some(10),
            2 => Some(5),
            3 => Some(7),
            _ => None,
        };
        let expected = deposits_hash_step(
            &deposits_hash_step(&Fe::from(0u64), 2, &keys[1], -5),
            4,
            &keys[3],
            0,
        );
        assert_eq!(deposits_hash(current.clone(), previous), expected);
        assert_eq!(deposits_hash(current.clone(), |_| None::<NetAmount>), {
            current.iter().fold(Fe::from(0u64), |acc, (id, pk, net)| {
                deposits_hash_step(&acc, *id, pk, *net)
            })
        });
        assert_eq!(
            deposits_hash(current[..1].to_vec(), previous),
            Fe::from(0u64)
        );
    }

    #[test]
    fn inputs_and_witness_round_trip_through_json_with_decimal_fields() {
        let (_, witness, _) = first_close();
        let json = serde_json::to_string(&witness.inputs).unwrap();
        assert!(json.contains("\"prev_root\":\""), "{json}");
        let back: IncrementalInputs = serde_json::from_str(&json).unwrap();
        assert_eq!(back, witness.inputs);
        let fields = back.to_field_elements();
        assert_eq!(fields[0], Fe::from(HUB));
        assert_eq!(fields[1], Fe::from(1u64));
        assert_eq!(fields[2], Fe::from(4u64));
        assert_eq!(
            fields[3..],
            [
                back.prev_root,
                back.new_root,
                back.deposits_hash,
                back.volume_commitment
            ]
        );
        // The epoch's volume: Σ (S − S_old) over the touched channels, committed with
        // the blind the close was given.
        let volume: u128 = witness
            .slots
            .iter()
            .map(|s| u128::from(s.new.spent - s.old.as_ref().map_or(0, |o| o.spent)))
            .sum();
        assert!(volume > 0);
        assert_eq!(witness.volume, volume);
        assert_eq!(
            back.volume_commitment,
            crate::volume::volume_commitment(volume, &Fe::from(5u64))
        );
        let json = serde_json::to_string(&witness).unwrap();
        assert_eq!(
            serde_json::from_str::<IncrementalWitness>(&json).unwrap(),
            witness
        );
    }

    #[test]
    fn an_opening_verifies_only_at_its_own_position_and_root() {
        let (_, _, state) = first_close();
        let opening = state.opening(2).unwrap();
        assert!(opening.verify(&state.root()));
        let mut moved = opening.clone();
        moved.channel.id = 3;
        assert!(!moved.verify(&state.root()));
        let mut richer = opening.clone();
        richer.channel.balance += 1;
        assert!(!richer.verify(&state.root()));
        assert!(state.opening(9).is_none());
        assert!(ClosedState::genesis(HUB).opening(1).is_none());
    }

    /// One epoch of random activity: payments between existing channels, top-ups,
    /// new channels.
    #[derive(Debug, Clone)]
    enum Action {
        Pay { from: u8, to: u8, amount: u8 },
        TopUp { id: u8, amount: u8 },
        Open { deposit: u8 },
    }

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![
            4 => (any::<u8>(), any::<u8>(), 1u8..20).prop_map(|(from, to, amount)| Action::Pay { from, to, amount }),
            1 => (any::<u8>(), 1u8..50).prop_map(|(id, amount)| Action::TopUp { id, amount }),
            1 => (0u8..60).prop_map(|deposit| Action::Open { deposit }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn random_epochs_chain_their_slots_from_prev_root_to_new_root(
            epochs in proptest::collection::vec(proptest::collection::vec(action(), 0..5), 1..5),
        ) {
            let mut world = World::new(&[50, 20, 0]);
            let mut state = ClosedState::genesis(HUB);
            for (e, actions) in epochs.iter().enumerate() {
                let before = world.clone();
                for a in actions {
                    let n = world.records.len() as u32;
                    match *a {
                        Action::Pay { from, to, amount } => {
                            let (from, to) = (u32::from(from) % n + 1, u32::from(to) % n + 1);
                            let amount = u64::from(amount);
                            if from != to && world.record(from).balance().unwrap() >= amount {
                                world.pay(from, to, amount);
                            }
                        }
                        Action::TopUp { id, amount } => {
                            world.record(u32::from(id) % n + 1).deposit += i128::from(amount);
                        }
                        Action::Open { deposit } => {
                            world.open(u64::from(deposit));
                        }
                    }
                }
                let epoch = e as Epoch + 1;
                let (witness, next) = state.close(&world.snapshot(epoch), &Fe::from(5u64)).unwrap();
                prop_assert_eq!(witness.inputs.prev_root, state.root());
                prop_assert_eq!(witness.inputs.new_root, next.root());
                assert_chained(&witness);
                // Touched: new, or any of D, S, R moved; nothing else.
                let moved: Vec<ChannelId> = world
                    .records
                    .iter()
                    .filter(|r| {
                        epoch == 1
                            || before.records.get(r.id as usize - 1).is_none_or(|b| {
                                (b.deposit, b.spent, b.received) != (r.deposit, r.spent, r.received)
                            })
                    })
                    .map(|r| r.id)
                    .collect();
                prop_assert_eq!(ids(&witness), moved);
                prop_assert_eq!(
                    next.root(),
                    StateTree::from_leaves(leaves_of(&next)).unwrap().root()
                );
                state = next;
            }
        }
    }
}
