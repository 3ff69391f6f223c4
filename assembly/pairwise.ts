// Pairwise float32 sums shared by the reduction and normalisation kernels (not wasm exports: the
// entry re-exports neither this module nor its v128 helpers). A row's terms are summed BLOCK at a
// time with SIMD lanes, and the block sums pairwise (halving the row), so the rounding error grows
// with log2(n / BLOCK) + BLOCK / 8 rather than with n.

import { hsum } from "./simd";
import { vmath } from "./activation";

// reduction kinds (src/graph/ops/reduce.ts mirrors them)
export const SUM: i32 = 0;
export const MEAN: i32 = 1;
export const SUM_SQUARE: i32 = 2;
export const L1: i32 = 3;
export const L2: i32 = 4;
export const LOG_SUM_EXP: i32 = 5;
export const MAX: i32 = 6;
export const MIN: i32 = 7;
export const PROD: i32 = 8;
/** (v - shift)^2: the variance of the normalisations (not an ONNX reduction). */
export const SQUARED_DEVIATION: i32 = 9;

/** Terms per partial sum. */
export const BLOCK: i32 = 128;

/** The value a sum-like kind adds for element v (shift: LOG_SUM_EXP's max). */
// @ts-ignore: decorator
@inline export function term(v: f32, kind: i32, shift: f32): f32 {
  if (kind == SUM_SQUARE || kind == L2) return v * v;
  if (kind == L1) return Mathf.abs(v);
  if (kind == LOG_SUM_EXP) return vmath.expf(v - shift);
  if (kind == SQUARED_DEVIATION) {
    const d = v - shift;
    return d * d;
  }
  return v;
}

// @ts-ignore: decorator
@inline export function term4(v: v128, kind: i32, shift: v128): v128 {
  if (kind == SUM_SQUARE || kind == L2) return f32x4.mul(v, v);
  if (kind == L1) return f32x4.abs(v);
  if (kind == LOG_SUM_EXP) return vmath.exp4(f32x4.sub(v, shift));
  if (kind == SQUARED_DEVIATION) {
    const d = f32x4.sub(v, shift);
    return f32x4.mul(d, d);
  }
  return v;
}

/** Sum of term(x[i]) for i < n (n <= BLOCK, or any n: the caller splits long rows). */
// @ts-ignore: decorator
@inline function chunkSum(x: usize, n: i32, kind: i32, shift: f32): f32 {
  let s: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const sh = f32x4.splat(shift);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    for (; i + 8 <= n; i += 8) {
      const o = <usize>i << 2;
      a0 = f32x4.add(a0, term4(v128.load(x + o), kind, sh));
      a1 = f32x4.add(a1, term4(v128.load(x + o + 16), kind, sh));
    }
    if (i + 4 <= n) {
      a0 = f32x4.add(a0, term4(v128.load(x + (<usize>i << 2)), kind, sh));
      i += 4;
    }
    s = hsum(f32x4.add(a0, a1));
  }
  for (; i < n; i++) s += term(load<f32>(x + (<usize>i << 2)), kind, shift);
  return s;
}

/** Pairwise sum of term(x[i]) for i < n (any n >= 0): halves down to BLOCK elements. */
export function rowSum(x: usize, n: i32, kind: i32, shift: f32): f32 {
  if (n <= BLOCK) {
    if (kind == SUM_SQUARE || kind == L2) return chunkSum(x, n, SUM_SQUARE, shift);
    if (kind == L1) return chunkSum(x, n, L1, shift);
    if (kind == LOG_SUM_EXP) return chunkSum(x, n, LOG_SUM_EXP, shift);
    if (kind == SQUARED_DEVIATION) return chunkSum(x, n, SQUARED_DEVIATION, shift);
    return chunkSum(x, n, SUM, shift);
  }
  const h = ((n >> 1) + 3) & ~3;
  return rowSum(x, h, kind, shift) + rowSum(x + (<usize>h << 2), n - h, kind, shift);
}


// ---------------------------------------------------------------------------------------------
// lanes and the pairwise cascade of partial sums (w lanes each)

/** dst[j] = v for j < w. */
export function fillLanes(dst: usize, v: f32, w: i32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    const s = f32x4.splat(v);
    for (; j + 4 <= w; j += 4) v128.store(dst + (<usize>j << 2), s);
  }
  for (; j < w; j++) store<f32>(dst + (<usize>j << 2), v);
}

/** dst[j] += src[j] for j < w. */
export function addLanes(dst: usize, src: usize, w: i32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    for (; j + 4 <= w; j += 4) {
      const o = <usize>j << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
  }
  for (; j < w; j++) {
    const o = <usize>j << 2;
    store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
  }
}

/**
 * Pushes the partial `part` (w lanes) into the pairwise cascade at `levels` (level k at
 * levels + k * w floats) holding `count` partials so far; returns count + 1. `part` is consumed.
 */
export function cascadePush(part: usize, levels: usize, w: i32, count: i32): i32 {
  const stride = <usize>w << 2;
  let k = 0;
  for (let c = count; c & 1; c >>= 1) {
    addLanes(part, levels + <usize>k * stride, w);
    k++;
  }
  memory.copy(levels + <usize>k * stride, part, stride);
  return count + 1;
}

/** dst = the sum of the cascade's levels (the total of every partial pushed). */
export function cascadeTotal(dst: usize, levels: usize, w: i32, count: i32): void {
  fillLanes(dst, 0, w);
  const stride = <usize>w << 2;
  for (let k = 0; count >> k; k++) if ((count >> k) & 1) addLanes(dst, levels + <usize>k * stride, w);
}

