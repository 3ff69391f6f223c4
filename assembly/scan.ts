// Running sums and one-hot encoding (ONNX CumSum, OneHot). Arrays are viewed as [outer, len,
// inner] around the axis the op runs along (the host reads that axis's physical position from the
// value's layout): inner elements are contiguous, so SIMD runs over 4 of them at once, with a
// scalar tail that is also the scalar build.

/**
 * Running sums along the middle axis of x [outer, len, inner] into y (same shape; y may be x):
 * y[o, k, i] = sum of x[o, t, i] for t <= k (t < k when exclusive; t >= k / t > k when reverse),
 * accumulated in f32 in scan order.
 */
export function cumsum_f32_forward(y: usize, x: usize, outer: i32, len: i32, inner: i32, exclusive: i32, reverse: i32): void {
  const step: isize = reverse ? -(<isize>inner << 2) : <isize>inner << 2;
  for (let o = 0; o < outer; o++) {
    const first = <usize>(o * len + (reverse ? len - 1 : 0)) * <usize>inner << 2;
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      for (; i + 4 <= inner; i += 4) {
        let p = first + (<usize>i << 2);
        let acc = f32x4.splat(0);
        for (let t = 0; t < len; t++, p += step) {
          const v = v128.load(x + p);
          if (exclusive) {
            v128.store(y + p, acc);
            acc = f32x4.add(acc, v);
          } else {
            acc = f32x4.add(acc, v);
            v128.store(y + p, acc);
          }
        }
      }
    }
    for (; i < inner; i++) {
      let p = first + (<usize>i << 2);
      let acc: f32 = 0;
      for (let t = 0; t < len; t++, p += step) {
        const v = load<f32>(x + p);
        if (exclusive) {
          store<f32>(y + p, acc);
          acc += v;
        } else {
          acc += v;
          store<f32>(y + p, acc);
        }
      }
    }
  }
}

/** cumsum_f32_forward on i32 elements (wrapping, as int32 arithmetic). */
export function cumsum_i32_forward(y: usize, x: usize, outer: i32, len: i32, inner: i32, exclusive: i32, reverse: i32): void {
  const step: isize = reverse ? -(<isize>inner << 2) : <isize>inner << 2;
  for (let o = 0; o < outer; o++) {
    const first = <usize>(o * len + (reverse ? len - 1 : 0)) * <usize>inner << 2;
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      for (; i + 4 <= inner; i += 4) {
        let p = first + (<usize>i << 2);
        let acc = i32x4.splat(0);
        for (let t = 0; t < len; t++, p += step) {
          const v = v128.load(x + p);
          if (exclusive) {
            v128.store(y + p, acc);
            acc = i32x4.add(acc, v);
          } else {
            acc = i32x4.add(acc, v);
            v128.store(y + p, acc);
          }
        }
      }
    }
    for (; i < inner; i++) {
      let p = first + (<usize>i << 2);
      let acc: i32 = 0;
      for (let t = 0; t < len; t++, p += step) {
        const v = load<i32>(x + p);
        if (exclusive) {
          store<i32>(y + p, acc);
          acc += v;
        } else {
          acc += v;
          store<i32>(y + p, acc);
        }
      }
    }
  }
}

/**
 * One-hot: indices [outer, inner] (i32, or f32 when indicesF32), y [outer, depth, inner] of 4-byte
 * elements: y[o, d, i] = values[1] if index == d or index == d - depth (a negative index counts
 * from depth's end) else values[0]; an index outside [-depth, depth), or a float index that is not
 * an integer, gives a row of values[0] (as onnxruntime). values holds [off, on] as bits.
 */
export function onehot_forward(y: usize, indices: usize, values: usize, outer: i32, depth: i32, inner: i32, indicesF32: i32): void {
  const off = load<i32>(values),
    on = load<i32>(values, 4);
  for (let o = 0; o < outer; o++) {
    const ip = indices + (<usize>(o * inner) << 2);
    for (let d = 0; d < depth; d++) {
      const yp = y + (<usize>(o * depth + d) * <usize>inner << 2);
      let i = 0;
      if (ASC_FEATURE_SIMD) {
        const vd = indicesF32 ? f32x4.splat(<f32>d) : i32x4.splat(d),
          vdn = indicesF32 ? f32x4.splat(<f32>(d - depth)) : i32x4.splat(d - depth),
          von = i32x4.splat(on),
          voff = i32x4.splat(off);
        for (; i + 4 <= inner; i += 4) {
          const k = v128.load(ip + (<usize>i << 2));
          const hit = indicesF32 ? v128.or(f32x4.eq(k, vd), f32x4.eq(k, vdn)) : v128.or(i32x4.eq(k, vd), i32x4.eq(k, vdn));
          v128.store(yp + (<usize>i << 2), v128.bitselect(von, voff, hit));
        }
      }
      for (; i < inner; i++) {
        let hit: bool;
        if (indicesF32) {
          const k = load<f32>(ip + (<usize>i << 2));
          hit = k == <f32>d || k == <f32>(d - depth);
        } else {
          const k = load<i32>(ip + (<usize>i << 2));
          hit = k == d || k == d - depth;
        }
        store<i32>(yp + (<usize>i << 2), hit ? on : off);
      }
    }
  }
}
