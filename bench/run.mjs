// `npm run bench`: simdnet side by side with its peers (TF.js wasm / cpu, onnxruntime-web, ConvNetJS),
// one core each, the libraries interleaved per case, plus the machine's measured wasm SIMD peak.
// Prints a table and writes build/bench.json.
//   node bench/run.mjs [--quick] [--case <substring>]... [--scalar] [--out <file.json>]
// simdnet is the bundled package ../dist/simdnet.js (`node scripts/build.mjs` makes it; `npm run bench`
// builds first). On Node 20 the bench re-runs itself with --experimental-wasm-relaxed-simd so the
// relaxed build (and the relaxed_madd peak) are measured too.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";

const FLAG = "--experimental-wasm-relaxed-simd";
const self = fileURLToPath(import.meta.url);
if (!process.execArgv.includes(FLAG) && !process.env.SIMDNET_BENCH_CHILD) {
  // Re-spawn with the flag when this Node knows it (Node 20); otherwise go on (newer Node has it on).
  // --expose-gc: collectGarbage() below.
  const known = spawnSync(process.execPath, [FLAG, "-e", "0"]).status === 0;
  if (known) {
    const r = spawnSync(process.execPath, [FLAG, "--expose-gc", ...process.execArgv, self, ...process.argv.slice(2)], {
      stdio: "inherit",
      env: { ...process.env, SIMDNET_BENCH_CHILD: "1" },
    });
    process.exit(r.status ?? 1);
  }
}

const { FULL, QUICK, timeInterleaved, oneLine } = await import("./timing.mjs");
const { allCases } = await import("./cases.mjs");
const { measurePeaks } = await import("./peak.mjs");

const root = join(dirname(self), "..");
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const values = (name) => argv.flatMap((a, i) => (a === `--${name}` && i + 1 < argv.length ? [argv[i + 1]] : []));
const quick = flag("quick");
const method = quick ? QUICK : FULL;
const filters = values("case").map((s) => s.toLowerCase());
const outFile = values("out")[0] ?? join(root, "build", "bench.json");
const log = (...a) => console.error(...a);
const started = performance.now();

const cases = allCases().filter((c) => filters.length === 0 || filters.some((f) => c.name.toLowerCase().includes(f)));
if (cases.length === 0 && !filters.some((f) => "threads".includes(f))) {
  console.error(`bench: no case matches ${filters.map((f) => JSON.stringify(f)).join(", ")}`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// libraries

const distPath = join(root, "dist", "simdnet.js");
if (!existsSync(distPath)) {
  console.error("bench: dist/simdnet.js is missing: run `node scripts/build.mjs` first (npm run bench does).");
  process.exit(1);
}
const nn = await import(pathToFileURL(distPath).href);

/** The columns, in table order. `error` set when the library could not be loaded / initialised. */
const columns = [];
for (const build of flag("scalar") ? ["scalar", "simd", "relaxed"] : ["simd", "relaxed"]) {
  const col = { id: `simdnet-${build}`, kind: "simdnet", build };
  try {
    col.lib = { nn, e: await nn.init({ build }) };
  } catch (err) {
    col.error = `init({build: "${build}"}) failed: ${oneLine(err)}`;
  }
  columns.push(col);
}

async function loadTf() {
  const tf = await import("@tensorflow/tfjs-core");
  await import("@tensorflow/tfjs-backend-cpu");
  await import("@tensorflow/tfjs-backend-wasm");
  await import("@tensorflow/tfjs"); // registers the gradient functions tf.grad needs (LeNet step)
  tf.enableProdMode(); // no debug checks (and no "install tfjs-node" banner)
  return tf;
}
let tf, tfError;
try {
  tf = await loadTf();
} catch (err) {
  tfError = `TF.js failed to load: ${oneLine(err)}`;
}
for (const backend of ["wasm", "cpu"]) {
  const col = { id: `tfjs-${backend}`, kind: "tfjs", error: tfError };
  if (tf) {
    try {
      if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend("${backend}") returned false`);
      await tf.ready();
      col.lib = { tf, backend };
      col.enter = () => tf.setBackend(backend);
    } catch (err) {
      col.error = `TF.js ${backend} backend failed: ${oneLine(err)}`;
    }
  }
  columns.push(col);
}

{
  const col = { id: "ort-wasm", kind: "ort" };
  try {
    const ort = await import("onnxruntime-web");
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = "error";
    col.lib = { ort };
  } catch (err) {
    col.error = `onnxruntime-web failed to load: ${oneLine(err)}`;
  }
  columns.push(col);
}
// Native anchors, only where a selected case runs them (the LSTM cases, bench/rnn.mjs).
const wantedPeers = new Set(cases.flatMap((c) => c.peers));
if (wantedPeers.has("ort-node")) {
  const col = { id: "ort-node", kind: "ortnode" };
  try {
    col.lib = { ortNode: (await import("onnxruntime-node")).default };
  } catch (err) {
    col.error = `onnxruntime-node failed to load: ${oneLine(err)}`;
  }
  columns.push(col);
}
if (wantedPeers.has("pytorch-cpu")) {
  // Debian's python3-torch under Debian's python (a python3 earlier on PATH may lack it). Its BLAS is
  // whatever provides libblas.so.3: Debian's reference BLAS unless OpenBLAS is installed, so the bench
  // installs libopenblas0-pthread beside it (run with one thread: OPENBLAS_NUM_THREADS=1).
  const col = { id: "pytorch-cpu", kind: "pytorch" },
    python = "/usr/bin/python3";
  const packages = ["python3-torch", "libopenblas0-pthread"];
  const hasTorch = () => spawnSync(python, ["-c", "import torch, numpy"]).status === 0;
  const hasOpenBlas = () => spawnSync("dpkg", ["-s", "libopenblas0-pthread"], { stdio: "ignore" }).status === 0;
  if ((!hasTorch() || !hasOpenBlas()) && process.getuid?.() === 0) {
    log(`installing Debian's ${packages.join(" and ")} for the PyTorch column (apt-get, as root) ...`);
    const apt = (...args) => spawnSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    if (apt("install", "-y", "-q", "--no-install-recommends", ...packages).status !== 0)
      apt("update", "-q"), apt("install", "-y", "-q", "--no-install-recommends", ...packages);
  }
  if (hasTorch()) col.lib = { python };
  else
    col.error =
      process.getuid?.() === 0
        ? "python3-torch could not be installed with apt-get"
        : "python3-torch is not installed (the bench installs it with apt-get when run as root)";
  columns.push(col);
}
{
  const col = { id: "convnetjs", kind: "convnetjs" };
  try {
    col.lib = { cnj: (await import("convnetjs")).default };
  } catch (err) {
    col.error = `convnetjs failed to load: ${oneLine(err)}`;
  }
  columns.push(col);
}
const simdnetCols = columns.filter((c) => c.kind === "simdnet");
const peerCols = columns.filter((c) => c.kind !== "simdnet");
for (const c of columns) if (c.error) log(`${c.id}: n/a (${c.error})`);

// ---------------------------------------------------------------------------------------------
// peak

log(`measuring the wasm SIMD peak (f32x4 mul+add, relaxed_madd) ...`);
const peaks = await measurePeaks(method);
for (const [k, p] of Object.entries(peaks))
  log(`  peak ${k}: ${p.error ? `n/a (${p.error})` : `${p.gflops.toFixed(1)} GFLOP/s (${p.form}, ${p.accumulators} accumulators)`}`);
const peakFor = { "simdnet-simd": peaks.simd?.gflops, "simdnet-relaxed": peaks.relaxed?.gflops, "simdnet-scalar": peaks.simd?.gflops };

// ---------------------------------------------------------------------------------------------
// cases

/** max |a - ref| / max |ref|, or a string when the sizes differ. */
function relDiff(a, ref) {
  if (a.length !== ref.length) return `size ${a.length} vs ${ref.length}`;
  let d = 0,
    m = 0;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(a[i] - ref[i]));
    m = Math.max(m, Math.abs(ref[i]));
  }
  return d / Math.max(m, 1e-30);
}

/**
 * A full garbage collection between measurements (when the process runs with --expose-gc), so one
 * case's dead buffers are not collected by V8's background threads on the second core during the
 * next. scripts/bench-models.mjs showed it: after a 1.3 GB engine was dropped uncollected, VGG-16 on
 * 2 threads ran no faster than on one; after a gc(), 1.4x faster. The threads figure here still
 * varies from run to run on the shared 2-vCPU machines (1.1x to 1.9x seen in one hour, whatever
 * case ran before): the second vCPU is not always a whole core.
 */
const collectGarbage = () => globalThis.gc?.();

const records = [];
for (const cs of cases) {
  collectGarbage();
  const t0 = performance.now();
  const built = {};
  const cells = {};
  for (const col of columns) {
    if (col.kind !== "simdnet" && !cs.peers.includes(col.id)) continue; // not part of this case
    if (col.error) {
      cells[col.id] = { na: col.error.startsWith("init") ? "build not runnable here" : "library did not load" };
      continue;
    }
    try {
      const r = await cs[col.kind](col.lib, method);
      if (r.na) cells[col.id] = { na: r.na };
      else if (r.error) cells[col.id] = { error: r.error };
      else if (r.measured) {
        // timed in its own process (PyTorch): not interleaved, kept for the checks below
        cells[col.id] = { ms: r.measured.ms, gflops: cs.flops / (r.measured.ms * 1e6), calls: r.measured.calls, separateProcess: true };
        built[col.id] = { result: r.result, initialLoss: r.initialLoss, col };
      } else built[col.id] = { ...r, col };
    } catch (err) {
      cells[col.id] = { error: `setup failed: ${oneLine(err)}` };
    }
  }
  const timed = await timeInterleaved(
    Object.entries(built)
      .filter(([, b]) => b.fn)
      .map(([id, b]) => ({ name: id, fn: b.fn, enter: b.col.enter })),
    method,
  );
  for (const [id, t] of Object.entries(timed))
    cells[id] = "error" in t ? { error: t.error } : { ms: t.ms, gflops: cs.flops / (t.ms * 1e6), calls: t.calls, reducedCalls: t.reduced };

  // Same numbers? Every library's output against simdnet-simd's (forward and gradient cases).
  const check = {};
  const refId = built["simdnet-simd"]?.result ? "simdnet-simd" : Object.keys(built).find((id) => built[id].result);
  if (refId) {
    try {
      await built[refId].col.enter?.();
      const refOut = await built[refId].result();
      for (const [id, b] of Object.entries(built)) {
        if (id === refId || !b.result) continue;
        try {
          await b.col.enter?.();
          check[id] = relDiff(await b.result(), refOut);
        } catch (err) {
          check[id] = `failed: ${oneLine(err)}`;
        }
      }
    } catch (err) {
      check[refId] = `failed: ${oneLine(err)}`;
    }
  }
  // Training step: every library's loss before training (same weights and batch) against simdnet's.
  const lossRef = built["simdnet-simd"]?.initialLoss;
  if (lossRef !== undefined) {
    for (const [id, b] of Object.entries(built))
      if (id !== "simdnet-simd" && b.initialLoss !== undefined) check[id] = Math.abs(b.initialLoss - lossRef) / Math.abs(lossRef);
    check.initialLoss = Object.fromEntries(Object.entries(built).map(([id, b]) => [id, b.initialLoss]));
  }
  for (const b of Object.values(built)) await b.dispose?.();

  // Ratios and peak fractions for each simdnet build.
  const simdnet = {};
  for (const col of simdnetCols) {
    const c = cells[col.id];
    if (!c || c.ms === undefined) continue;
    const ratios = {};
    for (const p of peerCols) if (cells[p.id]?.ms !== undefined) ratios[p.id] = cells[p.id].ms / c.ms;
    simdnet[col.build] = {
      ms: c.ms,
      gflops: c.gflops,
      peakFraction: peakFor[col.id] ? c.gflops / peakFor[col.id] : null,
      speedup: ratios,
    };
  }
  const reference = refId ?? (lossRef !== undefined ? "simdnet-simd" : null);
  // the convolution algorithms simdnet ran, by build (conv cases)
  const algorithms = Object.fromEntries(simdnetCols.filter((c) => built[c.id]?.algorithm).map((c) => [c.build, built[c.id].algorithm]));
  records.push({
    name: cs.name,
    flops: cs.flops,
    memoryBound: !!cs.memoryBound,
    results: cells,
    simdnet,
    algorithms,
    maxRelDiffVs: reference ? { reference, ...check } : null,
  });
  const summary = Object.entries(cells)
    .map(([id, c]) => `${id} ${c.ms !== undefined ? c.ms.toFixed(3) + " ms" : c.na ? "n/a" : "error"}`)
    .join(", ");
  log(`${cs.name}: ${summary}  [${((performance.now() - t0) / 1000).toFixed(1)} s]`);
  for (const [id, d] of Object.entries(check)) {
    if (typeof d === "string" || d > 1e-3) log(`  WARNING: ${id} output differs from ${reference}: ${typeof d === "string" ? d : d.toExponential(2)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// sizes

const nm = (p) => join(root, "node_modules", p);
const sizeEntries = [
  ["simdnet", "build/scalar.wasm", join(root, "build/scalar.wasm")],
  ["simdnet", "build/simd.wasm", join(root, "build/simd.wasm")],
  ["simdnet", "build/relaxed.wasm", join(root, "build/relaxed.wasm")],
  ["simdnet", "build/threads.wasm", join(root, "build/threads.wasm")],
  ["simdnet", "build/relaxed-threads.wasm", join(root, "build/relaxed-threads.wasm")],
  ["simdnet", "dist/simdnet.js (all 5 builds inlined, + host)", distPath],
  ["tfjs-backend-wasm", "tfjs-backend-wasm-simd.wasm (Node picks this)", nm("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm")],
  ["tfjs-backend-wasm", "tfjs-backend-wasm.wasm", nm("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm")],
  ["tfjs-backend-wasm", "tfjs-backend-wasm-threaded-simd.wasm", nm("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm")],
  ["onnxruntime-web", "ort-wasm-simd-threaded.wasm", nm("onnxruntime-web/dist/ort-wasm-simd-threaded.wasm")],
  ["onnxruntime-web", "ort-wasm-simd-threaded.jsep.wasm (WebGPU)", nm("onnxruntime-web/dist/ort-wasm-simd-threaded.jsep.wasm")],
  ["convnetjs", "build/convnet.js (no wasm)", nm("convnetjs/build/convnet.js")],
];
const sizes = [];
for (const [lib, file, path] of sizeEntries) {
  if (!existsSync(path)) continue;
  const bytes = statSync(path).size;
  sizes.push({ lib, file, bytes, gzip: gzipSync(readFileSync(path), { level: 6 }).length });
}

// threads: the same engine with its 2-thread pool bypassed and used
const { measureThreads } = await import("./threads.mjs");
collectGarbage();
const threads = filters.length === 0 || filters.some((f) => "threads".includes(f)) ? await measureThreads(nn, method) : null;

// ---------------------------------------------------------------------------------------------
// table

const footnotes = [];
const note = (text) => {
  let i = footnotes.indexOf(text);
  if (i < 0) i = footnotes.push(text) - 1;
  return `[${i + 1}]`;
};
const fmtMs = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3));
const fmtX = (x) => (x >= 10 ? x.toFixed(0) : x.toFixed(1)) + "x";
// Speed-ups in the table are against the build init() picks here: relaxed when it runs, else simd.
const mainBuild = simdnetCols.some((c) => c.build === "relaxed" && !c.error) ? "relaxed" : "simd";

const header = ["case"];
for (const c of simdnetCols) header.push(`${c.build} ms`, "GF/s", "%peak");
for (const p of peerCols) header.push(`${p.id} ms (x)`);
header.push("max diff");
const rows = [header];
for (const r of records) {
  const row = [r.name + (r.memoryBound ? "*" : "") + (r.algorithms[mainBuild] ? ` [${r.algorithms[mainBuild]}]` : "")];
  for (const c of simdnetCols) {
    const cell = r.results[c.id];
    const s = r.simdnet[c.build];
    if (s) row.push(fmtMs(s.ms), s.gflops.toFixed(1), s.peakFraction == null ? "-" : (100 * s.peakFraction).toFixed(0) + "%");
    else row.push(cell?.na ? `n/a${note(cell.na)}` : cell?.error ? `err${note(cell.error)}` : "-", "", "");
  }
  for (const p of peerCols) {
    const cell = r.results[p.id];
    if (!cell) row.push("-");
    else if (cell.na) row.push(`n/a${note(`${p.id}: ${cell.na}`)}`);
    else if (cell.error) row.push(`err${note(`${p.id}: ${cell.error}`)}`);
    else {
      const x = r.simdnet[mainBuild]?.speedup[p.id];
      const few = cell.reducedCalls
        ? `~${note(`~ slow peer: one warm-up call and only as many timed calls as fit in ${method.slowBudgetMs / 1000} s (calls in build/bench.json)`)}`
        : "";
      row.push(`${few}${fmtMs(cell.ms)} (${x === undefined ? "?" : fmtX(x)})`);
    }
  }
  const diffs = Object.values(r.maxRelDiffVs ?? {}).filter((d) => typeof d === "number");
  const failed = Object.entries(r.maxRelDiffVs ?? {}).filter(([, d]) => typeof d === "string" && d !== r.maxRelDiffVs.reference);
  row.push(
    failed.length ? `?${note(`check failed: ${failed.map(([id, d]) => `${id} ${d}`).join("; ")}`)}` : diffs.length ? Math.max(...diffs).toExponential(0) : "-",
  );
  rows.push(row);
}
const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
const line = (r) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
const out = [];
out.push(
  `simdnet bench ${quick ? "(--quick: 1 warm-up call, 5 timed calls; rough)" : "(median of >= 20 calls after >= 300 ms warm-up, libraries interleaved)"}`,
);
out.push(`machine: ${cpus()[0]?.model ?? "?"}, ${cpus().length} cores; Node ${process.version}; one thread everywhere`);
const fmtPeak = (p) => (p?.gflops ? `${p.gflops.toFixed(1)} GFLOP/s` : `n/a (${p?.error})`);
out.push(`measured wasm SIMD peak (one core): f32x4 mul+add ${fmtPeak(peaks.simd)}, f32x4.relaxed_madd ${fmtPeak(peaks.relaxed)}`);
out.push("");
out.push(line(rows[0]));
out.push(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows.slice(1)) out.push(line(r));
out.push("");
out.push(`(x) = speed-up of simdnet-${mainBuild} over that peer: peer ms / simdnet ms (> 1: simdnet faster).`);
out.push(`[name] = the convolution algorithm simdnet-${mainBuild} ran (src/ops/conv2d_algorithms.ts; scripts/bench-conv.mjs times every one).`);
out.push(`max diff = largest max|y - y_simd| / max|y_simd| of any library's output against simdnet-simd's (LeNet: initial loss).`);
out.push(`%peak = simdnet GFLOP/s / the measured peak of its instruction set (simd: mul+add, relaxed: relaxed_madd).`);
out.push(`Conv GFLOP/s count direct convolution's 2*N*OH*OW*OC*KH*KW*C/groups FLOP for every library. simdnet runs 3x3`);
out.push(`stride-1 convs with 8+ channels (all three passes) by Winograd F(2x2, 3x3), 2.25x fewer multiplies: its`);
out.push(`figures there are effective rates, and %peak above 100% is that saving, not a faster machine.`);
out.push(`* memory-bound: FLOP = one add/compare per window tap, so GF/s and %peak say little there.`);
out.push(`Layouts: simdnet, TF.js NHWC; onnxruntime-web NCHW (its native layout; its run() also copies x in and y out);`);
out.push(`ConvNetJS Float64 HWC volumes, a batch is a loop over samples. TF.js results are not read back (its ops are synchronous).`);
out.push(`LeNet-5 step: FLOP = 3 x forward conv+dense FLOPs; TF.js trains on tfjs-backend-cpu; ConvNetJS with its own Trainer.`);
if (records.some((r) => r.name.startsWith("lstm"))) {
  out.push(`LSTM (bench/rnn.mjs): FLOP = 2*T*B*4H*(I+H) forward (gate products), 3x for a training step (forward, backward to the`);
  out.push(`weights, SGD; loss sum(y*g)/B). TF.js: tf.layers.lstm; onnxruntime: a one-operator ONNX LSTM; ort-node and`);
  out.push(`pytorch-cpu (Debian python3-torch, torch.set_num_threads(1)) are native anchors; PyTorch is timed in its own`);
  out.push(`process by the same method (not interleaved). Training steps are checked by their initial loss.`);
}
out.push(`dense "packed": simdnet packs w once in setup (packDenseWeights), as TF.js and onnxruntime-web pack theirs when they`);
out.push(`create the operator or session; the unpacked row reads w as it is on every call.`);
footnotes.forEach((f, i) => out.push(`[${i + 1}] ${f}`));
out.push("");
if (threads) {
  out.push(
    threads.error ? `threads: n/a (${threads.error})` : `threads (${threads.build} build, one engine, pool bypassed vs used; target 2 threads >= 1.7x):`,
  );
  for (const r of threads.rows ?? []) out.push(`  ${r.name.padEnd(40)} 1 thread ${fmtMs(r.ms1)} ms   2 threads ${fmtMs(r.ms2)} ms   ${r.speedup.toFixed(2)}x`);
  out.push("");
}
out.push("wasm / bundle sizes:");
const sw = Math.max(...sizes.map((s) => `${s.lib} ${s.file}`.length));
for (const s of sizes) out.push(`  ${`${s.lib} ${s.file}`.padEnd(sw)}  ${String(s.bytes).padStart(9)} B  (gzip ${String(s.gzip).padStart(8)} B)`);
const total = ((performance.now() - started) / 1000).toFixed(0);
out.push("");
out.push(`total ${total} s; JSON: ${relative(process.cwd(), outFile) || outFile}`);
console.log(out.join("\n"));

mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(
  outFile,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, relaxedFlag: process.execArgv.includes(FLAG) },
      method: { ...method, quick, note: "median of per-call performance.now(); libraries interleaved in rounds per case" },
      peak: peaks,
      layouts: { simdnet: "NHWC", "tfjs-wasm": "NHWC", "tfjs-cpu": "NHWC", "ort-wasm": "NCHW", convnetjs: "HWC Float64 per sample" },
      speedupDefinition: "peer_ms / simdnet_ms",
      cases: records,
      threads,
      sizes,
      seconds: Number(total),
    },
    null,
    2,
  ) + "\n",
);
