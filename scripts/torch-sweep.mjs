// The PyTorch-export sweep: loads every .onnx that scripts/torch_sweep_export.py wrote (its
// manifest.json) in simdnet (nn.InferenceSession, the default build of dist/simdnet.js) and in
// onnxruntime-node (one thread), feeds both the same seeded inputs and compares every output by the
// corpus rule (scripts/compare-outputs.mjs, as the corpus tests: |simdnet - ort| <= 1e-3 * max |ort|).
//   /usr/bin/python3 scripts/torch_sweep_export.py /work/scratch-tv     # the files (minutes)
//   node scripts/build.mjs && node scripts/torch-sweep.mjs /work/scratch-tv [name[.opN] ...]
// Each file runs in its own child process (a crash or a timeout is a result, not the end of the
// sweep). Writes DIR/results.json and prints a Markdown table: model, opset, status (pass / mismatch
// / SimdnetError / crash / export), worst error, simdnet and onnxruntime times (ms: load, run).
// Feeds: float inputs uniform in [-1, 1] from mulberry32(k + 1) for input k (as the corpus); int64
// inputs (token ids) uniform in [0, high). Files with dynamic axes also run at batch 2 (and
// sequence 9, height + 32, width - 16 where those are), and must pass at both shapes.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compareOutputs } from "./compare-outputs.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const TIMEOUT_MS = 10 * 60 * 1000;

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded feeds for the manifest's inputs at `dims` (one list per input). */
export function sweepFeeds(inputs, dimsList) {
  const feeds = {};
  inputs.forEach((inp, k) => {
    const dims = dimsList[k];
    const r = mulberry32(k + 1);
    const n = dims.reduce((a, b) => a * b, 1);
    if (inp.type === "int64") feeds[inp.name] = { dims, type: "int64", data: BigInt64Array.from({ length: n }, () => BigInt(Math.floor(r() * inp.high))) };
    else feeds[inp.name] = { dims, type: "float32", data: Float32Array.from({ length: n }, () => 2 * r() - 1) };
  });
  return feeds;
}

/** The shapes a file runs at: declared (batch 1), then with its dynamic axes changed when it has any. */
export function shapesOf(entry) {
  const base = entry.inputs.map((i) => i.dims);
  if (!entry.dynamic) return [base];
  const grown = entry.inputs.map((inp) => {
    const axes = entry.dynamic[inp.name] ?? {};
    return inp.dims.map((d, a) => (axes[a] === "batch" ? 2 : axes[a] === "seq" ? 9 : axes[a] === "height" ? d + 32 : axes[a] === "width" ? d - 16 : d));
  });
  return [base, grown];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Runs f twice to warm up (the first run plans), then times it until 5 calls or 2 s: the median ms
 * and the last output.
 */
async function timed(f) {
  let out = await f();
  out = await f();
  const times = [];
  const start = performance.now();
  while (times.length < 5 && (times.length < 1 || performance.now() - start < 2000)) {
    const t = performance.now();
    out = await f();
    times.push(performance.now() - t);
  }
  return { out, ms: median(times) };
}

/** One file, in this process: the result record (never throws). */
async function runOne(dir, entry) {
  const nn = await import(join(root, "dist", "simdnet.js"));
  const ort = await import("onnxruntime-node");
  const bytes = new Uint8Array(readFileSync(join(dir, entry.file)));
  const result = { model: entry.model, opset: entry.opset, ms: {} };
  let session;
  let ortSession;
  try {
    let t = performance.now();
    ortSession = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
    result.ms.ortLoad = performance.now() - t;
    t = performance.now();
    session = await nn.InferenceSession.create(bytes);
    result.ms.load = performance.now() - t;
    for (const dims of shapesOf(entry)) {
      const feeds = sweepFeeds(entry.inputs, dims);
      const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor(v.type, v.data, v.dims)]));
      const ortRun = await timed(() => ortSession.run(ortFeeds));
      const want = Object.fromEntries(Object.entries(ortRun.out).map(([k, v]) => [k, { dims: [...v.dims], data: v.data }]));
      const run = await timed(() => session.run(feeds));
      const got = run.out;
      result.ms.run ??= run.ms;
      result.ms.ortRun ??= ortRun.ms;
      const { worst, failure } = compareOutputs(got, want);
      result.worst = Math.max(result.worst ?? 0, worst.relErr);
      if (failure) {
        result.status = "mismatch";
        result.error = `[${dims.map((d) => d.join("x")).join(", ")}] ${failure}`;
        return result;
      }
    }
    result.status = "pass";
  } catch (err) {
    result.status = err?.name === "SimdnetError" || err?.name === "OutOfMemoryError" ? err.name : `crash (${err?.name ?? typeof err})`;
    if (result.ms.ortLoad === undefined) result.status = "ort-error";
    result.error = String(err?.message ?? err)
      .split("\n")[0]
      .slice(0, 400);
  } finally {
    try {
      await session?.release();
      await ortSession?.release();
    } catch {}
  }
  return result;
}

function runChild(dir, entry) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--one", dir, entry.file], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split("\n").at(-1);
      try {
        resolve(JSON.parse(line));
      } catch {
        const why = signal ? `killed by ${signal}${signal === "SIGKILL" ? " (timeout)" : ""}` : `exit code ${code}`;
        resolve({
          model: entry.model,
          opset: entry.opset,
          status: "crash (process)",
          error: `${why}: ${err.trim().split("\n").slice(-3).join(" | ").slice(0, 400)}`,
          ms: {},
        });
      }
    });
  });
}

const fmt = (v) => (v === undefined ? "" : v < 10 ? v.toFixed(1) : String(Math.round(v)));

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === "--one") {
    const [dir, file] = args.slice(1);
    const entry = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")).find((e) => e.file === file);
    process.stdout.write(`\n${JSON.stringify(await runOne(dir, entry))}\n`);
    return;
  }
  const [dir, ...only] = args;
  if (!dir) {
    console.error("usage: node scripts/torch-sweep.mjs DIR [model | model.opN ...]");
    process.exit(2);
  }
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  const picked = manifest.filter((e) => only.length === 0 || only.includes(e.model) || only.includes(`${e.model}.op${e.opset}`));
  const resultsFile = join(dir, "results.json");
  let previous = [];
  try {
    previous = JSON.parse(readFileSync(resultsFile, "utf8"));
  } catch {}
  const results = [];
  for (const entry of picked) {
    const r = entry.exportError ? { model: entry.model, opset: entry.opset, status: "export", error: entry.exportError, ms: {} } : await runChild(dir, entry);
    results.push(r);
    console.error(`${r.model} op${r.opset}: ${r.status}${r.error ? ` ${r.error.slice(0, 160)}` : ""}`);
    const merged = previous.filter((p) => !results.some((q) => q.model === p.model && q.opset === p.opset)).concat(results);
    merged.sort((a, b) => a.model.localeCompare(b.model) || a.opset - b.opset);
    writeFileSync(resultsFile, `${JSON.stringify(merged, null, 1)}\n`);
  }
  console.log("| model | opset | status | worst | simdnet load / run ms | ort load / run ms | error |");
  console.log("|---|---|---|---|---|---|---|");
  for (const r of results)
    console.log(
      `| ${r.model} | ${r.opset} | ${r.status} | ${r.worst === undefined ? "" : r.worst.toExponential(1)} | ${fmt(r.ms.load)} / ${fmt(r.ms.run)} | ${fmt(r.ms.ortLoad)} / ${fmt(r.ms.ortRun)} | ${(r.error ?? "").replace(/\|/g, "\\|").slice(0, 200)} |`,
    );
  const count = (s) => results.filter((r) => r.status === s).length;
  console.log(`\n${count("pass")} pass, ${count("mismatch")} mismatch, ${results.length - count("pass") - count("mismatch")} other, of ${results.length}`);
}

// run as a script (tests import sweepFeeds and shapesOf)
if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
