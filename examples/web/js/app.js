// The tip page: a fan view (key, balance, tip buttons, acked tips) and a creator view (live
// credits and total, receipts checked against the hub's key). URL parameters are documented in
// examples/web/README.md (`view`, `channel`, `to`, `hub`).

import { fromHex, newPrivateKey, publicKeyOf, toHex } from "./crypto.js";
import {
  ErrorCode,
  PayeeSession,
  PayerSession,
  RpcError,
  UnreachableError,
  defaultHubUrl,
  fetchDisclosure,
  fetchHubInfo,
  receiptVerifies,
} from "./hub-client.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const hubUrl = params.get("hub") || defaultHubUrl();
const view = params.get("view") === "creator" ? "creator" : "fan";
const RECONNECT_MS = [500, 1000, 2000, 5000];

const store = {
  get(k) {
    try {
      return localStorage.getItem(`zkhub.${k}`);
    } catch {
      return null;
    }
  },
  set(k, v) {
    try {
      if (v === null || v === undefined || v === "") localStorage.removeItem(`zkhub.${k}`);
      else localStorage.setItem(`zkhub.${k}`, String(v));
    } catch {
      /* storage disabled: the key lives for this page only */
    }
  },
};

const fmt = (n) => (typeof n === "bigint" ? n.toLocaleString("en-US") : String(n));
const time = () => new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
/** WebSocket close code the hub uses when another session said hello for the same channel. */
const CLOSE_SUPERSEDED = 4001;

function setConn(state, text) {
  const el = $("conn");
  el.className = `pill ${{ online: "on", connecting: "wait", error: "bad" }[state] ?? "off"}`;
  el.dataset.state = state;
  el.textContent = text;
}

function parseChannel(value) {
  const s = String(value ?? "").trim();
  if (!/^[0-9]{1,10}$/.test(s)) return null;
  const n = Number(s);
  return n <= 0xffffffff ? n : null;
}

/** Why connecting failed, in words a fan or creator can act on. */
function connectError(e, { channel, key } = {}) {
  if (e instanceof UnreachableError) return `Can't reach the hub at ${e.url}: is it running?`;
  if (e instanceof RpcError && e.code === ErrorCode.HelloFailed && key) {
    const pk = publicKeyOf(key).packed;
    return (
      `Channel ${channel} belongs to another key: this browser's key is ${pk.slice(0, 12)}…. ` +
      `Enter the channel opened for this key, or have one opened for it (see "Your wallet").`
    );
  }
  return e.message;
}

function feedItem({ seq, what, amount, badge, badgeText }) {
  const li = document.createElement("li");
  li.innerHTML = `<span class="when"></span><span class="what"></span><span class="amt"></span><span class="badge"></span>`;
  li.querySelector(".when").textContent = time();
  li.querySelector(".what").textContent = what;
  li.querySelector(".amt").textContent = `+${fmt(amount)}`;
  const b = li.querySelector(".badge");
  b.className = `badge ${badge}`;
  b.textContent = badgeText;
  if (seq !== undefined) li.dataset.seq = String(seq);
  return li;
}

// ---------------------------------------------------------------------------------------------
// Fan view
// ---------------------------------------------------------------------------------------------

function loadOrCreateKey() {
  const hex = store.get("key");
  if (hex && /^[0-9a-f]{64}$/.test(hex)) return fromHex(hex);
  const key = newPrivateKey();
  store.set("key", toHex(key));
  return key;
}

function fanView() {
  let key = loadOrCreateKey();
  let session = null;
  let wantOnline = false;
  let retry = 0;
  const items = new Map(); // seq -> li
  let ackedCount = 0;

  const showKey = () => {
    const pk = publicKeyOf(key).packed;
    $("pubkey").textContent = pk;
    $("fund-cmd").textContent = `zkhub chain deposit --pk ${pk} --amount 1000`;
  };
  showKey();
  $("my-channel").value = params.get("channel") ?? store.get("channel") ?? "";
  $("to-channel").value = params.get("to") ?? store.get("to") ?? "";

  const amountButtons = [...document.querySelectorAll("button.amount")];
  const setTipping = (on) => {
    for (const b of amountButtons) b.disabled = !on;
    $("tip-custom").disabled = !on;
  };

  const render = () => {
    if (!session?.status) return;
    const s = session.status;
    $("balance").textContent = fmt(s.deposit + s.received - session.acked.spent);
    $("deposit").textContent = fmt(s.deposit);
    $("spent").textContent = fmt(session.acked.spent);
    $("received").textContent = fmt(s.received);
    $("seq").textContent = fmt(session.acked.seq);
    $("tips-summary").textContent = ackedCount ? `· ${ackedCount} acked` : "";
  };

  const markItem = (seq, badge, text, title) => {
    const li = items.get(String(seq));
    if (!li) return;
    const b = li.querySelector(".badge");
    b.className = `badge ${badge}`;
    b.textContent = text;
    li.dataset.state = badge;
    if (title) li.title = title;
  };

  function newSession(channel) {
    const s = new PayerSession({ url: hubUrl, channel, privateKey: key });
    s.onStatus = (status) => {
      // Tips the hub committed while the page was away count as acked.
      for (const [seq, li] of items) {
        if (BigInt(seq) <= status.seq && li.dataset.state !== "acked" && li.dataset.state !== "rejected") {
          markItem(seq, "acked", "acked ✓");
          ackedCount += 1;
        }
      }
      render();
    };
    s.onAck = ({ tips }) => {
      for (const t of tips) {
        if (items.get(String(t.seq))?.dataset.state === "acked") continue;
        markItem(t.seq, "acked", "acked ✓");
        ackedCount += 1;
      }
      render();
    };
    s.onReject = ({ seq, code, message, dropped }) => {
      for (const t of dropped) markItem(t.seq, "rejected", "rejected", message);
      const why =
        code === ErrorCode.InsufficientBalance ? "insufficient balance" : code === ErrorCode.UnknownPayee ? "unknown creator channel" : message;
      $("tip-error").textContent = `Tip #${seq} refused: ${why}${code ? ` (code ${code})` : ""}.`;
      render();
    };
    s.onCredit = () => s.refresh().catch(() => {});
    s.onClose = (ev) => {
      // Closed on purpose (a failed connect already said why, or a new key): leave the view be.
      if (session !== s || !wantOnline) return;
      setTipping(false);
      setConn("offline", "offline");
      if (ev.code === CLOSE_SUPERSEDED) {
        // Another tab or device took this channel over; reconnecting would take it back and forth.
        wantOnline = false;
        $("tip-error").textContent = "Another page connected with this channel; press Connect to take it back.";
      } else if (wantOnline) {
        const wait = RECONNECT_MS[Math.min(retry++, RECONNECT_MS.length - 1)];
        $("tip-error").textContent = `Lost the connection to the hub (${ev.code}); reconnecting in ${wait / 1000}s…`;
        setTimeout(() => wantOnline && session === s && open(s), wait);
      }
    };
    return s;
  }

  async function open(s) {
    setConn("connecting", "connecting…");
    try {
      const status = await s.connect();
      if (session !== s) return;
      retry = 0;
      s.wasOnline = true;
      $("tip-error").textContent = status.exiting ? "This channel is exiting: it can no longer tip." : "";
      setConn("online", `online · hub ${s.hubId} · channel ${s.channel}`);
      setTipping(!status.exiting);
    } catch (e) {
      if (session !== s) return;
      s.close();
      if (s.wasOnline && wantOnline) {
        // Reconnecting: keep trying with backoff.
        const wait = RECONNECT_MS[Math.min(retry++, RECONNECT_MS.length - 1)];
        setConn("offline", "offline");
        $("tip-error").textContent = `Could not reconnect (${connectError(e)}); retrying in ${wait / 1000}s…`;
        setTimeout(() => wantOnline && session === s && open(s), wait);
      } else {
        // First attempt failed (wrong channel, key not deposited, hub down): tell, don't loop.
        wantOnline = false;
        setConn("error", "not connected");
        $("tip-error").textContent = `Could not connect: ${connectError(e, { channel: s.channel, key })}`;
      }
    }
  }

  function connect() {
    const channel = parseChannel($("my-channel").value);
    if (channel === null) {
      $("tip-error").textContent = "Enter your channel id (a number).";
      return;
    }
    store.set("channel", channel);
    wantOnline = true;
    retry = 0;
    if (!session || session.channel !== channel) {
      const old = session;
      session = newSession(channel);
      old?.close();
    }
    open(session);
  }

  function tip(amount) {
    $("tip-error").textContent = "";
    const to = parseChannel($("to-channel").value);
    if (to === null) {
      $("tip-error").textContent = "Enter the creator's channel id.";
      return;
    }
    store.set("to", to);
    let v;
    try {
      v = session.tip(to, amount);
    } catch (e) {
      $("tip-error").textContent = e.message;
      return;
    }
    const li = feedItem({ seq: v.seq, what: `#${v.seq} → channel ${to}`, amount: v.amount, badge: "sent", badgeText: "signed · sent" });
    li.title = `voucher seq ${v.seq}, spent ${v.spent}, chain ${v.chain}\nsignature ${v.sig}`;
    items.set(String(v.seq), li);
    $("tips").prepend(li);
    $("tips-empty").hidden = true;
  }

  $("connect").addEventListener("click", connect);
  $("my-channel").addEventListener("keydown", (e) => e.key === "Enter" && connect());
  for (const b of amountButtons) b.addEventListener("click", () => tip(BigInt(b.dataset.amount)));
  $("tip-custom").addEventListener("click", () => {
    const s = $("custom-amount").value.trim();
    if (!/^[0-9]{1,20}$/.test(s) || BigInt(s) === 0n) {
      $("tip-error").textContent = "Enter a whole, positive amount.";
      return;
    }
    tip(BigInt(s));
  });
  $("copy-key").addEventListener("click", () => navigator.clipboard?.writeText($("pubkey").textContent));
  $("new-key").addEventListener("click", () => {
    if (!confirm("Replace this browser's key? Funds of the current channel stay with the old key.")) return;
    wantOnline = false;
    session?.close();
    session = null;
    setTipping(false);
    setConn("offline", "offline");
    key = newPrivateKey();
    store.set("key", toHex(key));
    store.set("channel", null);
    $("my-channel").value = "";
    showKey();
  });

  if (params.get("channel")) connect();
}

// ---------------------------------------------------------------------------------------------
// Creator view
// ---------------------------------------------------------------------------------------------

function creatorView() {
  let session = null;
  let count = 0;
  let sum = 0n;
  let retry = 0;
  let hubKey = null; // packed hex, from GET /v1/info
  let timer = null;
  $("watch-channel").value = params.get("channel") ?? store.get("creator") ?? "";

  /** Show a problem in the view itself; the last known total is kept but marked stale. */
  const trouble = (message) => {
    $("watch-error").textContent = message;
    $("total").classList.toggle("stale", message !== "");
    $("total").title = message ? "last known total: not live while disconnected" : "";
    if (count === 0) $("credits-empty").textContent = message ? `Not receiving tips: ${message}` : "Waiting for tips…";
  };

  const showReceipt = (r) => {
    const ok = hubKey !== null && receiptVerifies(r, hubKey);
    const el = $("receipt");
    el.textContent = `epoch ${r.epoch}: ≥ ${fmt(r.received)} · ${ok ? "✓ signed by the hub" : hubKey ? "✗ signature does not verify" : "unchecked (hub key unknown)"}`;
    el.dataset.verified = ok ? "yes" : "no";
    el.title = `hub ${r.hubId} signed: as of epoch ${r.epoch}, channel ${r.channel} has received at least ${r.received}\n${r.sig}\nhub key ${hubKey ?? "unknown"}`;
  };

  /** Try again after a growing pause, as long as this session is the current one. */
  const again = (s, why) => {
    const wait = RECONNECT_MS[Math.min(retry++, RECONNECT_MS.length - 1)];
    setConn("offline", "offline");
    trouble(`${why}; retrying in ${wait / 1000}s…`);
    clearTimeout(timer);
    timer = setTimeout(() => session === s && start(s), wait);
  };

  async function start(s) {
    setConn("connecting", "connecting…");
    try {
      const received = await s.connect();
      if (session !== s) return;
      retry = 0;
      trouble("");
      $("total").textContent = fmt(received);
      $("epoch").textContent = fmt(s.epoch);
      setConn("online", `watching channel ${s.channel} · hub ${s.hubId}`);
      hubKey = (await fetchHubInfo(hubUrl).catch(() => null))?.publicKey ?? hubKey;
    } catch (e) {
      if (session !== s) return;
      s.close();
      if (e instanceof RpcError) {
        // The hub answered and refused (e.g. no such channel): retrying would not help.
        setConn("error", "not connected");
        trouble(`The hub refused to watch channel ${s.channel}: ${e.message}`);
        return;
      }
      again(s, connectError(e));
    }
  }

  function watch() {
    const channel = parseChannel($("watch-channel").value);
    if (channel === null) {
      trouble("Enter a channel id (a number).");
      return;
    }
    store.set("creator", channel);
    session?.close();
    retry = 0;
    const s = new PayeeSession({ url: hubUrl, channel });
    session = s;
    s.onCredit = (c) => {
      count += 1;
      sum += c.amount;
      $("total").textContent = fmt(s.received);
      $("tip-count").textContent = fmt(count);
      $("session-sum").textContent = fmt(sum);
      $("credits").prepend(feedItem({ what: `Tip received · total ${fmt(c.received)}`, amount: c.amount, badge: "credit", badgeText: "credited" }));
      $("credits-empty").hidden = true;
    };
    s.onReceipt = showReceipt;
    s.onEpoch = (e) => ($("epoch").textContent = fmt(e));
    s.onClose = (ev) => {
      if (session !== s) return;
      again(s, `Lost the connection to the hub at ${hubUrl} (${ev.code})`);
    };
    start(s);
  }

  /** Ask the hub for this channel's disclosure of an epoch and save it as a file. */
  async function downloadStatement() {
    $("statement-error").textContent = "";
    $("statement-result").textContent = "";
    delete $("statement-result").dataset.ready;
    const channel = parseChannel($("watch-channel").value);
    const epoch = parseChannel($("statement-epoch").value);
    const hex = $("statement-key").value.trim().toLowerCase() || store.get("key") || "";
    if (channel === null) return void ($("statement-error").textContent = "Enter your channel id above.");
    if (!epoch) return void ($("statement-error").textContent = "Enter the epoch (a closed one).");
    if (!/^[0-9a-f]{64}$/.test(hex)) return void ($("statement-error").textContent = "Enter your channel's private key: 64 hex characters.");
    const key = fromHex(hex);
    $("statement-download").disabled = true;
    try {
      const { file, text } = await fetchDisclosure({ url: hubUrl, channel, privateKey: key, epoch });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      a.download = `zkhub-statement-hub${file.epoch.record.hub_id}-channel${channel}-epoch${epoch}.json`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
      const now = file.epoch.opening;
      const before = file.previous?.opening;
      $("statement-result").textContent = before
        ? `Epoch ${epoch}: received ${fmt(BigInt(now.received) - BigInt(before.received))} (total ${fmt(BigInt(now.received))}), balance ${fmt(BigInt(now.balance))}. Saved ${a.download}.`
        : `Epoch ${epoch}: received ${fmt(BigInt(now.received))} in total, balance ${fmt(BigInt(now.balance))}. Saved ${a.download}.`;
      $("statement-result").dataset.ready = "yes";
    } catch (e) {
      $("statement-error").textContent =
        e instanceof RpcError && e.code === ErrorCode.NotAvailable
          ? `No statement for epoch ${epoch}: ${e.message}`
          : connectError(e, { channel, key });
    } finally {
      $("statement-download").disabled = false;
    }
  }

  $("statement-download").addEventListener("click", downloadStatement);
  $("watch").addEventListener("click", watch);
  $("watch-channel").addEventListener("keydown", (e) => e.key === "Enter" && watch());
  if (params.get("channel")) watch();
}

// ---------------------------------------------------------------------------------------------

$(`view-${view}`).hidden = false;
$(`tab-${view}`).classList.add("active");
document.title = view === "creator" ? "zkhub · creator" : "zkhub · tip jar";
if (view === "creator") creatorView();
else fanView();
