//! Print the constraint counts of every gadget, of one slot and of whole circuits.
//!
//! `cargo run --release -p closer --example constraints`

use closer::Layout;
use closer::circuit::{
    ID_ORDER_CONSTRAINTS, core_constraints, num_constraints, slot_constraints, step_constraints,
};
use closer::gadgets::{ecc, eddsa, poseidon, range};

fn main() {
    let l = ecc::subgroup_order();
    let p = closer::field::modulus();
    println!("gadget                                   constraints");
    for arity in [2usize, 3, 4, 5, 6] {
        println!(
            "poseidon({arity})                              {:>6}",
            poseidon::num_constraints(arity, 0)
        );
    }
    println!(
        "S < l (251 strict bits)                  {:>6}",
        range::strict_num_constraints(&(&l - 1u32))
    );
    println!(
        "h < p (254 strict bits + packing)        {:>6}",
        range::strict_num_constraints(&(&p - 1u32)) + 1
    );
    println!(
        "h*(8A) signed ladder (251 digits)        {:>6}",
        ecc::signed_ladder_num_constraints(ecc::SCALAR_BITS)
    );
    println!("S*Base8 fixed base (3-bit windows)       {:>6}", 504);
    println!(
        "eddsa-poseidon verify                    {:>6}",
        eddsa::num_constraints()
    );
    println!(
        "id order (per consecutive pair)          {:>6}",
        ID_ORDER_CONSTRAINTS
    );
    println!(
        "slot without Merkle share                {:>6}",
        slot_constraints()
    );
    for slots in [2usize, 16, 64, 256, 1024, 4096, 16384] {
        let layout = Layout::for_slots(slots).expect("layout");
        let (step, core) = (step_constraints(layout), core_constraints(layout));
        let total = num_constraints(layout);
        println!(
            "{slots:>5} slots = {:>4} chunks of {:>2}: step {step:>6} (padded to 2^{}), core {core:>6}, {total:>9} in all, {:>5} per slot",
            layout.chunks,
            layout.slots_per_chunk,
            step.max(core).next_power_of_two().trailing_zeros(),
            total / slots,
        );
    }
    incremental();
}

/// The incremental close: per touched slot and per layout.
fn incremental() {
    use closer::gadgets::state_path;
    use closer::incremental::{step_constraints, touched_constraints};
    println!();
    println!(
        "incremental close (4-ary state tree, depth {})",
        state_path::DEPTH
    );
    println!(
        "state path (10 levels)                   {:>6}",
        state_path::root_constraints()
    );
    println!(
        "touched slot (two paths, two leaves)     {:>6}",
        touched_constraints()
    );
    for slots in [2usize, 16, 64, 256, 1024, 4096] {
        let layout = Layout::for_touched_slots(slots).expect("layout");
        let step = step_constraints(layout);
        println!(
            "{slots:>5} slots = {:>4} chunks of {:>2}: step {step:>6} (padded to 2^{}), {:>5} per slot",
            layout.chunks,
            layout.slots_per_chunk,
            step.next_power_of_two().trailing_zeros(),
            step * layout.chunks / slots,
        );
    }
}
