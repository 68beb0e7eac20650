//! The incremental close against cheating witnesses (docs/DESIGN.md §8.2): every rule of
//! a touched slot and of the chaining of roots has a test that breaks it and names the
//! constraint that refuses it.
//!
//! The honest history: epoch 1 opens channels 1–4 (1 pays 2 thirty, 4 pays 1 five);
//! epoch 2 has 1 pay 3 fifteen more, channel 4 top up 25, and channel 5 open; channels 2
//! and 6 stay idle in epoch 2 (6 opened in epoch 1 and never moved).

mod common;

use channel::Fe;
use channel::incremental::{ClosedState, IncrementalWitness};
use channel::state_tree::StateTree;
use closer::field::{F, f_to_fe, fe_to_f};
use closer::incremental::table::new_leaf;
use closer::incremental::witness::assignment;
use closer::incremental::{IncrementalClose, TouchedAssignment, TransitionAssignment};
use common::{HUB, epoch1, epoch2};
use ff::Field;

/// The closed state after epoch 1 and the witness of epoch 2.
fn history() -> (ClosedState, IncrementalWitness) {
    let (_, state1) = ClosedState::genesis(HUB)
        .close(&epoch1(), &closer::testing::volume_blind())
        .expect("epoch 1 closes");
    let (witness2, _) = state1
        .close(&epoch2(), &closer::testing::volume_blind())
        .expect("epoch 2 closes");
    (state1, witness2)
}

fn honest() -> (ClosedState, TransitionAssignment) {
    let (state1, witness2) = history();
    (state1, assignment(&witness2).expect("assignment"))
}

fn broken(a: &TransitionAssignment) -> String {
    IncrementalClose::new(a)
        .expect("layout")
        .check()
        .expect_err("a cheating witness must not satisfy the circuits")
}

fn slot_of(a: &mut TransitionAssignment, id: u64) -> &mut TouchedAssignment {
    a.slots
        .iter_mut()
        .find(|s| s.is_real == F::ONE && s.id == F::from(id))
        .expect("slot")
}

fn position(s: &TouchedAssignment) -> u32 {
    let v = closer::field::f_to_biguint(&s.id);
    u32::try_from(&v).expect("small id")
}

/// Recompute every real slot's siblings and the public new root as the slots now stand,
/// applied in order to `tree` (a cheater who controls the witness does this too).
fn rechain(tree: &StateTree, a: &mut TransitionAssignment) {
    let mut tree = tree.clone();
    for s in a.slots.iter_mut().filter(|s| s.is_real == F::ONE) {
        let path = tree.path(position(s)).expect("path");
        for (level, native) in s.siblings.iter_mut().zip(&path.siblings) {
            *level = native.map(|x| fe_to_f(&x));
        }
        tree.set(position(s), f_to_fe(&new_leaf(s))).expect("set");
    }
    a.public[4] = fe_to_f(&tree.root());
}

#[test]
fn two_honest_epochs_satisfy_every_circuit() {
    let genesis = ClosedState::genesis(HUB);
    let (w1, state1) = genesis
        .close(&epoch1(), &closer::testing::volume_blind())
        .unwrap();
    assert_eq!(w1.inputs.n, 5, "the first close touches every channel");
    let a1 = assignment(&w1).unwrap();
    IncrementalClose::new(&a1).unwrap().check().unwrap();

    let (w2, _) = state1
        .close(&epoch2(), &closer::testing::volume_blind())
        .unwrap();
    let touched: Vec<u32> = w2.slots.iter().map(|s| s.id).collect();
    assert_eq!(
        touched,
        [1, 3, 4, 5],
        "idle channels 2 and 6 are not in the close"
    );
    let a2 = assignment(&w2).unwrap();
    IncrementalClose::new(&a2).unwrap().check().unwrap();
}

#[test]
fn an_epoch_where_nothing_moved_is_all_padding() {
    let (_, state1) = ClosedState::genesis(HUB)
        .close(&epoch1(), &closer::testing::volume_blind())
        .unwrap();
    let mut same = epoch1();
    same.epoch = 2;
    let (w, _) = state1
        .close(&same, &closer::testing::volume_blind())
        .unwrap();
    assert_eq!(w.inputs.n, 0);
    assert_eq!(w.inputs.prev_root, w.inputs.new_root);
    IncrementalClose::new(&assignment(&w).unwrap())
        .unwrap()
        .check()
        .unwrap();
}

#[test]
fn an_old_leaf_not_in_the_previous_root_is_rejected() {
    // The payee claims it had received 1 less before (so its ΔR, and the total, stay).
    let (_, mut a) = honest();
    let payee = slot_of(&mut a, 3);
    payee.old.received = F::ONE;
    payee.new.received += F::ONE;
    payee.new.balance += F::ONE;
    let why = broken(&a);
    assert!(why.contains("slot"), "{why}");
    assert!(why.contains("old leaf is in the running root"), "{why}");
}

#[test]
fn a_touched_channel_left_out_is_rejected() {
    // The payee's credit is left out of the close (its leaf keeps R = 0) while the
    // payer's spend is in: the paths are recomputed, the totals no longer match.
    let (state1, mut a) = honest();
    let i = a.slots.iter().position(|s| s.id == F::from(3u64)).unwrap();
    a.slots.remove(i);
    a.slots
        .push(TouchedAssignment::padding(a.slots[0].siblings));
    a.public[2] -= F::ONE;
    rechain(&state1.tree, &mut a);
    assert_eq!(broken(&a), "core/Σ ΔR = Σ ΔS");
}

#[test]
fn a_leaf_moved_to_another_position_is_rejected() {
    // Channel 5's new leaf under the path of position 7 (another empty position).
    let (state1, mut a) = honest();
    let elsewhere = state1.tree.path(7).unwrap();
    let new = slot_of(&mut a, 5);
    for (level, native) in new.siblings.iter_mut().zip(&elsewhere.siblings) {
        *level = native.map(|x| fe_to_f(&x));
    }
    let why = broken(&a);
    assert!(why.contains("old leaf is in the running root"), "{why}");

    // Or the leaf says it is channel 7: not the channel whose deposit the
    // settlement layer recorded.
    let (state1, mut a) = honest();
    slot_of(&mut a, 5).id = F::from(7u64);
    rechain(&state1.tree, &mut a);
    assert_eq!(broken(&a), "core/ends at deposits_hash");
}

#[test]
fn two_updates_to_the_same_leaf_in_one_epoch_are_rejected() {
    // The payer's update applied, then applied again (paths recomputed): ids must
    // strictly increase.
    let (state1, mut a) = honest();
    let i = a.slots.iter().position(|s| s.id == F::ONE).unwrap();
    let mut again = a.slots[i].clone();
    again.old = again.new.clone();
    a.slots.insert(i + 1, again);
    a.slots.pop();
    a.public[2] += F::ONE;
    rechain(&state1.tree, &mut a);
    let why = broken(&a);
    assert!(why.contains("id gap"), "{why}");
}

#[test]
fn a_new_root_not_built_from_the_old_one_is_rejected() {
    // The public previous root is another tree's (the empty tree): the slots' old
    // leaves are not in it.
    let (_, mut a) = honest();
    a.public[3] = fe_to_f(&channel::state_tree::empty_root());
    let why = broken(&a);
    assert!(why.contains("old leaf is in the running root"), "{why}");

    // The table's boundaries are honest but the public new root is another.
    let (_, mut a) = honest();
    a.public[4] += F::ONE;
    assert_eq!(broken(&a), "core/ends at new_root");

    // The table claims a chunk ends at a root its slots do not reach.
    let (_, a) = honest();
    let close = IncrementalClose::new(&a).unwrap();
    let mut table = (*close.table).clone();
    table.roots[1] += F::ONE;
    let cheat = IncrementalClose::with_table(&a, close.layout, table);
    let why = cheat.check().unwrap_err();
    assert!(why.starts_with("step 0/"), "{why}");
    assert!(why.contains("chunk ends at root[c + 1]"), "{why}");
}

#[test]
fn a_received_amount_lowered_is_rejected() {
    // Channel 2 (idle, R = 30) is touched to lower its R by 15, and that 15 is
    // credited to channel 3 instead of the payer's spend: Σ ΔR = Σ ΔS still holds.
    let (state1, w) = history();
    let mut a = assignment(&w).unwrap();
    let closed = state1.channel(2).expect("channel 2 closed").clone();
    let mut lowered = a.slots[0].clone();
    lowered.id = F::from(2u64);
    lowered.key = closer::witness::key_point(&closed.pk);
    lowered.is_new = F::ZERO;
    lowered.deposit_changed = F::ZERO;
    lowered.old = closer::incremental::LeafValues {
        deposit: F::ZERO,
        spent: F::ZERO,
        received: F::from(30u64),
        balance: F::from(30u64),
        blind: fe_to_f(&closed.blind),
    };
    lowered.new = closer::incremental::LeafValues {
        deposit: F::ZERO,
        spent: F::ZERO,
        received: F::from(15u64),
        balance: F::from(15u64),
        blind: fe_to_f(&closed.blind),
    };
    lowered.sig = closer::gadgets::eddsa::dummy_signature();
    let payee = a.slots.iter().position(|s| s.id == F::from(3u64)).unwrap();
    a.slots[payee].new.received += F::from(15u64);
    a.slots[payee].new.balance += F::from(15u64);
    a.slots.insert(1, lowered);
    a.slots.pop();
    a.public[2] += F::ONE;
    rechain(&state1.tree, &mut a);
    let why = broken(&a);
    assert!(why.contains("received grows"), "{why}");
}

#[test]
fn a_deposit_change_hidden_from_the_close_is_rejected() {
    // Channel 4's top-up flagged as no change.
    let (_, mut a) = honest();
    slot_of(&mut a, 4).deposit_changed = F::ZERO;
    let why = broken(&a);
    assert!(why.contains("an unchanged deposit stays"), "{why}");
}

#[test]
fn a_deposit_change_the_settlement_layer_did_not_record_is_rejected() {
    let (_, mut a) = honest();
    a.public[5] = F::ZERO;
    assert_eq!(broken(&a), "core/ends at deposits_hash");
}

#[test]
fn a_new_channel_claimed_over_an_existing_leaf_is_rejected() {
    // The payer "opens anew" with nothing spent before: its old leaf is not empty.
    let (_, mut a) = honest();
    let payer = slot_of(&mut a, 1);
    payer.is_new = F::ONE;
    payer.deposit_changed = F::ONE;
    payer.old = closer::incremental::LeafValues::zero();
    let why = broken(&a);
    assert!(why.contains("old leaf is in the running root"), "{why}");
}

#[test]
fn a_new_channel_with_a_history_is_rejected() {
    let (_, mut a) = honest();
    // Channel 5 opens "having received 10 before", so its ΔR is 0 and the 10 comes
    // from nowhere.
    let new = slot_of(&mut a, 5);
    new.old.received = F::from(10u64);
    new.new.received = F::from(10u64);
    new.new.balance += F::from(10u64);
    let why = broken(&a);
    assert!(why.contains("a new channel has received nothing"), "{why}");
}

#[test]
fn padding_with_old_value_is_rejected() {
    // Epoch 1 touches five channels: three padding slots of eight.
    let (w1, _) = ClosedState::genesis(HUB)
        .close(&epoch1(), &closer::testing::volume_blind())
        .unwrap();
    let mut a = assignment(&w1).unwrap();
    let last = a.slots.len() - 1;
    assert_eq!(a.slots[last].is_real, F::ZERO, "the fixture has padding");
    a.slots[last].old.spent = F::from(5u64);
    let why = broken(&a);
    assert!(why.contains("padding has no old spent"), "{why}");
}

#[test]
fn an_overdraft_is_rejected() {
    // The payer spends 200 of its 105: B would be negative.
    let (_, mut a) = honest();
    let payer = slot_of(&mut a, 1);
    payer.new.spent = F::from(200u64);
    payer.new.balance = F::ZERO;
    let why = broken(&a);
    assert!(why.contains("B = D + R - S"), "{why}");
}

#[test]
fn a_forged_checkpoint_signature_is_rejected() {
    let (_, mut a) = honest();
    let payer = slot_of(&mut a, 1);
    payer.sig.s += 1u32;
    let why = broken(&a);
    assert!(why.contains("signature"), "{why}");
}

#[test]
fn chunks_swapped_are_rejected() {
    let (_, mut a) = honest();
    let k = closer::Layout::for_touched_slots(a.slots.len())
        .unwrap()
        .slots_per_chunk;
    let (first, rest) = a.slots.split_at_mut(k);
    first.swap_with_slice(&mut rest[..k]);
    assert!(IncrementalClose::new(&a).unwrap().check().is_err());
}

/// The witness of a touched slot names the channel's field elements: keep the fixture
/// honest about what it tests.
#[test]
fn the_fixture_touches_what_it_says() {
    let (_, w) = history();
    let by_id = |id: u32| w.slots.iter().find(|s| s.id == id).unwrap();
    assert!(by_id(5).old.is_none() && by_id(5).deposit_changed);
    assert!(by_id(4).deposit_changed && by_id(4).old.is_some());
    assert!(!by_id(1).deposit_changed && !by_id(3).deposit_changed);
    assert_ne!(w.inputs.deposits_hash, Fe::from(0u64));
    let _ = f_to_fe(&F::ONE);
}

/// `Poseidon(VOLUME, v, rv)` as a circuit scalar.
fn volume_commitment(v: u128, rv: F) -> F {
    fe_to_f(&channel::volume::volume_commitment(v, &f_to_fe(&rv)))
}

#[test]
fn a_close_that_understates_its_volume_is_rejected() {
    let (_, w) = history();
    assert_eq!(w.volume, 15, "epoch 2: channel 1 pays 15");
    for claimed in [w.volume - 1, 0, w.volume + 1] {
        let mut a = assignment(&w).unwrap();
        a.public[6] = volume_commitment(claimed, a.volume_blind);
        let why = broken(&a);
        assert!(why.starts_with("core/volume_commitment"), "{why}");
    }
}

#[test]
fn a_volume_commitment_with_another_blind_than_the_close_holds_is_rejected() {
    let (_, w) = history();
    let mut a = assignment(&w).unwrap();
    a.public[6] = volume_commitment(w.volume, a.volume_blind + F::ONE);
    let why = broken(&a);
    assert!(why.starts_with("core/volume_commitment"), "{why}");
}

#[test]
fn a_close_carrying_another_epochs_volume_commitment_is_rejected() {
    let seed = Fe::from(0x5eedu64);
    let blind = |e| channel::volume::volume_blind(&seed, e);
    let (w1, state1) = ClosedState::genesis(HUB)
        .close(&epoch1(), &blind(1))
        .unwrap();
    let (w2, _) = state1.close(&epoch2(), &blind(2)).unwrap();
    assert_ne!(w1.volume, w2.volume);
    let mut a = assignment(&w2).unwrap();
    a.public[6] = fe_to_f(&w1.inputs.volume_commitment);
    assert!(broken(&a).starts_with("core/volume_commitment"));
    // Even with epoch 1's blind in the table (a prover who knows the seed): the
    // volume it opens to is not this epoch's.
    a.volume_blind = fe_to_f(&w1.volume_blind);
    assert!(broken(&a).starts_with("core/volume_commitment"));
}

#[test]
fn a_chunk_row_that_misstates_its_volume_is_rejected() {
    // Volume moved from the chunk that has it to another: the total (and so the
    // commitment) is unchanged, the step of each chunk refuses its row.
    let (_, w) = history();
    let a = assignment(&w).unwrap();
    let layout = closer::Layout::for_touched_slots(a.slots.len()).unwrap();
    let mut table = closer::incremental::TransitionTable::build(
        a.public[0],
        a.public[1],
        layout,
        a.public[3],
        a.volume_blind,
        &a.slots,
    );
    assert!(table.rows.len() >= 2);
    table.rows[0].volume -= F::ONE;
    table.rows[1].volume += F::ONE;
    let why = IncrementalClose::with_table(&a, layout, table)
        .check()
        .expect_err("a lying row");
    assert!(
        why.starts_with("step 0/") && why.contains("row volume"),
        "{why}"
    );
}
