/// <reference types="@as-pect/assembly/types/as-pect" />
// The element-wise kernels of assembly/elementwise.ts called directly, inside wasm, against plain
// loops, at lengths around the 4-lane SIMD tile. Compiled once with SIMD and once without (see
// as-pect.config.js), so both the f32x4 main loops and the scalar tails are checked. Every buffer
// has GUARD sentinel floats after its end: a kernel that writes past n fails.
import {
  add_f32_forward,
  axpy_f32,
  bias_f32_backward,
  bias_f32_forward,
  fill_f32,
  relu_f32_backward,
  relu_f32_forward,
} from "../elementwise";

const SIZES: StaticArray<i32> = [1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 31, 33];
const GUARD = 5;
const SENTINEL: f32 = 12345.5;

let seed: u32 = 1;
/** Deterministic values in [-1, 1) (xorshift32), with exact zeros mixed in for relu's edge. */
function next(): f32 {
  seed ^= seed << 13;
  seed ^= seed >> 17;
  seed ^= seed << 5;
  if (seed % 11 == 0) return 0;
  return <f32>(<f64>seed / 4294967296.0 * 2.0 - 1.0);
}

/** A buffer of n random floats followed by GUARD sentinels. */
function buffer(n: i32): StaticArray<f32> {
  const a = new StaticArray<f32>(n + GUARD);
  for (let i = 0; i < n; i++) a[i] = next();
  for (let i = n; i < n + GUARD; i++) a[i] = SENTINEL;
  return a;
}

function copy(a: StaticArray<f32>): StaticArray<f32> {
  const b = new StaticArray<f32>(a.length);
  for (let i = 0; i < a.length; i++) b[i] = a[i];
  return b;
}

// @ts-ignore: decorator
@inline function ptr(a: StaticArray<f32>): usize {
  return changetype<usize>(a);
}

/** Exact equality on the first n elements; the guard after them must be untouched. */
function expectSame(actual: StaticArray<f32>, expected: StaticArray<f32>, n: i32, what: string): void {
  for (let i = 0; i < n; i++) expect<f32>(actual[i]).toBe(expected[i], what + " n=" + n.toString() + " i=" + i.toString());
  for (let i = n; i < n + GUARD; i++) expect<f32>(actual[i]).toBe(SENTINEL, what + " wrote past n=" + n.toString());
}

/** |actual - expected| <= 1e-6 * max(1, |expected|) (a fused multiply-add may round once less). */
function expectNear(actual: StaticArray<f32>, expected: StaticArray<f64>, n: i32, what: string): void {
  for (let i = 0; i < n; i++) {
    const err = Math.abs(<f64>actual[i] - expected[i]);
    expect<bool>(err <= 1e-6 * Math.max(1.0, Math.abs(expected[i]))).toBe(true, what + " n=" + n.toString() + " i=" + i.toString());
  }
  for (let i = n; i < n + GUARD; i++) expect<f32>(actual[i]).toBe(SENTINEL, what + " wrote past n=" + n.toString());
}

describe("elementwise kernels (SIMD " + (ASC_FEATURE_SIMD ? "on" : "off") + ")", () => {
  it("relu_f32_forward: y = max(x, 0), also in place and at an unaligned pointer", () => {
    for (let k = 0; k < SIZES.length; k++) {
      const n = SIZES[k];
      const x = buffer(n);
      const want = buffer(n);
      for (let i = 0; i < n; i++) want[i] = x[i] > 0 ? x[i] : 0;
      const y = buffer(n);
      relu_f32_forward(ptr(y), ptr(x), n);
      expectSame(y, want, n, "relu");
      relu_f32_forward(ptr(x), ptr(x), n);
      expectSame(x, want, n, "relu in place");
      // one float in: v128 loads and stores that are not 16-byte aligned
      const xs = buffer(n + 1);
      const ys = buffer(n + 1);
      const ws = copy(ys);
      for (let i = 1; i <= n; i++) ws[i] = xs[i] > 0 ? xs[i] : 0;
      relu_f32_forward(ptr(ys) + 4, ptr(xs) + 4, n);
      expectSame(ys, ws, n + 1, "relu unaligned");
    }
  });

  it("relu_f32_backward: dx += dy where y > 0 (accumulates)", () => {
    for (let k = 0; k < SIZES.length; k++) {
      const n = SIZES[k];
      const y = buffer(n);
      for (let i = 0; i < n; i++) if (y[i] < 0) y[i] = 0;
      const dy = buffer(n);
      const dx = buffer(n);
      const want = copy(dx);
      for (let i = 0; i < n; i++) if (y[i] > 0) want[i] = dx[i] + dy[i];
      relu_f32_backward(ptr(dx), ptr(dy), ptr(y), n);
      expectSame(dx, want, n, "relu backward");
    }
  });

  it("add_f32_forward: y = a + b, also with y aliasing a", () => {
    for (let k = 0; k < SIZES.length; k++) {
      const n = SIZES[k];
      const a = buffer(n);
      const b = buffer(n);
      const want = buffer(n);
      for (let i = 0; i < n; i++) want[i] = a[i] + b[i];
      const y = buffer(n);
      add_f32_forward(ptr(y), ptr(a), ptr(b), n);
      expectSame(y, want, n, "add");
      add_f32_forward(ptr(a), ptr(a), ptr(b), n);
      expectSame(a, want, n, "add in place");
    }
  });

  it("axpy_f32: y += alpha * x", () => {
    const alphas: StaticArray<f32> = [1, -0.25, 3.5, 0];
    for (let k = 0; k < SIZES.length; k++) {
      for (let j = 0; j < alphas.length; j++) {
        const n = SIZES[k];
        const alpha = alphas[j];
        const x = buffer(n);
        const y = buffer(n);
        const want = new StaticArray<f64>(n);
        for (let i = 0; i < n; i++) want[i] = <f64>y[i] + <f64>alpha * <f64>x[i];
        axpy_f32(ptr(y), ptr(x), alpha, n);
        expectNear(y, want, n, "axpy alpha=" + alpha.toString());
      }
    }
  });

  it("fill_f32: y = value", () => {
    for (let k = 0; k < SIZES.length; k++) {
      const n = SIZES[k];
      const y = buffer(n);
      const want = buffer(n);
      for (let i = 0; i < n; i++) want[i] = -2.5;
      fill_f32(ptr(y), -2.5, n);
      expectSame(y, want, n, "fill");
    }
  });

  it("bias_f32_forward: y[r, c] += b[c] over row-major [rows, cols]", () => {
    for (let rows = 1; rows <= 3; rows++) {
      for (let k = 0; k < SIZES.length; k++) {
        const cols = SIZES[k];
        const n = rows * cols;
        const y = buffer(n);
        const b = buffer(cols);
        const want = copy(y);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) want[r * cols + c] = y[r * cols + c] + b[c];
        bias_f32_forward(ptr(y), ptr(b), rows, cols);
        expectSame(y, want, n, "bias forward rows=" + rows.toString());
      }
    }
  });

  it("bias_f32_backward: db[c] += sum over rows of dy[r, c] (accumulates)", () => {
    for (let rows = 1; rows <= 4; rows++) {
      for (let k = 0; k < SIZES.length; k++) {
        const cols = SIZES[k];
        const dy = buffer(rows * cols);
        const db = buffer(cols);
        const want = new StaticArray<f64>(cols);
        for (let c = 0; c < cols; c++) {
          let s = <f64>db[c];
          for (let r = 0; r < rows; r++) s += <f64>dy[r * cols + c];
          want[c] = s;
        }
        bias_f32_backward(ptr(db), ptr(dy), rows, cols);
        expectNear(db, want, cols, "bias backward rows=" + rows.toString());
      }
    }
  });
});
