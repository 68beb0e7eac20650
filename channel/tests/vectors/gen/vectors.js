// Generates the interop vectors in channel/tests/vectors/*.json with circomlibjs 0.1.7 and
// @zk-kit/eddsa-poseidon (which uses poseidon-lite). Run `npm ci && node vectors.js` here.
// Output is deterministic (inputs come from a SHA-256 counter stream) and committed, so the
// Rust tests never need node.
//
// Files:
//   circomlibjs.json  Poseidon vectors for every arity 1..16 (circomlibjs, cross-checked
//                     against poseidon-lite) and EdDSA vectors signed with circomlibjs
//                     (each valid one cross-checked against @zk-kit: same key, same
//                     signature, same packing, accepted by both verifiers), plus invalid
//                     cases.
//   zkkit.json        EdDSA vectors signed by @zk-kit/eddsa-poseidon alone, with other keys.
//
// Schema (numbers as decimal strings, bytes as lowercase hex):
//   {"poseidon": [{"inputs": ["…"], "output": "…"}],
//    "eddsa": [{"prv", "Ax", "Ay", "msg", "R8x", "R8y", "S", "packed_sig", "packed_pk",
//               "valid", "case", "js_valid"}]}
// `case` names the kind of vector ("valid", "wrong_msg", …); `js_valid` is what circomlibjs
// `verifyPoseidon` says about the coordinates (it differs from `valid` only where zkhub is
// deliberately stricter: keys of small order). Fields that do not apply are "".
"use strict";
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const { buildEddsa, buildBabyjub, buildPoseidon } = require("circomlibjs");
const zk = require("@zk-kit/eddsa-poseidon");
const poseidonLite = require("poseidon-lite");

const P = BigInt("21888242871839275222246405745257275088548364400416034343698204186575808495617");
const L = BigInt("2736030358979909402780800718157159386076813972158567259200215660948447373041");

// Deterministic byte stream: SHA-256(seed ‖ counter).
function stream(seed) {
  let counter = 0;
  return (n) => {
    const out = [];
    while (out.length < n) {
      const h = crypto.createHash("sha256").update(`${seed}/${counter++}`).digest();
      out.push(...h);
    }
    return Buffer.from(out.slice(0, n));
  };
}
const leToBig = (buf) => BigInt("0x" + (Buffer.from(buf).reverse().toString("hex") || "0"));
const bigToLe = (n, len) => {
  const b = Buffer.alloc(len);
  let v = n;
  for (let i = 0; i < len; i++) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new Error("value does not fit");
  return b;
};
const hex = (b) => Buffer.from(b).toString("hex");
const fieldElem = (rand) => leToBig(rand(32)) % P;

function check(cond, what) {
  if (!cond) throw new Error(`libraries disagree: ${what}`);
}

async function main() {
  const eddsa = await buildEddsa();
  const babyJub = await buildBabyjub();
  const poseidon = await buildPoseidon();
  const F = babyJub.F;
  const toStr = (x) => F.toObject(x).toString();
  const pt = (p) => [F.toObject(p[0]), F.toObject(p[1])];

  // ---------------- Poseidon ----------------
  const rand = stream("zkhub-poseidon");
  const poseidonVectors = [];
  for (let n = 1; n <= 16; n++) {
    const sets = [
      Array.from({ length: n }, (_, i) => BigInt(i + 1)),
      Array.from({ length: n }, () => 0n),
      Array.from({ length: n }, () => P - 1n),
      Array.from({ length: n }, () => fieldElem(rand)),
      Array.from({ length: n }, () => fieldElem(rand)),
      Array.from({ length: n }, () => leToBig(rand(8))),
    ];
    for (const inputs of sets) {
      const out = F.toObject(poseidon(inputs));
      const lite = poseidonLite[`poseidon${n}`](inputs);
      check(out === lite, `poseidon${n}`);
      poseidonVectors.push({ inputs: inputs.map(String), output: out.toString() });
    }
  }

  // ---------------- EdDSA (circomlibjs, cross-checked with @zk-kit) ----------------
  const jsVerify = (msg, R8, S, A) =>
    eddsa.verifyPoseidon(F.e(msg), { R8: [F.e(R8[0]), F.e(R8[1])], S }, [F.e(A[0]), F.e(A[1])]);
  const packPoint = (p) => hex(babyJub.packPoint([F.e(p[0]), F.e(p[1])]));
  const packSig = (R8, S) => hex(eddsa.packSignature({ R8: [F.e(R8[0]), F.e(R8[1])], S }));

  const erand = stream("zkhub-eddsa");
  const valid = [];
  const msgs = (i) => {
    if (i === 0) return 0n;
    if (i === 1) return P - 1n;
    if (i === 2) return 1n;
    return fieldElem(erand);
  };
  for (let i = 0; i < 32; i++) {
    const prv = erand(32);
    const msg = msgs(i);
    const A = pt(eddsa.prv2pub(prv));
    const sig = eddsa.signPoseidon(prv, F.e(msg));
    const R8 = pt(sig.R8);
    const S = sig.S;
    check(jsVerify(msg, R8, S, A), "circomlibjs rejects its own signature");
    const v = {
      prv: hex(prv),
      Ax: A[0].toString(),
      Ay: A[1].toString(),
      msg: msg.toString(),
      R8x: R8[0].toString(),
      R8y: R8[1].toString(),
      S: S.toString(),
      packed_sig: packSig(R8, S),
      packed_pk: packPoint(A),
      valid: true,
      case: "valid",
      js_valid: true,
    };
    // @zk-kit must agree on every part.
    const zA = zk.derivePublicKey(prv);
    check(zA[0] === A[0] && zA[1] === A[1], "public key");
    const zs = zk.signMessage(prv, msg);
    check(zs.R8[0] === R8[0] && zs.R8[1] === R8[1] && zs.S === S, "signature");
    check(hex(zk.packSignature(zs)) === v.packed_sig, "packed signature");
    check(hex(bigToLe(zk.packPublicKey(zA), 32)) === v.packed_pk, "packed public key");
    check(zk.verifySignature(msg, zs, zA), "zk-kit verify");
    const back = eddsa.unpackSignature(Buffer.from(v.packed_sig, "hex"));
    check(toStr(back.R8[0]) === v.R8x && back.S === S, "circomlibjs unpack");
    valid.push(v);
  }

  const invalid = [];
  const bad = (base, kind, changes) => {
    const v = { ...base, ...changes, valid: false, case: kind };
    if (kind.startsWith("noncanonical") || kind.startsWith("no_point")) {
      // An encoding defect: what circomlibjs makes of the packed bytes.
      const A = babyJub.unpackPoint(Buffer.from(v.packed_pk, "hex"));
      const sig = eddsa.unpackSignature(Buffer.from(v.packed_sig, "hex"));
      v.js_valid = A !== null && sig.R8 !== null && eddsa.verifyPoseidon(F.e(BigInt(v.msg)), sig, A);
    } else {
      v.js_valid =
        v.Ax !== "" && v.R8x !== ""
          ? jsVerify(BigInt(v.msg), [BigInt(v.R8x), BigInt(v.R8y)], BigInt(v.S), [BigInt(v.Ax), BigInt(v.Ay)])
          : false;
    }
    invalid.push(v);
  };
  for (let i = 0; i < 4; i++) {
    const v = valid[i];
    const msg = (BigInt(v.msg) + 1n) % P;
    bad(v, "wrong_msg", { msg: msg.toString() });
    const s1 = (BigInt(v.S) + 1n) % L;
    bad(v, "tampered_s", { S: s1.toString(), packed_sig: packSig([BigInt(v.R8x), BigInt(v.R8y)], s1) });
    const sl = BigInt(v.S) + L;
    bad(v, "malleable_s", {
      S: sl.toString(),
      packed_sig: v.packed_sig.slice(0, 64) + hex(bigToLe(sl, 32)),
    });
    bad(v, "off_curve_r8", { R8y: ((BigInt(v.R8y) + 1n) % P).toString(), packed_sig: "" });
    bad(v, "off_curve_a", { Ay: ((BigInt(v.Ay) + 1n) % P).toString(), packed_pk: "" });
    const w = valid[(i + 1) % valid.length];
    bad(v, "other_key", { prv: "", Ax: w.Ax, Ay: w.Ay, packed_pk: w.packed_pk });
    // Tampered R8 (another valid point): the signature no longer holds.
    const R8b = pt(babyJub.addPoint([F.e(BigInt(v.R8x)), F.e(BigInt(v.R8y))], babyJub.Base8));
    bad(v, "tampered_r8", {
      R8x: R8b[0].toString(),
      R8y: R8b[1].toString(),
      packed_sig: packSig(R8b, BigInt(v.S)),
    });
  }

  // Small-order keys: 8·h·A = O, so R8 = S·Base8 "verifies" for any message under
  // circomlibjs (js_valid = true); zkhub refuses such keys.
  const G = babyJub.Generator.map((x) => F.e(x));
  const order8 = pt(babyJub.mulPointEscalar(G, L));
  const order4 = pt(babyJub.mulPointEscalar([F.e(order8[0]), F.e(order8[1])], 2n));
  const smallOrder = [
    ["identity_a", [0n, 1n]],
    ["small_order_a", [0n, P - 1n]],
    ["small_order_a", order4],
    ["small_order_a", order8],
  ];
  for (const [kind, A] of smallOrder) {
    const S = leToBig(erand(32)) % L;
    const R8 = pt(babyJub.mulPointEscalar(babyJub.Base8, S));
    const msg = fieldElem(erand);
    bad(
      { prv: "", Ax: "", Ay: "", msg: "", R8x: "", R8y: "", S: "", packed_sig: "", packed_pk: "" },
      kind,
      {
        Ax: A[0].toString(),
        Ay: A[1].toString(),
        msg: msg.toString(),
        R8x: R8[0].toString(),
        R8y: R8[1].toString(),
        S: S.toString(),
        packed_sig: packSig(R8, S),
        packed_pk: packPoint(A),
      },
    );
  }

  // Non-canonical encodings of an otherwise valid signature/key (circomlibjs accepts them
  // when unpacking; zkhub refuses). Only the packed fields carry the defect.
  for (let i = 0; i < valid.length && invalid.filter((x) => x.case === "noncanonical_pk_y").length < 2; i++) {
    const v = valid[i];
    const y = BigInt(v.Ay);
    const signBit = BigInt(v.packed_pk.slice(62, 64) === "" ? 0 : parseInt(v.packed_pk.slice(62, 64), 16) & 0x80);
    if (y + P < 1n << 255n) {
      const enc = bigToLe(y + P, 32);
      if (signBit) enc[31] |= 0x80;
      bad(v, "noncanonical_pk_y", { packed_pk: hex(enc) });
      const r = bigToLe(BigInt(v.R8y) + P, 32);
      if (BigInt(v.R8x) > (P - 1n) / 2n) r[31] |= 0x80;
      if (BigInt(v.R8y) + P < 1n << 255n) bad(v, "noncanonical_sig_y", { packed_sig: hex(r) + v.packed_sig.slice(64) });
    }
  }
  // A sign bit on x = 0: (0, 1) and (0, -1) with the top bit set.
  const negZero = bigToLe(1n, 32);
  negZero[31] |= 0x80;
  bad(valid[0], "noncanonical_sig_sign_bit", { packed_sig: hex(negZero) + valid[0].packed_sig.slice(64) });
  bad(valid[0], "noncanonical_pk_sign_bit", { packed_pk: hex(bigToLe(P - 1n, 32).map((b, i) => (i === 31 ? b | 0x80 : b))) });
  // A y with no point on the curve.
  for (let y = 2n; ; y++) {
    const enc = bigToLe(y, 32);
    if (babyJub.unpackPoint(Buffer.from(enc)) === null) {
      bad(valid[1], "no_point_pk", { packed_pk: hex(enc) });
      bad(valid[1], "no_point_sig", { packed_sig: hex(enc) + valid[1].packed_sig.slice(64) });
      break;
    }
  }

  for (const v of invalid) {
    const stricter = ["identity_a", "small_order_a"].includes(v.case) || v.case.startsWith("noncanonical");
    if (!stricter && v.js_valid) {
      throw new Error(`circomlibjs accepts invalid case ${v.case}`);
    }
  }

  write("circomlibjs.json", { poseidon: poseidonVectors, eddsa: [...valid, ...invalid] });

  // ---------------- EdDSA by @zk-kit alone ----------------
  const zrand = stream("zkhub-zkkit");
  const zkVectors = [];
  for (let i = 0; i < 16; i++) {
    const prv = zrand(32);
    const msg = fieldElem(zrand);
    const A = zk.derivePublicKey(prv);
    const sig = zk.signMessage(prv, msg);
    check(zk.verifySignature(msg, sig, A), "zk-kit rejects its own signature");
    zkVectors.push({
      prv: hex(prv),
      Ax: A[0].toString(),
      Ay: A[1].toString(),
      msg: msg.toString(),
      R8x: sig.R8[0].toString(),
      R8y: sig.R8[1].toString(),
      S: sig.S.toString(),
      packed_sig: hex(zk.packSignature(sig)),
      packed_pk: hex(bigToLe(zk.packPublicKey(A), 32)),
      valid: true,
      case: "valid",
      js_valid: jsVerify(msg, sig.R8, sig.S, A),
    });
    check(zkVectors[i].js_valid, "circomlibjs rejects a zk-kit signature");
    check(packPoint(A) === zkVectors[i].packed_pk, "pack");
  }
  write("zkkit.json", { poseidon: [], eddsa: zkVectors });
}

function write(name, obj) {
  const out = path.join(__dirname, "..", name);
  fs.writeFileSync(out, JSON.stringify(obj, null, 1) + "\n");
  console.log(`wrote ${out}: ${obj.poseidon.length} poseidon, ${obj.eddsa.length} eddsa`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
