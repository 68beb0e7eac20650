//! The core circuit: what spans chunks, over the shared chunk table ([`crate::table`]).
//!
//! Public values, in order: `hub_id, epoch, n, deposits_root, balances_root,
//! volume_commitment` (the settlement layer's six inputs; nothing per chunk is public).
//! It enforces:
//!
//! - the table's `hub_id` and `epoch` are the public ones (every step reads `hub_id`
//!   from the table, so every chunk is bound to this hub and epoch);
//! - `n = Σ count` and `Σ net = 0` (`Σ R = Σ S` across chunks; each chunk's net stays
//!   hidden in the table);
//! - the roots are `node[1]` of both trees (the steps check every inner node);
//! - `volume_commitment = Poseidon(VOLUME, Σ volume, rv)` with `rv` from the table
//!   (each chunk's `volume = Σ S` is proved by its step: [`volume_commitment`]);
//! - across each chunk boundary, the slot order rules: real slots first
//!   (`first_real_j · (1 − last_real_(j−1)) = 0`) and ids strictly increasing
//!   (`first_real_j · (first_id_j − last_id_(j−1) − 1)` is a 32-bit number).

use std::sync::Arc;

use bellpepper_core::num::AllocatedNum;
use bellpepper_core::{ConstraintSystem, SynthesisError};
use ff::Field;

use crate::field::F;
use crate::gadgets::{Expr, alloc_input, enforce_equal};
use crate::layout::Layout;
use crate::slot::{NUM_PUBLIC_INPUTS, id_order};
use crate::table::{ChunkTable, RowVars, TableCircuit, table_circuit, table_vars};

/// Names of the public inputs, in order.
pub const PUBLIC_INPUT_NAMES: [&str; NUM_PUBLIC_INPUTS] = [
    "hub_id",
    "epoch",
    "n",
    "deposits_root",
    "balances_root",
    "volume_commitment",
];

/// The core of a folded close, with or without a witness.
#[derive(Clone, Debug)]
pub struct CoreCircuit {
    layout: Layout,
    witness: Option<(Arc<ChunkTable>, [F; NUM_PUBLIC_INPUTS])>,
}

impl CoreCircuit {
    /// The shape only.
    pub fn blank(layout: Layout) -> Self {
        CoreCircuit {
            layout,
            witness: None,
        }
    }

    /// The core over `table` with `public` inputs.
    pub fn new(layout: Layout, table: Arc<ChunkTable>, public: [F; NUM_PUBLIC_INPUTS]) -> Self {
        CoreCircuit {
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
        let table = table_vars(self.layout, shared)?;
        let public = PUBLIC_INPUT_NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| alloc_input(&mut *cs, name, self.witness.as_ref().map(|w| w.1[i])))
            .collect::<Result<Vec<_>, _>>()?;
        totals(
            cs,
            [&table.hub_id, &table.epoch],
            &table.rows,
            &public,
            "Σ R = Σ S",
        );
        enforce_equal(
            cs,
            "deposits_root matches",
            &public[3],
            &table.deposit_nodes[1],
        );
        enforce_equal(
            cs,
            "balances_root matches",
            &public[4],
            &table.balance_nodes[1],
        );
        volume_commitment(cs, &table.rows, &table.volume_blind, &public[5])?;
        boundaries(cs, &table.rows)
    }
}

/// `commitment = Poseidon(VOLUME, Σ volume, rv)` over the rows' volumes (each proved by
/// its step; every one is a sum of at most `2^20` 64-bit numbers, so the field sum is
/// the integer sum). One Poseidon and one equality.
pub(crate) fn volume_commitment<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    rows: &[RowVars],
    blind: &Expr,
    commitment: &Expr,
) -> Result<(), SynthesisError> {
    let volume = Expr::sum(rows.iter().map(|r| (F::ONE, r.volume.clone())));
    let tag = Expr::constant(crate::field::fe_to_f(&channel::volume::TAG_VOLUME));
    let computed = crate::gadgets::poseidon::poseidon(
        cs.namespace(|| "volume commitment"),
        &[tag, volume, blind.clone()],
    )?;
    enforce_equal(
        cs,
        "volume_commitment = Poseidon(VOLUME, Σ volume, rv)",
        &computed,
        commitment,
    );
    Ok(())
}

/// Constraints of [`volume_commitment`].
pub fn volume_commitment_constraints() -> usize {
    crate::gadgets::poseidon::num_constraints(3, 1) + 1
}

/// What every core checks of the table first: its `hub_id` and `epoch` are the public
/// ones (`public[0..2]`), `n = Σ count` (`public[2]`) and the rows' nets sum to zero
/// (the constraint named `net_rule`).
pub(crate) fn totals<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    [hub_id, epoch]: [&Expr; 2],
    rows: &[RowVars],
    public: &[Expr],
    net_rule: &str,
) {
    enforce_equal(cs, "hub_id matches the table", hub_id, &public[0]);
    enforce_equal(cs, "epoch matches the table", epoch, &public[1]);
    let count = Expr::sum(rows.iter().map(|r| (F::ONE, r.count.clone())));
    enforce_equal(cs, "n = Σ is_real", &public[2], &count);
    let net = Expr::sum(rows.iter().map(|r| (F::ONE, r.net.clone())));
    enforce_equal(cs, net_rule, &net, &Expr::zero());
}

/// Across each chunk boundary: real slots first and ids strictly increasing.
pub(crate) fn boundaries<CS: ConstraintSystem<F>>(
    cs: &mut CS,
    rows: &[RowVars],
) -> Result<(), SynthesisError> {
    for (j, pair) in rows.windows(2).enumerate() {
        let mut cs = cs.namespace(|| format!("boundary {}", j + 1));
        let previous = (pair[0].last_real.clone(), pair[0].last_id.clone());
        id_order(&mut cs, &pair[1].first_real, &pair[1].first_id, &previous)?;
    }
    Ok(())
}

impl TableCircuit for CoreCircuit {
    type Table = ChunkTable;

    fn layout(&self) -> Layout {
        self.layout
    }

    fn table(&self) -> Option<&Arc<ChunkTable>> {
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

table_circuit!(CoreCircuit);
