//! Baby Jubjub (twisted Edwards `a·x² + y² = 1 + d·x²·y²` over the BN254 scalar field,
//! `a = 168700`, `d = 168696`), in circomlib's coordinates, as circomlibjs `babyjub`.
//!
//! The curve has order `8·l` with `l` prime ([`SUBORDER`], the modulus of
//! `ark_ed_on_bn254::Fr`); [`BASE8`] generates the subgroup of order `l`. Note that
//! `ark_ed_on_bn254`'s own curve model is a *different* (isomorphic, `a = 1`) form with
//! other coordinates, so it is not used for points here; only its scalar field is.
//!
//! * [`Point`]: affine points, what is hashed, packed and signed; its methods are the
//!   native twins of the closer's R1CS gadgets (affine addition as circomlib `BabyAdd`,
//!   doubling, scalar multiplication).
//! * [`ExtendedPoint`]: extended twisted-Edwards coordinates `(X:Y:Z:T)`, `x = X/Z`,
//!   `y = Y/Z`, `T = X·Y/Z`, for fast inversion-free arithmetic (formulas
//!   add-2008-hwcd / dbl-2008-hwcd, which are complete here since `a` is a square and `d`
//!   is not).
//! * [`mul_base8`]: fixed-base multiplication by a precomputed table of `BASE8`
//!   multiples (signed 4-bit windows, 64 additions and no doublings).
//! * [`PreparedPoint`] and [`mul_base8_sub_prepared`]: a per-point table so that
//!   `a·BASE8 − b·P` (signature verification) takes one chain of 64 doublings.
//!
//! Arithmetic here is variable-time, like circomlibjs.

use ark_ff::{AdditiveGroup, BigInt, Field, MontFp, PrimeField, batch_inversion};
use once_cell::sync::Lazy;

use crate::field::Fe;

/// The curve coefficient `a = 168700`.
pub const A: Fe = MontFp!("168700");
/// The curve coefficient `d = 168696`.
pub const D: Fe = MontFp!("168696");

/// circomlib's generator of the full group (order `8·l`).
pub const GENERATOR: Point = Point {
    x: MontFp!("995203441582195749578291179787384436505546430278305826713579947235728471134"),
    y: MontFp!("5472060717959818805561601436314318772137091100104008585924551046643952123905"),
};

/// `Base8 = 8·GENERATOR`, the generator of the prime-order subgroup used by EdDSA.
pub const BASE8: Point = Point {
    x: MontFp!("5299619240641551281634865583518297030282874472190772894086521144482721001553"),
    y: MontFp!("16950150798460657717958625567821834550301663161624707787222815936182638968203"),
};

/// The subgroup order `l` (circomlibjs `subOrder`), little-endian limbs. Equal to the
/// modulus of [`Scalar`].
pub const SUBORDER: BigInt<4> = <Scalar as PrimeField>::MODULUS;

/// A scalar modulo the subgroup order `l`.
pub type Scalar = ark_ed_on_bn254::Fr;

/// An affine point on Baby Jubjub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Point {
    /// x coordinate.
    pub x: Fe,
    /// y coordinate.
    pub y: Fe,
}

impl Point {
    /// The neutral element `(0, 1)`.
    pub const IDENTITY: Point = Point {
        x: Fe::ZERO,
        y: Fe::ONE,
    };

    /// Whether `a·x² + y² = 1 + d·x²·y²`.
    pub fn is_on_curve(&self) -> bool {
        let x2 = self.x.square();
        let y2 = self.y.square();
        A * x2 + y2 == Fe::ONE + D * x2 * y2
    }

    /// Whether this is the neutral element.
    pub fn is_identity(&self) -> bool {
        *self == Self::IDENTITY
    }

    /// Whether `8·P` is the identity (the point has order 1, 2, 4 or 8). Assumes `P` is
    /// on the curve.
    pub fn is_small_order(&self) -> bool {
        ExtendedPoint::from(*self).mul_by_cofactor().is_identity()
    }

    /// Whether `l·P` is the identity (`P` is in the prime-order subgroup). Costs a full
    /// scalar multiplication. Assumes `P` is on the curve.
    pub fn is_in_subgroup(&self) -> bool {
        ExtendedPoint::from(*self)
            .mul_bigint(&SUBORDER.0)
            .is_identity()
    }

    /// `-P = (-x, y)`.
    pub fn neg(&self) -> Point {
        Point {
            x: -self.x,
            y: self.y,
        }
    }

    /// `P + Q` by circomlib's affine formula (`BabyAdd`):
    /// `x3 = (x1·y2 + y1·x2) / (1 + d·x1·x2·y1·y2)`,
    /// `y3 = (y1·y2 − a·x1·x2) / (1 − d·x1·x2·y1·y2)`.
    /// Complete: the denominators never vanish for points on the curve.
    pub fn add(&self, other: &Point) -> Point {
        let x1x2 = self.x * other.x;
        let y1y2 = self.y * other.y;
        let tau = D * x1x2 * y1y2;
        let num_x = self.x * other.y + self.y * other.x;
        let num_y = y1y2 - A * x1x2;
        let inv_x = (Fe::ONE + tau)
            .inverse()
            .expect("complete addition: 1 + d·x1x2y1y2 != 0 on the curve");
        let inv_y = (Fe::ONE - tau)
            .inverse()
            .expect("complete addition: 1 - d·x1x2y1y2 != 0 on the curve");
        Point {
            x: num_x * inv_x,
            y: num_y * inv_y,
        }
    }

    /// `2·P`.
    pub fn double(&self) -> Point {
        self.add(self)
    }

    /// `k·P` for a scalar given as little-endian 64-bit limbs (any size; not reduced).
    pub fn mul_bigint(&self, k: &[u64]) -> Point {
        ExtendedPoint::from(*self).mul_bigint(k).to_affine()
    }

    /// `k·P` for `k` modulo `l`. Only meaningful for points in the prime-order subgroup
    /// (for others, `k` and `k + l` give different results; use [`Point::mul_bigint`]).
    pub fn mul(&self, k: &Scalar) -> Point {
        self.mul_bigint(&k.into_bigint().0)
    }
}

/// A point in extended twisted-Edwards coordinates `(X:Y:Z:T)` with `x = X/Z`,
/// `y = Y/Z`, `x·y = T/Z`.
#[derive(Debug, Clone, Copy)]
pub struct ExtendedPoint {
    x: Fe,
    y: Fe,
    z: Fe,
    t: Fe,
}

impl From<Point> for ExtendedPoint {
    fn from(p: Point) -> Self {
        ExtendedPoint {
            x: p.x,
            y: p.y,
            z: Fe::ONE,
            t: p.x * p.y,
        }
    }
}

impl PartialEq for ExtendedPoint {
    fn eq(&self, other: &Self) -> bool {
        self.x * other.z == other.x * self.z && self.y * other.z == other.y * self.z
    }
}

impl Eq for ExtendedPoint {}

/// An affine point prepared for mixed addition: `(x, y, a·x, d·x·y)`.
#[derive(Debug, Clone, Copy)]
struct Niels {
    x: Fe,
    y: Fe,
    ax: Fe,
    dxy: Fe,
}

impl Niels {
    fn from_affine(p: &Point) -> Self {
        Niels {
            x: p.x,
            y: p.y,
            ax: A * p.x,
            dxy: D * p.x * p.y,
        }
    }

    fn neg(&self) -> Self {
        Niels {
            x: -self.x,
            y: self.y,
            ax: -self.ax,
            dxy: -self.dxy,
        }
    }
}

impl ExtendedPoint {
    /// The neutral element.
    pub const IDENTITY: ExtendedPoint = ExtendedPoint {
        x: Fe::ZERO,
        y: Fe::ONE,
        z: Fe::ONE,
        t: Fe::ZERO,
    };

    /// Whether this is the neutral element.
    pub fn is_identity(&self) -> bool {
        self.x == Fe::ZERO && self.y == self.z
    }

    /// Back to affine coordinates (one inversion).
    pub fn to_affine(&self) -> Point {
        let zinv = self.z.inverse().expect("extended point has Z != 0");
        Point {
            x: self.x * zinv,
            y: self.y * zinv,
        }
    }

    /// Whether this equals the affine point `p`, without an inversion.
    pub fn eq_affine(&self, p: &Point) -> bool {
        self.x == p.x * self.z && self.y == p.y * self.z
    }

    /// `-P`.
    pub fn neg(&self) -> Self {
        ExtendedPoint {
            x: -self.x,
            y: self.y,
            z: self.z,
            t: -self.t,
        }
    }

    /// `P + Q` (add-2008-hwcd, general `a`).
    pub fn add(&self, q: &ExtendedPoint) -> ExtendedPoint {
        let a = self.x * q.x;
        let b = self.y * q.y;
        let c = D * self.t * q.t;
        let d = self.z * q.z;
        let e = (self.x + self.y) * (q.x + q.y) - a - b;
        let f = d - c;
        let g = d + c;
        let h = b - A * a;
        ExtendedPoint {
            x: e * f,
            y: g * h,
            z: f * g,
            t: e * h,
        }
    }

    /// `P + Q` with `Q` in prepared affine form (7 multiplications and one sum of two
    /// products).
    #[inline(always)]
    fn add_niels(&self, q: &Niels) -> ExtendedPoint {
        let a_ax = self.x * q.ax;
        let b = self.y * q.y;
        let c = self.t * q.dxy;
        let d = self.z;
        let e = Fe::sum_of_products(&[self.x, self.y], &[q.y, q.x]);
        let f = d - c;
        let g = d + c;
        let h = b - a_ax;
        ExtendedPoint {
            x: e * f,
            y: g * h,
            z: f * g,
            t: e * h,
        }
    }

    /// `2·P` (dbl-2008-hwcd, general `a`); `with_t = false` skips `T` when the result is
    /// only doubled again.
    #[inline(always)]
    fn double_inner(&self, with_t: bool) -> ExtendedPoint {
        let a = self.x.square();
        let b = self.y.square();
        let c = self.z.square().double();
        let d = A * a;
        let e = (self.x + self.y).square() - a - b;
        let g = d + b;
        let f = g - c;
        let h = d - b;
        let t = if with_t { e * h } else { Fe::ZERO };
        ExtendedPoint {
            x: e * f,
            y: g * h,
            z: f * g,
            t,
        }
    }

    /// `2·P`.
    pub fn double(&self) -> ExtendedPoint {
        self.double_inner(true)
    }

    /// `8·P`.
    pub fn mul_by_cofactor(&self) -> ExtendedPoint {
        self.double_inner(false)
            .double_inner(false)
            .double_inner(true)
    }

    /// `k·P` for `k` as little-endian limbs (any length), by a signed sliding window
    /// (width-5 NAF, 8 precomputed odd multiples).
    pub fn mul_bigint(&self, k: &[u64]) -> ExtendedPoint {
        let naf = wnaf::<WNAF_W>(k);
        let odd = odd_multiples(self);
        let mut acc = ExtendedPoint::IDENTITY;
        let mut started = false;
        for i in (0..naf.len()).rev() {
            if started {
                // T is only needed by an addition: the one of this digit, or the
                // caller's after the last doubling.
                acc = acc.double_inner(naf[i] != 0 || i == 0);
            }
            let di = naf[i];
            if di != 0 {
                let p = &odd[(di.unsigned_abs() as usize) / 2];
                acc = if di > 0 {
                    acc.add(p)
                } else {
                    acc.add(&p.neg())
                };
                started = true;
            }
        }
        acc
    }
}

/// Width of the NAF used for variable-base multiplication.
const WNAF_W: usize = 5;

/// `[P, 3P, 5P, …, (2^(W-1) - 1)P]`.
fn odd_multiples(p: &ExtendedPoint) -> [ExtendedPoint; 1 << (WNAF_W - 2)] {
    let p2 = p.double();
    let mut out = [*p; 1 << (WNAF_W - 2)];
    for i in 1..out.len() {
        out[i] = out[i - 1].add(&p2);
    }
    out
}

/// Width-`W` non-adjacent form of `k` (little-endian limbs): digits odd in
/// `(-2^(W-1), 2^(W-1))` or zero, least significant first.
fn wnaf<const W: usize>(k: &[u64]) -> Vec<i8> {
    let bits = 64 * k.len();
    let mut out = vec![0i8; bits + 1];
    // Work on a copy with room for the borrow/carry.
    let mut n: Vec<u64> = k.to_vec();
    n.push(0);
    let window = 1u64 << W;
    let mut i = 0;
    while n.iter().any(|&l| l != 0) {
        if n[0] & 1 == 1 {
            let m = (n[0] & (window - 1)) as i64;
            let d = if m >= (window as i64) / 2 {
                m - window as i64
            } else {
                m
            };
            out[i] = d as i8;
            // n -= d
            if d > 0 {
                sub_small(&mut n, d as u64);
            } else {
                add_small(&mut n, (-d) as u64);
            }
        }
        shr1(&mut n);
        i += 1;
    }
    out.truncate(i.max(1));
    out
}

fn sub_small(n: &mut [u64], v: u64) {
    let (r, mut borrow) = n[0].overflowing_sub(v);
    n[0] = r;
    for l in n.iter_mut().skip(1) {
        if !borrow {
            break;
        }
        let (r, b) = l.overflowing_sub(1);
        *l = r;
        borrow = b;
    }
}

fn add_small(n: &mut [u64], v: u64) {
    let (r, mut carry) = n[0].overflowing_add(v);
    n[0] = r;
    for l in n.iter_mut().skip(1) {
        if !carry {
            break;
        }
        let (r, c) = l.overflowing_add(1);
        *l = r;
        carry = c;
    }
}

fn shr1(n: &mut [u64]) {
    for i in 0..n.len() {
        let hi = n.get(i + 1).map_or(0, |&x| x << 63);
        n[i] = (n[i] >> 1) | hi;
    }
}

/// Width-`W` NAF of a 64-bit value (digits odd in `(-2^(W-1), 2^(W-1))` or zero, least
/// significant first; a carry can reach position 64).
fn wnaf_u64<const W: u32>(x: u64) -> [i8; 65] {
    let mut out = [0i8; 65];
    let window = 1i128 << W;
    let mut n = x as i128;
    let mut i = 0;
    while n != 0 {
        if n & 1 == 1 {
            let m = n & (window - 1);
            let d = if m >= window / 2 { m - window } else { m };
            out[i] = d as i8;
            n -= d;
        }
        n >>= 1;
        i += 1;
    }
    out
}

/// For each 64-bit limb `j` of a scalar, the odd multiples `[1, 3, …, 2·n_odd − 1]` of
/// `2^(64·j)·P` in prepared affine form, limb-major (`4 · n_odd` entries).
fn split_odd_multiples(p: &Point, n_odd: usize) -> Vec<Niels> {
    let mut ext = Vec::with_capacity(4 * n_odd);
    let mut q = ExtendedPoint::from(*p);
    for j in 0..4 {
        if j > 0 {
            for k in 0..64 {
                q = q.double_inner(k == 63);
            }
        }
        let q2 = q.double();
        let mut m = q;
        for _ in 0..n_odd {
            ext.push(m);
            m = m.add(&q2);
        }
    }
    let mut zs: Vec<Fe> = ext.iter().map(|p| p.z).collect();
    batch_inversion(&mut zs);
    ext.iter()
        .zip(&zs)
        .map(|(p, zi)| {
            Niels::from_affine(&Point {
                x: p.x * zi,
                y: p.y * zi,
            })
        })
        .collect()
}

/// One term `±k·P` of a joint multiplication over a split table.
struct SplitTerm<'a> {
    table: &'a [Niels],
    n_odd: usize,
    digits: [[i8; 65]; 4],
    negate: bool,
}

impl<'a> SplitTerm<'a> {
    fn new<const W: u32>(table: &'a [Niels], k: &[u64; 4], negate: bool) -> Self {
        let n_odd = 1usize << (W - 2);
        debug_assert_eq!(table.len(), 4 * n_odd);
        let digits = [
            wnaf_u64::<W>(k[0]),
            wnaf_u64::<W>(k[1]),
            wnaf_u64::<W>(k[2]),
            wnaf_u64::<W>(k[3]),
        ];
        SplitTerm {
            table,
            n_odd,
            digits,
            negate,
        }
    }
}

/// `Σ ±k_i·P_i` by one shared chain of at most 64 doublings (Straus over the four 64-bit
/// limbs of every scalar).
fn split_chain(terms: &[SplitTerm<'_>]) -> ExtendedPoint {
    let mut acc = ExtendedPoint::IDENTITY;
    let mut started = false;
    for i in (0..65).rev() {
        if started {
            let adds = terms.iter().any(|t| t.digits.iter().any(|d| d[i] != 0));
            acc = acc.double_inner(adds || i == 0);
        }
        for t in terms {
            for (j, d) in t.digits.iter().enumerate() {
                let d = d[i];
                if d != 0 {
                    let e = &t.table[j * t.n_odd + (d.unsigned_abs() as usize) / 2];
                    acc = if (d < 0) ^ t.negate {
                        acc.add_niels(&e.neg())
                    } else {
                        acc.add_niels(e)
                    };
                    started = true;
                }
            }
        }
    }
    acc
}

/// NAF width of [`PreparedPoint`] tables (8 odd multiples per limb: 32 points, 4 KiB).
const PREP_W: u32 = 5;
/// NAF width of the static `BASE8` split table (64 odd multiples per limb: 256 points).
const BASE8_SPLIT_W: u32 = 8;

static BASE8_SPLIT: Lazy<Vec<Niels>> =
    Lazy::new(|| split_odd_multiples(&BASE8, 1 << (BASE8_SPLIT_W - 2)));

/// A point prepared for repeated variable-base multiplication (e.g. a public key that
/// verifies many signatures): for each 64-bit limb `j` of a scalar, the odd multiples
/// `1, 3, …, 15` of `2^(64·j)·P`, affine. A multiplication then needs 64 doublings
/// instead of about 254. Building it costs about as much as three plain multiplications.
#[derive(Clone)]
pub struct PreparedPoint {
    point: Point,
    table: Vec<Niels>,
}

impl std::fmt::Debug for PreparedPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedPoint")
            .field("point", &self.point)
            .finish_non_exhaustive()
    }
}

impl PreparedPoint {
    /// Prepare `p` (any point on the curve).
    pub fn new(p: &Point) -> Self {
        PreparedPoint {
            point: *p,
            table: split_odd_multiples(p, 1 << (PREP_W - 2)),
        }
    }

    /// The prepared point.
    pub fn point(&self) -> Point {
        self.point
    }

    /// `k·P` for a 256-bit `k` (little-endian limbs, not reduced).
    pub fn mul_bigint(&self, k: &[u64; 4]) -> ExtendedPoint {
        split_chain(&[SplitTerm::new::<PREP_W>(&self.table, k, false)])
    }

    /// The table as `(x, y, a·x, d·x·y)`: for each 64-bit limb `j`, the odd multiples
    /// `1, 3, …, 15` of `2^(64·j)·P` (limb-major), for the eight-lane verifier.
    pub(crate) fn niels_coords(&self) -> impl Iterator<Item = [Fe; 4]> + '_ {
        self.table.iter().map(|n| [n.x, n.y, n.ax, n.dxy])
    }
}

/// [`PreparedPoint::niels_coords`] of `BASE8` with the odd multiples `1, 3, …, 127`
/// (the static table of the verification equation), for the eight-lane verifier.
pub(crate) fn base8_niels_coords() -> impl Iterator<Item = [Fe; 4]> {
    BASE8_SPLIT.iter().map(|n| [n.x, n.y, n.ax, n.dxy])
}

/// `a·BASE8 − b·P` for 256-bit `a`, `b` (little-endian limbs), in one chain of 64
/// doublings: the verification equation's core.
pub fn mul_base8_sub_prepared(a: &[u64; 4], p: &PreparedPoint, b: &[u64; 4]) -> ExtendedPoint {
    split_chain(&[
        SplitTerm::new::<BASE8_SPLIT_W>(&BASE8_SPLIT, a, false),
        SplitTerm::new::<PREP_W>(&p.table, b, true),
    ])
}

/// One signature's share of a batch equation (see [`batch_combination`]): the terms
/// `−c·P` (over a prepared point) and `−z·R`.
#[derive(Debug, Clone, Copy)]
pub struct BatchTerm<'a> {
    /// The prepared point `P` (a key's `8·A`).
    pub prepared: &'a PreparedPoint,
    /// Its scalar `c` (256-bit, little-endian limbs).
    pub c: [u64; 4],
    /// The point `R` (a signature's `R8`), on the curve.
    pub r: Point,
    /// Its 128-bit scalar `z`.
    pub z: u128,
}

/// `b·BASE8 − Σ (c_i·P_i + z_i·R_i)` by one shared chain of 128 doublings (Straus):
/// `BASE8` and the prepared points contribute their split-table digits over the last 65
/// positions, each `R_i` width-5 NAF digits of `z_i` over odd multiples built here.
/// The doublings are paid once per batch; each term costs about 43 mixed additions for
/// `c_i·P_i` and 30 additions for `z_i·R_i`.
pub fn batch_combination(b: &[u64; 4], terms: &[BatchTerm<'_>]) -> ExtendedPoint {
    struct Prepared {
        c: [[i8; 65]; 4],
        z: Vec<i8>,
        odd: [ExtendedPoint; 1 << (WNAF_W - 2)],
    }
    let b_digits = [
        wnaf_u64::<BASE8_SPLIT_W>(b[0]),
        wnaf_u64::<BASE8_SPLIT_W>(b[1]),
        wnaf_u64::<BASE8_SPLIT_W>(b[2]),
        wnaf_u64::<BASE8_SPLIT_W>(b[3]),
    ];
    let b_odd = 1usize << (BASE8_SPLIT_W - 2);
    let p_odd = 1usize << (PREP_W - 2);
    let prepared: Vec<Prepared> = terms
        .iter()
        .map(|t| Prepared {
            c: [
                wnaf_u64::<PREP_W>(t.c[0]),
                wnaf_u64::<PREP_W>(t.c[1]),
                wnaf_u64::<PREP_W>(t.c[2]),
                wnaf_u64::<PREP_W>(t.c[3]),
            ],
            z: wnaf::<WNAF_W>(&[t.z as u64, (t.z >> 64) as u64]),
            odd: odd_multiples(&ExtendedPoint::from(t.r)),
        })
        .collect();
    let mut acc = ExtendedPoint::IDENTITY;
    for i in (0..129).rev() {
        acc = acc.double();
        if i < 65 {
            for (j, d) in b_digits.iter().enumerate() {
                let d = d[i];
                if d != 0 {
                    let e = &BASE8_SPLIT[j * b_odd + (d.unsigned_abs() as usize) / 2];
                    acc = if d < 0 {
                        acc.add_niels(&e.neg())
                    } else {
                        acc.add_niels(e)
                    };
                }
            }
            for (t, p) in terms.iter().zip(&prepared) {
                for (j, d) in p.c.iter().enumerate() {
                    let d = d[i];
                    if d != 0 {
                        let e = &t.prepared.table[j * p_odd + (d.unsigned_abs() as usize) / 2];
                        // Subtracting: a positive digit subtracts.
                        acc = if d > 0 {
                            acc.add_niels(&e.neg())
                        } else {
                            acc.add_niels(e)
                        };
                    }
                }
            }
        }
        for p in &prepared {
            let d = p.z.get(i).copied().unwrap_or(0);
            if d != 0 {
                let q = &p.odd[(d.unsigned_abs() as usize) / 2];
                acc = if d > 0 { acc.add(&q.neg()) } else { acc.add(q) };
            }
        }
    }
    acc
}

/// `a·BASE8 − b·P` for 256-bit `a`, `b` (little-endian limbs) and any point `P`, by one
/// shared chain of doublings (Straus): width-8 NAF of `a` over the static odd multiples
/// of `BASE8`, width-5 NAF of `b` over odd multiples of `P` built on the fly.
pub fn mul_base8_sub(a: &[u64; 4], p: &ExtendedPoint, b: &[u64; 4]) -> ExtendedPoint {
    let na = wnaf::<{ BASE8_SPLIT_W as usize }>(a);
    let nb = wnaf::<WNAF_W>(b);
    let b8 = &BASE8_SPLIT[..1 << (BASE8_SPLIT_W - 2)];
    let odd = odd_multiples(p);
    let len = na.len().max(nb.len());
    let digit = |v: &[i8], i: usize| v.get(i).copied().unwrap_or(0);
    let mut acc = ExtendedPoint::IDENTITY;
    let mut started = false;
    for i in (0..len).rev() {
        let (da, db) = (digit(&na, i), digit(&nb, i));
        if started {
            acc = acc.double_inner(da != 0 || db != 0 || i == 0);
        }
        if da != 0 {
            let e = &b8[(da.unsigned_abs() as usize) / 2];
            acc = if da < 0 {
                acc.add_niels(&e.neg())
            } else {
                acc.add_niels(e)
            };
            started = true;
        }
        if db != 0 {
            let q = &odd[(db.unsigned_abs() as usize) / 2];
            // Subtracting b·P: a positive digit subtracts.
            acc = if db > 0 {
                acc.add(&q.neg())
            } else {
                acc.add(q)
            };
            started = true;
        }
    }
    acc
}

/// Number of 4-bit windows in the fixed-base table (covers scalars below `2^255`).
const FB_WINDOWS: usize = 64;

/// `TABLE[i][j] = (j + 1) · 16^i · BASE8`, prepared for mixed addition.
static BASE8_TABLE: Lazy<Vec<[Niels; 8]>> = Lazy::new(|| {
    let mut ext = Vec::with_capacity(FB_WINDOWS * 8);
    let mut base = ExtendedPoint::from(BASE8);
    for _ in 0..FB_WINDOWS {
        let mut m = base;
        for _ in 0..8 {
            ext.push(m);
            m = m.add(&base);
        }
        // m = 9·base here; 16·base = 2·(8·base).
        base = ext[ext.len() - 1].double();
    }
    let mut zs: Vec<Fe> = ext.iter().map(|p| p.z).collect();
    batch_inversion(&mut zs);
    let niels: Vec<Niels> = ext
        .iter()
        .zip(&zs)
        .map(|(p, zi)| {
            Niels::from_affine(&Point {
                x: p.x * zi,
                y: p.y * zi,
            })
        })
        .collect();
    niels
        .chunks(8)
        .map(|c| <[Niels; 8]>::try_from(c).expect("chunks of 8"))
        .collect()
});

/// Force the lazy build of the `BASE8` table (64×8 points). Optional: call it at start-up
/// to keep the one-time cost out of the first signature.
pub fn warm_up() {
    Lazy::force(&BASE8_TABLE);
    Lazy::force(&BASE8_SPLIT);
}

/// `k·BASE8` for `k < 2^255` given as little-endian limbs, from the precomputed table:
/// `k` is recoded into 64 signed digits in `[-8, 8]` and one table entry is added per
/// digit.
///
/// # Panics
/// If `k >= 2^255` (callers pass scalars below `l` or pruned secrets `< 2^252`).
pub fn mul_base8_bigint(k: &[u64; 4]) -> ExtendedPoint {
    assert!(k[3] >> 63 == 0, "fixed-base scalar must be below 2^255");
    let table = &*BASE8_TABLE;
    let mut acc = ExtendedPoint::IDENTITY;
    let mut carry = 0i8;
    for (i, row) in table.iter().enumerate() {
        let nibble = ((k[i / 16] >> (4 * (i % 16))) & 0xf) as i8;
        let mut digit = nibble + carry;
        if digit > 8 {
            digit -= 16;
            carry = 1;
        } else {
            carry = 0;
        }
        match digit {
            0 => {}
            d if d > 0 => acc = acc.add_niels(&row[d as usize - 1]),
            d => acc = acc.add_niels(&row[(-d) as usize - 1].neg()),
        }
    }
    debug_assert_eq!(carry, 0, "k < 2^255 leaves no carry out of the top window");
    acc
}

/// `k·BASE8` for a scalar modulo `l`.
pub fn mul_base8(k: &Scalar) -> ExtendedPoint {
    mul_base8_bigint(&k.into_bigint().0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{BigInteger, UniformRand};
    use num_bigint::BigUint;
    use rand::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(7)
    }

    #[test]
    fn constants_match_circomlibjs() {
        assert!(GENERATOR.is_on_curve());
        assert!(BASE8.is_on_curve());
        assert_eq!(GENERATOR.mul_bigint(&[8]), BASE8);
        let l = BigUint::from_bytes_le(&SUBORDER.to_bytes_le());
        assert_eq!(
            l.to_str_radix(10),
            "2736030358979909402780800718157159386076813972158567259200215660948447373041"
        );
        let order = "21888242871839275222246405745257275088614511777268538073601725287587578984328";
        assert_eq!((l * 8u32).to_str_radix(10), order);
        assert!(BASE8.is_in_subgroup());
        assert!(!GENERATOR.is_in_subgroup());
        assert!(!BASE8.is_small_order());
    }

    #[test]
    fn group_laws() {
        let mut r = rng();
        let p = BASE8.mul(&Scalar::rand(&mut r));
        let q = BASE8.mul(&Scalar::rand(&mut r));
        let s = GENERATOR.mul_bigint(&[12345, 678]);
        assert!(p.is_on_curve() && q.is_on_curve() && s.is_on_curve());
        assert_eq!(p.add(&q), q.add(&p));
        assert_eq!(p.add(&q).add(&s), p.add(&q.add(&s)));
        assert_eq!(p.add(&Point::IDENTITY), p);
        assert_eq!(p.add(&p.neg()), Point::IDENTITY);
        assert_eq!(p.double(), p.add(&p));
        let ep = ExtendedPoint::from(p);
        let eq = ExtendedPoint::from(q);
        assert_eq!(ep.add(&eq).to_affine(), p.add(&q));
        assert_eq!(ep.double().to_affine(), p.double());
        assert_eq!(
            ep.add(&ExtendedPoint::from(q.neg())).add(&eq).to_affine(),
            p
        );
        assert!(ep.add(&ep.neg()).is_identity());
    }

    #[test]
    fn scalar_mul_agrees_across_methods() {
        let mut r = rng();
        for _ in 0..20 {
            let k = Scalar::rand(&mut r);
            let limbs = k.into_bigint().0;
            // Plain double-and-add in affine form as the reference.
            let mut reference = Point::IDENTITY;
            let mut base = BASE8;
            for limb in limbs {
                for bit in 0..64 {
                    if (limb >> bit) & 1 == 1 {
                        reference = reference.add(&base);
                    }
                    base = base.double();
                }
            }
            assert_eq!(BASE8.mul(&k), reference);
            assert_eq!(mul_base8(&k).to_affine(), reference);
            assert!(mul_base8(&k).eq_affine(&reference));
        }
        // Results carry a valid T: adding to them works (even digits at the bottom).
        let p = ExtendedPoint::from(BASE8).mul_bigint(&[16]);
        assert_eq!(
            p.add(&ExtendedPoint::from(BASE8)).to_affine(),
            BASE8.mul_bigint(&[17])
        );
        // Scalars beyond l and edge values.
        assert!(BASE8.mul_bigint(&SUBORDER.0).is_identity());
        assert!(mul_base8_bigint(&SUBORDER.0).is_identity());
        assert_eq!(mul_base8_bigint(&[0; 4]).to_affine(), Point::IDENTITY);
        let max = [u64::MAX, u64::MAX, u64::MAX, u64::MAX >> 1];
        assert_eq!(mul_base8_bigint(&max).to_affine(), BASE8.mul_bigint(&max));
        let eights = [0x8888_8888_8888_8888u64; 4];
        let eights = [eights[0], eights[1], eights[2], eights[3] >> 4];
        assert_eq!(
            mul_base8_bigint(&eights).to_affine(),
            BASE8.mul_bigint(&eights)
        );
        // Scalar multiplication is a homomorphism.
        let a = Scalar::rand(&mut r);
        let b = Scalar::rand(&mut r);
        assert_eq!(BASE8.mul(&(a + b)), BASE8.mul(&a).add(&BASE8.mul(&b)));
        assert_eq!(BASE8.mul(&(a * b)), BASE8.mul(&a).mul(&b));
    }

    #[test]
    fn prepared_and_joint_multiplication() {
        let mut r = rng();
        for _ in 0..10 {
            let p = GENERATOR.mul_bigint(&Scalar::rand(&mut r).into_bigint().0);
            let prep = PreparedPoint::new(&p);
            assert_eq!(prep.point(), p);
            let a = Fe::rand(&mut r).into_bigint().0;
            let b = Fe::rand(&mut r).into_bigint().0;
            assert_eq!(prep.mul_bigint(&b).to_affine(), p.mul_bigint(&b));
            let want = BASE8.mul_bigint(&a).add(&p.mul_bigint(&b).neg());
            assert_eq!(mul_base8_sub_prepared(&a, &prep, &b).to_affine(), want);
            assert_eq!(
                mul_base8_sub(&a, &ExtendedPoint::from(p), &b).to_affine(),
                want
            );
        }
        let p = BASE8.mul(&Scalar::from(5u64));
        let prep = PreparedPoint::new(&p);
        for k in [
            [0u64; 4],
            [1, 0, 0, 0],
            [u64::MAX; 4],
            [0, 0, 0, 1 << 63],
            [0x8000_0000_0000_0000, 0, 1, 0],
        ] {
            assert_eq!(prep.mul_bigint(&k).to_affine(), p.mul_bigint(&k));
            assert_eq!(
                mul_base8_sub_prepared(&k, &prep, &k).to_affine(),
                BASE8.mul_bigint(&k).add(&p.mul_bigint(&k).neg())
            );
        }
        for x in [
            0u64,
            1,
            2,
            0xffff_ffff_ffff_ffff,
            0x8000_0000_0000_0001,
            12345,
        ] {
            let d = wnaf_u64::<8>(x);
            let v: i128 = d.iter().enumerate().map(|(i, &d)| (d as i128) << i).sum();
            assert_eq!(v, x as i128);
        }
    }

    #[test]
    fn batch_combination_matches_separate_multiplications() {
        let mut r = rng();
        let points: Vec<Point> = (0..5)
            .map(|_| GENERATOR.mul_bigint(&Scalar::rand(&mut r).into_bigint().0))
            .collect();
        let prepared: Vec<PreparedPoint> = points.iter().map(PreparedPoint::new).collect();
        let b = Scalar::rand(&mut r).into_bigint().0;
        let mut want = BASE8.mul_bigint(&b);
        let mut terms = Vec::new();
        for (i, prep) in prepared.iter().enumerate() {
            let c = Fe::rand(&mut r).into_bigint().0;
            let rr = GENERATOR.mul_bigint(&[i as u64 + 3, 1]);
            let z = if i == 0 {
                u128::MAX
            } else {
                u128::from(r.next_u64()) << 64 | 1
            };
            want = want
                .add(&prep.point().mul_bigint(&c).neg())
                .add(&rr.mul_bigint(&[z as u64, (z >> 64) as u64]).neg());
            terms.push(BatchTerm {
                prepared: prep,
                c,
                r: rr,
                z,
            });
        }
        assert_eq!(batch_combination(&b, &terms).to_affine(), want);
        assert_eq!(batch_combination(&[0; 4], &[]).to_affine(), Point::IDENTITY);
    }

    #[test]
    fn small_order_points() {
        // (0, 1) has order 1, (0, -1) order 2; the points with y = 0 have order 4.
        assert!(Point::IDENTITY.is_small_order());
        let two = Point {
            x: Fe::ZERO,
            y: -Fe::ONE,
        };
        assert!(two.is_on_curve() && two.is_small_order() && !two.is_identity());
        assert!(two.add(&two).is_identity());
        let x4 = (Fe::ONE / A).sqrt().expect("1/a is a square");
        let four = Point { x: x4, y: Fe::ZERO };
        assert!(four.is_on_curve() && four.is_small_order());
        assert_eq!(four.double(), two);
        // A point of order 8: GENERATOR·l.
        let eight = GENERATOR.mul_bigint(&SUBORDER.0);
        assert!(eight.is_on_curve() && eight.is_small_order());
        assert_ne!(eight.double().double(), Point::IDENTITY);
        // Mixed with a subgroup point it is no longer small order, nor in the subgroup.
        let mixed = BASE8.add(&eight);
        assert!(!mixed.is_small_order() && !mixed.is_in_subgroup());
    }

    #[test]
    fn wnaf_reconstructs() {
        let mut r = rng();
        for _ in 0..50 {
            let k = Scalar::rand(&mut r).into_bigint().0;
            let digits = wnaf::<WNAF_W>(&k);
            let mut acc = BigUint::from(0u32);
            let mut neg = BigUint::from(0u32);
            for (i, &d) in digits.iter().enumerate() {
                assert!(d == 0 || (d % 2 != 0 && d.abs() < 16));
                let v = BigUint::from(d.unsigned_abs()) << i;
                if d >= 0 { acc += v } else { neg += v }
            }
            let k_big = BigUint::from_bytes_le(&BigInt::new(k).to_bytes_le());
            assert_eq!(acc - neg, k_big);
        }
    }
}
