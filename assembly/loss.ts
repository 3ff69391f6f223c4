// Loss functions that return a SUM (f64) for the host to scale (usually to a batch mean), and
// backward kernels that ACCUMULATE scale * d(sum)/d(input) into the gradient (dx += ...).
// Pointers are byte addresses, 4-byte aligned. Softmax cross-entropy lives in softmax.ts.

import { hsum, madd } from "./simd";

/** Elements summed in f32 lanes (32 per lane) before the partial sum is added to the f64 total. */
const BLOCK: i32 = 128;

/** Mean squared error numerator: returns sum over i of (pred[i] - target[i])^2, n elements. */
export function mse_f32_forward(pred: usize, target: usize, n: i32): f64 {
  let total: f64 = 0;
  for (let start = 0; start < n; start += BLOCK) {
    const end = min(start + BLOCK, n);
    let i = start;
    if (ASC_FEATURE_SIMD) {
      let acc = f32x4.splat(0);
      for (; i + 4 <= end; i += 4) {
        const o = <usize>i << 2;
        const d = f32x4.sub(v128.load(pred + o), v128.load(target + o));
        acc = madd(d, d, acc);
      }
      total += <f64>hsum(acc);
    }
    for (; i < end; i++) { // the scalar tail (and scalar build) sums in f64 directly
      const o = <usize>i << 2;
      const d = <f64>(load<f32>(pred + o) - load<f32>(target + o));
      total += d * d;
    }
  }
  return total;
}

/** MSE backward: dpred[i] += scale * 2 * (pred[i] - target[i]) (scale = 1 / n for the mean). */
export function mse_f32_backward(dpred: usize, pred: usize, target: usize, scale: f32, n: i32): void {
  const s2: f32 = 2 * scale;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vs = f32x4.splat(s2);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const d = f32x4.sub(v128.load(pred + o), v128.load(target + o));
      v128.store(dpred + o, madd(vs, d, v128.load(dpred + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dpred + o, load<f32>(dpred + o) + s2 * (load<f32>(pred + o) - load<f32>(target + o)));
  }
}

/**
 * Multiclass hinge (Weston-Watkins SVM) over scores [rows, cols] with i32 labels [rows]: returns
 * the SUM over rows of sum over j != y of max(0, s[j] - s[y] + margin). Rows whose label is outside
 * [0, cols) are skipped (the host rejects them before calling).
 */
export function multiclass_hinge_f32_forward(scores: usize, labels: usize, margin: f32, rows: i32, cols: i32): f64 {
  let total: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const label = load<i32>(labels + (<usize>r << 2));
    if (<u32>label >= <u32>cols) continue;
    const row = scores + (<usize>r * <usize>cols << 2);
    const shift: f32 = margin - load<f32>(row + (<usize>label << 2));
    let s: f32 = 0;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      const vshift = f32x4.splat(shift), zero = f32x4.splat(0);
      let acc = zero;
      for (; c + 4 <= cols; c += 4) {
        acc = f32x4.add(acc, f32x4.max(f32x4.add(v128.load(row + (<usize>c << 2)), vshift), zero));
      }
      s = hsum(acc);
    }
    for (; c < cols; c++) s += max<f32>(load<f32>(row + (<usize>c << 2)) + shift, 0);
    // The lanes also summed the j == y term, max(0, margin) up to rounding: take off exactly that value.
    total += <f64>s - <f64>max<f32>(load<f32>(row + (<usize>label << 2)) + shift, 0);
  }
  return total;
}

/**
 * Multiclass hinge backward: for each row with label y and every j != y with s[j] - s[y] + margin > 0,
 * dscores[j] += scale and dscores[y] -= scale (scale = 1 / rows for the batch mean).
 * The lane loop also visits j == y (adding scale when margin > 0); counting it among the positives
 * and subtracting scale * count at y cancels that exactly in the sum.
 */
export function multiclass_hinge_f32_backward(dscores: usize, scores: usize, labels: usize, margin: f32, scale: f32, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const label = load<i32>(labels + (<usize>r << 2));
    if (<u32>label >= <u32>cols) continue;
    const base = <usize>r * <usize>cols << 2;
    const row = scores + base, drow = dscores + base;
    const shift: f32 = margin - load<f32>(row + (<usize>label << 2));
    let count = 0;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      const vshift = f32x4.splat(shift), zero = f32x4.splat(0), vs = f32x4.splat(scale);
      let vcount = i32x4.splat(0);
      for (; c + 4 <= cols; c += 4) {
        const o = <usize>c << 2;
        const on = f32x4.gt(f32x4.add(v128.load(row + o), vshift), zero);
        vcount = i32x4.sub(vcount, on); // lanes are -1 where on
        v128.store(drow + o, f32x4.add(v128.load(drow + o), v128.and(vs, on)));
      }
      count = i32x4.extract_lane(vcount, 0) + i32x4.extract_lane(vcount, 1) + i32x4.extract_lane(vcount, 2) + i32x4.extract_lane(vcount, 3);
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      if (load<f32>(row + o) + shift > 0) {
        store<f32>(drow + o, load<f32>(drow + o) + scale);
        count++;
      }
    }
    const oy = <usize>label << 2;
    store<f32>(drow + oy, load<f32>(drow + oy) - scale * <f32>count);
  }
}

/**
 * Binary cross-entropy on logits (sigmoid fused, stable): returns the SUM over i of
 * max(z, 0) - z * t + log(1 + exp(-|z|)), z = logits[i], t = targets[i] (usually in [0, 1]), n elements.
 */
export function bce_logits_f32_forward(logits: usize, targets: usize, n: i32): f64 {
  let total: f64 = 0;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const z = <f64>load<f32>(logits + o), t = <f64>load<f32>(targets + o);
    total += max(z, 0) - z * t + Math.log1p(Math.exp(-abs(z)));
  }
  return total;
}

/** BCE-on-logits backward: dlogits[i] += scale * (sigmoid(z) - t) (scale = 1 / n for the mean). */
export function bce_logits_f32_backward(dlogits: usize, logits: usize, targets: usize, scale: f32, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const z = <f64>load<f32>(logits + o);
    const e = Math.exp(-abs(z));
    const sigmoid = z >= 0 ? 1 / (1 + e) : e / (1 + e);
    store<f32>(dlogits + o, load<f32>(dlogits + o) + scale * <f32>(sigmoid - <f64>load<f32>(targets + o)));
  }
}
