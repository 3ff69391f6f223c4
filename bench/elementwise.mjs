// `npm run bench:elementwise`: the element-wise ops of the graph runtime against onnxruntime-web
// (wasm, one thread), both through their InferenceSession on the same .onnx bytes, interleaved
// (bench/timing.mjs). Each model chains CHAIN nodes of one op (the second operand of a binary op a
// constant of the case's shape) so the copies every run() makes of its input and output weigh as
// they do in real models; the table gives ms per op node and onnxruntime-web's time / simdnet's.
//   node bench/elementwise.mjs [--quick] [--case <substring>]... [--out <file.json>]
// simdnet is the bundled package ../dist/simdnet.js (`node scripts/build.mjs` makes it).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const FLAG = "--experimental-wasm-relaxed-simd";
const self = fileURLToPath(import.meta.url);
if (!process.execArgv.includes(FLAG) && !process.env.SIMDNET_BENCH_CHILD) {
  const known = spawnSync(process.execPath, [FLAG, "-e", "0"]).status === 0;
  if (known) {
    const r = spawnSync(process.execPath, [FLAG, ...process.execArgv, self, ...process.argv.slice(2)], {
      stdio: "inherit",
      env: { ...process.env, SIMDNET_BENCH_CHILD: "1" },
    });
    process.exit(r.status ?? 1);
  }
}

const { FULL, QUICK, timeInterleaved, oneLine } = await import("./timing.mjs");
const root = join(dirname(self), "..");
const argv = process.argv.slice(2);
const values = (name) => argv.flatMap((a, i) => (a === `--${name}` && i + 1 < argv.length ? [argv[i + 1]] : []));
const method = argv.includes("--quick") ? QUICK : FULL;
const filters = values("case").map((s) => s.toLowerCase());
const outFile = values("out")[0] ?? join(root, "build", "bench-elementwise.json");
const log = (...a) => console.error(...a);

const distPath = join(root, "dist", "simdnet.js");
if (!existsSync(distPath)) {
  console.error("bench: dist/simdnet.js is missing: run `node scripts/build.mjs` first.");
  process.exit(1);
}
const nn = await import(pathToFileURL(distPath).href);
const ort = await import("onnxruntime-web");
ort.env.wasm.numThreads = 1;
ort.env.logLevel = "error";

const CHAIN = 8;
const FLOAT = 1;
const AttributeType = { FLOAT: 1, STRING: 3 };

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = (n, seed, lo = -1, hi = 1) => {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
};
const size = (dims) => dims.reduce((a, b) => a * b, 1);

/**
 * A model chaining CHAIN nodes of `op`: x -> op -> op -> ... -> y. Binary ops take the constant
 * `c` (shape `cDims`, values near 1 so chains of Mul / Div stay bounded, or `cValue`) as their
 * second operand, or as their first with `cFirst`.
 */
function chainModel({ op, dims, cDims, cValue, cFirst = false, attrs = {}, opset = 17 }) {
  const attribute = Object.entries(attrs).map(([name, v]) =>
    typeof v === "string" ? { name, type: AttributeType.STRING, s: v } : { name, type: AttributeType.FLOAT, f: v },
  );
  const node = (i) => {
    const x = i === 0 ? "x" : `v${i}`;
    return {
      name: `n${i}`,
      opType: op,
      domain: "",
      input: cDims ? (cFirst ? ["c", x] : [x, "c"]) : [x],
      output: [i === CHAIN - 1 ? "y" : `v${i + 1}`],
      attribute,
    };
  };
  const c = cDims && { name: "c", dims: cDims, dataType: FLOAT, data: cValue !== undefined ? Float32Array.of(cValue) : rand(size(cDims), 2, 0.9, 1.1) };
  return nn.encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: "", version: opset }],
    producerName: "simdnet-bench",
    producerVersion: "",
    domain: "",
    modelVersion: 0,
    docString: "",
    metadataProps: [],
    graph: {
      name: `chain_${op}`,
      node: Array.from({ length: CHAIN }, (_, i) => node(i)),
      initializer: c ? [c] : [],
      input: [{ name: "x", elemType: FLOAT, shape: dims }],
      output: [{ name: "y", elemType: FLOAT, shape: dims }],
      valueInfo: [],
    },
  });
}

const BIG = [1, 32, 112, 112],
  MID = [1, 64, 56, 56];
const CASES = [
  { name: "Add same shape 1x64x56x56", op: "Add", dims: MID, cDims: MID },
  { name: "Mul per-channel [64,1,1] 1x64x56x56", op: "Mul", dims: MID, cDims: [64, 1, 1] },
  { name: "Add per-channel [1,64,1,1] 1x64x56x56", op: "Add", dims: MID, cDims: [1, 64, 1, 1] },
  { name: "Mul scalar 1x32x112x112", op: "Mul", dims: BIG, cDims: [] },
  { name: "Sub scalar-first 1x64x56x56", op: "Sub", dims: MID, cDims: [], cValue: 0.5, cFirst: true },
  { name: "Div per-channel 1x32x112x112", op: "Div", dims: BIG, cDims: [32, 1, 1] },
  { name: "Max per-row [1,1,1,56] 1x64x56x56", op: "Max", dims: MID, cDims: [1, 1, 1, 56] },
  { name: "Pow x^2 1x64x56x56", op: "Pow", dims: MID, cDims: [], cValue: 2, lo: 0.9, hi: 1.1 },
  { name: "Relu 1x32x112x112", op: "Relu", dims: BIG },
  { name: "Clip 0..6 (opset 6) 1x32x112x112", op: "Clip", dims: BIG, attrs: { min: 0, max: 6 }, opset: 6 },
  { name: "Sigmoid 1x64x56x56", op: "Sigmoid", dims: MID },
  { name: "HardSwish 1x32x112x112", op: "HardSwish", dims: BIG },
  { name: "HardSigmoid 1x64x56x56", op: "HardSigmoid", dims: MID },
  { name: "Exp 1x64x56x56", op: "Exp", dims: MID, lo: -0.5, hi: 0.5 },
  { name: "Erf 1x64x56x56", op: "Erf", dims: MID },
  { name: "Gelu 1x64x56x56", op: "Gelu", dims: MID, opset: 20 },
  { name: "Tanh 1x64x56x56", op: "Tanh", dims: MID },
  { name: "Sqrt 1x64x56x56", op: "Sqrt", dims: MID, lo: 0, hi: 4 },
];

const cases = CASES.filter((c) => filters.length === 0 || filters.some((f) => c.name.toLowerCase().includes(f)));
const builds = ["simd", "relaxed"];
const rows = [];
log(
  `element-wise ops: simdnet (${builds.join(", ")}) vs onnxruntime-web wasm, 1 thread, chains of ${CHAIN} nodes; ${cpus().length} CPUs (shared: timings are noisy)`,
);
for (const c of cases) {
  const bytes = chainModel(c);
  const x = rand(size(c.dims), 1, c.lo ?? -1, c.hi ?? 1);
  const entries = [];
  const outputs = {};
  const sessions = [];
  for (const b of builds) {
    try {
      const s = await nn.InferenceSession.create(bytes, { build: b });
      sessions.push(s);
      const feeds = { x: new nn.OnnxTensor("float32", x, c.dims) };
      entries.push({ name: `simdnet-${b}`, fn: () => s.runSync(feeds) });
      outputs[`simdnet-${b}`] = () => s.runSync(feeds).y.data;
    } catch (err) {
      log(`  ${c.name}: simdnet-${b} failed: ${oneLine(err)}`);
    }
  }
  const os = await ort.InferenceSession.create(bytes);
  const ofeeds = { x: new ort.Tensor("float32", x, c.dims) };
  entries.push({ name: "ort-wasm", fn: () => os.run(ofeeds) });
  outputs["ort-wasm"] = async () => (await os.run(ofeeds)).y.data;
  const timed = await timeInterleaved(entries, method);
  // the same numbers
  const ref = await outputs["ort-wasm"]();
  let worst = 0,
    scale = 0;
  for (const id of Object.keys(outputs).filter((k) => k !== "ort-wasm")) {
    const got = await outputs[id]();
    // equal values (infinities of a chain that overflows, NaN and NaN) differ by 0; the scale is
    // the largest finite reference value
    for (let i = 0; i < ref.length; i++) {
      const a = got[i],
        r = ref[i];
      if (a !== r && !(Number.isNaN(a) && Number.isNaN(r))) worst = Math.max(worst, Number.isNaN(a - r) ? Infinity : Math.abs(a - r));
      if (Number.isFinite(r)) scale = Math.max(scale, Math.abs(r));
    }
  }
  const row = { case: c.name, elements: size(c.dims), relDiff: worst / Math.max(scale, 1e-30) };
  for (const [id, t] of Object.entries(timed)) row[id] = "error" in t ? { error: t.error } : { msPerOp: t.ms / CHAIN };
  for (const b of builds) {
    const m = row[`simdnet-${b}`]?.msPerOp,
      o = row["ort-wasm"]?.msPerOp;
    if (m && o) row[`ratio-${b}`] = o / m;
  }
  rows.push(row);
  const cell = (id) => (row[id]?.msPerOp ? row[id].msPerOp.toFixed(3) : "n/a");
  log(
    `  ${c.name.padEnd(40)} simd ${cell("simdnet-simd")} relaxed ${cell("simdnet-relaxed")} ort ${cell("ort-wasm")} ms/op   ort/simdnet ${row["ratio-simd"]?.toFixed(2) ?? "-"}x   rel diff ${row.relDiff.toExponential(1)}`,
  );
  for (const s of sessions) await s.release();
  await os.release();
}

// table
const header = ["case", "simdnet simd", "simdnet relaxed", "ort-web", "ort / simd", "ort / relaxed"];
const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
for (const r of rows) {
  const ms = (id) => (r[id]?.msPerOp ? `${r[id].msPerOp.toFixed(3)} ms` : "n/a");
  const x = (k) => (r[k] ? `${r[k].toFixed(2)}x` : "-");
  lines.push(`| ${r.case} | ${ms("simdnet-simd")} | ${ms("simdnet-relaxed")} | ${ms("ort-wasm")} | ${x("ratio-simd")} | ${x("ratio-relaxed")} |`);
}
console.log(lines.join("\n"));
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, JSON.stringify({ date: new Date().toISOString(), chain: CHAIN, method, rows }, null, 2));
log(`wrote ${outFile}`);
