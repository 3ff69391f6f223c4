// Dispatch to the few-channel convolution kernels (assembly/conv2d_small.ts: SIMD lanes over output
// pixels) for stride-1, one-group convolutions whose channel counts leave conv2d.ts's 8-channel tiles
// mostly scalar. Used by src/ops/conv2d.ts's runForward / runBackwardInput / runBackwardFilter.
import type { Engine } from "../engine.js";
import { withWorkspace } from "./common.js";

/** The conv geometry fields the decision reads (src/ops/conv2d.ts's Geometry). */
export interface SmallConvGeometry {
  c: number; oc: number; oh: number; ow: number; kh: number; kw: number; sh: number; sw: number; groups: number;
}

export const SMALL_FORWARD = 0, SMALL_BACKWARD_INPUT = 1, SMALL_BACKWARD_FILTER = 2;
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
 * Runs one pass on the few-channel kernels with a workspace from the heap. forward: (y, x, w);
 * backward_input: (dx, dy, w); backward_filter: (dw, dy, x). `geom` points at the geometry block.
 */
export function runSmallConv(e: Engine, pass: SmallConvPass, geom: number, out: number, a: number, b: number): void {
  const k = e.kernels;
  withWorkspace(e, k.conv2d_small_f32_workspace(geom, pass), "conv2d few-channel workspace", (ws) => {
    if (pass === SMALL_FORWARD) k.conv2d_small_f32_forward(out, a, b, ws, geom);
    else if (pass === SMALL_BACKWARD_INPUT) k.conv2d_small_f32_backward_input(out, a, b, ws, geom);
    else k.conv2d_small_f32_backward_filter(out, a, b, ws, geom);
  });
}
