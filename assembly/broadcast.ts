// Broadcasting element-wise kernels over an N-d loop (assembly/nd.ts descriptor, written by the
// host: src/graph/ops/elementwise.ts). Operand 0 is the output (or, in backward, dy), contiguous
// in its own order: its innermost stride is 1. Operands 1.. are the inputs, each read through its
// own strides, 0 along the axes it is broadcast on, in any axis order.
//   binary_f32_forward(op, y, a, b, desc)    y = op(a, b), f32 inputs (BinaryF32 codes below;
//                                            comparisons write i32 0/1)
//   binary_i32_forward(op, y, a, b, desc)    i32 inputs (BinaryI32 codes: integer and bool ops)
//   where_nd(y, c, a, b, desc)               y = c != 0 ? a : b (any 4-byte elements; c i32)
//   binary_f32_backward(op, which, dt, dy, a, b, desc)
//                                            which 0: dt += dy * d op / da, dt laid out as a
//                                            (a's strides: broadcast axes sum); which 1: as b
// The codes are the contract with src/graph/kernel-codes.ts (tests run every code against its
// float64 reference). The output must not overlap the inputs, except y may BE an input read with
// the output's own strides (the variadic ops accumulate y = op(y, x_k)).
//
// Each op is a tag class (see unary.ts): a 4-lane form `v` and a scalar form `s` of one algorithm.
// SIMD builds run rows whose inner strides are 1 or 0 (contiguous or broadcast: same shapes,
// per-channel constants in NHWC, scalars) in 4-lane loops; tails and rows with other strides run
// the scalar form, as does the scalar build.

import { fmath } from "./fmath";
import { ND_MAX_OPERANDS, ND_MAX_RANK, ndDim, ndRank, ndStride } from "./nd";
import { hsum } from "./simd";

/** Word offset of the kernel-owned loop counters in a descriptor (assembly/nd.ts's layout). */
const COUNTERS: i32 = 1 + ND_MAX_RANK + ND_MAX_OPERANDS * ND_MAX_RANK;

// ---------------------------------------------------------------------------------------------
// the odometer over the outer axes (all but the innermost)

/** Zeroes the counters of the outer r - 1 axes; returns how many rows the loop has. */
// @ts-ignore: decorator
@inline function rowsStart(desc: usize, r: i32): i32 {
  let rows: i32 = 1;
  for (let a = 0; a < r - 1; a++) {
    rows *= ndDim(desc, a);
    store<i32>(desc + (<usize>(COUNTERS + a) << 2), 0);
  }
  return rows;
}

/** Element offset of operand k at the current outer index. */
// @ts-ignore: decorator
@inline function rowOffset(desc: usize, k: i32, r: i32): isize {
  let off: isize = 0;
  for (let a = 0; a < r - 1; a++) off += <isize>load<i32>(desc + (<usize>(COUNTERS + a) << 2)) * ndStride(desc, k, a);
  return off;
}

/** Advances the outer index by one row. */
// @ts-ignore: decorator
@inline function rowsNext(desc: usize, r: i32): void {
  for (let a = r - 2; a >= 0; a--) {
    const p = desc + (<usize>(COUNTERS + a) << 2);
    const i = load<i32>(p) + 1;
    if (i < ndDim(desc, a)) {
      store<i32>(p, i);
      return;
    }
    store<i32>(p, 0);
  }
}

// @ts-ignore: decorator
@inline function at(p: usize, off: isize): usize {
  return p + (<usize>off << 2);
}

// @ts-ignore: decorator
@inline function bits(v: f32): i32 {
  return reinterpret<i32>(v);
}

// @ts-ignore: decorator
@inline function mask1(m: v128): v128 {
  return v128.and(m, i32x4.splat(1));
}

// ---------------------------------------------------------------------------------------------
// row templates

/** One row of binary_f32_forward: n elements, y contiguous, a and b with inner strides sa, sb. */
function binaryRow<OP>(y: usize, a: usize, b: usize, n: i32, sa: isize, sb: isize): void {
  const op = changetype<OP>(0);
  let i = 0;
  // @ts-ignore: generic tag
  if (ASC_FEATURE_SIMD && op.fast) {
    if (sa == 1 && sb == 1) {
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i << 2;
        // @ts-ignore: generic tag
        v128.store(y + o, op.v(v128.load(a + o), v128.load(b + o)));
      }
    } else if (sa == 1 && sb == 0) {
      const vb = v128.load32_splat(b);
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i << 2;
        // @ts-ignore: generic tag
        v128.store(y + o, op.v(v128.load(a + o), vb));
      }
    } else if (sa == 0 && sb == 1) {
      const va = v128.load32_splat(a);
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i << 2;
        // @ts-ignore: generic tag
        v128.store(y + o, op.v(va, v128.load(b + o)));
      }
    }
  }
  // the tail, and rows with other strides
  for (; i < n; i++) {
    // @ts-ignore: generic tag
    store<i32>(y + (<usize>i << 2), op.s(load<f32>(at(a, <isize>i * sa)), load<f32>(at(b, <isize>i * sb))));
  }
}

/**
 * One row of binary_i32_forward: the op chosen per element (integer tensors are shapes, indices
 * and masks: few elements, so one loop serves every op and the code stays small).
 */
function binaryRowI32(op: i32, y: usize, a: usize, b: usize, n: i32, sa: isize, sb: isize): void {
  for (let i = 0; i < n; i++) store<i32>(y + (<usize>i << 2), opI32(op, load<i32>(at(a, <isize>i * sa)), load<i32>(at(b, <isize>i * sb))));
}

/**
 * One row of binary_f32_backward: dt[i st] += dy[i] * d op(a[i sa], b[i sb]) / d(a or b), st the
 * target's inner stride (sa when W is signed: the gradient of a; sb otherwise).
 */
function binaryBackRow<OP, W>(dt: usize, g: usize, a: usize, b: usize, n: i32, sa: isize, sb: isize): void {
  const op = changetype<OP>(0);
  const st = isSigned<W>() ? sa : sb;
  let i = 0;
  // @ts-ignore: generic tag
  if (ASC_FEATURE_SIMD && op.simdGrad) {
    if ((sa == 0 || sa == 1) && (sb == 0 || sb == 1)) {
      // contiguous or broadcast operands; the target is contiguous (st 1) or takes the row's sum (st 0)
      let acc = f32x4.splat(0);
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i << 2;
        const va = sa == 0 ? v128.load32_splat(a) : v128.load(a + o);
        const vb = sb == 0 ? v128.load32_splat(b) : v128.load(b + o);
        // @ts-ignore: generic tag
        const d = isSigned<W>() ? op.da(v128.load(g + o), va, vb) : op.db(v128.load(g + o), va, vb);
        if (st == 1) v128.store(dt + o, f32x4.add(v128.load(dt + o), d));
        else acc = f32x4.add(acc, d);
      }
      if (st == 0) store<f32>(dt, load<f32>(dt) + hsum(acc));
    }
  }
  // the tail, and rows with other strides
  for (; i < n; i++) {
    const vg = load<f32>(g + (<usize>i << 2)), va = load<f32>(at(a, <isize>i * sa)), vb = load<f32>(at(b, <isize>i * sb));
    const p = at(dt, <isize>i * st);
    // @ts-ignore: generic tag
    store<f32>(p, load<f32>(p) + (isSigned<W>() ? op.das(vg, va, vb) : op.dbs(vg, va, vb)));
  }
}

// ---------------------------------------------------------------------------------------------
// f32 ops: v / s forward (s returns the result's bits), da / db (and das / dbs) the gradient
// contributions dy * d op / da and dy * d op / db. `fast`: whether forward rows with inner strides
// 1 / 0 get 4-lane loops (the arithmetic of real models); `simdGrad`: the same for the backward
// (the ops whose gradient the planner runs on large tensors: Add and Sub use ReduceToShape). The
// rest run their scalar form: code size is budgeted.

@final class Add {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline get fast(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 { return f32x4.add(a, b); }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return bits(a + b); }
  // @ts-ignore: decorator
  @inline da(g: v128, a: v128, b: v128): v128 { return g; }
  // @ts-ignore: decorator
  @inline db(g: v128, a: v128, b: v128): v128 { return g; }
  // @ts-ignore: decorator
  @inline das(g: f32, a: f32, b: f32): f32 { return g; }
  // @ts-ignore: decorator
  @inline dbs(g: f32, a: f32, b: f32): f32 { return g; }
}

@final class Sub {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline get fast(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 { return f32x4.sub(a, b); }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return bits(a - b); }
  // @ts-ignore: decorator
  @inline da(g: v128, a: v128, b: v128): v128 { return g; }
  // @ts-ignore: decorator
  @inline db(g: v128, a: v128, b: v128): v128 { return f32x4.neg(g); }
  // @ts-ignore: decorator
  @inline das(g: f32, a: f32, b: f32): f32 { return g; }
  // @ts-ignore: decorator
  @inline dbs(g: f32, a: f32, b: f32): f32 { return -g; }
}

@final class Mul {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return true; }
  // @ts-ignore: decorator
  @inline get fast(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 { return f32x4.mul(a, b); }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return bits(a * b); }
  // @ts-ignore: decorator
  @inline da(g: v128, a: v128, b: v128): v128 { return f32x4.mul(g, b); }
  // @ts-ignore: decorator
  @inline db(g: v128, a: v128, b: v128): v128 { return f32x4.mul(g, a); }
  // @ts-ignore: decorator
  @inline das(g: f32, a: f32, b: f32): f32 { return g * b; }
  // @ts-ignore: decorator
  @inline dbs(g: f32, a: f32, b: f32): f32 { return g * a; }
}

@final class Div {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline get fast(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 { return f32x4.div(a, b); }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return bits(a / b); }
  // @ts-ignore: decorator
  @inline da(g: v128, a: v128, b: v128): v128 { return f32x4.div(g, b); }
  // -g a / b^2
  // @ts-ignore: decorator
  @inline db(g: v128, a: v128, b: v128): v128 { return f32x4.neg(f32x4.div(f32x4.mul(g, a), f32x4.mul(b, b))); }
  // @ts-ignore: decorator
  @inline das(g: f32, a: f32, b: f32): f32 { return g / b; }
  // @ts-ignore: decorator
  @inline dbs(g: f32, a: f32, b: f32): f32 { return -((g * a) / (b * b)); }
}

/** a^b (fmath.powf). Gradients: b a^(b-1); a^b log a for a > 0, else 0. */
@final class Pow {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline get fast(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 { return fmath.pow4(a, b); }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return bits(fmath.powf(a, b)); }
  // @ts-ignore: decorator
  @inline da(g: v128, a: v128, b: v128): v128 { return f32x4.mul(f32x4.mul(g, b), fmath.pow4(a, f32x4.sub(b, f32x4.splat(1)))); }
  // @ts-ignore: decorator
  @inline db(g: v128, a: v128, b: v128): v128 {
    const d = f32x4.mul(f32x4.mul(g, fmath.pow4(a, b)), fmath.log4(a));
    return v128.and(d, f32x4.gt(a, f32x4.splat(0)));
  }
  // @ts-ignore: decorator
  @inline das(g: f32, a: f32, b: f32): f32 { return g * b * fmath.powf(a, b - 1); }
  // @ts-ignore: decorator
  @inline dbs(g: f32, a: f32, b: f32): f32 { return a > 0 ? g * fmath.powf(a, b) * fmath.logf(a) : 0; }
}

/** a^b with an i32 exponent (Pow with an integer exponent tensor): b converted to f32. */
@final class PowI {
  // @ts-ignore: decorator
  @inline get fast(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 { return fmath.pow4(a, f32x4.convert_i32x4_s(b)); }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return bits(fmath.powf(a, <f32>bits(b))); }
}

/** Max; NaN propagates. Ties split the gradient in halves (as PyTorch). */
@final class Max {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline get fast(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 { return f32x4.max(a, b); }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return bits(max(a, b)); }
  // @ts-ignore: decorator
  @inline da(g: v128, a: v128, b: v128): v128 { return tieSplit(g, f32x4.gt(a, b), f32x4.eq(a, b)); }
  // @ts-ignore: decorator
  @inline db(g: v128, a: v128, b: v128): v128 { return tieSplit(g, f32x4.lt(a, b), f32x4.eq(a, b)); }
  // @ts-ignore: decorator
  @inline das(g: f32, a: f32, b: f32): f32 { return a > b ? g : a == b ? g * 0.5 : 0; }
  // @ts-ignore: decorator
  @inline dbs(g: f32, a: f32, b: f32): f32 { return a < b ? g : a == b ? g * 0.5 : 0; }
}

@final class Min {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline get fast(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 { return f32x4.min(a, b); }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return bits(min(a, b)); }
  // @ts-ignore: decorator
  @inline da(g: v128, a: v128, b: v128): v128 { return tieSplit(g, f32x4.lt(a, b), f32x4.eq(a, b)); }
  // @ts-ignore: decorator
  @inline db(g: v128, a: v128, b: v128): v128 { return tieSplit(g, f32x4.gt(a, b), f32x4.eq(a, b)); }
  // @ts-ignore: decorator
  @inline das(g: f32, a: f32, b: f32): f32 { return a < b ? g : a == b ? g * 0.5 : 0; }
  // @ts-ignore: decorator
  @inline dbs(g: f32, a: f32, b: f32): f32 { return a > b ? g : a == b ? g * 0.5 : 0; }
}

/** g where `win`, g / 2 where `tie`, else 0. */
// @ts-ignore: decorator
@inline function tieSplit(g: v128, win: v128, tie: v128): v128 {
  return v128.or(v128.and(g, win), v128.and(f32x4.mul(g, f32x4.splat(0.5)), tie));
}

/** fmod: a - trunc(a / b) b, the sign of a (ONNX Mod with fmod = 1). Gradients: 1; -trunc(a / b). */
@final class FMod {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline get fast(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 {
    let r = f32x4.splat(fmodf(f32x4.extract_lane(a, 0), f32x4.extract_lane(b, 0)));
    r = f32x4.replace_lane(r, 1, fmodf(f32x4.extract_lane(a, 1), f32x4.extract_lane(b, 1)));
    r = f32x4.replace_lane(r, 2, fmodf(f32x4.extract_lane(a, 2), f32x4.extract_lane(b, 2)));
    return f32x4.replace_lane(r, 3, fmodf(f32x4.extract_lane(a, 3), f32x4.extract_lane(b, 3)));
  }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return bits(fmodf(a, b)); }
  // @ts-ignore: decorator
  @inline da(g: v128, a: v128, b: v128): v128 { return g; }
  // @ts-ignore: decorator
  @inline db(g: v128, a: v128, b: v128): v128 { return f32x4.neg(f32x4.mul(g, f32x4.trunc(f32x4.div(a, b)))); }
  // @ts-ignore: decorator
  @inline das(g: f32, a: f32, b: f32): f32 { return g; }
  // @ts-ignore: decorator
  @inline dbs(g: f32, a: f32, b: f32): f32 { return -(g * trunc<f32>(a / b)); }
}

/** One shared copy of fmod (AssemblyScript's exact NativeMathf.mod). */
function fmodf(a: f32, b: f32): f32 {
  return a % b;
}

/** PRelu: a < 0 ? a b : a (a = x, b = slope). Gradients: a > 0 ? 1 : b; a > 0 ? 0 : a (as the prelu kernels). */
@final class PRelu {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return true; }
  // @ts-ignore: decorator
  @inline get fast(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 { return v128.bitselect(f32x4.mul(a, b), a, f32x4.lt(a, f32x4.splat(0))); }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return bits(a < 0 ? a * b : a); }
  // @ts-ignore: decorator
  @inline da(g: v128, a: v128, b: v128): v128 { return v128.bitselect(g, f32x4.mul(g, b), f32x4.gt(a, f32x4.splat(0))); }
  // @ts-ignore: decorator
  @inline db(g: v128, a: v128, b: v128): v128 { return f32x4.mul(g, f32x4.pmin(a, f32x4.splat(0))); }
  // @ts-ignore: decorator
  @inline das(g: f32, a: f32, b: f32): f32 { return a > 0 ? g : g * b; }
  // @ts-ignore: decorator
  @inline dbs(g: f32, a: f32, b: f32): f32 { return g * min<f32>(a, 0); }
}

/** Backward only: the gradient of the inputs of a variadic Max / Min, a = x_k, b = y: g where a == y. */
@final class Selected {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline get fast(): bool { return false; }
  // @ts-ignore: decorator
  @inline da(g: v128, a: v128, b: v128): v128 { return v128.and(g, f32x4.eq(a, b)); }
  // @ts-ignore: decorator
  @inline db(g: v128, a: v128, b: v128): v128 { return f32x4.splat(0); }
  // @ts-ignore: decorator
  @inline das(g: f32, a: f32, b: f32): f32 { return a == b ? g : 0; }
  // @ts-ignore: decorator
  @inline dbs(g: f32, a: f32, b: f32): f32 { return 0; }
}

@final class Equal {
  // @ts-ignore: decorator
  @inline get fast(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 { return mask1(f32x4.eq(a, b)); }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return <i32>(a == b); }
}

@final class Less {
  // @ts-ignore: decorator
  @inline get fast(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 { return mask1(f32x4.lt(a, b)); }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return <i32>(a < b); }
}

@final class Greater {
  // @ts-ignore: decorator
  @inline get fast(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 { return mask1(f32x4.gt(a, b)); }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return <i32>(a > b); }
}

@final class LessOrEqual {
  // @ts-ignore: decorator
  @inline get fast(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 { return mask1(f32x4.le(a, b)); }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return <i32>(a <= b); }
}

@final class GreaterOrEqual {
  // @ts-ignore: decorator
  @inline get fast(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(a: v128, b: v128): v128 { return mask1(f32x4.ge(a, b)); }
  // @ts-ignore: decorator
  @inline s(a: f32, b: f32): i32 { return <i32>(a >= b); }
}

// ---------------------------------------------------------------------------------------------
// i32 ops (wrapping arithmetic; bools are 0/1)

// BinaryI32 codes
const I_ADD = 0, I_SUB = 1, I_MUL = 2, I_DIV = 3, I_MOD = 4, I_FMOD = 5, I_MAX = 6, I_MIN = 7, I_POW = 8, I_EQUAL = 9,
  I_LESS = 10, I_GREATER = 11, I_LESS_OR_EQUAL = 12, I_GREATER_OR_EQUAL = 13, I_AND = 14, I_OR = 15, I_XOR = 16;

/**
 * The BinaryI32 op `op` on a and b. Division truncates (C, onnxruntime); x / 0 and x mod 0 give 0
 * and INT_MIN / -1 gives INT_MIN instead of trapping. Mod (fmod 0) takes the divisor's sign
 * (Python), FMod the dividend's (C). Pow by repeated squaring, wrapping; b < 0 gives 1 / a^-b
 * truncated. And / Or / Xor are bitwise, so logical on bools (0/1).
 */
// @ts-ignore: decorator
@inline function opI32(op: i32, a: i32, b: i32): i32 {
  switch (op) {
    case I_ADD: return a + b;
    case I_SUB: return a - b;
    case I_MUL: return a * b;
    case I_DIV: return b == 0 ? 0 : b == -1 ? -a : a / b;
    case I_MOD: {
      if (b == 0 || b == -1) return 0;
      const r = a % b;
      return r != 0 && (r ^ b) < 0 ? r + b : r;
    }
    case I_FMOD: return b == 0 || b == -1 ? 0 : a % b;
    case I_MAX: return max(a, b);
    case I_MIN: return min(a, b);
    case I_POW: return ipow(a, b);
    case I_EQUAL: return <i32>(a == b);
    case I_LESS: return <i32>(a < b);
    case I_GREATER: return <i32>(a > b);
    case I_LESS_OR_EQUAL: return <i32>(a <= b);
    case I_GREATER_OR_EQUAL: return <i32>(a >= b);
    case I_AND: return a & b;
    case I_OR: return a | b;
    case I_XOR: return a ^ b;
    default: unreachable();
  }
  return 0;
}

function ipow(a: i32, b: i32): i32 {
  if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) != 0 ? -1 : 1) : 0;
  let r = 1, base = a, e = b;
  while (e != 0) {
    if ((e & 1) != 0) r *= base;
    base *= base;
    e >>>= 1;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// kernels

// BinaryF32 codes (src/graph/kernel-codes.ts mirrors them)
const ADD = 0, SUB = 1, MUL = 2, DIV = 3, POW = 4, MAX = 5, MIN = 6, FMOD = 7, PRELU = 8, EQUAL = 9, LESS = 10,
  GREATER = 11, LESS_OR_EQUAL = 12, GREATER_OR_EQUAL = 13, POW_I = 14, SELECTED = 15;

/** y = op(a, b) for the BinaryF32 op `op` (f32 inputs) over the N-d loop `desc` (operands y, a, b). */
export function binary_f32_forward(op: i32, y: usize, a: usize, b: usize, desc: usize): void {
  const r = ndRank(desc), n = ndDim(desc, r - 1);
  const sa = ndStride(desc, 1, r - 1), sb = ndStride(desc, 2, r - 1);
  const rows = rowsStart(desc, r);
  for (let k = 0; k < rows; k++) {
    const yp = at(y, rowOffset(desc, 0, r)), ap = at(a, rowOffset(desc, 1, r)), bp = at(b, rowOffset(desc, 2, r));
    switch (op) {
      case ADD: binaryRow<Add>(yp, ap, bp, n, sa, sb); break;
      case SUB: binaryRow<Sub>(yp, ap, bp, n, sa, sb); break;
      case MUL: binaryRow<Mul>(yp, ap, bp, n, sa, sb); break;
      case DIV: binaryRow<Div>(yp, ap, bp, n, sa, sb); break;
      case POW: binaryRow<Pow>(yp, ap, bp, n, sa, sb); break;
      case MAX: binaryRow<Max>(yp, ap, bp, n, sa, sb); break;
      case MIN: binaryRow<Min>(yp, ap, bp, n, sa, sb); break;
      case FMOD: binaryRow<FMod>(yp, ap, bp, n, sa, sb); break;
      case PRELU: binaryRow<PRelu>(yp, ap, bp, n, sa, sb); break;
      case EQUAL: binaryRow<Equal>(yp, ap, bp, n, sa, sb); break;
      case LESS: binaryRow<Less>(yp, ap, bp, n, sa, sb); break;
      case GREATER: binaryRow<Greater>(yp, ap, bp, n, sa, sb); break;
      case LESS_OR_EQUAL: binaryRow<LessOrEqual>(yp, ap, bp, n, sa, sb); break;
      case GREATER_OR_EQUAL: binaryRow<GreaterOrEqual>(yp, ap, bp, n, sa, sb); break;
      case POW_I: binaryRow<PowI>(yp, ap, bp, n, sa, sb); break;
      default: unreachable();
    }
    rowsNext(desc, r);
  }
}

/**
 * dt += dy * d op(a, b) / d(a if which == 0, else b) for the BinaryF32 op `op` over `desc`
 * (operands dy, a, b). dt is laid out as the operand it belongs to (its strides): where that
 * operand is broadcast, the contributions are summed. dt must not overlap dy, a or b.
 */
export function binary_f32_backward(op: i32, which: i32, dt: usize, dy: usize, a: usize, b: usize, desc: usize): void {
  const r = ndRank(desc), n = ndDim(desc, r - 1);
  const sa = ndStride(desc, 1, r - 1), sb = ndStride(desc, 2, r - 1);
  const rows = rowsStart(desc, r);
  for (let k = 0; k < rows; k++) {
    const gp = at(dy, rowOffset(desc, 0, r)), ao = rowOffset(desc, 1, r), bo = rowOffset(desc, 2, r);
    const ap = at(a, ao), bp = at(b, bo);
    if (which == 0) {
      const tp = at(dt, ao);
      switch (op) {
        case ADD: binaryBackRow<Add, i32>(tp, gp, ap, bp, n, sa, sb); break;
        case SUB: binaryBackRow<Sub, i32>(tp, gp, ap, bp, n, sa, sb); break;
        case MUL: binaryBackRow<Mul, i32>(tp, gp, ap, bp, n, sa, sb); break;
        case DIV: binaryBackRow<Div, i32>(tp, gp, ap, bp, n, sa, sb); break;
        case POW: binaryBackRow<Pow, i32>(tp, gp, ap, bp, n, sa, sb); break;
        case MAX: binaryBackRow<Max, i32>(tp, gp, ap, bp, n, sa, sb); break;
        case MIN: binaryBackRow<Min, i32>(tp, gp, ap, bp, n, sa, sb); break;
        case FMOD: binaryBackRow<FMod, i32>(tp, gp, ap, bp, n, sa, sb); break;
        case PRELU: binaryBackRow<PRelu, i32>(tp, gp, ap, bp, n, sa, sb); break;
        case SELECTED: binaryBackRow<Selected, i32>(tp, gp, ap, bp, n, sa, sb); break;
        default: unreachable();
      }
    } else {
      const tp = at(dt, bo);
      switch (op) {
        case ADD: binaryBackRow<Add, u32>(tp, gp, ap, bp, n, sa, sb); break;
        case SUB: binaryBackRow<Sub, u32>(tp, gp, ap, bp, n, sa, sb); break;
        case MUL: binaryBackRow<Mul, u32>(tp, gp, ap, bp, n, sa, sb); break;
        case DIV: binaryBackRow<Div, u32>(tp, gp, ap, bp, n, sa, sb); break;
        case POW: binaryBackRow<Pow, u32>(tp, gp, ap, bp, n, sa, sb); break;
        case MAX: binaryBackRow<Max, u32>(tp, gp, ap, bp, n, sa, sb); break;
        case MIN: binaryBackRow<Min, u32>(tp, gp, ap, bp, n, sa, sb); break;
        case FMOD: binaryBackRow<FMod, u32>(tp, gp, ap, bp, n, sa, sb); break;
        case PRELU: binaryBackRow<PRelu, u32>(tp, gp, ap, bp, n, sa, sb); break;
        default: unreachable();
      }
    }
    rowsNext(desc, r);
  }
}

/** y = op(a, b) for the BinaryI32 op `op` (i32 inputs) over the N-d loop `desc` (operands y, a, b). */
export function binary_i32_forward(op: i32, y: usize, a: usize, b: usize, desc: usize): void {
  const r = ndRank(desc), n = ndDim(desc, r - 1);
  const sa = ndStride(desc, 1, r - 1), sb = ndStride(desc, 2, r - 1);
  const rows = rowsStart(desc, r);
  for (let k = 0; k < rows; k++) {
    const yp = at(y, rowOffset(desc, 0, r)), ap = at(a, rowOffset(desc, 1, r)), bp = at(b, rowOffset(desc, 2, r));
    binaryRowI32(op, yp, ap, bp, n, sa, sb);
    rowsNext(desc, r);
  }
}

/**
 * y = c != 0 ? a : b over the N-d loop `desc` (operands y, c, a, b); c is i32 (bool), a, b and
 * y any 4-byte elements (bits are copied).
 */
export function where_nd(y: usize, c: usize, a: usize, b: usize, desc: usize): void {
  const r = ndRank(desc), n = ndDim(desc, r - 1);
  const sc = ndStride(desc, 1, r - 1), sa = ndStride(desc, 2, r - 1), sb = ndStride(desc, 3, r - 1);
  const rows = rowsStart(desc, r);
  for (let k = 0; k < rows; k++) {
    const yp = at(y, rowOffset(desc, 0, r)), cp = at(c, rowOffset(desc, 1, r));
    const ap = at(a, rowOffset(desc, 2, r)), bp = at(b, rowOffset(desc, 3, r));
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      if (sc == 1 && (sa == 0 || sa == 1) && (sb == 0 || sb == 1)) {
        for (; i + 4 <= n; i += 4) {
          const o = <usize>i << 2;
          const keep = v128.not(i32x4.eq(v128.load(cp + o), i32x4.splat(0)));
          const va = sa == 0 ? v128.load32_splat(ap) : v128.load(ap + o);
          const vb = sb == 0 ? v128.load32_splat(bp) : v128.load(bp + o);
          v128.store(yp + o, v128.bitselect(va, vb, keep));
        }
      }
    }
    for (; i < n; i++) {
      const v = load<i32>(at(cp, <isize>i * sc)) != 0 ? load<i32>(at(ap, <isize>i * sa)) : load<i32>(at(bp, <isize>i * sb));
      store<i32>(yp + (<usize>i << 2), v);
    }
    rowsNext(desc, r);
  }
}
