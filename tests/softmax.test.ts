import { describe, expect, it } from "vitest";
import { logSoftmax, logSoftmaxBackward, SimdnetError, softmax, softmaxBackward, softmaxCrossEntropy, softmaxCrossEntropyBackward } from "../src/index.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, rng, uniform } from "./harness.js";
import { logSoftmaxRef, softmaxCrossEntropyRef, softmaxRef } from "./reference/softmax.js";

/** Class counts (cols) around the 4-lane tile. */
const COLS = [1, 3, 4, 5, 7, 8, 9, 16, 17, 33];

const labelsFor = (rows: number, cols: number, seed: number): Int32Array => {
  const r = rng(seed);
  return Int32Array.from({ length: rows }, () => Math.floor(r() * cols));
};

describe.each(BUILDS_UNDER_TEST)("softmax family, %s build", (build) => {
  it.each(COLS)("softmax and logSoftmax forward and backward match the reference, cols=%i", async (cols) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shape = [2, 3, cols]; // any rank: rows = 6
      const n = 6 * cols;
      const xv = uniform(n, cols, -5, 5),
        dyv = uniform(n, 100 + cols);
      const x = e.tensor(shape, xv),
        dy = e.tensor(shape, dyv);
      const y = softmax(x),
        ly = logSoftmax(x);
      const yRef = softmaxRef(xv, cols);
      expectClose(y.data, yRef, { rtol: 1e-6, atol: 1e-8, label: "softmax" });
      expectClose(ly.data, logSoftmaxRef(xv, cols), { rtol: 1e-6, atol: 2e-6, label: "logSoftmax" });
      // Backward formulas, in float64 from the float64 forward.
      const dxRef = new Array<number>(n),
        ldxRef = new Array<number>(n);
      for (let r = 0; r < 6; r++) {
        let s = 0,
          sdy = 0;
        for (let c = 0; c < cols; c++) (s += dyv[r * cols + c]! * yRef[r * cols + c]!), (sdy += dyv[r * cols + c]!);
        for (let c = 0; c < cols; c++) {
          const i = r * cols + c;
          dxRef[i] = 0.5 + yRef[i]! * (dyv[i]! - s);
          ldxRef[i] = dyv[i]! - yRef[i]! * sdy;
        }
      }
      const dx = softmaxBackward(dy, y, e.tensor(shape, new Float32Array(n).fill(0.5))); // accumulates onto 0.5
      expectClose(dx.data, dxRef, { rtol: 1e-5, atol: 1e-6, label: "softmax dx" });
      expectClose(logSoftmaxBackward(dy, ly).data, ldxRef, { rtol: 1e-5, atol: 2e-6, label: "logSoftmax dx" });
    });
  });

  it("softmax rows sum to 1", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const y = softmax(e.tensor([7, 33], uniform(7 * 33, 1, -10, 10))).toArray();
      for (let r = 0; r < 7; r++) {
        let s = 0;
        for (let c = 0; c < 33; c++) s += y[r * 33 + c]!;
        expect(Math.abs(s - 1)).toBeLessThan(1e-6);
      }
    });
  });

  it("large-magnitude inputs (|x| up to 100, and far beyond) give finite, correct results", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const cols = 17;
      const xv = uniform(4 * cols, 2, -100, 100);
      xv[0] = 100;
      xv[1] = -100;
      xv[cols] = 1e30;
      xv[2 * cols + 3] = -3e38; // row-wise extremes
      const x = e.tensor([4, cols], xv);
      const y = softmax(x).toArray(),
        ly = logSoftmax(x).toArray();
      for (const v of [...y, ...ly]) expect(Number.isFinite(v)).toBe(true);
      expectClose(y, softmaxRef(xv, cols), { rtol: 1e-5, atol: 1e-30, label: "softmax" });
      expectClose(ly, logSoftmaxRef(xv, cols), { rtol: 1e-6, atol: 1e-4, label: "logSoftmax" });
      const labels = e.ints([4], [0, 1, 2, 3]);
      const { loss, probs } = softmaxCrossEntropy(x, labels);
      expect(Number.isFinite(loss)).toBe(true);
      const lossRef = softmaxCrossEntropyRef(xv, [0, 1, 2, 3], cols); // ~2.5e29: row 1's label is not its 1e30 max
      expect(Math.abs(loss - lossRef)).toBeLessThanOrEqual(1e-6 * lossRef);
      const g = softmaxCrossEntropyBackward(probs, labels).toArray();
      for (const v of g) expect(Number.isFinite(v)).toBe(true);
    });
  });

  it("softmax and logSoftmax backward match finite differences", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.tensor([3, 9], uniform(27, 3, -2, 2));
      const w = uniform(27, 4);
      const dy = e.tensor([3, 9], w);
      expectGradientMatches(x, softmaxBackward(dy, softmax(x)).data, () => e.tidy(() => dot(softmax(x).data, w)), { label: "softmax" });
      expectGradientMatches(x, logSoftmaxBackward(dy, logSoftmax(x)).data, () => e.tidy(() => dot(logSoftmax(x).data, w)), {
        label: "logSoftmax",
      });
    });
  });

  it.each(COLS)("softmaxCrossEntropy forward and backward match the reference, K=%i", async (k) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const b = 5;
      const xv = uniform(b * k, k, -6, 6),
        lv = labelsFor(b, k, k);
      const logits = e.tensor([b, k], xv),
        labels = e.ints([b], lv);
      const { loss, probs } = softmaxCrossEntropy(logits, labels);
      const pRef = softmaxRef(xv, k);
      expect(Math.abs(loss - softmaxCrossEntropyRef(xv, lv, k))).toBeLessThan(1e-5 * (1 + Math.abs(loss)));
      expectClose(probs.data, pRef, { rtol: 1e-6, atol: 1e-8, label: "probs" });
      const onehot = (i: number) => (lv[Math.floor(i / k)] === i % k ? 1 : 0);
      const g = softmaxCrossEntropyBackward(probs, labels);
      expectClose(
        g.data,
        pRef.map((p, i) => (p - onehot(i)) / b),
        { rtol: 1e-5, atol: 1e-7, label: "dlogits, scale 1/B" },
      );
      const acc = e.tensor([b, k], new Float32Array(b * k).fill(1));
      expect(softmaxCrossEntropyBackward(probs, labels, 2, acc)).toBe(acc);
      expectClose(
        acc.data,
        pRef.map((p, i) => 1 + 2 * (p - onehot(i))),
        { rtol: 1e-5, atol: 1e-6, label: "dlogits, scale 2" },
      );
    });
  });

  it("softmaxCrossEntropy backward matches finite differences of the mean loss", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const logits = e.tensor([4, 7], uniform(28, 5, -3, 3)),
        labels = e.ints([4], [6, 0, 3, 3]);
      const g = softmaxCrossEntropyBackward(softmaxCrossEntropy(logits, labels).probs, labels);
      expectGradientMatches(logits, g.data, () => e.tidy(() => softmaxCrossEntropy(logits, labels).loss), { label: "dlogits" });
    });
  });

  it("forward ops run in place", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const xv = uniform(3 * 9, 6, -4, 4);
      const x = e.tensor([3, 9], xv);
      expect(logSoftmax(x, x)).toBe(x);
      expectClose(x.data, logSoftmaxRef(xv, 9), { rtol: 1e-6, atol: 2e-6 });
      const l = e.tensor([3, 9], xv),
        labels = e.ints([3], [8, 0, 4]);
      const { loss, probs } = softmaxCrossEntropy(l, labels, { probs: l });
      expect(probs).toBe(l);
      expect(Math.abs(loss - softmaxCrossEntropyRef(xv, [8, 0, 4], 9))).toBeLessThan(1e-5);
      expectClose(l.data, softmaxRef(xv, 9), { rtol: 1e-6, atol: 1e-8 });
    });
  });

  it("rejects bad arguments with messages naming op, argument and shapes", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const logits = e.zeros([3, 4]);
      const bad = e.ints([3], [0, 4, 1]);
      expect(() => softmaxCrossEntropy(logits, bad)).toThrow(SimdnetError);
      expect(() => softmaxCrossEntropy(logits, bad)).toThrow("softmaxCrossEntropy: labels[1] = 4 is out of range [0, 4) for logits [3,4]");
      expect(() => softmaxCrossEntropy(logits, e.ints([3], [0, 1, -1]))).toThrow("softmaxCrossEntropy: labels[2] = -1 is out of range");
      expect(() => softmaxCrossEntropyBackward(logits, bad)).toThrow("softmaxCrossEntropyBackward: labels[1] = 4 is out of range [0, 4) for probs [3,4]");
      expect(() => softmaxCrossEntropy(logits, e.ints([2]))).toThrow("softmaxCrossEntropy: labels [2] must have one label per row of logits [3,4]");
      expect(() => softmaxCrossEntropy(logits, e.zeros([3]))).toThrow("softmaxCrossEntropy: labels must be i32, got f32");
      expect(() => softmaxCrossEntropy(e.zeros([3, 4, 1]), e.ints([3]))).toThrow("softmaxCrossEntropy: logits must have rank 2, got shape [3,4,1]");
      expect(() => softmaxCrossEntropyBackward(logits, e.ints([3]), NaN)).toThrow("softmaxCrossEntropyBackward: scale must be a finite number, got NaN");
      expect(() => softmax(e.tensor([], [1]))).toThrow("softmax: x must have rank >= 1");
      expect(() => softmaxBackward(e.zeros([3, 5]), logits)).toThrow("softmaxBackward: dy [3,5] and y [3,4] must have the same shape");
      expect(() => logSoftmax(logits, e.zeros([4, 3]))).toThrow("logSoftmax: out must have shape [3,4], got [4,3]");
    });
  });
});
