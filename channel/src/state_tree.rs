//! The state tree of the incremental close (docs/DESIGN.md §8.2): a sparse 4-ary Poseidon
//! Merkle tree of depth [`DEPTH`] whose leaf at position `id` is channel `id`'s state leaf
//! (`crate::incremental::state_leaf`), or 0 where there is no channel.
//!
//! - A node is `Poseidon(c0, c1, c2, c3)` of its four children, in order.
//! - The empty leaf is 0; an empty subtree of height `h` is [`zero`]`(h)`, with
//!   `zero(h + 1) = Poseidon(zero(h) × 4)`.
//! - The child index of the path at level `h` (0 = leaves) is the digit
//!   `(position >> 2h) & 3`; a [`StatePath`] gives per level the three siblings in
//!   increasing child index.
//!
//! Sparse by construction: each level stores nodes up to the highest non-empty index
//! (ids are assigned densely from 1, so this is compact) and reads [`zero`] beyond.
//! The circuit's twin is `closer::gadgets::state_path`.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::crypto::poseidon;
use crate::field::Fe;

/// Children per node.
pub const ARITY: usize = 4;
/// Levels above the leaves.
pub const DEPTH: usize = 10;
/// Positions: `4^DEPTH = 2^20`.
pub const CAPACITY: u64 = 1 << (2 * DEPTH);

/// Why a tree operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateTreeError {
    /// A position beyond the tree.
    #[error("position {0} is beyond the state tree's {CAPACITY} positions")]
    Position(u64),
    /// Leaves given out of order to a bulk build.
    #[error("leaf positions must be strictly increasing ({previous} then {position})")]
    Order {
        /// The position before.
        previous: u32,
        /// The offending position.
        position: u32,
    },
}

static ZEROS: LazyLock<[Fe; DEPTH + 1]> = LazyLock::new(|| {
    let mut zeros = [Fe::from(0u64); DEPTH + 1];
    for h in 1..=DEPTH {
        zeros[h] = poseidon(&[zeros[h - 1]; ARITY]);
    }
    zeros
});

/// The root of an empty subtree of height `h` (`h ≤ DEPTH`).
pub fn zero(h: usize) -> Fe {
    ZEROS[h]
}

/// The root of the empty tree.
pub fn empty_root() -> Fe {
    ZEROS[DEPTH]
}

fn digit(position: u32, h: usize) -> usize {
    ((position >> (2 * h)) & 3) as usize
}

/// The path of one position: the three siblings at each level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatePath {
    /// The position (a channel id).
    pub position: u32,
    /// `siblings[h]`: the other three children at level `h`, in increasing child index.
    #[serde(with = "siblings_dec")]
    pub siblings: [[Fe; 3]; DEPTH],
}

impl StatePath {
    /// The root above `leaf` at this path's position.
    pub fn root(&self, leaf: &Fe) -> Fe {
        let mut node = *leaf;
        for (h, s) in self.siblings.iter().enumerate() {
            let d = digit(self.position, h);
            let mut children = [Fe::from(0u64); ARITY];
            let mut others = s.iter();
            for (k, child) in children.iter_mut().enumerate() {
                *child = if k == d {
                    node
                } else {
                    *others.next().expect("three siblings")
                };
            }
            node = poseidon(&children);
        }
        node
    }

    /// Whether `leaf` at this position gives `root`.
    pub fn verify(&self, root: &Fe, leaf: &Fe) -> bool {
        u64::from(self.position) < CAPACITY && self.root(leaf) == *root
    }
}

/// The sparse tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateTree {
    /// `levels[h][i]`: node `i` of level `h` (0 = leaves), for `i` below the level's
    /// length; every node beyond is [`zero`]`(h)`. `levels[DEPTH]` is the root.
    levels: Vec<Vec<Fe>>,
    /// Non-empty leaves.
    occupied: usize,
}

impl Default for StateTree {
    fn default() -> Self {
        StateTree::new()
    }
}

impl StateTree {
    /// The empty tree.
    pub fn new() -> Self {
        let mut levels = vec![Vec::new(); DEPTH + 1];
        levels[DEPTH] = vec![empty_root()];
        StateTree {
            levels,
            occupied: 0,
        }
    }

    /// Build from `(position, leaf)` pairs in strictly increasing position order,
    /// hashing every stored node once.
    pub fn from_leaves(
        leaves: impl IntoIterator<Item = (u32, Fe)>,
    ) -> Result<StateTree, StateTreeError> {
        let mut level: Vec<Fe> = Vec::new();
        let mut previous: Option<u32> = None;
        let mut occupied = 0;
        for (position, leaf) in leaves {
            check(position)?;
            if let Some(previous) = previous
                && position <= previous
            {
                return Err(StateTreeError::Order { previous, position });
            }
            previous = Some(position);
            level.resize(position as usize, zero(0));
            level.push(leaf);
            occupied += usize::from(leaf != zero(0));
        }
        let mut levels = Vec::with_capacity(DEPTH + 1);
        for h in 0..DEPTH {
            let parents = level
                .chunks(ARITY)
                .map(|c| {
                    let mut children = [zero(h); ARITY];
                    children[..c.len()].copy_from_slice(c);
                    poseidon(&children)
                })
                .collect();
            levels.push(std::mem::replace(&mut level, parents));
        }
        if level.is_empty() {
            level.push(empty_root());
        }
        levels.push(level);
        Ok(StateTree { levels, occupied })
    }

    /// The root.
    pub fn root(&self) -> Fe {
        self.levels[DEPTH][0]
    }

    /// Non-empty leaves.
    pub fn len(&self) -> usize {
        self.occupied
    }

    /// Whether every leaf is empty.
    pub fn is_empty(&self) -> bool {
        self.occupied == 0
    }

    fn node(&self, h: usize, i: usize) -> Fe {
        self.levels[h].get(i).copied().unwrap_or(zero(h))
    }

    /// The leaf at `position` (0 if empty).
    pub fn leaf(&self, position: u32) -> Result<Fe, StateTreeError> {
        check(position)?;
        Ok(self.node(0, position as usize))
    }

    /// The path of `position`.
    pub fn path(&self, position: u32) -> Result<StatePath, StateTreeError> {
        check(position)?;
        let mut siblings = [[Fe::from(0u64); 3]; DEPTH];
        let mut index = position as usize;
        for (h, s) in siblings.iter_mut().enumerate() {
            let first = index - index % ARITY;
            let mut others = (first..first + ARITY).filter(|&i| i != index);
            for sibling in s.iter_mut() {
                *sibling = self.node(h, others.next().expect("three others"));
            }
            index /= ARITY;
        }
        Ok(StatePath { position, siblings })
    }

    /// Set the leaf at `position` (`DEPTH` hashes).
    pub fn set(&mut self, position: u32, leaf: Fe) -> Result<(), StateTreeError> {
        check(position)?;
        let mut index = position as usize;
        let before = self.node(0, index);
        self.occupied =
            self.occupied + usize::from(leaf != zero(0)) - usize::from(before != zero(0));
        let mut value = leaf;
        for h in 0..DEPTH {
            let level = &mut self.levels[h];
            if index >= level.len() {
                if value == zero(h) {
                    // Setting an empty position beyond the stored nodes to empty.
                    debug_assert!(before == zero(0));
                    return Ok(());
                }
                level.resize(index + 1, zero(h));
            }
            level[index] = value;
            let first = index - index % ARITY;
            let mut children = [zero(h); ARITY];
            for (k, child) in children.iter_mut().enumerate() {
                *child = self.node(h, first + k);
            }
            value = poseidon(&children);
            index /= ARITY;
        }
        self.levels[DEPTH][0] = value;
        Ok(())
    }
}

fn check(position: u32) -> Result<(), StateTreeError> {
    if u64::from(position) >= CAPACITY {
        return Err(StateTreeError::Position(u64::from(position)));
    }
    Ok(())
}

/// Siblings as decimal strings in JSON.
mod siblings_dec {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::DEPTH;
    use crate::field::{Fe, fe_from_dec, fe_to_dec};

    pub fn serialize<S: Serializer>(v: &[[Fe; 3]; DEPTH], s: S) -> Result<S::Ok, S::Error> {
        let strings: Vec<[String; 3]> = v.iter().map(|t| t.map(|x| fe_to_dec(&x))).collect();
        strings.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[[Fe; 3]; DEPTH], D::Error> {
        let strings: Vec<[String; 3]> = Vec::deserialize(d)?;
        if strings.len() != DEPTH {
            return Err(serde::de::Error::custom(format!(
                "a state path has {DEPTH} levels, not {}",
                strings.len()
            )));
        }
        let mut out = [[Fe::from(0u64); 3]; DEPTH];
        for (level, s) in out.iter_mut().zip(&strings) {
            for (x, s) in level.iter_mut().zip(s) {
                *x = fe_from_dec(s).map_err(serde::de::Error::custom)?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A dense recursive build over all `4^DEPTH` positions would take minutes; this
    /// one recurses only into subtrees holding a leaf.
    fn naive_root(leaves: &[(u32, Fe)]) -> Fe {
        fn go(leaves: &[(u32, Fe)], h: usize, index: u64) -> Fe {
            let span = 1u64 << (2 * h);
            let inside: Vec<_> = leaves
                .iter()
                .filter(|(p, _)| u64::from(*p) / span == index)
                .copied()
                .collect();
            if inside.is_empty() {
                return zero(h);
            }
            if h == 0 {
                return inside[0].1;
            }
            let children: Vec<Fe> = (0..4).map(|k| go(&inside, h - 1, index * 4 + k)).collect();
            poseidon(&children)
        }
        go(leaves, DEPTH, 0)
    }

    fn sample() -> Vec<(u32, Fe)> {
        [1u32, 2, 3, 4, 7, 16, 17, 1000, 70_000, (1 << 20) - 1]
            .iter()
            .map(|&p| (p, Fe::from(u64::from(p) * 31 + 5)))
            .collect()
    }

    #[test]
    fn roots_match_a_naive_build() {
        assert_eq!(StateTree::new().root(), empty_root());
        assert_eq!(naive_root(&[]), empty_root());
        let leaves = sample();
        let tree = StateTree::from_leaves(leaves.clone()).unwrap();
        assert_eq!(tree.root(), naive_root(&leaves));
        assert_eq!(tree.len(), leaves.len());
        let mut one_by_one = StateTree::new();
        for (p, l) in &leaves {
            one_by_one.set(*p, *l).unwrap();
        }
        assert_eq!(one_by_one.root(), tree.root());
    }

    #[test]
    fn paths_verify_where_they_belong_and_nowhere_else() {
        let leaves = sample();
        let tree = StateTree::from_leaves(leaves.clone()).unwrap();
        for (p, leaf) in &leaves {
            let path = tree.path(*p).unwrap();
            assert!(path.verify(&tree.root(), leaf), "position {p}");
            assert!(!path.verify(&tree.root(), &(*leaf + Fe::from(1u64))));
            let moved = StatePath {
                position: p ^ 1,
                ..path.clone()
            };
            assert!(!moved.verify(&tree.root(), leaf), "moved from {p}");
        }
        for empty in [0u32, 5, 999, 123_456] {
            let path = tree.path(empty).unwrap();
            assert!(path.verify(&tree.root(), &Fe::from(0u64)), "empty {empty}");
        }
    }

    #[test]
    fn setting_twice_and_clearing() {
        let mut tree = StateTree::new();
        tree.set(9, Fe::from(1u64)).unwrap();
        tree.set(9, Fe::from(2u64)).unwrap();
        assert_eq!(tree.root(), naive_root(&[(9, Fe::from(2u64))]));
        tree.set(9, Fe::from(0u64)).unwrap();
        assert_eq!(tree.root(), empty_root());
        assert!(tree.is_empty());
        tree.set(500_000, Fe::from(0u64)).unwrap();
        assert_eq!(tree.root(), empty_root());
    }

    #[test]
    fn bad_positions_and_orders_are_errors() {
        let mut tree = StateTree::new();
        assert_eq!(
            tree.set(1 << 20, Fe::from(1u64)),
            Err(StateTreeError::Position(1 << 20))
        );
        assert!(tree.path(u32::MAX).is_err());
        assert!(matches!(
            StateTree::from_leaves([(5, Fe::from(1u64)), (5, Fe::from(2u64))]),
            Err(StateTreeError::Order { .. })
        ));
    }

    #[test]
    fn a_path_round_trips_through_json() {
        let tree = StateTree::from_leaves(sample()).unwrap();
        let path = tree.path(17).unwrap();
        let json = serde_json::to_string(&path).unwrap();
        assert_eq!(serde_json::from_str::<StatePath>(&json).unwrap(), path);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn updates_in_any_order_give_the_bulk_root(
            positions in proptest::collection::btree_set(0u32..5000, 1..20),
        ) {
            let leaves: Vec<(u32, Fe)> =
                positions.iter().map(|&p| (p, Fe::from(u64::from(p) + 1))).collect();
            let bulk = StateTree::from_leaves(leaves.clone()).unwrap();
            let mut reversed = StateTree::new();
            for (p, l) in leaves.iter().rev() {
                let before = reversed.root();
                let path = reversed.path(*p).unwrap();
                prop_assert!(path.verify(&before, &Fe::from(0u64)));
                reversed.set(*p, *l).unwrap();
                prop_assert!(path.verify(&reversed.root(), l));
            }
            prop_assert_eq!(reversed.root(), bulk.root());
        }
    }
}
