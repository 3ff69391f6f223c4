// Unary element-wise kernels over flat arrays of n 4-byte elements (any layout: the output lies as
// the input does). One kernel per family takes the op as a code:
//   unary_f32_forward(op, y, x, n, p, q)     y[i] = f(x[i]; p, q)          (UnaryF32 codes below)
//   unary_f32_backward(op, dx, dy, x, n, p, q)
//                                            dx[i] += dy[i] f'(x[i]; p, q), from the forward INPUT x
//   unary_i32_forward(op, y, x, n, p, q)     integer and bool ops           (UnaryI32 codes)
//   cast_forward(mode, y, x, n)              element type conversions       (Cast codes)
// The codes are the contract with src/graph/kernel-codes.ts (tests run every code against its
// float64 reference). p and q are the op's parameters (alpha, beta, bounds); ops without ignore them.
// Forward outputs may alias their input; backward kernels ACCUMULATE. Predicates (IsNaN, IsInf,
// NonZero) write i32 0/1.
//
// Each op is a tag class with a 4-lane form `v` (SIMD main loops) and a scalar form `s` (the
// scalar build and every tail) of one algorithm. A kernel instantiates its row template per tag
// (generics over a null instance: no allocation, the op inlined in its loop; a runtime op code
// passed to one shared loop would be switched on per element once binaryen merges the copies).

import { fmath } from "./fmath";
import { vmath } from "./activation";
import { madd } from "./simd";

const INV_SQRT2: f32 = 0.7071067811865476;
const TWO_OVER_SQRT_PI: f32 = 1.1283791670955126;
const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const INV_SQRT_2PI: f32 = 0.3989422804014327;
const GELU_C: f32 = 0.044715;
/** Beyond this, mish(x) = x and softplus(x) = x in f32. */
const LINEAR_ABOVE: f32 = 20;

/** A predicate as f32-typed bits (i32 0 or 1): stored bit for bit. */
// @ts-ignore: decorator
@inline function bit(b: bool): f32 {
  return reinterpret<f32>(<i32>b);
}

// @ts-ignore: decorator
@inline function bit4(mask: v128): v128 {
  return v128.and(mask, i32x4.splat(1));
}

/**
 * The scalar forms of f32x4.pmin / pmax: b < a ? b : a and a < b ? b : a. With the value as a and
 * a bound as b, NaN passes through; clamps use them in both forms (one instruction each on x86,
 * where the NaN-propagating min / max take several), so both forms agree on every input.
 */
// @ts-ignore: decorator
@inline function pmin(a: f32, b: f32): f32 {
  return b < a ? b : a;
}

// @ts-ignore: decorator
@inline function pmax(a: f32, b: f32): f32 {
  return a < b ? b : a;
}

// ---------------------------------------------------------------------------------------------
// templates

function unaryRow<OP>(y: usize, x: usize, n: i32, p: f32, q: f32): void {
  const op = changetype<OP>(0);
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vp = f32x4.splat(p), vq = f32x4.splat(q);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      // @ts-ignore: generic tag
      v128.store(y + o, op.v(v128.load(x + o), vp, vq));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    // @ts-ignore: generic tag
    store<f32>(y + o, op.s(load<f32>(x + o), p, q));
  }
}

/** unaryRow's scalar loop alone, in every build (ops whose 4-lane form would not fit the size budget). */
function unaryRowScalar<OP>(y: usize, x: usize, n: i32, p: f32, q: f32): void {
  const op = changetype<OP>(0);
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    // @ts-ignore: generic tag
    store<f32>(y + o, op.s(load<f32>(x + o), p, q));
  }
}

function unaryBackRow<OP>(dx: usize, dy: usize, x: usize, n: i32, p: f32, q: f32): void {
  const op = changetype<OP>(0);
  let i = 0;
  // @ts-ignore: generic tag
  if (ASC_FEATURE_SIMD && op.simdGrad) {
    const vp = f32x4.splat(p), vq = f32x4.splat(q);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      // @ts-ignore: generic tag
      v128.store(dx + o, madd(v128.load(dy + o), op.g(v128.load(x + o), vp, vq), v128.load(dx + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    // @ts-ignore: generic tag
    store<f32>(dx + o, load<f32>(dx + o) + load<f32>(dy + o) * op.gs(load<f32>(x + o), p, q));
  }
}

function unaryRowI32<OP>(y: usize, x: usize, n: i32, p: i32, q: i32): void {
  const op = changetype<OP>(0);
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    // @ts-ignore: generic tag
    store<i32>(y + o, op.s(load<i32>(x + o), p, q));
  }
}

// ---------------------------------------------------------------------------------------------
// f32 ops: v / s forward, g / gs the derivative (the template multiplies by dy). `simdGrad`: whether
// the backward gets a 4-lane loop (the activations of trained CNNs; the rest run their scalar form,
// as code size is budgeted).

@final class Abs {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.abs(x); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return abs(x); }
  // sign(x), 0 at 0
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 {
    const one = f32x4.splat(1);
    return v128.or(v128.and(f32x4.ne(x, f32x4.splat(0)), one), v128.and(x, i32x4.splat(0x80000000)));
  }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return x > 0 ? 1 : x < 0 ? -1 : 0; }
}

@final class Neg {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.neg(x); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return -x; }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.splat(-1); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return -1; }
}

@final class Sqrt {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.sqrt(x); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return sqrt<f32>(x); }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.div(f32x4.splat(0.5), f32x4.sqrt(x)); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return <f32>0.5 / sqrt<f32>(x); }
}

@final class Exp {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return fmath.exp4(x); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return fmath.expf(x); }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return fmath.exp4(x); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return fmath.expf(x); }
}

@final class Log {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return fmath.log4(x); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return fmath.logf(x); }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.div(f32x4.splat(1), x); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return <f32>1 / x; }
}

@final class Reciprocal {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.div(f32x4.splat(1), x); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return <f32>1 / x; }
  // -1 / x^2
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.div(f32x4.splat(-1), f32x4.mul(x, x)); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return <f32>-1 / (x * x); }
}

@final class Erf {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return fmath.erf4(x); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return fmath.erff(x); }
  // 2 / sqrt(pi) e^(-x^2)
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.mul(f32x4.splat(TWO_OVER_SQRT_PI), fmath.exp4(f32x4.neg(f32x4.mul(x, x)))); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return TWO_OVER_SQRT_PI * fmath.expf(-(x * x)); }
}

@final class Sign {
  // 1, -1 or 0 (NaN stays NaN)
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 {
    const mag = v128.and(f32x4.ne(x, f32x4.splat(0)), f32x4.splat(1));
    return v128.bitselect(x, v128.or(mag, v128.and(x, i32x4.splat(0x80000000))), f32x4.ne(x, x));
  }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return x > 0 ? 1 : x < 0 ? -1 : x == 0 ? copysign<f32>(0, x) : x; }
}

@final class Floor {
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.floor(x); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return floor<f32>(x); }
}

@final class Ceil {
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.ceil(x); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return ceil<f32>(x); }
}

/** Round half to even (ONNX Round). */
@final class Round {
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.nearest(x); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return nearest<f32>(x); }
}

@final class Sin {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return fmath.sincos4(x, false); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return fmath.sincosf(x, false); }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return fmath.sincos4(x, true); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return fmath.sincosf(x, true); }
}

@final class Cos {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return fmath.sincos4(x, true); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return fmath.sincosf(x, true); }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.neg(fmath.sincos4(x, false)); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return -fmath.sincosf(x, false); }
}

/** min(max(x, p), q); the gradient passes where p <= x <= q. NaN stays NaN. */
@final class Clip {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.pmin(f32x4.pmax(x, p), q); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return pmin(pmax(x, p), q); }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return v128.and(v128.and(f32x4.ge(x, p), f32x4.le(x, q)), f32x4.splat(1)); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return x >= p && x <= q ? 1 : 0; }
}

/** max(0, min(1, p x + q)) (p = alpha, q = beta). */
@final class HardSigmoid {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.pmax(f32x4.pmin(madd(p, x, q), f32x4.splat(1)), f32x4.splat(0)); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return pmax(pmin(p * x + q, 1), 0); }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 {
    const t = madd(p, x, q);
    return v128.and(v128.and(f32x4.gt(t, f32x4.splat(0)), f32x4.lt(t, f32x4.splat(1))), p);
  }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 {
    const t = p * x + q;
    return t > 0 && t < 1 ? p : 0;
  }
}

/** x max(0, min(1, x / 6 + 1/2)). */
@final class HardSwish {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 {
    const t = f32x4.pmax(f32x4.pmin(madd(x, f32x4.splat(<f32>1 / 6), f32x4.splat(0.5)), f32x4.splat(1)), f32x4.splat(0));
    return f32x4.mul(x, t);
  }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return x * pmax(pmin(x * (<f32>1 / 6) + 0.5, 1), 0); }
  // 0 below -3, 1 above 3, x / 3 + 1/2 between
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 {
    const mid = madd(x, f32x4.splat(<f32>1 / 3), f32x4.splat(0.5));
    const r = v128.bitselect(f32x4.splat(1), mid, f32x4.gt(x, f32x4.splat(3)));
    return v128.and(r, f32x4.ge(x, f32x4.splat(-3)));
  }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return x < -3 ? 0 : x > 3 ? 1 : x * (<f32>1 / 3) + 0.5; }
}

/** x > 0 ? x : p (e^x - 1) (p = alpha). */
@final class Elu {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return v128.bitselect(x, f32x4.mul(p, fmath.expm14(x)), f32x4.gt(x, f32x4.splat(0))); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return x > 0 ? x : p * fmath.expm1f(x); }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return v128.bitselect(f32x4.splat(1), f32x4.mul(p, fmath.exp4(x)), f32x4.gt(x, f32x4.splat(0))); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return x > 0 ? 1 : p * fmath.expf(x); }
}

/** q (x > 0 ? x : p (e^x - 1)) (p = alpha, q = gamma). */
@final class Selu {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.mul(q, v128.bitselect(x, f32x4.mul(p, fmath.expm14(x)), f32x4.gt(x, f32x4.splat(0)))); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return q * (x > 0 ? x : p * fmath.expm1f(x)); }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.mul(q, v128.bitselect(f32x4.splat(1), f32x4.mul(p, fmath.exp4(x)), f32x4.gt(x, f32x4.splat(0)))); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return q * (x > 0 ? 1 : p * fmath.expf(x)); }
}

/** max(0, x) + min(0, p (e^(x / p) - 1)) (p = alpha). */
@final class Celu {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 {
    const zero = f32x4.splat(0);
    return f32x4.add(f32x4.pmax(x, zero), f32x4.pmin(f32x4.mul(p, fmath.expm14(f32x4.div(x, p))), zero));
  }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return pmax(x, 0) + pmin(p * fmath.expm1f(x / p), 0); }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return v128.bitselect(f32x4.splat(1), fmath.exp4(f32x4.div(x, p)), f32x4.gt(x, f32x4.splat(0))); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return x > 0 ? 1 : fmath.expf(x / p); }
}

/** x Phi(x) = x (1 + erf(x / sqrt 2)) / 2 (Gelu, approximate "none"). */
@final class Gelu {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 {
    const h = f32x4.mul(x, f32x4.splat(0.5));
    return madd(h, fmath.erf4(f32x4.mul(x, f32x4.splat(INV_SQRT2))), h);
  }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 {
    const h = x * 0.5;
    return h * fmath.erff(x * INV_SQRT2) + h;
  }
  // Phi(x) + x phi(x)
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 {
    const cdf = madd(f32x4.splat(0.5), fmath.erf4(f32x4.mul(x, f32x4.splat(INV_SQRT2))), f32x4.splat(0.5));
    const pdf = f32x4.mul(f32x4.splat(INV_SQRT_2PI), fmath.exp4(f32x4.mul(f32x4.splat(-0.5), f32x4.mul(x, x))));
    return madd(x, pdf, cdf);
  }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 {
    const cdf = <f32>0.5 * fmath.erff(x * INV_SQRT2) + 0.5;
    return cdf + x * (INV_SQRT_2PI * fmath.expf(<f32>-0.5 * (x * x)));
  }
}

/** x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 (Gelu, approximate "tanh"). */
@final class GeluTanh {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 {
    const x2 = f32x4.mul(x, x);
    const u = f32x4.mul(f32x4.mul(x, f32x4.splat(SQRT_2_OVER_PI)), madd(x2, f32x4.splat(GELU_C), f32x4.splat(1)));
    const h = f32x4.mul(x, f32x4.splat(0.5));
    return madd(h, vmath.tanh4(u), h);
  }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 {
    const u = x * SQRT_2_OVER_PI * (x * x * GELU_C + 1);
    const h = x * 0.5;
    return h * vmath.tanhf(u) + h;
  }
  // (1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 c x^2) / 2, t = tanh(u)
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 {
    const x2 = f32x4.mul(x, x);
    const u = f32x4.mul(f32x4.mul(x, f32x4.splat(SQRT_2_OVER_PI)), madd(x2, f32x4.splat(GELU_C), f32x4.splat(1)));
    const t = vmath.tanh4(u);
    const half = f32x4.splat(0.5);
    const du = f32x4.mul(f32x4.splat(SQRT_2_OVER_PI), madd(x2, f32x4.splat(3 * GELU_C), f32x4.splat(1)));
    const sech2 = f32x4.sub(f32x4.splat(1), f32x4.mul(t, t));
    return madd(f32x4.mul(f32x4.mul(x, half), sech2), du, madd(half, t, half));
  }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 {
    const x2 = x * x;
    const t = vmath.tanhf(x * SQRT_2_OVER_PI * (x2 * GELU_C + 1));
    const du = SQRT_2_OVER_PI * (x2 * (3 * GELU_C) + 1);
    return x * <f32>0.5 * (1 - t * t) * du + (<f32>0.5 * t + 0.5);
  }
}

/** x tanh(softplus(x)) = x n / (n + 2), n = e (e + 2), e = e^x; x itself above LINEAR_ABOVE. */
@final class Mish {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 {
    const e = fmath.exp4(f32x4.pmin(x, f32x4.splat(LINEAR_ABOVE)));
    const n = f32x4.mul(e, f32x4.add(e, f32x4.splat(2)));
    const y = f32x4.mul(x, f32x4.div(n, f32x4.add(n, f32x4.splat(2))));
    return v128.bitselect(x, y, f32x4.gt(x, f32x4.splat(LINEAR_ABOVE)));
  }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 {
    const e = fmath.expf(min(x, LINEAR_ABOVE));
    const n = e * (e + 2);
    return x > LINEAR_ABOVE ? x : x * (n / (n + 2));
  }
  // t + x (1 - t^2) sigmoid(x), t = tanh(softplus(x)) = n / (n + 2)
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 {
    const e = fmath.exp4(f32x4.pmin(x, f32x4.splat(LINEAR_ABOVE)));
    const n = f32x4.mul(e, f32x4.add(e, f32x4.splat(2)));
    const t = f32x4.div(n, f32x4.add(n, f32x4.splat(2)));
    const sig = f32x4.div(e, f32x4.add(e, f32x4.splat(1)));
    const r = madd(f32x4.mul(x, f32x4.sub(f32x4.splat(1), f32x4.mul(t, t))), sig, t);
    return v128.bitselect(f32x4.splat(1), r, f32x4.gt(x, f32x4.splat(LINEAR_ABOVE)));
  }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 {
    const e = fmath.expf(min(x, LINEAR_ABOVE));
    const n = e * (e + 2);
    const t = n / (n + 2);
    return x > LINEAR_ABOVE ? 1 : t + x * (1 - t * t) * (e / (e + 1));
  }
}

/** log(1 + e^x) = max(x, 0) + log1p(e^-|x|). */
@final class Softplus {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.add(f32x4.pmax(x, f32x4.splat(0)), fmath.log1p4(fmath.exp4(f32x4.neg(f32x4.abs(x))))); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return max<f32>(x, 0) + fmath.log1pf(fmath.expf(-abs(x))); }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return vmath.sigmoid4(x); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return vmath.sigmoidf(x); }
}

/** x / (1 + |x|). */
@final class Softsign {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.div(x, f32x4.add(f32x4.splat(1), f32x4.abs(x))); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return x / (<f32>1 + abs(x)); }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 {
    const d = f32x4.add(f32x4.splat(1), f32x4.abs(x));
    return f32x4.div(f32x4.splat(1), f32x4.mul(d, d));
  }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 {
    const d: f32 = 1 + abs(x);
    return <f32>1 / (d * d);
  }
}

/** x > p ? x : 0 (p = alpha). */
@final class ThresholdedRelu {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return v128.and(x, f32x4.gt(x, p)); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return x > p ? x : 0; }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return v128.and(f32x4.splat(1), f32x4.gt(x, p)); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return x > p ? 1 : 0; }
}

/** p x + q (Mean's 1/n, scales). */
@final class Affine {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return madd(p, x, q); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return p * x + q; }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return p; }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return p; }
}

/** x^2 (Pow with a constant exponent 2). */
@final class Square {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return true; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.mul(x, x); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return x * x; }
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.add(x, x); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return x + x; }
}

/** x^p for a constant exponent p (Pow's other constant exponents). */
@final class PowConst {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return fmath.pow4(x, p); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return fmath.powf(x, p); }
  // p x^(p - 1)
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.mul(p, fmath.pow4(x, f32x4.sub(p, f32x4.splat(1)))); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return p * fmath.powf(x, p - 1); }
}

/** i32 0/1: x is NaN. */
@final class IsNaN {
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return bit4(f32x4.ne(x, x)); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return bit(x != x); }
}

/** i32 0/1: x is +inf (when p != 0) or -inf (when q != 0). */
@final class IsInf {
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 {
    const pos = v128.and(f32x4.eq(x, f32x4.splat(Infinity)), f32x4.ne(p, f32x4.splat(0)));
    const neg = v128.and(f32x4.eq(x, f32x4.splat(-Infinity)), f32x4.ne(q, f32x4.splat(0)));
    return bit4(v128.or(pos, neg));
  }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return bit((x == Infinity && p != 0) || (x == -Infinity && q != 0)); }
}

// ---------------------------------------------------------------------------------------------
// trigonometric and hyperbolic functions beyond sin and cos (Cephes' single-precision forms, as
// XNNPACK's and Eigen's): the inverse functions from one polynomial on a reduced range, the
// hyperbolic ones from exp, expm1 and log1p so that they keep their relative precision near 0.

const HALF_PI: f32 = 1.5707963267948966;
const QUARTER_PI: f32 = 0.7853981633974483;
const PI_F: f32 = 3.141592653589793;
const LN2_F: f32 = 0.6931471805599453;
/** Beyond this |x|, x^2 + 1 is x^2 in f32 (asinh / acosh take log(2|x|)). */
const HUGE_ARG: f32 = 1e18;

/** asin on [0, 1]: the polynomial for a <= 0.5, else pi/2 - 2 asin(sqrt((1 - a) / 2)). NaN above 1. */
function asinPos(a: f32): f32 {
  const big = a > 0.5;
  const z = big ? <f32>0.5 * (<f32>1 - a) : a * a;
  const t = big ? sqrt<f32>(z) : a;
  let p: f32 = 4.2163199048e-2;
  p = p * z + 2.4181311049e-2;
  p = p * z + 4.5470025998e-2;
  p = p * z + 7.4953002686e-2;
  p = p * z + 1.6666752422e-1;
  const r = p * z * t + t;
  return big ? HALF_PI - (r + r) : r;
}

function asinPos4(a: v128): v128 {
  const big = f32x4.gt(a, f32x4.splat(0.5));
  const z = v128.bitselect(f32x4.mul(f32x4.splat(0.5), f32x4.sub(f32x4.splat(1), a)), f32x4.mul(a, a), big);
  const t = v128.bitselect(f32x4.sqrt(z), a, big);
  let p = f32x4.splat(4.2163199048e-2);
  p = madd(p, z, f32x4.splat(2.4181311049e-2));
  p = madd(p, z, f32x4.splat(4.5470025998e-2));
  p = madd(p, z, f32x4.splat(7.4953002686e-2));
  p = madd(p, z, f32x4.splat(1.6666752422e-1));
  const r = madd(f32x4.mul(p, z), t, t);
  return v128.bitselect(f32x4.sub(f32x4.splat(HALF_PI), f32x4.add(r, r)), r, big);
}

/** atan on [0, inf): reduced to [0, tan(pi/8)] by pi/2 - atan(1/a) or pi/4 + atan((a-1)/(a+1)). */
function atanPos(a: f32): f32 {
  let base: f32 = 0,
    x = a;
  if (a > 2.414213562373095) {
    base = HALF_PI;
    x = <f32>-1 / a;
  } else if (a > 0.4142135623730950) {
    base = QUARTER_PI;
    x = (a - 1) / (a + 1);
  }
  const z = x * x;
  let p: f32 = 8.05374449538e-2;
  p = p * z - 1.38776856032e-1;
  p = p * z + 1.99777106478e-1;
  p = p * z - 3.33329491539e-1;
  return base + (p * z * x + x);
}

function atanPos4(a: v128): v128 {
  const far = f32x4.gt(a, f32x4.splat(2.414213562373095)),
    mid = v128.andnot(f32x4.gt(a, f32x4.splat(0.4142135623730950)), far);
  const one = f32x4.splat(1);
  let x = v128.bitselect(f32x4.div(f32x4.splat(-1), a), a, far);
  x = v128.bitselect(f32x4.div(f32x4.sub(a, one), f32x4.add(a, one)), x, mid);
  const base = v128.or(v128.and(far, f32x4.splat(HALF_PI)), v128.and(mid, f32x4.splat(QUARTER_PI)));
  const z = f32x4.mul(x, x);
  let p = f32x4.splat(8.05374449538e-2);
  p = madd(p, z, f32x4.splat(-1.38776856032e-1));
  p = madd(p, z, f32x4.splat(1.99777106478e-1));
  p = madd(p, z, f32x4.splat(-3.33329491539e-1));
  return f32x4.add(base, madd(f32x4.mul(p, z), x, x));
}

// @ts-ignore: decorator
@inline function signOf4(x: v128): v128 {
  return v128.and(x, i32x4.splat(0x80000000));
}

@final class Tan {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.div(fmath.sincos4(x, false), fmath.sincos4(x, true)); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return fmath.sincosf(x, false) / fmath.sincosf(x, true); }
  // 1 / cos^2
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { const c = fmath.sincos4(x, true); return f32x4.div(f32x4.splat(1), f32x4.mul(c, c)); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { const c = fmath.sincosf(x, true); return <f32>1 / (c * c); }
}

@final class Asin {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return v128.or(asinPos4(f32x4.abs(x)), signOf4(x)); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return copysign<f32>(asinPos(abs(x)), x); }
  // 1 / sqrt(1 - x^2)
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.div(f32x4.splat(1), f32x4.sqrt(f32x4.sub(f32x4.splat(1), f32x4.mul(x, x)))); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return <f32>1 / sqrt<f32>(<f32>1 - x * x); }
}

/** acos(x) = pi/2 - asin(x), written so that it stays precise near 1 and -1. */
@final class Acos {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 {
    const a = f32x4.abs(x);
    const big = f32x4.gt(a, f32x4.splat(0.5));
    // |x| > 0.5: 2 asin(sqrt((1 - |x|) / 2)), mirrored to pi - that for x < 0
    const r = f32x4.mul(f32x4.splat(2), asinPos4(f32x4.sqrt(f32x4.mul(f32x4.splat(0.5), f32x4.sub(f32x4.splat(1), a)))));
    const far = v128.bitselect(f32x4.sub(f32x4.splat(PI_F), r), r, f32x4.lt(x, f32x4.splat(0)));
    const near = f32x4.sub(f32x4.splat(HALF_PI), v128.or(asinPos4(a), signOf4(x)));
    return v128.bitselect(far, near, big);
  }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 {
    const a = abs(x);
    if (a > 0.5) {
      const r = <f32>2 * asinPos(sqrt<f32>(<f32>0.5 * (<f32>1 - a)));
      return x < 0 ? PI_F - r : r;
    }
    return HALF_PI - copysign<f32>(asinPos(a), x);
  }
  // -1 / sqrt(1 - x^2)
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.div(f32x4.splat(-1), f32x4.sqrt(f32x4.sub(f32x4.splat(1), f32x4.mul(x, x)))); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return <f32>-1 / sqrt<f32>(<f32>1 - x * x); }
}

@final class Atan {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return v128.or(atanPos4(f32x4.abs(x)), signOf4(x)); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return copysign<f32>(atanPos(abs(x)), x); }
  // 1 / (1 + x^2)
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.div(f32x4.splat(1), madd(x, x, f32x4.splat(1))); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return <f32>1 / (x * x + 1); }
}

/** (expm1(x) - expm1(-x)) / 2: no cancellation near 0. */
@final class Sinh {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.mul(f32x4.splat(0.5), f32x4.sub(fmath.expm14(x), fmath.expm14(f32x4.neg(x)))); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return <f32>0.5 * (fmath.expm1f(x) - fmath.expm1f(-x)); }
  // cosh
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.mul(f32x4.splat(0.5), f32x4.add(fmath.exp4(x), fmath.exp4(f32x4.neg(x)))); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return <f32>0.5 * (fmath.expf(x) + fmath.expf(-x)); }
}

@final class Cosh {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.mul(f32x4.splat(0.5), f32x4.add(fmath.exp4(x), fmath.exp4(f32x4.neg(x)))); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return <f32>0.5 * (fmath.expf(x) + fmath.expf(-x)); }
  // sinh
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.mul(f32x4.splat(0.5), f32x4.sub(fmath.expm14(x), fmath.expm14(f32x4.neg(x)))); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return <f32>0.5 * (fmath.expm1f(x) - fmath.expm1f(-x)); }
}

/** sign(x) log1p(|x| + x^2 / (1 + sqrt(1 + x^2))); log(2|x|) beyond HUGE_ARG. */
@final class Asinh {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 {
    const a = f32x4.abs(x),
      one = f32x4.splat(1);
    const a2 = f32x4.mul(a, a);
    const small = fmath.log1p4(f32x4.add(a, f32x4.div(a2, f32x4.add(one, f32x4.sqrt(f32x4.add(one, a2))))));
    const huge = f32x4.add(fmath.log4(a), f32x4.splat(LN2_F));
    return v128.or(v128.bitselect(huge, small, f32x4.gt(a, f32x4.splat(HUGE_ARG))), signOf4(x));
  }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 {
    const a = abs(x);
    const r = a > HUGE_ARG ? fmath.logf(a) + LN2_F : fmath.log1pf(a + (a * a) / (<f32>1 + sqrt<f32>(<f32>1 + a * a)));
    return copysign<f32>(r, x);
  }
  // 1 / sqrt(x^2 + 1)
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.div(f32x4.splat(1), f32x4.sqrt(madd(x, x, f32x4.splat(1)))); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return <f32>1 / sqrt<f32>(x * x + 1); }
}

/** log1p(t + sqrt(t (t + 2))) with t = x - 1 (precise near 1); log(2x) beyond HUGE_ARG; NaN below 1. */
@final class Acosh {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 {
    const t = f32x4.sub(x, f32x4.splat(1));
    const near = fmath.log1p4(f32x4.add(t, f32x4.sqrt(f32x4.mul(t, f32x4.add(t, f32x4.splat(2))))));
    const huge = f32x4.add(fmath.log4(x), f32x4.splat(LN2_F));
    return v128.bitselect(huge, near, f32x4.gt(x, f32x4.splat(HUGE_ARG)));
  }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 {
    if (x > HUGE_ARG) return fmath.logf(x) + LN2_F;
    const t = x - 1;
    return fmath.log1pf(t + sqrt<f32>(t * (t + 2)));
  }
  // 1 / sqrt(x^2 - 1)
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.div(f32x4.splat(1), f32x4.sqrt(f32x4.sub(f32x4.mul(x, x), f32x4.splat(1)))); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return <f32>1 / sqrt<f32>(x * x - 1); }
}

/** (log1p(x) - log1p(-x)) / 2: precise near 0; +-inf at +-1, NaN beyond. */
@final class Atanh {
  // @ts-ignore: decorator
  @inline get simdGrad(): bool { return false; }
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.mul(f32x4.splat(0.5), f32x4.sub(fmath.log1p4(x), fmath.log1p4(f32x4.neg(x)))); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return <f32>0.5 * (fmath.log1pf(x) - fmath.log1pf(-x)); }
  // 1 / (1 - x^2)
  // @ts-ignore: decorator
  @inline g(x: v128, p: v128, q: v128): v128 { return f32x4.div(f32x4.splat(1), f32x4.sub(f32x4.splat(1), f32x4.mul(x, x))); }
  // @ts-ignore: decorator
  @inline gs(x: f32, p: f32, q: f32): f32 { return <f32>1 / (<f32>1 - x * x); }
}

// ---------------------------------------------------------------------------------------------
// casts (bits in, bits out)

/** f32 -> i32, truncating toward 0, saturating at the i32 range; NaN -> 0. */
@final class F32ToI32 {
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return i32x4.trunc_sat_f32x4_s(x); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return reinterpret<f32>(<i32>x); }
}

/** i32 -> f32 (rounded to nearest). */
@final class I32ToF32 {
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return f32x4.convert_i32x4_s(x); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return <f32>reinterpret<i32>(x); }
}

/** f32 -> i32 0/1: x != 0 (NaN is true). */
@final class F32NonZero {
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return bit4(f32x4.ne(x, f32x4.splat(0))); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return bit(x != 0); }
}

/** i32 -> i32 0/1: x != 0. */
@final class I32NonZero {
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 { return bit4(v128.not(i32x4.eq(x, i32x4.splat(0)))); }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 { return bit(reinterpret<i32>(x) != 0); }
}

/**
 * f32 rounded to the nearest IEEE half (ties to even), kept as f32: overflow beyond 65504 rounds
 * to inf, values below 2^-14 to multiples of 2^-24 (half subnormals); NaN and inf stay.
 */
@final class RoundHalf {
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 {
    const sign = v128.and(x, i32x4.splat(0x80000000));
    const a = v128.and(x, i32x4.splat(0x7fffffff));
    // normal halves: round the mantissa to 10 bits (bit 13), ties to even
    const odd = v128.and(i32x4.shr_u(a, 13), i32x4.splat(1));
    const normal = v128.and(i32x4.add(i32x4.add(a, i32x4.splat(0xfff)), odd), i32x4.splat(~0x1fff));
    // subnormal halves: |x| + 1/2 rounds |x| to a multiple of 2^-24 in f32 arithmetic
    const sub = f32x4.sub(f32x4.add(a, f32x4.splat(0.5)), f32x4.splat(0.5));
    let r = v128.bitselect(sub, normal, i32x4.lt_s(a, i32x4.splat(0x38800000)));
    r = v128.bitselect(i32x4.splat(0x7f800000), r, i32x4.ge_s(a, i32x4.splat(0x477ff000)));
    r = v128.bitselect(a, r, i32x4.ge_s(a, i32x4.splat(0x7f800000)));
    return v128.or(r, sign);
  }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 {
    const bits = reinterpret<i32>(x);
    const sign = bits & 0x80000000;
    const a = bits & 0x7fffffff;
    let r: i32;
    if (a >= 0x7f800000) r = a;
    else if (a >= 0x477ff000) r = 0x7f800000;
    else if (a < 0x38800000) r = reinterpret<i32>(reinterpret<f32>(a) + <f32>0.5 - <f32>0.5);
    else r = (a + 0xfff + ((a >> 13) & 1)) & ~0x1fff;
    return reinterpret<f32>(r | sign);
  }
}

/** f32 rounded to the nearest bfloat16 (ties to even), kept as f32; NaN stays NaN. */
@final class RoundBfloat16 {
  // @ts-ignore: decorator
  @inline v(x: v128, p: v128, q: v128): v128 {
    const odd = v128.and(i32x4.shr_u(x, 16), i32x4.splat(1));
    const r = v128.and(i32x4.add(i32x4.add(x, i32x4.splat(0x7fff)), odd), i32x4.splat(0xffff0000));
    return v128.bitselect(x, r, f32x4.ne(x, x));
  }
  // @ts-ignore: decorator
  @inline s(x: f32, p: f32, q: f32): f32 {
    const b = reinterpret<i32>(x);
    return x != x ? x : reinterpret<f32>((b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000);
  }
}

// ---------------------------------------------------------------------------------------------
// i32 ops (scalar: shape arithmetic and masks, small)

@final class AbsI { @inline s(x: i32, p: i32, q: i32): i32 { return x < 0 ? -x : x; } }
@final class NegI { @inline s(x: i32, p: i32, q: i32): i32 { return -x; } }
@final class SignI { @inline s(x: i32, p: i32, q: i32): i32 { return <i32>(x > 0) - <i32>(x < 0); } }
/** bool not: 1 for 0, else 0. */
@final class NotI { @inline s(x: i32, p: i32, q: i32): i32 { return <i32>(x == 0); } }
@final class BitNotI { @inline s(x: i32, p: i32, q: i32): i32 { return ~x; } }
@final class ClipI { @inline s(x: i32, p: i32, q: i32): i32 { return min(max(x, p), q); } }
/** Wraps to p bits, sign-extending when q != 0 (casts to INT8, UINT8, INT16, UINT16). */
@final class WrapI {
  @inline s(x: i32, p: i32, q: i32): i32 {
    const sh = 32 - p;
    return q != 0 ? (x << sh) >> sh : <i32>(<u32>(x << sh) >>> sh);
  }
}

// ---------------------------------------------------------------------------------------------
// kernels

// UnaryF32 codes (src/graph/kernel-codes.ts mirrors them)
const ABS = 0, NEG = 1, SQRT = 2, EXP = 3, LOG = 4, RECIPROCAL = 5, ERF = 6, SIGN = 7, FLOOR = 8, CEIL = 9,
  ROUND = 10, SIN = 11, COS = 12, CLIP = 13, HARD_SIGMOID = 14, HARD_SWISH = 15, ELU = 16, SELU = 17,
  CELU = 18, GELU = 19, GELU_TANH = 20, MISH = 21, SOFTPLUS = 22, SOFTSIGN = 23, THRESHOLDED_RELU = 24,
  AFFINE = 25, SQUARE = 26, POW_CONST = 27, IS_NAN = 28, IS_INF = 29, TAN = 30, ASIN = 31, ACOS = 32,
  ATAN = 33, SINH = 34, COSH = 35, ASINH = 36, ACOSH = 37, ATANH = 38;

/** y[i] = f(x[i]; p, q) for the UnaryF32 op `op`; y may alias x. */
export function unary_f32_forward(op: i32, y: usize, x: usize, n: i32, p: f32, q: f32): void {
  switch (op) {
    case ABS: unaryRow<Abs>(y, x, n, p, q); break;
    case NEG: unaryRow<Neg>(y, x, n, p, q); break;
    case SQRT: unaryRow<Sqrt>(y, x, n, p, q); break;
    case EXP: unaryRow<Exp>(y, x, n, p, q); break;
    case LOG: unaryRow<Log>(y, x, n, p, q); break;
    case RECIPROCAL: unaryRow<Reciprocal>(y, x, n, p, q); break;
    case ERF: unaryRow<Erf>(y, x, n, p, q); break;
    case SIGN: unaryRow<Sign>(y, x, n, p, q); break;
    case FLOOR: unaryRow<Floor>(y, x, n, p, q); break;
    case CEIL: unaryRow<Ceil>(y, x, n, p, q); break;
    case ROUND: unaryRow<Round>(y, x, n, p, q); break;
    case SIN: unaryRow<Sin>(y, x, n, p, q); break;
    case COS: unaryRow<Cos>(y, x, n, p, q); break;
    case CLIP: unaryRow<Clip>(y, x, n, p, q); break;
    case HARD_SIGMOID: unaryRow<HardSigmoid>(y, x, n, p, q); break;
    case HARD_SWISH: unaryRow<HardSwish>(y, x, n, p, q); break;
    case ELU: unaryRow<Elu>(y, x, n, p, q); break;
    case SELU: unaryRow<Selu>(y, x, n, p, q); break;
    case CELU: unaryRow<Celu>(y, x, n, p, q); break;
    case GELU: unaryRow<Gelu>(y, x, n, p, q); break;
    case GELU_TANH: unaryRow<GeluTanh>(y, x, n, p, q); break;
    case MISH: unaryRow<Mish>(y, x, n, p, q); break;
    case SOFTPLUS: unaryRow<Softplus>(y, x, n, p, q); break;
    case SOFTSIGN: unaryRow<Softsign>(y, x, n, p, q); break;
    case THRESHOLDED_RELU: unaryRow<ThresholdedRelu>(y, x, n, p, q); break;
    case AFFINE: unaryRow<Affine>(y, x, n, p, q); break;
    case SQUARE: unaryRow<Square>(y, x, n, p, q); break;
    case POW_CONST: unaryRow<PowConst>(y, x, n, p, q); break;
    case IS_NAN: unaryRow<IsNaN>(y, x, n, p, q); break;
    case IS_INF: unaryRow<IsInf>(y, x, n, p, q); break;
    case TAN: unaryRowScalar<Tan>(y, x, n, p, q); break;
    case ASIN: unaryRowScalar<Asin>(y, x, n, p, q); break;
    case ACOS: unaryRowScalar<Acos>(y, x, n, p, q); break;
    case ATAN: unaryRowScalar<Atan>(y, x, n, p, q); break;
    case SINH: unaryRowScalar<Sinh>(y, x, n, p, q); break;
    case COSH: unaryRowScalar<Cosh>(y, x, n, p, q); break;
    case ASINH: unaryRowScalar<Asinh>(y, x, n, p, q); break;
    case ACOSH: unaryRowScalar<Acosh>(y, x, n, p, q); break;
    case ATANH: unaryRowScalar<Atanh>(y, x, n, p, q); break;
    default: unreachable();
  }
}

/**
 * dx[i] += dy[i] f'(x[i]; p, q) for the UnaryF32 op `op`, from the forward input x. Codes of
 * piecewise-constant ops (Sign, Floor, Ceil, Round) and predicates have no gradient here: their
 * derivative is 0 wherever it exists (the host skips them).
 */
export function unary_f32_backward(op: i32, dx: usize, dy: usize, x: usize, n: i32, p: f32, q: f32): void {
  switch (op) {
    case ABS: unaryBackRow<Abs>(dx, dy, x, n, p, q); break;
    case NEG: unaryBackRow<Neg>(dx, dy, x, n, p, q); break;
    case SQRT: unaryBackRow<Sqrt>(dx, dy, x, n, p, q); break;
    case EXP: unaryBackRow<Exp>(dx, dy, x, n, p, q); break;
    case LOG: unaryBackRow<Log>(dx, dy, x, n, p, q); break;
    case RECIPROCAL: unaryBackRow<Reciprocal>(dx, dy, x, n, p, q); break;
    case ERF: unaryBackRow<Erf>(dx, dy, x, n, p, q); break;
    case SIN: unaryBackRow<Sin>(dx, dy, x, n, p, q); break;
    case COS: unaryBackRow<Cos>(dx, dy, x, n, p, q); break;
    case CLIP: unaryBackRow<Clip>(dx, dy, x, n, p, q); break;
    case HARD_SIGMOID: unaryBackRow<HardSigmoid>(dx, dy, x, n, p, q); break;
    case HARD_SWISH: unaryBackRow<HardSwish>(dx, dy, x, n, p, q); break;
    case ELU: unaryBackRow<Elu>(dx, dy, x, n, p, q); break;
    case SELU: unaryBackRow<Selu>(dx, dy, x, n, p, q); break;
    case CELU: unaryBackRow<Celu>(dx, dy, x, n, p, q); break;
    case GELU: unaryBackRow<Gelu>(dx, dy, x, n, p, q); break;
    case GELU_TANH: unaryBackRow<GeluTanh>(dx, dy, x, n, p, q); break;
    case MISH: unaryBackRow<Mish>(dx, dy, x, n, p, q); break;
    case SOFTPLUS: unaryBackRow<Softplus>(dx, dy, x, n, p, q); break;
    case SOFTSIGN: unaryBackRow<Softsign>(dx, dy, x, n, p, q); break;
    case THRESHOLDED_RELU: unaryBackRow<ThresholdedRelu>(dx, dy, x, n, p, q); break;
    case AFFINE: unaryBackRow<Affine>(dx, dy, x, n, p, q); break;
    case SQUARE: unaryBackRow<Square>(dx, dy, x, n, p, q); break;
    case POW_CONST: unaryBackRow<PowConst>(dx, dy, x, n, p, q); break;
    case TAN: unaryBackRow<Tan>(dx, dy, x, n, p, q); break;
    case ASIN: unaryBackRow<Asin>(dx, dy, x, n, p, q); break;
    case ACOS: unaryBackRow<Acos>(dx, dy, x, n, p, q); break;
    case ATAN: unaryBackRow<Atan>(dx, dy, x, n, p, q); break;
    case SINH: unaryBackRow<Sinh>(dx, dy, x, n, p, q); break;
    case COSH: unaryBackRow<Cosh>(dx, dy, x, n, p, q); break;
    case ASINH: unaryBackRow<Asinh>(dx, dy, x, n, p, q); break;
    case ACOSH: unaryBackRow<Acosh>(dx, dy, x, n, p, q); break;
    case ATANH: unaryBackRow<Atanh>(dx, dy, x, n, p, q); break;
    default: unreachable();
  }
}

// UnaryI32 codes
const I_ABS = 0, I_NEG = 1, I_SIGN = 2, I_NOT = 3, I_BITNOT = 4, I_CLIP = 5, I_WRAP = 6;

/** y[i] = f(x[i]; p, q) on i32 elements for the UnaryI32 op `op`; y may alias x. */
export function unary_i32_forward(op: i32, y: usize, x: usize, n: i32, p: i32, q: i32): void {
  switch (op) {
    case I_ABS: unaryRowI32<AbsI>(y, x, n, p, q); break;
    case I_NEG: unaryRowI32<NegI>(y, x, n, p, q); break;
    case I_SIGN: unaryRowI32<SignI>(y, x, n, p, q); break;
    case I_NOT: unaryRowI32<NotI>(y, x, n, p, q); break;
    case I_BITNOT: unaryRowI32<BitNotI>(y, x, n, p, q); break;
    case I_CLIP: unaryRowI32<ClipI>(y, x, n, p, q); break;
    case I_WRAP: unaryRowI32<WrapI>(y, x, n, p, q); break;
    default: unreachable();
  }
}

// Cast codes
const C_F32_TO_I32 = 0, C_I32_TO_F32 = 1, C_F32_NONZERO = 2, C_I32_NONZERO = 3, C_ROUND_HALF = 4, C_ROUND_BFLOAT16 = 5;

/** y[i] = x[i] converted (Cast code `mode`); y may alias x. */
export function cast_forward(mode: i32, y: usize, x: usize, n: i32): void {
  switch (mode) {
    case C_F32_TO_I32: unaryRow<F32ToI32>(y, x, n, 0, 0); break;
    case C_I32_TO_F32: unaryRow<I32ToF32>(y, x, n, 0, 0); break;
    case C_F32_NONZERO: unaryRow<F32NonZero>(y, x, n, 0, 0); break;
    case C_I32_NONZERO: unaryRow<I32NonZero>(y, x, n, 0, 0); break;
    case C_ROUND_HALF: unaryRow<RoundHalf>(y, x, n, 0, 0); break;
    case C_ROUND_BFLOAT16: unaryRow<RoundBfloat16>(y, x, n, 0, 0); break;
    default: unreachable();
  }
}
