// Softmax family over the last axis: x is a row-major [rows, cols] view of a tensor of any rank
// (cols = its last dimension). Every row is made stable by subtracting its maximum before exp.
// SIMD lanes run over cols (unaligned loads: rows start anywhere when cols % 4 != 0).
// Forward outputs may alias their input; backward kernels ACCUMULATE into gradients (dx += ...).
// A row whose maximum is +inf or NaN gives NaN (as the float64 formula would).

import { hmax, hsum, madd } from "./simd";
import { vmath } from "./activation";

/** Largest entry of the row at `row` (cols >= 1). */
// @ts-ignore: decorator
@inline function rowMax(row: usize, cols: i32): f32 {
  let m: f32 = -Infinity;
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    if (cols >= 4) {
      let vm = v128.load(row);
      for (c = 4; c + 4 <= cols; c += 4) vm = f32x4.max(vm, v128.load(row + (<usize>c << 2)));
      m = hmax(vm);
    }
  }
  for (; c < cols; c++) m = max(m, load<f32>(row + (<usize>c << 2)));
  return m;
}

/** Sum over the row of exp(x - m); if `dst` != 0 also stores each exp(x - m) at dst. */
// @ts-ignore: decorator
@inline function rowExpSum(dst: usize, row: usize, m: f32, cols: i32): f32 {
  let sum: f32 = 0;
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    const vm = f32x4.splat(m);
    let acc = f32x4.splat(0);
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      const e = vmath.exp4(f32x4.sub(v128.load(row + o), vm));
      if (dst) v128.store(dst + o, e);
      acc = f32x4.add(acc, e);
    }
    sum = hsum(acc);
  }
  for (; c < cols; c++) {
    const o = <usize>c << 2;
    const e = vmath.expf(load<f32>(row + o) - m);
    if (dst) store<f32>(dst + o, e);
    sum += e;
  }
  return sum;
}

/** row[c] *= s for every c. */
// @ts-ignore: decorator
@inline function rowScale(row: usize, s: f32, cols: i32): void {
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    const vs = f32x4.splat(s);
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      v128.store(row + o, f32x4.mul(v128.load(row + o), vs));
    }
  }
  for (; c < cols; c++) {
    const o = <usize>c << 2;
    store<f32>(row + o, load<f32>(row + o) * s);
  }
}

/** softmax: y[r, c] = exp(x[r, c] - max_r) / sum_c' exp(x[r, c'] - max_r). y may alias x. */
export function softmax_f32_forward(y: usize, x: usize, rows: i32, cols: i32): void {
  if (cols <= 0) return;
  for (let r = 0; r < rows; r++) {
    const base = <usize>r * <usize>cols << 2;
    const m = rowMax(x + base, cols);
    const sum = rowExpSum(y + base, x + base, m, cols);
    rowScale(y + base, 1 / sum, cols);
  }
}

/** softmax backward from the saved output y: dx[r, c] += y[r, c] * (dy[r, c] - sum_c' dy[r, c'] y[r, c']). */
export function softmax_f32_backward(dx: usize, dy: usize, y: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const base = <usize>r * <usize>cols << 2;
    const yr = y + base, dyr = dy + base, dxr = dx + base;
    let s: f32 = 0;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      let acc = f32x4.splat(0);
      for (; c + 4 <= cols; c += 4) {
        const o = <usize>c << 2;
        acc = madd(v128.load(dyr + o), v128.load(yr + o), acc);
      }
      s = hsum(acc);
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      s += load<f32>(dyr + o) * load<f32>(yr + o);
    }
    c = 0;
    if (ASC_FEATURE_SIMD) {
      const vs = f32x4.splat(s);
      for (; c + 4 <= cols; c += 4) {
        const o = <usize>c << 2;
        v128.store(dxr + o, madd(v128.load(yr + o), f32x4.sub(v128.load(dyr + o), vs), v128.load(dxr + o)));
      }
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      store<f32>(dxr + o, load<f32>(dxr + o) + load<f32>(yr + o) * (load<f32>(dyr + o) - s));
    }
  }
}

/** log-softmax: y[r, c] = x[r, c] - max_r - log(sum_c' exp(x[r, c'] - max_r)). y may alias x. */
export function log_softmax_f32_forward(y: usize, x: usize, rows: i32, cols: i32): void {
  if (cols <= 0) return;
  for (let r = 0; r < rows; r++) {
    const base = <usize>r * <usize>cols << 2;
    const xr = x + base, yr = y + base;
    const m = rowMax(xr, cols);
    const shift = m + Mathf.log(rowExpSum(0, xr, m, cols));
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      const vs = f32x4.splat(shift);
      for (; c + 4 <= cols; c += 4) {
        const o = <usize>c << 2;
        v128.store(yr + o, f32x4.sub(v128.load(xr + o), vs));
      }
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      store<f32>(yr + o, load<f32>(xr + o) - shift);
    }
  }
}

/** log-softmax backward from the saved output y: dx[r, c] += dy[r, c] - exp(y[r, c]) * sum_c' dy[r, c']. */
export function log_softmax_f32_backward(dx: usize, dy: usize, y: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const base = <usize>r * <usize>cols << 2;
    const yr = y + base, dyr = dy + base, dxr = dx + base;
    let s: f32 = 0;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      let acc = f32x4.splat(0);
      for (; c + 4 <= cols; c += 4) acc = f32x4.add(acc, v128.load(dyr + (<usize>c << 2)));
      s = hsum(acc);
    }
    for (; c < cols; c++) s += load<f32>(dyr + (<usize>c << 2));
    c = 0;
    if (ASC_FEATURE_SIMD) {
      const vns = f32x4.splat(-s);
      for (; c + 4 <= cols; c += 4) {
        const o = <usize>c << 2;
        const g = f32x4.add(v128.load(dxr + o), v128.load(dyr + o));
        v128.store(dxr + o, madd(vmath.exp4(v128.load(yr + o)), vns, g));
      }
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      store<f32>(dxr + o, load<f32>(dxr + o) + load<f32>(dyr + o) - vmath.expf(load<f32>(yr + o)) * s);
    }
  }
}

/**
 * Fused softmax + cross-entropy over [rows = batch, cols = classes] logits with i32 class labels
 * [rows]. Stores probs = softmax(logits) (saved for the backward) and returns the SUM over rows of
 * -log probs[r, labels[r]], computed as max + log(sum exp(x - max)) - x[label] (stable).
 * probs may alias logits. The host checks labels are in [0, cols); a row with a label outside is
 * skipped by the loss (never read out of bounds).
 */
export function softmax_cross_entropy_f32_forward(probs: usize, logits: usize, labels: usize, rows: i32, cols: i32): f64 {
  if (cols <= 0) return 0;
  let total: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const base = <usize>r * <usize>cols << 2;
    const xr = logits + base, pr = probs + base;
    const label = load<i32>(labels + (<usize>r << 2));
    const m = rowMax(xr, cols);
    const xl: f32 = <u32>label < <u32>cols ? load<f32>(xr + (<usize>label << 2)) : 0; // read before probs overwrites an aliased row
    const sum = rowExpSum(pr, xr, m, cols);
    if (<u32>label < <u32>cols) total += <f64>(m - xl) + Math.log(<f64>sum);
    rowScale(pr, 1 / sum, cols);
  }
  return total;
}

/** Fused softmax + cross-entropy backward: dlogits[r, c] += scale * (probs[r, c] - (c == labels[r])).
 *  scale is usually 1 / rows (the loss is the batch mean). Labels outside [0, cols) add no one-hot. */
export function softmax_cross_entropy_f32_backward(dlogits: usize, probs: usize, labels: usize, scale: f32, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const base = <usize>r * <usize>cols << 2;
    const pr = probs + base, dr = dlogits + base;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      const vs = f32x4.splat(scale);
      for (; c + 4 <= cols; c += 4) {
        const o = <usize>c << 2;
        v128.store(dr + o, madd(v128.load(pr + o), vs, v128.load(dr + o)));
      }
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      store<f32>(dr + o, load<f32>(dr + o) + load<f32>(pr + o) * scale);
    }
    const label = load<i32>(labels + (<usize>r << 2));
    if (<u32>label < <u32>cols) {
      const o = <usize>label << 2;
      store<f32>(dr + o, load<f32>(dr + o) - scale);
    }
  }
}
