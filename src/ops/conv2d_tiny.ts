// conv2d.tiny: convolution of tiny images (a few pixels, e.g. 2x2: VGG-16's and ResNet's last stages on 32x32
// or 64x64 inputs) as GEMMs over the batch, one output pixel at a time, with only the taps that
// land inside the image: no padding is multiplied, nothing is transformed or unrolled into a matrix.
// Forward: for output pixel o and each tap row ky that lands inside, the row's inside taps are
// contiguous in x (pixels ix..ix+len) and in w (taps kx..kx+len), so
//   y[:, o, :] (n x OC) (+)= x[:, iy, ix..ix+len, :] (n x len*C) . w[ky, kx..kx+len] (len*C x OC)
// is one gemm_f32_strided with the batch as its rows (row strides: an image of x, of y).
// Input gradient: per (input pixel, tap) pair, dx[:, i] += dy[:, o] . w[tap]^T, dot products along
// w's rows (gemm's A . B^T), accumulated onto dx.
// Filter gradient: per tap, the (pixel, image) rows of x and dy that meet through it are gathered
// into two small matrices and dw[tap] += X^T . DY, one GEMM with k = those rows.
// Against Winograd (its transformed filter is 16/9 of w, written every call, and a 2x2 image is
// one tile) and im2col (5 of 9 taps are padding on 2x2 images): see MAX_PIXELS. A 1x1 image with
// one tap inside never gets here: conv2d.gemm_tap (earlier in the registry) runs it as one GEMM.
// An entry of the algorithm registry (src/ops/conv2d_algorithms.ts).
import type { Engine } from "../engine.js";
import { splitRange } from "../threads/partition.js";
import { gemmColumnAlign, gemmScratchFloats, gemmThreaded, partsFor, threadsFor } from "../threads/parallel.js";
import { type ConvAlgorithm, type ConvGeometry, floatBytes } from "./conv2d_geometry.js";
import { CONV_THREADED_KERNELS } from "./conv2d_kernels.js";

/**
 * The most pixels an input or output image may have by the shape rule: 3x3. Measured (3x3 pad 1,
 * every pass) against Winograd and im2col: ahead on 2x2 and 3x3 images, behind Winograd on 4x4,
 * which stays with Winograd (scripts/bench-conv.mjs --case tiny).
 */
const MAX_PIXELS = 9;

/** The filter gradient's gathered rows: X (rows x c) and DY (rows x oc), rows = (output pixel, image) pairs through one tap. */
const gatheredFloats = (g: ConvGeometry) => g.oh * g.ow * g.n * (g.c + g.oc);

/** The filter gradient's GEMM scratch: its products are c x oc over up to oh*ow*n rows. */
const filterGemmFloats = (g: ConvGeometry) => gemmScratchFloats(g.c, g.oc, g.oh * g.ow * g.n, true, false, true);

export const TINY: ConvAlgorithm = {
  name: "conv2d.tiny",
  threadedKernels: CONV_THREADED_KERNELS["conv2d.tiny"],
  passes: ["forward", "backward_input", "backward_filter"],
  /** One group, strides and dilations 1 (the tap arithmetic assumes both). */
  supports: (_pass, g) => g.groups === 1 && g.sh === 1 && g.sw === 1 && g.dh === 1 && g.dw === 1,
  /** Input and output images of at most MAX_PIXELS pixels, 8+ channels each way (fewer leave the GEMMs' k too short; conv2d.small takes those). */
  eligible: (pass, g, target) => TINY.supports(pass, g, target) && g.h * g.w <= MAX_PIXELS && g.oh * g.ow <= MAX_PIXELS && g.c >= 8 && g.oc >= 8,
  workspaceBytes: (pass, g) => (pass === "backward_filter" ? floatBytes(gatheredFloats(g)) + floatBytes(filterGemmFloats(g)) : 0),
  run(e, pass, g, out, a, b, workspace) {
    if (pass === "forward") forwardByPixels(e, g, out, a, b);
    else if (pass === "backward_input") inputGradientByPairs(e, g, out, a, b);
    else filterGradientByTaps(e, g, out, a, b, workspace);
  },
};

/** y (n, oh, ow, oc) = conv(x, w), overwriting y, by per-pixel GEMMs over the batch (see the file comment). */
function forwardByPixels(e: Engine, g: ConvGeometry, y: number, x: number, w: number): void {
  const imageX = g.h * g.w * g.c,
    imageY = g.oh * g.ow * g.oc;
  for (let oy = 0; oy < g.oh; oy++) {
    for (let ox = 0; ox < g.ow; ox++) {
      // taps kx in [kxa, kxb) land inside the row: input columns ox + kx - pl
      const kxa = Math.max(0, g.pl - ox),
        kxb = Math.min(g.kw, g.w + g.pl - ox);
      const yo = y + 4 * (oy * g.ow + ox) * g.oc;
      let first = true;
      for (let ky = 0; ky < g.kh; ky++) {
        const iy = oy + ky - g.pt;
        if (iy < 0 || iy >= g.h || kxa >= kxb) continue;
        const xa = x + 4 * (iy * g.w + ox + kxa - g.pl) * g.c,
          wa = w + 4 * (ky * g.kw + kxa) * g.c * g.oc;
        gemmStrided(e, yo, imageY, xa, imageX, wa, g.oc, g.n, g.oc, (kxb - kxa) * g.c, false, !first);
        first = false;
      }
      // a pixel no tap reaches: y = 0 (k = 0 zeroes it)
      if (first) gemmStrided(e, yo, imageY, x, imageX, w, g.oc, g.n, g.oc, 0, false, false);
    }
  }
}

/**
 * dx (n, h, w, c) += the input gradient: dx[:, i] (n x c) += dy[:, o] (n x oc) . w[tap]^T for every
 * (input pixel i, tap) pair whose output pixel o = i - tap + pads exists: dot products along w's
 * rows, no transposed copy.
 */
function inputGradientByPairs(e: Engine, g: ConvGeometry, dx: number, dy: number, w: number): void {
  for (let iy = 0; iy < g.h; iy++) {
    for (let ix = 0; ix < g.w; ix++) {
      for (let ky = 0; ky < g.kh; ky++) {
        const oy = iy - ky + g.pt;
        if (oy < 0 || oy >= g.oh) continue;
        for (let kx = 0; kx < g.kw; kx++) {
          const ox = ix - kx + g.pl;
          if (ox < 0 || ox >= g.ow) continue;
          gemmStrided(
            e,
            dx + 4 * (iy * g.w + ix) * g.c,
            g.h * g.w * g.c,
            dy + 4 * (oy * g.ow + ox) * g.oc,
            g.oh * g.ow * g.oc,
            w + 4 * (ky * g.kw + kx) * g.c * g.oc,
            g.oc,
            g.n,
            g.c,
            g.oc,
            true,
            true,
          );
        }
      }
    }
  }
}

/**
 * dw (kh, kw, c, oc) += the filter gradient: per tap, the (output pixel, image) rows of x and dy
 * that meet through it are gathered into X (rows x c) and DY (rows x oc) in `ws`, then
 * dw[tap] += X^T . DY, one GEMM (its scratch after the gathered rows).
 */
function filterGradientByTaps(e: Engine, g: ConvGeometry, dw: number, dy: number, x: number, ws: number): void {
  const k = e.kernels;
  const rowsMax = g.oh * g.ow * g.n;
  const xg = ws,
    dyg = ws + 4 * rowsMax * g.c,
    scratch = ws + floatBytes(gatheredFloats(g));
  for (let ky = 0; ky < g.kh; ky++) {
    for (let kx = 0; kx < g.kw; kx++) {
      let rows = 0;
      for (let oy = 0; oy < g.oh; oy++) {
        const iy = oy + ky - g.pt;
        if (iy < 0 || iy >= g.h) continue;
        for (let ox = 0; ox < g.ow; ox++) {
          const ix = ox + kx - g.pl;
          if (ix < 0 || ix >= g.w) continue;
          // the batch's pixel (iy, ix) of x and (oy, ox) of dy: n rows each (concat's strided copy)
          k.concat_f32_forward(xg + 4 * rows * g.c, x + 4 * (iy * g.w + ix) * g.c, g.n, g.c, g.c, g.h * g.w * g.c);
          k.concat_f32_forward(dyg + 4 * rows * g.oc, dy + 4 * (oy * g.ow + ox) * g.oc, g.n, g.oc, g.oc, g.oh * g.ow * g.oc);
          rows += g.n;
        }
      }
      // dw[ky, kx] (c x oc) += X^T . DY: contiguous matrices, the plain threaded gemm
      if (rows > 0) gemmThreaded(e, dw + 4 * (ky * g.kw + kx) * g.c * g.oc, xg, dyg, g.c, g.oc, rows, true, false, true, scratch);
    }
  }
}

/**
 * C (+)= A . op(B) on gemm_f32_strided (row strides in floats; A never transposed here) over the
 * engine's threads: C's columns split at gemmColumnAlign's multiples (8; 24 for A . B^T in a
 * relaxed build), the bits of one call.
 */
function gemmStrided(
  e: Engine,
  c: number,
  ldc: number,
  a: number,
  lda: number,
  b: number,
  ldb: number,
  m: number,
  n: number,
  k: number,
  transB: boolean,
  accumulate: boolean,
): void {
  const tb = transB ? 1 : 0,
    acc = accumulate ? 1 : 0;
  const t = threadsFor(e, m * n * Math.max(k, 1));
  if (t === 1 || n < 16) {
    e.kernels.gemm_f32_strided(c, ldc, a, lda, b, ldb, m, n, k, 0, tb, acc, 0, n);
    return;
  }
  e.parallel(
    "gemm_f32_strided",
    splitRange(n, partsFor(t), gemmColumnAlign(e.build, transB)).map(([j0, j1]) => [c, ldc, a, lda, b, ldb, m, n, k, 0, tb, acc, j0, j1]),
  );
}
