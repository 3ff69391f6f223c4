// `npm run bench:models`: whole networks, the same .onnx files in simdnet (1 and 2 threads),
// onnxruntime-web wasm (1 and 2 threads) and onnxruntime-node (native, 1 thread), side by side.
// Each (model, runtime) runs in its own process (so its peak memory is its own), the runtimes
// interleaved within each round, rounds repeated; per cell the median of the rounds' medians.
// Prints a table and writes build/bench-networks.json.
//   node bench/networks.mjs [--model <substring>]... [--rounds 2] [--seconds 8] [--runtime <name>]...
// Models: torchvision definitions exported by PyTorch with seeded random weights
// (bench/export_models.py into build/bench-models/; Debian's python3-torch and python3-torchvision,
// installed here when missing and run as root), plus the real-model corpus's files that simdnet
// loads (tests/corpus/models.json, fetched by scripts/fetch-corpus.mjs).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const self = fileURLToPath(import.meta.url);
const root = join(dirname(self), "..");
const argv = process.argv.slice(2);
const values = (name) => argv.flatMap((a, i) => (a === `--${name}` && i + 1 < argv.length ? [argv[i + 1]] : []));
const FLAG = "--experimental-wasm-relaxed-simd";

/** The runtimes compared, by name: how a child process runs a model. */
const RUNTIMES = {
  "simdnet-1t": { lib: "simdnet", threads: 1 },
  "simdnet-2t": { lib: "simdnet", threads: 2 },
  "ort-web-1t": { lib: "ort-web", threads: 1 },
  "ort-web-2t": { lib: "ort-web", threads: 2 },
  "ort-node-1t": { lib: "ort-node", threads: 1 },
};

// ---------------------------------------------------------------------------------------------
// one model in one runtime (a child process): load, warm up, time, report JSON on stdout

async function child({ runtime, path, seconds, dims: given = {}, fresh = false }) {
  // fresh: a different seeded input on every run (detectors: what they keep, and so their later
  // stages' plans, depends on the image), cycling through FRESH_INPUTS of them
  const sets = fresh ? FRESH_INPUTS : 1;
  let turn = 0;
  // an input's dims: those the model's entry gives (the corpus's feeds), else declared, dynamic ones 1
  const dimsOf = (name, shape) => given[name] ?? (shape ?? []).map((d) => (typeof d === "number" && d > 0 ? d : 1));
  const { lib, threads } = RUNTIMES[runtime];
  const report = (r) => process.stdout.write(`${JSON.stringify(r)}\n`);
  try {
    const bytes = new Uint8Array(readFileSync(path));
    const t0 = performance.now();
    let run, inputs;
    if (lib === "simdnet") {
      const nn = await import(pathToFileURL(join(root, "dist", "simdnet.js")).href);
      const s = await nn.InferenceSession.create(bytes, { threads });
      inputs = s.inputMetadata.map((m) => ({ name: m.name, dims: dimsOf(m.name, m.shape), type: m.type }));
      const feeds = Array.from({ length: sets }, (_, k) => Object.fromEntries(inputs.map((i) => [i.name, new nn.OnnxTensor(i.type, feedData(i, k), i.dims)])));
      run = () => s.runSync(feeds[turn++ % sets]);
      if (threads > 1 && s.engine.threads !== threads) throw new Error(`simdnet ran ${s.engine.threads} thread(s): ${s.engine.threadsReason}`);
    } else {
      const ort = lib === "ort-web" ? await import("onnxruntime-web") : await import("onnxruntime-node");
      if (lib === "ort-web") {
        ort.env.wasm.numThreads = threads;
        ort.env.logLevel = "error";
      }
      const options = lib === "ort-node" ? { intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: ["cpu"] } : { executionProviders: ["wasm"] };
      const s = await ort.InferenceSession.create(bytes, options);
      const meta = s.inputMetadata ?? s.inputNames.map((name) => ({ name, shape: undefined }));
      inputs = s.inputNames.map((name, k) => {
        const m = Array.isArray(meta) ? meta[k] : meta[name];
        return { name, dims: dimsOf(name, m?.shape ?? m?.dimensions), type: m?.type ?? "float32" };
      });
      const feeds = Array.from({ length: sets }, (_, k) => Object.fromEntries(inputs.map((i) => [i.name, new ort.Tensor(i.type, feedData(i, k), i.dims)])));
      run = async () => s.run(feeds[turn++ % sets]);
    }
    const loadMs = performance.now() - t0;
    // warm up: 3 runs and 300 ms at least (one run for slow models)
    const w0 = performance.now();
    let warm = 0;
    while (warm < 3 || performance.now() - w0 < 300) {
      await run();
      warm++;
      if (performance.now() - w0 > seconds * 300) break;
    }
    const times = [];
    const t1 = performance.now();
    while (times.length < 5 || (performance.now() - t1 < seconds * 1000 && times.length < 200)) {
      const a = performance.now();
      await run();
      times.push(performance.now() - a);
      if (times.length >= 3 && performance.now() - t1 > seconds * 3000) break;
    }
    times.sort((a, b) => a - b);
    report({ runtime, ok: true, loadMs, ms: times[times.length >> 1], runs: times.length, peakMB: peakRssMB(), inputs: inputs.map((i) => i.dims) });
  } catch (err) {
    report({
      runtime,
      ok: false,
      error: String(err?.message ?? err)
        .split("\n")[0]
        .slice(0, 300),
      peakMB: peakRssMB(),
    });
  }
  process.exit(0);
}

/** How many different inputs a `fresh` model's runs cycle through. */
const FRESH_INPUTS = 8;

/** Seeded inputs (input set k): floats in [-1, 1), integers 1. */
function feedData(i, k = 0) {
  const n = i.dims.reduce((a, b) => a * b, 1);
  if (i.type === "float32") {
    let s = 12345 + 7919 * k;
    return Float32Array.from({ length: n }, () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 31 - 1);
  }
  if (i.type === "int64") return new BigInt64Array(n).fill(1n);
  if (i.type === "int32") return new Int32Array(n).fill(1);
  throw new Error(`no feed for input type ${i.type}`);
}

/** Peak resident memory of this process (Linux /proc), MB. */
function peakRssMB() {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// the parent: models, rounds, the table

async function parent() {
  const dir = join(root, "build", "bench-models");
  mkdirSync(dir, { recursive: true });
  const models = ensureModels(dir);
  const filters = values("model");
  const chosen = models.filter((m) => filters.length === 0 || filters.some((f) => m.name.includes(f)));
  const runtimes = values("runtime").length ? values("runtime") : Object.keys(RUNTIMES);
  const rounds = Number(values("rounds")[0] ?? 2);
  const seconds = Number(values("seconds")[0] ?? 6);
  const spin = twoCoreCheck();
  console.error(`bench: ${chosen.length} models x ${runtimes.length} runtimes x ${rounds} rounds; ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}); ${spin}`);
  const peaks = await peakComparison();
  console.error(`bench: ${peaks.line}`);
  const results = [];
  for (const m of chosen) {
    const cells = Object.fromEntries(runtimes.map((r) => [r, []]));
    for (let round = 0; round < rounds; round++) {
      for (const r of runtimes) {
        const res = spawnSync(process.execPath, [FLAG, self, "--child", JSON.stringify({ runtime: r, path: m.path, seconds, dims: m.dims, fresh: m.fresh })], {
          encoding: "utf8",
          maxBuffer: 1 << 24,
          timeout: 20 * 60 * 1000,
        });
        const line = res.stdout.trim().split("\n").pop();
        let out;
        try {
          out = JSON.parse(line);
        } catch {
          out = { runtime: r, ok: false, error: (res.stderr || res.error?.message || "no report").split("\n").find((l) => l.trim()) ?? "crashed" };
        }
        cells[r].push(out);
        console.error(
          `  ${m.name} ${r} round ${round + 1}: ${out.ok ? `${out.ms.toFixed(1)} ms (load ${out.loadMs.toFixed(0)} ms, ${out.runs} runs, peak ${out.peakMB?.toFixed(0)} MB)` : `error: ${out.error}`}`,
        );
      }
    }
    const summary = {};
    for (const r of runtimes) {
      const ok = cells[r].filter((c) => c.ok);
      summary[r] = ok.length
        ? {
            ms: median(ok.map((c) => c.ms)),
            loadMs: median(ok.map((c) => c.loadMs)),
            peakMB: Math.max(...ok.map((c) => c.peakMB ?? 0)),
            rounds: ok.map((c) => c.ms),
          }
        : { error: cells[r][0]?.error ?? "not run" };
    }
    results.push({ model: m.name, source: m.source, summary });
  }
  const table = formatTable(results, runtimes);
  console.log(`\n${spin}\n${peaks.line}\n${table}`);
  const out = join(root, "build", "bench-networks.json");
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cpu: cpus()[0]?.model, spin, peaks, results }, null, 2));
  console.error(`bench: wrote ${out}`);
}

/** The median (of an even count, the mean of the middle two: 2 rounds give their mean, not the slower). */
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b),
    h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};

function formatTable(results, runtimes) {
  const cols = [
    "model",
    ...runtimes.map((r) => `${r} ms`),
    "ort-web-1t / simdnet-1t",
    "simdnet-1t / ort-node-1t",
    "2t speed-up",
    ...runtimes.map((r) => `${r} MB`),
  ];
  const rows = results.map(({ model, summary }) => {
    const ms = (r) => summary[r]?.ms;
    const ratio = (a, b) => (ms(a) && ms(b) ? `${(ms(a) / ms(b)).toFixed(2)}x` : "-");
    return [
      model,
      ...runtimes.map((r) => (summary[r]?.ms ? summary[r].ms.toFixed(summary[r].ms < 10 ? 2 : 1) : `error: ${summary[r]?.error?.slice(0, 40)}`)),
      ratio("ort-web-1t", "simdnet-1t"),
      ratio("simdnet-1t", "ort-node-1t"),
      ratio("simdnet-1t", "simdnet-2t"),
      ...runtimes.map((r) => (summary[r]?.peakMB ? summary[r].peakMB.toFixed(0) : "-")),
    ];
  });
  const width = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((v, i) => String(v).padEnd(width[i])).join("  ");
  return [line(cols), ...rows.map(line)].join("\n");
}

/**
 * What one core can do in wasm and natively: the wasm SIMD peak (bench/peak.mjs: f32x4 multiply-adds,
 * the relaxed build's fused form where Node has it) and onnxruntime-node's single-thread float32
 * MatMul of 2048^2 matrices (its MLAS kernels: AVX2 or AVX-512 as the CPU has). Their ratio bounds
 * "simdnet-1t / ort-node-1t" from below on compute-bound models: wasm has 128-bit vectors only.
 */
async function peakComparison() {
  const { measurePeaks } = await import("./peak.mjs");
  const { QUICK } = await import("./timing.mjs");
  const wasm = await measurePeaks(QUICK);
  const wasmGflops = Math.max(wasm.simd?.gflops ?? 0, wasm.relaxed?.gflops ?? 0);
  const { oneOpModel } = await import("./onnx.mjs");
  const ort = await import("onnxruntime-node");
  const n = 2048;
  const b = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const model = oneOpModel({
    op: "MatMul",
    inputs: { a: [n, n] },
    initializers: { b: { dims: [n, n], data: b } },
    operands: ["a", "b"],
    outputs: { y: [n, n] },
  });
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const feeds = { a: new ort.Tensor("float32", b.slice(), [n, n]) };
  await session.run(feeds);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    best = Math.min(best, performance.now() - t0);
  }
  await session.release();
  const nativeGflops = (2 * n ** 3) / best / 1e6;
  const ratio = nativeGflops / wasmGflops;
  return {
    wasmGflops,
    nativeGflops,
    ratio,
    line: `one core: wasm SIMD peak ${wasmGflops.toFixed(1)} GFLOP/s; onnxruntime-node MatMul ${n}^2 ${nativeGflops.toFixed(1)} GFLOP/s: native / wasm = ${ratio.toFixed(2)}x, about the floor of "simdnet-1t / ort-node-1t" on compute-bound models`,
  };
}

/** Two processes spinning at once: whether the machine gives two cores' worth now. */
function twoCoreCheck() {
  const code = 'const t=performance.now();let x=0;while(performance.now()-t<400)x++;process.stdout.write(String(x)+"\\n")';
  const one = Number(spawnSync(process.execPath, ["-e", code], { encoding: "utf8" }).stdout);
  const node = JSON.stringify(process.execPath);
  const a = spawnSync("bash", ["-c", `${node} -e '${code}' & ${node} -e '${code}'; wait`], { encoding: "utf8" });
  const both = (a.stdout.match(/\d+/g) ?? []).map(Number);
  const ratio = both.length === 2 ? (both[0] + both[1]) / one : 0;
  return `two-process spin test: ${ratio.toFixed(2)}x one process (2.0 = two real cores)${ratio < 1.6 ? ": this machine cannot show a 2-thread speed-up now" : ""}`;
}

/** Detectors (bench/export_models.py): each run gets a fresh image (see child). */
const DETECTORS = ["ssdlite320_detection", "fasterrcnn_mobilenet_320_detection"];

/** The benchmark's model files: torchvision exports (made once) and fetched corpus files simdnet loads. */
function ensureModels(dir) {
  const names = ["mobilenet_v2", "mobilenet_v3_small", "resnet50", "squeezenet1_1", "vgg16", "lraspp_mobilenet_v3", ...DETECTORS];
  const missing = names.filter((n) => !existsSync(join(dir, `${n}.onnx`)));
  if (missing.length) {
    const py = "/usr/bin/python3";
    const check = spawnSync(py, ["-c", "import torch, torchvision"], { encoding: "utf8" });
    if (check.status !== 0 && process.getuid?.() === 0) {
      console.error("bench: installing Debian's python3-torch and python3-torchvision (apt-get)");
      spawnSync(
        "bash",
        [
          "-c",
          "DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch python3-torchvision >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch python3-torchvision >/dev/null 2>&1)",
        ],
        { stdio: "inherit" },
      );
    }
    const r = spawnSync(py, [join(root, "bench", "export_models.py"), dir, ...missing], { stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0) console.error("bench: exporting the torchvision models failed (python3-torch / python3-torchvision missing?)");
  }
  const models = names
    .filter((n) => existsSync(join(dir, `${n}.onnx`)))
    .map((n) => ({ name: n, path: join(dir, `${n}.onnx`), source: "torchvision, random weights", fresh: DETECTORS.includes(n) }));
  // corpus files (pretrained) that are cached
  try {
    const manifest = JSON.parse(readFileSync(join(root, "tests", "corpus", "models.json"), "utf8"));
    const cache = process.env.SIMDNET_CORPUS_DIR ?? join(root, "build", "corpus", "models");
    for (const m of manifest.models ?? manifest) {
      const file = join(cache, `${m.id}.onnx`);
      if (["ppocr-det-v4", "ppocr-cls-v2", "ppocr-rec-v4", "isnet-fp16"].includes(m.id) && existsSync(file))
        models.push({
          name: m.id,
          path: file,
          source: `${m.package}@${m.version}`,
          dims: Object.fromEntries((m.inputs ?? []).filter((i) => i.feed?.dims).map((i) => [i.name, i.feed.dims])),
        });
    }
  } catch {
    // no corpus manifest or cache: torchvision models only
  }
  return models;
}

if (argv[0] === "--child") await child(JSON.parse(argv[1]));
else await parent();
