// Dispatch to the cache-blocked convolution forward (assembly/conv2d_blocked.ts: 8 output x 32 input
// channel blocks over a channel-blocked padded image) from src/ops/conv2d.ts's runForward.
import type { Engine } from "../engine.js";
import { splitRange } from "../threads/partition.js";
import { withWorkspace } from "./common.js";

/** The conv geometry fields the decision reads (src/ops/conv2d.ts's Geometry). */
export interface BlockedConvGeometry {
  c: number; oc: number; groups: number;
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
  e: Engine, oc: number, parts: number, geometry: (t: number, part?: { ocBegin: number; ocEnd: number }) => number,
  y: number, x: number, w: number,
): void {
  const k = e.kernels;
  const geom0 = geometry(0);
  const wsFloats = Math.ceil(k.conv2d_blocked_f32_workspace(geom0) / 4) * 4; // each part's workspace 16-byte aligned
  const ranges = parts > 1 ? splitRange(oc, parts, 8) : [];
  withWorkspace(e, wsFloats * Math.max(ranges.length, 1), "conv2d blocked workspace", (ws) => {
    if (ranges.length <= 1) return k.conv2d_blocked_f32_forward(y, x, w, ws, geom0);
    e.parallel(
      "conv2d_blocked_f32_forward",
      ranges.map(([ocBegin, ocEnd], t) => [y, x, w, ws + 4 * wsFloats * t, geometry(t, { ocBegin, ocEnd })]),
    );
  });
}
