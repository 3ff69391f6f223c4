// Runs scripts/smoke.mjs against the SAME bundle (dist/simdnet.js) in every runtime: Node, Node
// with wasm SIMD off, Deno, Bun, and headless Chromium (page and worker). One test per
// runtime x build, plus one per runtime that "auto" picked the best build the runtime offers.
// A build the runtime cannot run must be refused with a SimdnetError (that is its test).
// Then the threads smoke (tests/runtimes/threads-smoke.mjs): init({ threads: 2 }) in Node and in
// a cross-origin-isolated Chromium worker runs 2 threads of the threads build auto must pick there
// (relaxed-threads where relaxed SIMD runs, else threads), bitwise equal to 1 thread; on that
// page's main thread (no Atomics.wait) it falls back to 1 thread and says why.
// Then the package as users install it (tests/runtimes/package.mjs): npm pack, the tarball installed
// in a fresh project, a consumer type-checked (strict; nodenext and bundler) and run in Node, Deno,
// Bun and a Chromium page bundled by esbuild.
// Usage: node tests/runtimes/run.mjs [--json <report file>] [--only <runtime name>]
// Prints `runtimes: N passed, N failed`; the JSON report holds the counts for scripts/test.mjs.
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runBrowserSmoke, runBrowserThreads } from "./browser.mjs";
import { runPackageTests } from "./package.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
process.chdir(root);
const BUILDS = ["scalar", "simd", "relaxed"];
const ALL = BUILDS;
const bin = (name) => join(root, "node_modules", ".bin", name);

/**
 * Each runtime: how to run the smoke, and which builds it must run (the rest must be refused).
 * Node 20 runs relaxed SIMD only behind a flag; --no-enable-sse4-1 makes V8 refuse wasm SIMD,
 * as on a CPU without it, so auto must fall back to scalar.
 */
const RUNTIMES = [
  { name: "node", cmd: process.execPath, args: ["--experimental-wasm-relaxed-simd", "scripts/smoke.mjs"], builds: ALL },
  { name: "node-no-simd", cmd: process.execPath, args: ["--no-enable-sse4-1", "scripts/smoke.mjs"], builds: ["scalar"] },
  { name: "deno", cmd: bin("deno"), args: ["run", "--no-prompt", "--no-config", "scripts/smoke.mjs"], builds: ALL },
  { name: "bun", cmd: bin("bun"), args: ["scripts/smoke.mjs"], builds: ALL },
  { name: "chromium-page", browser: "page", builds: ALL },
  { name: "chromium-worker", browser: "worker", builds: ALL },
];

const args = process.argv.slice(2);
const opt = (flag) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
const only = opt("--only");
const jsonPath = opt("--json");

const results = []; // { name, ok, detail }
const record = (name, ok, detail = "") => {
  results.push({ name, ok, detail });
  console.log(`${ok ? "  ok  " : "  FAIL"} ${name}${detail ? ` (${detail})` : ""}`);
};

/** Turns one runtime's smoke result (or its failure to produce one) into its tests. */
function check(rt, result, failure) {
  if (!result) {
    for (const b of BUILDS) record(`${rt.name} ${b}`, false, failure);
    record(`${rt.name} auto`, false, failure);
    return;
  }
  for (const b of BUILDS) {
    const r = result.builds?.[b];
    const expected = rt.builds.includes(b);
    if (!r) record(`${rt.name} ${b}`, false, "no result");
    else if (expected && !r.supported) record(`${rt.name} ${b}`, false, `should run here but was refused: ${r.refused}`);
    else if (expected) {
      const worst = Object.values(r.cases ?? {}).flatMap((c) => Object.values(c.worst));
      const detail = r.ok ? `max rel. error ${Math.max(0, ...worst).toExponential(1)}` : (r.error ?? JSON.stringify(r.cases));
      record(`${rt.name} ${b}`, r.ok, detail);
    } else if (r.supported) record(`${rt.name} ${b}`, false, "ran although it should be unsupported here");
    else record(`${rt.name} ${b} refused`, r.ok, r.ok ? "SimdnetError, as expected" : r.error);
  }
  const best = rt.builds[rt.builds.length - 1];
  record(`${rt.name} auto`, result.auto === best, `auto picks '${result.auto}', best here is '${best}'`);
}

const started = Date.now();
if (!existsSync("dist/simdnet.js")) {
  console.log("dist/simdnet.js is missing: run `node scripts/build.mjs` first");
  record("bundle present", false);
}
let browser; // one Chromium run serves both browser contexts
for (const rt of RUNTIMES) {
  if (only && !rt.name.startsWith(only)) continue;
  const t0 = Date.now();
  console.log(`\n--- ${rt.name}`);
  if (rt.browser) {
    browser ??= runBrowserSmoke().catch((err) => ({ error: err.message }));
    const r = await browser;
    const result = r[rt.browser];
    check(rt, result?.builds ? result : undefined, r.error ?? result?.error ?? "no result");
    if (r.log?.length) console.log(r.log.map((l) => `    ${l}`).join("\n"));
  } else if (!existsSync(rt.cmd)) {
    check(rt, undefined, `${rt.cmd} not found`);
  } else {
    const p = spawnSync(rt.cmd, rt.args, { encoding: "utf8", timeout: 120_000, env: { ...process.env, NO_COLOR: "1" } });
    const line = (p.stdout ?? "").split("\n").find((l) => l.startsWith("SMOKE_RESULT "));
    for (const l of (p.stdout ?? "").split("\n")) if (l && !l.startsWith("SMOKE_RESULT ")) console.log(`    ${l}`);
    if (p.status !== 0 || !line) {
      const why = p.error?.message ?? `exit ${p.status}${p.signal ? ` (${p.signal})` : ""}: ${(p.stderr ?? "").trim().slice(-800)}`;
      check(rt, undefined, why);
    } else check(rt, JSON.parse(line.slice("SMOKE_RESULT ".length)));
  }
  console.log(`    (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

/** One threads smoke result as a test: `threads` threads of build `build`, bitwise equal to one thread's. */
function checkThreads(name, r, threads, build, reasonPattern) {
  if (!r || r.error) return record(name, false, r?.error ?? "no result");
  const why = `${r.threads} thread(s), build ${r.build}, ${r.mismatches} mismatches${r.reason ? `, "${r.reason}"` : ""}`;
  const reasonOk = reasonPattern ? reasonPattern.test(r.reason) : r.reason === "";
  record(name, r.ok && r.threads === threads && r.build === build && reasonOk, why);
}

if (!only || "node-threads".startsWith(only) || only.startsWith("node-threads")) {
  console.log("\n--- node-threads");
  // [test name, node flags, threads expected, build expected, reason expected]: Node 20 without
  // --experimental-wasm-relaxed-simd has no relaxed SIMD (the plain threads build), with it
  // relaxed-threads; --no-enable-sse4-1 takes wasm SIMD away, --no-harmony-sharedarraybuffer takes
  // SharedArrayBuffer away: both fall back to one thread of the best single-thread build.
  // Deno and Bun have the Web Worker API, so they take the pool's blob-URL module worker path.
  for (const [name, cmd, flags, threads, build, reason] of [
    ["node threads 2", process.execPath, [], 2, "threads", undefined],
    ["node relaxed threads 2", process.execPath, ["--experimental-wasm-relaxed-simd"], 2, "relaxed-threads", undefined],
    ["node-no-simd threads fall back to 1", process.execPath, ["--no-enable-sse4-1"], 1, "scalar", /SIMD/],
    ["node-no-sab threads fall back to 1", process.execPath, ["--no-harmony-sharedarraybuffer"], 1, "simd", /SharedArrayBuffer/],
    ["deno threads 2", bin("deno"), ["run", "--no-prompt", "--no-config"], 2, "relaxed-threads", undefined],
    ["bun threads 2", bin("bun"), [], 2, "relaxed-threads", undefined],
  ]) {
    const p = spawnSync(cmd, [...flags, "tests/runtimes/threads-smoke.mjs", "2"], { encoding: "utf8", timeout: 60_000 });
    const line = (p.stdout ?? "").split("\n").find((l) => l.startsWith("THREADS_RESULT "));
    checkThreads(
      name,
      line ? JSON.parse(line.slice("THREADS_RESULT ".length)) : { error: `exit ${p.status}: ${(p.stderr ?? "").slice(-800)}` },
      threads,
      build,
      reason,
    );
  }
}
if (!only || "chromium-threads".startsWith(only) || only.startsWith("chromium-threads")) {
  console.log("\n--- chromium-threads (cross-origin isolated)");
  const r = await runBrowserThreads().catch((err) => ({ page: { error: err.message }, worker: { error: err.message } }));
  checkThreads("chromium-worker threads 2", r.worker, 2, "relaxed-threads");
  checkThreads("chromium-page threads fall back to 1", r.page, 1, "relaxed", /Atomics\.wait/);
}

if (!only || only.startsWith("package")) {
  console.log("\n--- package (npm pack, installed in a fresh project)");
  const t0 = Date.now();
  await runPackageTests(record).catch((err) => record("package", false, err.message));
  console.log(`    (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`\nruntimes: ${passed} passed, ${failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
if (jsonPath) writeFileSync(jsonPath, JSON.stringify({ passed, failed, results }, null, 2));
process.exit(failed === 0 && results.length > 0 ? 0 : 1);
