//! Many Poseidon hashes of one arity at once: eight per AVX-512 IFMA pass where the CPU
//! has it, one by one ([`super::poseidon()`]) where it does not. Same function, same
//! results: the tests compare every arity with the scalar path and circomlibjs vectors.
//!
//! The arithmetic is [`super::field_x8`]'s; this module is the permutation of
//! [`super::poseidon`] (circomlibjs `poseidon_opt.js` form) written over it, with the
//! bounds each step keeps.
//!
//! # Portability
//!
//! The binary stays portable to any x86-64 (and other architectures): the IFMA code is
//! compiled with `#[target_feature]` and chosen at run time by
//! `is_x86_feature_detected!`; without it [`poseidon_many`] hashes one by one.

use crate::field::Fe;

/// Below this many hashes the scalar path is used even where IFMA is available (an
/// IFMA pass costs the same for 1 lane as for 8, about 1.7 scalar hashes).
const MIN_LANES_FOR_X8: usize = 2;

/// `out[i] = poseidon(&inputs[i])` for every `i`, eight at a time where the CPU allows.
///
/// # Panics
/// If `out.len() != inputs.len()` or `N` is outside 1..=16 (both fixed by the caller).
pub fn poseidon_many<const N: usize>(inputs: &[[Fe; N]], out: &mut [Fe]) {
    assert_eq!(inputs.len(), out.len(), "one output per input");
    assert!(
        (1..=super::poseidon::MAX_ARITY).contains(&N),
        "poseidon arity {N} outside 1..=16"
    );
    #[cfg(target_arch = "x86_64")]
    if inputs.len() >= MIN_LANES_FOR_X8 && super::field_x8::available() {
        for (ins, outs) in inputs.chunks(8).zip(out.chunks_mut(8)) {
            if ins.len() < MIN_LANES_FOR_X8 {
                scalar(ins, outs);
            } else {
                // SAFETY: the CPU has AVX-512 F and IFMA (checked just above).
                unsafe { ifma::hash_chunk(ins, outs) };
            }
        }
        return;
    }
    scalar(inputs, out);
}

/// The eight-lane path for up to eight inputs, whatever their number (the tests compare
/// it with the scalar path on every lane count).
///
/// # Panics
/// If the CPU lacks AVX-512 IFMA, if `inputs.len()` is not 1..=8, or if
/// `out.len() != inputs.len()`.
#[cfg(test)]
fn poseidon_x8<const N: usize>(inputs: &[[Fe; N]], out: &mut [Fe]) {
    assert!(
        super::field_x8::available(),
        "AVX-512 IFMA is not available on this CPU"
    );
    assert!((1..=8).contains(&inputs.len()), "one to eight inputs");
    assert_eq!(inputs.len(), out.len(), "one output per input");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has AVX-512 F and IFMA (asserted above).
    unsafe {
        ifma::hash_chunk(inputs, out)
    };
}

/// Force the lazy conversion of the constants to the eight-lane form (about 1 ms), where
/// the CPU runs it.
pub(super) fn warm_up() {
    #[cfg(target_arch = "x86_64")]
    if super::field_x8::available() {
        ifma::warm_up();
    }
}

fn scalar<const N: usize>(inputs: &[[Fe; N]], out: &mut [Fe]) {
    for (i, o) in inputs.iter().zip(out) {
        *o = super::poseidon(i);
    }
}

#[cfg(target_arch = "x86_64")]
mod ifma {
    use once_cell::sync::Lazy;

    use super::super::field_x8::{
        Limbs, P2, V, add, constant, dot_const, load, mul, splat, store, sub_if_ge,
    };
    use super::super::poseidon::{FULL_ROUNDS, MAX_ARITY, opt_params};
    use crate::field::Fe;

    /// Constants of one width in `field_x8`'s form, laid out as
    /// [`super::super::poseidon`]'s optimized tables.
    struct WidthTables {
        c: Vec<Limbs>,
        s: Vec<Limbs>,
        m: Vec<Limbs>,
        p: Vec<Limbs>,
        partial_rounds: usize,
    }

    static TABLES: Lazy<Vec<WidthTables>> = Lazy::new(|| {
        (2..=MAX_ARITY + 1)
            .map(|t| {
                let o = opt_params(t);
                WidthTables {
                    c: o.c.iter().map(constant).collect(),
                    s: o.s.iter().map(constant).collect(),
                    m: o.m.iter().map(constant).collect(),
                    p: o.p.iter().map(constant).collect(),
                    partial_rounds: o.partial_rounds,
                }
            })
            .collect()
    });

    pub(super) fn warm_up() {
        Lazy::force(&TABLES);
    }

    /// `x^5`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn pow5(x: &V) -> V {
        let x2 = mul(x, x);
        let x4 = mul(&x2, &x2);
        mul(&x4, x)
    }

    /// Hash up to eight inputs of arity `N` (`T = N + 1`), one per lane.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and IFMA.
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) unsafe fn hash_chunk<const N: usize>(inputs: &[[Fe; N]], out: &mut [Fe]) {
        match N {
            1 => permute::<2, N>(inputs, out),
            2 => permute::<3, N>(inputs, out),
            3 => permute::<4, N>(inputs, out),
            4 => permute::<5, N>(inputs, out),
            5 => permute::<6, N>(inputs, out),
            6 => permute::<7, N>(inputs, out),
            7 => permute::<8, N>(inputs, out),
            8 => permute::<9, N>(inputs, out),
            9 => permute::<10, N>(inputs, out),
            10 => permute::<11, N>(inputs, out),
            11 => permute::<12, N>(inputs, out),
            12 => permute::<13, N>(inputs, out),
            13 => permute::<14, N>(inputs, out),
            14 => permute::<15, N>(inputs, out),
            15 => permute::<16, N>(inputs, out),
            16 => permute::<17, N>(inputs, out),
            n => panic!("poseidon arity {n} outside 1..=16"),
        }
    }

    /// `state = matrix · state` for a dense row-major `T x T` matrix.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mix<const T: usize>(state: &mut [V; T], matrix: &[Limbs]) {
        let old = *state;
        for (i, s) in state.iter_mut().enumerate() {
            *s = dot_const(&matrix[i * T..(i + 1) * T], &old);
        }
    }

    /// S-box then round constants on every element: below `1.4p + p`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn full_sbox_ark<const T: usize>(state: &mut [V; T], c: &[Limbs]) {
        for (s, c) in state.iter_mut().zip(c) {
            *s = add(&pow5(s), &splat(c));
        }
    }

    /// The permutation of `super::super::poseidon::hash`, lane-wise, for `T = N + 1`.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn permute<const T: usize, const N: usize>(inputs: &[[Fe; N]], out: &mut [Fe]) {
        debug_assert_eq!(T, N + 1);
        let w = &TABLES[T - 2];
        let (c, s, m, p) = (&w.c[..], &w.s[..], &w.m[..], &w.p[..]);
        let half = FULL_ROUNDS / 2;

        // state = [0, inputs…] + c[..T]: inputs below 1.4p after loading, plus p.
        let mut state = [splat(&[0; 5]); T];
        let mut lane = [Fe::from(0u64); 8];
        for (i, st) in state.iter_mut().enumerate().skip(1) {
            for (l, x) in lane.iter_mut().zip(inputs) {
                *l = x[i - 1];
            }
            *st = load(&lane[..inputs.len()]);
        }
        for (x, c) in state.iter_mut().zip(&c[..T]) {
            *x = add(x, &splat(c));
        }

        // First half of the full rounds; the last of them mixes with P.
        for r in 0..half - 1 {
            full_sbox_ark(&mut state, &c[(r + 1) * T..(r + 2) * T]);
            mix(&mut state, m);
        }
        full_sbox_ark(&mut state, &c[half * T..(half + 1) * T]);
        mix(&mut state, p);

        // Partial rounds with sparse matrices. state[0] stays below 2.4p (S-box plus a
        // constant) and state[1..] below 2p (a conditional subtraction after each add).
        let pc = &c[(half + 1) * T..(half + 1) * T + w.partial_rounds];
        for (r, rc) in pc.iter().enumerate() {
            state[0] = add(&pow5(&state[0]), &splat(rc));
            let sr = &s[(2 * T - 1) * r..(2 * T - 1) * (r + 1)];
            let s0 = dot_const(&sr[..T], &state);
            let x0 = state[0];
            for (x, k) in state[1..].iter_mut().zip(&sr[T..]) {
                *x = sub_if_ge(&add(x, &mul(&x0, &splat(k))), &P2);
            }
            state[0] = s0;
        }

        // Second half of the full rounds; the last has no round constants.
        let tail = &c[(half + 1) * T + w.partial_rounds..];
        for r in 0..half - 1 {
            full_sbox_ark(&mut state, &tail[r * T..(r + 1) * T]);
            mix(&mut state, m);
        }
        for x in state.iter_mut() {
            *x = pow5(x);
        }
        let h = dot_const(&m[..T], &state);
        store(&h, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{AdditiveGroup, Field, UniformRand};
    use rand::SeedableRng;

    fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(seed)
    }

    fn scalar_of<const N: usize>(inputs: &[[Fe; N]]) -> Vec<Fe> {
        inputs.iter().map(|i| super::super::poseidon(i)).collect()
    }

    fn check_arity<const N: usize>(seed: u64) {
        let mut r = rng(seed);
        let max = -Fe::ONE;
        // Random lanes, then the extremes: all p − 1, all zero, and a mix.
        let mut cases: Vec<Vec<[Fe; N]>> = (1..=8)
            .map(|lanes| {
                (0..lanes)
                    .map(|_| std::array::from_fn(|_| Fe::rand(&mut r)))
                    .collect()
            })
            .collect();
        cases.push(vec![[max; N]; 8]);
        cases.push(vec![[Fe::ZERO; N]; 8]);
        cases.push(
            (0..8)
                .map(|l| std::array::from_fn(|i| if (i + l) % 2 == 0 { max } else { Fe::ONE }))
                .collect(),
        );
        for inputs in cases {
            let want = scalar_of(&inputs);
            let mut got = vec![Fe::ZERO; inputs.len()];
            poseidon_x8(&inputs, &mut got);
            assert_eq!(got, want, "arity {N}, {} lanes", inputs.len());
        }
    }

    #[test]
    fn eight_lanes_equal_the_scalar_path_for_every_arity_and_lane_count() {
        if !crate::crypto::field_x8::available() {
            eprintln!("AVX-512 IFMA not available: only the scalar path runs here");
            return;
        }
        check_arity::<1>(1);
        check_arity::<2>(2);
        check_arity::<3>(3);
        check_arity::<4>(4);
        check_arity::<5>(5);
        check_arity::<6>(6);
        check_arity::<7>(7);
        check_arity::<8>(8);
        check_arity::<9>(9);
        check_arity::<10>(10);
        check_arity::<11>(11);
        check_arity::<12>(12);
        check_arity::<13>(13);
        check_arity::<14>(14);
        check_arity::<15>(15);
        check_arity::<16>(16);
    }

    #[test]
    fn many_matches_circomlibjs_known_answers_in_every_lane() {
        let six: [Fe; 6] = std::array::from_fn(|i| Fe::from(i as u64 + 1));
        let want = crate::field::fe_from_dec(
            "20400040500897583745843009878988256314335038853985262692600694741116813247201",
        )
        .unwrap();
        for n in [1, 2, 3, 7, 8, 9, 17] {
            let inputs = vec![six; n];
            let mut out = vec![Fe::ZERO; n];
            poseidon_many(&inputs, &mut out);
            assert!(out.iter().all(|h| *h == want), "{n} inputs");
        }
    }

    #[test]
    fn many_of_any_count_equals_one_by_one() {
        let mut r = rng(99);
        for n in 0..=19 {
            let inputs: Vec<[Fe; 5]> = (0..n)
                .map(|_| std::array::from_fn(|_| Fe::rand(&mut r)))
                .collect();
            let mut out = vec![Fe::ZERO; n];
            poseidon_many(&inputs, &mut out);
            assert_eq!(out, scalar_of(&inputs), "{n} inputs");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        #[test]
        fn eight_lanes_equal_scalar_on_random_voucher_shaped_inputs(seed in proptest::prelude::any::<u64>()) {
            if crate::crypto::field_x8::available() {
                let mut r = rng(seed);
                let inputs: Vec<[Fe; 6]> = (0..8)
                    .map(|_| std::array::from_fn(|_| Fe::rand(&mut r)))
                    .collect();
                let mut out = vec![Fe::ZERO; 8];
                poseidon_x8(&inputs, &mut out);
                proptest::prop_assert_eq!(out, scalar_of(&inputs));
            }
        }
    }

    #[test]
    #[should_panic(expected = "one output per input")]
    fn output_of_another_length_panics() {
        poseidon_many(&[[Fe::ONE; 2]; 3], &mut [Fe::ZERO; 2]);
    }
}
