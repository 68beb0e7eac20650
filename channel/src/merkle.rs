//! Binary Poseidon Merkle trees over a power-of-two number of leaves, with inclusion proofs.
//! TODO(ledger/settlement helper): implement.
