// Test helper: runs a real zkhub hub (`zkhub serve`) on a loopback port with a temporary data
// directory, serving examples/web as its static directory, and talks to its operator interface.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, openSync, closeSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A free TCP port on 127.0.0.1 (bound and released; the hub binds it right after). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Start `bin serve` and wait until `GET /healthz` answers 200.
 * @returns {Promise<{ base: string, ws: string, stop: () => Promise<void>, log: () => string }>}
 */
export async function startHub({ bin, staticDir, port: wantedPort, timeoutMs = 60_000 }) {
  const dataDir = mkdtempSync(join(tmpdir(), "zkhub-web-test-"));
  const logPath = join(dataDir, "hub.log");
  const port = wantedPort ?? (await freePort());
  const out = openSync(logPath, "a");
  const child = spawn(bin, ["serve", "--data", join(dataDir, "data"), "--listen", `127.0.0.1:${port}`, "--static", staticDir], {
    stdio: ["ignore", out, out],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info" },
  });
  closeSync(out);
  let exited = null;
  // Never leave a hub behind, whatever ends this process.
  const reap = () => exited === null && child.kill("SIGKILL");
  process.once("exit", reap);
  child.on("exit", (code, signal) => {
    exited = { code, signal };
    process.off("exit", reap);
  });
  const base = `http://127.0.0.1:${port}`;
  const log = () => {
    try {
      return readFileSync(logPath, "utf8");
    } catch {
      return "";
    }
  };

  const stop = async () => {
    if (exited === null) {
      child.kill("SIGTERM");
      for (let i = 0; i < 50 && exited === null; i++) await sleep(100);
      if (exited === null) {
        child.kill("SIGKILL");
        for (let i = 0; i < 20 && exited === null; i++) await sleep(100);
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== null) {
      const l = log();
      await stop();
      throw new Error(`hub exited early (${JSON.stringify(exited)}):\n${l}`);
    }
    try {
      const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      const l = log();
      await stop();
      throw new Error(`hub did not answer /healthz within ${timeoutMs} ms:\n${l}`);
    }
    await sleep(100);
  }
  return { base, ws: `ws://127.0.0.1:${port}/v1`, port, stop, log, pid: child.pid, dataDir: join(dataDir, "data"), tmpDir: dataDir };
}

async function json(r) {
  const text = await r.text();
  if (!r.ok) throw new Error(`${r.status} ${r.statusText}: ${text}`);
  return JSON.parse(text);
}

/** Deposit `amount` for the packed public key `pk` (hex); opens a channel. Returns its id. */
export async function deposit(base, pk, amount) {
  const r = await fetch(`${base}/operator/deposit`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ pk, amount: Number(amount) }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await json(r);
  return Number(body.channel);
}

/** The operator's view of a channel (`GET /v1/channels/{id}`). */
export async function channelStatus(base, id) {
  return json(await fetch(`${base}/v1/channels/${id}`, { signal: AbortSignal.timeout(10_000) }));
}

/** Cut the current epoch (`POST /operator/cut`). */
export async function cut(base) {
  return json(await fetch(`${base}/operator/cut`, { method: "POST", signal: AbortSignal.timeout(10_000) }));
}
