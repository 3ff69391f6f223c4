// Reductions (ONNX ReduceSum, ReduceMean, ReduceSumSquare, ReduceL1, ReduceL2, ReduceLogSumExp,
// ReduceMax, ReduceMin, ReduceProd) over any set of axes of a value stored in any axis order.
//
// The loop (the host builds it from the value's physical layout: src/graph/ops/reduce.ts):
//   x is contiguous in its own axis order; each of its physical axes is KEPT or REDUCED.
//   V     extent of the innermost run of kept axes when x's innermost axis is kept (the vector
//         path: lanes run over V, contiguous in x and in y), else 1;
//   L     extent of the innermost run of reduced axes when x's innermost axis is reduced (the row
//         path: each output reduces rows of L contiguous elements), else 1;
//   kept  an N-d descriptor (assembly/nd.ts) over the other kept axes, operand 0 = x's strides;
//   red   an N-d descriptor over the other reduced axes, operand 0 = x's strides.
//   y     the kept axes in x's order, contiguous: y[k * V + j] for kept position k, lane j.
// The descriptors' counters are the kernels' loop state (threads must not share a descriptor).
// Every kernel here works for empty reductions: an output over no elements is the identity ONNX
// defines (0 for sums, NaN for the mean, -inf / +inf for max / min, 1 for the product, -inf for
// log-sum-exp).
//
// Sums are PAIRWISE: BLOCK terms form a partial (SIMD lanes inside), and partials combine as a
// binary counter (partial k merges with k - 1 others of its size), so the float32 rounding error
// grows with log2(terms / BLOCK) + BLOCK / lanes, not with the number of terms.

import { ND_DESC_WORDS, ND_MAX_RANK, ndDim, ndRank, ndStride } from "./nd";
import { hmax } from "./simd";
import { addLanes, BLOCK, cascadePush, cascadeTotal, fillLanes, L1, L2, LOG_SUM_EXP, MAX, MEAN, MIN, PROD, rowSum, SUM, SUM_SQUARE, term, term4 } from "./pairwise";

const COUNTERS: i32 = ND_DESC_WORDS - ND_MAX_RANK;
/** Lanes per tile of the vector path (its partials stay in L1). */
const REDUCE_TILE: i32 = 256;
/** Levels of a pairwise cascade: enough for 2^31 partials. */
const LEVELS: i32 = 32;

/** Workspace floats reduce_f32_forward needs for V (the tile's partial and its cascade levels). */
export function reduce_f32_workspace(V: i32): i32 {
  return (min(V, REDUCE_TILE) + 1) * (LEVELS + 1);
}

// ---------------------------------------------------------------------------------------------
// N-d odometer over a descriptor's loop (all its axes; operand 0's offset)

/** Zeroes desc's counters; returns the number of positions of its loop (0 when an axis is empty). */
function ndBegin(desc: usize): i32 {
  const r = ndRank(desc);
  let n: i32 = 1;
  for (let a = 0; a < r; a++) {
    n *= ndDim(desc, a);
    store<i32>(desc + (<usize>(COUNTERS + a) << 2), 0);
  }
  return n;
}

/** Steps desc's odometer (last axis fastest); returns the change of operand `k`'s offset (elements). */
function ndNext(desc: usize, k: i32): isize {
  let delta: isize = 0;
  for (let a = ndRank(desc) - 1; a >= 0; a--) {
    const p = desc + (<usize>(COUNTERS + a) << 2);
    const i = load<i32>(p) + 1;
    const d = ndDim(desc, a);
    const s = ndStride(desc, k, a);
    if (i < d) {
      store<i32>(p, i);
      return delta + s;
    }
    store<i32>(p, 0);
    delta -= s * <isize>(d - 1);
  }
  return delta;
}

// ---------------------------------------------------------------------------------------------
// terms and their combination, per kind (kind is a constant after inlining)

/** The identity of a max / min / product. */
// @ts-ignore: decorator
@inline function identity(kind: i32): f32 {
  if (kind == MAX) return -Infinity;
  if (kind == MIN) return Infinity;
  if (kind == PROD) return 1;
  return 0;
}

// @ts-ignore: decorator
@inline function combine(a: f32, b: f32, kind: i32): f32 {
  if (kind == MAX) return max(a, b);
  if (kind == MIN) return min(a, b);
  return a * b;
}

// @ts-ignore: decorator
@inline function combine4(a: v128, b: v128, kind: i32): v128 {
  if (kind == MAX) return f32x4.max(a, b);
  if (kind == MIN) return f32x4.min(a, b);
  return f32x4.mul(a, b);
}

/** The output from a sum-like kind's total s over n terms (shift: LOG_SUM_EXP's max). */
// @ts-ignore: decorator
@inline function finish(s: f32, kind: i32, n: f64, shift: f32): f32 {
  if (kind == MEAN) return <f32>(<f64>s / n);
  if (kind == L2) return Mathf.sqrt(s);
  if (kind == LOG_SUM_EXP) return Mathf.abs(shift) == Infinity || isNaN(shift) ? shift : shift + Mathf.log(s);
  return s;
}

// ---------------------------------------------------------------------------------------------
// the vector path: a tile of w lanes of y, every reduced position adding a row of w elements of x

/** acc[j] = combine(acc[j], x[j]) for j < w (max / min / product). */
// @ts-ignore: decorator
@inline function combineLanes(acc: usize, x: usize, w: i32, kind: i32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    for (; j + 4 <= w; j += 4) {
      const o = <usize>j << 2;
      v128.store(acc + o, combine4(v128.load(acc + o), v128.load(x + o), kind));
    }
  }
  for (; j < w; j++) {
    const o = <usize>j << 2;
    store<f32>(acc + o, combine(load<f32>(acc + o), load<f32>(x + o), kind));
  }
}

/** acc[j] += term(x[j]) for j < w (shift[j]: LOG_SUM_EXP's max per lane). */
// @ts-ignore: decorator
@inline function termLanes(acc: usize, x: usize, shift: usize, w: i32, kind: i32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    for (; j + 4 <= w; j += 4) {
      const o = <usize>j << 2;
      const sh = kind == LOG_SUM_EXP ? v128.load(shift + o) : f32x4.splat(0);
      v128.store(acc + o, f32x4.add(v128.load(acc + o), term4(v128.load(x + o), kind, sh)));
    }
  }
  for (; j < w; j++) {
    const o = <usize>j << 2;
    const sh: f32 = kind == LOG_SUM_EXP ? load<f32>(shift + o) : 0;
    store<f32>(acc + o, load<f32>(acc + o) + term(load<f32>(x + o), kind, sh));
  }
}

/** combineLanes for a runtime kind (the switch picks a specialised loop). */
function combineLanesAny(acc: usize, x: usize, w: i32, kind: i32): void {
  if (kind == MAX) combineLanes(acc, x, w, MAX);
  else if (kind == MIN) combineLanes(acc, x, w, MIN);
  else combineLanes(acc, x, w, PROD);
}

/** termLanes for a runtime kind. */
function termLanesAny(acc: usize, x: usize, shift: usize, w: i32, kind: i32): void {
  if (kind == SUM_SQUARE || kind == L2) termLanes(acc, x, shift, w, SUM_SQUARE);
  else if (kind == L1) termLanes(acc, x, shift, w, L1);
  else if (kind == LOG_SUM_EXP) termLanes(acc, x, shift, w, LOG_SUM_EXP);
  else termLanes(acc, x, shift, w, SUM);
}

/** The vector path of max / min / product for one tile (yt: w lanes of y; xt: x at the tile's first lane). */
function vectorCombine(yt: usize, xt: usize, red: usize, w: i32, kind: i32): void {
  fillLanes(yt, identity(kind), w);
  const nr = ndBegin(red);
  let xo: isize = 0;
  for (let i = 0; i < nr; i++) {
    combineLanesAny(yt, xt + (<usize>xo << 2), w, kind);
    xo += ndNext(red, 0);
  }
}

/** The vector path of a sum-like kind for one tile (LOG_SUM_EXP: yt holds each lane's max on entry). */
function vectorSum(yt: usize, xt: usize, red: usize, ws: usize, w: i32, n: f64, kind: i32): void {
  const part = ws, levels = ws + (<usize>w << 2);
  const nr = ndBegin(red);
  let xo: isize = 0, count = 0;
  for (let b = 0; b < nr; b += BLOCK) {
    fillLanes(part, 0, w);
    const e = min(nr, b + BLOCK);
    for (let i = b; i < e; i++) {
      termLanesAny(part, xt + (<usize>xo << 2), yt, w, kind);
      xo += ndNext(red, 0);
    }
    count = cascadePush(part, levels, w, count);
  }
  cascadeTotal(part, levels, w, count);
  for (let j = 0; j < w; j++) {
    const o = <usize>j << 2;
    const shift: f32 = kind == LOG_SUM_EXP ? load<f32>(yt + o) : 0;
    store<f32>(yt + o, finish(load<f32>(part + o), kind, n, shift));
  }
}

// ---------------------------------------------------------------------------------------------
// the row path: every output reduces rows of L contiguous elements

/** max / min / product of x[i] for i < n. */
// @ts-ignore: decorator
@inline function rowCombineK(x: usize, n: i32, kind: i32): f32 {
  let acc = identity(kind);
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    if (n >= 4) {
      let v = v128.load(x);
      for (i = 4; i + 4 <= n; i += 4) v = combine4(v, v128.load(x + (<usize>i << 2)), kind);
      acc = kind == MAX ? hmax(v) : kind == MIN
        ? min(min(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), min(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)))
        : f32x4.extract_lane(v, 0) * f32x4.extract_lane(v, 1) * (f32x4.extract_lane(v, 2) * f32x4.extract_lane(v, 3));
    }
  }
  for (; i < n; i++) acc = combine(acc, load<f32>(x + (<usize>i << 2)), kind);
  return acc;
}

function rowCombine(x: usize, n: i32, kind: i32): f32 {
  if (kind == MAX) return rowCombineK(x, n, MAX);
  if (kind == MIN) return rowCombineK(x, n, MIN);
  return rowCombineK(x, n, PROD);
}

/** The row path of max / min / product for one output: rows of L at x + red's offsets. */
function rowsCombine(x: usize, red: usize, L: i32, kind: i32): f32 {
  const nr = ndBegin(red);
  let xo: isize = 0;
  let acc = identity(kind);
  for (let i = 0; i < nr; i++) {
    acc = combine(acc, rowCombine(x + (<usize>xo << 2), L, kind), kind);
    xo += ndNext(red, 0);
  }
  return acc;
}

/** The row path of a sum-like kind for one output. ws: LEVELS + 1 floats. */
function rowsSum(x: usize, red: usize, ws: usize, L: i32, n: f64, kind: i32, shift: f32): f32 {
  const nr = ndBegin(red);
  let xo: isize = 0;
  // rows shorter than BLOCK gather into one partial until it holds BLOCK terms
  let part: f32 = 0, held = 0, count = 0;
  for (let i = 0; i < nr; i++) {
    part += rowSum(x + (<usize>xo << 2), L, kind, shift);
    held += L;
    if (held >= BLOCK) {
      store<f32>(ws, part);
      count = cascadePush(ws, ws + 4, 1, count);
      part = 0;
      held = 0;
    }
    xo += ndNext(red, 0);
  }
  if (held > 0) {
    store<f32>(ws, part);
    count = cascadePush(ws, ws + 4, 1, count);
  }
  cascadeTotal(ws, ws + 4, 1, count);
  return finish(load<f32>(ws), kind, n, shift);
}

// ---------------------------------------------------------------------------------------------
// the kernels

function reduceK(y: usize, x: usize, ws: usize, kept: usize, red: usize, V: i32, L: i32, kind: i32): void {
  const nk = ndBegin(kept);
  // count of terms per output: positions of red times L (a descriptor with an empty axis has none)
  let nr: i32 = 1;
  for (let a = 0; a < ndRank(red); a++) nr *= ndDim(red, a);
  const n = <f64>nr * <f64>L;
  let xo: isize = 0;
  for (let k = 0; k < nk; k++) {
    const xk = x + (<usize>xo << 2);
    if (L == 1) {
      for (let j0 = 0; j0 < V; j0 += REDUCE_TILE) {
        const w = min(REDUCE_TILE, V - j0);
        const yt = y + ((<usize>k * <usize>V + <usize>j0) << 2), xt = xk + (<usize>j0 << 2);
        if (kind == MAX || kind == MIN || kind == PROD) vectorCombine(yt, xt, red, w, kind);
        else {
          if (kind == LOG_SUM_EXP) vectorCombine(yt, xt, red, w, MAX);
          vectorSum(yt, xt, red, ws, w, n, kind);
        }
      }
    } else {
      let out: f32;
      if (kind == MAX || kind == MIN || kind == PROD) out = rowsCombine(xk, red, L, kind);
      else if (kind == LOG_SUM_EXP) {
        const m = rowsCombine(xk, red, L, MAX);
        out = Mathf.abs(m) == Infinity || isNaN(m) ? m : rowsSum(xk, red, ws, L, n, kind, m);
      } else out = rowsSum(xk, red, ws, L, n, kind, 0);
      store<f32>(y + (<usize>k << 2), out);
    }
    xo += ndNext(kept, 0);
  }
}

/**
 * y = the reduction `kind` of x over the reduced axes (see the loop at the top of this file).
 * kind: 0 sum, 1 mean, 2 sum of squares, 3 L1 norm, 4 L2 norm, 5 log-sum-exp, 6 max, 7 min,
 * 8 product. ws: reduce_f32_workspace(V) floats. y must not overlap x.
 */
export function reduce_f32_forward(y: usize, x: usize, ws: usize, kept: usize, red: usize, V: i32, L: i32, kind: i32): void {
  reduceK(y, x, ws, kept, red, V, L, kind);
}

// ---------------------------------------------------------------------------------------------
// backward

/** Workspace floats reduce_f32_backward needs for V (per-lane tie counts / zero counts and products). */
export function reduce_f32_backward_workspace(V: i32): i32 {
  return 2 * min(V, REDUCE_TILE);
}

/**
 * d output / d x for one element x of an output y with gradient g over n terms; c1, c2: the
 * output's statistics (MAX / MIN: the count of elements equal to y, which share g equally;
 * PROD: the count of zeros and the product of the non-zero elements).
 */
// @ts-ignore: decorator
@inline function gradTerm(x: f32, y: f32, g: f32, n: f32, kind: i32, c1: f32, c2: f32): f32 {
  if (kind == SUM) return g;
  if (kind == MEAN) return g / n;
  if (kind == SUM_SQUARE) return 2 * x * g;
  if (kind == L1) return x > 0 ? g : x < 0 ? -g : 0;
  if (kind == L2) return y != 0 ? (x / y) * g : 0;
  if (kind == LOG_SUM_EXP) return Mathf.exp(x - y) * g;
  if (kind == MAX || kind == MIN) return x == y ? g / c1 : 0;
  // PROD: the product of the other elements
  if (c1 == 0) return (c2 / x) * g;
  return c1 == 1 && x == 0 ? c2 * g : 0;
}

/** Accumulates the statistics of one element into (c1, c2) at p (MAX / MIN / PROD). */
// @ts-ignore: decorator
@inline function gradStat(p: usize, x: f32, y: f32, kind: i32): void {
  if (kind == PROD) {
    if (x == 0) store<f32>(p, load<f32>(p) + 1);
    else store<f32>(p + 4, load<f32>(p + 4) * x);
  } else if (x == y) store<f32>(p, load<f32>(p) + 1);
}

function reduceGradK(dx: usize, dy: usize, x: usize, y: usize, ws: usize, kept: usize, red: usize, V: i32, L: i32, kind: i32): void {
  const nk = ndBegin(kept);
  let nr: i32 = 1;
  for (let a = 0; a < ndRank(red); a++) nr *= ndDim(red, a);
  const n = <f32>(<f64>nr * <f64>L);
  const stats = kind == MAX || kind == MIN || kind == PROD;
  let xo: isize = 0;
  for (let k = 0; k < nk; k++) {
    for (let j0 = 0; j0 < V; j0 += REDUCE_TILE) {
      const w = L == 1 ? min(REDUCE_TILE, V - j0) : 1; // the row path: one output, rows of L
      const out = (<usize>k * <usize>V + <usize>j0) << 2;
      // per lane (c1, c2) pairs in ws
      if (stats) {
        for (let j = 0; j < w; j++) {
          store<f32>(ws + (<usize>j << 3), 0);
          store<f32>(ws + (<usize>j << 3) + 4, 1);
        }
        ndBegin(red);
        let ro: isize = 0;
        for (let i = 0; i < nr; i++) {
          for (let j = 0; j < w; j++) {
            const yv = load<f32>(y + out + (<usize>j << 2));
            for (let l = 0; l < L; l++) gradStat(ws + (<usize>j << 3), load<f32>(x + (<usize>(xo + ro + <isize>(j0 + j + l)) << 2)), yv, kind);
          }
          ro += ndNext(red, 0);
        }
      }
      ndBegin(red);
      let ro: isize = 0;
      for (let i = 0; i < nr; i++) {
        for (let j = 0; j < w; j++) {
          const yv = load<f32>(y + out + (<usize>j << 2)), g = load<f32>(dy + out + (<usize>j << 2));
          const c1: f32 = stats ? load<f32>(ws + (<usize>j << 3)) : 0, c2: f32 = stats ? load<f32>(ws + (<usize>j << 3) + 4) : 0;
          for (let l = 0; l < L; l++) {
            const p = <usize>(xo + ro + <isize>(j0 + j + l)) << 2;
            store<f32>(dx + p, load<f32>(dx + p) + gradTerm(load<f32>(x + p), yv, g, n, kind, c1, c2));
          }
        }
        ro += ndNext(red, 0);
      }
      if (L != 1) break;
    }
    xo += ndNext(kept, 0);
  }
}

/**
 * Backward of reduce_f32_forward (same loop, kinds and layouts), accumulating:
 * dx[i] += d y[o] / d x[i] * dy[o] for every element i of output o. y: the forward's output.
 * MAX / MIN share dy equally among the elements equal to the result (as PyTorch's amax / amin);
 * PROD gives the product of the other elements (exact with zeros). dx must not alias dy, x or y.
 * ws: reduce_f32_backward_workspace(V) floats. Scalar code (these are rarely hot).
 */
export function reduce_f32_backward(dx: usize, dy: usize, x: usize, y: usize, ws: usize, kept: usize, red: usize, V: i32, L: i32, kind: i32): void {
  reduceGradK(dx, dy, x, y, ws, kept, red, V, L, kind);
}

/**
 * The same reductions of i32 x into i32 y (shape arithmetic, integer tensors), exact in 64 bits
 * and wrapped to 32 as ONNX's int32 arithmetic: sums and products wrap; the mean, L2 norm and
 * log-sum-exp are computed in f64 and truncated toward zero. Empty: 0, 0, 0, 0, 0, INT32_MIN
 * (log of 0), INT32_MIN (max), INT32_MAX (min), 1. Scalar (plan-time) code.
 */
export function reduce_i32_forward(y: usize, x: usize, kept: usize, red: usize, V: i32, L: i32, kind: i32): void {
  const nk = ndBegin(kept);
  let xo: isize = 0;
  for (let k = 0; k < nk; k++) {
    for (let j = 0; j < V; j++) {
      const first = x + (<usize>(xo + <isize>j) << 2);
      store<i32>(y + ((<usize>k * <usize>V + <usize>j) << 2), reduceI32One(first, red, L, kind));
    }
    xo += ndNext(kept, 0);
  }
}

/** One output of reduce_i32_forward: rows of L at x + red's offsets. */
function reduceI32One(x: usize, red: usize, L: i32, kind: i32): i32 {
  let acc: i64 = kind == MAX ? <i64>i32.MIN_VALUE : kind == MIN ? <i64>i32.MAX_VALUE : kind == PROD ? 1 : 0;
  let fmax: f64 = -Infinity, fsum: f64 = 0;
  const nr = ndBegin(red);
  const count = <i64>nr * <i64>L;
  for (let pass = 0; pass < (kind == LOG_SUM_EXP ? 2 : 1); pass++) {
    let ro: isize = 0;
    ndBegin(red);
    for (let i = 0; i < nr; i++) {
      for (let l = 0; l < L; l++) {
        const v = <i64>load<i32>(x + (<usize>(ro + <isize>l) << 2));
        if (kind == LOG_SUM_EXP) {
          if (pass == 0) fmax = max(fmax, <f64>v);
          else fsum += Math.exp(<f64>v - fmax);
        } else if (kind == MAX) acc = max(acc, v);
        else if (kind == MIN) acc = min(acc, v);
        else if (kind == PROD) acc *= v;
        else if (kind == SUM_SQUARE || kind == L2) acc += v * v;
        else if (kind == L1) acc += v < 0 ? -v : v;
        else acc += v;
      }
      ro += ndNext(red, 0);
    }
  }
  if (kind == MEAN) return count > 0 ? <i32>(acc / count) : 0;
  if (kind == L2) return <i32>Math.sqrt(<f64>acc);
  if (kind == LOG_SUM_EXP) return count > 0 ? <i32>(fmax + Math.log(fsum)) : i32.MIN_VALUE;
  return <i32>acc;
}

// ---------------------------------------------------------------------------------------------
// arg-max / arg-min and hardmax along one axis: x viewed as [O, R, V] (the axis has extent R
// and stride V; the host coalesces the axes outside it), y as [O, V] (arg-max) or [O, R, V]

const ARG_MIN: i32 = 1;
const ARG_LAST: i32 = 2;

/** Workspace floats argmax_f32_forward and hardmax_f32_forward need for V. */
export function argmax_f32_workspace(V: i32): i32 {
  return V > 1 ? 2 * min(V, REDUCE_TILE) : 0;
}

/** Whether v replaces the best so far b (ties: only when `last`; NaN never). */
// @ts-ignore: decorator
@inline function better(v: f32, b: f32, flags: i32): bool {
  if (flags & ARG_MIN) return flags & ARG_LAST ? v <= b : v < b;
  return flags & ARG_LAST ? v >= b : v > b;
}

// @ts-ignore: decorator
@inline function better4(v: v128, b: v128, flags: i32): v128 {
  if (flags & ARG_MIN) return flags & ARG_LAST ? f32x4.le(v, b) : f32x4.lt(v, b);
  return flags & ARG_LAST ? f32x4.ge(v, b) : f32x4.gt(v, b);
}

/** Index of the best of R elements at stride 1 (R >= 1). */
// @ts-ignore: decorator
@inline function rowArg(x: usize, R: i32, flags: i32): i32 {
  let best = load<f32>(x), idx = 0;
  for (let r = 1; r < R; r++) {
    const v = load<f32>(x + (<usize>r << 2));
    if (better(v, best, flags)) {
      best = v;
      idx = r;
    }
  }
  return idx;
}

/** idx[j] (i32) = arg of the best x[r * V + j] over r < R, for j < w; best: w floats of scratch. */
// @ts-ignore: decorator
@inline function tileArg(idx: usize, best: usize, x: usize, R: i32, V: i32, w: i32, flags: i32): void {
  memory.copy(best, x, <usize>w << 2);
  memory.fill(idx, 0, <usize>w << 2);
  for (let r = 1; r < R; r++) {
    const row = x + ((<usize>r * <usize>V) << 2);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const vr = i32x4.splat(r);
      for (; j + 4 <= w; j += 4) {
        const o = <usize>j << 2;
        const v = v128.load(row + o), b = v128.load(best + o);
        const m = better4(v, b, flags);
        v128.store(best + o, v128.bitselect(v, b, m));
        v128.store(idx + o, v128.bitselect(vr, v128.load(idx + o), m));
      }
    }
    for (; j < w; j++) {
      const o = <usize>j << 2;
      const v = load<f32>(row + o);
      if (better(v, load<f32>(best + o), flags)) {
        store<f32>(best + o, v);
        store<i32>(idx + o, r);
      }
    }
  }
}

// @ts-ignore: decorator
@inline function argK(y: usize, x: usize, ws: usize, O: i32, R: i32, V: i32, flags: i32): void {
  for (let o = 0; o < O; o++) {
    const xo = x + ((<usize>o * <usize>R * <usize>V) << 2);
    if (V == 1) {
      store<i32>(y + (<usize>o << 2), rowArg(xo, R, flags));
      continue;
    }
    for (let j0 = 0; j0 < V; j0 += REDUCE_TILE) {
      const w = min(REDUCE_TILE, V - j0);
      tileArg(y + ((<usize>o * <usize>V + <usize>j0) << 2), ws, xo + (<usize>j0 << 2), R, V, w, flags);
    }
  }
}

/**
 * ONNX ArgMax / ArgMin: y[o, j] (i32) = the index r < R of the largest (flags & 1: smallest)
 * x[o, r, j], the first among equals (flags & 2: the last). NaN entries are never chosen unless
 * the first. R >= 1. ws: argmax_f32_workspace(V) floats.
 */
export function argmax_f32_forward(y: usize, x: usize, ws: usize, O: i32, R: i32, V: i32, flags: i32): void {
  if (R <= 0) return;
  switch (flags & 3) {
    case 0: argK(y, x, ws, O, R, V, 0); break;
    case 1: argK(y, x, ws, O, R, V, 1); break;
    case 2: argK(y, x, ws, O, R, V, 2); break;
    default: argK(y, x, ws, O, R, V, 3); break;
  }
}

/** The same on i32 x (scalar: shape arithmetic at plan time). */
export function argmax_i32_forward(y: usize, x: usize, O: i32, R: i32, V: i32, flags: i32): void {
  if (R <= 0) return;
  for (let o = 0; o < O; o++) {
    for (let j = 0; j < V; j++) {
      const base = x + (((<usize>o * <usize>R) * <usize>V + <usize>j) << 2);
      let best = load<i32>(base), idx = 0;
      for (let r = 1; r < R; r++) {
        const v = load<i32>(base + ((<usize>r * <usize>V) << 2));
        const take = flags & ARG_MIN ? (flags & ARG_LAST ? v <= best : v < best) : flags & ARG_LAST ? v >= best : v > best;
        if (take) {
          best = v;
          idx = r;
        }
      }
      store<i32>(y + ((<usize>o * <usize>V + <usize>j) << 2), idx);
    }
  }
}

/** TopK's order: (av, ai) comes before (bv, bi) (larger, or smaller when !largest; NaN after every number; equals by lower index). */
@inline function topkBefore(av: f32, ai: i32, bv: f32, bi: i32, largest: i32): bool {
  if (av != av) return bv != bv && ai < bi;
  if (bv != bv || av == bv) return bv != bv || ai < bi;
  return largest ? av > bv : av < bv;
}

/** Restores the heap (the LAST in TopK order at its root) below slot i of `heap` (n indices into the row at base, stride V). */
@inline function topkSiftDown(heap: usize, n: i32, i: i32, base: usize, V: i32, largest: i32): void {
  const hi = load<i32>(heap + (<usize>i << 2));
  const hv = load<f32>(base + ((<usize>hi * <usize>V) << 2));
  while (true) {
    let c = 2 * i + 1;
    if (c >= n) break;
    let ci = load<i32>(heap + (<usize>c << 2));
    let cv = load<f32>(base + ((<usize>ci * <usize>V) << 2));
    if (c + 1 < n) {
      const di = load<i32>(heap + (<usize>(c + 1) << 2));
      const dv = load<f32>(base + ((<usize>di * <usize>V) << 2));
      if (topkBefore(cv, ci, dv, di, largest)) {
        c++;
        ci = di;
        cv = dv;
      }
    }
    if (!topkBefore(hv, hi, cv, ci, largest)) break;
    store<i32>(heap + (<usize>i << 2), ci);
    i = c;
  }
  store<i32>(heap + (<usize>i << 2), hi);
}

/**
 * ONNX TopK along one axis: x viewed as [O, R, V], values and idx (i32) as [O, K, V]: for each
 * (o, j) the K largest (largest = 0: smallest) x[o, r, j] in order, the lower r first among equals;
 * NaN entries come after every number. A heap of the best K so far (its root the last of them):
 * O(R log K) per (o, j). ws: R i32. K <= R.
 */
export function topk_f32_forward(values: usize, idx: usize, x: usize, ws: usize, O: i32, R: i32, V: i32, K: i32, largest: i32): void {
  if (K <= 0) return;
  const heap = ws;
  for (let o = 0; o < O; o++) {
    for (let j = 0; j < V; j++) {
      const base = x + (((<usize>o * <usize>R) * <usize>V + <usize>j) << 2);
      // the first K rows, heapified; then each later row replaces the root when it comes before it
      for (let r = 0; r < K; r++) store<i32>(heap + (<usize>r << 2), r);
      for (let i = K / 2 - 1; i >= 0; i--) topkSiftDown(heap, K, i, base, V, largest);
      for (let r = K; r < R; r++) {
        const rv = load<f32>(base + ((<usize>r * <usize>V) << 2));
        const ri = load<i32>(heap);
        if (topkBefore(rv, r, load<f32>(base + ((<usize>ri * <usize>V) << 2)), ri, largest)) {
          store<i32>(heap, r);
          topkSiftDown(heap, K, 0, base, V, largest);
        }
      }
      // the root out, last first
      for (let n = K; n > 0; n--) {
        const bi = load<i32>(heap);
        const out = ((<usize>o * <usize>K + <usize>(n - 1)) * <usize>V + <usize>j) << 2;
        store<f32>(values + out, load<f32>(base + ((<usize>bi * <usize>V) << 2)));
        store<i32>(idx + out, bi);
        store<i32>(heap, load<i32>(heap + (<usize>(n - 1) << 2)));
        topkSiftDown(heap, n - 1, 0, base, V, largest);
      }
    }
  }
}

/**
 * ONNX Hardmax (opset 13 form, along one axis): y[o, r, j] = 1 where r is the first index of the
 * largest x[o, r, j] over r, else 0. y may alias x only when V == 1. ws: argmax_f32_workspace(V).
 */
export function hardmax_f32_forward(y: usize, x: usize, ws: usize, O: i32, R: i32, V: i32): void {
  const sliceBytes = (<usize>R * <usize>V) << 2;
  for (let o = 0; o < O; o++) {
    const xo = x + <usize>o * sliceBytes, yo = y + <usize>o * sliceBytes;
    if (V == 1) {
      const k = R > 0 ? rowArg(xo, R, 0) : 0;
      memory.fill(yo, 0, sliceBytes);
      if (R > 0) store<f32>(yo + (<usize>k << 2), 1);
      continue;
    }
    for (let j0 = 0; j0 < V; j0 += REDUCE_TILE) {
      const w = min(REDUCE_TILE, V - j0);
      const idx = ws, best = ws + (<usize>min(V, REDUCE_TILE) << 2);
      if (R > 0) tileArg(idx, best, xo + (<usize>j0 << 2), R, V, w, 0);
      for (let r = 0; r < R; r++) {
        const row = yo + ((<usize>r * <usize>V + <usize>j0) << 2);
        let j = 0;
        if (ASC_FEATURE_SIMD) {
          const vr = i32x4.splat(r), one = f32x4.splat(1);
          for (; j + 4 <= w; j += 4) {
            const o4 = <usize>j << 2;
            v128.store(row + o4, v128.and(i32x4.eq(v128.load(idx + o4), vr), one));
          }
        }
        for (; j < w; j++) store<f32>(row + (<usize>j << 2), load<i32>(idx + (<usize>j << 2)) == r ? 1 : 0);
      }
    }
  }
}
