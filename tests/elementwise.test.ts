import { describe, expect, it } from "vitest";
import { add, addBackward, axpy, relu, reluBackward, SimdnetError } from "../src/index.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, TILE_EDGE_SIZES, uniform } from "./harness.js";

describe.each(BUILDS_UNDER_TEST)("elementwise ops, %s build", (build) => {
  it.each(TILE_EDGE_SIZES)("relu forward and backward match the reference, n=%i", async (n) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const xv = uniform(n, n);
      const x = e.tensor([n], xv);
      const y = relu(x);
      expectClose(
        y.data,
        xv.map((v) => Math.max(v, 0)),
        { atol: 0, rtol: 0 },
      );
      const dyv = uniform(n, 100 + n);
      const dx = e.tensor([n], new Float32Array(n).fill(0.5)); // accumulates onto 0.5
      reluBackward(e.tensor([n], dyv), y, dx);
      expectClose(
        dx.data,
        dyv.map((g, i) => 0.5 + (xv[i]! > 0 ? g : 0)),
        { atol: 0, rtol: 0 },
      );
    });
  });

  it("relu runs in place", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.tensor([2, 3, 5, 7], uniform(210, 1));
      const expected = x.toArray().map((v) => Math.max(v, 0));
      expect(relu(x, x)).toBe(x);
      expectClose(x.data, expected, { atol: 0, rtol: 0 });
    });
  });

  it.each(TILE_EDGE_SIZES)("add and axpy match the reference, n=%i", async (n) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const av = uniform(n, 1),
        bv = uniform(n, 2);
      const a = e.tensor([n], av),
        b = e.tensor([n], bv);
      expectClose(
        add(a, b).data,
        av.map((v, i) => v + bv[i]!),
        { atol: 1e-7 },
      );
      axpy(a, b, -0.25);
      expectClose(
        a.data,
        av.map((v, i) => v - 0.25 * bv[i]!),
        { atol: 1e-6 },
      );
    });
  });

  it("add backward matches finite differences", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const a = e.tensor([3, 5], uniform(15, 3)),
        b = e.tensor([3, 5], uniform(15, 4));
      const w = uniform(15, 5);
      const { da, db } = addBackward(e.tensor([3, 5], w));
      const loss = () => e.tidy(() => dot(add(a, b).data, w));
      expectGradientMatches(a, da.data, loss, { label: "da" });
      expectGradientMatches(b, db.data, loss, { label: "db" });
    });
  });

  it("rejects mismatched shapes with a message naming op and shapes", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const a = e.zeros([2, 3]),
        b = e.zeros([3, 2]);
      expect(() => add(a, b)).toThrow(SimdnetError);
      expect(() => add(a, b)).toThrow("add: a [2,3] and b [3,2] must have the same shape");
      expect(() => relu(a, e.zeros([6]))).toThrow("relu: out must have shape [2,3], got [6]");
    });
  });
});
