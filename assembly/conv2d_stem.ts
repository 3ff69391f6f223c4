// 2D convolution forward for the first layer of an image network: few input channels (C <= 4: RGB,
// grey), output channels a multiple of 8, one group; any kernel size, strides, pads and dilation.
// Same layouts and geometry block as assembly/conv2d.ts: x (N,H,W,C), w (KH,KW,C,OC), y (N,OH,OW,OC).
// Per image, x is copied zero-padded into the host's workspace as an (Hp, Wp, C) image
// (Hp = (OH-1)*SH + (KH-1)*DH + 1, likewise Wp), so every tap of every output pixel is in bounds
// and tap (ky, kx, c) of pixel (oy, ox) sits at a constant offset from the pixel's origin
// (oy*SH, ox*SW): a table of K = KH*KW*C byte offsets, in w's row order, drives one flat loop over
// the taps. Register tile: 4 output pixels of a row x 8 output channels (8 f32x4 accumulators; the
// 4 pixels' inputs are broadcast, SW*C floats apart: for C = 3 at stride 1 at constant load
// offsets). A row's last tile overlaps the one before when OW is not a multiple of 4. Results go
// straight to y (NHWC: a pixel's channels are contiguous), with no transposes. SIMD builds only
// (the scalar build traps here; the host sends it elsewhere). Overwrites y. Kernels never allocate.

import { madd } from "./simd";
import {
  convC, convDh, convDw, convH, convKh, convKw, convN, convOc, convOh, convOw, convPartition, convPl, convPt,
  convRowBegin, convRowEnd, convSh, convSw, convW, PARTITION_MAGIC,
} from "./params.generated";

let tN: i32 = 0, tH: i32 = 0, tW: i32 = 0, tC: i32 = 0, tOH: i32 = 0, tOW: i32 = 0, tOC: i32 = 0;
let tKH: i32 = 0, tKW: i32 = 0, tSH: i32 = 1, tSW: i32 = 1, tPT: i32 = 0, tPL: i32 = 0, tDH: i32 = 1, tDW: i32 = 1;
let tHp: i32 = 0, tWp: i32 = 0;
/** Rows [tRB, tRE) of y (row r = n*OH + oy) that this call computes: its part, or all of them. */
let tRB: i32 = 0, tRE: i32 = 0;

function readGeometryStem(geom: usize): void {
  tN = convN(geom); tH = convH(geom); tW = convW(geom); tC = convC(geom);
  tOH = convOh(geom); tOW = convOw(geom); tOC = convOc(geom);
  tKH = convKh(geom); tKW = convKw(geom);
  tSH = convSh(geom); tSW = convSw(geom);
  tPT = convPt(geom); tPL = convPl(geom);
  tDH = convDh(geom); tDW = convDw(geom);
  tHp = (tOH - 1) * tSH + (tKH - 1) * tDH + 1;
  tWp = (tOW - 1) * tSW + (tKW - 1) * tDW + 1;
  const partitioned = convPartition(geom) == PARTITION_MAGIC;
  tRB = partitioned ? max(convRowBegin(geom), 0) : 0;
  tRE = partitioned ? min(convRowEnd(geom), tN * tOH) : tN * tOH;
}

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** Floats of workspace conv2d_stem_f32_forward needs: the tap table, then one padded image. */
export function conv2d_stem_f32_workspace(geom: usize): i32 {
  readGeometryStem(geom);
  return ((tKH * tKW * tC + 3) & ~3) + tHp * tWp * tC;
}

/**
 * y = conv(x, w) for C <= 4, OC % 8 == 0, OW >= 4, groups 1 (the host checks): y
 * (N,OH,OW,OC), x (N,H,W,C), w (KH,KW,C,OC); geometry at `geom`; ws: conv2d_stem_f32_workspace(geom)
 * floats. Overwrites y: the rows n*OH + oy of the geometry's partition (rowBegin, rowEnd, as
 * conv2d_f32_forward), or all of them. Threads each take a row range with a workspace of their
 * own; every output pixel gets the same bits however the rows are split.
 */
export function conv2d_stem_f32_forward(y: usize, x: usize, w: usize, ws: usize, geom: usize): void {
  if (!ASC_FEATURE_SIMD) unreachable();
  else forward(y, x, w, ws, geom);
}

function forward(y: usize, x: usize, w: usize, ws: usize, geom: usize): void {
  readGeometryStem(geom);
  if (tRB >= tRE) return;
  const C = tC, OC = tOC, Wp = tWp, K = tKH * tKW * C, SH = tSH, SW = tSW;
  const rgb = C == 3 && SW == 1, ps = <usize>(SW * C) << 2; // tile3's case; bytes between a tile's pixels
  const taps = ws, img = at(ws, (K + 3) & ~3);
  let k = 0;
  for (let ky = 0; ky < tKH; ky++) {
    for (let kx = 0; kx < tKW; kx++) {
      for (let c = 0; c < C; c++) {
        store<i32>(taps + (<usize>k << 2), ((ky * tDH * Wp + kx * tDW) * C + c) << 2);
        k++;
      }
    }
  }
  // rows / columns of the padded image that hold input
  const r0 = max(0, tPT), r1 = min(tHp, tH + tPT), s0 = max(0, tPL), s1 = min(Wp, tW + tPL);
  for (let n = tRB / tOH; n * tOH < tRE; n++) {
    // this image's output rows in the part, and the padded rows they read
    const oyB = max(tRB - n * tOH, 0), oyE = min(tRE - n * tOH, tOH);
    const pB = oyB * SH, pE = (oyE - 1) * SH + (tKH - 1) * tDH + 1;
    memory.fill(at(img, pB * Wp * C), 0, <usize>((pE - pB) * Wp * C) << 2);
    if (s0 < s1) {
      for (let r = max(r0, pB); r < min(r1, pE); r++) {
        memory.copy(at(img, (r * Wp + s0) * C), at(x, ((n * tH + r - tPT) * tW + s0 - tPL) * C), <usize>((s1 - s0) * C) << 2);
      }
    }
    const yn = at(y, n * tOH * tOW * OC);
    for (let oy = oyB; oy < oyE; oy++) {
      for (let ox = 0; ox < tOW; ox += 4) {
        const ox0 = min(ox, tOW - 4);
        const xq = at(img, (oy * SH * Wp + ox0 * SW) * C), yq = at(yn, (oy * tOW + ox0) * OC);
        for (let oc = 0; oc < OC; oc += 8) {
          if (rgb) tile3(yq + (<usize>oc << 2), xq, at(w, oc), taps, K);
          else tileAny(yq + (<usize>oc << 2), xq, at(w, oc), taps, K, ps);
        }
      }
    }
  }
}

/** y[4 pixels, 8 channels] for C = 3, stride 1: pixel inputs 12 bytes apart, at constant load offsets. */
// @ts-ignore: decorator
@inline function tile3(yq: usize, xq: usize, wq: usize, taps: usize, K: i32): void {
  const wrow = <usize>tOC << 2;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  const te = taps + (<usize>K << 2);
  for (let tq = taps; tq < te; tq += 4) {
    const q = xq + <usize>load<i32>(tq);
    const w0 = v128.load(wq), w1 = v128.load(wq, 16);
    let v = v128.load32_splat(q);
    a0 = madd(v, w0, a0); a1 = madd(v, w1, a1);
    v = v128.load32_splat(q, 12);
    a2 = madd(v, w0, a2); a3 = madd(v, w1, a3);
    v = v128.load32_splat(q, 24);
    a4 = madd(v, w0, a4); a5 = madd(v, w1, a5);
    v = v128.load32_splat(q, 36);
    a6 = madd(v, w0, a6); a7 = madd(v, w1, a7);
    wq += wrow;
  }
  store4x8(yq, a0, a1, a2, a3, a4, a5, a6, a7);
}

/** As tile3 for any C and stride: pixel inputs `ps` bytes apart (tile3 keeps its offsets constant, so its loads
 *  need no address arithmetic: measured faster in the strict SIMD build). */
function tileAny(yq: usize, xq: usize, wq: usize, taps: usize, K: i32, ps: usize): void {
  const wrow = <usize>tOC << 2;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  const te = taps + (<usize>K << 2);
  for (let tq = taps; tq < te; tq += 4) {
    const q = xq + <usize>load<i32>(tq);
    const w0 = v128.load(wq), w1 = v128.load(wq, 16);
    let v = v128.load32_splat(q);
    a0 = madd(v, w0, a0); a1 = madd(v, w1, a1);
    v = v128.load32_splat(q + ps);
    a2 = madd(v, w0, a2); a3 = madd(v, w1, a3);
    v = v128.load32_splat(q + 2 * ps);
    a4 = madd(v, w0, a4); a5 = madd(v, w1, a5);
    v = v128.load32_splat(q + 3 * ps);
    a6 = madd(v, w0, a6); a7 = madd(v, w1, a7);
    wq += wrow;
  }
  store4x8(yq, a0, a1, a2, a3, a4, a5, a6, a7);
}

/** The tile's 4 pixels (OC floats apart) x 8 channels into y. */
// @ts-ignore: decorator
@inline function store4x8(yq: usize, a0: v128, a1: v128, a2: v128, a3: v128, a4: v128, a5: v128, a6: v128, a7: v128): void {
  const ps = <usize>tOC << 2;
  v128.store(yq, a0); v128.store(yq, a1, 16);
  v128.store(yq + ps, a2); v128.store(yq + ps, a3, 16);
  v128.store(yq + 2 * ps, a4); v128.store(yq + 2 * ps, a5, 16);
  v128.store(yq + 3 * ps, a6); v128.store(yq + 3 * ps, a7, 16);
}
