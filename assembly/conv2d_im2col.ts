// Convolution as one GEMM over an im2col matrix, for convs whose outputs are too small for the
// direct kernels' 4-pixel tiles (a strided conv late in a network: 4x4x256 -> 2x2x512 spends most
// of its time on edge pixels there). The host (src/ops/conv2d_im2col.ts) runs the GEMMs; these
// kernels only move data. Same layouts and geometry block as assembly/conv2d.ts, one group:
//   col (M, K) row-major, M = N*OH*OW output pixels r = (n*OH + oy)*OW + ox, K = KH*KW*C with
//   col[r][(ky*KW + kx)*C + c] = x[n, oy*SH - PT + ky*DH, ox*SW - PL + kx*DW, c] (0 outside x),
// so w (KH,KW,C,OC) is already the (K, OC) matrix: y = col . w, dcol = dy . w^T, dw += col^T . dy.
// Kernels never allocate; im2col overwrites col, col2im accumulates into dx.

import { add_f32_forward } from "./elementwise";
import { convC, convDh, convDw, convH, convKh, convKw, convN, convOh, convOw, convPl, convPt, convSh, convSw, convW } from "./params.generated";

let iN: i32 = 0, iH: i32 = 0, iW: i32 = 0, iC: i32 = 0, iOH: i32 = 0, iOW: i32 = 0;
let iKH: i32 = 0, iKW: i32 = 0, iSH: i32 = 1, iSW: i32 = 1, iPT: i32 = 0, iPL: i32 = 0, iDH: i32 = 1, iDW: i32 = 1;

function readGeometryIm2col(geom: usize): void {
  iN = convN(geom); iH = convH(geom); iW = convW(geom); iC = convC(geom);
  iOH = convOh(geom); iOW = convOw(geom);
  iKH = convKh(geom); iKW = convKw(geom);
  iSH = convSh(geom); iSW = convSw(geom); iPT = convPt(geom); iPL = convPl(geom);
  iDH = convDh(geom); iDW = convDw(geom);
}

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** col = the im2col matrix of x (see above). */
export function conv2d_im2col_f32(col: usize, x: usize, geom: usize): void {
  readGeometryIm2col(geom);
  walk(col, x, true);
}

/** dx += the im2col matrix's gradient dcol folded back onto x's pixels (the transpose of im2col). */
export function conv2d_col2im_f32(dx: usize, dcol: usize, geom: usize): void {
  readGeometryIm2col(geom);
  walk(dcol, dx, false);
}

/** Visits col's rows in order, each tap's C floats against x's pixel: gathers them into col
 *  (`gather`: zeros for taps outside x) or adds them into x (taps outside x are dropped). */
function walk(col: usize, x: usize, gather: bool): void {
  const C = iC, pixBytes = <usize>C << 2;
  let q = col;
  for (let n = 0; n < iN; n++) {
    for (let oy = 0; oy < iOH; oy++) {
      for (let ox = 0; ox < iOW; ox++) {
        for (let ky = 0; ky < iKH; ky++) {
          const iy = oy * iSH - iPT + ky * iDH;
          for (let kx = 0; kx < iKW; kx++, q += pixBytes) {
            const ix = ox * iSW - iPL + kx * iDW;
            if (<u32>iy < <u32>iH && <u32>ix < <u32>iW) {
              const p = at(x, ((n * iH + iy) * iW + ix) * C);
              if (gather) memory.copy(q, p, pixBytes);
              else add_f32_forward(p, p, q, C);
            } else if (gather) {
              memory.fill(q, 0, pixBytes);
            }
          }
        }
      }
    }
  }
}
