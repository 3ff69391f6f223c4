// `npm run playground`: serves the browser playground on http://127.0.0.1:<port>/ (default 8080).
//   /                         playground/index.html
//   /build/playground/*.js    the page script and its worker, bundled by scripts/build.mjs
//   /data/*                   the embedded Fashion-MNIST subset the worker trains on
// Sends COOP same-origin + COEP require-corp so the page is cross-origin isolated (what a threads
// build needs for shared wasm memory); --no-isolation serves without them. Builds first if the
// playground bundle is missing. Usage: node scripts/playground.mjs [--port N] [--no-isolation]
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".gz": "application/gzip" };

/** The fixed set of files served: no path from a request ever reaches the file system. */
function routes() {
  const r = new Map([["/", "playground/index.html"]]);
  for (const f of readdirSync(join(root, "build/playground"))) if (f.endsWith(".js")) r.set(`/build/playground/${f}`, `build/playground/${f}`);
  for (const f of readdirSync(join(root, "data"))) if (f.endsWith(".gz")) r.set(`/data/${f}`, `data/${f}`);
  return r;
}

/** Starts the server; resolves to { server, url }. port 0 picks a free port. */
export async function startPlayground({ port = 8080, isolate = true } = {}) {
  if (!existsSync(join(root, "build/playground/worker.js"))) {
    const r = spawnSync(process.execPath, [join(root, "scripts/build.mjs")], { stdio: "inherit" });
    if (r.status !== 0) throw new Error("scripts/build.mjs failed");
  }
  const table = routes();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const file = table.get(path === "/index.html" ? "/" : path);
    if (!file) {
      res.writeHead(path === "/favicon.ico" ? 204 : 404).end();
      return;
    }
    const headers = { "content-type": TYPES[file.slice(file.lastIndexOf("."))] ?? "application/octet-stream", "cache-control": "no-store" };
    if (isolate) Object.assign(headers, { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" });
    res.writeHead(200, headers);
    res.end(readFileSync(join(root, file)));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const i = args.indexOf("--port");
  const port = i >= 0 ? Number(args[i + 1]) : 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be an integer in [0, 65535], got ${args[i + 1]}`);
  const { url } = await startPlayground({ port, isolate: !args.includes("--no-isolation") });
  console.log(`simdnet playground: ${url} (Ctrl-C to stop)`);
}
