// Dispatch to the Winograd F(2x2, 3x3) convolution kernels (assembly/conv2d_winograd.ts: 2.25x fewer
// multiply-adds, run as 16 GEMMs per block of output tiles) from src/ops/conv2d.ts's runForward /
// runBackwardInput / runBackwardFilter.
import type { Engine } from "../engine.js";

/** The conv geometry fields the decision reads (src/ops/conv2d.ts's Geometry). */
export interface WinogradGeometry {
  c: number; oc: number; kh: number; kw: number; sh: number; sw: number; dh: number; dw: number; groups: number;
  oh: number; ow: number;
}

export const WINOGRAD_FORWARD = 0, WINOGRAD_BACKWARD_INPUT = 1, WINOGRAD_BACKWARD_FILTER = 2;
export type WinogradPass = typeof WINOGRAD_FORWARD | typeof WINOGRAD_BACKWARD_INPUT | typeof WINOGRAD_BACKWARD_FILTER;

/** "auto" (default): by shape; "always": every eligible conv; "never": none. For tests and benchmarks. */
export const winogradPolicy: { mode: "auto" | "always" | "never" } = { mode: "auto" };

/**
 * True when the conv `g` runs on the Winograd kernels (all three passes alike): 3x3 taps, strides 1,
 * dilations 1, one group, in a SIMD build (the scalar build keeps direct convolution).
 */
export function useWinograd(e: Engine, g: WinogradGeometry): boolean {
  if (winogradPolicy.mode === "never" || e.build === "scalar") return false;
  if (g.kh !== 3 || g.kw !== 3 || g.sh !== 1 || g.sw !== 1 || g.dh !== 1 || g.dw !== 1 || g.groups !== 1) return false;
  if (winogradPolicy.mode === "always") return true;
  // Few channels leave the 16 GEMMs too small to beat the transforms (conv2d_small.ts is faster
  // there); a 1-pixel-wide output wastes half of every 2x2 tile.
  return g.c >= 8 && g.oc >= 8 && g.oh >= 2 && g.ow >= 2;
}

/**
 * Runs one pass on the Winograd kernels with a workspace from the heap. forward: (y, x, w) overwrites
 * y; backward_input: (dx, dy, w) and backward_filter: (dw, dy, x) accumulate. `geom` points at the
 * geometry block.
 */
export function runWinograd(e: Engine, pass: WinogradPass, geom: number, out: number, a: number, b: number): void {
  const k = e.kernels;
  const ws = e.empty([k.conv2d_winograd_f32_workspace(geom, pass)], "f32", "conv2d Winograd workspace");
  try {
    if (pass === WINOGRAD_FORWARD) k.conv2d_winograd_f32_forward(out, a, b, ws.ptr, geom);
    else if (pass === WINOGRAD_BACKWARD_INPUT) k.conv2d_winograd_f32_backward_input(out, a, b, ws.ptr, geom);
    else k.conv2d_winograd_f32_backward_filter(out, a, b, ws.ptr, geom);
  } finally {
    ws.dispose();
  }
}
