//! Interop with circomlibjs 0.1.7 and @zk-kit/eddsa-poseidon: every JSON file in
//! `tests/vectors/` (written by `tests/vectors/gen/vectors.js`, committed so no node is
//! needed here), plus the file named by `ZKHUB_VECTORS` when set.
//!
//! For each Poseidon vector our hash equals the JS output. For each valid EdDSA vector our
//! key derivation from `prv` gives `(Ax, Ay)`, our signature of `msg` is exactly
//! `(R8x, R8y, S)`, packing matches both ways and verification accepts. Each invalid vector
//! is refused, by the packed decoders (`S >= l`, non-canonical or impossible points, weak
//! keys) or by verification.

use std::path::{Path, PathBuf};

use ark_ff::{BigInteger, PrimeField};
use channel::crypto::babyjub::{Point, Scalar};
use channel::crypto::{PrivateKey, PublicKey, Signature, poseidon};
use channel::field::{Fe, fe_from_dec};
use num_bigint::BigUint;
use serde_json::Value;

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("field {key} missing in {v}"))
}

fn fe(v: &Value, key: &str) -> Fe {
    fe_from_dec(s(v, key)).unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// `S` from its decimal string, or `None` when it is not below `l` (then no `Signature`
/// can even hold it: that is the rejection).
fn scalar(v: &Value) -> Option<Scalar> {
    let n = BigUint::parse_bytes(s(v, "S").as_bytes(), 10).expect("S is decimal");
    let l = BigUint::from_bytes_le(&Scalar::MODULUS.to_bytes_le());
    (n < l).then(|| Scalar::from_le_bytes_mod_order(&n.to_bytes_le()))
}

fn bytes<const N: usize>(v: &Value, key: &str) -> Option<[u8; N]> {
    let h = s(v, key);
    if h.is_empty() {
        return None;
    }
    let b = hex::decode(h).expect("hex");
    Some(
        b.try_into()
            .unwrap_or_else(|_| panic!("{key} must be {N} bytes")),
    )
}

fn check_valid(v: &Value, what: &str) {
    let msg = fe(v, "msg");
    let pk = PublicKey(Point {
        x: fe(v, "Ax"),
        y: fe(v, "Ay"),
    });
    let sig = Signature {
        r8: Point {
            x: fe(v, "R8x"),
            y: fe(v, "R8y"),
        },
        s: scalar(v).expect("S < l"),
    };

    let prv = PrivateKey(bytes::<32>(v, "prv").expect("valid vectors carry prv"));
    assert_eq!(prv.public(), pk, "{what}: public key");
    assert_eq!(prv.sign(&msg), sig, "{what}: signature");
    let sk = prv.signing_key();
    assert_eq!(sk.public(), pk, "{what}: signing key's public key");
    assert_eq!(sk.sign(&msg), sig, "{what}: signature from signing key");

    let packed_pk = bytes::<32>(v, "packed_pk").expect("packed_pk");
    let packed_sig = bytes::<64>(v, "packed_sig").expect("packed_sig");
    assert_eq!(pk.pack(), packed_pk, "{what}: packPoint");
    assert_eq!(sig.pack(), packed_sig, "{what}: packSignature");
    assert_eq!(PublicKey::unpack(&packed_pk), Ok(pk), "{what}: unpack key");
    assert_eq!(
        Signature::unpack(&packed_sig),
        Ok(sig),
        "{what}: unpack signature"
    );

    assert_eq!(pk.verify(&msg, &sig), Ok(()), "{what}: verify");
    assert_eq!(
        pk.prepare().and_then(|vk| vk.verify(&msg, &sig)),
        Ok(()),
        "{what}: prepared verify"
    );
}

fn check_invalid(v: &Value, what: &str) {
    let case = v["case"].as_str().unwrap_or("");
    let encoding_case = case.starts_with("noncanonical") || case.starts_with("no_point");

    // The coordinates path.
    let coords = !s(v, "Ax").is_empty() && !s(v, "R8x").is_empty();
    if coords {
        let msg = fe(v, "msg");
        let pk = PublicKey(Point {
            x: fe(v, "Ax"),
            y: fe(v, "Ay"),
        });
        let accepted = scalar(v).is_some_and(|sc| {
            let sig = Signature {
                r8: Point {
                    x: fe(v, "R8x"),
                    y: fe(v, "R8y"),
                },
                s: sc,
            };
            let plain = pk.verify(&msg, &sig);
            let prepared = pk.prepare().and_then(|vk| vk.verify(&msg, &sig));
            assert_eq!(
                plain, prepared,
                "{what}: plain and prepared verification disagree"
            );
            plain.is_ok()
        });
        // Encoding cases carry valid coordinates; the defect is in the bytes.
        assert_eq!(
            accepted, encoding_case,
            "{what}: coordinates of invalid case {case}"
        );
    }

    // The packed path.
    let packed_pk = bytes::<32>(v, "packed_pk");
    let packed_sig = bytes::<64>(v, "packed_sig");
    let pk = packed_pk.map(|b| PublicKey::unpack(&b));
    let sig = packed_sig.map(|b| Signature::unpack(&b));
    if encoding_case {
        let refused =
            pk.as_ref().is_some_and(Result::is_err) || sig.as_ref().is_some_and(Result::is_err);
        assert!(
            refused,
            "{what}: non-canonical encoding ({case}) must not decode"
        );
    }
    if let (Some(Ok(pk)), Some(Ok(sig))) = (pk, sig) {
        assert!(
            pk.verify(&fe(v, "msg"), &sig).is_err(),
            "{what}: packed invalid case {case} verified"
        );
    }
}

fn check_file(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let empty = Vec::new();
    let pos = json["poseidon"].as_array().unwrap_or(&empty);
    let eds = json["eddsa"].as_array().unwrap_or(&empty);
    for (i, v) in pos.iter().enumerate() {
        let inputs: Vec<Fe> = v["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(|x| fe_from_dec(x.as_str().expect("decimal string")).expect("canonical"))
            .collect();
        assert_eq!(
            poseidon(&inputs),
            fe(v, "output"),
            "{} poseidon #{i}",
            path.display()
        );
    }
    for (i, v) in eds.iter().enumerate() {
        let what = format!(
            "{} eddsa #{i} ({})",
            path.display(),
            v["case"].as_str().unwrap_or("?")
        );
        if v["valid"].as_bool().expect("valid flag") {
            check_valid(v, &what);
        } else {
            check_invalid(v, &what);
        }
    }
    println!(
        "checked {} poseidon and {} eddsa vectors from {}",
        pos.len(),
        eds.len(),
        path.display()
    );
}

fn vector_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/vectors exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn committed_vectors() {
    let files = vector_files();
    assert!(
        files.len() >= 2,
        "expected the circomlibjs and zkkit vector files"
    );
    for f in &files {
        check_file(f);
    }
}

#[test]
fn vectors_from_env() {
    if let Some(path) = std::env::var_os("ZKHUB_VECTORS") {
        check_file(Path::new(&path));
    }
}

#[test]
fn committed_vectors_cover_the_required_cases() {
    let text = std::fs::read_to_string(
        vector_files()
            .iter()
            .find(|p| p.ends_with("circomlibjs.json"))
            .unwrap(),
    )
    .expect("circomlibjs.json");
    let json: Value = serde_json::from_str(&text).unwrap();
    let arities: std::collections::BTreeSet<usize> = json["poseidon"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["inputs"].as_array().unwrap().len())
        .collect();
    assert_eq!(arities, (1..=16).collect());
    let cases: std::collections::BTreeSet<&str> = json["eddsa"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["case"].as_str().unwrap())
        .collect();
    for c in [
        "valid",
        "wrong_msg",
        "tampered_s",
        "malleable_s",
        "off_curve_r8",
        "identity_a",
        "small_order_a",
        "other_key",
    ] {
        assert!(cases.contains(c), "missing case {c}");
    }
}
