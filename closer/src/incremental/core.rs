//! The incremental close's core circuit: what spans chunks.
//!
//! Public values, in order: `hub_id, epoch, n, prev_root, new_root, deposits_hash,
//! volume_commitment`.
//! It enforces: the table's `hub_id` and `epoch` are the public ones; `n = Σ count`;
//! `Σ net = 0` (over the touched channels `Σ ΔR = Σ ΔS`, so with every untouched leaf
//! unchanged `Σ B = Σ D` carries over from the previous close); `root[0] = prev_root`,
//! `root[M] = new_root`, `acc[0] = 0`, `acc[M] = deposits_hash`;
//! `volume_commitment = Poseidon(VOLUME, Σ volume, rv)` (each chunk's `volume = Σ ΔS`,
//! so `V` is the epoch's volume); and across each chunk
//! boundary real slots first and ids strictly increasing (so no leaf is updated twice).

use std::sync::Arc;

use bellpepper_core::num::AllocatedNum;
use bellpepper_core::{ConstraintSystem, SynthesisError};

use super::table::{TransitionTable, transition_vars};
use crate::core_circuit::{boundaries, totals, volume_commitment};
use crate::field::F;
use crate::gadgets::{Expr, alloc_input, enforce_equal};
use crate::layout::Layout;
use crate::table::{TableCircuit, table_circuit};

/// Number of public inputs of the incremental close.
pub const NUM_INPUTS: usize = 7;

/// Names of the public inputs, in order.
pub const INPUT_NAMES: [&str; NUM_INPUTS] = [
    "hub_id",
    "epoch",
    "n",
    "prev_root",
    "new_root",
    "deposits_hash",
    "volume_commitment",
];

/// The core of an incremental close, with or without a witness.
#[derive(Clone, Debug)]
pub struct TransitionCore {
    layout: Layout,
    witness: Option<(Arc<TransitionTable>, [F; NUM_INPUTS])>,
}

impl TransitionCore {
    /// The shape only.
    pub fn blank(layout: Layout) -> Self {
        TransitionCore {
            layout,
            witness: None,
        }
    }

    /// The core over `table` with `public` inputs.
    pub fn new(layout: Layout, table: Arc<TransitionTable>, public: [F; NUM_INPUTS]) -> Self {
        TransitionCore {
            layout,
            witness: Some((table, public)),
        }
    }

    /// Everything the core enforces, after the table is allocated.
    pub fn synthesize_core<CS: ConstraintSystem<F>>(
        &self,
        cs: &mut CS,
        shared: &[AllocatedNum<F>],
    ) -> Result<(), SynthesisError> {
        let m = self.layout.chunks;
        let table = transition_vars(self.layout, shared)?;
        let public = INPUT_NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| alloc_input(&mut *cs, name, self.witness.as_ref().map(|w| w.1[i])))
            .collect::<Result<Vec<_>, _>>()?;
        totals(
            cs,
            [&table.hub_id, &table.epoch],
            &table.rows,
            &public,
            "Σ ΔR = Σ ΔS",
        );
        enforce_equal(cs, "starts at prev_root", &table.roots[0], &public[3]);
        enforce_equal(cs, "ends at new_root", &table.roots[m], &public[4]);
        enforce_equal(
            cs,
            "deposit hash starts at 0",
            &table.accs[0],
            &Expr::zero(),
        );
        enforce_equal(cs, "ends at deposits_hash", &table.accs[m], &public[5]);
        volume_commitment(cs, &table.rows, &table.volume_blind, &public[6])?;
        boundaries(cs, &table.rows)
    }
}

impl TableCircuit for TransitionCore {
    type Table = TransitionTable;

    fn layout(&self) -> Layout {
        self.layout
    }

    fn table(&self) -> Option<&Arc<TransitionTable>> {
        self.witness.as_ref().map(|w| &w.0)
    }

    fn public(&self) -> Option<Vec<F>> {
        self.witness.as_ref().map(|w| w.1.to_vec())
    }

    fn constrain<CS: ConstraintSystem<F>>(
        &self,
        cs: &mut CS,
        shared: &[AllocatedNum<F>],
    ) -> Result<(), SynthesisError> {
        self.synthesize_core(cs, shared)
    }
}

table_circuit!(TransitionCore);
