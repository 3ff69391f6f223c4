// conv2d.blocked: the cache-blocked convolution forward (assembly/conv2d_blocked.ts: 8 output x 32
// input channel blocks over a channel-blocked padded image). An entry of the algorithm registry
// (src/ops/conv2d_algorithms.ts).
import { partsFor, partWorkspaceBytes, threadsFor } from "../threads/parallel.js";
import { splitRange } from "../threads/partition.js";
import { type ConvAlgorithm, type ConvGeometry, type ConvPass, convParams, convWork } from "./conv2d_geometry.js";
import { CONV_THREADED_KERNELS } from "./conv2d_kernels.js";

/** Input channels per block (assembly/conv2d_blocked.ts, CB). */
const CB = 32;

/** Floats of the padded image in channel blocks (one image) and of one weight slice; the image's rows. */
function blockedFloats(g: ConvGeometry): { image: number; slice: number; hp: number } {
  const hp = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1,
    wp = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  return { image: Math.ceil(g.c / CB) * hp * wp * CB, slice: g.kh * g.kw * CB * 8, hp };
}

/** Floats of a one-thread call's workspace (conv2d_blocked_f32_workspace): the image, then a slice. */
export function blockedPartFloats(g: ConvGeometry): number {
  const f = blockedFloats(g);
  return f.image + f.slice;
}

/** Output channels split at multiples of 8 over threads: the same bits however split. */
const blockedParts = (g: ConvGeometry, threads: number): [number, number][] => (threads > 1 ? splitRange(g.oc, partsFor(threads), 8) : []);

/** Bytes from `at` up to the next 64-byte line. */
const toLine = (at: number) => Math.ceil(at / 64) * 64;

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
  /** One thread: blockedPartFloats. Split: the padded image all parts share, then a weight slice per part. */
  workspaceBytes(_pass, g, target) {
    const parts = blockedParts(g, target.threads).length;
    if (parts <= 1) return partWorkspaceBytes(blockedPartFloats(g), 1);
    const f = blockedFloats(g);
    return 128 + toLine(4 * f.image) + partWorkspaceBytes(f.slice, parts);
  },
  /**
   * y = conv(x, w), overwriting y. Split over threads, image by image: the parts pad the image's
   * rows into the shared workspace, then each computes its output channels from it (the kernel's
   * two steps), so no part repeats another's padding.
   */
  run(e, _pass, g, y, x, w, workspace) {
    const ranges = blockedParts(g, threadsFor(e, convWork(g)));
    if (ranges.length <= 1) {
      e.kernels.conv2d_blocked_f32_forward(y, x, w, workspace, convParams(e, g));
      return;
    }
    const one = { ...g, n: 1 },
      f = blockedFloats(g);
    const image = toLine(workspace),
      slices = toLine(image + 4 * f.image),
      stride = 16 * Math.ceil(f.slice / 4);
    const rows = splitRange(f.hp, ranges.length);
    for (let n = 0; n < g.n; n++) {
      const xn = x + 4 * n * g.h * g.w * g.c,
        yn = y + 4 * n * g.oh * g.ow * g.oc;
      e.parallel(
        "conv2d_blocked_f32_forward",
        rows.map(([rowBegin, rowEnd], t) => [yn, xn, w, image, convParams(e, one, t, { rowBegin, rowEnd, ocBegin: 0, ocEnd: 0 })]),
      );
      e.parallel(
        "conv2d_blocked_f32_forward",
        ranges.map(([ocBegin, ocEnd], t) => [yn, image, w, slices + stride * t, convParams(e, one, t, { ocBegin, ocEnd, ready: true })]),
      );
    }
  },
};
