// The planned runtime's machinery: copy_nd against a host reference at tile edges, the planner's
// memory reuse and heap independence, and InferenceSession's API (I/O types, errors, plan cache).
import { describe, expect, it } from "vitest";
import { coalesce, contiguousStrides, ND_DESC_BYTES, ND_DESC_WORDS, writeNd } from "../src/graph/nd.js";
import { graphConstants } from "../src/graph/constants.js";
import { importGraph } from "../src/graph/import.js";
import { analyzeGraph } from "../src/graph/plan.js";
import { InferenceSession, OnnxTensor } from "../src/graph/session.js";
import { AttributeType, type AttributeProto, DataType, decodeModel, encodeModel, type NodeProto, type TensorProto } from "../src/onnx/onnx-proto.js";
import { SimdnetError } from "../src/index.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, rng, TILE_EDGE_SIZES, uniform } from "./harness.js";
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
const floats = (name: string, dims: number[], data: ArrayLike<number>): TensorProto => ({
  name,
  dims,
  dataType: DataType.FLOAT,
  data: Float32Array.from(data),
});

function modelBytes(
  nodes: NodeProto[],
  inits: TensorProto[],
  inputs: [string, (number | string)[], number?][],
  outputs: (string | [string, number])[],
  opset = 17,
): Uint8Array {
  // (inputs may have symbolic dims, which ModelSpec does not take)
  const m = modelProto({ nodes, inits, inputs: [], outputs, opset });
  return encodeModel({ ...m, graph: { ...m.graph, input: inputs.map(([name, shape, t]) => ({ name, elemType: t ?? DataType.FLOAT, shape })) } });
}

describe("N-d descriptors", () => {
  it("agree with assembly/nd.ts on the layout", async () => {
    const e = await engineFor("scalar");
    expect(e.kernels.nd_desc_words()).toBe(ND_DESC_WORDS);
  });

  it("coalesce merges contiguous axes and drops extent-1 axes", () => {
    expect(coalesce({ dims: [2, 3, 4], strides: [contiguousStrides([2, 3, 4])] })).toEqual({ dims: [24], strides: [[1]] });
    expect(
      coalesce({
        dims: [2, 1, 4],
        strides: [
          [4, 4, 1],
          [1, 0, 2],
        ],
      }),
    ).toEqual({
      dims: [2, 4],
      strides: [
        [4, 1],
        [1, 2],
      ],
    });
    expect(coalesce({ dims: [1, 1], strides: [[1, 1]] })).toEqual({ dims: [1], strides: [[0]] });
  });

  describe.each(BUILDS_UNDER_TEST)("copy_nd (%s)", (build) => {
    it.each(TILE_EDGE_SIZES)("transposes, broadcasts and reverses an axis of %i", async (inner) => {
      const e = await engineFor(build);
      const r = rng(inner);
      // x: [3, inner, 5] read as y = x^T(2, 0, 1) with axis 1 reversed, and a broadcast axis
      const xd = [3, inner, 5],
        x = uniform(3 * inner * 5, inner);
      const xs = contiguousStrides(xd);
      const dims = [5, 2, 3, inner];
      const strides = [xs[2]!, 0, xs[0]!, -xs[1]!];
      const base = (inner - 1) * xs[1]!;
      // the reference: every index of y, its x offset summed in plain arithmetic
      const want = new Float32Array(dims.reduce((a, b) => a * b, 1));
      let k = 0;
      for (let a = 0; a < dims[0]!; a++)
        for (let b = 0; b < dims[1]!; b++)
          for (let c = 0; c < dims[2]!; c++)
            for (let d = 0; d < dims[3]!; d++) {
              want[k++] = x[base + a * strides[0]! + b * strides[1]! + c * strides[2]! + d * strides[3]!]!;
            }
      void r;
      const xt = e.tensor([x.length], x),
        yt = e.zeros([want.length]),
        desc = e.empty([ND_DESC_WORDS], "i32");
      writeNd(e.heap.i32, desc.ptr, { dims, strides: [contiguousStrides(dims), strides] }, "test");
      e.kernels.copy_nd(yt.ptr, xt.ptr + 4 * base, desc.ptr);
      expect(Array.from(yt.data)).toEqual(Array.from(want));
      // the SIMD row paths: a contiguous row and a broadcast (splat) row of `inner` elements, 3 rows
      const rows = e.zeros([3 * inner]);
      writeNd(
        e.heap.i32,
        desc.ptr,
        {
          dims: [3, inner],
          strides: [
            [inner, 1],
            [inner * 5, 1],
          ],
        },
        "test",
      );
      e.kernels.copy_nd(rows.ptr, xt.ptr, desc.ptr);
      expect(Array.from(rows.data)).toEqual([0, 1, 2].flatMap((i) => Array.from(x.subarray(i * inner * 5, i * inner * 5 + inner))));
      writeNd(
        e.heap.i32,
        desc.ptr,
        {
          dims: [3, inner],
          strides: [
            [inner, 1],
            [1, 0],
          ],
        },
        "test",
      );
      e.kernels.copy_nd(rows.ptr, xt.ptr, desc.ptr);
      expect(Array.from(rows.data)).toEqual([0, 1, 2].flatMap((i) => new Array<number>(inner).fill(x[i]!)));
      rows.dispose();
      expect(ND_DESC_BYTES).toBe(ND_DESC_WORDS * 4);
      for (const t of [xt, yt, desc]) t.dispose();
    });
  });
});

describe.each(BUILDS_UNDER_TEST)("InferenceSession (%s)", (build) => {
  /** x [N, 4, 6, 6] -> conv 3x3 (8) -> relu -> conv 1x1 (4) -> add x -> global average pool -> flatten. */
  function residualNet(): Uint8Array {
    const w1 = uniform(8 * 4 * 9, 1),
      w2 = uniform(4 * 8, 2);
    return modelBytes(
      [
        node("Conv", ["x", "w1"], ["c1"], [ints("pads", [1, 1, 1, 1])]),
        node("Relu", ["c1"], ["r1"]),
        node("Conv", ["r1", "w2"], ["c2"]),
        node("Add", ["c2", "x"], ["s"]),
        node("GlobalAveragePool", ["s"], ["g"]),
        node("Flatten", ["g"], ["y"]),
      ],
      [floats("w1", [8, 4, 3, 3], w1), floats("w2", [4, 8, 1, 1], w2)],
      [["x", ["N", 4, 6, 6]]],
      ["y"],
    );
  }

  it("runs with onnxruntime-web's API shape and plans once per input shape", async () => {
    const e = await engineFor(build);
    const s = InferenceSession.fromBytes(e, residualNet());
    expect(s.inputNames).toEqual(["x"]);
    expect(s.outputNames).toEqual(["y"]);
    expect(s.inputMetadata[0]).toEqual({ name: "x", type: "float32", shape: ["N", 4, 6, 6] });
    const x = uniform(2 * 4 * 36, 3);
    const a = (await s.run({ x: new OnnxTensor("float32", x, [2, 4, 6, 6]) })).y!;
    expect(a.type).toBe("float32");
    expect(a.dims).toEqual([2, 4]);
    // the same again: same plan, same bits, and a run allocates nothing
    const used = e.heap.bytesInUse;
    const b = s.runSync({ x: { dims: [2, 4, 6, 6], data: x } }).y!;
    expect(e.heap.bytesInUse).toBe(used);
    expect(Array.from(b.data as Float32Array)).toEqual(Array.from(a.data as Float32Array));
    // batch 1 is a new plan; its rows equal the batch-2 rows
    const one = s.runSync({ x: { dims: [1, 4, 6, 6], data: x.subarray(0, 144) } }).y!;
    expect(Array.from(one.data as Float32Array)).toEqual(Array.from((a.data as Float32Array).subarray(0, 4)));
    await s.release();
    expect(() => s.runSync({ x: { dims: [1, 4, 6, 6], data: x.subarray(0, 144) } })).toThrow(/released/);
  });

  it("reuses activation memory: the arena is smaller than the sum of the values", async () => {
    const e = await engineFor(build);
    const chain: NodeProto[] = [];
    for (let i = 0; i < 8; i++) chain.push(node("Relu", [i === 0 ? "x" : `v${i}`], [i === 7 ? "y" : `v${i + 1}`]));
    // a branch keeps v4 alive across v5..y: it cannot be overwritten in place
    chain.push(node("Add", ["v4", "y"], ["z"]));
    const s = InferenceSession.fromBytes(e, modelBytes(chain, [], [["x", [1, 64, 32, 32]]], ["z"]));
    const r = s.planReport({ x: [1, 64, 32, 32] });
    const bytes = 64 * 32 * 32 * 4;
    expect(r.unsharedBytes).toBe(10 * bytes);
    // v1..v4 written in place one after another, then z over them; v5..y likewise in a second
    // buffer, which takes x's place once the first ReLU has read x
    expect(r.arenaBytes).toBe(2 * bytes);
    const x = uniform(64 * 32 * 32, 9);
    const z = s.runSync({ x: { dims: [1, 64, 32, 32], data: x } }).z!.data as Float32Array;
    expect(Array.from(z)).toEqual(Array.from(x, (v) => Math.fround(2 * Math.max(v, 0))));
    await s.release();
  });

  it("chooses the same steps and gives the same bits however full the heap is", async () => {
    const e = await engineFor(build);
    const x = uniform(4 * 4 * 36, 5);
    const run = () => {
      const s = InferenceSession.fromBytes(e, residualNet());
      const steps = s.planReport({ x: [4, 4, 6, 6] }).steps;
      const y = s.runSync({ x: { dims: [4, 4, 6, 6], data: x } }).y!.data as Float32Array;
      void s.release();
      return { steps, y: Array.from(y) };
    };
    const empty = run();
    const filler = e.empty([4 << 20], "f32", "filler"); // 16 MB taken first
    const full = run();
    filler.dispose();
    expect(full).toEqual(empty);
  });

  it("names the problem on bad feeds and keeps working", async () => {
    const e = await engineFor(build);
    const s = InferenceSession.fromBytes(e, residualNet());
    const x = uniform(144, 6);
    expect(() => s.runSync({})).toThrow(/missing input "x"/);
    expect(() => s.runSync({ x: { dims: [1, 3, 6, 6], data: x.subarray(0, 108) } })).toThrow(/dimension 1 to be 4/);
    expect(() => s.runSync({ x: { dims: [1, 4, 6, 6], data: x.subarray(0, 100) } })).toThrow(/need 144 values/);
    expect(() => s.runSync({ x: { dims: [1, 4, 6, 6], data: x, type: "int32" } })).toThrow(/expects float32/);
    expect(() => s.runSync({ x: { dims: [1, 4, 6, 6], data: x }, z: { dims: [1], data: [1] } })).toThrow(/"z" is not an input/);
    expect(s.runSync({ x: { dims: [1, 4, 6, 6], data: x } }).y!.dims).toEqual([1, 4]);
    await s.release();
  });

  it("reports every unsupported node at once, and opsets out of range", async () => {
    const e = await engineFor(build);
    const bad = modelBytes([node("Frobnicate", ["x"], ["a"]), node("Relu", ["a"], ["b"]), node("Warp", ["b"], ["y"])], [], [["x", [1]]], ["y"]);
    expect(() => InferenceSession.fromBytes(e, bad)).toThrow(/2 unsupported nodes: Frobnicate at node 0 "a"; Warp at node 2 "y"/);
    const future = modelBytes([node("Relu", ["x"], ["y"])], [], [["x", [1]]], ["y"], 99);
    expect(() => InferenceSession.fromBytes(e, future)).toThrow(SimdnetError);
    expect(() => InferenceSession.fromBytes(e, future)).toThrow(/opset 99/);
  });

  it("loads nodes in any order (sorted topologically) and drops nodes no output needs", async () => {
    const e = await engineFor(build);
    const bytes = modelBytes([node("Relu", ["a"], ["y"]), node("Sigmoid", ["x"], ["unused"]), node("Relu", ["x"], ["a"])], [], [["x", [3]]], ["y"]);
    const s = InferenceSession.fromBytes(e, bytes);
    expect(s.planReport({ x: [3] }).steps.map((t) => t.algorithm)).toEqual(["relu.kernel", "relu.kernel"]);
    expect(Array.from(s.runSync({ x: { dims: [3], data: [-1, 0, 2] } }).y!.data as Float32Array)).toEqual([0, 0, 2]);
    await s.release();
  });

  it("folds If with a condition known when planning: a constant, or an input planned per value", async () => {
    const e = await engineFor(build);
    const branch = (op: string, bias: number): AttributeProto => ({
      name: op === "Relu" ? "then_branch" : "else_branch",
      type: AttributeType.GRAPH,
      g: {
        name: op,
        node: [node(op, ["x"], [`${op}_a`]), node("Add", [`${op}_a`, `${op}_b`], [`${op}_y`])],
        initializer: [floats(`${op}_b`, [1], [bias])],
        input: [],
        valueInfo: [],
        output: [{ name: `${op}_y`, elemType: DataType.FLOAT }],
      },
    });
    const ifNode = node("If", ["cond"], ["y"], [branch("Relu", 10), branch("Sigmoid", 20)]);
    const x = [-1, 0, 2];
    const fed = InferenceSession.fromBytes(
      e,
      modelBytes(
        [ifNode],
        [],
        [
          ["x", [3]],
          ["cond", [], DataType.BOOL],
        ],
        ["y"],
      ),
    );
    const run = (c: number) =>
      Array.from(fed.runSync({ x: { dims: [3], data: x }, cond: new OnnxTensor("bool", Uint8Array.of(c), []) }).y!.data as Float32Array);
    expect(run(1)).toEqual([10, 10, 12]);
    expectClose(
      run(0),
      x.map((v) => 20 + 1 / (1 + Math.exp(-v))),
      { rtol: 1e-6, atol: 1e-6 },
    );
    expect(fed.planReport({ x: [3] }, { cond: { dims: [], data: [1] } }).steps.map((t) => t.algorithm)).toEqual(["relu.kernel", "add.broadcast"]);
    await fed.release();
    const constant = InferenceSession.fromBytes(
      e,
      modelBytes([ifNode], [{ name: "cond", dims: [], dataType: DataType.BOOL, data: Float64Array.of(0) }], [["x", [3]]], ["y"]),
    );
    expect(constant.planReport({ x: [3] }).steps.map((t) => t.algorithm)).toEqual(["sigmoid.kernel", "add.broadcast"]);
    await constant.release();
  });

  it("plans both branches of an If whose condition depends on the run's data, and runs the one taken", async () => {
    const e = await engineFor(build);
    const branch = (name: string, op: string, bias: number, extra: NodeProto[] = [], out?: string): AttributeProto => ({
      name,
      type: AttributeType.GRAPH,
      g: {
        name: op,
        node: [node(op, ["x"], [`${op}_a`]), node("Add", [`${op}_a`, `${op}_b`], [`${op}_y`]), ...extra],
        initializer: [floats(`${op}_b`, [1], [bias]), { name: `${op}_shape`, dims: [1], dataType: DataType.INT64, data: Float64Array.of(2) }],
        input: [],
        valueInfo: [],
        output: [{ name: out ?? `${op}_y`, elemType: DataType.FLOAT }],
      },
    });
    // cond is one element sliced from 100 flags: too many to plan per value, so a run-time If
    const sliced = [
      node("Slice", ["flags", "at", "next"], ["cond"]),
      node("If", ["cond"], ["y"], [branch("then_branch", "Relu", 10), branch("else_branch", "Sigmoid", 20)]),
    ];
    const idx = (name: string, v: number): TensorProto => ({ name, dims: [1], dataType: DataType.INT64, data: Float64Array.of(v) });
    const inputs: [string, number[], number?][] = [
      ["x", [3]],
      ["flags", [100], DataType.BOOL],
    ];
    const s = InferenceSession.fromBytes(e, modelBytes(sliced, [idx("at", 7), idx("next", 8)], inputs, ["y"]));
    const x = [-1, 0, 2];
    const flags = (on: boolean) =>
      new OnnxTensor(
        "bool",
        Uint8Array.from({ length: 100 }, (_, i) => (i === 7 && on ? 1 : 0)),
        [100],
      );
    const run = (on: boolean) => Array.from(s.runSync({ x: { dims: [3], data: x }, flags: flags(on) }).y!.data as Float32Array);
    const sigmoid = x.map((v) => 20 + 1 / (1 + Math.exp(-v)));
    for (const on of [true, false, true]) {
      if (on) expect(run(on)).toEqual([10, 10, 12]);
      else expectClose(run(on), sigmoid, { rtol: 1e-6, atol: 1e-6 });
    }
    const algorithms = s.planReport({ x: [3], flags: [100] }).steps.map((t) => t.algorithm);
    expect(algorithms.filter((a) => a === "relu.kernel" || a === "sigmoid.kernel")).toEqual(["relu.kernel", "sigmoid.kernel"]);
    expect(algorithms.filter((a) => a === "if.control")).toHaveLength(2);
    await s.release();

    // a branch that cannot be planned for these shapes (a Reshape of 3 values to [2]) fails only when taken
    const broken = branch("else_branch", "Sigmoid", 20, [node("Reshape", ["Sigmoid_y", "Sigmoid_shape"], ["Sigmoid_r"])], "Sigmoid_r");
    const b = InferenceSession.fromBytes(
      e,
      modelBytes([sliced[0]!, node("If", ["cond"], ["y"], [branch("then_branch", "Relu", 10), broken])], [idx("at", 7), idx("next", 8)], inputs, ["y"]),
    );
    expect(Array.from(b.runSync({ x: { dims: [3], data: x }, flags: flags(true) }).y!.data as Float32Array)).toEqual([10, 10, 12]);
    expect(() => b.runSync({ x: { dims: [3], data: x }, flags: flags(false) })).toThrow(/else_branch.*Reshape|Reshape.*else_branch/s);
    await b.release();
  });

  it("folds inference batch norm into the conv before it, and only where nothing else reads the conv", async () => {
    const e = await engineFor(build);
    const C = 5,
      M = 6;
    for (const bias of [false, true]) {
      const inits = [
        floats("w", [M, C, 3, 3], uniform(M * C * 9, 41)),
        ...(bias ? [floats("b", [M], uniform(M, 42))] : []),
        floats("scale", [M], uniform(M, 43)),
        floats("shift", [M], uniform(M, 44)),
        floats("mean", [M], uniform(M, 45)),
        floats(
          "var",
          [M],
          Array.from(uniform(M, 46), (v) => Math.abs(v) + 0.1),
        ),
      ];
      const nodes = [
        node("Conv", ["x", "w", ...(bias ? ["b"] : [])], ["c"], [ints("pads", [1, 1, 1, 1])]),
        node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"], [{ name: "epsilon", type: AttributeType.FLOAT, f: 1e-3 }]),
        node("Relu", ["n"], ["y"]),
      ];
      const fused = InferenceSession.fromBytes(e, modelBytes(nodes, inits, [["x", [2, C, 7, 9]]], ["y"]));
      const kept = InferenceSession.fromBytes(e, modelBytes(nodes, inits, [["x", [2, C, 7, 9]]], ["y", "c"]));
      const algorithms = (s: InferenceSession) => s.planReport({ x: [2, C, 7, 9] }).steps.map((t) => t.algorithm);
      expect(algorithms(fused).some((a) => a.startsWith("batchNormalization"))).toBe(false);
      expect(algorithms(kept).some((a) => a.startsWith("batchNormalization"))).toBe(true);
      const x = { dims: [2, C, 7, 9], data: uniform(2 * C * 63, 47) };
      const want = kept.runSync({ x }).y!.data as Float32Array;
      expectClose(fused.runSync({ x }).y!.data as Float32Array, want, { rtol: 1e-5, atol: 1e-5 });
      await fused.release();
      await kept.release();
    }
  });

  it("hands ops the axis order they ask for even where extent-1 axes make two orders the same bytes", async () => {
    // Gemm with B [1, 8] and transB: B in [K, N] order is [8, 1], the same bytes as [1, 8]
    const e = await engineFor(build);
    const w = uniform(8, 31),
      b = [0.25];
    const s = InferenceSession.fromBytes(
      e,
      modelBytes([node("Gemm", ["x", "w", "b"], ["y"], [int("transB", 1)])], [floats("w", [1, 8], w), floats("b", [1], b)], [["x", ["N", 8]]], ["y"]),
    );
    for (const rows of [1, 3]) {
      const x = uniform(rows * 8, 32 + rows);
      const want = Array.from({ length: rows }, (_, r) => w.reduce((acc, v, k) => acc + v * x[r * 8 + k]!, 0.25));
      expectClose(s.runSync({ x: { dims: [rows, 8], data: x } }).y!.data as Float32Array, want, { rtol: 1e-5, atol: 1e-6 });
    }
    await s.release();
  });

  it("analyzeGraph reports the nodes left after folding, with shapes and constant data", async () => {
    const e = await engineFor(build);
    const graph = importGraph(decodeModel(residualNet()));
    const constants = graphConstants(e, graph.initializers);
    const used = e.heap.bytesInUse;
    const a = analyzeGraph(e, graph, constants, new Map([["x", [2, 4, 6, 6]]]));
    expect(a.nodes.map((n) => n.type)).toEqual(["Conv", "Relu", "Conv", "Add", "GlobalAveragePool", "Flatten"]);
    const conv = a.nodes[0]!;
    expect(conv.inputs[0]!.shape).toEqual([2, 4, 6, 6]);
    expect(conv.inputs[1]!.constant!.dims).toEqual([8, 4, 3, 3]);
    expect(conv.outputs[0]!.shape).toEqual([2, 8, 6, 6]);
    expect(a.outputs[0]!.shape).toEqual([2, 4]);
    a.dispose();
    for (const c of constants.values()) c.dispose();
    expect(e.heap.bytesInUse).toBe(used);
  });

  it("gives int64 outputs as BigInt64Array; a shape fed as an input plans per value", async () => {
    const e = await engineFor(build);
    const bytes = modelBytes(
      [node("Reshape", ["x", "shape"], ["r"]), node("Shape", ["r"], ["y"])],
      [],
      [
        ["x", [2, 3]],
        ["shape", [2], DataType.INT64],
      ],
      [["y", DataType.INT64], "r"],
    );
    const s = InferenceSession.fromBytes(e, bytes);
    const x = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const out = s.runSync({ x: { dims: [2, 3], data: x }, shape: new OnnxTensor("int64", BigInt64Array.from([3n, 2n]), [2]) });
    expect(out.y!.type).toBe("int64");
    expect(Array.from(out.y!.data as BigInt64Array)).toEqual([3n, 2n]);
    expect(out.r!.dims).toEqual([3, 2]);
    const again = s.runSync({ x: { dims: [2, 3], data: x }, shape: new OnnxTensor("int64", BigInt64Array.from([1n, 6n]), [2]) });
    expect(again.r!.dims).toEqual([1, 6]);
    expect(Array.from(again.r!.data as Float32Array)).toEqual(Array.from(x));
    await s.release();
  });
});
