// Counter-based random numbers: element i's draw is a hash of (seed, i) alone, never of the order
// of evaluation, so SIMD lanes, scalar tails and the scalar build give the same bits. Used by
// dropout's masks (dropout.ts) and by weight initialisation (fill_normal_f32).

const MIX_A: u32 = 0x7feb352d;
const MIX_B: u32 = 0x846ca68b;
export const GOLDEN: u32 = 0x9e3779b9;

/** A bijective 32-bit xorshift-multiply mixer. */
// @ts-ignore: decorator
@inline export function mix(h: u32): u32 {
  h ^= h >>> 16;
  h *= MIX_A;
  h ^= h >>> 15;
  h *= MIX_B;
  h ^= h >>> 16;
  return h;
}

/** mix on each i32 lane. */
// @ts-ignore: decorator
@inline export function mix4(h: v128): v128 {
  h = v128.xor(h, i32x4.shr_u(h, 16));
  h = i32x4.mul(h, i32x4.splat(MIX_A));
  h = v128.xor(h, i32x4.shr_u(h, 15));
  h = i32x4.mul(h, i32x4.splat(MIX_B));
  h = v128.xor(h, i32x4.shr_u(h, 16));
  return h;
}

// ---------------------------------------------------------------------------------------------
// Standard normal numbers by Box-Muller in f32: out[2j] = r cos(2 pi v), out[2j+1] = r sin(2 pi v),
// r = sqrt(-2 ln u), with u = ((h(2j) >>> 8) + 1) / 2^24 in (0, 1] and v = (h(2j+1) >>> 8) / 2^24
// in [0, 1), h(i) = mix(mix(i) + mix(seed ^ GOLDEN)). |values| <= sqrt(2 ln 2^24) = 5.77.
// ln and sin / cos are polynomials made only of IEEE-exact operations (+ - * / sqrt, nearest,
// integer and bit operations; no fused multiply-add, not even in the relaxed build), evaluated in
// the same order in the f32x4 and the scalar code: every build gives the same bits. Their error
// is a few f32 ulps (tests/init.test.ts checks each value against float64 Box-Muller).

const INV_2_24: f32 = 5.9604644775390625e-8; // 2^-24
const LN2_HI: f32 = 0.693145751953125; // ln 2 = LN2_HI + LN2_LO, LN2_HI with 12 significant bits
const LN2_LO: f32 = 1.428606765330187e-6;
const SQRT2: f32 = 1.4142135623730951;
const TWO_PI: f32 = 6.283185307179586;
// ln m = 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + s^6/7 + s^8/9), s = (m - 1) / (m + 1), |s| <= 0.1716
const L3: f32 = 0.3333333333333333, L5: f32 = 0.2, L7: f32 = 0.14285714285714285, L9: f32 = 0.1111111111111111;
// Taylor series on |x| <= pi/4: sin to x^9, cos to x^10 (truncation below 2e-9)
const S3: f32 = -0.16666666666666666, S5: f32 = 0.008333333333333333, S7: f32 = -0.0001984126984126984, S9: f32 = 2.7557319223985893e-6;
const C2: f32 = -0.5, C4: f32 = 0.041666666666666664, C6: f32 = -0.001388888888888889, C8: f32 = 2.48015873015873e-5, C10: f32 = -2.755731922398589e-7;

/**
 * Writes out[0..n) (f32) with std * N(0, 1): elements first .. first + n - 1 of stream `seed` (see
 * above); first must be even. The host fills big tensors in chunks: a long call would run all
 * its loops in V8's baseline code, which only later calls leave.
 */
export function fill_normal_f32(out: usize, n: i32, std: f32, seed: u32, first: i32): void {
  const key = mix(seed ^ GOLDEN);
  out -= <usize>first << 2; // so that element i of the stream is out[i]
  n += first;
  let j = first >> 1; // pair index: elements 2j, 2j + 1
  if (ASC_FEATURE_SIMD) {
    const vkey = i32x4.splat(key);
    const vstd = f32x4.splat(std);
    let even = i32x4.add(i32x4.splat(2 * j), i32x4(0, 2, 4, 6));
    const eight = i32x4.splat(8);
    for (; 2 * j + 8 <= n; j += 4) {
      const hu = mix4(i32x4.add(mix4(even), vkey));
      const hv = mix4(i32x4.add(mix4(i32x4.add(even, i32x4.splat(1))), vkey));
      const u = f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(i32x4.shr_u(hu, 8), i32x4.splat(1))), f32x4.splat(INV_2_24));
      const v = f32x4.mul(f32x4.convert_i32x4_s(i32x4.shr_u(hv, 8)), f32x4.splat(INV_2_24)); // < 2^24: exact
      const r = f32x4.mul(vstd, f32x4.sqrt(f32x4.mul(f32x4.splat(-2), ln4(u))));
      // 2 pi v = q pi/2 + x, q = nearest(4v), |x| <= pi/4; v - q/4 is exact (v has 24 bits)
      const qf = f32x4.nearest(f32x4.mul(v, f32x4.splat(4)));
      const x = f32x4.mul(f32x4.sub(v, f32x4.mul(qf, f32x4.splat(0.25))), f32x4.splat(TWO_PI));
      const q = f32x4.add(qf, f32x4.splat(8388608)); // 2^23 + q: q in the low mantissa bits
      const sx = sin4(x), cx = cos4(x);
      // quadrant q & 3: cos(q pi/2 + x) = [cx, -sx, -cx, sx], sin = [sx, cx, -sx, -cx]
      const swap = i32x4.ne(v128.and(q, i32x4.splat(1)), i32x4.splat(0));
      const cosNeg = i32x4.shl(v128.and(i32x4.add(q, i32x4.splat(1)), i32x4.splat(2)), 30);
      const sinNeg = i32x4.shl(v128.and(q, i32x4.splat(2)), 30);
      const c = v128.xor(v128.bitselect(sx, cx, swap), cosNeg);
      const s = v128.xor(v128.bitselect(cx, sx, swap), sinNeg);
      const rc = f32x4.mul(r, c), rs = f32x4.mul(r, s);
      const o = out + (<usize>j << 3);
      v128.store(o, v128.shuffle<f32>(rc, rs, 0, 4, 1, 5));
      v128.store(o, v128.shuffle<f32>(rc, rs, 2, 6, 3, 7), 16);
      even = i32x4.add(even, eight);
    }
  }
  for (; 2 * j < n; j++) {
    const hu = mix(mix(<u32>(2 * j)) + key);
    const hv = mix(mix(<u32>(2 * j + 1)) + key);
    const u = <f32>((hu >>> 8) + 1) * INV_2_24;
    const v = <f32>(hv >>> 8) * INV_2_24;
    const r = std * Mathf.sqrt(<f32>-2 * ln(u));
    const qf = nearest<f32>(v * 4);
    const x = (v - qf * 0.25) * TWO_PI;
    const q = <i32>qf;
    const sx = sin1(x), cx = cos1(x);
    const swap = (q & 1) != 0;
    const cosNeg = ((q + 1) & 2) != 0, sinNeg = (q & 2) != 0;
    let c = swap ? sx : cx, s = swap ? cx : sx;
    if (cosNeg) c = -c;
    if (sinNeg) s = -s;
    const o = out + (<usize>j << 3);
    store<f32>(o, r * c);
    if (2 * j + 1 < n) store<f32>(o, r * s, 4);
  }
}

/** ln u for u in (0, 1] (u normal): u = 2^e m, m in [sqrt(1/2), sqrt(2)). */
function ln(u: f32): f32 {
  const bits = reinterpret<i32>(u);
  let e = (bits >> 23) - 127;
  let m = reinterpret<f32>((bits & 0x7fffff) | 0x3f800000);
  if (m > SQRT2) {
    m *= 0.5;
    e += 1;
  }
  const s = (m - 1) / (m + 1);
  const z = s * s;
  const p = (s + s) * (<f32>1 + z * (L3 + z * (L5 + z * (L7 + z * L9))));
  const ef = <f32>e;
  return ef * LN2_HI + (ef * LN2_LO + p);
}

function sin1(x: f32): f32 {
  const z = x * x;
  return x + x * (z * (S3 + z * (S5 + z * (S7 + z * S9))));
}

function cos1(x: f32): f32 {
  const z = x * x;
  return <f32>1 + z * (C2 + z * (C4 + z * (C6 + z * (C8 + z * C10))));
}

// The same three on f32x4 lanes, operation for operation.

// @ts-ignore: decorator
@inline function ln4(u: v128): v128 {
  let e = i32x4.sub(i32x4.shr_s(u, 23), i32x4.splat(127));
  let m = v128.or(v128.and(u, i32x4.splat(0x7fffff)), i32x4.splat(0x3f800000));
  const big = f32x4.gt(m, f32x4.splat(SQRT2));
  m = v128.bitselect(f32x4.mul(m, f32x4.splat(0.5)), m, big);
  e = i32x4.sub(e, big); // big lanes are -1
  const one = f32x4.splat(1);
  const s = f32x4.div(f32x4.sub(m, one), f32x4.add(m, one));
  const z = f32x4.mul(s, s);
  let p = f32x4.add(f32x4.splat(L7), f32x4.mul(z, f32x4.splat(L9)));
  p = f32x4.add(f32x4.splat(L5), f32x4.mul(z, p));
  p = f32x4.add(f32x4.splat(L3), f32x4.mul(z, p));
  p = f32x4.mul(f32x4.add(s, s), f32x4.add(one, f32x4.mul(z, p)));
  const ef = f32x4.convert_i32x4_s(e);
  return f32x4.add(f32x4.mul(ef, f32x4.splat(LN2_HI)), f32x4.add(f32x4.mul(ef, f32x4.splat(LN2_LO)), p));
}

// @ts-ignore: decorator
@inline function sin4(x: v128): v128 {
  const z = f32x4.mul(x, x);
  let p = f32x4.add(f32x4.splat(S7), f32x4.mul(z, f32x4.splat(S9)));
  p = f32x4.add(f32x4.splat(S5), f32x4.mul(z, p));
  p = f32x4.add(f32x4.splat(S3), f32x4.mul(z, p));
  return f32x4.add(x, f32x4.mul(x, f32x4.mul(z, p)));
}

// @ts-ignore: decorator
@inline function cos4(x: v128): v128 {
  const z = f32x4.mul(x, x);
  let p = f32x4.add(f32x4.splat(C8), f32x4.mul(z, f32x4.splat(C10)));
  p = f32x4.add(f32x4.splat(C6), f32x4.mul(z, p));
  p = f32x4.add(f32x4.splat(C4), f32x4.mul(z, p));
  p = f32x4.add(f32x4.splat(C2), f32x4.mul(z, p));
  return f32x4.add(f32x4.splat(1), f32x4.mul(z, p));
}
