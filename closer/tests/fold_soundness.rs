//! The folded close against cheats that only exist because the epoch is cut into
//! chunks: each builds a witness the way a dishonest prover would (chunks swapped or
//! replayed, the chunk table lying about a chunk, value moved between chunks, ids
//! duplicated across a boundary, value in a padding chunk) and checks which circuit
//! refuses it. Proof-level cheats (a step instance dropped or repeated, a proof
//! replayed for another epoch) are in `prove_verify.rs`.

mod common;

use closer::circuit::{CloseAssignment, FoldedClose};
use closer::field::F;
use closer::table::{ChunkTable, heap_nodes};
use closer::witness::assignment;
use closer::{Layout, testing::synthetic_snapshot};
use common::*;
use ff::Field;

/// 16 channels in 16 slots: K = 4, M = 4.
fn honest16() -> CloseAssignment {
    assignment(
        &synthetic_snapshot(HUB, EPOCH, 16),
        &closer::testing::volume_blind(),
    )
    .unwrap()
    .1
}

fn layout_of(a: &CloseAssignment) -> Layout {
    Layout::for_slots(a.slots.len()).unwrap()
}

fn table_of(a: &CloseAssignment) -> ChunkTable {
    ChunkTable::build(
        a.public[0],
        a.public[1],
        layout_of(a),
        a.volume_blind,
        &a.slots,
    )
}

/// Every circuit's first unsatisfied constraint, with `table`.
fn broken_with(a: &CloseAssignment, table: ChunkTable) -> Vec<String> {
    FoldedClose::with_table(a, layout_of(a), table).check_all()
}

/// Every circuit's first unsatisfied constraint, with the honest table of the slots,
/// and public roots taken from that table (so only the rule under test can fail).
fn broken_roots_aside(a: &mut CloseAssignment) -> Vec<String> {
    let table = table_of(a);
    a.public[3] = table.deposit_nodes[1];
    a.public[4] = table.balance_nodes[1];
    broken_with(a, table)
}

fn rebuild_tree(table: &mut ChunkTable) {
    let m = table.rows.len();
    table.deposit_nodes = heap_nodes(&table.deposit_nodes[m..]);
    table.balance_nodes = heap_nodes(&table.balance_nodes[m..]);
}

#[test]
fn the_honest_folded_close_satisfies_every_circuit() {
    let a = honest16();
    assert_eq!(
        layout_of(&a),
        Layout {
            statement: closer::layout::Statement::Full,
            slots_per_chunk: 4,
            chunks: 4
        }
    );
    assert_eq!(broken_with(&a, table_of(&a)), Vec::<String>::new());
    // The table's root is the native statement's.
    let (public, _) = channel::statement::close_public_inputs(
        &synthetic_snapshot(HUB, EPOCH, 16),
        &closer::testing::volume_blind(),
    )
    .unwrap();
    assert_eq!(
        closer::field::f_to_fe(&table_of(&a).deposit_nodes[1]),
        public.deposits_root
    );
}

#[test]
fn two_chunks_swapped_with_recomputed_roots_are_rejected() {
    // The prover swaps chunks 1 and 2 and even publishes the roots of the swapped
    // order: every chunk is internally valid, only the order across boundaries breaks.
    let mut a = honest16();
    let k = 4;
    let moved: Vec<_> = a.slots[2 * k..3 * k].to_vec();
    let kept: Vec<_> = a.slots[k..2 * k].to_vec();
    a.slots[k..2 * k].clone_from_slice(&moved);
    a.slots[2 * k..3 * k].clone_from_slice(&kept);
    let broken = broken_roots_aside(&mut a);
    assert!(
        broken.len() == 1 && broken[0].starts_with("core/boundary 2/id gap range"),
        "{broken:?}"
    );
}

#[test]
fn a_chunk_replayed_from_another_hub_is_rejected() {
    // Chunk 1's slots come from another hub's epoch (same keys and amounts): its
    // vouchers are signed for that hub, and the step reads hub_id from the table.
    let mut a = honest16();
    let other = assignment(
        &synthetic_snapshot(HUB + 1, EPOCH, 16),
        &closer::testing::volume_blind(),
    )
    .unwrap()
    .1;
    a.slots[4..8].clone_from_slice(&other.slots[4..8]);
    let broken = broken_roots_aside(&mut a);
    assert!(
        broken.len() == 1 && broken[0].starts_with("step 1/slot 0/signature/"),
        "{broken:?}"
    );
}

#[test]
fn a_chunk_replayed_from_another_epoch_is_rejected() {
    // Chunk 1 as it was an epoch earlier (channel 5 had deposited less): its slots are
    // valid on their own, but the deposits root is no longer the one the settlement
    // layer recorded for this epoch.
    let snap = synthetic_snapshot(HUB, EPOCH, 16);
    let mut earlier = snap.clone();
    earlier.channels[4].deposit -= 1000;
    let mut a = assignment(&snap, &closer::testing::volume_blind())
        .unwrap()
        .1;
    let old = assignment(&earlier, &closer::testing::volume_blind())
        .unwrap()
        .1;
    a.slots[4..8].clone_from_slice(&old.slots[4..8]);
    let broken = broken_with(&a, table_of(&a));
    assert_eq!(broken, ["core/deposits_root matches"]);
    // Nor can the table claim another epoch than the public one.
    let a = honest16();
    let mut table = table_of(&a);
    table.epoch += F::ONE;
    assert_eq!(broken_with(&a, table), ["core/epoch matches the table"]);
    let mut table = table_of(&a);
    table.hub_id += F::ONE;
    let broken = broken_with(&a, table);
    assert!(
        broken.contains(&"core/hub_id matches the table".to_string()),
        "{broken:?}"
    );
}

#[test]
fn a_chunk_sub_root_the_core_does_not_use_is_rejected() {
    let a = honest16();
    // The table's leaf for chunk 2 is not what chunk 2's slots hash to (and the tree
    // above it is rebuilt so the root still matches the published one).
    let mut table = table_of(&a);
    table.deposit_nodes[4 + 2] += F::ONE;
    rebuild_tree(&mut table);
    let mut b = a.clone();
    b.public[3] = table.deposit_nodes[1];
    let broken = broken_with(&b, table);
    assert_eq!(broken, ["step 2/deposit tree/sub-root matches"]);
    // An inner node that is not the hash of its children: the root the core publishes
    // is then not built from the sub-roots.
    let mut table = table_of(&a);
    table.balance_nodes[1] += F::ONE;
    let mut b = a.clone();
    b.public[4] = table.balance_nodes[1];
    let broken = broken_with(&b, table);
    assert_eq!(broken, ["step 1/balance tree/node = Poseidon(children)"]);
}

#[test]
fn value_moved_between_chunks_is_rejected() {
    // Globally balanced (Σ net still 0), but chunk 0's row says it received 5 more
    // than its slots did, and chunk 3's 5 less.
    let a = honest16();
    let mut table = table_of(&a);
    table.rows[0].net += F::from(5u64);
    table.rows[3].net -= F::from(5u64);
    assert_eq!(broken_with(&a, table), ["step 0/row net", "step 3/row net"]);
    // Same with counts: n unchanged, chunk boundaries unchanged.
    let mut table = table_of(&a);
    table.rows[1].count += F::ONE;
    table.rows[2].count -= F::ONE;
    assert_eq!(
        broken_with(&a, table),
        ["step 1/row count", "step 2/row count"]
    );
}

#[test]
fn a_duplicate_id_across_a_chunk_boundary_is_rejected() {
    // Chunks of 2 (4 slots, K = 2): channel 2 is the last of chunk 0, and chunk 1
    // starts with an idle channel claiming id 2 again (no signature needed: S = 0).
    let channels = vec![
        spender(1, 1, 100, 10, 2, 0),
        spender(2, 2, 0, 0, 0, 10),
        spender(3, 3, 7, 0, 0, 0),
        spender(4, 4, 9, 0, 0, 0),
    ];
    let snap = channel::ledger::Snapshot::new(HUB, EPOCH, channels, &channel::Fe::from(1u64));
    let mut a = assignment(&snap, &closer::testing::volume_blind())
        .unwrap()
        .1;
    assert_eq!(layout_of(&a).slots_per_chunk, 2);
    a.slots[2].id = a.slots[1].id;
    let broken = broken_roots_aside(&mut a);
    assert!(
        broken.len() == 1 && broken[0].starts_with("core/boundary 1/id gap range"),
        "{broken:?}"
    );
    // An id going down across the boundary.
    let mut a = assignment(&snap, &closer::testing::volume_blind())
        .unwrap()
        .1;
    a.slots[2].id = F::ONE;
    let broken = broken_roots_aside(&mut a);
    assert!(
        broken.len() == 1 && broken[0].starts_with("core/boundary 1/id gap range"),
        "{broken:?}"
    );
}

#[test]
fn a_real_slot_after_a_padding_chunk_boundary_is_rejected() {
    // 9 channels in 16 slots: chunk 2 ends in padding; a real channel placed at the
    // start of chunk 3 (with chunk 2's padding before it) breaks "real slots first"
    // at the boundary.
    let mut a = assignment(
        &synthetic_snapshot(HUB, EPOCH, 9),
        &closer::testing::volume_blind(),
    )
    .unwrap()
    .1;
    let real = a.slots[8].clone();
    a.slots[8] = closer::circuit::SlotAssignment::padding();
    a.slots[12] = real;
    let broken = broken_roots_aside(&mut a);
    assert!(
        broken
            .iter()
            .any(|b| b == "core/boundary 3/real slots first"),
        "{broken:?}"
    );
}

#[test]
fn a_padding_chunk_carrying_value_is_rejected() {
    // 9 channels in 16 slots: chunk 3 (slots 12..16) is all padding.
    let a = assignment(
        &synthetic_snapshot(HUB, EPOCH, 9),
        &closer::testing::volume_blind(),
    )
    .unwrap()
    .1;
    assert_eq!(broken_with(&a, table_of(&a)), Vec::<String>::new());
    // Value in one of its slots (kept out of sight of Σ by the row).
    let mut b = a.clone();
    b.slots[13].received = F::from(5u64);
    b.slots[13].balance = F::from(5u64);
    let broken = broken_roots_aside(&mut b);
    assert!(
        broken.contains(&"step 3/slot 1/padding has no payments".to_string()),
        "{broken:?}"
    );
    // Or its row claiming a net and a count its slots do not have.
    let mut table = table_of(&a);
    table.rows[3].net = F::from(5u64);
    table.rows[0].net -= F::from(5u64);
    table.rows[3].count = F::ONE;
    table.rows[0].count -= F::ONE;
    let broken = broken_with(&a, table);
    assert!(
        broken.contains(&"step 3/row count".to_string()),
        "{broken:?}"
    );
}

/// `Poseidon(VOLUME, v, rv)` as a circuit scalar.
fn volume_commitment(v: u128, rv: F) -> F {
    use closer::field::{f_to_fe, fe_to_f};
    fe_to_f(&channel::volume::volume_commitment(v, &f_to_fe(&rv)))
}

#[test]
fn a_full_close_that_understates_its_volume_is_rejected() {
    // Channel i spent i: Σ S over 16 channels is 136.
    let honest = honest16();
    assert_eq!(
        honest.public[5],
        volume_commitment(136, honest.volume_blind)
    );
    for claimed in [135, 0, 137] {
        let mut a = honest.clone();
        a.public[5] = volume_commitment(claimed, a.volume_blind);
        let broken = broken_with(&a, table_of(&a));
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(
            broken[0].starts_with("core/volume_commitment"),
            "{broken:?}"
        );
    }
    let mut a = honest;
    a.public[5] = volume_commitment(136, a.volume_blind + F::ONE);
    assert!(broken_with(&a, table_of(&a))[0].starts_with("core/volume_commitment"));
}

#[test]
fn a_full_close_chunk_row_that_misstates_its_volume_is_rejected() {
    let a = honest16();
    let mut table = table_of(&a);
    table.rows[0].volume -= F::ONE;
    table.rows[2].volume += F::ONE;
    let broken = broken_with(&a, table);
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(broken[0].starts_with("step 0/") && broken[0].contains("row volume"));
    assert!(broken[1].starts_with("step 2/") && broken[1].contains("row volume"));
}
