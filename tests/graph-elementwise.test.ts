// The element-wise ops through InferenceSession against onnxruntime-node, in every build: NHWC
// values (conv outputs) against NCHW constants with nothing converted, every unary op and
// activation, casts between every type, integer arithmetic and comparisons, integer shape
// arithmetic folded while planning, Clip bounds computed by the run, rank 0 and empty tensors.
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { InferenceSession } from "../src/graph/session.js";
import { AttributeType, type AttributeProto, DataType, encodeModel, type NodeProto, type TensorProto } from "../src/onnx/onnx-proto.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, uniform } from "./harness.js";
import { modelProto } from "./model-proto.js";

const node = (opType: string, input: string[], output: string[], attribute: AttributeProto[] = []): NodeProto => ({
  name: output[0]!,
  opType,
  domain: "",
  input,
  output,
  attribute,
});
const int = (name: string, i: number): AttributeProto => ({ name, type: AttributeType.INT, i });
const float = (name: string, f: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f });
const str = (name: string, s: string): AttributeProto => ({ name, type: AttributeType.STRING, s });
const tensor = (name: string, dims: number[], data: ArrayLike<number>, dataType: number = DataType.FLOAT): TensorProto => ({
  name,
  dims,
  dataType,
  data: dataType === DataType.FLOAT ? Float32Array.from(data) : Float64Array.from(data),
});

type IO = [name: string, shape: number[], type?: number];
function model(nodes: NodeProto[], inits: TensorProto[], inputs: IO[], outputs: IO[], opset = 18): Uint8Array {
  return encodeModel(
    modelProto({
      nodes,
      inits,
      inputs: inputs.map(([name, shape, t]) => [name, shape, t]),
      outputs: outputs.map(([name, shape, t]) => [name, t ?? DataType.FLOAT, shape]),
      opset,
    }),
  );
}

type Feed = { type: "float32" | "int64" | "int32" | "bool"; data: number[] | Float32Array; dims: number[] };
const ORT_ARRAY = {
  float32: (d: ArrayLike<number>) => Float32Array.from(d),
  int64: (d: ArrayLike<number>) => BigInt64Array.from(Array.from(d, (v) => BigInt(v))),
  int32: (d: ArrayLike<number>) => Int32Array.from(d),
  bool: (d: ArrayLike<number>) => Uint8Array.from(d),
};

/** Runs both runtimes; returns simdnet's and onnxruntime's outputs as numbers with dims. */
async function both(build: (typeof BUILDS_UNDER_TEST)[number], bytes: Uint8Array, feeds: Record<string, Feed>) {
  const e = await engineFor(build);
  const s = InferenceSession.fromBytes(e, bytes);
  const mine = s.runSync(Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, { dims: f.dims, data: ORT_ARRAY[f.type](f.data), type: f.type }])));
  const o = await ort.InferenceSession.create(bytes);
  const theirs = await o.run(Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, new ort.Tensor(f.type, ORT_ARRAY[f.type](f.data), f.dims)])));
  await o.release();
  const num = (d: ArrayLike<number | bigint | boolean>) => Array.from(d as ArrayLike<number>, (v) => Number(v));
  const out = Object.keys(theirs).map((k) => ({
    name: k,
    mine: num(mine[k]!.data as ArrayLike<number>),
    dims: [...mine[k]!.dims],
    theirs: num(theirs[k]!.data as ArrayLike<number>),
    theirDims: [...theirs[k]!.dims],
    type: mine[k]!.type,
  }));
  return { session: s, out };
}

function expectSame(out: { name: string; mine: number[]; theirs: number[]; dims: number[]; theirDims: number[] }[], rtol = 1e-5, atol = 1e-6): void {
  for (const o of out) {
    expect(o.dims, `${o.name} dims`).toEqual(o.theirDims);
    const nan = (v: number[]) => v.map((x) => Number.isNaN(x));
    expect(nan(o.mine), `${o.name} NaN positions`).toEqual(nan(o.theirs));
    expectClose(
      o.mine.map((x) => (Number.isNaN(x) ? 0 : x)),
      o.theirs.map((x) => (Number.isNaN(x) ? 0 : x)),
      { rtol, atol, label: o.name },
    );
  }
}

describe.each(BUILDS_UNDER_TEST)("element-wise ops in sessions (%s)", (build) => {
  it.each([3, 8])("NHWC conv outputs against NCHW constants of every shape, %i channels, nothing converted", async (C) => {
    const r = (n: number, s: number, lo = -1, hi = 1) => Array.from(uniform(n, s, lo, hi));
    const bytes = model(
      [
        node("Conv", ["x", "w"], ["c"]),
        node("Mul", ["c", "s"], ["m"]),
        node("Add", ["m", "b"], ["a"]),
        node("Sub", ["a", "k"], ["sub"]),
        node("Div", ["sub", "d"], ["dv"]),
        node("PRelu", ["dv", "slope"], ["pr"]),
        node("Max", ["pr", "wmax", "k"], ["mx"]),
        node("HardSwish", ["mx"], ["hs"]),
        node("Clip", ["hs", "lo", "hi"], ["cl"]),
        node("Greater", ["cl", "t"], ["gt"]),
        node("Neg", ["cl"], ["ng"]),
        node("Where", ["gt", "cl", "ng"], ["wh"]),
        node("Pow", ["wh", "two"], ["y"]),
      ],
      [
        tensor("w", [C, C, 1, 1], r(C * C, 1)),
        tensor("s", [C, 1, 1], r(C, 2)),
        tensor("b", [1, C, 1, 1], r(C, 3)),
        tensor("k", [], [0.125]),
        tensor("d", [C, 1, 1], r(C, 4, 0.5, 2)),
        tensor("slope", [C, 1, 1], r(C, 5, 0, 0.5)),
        tensor("wmax", [1, 1, 1, 6], r(6, 6)),
        tensor("lo", [], [-0.3]),
        tensor("t", [C, 1, 1], r(C, 7, -0.2, 0.2)),
        tensor("two", [], [2]),
      ],
      [
        ["x", [2, C, 5, 6]],
        ["hi", []],
      ],
      [["y", [2, C, 5, 6]]],
    );
    const { session, out } = await both(build, bytes, {
      x: { type: "float32", data: uniform(2 * C * 30, 9, -2, 2), dims: [2, C, 5, 6] },
      hi: { type: "float32", data: [0.9], dims: [] },
    });
    expectSame(out);
    // the constants are read through their strides: the only layout copies are x into NHWC and y out of it
    const steps = session.planReport({ x: [2, C, 5, 6], hi: [] }).steps;
    expect(steps.filter((s) => s.algorithm === "layout.copy").length).toBe(2);
    expect(steps.map((s) => s.algorithm)).toContain("pow.unary");
    await session.release();
  });

  const UNARY: [string, AttributeProto[], number, number, number?][] = [
    ["Abs", [], -3, 3],
    ["Neg", [], -3, 3],
    ["Sqrt", [], 0, 9],
    ["Exp", [], -10, 10],
    ["Log", [], 0.01, 100],
    ["Reciprocal", [], 0.1, 3],
    ["Erf", [], -3, 3],
    ["Sign", [], -2, 2],
    ["Floor", [], -5, 5],
    ["Ceil", [], -5, 5],
    ["Round", [], -5, 5],
    ["Sin", [], -7, 7],
    ["Cos", [], -7, 7],
    ["HardSigmoid", [float("alpha", 0.3), float("beta", 0.4)], -4, 4],
    ["HardSwish", [], -5, 5],
    ["Elu", [float("alpha", 0.5)], -4, 2],
    ["Selu", [], -4, 2],
    ["Celu", [float("alpha", 2)], -4, 2],
    ["Mish", [], -6, 6],
    ["Softplus", [], -8, 8],
    ["Softsign", [], -4, 4],
    ["ThresholdedRelu", [float("alpha", 0.3)], -1, 1],
    ["Relu", [], -1, 1],
    ["LeakyRelu", [float("alpha", 0.2)], -1, 1],
    ["Sigmoid", [], -5, 5],
    ["Tanh", [], -3, 3],
    ["Gelu", [], -4, 4, 20],
    ["Gelu", [str("approximate", "tanh")], -4, 4, 20],
    ["Clip", [float("min", -0.5), float("max", 0.25)], -1, 1, 6],
  ];
  it.each(UNARY)("%s matches onnxruntime", async (op, attrs, lo, hi, opset) => {
    const x = uniform(2 * 3 * 4 * 5, 11, lo, hi);
    if (op === "Round") for (let i = 0; i < x.length; i += 4) x[i] = Math.trunc(x[i]!) + 0.5;
    const bytes = model([node(op, ["x"], ["y"], attrs)], [], [["x", [2, 3, 4, 5]]], [["y", [2, 3, 4, 5]]], opset ?? 18);
    const { session, out } = await both(build, bytes, { x: { type: "float32", data: x, dims: [2, 3, 4, 5] } });
    expectSame(out, 2e-5, 2e-6);
    await session.release();
  });

  it("IsNaN, IsInf, Equal and Not on special values", async () => {
    const x = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 3e38];
    const bytes = model(
      [
        node("IsNaN", ["x"], ["nan"]),
        node("IsInf", ["x"], ["inf"], [int("detect_negative", 0)]),
        node("Equal", ["x", "x"], ["eq"]),
        node("Not", ["eq"], ["ne"]),
      ],
      [],
      [["x", [8]]],
      [
        ["nan", [8], DataType.BOOL],
        ["inf", [8], DataType.BOOL],
        ["eq", [8], DataType.BOOL],
        ["ne", [8], DataType.BOOL],
      ],
    );
    const { session, out } = await both(build, bytes, { x: { type: "float32", data: x, dims: [8] } });
    for (const o of out) expect(o.mine, o.name).toEqual(o.theirs);
    await session.release();
  });

  const TYPES = [DataType.FLOAT, DataType.INT64, DataType.INT32, DataType.INT8, DataType.UINT8, DataType.BOOL, DataType.FLOAT16] as const;
  it.each(TYPES)("Cast from float to type %i and back", async (to) => {
    const x = [0, -0.7, 0.7, 1.5, -1.5, 2.5, 127.9, -128.9, 200.2, 255.6, -300.1, 65519, 1e-5, 3.3, 1000.5, -7];
    const bytes = model(
      [node("Cast", ["x"], ["c"], [int("to", to)]), node("Cast", ["c"], ["y"], [int("to", DataType.FLOAT)])],
      [],
      [["x", [16]]],
      [["y", [16]]],
    );
    const { session, out } = await both(build, bytes, { x: { type: "float32", data: x, dims: [16] } });
    expectSame(out, 0, 0);
    await session.release();
  });

  it("integer arithmetic, comparisons and logic (int64 and bool)", async () => {
    const a = [7, -7, 7, -7, 0, 12, -9, 100, 3, -1, 5, 8],
      b = [2, 2, -2, -2, 3, 5, 4, -7, 3, 1, 5, 3];
    const ops: [string, AttributeProto[]][] = [
      ["Add", []],
      ["Sub", []],
      ["Mul", []],
      ["Div", []],
      ["Mod", []],
      ["Mod", [int("fmod", 1)]],
      ["Max", []],
      ["Min", []],
      ["Pow", []],
      ["Equal", []],
      ["Less", []],
      ["Greater", []],
      ["LessOrEqual", []],
      ["GreaterOrEqual", []],
    ];
    const nodes = ops.map(([op, at], i) => node(op, op === "Pow" ? ["a", "pb"] : ["a", "b"], [`y${i}`], at));
    const bool = (op: string) => ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"].includes(op);
    nodes.push(
      node("And", ["y9", "y10"], ["and"]),
      node("Or", ["y9", "y11"], ["or"]),
      node("Xor", ["y10", "y12"], ["xor"]),
      node("Where", ["y11", "a", "b"], ["where"]),
    );
    const outs: IO[] = ops.map(([op], i) => [`y${i}`, [12], bool(op) ? DataType.BOOL : DataType.INT64]);
    outs.push(["and", [12], DataType.BOOL], ["or", [12], DataType.BOOL], ["xor", [12], DataType.BOOL], ["where", [12], DataType.INT64]);
    const bytes = model(
      nodes,
      [
        tensor(
          "pb",
          [12],
          b.map((v) => Math.abs(v) % 4),
          DataType.INT64,
        ),
      ],
      [
        ["a", [12], DataType.INT64],
        ["b", [12], DataType.INT64],
      ],
      outs,
    );
    const { session, out } = await both(build, bytes, { a: { type: "int64", data: a, dims: [12] }, b: { type: "int64", data: b, dims: [12] } });
    for (const o of out) expect(o.mine, o.name).toEqual(o.theirs);
    await session.release();
  });

  it("folds integer shape arithmetic while planning: a Reshape target from Shape, Mul and Div", async () => {
    const bytes = model(
      [
        node("Shape", ["x"], ["s"]),
        node("Mul", ["s", "m"], ["sm"]),
        node("Div", ["sm", "d"], ["t"]),
        node("Reshape", ["x", "t"], ["r"]),
        node("Relu", ["r"], ["y"]),
      ],
      [tensor("m", [3], [1, 2, 1], DataType.INT64), tensor("d", [3], [1, 1, 2], DataType.INT64)],
      [["x", [2, 3, 4]]],
      [["y", [2, 6, 2]]],
    );
    const { session, out } = await both(build, bytes, { x: { type: "float32", data: uniform(24, 3), dims: [2, 3, 4] } });
    expectSame(out, 0, 0);
    expect(session.planReport({ x: [2, 3, 4] }).steps.map((s) => s.algorithm)).toEqual(["relu.kernel"]);
    await session.release();
  });

  it("rank 0, empty tensors and Sum / Mean / Min of several inputs", async () => {
    const bytes = model(
      [
        node("Add", ["s", "s"], ["ss"]),
        node("Mul", ["e", "v"], ["ev"]),
        node("Sum", ["v", "m", "s"], ["sum"]),
        node("Mean", ["v", "m", "s", "v"], ["mean"]),
        node("Min", ["m", "v"], ["min"]),
      ],
      [],
      [
        ["s", []],
        ["e", [0, 3]],
        ["v", [3]],
        ["m", [2, 1]],
      ],
      [
        ["ss", []],
        ["ev", [0, 3]],
        ["sum", [2, 3]],
        ["mean", [2, 3]],
        ["min", [2, 3]],
      ],
    );
    const { session, out } = await both(build, bytes, {
      s: { type: "float32", data: [1.5], dims: [] },
      e: { type: "float32", data: [], dims: [0, 3] },
      v: { type: "float32", data: [1, -2, 3], dims: [3] },
      m: { type: "float32", data: [0.5, -4], dims: [2, 1] },
    });
    expectSame(out);
    await session.release();
  });
});
