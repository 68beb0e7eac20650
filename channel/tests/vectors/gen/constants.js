// Writes channel/src/crypto/poseidon_constants.bin from circomlibjs 0.1.7's Poseidon constants.
//
// Run with `npm ci && node constants.js` in this directory. The output is committed; the Rust
// crate never needs node. Layout (all integers little-endian):
//
//   magic  b"ZKPOSEI1"
//   for t in 2..=17:
//     u32 t, u32 partial_rounds
//     5 arrays, each `u32 count` then `count` field elements of 32 bytes (little-endian, < p):
//       rc     circomlib round constants C[t-2]            ((8 + RP) * t)
//       mds    circomlib MDS M[t-2], row-major M[i][j]     (t * t)
//       opt_c  poseidon_constants_opt C[t-2]               (8 * t + RP)
//       opt_s  poseidon_constants_opt S[t-2]               ((2t - 1) * RP)
//       opt_p  poseidon_constants_opt P[t-2], row-major    (t * t)
//
// The optimized file's M is the transpose of the reference M (poseidon_opt.js reads M[j][i]),
// so it is not stored again.
"use strict";
const fs = require("fs");
const path = require("path");

const P = BigInt("21888242871839275222246405745257275088548364400416034343698204186575808495617");
const N_ROUNDS_P = [56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68];
const src = path.join(__dirname, "node_modules", "circomlibjs", "src");
const ref = JSON.parse(fs.readFileSync(path.join(src, "poseidon_constants.json"), "utf8"));
const opt = JSON.parse(fs.readFileSync(path.join(src, "poseidon_constants_opt.json"), "utf8"));

const chunks = [Buffer.from("ZKPOSEI1", "ascii")];
const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  chunks.push(b);
};
const fe = (s) => {
  const n = BigInt(s);
  if (n < 0n || n >= P) throw new Error(`constant out of range: ${s}`);
  const b = Buffer.alloc(32);
  let v = n;
  for (let i = 0; i < 32; i++) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  chunks.push(b);
};
const arr = (xs, expect) => {
  if (xs.length !== expect) throw new Error(`length ${xs.length} != ${expect}`);
  u32(xs.length);
  xs.forEach(fe);
};

for (let t = 2; t <= 17; t++) {
  const rp = N_ROUNDS_P[t - 2];
  const i = t - 2;
  // Sanity: the optimized M is the transposed reference M.
  for (let a = 0; a < t; a++)
    for (let b = 0; b < t; b++)
      if (BigInt(ref.M[i][a][b]) !== BigInt(opt.M[i][b][a])) throw new Error("opt.M is not ref.M^T");
  u32(t);
  u32(rp);
  arr(ref.C[i], (8 + rp) * t);
  arr(ref.M[i].flat(), t * t);
  arr(opt.C[i], 8 * t + rp);
  arr(opt.S[i], (2 * t - 1) * rp);
  arr(opt.P[i].flat(), t * t);
}

const out = path.join(__dirname, "..", "..", "..", "src", "crypto", "poseidon_constants.bin");
fs.writeFileSync(out, Buffer.concat(chunks));
console.log(`wrote ${out}`);
