// RoiAlign (ONNX, Mask R-CNN's pooling of regions of a feature map): x [n, h, w, c] channels last,
// rois [r, 4] (x1, y1, x2, y2 in the input image's coordinates, f32), batch [r] (i32, each in
// [0, n): the host checks), y [r, ph, pw, c] channels last. Each output bin averages (or takes the
// largest of) gh x gw bilinear samples; the sample positions and weights are onnxruntime's
// (float32, the same operations in the same order), and the channels are combined 4 at a time
// (SIMD) with a scalar tail that is also the scalar build. No fused multiply-add: every build
// gives the same bits. The sample grid (gh, gw) comes from the host, which bounds it.

// one sample's 4 pixel offsets (elements, times c) and weights; an empty sample (outside the map)
// reads element 0 with weight 0, as onnxruntime does
let p1: i32 = 0, p2: i32 = 0, p3: i32 = 0, p4: i32 = 0;
let w1: f32 = 0, w2: f32 = 0, w3: f32 = 0, w4: f32 = 0;

function sampleAt(y: f32, x: f32, h: i32, w: i32, c: i32): void {
  if (!(y >= -1 && y <= <f32>h && x >= -1 && x <= <f32>w)) {
    // outside the map, or NaN
    p1 = p2 = p3 = p4 = 0;
    w1 = w2 = w3 = w4 = 0;
    return;
  }
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  let yl = <i32>y,
    xl = <i32>x,
    yh: i32,
    xh: i32;
  if (yl >= h - 1) {
    yh = yl = h - 1;
    y = <f32>yl;
  } else yh = yl + 1;
  if (xl >= w - 1) {
    xh = xl = w - 1;
    x = <f32>xl;
  } else xh = xl + 1;
  const ly = y - <f32>yl,
    lx = x - <f32>xl;
  const hy: f32 = 1 - ly,
    hx: f32 = 1 - lx;
  w1 = hy * hx;
  w2 = hy * lx;
  w3 = ly * hx;
  w4 = ly * lx;
  p1 = (yl * w + xl) * c;
  p2 = (yl * w + xh) * c;
  p3 = (yh * w + xl) * c;
  p4 = (yh * w + xh) * c;
}

/** The region of roi r: [x1, y1, width, height, bin width, bin height] (globals below). */
let rx: f32 = 0, ry: f32 = 0, binW: f32 = 0, binH: f32 = 0;
function region(rois: usize, r: i32, ph: i32, pw: i32, scale: f32, halfPixel: i32): void {
  const at = rois + (<usize>r << 4);
  const offset: f32 = halfPixel ? 0.5 : 0;
  rx = load<f32>(at) * scale - offset;
  ry = load<f32>(at, 4) * scale - offset;
  let width = load<f32>(at, 8) * scale - offset - rx,
    height = load<f32>(at, 12) * scale - offset - ry;
  if (!halfPixel) {
    // malformed rois become 1 x 1
    width = max(width, <f32>1);
    height = max(height, <f32>1);
  }
  binW = width / <f32>pw;
  binH = height / <f32>ph;
}

// what roialign_f32 computes (the host's ROI_ALIGN codes in src/graph/ops/detection.ts)
const AVG = 0,
  MAX = 1,
  BACKWARD = 2;

/**
 * RoiAlign, bins [r, ph, pw, c] and image [n, h, w, c]. AVG: each bin the mean of its samples;
 * MAX: the largest weighted corner of any sample (both write bins from image). BACKWARD (of AVG):
 * image (dx, zeroed by the caller) += each sample's weights times bins (dy) / count; rois are taken
 * in order, so overlapping ones add up the same way on every run and build. grid: 2 i32 per roi
 * (gh, gw: samples per bin along y and x, >= 0; the host computes them as onnxruntime does:
 * sampling_ratio, else ceil(extent / bins)).
 */
export function roialign_f32(
  bins: usize,
  image: usize,
  rois: usize,
  batch: usize,
  grid: usize,
  r: i32,
  h: i32,
  w: i32,
  c: i32,
  ph: i32,
  pw: i32,
  scale: f32,
  halfPixel: i32,
  mode: i32,
): void {
  // each mode its own inlined copy of the walk, its branches resolved at compile time
  if (mode == MAX) roiPass(bins, image, rois, batch, grid, r, h, w, c, ph, pw, scale, halfPixel, MAX);
  else if (mode == BACKWARD) roiPass(bins, image, rois, batch, grid, r, h, w, c, ph, pw, scale, halfPixel, BACKWARD);
  else roiPass(bins, image, rois, batch, grid, r, h, w, c, ph, pw, scale, halfPixel, AVG);
}

/** Every roi, bin and sample: AVG / MAX write bin [n, i, j, :] of y from image x; BACKWARD spreads bin y back into image x. */
// @ts-ignore: decorator
@inline function roiPass(
  y: usize,
  x: usize,
  rois: usize,
  batch: usize,
  grid: usize,
  r: i32,
  h: i32,
  w: i32,
  c: i32,
  ph: i32,
  pw: i32,
  scale: f32,
  halfPixel: i32,
  mode: i32,
): void {
  const image = <usize>h * <usize>w * <usize>c;
  for (let n = 0; n < r; n++) {
    region(rois, n, ph, pw, scale, halfPixel);
    const gh = load<i32>(grid + (<usize>n << 3)),
      gw = load<i32>(grid + (<usize>n << 3), 4);
    const count = <f32>max(gh * gw, 1);
    const xb = x + ((<usize>load<i32>(batch + (<usize>n << 2)) * image) << 2);
    for (let i = 0; i < ph; i++)
      for (let j = 0; j < pw; j++) {
        const bin = y + ((((<usize>n * <usize>ph + <usize>i) * <usize>pw + <usize>j) * <usize>c) << 2);
        if (mode != BACKWARD) memory.fill(bin, 0, <usize>c << 2);
        let first = true;
        for (let iy = 0; iy < gh; iy++) {
          const sy = ry + <f32>i * binH + ((<f32>iy + 0.5) * binH) / <f32>gh;
          for (let ix = 0; ix < gw; ix++) {
            const sx = rx + <f32>j * binW + ((<f32>ix + 0.5) * binW) / <f32>gw;
            sampleAt(sy, sx, h, w, c);
            if (mode == BACKWARD) {
              if (w1 == 0 && w2 == 0 && w3 == 0 && w4 == 0) continue;
              spread(xb + (<usize>p1 << 2), bin, w1, count, c);
              spread(xb + (<usize>p2 << 2), bin, w2, count, c);
              spread(xb + (<usize>p3 << 2), bin, w3, count, c);
              spread(xb + (<usize>p4 << 2), bin, w4, count, c);
            } else {
              combine(bin, xb, c, mode == MAX, first);
              first = false;
            }
          }
        }
        if (mode == AVG) {
          let k = 0;
          if (ASC_FEATURE_SIMD) {
            const vc = f32x4.splat(count);
            for (; k + 4 <= c; k += 4) v128.store(bin + (<usize>k << 2), f32x4.div(v128.load(bin + (<usize>k << 2)), vc));
          }
          for (; k < c; k++) store<f32>(bin + (<usize>k << 2), load<f32>(bin + (<usize>k << 2)) / count);
        }
      }
  }
}

/** One sample (the globals p1..p4, w1..w4) into bin `out` over c channels: summed, or the running largest (first: the first). */
function combine(out: usize, xb: usize, c: i32, maxMode: bool, first: bool): void {
  const a = xb + (<usize>p1 << 2),
    b = xb + (<usize>p2 << 2),
    d = xb + (<usize>p3 << 2),
    e = xb + (<usize>p4 << 2);
  let k = 0;
  if (ASC_FEATURE_SIMD) {
    const v1 = f32x4.splat(w1),
      v2 = f32x4.splat(w2),
      v3 = f32x4.splat(w3),
      v4 = f32x4.splat(w4);
    for (; k + 4 <= c; k += 4) {
      const o = <usize>k << 2;
      const t1 = f32x4.mul(v1, v128.load(a + o)),
        t2 = f32x4.mul(v2, v128.load(b + o)),
        t3 = f32x4.mul(v3, v128.load(d + o)),
        t4 = f32x4.mul(v4, v128.load(e + o));
      if (maxMode) {
        // std::max(a, b) = a < b ? b : a, as onnxruntime's
        let m = v128.bitselect(t2, t1, f32x4.lt(t1, t2));
        m = v128.bitselect(t3, m, f32x4.lt(m, t3));
        m = v128.bitselect(t4, m, f32x4.lt(m, t4));
        const prev = v128.load(out + o);
        v128.store(out + o, first ? m : v128.bitselect(m, prev, f32x4.lt(prev, m)));
      } else v128.store(out + o, f32x4.add(v128.load(out + o), f32x4.add(f32x4.add(f32x4.add(t1, t2), t3), t4)));
    }
  }
  for (; k < c; k++) {
    const o = <usize>k << 2;
    const t1 = w1 * load<f32>(a + o),
      t2 = w2 * load<f32>(b + o),
      t3 = w3 * load<f32>(d + o),
      t4 = w4 * load<f32>(e + o);
    if (maxMode) {
      let m = t1 < t2 ? t2 : t1;
      m = m < t3 ? t3 : m;
      m = m < t4 ? t4 : m;
      const prev = load<f32>(out + o);
      store<f32>(out + o, first ? m : prev < m ? m : prev);
    } else store<f32>(out + o, load<f32>(out + o) + (((t1 + t2) + t3) + t4));
  }
}

/** dst[k] += wt * (g[k] / count) over c channels. */
function spread(dst: usize, g: usize, wt: f32, count: f32, c: i32): void {
  let k = 0;
  if (ASC_FEATURE_SIMD) {
    const vw = f32x4.splat(wt),
      vc = f32x4.splat(count);
    for (; k + 4 <= c; k += 4) {
      const o = <usize>k << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), f32x4.mul(vw, f32x4.div(v128.load(g + o), vc))));
    }
  }
  for (; k < c; k++) {
    const o = <usize>k << 2;
    store<f32>(dst + o, load<f32>(dst + o) + wt * (load<f32>(g + o) / count));
  }
}
