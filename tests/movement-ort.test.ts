// The movement ops through InferenceSession against onnxruntime-node, for what the conformance set
// leaves thin: every Resize coordinate mode and rounding rule on odd sizes, Resize-10 and Upsample,
// Pad modes with negative pads, Slice with negative steps, uneven Split, DepthToSpace CRD, integer
// tensors (shape arithmetic folded at plan time by the same kernels), and each op placed after a
// Conv, so its input is channels-last (the layout the image kernels use) rather than ONNX order.
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { InferenceSession } from "../src/graph/session.js";
import { AttributeType, type AttributeProto, DataType, encodeModel, type NodeProto, type TensorProto } from "../src/onnx/onnx-proto.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, uniform } from "./harness.js";
import { modelProto } from "./model-proto.js";

const int = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.INT, i: v });
const str = (name: string, v: string): AttributeProto => ({ name, type: AttributeType.STRING, s: v });
const floats = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.FLOATS, floats: v });
const flt = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f: v });
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

interface OrtCase {
  opset: number;
  x: number[];
  /** The op under test, reading "x" (or the conv's output) and writing "y" (and more outputs). */
  nodes: NodeProto[];
  inits?: TensorProto[];
  outputs?: [string, number][];
  /** Also run with a 1x1 identity Conv in front (the op then reads a channels-last value). */
  afterConv?: boolean;
  rtol?: number;
}

function model(c: OrtCase, conv: boolean): Uint8Array {
  const C = c.x[1]!;
  const eye = Array.from({ length: C * C }, (_, i) => (i % (C + 1) === 0 ? 1 : 0));
  const nodes = conv ? [node("Conv", ["x", "eye"], ["xc"]), ...c.nodes.map((n) => ({ ...n, input: n.input.map((s) => (s === "x" ? "xc" : s)) }))] : c.nodes;
  const inits = [...(c.inits ?? []), ...(conv ? [f32("eye", [C, C, 1, 1], eye)] : [])];
  return encodeModel(modelProto({ nodes, inits, inputs: [["x", c.x]], outputs: c.outputs ?? [["y", DataType.FLOAT]], opset: c.opset }));
}

const resize = (opset: number, x: number[], attrs: AttributeProto[], scales?: number[], sizes?: number[], roi?: number[]): OrtCase => ({
  opset,
  x,
  afterConv: x.length === 4,
  nodes: [node("Resize", opset <= 10 ? ["x", "scales"] : ["x", roi ? "roi" : "", scales ? "scales" : "", sizes ? "sizes" : ""], ["y"], attrs)],
  inits: [
    ...(scales ? [f32("scales", [scales.length], scales)] : []),
    ...(sizes ? [i64("sizes", [sizes.length], sizes)] : []),
    ...(roi ? [f32("roi", [roi.length], roi)] : []),
  ],
  rtol: 1e-5,
});

const CASES: [string, OrtCase][] = [
  ["Resize linear half_pixel x2", resize(13, [1, 3, 5, 7], [str("mode", "linear")], [1, 1, 2, 2])],
  [
    "Resize linear pytorch_half_pixel to odd sizes",
    resize(13, [2, 3, 5, 7], [str("mode", "linear"), str("coordinate_transformation_mode", "pytorch_half_pixel")], undefined, [2, 3, 3, 10]),
  ],
  [
    "Resize linear align_corners, shrink and grow",
    resize(13, [1, 4, 9, 5], [str("mode", "linear"), str("coordinate_transformation_mode", "align_corners")], undefined, [1, 4, 4, 11]),
  ],
  [
    "Resize nearest asymmetric floor (TF-style upsample)",
    resize(
      13,
      [1, 3, 5, 7],
      [str("mode", "nearest"), str("coordinate_transformation_mode", "asymmetric"), str("nearest_mode", "floor")],
      undefined,
      [1, 3, 10, 14],
    ),
  ],
  // the output size is the float32 product, truncated: float32(2.6) * 5 rounds to 13 (float64: 12.9999995)
  ["Resize nearest, a scale whose float32 product rounds up to the next size", resize(13, [1, 2, 5, 7], [str("mode", "nearest")], [1, 1, 2.6, 1.7])],
  ["Resize linear, a scale whose float32 product rounds up to the next size", resize(13, [1, 2, 5, 7], [str("mode", "linear")], [1, 1, 2.6, 1])],
  [
    "Resize nearest half_pixel round_prefer_ceil, odd scales",
    resize(13, [1, 2, 7, 9], [str("mode", "nearest"), str("nearest_mode", "round_prefer_ceil")], [1, 1, 1.7, 0.45]),
  ],
  [
    "Resize nearest tf_half_pixel_for_nn (opset 11)",
    resize(11, [1, 2, 6, 5], [str("mode", "nearest"), str("coordinate_transformation_mode", "tf_half_pixel_for_nn")], [1, 1, 1.5, 2.5], undefined, []),
  ],
  ["Resize cubic half_pixel", resize(13, [1, 3, 6, 7], [str("mode", "cubic")], [1, 1, 1.5, 2])],
  [
    "Resize cubic asymmetric A=-0.5",
    resize(13, [1, 2, 5, 6], [str("mode", "cubic"), str("coordinate_transformation_mode", "asymmetric"), flt("cubic_coeff_a", -0.5)], [1, 1, 2, 1.5]),
  ],
  ["Resize linear antialias shrink", resize(18, [1, 3, 17, 13], [str("mode", "linear"), int("antialias", 1)], [1, 1, 0.3, 0.5])],
  ["Resize nearest opset 10, shrinking", resize(10, [1, 2, 8, 9], [str("mode", "nearest")], [1, 1, 0.5, 0.7])],
  ["Resize linear opset 10", resize(10, [1, 2, 4, 5], [str("mode", "linear")], [1, 1, 2, 1.6])],
  [
    "Upsample nearest (opset 7, scales attribute)",
    { opset: 7, x: [1, 3, 3, 4], afterConv: true, nodes: [node("Upsample", ["x"], ["y"], [str("mode", "nearest"), floats("scales", [1, 1, 2, 3])])] },
  ],
  [
    "Upsample linear (opset 9)",
    {
      opset: 9,
      x: [1, 3, 3, 4],
      afterConv: true,
      nodes: [node("Upsample", ["x", "s"], ["y"], [str("mode", "linear")])],
      inits: [f32("s", [4], [1, 1, 2, 2])],
      rtol: 1e-5,
    },
  ],
  [
    "Pad reflect",
    {
      opset: 13,
      x: [1, 3, 5, 6],
      afterConv: true,
      nodes: [node("Pad", ["x", "p"], ["y"], [str("mode", "reflect")])],
      inits: [i64("p", [8], [0, 0, 2, 4, 0, 0, 3, 1])],
    },
  ],
  [
    "Pad edge with a crop",
    {
      opset: 13,
      x: [2, 3, 5, 6],
      afterConv: true,
      nodes: [node("Pad", ["x", "p"], ["y"], [str("mode", "edge")])],
      inits: [i64("p", [8], [0, 0, -1, 2, 0, 0, 3, -2])],
    },
  ],
  [
    "Pad constant with a value and a crop",
    {
      opset: 13,
      x: [1, 4, 5, 6],
      afterConv: true,
      nodes: [node("Pad", ["x", "p", "v"], ["y"])],
      inits: [i64("p", [8], [0, -1, 1, 0, 0, 2, -2, 3]), f32("v", [], [-1.5])],
    },
  ],
  [
    "Pad wrap (opset 19) on chosen axes",
    {
      opset: 19,
      x: [1, 3, 4, 5],
      afterConv: true,
      nodes: [node("Pad", ["x", "p", "", "a"], ["y"], [str("mode", "wrap")])],
      inits: [i64("p", [4], [2, 3, 1, 6]), i64("a", [2], [3, 2])],
    },
  ],
  [
    "Slice negative steps",
    {
      opset: 13,
      x: [1, 3, 7, 9],
      afterConv: true,
      nodes: [node("Slice", ["x", "s", "e", "a", "t"], ["y"])],
      inits: [i64("s", [2], [-2, 100]), i64("e", [2], [-100, 0]), i64("a", [2], [2, 3]), i64("t", [2], [-1, -3])],
    },
  ],
  [
    "Split uneven (num_outputs)",
    {
      opset: 18,
      x: [1, 7, 3, 4],
      afterConv: true,
      nodes: [node("Split", ["x"], ["y", "z", "w"], [int("axis", 1), int("num_outputs", 3)])],
      outputs: [
        ["y", DataType.FLOAT],
        ["z", DataType.FLOAT],
        ["w", DataType.FLOAT],
      ],
    },
  ],
  ["DepthToSpace CRD", { opset: 13, x: [1, 8, 3, 5], afterConv: true, nodes: [node("DepthToSpace", ["x"], ["y"], [int("blocksize", 2), str("mode", "CRD")])] }],
  [
    "SpaceToDepth then DepthToSpace DCR",
    {
      opset: 13,
      x: [2, 3, 4, 6],
      afterConv: true,
      nodes: [node("SpaceToDepth", ["x"], ["m"], [int("blocksize", 2)]), node("DepthToSpace", ["m"], ["y"], [int("blocksize", 2)])],
    },
  ],
  [
    "Tile and Expand",
    {
      opset: 13,
      x: [1, 3, 2, 5],
      afterConv: true,
      nodes: [node("Tile", ["x", "r"], ["m"]), node("Expand", ["m", "s"], ["y"])],
      inits: [i64("r", [4], [1, 2, 3, 1]), i64("s", [5], [2, 1, 1, 1, 1])],
    },
  ],
  [
    "Gather on a channels-last value, negative indices",
    { opset: 13, x: [1, 5, 3, 4], afterConv: true, nodes: [node("Gather", ["x", "i"], ["y"], [int("axis", 1)])], inits: [i64("i", [4], [4, -1, 0, -5])] },
  ],
  [
    "Gather with 2-D indices",
    { opset: 13, x: [2, 5, 3], nodes: [node("Gather", ["x", "i"], ["y"], [int("axis", -2)])], inits: [i64("i", [2, 2], [4, -1, 0, -5])] },
  ],
  [
    "GatherElements and Trilu",
    {
      opset: 14,
      x: [2, 3, 4],
      nodes: [node("GatherElements", ["x", "i"], ["m"], [int("axis", 2)]), node("Trilu", ["m", "k"], ["y"], [int("upper", 0)])],
      inits: [i64("i", [2, 3, 3], [3, 0, -1, 1, 1, 2, -4, 3, 0, 2, 2, 2, 0, 1, 3, -2, -3, 1]), i64("k", [], [-1])],
    },
  ],
  [
    "GatherND pairs of indices (negative ones count from the end)",
    { opset: 12, x: [2, 5, 3, 4], nodes: [node("GatherND", ["x", "i"], ["y"])], inits: [i64("i", [3, 2], [1, 4, 0, -1, -2, 2])] },
  ],
  [
    "GatherND whole tuples into a 2-D index grid",
    { opset: 12, x: [2, 3, 4], nodes: [node("GatherND", ["x", "i"], ["y"])], inits: [i64("i", [2, 2, 3], [1, 2, 3, 0, 0, 0, -1, -3, -4, 1, 1, 1])] },
  ],
  [
    "GatherND batch_dims 1 (MoveNet's keypoint decode) and batch_dims 2",
    {
      opset: 13,
      x: [2, 3, 4, 5],
      outputs: [
        ["y", DataType.FLOAT],
        ["z", DataType.FLOAT],
      ],
      nodes: [node("GatherND", ["x", "i"], ["y"], [int("batch_dims", 1)]), node("GatherND", ["x", "j"], ["z"], [int("batch_dims", 2)])],
      inits: [i64("i", [2, 2, 2], [2, 3, 0, 0, 1, -1, -3, 2]), i64("j", [2, 3, 2, 1], [3, 0, 1, 1, 2, 2, -1, 0, 0, 3, 1, 2])],
    },
  ],
  [
    "GatherND on integer values (a shape)",
    {
      opset: 13,
      x: [2, 3, 5, 7],
      outputs: [["y", DataType.INT64]],
      nodes: [node("Shape", ["x"], ["s"]), node("GatherND", ["s", "i"], ["y"])],
      inits: [i64("i", [3, 1], [3, 0, -2])],
    },
  ],
  [
    "ScatterND rows, elements and whole tuples (negative indices count from the end)",
    {
      opset: 13,
      x: [3, 4, 5],
      outputs: [
        ["y", DataType.FLOAT],
        ["z", DataType.FLOAT],
        ["w", DataType.FLOAT],
      ],
      nodes: [node("ScatterND", ["x", "i", "u"], ["y"]), node("ScatterND", ["x", "j", "v"], ["z"]), node("ScatterND", ["x", "l", "t"], ["w"])],
      inits: [
        i64("i", [2, 1], [2, -3]),
        f32(
          "u",
          [2, 4, 5],
          Array.from({ length: 40 }, (_, k) => k),
        ),
        i64("j", [3, 2], [0, 3, 2, -4, 1, 1]),
        f32(
          "v",
          [3, 5],
          Array.from({ length: 15 }, (_, k) => -k),
        ),
        i64("l", [2, 2, 3], [0, 0, 0, 2, 3, 4, -1, -1, -1, 1, 2, 3]),
        f32("t", [2, 2], [7, 8, 9, 10]),
      ],
    },
  ],
  [
    "ScatterND reductions add and mul with repeated tuples (opset 16), max and min (opset 18)",
    {
      opset: 18,
      x: [4, 3],
      outputs: [
        ["y", DataType.FLOAT],
        ["z", DataType.FLOAT],
        ["w", DataType.FLOAT],
        ["v", DataType.FLOAT],
      ],
      nodes: [
        node("ScatterND", ["x", "i", "u"], ["y"], [str("reduction", "add")]),
        node("ScatterND", ["x", "i", "u"], ["z"], [str("reduction", "mul")]),
        node("ScatterND", ["x", "i", "u"], ["w"], [str("reduction", "max")]),
        node("ScatterND", ["x", "i", "u"], ["v"], [str("reduction", "min")]),
      ],
      inits: [i64("i", [3, 1], [1, 3, 1]), f32("u", [3, 3], [0.5, -1, 2, 3, -0.25, 1.5, -2, 4, 0.75])],
    },
  ],
  [
    "ScatterND into a shape (integer values)",
    {
      opset: 13,
      x: [2, 3, 5, 7],
      outputs: [["y", DataType.INT64]],
      nodes: [node("Shape", ["x"], ["s"]), node("ScatterND", ["s", "i", "u"], ["y"])],
      inits: [i64("i", [2, 1], [-1, 1]), i64("u", [2], [-1, 15])],
    },
  ],
  [
    "integer shape arithmetic folded by the kernels",
    {
      opset: 18,
      x: [2, 3, 5, 7],
      outputs: [
        ["y", DataType.INT64],
        ["z", DataType.INT64],
      ],
      nodes: [
        node("Shape", ["x"], ["s"]),
        node("Gather", ["s", "two"], ["h"]),
        node("Range", ["zero", "h", "one"], ["r"]),
        node("Tile", ["r", "rep"], ["t"]),
        node("Pad", ["t", "pads", "pv"], ["y"], [str("mode", "reflect")]),
        node("Split", ["s", "sp"], ["s0", "s1"]),
        node("Concat", ["s1", "s0"], ["z"], [int("axis", 0)]),
      ],
      inits: [
        i64("two", [], [2]),
        i64("zero", [], [0]),
        i64("one", [], [1]),
        i64("rep", [1], [3]),
        i64("pads", [2], [2, 3]),
        i64("pv", [], [0]),
        i64("sp", [2], [1, 3]),
      ],
    },
  ],
];

async function ortOutputs(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<Record<string, { dims: number[]; data: number[] }>> {
  const s = await ort.InferenceSession.create(bytes);
  const out = await s.run({ x: new ort.Tensor("float32", x, dims) });
  const r: Record<string, { dims: number[]; data: number[] }> = {};
  for (const [k, t] of Object.entries(out)) r[k] = { dims: [...t.dims], data: Array.from(t.data as ArrayLike<number | bigint>, Number) };
  await s.release();
  return r;
}

describe.each(BUILDS_UNDER_TEST)("GatherND and ScatterND refusals (%s)", (build) => {
  it("names the op and the data shape for an index outside the data, and checks shapes at import", async () => {
    const e = await engineFor(build);
    const gnd = (idx: TensorProto, batchDims = 0) =>
      model({ opset: 13, x: [2, 3, 4], nodes: [node("GatherND", ["x", "i"], ["y"], [int("batch_dims", batchDims)])], inits: [idx] }, false);
    const run = (bytes: Uint8Array) => () => InferenceSession.fromBytes(e, bytes).runSync({ x: { dims: [2, 3, 4], data: new Float32Array(24) } });
    expect(run(gnd(i64("i", [2, 2], [1, 2, 0, 3])))).toThrow(/GatherND.*1 index tuple is outside data \[2,3,4\] \(axes 0 to 1/);
    expect(run(gnd(i64("i", [1, 4], [0, 0, 0, 0])))).toThrow(/GatherND.*the last axis of indices \[1,4\] \(4\) must be in \[1, 3\]/);
    expect(run(gnd(i64("i", [3, 1], [0, 0, 0]), 1))).toThrow(/GatherND.*the batch axes of data \[2,3,4\] and indices \[3,1\] differ/);
    const snd = (idx: TensorProto, upd: TensorProto) =>
      model({ opset: 13, x: [2, 3, 4], nodes: [node("ScatterND", ["x", "i", "u"], ["y"])], inits: [idx, upd] }, false);
    expect(run(snd(i64("i", [1, 2], [1, -4]), f32("u", [1, 4], [1, 2, 3, 4])))).toThrow(/ScatterND.*1 index tuple is outside data \[2,3,4\]/);
    expect(run(snd(i64("i", [1, 2], [1, 1]), f32("u", [1, 3], [1, 2, 3])))).toThrow(/ScatterND.*updates \[1,3\] must have shape \[1,4\]/);
  });
});

describe.each(BUILDS_UNDER_TEST)("movement ops against onnxruntime-node (%s)", (build) => {
  it.each(CASES)("%s", async (_name, c) => {
    const e = await engineFor(build);
    const n = c.x.reduce((a, b) => a * b, 1);
    const x = uniform(n, n, -2, 2);
    for (const conv of c.afterConv ? [false, true] : [false]) {
      const bytes = model(c, conv);
      const want = await ortOutputs(bytes, x, c.x);
      const s = InferenceSession.fromBytes(e, bytes);
      try {
        const got = s.runSync({ x: { dims: c.x, data: x } });
        for (const [name, w] of Object.entries(want)) {
          const g = got[name]!;
          expect([...g.dims], `${name} shape${conv ? " after a conv" : ""}`).toEqual(w.dims);
          expectClose(Array.from(g.data as ArrayLike<number | bigint>, Number), w.data, {
            rtol: c.rtol ?? 0,
            atol: c.rtol ?? 0,
            label: `${name}${conv ? " after a conv" : ""}`,
          });
        }
        if (conv) {
          // the op read the conv's channels-last output as it lies: no conversion step in front of it
          const steps = s.planReport({ x: c.x }).steps;
          const converted = steps.filter((st) => st.algorithm === "layout.copy" && !st.where.includes("graph output") && !st.where.includes("(Conv)"));
          expect(converted.map((st) => st.where)).toEqual([]);
        }
      } finally {
        await s.release();
      }
    }
  });
});

// onnxruntime's CPU kernel resizes [H, W], [N, C, H, W] and [N, H, W, C] bilinearly in one pass:
// four products of combined weights summed left to right. simdnet's bilinear pass computes the same
// float32 operations, so the outputs agree bit for bit. A quantised model needs that: its
// DynamicQuantizeLinear after each Resize turns a last-bit difference at a rounding boundary into a
// whole quantisation step, and steps compound through the net (isnet-quint8 in the corpus differed
// by 6e-2 of its largest output while the resizes were separable passes, within 1 ulp of these).
const dql = (c: OrtCase): OrtCase => ({
  ...c,
  rtol: 0,
  nodes: [...c.nodes, node("DynamicQuantizeLinear", ["y"], ["q", "qs", "qz"])],
  outputs: [
    ["y", DataType.FLOAT],
    ["q", DataType.UINT8],
    ["qs", DataType.FLOAT],
    ["qz", DataType.UINT8],
  ],
});
const linear = [str("mode", "linear")];
const BILINEAR: [string, OrtCase][] = [
  ["x2 half_pixel by sizes (isnet's decoder)", dql(resize(15, [1, 5, 4, 5], linear, undefined, [1, 5, 8, 10]))],
  ["x2 half_pixel, 8 channels", dql(resize(15, [1, 8, 3, 9], linear, [1, 1, 2, 2]))],
  [
    "pytorch_half_pixel, grow and shrink",
    dql(resize(13, [1, 3, 5, 7], [...linear, str("coordinate_transformation_mode", "pytorch_half_pixel")], undefined, [1, 3, 9, 3])),
  ],
  ["asymmetric, odd scales", dql(resize(13, [2, 4, 6, 5], [...linear, str("coordinate_transformation_mode", "asymmetric")], [1, 1, 1.75, 2.5]))],
  ["width only", dql(resize(13, [1, 6, 4, 7], linear, [1, 1, 1, 2.5]))],
  ["height only", dql(resize(13, [1, 6, 7, 4], linear, [1, 1, 3, 1]))],
  ["an image [H, W]", dql(resize(13, [9, 13], linear, undefined, [17, 6]))],
];

describe.each(BUILDS_UNDER_TEST)("bilinear Resize bit for bit as onnxruntime (%s)", (build) => {
  it.each(BILINEAR)("%s", async (_name, c) => {
    const e = await engineFor(build);
    const n = c.x.reduce((a, b) => a * b, 1);
    const x = uniform(n, 7 * n, -3, 3);
    // onnxruntime runs the file without the identity conv: with it, its NCHWc optimiser may run
    // the Resize as a blocked-layout kernel of its own (other sums), for some channel counts
    const want = await ortOutputs(model(c, false), x, c.x);
    for (const conv of c.afterConv ? [false, true] : [false]) {
      const s = InferenceSession.fromBytes(e, model(c, conv));
      try {
        const got = s.runSync({ x: { dims: c.x, data: x } });
        for (const [name, w] of Object.entries(want))
          expect(Array.from(got[name]!.data as ArrayLike<number>, Number), `${name}${conv ? " after a conv" : ""}`).toEqual(w.data);
        expect(s.planReport({ x: c.x }).steps.some((st) => st.algorithm === "resize.bilinear")).toBe(true);
      } finally {
        await s.release();
      }
    }
  });
});

describe("absurd output sizes fail at planning, before anything is built", () => {
  const one = (x: number[], nodes: NodeProto[], inits: TensorProto[]): Uint8Array => model({ opset: 18, x, nodes, inits }, false);
  it.each([
    [
      "Resize scales 1e9",
      one([1, 1, 2, 2], [node("Resize", ["x", "", "s"], ["y"])], [f32("s", [4], [1, 1, 1e9, 1e9])]),
      /Resize.*scales \[1,1,1000000000,1000000000\] gives an output of shape \[1,1,2000000000,2000000000\].*larger than wasm32 memory/,
    ],
    [
      "Resize linear antialias sizes 1e5",
      one([1, 1, 2, 2], [node("Resize", ["x", "", "", "s"], ["y"], [str("mode", "linear"), int("antialias", 1)])], [i64("s", [4], [1, 1, 1e5, 1e5])]),
      /sizes .* larger than wasm32 memory/,
    ],
    [
      "Pad 1e9",
      one([1, 1, 2, 2], [node("Pad", ["x", "p"], ["y"], [str("mode", "reflect")])], [i64("p", [8], [0, 0, 1e9, 1e9, 0, 0, 1e9, 1e9])]),
      /Pad.*pads gives an output .* larger than wasm32 memory/,
    ],
    ["Tile 1e6 x 1e6", one([1, 1, 2, 2], [node("Tile", ["x", "r"], ["y"])], [i64("r", [4], [1, 1, 1e6, 1e6])]), /Tile.*repeats .* larger than wasm32 memory/],
    ["Expand to 1e5 x 1e5", one([1, 1, 2, 2], [node("Expand", ["x", "s"], ["y"])], [i64("s", [4], [1e5, 1e5, 2, 2])]), /Expand.*larger than wasm32 memory/],
    [
      "Range 0..1e12",
      one([1, 1, 2, 2], [node("Range", ["a", "b", "c"], ["y"])], [f32("a", [], [0]), f32("b", [], [1e12]), f32("c", [], [1])]),
      /Range.*larger than wasm32 memory/,
    ],
  ] as [string, Uint8Array, RegExp][])("%s", async (_name, bytes, message) => {
    const e = await engineFor("simd");
    const before = e.heap.bytesInUse;
    expect(bytes.length).toBeLessThan(400);
    expect(() => InferenceSession.fromBytes(e, bytes)).toThrow(message);
    expect(e.heap.bytesInUse).toBe(before);
  });
});
