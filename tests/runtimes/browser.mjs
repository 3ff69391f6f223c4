// Headless Chromium leg of the runtime smoke: Debian's /usr/bin/chromium driven by playwright-core,
// a page served from a throw-away http server on 127.0.0.1 that serves only page.html,
// dist/simdnet.js and scripts/smoke.mjs. The smoke runs on the page and in a module worker.
// Exports runBrowserSmoke(); run directly it prints `SMOKE_RESULT <json>` for each context.
// runBrowserThreads() serves threads.html cross-origin isolated (COOP + COEP) and returns the
// threads smoke (tests/runtimes/threads-smoke.mjs) of its page and of its module worker.
import { createServer } from "node:http";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CHROMIUM = "/usr/bin/chromium";
// From TOOLCHAIN.md: headless, no sandbox (root in CI), no GPU, nothing that reaches the network.
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
const ROUTES = {
  "/": ["tests/runtimes/page.html", "text/html; charset=utf-8"],
  "/dist/simdnet.js": ["dist/simdnet.js", "text/javascript; charset=utf-8"],
  "/scripts/smoke.mjs": ["scripts/smoke.mjs", "text/javascript; charset=utf-8"],
  "/threads": ["tests/runtimes/threads.html", "text/html; charset=utf-8"],
  "/tests/runtimes/threads-smoke.mjs": ["tests/runtimes/threads-smoke.mjs", "text/javascript; charset=utf-8"],
};
/** Cross-origin isolation: what a page needs for SharedArrayBuffer (and so for threads). */
const ISOLATION = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };

function serve(extraHeaders = {}, routes = ROUTES) {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    const route = routes[path];
    if (!route) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": route[1], "cache-control": "no-store", ...extraHeaders });
    res.end(readFileSync(resolve(root, route[0])));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

/** Returns { page, worker } smoke results (see scripts/smoke.mjs), or throws if Chromium cannot run. */
export function runBrowserSmoke(options) {
  return inChromium({}, "/", ["__smokePage", "__smokeWorker"], options);
}

/** Returns { page, worker } threads smoke results from a cross-origin-isolated page and its worker. */
export function runBrowserThreads(options) {
  return inChromium(ISOLATION, "/threads", ["__threadsPage", "__threadsWorker"], options);
}

/**
 * Loads the module script `file` (an absolute path, e.g. an esbuild bundle) in a page and returns
 * { result: window[key], log } once the script has set window[key].
 */
export async function runPageScript(file, key, options) {
  const html = '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>';
  const htmlFile = join(dirname(file), "page.html");
  writeFileSync(htmlFile, html);
  const routes = { "/": [htmlFile, "text/html; charset=utf-8"], "/page.js": [file, "text/javascript; charset=utf-8"] };
  const r = await inChromium({}, "/", [key, key], options, routes);
  return { result: r.page, log: r.log };
}

/** Opens `path` served with `headers` and waits for the page to set window[keys[0]] and window[keys[1]]. */
async function inChromium(headers, path, keys, { timeoutMs = 60_000 } = {}, routes = ROUTES) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-chromium.sh`);
  const server = await serve(headers, routes);
  const profile = mkdtempSync(join(tmpdir(), "simdnet-chromium-"));
  let context;
  const log = [];
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      timeout: timeoutMs,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (msg) => log.push(`console.${msg.type()}: ${msg.text()}`));
    page.on("pageerror", (err) => log.push(`pageerror: ${err.message}`));
    const { port } = server.address();
    await page.goto(`http://127.0.0.1:${port}${path}`, { timeout: timeoutMs });
    await page.waitForFunction(([a, b]) => window[a] && window[b], keys, { timeout: timeoutMs });
    const [pageResult, workerResult] = await page.evaluate(([a, b]) => [window[a], window[b]], keys);
    return { page: pageResult, worker: workerResult, log };
  } catch (err) {
    err.message += log.length ? `\n${log.join("\n")}` : "";
    throw err;
  } finally {
    await context?.close().catch(() => {});
    await new Promise((resolve) => server.close(resolve));
    rmSync(profile, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await runBrowserSmoke();
  for (const line of r.log) console.log(line);
  console.log(`SMOKE_RESULT ${JSON.stringify(r.page)}`);
  console.log(`SMOKE_RESULT ${JSON.stringify(r.worker)}`);
  const t = await runBrowserThreads();
  console.log(`THREADS_RESULT ${JSON.stringify(t.page)}`);
  console.log(`THREADS_RESULT ${JSON.stringify(t.worker)}`);
}
