//! R1CS gadgets (bellpepper) for the close circuit, each beside its native twin in
//! `channel`: [`poseidon`] (circomlib Poseidon), [`range`] (bit decompositions, range
//! checks and strict comparisons against constants), [`ecc`] (Baby Jubjub in Edwards
//! and Montgomery form, fixed- and variable-base multiplication), [`eddsa`]
//! (EdDSA-Poseidon verification, circomlib semantics) and [`merkle`] (binary Poseidon
//! Merkle roots).
//!
//! Gadgets pass values around as [`Expr`]: a linear combination of circuit variables
//! together with its value (`None` while the circuit's shape is being built). Linear
//! operations on `Expr` are free; only [`mul`] and friends create constraints. Every
//! gadget pins its constraint count in a test.

pub mod ecc;
pub mod eddsa;
pub mod merkle;
pub mod poseidon;
pub mod range;
pub mod state_path;

use bellpepper_core::{ConstraintSystem, Index, LinearCombination, SynthesisError, Variable};
use ff::Field;

use crate::field::F;

/// The constant-one variable of every constraint system.
fn one() -> Variable {
    Variable::new_unchecked(Index::Input(0))
}

/// A linear combination of variables with its value.
///
/// `constant` is `Some(c)` iff the expression is the constant `c` (no variables), which
/// lets gadgets fold work on constants (e.g. Poseidon's capacity element) for free.
///
/// Terms are kept sorted by variable with no zero coefficients, so adding two
/// expressions is one linear merge. (bellpepper's `LinearCombination` inserts term by
/// term into sorted vectors, which made synthesis a quarter of proving time: Poseidon's
/// partial rounds carry linear combinations of 60+ terms through every round.)
#[derive(Clone, Debug)]
pub struct Expr {
    terms: Vec<(Variable, F)>,
    value: Option<F>,
    constant: Option<F>,
}

/// The order of terms: public inputs (and the constant one) first, then by index.
fn key(v: &Variable) -> (bool, usize) {
    match v.get_unchecked() {
        Index::Input(i) => (false, i),
        Index::Aux(i) => (true, i),
    }
}

/// [`key`] as one integer, for sorting.
fn sort_key(v: &Variable) -> u64 {
    let (aux, i) = key(v);
    (u64::from(aux) << 63) | i as u64
}

/// `ca·a + cb·b` for sorted term lists, zero coefficients dropped.
fn merge(a: &[(Variable, F)], ca: F, b: &[(Variable, F)], cb: F) -> Vec<(Variable, F)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => match key(&x.0).cmp(&key(&y.0)) {
                std::cmp::Ordering::Less => {
                    i += 1;
                    (x.0, x.1 * ca)
                }
                std::cmp::Ordering::Greater => {
                    j += 1;
                    (y.0, y.1 * cb)
                }
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                    (x.0, x.1 * ca + y.1 * cb)
                }
            },
            (Some(x), None) => {
                i += 1;
                (x.0, x.1 * ca)
            }
            (None, Some(y)) => {
                j += 1;
                (y.0, y.1 * cb)
            }
            (None, None) => break,
        };
        if !bool::from(next.1.is_zero()) {
            out.push(next);
        }
    }
    out
}

impl Expr {
    /// The constant `c`.
    pub fn constant(c: F) -> Self {
        Expr {
            terms: if bool::from(c.is_zero()) {
                Vec::new()
            } else {
                vec![(one(), c)]
            },
            value: Some(c),
            constant: Some(c),
        }
    }

    /// The constant zero.
    pub fn zero() -> Self {
        Expr::constant(F::ZERO)
    }

    /// A single variable with its value.
    pub fn var(var: Variable, value: Option<F>) -> Self {
        Expr {
            terms: vec![(var, F::ONE)],
            value,
            constant: None,
        }
    }

    /// The linear combination.
    pub fn lc(&self) -> LinearCombination<F> {
        // Terms arrive sorted, so each insertion appends.
        self.terms
            .iter()
            .fold(LinearCombination::zero(), |lc, &(v, c)| lc + (c, v))
    }

    /// Number of terms (nonzero coefficients).
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether the expression has no terms (it is the constant zero).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value, if known (always known for constants).
    pub fn value(&self) -> Option<F> {
        self.value
    }

    /// `Some(c)` if this is the constant `c`.
    pub fn as_constant(&self) -> Option<F> {
        self.constant
    }

    /// `self + other`.
    pub fn add(&self, other: &Expr) -> Expr {
        Expr {
            terms: merge(&self.terms, F::ONE, &other.terms, F::ONE),
            value: self.value.zip(other.value).map(|(a, b)| a + b),
            constant: self.constant.zip(other.constant).map(|(a, b)| a + b),
        }
    }

    /// `self − other`.
    pub fn sub(&self, other: &Expr) -> Expr {
        Expr {
            terms: merge(&self.terms, F::ONE, &other.terms, -F::ONE),
            value: self.value.zip(other.value).map(|(a, b)| a - b),
            constant: self.constant.zip(other.constant).map(|(a, b)| a - b),
        }
    }

    /// `c · self`.
    pub fn scale(&self, c: F) -> Expr {
        Expr {
            terms: if bool::from(c.is_zero()) {
                Vec::new()
            } else {
                self.terms.iter().map(|&(v, x)| (v, x * c)).collect()
            },
            value: self.value.map(|v| v * c),
            constant: self.constant.map(|v| v * c),
        }
    }

    /// `self + c`.
    pub fn add_const(&self, c: F) -> Expr {
        self.add(&Expr::constant(c))
    }

    /// `Σ coeffs[i] · terms[i]`: all terms gathered, sorted once and combined.
    pub fn sum(terms: impl IntoIterator<Item = (F, Expr)>) -> Expr {
        let mut all: Vec<(u64, Variable, F)> = Vec::new();
        let (mut value, mut constant) = (Some(F::ZERO), Some(F::ZERO));
        for (c, e) in terms {
            all.extend(e.terms.iter().map(|&(v, x)| (sort_key(&v), v, x * c)));
            value = value.zip(e.value).map(|(a, b)| a + b * c);
            constant = constant.zip(e.constant).map(|(a, b)| a + b * c);
        }
        all.sort_unstable_by_key(|t| t.0);
        let mut out: Vec<(Variable, F)> = Vec::with_capacity(all.len());
        let mut last_key = None;
        for (k, v, c) in all {
            match out.last_mut() {
                Some(last) if last_key == Some(k) => last.1 += c,
                _ => out.push((v, c)),
            }
            last_key = Some(k);
        }
        out.retain(|(_, c)| !bool::from(c.is_zero()));
        Expr {
            terms: out,
            value,
            constant,
        }
    }
}

impl From<u64> for Expr {
    fn from(c: u64) -> Self {
        Expr::constant(F::from(c))
    }
}

/// Allocate a private variable with value `value`.
pub fn alloc<CS: ConstraintSystem<F>>(
    mut cs: CS,
    name: &str,
    value: Option<F>,
) -> Result<Expr, SynthesisError> {
    let var = cs.alloc(|| name, || value.ok_or(SynthesisError::AssignmentMissing))?;
    Ok(Expr::var(var, value))
}

/// Allocate a public input with value `value`.
pub fn alloc_input<CS: ConstraintSystem<F>>(
    mut cs: CS,
    name: &str,
    value: Option<F>,
) -> Result<Expr, SynthesisError> {
    let var = cs.alloc_input(|| name, || value.ok_or(SynthesisError::AssignmentMissing))?;
    Ok(Expr::var(var, value))
}

/// Enforce `a · b = c`.
pub fn enforce<CS: ConstraintSystem<F>>(cs: &mut CS, name: &str, a: &Expr, b: &Expr, c: &Expr) {
    cs.enforce(|| name, |_| a.lc(), |_| b.lc(), |_| c.lc());
}

/// Enforce `a = b` (one constraint: `(a − b) · 1 = 0`).
pub fn enforce_equal<CS: ConstraintSystem<F>>(cs: &mut CS, name: &str, a: &Expr, b: &Expr) {
    enforce(cs, name, &a.sub(b), &Expr::from(1), &Expr::zero());
}

/// `a · b` (one constraint, none if either side is constant).
pub fn mul<CS: ConstraintSystem<F>>(
    mut cs: CS,
    name: &str,
    a: &Expr,
    b: &Expr,
) -> Result<Expr, SynthesisError> {
    if let Some(c) = a.as_constant() {
        return Ok(b.scale(c));
    }
    if let Some(c) = b.as_constant() {
        return Ok(a.scale(c));
    }
    let mut cs = cs.namespace(|| name);
    let product = alloc(
        &mut cs,
        "product",
        a.value().zip(b.value()).map(|(x, y)| x * y),
    )?;
    enforce(&mut cs, "product constraint", a, b, &product);
    Ok(product)
}

/// `numerator / denominator` (one constraint: `q · denominator = numerator`).
///
/// Sound only where the caller knows `denominator ≠ 0` (otherwise `q` is free when the
/// numerator is zero, and unsatisfiable when it is not). Fails at witness time with
/// `DivisionByZero` if the denominator is zero.
pub fn div<CS: ConstraintSystem<F>>(
    mut cs: CS,
    name: &str,
    numerator: &Expr,
    denominator: &Expr,
) -> Result<Expr, SynthesisError> {
    let value = match (numerator.value(), denominator.value()) {
        (Some(n), Some(d)) => {
            Some(n * Option::<F>::from(d.invert()).ok_or(SynthesisError::DivisionByZero)?)
        }
        _ => None,
    };
    let mut cs = cs.namespace(|| name);
    let q = alloc(&mut cs, "quotient", value)?;
    enforce(&mut cs, "quotient constraint", &q, denominator, numerator);
    Ok(q)
}

/// A boolean variable (one constraint: `b · (b − 1) = 0`).
pub fn alloc_bit<CS: ConstraintSystem<F>>(
    cs: CS,
    name: &str,
    value: Option<bool>,
) -> Result<Expr, SynthesisError> {
    alloc_boolean_value(cs, name, value.map(F::from))
}

/// A variable constrained boolean, from a raw field value (so tests can feed a non-boolean
/// value and watch the booleanity constraint fail). One constraint.
pub fn alloc_boolean_value<CS: ConstraintSystem<F>>(
    mut cs: CS,
    name: &str,
    value: Option<F>,
) -> Result<Expr, SynthesisError> {
    let mut cs = cs.namespace(|| name);
    let b = alloc(&mut cs, "bit", value)?;
    enforce(
        &mut cs,
        "booleanity",
        &b,
        &b.add_const(-F::ONE),
        &Expr::zero(),
    );
    Ok(b)
}

/// Enforce `x ≠ 0` (one constraint: `x · inv = 1`).
pub fn assert_nonzero<CS: ConstraintSystem<F>>(
    mut cs: CS,
    name: &str,
    x: &Expr,
) -> Result<(), SynthesisError> {
    let inv = match x.value() {
        Some(v) => Some(Option::<F>::from(v.invert()).ok_or(SynthesisError::Unsatisfiable)?),
        None => None,
    };
    let mut cs = cs.namespace(|| name);
    let inv = alloc(&mut cs, "inverse", inv)?;
    enforce(&mut cs, "nonzero", x, &inv, &Expr::from(1));
    Ok(())
}

/// The boolean `x ≠ 0` (two constraints: `x · inv = flag`, `x · (1 − flag) = 0`).
pub fn is_nonzero<CS: ConstraintSystem<F>>(mut cs: CS, x: &Expr) -> Result<Expr, SynthesisError> {
    let flag_value = x.value().map(|v| !bool::from(v.is_zero()));
    let inv_value = x
        .value()
        .map(|v| Option::<F>::from(v.invert()).unwrap_or(F::ZERO));
    let flag = alloc(&mut cs, "flag", flag_value.map(F::from))?;
    let inv = alloc(&mut cs, "inv", inv_value)?;
    enforce(&mut cs, "x * inv = flag", x, &inv, &flag);
    enforce(
        &mut cs,
        "x * (1 - flag) = 0",
        x,
        &Expr::from(1).sub(&flag),
        &Expr::zero(),
    );
    Ok(flag)
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;
    use bellpepper_core::test_cs::TestConstraintSystem;

    /// A fresh test constraint system.
    pub fn new_cs() -> TestConstraintSystem<F> {
        TestConstraintSystem::new()
    }

    /// Allocate `v` as a private variable.
    pub fn witness(cs: &mut TestConstraintSystem<F>, name: &str, v: F) -> Expr {
        alloc(cs.namespace(|| name.to_string()), name, Some(v)).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn expressions_combine_terms_and_drop_what_cancels() {
        let mut cs = new_cs();
        let x = witness(&mut cs, "x", F::from(3u64));
        let y = witness(&mut cs, "y", F::from(5u64));
        // x + y − x is y alone: one term, the value of y.
        let e = x.add(&y).sub(&x);
        assert_eq!(e.len(), 1);
        assert_eq!(e.value(), Some(F::from(5u64)));
        // Σ with repeated variables and constants combines them: 2y + 3x − x + 7 − 7.
        let s = Expr::sum([
            (F::from(2u64), y.clone()),
            (F::from(3u64), x.clone()),
            (-F::ONE, x.clone()),
            (F::ONE, Expr::from(7)),
            (-F::ONE, Expr::from(7)),
        ]);
        assert_eq!(s.len(), 2);
        assert_eq!(s.value(), Some(F::from(2 * 5 + 2 * 3)));
        assert_eq!(s.as_constant(), None);
        // The linear combination enforces what the value says.
        let t = alloc(cs.namespace(|| "t"), "t", s.value()).unwrap();
        enforce_equal(&mut cs, "t = s", &t, &s);
        assert!(cs.is_satisfied());
        cs.set("t/t", F::from(15u64));
        assert!(!cs.is_satisfied());
        // Constants stay constants; zero has no terms.
        let c = Expr::from(4).scale(F::from(2u64)).add_const(-F::from(8u64));
        assert_eq!(c.as_constant(), Some(F::ZERO));
        assert!(c.is_empty());
    }

    #[test]
    fn is_nonzero_is_sound_both_ways() {
        for (v, expect) in [(F::ZERO, F::ZERO), (F::from(9u64), F::ONE)] {
            let mut cs = new_cs();
            let x = witness(&mut cs, "x", v);
            let flag = is_nonzero(cs.namespace(|| "nz"), &x).unwrap();
            assert!(cs.is_satisfied());
            assert_eq!(flag.value(), Some(expect));
            assert_eq!(cs.num_constraints(), 2);
            // Lying about the flag is caught.
            cs.set("nz/flag", F::ONE - expect);
            assert!(!cs.is_satisfied());
        }
    }
}
