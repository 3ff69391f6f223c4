// Running sums and one-hot encoding (ONNX CumSum, OneHot). Arrays are viewed as [outer, len,
// inner] around the axis the op runs along (the host reads that axis's physical position from the
// value's layout): inner elements are contiguous, so CumSum's SIMD runs over 4 of them at once, with
// a scalar tail that is also the scalar build. OneHot (index compares and stores) is one scalar
// loop in every build: the wasm size budget.

/**
 * Running sums along the middle axis of x [outer, len, inner] into y (same shape; y may be x):
 * y[o, k, i] = sum of x[o, t, i] for t <= k (t < k when exclusive; t >= k / t > k when reverse),
 * accumulated in scan order: f32, or i32 (wrapping) when isInt.
 */
export function cumsum_forward(y: usize, x: usize, outer: i32, len: i32, inner: i32, exclusive: i32, reverse: i32, isInt: i32): void {
  const step: isize = reverse ? -(<isize>inner << 2) : <isize>inner << 2;
  for (let o = 0; o < outer; o++) {
    const first = <usize>(o * len + (reverse ? len - 1 : 0)) * <usize>inner << 2;
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      for (; i + 4 <= inner; i += 4) {
        let p = first + (<usize>i << 2);
        let acc = i32x4.splat(0);
        for (let t = 0; t < len; t++, p += step) {
          const prev = acc;
          const v = v128.load(x + p);
          acc = isInt ? i32x4.add(acc, v) : f32x4.add(acc, v);
          v128.store(y + p, exclusive ? prev : acc);
        }
      }
    }
    for (; i < inner; i++) {
      let p = first + (<usize>i << 2);
      let acc: i32 = 0; // f32 bits unless isInt
      for (let t = 0; t < len; t++, p += step) {
        const prev = acc;
        const v = load<i32>(x + p);
        acc = isInt ? acc + v : reinterpret<i32>(reinterpret<f32>(acc) + reinterpret<f32>(v));
        store<i32>(y + p, exclusive ? prev : acc);
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
      for (let i = 0; i < inner; i++) {
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
