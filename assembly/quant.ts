// Linear quantisation (ONNX QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear) and the
// conversions the integer operators (ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul) run
// on: they compute in float32 on zero-point-shifted integers (exact while every partial sum stays
// below 2^24 in magnitude) and requantise as onnxruntime does.
// Integer tensors hold one i32 per element (int8, uint8, int16, uint16, int32 values).
// Per-axis forms view the tensor as [O, R, V] with the quantisation axis R (the host coalesces the
// axes outside it); per-tensor forms are R = 1. Outputs may alias inputs of the same element size.

// ---------------------------------------------------------------------------------------------
// dequantisation

/** `flags` bits of the kernels below. */
const MULTIPLY: i32 = 1; // quantize: x * scale instead of x / scale
const SCALAR_ZP: i32 = 2; // one zero point for every r
const SCALAR_SCALE: i32 = 4; // one scale for every r

/** Parameter k (scale or zero point) for index r: p[r], p[0] when `scalar`. */
// @ts-ignore: decorator
@inline function at(p: usize, r: i32, scalar: i32): usize {
  return p + (scalar ? 0 : <usize>r << 2);
}

/**
 * y[o, r, v] (f32) = f32(x[o, r, v] - zp[r]) * scale[r]   (i32 subtraction first, as onnxruntime)
 * zp == 0: no zero point; scale == 0: scale 1 (a plain shift to float). flags: SCALAR_ZP (2),
 * SCALAR_SCALE (4) read entry 0 for every r.
 */
export function dequantize_linear_f32(y: usize, x: usize, scale: usize, zp: usize, O: i32, R: i32, V: i32, flags: i32): void {
  for (let o = 0; o < O; o++) {
    for (let r = 0; r < R; r++) {
      const z: i32 = zp ? load<i32>(at(zp, r, flags & SCALAR_ZP)) : 0;
      const s: f32 = scale ? load<f32>(at(scale, r, flags & SCALAR_SCALE)) : 1;
      const base = ((<usize>o * <usize>R + <usize>r) * <usize>V) << 2;
      const yb = y + base, xb = x + base;
      let j = 0;
      if (ASC_FEATURE_SIMD) {
        const vz = i32x4.splat(z), vs = f32x4.splat(s);
        for (; j + 4 <= V; j += 4) {
          const q = <usize>j << 2;
          v128.store(yb + q, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(v128.load(xb + q), vz)), vs));
        }
      }
      for (; j < V; j++) {
        const q = <usize>j << 2;
        store<f32>(yb + q, <f32>(load<i32>(xb + q) - z) * s);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// quantisation

/** clamp(round-half-even(v) + z, lo, hi) for one lane set (v already divided or multiplied). */
// @ts-ignore: decorator
@inline function quantize4(v: v128, vz: v128, lo: v128, hi: v128): v128 {
  const q = i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.nearest(v)), vz);
  return i32x4.min_s(i32x4.max_s(q, lo), hi);
}

// @ts-ignore: decorator
@inline function quantize1(v: f32, z: i32, lo: i32, hi: i32): i32 {
  const r = nearest<f32>(v);
  // saturate like trunc_sat (NaN -> 0) before adding the zero point
  const q = isNaN(r) ? 0 : r >= 2147483520 ? i32.MAX_VALUE : r <= -2147483648 ? i32.MIN_VALUE : <i32>r;
  return min(max(q + z, lo), hi);
}

/**
 * QuantizeLinear: y[o, r, v] (i32) = clamp(round_half_even(x / scale[r]) + zp[r], qmin, qmax)
 * (division, as onnxruntime's MLAS). zp == 0: zero point 0. NaN gives the zero point.
 * flags: MULTIPLY (1): the scale multiplies instead (requantisation: x * scale, scale being
 * x_scale * w_scale / y_scale); SCALAR_ZP (2), SCALAR_SCALE (4): entry 0 for every r.
 */
export function quantize_linear_f32(y: usize, x: usize, scale: usize, zp: usize, O: i32, R: i32, V: i32, qmin: i32, qmax: i32, flags: i32): void {
  const multiply = flags & MULTIPLY;
  for (let o = 0; o < O; o++) {
    for (let r = 0; r < R; r++) {
      const z: i32 = zp ? load<i32>(at(zp, r, flags & SCALAR_ZP)) : 0;
      const s = load<f32>(at(scale, r, flags & SCALAR_SCALE));
      const base = ((<usize>o * <usize>R + <usize>r) * <usize>V) << 2;
      const yb = y + base, xb = x + base;
      let j = 0;
      if (ASC_FEATURE_SIMD) {
        const vz = i32x4.splat(z), vs = f32x4.splat(s), lo = i32x4.splat(qmin), hi = i32x4.splat(qmax);
        if (multiply) {
          for (; j + 4 <= V; j += 4) {
            const q = <usize>j << 2;
            v128.store(yb + q, quantize4(f32x4.mul(v128.load(xb + q), vs), vz, lo, hi));
          }
        } else {
          for (; j + 4 <= V; j += 4) {
            const q = <usize>j << 2;
            v128.store(yb + q, quantize4(f32x4.div(v128.load(xb + q), vs), vz, lo, hi));
          }
        }
      }
      for (; j < V; j++) {
        const q = <usize>j << 2;
        const v = load<f32>(xb + q);
        store<i32>(yb + q, quantize1(multiply ? v * s : v / s, z, qmin, qmax));
      }
    }
  }
}

/**
 * DynamicQuantizeLinear (uint8), as onnxruntime: over x[0..n) with min' = min(min x, 0) and
 * max' = max(max x, 0): scale = (max' - min') / 255 (1 when both are 0), zp =
 * round_half_even(clamp(-min' / scale, 0, 255)), y = clamp(round_half_even(x / scale) + zp, 0, 255).
 * yScale: 1 float, yZp: 1 i32.
 */
export function dynamic_quantize_linear_f32(y: usize, yScale: usize, yZp: usize, x: usize, n: i32): void {
  let lo: f32 = 0, hi: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let vlo = f32x4.splat(0), vhi = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      vlo = f32x4.min(vlo, v);
      vhi = f32x4.max(vhi, v);
    }
    lo = min(min(f32x4.extract_lane(vlo, 0), f32x4.extract_lane(vlo, 1)), min(f32x4.extract_lane(vlo, 2), f32x4.extract_lane(vlo, 3)));
    hi = max(max(f32x4.extract_lane(vhi, 0), f32x4.extract_lane(vhi, 1)), max(f32x4.extract_lane(vhi, 2), f32x4.extract_lane(vhi, 3)));
  }
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    lo = min(lo, v);
    hi = max(hi, v);
  }
  const scale: f32 = hi == lo ? 1 : (hi - lo) / 255;
  const z = <i32>nearest<f32>(min(max(<f32>0 - lo / scale, <f32>0), <f32>255));
  store<f32>(yScale, scale);
  store<i32>(yZp, z);
  quantize_linear_f32(y, x, yScale, yZp, 1, 1, n, 0, 255, 0);
}

/** y[i] (i32) = round_half_even(x[i]) (float sums of integers back to int32, saturating). */
export function round_f32_to_i32(y: usize, x: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const q = <usize>i << 2;
      v128.store(y + q, i32x4.trunc_sat_f32x4_s(f32x4.nearest(v128.load(x + q))));
    }
  }
  for (; i < n; i++) {
    const q = <usize>i << 2;
    store<i32>(y + q, quantize1(load<f32>(x + q), 0, i32.MIN_VALUE, i32.MAX_VALUE));
  }
}

/**
 * m[c] = (a_scale * b_scale[c]) / y_scale in float32 (QLinearConv's and QLinearMatMul's output
 * multipliers, in onnxruntime's order of operations). bScale has n entries (1 or C).
 */
export function requantize_multipliers_f32(m: usize, aScale: usize, bScale: usize, yScale: usize, n: i32, C: i32): void {
  const a = load<f32>(aScale), ys = load<f32>(yScale);
  for (let c = 0; c < C; c++) {
    const b = load<f32>(bScale + (n == 1 ? 0 : <usize>c << 2));
    store<f32>(m + (<usize>c << 2), (a * b) / ys);
  }
}
