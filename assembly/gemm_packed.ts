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
/** Each element sums SUM_K steps of p from zero, then adds them to C: float32 chains of 64
 *  products, not k (a dense layer's 4,096; see SUM_KC in assembly/gemm.ts). */
const SUM_K: i32 = 64;

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
  const lda = <usize>ld_a << 2, ldc = <usize>ld_c << 2;
  const stripBytes = (<usize>k * STRIP) << 2;
  if (ASC_FEATURE_SIMD) {
    // Rows of A 4 at a time while a strip (32*k bytes) stays in cache; the rows left over (all of
    // them at m < 4: a matrix-vector product) one at a time across 3 strips at once.
    const m4 = m & ~3;
    if (m4 > 0) {
      for (let s = s0; s < s1; s++) {
        const j = s * STRIP;
        const cols = min(STRIP, n - j);
        const strip = bp + <usize>s * stripBytes;
        for (let i = 0; i < m4; i += 4) tile4x8(c + <usize>i * ldc + (<usize>j << 2), ld_c, cols, a + <usize>i * lda, lda, strip, k, acc);
      }
    }
    const full = n / STRIP; // strips with 8 real columns
    for (let i = m4; i < m; i++) {
      const ci = c + <usize>i * ldc, ai = a + <usize>i * lda;
      let s = s0;
      for (; s + 3 <= min(s1, full); s += 3) row1x24(ci + ((<usize>s * STRIP) << 2), ai, bp + <usize>s * stripBytes, stripBytes, k, acc);
      if (s + 2 <= min(s1, full)) {
        row1x16(ci + ((<usize>s * STRIP) << 2), ai, bp + <usize>s * stripBytes, stripBytes, k, acc);
        s += 2;
      }
      for (; s < s1; s++) row1x8(ci + ((<usize>s * STRIP) << 2), min(STRIP, n - s * STRIP), ai, bp + <usize>s * stripBytes, k, acc);
    }
    return;
  }
  for (let s = s0; s < s1; s++) {
    const j = s * STRIP;
    const cols = min(STRIP, n - j);
    const strip = bp + <usize>s * stripBytes;
    for (let i = 0; i < m; i++) row1Scalar(c + <usize>i * ldc + (<usize>j << 2), cols, a + <usize>i * lda, strip, k, acc);
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
  const a1 = ap + lda, a2 = a1 + lda, a3 = a2 + lda;
  const ldc = <usize>n << 2;
  let w = strip;
  const e = <usize>k << 2;
  let p: usize = 0, a = acc;
  do {
    // one block of SUM_K steps of p, summed from zero, then added to C (C itself first when acc)
    const pe = min(e, p + (<usize>SUM_K << 2));
    let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (; p < pe; p += 4, w += 32) {
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
    storeRow(cp, cols, c00, c01, a);
    storeRow(cp + ldc, cols, c10, c11, a);
    storeRow(cp + 2 * ldc, cols, c20, c21, a);
    storeRow(cp + 3 * ldc, cols, c30, c31, a);
    a = true;
  } while (p < e);
}

// The single-row loops below compute each element of C as tile4x8 does (chains of SUM_K products
// in p order, added to C block by block): an element gets the same bits whichever loop computes
// it, so however the strips are split (threads) or grouped.

/** One row of C (+)= one row of A . one strip (cols of its 8 columns real). */
function row1x8(cp: usize, cols: i32, ap: usize, strip: usize, k: i32, acc: bool): void {
  let w = strip;
  const e = <usize>k << 2;
  let p: usize = 0, a = acc;
  do {
    // one block of SUM_K steps of p, summed from zero, then added to C (C itself first when acc)
    const pe = min(e, p + (<usize>SUM_K << 2));
    let s0 = f32x4.splat(0), s1 = s0;
    for (; p < pe; p += 4, w += 32) {
      const x = v128.load32_splat(ap + p);
      s0 = madd(x, v128.load(w), s0);
      s1 = madd(x, v128.load(w, 16), s1);
    }
    storeRow(cp, cols, s0, s1, a);
    a = true;
  } while (p < e);
}

/** One row of C (+)= one row of A . 2 full strips (strip q at strip + q * stripBytes). */
function row1x16(cp: usize, ap: usize, strip: usize, stripBytes: usize, k: i32, acc: bool): void {
  let w = strip;
  const e = <usize>k << 2;
  let p: usize = 0, a = acc;
  do {
    // one block of SUM_K steps of p, summed from zero, then added to C (C itself first when acc)
    const pe = min(e, p + (<usize>SUM_K << 2));
    let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0;
    for (; p < pe; p += 4, w += 32) {
      const x = v128.load32_splat(ap + p);
      a0 = madd(x, v128.load(w), a0);
      a1 = madd(x, v128.load(w, 16), a1);
      b0 = madd(x, v128.load(w + stripBytes), b0);
      b1 = madd(x, v128.load(w + stripBytes, 16), b1);
    }
    storeRow(cp, STRIP, a0, a1, a);
    storeRow(cp + 32, STRIP, b0, b1, a);
    a = true;
  } while (p < e);
}

/**
 * One row of C (+)= one row of A . 3 full strips: the matrix-vector product (a recurrent step or
 * a dense layer at batch 1). 6 accumulators, one broadcast and 6 loads per p: V8 loads every
 * operand of an iteration before its multiplies, and more accumulators spill (x64: 15 v128
 * registers), which costs more than the broadcasts they would save.
 */
function row1x24(cp: usize, ap: usize, strip: usize, stripBytes: usize, k: i32, acc: bool): void {
  let w = strip;
  const wb = stripBytes, wc = 2 * stripBytes;
  const e = <usize>k << 2;
  let p: usize = 0, a = acc;
  do {
    // one block of SUM_K steps of p, summed from zero, then added to C (C itself first when acc)
    const pe = min(e, p + (<usize>SUM_K << 2));
    let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0;
    for (; p < pe; p += 4, w += 32) {
      const x = v128.load32_splat(ap + p);
      a0 = madd(x, v128.load(w), a0);
      a1 = madd(x, v128.load(w, 16), a1);
      b0 = madd(x, v128.load(w + wb), b0);
      b1 = madd(x, v128.load(w + wb, 16), b1);
      c0 = madd(x, v128.load(w + wc), c0);
      c1 = madd(x, v128.load(w + wc, 16), c1);
    }
    storeRow(cp, STRIP, a0, a1, a);
    storeRow(cp + 32, STRIP, b0, b1, a);
    storeRow(cp + 64, STRIP, c0, c1, a);
    a = true;
  } while (p < e);
}

/** row1x8 without SIMD (the scalar build): one dot product per column along the strip. */
function row1Scalar(cp: usize, cols: i32, ap: usize, strip: usize, k: i32, acc: bool): void {
  for (let col = 0; col < cols; col++) {
    let w = strip + (<usize>col << 2);
    const o = cp + (<usize>col << 2);
    let p = 0, a = acc;
    do {
      const pe = min(k, p + SUM_K);
      let sum: f32 = 0;
      for (; p < pe; p++, w += 32) sum += load<f32>(ap + (<usize>p << 2)) * load<f32>(w);
      store<f32>(o, a ? load<f32>(o) + sum : sum);
      a = true;
    } while (p < k);
  }
}
