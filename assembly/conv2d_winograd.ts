// 3x3, stride-1, undilated, one-group convolution by Winograd's minimal filtering F(2x2, 3x3)
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): each 2x2 block of
// output pixels is computed from a 4x4 input patch with 16 multiplies per (input, output) channel
// pair instead of 36, so the multiply-adds drop 2.25x; the multiplies become 16 independent GEMMs
// (one per point of the 4x4 transform domain), run by gemm.ts's register-tiled panel.
//   input  V = B^T d B   d: a 4x4 input patch    B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   filter U = G g G^T   g: the 3x3 taps         G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//   output Y = A^T M A   M[xi] = sum over input channels of U[xi] * V[xi]   A^T = [1 1 1 0; 0 1 -1 -1]
// Every coefficient is 0, +-1 or +-1/2, so the rounding error stays close to direct convolution's
// (the tests hold both to the same tolerance against a float64 reference).
//
// Same layouts and geometry block as assembly/conv2d.ts: x (N,H,W,C), w (3,3,C,OC), y (N,OH,OW,OC);
// iy = oy - PT + ky, taps outside the image read zero; OH, OW and the pads (any sign) come from the
// block. The host dispatches only KH = KW = 3, strides 1, dilations 1, groups 1, SIMD builds (the
// scalar build keeps direct convolution: these kernels trap there).
// Work is cut into blocks of TB output tiles (2x2 pixels each, in (n, tile row, tile column) order):
// a block's transformed inputs V [16][TB][Cp] and products M [16][TB][OCp] stay in L2 (each of the
// 16 matrices one cache line further apart than its size). Channel counts are padded to multiples
// of 4 (Cp, OCp) inside the workspace; the padding lanes hold zeros.
// Memory from the host: `u` the transformed filter U [16][Cp][OCp] (dU for the filter gradient),
// shared by threads; `ws` one thread's block of V and M (or dM [16][TB][OCp]). Kernels never allocate.
// Threads: forward / backward_input split the tiles at multiples of TB (after parts with empty
// tile ranges have written U, split by its rows), backward_filter splits the input channels (dw's
// rows) at multiples of 16; every element then takes the same arithmetic as in one whole call, so
// results never depend on the split.
//   forward          y  = conv(x, w)                                  (overwrites y)
//   backward_input   dx += conv(dy, w flipped, channels swapped, pads 2-PT / 2-PL)   (same machinery)
//   backward_filter  dw += G^T (sum over tiles of V^T dM) G,  dM = A dY A^T          (accumulates)

import { gemm_f32_block, gemm_f32_strided } from "./gemm";
import {
  convC, convH, convN, convOc, convOcBegin, convOcEnd, convOh, convOw, convPartition, convPl, convPt,
  convReady, convRowBegin, convRowEnd, convW, PARTITION_MAGIC,
} from "./params.generated";

// The convolution as the transforms see it: an input of IC channels, an output of OC channels.
let zN: i32 = 0, zIH: i32 = 0, zIW: i32 = 0, zIC: i32 = 0, zOH: i32 = 0, zOW: i32 = 0, zOC: i32 = 0;
let zPT: i32 = 0, zPL: i32 = 0;
let zICp: i32 = 0, zOCp: i32 = 0, zTH: i32 = 0, zTW: i32 = 0, zT: i32 = 0, zTB: i32 = 0;
let zUS: i32 = 0, zVS: i32 = 0, zMS: i32 = 0;
// The call's part (the geometry block's partition fields, as assembly/conv2d.ts): its "rows" [zRB, zRE) are
// output tiles (forward, backward_input) or input channels, the rows of dw's (C, OC) matrices
// (backward_filter); its "ready" field says that `u` already holds the transformed filter, else
// the call first transforms U's rows (the pass's input channels) [zFB, zFE) (ocBegin, ocEnd).
let zRB: i32 = 0, zRE: i32 = 0, zUReady: bool = false, zFB: i32 = 0, zFE: i32 = 0;

/** Reads the geometry block for `pass` (0 forward, 1 backward_input: the convolution dy -> dx, 2 backward_filter). */
function readGeometryWinograd(geom: usize, pass: i32): void {
  const swap = pass == 1;
  const n = convN(geom), h = convH(geom), w = convW(geom), c = convC(geom);
  const oh = convOh(geom), ow = convOw(geom), oc = convOc(geom);
  const pt = convPt(geom), pl = convPl(geom);
  zN = n;
  if (swap) {
    zIH = oh; zIW = ow; zIC = oc; zOH = h; zOW = w; zOC = c; zPT = 2 - pt; zPL = 2 - pl;
  } else {
    zIH = h; zIW = w; zIC = c; zOH = oh; zOW = ow; zOC = oc; zPT = pt; zPL = pl;
  }
  zICp = (zIC + 3) & ~3;
  zOCp = (zOC + 3) & ~3;
  zTH = (zOH + 1) >> 1;
  zTW = (zOW + 1) >> 1;
  zT = zN * zTH * zTW;
  // V + M of one block within ~512 KB (16 * TB * (Cp + OCp) floats), but at least 32 tiles: with
  // wide channels U (16 MB at 512 -> 512) is re-read from memory once per block, which costs more
  // than V and M spilling out of L2 (scripts/bench-conv.mjs --case 28x28x512)
  zTB = min(zT, max(32, (8192 / (zICp + zOCp)) & ~3));
  // floats between the 16 matrices of U, V, M: one cache line more than their size, so the 16
  // points of one tile (stored and loaded together) fall in 16 cache sets, not one (sizes are
  // often powers of two: 4096 floats for any Cp = OCp)
  zUS = zICp * zOCp + 16;
  zVS = zTB * zICp + 16;
  zMS = zTB * zOCp + 16;
  if (convPartition(geom) == PARTITION_MAGIC) {
    zRB = convRowBegin(geom); zRE = convRowEnd(geom); zUReady = convReady(geom) != 0;
    zFB = convOcBegin(geom); zFE = convOcEnd(geom);
  } else {
    zRB = 0; zRE = i32.MAX_VALUE; zUReady = false; zFB = 0; zFE = i32.MAX_VALUE;
  }
}

/** Input channels per product of the forward's GEMMs, each summed from zero and added to M: the
 *  transformed inputs and filters are larger than x and w (V sums 4 inputs), so M's float32
 *  chains are kept shorter than gemm.ts's SUM_KC for the outputs' error to stay near direct
 *  convolution's (tests/conv-precision.test.ts). */
const CHAIN: i32 = 32;

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/**
 * Floats of one part's workspace `ws` for `pass` (0 forward, 1 backward_input, 2 backward_filter)
 * of the conv at `geom`: one block's V and M (or dM); at least the 9 * GATHER_ROWS * OC floats
 * that backward_input's filter transform gathers rows of taps into (before the part's tiles).
 */
export function conv2d_winograd_f32_workspace(geom: usize, pass: i32): i32 {
  readGeometryWinograd(geom, pass);
  return max(16 * (zVS + zMS), pass == 1 ? 9 * GATHER_ROWS * zOC : 0);
}

/** Floats of the shared transformed filter `u` (U, or dU for backward_filter): 16 * Cp * OCp. */
export function conv2d_winograd_f32_filter_workspace(geom: usize, pass: i32): i32 {
  readGeometryWinograd(geom, pass);
  return 16 * zUS;
}

/** Output tiles of the pass (2x2 pixels each), and the tiles of one block: parts split at multiples of it. */
export function conv2d_winograd_f32_tiles(geom: usize, pass: i32): i32 {
  readGeometryWinograd(geom, pass);
  return zT;
}

export function conv2d_winograd_f32_tile_block(geom: usize, pass: i32): i32 {
  readGeometryWinograd(geom, pass);
  return zTB;
}

/**
 * y = conv(x, w) (overwrites y) for the part's tiles. u: the transformed filter, written first
 * unless the part says it is ready; ws: conv2d_winograd_f32_workspace(geom, 0) floats per thread.
 * Threads: parts with empty tile ranges transform u's rows [ocBegin, ocEnd) (the geometry's fields),
 * then parts split at multiples of the tile block run with u ready.
 */
export function conv2d_winograd_f32_forward(y: usize, x: usize, w: usize, u: usize, ws: usize, geom: usize): void {
  if (!ASC_FEATURE_SIMD) unreachable();
  else {
    readGeometryWinograd(geom, 0);
    run(y, x, w, u, ws, false);
  }
}

/** dx += the input gradient of conv from dy and w; arguments as conv2d_winograd_f32_forward (pass 1). */
export function conv2d_winograd_f32_backward_input(dx: usize, dy: usize, w: usize, u: usize, ws: usize, geom: usize): void {
  if (!ASC_FEATURE_SIMD) unreachable();
  else {
    readGeometryWinograd(geom, 1);
    run(dx, dy, w, u, ws, true);
  }
}

/**
 * dw (3,3,C,OC) += the filter gradient of conv from dy and x, for the part's input channels (rows of
 * dw's matrices; a multiple of 4 where a part starts). u: dU, shared by the parts (each uses its own rows);
 * ws: conv2d_winograd_f32_workspace(geom, 2) floats per thread.
 */
export function conv2d_winograd_f32_backward_filter(dw: usize, dy: usize, x: usize, u: usize, ws: usize, geom: usize): void {
  if (!ASC_FEATURE_SIMD) unreachable();
  else backwardFilter(dw, dy, x, u, ws, geom);
}

function backwardFilter(dw: usize, dy: usize, x: usize, dU: usize, ws: usize, geom: usize): void {
  readGeometryWinograd(geom, 2);
  const ICp = zICp, OCp = zOCp, TB = zTB, cB = zRB, cE = min(zRE, zIC);
  if (cB >= cE) return;
  const cEp = min(ICp, (cE + 3) & ~3);
  const V = ws, D = at(V, 16 * zVS);
  for (let xi = 0; xi < 16; xi++) {
    memory.fill(at(dU, xi * zUS + cB * OCp), 0, <usize>((cEp - cB) * OCp) << 2);
  }
  for (let t0 = 0; t0 < zT; t0 += TB) {
    const tb = min(TB, zT - t0);
    transformInput(V, x, t0, tb, cB, cE);
    transformOutputGradient(D, dy, t0, tb);
    for (let xi = 0; xi < 16; xi++) {
      // dU[xi] (Cp x OCp) += V[xi]^T (Cp x tb) . dM[xi] (tb x OCp), rows [cB, cEp)
      gemm_f32_block(at(dU, xi * zUS), at(V, xi * zVS), at(D, xi * zMS), ICp, OCp, tb, 1, 0, 1, cB, cEp, 0, OCp);
    }
  }
  filterGradient(dw, dU, cB, cE);
}

/** The forward pipeline over the part's tile blocks; `flip`: backward_input's (flipped, transposed) weights, accumulating. */
function run(out: usize, inp: usize, w: usize, U: usize, ws: usize, flip: bool): void {
  const ICp = zICp, OCp = zOCp, TB = zTB;
  const V = ws, M = at(V, 16 * zVS);
  // U's rows [zFB, zFE) (zFB % 4 == 0); backward_input gathers its taps into ws first (free until the tiles)
  if (!zUReady) transformFilter(U, w, max(zFB, 0), min(zFE, zIC), flip, ws);
  const tEnd = min(zRE, zT);
  for (let t0 = zRB; t0 < tEnd; t0 += TB) {
    const tb = min(TB, tEnd - t0);
    transformInput(V, inp, t0, tb, 0, zIC);
    for (let xi = 0; xi < 16; xi++) {
      // M[xi] (tb x OCp) = V[xi] (tb x Cp) . U[xi] (Cp x OCp), CHAIN input channels at a time
      const Mx = at(M, xi * zMS), Vx = at(V, xi * zVS), Ux = at(U, xi * zUS);
      for (let c0 = 0; c0 < ICp; c0 += CHAIN) {
        gemm_f32_strided(Mx, OCp, at(Vx, c0), ICp, at(Ux, c0 * OCp), OCp, tb, OCp, min(CHAIN, ICp - c0), 0, 0, c0 > 0 ? 1 : 0, 0, OCp);
      }
    }
    transformOutput(out, M, t0, tb, flip);
  }
}

// ---------------------------------------------------------------------------------------------
// Partial vectors: channel counts that are not multiples of 4 end in a vector of `count` < 4 lanes.

/** Lanes 0..count-1 from p (count >= 4: a full load), the rest zero. */
// @ts-ignore: decorator
@inline function loadLanes(p: usize, count: i32): v128 {
  if (count >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (count > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (count > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Stores lanes 0..count-1 of v to p (count >= 4: a full store). */
// @ts-ignore: decorator
@inline function storeLanes(p: usize, v: v128, count: i32): void {
  if (count >= 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (count > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

// ---------------------------------------------------------------------------------------------
// Transforms, vectorised over 4 channels (NHWC keeps channels contiguous).

/**
 * U[xi][ic][oc] = (G g G^T)[xi] for U's rows ic in [icB, icE) (icB % 4 == 0), g = the 3x3 taps of
 * (ic, oc). Forward: g from w (3,3,IC,OC). backward_input (flip): this pass's IC is w's OC and its
 * OC is w's C, g[ky][kx] = w[2-ky][2-kx][oc][ic]: each group of GATHER_ROWS rows is first gathered
 * into `scratch` (9 * GATHER_ROWS * OC floats) as [tap][row][OC] by 4x4 shuffle transposes. The part that
 * reaches IC also zeroes U's padding rows up to ICp (padding columns are written as zeros).
 */
function transformFilter(U: usize, w: usize, icB: i32, icE: i32, flip: bool, scratch: usize): void {
  const IC = zIC, OC = zOC, xiBytes = <usize>zUS << 2;
  if (icE >= IC) {
    for (let xi = 0; xi < 16; xi++) memory.fill(at(U, xi * zUS + IC * zOCp), 0, <usize>((zICp - IC) * zOCp) << 2);
  }
  if (!flip) {
    for (let ic = icB; ic < icE; ic++) transformFilterRow(at(U, ic * zOCp), at(w, ic * OC), <usize>(IC * OC) << 2, xiBytes);
    return;
  }
  for (let ic0 = icB; ic0 < icE; ic0 += GATHER_ROWS) {
    const rows = min(GATHER_ROWS, icE - ic0);
    gatherFlipped(scratch, w, ic0, rows);
    for (let r = 0; r < rows; r++) {
      transformFilterRow(at(U, (ic0 + r) * zOCp), at(scratch, r * OC), <usize>(GATHER_ROWS * OC) << 2, xiBytes);
    }
  }
}

/** Rows of U that backward_input gathers at a time: 16 floats of each w row, a whole cache line. */
const GATHER_ROWS: i32 = 16;

/**
 * scratch[tap][r][j] = w[8 - tap][j][ic0 + r] for r < rows (<= GATHER_ROWS), j < zOC: backward_input's
 * taps of `rows` rows of U, from w (3,3,zOC,zIC) (w's C is this pass's OC). 4x4 blocks move as
 * vectors (transposed by shuffles), 4 blocks side by side, so each w row is read 16 floats at a time.
 */
function gatherFlipped(scratch: usize, w: usize, ic0: i32, rows: i32): void {
  const R = zOC, S = zIC; // w's rows (its C) and columns (its OC) per tap
  const blocks = rows >> 2; // whole 4-row blocks of U
  for (let tap = 0; tap < 9; tap++) {
    const src = at(w, (8 - tap) * R * S + ic0), dst = at(scratch, tap * GATHER_ROWS * R);
    let j = 0;
    for (; j + 4 <= R; j += 4) {
      for (let b = 0; b < blocks; b++) {
        // w rows j..j+3 of columns ic0+4b..+3 -> scratch rows 4b..4b+3 of columns j..j+3
        const s0 = at(src, j * S + 4 * b), d0 = at(dst, 4 * b * R + j);
        const a0 = v128.load(s0), a1 = v128.load(at(s0, S));
        const a2 = v128.load(at(s0, 2 * S)), a3 = v128.load(at(s0, 3 * S));
        const l01 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), h01 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7);
        const l23 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), h23 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
        v128.store(d0, v128.shuffle<f32>(l01, l23, 0, 1, 4, 5));
        v128.store(at(d0, R), v128.shuffle<f32>(l01, l23, 2, 3, 6, 7));
        v128.store(at(d0, 2 * R), v128.shuffle<f32>(h01, h23, 0, 1, 4, 5));
        v128.store(at(d0, 3 * R), v128.shuffle<f32>(h01, h23, 2, 3, 6, 7));
      }
      for (let r = blocks << 2; r < rows; r++) {
        for (let i = 0; i < 4; i++) store<f32>(at(dst, r * R + j + i), load<f32>(at(src, (j + i) * S + r)));
      }
    }
    for (; j < R; j++) {
      for (let r = 0; r < rows; r++) store<f32>(at(dst, r * R + j), load<f32>(at(src, j * S + r)));
    }
  }
}

/**
 * One row of U: dst[xi][oc] (xi at dst + xi * xiBytes) = (G g G^T)[xi] for oc < zOC, with g[tap] of
 * 4 output channels at src + tap * tapBytes (+ 4 * oc); the row's padding lanes get zeros.
 */
function transformFilterRow(dst: usize, src: usize, tapBytes: usize, xiBytes: usize): void {
  const OC = zOC;
  const half = f32x4.splat(0.5);
  for (let oc = 0; oc < OC; oc += 4) {
    const lanes = min(4, OC - oc);
    // g[ky][kx] for 4 output channels
    const p = at(src, oc);
    const g0 = loadLanes(p, lanes), g1 = loadLanes(p + tapBytes, lanes), g2 = loadLanes(p + 2 * tapBytes, lanes);
    const g3 = loadLanes(p + 3 * tapBytes, lanes), g4 = loadLanes(p + 4 * tapBytes, lanes), g5 = loadLanes(p + 5 * tapBytes, lanes);
    const g6 = loadLanes(p + 6 * tapBytes, lanes), g7 = loadLanes(p + 7 * tapBytes, lanes), g8 = loadLanes(p + 8 * tapBytes, lanes);
    // rows: r_i,kx = (G g)[i][kx] over ky
    const s0 = f32x4.add(g0, g6), s1 = f32x4.add(g1, g7), s2 = f32x4.add(g2, g8);
    const r10 = f32x4.mul(half, f32x4.add(s0, g3)), r20 = f32x4.mul(half, f32x4.sub(s0, g3));
    const r11 = f32x4.mul(half, f32x4.add(s1, g4)), r21 = f32x4.mul(half, f32x4.sub(s1, g4));
    const r12 = f32x4.mul(half, f32x4.add(s2, g5)), r22 = f32x4.mul(half, f32x4.sub(s2, g5));
    // columns: u_i,j = (r G^T)[i][j] over kx; xi = 4i + j
    const d = at(dst, oc);
    filterRow(d, 0, g0, g1, g2, half, xiBytes);
    filterRow(d, 4, r10, r11, r12, half, xiBytes);
    filterRow(d, 8, r20, r21, r22, half, xiBytes);
    filterRow(d, 12, g6, g7, g8, half, xiBytes);
  }
}

/** U[xi0..xi0+3] = (a, b, c) G^T at dst (+ xi * xiStride). */
// @ts-ignore: decorator
@inline function filterRow(dst: usize, xi0: i32, a: v128, b: v128, c: v128, half: v128, xiStride: usize): void {
  const s = f32x4.add(a, c);
  const p = dst + <usize>xi0 * xiStride;
  v128.store(p, a);
  v128.store(p + xiStride, f32x4.mul(half, f32x4.add(s, b)));
  v128.store(p + 2 * xiStride, f32x4.mul(half, f32x4.sub(s, b)));
  v128.store(p + 3 * xiStride, c);
}

/** V[xi][t - t0][c] = (B^T d B)[xi] of tile t's 4x4 input patch, for tiles t0 .. t0+tb-1 and channels [cB, cE) (cB % 4 == 0). */
function transformInput(V: usize, inp: usize, t0: i32, tb: i32, cB: i32, cE: i32): void {
  const IC = zIC, ICp = zICp, IH = zIH, IW = zIW;
  const xiStride = <usize>zVS << 2, rowBytes = <usize>(IW * IC) << 2, pixBytes = <usize>IC << 2;
  const zero = f32x4.splat(0);
  for (let t = t0; t < t0 + tb; t++) {
    const tile = t % (zTH * zTW), n = t / (zTH * zTW);
    const iy0 = (tile / zTW) * 2 - zPT, ix0 = (tile % zTW) * 2 - zPL;
    // which of the patch's rows / columns lie inside the image (outside: zeros)
    const y0 = <u32>iy0 < <u32>IH, y1 = <u32>(iy0 + 1) < <u32>IH, y2 = <u32>(iy0 + 2) < <u32>IH, y3 = <u32>(iy0 + 3) < <u32>IH;
    const c0 = <u32>ix0 < <u32>IW, c1 = <u32>(ix0 + 1) < <u32>IW, c2 = <u32>(ix0 + 2) < <u32>IW, c3 = <u32>(ix0 + 3) < <u32>IW;
    const base = at(inp, ((n * IH + iy0) * IW + ix0) * IC); // patch origin (may lie outside: only read when inside)
    let dst = at(V, (t - t0) * ICp + cB);
    for (let c = cB; c < cE; c += 4) {
      const lanes = min(4, cE - c);
      const p = base + (<usize>c << 2);
      // column transform of each row: t_j = d B (over the 4 columns of a row)
      let a0 = zero, a1 = zero, a2 = zero, a3 = zero; // row 0 after d B
      let b0 = zero, b1 = zero, b2 = zero, b3 = zero; // row 1
      let e0 = zero, e1 = zero, e2 = zero, e3 = zero; // row 2
      let f0 = zero, f1 = zero, f2 = zero, f3 = zero; // row 3
      if (y0) {
        const r = p;
        const d0 = c0 ? loadLanes(r, lanes) : zero, d1 = c1 ? loadLanes(r + pixBytes, lanes) : zero;
        const d2 = c2 ? loadLanes(r + 2 * pixBytes, lanes) : zero, d3 = c3 ? loadLanes(r + 3 * pixBytes, lanes) : zero;
        a0 = f32x4.sub(d0, d2); a1 = f32x4.add(d1, d2); a2 = f32x4.sub(d2, d1); a3 = f32x4.sub(d1, d3);
      }
      if (y1) {
        const r = p + rowBytes;
        const d0 = c0 ? loadLanes(r, lanes) : zero, d1 = c1 ? loadLanes(r + pixBytes, lanes) : zero;
        const d2 = c2 ? loadLanes(r + 2 * pixBytes, lanes) : zero, d3 = c3 ? loadLanes(r + 3 * pixBytes, lanes) : zero;
        b0 = f32x4.sub(d0, d2); b1 = f32x4.add(d1, d2); b2 = f32x4.sub(d2, d1); b3 = f32x4.sub(d1, d3);
      }
      if (y2) {
        const r = p + 2 * rowBytes;
        const d0 = c0 ? loadLanes(r, lanes) : zero, d1 = c1 ? loadLanes(r + pixBytes, lanes) : zero;
        const d2 = c2 ? loadLanes(r + 2 * pixBytes, lanes) : zero, d3 = c3 ? loadLanes(r + 3 * pixBytes, lanes) : zero;
        e0 = f32x4.sub(d0, d2); e1 = f32x4.add(d1, d2); e2 = f32x4.sub(d2, d1); e3 = f32x4.sub(d1, d3);
      }
      if (y3) {
        const r = p + 3 * rowBytes;
        const d0 = c0 ? loadLanes(r, lanes) : zero, d1 = c1 ? loadLanes(r + pixBytes, lanes) : zero;
        const d2 = c2 ? loadLanes(r + 2 * pixBytes, lanes) : zero, d3 = c3 ? loadLanes(r + 3 * pixBytes, lanes) : zero;
        f0 = f32x4.sub(d0, d2); f1 = f32x4.add(d1, d2); f2 = f32x4.sub(d2, d1); f3 = f32x4.sub(d1, d3);
      }
      // row transform B^T (.): xi = 4i + j
      inputColumn(dst, 0, a0, b0, e0, f0, xiStride);
      inputColumn(dst, 1, a1, b1, e1, f1, xiStride);
      inputColumn(dst, 2, a2, b2, e2, f2, xiStride);
      inputColumn(dst, 3, a3, b3, e3, f3, xiStride);
      dst += 16;
    }
    // padding lanes of the last vector were stored as zeros by loadLanes; channels IC..ICp-1
    // beyond the last vector do not exist (ICp - IC < 4)
  }
}

/** V[j], V[4+j], V[8+j], V[12+j] = B^T (r0, r1, r2, r3) for column j. */
// @ts-ignore: decorator
@inline function inputColumn(dst: usize, j: i32, r0: v128, r1: v128, r2: v128, r3: v128, xiStride: usize): void {
  const p = dst + <usize>j * xiStride;
  v128.store(p, f32x4.sub(r0, r2));
  v128.store(p + 4 * xiStride, f32x4.add(r1, r2));
  v128.store(p + 8 * xiStride, f32x4.sub(r2, r1));
  v128.store(p + 12 * xiStride, f32x4.sub(r1, r3));
}

/** out's 2x2 pixels of each tile = A^T M A (or += when `accumulate`), inside the output only. */
function transformOutput(out: usize, M: usize, t0: i32, tb: i32, accumulate: bool): void {
  const OC = zOC, OCp = zOCp, OH = zOH, OW = zOW;
  const xiStride = <usize>zMS << 2, rowBytes = <usize>(OW * OC) << 2, pixBytes = <usize>OC << 2;
  for (let t = t0; t < t0 + tb; t++) {
    const tile = t % (zTH * zTW), n = t / (zTH * zTW);
    const oy = (tile / zTW) * 2, ox = (tile % zTW) * 2;
    const row1 = oy + 1 < OH, col1 = ox + 1 < OW;
    const p = at(out, ((n * OH + oy) * OW + ox) * OC);
    let src = at(M, (t - t0) * OCp);
    for (let oc = 0; oc < OC; oc += 4) {
      const lanes = min(4, OC - oc);
      // column sums over i: s_j = m0j + m1j + m2j, z_j = m1j - m2j - m3j
      const s0 = outputColumnSum(src, 0, xiStride), z0 = outputColumnDiff(src, 0, xiStride);
      const s1 = outputColumnSum(src, 1, xiStride), z1 = outputColumnDiff(src, 1, xiStride);
      const s2 = outputColumnSum(src, 2, xiStride), z2 = outputColumnDiff(src, 2, xiStride);
      const s3 = outputColumnSum(src, 3, xiStride), z3 = outputColumnDiff(src, 3, xiStride);
      const q = p + (<usize>oc << 2);
      putOutput(q, f32x4.add(f32x4.add(s0, s1), s2), lanes, accumulate);
      if (col1) putOutput(q + pixBytes, f32x4.sub(f32x4.sub(s1, s2), s3), lanes, accumulate);
      if (row1) {
        putOutput(q + rowBytes, f32x4.add(f32x4.add(z0, z1), z2), lanes, accumulate);
        if (col1) putOutput(q + rowBytes + pixBytes, f32x4.sub(f32x4.sub(z1, z2), z3), lanes, accumulate);
      }
      src += 16;
    }
  }
}

// @ts-ignore: decorator
@inline function outputColumnSum(src: usize, j: i32, xiStride: usize): v128 {
  const p = src + <usize>j * xiStride;
  return f32x4.add(f32x4.add(v128.load(p), v128.load(p + 4 * xiStride)), v128.load(p + 8 * xiStride));
}

// @ts-ignore: decorator
@inline function outputColumnDiff(src: usize, j: i32, xiStride: usize): v128 {
  const p = src + <usize>j * xiStride;
  return f32x4.sub(f32x4.sub(v128.load(p + 4 * xiStride), v128.load(p + 8 * xiStride)), v128.load(p + 12 * xiStride));
}

// @ts-ignore: decorator
@inline function putOutput(p: usize, v: v128, lanes: i32, accumulate: bool): void {
  storeLanes(p, accumulate ? f32x4.add(v, loadLanes(p, lanes)) : v, lanes);
}

/** dM[xi][t - t0][oc] = (A dY A^T)[xi] of tile t's 2x2 output gradient (zero outside the output). */
function transformOutputGradient(D: usize, dy: usize, t0: i32, tb: i32): void {
  const OC = zOC, OCp = zOCp, OH = zOH, OW = zOW;
  const xiStride = <usize>zMS << 2, rowBytes = <usize>(OW * OC) << 2, pixBytes = <usize>OC << 2;
  const zero = f32x4.splat(0);
  for (let t = t0; t < t0 + tb; t++) {
    const tile = t % (zTH * zTW), n = t / (zTH * zTW);
    const oy = (tile / zTW) * 2, ox = (tile % zTW) * 2;
    const row1 = oy + 1 < OH, col1 = ox + 1 < OW;
    const p = at(dy, ((n * OH + oy) * OW + ox) * OC);
    let dst = at(D, (t - t0) * OCp);
    for (let oc = 0; oc < OC; oc += 4) {
      const lanes = min(4, OC - oc);
      const q = p + (<usize>oc << 2);
      const e00 = loadLanes(q, lanes);
      const e01 = col1 ? loadLanes(q + pixBytes, lanes) : zero;
      const e10 = row1 ? loadLanes(q + rowBytes, lanes) : zero;
      const e11 = row1 && col1 ? loadLanes(q + rowBytes + pixBytes, lanes) : zero;
      // rows i of A (1 0; 1 1; 1 -1; 0 -1) applied over the pixel row a
      gradientRow(dst, 0, e00, e01, xiStride);
      gradientRow(dst, 4, f32x4.add(e00, e10), f32x4.add(e01, e11), xiStride);
      gradientRow(dst, 8, f32x4.sub(e00, e10), f32x4.sub(e01, e11), xiStride);
      gradientRow(dst, 12, f32x4.neg(e10), f32x4.neg(e11), xiStride);
      dst += 16;
    }
  }
}

/** dM[xi0 + j] = (r0, r1) A^T for j = 0..3. */
// @ts-ignore: decorator
@inline function gradientRow(dst: usize, xi0: i32, r0: v128, r1: v128, xiStride: usize): void {
  const p = dst + <usize>xi0 * xiStride;
  v128.store(p, r0);
  v128.store(p + xiStride, f32x4.add(r0, r1));
  v128.store(p + 2 * xiStride, f32x4.sub(r0, r1));
  v128.store(p + 3 * xiStride, f32x4.neg(r1));
}

/** dw[ky][kx][c][oc] += (G^T dU G)[ky][kx] for c in [cB, cE) and every oc. */
function filterGradient(dw: usize, dU: usize, cB: i32, cE: i32): void {
  const C = zIC, OC = zOC, ICp = zICp, OCp = zOCp;
  const xiStride = <usize>zUS << 2, tap = <usize>(C * OC) << 2;
  const half = f32x4.splat(0.5);
  for (let c = cB; c < cE; c++) {
    for (let oc = 0; oc < OC; oc += 4) {
      const lanes = min(4, OC - oc);
      const src = at(dU, c * OCp + oc);
      // rows: q_k,j = (G^T u)[k][j] over i, for each column j
      let q00 = f32x4.splat(0), q01 = q00, q02 = q00, q03 = q00, q10 = q00, q11 = q00, q12 = q00, q13 = q00;
      let q20 = q00, q21 = q00, q22 = q00, q23 = q00;
      for (let j = 0; j < 4; j++) {
        const p = src + <usize>j * xiStride;
        const u0 = v128.load(p), u1 = v128.load(p + 4 * xiStride), u2 = v128.load(p + 8 * xiStride), u3 = v128.load(p + 12 * xiStride);
        const h = f32x4.mul(half, f32x4.add(u1, u2));
        const a = f32x4.add(u0, h), b = f32x4.mul(half, f32x4.sub(u1, u2)), d = f32x4.add(h, u3);
        if (j == 0) { q00 = a; q10 = b; q20 = d; }
        else if (j == 1) { q01 = a; q11 = b; q21 = d; }
        else if (j == 2) { q02 = a; q12 = b; q22 = d; }
        else { q03 = a; q13 = b; q23 = d; }
      }
      const dst = at(dw, c * OC + oc);
      filterGradientRow(dst, q00, q01, q02, q03, half, tap, lanes);
      filterGradientRow(dst + 3 * tap, q10, q11, q12, q13, half, tap, lanes);
      filterGradientRow(dst + 6 * tap, q20, q21, q22, q23, half, tap, lanes);
    }
  }
}

/** dw taps kx = 0..2 of one row += (v0, v1, v2, v3) G (columns of G^T). */
// @ts-ignore: decorator
@inline function filterGradientRow(dst: usize, v0: v128, v1: v128, v2: v128, v3: v128, half: v128, tap: usize, lanes: i32): void {
  const h = f32x4.mul(half, f32x4.add(v1, v2));
  putOutput(dst, f32x4.add(v0, h), lanes, true);
  putOutput(dst + tap, f32x4.mul(half, f32x4.sub(v1, v2)), lanes, true);
  putOutput(dst + 2 * tap, f32x4.add(h, v3), lanes, true);
}
