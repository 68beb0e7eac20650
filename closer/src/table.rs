//! The chunk table: the one witness every step instance and the core share.
//!
//! NeutronNova folds `M` instances of the step circuit; nothing passes between them but
//! a *shared* witness, committed once (hiding) and read by every step and by the core.
//! The table holds, in this order:
//!
//! - `hub_id, epoch`;
//! - a row per chunk `j`: `first_real, first_id, last_real, last_id, count, net,
//!   volume` (`net = Σ R − Σ S`, `volume = Σ S` over the chunk);
//! - the top of both Merkle trees in heap order, `node[1..2M)`: `node[M + j]` is chunk
//!   `j`'s sub-root, `node[i] = Poseidon(node[2i], node[2i + 1])` for `i < M`, and
//!   `node[1]` is the root; deposit nodes first, then balance nodes;
//! - `rv`, the blind of the volume commitment (read by the core only).
//!
//! Step `c` proves row `c` and sub-roots `node[M + c]` from its slots and checks the
//! inner node `node[c]` (for `c ≥ 1`); the core checks what spans chunks. No value of
//! the table is public: the settlement layer sees the roots, `n` and the volume
//! commitment only.

use std::sync::Arc;

use bellpepper_core::num::AllocatedNum;
use bellpepper_core::{ConstraintSystem, SynthesisError};
use channel::Fe;
use ff::Field;

use crate::field::{F, f_to_fe, fe_to_f};
use crate::gadgets::Expr;
use crate::layout::Layout;
use crate::slot::SlotAssignment;

/// Columns of a table row.
pub const ROW_COLUMNS: usize = 7;

/// One chunk's row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRow {
    /// `is_real` of the chunk's first slot.
    pub first_real: F,
    /// `id` of the chunk's first slot.
    pub first_id: F,
    /// `is_real` of the chunk's last slot.
    pub last_real: F,
    /// `id` of the chunk's last slot.
    pub last_id: F,
    /// Real slots in the chunk.
    pub count: F,
    /// `Σ R − Σ S` over the chunk.
    pub net: F,
    /// The chunk's share of the volume: `Σ S` (full close), `Σ (S − S_old)`
    /// (incremental close).
    pub volume: F,
}

impl ChunkRow {
    /// The columns in table order.
    pub fn values(&self) -> [F; ROW_COLUMNS] {
        [
            self.first_real,
            self.first_id,
            self.last_real,
            self.last_id,
            self.count,
            self.net,
            self.volume,
        ]
    }
}

/// The table's values (public fields so tests can build cheating tables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkTable {
    /// The hub the epoch belongs to.
    pub hub_id: F,
    /// The epoch.
    pub epoch: F,
    /// One row per chunk.
    pub rows: Vec<ChunkRow>,
    /// Deposit tree nodes in heap order; index 0 is unused (zero).
    pub deposit_nodes: Vec<F>,
    /// Balance tree nodes in heap order; index 0 is unused (zero).
    pub balance_nodes: Vec<F>,
    /// `rv`, the blind of the volume commitment.
    pub volume_blind: F,
}

/// `is_real · Poseidon(id, Ax, Ay, D)`, natively (twin of the slot gadget's leaf).
pub fn deposit_leaf(s: &SlotAssignment) -> F {
    let leaf = channel::crypto::poseidon(&[
        f_to_fe(&s.id),
        f_to_fe(&s.key.x),
        f_to_fe(&s.key.y),
        f_to_fe(&s.deposit),
    ]);
    s.is_real * fe_to_f(&leaf)
}

/// `is_real · Poseidon(id, Ax, Ay, B, Poseidon(S, R, blind))`, natively.
pub fn balance_leaf(s: &SlotAssignment) -> F {
    let commitment =
        channel::crypto::poseidon(&[f_to_fe(&s.spent), f_to_fe(&s.received), f_to_fe(&s.blind)]);
    let leaf = channel::crypto::poseidon(&[
        f_to_fe(&s.id),
        f_to_fe(&s.key.x),
        f_to_fe(&s.key.y),
        f_to_fe(&s.balance),
        commitment,
    ]);
    s.is_real * fe_to_f(&leaf)
}

/// The Merkle root of a chunk's leaves (the leaf itself for a one-slot chunk).
pub fn sub_root(leaves: &[F]) -> F {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let fes: Vec<Fe> = leaves.iter().map(f_to_fe).collect();
    let root = channel::merkle::MerkleTree::new(fes)
        .expect("a chunk is a power of two ≥ 2 slots")
        .root();
    fe_to_f(&root)
}

/// The heap-ordered tree above `M` sub-roots: `nodes[M + j] = sub_roots[j]`.
pub fn heap_nodes(sub_roots: &[F]) -> Vec<F> {
    let m = sub_roots.len();
    let mut nodes = vec![F::ZERO; 2 * m];
    nodes[m..].copy_from_slice(sub_roots);
    for i in (1..m).rev() {
        let parent =
            channel::crypto::poseidon(&[f_to_fe(&nodes[2 * i]), f_to_fe(&nodes[2 * i + 1])]);
        nodes[i] = fe_to_f(&parent);
    }
    nodes
}

impl SharedTable for ChunkTable {
    fn values(&self) -> Vec<F> {
        ChunkTable::values(self)
    }

    fn len(layout: Layout) -> usize {
        table_len(layout)
    }
}

impl ChunkTable {
    /// The honest table for `slots` (cut by `layout`), whatever the slots hold, with
    /// the volume blind `volume_blind`.
    pub fn build(
        hub_id: F,
        epoch: F,
        layout: Layout,
        volume_blind: F,
        slots: &[SlotAssignment],
    ) -> ChunkTable {
        assert_eq!(slots.len(), layout.slots(), "one assignment per slot");
        let mut rows = Vec::with_capacity(layout.chunks);
        let mut deposit_subs = Vec::with_capacity(layout.chunks);
        let mut balance_subs = Vec::with_capacity(layout.chunks);
        for chunk in slots.chunks(layout.slots_per_chunk) {
            let (first, last) = (&chunk[0], &chunk[chunk.len() - 1]);
            rows.push(ChunkRow {
                first_real: first.is_real,
                first_id: first.id,
                last_real: last.is_real,
                last_id: last.id,
                count: chunk.iter().map(|s| s.is_real).sum(),
                net: chunk.iter().map(|s| s.received - s.spent).sum(),
                volume: chunk.iter().map(|s| s.spent).sum(),
            });
            deposit_subs.push(sub_root(
                &chunk.iter().map(deposit_leaf).collect::<Vec<_>>(),
            ));
            balance_subs.push(sub_root(
                &chunk.iter().map(balance_leaf).collect::<Vec<_>>(),
            ));
        }
        ChunkTable {
            hub_id,
            epoch,
            rows,
            deposit_nodes: heap_nodes(&deposit_subs),
            balance_nodes: heap_nodes(&balance_subs),
            volume_blind,
        }
    }

    /// The values in allocation order (see the module doc).
    pub fn values(&self) -> Vec<F> {
        let mut out = vec![self.hub_id, self.epoch];
        for row in &self.rows {
            out.extend(row.values());
        }
        out.extend_from_slice(&self.deposit_nodes[1..]);
        out.extend_from_slice(&self.balance_nodes[1..]);
        out.push(self.volume_blind);
        out
    }
}

/// Number of table variables for `layout`.
pub fn table_len(layout: Layout) -> usize {
    2 + ROW_COLUMNS * layout.chunks + 2 * (2 * layout.chunks - 1) + 1
}

/// A table row as circuit expressions.
#[derive(Clone, Debug)]
pub struct RowVars {
    /// `first_real`.
    pub first_real: Expr,
    /// `first_id`.
    pub first_id: Expr,
    /// `last_real`.
    pub last_real: Expr,
    /// `last_id`.
    pub last_id: Expr,
    /// `count`.
    pub count: Expr,
    /// `net`.
    pub net: Expr,
    /// `volume`.
    pub volume: Expr,
}

impl RowVars {
    /// The columns in table order.
    pub fn columns(&self) -> [&Expr; ROW_COLUMNS] {
        [
            &self.first_real,
            &self.first_id,
            &self.last_real,
            &self.last_id,
            &self.count,
            &self.net,
            &self.volume,
        ]
    }
}

/// The table as circuit expressions (what `shared()` allocated).
#[derive(Clone, Debug)]
pub struct TableVars {
    /// `hub_id`.
    pub hub_id: Expr,
    /// `epoch`.
    pub epoch: Expr,
    /// One row per chunk.
    pub rows: Vec<RowVars>,
    /// Deposit nodes in heap order; index 0 is the constant zero.
    pub deposit_nodes: Vec<Expr>,
    /// Balance nodes in heap order; index 0 is the constant zero.
    pub balance_nodes: Vec<Expr>,
    /// `rv`.
    pub volume_blind: Expr,
}

/// A shared witness of a folded circuit: its values in allocation order, and how many
/// there are for a layout (known before any witness, for setup).
pub trait SharedTable {
    /// The values in allocation order.
    fn values(&self) -> Vec<F>;
    /// Number of values for `layout`.
    fn len(layout: Layout) -> usize;
}

/// Allocate the table (with values when `table` is given): the body of every circuit's
/// `shared()`.
pub fn alloc_table<CS: ConstraintSystem<F>, T: SharedTable>(
    cs: &mut CS,
    layout: Layout,
    table: Option<&Arc<T>>,
) -> Result<Vec<AllocatedNum<F>>, SynthesisError> {
    let len = T::len(layout);
    let values = table.map(|t| t.values());
    if let Some(v) = &values
        && v.len() != len
    {
        return Err(SynthesisError::Unsatisfiable);
    }
    (0..len)
        .map(|i| {
            AllocatedNum::alloc(cs.namespace(|| format!("table {i}")), || {
                values
                    .as_ref()
                    .map(|v| v[i])
                    .ok_or(SynthesisError::AssignmentMissing)
            })
        })
        .collect()
}

/// Structure the variables `alloc_table` returned.
pub fn table_vars(layout: Layout, shared: &[AllocatedNum<F>]) -> Result<TableVars, SynthesisError> {
    if shared.len() != table_len(layout) {
        return Err(SynthesisError::Unsatisfiable);
    }
    let e = |n: &AllocatedNum<F>| Expr::var(n.get_variable(), n.get_value());
    let m = layout.chunks;
    let rows = row_vars(m, shared);
    let nodes_at = |offset: usize| {
        std::iter::once(Expr::zero())
            .chain(shared[offset..offset + 2 * m - 1].iter().map(e))
            .collect::<Vec<_>>()
    };
    let first_node = 2 + ROW_COLUMNS * m;
    Ok(TableVars {
        hub_id: e(&shared[0]),
        epoch: e(&shared[1]),
        rows,
        deposit_nodes: nodes_at(first_node),
        balance_nodes: nodes_at(first_node + 2 * m - 1),
        volume_blind: e(&shared[shared.len() - 1]),
    })
}

/// The `m` rows of a table whose rows start after `hub_id, epoch`.
pub(crate) fn row_vars(m: usize, shared: &[AllocatedNum<F>]) -> Vec<RowVars> {
    let e = |n: &AllocatedNum<F>| Expr::var(n.get_variable(), n.get_value());
    (0..m)
        .map(|j| {
            let at = |t: usize| e(&shared[2 + ROW_COLUMNS * j + t]);
            RowVars {
                first_real: at(0),
                first_id: at(1),
                last_real: at(2),
                last_id: at(3),
                count: at(4),
                net: at(5),
                volume: at(6),
            }
        })
        .collect()
}

/// A circuit of the folded close: the chunk table is its shared witness and all its
/// constraints are synthesized in `precommitted()` with no verifier challenges, so
/// Spartan2 caches the constraint products and never synthesizes twice (a circuit with
/// work in `synthesize()` would lose that). [`table_circuit!`] turns it into a
/// `SpartanCircuit`.
pub trait TableCircuit {
    /// The shared witness.
    type Table: SharedTable;
    /// The layout the circuit is built for.
    fn layout(&self) -> Layout;
    /// The table's values (`None` for a blank circuit).
    fn table(&self) -> Option<&Arc<Self::Table>>;
    /// The public values, in the order the circuit inputizes them.
    fn public(&self) -> Option<Vec<F>>;
    /// Every constraint, given the allocated table.
    fn constrain<CS: ConstraintSystem<F>>(
        &self,
        cs: &mut CS,
        shared: &[AllocatedNum<F>],
    ) -> Result<(), SynthesisError>;
}

/// `impl SpartanCircuit<Engine>` for a [`TableCircuit`].
macro_rules! table_circuit {
    ($circuit:ty) => {
        impl spartan2::traits::circuit::SpartanCircuit<$crate::field::Engine> for $circuit {
            fn public_values(&self) -> Result<Vec<$crate::field::F>, SynthesisError> {
                $crate::table::TableCircuit::public(self).ok_or(SynthesisError::AssignmentMissing)
            }

            fn shared<CS: ConstraintSystem<$crate::field::F>>(
                &self,
                cs: &mut CS,
            ) -> Result<Vec<AllocatedNum<$crate::field::F>>, SynthesisError> {
                use $crate::table::TableCircuit as _;
                $crate::table::alloc_table(cs, self.layout(), self.table())
            }

            fn precommitted<CS: ConstraintSystem<$crate::field::F>>(
                &self,
                cs: &mut CS,
                shared: &[AllocatedNum<$crate::field::F>],
            ) -> Result<Vec<AllocatedNum<$crate::field::F>>, SynthesisError> {
                $crate::table::TableCircuit::constrain(self, cs, shared)?;
                Ok(vec![])
            }

            fn num_challenges(&self) -> usize {
                0
            }

            fn synthesize<CS: ConstraintSystem<$crate::field::F>>(
                &self,
                _: &mut CS,
                _: &[AllocatedNum<$crate::field::F>],
                _: &[AllocatedNum<$crate::field::F>],
                _: Option<&[$crate::field::F]>,
            ) -> Result<(), SynthesisError> {
                Ok(())
            }
        }
    };
}
pub(crate) use table_circuit;
