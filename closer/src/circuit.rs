//! The folded close (docs/DESIGN.md §8): an epoch's slots cut into `M` chunks of `K`
//! ([`Layout`]), one [`StepCircuit`] per chunk and one [`CoreCircuit`], tied together
//! by the shared chunk table ([`ChunkTable`]). NeutronNova folds the steps and proves
//! them with the core in one Spartan2 zero-knowledge proof.
//!
//! What the statement says is unchanged from the monolithic close: every slot obeys the
//! slot rules ([`crate::slot`]), real slots come first with strictly increasing ids,
//! `n = Σ is_real`, `Σ R = Σ S`, both public roots are the binary Poseidon Merkle
//! roots of the leaves in slot order, and `volume_commitment = Poseidon(VOLUME, Σ S,
//! rv)` for a hidden `rv`. The native twin is `channel::statement`.

use std::sync::Arc;

use bellpepper_core::test_cs::TestConstraintSystem;
use spartan2::traits::circuit::SpartanCircuit;

use crate::core_circuit::CoreCircuit;
use crate::field::F;
use crate::gadgets::{merkle, poseidon};
use crate::layout::Layout;
pub use crate::slot::{
    AMOUNT_BITS, ID_GAP_BITS, ID_ORDER_CONSTRAINTS, NUM_PUBLIC_INPUTS, SlotAssignment,
    slot_constraints,
};
use crate::step::StepCircuit;
use crate::table::ChunkTable;

/// The full assignment: public inputs and every slot (padding included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseAssignment {
    /// `hub_id, epoch, n, deposits_root, balances_root, volume_commitment`.
    pub public: [F; NUM_PUBLIC_INPUTS],
    /// All slots, `slots.len()` a power of two ≥ 2.
    pub slots: Vec<SlotAssignment>,
    /// `rv`, the blind of the volume commitment.
    pub volume_blind: F,
}

/// A close cut into chunks: the table, the step circuits and the core.
#[derive(Clone, Debug)]
pub struct FoldedClose {
    /// The shape.
    pub layout: Layout,
    /// The public inputs.
    pub public: [F; NUM_PUBLIC_INPUTS],
    /// The shared table.
    pub table: Arc<ChunkTable>,
    /// Step `c` proves chunk `c`.
    pub steps: Vec<StepCircuit>,
    /// The core.
    pub core: CoreCircuit,
}

impl FoldedClose {
    /// Cut `assignment` by its layout, with the honest table of its slots.
    pub fn new(assignment: &CloseAssignment) -> Result<FoldedClose, crate::CloseError> {
        let layout = Layout::for_slots(assignment.slots.len())?;
        let table = ChunkTable::build(
            assignment.public[0],
            assignment.public[1],
            layout,
            assignment.volume_blind,
            &assignment.slots,
        );
        Ok(FoldedClose::with_table(assignment, layout, table))
    }

    /// Cut `assignment` by `layout`, with any `table` (tests pass cheating tables).
    pub fn with_table(
        assignment: &CloseAssignment,
        layout: Layout,
        table: ChunkTable,
    ) -> FoldedClose {
        let table = Arc::new(table);
        let steps = assignment
            .slots
            .chunks(layout.slots_per_chunk)
            .enumerate()
            .map(|(c, chunk)| StepCircuit::new(layout, c, table.clone(), chunk.into()))
            .collect();
        FoldedClose {
            layout,
            public: assignment.public,
            core: CoreCircuit::new(layout, table.clone(), assignment.public),
            table,
            steps,
        }
    }

    /// Check every circuit against its witness with bellpepper's test system: `Ok`, or
    /// the first unsatisfied constraint as `"step c/…"` or `"core/…"`. Slow (it records
    /// every constraint by name): for tests and diagnostics.
    pub fn check(&self) -> Result<(), String> {
        match self.check_all().into_iter().next() {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }

    /// The first unsatisfied constraint of every circuit that has one, steps in order,
    /// then the core.
    pub fn check_all(&self) -> Vec<String> {
        let mut broken = Vec::new();
        for (c, step) in self.steps.iter().enumerate() {
            let mut cs = TestConstraintSystem::<F>::new();
            let result = step
                .shared(&mut cs)
                .and_then(|shared| step.synthesize_step(&mut cs, &shared));
            match result {
                Err(e) => broken.push(format!("step {c}: synthesis: {e}")),
                Ok(()) => {
                    if let Some(name) = cs.which_is_unsatisfied() {
                        broken.push(format!("step {c}/{name}"));
                    }
                }
            }
        }
        let mut cs = TestConstraintSystem::<F>::new();
        let result = self
            .core
            .shared(&mut cs)
            .and_then(|shared| self.core.synthesize_core(&mut cs, &shared));
        match result {
            Err(e) => broken.push(format!("core: synthesis: {e}")),
            Ok(()) => {
                if let Some(name) = cs.which_is_unsatisfied() {
                    broken.push(format!("core/{name}"));
                }
            }
        }
        broken
    }
}

/// Constraints of one step instance of `layout` (before Spartan2 pads to a power of
/// two): the slots, the chunk's sub-trees, the table reads and the inner-node check.
pub fn step_constraints(layout: Layout) -> usize {
    let (k, m) = (layout.slots_per_chunk, layout.chunks);
    let selects = crate::table::ROW_COLUMNS + 2 * 4; // row + (sub-root, node, left, right) × 2
    k * slot_constraints() - ID_ORDER_CONSTRAINTS
        + 2 * merkle_constraints(k)
        + m + 2 // one-hot bits
        + selects * m
        + crate::table::ROW_COLUMNS
        + 2 * (1 + poseidon::num_constraints(2, 0) + 1)
}

fn merkle_constraints(k: usize) -> usize {
    if k == 1 {
        0
    } else {
        merkle::num_constraints(k)
    }
}

/// Constraints of the core of `layout`.
pub fn core_constraints(layout: Layout) -> usize {
    6 + crate::core_circuit::volume_commitment_constraints()
        + (layout.chunks - 1) * ID_ORDER_CONSTRAINTS
}

/// Constraints of a whole folded close over `layout` (all steps and the core).
pub fn num_constraints(layout: Layout) -> usize {
    layout.chunks * step_constraints(layout) + core_constraints(layout)
}

/// Constraints per slot, everything included (steps and core over `N` slots).
pub fn constraints_per_slot(layout: Layout) -> f64 {
    num_constraints(layout) as f64 / layout.slots() as f64
}
