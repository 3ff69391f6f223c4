// conv2d.im2col: convolution as one GEMM over an im2col matrix (assembly/conv2d_im2col.ts moves the
// data, gemm_f32 does the arithmetic over the engine's threads), all three passes, one group. An
// entry of the algorithm registry (src/ops/conv2d_algorithms.ts).
import { gemmScratchFloats, gemmThreaded } from "../threads/parallel.js";
import { type ConvAlgorithm, type ConvGeometry, type ConvPass, convParams, floatBytes } from "./conv2d_geometry.js";
import { CONV_THREADED_KERNELS } from "./conv2d_kernels.js";

/** The most floats an im2col matrix may take by the shape rule (64 MB): beyond, other kernels run. */
const MAX_COL_FLOATS = 1 << 24;

/** The GEMM of `pass` over the (M = n*oh*ow, K = kh*kw*c) matrix: [m, n, k, transA, transB]. */
function product(pass: ConvPass, g: ConvGeometry): [number, number, number, boolean, boolean] {
  const m = g.n * g.oh * g.ow,
    kk = g.kh * g.kw * g.c;
  if (pass === "forward") return [m, g.oc, kk, false, false]; // y = col . w
  if (pass === "backward_input") return [m, kk, g.oc, false, true]; // dcol = dy . w^T
  return [kk, g.oc, m, true, false]; // dw += col^T . dy
}

export const IM2COL: ConvAlgorithm = {
  name: "conv2d.im2col",
  threadedKernels: CONV_THREADED_KERNELS["conv2d.im2col"],
  passes: ["forward", "backward_input", "backward_filter"],
  supports: (_pass, g) => g.groups === 1,
  /**
   * 8 or more input channels and a matrix under 64 MB: outputs under 16 pixels wide, where the
   * direct kernels' 4-pixel tiles barely fit between the edge pixels, and the filter gradient of
   * strided convs with up to 64 output channels, where the direct kernel re-reads a strided dy
   * from memory for every tap and 4 input channels. Measured per pass against the direct kernels:
   * the narrower the output, the larger im2col's lead; from 28 pixels wide about even; strided
   * filter gradients ahead up to 64 output channels, behind at 128 (scripts/bench-conv.mjs
   * --case "s2": the "3x3 s2", "1x1 s2" and "4x4 s2" cases). And every pass of the other 1x1
   * convs (strided: the ones conv2d.gemm_tap leaves) with 32+ input channels, whose matrix is only
   * the pixels they read, a quarter of x at stride 2: a copy, then one GEMM at full speed (ResNet-50's
   * 56x56x256 -> 28x28x512 downsample, relaxed build: forward 1.5x the blocked kernel's speed, the
   * filter gradient 1.9x the direct kernel's; about even at 32 channels, behind at 16:
   * scripts/bench-conv.mjs --case "1x1 s2").
   */
  eligible(pass, g) {
    if (g.groups !== 1 || g.c < 8 || g.n * g.oh * g.ow * g.kh * g.kw * g.c > MAX_COL_FLOATS) return false;
    if (g.kh === 1 && g.kw === 1 && g.c >= 32) return true;
    return g.ow < 16 || (pass === "backward_filter" && (g.sh > 1 || g.sw > 1) && g.oc <= 64);
  },
  /** The matrix, then the GEMM's scratch. */
  workspaceBytes(pass, g) {
    const [m, n, k, ta, tb] = product(pass, g);
    return floatBytes(g.n * g.oh * g.ow * g.kh * g.kw * g.c) + floatBytes(gemmScratchFloats(m, n, k, ta, tb));
  },
  /**
   * forward: y = col(x) . w (overwrites y; a = x, b = w); backward_input: dx += col2im(dy . w^T)
   * (a = dy, b = w); backward_filter: dw += col(x)^T . dy (a = dy, b = x).
   */
  run(e, pass, g, out, a, b, workspace) {
    const k = e.kernels;
    const col = workspace,
      scratch = workspace + floatBytes(g.n * g.oh * g.ow * g.kh * g.kw * g.c);
    const [pm, pn, pk, ta, tb] = product(pass, g);
    const geom = convParams(e, g);
    if (pass === "forward") {
      k.conv2d_im2col_f32(col, a, geom);
      gemmThreaded(e, out, col, b, pm, pn, pk, ta, tb, false, scratch);
    } else if (pass === "backward_input") {
      gemmThreaded(e, col, a, b, pm, pn, pk, ta, tb, false, scratch);
      k.conv2d_col2im_f32(out, col, geom);
    } else {
      k.conv2d_im2col_f32(col, b, geom);
      gemmThreaded(e, out, col, a, pm, pn, pk, ta, tb, true, scratch);
    }
  },
};
