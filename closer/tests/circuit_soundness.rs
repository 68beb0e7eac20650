//! The close circuit against cheating witnesses, one test per rule of docs/DESIGN.md §8:
//! each starts from an honest assignment built from a real snapshot, breaks one rule
//! the way a dishonest hub would, and checks the constraint system is unsatisfied at
//! the constraint that guards that rule.

mod common;

use bellpepper_core::test_cs::TestConstraintSystem;
#[allow(unused_imports)]
use closer::circuit::AMOUNT_BITS;
use closer::circuit::{
    CloseAssignment, FoldedClose, SlotAssignment, core_constraints, slot_constraints,
    step_constraints,
};
use closer::field::{F, f_to_fe, fe_to_f};
use closer::gadgets::ecc::{NativePoint, subgroup_order};
use closer::gadgets::eddsa::SignatureWitness;
use closer::witness::assignment;
use common::*;
use ff::{Field, PrimeField};
use num_bigint::BigUint;
use spartan2::traits::circuit::SpartanCircuit;

fn honest3() -> CloseAssignment {
    assignment(&snapshot3(), &closer::testing::volume_blind())
        .expect("honest snapshot")
        .1
}

/// The folded close of `a` (honest chunk table of whatever the slots hold): `Ok` or
/// the first unsatisfied constraint, `"step c/…"` or `"core/…"`.
fn run(a: &CloseAssignment) -> Result<(), String> {
    FoldedClose::new(a).expect("layout").check()
}

/// The first unsatisfied constraint, asserting there is one.
fn broken(a: &CloseAssignment) -> String {
    run(a).expect_err("cheating witness must be rejected")
}

fn sign(seed: u8, id: u64, seq: u64, spent: u64, chain: F) -> SignatureWitness {
    use ark_ff::{BigInteger, PrimeField as _};
    let msg = channel::types::voucher_message(HUB, id as u32, seq, spent, &f_to_fe(&chain));
    let sig = key(seed).sign(&msg);
    SignatureWitness {
        r8: NativePoint {
            x: fe_to_f(&sig.r8.x),
            y: fe_to_f(&sig.r8.y),
        },
        s: BigUint::from_bytes_le(&sig.s.into_bigint().to_bytes_le()),
    }
}

#[test]
fn honest_snapshot_satisfies_and_roots_match_the_native_statement() {
    let snap = snapshot3();
    let (public, a) = assignment(&snap, &closer::testing::volume_blind()).unwrap();
    let folded = FoldedClose::new(&a).unwrap();
    assert_eq!(folded.check(), Ok(()));
    assert_eq!(
        (folded.layout.slots_per_chunk, folded.layout.chunks),
        (2, 2)
    );
    // The core's public inputs are the native statement's, in order.
    let (native, _) =
        channel::statement::close_public_inputs(&snap, &closer::testing::volume_blind()).unwrap();
    assert_eq!(public, native);
    let mut cs = TestConstraintSystem::<F>::new();
    let shared = folded.core.shared(&mut cs).unwrap();
    folded.core.synthesize_core(&mut cs, &shared).unwrap();
    assert!(cs.is_satisfied());
    assert_eq!(cs.num_inputs(), 1 + 6);
    for (i, want) in native.to_field_elements().iter().enumerate() {
        assert_eq!(f_to_fe(&cs.get_inputs()[i + 1].0), *want, "input {i}");
    }
    let names: Vec<&str> = cs.get_inputs()[1..]
        .iter()
        .map(|(_, n)| n.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "hub_id",
            "epoch",
            "n",
            "deposits_root",
            "balances_root",
            "volume_commitment"
        ]
    );
    assert_eq!(cs.num_constraints(), core_constraints(folded.layout));
    // Each step's only public input is its chunk index.
    for (c, step) in folded.steps.iter().enumerate() {
        let mut cs = TestConstraintSystem::<F>::new();
        let shared = step.shared(&mut cs).unwrap();
        step.synthesize_step(&mut cs, &shared).unwrap();
        assert!(cs.is_satisfied());
        assert_eq!(cs.num_inputs(), 1 + 1);
        assert_eq!(cs.get_inputs()[1].0, F::from(c as u64));
        assert_eq!(cs.num_constraints(), step_constraints(folded.layout));
    }
    // Constraint counts, pinned.
    println!(
        "constraints per slot (excluding Merkle): {}; per step of {}: {}",
        slot_constraints(),
        folded.layout,
        step_constraints(folded.layout)
    );
    assert_eq!(slot_constraints(), 4574);
}

#[test]
fn a_negative_net_deposit_satisfies_and_matches_the_native_statement() {
    // A payee that withdrew 20 of the 30 it was paid: D = −20, B = 10.
    let snap = snapshot3_after_withdrawal();
    let (public, a) = assignment(&snap, &closer::testing::volume_blind()).unwrap();
    assert_eq!(a.slots[1].deposit, -F::from(20u64));
    assert_eq!(run(&a), Ok(()));
    let (native, _) =
        channel::statement::close_public_inputs(&snap, &closer::testing::volume_blind()).unwrap();
    assert_eq!(public, native);
    assert_ne!(
        public.deposits_root,
        assignment(&snapshot3(), &closer::testing::volume_blind())
            .unwrap()
            .0
            .deposits_root
    );
}

#[test]
fn a_net_deposit_below_minus_2_pow_64_is_rejected() {
    // D = −2^64 − 1 (a "withdrawal" of more than any channel can hold), with S and R
    // moved so that B = D + R − S still reads as the honest B in the field.
    let mut a = honest3();
    let two64 = F::from(u64::MAX) + F::ONE;
    let s = &mut a.slots[1];
    s.deposit = -two64 - F::ONE;
    s.received += two64 + F::ONE;
    // D is its 65 bits minus 2^64 in the circuit (no packing constraint to dodge): a
    // value below −2^64 cannot be expressed, and what the bits do express breaks B.
    assert_eq!(broken(&a), "step 0/slot 1/B = D + R - S");
}

#[test]
fn overdraft_is_rejected() {
    // Channel 1 (D = 100, R = 5) signs S = 106: B would be −1.
    let mut a = honest3();
    let s = &mut a.slots[0];
    s.spent = F::from(106u64);
    s.sig = sign(1, 1, s.seq.to_repr().as_ref()[0] as u64, 106, s.chain);
    s.balance = s.deposit + s.received - s.spent; // p − 1
    a.slots[1].received += F::from(76u64); // keep Σ R = Σ S
    assert!(broken(&a).starts_with("step 0/slot 0/B = D + R - S"));
}

#[test]
fn value_that_wraps_the_field_is_rejected() {
    // S = p − 1 would make B = D + R + 1 in the field: money from nothing.
    let mut a = honest3();
    a.slots[0].spent = -F::ONE;
    a.slots[0].balance = a.slots[0].deposit + a.slots[0].received + F::ONE;
    assert!(run(&a).is_err());
    // Amounts *are* their 64 bits in the circuit (no packing constraint to dodge), so a
    // value of 2^64 or more cannot even be expressed; see `range` for the bit gadget.
}

#[test]
fn forged_signature_is_rejected() {
    let mut a = honest3();
    a.slots[0].sig.s = (&a.slots[0].sig.s + 1u32) % subgroup_order();
    assert!(broken(&a).starts_with("step 0/slot 0/signature/S*Base8 = R8 + h*8A"));
}

#[test]
fn spending_without_signature_is_rejected() {
    let mut a = honest3();
    a.slots[0].sig = closer::gadgets::eddsa::dummy_signature();
    assert!(broken(&a).starts_with("step 0/slot 0/signature/S*Base8 = R8 + h*8A"));
}

#[test]
fn inflated_spent_with_an_old_signature_is_rejected() {
    // The hub claims channel 1 spent 31 but holds a signature on 30.
    let mut a = honest3();
    a.slots[0].spent += F::ONE;
    a.slots[0].balance -= F::ONE;
    a.slots[1].received += F::ONE;
    a.slots[1].balance += F::ONE;
    assert!(broken(&a).starts_with("step 0/slot 0/signature/S*Base8 = R8 + h*8A"));
}

#[test]
fn malleable_signature_s_plus_l_is_rejected() {
    let mut a = honest3();
    let s = &mut a.slots[0];
    s.sig.s += subgroup_order();
    let why = broken(&a);
    assert!(why.starts_with("step 0/slot 0/signature/"), "{why}");
}

#[test]
fn signature_by_another_key_is_rejected() {
    let mut a = honest3();
    let s = &a.slots[0];
    let seq = 1;
    a.slots[0].sig = sign(9, 1, seq, 30, s.chain);
    assert!(broken(&a).starts_with("step 0/slot 0/signature/S*Base8 = R8 + h*8A"));
}

#[test]
fn sum_mismatch_is_rejected() {
    let mut a = honest3();
    a.slots[1].received += F::ONE;
    a.slots[1].balance += F::ONE;
    assert_eq!(broken(&a), "core/Σ R = Σ S");
}

#[test]
fn ids_out_of_order_or_duplicated_are_rejected() {
    let mut a = honest3();
    a.slots.swap(0, 1);
    assert!(broken(&a).starts_with("step 0/slot 1/id gap range"));
    let mut a = honest3();
    a.slots[1].id = a.slots[0].id;
    assert!(broken(&a).starts_with("step 0/slot 1/id gap range"));
}

#[test]
fn padding_slot_carrying_value_is_rejected() {
    let mut a = honest3();
    a.slots[3].deposit = F::from(5u64);
    a.slots[3].balance = F::from(5u64);
    assert_eq!(broken(&a), "step 1/slot 1/padding has no deposit");
    // With signed deposits, D + S + R = 0 no longer means "empty": D = −5, R = 5 would
    // hide 5 of received in a padding slot (B = 0); each is checked on its own.
    let mut a = honest3();
    a.slots[3].deposit = -F::from(5u64);
    a.slots[3].received = F::from(5u64);
    assert_eq!(broken(&a), "step 1/slot 1/padding has no payments");
    let mut a = honest3();
    a.slots[3].deposit = -F::from(5u64);
    a.slots[3].spent = F::from(5u64);
    a.slots[3].balance = -F::from(10u64);
    assert!(run(&a).is_err());
}

#[test]
fn is_real_must_be_boolean_and_real_slots_come_first() {
    let mut a = honest3();
    a.slots[0].is_real = F::from(2u64);
    assert!(broken(&a).starts_with("step 0/slot 0/is_real/"));
    // Slots: real, real, padding, real (an empty channel with a larger id).
    let mut a = honest3();
    a.slots[2] = SlotAssignment::padding();
    a.slots[3].is_real = F::ONE;
    a.slots[3].id = F::from(10u64);
    assert_eq!(broken(&a), "step 1/slot 1/real slots first");
}

#[test]
fn wrong_public_inputs_are_rejected() {
    let base = honest3();
    let mut a = base.clone();
    a.public[3] += F::ONE;
    assert_eq!(broken(&a), "core/deposits_root matches");
    let mut a = base.clone();
    a.public[4] += F::ONE;
    assert_eq!(broken(&a), "core/balances_root matches");
    let mut a = base.clone();
    a.public[2] += F::ONE;
    assert_eq!(broken(&a), "core/n = Σ is_real");
    // hub_id is bound through the voucher message: another hub's signatures do not verify.
    let mut a = base;
    a.public[0] += F::ONE;
    assert!(broken(&a).starts_with("step 0/slot 0/signature/"));
}

#[test]
fn padding_slot_leaf_is_zero_and_cannot_be_faked() {
    // A padding slot whose deposit leaf would be nonzero: flip is_real to 1 with zero values
    // and the deposits root changes, so the honest root no longer matches.
    let mut a = honest3();
    a.slots[3].is_real = F::ONE;
    a.slots[3].id = F::from(10u64);
    let why = broken(&a);
    assert!(
        why == "core/n = Σ is_real" || why == "core/deposits_root matches",
        "{why}"
    );
}
