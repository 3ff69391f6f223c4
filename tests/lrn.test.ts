import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as ort from "onnxruntime-node";
import { importOnnx, importOnnxModel, lrn, lrnBackward, SimdnetError } from "../src/index.js";
import { AttributeType } from "../src/onnx/onnx-proto.js";
import { node, onnxBytes } from "./onnx-build.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, ONNX_DIR, uniform } from "./harness.js";
import { decodeTensorProto, lrnBackwardRef, lrnRef, toChannelsLast } from "./reference/norm.js";

/** ONNX's own conformance case (NCHW; transposed to NHWC here), when the shared data is present. */
const ONNX_NODE = new URL("node/", ONNX_DIR);
const hasOnnx = existsSync(new URL("test_lrn/test_data_set_0/output_0.pb", ONNX_NODE));
const onnxTensor = (path: string) => {
  const { data, dims } = decodeTensorProto(readFileSync(new URL(path, ONNX_NODE)));
  return toChannelsLast(data, dims);
};

/** Channel counts around the 4-lane tile. */
const CHANNELS = [1, 3, 4, 5, 8, 9, 16, 17];
/**
 * beta 0.75 / 0.5 / 1 take the sqrt/div SIMD paths; 0.6 the per-lane pow path. Even sizes have
 * ONNX's asymmetric window (one more channel after than before); sizes above C reach every channel.
 */
const PARAMS = [
  { size: 5, alpha: 0.5, beta: 0.75, bias: 1 },
  { size: 3, alpha: 2, beta: 0.6, bias: 1.5 },
  { size: 1, alpha: 1, beta: 0.5, bias: 2 },
  { size: 7, alpha: 0.3, beta: 1, bias: 0.5 },
  { size: 2, alpha: 0.8, beta: 0.75, bias: 1 },
  { size: 4, alpha: 1.5, beta: 0.6, bias: 1.2 },
  { size: 6, alpha: 0.4, beta: 1, bias: 0.7 },
  { size: 40, alpha: 3, beta: 0.75, bias: 1 },
];

describe.each(BUILDS_UNDER_TEST)("LRN, %s build", (build) => {
  it.each(CHANNELS)("forward and backward match the float64 reference, NHWC [2,3,5,%i]", async (C) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shape = [2, 3, 5, C];
      const n = 30 * C;
      const xv = uniform(n, C, -2, 2),
        dyv = uniform(n, 50 + C);
      const x = e.tensor(shape, xv),
        dy = e.tensor(shape, dyv);
      for (const p of PARAMS) {
        const label = `size ${p.size} beta ${p.beta}`;
        const y = lrn(x, p);
        expect(y.shape).toEqual(shape);
        expectClose(y.data, lrnRef(xv, C, p.size, p.alpha, p.beta, p.bias), { rtol: 1e-5, atol: 1e-6, label: `y ${label}` });
        const dx = e.tensor(shape, new Float32Array(n).fill(0.5)); // accumulates onto 0.5
        expect(lrnBackward(dy, x, y, p, dx)).toBe(dx);
        const ref = lrnBackwardRef(dyv, xv, C, p.size, p.alpha, p.beta, p.bias);
        expectClose(
          dx.data,
          ref.map((v) => v + 0.5),
          { rtol: 1e-4, atol: 1e-5, label: `dx ${label}` },
        );
      }
    });
  });

  it("a size of 2^31 - 1 costs no more than one of 2C (the window is clipped to the channels)", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const C = 6,
        n = 200 * C,
        xv = uniform(n, 9, -2, 2),
        dyv = uniform(n, 10);
      const x = e.tensor([200, C], xv);
      for (const size of [2 ** 31 - 1, 2 ** 31 - 2]) {
        const p = { size, alpha: 1e8, beta: 0.75, bias: 1 };
        const y = lrn(x, p);
        expectClose(y.data, lrnRef(xv, C, size, p.alpha, p.beta, p.bias), { rtol: 1e-5, atol: 1e-6, label: `size ${size}` });
        expectClose(lrnBackward(e.tensor([200, C], dyv), x, y, p).data, lrnBackwardRef(dyv, xv, C, size, p.alpha, p.beta, p.bias), { rtol: 1e-4, atol: 1e-6 });
      }
    });
  });

  it("ONNX defaults (alpha 1e-4, beta 0.75, bias 1) and in place", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const C = 9,
        n = 4 * 3 * C;
      const xv = uniform(n, 3, -20, 20);
      const x = e.tensor([4, 3, C], xv);
      expectClose(lrn(x, { size: 3 }).data, lrnRef(xv, C, 3, 1e-4, 0.75, 1), { rtol: 1e-5, atol: 1e-6 });
      expect(lrn(x, { size: 3 }, x)).toBe(x);
      expectClose(x.data, lrnRef(xv, C, 3, 1e-4, 0.75, 1), { rtol: 1e-5, atol: 1e-6, label: "in place" });
    });
  });

  it.each([
    { C: 5, size: 5, beta: 0.75 },
    { C: 9, size: 3, beta: 0.6 },
    { C: 9, size: 4, beta: 0.75 },
    { C: 6, size: 2, beta: 0.6 },
  ])("backward matches finite differences, %o", async ({ C, size, beta }) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shape = [2, 3, 1, C];
      const n = 6 * C;
      const x = e.tensor(shape, uniform(n, 70 + C, -2, 2));
      const w = uniform(n, 80 + C);
      const p = { size, alpha: 1, beta, bias: 1 };
      const dx = lrnBackward(e.tensor(shape, w), x, lrn(x, p), p);
      const loss = () => e.tidy(() => dot(lrn(x, p).data, w));
      expectGradientMatches(x, dx.data, loss, { eps: 5e-3, samples: 30, label: "dx" });
    });
  });

  it.skipIf(!hasOnnx)("matches ONNX's conformance case test_lrn (size 3, alpha 2e-4, beta 0.5, bias 2)", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      // attributes as stored in test_lrn/model.onnx
      const x = onnxTensor("test_lrn/test_data_set_0/input_0.pb");
      const expected = onnxTensor("test_lrn/test_data_set_0/output_0.pb");
      expect(x.shape).toEqual([5, 5, 5, 5]);
      const y = lrn(e.tensor(x.shape, x.data), { size: 3, alpha: 0.0002, beta: 0.5, bias: 2 });
      expectClose(y.data, expected.data, { rtol: 1e-3, atol: 1e-7 });
    });
  });

  // ONNX's LRN window for an even size (ONNX's spec and reference implementation) is
  // [c - floor((size-1)/2), c + ceil((size-1)/2)]; onnxruntime refuses even sizes (size % 2 == 1
  // is enforced), so those are checked against the float64 reference, odd ones against onnxruntime.
  it.each([2, 4, 6, 3, 9])("ONNX LRN with size %i through both import paths (reference: float64 or onnxruntime-node)", async (size) => {
    const e = await engineFor(build);
    const attrs = [
      { name: "size", type: AttributeType.INT, i: size },
      { name: "alpha", type: AttributeType.FLOAT, f: 0.5 },
      { name: "beta", type: AttributeType.FLOAT, f: 0.75 },
      { name: "bias", type: AttributeType.FLOAT, f: 1.5 },
    ];
    const [N, C, H, W] = [2, 7, 3, 4],
      dims = [N, C, H, W];
    const bytes = onnxBytes([node("LRN", ["x"], "y", attrs)], [], dims, "y");
    const data = uniform(N * C * H * W, 30 + size, -3, 3);
    let want: ArrayLike<number>;
    if (size % 2 === 1) {
      const session = await ort.InferenceSession.create(bytes);
      want = (await session.run({ x: new ort.Tensor("float32", data, dims) })).y!.data as Float32Array;
      await session.release();
    } else {
      const nhwc = toChannelsLast(data, dims);
      const ref = lrnRef(nhwc.data, C, size, 0.5, 0.75, 1.5);
      const nchw = new Float64Array(ref.length); // back to NCHW
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) nchw[(n * C + c) * H * W + p] = ref[(n * H * W + p) * C + c]!;
      want = nchw;
    }
    const exec = importOnnx(e, bytes);
    expectClose(exec.run({ x: { dims, data } }).y!.data, want, { rtol: 1e-5, atol: 1e-6, label: "importOnnx (InferenceSession)" });
    exec.dispose();
    const m = importOnnxModel(e, bytes);
    expectClose(m.runOnnx({ x: { dims, data } }).y!.data, want, { rtol: 1e-5, atol: 1e-6, label: "model" });
    m.dispose();
  });

  it("rejects bad arguments with messages naming op, argument and shapes", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.zeros([2, 3, 3, 4]);
      expect(() => lrn(x, { size: 2 ** 31 })).toThrow(SimdnetError);
      expect(() => lrn(x, { size: 2 ** 32 + 3 })).toThrow("lrn: size must be at most 2147483647 (32-bit), got 4294967299");
      expect(() => lrn(x, { size: 0 })).toThrow("lrn: size must be an integer >= 1, got 0");
      expect(() => lrn(x, { size: 2.5 })).toThrow("lrn: size must be an integer >= 1, got 2.5");
      expect(() => lrn(x, { size: 3, alpha: NaN })).toThrow("lrn: alpha must be a finite number, got NaN");
      expect(() => lrn(x, { size: 3, alpha: -1 })).toThrow("lrn: alpha must be >= 0, got -1");
      expect(() => lrn(x, { size: 3, beta: Infinity })).toThrow("lrn: beta must be a finite number, got Infinity");
      expect(() => lrn(x, { size: 3, bias: 0 })).toThrow("lrn: bias must be > 0 so the denominator stays positive, got 0");
      expect(() => lrn(e.zeros([4]), { size: 3 })).toThrow("lrn: x must have rank >= 2");
      expect(() => lrn(x, { size: 3 }, e.zeros([2, 3, 4]))).toThrow("lrn: out must have shape [2,3,3,4], got [2,3,4]");
      const y = lrn(x, { size: 3 });
      expect(() => lrnBackward(e.zeros([2, 3, 4]), x, y, { size: 3 })).toThrow("lrnBackward: dy [2,3,4] and x [2,3,3,4] must have the same shape");
      expect(() => lrnBackward(x, x, e.zeros([1, 4]), { size: 3 })).toThrow("lrnBackward: y [1,4] and x [2,3,3,4] must have the same shape");
      expect(() => lrnBackward(x, x, y, { size: 2 ** 31 })).toThrow("lrnBackward: size must be at most 2147483647");
      expect(() => lrnBackward(y, x, y, { size: 3 }, e.zeros([3]))).toThrow("lrnBackward: dx must have shape [2,3,3,4], got [3]");
    });
  });
});
