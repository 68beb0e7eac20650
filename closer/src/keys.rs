//! NeutronNova keys, made by the prover side (or `zkhub keys`) and cached on disk per
//! [`Layout`]; a verifier only ever reads them.
//!
//! Files are `<dir>/close-v3-k<K>-m<M>-<id>.pk` and `.vk` (`close-inc-v2-…` for the
//! incremental close), `<id>` the first 16 hex digits
//! of the [`shape_id`]: BLAKE3 over the circuit version, the Spartan2 version, `K`, `M`
//! and the full constraint systems of the blank step and core circuits, so any change to
//! a constraint changes the id and old keys are never picked up. Each file starts with a
//! header (magic, version, kind, `K`, `M`, shape id, the verifier key's digest, body
//! length) that is checked against what the reader expects before the body is decoded:
//! a key saved under another layout's name is refused, not used. The verifier key's
//! digest is BLAKE3 over its body; proof files carry it, so a proof made with another
//! key is named as such. Files are written to a temporary name and renamed.

use std::fs;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use bellpepper_core::{ConstraintSystem, Index, LinearCombination, SynthesisError, Variable};
use bincode::Options;
use channel::bytes::{ReadError, Reader};
use ff::PrimeField;
use serde::Serialize;
use serde::de::DeserializeOwned;
use spartan2::neutronnova_zk::{NeutronNovaProverKey, NeutronNovaVerifierKey, NeutronNovaZkSNARK};

use crate::core_circuit::CoreCircuit;
use crate::error::CloseError;
use crate::field::{Engine, F};
use crate::incremental::{TransitionCore, TransitionStep};
use crate::layout::{Layout, Statement};
use crate::step::StepCircuit;
use crate::table::{TableCircuit, alloc_table};

/// Bumped whenever the statement changes in a way the shape hash could miss.
pub const CIRCUIT_VERSION: u32 = 3;
/// The Spartan2 release the keys and proofs belong to.
pub const SPARTAN2_VERSION: &str = "0.9";

/// The prover's key.
pub type ProverKey = NeutronNovaProverKey<Engine>;
/// The verifier's key.
pub type VerifierKey = NeutronNovaVerifierKey<Engine>;
/// The SNARK.
pub type Snark = NeutronNovaZkSNARK<Engine>;
/// BLAKE3 of a verifier key's body.
pub type KeyDigest = [u8; 32];

const MAGIC: [u8; 8] = *b"ZKHUBKEY";
const FILE_VERSION: u16 = 2;
const HEADER_LEN: usize = 8 + 2 + 1 + 1 + 4 + 4 + 32 + 32 + 8;

/// Which key a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Prover = 1,
    Verifier = 2,
}

impl Kind {
    fn ext(self) -> &'static str {
        match self {
            Kind::Prover => "pk",
            Kind::Verifier => "vk",
        }
    }
}

/// The bincode options of every key and proof body: bincode 1.3's `serialize` encoding
/// (fixed-width integers, little-endian), trailing bytes refused, reads bounded.
pub fn bincode_options(limit: u64) -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(limit)
        .reject_trailing_bytes()
}

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

/// Feed the blank step and core circuits' constraints to `cs`.
fn hash_shapes<S: TableCircuit, C: TableCircuit>(cs: &mut ShapeHasher, step: &S, core: &C) {
    let shared =
        alloc_table(cs, step.layout(), step.table()).expect("shape synthesis needs no witness");
    step.constrain(cs, &shared)
        .expect("shape synthesis needs no witness");
    cs.hasher.update(b"core");
    let shared =
        alloc_table(cs, core.layout(), core.table()).expect("shape synthesis needs no witness");
    core.constrain(cs, &shared)
        .expect("shape synthesis needs no witness");
}

/// The id of `layout`'s circuits (see the module doc).
pub fn shape_id(layout: Layout) -> [u8; 32] {
    let mut cs = ShapeHasher {
        hasher: blake3::Hasher::new(),
        inputs: 0,
        aux: 0,
    };
    cs.hasher.update(b"zkhub folded close");
    cs.hasher.update(&CIRCUIT_VERSION.to_le_bytes());
    cs.hasher.update(SPARTAN2_VERSION.as_bytes());
    cs.hasher
        .update(&(layout.slots_per_chunk as u64).to_le_bytes());
    cs.hasher.update(&(layout.chunks as u64).to_le_bytes());
    match layout.statement {
        Statement::Full => hash_shapes(
            &mut cs,
            &StepCircuit::blank(layout),
            &CoreCircuit::blank(layout),
        ),
        Statement::Incremental => {
            cs.hasher.update(b"incremental");
            hash_shapes(
                &mut cs,
                &TransitionStep::blank(layout),
                &TransitionCore::blank(layout),
            )
        }
    }
    let (inputs, aux) = (cs.inputs as u64, cs.aux as u64);
    cs.hasher.update(&inputs.to_le_bytes());
    cs.hasher.update(&aux.to_le_bytes());
    *cs.hasher.finalize().as_bytes()
}

/// The path of `layout`'s key of `kind` in `dir`.
fn key_path(dir: &Path, layout: Layout, id: &[u8; 32], kind: Kind) -> PathBuf {
    dir.join(format!(
        "{}{}.{}",
        layout_prefix(layout),
        hex::encode(&id[..8]),
        kind.ext()
    ))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CloseError + '_ {
    move |source| CloseError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn header(kind: Kind, layout: Layout, id: &[u8; 32], digest: &KeyDigest, len: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(&MAGIC);
    h.extend_from_slice(&FILE_VERSION.to_le_bytes());
    h.push(kind as u8);
    h.push(layout.statement.tag());
    h.extend_from_slice(&(layout.slots_per_chunk as u32).to_le_bytes());
    h.extend_from_slice(&(layout.chunks as u32).to_le_bytes());
    h.extend_from_slice(id);
    h.extend_from_slice(digest);
    h.extend_from_slice(&len.to_le_bytes());
    debug_assert_eq!(h.len(), HEADER_LEN);
    h
}

/// What a key file's header says.
struct Header {
    digest: KeyDigest,
    body_len: u64,
}

fn bad(path: &Path, why: &'static str) -> CloseError {
    CloseError::BadKeyFile {
        path: path.to_path_buf(),
        why,
    }
}

/// Check a key file's header from `reader`: it must name `kind`, `layout` and (where
/// given) the shape `id`, and the file must be exactly header + body long.
fn check_header(
    reader: &mut impl Read,
    path: &Path,
    size: u64,
    kind: Kind,
    layout: Layout,
    id: Option<&[u8; 32]>,
) -> Result<Header, CloseError> {
    let mut h = [0u8; HEADER_LEN];
    reader
        .read_exact(&mut h)
        .map_err(|_| bad(path, "shorter than its header"))?;
    // The header was read whole: none of these reads can come up short.
    let short = |_: ReadError| bad(path, "shorter than its header");
    let mut r = Reader::new(&h);
    let magic = r.array::<8>().map_err(short)?;
    let version = r.u16_le().map_err(short)?;
    if *magic != MAGIC || version != FILE_VERSION {
        return Err(bad(path, "not a zkhub key file of this version"));
    }
    if r.u8().map_err(short)? != kind as u8 {
        return Err(bad(path, "holds the other key (prover/verifier)"));
    }
    if r.u8().map_err(short)? != layout.statement.tag() {
        return Err(bad(path, "made for the other statement (full/incremental)"));
    }
    let k = r.u32_le().map_err(short)? as usize;
    let m = r.u32_le().map_err(short)? as usize;
    if (k, m) != (layout.slots_per_chunk, layout.chunks) {
        return Err(bad(
            path,
            "made for another layout (slots per chunk, chunks)",
        ));
    }
    let shape = r.array::<32>().map_err(short)?;
    if let Some(id) = id
        && shape != id
    {
        return Err(bad(path, "made for another circuit (shape id)"));
    }
    let digest: KeyDigest = *r.array::<32>().map_err(short)?;
    let body_len = r.u64_le().map_err(short)?;
    r.finish().map_err(short)?;
    if size != HEADER_LEN as u64 + body_len {
        return Err(bad(path, "length does not match its header"));
    }
    Ok(Header { digest, body_len })
}

fn read_header(
    path: &Path,
    kind: Kind,
    layout: Layout,
    id: Option<&[u8; 32]>,
) -> Result<Header, CloseError> {
    let mut file = fs::File::open(path).map_err(io_error(path))?;
    let size = file.metadata().map_err(io_error(path))?.len();
    check_header(&mut file, path, size, kind, layout, id)
}

/// Read a key file: `Ok(None)` if absent; its header must name `kind`, `layout` and
/// (where given) the shape `id`, or the file is refused. A verifier key's body must hash
/// to the digest in its header.
fn read<T: DeserializeOwned>(
    path: &Path,
    kind: Kind,
    layout: Layout,
    id: Option<&[u8; 32]>,
) -> Result<Option<(T, KeyDigest)>, CloseError> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    let size = file.metadata().map_err(io_error(path))?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let Header { digest, body_len } = check_header(&mut reader, path, size, kind, layout, id)?;
    let decode_error = |e: bincode::Error| CloseError::Encoding(format!("{}: {e}", path.display()));
    let value: T = if kind == Kind::Verifier {
        // Small: read it whole and check its digest.
        let mut body = Vec::with_capacity(body_len as usize);
        reader.read_to_end(&mut body).map_err(io_error(path))?;
        if *blake3::hash(&body).as_bytes() != digest {
            return Err(bad(path, "body does not match its digest"));
        }
        bincode_options(body_len)
            .deserialize(&body)
            .map_err(decode_error)?
    } else {
        bincode_options(body_len)
            .deserialize_from(reader)
            .map_err(decode_error)?
    };
    Ok(Some((value, digest)))
}

fn write_file(
    path: &Path,
    header: &[u8],
    body: impl FnOnce(&mut dyn Write) -> Result<(), CloseError>,
) -> Result<(), CloseError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let file = fs::File::create(&tmp).map_err(io_error(&tmp))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(header).map_err(io_error(&tmp))?;
    body(&mut w)?;
    w.flush().map_err(io_error(&tmp))?;
    drop(w);
    fs::rename(&tmp, path).map_err(io_error(path))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CloseError> {
    bincode_options(u64::MAX)
        .serialize(value)
        .map_err(|e| CloseError::Encoding(e.to_string()))
}

/// Run Spartan2's NeutronNova setup for `layout` (no disk). Deterministic: the same
/// layout gives the same keys on every machine.
pub fn generate(layout: Layout) -> Result<(ProverKey, VerifierKey), CloseError> {
    match layout.statement {
        Statement::Full => Snark::setup(
            &StepCircuit::blank(layout),
            &CoreCircuit::blank(layout),
            layout.chunks,
        ),
        Statement::Incremental => Snark::setup(
            &TransitionStep::blank(layout),
            &TransitionCore::blank(layout),
            layout.chunks,
        ),
    }
    .map_err(|e| CloseError::Prover(e.to_string()))
}

/// Keys of one layout, as [`setup`] made them.
pub struct Keys {
    /// The prover's key.
    pub pk: ProverKey,
    /// The verifier's key.
    pub vk: VerifierKey,
    /// BLAKE3 of the verifier key's body.
    pub digest: KeyDigest,
    /// Where the verifier key was written.
    pub vk_path: PathBuf,
    /// Size of the verifier key file.
    pub vk_bytes: u64,
}

/// Run setup for `layout` and store both keys in `dir`.
pub fn setup(dir: &Path, layout: Layout) -> Result<Keys, CloseError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let id = shape_id(layout);
    let (pk, vk) = generate(layout)?;
    let vk_body = encode(&vk)?;
    let digest = *blake3::hash(&vk_body).as_bytes();
    let vk_path = key_path(dir, layout, &id, Kind::Verifier);
    let vk_header = header(Kind::Verifier, layout, &id, &digest, vk_body.len() as u64);
    write_file(&vk_path, &vk_header, |w| {
        w.write_all(&vk_body).map_err(io_error(&vk_path))
    })?;
    let pk_len = bincode_options(u64::MAX)
        .serialized_size(&pk)
        .map_err(|e| CloseError::Encoding(e.to_string()))?;
    let pk_path = key_path(dir, layout, &id, Kind::Prover);
    let pk_header = header(Kind::Prover, layout, &id, &digest, pk_len);
    write_file(&pk_path, &pk_header, |w| {
        bincode_options(u64::MAX)
            .serialize_into(w, &pk)
            .map_err(|e| CloseError::Encoding(e.to_string()))
    })?;
    Ok(Keys {
        pk,
        vk,
        digest,
        vk_path,
        vk_bytes: (HEADER_LEN + vk_body.len()) as u64,
    })
}

/// The prover key for `layout` and the digest of its verifier key, from `dir`, running
/// setup if they are not cached (the prover side makes keys; see [`verifier_key`]).
pub fn prover_key(dir: &Path, layout: Layout) -> Result<(ProverKey, KeyDigest), CloseError> {
    let id = shape_id(layout);
    match read(
        &key_path(dir, layout, &id, Kind::Prover),
        Kind::Prover,
        layout,
        Some(&id),
    )? {
        Some(found) => Ok(found),
        None => {
            let keys = setup(dir, layout)?;
            Ok((keys.pk, keys.digest))
        }
    }
}

/// The `close-v3-k<K>-m<M>-` (or `close-inc-v2-…`) prefix of `layout`'s key file names.
fn layout_prefix(layout: Layout) -> String {
    let statement = match layout.statement {
        // Bumped with the statement (v3 / inc-v2: the volume commitment), so a cache
        // holding an older statement's keys never even lists them.
        Statement::Full => "close-v3",
        Statement::Incremental => "close-inc-v2",
    };
    format!(
        "{statement}-k{}-m{}-",
        layout.slots_per_chunk, layout.chunks
    )
}

/// The verifier key files of `layout` in `dir` (by name; headers unchecked).
fn verifier_key_files(dir: &Path, layout: Layout) -> Result<Vec<PathBuf>, CloseError> {
    let prefix = layout_prefix(layout);
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir)(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_error(dir))?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".vk"))
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The verifier key of `layout` in `dir` whose digest is `digest` (the one a proof file
/// names), and the file it came from. Never runs setup: a verifier handed a proof must
/// not do work the proof chose; a missing key is [`CloseError::MissingKey`] (make it with
/// `zkhub keys` or by proving). The key is found by its header, so looking it up needs
/// no circuit synthesis; a key file whose header names another layout than its file
/// name is refused ([`CloseError::BadKeyFile`]).
pub fn verifier_key(
    dir: &Path,
    layout: Layout,
    digest: &KeyDigest,
) -> Result<(VerifierKey, PathBuf), CloseError> {
    let missing = || CloseError::MissingKey {
        layout,
        path: dir.join(format!("{}*.vk", layout_prefix(layout))),
    };
    let mut others = Vec::new();
    for path in verifier_key_files(dir, layout)? {
        let header = read_header(&path, Kind::Verifier, layout, None)?;
        if header.digest == *digest {
            let (vk, _) =
                read::<VerifierKey>(&path, Kind::Verifier, layout, None)?.ok_or_else(missing)?;
            return Ok((vk, path));
        }
        others.push(hex::encode(&header.digest[..8]));
    }
    if others.is_empty() {
        Err(missing())
    } else {
        Err(CloseError::KeyMismatch {
            proof: hex::encode(&digest[..8]),
            ours: others.join(", "),
        })
    }
}
