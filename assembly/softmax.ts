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

// ---------------------------------------------------------------------------------------------
// softmax along any axis: x viewed as [O, R, V] (the axis has extent R and stride V; the host
// coalesces the axes outside it). V == 1 is the row kernels above; V > 1 runs tiles of up to
// SOFTMAX_TILE lanes of V, each lane's max and sum in the workspace.

const SOFTMAX_TILE: i32 = 256;

/** Workspace floats softmax_axis_f32_forward / _backward need for V. */
export function softmax_axis_f32_workspace(V: i32): i32 {
  return V > 1 ? 2 * min(V, SOFTMAX_TILE) : 0;
}

/** m[j] = max over r < R of x[r * V + j], for j < w. */
function tileMax(m: usize, x: usize, R: i32, V: i32, w: i32): void {
  memory.copy(m, x, <usize>w << 2);
  for (let r = 1; r < R; r++) {
    const row = x + ((<usize>r * <usize>V) << 2);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= w; j += 4) {
        const o = <usize>j << 2;
        v128.store(m + o, f32x4.max(v128.load(m + o), v128.load(row + o)));
      }
    }
    for (; j < w; j++) {
      const o = <usize>j << 2;
      store<f32>(m + o, max(load<f32>(m + o), load<f32>(row + o)));
    }
  }
}

/**
 * softmax (log_ == 0) or log-softmax (log_ != 0) of x [O, R, V] along R. y may alias x.
 * ws: softmax_axis_f32_workspace(V) floats.
 */
export function softmax_axis_f32_forward(y: usize, x: usize, ws: usize, O: i32, R: i32, V: i32, log_: i32): void {
  if (R <= 0) return;
  if (V == 1) {
    if (log_) log_softmax_f32_forward(y, x, O, R);
    else softmax_f32_forward(y, x, O, R);
    return;
  }
  const slice = (<usize>R * <usize>V) << 2;
  const tw = min(V, SOFTMAX_TILE);
  const m = ws, s = ws + (<usize>tw << 2);
  for (let o = 0; o < O; o++) {
    for (let j0 = 0; j0 < V; j0 += SOFTMAX_TILE) {
      const w = min(SOFTMAX_TILE, V - j0);
      const xt = x + <usize>o * slice + (<usize>j0 << 2), yt = y + <usize>o * slice + (<usize>j0 << 2);
      tileMax(m, xt, R, V, w);
      memory.fill(s, 0, <usize>w << 2);
      // s = sum exp(x - m); softmax keeps each exp in y
      for (let r = 0; r < R; r++) {
        const ro = (<usize>r * <usize>V) << 2;
        let j = 0;
        if (ASC_FEATURE_SIMD) {
          for (; j + 4 <= w; j += 4) {
            const o4 = <usize>j << 2;
            const e = vmath.exp4(f32x4.sub(v128.load(xt + ro + o4), v128.load(m + o4)));
            if (!log_) v128.store(yt + ro + o4, e);
            v128.store(s + o4, f32x4.add(v128.load(s + o4), e));
          }
        }
        for (; j < w; j++) {
          const o4 = <usize>j << 2;
          const e = vmath.expf(load<f32>(xt + ro + o4) - load<f32>(m + o4));
          if (!log_) store<f32>(yt + ro + o4, e);
          store<f32>(s + o4, load<f32>(s + o4) + e);
        }
      }
      // softmax: s = 1 / s; log-softmax: m = m + log(s)
      for (let j = 0; j < w; j++) {
        const o4 = <usize>j << 2;
        if (log_) store<f32>(m + o4, load<f32>(m + o4) + Mathf.log(load<f32>(s + o4)));
        else store<f32>(s + o4, 1 / load<f32>(s + o4));
      }
      for (let r = 0; r < R; r++) {
        const ro = (<usize>r * <usize>V) << 2;
        let j = 0;
        if (ASC_FEATURE_SIMD) {
          for (; j + 4 <= w; j += 4) {
            const o4 = <usize>j << 2;
            if (log_) v128.store(yt + ro + o4, f32x4.sub(v128.load(xt + ro + o4), v128.load(m + o4)));
            else v128.store(yt + ro + o4, f32x4.mul(v128.load(yt + ro + o4), v128.load(s + o4)));
          }
        }
        for (; j < w; j++) {
          const o4 = <usize>j << 2;
          if (log_) store<f32>(yt + ro + o4, load<f32>(xt + ro + o4) - load<f32>(m + o4));
          else store<f32>(yt + ro + o4, load<f32>(yt + ro + o4) * load<f32>(s + o4));
        }
      }
    }
  }
}

/**
 * Backward of softmax_axis_f32_forward from its saved output y, accumulating:
 *   softmax:     dx += y * (dy - sum_r dy * y)
 *   log-softmax: dx += dy - exp(y) * sum_r dy
 * dx must not alias dy or y. ws: softmax_axis_f32_workspace(V) floats.
 */
export function softmax_axis_f32_backward(dx: usize, dy: usize, y: usize, ws: usize, O: i32, R: i32, V: i32, log_: i32): void {
  if (R <= 0) return;
  if (V == 1) {
    if (log_) log_softmax_f32_backward(dx, dy, y, O, R);
    else softmax_f32_backward(dx, dy, y, O, R);
    return;
  }
  const slice = (<usize>R * <usize>V) << 2;
  const s = ws;
  for (let o = 0; o < O; o++) {
    for (let j0 = 0; j0 < V; j0 += SOFTMAX_TILE) {
      const w = min(SOFTMAX_TILE, V - j0);
      const off = <usize>o * slice + (<usize>j0 << 2);
      const yt = y + off, gt = dy + off, dt = dx + off;
      memory.fill(s, 0, <usize>w << 2);
      for (let r = 0; r < R; r++) {
        const ro = (<usize>r * <usize>V) << 2;
        let j = 0;
        if (ASC_FEATURE_SIMD) {
          for (; j + 4 <= w; j += 4) {
            const o4 = <usize>j << 2;
            const g = v128.load(gt + ro + o4);
            v128.store(s + o4, log_ ? f32x4.add(v128.load(s + o4), g) : madd(g, v128.load(yt + ro + o4), v128.load(s + o4)));
          }
        }
        for (; j < w; j++) {
          const o4 = <usize>j << 2;
          const g = load<f32>(gt + ro + o4);
          store<f32>(s + o4, load<f32>(s + o4) + (log_ ? g : g * load<f32>(yt + ro + o4)));
        }
      }
      for (let r = 0; r < R; r++) {
        const ro = (<usize>r * <usize>V) << 2;
        let j = 0;
        if (ASC_FEATURE_SIMD) {
          for (; j + 4 <= w; j += 4) {
            const o4 = <usize>j << 2;
            const g = v128.load(gt + ro + o4), yy = v128.load(yt + ro + o4), ss = v128.load(s + o4);
            const d = log_
              ? f32x4.sub(g, f32x4.mul(vmath.exp4(yy), ss))
              : f32x4.mul(yy, f32x4.sub(g, ss));
            v128.store(dt + ro + o4, f32x4.add(v128.load(dt + ro + o4), d));
          }
        }
        for (; j < w; j++) {
          const o4 = <usize>j << 2;
          const g = load<f32>(gt + ro + o4), yy = load<f32>(yt + ro + o4), ss = load<f32>(s + o4);
          const d = log_ ? g - vmath.expf(yy) * ss : yy * (g - ss);
          store<f32>(dt + ro + o4, load<f32>(dt + ro + o4) + d);
        }
      }
    }
  }
}
