// Point-wise activations on flat f32 arrays (any layout; `n` = number of elements), except PRelu,
// whose slope runs over the channel (last, NHWC) axis of a row-major [rows, cols] view.
// Forward outputs may alias their input; backward kernels ACCUMULATE into gradients (dx += ...).
// ReLU lives in elementwise.ts.
//
// `vmath` holds the exponential shared with softmax.ts: one algorithm, a scalar form (`expf`, the
// scalar build and every SIMD tail) and a 4-lane form (`exp4`), so every build computes the same
// function. (It is a namespace because asc turns exported functions into wasm exports, and a
// v128 signature cannot be exported from the scalar build.)

import { hsum, madd } from "./simd";

// exp(x) = 2^n * e^r with n = round(x * log2 e) and r = x - n ln2 in [-ln2/2, ln2/2].
// ln2 is split Cody-Waite style: LN2_HI has 9 significant bits, so n * LN2_HI is exact for |n| <= 128.
// e^r is its degree-6 Taylor polynomial: truncation error <= 0.3466^7 / 7! = 1.2e-7 relative.
// 2^n is built by shifting n + 127 into the f32 exponent field. Inputs are clamped to
// [EXP_MIN, EXP_MAX] so n stays in [-126, 127] (normal floats, no inf); x < EXP_MIN gives 0,
// x > EXP_MAX gives exp(EXP_MAX) ~ 2.4e38 (finite). NaN in gives NaN out.
const EXP_MAX: f32 = 88.37;
const EXP_MIN: f32 = -87.33;
const LOG2E: f32 = 1.4426950408889634;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const P2: f32 = 0.5;
const P3: f32 = 0.16666666666666666;
const P4: f32 = 0.041666666666666664;
const P5: f32 = 0.008333333333333333;
const P6: f32 = 0.001388888888888889;
/** 1.5 * 2^23 + 127: adding it to an integral n in [-126, 127] leaves n + 127 in the low mantissa bits. */
const MAGIC_127: f32 = 12583039;

// tanh(x) for |x| < TANH_SMALL: odd Taylor polynomial to x^9 (truncation < 2e-8 relative), which
// avoids the cancellation in (1 - e^-2|x|) near 0.
const TANH_SMALL: f32 = 0.3;
const T3: f32 = -0.3333333333333333;
const T5: f32 = 0.13333333333333333;
const T7: f32 = -0.05396825396825397;
const T9: f32 = 0.021869488536155203;

export namespace vmath {
  /** e^x, relative error ~2e-7 on [EXP_MIN, EXP_MAX]; 0 below, exp(EXP_MAX) above. */
  // @ts-ignore: decorator
  @inline export function expf(x: f32): f32 {
    const c = min(max(x, EXP_MIN), EXP_MAX);
    const n = nearest<f32>(c * LOG2E);
    const r = c - n * LN2_HI - n * LN2_LO;
    let p = P6;
    p = p * r + P5;
    p = p * r + P4;
    p = p * r + P3;
    p = p * r + P2;
    p = p * r + 1;
    p = p * r + 1;
    const scale = reinterpret<f32>((<i32>n + 127) << 23);
    return select<f32>(0, p * scale, x < EXP_MIN);
  }

  /** expf on 4 lanes, the same algorithm (madd is fused in the relaxed build). */
  // @ts-ignore: decorator
  @inline export function exp4(x: v128): v128 {
    // pmax / pmin (one instruction each on x64, where min / max take several for their NaN and
    // signed-zero rules): x as first operand keeps a NaN lane NaN; the bounds are not zero
    const c = f32x4.pmin(f32x4.pmax(x, f32x4.splat(EXP_MIN)), f32x4.splat(EXP_MAX));
    const n = f32x4.nearest(f32x4.mul(c, f32x4.splat(LOG2E)));
    const r = madd(n, f32x4.splat(-LN2_LO), f32x4.sub(c, f32x4.mul(n, f32x4.splat(LN2_HI))));
    let p = f32x4.splat(P6);
    p = madd(p, r, f32x4.splat(P5));
    p = madd(p, r, f32x4.splat(P4));
    p = madd(p, r, f32x4.splat(P3));
    p = madd(p, r, f32x4.splat(P2));
    p = madd(p, r, f32x4.splat(1));
    p = madd(p, r, f32x4.splat(1));
    // 2^n: n + 127 is an integer in [1, 254]; added to 1.5 * 2^23 it lands in the low mantissa bits,
    // which the shift moves into the exponent field (the same bits as (i32(n) + 127) << 23)
    const scale = i32x4.shl(f32x4.add(n, f32x4.splat(MAGIC_127)), 23);
    const keep = f32x4.ge(x, f32x4.splat(EXP_MIN)); // false for x < EXP_MIN (NaN lanes are fixed below)
    const nan = f32x4.ne(x, x);
    return v128.and(f32x4.mul(p, scale), v128.or(keep, nan));
  }

  /** 1 / (1 + e^-x), stable: e = e^-|x| <= 1, so no overflow; x < 0 gives e / (1 + e). */
  // @ts-ignore: decorator
  @inline export function sigmoidf(x: f32): f32 {
    const e = expf(-abs(x));
    const s: f32 = 1 / (1 + e);
    return x >= 0 ? s : e * s;
  }

  // @ts-ignore: decorator
  @inline export function sigmoid4(x: v128): v128 {
    const one = f32x4.splat(1);
    const e = exp4(f32x4.neg(f32x4.abs(x)));
    const s = f32x4.div(one, f32x4.add(one, e));
    return v128.bitselect(s, f32x4.mul(e, s), f32x4.ge(x, f32x4.splat(0)));
  }

  /** tanh: sign(x) (1 - e) / (1 + e) with e = e^-2|x| <= 1; a polynomial for |x| < TANH_SMALL. */
  // @ts-ignore: decorator
  @inline export function tanhf(x: f32): f32 {
    const a = abs(x);
    const e = expf(-2 * a);
    const big: f32 = (<f32>1 - e) / (<f32>1 + e);
    const a2 = a * a;
    let p = T9;
    p = p * a2 + T7;
    p = p * a2 + T5;
    p = p * a2 + T3;
    const small = a + a * a2 * p;
    return copysign<f32>(a < TANH_SMALL ? small : big, x);
  }

  // @ts-ignore: decorator
  @inline export function tanh4(x: v128): v128 {
    const one = f32x4.splat(1);
    const a = f32x4.abs(x);
    const e = exp4(f32x4.mul(a, f32x4.splat(-2)));
    const big = f32x4.div(f32x4.sub(one, e), f32x4.add(one, e));
    const a2 = f32x4.mul(a, a);
    let p = f32x4.splat(T9);
    p = madd(p, a2, f32x4.splat(T7));
    p = madd(p, a2, f32x4.splat(T5));
    p = madd(p, a2, f32x4.splat(T3));
    const small = madd(f32x4.mul(a, a2), p, a);
    const mag = v128.bitselect(small, big, f32x4.lt(a, f32x4.splat(TANH_SMALL)));
    return v128.or(mag, v128.and(x, i32x4.splat(0x80000000)));
  }
}

/** leaky relu: y[i] = x[i] >= 0 ? x[i] : alpha * x[i]. y may alias x. */
export function leaky_relu_f32_forward(y: usize, x: usize, alpha: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f32x4.splat(alpha);
    const zero = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const v = v128.load(x + o);
      v128.store(y + o, v128.bitselect(v, f32x4.mul(v, va), f32x4.ge(v, zero)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    store<f32>(y + o, v >= 0 ? v : alpha * v);
  }
}

/** leaky relu backward: dx[i] += dy[i] * (x[i] > 0 ? 1 : alpha), from the forward input x. */
export function leaky_relu_f32_backward(dx: usize, dy: usize, x: usize, alpha: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f32x4.splat(alpha);
    const one = f32x4.splat(1);
    const zero = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const k = v128.bitselect(one, va, f32x4.gt(v128.load(x + o), zero));
      v128.store(dx + o, madd(v128.load(dy + o), k, v128.load(dx + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const k: f32 = load<f32>(x + o) > 0 ? 1 : alpha;
    store<f32>(dx + o, load<f32>(dx + o) + load<f32>(dy + o) * k);
  }
}

/** prelu, one slope per channel: y[r, c] = x >= 0 ? x : slope[c] * x over a row-major
 *  [rows, cols] view (NHWC: cols = channels). slope has `cols` entries. y may alias x. */
export function prelu_f32_forward(y: usize, x: usize, slope: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const base = <usize>r * <usize>cols << 2;
    const xr = x + base;
    const yr = y + base;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      const zero = f32x4.splat(0);
      for (; c + 4 <= cols; c += 4) {
        const o = <usize>c << 2;
        const v = v128.load(xr + o);
        v128.store(yr + o, v128.bitselect(v, f32x4.mul(v, v128.load(slope + o)), f32x4.ge(v, zero)));
      }
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      const v = load<f32>(xr + o);
      store<f32>(yr + o, v >= 0 ? v : load<f32>(slope + o) * v);
    }
  }
}

/** prelu backward, per-channel slope: dx[r, c] += dy * (x > 0 ? 1 : slope[c]);
 *  dslope[c] += sum over r of dy[r, c] * min(x[r, c], 0). */
export function prelu_f32_backward(dx: usize, dslope: usize, dy: usize, x: usize, slope: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const base = <usize>r * <usize>cols << 2;
    const xr = x + base;
    const dyr = dy + base;
    const dxr = dx + base;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      const zero = f32x4.splat(0);
      const one = f32x4.splat(1);
      for (; c + 4 <= cols; c += 4) {
        const o = <usize>c << 2;
        const v = v128.load(xr + o);
        const g = v128.load(dyr + o);
        const k = v128.bitselect(one, v128.load(slope + o), f32x4.gt(v, zero));
        v128.store(dxr + o, madd(g, k, v128.load(dxr + o)));
        v128.store(dslope + o, madd(g, f32x4.min(v, zero), v128.load(dslope + o)));
      }
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      const v = load<f32>(xr + o);
      const g = load<f32>(dyr + o);
      const k: f32 = v > 0 ? 1 : load<f32>(slope + o);
      store<f32>(dxr + o, load<f32>(dxr + o) + g * k);
      store<f32>(dslope + o, load<f32>(dslope + o) + g * min(v, 0));
    }
  }
}

/** prelu with one slope shared by every element (slope has 1 entry). y may alias x. */
export function prelu_shared_f32_forward(y: usize, x: usize, slope: usize, n: i32): void {
  leaky_relu_f32_forward(y, x, load<f32>(slope), n);
}

/** prelu backward, shared slope: dx[i] += dy * (x > 0 ? 1 : slope[0]);
 *  dslope[0] += sum over i of dy[i] * min(x[i], 0). */
export function prelu_shared_f32_backward(dx: usize, dslope: usize, dy: usize, x: usize, slope: usize, n: i32): void {
  const s = load<f32>(slope);
  leaky_relu_f32_backward(dx, dy, x, s, n);
  let sum: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const zero = f32x4.splat(0);
    let acc = zero;
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      acc = madd(v128.load(dy + o), f32x4.min(v128.load(x + o), zero), acc);
    }
    sum = hsum(acc);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    sum += load<f32>(dy + o) * min(load<f32>(x + o), 0);
  }
  store<f32>(dslope, load<f32>(dslope) + sum);
}

/** sigmoid: y[i] = 1 / (1 + exp(-x[i])), stable for any |x| (vmath.sigmoidf). y may alias x. */
export function sigmoid_f32_forward(y: usize, x: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, vmath.sigmoid4(v128.load(x + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, vmath.sigmoidf(load<f32>(x + o)));
  }
}

/** sigmoid backward from the saved output y: dx[i] += dy[i] * y[i] * (1 - y[i]). */
export function sigmoid_f32_backward(dx: usize, dy: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const one = f32x4.splat(1);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const v = v128.load(y + o);
      v128.store(dx + o, madd(f32x4.mul(v128.load(dy + o), v), f32x4.sub(one, v), v128.load(dx + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(y + o);
    store<f32>(dx + o, load<f32>(dx + o) + load<f32>(dy + o) * v * (1 - v));
  }
}

/** tanh: y[i] = tanh(x[i]), stable for any |x| (vmath.tanhf). y may alias x. */
export function tanh_f32_forward(y: usize, x: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, vmath.tanh4(v128.load(x + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, vmath.tanhf(load<f32>(x + o)));
  }
}

/** tanh backward from the saved output y: dx[i] += dy[i] * (1 - y[i]^2). */
export function tanh_f32_backward(dx: usize, dy: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const one = f32x4.splat(1);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const v = v128.load(y + o);
      v128.store(dx + o, madd(v128.load(dy + o), f32x4.sub(one, f32x4.mul(v, v)), v128.load(dx + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(y + o);
    store<f32>(dx + o, load<f32>(dx + o) + load<f32>(dy + o) * (1 - v * v));
  }
}
