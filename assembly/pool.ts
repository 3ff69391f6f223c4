// 2-D pooling over NHWC tensors: max (with arg-max) and average, forward and backward.
// SIMD lanes run over channels (C is innermost in NHWC): one f32x4 holds 4 neighbouring channels
// of one pixel, so every tap of a window is one contiguous 16-byte load.
//
// Geometry: the "pool" parameter block at `p` (src/kernels/params.ts, its readers generated into
// params.generated.ts), written and checked by the host (src/ops/pool.ts):
//   n, h, w, c        input x [n, h, w, c]
//   oh, ow            output y [n, oh, ow, c]
//   kh, kw            kernel size (taps)
//   sh, sw            strides
//   dh, dw            dilations (tap spacing)
//   padTop, padLeft, padBottom, padRight   zero-size padding: padded cells are never read
//   countIncludePad   average pooling's divisor (see windowCount)
//   rowBegin, rowEnd  the output rows b*oh + oy a forward call computes (threads each take a range)
// Each exported kernel reads the block once and runs a function of plain arguments.
// Window (oy, ox) has taps at input row oy*sh - padTop + ky*dh, column ox*sw - padLeft + kx*dw.
// Taps outside the input are skipped: they never win a max and never receive a gradient.
// The host guarantees every max-pool window (and every average window without
// countIncludePad) holds at least one tap inside the input.
//
// Arg-max indices are FLAT element indices into the whole x tensor (NHWC, batch included):
// argmax = ((b*h + iy)*w + ix)*c + ch. Ties keep the first maximum in row-major window scan order.

import {
  poolC, poolCountIncludePad, poolDh, poolDw, poolH, poolKh, poolKw, poolN, poolOh, poolOw, poolPadBottom, poolPadLeft,
  poolPadRight, poolPadTop, poolRowBegin, poolRowEnd, poolSh, poolSw, poolW,
} from "./params.generated";
import { columnSumsF64 } from "./sums";

/** First tap k >= 0 with i0 + k*d >= lo (taps before it fall off the low edge). */
// @ts-ignore: decorator
@inline function tapBegin(i0: i32, d: i32, lo: i32): i32 {
  return i0 >= lo ? 0 : (lo - i0 + d - 1) / d;
}

/** One past the last tap k < k_n with i0 + k*d < hi (taps from it on fall off the high edge). */
// @ts-ignore: decorator
@inline function tapEnd(i0: i32, d: i32, hi: i32, kn: i32): i32 {
  return i0 >= hi ? 0 : min(kn, (hi - i0 + d - 1) / d);
}

/**
 * Max pooling forward: y[b, oy, ox, ch] = max over the window's in-input taps of x, and
 * argmax[b, oy, ox, ch] = the flat index into x of that maximum (first one on ties; a NaN wins,
 * as in PyTorch). y f32 and argmax i32 are [n, oh, ow, c]; x is [n, h, w, c]. Computes the
 * output rows r = b*oh + oy in [rowBegin, rowEnd) (threads each take a range; 0, n*oh: all).
 */
export function maxpool2d_f32_forward(y: usize, argmax: usize, x: usize, p: usize): void {
  maxpoolRows(
    y, argmax, x, poolN(p), poolH(p), poolW(p), poolC(p), poolOh(p), poolOw(p), poolKh(p), poolKw(p), poolSh(p), poolSw(p),
    poolDh(p), poolDw(p), poolPadTop(p), poolPadLeft(p), poolPadBottom(p), poolPadRight(p), poolRowBegin(p), poolRowEnd(p),
  );
}

function maxpoolRows(
  y: usize, argmax: usize, x: usize,
  n: i32, h: i32, w: i32, c: i32, oh: i32, ow: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, dh: i32, dw: i32, padTop: i32, padLeft: i32, padBottom: i32, padRight: i32,
  rowBegin: i32, rowEnd: i32,
): void {
  for (let r = max(rowBegin, 0), re = min(rowEnd, n * oh); r < re; r++) {
    const b = r / oh, oy = r - b * oh;
    const img = b * h * w; // pixel index of x[b, 0, 0]
    let out = r * ow * c; // flat index of y[b, oy, ox, 0]
    const iy0 = oy * sh - padTop;
    const ky0 = tapBegin(iy0, dh, 0), ky1 = tapEnd(iy0, dh, h, kh);
    for (let ox = 0; ox < ow; ox++, out += c) {
      const ix0 = ox * sw - padLeft;
      const kx0 = tapBegin(ix0, dw, 0), kx1 = tapEnd(ix0, dw, w, kw);
      // flat index of x[b, first tap row, first tap col, 0]
      const first = (img + (iy0 + ky0 * dh) * w + ix0 + kx0 * dw) * c;
      let ch = 0;
      if (ASC_FEATURE_SIMD) {
        // this pixel and the next together when their windows have the same taps (all but the edges)
        if ((c & 7) == 0 && ox + 1 < ow && tapBegin(ix0 + sw, dw, 0) == kx0 && tapEnd(ix0 + sw, dw, w, kw) == kx1) {
          maxPair8(y + (<usize>out << 2), argmax + (<usize>out << 2), x, first, c, sw * c, dh * w * c, dw * c, ky1 - ky0, kx1 - kx0);
          ox++;
          out += c;
          continue;
        }
        const lanes = i32x4(0, 1, 2, 3);
        const lanesHi = i32x4(4, 5, 6, 7);
        // Two channel blocks per pass: two independent compare/select chains.
        for (; ch + 8 <= c; ch += 8) {
          const p0 = x + (<usize>(first + ch) << 2);
          let best0 = v128.load(p0), best1 = v128.load(p0, 16);
          let at0 = i32x4.add(i32x4.splat(first + ch), lanes), at1 = i32x4.add(i32x4.splat(first + ch), lanesHi);
          for (let ky = ky0; ky < ky1; ky++) {
            const row = (img + (iy0 + ky * dh) * w + ix0) * c + ch;
            for (let kx = kx0; kx < kx1; kx++) {
              const at = row + kx * dw * c;
              const p = x + (<usize>at << 2);
              const v0 = v128.load(p), v1 = v128.load(p, 16);
              const take0 = v128.or(f32x4.gt(v0, best0), f32x4.ne(v0, v0));
              const take1 = v128.or(f32x4.gt(v1, best1), f32x4.ne(v1, v1));
              const vat = i32x4.splat(at);
              best0 = v128.bitselect(v0, best0, take0);
              best1 = v128.bitselect(v1, best1, take1);
              at0 = v128.bitselect(i32x4.add(vat, lanes), at0, take0);
              at1 = v128.bitselect(i32x4.add(vat, lanesHi), at1, take1);
            }
          }
          const q = <usize>(out + ch) << 2;
          v128.store(y + q, best0);
          v128.store(y + q, best1, 16);
          v128.store(argmax + q, at0);
          v128.store(argmax + q, at1, 16);
        }
        for (; ch + 4 <= c; ch += 4) {
          let best = v128.load(x + (<usize>(first + ch) << 2));
          let bestAt = i32x4.add(i32x4.splat(first + ch), lanes);
          for (let ky = ky0; ky < ky1; ky++) {
            const row = (img + (iy0 + ky * dh) * w + ix0) * c + ch;
            for (let kx = kx0; kx < kx1; kx++) {
              const at = row + kx * dw * c;
              const v = v128.load(x + (<usize>at << 2));
              const take = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
              best = v128.bitselect(v, best, take);
              bestAt = v128.bitselect(i32x4.add(i32x4.splat(at), lanes), bestAt, take);
            }
          }
          v128.store(y + (<usize>(out + ch) << 2), best);
          v128.store(argmax + (<usize>(out + ch) << 2), bestAt);
        }
      }
      for (; ch < c; ch++) {
        let best = load<f32>(x + (<usize>(first + ch) << 2));
        let bestAt = first + ch;
        for (let ky = ky0; ky < ky1; ky++) {
          const row = (img + (iy0 + ky * dh) * w + ix0) * c + ch;
          for (let kx = kx0; kx < kx1; kx++) {
            const at = row + kx * dw * c;
            const v = load<f32>(x + (<usize>at << 2));
            if (v > best || v != v) {
              best = v;
              bestAt = at;
            }
          }
        }
        store<f32>(y + (<usize>(out + ch) << 2), best);
        store<i32>(argmax + (<usize>(out + ch) << 2), bestAt);
      }
    }
  }
}

/**
 * Two neighbouring output pixels of maxpool2d_f32_forward with the same taps (rows x cols of them),
 * C % 8 == 0: four independent compare/select chains (8 channels of each pixel) where one pixel
 * has two, each chain with the single pixel's rule and order. yp, ap: y and argmax at the first
 * pixel; first: flat index of its first tap; the second pixel's taps lie `next` elements on;
 * rowStep, colStep: elements between tap rows and tap columns.
 */
function maxPair8(yp: usize, ap: usize, x: usize, first: i32, c: i32, next: i32, rowStep: i32, colStep: i32, rows: i32, cols: i32): void {
  const lanes = i32x4(0, 1, 2, 3), lanesHi = i32x4(4, 5, 6, 7);
  const nextB = <usize>next << 2;
  for (let ch = 0; ch < c; ch += 8) {
    const p0 = x + (<usize>(first + ch) << 2);
    let best0 = v128.load(p0), best1 = v128.load(p0, 16), best2 = v128.load(p0 + nextB), best3 = v128.load(p0 + nextB, 16);
    const a = i32x4.splat(first + ch), b = i32x4.splat(first + next + ch);
    let at0 = i32x4.add(a, lanes), at1 = i32x4.add(a, lanesHi), at2 = i32x4.add(b, lanes), at3 = i32x4.add(b, lanesHi);
    for (let ky = 0; ky < rows; ky++) {
      let tap = first + ch + ky * rowStep;
      for (let kx = 0; kx < cols; kx++, tap += colStep) {
        const p = x + (<usize>tap << 2);
        const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p + nextB), v3 = v128.load(p + nextB, 16);
        const take0 = v128.or(f32x4.gt(v0, best0), f32x4.ne(v0, v0));
        const take1 = v128.or(f32x4.gt(v1, best1), f32x4.ne(v1, v1));
        const take2 = v128.or(f32x4.gt(v2, best2), f32x4.ne(v2, v2));
        const take3 = v128.or(f32x4.gt(v3, best3), f32x4.ne(v3, v3));
        best0 = v128.bitselect(v0, best0, take0);
        best1 = v128.bitselect(v1, best1, take1);
        best2 = v128.bitselect(v2, best2, take2);
        best3 = v128.bitselect(v3, best3, take3);
        const ta = i32x4.splat(tap), tb = i32x4.splat(tap + next);
        at0 = v128.bitselect(i32x4.add(ta, lanes), at0, take0);
        at1 = v128.bitselect(i32x4.add(ta, lanesHi), at1, take1);
        at2 = v128.bitselect(i32x4.add(tb, lanes), at2, take2);
        at3 = v128.bitselect(i32x4.add(tb, lanesHi), at3, take3);
      }
    }
    const q = <usize>ch << 2, cB = <usize>c << 2;
    v128.store(yp + q, best0);
    v128.store(yp + q, best1, 16);
    v128.store(yp + cB + q, best2);
    v128.store(yp + cB + q, best3, 16);
    v128.store(ap + q, at0);
    v128.store(ap + q, at1, 16);
    v128.store(ap + cB + q, at2);
    v128.store(ap + cB + q, at3, 16);
  }
}

/**
 * Max pooling backward (also global max pooling's): dx[argmax[i]] += dy[i] for i < count, where
 * argmax holds flat indices into dx (size xSize) as written by maxpool2d_f32_forward.
 * Validates first and writes nothing unless every index is in [0, xSize): returns -1 on success,
 * else the position i of the first bad index.
 */
export function maxpool2d_f32_backward(dx: usize, dy: usize, argmax: usize, count: i32, xSize: i32): i32 {
  // Pass 1: range check (unsigned compare also rejects negative indices).
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const limit = i32x4.splat(xSize);
    for (; i + 4 <= count; i += 4) {
      if (!i32x4.all_true(i32x4.lt_u(v128.load(argmax + (<usize>i << 2)), limit))) break; // the tail finds which
    }
  }
  for (; i < count; i++) {
    if (<u32>load<i32>(argmax + (<usize>i << 2)) >= <u32>xSize) return i;
  }
  // Pass 2: scatter-add. Lanes are read as vectors, the adds are scattered one by one (the four
  // targets are arbitrary addresses; overlapping windows may route several dy to one dx).
  i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= count; i += 4) {
      const o = <usize>i << 2;
      const g = v128.load(dy + o);
      const at = v128.load(argmax + o);
      const p0 = dx + (<usize>i32x4.extract_lane(at, 0) << 2);
      store<f32>(p0, load<f32>(p0) + f32x4.extract_lane(g, 0));
      const p1 = dx + (<usize>i32x4.extract_lane(at, 1) << 2);
      store<f32>(p1, load<f32>(p1) + f32x4.extract_lane(g, 1));
      const p2 = dx + (<usize>i32x4.extract_lane(at, 2) << 2);
      store<f32>(p2, load<f32>(p2) + f32x4.extract_lane(g, 2));
      const p3 = dx + (<usize>i32x4.extract_lane(at, 3) << 2);
      store<f32>(p3, load<f32>(p3) + f32x4.extract_lane(g, 3));
    }
  }
  for (; i < count; i++) {
    const o = <usize>i << 2;
    const p = dx + (<usize>load<i32>(argmax + o) << 2);
    store<f32>(p, load<f32>(p) + load<f32>(dy + o));
  }
  return -1;
}

/** Divisor of window (iy0, ix0): its taps inside the input, or (countIncludePad) inside the
 *  padded input; taps that ceil mode adds beyond the padded input never count. */
// @ts-ignore: decorator
@inline function windowCount(
  iy0: i32, ix0: i32, h: i32, w: i32, kh: i32, kw: i32, dh: i32, dw: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, countIncludePad: bool,
): i32 {
  if (countIncludePad) {
    const rows = tapEnd(iy0, dh, h + padBottom, kh) - tapBegin(iy0, dh, -padTop);
    const cols = tapEnd(ix0, dw, w + padRight, kw) - tapBegin(ix0, dw, -padLeft);
    return max(rows, 0) * max(cols, 0);
  }
  return max(tapEnd(iy0, dh, h, kh) - tapBegin(iy0, dh, 0), 0) * max(tapEnd(ix0, dw, w, kw) - tapBegin(ix0, dw, 0), 0);
}

/**
 * Average pooling forward: y[b, oy, ox, ch] = (sum of the window's in-input taps of x) / count,
 * count as in ONNX AveragePool (see windowCount); a window with count 0 gives 0.
 * y is [n, oh, ow, c]; x is [n, h, w, c]. Global average pooling is the case kh = h, kw = w.
 * Computes the output rows r = b*oh + oy in [rowBegin, rowEnd), as maxpool2d_f32_forward.
 */
export function avgpool2d_f32_forward(y: usize, x: usize, p: usize): void {
  avgpoolRows(
    y, x, poolN(p), poolH(p), poolW(p), poolC(p), poolOh(p), poolOw(p), poolKh(p), poolKw(p), poolSh(p), poolSw(p), poolDh(p),
    poolDw(p), poolPadTop(p), poolPadLeft(p), poolPadBottom(p), poolPadRight(p), poolCountIncludePad(p) != 0, poolRowBegin(p), poolRowEnd(p),
  );
}

function avgpoolRows(
  y: usize, x: usize,
  n: i32, h: i32, w: i32, c: i32, oh: i32, ow: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, dh: i32, dw: i32, padTop: i32, padLeft: i32, padBottom: i32, padRight: i32,
  countIncludePad: bool, rowBegin: i32, rowEnd: i32,
): void {
  for (let r = max(rowBegin, 0), re = min(rowEnd, n * oh); r < re; r++) {
    const b = r / oh, oy = r - b * oh;
    const img = b * h * w;
    let out = r * ow * c;
    const iy0 = oy * sh - padTop;
    const ky0 = tapBegin(iy0, dh, 0), ky1 = tapEnd(iy0, dh, h, kh);
    for (let ox = 0; ox < ow; ox++, out += c) {
      const ix0 = ox * sw - padLeft;
      const kx0 = tapBegin(ix0, dw, 0), kx1 = tapEnd(ix0, dw, w, kw);
      const count = windowCount(iy0, ix0, h, w, kh, kw, dh, dw, padTop, padLeft, padBottom, padRight, countIncludePad);
      const scale: f32 = count > 0 ? 1 / <f32>count : 0;
      let ch = 0;
      if (ASC_FEATURE_SIMD) {
        const vscale = f32x4.splat(scale);
        // Two channel blocks per pass: two independent add chains.
        for (; ch + 8 <= c; ch += 8) {
          let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
          for (let ky = ky0; ky < ky1; ky++) {
            const row = (img + (iy0 + ky * dh) * w + ix0) * c + ch;
            for (let kx = kx0; kx < kx1; kx++) {
              const p = x + (<usize>(row + kx * dw * c) << 2);
              s0 = f32x4.add(s0, v128.load(p));
              s1 = f32x4.add(s1, v128.load(p, 16));
            }
          }
          const q = y + (<usize>(out + ch) << 2);
          v128.store(q, f32x4.mul(s0, vscale));
          v128.store(q, f32x4.mul(s1, vscale), 16);
        }
        for (; ch + 4 <= c; ch += 4) {
          let s = f32x4.splat(0);
          for (let ky = ky0; ky < ky1; ky++) {
            const row = (img + (iy0 + ky * dh) * w + ix0) * c + ch;
            for (let kx = kx0; kx < kx1; kx++) s = f32x4.add(s, v128.load(x + (<usize>(row + kx * dw * c) << 2)));
          }
          v128.store(y + (<usize>(out + ch) << 2), f32x4.mul(s, vscale));
        }
      }
      for (; ch < c; ch++) {
        let s: f32 = 0;
        for (let ky = ky0; ky < ky1; ky++) {
          const row = (img + (iy0 + ky * dh) * w + ix0) * c + ch;
          for (let kx = kx0; kx < kx1; kx++) s += load<f32>(x + (<usize>(row + kx * dw * c) << 2));
        }
        store<f32>(y + (<usize>(out + ch) << 2), s * scale);
      }
    }
  }
}

/**
 * Average pooling backward: for every window, dx[tap] += dy[window] / count at each in-input tap
 * (padded cells get nothing). dx is [n, h, w, c]; dy is [n, oh, ow, c]. Same geometry and count
 * rule as avgpool2d_f32_forward.
 */
export function avgpool2d_f32_backward(dx: usize, dy: usize, p: usize): void {
  avgpoolBackward(
    dx, dy, poolN(p), poolH(p), poolW(p), poolC(p), poolOh(p), poolOw(p), poolKh(p), poolKw(p), poolSh(p), poolSw(p), poolDh(p),
    poolDw(p), poolPadTop(p), poolPadLeft(p), poolPadBottom(p), poolPadRight(p), poolCountIncludePad(p) != 0,
  );
}

function avgpoolBackward(
  dx: usize, dy: usize,
  n: i32, h: i32, w: i32, c: i32, oh: i32, ow: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, dh: i32, dw: i32, padTop: i32, padLeft: i32, padBottom: i32, padRight: i32,
  countIncludePad: bool,
): void {
  let out = 0;
  for (let b = 0; b < n; b++) {
    const img = b * h * w;
    for (let oy = 0; oy < oh; oy++) {
      const iy0 = oy * sh - padTop;
      const ky0 = tapBegin(iy0, dh, 0), ky1 = tapEnd(iy0, dh, h, kh);
      for (let ox = 0; ox < ow; ox++, out += c) {
        const ix0 = ox * sw - padLeft;
        const kx0 = tapBegin(ix0, dw, 0), kx1 = tapEnd(ix0, dw, w, kw);
        const count = windowCount(iy0, ix0, h, w, kh, kw, dh, dw, padTop, padLeft, padBottom, padRight, countIncludePad);
        const scale: f32 = count > 0 ? 1 / <f32>count : 0;
        let ch = 0;
        if (ASC_FEATURE_SIMD) {
          const vscale = f32x4.splat(scale);
          for (; ch + 4 <= c; ch += 4) {
            const g = f32x4.mul(v128.load(dy + (<usize>(out + ch) << 2)), vscale);
            for (let ky = ky0; ky < ky1; ky++) {
              const row = (img + (iy0 + ky * dh) * w + ix0) * c + ch;
              for (let kx = kx0; kx < kx1; kx++) {
                const p = dx + (<usize>(row + kx * dw * c) << 2);
                v128.store(p, f32x4.add(v128.load(p), g));
              }
            }
          }
        }
        for (; ch < c; ch++) {
          const g = load<f32>(dy + (<usize>(out + ch) << 2)) * scale;
          for (let ky = ky0; ky < ky1; ky++) {
            const row = (img + (iy0 + ky * dh) * w + ix0) * c + ch;
            for (let kx = kx0; kx < kx1; kx++) {
              const p = dx + (<usize>(row + kx * dw * c) << 2);
              store<f32>(p, load<f32>(p) + g);
            }
          }
        }
      }
    }
  }
}

// =============================================================================================
// Max pooling 2x2 stride 2, no padding / dilation (the common case): y[b, oy, ox, ch] = max of
// x[b, 2oy + {0,1}, 2ox + {0,1}, ch], scanned (0,0), (0,1), (1,0), (1,1) with the generic kernel's
// rules (first maximum wins ties, a NaN wins). The host passes oh <= h/2, ow <= w/2. Lanes over
// channels; when C is not a multiple of 4 the last vector starts at C-4 and overlaps the one
// before (rewriting those lanes with the same values); C < 4 runs scalar.
// =============================================================================================

/**
 * maxpool2d_f32_forward for kernel 2x2, stride 2, no padding: y f32 and argmax i32 [n, oh, ow, c];
 * the output rows b*oh + oy in [rowBegin, rowEnd).
 */
export function maxpool2x2_f32_forward(y: usize, argmax: usize, x: usize, p: usize): void {
  maxpool2x2Rows(y, argmax, x, poolN(p), poolH(p), poolW(p), poolC(p), poolOh(p), poolOw(p), poolRowBegin(p), poolRowEnd(p));
}

function maxpool2x2Rows(
  y: usize, argmax: usize, x: usize, n: i32, h: i32, w: i32, c: i32, oh: i32, ow: i32, rowBegin: i32, rowEnd: i32,
): void {
  const rowStep = w * c; // elements between the window's two input rows
  for (let r = max(rowBegin, 0), re = min(rowEnd, n * oh); r < re; r++) {
    const b = r / oh, oy = r - b * oh;
    let first = ((b * h + 2 * oy) * w) * c; // flat index of x[b, 2oy, 2ox, 0]
    let out = ((b * oh + oy) * ow) * c; // flat index of y[b, oy, ox, 0]
    for (let ox = 0; ox < ow; ox++, first += 2 * c, out += c) {
      let ch = 0;
      if (ASC_FEATURE_SIMD) {
        if (c >= 4) {
          const lanes = i32x4(0, 1, 2, 3);
          const dC = i32x4.splat(c), dR = i32x4.splat(rowStep);
          for (let done = false; !done; ch += 4) {
            if (ch + 4 >= c) { ch = c - 4; done = true; }
            const p = x + (<usize>(first + ch) << 2);
            const i0 = i32x4.add(i32x4.splat(first + ch), lanes);
            const v0 = v128.load(p), v1 = v128.load(p + (<usize>c << 2));
            const v2 = v128.load(p + (<usize>rowStep << 2)), v3 = v128.load(p + (<usize>(rowStep + c) << 2));
            // the top pair and the bottom pair at once, then the later pair against the earlier:
            // the rule (a later value wins if greater or NaN) picks the same tap in any grouping
            const i2 = i32x4.add(i0, dR);
            const top = v128.or(f32x4.gt(v1, v0), f32x4.ne(v1, v1));
            const bottom = v128.or(f32x4.gt(v3, v2), f32x4.ne(v3, v3));
            const m01 = v128.bitselect(v1, v0, top), m23 = v128.bitselect(v3, v2, bottom);
            const a01 = v128.bitselect(i32x4.add(i0, dC), i0, top), a23 = v128.bitselect(i32x4.add(i2, dC), i2, bottom);
            const take = v128.or(f32x4.gt(m23, m01), f32x4.ne(m23, m23));
            const best = v128.bitselect(m23, m01, take);
            const at = v128.bitselect(a23, a01, take);
            const q = <usize>(out + ch) << 2;
            v128.store(y + q, best);
            v128.store(argmax + q, at);
          }
          continue;
        }
      }
      for (; ch < c; ch++) {
        const i0 = first + ch;
        let best = load<f32>(x + (<usize>i0 << 2)), at = i0;
        const v1 = load<f32>(x + (<usize>(i0 + c) << 2));
        if (v1 > best || v1 != v1) { best = v1; at = i0 + c; }
        const v2 = load<f32>(x + (<usize>(i0 + rowStep) << 2));
        if (v2 > best || v2 != v2) { best = v2; at = i0 + rowStep; }
        const v3 = load<f32>(x + (<usize>(i0 + rowStep + c) << 2));
        if (v3 > best || v3 != v3) { best = v3; at = i0 + rowStep + c; }
        store<f32>(y + (<usize>(out + ch) << 2), best);
        store<i32>(argmax + (<usize>(out + ch) << 2), at);
      }
    }
  }
}

/** Max pooling 2x2 stride 2 without arg-max (inference): y [n, oh, ow, c] from x [n, h, w, c], rows as maxpool2x2_f32_forward. */
export function maxpool2x2_f32_inference(y: usize, x: usize, p: usize): void {
  maxpool2x2InferenceRows(y, x, poolN(p), poolH(p), poolW(p), poolC(p), poolOh(p), poolOw(p), poolRowBegin(p), poolRowEnd(p));
}

function maxpool2x2InferenceRows(y: usize, x: usize, n: i32, h: i32, w: i32, c: i32, oh: i32, ow: i32, rowBegin: i32, rowEnd: i32): void {
  const rowBytes = <usize>(w * c) << 2, cBytes = <usize>c << 2;
  for (let r = max(rowBegin, 0), re = min(rowEnd, n * oh); r < re; r++) {
    const b = r / oh, oy = r - b * oh;
    let xp = x + (<usize>(((b * h + 2 * oy) * w) * c) << 2);
    let yp = y + (<usize>(((b * oh + oy) * ow) * c) << 2);
    let ox = 0;
    if (ASC_FEATURE_SIMD) {
      if (c == 1) {
        // pixels are single floats: de-interleave 8 input columns into 4 outputs
        for (; ox + 4 <= ow; ox += 4) {
          const a0 = v128.load(xp), a1 = v128.load(xp, 16);
          const b0 = v128.load(xp + rowBytes), b1 = v128.load(xp + rowBytes, 16);
          const top = f32x4.max(f32x4.shuffle(a0, a1, 0, 2, 4, 6), f32x4.shuffle(a0, a1, 1, 3, 5, 7));
          const bot = f32x4.max(f32x4.shuffle(b0, b1, 0, 2, 4, 6), f32x4.shuffle(b0, b1, 1, 3, 5, 7));
          v128.store(yp, f32x4.max(top, bot));
          xp += 32;
          yp += 16;
        }
      } else if (c >= 4) {
        for (; ox < ow; ox++) {
          for (let ch = 0, done = false; !done; ch += 4) {
            if (ch + 4 >= c) { ch = c - 4; done = true; }
            const p = xp + (<usize>ch << 2);
            const m = f32x4.max(f32x4.max(v128.load(p), v128.load(p + cBytes)), f32x4.max(v128.load(p + rowBytes), v128.load(p + rowBytes + cBytes)));
            v128.store(yp + (<usize>ch << 2), m);
          }
          xp += 2 * cBytes;
          yp += cBytes;
        }
      }
    }
    for (; ox < ow; ox++) {
      for (let ch = 0; ch < c; ch++) {
        const p = xp + (<usize>ch << 2);
        store<f32>(yp + (<usize>ch << 2), max(max(load<f32>(p), load<f32>(p + cBytes)), max(load<f32>(p + rowBytes), load<f32>(p + rowBytes + cBytes))));
      }
      xp += 2 * cBytes;
      yp += cBytes;
    }
  }
}

/**
 * Global average pooling forward: y[b, 0, 0, ch] = the mean of x[b, :, :, ch] over the hw = h*w
 * pixels, x [n, h, w, c] NHWC, y [n, 1, 1, c]. Summed in float64 (columnSumsF64), so a 224x224
 * image's mean keeps float32 precision.
 */
export function globalavgpool_f32_forward(y: usize, x: usize, n: i32, hw: i32, c: i32): void {
  const scale: f64 = hw > 0 ? 1 / <f64>hw : 0;
  for (let b = 0; b < n; b++) {
    columnSumsF64(y + (<usize>b * <usize>c << 2), x + (<usize>b * <usize>hw * <usize>c << 2), hw, c, scale, false);
  }
}

/**
 * ONNX MaxPool's Indices from maxpool2d_f32_forward's arg-max (idx may be argmax: in place):
 * argmax[i] = ((b*h + iy)*w + ix)*c + ch indexes x in [n, h, w, c] order; idx[i] (i32) is the same
 * element's flat index in ONNX order [n, c, h, w], ((b*c + ch)*h + iy)*w + ix, or with columnMajor
 * (storage_order 1) ((b*c + ch)*w + ix)*h + iy. count elements. Integer division has no SIMD form:
 * one scalar loop in every build.
 */
export function maxpool2d_indices_forward(idx: usize, argmax: usize, count: i32, h: i32, w: i32, c: i32, columnMajor: i32): void {
  for (let i = 0; i < count; i++) {
    const a = load<i32>(argmax + (<usize>i << 2));
    const ch = a % c,
      r = a / c,
      ix = r % w,
      r2 = r / w,
      iy = r2 % h,
      b = r2 / h;
    const plane = (b * c + ch) * h * w;
    store<i32>(idx + (<usize>i << 2), columnMajor ? plane + ix * h + iy : plane + iy * w + ix);
  }
}
