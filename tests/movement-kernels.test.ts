// The data-movement kernels against plain references at SIMD tile edges, in every build:
// copy_nd's blocked transposes and accumulate_nd (its adjoint), remap_nd (pad / tile / nearest maps) and its
// adjoint, the separable resize pass and its adjoint, the one-pass bilinear resize, gather_axis, gather_elements, trilu, range.
import { describe, expect, it } from "vitest";
import { contiguousStrides, ND_DESC_WORDS, writeNd } from "../src/graph/nd.js";
import { buildRemap, REMAP_HEADER_WORDS, type RemapAxis } from "../src/graph/remap.js";
import type { Engine } from "../src/index.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, rng, TILE_EDGE_SIZES, uniform } from "./harness.js";

const EDGES = [1, 3, 4, 5, 8, 15, 16, 17, 33];

/** Every index of `dims` (row-major), calling f with the index list. */
function forEachIndex(dims: readonly number[], f: (i: number[]) => void): void {
  const n = dims.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(dims.length).fill(0);
  for (let k = 0; k < n; k++) {
    f(idx);
    for (let a = dims.length - 1; a >= 0; a--) {
      if (++idx[a]! < dims[a]!) break;
      idx[a] = 0;
    }
  }
}

const dot = (i: readonly number[], s: readonly number[]) => i.reduce((acc, v, k) => acc + v * s[k]!, 0);

/** A scratch scope: tensors freed at the end. */
function scope(e: Engine) {
  const made: { dispose(): void }[] = [];
  return {
    f32: (data: ArrayLike<number>) => {
      const t = e.tensor([Math.max(data.length, 1)], data.length ? Float32Array.from(data) : [0]);
      made.push(t);
      return t;
    },
    zeros: (n: number) => {
      const t = e.zeros([Math.max(n, 1)]);
      made.push(t);
      return t;
    },
    i32: (data: ArrayLike<number>) => {
      const t = e.empty([Math.max(data.length, 1)], "i32");
      t.ints.set(Array.from(data));
      made.push(t);
      return t;
    },
    words: (n: number) => {
      const t = e.empty([Math.max(n, 1)], "i32");
      made.push(t);
      return t;
    },
    dispose: () => made.forEach((t) => t.dispose()),
  };
}

describe("layouts agree with the kernels", () => {
  it("remap plan header", async () => {
    const e = await engineFor("scalar");
    expect(e.kernels.remap_header_words()).toBe(REMAP_HEADER_WORDS);
  });
});

describe.each(BUILDS_UNDER_TEST)("movement kernels (%s)", (build) => {
  // -------------------------------------------------------------------------------------------
  // copy_nd: transposes of every axis order, and its adjoint

  /** y = x read through `perm` (y.dims[i] = x.dims[perm[i]]), by copy_nd and by the reference; then dx += dy^T. */
  async function transposeCase(xd: number[], perm: number[]) {
    const e = await engineFor(build);
    const s = scope(e);
    const n = xd.reduce((a, b) => a * b, 1);
    const x = uniform(n, n + perm.length),
      xs = contiguousStrides(xd);
    const yd = perm.map((p) => xd[p]!),
      ys = contiguousStrides(yd);
    const want = new Float32Array(n);
    forEachIndex(
      yd,
      (i) =>
        (want[dot(i, ys)] =
          x[
            dot(
              i,
              perm.map((p) => xs[p]!),
            )
          ]!),
    );
    const xt = s.f32(x),
      yt = s.zeros(n),
      desc = s.words(ND_DESC_WORDS);
    writeNd(e.heap.i32, desc.ptr, { dims: yd, strides: [ys, perm.map((p) => xs[p]!)] }, "test");
    e.kernels.copy_nd(yt.ptr, xt.ptr, desc.ptr);
    expect(Array.from(yt.data.subarray(0, n)), `copy_nd ${xd} perm ${perm}`).toEqual(Array.from(want));
    // adjoint: dx (pre-filled, accumulates) += dy read back through the same loop
    const dy = uniform(n, 7 * n),
      dx0 = uniform(n, 9 * n);
    const wantDx = Float64Array.from(dx0);
    forEachIndex(
      yd,
      (i) =>
        (wantDx[
          dot(
            i,
            perm.map((p) => xs[p]!),
          )
        ]! += dy[dot(i, ys)]!),
    );
    const dyt = s.f32(dy),
      dxt = s.f32(dx0);
    // the same loop with the operands' roles swapped: dx (operand 0) += dy (operand 1)
    writeNd(e.heap.i32, desc.ptr, { dims: yd, strides: [perm.map((p) => xs[p]!), ys] }, "test");
    e.kernels.accumulate_nd(dxt.ptr, dyt.ptr, desc.ptr);
    expectClose(dxt.data.subarray(0, n), wantDx, { rtol: 1e-6, atol: 1e-6, label: `accumulate_nd ${xd} perm ${perm}` });
    s.dispose();
  }

  it.each(EDGES)("2-D transposes at tile edges (rows %i)", async (r) => {
    for (const c of EDGES) await transposeCase([r, c], [1, 0]);
  });

  it("4-D layout conversions (NCHW <-> NHWC) and every 3-D permutation", async () => {
    for (const [n, c, h, w] of [
      [1, 3, 7, 5],
      [2, 8, 4, 4],
      [1, 17, 5, 9],
      [2, 16, 3, 33],
      [1, 5, 1, 6],
    ] as const) {
      await transposeCase([n, c, h, w], [0, 2, 3, 1]);
      await transposeCase([n, h, w, c], [0, 3, 1, 2]);
    }
    const perms = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ];
    for (const p of perms)
      for (const d of [
        [4, 5, 6],
        [9, 8, 17],
        [2, 16, 3],
      ])
        await transposeCase(d, p);
  });

  it("accumulate_nd sums broadcast reads (expand's adjoint)", async () => {
    const e = await engineFor(build);
    const s = scope(e);
    for (const inner of TILE_EDGE_SIZES) {
      // y [3, 4, inner] = x [3, 1, inner] broadcast along axis 1, and x [1, 4, 1] broadcast on the others
      for (const xs of [
        [inner, 0, 1],
        [0, 1, 0],
      ]) {
        const yd = [3, 4, inner],
          n = 3 * 4 * inner;
        const xn = xs[1] === 0 ? 3 * inner : 4;
        const dy = uniform(n, inner),
          dx = s.f32(new Float32Array(xn)),
          dyt = s.f32(dy),
          desc = s.words(ND_DESC_WORDS);
        writeNd(e.heap.i32, desc.ptr, { dims: yd, strides: [xs, contiguousStrides(yd)] }, "test");
        e.kernels.accumulate_nd(dx.ptr, dyt.ptr, desc.ptr);
        const want = new Float64Array(xn);
        forEachIndex(yd, (i) => (want[dot(i, xs)]! += dy[dot(i, contiguousStrides(yd))]!));
        expectClose(dx.data.subarray(0, xn), want, { rtol: 1e-5, atol: 1e-5, label: `inner ${inner}` });
      }
    }
    s.dispose();
  });

  // -------------------------------------------------------------------------------------------
  // remap_nd

  /** Reference remap: y[i] = x[sum_a src_a[i_a] * stride_a] or fill when any src is -1. */
  function remapRef(x: Float32Array, axes: RemapAxis[], fill: number): Float32Array {
    const dims = axes.map((a) => a.src.length);
    const y = new Float32Array(dims.reduce((a, b) => a * b, 1));
    let k = 0;
    forEachIndex(dims, (i) => {
      const s = i.map((v, a) => axes[a]!.src[v]!);
      y[k++] = s.some((v) => v < 0) ? fill : x[s.reduce((acc, v, a) => acc + v * axes[a]!.stride, 0)]!;
    });
    return y;
  }

  async function remapCase(xd: number[], srcs: number[][], label: string) {
    const e = await engineFor(build);
    const s = scope(e);
    const xs = contiguousStrides(xd),
      n = xd.reduce((a, b) => a * b, 1);
    const axes = srcs.map((src, a) => ({ src, stride: xs[a]! }));
    const x = uniform(n, n + 3),
      fill = 0.25;
    const want = remapRef(x, axes, fill);
    const words = buildRemap(axes, new Int32Array(new Float32Array([fill]).buffer)[0]!, "test");
    const plan = s.words(words.length);
    plan.ints.set(words);
    const xt = s.f32(x),
      yt = s.zeros(want.length);
    e.kernels.remap_nd(yt.ptr, xt.ptr, plan.ptr);
    expect(Array.from(yt.data.subarray(0, want.length)), `remap ${label}`).toEqual(Array.from(want));
    // adjoint: dx[source] += dy, fills contribute nothing
    const dy = uniform(want.length, 5),
      dx0 = uniform(n, 6);
    const wantDx = Float64Array.from(dx0);
    const dims = axes.map((a) => a.src.length);
    let k = 0;
    forEachIndex(dims, (i) => {
      const src = i.map((v, a) => axes[a]!.src[v]!);
      if (src.every((v) => v >= 0)) wantDx[src.reduce((acc, v, a) => acc + v * axes[a]!.stride, 0)]! += dy[k]!;
      k++;
    });
    const dyt = s.f32(dy),
      dxt = s.f32(dx0);
    e.kernels.remap_nd_backward(dxt.ptr, dyt.ptr, plan.ptr);
    expectClose(dxt.data.subarray(0, n), wantDx, { rtol: 1e-5, atol: 1e-5, label: `remap_nd_backward ${label}` });
    s.dispose();
  }

  it.each(EDGES)("pad-like maps (fill, copy, mirrored and repeated runs) on rows of %i", async (w) => {
    const pad = (len: number, b: number, e: number, mode: string) =>
      Array.from({ length: len + b + e }, (_, o) => {
        const c = o - b;
        if (c >= 0 && c < len) return c;
        if (mode === "constant") return -1;
        if (mode === "edge") return c < 0 ? 0 : len - 1;
        if (mode === "wrap") return ((c % len) + len) % len;
        if (len === 1) return 0;
        const p = 2 * (len - 1);
        const t = ((c % p) + p) % p;
        return t >= len ? p - t : t;
      });
    for (const mode of ["constant", "edge", "reflect", "wrap"]) {
      for (const [b, e] of [
        [1, 2],
        [5, 0],
        [0, 6],
      ] as const) {
        await remapCase([2, 3, w], [[0, 1], pad(3, 1, 1, mode), pad(w, b, e, mode)], `${mode} w ${w} pads ${b},${e}`);
      }
    }
  });

  it.each(EDGES)("tile and nearest maps, rows of %i, with gathered and folded axes", async (w) => {
    const tile = (len: number, reps: number) => Array.from({ length: len * reps }, (_, o) => o % len);
    await remapCase([3, w], [tile(3, 2), tile(w, 3)], `tile ${w}`);
    // nearest 2x upsampling of the row (a gather run), a crop to one row (folded axis), an outside row
    const up = Array.from({ length: 2 * w }, (_, o) => o >> 1);
    await remapCase([4, w], [[2, -1, 0], up], `nearest ${w}`);
    await remapCase([4, w], [[3], up], `one row ${w}`);
    // repeated runs: x3 and x4 upsampling, a crop of half-repeated groups, fills around repeats
    for (const k of [3, 4]) await remapCase([2, w], [[1, 0], Array.from({ length: k * w }, (_, o) => Math.floor(o / k))], `nearest x${k} ${w}`);
    await remapCase(
      [2, w],
      [
        [0, 1],
        [-1, 0, ...up.slice(1), w - 1, -1],
      ],
      `cropped repeats ${w}`,
    );
    // identity trailing axes merge into the row
    await remapCase([5, 2, w], [[4, 0, 1], [0, 1], Array.from({ length: w }, (_, o) => o)], `merged ${w}`);
  });

  // -------------------------------------------------------------------------------------------
  // resize pass

  it.each(TILE_EDGE_SIZES)("resize_f32 pass and its adjoint, inner %i", async (inner) => {
    const e = await engineFor(build);
    const s = scope(e);
    const r = rng(inner);
    for (const [outer, inLen, outLen, taps] of [
      [2, 5, 9, 2],
      [1, 7, 3, 4],
      [3, 4, 4, 6],
      // 4-row blocks (and the rows after them) when inner is 1, lengths at the 4-wide tile edges
      [4, 4, 8, 2],
      [5, 9, 3, 4],
      [9, 3, 13, 1],
      [8, 8, 5, 3],
    ] as const) {
      const src = Int32Array.from({ length: outLen * taps }, () => Math.floor(r() * inLen));
      const w = Float32Array.from({ length: outLen * taps }, () => r() * 2 - 0.5);
      src[taps] = -1; // output indices 1 and the last are outside the crop
      src[(outLen - 1) * taps] = -1;
      const table = new ArrayBuffer(outLen * taps * 8);
      const iv = new Int32Array(table),
        fv = new Float32Array(table);
      for (let k = 0; k < outLen * taps; k++) {
        iv[2 * k] = src[k]!;
        fv[2 * k + 1] = w[k]!;
      }
      const x = uniform(outer * inLen * inner, inner + inLen),
        fill = -3;
      const want = new Float64Array(outer * outLen * inner);
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < outLen; i++)
          for (let k = 0; k < inner; k++) {
            let acc = 0;
            if (src[i * taps]! < 0) acc = fill;
            else for (let t = 0; t < taps; t++) acc += w[i * taps + t]! * x[(o * inLen + src[i * taps + t]!) * inner + k]!;
            want[(o * outLen + i) * inner + k] = acc;
          }
      const tt = s.words(outLen * taps * 2);
      tt.ints.set(new Int32Array(table));
      const xt = s.f32(x),
        yt = s.zeros(want.length);
      // the scratch: 16 bytes per input index, then a guard that must stay untouched
      const ws = s.f32(new Float32Array(4 * inLen + 8).fill(7));
      e.kernels.resize_f32_forward(yt.ptr, xt.ptr, tt.ptr, ws.ptr, outer, inLen, outLen, inner, taps, fill);
      expectClose(yt.data.subarray(0, want.length), want, { rtol: 1e-5, atol: 1e-5, label: `resize ${outer}x${inLen}->${outLen}x${inner}` });
      expect([...ws.data.subarray(4 * inLen, 4 * inLen + 8)]).toEqual(Array(8).fill(7));
      const dy = uniform(want.length, 3),
        dx0 = uniform(x.length, 4);
      const wantDx = Float64Array.from(dx0);
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < outLen; i++) {
          if (src[i * taps]! < 0) continue;
          for (let t = 0; t < taps; t++)
            for (let k = 0; k < inner; k++) {
              wantDx[(o * inLen + src[i * taps + t]!) * inner + k]! += w[i * taps + t]! * dy[(o * outLen + i) * inner + k]!;
            }
        }
      const dyt = s.f32(dy),
        dxt = s.f32(dx0);
      e.kernels.resize_f32_backward(dxt.ptr, dyt.ptr, tt.ptr, outer, inLen, outLen, inner, taps);
      expectClose(dxt.data.subarray(0, x.length), wantDx, { rtol: 1e-5, atol: 1e-5, label: "resize_f32_backward" });
    }
    s.dispose();
  });

  it.each(TILE_EDGE_SIZES)("resize_f32_bilinear, onnxruntime's order of operations, C %i", async (C) => {
    const e = await engineFor(build);
    const s = scope(e);
    const r = rng(100 + C);
    const f = Math.fround;
    // outQ at the 4-wide tile edges (the C = 1 lanes), both sum orders, B > 1 (the axes apart)
    for (const [A, B, inP, outP, inQ, outQ, qOuter] of [
      [2, 1, 3, 5, 4, 8, 0],
      [1, 3, 5, 2, 7, 3, 1],
      [1, 2, 4, 4, 5, 9, 0],
      [3, 1, 2, 7, 9, 17, 1],
    ] as const) {
      const table = (inLen: number, outLen: number) => {
        const iv = new Int32Array(4 * outLen),
          fv = new Float32Array(iv.buffer);
        for (let o = 0; o < outLen; o++) {
          iv[4 * o] = Math.floor(r() * inLen);
          iv[4 * o + 2] = Math.floor(r() * inLen);
          fv[4 * o + 1] = r();
          fv[4 * o + 3] = r() * 2 - 0.5;
        }
        return iv;
      };
      const tp = table(inP, outP),
        tq = table(inQ, outQ);
      const wp = new Float32Array(tp.buffer),
        wq = new Float32Array(tq.buffer);
      const x = uniform(A * inP * B * inQ * C, C + inQ, -3, 3);
      const at = (a: number, p: number, b: number, q: number, c: number) => x[(((a * inP + p) * B + b) * inQ + q) * C + c]!;
      const exact = new Float32Array(A * outP * B * outQ * C),
        want = new Float64Array(exact.length);
      forEachIndex([A, outP, B, outQ, C], ([a, i, b, j, c]) => {
        const ps = [tp[4 * i!]!, tp[4 * i! + 2]!],
          qs = [tq[4 * j!]!, tq[4 * j! + 2]!];
        const pw = [wp[4 * i! + 1]!, wp[4 * i! + 3]!],
          qw = [wq[4 * j! + 1]!, wq[4 * j! + 3]!];
        const term = (u: number, v: number) => f(f(pw[u]! * qw[v]!) * at(a!, ps[u]!, b!, qs[v]!, c!));
        // the four (p, q) tap pairs in the kernel's sum order
        const order: [number, number][] = qOuter
          ? [
              [0, 0],
              [1, 0],
              [0, 1],
              [1, 1],
            ]
          : [
              [0, 0],
              [0, 1],
              [1, 0],
              [1, 1],
            ];
        const k = (((a! * outP + i!) * B + b!) * outQ + j!) * C + c!;
        exact[k] = order.reduce((acc, [u, v]) => f(acc + term(u, v)), 0);
        want[k] = order.reduce((acc, [u, v]) => acc + pw[u]! * qw[v]! * at(a!, ps[u]!, b!, qs[v]!, c!), 0);
      });
      const tpt = s.words(tp.length),
        tqt = s.words(tq.length);
      tpt.ints.set(tp);
      tqt.ints.set(tq);
      const xt = s.f32(x),
        yt = s.f32(new Float32Array(exact.length + 4).fill(7));
      e.kernels.resize_f32_bilinear(yt.ptr, xt.ptr, tpt.ptr, tqt.ptr, A, B, C, inP, outP, inQ, outQ, qOuter);
      const label = `bilinear ${A}x${inP}x${B}x${inQ}x${C} -> ${outP}x${outQ}`;
      expectClose(yt.data.subarray(0, want.length), want, { rtol: 1e-5, atol: 1e-5, label });
      // bit for bit the float32 products and left-to-right sums (no fused multiply-add in any build)
      expect(Array.from(yt.data.subarray(0, exact.length)), label).toEqual(Array.from(exact));
      expect(Array.from(yt.data.subarray(exact.length)), "past the end").toEqual([7, 7, 7, 7]);
    }
    s.dispose();
  });

  // -------------------------------------------------------------------------------------------
  // gather, gather_elements, trilu, range

  it.each(TILE_EDGE_SIZES)("gather_axis and its adjoint, inner %i", async (inner) => {
    const e = await engineFor(build);
    const s = scope(e);
    const outer = 3,
      len = 5,
      idx = [4, -1, 0, 2, 2, -5];
    const x = uniform(outer * len * inner, inner);
    const want = new Float32Array(outer * idx.length * inner);
    for (let o = 0; o < outer; o++)
      idx.forEach((v, j) => {
        const r = v < 0 ? v + len : v;
        for (let k = 0; k < inner; k++) want[(o * idx.length + j) * inner + k] = x[(o * len + r) * inner + k]!;
      });
    const xt = s.f32(x),
      it = s.i32(idx),
      yt = s.zeros(want.length);
    expect(e.kernels.gather_axis(yt.ptr, xt.ptr, it.ptr, outer, len, idx.length, inner)).toBe(0);
    expect(Array.from(yt.data.subarray(0, want.length))).toEqual(Array.from(want));
    const dy = uniform(want.length, 2),
      dx = s.zeros(x.length),
      dyt = s.f32(dy);
    expect(e.kernels.gather_axis_f32_backward(dx.ptr, dyt.ptr, it.ptr, outer, len, idx.length, inner)).toBe(0);
    const wantDx = new Float64Array(x.length);
    for (let o = 0; o < outer; o++)
      idx.forEach((v, j) => {
        const r = v < 0 ? v + len : v;
        for (let k = 0; k < inner; k++) wantDx[(o * len + r) * inner + k]! += dy[(o * idx.length + j) * inner + k]!;
      });
    expectClose(dx.data.subarray(0, x.length), wantDx, { rtol: 1e-5, atol: 1e-6 });
    // out-of-range indices are counted and write zeros, nothing else
    const bad = s.i32([5, -6, 1]),
      yb = s.f32(new Float32Array(outer * 3 * inner).fill(9));
    expect(e.kernels.gather_axis(yb.ptr, xt.ptr, bad.ptr, outer, len, 3, inner)).toBe(2 * outer);
    expect(yb.data[0]).toBe(0);
    expect(yb.data[2 * inner]).toBe(x[inner]);
    s.dispose();
  });

  it.each([1, 3, 4, 5, 9])("gather_elements and its adjoint (last axis %i)", async (w) => {
    const e = await engineFor(build);
    const s = scope(e);
    const xd = [3, 4, w],
      axis = 1,
      id = [2, 3, w];
    const r = rng(w);
    const idx = Array.from({ length: 2 * 3 * w }, () => Math.floor(r() * 8) - 4);
    const x = uniform(3 * 4 * w, w),
      xs = contiguousStrides(xd),
      is = contiguousStrides(id);
    const want = new Float32Array(idx.length);
    forEachIndex(id, (i) => {
      const v = idx[dot(i, is)]!;
      const j = [...i];
      j[axis] = v < 0 ? v + 4 : v;
      want[dot(i, is)] = x[dot(j, xs)]!;
    });
    const desc = s.words(ND_DESC_WORDS);
    writeNd(e.heap.i32, desc.ptr, { dims: id, strides: [is, xs.map((v, a) => (a === axis ? 0 : v)), is] }, "test");
    const xt = s.f32(x),
      it = s.i32(idx),
      yt = s.zeros(idx.length);
    expect(e.kernels.gather_elements(yt.ptr, xt.ptr, it.ptr, desc.ptr, xs[axis]!, 4)).toBe(0);
    expect(Array.from(yt.data.subarray(0, idx.length))).toEqual(Array.from(want));
    const dy = uniform(idx.length, 1),
      dyt = s.f32(dy),
      dx = s.zeros(x.length);
    expect(e.kernels.gather_elements_f32_backward(dx.ptr, dyt.ptr, it.ptr, desc.ptr, xs[axis]!, 4)).toBe(0);
    const wantDx = new Float64Array(x.length);
    forEachIndex(id, (i) => {
      const v = idx[dot(i, is)]!;
      const j = [...i];
      j[axis] = v < 0 ? v + 4 : v;
      wantDx[dot(j, xs)]! += dy[dot(i, is)]!;
    });
    expectClose(dx.data.subarray(0, x.length), wantDx, { rtol: 1e-5, atol: 1e-6 });
    s.dispose();
  });

  it.each(TILE_EDGE_SIZES)("trilu (cols %i) and range", async (cols) => {
    const e = await engineFor(build);
    const s = scope(e);
    const rows = 5,
      batch = 2,
      x = uniform(batch * rows * cols, cols);
    for (const upper of [0, 1])
      for (const k of [-7, -1, 0, 2, 40]) {
        const yt = s.f32(new Float32Array(x.length).fill(7)),
          xt = s.f32(x);
        e.kernels.trilu_forward(yt.ptr, xt.ptr, batch, rows, cols, k, upper);
        const want = Array.from(x, (v, i) => {
          const c = i % cols,
            r = Math.floor(i / cols) % rows;
          return (upper ? c - r >= k : c - r <= k) ? v : 0;
        });
        expect(Array.from(yt.data.subarray(0, x.length)), `upper ${upper} k ${k}`).toEqual(want);
      }
    const yt = s.zeros(cols),
      yi = s.words(cols);
    e.kernels.range_f32_forward(yt.ptr, 1.5, -0.25, cols);
    expectClose(
      yt.data.subarray(0, cols),
      Array.from({ length: cols }, (_, i) => 1.5 - 0.25 * i),
      { rtol: 0, atol: 1e-6 },
    );
    e.kernels.range_i32_forward(yi.ptr, -3, 2, cols);
    expect(Array.from(yi.ints.subarray(0, cols))).toEqual(Array.from({ length: cols }, (_, i) => -3 + 2 * i));
    s.dispose();
  });
});
