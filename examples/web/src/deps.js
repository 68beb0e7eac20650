// Entry point of the one bundled file (vendor/zkcrypto.js): the npm crypto libraries the page
// uses, re-exported as plain ES module exports. The libraries ship CommonJS dependencies
// (buffer, blakejs) that a browser import map cannot load, so build.mjs bundles them once.
export {
  derivePublicKey,
  packPublicKey,
  packSignature,
  signMessage,
  unpackPublicKey,
  verifySignature,
} from "@zk-kit/eddsa-poseidon";
export { Base8, inCurve, mulPointEscalar } from "@zk-kit/baby-jubjub";
export { poseidon4 } from "poseidon-lite/poseidon4";
export { poseidon5 } from "poseidon-lite/poseidon5";
export { poseidon6 } from "poseidon-lite/poseidon6";
export { blake3 } from "@noble/hashes/blake3.js";
