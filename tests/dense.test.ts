import { describe, expect, it } from "vitest";
import { dense, denseBackward, gemm, gemmBackward, matmul, matmulBackward, packDenseWeights, SimdnetError, type Tensor } from "../src/index.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, uniform } from "./harness.js";
import { denseRef, gemmRef, matmulRef } from "./reference/dense.js";

// (m, n, k) covering the register tiles of assembly/gemm.ts: every size of SIZES appears as m, as n
// and as k (rows % 4 and % 3, columns % 8, % 4 and % 12, k % 4 all take every residue), plus the
// special paths: m == 1 and n == 1 (gemv / dot products), k > 256 (k blocking; > 1024 for A . B^T's
// dot products), n > 512 (column blocks of B), and in the relaxed build the 3 x 12 tiles' split of
// the columns (40 -> 24 + 16, 64 -> 48 + 16) and of the rows (12 at a time: 13, 25, 27).
const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 24, 28, 33, 36];
const TRIPLES: [number, number, number][] = [
  ...SIZES.map((s, i): [number, number, number] => [s, SIZES[(i + 5) % SIZES.length]!, SIZES[(i + 7) % SIZES.length]!]),
  [1, 1, 1],
  [1, 37, 300],
  [2, 1, 17],
  [6, 24, 3],
  [16, 16, 16],
  [33, 33, 33],
  [9, 17, 520],
  [1, 9, 5],
  [6, 1037, 300],
  [13, 64, 17],
  [14, 40, 5],
  [25, 28, 300],
  [27, 1037, 9],
  [7, 11, 1100],
  // R's rows a multiple of 2 KB apart with 24+ rows: panel packs its strips (assembly/gemm.ts,
  // packStrips); with both transposed, C^T = B . A has A (k x 512) as R
  [25, 512, 300],
  [100, 1024, 17],
  [512, 30, 40],
];
const TRANSPOSES: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

/** float32 accumulation over k terms of magnitude <= 1. */
const tol = (k: number) => ({ rtol: 1e-5, atol: 1e-6 * (k + 4) });

describe.each(BUILDS_UNDER_TEST)("dense / matmul / gemm, %s build", (build) => {
  it.each(TRIPLES)("gemm_f32 matches the reference, m=%i n=%i k=%i, every transpose, accumulate on and off", async (m, n, k) => {
    const e = await engineFor(build);
    e.tidy(() => {
      for (const [ta, tb] of TRANSPOSES) {
        for (const accumulate of [false, true]) {
          const seed = m * 1000 + n * 10 + k;
          const av = uniform(m * k, seed),
            bv = uniform(k * n, seed + 1),
            cv = uniform(m * n, seed + 2);
          const a = e.tensor(ta ? [k, m] : [m, k], av);
          const b = e.tensor(tb ? [n, k] : [k, n], bv);
          const c = e.tensor([m, n], cv);
          e.kernels.gemm_f32(c.ptr, a.ptr, b.ptr, m, n, k, ta ? 1 : 0, tb ? 1 : 0, accumulate ? 1 : 0);
          const expected = matmulRef(av, bv, m, n, k, ta, tb);
          if (accumulate) expected.forEach((v, i) => (expected[i] = v + cv[i]!));
          expectClose(c.data, expected, { ...tol(k), label: `transA=${ta} transB=${tb} accumulate=${accumulate}` });
        }
      }
    });
  });

  it.each(TRIPLES.filter((_, i) => i % 2 === 0))(
    "gemm_f32_strided (operands inside wider rows, a column range) matches the reference and leaves the rest, m=%i n=%i k=%i",
    async (m, n, k) => {
      const e = await engineFor(build);
      e.tidy(() => {
        for (const [ta, tb] of TRANSPOSES.filter(([x, y]) => !(x && y))) {
          for (const accumulate of [false, true]) {
            const seed = m * 1000 + n * 10 + k + 7;
            // row strides wider than the rows: 3, 5 and 2 floats of padding that must stay as they are
            const [ar, ac] = ta ? [k, m] : [m, k],
              [br, bc] = tb ? [n, k] : [k, n];
            const lda = ac + 3,
              ldb = bc + 5,
              ldc = n + 2;
            const av = uniform(ar * lda, seed),
              bv = uniform(br * ldb, seed + 1),
              cv = uniform(m * ldc, seed + 2);
            const a = e.tensor([ar * lda], av),
              b = e.tensor([br * ldb], bv),
              c = e.tensor([m * ldc], cv);
            const dense = (v: Float32Array, rows: number, cols: number, ld: number) =>
              Float32Array.from({ length: rows * cols }, (_, i) => v[Math.floor(i / cols) * ld + (i % cols)]!);
            const product = matmulRef(dense(av, ar, ac, lda), dense(bv, br, bc, ldb), m, n, k, ta, tb);
            const j0 = n > 8 ? 8 : 0,
              j1 = n; // a range starting at a multiple of 8, as threads split
            e.kernels.gemm_f32_strided(c.ptr, ldc, a.ptr, lda, b.ptr, ldb, m, n, k, ta ? 1 : 0, tb ? 1 : 0, accumulate ? 1 : 0, j0, j1);
            const expected = Float32Array.from(cv);
            for (let i = 0; i < m; i++) {
              for (let j = j0; j < j1; j++) expected[i * ldc + j] = product[i * n + j]! + (accumulate ? cv[i * ldc + j]! : 0);
            }
            expectClose(c.data, expected, { ...tol(k), label: `transA=${ta} transB=${tb} accumulate=${accumulate}` });
          }
        }
      });
    },
  );

  it("gemm_f32_strided packs the strips of B rows 2 KB apart: any width, rows and k match the reference", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const ldb = 512;
      for (const [m, n, k] of [
        [24, 13, 5],
        [25, 20, 300],
        [26, 37, 257],
        [100, 8, 64],
        [51, 512, 33],
      ] as const) {
        const seed = m * 7 + n * 3 + k;
        const av = uniform(m * k, seed),
          bv = uniform(k * ldb, seed + 1),
          cv = uniform(m * n, seed + 2);
        const a = e.tensor([m, k], av),
          b = e.tensor([k, ldb], bv),
          c = e.tensor([m, n], cv);
        const bDense = Float32Array.from({ length: k * n }, (_, i) => bv[Math.floor(i / n) * ldb + (i % n)]!);
        for (const accumulate of [false, true]) {
          c.set(cv);
          e.kernels.gemm_f32_strided(c.ptr, n, a.ptr, k, b.ptr, ldb, m, n, k, 0, 0, accumulate ? 1 : 0, 0, n);
          const expected = matmulRef(av, bDense, m, n, k, false, false);
          if (accumulate) expected.forEach((v, i) => (expected[i] = v + cv[i]!));
          expectClose(c.data, expected, { ...tol(k), label: `m=${m} n=${n} k=${k} accumulate=${accumulate}` });
        }
      }
    });
  });

  it("gemm_f32 with k = 0 zeroes C, or leaves it when accumulating", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const a = e.zeros([3, 0]),
        b = e.zeros([0, 5]);
      const c = e.tensor([3, 5], uniform(15, 1));
      const before = c.toArray();
      e.kernels.gemm_f32(c.ptr, a.ptr, b.ptr, 3, 5, 0, 0, 0, 1);
      expectClose(c.data, before, { atol: 0, rtol: 0 });
      e.kernels.gemm_f32(c.ptr, a.ptr, b.ptr, 3, 5, 0, 0, 0, 0);
      expectClose(c.data, new Float32Array(15), { atol: 0, rtol: 0 });
    });
  });

  it.each([
    [1, 1, 1],
    [3, 7, 5],
    [4, 9, 16],
    [5, 17, 33],
    // A . B^T with m >= 256 and k <= 512 runs on a transposed copy of B (4x4 blocks and their edges)
    [257, 13, 37],
    [256, 8, 4],
    [300, 9, 600],
  ])("matmul matches the reference for every transpose, m=%i n=%i k=%i", async (m, n, k) => {
    const e = await engineFor(build);
    e.tidy(() => {
      for (const [transA, transB] of TRANSPOSES) {
        const av = uniform(m * k, 11),
          bv = uniform(k * n, 12);
        const a = e.tensor(transA ? [k, m] : [m, k], av),
          b = e.tensor(transB ? [n, k] : [k, n], bv);
        const y = matmul(a, b, { transA, transB });
        expect(y.shape).toEqual([m, n]);
        expectClose(y.data, matmulRef(av, bv, m, n, k, transA, transB), tol(k));
        const out = e.tensor([m, n], uniform(m * n, 13)); // overwritten, not accumulated into
        expect(matmul(a, b, { transA, transB }, out)).toBe(out);
        expectClose(out.data, matmulRef(av, bv, m, n, k, transA, transB), tol(k));
      }
    });
  });

  it.each([
    [1, [7], 5, true],
    [3, [2, 2, 3], 9, true], // NHWC feature map [B, H, W, C] flattened to 12 features
    [5, [17], 8, false],
    [2, [33], 1, true],
  ] as [number, number[], number, boolean][])("dense forward matches the reference, B=%i features=%j out=%i bias=%s", async (rows, feat, outF, withBias) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const inF = feat.reduce((p, d) => p * d, 1);
      const xv = uniform(rows * inF, 21),
        wv = uniform(inF * outF, 22),
        bv = uniform(outF, 23);
      const x = e.tensor([rows, ...feat], xv),
        w = e.tensor([inF, outF], wv);
      const y = dense(x, w, withBias ? e.tensor([outF], bv) : null);
      expect(y.shape).toEqual([rows, outF]);
      expectClose(y.data, denseRef(xv, wv, withBias ? bv : null, rows, inF, outF), tol(inF));
    });
  });

  it("dense forward 1 x 4096 -> 1000 (the gemv path) matches the reference", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const inF = 4096,
        outF = 1000;
      const xv = uniform(inF, 31),
        wv = uniform(inF * outF, 32, -0.05, 0.05),
        bv = uniform(outF, 33);
      const y = dense(e.tensor([1, inF], xv), e.tensor([inF, outF], wv), e.tensor([outF], bv));
      expectClose(y.data, denseRef(xv, wv, bv, 1, inF, outF), { rtol: 1e-4, atol: 1e-4 });
    });
  });

  // Packed weights: strips of 8 columns (every residue of out % 8, strips below, at and above 8),
  // rows 4 at a time then singly (rows % 4), k in steps of 3 then singly (k % 3) in the 1-row loop.
  it.each([
    [1, 1, 1],
    [1, 7, 2],
    [1, 8, 3],
    [1, 9, 4],
    [2, 15, 5],
    [3, 16, 6],
    [4, 17, 7],
    [5, 23, 8],
    [7, 24, 9],
    [8, 25, 31],
    [9, 33, 64],
    [1, 1000, 301],
  ])("dense on packed weights matches the reference, rows=%i out=%i in=%i", async (rows, outF, inF) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const xv = uniform(rows * inF, rows + 3),
        wv = uniform(inF * outF, outF + 5),
        bv = uniform(outF, inF + 7);
      const x = e.tensor([rows, inF], xv),
        w = e.tensor([inF, outF], wv),
        b = e.tensor([outF], bv);
      const packed = packDenseWeights(w);
      try {
        expect(packed.shape).toEqual([inF, outF]);
        const expected = denseRef(xv, wv, bv, rows, inF, outF);
        expectClose(dense(x, packed, b).data, expected, { ...tol(inF), label: "with bias" });
        expectClose(dense(x, packed).data, denseRef(xv, wv, null, rows, inF, outF), { ...tol(inF), label: "no bias" });
        // out is overwritten, not accumulated into (tests/bounds.test.ts checks nothing else is written)
        const out = e.tensor([rows, outF], uniform(rows * outF, 9));
        dense(x, packed, b, out);
        expectClose(out.data, expected, { ...tol(inF), label: "out" });
        // a snapshot: changing w afterwards leaves the packed copy (and its products) as they were
        w.data.fill(0);
        expectClose(dense(x, packed, b).data, expected, { ...tol(inF), label: "after w changed" });
      } finally {
        packed.dispose();
      }
    });
  });

  it("dense on packed weights checks its arguments, and disposed packs are an error", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const packed = packDenseWeights(e.zeros([4, 5]));
      const throws = (fn: () => unknown, msg: string) => {
        expect(fn).toThrow(SimdnetError);
        expect(fn).toThrow(msg);
      };
      throws(() => dense(e.zeros([2, 3]), packed), "dense: x [2,3] has 3 features per row but the packed weights [4,5] expect 4");
      throws(() => dense(e.zeros([2, 4]), packed, e.zeros([4])), "dense: b must have shape [5] (w [4,5] has 5 outputs), got [4]");
      throws(() => dense(e.zeros([2, 4]), packed, null, e.zeros([2, 4])), "dense: out must have shape [2,5], got [2,4]");
      throws(() => denseBackward(e.zeros([2, 5]), e.zeros([2, 4]), packed as unknown as Tensor), "denseBackward: w must be the weight tensor");
      throws(() => packDenseWeights(e.zeros([4])), "packDenseWeights: w must have rank 2");
      packed.dispose();
      expect(packed.isDisposed).toBe(true);
      throws(() => dense(e.zeros([2, 4]), packed), "dense: packed weights [4,5] were disposed");
    });
  });

  it.each([
    [[], 3, 5],
    [[1], 3, 5],
    [[5], 3, 5],
    [[1, 5], 3, 5],
    [[3, 1], 3, 5],
    [[3, 5], 3, 5],
    [[1, 1], 4, 9],
    [[9], 4, 9],
  ] as [number[], number, number][])("gemm (ONNX) broadcasts c of shape %j to [%i,%i]", async (cShape, m, n) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const k = 6;
      for (const [transA, transB] of TRANSPOSES) {
        const av = uniform(m * k, 41),
          bv = uniform(k * n, 42),
          cv = uniform(
            cShape.reduce((p, d) => p * d, 1),
            43,
          );
        const a = e.tensor(transA ? [k, m] : [m, k], av),
          b = e.tensor(transB ? [n, k] : [k, n], bv);
        const c = e.tensor(cShape, cv);
        const opts = { alpha: 0.5, beta: -2, transA, transB };
        expectClose(gemm(a, b, c, opts).data, gemmRef(av, bv, cv, cShape, m, n, k, opts), tol(k));
      }
    });
  });

  it("gemm with transA and 512 or 1024 rows of C (A copied transposed first) matches the reference", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      for (const [m, n, k] of [
        [512, 9, 7],
        [1024, 40, 33],
        [512, 30, 300],
      ] as const) {
        const av = uniform(k * m, m + n),
          bv = uniform(k * n, m + n + 1);
        const y = gemm(e.tensor([k, m], av), e.tensor([k, n], bv), null, { transA: true });
        expectClose(y.data, matmulRef(av, bv, m, n, k, true, false), { ...tol(k), label: `m=${m} n=${n} k=${k}` });
      }
    });
  });

  it("gemm defaults to alpha = beta = 1 and works without c", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const av = uniform(20, 51),
        bv = uniform(20, 52),
        cv = uniform(4, 53);
      const a = e.tensor([5, 4], av),
        b = e.tensor([4, 5], bv);
      expectClose(
        gemm(a, b, e.tensor([4], cv), { transA: true, transB: true }).data,
        gemmRef(av, bv, cv, [4], 4, 4, 5, { transA: true, transB: true }),
        tol(5),
      );
      expectClose(gemm(a, b).data, matmulRef(av, bv, 5, 5, 4), tol(4));
      expectClose(gemm(a, b, null, { alpha: 3 }).data, gemmRef(av, bv, null, [], 5, 5, 4, { alpha: 3 }), tol(4));
    });
  });

  it.each([
    [1, [5], 3],
    [4, [9], 8],
    [3, [2, 1, 3], 5],
  ] as [number, number[], number][])("dense backward matches finite differences, B=%i features=%j out=%i", async (rows, feat, outF) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const inF = feat.reduce((p, d) => p * d, 1);
      const x = e.tensor([rows, ...feat], uniform(rows * inF, 61));
      const w = e.tensor([inF, outF], uniform(inF * outF, 62));
      const b = e.tensor([outF], uniform(outF, 63));
      const g = uniform(rows * outF, 64);
      const { dx, dw, db } = denseBackward(e.tensor([rows, outF], g), x, w);
      expect(dx.shape).toEqual(x.shape);
      const loss = () => e.tidy(() => dot(dense(x, w, b).data, g));
      expectGradientMatches(x, dx.data, loss, { label: "dx" });
      expectGradientMatches(w, dw.data, loss, { label: "dw" });
      expectGradientMatches(b, db!.data, loss, { label: "db" });
    });
  });

  it("dense backward accumulates into given gradients and skips the bias when asked", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const rows = 5,
        inF = 9,
        outF = 6;
      const xv = uniform(rows * inF, 71),
        wv = uniform(inF * outF, 72),
        gv = uniform(rows * outF, 73);
      const x = e.tensor([rows, inF], xv),
        w = e.tensor([inF, outF], wv),
        dy = e.tensor([rows, outF], gv);
      const fresh = denseBackward(dy, x, w);
      const dx = e.tensor([rows, inF], new Float32Array(rows * inF).fill(1));
      const dw = e.tensor([inF, outF], new Float32Array(inF * outF).fill(-1));
      const db = e.tensor([outF], new Float32Array(outF).fill(2));
      const r = denseBackward(dy, x, w, { dx, dw, db });
      expect(r.dx).toBe(dx);
      expect(r.dw).toBe(dw);
      expect(r.db).toBe(db);
      expectClose(
        dx.data,
        fresh.dx.toArray().map((v) => v + 1),
        { atol: 1e-6 },
      );
      expectClose(
        dw.data,
        fresh.dw.toArray().map((v) => v - 1),
        { atol: 1e-6 },
      );
      expectClose(
        db.data,
        fresh.db!.toArray().map((v) => v + 2),
        { atol: 1e-6 },
      );
      // Reference values for the gradients themselves.
      expectClose(fresh.dx.data, matmulRef(gv, wv, rows, inF, outF, false, true), tol(outF));
      expectClose(fresh.dw.data, matmulRef(xv, gv, inF, outF, rows, true, false), tol(rows));
      expect(denseBackward(dy, x, w, {}, false).db).toBeUndefined();
    });
  });

  it.each(TRANSPOSES)("matmul backward matches finite differences, transA=%s transB=%s", async (transA, transB) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const m = 5,
        n = 9,
        k = 4;
      const a = e.tensor(transA ? [k, m] : [m, k], uniform(m * k, 81));
      const b = e.tensor(transB ? [n, k] : [k, n], uniform(k * n, 82));
      const g = uniform(m * n, 83);
      const { da, db } = matmulBackward(e.tensor([m, n], g), a, b, { transA, transB });
      expect(da.shape).toEqual(a.shape);
      expect(db.shape).toEqual(b.shape);
      const loss = () => e.tidy(() => dot(matmul(a, b, { transA, transB }).data, g));
      expectGradientMatches(a, da.data, loss, { label: "da", samples: 40 });
      expectGradientMatches(b, db.data, loss, { label: "db", samples: 40 });
    });
  });

  it.each([
    [[7], false, true],
    [[3, 1], true, false],
    [[], true, true],
    [[3, 7], false, false],
  ] as [number[], boolean, boolean][])("gemm backward matches finite differences, c %j transA=%s transB=%s", async (cShape, transA, transB) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const m = 3,
        n = 7,
        k = 5;
      const opts = { alpha: 1.5, beta: -0.75, transA, transB };
      const a = e.tensor(transA ? [k, m] : [m, k], uniform(m * k, 91));
      const b = e.tensor(transB ? [n, k] : [k, n], uniform(k * n, 92));
      const c = e.tensor(
        cShape,
        uniform(
          cShape.reduce((p, d) => p * d, 1),
          93,
        ),
      );
      const g = uniform(m * n, 94);
      const { da, db, dc } = gemmBackward(e.tensor([m, n], g), a, b, c, opts);
      const loss = () => e.tidy(() => dot(gemm(a, b, c, opts).data, g));
      expectGradientMatches(a, da.data, loss, { label: "da" });
      expectGradientMatches(b, db.data, loss, { label: "db" });
      expectGradientMatches(c, dc!.data, loss, { label: "dc" });
    });
  });

  it("rejects bad shapes and arguments with messages naming op, argument and shapes", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.zeros([2, 3]),
        w = e.zeros([4, 5]);
      const throws = (fn: () => unknown, msg: string) => {
        expect(fn).toThrow(SimdnetError);
        expect(fn).toThrow(msg);
      };
      throws(() => dense(x, w), "dense: x [2,3] has 3 features per row but w [4,5] expects 4");
      throws(() => dense(e.zeros([3]), w), "dense: x must have rank >= 2");
      throws(() => dense(e.zeros([2, 4]), e.zeros([4, 5, 1])), "dense: w must have rank 2");
      throws(() => dense(e.zeros([2, 4]), w, e.zeros([4])), "dense: b must have shape [5] (w [4,5] has 5 outputs), got [4]");
      throws(() => dense(e.zeros([2, 4]), w, null, e.zeros([2, 4])), "dense: out must have shape [2,5], got [2,4]");
      throws(() => denseBackward(e.zeros([2, 4]), e.zeros([2, 4]), w), "denseBackward: dy must have shape [2,5], got [2,4]");
      throws(() => matmul(x, w), "matmul: inner dimensions differ: a with a [2,3] has 3 columns but b with b [4,5] has 4 rows");
      throws(() => matmul(x, w, { transA: true }), "matmul: inner dimensions differ: a^T with a [2,3] has 2 columns");
      throws(() => matmul(e.zeros([6]), w), "matmul: a must have rank 2, got shape [6]");
      const sq = e.zeros([3, 3]);
      throws(() => matmul(sq, e.zeros([3, 3]), {}, sq), "matmul: out must not be a");
      throws(() => matmulBackward(e.zeros([3, 3]), x, e.zeros([3, 3])), "matmulBackward: dy must have shape [2,3], got [3,3]");
      throws(() => gemm(x, e.zeros([3, 5]), e.zeros([3])), "gemm: c [3] cannot be broadcast to the output [2,5]");
      throws(() => gemm(x, e.zeros([3, 5]), e.zeros([2, 5, 1])), "gemm: c [2,5,1] cannot be broadcast");
      throws(() => gemm(x, e.zeros([3, 5]), null, { alpha: NaN }), "gemm: alpha must be a finite number, got NaN");
      throws(() => gemm(x, e.zeros([3, 5]), null, { beta: Infinity }), "gemm: beta must be a finite number, got Infinity");
      throws(() => gemm(x, e.zeros([5, 3]), null, { transB: "yes" as unknown as boolean }), "gemm: transB must be a boolean");
      throws(() => gemmBackward(e.zeros([2, 5]), x, e.zeros([3, 5]), null, {}, { dc: e.zeros([5]) }), "gemmBackward: dc was given but c is not");
    });
  });
});
