// conv2d.blocked: the cache-blocked convolution forward (assembly/conv2d_blocked.ts: 8 output x 32
// input channel blocks over a channel-blocked padded image). An entry of the algorithm registry
// (src/ops/conv2d_algorithms.ts).
import { partsFor, partWorkspaceBytes, runWithPartWorkspaces, threadsFor } from "../threads/parallel.js";
import { splitRange } from "../threads/partition.js";
import { type ConvAlgorithm, type ConvGeometry, type ConvPass, convParams, convWork } from "./conv2d_geometry.js";
import { CONV_THREADED_KERNELS } from "./conv2d_kernels.js";

/** Input channels per block (assembly/conv2d_blocked.ts, CB). */
const CB = 32;

/** Floats of one part's workspace (conv2d_blocked_f32_workspace): one padded image in channel blocks, one weight slice. */
export function blockedPartFloats(g: ConvGeometry): number {
  const hp = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1,
    wp = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  return Math.ceil(g.c / CB) * hp * wp * CB + g.kh * g.kw * CB * 8;
}

/** Output channels split at multiples of 8 over threads (each part pads x itself): the same bits however split. */
const blockedParts = (g: ConvGeometry, threads: number): [number, number][] => (threads > 1 ? splitRange(g.oc, partsFor(threads), 8) : []);

const supports = (pass: ConvPass, g: ConvGeometry): boolean => pass === "forward" && g.groups === 1 && g.oc % 8 === 0;

export const BLOCKED: ConvAlgorithm = {
  name: "conv2d.blocked",
  threadedKernels: CONV_THREADED_KERNELS["conv2d.blocked"],
  passes: ["forward"],
  /** One group, output channels a multiple of 8; any strides, pads and dilations. */
  supports: (pass, g) => supports(pass, g),
  /**
   * From 16 input channels up. Measured: as fast or faster than the direct forward from 16 input
   * channels up, and well ahead once the weights outgrow the L2 cache (scripts/bench-conv.mjs
   * --case "14x14x256->256", --case "7x7x512->512").
   */
  eligible: (pass, g) => supports(pass, g) && g.c >= 16,
  workspaceBytes: (_pass, g, target) => partWorkspaceBytes(blockedPartFloats(g), blockedParts(g, target.threads).length),
  /** y = conv(x, w), overwriting y. */
  run(e, _pass, g, y, x, w, workspace) {
    const geom0 = convParams(e, g);
    runWithPartWorkspaces(e, "conv2d_blocked_f32_forward", workspace, blockedPartFloats(g), blockedParts(g, threadsFor(e, convWork(g))), (ws, t, range) => [
      y,
      x,
      w,
      ws,
      range ? convParams(e, g, t, { ocBegin: range[0], ocEnd: range[1] }) : geom0,
    ]);
  },
};
