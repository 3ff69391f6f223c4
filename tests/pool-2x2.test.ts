// The specialised 2x2 stride-2 max pooling kernels (assembly/pool.ts: maxpool2x2_f32_forward, used
// by maxPool2d when the window is plain, and maxpool2x2_f32_inference behind maxPool2dInference),
// against the float64 reference at the channel edges of the overlapping-last-vector scheme and the
// 4-output de-interleave for C=1.
import { describe, expect, it } from "vitest";
import { maxPool2d, maxPool2dBackward, maxPool2dInference, type Pool2dOptions, SimdnetError } from "../src/index.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, rng, uniform } from "./harness.js";
import { refGeometry, refMaxPool, refMaxPoolBackward, type RefPoolParams } from "./reference/pool.js";

const CHANNELS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17];
/** [H, W]: even and odd sizes (the odd row / column is dropped), output widths 1..9 around 4. */
const SIZES: [number, number][] = [
  [2, 2],
  [5, 7],
  [4, 16],
  [6, 18],
  [3, 19],
];
const K2: RefPoolParams = { kernel: [2, 2], strides: [2, 2] };

describe.each(BUILDS_UNDER_TEST)("max pooling 2x2 stride 2, %s build", (build) => {
  it.each(CHANNELS)("forward, arg-max, backward and inference match the reference, C=%i", async (c) => {
    const e = await engineFor(build);
    e.tidy(() => {
      for (const [h, w] of SIZES) {
        const shape = [2, h, w, c];
        const size = shape.reduce((a, b) => a * b);
        const r = rng(c * 100 + h);
        // many ties (a few distinct values) so the first-maximum rule is exercised
        const xv = Float32Array.from({ length: size }, () => Math.floor(r() * 4) - 2);
        const ref = refMaxPool(xv, refGeometry(shape, K2));
        const label = `C=${c} ${h}x${w}`;
        const x = e.tensor(shape, xv);
        const { y, argmax } = maxPool2d(x, K2 as Pool2dOptions);
        expectClose(y.data, ref.y, { atol: 0, rtol: 0, label: `${label} y` });
        expect(Array.from(argmax.ints), `${label} argmax`).toEqual(Array.from(ref.argmax));
        const dyv = uniform(y.size, c + h);
        const dx = maxPool2dBackward(e.tensor(y.shape, dyv), argmax, shape);
        expectClose(dx.data, refMaxPoolBackward(dyv, ref.argmax, size), { atol: 1e-6, label: `${label} dx` });
        const yi = maxPool2dInference(x, K2 as Pool2dOptions);
        expect(yi.shape).toEqual(y.shape);
        expectClose(yi.data, ref.y, { atol: 0, rtol: 0, label: `${label} inference y` });
      }
    });
  });

  it("a NaN in a window wins (forward and inference)", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      for (const c of [1, 4, 6]) {
        for (let tap = 0; tap < 4; tap++) {
          // one window (2x2 input), the NaN at tap (row tap>>1, column tap&1) of channel 0
          const xv = Float32Array.from({ length: 4 * c }, (_, i) => i + 1);
          const at = ((tap >> 1) * 2 + (tap & 1)) * c;
          xv[at] = NaN;
          const x = e.tensor([1, 2, 2, c], xv);
          const { y, argmax } = maxPool2d(x, { kernel: 2, strides: 2 });
          expect(y.data[0], `C=${c} tap ${tap}`).toBeNaN();
          expect(argmax.ints[0], `C=${c} tap ${tap}`).toBe(at);
          expect(maxPool2dInference(x, { kernel: 2, strides: 2 }).data[0]).toBeNaN();
          // the other channels: the largest value is the last tap's
          for (let ch = 1; ch < c; ch++) expect(y.data[ch]).toBe(3 * c + ch + 1);
        }
      }
    });
  });

  it("two NaNs in a window: the later one wins, as in the generic kernel (ties likewise go the same way)", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      for (const c of [1, 4, 8]) {
        for (let t1 = 0; t1 < 4; t1++) {
          for (let t2 = t1 + 1; t2 < 4; t2++) {
            const pos = (tap: number) => ((tap >> 1) * 2 + (tap & 1)) * c;
            const xv = new Float32Array(4 * c).fill(2); // every other channel: a four-way tie
            xv[pos(t1)] = NaN;
            xv[pos(t2)] = NaN;
            const x = e.tensor([1, 2, 2, c], xv);
            const plain = maxPool2d(x, { kernel: 2, strides: 2 });
            // a padded bottom row and right column: not the plain 2x2 case, so the generic kernel
            const generic = maxPool2d(x, { kernel: 2, strides: 2, pads: [0, 0, 1, 1] });
            expect(plain.y.data[0], `C=${c} NaNs at ${t1}, ${t2}`).toBeNaN();
            expect(plain.argmax.ints[0], `C=${c} NaNs at ${t1}, ${t2}`).toBe(pos(t2));
            expect(generic.argmax.ints[0], `C=${c} NaNs at ${t1}, ${t2} (generic)`).toBe(pos(t2));
            for (let ch = 1; ch < c; ch++) expect(plain.argmax.ints[ch]).toBe(ch); // ties: the first tap
          }
        }
      }
    });
  });

  it("inference for other windows (k3 s2 pads 1, ceil mode) equals maxPool2d's y; `out` is written", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shape = [2, 7, 6, 5];
      const xv = uniform(
        shape.reduce((a, b) => a * b),
        3,
        -3,
        1,
      );
      const x = e.tensor(shape, xv);
      for (const p of [
        { kernel: 3, strides: 2, pads: 1 },
        { kernel: 2, strides: 2, ceilMode: true },
      ] as Pool2dOptions[]) {
        const y = maxPool2d(x, p).y;
        const out = e.zeros(y.shape);
        expect(maxPool2dInference(x, p, out)).toBe(out);
        expect(Array.from(out.data)).toEqual(Array.from(y.data));
      }
    });
  });

  it("maxPool2dInference rejects bad arguments", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.zeros([1, 4, 4, 2]);
      const bad = (fn: () => unknown, message: string) => {
        expect(fn).toThrow(SimdnetError);
        expect(fn).toThrow(message);
      };
      bad(() => maxPool2dInference(x, { kernel: 2, strides: 0 }), "maxPool2dInference: strides must be an integer >= 1, got 0");
      bad(() => maxPool2dInference(x, { kernel: 2, strides: 2 }, e.zeros([1, 2, 2, 3])), "maxPool2dInference");
      bad(() => maxPool2dInference(x, { kernel: 2, strides: 2 }, x), "maxPool2dInference");
      bad(() => maxPool2dInference(e.zeros([4, 4, 2]), { kernel: 2 }), "maxPool2dInference: x must have rank 4");
    });
  });
});
