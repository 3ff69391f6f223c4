// Dispatch to the cache-blocked convolution forward (assembly/conv2d_blocked.ts: 8 output x 32 input
// channel blocks over a channel-blocked padded image) from src/ops/conv2d.ts's runForward.
import type { Engine } from "../engine.js";
import { runWithPartWorkspaces } from "../threads/parallel.js";
import { splitRange } from "../threads/partition.js";

/** The conv geometry fields the decision reads (src/ops/conv2d.ts's Geometry). */
export interface BlockedConvGeometry {
  c: number;
  oc: number;
  groups: number;
}

/** "auto" (default): by shape; "always": every eligible conv (groups 1, OC % 8 == 0); "never". For tests and benchmarks. */
export const blockedConvPolicy: { mode: "auto" | "always" | "never" } = { mode: "auto" };

/** True when the forward of conv `g` should run on the blocked kernel. */
export function useBlockedConv(g: BlockedConvGeometry): boolean {
  if (blockedConvPolicy.mode === "never" || g.groups !== 1 || g.oc % 8 !== 0) return false;
  // Measured: as fast or faster than conv2d.ts's forward from 16 input channels up, and 1.3x-2.7x
  // faster once the weights outgrow the L2 cache (3x3 256->256 at 14x14, 512->512 at 7x7).
  return blockedConvPolicy.mode === "always" || g.c >= 16;
}

/**
 * y = conv(x, w) on the blocked kernel, its output channels split into up to `parts` ranges at
 * multiples of 8 (one call when 1), each part with a workspace of its own from the heap.
 * `geometry(t, part)` writes thread t's geometry block (with the channel range when given).
 */
export function runBlockedConv(
  e: Engine,
  oc: number,
  parts: number,
  geometry: (t: number, part?: { ocBegin: number; ocEnd: number }) => number,
  y: number,
  x: number,
  w: number,
): void {
  const geom0 = geometry(0);
  runWithPartWorkspaces(
    e,
    "conv2d_blocked_f32_forward",
    "conv2d blocked workspace",
    e.kernels.conv2d_blocked_f32_workspace(geom0),
    parts > 1 ? splitRange(oc, parts, 8) : [],
    (ws, t, range) => [y, x, w, ws, range ? geometry(t, { ocBegin: range[0], ocEnd: range[1] }) : geom0],
  );
}
