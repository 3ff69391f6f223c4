// The browser playground in headless Chromium (Debian's /usr/bin/chromium via playwright-core),
// served by scripts/playground.mjs on 127.0.0.1: it loads a wasm build, trains LeNet-5 for one
// epoch in its worker (the loss falls, the filters update), predicts a picked test image and a
// drawn stroke with their saliency maps, and is cross-origin isolated; its text tab trains a
// character-level LSTM on Tiny Shakespeare in the worker (bits per character fall) and samples from
// it; a forced ?build=scalar loads the scalar build. Saves build/playground.png and
// build/playground-text.png.
// Usage: node tests/runtimes/playground.mjs [--json <report file>]
// Prints `playground: N passed, N failed`; the JSON report holds the counts for scripts/test.mjs.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startPlayground } from "../../scripts/playground.mjs";
import { CHROMIUM } from "./browser.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const results = [];
const check = (name, ok, detail = "") => {
  results.push({ name, ok: !!ok, detail });
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
};
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

const started = Date.now();
const { server, url } = await startPlayground({ port: 0 });
const profile = mkdtempSync(join(tmpdir(), "simdnet-playground-"));
const log = [];
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    timeout: 60_000,
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => log.push(`pageerror: ${e.message}`));
  const state = () => page.evaluate(() => window.__playground);

  await page.goto(`${url}?epochs=1`);
  await page.waitForFunction(() => window.__playground?.ready || window.__playground?.error, null, { timeout: 60_000 });
  let s = await state();
  check(
    "loads a wasm build in the worker",
    s.ready && ["relaxed", "simd", "scalar", "threads", "relaxed-threads"].includes(s.build),
    `build ${s.build}${s.error ? `, error ${s.error}` : ""}`,
  );
  check(
    "the cross-origin isolated page trains on the relaxed-threads build (Chromium has relaxed SIMD) with a worker pool",
    s.build === "relaxed-threads" && /^on: [2-4] threads/.test(s.threads),
    `${s.build}: ${s.threads}`,
  );
  check("the page is cross-origin isolated", s.crossOriginIsolated === true, String(s.crossOriginIsolated));
  const status = await page.textContent("#status");
  check("the status line names the build", status.includes(`wasm build: ${s.build}`), status.trim());

  await page.click("#train");
  await page.waitForFunction(() => window.__playground.done || window.__playground.error, null, { timeout: 120_000 });
  s = await state();
  const losses = s.steps.map((x) => x.loss);
  const first = mean(losses.slice(0, 10)),
    last = mean(losses.slice(-10));
  check("training runs one epoch in the worker", s.steps.length >= 100 && !s.error, `${s.steps.length} steps${s.error ? `, error ${s.error}` : ""}`);
  check("the loss falls", last < 0.7 * first, `first 10 steps ${first.toFixed(3)}, last 10 ${last.toFixed(3)}`);
  check("the first-layer filters update during training", s.filterUpdates >= 5, `${s.filterUpdates} updates`);
  check("test accuracy after the epoch is well above chance", s.epochs.length === 1 && s.epochs[0].testAccuracy > 0.5, JSON.stringify(s.epochs));

  const pick = async () => {
    await page.evaluate(() => Object.assign(window.__playground, { prediction: null, saliencyShown: 0 }));
    await page.click("#pick");
    await page.waitForFunction(() => window.__playground.prediction?.source.startsWith("test #") && window.__playground.saliencyShown > 0, null, {
      timeout: 30_000,
    });
  };
  await pick();
  s = await state();
  const picked = await page.textContent("#picked");
  check(
    "a picked test image gets a prediction and a saliency image",
    s.prediction.probs.length === 10 && Math.abs(mean(s.prediction.probs) * 10 - 1) < 1e-4 && s.saliencyShown > 100,
    `${picked} (${s.prediction.source}): predicted ${s.prediction.predicted}, ${s.saliencyShown} lit saliency pixels`,
  );

  // draw a vertical bar (a trouser leg, roughly) and expect a new prediction
  await page.click("#clear");
  await page.evaluate(() => (window.__playground.prediction = null));
  const box = await page.locator("#draw").boundingBox();
  await page.mouse.move(box.x + 140, box.y + 40);
  await page.mouse.down();
  for (let y = 40; y <= 250; y += 15) await page.mouse.move(box.x + 140, box.y + y);
  await page.mouse.up();
  await page.waitForFunction(() => window.__playground.prediction, null, { timeout: 30_000 });
  s = await state();
  check("a drawing gets a prediction", s.prediction.source === "drawing" && s.prediction.probs.length === 10, `predicted ${s.prediction.predicted}`);

  await pick(); // leave a test image on screen for the screenshot
  mkdirSync(join(root, "build"), { recursive: true });
  const shot = join(root, "build", "playground.png");
  await page.screenshot({ path: shot, fullPage: true });
  check("screenshot saved", true, "build/playground.png");

  // the text tab: a char-LSTM trained by truncated BPTT in the worker, then sampled
  await page.click("#tab-text-button");
  await page.waitForFunction(() => window.__playground.text?.ready || window.__playground.error, null, { timeout: 60_000 });
  s = await state();
  check(
    "the text tab loads Tiny Shakespeare and builds a char-LSTM in the worker",
    s.text.ready && s.text.info.characters === 1115394 && s.text.info.vocab === 65,
    JSON.stringify(s.text.info),
  );
  await page.fill("#text-steps", "150");
  await page.click("#text-train");
  await page.waitForFunction(() => window.__playground.text.done || window.__playground.error, null, { timeout: 180_000 });
  s = await state();
  const bits = s.text.bits,
    b0 = mean(bits.slice(0, 5)),
    b1 = mean(bits.slice(-10));
  check(
    "training the char-LSTM runs 150 steps and its bits per character fall",
    bits.length === 150 && b1 < 0.7 * b0 && !s.error,
    `${bits.length} steps, first 5 ${b0.toFixed(3)}, last 10 ${b1.toFixed(3)} bits/char${s.error ? `, error ${s.error}` : ""}`,
  );
  await page.fill("#text-length", "300");
  await page.fill("#text-prime", "ROMEO:");
  await page.click("#text-sample-button");
  await page.waitForFunction(() => window.__playground.text.sample !== null, null, { timeout: 30_000 });
  s = await state();
  const sample = s.text.sample,
    shown = await page.textContent("#text-sample");
  check(
    "a sample of 300 characters follows the prime and is shown",
    sample.startsWith("ROMEO:") && [...sample].length === 306 && shown === sample && /[a-z]/.test(sample),
    JSON.stringify(sample.slice(0, 80)),
  );
  await page.screenshot({ path: join(root, "build", "playground-text.png"), fullPage: true });

  const scalar = await context.newPage();
  await scalar.goto(`${url}?build=scalar`);
  await scalar.waitForFunction(() => window.__playground?.ready || window.__playground?.error, null, { timeout: 60_000 });
  const sc = await scalar.evaluate(() => window.__playground);
  check("?build=scalar loads the scalar build", sc.build === "scalar", sc.build);
} catch (err) {
  check("playground run", false, `${err.message}\n${log.join("\n")}`);
} finally {
  await context?.close().catch(() => {});
  await new Promise((resolve) => server.close(resolve));
  rmSync(profile, { recursive: true, force: true });
}
if (results.some((r) => !r.ok) && log.length) console.log(log.join("\n"));
const passed = results.filter((r) => r.ok).length,
  failed = results.length - passed;
console.log(`\nplayground: ${passed} passed, ${failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
const i = process.argv.indexOf("--json");
if (i >= 0) writeFileSync(process.argv[i + 1], JSON.stringify({ passed, failed, results }, null, 2));
process.exit(failed === 0 ? 0 : 1);
