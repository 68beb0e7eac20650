//! The incremental close (docs/DESIGN.md §8.2): an epoch's proof covers only the
//! channels that changed, as updates of one sparse 4-ary Poseidon state tree
//! (`channel::state_tree`), so its cost follows the touched channels, not the hub.
//!
//! The statement, public inputs `hub_id, epoch, n, prev_root, new_root, deposits_hash,
//! volume_commitment`:
//! there are `n` touched channels, in strictly increasing id order, each updating its
//! leaf at position `id` by the rules of [`slot`] (signature, `B = D + R − S ≥ 0`,
//! counters that only grow, a new leaf only where the tree was empty), applied one after
//! another from `prev_root` (the previous close's root) to `new_root`; `Σ ΔR = Σ ΔS`;
//! and the touched channels whose net deposit changed are exactly those the settlement
//! layer hashed into `deposits_hash`, with its values; `volume_commitment =
//! Poseidon(VOLUME, Σ ΔS, rv)` for a hidden `rv` (the epoch's volume, committed). Every
//! other leaf is unchanged.
//!
//! Folded like the full close ([`crate::circuit`]): `M` chunks of `K` slots, one
//! [`TransitionStep`] per chunk, a [`TransitionCore`], and a shared hidden
//! [`TransitionTable`]. The native twin is `channel::incremental`.

pub mod core;
pub mod prove;
pub mod slot;
pub mod step;
pub mod table;
pub mod witness;

use std::sync::Arc;

use bellpepper_core::test_cs::TestConstraintSystem;
use spartan2::traits::circuit::SpartanCircuit;

pub use self::core::{INPUT_NAMES, NUM_INPUTS, TransitionCore};
pub use self::slot::{LeafValues, TouchedAssignment, touched_constraints};
pub use self::step::TransitionStep;
pub use self::table::TransitionTable;
use crate::error::CloseError;
use crate::field::F;
use crate::layout::Layout;

/// The full assignment: public inputs and every slot (padding included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitionAssignment {
    /// `hub_id, epoch, n, prev_root, new_root, deposits_hash, volume_commitment`.
    pub public: [F; NUM_INPUTS],
    /// All slots, a power of two ≥ 2 of them.
    pub slots: Vec<TouchedAssignment>,
    /// `rv`, the blind of the volume commitment.
    pub volume_blind: F,
}

/// An incremental close cut into chunks: the table, the steps and the core.
#[derive(Clone, Debug)]
pub struct IncrementalClose {
    /// The shape.
    pub layout: Layout,
    /// The public inputs.
    pub public: [F; NUM_INPUTS],
    /// The shared table.
    pub table: Arc<TransitionTable>,
    /// Step `c` proves chunk `c`.
    pub steps: Vec<TransitionStep>,
    /// The core.
    pub core: TransitionCore,
}

impl IncrementalClose {
    /// Cut `assignment` by its layout, with the honest table of its slots.
    pub fn new(assignment: &TransitionAssignment) -> Result<IncrementalClose, CloseError> {
        let layout = Layout::for_touched_slots(assignment.slots.len())?;
        let table = TransitionTable::build(
            assignment.public[0],
            assignment.public[1],
            layout,
            assignment.public[3],
            assignment.volume_blind,
            &assignment.slots,
        );
        Ok(IncrementalClose::with_table(assignment, layout, table))
    }

    /// Cut `assignment` by `layout` with any `table` (tests pass cheating tables).
    pub fn with_table(
        assignment: &TransitionAssignment,
        layout: Layout,
        table: TransitionTable,
    ) -> IncrementalClose {
        let table = Arc::new(table);
        let steps = assignment
            .slots
            .chunks(layout.slots_per_chunk)
            .enumerate()
            .map(|(c, chunk)| TransitionStep::new(layout, c, table.clone(), chunk.into()))
            .collect();
        IncrementalClose {
            layout,
            public: assignment.public,
            core: TransitionCore::new(layout, table.clone(), assignment.public),
            table,
            steps,
        }
    }

    /// `Ok`, or the first unsatisfied constraint as `"step c/…"` or `"core/…"`. Slow
    /// (bellpepper's test system names every constraint): tests and diagnostics.
    pub fn check(&self) -> Result<(), String> {
        for (c, step) in self.steps.iter().enumerate() {
            let mut cs = TestConstraintSystem::<F>::new();
            step.shared(&mut cs)
                .and_then(|shared| step.synthesize_step(&mut cs, &shared))
                .map_err(|e| format!("step {c}: synthesis: {e}"))?;
            if let Some(name) = cs.which_is_unsatisfied() {
                return Err(format!("step {c}/{name}"));
            }
        }
        let mut cs = TestConstraintSystem::<F>::new();
        self.core
            .shared(&mut cs)
            .and_then(|shared| self.core.synthesize_core(&mut cs, &shared))
            .map_err(|e| format!("core: synthesis: {e}"))?;
        match cs.which_is_unsatisfied() {
            Some(name) => Err(format!("core/{name}")),
            None => Ok(()),
        }
    }
}

/// Constraints of one step of `layout` (before Spartan2 pads to a power of two).
pub fn step_constraints(layout: Layout) -> usize {
    let (k, m) = (layout.slots_per_chunk, layout.chunks);
    k * touched_constraints() - crate::slot::ID_ORDER_CONSTRAINTS
        + m + 2 // one-hot bits
        + (crate::table::ROW_COLUMNS + 4) * m // selections
        + crate::table::ROW_COLUMNS + 2
}

/// Constraints of the core of `layout`.
pub fn core_constraints(layout: Layout) -> usize {
    8 + crate::core_circuit::volume_commitment_constraints()
        + (layout.chunks - 1) * crate::slot::ID_ORDER_CONSTRAINTS
}

/// Constraints of a whole incremental close over `layout` (all steps and the core).
pub fn num_constraints(layout: Layout) -> usize {
    layout.chunks * step_constraints(layout) + core_constraints(layout)
}
