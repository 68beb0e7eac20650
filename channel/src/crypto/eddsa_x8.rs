//! Eight EdDSA-Poseidon verification equations per pass, with AVX-512 IFMA: lane `i`
//! decides `S_i·Base8 − h_i·(8·A_i) = R8_i` exactly as
//! [`VerifyingKey::check_equation`](super::eddsa::VerifyingKey) does for one signature.
//!
//! # How
//!
//! The scalar path walks a width-NAF chain whose additions fall where each scalar's
//! digits do; eight lanes cannot share such a chain (each would wait for the others'
//! digits). Here every scalar limb is instead written in *regular* signed digits
//! (Joye–Tunstall): one odd digit in `±[1, 2^w − 1]` every `w` bits, so every lane adds
//! at the same bit positions and only the table entries differ. The tables are the ones
//! the scalar path already keeps, converted to [`super::field_x8`]'s form: per limb `j`
//! of the 256-bit scalars, the odd multiples of `2^(64·j)·P`: `1…15` of a key's `8·A`
//! (`w = 4`, 17 digits a limb), `1…127` of `Base8` (`w = 7`, 10 digits a limb). A limb
//! must be odd for that recoding; an even limb is recoded plus one and the extra
//! multiple taken off at the end. One pass costs 64 doublings and 116 additions, each
//! eight lanes wide.
//!
//! Arithmetic bounds (see `field_x8`): accumulator coordinates are products, below
//! `1.34p`; every difference adds a multiple of `p` above what it subtracts; every
//! multiplication input stays below `5.26p`, as noted at each step.

use super::babyjub::PreparedPoint;

/// One table entry `(x, y, a·x, d·x·y)`, each in `field_x8`'s form (canonical), as
/// five 52-bit limbs.
pub(crate) type NielsX8 = [[u64; 5]; 4];

/// Digit width over a key's table (odd multiples up to 15) and digits per 64-bit limb.
const KEY_W: u32 = 4;
const KEY_DIGITS: usize = 17;
/// Digit width over `Base8`'s table (odd multiples up to 127) and digits per limb.
const BASE_W: u32 = 7;
const BASE_DIGITS: usize = 10;

/// Fewer lanes than this are checked one by one: a pass costs about as much as three
/// scalar equations whatever the number of lanes in use.
pub const MIN_LANES: usize = 3;

/// Entries per limb in a key's table and in `Base8`'s.
const KEY_ODD: usize = 1 << (KEY_W - 1);
const BASE_ODD: usize = 1 << (BASE_W - 1);

/// A prepared key's table in `field_x8`'s form, where the CPU runs the eight-lane path
/// (5 KiB; `None` elsewhere).
pub(crate) fn key_table(a8: &PreparedPoint) -> Option<Box<[NielsX8]>> {
    #[cfg(target_arch = "x86_64")]
    if super::field_x8::available() {
        let t: Box<[NielsX8]> = a8
            .niels_coords()
            .map(|c| c.map(|x| super::field_x8::constant(&x)))
            .collect();
        debug_assert_eq!(t.len(), 4 * KEY_ODD);
        return Some(t);
    }
    let _ = a8;
    None
}

/// Regular signed digits of an odd `v`: `v = Σ d_i · 2^(W·i)`, every `d_i` odd with
/// `|d_i| < 2^W`, `M` of them (the last positive).
fn regular_digits<const W: u32, const M: usize>(v: u64) -> [i8; M] {
    debug_assert!(v % 2 == 1, "regular recoding needs an odd limb");
    let mut k = i128::from(v);
    let mut d = [0i8; M];
    for digit in d.iter_mut().take(M - 1) {
        let x = (k & ((1 << (W + 1)) - 1)) - (1 << W);
        *digit = x as i8;
        k = (k - x) >> W;
    }
    assert!(k > 0 && k < (1 << W) && k % 2 == 1, "final digit in range");
    d[M - 1] = k as i8;
    d
}

/// The digits of each 64-bit limb of `k`, an even limb recoded plus one (`true` in the
/// second array: the caller takes one multiple of its table's first entry off).
fn limb_digits<const W: u32, const M: usize>(k: &[u64; 4]) -> ([[i8; M]; 4], [bool; 4]) {
    let even = k.map(|l| l % 2 == 0);
    // An even limb is at most 2^64 − 2, so plus one does not overflow.
    let digits = std::array::from_fn(|j| regular_digits::<W, M>(k[j] | 1));
    (digits, even)
}

/// One signature equation for [`check_equations`].
pub(crate) struct Lane<'a> {
    /// The key's table ([`key_table`]).
    pub table: &'a [NielsX8],
    /// `S` as little-endian limbs.
    pub s: [u64; 4],
    /// The challenge `h` as little-endian limbs (not reduced mod `l`).
    pub h: [u64; 4],
    /// `R8`, on the curve (the caller checked).
    pub r8: super::babyjub::Point,
}

/// The lanes (bit `i` for `lanes[i]`, 1 to 8 of them) whose equation holds.
///
/// # Panics
/// If the CPU lacks AVX-512 IFMA (check `field_x8::available`) or `lanes` is not 1..=8
/// long, or a table is not a key table.
pub(crate) fn check_equations(lanes: &[Lane<'_>]) -> u8 {
    assert!((1..=8).contains(&lanes.len()), "one to eight lanes");
    assert!(lanes.iter().all(|l| l.table.len() == 4 * KEY_ODD));
    assert!(super::field_x8::available(), "AVX-512 IFMA not available");
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the CPU has AVX-512 F and IFMA (asserted above).
        unsafe { imp::check(lanes) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("field_x8 is only available on x86-64")
}

/// `Base8`'s table in `field_x8`'s form.
fn base_table() -> &'static [NielsX8] {
    static TABLE: once_cell::sync::Lazy<Box<[NielsX8]>> = once_cell::sync::Lazy::new(|| {
        #[cfg(target_arch = "x86_64")]
        {
            super::babyjub::base8_niels_coords()
                .map(|c| c.map(|x| super::field_x8::constant(&x)))
                .collect()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Box::new([])
        }
    });
    &TABLE
}

/// Force the lazy table conversion (optional: keeps it out of the first request).
pub(crate) fn warm_up() {
    if super::field_x8::available() {
        let _ = base_table();
    }
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::arch::x86_64::*;

    use super::super::babyjub::A;
    use super::super::field_x8::{
        Limbs, MODULUS, P2, P3, V, add, constant, eq_mask, gather, load, mul, mul_acc, redc, splat,
        sub,
    };
    use super::*;
    use crate::field::Fe;

    /// A point in extended coordinates, eight lanes.
    #[derive(Clone, Copy)]
    struct Ext {
        x: V,
        y: V,
        z: V,
        t: V,
    }

    impl Ext {
        /// `(E·F : G·H : F·G : E·H)`, the last step of both formulas; every factor
        /// below `5.26p`, so every coordinate below `1.34p`.
        #[inline]
        #[target_feature(enable = "avx512f,avx512ifma")]
        fn from_efgh(e: &V, f: &V, g: &V, h: &V) -> Ext {
            Ext {
                x: mul(e, f),
                y: mul(g, h),
                z: mul(f, g),
                t: mul(e, h),
            }
        }
    }

    /// `P + Q` with `Q` as `(x, y, a·x, d·x·y)` (add-2008-hwcd mixed, as the scalar
    /// `add_niels`); inputs: `P` below `1.34p`, `Q` below `p + 1`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn add_niels(p: &Ext, q: &[V; 4]) -> Ext {
        let a_ax = mul(&p.x, &q[2]);
        let b = mul(&p.y, &q[1]);
        let c = mul(&p.t, &q[3]);
        let mut acc = [_mm512_setzero_si512(); 10];
        mul_acc(&mut acc, &p.x, &q[1]);
        mul_acc(&mut acc, &p.y, &q[0]);
        let e = redc(acc); // below 2·1.34p·(p+1)/2^260 + p < 1.1p
        let f = sub(&p.z, &c, &P2); // below 3.34p
        let g = add(&p.z, &c); // below 2.68p
        let h = sub(&b, &a_ax, &P2); // below 3.34p
        Ext::from_efgh(&e, &f, &g, &h)
    }

    /// `2·P` (dbl-2008-hwcd, general `a`, as the scalar `double_inner`); `P` below
    /// `1.34p`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn double(p: &Ext, a_const: &V) -> Ext {
        let a = mul(&p.x, &p.x);
        let b = mul(&p.y, &p.y);
        let c = mul(&p.z, &add(&p.z, &p.z)); // 2·Z², below 1.34p
        let d = mul(&a, a_const);
        let s = add(&p.x, &p.y); // below 2.68p
        let e = sub(&mul(&s, &s), &add(&a, &b), &P3); // a + b < 2.68p < 3p; e < 4.34p
        let g = add(&d, &b); // below 2.68p
        let f = sub(&g, &c, &P2); // below 4.68p
        let h = sub(&d, &b, &P2); // below 3.34p
        Ext::from_efgh(&e, &f, &g, &h)
    }

    /// Eight table entries, one per lane, negated in the lanes of `negate`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn select(entries: [&NielsX8; 8], negate: u8) -> [V; 4] {
        let coord = |c: usize| gather(std::array::from_fn(|l| &entries[l][c]));
        let zero = splat(&[0; 5]);
        let neg = |v: V| -> V {
            if negate == 0 {
                return v;
            }
            // Entries are canonical, so p − x is in [1, p].
            let n = sub(&zero, &v, &MODULUS);
            V(std::array::from_fn(|k| {
                _mm512_mask_blend_epi64(negate, v.0[k], n.0[k])
            }))
        };
        [neg(coord(0)), coord(1), neg(coord(2)), neg(coord(3))]
    }

    /// Index of digit `d` (odd) in a run of odd multiples, and whether it is negative.
    fn entry(d: i8) -> (usize, bool) {
        ((d.unsigned_abs() as usize) / 2, d < 0)
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn check(lanes: &[Lane<'_>]) -> u8 {
        let n = lanes.len();
        let lane = |l: usize| &lanes[l.min(n - 1)];
        let base = base_table();
        let one = constant(&Fe::from(1u64));
        let zero: Limbs = [0; 5];
        // The neutral element as a table entry: (x, y, a·x, d·x·y) = (0, 1, 0, 0).
        let identity: NielsX8 = [zero, one, zero, zero];
        let a_const = splat(&constant(&A));
        let s_digits: [_; 8] =
            std::array::from_fn(|l| limb_digits::<BASE_W, BASE_DIGITS>(&lane(l).s));
        let h_digits: [_; 8] =
            std::array::from_fn(|l| limb_digits::<KEY_W, KEY_DIGITS>(&lane(l).h));

        let mut acc = Ext {
            x: splat(&zero),
            y: splat(&one),
            z: splat(&one),
            t: splat(&zero),
        };
        for i in (0..=64usize).rev() {
            if i < 64 {
                acc = double(&acc, &a_const);
            }
            if i % KEY_W as usize == 0 {
                // −h·(8·A): a positive digit adds a negated entry.
                let k = i / KEY_W as usize;
                for j in 0..4 {
                    let mut negate = 0u8;
                    let entries = std::array::from_fn(|l| {
                        let (idx, neg) = entry(h_digits[l].0[j][k]);
                        negate |= u8::from(!neg) << l;
                        &lane(l).table[j * KEY_ODD + idx]
                    });
                    acc = add_niels(&acc, &select(entries, negate));
                }
            }
            if i % BASE_W as usize == 0 && i / (BASE_W as usize) < BASE_DIGITS {
                let k = i / BASE_W as usize;
                for j in 0..4 {
                    let mut negate = 0u8;
                    let entries = std::array::from_fn(|l| {
                        let (idx, neg) = entry(s_digits[l].0[j][k]);
                        negate |= u8::from(neg) << l;
                        &base[j * BASE_ODD + idx]
                    });
                    acc = add_niels(&acc, &select(entries, negate));
                }
            }
        }
        // Even limbs were recoded plus one: take the extra multiple off.
        for j in 0..4 {
            if (0..8).any(|l| s_digits[l].1[j]) {
                // S_j + 1 added one 2^(64j)·Base8 too many: add its negation.
                let entries = std::array::from_fn(|l| {
                    if s_digits[l].1[j] {
                        &base[j * BASE_ODD]
                    } else {
                        &identity
                    }
                });
                let negate = (0..8).fold(0u8, |m, l| m | (u8::from(s_digits[l].1[j]) << l));
                acc = add_niels(&acc, &select(entries, negate));
            }
            if (0..8).any(|l| h_digits[l].1[j]) {
                // −(h_j + 1) took one 2^(64j)·8A too many: add it back.
                let entries = std::array::from_fn(|l| {
                    if h_digits[l].1[j] {
                        &lane(l).table[j * KEY_ODD]
                    } else {
                        &identity
                    }
                });
                acc = add_niels(&acc, &select(entries, 0));
            }
        }
        // X = R8.x·Z and Y = R8.y·Z (both sides below 1.34p).
        let rx: [Fe; 8] = std::array::from_fn(|l| lane(l).r8.x);
        let ry: [Fe; 8] = std::array::from_fn(|l| lane(l).r8.y);
        let holds =
            eq_mask(&acc.x, &mul(&load(&rx), &acc.z)) & eq_mask(&acc.y, &mul(&load(&ry), &acc.z));
        let used = if n == 8 { 0xff } else { (1u8 << n) - 1 };
        holds & used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<const W: u32, const M: usize>(d: &[i8; M]) -> i128 {
        d.iter()
            .enumerate()
            .map(|(i, &x)| i128::from(x) << (W as usize * i))
            .sum()
    }

    #[test]
    fn regular_digits_rebuild_every_odd_limb_in_range() {
        use rand::{RngCore, SeedableRng};
        let mut r = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let mut cases = vec![
            1u64,
            3,
            u64::MAX,
            u64::MAX - 2,
            1 << 63 | 1,
            0x5555_5555_5555_5555,
        ];
        cases.extend((0..2000).map(|_| r.next_u64() | 1));
        for v in cases {
            let k = regular_digits::<KEY_W, KEY_DIGITS>(v);
            assert_eq!(value::<KEY_W, KEY_DIGITS>(&k), i128::from(v), "{v:#x}");
            assert!(
                k.iter()
                    .all(|d| d % 2 != 0 && d.unsigned_abs() < 1 << KEY_W)
            );
            let b = regular_digits::<BASE_W, BASE_DIGITS>(v);
            assert_eq!(value::<BASE_W, BASE_DIGITS>(&b), i128::from(v), "{v:#x}");
            assert!(
                b.iter()
                    .all(|d| d % 2 != 0 && d.unsigned_abs() < 1 << BASE_W)
            );
        }
    }

    #[test]
    fn even_limbs_are_recoded_plus_one() {
        let (d, even) = limb_digits::<KEY_W, KEY_DIGITS>(&[0, 1, u64::MAX - 1, 2]);
        assert_eq!(even, [true, false, true, true]);
        assert_eq!(value::<KEY_W, KEY_DIGITS>(&d[0]), 1);
        assert_eq!(value::<KEY_W, KEY_DIGITS>(&d[2]), i128::from(u64::MAX));
    }

    #[test]
    fn eight_lanes_decide_every_equation_as_the_scalar_chain_even_for_extreme_scalars() {
        use crate::crypto::PrivateKey;
        use crate::crypto::babyjub::{self, Point};
        use rand::{RngCore, SeedableRng};
        if !super::super::field_x8::available() {
            eprintln!("AVX-512 IFMA not available: only the scalar path runs here");
            return;
        }
        let mut r = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let keys: Vec<_> = (0..3)
            .map(|_| PrivateKey::random(&mut r).public().prepare().unwrap())
            .collect();
        let extreme = [0u64, 1, 2, u64::MAX, u64::MAX - 1, 1 << 63];
        let mut scalar = |i: usize| -> [u64; 4] {
            std::array::from_fn(|j| match (i + j) % 3 {
                0 => extreme[(i * 7 + j) % extreme.len()],
                _ => r.next_u64(),
            })
        };
        for round in 0..6 {
            let n = [8, 1, 3, 5, 8, 2][round];
            let mut lanes: Vec<Lane<'_>> = (0..n)
                .map(|l| {
                    let key = &keys[(round + l) % keys.len()];
                    let (s, h) = (scalar(round * 16 + l), scalar(round * 16 + l + 8));
                    // Some R8 that satisfies the equation for these scalars.
                    let r8 = babyjub::mul_base8_sub_prepared(&s, key.a8(), &h).to_affine();
                    Lane {
                        table: key.a8_x8().unwrap(),
                        s,
                        h,
                        r8,
                    }
                })
                .collect();
            let all = if n == 8 { 0xff } else { (1u8 << n) - 1 };
            assert_eq!(
                check_equations(&lanes),
                all,
                "round {round}: every equation holds"
            );
            // Break one lane a round, a different way each time.
            let bad = round % n;
            match round % 3 {
                0 => lanes[bad].s[0] ^= 1,
                1 => lanes[bad].h[3] ^= 1 << 20,
                _ => {
                    lanes[bad].r8 = Point {
                        x: -lanes[bad].r8.x,
                        y: lanes[bad].r8.y,
                    }
                }
            }
            assert_eq!(
                check_equations(&lanes),
                all & !(1 << bad),
                "round {round}: lane {bad}"
            );
        }
    }
}
