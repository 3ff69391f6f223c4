// Ops of older exported files (opsets 7-9) that real pretrained models still carry, through
// InferenceSession against onnxruntime-node: ImageScaler (y = scale x + bias[c]; the first node of
// the ONNX model zoo's Tiny YOLOv2), on ONNX-order, channels-last and permuted inputs, its gradient
// against finite differences, and its refusals.
import { describe, expect, it } from "vitest";
import { SimdnetError } from "../src/errors.js";
import { InferenceSession } from "../src/graph/session.js";
import { AttributeType, type AttributeProto } from "../src/onnx/onnx-proto.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, rng, uniform } from "./harness.js";
import { expectMatchesOrt, float, ints, type ModelSpec, modelBytes, node, ortRun, simdnetRun, tensor } from "./graph-models.js";

const floats = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.FLOATS, floats: v });

/** C = 5 and 9 channels: below and above the SIMD width, not a multiple of it. */
const SHAPES = [
  [2, 5, 3, 4],
  [1, 9, 6, 7],
];

/** x (or Conv 1x1 of x: channels-last, or Transpose of x: a permuted view) -> ImageScaler -> y. */
function scaler(source: "input" | "conv" | "transpose", shape: number[], attrs: AttributeProto[]): ModelSpec {
  const C = shape[1]!;
  const pre =
    source === "conv"
      ? { nodes: [node("Conv", ["x", "cw"], ["c"])], inits: [tensor("cw", [C, C, 1, 1], uniform(C * C, 3, -1, 1))] }
      : source === "transpose"
        ? { nodes: [node("Transpose", ["x"], ["c"], [ints("perm", [0, 1, 3, 2])])], inits: [] }
        : { nodes: [], inits: [] };
  const input = source === "transpose" ? [shape[0]!, C, shape[3]!, shape[2]!] : shape;
  return {
    nodes: [...pre.nodes, node("ImageScaler", [source === "input" ? "x" : "c"], ["y"], attrs)],
    inits: pre.inits,
    inputs: [["x", input]],
    outputs: ["y"],
    opset: 8,
  };
}

describe.each(BUILDS_UNDER_TEST)("ImageScaler vs onnxruntime-node (%s)", (build) => {
  it("scales and adds a bias per channel in every axis order, with and without scale", async () => {
    const e = await engineFor(build);
    for (const shape of SHAPES) {
      const C = shape[1]!;
      const size = shape.reduce((a, b) => a * b, 1);
      const bias = Array.from(uniform(C, 7, -2, 2));
      for (const source of ["input", "conv", "transpose"] as const) {
        // (onnxruntime refuses an ImageScaler without bias, which the schema allows)
        for (const attrs of [[float("scale", 0.017), floats("bias", bias)], [floats("bias", bias)], [float("scale", -3), floats("bias", bias)]]) {
          const label = `${source} [${shape}] ${attrs.map((a) => a.name).join("+")}`;
          await expectMatchesOrt(
            e,
            scaler(source, shape, attrs),
            { x: { dims: source === "transpose" ? [shape[0]!, C, shape[3]!, shape[2]!] : shape, data: uniform(size, 5, -100, 255) } },
            {
              rtol: 1e-5,
              atol: 1e-4,
              label,
            },
          );
        }
      }
    }
  });

  it("without bias adds nothing (onnxruntime's reference: the same file with bias zero)", async () => {
    const e = await engineFor(build);
    const shape = SHAPES[1]!;
    const feeds = {
      x: {
        dims: shape,
        data: uniform(
          shape.reduce((a, b) => a * b, 1),
          6,
          -5,
          5,
        ),
      },
    };
    const want = await ortRun(modelBytes(scaler("conv", shape, [float("scale", 2.5), floats("bias", new Array(shape[1]!).fill(0))])), feeds);
    const got = simdnetRun(e, modelBytes(scaler("conv", shape, [float("scale", 2.5)])), feeds);
    expectClose(got.y!.data, want.y!.data, { rtol: 1e-5, atol: 1e-5, label: "no bias" });
  });

  it("passes scale * dy back to the parameters before it (finite differences)", async () => {
    const e = await engineFor(build);
    const spec: ModelSpec = {
      nodes: [
        node("Conv", ["x", "w"], ["c"], [ints("pads", [1, 1, 1, 1])]),
        node("ImageScaler", ["c"], ["s"], [float("scale", 0.6), floats("bias", [0.3, -0.2, 0.1, 0.5, -0.4])]),
        node("Tanh", ["s"], ["y"]),
      ],
      inits: [tensor("w", [5, 3, 3, 3], uniform(135, 9, -0.5, 0.5))],
      inputs: [["x", [2, 3, 4, 4]]],
      outputs: ["y"],
      opset: 8,
    };
    const s = InferenceSession.fromBytes(e, modelBytes(spec));
    const t = s.trainable();
    const x = uniform(2 * 3 * 16, 11, -1, 1);
    const G = uniform(2 * 5 * 16, 12, -1, 1);
    const loss = () => {
      const y = t.forward({ x: { dims: [2, 3, 4, 4], data: x } }).y!.data as Float32Array;
      let l = 0;
      for (let i = 0; i < y.length; i++) l += y[i]! * G[i]!;
      return l;
    };
    t.zeroGrads();
    loss();
    t.backward({ y: G });
    const [p] = t.parameters();
    expect(p!.name).toBe("w");
    const analytic = p!.grad.data.slice();
    const r = rng(13);
    for (let k = 0; k < 8; k++) {
      const i = Math.floor(r() * p!.value.data.length);
      const keep = p!.value.data[i]!;
      const h = 1e-2;
      p!.value.data[i] = keep + h;
      const up = loss();
      p!.value.data[i] = keep - h;
      const down = loss();
      p!.value.data[i] = keep;
      const numeric = (up - down) / (2 * h);
      expect(Math.abs(analytic[i]! - numeric), `w[${i}]: analytic ${analytic[i]} numeric ${numeric}`).toBeLessThan(2e-2 * Math.max(1, Math.abs(numeric)));
    }
    t.release();
    await s.release();
  });

  it("refuses a bias of the wrong length and an input that is not [N, C, H, W]", async () => {
    const e = await engineFor(build);
    const bad = (spec: ModelSpec) => () =>
      InferenceSession.fromBytes(e, modelBytes(spec)).runSync({
        x: { dims: spec.inputs[0]![1], data: new Float32Array(spec.inputs[0]![1].reduce((a, b) => a * b, 1)) },
      });
    expect(bad(scaler("input", [1, 3, 2, 2], [floats("bias", [1, 2])]))).toThrow(SimdnetError);
    expect(bad(scaler("input", [1, 3, 2, 2], [floats("bias", [1, 2])]))).toThrow(/ImageScaler.*bias has 2 values for 3 channels/);
    expect(bad({ nodes: [node("ImageScaler", ["x"], ["y"])], inputs: [["x", [3, 4]]], outputs: ["y"], opset: 8 })).toThrow(
      /expects \[N, C, H, W\], got \[3,4\]/,
    );
  });
});

describe.each(BUILDS_UNDER_TEST)("legacy broadcasting before opset 7 (%s)", (build) => {
  const run = (e: Awaited<ReturnType<typeof engineFor>>, attrs: AttributeProto[], a: number[], b: number[]) => {
    const spec: ModelSpec = {
      nodes: [node("Add", ["x", "b"], ["y"], attrs)],
      inits: [
        tensor(
          "b",
          b,
          Array.from({ length: b.reduce((p, q) => p * q, 1) }, (_, i) => 100 * (i + 1)),
        ),
      ],
      inputs: [["x", a]],
      outputs: ["y"],
      opset: 6,
    };
    return simdnetRun(e, modelBytes(spec), { x: { dims: a, data: new Float32Array(a.reduce((p, q) => p * q, 1)) } }).y!;
  };
  const int = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.INT, i: v });

  it("runs B aligned with A's last axes (no axis, or the axis that says so) as NumPy does", async () => {
    const e = await engineFor(build);
    for (const attrs of [[int("broadcast", 1)], [int("broadcast", 1), int("axis", 2)], [int("broadcast", 1), int("axis", -1)]]) {
      const y = run(e, attrs, [1, 2, 3], [3]);
      expect(Array.from(y.data)).toEqual([100, 200, 300, 100, 200, 300]);
    }
  });

  it("refuses B placed from an earlier axis (per channel) instead of computing NumPy's broadcast", async () => {
    const e = await engineFor(build);
    // [1, 3, 3, 3] + [3] at axis 1 means a bias per channel; NumPy would add it along W
    expect(() => run(e, [int("broadcast", 1), int("axis", 1)], [1, 3, 3, 3], [3])).toThrow(SimdnetError);
    expect(() => run(e, [int("broadcast", 1), int("axis", 1)], [1, 3, 3, 3], [3])).toThrow(
      /Add.*legacy broadcasting \(opset < 7: broadcast 1, axis 1\) of B \[3\] along A \[1,3,3,3\] from axis 1 is not supported/,
    );
  });
});
