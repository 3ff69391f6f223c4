// 2D convolution in NHWC as implicit GEMM: forward, backward_input, backward_filter.
//   x  (N, H, W, C)              input
//   w  (KH, KW, C/G, OC)         weights, OC innermost: SIMD lanes run over output channels;
//                                group g owns input channels [g*C/G, (g+1)*C/G) and output
//                                channels [g*OC/G, (g+1)*OC/G)
//   y  (N, OH, OW, OC)           output
//   iy = oy*SH - PT + ky*DH,  ix = ox*SW - PL + kx*DW; taps outside [0,H) x [0,W) read zero.
// The kernels take OH and OW from the geometry block and never recompute them, so they also serve
// transposed convolution (whose output padding / output_shape may leave rows no tap reaches) and
// accept negative pads (a crop). Bias is separate: bias_f32_forward / bias_f32_backward.
// Pointers are byte addresses, 4-byte aligned (16 recommended). Kernels never allocate.
// conv2d_f32_forward overwrites y; the backward kernels ACCUMULATE (dx += ..., dw += ...).
//
// Register tiles (SIMD builds): forward 4 output pixels x 8 output channels (8 v128 accumulators,
// broadcast inputs, madd over KH*KW*C/G), with an interior path free of padding checks;
// backward_filter 4 input channels x 8 output channels reduced over all pixels; backward_input
// 4 output pixels x 8 input channels reduced over OC/G, scattered into dx (weights repacked by the
// kernel into the host's workspace `wt` so lanes run over input channels). Depthwise
// (C/G == 1 and OC/G == 1) has its own kernels vectorised over channels.

import { hsum, madd } from "./simd";
import {
  convC, convDh, convDw, convGroups, convH, convKh, convKw, convN, convOc, convOcBegin, convOcEnd, convOh, convOw,
  convPartition, convPl, convPt, convReady, convRowBegin, convRowEnd, convSh, convSw, convW, PARTITION_MAGIC,
} from "./params.generated";

// ---- The geometry block at `geom`: the "conv" parameter block (src/kernels/params.ts, its readers
// generated into params.generated.ts). Work partition (threads: each thread runs the same kernel
// on its own block with its own range), read only when its `partition` field holds
// PARTITION_MAGIC, so a plain geometry computes everything:
//   rowBegin, rowEnd   rows n*OH+oy of y (forward) or n*H+iy of dx (backward_input)
//   ocBegin, ocEnd     output channels of dw (backward_filter)
//   ready              backward_input: nonzero when `wt` already holds the repacked weights
// Read once per kernel call into these module globals; hot loops copy what they need to locals.
let gN: i32 = 0, gH: i32 = 0, gW: i32 = 0, gC: i32 = 0;
let gOH: i32 = 0, gOW: i32 = 0, gOC: i32 = 0, gKH: i32 = 0, gKW: i32 = 0;
let gSH: i32 = 1, gSW: i32 = 1, gPT: i32 = 0, gPL: i32 = 0, gDH: i32 = 1, gDW: i32 = 1;
let gG: i32 = 1, gCg: i32 = 1, gOCg: i32 = 1;
let gRB: i32 = 0, gRE: i32 = 0, gOB: i32 = 0, gOE: i32 = 0, gWtReady: i32 = 0;

function readGeometry(geom: usize): void {
  gN = convN(geom); gH = convH(geom); gW = convW(geom); gC = convC(geom);
  gOH = convOh(geom); gOW = convOw(geom); gOC = convOc(geom);
  gKH = convKh(geom); gKW = convKw(geom);
  gSH = convSh(geom); gSW = convSw(geom); gPT = convPt(geom); gPL = convPl(geom);
  gDH = convDh(geom); gDW = convDw(geom); gG = convGroups(geom);
  gCg = gC / gG;
  gOCg = gOC / gG;
  if (convPartition(geom) == PARTITION_MAGIC) {
    gRB = convRowBegin(geom); gRE = convRowEnd(geom);
    gOB = convOcBegin(geom); gOE = convOcEnd(geom); gWtReady = convReady(geom);
  } else {
    gRB = 0; gRE = i32.MAX_VALUE; gOB = 0; gOE = i32.MAX_VALUE; gWtReady = 0;
  }
}

/** The end of the row range [gRB, end) of a kernel over `rows` rows. */
// @ts-ignore: decorator
@inline function rowEnd(rows: i32): i32 {
  return min(gRE, rows);
}

/** floor(a / b) for b > 0 and any sign of a. */
// @ts-ignore: decorator
@inline function floorDiv(a: i32, b: i32): i32 {
  const q = a / b;
  return a % b != 0 && a < 0 ? q - 1 : q;
}

/** First o >= 0 with o*s + off >= 0 (the first output position whose tap is inside). */
// @ts-ignore: decorator
@inline function firstInside(off: i32, s: i32): i32 {
  return max(0, -floorDiv(off, s));
}

/** One past the last o < count with o*s + off < len (never below `lo`). */
// @ts-ignore: decorator
@inline function endInside(off: i32, s: i32, len: i32, count: i32, lo: i32): i32 {
  return max(lo, min(count, floorDiv(len - 1 - off, s) + 1));
}

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

// =============================================================================================
// forward
// =============================================================================================

/**
 * y = conv(x, w): y (N,OH,OW,OC), x (N,H,W,C), w (KH,KW,C/G,OC); geometry at `geom` (see above).
 * Overwrites y. No bias (bias_f32_forward adds it).
 */
export function conv2d_f32_forward(y: usize, x: usize, w: usize, geom: usize): void {
  readGeometry(geom);
  if (gCg == 1 && gOCg == 1) {
    depthwiseForward(y, x, w);
    return;
  }
  const OW = gOW, OC = gOC, OCg = gOCg, Cg = gCg;
  // Output columns whose every tap column is inside the input: the interior, no checks needed.
  const oxa = min(OW, firstInside(-gPL, gSW));
  const oxb = endInside(-gPL + (gKW - 1) * gDW, gSW, gW, OW, oxa);
  const re = rowEnd(gN * gOH);
  for (let r = gRB; r < re; r++) {
    const n = r / gOH, oy = r % gOH;
    const xn = at(x, n * gH * gW * gC);
    {
      const yrow = at(y, r * OW * OC);
      for (let g = 0; g < gG; g++) {
        const xg = at(xn, g * Cg);
        const yg = at(yrow, g * OCg);
        const wg = at(w, g * OCg);
        let oc = 0;
        if (ASC_FEATURE_SIMD) {
          for (; oc + 8 <= OCg; oc += 8) {
            let ox = 0;
            for (; ox < oxa; ox++) fwdPixel8(at(yg, ox * OC + oc), xg, at(wg, oc), oy, ox);
            for (; ox + 4 <= oxb; ox += 4) fwdTile4x8(at(yg, ox * OC + oc), xg, at(wg, oc), oy, ox);
            for (; ox < OW; ox++) fwdPixel8(at(yg, ox * OC + oc), xg, at(wg, oc), oy, ox);
          }
          for (; oc + 4 <= OCg; oc += 4) {
            let ox = 0;
            for (; ox < oxa; ox++) fwdPixel4(at(yg, ox * OC + oc), xg, at(wg, oc), oy, ox);
            for (; ox + 4 <= oxb; ox += 4) fwdTile4x4(at(yg, ox * OC + oc), xg, at(wg, oc), oy, ox);
            for (; ox < OW; ox++) fwdPixel4(at(yg, ox * OC + oc), xg, at(wg, oc), oy, ox);
          }
        }
        if (oc < OCg) {
          for (let ox = 0; ox < OW; ox++) fwdPixelScalar(at(yg, ox * OC), xg, wg, oy, ox, oc);
        }
      }
    }
  }
}

// Long sums: an output's KH*KW*C/G products are summed in blocks, each from zero in registers and
// then added to y in memory (the first block stores): a block ends at the end of a tap once it
// holds SUM_BLOCK or more products, and a tap's channels run in chunks of at most SUM_CHUNK. The
// error of a float32 sum grows with the length of its serial chains: one chain over K = 2,304
// products (3x3 over 256 channels) was 4x onnxruntime's error, blocks of 128 to 255 products are
// within 1.3x of it (tests/conv-precision.test.ts). Every path (tile, edge pixel, scalar)
// cuts an output's sum at the same places given the same taps, and no path depends on the thread
// partition.
const SUM_BLOCK: i32 = 128;
const SUM_CHUNK: i32 = 128;
/** The filter gradient's blocks: whole rows of output pixels until FILTER_BLOCK or more. */
const FILTER_BLOCK: i32 = 128;

/** y at p (8 floats) = lo, hi (first block) or += them. */
// @ts-ignore: decorator
@inline function flush8(p: usize, lo: v128, hi: v128, first: bool): void {
  if (!first) {
    lo = f32x4.add(v128.load(p), lo);
    hi = f32x4.add(v128.load(p, 16), hi);
  }
  v128.store(p, lo);
  v128.store(p, hi, 16);
}

/** y at p (4 floats) = v (first block) or += v. */
// @ts-ignore: decorator
@inline function flush4(p: usize, v: v128, first: bool): void {
  v128.store(p, first ? v : f32x4.add(v128.load(p), v));
}

/** 4 interior output pixels (ox..ox+3, every tap column inside) x 8 output channels.
 *  yp = &y[n,oy,ox,oc], xg = &x[n,0,0,g*Cg], wp = &w[0,0,0,oc]. */
function fwdTile4x8(yp: usize, xg: usize, wp: usize, oy: i32, ox: i32): void {
  const C = gC, Cg = gCg, W = gW, KW = gKW, DW = gDW;
  const xstep = <usize>(gSW * C) << 2; // bytes between the 4 pixels' inputs
  const wstep = <usize>gOC << 2; // bytes between weight rows (one input channel)
  const ystep = <usize>gOC << 2;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  let first = true, terms = 0;
  const ix0 = ox * gSW - gPL;
  for (let ky = 0; ky < gKH; ky++) {
    const iy = oy * gSH - gPT + ky * gDH;
    if (iy < 0 || iy >= gH) continue;
    for (let kx = 0; kx < KW; kx++) {
      let xp = at(xg, (iy * W + ix0 + kx * DW) * C);
      let wq = at(wp, (ky * KW + kx) * Cg * gOC);
      for (let c0 = 0; c0 < Cg; c0 += SUM_CHUNK) {
        const cn = min(SUM_CHUNK, Cg - c0);
        for (let ci = 0; ci < cn; ci++) {
          const w0 = v128.load(wq), w1 = v128.load(wq, 16);
          const x0 = v128.load32_splat(xp);
          const x1 = v128.load32_splat(xp + xstep);
          const x2 = v128.load32_splat(xp + 2 * xstep);
          const x3 = v128.load32_splat(xp + 3 * xstep);
          a0 = madd(x0, w0, a0); a1 = madd(x0, w1, a1);
          a2 = madd(x1, w0, a2); a3 = madd(x1, w1, a3);
          a4 = madd(x2, w0, a4); a5 = madd(x2, w1, a5);
          a6 = madd(x3, w0, a6); a7 = madd(x3, w1, a7);
          xp += 4;
          wq += wstep;
        }
        terms += cn;
        if (terms >= SUM_BLOCK) {
          flush8(yp, a0, a1, first); flush8(yp + ystep, a2, a3, first);
          flush8(yp + 2 * ystep, a4, a5, first); flush8(yp + 3 * ystep, a6, a7, first);
          a0 = f32x4.splat(0); a1 = a0; a2 = a0; a3 = a0; a4 = a0; a5 = a0; a6 = a0; a7 = a0;
          first = false;
          terms = 0;
        }
      }
    }
  }
  if (first || terms > 0) {
    flush8(yp, a0, a1, first); flush8(yp + ystep, a2, a3, first);
    flush8(yp + 2 * ystep, a4, a5, first); flush8(yp + 3 * ystep, a6, a7, first);
  }
}

/** As fwdTile4x8 for 4 output channels. */
function fwdTile4x4(yp: usize, xg: usize, wp: usize, oy: i32, ox: i32): void {
  const C = gC, Cg = gCg, W = gW, KW = gKW, DW = gDW;
  const xstep = <usize>(gSW * C) << 2;
  const wstep = <usize>gOC << 2;
  const ystep = <usize>gOC << 2;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  let first = true, terms = 0;
  const ix0 = ox * gSW - gPL;
  for (let ky = 0; ky < gKH; ky++) {
    const iy = oy * gSH - gPT + ky * gDH;
    if (iy < 0 || iy >= gH) continue;
    for (let kx = 0; kx < KW; kx++) {
      let xp = at(xg, (iy * W + ix0 + kx * DW) * C);
      let wq = at(wp, (ky * KW + kx) * Cg * gOC);
      for (let c0 = 0; c0 < Cg; c0 += SUM_CHUNK) {
        const cn = min(SUM_CHUNK, Cg - c0);
        for (let ci = 0; ci < cn; ci++) {
          const w0 = v128.load(wq);
          a0 = madd(v128.load32_splat(xp), w0, a0);
          a1 = madd(v128.load32_splat(xp + xstep), w0, a1);
          a2 = madd(v128.load32_splat(xp + 2 * xstep), w0, a2);
          a3 = madd(v128.load32_splat(xp + 3 * xstep), w0, a3);
          xp += 4;
          wq += wstep;
        }
        terms += cn;
        if (terms >= SUM_BLOCK) {
          flush4(yp, a0, first); flush4(yp + ystep, a1, first);
          flush4(yp + 2 * ystep, a2, first); flush4(yp + 3 * ystep, a3, first);
          a0 = f32x4.splat(0); a1 = a0; a2 = a0; a3 = a0;
          first = false;
          terms = 0;
        }
      }
    }
  }
  if (first || terms > 0) {
    flush4(yp, a0, first); flush4(yp + ystep, a1, first);
    flush4(yp + 2 * ystep, a2, first); flush4(yp + 3 * ystep, a3, first);
  }
}

/** One output pixel (any position: taps checked) x 8 output channels. Arguments as fwdTile4x8. */
function fwdPixel8(yp: usize, xg: usize, wp: usize, oy: i32, ox: i32): void {
  const C = gC, Cg = gCg, wstep = <usize>gOC << 2;
  let a0 = f32x4.splat(0), a1 = a0;
  let first = true, terms = 0;
  for (let ky = 0; ky < gKH; ky++) {
    const iy = oy * gSH - gPT + ky * gDH;
    if (iy < 0 || iy >= gH) continue;
    for (let kx = 0; kx < gKW; kx++) {
      const ix = ox * gSW - gPL + kx * gDW;
      if (ix < 0 || ix >= gW) continue;
      let xp = at(xg, (iy * gW + ix) * C);
      let wq = at(wp, (ky * gKW + kx) * Cg * gOC);
      for (let c0 = 0; c0 < Cg; c0 += SUM_CHUNK) {
        const cn = min(SUM_CHUNK, Cg - c0);
        for (let ci = 0; ci < cn; ci++) {
          const xv = v128.load32_splat(xp);
          a0 = madd(xv, v128.load(wq), a0);
          a1 = madd(xv, v128.load(wq, 16), a1);
          xp += 4;
          wq += wstep;
        }
        terms += cn;
        if (terms >= SUM_BLOCK) {
          flush8(yp, a0, a1, first);
          a0 = f32x4.splat(0); a1 = a0;
          first = false;
          terms = 0;
        }
      }
    }
  }
  if (first || terms > 0) flush8(yp, a0, a1, first);
}

/** One output pixel x 4 output channels. */
function fwdPixel4(yp: usize, xg: usize, wp: usize, oy: i32, ox: i32): void {
  const C = gC, Cg = gCg, wstep = <usize>gOC << 2;
  let a0 = f32x4.splat(0);
  let first = true, terms = 0;
  for (let ky = 0; ky < gKH; ky++) {
    const iy = oy * gSH - gPT + ky * gDH;
    if (iy < 0 || iy >= gH) continue;
    for (let kx = 0; kx < gKW; kx++) {
      const ix = ox * gSW - gPL + kx * gDW;
      if (ix < 0 || ix >= gW) continue;
      let xp = at(xg, (iy * gW + ix) * C);
      let wq = at(wp, (ky * gKW + kx) * Cg * gOC);
      for (let c0 = 0; c0 < Cg; c0 += SUM_CHUNK) {
        const cn = min(SUM_CHUNK, Cg - c0);
        for (let ci = 0; ci < cn; ci++) {
          a0 = madd(v128.load32_splat(xp), v128.load(wq), a0);
          xp += 4;
          wq += wstep;
        }
        terms += cn;
        if (terms >= SUM_BLOCK) {
          flush4(yp, a0, first);
          a0 = f32x4.splat(0);
          first = false;
          terms = 0;
        }
      }
    }
  }
  if (first || terms > 0) flush4(yp, a0, first);
}

/** One output pixel, output channels [oc0, OC/G) of the group, scalar (the whole scalar build):
 *  4 channels at a time in registers, then one. yp = &y[n,oy,ox,g*OCg], xg = &x[n,0,0,g*Cg],
 *  wg = &w[0,0,0,g*OCg]. */
function fwdPixelScalar(yp: usize, xg: usize, wg: usize, oy: i32, ox: i32, oc0: i32): void {
  let oc = oc0;
  for (; oc + 4 <= gOCg; oc += 4) fwdScalar4(at(yp, oc), xg, at(wg, oc), oy, ox);
  for (; oc < gOCg; oc++) fwdScalar1(at(yp, oc), xg, at(wg, oc), oy, ox);
}

/** y[n,oy,ox, 4 channels at yp] from the weight columns at wp: scalar fwdPixel4. */
function fwdScalar4(yp: usize, xg: usize, wp: usize, oy: i32, ox: i32): void {
  const Cg = gCg, wstep = <usize>gOC << 2;
  let a0: f32 = 0, a1: f32 = 0, a2: f32 = 0, a3: f32 = 0;
  let first = true, terms = 0;
  for (let ky = 0; ky < gKH; ky++) {
    const iy = oy * gSH - gPT + ky * gDH;
    if (iy < 0 || iy >= gH) continue;
    for (let kx = 0; kx < gKW; kx++) {
      const ix = ox * gSW - gPL + kx * gDW;
      if (ix < 0 || ix >= gW) continue;
      let xp = at(xg, (iy * gW + ix) * gC);
      let wq = at(wp, (ky * gKW + kx) * Cg * gOC);
      for (let c0 = 0; c0 < Cg; c0 += SUM_CHUNK) {
        const cn = min(SUM_CHUNK, Cg - c0);
        for (let ci = 0; ci < cn; ci++) {
          const xv = load<f32>(xp);
          a0 += xv * load<f32>(wq);
          a1 += xv * load<f32>(wq, 4);
          a2 += xv * load<f32>(wq, 8);
          a3 += xv * load<f32>(wq, 12);
          xp += 4;
          wq += wstep;
        }
        terms += cn;
        if (terms >= SUM_BLOCK) {
          flush1(yp, a0, first); flush1(yp + 4, a1, first); flush1(yp + 8, a2, first); flush1(yp + 12, a3, first);
          a0 = 0; a1 = 0; a2 = 0; a3 = 0;
          first = false;
          terms = 0;
        }
      }
    }
  }
  if (first || terms > 0) {
    flush1(yp, a0, first); flush1(yp + 4, a1, first); flush1(yp + 8, a2, first); flush1(yp + 12, a3, first);
  }
}

/** One output channel of fwdScalar4. */
function fwdScalar1(yp: usize, xg: usize, wp: usize, oy: i32, ox: i32): void {
  const Cg = gCg, wstep = <usize>gOC << 2;
  let a0: f32 = 0;
  let first = true, terms = 0;
  for (let ky = 0; ky < gKH; ky++) {
    const iy = oy * gSH - gPT + ky * gDH;
    if (iy < 0 || iy >= gH) continue;
    for (let kx = 0; kx < gKW; kx++) {
      const ix = ox * gSW - gPL + kx * gDW;
      if (ix < 0 || ix >= gW) continue;
      let xp = at(xg, (iy * gW + ix) * gC);
      let wq = at(wp, (ky * gKW + kx) * Cg * gOC);
      for (let c0 = 0; c0 < Cg; c0 += SUM_CHUNK) {
        const cn = min(SUM_CHUNK, Cg - c0);
        for (let ci = 0; ci < cn; ci++) {
          a0 += load<f32>(xp) * load<f32>(wq);
          xp += 4;
          wq += wstep;
        }
        terms += cn;
        if (terms >= SUM_BLOCK) {
          flush1(yp, a0, first);
          a0 = 0;
          first = false;
          terms = 0;
        }
      }
    }
  }
  if (first || terms > 0) flush1(yp, a0, first);
}

/** y at p = v (first block) or += v. */
// @ts-ignore: decorator
@inline function flush1(p: usize, v: f32, first: bool): void {
  store<f32>(p, first ? v : load<f32>(p) + v);
}

/** Depthwise forward (C/G == 1, OC/G == 1, so C == OC == G): lanes over channels. 3x3 taps, stride
 *  1, no dilation, C % 4 == 0 (SIMD builds): 4 output pixels at a time where all their taps lie
 *  inside the input (depthwise3x3Tile4); every other pixel (and shape) by depthwisePixel. Both sum
 *  each output's taps in the same order (ky, then kx), so results do not depend on the path. */
function depthwiseForward(y: usize, x: usize, w: usize): void {
  const tiles = ASC_FEATURE_SIMD && gKH == 3 && gKW == 3 && gSW == 1 && gDH == 1 && gDW == 1 && (gC & 3) == 0;
  // output columns whose 3 taps are all inside the input: [oxa, oxb)
  const oxa = max(0, gPL), oxb = max(oxa, min(gOW, gW - 2 + gPL));
  const re = rowEnd(gN * gOH);
  for (let r = gRB; r < re; r++) {
    const n = r / gOH, oy = r % gOH;
    const offy = oy * gSH - gPT;
    const kya = min(gKH, firstInside(offy, gDH));
    const kyb = endInside(offy, gDH, gH, gKH, kya);
    let ox = 0;
    if (tiles && kya == 0 && kyb == 3) {
      for (; ox < oxa; ox++) depthwisePixel(y, x, w, n, oy, ox, kya, kyb);
      for (; ox + 4 <= oxb; ox += 4) {
        depthwise3x3Tile4(at(y, ((n * gOH + oy) * gOW + ox) * gC), at(x, ((n * gH + offy) * gW + ox - gPL) * gC), w);
      }
    }
    for (; ox < gOW; ox++) depthwisePixel(y, x, w, n, oy, ox, kya, kyb);
  }
}

/** y at yp = 4 consecutive output pixels (C channels each) of a 3x3, stride-1 depthwise conv whose
 *  taps all lie inside the input: xp = x at the first pixel's top-left tap. C % 4 == 0. */
function depthwise3x3Tile4(yp: usize, xp: usize, w: usize): void {
  const cB = <usize>gC << 2, rowB = <usize>(gW * gC) << 2;
  for (let c: usize = 0; c < cB; c += 16) {
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
    for (let ky = 0; ky < 3; ky++) {
      // input columns 0..5 of tap row ky feed output pixel j through taps kx = column - j
      const xr = xp + <usize>ky * rowB + c, wr = w + <usize>(3 * ky) * cB + c;
      const w0 = v128.load(wr), w1 = v128.load(wr + cB), w2 = v128.load(wr + 2 * cB);
      const x0 = v128.load(xr), x1 = v128.load(xr + cB), x2 = v128.load(xr + 2 * cB);
      const x3 = v128.load(xr + 3 * cB), x4 = v128.load(xr + 4 * cB), x5 = v128.load(xr + 5 * cB);
      a0 = madd(x0, w0, a0); a0 = madd(x1, w1, a0); a0 = madd(x2, w2, a0);
      a1 = madd(x1, w0, a1); a1 = madd(x2, w1, a1); a1 = madd(x3, w2, a1);
      a2 = madd(x2, w0, a2); a2 = madd(x3, w1, a2); a2 = madd(x4, w2, a2);
      a3 = madd(x3, w0, a3); a3 = madd(x4, w1, a3); a3 = madd(x5, w2, a3);
    }
    v128.store(yp + c, a0);
    v128.store(yp + cB + c, a1);
    v128.store(yp + 2 * cB + c, a2);
    v128.store(yp + 3 * cB + c, a3);
  }
}

/** Depthwise output pixel (n, oy, ox), all channels, over the taps inside the input only (rows
 *  [kya, kyb) given, columns computed here): 8 channels at a time, then 4, then one. */
function depthwisePixel(y: usize, x: usize, w: usize, n: i32, oy: i32, ox: i32, kya: i32, kyb: i32): void {
  const C = gC, KW = gKW;
  const xtap = <usize>(gDW * C) << 2, wtap = <usize>C << 2; // bytes between horizontal taps
  const offy = oy * gSH - gPT;
  const offx = ox * gSW - gPL;
  const kxa = min(KW, firstInside(offx, gDW));
  const kxb = endInside(offx, gDW, gW, KW, kxa);
  const yp = at(y, ((n * gOH + oy) * gOW + ox) * C);
  // xp + (ky*DH*W*C) floats is x at (n, iy(ky), ix(kxa), 0) for ky in [kya, kyb); xp itself may
  // point before x (offy < 0): wasm32 address arithmetic wraps, and only inside taps are read.
  // wp + ky*KW*C floats is w at (ky, kxa, 0, 0).
  const xp = at(x, ((n * gH + offy) * gW + offx + kxa * gDW) * C);
  const wp = at(w, kxa * C);
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    for (; c + 8 <= C; c += 8) {
      let a0 = f32x4.splat(0), a1 = a0;
      for (let ky = kya; ky < kyb; ky++) {
        let xq = at(xp, (ky * gDH * gW) * C + c);
        let wq = at(wp, ky * KW * C + c);
        for (let kx = kxa; kx < kxb; kx++) {
          a0 = madd(v128.load(xq), v128.load(wq), a0);
          a1 = madd(v128.load(xq, 16), v128.load(wq, 16), a1);
          xq += xtap;
          wq += wtap;
        }
      }
      v128.store(at(yp, c), a0);
      v128.store(at(yp, c), a1, 16);
    }
    for (; c + 4 <= C; c += 4) {
      let a0 = f32x4.splat(0);
      for (let ky = kya; ky < kyb; ky++) {
        let xq = at(xp, (ky * gDH * gW) * C + c);
        let wq = at(wp, ky * KW * C + c);
        for (let kx = kxa; kx < kxb; kx++) {
          a0 = madd(v128.load(xq), v128.load(wq), a0);
          xq += xtap;
          wq += wtap;
        }
      }
      v128.store(at(yp, c), a0);
    }
  }
  if (c < C) {
    // channels [c, C), taps outer so every access runs along contiguous channels
    const c0 = c;
    for (let cc = c0; cc < C; cc++) store<f32>(at(yp, cc), 0);
    for (let ky = kya; ky < kyb; ky++) {
      let xq = at(xp, (ky * gDH * gW) * C);
      let wq = at(wp, ky * KW * C);
      for (let kx = kxa; kx < kxb; kx++) {
        for (let cc = c0; cc < C; cc++) {
          const o = at(yp, cc);
          store<f32>(o, load<f32>(o) + load<f32>(at(xq, cc)) * load<f32>(at(wq, cc)));
        }
        xq += xtap;
        wq += wtap;
      }
    }
  }
}

// =============================================================================================
// backward_filter: dw[ky,kx,ci,g*OCg+oc] += sum over n,oy,ox of x[n,iy,ix,g*Cg+ci] * dy[n,oy,ox,g*OCg+oc]
// =============================================================================================

// The output positions [tOYA, tOYB) x [tOXA, tOXB) whose tap (ky, kx) lies inside the input.
let tOYA: i32 = 0, tOYB: i32 = 0, tOXA: i32 = 0, tOXB: i32 = 0;

/** Sets tOYA..tOXB for tap (ky, kx); false when no output position reads it. */
// @ts-ignore: decorator
@inline function tapOutputs(ky: i32, kx: i32): bool {
  const offy = -gPT + ky * gDH, offx = -gPL + kx * gDW;
  tOYA = min(gOH, firstInside(offy, gSH));
  tOYB = endInside(offy, gSH, gH, gOH, tOYA);
  tOXA = min(gOW, firstInside(offx, gSW));
  tOXB = endInside(offx, gSW, gW, gOW, tOXA);
  return tOYA < tOYB && tOXA < tOXB;
}

/** dw (KH,KW,C/G,OC) += the filter gradient from dy (N,OH,OW,OC) and x (N,H,W,C). ws: depthwise
 *  convs only, KH*KW*C floats (a part uses its own channels of it), for the sums of blocks of rows. */
export function conv2d_f32_backward_filter(dw: usize, dy: usize, x: usize, ws: usize, geom: usize): void {
  readGeometry(geom);
  const depthwise = gCg == 1 && gOCg == 1;
  const Cg = gCg, OCg = gOCg, OC = gOC;
  const ocb = gOB, oce = min(gOE, OC); // this call's output channels
  if (ASC_FEATURE_SIMD && depthwise && gKH == 3 && gKW == 3 && gSH == 1 && gSW == 1 && gDH == 1 && gDW == 1) {
    depthwise3x3Filter(dw, dy, x, ws, ocb, oce);
    return;
  }
  for (let ky = 0; ky < gKH; ky++) {
    for (let kx = 0; kx < gKW; kx++) {
      if (!tapOutputs(ky, kx)) continue;
      const oya = tOYA, oyb = tOYB, oxa = tOXA, oxb = tOXB;
      const dwk = at(dw, (ky * gKW + kx) * Cg * OC);
      if (depthwise) {
        depthwiseFilter(dwk, dy, x, at(ws, (ky * gKW + kx) * gC), ky, kx, oya, oyb, oxa, oxb, ocb, oce);
        continue;
      }
      for (let g = 0; g < gG; g++) {
        // the group's channels [lo, hi) inside this call's range (the host splits at multiples of
        // 8 or at group boundaries, so every channel lands in the same tile as in one full call)
        const lo = max(0, ocb - g * OCg), hi = min(OCg, oce - g * OCg);
        if (lo >= hi) continue;
        let ocS = lo; // first output channel the scalar loop handles
        if (ASC_FEATURE_SIMD) {
          ocS = lo + ((hi - lo) & ~3);
          let ci = 0;
          for (; ci + 4 <= Cg; ci += 4) {
            let oc = lo;
            for (; oc + 8 <= hi; oc += 8) {
              filterTile4x8(at(dwk, ci * OC + g * OCg + oc), at(dy, g * OCg + oc), OC, at(x, g * Cg + ci), ky, kx, oya, oyb, oxa, oxb);
            }
            for (; oc + 4 <= hi; oc += 4) {
              filterTile1x4(at(dwk, ci * OC + g * OCg + oc), at(dy, g * OCg + oc), OC, at(x, g * Cg + ci), ky, kx, oya, oyb, oxa, oxb, 4);
            }
          }
          if (ci < Cg) {
            // the last 1-3 input channels together: 6 accumulators, not 1 (groups of fewer than 8
            // input channels take conv2d_f32_backward_filter_few unless its workspace did not fit)
            const rows = Cg - ci;
            let oc = lo;
            for (; oc + 8 <= hi; oc += 8) {
              filterTileFew8(at(dwk, ci * OC + g * OCg + oc), at(dy, g * OCg + oc), OC, at(x, g * Cg + ci), ky, kx, oya, oyb, oxa, oxb, rows);
            }
            for (; oc + 4 <= hi; oc += 4) {
              filterTile1x4(at(dwk, ci * OC + g * OCg + oc), at(dy, g * OCg + oc), OC, at(x, g * Cg + ci), ky, kx, oya, oyb, oxa, oxb, rows);
            }
          }
        }
        if (ocS < hi) filterScalar(at(dwk, g * OCg), at(dy, g * OCg), at(x, g * Cg), ky, kx, oya, oyb, oxa, oxb, ocS, hi);
      }
    }
  }
}

/** Floats of conv2d_f32_backward_filter_few's workspace: one 8-channel column of dy, N*OH*OW*8. */
export function conv2d_f32_backward_filter_few_workspace(geom: usize): i32 {
  readGeometry(geom);
  return gN * gOH * gOW * 8;
}

/**
 * conv2d_f32_backward_filter for 1-7 input channels per group (an image's first conv; not
 * depthwise), SIMD builds only. For each block of 8 (then 4) output channels of the call's range,
 * the block's column of dy is first packed into ws ([N*OH*OW][8] floats), so that each tap's pass
 * over the pixels reads one sequential stream rather than pixels OC floats apart, which costs most
 * where dy outgrows L2 (scripts/bench-conv.mjs --case stem). Tiles: 4 x 8 per block of
 * 4 input channels, 3 x 8 for the rest. Same partition fields and per-element summation order as
 * conv2d_f32_backward_filter.
 */
export function conv2d_f32_backward_filter_few(dw: usize, dy: usize, x: usize, ws: usize, geom: usize): void {
  if (!ASC_FEATURE_SIMD) unreachable();
  else {
    readGeometry(geom);
    const OCg = gOCg, ocb = gOB, oce = min(gOE, gOC);
    for (let g = 0; g < gG; g++) {
      const lo = max(0, ocb - g * OCg), hi = min(OCg, oce - g * OCg);
      let oc = lo;
      for (; oc + 8 <= hi; oc += 8) fewChannelsBlock(dw, dy, x, ws, g, oc, 8);
      if (oc + 4 <= hi) {
        fewChannelsBlock(dw, dy, x, ws, g, oc, 4);
        oc += 4;
      }
      if (oc < hi) fewChannelsBlock(dw, dy, x, ws, g, oc, hi - oc);
    }
  }
}

/** Every tap of conv2d_f32_backward_filter_few for group g's output channels [oc, oc + width):
 *  width 8 or 4 from a packed column of dy in ws, fewer (1-3) by the scalar loop on dy itself. */
function fewChannelsBlock(dw: usize, dy: usize, x: usize, ws: usize, g: i32, oc: i32, width: i32): void {
  const Cg = gCg, OC = gOC, col = g * gOCg + oc;
  if (width >= 4) packColumn(ws, at(dy, col), gN * gOH * gOW, width);
  for (let ky = 0; ky < gKH; ky++) {
    for (let kx = 0; kx < gKW; kx++) {
      if (!tapOutputs(ky, kx)) continue;
      const oya = tOYA, oyb = tOYB, oxa = tOXA, oxb = tOXB;
      const dwk = at(dw, (ky * gKW + kx) * Cg * OC), xg = at(x, g * Cg);
      if (width == 8) {
        let ci = 0;
        for (; ci + 4 <= Cg; ci += 4) filterTile4x8(at(dwk, ci * OC + col), ws, 8, at(xg, ci), ky, kx, oya, oyb, oxa, oxb);
        if (ci < Cg) filterTileFew8(at(dwk, ci * OC + col), ws, 8, at(xg, ci), ky, kx, oya, oyb, oxa, oxb, Cg - ci);
      } else if (width == 4) filterTile1x4(at(dwk, col), ws, 4, xg, ky, kx, oya, oyb, oxa, oxb, Cg);
      else filterScalar(at(dwk, g * gOCg), at(dy, g * gOCg), xg, ky, kx, oya, oyb, oxa, oxb, oc, oc + width);
    }
  }
}

/** dst[p][0..width) = src[p * OC + 0..width) for p < pixels; width 8 or 4 (dst: pixels * width floats). */
function packColumn(dst: usize, src: usize, pixels: i32, width: i32): void {
  const step = <usize>gOC << 2;
  if (width == 8) {
    for (let p = 0; p < pixels; p++, src += step, dst += 32) {
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
    }
  } else {
    for (let p = 0; p < pixels; p++, src += step, dst += 16) v128.store(dst, v128.load(src));
  }
}

/** dw[ci..ci+3, oc..oc+7] += sum over valid pixels. dwp = &dw[ky,kx,ci,oc], dyp = &dy[0,0,0,oc]
 *  with pixels dyStride floats apart (OC in dy itself, 8 in a packed column), xp = &x[0,0,0,ci];
 *  [oya,oyb) x [oxa,oxb) are the output positions whose tap (ky,kx) is inside. */
function filterTile4x8(dwp: usize, dyp: usize, dyStride: i32, xp: usize, ky: i32, kx: i32, oya: i32, oyb: i32, oxa: i32, oxb: i32): void {
  const C = gC, OC = gOC;
  const dystep = <usize>dyStride << 2, xstep = <usize>(gSW * C) << 2;
  const rs = <usize>OC << 2; // bytes between dw rows (input channels)
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  let terms = 0;
  for (let n = 0; n < gN; n++) {
    for (let oy = oya; oy < oyb; oy++) {
      const iy = oy * gSH - gPT + ky * gDH;
      let dq = at(dyp, ((n * gOH + oy) * gOW + oxa) * dyStride);
      let xq = at(xp, ((n * gH + iy) * gW + oxa * gSW - gPL + kx * gDW) * C);
      for (let ox = oxa; ox < oxb; ox++) {
        const d0 = v128.load(dq), d1 = v128.load(dq, 16);
        const x0 = v128.load32_splat(xq), x1 = v128.load32_splat(xq, 4);
        const x2 = v128.load32_splat(xq, 8), x3 = v128.load32_splat(xq, 12);
        a0 = madd(x0, d0, a0); a1 = madd(x0, d1, a1);
        a2 = madd(x1, d0, a2); a3 = madd(x1, d1, a3);
        a4 = madd(x2, d0, a4); a5 = madd(x2, d1, a5);
        a6 = madd(x3, d0, a6); a7 = madd(x3, d1, a7);
        dq += dystep;
        xq += xstep;
      }
      terms += oxb - oxa;
      if (terms >= FILTER_BLOCK) {
        flush8(dwp, a0, a1, false); flush8(dwp + rs, a2, a3, false);
        flush8(dwp + 2 * rs, a4, a5, false); flush8(dwp + 3 * rs, a6, a7, false);
        a0 = f32x4.splat(0); a1 = a0; a2 = a0; a3 = a0; a4 = a0; a5 = a0; a6 = a0; a7 = a0;
        terms = 0;
      }
    }
  }
  if (terms > 0) {
    flush8(dwp, a0, a1, false); flush8(dwp + rs, a2, a3, false);
    flush8(dwp + 2 * rs, a4, a5, false); flush8(dwp + 3 * rs, a6, a7, false);
  }
}

/** dw[ci..ci+rows-1, oc..oc+7] += ..., rows 1-3 (an input-channel remainder): 3 x 8 register tile;
 *  dy's pixels dyStride floats apart from dyp (OC in dy itself, 8 when packed); other arguments as
 *  filterTile4x8. Rows past `rows` repeat row 0's loads and are not stored. */
function filterTileFew8(dwp: usize, dyp: usize, dyStride: i32, xp: usize, ky: i32, kx: i32, oya: i32, oyb: i32, oxa: i32, oxb: i32, rows: i32): void {
  const C = gC, OC = gOC;
  const dystep = <usize>dyStride << 2, xstep = <usize>(gSW * C) << 2;
  const o1: usize = rows > 1 ? 4 : 0, o2: usize = rows > 2 ? 8 : 0; // byte offsets of rows 1, 2 in a pixel
  const rs = <usize>OC << 2; // bytes between dw rows (input channels)
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  let terms = 0;
  for (let n = 0; n < gN; n++) {
    for (let oy = oya; oy < oyb; oy++) {
      const iy = oy * gSH - gPT + ky * gDH;
      let dq = at(dyp, ((n * gOH + oy) * gOW + oxa) * dyStride);
      let xq = at(xp, ((n * gH + iy) * gW + oxa * gSW - gPL + kx * gDW) * C);
      for (let ox = oxa; ox < oxb; ox++) {
        const d0 = v128.load(dq), d1 = v128.load(dq, 16);
        const x0 = v128.load32_splat(xq);
        a0 = madd(x0, d0, a0); a1 = madd(x0, d1, a1);
        const x1 = v128.load32_splat(xq + o1);
        a2 = madd(x1, d0, a2); a3 = madd(x1, d1, a3);
        const x2 = v128.load32_splat(xq + o2);
        a4 = madd(x2, d0, a4); a5 = madd(x2, d1, a5);
        dq += dystep;
        xq += xstep;
      }
      terms += oxb - oxa;
      if (terms >= FILTER_BLOCK) {
        flush8(dwp, a0, a1, false);
        if (rows > 1) flush8(dwp + rs, a2, a3, false);
        if (rows > 2) flush8(dwp + 2 * rs, a4, a5, false);
        a0 = f32x4.splat(0); a1 = a0; a2 = a0; a3 = a0; a4 = a0; a5 = a0;
        terms = 0;
      }
    }
  }
  if (terms > 0) {
    flush8(dwp, a0, a1, false);
    if (rows > 1) flush8(dwp + rs, a2, a3, false);
    if (rows > 2) flush8(dwp + 2 * rs, a4, a5, false);
  }
}

/** dw[ci..ci+rows-1, oc..oc+3] += ..., rows 1-4, one accumulator per row; dy's pixels dyStride
 *  floats apart (as filterTileFew8). */
function filterTile1x4(dwp: usize, dyp: usize, dyStride: i32, xp: usize, ky: i32, kx: i32, oya: i32, oyb: i32, oxa: i32, oxb: i32, rows: i32): void {
  const C = gC, OC = gOC;
  const dystep = <usize>dyStride << 2, xstep = <usize>(gSW * C) << 2;
  for (let r = 0; r < rows; r++) {
    const p = at(dwp, r * OC);
    let a0 = f32x4.splat(0);
    let terms = 0;
    for (let n = 0; n < gN; n++) {
      for (let oy = oya; oy < oyb; oy++) {
        const iy = oy * gSH - gPT + ky * gDH;
        let dq = at(dyp, ((n * gOH + oy) * gOW + oxa) * dyStride);
        let xq = at(xp, ((n * gH + iy) * gW + oxa * gSW - gPL + kx * gDW) * C + r);
        for (let ox = oxa; ox < oxb; ox++) {
          a0 = madd(v128.load32_splat(xq), v128.load(dq), a0);
          dq += dystep;
          xq += xstep;
        }
        terms += oxb - oxa;
        if (terms >= FILTER_BLOCK) {
          flush4(p, a0, false);
          a0 = f32x4.splat(0);
          terms = 0;
        }
      }
    }
    if (terms > 0) flush4(p, a0, false);
  }
}

/** Scalar: dw[ky,kx,ci,oc] += ... for every ci of the group and oc in [oc0, oc1): 4 output channels
 *  at a time in registers, then one, summed in blocks as the SIMD tiles (SUM_BLOCK).
 *  dwg = &dw[ky,kx,0,g*OCg], dyg = &dy[0,0,0,g*OCg], xg = &x[0,0,0,g*Cg]. */
function filterScalar(dwg: usize, dyg: usize, xg: usize, ky: i32, kx: i32, oya: i32, oyb: i32, oxa: i32, oxb: i32, oc0: i32, oc1: i32): void {
  const OC = gOC, Cg = gCg;
  for (let ci = 0; ci < Cg; ci++) {
    const row = at(dwg, ci * OC);
    let oc = oc0;
    for (; oc + 4 <= oc1; oc += 4) filterScalarN(at(row, oc), at(dyg, oc), at(xg, ci), ky, kx, oya, oyb, oxa, oxb, 4);
    for (; oc < oc1; oc++) filterScalarN(at(row, oc), at(dyg, oc), at(xg, ci), ky, kx, oya, oyb, oxa, oxb, 1);
  }
}

/** dw at dwp (`width` 4 or 1 output channels of one input channel) += the sum over the pixels of
 *  x at xp (that channel) times dy at dyp (those channels). */
function filterScalarN(dwp: usize, dyp: usize, xp: usize, ky: i32, kx: i32, oya: i32, oyb: i32, oxa: i32, oxb: i32, width: i32): void {
  const C = gC, OC = gOC;
  const dystep = <usize>OC << 2, xstep = <usize>(gSW * C) << 2;
  let a0: f32 = 0, a1: f32 = 0, a2: f32 = 0, a3: f32 = 0;
  let terms = 0;
  for (let n = 0; n < gN; n++) {
    for (let oy = oya; oy < oyb; oy++) {
      const iy = oy * gSH - gPT + ky * gDH;
      let dq = at(dyp, ((n * gOH + oy) * gOW + oxa) * OC);
      let xq = at(xp, ((n * gH + iy) * gW + oxa * gSW - gPL + kx * gDW) * C);
      for (let q0 = oxa; q0 < oxb; q0 += SUM_CHUNK) {
        const q1 = min(oxb, q0 + SUM_CHUNK);
        if (width == 4) {
          for (let ox = q0; ox < q1; ox++) {
            const xv = load<f32>(xq);
            a0 += xv * load<f32>(dq);
            a1 += xv * load<f32>(dq, 4);
            a2 += xv * load<f32>(dq, 8);
            a3 += xv * load<f32>(dq, 12);
            dq += dystep;
            xq += xstep;
          }
        } else {
          for (let ox = q0; ox < q1; ox++) {
            a0 += load<f32>(xq) * load<f32>(dq);
            dq += dystep;
            xq += xstep;
          }
        }
        terms += q1 - q0;
        if (terms >= FILTER_BLOCK) {
          addScalars(dwp, width, a0, a1, a2, a3);
          a0 = 0; a1 = 0; a2 = 0; a3 = 0;
          terms = 0;
        }
      }
    }
  }
  if (terms > 0) addScalars(dwp, width, a0, a1, a2, a3);
}

/** p[0..width) += a0..a3 (width 4 or 1). */
// @ts-ignore: decorator
@inline function addScalars(p: usize, width: i32, a0: f32, a1: f32, a2: f32, a3: f32): void {
  store<f32>(p, load<f32>(p) + a0);
  if (width == 4) {
    store<f32>(p + 4, load<f32>(p + 4) + a1);
    store<f32>(p + 8, load<f32>(p + 8) + a2);
    store<f32>(p + 12, load<f32>(p + 12) + a3);
  }
}

/**
 * Depthwise 3x3, stride 1, undilated filter gradient (SIMD builds) for channels [cb, ce): per output
 * row and tap row, 4 output pixels x 4 channels at a time where all three taps lie inside x (6 x
 * columns feed the row's 3 taps), single pixels at the edges; each dw element sums its pixels in
 * the order of depthwiseFilter (rows, then columns ascending), so the bits are its bits. dy and x
 * are read 3 times instead of 9, dw once per 4 pixels instead of once a pixel.
 */
function depthwise3x3Filter(dw: usize, dy: usize, x: usize, pw: usize, cb: i32, ce: i32): void {
  const C = gC, W = gW, OW = gOW, PL = gPL, cB = <usize>C << 2;
  // output columns whose three taps ix = ox - PL + kx all lie inside x: [oxa, oxb)
  const oxa = min(OW, max(0, PL)), oxb = max(oxa, min(OW, W - 2 + PL));
  const cv = cb + ((ce - cb) & ~3); // [cb, cv) 4 channels at a time, [cv, ce) one at a time
  const rows = gN * gOH, block = depthwiseBlockRows();
  zeroTaps(pw, 9, cb, ce);
  for (let r = 0; r < rows; r++) {
    if (r > 0 && r % block == 0) flushTaps(dw, pw, 9, cb, ce);
    const n = r / gOH, oy = r - n * gOH;
    const kya = max(0, gPT - oy), kyb = min(3, gH + gPT - oy);
    const dyRow = at(dy, r * OW * C);
    for (let ky = kya; ky < kyb; ky++) {
      // x at (n, iy, ix = -PL): output pixel ox's tap kx reads the column ox + kx after it (only
      // inside ones are read; the address itself may lie before x)
      const xRow = at(x, ((n * gH + oy - gPT + ky) * W - PL) * C);
      const dwRow = at(pw, 3 * ky * C);
      let ox = 0;
      for (; ox < oxa; ox++) depthwise3x3FilterPixel(dwRow, xRow, dyRow, ox, cb, ce, cv);
      for (; ox + 4 <= oxb; ox += 4) {
        const xq = xRow + <usize>ox * cB, dq = dyRow + <usize>ox * cB;
        for (let c: usize = <usize>cb << 2, e: usize = <usize>cv << 2; c < e; c += 16) {
          const x0 = v128.load(xq + c), x1 = v128.load(xq + cB + c), x2 = v128.load(xq + 2 * cB + c);
          const x3 = v128.load(xq + 3 * cB + c), x4 = v128.load(xq + 4 * cB + c), x5 = v128.load(xq + 5 * cB + c);
          const d0 = v128.load(dq + c), d1 = v128.load(dq + cB + c), d2 = v128.load(dq + 2 * cB + c), d3 = v128.load(dq + 3 * cB + c);
          const p = dwRow + c;
          let s0 = v128.load(p), s1 = v128.load(p + cB), s2 = v128.load(p + 2 * cB);
          s0 = madd(x0, d0, s0); s1 = madd(x1, d0, s1); s2 = madd(x2, d0, s2);
          s0 = madd(x1, d1, s0); s1 = madd(x2, d1, s1); s2 = madd(x3, d1, s2);
          s0 = madd(x2, d2, s0); s1 = madd(x3, d2, s1); s2 = madd(x4, d2, s2);
          s0 = madd(x3, d3, s0); s1 = madd(x4, d3, s1); s2 = madd(x5, d3, s2);
          v128.store(p, s0);
          v128.store(p + cB, s1);
          v128.store(p + 2 * cB, s2);
        }
        if (cv < ce) {
          for (let j = 0; j < 4; j++) depthwise3x3FilterScalar(dwRow, xRow, dyRow, ox + j, cv, ce);
        }
      }
      for (; ox < OW; ox++) depthwise3x3FilterPixel(dwRow, xRow, dyRow, ox, cb, ce, cv);
    }
  }
  flushTaps(dw, pw, 9, cb, ce);
}

/** The depthwise filter gradients sum blocks of this many output rows (at least DEPTHWISE_PIXELS
 *  pixels) into the workspace `pw` from zero, then add them to dw: float32 chains of a block, not
 *  N*OH*OW pixels. Blocks start at multiples of it (rows n*OH + oy), in both depthwise kernels. */
// @ts-ignore: decorator
@inline function depthwiseBlockRows(): i32 {
  return max(1, (DEPTHWISE_PIXELS + gOW - 1) / gOW);
}
const DEPTHWISE_PIXELS: i32 = 512;

/** pw[t*C + c] = 0 for taps t < taps, channels [cb, ce). */
function zeroTaps(pw: usize, taps: i32, cb: i32, ce: i32): void {
  for (let t = 0; t < taps; t++) memory.fill(at(pw, t * gC + cb), 0, <usize>(ce - cb) << 2);
}

/** dw[t*C + c] += pw[t*C + c], then pw[t*C + c] = 0, for taps t < taps, channels [cb, ce). */
function flushTaps(dw: usize, pw: usize, taps: i32, cb: i32, ce: i32): void {
  for (let t = 0; t < taps; t++) {
    const d = at(dw, t * gC), p = at(pw, t * gC);
    let c = cb;
    if (ASC_FEATURE_SIMD) {
      for (; c + 4 <= ce; c += 4) {
        v128.store(at(d, c), f32x4.add(v128.load(at(d, c)), v128.load(at(p, c))));
        v128.store(at(p, c), f32x4.splat(0));
      }
    }
    for (; c < ce; c++) {
      store<f32>(at(d, c), load<f32>(at(d, c)) + load<f32>(at(p, c)));
      store<f32>(at(p, c), 0);
    }
  }
}

/** Output pixel ox's contribution to the tap row at dwRow (see depthwise3x3Filter): its taps inside x. */
function depthwise3x3FilterPixel(dwRow: usize, xRow: usize, dyRow: usize, ox: i32, cb: i32, ce: i32, cv: i32): void {
  const C = gC, W = gW, PL = gPL, cB = <usize>C << 2;
  const kxa = max(0, PL - ox), kxb = min(3, W + PL - ox);
  const xq = xRow + <usize>ox * cB, dq = dyRow + <usize>ox * cB;
  for (let c: usize = <usize>cb << 2, e: usize = <usize>cv << 2; c < e; c += 16) {
    const d = v128.load(dq + c);
    for (let kx = kxa; kx < kxb; kx++) {
      const p = dwRow + <usize>kx * cB + c;
      v128.store(p, madd(v128.load(xq + <usize>kx * cB + c), d, v128.load(p)));
    }
  }
  if (cv < ce) depthwise3x3FilterScalar(dwRow, xRow, dyRow, ox, cv, ce);
}

/** Channels [c0, ce) of output pixel ox's contribution, one at a time (as depthwiseFilter's tail). */
function depthwise3x3FilterScalar(dwRow: usize, xRow: usize, dyRow: usize, ox: i32, c0: i32, ce: i32): void {
  const C = gC;
  const kxa = max(0, gPL - ox), kxb = min(3, gW + gPL - ox);
  for (let kx = kxa; kx < kxb; kx++) {
    for (let c = c0; c < ce; c++) {
      const p = at(dwRow, kx * C + c);
      store<f32>(p, load<f32>(p) + load<f32>(at(xRow, (ox + kx) * C + c)) * load<f32>(at(dyRow, ox * C + c)));
    }
  }
}

/** Depthwise filter gradient for one tap: dwk = &dw[ky,kx,0,0] (C floats, stays in L1) += x * dy over
 *  the pixels whose tap is inside, lanes over channels [cb, ce); pixels outer so every read runs along channels. */
function depthwiseFilter(dwk: usize, dy: usize, x: usize, pwk: usize, ky: i32, kx: i32, oya: i32, oyb: i32, oxa: i32, oxb: i32, cb: i32, ce: i32): void {
  const C = gC;
  const xs = <usize>(gSW * C) << 2, ds = <usize>C << 2;
  const block = depthwiseBlockRows();
  zeroTaps(pwk, 1, cb, ce);
  let open = -1; // the row block pwk holds sums of, or -1
  for (let n = 0; n < gN; n++) {
    for (let oy = oya; oy < oyb; oy++) {
      const b = (n * gOH + oy) / block;
      if (b != open) {
        if (open >= 0) flushTaps(dwk, pwk, 1, cb, ce);
        open = b;
      }
      const iy = oy * gSH - gPT + ky * gDH;
      let dq = at(dy, ((n * gOH + oy) * gOW + oxa) * C);
      let xq = at(x, ((n * gH + iy) * gW + oxa * gSW - gPL + kx * gDW) * C);
      for (let ox = oxa; ox < oxb; ox++) {
        let c = cb;
        if (ASC_FEATURE_SIMD) {
          for (; c + 4 <= ce; c += 4) {
            const p = at(pwk, c);
            v128.store(p, madd(v128.load(at(xq, c)), v128.load(at(dq, c)), v128.load(p)));
          }
        }
        for (; c < ce; c++) {
          const p = at(pwk, c);
          store<f32>(p, load<f32>(p) + load<f32>(at(xq, c)) * load<f32>(at(dq, c)));
        }
        dq += ds;
        xq += xs;
      }
    }
  }
  if (open >= 0) flushTaps(dwk, pwk, 1, cb, ce);
}

// =============================================================================================
// backward_input: dx[n,iy,ix,g*Cg+ci] += sum over taps and oc of dy[n,oy,ox,g*OCg+oc] * w[ky,kx,ci,g*OCg+oc]
// computed as a scatter from each output pixel through each tap (distinct ox hit distinct ix, so a
// tile of 4 output pixels never writes one dx pixel twice).
// =============================================================================================

/**
 * dx (N,H,W,C) += the input gradient from dy (N,OH,OW,OC) and w (KH,KW,C/G,OC).
 * wt: host workspace as large as w (KH*KW*C/G*OC floats); the SIMD builds write the weights there
 * repacked as (G, KH, KW, OC/G, C/G) so lanes run over input channels.
 */
export function conv2d_f32_backward_input(dx: usize, dy: usize, w: usize, wt: usize, geom: usize): void {
  readGeometry(geom);
  const depthwise = gCg == 1 && gOCg == 1;
  const Cg = gCg, OCg = gOCg, OC = gOC, C = gC, KK = gKH * gKW;
  if (ASC_FEATURE_SIMD) {
    if (!depthwise && gWtReady == 0) {
      for (let g = 0; g < gG; g++) {
        for (let k = 0; k < KK; k++) {
          for (let ci = 0; ci < Cg; ci++) {
            const src = at(w, (k * Cg + ci) * OC + g * OCg);
            const dst = at(wt, (g * KK + k) * OCg * Cg + ci);
            for (let oc = 0; oc < OCg; oc++) store<f32>(at(dst, oc * Cg), load<f32>(at(src, oc)));
          }
        }
      }
    }
  }
  // Gathered by dx row (n, iy), so a range of rows is a partition with no two calls writing one
  // dx element; the rows' contributions arrive in the order ky ascending (oy descending).
  const re = rowEnd(gN * gH);
  // 3x3 depthwise, stride 1: gathered by 4-pixel tiles (depthwise3x3InputRow) where the tiles
  // cover 3/4 of a row or more; its edge pixels go one by one, slower than the scatter on small
  // images (scripts/bench-conv.mjs --case "depthwise 3x3 7x7"). Both give the same bits.
  // dx columns whose three taps ox = ix + PL - kx (kx = 0..2) all lie inside dy: [ixa, ixb)
  const ixa = min(gW, max(0, 2 - gPL)), ixb = max(ixa, min(gW, gOW - gPL));
  const depthwise3x3 = ASC_FEATURE_SIMD && depthwise && gKH == 3 && gKW == 3 && gSH == 1 && gSW == 1 &&
    gDH == 1 && gDW == 1 && (C & 3) == 0 && 4 * (gW - ((ixb - ixa) & ~3)) <= gW;
  for (let r = gRB; r < re; r++) {
    const n = r / gH, iy = r % gH;
    if (depthwise3x3) {
      depthwise3x3InputRow(dx, dy, w, n, iy, ixa, ixb);
      continue;
    }
    {
      for (let ky = 0; ky < gKH; ky++) {
        const t = iy + gPT - ky * gDH; // = oy * SH
        if (t < 0) break; // t only falls as ky grows
        if (t % gSH != 0) continue;
        const oy = t / gSH;
        if (oy >= gOH) continue;
        for (let kx = 0; kx < gKW; kx++) {
          const offx = -gPL + kx * gDW;
          const oxa = min(gOW, firstInside(offx, gSW));
          const oxb = endInside(offx, gSW, gW, gOW, oxa);
          if (oxa == oxb) continue;
          const k = ky * gKW + kx;
          // dx at (n, iy, ix(oxa)) and dy at (n, oy, oxa)
          const dxp = at(dx, ((n * gH + iy) * gW + oxa * gSW + offx) * C);
          const dyp = at(dy, ((n * gOH + oy) * gOW + oxa) * OC);
          const cnt = oxb - oxa;
          if (depthwise) {
            depthwiseInput(dxp, dyp, at(w, k * C), cnt);
            continue;
          }
          for (let g = 0; g < gG; g++) {
            const dxg = at(dxp, g * Cg), dyg = at(dyp, g * OCg);
            let ci = 0;
            if (ASC_FEATURE_SIMD) {
              const wtk = at(wt, (g * KK + k) * OCg * Cg);
              for (; ci + 8 <= Cg; ci += 8) {
                let i = 0;
                for (; i + 4 <= cnt; i += 4) inputTile4x8(at(dxg, i * gSW * C + ci), at(dyg, i * OC), at(wtk, ci));
                for (; i < cnt; i++) inputTile1x8(at(dxg, i * gSW * C + ci), at(dyg, i * OC), at(wtk, ci));
              }
              for (; ci + 4 <= Cg; ci += 4) {
                for (let i = 0; i < cnt; i++) inputTile1x4(at(dxg, i * gSW * C + ci), at(dyg, i * OC), at(wtk, ci));
              }
            }
            if (ci < Cg) inputRemainder(dxg, dyg, at(w, k * Cg * OC + g * OCg), cnt, ci);
          }
        }
      }
    }
  }
}

/** dx[4 pixels, ci..ci+7] += dy[4 pixels, group's OC] . wt. dxp = &dx[n,iy,ix,g*Cg+ci] (pixels
 *  SW*C apart), dyp = &dy[n,oy,ox,g*OCg] (pixels OC apart), wtp = &wt[g,ky,kx,0,ci] (rows Cg apart). */
function inputTile4x8(dxp: usize, dyp: usize, wtp: usize): void {
  const OCg = gOCg;
  const dstep = <usize>gOC << 2, wstep = <usize>gCg << 2;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (let oc = 0; oc < OCg; oc++) {
    const w0 = v128.load(wtp), w1 = v128.load(wtp, 16);
    const d0 = v128.load32_splat(dyp);
    const d1 = v128.load32_splat(dyp + dstep);
    const d2 = v128.load32_splat(dyp + 2 * dstep);
    const d3 = v128.load32_splat(dyp + 3 * dstep);
    a0 = madd(d0, w0, a0); a1 = madd(d0, w1, a1);
    a2 = madd(d1, w0, a2); a3 = madd(d1, w1, a3);
    a4 = madd(d2, w0, a4); a5 = madd(d2, w1, a5);
    a6 = madd(d3, w0, a6); a7 = madd(d3, w1, a7);
    dyp += 4;
    wtp += wstep;
  }
  const xs = <usize>(gSW * gC) << 2;
  v128.store(dxp, f32x4.add(v128.load(dxp), a0)); v128.store(dxp, f32x4.add(v128.load(dxp, 16), a1), 16);
  dxp += xs;
  v128.store(dxp, f32x4.add(v128.load(dxp), a2)); v128.store(dxp, f32x4.add(v128.load(dxp, 16), a3), 16);
  dxp += xs;
  v128.store(dxp, f32x4.add(v128.load(dxp), a4)); v128.store(dxp, f32x4.add(v128.load(dxp, 16), a5), 16);
  dxp += xs;
  v128.store(dxp, f32x4.add(v128.load(dxp), a6)); v128.store(dxp, f32x4.add(v128.load(dxp, 16), a7), 16);
}

/** One pixel x 8 input channels. Arguments as inputTile4x8. */
function inputTile1x8(dxp: usize, dyp: usize, wtp: usize): void {
  const OCg = gOCg, wstep = <usize>gCg << 2;
  let a0 = f32x4.splat(0), a1 = a0;
  for (let oc = 0; oc < OCg; oc++) {
    const d = v128.load32_splat(dyp);
    a0 = madd(d, v128.load(wtp), a0);
    a1 = madd(d, v128.load(wtp, 16), a1);
    dyp += 4;
    wtp += wstep;
  }
  v128.store(dxp, f32x4.add(v128.load(dxp), a0));
  v128.store(dxp, f32x4.add(v128.load(dxp, 16), a1), 16);
}

/** One pixel x 4 input channels. */
function inputTile1x4(dxp: usize, dyp: usize, wtp: usize): void {
  const OCg = gOCg, wstep = <usize>gCg << 2;
  let a0 = f32x4.splat(0);
  for (let oc = 0; oc < OCg; oc++) {
    a0 = madd(v128.load32_splat(dyp), v128.load(wtp), a0);
    dyp += 4;
    wtp += wstep;
  }
  v128.store(dxp, f32x4.add(v128.load(dxp), a0));
}

/** The input channels the tiles leave (ci in [ci0, C/G); all of them in the scalar build): for `cnt`
 *  pixels, dx[ci] += dot(dy[group's OC], w[ky,kx,ci,group's OC]), the dot vectorised over output
 *  channels. dxg = &dx[n,iy,ix,g*Cg], dyg = &dy[n,oy,ox,g*OCg], wk = &w[ky,kx,0,g*OCg]. */
function inputRemainder(dxg: usize, dyg: usize, wk: usize, cnt: i32, ci0: i32): void {
  const OCg = gOCg, OC = gOC, Cg = gCg;
  for (let i = 0; i < cnt; i++) {
    const dxp = at(dxg, i * gSW * gC);
    const dyp = at(dyg, i * OC);
    for (let ci = ci0; ci < Cg; ci++) {
      const wr = at(wk, ci * OC);
      let s: f32 = 0;
      let oc = 0;
      if (ASC_FEATURE_SIMD) {
        let acc = f32x4.splat(0);
        for (; oc + 4 <= OCg; oc += 4) acc = madd(v128.load(at(dyp, oc)), v128.load(at(wr, oc)), acc);
        s = hsum(acc);
      }
      for (; oc < OCg; oc++) s += load<f32>(at(dyp, oc)) * load<f32>(at(wr, oc));
      const p = at(dxp, ci);
      store<f32>(p, load<f32>(p) + s);
    }
  }
}

/**
 * Row (n, iy) of dx for a 3x3, stride-1, undilated depthwise conv with C % 4 == 0 (SIMD builds),
 * gathered rather than scattered: each dx pixel adds its taps in the scatter's order (ky, then kx
 * ascending, each a multiply-add onto dx), so the bits are the scatter's. 4 pixels x 4 channels at
 * a time where all three tap columns lie inside dy (6 dy columns a tap row), single pixels at the
 * edges. It reads dx and dy once a row instead of once a tap (depthwiseInput; scripts/bench-conv.mjs
 * --case depthwise). [ixa, ixb): the dx columns whose three taps all lie inside dy (the caller's).
 */
function depthwise3x3InputRow(dx: usize, dy: usize, w: usize, n: i32, iy: i32, ixa: i32, ixb: i32): void {
  const C = gC, W = gW, cB = <usize>C << 2;
  // tap rows with oy = iy + PT - ky inside dy
  const kya = max(0, iy + gPT - gOH + 1), kyb = min(3, iy + gPT + 1);
  // dy at (n, oy(ky = 0), ox = PL - 2): pixel j's tap kx reads the column j - kx + 2 after it
  const dyRow = at(dy, ((n * gOH + iy + gPT) * gOW + gPL - 2) * C), rowStep = <usize>(gOW * C) << 2;
  const dxRow = at(dx, (n * gH + iy) * W * C);
  let ix = 0;
  for (; ix < ixa; ix++) depthwise3x3InputPixel(dxRow, dyRow, w, ix, kya, kyb, rowStep);
  for (; ix + 4 <= ixb; ix += 4) {
    const dxp = dxRow + <usize>ix * cB, dyp = dyRow + <usize>ix * cB;
    for (let c: usize = 0; c < cB; c += 16) {
      let a0 = v128.load(dxp + c), a1 = v128.load(dxp + cB + c), a2 = v128.load(dxp + 2 * cB + c), a3 = v128.load(dxp + 3 * cB + c);
      for (let ky = kya; ky < kyb; ky++) {
        const dq = dyp - <usize>ky * rowStep + c, wr = w + <usize>(3 * ky) * cB + c;
        const w0 = v128.load(wr), w1 = v128.load(wr + cB), w2 = v128.load(wr + 2 * cB);
        const d0 = v128.load(dq), d1 = v128.load(dq + cB), d2 = v128.load(dq + 2 * cB);
        const d3 = v128.load(dq + 3 * cB), d4 = v128.load(dq + 4 * cB), d5 = v128.load(dq + 5 * cB);
        a0 = madd(d2, w0, a0); a0 = madd(d1, w1, a0); a0 = madd(d0, w2, a0);
        a1 = madd(d3, w0, a1); a1 = madd(d2, w1, a1); a1 = madd(d1, w2, a1);
        a2 = madd(d4, w0, a2); a2 = madd(d3, w1, a2); a2 = madd(d2, w2, a2);
        a3 = madd(d5, w0, a3); a3 = madd(d4, w1, a3); a3 = madd(d3, w2, a3);
      }
      v128.store(dxp + c, a0);
      v128.store(dxp + cB + c, a1);
      v128.store(dxp + 2 * cB + c, a2);
      v128.store(dxp + 3 * cB + c, a3);
    }
  }
  for (; ix < W; ix++) depthwise3x3InputPixel(dxRow, dyRow, w, ix, kya, kyb, rowStep);
}

/** dx pixel ix of the row at dxRow (see depthwise3x3InputRow for dyRow and rowStep): its taps
 *  inside dy, ky then kx ascending, 4 channels at a time. */
function depthwise3x3InputPixel(dxRow: usize, dyRow: usize, w: usize, ix: i32, kya: i32, kyb: i32, rowStep: usize): void {
  const cB = <usize>gC << 2;
  const kxa = max(0, ix + gPL - gOW + 1), kxb = min(3, ix + gPL + 1);
  const dxp = dxRow + <usize>ix * cB;
  for (let c: usize = 0; c < cB; c += 16) {
    let a = v128.load(dxp + c);
    for (let ky = kya; ky < kyb; ky++) {
      // tap kx's dy column: ix + 2 - kx columns after dyRow's, in tap row ky
      const dq = dyRow - <usize>ky * rowStep + <usize>(ix + 2) * cB + c, wr = w + <usize>(3 * ky) * cB + c;
      for (let kx = kxa; kx < kxb; kx++) a = madd(v128.load(dq - <usize>kx * cB), v128.load(wr + <usize>kx * cB), a);
    }
    v128.store(dxp + c, a);
  }
}

/** Depthwise scatter for one tap: dx[i-th pixel, c] += dy[i-th pixel, c] * wk[c], lanes over c.
 *  dxp = &dx[n,iy,ix,0] (pixels SW*C apart), dyp = &dy[n,oy,ox,0] (pixels C apart), wk = &w[ky,kx,0,0]. */
function depthwiseInput(dxp: usize, dyp: usize, wk: usize, cnt: i32): void {
  const C = gC;
  const xs = <usize>(gSW * C) << 2, ds = <usize>C << 2;
  for (let i = 0; i < cnt; i++) {
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 4 <= C; c += 4) {
        const p = at(dxp, c);
        v128.store(p, madd(v128.load(at(dyp, c)), v128.load(at(wk, c)), v128.load(p)));
      }
    }
    for (; c < C; c++) {
      const p = at(dxp, c);
      store<f32>(p, load<f32>(p) + load<f32>(at(dyp, c)) * load<f32>(at(wk, c)));
    }
    dxp += xs;
    dyp += ds;
  }
}
