// Separable resampling (ONNX Resize linear / cubic, with or without antialias, any coordinate
// transformation): one axis per call. The tensor is viewed as x [outer, inLen, inner] and
// y [outer, outLen, inner] (row-major in their physical order: the resized axis with everything
// before it folded into outer and everything after it into inner), and
//   y[o, i, k] = sum_t w[i, t] * x[o, src[i, t], k]   for t < taps
// The host's table holds, per output index i, `taps` pairs (i32 src, f32 w), 8 bytes each; a first
// src of -1 marks an output index outside the crop (tf_crop_and_resize), which gets `fill`.
// Nearest-neighbour resizing does not come here: it is a remap (assembly/remap.ts).
// When the resized axis is the contiguous one (inner 1), the SIMD build takes 4 rows at a time
// through the scratch `ws` (16 bytes per input index, 16-byte aligned): their x transposed to
// [inLen][4 rows], so each output index is `taps` vector multiply-adds over the 4 rows, and 4
// outputs are transposed back in registers.
import { madd } from "./simd";

/** y = resample(x) along one axis (see the header). y and x must not overlap; ws: inLen * 16 bytes when inner is 1. */
export function resize_f32_forward(
  y: usize, x: usize, table: usize, ws: usize, outer: i32, inLen: i32, outLen: i32, inner: i32, taps: i32, fill: f32,
): void {
  const rowBytes = <usize>inner << 2;
  let first = 0;
  if (ASC_FEATURE_SIMD) {
    if (inner == 1) for (; first + 4 <= outer; first += 4) contiguousRows4(y, x, table, ws, first, inLen, outLen, taps, fill);
  }
  for (let o = first; o < outer; o++) {
    const xo = x + <usize>o * <usize>inLen * rowBytes;
    for (let i = 0; i < outLen; i++) {
      const yr = y + (<usize>o * <usize>outLen + <usize>i) * rowBytes;
      const tab = table + (<usize>i * <usize>taps << 3);
      if (load<i32>(tab) < 0) {
        let k = 0;
        if (ASC_FEATURE_SIMD) {
          const f = f32x4.splat(fill);
          for (; k + 4 <= inner; k += 4) v128.store(yr + (<usize>k << 2), f);
        }
        for (; k < inner; k++) store<f32>(yr + (<usize>k << 2), fill);
        continue;
      }
      let k = 0;
      if (ASC_FEATURE_SIMD) {
        for (; k + 8 <= inner; k += 8) {
          let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
          for (let t = 0; t < taps; t++) {
            const e = tab + (<usize>t << 3);
            const w = f32x4.splat(load<f32>(e, 4));
            const s = xo + <usize>load<i32>(e) * rowBytes + (<usize>k << 2);
            a0 = madd(w, v128.load(s), a0);
            a1 = madd(w, v128.load(s, 16), a1);
          }
          v128.store(yr + (<usize>k << 2), a0);
          v128.store(yr + (<usize>k << 2), a1, 16);
        }
        for (; k + 4 <= inner; k += 4) {
          let a0 = f32x4.splat(0);
          for (let t = 0; t < taps; t++) {
            const e = tab + (<usize>t << 3);
            a0 = madd(f32x4.splat(load<f32>(e, 4)), v128.load(xo + <usize>load<i32>(e) * rowBytes + (<usize>k << 2)), a0);
          }
          v128.store(yr + (<usize>k << 2), a0);
        }
      }
      for (; k < inner; k++) {
        let acc: f32 = 0;
        for (let t = 0; t < taps; t++) {
          const e = tab + (<usize>t << 3);
          acc += load<f32>(e, 4) * load<f32>(xo + <usize>load<i32>(e) * rowBytes + (<usize>k << 2));
        }
        store<f32>(yr + (<usize>k << 2), acc);
      }
    }
  }
}

/** 4 x 4 transpose: lane l of result k is lane k of input l. */
@inline function t4(a: v128, b: v128, c: v128, d: v128, k: i32): v128 {
  const ab0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5), ab1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
  const cd0 = v128.shuffle<f32>(c, d, 0, 4, 1, 5), cd1 = v128.shuffle<f32>(c, d, 2, 6, 3, 7);
  if (k == 0) return v128.shuffle<f32>(ab0, cd0, 0, 1, 4, 5);
  if (k == 1) return v128.shuffle<f32>(ab0, cd0, 2, 3, 6, 7);
  if (k == 2) return v128.shuffle<f32>(ab1, cd1, 0, 1, 4, 5);
  return v128.shuffle<f32>(ab1, cd1, 2, 3, 6, 7);
}

/** One output index of 4 rows: the taps over ws ([inLen][4 rows]), or the fill outside the crop. */
@inline function tapRows(ws: usize, tab: usize, taps: i32, fill: f32): v128 {
  if (load<i32>(tab) < 0) return f32x4.splat(fill);
  let acc = f32x4.splat(0);
  for (let t = 0; t < taps; t++) {
    const e = tab + (<usize>t << 3);
    acc = madd(f32x4.splat(load<f32>(e, 4)), v128.load(ws + (<usize>load<i32>(e) << 4)), acc);
  }
  return acc;
}

// rows o..o+3 of a pass along the contiguous axis (inner 1), through ws
function contiguousRows4(y: usize, x: usize, table: usize, ws: usize, o: i32, inLen: i32, outLen: i32, taps: i32, fill: f32): void {
  const xi = <usize>inLen << 2,
    yi = <usize>outLen << 2;
  const x0 = x + <usize>o * xi;
  let s = 0;
  for (; s + 4 <= inLen; s += 4) {
    const p = x0 + (<usize>s << 2);
    const a = v128.load(p), b = v128.load(p + xi), c = v128.load(p + 2 * xi), d = v128.load(p + 3 * xi);
    const w = ws + (<usize>s << 4);
    v128.store(w, t4(a, b, c, d, 0));
    v128.store(w, t4(a, b, c, d, 1), 16);
    v128.store(w, t4(a, b, c, d, 2), 32);
    v128.store(w, t4(a, b, c, d, 3), 48);
  }
  for (; s < inLen; s++) {
    const p = x0 + (<usize>s << 2);
    v128.store(ws + (<usize>s << 4), f32x4(load<f32>(p), load<f32>(p + xi), load<f32>(p + 2 * xi), load<f32>(p + 3 * xi)));
  }
  const y0 = y + <usize>o * yi;
  const step = <usize>taps << 3;
  let i = 0;
  for (; i + 4 <= outLen; i += 4) {
    const tab = table + <usize>i * step;
    const a = tapRows(ws, tab, taps, fill), b = tapRows(ws, tab + step, taps, fill);
    const c = tapRows(ws, tab + 2 * step, taps, fill), d = tapRows(ws, tab + 3 * step, taps, fill);
    const p = y0 + (<usize>i << 2);
    v128.store(p, t4(a, b, c, d, 0));
    v128.store(p + yi, t4(a, b, c, d, 1));
    v128.store(p + 2 * yi, t4(a, b, c, d, 2));
    v128.store(p + 3 * yi, t4(a, b, c, d, 3));
  }
  for (; i < outLen; i++) {
    const v = tapRows(ws, table + <usize>i * step, taps, fill);
    const p = y0 + (<usize>i << 2);
    store<f32>(p, f32x4.extract_lane(v, 0));
    store<f32>(p + yi, f32x4.extract_lane(v, 1));
    store<f32>(p + 2 * yi, f32x4.extract_lane(v, 2));
    store<f32>(p + 3 * yi, f32x4.extract_lane(v, 3));
  }
}

/**
 * The adjoint of resize_f32_forward, accumulating: dx[o, src[i, t], k] += w[i, t] * dy[o, i, k]
 * (outputs outside the crop contribute nothing). Same table and sizes as the forward.
 */
export function resize_f32_backward(dx: usize, dy: usize, table: usize, outer: i32, inLen: i32, outLen: i32, inner: i32, taps: i32): void {
  const rowBytes = <usize>inner << 2;
  for (let o = 0; o < outer; o++) {
    const xo = dx + <usize>o * <usize>inLen * rowBytes;
    for (let i = 0; i < outLen; i++) {
      const yr = dy + (<usize>o * <usize>outLen + <usize>i) * rowBytes;
      const tab = table + (<usize>i * <usize>taps << 3);
      if (load<i32>(tab) < 0) continue;
      for (let t = 0; t < taps; t++) {
        const e = tab + (<usize>t << 3);
        const wv = load<f32>(e, 4);
        const s = xo + <usize>load<i32>(e) * rowBytes;
        let k = 0;
        if (ASC_FEATURE_SIMD) {
          const w = f32x4.splat(wv);
          for (; k + 4 <= inner; k += 4) {
            const p = s + (<usize>k << 2);
            v128.store(p, madd(w, v128.load(yr + (<usize>k << 2)), v128.load(p)));
          }
        }
        for (; k < inner; k++) {
          const p = s + (<usize>k << 2);
          store<f32>(p, load<f32>(p) + wv * load<f32>(yr + (<usize>k << 2)));
        }
      }
    }
  }
}

/**
 * Bilinear resizing of two axes in one pass, in onnxruntime's order of operations (its CPU
 * UpsampleBilinear): per output, the four products of a combined weight (wy * wx, rounded) and an
 * input, summed left to right without fusing:
 *   y = ((w00 * x00 + w01 * x01) + w10 * x10) + w11 * x11      (first index: the ONNX-outer axis)
 * x is viewed physically as [A, inP, B, inQ, C] and y as [A, outP, B, outQ, C]: P is the physically
 * outer of the two axes. tP and tQ hold 2 taps per output index (i32 src0, f32 w0, i32 src1, f32 w1).
 * qOuter = 0 when P is the ONNX-outer axis (the sum runs p0q0, p0q1, p1q0, p1q1), 1 when Q is
 * (p0q0, p1q0, p0q1, p1q1). y and x must not overlap.
 */
export function resize_f32_bilinear(
  y: usize, x: usize, tP: usize, tQ: usize, A: i32, B: i32, C: i32, inP: i32, outP: i32, inQ: i32, outQ: i32, qOuter: i32,
): void {
  const cb = <usize>C << 2;
  for (let a = 0; a < A; a++) {
    for (let i = 0; i < outP; i++) {
      const ep = tP + (<usize>i << 4);
      const p0 = load<i32>(ep), wp0 = load<f32>(ep, 4), p1 = load<i32>(ep, 8), wp1 = load<f32>(ep, 12);
      for (let b = 0; b < B; b++) {
        const r0 = x + ((<usize>a * <usize>inP + <usize>p0) * <usize>B + <usize>b) * <usize>inQ * cb;
        const r1 = x + ((<usize>a * <usize>inP + <usize>p1) * <usize>B + <usize>b) * <usize>inQ * cb;
        const yr = y + ((<usize>a * <usize>outP + <usize>i) * <usize>B + <usize>b) * <usize>outQ * cb;
        let j = 0;
        if (ASC_FEATURE_SIMD) {
          if (C == 1) {
            const vp0 = f32x4.splat(wp0), vp1 = f32x4.splat(wp1);
            for (; j + 4 <= outQ; j += 4) {
              const e = tQ + (<usize>j << 4);
              const q00 = <usize>load<i32>(e) << 2, q01 = <usize>load<i32>(e, 8) << 2;
              const q10 = <usize>load<i32>(e, 16) << 2, q11 = <usize>load<i32>(e, 24) << 2;
              const q20 = <usize>load<i32>(e, 32) << 2, q21 = <usize>load<i32>(e, 40) << 2;
              const q30 = <usize>load<i32>(e, 48) << 2, q31 = <usize>load<i32>(e, 56) << 2;
              const wq0 = f32x4(load<f32>(e, 4), load<f32>(e, 20), load<f32>(e, 36), load<f32>(e, 52));
              const wq1 = f32x4(load<f32>(e, 12), load<f32>(e, 28), load<f32>(e, 44), load<f32>(e, 60));
              const x00 = f32x4(load<f32>(r0 + q00), load<f32>(r0 + q10), load<f32>(r0 + q20), load<f32>(r0 + q30));
              const x01 = f32x4(load<f32>(r0 + q01), load<f32>(r0 + q11), load<f32>(r0 + q21), load<f32>(r0 + q31));
              const x10 = f32x4(load<f32>(r1 + q00), load<f32>(r1 + q10), load<f32>(r1 + q20), load<f32>(r1 + q30));
              const x11 = f32x4(load<f32>(r1 + q01), load<f32>(r1 + q11), load<f32>(r1 + q21), load<f32>(r1 + q31));
              v128.store(yr + (<usize>j << 2), bilinear4(vp0, vp1, wq0, wq1, x00, x01, x10, x11, qOuter));
            }
          }
        }
        for (; j < outQ; j++) {
          const e = tQ + (<usize>j << 4);
          const q0 = <usize>load<i32>(e) * cb, q1 = <usize>load<i32>(e, 8) * cb;
          const wq0 = load<f32>(e, 4), wq1 = load<f32>(e, 12);
          const w00: f32 = wp0 * wq0, w01: f32 = wp0 * wq1, w10: f32 = wp1 * wq0, w11: f32 = wp1 * wq1;
          const s00 = r0 + q0, s01 = r0 + q1, s10 = r1 + q0, s11 = r1 + q1;
          const yo = yr + <usize>j * cb;
          let c = 0;
          if (ASC_FEATURE_SIMD) {
            const v00 = f32x4.splat(w00), v01 = f32x4.splat(w01), v10 = f32x4.splat(w10), v11 = f32x4.splat(w11);
            for (; c + 4 <= C; c += 4) {
              const k = <usize>c << 2;
              const t00 = f32x4.mul(v00, v128.load(s00 + k)), t01 = f32x4.mul(v01, v128.load(s01 + k));
              const t10 = f32x4.mul(v10, v128.load(s10 + k)), t11 = f32x4.mul(v11, v128.load(s11 + k));
              const s = qOuter ? f32x4.add(f32x4.add(t00, t10), t01) : f32x4.add(f32x4.add(t00, t01), t10);
              v128.store(yo + k, f32x4.add(s, t11));
            }
          }
          for (; c < C; c++) {
            const k = <usize>c << 2;
            const t00: f32 = w00 * load<f32>(s00 + k), t01: f32 = w01 * load<f32>(s01 + k);
            const t10: f32 = w10 * load<f32>(s10 + k), t11: f32 = w11 * load<f32>(s11 + k);
            const s: f32 = qOuter ? t00 + t10 + t01 : t00 + t01 + t10;
            store<f32>(yo + k, s + t11);
          }
        }
      }
    }
  }
}

/** Four outputs of resize_f32_bilinear along a contiguous Q (C = 1): weights per lane. */
// @ts-ignore: decorator
@inline function bilinear4(vp0: v128, vp1: v128, wq0: v128, wq1: v128, x00: v128, x01: v128, x10: v128, x11: v128, qOuter: i32): v128 {
  const t00 = f32x4.mul(f32x4.mul(vp0, wq0), x00), t01 = f32x4.mul(f32x4.mul(vp0, wq1), x01);
  const t10 = f32x4.mul(f32x4.mul(vp1, wq0), x10), t11 = f32x4.mul(f32x4.mul(vp1, wq1), x11);
  const s = qOuter ? f32x4.add(f32x4.add(t00, t10), t01) : f32x4.add(f32x4.add(t00, t01), t10);
  return f32x4.add(s, t11);
}
