// Normalisation kernels (assembly/norm.ts) against plain float64 references at SIMD tile edges in
// every build; their backward passes against the reference formulas and finite differences;
// the float32 error of long statistics.
import { describe, expect, it } from "vitest";
import { instanceNormWorkspaceFloats } from "../src/graph/ops/norm.js";
import type { Engine } from "../src/index.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, TILE_EDGE_SIZES, uniform } from "./harness.js";

type Arr = ArrayLike<number>;

/** Mean and biased variance of x[off .. off + n) (step 1) in float64. */
function moments(x: Arr, idx: number[]): [number, number] {
  const m = idx.reduce((a, i) => a + x[i]!, 0) / idx.length;
  return [m, idx.reduce((a, i) => a + (x[i]! - m) ** 2, 0) / idx.length];
}

/** LayerNorm / MVN of rows [rows, cols] in float64. */
function layerNormRef(x: Arr, scale: Arr | null, bias: Arr | null, rows: number, cols: number, eps: number, mvn: boolean) {
  const y = new Float64Array(rows * cols),
    mean = new Float64Array(rows),
    inv = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const idx = Array.from({ length: cols }, (_, c) => r * cols + c);
    const [m, v] = moments(x, idx);
    const a = mvn ? 1 / (Math.sqrt(v) + eps) : 1 / Math.sqrt(v + eps);
    mean[r] = m;
    inv[r] = a;
    for (let c = 0; c < cols; c++) y[r * cols + c] = (x[r * cols + c]! - m) * a * (scale ? scale[c]! : 1) + (bias ? bias[c]! : 0);
  }
  return { y, mean, inv };
}

const f32 = (e: Engine, a: Arr) => e.tensor([Math.max(1, a.length)], a.length ? Float32Array.from(a) : new Float32Array(1));

describe.each(BUILDS_UNDER_TEST)("normalisation kernels (%s)", (build) => {
  it.each(TILE_EDGE_SIZES.concat([130, 300]))("layernorm_f32_forward / _backward, %i columns", async (cols) => {
    const e = await engineFor(build);
    const rows = 3,
      n = rows * cols;
    const xv = uniform(n, cols, -2, 3),
      sv = uniform(cols, cols + 1, 0.5, 1.5),
      bv = uniform(cols, cols + 2),
      dyv = uniform(n, cols + 3);
    const x = f32(e, xv),
      s = f32(e, sv),
      b = f32(e, bv),
      y = e.empty([n], "f32"),
      mean = e.empty([rows], "f32"),
      inv = e.empty([rows], "f32");
    for (const [withScale, withBias, mvn] of [
      [true, true, 0],
      [true, false, 0],
      [false, false, 0],
      [false, false, 1],
    ] as const) {
      const eps = mvn ? 1e-9 : 1e-5;
      e.kernels.layernorm_f32_forward(y.ptr, mean.ptr, inv.ptr, x.ptr, withScale ? s.ptr : 0, withBias ? b.ptr : 0, rows, cols, eps, mvn);
      const ref = layerNormRef(xv, withScale ? sv : null, withBias ? bv : null, rows, cols, eps, mvn === 1);
      const label = `cols ${cols} scale ${withScale} bias ${withBias} mvn ${mvn}`;
      expectClose(y.data, ref.y, { rtol: 1e-5, atol: 1e-5, label });
      expectClose(mean.data, ref.mean, { rtol: 1e-6, atol: 1e-6, label: `${label} mean` });
      expectClose(inv.data, ref.inv, { rtol: 1e-5, atol: 1e-5, label: `${label} invStd` });
    }
    // backward against the formula (float64, from the float64 statistics), accumulating onto 0.5
    e.kernels.layernorm_f32_forward(y.ptr, mean.ptr, inv.ptr, x.ptr, s.ptr, b.ptr, rows, cols, 1e-5, 0);
    const dy = f32(e, dyv),
      dx = e.tensor([n], new Float32Array(n).fill(0.5)),
      ds = e.tensor([cols], new Float32Array(cols).fill(0.5)),
      db = e.tensor([cols], new Float32Array(cols).fill(0.5));
    e.kernels.layernorm_f32_backward(dx.ptr, ds.ptr, db.ptr, dy.ptr, x.ptr, s.ptr, mean.ptr, inv.ptr, rows, cols);
    const ref = layerNormRef(xv, sv, bv, rows, cols, 1e-5, false);
    const dxRef = new Float64Array(n).fill(0.5),
      dsRef = new Float64Array(cols).fill(0.5),
      dbRef = new Float64Array(cols).fill(0.5);
    for (let r = 0; r < rows; r++) {
      let sg = 0,
        sgx = 0;
      const xh = (c: number) => (xv[r * cols + c]! - ref.mean[r]!) * ref.inv[r]!;
      for (let c = 0; c < cols; c++) {
        const g = dyv[r * cols + c]! * sv[c]!;
        sg += g;
        sgx += g * xh(c);
        dsRef[c]! += dyv[r * cols + c]! * xh(c);
        dbRef[c]! += dyv[r * cols + c]!;
      }
      for (let c = 0; c < cols; c++) dxRef[r * cols + c]! += ref.inv[r]! * (dyv[r * cols + c]! * sv[c]! - sg / cols - xh(c) * (sgx / cols));
    }
    expectClose(dx.data, dxRef, { rtol: 1e-4, atol: 1e-4, label: `cols ${cols} dx` });
    expectClose(ds.data, dsRef, { rtol: 1e-5, atol: 1e-5, label: `cols ${cols} dscale` });
    expectClose(db.data, dbRef, { rtol: 1e-6, atol: 1e-6, label: `cols ${cols} dbias` });
    for (const t of [x, s, b, y, mean, inv, dy, dx, ds, db]) t.dispose();
  });

  it("layernorm and groupnorm backward agree with finite differences", async () => {
    const e = await engineFor(build);
    const rows = 3,
      cols = 10,
      n = rows * cols;
    const x = f32(e, uniform(n, 1, -2, 2)),
      s = f32(e, uniform(cols, 2, 0.5, 1.5)),
      b = f32(e, uniform(cols, 3));
    const y = e.empty([n], "f32"),
      mean = e.empty([rows], "f32"),
      inv = e.empty([rows], "f32"),
      w = uniform(n, 4),
      wt = f32(e, w);
    const loss = () => (e.kernels.layernorm_f32_forward(y.ptr, mean.ptr, inv.ptr, x.ptr, s.ptr, b.ptr, rows, cols, 1e-5, 0), dot(y.data, w));
    loss();
    const dx = e.zeros([n]),
      ds = e.zeros([cols]),
      db = e.zeros([cols]);
    e.kernels.layernorm_f32_backward(dx.ptr, ds.ptr, db.ptr, wt.ptr, x.ptr, s.ptr, mean.ptr, inv.ptr, rows, cols);
    expectGradientMatches(x, Float32Array.from(dx.data), loss, { label: "layernorm dx" });
    expectGradientMatches(s, Float32Array.from(ds.data), loss, { label: "layernorm dscale" });
    expectGradientMatches(b, Float32Array.from(db.data), loss, { label: "layernorm dbias" });
    // groupnorm: N 2, G 2, Cg 3, S 5
    const [N, G, Cg, S] = [2, 2, 3, 5],
      gn = N * G * Cg * S,
      C = G * Cg;
    const gx = f32(e, uniform(gn, 5, -2, 2)),
      gs = f32(e, uniform(C, 6, 0.5, 1.5)),
      gb = f32(e, uniform(C, 7));
    const gy = e.empty([gn], "f32"),
      gm = e.empty([N * G], "f32"),
      gi = e.empty([N * G], "f32"),
      gw = uniform(gn, 8),
      gwt = f32(e, gw);
    const gloss = () => (e.kernels.groupnorm_f32_forward(gy.ptr, gm.ptr, gi.ptr, gx.ptr, gs.ptr, gb.ptr, N, G, Cg, S, 1e-5), dot(gy.data, gw));
    gloss();
    const gdx = e.zeros([gn]),
      gds = e.zeros([C]),
      gdb = e.zeros([C]);
    e.kernels.groupnorm_f32_backward(gdx.ptr, gds.ptr, gdb.ptr, gwt.ptr, gx.ptr, gs.ptr, gm.ptr, gi.ptr, N, G, Cg, S);
    expectGradientMatches(gx, Float32Array.from(gdx.data), gloss, { label: "groupnorm dx" });
    expectGradientMatches(gs, Float32Array.from(gds.data), gloss, { label: "groupnorm dscale" });
    expectGradientMatches(gb, Float32Array.from(gdb.data), gloss, { label: "groupnorm dbias" });
    for (const t of [x, s, b, y, mean, inv, wt, dx, ds, db, gx, gs, gb, gy, gm, gi, gwt, gdx, gds, gdb]) t.dispose();
  });

  it.each(TILE_EDGE_SIZES.concat([300]))("groupnorm (ONNX order), instance norm (channels-last) and ONNX-order batch norm, %i", async (s) => {
    const e = await engineFor(build);
    // groupnorm: N 2, G 3, Cg 2, S = s
    {
      const [N, G, Cg, S] = [2, 3, 2, s],
        C = G * Cg,
        n = N * C * S;
      const xv = uniform(n, s, -1, 2),
        sv = uniform(C, s + 1),
        bv = uniform(C, s + 2);
      const x = f32(e, xv),
        sc = f32(e, sv),
        b = f32(e, bv),
        y = e.empty([n], "f32"),
        m = e.empty([N * G], "f32"),
        iv = e.empty([N * G], "f32");
      e.kernels.groupnorm_f32_forward(y.ptr, m.ptr, iv.ptr, x.ptr, sc.ptr, b.ptr, N, G, Cg, S, 1e-5);
      const want = new Float64Array(n);
      for (let t = 0; t < N * G; t++) {
        const idx = Array.from({ length: Cg * S }, (_, i) => t * Cg * S + i);
        const [mm, v] = moments(xv, idx);
        for (const i of idx) {
          const c = (t % G) * Cg + Math.floor((i - t * Cg * S) / S);
          want[i] = ((xv[i]! - mm) / Math.sqrt(v + 1e-5)) * sv[c]! + bv[c]!;
        }
      }
      expectClose(y.data, want, { rtol: 1e-5, atol: 1e-5, label: `groupnorm S ${S}` });
      for (const t of [x, sc, b, y, m, iv]) t.dispose();
    }
    // instance norm channels-last: N 2, S 5, C = s
    {
      const [N, S, C] = [2, 5, s],
        n = N * S * C;
      const xv = uniform(n, s + 3, -1, 2),
        sv = uniform(C, s + 4),
        bv = uniform(C, s + 5);
      const x = f32(e, xv),
        sc = f32(e, sv),
        b = f32(e, bv),
        y = e.empty([n], "f32"),
        m = e.empty([N * C], "f32"),
        iv = e.empty([N * C], "f32");
      expect(instanceNormWorkspaceFloats(C)).toBe(e.kernels.instancenorm_nhwc_f32_workspace(C));
      const ws = e.empty([instanceNormWorkspaceFloats(C)], "f32");
      e.kernels.instancenorm_nhwc_f32_forward(y.ptr, m.ptr, iv.ptr, x.ptr, sc.ptr, b.ptr, ws.ptr, N, S, C, 1e-5);
      const want = new Float64Array(n),
        mw = new Float64Array(N * C),
        iw = new Float64Array(N * C);
      for (let i = 0; i < N; i++)
        for (let c = 0; c < C; c++) {
          const idx = Array.from({ length: S }, (_, p) => (i * S + p) * C + c);
          const [mm, v] = moments(xv, idx);
          mw[i * C + c] = mm;
          iw[i * C + c] = 1 / Math.sqrt(v + 1e-5);
          for (const j of idx) want[j] = (xv[j]! - mm) * iw[i * C + c]! * sv[c]! + bv[c]!;
        }
      expectClose(y.data, want, { rtol: 1e-5, atol: 1e-5, label: `instance norm NHWC C ${C}` });
      expectClose(m.data, mw, { rtol: 1e-6, atol: 1e-6, label: "mean" });
      expectClose(iv.data, iw, { rtol: 1e-5, atol: 1e-5, label: "invStd" });
      for (const t of [x, sc, b, y, m, iv, ws]) t.dispose();
    }
    // batch norm inference, ONNX order [N 2, C 3, S = s]
    {
      const [N, C, S] = [2, 3, s],
        n = N * C * S;
      const xv = uniform(n, s + 6),
        sv = uniform(C, 1),
        bv = uniform(C, 2),
        mv = uniform(C, 3),
        vv = uniform(C, 4, 0.5, 2);
      const x = f32(e, xv),
        y = e.empty([n], "f32"),
        [sc, b, mt, vt] = [sv, bv, mv, vv].map((a) => f32(e, a)) as [
          ReturnType<typeof f32>,
          ReturnType<typeof f32>,
          ReturnType<typeof f32>,
          ReturnType<typeof f32>,
        ];
      e.kernels.batchnorm_ncs_f32_inference(y.ptr, x.ptr, sc.ptr, b.ptr, mt.ptr, vt.ptr, 1e-5, N, C, S);
      const want = Array.from(xv, (v, i) => {
        const c = Math.floor(i / S) % C;
        return ((v - mv[c]!) * sv[c]!) / Math.sqrt(vv[c]! + 1e-5) + bv[c]!;
      });
      expectClose(y.data, want, { rtol: 1e-5, atol: 1e-5, label: `batch norm NCS S ${S}` });
      for (const t of [x, y, sc, b, mt, vt]) t.dispose();
    }
  });

  it("keeps long statistics accurate: 2^20 values per row / per channel", async () => {
    const e = await engineFor(build);
    const n = 1 << 20;
    // an offset mean: naive one-pass float32 sums would lose the variance
    const xv = uniform(n, 3, 99, 101);
    const x = f32(e, xv),
      y = e.empty([n], "f32"),
      m = e.empty([4], "f32"),
      iv = e.empty([4], "f32");
    e.kernels.layernorm_f32_forward(y.ptr, m.ptr, iv.ptr, x.ptr, 0, 0, 1, n, 0, 0);
    const [mm, v] = moments(
      xv,
      Array.from({ length: n }, (_, i) => i),
    );
    expect(Math.abs(m.data[0]! - mm) / mm).toBeLessThan(2e-6);
    expect(Math.abs(iv.data[0]! - 1 / Math.sqrt(v)) * Math.sqrt(v)).toBeLessThan(2e-6);
    // channels-last: S = 2^18 rows of 4 channels
    const ws = e.empty([instanceNormWorkspaceFloats(4)], "f32"),
      ones = f32(e, [1, 1, 1, 1]),
      zeros = f32(e, [0, 0, 0, 0]);
    e.kernels.instancenorm_nhwc_f32_forward(y.ptr, m.ptr, iv.ptr, x.ptr, ones.ptr, zeros.ptr, ws.ptr, 1, n / 4, 4, 0);
    for (let c = 0; c < 4; c++) {
      const [cm, cv] = moments(
        xv,
        Array.from({ length: n / 4 }, (_, i) => i * 4 + c),
      );
      expect(Math.abs(m.data[c]! - cm) / cm).toBeLessThan(2e-6);
      expect(Math.abs(iv.data[c]! - 1 / Math.sqrt(cv)) * Math.sqrt(cv)).toBeLessThan(2e-6);
    }
    for (const t of [x, y, m, iv, ws, ones, zeros]) t.dispose();
  });

  it.each(TILE_EDGE_SIZES)("mvn_f32_backward: float64 reference and finite differences, %i columns", async (cols) => {
    const e = await engineFor(build);
    const rows = 3,
      n = rows * cols,
      eps = 1e-9;
    const xv = uniform(n, cols + 40, -2, 2);
    xv.fill(0.5, 0, cols); // row 0 constant: s = 0, only the centring term
    const w = uniform(n, cols + 41),
      d0 = uniform(n, cols + 42);
    const want = Float64Array.from(d0);
    for (let r = 0; r < rows; r++) {
      const idx = Array.from({ length: cols }, (_, k) => r * cols + k);
      const [m, v] = moments(xv, idx);
      const sd = Math.sqrt(v),
        d = sd + eps;
      const mg = idx.reduce((a, i) => a + w[i]!, 0) / cols,
        mgc = idx.reduce((a, i) => a + w[i]! * (xv[i]! - m), 0) / cols;
      for (const i of idx) want[i]! += (w[i]! - mg) / d - (sd === 0 ? 0 : ((xv[i]! - m) * mgc) / (sd * d * d));
    }
    const x = f32(e, xv),
      wt = f32(e, w),
      dx = f32(e, d0),
      y = e.empty([n], "f32");
    e.kernels.mvn_f32_backward(dx.ptr, wt.ptr, x.ptr, rows, cols, eps);
    expectClose(dx.data, want, { rtol: 1e-4, atol: 1e-4, label: `mvn backward ${rows}x${cols}` });
    if (cols > 2) {
      // finite differences of the forward (rows 1 and 2 only vary; row 0 sits at s = 0)
      const loss = () => (e.kernels.layernorm_f32_forward(y.ptr, 0, 0, x.ptr, 0, 0, rows, cols, eps, 1), dot(y.data, w));
      dx.data.fill(0);
      x.data.set(uniform(n, cols + 43, -2, 2));
      e.kernels.mvn_f32_backward(dx.ptr, wt.ptr, x.ptr, rows, cols, eps);
      expectGradientMatches(x, Float32Array.from(dx.data), loss, { eps: 1e-3, label: `mvn ${rows}x${cols}` });
    }
    for (const t of [x, wt, dx, y]) t.dispose();
  });

  it("lpnorm_f32_forward / _backward along an axis (p 1 and 2)", async () => {
    const e = await engineFor(build);
    for (const [O, R, V] of [
      [2, 7, 1],
      [2, 33, 1],
      [3, 4, 5],
      [1, 5, 17],
    ] as [number, number, number][]) {
      const n = O * R * V;
      const xv = uniform(n, n, -2, 2);
      xv.fill(0, 0, R * V); // the first slice: a zero norm along R when V = 1
      const x = f32(e, xv),
        y = e.empty([n], "f32"),
        w = uniform(n, n + 1),
        wt = f32(e, w),
        dx = e.zeros([n]);
      for (const p of [1, 2]) {
        e.kernels.lpnorm_f32_forward(y.ptr, x.ptr, O, R, V, p);
        const want = new Float64Array(n);
        for (let o = 0; o < O; o++)
          for (let j = 0; j < V; j++) {
            const idx = Array.from({ length: R }, (_, r) => (o * R + r) * V + j);
            const nrm = p === 1 ? idx.reduce((a, i) => a + Math.abs(xv[i]!), 0) : Math.sqrt(idx.reduce((a, i) => a + xv[i]! ** 2, 0));
            for (const i of idx) want[i] = nrm === 0 ? 0 : xv[i]! / nrm;
          }
        expectClose(y.data, want, { rtol: 1e-5, atol: 1e-6, label: `lpnorm p ${p} [${O}, ${R}, ${V}]` });
        // finite differences away from a zero norm and from |x|'s kink (p = 1): x without the zero slice
        x.data.set(uniform(n, n + 2, 0.1, 1).map((v, i) => (i % 2 ? v : -v)));
        const loss = () => (e.kernels.lpnorm_f32_forward(y.ptr, x.ptr, O, R, V, p), dot(y.data, w));
        loss();
        dx.data.fill(0);
        e.kernels.lpnorm_f32_backward(dx.ptr, wt.ptr, x.ptr, y.ptr, O, R, V, p);
        expectGradientMatches(x, Float32Array.from(dx.data), loss, { eps: 1e-3, label: `lpnorm p ${p} [${O}, ${R}, ${V}]` });
        x.data.set(xv);
      }
      for (const t of [x, y, wt, dx]) t.dispose();
    }
  });
});
