//! Baby Jubjub (twisted Edwards `a·x² + y² = 1 + d·x²·y²` over the BN254 scalar field,
//! `a = 168700`, `d = 168696`), as circomlibjs `babyjub`.
//! TODO(crypto helper): implement.

use crate::field::Fe;

/// An affine point on Baby Jubjub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Point {
    /// x coordinate.
    pub x: Fe,
    /// y coordinate.
    pub y: Fe,
}
