// A zkhub WebSocket client for browsers (docs/PROTOCOL.md): JSON-RPC 2.0 text frames on `/v1`.
//
// - `PayerSession`: answers the hub's `challenge` with a signed `hello`, resumes from the hub's
//   committed head, and sends tips as `pay` notifications carrying fully signed vouchers
//   (a browser signs every voucher, so every voucher is a checkpoint). It tracks what the hub
//   has acked (durable) and resynchronises after a `reject`.
// - `PayeeSession`: a read-only session that `subscribe`s to a channel and reports `credit`s
//   and `receipt`s.
//
// Amounts, seqs and ids are BigInts inside; on the wire a u64 is a JSON number up to 2^53 − 1
// and a decimal string above (the hub accepts and sends both), field elements are decimal strings.

import { CHAIN_0, chainNext, helloMessage, receiptMessage, signHex, verifyHex, voucherMessage } from "./crypto.js";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** Interval of keepalive pings, well inside the hub's default idle timeout (120 s). */
const KEEPALIVE_MS = 30_000;

/** A u64 for the wire: a number when exact in a double, else a decimal string. */
export function u64Wire(v) {
  const n = BigInt(v);
  return n <= MAX_SAFE ? Number(n) : n.toString();
}

/** A u64 from the wire (a number or a decimal string). */
export function u64Read(v) {
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === "string" && /^[0-9]{1,20}$/.test(v)) return BigInt(v);
  throw new ProtocolError(`not a u64: ${JSON.stringify(v)}`);
}

/** A field element from the wire (a decimal string). */
function feRead(v) {
  if (typeof v === "string" && /^[0-9]{1,80}$/.test(v)) return BigInt(v);
  throw new ProtocolError(`not a field element: ${JSON.stringify(v)}`);
}

/** The hub broke the protocol (unexpected or malformed message). */
export class ProtocolError extends Error {}

/** The hub could not be reached at all (the socket never opened). */
export class UnreachableError extends ProtocolError {
  constructor(url) {
    super(`can't reach the hub at ${url}`);
    this.url = url;
  }
}

/** A JSON-RPC error response from the hub. */
export class RpcError extends Error {
  constructor(code, message) {
    super(`${message} (code ${code})`);
    this.code = code;
  }
}

/** Stable error codes the page treats specially (docs/PROTOCOL.md, channel::codec::ErrorCode). */
export const ErrorCode = Object.freeze({
  BadSeq: 1001,
  InsufficientBalance: 1005,
  UnknownPayee: 1004,
  SelfPayment: 1009,
  ChannelExiting: 1011,
  RateLimited: 1015,
  Overloaded: 1016,
  HelloFailed: 1019,
  NotAvailable: 1022,
});

/** The HTTP base (`http[s]://host`) of a hub WebSocket URL (`ws[s]://host/v1`). */
export function hubHttpBase(wsUrl) {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  return `${u.protocol}//${u.host}`;
}

/**
 * The hub's public facts from `GET /v1/info`: `{ hubId, publicKey, epoch, version }`, where
 * `publicKey` (packed hex) is the key receipts are signed with.
 */
export async function fetchHubInfo(wsUrl, { timeoutMs = 10_000 } = {}) {
  const r = await fetch(`${hubHttpBase(wsUrl)}/v1/info`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!r.ok) throw new ProtocolError(`GET /v1/info: HTTP ${r.status}`);
  const info = await r.json();
  return { hubId: u64Read(info.hub_id), publicKey: String(info.public_key), epoch: u64Read(info.epoch), version: info.version };
}

/** Whether `receipt` (as `onReceipt` gives it) is signed by the hub key `publicKeyHex`. */
export function receiptVerifies(receipt, publicKeyHex) {
  const message = receiptMessage(receipt.hubId, receipt.epoch, receipt.channel, receipt.received);
  return verifyHex(message, receipt.sig, publicKeyHex);
}

/** The WebSocket URL of the hub serving this page (`ws[s]://host/v1`). */
export function defaultHubUrl(location = globalThis.location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/v1`;
}

function parseStatus(r) {
  return {
    channel: Number(u64Read(r.channel)),
    seq: u64Read(r.seq),
    spent: u64Read(r.spent),
    chain: feRead(r.chain),
    deposit: u64Read(r.deposit),
    received: u64Read(r.received),
    balance: u64Read(r.balance),
    exiting: r.exiting === true,
  };
}

function parseReceipt(r) {
  return {
    hubId: u64Read(r.hub_id),
    epoch: u64Read(r.epoch),
    channel: Number(u64Read(r.channel)),
    received: u64Read(r.received),
    sig: String(r.sig),
  };
}

/**
 * One WebSocket connection speaking JSON-RPC: requests with ids and promises, notifications
 * dispatched to `onNotification(method, params)`. Resolves `challenge` once.
 */
class RpcSocket {
  constructor(url, { WebSocketImpl = globalThis.WebSocket, timeoutMs = 10_000 } = {}) {
    this.url = url;
    this.WebSocketImpl = WebSocketImpl;
    this.timeoutMs = timeoutMs;
    this.nextId = 1;
    this.pending = new Map();
    this.onNotification = () => {};
    this.onClose = () => {};
    this.ws = null;
    this.challenge = null;
    this.keepalive = null;
  }

  /** Whether the socket is open. */
  get isOpen() {
    return this.ws !== null && this.ws.readyState === 1;
  }

  /** Open the socket and wait for the hub's `challenge`. */
  open() {
    return new Promise((resolve, reject) => {
      const ws = new this.WebSocketImpl(this.url);
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
      };
      const timer = setTimeout(() => {
        reject(new ProtocolError("no challenge from the hub in time"));
        ws.close();
      }, this.timeoutMs);
      ws.onmessage = (ev) => {
        if (typeof ev.data !== "string") return; // binary frames are not used by this client
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (msg.method === "challenge" && this.challenge === null) {
          const p = msg.params ?? {};
          this.challenge = { hubId: u64Read(p.hub_id), epoch: u64Read(p.epoch), nonce: feRead(p.nonce) };
          clearTimeout(timer);
          // The hub closes sessions that stay silent; a JSON-RPC ping keeps a quiet page alive.
          this.keepalive = setInterval(() => this.request("ping").catch(() => {}), KEEPALIVE_MS);
          resolve(this.challenge);
          return;
        }
        this.dispatch(msg);
      };
      ws.onclose = (ev) => {
        clearTimeout(timer);
        clearInterval(this.keepalive);
        reject(
          opened
            ? new ProtocolError(`the hub closed the connection (${ev.code}${ev.reason ? ": " + ev.reason : ""})`)
            : new UnreachableError(this.url),
        );
        for (const { reject: rej, timer: t } of this.pending.values()) {
          clearTimeout(t);
          rej(new ProtocolError("connection closed"));
        }
        this.pending.clear();
        this.onClose(ev);
      };
      ws.onerror = () => {};
    });
  }

  dispatch(msg) {
    if (msg.id !== undefined && msg.id !== null && this.pending.has(msg.id)) {
      const { resolve, reject, timer } = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      clearTimeout(timer);
      if (msg.error) reject(new RpcError(msg.error.code, msg.error.message));
      else resolve(msg.result);
    } else if (typeof msg.method === "string") {
      this.onNotification(msg.method, msg.params ?? {});
    } else if (msg.error) {
      // An error the hub could not tie to a request (e.g. a malformed `pay`).
      this.onNotification("error", msg.error);
    }
  }

  /** Send a request and wait for its response. */
  request(method, params = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError(`${method}: no response in time`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ jsonrpc: "2.0", id, method, params });
    });
  }

  /** Send a notification (no response). */
  notify(method, params) {
    this.send({ jsonrpc: "2.0", method, params });
  }

  send(msg) {
    if (!this.ws || this.ws.readyState !== 1) throw new ProtocolError("not connected");
    this.ws.send(JSON.stringify(msg));
  }

  close() {
    if (this.ws) this.ws.close(1000, "bye");
  }
}

/**
 * A paying session bound to one channel. Events (all optional callbacks):
 * `onStatus(status)`, `onAck({ seq, spent, tips })`, `onReject({ seq, code, message })`,
 * `onCredit(credit)`, `onClose(event)`.
 */
export class PayerSession {
  /**
   * @param {object} o
   * @param {string} o.url      hub WebSocket URL (`ws://host/v1`)
   * @param {number} o.channel  the paying channel id
   * @param {Uint8Array} o.privateKey the channel's 32-byte key
   */
  constructor({ url, channel, privateKey, WebSocketImpl, timeoutMs }) {
    this.url = url;
    this.channel = channel;
    this.privateKey = privateKey;
    this.socketOptions = { WebSocketImpl, timeoutMs };
    this.rpc = null;
    this.hubId = null;
    // Head of what this session has signed and sent (seq, spent, chain).
    this.head = { seq: 0n, spent: 0n, chain: CHAIN_0 };
    // Head the hub has acked (durable).
    this.acked = { seq: 0n, spent: 0n, chain: CHAIN_0 };
    // Sent, not yet acked vouchers, oldest first. Kept across reconnects and resent.
    this.inflight = [];
    this.status = null;
    this.onStatus = () => {};
    this.onAck = () => {};
    this.onReject = () => {};
    this.onCredit = () => {};
    this.onClose = () => {};
  }

  /** Whether the session is connected and bound to its channel. */
  get connected() {
    return this.rpc !== null && this.rpc.isOpen && this.status !== null;
  }

  /**
   * Connect (or reconnect), answer the challenge with `hello`, and continue from the hub's
   * committed head: vouchers in flight that the hub committed are reported acked, the rest are
   * resent (the hub re-acks, never re-applies, a voucher it already has).
   */
  async connect() {
    this.rpc?.close();
    const rpc = new RpcSocket(this.url, this.socketOptions);
    this.rpc = rpc;
    this.status = null;
    const ch = await rpc.open();
    if (this.hubId !== null && this.hubId !== ch.hubId) this.inflight = []; // another hub: vouchers void
    this.hubId = ch.hubId;
    rpc.onNotification = (m, p) => this.handle(m, p);
    rpc.onClose = (ev) => {
      if (this.rpc === rpc) this.onClose(ev);
    };
    const sig = signHex(this.privateKey, helloMessage(ch.hubId, ch.nonce, this.channel));
    const status = parseStatus(await rpc.request("hello", { channel: this.channel, sig }));
    const committed = this.inflight.filter((v) => v.seq <= status.seq);
    const rest = this.inflight.filter((v) => v.seq > status.seq);
    this.status = status;
    this.acked = { seq: status.seq, spent: status.spent, chain: status.chain };
    if (committed.length) this.onAck({ seq: status.seq, spent: status.spent, tips: committed });
    if (rest.length && rest[0].seq === status.seq + 1n) {
      this.inflight = rest;
      this.send(rest);
    } else {
      if (rest.length) this.onReject({ seq: rest[0].seq, code: 0, message: "not delivered before the connection closed", dropped: rest });
      this.inflight = [];
      this.head = { ...this.acked };
    }
    this.onStatus(status);
    return status;
  }

  /**
   * Take in the hub's view from `status`: deposit and received always; the acked head moves
   * forward; with nothing in flight the next voucher follows the hub's committed head.
   */
  adopt(status) {
    this.status = status;
    if (status.seq > this.acked.seq || this.inflight.length === 0) {
      this.acked = { seq: status.seq, spent: status.spent, chain: status.chain };
    }
    if (this.inflight.length === 0) this.head = { ...this.acked };
    this.onStatus(status);
  }

  /** Re-read the hub's state (`status`). */
  async refresh() {
    const status = parseStatus(await this.rpc.request("status"));
    this.adopt(status);
    return status;
  }

  send(vouchers) {
    this.rpc.notify("pay", {
      vouchers: vouchers.map((v) => ({
        channel: this.channel,
        seq: u64Wire(v.seq),
        spent: u64Wire(v.spent),
        to: v.to,
        amount: u64Wire(v.amount),
        chain: v.chain.toString(),
        sig: v.sig,
      })),
    });
  }

  /** The balance the hub will hold once everything in flight is acked. */
  get availableBalance() {
    if (!this.status) return 0n;
    return this.status.deposit + this.status.received - this.head.spent;
  }

  /** Sign and send one tip of `amount` to channel `to`; returns the signed voucher. */
  tip(to, amount) {
    if (!this.connected) throw new ProtocolError("not connected");
    const amt = BigInt(amount);
    if (amt <= 0n) throw new RangeError("amount must be positive");
    if (amt > this.availableBalance) throw new RangeError("insufficient balance");
    const seq = this.head.seq + 1n;
    const spent = this.head.spent + amt;
    const chain = chainNext(this.head.chain, seq, to, amt);
    const sig = signHex(this.privateKey, voucherMessage(this.hubId, this.channel, seq, spent, chain));
    const voucher = { channel: this.channel, seq, spent, to, amount: amt, chain, sig };
    this.send([voucher]);
    this.head = { seq, spent, chain };
    this.inflight.push(voucher);
    return voucher;
  }

  handle(method, p) {
    switch (method) {
      case "ack": {
        const seq = u64Read(p.seq);
        const done = [];
        while (this.inflight.length && this.inflight[0].seq <= seq) done.push(this.inflight.shift());
        if (seq > this.acked.seq) {
          const last = done.at(-1);
          if (last) this.acked = { seq, spent: last.spent, chain: last.chain };
        }
        this.onAck({ seq, spent: this.acked.spent, tips: done });
        break;
      }
      case "reject": {
        const r = { seq: u64Read(p.seq), code: Number(p.code), message: String(p.message ?? "") };
        // Every voucher from the refused one on chains on it and is void: continue from the
        // voucher before it (still in flight, or acked), then re-read the hub's state.
        const dropped = this.inflight.filter((v) => v.seq >= r.seq);
        this.inflight = this.inflight.filter((v) => v.seq < r.seq);
        const last = this.inflight.at(-1) ?? this.acked;
        this.head = { seq: last.seq, spent: last.spent, chain: last.chain };
        this.onReject({ ...r, dropped });
        this.refresh().catch(() => {});
        break;
      }
      case "credit":
        this.onCredit({ channel: Number(u64Read(p.channel)), amount: u64Read(p.amount), received: u64Read(p.received) });
        break;
      default:
        break;
    }
  }

  close() {
    this.rpc?.close();
  }
}

/**
 * A read-only session watching one payee channel. Events: `onCredit({ channel, amount,
 * received })`, `onReceipt(receipt)`, `onEpoch(epoch)`, `onClose(event)`.
 */
export class PayeeSession {
  constructor({ url, channel, WebSocketImpl, timeoutMs }) {
    this.url = url;
    this.channel = channel;
    this.socketOptions = { WebSocketImpl, timeoutMs };
    this.rpc = null;
    this.hubId = null;
    this.received = 0n;
    this.onCredit = () => {};
    this.onReceipt = () => {};
    this.onEpoch = () => {};
    this.onClose = () => {};
  }

  /** Connect (or reconnect) and subscribe; resolves to the channel's committed received total. */
  async connect() {
    this.rpc?.close();
    this.rpc = new RpcSocket(this.url, this.socketOptions);
    const ch = await this.rpc.open();
    this.hubId = ch.hubId;
    this.epoch = ch.epoch;
    this.rpc.onNotification = (m, p) => this.handle(m, p);
    this.rpc.onClose = (ev) => this.onClose(ev);
    const r = await this.rpc.request("subscribe", { channel: this.channel });
    this.received = u64Read(r.received);
    return this.received;
  }

  handle(method, p) {
    if (method === "credit") {
      const c = { channel: Number(u64Read(p.channel)), amount: u64Read(p.amount), received: u64Read(p.received) };
      if (c.channel !== this.channel) return;
      if (c.received > this.received) this.received = c.received;
      this.onCredit(c);
    } else if (method === "receipt") {
      this.onReceipt(parseReceipt(p));
    } else if (method === "epoch") {
      this.epoch = u64Read(p.epoch);
      this.onEpoch(this.epoch);
    }
  }

  close() {
    this.rpc?.close();
  }
}

/**
 * Fetch this channel's disclosure file for accepted epoch `epoch` (docs/PROTOCOL.md §4.5a):
 * a short session that says `hello` with the channel key (only its holder gets the leaf's
 * blind and path), asks `disclosure`, and closes. Resolves to the file as JSON text (pretty)
 * and parsed. Amounts are JSON numbers: above 2^53 they would lose precision in a browser,
 * so this refuses them rather than write a file that no longer verifies.
 */
export async function fetchDisclosure({ url, channel, privateKey, epoch, previous = true, WebSocketImpl, timeoutMs }) {
  const rpc = new RpcSocket(url, { WebSocketImpl, timeoutMs });
  try {
    const ch = await rpc.open();
    const sig = signHex(privateKey, helloMessage(ch.hubId, ch.nonce, channel));
    await rpc.request("hello", { channel, sig });
    const file = await rpc.request("disclosure", { epoch: u64Wire(BigInt(epoch)), previous });
    if (typeof file !== "object" || file === null || file.format !== "zkhub/disclosure") {
      throw new ProtocolError("the hub's answer is not a disclosure file");
    }
    for (const part of [file.epoch, file.previous]) {
      const o = part?.opening ?? {};
      for (const v of [o.balance, o.spent, o.received]) {
        if (v !== undefined && !Number.isSafeInteger(v)) throw new ProtocolError("an amount above 2^53: fetch it with `zkhub audit disclose`");
      }
    }
    return { file, text: `${JSON.stringify(file, null, 2)}\n` };
  } finally {
    rpc.close();
  }
}
