// Dropout on flat f32 arrays (any layout; `n` = number of elements).
// The random bits come from a stateless, counter-based xorshift-multiply hash of (seed, i) (random.ts):
// element i's draw depends only on the seed and i, never on the order of evaluation, so the SIMD
// lanes, the scalar tail and the scalar build all produce the SAME mask for the same seed.
// Element i is kept when the top 24 bits of its hash are >= floor(rate * 2^24), i.e. with
// probability 1 - rate (to within 2^-24).
// The mask is stored as f32 0 or 1 (not pre-scaled); y = x * mask / (1 - rate).
// Backward kernels ACCUMULATE into gradients (dx += ...).

import { madd } from "./simd";
import { GOLDEN, mix, mix4 } from "./random";

/**
 * dropout, training: mask[i] = keep(seed, i) ? 1 : 0 and y[i] = x[i] * mask[i] / (1 - rate).
 * rate in [0, 1) (checked by the host). y may alias x; mask must not.
 * keep(seed, i) = (mix(mix(i) + mix(seed ^ GOLDEN)) >>> 8) >= floor(rate * 2^24).
 */
export function dropout_f32_training(y: usize, mask: usize, x: usize, rate: f32, seed: u32, n: i32): void {
  const threshold = <i32>Math.floor(<f64>rate * 16777216.0);
  const scale = <f32>(1.0 / (1.0 - <f64>rate));
  const key = mix(seed ^ GOLDEN);
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vkey = i32x4.splat(key);
    const vthr = i32x4.splat(threshold);
    const vscale = f32x4.splat(scale);
    const one = f32x4.splat(1);
    let idx = i32x4(0, 1, 2, 3);
    const four = i32x4.splat(4);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const h = mix4(i32x4.add(mix4(idx), vkey));
      const keep = i32x4.ge_s(i32x4.shr_u(h, 8), vthr);
      v128.store(mask + o, v128.and(one, keep));
      v128.store(y + o, v128.and(f32x4.mul(v128.load(x + o), vscale), keep));
      idx = i32x4.add(idx, four);
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const h = mix(mix(<u32>i) + key);
    const keep = <i32>(h >>> 8) >= threshold;
    store<f32>(mask + o, keep ? 1 : 0);
    store<f32>(y + o, keep ? load<f32>(x + o) * scale : 0);
  }
}

/** dropout, inference: y[i] = x[i] (a copy; y == x is allowed and does nothing). */
export function dropout_f32_inference(y: usize, x: usize, n: i32): void {
  if (y == x) return;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, v128.load(x + o));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(x + o));
  }
}

/** dropout backward (training): dx[i] += dy[i] * mask[i] * scale, scale = 1 / (1 - rate). */
export function dropout_f32_backward(dx: usize, dy: usize, mask: usize, scale: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vs = f32x4.splat(scale);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(dx + o, madd(f32x4.mul(v128.load(dy + o), v128.load(mask + o)), vs, v128.load(dx + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(dx + o) + load<f32>(dy + o) * load<f32>(mask + o) * scale);
  }
}
