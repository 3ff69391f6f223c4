// Layout conversions (NCHW <-> NHWC) of typical image shapes: simdnet's copy_nd (the planner's
// layout.copy step and every Transpose) against onnxruntime-web's Transpose, one thread, interleaved.
//   node bench/transpose.mjs [--quick]
// Columns: simdnet kernel (copy_nd alone, per build), simdnet session (InferenceSession.run of a
// one-Transpose model: copies the input in and the output out, as onnxruntime-web's run() does),
// onnxruntime-web session. Needs dist/simdnet.js (node scripts/build.mjs).
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { FULL, QUICK, timeInterleaved } from "./timing.mjs";
import { oneOpModel } from "./onnx.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const nn = await import(pathToFileURL(join(root, "dist", "simdnet.js")).href);
const ort = await import("onnxruntime-web");
ort.env.wasm.numThreads = 1;
ort.env.logLevel = "error";
const method = process.argv.includes("--quick") ? QUICK : FULL;

const SHAPES = [
  [1, 3, 224, 224],
  [1, 64, 56, 56],
  [1, 512, 7, 7],
  [8, 32, 28, 28],
];
const PERMS = { "NCHW->NHWC": [0, 2, 3, 1], "NHWC->NCHW": [0, 3, 1, 2] };
const builds = ["scalar", "simd"];
const engines = Object.fromEntries(await Promise.all(builds.map(async (b) => [b, await nn.init({ build: b })])));

/** copy_nd's descriptor (assembly/nd.ts): rank, dims, then 4 operands' strides, then counters. */
function descriptor(e, yd, ys, xs) {
  const t = e.empty([1 + 8 + 32 + 8], "i32");
  const w = t.ints;
  w[0] = yd.length;
  yd.forEach((d, i) => {
    w[1 + i] = d;
    w[9 + i] = ys[i];
    w[17 + i] = xs[i];
  });
  return t;
}
const strides = (d) => d.map((_, i) => d.slice(i + 1).reduce((a, b) => a * b, 1));

const rows = [];
for (const shape of SHAPES) {
  for (const [label, perm] of Object.entries(PERMS)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = Float32Array.from({ length: n }, (_, i) => (i % 977) / 977);
    const yd = perm.map((p) => shape[p]);
    const entries = [];
    const kept = [];
    for (const b of builds) {
      const e = engines[b];
      const xt = e.tensor([n], x),
        yt = e.zeros([n]);
      const xs = strides(shape);
      const desc = descriptor(
        e,
        yd,
        strides(yd),
        perm.map((p) => xs[p]),
      );
      kept.push(xt, yt, desc);
      entries.push({ name: `simdnet-${b} kernel`, fn: () => e.kernels.copy_nd(yt.ptr, xt.ptr, desc.ptr) });
    }
    const model = oneOpModel({ op: "Transpose", inputs: { x: shape }, operands: ["x"], outputs: { y: yd }, attributes: { perm } });
    const session = await nn.InferenceSession.create(model, { engine: engines.simd });
    entries.push({ name: "simdnet-simd session", fn: () => session.run({ x: { dims: shape, data: x } }) });
    const os = await ort.InferenceSession.create(model);
    const ox = new ort.Tensor("float32", x, shape);
    entries.push({ name: "onnxruntime-web session", fn: () => os.run({ x: ox }) });
    const r = await timeInterleaved(entries, method);
    const row = { shape: shape.join("x"), conversion: label };
    for (const [k, v] of Object.entries(r)) row[k] = v.error ? v.error : +v.ms.toFixed(4);
    rows.push(row);
    console.error(JSON.stringify(row));
    await os.release();
    await session.release();
    kept.forEach((t) => t.dispose());
  }
}
const cols = Object.keys(rows[0]).slice(2);
console.log(`| shape | conversion | ${cols.join(" | ")} | ort / simdnet session |`);
console.log(`|---|---|${cols.map(() => "---:").join("|")}|---:|`);
for (const r of rows) {
  const ratio = r["onnxruntime-web session"] / r["simdnet-simd session"];
  console.log(`| ${r.shape} | ${r.conversion} | ${cols.map((c) => r[c]).join(" | ")} | ${ratio.toFixed(2)}x |`);
}
console.log("ms per call, median; one thread; the machine is shared and noisy.");
