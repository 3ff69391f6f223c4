// Recurrent cells as ONNX defines them (RNN, GRU, LSTM): the fused per-step gate kernels, forward
// and backward, the sequence moves around them, and the embedding lookup. Before the time loop the
// host (src/ops/rnn.ts) projects the inputs of every step with one GEMM (x W + biases,
// assembly/gemm.ts); per step, the product of h_{t-1} with the packed recurrent weights
// (recurrentProduct) accumulates onto that step's projection, then one step kernel here applies
// every gate's sigmoid / tanh and the state update in one pass over [B, H]. Every forward runs
// that loop here (recurrent_f32_forward_steps, one call per direction); every backward runs it
// from the host. Backward steps run from the last to the
// first; the weight gradients are then GEMMs over all steps at once.
//
// Buffers of one direction, time-major (B = batch, H = hidden, G = gates: RNN 1, GRU 3, LSTM 4),
// f32 row-major, byte addresses:
//   gates  [T, B, G*H]  in: pre-activations; out: the activated gates. Gate blocks in ONNX order:
//                       LSTM i, o, f, c; GRU z, r, h. (RNN: the new h.)
//   hs     [T+1, B, H]  hs[0] = initial h; hs[t+1] = h after step t
//   cs     LSTM: [T+1, B, H] cell states like hs. GRU: `extra` [T, B, H]: r * h_{t-1} when
//                       linear_before_reset == 0, h_{t-1} Rh + Rbh when 1
//   dgates [T, B, G*H]  gradients of the pre-activations
//   dh, dc [B, H]       running gradients. Entering step t: dL/dh_{t+1}, dL/dc_{t+1} (without the
//                       output's own dy[t]). Leaving it: dc = dL/dc_t, dh = the part of dL/dh_t
//                       that does not go through R (0; GRU z * dh), which the host's GEMM
//                       dh += dgates[t] . R^T completes
//   dy     [T, B, H]    gradient of the output h at each step (pointer 0: none)
// Sequence lengths: lens, i32 [B] (pointer 0: every row has T steps). At steps t >= lens[b], row b
// carries its state (forward: h, c unchanged, gates 0) and its gradients (backward: dh, dc
// unchanged, dgates 0, dy ignored): ONNX's output there is 0, its final state the last valid one.
// Clip (ONNX `clip`): pre-activations are clamped to [-clip, clip] (pass +inf for none); the
// backward kernels assume no clamp was active (the host refuses clip in training).
//
// The step kernels read sizes and pointers from a block of i32 words the host writes once per
// call (src/ops/rnn.ts, RNN_BLOCK_FIELDS; keep the order in sync):
//   0 batch  1 hidden  2 lens  3 peepholes (LSTM [3H]: i, o, f; 0 none)  4 clip (f32 bits)
//   5 variant (RNN: 0 tanh, 1 relu; GRU: linear_before_reset)  6 gates  7 hs  8 cs / extra
//   9 dgates  10 dh  11 dc  12 dpeepholes (accumulated; 0 none)  13 dy  14 Rbh (GRU lbr 1: [H])
//   15 dextra (GRU lbr 1: [T, B, H], dL/d(extra))  16 drh (GRU lbr 0: [B, H], dL/d(r * h_{t-1}))
// SIMD lanes run over hidden units, 4 at a time, with a scalar tail (the whole scalar build).

import { madd } from "./simd";
import { vmath } from "./activation";
import { gemm_f32_packed_b_strided } from "./gemm_packed";

const F_BATCH = 0, F_HIDDEN = 1, F_LENS = 2, F_PEEP = 3, F_CLIP = 4, F_VARIANT = 5, F_GATES = 6, F_HS = 7, F_CS = 8;
const F_DGATES = 9, F_DH = 10, F_DC = 11, F_DPEEP = 12, F_DY = 13, F_RBH = 14, F_DEXTRA = 15, F_DRH = 16;

// @ts-ignore: decorator
@inline function field(blk: usize, f: i32): i32 {
  return load<i32>(blk + (<usize>f << 2));
}

// @ts-ignore: decorator
@inline function ptr(blk: usize, f: i32): usize {
  return <usize>load<u32>(blk + (<usize>f << 2));
}

/** Byte offset of row `row` of a [*, cols] f32 matrix. */
// @ts-ignore: decorator
@inline function rowAt(row: i32, cols: i32): usize {
  return (<usize>row * <usize>cols) << 2;
}

/** Whether row b is past its sequence at step t. */
// @ts-ignore: decorator
@inline function masked(lens: usize, b: i32, t: i32): bool {
  return lens != 0 && t >= load<i32>(lens + (<usize>b << 2));
}

/** v clamped to [lo, hi] (pmax / pmin: one instruction each on x64; a NaN lane stays NaN). */
// @ts-ignore: decorator
@inline function clamp4(v: v128, lo: v128, hi: v128): v128 {
  return f32x4.pmin(f32x4.pmax(v, lo), hi);
}

// @ts-ignore: decorator
@inline function clampf(v: f32, c: f32): f32 {
  return min(max(v, -c), c);
}

function zeroRow(p: usize, n: i32): void {
  memory.fill(p, 0, <usize>n << 2);
}

function copyRow(dst: usize, src: usize, n: i32): void {
  memory.copy(dst, src, <usize>n << 2);
}

// ---------------------------------------------------------------------------------------------
// Elman RNN: h_t = act(clip(x_t W + h_{t-1} R + Wb + Rb)), act tanh (variant 0) or relu (1).

/** Step t: gates[t] (pre-activations) -> h; writes gates[t] = hs[t+1] = h. */
export function rnn_f32_forward(blk: usize, t: i32): void {
  const B = field(blk, F_BATCH), H = field(blk, F_HIDDEN), lens = ptr(blk, F_LENS);
  const clip = reinterpret<f32>(field(blk, F_CLIP)), relu = field(blk, F_VARIANT) == 1;
  const gates = ptr(blk, F_GATES) + rowAt(t * B, H), hs = ptr(blk, F_HS) + rowAt(t * B, H);
  for (let b = 0; b < B; b++) {
    const g = gates + rowAt(b, H), hp = hs + rowAt(b, H), hn = hs + rowAt(B + b, H);
    if (masked(lens, b, t)) {
      copyRow(hn, hp, H);
      zeroRow(g, H);
      continue;
    }
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const hi = f32x4.splat(clip), lo = f32x4.neg(hi), zero = f32x4.splat(0);
      for (; j + 4 <= H; j += 4) {
        const o = <usize>j << 2;
        const a = clamp4(v128.load(g + o), lo, hi);
        const h = relu ? f32x4.max(a, zero) : vmath.tanh4(a);
        v128.store(g + o, h);
        v128.store(hn + o, h);
      }
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      const a = clampf(load<f32>(g + o), clip);
      const h: f32 = relu ? max<f32>(a, 0) : vmath.tanhf(a);
      store<f32>(g + o, h);
      store<f32>(hn + o, h);
    }
  }
}

/** Backward of step t: dgates[t] = (dh + dy[t]) * act'(h); dh = 0 (masked rows: carried). */
export function rnn_f32_backward(blk: usize, t: i32): void {
  const B = field(blk, F_BATCH), H = field(blk, F_HIDDEN), lens = ptr(blk, F_LENS);
  const relu = field(blk, F_VARIANT) == 1;
  const gates = ptr(blk, F_GATES) + rowAt(t * B, H), dgates = ptr(blk, F_DGATES) + rowAt(t * B, H);
  const dhs = ptr(blk, F_DH), dys = ptr(blk, F_DY);
  for (let b = 0; b < B; b++) {
    const g = gates + rowAt(b, H), dg = dgates + rowAt(b, H), dh = dhs + rowAt(b, H);
    if (masked(lens, b, t)) {
      zeroRow(dg, H);
      continue;
    }
    const dy = dys != 0 ? dys + rowAt(t * B + b, H) : 0;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const one = f32x4.splat(1), zero = f32x4.splat(0);
      for (; j + 4 <= H; j += 4) {
        const o = <usize>j << 2;
        let d = v128.load(dh + o);
        if (dy != 0) d = f32x4.add(d, v128.load(dy + o));
        const h = v128.load(g + o);
        const slope = relu ? v128.and(f32x4.gt(h, zero), one) : f32x4.sub(one, f32x4.mul(h, h));
        v128.store(dg + o, f32x4.mul(d, slope));
        v128.store(dh + o, zero);
      }
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      let d = load<f32>(dh + o);
      if (dy != 0) d += load<f32>(dy + o);
      const h = load<f32>(g + o);
      const slope: f32 = relu ? (h > 0 ? 1 : 0) : 1 - h * h;
      store<f32>(dg + o, d * slope);
      store<f32>(dh + o, 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// LSTM (ONNX, default activations): with a = the gate's pre-activation,
//   i = sigmoid(a_i + p_i c_{t-1}), f = sigmoid(a_f + p_f c_{t-1}), g = tanh(a_c),
//   c_t = f c_{t-1} + i g, o = sigmoid(a_o + p_o c_t), h_t = o tanh(c_t).

// The LSTM forward's gate activations: tanh as a rational function (odd degree-13 over even
// degree-6 polynomial, Eigen's and MLAS's float tanh) of x clamped to [-TANH_CLAMP, TANH_CLAMP],
// |error| < 4e-7; sigmoid(x) = 0.5 + 0.5 tanh(x / 2), |error| < 3e-7. One division and no
// exponential each; the scalar forms do the same arithmetic. (The backward reads the activations
// the forward saved, so it stays consistent with them.)
const TANH_CLAMP: f32 = 7.90531110763549805;
const TA1: f32 = 4.89352455891786e-03, TA3: f32 = 6.37261928875436e-04, TA5: f32 = 1.48572235717979e-05;
const TA7: f32 = 5.12229709037114e-08, TA9: f32 = -8.60467152213735e-11, TA11: f32 = 2.00018790482477e-13;
const TA13: f32 = -2.76076847742355e-16;
const TB0: f32 = 4.89352518554385e-03, TB2: f32 = 2.26843463243900e-03, TB4: f32 = 1.18534705686654e-04;
const TB6: f32 = 1.19825839466702e-06;

// @ts-ignore: decorator
@inline function rtanh4(v: v128): v128 {
  const x = f32x4.pmin(f32x4.pmax(v, f32x4.splat(-TANH_CLAMP)), f32x4.splat(TANH_CLAMP));
  const x2 = f32x4.mul(x, x);
  let p = madd(x2, f32x4.splat(TA13), f32x4.splat(TA11));
  p = madd(x2, p, f32x4.splat(TA9));
  p = madd(x2, p, f32x4.splat(TA7));
  p = madd(x2, p, f32x4.splat(TA5));
  p = madd(x2, p, f32x4.splat(TA3));
  p = madd(x2, p, f32x4.splat(TA1));
  let q = madd(x2, f32x4.splat(TB6), f32x4.splat(TB4));
  q = madd(x2, q, f32x4.splat(TB2));
  q = madd(x2, q, f32x4.splat(TB0));
  return f32x4.div(f32x4.mul(x, p), q);
}

// @ts-ignore: decorator
@inline function rsigmoid4(v: v128): v128 {
  const half = f32x4.splat(0.5);
  return madd(rtanh4(f32x4.mul(v, half)), half, half);
}

// @ts-ignore: decorator
@inline function rtanhf(v: f32): f32 {
  const x = min(max(v, -TANH_CLAMP), TANH_CLAMP);
  const x2 = x * x;
  let p = x2 * TA13 + TA11;
  p = x2 * p + TA9;
  p = x2 * p + TA7;
  p = x2 * p + TA5;
  p = x2 * p + TA3;
  p = x2 * p + TA1;
  let q = x2 * TB6 + TB4;
  q = x2 * q + TB2;
  q = x2 * q + TB0;
  return (x * p) / q;
}

// @ts-ignore: decorator
@inline function rsigmoidf(v: f32): f32 {
  return rtanhf(v * 0.5) * 0.5 + 0.5;
}

/** Step t: gates[t] (pre-activations) -> i, o, f, g; writes cs[t+1], hs[t+1]. */
export function lstm_f32_forward(blk: usize, t: i32): void {
  const B = field(blk, F_BATCH), H = field(blk, F_HIDDEN), lens = ptr(blk, F_LENS), peep = ptr(blk, F_PEEP);
  const clip = reinterpret<f32>(field(blk, F_CLIP)), plain = peep == 0 && clip == Infinity;
  const G = 4 * H, hb = <usize>H << 2;
  const gates = ptr(blk, F_GATES) + rowAt(t * B, G), hs = ptr(blk, F_HS) + rowAt(t * B, H), cs = ptr(blk, F_CS) + rowAt(t * B, H);
  for (let b = 0; b < B; b++) {
    const g = gates + rowAt(b, G), hp = hs + rowAt(b, H), hn = hs + rowAt(B + b, H), cp = cs + rowAt(b, H), cn = cs + rowAt(B + b, H);
    if (masked(lens, b, t)) {
      copyRow(hn, hp, H);
      copyRow(cn, cp, H);
      zeroRow(g, G);
      continue;
    }
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      if (plain) {
        // no peepholes, no clip: the common case, without their loads and clamps
        for (; j + 4 <= H; j += 4) {
          const o = <usize>j << 2;
          const c0 = v128.load(cp + o);
          const i = rsigmoid4(v128.load(g + o));
          const f = rsigmoid4(v128.load(g + 2 * hb + o));
          const gg = rtanh4(v128.load(g + 3 * hb + o));
          const og = rsigmoid4(v128.load(g + hb + o));
          const c = madd(f, c0, f32x4.mul(i, gg));
          v128.store(g + o, i);
          v128.store(g + hb + o, og);
          v128.store(g + 2 * hb + o, f);
          v128.store(g + 3 * hb + o, gg);
          v128.store(cn + o, c);
          v128.store(hn + o, f32x4.mul(og, rtanh4(c)));
        }
      } else {
        const hi = f32x4.splat(clip), lo = f32x4.neg(hi), zero = f32x4.splat(0);
        for (; j + 4 <= H; j += 4) {
          const o = <usize>j << 2;
          const c0 = v128.load(cp + o);
          const ai = v128.load(g + o), ao = v128.load(g + hb + o), af = v128.load(g + 2 * hb + o);
          const ac = clamp4(v128.load(g + 3 * hb + o), lo, hi);
          const pi = peep != 0 ? v128.load(peep + o) : zero, po = peep != 0 ? v128.load(peep + hb + o) : zero;
          const pf = peep != 0 ? v128.load(peep + 2 * hb + o) : zero;
          const i = rsigmoid4(clamp4(madd(pi, c0, ai), lo, hi));
          const f = rsigmoid4(clamp4(madd(pf, c0, af), lo, hi));
          const gg = rtanh4(ac);
          const c = madd(f, c0, f32x4.mul(i, gg));
          const og = rsigmoid4(clamp4(madd(po, c, ao), lo, hi));
          v128.store(g + o, i);
          v128.store(g + hb + o, og);
          v128.store(g + 2 * hb + o, f);
          v128.store(g + 3 * hb + o, gg);
          v128.store(cn + o, c);
          v128.store(hn + o, f32x4.mul(og, rtanh4(c)));
        }
      }
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      const c0 = load<f32>(cp + o);
      const pi: f32 = peep != 0 ? load<f32>(peep + o) : 0, po: f32 = peep != 0 ? load<f32>(peep + hb + o) : 0;
      const pf: f32 = peep != 0 ? load<f32>(peep + 2 * hb + o) : 0;
      const i = rsigmoidf(clampf(load<f32>(g + o) + pi * c0, clip));
      const f = rsigmoidf(clampf(load<f32>(g + 2 * hb + o) + pf * c0, clip));
      const gg = rtanhf(clampf(load<f32>(g + 3 * hb + o), clip));
      const c = f * c0 + i * gg;
      const og = rsigmoidf(clampf(load<f32>(g + hb + o) + po * c, clip));
      store<f32>(g + o, i);
      store<f32>(g + hb + o, og);
      store<f32>(g + 2 * hb + o, f);
      store<f32>(g + 3 * hb + o, gg);
      store<f32>(cn + o, c);
      store<f32>(hn + o, og * rtanhf(c));
    }
  }
}

/**
 * Backward of step t: from dh (+ dy[t]) and dc, writes dgates[t]; leaves dc = dL/dc_t and dh = 0
 * (masked rows: both carried); accumulates dpeepholes (if given) over the batch.
 */
export function lstm_f32_backward(blk: usize, t: i32): void {
  const B = field(blk, F_BATCH), H = field(blk, F_HIDDEN), lens = ptr(blk, F_LENS), peep = ptr(blk, F_PEEP);
  const G = 4 * H, hb = <usize>H << 2;
  const gates = ptr(blk, F_GATES) + rowAt(t * B, G), dgates = ptr(blk, F_DGATES) + rowAt(t * B, G);
  const cs = ptr(blk, F_CS) + rowAt(t * B, H), dhs = ptr(blk, F_DH), dcs = ptr(blk, F_DC), dys = ptr(blk, F_DY);
  const dpeep = ptr(blk, F_DPEEP);
  for (let b = 0; b < B; b++) {
    const g = gates + rowAt(b, G), dg = dgates + rowAt(b, G), cp = cs + rowAt(b, H), cn = cs + rowAt(B + b, H);
    const dh = dhs + rowAt(b, H), dc = dcs + rowAt(b, H);
    if (masked(lens, b, t)) {
      zeroRow(dg, G);
      continue;
    }
    const dy = dys != 0 ? dys + rowAt(t * B + b, H) : 0;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const one = f32x4.splat(1), zero = f32x4.splat(0);
      for (; j + 4 <= H; j += 4) {
        const o = <usize>j << 2;
        let dhv = v128.load(dh + o);
        if (dy != 0) dhv = f32x4.add(dhv, v128.load(dy + o));
        const i = v128.load(g + o), og = v128.load(g + hb + o), f = v128.load(g + 2 * hb + o), gg = v128.load(g + 3 * hb + o);
        const c0 = v128.load(cp + o), c = v128.load(cn + o);
        const tc = vmath.tanh4(c);
        const dao = f32x4.mul(f32x4.mul(dhv, tc), f32x4.mul(og, f32x4.sub(one, og)));
        let dct = madd(f32x4.mul(dhv, og), f32x4.sub(one, f32x4.mul(tc, tc)), v128.load(dc + o));
        if (peep != 0) dct = madd(dao, v128.load(peep + hb + o), dct);
        const dai = f32x4.mul(f32x4.mul(dct, gg), f32x4.mul(i, f32x4.sub(one, i)));
        const dag = f32x4.mul(f32x4.mul(dct, i), f32x4.sub(one, f32x4.mul(gg, gg)));
        const daf = f32x4.mul(f32x4.mul(dct, c0), f32x4.mul(f, f32x4.sub(one, f)));
        let dcp = f32x4.mul(dct, f);
        if (peep != 0) {
          dcp = madd(dai, v128.load(peep + o), dcp);
          dcp = madd(daf, v128.load(peep + 2 * hb + o), dcp);
        }
        if (dpeep != 0) {
          v128.store(dpeep + o, madd(dai, c0, v128.load(dpeep + o)));
          v128.store(dpeep + hb + o, madd(dao, c, v128.load(dpeep + hb + o)));
          v128.store(dpeep + 2 * hb + o, madd(daf, c0, v128.load(dpeep + 2 * hb + o)));
        }
        v128.store(dg + o, dai);
        v128.store(dg + hb + o, dao);
        v128.store(dg + 2 * hb + o, daf);
        v128.store(dg + 3 * hb + o, dag);
        v128.store(dc + o, dcp);
        v128.store(dh + o, zero);
      }
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      let dhv = load<f32>(dh + o);
      if (dy != 0) dhv += load<f32>(dy + o);
      const i = load<f32>(g + o), og = load<f32>(g + hb + o), f = load<f32>(g + 2 * hb + o), gg = load<f32>(g + 3 * hb + o);
      const c0 = load<f32>(cp + o), c = load<f32>(cn + o);
      const tc = vmath.tanhf(c);
      const dao = dhv * tc * (og * (1 - og));
      let dct = dhv * og * (1 - tc * tc) + load<f32>(dc + o);
      if (peep != 0) dct += dao * load<f32>(peep + hb + o);
      const dai = dct * gg * (i * (1 - i));
      const dag = dct * i * (1 - gg * gg);
      const daf = dct * c0 * (f * (1 - f));
      let dcp = dct * f;
      if (peep != 0) dcp += dai * load<f32>(peep + o) + daf * load<f32>(peep + 2 * hb + o);
      if (dpeep != 0) {
        store<f32>(dpeep + o, load<f32>(dpeep + o) + dai * c0);
        store<f32>(dpeep + hb + o, load<f32>(dpeep + hb + o) + dao * c);
        store<f32>(dpeep + 2 * hb + o, load<f32>(dpeep + 2 * hb + o) + daf * c0);
      }
      store<f32>(dg + o, dai);
      store<f32>(dg + hb + o, dao);
      store<f32>(dg + 2 * hb + o, daf);
      store<f32>(dg + 3 * hb + o, dag);
      store<f32>(dc + o, dcp);
      store<f32>(dh + o, 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// GRU (ONNX, default activations): z = sigmoid(a_z), r = sigmoid(a_r),
//   linear_before_reset 0: n = tanh(x Wh + Wbh + (r * h_{t-1}) Rh + Rbh)
//   linear_before_reset 1: n = tanh(x Wh + Wbh + r * (h_{t-1} Rh + Rbh))
//   h_t = (1 - z) n + z h_{t-1}.
// A step is two kernel calls. Forward (recurrent_f32_forward_steps): h_{t-1} R_zr accumulates
// onto gates[t]'s z, r blocks, phase 1 activates them (and writes extra = r * h_{t-1} for lbr 0);
// then extra . Rh accumulates onto the h block (lbr 0) or extra = h_{t-1} Rh is written (lbr 1);
// phase 2 finishes.

/** Forward step t, phase 1 (z, r) or 2 (n and the new h). */
export function gru_f32_forward(blk: usize, t: i32, phase: i32): void {
  const B = field(blk, F_BATCH), H = field(blk, F_HIDDEN), lens = ptr(blk, F_LENS);
  const clip = reinterpret<f32>(field(blk, F_CLIP)), lbr = field(blk, F_VARIANT) != 0, rbh = ptr(blk, F_RBH);
  const G = 3 * H, hb = <usize>H << 2;
  const gates = ptr(blk, F_GATES) + rowAt(t * B, G), hs = ptr(blk, F_HS) + rowAt(t * B, H), extras = ptr(blk, F_CS) + rowAt(t * B, H);
  for (let b = 0; b < B; b++) {
    const g = gates + rowAt(b, G), hp = hs + rowAt(b, H), hn = hs + rowAt(B + b, H), ex = extras + rowAt(b, H);
    if (masked(lens, b, t)) {
      if (phase == 2) {
        copyRow(hn, hp, H);
        zeroRow(g, G);
      }
      zeroRow(ex, H);
      continue;
    }
    let j = 0;
    if (phase == 1) {
      if (ASC_FEATURE_SIMD) {
        const hi = f32x4.splat(clip), lo = f32x4.neg(hi);
        for (; j + 4 <= H; j += 4) {
          const o = <usize>j << 2;
          v128.store(g + o, vmath.sigmoid4(clamp4(v128.load(g + o), lo, hi)));
          const r = vmath.sigmoid4(clamp4(v128.load(g + hb + o), lo, hi));
          v128.store(g + hb + o, r);
          if (!lbr) v128.store(ex + o, f32x4.mul(r, v128.load(hp + o)));
        }
      }
      for (; j < H; j++) {
        const o = <usize>j << 2;
        store<f32>(g + o, vmath.sigmoidf(clampf(load<f32>(g + o), clip)));
        const r = vmath.sigmoidf(clampf(load<f32>(g + hb + o), clip));
        store<f32>(g + hb + o, r);
        if (!lbr) store<f32>(ex + o, r * load<f32>(hp + o));
      }
      continue;
    }
    if (ASC_FEATURE_SIMD) {
      const hi = f32x4.splat(clip), lo = f32x4.neg(hi);
      for (; j + 4 <= H; j += 4) {
        const o = <usize>j << 2;
        let a = v128.load(g + 2 * hb + o);
        if (lbr) {
          const hnv = f32x4.add(v128.load(ex + o), v128.load(rbh + o));
          v128.store(ex + o, hnv);
          a = madd(v128.load(g + hb + o), hnv, a);
        }
        const n = vmath.tanh4(clamp4(a, lo, hi));
        const z = v128.load(g + o), h0 = v128.load(hp + o);
        v128.store(g + 2 * hb + o, n);
        v128.store(hn + o, madd(z, f32x4.sub(h0, n), n));
      }
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      let a = load<f32>(g + 2 * hb + o);
      if (lbr) {
        const hnv = load<f32>(ex + o) + load<f32>(rbh + o);
        store<f32>(ex + o, hnv);
        a += load<f32>(g + hb + o) * hnv;
      }
      const n = vmath.tanhf(clampf(a, clip));
      const z = load<f32>(g + o), h0 = load<f32>(hp + o);
      store<f32>(g + 2 * hb + o, n);
      store<f32>(hn + o, n + z * (h0 - n));
    }
  }
}

/**
 * Backward step t. Phase 1: from dh (+ dy[t]) writes the z and h blocks of dgates[t] (lbr 1: also
 * the r block and dextra[t] = dL/d(h_{t-1} Rh + Rbh)) and leaves dh = z * dh. Then the host
 * computes drh = dgates[t]_h . Rh^T (lbr 0), and phase 2 (lbr 0 only) writes the r block and adds
 * drh * r to dh. The host's GEMMs then add dgates[t]_zr . R_zr^T (and lbr 1: dextra[t] . Rh^T).
 */
export function gru_f32_backward(blk: usize, t: i32, phase: i32): void {
  const B = field(blk, F_BATCH), H = field(blk, F_HIDDEN), lens = ptr(blk, F_LENS), lbr = field(blk, F_VARIANT) != 0;
  const G = 3 * H, hb = <usize>H << 2;
  const gates = ptr(blk, F_GATES) + rowAt(t * B, G), dgates = ptr(blk, F_DGATES) + rowAt(t * B, G);
  const hs = ptr(blk, F_HS) + rowAt(t * B, H), extras = ptr(blk, F_CS) + rowAt(t * B, H);
  const dextras = lbr ? ptr(blk, F_DEXTRA) + rowAt(t * B, H) : 0, drhs = ptr(blk, F_DRH);
  const dhs = ptr(blk, F_DH), dys = ptr(blk, F_DY);
  for (let b = 0; b < B; b++) {
    const g = gates + rowAt(b, G), dg = dgates + rowAt(b, G), hp = hs + rowAt(b, H), dh = dhs + rowAt(b, H);
    if (masked(lens, b, t)) {
      if (phase == 1) {
        zeroRow(dg, G);
        if (lbr) zeroRow(dextras + rowAt(b, H), H);
      }
      continue;
    }
    let j = 0;
    if (phase == 2) {
      const drh = drhs + rowAt(b, H);
      if (ASC_FEATURE_SIMD) {
        const one = f32x4.splat(1);
        for (; j + 4 <= H; j += 4) {
          const o = <usize>j << 2;
          const r = v128.load(g + hb + o), d = v128.load(drh + o);
          v128.store(dg + hb + o, f32x4.mul(f32x4.mul(d, v128.load(hp + o)), f32x4.mul(r, f32x4.sub(one, r))));
          v128.store(dh + o, madd(d, r, v128.load(dh + o)));
        }
      }
      for (; j < H; j++) {
        const o = <usize>j << 2;
        const r = load<f32>(g + hb + o), d = load<f32>(drh + o);
        store<f32>(dg + hb + o, d * load<f32>(hp + o) * (r * (1 - r)));
        store<f32>(dh + o, load<f32>(dh + o) + d * r);
      }
      continue;
    }
    const dy = dys != 0 ? dys + rowAt(t * B + b, H) : 0;
    const ex = extras + rowAt(b, H), dex = lbr ? dextras + rowAt(b, H) : 0;
    if (ASC_FEATURE_SIMD) {
      const one = f32x4.splat(1);
      for (; j + 4 <= H; j += 4) {
        const o = <usize>j << 2;
        let dhv = v128.load(dh + o);
        if (dy != 0) dhv = f32x4.add(dhv, v128.load(dy + o));
        const z = v128.load(g + o), n = v128.load(g + 2 * hb + o), h0 = v128.load(hp + o);
        const dan = f32x4.mul(f32x4.mul(dhv, f32x4.sub(one, z)), f32x4.sub(one, f32x4.mul(n, n)));
        v128.store(dg + o, f32x4.mul(f32x4.mul(dhv, f32x4.sub(h0, n)), f32x4.mul(z, f32x4.sub(one, z))));
        v128.store(dg + 2 * hb + o, dan);
        v128.store(dh + o, f32x4.mul(dhv, z));
        if (lbr) {
          const r = v128.load(g + hb + o);
          v128.store(dg + hb + o, f32x4.mul(f32x4.mul(dan, v128.load(ex + o)), f32x4.mul(r, f32x4.sub(one, r))));
          v128.store(dex + o, f32x4.mul(dan, r));
        }
      }
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      let dhv = load<f32>(dh + o);
      if (dy != 0) dhv += load<f32>(dy + o);
      const z = load<f32>(g + o), n = load<f32>(g + 2 * hb + o), h0 = load<f32>(hp + o);
      const dan = dhv * (1 - z) * (1 - n * n);
      store<f32>(dg + o, dhv * (h0 - n) * (z * (1 - z)));
      store<f32>(dg + 2 * hb + o, dan);
      store<f32>(dh + o, dhv * z);
      if (lbr) {
        const r = load<f32>(g + hb + o);
        store<f32>(dg + hb + o, dan * load<f32>(ex + o) * (r * (1 - r)));
        store<f32>(dex + o, dan * r);
      }
    }
  }
}

/** C (rows x n, rows ld_c apart) (+)= A (rows x k, rows ld_a apart) . B packed by pack_b_f32. */
// @ts-ignore: decorator
@inline function recurrentProduct(c: usize, ld_c: i32, a: usize, ld_a: i32, packed: usize, rows: i32, n: i32, k: i32, acc: bool): void {
  gemm_f32_packed_b_strided(c, ld_c, a, ld_a, packed, rows, n, k, acc ? 1 : 0, 0, (n + 7) >> 3);
}

/**
 * The forward recurrence of one direction in one call, for t in [0, steps): gates[t] += hs[t] . R,
 * then the step kernel. `gates_per_cell` names the cell: 1 RNN, 3 GRU, 4 LSTM. R is packed by
 * pack_b_f32: RNN, LSTM: R [H, G*H] at packed (packed_h unused); GRU: R's z, r columns [H, 2H]
 * at packed and its h columns [H, H] at packed_h, and a step is the z, r product ->
 * gru_f32_forward phase 1 -> the h-block product (see the GRU section) -> phase 2. Block as for
 * the step kernels.
 */
export function recurrent_f32_forward_steps(blk: usize, packed: usize, packed_h: usize, steps: i32, gates_per_cell: i32): void {
  const B = field(blk, F_BATCH), H = field(blk, F_HIDDEN), GH = gates_per_cell * H;
  const gates = ptr(blk, F_GATES), hs = ptr(blk, F_HS), extras = ptr(blk, F_CS), lbr = field(blk, F_VARIANT) != 0;
  for (let t = 0; t < steps; t++) {
    const gt = gates + rowAt(t * B, GH), ht = hs + rowAt(t * B, H);
    if (gates_per_cell == 3) {
      const ex = extras + rowAt(t * B, H);
      recurrentProduct(gt, GH, ht, H, packed, B, 2 * H, H, true);
      gru_f32_forward(blk, t, 1);
      if (lbr) recurrentProduct(ex, H, ht, H, packed_h, B, H, H, false);
      else recurrentProduct(gt + rowAt(2, H), GH, ex, H, packed_h, B, H, H, true);
      gru_f32_forward(blk, t, 2);
      continue;
    }
    recurrentProduct(gt, GH, ht, H, packed, B, GH, H, true);
    if (gates_per_cell == 4) lstm_f32_forward(blk, t);
    else rnn_f32_forward(blk, t);
  }
}

// ---------------------------------------------------------------------------------------------
// Sequence moves and the embedding.

/**
 * Copies a [steps, batch, features] sequence between layouts given by strides (elements):
 * dst row (t, b) at t * dst_t + b * dst_b, src row (s, b) at s * src_t + b * src_b, with
 * s = t, or s = lens[b] - 1 - t when reverse != 0 (each sequence reversed within its length).
 * Rows t >= lens[b] (lens 0: none) are zeroed when zero_pad != 0, else left alone. accumulate != 0
 * adds into dst instead of overwriting (its padding rows are then left alone). dst must not
 * overlap src. Serves batch-first <-> time-major moves, reversed directions and ONNX's Y.
 */
export function seq_copy_f32(
  dst: usize, dst_t: i32, dst_b: i32, src: usize, src_t: i32, src_b: i32, lens: usize,
  steps: i32, batch: i32, features: i32, reverse: i32, zero_pad: i32, accumulate: i32,
): void {
  for (let b = 0; b < batch; b++) {
    const len = lens != 0 ? min(load<i32>(lens + (<usize>b << 2)), steps) : steps;
    for (let t = 0; t < steps; t++) {
      const d = dst + ((<usize>t * <usize>dst_t + <usize>b * <usize>dst_b) << 2);
      if (t >= len) {
        if (zero_pad != 0 && accumulate == 0) zeroRow(d, features);
        continue;
      }
      const s = src + ((<usize>(reverse != 0 ? len - 1 - t : t) * <usize>src_t + <usize>b * <usize>src_b) << 2);
      if (accumulate == 0) {
        copyRow(d, s, features);
        continue;
      }
      let j = 0;
      if (ASC_FEATURE_SIMD) {
        for (; j + 4 <= features; j += 4) {
          const o = <usize>j << 2;
          v128.store(d + o, f32x4.add(v128.load(d + o), v128.load(s + o)));
        }
      }
      for (; j < features; j++) {
        const o = <usize>j << 2;
        store<f32>(d + o, load<f32>(d + o) + load<f32>(s + o));
      }
    }
  }
}

/**
 * Embedding lookup: y[n] (dim floats) = table[ids[n]] for n < count; ids are f32 holding
 * integers in [0, rows of table) (the host checks them).
 */
export function embedding_f32_forward(y: usize, table: usize, ids: usize, count: i32, dim: i32): void {
  for (let n = 0; n < count; n++) {
    const id = <i32>load<f32>(ids + (<usize>n << 2));
    copyRow(y + rowAt(n, dim), table + rowAt(id, dim), dim);
  }
}

/** Embedding backward: dtable[ids[n]] += dy[n] for n < count, in order (repeated ids sum). */
export function embedding_f32_backward(dtable: usize, dy: usize, ids: usize, count: i32, dim: i32): void {
  for (let n = 0; n < count; n++) {
    const d = dtable + rowAt(<i32>load<f32>(ids + (<usize>n << 2)), dim), s = dy + rowAt(n, dim);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= dim; j += 4) {
        const o = <usize>j << 2;
        v128.store(d + o, f32x4.add(v128.load(d + o), v128.load(s + o)));
      }
    }
    for (; j < dim; j++) {
      const o = <usize>j << 2;
      store<f32>(d + o, load<f32>(d + o) + load<f32>(s + o));
    }
  }
}
