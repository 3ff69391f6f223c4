// Long sums in float64, shared by kernels (not exported from index.ts: not a kernel of its own).

/**
 * Column sums in float64: out[c] = (accumulate ? out[c] : 0) + scale * (sum over r of x[r, c]),
 * x row-major [rows, cols], out f32 [cols]. Each column is summed in an f64 accumulator over every
 * row and rounded to f32 once, so long sums (a conv's N*H*W rows, a 224x224 image) keep float32
 * precision (relative error ~1e-7 instead of growing with the row count). The accumulators live in
 * registers, one pass over the rows per block of columns: 16 columns (SIMD: eight f64x2) starting
 * on a 64-byte line, so that with cols a multiple of 16 each pass reads one whole line per row and
 * the passes together read x once; then blocks of 4 and single columns (8 in the scalar build).
 */
export function columnSumsF64(out: usize, x: usize, rows: i32, cols: i32, scale: f64, accumulate: bool): void {
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    // columns before the first one on a 64-byte line (none when x is line-aligned)
    const lead = min(cols, <i32>(((64 - (x & 63)) & 63) >> 2));
    c = singles(out, x, rows, cols, c, lead & 3, scale, accumulate);
    c = blocks4(out, x, rows, cols, c, lead, scale, accumulate);
    c = blocks16(out, x, rows, cols, c, scale, accumulate);
    c = blocks4(out, x, rows, cols, c, cols, scale, accumulate);
  }
  c = blocks8(out, x, rows, cols, c, scale, accumulate);
  singles(out, x, rows, cols, c, cols, scale, accumulate);
}

/** Columns [c, end) one at a time; returns end. */
function singles(out: usize, x: usize, rows: i32, cols: i32, c: i32, end: i32, scale: f64, accumulate: bool): i32 {
  const stride = <usize>cols << 2;
  for (; c < end; c++) {
    let s: f64 = 0;
    let p = x + (<usize>c << 2);
    for (let r = 0; r < rows; r++, p += stride) s += <f64>load<f32>(p);
    storeSum(out + (<usize>c << 2), s, scale, accumulate);
  }
  return end;
}

/** Blocks of 8 columns from c while they fit (scalar f64 locals); returns the first column left. */
function blocks8(out: usize, x: usize, rows: i32, cols: i32, c: i32, scale: f64, accumulate: bool): i32 {
  const stride = <usize>cols << 2;
  for (; c + 8 <= cols; c += 8) {
    let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0, s4: f64 = 0, s5: f64 = 0, s6: f64 = 0, s7: f64 = 0;
    let p = x + (<usize>c << 2);
    for (let r = 0; r < rows; r++, p += stride) {
      s0 += <f64>load<f32>(p); s1 += <f64>load<f32>(p, 4); s2 += <f64>load<f32>(p, 8); s3 += <f64>load<f32>(p, 12);
      s4 += <f64>load<f32>(p, 16); s5 += <f64>load<f32>(p, 20); s6 += <f64>load<f32>(p, 24); s7 += <f64>load<f32>(p, 28);
    }
    const o = out + (<usize>c << 2);
    storeSum(o, s0, scale, accumulate); storeSum(o + 4, s1, scale, accumulate);
    storeSum(o + 8, s2, scale, accumulate); storeSum(o + 12, s3, scale, accumulate);
    storeSum(o + 16, s4, scale, accumulate); storeSum(o + 20, s5, scale, accumulate);
    storeSum(o + 24, s6, scale, accumulate); storeSum(o + 28, s7, scale, accumulate);
  }
  return c;
}

/** SIMD: blocks of 4 columns from c while they fit below end; returns the first column left. */
function blocks4(out: usize, x: usize, rows: i32, cols: i32, c: i32, end: i32, scale: f64, accumulate: bool): i32 {
  const stride = <usize>cols << 2;
  for (; c + 4 <= end; c += 4) {
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
    let p = x + (<usize>c << 2);
    for (let r = 0; r < rows; r++, p += stride) {
      const v = v128.load(p);
      a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v));
      a1 = f64x2.add(a1, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)));
    }
    storeSums4(out + (<usize>c << 2), a0, a1, scale, accumulate);
  }
  return c;
}

/** SIMD: blocks of 16 columns from c while they fit; returns the first column left. */
function blocks16(out: usize, x: usize, rows: i32, cols: i32, c: i32, scale: f64, accumulate: bool): i32 {
  const stride = <usize>cols << 2;
  for (; c + 16 <= cols; c += 16) {
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
    let a4 = f64x2.splat(0), a5 = f64x2.splat(0), a6 = f64x2.splat(0), a7 = f64x2.splat(0);
    let p = x + (<usize>c << 2);
    for (let r = 0; r < rows; r++, p += stride) {
      const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
      a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v0));
      a1 = f64x2.add(a1, f64x2.promote_low_f32x4(v128.shuffle<f32>(v0, v0, 2, 3, 2, 3)));
      a2 = f64x2.add(a2, f64x2.promote_low_f32x4(v1));
      a3 = f64x2.add(a3, f64x2.promote_low_f32x4(v128.shuffle<f32>(v1, v1, 2, 3, 2, 3)));
      a4 = f64x2.add(a4, f64x2.promote_low_f32x4(v2));
      a5 = f64x2.add(a5, f64x2.promote_low_f32x4(v128.shuffle<f32>(v2, v2, 2, 3, 2, 3)));
      a6 = f64x2.add(a6, f64x2.promote_low_f32x4(v3));
      a7 = f64x2.add(a7, f64x2.promote_low_f32x4(v128.shuffle<f32>(v3, v3, 2, 3, 2, 3)));
    }
    const o = out + (<usize>c << 2);
    storeSums4(o, a0, a1, scale, accumulate);
    storeSums4(o + 16, a2, a3, scale, accumulate);
    storeSums4(o + 32, a4, a5, scale, accumulate);
    storeSums4(o + 48, a6, a7, scale, accumulate);
  }
  return c;
}

/** out[0] = f32((accumulate ? out[0] : 0) + scale * s), one rounding. */
// @ts-ignore: decorator
@inline function storeSum(out: usize, s: f64, scale: f64, accumulate: bool): void {
  store<f32>(out, <f32>((accumulate ? <f64>load<f32>(out) : 0) + scale * s));
}

/** Four sums (lo: lanes 0-1, hi: lanes 2-3) into out[0..3] as storeSum does each. */
// @ts-ignore: decorator
@inline function storeSums4(out: usize, lo: v128, hi: v128, scale: f64, accumulate: bool): void {
  const k = f64x2.splat(scale);
  let l = f64x2.mul(lo, k), h = f64x2.mul(hi, k);
  if (accumulate) {
    const old = v128.load(out);
    l = f64x2.add(l, f64x2.promote_low_f32x4(old));
    h = f64x2.add(h, f64x2.promote_low_f32x4(v128.shuffle<f32>(old, old, 2, 3, 2, 3)));
  }
  const lf = f32x4.demote_f64x2_zero(l), hf = f32x4.demote_f64x2_zero(h);
  v128.store(out, v128.shuffle<f32>(lf, hf, 0, 1, 4, 5));
}
