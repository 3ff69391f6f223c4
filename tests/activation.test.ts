import { describe, expect, it } from "vitest";
import { leakyRelu, leakyReluBackward, prelu, preluBackward, sigmoid, sigmoidBackward, SimdnetError, tanh, tanhBackward, type Tensor } from "../src/index.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, uniform } from "./harness.js";
import { leakyReluBackwardRef, leakyReluRef, preluBackwardRef, preluRef, sigmoidRef, tanhRef } from "./reference/activation.js";

/** Lengths and channel counts around the 4-lane tile. */
const SIZES = [1, 3, 4, 5, 7, 8, 9, 16, 17, 33];

/** Values in [-3, 3] kept at least 0.05 away from 0, so finite differences do not straddle a kink. */
const awayFromZero = (n: number, seed: number): Float32Array => uniform(n, seed, -3, 3).map((v) => (v < 0 ? v - 0.05 : v + 0.05));

/** Inputs exercising every branch of sigmoid / tanh: near 0 (tanh's polynomial), moderate, large. */
function mixedInputs(n: number, seed: number): Float32Array {
  const small = uniform(n, seed, -0.35, 0.35);
  const wide = uniform(n, seed + 1, -12, 12);
  return small.map((v, i) => (i % 3 === 0 ? v : wide[i]!));
}

describe.each(BUILDS_UNDER_TEST)("activations, %s build", (build) => {
  it.each(SIZES)("leakyRelu forward and backward match the reference, n=%i", async (n) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const xv = awayFromZero(2 * n, n);
      const x = e.tensor([2, n], xv);
      expectClose(leakyRelu(x, 0.2).data, leakyReluRef(xv, 0.2), { rtol: 1e-7, atol: 0 });
      expectClose(leakyRelu(x).data, leakyReluRef(xv, 0.01), { rtol: 1e-7, atol: 0 });
      const dyv = uniform(2 * n, 50 + n);
      const dx = e.tensor([2, n], new Float32Array(2 * n).fill(0.5)); // accumulates onto 0.5
      expect(leakyReluBackward(e.tensor([2, n], dyv), x, 0.2, dx)).toBe(dx);
      expectClose(
        dx.data,
        leakyReluBackwardRef(dyv, xv, 0.2).map((g) => g + 0.5),
        { rtol: 1e-6, atol: 1e-7 },
      );
    });
  });

  it("leakyRelu backward matches finite differences", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.tensor([3, 7], awayFromZero(21, 3));
      const w = uniform(21, 4);
      const dx = leakyReluBackward(e.tensor([3, 7], w), x, 0.3);
      expectGradientMatches(x, dx.data, () => e.tidy(() => dot(leakyRelu(x, 0.3).data, w)), { label: "dx" });
    });
  });

  it.each(SIZES)("prelu per-channel forward and backward match the reference, C=%i", async (c) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shape = [2, 3, c]; // rows > 1: slope broadcast over every row
      const n = 6 * c;
      const xv = awayFromZero(n, c),
        sv = uniform(c, 10 + c, -0.5, 0.5),
        dyv = uniform(n, 20 + c);
      const x = e.tensor(shape, xv),
        slope = e.tensor([c], sv);
      expectClose(prelu(x, slope).data, preluRef(xv, sv), { rtol: 1e-6, atol: 0 });
      const ref = preluBackwardRef(dyv, xv, sv);
      const dslope = e.tensor([c], new Float32Array(c).fill(-1)); // accumulates onto -1
      const g = preluBackward(e.tensor(shape, dyv), x, slope, { dslope });
      expect(g.dslope).toBe(dslope);
      expectClose(g.dx.data, ref.dx, { rtol: 1e-6, atol: 1e-7, label: "dx" });
      expectClose(
        g.dslope.data,
        ref.dslope.map((v) => v - 1),
        { rtol: 1e-5, atol: 1e-5, label: "dslope" },
      );
    });
  });

  it.each([1, 5, 17])("prelu with a shared [1] slope matches the reference, n=%i", async (n) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const xv = awayFromZero(3 * n, n),
        dyv = uniform(3 * n, 30 + n);
      const x = e.tensor([3, n], xv),
        slope = e.tensor([1], [0.25]);
      expectClose(prelu(x, slope).data, preluRef(xv, [0.25]), { rtol: 1e-6, atol: 0 });
      const ref = preluBackwardRef(dyv, xv, [0.25]);
      const g = preluBackward(e.tensor([3, n], dyv), x, slope);
      expectClose(g.dx.data, ref.dx, { rtol: 1e-6, atol: 1e-7, label: "dx" });
      expectClose(g.dslope.data, ref.dslope, { rtol: 1e-5, atol: 1e-5, label: "dslope" });
    });
  });

  it.each([
    [[4, 5], [5]],
    [[2, 3, 9], [1]],
  ])("prelu backward matches finite differences, x %j slope %j", async (shape, sshape) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const n = shape.reduce((a, b) => a * b, 1);
      const x = e.tensor(shape, awayFromZero(n, 5)),
        slope = e.tensor(sshape, uniform(sshape[0]!, 6, 0, 0.5));
      const w = uniform(n, 7);
      const g = preluBackward(e.tensor(shape, w), x, slope);
      const loss = () => e.tidy(() => dot(prelu(x, slope).data, w));
      expectGradientMatches(x, g.dx.data, loss, { label: "dx" });
      expectGradientMatches(slope, g.dslope.data, loss, { label: "dslope" });
    });
  });

  it.each(SIZES)("sigmoid and tanh forward and backward match the reference, n=%i", async (n) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const xv = mixedInputs(3 * n, n);
      const x = e.tensor([3, n], xv);
      const s = sigmoid(x),
        t = tanh(x);
      expectClose(s.data, sigmoidRef(xv), { rtol: 1e-6, atol: 1e-30, label: "sigmoid" });
      expectClose(t.data, tanhRef(xv), { rtol: 1e-6, atol: 1e-30, label: "tanh" });
      const dyv = uniform(3 * n, 40 + n);
      const dy = e.tensor([3, n], dyv);
      const ds = sigmoidBackward(dy, s, e.tensor([3, n], new Float32Array(3 * n).fill(0.5)));
      const sv = s.toArray();
      expectClose(
        ds.data,
        Array.from(sv, (y, i) => 0.5 + dyv[i]! * y * (1 - y)),
        { rtol: 1e-5, atol: 1e-7, label: "sigmoid dx" },
      );
      const tv = t.toArray();
      expectClose(
        tanhBackward(dy, t).data,
        Array.from(tv, (y, i) => dyv[i]! * (1 - y * y)),
        { rtol: 1e-5, atol: 1e-7, label: "tanh dx" },
      );
    });
  });

  it("sigmoid and tanh agree with float64 to ~1e-6 relative over a dense grid", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const n = 8001;
      const xv = Float32Array.from({ length: n }, (_, i) => -20 + (40 * i) / (n - 1));
      const x = e.tensor([n], xv);
      expectClose(sigmoid(x).data, sigmoidRef(xv), { rtol: 1e-6, atol: 1e-30, label: "sigmoid" });
      expectClose(tanh(x).data, tanhRef(xv), { rtol: 1e-6, atol: 1e-30, label: "tanh" });
      const tiny = Float32Array.from({ length: 101 }, (_, i) => (i - 50) * 1e-6); // tanh(x) ~ x
      expectClose(tanh(e.tensor([101], tiny)).data, tanhRef(tiny), { rtol: 1e-6, atol: 1e-30, label: "tanh near 0" });
    });
  });

  it("sigmoid and tanh give finite, correct results for |x| up to 100 and beyond", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const xv = Float32Array.from([-100, 100, -88, 88, -87.5, 87.5, -50, 50, -1e30, 1e30, -3.4e38, 3.4e38, ...uniform(33, 9, -100, 100)]);
      const x = e.tensor([xv.length], xv);
      const s = sigmoid(x).toArray(),
        t = tanh(x).toArray();
      for (const v of [...s, ...t]) expect(Number.isFinite(v)).toBe(true);
      expectClose(s, sigmoidRef(xv), { rtol: 1e-6, atol: 1e-37, label: "sigmoid" });
      expectClose(t, tanhRef(xv), { rtol: 1e-6, atol: 0, label: "tanh" });
      // Backward from saturated outputs stays finite (and ~0).
      const ds = sigmoidBackward(e.tensor([xv.length], new Float32Array(xv.length).fill(1)), sigmoid(x)).data;
      for (const v of ds) expect(Number.isFinite(v)).toBe(true);
    });
  });

  it("sigmoid and tanh propagate NaN", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.tensor([5], [NaN, 0, NaN, 1, NaN]);
      const s = sigmoid(x).toArray(),
        t = tanh(x).toArray();
      expect([s[0], s[2], s[4], t[0], t[2], t[4]].every(Number.isNaN)).toBe(true);
      expect(s[1]).toBe(0.5);
      expect(t[1]).toBe(0);
    });
  });

  it("sigmoid and tanh backward match finite differences", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.tensor([3, 9], uniform(27, 11, -4, 4));
      const w = uniform(27, 12);
      const dy = e.tensor([3, 9], w);
      const cases: [string, (t: Tensor) => Tensor, (dy: Tensor, y: Tensor) => Tensor][] = [
        ["sigmoid", sigmoid, sigmoidBackward],
        ["tanh", tanh, tanhBackward],
      ];
      for (const [name, fwd, bwd] of cases) {
        const dx = bwd(dy, fwd(x));
        expectGradientMatches(x, dx.data, () => e.tidy(() => dot(fwd(x).data, w)), { label: name });
      }
    });
  });

  it("forward ops run in place", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const xv = mixedInputs(19, 13);
      const x = e.tensor([19], xv);
      expect(sigmoid(x, x)).toBe(x);
      expectClose(x.data, sigmoidRef(xv), { rtol: 1e-6, atol: 1e-30 });
      const y = e.tensor([19], xv);
      expect(prelu(y, e.tensor([19], new Float32Array(19).fill(0.5)), y)).toBe(y);
      expectClose(y.data, preluRef(xv, [0.5]), { rtol: 1e-7, atol: 0 });
    });
  });

  it("rejects bad arguments with messages naming op, argument and shapes", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.zeros([2, 4]);
      expect(() => leakyRelu(x, NaN)).toThrow(SimdnetError);
      expect(() => leakyRelu(x, NaN)).toThrow("leakyRelu: alpha must be a finite number, got NaN");
      expect(() => leakyRelu(x, Infinity)).toThrow("leakyRelu: alpha must be a finite number, got Infinity");
      expect(() => leakyReluBackward(x, x, -Infinity)).toThrow("leakyReluBackward: alpha must be a finite number");
      expect(() => leakyReluBackward(e.zeros([4, 2]), x)).toThrow("leakyReluBackward: dy [4,2] and x [2,4] must have the same shape");
      expect(() => prelu(x, e.zeros([3]))).toThrow(SimdnetError);
      expect(() => prelu(x, e.zeros([3]))).toThrow("prelu: slope must have shape [4] (one per channel, the last axis of x [2,4]) or [1], got [3]");
      expect(() => prelu(x, e.zeros([1, 4]))).toThrow("prelu: slope must have shape [4]");
      expect(() => preluBackward(x, x, e.zeros([2]))).toThrow("preluBackward: slope must have shape [4]");
      expect(() => preluBackward(x, x, e.zeros([4]), { dslope: e.zeros([1]) })).toThrow("preluBackward: dslope must have shape [4], got [1]");
      expect(() => sigmoid(x, e.zeros([8]))).toThrow("sigmoid: out must have shape [2,4], got [8]");
      expect(() => tanhBackward(x, e.zeros([2, 5]))).toThrow("tanhBackward: dy [2,4] and y [2,5] must have the same shape");
    });
  });
});
