//! The incremental close's chunk table: the shared witness of its steps and core.
//!
//! In allocation order:
//! - `hub_id, epoch`;
//! - a row per chunk `j`: `first_real, first_id, last_real, last_id, count, net,
//!   volume` (`net = Σ (ΔR − ΔS)`, `volume = Σ ΔS` over the chunk), as in the full
//!   close ([`crate::table`]);
//! - the state roots at the chunk boundaries, `root[0..=M]`: chunk `j` takes the tree
//!   from `root[j]` to `root[j + 1]`; `root[0]` is the previous close's root and
//!   `root[M]` the new one;
//! - the deposit hashes at the boundaries, `acc[0..=M]`, likewise (`acc[0] = 0`);
//! - `rv`, the blind of the volume commitment (read by the core only).
//!
//! Step `c` proves row `c` and the two transitions from its slots; the core checks the
//! ends and the volume commitment. Nothing here is public.

use bellpepper_core::SynthesisError;
use bellpepper_core::num::AllocatedNum;
use ff::Field;

use super::slot::TouchedAssignment;
use crate::field::{F, f_to_fe, fe_to_f};
use crate::gadgets::Expr;
use crate::gadgets::state_path::native_root;
use crate::layout::Layout;
use crate::table::{ChunkRow, ROW_COLUMNS, RowVars, SharedTable, row_vars};

/// The table's values (public fields so tests can build cheating tables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitionTable {
    /// The hub.
    pub hub_id: F,
    /// The epoch.
    pub epoch: F,
    /// One row per chunk.
    pub rows: Vec<ChunkRow>,
    /// State roots at the `M + 1` chunk boundaries.
    pub roots: Vec<F>,
    /// Deposit hashes at the `M + 1` chunk boundaries.
    pub accs: Vec<F>,
    /// `rv`, the blind of the volume commitment.
    pub volume_blind: F,
}

/// `Poseidon(id, Ax, Ay, D_old, B_old, Poseidon(S_old, R_old, blind_old))`, or 0 for a
/// new channel: the leaf a slot finds (native twin of the gadget).
pub fn old_leaf(s: &TouchedAssignment) -> F {
    if s.is_new == F::ONE {
        return F::ZERO;
    }
    leaf_of(s, &s.old)
}

/// The leaf a slot leaves.
pub fn new_leaf(s: &TouchedAssignment) -> F {
    leaf_of(s, &s.new)
}

fn leaf_of(s: &TouchedAssignment, v: &super::slot::LeafValues) -> F {
    let commitment =
        channel::crypto::poseidon(&[f_to_fe(&v.spent), f_to_fe(&v.received), f_to_fe(&v.blind)]);
    fe_to_f(&channel::crypto::poseidon(&[
        f_to_fe(&s.id),
        f_to_fe(&s.key.x),
        f_to_fe(&s.key.y),
        f_to_fe(&v.deposit),
        f_to_fe(&v.balance),
        commitment,
    ]))
}

/// The deposit hash after slot `s`, from `acc`.
pub fn next_acc(acc: F, s: &TouchedAssignment) -> F {
    if s.deposit_changed != F::ONE {
        return acc;
    }
    let leaf = channel::crypto::poseidon(&[
        f_to_fe(&s.id),
        f_to_fe(&s.key.x),
        f_to_fe(&s.key.y),
        f_to_fe(&s.new.deposit),
    ]);
    fe_to_f(&channel::crypto::poseidon(&[f_to_fe(&acc), leaf]))
}

fn position(s: &TouchedAssignment) -> u32 {
    // Honest ids fit 20 bits; a cheating one is the circuit's to refuse.
    let repr = ff::PrimeField::to_repr(&s.id);
    u32::from_le_bytes([repr[0], repr[1], repr[2], repr[3]])
}

impl TransitionTable {
    /// The honest table for `slots` cut by `layout`, from `prev_root`, with the volume
    /// blind `volume_blind`.
    pub fn build(
        hub_id: F,
        epoch: F,
        layout: Layout,
        prev_root: F,
        volume_blind: F,
        slots: &[TouchedAssignment],
    ) -> TransitionTable {
        assert_eq!(slots.len(), layout.slots(), "one assignment per slot");
        let mut rows = Vec::with_capacity(layout.chunks);
        let (mut roots, mut accs) = (vec![prev_root], vec![F::ZERO]);
        let (mut root, mut acc) = (prev_root, F::ZERO);
        for chunk in slots.chunks(layout.slots_per_chunk) {
            let (first, last) = (&chunk[0], &chunk[chunk.len() - 1]);
            rows.push(ChunkRow {
                first_real: first.is_real,
                first_id: first.id,
                last_real: last.is_real,
                last_id: last.id,
                count: chunk.iter().map(|s| s.is_real).sum(),
                net: chunk
                    .iter()
                    .map(|s| (s.new.received - s.old.received) - (s.new.spent - s.old.spent))
                    .sum(),
                volume: chunk.iter().map(|s| s.new.spent - s.old.spent).sum(),
            });
            for s in chunk {
                if s.is_real == F::ONE {
                    root = native_root(position(s), new_leaf(s), &s.siblings);
                }
                acc = next_acc(acc, s);
            }
            roots.push(root);
            accs.push(acc);
        }
        TransitionTable {
            hub_id,
            epoch,
            rows,
            roots,
            accs,
            volume_blind,
        }
    }
}

impl SharedTable for TransitionTable {
    fn values(&self) -> Vec<F> {
        let mut out = vec![self.hub_id, self.epoch];
        for row in &self.rows {
            out.extend(row.values());
        }
        out.extend_from_slice(&self.roots);
        out.extend_from_slice(&self.accs);
        out.push(self.volume_blind);
        out
    }

    fn len(layout: Layout) -> usize {
        2 + ROW_COLUMNS * layout.chunks + 2 * (layout.chunks + 1) + 1
    }
}

/// The table as circuit expressions.
#[derive(Clone, Debug)]
pub struct TransitionVars {
    /// `hub_id`.
    pub hub_id: Expr,
    /// `epoch`.
    pub epoch: Expr,
    /// One row per chunk.
    pub rows: Vec<RowVars>,
    /// `root[0..=M]`.
    pub roots: Vec<Expr>,
    /// `acc[0..=M]`.
    pub accs: Vec<Expr>,
    /// `rv`.
    pub volume_blind: Expr,
}

/// Structure the variables `alloc_table` returned.
pub fn transition_vars(
    layout: Layout,
    shared: &[AllocatedNum<F>],
) -> Result<TransitionVars, SynthesisError> {
    if shared.len() != TransitionTable::len(layout) {
        return Err(SynthesisError::Unsatisfiable);
    }
    let e = |n: &AllocatedNum<F>| Expr::var(n.get_variable(), n.get_value());
    let m = layout.chunks;
    let rows = row_vars(m, shared);
    let roots_at = 2 + ROW_COLUMNS * m;
    let accs_at = roots_at + m + 1;
    Ok(TransitionVars {
        hub_id: e(&shared[0]),
        epoch: e(&shared[1]),
        rows,
        roots: shared[roots_at..accs_at].iter().map(e).collect(),
        accs: shared[accs_at..accs_at + m + 1].iter().map(e).collect(),
        volume_blind: e(&shared[accs_at + m + 1]),
    })
}
