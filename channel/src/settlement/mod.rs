//! The settlement-layer model (DESIGN.md §7): deterministic, serializable.
//! TODO(settlement helper): implement.
