// Files as exporters write them, through InferenceSession against onnxruntime-node: model-local
// functions (ModelProto.functions: calls inlined, attributes bound by ref_attr_name or the
// function's defaults, nested calls, names unique per call site) and tensors stored in external
// files (read next to a model given as a path, or from options.externalData), with the errors for
// recursive functions, missing, short and escaping external files.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { SimdnetError } from "../src/errors.js";
import { InferenceSession } from "../src/graph/session.js";
import {
  AttributeType,
  type AttributeProto,
  DataType,
  encodeModel,
  type FunctionProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from "../src/onnx/onnx-proto.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, uniform } from "./harness.js";
import { float, node, ortRun, simdnetRun, tensor } from "./graph-models.js";
import { modelProto } from "./model-proto.js";

const ref = (name: string, refAttrName: string, type: number): AttributeProto => ({ name, type, refAttrName });
const call = (opType: string, input: string[], output: string[], attribute: AttributeProto[] = []): NodeProto => ({
  ...node(opType, input, output, attribute),
  domain: "custom",
});

function model(nodes: NodeProto[], inits: TensorProto[], functions: FunctionProto[], inputs: [string, number[]][], outputs: string[]): ModelProto {
  const m = modelProto({ nodes, inits, inputs, outputs });
  return { ...m, opsetImport: [...m.opsetImport, { domain: "custom", version: 1 }], functions };
}

const fn = (name: string, input: string[], output: string[], attribute: string[], body: NodeProto[], attributeProto: AttributeProto[] = []): FunctionProto => ({
  name,
  domain: "custom",
  input,
  output,
  attribute,
  attributeProto,
  node: body,
  opsetImport: [
    { domain: "", version: 17 },
    { domain: "custom", version: 1 },
  ],
});

/** Scale(X; alpha) = Relu(X * alpha): its values "a" and "m" also name values of the main graph. */
const SCALE = fn(
  "Scale",
  ["X"],
  ["Y"],
  ["alpha"],
  [node("Constant", [], ["a"], [ref("value_float", "alpha", AttributeType.FLOAT)]), node("Mul", ["X", "a"], ["m"]), node("Relu", ["m"], ["Y"])],
);
/** Block(X, B; alpha) = (Scale(X; alpha) + B, Sigmoid of that): a function calling a function. */
const BLOCK = fn(
  "Block",
  ["X", "B"],
  ["Y", "Z"],
  ["alpha"],
  [call("Scale", ["X"], ["s"], [ref("alpha", "alpha", AttributeType.FLOAT)]), node("Add", ["s", "B"], ["Y"]), node("Sigmoid", ["Y"], ["Z"])],
);

describe.each(BUILDS_UNDER_TEST)("model-local functions (%s)", (build) => {
  it("inlines nested calls with their attributes and matches onnxruntime", async () => {
    const e = await engineFor(build);
    const shape = [2, 5, 3];
    const m = model(
      [
        node("Sigmoid", ["x"], ["m"]),
        call("Block", ["m", "b"], ["a", ""], [float("alpha", 2)]), // Z omitted
        call("Block", ["a", "b"], ["y", "z"], [float("alpha", -0.5)]),
        call("Scale", ["x"], ["w"], [float("alpha", 3)]),
      ],
      [tensor("b", [3], [0.5, -1, 2])],
      [SCALE, BLOCK],
      [["x", shape]],
      ["y", "z", "w", "m"],
    );
    const bytes = encodeModel(m);
    const feeds = { x: { dims: shape, data: uniform(30, 3, -2, 2) } };
    const want = await ortRun(bytes, feeds);
    const got = simdnetRun(e, bytes, feeds);
    for (const k of ["y", "z", "w", "m"]) {
      expect(got[k]!.dims).toEqual(want[k]!.dims);
      expectClose(got[k]!.data, want[k]!.data, { rtol: 1e-5, atol: 1e-6, label: k });
    }
    // and by hand: w = relu(3x)
    const x = feeds.x.data;
    expectClose(
      got.w!.data,
      Array.from(x, (v) => Math.max(0, 3 * v)),
      { rtol: 1e-6, atol: 0, label: "w" },
    );
  });

  it("takes an attribute the call omits from the function's defaults (attribute_proto)", async () => {
    const e = await engineFor(build);
    const withDefault = fn("Scale", ["X"], ["Y"], [], SCALE.node, [float("alpha", 0.25)]);
    const m = model([call("Scale", ["x"], ["y"]), call("Scale", ["x"], ["z"], [float("alpha", 4)])], [], [withDefault], [["x", [7]]], ["y", "z"]);
    const x = uniform(7, 9, -1, 1);
    const got = simdnetRun(e, encodeModel(m), { x: { dims: [7], data: x } });
    expectClose(
      got.y!.data,
      Array.from(x, (v) => Math.max(0, Math.fround(0.25 * v))),
      { rtol: 0, atol: 0, label: "default" },
    );
    expectClose(
      got.z!.data,
      Array.from(x, (v) => Math.max(0, Math.fround(4 * v))),
      { rtol: 0, atol: 0, label: "given" },
    );
  });

  it("inlines calls inside an If branch", async () => {
    const e = await engineFor(build);
    const branch = (alpha: number) => ({
      name: "b",
      node: [call("Scale", ["x"], ["r"], [float("alpha", alpha)])],
      initializer: [],
      input: [],
      output: [{ name: "r", elemType: DataType.FLOAT }],
      valueInfo: [],
    });
    const m = model(
      [
        node("ReduceSum", ["x"], ["s"], [{ name: "keepdims", type: AttributeType.INT, i: 0 }]),
        node("Greater", ["s", "zero"], ["c"]),
        {
          ...node("If", ["c"], ["y"]),
          attribute: [
            { name: "then_branch", type: AttributeType.GRAPH, g: branch(2) },
            { name: "else_branch", type: AttributeType.GRAPH, g: branch(-1) },
          ],
        },
      ],
      [tensor("zero", [], [0])],
      [SCALE],
      [["x", [4]]],
      ["y"],
    );
    const bytes = encodeModel(m);
    for (const data of [Float32Array.of(1, 2, -1, 0.5), Float32Array.of(-1, -2, 1, 0.5)]) {
      const feeds = { x: { dims: [4], data } };
      expectClose(simdnetRun(e, bytes, feeds).y!.data, (await ortRun(bytes, feeds)).y!.data, { rtol: 0, atol: 0, label: "If" });
    }
  });

  it("refuses recursion and bodies reading undefined values, naming the function", async () => {
    const e = await engineFor(build);
    const loop = fn("Scale", ["X"], ["Y"], [], [call("Scale", ["X"], ["Y"])]);
    const bad = fn("Scale", ["X"], ["Y"], [], [node("Add", ["X", "outside"], ["Y"])]);
    for (const [f, msg] of [
      [loop, /function "custom.Scale" called by node "y\/Y": calls itself/],
      [bad, /reads "outside", which is neither an input of the function nor made in it/],
    ] as const) {
      const bytes = encodeModel(model([call("Scale", ["x"], ["y"])], [], [f], [["x", [3]]], ["y"]));
      expect(() => InferenceSession.fromBytes(e, bytes)).toThrow(SimdnetError);
      expect(() => InferenceSession.fromBytes(e, bytes)).toThrow(msg);
    }
    // a custom-domain node with no function is still named as unsupported
    const none = encodeModel(model([call("Nope", ["x"], ["y"])], [], [SCALE], [["x", [3]]], ["y"]));
    expect(() => InferenceSession.fromBytes(e, none)).toThrow(/Nope \(domain "custom"\)/);
  });
});

describe("external data", () => {
  const dir = mkdtempSync(join(tmpdir(), "simdnet-external-"));
  const outside = mkdtempSync(join(tmpdir(), "simdnet-outside-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });
  const W = uniform(5 * 4, 11, -1, 1),
    B = uniform(4, 12, -1, 1);
  // the data file: 16 bytes of padding, W, then B
  const data = new Uint8Array(16 + 4 * (W.length + B.length));
  data.set(new Uint8Array(W.buffer), 16);
  data.set(new Uint8Array(B.buffer), 16 + 4 * W.length);
  const ext = (name: string, dims: number[], location: string, offset: number, length?: number): TensorProto => ({
    ...tensor(name, dims, []),
    externalData: { location, offset, length },
  });
  const bytesWith = (location: string, lengthW?: number) =>
    encodeModel(
      model(
        [node("MatMul", ["x", "w"], ["t"]), node("Add", ["t", "b"], ["y"])],
        [ext("w", [5, 4], location, 16, lengthW), ext("b", [4], location, 16 + 4 * W.length)],
        [],
        [["x", [3, 5]]],
        ["y"],
      ),
    );
  writeFileSync(join(dir, "model.onnx"), bytesWith("model.data"));
  writeFileSync(join(dir, "model.data"), data);
  mkdirSync(join(dir, "sub"));
  writeFileSync(join(dir, "sub", "model.onnx"), bytesWith("../model.data"));
  writeFileSync(join(dir, "absolute.onnx"), bytesWith(join(dir, "model.data")));
  writeFileSync(join(dir, "missing.onnx"), bytesWith("nothing.data"));
  writeFileSync(join(dir, "short.onnx"), bytesWith("short.data"));
  writeFileSync(join(dir, "short.data"), data.subarray(0, 40));
  writeFileSync(join(dir, "length.onnx"), bytesWith("model.data", 12));
  writeFileSync(join(outside, "model.data"), data);
  symlinkSync(outside, join(dir, "link"));
  writeFileSync(join(dir, "linked.onnx"), bytesWith("link/model.data"));
  const x = uniform(15, 13, -1, 1);

  it.each(BUILDS_UNDER_TEST)("reads tensors next to a model given as a path, as onnxruntime does (%s)", async (build) => {
    const ortSession = await ort.InferenceSession.create(join(dir, "model.onnx"));
    const want = (await ortSession.run({ x: new ort.Tensor("float32", x, [3, 5]) })).y!.data as Float32Array;
    await ortSession.release();
    for (const source of [join(dir, "model.onnx"), `file://${join(dir, "model.onnx")}`]) {
      const s = await InferenceSession.create(source, { build });
      const got = (await s.run({ x: { dims: [3, 5], data: x } })).y!;
      await s.release();
      expect(got.dims).toEqual([3, 4]);
      expectClose(got.data as Float32Array, want, { rtol: 1e-5, atol: 1e-6, label: source });
    }
    // from bytes, with the file's bytes given by location
    const s = await InferenceSession.create(bytesWith("model.data"), { build, externalData: { "model.data": data } });
    expectClose((await s.run({ x: { dims: [3, 5], data: x } })).y!.data as Float32Array, want, { rtol: 1e-5, atol: 1e-6, label: "bytes" });
    await s.release();
  });

  it("refuses what it cannot read, naming the tensor and the file", async () => {
    const refuses = async (source: string | Uint8Array, msg: RegExp, options = {}) => {
      const err = await InferenceSession.create(source, { build: "scalar", ...options }).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(SimdnetError);
      expect((err as Error).message).toMatch(msg);
    };
    await refuses(bytesWith("model.data"), /tensor "w" stores its data in the external file "model.data": create the session from the model's file path/);
    await refuses(bytesWith("model.data"), /tensor "w" is stored in "model.data", which options.externalData does not hold/, { externalData: {} });
    await refuses(bytesWith("model.data"), /tensor "b" needs bytes 96 to 112 of "model.data", which has 100 bytes/, {
      externalData: { "model.data": data.subarray(0, 100) },
    });
    await refuses(join(dir, "sub", "model.onnx"), /tensor "w" is stored in "..\/model.data", which is outside the model's directory/);
    await refuses(join(dir, "absolute.onnx"), /tensor "w" is stored in ".*model.data", which is outside the model's directory/);
    await refuses(join(dir, "linked.onnx"), /a link leading outside the model's directory/);
    await refuses(join(dir, "missing.onnx"), /tensor "w" is stored in "nothing.data", which cannot be read/);
    await refuses(join(dir, "short.onnx"), /tensor "w" needs bytes 16 to 96 of "short.data", which has 40 bytes/);
    await refuses(join(dir, "length.onnx"), /tensor "w" of shape \[5,4\] \(20 elements\) holds 3 FLOAT values/);
  });
});
