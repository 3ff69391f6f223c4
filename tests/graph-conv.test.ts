// The graph runtime's Conv, ConvTranspose and their gradient ops on the conv algorithm registry
// (src/ops/conv2d_algorithms.ts): each node runs the algorithm the registry chooses for its shapes
// on the plan's workspace, so a session run or a training step allocates nothing; the bits equal
// the functional conv2d's (same algorithm); a 2-thread engine computes one thread's bits. A 3-D
// Conv (per depth plane, 2-D convs summed) matches onnxruntime-node.
import { describe, expect, it, type MockInstance, vi } from "vitest";
import type { Engine } from "../src/engine.js";
import { InferenceSession } from "../src/graph/session.js";
import * as nn from "../src/index.js";
import { AttributeType, type AttributeProto, DataType, encodeModel, type NodeProto, type TensorProto } from "../src/onnx/onnx-proto.js";
import { conv2d, conv2dAlgorithms, type Conv2dOptions, convTranspose2d, convTranspose2dWorkspaceBytes } from "../src/ops/conv2d.js";
import { expectMatchesOrt, modelBytes, node as modelNode, tensor as modelTensor } from "./graph-models.js";
import { BUILDS_UNDER_TEST, engineFor, THREADS_BUILDS_UNDER_TEST, uniform } from "./harness.js";
import { modelProto } from "./model-proto.js";

const ints = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: v });
const int = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.INT, i: v });

interface ConvCase {
  name: string;
  /** ONNX weights [O, I/group, KH, KW]. */
  w: [number, number, number, number];
  attrs: { pads?: number[]; strides?: number[]; group?: number };
  bias: boolean;
}

/** Convs of one input x [N, 64, 8, 8], each a graph output: between them several registry entries. */
const CASES: ConvCase[] = [
  { name: "pointwise", w: [32, 64, 1, 1], attrs: {}, bias: true },
  { name: "3x3", w: [16, 64, 3, 3], attrs: { pads: [1, 1, 1, 1] }, bias: true },
  { name: "two_groups", w: [64, 32, 3, 3], attrs: { pads: [1, 1, 1, 1], group: 2 }, bias: false },
  { name: "eight_groups", w: [64, 8, 3, 3], attrs: { pads: [1, 1, 1, 1], group: 8 }, bias: true },
  { name: "depthwise", w: [64, 1, 3, 3], attrs: { pads: [1, 1, 1, 1], group: 64 }, bias: true },
  { name: "strided", w: [24, 64, 3, 3], attrs: { pads: [0, 1, 1, 0], strides: [2, 2] }, bias: false },
  { name: "5x5", w: [8, 64, 5, 5], attrs: {}, bias: true },
];
const X: [number, number, number, number] = [2, 64, 8, 8];

function attributes(c: ConvCase): AttributeProto[] {
  const a: AttributeProto[] = [];
  if (c.attrs.pads) a.push(ints("pads", c.attrs.pads));
  if (c.attrs.strides) a.push(ints("strides", c.attrs.strides));
  if (c.attrs.group) a.push(int("group", c.attrs.group));
  return a;
}

const floats = (name: string, dims: number[], data: Float32Array): TensorProto => ({ name, dims, dataType: DataType.FLOAT, data });

function model(nodes: NodeProto[], inits: TensorProto[], outputs: string[], x: number[] = X): Uint8Array {
  return encodeModel(modelProto({ nodes, inits, inputs: [["x", x]], outputs }));
}

const weightsOf = (c: ConvCase, i: number) =>
  uniform(
    c.w.reduce((a, d) => a * d, 1),
    100 + i,
    -0.2,
    0.2,
  );
const biasOf = (c: ConvCase, i: number) => uniform(c.w[0], 200 + i);

function convModel(): Uint8Array {
  const nodes: NodeProto[] = [],
    inits: TensorProto[] = [];
  CASES.forEach((c, i) => {
    const inputs = ["x", `w_${c.name}`];
    inits.push(floats(`w_${c.name}`, c.w, weightsOf(c, i)));
    if (c.bias) {
      inputs.push(`b_${c.name}`);
      inits.push(floats(`b_${c.name}`, [c.w[0]], biasOf(c, i)));
    }
    nodes.push({ name: c.name, opType: "Conv", domain: "", input: inputs, output: [c.name], attribute: attributes(c) });
  });
  return model(
    nodes,
    inits,
    CASES.map((c) => c.name),
  );
}

/** NCHW <-> NHWC of a float array; [O, I, KH, KW] -> [KH, KW, I, O]. */
function toNhwc(a: Float32Array, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(a.length);
  for (let b = 0; b < n!; b++)
    for (let ch = 0; ch < c!; ch++)
      for (let y = 0; y < h!; y++) for (let x = 0; x < w!; x++) out[((b * h! + y) * w! + x) * c! + ch] = a[((b * c! + ch) * h! + y) * w! + x]!;
  return out;
}
function toNchw(a: Float32Array, [n, h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(a.length);
  for (let b = 0; b < n!; b++)
    for (let ch = 0; ch < c!; ch++)
      for (let y = 0; y < h!; y++) for (let x = 0; x < w!; x++) out[((b * c! + ch) * h! + y) * w! + x] = a[((b * h! + y) * w! + x) * c! + ch]!;
  return out;
}
function toKkio(a: Float32Array, [o, i, kh, kw]: readonly number[]): Float32Array {
  const out = new Float32Array(a.length);
  for (let p = 0; p < o!; p++)
    for (let q = 0; q < i!; q++)
      for (let y = 0; y < kh!; y++) for (let x = 0; x < kw!; x++) out[((y * kw! + x) * i! + q) * o! + p] = a[((p * i! + q) * kh! + y) * kw! + x]!;
  return out;
}

const optionsOf = (c: ConvCase): Conv2dOptions => ({
  pads: c.attrs.pads ? [c.attrs.pads[0]!, c.attrs.pads[1]!, c.attrs.pads[2]!, c.attrs.pads[3]!] : 0,
  strides: c.attrs.strides ? [c.attrs.strides[0]!, c.attrs.strides[1]!] : 1,
  groups: c.attrs.group ?? 1,
});

const bits = (a: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(a).buffer));

describe.each(BUILDS_UNDER_TEST)("Conv in a session (%s build)", (build) => {
  it("runs the registry's choice on the plan's workspace, allocates nothing per run, and computes conv2d's bits", async () => {
    const e = await engineFor(build);
    const s = InferenceSession.fromBytes(e, convModel());
    const report = s.planReport({ x: X });
    const xNhwc = [X[0], X[2], X[3], X[1]];
    const names = new Set<string>();
    CASES.forEach((c) => {
      const step = report.steps.find((st) => st.where.endsWith(`"${c.name}" (Conv)`));
      expect(step, c.name).toBeDefined();
      const wShape = [c.w[2], c.w[3], c.w[1], c.w[0]];
      const chosen = conv2dAlgorithms(e, xNhwc, wShape, optionsOf(c)).find((a) => a.chosen)!;
      expect(step!.algorithm, c.name).toBe(chosen.name);
      names.add(chosen.name);
    });
    // the cases reach gemm_tap, group_slices, depthwise and direct in every build, and more with SIMD
    for (const n of ["conv2d.gemm_tap", "conv2d.group_slices", "conv2d.depthwise", "conv2d.direct"]) expect(names).toContain(n);
    expect(names.size).toBeGreaterThanOrEqual(build === "scalar" ? 5 : 6);
    expect(report.workspaceBytes).toBeGreaterThan(0);

    const x = uniform(
      X.reduce((a, d) => a * d, 1),
      7,
    );
    const first = s.runSync({ x: { dims: X, data: x } });
    const before = e.heap.allocationCount;
    const again = s.runSync({ x: { dims: X, data: x } });
    expect(e.heap.allocationCount - before, "a second run allocates nothing").toBe(0);

    const xt = e.tensor(xNhwc, toNhwc(x, X));
    CASES.forEach((c, i) => {
      const wt = e.tensor([c.w[2], c.w[3], c.w[1], c.w[0]], toKkio(weightsOf(c, i), c.w));
      const bt = c.bias ? e.tensor([c.w[0]], biasOf(c, i)) : null;
      const y = conv2d(xt, wt, bt, optionsOf(c));
      const want = toNchw(y.toArray() as Float32Array, y.shape);
      expect(again[c.name]!.dims, c.name).toEqual([y.shape[0], y.shape[3], y.shape[1], y.shape[2]]);
      expect(bits(again[c.name]!.data as Float32Array), c.name).toEqual(bits(want));
      expect(bits(first[c.name]!.data as Float32Array), c.name).toEqual(bits(want));
      for (const t of [wt, bt, y]) t?.dispose();
    });
    xt.dispose();
    await s.release();
  });

  it("ConvTranspose and a 1-D Conv: registry workspaces, convTranspose2d's bits", async () => {
    const e = await engineFor(build);
    // x [1, 8, 5, 5] -> ConvTranspose 3x3 stride 2 (8 -> 4 channels, bias); x1 [1, 8, 5*5] 1-D conv k3
    const wt = uniform(8 * 4 * 9, 31, -0.3, 0.3),
      bt = uniform(4, 32),
      w1 = uniform(6 * 8 * 3, 33, -0.3, 0.3);
    const bytes = model(
      [
        {
          name: "t",
          opType: "ConvTranspose",
          domain: "",
          input: ["x", "wt", "bt"],
          output: ["t"],
          attribute: [ints("strides", [2, 2]), ints("pads", [1, 0, 0, 1])],
        },
        { name: "r", opType: "Reshape", domain: "", input: ["x", "shape"], output: ["x1"], attribute: [] },
        { name: "c1", opType: "Conv", domain: "", input: ["x1", "w1"], output: ["c1"], attribute: [ints("pads", [1, 1])] },
      ],
      [
        floats("wt", [8, 4, 3, 3], wt),
        floats("bt", [4], bt),
        floats("w1", [6, 8, 3], w1),
        { name: "shape", dims: [3], dataType: DataType.INT64, data: Float64Array.from([1, 8, 25]) },
      ],
      ["t", "c1"],
      [1, 8, 5, 5],
    );
    const s = InferenceSession.fromBytes(e, bytes);
    const x = uniform(8 * 25, 34);
    s.runSync({ x: { dims: [1, 8, 5, 5], data: x } });
    const before = e.heap.allocationCount;
    const out = s.runSync({ x: { dims: [1, 8, 5, 5], data: x } });
    expect(e.heap.allocationCount - before).toBe(0);
    const report = s.planReport({ x: [1, 8, 5, 5] });
    const opts = { strides: [2, 2] as [number, number], pads: [1, 0, 0, 1] as [number, number, number, number] };
    expect(report.workspaceBytes).toBeGreaterThanOrEqual(convTranspose2dWorkspaceBytes(e, [1, 5, 5, 8], [3, 3, 4, 8], opts, ["forward"]));
    const xt = e.tensor([1, 5, 5, 8], toNhwc(x, [1, 8, 5, 5])),
      wtt = e.tensor([3, 3, 4, 8], toKkio(wt, [8, 4, 3, 3])),
      btt = e.tensor([4], bt);
    const y = convTranspose2d(xt, wtt, btt, opts);
    expect(out.t!.dims).toEqual([1, 4, y.shape[1], y.shape[2]]);
    expect(bits(out.t!.data as Float32Array)).toEqual(bits(toNchw(y.toArray() as Float32Array, y.shape)));
    const x1 = e.tensor([1, 1, 25, 8], toNhwc(x, [1, 8, 1, 25])),
      w1t = e.tensor([1, 3, 8, 6], toKkio(w1, [6, 8, 1, 3]));
    const y1 = conv2d(x1, w1t, null, { pads: [0, 1, 0, 1] });
    expect(out.c1!.dims).toEqual([1, 6, 25]);
    expect(bits(out.c1!.data as Float32Array)).toEqual(bits(toNchw(y1.toArray() as Float32Array, y1.shape)));
    for (const t of [xt, wtt, btt, y, x1, w1t, y1]) t.dispose();
    await s.release();
  });

  it("a training step through the conv gradient ops allocates nothing after the first", async () => {
    const e = await engineFor(build);
    const s = InferenceSession.fromBytes(e, convModel());
    const t = s.trainable();
    const x = uniform(
      X.reduce((a, d) => a * d, 1),
      8,
    );
    const step = () => {
      t.zeroGrads();
      const ys = t.forward({ x: { dims: X, data: x } });
      const grads: Record<string, Float32Array> = {};
      for (const c of CASES) grads[c.name] = uniform((ys[c.name]!.data as Float32Array).length, 9);
      t.backward(grads);
    };
    step();
    const plan = s.planReport({ x: X });
    expect(plan.steps.length).toBeGreaterThan(0);
    const before = e.heap.allocationCount;
    step();
    expect(e.heap.allocationCount - before, "a second step allocates nothing").toBe(0);
    t.release();
    await s.release();
  });
});

/**
 * Runs `check` on a one-thread engine and a two-thread engine of `build` that splits every call
 * (minParallelWork 0), with a spy on the latter's `parallel`; disposes both.
 */
async function withOneAndTwoThreads(
  build: (typeof THREADS_BUILDS_UNDER_TEST)[number],
  check: (one: Engine, two: Engine, parallel: MockInstance<Engine["parallel"]>) => void | Promise<void>,
): Promise<void> {
  const one = await nn.init({ build });
  const two = await nn.init({ build, threads: 2 });
  try {
    two.minParallelWork = 0;
    await check(one, two, vi.spyOn(two, "parallel"));
  } finally {
    one.dispose();
    two.dispose();
  }
}

describe.each(THREADS_BUILDS_UNDER_TEST)("Conv in a session on 2 threads (%s build)", (build) => {
  it("computes one thread's bits, forward and gradients, with every conv split", async () => {
    const run = async (e: Engine) => {
      const s = InferenceSession.fromBytes(e, convModel());
      const t = s.trainable();
      const x = uniform(
        X.reduce((a, d) => a * d, 1),
        10,
      );
      t.zeroGrads();
      const ys = t.forward({ x: { dims: X, data: x } });
      const grads: Record<string, Float32Array> = {};
      for (const c of CASES) grads[c.name] = uniform((ys[c.name]!.data as Float32Array).length, 11);
      t.backward(grads);
      const out = [...CASES.map((c) => bits(ys[c.name]!.data as Float32Array)), ...t.parameters().map((p) => bits(p.grad.toArray()))];
      t.release();
      await s.release();
      return out;
    };
    await withOneAndTwoThreads(build, async (one, two, spy) => {
      expect([one.build, two.build, two.threads]).toEqual([build, build, 2]);
      expect(await run(two)).toEqual(await run(one));
      expect(
        spy.mock.calls.some(([kernel]) => kernel === "bias_f32_forward"),
        "the biases are added split over the threads",
      ).toBe(true);
    });
  }, 120_000);
});

describe.each(THREADS_BUILDS_UNDER_TEST)("Relu in a session on 2 threads (%s build)", (build) => {
  it("splits a large map over the threads and computes one thread's bits", async () => {
    const shape = [1, 40, 33, 65]; // 85,800 floats: not a multiple of the 16-float split unit
    const bytes = model([{ name: "relu", opType: "Relu", domain: "", input: ["x"], output: ["y"], attribute: [] }], [], ["y"], shape);
    const x = uniform(40 * 33 * 65, 51, -1, 1);
    x[7] = Number.NaN;
    x[8] = -0;
    const run = (e: Engine) => {
      const s = InferenceSession.fromBytes(e, bytes);
      const y = bits(s.runSync({ x: { dims: shape, data: x } }).y!.data as Float32Array);
      s.release();
      return y;
    };
    await withOneAndTwoThreads(build, (one, two, spy) => {
      expect(run(two)).toEqual(run(one));
      const calls = spy.mock.calls.filter(([kernel]) => kernel === "relu_f32_forward");
      expect(calls).toHaveLength(1);
      expect(calls[0]![1].length).toBeGreaterThan(1);
    });
  });
});

describe.each(BUILDS_UNDER_TEST)("LRN, pooling, Gemm in a session (%s build)", (build) => {
  it("a run and a training step allocate nothing after the first: their scratch is the plan's workspace", async () => {
    const e = await engineFor(build);
    // x [4, 512, 3, 3] -> LRN -> MaxPool 3x3 pad 1 (the general kernel, with an arg-max) -> GlobalMaxPool
    // -> Flatten -> Gemm (transB) [4, 10]: its weight gradient is a product of A^T with 512 rows
    const shape = [4, 512, 3, 3];
    const bytes = model(
      [
        { name: "lrn", opType: "LRN", domain: "", input: ["x"], output: ["l"], attribute: [int("size", 5)] },
        { name: "pool", opType: "MaxPool", domain: "", input: ["l"], output: ["p"], attribute: [ints("kernel_shape", [3, 3]), ints("pads", [1, 1, 1, 1])] },
        { name: "gmax", opType: "GlobalMaxPool", domain: "", input: ["p"], output: ["g"], attribute: [] },
        { name: "flat", opType: "Flatten", domain: "", input: ["g"], output: ["f"], attribute: [] },
        { name: "fc", opType: "Gemm", domain: "", input: ["f", "w", "b"], output: ["y"], attribute: [int("transB", 1)] },
      ],
      [floats("w", [10, 512], uniform(5120, 41, -0.1, 0.1)), floats("b", [10], uniform(10, 42))],
      ["y"],
      shape,
    );
    const s = InferenceSession.fromBytes(e, bytes);
    const x = uniform(4 * 512 * 9, 43);
    const first = s.runSync({ x: { dims: shape, data: x } }).y!;
    let before = e.heap.allocationCount;
    const again = s.runSync({ x: { dims: shape, data: x } }).y!;
    expect(e.heap.allocationCount - before, "a second run allocates nothing").toBe(0);
    expect(bits(again.data as Float32Array)).toEqual(bits(first.data as Float32Array));
    const t = s.trainable();
    const step = () => {
      t.zeroGrads();
      t.forward({ x: { dims: shape, data: x } });
      t.backward({ y: uniform(40, 44) });
    };
    step();
    before = e.heap.allocationCount;
    step();
    expect(e.heap.allocationCount - before, "a second training step allocates nothing").toBe(0);
    t.release();
    await s.release();
  });
});

describe.each(BUILDS_UNDER_TEST)("3-D Conv vs onnxruntime-node (%s build)", (build) => {
  // [label, x [N, C, D, H, W], w [O, C/group, KD, KH, KW], attributes]: depth strides, pads,
  // dilations, groups, SAME padding, and output planes no tap reaches (zero + bias)
  const cases: [string, number[], number[], AttributeProto[]][] = [
    ["3x3x3 pad 1", [1, 4, 5, 6, 7], [6, 4, 3, 3, 3], [ints("pads", [1, 1, 1, 1, 1, 1])]],
    ["16 channels, batch 2", [2, 16, 4, 5, 5], [16, 16, 3, 3, 3], [ints("pads", [1, 1, 1, 1, 1, 1])]],
    ["strided, asymmetric pads", [1, 3, 7, 9, 8], [5, 3, 3, 3, 2], [ints("strides", [2, 2, 1]), ints("pads", [0, 1, 2, 1, 0, 1])]],
    ["dilated depth, 2 groups", [1, 8, 6, 5, 5], [4, 4, 2, 3, 3], [ints("dilations", [2, 1, 1]), int("group", 2), ints("pads", [1, 1, 1, 1, 1, 1])]],
    ["SAME_UPPER, stride 2", [1, 3, 5, 6, 6], [4, 3, 2, 2, 2], [{ name: "auto_pad", type: AttributeType.STRING, s: "SAME_UPPER" }, ints("strides", [2, 2, 2])]],
    ["planes outside every tap", [1, 2, 1, 4, 4], [3, 2, 2, 1, 1], [ints("dilations", [3, 1, 1]), ints("pads", [3, 0, 0, 3, 0, 0])]],
  ];
  it.each(cases)("%s", async (label, xShape, wShape, attrs) => {
    const e = await engineFor(build);
    const count = (s: number[]) => s.reduce((a, b) => a * b, 1);
    await expectMatchesOrt(
      e,
      {
        // Conv -> Relu: the channels-last output feeds another op before it returns to NCDHW
        nodes: [modelNode("Conv", ["x", "w", "b"], ["c"], attrs), modelNode("Relu", ["c"], ["y"])],
        inits: [modelTensor("w", wShape, uniform(count(wShape), 5, -0.5, 0.5)), modelTensor("b", [wShape[0]!], uniform(wShape[0]!, 6))],
        inputs: [["x", xShape]],
        outputs: ["y", "c"],
      },
      { x: { dims: xShape, data: uniform(count(xShape), 7, -1, 1) } },
      { rtol: 1e-5, atol: 1e-5, label },
    );
  });
});

describe.each(BUILDS_UNDER_TEST)("3-D MaxPool and AveragePool vs onnxruntime-node (%s build)", (build) => {
  const str = (name: string, v: string): AttributeProto => ({ name, type: AttributeType.STRING, s: v });
  // [label, op, x [N, C, D, H, W], attributes]: S3D's pools, strides, pads, ceil mode, dilations,
  // padding counted or not, SAME padding
  const cases: [string, string, number[], AttributeProto[]][] = [
    ["max 1x3x3 s(1,2,2)", "MaxPool", [1, 6, 4, 9, 9], [ints("kernel_shape", [1, 3, 3]), ints("strides", [1, 2, 2]), ints("pads", [0, 1, 1, 0, 1, 1])]],
    ["max 3x3x3 s2 ceil", "MaxPool", [2, 5, 7, 6, 8], [ints("kernel_shape", [3, 3, 3]), ints("strides", [2, 2, 2]), int("ceil_mode", 1)]],
    ["max dilated depth", "MaxPool", [1, 3, 8, 5, 5], [ints("kernel_shape", [2, 2, 2]), ints("dilations", [3, 1, 1]), ints("pads", [1, 0, 0, 1, 1, 0])]],
    ["max SAME_UPPER", "MaxPool", [1, 4, 5, 7, 6], [ints("kernel_shape", [2, 3, 2]), ints("strides", [2, 2, 2]), str("auto_pad", "SAME_UPPER")]],
    ["avg 2x7x7 (S3D head)", "AveragePool", [1, 16, 2, 7, 7], [ints("kernel_shape", [2, 7, 7])]],
    [
      "avg pads counted",
      "AveragePool",
      [1, 3, 5, 6, 7],
      [ints("kernel_shape", [3, 3, 3]), ints("strides", [2, 2, 2]), ints("pads", [1, 1, 1, 1, 1, 1]), int("count_include_pad", 1)],
    ],
    ["avg pads not counted", "AveragePool", [1, 3, 5, 6, 7], [ints("kernel_shape", [3, 3, 3]), ints("strides", [2, 2, 2]), ints("pads", [1, 1, 1, 1, 1, 1])]],
    ["avg ceil", "AveragePool", [1, 9, 6, 7, 5], [ints("kernel_shape", [2, 3, 2]), ints("strides", [2, 2, 2]), int("ceil_mode", 1)]],
  ];
  it.each(cases)("%s", async (label, op, xShape, attrs) => {
    const e = await engineFor(build);
    const C = xShape[1]!;
    const count = (s: number[]) => s.reduce((a, b) => a * b, 1);
    // straight from the input, and after a 1x1x1 Conv (a channels-last value)
    for (const conv of [false, true])
      await expectMatchesOrt(
        e,
        {
          nodes: [...(conv ? [modelNode("Conv", ["x", "w"], ["c"])] : []), modelNode(op, [conv ? "c" : "x"], ["y"], attrs)],
          inits: conv ? [modelTensor("w", [C, C, 1, 1, 1], uniform(C * C, 4, -1, 1))] : [],
          inputs: [["x", xShape]],
          outputs: ["y"],
          opset: 19,
        },
        { x: { dims: xShape, data: uniform(count(xShape), 7, -3, 3) } },
        { rtol: 1e-5, atol: 1e-5, label: `${label} conv=${conv}` },
      );
  });
});

describe.each(BUILDS_UNDER_TEST)("3-D ConvTranspose vs onnxruntime-node (%s build)", (build) => {
  // [label, x [N, C, D, H, W], w [C, O/group, KD, KH, KW], attributes]
  const cases: [string, number[], number[], AttributeProto[]][] = [
    ["2x2x2 stride 2 (UNet)", [1, 16, 3, 4, 5], [16, 8, 2, 2, 2], [ints("strides", [2, 2, 2])]],
    [
      "3x3x3 s2 p1 output_padding 1",
      [2, 4, 3, 3, 4],
      [4, 3, 3, 3, 3],
      [ints("strides", [2, 2, 2]), ints("pads", [1, 1, 1, 1, 1, 1]), ints("output_padding", [1, 1, 1])],
    ],
    [
      "dilated depth, 2 groups, cropping pads",
      [1, 6, 4, 3, 3],
      [6, 2, 2, 3, 3],
      [ints("dilations", [3, 1, 1]), int("group", 2), ints("pads", [2, 0, 1, 1, 1, 0])],
    ],
  ];
  it.each(cases)("%s", async (label, xShape, wShape, attrs) => {
    const e = await engineFor(build);
    const count = (s: number[]) => s.reduce((a, b) => a * b, 1);
    const O = wShape[1]! * ((attrs.find((a) => a.name === "group")?.i as number | undefined) ?? 1);
    await expectMatchesOrt(
      e,
      {
        nodes: [modelNode("ConvTranspose", ["x", "w", "b"], ["c"], attrs), modelNode("Relu", ["c"], ["y"])],
        inits: [modelTensor("w", wShape, uniform(count(wShape), 5, -0.5, 0.5)), modelTensor("b", [O], uniform(O, 6))],
        inputs: [["x", xShape]],
        outputs: ["y", "c"],
      },
      { x: { dims: xShape, data: uniform(count(xShape), 7, -1, 1) } },
      { rtol: 1e-5, atol: 1e-5, label },
    );
  });
});

describe("3-D convolutions and pools are inference-only", () => {
  it.each([
    ["Conv", [modelNode("Conv", ["x", "w"], ["y"])], [2, 2, 1, 1, 1]],
    ["MaxPool", [modelNode("Conv", ["x", "w"], ["c"]), modelNode("MaxPool", ["c"], ["y"], [ints("kernel_shape", [2, 2, 2])])], [2, 2, 1, 1, 1]],
  ] as const)("training through a 3-D %s is refused by name", async (op, nodes, wShape) => {
    const e = await engineFor("scalar");
    const s = InferenceSession.fromBytes(
      e,
      modelBytes({ nodes: [...nodes], inits: [modelTensor("w", [...wShape], uniform(4, 3))], inputs: [["x", [1, 2, 2, 2, 2]]], outputs: ["y"] }),
    );
    try {
      expect(() => s.trainable().forward({ x: { dims: [1, 2, 2, 2, 2], data: uniform(16, 4) } })).toThrow(new RegExp(`a 3-D ${op} has no gradient yet`));
    } finally {
      await s.release();
    }
  });
});
