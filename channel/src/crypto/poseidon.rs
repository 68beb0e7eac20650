//! Poseidon hash with circomlib's parameters (BN254 scalar field, S-box `x^5`,
//! arities 1..=16), equal to circomlibjs 0.1.7 `poseidon(inputs)`.
//!
//! # Parameters
//!
//! For `n` inputs the state width is `t = n + 1`; there are `R_F = 8` full rounds and
//! `R_P = [56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68][t - 2]` partial
//! rounds. Constants are circomlibjs's (`src/poseidon_constants.js` and
//! `src/poseidon_constants_opt.js`), converted once by
//! `channel/tests/vectors/gen/constants.js` into `poseidon_constants.bin` (embedded, parsed
//! lazily on first use).
//!
//! # Round structure (reference form, what [`params`] describes)
//!
//! ```text
//! state = [0, in_0, …, in_{n-1}]                      (capacity element first)
//! for r in 0 .. R_F + R_P:
//!     ARK:   state[i] += round_constants[r * t + i]    for every i
//!     S-box: state[i] = state[i]^5                     for every i if r < R_F/2 or r >= R_F/2 + R_P
//!            state[0] = state[0]^5                     otherwise (partial round)
//!     MIX:   state = mds · state, i.e. new[i] = Σ_j mds[i][j] · old[j]
//! output = state[0]
//! ```
//!
//! This is circomlibjs `poseidon_reference.js` and circomlib's `poseidon_old.circom`
//! round for round; an R1CS gadget built from [`params`] (linear layers are free there)
//! computes the same function.
//!
//! # Native hot path
//!
//! [`poseidon`] evaluates the same permutation in the optimized form of circomlibjs
//! `poseidon_opt.js` (from neptune): round constants of partial rounds are folded into a
//! single constant per round, and the dense MDS of each partial round is factored into a
//! pre-matrix `P` plus one sparse matrix per round (`S`), so a partial round costs about
//! `2t` multiplications instead of `t²`. The state lives in a fixed-size array on the
//! stack (the width is a const generic), and dense products use ark-ff's lazily reduced
//! `sum_of_products`.

use ark_ff::{AdditiveGroup, BigInt, Field, PrimeField};
use once_cell::sync::Lazy;

use crate::field::Fe;

/// Number of full rounds (half before, half after the partial rounds).
pub const FULL_ROUNDS: usize = 8;

/// Number of partial rounds for `t = 2..=17`, indexed by `t - 2`.
pub const PARTIAL_ROUNDS: [usize; 16] = [
    56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68,
];

/// The largest supported number of inputs.
pub const MAX_ARITY: usize = 16;

/// Poseidon parameters for state width `t = arity + 1`, in circomlib's unoptimized form
/// (what an R1CS gadget needs: linear layers are free there). See the module doc for the
/// exact round structure.
pub struct PoseidonParams {
    /// State width `t = arity + 1`.
    pub t: usize,
    /// Number of full rounds (8).
    pub full_rounds: usize,
    /// Number of partial rounds.
    pub partial_rounds: usize,
    /// Round constants, `t` per round, `(full_rounds + partial_rounds) * t` in all.
    pub round_constants: Vec<Fe>,
    /// The `t x t` MDS matrix, row-major: `new[i] = Σ_j mds[i][j] * old[j]`.
    pub mds: Vec<Vec<Fe>>,
}

/// circomlibjs's optimized constants for one width, laid out for the hot path.
pub(super) struct OptParams {
    pub(super) partial_rounds: usize,
    /// `C`: `t` constants for each full round but the last, plus one per partial round
    /// (`(R_F / 2 + 1) * t` before the partial rounds, `R_P` for them, the rest after).
    pub(super) c: Vec<Fe>,
    /// `S`: per partial round, `t` coefficients for the new `state[0]` then `t - 1`
    /// coefficients by which the old `state[0]` enters `state[1..]`.
    pub(super) s: Vec<Fe>,
    /// The dense MDS, row-major as in [`PoseidonParams::mds`].
    pub(super) m: Vec<Fe>,
    /// The pre-partial-rounds matrix, stored so that `new[i] = Σ_j p[i * t + j] · old[j]`
    /// (circomlibjs reads its `P` as `P[j][i]`; this is its transpose).
    pub(super) p: Vec<Fe>,
}

struct Tables {
    params: Vec<PoseidonParams>,
    opt: Vec<OptParams>,
}

static CONSTANTS_BIN: &[u8] = include_bytes!("poseidon_constants.bin");

static TABLES: Lazy<Tables> = Lazy::new(|| parse_tables(CONSTANTS_BIN));

/// A cursor over the embedded constants file (format: see `tests/vectors/gen/constants.js`).
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        assert!(self.bytes.len() >= n, "poseidon_constants.bin is truncated");
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        head
    }

    fn u32(&mut self) -> usize {
        let b = self.take(4);
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
    }

    fn fe(&mut self) -> Fe {
        let b = self.take(32);
        let mut limbs = [0u64; 4];
        for (i, limb) in limbs.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[8 * i..8 * i + 8]);
            *limb = u64::from_le_bytes(w);
        }
        Fe::from_bigint(BigInt::new(limbs)).expect("poseidon constant is not canonical")
    }

    fn array(&mut self, expected: usize) -> Vec<Fe> {
        let n = self.u32();
        assert_eq!(
            n, expected,
            "poseidon_constants.bin: unexpected array length"
        );
        (0..n).map(|_| self.fe()).collect()
    }
}

fn parse_tables(bin: &[u8]) -> Tables {
    let mut r = Reader { bytes: bin };
    assert_eq!(r.take(8), b"ZKPOSEI1", "poseidon_constants.bin: bad magic");
    let mut params = Vec::with_capacity(MAX_ARITY);
    let mut opt = Vec::with_capacity(MAX_ARITY);
    for t in 2..=MAX_ARITY + 1 {
        assert_eq!(r.u32(), t, "poseidon_constants.bin: widths out of order");
        let rp = r.u32();
        assert_eq!(
            rp,
            PARTIAL_ROUNDS[t - 2],
            "poseidon_constants.bin: partial round count"
        );
        let round_constants = r.array((FULL_ROUNDS + rp) * t);
        let m = r.array(t * t);
        let c = r.array(FULL_ROUNDS * t + rp);
        let s = r.array((2 * t - 1) * rp);
        let p_js = r.array(t * t);
        let mut p = vec![Fe::ZERO; t * t];
        for i in 0..t {
            for j in 0..t {
                p[i * t + j] = p_js[j * t + i];
            }
        }
        params.push(PoseidonParams {
            t,
            full_rounds: FULL_ROUNDS,
            partial_rounds: rp,
            round_constants,
            mds: m.chunks(t).map(<[Fe]>::to_vec).collect(),
        });
        opt.push(OptParams {
            partial_rounds: rp,
            c,
            s,
            m,
            p,
        });
    }
    assert!(r.bytes.is_empty(), "poseidon_constants.bin: trailing bytes");
    Tables { params, opt }
}

/// Parameters for `arity` inputs (1..=16).
///
/// # Panics
/// If `arity` is outside 1..=16 (arities are fixed by the caller, never taken from input).
pub fn params(arity: usize) -> &'static PoseidonParams {
    assert!(
        (1..=MAX_ARITY).contains(&arity),
        "poseidon arity {arity} outside 1..=16"
    );
    &TABLES.params[arity - 1]
}

/// The optimized tables of width `t` (2..=17), for the eight-lane path.
pub(super) fn opt_params(t: usize) -> &'static OptParams {
    &TABLES.opt[t - 2]
}

/// Force the lazy parse of the constants (about 1 MB). Optional: call it at start-up to
/// keep the one-time cost out of the first request.
pub fn warm_up() {
    Lazy::force(&TABLES);
}

/// Poseidon of 1..=16 inputs, equal to circomlibjs `poseidon(inputs)`.
///
/// The arity is always fixed by the caller (never taken from input), so an arity
/// outside 1..=16 is a programming error and panics.
pub fn poseidon(inputs: &[Fe]) -> Fe {
    match inputs.len() {
        1 => hash::<2>(inputs),
        2 => hash::<3>(inputs),
        3 => hash::<4>(inputs),
        4 => hash::<5>(inputs),
        5 => hash::<6>(inputs),
        6 => hash::<7>(inputs),
        7 => hash::<8>(inputs),
        8 => hash::<9>(inputs),
        9 => hash::<10>(inputs),
        10 => hash::<11>(inputs),
        11 => hash::<12>(inputs),
        12 => hash::<13>(inputs),
        13 => hash::<14>(inputs),
        14 => hash::<15>(inputs),
        15 => hash::<16>(inputs),
        16 => hash::<17>(inputs),
        n => panic!("poseidon arity {n} outside 1..=16"),
    }
}

/// Poseidon evaluated literally from [`params`] (the reference round structure in the
/// module doc). Slow; it exists so tests (and gadget writers) can check that the
/// published parameters and the fast path describe the same function.
pub fn poseidon_reference(inputs: &[Fe]) -> Fe {
    let p = params(inputs.len());
    let t = p.t;
    let mut state = Vec::with_capacity(t);
    state.push(Fe::ZERO);
    state.extend_from_slice(inputs);
    let half = p.full_rounds / 2;
    for r in 0..p.full_rounds + p.partial_rounds {
        for (i, s) in state.iter_mut().enumerate() {
            *s += p.round_constants[r * t + i];
        }
        if r < half || r >= half + p.partial_rounds {
            state.iter_mut().for_each(|s| *s = pow5(*s));
        } else {
            state[0] = pow5(state[0]);
        }
        state = p
            .mds
            .iter()
            .map(|row| row.iter().zip(&state).map(|(m, s)| *m * s).sum())
            .collect();
    }
    state[0]
}

#[inline(always)]
fn pow5(x: Fe) -> Fe {
    let x2 = x.square();
    x2.square() * x
}

#[inline(always)]
fn row<const T: usize>(slice: &[Fe], i: usize) -> &[Fe; T] {
    slice[i * T..(i + 1) * T]
        .try_into()
        .expect("row of width T")
}

/// `state = matrix · state` for a dense row-major `T x T` matrix.
#[inline(always)]
fn mix<const T: usize>(state: &mut [Fe; T], matrix: &[Fe]) {
    let old = *state;
    for (i, s) in state.iter_mut().enumerate() {
        *s = dot(row::<T>(matrix, i), &old);
    }
}

/// BN254 scalar modulus, little-endian limbs.
const P: [u64; 4] = <Fe as PrimeField>::MODULUS.0;
/// `-P^{-1} mod 2^64` for Montgomery reduction.
pub(super) const P_INV: u64 = {
    // Newton iteration for the inverse of P[0] modulo 2^64.
    let mut inv = 1u64;
    let mut i = 0;
    while i < 6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(P[0].wrapping_mul(inv)));
        i += 1;
    }
    inv.wrapping_neg()
};

/// `Σ a[k]·b[k]` with one Montgomery reduction for the whole sum: the 512-bit products
/// of the Montgomery representations are accumulated exactly, then reduced once.
///
/// Bounds: each product is below `p² < 2^508`, so up to 17 of them stay below `2^513`
/// (9 limbs). The reduction returns `(Σ + m·p) / 2^256 < Σ/2^256 + p < 5p < 2^257`,
/// brought below `p` by at most four subtractions.
#[inline(always)]
fn dot<const T: usize>(a: &[Fe; T], b: &[Fe; T]) -> Fe {
    const { assert!(T <= 17) };
    let mut acc = [0u64; 9];
    for k in 0..T {
        let x = &(a[k].0).0;
        let y = &(b[k].0).0;
        for i in 0..4 {
            let mut carry = 0u128;
            for j in 0..4 {
                let t = acc[i + j] as u128 + (x[i] as u128) * (y[j] as u128) + carry;
                acc[i + j] = t as u64;
                carry = t >> 64;
            }
            let mut idx = i + 4;
            while carry != 0 {
                let t = acc[idx] as u128 + carry;
                acc[idx] = t as u64;
                carry = t >> 64;
                idx += 1;
            }
        }
    }
    // Montgomery reduction: four rounds, each clearing the lowest limb.
    for i in 0..4 {
        let m = acc[i].wrapping_mul(P_INV);
        let mut carry = 0u128;
        for j in 0..4 {
            let t = acc[i + j] as u128 + (m as u128) * (P[j] as u128) + carry;
            acc[i + j] = t as u64;
            carry = t >> 64;
        }
        let mut idx = i + 4;
        while carry != 0 {
            let t = acc[idx] as u128 + carry;
            acc[idx] = t as u64;
            carry = t >> 64;
            idx += 1;
        }
    }
    let mut r = [acc[4], acc[5], acc[6], acc[7], acc[8]];
    // r < 5p: subtract p while r >= p.
    loop {
        let ge = r[4] != 0 || {
            let mut ge = true;
            for i in (0..4).rev() {
                if r[i] != P[i] {
                    ge = r[i] > P[i];
                    break;
                }
            }
            ge
        };
        if !ge {
            break;
        }
        let mut borrow = 0u64;
        for i in 0..4 {
            let (d1, b1) = r[i].overflowing_sub(P[i]);
            let (d2, b2) = d1.overflowing_sub(borrow);
            r[i] = d2;
            borrow = (b1 | b2) as u64;
        }
        r[4] -= borrow;
    }
    // Montgomery form in, Montgomery form out: (aR·bR)/R = abR.
    Fe::new_unchecked(BigInt::new([r[0], r[1], r[2], r[3]]))
}

#[inline(always)]
fn full_sbox_ark<const T: usize>(state: &mut [Fe; T], c: &[Fe]) {
    for (s, c) in state.iter_mut().zip(c) {
        *s = pow5(*s) + c;
    }
}

/// The permutation in circomlibjs `poseidon_opt.js` form, for width `T`.
fn hash<const T: usize>(inputs: &[Fe]) -> Fe {
    debug_assert_eq!(inputs.len() + 1, T);
    let o = &TABLES.opt[T - 2];
    let (c, s, m, p) = (&o.c[..], &o.s[..], &o.m[..], &o.p[..]);
    let half = FULL_ROUNDS / 2;

    let mut state = [Fe::ZERO; T];
    state[1..].copy_from_slice(inputs);
    for (x, c) in state.iter_mut().zip(&c[..T]) {
        *x += c;
    }

    // First half of the full rounds; the last of them mixes with P.
    for r in 0..half - 1 {
        full_sbox_ark(&mut state, &c[(r + 1) * T..(r + 2) * T]);
        mix(&mut state, m);
    }
    full_sbox_ark(&mut state, &c[half * T..(half + 1) * T]);
    mix(&mut state, p);

    // Partial rounds with sparse matrices.
    let pc = &c[(half + 1) * T..(half + 1) * T + o.partial_rounds];
    for (r, rc) in pc.iter().enumerate() {
        state[0] = pow5(state[0]) + rc;
        let sr = &s[(2 * T - 1) * r..(2 * T - 1) * (r + 1)];
        let s0 = dot(sr[..T].try_into().expect("width T"), &state);
        let x0 = state[0];
        for (x, k) in state[1..].iter_mut().zip(&sr[T..]) {
            *x += x0 * k;
        }
        state[0] = s0;
    }

    // Second half of the full rounds; the last has no round constants.
    let tail = &c[(half + 1) * T + o.partial_rounds..];
    for r in 0..half - 1 {
        full_sbox_ark(&mut state, &tail[r * T..(r + 1) * T]);
        mix(&mut state, m);
    }
    for x in state.iter_mut() {
        *x = pow5(*x);
    }
    dot(row::<T>(m, 0), &state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::fe_from_dec;

    fn fes(xs: &[u64]) -> Vec<Fe> {
        xs.iter().map(|&x| Fe::from(x)).collect()
    }

    #[test]
    fn known_answers_from_circomlibjs() {
        // circomlibjs test/poseidon.js
        assert_eq!(
            poseidon(&fes(&[1, 2])),
            fe_from_dec(
                "7853200120776062878684798364095072458815029376092732009249414926327459813530"
            )
            .unwrap()
        );
        assert_eq!(
            poseidon(&fes(&[1, 2, 3, 4, 5, 6])),
            fe_from_dec(
                "20400040500897583745843009878988256314335038853985262692600694741116813247201"
            )
            .unwrap()
        );
        assert_eq!(
            poseidon(&fes(&[1, 2, 3, 4])),
            fe_from_dec(
                "18821383157269793795438455681495246036402687001665670618754263018637548127333"
            )
            .unwrap()
        );
    }

    #[test]
    fn optimized_equals_reference_for_every_arity() {
        for n in 1..=MAX_ARITY {
            let inputs: Vec<Fe> = (0..n as u64)
                .map(|i| Fe::from(i * 7919 + 3) - Fe::from(1_000_000u64))
                .collect();
            assert_eq!(poseidon(&inputs), poseidon_reference(&inputs), "arity {n}");
        }
    }

    #[test]
    fn lazy_dot_product_matches_field_arithmetic() {
        use ark_ff::UniformRand;
        use rand::SeedableRng;
        let mut r = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let max = -Fe::ONE;
        let check = |a: [Fe; 17], b: [Fe; 17]| {
            let want: Fe = a.iter().zip(&b).map(|(x, y)| *x * y).sum();
            assert_eq!(dot(&a, &b), want);
            let want3: Fe = a[..3].iter().zip(&b[..3]).map(|(x, y)| *x * y).sum();
            assert_eq!(
                dot::<3>(a[..3].try_into().unwrap(), b[..3].try_into().unwrap()),
                want3
            );
        };
        check([max; 17], [max; 17]);
        check([Fe::ZERO; 17], [max; 17]);
        for _ in 0..200 {
            check(
                std::array::from_fn(|_| Fe::rand(&mut r)),
                std::array::from_fn(|_| Fe::rand(&mut r)),
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn fast_path_equals_reference_on_random_inputs(
            seed in proptest::prelude::any::<u64>(),
            n in 1..=MAX_ARITY,
        ) {
            use ark_ff::UniformRand;
            use rand::SeedableRng;
            let mut r = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
            let inputs: Vec<Fe> = (0..n).map(|_| Fe::rand(&mut r)).collect();
            proptest::prop_assert_eq!(poseidon(&inputs), poseidon_reference(&inputs));
        }
    }

    #[test]
    fn params_shapes() {
        for n in 1..=MAX_ARITY {
            let p = params(n);
            assert_eq!(p.t, n + 1);
            assert_eq!(p.full_rounds, 8);
            assert_eq!(p.partial_rounds, PARTIAL_ROUNDS[n - 1]);
            assert_eq!(p.round_constants.len(), (8 + p.partial_rounds) * p.t);
            assert_eq!(p.mds.len(), p.t);
            assert!(p.mds.iter().all(|r| r.len() == p.t));
        }
    }

    #[test]
    fn matches_light_poseidon() {
        use light_poseidon::{Poseidon, PoseidonHasher};
        for n in 1..=12usize {
            let inputs: Vec<Fe> = (0..n as u64)
                .map(|i| Fe::from(i + 1) * Fe::from(0xdead_beef_u64))
                .collect();
            let mut h = Poseidon::<Fe>::new_circom(n).unwrap();
            assert_eq!(h.hash(&inputs).unwrap(), poseidon(&inputs), "arity {n}");
        }
    }

    #[test]
    #[should_panic(expected = "outside 1..=16")]
    fn arity_zero_panics() {
        poseidon(&[]);
    }

    #[test]
    #[should_panic(expected = "outside 1..=16")]
    fn arity_seventeen_panics() {
        poseidon(&[Fe::ZERO; 17]);
    }
}
