// Matrix products: GEMM (fully connected layers, matmul, ONNX Gemm) and its helpers.
// Every matrix is row-major f32; pointers are byte addresses (4-byte aligned, 16 recommended).
// No kernel here allocates or needs a workspace from the caller: each transpose case has its own
// loop order, and panel's packed strips go to a small scratch each wasm instance is given once
// (gemm_set_strip_scratch).
//
// Paths of gemm_f32 (after normalising: a 1-row A or a 1-column B is a plain vector, so its
// transpose flag does not matter):
//   n == 1, A transposed              -> gemv_rows: streams A row by row
// (a 1-row A with B not transposed takes panel, whose k-blocks give its row the bits of the same
// row in a taller A: a batch-1 dense layer equals that row of a batch)
//   B not transposed (NN, TN)         -> panel: 4 x 8 register tiles (3 x 12 first in the relaxed
//                                        build), A broadcast, v128 of B
//   A not transposed, B transposed    -> dots: 2 x 4 tiles of dot products along k (rows of A, B),
//                                        3 x 3 first in the relaxed build
//   both transposed                   -> panel on C^T = B . A with a transposed store
// k is cut into blocks of KC (DOTS_KC for dots) so the reused panel of the right-hand operand stays
// in cache; panel copies B's column strips to the scratch first when B's rows are a multiple of
// 2 KB apart (packStrips). Every tile sums a block (SUM_KC steps in panel, DOTS_KC in dots) from
// zero and adds it to C, so float32 error grows with the block, not with k. gemm_f32_strided takes the same paths with explicit row strides.

import { madd } from "./simd";

/** k-block length: 4 rows x KC floats of A (NN) or 4 rows of B (NT) stay in L1. */
const KC: i32 = 256;
/** panel's tiles sum SUM_KC steps of k from zero, then add them to C: float32 chains of 64 products,
 *  not k (error against float64: tests/conv-precision.test.ts; dots: DOTS_KC / 4 per lane). */
const SUM_KC: i32 = 64;
/** Column-block width of B (NN, TN; a multiple of 8, the register tile): a KC x NC block of B
 *  (512 KB) stays in L2 while every row of A passes over it. Without it, a B wider than L2 is
 *  read from memory once per 4 rows of A (scripts/bench-gemm.mjs --case blocks). */
const NC: i32 = 512;
/** k-block length of dots (A . B^T): 1024 (KC's 256 left a 3 x 3 tile 64 steps, its sums and C
 *  update a large share of them); 3 rows of A and B stay in L1, the block's m rows of A in L2. */
const DOTS_KC: i32 = ASC_FEATURE_SIMD ? 1024 : 256; // scalar build: one chain per block, not 4 lanes

/**
 * C (m x n) = (accumulate != 0 ? C : 0) + op(A) . op(B), all row-major.
 * A is m x k (k x m when trans_a != 0, op(A) = A^T); B is k x n (n x k when trans_b != 0).
 * C must not overlap A or B. With k == 0, C is zeroed (or left alone when accumulating).
 */
export function gemm_f32(
  c: usize, a: usize, b: usize, m: i32, n: i32, k: i32, trans_a: i32, trans_b: i32, accumulate: i32,
): void {
  gemm_f32_block(c, a, b, m, n, k, trans_a, trans_b, accumulate, 0, m, 0, n);
}

/**
 * The block rows [i0, i1) x columns [j0, j1) of gemm_f32 (same arguments): threads each run one
 * block of one product. Blocks that start at multiples of 8 (or 0) give every element the same
 * bits as one full gemm_f32 call (in the relaxed builds, relaxed and relaxed-threads, A . B^T's
 * column blocks need multiples of 24: its dots take columns 3 at a time before 4 at a time, and
 * sum the last n % 3 another way; the host's gemmColumnAlign, src/threads/parallel.ts).
 */
export function gemm_f32_block(
  c: usize, a: usize, b: usize, m: i32, n: i32, k: i32, trans_a: i32, trans_b: i32, accumulate: i32,
  i0: i32, i1: i32, j0: i32, j1: i32,
): void {
  i0 = max(i0, 0); i1 = min(i1, m);
  j0 = max(j0, 0); j1 = min(j1, n);
  if (i0 >= i1 || j0 >= j1) return;
  const bm = i1 - i0, bn = j1 - j0;
  const acc = accumulate != 0;
  const cb = c + ((<usize>i0 * <usize>n + <usize>j0) << 2); // C[i0, j0]
  if (k <= 0) {
    if (!acc) {
      for (let i = 0; i < bm; i++) zero(cb + ((<usize>i * <usize>n) << 2), bn);
    }
    return;
  }
  let ta = trans_a != 0;
  let tb = trans_b != 0;
  if (m == 1) ta = false; // a 1 x k row and a k x 1 column have the same bytes
  if (n == 1 && !ta) tb = true; // b as a 1 x k row: C = A . b is m dot products
  const ai = a + (<usize>i0 << 2) * (ta ? 1 : <usize>k); // row i0 of op(A)
  if (n == 1 && ta) {
    gemv_rows(cb, b, ai, k, bm, m, acc); // C^T (1 x m) = b^T (1 x k) . A (k x m)
  } else if (!tb) {
    // L = op(A): element (i, p) at (ta ? p*m + i : i*k + p); R = B (k x n), NC columns at a time
    for (let jc = 0; jc < bn; jc += NC) {
      panel(cb + (<usize>jc << 2), n, false, ai, ta ? 1 : k, ta ? m : 1, b + (<usize>(j0 + jc) << 2), n, bm, min(NC, bn - jc), k, acc);
    }
  } else if (!ta) {
    dots(cb, n, ai, k, b + ((<usize>j0 * <usize>k) << 2), k, bm, bn, k, acc);
  } else {
    // C^T (n x m) = B (n x k) . A (k x m), written transposed into C.
    panel(cb, n, true, b + ((<usize>j0 * <usize>k) << 2), k, 1, ai, m, bn, bm, k, acc);
  }
}

/**
 * Columns [j0, j1) of C (m x n, row stride ldc) (+)= op(A) . op(B) with explicit row strides
 * (elements): A is m x k with row stride lda (trans_a != 0: A is k x m, op(A) = A^T); B is k x n
 * with row stride ldb (trans_b != 0: B is n x k, op(B) = B^T, dot products along rows; trans_a is
 * then ignored). Submatrices of NHWC tensors (a pixel's channels across a batch) are operands as
 * they lie: src/ops/conv2d_tiny.ts runs the convs of tiny images on it. Any column split gives
 * the bits of one whole call at multiples of 8 (of 24 with trans_b in the relaxed builds, as in
 * gemm_f32_block). C must not overlap A or B; k <= 0 zeroes C's columns
 * (or leaves them when accumulating).
 */
export function gemm_f32_strided(
  c: usize, ldc: i32, a: usize, lda: i32, b: usize, ldb: i32, m: i32, n: i32, k: i32, trans_a: i32, trans_b: i32,
  accumulate: i32, j0: i32, j1: i32,
): void {
  j0 = max(j0, 0); j1 = min(j1, n);
  if (m <= 0 || j0 >= j1) return;
  const acc = accumulate != 0;
  const cb = c + (<usize>j0 << 2);
  if (k <= 0) {
    if (!acc) {
      for (let i = 0; i < m; i++) zero(cb + ((<usize>i * <usize>ldc) << 2), j1 - j0);
    }
    return;
  }
  if (trans_b != 0) {
    dots(cb, ldc, a, lda, b + ((<usize>j0 * <usize>ldb) << 2), ldb, m, j1 - j0, k, acc);
    return;
  }
  const ta = trans_a != 0;
  for (let jc = j0; jc < j1; jc += NC) {
    panel(c + (<usize>jc << 2), ldc, false, a, ta ? 1 : lda, ta ? lda : 1, b + (<usize>jc << 2), ldb, m, min(NC, j1 - jc), k, acc);
  }
}

/**
 * dst (cols x rows) = src (rows x cols)^T, both row-major; dst must not overlap src. 4x4 blocks
 * move as vectors (transposed by shuffles). Lets the host run an A . B^T product as A . (B^T)
 * on the panel kernel, faster than dot products where k is small.
 */
export function transpose_f32(dst: usize, src: usize, rows: i32, cols: i32): void {
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    for (; r + 4 <= rows; r += 4) {
      let c = 0;
      for (; c + 4 <= cols; c += 4) {
        const s0 = src + ((<usize>r * <usize>cols + <usize>c) << 2), rs = <usize>cols << 2;
        const a0 = v128.load(s0), a1 = v128.load(s0 + rs), a2 = v128.load(s0 + 2 * rs), a3 = v128.load(s0 + 3 * rs);
        const l01 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), h01 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7);
        const l23 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), h23 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
        const d0 = dst + ((<usize>c * <usize>rows + <usize>r) << 2), ds = <usize>rows << 2;
        v128.store(d0, v128.shuffle<f32>(l01, l23, 0, 1, 4, 5));
        v128.store(d0 + ds, v128.shuffle<f32>(l01, l23, 2, 3, 6, 7));
        v128.store(d0 + 2 * ds, v128.shuffle<f32>(h01, h23, 0, 1, 4, 5));
        v128.store(d0 + 3 * ds, v128.shuffle<f32>(h01, h23, 2, 3, 6, 7));
      }
      for (; c < cols; c++) {
        for (let i = 0; i < 4; i++) {
          store<f32>(dst + ((<usize>c * <usize>rows + <usize>(r + i)) << 2), load<f32>(src + ((<usize>(r + i) * <usize>cols + <usize>c) << 2)));
        }
      }
    }
  }
  for (; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      store<f32>(dst + ((<usize>c * <usize>rows + <usize>r) << 2), load<f32>(src + ((<usize>r * <usize>cols + <usize>c) << 2)));
    }
  }
}

/** y[i] *= alpha for i < n (scales a gemm result: ONNX Gemm alpha). y may be any f32 array. */
export function scale_f32(y: usize, alpha: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f32x4.splat(alpha);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, f32x4.mul(v128.load(y + o), va));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) * alpha);
  }
}

/**
 * Broadcast axpy: y[i, j] += alpha * x[i * xrs + j * xcs] for y row-major m x n.
 * Strides (in elements) of 0 broadcast: [n] -> (0, 1), [m, 1] -> (1, 0), [m, n] -> (n, 1),
 * scalar -> (0, 0). Adds ONNX Gemm's beta * C.
 */
export function axpy_broadcast_f32(y: usize, x: usize, alpha: f32, m: i32, n: i32, xrs: i32, xcs: i32): void {
  for (let i = 0; i < m; i++) {
    const yr = y + (<usize>i * <usize>n << 2);
    const xr = x + (<usize>i * <usize>xrs << 2);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const va = f32x4.splat(alpha);
      if (xcs == 1) {
        for (; j + 4 <= n; j += 4) {
          const o = <usize>j << 2;
          v128.store(yr + o, madd(va, v128.load(xr + o), v128.load(yr + o)));
        }
      } else if (xcs == 0) {
        const vx = f32x4.mul(va, v128.load32_splat(xr));
        for (; j + 4 <= n; j += 4) {
          const o = <usize>j << 2;
          v128.store(yr + o, f32x4.add(v128.load(yr + o), vx));
        }
      }
    }
    for (; j < n; j++) {
      const o = <usize>j << 2;
      store<f32>(yr + o, load<f32>(yr + o) + alpha * load<f32>(xr + (<usize>j * <usize>xcs << 2)));
    }
  }
}

/**
 * Broadcast reduction (the backward of axpy_broadcast_f32): dx[i * xrs + j * xcs] += alpha * dy[i, j]
 * for dy row-major m x n, summing over every broadcast (stride 0) dimension.
 */
export function axpy_reduce_f32(dx: usize, dy: usize, alpha: f32, m: i32, n: i32, xrs: i32, xcs: i32): void {
  for (let i = 0; i < m; i++) {
    const yr = dy + (<usize>i * <usize>n << 2);
    const xr = dx + (<usize>i * <usize>xrs << 2);
    let j = 0;
    let s: f32 = 0; // running sum when every j of this row maps to one dx element
    if (ASC_FEATURE_SIMD) {
      const va = f32x4.splat(alpha);
      if (xcs == 1) {
        for (; j + 4 <= n; j += 4) {
          const o = <usize>j << 2;
          v128.store(xr + o, madd(va, v128.load(yr + o), v128.load(xr + o)));
        }
      } else if (xcs == 0) {
        let vs = f32x4.splat(0);
        for (; j + 4 <= n; j += 4) vs = f32x4.add(vs, v128.load(yr + (<usize>j << 2)));
        s = f32x4.extract_lane(vs, 0) + f32x4.extract_lane(vs, 1) + f32x4.extract_lane(vs, 2) + f32x4.extract_lane(vs, 3);
      }
    }
    if (xcs == 0) {
      for (; j < n; j++) s += load<f32>(yr + (<usize>j << 2));
      store<f32>(xr, load<f32>(xr) + alpha * s);
    } else {
      for (; j < n; j++) {
        const o = <usize>j * <usize>xcs << 2;
        store<f32>(xr + o, load<f32>(xr + o) + alpha * load<f32>(yr + (<usize>j << 2)));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Internal loops.

function zero(p: usize, count: i32): void {
  memory.fill(p, 0, <usize>count << 2);
}

/**
 * y[j] (+)= sum_p x[p] * w[p, j] for j < n, w row-major k rows of stride ld (>= n) elements,
 * x contiguous (k), y contiguous (n). Streams w row by row, 4 rows per pass over y.
 */
function gemv_rows(y: usize, x: usize, w: usize, k: i32, n: i32, ld: i32, acc: bool): void {
  if (!acc) zero(y, n);
  const ldw = <usize>ld << 2;
  let p = 0;
  for (; p + 4 <= k; p += 4) {
    const x0 = load<f32>(x + (<usize>p << 2));
    const x1 = load<f32>(x + (<usize>p << 2), 4);
    const x2 = load<f32>(x + (<usize>p << 2), 8);
    const x3 = load<f32>(x + (<usize>p << 2), 12);
    const w0 = w + <usize>p * ldw;
    const w1 = w0 + ldw;
    const w2 = w1 + ldw;
    const w3 = w2 + ldw;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const v0 = f32x4.splat(x0), v1 = f32x4.splat(x1), v2 = f32x4.splat(x2), v3 = f32x4.splat(x3);
      for (; j + 8 <= n; j += 8) {
        const o = <usize>j << 2;
        let s0 = v128.load(y + o);
        let s1 = v128.load(y + o, 16);
        s0 = madd(v0, v128.load(w0 + o), s0);
        s1 = madd(v0, v128.load(w0 + o, 16), s1);
        s0 = madd(v1, v128.load(w1 + o), s0);
        s1 = madd(v1, v128.load(w1 + o, 16), s1);
        s0 = madd(v2, v128.load(w2 + o), s0);
        s1 = madd(v2, v128.load(w2 + o, 16), s1);
        s0 = madd(v3, v128.load(w3 + o), s0);
        s1 = madd(v3, v128.load(w3 + o, 16), s1);
        v128.store(y + o, s0);
        v128.store(y + o, s1, 16);
      }
      for (; j + 4 <= n; j += 4) {
        const o = <usize>j << 2;
        let s0 = v128.load(y + o);
        s0 = madd(v0, v128.load(w0 + o), s0);
        s0 = madd(v1, v128.load(w1 + o), s0);
        s0 = madd(v2, v128.load(w2 + o), s0);
        s0 = madd(v3, v128.load(w3 + o), s0);
        v128.store(y + o, s0);
      }
    }
    for (; j < n; j++) {
      const o = <usize>j << 2;
      store<f32>(y + o, load<f32>(y + o) + x0 * load<f32>(w0 + o) + x1 * load<f32>(w1 + o) + x2 * load<f32>(w2 + o) + x3 * load<f32>(w3 + o));
    }
  }
  for (; p < k; p++) {
    const xp = load<f32>(x + (<usize>p << 2));
    const wr = w + <usize>p * ldw;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const vx = f32x4.splat(xp);
      for (; j + 4 <= n; j += 4) {
        const o = <usize>j << 2;
        v128.store(y + o, madd(vx, v128.load(wr + o), v128.load(y + o)));
      }
    }
    for (; j < n; j++) {
      const o = <usize>j << 2;
      store<f32>(y + o, load<f32>(y + o) + xp * load<f32>(wr + o));
    }
  }
}

/** The running value of an output element: C itself when accumulating, else 0. */
// @ts-ignore: decorator
@inline function getC(cp: usize, acc: bool): f32 {
  return acc ? load<f32>(cp) : 0;
}

/** Stores a k-block's sum v to an output element: C + v when accumulating (C, or the k-blocks
 *  before), else v. Each k-block sums from zero, so an element's error grows with KC, not k. */
// @ts-ignore: decorator
@inline function putC(cp: usize, v: f32, acc: bool): void {
  store<f32>(cp, acc ? load<f32>(cp) + v : v);
}

/** Stores the 4 lanes of v to output elements (r, s..s+3): one v128 store, or 4 strided scalars. */
// @ts-ignore: decorator
@inline function put4(cp: usize, sstep: usize, tout: bool, v: v128, acc: bool): void {
  if (!tout) {
    v128.store(cp, acc ? f32x4.add(v128.load(cp), v) : v);
  } else {
    store<f32>(cp, getC(cp, acc) + f32x4.extract_lane(v, 0));
    store<f32>(cp + sstep, getC(cp + sstep, acc) + f32x4.extract_lane(v, 1));
    store<f32>(cp + 2 * sstep, getC(cp + 2 * sstep, acc) + f32x4.extract_lane(v, 2));
    store<f32>(cp + 3 * sstep, getC(cp + 3 * sstep, acc) + f32x4.extract_lane(v, 3));
  }
}

/**
 * This instance's scratch for one packed strip of R (KC rows x 12 floats, 16-byte aligned), or 0
 * (no packing). Set by the host per wasm instance (gemm_set_strip_scratch): each worker's instance
 * has its own (a mutable global is per instance, the shared memory is not).
 */
let stripScratch: usize = 0;

/** Bytes of the strip scratch an instance needs (0 in the scalar build, which never packs). */
export function gemm_strip_scratch_bytes(): i32 {
  return ASC_FEATURE_SIMD ? KC * 12 * 4 : 0;
}

/** Sets this instance's strip scratch (0: none). The host calls it once per instance. */
export function gemm_set_strip_scratch(p: usize): void {
  stripScratch = p;
}

/**
 * Whether panel copies R's column strips to the scratch first: when R's rows are a multiple of
 * 2 KB apart, a strip's rows (one cache line each) all fall in the same few L1 sets and evict each
 * other between the row tiles that reuse them; rows 16 floats further apart do not. Under 24 rows
 * the copy does not pay (B streamed from memory either way), nor when L is transposed with its k
 * steps 2 KB apart too (a pointwise conv's filter gradient). Cases: scripts/bench-gemm.mjs --case
 * strips, --case "pointwise filter".
 */
// @ts-ignore: decorator
@inline function packStrips(ldrb: usize, lpsb: usize, rows: i32, cols: i32): bool {
  return ASC_FEATURE_SIMD && stripScratch != 0 && (ldrb & 2047) == 0 && rows >= 24 && cols >= 8 && !(lpsb > 4 && (lpsb & 2047) == 0);
}

/** Rows of L a packed strip serves before the next strip is copied: L's block (MC x KC floats) stays in L2. */
const MC: i32 = 96;

/**
 * T (rows x cols) (+)= L (rows x k) . R (k x cols). L element (r, p) at l + 4*(r*lrs + p*lps);
 * R row-major with row stride ldr (elements). T element (r, s) is C[r, s] (row stride ldc), or
 * C[s, r] when tout. Per k-block, the first cols12(cols) columns go in 3 x 12 register tiles
 * (tiles3x12), the rest in 4 x 8 tiles and narrower (panelBlock). Every element sums its products
 * in p order with the same madd in every tile, so the split never changes a bit.
 */
function panel(
  c: usize, ldc: i32, tout: bool, l: usize, lrs: i32, lps: i32, r: usize, ldr: i32,
  rows: i32, cols: i32, k: i32, accumulate: bool,
): void {
  const rstep: usize = tout ? 4 : <usize>ldc << 2; // bytes between output rows r and r+1
  const sstep: usize = tout ? <usize>ldc << 2 : 4; // bytes between output columns s and s+1
  const lrsb = <usize>lrs << 2;
  const lpsb = <usize>lps << 2;
  const ldrb = <usize>ldr << 2;
  const wide = ASC_FEATURE_RELAXED_SIMD && rows >= 3 ? cols12(cols) : 0;
  if (packStrips(ldrb, lpsb, rows, cols)) {
    panelPacked(c, rstep, sstep, tout, l, lrsb, lpsb, r, ldrb, rows, cols, k, accumulate, wide);
    return;
  }
  for (let p0 = 0; p0 < k; p0 += KC) {
    const kc = min(KC, k - p0);
    const acc = accumulate || p0 > 0;
    const lblock = l + <usize>p0 * lpsb;
    const rblock = r + <usize>p0 * ldrb;
    // 12 rows at a time (both tiles' heights divide it): their kc floats of L stay in L1 while
    // every column of the block passes
    for (let i0 = 0; i0 < rows; i0 += 12) {
      const rb = min(12, rows - i0);
      const ci = c + <usize>i0 * rstep;
      for (let q0 = 0; q0 < kc; q0 += SUM_KC) {
        const qc = min(SUM_KC, kc - q0), qa = acc || q0 > 0;
        const li = lblock + <usize>i0 * lrsb + <usize>q0 * lpsb;
        const rq = rblock + <usize>q0 * ldrb;
        if (wide > 0) {
          const rb3 = rb - rb % 3;
          tiles3x12(ci, rstep, sstep, tout, li, lrsb, lpsb, rq, ldrb, rb3, wide, qc, qa);
          // the last rows % 3 rows of those columns, one at a time
          panelBlock(ci + <usize>rb3 * rstep, rstep, sstep, tout, li + <usize>rb3 * lrsb, lrsb, lpsb, rq, ldrb, rb - rb3, wide, qc, qa);
        }
        panelBlock(ci + <usize>wide * sstep, rstep, sstep, tout, li, lrsb, lpsb, rq + (<usize>wide << 2), ldrb, rb, cols - wide, qc, qa);
      }
    }
  }
}

/**
 * panel (arguments in bytes) with R's strips copied to this instance's scratch: per k-block, per
 * MC rows, per strip (12 columns in the 3 x 12 tiles' part, then 8, the last narrower) the strip
 * is packed (its rows 48 or 32 bytes apart) and every row of the block passes over it in L1. The
 * tiles and the columns each takes are panel's, so are the bits.
 */
function panelPacked(
  c: usize, rstep: usize, sstep: usize, tout: bool, l: usize, lrsb: usize, lpsb: usize, r: usize, ldrb: usize,
  rows: i32, cols: i32, k: i32, accumulate: bool, wide: i32,
): void {
  const scratch = stripScratch;
  for (let p0 = 0; p0 < k; p0 += KC) {
    const kc = min(KC, k - p0);
    const acc = accumulate || p0 > 0;
    const lblock = l + <usize>p0 * lpsb;
    const rblock = r + <usize>p0 * ldrb;
    for (let i0 = 0; i0 < rows; i0 += MC) {
      const rb = min(MC, rows - i0);
      const ci = c + <usize>i0 * rstep;
      const li = lblock + <usize>i0 * lrsb;
      for (let j = 0; j < cols; ) {
        const w = j < wide ? 12 : min(8, cols - j);
        const wb = <usize>w << 2;
        packStrip(scratch, rblock + (<usize>j << 2), ldrb, kc, w);
        const cj = ci + <usize>j * sstep;
        for (let q0 = 0; q0 < kc; q0 += SUM_KC) {
          const qc = min(SUM_KC, kc - q0), qa = acc || q0 > 0;
          const lq = li + <usize>q0 * lpsb, sq = scratch + <usize>q0 * wb;
          if (j < wide) {
            const rb3 = rb - rb % 3;
            tiles3x12(cj, rstep, sstep, tout, lq, lrsb, lpsb, sq, wb, rb3, 12, qc, qa);
            panelBlock(cj + <usize>rb3 * rstep, rstep, sstep, tout, lq + <usize>rb3 * lrsb, lrsb, lpsb, sq, wb, rb - rb3, 12, qc, qa);
          } else {
            panelBlock(cj, rstep, sstep, tout, lq, lrsb, lpsb, sq, wb, rb, w, qc, qa);
          }
        }
        j += w;
      }
    }
  }
}

/** dst (kc rows of w <= 12 floats, contiguous) = the w-column strip of R at src (rows ldrb bytes apart). */
function packStrip(dst: usize, src: usize, ldrb: usize, kc: i32, w: i32): void {
  const wb = <usize>w << 2;
  if (ASC_FEATURE_SIMD && (w == 12 || w == 8)) {
    for (let p = 0; p < kc; p++, src += ldrb, dst += wb) {
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
      if (w == 12) v128.store(dst, v128.load(src, 32), 32);
    }
    return;
  }
  for (let p = 0; p < kc; p++, src += ldrb, dst += wb) memory.copy(dst, src, wb);
}

/**
 * How many leading columns go in 3 x 12 tiles: a multiple of 12 that leaves the vector columns
 * after it in 8-wide tiles (64 -> 48 + 16, not 60 + 4: a 4-column tile has only 4 accumulators).
 * Why 3 x 12: 9 accumulators. A 4 x 8 tile's 8 multiply-add chains of 4-cycle latency only just
 * fill two FMA pipes, and V8 mostly hoists an iteration's loads above its arithmetic, so a tile
 * needs accumulators + rows + column vectors <= 15 xmm registers: 3 x 12 uses all 15 (5 x 8 and
 * 6 x 8 spill). Measured against 4 x 8 on the conv1x1 cases of `npm run bench`: never slower.
 * Relaxed build only: with f32x4.mul + add each product needs one more register, and the tile spills.
 */
function cols12(cols: i32): i32 {
  let q = cols / 12;
  if (q > 0 && (cols & ~3) - 12 * q == 4) q--;
  return 12 * q;
}

/** T (rows x cols) (+)= L . R for one k-block of kc: 3 x 12 tiles; rows % 3 == 0, cols % 12 == 0. */
function tiles3x12(
  c: usize, rstep: usize, sstep: usize, tout: bool, lblock: usize, lrsb: usize, lpsb: usize,
  rblock: usize, ldrb: usize, rows: i32, cols: i32, kc: i32, acc: bool,
): void {
  if (!ASC_FEATURE_RELAXED_SIMD) return;
  const s4 = 4 * sstep;
  const lrsb2 = 2 * lrsb;
  for (let i = 0; i < rows; i += 3) {
    const l0 = lblock + <usize>i * lrsb;
    const crow = c + <usize>i * rstep;
    for (let j = 0; j < cols; j += 12) {
      const c0 = crow + <usize>j * sstep;
      const c1 = c0 + rstep, c2 = c1 + rstep;
      let t00 = f32x4.splat(0), t01 = f32x4.splat(0), t02 = f32x4.splat(0);
      let t10 = f32x4.splat(0), t11 = f32x4.splat(0), t12 = f32x4.splat(0);
      let t20 = f32x4.splat(0), t21 = f32x4.splat(0), t22 = f32x4.splat(0);
      let pr = rblock + (<usize>j << 2);
      const prEnd = pr + <usize>kc * ldrb;
      let pa = l0;
      do {
        const b0 = v128.load(pr), b1 = v128.load(pr, 16), b2 = v128.load(pr, 32);
        let av = v128.load32_splat(pa);
        t00 = madd(av, b0, t00);
        t01 = madd(av, b1, t01);
        t02 = madd(av, b2, t02);
        av = v128.load32_splat(pa + lrsb);
        t10 = madd(av, b0, t10);
        t11 = madd(av, b1, t11);
        t12 = madd(av, b2, t12);
        av = v128.load32_splat(pa + lrsb2);
        t20 = madd(av, b0, t20);
        t21 = madd(av, b1, t21);
        t22 = madd(av, b2, t22);
        pr += ldrb;
        pa += lpsb;
      } while (pr != prEnd);
      put4(c0, sstep, tout, t00, acc);
      put4(c0 + s4, sstep, tout, t01, acc);
      put4(c0 + 2 * s4, sstep, tout, t02, acc);
      put4(c1, sstep, tout, t10, acc);
      put4(c1 + s4, sstep, tout, t11, acc);
      put4(c1 + 2 * s4, sstep, tout, t12, acc);
      put4(c2, sstep, tout, t20, acc);
      put4(c2 + s4, sstep, tout, t21, acc);
      put4(c2 + 2 * s4, sstep, tout, t22, acc);
    }
  }
}

/**
 * T (rows x cols) (+)= L . R for one k-block of kc (panel's arguments in bytes): 4 x 8 register
 * tiles (8 v128 accumulators), then 4 x 4, then scalar columns; rows % 4 one at a time.
 * The 3 x 12 and 4 x 8 k loops run on two pointers, a do-while to R's end (kc >= 1, ldrb > 0):
 * fewer live integer registers than a counter and an offset (measured: faster in the strict build
 * on a loaded machine, slightly slower on an idle one, no change in the relaxed build;
 * scripts/bench-gemm.mjs --case NN).
 */
function panelBlock(
  c: usize, rstep: usize, sstep: usize, tout: bool, lblock: usize, lrsb: usize, lpsb: usize,
  rblock: usize, ldrb: usize, rows: i32, cols: i32, kc: i32, acc: bool,
): void {
  const lrsb2 = 2 * lrsb, lrsb3 = 3 * lrsb;
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    const l0 = lblock + <usize>i * lrsb;
    const l1 = l0 + lrsb, l2 = l1 + lrsb, l3 = l2 + lrsb;
    const crow = c + <usize>i * rstep;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 8 <= cols; j += 8) {
        const c0 = crow + <usize>j * sstep;
        const c1 = c0 + rstep, c2 = c1 + rstep, c3 = c2 + rstep;
        const s4 = 4 * sstep;
        let t00 = f32x4.splat(0), t01 = f32x4.splat(0);
        let t10 = f32x4.splat(0), t11 = f32x4.splat(0);
        let t20 = f32x4.splat(0), t21 = f32x4.splat(0);
        let t30 = f32x4.splat(0), t31 = f32x4.splat(0);
        let pr = rblock + (<usize>j << 2);
        const prEnd = pr + <usize>kc * ldrb;
        let pa = l0;
        do {
          const b0 = v128.load(pr);
          const b1 = v128.load(pr, 16);
          let av = v128.load32_splat(pa);
          t00 = madd(av, b0, t00);
          t01 = madd(av, b1, t01);
          av = v128.load32_splat(pa + lrsb);
          t10 = madd(av, b0, t10);
          t11 = madd(av, b1, t11);
          av = v128.load32_splat(pa + lrsb2);
          t20 = madd(av, b0, t20);
          t21 = madd(av, b1, t21);
          av = v128.load32_splat(pa + lrsb3);
          t30 = madd(av, b0, t30);
          t31 = madd(av, b1, t31);
          pr += ldrb;
          pa += lpsb;
        } while (pr != prEnd);
        put4(c0, sstep, tout, t00, acc);
        put4(c0 + s4, sstep, tout, t01, acc);
        put4(c1, sstep, tout, t10, acc);
        put4(c1 + s4, sstep, tout, t11, acc);
        put4(c2, sstep, tout, t20, acc);
        put4(c2 + s4, sstep, tout, t21, acc);
        put4(c3, sstep, tout, t30, acc);
        put4(c3 + s4, sstep, tout, t31, acc);
      }
      for (; j + 4 <= cols; j += 4) {
        const c0 = crow + <usize>j * sstep;
        const c1 = c0 + rstep, c2 = c1 + rstep, c3 = c2 + rstep;
        let t0 = f32x4.splat(0), t1 = f32x4.splat(0);
        let t2 = f32x4.splat(0), t3 = f32x4.splat(0);
        let pr = rblock + (<usize>j << 2);
        let o: usize = 0;
        for (let p = 0; p < kc; p++) {
          const b0 = v128.load(pr);
          t0 = madd(v128.load32_splat(l0 + o), b0, t0);
          t1 = madd(v128.load32_splat(l1 + o), b0, t1);
          t2 = madd(v128.load32_splat(l2 + o), b0, t2);
          t3 = madd(v128.load32_splat(l3 + o), b0, t3);
          pr += ldrb;
          o += lpsb;
        }
        put4(c0, sstep, tout, t0, acc);
        put4(c1, sstep, tout, t1, acc);
        put4(c2, sstep, tout, t2, acc);
        put4(c3, sstep, tout, t3, acc);
      }
    }
    // Scalar: 4 x 2 tiles (the whole scalar build), then single columns.
    for (; j + 2 <= cols; j += 2) {
      const c0 = crow + <usize>j * sstep;
      const c1 = c0 + rstep, c2 = c1 + rstep, c3 = c2 + rstep;
      let t00: f32 = 0, t01: f32 = 0;
      let t10: f32 = 0, t11: f32 = 0;
      let t20: f32 = 0, t21: f32 = 0;
      let t30: f32 = 0, t31: f32 = 0;
      let pr = rblock + (<usize>j << 2);
      let o: usize = 0;
      for (let p = 0; p < kc; p++) {
        const b0 = load<f32>(pr), b1 = load<f32>(pr, 4);
        const a0 = load<f32>(l0 + o), a1 = load<f32>(l1 + o), a2 = load<f32>(l2 + o), a3 = load<f32>(l3 + o);
        t00 += a0 * b0;
        t01 += a0 * b1;
        t10 += a1 * b0;
        t11 += a1 * b1;
        t20 += a2 * b0;
        t21 += a2 * b1;
        t30 += a3 * b0;
        t31 += a3 * b1;
        pr += ldrb;
        o += lpsb;
      }
      putC(c0, t00, acc);
      putC(c0 + sstep, t01, acc);
      putC(c1, t10, acc);
      putC(c1 + sstep, t11, acc);
      putC(c2, t20, acc);
      putC(c2 + sstep, t21, acc);
      putC(c3, t30, acc);
      putC(c3 + sstep, t31, acc);
    }
    for (; j < cols; j++) {
      const c0 = crow + <usize>j * sstep;
      const c1 = c0 + rstep, c2 = c1 + rstep, c3 = c2 + rstep;
      let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
      let pr = rblock + (<usize>j << 2);
      let o: usize = 0;
      for (let p = 0; p < kc; p++) {
        const b0 = load<f32>(pr);
        t0 += load<f32>(l0 + o) * b0;
        t1 += load<f32>(l1 + o) * b0;
        t2 += load<f32>(l2 + o) * b0;
        t3 += load<f32>(l3 + o) * b0;
        pr += ldrb;
        o += lpsb;
      }
      putC(c0, t0, acc);
      putC(c1, t1, acc);
      putC(c2, t2, acc);
      putC(c3, t3, acc);
    }
  }
  // Remaining rows (rows % 4), one at a time.
  for (; i < rows; i++) {
    const l0 = lblock + <usize>i * lrsb;
    const crow = c + <usize>i * rstep;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 16 <= cols; j += 16) {
        const c0 = crow + <usize>j * sstep;
        const s4 = 4 * sstep;
        let t0 = f32x4.splat(0), t1 = f32x4.splat(0);
        let t2 = f32x4.splat(0), t3 = f32x4.splat(0);
        let pr = rblock + (<usize>j << 2);
        let o: usize = 0;
        for (let p = 0; p < kc; p++) {
          const av = v128.load32_splat(l0 + o);
          t0 = madd(av, v128.load(pr), t0);
          t1 = madd(av, v128.load(pr, 16), t1);
          t2 = madd(av, v128.load(pr, 32), t2);
          t3 = madd(av, v128.load(pr, 48), t3);
          pr += ldrb;
          o += lpsb;
        }
        put4(c0, sstep, tout, t0, acc);
        put4(c0 + s4, sstep, tout, t1, acc);
        put4(c0 + 2 * s4, sstep, tout, t2, acc);
        put4(c0 + 3 * s4, sstep, tout, t3, acc);
      }
      for (; j + 4 <= cols; j += 4) {
        const c0 = crow + <usize>j * sstep;
        let t0 = f32x4.splat(0);
        let pr = rblock + (<usize>j << 2);
        let o: usize = 0;
        for (let p = 0; p < kc; p++) {
          t0 = madd(v128.load32_splat(l0 + o), v128.load(pr), t0);
          pr += ldrb;
          o += lpsb;
        }
        put4(c0, sstep, tout, t0, acc);
      }
    }
    for (; j < cols; j++) {
      const c0 = crow + <usize>j * sstep;
      let t0: f32 = 0;
      let pr = rblock + (<usize>j << 2);
      let o: usize = 0;
      for (let p = 0; p < kc; p++) {
        t0 += load<f32>(l0 + o) * load<f32>(pr);
        pr += ldrb;
        o += lpsb;
      }
      putC(c0, t0, acc);
    }
  }
}

/** [hsum(x0), hsum(x1), hsum(x2), hsum(x3)]: four horizontal sums in one vector. */
// @ts-ignore: decorator
@inline function hsum4(x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  const u01 = f32x4.add(f32x4.shuffle(x0, x1, 0, 4, 1, 5), f32x4.shuffle(x0, x1, 2, 6, 3, 7));
  const u23 = f32x4.add(f32x4.shuffle(x2, x3, 0, 4, 1, 5), f32x4.shuffle(x2, x3, 2, 6, 3, 7));
  return f32x4.add(f32x4.shuffle(u01, u23, 0, 1, 4, 5), f32x4.shuffle(u01, u23, 2, 3, 6, 7));
}

/**
 * C (m x n, row stride ldce elements) (+)= A (m x k) . B^T with B stored n x k, the rows of A and B
 * ldae and ldbe elements apart: every C[i, j] is a dot product of two contiguous rows. Tile: 2 rows of A x 4 rows of B, 8 v128 accumulators along k;
 * in the relaxed build 3 x 3 first (dots3). Every tile sums an element the same way (lanes over p,
 * hsum4's pairing, then the scalar p tail), so its bits do not depend on the tile.
 */
function dots(c: usize, ldce: i32, a: usize, ldae: i32, b: usize, ldbe: i32, m: i32, n: i32, k: i32, accumulate: bool): void {
  const lda = <usize>ldae << 2, ldk = <usize>ldbe << 2; // row strides of A and B (bytes)
  const ldc = <usize>ldce << 2;
  for (let p0 = 0; p0 < k; p0 += DOTS_KC) {
    const kc = min(DOTS_KC, k - p0);
    const acc = accumulate || p0 > 0;
    const ablock = a + (<usize>p0 << 2);
    const bblock = b + (<usize>p0 << 2);
    let j = 0;
    if (ASC_FEATURE_RELAXED_SIMD) {
      for (; j + 3 <= n; j += 3) dots3(c + (<usize>j << 2), ldc, ablock, lda, bblock + <usize>j * ldk, ldk, m, kc, acc);
    }
    for (; j + 4 <= n; j += 4) {
      const b0 = bblock + <usize>j * ldk;
      const b1 = b0 + ldk, b2 = b1 + ldk, b3 = b2 + ldk;
      let i = 0;
      for (; i + 2 <= m; i += 2) {
        const a0 = ablock + <usize>i * lda;
        const a1 = a0 + lda;
        const c0 = c + <usize>i * ldc + (<usize>j << 2);
        const c1 = c0 + ldc;
        let s00: f32 = 0, s01: f32 = 0, s02: f32 = 0, s03: f32 = 0;
        let s10: f32 = 0, s11: f32 = 0, s12: f32 = 0, s13: f32 = 0;
        let p = 0;
        if (ASC_FEATURE_SIMD) {
          const z = f32x4.splat(0);
          let t00 = z, t01 = z, t02 = z, t03 = z, t10 = z, t11 = z, t12 = z, t13 = z;
          for (; p + 4 <= kc; p += 4) {
            const o = <usize>p << 2;
            const x0 = v128.load(a0 + o), x1 = v128.load(a1 + o);
            let y = v128.load(b0 + o);
            t00 = madd(x0, y, t00);
            t10 = madd(x1, y, t10);
            y = v128.load(b1 + o);
            t01 = madd(x0, y, t01);
            t11 = madd(x1, y, t11);
            y = v128.load(b2 + o);
            t02 = madd(x0, y, t02);
            t12 = madd(x1, y, t12);
            y = v128.load(b3 + o);
            t03 = madd(x0, y, t03);
            t13 = madd(x1, y, t13);
          }
          const r0 = hsum4(t00, t01, t02, t03);
          const r1 = hsum4(t10, t11, t12, t13);
          s00 += f32x4.extract_lane(r0, 0);
          s01 += f32x4.extract_lane(r0, 1);
          s02 += f32x4.extract_lane(r0, 2);
          s03 += f32x4.extract_lane(r0, 3);
          s10 += f32x4.extract_lane(r1, 0);
          s11 += f32x4.extract_lane(r1, 1);
          s12 += f32x4.extract_lane(r1, 2);
          s13 += f32x4.extract_lane(r1, 3);
        }
        for (; p < kc; p++) {
          const o = <usize>p << 2;
          const x0 = load<f32>(a0 + o), x1 = load<f32>(a1 + o);
          const y0 = load<f32>(b0 + o), y1 = load<f32>(b1 + o), y2 = load<f32>(b2 + o), y3 = load<f32>(b3 + o);
          s00 += x0 * y0;
          s01 += x0 * y1;
          s02 += x0 * y2;
          s03 += x0 * y3;
          s10 += x1 * y0;
          s11 += x1 * y1;
          s12 += x1 * y2;
          s13 += x1 * y3;
        }
        putC(c0, s00, acc);
        putC(c0 + 4, s01, acc);
        putC(c0 + 8, s02, acc);
        putC(c0 + 12, s03, acc);
        putC(c1, s10, acc);
        putC(c1 + 4, s11, acc);
        putC(c1 + 8, s12, acc);
        putC(c1 + 12, s13, acc);
      }
      if (i < m) {
        // Last row of an odd m: 1 x 4 tile.
        const a0 = ablock + <usize>i * lda;
        const c0 = c + <usize>i * ldc + (<usize>j << 2);
        let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
        let p = 0;
        if (ASC_FEATURE_SIMD) {
          const z = f32x4.splat(0);
          let t0 = z, t1 = z, t2 = z, t3 = z;
          for (; p + 4 <= kc; p += 4) {
            const o = <usize>p << 2;
            const x0 = v128.load(a0 + o);
            t0 = madd(x0, v128.load(b0 + o), t0);
            t1 = madd(x0, v128.load(b1 + o), t1);
            t2 = madd(x0, v128.load(b2 + o), t2);
            t3 = madd(x0, v128.load(b3 + o), t3);
          }
          const r0 = hsum4(t0, t1, t2, t3);
          s0 += f32x4.extract_lane(r0, 0);
          s1 += f32x4.extract_lane(r0, 1);
          s2 += f32x4.extract_lane(r0, 2);
          s3 += f32x4.extract_lane(r0, 3);
        }
        for (; p < kc; p++) {
          const o = <usize>p << 2;
          const x0 = load<f32>(a0 + o);
          s0 += x0 * load<f32>(b0 + o);
          s1 += x0 * load<f32>(b1 + o);
          s2 += x0 * load<f32>(b2 + o);
          s3 += x0 * load<f32>(b3 + o);
        }
        putC(c0, s0, acc);
        putC(c0 + 4, s1, acc);
        putC(c0 + 8, s2, acc);
        putC(c0 + 12, s3, acc);
      }
    }
    // Remaining columns (n % 4): one dot product per element.
    for (; j < n; j++) {
      const b0 = bblock + <usize>j * ldk;
      for (let i = 0; i < m; i++) {
        const a0 = ablock + <usize>i * lda;
        const c0 = c + <usize>i * ldc + (<usize>j << 2);
        let s: f32 = 0;
        let p = 0;
        if (ASC_FEATURE_SIMD) {
          let t0 = f32x4.splat(0), t1 = f32x4.splat(0);
          for (; p + 8 <= kc; p += 8) {
            const o = <usize>p << 2;
            t0 = madd(v128.load(a0 + o), v128.load(b0 + o), t0);
            t1 = madd(v128.load(a0 + o, 16), v128.load(b0 + o, 16), t1);
          }
          for (; p + 4 <= kc; p += 4) {
            const o = <usize>p << 2;
            t0 = madd(v128.load(a0 + o), v128.load(b0 + o), t0);
          }
          const t = f32x4.add(t0, t1);
          s += f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1) + f32x4.extract_lane(t, 2) + f32x4.extract_lane(t, 3);
        }
        for (; p < kc; p++) {
          const o = <usize>p << 2;
          s += load<f32>(a0 + o) * load<f32>(b0 + o);
        }
        putC(c0, s, acc);
      }
    }
  }
}

/**
 * Columns j..j+2 of dots for one k-block (c at C[0, j], b at B's row j): 3 rows of A x 3 rows of B,
 * 9 accumulators (relaxed build: the 2 x 4 tile's 8 multiply-add chains leave the FMA pipes short,
 * as in panel); the last m % 3 rows 1 x 3. Measured faster than a 2 x 4 tile with DOTS_KC
 * (scripts/bench-gemm.mjs --case "NT dots").
 */
function dots3(c: usize, ldc: usize, a: usize, lda: usize, b: usize, ldk: usize, m: i32, kc: i32, acc: bool): void {
  if (!ASC_FEATURE_RELAXED_SIMD) return;
  const kv = <usize>(kc & ~3) << 2; // bytes of the 4-lane part of each row
  const ldk2 = 2 * ldk, lda2 = 2 * lda;
  const z = f32x4.splat(0);
  let i = 0;
  for (; i + 3 <= m; i += 3) {
    const a0 = a + <usize>i * lda;
    let t00 = z, t01 = z, t02 = z, t10 = z, t11 = z, t12 = z, t20 = z, t21 = z, t22 = z;
    // two pointers, a do-while to the row's 4-lane end, as in panel's tiles
    let pa = a0, pb = b;
    const paEnd = a0 + kv;
    if (kv > 0) {
      do {
        const x0 = v128.load(pa), x1 = v128.load(pa + lda), x2 = v128.load(pa + lda2);
        let y = v128.load(pb);
        t00 = madd(x0, y, t00);
        t10 = madd(x1, y, t10);
        t20 = madd(x2, y, t20);
        y = v128.load(pb + ldk);
        t01 = madd(x0, y, t01);
        t11 = madd(x1, y, t11);
        t21 = madd(x2, y, t21);
        y = v128.load(pb + ldk2);
        t02 = madd(x0, y, t02);
        t12 = madd(x1, y, t12);
        t22 = madd(x2, y, t22);
        pa += 16;
        pb += 16;
      } while (pa != paEnd);
    }
    const c0 = c + <usize>i * ldc;
    dotsRow3(c0, a0, b, ldk, kv, kc, hsum4(t00, t01, t02, z), acc);
    dotsRow3(c0 + ldc, a0 + lda, b, ldk, kv, kc, hsum4(t10, t11, t12, z), acc);
    dotsRow3(c0 + 2 * ldc, a0 + lda2, b, ldk, kv, kc, hsum4(t20, t21, t22, z), acc);
  }
  for (; i < m; i++) {
    const a0 = a + <usize>i * lda;
    let t0 = z, t1 = z, t2 = z;
    for (let o: usize = 0; o < kv; o += 16) {
      const x0 = v128.load(a0 + o);
      t0 = madd(x0, v128.load(b + o), t0);
      t1 = madd(x0, v128.load(b + ldk + o), t1);
      t2 = madd(x0, v128.load(b + 2 * ldk + o), t2);
    }
    dotsRow3(c + <usize>i * ldc, a0, b, ldk, kv, kc, hsum4(t0, t1, t2, z), acc);
  }
}

/** C[r, j..j+2] = (C or 0) + lane sums + the scalar p tail [kv/4, kc) of row a0 with B's rows j..j+2. */
// @ts-ignore: decorator
@inline function dotsRow3(c0: usize, a0: usize, b: usize, ldk: usize, kv: usize, kc: i32, sums: v128, acc: bool): void {
  let s0 = f32x4.extract_lane(sums, 0);
  let s1 = f32x4.extract_lane(sums, 1);
  let s2 = f32x4.extract_lane(sums, 2);
  for (let o = kv; o < (<usize>kc << 2); o += 4) {
    const x = load<f32>(a0 + o);
    s0 += x * load<f32>(b + o);
    s1 += x * load<f32>(b + ldk + o);
    s2 += x * load<f32>(b + 2 * ldk + o);
  }
  putC(c0, s0, acc);
  putC(c0 + 4, s1, acc);
  putC(c0 + 8, s2, acc);
}
