// 2D convolution for few channels (stride 1, one group): forward, backward_input, backward_filter
// with SIMD lanes over OUTPUT PIXELS instead of channels, for shapes where conv2d.ts's 8-channel tiles
// run mostly scalar (LeNet's C=1 -> OC=6 and C=6 -> OC=16, RGB stems with few filters).
// Same layouts and geometry block as assembly/conv2d.ts (x (N,H,W,C), w (KH,KW,C,OC), y (N,OH,OW,OC));
// strides must be 1 and groups 1 (the host dispatches only those); any pads (negative: crop) and
// dilations work.
//
// Method ("flat planes"): per image the kernel copies x into zero-padded channel planes
// xp[c][r][s] = x[r - PT, s - PL, c] of Hp x Wp (Hp = OH + (KH-1)*DH, Wp = OW + (KW-1)*DW) in the
// host's workspace. Output pixel (oy, ox) is flat index q = oy*Wp + ox, and its tap (ky, kx, c) reads
// xp at q + c*PS + ky*DH*Wp + kx*DW: one constant offset per tap. So the convolution is a sum over
// K = KH*KW*C taps of (a contiguous run of xp) * (a scalar weight), computed for 8 consecutive q at
// once; the columns ox >= OW of each flat row are computed and dropped.
//   forward         y[q, oc] = sum_k xp[q + off_k] * w[k, oc]          (tiles: 4 oc x 8 q, 2 or 1 oc x 16 q)
//   backward_filter dw[k, oc] += sum_q xp[q + off_k] * dyT[oc][q]      (dyT: dy as planes, zero at ox >= OW)
//   backward_input  SIMD builds: scatter, xp[c][q + off_k] += sum_oc dyT[oc][q] * w[k, c, oc] into zeroed
//                   planes, then dx += their interior (tiles: 4 c x 8 q, 1 c x 16 q).
//                   Scalar build: the forward form on zero-padded dy planes with the flipped kernel
//                   wf[ky,kx,oc,c] = w[KH-1-ky, KW-1-kx, c, oc] (the full correlation), accumulated into dx.
// Workspace (floats, host-allocated, see conv2d_small_f32_workspace): 16 output-pixel addresses
// (PIX), a K-entry tap-offset table, the planes (plus 16 floats of zero slack that the last 8-wide
// tile may read), then dyT or wf.
// Kernels never allocate; forward overwrites y; the backward kernels ACCUMULATE. forward and
// backward_input compute the images of the geometry's partition (rowBegin, rowEnd: rows of whole
// images), so threads each take a range of images with a workspace of their own.

import { hsum, madd } from "./simd";
import {
  convC, convDh, convDw, convH, convKh, convKw, convN, convOc, convOcBegin, convOcEnd, convOh, convOw, convPartition,
  convPl, convPt, convRowBegin, convRowEnd, convW, PARTITION_MAGIC,
} from "./params.generated";

// ---- geometry (the "conv" parameter block, as conv2d.ts)
let sN: i32 = 0, sH: i32 = 0, sW: i32 = 0, sC: i32 = 0, sOH: i32 = 0, sOW: i32 = 0, sOC: i32 = 0;
let sKH: i32 = 0, sKW: i32 = 0, sPT: i32 = 0, sPL: i32 = 0, sDH: i32 = 1, sDW: i32 = 1;

/** The images [sNB, sNE) this call computes (forward, backward_input): its part or all of them. */
let sNB: i32 = 0, sNE: i32 = 0;

function readGeometrySmall(geom: usize): void {
  sN = convN(geom); sH = convH(geom); sW = convW(geom); sC = convC(geom);
  sOH = convOh(geom); sOW = convOw(geom); sOC = convOc(geom);
  sKH = convKh(geom); sKW = convKw(geom);
  sPT = convPt(geom); sPL = convPl(geom);
  sDH = convDh(geom); sDW = convDw(geom);
  sNB = 0;
  sNE = sN;
}

/**
 * The images of the geometry's partition (rowBegin, rowEnd: rows n*rowsPerImage + r of the pass's
 * output, whole images only, as the host splits them), or all of them, into sNB, sNE.
 */
function readImageRange(geom: usize, rowsPerImage: i32): void {
  if (convPartition(geom) != PARTITION_MAGIC || rowsPerImage <= 0) return;
  sNB = max(0, convRowBegin(geom) / rowsPerImage);
  sNE = min(sN, convRowEnd(geom) / rowsPerImage);
}

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

// @ts-ignore: decorator
@inline function up4(v: i32): i32 {
  return (v + 3) & ~3;
}

// @ts-ignore: decorator
@inline function up8(v: i32): i32 {
  return (v + 7) & ~7;
}

// @ts-ignore: decorator
@inline function up16(v: i32): i32 {
  return (v + 15) & ~15;
}

/** backward_input by scatter (flat rows of the conv's output, OH x Wp, with exactly the taps that
 *  exist) in the SIMD builds: measured faster than the full correlation (flat rows of the input,
 *  H x (W + (KW-1)*DW), many taps reading padding) on every shape tried, most on valid convs
 *  (scripts/bench-conv.mjs --case LeNet). The scalar build keeps the simpler full correlation. */
// @ts-ignore: decorator
@inline function scatterInput(): bool {
  return ASC_FEATURE_SIMD;
}

/** Zero floats after the planes: the last 16-pixel tile of a flat row may read up to
 *  15 + (KW-1)*DW floats past the last plane (those lanes are dropped, or meet zeros of dyT). */
// @ts-ignore: decorator
@inline function slack(): i32 {
  return 32 + (sKW - 1) * sDW;
}

/** Output addresses of the 16 pixels of one tile (0: a dropped column): the first PIX_FLOATS
 *  floats of the forward-form kernels' workspace (not static data: a worker may run them too). */
const PIX_FLOATS: i32 = 16;
let PIX: usize = 0;

// ---- the plane geometry of the current pass (set by each kernel before calling the cores)
let pK: i32 = 0; // taps
let pWp: i32 = 0; // flat row stride of the planes (and of dyT)
let pRows: i32 = 0; // output rows
let pOutW: i32 = 0; // valid output columns (< pWp)
let pOutC: i32 = 0; // output channels (row length of the weight matrix)

/**
 * Floats of workspace the pass needs for the geometry at `geom`: pass 0 forward, 1 backward_input,
 * 2 backward_filter. The host allocates that much and passes it as `ws`.
 */
export function conv2d_small_f32_workspace(geom: usize, pass: i32): i32 {
  readGeometrySmall(geom);
  return PIX_FLOATS + workspaceAfterPix(pass);
}

/** The workspace after PIX (the scatter backward_input has no PIX but keeps the same offset). */
function workspaceAfterPix(pass: i32): i32 {
  const KK = sKH * sKW;
  const Hp = sOH + (sKH - 1) * sDH, Wp = sOW + (sKW - 1) * sDW;
  if (pass == 1) {
    if (scatterInput()) return up4(sC * Hp * Wp + slack()) + sOC * up16(sOH * Wp);
    const Hq = sH + (sKH - 1) * sDH, Wq = sW + (sKW - 1) * sDW;
    return up4(KK * sOC) + up4(sOC * Hq * Wq + slack()) + KK * sOC * sC;
  }
  const base = up4(KK * sC) + up4(sC * Hp * Wp + slack());
  return pass == 2 ? base + sOC * up8(sOH * Wp) : base;
}

/** Writes the tap byte offsets (c*PS + ky*DH*Wp + kx*DW floats) in w's row order (ky, kx, c). */
function writeTaps(taps: usize, planes: i32, PS: i32, Wp: i32): void {
  let k = 0;
  for (let ky = 0; ky < sKH; ky++) {
    for (let kx = 0; kx < sKW; kx++) {
      for (let c = 0; c < planes; c++) {
        store<i32>(taps + (<usize>k << 2), (c * PS + ky * sDH * Wp + kx * sDW) << 2);
        k++;
      }
    }
  }
}

/** planes[c][(r + top) * Wp + s + left] = src[r, s, c] (src: rows x cols x C, NHWC of one image),
 *  clipped to Hp x Wp; the rest of the planes is left as it is (zero: the kernels clear it once). */
function toPlanes(
  planes: usize, src: usize, rows: i32, cols: i32, C: i32, top: i32, left: i32, Hp: i32, Wp: i32, PS: i32, srcStride: i32 = -1,
): void {
  const stride = srcStride < 0 ? C : srcStride; // floats between src's pixels (C, or more for a channel slice)
  const r0 = max(0, -top), r1 = min(rows, Hp - top);
  const s0 = max(0, -left), s1 = min(cols, Wp - left);
  if (s0 >= s1) return;
  for (let r = r0; r < r1; r++) {
    const srow = at(src, (r * cols + s0) * stride);
    const drow = at(planes, (r + top) * Wp + s0 + left);
    const cnt = s1 - s0;
    if (stride == 1) {
      memory.copy(drow, srow, <usize>cnt << 2);
      continue;
    }
    for (let c = 0; c < C; c++) {
      const d = at(drow, c * PS);
      let s = at(srow, c);
      for (let i = 0; i < cnt; i++) {
        store<f32>(at(d, i), load<f32>(s));
        s += <usize>stride << 2;
      }
    }
  }
}

/** Fills PIX with the output addresses of flat pixels q0..q0+15 (0 where dropped); (r, c) = q0's row
 *  and column. out = &out[image, 0, 0, 0] with pOutW columns and pOutC channels. */
// @ts-ignore: decorator
@inline function pixelAddresses(out: usize, r: i32, c: i32): void {
  for (let i = 0; i < 16; i++) {
    let a: usize = 0;
    if (c < pOutW && r < pRows) a = at(out, (r * pOutW + c) * pOutC);
    store<usize>(PIX + (<usize>i << 2), a);
    c++;
    if (c == pWp) { c = 0; r++; }
  }
}

// @ts-ignore: decorator
@inline function put4(a: usize, v: v128, accumulate: bool): void {
  if (a != 0) v128.store(a, accumulate ? f32x4.add(v128.load(a), v) : v);
}

// @ts-ignore: decorator
@inline function put1(a: usize, v: f32, accumulate: bool): void {
  if (a != 0) store<f32>(a, accumulate ? load<f32>(a) + v : v);
}

/** Taps per block of flatForward's sums (from zero, then added to the output; sums of up to
 *  2 * SUM_TAPS taps stay one block) and pixels per block of flatFilter's (SUM_PIXELS / 4 per lane):
 *  float32 chains of a block, not K or OH*Wp (see SUM_BLOCK in assembly/conv2d.ts). */
const SUM_TAPS: i32 = 128;
const SUM_PIXELS: i32 = 512;

/**
 * out[pixel, oc] (=, or += when accumulate) sum over the pK taps of planes[q + tap] * wk[tap, oc]
 * for every flat pixel q < pRows*pWp with column < pOutW. taps: byte offsets; wk: [pK, pOutC].
 */
function flatForward(out: usize, planes: usize, taps: usize, wk: usize, accumulate: bool): void {
  const K = pK, OC = pOutC, Q = pRows * pWp;
  const wrow = <usize>OC << 2;
  const kb = K <= 2 * SUM_TAPS ? K : SUM_TAPS; // taps per block: short sums (LeNet's 150) stay one
  if (ASC_FEATURE_SIMD) {
    let r = 0, c = 0;
    for (let q = 0; q < Q; q += 16) {
      pixelAddresses(out, r, c);
      const xq = at(planes, q);
      const second = q + 8 < Q; // the tile's pixels 8..15 include some of the output
      let oc = 0;
      for (; oc + 4 <= OC; oc += 4) {
        for (let k0 = 0; k0 < K; k0 += kb) {
          const kc = min(kb, K - k0), acc = accumulate || k0 > 0;
          const wq = at(wk, oc) + <usize>k0 * wrow, tq = taps + (<usize>k0 << 2);
          tile4x8(xq, wq, tq, kc, wrow, PIX, oc, acc);
          if (second) tile4x8(xq + 32, wq, tq, kc, wrow, PIX + 32, oc, acc);
        }
      }
      for (; oc + 2 <= OC; oc += 2) {
        for (let k0 = 0; k0 < K; k0 += kb) {
          const acc = accumulate || k0 > 0;
          let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
          let wq = at(wk, oc) + <usize>k0 * wrow, tq = taps + (<usize>k0 << 2);
          for (let k = k0, ke = min(K, k0 + kb); k < ke; k++) {
            const p = xq + <usize>load<i32>(tq);
            const x0 = v128.load(p), x1 = v128.load(p, 16), x2 = v128.load(p, 32), x3 = v128.load(p, 48);
            const w0 = v128.load32_splat(wq), w1 = v128.load32_splat(wq, 4);
            a0 = madd(x0, w0, a0); a1 = madd(x1, w0, a1); a2 = madd(x2, w0, a2); a3 = madd(x3, w0, a3);
            a4 = madd(x0, w1, a4); a5 = madd(x1, w1, a5); a6 = madd(x2, w1, a6); a7 = madd(x3, w1, a7);
            wq += wrow;
            tq += 4;
          }
          putLanes(PIX, oc, a0, a1, acc);
          putLanes(PIX + 32, oc, a2, a3, acc);
          putLanes(PIX, oc + 1, a4, a5, acc);
          putLanes(PIX + 32, oc + 1, a6, a7, acc);
        }
      }
      if (oc < OC) {
        for (let k0 = 0; k0 < K; k0 += kb) {
          const acc = accumulate || k0 > 0;
          let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
          let wq = at(wk, oc) + <usize>k0 * wrow, tq = taps + (<usize>k0 << 2);
          for (let k = k0, ke = min(K, k0 + kb); k < ke; k++) {
            const p = xq + <usize>load<i32>(tq);
            const w0 = v128.load32_splat(wq);
            a0 = madd(v128.load(p), w0, a0);
            a1 = madd(v128.load(p, 16), w0, a1);
            a2 = madd(v128.load(p, 32), w0, a2);
            a3 = madd(v128.load(p, 48), w0, a3);
            wq += wrow;
            tq += 4;
          }
          putLanes(PIX, oc, a0, a1, acc);
          putLanes(PIX + 32, oc, a2, a3, acc);
        }
      }
      c += 16;
      while (c >= pWp) { c -= pWp; r++; }
    }
    return;
  }
  // scalar build
  for (let r = 0; r < pRows; r++) {
    for (let c = 0; c < pOutW; c++) {
      const xq = at(planes, r * pWp + c);
      const o = at(out, (r * pOutW + c) * OC);
      for (let oc = 0; oc < OC; oc++) {
        let wq = at(wk, oc), tq = taps;
        for (let k0 = 0; k0 < K; k0 += kb) {
          let s: f32 = 0;
          for (let k = k0, ke = min(K, k0 + kb); k < ke; k++) {
            s += load<f32>(xq + <usize>load<i32>(tq)) * load<f32>(wq);
            wq += wrow;
            tq += 4;
          }
          put1(at(o, oc), s, accumulate || k0 > 0);
        }
      }
    }
  }
}

/** a + off, or 0 when a is 0 (a dropped pixel). */
// @ts-ignore: decorator
@inline function nz(a: usize, off: usize): usize {
  return a != 0 ? a + off : 0;
}

/** Channel oc of 8 tile pixels (lanes of lo, hi) into their output addresses at pix[0..7]. */
// @ts-ignore: decorator
@inline function putLanes(pix: usize, oc: i32, lo: v128, hi: v128, accumulate: bool): void {
  const o = <usize>oc << 2;
  put1(nz(load<usize>(pix), o), f32x4.extract_lane(lo, 0), accumulate);
  put1(nz(load<usize>(pix, 4), o), f32x4.extract_lane(lo, 1), accumulate);
  put1(nz(load<usize>(pix, 8), o), f32x4.extract_lane(lo, 2), accumulate);
  put1(nz(load<usize>(pix, 12), o), f32x4.extract_lane(lo, 3), accumulate);
  put1(nz(load<usize>(pix, 16), o), f32x4.extract_lane(hi, 0), accumulate);
  put1(nz(load<usize>(pix, 20), o), f32x4.extract_lane(hi, 1), accumulate);
  put1(nz(load<usize>(pix, 24), o), f32x4.extract_lane(hi, 2), accumulate);
  put1(nz(load<usize>(pix, 28), o), f32x4.extract_lane(hi, 3), accumulate);
}

/** 4 output channels x 8 flat pixels: xq = &planes[q], wq = &wk[0, oc] (rows wrow bytes apart),
 *  pix = the 8 pixels' output addresses (0: dropped). */
function tile4x8(xq: usize, wq: usize, tq: usize, K: i32, wrow: usize, pix: usize, oc: i32, accumulate: bool): void {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (let k = 0; k < K; k++) {
    const p = xq + <usize>load<i32>(tq);
    const x0 = v128.load(p), x1 = v128.load(p, 16);
    const w0 = v128.load32_splat(wq), w1 = v128.load32_splat(wq, 4);
    const w2 = v128.load32_splat(wq, 8), w3 = v128.load32_splat(wq, 12);
    a0 = madd(x0, w0, a0); a1 = madd(x1, w0, a1);
    a2 = madd(x0, w1, a2); a3 = madd(x1, w1, a3);
    a4 = madd(x0, w2, a4); a5 = madd(x1, w2, a5);
    a6 = madd(x0, w3, a6); a7 = madd(x1, w3, a7);
    wq += wrow;
    tq += 4;
  }
  // transpose (oc x pixel) 4x4 blocks into pixel vectors of 4 channels
  const o = <usize>oc << 2;
  let t0 = f32x4.shuffle(a0, a2, 0, 4, 1, 5), t1 = f32x4.shuffle(a4, a6, 0, 4, 1, 5);
  let t2 = f32x4.shuffle(a0, a2, 2, 6, 3, 7), t3 = f32x4.shuffle(a4, a6, 2, 6, 3, 7);
  put4(nz(load<usize>(pix), o), f32x4.shuffle(t0, t1, 0, 1, 4, 5), accumulate);
  put4(nz(load<usize>(pix, 4), o), f32x4.shuffle(t0, t1, 2, 3, 6, 7), accumulate);
  put4(nz(load<usize>(pix, 8), o), f32x4.shuffle(t2, t3, 0, 1, 4, 5), accumulate);
  put4(nz(load<usize>(pix, 12), o), f32x4.shuffle(t2, t3, 2, 3, 6, 7), accumulate);
  t0 = f32x4.shuffle(a1, a3, 0, 4, 1, 5); t1 = f32x4.shuffle(a5, a7, 0, 4, 1, 5);
  t2 = f32x4.shuffle(a1, a3, 2, 6, 3, 7); t3 = f32x4.shuffle(a5, a7, 2, 6, 3, 7);
  put4(nz(load<usize>(pix, 16), o), f32x4.shuffle(t0, t1, 0, 1, 4, 5), accumulate);
  put4(nz(load<usize>(pix, 20), o), f32x4.shuffle(t0, t1, 2, 3, 6, 7), accumulate);
  put4(nz(load<usize>(pix, 24), o), f32x4.shuffle(t2, t3, 0, 1, 4, 5), accumulate);
  put4(nz(load<usize>(pix, 28), o), f32x4.shuffle(t2, t3, 2, 3, 6, 7), accumulate);
}

// =============================================================================================
// forward
// =============================================================================================

/**
 * y = conv(x, w) for stride 1, groups 1: y (N,OH,OW,OC), x (N,H,W,C), w (KH,KW,C,OC); geometry at
 * `geom` (conv2d.ts's block); ws: conv2d_small_f32_workspace(geom, 0) floats. Overwrites y.
 */
export function conv2d_small_f32_forward(y: usize, x: usize, w: usize, ws: usize, geom: usize): void {
  readGeometrySmall(geom);
  readImageRange(geom, sOH);
  PIX = ws;
  ws = at(ws, PIX_FLOATS);
  const C = sC, Hp = sOH + (sKH - 1) * sDH, Wp = sOW + (sKW - 1) * sDW, PS = Hp * Wp;
  const K = sKH * sKW * C;
  const taps = ws, planes = at(ws, up4(K));
  memory.fill(planes, 0, <usize>up4(C * PS + slack()) << 2);
  writeTaps(taps, C, PS, Wp);
  pK = K; pWp = Wp; pRows = sOH; pOutW = sOW; pOutC = sOC;
  for (let n = sNB; n < sNE; n++) {
    toPlanes(planes, at(x, n * sH * sW * C), sH, sW, C, sPT, sPL, Hp, Wp, PS);
    flatForward(at(y, n * sOH * sOW * sOC), planes, taps, w, false);
  }
}

// =============================================================================================
// backward_input
// =============================================================================================

/**
 * dx (N,H,W,C) += the input gradient from dy (N,OH,OW,OC) and w (KH,KW,C,OC), stride 1, groups 1;
 * ws: conv2d_small_f32_workspace(geom, 1) floats.
 */
export function conv2d_small_f32_backward_input(dx: usize, dy: usize, w: usize, ws: usize, geom: usize): void {
  readGeometrySmall(geom);
  readImageRange(geom, sH);
  PIX = ws;
  ws = at(ws, PIX_FLOATS);
  if (scatterInput()) {
    scatterBackwardInput(dx, dy, w, ws);
    return;
  }
  const C = sC, OC = sOC, KH = sKH, KW = sKW;
  const Hq = sH + (KH - 1) * sDH, Wq = sW + (KW - 1) * sDW, PS = Hq * Wq;
  const K = KH * KW * OC;
  const taps = ws, planes = at(ws, up4(K)), wf = at(planes, up4(OC * PS + slack()));
  memory.fill(planes, 0, <usize>up4(OC * PS + slack()) << 2);
  writeTaps(taps, OC, PS, Wq);
  // wf[ky,kx,oc,c] = w[KH-1-ky, KW-1-kx, c, oc]
  for (let ky = 0; ky < KH; ky++) {
    for (let kx = 0; kx < KW; kx++) {
      const src = at(w, ((KH - 1 - ky) * KW + (KW - 1 - kx)) * C * OC);
      const dst = at(wf, (ky * KW + kx) * OC * C);
      for (let c = 0; c < C; c++) {
        for (let oc = 0; oc < OC; oc++) store<f32>(at(dst, oc * C + c), load<f32>(at(src, c * OC + oc)));
      }
    }
  }
  pK = K; pWp = Wq; pRows = sH; pOutW = sW; pOutC = C;
  // dy (oy, ox) sits at plane row oy + (KH-1)*DH - PT, column ox + (KW-1)*DW - PL
  const top = (KH - 1) * sDH - sPT, left = (KW - 1) * sDW - sPL;
  for (let n = sNB; n < sNE; n++) {
    toPlanes(planes, at(dy, n * sOH * sOW * OC), sOH, sOW, OC, top, left, Hq, Wq, PS);
    flatForward(at(dx, n * sH * sW * C), planes, taps, wf, true);
  }
}

/**
 * backward_input by scatter (SIMD builds): per image, dy as planes dyT[oc][q] (q = oy*Wp + ox, zero
 * at ox >= OW) and a zeroed accumulator xp[c] of the forward's padded-plane geometry; for each block
 * of input channels and each tap, xp[c][q + tap] += sum over oc of dyT[oc][q] * w[tap, c, oc] for all
 * q (taps outer, so consecutive read-modify-writes never overlap); then dx += xp's interior.
 */
function scatterBackwardInput(dx: usize, dy: usize, w: usize, ws: usize): void {
  const C = sC, OC = sOC, KH = sKH, KW = sKW;
  const Hp = sOH + (KH - 1) * sDH, Wp = sOW + (KW - 1) * sDW, PS = Hp * Wp;
  const QE = up16(sOH * Wp);
  const planesFloats = up4(C * PS + slack());
  const xp = ws, dyT = at(ws, planesFloats);
  memory.fill(dyT, 0, <usize>(OC * QE) << 2);
  const r0 = max(0, sPT), r1 = min(Hp, sH + sPT), c0 = max(0, sPL), c1 = min(Wp, sW + sPL);
  const dystep = <usize>QE << 2, wrow = <usize>OC << 2;
  for (let n = sNB; n < sNE; n++) {
    memory.fill(xp, 0, <usize>planesFloats << 2);
    toPlanes(dyT, at(dy, n * sOH * sOW * OC), sOH, sOW, OC, 0, 0, sOH, Wp, QE);
    if (ASC_FEATURE_SIMD) {
      for (let ky = 0; ky < KH; ky++) {
        for (let kx = 0; kx < KW; kx++) {
          const off = ky * sDH * Wp + kx * sDW;
          const wk = at(w, (ky * KW + kx) * C * OC); // w[ky, kx, c, oc] = wk[c*OC + oc]
          let c = 0;
          for (; c + 4 <= C; c += 4) {
            const wc = at(wk, c * OC);
            const xc = at(xp, c * PS + off);
            for (let q = 0; q < QE; q += 8) {
              let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
              let dq = at(dyT, q), wq = wc;
              for (let oc = 0; oc < OC; oc++) {
                const d0 = v128.load(dq), d1 = v128.load(dq, 16);
                const w0 = v128.load32_splat(wq), w1 = v128.load32_splat(wq + wrow);
                const w2 = v128.load32_splat(wq + 2 * wrow), w3 = v128.load32_splat(wq + 3 * wrow);
                a0 = madd(d0, w0, a0); a1 = madd(d1, w0, a1);
                a2 = madd(d0, w1, a2); a3 = madd(d1, w1, a3);
                a4 = madd(d0, w2, a4); a5 = madd(d1, w2, a5);
                a6 = madd(d0, w3, a6); a7 = madd(d1, w3, a7);
                dq += dystep;
                wq += 4;
              }
              const p0 = at(xc, q), ps = <usize>PS << 2;
              v128.store(p0, f32x4.add(v128.load(p0), a0)); v128.store(p0, f32x4.add(v128.load(p0, 16), a1), 16);
              const p1 = p0 + ps;
              v128.store(p1, f32x4.add(v128.load(p1), a2)); v128.store(p1, f32x4.add(v128.load(p1, 16), a3), 16);
              const p2 = p1 + ps;
              v128.store(p2, f32x4.add(v128.load(p2), a4)); v128.store(p2, f32x4.add(v128.load(p2, 16), a5), 16);
              const p3 = p2 + ps;
              v128.store(p3, f32x4.add(v128.load(p3), a6)); v128.store(p3, f32x4.add(v128.load(p3, 16), a7), 16);
            }
          }
          for (; c < C; c++) {
            const wc = at(wk, c * OC);
            const xc = at(xp, c * PS + off);
            for (let q = 0; q < QE; q += 16) {
              let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
              let dq = at(dyT, q), wq = wc;
              for (let oc = 0; oc < OC; oc++) {
                const wv = v128.load32_splat(wq);
                a0 = madd(v128.load(dq), wv, a0); a1 = madd(v128.load(dq, 16), wv, a1);
                a2 = madd(v128.load(dq, 32), wv, a2); a3 = madd(v128.load(dq, 48), wv, a3);
                dq += dystep;
                wq += 4;
              }
              const p0 = at(xc, q);
              v128.store(p0, f32x4.add(v128.load(p0), a0)); v128.store(p0, f32x4.add(v128.load(p0, 16), a1), 16);
              v128.store(p0, f32x4.add(v128.load(p0, 32), a2), 32); v128.store(p0, f32x4.add(v128.load(p0, 48), a3), 48);
            }
          }
        }
      }
    }
    // dx[n, r - PT, s - PL, c] += xp[c][r][s]
    for (let r = r0; r < r1; r++) {
      for (let s = c0; s < c1; s++) {
        const d = at(dx, ((n * sH + r - sPT) * sW + s - sPL) * C);
        const src = at(xp, r * Wp + s);
        for (let c = 0; c < C; c++) {
          const p = at(d, c);
          store<f32>(p, load<f32>(p) + load<f32>(at(src, c * PS)));
        }
      }
    }
  }
}

// =============================================================================================
// backward_filter
// =============================================================================================

/**
 * dw (KH,KW,C,OC) += the filter gradient from dy (N,OH,OW,OC) and x (N,H,W,C), stride 1, groups 1,
 * for the output channels of the geometry's partition (ocBegin, ocEnd: the host starts parts at
 * multiples of 8), or all of them; ws: conv2d_small_f32_workspace(geom, 2) floats (a part needs
 * only its channels' dyT planes). Every dw element gets the same bits however the channels are
 * split: its 4-channel block, its taps and its sum over the images are those of one whole call.
 */
export function conv2d_small_f32_backward_filter(dw: usize, dy: usize, x: usize, ws: usize, geom: usize): void {
  readGeometrySmall(geom);
  let ob = 0, oe = sOC;
  if (convPartition(geom) == PARTITION_MAGIC) {
    ob = max(0, convOcBegin(geom));
    oe = min(sOC, convOcEnd(geom));
  }
  if (ob >= oe) return;
  ws = at(ws, PIX_FLOATS);
  const C = sC, OC = sOC, OCn = oe - ob, Hp = sOH + (sKH - 1) * sDH, Wp = sOW + (sKW - 1) * sDW, PS = Hp * Wp;
  const K = sKH * sKW * C, QE = up8(sOH * Wp);
  const taps = ws, planes = at(ws, up4(K)), dyT = at(planes, up4(C * PS + slack()));
  memory.fill(planes, 0, <usize>(up4(C * PS + slack()) + OCn * QE) << 2);
  writeTaps(taps, C, PS, Wp);
  for (let n = 0; n < sN; n++) {
    toPlanes(planes, at(x, n * sH * sW * C), sH, sW, C, sPT, sPL, Hp, Wp, PS);
    toPlanes(dyT, at(dy, n * sOH * sOW * OC + ob), sOH, sOW, OCn, 0, 0, sOH, Wp, QE, OC);
    flatFilter(at(dw, ob), OC, planes, dyT, taps, K, OCn, QE);
  }
}

/** dw[k, oc] += sum over q < QE of planes[q + tap k] * dyT[oc][q] (dyT planes QE apart) for oc < OC; dw's rows ldw floats apart. */
function flatFilter(dw: usize, ldw: i32, planes: usize, dyT: usize, taps: usize, K: i32, OC: i32, QE: i32): void {
  const dstep = <usize>QE << 2;
  if (ASC_FEATURE_SIMD) {
    let oc = 0;
    for (; oc + 4 <= OC; oc += 4) {
      const d = at(dyT, oc * QE);
      let k = 0;
      for (; k + 2 <= K; k += 2) {
        let p0 = planes + <usize>load<i32>(taps + (<usize>k << 2));
        let p1 = planes + <usize>load<i32>(taps + (<usize>k << 2), 4);
        let dq = d;
        const r0 = at(dw, k * ldw + oc), r1 = at(dw, (k + 1) * ldw + oc);
        for (let q0 = 0; q0 < QE; q0 += SUM_PIXELS) {
          let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
          for (let q = q0, qe = min(QE, q0 + SUM_PIXELS); q < qe; q += 4) {
            const x0 = v128.load(p0), x1 = v128.load(p1);
            const d0 = v128.load(dq), d1 = v128.load(dq + dstep);
            const d2 = v128.load(dq + 2 * dstep), d3 = v128.load(dq + 3 * dstep);
            a0 = madd(x0, d0, a0); a1 = madd(x0, d1, a1); a2 = madd(x0, d2, a2); a3 = madd(x0, d3, a3);
            a4 = madd(x1, d0, a4); a5 = madd(x1, d1, a5); a6 = madd(x1, d2, a6); a7 = madd(x1, d3, a7);
            p0 += 16; p1 += 16; dq += 16;
          }
          v128.store(r0, f32x4.add(v128.load(r0), sum4(a0, a1, a2, a3)));
          v128.store(r1, f32x4.add(v128.load(r1), sum4(a4, a5, a6, a7)));
        }
      }
      if (k < K) {
        let p0 = planes + <usize>load<i32>(taps + (<usize>k << 2));
        let dq = d;
        const r0 = at(dw, k * ldw + oc);
        for (let q0 = 0; q0 < QE; q0 += SUM_PIXELS) {
          let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
          for (let q = q0, qe = min(QE, q0 + SUM_PIXELS); q < qe; q += 4) {
            const x0 = v128.load(p0);
            a0 = madd(x0, v128.load(dq), a0); a1 = madd(x0, v128.load(dq + dstep), a1);
            a2 = madd(x0, v128.load(dq + 2 * dstep), a2); a3 = madd(x0, v128.load(dq + 3 * dstep), a3);
            p0 += 16; dq += 16;
          }
          v128.store(r0, f32x4.add(v128.load(r0), sum4(a0, a1, a2, a3)));
        }
      }
    }
    for (; oc < OC; oc++) {
      const d = at(dyT, oc * QE);
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        let p0 = planes + <usize>load<i32>(taps + (<usize>k << 2));
        let p1 = planes + <usize>load<i32>(taps + (<usize>k << 2), 4);
        let p2 = planes + <usize>load<i32>(taps + (<usize>k << 2), 8);
        let p3 = planes + <usize>load<i32>(taps + (<usize>k << 2), 12);
        let dq = d;
        for (let q0 = 0; q0 < QE; q0 += SUM_PIXELS) {
          let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
          for (let q = q0, qe = min(QE, q0 + SUM_PIXELS); q < qe; q += 4) {
            const dv = v128.load(dq);
            a0 = madd(v128.load(p0), dv, a0); a1 = madd(v128.load(p1), dv, a1);
            a2 = madd(v128.load(p2), dv, a2); a3 = madd(v128.load(p3), dv, a3);
            p0 += 16; p1 += 16; p2 += 16; p3 += 16; dq += 16;
          }
          const s = sum4(a0, a1, a2, a3); // lane j: tap k+j
          addAt(at(dw, k * ldw + oc), f32x4.extract_lane(s, 0));
          addAt(at(dw, (k + 1) * ldw + oc), f32x4.extract_lane(s, 1));
          addAt(at(dw, (k + 2) * ldw + oc), f32x4.extract_lane(s, 2));
          addAt(at(dw, (k + 3) * ldw + oc), f32x4.extract_lane(s, 3));
        }
      }
      for (; k < K; k++) {
        let p0 = planes + <usize>load<i32>(taps + (<usize>k << 2));
        let dq = d;
        for (let q0 = 0; q0 < QE; q0 += SUM_PIXELS) {
          let a0 = f32x4.splat(0);
          for (let q = q0, qe = min(QE, q0 + SUM_PIXELS); q < qe; q += 4) {
            a0 = madd(v128.load(p0), v128.load(dq), a0);
            p0 += 16; dq += 16;
          }
          addAt(at(dw, k * ldw + oc), hsum(a0));
        }
      }
    }
    return;
  }
  // scalar build
  for (let k = 0; k < K; k++) {
    const p = planes + <usize>load<i32>(taps + (<usize>k << 2));
    for (let oc = 0; oc < OC; oc++) {
      const d = at(dyT, oc * QE);
      for (let q0 = 0; q0 < QE; q0 += SUM_PIXELS) {
        let s: f32 = 0;
        for (let q = q0, qe = min(QE, q0 + SUM_PIXELS); q < qe; q++) s += load<f32>(at(p, q)) * load<f32>(at(d, q));
        addAt(at(dw, k * ldw + oc), s);
      }
    }
  }
}

// @ts-ignore: decorator
@inline function addAt(p: usize, v: f32): void {
  store<f32>(p, load<f32>(p) + v);
}

/** [hsum(a), hsum(b), hsum(c), hsum(d)]. */
// @ts-ignore: decorator
@inline function sum4(a: v128, b: v128, c: v128, d: v128): v128 {
  // pairwise: t0 = [a0+a1.., ] via shuffles of 4x4 transposition then adds
  const t0 = f32x4.add(f32x4.shuffle(a, b, 0, 4, 1, 5), f32x4.shuffle(a, b, 2, 6, 3, 7)); // [a0+a2, b0+b2, a1+a3, b1+b3]
  const t1 = f32x4.add(f32x4.shuffle(c, d, 0, 4, 1, 5), f32x4.shuffle(c, d, 2, 6, 3, 7)); // [c0+c2, d0+d2, c1+c3, d1+d3]
  return f32x4.add(f32x4.shuffle(t0, t1, 0, 1, 4, 5), f32x4.shuffle(t0, t1, 2, 3, 6, 7));
}
