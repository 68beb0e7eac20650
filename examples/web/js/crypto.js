// zkhub client-side cryptography (DESIGN.md §3–§4), the same in the browser and in node.
//
// - EdDSA over Baby Jubjub with Poseidon, as circomlibjs `signPoseidon` (@zk-kit/eddsa-poseidon,
//   BLAKE-512 key derivation); keys and signatures travel packed as circomlibjs `packPoint` /
//   `packSignature` (32 / 64 bytes, lowercase hex).
// - Poseidon with circomlib parameters (poseidon-lite).
// - The payment chain: chain_k = BLAKE3(chain_{k-1} ‖ seq ‖ to ‖ amount) over 32 + 8 + 4 + 8
//   big-endian bytes, first output byte zeroed, read big-endian (@noble/hashes).
// - The messages signatures cover: voucher, hello and (hub-signed) receipt.
//
// Every integer is a BigInt; field elements are BigInts in [0, p).

import {
  blake3,
  inCurve,
  mulPointEscalar,
  derivePublicKey,
  packPublicKey,
  packSignature,
  poseidon4,
  poseidon5,
  poseidon6,
  signMessage,
  unpackPublicKey,
  verifySignature,
} from "../vendor/zkcrypto.js";

/** The BN254 scalar field modulus p (the base field of Baby Jubjub). */
export const FIELD_P = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
/** The order l of Baby Jubjub's prime-order subgroup. */
export const SUBGROUP_ORDER = 2736030358979909402780800718157159386076813972158567259200215660948447373041n;
const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = (1n << 32n) - 1n;

/** A domain tag: the ASCII bytes of `tag` read as a big-endian integer. */
export function domainTag(tag) {
  if (!/^[\x20-\x7e]{1,30}$/.test(tag)) throw new RangeError("domain tag must be 1..30 printable ASCII bytes");
  let n = 0n;
  for (const c of tag) n = (n << 8n) | BigInt(c.charCodeAt(0));
  return n;
}

/** Domain tag "zkhub/voucher/v1". */
export const TAG_VOUCHER = domainTag("zkhub/voucher/v1");
/** Domain tag "zkhub/hello/v1". */
export const TAG_HELLO = domainTag("zkhub/hello/v1");
/** Domain tag "zkhub/receipt/v1". */
export const TAG_RECEIPT = domainTag("zkhub/receipt/v1");

function u64(v, what) {
  const n = BigInt(v);
  if (n < 0n || n > U64_MAX) throw new RangeError(`${what} must be a u64`);
  return n;
}

function u32(v, what) {
  const n = BigInt(v);
  if (n < 0n || n > U32_MAX) throw new RangeError(`${what} must be a u32`);
  return n;
}

function fe(v, what) {
  const n = BigInt(v);
  if (n < 0n || n >= FIELD_P) throw new RangeError(`${what} must be a field element below p`);
  return n;
}

/** `M = Poseidon(VOUCHER, hub_id, channel, seq, spent, chain)`: what a payer signs. */
export function voucherMessage(hubId, channel, seq, spent, chain) {
  return poseidon6([TAG_VOUCHER, u64(hubId, "hub_id"), u32(channel, "channel"), u64(seq, "seq"), u64(spent, "spent"), fe(chain, "chain")]);
}

/** `Poseidon(HELLO, hub_id, nonce, channel)`: what a client signs to bind a session. */
export function helloMessage(hubId, nonce, channel) {
  return poseidon4([TAG_HELLO, u64(hubId, "hub_id"), fe(nonce, "nonce"), u32(channel, "channel")]);
}

/** `Poseidon(RECEIPT, hub_id, epoch, channel, received)`: what the hub signs for a payee. */
export function receiptMessage(hubId, epoch, channel, received) {
  return poseidon5([TAG_RECEIPT, u64(hubId, "hub_id"), u64(epoch, "epoch"), u32(channel, "channel"), u64(received, "received")]);
}

/** The chain value before any voucher. */
export const CHAIN_0 = 0n;

function writeBE(buf, offset, value, len) {
  let v = value;
  for (let i = len - 1; i >= 0; i--) {
    buf[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/** The 52-byte preimage hashed by {@link chainNext}. */
export function chainPreimage(prev, seq, to, amount) {
  const buf = new Uint8Array(52);
  writeBE(buf, 0, fe(prev, "prev chain"), 32);
  writeBE(buf, 32, u64(seq, "seq"), 8);
  writeBE(buf, 40, u32(to, "to"), 4);
  writeBE(buf, 44, u64(amount, "amount"), 8);
  return buf;
}

/** The chain value after a voucher `(seq, to, amount)` following `prev`. */
export function chainNext(prev, seq, to, amount) {
  const out = blake3(chainPreimage(prev, seq, to, amount));
  out[0] = 0;
  let n = 0n;
  for (const b of out) n = (n << 8n) | BigInt(b);
  return n;
}

/** Lowercase hex of bytes. */
export function toHex(bytes) {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Bytes of a hex string (even length, no prefix). */
export function fromHex(hex) {
  if (typeof hex !== "string" || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError("expected an even-length hex string");
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function leBytes(n, len) {
  const out = new Uint8Array(len);
  let v = n;
  for (let i = 0; i < len; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new RangeError("value does not fit");
  return out;
}

function leToBigInt(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

/** A fresh 32-byte private key from the platform's CSPRNG. */
export function newPrivateKey() {
  const key = new Uint8Array(32);
  globalThis.crypto.getRandomValues(key);
  return key;
}

/**
 * The public key of a 32-byte private key (circomlibjs `prv2pub`): `{ x, y, packed }`, with
 * `packed` the circomlibjs `packPoint` form as 64 hex characters.
 */
export function publicKeyOf(privateKey) {
  const key = checkKey(privateKey);
  const [x, y] = derivePublicKey(key);
  return { x, y, packed: toHex(leBytes(packPublicKey([x, y]), 32)) };
}

/**
 * A point from its 32-byte `packPoint` form, refusing every non-canonical encoding: `y ≥ p`,
 * a sign bit on `x = 0`, or no curve point with that `y`. Returns `[x, y]`.
 */
function unpackPointBytes(bytes) {
  const packed = leToBigInt(bytes);
  const y = packed & ((1n << 255n) - 1n);
  if (y >= FIELD_P) throw new RangeError("non-canonical point encoding");
  const [x, yy] = unpackPublicKey(packed); // throws when no point has this y
  if (x === 0n && packed >> 255n === 1n) throw new RangeError("non-canonical point encoding");
  if (yy !== y || !inCurve([x, yy])) throw new RangeError("not a curve point");
  return [x, yy];
}

/** Unpack a `packPoint` hex public key to `{ x, y, packed }`; throws if not canonical or off the curve. */
export function unpackPublicKeyHex(packedHex) {
  const bytes = fromHex(packedHex);
  if (bytes.length !== 32) throw new RangeError("packed public key must be 32 bytes");
  const [x, y] = unpackPointBytes(bytes);
  return { x, y, packed: toHex(bytes) };
}

function checkKey(privateKey) {
  if (!(privateKey instanceof Uint8Array) || privateKey.length !== 32) {
    throw new TypeError("private key must be 32 bytes");
  }
  return privateKey;
}

/** Sign a field element (circomlibjs `signPoseidon`); the `packSignature` form as 128 hex characters. */
export function signHex(privateKey, message) {
  const sig = signMessage(checkKey(privateKey), fe(message, "message"));
  return toHex(packSignature(sig));
}

/** Whether `8·P` is the identity (P of order 1, 2, 4 or 8): such keys sign anything. */
function isSmallOrder(point) {
  const [x, y] = mulPointEscalar(point, 8n);
  return x === 0n && y === 1n;
}

/**
 * Whether a packed hex signature over `message` verifies under a packed hex public key, with
 * zkhub's rules: `S < l`, both points canonical and on the curve, the key not of small order.
 */
export function verifyHex(message, sigHex, pubHex) {
  try {
    const sigBytes = fromHex(sigHex);
    if (sigBytes.length !== 64) return false;
    // Unpacked by hand: @zk-kit's unpackSignature wants a node Buffer, which the page lacks.
    const [r8x, r8y] = unpackPointBytes(sigBytes.subarray(0, 32));
    const sig = { R8: [r8x, r8y], S: leToBigInt(sigBytes.subarray(32)) };
    if (sig.S >= SUBGROUP_ORDER) return false;
    const { x, y } = unpackPublicKeyHex(pubHex);
    if (!inCurve([x, y]) || isSmallOrder([x, y])) return false;
    return verifySignature(fe(message, "message"), sig, [x, y]);
  } catch {
    return false;
  }
}
