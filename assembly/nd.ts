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
 */
export function copy_nd(y: usize, x: usize, desc: usize): void {
  const r = ndRank(desc);
  const inner = ndDim(desc, r - 1);
  const sy = ndStride(desc, 0, r - 1), sx = ndStride(desc, 1, r - 1);
  // odometer over the outer r - 1 axes
  let outer: i32 = 1;
  for (let a = 0; a < r - 1; a++) outer *= ndDim(desc, a);
  let yo: isize = 0, xo: isize = 0;
  const idx = desc + (<usize>COUNTERS << 2);
  for (let a = 0; a < r; a++) store<i32>(idx + (<usize>a << 2), 0);
  for (let o = 0; o < outer; o++) {
    copyRow(y + (<usize>yo << 2), x + (<usize>xo << 2), inner, sy, sx);
    // advance the odometer (axes r - 2 .. 0)
    for (let a = r - 2; a >= 0; a--) {
      const p = idx + (<usize>a << 2);
      const i = load<i32>(p) + 1;
      const d = ndDim(desc, a);
      if (i < d) {
        store<i32>(p, i);
        yo += ndStride(desc, 0, a);
        xo += ndStride(desc, 1, a);
        break;
      }
      store<i32>(p, 0);
      yo -= ndStride(desc, 0, a) * <isize>(d - 1);
      xo -= ndStride(desc, 1, a) * <isize>(d - 1);
    }
  }
}

/** One row of copy_nd: n elements, y stride sy, x stride sx (elements). */
// @ts-ignore: decorator
@inline function copyRow(y: usize, x: usize, n: i32, sy: isize, sx: isize): void {
  let j = 0;
  if (sy == 1 && sx == 1) {
    if (ASC_FEATURE_SIMD) {
      for (; j + 16 <= n; j += 16) {
        const b = <usize>j << 2;
        v128.store(y + b, v128.load(x + b));
        v128.store(y + b + 16, v128.load(x + b + 16));
        v128.store(y + b + 32, v128.load(x + b + 32));
        v128.store(y + b + 48, v128.load(x + b + 48));
      }
      for (; j + 4 <= n; j += 4) v128.store(y + (<usize>j << 2), v128.load(x + (<usize>j << 2)));
    }
    for (; j < n; j++) store<i32>(y + (<usize>j << 2), load<i32>(x + (<usize>j << 2)));
    return;
  }
  if (sy == 1 && sx == 0) {
    const v = load<i32>(x);
    if (ASC_FEATURE_SIMD) {
      const s = i32x4.splat(v);
      for (; j + 4 <= n; j += 4) v128.store(y + (<usize>j << 2), s);
    }
    for (; j < n; j++) store<i32>(y + (<usize>j << 2), v);
    return;
  }
  let yp = y, xp = x;
  const dy = sy << 2, dx = sx << 2;
  for (; j < n; j++) {
    store<i32>(yp, load<i32>(xp));
    yp += dy;
    xp += dx;
  }
}

/**
 * y += x read through strides: for every index i of the loop space, y[i . sy] += x[i . sx]
 * (operand 0 = y, operand 1 = x). With 0 strides in y this sums x over those axes (the gradient of
 * a broadcast); with strided y it scatters (the gradient of a slice or a pad). Sums run in loop
 * order. y and x must not overlap.
 */
export function accumulate_nd(y: usize, x: usize, desc: usize): void {
  const r = ndRank(desc);
  const inner = ndDim(desc, r - 1);
  const sy = ndStride(desc, 0, r - 1), sx = ndStride(desc, 1, r - 1);
  let outer: i32 = 1;
  for (let a = 0; a < r - 1; a++) outer *= ndDim(desc, a);
  let yo: isize = 0, xo: isize = 0;
  const idx = desc + (<usize>COUNTERS << 2);
  for (let a = 0; a < r; a++) store<i32>(idx + (<usize>a << 2), 0);
  for (let o = 0; o < outer; o++) {
    accumulateRow(y + (<usize>yo << 2), x + (<usize>xo << 2), inner, sy, sx);
    for (let a = r - 2; a >= 0; a--) {
      const p = idx + (<usize>a << 2);
      const i = load<i32>(p) + 1;
      const d = ndDim(desc, a);
      if (i < d) {
        store<i32>(p, i);
        yo += ndStride(desc, 0, a);
        xo += ndStride(desc, 1, a);
        break;
      }
      store<i32>(p, 0);
      yo -= ndStride(desc, 0, a) * <isize>(d - 1);
      xo -= ndStride(desc, 1, a) * <isize>(d - 1);
    }
  }
}

/** One row of accumulate_nd: n elements (f32). */
// @ts-ignore: decorator
@inline function accumulateRow(y: usize, x: usize, n: i32, sy: isize, sx: isize): void {
  let j = 0;
  if (sy == 1 && sx == 1) {
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= n; j += 4) {
        const b = <usize>j << 2;
        v128.store(y + b, f32x4.add(v128.load(y + b), v128.load(x + b)));
      }
    }
    for (; j < n; j++) store<f32>(y + (<usize>j << 2), load<f32>(y + (<usize>j << 2)) + load<f32>(x + (<usize>j << 2)));
    return;
  }
  if (sy == 0 && sx == 1) {
    // a sum of the row into one element: 4 lanes, then the lanes
    let acc: f32 = 0;
    if (ASC_FEATURE_SIMD) {
      let v = f32x4.splat(0);
      for (; j + 4 <= n; j += 4) v = f32x4.add(v, v128.load(x + (<usize>j << 2)));
      acc = f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
    }
    for (; j < n; j++) acc += load<f32>(x + (<usize>j << 2));
    store<f32>(y, load<f32>(y) + acc);
    return;
  }
  let yp = y, xp = x;
  const dy = sy << 2, dx = sx << 2;
  for (; j < n; j++) {
    store<f32>(yp, load<f32>(yp) + load<f32>(xp));
    yp += dy;
    xp += dx;
  }
}
