import { describe, expect, it } from "vitest";
import { Adam, cosineDecay, type Param, SGD, SimdnetError, stepDecay, zeroGrads } from "../src/index.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, TILE_EDGE_SIZES, uniform } from "./harness.js";
import { adamStepRef, sgdStepRef } from "./reference/optim.js";

const STEPS = 5;

const SGD_CASES = [
  { lr: 0.1, momentum: 0, nesterov: false, weightDecay: 0 },
  { lr: 0.05, momentum: 0, nesterov: false, weightDecay: 0.01 },
  { lr: 0.05, momentum: 0.9, nesterov: false, weightDecay: 0 },
  { lr: 0.02, momentum: 0.8, nesterov: true, weightDecay: 0.05 },
];

const ADAM_CASES = [
  { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false },
  { lr: 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1, decoupled: false },
  { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, decoupled: true },
];

describe.each(BUILDS_UNDER_TEST)("optimizers, %s build", (build) => {
  it.each(SGD_CASES)("SGD matches the float64 reference for %o at every tile-edge size", async (o) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const params: Param[] = [];
      const refW: number[][] = [],
        refV: number[][] = [];
      for (const n of TILE_EDGE_SIZES) {
        const w0 = uniform(n, n);
        params.push({ value: e.tensor([n], w0), grad: e.zeros([n]) });
        refW.push(Array.from(w0));
        refV.push(new Array<number>(n).fill(0));
      }
      const opt = new SGD(o);
      for (let t = 0; t < STEPS; t++) {
        params.forEach((p, k) => {
          const g = uniform(p.value.size, 1000 * t + k);
          p.grad.set(g);
          sgdStepRef(refW[k]!, refV[k]!, g, o);
        });
        opt.step(params); // all parameters are updated inside one tidy: state must survive it
      }
      params.forEach((p, k) => expectClose(p.value.data, refW[k]!, { rtol: 1e-5, atol: 1e-6, label: `n=${p.value.size}` }));
      expect(opt.stateCount).toBe(params.length);
      opt.dispose();
    });
  });

  it.each(ADAM_CASES)("Adam matches the float64 reference for %o at every tile-edge size", async (o) => {
    const e = await engineFor(build);
    const opt = new Adam(o);
    e.tidy(() => {
      const params: Param[] = [];
      const refW: number[][] = [],
        refM: number[][] = [],
        refV: number[][] = [];
      for (const n of TILE_EDGE_SIZES) {
        const w0 = uniform(n, n);
        params.push({ value: e.tensor([n], w0), grad: e.zeros([n]) });
        refW.push(Array.from(w0));
        refM.push(new Array<number>(n).fill(0));
        refV.push(new Array<number>(n).fill(0));
      }
      for (let t = 1; t <= STEPS; t++) {
        // Each step runs in its own tidy scope, as a training loop would.
        e.tidy(() => {
          params.forEach((p, k) => {
            const g = uniform(p.value.size, 77 * t + k, -2, 2);
            p.grad.set(g);
            adamStepRef(refW[k]!, refM[k]!, refV[k]!, g, t, o);
          });
          opt.step(params);
        });
      }
      params.forEach((p, k) => expectClose(p.value.data, refW[k]!, { rtol: 1e-5, atol: 2e-6, label: `n=${p.value.size}` }));
    });
    opt.dispose();
  });

  it("state is allocated once per parameter on its first step, never per step", async () => {
    const e = await engineFor(build);
    for (const make of [() => new SGD({ lr: 0.1, momentum: 0.9 }), () => new Adam()]) {
      const opt = make();
      const p: Param = { value: e.tensor([17], uniform(17, 1)), grad: e.tensor([17], uniform(17, 2)) };
      const before = e.heap.bytesInUse;
      opt.step([p]);
      const afterFirst = e.heap.bytesInUse;
      expect(afterFirst).toBeGreaterThan(before);
      for (let i = 0; i < 10; i++) e.tidy(() => opt.step([p]));
      expect(e.heap.bytesInUse).toBe(afterFirst);
      opt.dispose();
      expect(e.heap.bytesInUse).toBe(before);
      p.value.dispose();
      p.grad.dispose();
    }
  });

  it("frozen parameters are unchanged and keep no state; a frozen step does not advance Adam's t", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const w0 = uniform(9, 3),
        g = uniform(9, 4);
      const frozen: Param = { value: e.tensor([9], w0), grad: e.tensor([9], g), frozen: true };
      const live: Param = { value: e.tensor([9], w0), grad: e.tensor([9], g) };
      for (const opt of [new SGD({ lr: 0.1, momentum: 0.9 }), new Adam({ lr: 0.1 })]) {
        opt.step([frozen, live]);
        opt.step([frozen, live]);
        expect(Array.from(frozen.value.data)).toEqual(Array.from(w0));
        expect(Array.from(live.value.data)).not.toEqual(Array.from(w0));
        expect(opt.stateCount).toBe(1);
        opt.dispose();
      }
      // Unfreezing later: its first Adam step uses t = 1 (bias correction of a fresh parameter).
      const adam = new Adam({ lr: 0.01 });
      adam.step([frozen, live]);
      frozen.frozen = false;
      adam.step([frozen, live]);
      const w = Array.from(w0),
        m = new Array<number>(9).fill(0),
        v = new Array<number>(9).fill(0);
      adamStepRef(w, m, v, g, 1, { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false });
      expectClose(frozen.value.data, w, { rtol: 1e-5, atol: 1e-6, label: "unfrozen" });
      adam.dispose();
    });
  });

  it.each([
    ["SGD", () => new SGD({ lr: 0.1 })],
    ["SGD momentum", () => new SGD({ lr: 0.05, momentum: 0.9 })],
    ["SGD Nesterov", () => new SGD({ lr: 0.05, momentum: 0.9, nesterov: true })],
    ["Adam", () => new Adam({ lr: 0.05 })],
  ])("%s minimises an ill-conditioned quadratic", async (_name, make) => {
    const e = await engineFor(build);
    e.tidy(() => {
      // f(w) = sum_i a_i (w_i - c_i)^2 / 2, gradient a_i (w_i - c_i), a in [0.2, 2].
      const n = 13;
      const a = uniform(n, 5, 0.2, 2),
        c = uniform(n, 6, -3, 3);
      const p: Param = { value: e.tensor([n], uniform(n, 7, -3, 3)), grad: e.zeros([n]) };
      const f = () => {
        const w = p.value.data;
        let s = 0;
        for (let i = 0; i < n; i++) s += (a[i]! * (w[i]! - c[i]!) ** 2) / 2;
        return s;
      };
      const opt = make();
      const f0 = f();
      for (let step = 0; step < 400; step++) {
        const w = p.value.data,
          g = p.grad.data;
        for (let i = 0; i < n; i++) g[i] = a[i]! * (w[i]! - c[i]!);
        opt.step([p]);
      }
      expect(f()).toBeLessThan(1e-4 * f0);
      expectClose(p.value.data, c, { atol: 2e-2, rtol: 0, label: "minimiser" });
      opt.dispose();
    });
  });

  it("zeroGrads clears every gradient", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const ps: Param[] = [5, 16].map((n) => ({ value: e.zeros([n]), grad: e.tensor([n], uniform(n, n)), frozen: n === 5 }));
      zeroGrads(ps);
      for (const p of ps) expect(Array.from(p.grad.data).every((x) => x === 0)).toBe(true);
    });
  });

  it("bad parameters and hyper-parameters throw SimdnetError and change nothing", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const w0 = uniform(4, 1);
      const good: Param = { value: e.tensor([4], w0), grad: e.tensor([4], uniform(4, 2)) };
      const bad: Param = { value: e.zeros([2, 3]), grad: e.zeros([3, 2]), name: "fc.w" };
      const opt = new SGD({ lr: 0.1 });
      expect(() => opt.step([good, bad])).toThrow(/SGD.step: params\[1\] \(fc.w\): grad \[3,2\] must have the shape of value \[2,3\]/);
      expect(Array.from(good.value.data)).toEqual(Array.from(w0)); // validated before any update
      expect(() => opt.step([good, good])).toThrow(/appears twice/);
      const ints: Param = { value: e.ints([4]), grad: e.zeros([4]) };
      expect(() => opt.step([ints])).toThrow(SimdnetError);
      const gone = e.zeros([4]);
      gone.dispose();
      expect(() => opt.step([{ value: gone, grad: good.grad }])).toThrow(/disposed/);
      expect(() => new SGD({ lr: NaN })).toThrow(/SGD: lr must be a finite number/);
      expect(() => new SGD({ lr: -1 })).toThrow(/lr must be >= 0/);
      expect(() => new SGD({ lr: 0.1, momentum: 1 })).toThrow(/momentum must be in \[0, 1\)/);
      expect(() => new SGD({ lr: 0.1, nesterov: true })).toThrow(/nesterov needs momentum/);
      expect(() => new SGD({ lr: 0.1, weightDecay: -0.1 })).toThrow(/weightDecay/);
      expect(() => new Adam({ beta1: 1 })).toThrow(/beta1/);
      expect(() => new Adam({ beta2: -0.1 })).toThrow(/beta2/);
      expect(() => new Adam({ eps: 0 })).toThrow(/eps must be > 0/);
      expect(() => (opt.lr = Infinity)).toThrow(SimdnetError);
    });
  });
});

describe("learning-rate schedules", () => {
  it("stepDecay multiplies by factor every `every` steps", () => {
    const s = stepDecay({ lr: 0.1, factor: 0.5, every: 3 });
    expect([0, 1, 2, 3, 5, 6, 9].map(s)).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]);
    expect(() => s(-1)).toThrow(SimdnetError);
    expect(() => s(1.5)).toThrow(SimdnetError);
    expect(() => stepDecay({ lr: 0.1, every: 0 })).toThrow(/every must be an integer >= 1/);
    expect(() => stepDecay({ lr: 0.1, every: 2, factor: 1.5 })).toThrow(/factor/);
  });

  it("cosineDecay warms up linearly, follows the half cosine and then stays at minLr", () => {
    const s = cosineDecay({ lr: 1, minLr: 0.1, total: 14, warmup: 4 });
    expect(s(0)).toBeCloseTo(0.25, 12);
    expect(s(3)).toBeCloseTo(1, 12);
    expect(s(4)).toBeCloseTo(1, 12); // start of the cosine: the peak
    expect(s(9)).toBeCloseTo(0.55, 12); // half way: (lr + minLr) / 2
    expect(s(14)).toBe(0.1);
    expect(s(100)).toBe(0.1);
    for (let t = 4; t < 14; t++) expect(s(t + 1)).toBeLessThan(s(t));
    const plain = cosineDecay({ lr: 2, total: 4 });
    expect([0, 1, 2, 3, 4].map(plain).map((x) => +x.toFixed(12))).toEqual([2, +(1 + Math.SQRT1_2).toFixed(12), 1, +(1 - Math.SQRT1_2).toFixed(12), 0]);
    expect(() => cosineDecay({ lr: 1, total: 4, warmup: 4 })).toThrow(/warmup/);
    expect(() => cosineDecay({ lr: 1, minLr: 2, total: 4 })).toThrow(/minLr/);
  });
});
