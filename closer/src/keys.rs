//! Spartan2 keys, cached on disk per slot count.
//!
//! Files are `<dir>/close-<N>-<id>.pk` and `.vk`, where `<id>` is the first 16 hex
//! digits of the [`shape_id`]: BLAKE3 over the circuit version, the Spartan2 version, `N`
//! and the full constraint system of the 2-slot circuit (every gadget the `N`-slot
//! circuit is built from appears there, so any change to a constraint changes the id
//! and old keys are never picked up). Files are written to a temporary name and renamed.

use std::fs;
use std::path::{Path, PathBuf};

use bellpepper_core::{ConstraintSystem, Index, LinearCombination, SynthesisError, Variable};
use ff::PrimeField;
use serde::Serialize;
use serde::de::DeserializeOwned;
use spartan2::spartan_zk::{SpartanProverKey, SpartanVerifierKey, SpartanZkSNARK};
use spartan2::traits::snark::R1CSSNARKTrait;

use crate::circuit::CloseCircuit;
use crate::error::CloseError;
use crate::field::{Engine, F};

/// Bumped whenever the statement changes in a way the shape hash could miss.
pub const CIRCUIT_VERSION: u32 = 1;
/// The Spartan2 release the keys and proofs belong to.
pub const SPARTAN2_VERSION: &str = "0.9";

/// The prover's key.
pub type ProverKey = SpartanProverKey<Engine>;
/// The verifier's key.
pub type VerifierKey = SpartanVerifierKey<Engine>;
/// The SNARK.
pub type Snark = SpartanZkSNARK<Engine>;

/// A constraint system that only hashes the constraints it is given.
struct ShapeHasher {
    hasher: blake3::Hasher,
    inputs: usize,
    aux: usize,
}

impl ShapeHasher {
    fn lc(&mut self, lc: &LinearCombination<F>) {
        let terms: Vec<_> = lc.iter().collect();
        self.hasher.update(&(terms.len() as u64).to_le_bytes());
        for (var, coeff) in terms {
            let (kind, index) = match var.get_unchecked() {
                Index::Input(i) => (0u8, i),
                Index::Aux(i) => (1u8, i),
            };
            self.hasher.update(&[kind]);
            self.hasher.update(&(index as u64).to_le_bytes());
            self.hasher.update(coeff.to_repr().as_ref());
        }
    }
}

impl ConstraintSystem<F> for ShapeHasher {
    type Root = Self;

    fn alloc<V, A, AR>(&mut self, _: A, _: V) -> Result<Variable, SynthesisError>
    where
        V: FnOnce() -> Result<F, SynthesisError>,
        A: FnOnce() -> AR,
        AR: Into<String>,
    {
        self.aux += 1;
        Ok(Variable::new_unchecked(Index::Aux(self.aux - 1)))
    }

    fn alloc_input<V, A, AR>(&mut self, _: A, _: V) -> Result<Variable, SynthesisError>
    where
        V: FnOnce() -> Result<F, SynthesisError>,
        A: FnOnce() -> AR,
        AR: Into<String>,
    {
        self.inputs += 1;
        Ok(Variable::new_unchecked(Index::Input(self.inputs)))
    }

    fn enforce<A, AR, LA, LB, LC>(&mut self, _: A, a: LA, b: LB, c: LC)
    where
        A: FnOnce() -> AR,
        AR: Into<String>,
        LA: FnOnce(LinearCombination<F>) -> LinearCombination<F>,
        LB: FnOnce(LinearCombination<F>) -> LinearCombination<F>,
        LC: FnOnce(LinearCombination<F>) -> LinearCombination<F>,
    {
        for lc in [
            a(LinearCombination::zero()),
            b(LinearCombination::zero()),
            c(LinearCombination::zero()),
        ] {
            self.lc(&lc);
        }
    }

    fn push_namespace<NR, N>(&mut self, _: N)
    where
        NR: Into<String>,
        N: FnOnce() -> NR,
    {
    }

    fn pop_namespace(&mut self) {}

    fn get_root(&mut self) -> &mut Self::Root {
        self
    }
}

/// The id of the `slots`-slot circuit (see the module doc).
pub fn shape_id(slots: usize) -> [u8; 32] {
    let mut cs = ShapeHasher {
        hasher: blake3::Hasher::new(),
        inputs: 0,
        aux: 0,
    };
    cs.hasher.update(b"zkhub close circuit");
    cs.hasher.update(&CIRCUIT_VERSION.to_le_bytes());
    cs.hasher.update(SPARTAN2_VERSION.as_bytes());
    cs.hasher.update(&(slots as u64).to_le_bytes());
    CloseCircuit::blank(2)
        .synthesize_into(&mut cs)
        .expect("shape synthesis needs no witness");
    let (inputs, aux) = (cs.inputs as u64, cs.aux as u64);
    cs.hasher.update(&inputs.to_le_bytes());
    cs.hasher.update(&aux.to_le_bytes());
    *cs.hasher.finalize().as_bytes()
}

fn key_path(dir: &Path, slots: usize, ext: &str) -> PathBuf {
    let id = hex::encode(&shape_id(slots)[..8]);
    dir.join(format!("close-{slots}-{id}.{ext}"))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CloseError + '_ {
    move |source| CloseError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, CloseError> {
    match fs::read(path) {
        Ok(bytes) => bincode::deserialize(&bytes)
            .map(Some)
            .map_err(|e| CloseError::Encoding(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path)(e)),
    }
}

fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), CloseError> {
    let bytes = bincode::serialize(value).map_err(|e| CloseError::Encoding(e.to_string()))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, &bytes).map_err(io_error(&tmp))?;
    fs::rename(&tmp, path).map_err(io_error(path))
}

/// Run Spartan2's setup for `slots` slots (no disk).
pub fn generate(slots: usize) -> Result<(ProverKey, VerifierKey), CloseError> {
    Snark::setup(CloseCircuit::blank(slots)).map_err(|e| CloseError::Prover(e.to_string()))
}

/// Run Spartan2's setup for `slots` slots and store both keys in `dir`.
pub fn setup(dir: &Path, slots: usize) -> Result<(ProverKey, VerifierKey), CloseError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let (pk, vk) = generate(slots)?;
    write(&key_path(dir, slots, "pk"), &pk)?;
    write(&key_path(dir, slots, "vk"), &vk)?;
    Ok((pk, vk))
}

/// The prover key for `slots` slots from `dir`, running setup if it is not cached.
pub fn prover_key(dir: &Path, slots: usize) -> Result<ProverKey, CloseError> {
    match read(&key_path(dir, slots, "pk"))? {
        Some(pk) => Ok(pk),
        None => Ok(setup(dir, slots)?.0),
    }
}

/// The verifier key for `slots` slots from `dir`, running setup if it is not cached.
pub fn verifier_key(dir: &Path, slots: usize) -> Result<VerifierKey, CloseError> {
    match read(&key_path(dir, slots, "vk"))? {
        Some(vk) => Ok(vk),
        None => Ok(setup(dir, slots)?.1),
    }
}
