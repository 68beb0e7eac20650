//! The step circuit: one chunk of `K` slots, folded `M` times by NeutronNova.
//!
//! Step `c` (its only public value is `c`; the verifier checks that instance `i` says
//! `i`, so no chunk is skipped or proved twice):
//!
//! 1. selects row `c` of the chunk table with one-hot bits `s_j` (`Σ s_j = 1`,
//!    `Σ j·s_j = c`), one constraint `s_j · (x_j − v) = 0` per row and column;
//! 2. runs the slot rules ([`crate::slot`]) on its `K` slots, with `hub_id` from the
//!    table (so every voucher signature is bound to the table's hub);
//! 3. proves its row: first and last `(is_real, id)`, `count = Σ is_real`,
//!    `net = Σ R − Σ S`, `volume = Σ S`, and both sub-roots `node[M + c]`;
//! 4. for `c ≥ 1` checks the inner node `node[c] = Poseidon(node[2c], node[2c + 1])` of
//!    both trees (the `M − 1` steps with `c ≥ 1` cover the `M − 1` inner nodes).
//!
//! All of it is synthesized in `precommitted()` ([`TableCircuit`]).

use std::sync::Arc;

use bellpepper_core::num::AllocatedNum;
use bellpepper_core::{ConstraintSystem, SynthesisError};
use ff::Field;

use crate::field::F;
use crate::gadgets::{Expr, alloc, alloc_boolean_value, alloc_input, enforce, enforce_equal};
use crate::gadgets::{merkle, poseidon};
use crate::layout::Layout;
use crate::slot::{SlotAssignment, synthesize_slot};
use crate::table::{ChunkTable, ROW_COLUMNS, RowVars, TableCircuit, table_circuit, table_vars};

/// Step `index` of a folded close, with or without a witness.
#[derive(Clone, Debug)]
pub struct StepCircuit {
    layout: Layout,
    witness: Option<StepWitness>,
}

#[derive(Clone, Debug)]
struct StepWitness {
    index: usize,
    table: Arc<ChunkTable>,
    slots: Arc<[SlotAssignment]>,
}

impl StepCircuit {
    /// The shape only (for setup and key ids).
    pub fn blank(layout: Layout) -> Self {
        StepCircuit {
            layout,
            witness: None,
        }
    }

    /// Step `index` over `slots` (the chunk's `K` slots), reading `table`.
    pub fn new(
        layout: Layout,
        index: usize,
        table: Arc<ChunkTable>,
        slots: Arc<[SlotAssignment]>,
    ) -> Self {
        assert_eq!(slots.len(), layout.slots_per_chunk, "a chunk is K slots");
        StepCircuit {
            layout,
            witness: Some(StepWitness {
                index,
                table,
                slots,
            }),
        }
    }

    /// The chunk index this step claims.
    pub fn index(&self) -> Option<usize> {
        self.witness.as_ref().map(|w| w.index)
    }

    /// Everything the step enforces, after the table is allocated.
    pub fn synthesize_step<CS: ConstraintSystem<F>>(
        &self,
        cs: &mut CS,
        shared: &[AllocatedNum<F>],
    ) -> Result<(), SynthesisError> {
        let m = self.layout.chunks;
        let w = self.witness.as_ref();
        let table = table_vars(self.layout, shared)?;
        let c = alloc_input(&mut *cs, "chunk index", w.map(|w| F::from(w.index as u64)))?;

        // 1. One-hot selection of row c.
        let bits = one_hot(cs, m, w.map(|w| w.index), &c)?;
        let row = select_row(cs, &bits, &table.rows)?;

        // 2. The slots.
        let mut outs = Vec::with_capacity(self.layout.slots_per_chunk);
        let mut previous: Option<(Expr, Expr)> = None;
        for i in 0..self.layout.slots_per_chunk {
            let slot = w.map(|w| &w.slots[i]);
            let out = synthesize_slot(
                &mut cs.namespace(|| format!("slot {i}")),
                &table.hub_id,
                slot,
                previous.as_ref(),
            )?;
            previous = Some((out.is_real.clone(), out.id.clone()));
            outs.push(out);
        }

        // 3. The row and the sub-roots.
        let (first, last) = (&outs[0], &outs[outs.len() - 1]);
        let count = Expr::sum(outs.iter().map(|o| (F::ONE, o.is_real.clone())));
        let net = Expr::sum(
            outs.iter()
                .flat_map(|o| [(F::ONE, o.received.clone()), (-F::ONE, o.spent.clone())]),
        );
        let volume = Expr::sum(outs.iter().map(|o| (F::ONE, o.spent.clone())));
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
        for (tree, nodes, leaves) in [
            (
                "deposit",
                &table.deposit_nodes,
                outs.iter()
                    .map(|o| o.deposit_leaf.clone())
                    .collect::<Vec<_>>(),
            ),
            (
                "balance",
                &table.balance_nodes,
                outs.iter()
                    .map(|o| o.balance_leaf.clone())
                    .collect::<Vec<_>>(),
            ),
        ] {
            let mut cs = cs.namespace(|| format!("{tree} tree"));
            let sub_root = if leaves.len() == 1 {
                leaves[0].clone()
            } else {
                merkle::root(cs.namespace(|| "chunk"), &leaves)?
            };
            let leaf_nodes: Vec<Option<&Expr>> = (0..m).map(|j| Some(&nodes[m + j])).collect();
            let selected = select(&mut cs, "sub-root", &bits, &leaf_nodes)?;
            enforce_equal(&mut cs, "sub-root matches", &selected, &sub_root);

            // 4. The inner node c (none for c = 0: its selections are forced to 0 and
            // the check is switched off by (1 − s_0)).
            let pick = |f: &dyn Fn(usize) -> usize| -> Vec<Option<&Expr>> {
                (0..m).map(|j| (j > 0).then(|| &nodes[f(j)])).collect()
            };
            let node = select(&mut cs, "node", &bits, &pick(&|j| j))?;
            let left = select(&mut cs, "left child", &bits, &pick(&|j| 2 * j))?;
            let right = select(&mut cs, "right child", &bits, &pick(&|j| 2 * j + 1))?;
            let parent = poseidon::poseidon(cs.namespace(|| "parent"), &[left, right])?;
            enforce(
                &mut cs,
                "node = Poseidon(children)",
                &Expr::from(1).sub(&bits[0]),
                &node.sub(&parent),
                &Expr::zero(),
            );
        }
        Ok(())
    }
}

/// The columns of the row the one-hot `bits` select ([`ROW_COLUMNS`] selections).
pub(crate) fn select_row<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    bits: &[Expr],
    rows: &[RowVars],
) -> Result<Vec<Expr>, SynthesisError> {
    (0..ROW_COLUMNS)
        .map(|t| {
            let column: Vec<Option<&Expr>> = rows.iter().map(|r| Some(r.columns()[t])).collect();
            select(cs, &format!("row column {t}"), bits, &column)
        })
        .collect()
}

/// The selected `row` is what the chunk's slots show: first and last `(is_real, id)`,
/// the count of real slots, the net and the volume, in column order.
pub(crate) fn prove_row<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    row: &[Expr],
    own: [&Expr; ROW_COLUMNS],
) {
    let names = [
        "row first_real",
        "row first_id",
        "row last_real",
        "row last_id",
        "row count",
        "row net",
        "row volume",
    ];
    for ((selected, own), name) in row.iter().zip(own).zip(names) {
        enforce_equal(cs, name, selected, own);
    }
}

/// One-hot bits `s_0..s_m` selecting row `c` (`index` is its value): `Σ s_j = 1`,
/// `Σ j·s_j = c` (`m + 2` constraints).
pub(crate) fn one_hot<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    m: usize,
    index: Option<usize>,
    c: &Expr,
) -> Result<Vec<Expr>, SynthesisError> {
    let bits = (0..m)
        .map(|j| {
            alloc_boolean_value(
                cs.namespace(|| format!("select {j}")),
                "bit",
                index.map(|i| F::from(u64::from(i == j))),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    enforce_equal(
        cs,
        "one row selected",
        &Expr::sum(bits.iter().map(|b| (F::ONE, b.clone()))),
        &Expr::from(1),
    );
    enforce_equal(
        cs,
        "selected row is the chunk index",
        &Expr::sum(
            bits.iter()
                .enumerate()
                .map(|(j, b)| (F::from(j as u64), b.clone())),
        ),
        c,
    );
    Ok(bits)
}

/// The value `Σ_j s_j · x_j` for one-hot `bits`, enforced with one constraint per row:
/// `s_j · (x_j − v) = 0`, or `s_j · v = 0` where a row has no value (`None`).
pub(crate) fn select<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    name: &str,
    bits: &[Expr],
    column: &[Option<&Expr>],
) -> Result<Expr, SynthesisError> {
    let mut cs = cs.namespace(|| name);
    let value = bits
        .iter()
        .zip(column)
        .map(|(b, x)| match x {
            Some(x) => b.value().zip(x.value()).map(|(b, x)| b * x),
            None => Some(F::ZERO),
        })
        .sum::<Option<F>>();
    let v = alloc(&mut cs, "value", value)?;
    for (j, (b, x)) in bits.iter().zip(column).enumerate() {
        let diff = match x {
            Some(x) => x.sub(&v),
            None => v.clone(),
        };
        enforce(&mut cs, &format!("row {j}"), b, &diff, &Expr::zero());
    }
    Ok(v)
}

impl TableCircuit for StepCircuit {
    type Table = ChunkTable;

    fn layout(&self) -> Layout {
        self.layout
    }

    fn table(&self) -> Option<&Arc<ChunkTable>> {
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

table_circuit!(StepCircuit);
