//! The settlement layer with incremental closes (docs/DESIGN.md §8.2): the chain of
//! state roots, the deposits hash recorded at each cut, and withdrawals against the
//! state root — with the hub's ledger mirroring every event through the real batch
//! path. Proofs are stubbed (the inputs' JSON); the closer's tests prove for real.

#[path = "settlement_support.rs"]
mod support;

use channel::incremental::ClosedState;
use channel::settlement::{InputField, OpeningFault, SettlementError};
use channel::state_tree::empty_root;
use support::*;

#[test]
fn closes_touch_only_what_moved_and_a_withdrawal_opens_the_state_root() {
    // 1: payer, 2: payee, 3: another payer, 4: idle from the start.
    let mut w = World::new(&[1_000, 10, 500, 70]);
    let mut state = ClosedState::genesis(HUB_ID);
    w.pay(1, 2, 100);
    w.pay(3, 2, 50);
    let first = w.cut_and_close_incremental(1, &mut state);
    assert_eq!(first.inputs.n, 4, "the first close brings every channel in");
    assert_eq!(first.inputs.prev_root, empty_root());

    // Epoch 2: only 1 → 2 moves; Alice (1) asks to exit.
    w.pay(1, 2, 200);
    w.chain.request_exit(1, &w.exit_sig(1)).unwrap();
    w.chain.advance(3).unwrap();
    let second = w.cut_and_close_incremental(2, &mut state);
    let touched: Vec<u32> = second.slots.iter().map(|s| s.id).collect();
    assert_eq!(touched, [1, 2]);
    assert_eq!(second.inputs.prev_root, first.inputs.new_root);

    // She withdraws her balance, opened against the accepted state root.
    let opening = state.balance_opening(1).unwrap();
    assert_eq!(opening.balance, 700);
    assert_eq!(w.chain.withdraw(1, &opening), Ok(700));
    w.chain.check_invariants();

    // Epoch 3: nothing was paid, but her net deposit changed: she alone is touched,
    // with a deposit change, and her balance is now 0.
    w.chain.advance(5).unwrap();
    let third = w.cut_and_close_incremental(3, &mut state);
    let touched: Vec<(u32, bool)> = third
        .slots
        .iter()
        .map(|s| (s.id, s.deposit_changed))
        .collect();
    assert_eq!(touched, [(1, true)]);
    assert_eq!(state.channel(1).unwrap().balance, 0);
    // Σ B over the state equals what the layer holds for channels.
    let held: i128 = (1..=4)
        .map(|i| w.chain.channel(i).unwrap().net_deposit)
        .sum();
    let balances: u64 = (1..=4).map(|i| state.channel(i).unwrap().balance).sum();
    assert_eq!(held, i128::from(balances));
}

#[test]
fn an_incremental_close_must_extend_the_previous_state_root() {
    let mut w = World::new(&[1_000, 10]);
    let mut state = ClosedState::genesis(HUB_ID);
    w.pay(1, 2, 100);
    w.cut_and_close_incremental(1, &mut state);
    w.pay(1, 2, 100);
    w.mirror();
    w.chain.advance(3).unwrap();
    w.chain.cut_epoch(2).unwrap();
    let (witness, _) = state
        .close(&w.snapshot(2), &channel::Fe::from(5u64))
        .unwrap();

    // Built on another root (the empty tree, as if epoch 1 never happened).
    let mut forked = witness.inputs;
    forked.prev_root = empty_root();
    let proof = serde_json::to_vec(&forked).unwrap();
    let before = w.chain.clone();
    let err = w
        .chain
        .submit_incremental_close(&forked, &proof, &ProofIsInputs)
        .unwrap_err();
    assert!(
        matches!(
            err,
            SettlementError::InputMismatch {
                field: InputField::PrevRoot,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(w.chain, before, "a refused close changes nothing");

    // A deposits hash other than the one recorded at the cut.
    let mut hidden = witness.inputs;
    hidden.deposits_hash += channel::Fe::from(1u64);
    let proof = serde_json::to_vec(&hidden).unwrap();
    let err = w
        .chain
        .submit_incremental_close(&hidden, &proof, &ProofIsInputs)
        .unwrap_err();
    assert!(
        matches!(
            err,
            SettlementError::InputMismatch {
                field: InputField::DepositsHash,
                ..
            }
        ),
        "{err}"
    );

    // The honest one is accepted.
    let proof = serde_json::to_vec(&witness.inputs).unwrap();
    w.chain
        .submit_incremental_close(&witness.inputs, &proof, &ProofIsInputs)
        .unwrap();
}

#[test]
fn an_incremental_close_after_a_full_close_is_refused() {
    // The full close leaves no state root to extend.
    let mut w = World::new(&[1_000, 10]);
    w.pay(1, 2, 100);
    w.cut_and_close(1);
    w.mirror();
    w.chain.advance(3).unwrap();
    w.chain.cut_epoch(2).unwrap();
    let mut state = ClosedState::genesis(HUB_ID);
    state.epoch = 1;
    let (witness, _) = state
        .close(&w.snapshot(2), &channel::Fe::from(5u64))
        .unwrap();
    let proof = serde_json::to_vec(&witness.inputs).unwrap();
    assert_eq!(
        w.chain
            .submit_incremental_close(&witness.inputs, &proof, &ProofIsInputs),
        Err(SettlementError::NoStateRoot(1))
    );
}

#[test]
fn openings_of_the_wrong_tree_or_channel_are_refused() {
    let mut w = World::new(&[1_000, 10, 30]);
    let mut state = ClosedState::genesis(HUB_ID);
    w.pay(1, 2, 100);
    w.chain.request_exit(1, &w.exit_sig(1)).unwrap();
    w.chain.request_exit(3, &w.exit_sig(3)).unwrap();
    w.cut_and_close_incremental(1, &mut state);

    // A binary-tree opening (the full close's) against an incremental close.
    let binary = channel::statement::balance_opening(&w.snapshot(1), 1).unwrap();
    assert_eq!(
        w.chain.withdraw(1, &binary),
        Err(SettlementError::BadOpening(OpeningFault::WrongTree))
    );
    // Channel 1's leaf presented for channel 3 (with 3's key, so the leaf differs).
    let mut moved = state.balance_opening(1).unwrap();
    moved.channel = 3;
    moved.index = 3;
    moved.pk = w.pk(3);
    assert_eq!(
        w.chain.withdraw(3, &moved),
        Err(SettlementError::BadOpening(OpeningFault::NotInTree))
    );
    // A balance raised in the opening.
    let mut raised = state.balance_opening(1).unwrap();
    raised.balance += 1;
    assert_eq!(
        w.chain.withdraw(1, &raised),
        Err(SettlementError::BadOpening(OpeningFault::NotInTree))
    );
    // The honest ones pay.
    assert_eq!(
        w.chain.withdraw(1, &state.balance_opening(1).unwrap()),
        Ok(900)
    );
    assert_eq!(
        w.chain.withdraw(3, &state.balance_opening(3).unwrap()),
        Ok(30)
    );
}

#[test]
fn an_epoch_cut_without_a_deposits_hash_cannot_be_closed_incrementally() {
    // A settlement file written before deposits hashes were recorded: its pending cut
    // has none, and 0 ("nothing changed") must not stand in for it.
    let mut w = World::new(&[1_000, 10]);
    w.pay(1, 2, 100);
    w.mirror();
    w.chain.cut_epoch(1).unwrap();
    let mut json = serde_json::to_value(&w.chain).unwrap();
    let text = json.to_string();
    assert!(text.contains("deposits_hash"), "the field is written");
    strip(&mut json, "deposits_hash");
    let mut old: channel::settlement::Settlement = serde_json::from_value(json).unwrap();
    assert_eq!(old.epoch(1).unwrap().deposits_hash, None);
    let (witness, _) = ClosedState::genesis(HUB_ID)
        .close(&w.snapshot(1), &channel::Fe::from(5u64))
        .unwrap();
    let proof = serde_json::to_vec(&witness.inputs).unwrap();
    assert_eq!(
        old.submit_incremental_close(&witness.inputs, &proof, &ProofIsInputs),
        Err(SettlementError::NoDepositsHash(1))
    );
}

fn strip(v: &mut serde_json::Value, key: &str) {
    match v {
        serde_json::Value::Object(map) => {
            map.remove(key);
            map.values_mut().for_each(|x| strip(x, key));
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|x| strip(x, key)),
        _ => {}
    }
}
