// Optimizer updates: one fused pass per parameter over flat f32 arrays of n elements (any layout).
// w = parameter values, g = its gradient (read only), v / m = optimizer state owned by the host
// (allocated once per parameter, zero before the first step). Pointers are byte addresses,
// 4-byte aligned (16 recommended). Nothing here allocates; hyper-parameters arrive already
// combined by the host (e.g. Adam's bias corrections), so every kernel is one streaming loop.
// Naming: <optimizer>_f32_update (an update is neither a forward nor a backward pass).

import { madd } from "./simd";

/**
 * Plain SGD with L2 weight decay: w -= lr * (g + weight_decay * w).
 */
export function sgd_f32_update(w: usize, g: usize, lr: f32, weight_decay: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vnlr = f32x4.splat(-lr), vwd = f32x4.splat(weight_decay);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const wv = v128.load(w + o);
      const gd = madd(vwd, wv, v128.load(g + o));
      v128.store(w + o, madd(vnlr, gd, wv));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const wv = load<f32>(w + o);
    const gd = load<f32>(g + o) + weight_decay * wv;
    store<f32>(w + o, wv - lr * gd);
  }
}

/**
 * SGD with momentum (PyTorch convention, no dampening) and L2 weight decay:
 *   d = g + weight_decay * w;  v = momentum * v + d;
 *   w -= lr * v                       (classical momentum, nesterov == 0)
 *   w -= lr * (d + momentum * v)      (Nesterov, nesterov != 0)
 */
export function sgd_momentum_f32_update(w: usize, v: usize, g: usize, lr: f32, momentum: f32, weight_decay: f32, nesterov: i32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vnlr = f32x4.splat(-lr), vmu = f32x4.splat(momentum), vwd = f32x4.splat(weight_decay);
    if (nesterov) {
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i << 2;
        const wv = v128.load(w + o);
        const d = madd(vwd, wv, v128.load(g + o));
        const vel = madd(vmu, v128.load(v + o), d);
        v128.store(v + o, vel);
        v128.store(w + o, madd(vnlr, madd(vmu, vel, d), wv));
      }
    } else {
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i << 2;
        const wv = v128.load(w + o);
        const d = madd(vwd, wv, v128.load(g + o));
        const vel = madd(vmu, v128.load(v + o), d);
        v128.store(v + o, vel);
        v128.store(w + o, madd(vnlr, vel, wv));
      }
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const wv = load<f32>(w + o);
    const d = load<f32>(g + o) + weight_decay * wv;
    const vel = momentum * load<f32>(v + o) + d;
    store<f32>(v + o, vel);
    store<f32>(w + o, wv - lr * (nesterov ? d + momentum * vel : vel));
  }
}

/**
 * Adam (Kingma & Ba) with bias correction, L2 weight decay and decoupled (AdamW) decay:
 *   d = g + l2 * w;  m = beta1 * m + (1 - beta1) * d;  v = beta2 * v + (1 - beta2) * d^2
 *   w -= lr * (m * c1) / (sqrt(v * c2) + eps) + lr * decoupled * w
 * where the host passes c1 = 1 / (1 - beta1^t) and c2 = 1 / (1 - beta2^t) for step t >= 1.
 */
export function adam_f32_update(
  w: usize, m: usize, v: usize, g: usize,
  lr: f32, beta1: f32, beta2: f32, eps: f32, c1: f32, c2: f32, l2: f32, decoupled: f32, n: i32,
): void {
  const ob1: f32 = 1 - beta1, ob2: f32 = 1 - beta2;
  const shrink: f32 = 1 - lr * decoupled; // decoupled decay applied to the pre-step w
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vb1 = f32x4.splat(beta1), vb2 = f32x4.splat(beta2), vob1 = f32x4.splat(ob1), vob2 = f32x4.splat(ob2);
    const vl2 = f32x4.splat(l2), veps = f32x4.splat(eps), vc2 = f32x4.splat(c2);
    const vstep = f32x4.splat(-lr * c1), vshrink = f32x4.splat(shrink);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const wv = v128.load(w + o);
      const d = madd(vl2, wv, v128.load(g + o));
      const mv = madd(vb1, v128.load(m + o), f32x4.mul(vob1, d));
      const vv = madd(vb2, v128.load(v + o), f32x4.mul(vob2, f32x4.mul(d, d)));
      v128.store(m + o, mv);
      v128.store(v + o, vv);
      const denom = f32x4.add(f32x4.sqrt(f32x4.mul(vv, vc2)), veps);
      v128.store(w + o, madd(vstep, f32x4.div(mv, denom), f32x4.mul(wv, vshrink)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const wv = load<f32>(w + o);
    const d = load<f32>(g + o) + l2 * wv;
    const mv = beta1 * load<f32>(m + o) + ob1 * d;
    const vv = beta2 * load<f32>(v + o) + ob2 * d * d;
    store<f32>(m + o, mv);
    store<f32>(v + o, vv);
    store<f32>(w + o, wv * shrink - lr * c1 * mv / (Mathf.sqrt(vv * c2) + eps));
  }
}

// Threaded forms: the worker pool passes i32 arguments only (src/threads/protocol.ts), so each f32
// argument arrives as its IEEE-754 bits (the host's Math.fround of the number, as a direct call
// would convert it). Elements are independent: any split of [0, n) gives the bits of one call.

/** sgd_f32_update with lr and weight_decay as f32 bits. */
export function sgd_f32_update_bits(w: usize, g: usize, lr: i32, weight_decay: i32, n: i32): void {
  sgd_f32_update(w, g, reinterpret<f32>(lr), reinterpret<f32>(weight_decay), n);
}

/** sgd_momentum_f32_update with lr, momentum and weight_decay as f32 bits. */
export function sgd_momentum_f32_update_bits(w: usize, v: usize, g: usize, lr: i32, momentum: i32, weight_decay: i32, nesterov: i32, n: i32): void {
  sgd_momentum_f32_update(w, v, g, reinterpret<f32>(lr), reinterpret<f32>(momentum), reinterpret<f32>(weight_decay), nesterov, n);
}

/** adam_f32_update with every f32 argument as its bits. */
export function adam_f32_update_bits(
  w: usize, m: usize, v: usize, g: usize,
  lr: i32, beta1: i32, beta2: i32, eps: i32, c1: i32, c2: i32, l2: i32, decoupled: i32, n: i32,
): void {
  adam_f32_update(
    w, m, v, g, reinterpret<f32>(lr), reinterpret<f32>(beta1), reinterpret<f32>(beta2), reinterpret<f32>(eps),
    reinterpret<f32>(c1), reinterpret<f32>(c2), reinterpret<f32>(l2), reinterpret<f32>(decoupled), n,
  );
}

// ---------------------------------------------------------------------------------------------
// Gradient clipping (src/train/optimizers.ts: clipNorm, clipValue).

/** Sum of x[i]^2 for i < n, in f64 (partial sums of 4 f32 lanes per 1024 elements). */
export function sum_squares_f32(x: usize, n: i32): f64 {
  let total: f64 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    while (i + 4 <= n) {
      let acc = f32x4.splat(0);
      const end = min(n & ~3, i + 1024);
      for (; i < end; i += 4) {
        const v = v128.load(x + (<usize>i << 2));
        acc = madd(v, v, acc);
      }
      total += <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1) + <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
    }
  }
  for (; i < n; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    total += v * v;
  }
  return total;
}

/** x[i] = min(max(x[i], -limit), limit) for i < n, in place (NaN stays NaN). */
export function clamp_f32(x: usize, limit: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const hi = f32x4.splat(limit), lo = f32x4.splat(-limit);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(x + o, f32x4.min(f32x4.max(v128.load(x + o), lo), hi));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, min(max(load<f32>(x + o), -limit), limit));
  }
}
