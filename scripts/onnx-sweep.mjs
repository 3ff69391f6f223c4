// Sweeps a directory of ONNX backend-test cases (the layout of onnx/backend/test/data/node: one
// folder per case with model.onnx and test_data_set_N/{input,output}_K.pb) through InferenceSession
// and classifies every case:
//   unsupported  the graph (subgraphs and local functions included) uses an op the registry lacks
//   pass         every output matches (|a - e| <= 1e-7 + 1e-3 |e|, as scripts/onnx-test.mjs)
//   mismatch     it ran, an output differs (shape or values)
//   error        a SimdnetError (a refusal naming the problem)
//   crash        anything else (TypeError, RangeError, a wasm trap...), or the worker dying
//   timeout      no answer within --timeout seconds (the worker is restarted)
// Prints the counts, the errors grouped by message, and a histogram of unsupported ops; --json
// writes every case's result. The library is bundled from src/ with esbuild (no dist/ needed, but
// the wasm must be built: `node scripts/build.mjs --wasm-only`). Usage:
//   node scripts/onnx-sweep.mjs [--build simd|scalar|relaxed] [--only REGEX] [--json out.json]
//                               [--timeout 60] [--list pass|mismatch|error|crash|timeout|all] <dir>...
import * as esbuild from "esbuild";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const libPath = join(root, "build", "onnx-sweep-lib.mjs");

if (isMainThread) await main();
else await worker();

async function main() {
  const args = process.argv.slice(2);
  const flag = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    if (i < 0) return fallback;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const build = flag("build", "simd");
  const only = new RegExp(flag("only", ""));
  const jsonOut = flag("json", undefined);
  const timeoutMs = Number(flag("timeout", "60")) * 1000;
  const list = flag("list", "");
  if (args.length === 0) {
    console.error("usage: node scripts/onnx-sweep.mjs [--build simd|scalar|relaxed] [--only REGEX] [--json out.json] <dir>...");
    process.exit(2);
  }
  if (!existsSync(join(root, "build", "wasm-inline.js"))) {
    console.error("build/wasm-inline.js is missing: run `node scripts/build.mjs --wasm-only` first");
    process.exit(2);
  }
  mkdirSync(dirname(libPath), { recursive: true });
  await esbuild.build({
    stdin: {
      contents: [
        'export { init } from "./src/engine.ts";',
        'export { SimdnetError } from "./src/errors.ts";',
        'export { InferenceSession, onnxTensorType } from "./src/graph/session.ts";',
        'export { registeredOps } from "./src/graph/registry.ts";',
        'export { caseFiles, caseInputs, compareOutputs } from "./src/onnx/conformance.ts";',
        'export { DataType, decodeModel } from "./src/onnx/onnx-proto.ts";',
      ].join("\n"),
      resolveDir: root,
      loader: "ts",
    },
    bundle: true,
    format: "esm",
    platform: "node",
    target: "es2022",
    outfile: libPath,
    logLevel: "warning",
  });

  const cases = [];
  for (const dir of args)
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (only.test(name) && existsSync(join(path, "model.onnx"))) cases.push(path);
    }

  const results = [];
  let next = 0;
  // one worker at a time (the machine's cores are shared); a dead or stuck worker is replaced
  while (next < cases.length) {
    await new Promise((resolve) => {
      const w = new Worker(fileURLToPath(import.meta.url), { workerData: { build, cases: cases.slice(next) } });
      let timer;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          results.push({ name: caseName(cases[next]), status: "timeout", detail: `no answer in ${timeoutMs / 1000} s` });
          next++;
          w.terminate();
        }, timeoutMs);
      };
      arm();
      w.on("message", (r) => {
        results.push(r);
        next++;
        arm();
      });
      w.on("error", (err) => {
        if (next < cases.length) results.push({ name: caseName(cases[next]), status: "crash", detail: `worker died: ${err?.message ?? err}` });
        next++;
      });
      w.on("exit", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  const count = (s) => results.filter((r) => r.status === s).length;
  const statuses = ["pass", "mismatch", "error", "crash", "timeout", "unsupported"];
  console.log(`${build} build, ${results.length} cases: ${statuses.map((s) => `${s} ${count(s)}`).join(", ")}`);
  for (const s of ["mismatch", "error", "crash", "timeout"]) {
    const rs = results.filter((r) => r.status === s);
    if (rs.length === 0) continue;
    console.log(`\n== ${s} (${rs.length})`);
    for (const r of rs) console.log(`  ${r.name}: ${r.detail}`);
  }
  if (list === "pass" || list === "all") {
    console.log(`\n== pass`);
    for (const r of results.filter((r) => r.status === "pass")) console.log(`  ${r.name}`);
  }
  const hist = new Map();
  for (const r of results.filter((r) => r.status === "unsupported")) for (const op of r.ops) hist.set(op, (hist.get(op) ?? 0) + 1);
  console.log(`\n== unsupported ops (cases using each; ${hist.size} ops)`);
  for (const [op, n] of [...hist].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) console.log(`  ${String(n).padStart(4)} ${op}`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(results, null, 1));
}

function caseName(path) {
  return path.split("/").pop();
}

async function worker() {
  const lib = await import(pathToFileURL(libPath).href);
  const { readFileSync } = await import("node:fs");
  const registered = new Set(lib.registeredOps());
  let engine = await lib.init({ build: workerData.build });

  /** Op types a graph uses that the registry lacks (subgraphs and local functions followed). */
  const missingOps = (model) => {
    const functions = new Map((model.functions ?? []).map((f) => [`${f.domain}:${f.name}`, f]));
    const missing = new Set();
    const visit = (nodes, seen) => {
      for (const n of nodes) {
        const fn = functions.get(`${n.domain}:${n.opType}`);
        if (fn && !seen.has(fn)) visit(fn.node, new Set([...seen, fn]));
        else if (n.domain !== "" && n.domain !== "ai.onnx") missing.add(`${n.domain}:${n.opType}`);
        else if (!registered.has(n.opType)) missing.add(n.opType);
        for (const a of n.attribute) for (const g of [a.g, ...(a.graphs ?? [])]) if (g) visit(g.node, seen);
      }
    };
    visit(model.graph.node, new Set());
    return [...missing].sort();
  };

  for (const path of workerData.cases) {
    const name = caseName(path);
    let session;
    let result;
    try {
      const bytes = new Uint8Array(readFileSync(join(path, "model.onnx")));
      const ops = missingOps(lib.decodeModel(bytes));
      if (ops.length) {
        result = { name, status: "unsupported", ops };
      } else {
        session = lib.InferenceSession.fromBytes(engine, bytes);
        const files = lib.caseFiles(path);
        let mismatch;
        for (const set of files.sets) {
          const declared = session.inputMetadata;
          const given = lib.caseInputs(set, declared);
          if (given.length !== declared.length) throw new lib.SimdnetError(`${given.length} input files for ${declared.length} graph inputs`);
          const feeds = {};
          declared.forEach((d, k) => {
            const t = given[k];
            feeds[d.name] = { dims: t.dims, data: t.data, type: t.dataType === lib.DataType.FLOAT16 ? "float32" : lib.onnxTensorType(t.dataType) };
          });
          const out = session.runSync(feeds);
          mismatch ??= lib.compareOutputs(
            session.outputNames.map((n) => out[n]),
            set.outputs,
          ).mismatch;
        }
        result = mismatch ? { name, status: "mismatch", detail: mismatch } : { name, status: "pass" };
      }
    } catch (err) {
      const simdnet = err instanceof lib.SimdnetError;
      const detail = simdnet
        ? err.message
        : `${err?.name ?? "throw"}: ${err?.message ?? err} ${
            String(err?.stack ?? "")
              .split("\n")[1]
              ?.trim() ?? ""
          }`;
      result = { name, status: simdnet ? "error" : "crash", detail: detail.slice(0, 400) };
      if (!simdnet) {
        // a crash may leave the engine inconsistent: start the next case on a fresh one
        try {
          engine.dispose();
        } catch {}
        engine = await lib.init({ build: workerData.build });
      }
    } finally {
      try {
        await session?.release();
      } catch {}
    }
    parentPort.postMessage(result);
  }
}
