//! The incremental close's step circuit: one chunk of `K` touched slots.
//!
//! Step `c` (public value: `c` only, as in the full close):
//! 1. selects row `c`, `root[c]`, `root[c + 1]`, `acc[c]` and `acc[c + 1]` of the table
//!    with one-hot bits;
//! 2. runs the touched-slot rules ([`super::slot`]) on its `K` slots in order, threading
//!    the state root from `root[c]` and the deposit hash from `acc[c]`;
//! 3. proves its row (first and last `(is_real, id)`, `count`, `net = Σ (ΔR − ΔS)`,
//!    `volume = Σ ΔS`) and
//!    that it ends at `root[c + 1]` and `acc[c + 1]`.

use std::sync::Arc;

use bellpepper_core::num::AllocatedNum;
use bellpepper_core::{ConstraintSystem, SynthesisError};
use ff::Field;

use super::slot::{Running, TouchedAssignment, synthesize_touched};
use super::table::{TransitionTable, transition_vars};
use crate::field::F;
use crate::gadgets::{Expr, alloc_input, enforce_equal};
use crate::layout::Layout;
use crate::step::{one_hot, prove_row, select, select_row};
use crate::table::{TableCircuit, table_circuit};

/// Boundary `j + offset` for each row `j`.
fn boundary(values: &[Expr], m: usize, offset: usize) -> Vec<Option<&Expr>> {
    (0..m).map(|j| Some(&values[j + offset])).collect()
}

/// Step `index` of an incremental close, with or without a witness.
#[derive(Clone, Debug)]
pub struct TransitionStep {
    layout: Layout,
    witness: Option<StepWitness>,
}

#[derive(Clone, Debug)]
struct StepWitness {
    index: usize,
    table: Arc<TransitionTable>,
    slots: Arc<[TouchedAssignment]>,
}

impl TransitionStep {
    /// The shape only.
    pub fn blank(layout: Layout) -> Self {
        TransitionStep {
            layout,
            witness: None,
        }
    }

    /// Step `index` over the chunk's `K` `slots`, reading `table`.
    pub fn new(
        layout: Layout,
        index: usize,
        table: Arc<TransitionTable>,
        slots: Arc<[TouchedAssignment]>,
    ) -> Self {
        assert_eq!(slots.len(), layout.slots_per_chunk, "a chunk is K slots");
        TransitionStep {
            layout,
            witness: Some(StepWitness {
                index,
                table,
                slots,
            }),
        }
    }

    /// Everything the step enforces, after the table is allocated.
    pub fn synthesize_step<CS: ConstraintSystem<F>>(
        &self,
        cs: &mut CS,
        shared: &[AllocatedNum<F>],
    ) -> Result<(), SynthesisError> {
        let m = self.layout.chunks;
        let w = self.witness.as_ref();
        let table = transition_vars(self.layout, shared)?;
        let c = alloc_input(&mut *cs, "chunk index", w.map(|w| F::from(w.index as u64)))?;

        // 1. The selections.
        let bits = one_hot(cs, m, w.map(|w| w.index), &c)?;
        let row = select_row(cs, &bits, &table.rows)?;
        let root_in = select(cs, "root in", &bits, &boundary(&table.roots, m, 0))?;
        let root_end = select(cs, "root out", &bits, &boundary(&table.roots, m, 1))?;
        let acc_in = select(cs, "acc in", &bits, &boundary(&table.accs, m, 0))?;
        let acc_end = select(cs, "acc out", &bits, &boundary(&table.accs, m, 1))?;

        // 2. The slots, threading the root and the deposit hash.
        let mut outs = Vec::with_capacity(self.layout.slots_per_chunk);
        let mut previous: Option<(Expr, Expr)> = None;
        let (mut root, mut acc) = (root_in, acc_in);
        for i in 0..self.layout.slots_per_chunk {
            let out = synthesize_touched(
                &mut cs.namespace(|| format!("slot {i}")),
                &table.hub_id,
                w.map(|w| &w.slots[i]),
                Running {
                    previous: previous.as_ref(),
                    root_in: &root,
                    acc_in: &acc,
                },
            )?;
            previous = Some((out.is_real.clone(), out.id.clone()));
            root = out.root_out.clone();
            acc = out.acc_out.clone();
            outs.push(out);
        }

        // 3. The row and the ends of both transitions.
        let (first, last) = (&outs[0], &outs[outs.len() - 1]);
        let count = Expr::sum(outs.iter().map(|o| (F::ONE, o.is_real.clone())));
        let net = Expr::sum(outs.iter().map(|o| (F::ONE, o.net.clone())));
        let volume = Expr::sum(outs.iter().map(|o| (F::ONE, o.spent_delta.clone())));
        prove_row(
            cs,
            &row,
            [
                &first.is_real,
                &first.id,
                &last.is_real,
                &last.id,
                &count,
                &net,
                &volume,
            ],
        );
        enforce_equal(cs, "chunk ends at root[c + 1]", &root_end, &root);
        enforce_equal(cs, "chunk ends at acc[c + 1]", &acc_end, &acc);
        Ok(())
    }
}

impl TableCircuit for TransitionStep {
    type Table = TransitionTable;

    fn layout(&self) -> Layout {
        self.layout
    }

    fn table(&self) -> Option<&Arc<TransitionTable>> {
        self.witness.as_ref().map(|w| &w.table)
    }

    fn public(&self) -> Option<Vec<F>> {
        self.witness.as_ref().map(|w| vec![F::from(w.index as u64)])
    }

    fn constrain<CS: ConstraintSystem<F>>(
        &self,
        cs: &mut CS,
        shared: &[AllocatedNum<F>],
    ) -> Result<(), SynthesisError> {
        self.synthesize_step(cs, shared)
    }
}

table_circuit!(TransitionStep);
