//! Eight BN254 scalar-field elements at once, with AVX-512 IFMA: the arithmetic under
//! [`super::poseidon_x8`] (eight hashes per pass) and [`super::eddsa_x8`] (eight
//! signature equations per pass).
//!
//! # Why by hand
//!
//! Poseidon and the Baby Jubjub curve are bound by BN254 multiplications (~14 ns each with
//! arkworks' 4×64-bit Montgomery code, which no faster scalar field crate beats on this
//! CPU: docs/PROFILE.md). AVX-512 IFMA multiplies eight 52-bit lanes per instruction
//! (`vpmadd52luq`/`vpmadd52huq`), so an element in five 52-bit limbs, one register per
//! limb with one element per lane, does eight multiplications for about the price of
//! two scalar ones. No maintained Rust crate offers an IFMA BN254 field.
//!
//! # Representation and bounds
//!
//! An element is `Σ limb_k · 2^(52k)`, `k < 5`, every limb below 2^52 ("normalized"),
//! in Montgomery form with `R = 2^260`: `x` is held as `x · 2^260 mod p`, *partially*
//! reduced. [`mul`] and [`dot`] accumulate exact column sums of the 52×52-bit products
//! (no carries needed below 2^64: at most 17 products of 10 terms each) and reduce once,
//! five rounds clearing one limb each; the result is below `ab / 2^260 + p`.
//!
//! With `p ≈ 0.19 · 2^256`, inputs below `2^256 ≈ 5.26p` give a product below `1.34p`;
//! callers keep every multiplication input below `5.26p` and say how where they add or
//! subtract ([`add`], [`sub`], [`sub_if_ge`]).
//!
//! # Portability
//!
//! Everything here is compiled with `#[target_feature(enable = "avx512f,avx512ifma")]`
//! and only called after [`available`] said yes, so the binary runs on any x86-64; other
//! CPUs take the scalar paths.

#[cfg(target_arch = "x86_64")]
pub(super) use imp::*;

/// Whether this CPU runs the eight-lane paths (AVX-512 F + IFMA).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512ifma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::arch::x86_64::*;

    use ark_ff::{BigInt, Field, PrimeField};
    use once_cell::sync::Lazy;

    use crate::field::Fe;

    /// Limb mask, `2^52 − 1`.
    const MASK: u64 = (1 << 52) - 1;

    /// A scalar in five 52-bit limbs (constants, broadcast to every lane when used).
    pub type Limbs = [u64; 5];

    /// Eight field elements, limb `k` of every lane in register `k`.
    #[derive(Clone, Copy)]
    pub struct V(pub [__m512i; 5]);

    /// Split a 256-bit integer (four 64-bit limbs) into five 52-bit limbs.
    pub const fn split(a: [u64; 4]) -> Limbs {
        [
            a[0] & MASK,
            ((a[0] >> 52) | (a[1] << 12)) & MASK,
            ((a[1] >> 40) | (a[2] << 24)) & MASK,
            ((a[2] >> 28) | (a[3] << 36)) & MASK,
            a[3] >> 16,
        ]
    }

    /// Join five 52-bit limbs (value below 2^256) into four 64-bit limbs.
    fn join(l: Limbs) -> [u64; 4] {
        [
            l[0] | (l[1] << 52),
            (l[1] >> 12) | (l[2] << 40),
            (l[2] >> 24) | (l[3] << 28),
            (l[3] >> 36) | (l[4] << 16),
        ]
    }

    /// `k · p` in 52-bit limbs (`k` small), for constants.
    const fn times_p(k: u64) -> Limbs {
        let mut out = [0u64; 5];
        let mut carry = 0u64;
        let mut i = 0;
        while i < 5 {
            let v = MODULUS[i] * k + carry;
            out[i] = v & MASK;
            carry = v >> 52;
            i += 1;
        }
        out
    }

    /// `p`.
    pub const MODULUS: Limbs = split(<Fe as PrimeField>::MODULUS.0);
    /// `2p` and `3p`: what [`sub`] adds before subtracting.
    pub const P2: Limbs = times_p(2);
    /// `3p`.
    pub const P3: Limbs = times_p(3);

    /// `−p^{-1} mod 2^52`: the 64-bit one of the scalar path, cut to 52 bits.
    const P_INV: u64 = super::super::poseidon::P_INV & MASK;

    struct Conversions {
        /// `2^264 mod p`: arkworks' Montgomery form (`x · 2^256`) times it, reduced by
        /// `2^260`, is this module's (`x · 2^260`).
        to_ours: Limbs,
        /// `2^256 mod p`: the way back.
        to_ark: Limbs,
        /// `2^260 mod p`: an integer times it is the integer in this module's form.
        r: Fe,
    }

    static CONVERSIONS: Lazy<Conversions> = Lazy::new(|| {
        let two = Fe::from(2u64);
        Conversions {
            to_ours: limbs_of(two.pow([264u64])),
            to_ark: limbs_of(two.pow([256u64])),
            r: two.pow([260u64]),
        }
    });

    /// The integer value of `x` (canonical, below p), in 52-bit limbs.
    fn limbs_of(x: Fe) -> Limbs {
        split(x.into_bigint().0)
    }

    /// `x` in this module's form (`x · 2^260 mod p`, canonical), for constant tables.
    pub fn constant(x: &Fe) -> Limbs {
        limbs_of(*x * CONVERSIONS.r)
    }

    /// The same constant in every lane.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub fn splat(c: &Limbs) -> V {
        V(c.map(|x| _mm512_set1_epi64(x as i64)))
    }

    /// Lane `i` from `lanes[i]` (each already in this module's form).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub fn gather(lanes: [&Limbs; 8]) -> V {
        V(std::array::from_fn(|k| {
            _mm512_set_epi64(
                lanes[7][k] as i64,
                lanes[6][k] as i64,
                lanes[5][k] as i64,
                lanes[4][k] as i64,
                lanes[3][k] as i64,
                lanes[2][k] as i64,
                lanes[1][k] as i64,
                lanes[0][k] as i64,
            )
        }))
    }

    /// Add the exact product `a · b` into ten column accumulators (limbs of `a` and `b`
    /// below 2^52; every column gains at most ten terms below 2^52).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub fn mul_acc(acc: &mut [__m512i; 10], a: &V, b: &V) {
        for i in 0..5 {
            for j in 0..5 {
                acc[i + j] = _mm512_madd52lo_epu64(acc[i + j], a.0[i], b.0[j]);
                acc[i + j + 1] = _mm512_madd52hi_epu64(acc[i + j + 1], a.0[i], b.0[j]);
            }
        }
    }

    /// Montgomery reduction of column sums `T = Σ acc[k] · 2^(52k)` (each column below
    /// 2^61): returns `T / 2^260 mod p`, below `T / 2^260 + p`, limbs normalized.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub fn redc(mut acc: [__m512i; 10]) -> V {
        let zero = _mm512_setzero_si512();
        let n0 = _mm512_set1_epi64(P_INV as i64);
        let p = splat(&MODULUS);
        for i in 0..5 {
            // m = (acc[i] · (−p^{-1})) mod 2^52 makes acc[i] + m·p ≡ 0 (mod 2^52).
            let m = _mm512_madd52lo_epu64(zero, acc[i], n0);
            for j in 0..5 {
                acc[i + j] = _mm512_madd52lo_epu64(acc[i + j], m, p.0[j]);
                acc[i + j + 1] = _mm512_madd52hi_epu64(acc[i + j + 1], m, p.0[j]);
            }
            acc[i + 1] = _mm512_add_epi64(acc[i + 1], _mm512_srli_epi64(acc[i], 52));
        }
        carry(V([acc[5], acc[6], acc[7], acc[8], acc[9]]))
    }

    /// Propagate carries so that every limb is below 2^52 (value below 2^260).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn carry(mut x: V) -> V {
        let mask = _mm512_set1_epi64(MASK as i64);
        for k in 0..4 {
            x.0[k + 1] = _mm512_add_epi64(x.0[k + 1], _mm512_srli_epi64(x.0[k], 52));
            x.0[k] = _mm512_and_si512(x.0[k], mask);
        }
        x
    }

    /// `a · b / 2^260 mod p`; below `1.34p` when both inputs are below `5.26p`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub fn mul(a: &V, b: &V) -> V {
        let mut acc = [_mm512_setzero_si512(); 10];
        mul_acc(&mut acc, a, b);
        redc(acc)
    }

    /// `Σ a[k] · b[k] / 2^260 mod p` with one reduction, for at most 17 terms; below
    /// `1.5p` when the `a` are canonical constants and the `b` below `2.4p`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub fn dot_const(a: &[Limbs], b: &[V]) -> V {
        debug_assert!(a.len() == b.len() && a.len() <= 17);
        let mut acc = [_mm512_setzero_si512(); 10];
        for (a, b) in a.iter().zip(b) {
            mul_acc(&mut acc, &splat(a), b);
        }
        redc(acc)
    }

    /// `a + b` (limbs normalized; the value is the sum, not reduced).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub fn add(a: &V, b: &V) -> V {
        let mut s = *a;
        for k in 0..5 {
            s.0[k] = _mm512_add_epi64(a.0[k], b.0[k]);
        }
        carry(s)
    }

    /// `a + kp − b` where `kp` is a multiple of `p` above `b` ([`P2`], [`P3`]):
    /// congruent to `a − b`, below `a + kp`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub fn sub(a: &V, b: &V, kp: &Limbs) -> V {
        let mask = _mm512_set1_epi64(MASK as i64);
        let mut out = [_mm512_setzero_si512(); 5];
        let mut borrow = _mm512_setzero_si512();
        for k in 0..5 {
            let v = _mm512_add_epi64(
                _mm512_sub_epi64(
                    _mm512_add_epi64(a.0[k], _mm512_set1_epi64(kp[k] as i64)),
                    b.0[k],
                ),
                borrow,
            );
            // Signed limbs: the arithmetic shift carries a negative limb's borrow on.
            borrow = _mm512_srai_epi64(v, 52);
            out[k] = if k < 4 { _mm512_and_si512(v, mask) } else { v };
        }
        V(out)
    }

    /// `x − q` in every lane where `x ≥ q`, `x` elsewhere (both normalized).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub fn sub_if_ge(x: &V, q: &Limbs) -> V {
        let mask = _mm512_set1_epi64(MASK as i64);
        let mut d = [_mm512_setzero_si512(); 5];
        let mut borrow = _mm512_setzero_si512();
        for k in 0..5 {
            let dk = _mm512_add_epi64(
                _mm512_sub_epi64(x.0[k], _mm512_set1_epi64(q[k] as i64)),
                borrow,
            );
            // Arithmetic shift: −1 when this limb went negative, else 0.
            borrow = _mm512_srai_epi64(dk, 52);
            d[k] = if k < 4 {
                _mm512_and_si512(dk, mask)
            } else {
                dk
            };
        }
        let negative = _mm512_cmplt_epi64_mask(d[4], _mm512_setzero_si512());
        V(std::array::from_fn(|k| {
            _mm512_mask_blend_epi64(negative, d[k], x.0[k])
        }))
    }

    /// The lanes where `a ≡ b (mod p)`, for `a`, `b` below `2p`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub fn eq_mask(a: &V, b: &V) -> u8 {
        let a = sub_if_ge(a, &MODULUS);
        let b = sub_if_ge(b, &MODULUS);
        let mut m = 0xff;
        for k in 0..5 {
            m &= _mm512_cmpeq_epi64_mask(a.0[k], b.0[k]);
        }
        m
    }

    /// Load up to eight arkworks elements (unused lanes zero) into this module's form,
    /// below `1.34p`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub fn load(lanes: &[Fe]) -> V {
        let mut cols = [[0u64; 8]; 5];
        for (lane, x) in lanes.iter().enumerate() {
            // arkworks' internal form: x · 2^256 mod p, canonical.
            let l = split((x.0).0);
            for k in 0..5 {
                cols[k][lane] = l[k];
            }
        }
        // SAFETY: each column is eight u64s, 64 readable bytes; the load is unaligned.
        let v = V(cols.map(|c| unsafe { _mm512_loadu_si512(c.as_ptr().cast()) }));
        mul(&v, &splat(&CONVERSIONS.to_ours))
    }

    /// Store lanes (values below `2.4p`) back as canonical arkworks elements.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub fn store(x: &V, out: &mut [Fe]) {
        // (x · 2^260) · 2^256 / 2^260 = x · 2^256, arkworks' form, below 1.1p: one
        // conditional subtraction makes it canonical.
        let a = sub_if_ge(&mul(x, &splat(&CONVERSIONS.to_ark)), &MODULUS);
        let mut cols = [[0u64; 8]; 5];
        for (k, col) in cols.iter_mut().enumerate() {
            // SAFETY: each column is eight u64s, 64 writable bytes; the store is unaligned.
            unsafe { _mm512_storeu_si512(col.as_mut_ptr().cast(), a.0[k]) };
        }
        for (lane, o) in out.iter_mut().enumerate() {
            let l = [
                cols[0][lane],
                cols[1][lane],
                cols[2][lane],
                cols[3][lane],
                cols[4][lane],
            ];
            *o = Fe::new_unchecked(BigInt::new(join(l)));
        }
    }
}
