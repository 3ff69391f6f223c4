// 2D convolution forward, cache-blocked for weights larger than the L2 cache (e.g. 3x3 256->256:
// 2.4 MB). conv2d.ts's forward walks all KH*KW*C weight rows of an 8-channel column for every 4
// output pixels, so large weight matrices stream from memory once per 4 pixels; here the loops run
// over blocks of 8 output channels x 32 input channels (a 9 KB to 18 KB weight slice for 3x3 / 4x4
// kernels, L1-resident) and, inside a block, over every output pixel of the image.
// Same layouts and geometry block as assembly/conv2d.ts: x (N,H,W,C), w (KH,KW,C,OC), y (N,OH,OW,OC);
// groups must be 1 and OC a multiple of 8 (the host dispatches only those); any strides, pads and
// dilations. Per image, x is first copied into the host's workspace zero-padded to Hp x Wp
// (Hp = (OH-1)*SH + (KH-1)*DH + 1, Wp likewise), so no tap needs a bounds check, and split into
// blocks of 32 channels ([C/32][Hp][Wp][32]) so one block's pixels are contiguous, not C floats
// apart (a power-of-two stride would map them to a few cache sets); each weight slice is packed
// contiguously after it.
// Register tile: 4 output pixels x 8 output channels (8 f32x4 accumulators, inputs broadcast).
// Overwrites y. Kernels never allocate.

import { madd } from "./simd";
import {
  convC, convDh, convDw, convH, convKh, convKw, convN, convOc, convOcBegin, convOcEnd, convOh, convOw,
  convPartition, convPl, convPt, convReady, convRowBegin, convRowEnd, convSh, convSw, convW, PARTITION_MAGIC,
} from "./params.generated";

let bN: i32 = 0, bH: i32 = 0, bW: i32 = 0, bC: i32 = 0, bOH: i32 = 0, bOW: i32 = 0, bOC: i32 = 0;
let bKH: i32 = 0, bKW: i32 = 0, bSH: i32 = 1, bSW: i32 = 1, bPT: i32 = 0, bPL: i32 = 0, bDH: i32 = 1, bDW: i32 = 1;
let bHp: i32 = 0, bWp: i32 = 0;
/** Output channels [bOB, bOE) this call computes: its part (multiples of 8), or all of them. */
let bOB: i32 = 0, bOE: i32 = 0;
/** Rows [bRB, bRE) of the padded image this call writes (all of them unless a part sets them). */
let bRB: i32 = 0, bRE: i32 = 0;
/** Whether x is the padded image already (a part of a split call: see conv2d_blocked_f32_forward). */
let bReady: bool = false;

function readGeometryBlocked(geom: usize): void {
  bN = convN(geom); bH = convH(geom); bW = convW(geom); bC = convC(geom);
  bOH = convOh(geom); bOW = convOw(geom); bOC = convOc(geom);
  bKH = convKh(geom); bKW = convKw(geom);
  bSH = convSh(geom); bSW = convSw(geom); bPT = convPt(geom); bPL = convPl(geom);
  bDH = convDh(geom); bDW = convDw(geom);
  bHp = (bOH - 1) * bSH + (bKH - 1) * bDH + 1;
  bWp = (bOW - 1) * bSW + (bKW - 1) * bDW + 1;
  const partitioned = convPartition(geom) == PARTITION_MAGIC;
  bOB = partitioned ? max(convOcBegin(geom), 0) : 0;
  bOE = partitioned ? min(convOcEnd(geom), bOC) : bOC;
  bRB = partitioned ? max(convRowBegin(geom), 0) : 0;
  bRE = partitioned ? min(convRowEnd(geom), bHp) : bHp;
  bReady = partitioned && convReady(geom) != 0;
}

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** Input channels per block. */
const CB: i32 = 32;
/** A block's taps are summed in runs of at least SUM_BLOCK products (whole taps: 5 taps of 32
 *  channels), each from zero, then added to y: float32 chains of 160, not KH*KW*32 (see
 *  assembly/conv2d.ts, SUM_BLOCK). */
const SUM_BLOCK: i32 = 160;

/** Floats of workspace conv2d_blocked_f32_forward needs for the geometry at `geom` (one padded image). */
export function conv2d_blocked_f32_workspace(geom: usize): i32 {
  readGeometryBlocked(geom);
  return imageFloats() + bKH * bKW * CB * 8;
}

/** The padded image in channel blocks: [ceil(C/CB)][Hp][Wp][CB] floats. */
// @ts-ignore: decorator
@inline function imageFloats(): i32 {
  return ((bC + CB - 1) / CB) * bHp * bWp * CB;
}

/**
 * y = conv(x, w) for groups 1 and OC % 8 == 0: y (N,OH,OW,OC), x (N,H,W,C), w (KH,KW,C,OC);
 * geometry at `geom` (conv2d.ts's block); ws: conv2d_blocked_f32_workspace(geom) floats. Overwrites
 * y's output channels of the geometry's partition (ocBegin, ocEnd, starting at a multiple of 8), or
 * all of them; every output gets the same bits however the channels are split. A split call of one
 * image (N = 1) runs in two steps, so that no part repeats another's work:
 * - parts with rows [rowBegin, rowEnd) and no output channels write those rows of the padded image
 *   into ws (a workspace all parts share, imageFloats() of it);
 * - then parts with `ready` and an output-channel range read x as that padded image, ws being only
 *   their weight slice (KH*KW*32*8 floats of their own).
 * A partition without `ready` pads every row of its own (rows unset) before its channels.
 */
export function conv2d_blocked_f32_forward(y: usize, x: usize, w: usize, ws: usize, geom: usize): void {
  readGeometryBlocked(geom);
  const C = bC, OC = bOC, Hp = bHp, Wp = bWp;
  const img = bReady ? 0 : imageFloats(), plane = Hp * Wp * CB;
  const image = bReady ? x : ws, wp = at(ws, img);
  // rows / columns of the padded image that hold input
  const r0 = max(0, bPT), r1 = min(Hp, bH + bPT), s0 = max(0, bPL), s1 = min(Wp, bW + bPL);
  for (let n = 0; n < bN; n++) {
    if (!bReady && bRB < bRE) {
      // rows [bRB, bRE) of each channel block's plane: zeros (once: later images overwrite the
      // same input pixels), then the input where it lies
      if (n == 0) for (let cb = 0; cb < C; cb += CB) memory.fill(at(ws, (cb / CB) * plane + bRB * Wp * CB), 0, (<usize>(bRE - bRB) * Wp * CB) << 2);
      // xb[cb / CB][r][s][ci] = x[n, r - PT, s - PL, cb + ci]
      for (let r = max(r0, bRB); r < min(r1, bRE); r++) {
        for (let s = s0; s < s1; s++) {
          const src = at(x, ((n * bH + r - bPT) * bW + s - bPL) * C);
          for (let cb = 0; cb < C; cb += CB) {
            memory.copy(at(ws, (cb / CB) * plane + (r * Wp + s) * CB), at(src, cb), <usize>min(CB, C - cb) << 2);
          }
        }
      }
    }
    if (bOB >= bOE) continue;
    const yn = at(y, n * bOH * bOW * OC);
    if (ASC_FEATURE_SIMD) {
      for (let ocb = bOB; ocb + 8 <= bOE; ocb += 8) {
        for (let cb = 0; cb < C; cb += CB) {
          const cn = min(CB, C - cb);
          const first = cb == 0;
          // the (KH*KW) x cn x 8 weight slice, packed contiguously (an L1-sized block; w's rows are
          // OC floats apart, a power-of-two stride that maps them to few cache sets)
          for (let k = 0; k < bKH * bKW; k++) {
            for (let ci = 0; ci < cn; ci++) {
              const src = at(w, (k * C + cb + ci) * OC + ocb), dst = at(wp, (k * cn + ci) * 8);
              v128.store(dst, v128.load(src));
              v128.store(dst, v128.load(src, 16), 16);
            }
          }
          // output pixels in flat (oy, ox) order, 4 at a time; the last tile overlaps the one before
          const xb = at(image, (cb / CB) * plane);
          const P = bOH * bOW;
          if (P >= 4) {
            for (let p = 0; p < P; p += 4) {
              const p0 = min(p, P - 4);
              tile4x8(at(yn, p0 * OC + ocb), xb, p0, wp, cn, first, p - p0);
            }
          } else {
            for (let p = 0; p < P; p++) {
              const oy = p / bOW, ox = p % bOW;
              tile1x8(at(yn, p * OC + ocb), at(xb, (oy * bSH * Wp + ox * bSW) * CB), wp, cn, first);
            }
          }
        }
      }
      continue;
    }
    // scalar build: 4 output channels at a time in registers, summed as the SIMD tiles do
    for (let oy = 0; oy < bOH; oy++) {
      for (let ox = 0; ox < bOW; ox++) {
        const yp = at(yn, (oy * bOW + ox) * OC);
        const xp = at(image, (oy * bSH * Wp + ox * bSW) * CB);
        for (let oc = bOB; oc < bOE; oc += 4) scalar1x4(at(yp, oc), xp, at(w, oc), plane);
      }
    }
  }
}

/** y[pixel, 4 channels at yp] = the taps over every input channel, channel block by channel block,
 *  each block's taps summed in blocks of SUM_BLOCK or more products (as tile4x8); xp = the pixel's
 *  window origin in block 0 of the padded image (blocks `plane` floats apart), wp = &w[0,0,0,oc]. */
function scalar1x4(yp: usize, xp: usize, wp: usize, plane: i32): void {
  const C = bC, OC = bOC, wstep = <usize>OC << 2;
  let first = true;
  for (let cb = 0; cb < C; cb += CB) {
    const cn = min(CB, C - cb);
    const xb = at(xp, (cb / CB) * plane);
    let a0: f32 = 0, a1: f32 = 0, a2: f32 = 0, a3: f32 = 0;
    let terms = 0;
    for (let ky = 0; ky < bKH; ky++) {
      for (let kx = 0; kx < bKW; kx++) {
        let xq = at(xb, (ky * bDH * bWp + kx * bDW) * CB);
        let wq = at(wp, ((ky * bKW + kx) * C + cb) * OC);
        for (let ci = 0; ci < cn; ci++) {
          const xv = load<f32>(xq);
          a0 += xv * load<f32>(wq);
          a1 += xv * load<f32>(wq, 4);
          a2 += xv * load<f32>(wq, 8);
          a3 += xv * load<f32>(wq, 12);
          xq += 4;
          wq += wstep;
        }
        terms += cn;
        if (terms >= SUM_BLOCK) {
          put1(yp, a0, first); put1(yp + 4, a1, first); put1(yp + 8, a2, first); put1(yp + 12, a3, first);
          a0 = 0; a1 = 0; a2 = 0; a3 = 0;
          first = false;
          terms = 0;
        }
      }
    }
    if (terms > 0) {
      put1(yp, a0, first); put1(yp + 4, a1, first); put1(yp + 8, a2, first); put1(yp + 12, a3, first);
      first = false;
    }
  }
}

// @ts-ignore: decorator
@inline function put1(p: usize, v: f32, first: bool): void {
  store<f32>(p, first ? v : load<f32>(p) + v);
}

/** y[4 pixels, 8 channels] (= or += when !first) the taps over the input channels of one block,
 *  for the output pixels p0..p0+3 in flat (oy, ox) order (they may span rows), storing pixels
 *  skip..3 only: yp = &y[n, pixel p0, ocb] (pixels OC apart), xb = the block's padded image
 *  [Hp][Wp][CB], wp = the packed weight slice [KH*KW][cn][8]. */
function tile4x8(yp: usize, xb: usize, p0: i32, wp: usize, cn: i32, first: bool, skip: i32): void {
  const OC = bOC, wstep: usize = 32;
  // each pixel's window origin in the block image
  let oy = p0 / bOW, ox = p0 % bOW;
  const b0 = at(xb, (oy * bSH * bWp + ox * bSW) * CB);
  if (++ox == bOW) { ox = 0; oy++; }
  const b1 = at(xb, (oy * bSH * bWp + ox * bSW) * CB);
  if (++ox == bOW) { ox = 0; oy++; }
  const b2 = at(xb, (oy * bSH * bWp + ox * bSW) * CB);
  if (++ox == bOW) { ox = 0; oy++; }
  const b3 = at(xb, (oy * bSH * bWp + ox * bSW) * CB);
  const ys = <usize>OC << 2;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  let terms = 0;
  let wq = wp;
  for (let ky = 0; ky < bKH; ky++) {
    for (let kx = 0; kx < bKW; kx++) {
      const off = <usize>(ky * bDH * bWp + kx * bDW) * CB << 2;
      let x0p = b0 + off, x1p = b1 + off, x2p = b2 + off, x3p = b3 + off;
      for (let ci = 0; ci < cn; ci++) {
        const w0 = v128.load(wq), w1 = v128.load(wq, 16);
        const x0 = v128.load32_splat(x0p);
        const x1 = v128.load32_splat(x1p);
        const x2 = v128.load32_splat(x2p);
        const x3 = v128.load32_splat(x3p);
        a0 = madd(x0, w0, a0); a1 = madd(x0, w1, a1);
        a2 = madd(x1, w0, a2); a3 = madd(x1, w1, a3);
        a4 = madd(x2, w0, a4); a5 = madd(x2, w1, a5);
        a6 = madd(x3, w0, a6); a7 = madd(x3, w1, a7);
        x0p += 4; x1p += 4; x2p += 4; x3p += 4;
        wq += wstep;
      }
      terms += cn;
      if (terms >= SUM_BLOCK) {
        if (skip < 1) put8(yp, a0, a1, first);
        if (skip < 2) put8(yp + ys, a2, a3, first);
        if (skip < 3) put8(yp + 2 * ys, a4, a5, first);
        put8(yp + 3 * ys, a6, a7, first);
        a0 = f32x4.splat(0); a1 = a0; a2 = a0; a3 = a0; a4 = a0; a5 = a0; a6 = a0; a7 = a0;
        first = false;
        terms = 0;
      }
    }
  }
  if (terms > 0) {
    if (skip < 1) put8(yp, a0, a1, first);
    if (skip < 2) put8(yp + ys, a2, a3, first);
    if (skip < 3) put8(yp + 2 * ys, a4, a5, first);
    put8(yp + 3 * ys, a6, a7, first);
  }
}

// @ts-ignore: decorator
@inline function put8(p: usize, lo: v128, hi: v128, first: bool): void {
  if (!first) {
    lo = f32x4.add(lo, v128.load(p));
    hi = f32x4.add(hi, v128.load(p, 16));
  }
  v128.store(p, lo);
  v128.store(p, hi, 16);
}

/** One pixel x 8 channels; arguments as tile4x8. */
function tile1x8(yp: usize, xp: usize, wp: usize, cn: i32, first: bool): void {
  const C = CB, wstep: usize = 32;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  let terms = 0;
  for (let ky = 0; ky < bKH; ky++) {
    for (let kx = 0; kx < bKW; kx++) {
      let xq = at(xp, (ky * bDH * bWp + kx * bDW) * C);
      let wq = at(wp, (ky * bKW + kx) * cn * 8);
      let ci = 0;
      for (; ci + 2 <= cn; ci += 2) {
        const x0 = v128.load32_splat(xq), x1 = v128.load32_splat(xq, 4);
        a0 = madd(x0, v128.load(wq), a0); a1 = madd(x0, v128.load(wq, 16), a1);
        a2 = madd(x1, v128.load(wq + wstep), a2); a3 = madd(x1, v128.load(wq + wstep, 16), a3);
        xq += 8;
        wq += 2 * wstep;
      }
      if (ci < cn) {
        const x0 = v128.load32_splat(xq);
        a0 = madd(x0, v128.load(wq), a0); a1 = madd(x0, v128.load(wq, 16), a1);
      }
      terms += cn;
      if (terms >= SUM_BLOCK) {
        put8(yp, f32x4.add(a0, a2), f32x4.add(a1, a3), first);
        a0 = f32x4.splat(0); a1 = a0; a2 = a0; a3 = a0;
        first = false;
        terms = 0;
      }
    }
  }
  if (terms > 0) put8(yp, f32x4.add(a0, a2), f32x4.add(a1, a3), first);
}
