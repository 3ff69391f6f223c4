// f32 math for the element-wise kernels, each function in a scalar form (`expf`: the scalar build
// and nothing else) and a 4-lane form (`exp4`) of the SAME algorithm, so every build computes the
// same function. They are called, not inlined: one copy of each serves every op (a call costs
// little beside their 20-60 operations, and code size is budgeted). Not re-exported by index.ts (a v128 signature cannot be a wasm export of the
// scalar build); kernels import it.
//
// Full IEEE ranges where the functions below say so: exp overflows to inf and underflows through
// the subnormals to 0, log takes subnormals, and NaN in gives NaN out.
// 4-lane clamps use f32x4.pmin / pmax with the value first (NaN passes through; single
// instructions on x86, unlike the NaN-propagating min / max).

import { madd } from "./simd";

// exp(x) = 2^n e^r, n = round(x log2 e), r = x - n ln2 (ln2 split Cody-Waite style: n * LN2_HI is
// exact for |n| <= 256), e^r by its degree-6 Taylor polynomial (|r| <= ln2/2: 1.2e-7 relative).
// 2^n = 2^(n >> 1) * 2^(n - (n >> 1)): both factors are normal floats for n in [-152, 128], so the
// product overflows to inf and underflows through the subnormals as IEEE arithmetic does.
const EXP_CLAMP_HI: f32 = 89;
const EXP_CLAMP_LO: f32 = -105;
const LOG2E: f32 = 1.4426950408889634;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const P2: f32 = 0.5;
const P3: f32 = 0.16666666666666666;
const P4: f32 = 0.041666666666666664;
const P5: f32 = 0.008333333333333333;
const P6: f32 = 0.001388888888888889;

// log (Cephes logf): x = m 2^e with m in [sqrt(1/2), sqrt(2)); log(1 + f), f = m - 1, as
// f - f^2/2 + f^3 P(f) with P of degree 8; e ln2 added in two parts (LN2_HI, LN2_LO).
const SQRTHF: f32 = 0.707106781186547524;
const L0: f32 = 7.0376836292e-2;
const L1: f32 = -1.1514610310e-1;
const L2: f32 = 1.1676998740e-1;
const L3: f32 = -1.2420140846e-1;
const L4: f32 = 1.4249322787e-1;
const L5: f32 = -1.6668057665e-1;
const L6: f32 = 2.0000714765e-1;
const L7: f32 = -2.4999993993e-1;
const L8: f32 = 3.3333331174e-1;
/** 2^23: subnormal inputs of log are scaled by it first. */
const TWO23: f32 = 8388608;

// erf: x P(x^2) / Q(x^2) on x clamped to [-4, 4] (beyond, erf is +-1 in f32), the rational
// approximation of Eigen's generic_fast_erf_float (a few ulp).
const E1: f32 = -1.60960333262415e-02;
const E3: f32 = -2.95459980854025e-03;
const E5: f32 = -7.34990630326855e-04;
const E7: f32 = -5.69250639462346e-05;
const E9: f32 = -2.10102402082508e-06;
const E11: f32 = 2.77068142495902e-08;
const E13: f32 = -2.72614225801306e-10;
const B0: f32 = -1.42647390514189e-02;
const B2: f32 = -7.37332916720468e-03;
const B4: f32 = -1.68282697438203e-03;
const B6: f32 = -2.13374055278905e-04;
const B8: f32 = -1.45660718464996e-05;

// sin / cos (Cephes sinf / cosf): j = the multiple of pi/4 nearest |x| rounded up to even,
// x - j pi/4 in three parts (DP1 + DP2 + DP3 = pi/4), then the sine or cosine polynomial on
// [-pi/4, pi/4] by octant. Accurate to a few ulp for |x| < 8192; larger |x| lose precision.
const FOPI: f32 = 1.27323954473516;
const DP1: f32 = 0.78515625;
const DP2: f32 = 2.4187564849853515625e-4;
const DP3: f32 = 3.77489497744594108e-8;
const S1: f32 = -1.9515295891e-4;
const S2: f32 = 8.3321608736e-3;
const S3: f32 = -1.6666654611e-1;
const C1: f32 = 2.443315711809948e-5;
const C2: f32 = -1.388731625493765e-3;
const C3: f32 = 4.166664568298827e-2;

export namespace fmath {
  // ------------------------------------------------------------------------------------------
  // exp and expm1

  /** The reduced exponent n = round(x log2 e) of x clamped to [EXP_CLAMP_LO, EXP_CLAMP_HI]. */
  // @ts-ignore: decorator
  @inline function expNS(x: f32): f32 {
    return nearest<f32>(min(max(x, EXP_CLAMP_LO), EXP_CLAMP_HI) * LOG2E);
  }

  /** e^r - 1 for r = x - n ln2 (x clamped as in expNS). */
  // @ts-ignore: decorator
  @inline function expCoreS(x: f32, n: f32): f32 {
    const c = min(max(x, EXP_CLAMP_LO), EXP_CLAMP_HI);
    const r = c - n * LN2_HI - n * LN2_LO;
    let p = P6;
    p = p * r + P5;
    p = p * r + P4;
    p = p * r + P3;
    p = p * r + P2;
    p = p * r + 1;
    return p * r;
  }

  /** 2^k for k in [-126, 127] (a normal float). */
  // @ts-ignore: decorator
  @inline function pow2S(k: i32): f32 {
    return reinterpret<f32>((k + 127) << 23);
  }

  /** e^x over the whole f32 range: inf above ~88.72, subnormals, 0 below ~-103.97; NaN stays NaN. */
  export function expf(x: f32): f32 {
    const nf = expNS(x);
    const q = expCoreS(x, nf);
    const n = <i32>nf;
    const h = n >> 1;
    return ((q + 1) * pow2S(h)) * pow2S(n - h);
  }

  /** e^x - 1, accurate near 0 (no cancellation), same range as expf. */
  export function expm1f(x: f32): f32 {
    const nf = expNS(x);
    const q = expCoreS(x, nf);
    const n = <i32>nf;
    const h = n >> 1;
    const s1 = pow2S(h), s2 = pow2S(n - h);
    // 2^n (1 + q) - 1 = 2^n q + (2^n - 1); +-0 stays +-0
    return x == 0 ? x : (q * s1) * s2 + (s1 * s2 - 1);
  }

  // @ts-ignore: decorator
  @inline function expCore4(x: v128, n: v128): v128 {
    const c = f32x4.pmin(f32x4.pmax(x, f32x4.splat(EXP_CLAMP_LO)), f32x4.splat(EXP_CLAMP_HI));
    const r = madd(n, f32x4.splat(-LN2_LO), f32x4.sub(c, f32x4.mul(n, f32x4.splat(LN2_HI))));
    let p = f32x4.splat(P6);
    p = madd(p, r, f32x4.splat(P5));
    p = madd(p, r, f32x4.splat(P4));
    p = madd(p, r, f32x4.splat(P3));
    p = madd(p, r, f32x4.splat(P2));
    p = madd(p, r, f32x4.splat(1));
    return f32x4.mul(p, r);
  }

  // @ts-ignore: decorator
  @inline function expN4(x: v128): v128 {
    const c = f32x4.pmin(f32x4.pmax(x, f32x4.splat(EXP_CLAMP_LO)), f32x4.splat(EXP_CLAMP_HI));
    return f32x4.nearest(f32x4.mul(c, f32x4.splat(LOG2E)));
  }

  // @ts-ignore: decorator
  @inline function pow24(k: v128): v128 {
    return i32x4.shl(i32x4.add(k, i32x4.splat(127)), 23);
  }

  /** expf on 4 lanes. */
  export function exp4(x: v128): v128 {
    const n = expN4(x);
    const q = expCore4(x, n);
    const ni = i32x4.trunc_sat_f32x4_s(n);
    const h = i32x4.shr_s(ni, 1);
    const r = f32x4.mul(f32x4.mul(f32x4.add(q, f32x4.splat(1)), pow24(h)), pow24(i32x4.sub(ni, h)));
    // NaN lanes: the clamp kept the NaN in n, but the integer scale lost it
    return v128.bitselect(x, r, f32x4.ne(x, x));
  }

  /** expm1f on 4 lanes. */
  export function expm14(x: v128): v128 {
    const n = expN4(x);
    const q = expCore4(x, n);
    const ni = i32x4.trunc_sat_f32x4_s(n);
    const h = i32x4.shr_s(ni, 1);
    const s1 = pow24(h), s2 = pow24(i32x4.sub(ni, h));
    const r = f32x4.add(f32x4.mul(f32x4.mul(q, s1), s2), f32x4.sub(f32x4.mul(s1, s2), f32x4.splat(1)));
    return v128.bitselect(x, r, v128.or(f32x4.ne(x, x), f32x4.eq(x, f32x4.splat(0))));
  }

  // ------------------------------------------------------------------------------------------
  // log and log1p

  /** Natural log: NaN for x < 0 and NaN, -inf at 0, inf at inf; subnormals taken. */
  export function logf(x: f32): f32 {
    const sub = x < 1.17549435e-38;
    const xs = sub ? x * TWO23 : x;
    const ix = reinterpret<i32>(xs);
    let e = <f32>(((ix >> 23) & 0xff) - 126 - (sub ? 23 : 0));
    let m = reinterpret<f32>((ix & 0x007fffff) | 0x3f000000);
    if (m < SQRTHF) {
      e -= 1;
      m = m + m - 1;
    } else {
      m = m - 1;
    }
    const z = m * m;
    let p = L0;
    p = p * m + L1;
    p = p * m + L2;
    p = p * m + L3;
    p = p * m + L4;
    p = p * m + L5;
    p = p * m + L6;
    p = p * m + L7;
    p = p * m + L8;
    let y = p * m * z;
    y += LN2_LO * e;
    y += -0.5 * z;
    const r = m + y + LN2_HI * e;
    if (x == 0) return -Infinity;
    if (!(x >= 0)) return NaN;
    if (x == Infinity) return x;
    return r;
  }

  /** logf on 4 lanes. */
  export function log4(x: v128): v128 {
    const sub = f32x4.lt(x, f32x4.splat(1.17549435e-38));
    const xs = v128.bitselect(f32x4.mul(x, f32x4.splat(TWO23)), x, sub);
    let ei = i32x4.sub(v128.and(i32x4.shr_s(xs, 23), i32x4.splat(0xff)), i32x4.splat(126));
    ei = i32x4.sub(ei, v128.and(sub, i32x4.splat(23)));
    let m = v128.or(v128.and(xs, i32x4.splat(0x007fffff)), i32x4.splat(0x3f000000));
    const small = f32x4.lt(m, f32x4.splat(SQRTHF));
    // e -= 1 where small (the mask is -1 there); m = small ? 2m - 1 : m - 1
    const e = f32x4.convert_i32x4_s(i32x4.add(ei, small));
    m = f32x4.sub(f32x4.add(m, v128.and(m, small)), f32x4.splat(1));
    const z = f32x4.mul(m, m);
    let p = f32x4.splat(L0);
    p = madd(p, m, f32x4.splat(L1));
    p = madd(p, m, f32x4.splat(L2));
    p = madd(p, m, f32x4.splat(L3));
    p = madd(p, m, f32x4.splat(L4));
    p = madd(p, m, f32x4.splat(L5));
    p = madd(p, m, f32x4.splat(L6));
    p = madd(p, m, f32x4.splat(L7));
    p = madd(p, m, f32x4.splat(L8));
    let y = f32x4.mul(f32x4.mul(p, m), z);
    y = madd(f32x4.splat(LN2_LO), e, y);
    y = madd(f32x4.splat(-0.5), z, y);
    let r = madd(f32x4.splat(LN2_HI), e, f32x4.add(m, y));
    r = v128.bitselect(f32x4.splat(-Infinity), r, f32x4.eq(x, f32x4.splat(0)));
    r = v128.bitselect(x, r, f32x4.eq(x, f32x4.splat(Infinity)));
    // x < 0 or NaN: NaN
    return v128.or(r, v128.not(f32x4.ge(x, f32x4.splat(0))));
  }

  /** log(1 + t) for t >= 0 (or t > -1 not near -1), accurate for small t: log(u) t / (u - 1), u = 1 + t. */
  export function log1pf(t: f32): f32 {
    const u: f32 = 1 + t;
    return u == 1 ? t : logf(u) * (t / (u - 1));
  }

  export function log1p4(t: v128): v128 {
    const u = f32x4.add(f32x4.splat(1), t);
    const r = f32x4.mul(log4(u), f32x4.div(t, f32x4.sub(u, f32x4.splat(1))));
    return v128.bitselect(t, r, f32x4.eq(u, f32x4.splat(1)));
  }

  // ------------------------------------------------------------------------------------------
  // erf

  export function erff(x0: f32): f32 {
    const x = min(max(x0, -4), 4);
    const x2 = x * x;
    let p = E13;
    p = p * x2 + E11;
    p = p * x2 + E9;
    p = p * x2 + E7;
    p = p * x2 + E5;
    p = p * x2 + E3;
    p = p * x2 + E1;
    let q = B8;
    q = q * x2 + B6;
    q = q * x2 + B4;
    q = q * x2 + B2;
    q = q * x2 + B0;
    return (x * p) / q;
  }

  export function erf4(x0: v128): v128 {
    const x = f32x4.pmin(f32x4.pmax(x0, f32x4.splat(-4)), f32x4.splat(4));
    const x2 = f32x4.mul(x, x);
    let p = f32x4.splat(E13);
    p = madd(p, x2, f32x4.splat(E11));
    p = madd(p, x2, f32x4.splat(E9));
    p = madd(p, x2, f32x4.splat(E7));
    p = madd(p, x2, f32x4.splat(E5));
    p = madd(p, x2, f32x4.splat(E3));
    p = madd(p, x2, f32x4.splat(E1));
    let q = f32x4.splat(B8);
    q = madd(q, x2, f32x4.splat(B6));
    q = madd(q, x2, f32x4.splat(B4));
    q = madd(q, x2, f32x4.splat(B2));
    q = madd(q, x2, f32x4.splat(B0));
    return f32x4.div(f32x4.mul(x, p), q);
  }

  // ------------------------------------------------------------------------------------------
  // sin and cos

  /** The sine and cosine polynomials on the reduced argument. */
  // @ts-ignore: decorator
  @inline function sinPolyS(x: f32, z: f32): f32 {
    let y = S1;
    y = y * z + S2;
    y = y * z + S3;
    return y * z * x + x;
  }

  // @ts-ignore: decorator
  @inline function cosPolyS(z: f32): f32 {
    let y = C1;
    y = y * z + C2;
    y = y * z + C3;
    return y * z * z - 0.5 * z + 1;
  }

  /** sin(x) (cos when `cosine`): one reduction, the octant picks the polynomial and the sign. */
  export function sincosf(x0: f32, cosine: bool): f32 {
    const ax = abs(x0);
    let j = (<i32>(ax * FOPI) + 1) & ~1;
    const y = <f32>j;
    const x = ((ax - y * DP1) - y * DP2) - y * DP3;
    const z = x * x;
    let neg: bool;
    if (cosine) {
      j -= 2;
      neg = (~j & 4) != 0;
    } else {
      neg = ((j & 4) != 0) != (reinterpret<i32>(x0) < 0);
    }
    const r = (j & 2) == 0 ? sinPolyS(x, z) : cosPolyS(z);
    if (!(ax < Infinity)) return NaN; // NaN and inf
    return neg ? -r : r;
  }

  export function sincos4(x0: v128, cosine: bool): v128 {
    const ax = f32x4.abs(x0);
    let j = v128.and(i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.mul(ax, f32x4.splat(FOPI))), i32x4.splat(1)), i32x4.splat(~1));
    const y = f32x4.convert_i32x4_s(j);
    const x = f32x4.sub(f32x4.sub(f32x4.sub(ax, f32x4.mul(y, f32x4.splat(DP1))), f32x4.mul(y, f32x4.splat(DP2))), f32x4.mul(y, f32x4.splat(DP3)));
    const z = f32x4.mul(x, x);
    let sign: v128;
    if (cosine) {
      j = i32x4.sub(j, i32x4.splat(2));
      sign = i32x4.shl(v128.andnot(i32x4.splat(4), j), 29);
    } else {
      sign = v128.xor(i32x4.shl(v128.and(j, i32x4.splat(4)), 29), v128.and(x0, i32x4.splat(0x80000000)));
    }
    let s = f32x4.splat(S1);
    s = madd(s, z, f32x4.splat(S2));
    s = madd(s, z, f32x4.splat(S3));
    s = madd(f32x4.mul(s, z), x, x);
    let c = f32x4.splat(C1);
    c = madd(c, z, f32x4.splat(C2));
    c = madd(c, z, f32x4.splat(C3));
    c = f32x4.add(madd(f32x4.mul(c, z), z, f32x4.mul(f32x4.splat(-0.5), z)), f32x4.splat(1));
    const r = v128.xor(v128.bitselect(s, c, i32x4.eq(v128.and(j, i32x4.splat(2)), i32x4.splat(0))), sign);
    return v128.or(r, v128.not(f32x4.lt(ax, f32x4.splat(Infinity))));
  }

  // ------------------------------------------------------------------------------------------
  // pow

  /**
   * a^b as exp(b log|a|) with IEEE's special cases: b = 0 gives 1 (any a), a = 1 gives 1 (any b),
   * a < 0 gives NaN unless b is an integer (negative for odd b), a = 0 gives 0 or inf by b's sign.
   * Relative error grows with |b log a| (about 1e-6 for results near 1e10).
   */
  export function powf(a: f32, b: f32): f32 {
    const r = expf(b * logf(abs(a)));
    const isInt = nearest<f32>(b) == b;
    const odd = isInt && abs(b) < 16777216 && (<i32>b & 1) != 0;
    let y = odd && reinterpret<i32>(a) < 0 ? -r : r;
    if (a < 0 && !isInt) y = NaN;
    if (b == 0 || a == 1) y = 1;
    return y;
  }

  export function pow4(a: v128, b: v128): v128 {
    const r = exp4(f32x4.mul(b, log4(f32x4.abs(a))));
    const isInt = f32x4.eq(f32x4.nearest(b), b);
    const oddBit = i32x4.shl(i32x4.trunc_sat_f32x4_s(b), 31); // sign bit set for odd b (|b| < 2^24)
    const odd = v128.and(v128.and(isInt, f32x4.lt(f32x4.abs(b), f32x4.splat(16777216))), oddBit);
    // a sign bit (a < 0 or -0) and an odd integer b: the sign flips; a < 0 and b not an integer: NaN
    let y = v128.xor(r, v128.and(i32x4.lt_s(a, i32x4.splat(0)), odd));
    y = v128.or(y, v128.andnot(f32x4.lt(a, f32x4.splat(0)), isInt));
    const one = v128.or(f32x4.eq(b, f32x4.splat(0)), f32x4.eq(a, f32x4.splat(1)));
    return v128.bitselect(f32x4.splat(1), y, one);
  }
}
