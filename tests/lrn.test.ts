import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { lrn, lrnBackward, SimdnetError } from "../src/index.js";
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
/** beta 0.75 / 0.5 / 1 take the sqrt/div SIMD paths; 0.6 the per-lane pow path. */
const PARAMS = [
  { size: 5, alpha: 0.5, beta: 0.75, bias: 1 },
  { size: 3, alpha: 2, beta: 0.6, bias: 1.5 },
  { size: 1, alpha: 1, beta: 0.5, bias: 2 },
  { size: 7, alpha: 0.3, beta: 1, bias: 0.5 },
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

  it("rejects bad arguments with messages naming op, argument and shapes", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.zeros([2, 3, 3, 4]);
      expect(() => lrn(x, { size: 4 })).toThrow(SimdnetError);
      expect(() => lrn(x, { size: 4 })).toThrow("lrn: size must be odd (a window centred on each channel), got 4");
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
      expect(() => lrnBackward(x, x, y, { size: 6 })).toThrow("lrnBackward: size must be odd");
      expect(() => lrnBackward(y, x, y, { size: 3 }, e.zeros([3]))).toThrow("lrnBackward: dx must have shape [2,3,3,4], got [3]");
    });
  });
});
