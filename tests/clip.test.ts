// Gradient clipping (src/train/optimizers.ts; sum_squares_f32 / clamp_f32 in assembly/optim.ts):
// the global norm and the clamp against float64, at tile-edge sizes, in every optimizer and build.
import { describe, expect, it } from "vitest";
import { Adam, clipGradNorm, clipGradValue, gradNorm, type Optimizer, type Param, SGD } from "../src/index.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, TILE_EDGE_SIZES, uniform } from "./harness.js";
import { adamStepRef, sgdStepRef } from "./reference/optim.js";

const norm64 = (grads: ArrayLike<number>[]) => Math.sqrt(grads.reduce((s, g) => s + Array.from(g).reduce((a, v) => a + v * v, 0), 0));

describe.each(BUILDS_UNDER_TEST)("gradient clipping, %s build", (build) => {
  it("clipGradNorm scales every non-frozen gradient to the global norm limit; below it, nothing changes", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const grads = TILE_EDGE_SIZES.map((n) => uniform(n, n, -3, 3));
      const params: Param[] = grads.map((g) => ({ value: e.zeros([g.length]), grad: e.tensor([g.length], g) }));
      const frozen = { value: e.zeros([5]), grad: e.tensor([5], [100, 100, 100, 100, 100]), frozen: true };
      const all = [...params, frozen];
      const norm = norm64(grads);
      expect(gradNorm(all)).toBeCloseTo(norm, 4);
      const limit = norm / 3;
      expect(clipGradNorm(all, limit)).toBeCloseTo(norm, 4);
      params.forEach((p, i) =>
        expectClose(
          p.grad.data,
          grads[i]!.map((v) => (v * limit) / (norm + 1e-6)),
          { rtol: 1e-5, atol: 1e-7 },
        ),
      );
      expectClose(frozen.grad.data, [100, 100, 100, 100, 100]);
      expect(gradNorm(params)).toBeCloseTo(limit, 4);
      const before = params.map((p) => p.grad.toArray());
      clipGradNorm(params, limit * 2);
      params.forEach((p, i) => expectClose(p.grad.data, before[i]!, { rtol: 0, atol: 0 }));
    });
  });

  it("the norm of a long gradient is summed in float64 (1e6 elements)", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const g = uniform(1_000_003, 5, -1, 1);
      const p = { value: e.zeros([g.length]), grad: e.tensor([g.length], g) };
      expect(gradNorm([p]) / norm64([g]) - 1).toBeLessThan(1e-6);
    });
  });

  it("clipGradValue clamps each element", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      for (const n of TILE_EDGE_SIZES) {
        const g = uniform(n, n, -2, 2);
        const p = { value: e.zeros([n]), grad: e.tensor([n], g) };
        clipGradValue([p], 0.5);
        expectClose(
          p.grad.data,
          g.map((v) => Math.min(Math.max(v, -0.5), 0.5)),
          { rtol: 0, atol: 0 },
        );
      }
      expect(() => clipGradValue([], 0)).toThrow(/limit must be > 0/);
      expect(() => clipGradNorm([], -1)).toThrow(/maxNorm must be > 0/);
    });
  });

  const optimizers: [string, () => Optimizer, (w: number[], s: { m: number[]; v: number[]; t: number }, g: ArrayLike<number>) => void][] = [
    [
      "SGD",
      () => new SGD({ lr: 0.1, clipNorm: 1, clipValue: 0.8 }),
      (w, s, g) => sgdStepRef(w, s.v, g, { lr: 0.1, momentum: 0, nesterov: false, weightDecay: 0 }),
    ],
    [
      "SGD with momentum",
      () => new SGD({ lr: 0.1, momentum: 0.9, clipNorm: 1, clipValue: 0.8 }),
      (w, s, g) => sgdStepRef(w, s.v, g, { lr: 0.1, momentum: 0.9, nesterov: false, weightDecay: 0 }),
    ],
    [
      "Adam",
      () => new Adam({ lr: 0.01, clipNorm: 1, clipValue: 0.8 }),
      (w, s, g) => {
        s.t++;
        adamStepRef(w, s.m, s.v, g, s.t, { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false });
      },
    ],
  ];
  it.each(optimizers)("%s clips by value, then by global norm, before each update", async (_name, make, refStep) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const opt = make();
      const sizes = [3, 4, 9, 17];
      const params: Param[] = sizes.map((n) => ({ value: e.tensor([n], uniform(n, n)), grad: e.zeros([n]) }));
      const refW = params.map((p) => Array.from(p.value.data));
      const refS = sizes.map((n) => ({ m: new Array<number>(n).fill(0), v: new Array<number>(n).fill(0), t: 0 }));
      for (let step = 0; step < 3; step++) {
        const grads = sizes.map((n, i) => uniform(n, 50 * step + i, -2, 2));
        params.forEach((p, i) => p.grad.set(grads[i]!));
        const clamped = grads.map((g) => g.map((v) => Math.min(Math.max(v, -0.8), 0.8)));
        const norm = norm64(clamped);
        const scale = norm > 1 ? 1 / (norm + 1e-6) : 1;
        clamped.forEach((g, i) =>
          refStep(
            refW[i]!,
            refS[i]!,
            g.map((v) => v * scale),
          ),
        );
        opt.step(params);
        expect((opt as SGD).lastGradNorm).toBeCloseTo(norm, 4);
      }
      params.forEach((p, i) => expectClose(p.value.data, refW[i]!, { rtol: 1e-5, atol: 1e-6, label: `param ${i}` }));
      opt.dispose();
    });
  });

  it("rejects bad clip options", () => {
    expect(() => new SGD({ lr: 0.1, clipNorm: 0 })).toThrow(/SGD: clipNorm must be > 0/);
    expect(() => new Adam({ clipValue: NaN })).toThrow(/clipValue/);
  });
});
