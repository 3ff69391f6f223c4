// The element-wise ops' gradients (ops/elementwise.ts, ops/activation.ts: BinaryGrad, WhereGrad,
// UnaryGrad, ClipGrad) through TrainableSession, against central differences of the session's own
// forward, in every build: operands as parameters broadcast against each other, per-channel
// parameters against NHWC conv outputs, variadic ops, every unary op and activation.
import { describe, expect, it } from "vitest";
import { InferenceSession } from "../src/graph/session.js";
import { AttributeType, type AttributeProto, DataType, encodeModel, type NodeProto, type TensorProto } from "../src/onnx/onnx-proto.js";
import { BUILDS_UNDER_TEST, engineFor, rng, uniform } from "./harness.js";
import { modelProto } from "./model-proto.js";

const node = (opType: string, input: string[], output: string, attribute: AttributeProto[] = []): NodeProto => ({
  name: output,
  opType,
  domain: "",
  input,
  output: [output],
  attribute,
});
const float = (name: string, f: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f });
const int = (name: string, i: number): AttributeProto => ({ name, type: AttributeType.INT, i });
const str = (name: string, s: string): AttributeProto => ({ name, type: AttributeType.STRING, s });
const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
/** A float initializer of `dims` uniform in [lo, hi), kept at least 0.1 away from 0 (kinks of relu-like ops). */
const param = (name: string, dims: number[], seed: number, lo = -1, hi = 1, avoid = [0]): TensorProto => ({
  name,
  dims,
  dataType: DataType.FLOAT,
  data: uniform(size(dims), seed, lo, hi).map((v) => {
    for (const k of avoid) if (Math.abs(v - k) < 0.1) return v + 0.2;
    return v;
  }),
});

/**
 * 1x1 conv weights [OC, C, 1, 1] whose sign is the output channel's (alternating), magnitude in
 * [0.2, 1): with inputs in [0.5, 1.5] every conv output stays 0.1 or more away from 0, so the
 * differences never step over PRelu's kink.
 */
const signedWeights = (name: string, dims: number[], seed: number): TensorProto => ({
  name,
  dims,
  dataType: DataType.FLOAT,
  data: uniform(size(dims), seed, 0.2, 1).map((v, i) => (Math.floor(i / (dims[1]! * dims[2]! * dims[3]!)) % 2 ? -v : v)),
});

/** y = op graph on parameters, times the input x (so the loss reads every element through a Mul). */
function model(nodes: NodeProto[], inits: TensorProto[], out: string, outDims: number[], opset = 18, extraInputs: [string, number[]][] = []): Uint8Array {
  return encodeModel(modelProto({ nodes: [...nodes, node("Mul", [out, "x"], "y")], inits, inputs: [["x", outDims], ...extraInputs], outputs: ["y"], opset }));
}

/** Every parameter's gradient from TrainableSession against central differences of its forward. */
async function check(build: (typeof BUILDS_UNDER_TEST)[number], bytes: Uint8Array, feeds: Record<string, number[]>, expectParams: string[], label: string) {
  const e = await engineFor(build);
  const s = InferenceSession.fromBytes(e, bytes);
  const t = s.trainable();
  expect(
    t
      .parameters()
      .map((p) => p.name)
      .sort(),
    label,
  ).toEqual([...expectParams].sort());
  const f = Object.fromEntries(Object.entries(feeds).map(([k, dims]) => [k, { dims, data: uniform(size(dims), 91, 0.5, 1.5) }]));
  const n = size(feeds.x!);
  const G = uniform(n, 92, -1, 1);
  const loss = () => {
    const y = t.forward(f).y!.data as Float32Array;
    let l = 0;
    for (let i = 0; i < y.length; i++) l += y[i]! * G[i]!;
    return l;
  };
  t.zeroGrads();
  loss();
  t.backward({ y: G });
  const r = rng(93);
  for (const p of t.parameters()) {
    const analytic = p.grad.data.slice();
    const v = p.value.data;
    for (let k = 0; k < Math.min(8, v.length); k++) {
      const i = v.length <= 8 ? k : Math.floor(r() * v.length);
      const h = 1e-2 * Math.max(1, Math.abs(v[i]!));
      const keep = v[i]!;
      p.value.data[i] = keep + h;
      const up = loss();
      p.value.data[i] = keep - h;
      const down = loss();
      p.value.data[i] = keep;
      const numeric = (up - down) / (2 * h);
      expect(Math.abs(analytic[i]! - numeric), `${label}: ${p.name}[${i}] analytic ${analytic[i]} numeric ${numeric}`).toBeLessThan(
        2e-2 * Math.max(1, Math.abs(numeric)),
      );
    }
  }
  t.release();
  await s.release();
}

describe.each(BUILDS_UNDER_TEST)("element-wise gradients in training plans (%s)", (build) => {
  it.each(["Add", "Sub", "Mul", "Div", "Pow"])("%s: both operands, one broadcast against the other", async (op) => {
    const positive = op === "Pow" || op === "Div";
    const a = param("a", [2, 3, 4], 1, positive ? 0.5 : -1, 1.5),
      b = param("b", [3, 1], 2, positive ? 0.5 : -1, positive ? 1.5 : 1);
    await check(build, model([node(op, ["a", "b"], "t")], [a, b], "t", [2, 3, 4]), { x: [2, 3, 4] }, ["a", "b"], op);
  });

  it.each([
    ["Add", [5, 1, 1]],
    ["Mul", [1, 5, 1, 1]],
    ["Sub", [5, 1, 1]],
    ["Div", [5, 1, 1]],
    ["PRelu", [5, 1, 1]],
    ["Max", [1, 5, 1, 1]],
  ] as const)("%s of an NHWC conv output and a per-channel parameter %j", async (op, sDims) => {
    const w = signedWeights("w", [5, 3, 1, 1], 3),
      s = param("s", [...sDims], 4, op === "Div" ? 0.5 : -1, 1.5);
    const bytes = model([node("Conv", ["inp", "w"], "c"), node(op, ["c", "s"], "t")], [w, s], "t", [2, 5, 3, 4], 18, [["inp", [2, 3, 3, 4]]]);
    await check(build, bytes, { x: [2, 5, 3, 4], inp: [2, 3, 3, 4] }, ["w", "s"], op);
  });

  it("PRelu's opset-6 per-channel slope [C]", async () => {
    const bytes = model(
      [node("Conv", ["inp", "w"], "c"), node("PRelu", ["c", "s"], "t")],
      [signedWeights("w", [4, 2, 1, 1], 5), param("s", [4], 6)],
      "t",
      [2, 4, 3, 3],
      6,
      [["inp", [2, 2, 3, 3]]],
    );
    await check(build, bytes, { x: [2, 4, 3, 3], inp: [2, 2, 3, 3] }, ["w", "s"], "PRelu opset 6");
  });

  it("Where: each branch gets dy where the condition selects it, summed over its broadcast axes", async () => {
    const cond: TensorProto = { name: "cond", dims: [3, 1], dataType: DataType.BOOL, data: Float64Array.of(1, 0, 1) };
    const bytes = model([node("Where", ["cond", "a", "b"], "t")], [cond, param("a", [3, 4], 7), param("b", [4], 8)], "t", [3, 4]);
    await check(build, bytes, { x: [3, 4] }, ["a", "b"], "Where");
  });

  it.each(["Sum", "Mean", "Max", "Min"])("%s of three parameters of different shapes", async (op) => {
    const bytes = model([node(op, ["a", "b", "c"], "t")], [param("a", [3, 4], 9), param("b", [4], 10), param("c", [3, 1], 11)], "t", [3, 4]);
    await check(build, bytes, { x: [3, 4] }, ["a", "b", "c"], op);
  });

  const UNARY: [string, AttributeProto[], number, number, number?, number[]?][] = [
    ["Abs", [], -2, 2],
    ["Neg", [], -2, 2],
    ["Sqrt", [], 0.5, 3],
    ["Exp", [], -2, 2],
    ["Log", [], 0.5, 3],
    ["Reciprocal", [], 0.5, 3],
    ["Erf", [], -2, 2],
    ["Sin", [], -3, 3],
    ["Cos", [], -3, 3],
    ["HardSigmoid", [float("alpha", 0.3), float("beta", 0.4)], -4, 4, 18, [-4 / 3, 2]],
    ["HardSwish", [], -4, 4, 18, [-3, 3]],
    ["Elu", [float("alpha", 0.5)], -2, 2],
    ["Selu", [], -2, 2],
    ["Celu", [float("alpha", 1.5)], -2, 2],
    ["Gelu", [], -3, 3, 20],
    ["Gelu", [str("approximate", "tanh")], -3, 3, 20],
    ["Mish", [], -3, 3],
    ["Softplus", [], -3, 3],
    ["Softsign", [], -3, 3],
    ["ThresholdedRelu", [float("alpha", 0.3)], -1, 1, 18, [0.3]],
    ["Clip", [float("min", -0.5), float("max", 0.5)], -1, 1, 6, [-0.5, 0.5]],
  ];
  it.each(UNARY)("%s %j", async (op, attrs, lo, hi, opset, kinks) => {
    const bytes = model([node(op, ["a"], "t", attrs)], [param("a", [2, 3, 4], 12, lo, hi, kinks ?? [0])], "t", [2, 3, 4], opset ?? 18);
    await check(build, bytes, { x: [2, 3, 4] }, ["a"], op);
  });

  it("Clip with constant bounds as inputs, and a Cast to float16 and back (the gradient passes)", async () => {
    const lo: TensorProto = { name: "lo", dims: [], dataType: DataType.FLOAT, data: Float32Array.of(-0.45) };
    const hi: TensorProto = { name: "hi", dims: [], dataType: DataType.FLOAT, data: Float32Array.of(0.55) };
    const bytes = model(
      [node("Clip", ["a", "lo", "hi"], "c"), node("Cast", ["c"], "h", [int("to", DataType.FLOAT16)]), node("Cast", ["h"], "t", [int("to", DataType.FLOAT)])],
      [param("a", [3, 5], 13, -1, 1, [-0.45, 0.55]), lo, hi],
      "t",
      [3, 5],
    );
    await check(build, bytes, { x: [3, 5] }, ["a"], "Clip inputs + Cast");
  });
});
