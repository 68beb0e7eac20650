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
//!   deposits_hash` ([`IncrementalInputs`]).
//!
//! The closer's circuit (`closer::incremental`) proves exactly what this module
//! computes; a change of a formula here is a change of the statement.

use serde::{Deserialize, Serialize};

use crate::crypto::{PackedSignature, PublicKey, poseidon};
use crate::field::Fe;
use crate::ledger::Snapshot;
use crate::state_tree::{StatePath, StateTree, StateTreeError};
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
}

impl IncrementalInputs {
    /// The inputs as field elements, in circuit order.
    pub fn to_field_elements(&self) -> [Fe; 6] {
        [
            Fe::from(self.hub_id),
            Fe::from(self.epoch),
            Fe::from(self.n),
            self.prev_root,
            self.new_root,
            self.deposits_hash,
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
            tree,
        })
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
        self.tree.len()
    }

    /// Whether no channel was closed yet.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Check `snapshot` (the next epoch of this hub) against this state and build the
    /// witness of its close, and the state after it.
    ///
    /// Touched: a channel that is new, or whose net deposit, spent or received differs
    /// from its closed values. A touched channel takes the snapshot's blind; an untouched
    /// one keeps its leaf. Checks: every slot rule of the full statement for touched
    /// channels (balance, signature present and valid), counters that never go down,
    /// no closed channel missing or re-keyed, `Σ ΔR = Σ ΔS`.
    pub fn close(
        &self,
        snapshot: &Snapshot,
    ) -> Result<(IncrementalWitness, ClosedState), IncrementalError> {
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
        let mut next = self.clone();
        next.epoch = snapshot.epoch;
        let mut slots = Vec::new();
        let (mut credited, mut debited) = (0u128, 0u128);
        let mut previous_id: Option<ChannelId> = None;
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
            let slot = SlotWitness::from_record(record, *blind)?;
            slot.verify_signature(self.hub_id)?;
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
            credited += u128::from(record.received - old_received);
            debited += u128::from(record.spent - old_spent);
            let new = ClosedChannel::from_slot(&slot);
            let path = next.tree.path(record.id)?;
            next.tree.set(record.id, new.leaf())?;
            let index = record.id as usize;
            if next.channels.len() <= index {
                next.channels.resize(index + 1, None);
            }
            next.channels[index] = Some(new.clone());
            slots.push(TouchedSlot {
                id: record.id,
                pk: record.pk,
                old: old.cloned(),
                deposit_changed: old.is_none_or(|o| o.net_deposit != record.deposit),
                new,
                seq: slot.seq,
                chain: slot.chain,
                sig: slot.sig,
                path,
            });
        }
        if let Some(missing) = self
            .channels
            .iter()
            .flatten()
            .find(|c| !snapshot_has(snapshot, c.id))
        {
            return Err(IncrementalError::ChannelMissing(missing.id));
        }
        if credited != debited {
            return Err(IncrementalError::SumMismatch {
                received: credited,
                spent: debited,
            });
        }
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
        };
        Ok((IncrementalWitness { inputs, slots }, next))
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
