// ONNX <-> Model: an ONNX graph imported as a normal Model (summary, freeze + fine-tune, weights),
// exported back to ONNX and checked against onnxruntime-node (an independent implementation),
// then re-imported. Every build.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import { exportOnnx } from "../src/onnx/export.js";
import { caseFiles, caseInputs, compareOutputs, findOnnxCases } from "../src/onnx/conformance.js";
import { importOnnx } from "../src/onnx/model.js";
import {
  AttributeType,
  type AttributeProto,
  DataType,
  decodeModel,
  decodeTensor,
  encodeModel,
  type NodeProto,
  type TensorProto,
} from "../src/onnx/onnx-proto.js";
import { importOnnxModel, NotConvertibleError, weightInputs } from "../src/onnx/to-model.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, HAS_ONNX, ONNX_DIR, uniform } from "./harness.js";

const onnxPath = (p: string) => new URL(p, ONNX_DIR).pathname;
const ints = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: v });
const int = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.INT, i: v });
const node = (opType: string, input: string[], output: string, attribute: AttributeProto[] = []): NodeProto => ({
  name: output,
  opType,
  domain: "",
  input,
  output: [output],
  attribute,
});
const floatTensor = (name: string, dims: number[], data: ArrayLike<number>): TensorProto => ({
  name,
  dims,
  dataType: DataType.FLOAT,
  data: Float32Array.from(data),
});

function onnxBytes(nodes: NodeProto[], inits: TensorProto[], inputShape: (number | string)[], output: string): Uint8Array {
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 13 }],
    producerName: "test",
    producerVersion: "",
    domain: "",
    modelVersion: 0,
    docString: "",
    metadataProps: [],
    graph: {
      name: "g",
      node: nodes,
      initializer: inits,
      valueInfo: [],
      input: [{ name: "x", elemType: DataType.FLOAT, shape: inputShape }],
      output: [{ name: output, elemType: DataType.FLOAT }],
    },
  });
}

/** conv 3x3 (3 -> 6, pad 1) - relu - maxpool 2 - flatten - gemm (transB) -> 4 classes, on 3x8x8 images. */
function smallCnn(): Uint8Array {
  return onnxBytes(
    [
      node("Conv", ["x", "w1", "b1"], "c1", [ints("kernel_shape", [3, 3]), ints("pads", [1, 1, 1, 1])]),
      node("Relu", ["c1"], "r1"),
      node("MaxPool", ["r1"], "p1", [ints("kernel_shape", [2, 2]), ints("strides", [2, 2])]),
      node("Flatten", ["p1"], "f1", [int("axis", 1)]),
      node("Gemm", ["f1", "wc", "bc"], "logits", [int("transB", 1)]),
    ],
    [
      floatTensor("w1", [6, 3, 3, 3], uniform(162, 1, -0.5, 0.5)),
      floatTensor("b1", [6], uniform(6, 2, -0.1, 0.1)),
      floatTensor("wc", [4, 96], uniform(384, 3, -0.3, 0.3)),
      floatTensor("bc", [4], uniform(4, 4, -0.1, 0.1)),
    ],
    ["N", 3, 8, 8],
    "logits",
  );
}

/** onnxruntime-node's outputs for float32 feeds. */
async function ortRun(
  bytes: Uint8Array,
  feeds: Record<string, { dims: number[]; data: Float32Array }>,
): Promise<Record<string, { dims: number[]; data: Float32Array }>> {
  const session = await ort.InferenceSession.create(bytes);
  const input: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) input[k] = new ort.Tensor("float32", v.data, v.dims);
  const out = await session.run(input);
  const result: Record<string, { dims: number[]; data: Float32Array }> = {};
  for (const [k, t] of Object.entries(out)) result[k] = { dims: [...t.dims], data: t.data as Float32Array };
  await session.release();
  return result;
}

const nchwToNhwc = (data: Float32Array, dims: number[]) => {
  const [n, c, h, w] = dims as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++) {
          out[((b * h + i) * w + j) * c + ch] = data[((b * c + ch) * h + i) * w + j]!;
        }
  return out;
};

describe.each(BUILDS_UNDER_TEST)("ONNX as a Model (%s build)", (build) => {
  it("imports a CNN as a Model equal to InferenceSession (importOnnx), with a summary and layer names", async () => {
    const e = await engineFor(build);
    const bytes = smallCnn();
    const m = importOnnxModel(e, bytes);
    const x = uniform(2 * 3 * 64, 7, 0, 1);
    const got = m.runOnnx({ x: { dims: [2, 3, 8, 8], data: x } }).logits!;
    const ref = importOnnx(e, bytes);
    const want = ref.run({ x: { dims: [2, 3, 8, 8], data: x } }).logits!;
    ref.dispose();
    expect(got.dims).toEqual([2, 4]);
    expectClose(got.data, want.data, { rtol: 1e-5, atol: 1e-6 });
    const s = m.summary();
    expect(s.rows.map((r) => r.name)).toEqual(["x", "c1", "p1", "p1_nchw", "f1", "logits"]); // Relu fused into c1
    expect(s.rows[1]!.type).toMatch(/relu/);
    expect(s.totalParams).toBe(162 + 6 + 384 + 4);
    expect(s.table).toContain("logits");
    m.dispose();
  });

  it("fine-tunes the classifier of an imported CNN with the rest frozen; weights save and load", async () => {
    const e = await engineFor(build);
    const m = importOnnxModel(e, smallCnn(), { seed: 3 });
    m.freeze((name) => !name.startsWith("logits."));
    const before = new Map([...m.stateDict()].map(([k, t]) => [k, t.data.slice()]));
    const batch = 8;
    const x = uniform(batch * 3 * 64, 11, 0, 1);
    const xs = nchwToNhwc(x, [batch, 3, 8, 8]);
    const labels = e.ints(
      [batch],
      Array.from({ length: batch }, (_, i) => i % 4),
    );
    const dlogits = e.zeros([batch, 4]);
    const opt = new nn.SGD({ lr: 0.1 });
    const losses: number[] = [];
    for (let step = 0; step < 30; step++) {
      m.zeroGrads();
      const logits = m.forward(xs, { training: true });
      const { loss, probs } = nn.softmaxCrossEntropy(logits, labels);
      nn.fill(dlogits, 0);
      nn.softmaxCrossEntropyBackward(probs, labels, undefined, dlogits);
      probs.dispose();
      m.backward(dlogits);
      opt.step(m.parameters());
      losses.push(loss);
    }
    expect(losses.at(-1)!).toBeLessThan(0.5 * losses[0]!);
    for (const [k, t] of m.stateDict()) {
      if (k.startsWith("logits.")) expect(t.data).not.toEqual(before.get(k));
      else expect(t.data, k).toEqual(before.get(k));
    }
    // the tuned weights survive safetensors, and an export runs in onnxruntime with the same output
    const saved = nn.saveWeights(m);
    const fresh = importOnnxModel(e, smallCnn());
    nn.loadWeights(fresh, saved);
    const a = m.runOnnx({ x: { dims: [batch, 3, 8, 8], data: x } }).logits!;
    const b = fresh.runOnnx({ x: { dims: [batch, 3, 8, 8], data: x } }).logits!;
    expect(b.data).toEqual(a.data);
    const viaOrt = (await ortRun(exportOnnx(m), { x: { dims: [batch, 3, 8, 8], data: x } })).logits!;
    expectClose(viaOrt.data, a.data, { rtol: 1e-4, atol: 1e-5 });
    opt.dispose();
    labels.dispose();
    dlogits.dispose();
    fresh.dispose();
    m.dispose();
  });

  /** Exports `m`, runs onnxruntime-node and re-imports; all three agree with m.forward. */
  async function roundTrip(e: nn.Engine, m: nn.Model, batch: number, seed: number): Promise<void> {
    const inShape = m.graph.inputs[0]!.shape;
    const [h, w, c] = inShape as [number, number, number];
    const x = uniform(batch * h * w * c, seed, -1, 1); // NCHW
    const dims = [batch, c, h, w];
    const ours = m.forward(nchwToNhwc(x, dims)).data.slice(); // model layout
    const bytes = exportOnnx(m);
    const outName = m.graph.outputs[0]!;
    const viaOrt = (await ortRun(bytes, { [m.graph.inputs[0]!.name]: { dims, data: x } }))[outName]!;
    const ortData = viaOrt.dims.length === 4 ? nchwToNhwc(viaOrt.data, viaOrt.dims) : viaOrt.data;
    expectClose(ortData, ours, { rtol: 1e-4, atol: 1e-5, label: "onnxruntime vs simdnet" });
    const back = importOnnxModel(e, bytes);
    const again = back.runOnnx({ [m.graph.inputs[0]!.name]: { dims, data: x } })[outName]!;
    expectClose(again.data, viaOrt.data, { rtol: 1e-4, atol: 1e-5, label: "re-imported vs onnxruntime" });
    back.dispose();
  }

  it("exports zoo LeNet-5: onnxruntime and a re-import give simdnet's output", async () => {
    const e = await engineFor(build);
    const m = new nn.Model(e, nn.lenet5(), { seed: 2 });
    await roundTrip(e, m, 3, 21);
    m.dispose();
  });

  it("exports a residual block with batch norm (random running statistics)", async () => {
    const e = await engineFor(build);
    const block = nn.residualBlock("res", "input", 5, 8, 2, false);
    const spec: nn.GraphSpec = {
      inputs: [{ name: "input", shape: [9, 9, 5] }],
      nodes: [
        ...block.nodes,
        { name: "gap", inputs: ["res/out"], type: "globalPool", mode: "avg" },
        { name: "fc", inputs: ["gap"], type: "dense", units: 3, activation: "softmax" },
      ],
      outputs: ["fc"],
    };
    const m = new nn.Model(e, spec, { seed: 4 });
    let k = 30;
    for (const [name, t] of m.stateDict()) {
      if (name.endsWith("runningVar")) t.data.set(uniform(t.size, k++, 0.5, 2));
      else if (name.endsWith("runningMean") || name.endsWith("bn.bias")) t.data.set(uniform(t.size, k++, -0.5, 0.5));
    }
    await roundTrip(e, m, 2, 22);
    // and the block's own output (an NCHW image) before the classifier
    const m2 = new nn.Model(e, { ...spec, nodes: block.nodes, outputs: ["res/out"] }, { seed: 4 });
    await roundTrip(e, m2, 2, 23);
    m2.dispose();
    m.dispose();
  });

  it.skipIf(!HAS_ONNX)(
    "imported conformance models export and run in onnxruntime with the same outputs",
    async () => {
      const e = await engineFor(build);
      const dirs = [
        "pytorch-converted/test_Conv2d_groups",
        "pytorch-converted/test_BatchNorm2d_eval",
        "pytorch-converted/test_ZeroPad2d",
        "pytorch-converted/test_PReLU_2d_multiparam",
        "node/test_lrn",
        "node/test_resize_upsample_scales_nearest",
        "node/test_convtranspose_output_shape",
        "node/test_concat_3d_axis_1",
        "node/test_softmax_axis_1",
        "node/test_maxpool_2d_same_lower",
      ];
      for (const d of dirs) {
        const dir = new URL(`${d}/`, ONNX_DIR).pathname;
        const proto = decodeModel(readFileSync(join(dir, "model.onnx")));
        const setDir = join(dir, "test_data_set_0");
        const files = readdirSync(setDir)
          .filter((f) => f.startsWith("input_"))
          .sort();
        const feeds = files.map((f) => decodeTensor(readFileSync(join(setDir, f))));
        const names = proto.graph.input.filter((i) => !proto.graph.initializer.some((t) => t.name === i.name)).map((i) => i.name);
        const weights = new Set(weightInputs(proto));
        const constants: Record<string, { dims: number[]; data: Float32Array | Float64Array; dataType: number }> = {};
        const data: Record<string, { dims: number[]; data: Float32Array }> = {};
        names.forEach((n, i) => {
          const t = feeds[i]!;
          if (weights.has(n)) constants[n] = { dims: t.dims, data: t.data, dataType: t.dataType };
          else data[n] = { dims: t.dims, data: t.data as Float32Array };
        });
        const inputShapes = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.dims]));
        const m = importOnnxModel(e, proto, { constants, inputShapes });
        const ours = m.runOnnx(data);
        const outName = proto.graph.output[0]!.name;
        const expected = decodeTensor(readFileSync(join(setDir, "output_0.pb")));
        expectClose(ours[outName]!.data, expected.data, { rtol: 1e-3, atol: 1e-5, label: `${d} vs conformance` });
        const exported = exportOnnx(m);
        // the exported graph keeps the model's names (here the ONNX input names); its output is the model's output node
        const ex = decodeModel(exported);
        expect(ex.graph.input.map((i) => i.name).sort()).toEqual(Object.keys(data).sort());
        const viaOrt = (await ortRun(exported, data))[ex.graph.output[0]!.name]!;
        expect(viaOrt.dims, d).toEqual(ours[outName]!.dims);
        expectClose(viaOrt.data, ours[outName]!.data, { rtol: 1e-4, atol: 1e-5, label: `${d}: onnxruntime vs simdnet` });
        const back = importOnnxModel(e, exported);
        const again = back.runOnnx(data);
        expectClose(Object.values(again)[0]!.data, viaOrt.data, { rtol: 1e-4, atol: 1e-5, label: `${d}: re-import` });
        back.dispose();
        m.dispose();
      }
    },
    60_000,
  );

  it("errors: unsupported ops listed together, batch-axis ops not convertible, malformed bytes", async () => {
    const e = await engineFor(build);
    const unsupported = onnxBytes([node("Foo", ["x"], "a"), node("Relu", ["a"], "b"), node("Bar", ["b"], "c")], [], ["N", 3], "c");
    expect(() => importOnnxModel(e, unsupported)).toThrow(/2 unsupported nodes: Foo .*; Bar /);
    const batchOp = onnxBytes([node("Relu", ["x"], "a"), node("Transpose", ["a"], "t", [ints("perm", [1, 0, 2])])], [], [2, 3, 4], "t");
    expect(() => importOnnxModel(e, batchOp)).toThrow(NotConvertibleError);
    expect(() => importOnnxModel(e, batchOp)).toThrow(/node 1 "t" \(Transpose\): perm \[1,0,2\] moves the batch axis/);
    const good = smallCnn();
    for (const cut of [1, 10, good.length >> 1, good.length - 3]) {
      expect(() => importOnnxModel(e, good.subarray(0, cut))).toThrow(nn.SimdnetError);
    }
    // corrupted bytes: the import either works (and runs) or throws a SimdnetError; never anything else
    const r = (seed: number) => uniform(1, seed, 0, 1)[0]!;
    for (let k = 0; k < 60; k++) {
      const copy = good.slice();
      for (let j = 0; j < 3; j++) copy[Math.floor(r(100 + 3 * k + j) * copy.length)] = Math.floor(r(500 + 3 * k + j) * 256);
      try {
        const m = importOnnxModel(e, copy);
        try {
          m.runOnnx(m.onnxInputs.map((b) => ({ dims: [1, ...b.shape.slice(1)], data: new Float32Array(b.shape.slice(1).reduce((a, d) => a * d, 1)) })));
        } finally {
          m.dispose();
        }
      } catch (err) {
        expect(err, String(err)).toBeInstanceOf(nn.SimdnetError);
      }
    }
    const bad = importOnnxModel(e, good);
    expect(() => bad.runOnnx({ x: { dims: [1, 3, 8, 9], data: new Float32Array(216) } })).toThrow(/input "x" must have shape \[N,3,8,8\]/);
    bad.dispose();
  });
});

/**
 * Runs a conformance case through importOnnxModel (graph inputs read only as weights become
 * constants, i.e. parameters): undefined when it matches, else why not (a NotConvertibleError's
 * message, or the mismatch). Other errors propagate.
 */
function runCaseAsModel(e: nn.Engine, path: string): string | undefined {
  const files = caseFiles(path);
  const proto = decodeModel(readFileSync(files.model));
  const weights = new Set(weightInputs(proto));
  const declared = proto.graph.input.filter((i) => !proto.graph.initializer.some((t) => t.name === i.name));
  for (const set of files.sets) {
    const feeds = caseInputs(set, declared);
    const constants: Record<string, nn.OnnxTensorData> = {},
      inputShapes: Record<string, number[]> = {},
      data: Record<string, nn.OnnxTensorData> = {};
    declared.forEach((d, k) => {
      if (weights.has(d.name)) constants[d.name] = feeds[k]!;
      else {
        inputShapes[d.name] = feeds[k]!.dims;
        data[d.name] = feeds[k]!;
      }
    });
    let m: nn.OnnxImportedModel;
    try {
      m = importOnnxModel(e, proto, { constants, inputShapes, backward: false });
    } catch (err) {
      if (err instanceof NotConvertibleError) return err.message;
      throw err;
    }
    try {
      const out = m.runOnnx(data);
      const c = compareOutputs(
        proto.graph.output.map((o) => out[o.name]),
        set.outputs,
      );
      if (c.mismatch) return c.mismatch;
    } finally {
      m.dispose();
    }
  }
  return undefined;
}

// Conversion does not depend on the build: checked once, in the SIMD build.
describe("ONNX conformance cases as Models (importOnnxModel)", () => {
  it.skipIf(!HAS_ONNX)("converts most node/ and pytorch-converted/ cases (not batch-axis ops, rank-1 inputs) and matches their outputs", async () => {
    const e = await engineFor("simd");
    const cases = [...findOnnxCases(onnxPath("node/")), ...findOnnxCases(onnxPath("pytorch-converted/"))];
    const results = cases.map((c) => ({ name: caseFiles(c).name, why: runCaseAsModel(e, c) }));
    const converted = results.filter((r) => r.why === undefined).length;
    expect(converted).toBeGreaterThanOrEqual(95);
    // the cases that do not convert say why (a NotConvertibleError), none converts then mismatches
    for (const r of results) if (r.why !== undefined) expect(r.why, r.name).not.toMatch(/element|has shape|missing/);
    expect(results.find((r) => r.name === "test_transpose_default")!.why).toMatch(/moves the batch axis/);
  });

  it.skipIf(!HAS_ONNX)(
    "imports every light network as a Model that matches its expected output",
    async () => {
      const e = await engineFor("simd");
      const nets = findOnnxCases(onnxPath("light/"));
      expect(nets.length).toBe(5);
      for (const net of nets) expect(runCaseAsModel(e, net), net).toBeUndefined();
    },
    300_000,
  );
});

describe.each(BUILDS_UNDER_TEST)("ONNX layer kinds: forward vs a plain reference, backward vs finite differences (%s build)", (build) => {
  /** Checks d(sum(y * g))/dx (and each parameter) of a one-layer-chain model against finite differences. */
  async function check(nodes: nn.AnyNodeSpec[], inputs: { name: string; shape: number[] }[], expectForward?: (xs: Float32Array[]) => number[]) {
    const e = await engineFor(build);
    const m = new nn.Model(e, { inputs, nodes, outputs: [nodes.at(-1)!.name] }, { seed: 9 });
    for (const [name, t] of m.stateDict()) t.data.set(uniform(t.size, 40 + name.length, -0.7, 0.7));
    const batch = 2;
    const xs = inputs.map((i, k) => e.tensor([batch, ...i.shape], uniform(batch * i.shape.reduce((a, b) => a * b, 1), 50 + k, -1, 1)));
    const feed = () => Object.fromEntries(inputs.map((i, k) => [i.name, xs[k]!]));
    const y = m.forward(feed());
    if (expectForward) expectClose(y.data, expectForward(xs.map((x) => x.data.slice())), { rtol: 1e-6, atol: 1e-6, label: "forward" });
    const g = uniform(y.size, 60, -1, 1);
    const loss = () => dot(m.forward(feed()).data, g);
    m.zeroGrads();
    m.forward(feed());
    m.backward(g);
    inputs.forEach((inp, k) => {
      const dx = m.layerGrad(inp.name).data.slice();
      expectGradientMatches(xs[k]!, dx, loss, { label: `${nodes.at(-1)!.type} d${inp.name}` });
    });
    for (const p of m.parameters()) {
      const grad = p.grad.data.slice();
      expectGradientMatches(p.value, grad, loss, { label: p.name });
    }
    xs.forEach((x) => x.dispose());
    m.dispose();
  }

  it("transpose and reshape", async () => {
    await check([{ name: "t", inputs: ["x"], type: "transpose", perm: [2, 0, 1] }], [{ name: "x", shape: [3, 4, 5] }], ([x]) => {
      const out: number[] = [];
      for (let b = 0; b < 2; b++)
        for (let k = 0; k < 5; k++) for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) out.push(x![b * 60 + i * 20 + j * 5 + k]!);
      return out;
    });
    await check(
      [
        { name: "r", inputs: ["x"], type: "reshape", shape: [6, 5] },
        { name: "t", inputs: ["r"], type: "transpose", perm: [1, 0] },
      ],
      [{ name: "x", shape: [3, 2, 5] }],
    );
  });

  it("pad: constant (with a crop), reflect, edge", async () => {
    await check([{ name: "p", inputs: ["x"], type: "pad", pads: [1, 0, -1, 2, 1, 0], value: 0.5 }], [{ name: "x", shape: [3, 4, 2] }]);
    await check([{ name: "p", inputs: ["x"], type: "pad", pads: [2, 1, 0, 1, 2, 0], mode: "reflect" }], [{ name: "x", shape: [3, 4, 2] }]);
    await check([{ name: "p", inputs: ["x"], type: "pad", pads: [0, 3, 1, 2, 0, 1], mode: "edge" }], [{ name: "x", shape: [3, 4, 2] }], ([x]) => {
      // edge: clamp every coordinate
      const out: number[] = [];
      for (let b = 0; b < 2; b++)
        for (let i = 0; i < 5; i++)
          for (let j = 0; j < 7; j++)
            for (let c = 0; c < 4; c++) {
              const si = Math.min(i, 2),
                sj = Math.min(Math.max(j - 3, 0), 3),
                sc = Math.min(Math.max(c - 1, 0), 1);
              out.push(x![b * 24 + si * 8 + sj * 2 + sc]!);
            }
      return out;
    });
  });

  it("nearest resize up and down", async () => {
    await check(
      [{ name: "r", inputs: ["x"], type: "resize", outShape: [6, 8, 2], scales: [2, 2, 1], coordinateMode: "asymmetric", nearestMode: "floor" }],
      [{ name: "x", shape: [3, 4, 2] }],
      ([x]) => {
        const out: number[] = [];
        for (let b = 0; b < 2; b++)
          for (let i = 0; i < 6; i++) for (let j = 0; j < 8; j++) for (let c = 0; c < 2; c++) out.push(x![b * 24 + (i >> 1) * 8 + (j >> 1) * 2 + c]!);
        return out;
      },
    );
    await check(
      [
        {
          name: "r",
          inputs: ["x"],
          type: "resize",
          outShape: [2, 3, 3],
          scales: [0.5, 0.6, 1],
          coordinateMode: "half_pixel",
          nearestMode: "round_prefer_floor",
        },
      ],
      [{ name: "x", shape: [4, 5, 3] }],
    );
  });

  it("prelu (per channel and shared), logSoftmax, concatAxis", async () => {
    await check([{ name: "p", inputs: ["x"], type: "prelu" }], [{ name: "x", shape: [3, 4, 5] }]);
    await check([{ name: "p", inputs: ["x"], type: "prelu", shared: true }], [{ name: "x", shape: [3, 7] }]);
    await check([{ name: "l", inputs: ["x"], type: "logSoftmax" }], [{ name: "x", shape: [9] }], ([x]) => {
      const out: number[] = [];
      for (let b = 0; b < 2; b++) {
        const row = Array.from(x!.subarray(b * 9, b * 9 + 9));
        const lse = Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
        out.push(...row.map((v) => v - lse));
      }
      return out;
    });
    await check(
      [{ name: "c", inputs: ["a", "b"], type: "concatAxis", axis: 0 }],
      [
        { name: "a", shape: [3, 4] },
        { name: "b", shape: [2, 4] },
      ],
      ([a, b]) => {
        const out: number[] = [];
        for (let n = 0; n < 2; n++) out.push(...a!.subarray(n * 12, n * 12 + 12), ...b!.subarray(n * 8, n * 8 + 8));
        return out;
      },
    );
  });
});
