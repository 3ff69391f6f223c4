// Headless Chromium leg of the runtime smoke: Debian's /usr/bin/chromium driven by playwright-core,
// a page served from a throw-away http server on 127.0.0.1 that serves only page.html,
// dist/simdnet.js and scripts/smoke.mjs. The smoke runs on the page and in a module worker.
// Exports runBrowserSmoke(); run directly it prints `SMOKE_RESULT <json>` for each context.
import { createServer } from "node:http";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
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
};

function serve() {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    const route = ROUTES[path];
    if (!route) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": route[1], "cache-control": "no-store" });
    res.end(readFileSync(join(root, route[0])));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

/** Returns { page, worker } smoke results (see scripts/smoke.mjs), or throws if Chromium cannot run. */
export async function runBrowserSmoke({ timeoutMs = 60_000 } = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-chromium.sh`);
  const server = await serve();
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
    await page.goto(`http://127.0.0.1:${port}/`, { timeout: timeoutMs });
    await page.waitForFunction(() => window.__smokePage && window.__smokeWorker, null, { timeout: timeoutMs });
    const [pageResult, workerResult] = await page.evaluate(() => [window.__smokePage, window.__smokeWorker]);
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
}
