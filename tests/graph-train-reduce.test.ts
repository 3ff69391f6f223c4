// Gradients of the reductions, the softmax family along any axis, broadcasting MatMul and the
// normalisations through the planned runtime (TrainableSession): every element of every parameter
// against central finite differences of the same session's forward, in every build.
import { describe, expect, it } from "vitest";
import { InferenceSession } from "../src/graph/session.js";
import { AttributeType, type AttributeProto, DataType, encodeModel, type NodeProto, type TensorProto } from "../src/onnx/onnx-proto.js";
import { BUILDS_UNDER_TEST, engineFor, uniform } from "./harness.js";
import { modelProto } from "./model-proto.js";

const node = (opType: string, input: string[], output: string[], attribute: AttributeProto[] = []): NodeProto => ({
  name: output[0]!,
  opType,
  domain: "",
  input,
  output,
  attribute,
});
const ints = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: v });
const int = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.INT, i: v });
const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
const floats = (name: string, dims: number[], seed: number, lo = -0.5, hi = 0.5): TensorProto => ({
  name,
  dims,
  dataType: DataType.FLOAT,
  data: uniform(size(dims), seed, lo, hi),
});

function model(nodes: NodeProto[], inits: TensorProto[], input: [string, number[]], output: string): Uint8Array {
  return encodeModel(modelProto({ nodes, inits, inputs: [input], outputs: [output] }));
}

const reduce = (type: string, x: string, y: string, axes: number[], keepdims = 0) => node(type, [x], [y], [ints("axes", axes), int("keepdims", keepdims)]);

/**
 * x [2, 3, 4] through two broadcasting MatMuls (m2 [2, 3, 5]), the op under test (z, last axis 5),
 * then y = z . w3 (1-D B).
 */
const network = (ops: NodeProto[], inits: TensorProto[] = []) =>
  model(
    [
      node("MatMul", ["x", "w1"], ["m1"]), // [2, 3, 4] x [4, 5]: one product
      node("MatMul", ["w2", "m1"], ["m2"]), // [1, 3, 3] x [2, 3, 5]: A broadcast over the batch
      ...ops,
      node("MatMul", ["z", "w3"], ["y"]),
    ],
    [
      floats("w1", [4, 5], 1),
      floats("w2", [1, 3, 3], 2),
      floats("w3", [5], 3),
      { name: "axes1", dims: [1], dataType: DataType.INT64, data: Float64Array.of(1) },
      ...inits,
    ],
    ["x", [2, 3, 4]],
    "y",
  );

const CASES: [string, NodeProto[], TensorProto[]?][] = [
  ["MatMul", [node("Identity", ["m2"], ["z"])]],
  ["Softmax axis 1", [node("Softmax", ["m2"], ["z"], [int("axis", 1)])]],
  ["Softmax axis -1", [node("Softmax", ["m2"], ["z"], [int("axis", -1)])]],
  ["LogSoftmax axis 0", [node("LogSoftmax", ["m2"], ["z"], [int("axis", 0)])]],
  ["LogSoftmax axis 2", [node("LogSoftmax", ["m2"], ["z"], [int("axis", 2)])]],
  ...["ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceProd", "ReduceMean", "ReduceSumSquare"].map((t): [string, NodeProto[]] => [
    t,
    [reduce(t, "m2", "z", [1])],
  ]),
  ["ReduceSum (axes input)", [node("ReduceSum", ["m2", "axes1"], ["z"], [int("keepdims", 0)])]],
  ["ReduceMean keepdims, two axes", [reduce("ReduceMean", "m2", "z", [0, 1], 1)]],
  [
    "LayerNormalization axis -1",
    [node("LayerNormalization", ["m2", "ln_s", "ln_b"], ["z"], [int("axis", -1)])],
    [floats("ln_s", [5], 4, 0.5, 1.5), floats("ln_b", [5], 5)],
  ],
  [
    "InstanceNormalization",
    [node("InstanceNormalization", ["m2", "in_s", "in_b"], ["z"], [{ name: "epsilon", type: AttributeType.FLOAT, f: 1e-3 }])],
    [floats("in_s", [3], 7, 0.5, 1.5), floats("in_b", [3], 8)],
  ],
  ["LayerNormalization axis 1, no B", [node("LayerNormalization", ["m2", "ln_s"], ["z"], [int("axis", 1)])], [floats("ln_s", [3, 5], 6, 0.5, 1.5)]],
  [
    "every kind on shared values",
    [
      node("Softmax", ["m2"], ["s1"], [int("axis", 1)]),
      node("LogSoftmax", ["m2"], ["l1"], [int("axis", 0)]),
      node("Add", ["s1", "l1"], ["a1"]),
      reduce("ReduceMax", "a1", "r1", [1]),
      reduce("ReduceL2", "m2", "r2", [1]),
      reduce("ReduceLogSumExp", "m1", "r3", [1]),
      reduce("ReduceProd", "s1", "r4", [1]),
      reduce("ReduceMean", "m2", "r5", [1]),
      reduce("ReduceMin", "a1", "r6", [1]),
      reduce("ReduceL1", "m1", "r7", [1]),
      reduce("ReduceSumSquare", "m2", "r8", [1]),
      node("ReduceSum", ["m2", "axes1"], ["r9"], [int("keepdims", 0)]),
      reduce("ReduceMean", "m1", "r10", [0, 1, 2], 1), // [1, 1, 1]: broadcast by Add
      ...["r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10"].map((r, i) => node("Add", [i ? `t${i}` : "r1", r], [i === 8 ? "z" : `t${i + 1}`])),
    ],
  ],
];

describe.each(BUILDS_UNDER_TEST)("gradients of reductions, softmax and MatMul (%s)", (build) => {
  it.each(CASES)("%s: every parameter element agrees with finite differences of the forward", async (_, ops, inits = []) => {
    const e = await engineFor(build);
    const s = InferenceSession.fromBytes(e, network(ops, inits));
    const t = s.trainable();
    expect(
      t
        .parameters()
        .map((p) => p.name)
        .sort(),
    ).toEqual(["w1", "w2", "w3", ...inits.map((t) => t.name)].sort());
    const x = uniform(24, 11, -1, 1);
    let G: Float32Array = new Float32Array(0); // loss = sum(y * G)
    const loss = () => {
      const y = t.forward({ x: { dims: [2, 3, 4], data: x } }).y!.data as Float32Array;
      if (G.length !== y.length) G = uniform(y.length, 12, -1, 1);
      return y.reduce((a, v, i) => a + v * G[i]!, 0);
    };
    t.zeroGrads();
    loss();
    t.backward({ y: G });
    for (const p of t.parameters()) {
      const analytic = p.grad.data.slice();
      expect(analytic.some((v) => v !== 0)).toBe(true);
      for (let i = 0; i < p.value.data.length; i++) {
        const keep = p.value.data[i]!,
          h = 1e-3;
        p.value.data[i] = keep + h;
        const up = loss();
        p.value.data[i] = keep - h;
        const down = loss();
        p.value.data[i] = keep;
        const numeric = (up - down) / (2 * h);
        expect(Math.abs(analytic[i]! - numeric), `${p.name}[${i}]: analytic ${analytic[i]} numeric ${numeric}`).toBeLessThan(
          1e-2 * Math.max(1, Math.abs(numeric)),
        );
      }
    }
    t.release();
    await s.release();
  });
});

// GroupNormalization, LpNormalization and MeanVarianceNormalization on m = x * w1, x [2, 4, W], at
// SIMD tile edges of W: every parameter element against finite differences, in every build.
// GroupNormalization at opset 21 (scale and bias per channel) and 18 (per group: expanded, their
// gradients summed per group).
const normModel = (opset: number, W: number, op: NodeProto, inits: TensorProto[]) =>
  encodeModel(
    modelProto({
      nodes: [node("Mul", ["x", "w1"], ["m"]), op],
      inits: [floats("w1", [4, W], 21, 0.5, 1.5), ...inits],
      inputs: [["x", [2, 4, W]]],
      outputs: ["y"],
      opset,
    }),
  );

const eps = (v: number): AttributeProto => ({ name: "epsilon", type: AttributeType.FLOAT, f: v });
const NORM_CASES = (W: number): [string, number, NodeProto, TensorProto[]][] => [
  [
    "GroupNormalization, 2 groups, scale and bias per channel",
    21,
    node("GroupNormalization", ["m", "gs", "gb"], ["y"], [int("num_groups", 2), eps(1e-3)]),
    [floats("gs", [4], 22, 0.5, 1.5), floats("gb", [4], 23)],
  ],
  [
    "GroupNormalization, 2 groups, scale and bias per group (opset 18)",
    18,
    node("GroupNormalization", ["m", "gs", "gb"], ["y"], [int("num_groups", 2), eps(1e-3)]),
    [floats("gs", [2], 24, 0.5, 1.5), floats("gb", [2], 25)],
  ],
  ["LpNormalization p 2, axis 1", 17, node("LpNormalization", ["m"], ["y"], [int("p", 2), int("axis", 1)]), []],
  ...(W > 1
    ? ([
        ["LpNormalization p 1, along W", 17, node("LpNormalization", ["m"], ["y"], [int("p", 1), int("axis", -1)]), []],
        ["MeanVarianceNormalization axes [0, 2]", 17, node("MeanVarianceNormalization", ["m"], ["y"], [ints("axes", [0, 2])]), []],
      ] as [string, number, NodeProto, TensorProto[]][])
    : []),
  ["MeanVarianceNormalization axes [1, 2]", 17, node("MeanVarianceNormalization", ["m"], ["y"], [ints("axes", [1, 2])]), []],
];

describe.each(BUILDS_UNDER_TEST)("gradients of GroupNormalization, LpNormalization, MeanVarianceNormalization (%s)", (build) => {
  it.each([1, 3, 4, 5, 8, 17])("W %i: every parameter element agrees with finite differences of the forward", async (W) => {
    const e = await engineFor(build);
    for (const [name, opset, op, inits] of NORM_CASES(W)) {
      const s = InferenceSession.fromBytes(e, normModel(opset, W, op, inits));
      const t = s.trainable();
      expect(
        t
          .parameters()
          .map((p) => p.name)
          .sort(),
        name,
      ).toEqual(["w1", ...inits.map((i) => i.name)].sort());
      const x = uniform(8 * W, 31 + W, -1, 1);
      const G = uniform(8 * W, 32 + W, -1, 1); // loss = sum(y * G)
      const loss = () => (t.forward({ x: { dims: [2, 4, W], data: x } }).y!.data as Float32Array).reduce((a, v, i) => a + v * G[i]!, 0);
      t.zeroGrads();
      loss();
      t.backward({ y: G });
      for (const p of t.parameters()) {
        const analytic = p.grad.data.slice();
        expect(
          analytic.some((v) => v !== 0),
          `${name}: ${p.name} has a gradient`,
        ).toBe(true);
        for (let i = 0; i < p.value.data.length; i++) {
          const keep = p.value.data[i]!,
            h = 1e-3;
          p.value.data[i] = keep + h;
          const up = loss();
          p.value.data[i] = keep - h;
          const down = loss();
          p.value.data[i] = keep;
          const numeric = (up - down) / (2 * h);
          expect(Math.abs(analytic[i]! - numeric), `${name}: ${p.name}[${i}]: analytic ${analytic[i]} numeric ${numeric}`).toBeLessThan(
            1e-2 * Math.max(1, Math.abs(numeric)),
          );
        }
      }
      t.release();
      await s.release();
    }
  });
});
