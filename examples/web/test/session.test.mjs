// The JS hub client (js/hub-client.js) against a real hub, in node: resuming after a lost
// connection. Needs a WebSocket global (node >= 22, or node 20 with --experimental-websocket).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { newPrivateKey, publicKeyOf } from "../js/crypto.js";
import { PayeeSession, PayerSession } from "../js/hub-client.js";
import { channelStatus, deposit, startHub } from "./hub.mjs";

const HUB_BIN = process.env.ZKHUB_BIN ?? fileURLToPath(new URL("../../../target/release/zkhub", import.meta.url));
const webDir = fileURLToPath(new URL("..", import.meta.url));
let hub;

before(async () => {
  assert.equal(typeof WebSocket, "function", "needs a WebSocket global (node >= 22 or --experimental-websocket)");
  assert.ok(existsSync(HUB_BIN), `hub binary not found at ${HUB_BIN}`);
  hub = await startHub({ bin: HUB_BIN, staticDir: webDir });
});
after(async () => hub?.stop());

const until = (what, cond, ms = 10_000) =>
  new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });

async function payer(amount) {
  const key = newPrivateKey();
  const channel = await deposit(hub.base, publicKeyOf(key).packed, amount);
  return new PayerSession({ url: hub.ws, channel, privateKey: key });
}

test("vouchers lost on the way are resent after reconnecting and acked once", async () => {
  const creator = await deposit(hub.base, publicKeyOf(newPrivateKey()).packed, 1n);
  const watch = new PayeeSession({ url: hub.ws, channel: creator });
  const credits = [];
  watch.onCredit = (c) => credits.push(c);
  await watch.connect();

  const s = await payer(100n);
  const acked = [];
  s.onAck = ({ tips }) => acked.push(...tips.map((t) => t.seq));
  await s.connect();
  s.tip(creator, 3n);
  await until("first ack", () => acked.length === 1);

  // Two tips signed but never delivered (the frames are lost), then the connection drops.
  const send = s.send.bind(s);
  s.send = () => {};
  s.tip(creator, 4n);
  s.tip(creator, 5n);
  s.send = send;
  assert.equal(s.inflight.length, 2);
  const closed = new Promise((r) => (s.onClose = r));
  s.rpc.close();
  await closed;

  const status = await s.connect(); // hub head is seq 1: seqs 2 and 3 are resent
  assert.equal(status.seq, 1n);
  await until("acks of the resent vouchers", () => acked.length === 3);
  assert.deepEqual(acked, [1n, 2n, 3n]);
  const st = await channelStatus(hub.base, s.channel);
  assert.equal(BigInt(st.status.seq), 3n);
  assert.equal(BigInt(st.status.spent), 12n);
  await until("credits", () => watch.received === 12n);
  assert.equal(credits.reduce((a, c) => a + c.amount, 0n), 12n);
  s.close();
  watch.close();
});

test("a voucher committed whose ack was lost is reported acked on reconnect, not resent", async () => {
  const creator = await deposit(hub.base, publicKeyOf(newPrivateKey()).packed, 1n);
  const s = await payer(50n);
  await s.connect();
  const handle = s.handle.bind(s);
  s.handle = (m, p) => m !== "ack" && handle(m, p); // acks lost
  s.tip(creator, 7n);
  for (let i = 0; i < 250; i++) {
    const st = await channelStatus(hub.base, s.channel);
    if (BigInt(st.status.seq) === 1n) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const acked = [];
  s.onAck = ({ tips }) => acked.push(...tips.map((t) => t.seq));
  s.handle = handle;
  const closed = new Promise((r) => (s.onClose = r));
  s.rpc.close();
  await closed;
  const status = await s.connect();
  assert.equal(status.seq, 1n);
  assert.deepEqual(acked, [1n]);
  assert.equal(s.inflight.length, 0);
  s.tip(creator, 1n); // continues at seq 2
  await until("ack of seq 2", () => acked.includes(2n));
  assert.equal(BigInt((await channelStatus(hub.base, s.channel)).status.spent), 8n);
  s.close();
});
