import { describe, expect, it } from "vitest";
import { dropout, dropoutBackward, SimdnetError } from "../src/index.js";
import { mix } from "./reference/random.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, uniform } from "./harness.js";

const SIZES = [1, 3, 4, 5, 7, 8, 9, 16, 17, 33];

// Reference of the mask contract documented in assembly/dropout.ts, written from the comment:
// keep(seed, i) = (mix(mix(i) + mix(seed ^ 0x9e3779b9)) >>> 8) >= floor(rate * 2^24), with mix the
// xorshift-multiply mixer (>>>16, *0x7feb352d, >>>15, *0x846ca68b, >>>16).
function maskRef(n: number, rate: number, seed: number): number[] {
  const threshold = Math.floor(Math.fround(rate) * 2 ** 24);
  const key = mix((seed ^ 0x9e3779b9) >>> 0);
  return Array.from({ length: n }, (_, i) => (mix((mix(i) + key) >>> 0) >>> 8 >= threshold ? 1 : 0));
}

describe.each(BUILDS_UNDER_TEST)("dropout, %s build", (build) => {
  it.each(SIZES)("training forward and backward match the reference mask, n=%i", async (n) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const rate = 0.4,
        seed = 1234 + n;
      const xv = uniform(3 * n, n),
        dyv = uniform(3 * n, 50 + n);
      const x = e.tensor([3, n], xv);
      const { y, mask } = dropout(x, { rate, training: true, seed });
      const m = maskRef(3 * n, rate, seed);
      expect(Array.from(mask!.data)).toEqual(m);
      const scale = 1 / (1 - rate);
      expectClose(
        y.data,
        Array.from(xv, (v, i) => v * m[i]! * scale),
        { rtol: 1e-6, atol: 0, label: "y" },
      );
      const dx = dropoutBackward(e.tensor([3, n], dyv), mask, { rate, training: true }, e.tensor([3, n], new Float32Array(3 * n).fill(0.5)));
      expectClose(
        dx.data,
        Array.from(dyv, (g, i) => 0.5 + g * m[i]! * scale),
        { rtol: 1e-6, atol: 1e-7, label: "dx" },
      );
    });
  });

  it("same seed gives the same mask; another seed another; mask mean ~ 1 - rate", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const n = 100_003;
      const x = e.tensor([n], uniform(n, 1));
      for (const rate of [0.1, 0.3, 0.5, 0.9]) {
        const a = dropout(x, { rate, training: true, seed: 42 }).mask!.toArray();
        const b = dropout(x, { rate, training: true, seed: 42 }).mask!.toArray();
        const c = dropout(x, { rate, training: true, seed: 43 }).mask!.toArray();
        let mean = 0,
          same = 0,
          repeatDiffers = 0;
        for (let i = 0; i < n; i++) (mean += a[i]!), (same += a[i] === c[i] ? 1 : 0), (repeatDiffers += a[i] === b[i] ? 0 : 1);
        expect(repeatDiffers).toBe(0);
        mean /= n;
        expect(Math.abs(mean - (1 - rate))).toBeLessThan(0.01); // sd ~ 0.0016 at n = 1e5
        // Independent masks agree on a fraction (1-rate)^2 + rate^2 of the elements.
        expect(Math.abs(same / n - ((1 - rate) ** 2 + rate ** 2))).toBeLessThan(0.01);
      }
      const seeds = [0, 2 ** 32 - 1];
      for (const seed of seeds) {
        const m = dropout(e.tensor([33], uniform(33, 2)), { rate: 0.5, training: true, seed }).mask!.toArray();
        expect(Array.from(m)).toEqual(maskRef(33, 0.5, seed));
      }
    });
  });

  it("rate 0 in training keeps everything; inference is the identity", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const xv = uniform(17, 3);
      const x = e.tensor([17], xv);
      const t = dropout(x, { rate: 0, training: true, seed: 5 });
      expect(Array.from(t.mask!.data)).toEqual(new Array(17).fill(1));
      expect(t.y.data).toEqual(xv);
      const inf = dropout(x, { rate: 0.5 });
      expect(inf.mask).toBeNull();
      expect(inf.y).not.toBe(x);
      expect(inf.y.data).toEqual(xv);
      expect(dropout(x, { rate: 0.5, training: false }, x).y).toBe(x);
      const dx = dropoutBackward(e.tensor([17], xv), null, { rate: 0.5 }, e.tensor([17], new Float32Array(17).fill(1)));
      expectClose(
        dx.data,
        Array.from(xv, (v) => v + 1),
        { rtol: 1e-7, atol: 0 },
      );
    });
  });

  it("training backward matches finite differences", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.tensor([4, 9], uniform(36, 4));
      const w = uniform(36, 5);
      const opts = { rate: 0.3, training: true, seed: 77 };
      const { mask } = dropout(x, opts);
      const dx = dropoutBackward(e.tensor([4, 9], w), mask, opts);
      expectGradientMatches(x, dx.data, () => e.tidy(() => dot(dropout(x, opts).y.data, w)), { label: "dx" });
    });
  });

  it("rejects bad arguments with messages naming op and argument", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.zeros([2, 3]);
      expect(() => dropout(x, { rate: 1, training: true, seed: 1 })).toThrow(SimdnetError);
      expect(() => dropout(x, { rate: 1, training: true, seed: 1 })).toThrow("dropout: rate must be in [0, 1), got 1");
      expect(() => dropout(x, { rate: 1.5 })).toThrow("dropout: rate must be in [0, 1), got 1.5");
      expect(() => dropout(x, { rate: -0.1, training: true })).toThrow("dropout: rate must be in [0, 1), got -0.1");
      expect(() => dropout(x, { rate: NaN })).toThrow("dropout: rate must be a finite number, got NaN");
      expect(() => dropout(x, { rate: 0.5, training: true, seed: 1.5 })).toThrow("dropout: seed must be an integer in [0, 2^32), got 1.5");
      expect(() => dropout(x, { rate: 0.5, training: true, seed: -1 })).toThrow("dropout: seed must be an integer");
      expect(() => dropoutBackward(x, null, { rate: 0.5, training: true })).toThrow("dropoutBackward: training mode needs the mask");
      expect(() => dropoutBackward(x, e.zeros([3, 2]), { rate: 0.5, training: true })).toThrow(
        "dropoutBackward: dy [2,3] and mask [3,2] must have the same shape",
      );
      expect(() => dropoutBackward(x, e.zeros([2, 3]), { rate: 1, training: true })).toThrow("dropoutBackward: rate must be in [0, 1), got 1");
    });
  });
});
