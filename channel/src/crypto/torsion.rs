//! Is a Baby Jubjub point in the prime-order subgroup? One exponentiation instead of a
//! multiplication by `l`, by the Tate pairing with a point of order 8.
//!
//! The curve group is cyclic of order `8·l`, so the subgroup of order `l` is `8·E`. The
//! reduced Tate pairing `t(T, ·): E / 8E → μ₈` with a generator `T` of the 8-torsion is
//! an injective homomorphism (`8 | p − 1`, so `μ₈ ⊂ F_p`): a point `P` is in the subgroup
//! iff `t(T, P) = 1`. We evaluate `t(T, P) = f(P)^((p−1)/8)` with Miller's function
//! `f`, `div f = 8(T) − 8(O)`, on the Montgomery model `v² = u³ + 168698·u² + u` of the
//! curve (`u = (1 + y)/(1 − y)`, `v = u/x`):
//!
//! ```text
//! f = ℓ₁⁴ · ℓ₂² / (v₂⁴ · v₄)
//! ℓ₁ tangent at T, v₂ vertical at 2T, ℓ₂ tangent at 2T, v₄ vertical at 4T (u = 0)
//! ```
//!
//! Rather than normalizing `f`, the value for `P` is compared with the value for
//! `BASE8` (a subgroup point): both carry the same constant factor. The fractions of the
//! evaluation are kept as numerator and denominator and the denominator is folded in as
//! its 7th power (`(n/d)^e = (n·d⁷)^e` since `d^(8e) = d^(p−1) = 1`), so the test costs
//! about 20 multiplications and one 251-bit exponentiation, against about 250 doublings
//! and additions for `l·P` (`cargo bench -p benches --bench crypto`, `babyjub/`).
//!
//! Points of small order (`8·P = O`) sit on the zeros and poles of the lines; they are
//! answered directly (the only one in the subgroup is the identity).

use ark_ff::{AdditiveGroup, Field, MontFp, PrimeField, Zero};
use once_cell::sync::Lazy;

use super::babyjub::{ExtendedPoint, GENERATOR, Point, SUBORDER};
use crate::field::Fe;

/// The Montgomery coefficient `A = 2(a + d)/(a − d)`; `B = 4/(a − d) = 1`.
const MONT_A: Fe = MontFp!("168698");

/// The constants of Miller's function for a fixed point `T` of order 8.
struct Miller {
    /// Tangent at `T`: `ℓ₁(u, v) = v − λ₁·u − c₁`.
    lambda1: Fe,
    c1: Fe,
    /// `u(2T)` (the vertical at `2T`).
    u2: Fe,
    /// Tangent at `2T`: `ℓ₂(u, v) = v − λ₂·u − c₂`.
    lambda2: Fe,
    c2: Fe,
    /// `f(BASE8)^e`: the value every subgroup point has.
    subgroup_value: Fe,
}

/// `(p − 1)/8`, little-endian limbs.
fn exponent() -> [u64; 4] {
    let p = <Fe as PrimeField>::MODULUS.0;
    let m = [p[0] - 1, p[1], p[2], p[3]];
    [
        (m[0] >> 3) | (m[1] << 61),
        (m[1] >> 3) | (m[2] << 61),
        (m[2] >> 3) | (m[3] << 61),
        m[3] >> 3,
    ]
}

static EXPONENT: Lazy<[u64; 4]> = Lazy::new(exponent);

static MILLER: Lazy<Miller> = Lazy::new(|| {
    // A point of order 8: l·GENERATOR.
    let t = GENERATOR.mul_bigint(&SUBORDER.0);
    let (u1, v1) = to_montgomery(&t);
    let lambda1 = tangent_slope(u1, v1);
    let (u2, v2) = double_montgomery(u1, v1, lambda1);
    let lambda2 = tangent_slope(u2, v2);
    let (u4, _) = double_montgomery(u2, v2, lambda2);
    assert_eq!(u4, Fe::ZERO, "4T is the Montgomery point (0, 0)");
    let mut m = Miller {
        lambda1,
        c1: v1 - lambda1 * u1,
        u2,
        lambda2,
        c2: v2 - lambda2 * u2,
        subgroup_value: Fe::ONE,
    };
    m.subgroup_value =
        miller_power(&m, &super::babyjub::BASE8).expect("BASE8 is not of small order");
    m
});

/// Edwards to Montgomery coordinates of a point with `x ≠ 0`, `y ≠ 1`.
fn to_montgomery(p: &Point) -> (Fe, Fe) {
    let u = (Fe::ONE + p.y) * (Fe::ONE - p.y).inverse().expect("y != 1");
    let v = u * p.x.inverse().expect("x != 0");
    (u, v)
}

/// Slope of the tangent at `(u, v)`, `v ≠ 0`: `(3u² + 2Au + 1) / 2v`.
fn tangent_slope(u: Fe, v: Fe) -> Fe {
    (u.square() * Fe::from(3u64) + MONT_A.double() * u + Fe::ONE)
        * v.double().inverse().expect("not a 2-torsion point")
}

/// `2·(u, v)` given the tangent slope.
fn double_montgomery(u: Fe, v: Fe, lambda: Fe) -> (Fe, Fe) {
    let u3 = lambda.square() - MONT_A - u.double();
    (u3, lambda * (u - u3) - v)
}

/// `f(P)^e` for `P` not of small order (`None` if a line vanishes at `P`, which only
/// happens for small-order points).
fn miller_power(m: &Miller, p: &Point) -> Option<Fe> {
    // u = U/W, v = U/(W·x).
    let big_u = Fe::ONE + p.y;
    let w = Fe::ONE - p.y;
    let x = p.x;
    // ℓ(P) = (U − x·(W·c + λ·U)) / (W·x)
    let l1 = big_u - x * (w * m.c1 + m.lambda1 * big_u);
    let l2 = big_u - x * (w * m.c2 + m.lambda2 * big_u);
    // v₂(P) = (U − u₂·W)/W, v₄(P) = U/W.
    let v2 = big_u - m.u2 * w;
    // f = ℓ₁⁴ ℓ₂² / (W · x⁶ · V₂⁴ · U)
    let num = l1.square().square() * l2.square();
    let x2 = x.square();
    let x6 = x2.square() * x2;
    let v2_4 = v2.square().square();
    let den = w * x6 * v2_4 * big_u;
    if num.is_zero() || den.is_zero() {
        return None;
    }
    let den2 = den.square();
    let den7 = den2.square() * den2 * den;
    Some((num * den7).pow(*EXPONENT))
}

/// Whether `P` (on the curve) is in the subgroup of order `l`: exactly
/// [`Point::is_in_subgroup`], about a fifth of its cost.
pub fn in_prime_subgroup(p: &Point) -> bool {
    if ExtendedPoint::from(*p).mul_by_cofactor().is_identity() {
        return p.is_identity();
    }
    let m = &*MILLER;
    miller_power(m, p) == Some(m.subgroup_value)
}

/// Force the lazy constants (a few inversions). Optional.
pub fn warm_up() {
    Lazy::force(&MILLER);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::babyjub::{BASE8, Scalar};
    use ark_ff::{AdditiveGroup, BigInteger, UniformRand};
    use rand::SeedableRng;

    #[test]
    fn exponent_is_p_minus_one_over_eight() {
        // 8·e = p − 1: an 8th power of b^e is 1 for b ≠ 0, and e is exact.
        let b = Fe::from(5u64);
        assert_eq!(b.pow(*EXPONENT).pow([8u64]), Fe::ONE);
        let eight_e = ark_ff::BigInt(*EXPONENT) << 3;
        let mut p_minus_1 = <Fe as PrimeField>::MODULUS;
        p_minus_1.sub_with_borrow(&ark_ff::BigInt::from(1u64));
        assert_eq!(eight_e, p_minus_1);
    }

    #[test]
    fn agrees_with_multiplication_by_l_in_every_torsion_class() {
        let mut r = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let order8 = GENERATOR.mul_bigint(&SUBORDER.0);
        let mut torsion = vec![Point::IDENTITY];
        for i in 1..8 {
            torsion.push(torsion[i - 1].add(&order8));
        }
        for _ in 0..6 {
            let s = BASE8.mul(&Scalar::rand(&mut r));
            for (k, t) in torsion.iter().enumerate() {
                let p = s.add(t);
                assert!(p.is_on_curve());
                assert_eq!(in_prime_subgroup(&p), k == 0, "torsion class {k}");
                assert_eq!(in_prime_subgroup(&p), p.is_in_subgroup());
            }
        }
        // Random points of the whole group (any class).
        for _ in 0..16 {
            let k = Fe::rand(&mut r).into_bigint().0;
            let p = GENERATOR.mul_bigint(&k);
            assert_eq!(in_prime_subgroup(&p), p.is_in_subgroup());
        }
    }

    #[test]
    fn small_order_points_only_the_identity_is_in_the_subgroup() {
        let order8 = GENERATOR.mul_bigint(&SUBORDER.0);
        let mut t = Point::IDENTITY;
        for k in 0..8 {
            assert_eq!(in_prime_subgroup(&t), k == 0, "{k}·T8");
            t = t.add(&order8);
        }
        assert!(in_prime_subgroup(&BASE8));
        assert!(!in_prime_subgroup(&GENERATOR));
        assert_eq!(Point::IDENTITY.x, Fe::ZERO);
    }
}
