// Concatenation along any axis as strided block copies. Viewing each input as [outer, cols] with
// cols = (its size on the axis) * (product of the dims after the axis), the output is [outer, yCols]
// and input k occupies the column range [offset_k, offset_k + cols_k) of every output row. The host
// passes y already advanced to the input's column offset, so one call copies one input.
// Pointers are byte addresses, 4-byte aligned (column offsets break 16-byte alignment; wasm v128
// loads and stores do not need it).

/** Forward: y[o * yStride + j] = x[o * xStride + j] for o < rows, j < cols (strides in floats). */
export function concat_f32_forward(y: usize, x: usize, rows: i32, cols: i32, yStride: i32, xStride: i32): void {
  for (let o = 0; o < rows; o++) {
    const yr = y + (<usize>o * <usize>yStride << 2);
    const xr = x + (<usize>o * <usize>xStride << 2);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 16 <= cols; j += 16) {
        const b = <usize>j << 2;
        v128.store(yr + b, v128.load(xr + b));
        v128.store(yr + b + 16, v128.load(xr + b + 16));
        v128.store(yr + b + 32, v128.load(xr + b + 32));
        v128.store(yr + b + 48, v128.load(xr + b + 48));
      }
      for (; j + 4 <= cols; j += 4) {
        const b = <usize>j << 2;
        v128.store(yr + b, v128.load(xr + b));
      }
    }
    for (; j < cols; j++) {
      const b = <usize>j << 2;
      store<f32>(yr + b, load<f32>(xr + b));
    }
  }
}

/**
 * Backward (split, accumulating): dx[o * dxStride + j] += dy[o * dyStride + j] for o < rows,
 * j < cols; dy is passed already advanced to the input's column offset.
 */
export function concat_f32_backward(dx: usize, dy: usize, rows: i32, cols: i32, dxStride: i32, dyStride: i32): void {
  for (let o = 0; o < rows; o++) {
    const dr = dx + (<usize>o * <usize>dxStride << 2);
    const gr = dy + (<usize>o * <usize>dyStride << 2);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= cols; j += 4) {
        const b = <usize>j << 2;
        v128.store(dr + b, f32x4.add(v128.load(dr + b), v128.load(gr + b)));
      }
    }
    for (; j < cols; j++) {
      const b = <usize>j << 2;
      store<f32>(dr + b, load<f32>(dr + b) + load<f32>(gr + b));
    }
  }
}
