// Operators and optional outputs real exported models use, through InferenceSession against
// onnxruntime-node in every build: MaxPool's Indices (storage_order 0 and 1, 1-D and 2-D, pads,
// strides, dilations, ceil mode; channel counts at SIMD tile edges) and Dropout's mask.
import { describe, expect, it } from "vitest";
import { DataType } from "../src/onnx/onnx-proto.js";
import { BUILDS_UNDER_TEST, engineFor, uniform } from "./harness.js";
import { expectMatchesOrt, int, ints, node, tensor } from "./graph-models.js";

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

describe.each(BUILDS_UNDER_TEST)("MaxPool Indices vs onnxruntime-node (%s)", (build) => {
  const cases: [string, number[], ReturnType<typeof int>[]][] = [
    ["3x3 s2 p1", [2, 5, 7, 6], [ints("kernel_shape", [3, 3]), ints("strides", [2, 2]), ints("pads", [1, 1, 1, 1])]],
    ["2x2 s2 (fast path)", [1, 8, 6, 8], [ints("kernel_shape", [2, 2]), ints("strides", [2, 2])]],
    ["2x2 s2 column-major", [1, 9, 5, 4], [ints("kernel_shape", [2, 2]), ints("strides", [2, 2]), int("storage_order", 1)]],
    ["3x2 dilated ceil", [2, 4, 9, 7], [ints("kernel_shape", [3, 2]), ints("dilations", [2, 1]), int("ceil_mode", 1), ints("strides", [2, 2])]],
    ["3x3 s1 p1 column-major", [1, 3, 5, 7], [ints("kernel_shape", [3, 3]), ints("pads", [1, 1, 1, 1]), int("storage_order", 1)]],
    ["1-D", [2, 17, 10], [ints("kernel_shape", [3]), ints("strides", [2]), ints("pads", [1, 0])]],
  ];
  it.each(cases)("%s", async (_label, shape, attrs) => {
    const e = await engineFor(build);
    const C = shape[1]!;
    // straight from the input, and after a 1x1 Conv (a channels-last value)
    for (const conv of [false, true]) {
      const k = shape.length - 2;
      await expectMatchesOrt(
        e,
        {
          nodes: [...(conv ? [node("Conv", ["x", "w"], ["c"])] : []), node("MaxPool", [conv ? "c" : "x"], ["y", "i"], attrs), node("Relu", ["y"], ["r"])],
          inits: conv ? [tensor("w", [C, C, ...Array(k).fill(1)], uniform(C * C, 4, -1, 1))] : [],
          inputs: [["x", shape]],
          outputs: ["r", ["i", DataType.INT64]],
          opset: 12,
        },
        { x: { dims: shape, data: uniform(size(shape), 7, -3, 3) } },
        { rtol: 1e-5, atol: 1e-5, label: `${_label} conv=${conv}` },
      );
    }
  });
});

describe.each(BUILDS_UNDER_TEST)("Dropout mask vs onnxruntime-node (%s)", (build) => {
  it("gives the data unchanged and a mask of all true (opset 12+; before, all 0 as onnxruntime gives it; data's type before 10)", async () => {
    const e = await engineFor(build);
    for (const [opset, maskType] of [
      [13, DataType.BOOL],
      [12, DataType.BOOL],
      [10, DataType.BOOL],
      [7, DataType.FLOAT],
    ] as const) {
      const got = await expectMatchesOrt(
        e,
        {
          nodes: [node("Sigmoid", ["x"], ["s"]), node("Dropout", ["s"], ["y", "m"], opset < 12 ? [{ name: "ratio", type: 1, f: 0.3 }] : [])],
          inputs: [["x", [2, 3, 5]]],
          outputs: ["y", ["m", maskType]],
          opset,
        },
        { x: { dims: [2, 3, 5], data: uniform(30, 2, -2, 2) } },
        { label: `opset ${opset}` },
      );
      expect(Array.from(got.m!.data)).toEqual(Array(30).fill(opset < 12 ? 0 : 1));
    }
  });
});

describe.each(BUILDS_UNDER_TEST)("trigonometric and hyperbolic ops vs onnxruntime-node (%s)", (build) => {
  const domains: [string, number, number][] = [
    ["Tan", -1.5, 1.5],
    ["Asin", -1, 1],
    ["Acos", -1, 1],
    ["Atan", -30, 30],
    ["Sinh", -10, 10],
    ["Cosh", -10, 10],
    ["Asinh", -100, 100],
    ["Acosh", 1, 100],
    ["Atanh", -0.99, 0.99],
  ];
  it.each(domains)("%s", async (op, lo, hi) => {
    const e = await engineFor(build);
    for (const shape of [[3], [4], [5], [2, 9]]) {
      await expectMatchesOrt(
        e,
        { nodes: [node(op, ["x"], ["y"])], inputs: [["x", shape]], outputs: ["y"], opset: 13 },
        { x: { dims: shape, data: uniform(size(shape), 31, lo, hi) } },
        { rtol: 1e-5, atol: 1e-6, label: `${op} [${shape}]` },
      );
    }
  });
});
