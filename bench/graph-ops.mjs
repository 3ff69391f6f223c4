// `node bench/graph-ops.mjs [--quick] [--threads N]`: one-operator ONNX models of the reductions,
// normalisations, softmax, MatMul and quantisation ops through simdnet's InferenceSession and
// onnxruntime-web (wasm, one thread), interleaved (bench/timing.mjs). Each timed call is a run
// with the same feeds (both copy inputs in and outputs out). Prints a table: median ms per run and
// simdnet's speed relative to onnxruntime-web (> 1: simdnet faster). Needs a build (dist/).
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { FULL, QUICK, timeInterleaved } from "./timing.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const nn = await import(pathToFileURL(join(root, "dist", "simdnet.js")).href);
const ort = await import("onnxruntime-web");
ort.env.wasm.numThreads = 1;
ort.env.logLevel = "error";

const args = process.argv.slice(2);
const method = args.includes("--quick") ? QUICK : FULL;
const threads = Number(args[args.indexOf("--threads") + 1] ?? 1) || 1;

const FLOAT = 1,
  UINT8 = 2,
  INT64 = 7;
const INT = 2,
  INTS = 7,
  FLOATA = 1;
const attr = (name, v) => (Array.isArray(v) ? { name, type: INTS, ints: v } : Number.isInteger(v) ? { name, type: INT, i: v } : { name, type: FLOATA, f: v });

function rand(n, seed, lo = -1, hi = 1) {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}
const size = (d) => d.reduce((a, b) => a * b, 1);

/** A model of nodes over inputs ({name: [dims, type]}) and initializers, one float output y. */
function model({ nodes, inputs, inits = [], outType = FLOAT, opset = 18 }) {
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
      name: "g",
      node: nodes.map(([op, ins, outs, at = {}], k) => ({
        name: `n${k}`,
        opType: op,
        domain: "",
        input: ins,
        output: outs,
        attribute: Object.entries(at).map(([n, v]) => attr(n, v)),
      })),
      initializer: inits.map(([name, dims, data, dataType = FLOAT]) => ({
        name,
        dims,
        dataType,
        data: dataType === FLOAT ? Float32Array.from(data) : Float64Array.from(data),
      })),
      valueInfo: [],
      input: Object.entries(inputs).map(([name, [dims, t]]) => ({ name, elemType: t ?? FLOAT, shape: dims })),
      output: [{ name: "y", elemType: outType }],
    },
  });
}

const NHWC = [1, 64, 56, 56]; // a feature map a Conv leaves channels-last in simdnet
const conv = () => [["Conv", ["x", "cw"], ["c"]]];
const convW = (c) => [["cw", [c, c, 1, 1], rand(c * c, 7, -0.2, 0.2)]];

const CASES = [
  {
    name: "ReduceMean channels of conv 64x56x56",
    x: NHWC,
    nodes: [...conv(64), ["ReduceMean", ["c", "ax"], ["y"], { keepdims: 1 }]],
    inits: [...convW(64), ["ax", [1], [1], INT64]],
  },
  {
    name: "ReduceMean spatial of conv 64x56x56",
    x: NHWC,
    nodes: [...conv(64), ["ReduceMean", ["c", "ax"], ["y"], { keepdims: 1 }]],
    inits: [...convW(64), ["ax", [2], [2, 3], INT64]],
  },
  { name: "Conv 1x1 64x56x56 alone (baseline)", x: NHWC, nodes: [["Conv", ["x", "cw"], ["y"]]], inits: convW(64) },
  { name: "ReduceSum last axis [256, 1024]", x: [256, 1024], nodes: [["ReduceSum", ["x", "ax"], ["y"], { keepdims: 0 }]], inits: [["ax", [1], [1], INT64]] },
  { name: "ReduceMax axis 0 [1024, 256]", x: [1024, 256], nodes: [["ReduceMax", ["x", "ax"], ["y"], { keepdims: 0 }]], inits: [["ax", [1], [0], INT64]] },
  { name: "Softmax last axis [64, 1000]", x: [64, 1000], nodes: [["Softmax", ["x"], ["y"], { axis: -1 }]] },
  { name: "Softmax axis 1 [8, 128, 256]", x: [8, 128, 256], nodes: [["Softmax", ["x"], ["y"], { axis: 1 }]] },
  {
    name: "LayerNorm [4, 128, 768]",
    x: [4, 128, 768],
    nodes: [["LayerNormalization", ["x", "s", "b"], ["y"], { axis: -1 }]],
    inits: [
      ["s", [768], rand(768, 3, 0.5, 1.5)],
      ["b", [768], rand(768, 4)],
    ],
    opset: 17,
  },
  {
    name: "InstanceNorm of conv 64x56x56",
    x: NHWC,
    nodes: [...conv(64), ["InstanceNormalization", ["c", "s", "b"], ["y"]]],
    inits: [...convW(64), ["s", [64], rand(64, 5)], ["b", [64], rand(64, 6)]],
  },
  {
    name: "MatMul [4, 128, 768] x [768, 768]",
    x: [4, 128, 768],
    nodes: [["MatMul", ["x", "w"], ["y"]]],
    inits: [["w", [768, 768], rand(768 * 768, 8, -0.05, 0.05)]],
  },
  { name: "MatMul batched [48, 128, 64] x [48, 64, 128]", x: [48, 128, 64], x2: [48, 64, 128], nodes: [["MatMul", ["x", "x2"], ["y"]]] },
  {
    name: "MatMul 1 row [1, 768] x [768, 3072]",
    x: [1, 768],
    nodes: [["MatMul", ["x", "w"], ["y"]]],
    inits: [["w", [768, 3072], rand(768 * 3072, 9, -0.05, 0.05)]],
  },
  {
    name: "QuantizeLinear+DequantizeLinear [1, 64, 56, 56]",
    x: NHWC,
    nodes: [
      ["QuantizeLinear", ["x", "s", "z"], ["q"]],
      ["DequantizeLinear", ["q", "s", "z"], ["y"]],
    ],
    inits: [
      ["s", [], [0.01]],
      ["z", [], [128], UINT8],
    ],
  },
];

const ortType = { [FLOAT]: "float32" };
const rows = [];
for (const c of CASES) {
  const inputs = { x: [c.x], ...(c.x2 ? { x2: [c.x2] } : {}) };
  const bytes = model({ nodes: c.nodes, inputs, inits: c.inits, opset: c.opset });
  const feeds = { x: { dims: c.x, data: rand(size(c.x), 1) }, ...(c.x2 ? { x2: { dims: c.x2, data: rand(size(c.x2), 2) } } : {}) };
  const s = await nn.InferenceSession.create(bytes, { threads });
  const o = await ort.InferenceSession.create(bytes);
  const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor(ortType[FLOAT], v.data, v.dims)]));
  // same results first
  const a = (await s.run(feeds)).y.data,
    b = (await o.run(ortFeeds)).y.data;
  let err = 0,
    scale = 0;
  for (let i = 0; i < b.length; i++) (err = Math.max(err, Math.abs(a[i] - b[i]))), (scale = Math.max(scale, Math.abs(b[i])));
  const t = await timeInterleaved(
    [
      { name: "simdnet", fn: () => s.runSync(feeds) },
      { name: "ort-web", fn: () => o.run(ortFeeds) },
    ],
    method,
  );
  rows.push({ case: c.name, simdnet: t.simdnet.ms, ort: t["ort-web"].ms, ratio: t["ort-web"].ms / t.simdnet.ms, relErr: err / Math.max(scale, 1e-30) });
  await s.release();
  await o.release();
}
console.log(`simdnet (${threads} thread${threads > 1 ? "s" : ""}) vs onnxruntime-web wasm (1 thread), median ms per run; ratio > 1: simdnet faster`);
console.log("| case | simdnet ms | ort-web ms | ratio | max err / max |");
console.log("|---|---:|---:|---:|---:|");
for (const r of rows) console.log(`| ${r.case} | ${r.simdnet.toFixed(3)} | ${r.ort.toFixed(3)} | ${r.ratio.toFixed(2)} | ${r.relErr.toExponential(1)} |`);
