// N-dimensional strided iteration shared by the data-movement and broadcasting kernels.
//
// An N-d descriptor is a block of i32 words the host writes (src/graph/nd.ts writes it; the word
// offsets below are the contract, checked by tests/nd.test.ts):
//   word 0                 rank r, 1 <= r <= ND_MAX_RANK
//   words DIMS + i         extent of loop axis i (outermost first), >= 1
//   words STRIDES + k * ND_MAX_RANK + i
//                          stride in ELEMENTS of operand k along axis i (any sign; 0 broadcasts),
//                          for up to ND_MAX_OPERANDS operands
//   words COUNTERS + i     the kernel's own loop counters: written by the kernel, not the host (the
//                          kernels keep no mutable static data: threads share the memory)
// Operand 0 is the output. Elements are 4 bytes (f32 or i32: movement does not look at them).
// Pointers are byte addresses, 4-byte aligned; v128 accesses do not need more.
import { addRow, copyRow } from "./rows";

export const ND_MAX_RANK: i32 = 8;
const DIMS: i32 = 1;
const STRIDES: i32 = DIMS + ND_MAX_RANK;
export const ND_MAX_OPERANDS: i32 = 4;
const COUNTERS: i32 = STRIDES + ND_MAX_OPERANDS * ND_MAX_RANK;
/** Words of a descriptor block, counters included (the host reserves this many). */
export const ND_DESC_WORDS: i32 = COUNTERS + ND_MAX_RANK;

// @ts-ignore: decorator
@inline export function ndRank(desc: usize): i32 {
  return load<i32>(desc);
}

// @ts-ignore: decorator
@inline export function ndDim(desc: usize, axis: i32): i32 {
  return load<i32>(desc + (<usize>(DIMS + axis) << 2));
}

// @ts-ignore: decorator
@inline export function ndStride(desc: usize, operand: i32, axis: i32): isize {
  return <isize>load<i32>(desc + (<usize>(STRIDES + operand * ND_MAX_RANK + axis) << 2));
}

/** ND_DESC_WORDS, for the host's check that both sides agree on the layout. */
export function nd_desc_words(): i32 {
  return ND_DESC_WORDS;
}

/**
 * y = x read through strides: for every index i of the loop space, y[i . sy] = x[i . sx]
 * (operand 0 = y, operand 1 = x). Covers transpose (permuted strides), expand / tile (0 strides),
 * slice with any step (negative strides from a shifted base), concat and split (strided y or x),
 * depth-to-space and layout changes. y and x must not overlap.
 * When y is contiguous along one axis and x along another, the copy runs in tiles of that plane
 * (a blocked transpose: contiguous loads of x, contiguous stores of y); otherwise it copies rows
 * along the innermost axis.
 */
export function copy_nd(y: usize, x: usize, desc: usize): void {
  strided(y, x, desc, false);
}

/**
 * y += x read through strides: for every index i of the loop space, y[i . sy] += x[i . sx]
 * (operand 0 = y, operand 1 = x). With 0 strides in y this sums x over those axes (the gradient of
 * a broadcast); with strided y it scatters (the gradient of a slice or a pad). Sums into one element
 * run in loop order (a row into one element: four lanes, then the lanes). Tiles as copy_nd does.
 * y and x must not overlap.
 */
export function accumulate_nd(y: usize, x: usize, desc: usize): void {
  strided(y, x, desc, true);
}

/** The axis (extent >= 2) along which operand k has stride 1, or -1. */
// @ts-ignore: decorator
@inline function unitAxis(desc: usize, k: i32, r: i32): i32 {
  for (let a = 0; a < r; a++) if (ndDim(desc, a) > 1 && ndStride(desc, k, a) == 1) return a;
  return -1;
}

/**
 * y = x (acc: y += x) over the descriptor's loop. Tiles the plane of q (y contiguous) and p
 * (x contiguous) when p != q; rows along the innermost axis otherwise.
 */
// @ts-ignore: decorator
@inline function strided(y: usize, x: usize, desc: usize, acc: bool): void {
  const r = ndRank(desc);
  let q = unitAxis(desc, 0, r), p = unitAxis(desc, 1, r);
  const tiled = q >= 0 && p >= 0 && p != q;
  if (!tiled) {
    q = r - 1;
    p = -1;
  }
  const inner = ndDim(desc, q);
  const sy = ndStride(desc, 0, q), sx = ndStride(desc, 1, q);
  const np = tiled ? ndDim(desc, p) : 0;
  const syp: isize = tiled ? ndStride(desc, 0, p) : 0;
  // odometer over every axis but p and q
  let outer: i32 = 1;
  for (let a = 0; a < r; a++) if (a != p && a != q) outer *= ndDim(desc, a);
  let yo: isize = 0, xo: isize = 0;
  const idx = desc + (<usize>COUNTERS << 2);
  for (let a = 0; a < r; a++) store<i32>(idx + (<usize>a << 2), 0);
  for (let o = 0; o < outer; o++) {
    const yb = y + (<usize>yo << 2), xb = x + (<usize>xo << 2);
    // y[i * syp + j] (+)= x[i + j * sx]: i along p, j along q
    if (tiled) tile2d(yb, xb, np, inner, syp, sx, acc);
    else if (acc) addRow(yb, xb, inner, sy, sx);
    else copyRow(yb, xb, inner, sy, sx);
    for (let a = r - 1; a >= 0; a--) {
      if (a == p || a == q) continue;
      const c = idx + (<usize>a << 2);
      const i = load<i32>(c) + 1;
      const d = ndDim(desc, a);
      if (i < d) {
        store<i32>(c, i);
        yo += ndStride(desc, 0, a);
        xo += ndStride(desc, 1, a);
        break;
      }
      store<i32>(c, 0);
      yo -= ndStride(desc, 0, a) * <isize>(d - 1);
      xo -= ndStride(desc, 1, a) * <isize>(d - 1);
    }
  }
}

/**
 * dst[i * ds + j] = src[i + j * ss] (acc: +=) for i < ni, j < nj: dst contiguous along j, src
 * along i. 4 x 4 tiles (four contiguous loads of src, a register transpose, four contiguous stores),
 * walked in strips of 16 i so each src cache line is used whole; scalar edges.
 */
// @ts-ignore: decorator
@inline function tile2d(dst: usize, src: usize, ni: i32, nj: i32, ds: isize, ss: isize, acc: bool): void {
  const dsb = ds << 2, ssb = ss << 2;
  let i0 = 0;
  if (ASC_FEATURE_SIMD && nj == 3 && ds == 3) {
    // three planes interleaved into contiguous triples (an RGB image to channels-last)
    for (; i0 + 4 <= ni; i0 += 4) {
      const s = src + (<usize>i0 << 2);
      const a = v128.load(s), b = v128.load(s + ssb), c = v128.load(s + 2 * ssb);
      const t0 = i32x4.shuffle(a, b, 0, 4, 1, 5), t1 = i32x4.shuffle(b, c, 1, 5, 2, 6), t2 = i32x4.shuffle(a, b, 3, 7, 3, 7);
      const o0 = i32x4.shuffle(t0, c, 0, 1, 4, 2), o1 = i32x4.shuffle(t1, a, 0, 1, 6, 2), o2 = i32x4.shuffle(c, t2, 2, 4, 5, 3);
      const q = dst + (<usize>i0 * 12);
      if (acc) {
        v128.store(q, f32x4.add(v128.load(q), o0));
        v128.store(q, f32x4.add(v128.load(q, 16), o1), 16);
        v128.store(q, f32x4.add(v128.load(q, 32), o2), 32);
      } else {
        v128.store(q, o0);
        v128.store(q, o1, 16);
        v128.store(q, o2, 32);
      }
    }
  }
  if (ASC_FEATURE_SIMD && nj >= 4) {
    for (; i0 + 4 <= ni; i0 += 16) {
      const iEnd = min(i0 + 16, ni) & ~3;
      let j = 0;
      for (; j + 4 <= nj; j += 4) {
        for (let i = i0; i < iEnd; i += 4) {
          const s = src + ((<usize>i + <usize>j * ss) << 2);
          const a = v128.load(s), b = v128.load(s + ssb), c = v128.load(s + 2 * ssb), d = v128.load(s + 3 * ssb);
          const t0 = i32x4.shuffle(a, b, 0, 4, 1, 5), t1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
          const t2 = i32x4.shuffle(c, d, 0, 4, 1, 5), t3 = i32x4.shuffle(c, d, 2, 6, 3, 7);
          const o0 = i32x4.shuffle(t0, t2, 0, 1, 4, 5), o1 = i32x4.shuffle(t0, t2, 2, 3, 6, 7);
          const o2 = i32x4.shuffle(t1, t3, 0, 1, 4, 5), o3 = i32x4.shuffle(t1, t3, 2, 3, 6, 7);
          const q = dst + ((<usize>i * ds + <usize>j) << 2);
          if (acc) {
            v128.store(q, f32x4.add(v128.load(q), o0));
            v128.store(q + dsb, f32x4.add(v128.load(q + dsb), o1));
            v128.store(q + 2 * dsb, f32x4.add(v128.load(q + 2 * dsb), o2));
            v128.store(q + 3 * dsb, f32x4.add(v128.load(q + 3 * dsb), o3));
          } else {
            v128.store(q, o0);
            v128.store(q + dsb, o1);
            v128.store(q + 2 * dsb, o2);
            v128.store(q + 3 * dsb, o3);
          }
        }
      }
      // the strip's last columns (nj % 4)
      for (; j < nj; j++) {
        for (let i = i0; i < iEnd; i++) moveOne(dst + ((<usize>i * ds + <usize>j) << 2), src + ((<usize>i + <usize>j * ss) << 2), acc);
      }
      if (iEnd < i0 + 16) {
        i0 = iEnd;
        break;
      }
    }
  }
  // the last rows (ni % 4), and every row in the scalar build
  for (let i = i0; i < ni; i++) {
    const d = dst + (<usize>i * ds << 2), s = src + (<usize>i << 2);
    for (let j = 0; j < nj; j++) moveOne(d + (<usize>j << 2), s + (<usize>j * ss << 2), acc);
  }
}

// @ts-ignore: decorator
@inline function moveOne(d: usize, s: usize, acc: bool): void {
  if (acc) store<f32>(d, load<f32>(d) + load<f32>(s));
  else store<i32>(d, load<i32>(s));
}

