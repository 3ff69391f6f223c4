// Indexing by run-time data (ONNX Gather, GatherElements, GatherND, ScatterND) and small generators (Range, Trilu).
// Elements are 4 bytes (f32 or i32) and are moved as bits; indices are i32 (ONNX int64 indices
// saturated to i32 by the host), negative ones count from the end of the axis. An index outside
// [-len, len) writes zero bits and is counted: every kernel that reads indices returns how many
// were out of range, and the host turns a non-zero count into an error naming the op.
import { ND_DESC_WORDS, ND_MAX_RANK, ndDim, ndRank, ndStride } from "./nd";
import { addRow, copyRow, fillRow } from "./rows";

/**
 * Gather along one axis: x [outer, len, inner], idx [count], y [outer, count, inner],
 * y[o, j, :] = x[o, idx[j], :]. Returns the number of out-of-range indices (their rows are 0).
 */
export function gather_axis(y: usize, x: usize, idx: usize, outer: i32, len: i32, count: i32, inner: i32): i32 {
  let bad = 0;
  const rowBytes = <usize>inner << 2;
  for (let o = 0; o < outer; o++) {
    const xo = x + <usize>o * <usize>len * rowBytes;
    for (let j = 0; j < count; j++) {
      let v = load<i32>(idx + (<usize>j << 2));
      if (v < 0) v += len;
      const yr = y + (<usize>o * <usize>count + <usize>j) * rowBytes;
      if (v < 0 || v >= len) {
        bad++;
        fillRow(yr, 0, inner);
      } else {
        copyRow(yr, xo + <usize>v * rowBytes, inner, 1, 1);
      }
    }
  }
  return bad;
}

/** The adjoint of gather_axis, accumulating: dx[o, idx[j], :] += dy[o, j, :]. Returns the bad-index count. */
export function gather_axis_f32_backward(dx: usize, dy: usize, idx: usize, outer: i32, len: i32, count: i32, inner: i32): i32 {
  let bad = 0;
  const rowBytes = <usize>inner << 2;
  for (let o = 0; o < outer; o++) {
    const xo = dx + <usize>o * <usize>len * rowBytes;
    for (let j = 0; j < count; j++) {
      let v = load<i32>(idx + (<usize>j << 2));
      if (v < 0) v += len;
      if (v < 0 || v >= len) {
        bad++;
        continue;
      }
      addRow(xo + <usize>v * rowBytes, dy + (<usize>o * <usize>count + <usize>j) * rowBytes, inner, 1, 1);
    }
  }
  return bad;
}

/**
 * GatherElements: over the loop of an N-d descriptor (assembly/nd.ts) with operands 0 = y,
 * 1 = x with stride 0 along the gathered axis, 2 = idx:
 *   y[i . s0] = x[i . s1 + v * axisStride], v = idx[i . s2] (negative: + len).
 * Returns the number of out-of-range indices (their elements are 0). Its adjoint and
 * ScatterElements run the same loop the other way (see `elements`).
 */
export function gather_elements(y: usize, x: usize, idx: usize, desc: usize, axisStride: i32, len: i32): i32 {
  return elements(y, x, idx, desc, axisStride, len, ELEMENTS_GATHER);
}

/** The adjoint of gather_elements, accumulating: dx[i . s1 + v * axisStride] += dy[i . s0]. */
export function gather_elements_f32_backward(dx: usize, dy: usize, idx: usize, desc: usize, axisStride: i32, len: i32): i32 {
  return elements(dy, dx, idx, desc, axisStride, len, ELEMENTS_ADD);
}

// what `elements` does at each position: gather from x into y, or scatter y into x (as bits, or
// combined as f32); the scatter codes minus ELEMENTS_SCATTER are ScatterElements' reductions
const ELEMENTS_GATHER = -1,
  ELEMENTS_SCATTER = 0,
  ELEMENTS_ADD = 1,
  ELEMENTS_MUL = 2,
  ELEMENTS_MAX = 3;

/**
 * ScatterElements into y (already a copy of data), over the loop of an N-d descriptor (the
 * indices' shape) with operands 0 = updates, 1 = y with stride 0 along the scatter axis, 2 = idx:
 *   y[i . s1 + v * axisStride] = updates[i . s0] (reduction 0, as bits), or combined with it as
 *   f32: 1 add, 2 mul, 3 max, 4 min; v = idx[i . s2] (negative: + len).
 * Elements apply in order. An index outside [-len, len) is skipped and counted; returns the count.
 */
export function scatter_elements(y: usize, updates: usize, idx: usize, desc: usize, axisStride: i32, len: i32, reduction: i32): i32 {
  return elements(updates, y, idx, desc, axisStride, len, ELEMENTS_SCATTER + reduction);
}

// @ts-ignore: decorator
@inline function elements(y: usize, x: usize, idx: usize, desc: usize, axisStride: i32, len: i32, op: i32): i32 {
  const r = ndRank(desc);
  let total: i32 = 1;
  for (let a = 0; a < r; a++) total *= ndDim(desc, a);
  const inner = ndDim(desc, r - 1);
  const sy = ndStride(desc, 0, r - 1) << 2, sx = ndStride(desc, 1, r - 1) << 2, si = ndStride(desc, 2, r - 1) << 2;
  const counters = desc + (<usize>(ND_DESC_WORDS - ND_MAX_RANK) << 2); // the descriptor's counter words
  for (let a = 0; a < r; a++) store<i32>(counters + (<usize>a << 2), 0);
  let yo: isize = 0, xo: isize = 0, io: isize = 0;
  let bad = 0;
  for (let o = 0; o < total; o += inner) {
    let yp = y + (<usize>yo << 2), xp = x + (<usize>xo << 2), ip = idx + (<usize>io << 2);
    for (let j = 0; j < inner; j++) {
      let v = load<i32>(ip);
      if (v < 0) v += len;
      if (v < 0 || v >= len) {
        bad++;
        if (op == ELEMENTS_GATHER) store<i32>(yp, 0);
      } else {
        const s = xp + (<usize>(<isize>v * <isize>axisStride) << 2);
        if (op == ELEMENTS_GATHER) store<i32>(yp, load<i32>(s));
        else if (op == ELEMENTS_SCATTER) store<i32>(s, load<i32>(yp));
        else {
          const a = load<f32>(s), b = load<f32>(yp);
          store<f32>(s, op == ELEMENTS_ADD ? a + b : op == ELEMENTS_MUL ? a * b : op == ELEMENTS_MAX ? max(a, b) : min(a, b));
        }
      }
      yp += sy;
      xp += sx;
      ip += si;
    }
    for (let a = r - 2; a >= 0; a--) {
      const c = counters + (<usize>a << 2);
      const i = load<i32>(c) + 1;
      const d = ndDim(desc, a);
      if (i < d) {
        store<i32>(c, i);
        yo += ndStride(desc, 0, a);
        xo += ndStride(desc, 1, a);
        io += ndStride(desc, 2, a);
        break;
      }
      store<i32>(c, 0);
      yo -= ndStride(desc, 0, a) * <isize>(d - 1);
      xo -= ndStride(desc, 1, a) * <isize>(d - 1);
      io -= ndStride(desc, 2, a) * <isize>(d - 1);
    }
  }
  return bad;
}

/**
 * GatherND: x [batch, D_0, ..., D_{m-1}, inner] (ONNX order), idx [batch, count, m], y [batch, count,
 * inner], y[b, j, :] = x[b, idx[b, j, 0], ..., idx[b, j, m - 1], :]; `geom` holds m i32 extents D_k
 * then m i32 element strides of those axes in x, and xBatch is x's element stride per batch. A
 * negative index counts from the end of its axis; a tuple with an index outside [-D_k, D_k) writes
 * a zero row and is counted. Returns that count.
 */
export function gather_nd(y: usize, x: usize, idx: usize, geom: usize, batch: i32, count: i32, m: i32, inner: i32, xBatch: i32): i32 {
  let bad = 0;
  const rowBytes = <usize>inner << 2;
  for (let b = 0; b < batch; b++) {
    const xb = x + ((<usize>b * <usize>xBatch) << 2);
    for (let j = 0; j < count; j++) {
      const ip = idx + ((<usize>b * <usize>count + <usize>j) * <usize>m << 2);
      const yr = y + (<usize>b * <usize>count + <usize>j) * rowBytes;
      let off: usize = 0;
      let ok = true;
      for (let k = 0; k < m; k++) {
        const d = load<i32>(geom + (<usize>k << 2));
        let v = load<i32>(ip + (<usize>k << 2));
        if (v < 0) v += d;
        if (v < 0 || v >= d) {
          ok = false;
          break;
        }
        off += <usize>v * <usize>load<i32>(geom + (<usize>(m + k) << 2));
      }
      if (ok) copyRow(yr, xb + (off << 2), inner, 1, 1);
      else {
        bad++;
        fillRow(yr, 0, inner);
      }
    }
  }
  return bad;
}

/**
 * ScatterND into y (already a copy of data, ONNX order): for each of `count` index tuples idx[j, :m]
 * (`geom` as gather_nd's: m extents, then m element strides), the `inner` elements at that tuple
 * become updates[j, :] (reduction 0, as bits), or combine with them as f32: 1 add, 2 mul, 3 max,
 * 4 min. Tuples apply in order. A tuple outside the data is skipped and counted; returns the count.
 */
export function scatter_nd(y: usize, updates: usize, idx: usize, geom: usize, count: i32, m: i32, inner: i32, reduction: i32): i32 {
  let bad = 0;
  const rowBytes = <usize>inner << 2;
  for (let j = 0; j < count; j++) {
    const ip = idx + (<usize>j * <usize>m << 2);
    let off: usize = 0;
    let ok = true;
    for (let k = 0; k < m; k++) {
      const d = load<i32>(geom + (<usize>k << 2));
      let v = load<i32>(ip + (<usize>k << 2));
      if (v < 0) v += d;
      if (v < 0 || v >= d) {
        ok = false;
        break;
      }
      off += <usize>v * <usize>load<i32>(geom + (<usize>(m + k) << 2));
    }
    if (!ok) {
      bad++;
      continue;
    }
    const yr = y + (off << 2), ur = updates + <usize>j * rowBytes;
    if (reduction == 0) {
      copyRow(yr, ur, inner, 1, 1);
      continue;
    }
    for (let i = 0; i < inner; i++) {
      const o = <usize>i << 2;
      const a = load<f32>(yr + o), b = load<f32>(ur + o);
      store<f32>(yr + o, reduction == 1 ? a + b : reduction == 2 ? a * b : reduction == 3 ? max(a, b) : min(a, b));
    }
  }
  return bad;
}

/** Range, f32: y[i] = start + i * delta for i < n. */
export function range_f32_forward(y: usize, start: f32, delta: f32, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), start + <f32>i * delta);
}

/** Range, i32: y[i] = start + i * delta for i < n (wrapping i32 arithmetic). */
export function range_i32_forward(y: usize, start: i32, delta: i32, n: i32): void {
  for (let i = 0; i < n; i++) store<i32>(y + (<usize>i << 2), start + i * delta);
}

/**
 * Trilu over `batch` row-major [rows, cols] matrices: upper keeps y[i, j] = x[i, j] where
 * j - i >= k, lower where j - i <= k; the rest are zero bits. y may equal x.
 */
export function trilu_forward(y: usize, x: usize, batch: i32, rows: i32, cols: i32, k: i32, upper: i32): void {
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < rows; i++) {
      const off = (<usize>b * <usize>rows + <usize>i) * <usize>cols << 2;
      const yr = y + off, xr = x + off;
      // kept columns: [lo, hi)
      const edge = <i64>i + <i64>k;
      const lo = upper ? <i32>min(max(edge, 0), <i64>cols) : 0;
      const hi = upper ? cols : <i32>min(max(edge + 1, 0), <i64>cols);
      fillRow(yr, 0, lo);
      copyRow(yr + (<usize>lo << 2), xr + (<usize>lo << 2), hi - lo, 1, 1);
      fillRow(yr + (<usize>hi << 2), 0, cols - hi);
    }
  }
}
