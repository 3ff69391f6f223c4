import { describe, expect, it } from "vitest";
import {
  binaryCrossEntropy,
  binaryCrossEntropyBackward,
  mseLoss,
  mseLossBackward,
  multiclassHingeLoss,
  multiclassHingeLossBackward,
  SimdnetError,
  softmaxCrossEntropy,
} from "../src/index.js";
import * as losses from "../src/train/losses.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, expectGradientMatches, rng, TILE_EDGE_SIZES, uniform } from "./harness.js";
import { bceRef, hingeGradRef, hingeRef, mseRef } from "./reference/loss.js";

const COLS = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33];

const labelsFor = (rows: number, cols: number, seed: number): Int32Array => {
  const r = rng(seed);
  return Int32Array.from({ length: rows }, () => Math.floor(r() * cols));
};

describe.each(BUILDS_UNDER_TEST)("losses, %s build", (build) => {
  it.each([...TILE_EDGE_SIZES, 1023, 1024, 1025, 3001])("mseLoss and its gradient match the reference, n=%i", async (n) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const pv = uniform(n, n, -3, 3),
        tv = uniform(n, n + 1, -3, 3);
      const pred = e.tensor([n], pv),
        target = e.tensor([n], tv);
      const ref = mseRef(pv, tv);
      expect(Math.abs(mseLoss(pred, target) - ref)).toBeLessThanOrEqual(2e-6 * ref);
      const g = mseLossBackward(pred, target, undefined, e.tensor([n], new Float32Array(n).fill(0.25)));
      expectClose(
        g.data,
        Array.from(pv, (p, i) => 0.25 + (2 * (p - tv[i]!)) / n),
        { rtol: 1e-5, atol: 1e-7, label: "dpred" },
      );
      const scaled = mseLossBackward(pred, target, 3);
      expectClose(
        scaled.data,
        Array.from(pv, (p, i) => 6 * (p - tv[i]!)),
        { rtol: 1e-5, atol: 1e-6, label: "scaled dpred" },
      );
    });
  });

  it("mseLoss gradient matches finite differences (any shape, batch > 1)", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shape = [3, 2, 5];
      const pred = e.tensor(shape, uniform(30, 1)),
        target = e.tensor(shape, uniform(30, 2));
      const g = mseLossBackward(pred, target).toArray();
      expectGradientMatches(pred, g, () => mseLoss(pred, target), { eps: 1e-2, atol: 1e-4, label: "mse" });
    });
  });

  it.each(COLS)("multiclassHingeLoss and its gradient match the reference, cols=%i", async (cols) => {
    const e = await engineFor(build);
    for (const margin of [1, 0.5, 0, -0.25]) {
      e.tidy(() => {
        const rows = 6;
        const sv = uniform(rows * cols, cols, -2, 2),
          lv = labelsFor(rows, cols, cols + 7);
        const scores = e.tensor([rows, cols], sv),
          labels = e.ints([rows], lv);
        const ref = hingeRef(sv, lv, cols, margin);
        expect(Math.abs(multiclassHingeLoss(scores, labels, { margin }) - ref)).toBeLessThanOrEqual(1e-5 * (1 + ref));
        const start = uniform(rows * cols, 99);
        const g = multiclassHingeLossBackward(scores, labels, { margin }, e.tensor([rows, cols], start));
        const gRef = hingeGradRef(sv, lv, cols, margin, 1 / rows).map((x, i) => x + start[i]!);
        expectClose(g.data, gRef, { rtol: 1e-5, atol: 1e-6, label: `hinge dscores margin ${margin}` });
      });
    }
  });

  it("multiclassHingeLoss: the CS231n worked example and finite differences", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      // CS231n lecture 3: scores of cat / car / frog images, labels cat=0, car=1, frog=2; losses 2.9, 0, 12.9.
      const scores = e.tensor([3, 3], [3.2, 5.1, -1.7, 1.3, 4.9, 2.0, 2.2, 2.5, -3.1]); // one image per row
      const labels = e.ints([3], [0, 1, 2]);
      expect(multiclassHingeLoss(scores, labels)).toBeCloseTo((2.9 + 0 + 12.9) / 3, 5);
      const sv = uniform(5 * 9, 3, -2, 2);
      const s = e.tensor([5, 9], sv),
        l = e.ints([5], labelsFor(5, 9, 4));
      const g = multiclassHingeLossBackward(s, l, { margin: 0.7, scale: 0.5 }).toArray();
      // The loss is piecewise linear: a small eps keeps the difference inside one piece.
      expectGradientMatches(s, g, () => 0.5 * 5 * multiclassHingeLoss(s, l, { margin: 0.7 }), { eps: 1e-3, rtol: 1e-2, atol: 1e-2, samples: 45 });
    });
  });

  it.each([...TILE_EDGE_SIZES, 1025])("binaryCrossEntropy and its gradient match the reference, n=%i", async (n) => {
    const e = await engineFor(build);
    e.tidy(() => {
      // logits up to |z| = 40: where the unfused log(sigmoid) would underflow to log(0)
      const zv = uniform(n, n + 5, -6, 6).map((z, i) => (i % 7 === 3 ? z * 7 : z)),
        tv = uniform(n, n + 6, 0, 1);
      const z = e.tensor([n], zv),
        t = e.tensor([n], tv);
      const ref = bceRef(zv, tv);
      expect(Math.abs(binaryCrossEntropy(z, t) - ref)).toBeLessThanOrEqual(1e-6 * (1 + ref));
      const g = binaryCrossEntropyBackward(z, t, undefined, e.tensor([n], new Float32Array(n).fill(0.5)));
      expectClose(
        g.data,
        Array.from(zv, (v, i) => 0.5 + (1 / (1 + Math.exp(-v)) - tv[i]!) / n),
        { rtol: 1e-5, atol: 1e-7, label: "dlogits" },
      );
    });
  });

  it("binaryCrossEntropy gradient matches finite differences; large logits stay finite", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const z = e.tensor([4, 3], uniform(12, 8, -3, 3)),
        t = e.tensor([4, 3], uniform(12, 9, 0, 1));
      const g = binaryCrossEntropyBackward(z, t).toArray();
      expectGradientMatches(z, g, () => binaryCrossEntropy(z, t), { eps: 1e-2, atol: 1e-4, label: "bce" });
      const big = e.tensor([4], [100, -100, 1e30, -1e30]),
        target = e.tensor([4], [0, 1, 1, 0]);
      expect(binaryCrossEntropy(big, target)).toBeCloseTo((100 + 100 + 0 + 0) / 4, 4);
      expect(Array.from(binaryCrossEntropyBackward(big, target).data)).toEqual([0.25, -0.25, 0, 0]);
      expect(() => binaryCrossEntropy(z, e.zeros([3, 4]))).toThrow(/binaryCrossEntropy: logits \[4,3\] and targets \[3,4\] must have the same shape/);
    });
  });

  it.each([...TILE_EDGE_SIZES, 1025])("find_nonfinite_f32 finds the first NaN or infinity, n=%i", async (n) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.tensor([n], uniform(n, n, -1e30, 1e30));
      expect(e.kernels.find_nonfinite_f32(x.ptr, n)).toBe(-1);
      for (const bad of [NaN, Infinity, -Infinity]) {
        for (const at of new Set([0, n >> 1, n - 1])) {
          const v = x.data[at]!;
          x.data[at] = bad;
          if (at + 1 < n) x.data[n - 1] = NaN; // a later one is not reported first
          expect(e.kernels.find_nonfinite_f32(x.ptr, n), `${bad} at ${at}`).toBe(at);
          x.data[at] = v;
          x.set(uniform(n, n, -1e30, 1e30));
        }
      }
    });
  });

  it("softmax cross-entropy is available beside the other losses", () => {
    expect(losses.softmaxCrossEntropy).toBe(softmaxCrossEntropy);
  });

  it("bad inputs throw SimdnetError naming the op, argument and shapes", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const a = e.zeros([2, 3]),
        b = e.zeros([3, 2]);
      expect(() => mseLoss(a, b)).toThrow(/mseLoss: pred \[2,3\] and target \[3,2\] must have the same shape/);
      expect(() => mseLossBackward(a, a, NaN)).toThrow(/mseLossBackward: scale must be a finite number/);
      expect(() => mseLossBackward(a, a, 1, b)).toThrow(/dpred must have shape \[2,3\], got \[3,2\]/);
      const labels = e.ints([2], [0, 3]);
      expect(() => multiclassHingeLoss(a, labels)).toThrow(/multiclassHingeLoss: labels\[1\] = 3 is out of range \[0, 3\)/);
      expect(() => multiclassHingeLoss(a, e.ints([3]))).toThrow(/one label per row/);
      expect(() => multiclassHingeLoss(e.zeros([6]), e.ints([6]))).toThrow(/scores must have rank 2/);
      expect(() => multiclassHingeLoss(a, e.zeros([2]) as never)).toThrow(/labels must be i32/);
      expect(() => multiclassHingeLoss(a, e.ints([2]), { margin: Infinity })).toThrow(/margin must be a finite number/);
      expect(() => multiclassHingeLossBackward(a, e.ints([2]), { scale: NaN })).toThrow(SimdnetError);
    });
  });
});
