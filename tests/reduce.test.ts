// Reduction and along-an-axis kernels (assembly/reduce.ts, softmax_axis in assembly/softmax.ts)
// against plain float64 references, at SIMD and tile edges, in every build, on values stored in
// several axis orders; the pairwise sums' float32 error on long reductions; softmax along any
// axis backward against finite differences.
import { describe, expect, it } from "vitest";
import type { Engine } from "../src/index.js";
import { ND_DESC_WORDS, writeNd } from "../src/graph/nd.js";
import {
  axisWorkspaceFloats,
  REDUCE_KIND,
  reduceBackward,
  reduceBackwardWorkspaceFloats,
  reduceLoop,
  reduceWorkspaceFloats,
  type ReduceType,
} from "../src/graph/ops/reduce.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, TILE_EDGE_SIZES, uniform } from "./harness.js";

const KINDS = Object.keys(REDUCE_KIND) as ReduceType[];

/** Plain float64 reduction of the values `v` (one output). */
function reduceRef(kind: ReduceType, v: number[]): number {
  const sum = (f: (x: number) => number) => v.reduce((a, x) => a + f(x), 0);
  switch (kind) {
    case "ReduceSum":
      return sum((x) => x);
    case "ReduceMean":
      return sum((x) => x) / v.length;
    case "ReduceSumSquare":
      return sum((x) => x * x);
    case "ReduceL1":
      return sum(Math.abs);
    case "ReduceL2":
      return Math.sqrt(sum((x) => x * x));
    case "ReduceLogSumExp": {
      const m = Math.max(...v);
      return v.length === 0 ? -Infinity : m + Math.log(sum((x) => Math.exp(x - m)));
    }
    case "ReduceMax":
      return v.reduce((a, x) => Math.max(a, x), -Infinity);
    case "ReduceMin":
      return v.reduce((a, x) => Math.min(a, x), Infinity);
    case "ReduceProd":
      return v.reduce((a, x) => a * x, 1);
  }
}

/**
 * The reference of the kernels' contract: x holds logical `shape` in `perm` order; the output
 * holds the kept axes in x's physical order. Returns each output's list of values, in that order.
 */
function groups(x: ArrayLike<number>, shape: number[], perm: number[], reduced: number[]): number[][] {
  const dims = perm.map((a) => shape[a]!),
    red = perm.map((a) => reduced.includes(a));
  const keptDims = dims.filter((_, j) => !red[j]);
  const out = Array.from({ length: keptDims.reduce((a, b) => a * b, 1) }, () => [] as number[]);
  const idx = new Array<number>(dims.length).fill(0);
  for (let i = 0; i < x.length; i++) {
    let o = 0;
    dims.forEach((d, j) => {
      if (!red[j]) o = o * d + idx[j]!;
    });
    out[o]!.push(x[i]!);
    for (let j = dims.length - 1; j >= 0; j--) {
      if (++idx[j]! < dims[j]!) break;
      idx[j] = 0;
    }
  }
  return out;
}

/** Runs reduce_f32_forward / reduce_i32_forward on x (physical order) and returns y. */
function runReduce(e: Engine, kind: ReduceType, x: ArrayLike<number>, shape: number[], perm: number[], reduced: number[], ints = false): number[] {
  const loop = reduceLoop(shape, perm, reduced);
  const outSize = perm.filter((a) => !reduced.includes(a)).reduce((a, p) => a * shape[p]!, 1);
  const k = e.kernels;
  const pad = x.length ? Array.from(x) : [0]; // an empty x still gets a (never read) buffer
  const xt = ints ? e.ints([pad.length], Int32Array.from(pad)) : e.tensor([pad.length], Float32Array.from(pad));
  const yt = e.empty([Math.max(1, outSize)], ints ? "i32" : "f32");
  const ws = e.empty([reduceWorkspaceFloats(loop.V)], "f32");
  const kept = e.empty([ND_DESC_WORDS], "i32"),
    red = e.empty([ND_DESC_WORDS], "i32");
  writeNd(e.heap.i32, kept.ptr, { dims: loop.kept.dims, strides: [loop.kept.strides] }, "test");
  writeNd(e.heap.i32, red.ptr, { dims: loop.red.dims, strides: [loop.red.strides] }, "test");
  if (outSize > 0) {
    if (ints) k.reduce_i32_forward(yt.ptr, xt.ptr, kept.ptr, red.ptr, loop.V, loop.L, REDUCE_KIND[kind]);
    else k.reduce_f32_forward(yt.ptr, xt.ptr, ws.ptr, kept.ptr, red.ptr, loop.V, loop.L, REDUCE_KIND[kind]);
  }
  const y = Array.from(ints ? yt.ints : yt.data).slice(0, outSize);
  for (const t of [xt, yt, ws, kept, red]) t.dispose();
  return y;
}

/** Values for a kind: products stay near 1 in magnitude. */
const valuesFor = (kind: ReduceType, n: number, seed: number) => (kind === "ReduceProd" ? uniform(n, seed, 0.7, 1.3) : uniform(n, seed, -2, 2));

/** [shape, perm, reduced axes]: the row path, the vector path, both mixed, NHWC channels. */
const LAYOUTS = (s: number): [number[], number[], number[]][] => [
  [[3, s], [0, 1], [1]], // rows of s
  [[3, s], [0, 1], [0]], // vector path, V = s
  [
    [2, s, 5],
    [0, 1, 2],
    [0, 2],
  ], // kept middle axis: rows of 5 at stride, s outputs
  [[2, s, 3], [2, 0, 1], [1]], // perm: the reduced axis innermost physically
  [[2, 3, s, 2], [0, 2, 3, 1], [1]], // NCHW value stored NHWC, reduce C (the innermost)
  [
    [2, 3, s, 2],
    [0, 2, 3, 1],
    [2, 3],
  ], // ... reduce H, W: vector path over C
  [
    [s, 2, 3],
    [0, 1, 2],
    [0, 1, 2],
  ], // everything: one row
];

describe("reduce loop and workspace", () => {
  it("agrees with the kernels on the workspace size", async () => {
    const e = await engineFor("scalar");
    for (const V of [1, 3, 256, 257, 1000]) expect(reduceWorkspaceFloats(V)).toBe(e.kernels.reduce_f32_workspace(V));
    for (const V of [1, 2, 256, 300]) {
      expect(axisWorkspaceFloats(V)).toBe(e.kernels.argmax_f32_workspace(V));
      expect(axisWorkspaceFloats(V)).toBe(e.kernels.softmax_axis_f32_workspace(V));
    }
  });

  it("splits a layout into kept and reduced runs", () => {
    expect(reduceLoop([4, 6], [0, 1], [1])).toEqual({ kept: { dims: [4], strides: [6] }, red: { dims: [1], strides: [0] }, V: 1, L: 6 });
    expect(reduceLoop([4, 6], [0, 1], [0])).toEqual({ kept: { dims: [1], strides: [0] }, red: { dims: [4], strides: [6] }, V: 6, L: 1 });
    // NCHW [2, 3, 4, 5] stored NHWC: reduce C = the innermost run
    expect(reduceLoop([2, 3, 4, 5], [0, 2, 3, 1], [1])).toEqual({
      kept: { dims: [2, 4, 5], strides: [60, 15, 3] },
      red: { dims: [1], strides: [0] },
      V: 1,
      L: 3,
    });
  });
});

describe.each(BUILDS_UNDER_TEST)("reduce_f32_forward (%s)", (build) => {
  it.each(TILE_EDGE_SIZES.concat([129, 300]))("every kind matches float64 in every layout, extent %i", async (s) => {
    const e = await engineFor(build);
    for (const kind of KINDS) {
      for (const [shape, perm, reduced] of LAYOUTS(s)) {
        const n = shape.reduce((a, b) => a * b, 1);
        const x = valuesFor(kind, n, s + 7 * reduced.length);
        const want = groups(x, shape, perm, reduced).map((v) => reduceRef(kind, v));
        const got = runReduce(e, kind, x, shape, perm, reduced);
        // sums cancel: the error is relative to the sum of magnitudes (~ the count of terms)
        const count = n / Math.max(1, want.length);
        expectClose(got, want, { rtol: 2e-6, atol: 2e-7 * count, label: `${kind} ${JSON.stringify([shape, perm, reduced])}` });
      }
    }
  });

  it("gives ONNX's identities for empty reductions, and reduces nothing when no axis is reduced", async () => {
    const e = await engineFor(build);
    const ids: Record<ReduceType, number> = {
      ReduceSum: 0,
      ReduceMean: NaN,
      ReduceSumSquare: 0,
      ReduceL1: 0,
      ReduceL2: 0,
      ReduceLogSumExp: -Infinity,
      ReduceMax: -Infinity,
      ReduceMin: Infinity,
      ReduceProd: 1,
    };
    for (const kind of KINDS) {
      for (const [shape, reduced] of [
        [[3, 0], [1]],
        [[0, 5], [0]],
        [[2, 0, 3], [1]],
      ] as [number[], number[]][]) {
        const got = runReduce(
          e,
          kind,
          [],
          shape,
          shape.map((_, i) => i),
          reduced,
        );
        expect(got.length).toBe(shape.filter((_, i) => !reduced.includes(i)).reduce((a, b) => a * b, 1));
        for (const v of got) expect(v, `${kind} of ${JSON.stringify(shape)} over ${reduced}`).toBe(ids[kind]);
      }
      // no axis reduced (noop_with_empty_axes): each element on its own
      const x = valuesFor(kind, 10, 3);
      expectClose(
        runReduce(e, kind, x, [2, 5], [0, 1], []),
        Array.from(x, (v) => reduceRef(kind, [v])),
        { rtol: 2e-6, atol: 1e-7, label: kind },
      );
    }
  });

  it("keeps float32 sums of 2^20 terms within ~1e-6 (pairwise), on the row and vector paths", async () => {
    const e = await engineFor(build);
    const n = 1 << 20;
    const x = uniform(n, 11, 0, 1);
    const exact = (vals: number[]) => vals.reduce((a, b) => a + b, 0);
    const rel = (got: number[], want: number[]) => Math.max(...got.map((g, i) => Math.abs(g - want[i]!) / Math.abs(want[i]!)));
    for (const [shape, reduced] of [
      [[n], [0]], // one row
      [[n / 8, 8], [0]], // vector path, 8 lanes, 2^17 terms each
      [
        [n / 8, 2, 3],
        [0, 2],
      ], // rows of 3 gathered into partials, 2 outputs
    ] as [number[], number[]][]) {
      const size = shape.reduce((a, b) => a * b, 1);
      const xs = x.subarray(0, size); // (3/4 of x for the last)
      const want = groups(
        xs,
        shape,
        shape.map((_, i) => i),
        reduced,
      ).map(exact);
      const got = runReduce(
        e,
        "ReduceSum",
        xs,
        shape,
        shape.map((_, i) => i),
        reduced,
      );
      expect(rel(got, want), `sum over ${JSON.stringify(shape)} axes ${reduced}`).toBeLessThan(2e-6);
      const mean = runReduce(
        e,
        "ReduceMean",
        xs,
        shape,
        shape.map((_, i) => i),
        reduced,
      );
      const cnt = size / want.length;
      expect(
        rel(
          mean,
          want.map((w) => w / cnt),
        ),
      ).toBeLessThan(2e-6);
    }
  });

  it("reduces i32 values exactly", async () => {
    const e = await engineFor(build);
    const x = Array.from({ length: 24 }, (_, i) => ((i * 7) % 11) - 5);
    for (const kind of KINDS) {
      for (const [shape, perm, reduced] of [
        [[4, 6], [0, 1], [1]],
        [[4, 6], [0, 1], [0]],
        [
          [2, 3, 4],
          [0, 2, 1],
          [0, 2],
        ],
      ] as [number[], number[], number[]][]) {
        const want = groups(x, shape, perm, reduced)
          .map((v) => reduceRef(kind, v))
          .map((v) => (Number.isFinite(v) ? Math.trunc(v) + 0 : v));
        const got = runReduce(e, kind, x, shape, perm, reduced, true);
        // the kernel's integer results: exact sums / products; f64 then truncated for mean, L2, log-sum-exp
        expect(got, `${kind} ${JSON.stringify([shape, perm, reduced])}`).toEqual(want.map((v) => (kind === "ReduceProd" ? v | 0 : v)));
      }
    }
    expect(runReduce(e, "ReduceMax", [], [0, 2], [0, 1], [0], true)).toEqual([-(2 ** 31), -(2 ** 31)]);
    expect(runReduce(e, "ReduceMin", [], [0, 2], [0, 1], [0], true)).toEqual([2 ** 31 - 1, 2 ** 31 - 1]);
  });
});

describe.each(BUILDS_UNDER_TEST)("reduce_f32_backward (%s)", (build) => {
  it("agrees with finite differences for every kind and layout", async () => {
    const e = await engineFor(build);
    expect(reduceBackwardWorkspaceFloats(300)).toBe(e.kernels.reduce_f32_backward_workspace(300));
    for (const kind of KINDS) {
      for (const [shape, perm, reduced] of [
        [[3, 5], [0, 1], [1]],
        [[3, 5], [0, 1], [0]],
        [
          [2, 3, 4],
          [2, 0, 1],
          [0, 2],
        ],
        [[2, 3, 4, 2], [0, 2, 3, 1], [1]],
        [[2, 3], [0, 1], []],
      ] as [number[], number[], number[]][]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const loop = reduceLoop(shape, perm, reduced);
        const outSize = perm.filter((a) => !reduced.includes(a)).reduce((a, q) => a * shape[q]!, 1);
        const x = e.tensor([n], valuesFor(kind, n, n + 5)),
          y = e.empty([outSize], "f32"),
          w = uniform(outSize, 9),
          wt = e.tensor([outSize], w);
        const ws = e.empty([reduceWorkspaceFloats(loop.V)], "f32"),
          bws = e.empty([reduceBackwardWorkspaceFloats(loop.V)], "f32");
        const desc = e.empty([2 * ND_DESC_WORDS], "i32"),
          dx = e.zeros([n]);
        const loss = () => {
          writeNd(e.heap.i32, desc.ptr, { dims: loop.kept.dims, strides: [loop.kept.strides] }, "test");
          writeNd(e.heap.i32, desc.ptr + 4 * ND_DESC_WORDS, { dims: loop.red.dims, strides: [loop.red.strides] }, "test");
          e.kernels.reduce_f32_forward(y.ptr, x.ptr, ws.ptr, desc.ptr, desc.ptr + 4 * ND_DESC_WORDS, loop.V, loop.L, REDUCE_KIND[kind]);
          return dot(y.data, w);
        };
        loss();
        reduceBackward(e, kind, shape, perm, reduced, { dx: dx.ptr, dy: wt.ptr, x: x.ptr, y: y.ptr, ws: bws.ptr, desc: desc.ptr });
        expectGradientMatches(x, Float32Array.from(dx.data), loss, { eps: 1e-3, label: `${kind} ${JSON.stringify([shape, perm, reduced])}` });
        for (const t of [x, y, wt, ws, bws, desc, dx]) t.dispose();
      }
    }
  });

  it("shares a max among ties and gives a product's gradient exactly at zeros", async () => {
    const e = await engineFor(build);
    const run = (kind: ReduceType, xs: number[]) => {
      const x = e.tensor([xs.length], Float32Array.from(xs)),
        y = e.empty([1], "f32"),
        dy = e.tensor([1], [2]),
        dx = e.zeros([xs.length]);
      const ws = e.empty([reduceWorkspaceFloats(1)], "f32"),
        bws = e.empty([2], "f32"),
        desc = e.empty([2 * ND_DESC_WORDS], "i32");
      const loop = reduceLoop([xs.length], [0], [0]);
      writeNd(e.heap.i32, desc.ptr, { dims: loop.kept.dims, strides: [loop.kept.strides] }, "test");
      writeNd(e.heap.i32, desc.ptr + 4 * ND_DESC_WORDS, { dims: loop.red.dims, strides: [loop.red.strides] }, "test");
      e.kernels.reduce_f32_forward(y.ptr, x.ptr, ws.ptr, desc.ptr, desc.ptr + 4 * ND_DESC_WORDS, loop.V, loop.L, REDUCE_KIND[kind]);
      reduceBackward(e, kind, [xs.length], [0], [0], { dx: dx.ptr, dy: dy.ptr, x: x.ptr, y: y.ptr, ws: bws.ptr, desc: desc.ptr });
      const out = Array.from(dx.data);
      for (const t of [x, y, dy, dx, ws, bws, desc]) t.dispose();
      return out;
    };
    expect(run("ReduceMax", [1, 3, 2, 3])).toEqual([0, 1, 0, 1]);
    expect(run("ReduceMin", [1, 3, 1, 3])).toEqual([1, 0, 1, 0]);
    expect(run("ReduceProd", [2, 0, 3, 4])).toEqual([0, 48, 0, 0]);
    expect(run("ReduceProd", [2, 0, 3, 0])).toEqual([0, 0, 0, 0]);
    expect(run("ReduceProd", [2, 5, 3])).toEqual([30, 12, 20]);
  });
});

// ---------------------------------------------------------------------------------------------
// along one axis: [O, R, V]

/** x [O, R, V] -> the values along R of (o, j). */
const along = (x: ArrayLike<number>, o: number, j: number, R: number, V: number) => Array.from({ length: R }, (_, r) => x[(o * R + r) * V + j]!);

/** O, R, V around tiles: V = 1 is the row kernels; V > 256 takes two tiles. */
const AXIS_SHAPES: [number, number, number][] = [
  ...TILE_EDGE_SIZES.map((s): [number, number, number] => [2, s, 1]),
  ...TILE_EDGE_SIZES.map((s): [number, number, number] => [2, 3, s]),
  ...TILE_EDGE_SIZES.map((s): [number, number, number] => [1, s, 5]),
  [2, 4, 300],
  [1, 1, 7],
];

describe.each(BUILDS_UNDER_TEST)("arg-max, hardmax and softmax along an axis (%s)", (build) => {
  it("argmax_f32_forward picks the first or last best, largest or smallest", async () => {
    const e = await engineFor(build);
    for (const [O, R, V] of AXIS_SHAPES) {
      // few distinct values, so ties are common
      const x = Float32Array.from(uniform(O * R * V, R * 31 + V), (v) => Math.round(v * 3));
      const xt = e.tensor([x.length], x),
        yt = e.empty([O * V], "i32"),
        ws = e.empty([Math.max(1, axisWorkspaceFloats(V))], "f32");
      for (let flags = 0; flags < 4; flags++) {
        e.kernels.argmax_f32_forward(yt.ptr, xt.ptr, ws.ptr, O, R, V, flags);
        const want: number[] = [];
        for (let o = 0; o < O; o++)
          for (let j = 0; j < V; j++) {
            const v = along(x, o, j, R, V);
            const best = flags & 1 ? Math.min(...v) : Math.max(...v);
            want.push(flags & 2 ? v.lastIndexOf(best) : v.indexOf(best));
          }
        expect(Array.from(yt.ints), `[${O}, ${R}, ${V}] flags ${flags}`).toEqual(want);
        // the i32 kernel on the same (integer) values
        const xi = e.ints([x.length], Int32Array.from(x));
        e.kernels.argmax_i32_forward(yt.ptr, xi.ptr, O, R, V, flags);
        expect(Array.from(yt.ints)).toEqual(want);
        xi.dispose();
      }
      for (const t of [xt, yt, ws]) t.dispose();
    }
  });

  it("hardmax_f32_forward is one-hot at the first largest", async () => {
    const e = await engineFor(build);
    for (const [O, R, V] of AXIS_SHAPES) {
      const x = Float32Array.from(uniform(O * R * V, R + 17 * V), (v) => Math.round(v * 3));
      const xt = e.tensor([x.length], x),
        yt = e.tensor([x.length], new Float32Array(x.length).fill(7)),
        ws = e.empty([Math.max(1, axisWorkspaceFloats(V))], "f32");
      e.kernels.hardmax_f32_forward(yt.ptr, xt.ptr, ws.ptr, O, R, V);
      const want = new Float32Array(x.length);
      for (let o = 0; o < O; o++)
        for (let j = 0; j < V; j++) {
          const v = along(x, o, j, R, V);
          want[(o * R + v.indexOf(Math.max(...v))) * V + j] = 1;
        }
      expect(Array.from(yt.data), `[${O}, ${R}, ${V}]`).toEqual(Array.from(want));
      for (const t of [xt, yt, ws]) t.dispose();
    }
  });

  it("softmax_axis_f32_forward / _backward match float64 (softmax and log-softmax)", async () => {
    const e = await engineFor(build);
    for (const [O, R, V] of AXIS_SHAPES) {
      const n = O * R * V;
      const x = uniform(n, n + 3, -6, 6),
        dy = uniform(n, n + 4);
      const xt = e.tensor([n], x),
        yt = e.empty([n], "f32"),
        ws = e.empty([Math.max(1, axisWorkspaceFloats(V))], "f32");
      const dyt = e.tensor([n], dy),
        dxt = e.empty([n], "f32");
      for (const log of [0, 1]) {
        e.kernels.softmax_axis_f32_forward(yt.ptr, xt.ptr, ws.ptr, O, R, V, log);
        const want = new Float64Array(n),
          dwant = new Float64Array(n);
        for (let o = 0; o < O; o++)
          for (let j = 0; j < V; j++) {
            const v = along(x, o, j, R, V),
              g = along(dy, o, j, R, V);
            const m = Math.max(...v),
              s = v.reduce((a, b) => a + Math.exp(b - m), 0);
            const p = v.map((b) => Math.exp(b - m) / s);
            const sdy = g.reduce((a, b) => a + b, 0),
              sdyp = g.reduce((a, b, r) => a + b * p[r]!, 0);
            for (let r = 0; r < R; r++) {
              const i = (o * R + r) * V + j;
              want[i] = log ? v[r]! - m - Math.log(s) : p[r]!;
              dwant[i] = 0.25 + (log ? g[r]! - p[r]! * sdy : p[r]! * (g[r]! - sdyp));
            }
          }
        expectClose(yt.data, want, { rtol: 2e-6, atol: 2e-6, label: `${log ? "log-" : ""}softmax [${O}, ${R}, ${V}]` });
        dxt.data.fill(0.25); // backward accumulates
        e.kernels.softmax_axis_f32_backward(dxt.ptr, dyt.ptr, yt.ptr, ws.ptr, O, R, V, log);
        expectClose(dxt.data, dwant, { rtol: 2e-5, atol: 2e-6, label: `${log ? "log-" : ""}softmax backward [${O}, ${R}, ${V}]` });
      }
      for (const t of [xt, yt, ws, dyt, dxt]) t.dispose();
    }
  });

  it("softmax_axis_f32_backward agrees with finite differences", async () => {
    const e = await engineFor(build);
    for (const [O, R, V] of [
      [2, 5, 6],
      [3, 7, 1],
    ] as [number, number, number][]) {
      const n = O * R * V;
      const x = e.tensor([n], uniform(n, 5, -2, 2)),
        y = e.empty([n], "f32"),
        ws = e.empty([Math.max(1, axisWorkspaceFloats(V))], "f32");
      const w = uniform(n, 6),
        wt = e.tensor([n], w),
        dx = e.zeros([n]);
      for (const log of [0, 1]) {
        const loss = () => {
          e.kernels.softmax_axis_f32_forward(y.ptr, x.ptr, ws.ptr, O, R, V, log);
          return dot(y.data, w);
        };
        loss();
        dx.data.fill(0);
        e.kernels.softmax_axis_f32_backward(dx.ptr, wt.ptr, y.ptr, ws.ptr, O, R, V, log);
        expectGradientMatches(x, Float32Array.from(dx.data), loss, { label: `${log ? "log-" : ""}softmax [${O}, ${R}, ${V}]` });
      }
      for (const t of [x, y, ws, wt, dx]) t.dispose();
    }
  });
});
