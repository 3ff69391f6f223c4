// The movement ops' backward passes (src/graph/ops/movement-grad.ts and each op's `gradient`)
// through TrainableSession, in every build: a parameter P added to the input feeds the op (in ONNX
// order, and after a 1x1 Conv so the op and its gradient run channels-last), and P's gradient of
// loss = sum(outputs * G) must match central finite differences of the session's own forward.
import { describe, expect, it } from "vitest";
import { InferenceSession } from "../src/graph/session.js";
import { AttributeType, type AttributeProto, DataType, encodeModel, type NodeProto, type TensorProto } from "../src/onnx/onnx-proto.js";
import { BUILDS_UNDER_TEST, engineFor, expectGradientMatches, uniform } from "./harness.js";
import { modelProto } from "./model-proto.js";

const int = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.INT, i: v });
const str = (name: string, v: string): AttributeProto => ({ name, type: AttributeType.STRING, s: v });
const flt = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f: v });
const ints = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: v });
const node = (opType: string, input: string[], output: string[], attribute: AttributeProto[] = []): NodeProto => ({
  name: output[0]!,
  opType,
  domain: "",
  input,
  output,
  attribute,
});
const i64 = (name: string, dims: number[], v: number[]): TensorProto => ({ name, dims, dataType: DataType.INT64, data: Float64Array.from(v) });
const f32 = (name: string, dims: number[], v: number[]): TensorProto => ({ name, dims, dataType: DataType.FLOAT, data: Float32Array.from(v) });

interface GradCase {
  opset?: number;
  x: number[];
  /** The nodes under test: they read "a" (x + P) and write the graph outputs. */
  nodes: NodeProto[];
  inits?: TensorProto[];
  outputs?: string[];
  /** Also run after a 1x1 identity Conv (4-D x): the op then reads a channels-last value. */
  afterConv?: boolean;
}

function model(c: GradCase, conv: boolean): Uint8Array {
  const n = c.x.reduce((a, b) => a * b, 1);
  const C = c.x[1]!;
  const eye = Array.from({ length: C * C }, (_, i) => (i % (C + 1) === 0 ? 1 : 0));
  const front = conv ? [node("Add", ["x", "P"], ["a0"]), node("Conv", ["a0", "eye"], ["a"])] : [node("Add", ["x", "P"], ["a"])];
  return encodeModel(
    modelProto({
      nodes: [...front, ...c.nodes],
      inits: [f32("P", c.x, Array.from(uniform(n, 5, -0.5, 0.5))), ...(conv ? [f32("eye", [C, C, 1, 1], eye)] : []), ...(c.inits ?? [])],
      inputs: [["x", c.x]],
      outputs: c.outputs ?? ["y"],
      opset: c.opset ?? 18,
    }),
  );
}

const resize = (x: number[], attrs: AttributeProto[], scales?: number[], sizes?: number[], roi?: number[]): GradCase => ({
  x,
  afterConv: x.length === 4,
  nodes: [node("Resize", ["a", roi ? "roi" : "", scales ? "scales" : "", sizes ? "sizes" : ""], ["y"], attrs)],
  inits: [
    ...(scales ? [f32("scales", [scales.length], scales)] : []),
    ...(sizes ? [i64("sizes", [sizes.length], sizes)] : []),
    ...(roi ? [f32("roi", [roi.length], roi)] : []),
  ],
});

const CASES: [string, GradCase][] = [
  [
    "Pad constant with crops",
    { x: [2, 3, 5, 6], afterConv: true, nodes: [node("Pad", ["a", "p", "v"], ["y"])], inits: [i64("p", [8], [0, 1, -1, 2, 0, -1, 2, 1]), f32("v", [], [0.5])] },
  ],
  [
    "Pad reflect",
    { x: [1, 2, 4, 5], afterConv: true, nodes: [node("Pad", ["a", "p"], ["y"], [str("mode", "reflect")])], inits: [i64("p", [8], [0, 0, 3, 2, 0, 0, 5, 1])] },
  ],
  [
    "Pad edge",
    { x: [1, 3, 4, 5], afterConv: true, nodes: [node("Pad", ["a", "p"], ["y"], [str("mode", "edge")])], inits: [i64("p", [8], [0, 1, 2, 0, 0, 0, 3, 7])] },
  ],
  [
    "Pad wrap on chosen axes",
    {
      opset: 19,
      x: [2, 3, 4, 5],
      afterConv: true,
      nodes: [node("Pad", ["a", "p", "", "ax"], ["y"], [str("mode", "wrap")])],
      inits: [i64("p", [4], [3, -1, 7, 2]), i64("ax", [2], [-2, 3])],
    },
  ],
  ["Pad opset 10 attributes", { opset: 10, x: [2, 3, 4], nodes: [node("Pad", ["a"], ["y"], [ints("pads", [0, 1, 2, 1, 0, 0]), flt("value", 2)])] }],
  ["Tile", { x: [2, 3, 4, 2], afterConv: true, nodes: [node("Tile", ["a", "r"], ["y"])], inits: [i64("r", [4], [2, 1, 3, 2])] }],
  ["Expand", { x: [3, 1, 5], nodes: [node("Expand", ["a", "s"], ["y"])], inits: [i64("s", [4], [2, 3, 4, 1])] }],
  [
    "Split, one output unused",
    {
      opset: 13,
      x: [2, 6, 3, 5],
      afterConv: true,
      nodes: [node("Split", ["a", "s"], ["y", "", "z"], [int("axis", 1)])],
      inits: [i64("s", [3], [1, 3, 2])],
      outputs: ["y", "z"],
    },
  ],
  ["DepthToSpace DCR", { x: [2, 12, 3, 5], afterConv: true, nodes: [node("DepthToSpace", ["a"], ["y"], [int("blocksize", 2)])] }],
  ["DepthToSpace CRD", { x: [1, 8, 4, 3], afterConv: true, nodes: [node("DepthToSpace", ["a"], ["y"], [int("blocksize", 2), str("mode", "CRD")])] }],
  ["SpaceToDepth", { x: [2, 2, 6, 9], afterConv: true, nodes: [node("SpaceToDepth", ["a"], ["y"], [int("blocksize", 3)])] }],
  ["Gather, 2-D indices", { x: [3, 5, 4], nodes: [node("Gather", ["a", "i"], ["y"], [int("axis", 1)])], inits: [i64("i", [2, 3], [4, -1, 0, 2, 2, -5])] }],
  [
    "Gather, 1-D indices",
    { x: [2, 5, 3, 4], afterConv: true, nodes: [node("Gather", ["a", "i"], ["y"], [int("axis", 1)])], inits: [i64("i", [4], [4, -1, 0, 4])] },
  ],
  [
    "GatherElements",
    {
      x: [4, 3],
      nodes: [node("GatherElements", ["a", "i"], ["y"], [int("axis", 0)])],
      inits: [i64("i", [5, 3], [0, 3, 1, -1, 2, 2, 3, 3, 0, 1, -4, 2, 0, 0, 1])],
    },
  ],
  ["Trilu lower", { x: [2, 4, 6], nodes: [node("Trilu", ["a", "k"], ["y"], [int("upper", 0)])], inits: [i64("k", [], [1])] }],
  ["Resize nearest", resize([1, 3, 4, 5], [str("mode", "nearest")], [1, 1, 2.5, 0.6])],
  [
    "Resize linear align_corners",
    resize([2, 3, 4, 5], [str("mode", "linear"), str("coordinate_transformation_mode", "align_corners")], undefined, [2, 3, 7, 3]),
  ],
  ["Resize linear antialias", resize([1, 2, 9, 11], [str("mode", "linear"), int("antialias", 1)], [1, 1, 0.4, 0.5])],
  ["Resize cubic exclude_outside", resize([1, 2, 5, 6], [str("mode", "cubic"), int("exclude_outside", 1)], [1, 1, 1.5, 2])],
  [
    "Resize tf_crop_and_resize",
    resize(
      [1, 2, 6, 6],
      [str("mode", "linear"), str("coordinate_transformation_mode", "tf_crop_and_resize"), flt("extrapolation_value", 3)],
      undefined,
      [1, 2, 5, 4],
      [0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3],
    ),
  ],
  [
    "Upsample linear (opset 9)",
    { opset: 9, x: [1, 2, 3, 4], afterConv: true, nodes: [node("Upsample", ["a", "s"], ["y"], [str("mode", "linear")])], inits: [f32("s", [4], [1, 1, 2, 3])] },
  ],
];

describe.each(BUILDS_UNDER_TEST)("movement ops' gradients vs finite differences (%s)", (build) => {
  it.each(CASES)("%s", async (name, c) => {
    const e = await engineFor(build);
    const n = c.x.reduce((a, b) => a * b, 1);
    const x = uniform(n, 11, -1, 1);
    for (const conv of c.afterConv ? [false, true] : [false]) {
      const s = InferenceSession.fromBytes(e, model(c, conv));
      const t = s.trainable({ params: ["P"] });
      try {
        const outs = c.outputs ?? ["y"];
        const first = t.forward({ x: { dims: c.x, data: x } });
        const G = Object.fromEntries(outs.map((o, k) => [o, uniform(first[o]!.data.length, 20 + k, -1, 1)]));
        const loss = () => {
          const y = t.forward({ x: { dims: c.x, data: x } });
          let l = 0;
          for (const o of outs) {
            const d = y[o]!.data as Float32Array;
            for (let i = 0; i < d.length; i++) l += d[i]! * G[o]![i]!;
          }
          return l;
        };
        t.zeroGrads();
        loss();
        t.backward(G);
        const P = t.parameters().find((p) => p.name === "P")!;
        const analytic = P.grad.data.slice();
        expect(
          analytic.some((v) => v !== 0),
          `${name}: some gradient flows`,
        ).toBe(true);
        expectGradientMatches(P.value, analytic, loss, { samples: 40, label: `${name}${conv ? " after a conv" : ""}` });
      } finally {
        t.release();
        await s.release();
      }
    }
  });
});
