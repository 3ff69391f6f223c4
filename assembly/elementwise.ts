// Element-wise ops on flat f32 arrays (any layout; `n` = number of elements).
// Pointers are byte addresses in linear memory, 4-byte aligned (16 recommended).
// Forward outputs may alias their input; backward kernels ACCUMULATE into gradients (dx += ...).

import { madd } from "./simd";
import { columnSumsF64 } from "./sums";

/** relu: y[i] = max(x[i], 0). y may alias x. */
export function relu_f32_forward(y: usize, x: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const zero = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, f32x4.max(v128.load(x + o), zero));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, max(load<f32>(x + o), 0));
  }
}

/** relu backward: dx[i] += y[i] > 0 ? dy[i] : 0, from the saved forward output y. */
export function relu_f32_backward(dx: usize, dy: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const zero = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const pass = f32x4.gt(v128.load(y + o), zero);
      v128.store(dx + o, f32x4.add(v128.load(dx + o), v128.and(v128.load(dy + o), pass)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    if (load<f32>(y + o) > 0) store<f32>(dx + o, load<f32>(dx + o) + load<f32>(dy + o));
  }
}

/** add: y[i] = a[i] + b[i] (residual connection). y may alias a or b.
 *  Backward is dA += dy, dB += dy: see accumulate_f32. */
export function add_f32_forward(y: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** axpy: y[i] += alpha * x[i]. The accumulation primitive of every backward pass and of SGD. */
export function axpy_f32(y: usize, x: usize, alpha: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f32x4.splat(alpha);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, madd(va, v128.load(x + o), v128.load(y + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}

/** fill: y[i] = value. */
export function fill_f32(y: usize, value: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const v = f32x4.splat(value);
    for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), v);
  }
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), value);
}

/** fill_f32 with value as its f32 bits: the threaded form (the worker pool passes i32 arguments only). */
export function fill_f32_bits(y: usize, value: i32, n: i32): void {
  fill_f32(y, reinterpret<f32>(value), n);
}

/** bias add over rows: y[r, c] += b[c] for a row-major [rows, cols] y (NHWC: cols = channels). */
export function bias_f32_forward(y: usize, b: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const row = y + (<usize>r * <usize>cols << 2);
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 4 <= cols; c += 4) {
        const o = <usize>c << 2;
        v128.store(row + o, f32x4.add(v128.load(row + o), v128.load(b + o)));
      }
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      store<f32>(row + o, load<f32>(row + o) + load<f32>(b + o));
    }
  }
}

/**
 * bias backward: db[c] += sum over r of dy[r, c], dy row-major [rows, cols]. The sums run in
 * float64 (columnSumsF64): one rounding per output whatever the row count.
 */
export function bias_f32_backward(db: usize, dy: usize, rows: i32, cols: i32): void {
  columnSumsF64(db, dy, rows, cols, 1, true);
}

/** Index of the first element of x[0..n) that is NaN or +-Infinity, or -1 if all are finite. */
export function find_nonfinite_f32(x: usize, n: i32): i32 {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      const d = f32x4.sub(v, v); // 0 for finite lanes, NaN for NaN and infinities
      if (v128.any_true(f32x4.ne(d, d))) break; // the scalar loop below finds the lane
    }
  }
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (v - v != 0) return i;
  }
  return -1;
}
