// Normalisations: LayerNormalization and MeanVarianceNormalization (rows), GroupNormalization and
// InstanceNormalization (ONNX order: groups of contiguous channels; channels-last: per image and
// channel), BatchNormalization inference in ONNX order, LpNormalization along any axis; and
// their backward passes, which ACCUMULATE (dx += ..., dscale += ..., dbias += ...).
// Statistics are two-pass (mean, then the mean squared deviation) with pairwise sums
// (assembly/pairwise.ts), so long rows keep float32 error near 1e-6. Forward outputs may alias x.
// Pointers are byte addresses, 4-byte aligned; optional pointers are 0 when absent.

import { madd } from "./simd";
import { addLanes, BLOCK, cascadePush, cascadeTotal, fillLanes, L1, rowSum, SQUARED_DEVIATION, SUM, SUM_SQUARE } from "./pairwise";

// ---------------------------------------------------------------------------------------------
// row helpers

/** y[i] = x[i] * a + b for i < n. */
function affineRow(y: usize, x: usize, n: i32, a: f32, b: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f32x4.splat(a), vb = f32x4.splat(b);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, madd(v128.load(x + o), va, vb));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(x + o) * a + b);
  }
}

/** y[i] = (x[i] - m) * a * scale[i] + bias[i] for i < n (scale 0: no scale and no bias; bias 0: none). */
function normalizeRow(y: usize, x: usize, n: i32, m: f32, a: f32, scale: usize, bias: usize): void {
  if (!scale) {
    affineRow(y, x, n, a, -m * a);
    return;
  }
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vm = f32x4.splat(m), va = f32x4.splat(a);
    if (bias) {
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i << 2;
        const xh = f32x4.mul(f32x4.sub(v128.load(x + o), vm), va);
        v128.store(y + o, madd(xh, v128.load(scale + o), v128.load(bias + o)));
      }
    } else {
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i << 2;
        v128.store(y + o, f32x4.mul(f32x4.mul(f32x4.sub(v128.load(x + o), vm), va), v128.load(scale + o)));
      }
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const b: f32 = bias ? load<f32>(bias + o) : 0;
    store<f32>(y + o, (load<f32>(x + o) - m) * a * load<f32>(scale + o) + b);
  }
}

/** The mean of x[0..n) (NaN for n == 0). */
// @ts-ignore: decorator
@inline function rowMean(x: usize, n: i32): f32 {
  return <f32>(<f64>rowSum(x, n, SUM, 0) / <f64>n);
}

/** The mean squared deviation from m of x[0..n). */
// @ts-ignore: decorator
@inline function rowVariance(x: usize, n: i32, m: f32): f32 {
  return <f32>(<f64>rowSum(x, n, SQUARED_DEVIATION, m) / <f64>n);
}

// ---------------------------------------------------------------------------------------------
// rows: LayerNormalization, MeanVarianceNormalization

/**
 * Each row r of x [rows, cols]: mean m, variance v (biased), and
 *   y[r, c] = (x[r, c] - m) * a * scale[c] + bias[c],
 * a = 1 / sqrt(v + eps) (LayerNormalization), or with `mvn` != 0 a = 1 / (sqrt(v) + eps)
 * (MeanVarianceNormalization's epsilon, outside the root). scale, bias: [cols] or 0 (none; bias
 * needs scale). mean, invStd: [rows] outputs (LayerNormalization's Mean and InvStdDev: m and a)
 * or 0.
 */
export function layernorm_f32_forward(
  y: usize, mean: usize, invStd: usize, x: usize, scale: usize, bias: usize, rows: i32, cols: i32, eps: f32, mvn: i32,
): void {
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes, yr = y + <usize>r * rowBytes;
    const m = rowMean(xr, cols);
    const v = rowVariance(xr, cols, m);
    const a: f32 = mvn ? 1 / (Mathf.sqrt(v) + eps) : 1 / Mathf.sqrt(v + eps);
    if (mean) store<f32>(mean + (<usize>r << 2), m);
    if (invStd) store<f32>(invStd + (<usize>r << 2), a);
    normalizeRow(yr, xr, cols, m, a, scale, bias);
  }
}

/**
 * Backward of layernorm_f32_forward (LayerNormalization form), from the saved mean and invStd
 * [rows]. With xh = (x - mean) * invStd and g = dy * scale (dy without scale):
 *   dx[r, c]  += invStd * (g - mean_c(g) - xh * mean_c(g * xh))
 *   dscale[c] += sum_r dy * xh,   dbias[c] += sum_r dy      (each skipped when 0)
 * dx must not alias dy or x.
 */
export function layernorm_f32_backward(
  dx: usize, dscale: usize, dbias: usize, dy: usize, x: usize, scale: usize, mean: usize, invStd: usize, rows: i32, cols: i32,
): void {
  const rowBytes = <usize>cols << 2;
  const inv = <f32>1 / <f32>cols;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes, gr = dy + <usize>r * rowBytes, dr = dx + <usize>r * rowBytes;
    const m = load<f32>(mean + (<usize>r << 2)), is = load<f32>(invStd + (<usize>r << 2));
    // sums of g and g * xh over the row
    let sg: f32 = 0, sgx: f32 = 0;
    for (let c = 0; c < cols; c++) {
      const o = <usize>c << 2;
      const g = load<f32>(gr + o) * (scale ? load<f32>(scale + o) : 1);
      const xh = (load<f32>(xr + o) - m) * is;
      sg += g;
      sgx += g * xh;
      if (dscale) store<f32>(dscale + o, load<f32>(dscale + o) + load<f32>(gr + o) * xh);
      if (dbias) store<f32>(dbias + o, load<f32>(dbias + o) + load<f32>(gr + o));
    }
    const mg = sg * inv, mgx = sgx * inv;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      const vm = f32x4.splat(m), vis = f32x4.splat(is), vmg = f32x4.splat(mg), vmgx = f32x4.splat(mgx), one = f32x4.splat(1);
      for (; c + 4 <= cols; c += 4) {
        const o = <usize>c << 2;
        const g = f32x4.mul(v128.load(gr + o), scale ? v128.load(scale + o) : one);
        const xh = f32x4.mul(f32x4.sub(v128.load(xr + o), vm), vis);
        const t = f32x4.sub(f32x4.sub(g, vmg), f32x4.mul(xh, vmgx));
        v128.store(dr + o, madd(t, vis, v128.load(dr + o)));
      }
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      const g = load<f32>(gr + o) * (scale ? load<f32>(scale + o) : 1);
      const xh = (load<f32>(xr + o) - m) * is;
      store<f32>(dr + o, load<f32>(dr + o) + is * (g - mg - xh * mgx));
    }
  }
}

/**
 * Backward of layernorm_f32_forward's MeanVarianceNormalization form (mvn != 0, no scale or bias):
 * per row, with c = x - m, s = sqrt(v) and d = s + eps (statistics recomputed from x),
 *   dx[r, k] += (dy - mean_k(dy)) / d - c * mean_k(dy * c) / (s * d * d)
 * (the second term 0 where s is 0: a constant row). dx must not alias dy or x.
 */
export function mvn_f32_backward(dx: usize, dy: usize, x: usize, rows: i32, cols: i32, eps: f32): void {
  const rowBytes = <usize>cols << 2;
  const inv = <f32>1 / <f32>cols;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes, gr = dy + <usize>r * rowBytes, dr = dx + <usize>r * rowBytes;
    const m = rowMean(xr, cols);
    const s = Mathf.sqrt(rowVariance(xr, cols, m));
    const d = s + eps;
    let sg: f32 = 0, sgc: f32 = 0;
    for (let k = 0; k < cols; k++) {
      const o = <usize>k << 2;
      const g = load<f32>(gr + o);
      sg += g;
      sgc += g * (load<f32>(xr + o) - m);
    }
    const a: f32 = 1 / d, mg = sg * inv;
    const b: f32 = s == 0 ? 0 : (sgc * inv) / (s * d * d);
    let k = 0;
    if (ASC_FEATURE_SIMD) {
      const vm = f32x4.splat(m), va = f32x4.splat(a), vmg = f32x4.splat(mg), vb = f32x4.splat(b);
      for (; k + 4 <= cols; k += 4) {
        const o = <usize>k << 2;
        const t = f32x4.sub(f32x4.mul(f32x4.sub(v128.load(gr + o), vmg), va), f32x4.mul(f32x4.sub(v128.load(xr + o), vm), vb));
        v128.store(dr + o, f32x4.add(v128.load(dr + o), t));
      }
    }
    for (; k < cols; k++) {
      const o = <usize>k << 2;
      store<f32>(dr + o, load<f32>(dr + o) + ((load<f32>(gr + o) - mg) * a - (load<f32>(xr + o) - m) * b));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// groups of channels, ONNX order: GroupNormalization, InstanceNormalization (Cg = 1)

/**
 * x [N, G * Cg, S] in ONNX order: each (n, g) normalised over its Cg * S contiguous elements,
 *   y[n, c, s] = (x[n, c, s] - m) * invStd * scale[c] + bias[c],  invStd = 1 / sqrt(v + eps).
 * scale, bias: [G * Cg] (0: 1 and 0). mean, invStd: [N, G] outputs or 0.
 */
export function groupnorm_f32_forward(
  y: usize, mean: usize, invStd: usize, x: usize, scale: usize, bias: usize, N: i32, G: i32, Cg: i32, S: i32, eps: f32,
): void {
  const chunk = Cg * S;
  for (let t = 0; t < N * G; t++) {
    const base = (<usize>t * <usize>chunk) << 2;
    const m = rowMean(x + base, chunk);
    const is: f32 = 1 / Mathf.sqrt(rowVariance(x + base, chunk, m) + eps);
    if (mean) store<f32>(mean + (<usize>t << 2), m);
    if (invStd) store<f32>(invStd + (<usize>t << 2), is);
    const g = t % G;
    for (let c = 0; c < Cg; c++) {
      const ch = <usize>(g * Cg + c) << 2;
      const a = is * (scale ? load<f32>(scale + ch) : 1);
      const b = (bias ? load<f32>(bias + ch) : 0) - m * a;
      const o = base + ((<usize>c * <usize>S) << 2);
      affineRow(y + o, x + o, S, a, b);
    }
  }
}

/**
 * Backward of groupnorm_f32_forward from the saved mean and invStd [N, G]; with
 * xh = (x - m) * invStd and g = dy * scale[c], over each group's Cg * S elements (M of them):
 *   dx += invStd * (g - mean(g) - xh * mean(g * xh));  dscale[c] += sum dy * xh;  dbias[c] += sum dy.
 * dx must not alias dy or x.
 */
export function groupnorm_f32_backward(
  dx: usize, dscale: usize, dbias: usize, dy: usize, x: usize, scale: usize, mean: usize, invStd: usize, N: i32, G: i32, Cg: i32, S: i32,
): void {
  const chunk = Cg * S;
  const inv = <f32>1 / <f32>chunk;
  for (let t = 0; t < N * G; t++) {
    const base = (<usize>t * <usize>chunk) << 2;
    const m = load<f32>(mean + (<usize>t << 2)), is = load<f32>(invStd + (<usize>t << 2));
    const g0 = t % G;
    let sg: f32 = 0, sgx: f32 = 0;
    for (let c = 0; c < Cg; c++) {
      const ch = <usize>(g0 * Cg + c) << 2;
      const sc: f32 = scale ? load<f32>(scale + ch) : 1;
      let sdy: f32 = 0, sdyx: f32 = 0;
      for (let s = 0; s < S; s++) {
        const o = base + ((<usize>c * <usize>S + <usize>s) << 2);
        const d = load<f32>(dy + o), xh = (load<f32>(x + o) - m) * is;
        sdy += d;
        sdyx += d * xh;
      }
      sg += sdy * sc;
      sgx += sdyx * sc;
      if (dscale) store<f32>(dscale + ch, load<f32>(dscale + ch) + sdyx);
      if (dbias) store<f32>(dbias + ch, load<f32>(dbias + ch) + sdy);
    }
    const mg = sg * inv, mgx = sgx * inv;
    for (let c = 0; c < Cg; c++) {
      const sc: f32 = scale ? load<f32>(scale + (<usize>(g0 * Cg + c) << 2)) : 1;
      for (let s = 0; s < S; s++) {
        const o = base + ((<usize>c * <usize>S + <usize>s) << 2);
        const xh = (load<f32>(x + o) - m) * is;
        store<f32>(dx + o, load<f32>(dx + o) + is * (load<f32>(dy + o) * sc - mg - xh * mgx));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// channels-last InstanceNormalization: per image n, x_n is [S, C]; statistics per channel

const TILE: i32 = 256;
const LEVELS: i32 = 32;

/** Workspace floats instancenorm_nhwc_f32_forward needs for C channels. */
export function instancenorm_nhwc_f32_workspace(C: i32): i32 {
  return max(min(C, TILE) * (LEVELS + 1), 2 * C);
}

/** acc[j] += (x[j] - shift[j])^2 (shift != 0) or x[j], for j < w. */
function addRowTerms(acc: usize, x: usize, shift: usize, w: i32): void {
  if (!shift) {
    addLanes(acc, x, w);
    return;
  }
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    for (; j + 4 <= w; j += 4) {
      const o = <usize>j << 2;
      const d = f32x4.sub(v128.load(x + o), v128.load(shift + o));
      v128.store(acc + o, madd(d, d, v128.load(acc + o)));
    }
  }
  for (; j < w; j++) {
    const o = <usize>j << 2;
    const d = load<f32>(x + o) - load<f32>(shift + o);
    store<f32>(acc + o, load<f32>(acc + o) + d * d);
  }
}

/** out[j] = the mean over S rows (stride C floats) of x[j] or (x[j] - shift[j])^2, j < w; pairwise. */
function columnMeans(out: usize, x: usize, shift: usize, ws: usize, S: i32, C: i32, w: i32): void {
  const part = ws, levels = ws + (<usize>w << 2);
  let count = 0;
  for (let b = 0; b < S; b += BLOCK) {
    fillLanes(part, 0, w);
    const e = min(S, b + BLOCK);
    for (let s = b; s < e; s++) addRowTerms(part, x + ((<usize>s * <usize>C) << 2), shift, w);
    count = cascadePush(part, levels, w, count);
  }
  cascadeTotal(out, levels, w, count);
  const inv = <f64>1 / <f64>S;
  for (let j = 0; j < w; j++) store<f32>(out + (<usize>j << 2), <f32>(<f64>load<f32>(out + (<usize>j << 2)) * inv));
}

/**
 * InstanceNormalization of channels-last x [N, S, C]:
 *   y[n, s, c] = (x[n, s, c] - mean[n, c]) * invStd[n, c] * scale[c] + bias[c]
 * with per-(n, c) statistics over S. mean, invStd: [N, C] outputs (saved for the backward:
 * batchnorm_f32_backward on each image). ws: instancenorm_nhwc_f32_workspace(C) floats.
 */
export function instancenorm_nhwc_f32_forward(
  y: usize, mean: usize, invStd: usize, x: usize, scale: usize, bias: usize, ws: usize, N: i32, S: i32, C: i32, eps: f32,
): void {
  const image = (<usize>S * <usize>C) << 2;
  for (let n = 0; n < N; n++) {
    const xn = x + <usize>n * image, yn = y + <usize>n * image;
    const mn = mean + ((<usize>n * <usize>C) << 2), vn = invStd + ((<usize>n * <usize>C) << 2);
    for (let j0 = 0; j0 < C; j0 += TILE) {
      const w = min(TILE, C - j0), o = <usize>j0 << 2;
      columnMeans(mn + o, xn + o, 0, ws, S, C, w);
      columnMeans(vn + o, xn + o, mn + o, ws, S, C, w);
      for (let j = 0; j < w; j++) {
        const p = vn + o + (<usize>j << 2);
        store<f32>(p, 1 / Mathf.sqrt(load<f32>(p) + eps));
      }
    }
    // a = invStd * scale, b = bias - mean * a, into ws; then y = x * a + b row by row
    const a = ws, b = ws + (<usize>C << 2);
    for (let c = 0; c < C; c++) {
      const o = <usize>c << 2;
      const ac = load<f32>(vn + o) * load<f32>(scale + o);
      store<f32>(a + o, ac);
      store<f32>(b + o, load<f32>(bias + o) - load<f32>(mn + o) * ac);
    }
    for (let s = 0; s < S; s++) {
      const xr = xn + ((<usize>s * <usize>C) << 2), yr = yn + ((<usize>s * <usize>C) << 2);
      let c = 0;
      if (ASC_FEATURE_SIMD) {
        for (; c + 4 <= C; c += 4) {
          const o = <usize>c << 2;
          v128.store(yr + o, madd(v128.load(xr + o), v128.load(a + o), v128.load(b + o)));
        }
      }
      for (; c < C; c++) {
        const o = <usize>c << 2;
        store<f32>(yr + o, load<f32>(xr + o) * load<f32>(a + o) + load<f32>(b + o));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization inference in ONNX order

/**
 * ONNX BatchNormalization (training_mode 0) of x [N, C, S] in ONNX order:
 *   y[n, c, s] = (x[n, c, s] - mean[c]) * scale[c] / sqrt(var[c] + eps) + bias[c].
 */
export function batchnorm_ncs_f32_inference(
  y: usize, x: usize, scale: usize, bias: usize, mean: usize, variance: usize, eps: f32, N: i32, C: i32, S: i32,
): void {
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const o = <usize>c << 2;
      const a = load<f32>(scale + o) / Mathf.sqrt(load<f32>(variance + o) + eps);
      const b = load<f32>(bias + o) - load<f32>(mean + o) * a;
      const row = ((<usize>n * <usize>C + <usize>c) * <usize>S) << 2;
      affineRow(y + row, x + row, S, a, b);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// LpNormalization along one axis: x viewed as [O, R, V]

/** The p-norm (p = 1 or 2) of the R elements at x with stride V (floats). */
function stridedNorm(x: usize, R: i32, V: i32, p: i32): f32 {
  if (V == 1) return p == 1 ? rowSum(x, R, L1, 0) : Mathf.sqrt(rowSum(x, R, SUM_SQUARE, 0));
  let s: f32 = 0;
  for (let r = 0; r < R; r++) {
    const v = load<f32>(x + ((<usize>r * <usize>V) << 2));
    s += p == 1 ? Mathf.abs(v) : v * v;
  }
  return p == 1 ? s : Mathf.sqrt(s);
}

/**
 * ONNX LpNormalization (p = 1 or 2) along R of x [O, R, V]: y = x / ||x||_p, 0 where the norm is
 * 0 (as onnxruntime). y may alias x.
 */
export function lpnorm_f32_forward(y: usize, x: usize, O: i32, R: i32, V: i32, p: i32): void {
  for (let o = 0; o < O; o++) {
    for (let j = 0; j < V; j++) {
      const base = ((<usize>o * <usize>R * <usize>V) + <usize>j) << 2;
      const nrm = stridedNorm(x + base, R, V, p);
      const a: f32 = nrm == 0 ? 0 : 1 / nrm;
      if (V == 1) affineRow(y + base, x + base, R, a, 0);
      else for (let r = 0; r < R; r++) {
        const q = base + ((<usize>r * <usize>V) << 2);
        store<f32>(y + q, load<f32>(x + q) * a);
      }
    }
  }
}

/**
 * Backward of lpnorm_f32_forward: with n = ||x||_p along R and y = x / n,
 *   p = 2: dx += (dy - y * sum(dy * y)) / n
 *   p = 1: dx += (dy - sign(x) * sum(dy * y)) / n
 * (nothing where n is 0). dx must not alias dy, x or y.
 */
export function lpnorm_f32_backward(dx: usize, dy: usize, x: usize, y: usize, O: i32, R: i32, V: i32, p: i32): void {
  for (let o = 0; o < O; o++) {
    for (let j = 0; j < V; j++) {
      const base = ((<usize>o * <usize>R * <usize>V) + <usize>j) << 2;
      const nrm = stridedNorm(x + base, R, V, p);
      if (nrm == 0) continue;
      let s: f32 = 0;
      for (let r = 0; r < R; r++) {
        const q = base + ((<usize>r * <usize>V) << 2);
        s += load<f32>(dy + q) * load<f32>(y + q);
      }
      const inv: f32 = 1 / nrm;
      for (let r = 0; r < R; r++) {
        const q = base + ((<usize>r * <usize>V) << 2);
        const xv = load<f32>(x + q);
        const dir: f32 = p == 1 ? (xv > 0 ? 1 : xv < 0 ? -1 : 0) : load<f32>(y + q);
        store<f32>(dx + q, load<f32>(dx + q) + (load<f32>(dy + q) - dir * s) * inv);
      }
    }
  }
}
