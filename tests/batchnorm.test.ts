import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { batchNormBackward, batchNormInference, batchNormTraining, SimdnetError } from "../src/index.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, ONNX_DIR, uniform } from "./harness.js";
import { batchNormBackwardRef, batchNormInferenceRef, batchNormTrainingRef, decodeTensorProto, momentsRef, toChannelsLast } from "./reference/norm.js";

/** ONNX's own conformance cases (NCHW; transposed to NHWC here), when the shared data is present. */
const ONNX_NODE = new URL("node/", ONNX_DIR);
const hasOnnx = existsSync(new URL("test_batchnorm_example/test_data_set_0/output_0.pb", ONNX_NODE));
const onnxData = (path: string) => decodeTensorProto(readFileSync(new URL(path, ONNX_NODE)));

/** Channel counts around the 4-lane tile. */
const CHANNELS = [1, 3, 4, 5, 8, 9, 16, 17];

describe.each(BUILDS_UNDER_TEST)("batch normalization, %s build", (build) => {
  it.each(CHANNELS)("inference matches ONNX's formula, NHWC [2,5,3,%i] and [7,C]", async (C) => {
    const e = await engineFor(build);
    e.tidy(() => {
      for (const shape of [
        [2, 5, 3, C],
        [7, C],
      ]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const xv = uniform(n, C, -3, 3);
        const sv = uniform(C, 10 + C, 0.5, 2),
          bv = uniform(C, 20 + C),
          mv = uniform(C, 30 + C),
          vv = uniform(C, 40 + C, 0.1, 3);
        const eps = 1e-3;
        const x = e.tensor(shape, xv);
        const y = batchNormInference(x, e.tensor([C], sv), e.tensor([C], bv), e.tensor([C], mv), e.tensor([C], vv), { epsilon: eps });
        expect(y.shape).toEqual(shape);
        expectClose(y.data, batchNormInferenceRef(xv, sv, bv, mv, vv, C, eps), { rtol: 1e-5, atol: 1e-5, label: `y ${shape}` });
        // in place, default epsilon 1e-5
        batchNormInference(x, e.tensor([C], sv), e.tensor([C], bv), e.tensor([C], mv), e.tensor([C], vv), {}, x);
        expectClose(x.data, batchNormInferenceRef(xv, sv, bv, mv, vv, C, 1e-5), { rtol: 1e-5, atol: 1e-5, label: "in place" });
      }
    });
  });

  it.each(CHANNELS)("training matches the reference and updates running statistics, C=%i", async (C) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shape = [2, 5, 3, C];
      const n = 30 * C;
      const xv = uniform(n, 100 + C, -2, 4);
      const sv = uniform(C, 110 + C, 0.5, 2),
        bv = uniform(C, 120 + C);
      const rm0 = uniform(C, 130 + C),
        rv0 = uniform(C, 140 + C, 0.5, 2);
      const runningMean = e.tensor([C], rm0),
        runningVar = e.tensor([C], rv0);
      const eps = 1e-4,
        momentum = 0.8;
      const { y, mean, invStd } = batchNormTraining(e.tensor(shape, xv), e.tensor([C], sv), e.tensor([C], bv), {
        epsilon: eps,
        momentum,
        runningMean,
        runningVar,
      });
      const ref = batchNormTrainingRef(xv, sv, bv, C, eps);
      expectClose(y.data, ref.y, { rtol: 1e-5, atol: 2e-5, label: "y" });
      expectClose(mean.data, ref.mean, { rtol: 1e-5, atol: 1e-6, label: "mean" });
      expectClose(invStd.data, ref.invStd, { rtol: 1e-5, atol: 1e-6, label: "invStd" });
      // ONNX: running = momentum * running + (1 - momentum) * batch, with the biased batch variance
      expectClose(
        runningMean.data,
        rm0.map((r, c) => momentum * r + (1 - momentum) * ref.mean[c]!),
        { rtol: 1e-5, atol: 1e-6, label: "runningMean" },
      );
      expectClose(
        runningVar.data,
        rv0.map((r, c) => momentum * r + (1 - momentum) * ref.varBiased[c]!),
        { rtol: 1e-5, atol: 1e-6, label: "runningVar" },
      );
      // the PyTorch convention on request: unbiased running variance; default momentum 0.9
      runningVar.set(rv0);
      batchNormTraining(e.tensor(shape, xv), e.tensor([C], sv), e.tensor([C], bv), { epsilon: eps, runningVar, unbiasedRunningVar: true });
      expectClose(
        runningVar.data,
        rv0.map((r, c) => 0.9 * r + 0.1 * ref.varUnbiased[c]!),
        { rtol: 1e-5, atol: 1e-6, label: "unbiased runningVar" },
      );
    });
  });

  it("training on rank-2 [B, C] input, in place, without running statistics", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const B = 6,
        C = 9;
      const xv = uniform(B * C, 5, -1, 2),
        sv = uniform(C, 6),
        bv = uniform(C, 7);
      const x = e.tensor([B, C], xv);
      const { y } = batchNormTraining(x, e.tensor([C], sv), e.tensor([C], bv), {}, x);
      expect(y).toBe(x);
      expectClose(x.data, batchNormTrainingRef(xv, sv, bv, C, 1e-5).y, { rtol: 1e-5, atol: 2e-5 });
    });
  });

  it("variance stays accurate for a large mean over many rows (two-pass, blocked sums)", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shape = [4, 17, 19, 5]; // 1292 rows: crosses the 128-row summation blocks
      const n = shape.reduce((a, b) => a * b, 1);
      const xv = uniform(n, 9, 999, 1001); // mean ~1000, variance ~1/3
      const { mean, invStd } = batchNormTraining(e.tensor(shape, xv), e.tensor([5], [1, 1, 1, 1, 1]), e.zeros([5]), { epsilon: 0 });
      const m = momentsRef(xv, 5);
      expectClose(mean.data, m.mean, { rtol: 1e-6, atol: 0, label: "mean" });
      expectClose(
        invStd.data,
        m.varBiased.map((v) => 1 / Math.sqrt(v)),
        { rtol: 1e-3, atol: 0, label: "invStd" },
      );
    });
  });

  it.each(CHANNELS)("backward matches the float64 chain rule and accumulates, C=%i", async (C) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shape = [2, 3, 5, C];
      const n = 30 * C;
      const xv = uniform(n, 200 + C, -2, 2),
        sv = uniform(C, 210 + C, 0.5, 2),
        dyv = uniform(n, 220 + C);
      const x = e.tensor(shape, xv),
        scale = e.tensor([C], sv);
      const eps = 1e-3;
      const { mean, invStd } = batchNormTraining(x, scale, e.zeros([C]), { epsilon: eps });
      const dx = e.tensor(shape, new Float32Array(n).fill(0.25));
      const dscale = e.tensor([C], new Float32Array(C).fill(-0.5));
      const dbias = e.tensor([C], new Float32Array(C).fill(1));
      const got = batchNormBackward(e.tensor(shape, dyv), x, scale, mean, invStd, { dx, dscale, dbias });
      expect(got.dx).toBe(dx);
      const ref = batchNormBackwardRef(dyv, xv, sv, C, eps);
      expectClose(
        dx.data,
        ref.dx.map((v) => v + 0.25),
        { rtol: 1e-4, atol: 2e-5, label: "dx" },
      );
      expectClose(
        dscale.data,
        ref.dscale.map((v) => v - 0.5),
        { rtol: 1e-4, atol: 2e-5, label: "dscale" },
      );
      expectClose(
        dbias.data,
        ref.dbias.map((v) => v + 1),
        { rtol: 1e-4, atol: 2e-5, label: "dbias" },
      );
    });
  });

  it.each([1, 4, 5])("backward matches finite differences of sum(w * y), C=%i", async (C) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shape = [2, 3, 3, C];
      const n = 18 * C;
      const x = e.tensor(shape, uniform(n, 300 + C, -2, 2));
      const scale = e.tensor([C], uniform(C, 310 + C, 0.5, 2));
      const bias = e.tensor([C], uniform(C, 320 + C));
      const w = uniform(n, 330 + C); // random weights: the gradient through the statistics is non-trivial
      const { mean, invStd } = batchNormTraining(x, scale, bias, { epsilon: 1e-3 });
      const g = batchNormBackward(e.tensor(shape, w), x, scale, mean, invStd);
      const loss = () => e.tidy(() => dot(batchNormTraining(x, scale, bias, { epsilon: 1e-3 }).y.data, w));
      expectGradientMatches(x, g.dx.data, loss, { eps: 1e-2, label: "dx" });
      expectGradientMatches(scale, g.dscale.data, loss, { label: "dscale" });
      expectGradientMatches(bias, g.dbias.data, loss, { label: "dbias" });
    });
  });

  // epsilon as stored in each case's model.onnx (the example uses the default 1e-5)
  it.skipIf(!hasOnnx).each([
    { name: "test_batchnorm_example", epsilon: undefined },
    { name: "test_batchnorm_epsilon", epsilon: 0.01 },
  ])("matches ONNX's conformance case $name", async ({ name, epsilon }) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const dir = `${name}/test_data_set_0/`;
      const raw = onnxData(dir + "input_0.pb");
      const x = toChannelsLast(raw.data, raw.dims);
      const expected = (({ data, dims }) => toChannelsLast(data, dims))(onnxData(dir + "output_0.pb"));
      const [scale, bias, mean, variance] = [1, 2, 3, 4].map((k) => {
        const t = onnxData(`${dir}input_${k}.pb`);
        return e.tensor(t.dims, t.data);
      });
      const y = batchNormInference(e.tensor(x.shape, x.data), scale!, bias!, mean!, variance!, epsilon === undefined ? {} : { epsilon });
      expectClose(y.data, expected.data, { rtol: 1e-3, atol: 1e-7 });
    });
  });

  it("rejects bad arguments with messages naming op, argument and shapes", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.zeros([2, 3, 3, 4]);
      const c4 = e.tensor([4], [1, 1, 1, 1]);
      const c3 = e.zeros([3]);
      expect(() => batchNormInference(x, c3, c4, c4, c4)).toThrow(SimdnetError);
      expect(() => batchNormInference(x, c3, c4, c4, c4)).toThrow(
        "batchNormInference: scale must have shape [4] (one value per channel of x [2,3,3,4]), got [3]",
      );
      expect(() => batchNormInference(x, c4, c4, c4, c3)).toThrow("batchNormInference: variance must have shape [4]");
      expect(() => batchNormInference(x, c4, c4, c3, c4)).toThrow("batchNormInference: mean must have shape [4]");
      expect(() => batchNormInference(x, c4, e.zeros([1, 4]), c4, c4)).toThrow("batchNormInference: bias must have shape [4]");
      expect(() => batchNormInference(x, c4, c4, c4, c4, { epsilon: NaN })).toThrow("batchNormInference: epsilon must be a finite number, got NaN");
      expect(() => batchNormInference(x, c4, c4, c4, c4, { epsilon: -1e-5 })).toThrow("batchNormInference: epsilon must be >= 0, got -0.00001");
      expect(() => batchNormInference(e.zeros([4]), c4, c4, c4, c4)).toThrow("batchNormInference: x must have rank >= 2");
      expect(() => batchNormTraining(x, c4, c3)).toThrow("batchNormTraining: bias must have shape [4]");
      expect(() => batchNormTraining(x, c4, c4, { epsilon: Infinity })).toThrow("batchNormTraining: epsilon must be a finite number, got Infinity");
      expect(() => batchNormTraining(x, c4, c4, { momentum: 1.5 })).toThrow("batchNormTraining: momentum must be in [0, 1], got 1.5");
      expect(() => batchNormTraining(x, c4, c4, { runningVar: c3 })).toThrow("batchNormTraining: runningVar must have shape [4]");
      expect(() => batchNormTraining(e.zeros([0, 4]), c4, c4)).toThrow("batchNormTraining: x [0,4] has no values per channel");
      expect(() => batchNormTraining(x, c4, c4, {}, e.zeros([2, 3, 4]))).toThrow("batchNormTraining: out must have shape [2,3,3,4], got [2,3,4]");
      const { mean, invStd } = batchNormTraining(x, c4, c4);
      expect(() => batchNormBackward(e.zeros([2, 3, 4]), x, c4, mean, invStd)).toThrow(
        "batchNormBackward: dy [2,3,4] and x [2,3,3,4] must have the same shape",
      );
      expect(() => batchNormBackward(x, x, c4, c3, invStd)).toThrow("batchNormBackward: mean must have shape [4]");
      expect(() => batchNormBackward(x, x, c4, mean, invStd, { dscale: c3 })).toThrow("batchNormBackward: dscale must have shape [4], got [3]");
    });
  });
});
