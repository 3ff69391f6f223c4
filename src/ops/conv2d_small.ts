// conv2d.small: the few-channel convolution kernels (assembly/conv2d_small.ts: SIMD lanes over
// output pixels) for stride-1, one-group convolutions whose channel counts leave the direct
// kernels' 8-channel tiles mostly scalar. All three passes. An entry of the algorithm registry
// (src/ops/conv2d_algorithms.ts).
import { partsFor, partWorkspaceBytes, runWithPartWorkspaces, threadsFor } from "../threads/parallel.js";
import { splitRange } from "../threads/partition.js";
import type { BuildName } from "../runtime.js";
import { type ConvAlgorithm, type ConvGeometry, type ConvPass, convParams, convWork } from "./conv2d_geometry.js";
import { CONV_THREADED_KERNELS } from "./conv2d_kernels.js";

const KERNELS = {
  forward: "conv2d_small_f32_forward",
  backward_input: "conv2d_small_f32_backward_input",
  backward_filter: "conv2d_small_f32_backward_filter",
} as const;

const up4 = (v: number) => (v + 3) & ~3,
  up8 = (v: number) => (v + 7) & ~7,
  up16 = (v: number) => (v + 15) & ~15;

/**
 * Floats of one part's workspace (assembly/conv2d_small.ts, conv2d_small_f32_workspace): 16 pixel
 * addresses, the tap table, the zero-padded planes with their slack, then dyT or the flipped
 * weights. backward_filter's dyT holds the part's `channels` output channels (default all).
 * backward_input scatters in the SIMD builds, gathers (a full correlation) in the scalar build.
 */
export function smallWorkspaceFloats(pass: ConvPass, g: ConvGeometry, build: BuildName, channels = g.oc): number {
  const kk = g.kh * g.kw;
  const hp = g.oh + (g.kh - 1) * g.dh,
    wp = g.ow + (g.kw - 1) * g.dw;
  const slack = 32 + (g.kw - 1) * g.dw;
  let after: number;
  if (pass === "backward_input") {
    if (build !== "scalar") after = up4(g.c * hp * wp + slack) + g.oc * up16(g.oh * wp);
    else {
      const hq = g.h + (g.kh - 1) * g.dh,
        wq = g.w + (g.kw - 1) * g.dw;
      after = up4(kk * g.oc) + up4(g.oc * hq * wq + slack) + kk * g.oc * g.c;
    }
  } else {
    after = up4(kk * g.c) + up4(g.c * hp * wp + slack);
    if (pass === "backward_filter") after += channels * up8(g.oh * wp);
  }
  return 16 + after;
}

/**
 * The parts of a call on `threads` threads (none: one call): forward and backward_input by images
 * (each image's bits are the same however split), backward_filter (a sum over the images) by
 * output channels at multiples of 8, one part a thread (each part re-copies x into its planes).
 */
function smallParts(pass: ConvPass, g: ConvGeometry, threads: number): [number, number][] {
  if (threads <= 1) return [];
  if (pass === "backward_filter") return splitRange(g.oc, partsFor(threads, 1), 8);
  return splitRange(g.n, partsFor(threads));
}

/** Floats a part's workspace takes: backward_filter's parts hold only their channels' planes. */
function partFloats(pass: ConvPass, g: ConvGeometry, build: BuildName, parts: [number, number][]): number {
  if (pass !== "backward_filter" || parts.length <= 1) return smallWorkspaceFloats(pass, g, build);
  return smallWorkspaceFloats(pass, g, build, Math.max(...parts.map(([a, b]) => b - a)));
}

export const SMALL: ConvAlgorithm = {
  name: "conv2d.small",
  threadedKernels: CONV_THREADED_KERNELS["conv2d.small"],
  passes: ["forward", "backward_input", "backward_filter"],
  /** Strides 1, one group; any pads and dilations. */
  supports: (_pass, g) => g.sh === 1 && g.sw === 1 && g.groups === 1,
  /**
   * Measured (bench/run.mjs shapes, LeNet, 3x3 convs at 56x56 / 224x224): the direct forward
   * (8 output channels x 4 pixels) and backward_input (lanes over input channels) fall behind
   * when C or OC is under 8; the direct backward_filter (4 input x 8 output channels) falls behind
   * more widely (up to 3x3 256->256), so that pass moves whenever one image's planes stay
   * cache-sized. backward_input also moves for weights over 1 MB (scripts/bench-conv.mjs --case
   * LeNet, --case "14x14x256->256").
   */
  eligible(pass, g) {
    if (g.sh !== 1 || g.sw !== 1 || g.groups !== 1) return false;
    if (pass === "forward") return g.c < 8 || g.oc < 8;
    if (pass === "backward_input") return g.c < 8 || g.kh * g.kw * g.c * g.oc * 4 > 1 << 20;
    return g.c < 16 || g.oc < 16 || g.oh * (g.ow + g.kw - 1) <= 4096;
  },
  workspaceBytes(pass, g, target) {
    const parts = smallParts(pass, g, target.threads);
    return partWorkspaceBytes(partFloats(pass, g, target.build, parts), parts.length);
  },
  /** forward: (y, x, w) overwrites y; backward_input: (dx, dy, w) and backward_filter: (dw, dy, x) accumulate. */
  run(e, pass, g, out, a, b, workspace) {
    const parts = smallParts(pass, g, threadsFor(e, convWork(g)));
    const geom0 = convParams(e, g);
    // forward / backward_input partition rows: the pass's output rows (n*OH + oy, n*H + iy), whole images
    const rowsPerImage = pass === "forward" ? g.oh : g.h;
    runWithPartWorkspaces(e, KERNELS[pass], workspace, partFloats(pass, g, e.build, parts), parts, (ws, t, range) => {
      if (!range) return [out, a, b, ws, geom0];
      const part = pass === "backward_filter" ? { ocBegin: range[0], ocEnd: range[1] } : { rowBegin: range[0] * rowsPerImage, rowEnd: range[1] * rowsPerImage };
      return [out, a, b, ws, convParams(e, g, t, part)];
    });
  },
};
