//! Range disclosure in zero knowledge (issue 17 item 2; docs/DESIGN.md §11,
//! docs/SECURITY.md §2.9): one Spartan2 zk-SNARK (`spartan2::spartan_zk`, a single
//! circuit, no folding) that a channel's amount received (or spent) in one epoch lies
//! in `[min, max]`, checked against the state roots the settlement layer stored,
//! without revealing the amount.
//!
//! **Statement** ([`RangeStatement`], public, in this order): `hub_id, epoch, channel,
//! counter` (0 received, 1 spent), `min, max, root, prev_root`, where `root` is the
//! state root of the incremental close of `epoch` and `prev_root` that of `epoch − 1`
//! (the empty tree's for epoch 1). **Witness** ([`RangeWitness`]): the channel's key,
//! its state leaf in both trees (`D, B, S, R, blind`), one path per tree, and a private
//! bit `fresh` (the channel had no leaf in `epoch − 1`: it was opened during `epoch`).
//! **Constraints** ([`circuit`]), all with closer's gadgets:
//! - `leaf = Poseidon(channel, Ax, Ay, D, B, Poseidon(S, R, blind))` opens `root` at
//!   position `channel` (`gadgets::state_path`; its base-4 digits also prove
//!   `channel < 2^20`);
//! - `prev = (1 − fresh) · Poseidon(channel, Ax, Ay, D', B', Poseidon(S', R', blind'))`
//!   opens `prev_root` at the same position with the same key (one allocation of
//!   `Ax, Ay` serves both leaves); `fresh` is boolean and `fresh · S' = fresh · R' = 0`
//!   (a fresh channel starts from nothing; a fresh claim for a channel that has a leaf
//!   needs a path of the empty leaf 0 to `prev_root`, which does not exist);
//! - `Δ = (R − R') + counter · ((S − S') − (R − R'))`, `counter` boolean, and `Δ`,
//!   `Δ − min` and `max − Δ` each decomposed into 64 bits (`gadgets::range`): a false
//!   range has no witness.
//!
//! `hub_id` and `epoch` enter no constraint: the leaves carry neither. They are bound
//! by the verifier, which takes `root` and `prev_root` from what the settlement layer
//! stored for that hub and epoch ([`RangeProof::verify`]), and by the transcript (an
//! altered public input fails verification).
//!
//! Only the incremental close's state tree (the hub's default close) is supported: a
//! full close's balance tree is binary with a depth that follows each epoch's `n`, so
//! the statement would need one key per pair of depths and a second leaf gadget.
//!
//! Keys ([`prove::keys`]) come from a deterministic setup of the blank circuit, made
//! once per process (no disk cache: the setup takes about as long as one proof).
//! The proof file is [`file`].

pub mod circuit;
pub mod file;
pub mod prove;

use channel::disclosure::{Disclosure, SettledRoots};
use channel::field::{Fe, fe_to_dec};
use channel::settlement::CloseKind;
use channel::state_tree::{self, StatePath};
use channel::statement::{BalanceOpening, net_deposit_fe};
use channel::types::{Amount, ChannelId, Epoch, HubId};
use serde::Serialize;

use crate::field::{F, fe_to_f};

pub use file::RangeProof;
pub use prove::{prove, verify_snark};

/// The number of public inputs.
pub const NUM_INPUTS: usize = 8;

/// Which cumulative counter the range is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Counter {
    /// `R`: received in the epoch (`R_E − R_{E−1}`).
    Received,
    /// `S`: spent in the epoch (`S_E − S_{E−1}`).
    Spent,
}

impl Counter {
    /// The public input's value: 0 received, 1 spent.
    pub fn tag(self) -> u8 {
        match self {
            Counter::Received => 0,
            Counter::Spent => 1,
        }
    }

    /// The counter of tag `tag`.
    pub fn from_tag(tag: u8) -> Option<Counter> {
        match tag {
            0 => Some(Counter::Received),
            1 => Some(Counter::Spent),
            _ => None,
        }
    }

    /// `"received"` or `"spent"`.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Received => "received",
            Counter::Spent => "spent",
        }
    }
}

/// The public statement: channel `channel` of hub `hub_id` `counter` an amount in
/// `[min, max]` in epoch `epoch`, between the state roots `prev_root` and `root`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeStatement {
    /// Hub.
    pub hub_id: HubId,
    /// Epoch (≥ 1).
    pub epoch: Epoch,
    /// Channel (its position in the state tree).
    pub channel: ChannelId,
    /// Received or spent.
    pub counter: Counter,
    /// Lower bound (inclusive).
    pub min: Amount,
    /// Upper bound (inclusive).
    pub max: Amount,
    /// State root of the incremental close of `epoch`.
    pub root: Fe,
    /// State root of the close of `epoch − 1` (the empty tree's for epoch 1).
    pub prev_root: Fe,
}

impl RangeStatement {
    /// The public inputs as circuit scalars, in the order of the module doc.
    pub fn to_scalars(&self) -> [F; NUM_INPUTS] {
        [
            F::from(self.hub_id),
            F::from(self.epoch),
            F::from(u64::from(self.channel)),
            F::from(u64::from(self.counter.tag())),
            F::from(self.min),
            F::from(self.max),
            fe_to_f(&self.root),
            fe_to_f(&self.prev_root),
        ]
    }
}

/// A channel's values in one state leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafValues {
    /// Net deposit `D` as a field element.
    pub deposit: Fe,
    /// `B`.
    pub balance: Amount,
    /// Cumulative `S`.
    pub spent: Amount,
    /// Cumulative `R`.
    pub received: Amount,
    /// The leaf's blind.
    pub blind: Fe,
}

/// The channel's leaf in the tree of `epoch − 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviousLeaf {
    /// Its leaf with its path.
    Opened(LeafValues, StatePath),
    /// No leaf (the channel was opened during `epoch`): the path of the empty leaf 0.
    Empty(StatePath),
}

/// The private witness: the channel's key and its leaf in both trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeWitness {
    /// Channel.
    pub channel: ChannelId,
    /// The key's coordinates `(Ax, Ay)`.
    pub key: (Fe, Fe),
    /// The leaf of `epoch` and its path.
    pub current: (LeafValues, StatePath),
    /// The leaf of `epoch − 1`.
    pub previous: PreviousLeaf,
}

/// Why a range proof could not be made, read or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    /// The amount is not in the range: no proof exists.
    #[error("the channel's {counter} amount in epoch {epoch} is not in [{min}, {max}]", counter = .counter.name())]
    FalseRange {
        /// Counter.
        counter: Counter,
        /// Epoch.
        epoch: Epoch,
        /// Lower bound.
        min: Amount,
        /// Upper bound.
        max: Amount,
    },
    /// `min > max`.
    #[error("empty range: min {min} > max {max}")]
    EmptyRange {
        /// Lower bound.
        min: Amount,
        /// Upper bound.
        max: Amount,
    },
    /// The disclosure or openings cannot make a witness.
    #[error("cannot make a range witness: {0}")]
    Witness(String),
    /// A leaf does not open the statement's root at the channel's position.
    #[error("the leaf of epoch {epoch} does not open its root at channel {channel}'s position")]
    NotInTree {
        /// Epoch of the tree.
        epoch: Epoch,
        /// Channel.
        channel: ChannelId,
    },
    /// Only the incremental close's state tree is supported.
    #[error("epoch {0} was closed with a full close: range proofs cover incremental closes only")]
    FullClose(Epoch),
    /// The settlement layer has no accepted close of that epoch.
    #[error("the settlement layer has no accepted close of hub {hub_id}'s epoch {epoch}")]
    NotSettled {
        /// Hub.
        hub_id: HubId,
        /// Epoch.
        epoch: Epoch,
    },
    /// A root in the file is not the one the settlement layer stored.
    #[error("epoch {epoch}: the proof's root {file} is not the settled root {settled}")]
    RootMismatch {
        /// Epoch.
        epoch: Epoch,
        /// Root in the file (decimal).
        file: String,
        /// Root on the settlement layer (decimal).
        settled: String,
    },
    /// The proof file is malformed (magic, lengths, field elements, tags).
    #[error("malformed range proof file: {0}")]
    Malformed(String),
    /// A proof file of another format version.
    #[error("range proof file version {0} is not supported (this build reads version {v})", v = file::VERSION)]
    UnsupportedVersion(u16),
    /// The proof names another verifier key (another build of the circuit).
    #[error("the proof was made with verifier key {proof}, this build's is {ours}")]
    KeyMismatch {
        /// Digest in the file (hex, first 8 bytes).
        proof: String,
        /// This build's digest (hex, first 8 bytes).
        ours: String,
    },
    /// Spartan2 failed to set up or prove.
    #[error("prover: {0}")]
    Prover(String),
    /// The proof does not verify.
    #[error("range proof does not verify: {0}")]
    Invalid(String),
    /// The proof verifies, but for other public inputs than the file states.
    #[error("the range proof is for other public inputs than the file states")]
    PublicInputsMismatch,
}

fn leaf_values(o: &BalanceOpening) -> Result<(LeafValues, StatePath), RangeError> {
    let state = o.state.as_ref().ok_or(RangeError::FullClose(o.epoch))?;
    Ok((
        LeafValues {
            deposit: net_deposit_fe(state.net_deposit),
            balance: o.balance,
            spent: o.spent,
            received: o.received,
            blind: o.blind,
        },
        state.path.clone(),
    ))
}

/// The path of the empty leaf at `position` in the empty tree (what the previous
/// leaf of every channel is at epoch 1).
pub fn empty_tree_path(position: ChannelId) -> StatePath {
    StatePath {
        position,
        siblings: std::array::from_fn(|h| [state_tree::zero(h); 3]),
    }
}

impl RangeWitness {
    /// The witness from a disclosure the channel owner holds: the epoch's opening, and
    /// the epoch before's if the file carries it. Without it, only epoch 1 works (the
    /// tree before is the empty tree); a channel opened during a later epoch needs the
    /// path of its empty leaf in the tree before ([`RangeWitness::new`] with
    /// [`PreviousLeaf::Empty`]), which disclosures do not carry.
    ///
    /// Returns the witness and the roots `(root, prev_root)` the file states.
    pub fn from_disclosure(d: &Disclosure) -> Result<(RangeWitness, Fe, Fe), RangeError> {
        let current = &d.epoch;
        if current.record.kind != CloseKind::Incremental {
            return Err(RangeError::FullClose(current.record.epoch));
        }
        let epoch = current.record.epoch;
        let (previous, prev_root) = match &d.previous {
            Some(p) => {
                if p.record.kind != CloseKind::Incremental {
                    return Err(RangeError::FullClose(p.record.epoch));
                }
                if p.record.epoch.checked_add(1) != Some(epoch)
                    || p.record.hub_id != current.record.hub_id
                    || p.opening.channel != d.channel
                {
                    return Err(RangeError::Witness(
                        "the disclosure's epoch before is not the same hub's and channel's previous epoch"
                            .into(),
                    ));
                }
                if p.opening.pk != current.opening.pk {
                    return Err(RangeError::Witness(
                        "the channel's key differs between the two epochs".into(),
                    ));
                }
                let (values, path) = leaf_values(&p.opening)?;
                (PreviousLeaf::Opened(values, path), p.record.root)
            }
            None if epoch == 1 => (
                PreviousLeaf::Empty(empty_tree_path(d.channel)),
                state_tree::empty_root(),
            ),
            None => {
                return Err(RangeError::Witness(format!(
                    "the disclosure does not carry epoch {}: ask for it with the epoch before \
                     (a channel opened during epoch {epoch} has no leaf there, and its empty \
                     leaf's path is not in a disclosure)",
                    epoch - 1
                )));
            }
        };
        let witness = RangeWitness::new(&current.opening, previous)?;
        Ok((witness, current.record.root, prev_root))
    }

    /// The witness from the epoch's opening and the leaf before.
    pub fn new(current: &BalanceOpening, previous: PreviousLeaf) -> Result<Self, RangeError> {
        Ok(RangeWitness {
            channel: current.channel,
            key: (current.pk.0.x, current.pk.0.y),
            current: leaf_values(current)?,
            previous,
        })
    }

    /// The state leaf of `values` for this channel and key.
    pub fn leaf(&self, values: &LeafValues) -> Fe {
        let commitment =
            channel::statement::balance_commitment(values.spent, values.received, &values.blind);
        channel::crypto::poseidon(&[
            Fe::from(self.channel),
            self.key.0,
            self.key.1,
            values.deposit,
            Fe::from(values.balance),
            commitment,
        ])
    }

    /// The previous leaf's values (zero for a fresh channel) and path.
    pub fn previous_values(&self) -> (LeafValues, &StatePath, bool) {
        match &self.previous {
            PreviousLeaf::Opened(v, p) => (*v, p, false),
            PreviousLeaf::Empty(p) => (
                LeafValues {
                    deposit: Fe::from(0u64),
                    balance: 0,
                    spent: 0,
                    received: 0,
                    blind: Fe::from(0u64),
                },
                p,
                true,
            ),
        }
    }

    /// The amount of `counter` in the epoch, if the counters do not go down.
    pub fn amount(&self, counter: Counter) -> Option<Amount> {
        let (before, ..) = self.previous_values();
        let now = &self.current.0;
        match counter {
            Counter::Received => now.received.checked_sub(before.received),
            Counter::Spent => now.spent.checked_sub(before.spent),
        }
    }

    /// Check natively that the witness proves `statement` (what the circuit enforces),
    /// with a typed error for what does not hold.
    pub fn check(&self, s: &RangeStatement) -> Result<(), RangeError> {
        if s.min > s.max {
            return Err(RangeError::EmptyRange {
                min: s.min,
                max: s.max,
            });
        }
        if self.channel != s.channel {
            return Err(RangeError::Witness(format!(
                "the witness is channel {}'s, the statement names {}",
                self.channel, s.channel
            )));
        }
        let (values, path) = &self.current;
        if path.position != s.channel || !path.verify(&s.root, &self.leaf(values)) {
            return Err(RangeError::NotInTree {
                epoch: s.epoch,
                channel: s.channel,
            });
        }
        let (before, prev_path, fresh) = self.previous_values();
        let prev_leaf = if fresh {
            Fe::from(0u64)
        } else {
            self.leaf(&before)
        };
        if prev_path.position != s.channel || !prev_path.verify(&s.prev_root, &prev_leaf) {
            return Err(RangeError::NotInTree {
                epoch: s.epoch.saturating_sub(1),
                channel: s.channel,
            });
        }
        match self.amount(s.counter) {
            Some(a) if (s.min..=s.max).contains(&a) => Ok(()),
            _ => Err(RangeError::FalseRange {
                counter: s.counter,
                epoch: s.epoch,
                min: s.min,
                max: s.max,
            }),
        }
    }
}

/// The roots `(root, prev_root)` the settlement layer stored for `hub_id`'s `epoch`
/// and the epoch before (the empty tree's before epoch 1); both closes must be
/// incremental where the source records the kind.
pub fn settled_roots(
    settled: &dyn SettledRoots,
    hub_id: HubId,
    epoch: Epoch,
) -> Result<(Fe, Fe), RangeError> {
    let lookup = |epoch: Epoch| {
        let r = settled
            .settled(hub_id, epoch)
            .ok_or(RangeError::NotSettled { hub_id, epoch })?;
        if r.kind == Some(CloseKind::Full) {
            return Err(RangeError::FullClose(epoch));
        }
        Ok(r.root)
    };
    let root = lookup(epoch)?;
    let prev_root = match epoch {
        0 => return Err(RangeError::NotSettled { hub_id, epoch }),
        1 => state_tree::empty_root(),
        _ => lookup(epoch - 1)?,
    };
    Ok((root, prev_root))
}

/// What a verified range proof proves (never the amount).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RangeReport {
    /// Hub.
    pub hub_id: HubId,
    /// Channel.
    pub channel: ChannelId,
    /// Epoch.
    pub epoch: Epoch,
    /// Received or spent.
    pub counter: Counter,
    /// Lower bound (inclusive).
    pub min: Amount,
    /// Upper bound (inclusive).
    pub max: Amount,
    /// The state root of `epoch` (decimal in JSON).
    #[serde(with = "channel::field::dec")]
    pub root: Fe,
    /// Whether the roots were compared with the settlement layer's.
    pub anchored: bool,
}

impl std::fmt::Display for RangeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bound = match (self.min, self.max) {
            (0, Amount::MAX) => "any amount (no bound)".to_string(),
            (0, max) => format!("at most {max}"),
            (min, Amount::MAX) => format!("at least {min}"),
            (min, max) if min == max => format!("exactly {min}"),
            (min, max) => format!("between {min} and {max} (inclusive)"),
        };
        writeln!(
            f,
            "channel {} of hub {} {} {bound} in epoch {}",
            self.channel,
            self.hub_id,
            self.counter.name(),
            self.epoch
        )?;
        writeln!(
            f,
            "  (since the close of epoch {}; the amount itself is not revealed)",
            self.epoch.saturating_sub(1)
        )?;
        writeln!(
            f,
            "  root           {} (incremental close, state root)",
            fe_to_dec(&self.root)
        )?;
        if self.anchored {
            writeln!(
                f,
                "  anchored       yes: the settlement layer stored both roots"
            )
        } else {
            writeln!(
                f,
                "  anchored       NO: compare the roots with the ones the settlement layer stored"
            )
        }
    }
}
