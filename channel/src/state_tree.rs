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
//!
//! Work is batched: [`StateTree::from_leaves`] and [`StateTree::set_many`] hash every
//! changed node once, level by level (on all cores for large levels), and a node whose
//! four children are empty is [`zero`] without a hash. [`chained_path`] reads the paths
//! of a batch of updates applied one by one in position order from the trees before
//! and after the batch, without hashing.
//!
//! Persistence ([`StateTree::write_to`], [`StateTree::read_from`]): the tree is saved,
//! not rebuilt, so a hub of 2^20 channels restarts without 349,525 hashes. The file
//! format (all integers little-endian, field elements 32 big-endian bytes, canonical):
//!
//! ```text
//! magic     8 bytes  "zkhubST\0"
//! version   u32      1
//! positions u64      stored leaf slots (highest stored position + 1), ≤ CAPACITY
//! occupied  u64      non-empty leaves, ≤ positions
//! digest    32 bytes BLAKE3(version ‖ positions ‖ occupied ‖ body)
//! body      levels 0..=DEPTH, level h holding len(h) nodes: len(0) = positions,
//!           len(h + 1) = ⌈len(h) / 4⌉ below the root, len(DEPTH) = 1 (the root)
//! ```
//!
//! Every length follows from `positions`, which is checked against [`CAPACITY`] (and
//! the caller's [`ReadLimits`]) before anything is allocated; the digest detects a
//! truncated or damaged file. Nothing is rehashed on load: the digest guards against
//! damage, not against a forger with write access to the hub's data directory.

use std::io::{self, Read, Write};
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::bytes::Reader;
use crate::crypto::poseidon;
use crate::field::Fe;
use crate::field::fe_to_be_bytes;

/// Children per node.
pub const ARITY: usize = 4;
/// Levels above the leaves.
pub const DEPTH: usize = 10;
/// Positions: `4^DEPTH = 2^20`.
pub const CAPACITY: u64 = 1 << (2 * DEPTH);

const _: () = assert!(CAPACITY == (ARITY as u64).pow(DEPTH as u32));
const _: () = assert!(
    CAPACITY <= u32::MAX as u64,
    "a position is a u32 channel id"
);

/// Batches of at least this many nodes of one level are hashed on several threads.
const PARALLEL_MIN_NODES: usize = 1 << 11;

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
    /// hashing every stored node once (and none whose children are all empty).
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
            let mut parents = vec![zero(h + 1); stored_len(h + 1, level.len())];
            let children = &level;
            parallel_fill(&mut parents, |q| parent(children, h, q));
            levels.push(std::mem::replace(&mut level, parents));
        }
        levels.push(level);
        let tree = StateTree { levels, occupied };
        tree.assert_shape();
        Ok(tree)
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
        chained_path(self, self, position)
    }

    /// Set the leaf at `position` (`DEPTH` hashes).
    pub fn set(&mut self, position: u32, leaf: Fe) -> Result<(), StateTreeError> {
        self.set_many([(position, leaf)])
    }

    /// Set many leaves at once, in strictly increasing position order: every changed
    /// node is hashed once (on all cores for large batches). Equal to [`StateTree::set`]
    /// of each in turn; on an error (a position beyond the tree, or out of order) the
    /// tree is unchanged.
    pub fn set_many(
        &mut self,
        updates: impl IntoIterator<Item = (u32, Fe)>,
    ) -> Result<(), StateTreeError> {
        let updates: Vec<(u32, Fe)> = updates.into_iter().collect();
        let mut previous: Option<u32> = None;
        for &(position, _) in &updates {
            check(position)?;
            if let Some(previous) = previous
                && position <= previous
            {
                return Err(StateTreeError::Order { previous, position });
            }
            previous = Some(position);
        }
        let mut dirty: Vec<usize> = Vec::with_capacity(updates.len());
        for (position, leaf) in updates {
            let index = position as usize;
            let before = self.node(0, index);
            if before == leaf {
                continue;
            }
            self.occupied =
                self.occupied + usize::from(leaf != zero(0)) - usize::from(before != zero(0));
            let leaves = &mut self.levels[0];
            if index >= leaves.len() {
                leaves.resize(index + 1, zero(0));
            }
            leaves[index] = leaf;
            dirty.push(index);
        }
        for h in 0..DEPTH {
            let need = stored_len(h + 1, self.levels[h].len());
            if self.levels[h + 1].len() < need {
                self.levels[h + 1].resize(need, zero(h + 1));
            }
            dirty.iter_mut().for_each(|i| *i /= ARITY);
            dirty.dedup();
            let mut hashes = vec![zero(h + 1); dirty.len()];
            let (children, dirty_parents) = (&self.levels[h], &dirty);
            parallel_fill(&mut hashes, |k| parent(children, h, dirty_parents[k]));
            for (&q, value) in dirty.iter().zip(hashes) {
                self.levels[h + 1][q] = value;
            }
        }
        debug_assert!(dirty.len() <= 1, "one root");
        self.assert_shape();
        Ok(())
    }

    /// Every level as long as the one below needs ([`stored_len`]), the root stored.
    fn assert_shape(&self) {
        assert_eq!(self.levels.len(), DEPTH + 1, "DEPTH + 1 levels");
        assert!(
            self.levels[0].len() as u64 <= CAPACITY,
            "leaves within CAPACITY"
        );
        assert!(
            self.occupied <= self.levels[0].len(),
            "occupied leaves are stored"
        );
        for h in 1..=DEPTH {
            assert_eq!(
                self.levels[h].len(),
                stored_len(h, self.levels[h - 1].len()),
                "level {h} as long as level {} needs",
                h - 1
            );
        }
    }

    /// Save the tree (format in the module doc). Writes about 43 bytes per stored leaf.
    pub fn write_to(&self, mut w: impl Write) -> io::Result<()> {
        self.assert_shape();
        let positions = self.levels[0].len() as u64;
        let occupied = self.occupied as u64;
        let mut hasher = blake3::Hasher::new();
        hasher.update(&VERSION.to_le_bytes());
        hasher.update(&positions.to_le_bytes());
        hasher.update(&occupied.to_le_bytes());
        self.for_each_body_chunk(|chunk| {
            hasher.update(chunk);
            Ok(())
        })?;
        let mut header = Vec::with_capacity(HEADER_BYTES);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&positions.to_le_bytes());
        header.extend_from_slice(&occupied.to_le_bytes());
        header.extend_from_slice(hasher.finalize().as_bytes());
        assert_eq!(header.len(), HEADER_BYTES);
        w.write_all(&header)?;
        self.for_each_body_chunk(|chunk| w.write_all(chunk))?;
        w.flush()
    }

    /// The body in chunks of at most [`CHUNK_NODES`] encoded nodes.
    fn for_each_body_chunk(&self, mut f: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        let mut buffer = Vec::with_capacity(CHUNK_NODES * NODE_BYTES);
        for level in &self.levels {
            for nodes in level.chunks(CHUNK_NODES) {
                buffer.clear();
                for node in nodes {
                    buffer.extend_from_slice(&fe_to_be_bytes(node));
                }
                f(&buffer)?;
            }
        }
        Ok(())
    }

    /// Load a tree saved by [`StateTree::write_to`], refusing anything else: a wrong
    /// magic or version, more positions than `limits` or [`CAPACITY`] allow (checked
    /// before any allocation), a short read, a non-canonical field element, a digest
    /// that does not match, or a leaf count that does not. Reads exactly the file's
    /// bytes (trailing data is the caller's). Hashes nothing but the BLAKE3 digest.
    pub fn read_from(mut r: impl Read, limits: ReadLimits) -> Result<StateTree, StateFileError> {
        let mut header = [0u8; HEADER_BYTES];
        read_exact(&mut r, &mut header)?;
        let FileHeader {
            positions,
            occupied,
            digest,
        } = FileHeader::parse(&header)?;
        let limit = limits.max_positions.min(CAPACITY);
        if positions > limit {
            return Err(StateFileError::TooManyPositions { positions, limit });
        }
        if occupied > positions {
            return Err(StateFileError::Inconsistent(
                "more occupied leaves than positions",
            ));
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(&header[8..28]);
        // Bounded by `limit ≤ CAPACITY` above: at most 4/3 · 2^20 + DEPTH nodes.
        let positions = positions as usize;
        let mut buffer = vec![0u8; CHUNK_NODES * NODE_BYTES];
        let mut levels = Vec::with_capacity(DEPTH + 1);
        let mut below = positions;
        for h in 0..=DEPTH {
            let len = if h == 0 {
                positions
            } else {
                stored_len(h, below)
            };
            let mut level = Vec::with_capacity(len);
            while level.len() < len {
                let count = (len - level.len()).min(CHUNK_NODES);
                let bytes = &mut buffer[..count * NODE_BYTES];
                read_exact(&mut r, bytes)?;
                hasher.update(bytes);
                let mut nodes = Reader::new(bytes);
                while nodes.remaining() > 0 {
                    let node = nodes.fe().map_err(|_| StateFileError::NotCanonical {
                        level: h,
                        index: level.len(),
                    })?;
                    level.push(node);
                }
            }
            below = len;
            levels.push(level);
        }
        if hasher.finalize() != blake3::Hash::from(digest) {
            return Err(StateFileError::Digest);
        }
        let counted = levels[0].iter().filter(|leaf| **leaf != zero(0)).count();
        if counted as u64 != occupied {
            return Err(StateFileError::Inconsistent("occupied leaves miscounted"));
        }
        if positions == 0 && levels[DEPTH][0] != empty_root() {
            return Err(StateFileError::Inconsistent(
                "an empty tree with another root",
            ));
        }
        let tree = StateTree {
            levels,
            occupied: counted,
        };
        tree.assert_shape();
        Ok(tree)
    }
}

/// The path of `position` as it is met while the updates that take `before` to `after`
/// are applied one by one in increasing position order: every sibling subtree left of
/// the path holds only lower positions (already updated: read from `after`), every one
/// right of it only higher positions (not yet: read from `before`). So, with `old` and
/// `new` the leaf at `position` in `before` and `after`, `path.root(old)` is the root
/// before this position's update and `path.root(new)` the root after it. No hashing.
pub fn chained_path(
    before: &StateTree,
    after: &StateTree,
    position: u32,
) -> Result<StatePath, StateTreeError> {
    check(position)?;
    let mut siblings = [[Fe::from(0u64); 3]; DEPTH];
    let mut index = position as usize;
    for (h, s) in siblings.iter_mut().enumerate() {
        let first = index - index % ARITY;
        let mut others = (first..first + ARITY).filter(|&i| i != index);
        for sibling in s.iter_mut() {
            let i = others.next().expect("three others");
            let tree = if i < index { after } else { before };
            *sibling = tree.node(h, i);
        }
        index /= ARITY;
    }
    Ok(StatePath { position, siblings })
}

/// Limits on what [`StateTree::read_from`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Stored leaf positions (highest position + 1); capped at [`CAPACITY`] anyway.
    pub max_positions: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_positions: CAPACITY,
        }
    }
}

/// Why a saved tree was refused by [`StateTree::read_from`].
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// Not a state tree file.
    #[error("not a state tree file (bad magic)")]
    Magic,
    /// A format version this build does not read.
    #[error("state tree file version {0} is not supported (this build reads {VERSION})")]
    Version(u32),
    /// The header claims more positions than allowed.
    #[error("state tree file claims {positions} positions, more than the limit {limit}")]
    TooManyPositions {
        /// Claimed.
        positions: u64,
        /// Allowed.
        limit: u64,
    },
    /// The file ends before its last node.
    #[error("state tree file is truncated")]
    Truncated,
    /// A node is not a canonical field element.
    #[error("state tree file: node {index} of level {level} is not a canonical field element")]
    NotCanonical {
        /// Level (0 = leaves).
        level: usize,
        /// Index in the level.
        index: usize,
    },
    /// The digest does not match the contents: the file is damaged.
    #[error("state tree file digest does not match its contents")]
    Digest,
    /// Header and body disagree although the digest matches (a writer bug).
    #[error("state tree file is inconsistent: {0}")]
    Inconsistent(&'static str),
    /// Reading failed.
    #[error("reading the state tree file: {0}")]
    Io(#[source] io::Error),
}

const MAGIC: [u8; 8] = *b"zkhubST\0";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 8 + 4 + 8 + 8 + 32;
const NODE_BYTES: usize = 32;
/// Nodes encoded per write and read (64 KiB).
const CHUNK_NODES: usize = 2048;

/// What a state-tree file's header says (magic and version checked).
struct FileHeader {
    positions: u64,
    occupied: u64,
    digest: [u8; 32],
}

impl FileHeader {
    fn parse(header: &[u8; HEADER_BYTES]) -> Result<FileHeader, StateFileError> {
        // The header was read whole: none of these reads can come up short.
        let short = |_| StateFileError::Truncated;
        let mut h = Reader::new(header);
        if *h.array::<8>().map_err(short)? != MAGIC {
            return Err(StateFileError::Magic);
        }
        let version = h.u32_le().map_err(short)?;
        if version != VERSION {
            return Err(StateFileError::Version(version));
        }
        let parsed = FileHeader {
            positions: h.u64_le().map_err(short)?,
            occupied: h.u64_le().map_err(short)?,
            digest: *h.array::<32>().map_err(short)?,
        };
        h.finish().map_err(short)?;
        Ok(parsed)
    }
}

fn read_exact(r: &mut impl Read, buffer: &mut [u8]) -> Result<(), StateFileError> {
    r.read_exact(buffer).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => StateFileError::Truncated,
        _ => StateFileError::Io(e),
    })
}

/// Nodes stored at level `h ≥ 1` above `below` stored nodes: one per group of four,
/// and the root always.
fn stored_len(h: usize, below: usize) -> usize {
    debug_assert!((1..=DEPTH).contains(&h));
    if h == DEPTH { 1 } else { below.div_ceil(ARITY) }
}

/// Parent `q` at level `h + 1` of the stored `children` of level `h` (empty beyond).
fn parent(children: &[Fe], h: usize, q: usize) -> Fe {
    let first = (q * ARITY).min(children.len());
    let last = (first + ARITY).min(children.len());
    let mut group = [zero(h); ARITY];
    group[..last - first].copy_from_slice(&children[first..last]);
    if group.iter().all(|c| *c == zero(h)) {
        zero(h + 1)
    } else {
        poseidon(&group)
    }
}

/// `out[k] = f(k)` for every `k`, on all cores when `out` is large. The result does not
/// depend on the split.
fn parallel_fill(out: &mut [Fe], f: impl Fn(usize) -> Fe + Sync) {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 || out.len() < PARALLEL_MIN_NODES {
        out.iter_mut().enumerate().for_each(|(k, x)| *x = f(k));
        return;
    }
    let per_thread = out.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        for (chunk, part) in out.chunks_mut(per_thread).enumerate() {
            scope.spawn(move || {
                let offset = chunk * per_thread;
                part.iter_mut()
                    .enumerate()
                    .for_each(|(k, x)| *x = f(offset + k));
            });
        }
    });
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

    /// A dense build over all `4^DEPTH` positions would hash 349,525 nodes; this
    /// recursion descends only into subtrees holding a leaf (see [`dense_root`]).
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

    /// The definition, hashing every node: a dense tree over positions `0..4^height`,
    /// then `DEPTH - height` levels whose other three children are empty subtrees.
    fn dense_root(height: usize, leaves: &[(u32, Fe)]) -> Fe {
        let mut level = vec![Fe::from(0u64); 1 << (2 * height)];
        for (p, leaf) in leaves {
            level[*p as usize] = *leaf;
        }
        while level.len() > 1 {
            level = level.chunks(ARITY).map(poseidon).collect();
        }
        let mut node = level[0];
        for h in height..DEPTH {
            node = poseidon(&[node, zero(h), zero(h), zero(h)]);
        }
        node
    }

    #[test]
    fn zero_subtrees_are_hashes_of_four_zero_subtrees() {
        assert_eq!(zero(0), Fe::from(0u64));
        for h in 0..DEPTH {
            assert_eq!(zero(h + 1), poseidon(&[zero(h); ARITY]), "height {h}");
        }
        // A dense build of 4^5 empty leaves.
        assert_eq!(dense_root(5, &[]), empty_root());
    }

    #[test]
    fn roots_match_a_dense_build_for_small_trees() {
        for positions in [
            vec![1u32],
            vec![1, 2, 3],
            vec![3, 4],
            vec![0, 15, 16, 63, 64, 1023],
            (1..=200).collect::<Vec<_>>(),
        ] {
            let leaves: Vec<(u32, Fe)> = positions
                .iter()
                .map(|&p| (p, Fe::from(u64::from(p) * 7 + 1)))
                .collect();
            let tree = StateTree::from_leaves(leaves.clone()).unwrap();
            assert_eq!(tree.root(), dense_root(5, &leaves), "{positions:?}");
            assert_eq!(tree.root(), naive_root(&leaves));
        }
    }

    #[test]
    fn set_many_equals_set_one_by_one_and_refuses_atomically() {
        let base = StateTree::from_leaves(sample()).unwrap();
        let updates: Vec<(u32, Fe)> = [(1u32, 9u64), (3, 0), (5, 4), (70_000, 1), (900_000, 2)]
            .iter()
            .map(|&(p, v)| (p, Fe::from(v)))
            .collect();
        let mut batched = base.clone();
        batched.set_many(updates.clone()).unwrap();
        let mut single = base.clone();
        for (p, l) in &updates {
            single.set(*p, *l).unwrap();
        }
        assert_eq!(batched.root(), single.root());
        assert_eq!(batched.len(), single.len());
        assert_eq!(batched.len(), base.len() + 1);
        // Out of order, or beyond the tree: nothing changes.
        let mut refused = base.clone();
        assert!(matches!(
            refused.set_many([(4, Fe::from(1u64)), (2, Fe::from(1u64))]),
            Err(StateTreeError::Order {
                previous: 4,
                position: 2
            })
        ));
        assert_eq!(
            refused.set_many([(4, Fe::from(1u64)), (1 << 20, Fe::from(1u64))]),
            Err(StateTreeError::Position(1 << 20))
        );
        assert_eq!(refused, base);
    }

    #[test]
    fn a_large_batch_hashed_on_several_threads_matches_sequential_sets() {
        let leaves: Vec<(u32, Fe)> = (1..=3 * PARALLEL_MIN_NODES as u32)
            .map(|p| (p, Fe::from(u64::from(p) + 3)))
            .collect();
        let bulk = StateTree::from_leaves(leaves.clone()).unwrap();
        let mut batched = StateTree::new();
        batched.set_many(leaves.clone()).unwrap();
        assert_eq!(batched, bulk);
        let mut single = StateTree::new();
        for (p, l) in leaves.iter().step_by(97) {
            single.set(*p, *l).unwrap();
        }
        let sparse = StateTree::from_leaves(leaves.iter().step_by(97).copied()).unwrap();
        assert_eq!(single.root(), sparse.root());
    }

    fn saved(tree: &StateTree) -> Vec<u8> {
        let mut bytes = Vec::new();
        tree.write_to(&mut bytes).unwrap();
        bytes
    }

    fn load(bytes: &[u8]) -> Result<StateTree, StateFileError> {
        StateTree::read_from(bytes, ReadLimits::default())
    }

    #[test]
    fn a_saved_tree_loads_equal() {
        for tree in [
            StateTree::new(),
            StateTree::from_leaves(sample()).unwrap(),
            StateTree::from_leaves((1..=1000).map(|p| (p, Fe::from(u64::from(p))))).unwrap(),
        ] {
            let bytes = saved(&tree);
            let loaded = load(&bytes).unwrap();
            assert_eq!(loaded, tree);
            assert_eq!(loaded.root(), tree.root());
            assert_eq!(loaded.len(), tree.len());
            // Trailing bytes are not read.
            let mut longer = bytes.clone();
            longer.extend_from_slice(b"next record");
            let mut reader = &longer[..];
            assert_eq!(
                StateTree::read_from(&mut reader, ReadLimits::default()).unwrap(),
                tree
            );
            assert_eq!(reader, b"next record");
        }
    }

    #[test]
    fn a_truncated_file_is_refused_at_every_length() {
        let bytes = saved(&StateTree::from_leaves(sample()[..4].to_vec()).unwrap());
        for cut in 0..bytes.len() {
            assert!(
                matches!(load(&bytes[..cut]), Err(StateFileError::Truncated)),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_is_refused() {
        let tree = StateTree::from_leaves((1..=20).map(|p| (p, Fe::from(u64::from(p))))).unwrap();
        let bytes = saved(&tree);
        for at in 0..bytes.len() {
            for bit in [0, 7] {
                let mut damaged = bytes.clone();
                damaged[at] ^= 1 << bit;
                assert!(load(&damaged).is_err(), "byte {at} bit {bit}");
            }
        }
        // A flipped bit in the body is caught by the digest.
        let mut damaged = bytes.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(matches!(load(&damaged), Err(StateFileError::Digest)));
    }

    #[test]
    fn a_count_over_capacity_is_refused_before_allocating() {
        let mut bytes = saved(&StateTree::new());
        bytes[12..20].copy_from_slice(&(CAPACITY + 1).to_le_bytes());
        assert!(matches!(
            load(&bytes),
            Err(StateFileError::TooManyPositions {
                positions,
                limit: CAPACITY
            }) if positions == CAPACITY + 1
        ));
        bytes[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            load(&bytes),
            Err(StateFileError::TooManyPositions { .. })
        ));
        // A caller's lower limit holds too.
        let bytes = saved(&StateTree::from_leaves(sample()).unwrap());
        let limits = ReadLimits {
            max_positions: 1000,
        };
        assert!(matches!(
            StateTree::read_from(&bytes[..], limits),
            Err(StateFileError::TooManyPositions {
                positions: CAPACITY,
                limit: 1000
            })
        ));
    }

    #[test]
    fn wrong_magic_version_and_non_canonical_nodes_are_refused() {
        let good = saved(&StateTree::from_leaves(sample()[..3].to_vec()).unwrap());
        let mut bytes = good.clone();
        bytes[0] = b'Z';
        assert!(matches!(load(&bytes), Err(StateFileError::Magic)));
        let mut bytes = good.clone();
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert!(matches!(load(&bytes), Err(StateFileError::Version(2))));
        let mut bytes = good.clone();
        bytes[HEADER_BYTES..HEADER_BYTES + NODE_BYTES].fill(0xff);
        assert!(matches!(
            load(&bytes),
            Err(StateFileError::NotCanonical { level: 0, index: 0 })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn chained_paths_step_from_the_old_root_to_the_new(
            before in proptest::collection::btree_map(0u32..3000, 1u64..5, 0..12),
            updates in proptest::collection::btree_map(0u32..3000, 0u64..5, 1..12),
        ) {
            let leaf = |v: u64| Fe::from(v);
            let old = StateTree::from_leaves(before.iter().map(|(p, v)| (*p, leaf(*v)))).unwrap();
            let mut new = old.clone();
            new.set_many(updates.iter().map(|(p, v)| (*p, leaf(*v)))).unwrap();
            let mut running = old.clone();
            for (p, v) in &updates {
                let path = chained_path(&old, &new, *p).unwrap();
                prop_assert_eq!(&path, &running.path(*p).unwrap());
                prop_assert!(path.verify(&running.root(), &old.leaf(*p).unwrap()));
                running.set(*p, leaf(*v)).unwrap();
                prop_assert!(path.verify(&running.root(), &new.leaf(*p).unwrap()));
            }
            prop_assert_eq!(running.root(), new.root());
        }
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
