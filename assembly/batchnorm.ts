// Batch normalization over channels-last tensors, viewed as row-major [rows, C] with
// rows = N*H*W (NHWC) or rows = B ([B, C]). Statistics are per channel, over all rows.
// SIMD lanes run over channels (4 at a time); every row is a contiguous run of C floats.
// Pointers are byte addresses, 4-byte aligned (16 recommended). Workspaces `ws` are host-allocated
// scratch of the stated size; their contents on entry do not matter and on exit are unspecified.
// Sums over rows are blocked (BLOCK rows into a partial, partials into the total) so the float32
// rounding error grows with BLOCK + rows/BLOCK rather than with rows.

import { madd } from "./simd";

const BLOCK = 128;

/** dst[c] = 0 for c < n. */
// @ts-ignore: decorator
@inline function zero(dst: usize, n: i32): void {
  memory.fill(dst, 0, <usize>n << 2);
}

/** total[c] += part[c], part[c] = 0, for c < n. */
function flush(total: usize, part: usize, n: i32): void {
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    for (; c + 4 <= n; c += 4) {
      const o = <usize>c << 2;
      v128.store(total + o, f32x4.add(v128.load(total + o), v128.load(part + o)));
    }
  }
  for (; c < n; c++) {
    const o = <usize>c << 2;
    store<f32>(total + o, load<f32>(total + o) + load<f32>(part + o));
  }
  zero(part, n);
}

/**
 * Inference (ONNX BatchNormalization, training_mode = 0):
 *   y[r, c] = (x[r, c] - mean[c]) * scale[c] / sqrt(var[c] + eps) + bias[c].
 * y (rows, C) may alias x. scale, bias, mean, var: (C). ws: C floats.
 */
export function batchnorm_f32_inference(
  y: usize, x: usize, scale: usize, bias: usize, mean: usize, variance: usize, ws: usize,
  eps: f32, rows: i32, C: i32,
): void {
  // ws[c] = scale[c] / sqrt(var[c] + eps)
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    const ve = f32x4.splat(eps);
    for (; c + 4 <= C; c += 4) {
      const o = <usize>c << 2;
      v128.store(ws + o, f32x4.div(v128.load(scale + o), f32x4.sqrt(f32x4.add(v128.load(variance + o), ve))));
    }
  }
  for (; c < C; c++) {
    const o = <usize>c << 2;
    store<f32>(ws + o, load<f32>(scale + o) / Mathf.sqrt(load<f32>(variance + o) + eps));
  }
  normalize(y, x, ws, mean, bias, rows, C);
}

/** y[r, c] = (x[r, c] - mean[c]) * a[c] + b[c]. y may alias x. */
function normalize(y: usize, x: usize, a: usize, mean: usize, b: usize, rows: i32, C: i32): void {
  const rowBytes = <usize>C << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const yr = y + <usize>r * rowBytes;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 4 <= C; c += 4) {
        const o = <usize>c << 2;
        const xm = f32x4.sub(v128.load(xr + o), v128.load(mean + o));
        v128.store(yr + o, madd(xm, v128.load(a + o), v128.load(b + o)));
      }
    }
    for (; c < C; c++) {
      const o = <usize>c << 2;
      store<f32>(yr + o, (load<f32>(xr + o) - load<f32>(mean + o)) * load<f32>(a + o) + load<f32>(b + o));
    }
  }
}

/**
 * Training (ONNX BatchNormalization, training_mode = 1), two-pass statistics:
 *   mean[c]   = sum_r x[r, c] / rows
 *   var_b[c]  = sum_r (x[r, c] - mean[c])^2 / rows          (biased: used to normalise, as ONNX)
 *   invStd[c] = 1 / sqrt(var_b[c] + eps)
 *   y[r, c]   = (x[r, c] - mean[c]) * invStd[c] * scale[c] + bias[c]
 * and, when runningMean / runningVar are non-zero pointers, in place:
 *   runningMean[c] = momentum * runningMean[c] + (1 - momentum) * mean[c]
 *   runningVar[c]  = momentum * runningVar[c]  + (1 - momentum) * var_b[c] * varFactor
 * (varFactor = 1 for ONNX's biased running variance, rows / (rows - 1) for the unbiased one).
 * y (rows, C) may alias x. mean, invStd (C) are outputs saved for the backward pass.
 * ws: C floats. rows >= 1.
 */
export function batchnorm_f32_training(
  y: usize, mean: usize, invStd: usize, runningMean: usize, runningVar: usize,
  x: usize, scale: usize, bias: usize, ws: usize,
  eps: f32, momentum: f32, varFactor: f32, rows: i32, C: i32,
): void {
  const rowBytes = <usize>C << 2;
  const inv = <f32>1 / <f32>rows;
  // pass 1: mean (total in `mean`, block partial in ws)
  zero(mean, C);
  zero(ws, C);
  for (let r0 = 0; r0 < rows; r0 += BLOCK) {
    const r1 = min(rows, r0 + BLOCK);
    for (let r = r0; r < r1; r++) {
      const xr = x + <usize>r * rowBytes;
      let c = 0;
      if (ASC_FEATURE_SIMD) {
        for (; c + 4 <= C; c += 4) {
          const o = <usize>c << 2;
          v128.store(ws + o, f32x4.add(v128.load(ws + o), v128.load(xr + o)));
        }
      }
      for (; c < C; c++) {
        const o = <usize>c << 2;
        store<f32>(ws + o, load<f32>(ws + o) + load<f32>(xr + o));
      }
    }
    flush(mean, ws, C);
  }
  scaleBy(mean, inv, C);
  // pass 2: sum of squared deviations (total in `invStd`, block partial in ws)
  zero(invStd, C);
  for (let r0 = 0; r0 < rows; r0 += BLOCK) {
    const r1 = min(rows, r0 + BLOCK);
    for (let r = r0; r < r1; r++) {
      const xr = x + <usize>r * rowBytes;
      let c = 0;
      if (ASC_FEATURE_SIMD) {
        for (; c + 4 <= C; c += 4) {
          const o = <usize>c << 2;
          const d = f32x4.sub(v128.load(xr + o), v128.load(mean + o));
          v128.store(ws + o, madd(d, d, v128.load(ws + o)));
        }
      }
      for (; c < C; c++) {
        const o = <usize>c << 2;
        const d = load<f32>(xr + o) - load<f32>(mean + o);
        store<f32>(ws + o, load<f32>(ws + o) + d * d);
      }
    }
    flush(invStd, ws, C);
  }
  // per channel: running statistics, invStd, and the scale a = scale * invStd into ws
  const keep = momentum;
  const take = <f32>1 - momentum;
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    const vinv = f32x4.splat(inv);
    const ve = f32x4.splat(eps);
    const one = f32x4.splat(1);
    const vkeep = f32x4.splat(keep);
    const vtake = f32x4.splat(take);
    const vfac = f32x4.splat(varFactor);
    for (; c + 4 <= C; c += 4) {
      const o = <usize>c << 2;
      const v = f32x4.mul(v128.load(invStd + o), vinv);
      const is = f32x4.div(one, f32x4.sqrt(f32x4.add(v, ve)));
      v128.store(invStd + o, is);
      v128.store(ws + o, f32x4.mul(v128.load(scale + o), is));
      if (runningMean != 0) {
        v128.store(runningMean + o, f32x4.add(f32x4.mul(vkeep, v128.load(runningMean + o)), f32x4.mul(vtake, v128.load(mean + o))));
      }
      if (runningVar != 0) {
        v128.store(runningVar + o, f32x4.add(f32x4.mul(vkeep, v128.load(runningVar + o)), f32x4.mul(vtake, f32x4.mul(v, vfac))));
      }
    }
  }
  for (; c < C; c++) {
    const o = <usize>c << 2;
    const v = load<f32>(invStd + o) * inv;
    const is = <f32>1 / Mathf.sqrt(v + eps);
    store<f32>(invStd + o, is);
    store<f32>(ws + o, load<f32>(scale + o) * is);
    if (runningMean != 0) store<f32>(runningMean + o, keep * load<f32>(runningMean + o) + take * load<f32>(mean + o));
    if (runningVar != 0) store<f32>(runningVar + o, keep * load<f32>(runningVar + o) + take * (v * varFactor));
  }
  // pass 3: y = (x - mean) * a + bias
  normalize(y, x, ws, mean, bias, rows, C);
}

/** v[c] *= s for c < n. */
function scaleBy(v: usize, s: f32, n: i32): void {
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    const vs = f32x4.splat(s);
    for (; c + 4 <= n; c += 4) {
      const o = <usize>c << 2;
      v128.store(v + o, f32x4.mul(v128.load(v + o), vs));
    }
  }
  for (; c < n; c++) {
    const o = <usize>c << 2;
    store<f32>(v + o, load<f32>(v + o) * s);
  }
}

/**
 * Training-mode backward, through the batch statistics. With xhat = (x - mean) * invStd and
 * M = rows:
 *   dbias[c]  += sum_r dy[r, c]
 *   dscale[c] += sum_r dy[r, c] * xhat[r, c]
 *   dx[r, c]  += scale[c] * invStd[c] * (dy[r, c] - sum_r dy / M - xhat[r, c] * sum_r (dy * xhat) / M)
 * dx, dy, x: (rows, C); dscale, dbias, scale, mean, invStd: (C) (mean, invStd as saved by
 * batchnorm_f32_training). ws: 4*C floats. dx must not alias dy or x.
 */
export function batchnorm_f32_backward(
  dx: usize, dscale: usize, dbias: usize,
  dy: usize, x: usize, scale: usize, mean: usize, invStd: usize, ws: usize,
  rows: i32, C: i32,
): void {
  const rowBytes = <usize>C << 2;
  const cb = <usize>C << 2;
  const sdy = ws;            // sum dy
  const sdyx = ws + cb;      // sum dy * (x - mean)
  const pdy = ws + 2 * cb;   // block partials of the two
  const pdyx = ws + 3 * cb;
  zero(ws, 4 * C);
  for (let r0 = 0; r0 < rows; r0 += BLOCK) {
    const r1 = min(rows, r0 + BLOCK);
    for (let r = r0; r < r1; r++) {
      const xr = x + <usize>r * rowBytes;
      const gr = dy + <usize>r * rowBytes;
      let c = 0;
      if (ASC_FEATURE_SIMD) {
        for (; c + 4 <= C; c += 4) {
          const o = <usize>c << 2;
          const g = v128.load(gr + o);
          const d = f32x4.sub(v128.load(xr + o), v128.load(mean + o));
          v128.store(pdy + o, f32x4.add(v128.load(pdy + o), g));
          v128.store(pdyx + o, madd(g, d, v128.load(pdyx + o)));
        }
      }
      for (; c < C; c++) {
        const o = <usize>c << 2;
        const g = load<f32>(gr + o);
        const d = load<f32>(xr + o) - load<f32>(mean + o);
        store<f32>(pdy + o, load<f32>(pdy + o) + g);
        store<f32>(pdyx + o, load<f32>(pdyx + o) + g * d);
      }
    }
    flush(sdy, pdy, C);
    flush(sdyx, pdyx, C);
  }
  // per channel: accumulate dbias, dscale; then coefficients for dx into ws:
  //   k = scale * invStd (-> ws[0..C)), m = sum dy / M (-> ws[C..2C)),
  //   w = sum(dy * xhat) / M * invStd (-> ws[2C..3C)), so dx += k * (dy - m - (x - mean) * w).
  const inv = <f32>1 / <f32>rows;
  const kk = ws;
  const mm = ws + cb;
  const ww = ws + 2 * cb;
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    const vinv = f32x4.splat(inv);
    for (; c + 4 <= C; c += 4) {
      const o = <usize>c << 2;
      const s1 = v128.load(sdy + o);
      const is = v128.load(invStd + o);
      const g = f32x4.mul(v128.load(sdyx + o), is); // sum dy * xhat
      v128.store(dbias + o, f32x4.add(v128.load(dbias + o), s1));
      v128.store(dscale + o, f32x4.add(v128.load(dscale + o), g));
      v128.store(kk + o, f32x4.mul(v128.load(scale + o), is));
      v128.store(mm + o, f32x4.mul(s1, vinv));
      v128.store(ww + o, f32x4.mul(f32x4.mul(g, vinv), is));
    }
  }
  for (; c < C; c++) {
    const o = <usize>c << 2;
    const s1 = load<f32>(sdy + o);
    const is = load<f32>(invStd + o);
    const g = load<f32>(sdyx + o) * is;
    store<f32>(dbias + o, load<f32>(dbias + o) + s1);
    store<f32>(dscale + o, load<f32>(dscale + o) + g);
    store<f32>(kk + o, load<f32>(scale + o) * is);
    store<f32>(mm + o, s1 * inv);
    store<f32>(ww + o, g * inv * is);
  }
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const gr = dy + <usize>r * rowBytes;
    const dr = dx + <usize>r * rowBytes;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 4 <= C; c += 4) {
        const o = <usize>c << 2;
        const d = f32x4.sub(v128.load(xr + o), v128.load(mean + o));
        const t = f32x4.sub(f32x4.sub(v128.load(gr + o), v128.load(mm + o)), f32x4.mul(d, v128.load(ww + o)));
        v128.store(dr + o, madd(v128.load(kk + o), t, v128.load(dr + o)));
      }
    }
    for (; c < C; c++) {
      const o = <usize>c << 2;
      const d = load<f32>(xr + o) - load<f32>(mean + o);
      const t = load<f32>(gr + o) - load<f32>(mm + o) - d * load<f32>(ww + o);
      store<f32>(dr + o, load<f32>(dr + o) + load<f32>(kk + o) * t);
    }
  }
}

/**
 * The scale gradient of inference-mode batch normalization (fixed statistics):
 *   dscale[c] += sum_r dy[r, c] * (x[r, c] - mean[c]) / sqrt(var[c] + eps).
 * dy, x: (rows, C); dscale, mean, variance: (C); ws: 2 * C floats. Blocked sums, as above.
 */
export function batchnorm_f32_inference_scale_grad(
  dscale: usize, dy: usize, x: usize, mean: usize, variance: usize, ws: usize, eps: f32, rows: i32, C: i32,
): void {
  const total = ws, part = ws + (<usize>C << 2);
  zero(total, C);
  zero(part, C);
  const rowBytes = <usize>C << 2;
  for (let r = 0; r < rows; r++) {
    const dr = dy + <usize>r * rowBytes, xr = x + <usize>r * rowBytes;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 4 <= C; c += 4) {
        const o = <usize>c << 2;
        v128.store(part + o, madd(v128.load(dr + o), f32x4.sub(v128.load(xr + o), v128.load(mean + o)), v128.load(part + o)));
      }
    }
    for (; c < C; c++) {
      const o = <usize>c << 2;
      store<f32>(part + o, load<f32>(part + o) + load<f32>(dr + o) * (load<f32>(xr + o) - load<f32>(mean + o)));
    }
    if ((r + 1) % BLOCK == 0) flush(total, part, C);
  }
  flush(total, part, C);
  for (let c = 0; c < C; c++) {
    const o = <usize>c << 2;
    store<f32>(dscale + o, load<f32>(dscale + o) + load<f32>(total + o) / Mathf.sqrt(load<f32>(variance + o) + eps));
  }
}
