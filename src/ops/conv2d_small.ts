// Dispatch to the few-channel convolution kernels (assembly/conv2d_small.ts: SIMD lanes over output
// pixels) for stride-1, one-group convolutions whose channel counts leave conv2d.ts's 8-channel tiles
// mostly scalar. Used by src/ops/conv2d.ts's runForward / runBackwardInput / runBackwardFilter.
import type { Engine } from "../engine.js";
import { runWithPartWorkspaces } from "../threads/parallel.js";
import { splitRange } from "../threads/partition.js";

/** The conv geometry fields the decision reads (src/ops/conv2d.ts's Geometry). */
export interface SmallConvGeometry {
  c: number;
  oc: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  groups: number;
}

export const SMALL_FORWARD = 0,
  SMALL_BACKWARD_INPUT = 1,
  SMALL_BACKWARD_FILTER = 2;
export type SmallConvPass = typeof SMALL_FORWARD | typeof SMALL_BACKWARD_INPUT | typeof SMALL_BACKWARD_FILTER;

/**
 * Which convolutions take the few-channel kernels: "auto" (default) decides by shape, "always" sends
 * every eligible (stride 1, groups 1) convolution there, "never" none; `passes`, when set, limits
 * the few-channel kernels to those passes. For tests and benchmarks.
 */
export const smallConvPolicy: { mode: "auto" | "always" | "never"; passes?: SmallConvPass[] } = { mode: "auto" };

/** True when `pass` of the conv `g` should run on the few-channel kernels. */
export function useSmallConv(g: SmallConvGeometry, pass: SmallConvPass): boolean {
  if (smallConvPolicy.mode === "never" || g.sh !== 1 || g.sw !== 1 || g.groups !== 1) return false;
  if (smallConvPolicy.passes && !smallConvPolicy.passes.includes(pass)) return false;
  if (smallConvPolicy.mode === "always") return true;
  // Measured (bench/run.mjs shapes, LeNet, 3x3 convs at 56x56 / 224x224): conv2d.ts's forward
  // (8 output channels x 4 pixels) and backward_input (lanes over input channels) fall behind
  // when C or OC is under 8; its backward_filter (4 input x 8 output channels) falls behind more
  // widely (up to 3x3 256->256), so that pass moves whenever one image's planes stay cache-sized.
  // backward_input also moves for weights over 1 MB (3x3 256->256 at 14x14: 1.2x).
  if (pass === SMALL_FORWARD) return g.c < 8 || g.oc < 8;
  if (pass === SMALL_BACKWARD_INPUT) return g.c < 8 || g.kh * g.kw * g.c * g.oc * 4 > 1 << 20;
  return g.c < 16 || g.oc < 16 || g.oh * (g.ow + g.kw - 1) <= 4096;
}

/**
 * Runs one pass on the few-channel kernels. forward: (y, x, w); backward_input: (dx, dy, w);
 * backward_filter: (dw, dy, x). forward and backward_input split their images into up to `parts`
 * ranges over the engine's threads (each image's bits are the same however split), each part with
 * a workspace of its own from the heap; backward_filter sums over the images and runs one call.
 * `geometry(t, part)` writes thread t's geometry block (with a row range when given).
 */
export function runSmallConv(
  e: Engine,
  pass: SmallConvPass,
  g: { n: number; h: number; oh: number },
  parts: number,
  geometry: (t: number, part?: { rowBegin: number; rowEnd: number }) => number,
  out: number,
  a: number,
  b: number,
): void {
  const kernel = (["conv2d_small_f32_forward", "conv2d_small_f32_backward_input", "conv2d_small_f32_backward_filter"] as const)[pass];
  const geom0 = geometry(0);
  // partition rows: the pass's output rows (forward: n*OH + oy; backward_input: n*H + iy), whole images
  const rowsPerImage = pass === SMALL_FORWARD ? g.oh : g.h;
  const images = pass !== SMALL_BACKWARD_FILTER && parts > 1 ? splitRange(g.n, parts) : [];
  runWithPartWorkspaces(e, kernel, "conv2d few-channel workspace", e.kernels.conv2d_small_f32_workspace(geom0, pass), images, (ws, t, range) => [
    out,
    a,
    b,
    ws,
    range ? geometry(t, { rowBegin: range[0] * rowsPerImage, rowEnd: range[1] * rowsPerImage }) : geom0,
  ]);
}
