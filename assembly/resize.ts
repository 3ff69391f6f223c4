// Separable resampling (ONNX Resize linear / cubic, with or without antialias, any coordinate
// transformation): one axis per call. The tensor is viewed as x [outer, inLen, inner] and
// y [outer, outLen, inner] (row-major in their physical order: the resized axis with everything
// before it folded into outer and everything after it into inner), and
//   y[o, i, k] = sum_t w[i, t] * x[o, src[i, t], k]   for t < taps
// The host's table holds, per output index i, `taps` pairs (i32 src, f32 w), 8 bytes each; a first
// src of -1 marks an output index outside the crop (tf_crop_and_resize), which gets `fill`.
// Nearest-neighbour resizing does not come here: it is a remap (assembly/remap.ts).
import { madd } from "./simd";

/** y = resample(x) along one axis (see the header). y and x must not overlap. */
export function resize_f32_forward(y: usize, x: usize, table: usize, outer: i32, inLen: i32, outLen: i32, inner: i32, taps: i32, fill: f32): void {
  const rowBytes = <usize>inner << 2;
  for (let o = 0; o < outer; o++) {
    const xo = x + <usize>o * <usize>inLen * rowBytes;
    for (let i = 0; i < outLen; i++) {
      const yr = y + (<usize>o * <usize>outLen + <usize>i) * rowBytes;
      const tab = table + (<usize>i * <usize>taps << 3);
      if (load<i32>(tab) < 0) {
        let k = 0;
        if (ASC_FEATURE_SIMD) {
          const f = f32x4.splat(fill);
          for (; k + 4 <= inner; k += 4) v128.store(yr + (<usize>k << 2), f);
        }
        for (; k < inner; k++) store<f32>(yr + (<usize>k << 2), fill);
        continue;
      }
      let k = 0;
      if (ASC_FEATURE_SIMD) {
        for (; k + 8 <= inner; k += 8) {
          let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
          for (let t = 0; t < taps; t++) {
            const e = tab + (<usize>t << 3);
            const w = f32x4.splat(load<f32>(e, 4));
            const s = xo + <usize>load<i32>(e) * rowBytes + (<usize>k << 2);
            a0 = madd(w, v128.load(s), a0);
            a1 = madd(w, v128.load(s, 16), a1);
          }
          v128.store(yr + (<usize>k << 2), a0);
          v128.store(yr + (<usize>k << 2), a1, 16);
        }
        for (; k + 4 <= inner; k += 4) {
          let a0 = f32x4.splat(0);
          for (let t = 0; t < taps; t++) {
            const e = tab + (<usize>t << 3);
            a0 = madd(f32x4.splat(load<f32>(e, 4)), v128.load(xo + <usize>load<i32>(e) * rowBytes + (<usize>k << 2)), a0);
          }
          v128.store(yr + (<usize>k << 2), a0);
        }
      }
      for (; k < inner; k++) {
        let acc: f32 = 0;
        for (let t = 0; t < taps; t++) {
          const e = tab + (<usize>t << 3);
          acc += load<f32>(e, 4) * load<f32>(xo + <usize>load<i32>(e) * rowBytes + (<usize>k << 2));
        }
        store<f32>(yr + (<usize>k << 2), acc);
      }
    }
  }
}

/**
 * The adjoint of resize_f32_forward, accumulating: dx[o, src[i, t], k] += w[i, t] * dy[o, i, k]
 * (outputs outside the crop contribute nothing). Same table and sizes as the forward.
 */
export function resize_f32_backward(dx: usize, dy: usize, table: usize, outer: i32, inLen: i32, outLen: i32, inner: i32, taps: i32): void {
  const rowBytes = <usize>inner << 2;
  for (let o = 0; o < outer; o++) {
    const xo = dx + <usize>o * <usize>inLen * rowBytes;
    for (let i = 0; i < outLen; i++) {
      const yr = dy + (<usize>o * <usize>outLen + <usize>i) * rowBytes;
      const tab = table + (<usize>i * <usize>taps << 3);
      if (load<i32>(tab) < 0) continue;
      for (let t = 0; t < taps; t++) {
        const e = tab + (<usize>t << 3);
        const wv = load<f32>(e, 4);
        const s = xo + <usize>load<i32>(e) * rowBytes;
        let k = 0;
        if (ASC_FEATURE_SIMD) {
          const w = f32x4.splat(wv);
          for (; k + 4 <= inner; k += 4) {
            const p = s + (<usize>k << 2);
            v128.store(p, madd(w, v128.load(yr + (<usize>k << 2)), v128.load(p)));
          }
        }
        for (; k < inner; k++) {
          const p = s + (<usize>k << 2);
          store<f32>(p, load<f32>(p) + wv * load<f32>(yr + (<usize>k << 2)));
        }
      }
    }
  }
}
