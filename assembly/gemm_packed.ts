// Products with a right-hand operand packed once: C (m x n) (+)= A (m x k) . B (k x n) where B
// (dense weights at inference) is copied beforehand into strips of 8 columns. Every matrix is
// row-major f32; pointers are byte addresses (4-byte aligned, 16 recommended).
//
// Packed layout of B (pack_b_f32): ceil(n / 8) strips; strip s holds B[p, 8s .. 8s+7] for
// p = 0 .. k-1 one after another (8*k floats, 32 bytes per p), columns past n as zeros.
// A strip is one sequential stream. B's own rows give a product with few rows of A 8-column
// slices 4*n bytes apart instead, which is slower: `npm run bench -- --case "dense 1x4096"` times
// both (cases "dense 1x4096->1000", on B's rows, and "dense 1x4096->1000 packed").

import { madd } from "./simd";

/** Width of a packed strip (columns): two v128. */
const STRIP: i32 = 8;

/** Floats the packed copy of a k x n matrix takes: ceil(n / 8) strips of 8*k. */
export function packed_b_floats(k: i32, n: i32): i32 {
  return ((n + STRIP - 1) / STRIP) * STRIP * k;
}

/** dst (packed_b_floats(k, n) floats) = B (k x n, row-major) in strips of 8 columns (see top). */
export function pack_b_f32(dst: usize, b: usize, k: i32, n: i32): void {
  pack_b_f32_strided(dst, b, n, k, n);
}

/** pack_b_f32 of a k x n block whose rows lie ld_b elements apart (columns of a wider matrix). */
export function pack_b_f32_strided(dst: usize, b: usize, ld_b: i32, k: i32, n: i32): void {
  const strips = (n + STRIP - 1) / STRIP;
  const ldb = <usize>ld_b << 2;
  for (let s = 0; s < strips; s++) {
    const j = s * STRIP;
    const cols = min(STRIP, n - j);
    let d = dst + ((<usize>s * <usize>k * STRIP) << 2);
    let src = b + (<usize>j << 2);
    if (ASC_FEATURE_SIMD && cols == STRIP) {
      for (let p = 0; p < k; p++, d += 32, src += ldb) {
        v128.store(d, v128.load(src));
        v128.store(d, v128.load(src, 16), 16);
      }
      continue;
    }
    for (let p = 0; p < k; p++, d += 32, src += ldb) {
      for (let c = 0; c < STRIP; c++) store<f32>(d + (<usize>c << 2), c < cols ? load<f32>(src + (<usize>c << 2)) : 0);
    }
  }
}

/**
 * Strips [s0, s1) of C (m x n) = (accumulate != 0 ? C : 0) + A (m x k) . B, B packed by
 * pack_b_f32 at bp: threads each take a range of strips, and every element gets the same bits
 * however the strips are split. C must not overlap A or the packed B.
 */
export function gemm_f32_packed_b(
  c: usize, a: usize, bp: usize, m: i32, n: i32, k: i32, accumulate: i32, s0: i32, s1: i32,
): void {
  gemm_f32_packed_b_strided(c, n, a, k, bp, m, n, k, accumulate, s0, s1);
}

/**
 * gemm_f32_packed_b with explicit row strides (elements): C's rows ld_c apart, A's rows ld_a apart
 * (a gate block of a recurrent layer's [B, G*H] rows, src/ops/rnn.ts).
 */
export function gemm_f32_packed_b_strided(
  c: usize, ld_c: i32, a: usize, ld_a: i32, bp: usize, m: i32, n: i32, k: i32, accumulate: i32, s0: i32, s1: i32,
): void {
  s0 = max(s0, 0);
  s1 = min(s1, (n + STRIP - 1) / STRIP);
  const acc = accumulate != 0;
  const lda = <usize>ld_a << 2;
  for (let s = s0; s < s1; s++) {
    const j = s * STRIP;
    const cols = min(STRIP, n - j);
    const strip = bp + ((<usize>s * <usize>k * STRIP) << 2);
    const cs = c + (<usize>j << 2);
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      // Rows of A 4 at a time while the strip (32*k bytes) stays in cache, then one at a time.
      for (; i + 4 <= m; i += 4) tile4x8(cs + <usize>i * (<usize>ld_c << 2), ld_c, cols, a + <usize>i * lda, lda, strip, k, acc);
      for (; i < m; i++) row1x8(cs + <usize>i * (<usize>ld_c << 2), cols, a + <usize>i * lda, strip, k, acc);
    } else {
      for (; i < m; i++) row1Scalar(cs + <usize>i * (<usize>ld_c << 2), cols, a + <usize>i * lda, strip, k, acc);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Internal loops: one strip of 8 columns, `cols` (1..8) of them real.

/** Stores s (columns 0..3) and t (4..7) to the first `cols` elements at cp, added to them when acc. */
// @ts-ignore: decorator
@inline function storeRow(cp: usize, cols: i32, s: v128, t: v128, acc: bool): void {
  if (cols == STRIP) {
    if (acc) {
      s = f32x4.add(s, v128.load(cp));
      t = f32x4.add(t, v128.load(cp, 16));
    }
    v128.store(cp, s);
    v128.store(cp, t, 16);
    return;
  }
  storeLanes(cp, min(cols, 4), s, acc);
  if (cols > 4) storeLanes(cp + 16, cols - 4, t, acc);
}

/** The first `count` (1..4) lanes of v to cp (added to what is there when acc). */
function storeLanes(cp: usize, count: i32, v: v128, acc: bool): void {
  store<f32>(cp, (acc ? load<f32>(cp) : 0) + f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(cp + 4, (acc ? load<f32>(cp + 4) : 0) + f32x4.extract_lane(v, 1));
  if (count > 2) store<f32>(cp + 8, (acc ? load<f32>(cp + 8) : 0) + f32x4.extract_lane(v, 2));
  if (count > 3) store<f32>(cp + 12, (acc ? load<f32>(cp + 12) : 0) + f32x4.extract_lane(v, 3));
}

/**
 * 4 rows of C (row stride n elements) (+)= 4 rows of A (row stride lda bytes) . one strip.
 * 8 accumulators, 4 broadcasts of A and 2 vectors of the strip per p: 14 of the 15 v128
 * registers V8 hands out on x64.
 */
function tile4x8(cp: usize, n: i32, cols: i32, ap: usize, lda: usize, strip: usize, k: i32, acc: bool): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const a1 = ap + lda, a2 = a1 + lda, a3 = a2 + lda;
  let w = strip;
  for (let p: usize = 0, e = <usize>k << 2; p < e; p += 4, w += 32) {
    const w0 = v128.load(w), w1 = v128.load(w, 16);
    let x = v128.load32_splat(ap + p);
    c00 = madd(x, w0, c00);
    c01 = madd(x, w1, c01);
    x = v128.load32_splat(a1 + p);
    c10 = madd(x, w0, c10);
    c11 = madd(x, w1, c11);
    x = v128.load32_splat(a2 + p);
    c20 = madd(x, w0, c20);
    c21 = madd(x, w1, c21);
    x = v128.load32_splat(a3 + p);
    c30 = madd(x, w0, c30);
    c31 = madd(x, w1, c31);
  }
  const ldc = <usize>n << 2;
  storeRow(cp, cols, c00, c01, acc);
  storeRow(cp + ldc, cols, c10, c11, acc);
  storeRow(cp + 2 * ldc, cols, c20, c21, acc);
  storeRow(cp + 3 * ldc, cols, c30, c31, acc);
}

/**
 * One row of C (+)= one row of A . one strip: the product of a single input (dense at batch 1),
 * bound by the stream of the strip. Three values of p per step into three pairs of accumulators
 * (6 accumulators, 3 broadcasts, 6 loads: more spill registers in V8 and run slower).
 */
function row1x8(cp: usize, cols: i32, ap: usize, strip: usize, k: i32, acc: bool): void {
  let s0 = f32x4.splat(0), s1 = s0, t0 = s0, t1 = s0, u0 = s0, u1 = s0;
  let w = strip;
  let p = 0;
  for (; p + 3 <= k; p += 3, w += 96) {
    const x = ap + (<usize>p << 2);
    const xs = v128.load32_splat(x), xt = v128.load32_splat(x, 4), xu = v128.load32_splat(x, 8);
    s0 = madd(xs, v128.load(w), s0);
    s1 = madd(xs, v128.load(w, 16), s1);
    t0 = madd(xt, v128.load(w, 32), t0);
    t1 = madd(xt, v128.load(w, 48), t1);
    u0 = madd(xu, v128.load(w, 64), u0);
    u1 = madd(xu, v128.load(w, 80), u1);
  }
  for (; p < k; p++, w += 32) {
    const xs = v128.load32_splat(ap + (<usize>p << 2));
    s0 = madd(xs, v128.load(w), s0);
    s1 = madd(xs, v128.load(w, 16), s1);
  }
  storeRow(cp, cols, f32x4.add(f32x4.add(s0, t0), u0), f32x4.add(f32x4.add(s1, t1), u1), acc);
}

/** row1x8 without SIMD (the scalar build): one dot product per column along the strip. */
function row1Scalar(cp: usize, cols: i32, ap: usize, strip: usize, k: i32, acc: bool): void {
  for (let col = 0; col < cols; col++) {
    let sum: f32 = 0;
    let w = strip + (<usize>col << 2);
    for (let p = 0; p < k; p++, w += 32) sum += load<f32>(ap + (<usize>p << 2)) * load<f32>(w);
    const o = cp + (<usize>col << 2);
    store<f32>(o, acc ? load<f32>(o) + sum : sum);
  }
}
