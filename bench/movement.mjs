// Data movement against onnxruntime-web (wasm, one thread), interleaved:
//   layout conversions (NCHW <-> NHWC) of typical image shapes: simdnet's copy_nd, the planner's
//     layout.copy step and every Transpose, alone (per build) and as a one-Transpose session;
//   Resize (nearest and linear upsampling) and Pad of image-sized tensors as one-op sessions in
//     ONNX order, and simdnet's step time for the same op on a channels-last value (after a 1x1 Conv,
//     from InferenceSession.profile), where it runs in the image kernels' layout.
// Sessions copy the input in and the output out, as onnxruntime-web's run() does.
//   node bench/movement.mjs [--quick] [--case <substring>]...
// Needs dist/simdnet.js (node scripts/build.mjs).
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { oneOpModel } from "./onnx.mjs";
import { FULL, QUICK, timeInterleaved } from "./timing.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const nn = await import(pathToFileURL(join(root, "dist", "simdnet.js")).href);
const ort = await import("onnxruntime-web");
ort.env.wasm.numThreads = 1;
ort.env.logLevel = "error";
const argv = process.argv.slice(2);
const method = argv.includes("--quick") ? QUICK : FULL;
const filters = argv.flatMap((a, i) => (a === "--case" && argv[i + 1] ? [argv[i + 1].toLowerCase()] : []));
const wanted = (name) => filters.length === 0 || filters.some((f) => name.toLowerCase().includes(f));

const builds = ["scalar", "simd"];
const engines = Object.fromEntries(await Promise.all(builds.map(async (b) => [b, await nn.init({ build: b })])));
const size = (d) => d.reduce((a, b) => a * b, 1);
const strides = (d) => d.map((_, i) => d.slice(i + 1).reduce((a, b) => a * b, 1));
const input = (n) => Float32Array.from({ length: n }, (_, i) => (i % 977) / 977);

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

/** A 1x1 identity Conv in front of an op model: the op then reads a channels-last value in simdnet. */
function afterConv(spec) {
  const c = spec.inputs.x[1];
  const eye = Float32Array.from({ length: c * c }, (_, i) => (i % (c + 1) === 0 ? 1 : 0));
  return {
    bytes: nn.encodeModel({
      irVersion: 8,
      opsetImport: [{ domain: "", version: spec.opset ?? 17 }],
      producerName: "simdnet-bench",
      producerVersion: "",
      domain: "",
      modelVersion: 0,
      docString: "",
      metadataProps: [],
      graph: {
        name: "bench",
        valueInfo: [],
        node: [
          { name: "conv", opType: "Conv", domain: "", input: ["x", "eye"], output: ["xc"], attribute: [] },
          {
            name: "op",
            opType: spec.op,
            domain: "",
            input: spec.operands.map((o) => (o === "x" ? "xc" : o)),
            output: ["y"],
            attribute: spec.attributeList ?? [],
          },
        ],
        initializer: [
          { name: "eye", dims: [c, c, 1, 1], dataType: 1, data: eye },
          ...Object.entries(spec.initializers ?? {}).map(([name, t]) => ({ name, dims: t.dims, dataType: 1, data: t.data })),
        ],
        input: [{ name: "x", elemType: 1, shape: spec.inputs.x }],
        output: [{ name: "y", elemType: 1, shape: spec.outputs.y }],
      },
    }),
  };
}

const rows = [];
const record = (row, r) => {
  for (const [k, v] of Object.entries(r)) row[k] = v.error ? v.error : +v.ms.toFixed(4);
  rows.push(row);
  console.error(JSON.stringify(row));
};

// ---------------------------------------------------------------------------------------------
// layout conversions

const SHAPES = [
  [1, 3, 224, 224],
  [1, 64, 56, 56],
  [1, 512, 7, 7],
  [8, 32, 28, 28],
];
const PERMS = { "NCHW->NHWC": [0, 2, 3, 1], "NHWC->NCHW": [0, 3, 1, 2] };
for (const shape of SHAPES) {
  for (const [label, perm] of Object.entries(PERMS)) {
    const name = `Transpose ${shape.join("x")} ${label}`;
    if (!wanted(name)) continue;
    const n = size(shape),
      x = input(n),
      yd = perm.map((p) => shape[p]);
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
    record({ case: name }, await timeInterleaved(entries, method));
    await os.release();
    await session.release();
    for (const t of kept) t.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// resize and pad

const scales = (s) => ({ dims: [4], data: Float32Array.from(s) });
const OPS = [
  {
    name: "Resize nearest x2 (asymmetric, floor) 1x64x56x56",
    op: "Resize",
    x: [1, 64, 56, 56],
    y: [1, 64, 112, 112],
    operands: ["x", "", "s"],
    initializers: { s: scales([1, 1, 2, 2]) },
    attributes: { mode: "nearest", coordinate_transformation_mode: "asymmetric", nearest_mode: "floor" },
  },
  {
    name: "Resize linear x2 (half_pixel) 1x64x56x56",
    op: "Resize",
    x: [1, 64, 56, 56],
    y: [1, 64, 112, 112],
    operands: ["x", "", "s"],
    initializers: { s: scales([1, 1, 2, 2]) },
    attributes: { mode: "linear" },
  },
  {
    name: "Resize linear x2 (align_corners) 1x32x64x64",
    op: "Resize",
    x: [1, 32, 64, 64],
    y: [1, 32, 128, 128],
    operands: ["x", "", "s"],
    initializers: { s: scales([1, 1, 2, 2]) },
    attributes: { mode: "linear", coordinate_transformation_mode: "align_corners" },
  },
  {
    name: "Resize cubic x2 1x16x64x64",
    op: "Resize",
    x: [1, 16, 64, 64],
    y: [1, 16, 128, 128],
    operands: ["x", "", "s"],
    initializers: { s: scales([1, 1, 2, 2]) },
    attributes: { mode: "cubic" },
  },
  {
    name: "Pad reflect 1 (opset 10) 1x64x56x56",
    op: "Pad",
    opset: 10,
    x: [1, 64, 56, 56],
    y: [1, 64, 58, 58],
    operands: ["x"],
    attributes: { mode: "reflect", pads: [0, 0, 1, 1, 0, 0, 1, 1] },
  },
  {
    name: "Pad constant 1 (opset 10) 1x3x224x224",
    op: "Pad",
    opset: 10,
    x: [1, 3, 224, 224],
    y: [1, 3, 226, 226],
    operands: ["x"],
    attributes: { mode: "constant", pads: [0, 0, 1, 1, 0, 0, 1, 1] },
  },
];
for (const c of OPS) {
  if (!wanted(c.name)) continue;
  const spec = {
    op: c.op,
    opset: c.opset ?? 17,
    inputs: { x: c.x },
    operands: c.operands,
    initializers: c.initializers,
    outputs: { y: c.y },
    attributes: c.attributes,
  };
  const model = oneOpModel(spec);
  const x = input(size(c.x));
  const session = await nn.InferenceSession.create(model, { engine: engines.simd });
  const os = await ort.InferenceSession.create(model);
  const ox = new ort.Tensor("float32", x, c.x);
  // the same op after a 1x1 conv: simdnet runs it channels-last; its step alone from profile()
  const attributeList = Object.entries(c.attributes).map(([k, v]) => (Array.isArray(v) ? { name: k, type: 7, ints: v } : { name: k, type: 3, s: v }));
  const convSession = await nn.InferenceSession.create(afterConv({ ...spec, attributeList }).bytes, { engine: engines.simd });
  const step = () => convSession.profile({ x: { dims: c.x, data: x } }).find((s) => s.where.includes(`(${c.op})`)).ms;
  const entries = [
    { name: "simdnet-simd session (ONNX order)", fn: () => session.run({ x: { dims: c.x, data: x } }) },
    { name: "onnxruntime-web session", fn: () => os.run({ x: ox }) },
  ];
  const r = await timeInterleaved(entries, method);
  const steps = Array.from({ length: method === QUICK ? 5 : 21 }, step).sort((a, b) => a - b);
  r["simdnet-simd step (channels-last)"] = { ms: steps[steps.length >> 1] };
  record({ case: c.name }, r);
  await os.release();
  await session.release();
  await convSession.release();
}

const cols = [...new Set(rows.flatMap((r) => Object.keys(r).slice(1)))];
console.log(`| case | ${cols.join(" | ")} | onnxruntime-web / simdnet session |`);
console.log(`|---|${cols.map(() => "---:").join("|")}|---:|`);
for (const r of rows) {
  const ours = r["simdnet-simd session"] ?? r["simdnet-simd session (ONNX order)"];
  const ratio = r["onnxruntime-web session"] / ours;
  console.log(`| ${r.case} | ${cols.map((c) => r[c] ?? "").join(" | ")} | ${ratio.toFixed(2)}x |`);
}
console.log("ms per call, median; one thread; the machine is shared and noisy.");
