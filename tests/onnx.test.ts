// ONNX import: every conformance case in node/ and pytorch-converted/ in every build, a
// multi-layer graph checked against a plain float64 NCHW reference (so the NHWC <-> ONNX-order
// conversions around Flatten / Reshape / Transpose / Concat are tested), the host-side index
// helpers of the Model's layer kinds, and the errors for unsupported ops and malformed files.
// importOnnx (OnnxModel) runs through InferenceSession.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SimdnetError } from "../src/index.js";
import { findOnnxCases, formatOnnxResult, runOnnxCase } from "../src/onnx/conformance.js";
import { importGraph } from "../src/graph/import.js";
import { graphConstants } from "../src/graph/constants.js";
import { analyzeGraph } from "../src/graph/plan.js";
import { nearestSourceIndex, padSourceIndex, permute } from "../src/onnx/indexing.js";
import { importOnnx } from "../src/onnx/model.js";
import {
  AttributeType,
  type AttributeProto,
  DataType,
  decodeTensor,
  decodeModel,
  encodeModel,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from "../src/onnx/onnx-proto.js";
import { BUILDS_UNDER_TEST, engineFor, HAS_ONNX, ONNX_DIR, rng, uniform } from "./harness.js";

const CASES = HAS_ONNX ? [...findOnnxCases(new URL("node/", ONNX_DIR).pathname), ...findOnnxCases(new URL("pytorch-converted/", ONNX_DIR).pathname)] : [];

// ---- building models in memory ----

const ints = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: v });
const int = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.INT, i: v });
const node = (opType: string, input: string[], output: string[], attribute: AttributeProto[] = [], name = output[0]!): NodeProto => ({
  name,
  opType,
  domain: "",
  input,
  output,
  attribute,
});
const floatTensor = (name: string, dims: number[], data: ArrayLike<number>): TensorProto => ({
  name,
  dims,
  dataType: DataType.FLOAT,
  data: Float32Array.from(data),
});
const int64Tensor = (name: string, data: number[]): TensorProto => ({ name, dims: [data.length], dataType: DataType.INT64, data: Float64Array.from(data) });

function model(nodes: NodeProto[], inits: TensorProto[], input: [string, (number | string)[]], output: string, opset = 13): Uint8Array {
  const m: ModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: "", version: opset }],
    producerName: "simdnet-test",
    producerVersion: "",
    domain: "",
    modelVersion: 0,
    docString: "",
    metadataProps: [],
    graph: {
      name: "g",
      node: nodes,
      initializer: inits,
      valueInfo: [],
      input: [{ name: input[0], elemType: DataType.FLOAT, shape: input[1] }],
      output: [{ name: output, elemType: DataType.FLOAT }],
    },
  };
  return encodeModel(m);
}

// ---- a float64 NCHW reference for the multi-layer graph ----

type T = { d: number[]; v: Float64Array };
const at4 = (t: T, n: number, c: number, h: number, w: number) => t.v[((n * t.d[1]! + c) * t.d[2]! + h) * t.d[3]! + w]!;

function convRef(x: T, w: T, b: number[], pad: number, stride: number, groups: number): T {
  const [N, C, H, W] = x.d as [number, number, number, number];
  const [O, Cg, KH, KW] = w.d as [number, number, number, number];
  const OH = Math.floor((H + 2 * pad - KH) / stride) + 1,
    OW = Math.floor((W + 2 * pad - KW) / stride) + 1;
  const y: T = { d: [N, O, OH, OW], v: new Float64Array(N * O * OH * OW) };
  const og = O / groups;
  void C;
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          let s = b[o] ?? 0;
          const g = Math.floor(o / og);
          for (let c = 0; c < Cg; c++)
            for (let ki = 0; ki < KH; ki++)
              for (let kj = 0; kj < KW; kj++) {
                const hi = i * stride - pad + ki,
                  wj = j * stride - pad + kj;
                if (hi < 0 || hi >= H || wj < 0 || wj >= W) continue;
                s += at4(x, n, g * Cg + c, hi, wj) * at4(w, o, c, ki, kj);
              }
          y.v[((n * O + o) * OH + i) * OW + j] = s;
        }
  return y;
}

function maxPoolRef(x: T, k: number, s: number): T {
  const [N, C, H, W] = x.d as [number, number, number, number];
  const OH = Math.floor((H - k) / s) + 1,
    OW = Math.floor((W - k) / s) + 1;
  const y: T = { d: [N, C, OH, OW], v: new Float64Array(N * C * OH * OW) };
  let p = 0;
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          let m = -Infinity;
          for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) m = Math.max(m, at4(x, n, c, i * s + a, j * s + b));
          y.v[p++] = m;
        }
  return y;
}

describe("host-side helpers (HOST-SIDE layout and data-movement code)", () => {
  it("permute matches direct index arithmetic, and the inverse permutation undoes it", () => {
    const dims = [2, 3, 4, 5];
    const x = Float64Array.from({ length: 120 }, (_, i) => i);
    for (const perm of [
      [0, 2, 3, 1],
      [3, 1, 0, 2],
      [1, 0, 2, 3],
      [0, 1, 2, 3],
    ]) {
      const y = permute(x, dims, perm);
      const yd = perm.map((p) => dims[p]!);
      const xs = [60, 20, 5, 1];
      let k = 0;
      for (let a = 0; a < yd[0]!; a++)
        for (let b = 0; b < yd[1]!; b++)
          for (let c = 0; c < yd[2]!; c++)
            for (let d = 0; d < yd[3]!; d++) {
              const idx = [a, b, c, d];
              const off = perm.reduce((s, p, i) => s + idx[i]! * xs[p]!, 0);
              expect(y[k++]).toBe(off);
            }
      const inv = perm.map((_, i) => perm.indexOf(i));
      expect(permute(y, yd, inv)).toEqual(x);
    }
  });

  it("pads constant, edge and reflect like numpy.pad, and crops with negative pads (the pad layer's index)", () => {
    const padHost = (x: Float64Array, dims: number[], pads: number[], mode: "constant" | "edge" | "reflect", value: number) => {
      const { index, dims: yd } = padSourceIndex(dims, pads, mode);
      return { dims: yd, data: Float64Array.from(index, (o) => (o < 0 ? value : x[o]!)) };
    };
    const x = Float64Array.of(1, 2, 3);
    expect(Array.from(padHost(x, [3], [2, 1], "constant", 9).data)).toEqual([9, 9, 1, 2, 3, 9]);
    expect(Array.from(padHost(x, [3], [2, 1], "edge", 0).data)).toEqual([1, 1, 1, 2, 3, 3]);
    expect(Array.from(padHost(x, [3], [2, 2], "reflect", 0).data)).toEqual([3, 2, 1, 2, 3, 2, 1]);
    expect(Array.from(padHost(x, [3], [-1, 1], "constant", 0).data)).toEqual([2, 3, 0]);
    const m = padHost(Float64Array.of(1, 2, 3, 4), [2, 2], [1, 0, 0, 1], "constant", 0);
    expect(m.dims).toEqual([3, 3]);
    expect(Array.from(m.data)).toEqual([0, 0, 0, 1, 2, 0, 3, 4, 0]);
  });

  it("resizes nearest with asymmetric/floor (Upsample) and half_pixel/round_prefer_floor (Resize 11+) (the resize layer's index)", () => {
    const resizeNearest = (x: Float64Array, dims: number[], outDims: number[], scales: number[], opt: { coordinateMode: string; nearestMode: string }) =>
      Float64Array.from(nearestSourceIndex(dims, outDims, scales, opt), (o) => x[o]!);
    const x = Float64Array.of(1, 2, 3, 4);
    const up = resizeNearest(x, [2, 2], [4, 6], [2, 3], { coordinateMode: "asymmetric", nearestMode: "floor" });
    expect(Array.from(up)).toEqual([1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4]);
    // 3 -> 2 with half_pixel: x = (o + 0.5) * 1.5 - 0.5 = 0.25, 1.75 -> 0, 2
    const down = resizeNearest(Float64Array.of(5, 6, 7), [3], [2], [2 / 3], { coordinateMode: "half_pixel", nearestMode: "round_prefer_floor" });
    expect(Array.from(down)).toEqual([5, 7]);
  });
});

describe("scripts/onnx-test.mjs", () => {
  it.skipIf(!HAS_ONNX)(
    "prints one line per case and the closing count, exiting 1 on any failure",
    () => {
      const script = new URL("../scripts/onnx-test.mjs", import.meta.url).pathname;
      const relu = new URL("node/test_relu", ONNX_DIR).pathname;
      const r = spawnSync(process.execPath, [script, "--build", "simd", relu, "/no/such/case"], { encoding: "utf8" });
      const lines = r.stdout.trim().split("\n");
      expect(lines[0]).toMatch(/^PASS test_relu max_abs=\S+ max_rel=\S+$/);
      expect(lines[1]).toMatch(/^FAIL \/no\/such\/case/);
      expect(lines[2]).toBe("1 passed, 1 failed");
      expect(r.status).toBe(1);
      const ok = spawnSync(process.execPath, [script, "--build", "scalar", relu], { encoding: "utf8" });
      expect(ok.stdout.trim().split("\n").pop()).toBe("1 passed, 0 failed");
      expect(ok.status).toBe(0);
    },
    60_000,
  );
});

describe.each(BUILDS_UNDER_TEST)("ONNX import (%s build)", (build) => {
  it.skipIf(!HAS_ONNX)("passes every node/ and pytorch-converted/ conformance case", async () => {
    const engine = await engineFor(build);
    expect(CASES.length).toBeGreaterThan(100);
    const failures: string[] = [];
    for (const c of CASES) {
      const r = await runOnnxCase(c, { engine });
      if (!r.passed) failures.push(formatOnnxResult(r));
    }
    expect(failures).toEqual([]);
  });

  it("runs Conv -> Relu -> MaxPool -> channel shuffle -> grouped Conv -> Concat -> Flatten -> Gemm -> Softmax like a float64 NCHW reference", async () => {
    const engine = await engineFor(build);
    const [N, C, H, W] = [2, 3, 9, 7];
    const w1 = uniform(4 * 3 * 3 * 3, 1),
      b1 = uniform(4, 2),
      w2 = uniform(4 * 2, 3),
      w3 = uniform(5 * 96, 4),
      b3 = uniform(5, 5);
    const x = uniform(N * C * H * W, 6);
    const bytes = model(
      [
        node("Conv", ["x", "w1", "b1"], ["c1"], [ints("kernel_shape", [3, 3]), ints("pads", [1, 1, 1, 1])]),
        node("Relu", ["c1"], ["r1"]),
        node("MaxPool", ["r1"], ["p1"], [ints("kernel_shape", [2, 2]), ints("strides", [2, 2])]),
        node("Reshape", ["p1", "shape5"], ["s1"]),
        node("Transpose", ["s1"], ["s2"], [ints("perm", [0, 2, 1, 3, 4])]),
        node("Reshape", ["s2", "shape4"], ["s3"]),
        node("Conv", ["s3", "w2"], ["c2"], [int("group", 2)]),
        node("Concat", ["p1", "c2"], ["cat"], [int("axis", 1)]),
        node("Flatten", ["cat"], ["f"]),
        node("Gemm", ["f", "w3", "b3"], ["g"], [int("transB", 1)]),
        node("Softmax", ["g"], ["y"]),
      ],
      [
        floatTensor("w1", [4, 3, 3, 3], w1),
        floatTensor("b1", [4], b1),
        floatTensor("w2", [4, 2, 1, 1], w2),
        floatTensor("w3", [5, 96], w3),
        floatTensor("b3", [5], b3),
        int64Tensor("shape5", [N, 2, 2, 4, 3]),
        int64Tensor("shape4", [N, 4, 4, 3]),
      ],
      ["x", [N, C, H, W]],
      "y",
    );

    // reference, NCHW float64
    const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
    let t = convRef({ d: [N, C, H, W], v: f64(x) }, { d: [4, 3, 3, 3], v: f64(w1) }, Array.from(b1), 1, 1, 1);
    t = { d: t.d, v: t.v.map((v) => Math.max(v, 0)) };
    const p1 = maxPoolRef(t, 2, 2); // [2,4,4,3]
    const shuffled = { d: [N, 4, 4, 3], v: permute(p1.v, [N, 2, 2, 12], [0, 2, 1, 3]) };
    const c2 = convRef(shuffled, { d: [4, 2, 1, 1], v: f64(w2) }, [], 0, 1, 2);
    const feat = new Float64Array(N * 96);
    for (let n = 0; n < N; n++) {
      feat.set(p1.v.subarray(n * 48, n * 48 + 48), n * 96);
      feat.set(c2.v.subarray(n * 48, n * 48 + 48), n * 96 + 48);
    }
    const expected = new Float64Array(N * 5);
    for (let n = 0; n < N; n++) {
      const logits = Array.from({ length: 5 }, (_, o) => {
        let acc = b3[o]!;
        for (let k = 0; k < 96; k++) acc += feat[n * 96 + k]! * w3[o * 96 + k]!;
        return acc;
      });
      const m = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - m));
      const sum = e.reduce((a, b) => a + b, 0);
      e.forEach((v, o) => (expected[n * 5 + o] = v / sum));
    }
    const m = importOnnx(engine, bytes);
    try {
      const out = m.run([{ dims: [N, C, H, W], data: x }]).y!;
      expect(out.dims).toEqual([N, 5]);
      out.data.forEach((v, i) => expect(Math.abs(v - expected[i]!), `element ${i}`).toBeLessThan(1e-5 + 1e-4 * Math.abs(expected[i]!)));
      // the logits must not be flat, or the softmax check would be weak
      expect(Math.max(...expected) - Math.min(...expected)).toBeGreaterThan(0.05);
      // running twice gives the same result (weights converted once, intermediates freed)
      const used = engine.heap.bytesInUse;
      expect(Array.from(m.run([{ dims: [N, C, H, W], data: x }]).y!.data)).toEqual(Array.from(out.data));
      expect(engine.heap.bytesInUse).toBe(used);
    } finally {
      m.dispose();
    }
  });

  it("runs batched and 1-D MatMul with numpy broadcasting", async () => {
    const engine = await engineFor(build);
    const a = uniform(2 * 3 * 4, 11),
      b = uniform(4 * 5, 12);
    const m = importOnnx(engine, model([node("MatMul", ["a", "b"], ["y"])], [floatTensor("b", [4, 5], b)], ["a", [2, 3, 4]], "y"));
    try {
      const y = m.run([{ dims: [2, 3, 4], data: a }]).y!;
      expect(y.dims).toEqual([2, 3, 5]);
      for (let t = 0; t < 2; t++)
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 5; j++) {
            let s = 0;
            for (let p = 0; p < 4; p++) s += a[(t * 3 + i) * 4 + p]! * b[p * 5 + j]!;
            expect(y.data[(t * 3 + i) * 5 + j]).toBeCloseTo(s, 5);
          }
    } finally {
      m.dispose();
    }
    const v = importOnnx(engine, model([node("MatMul", ["x", "b"], ["y"])], [floatTensor("b", [4, 5], b)], ["x", [4]], "y"));
    try {
      const x = uniform(4, 13);
      const y = v.run([{ dims: [4], data: x }]).y!;
      expect(y.dims).toEqual([5]);
      y.data.forEach((val, j) =>
        expect(val).toBeCloseTo(
          x.reduce((acc, xv, p) => acc + xv * b[p * 5 + j]!, 0),
          5,
        ),
      );
    } finally {
      v.dispose();
    }
  });

  it("reports every unsupported node in one error, before running anything", async () => {
    const engine = await engineFor(build);
    const bytes = model(
      [node("Relu", ["x"], ["a"]), node("Erff", ["a"], ["b"], [], "erf_node"), node("Relu", ["b"], ["c"]), node("Lstm", ["c"], ["y"], [], "lstm_node")],
      [],
      ["x", [2]],
      "y",
    );
    expect(() => importOnnx(engine, bytes)).toThrow(/2 unsupported nodes: Erff at node 1 "erf_node"; Lstm at node 3 "lstm_node"/);
  });

  it("rejects bad attributes at import, naming the node", async () => {
    const engine = await engineFor(build);
    const bytes = model([node("MaxPool", ["x"], ["y"], [ints("strides", [1, 1])], "pool1")], [], ["x", [1, 1, 4, 4]], "y");
    expect(() => importOnnx(engine, bytes)).toThrow(/node 0 "pool1" \(MaxPool\): kernel_shape is required/);
  });

  it("rejects inputs of the wrong shape, and shape mismatches at import (static shapes) or at run time, naming the node", async () => {
    const engine = await engineFor(build);
    const good = importOnnx(engine, model([node("Gemm", ["x", "w"], ["y"], [], "fc")], [floatTensor("w", [4, 2], uniform(8, 1))], ["x", [2, 4]], "y"));
    try {
      expect(good.session.planReport({ x: [2, 4] }).steps.length).toBeGreaterThan(0);
      expect(() => good.run([{ dims: [2, 3], data: new Float32Array(6) }])).toThrow(/input "x": expects dimension 1 to be 4 \(\[2,4\]\), got \[2,3\]/);
      expect(() => good.run({})).toThrow(/missing input "x"/);
    } finally {
      good.dispose();
    }
    const w3 = [floatTensor("w", [3, 2], uniform(6, 1))];
    expect(() => importOnnx(engine, model([node("Gemm", ["x", "w"], ["y"], [], "fc")], w3, ["x", [2, 4]], "y"))).toThrow(
      /node 0 "fc" \(Gemm\): inner dimensions differ/,
    );
    const dynamic = importOnnx(engine, model([node("Gemm", ["x", "w"], ["y"], [], "fc")], w3, ["x", ["N", 4]], "y"));
    try {
      expect(() => dynamic.run([{ dims: [2, 4], data: new Float32Array(8) }])).toThrow(/node 0 "fc" \(Gemm\): .*\[2,4\].*\[3,2\]/);
    } finally {
      dynamic.dispose();
    }
  });

  it("folds Shape -> Gather -> Concat -> Reshape plumbing at import when the input shape is static", async () => {
    const engine = await engineFor(build);
    const bytes = model(
      [
        node("Shape", ["x"], ["s"]),
        node("Gather", ["s", "zero"], ["n"], [int("axis", 0)]),
        node("Unsqueeze", ["n", "axes0"], ["n1"]),
        node("Concat", ["n1", "minus1"], ["target"], [int("axis", 0)]),
        node("Reshape", ["x", "target"], ["y"]),
      ],
      [{ name: "zero", dims: [], dataType: DataType.INT64, data: Float64Array.of(0) }, int64Tensor("axes0", [0]), int64Tensor("minus1", [-1])],
      ["x", [2, 3, 4]],
      "y",
    );
    const graph = importGraph(decodeModel(bytes));
    const constants = graphConstants(engine, graph.initializers);
    const a = analyzeGraph(engine, graph, constants, new Map([["x", [2, 3, 4]]]));
    expect(a.nodes.map((n) => n.type)).toEqual(["Reshape"]); // Shape, Gather, Unsqueeze, Concat folded at import
    expect(Array.from(a.nodes[0]!.inputs[1]!.constant!.data)).toEqual([2, -1]);
    expect(a.outputs[0]!.shape).toEqual([2, 12]);
    a.dispose();
    for (const c of constants.values()) c.dispose();
    const m = importOnnx(engine, bytes);
    try {
      const x = uniform(24, 9);
      const out = m.run([{ dims: [2, 3, 4], data: x }]).y!;
      expect(out.dims).toEqual([2, 12]);
      expect(Array.from(out.data)).toEqual(Array.from(x));
    } finally {
      m.dispose();
    }
  });

  it.skipIf(!HAS_ONNX)("corrupted models either run or fail with a SimdnetError (never another error or a crash)", async () => {
    const engine = await engineFor(build);
    const r = rng(7);
    const used = engine.heap.bytesInUse;
    for (const name of ["test_conv_with_strides_padding", "test_maxpool_2d_pads", "test_gemm_alpha", "test_Conv2d_groups", "test_constant_pad"]) {
      const dir = new URL(`node/${name}/`, ONNX_DIR);
      const path = existsSync(dir) ? dir : new URL(`pytorch-converted/${name}/`, ONNX_DIR);
      const bytes = readFileSync(new URL("model.onnx", path));
      const feeds = [0, 1, 2]
        .map((k) => new URL(`test_data_set_0/input_${k}.pb`, path))
        .filter((u) => existsSync(u))
        .map((u) => decodeTensor(readFileSync(u)));
      for (let trial = 0; trial < 60; trial++) {
        const b = Uint8Array.from(bytes);
        for (let k = 0; k < 2; k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
        try {
          const m = importOnnx(engine, b);
          try {
            m.run(feeds.slice(0, m.inputs.length));
          } finally {
            m.dispose();
          }
        } catch (e) {
          expect(e, `${name} trial ${trial}: ${e}`).toBeInstanceOf(SimdnetError);
        }
      }
    }
    expect(engine.heap.bytesInUse).toBe(used); // nothing leaked on any error path
  });

  it.skipIf(!HAS_ONNX)("truncated model files fail to import with a SimdnetError", async () => {
    const engine = await engineFor(build);
    const bytes = readFileSync(new URL("node/test_conv_with_strides_padding/model.onnx", ONNX_DIR));
    for (const n of [1, 10, Math.floor(bytes.length / 2), bytes.length - 1]) {
      expect(() => importOnnx(engine, bytes.subarray(0, n)), `cut at ${n}`).toThrow(SimdnetError);
    }
  });
});
