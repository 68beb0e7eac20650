// Unit tests of the page's crypto modules (js/crypto.js over vendor/zkcrypto.js) against the Rust
// implementation: the payment-chain vectors in test/vectors/chain.json come from
// `channel::crypto::chain_next` (test/gen-chain-vectors.rs); the Poseidon / EdDSA vectors in
// channel/tests/vectors/*.json come from circomlibjs and @zk-kit, which the Rust crate matches.
// Run: `node --test test/crypto.test.mjs` (after `npm ci && node build.mjs`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as c from "../js/crypto.js";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const chainVectors = JSON.parse(readFileSync(here("./vectors/chain.json"), "utf8"));

test("payment chain equals Rust channel::crypto::chain_next", () => {
  assert.ok(chainVectors.chain.length >= 5);
  for (const v of chainVectors.chain) {
    const got = c.chainNext(BigInt(v.prev), BigInt(v.seq), v.to, BigInt(v.amount));
    assert.equal(got, BigInt(v.chain), `seq ${v.seq}`);
  }
});

test("payment chain: first byte zeroed, every input matters", () => {
  const a = c.chainNext(0n, 1n, 7, 250n);
  assert.ok(a < 1n << 248n);
  assert.notEqual(a, c.chainNext(0n, 2n, 7, 250n));
  assert.notEqual(a, c.chainNext(0n, 1n, 8, 250n));
  assert.notEqual(a, c.chainNext(0n, 1n, 7, 251n));
  assert.notEqual(a, c.chainNext(1n, 1n, 7, 250n));
  const pre = c.chainPreimage(0x01020304n, 0x1112131415161718n, 0x21222324, 0x3132333435363738n);
  assert.deepEqual([...pre.subarray(28, 32)], [1, 2, 3, 4]);
  assert.deepEqual([...pre.subarray(40, 44)], [0x21, 0x22, 0x23, 0x24]);
  assert.throws(() => c.chainNext(c.FIELD_P, 1n, 1, 1n), RangeError);
  assert.throws(() => c.chainNext(0n, 1n << 64n, 1, 1n), RangeError);
  assert.throws(() => c.chainNext(0n, 1n, 2 ** 32, 1n), RangeError);
});

test("domain tags are big-endian ASCII", () => {
  assert.equal(c.domainTag("A"), 0x41n);
  assert.equal(c.domainTag("AB"), 0x4142n);
  assert.equal(c.TAG_VOUCHER, BigInt("0x" + Buffer.from("zkhub/voucher/v1").toString("hex")));
  assert.equal(c.TAG_HELLO, BigInt("0x" + Buffer.from("zkhub/hello/v1").toString("hex")));
  assert.equal(c.TAG_RECEIPT, BigInt("0x" + Buffer.from("zkhub/receipt/v1").toString("hex")));
});

test("sign / verify round trip, and tampering is caught", () => {
  const key = c.newPrivateKey();
  const pub = c.publicKeyOf(key);
  assert.match(pub.packed, /^[0-9a-f]{64}$/);
  assert.deepEqual(c.unpackPublicKeyHex(pub.packed), pub);
  const chain = c.chainNext(0n, 1n, 2, 5n);
  const m = c.voucherMessage(1n, 3, 1n, 5n, chain);
  const sig = c.signHex(key, m);
  assert.match(sig, /^[0-9a-f]{128}$/);
  assert.equal(c.signHex(key, m), sig, "signing is deterministic");
  assert.ok(c.verifyHex(m, sig, pub.packed));
  assert.ok(!c.verifyHex(m + 1n, sig, pub.packed), "other message");
  assert.ok(!c.verifyHex(c.voucherMessage(2n, 3, 1n, 5n, chain), sig, pub.packed), "other hub");
  assert.ok(!c.verifyHex(m, sig, c.publicKeyOf(c.newPrivateKey()).packed), "other key");
  const flipped = sig.slice(0, 100) + (sig[100] === "0" ? "1" : "0") + sig.slice(101);
  assert.ok(!c.verifyHex(m, flipped, pub.packed), "flipped S bit");
  // S + l is the malleable twin of a valid signature: refused.
  const sBytes = c.fromHex(sig.slice(64));
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sBytes[i]);
  const twin = s + c.SUBGROUP_ORDER;
  const tw = new Uint8Array(32);
  for (let i = 0, v = twin; i < 32; i++, v >>= 8n) tw[i] = Number(v & 0xffn);
  assert.ok(!c.verifyHex(m, sig.slice(0, 64) + c.toHex(tw), pub.packed), "S >= l");
});

test("messages refuse out-of-range inputs", () => {
  assert.throws(() => c.voucherMessage(1n, -1, 1n, 1n, 0n), RangeError);
  assert.throws(() => c.voucherMessage(1n, 1, 1n, 1n << 64n, 0n), RangeError);
  assert.throws(() => c.helloMessage(1n, c.FIELD_P, 1), RangeError);
});

// Interop vectors committed by the Rust crate (channel/tests/vectors/gen/vectors.js): Poseidon
// from circomlibjs (checked against poseidon-lite), EdDSA signed by circomlibjs and by @zk-kit,
// with invalid cases (tampered, malleable, off-curve, small-order, non-canonical encodings).
const vectorDir = new URL("../../../channel/tests/vectors/", import.meta.url);
const interop = ["circomlibjs.json", "zkkit.json"].map((f) => ({
  name: f,
  ...JSON.parse(readFileSync(fileURLToPath(new URL(f, vectorDir)), "utf8")),
}));

test("Poseidon equals the circomlibjs vectors for the arities the page uses", async () => {
  const { poseidon4, poseidon5, poseidon6 } = await import("../vendor/zkcrypto.js");
  const fns = { 4: poseidon4, 5: poseidon5, 6: poseidon6 };
  let checked = 0;
  for (const { poseidon } of interop) {
    for (const v of poseidon) {
      const f = fns[v.inputs.length];
      if (!f) continue;
      assert.equal(f(v.inputs.map(BigInt)), BigInt(v.output), `poseidon${v.inputs.length}`);
      checked += 1;
    }
  }
  assert.ok(checked >= 9, `checked ${checked} Poseidon vectors`);
  // And through the message helpers: the voucher message is Poseidon-6 of the tag and fields.
  assert.equal(c.voucherMessage(1n, 2, 3n, 4n, 5n), fns[6]([c.TAG_VOUCHER, 1n, 2n, 3n, 4n, 5n]));
});

test("EdDSA-Poseidon equals the circomlibjs / @zk-kit vectors, valid and invalid", () => {
  let valid = 0;
  let invalid = 0;
  for (const { name, eddsa } of interop) {
    for (const v of eddsa) {
      const label = `${name} ${v.case} msg=${v.msg.slice(0, 12)}`;
      if (v.valid) {
        const key = c.fromHex(v.prv);
        const pub = c.publicKeyOf(key);
        assert.equal(pub.x, BigInt(v.Ax), label);
        assert.equal(pub.y, BigInt(v.Ay), label);
        assert.equal(pub.packed, v.packed_pk, label);
        assert.equal(c.signHex(key, BigInt(v.msg)), v.packed_sig, label);
        assert.ok(c.verifyHex(BigInt(v.msg), v.packed_sig, v.packed_pk), label);
        valid += 1;
      } else if (v.packed_sig !== "" && v.packed_pk !== "") {
        assert.equal(c.verifyHex(BigInt(v.msg), v.packed_sig, v.packed_pk), false, label);
        invalid += 1;
      }
    }
  }
  assert.ok(valid >= 16 && invalid >= 10, `checked ${valid} valid and ${invalid} invalid vectors`);
});
