// Dispatch to the first-layer convolution forward (assembly/conv2d_stem.ts: few input channels,
// 4 pixels x 8 output channels straight into NHWC) from src/ops/conv2d.ts's runForward.
import type { Engine } from "../engine.js";
import { withWorkspace } from "./common.js";

/** The conv geometry fields the decision reads (src/ops/conv2d.ts's Geometry). */
export interface StemConvGeometry {
  c: number; oc: number; ow: number; groups: number;
}

/** "auto" (default): by shape; "never": none. For tests and benchmarks. */
export const stemConvPolicy: { mode: "auto" | "never" } = { mode: "auto" };

/**
 * True when the forward of conv `g` runs on the stem kernel: 1 to 4 input channels, output channels
 * a multiple of 8, an output at least 4 pixels wide, one group, a SIMD build. Measured on
 * 224x224x3 -> 64 (3x3 pad 1) against conv2d_small.ts's pixel-lane tiles, which need a transpose
 * per tile and more loads per multiply-add, and on strided stems (7x7 stride 2, 11x11 stride 4)
 * against conv2d.ts's direct kernel.
 */
export function useStemConv(e: Engine, g: StemConvGeometry): boolean {
  if (stemConvPolicy.mode === "never" || e.build === "scalar") return false;
  return g.c <= 4 && g.oc % 8 === 0 && g.ow >= 4 && g.groups === 1;
}

/** y = conv(x, w) on the stem kernel with a workspace from the heap; `geom` points at the geometry block. */
export function runStemConv(e: Engine, geom: number, y: number, x: number, w: number): void {
  const k = e.kernels;
  withWorkspace(e, k.conv2d_stem_f32_workspace(geom), "conv2d stem workspace", (ws) => k.conv2d_stem_f32_forward(y, x, w, ws, geom));
}
