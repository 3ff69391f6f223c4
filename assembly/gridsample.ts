// Sampling an image at run-time coordinates (ONNX GridSample, 2-D): x [n, h, w, c] (channels
// last), grid [n, ho, wo, 2] holding (x, y) normalized to [-1, 1], y [n, ho, wo, c]. Per output
// point the (up to 4) source pixels and their weights are found once, then the c channels are
// combined 4 at a time (SIMD) with a scalar tail that is also the scalar build. The coordinate
// rules are onnxruntime's: un-normalized with or without align_corners, moved inside by border
// (clamp) or reflection padding when out of bounds, rounded half to even for nearest, and each
// pixel read through the padding rule again (zeros: pixels outside count as 0).

const MODE_LINEAR = 0,
  MODE_NEAREST = 1;
const PAD_ZEROS = 0,
  PAD_BORDER = 1,
  PAD_REFLECTION = 2;

// per output point: up to 4 pixel offsets (elements, -1: none) and weights, and the
// derivatives d(coordinate)/d(grid value) used by the backward pass
let i0: i32 = -1, i1: i32 = -1, i2: i32 = -1, i3: i32 = -1;
let w0: f32 = 0, w1: f32 = 0, w2: f32 = 0, w3: f32 = 0;
let gx0: f32 = 0, gx1: f32 = 0, gy0: f32 = 0, gy1: f32 = 0;
let sx: f32 = 0, sy: f32 = 0;

/** x reflected into [lo, hi] (onnxruntime's GsReflect); reflectSign: d(result)/dx (+1 or -1). */
let reflectSign: f32 = 1;
function reflect(x: f32, lo: f32, hi: f32): f32 {
  reflectSign = 1;
  const range = hi - lo;
  if (!(range > 0)) return lo;
  if (x < lo) {
    const d = lo - x;
    const k = <i32>(d / range);
    const r = d - <f32>k * range;
    reflectSign = k % 2 == 0 ? -1 : 1;
    return k % 2 == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const d = x - hi;
    const k = <i32>(d / range);
    const r = d - <f32>k * range;
    reflectSign = k % 2 == 0 ? -1 : 1;
    return k % 2 == 0 ? hi - r : lo + r;
  }
  return x;
}

/** The element offset (pixel * c) of pixel (r, col) through the padding rule; -1 for a zero pixel. */
function pixel(r: i32, col: i32, h: i32, w: i32, c: i32, padding: i32, xlo: f32, xhi: f32, ylo: f32, yhi: f32): i32 {
  if (padding == PAD_ZEROS) {
    if (col < 0 || col >= w || r < 0 || r >= h) return -1;
  } else if (padding == PAD_BORDER) {
    col = min(max(col, 0), w - 1);
    r = min(max(r, 0), h - 1);
  } else {
    // reflected coordinates are inside; the clamp keeps reads in x for NaN and huge ones
    col = min(max(<i32>reflect(<f32>col, xlo, xhi), 0), w - 1);
    r = min(max(<i32>reflect(<f32>r, ylo, yhi), 0), h - 1);
  }
  return (r * w + col) * c;
}

/** Finds the pixels and weights of the grid point (gx, gy) (globals above). */
function locate(gxn: f32, gyn: f32, h: i32, w: i32, c: i32, mode: i32, padding: i32, align: i32): void {
  const W = <f32>w,
    H = <f32>h;
  let x: f32, y: f32;
  if (align) {
    x = (gxn + 1) * 0.5 * (W - 1);
    y = (gyn + 1) * 0.5 * (H - 1);
    sx = 0.5 * (W - 1);
    sy = 0.5 * (H - 1);
  } else {
    x = ((gxn + 1) * W - 1) * 0.5;
    y = ((gyn + 1) * H - 1) * 0.5;
    sx = 0.5 * W;
    sy = 0.5 * H;
  }
  const xlo: f32 = align ? 0 : -0.5,
    xhi: f32 = align ? W - 1 : W - 0.5,
    ylo: f32 = align ? 0 : -0.5,
    yhi: f32 = align ? H - 1 : H - 0.5;
  if (mode == MODE_NEAREST) {
    x = nearest<f32>(x);
    y = nearest<f32>(y);
  }
  if (x < xlo || x > xhi || y < ylo || y > yhi) {
    if (padding == PAD_BORDER) {
      if (x < 0 || x > W - 1) sx = 0;
      if (y < 0 || y > H - 1) sy = 0;
      x = min(max(x, <f32>0), W - 1);
      y = min(max(y, <f32>0), H - 1);
    } else if (padding == PAD_REFLECTION) {
      x = reflect(x, xlo, xhi);
      sx *= reflectSign;
      y = reflect(y, ylo, yhi);
      sy *= reflectSign;
    }
  }
  i1 = i2 = i3 = -1;
  if (mode == MODE_NEAREST) {
    i0 = pixel(<i32>y, <i32>x, h, w, c, padding, xlo, xhi, ylo, yhi);
    w0 = 1;
    return;
  }
  const fx = floor<f32>(x),
    fy = floor<f32>(y);
  const x1 = <i32>fx,
    y1 = <i32>fy;
  gx1 = x - fx; // dx1
  gx0 = <f32>1 - gx1; // dx2
  gy1 = y - fy;
  gy0 = <f32>1 - gy1;
  i0 = pixel(y1, x1, h, w, c, padding, xlo, xhi, ylo, yhi);
  i1 = pixel(y1, x1 + 1, h, w, c, padding, xlo, xhi, ylo, yhi);
  i2 = pixel(y1 + 1, x1, h, w, c, padding, xlo, xhi, ylo, yhi);
  i3 = pixel(y1 + 1, x1 + 1, h, w, c, padding, xlo, xhi, ylo, yhi);
  w0 = gy0 * gx0;
  w1 = gy0 * gx1;
  w2 = gy1 * gx0;
  w3 = gy1 * gx1;
}

/** y[p, :] += wt * x[off, :] over c channels (off >= 0). */
function addScaled(y: usize, x: usize, off: i32, wt: f32, c: i32): void {
  if (off < 0) return;
  const src = x + (<usize>off << 2);
  let k = 0;
  if (ASC_FEATURE_SIMD) {
    const vw = f32x4.splat(wt);
    for (; k + 4 <= c; k += 4) {
      const o = <usize>k << 2;
      v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(vw, v128.load(src + o))));
    }
  }
  for (; k < c; k++) {
    const o = <usize>k << 2;
    store<f32>(y + o, load<f32>(y + o) + wt * load<f32>(src + o));
  }
}

/**
 * GridSample forward: y [n, ho, wo, c] from x [n, h, w, c] and grid [n, ho, wo, 2]. mode 0
 * linear (bilinear), 1 nearest; padding 0 zeros, 1 border, 2 reflection; align: align_corners.
 */
export function gridsample_f32_forward(y: usize, x: usize, grid: usize, n: i32, h: i32, w: i32, c: i32, ho: i32, wo: i32, mode: i32, padding: i32, align: i32): void {
  const points = ho * wo;
  for (let b = 0; b < n; b++) {
    const xb = x + (<usize>(b * h * w * c) << 2);
    for (let p = 0; p < points; p++) {
      const q = b * points + p;
      const gp = grid + (<usize>q << 3);
      locate(load<f32>(gp), load<f32>(gp, 4), h, w, c, mode, padding, align);
      const yp = y + (<usize>(q * c) << 2);
      memory.fill(yp, 0, <usize>c << 2);
      addScaled(yp, xb, i0, w0, c);
      addScaled(yp, xb, i1, w1, c);
      addScaled(yp, xb, i2, w2, c);
      addScaled(yp, xb, i3, w3, c);
    }
  }
}

/** sum over c of dy[:] * x[off, :] (0 for off < 0). */
function dotAt(dy: usize, x: usize, off: i32, c: i32): f32 {
  if (off < 0) return 0;
  const src = x + (<usize>off << 2);
  let s: f32 = 0;
  for (let k = 0; k < c; k++) s += load<f32>(dy + (<usize>k << 2)) * load<f32>(src + (<usize>k << 2));
  return s;
}

/**
 * GridSample backward, ACCUMULATING: dx [n, h, w, c] += the scatter of dy through the forward's
 * weights (when dx != 0), and dgrid [n, ho, wo, 2] += dL/dgrid (when dgrid != 0; 0 for nearest,
 * and where border padding clamped the coordinate).
 */
export function gridsample_f32_backward(dx: usize, dgrid: usize, dy: usize, x: usize, grid: usize, n: i32, h: i32, w: i32, c: i32, ho: i32, wo: i32, mode: i32, padding: i32, align: i32): void {
  const points = ho * wo;
  for (let b = 0; b < n; b++) {
    const off = <usize>(b * h * w * c) << 2;
    for (let p = 0; p < points; p++) {
      const q = b * points + p;
      const gp = grid + (<usize>q << 3);
      locate(load<f32>(gp), load<f32>(gp, 4), h, w, c, mode, padding, align);
      const dyp = dy + (<usize>(q * c) << 2);
      if (dx) {
        scatter(dx + off, dyp, i0, w0, c);
        scatter(dx + off, dyp, i1, w1, c);
        scatter(dx + off, dyp, i2, w2, c);
        scatter(dx + off, dyp, i3, w3, c);
      }
      if (dgrid && mode == MODE_LINEAR) {
        const xb = x + off;
        const p11 = dotAt(dyp, xb, i0, c),
          p12 = dotAt(dyp, xb, i1, c),
          p21 = dotAt(dyp, xb, i2, c),
          p22 = dotAt(dyp, xb, i3, c);
        const dX = gy0 * (p12 - p11) + gy1 * (p22 - p21),
          dY = gx0 * (p21 - p11) + gx1 * (p22 - p12);
        const dg = dgrid + (<usize>q << 3);
        store<f32>(dg, load<f32>(dg) + dX * sx);
        store<f32>(dg, load<f32>(dg, 4) + dY * sy, 4);
      }
    }
  }
}

/** dx[off, :] += wt * dy[:] over c channels (off >= 0). */
function scatter(dx: usize, dy: usize, off: i32, wt: f32, c: i32): void {
  if (off < 0) return;
  const dst = dx + (<usize>off << 2);
  let k = 0;
  if (ASC_FEATURE_SIMD) {
    const vw = f32x4.splat(wt);
    for (; k + 4 <= c; k += 4) {
      const o = <usize>k << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), f32x4.mul(vw, v128.load(dy + o))));
    }
  }
  for (; k < c; k++) {
    const o = <usize>k << 2;
    store<f32>(dst + o, load<f32>(dst + o) + wt * load<f32>(dy + o));
  }
}
