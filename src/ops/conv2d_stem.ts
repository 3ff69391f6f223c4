// conv2d.stem: the first-layer convolution forward (assembly/conv2d_stem.ts: few input channels,
// 4 pixels x 8 output channels straight into NHWC). An entry of the algorithm registry
// (src/ops/conv2d_algorithms.ts).
import { partsFor, partWorkspaceBytes, runWithPartWorkspaces, threadsFor } from "../threads/parallel.js";
import { splitRange } from "../threads/partition.js";
import { type ConvAlgorithm, type ConvGeometry, convParams, convWork } from "./conv2d_geometry.js";
import { CONV_THREADED_KERNELS } from "./conv2d_kernels.js";

/** Floats of one part's workspace (conv2d_stem_f32_workspace): the tap table, then one padded image. */
export function stemPartFloats(g: ConvGeometry): number {
  const hp = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1,
    wp = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  return ((g.kh * g.kw * g.c + 3) & ~3) + hp * wp * g.c;
}

/** Rows n*OH + oy split over threads (each part pads its own rows of x): the same bits however split. */
const stemParts = (g: ConvGeometry, threads: number): [number, number][] => (threads > 1 ? splitRange(g.n * g.oh, partsFor(threads)) : []);

export const STEM: ConvAlgorithm = {
  name: "conv2d.stem",
  threadedKernels: CONV_THREADED_KERNELS["conv2d.stem"],
  passes: ["forward"],
  /** 1 to 4 input channels, output channels a multiple of 8, an output 4+ pixels wide, one group, a SIMD build (the scalar build's kernel traps). */
  supports: (pass, g, target) => pass === "forward" && target.build !== "scalar" && g.c <= 4 && g.oc % 8 === 0 && g.ow >= 4 && g.groups === 1,
  /**
   * Whenever supported. Measured (scripts/bench-conv.mjs --case stem) on 3x3 pad 1 against
   * conv2d.small's pixel-lane tiles, which need a transpose per tile and more loads per
   * multiply-add, and on strided stems (7x7 stride 2, 11x11 stride 4) against the direct kernel.
   */
  eligible: (pass, g, target) => STEM.supports(pass, g, target),
  workspaceBytes: (_pass, g, target) => partWorkspaceBytes(stemPartFloats(g), stemParts(g, target.threads).length),
  /** y = conv(x, w), overwriting y. */
  run(e, _pass, g, y, x, w, workspace) {
    const geom0 = convParams(e, g);
    runWithPartWorkspaces(e, "conv2d_stem_f32_forward", workspace, stemPartFloats(g), stemParts(g, threadsFor(e, convWork(g))), (ws, t, range) => [
      y,
      x,
      w,
      ws,
      range ? convParams(e, g, t, { rowBegin: range[0], rowEnd: range[1] }) : geom0,
    ]);
  },
};
