//! Binary Poseidon Merkle trees over a power-of-two number of leaves, with inclusion proofs.
//!
//! The trees behind the close statement's `deposits_root` and `balances_root`
//! (docs/DESIGN.md §8) and behind the balance openings that channels check and that the
//! settlement layer verifies at withdrawal (docs/DESIGN.md §7).
//!
//! Shape:
//! - `n` leaves are padded with the leaf value `0` up to `N` slots, `N` a power of two.
//!   [`capacity`] gives the smallest `N` for `n` leaves (`N >= max(n, 1)`); callers that
//!   need a larger tree (the close statement always has at least two slots, see
//!   `statement::slot_count`) pass their size to [`MerkleTree::with_size`].
//! - A parent is `Poseidon(left, right)` (circomlib Poseidon, arity 2). A tree of one
//!   slot has depth 0 and its root is the leaf itself.
//! - Leaf `i`'s path goes up by the bits of `i`, least significant first: at level `k`,
//!   bit `k` of `i` is 0 when the node is a left child.
//!
//! Building keeps every level (`2N − 1` field elements: 64 MiB at `N = 2^20`) and costs
//! at most `N − 1` hashes. Subtrees made only of padding equal the precomputed
//! all-zero subtree of their height and are never hashed, so a tree with `n` real leaves
//! costs about `n` hashes whatever its padding. Large levels are hashed on all cores
//! (`std::thread::scope`; the result does not depend on the split).

use once_cell::sync::Lazy;
use serde::{Deserialize, Serialize};

use crate::crypto::poseidon;
use crate::field::Fe;

/// The deepest tree supported: `2^32` slots, more than `ChannelId` can number.
pub const MAX_DEPTH: usize = 32;

/// Levels with at least this many parents are hashed on several threads.
const PARALLEL_MIN_PARENTS: usize = 1 << 13;

/// Why a tree could not be built or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The requested size is not a power of two (or is zero).
    #[error("tree size {0} is not a power of two")]
    SizeNotPowerOfTwo(usize),
    /// More leaves than slots.
    #[error("{leaves} leaves do not fit in a tree of {size} slots")]
    TooManyLeaves {
        /// Leaves given.
        leaves: usize,
        /// Slots in the tree.
        size: usize,
    },
    /// The tree would be deeper than [`MAX_DEPTH`].
    #[error("tree deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A leaf index outside the tree.
    #[error("leaf index {index} outside a tree of {size} slots")]
    IndexOutOfRange {
        /// Index asked for.
        index: usize,
        /// Slots in the tree.
        size: usize,
    },
}

/// `Poseidon(left, right)`: the parent of two nodes.
pub fn hash_pair(left: &Fe, right: &Fe) -> Fe {
    poseidon(&[*left, *right])
}

/// The smallest power of two `>= max(n, 1)`: how many slots `n` leaves need.
pub fn capacity(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// Roots of all-padding subtrees: `ZERO_ROOTS[k]` is the root of `2^k` zero leaves.
static ZERO_ROOTS: Lazy<Vec<Fe>> = Lazy::new(|| {
    let mut z = Vec::with_capacity(MAX_DEPTH + 1);
    z.push(Fe::from(0u64));
    for k in 0..MAX_DEPTH {
        let next = hash_pair(&z[k], &z[k]);
        z.push(next);
    }
    z
});

/// The root of a subtree of height `height` whose leaves are all padding (0).
pub fn zero_root(height: usize) -> Fe {
    assert!(height <= MAX_DEPTH, "height within MAX_DEPTH");
    ZERO_ROOTS[height]
}

/// A binary Poseidon Merkle tree with every level kept, for proofs and updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    /// `levels[0]` are the `N` slots (leaves, then padding), `levels[depth] = [root]`.
    levels: Vec<Vec<Fe>>,
}

impl MerkleTree {
    /// A tree over `leaves`, padded with 0 to [`capacity`]`(leaves.len())` slots.
    pub fn new(leaves: Vec<Fe>) -> Result<Self, MerkleError> {
        let size = capacity(leaves.len());
        Self::with_size(leaves, size)
    }

    /// A tree of exactly `size` slots (a power of two): `leaves`, then 0s.
    pub fn with_size(mut leaves: Vec<Fe>, size: usize) -> Result<Self, MerkleError> {
        let depth = depth_of(size)?;
        if leaves.len() > size {
            return Err(MerkleError::TooManyLeaves {
                leaves: leaves.len(),
                size,
            });
        }
        let mut real = leaves.len();
        leaves.resize(size, Fe::from(0u64));
        let mut levels = Vec::with_capacity(depth + 1);
        levels.push(leaves);
        for height in 0..depth {
            let below = &levels[height];
            let parents = below.len() / 2;
            // Parents whose children are both all-padding subtrees.
            let real_parents = real.div_ceil(2);
            let mut level = vec![zero_root(height + 1); parents];
            hash_level(&below[..2 * real_parents], &mut level[..real_parents]);
            real = real_parents;
            levels.push(level);
        }
        debug_assert_eq!(levels.last().map(Vec::len), Some(1));
        Ok(MerkleTree { levels })
    }

    /// The root.
    pub fn root(&self) -> Fe {
        self.levels[self.depth()][0]
    }

    /// Number of levels above the leaves (`log2 N`).
    pub fn depth(&self) -> usize {
        self.levels.len() - 1
    }

    /// Number of slots `N`.
    pub fn size(&self) -> usize {
        self.levels[0].len()
    }

    /// Slot `index` (a leaf or padding), if inside the tree.
    pub fn leaf(&self, index: usize) -> Option<Fe> {
        self.levels[0].get(index).copied()
    }

    /// The inclusion proof of slot `index`.
    pub fn proof(&self, index: usize) -> Result<MerkleProof, MerkleError> {
        self.check_index(index)?;
        let siblings = (0..self.depth())
            .map(|height| self.levels[height][(index >> height) ^ 1])
            .collect();
        Ok(MerkleProof {
            index: index as u64,
            siblings,
        })
    }

    /// Replace slot `index` and rehash its path (`depth` hashes).
    pub fn set_leaf(&mut self, index: usize, leaf: Fe) -> Result<(), MerkleError> {
        self.check_index(index)?;
        self.levels[0][index] = leaf;
        let mut i = index;
        for height in 0..self.depth() {
            let left = self.levels[height][i & !1];
            let right = self.levels[height][i | 1];
            i >>= 1;
            self.levels[height + 1][i] = hash_pair(&left, &right);
        }
        Ok(())
    }

    fn check_index(&self, index: usize) -> Result<(), MerkleError> {
        if index >= self.size() {
            return Err(MerkleError::IndexOutOfRange {
                index,
                size: self.size(),
            });
        }
        Ok(())
    }
}

/// The root of `leaves` padded with 0 to `size` slots, without keeping the levels
/// (memory: one level).
pub fn root_with_size(leaves: &[Fe], size: usize) -> Result<Fe, MerkleError> {
    let depth = depth_of(size)?;
    if leaves.len() > size {
        return Err(MerkleError::TooManyLeaves {
            leaves: leaves.len(),
            size,
        });
    }
    let mut level = leaves.to_vec();
    for height in 0..depth {
        if level.len() % 2 == 1 {
            level.push(zero_root(height));
        }
        let mut parents = vec![Fe::from(0u64); level.len() / 2];
        hash_level(&level, &mut parents);
        level = parents;
    }
    Ok(level.first().copied().unwrap_or_else(|| zero_root(depth)))
}

/// `log2(size)`, checking that `size` is a power of two within [`MAX_DEPTH`].
fn depth_of(size: usize) -> Result<usize, MerkleError> {
    if !size.is_power_of_two() {
        return Err(MerkleError::SizeNotPowerOfTwo(size));
    }
    let depth = size.trailing_zeros() as usize;
    if depth > MAX_DEPTH {
        return Err(MerkleError::TooDeep);
    }
    Ok(depth)
}

/// `parents[i] = hash_pair(children[2i], children[2i+1])`, on all cores when large.
fn hash_level(children: &[Fe], parents: &mut [Fe]) {
    assert_eq!(children.len(), 2 * parents.len(), "two children per parent");
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 || parents.len() < PARALLEL_MIN_PARENTS {
        hash_chunk(children, parents);
        return;
    }
    let per_thread = parents.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for (out, input) in parents
            .chunks_mut(per_thread)
            .zip(children.chunks(2 * per_thread))
        {
            scope.spawn(move || hash_chunk(input, out));
        }
    });
}

fn hash_chunk(children: &[Fe], parents: &mut [Fe]) {
    for (parent, pair) in parents.iter_mut().zip(children.chunks_exact(2)) {
        *parent = hash_pair(&pair[0], &pair[1]);
    }
}

/// An inclusion proof: the slot index and its siblings from the leaf level up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleProof {
    /// Slot index of the leaf; its bits choose left/right on the way up.
    pub index: u64,
    /// One sibling per level, leaf level first (decimal strings in JSON).
    #[serde(with = "crate::field::dec_vec")]
    pub siblings: Vec<Fe>,
}

impl MerkleProof {
    /// The root that `leaf` at this proof's position hashes to, or `None` if the
    /// proof is malformed (deeper than [`MAX_DEPTH`], or an index outside the tree).
    pub fn compute_root(&self, leaf: &Fe) -> Option<Fe> {
        let depth = self.siblings.len();
        if depth > MAX_DEPTH || self.index >> depth != 0 {
            return None;
        }
        let mut node = *leaf;
        for (height, sibling) in self.siblings.iter().enumerate() {
            node = if (self.index >> height) & 1 == 0 {
                hash_pair(&node, sibling)
            } else {
                hash_pair(sibling, &node)
            };
        }
        Some(node)
    }

    /// Number of levels the proof climbs.
    pub fn depth(&self) -> usize {
        self.siblings.len()
    }
}

/// Whether `proof` shows `leaf` under `root`.
pub fn verify(root: &Fe, leaf: &Fe, proof: &MerkleProof) -> bool {
    proof.compute_root(leaf).is_some_and(|r| r == *root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Fe> {
        (1..=n).map(|i| Fe::from(i * 1_000_003)).collect()
    }

    /// The textbook definition: hash every pair, level by level, padding included.
    fn naive_root(mut level: Vec<Fe>, size: usize) -> Fe {
        level.resize(size, Fe::from(0u64));
        while level.len() > 1 {
            level = level.chunks(2).map(|p| hash_pair(&p[0], &p[1])).collect();
        }
        level[0]
    }

    #[test]
    fn capacity_is_next_power_of_two_at_least_one() {
        assert_eq!(capacity(0), 1);
        assert_eq!(capacity(1), 1);
        assert_eq!(capacity(2), 2);
        assert_eq!(capacity(3), 4);
        assert_eq!(capacity(1024), 1024);
        assert_eq!(capacity(1025), 2048);
    }

    #[test]
    fn root_matches_naive_definition_for_every_small_size() {
        for n in 0..=17u64 {
            let l = leaves(n);
            let size = capacity(l.len());
            let tree = MerkleTree::new(l.clone()).unwrap();
            assert_eq!(tree.size(), size);
            assert_eq!(tree.root(), naive_root(l.clone(), size), "n = {n}");
            assert_eq!(root_with_size(&l, size).unwrap(), tree.root(), "n = {n}");
            // A bigger tree over the same leaves has a different root.
            let big = MerkleTree::with_size(l.clone(), 2 * size).unwrap();
            assert_eq!(big.root(), naive_root(l, 2 * size));
            assert_ne!(big.root(), tree.root());
        }
    }

    #[test]
    fn single_slot_tree_root_is_the_leaf() {
        let t = MerkleTree::new(vec![Fe::from(42u64)]).unwrap();
        assert_eq!(t.depth(), 0);
        assert_eq!(t.root(), Fe::from(42u64));
        let p = t.proof(0).unwrap();
        assert!(p.siblings.is_empty());
        assert!(verify(&t.root(), &Fe::from(42u64), &p));
        assert_eq!(MerkleTree::new(vec![]).unwrap().root(), Fe::from(0u64));
    }

    #[test]
    fn two_leaves_root_is_poseidon_of_both() {
        let (a, b) = (Fe::from(1u64), Fe::from(2u64));
        let t = MerkleTree::new(vec![a, b]).unwrap();
        assert_eq!(t.root(), poseidon(&[a, b]));
    }

    #[test]
    fn every_proof_verifies_and_binds_leaf_and_position() {
        let l = leaves(13);
        let tree = MerkleTree::new(l.clone()).unwrap();
        let root = tree.root();
        for i in 0..tree.size() {
            let leaf = tree.leaf(i).unwrap();
            let p = tree.proof(i).unwrap();
            assert_eq!(p.depth(), 4);
            assert!(verify(&root, &leaf, &p), "slot {i}");
            // Wrong leaf.
            assert!(!verify(&root, &(leaf + Fe::from(1u64)), &p));
            // Same siblings, other position.
            let mut moved = p.clone();
            moved.index ^= 1;
            assert!(!verify(&root, &leaf, &moved) || leaf == tree.leaf(i ^ 1).unwrap());
            // Tampered sibling.
            let mut bad = p.clone();
            bad.siblings[2] += Fe::from(1u64);
            assert!(!verify(&root, &leaf, &bad));
            // Truncated proof.
            let mut short = p.clone();
            short.siblings.pop();
            short.index &= 0b111;
            assert!(!verify(&root, &leaf, &short));
        }
        // Index outside the tree the proof describes.
        let mut p = tree.proof(3).unwrap();
        p.index += 16;
        assert_eq!(p.compute_root(&l[3]), None);
        assert!(tree.proof(16).is_err());
    }

    #[test]
    fn set_leaf_equals_rebuild() {
        let mut l = leaves(9);
        let mut tree = MerkleTree::new(l.clone()).unwrap();
        for (i, v) in [(0usize, 7u64), (8, 9), (12, 5), (3, 0)] {
            tree.set_leaf(i, Fe::from(v)).unwrap();
            if i >= l.len() {
                l.resize(i + 1, Fe::from(0u64));
            }
            l[i] = Fe::from(v);
            assert_eq!(
                tree.root(),
                MerkleTree::with_size(l.clone(), 16).unwrap().root()
            );
        }
        assert!(tree.set_leaf(16, Fe::from(1u64)).is_err());
    }

    #[test]
    fn parallel_levels_match_sequential() {
        // Large enough that the first levels are hashed on several threads.
        let n = 2 * PARALLEL_MIN_PARENTS + 3;
        let l = leaves(n as u64);
        let size = capacity(n);
        let tree = MerkleTree::new(l.clone()).unwrap();
        let mut seq = l;
        seq.resize(size, Fe::from(0u64));
        while seq.len() > 1 {
            let mut next = vec![Fe::from(0u64); seq.len() / 2];
            hash_chunk(&seq, &mut next);
            seq = next;
        }
        assert_eq!(tree.root(), seq[0]);
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert_eq!(
            MerkleTree::with_size(vec![], 3),
            Err(MerkleError::SizeNotPowerOfTwo(3))
        );
        assert_eq!(
            MerkleTree::with_size(vec![], 0),
            Err(MerkleError::SizeNotPowerOfTwo(0))
        );
        assert!(matches!(
            MerkleTree::with_size(leaves(5), 4),
            Err(MerkleError::TooManyLeaves { leaves: 5, size: 4 })
        ));
    }

    #[test]
    fn proof_json_uses_decimal_strings() {
        let tree = MerkleTree::new(leaves(4)).unwrap();
        let p = tree.proof(2).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.starts_with("{\"index\":2,\"siblings\":[\""), "{json}");
        let back: MerkleProof = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }
}
