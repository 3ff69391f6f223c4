// Dispatch to the first-layer convolution forward (assembly/conv2d_stem.ts: few input channels,
// 4 pixels x 8 output channels straight into NHWC) from src/ops/conv2d.ts's runForward.
import type { Engine } from "../engine.js";
import { runWithPartWorkspaces } from "../threads/parallel.js";
import { splitRange } from "../threads/partition.js";

/** The conv geometry fields the decision reads (src/ops/conv2d.ts's Geometry). */
export interface StemConvGeometry {
  c: number;
  oc: number;
  ow: number;
  groups: number;
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

/**
 * y = conv(x, w) on the stem kernel, its rows (n*OH + oy, `rows` of them) split into `parts`
 * (one call when 1), each part with a workspace of its own from the heap. `geometry(t, part)`
 * writes thread t's geometry block (with a row range when given) and returns its address.
 */
export function runStemConv(
  e: Engine,
  rows: number,
  parts: number,
  geometry: (t: number, part?: { rowBegin: number; rowEnd: number }) => number,
  y: number,
  x: number,
  w: number,
): void {
  const geom0 = geometry(0);
  runWithPartWorkspaces(
    e,
    "conv2d_stem_f32_forward",
    "conv2d stem workspace",
    e.kernels.conv2d_stem_f32_workspace(geom0),
    parts > 1 ? splitRange(rows, parts) : [],
    (ws, t, range) => [y, x, w, ws, range ? geometry(t, { rowBegin: range[0], rowEnd: range[1] }) : geom0],
  );
}
