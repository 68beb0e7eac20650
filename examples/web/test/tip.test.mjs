// End-to-end test of the tip page in a real headless Chromium against a real hub.
//
// A hub (`zkhub serve`, binary from $ZKHUB_BIN) runs on a loopback port and serves examples/web.
// The fan page makes its key in the browser; the test deposits for the key the page shows and
// for a creator, the fan connects (challenge → signed hello), tips (each voucher signed in the
// browser), and the test waits for the acks on the fan page and the credits on the creator page
// (a second page), then checks the hub's own view of both channels. Screenshots go to
// test/screenshot.png (fan) and test/screenshot-creator.png.
//
// Run through ../run-test.sh, which installs Chromium and the npm packages and builds the hub.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { newPrivateKey, publicKeyOf, toHex } from "../js/crypto.js";
import { channelStatus, cut, deposit, freePort, startHub } from "./hub.mjs";

const webDir = fileURLToPath(new URL("..", import.meta.url));
const shot = (name) => fileURLToPath(new URL(name, import.meta.url));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const HUB_BIN = process.env.ZKHUB_BIN ?? fileURLToPath(new URL("../../../target/release/zkhub", import.meta.url));
const STEP_MS = 20_000; // bound on every wait for the page

const FAN_DEPOSIT = 1_000n;

let hub;
let browser;
let profileDir;
let creatorChannel;
let creatorKey;
const pageErrors = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (run install.sh)`);
  assert.ok(existsSync(HUB_BIN), `hub binary not found at ${HUB_BIN} (cargo build --release)`);
  hub = await startHub({ bin: HUB_BIN, staticDir: webDir });
  // The creator only receives: a channel with a key and a small deposit.
  creatorKey = newPrivateKey();
  creatorChannel = await deposit(hub.base, publicKeyOf(creatorKey).packed, 1n);
  profileDir = mkdtempSync(join(tmpdir(), "zkhub-chromium-"));
  browser = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 860 },
    timeout: 30_000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // Two pages are open at once: keep the one in the background fully live (timers, frames).
      "--disable-background-timer-throttling",
      "--disable-backgrounding-occluded-windows",
      "--disable-renderer-backgrounding",
    ],
  });
  browser.setDefaultTimeout(STEP_MS);
});

after(async () => {
  await browser?.close().catch(() => {});
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  await hub?.stop();
});

async function openPage(path) {
  const page = await browser.newPage();
  page.on("pageerror", (e) => pageErrors.push(`${path}: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && pageErrors.push(`${path}: console: ${m.text()}`));
  await page.goto(`${hub.base}${path}`);
  return page;
}

const digits = (s) => BigInt(String(s).replace(/[^0-9]/g, "") || "0");
const text = (page, sel) => page.locator(sel).innerText();

async function waitText(page, sel, expected) {
  await page.waitForFunction(
    ([s, want]) => document.querySelector(s)?.textContent.replace(/[^0-9]/g, "") === want,
    [sel, String(expected)],
    { timeout: STEP_MS },
  );
}

test("fan tips from the browser, creator sees the credits live", { timeout: 120_000 }, async (t) => {
  // --- fan: key made in the browser, deposited for by the "settlement layer" ------------------
  const fan = await openPage("/index.html");
  const pk = (await text(fan, "#pubkey")).trim();
  assert.match(pk, /^[0-9a-f]{64}$/, "page shows a packed public key");
  const fanChannel = await deposit(hub.base, pk, FAN_DEPOSIT);
  assert.notEqual(fanChannel, creatorChannel);

  await fan.fill("#my-channel", String(fanChannel));
  await fan.click("#connect");
  await fan.waitForSelector('#conn[data-state="online"]');
  await waitText(fan, "#balance", FAN_DEPOSIT);

  // --- creator: a second page watching the creator channel ------------------------------------
  const creator = await openPage(`/index.html?view=creator&channel=${creatorChannel}`);
  await creator.waitForSelector('#conn[data-state="online"]');
  await waitText(creator, "#total", 0);

  // --- three tips in a row, each voucher signed in the page -----------------------------------
  // (Playwright waits for animation frames before a click, which background pages don't get.)
  await fan.bringToFront();
  await fan.fill("#to-channel", String(creatorChannel));
  for (const amount of [5, 10, 1]) await fan.click(`button.amount[data-amount="${amount}"]`);
  await fan.waitForFunction(() => document.querySelectorAll("#tips .badge.acked").length === 3, null, { timeout: STEP_MS });
  await waitText(fan, "#balance", FAN_DEPOSIT - 16n);
  await waitText(fan, "#seq", 3);
  await waitText(creator, "#total", 16);
  await waitText(creator, "#session-sum", 16);
  assert.ok((await creator.locator("#credits li").count()) >= 1, "creator feed lists the credits");

  // The hub's own view agrees: three signed vouchers, 16 spent, 16 received.
  const fanState = await channelStatus(hub.base, fanChannel);
  assert.equal(BigInt(fanState.status.seq), 3n);
  assert.equal(BigInt(fanState.status.spent), 16n);
  assert.equal(fanState.pk, pk);
  const creatorState = await channelStatus(hub.base, creatorChannel);
  assert.equal(BigInt(creatorState.status.received), 16n);

  await t.test("a tip the hub refuses is shown as rejected and the page resynchronises", async () => {
    await fan.bringToFront();
    await fan.fill("#to-channel", "4000000000"); // no such channel
    await fan.click('button.amount[data-amount="50"]');
    await fan.waitForSelector("#tips .badge.rejected");
    assert.match(await text(fan, "#tip-error"), /refused/);
    // The page continues from the hub's committed head: the next tip is seq 4 and is acked.
    await fan.fill("#to-channel", String(creatorChannel));
    await fan.click('button.amount[data-amount="50"]');
    await fan.waitForFunction(() => document.querySelectorAll("#tips .badge.acked").length === 4, null, { timeout: STEP_MS });
    await waitText(fan, "#balance", FAN_DEPOSIT - 66n);
    await waitText(creator, "#total", 66);
  });

  await t.test("the page refuses to overspend before signing anything", async () => {
    await fan.fill("#custom-amount", String(FAN_DEPOSIT));
    await fan.click("#tip-custom");
    assert.match(await text(fan, "#tip-error"), /insufficient balance/);
    assert.equal(await fan.locator("#tips li").count(), 5);
  });

  await fan.screenshot({ path: shot("screenshot.png"), fullPage: true });
  await creator.bringToFront();
  // A receipt arrives within a second of the credits; the page checks it against /v1/info's key.
  await creator.waitForSelector('#receipt[data-verified="yes"]');
  assert.match(await text(creator, "#receipt"), /signed by the hub/);
  await creator.screenshot({ path: shot("screenshot-creator.png"), fullPage: true });

  await t.test("a channel of another key is named as such, not as a bad signature", async () => {
    // Another key in the same browser profile (the fan's key is put back afterwards).
    const fanKey = await fan.evaluate(() => localStorage.getItem("zkhub.key"));
    const other = await openPage("/index.html");
    try {
      await other.evaluate(() => localStorage.setItem("zkhub.key", "11".repeat(32)));
      await other.reload();
      await other.fill("#my-channel", String(fanChannel));
      await other.click("#connect");
      await other.waitForSelector('#conn[data-state="error"]');
      const error = await text(other, "#tip-error");
      assert.match(error, new RegExp(`Channel ${fanChannel} belongs to another key`));
      assert.doesNotMatch(error, /1019|signature does not verify/);
    } finally {
      await other.evaluate((key) => localStorage.setItem("zkhub.key", key), fanKey);
      await other.close();
    }
  });

  await t.test("the creator downloads a statement of a closed epoch, and it verifies without the hub", async () => {
    // The operator cuts epoch 1 and proves its close for real (`zkhub close`, a few slots).
    await cut(hub.base);
    // Same key directory as the hub's verifier (both read $ZKHUB_KEYS or the default).
    const zkhub = (args) => spawnSync(HUB_BIN, args, { encoding: "utf8", timeout: 240_000 });
    const closed = zkhub(["close", "--data", hub.dataDir, "--hub", hub.base]);
    assert.equal(closed.status, 0, `zkhub close: ${closed.stdout}${closed.stderr}`);

    await creator.bringToFront();
    // Another channel's key is refused by the hub's hello, in words.
    await creator.fill("#statement-epoch", "1");
    await creator.fill("#statement-key", toHex(newPrivateKey()));
    await creator.click("#statement-download");
    await creator.waitForFunction(() => /another key/.test(document.querySelector("#statement-error").textContent), null, { timeout: STEP_MS });
    // An epoch not closed yet.
    await creator.fill("#statement-key", toHex(creatorKey));
    await creator.fill("#statement-epoch", "2");
    await creator.click("#statement-download");
    await creator.waitForFunction(() => /No statement for epoch 2/.test(document.querySelector("#statement-error").textContent), null, { timeout: STEP_MS });

    await creator.fill("#statement-epoch", "1");
    const [download] = await Promise.all([creator.waitForEvent("download"), creator.click("#statement-download")]);
    assert.match(download.suggestedFilename(), new RegExp(`channel${creatorChannel}-epoch1\\.json$`));
    const saved = join(hub.tmpDir, "statement.json");
    await download.saveAs(saved);
    await creator.waitForSelector('#statement-result[data-ready="yes"]');
    assert.match(await text(creator, "#statement-result"), /received 66 in total/);
    const file = JSON.parse(readFileSync(saved, "utf8"));
    assert.equal(file.format, "zkhub/disclosure");
    assert.equal(file.channel, creatorChannel);
    assert.equal(file.epoch.opening.received, 66);

    // An auditor checks it against the settled roots, with no access to the hub.
    const roots = join(hub.tmpDir, "roots.json");
    const copied = zkhub(["audit", "roots", "--out", roots, "--hub", hub.base]);
    assert.equal(copied.status, 0, copied.stdout + copied.stderr);
    const verified = zkhub(["audit", "verify", saved, "--roots", roots]);
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /valid disclosure/);
    assert.match(verified.stdout, /received R\s+66/);
  });

  await t.test("at 375 px wide nothing overflows", async () => {
    for (const [page, name] of [
      [fan, "screenshot-375.png"],
      [creator, "screenshot-creator-375.png"],
    ]) {
      await page.bringToFront();
      await page.setViewportSize({ width: 375, height: 740 });
      const widths = await page.evaluate(() => ({
        page: document.documentElement.scrollWidth,
        widest: Math.max(...[...document.querySelectorAll("main:not([hidden]) .card")].map((c) => c.getBoundingClientRect().right)),
      }));
      assert.ok(widths.page <= 375, `page is ${widths.page} px wide at 375 px`);
      assert.ok(widths.widest <= 375, `a card ends at ${widths.widest} px`);
      await page.screenshot({ path: shot(name), fullPage: true });
      await page.setViewportSize({ width: 1200, height: 860 });
    }
  });

  await t.test("the key survives a reload and the page resumes from the hub's state", async () => {
    await fan.bringToFront();
    await fan.reload();
    assert.equal((await text(fan, "#pubkey")).trim(), pk, "same key from localStorage");
    await fan.click("#connect");
    await fan.waitForSelector('#conn[data-state="online"]');
    await waitText(fan, "#balance", FAN_DEPOSIT - 66n);
    await waitText(fan, "#seq", 4);
  });

  assert.deepEqual(pageErrors, [], "no errors in the pages");
});

test("with the hub down, both views say they can't reach it and the creator view recovers", { timeout: 90_000 }, async () => {
  // A port nobody listens on: the page is served by the real hub, `?hub=` points elsewhere.
  const deadPort = await freePort();
  const deadUrl = `ws://127.0.0.1:${deadPort}/v1`;
  const fan = await openPage(`/index.html?hub=${encodeURIComponent(deadUrl)}`);
  await fan.fill("#my-channel", "1");
  await fan.click("#connect");
  await fan.waitForSelector('#conn[data-state="error"]');
  const fanError = await text(fan, "#tip-error");
  assert.match(fanError, new RegExp(`can't reach the hub at ${deadUrl}`, "i"));
  assert.doesNotMatch(fanError, /1006/);
  await fan.close();

  // The creator view keeps retrying with backoff and says why in the view, not only the pill;
  // once a hub listens at that address it connects by itself.
  const creator = await openPage(`/index.html?view=creator&channel=${creatorChannel}&hub=${encodeURIComponent(deadUrl)}`);
  await creator.waitForFunction(() => /retrying in/.test(document.querySelector("#watch-error").textContent), null, { timeout: STEP_MS });
  assert.match(await text(creator, "#watch-error"), new RegExp(`Can't reach the hub at ${deadUrl}`));
  assert.match(await text(creator, "#credits-empty"), /Not receiving tips/);
  const second = await startHub({ bin: HUB_BIN, staticDir: webDir, port: deadPort });
  try {
    const channel = await deposit(second.base, publicKeyOf(newPrivateKey()).packed, 1n);
    assert.equal(channel, creatorChannel, "the same channel id exists on the second hub");
    await creator.waitForSelector('#conn[data-state="online"]', { timeout: 30_000 });
    assert.equal(await text(creator, "#watch-error"), "");
  } finally {
    await creator.close();
    await second.stop();
  }
  // The hub-down pages log failed connections to the console; those are expected here.
  pageErrors.length = 0;
});
