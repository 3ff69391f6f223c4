// Local response normalization across channels (ONNX LRN) on channels-last tensors, viewed as
// row-major [rows, C] with rows = N*H*W. With lo = floor((size - 1) / 2), hi = ceil((size - 1) / 2)
// (ONNX's window: centred for odd sizes, one more channel after than before for even ones):
//   S[p, c] = sum of x[p, i]^2 for i in [c - lo, c + hi] clipped to [0, C)
//   d[p, c] = bias + alpha / size * S[p, c]
//   y[p, c] = x[p, c] * d[p, c]^(-beta)
// Per pixel, the window sum is one shifted pass over the contiguous channel run per shift d in
// [-lo, hi] that lands inside the run (|d| < C: the work never grows with a size above 2C), each a
// SIMD loop (no edge special cases: each shift d only covers the channels c with c + d in [0, C)).
// d^(-beta) is exact-rounding SIMD (sqrt/div) for beta in {0.5, 0.75, 1}; other betas use Mathf.pow
// per lane. The host must keep d > 0 (bias > 0, alpha >= 0).
// Pointers are byte addresses, 4-byte aligned. Workspaces `ws` are host-allocated scratch.

import { madd } from "./simd";

// The d^(-beta) evaluation path, picked once per call.
const POW_ANY: i32 = 0;
const POW_HALF: i32 = 1;
const POW_THREE_QUARTERS: i32 = 2;
const POW_ONE: i32 = 3;

// @ts-ignore: decorator
@inline function powMode(beta: f32): i32 {
  if (beta == 0.5) return POW_HALF;
  if (beta == 0.75) return POW_THREE_QUARTERS;
  if (beta == 1) return POW_ONE;
  return POW_ANY;
}

/** d^(-beta), lane-wise. */
// @ts-ignore: decorator
@inline function powNegV(d: v128, beta: f32, mode: i32): v128 {
  const one = f32x4.splat(1);
  if (mode == POW_HALF) return f32x4.div(one, f32x4.sqrt(d));
  if (mode == POW_THREE_QUARTERS) {
    const s = f32x4.sqrt(d);
    return f32x4.div(one, f32x4.mul(s, f32x4.sqrt(s)));
  }
  if (mode == POW_ONE) return f32x4.div(one, d);
  let r = f32x4.splat(Mathf.pow(f32x4.extract_lane(d, 0), -beta));
  r = f32x4.replace_lane(r, 1, Mathf.pow(f32x4.extract_lane(d, 1), -beta));
  r = f32x4.replace_lane(r, 2, Mathf.pow(f32x4.extract_lane(d, 2), -beta));
  return f32x4.replace_lane(r, 3, Mathf.pow(f32x4.extract_lane(d, 3), -beta));
}

/** d^(-beta) for one value; the same formulas as powNegV so the builds agree closely. */
// @ts-ignore: decorator
@inline function powNeg(d: f32, beta: f32, mode: i32): f32 {
  if (mode == POW_HALF) return <f32>1 / Mathf.sqrt(d);
  if (mode == POW_THREE_QUARTERS) {
    const s = Mathf.sqrt(d);
    return <f32>1 / (s * Mathf.sqrt(s));
  }
  if (mode == POW_ONE) return <f32>1 / d;
  return Mathf.pow(d, -beta);
}

/**
 * out[c] = bias + k * sum over i in [c - before, c + after] ∩ [0, C) of src[i]^2 (square = 1) or
 * src[i] (square = 0), for one pixel's run of C channels. before, after >= 0.
 */
function windowSum(out: usize, src: usize, C: i32, before: i32, after: i32, k: f32, bias: f32, square: bool): void {
  memory.fill(out, 0, <usize>C << 2);
  for (let d = -min(before, C - 1), dEnd = min(after, C - 1); d <= dEnd; d++) {
    let c = max(0, -d);
    const end = min(C, C - d);
    const s = src + (<usize>(<isize>d << 2));
    if (ASC_FEATURE_SIMD) {
      for (; c + 4 <= end; c += 4) {
        const o = <usize>c << 2;
        const v = v128.load(s + o);
        v128.store(out + o, f32x4.add(v128.load(out + o), square ? f32x4.mul(v, v) : v));
      }
    }
    for (; c < end; c++) {
      const o = <usize>c << 2;
      const v = load<f32>(s + o);
      store<f32>(out + o, load<f32>(out + o) + (square ? v * v : v));
    }
  }
  if (k == 1 && bias == 0) return;
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    const vk = f32x4.splat(k);
    const vb = f32x4.splat(bias);
    for (; c + 4 <= C; c += 4) {
      const o = <usize>c << 2;
      v128.store(out + o, f32x4.add(f32x4.mul(vk, v128.load(out + o)), vb));
    }
  }
  for (; c < C; c++) {
    const o = <usize>c << 2;
    store<f32>(out + o, k * load<f32>(out + o) + bias);
  }
}

/**
 * Forward: y[p, c] = x[p, c] * (bias + alpha/size * S[p, c])^(-beta).
 * y, x: (rows, C); y may alias x. size >= 1. ws: C floats.
 */
export function lrn_f32_forward(
  y: usize, x: usize, ws: usize, rows: i32, C: i32, size: i32, alpha: f32, beta: f32, bias: f32,
): void {
  const lo = (size - 1) >> 1, hi = size >> 1;
  const k = alpha / <f32>size;
  const mode = powMode(beta);
  const rowBytes = <usize>C << 2;
  for (let p = 0; p < rows; p++) {
    const xr = x + <usize>p * rowBytes;
    const yr = y + <usize>p * rowBytes;
    windowSum(ws, xr, C, lo, hi, k, bias, true);
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 4 <= C; c += 4) {
        const o = <usize>c << 2;
        v128.store(yr + o, f32x4.mul(v128.load(xr + o), powNegV(v128.load(ws + o), beta, mode)));
      }
    }
    for (; c < C; c++) {
      const o = <usize>c << 2;
      store<f32>(yr + o, load<f32>(xr + o) * powNeg(load<f32>(ws + o), beta, mode));
    }
  }
}

/**
 * Backward: with d as above and t[p, i] = dy[p, i] * y[p, i] / d[p, i],
 *   dx[p, c] += dy[p, c] * d[p, c]^(-beta) - 2 * beta * alpha/size * x[p, c] * sum_{i : c in window(i)} t[p, i]
 * where c is in window(i) for i in [c - hi, c + lo] (the window mirrored: the same as window(c)
 * for odd sizes). dx, dy, x, y: (rows, C), y the forward output; dx must not alias dy, x or y.
 * ws: 3*C floats.
 */
export function lrn_f32_backward(
  dx: usize, dy: usize, x: usize, y: usize, ws: usize,
  rows: i32, C: i32, size: i32, alpha: f32, beta: f32, bias: f32,
): void {
  const lo = (size - 1) >> 1, hi = size >> 1;
  const k = alpha / <f32>size;
  const mode = powMode(beta);
  const coef: f32 = <f32>-2 * beta * k;
  const rowBytes = <usize>C << 2;
  const den = ws;
  const t = ws + rowBytes;
  const tsum = ws + 2 * rowBytes;
  for (let p = 0; p < rows; p++) {
    const off = <usize>p * rowBytes;
    const xr = x + off, yr = y + off, gr = dy + off, dr = dx + off;
    windowSum(den, xr, C, lo, hi, k, bias, true);
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 4 <= C; c += 4) {
        const o = <usize>c << 2;
        v128.store(t + o, f32x4.div(f32x4.mul(v128.load(gr + o), v128.load(yr + o)), v128.load(den + o)));
      }
    }
    for (; c < C; c++) {
      const o = <usize>c << 2;
      store<f32>(t + o, load<f32>(gr + o) * load<f32>(yr + o) / load<f32>(den + o));
    }
    windowSum(tsum, t, C, hi, lo, 1, 0, false);
    c = 0;
    if (ASC_FEATURE_SIMD) {
      const vcoef = f32x4.splat(coef);
      for (; c + 4 <= C; c += 4) {
        const o = <usize>c << 2;
        let acc = madd(v128.load(gr + o), powNegV(v128.load(den + o), beta, mode), v128.load(dr + o));
        acc = madd(f32x4.mul(vcoef, v128.load(xr + o)), v128.load(tsum + o), acc);
        v128.store(dr + o, acc);
      }
    }
    for (; c < C; c++) {
      const o = <usize>c << 2;
      const g = load<f32>(gr + o) * powNeg(load<f32>(den + o), beta, mode);
      store<f32>(dr + o, load<f32>(dr + o) + g + coef * load<f32>(xr + o) * load<f32>(tsum + o));
    }
  }
}
