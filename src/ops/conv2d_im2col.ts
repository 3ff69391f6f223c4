// Convolution as one GEMM over an im2col matrix (assembly/conv2d_im2col.ts moves the data,
// gemm_f32 does the arithmetic, over the engine's threads) for the convs that src/ops/conv2d.ts's
// runForward / runBackwardInput / runBackwardFilter find too small for the direct kernels.
import type { Engine } from "../engine.js";
import { gemmThreaded } from "../threads/parallel.js";
import { tryEmpty } from "./common.js";

/** The conv geometry fields the decision reads (src/ops/conv2d.ts's Geometry). */
export interface Im2colGeometry {
  n: number;
  c: number;
  oh: number;
  ow: number;
  oc: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  groups: number;
}

export const IM2COL_FORWARD = 0,
  IM2COL_BACKWARD_INPUT = 1,
  IM2COL_BACKWARD_FILTER = 2;
export type Im2colPass = typeof IM2COL_FORWARD | typeof IM2COL_BACKWARD_INPUT | typeof IM2COL_BACKWARD_FILTER;

/** "auto" (default): by shape; "always": every one-group conv; "never": none. For tests and benchmarks. */
export const im2colPolicy: { mode: "auto" | "always" | "never" } = { mode: "auto" };

/** The most floats an im2col matrix may take (64 MB): beyond, the direct kernels run. */
const MAX_COL_FLOATS = 1 << 24;

/**
 * True when `pass` of the conv `g` runs as a GEMM over its im2col matrix (one group; Winograd
 * convs are decided before). "auto", with 8 or more input channels: outputs under 16 pixels wide,
 * where the direct kernels' 4-pixel tiles barely fit between the edge pixels, and the filter
 * gradient of strided convs with up to 64 output channels, where the direct kernel re-reads a
 * strided dy from memory for every tap and 4 input channels. Measured per pass (forward, input
 * gradient, filter gradient) against the direct kernels: 3x3 stride 2 16x4x4x256 -> 512 (2 wide)
 * 4.4x, 4.5x, 1.5x; 14x14x256 -> 512 (7 wide) 1.25x, 3.2x, 1.4x; 28x28x128 -> 256 (14 wide)
 * 1.2x, 1.5x, 1.0x; 56x56x64 -> 128 (28 wide) about even; 1x1 stride 2 (2 wide) 2-4x. Filter
 * gradients: 112x112x64 -> 64 3x3 stride 2 1.6x, 4x128x128x16 -> 32 4x4 stride 2 3x (a transposed
 * conv's), 4x64x64x32 -> 32 1.5x; with 128 output channels (56x56x64) 0.9x.
 */
export function useIm2col(g: Im2colGeometry, pass: Im2colPass): boolean {
  if (im2colPolicy.mode === "never" || g.groups !== 1) return false;
  if (g.n * g.oh * g.ow * g.kh * g.kw * g.c > MAX_COL_FLOATS) return false;
  if (im2colPolicy.mode === "always") return true;
  if (g.c < 8) return false;
  return g.ow < 16 || (pass === IM2COL_BACKWARD_FILTER && (g.sh > 1 || g.sw > 1) && g.oc <= 64);
}

/**
 * One pass over the im2col matrix. forward: y = col(x) . w (overwrites y; a = x, b = w);
 * backward_input: dx += col2im(dy . w^T) (a = dy, b = w); backward_filter: dw += col(x)^T . dy
 * (a = dy, b = x). `geom` points at the conv's geometry block. Returns false, having done nothing,
 * when the heap has no room for the matrix (the caller then runs the direct kernels).
 */
export function runIm2col(e: Engine, pass: Im2colPass, g: Im2colGeometry, geom: number, out: number, a: number, b: number): boolean {
  const k = e.kernels;
  const m = g.n * g.oh * g.ow,
    kk = g.kh * g.kw * g.c;
  const col = tryEmpty(e, m * kk, "conv2d im2col matrix");
  if (!col) return false;
  try {
    if (pass === IM2COL_FORWARD) {
      k.conv2d_im2col_f32(col.ptr, a, geom);
      gemmThreaded(e, out, col.ptr, b, m, g.oc, kk, false, false, false);
    } else if (pass === IM2COL_BACKWARD_INPUT) {
      gemmThreaded(e, col.ptr, a, b, m, kk, g.oc, false, true, false);
      k.conv2d_col2im_f32(out, col.ptr, geom);
    } else {
      k.conv2d_im2col_f32(col.ptr, b, geom);
      gemmThreaded(e, out, col.ptr, a, kk, g.oc, m, true, false, true);
    }
  } finally {
    col.dispose();
  }
  return true;
}
