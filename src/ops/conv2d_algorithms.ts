// The convolution algorithm registry: every way simdnet computes a pass of a convolution, in order
// of preference. A pass of a geometry runs the first entry that is eligible for it, decided from
// the shapes, the wasm build and (for workspace sizes only) the thread count, never from the
// heap's state; its workspace is sized up front, so a planned caller (Model.plan, the graph
// runtime) allocates it once and every run is allocation-free.
//
//   name                   passes                 supports (eligible: the shape rule, see each entry)
//   conv2d.gemm_tap        all three              1x1 stride-1 unpadded, or a 1x1 image with one tap inside: one GEMM
//   conv2d.group_slices    all three              2+ groups of 2+ input channels: one one-group conv per group
//   conv2d.tiny            all three              one group, strides and dilations 1 (per-pixel GEMMs)
//   conv2d.winograd        all three              3x3, strides and dilations 1, one group, SIMD builds
//   conv2d.im2col          all three              one group (a GEMM over the im2col matrix)
//   conv2d.stem            forward                1-4 input channels, OC % 8 == 0, 4+ wide, one group, SIMD builds
//   conv2d.small           all three              strides 1, one group (lanes over output pixels)
//   conv2d.blocked         forward                one group, OC % 8 == 0 (8 x 32-channel blocks)
//   conv2d.direct_few      backward_filter        1-7 input channels a group, not depthwise, SIMD builds
//   conv2d.depthwise       all three              one input and one output channel a group
//   conv2d.direct          all three              anything not depthwise (4-pixel x 8-channel tiles)
// The last two together support every geometry, so every pass has an eligible algorithm.
import type { Engine } from "../engine.js";
import { fail, fmtShape } from "../errors.js";
import { gemmScratchFloats, gemmThreaded, partsFor, partWorkspaceBytes, runWithPartWorkspaces, threadsFor } from "../threads/parallel.js";
import { splitRange } from "../threads/partition.js";
import { BLOCKED } from "./conv2d_blocked.js";
import { type ConvAlgorithm, type ConvGeometry, type ConvPass, type ConvTarget, convParams, convWork, floatBytes, isDepthwise } from "./conv2d_geometry.js";
import { IM2COL } from "./conv2d_im2col.js";
import { CONV_THREADED_KERNELS } from "./conv2d_kernels.js";
import { SMALL } from "./conv2d_small.js";
import { STEM } from "./conv2d_stem.js";
import { TINY } from "./conv2d_tiny.js";
import { WINOGRAD } from "./conv2d_winograd.js";

export {
  type AutoPad,
  type ConvAlgorithm,
  type ConvGeometry,
  type ConvPart,
  type ConvPass,
  type ConvTarget,
  CONV_PASSES,
  convGeometry,
  convParams,
  convTransposeGeometry,
  convWork,
  type Conv2dAttributes,
  type ConvTranspose2dAttributes,
} from "./conv2d_geometry.js";

/** The target of engine e: its build and its threads. */
export const convTarget = (e: Engine): ConvTarget => ({ build: e.build, threads: e.threads });

// ---------------------------------------------------------------------------------------------
// conv2d.gemm_tap

/**
 * Where a conv is a plain GEMM over the [n*h*w, c] pixel matrix and one tap's [c, oc] weights, that
 * tap's offset in w (floats); else -1. Two cases, one group each:
 * - pointwise: 1x1 kernel, stride 1, no padding (every pixel through tap 0);
 * - a 1x1 image whose padding leaves one tap inside, for a 1x1 output: ResNet-18's last 3x3 convs on
 *   32x32 inputs. Winograd there does 16x the work of that tap alone and the direct kernels mostly
 *   pad (scripts/bench-conv.mjs --case 1x1-image). The other taps' filter gradients are zero, so
 *   dw keeps them as they are.
 */
function gemmTap(g: ConvGeometry): number {
  if (g.groups !== 1) return -1;
  if (g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.pt === 0 && g.pl === 0 && g.oh === g.h && g.ow === g.w) return 0;
  if (g.h !== 1 || g.w !== 1 || g.oh !== 1 || g.ow !== 1 || g.pt % g.dh !== 0 || g.pl % g.dw !== 0) return -1;
  // output (0, 0) reads input row ky*dh - pt and column kx*dw - pl: pixel (0, 0) for one tap
  const ky = g.pt / g.dh,
    kx = g.pl / g.dw;
  return ky >= 0 && kx >= 0 && ky < g.kh && kx < g.kw ? (ky * g.kw + kx) * g.c * g.oc : -1;
}

/** The pass's GEMM over m = n*h*w pixels: [m, n, k, transA, transB]. */
function tapProduct(pass: ConvPass, g: ConvGeometry): [number, number, number, boolean, boolean] {
  const m = g.n * g.h * g.w;
  if (pass === "forward") return [m, g.oc, g.c, false, false]; // y = x . w_tap
  if (pass === "backward_input") return [m, g.c, g.oc, false, true]; // dx += dy . w_tap^T
  return [g.c, g.oc, m, true, false]; // dw_tap += x^T . dy
}

export const GEMM_TAP: ConvAlgorithm = {
  name: "conv2d.gemm_tap",
  threadedKernels: CONV_THREADED_KERNELS["conv2d.gemm_tap"],
  passes: ["forward", "backward_input", "backward_filter"],
  supports: (_pass, g) => gemmTap(g) >= 0,
  eligible: (_pass, g) => gemmTap(g) >= 0,
  workspaceBytes: (pass, g) => floatBytes(gemmScratchFloats(...tapProduct(pass, g))),
  run(e, pass, g, out, a, b, workspace) {
    const tap = 4 * gemmTap(g);
    const [m, n, k, ta, tb] = tapProduct(pass, g);
    if (pass === "forward") gemmThreaded(e, out, a, b + tap, m, n, k, ta, tb, false, workspace);
    else if (pass === "backward_input") gemmThreaded(e, out, a, b + tap, m, n, k, ta, tb, true, workspace);
    else gemmThreaded(e, out + tap, b, a, m, n, k, ta, tb, true, workspace);
  },
};

// ---------------------------------------------------------------------------------------------
// conv2d.group_slices

/** One group of g as a one-group conv. */
const oneGroup = (g: ConvGeometry): ConvGeometry => ({ ...g, c: g.c / g.groups, oc: g.oc / g.groups, groups: 1 });

/** Floats of one group's slices of x (or dx), y (or dy) and w (or dw). */
function sliceFloats(g: ConvGeometry): [number, number, number] {
  const cg = g.c / g.groups,
    ocg = g.oc / g.groups;
  return [g.n * g.h * g.w * cg, g.n * g.oh * g.ow * ocg, g.kh * g.kw * cg * ocg];
}

const slicesBytes = (g: ConvGeometry) => sliceFloats(g).reduce((s, f) => s + floatBytes(f), 0);

export const GROUP_SLICES: ConvAlgorithm = {
  name: "conv2d.group_slices",
  threadedKernels: CONV_THREADED_KERNELS["conv2d.group_slices"],
  passes: ["forward", "backward_input", "backward_filter"],
  /** Grouped convs with 2+ input channels a group (one channel a group is the depthwise family's). */
  supports: (_pass, g) => g.groups > 1 && g.c !== g.groups,
  /**
   * 2-4 groups with 32+ channels a group each way (AlexNet's two towers): every group then takes
   * the one-group algorithms (Winograd, im2col, blocked) rather than the general direct kernel.
   * The copies (concat's strided block kernels) are one pass over x, w and y each. Measured
   * against the direct kernel: ahead on AlexNet's grouped convs, 2 groups of 56x56x64 -> 128 and
   * 4 groups of 14x14x128, behind with 16 channels a group or 8 groups (scripts/bench-conv.mjs
   * --case groups).
   */
  eligible: (_pass, g) => g.groups > 1 && g.groups <= 4 && g.c / g.groups >= 32 && g.oc / g.groups >= 32,
  /** One group's slices, then the workspace of the algorithm that runs a group. */
  workspaceBytes(pass, g, target) {
    const gg = oneGroup(g);
    return slicesBytes(g) + chooseConvAlgorithm(pass, gg, target).workspaceBytes(pass, gg, target);
  },
  /**
   * Group by group: copy the group's channel slices of the operands, run the one-group conv
   * chosen for them, copy (forward) or add (backward) its result into the group's slice of out.
   */
  run(e, pass, g, out, a, b, workspace) {
    const G = g.groups,
      cg = g.c / G,
      ocg = g.oc / G;
    const gg = oneGroup(g);
    const inner = chooseConvAlgorithm(pass, gg, convTarget(e));
    const xPixels = g.n * g.h * g.w,
      yPixels = g.n * g.oh * g.ow,
      taps = g.kh * g.kw;
    const [xf, yf, wf] = sliceFloats(g);
    const xg = workspace,
      yg = xg + floatBytes(xf),
      wg = yg + floatBytes(yf),
      rest = wg + floatBytes(wf);
    const k = e.kernels;
    // slice copies: rows of `cols` floats, one group's channels, from rows `stride` floats apart
    const take = (dst: number, src: number, rows: number, cols: number, stride: number, group: number) =>
      k.concat_f32_forward(dst, src + 4 * group * cols, rows, cols, cols, stride);
    for (let i = 0; i < G; i++) {
      if (pass === "forward") {
        take(xg, a, xPixels, cg, g.c, i);
        take(wg, b, taps * cg, ocg, g.oc, i);
        inner.run(e, pass, gg, yg, xg, wg, rest);
        k.concat_f32_forward(out + 4 * i * ocg, yg, yPixels, ocg, g.oc, ocg);
      } else if (pass === "backward_input") {
        take(yg, a, yPixels, ocg, g.oc, i);
        take(wg, b, taps * cg, ocg, g.oc, i);
        k.fill_f32(xg, 0, xf);
        inner.run(e, pass, gg, xg, yg, wg, rest);
        k.concat_f32_backward(out + 4 * i * cg, xg, xPixels, cg, g.c, cg);
      } else {
        take(yg, a, yPixels, ocg, g.oc, i);
        take(xg, b, xPixels, cg, g.c, i);
        k.fill_f32(wg, 0, wf);
        inner.run(e, pass, gg, wg, yg, xg, rest);
        k.concat_f32_backward(out + 4 * i * ocg, wg, taps * cg, ocg, g.oc, ocg);
      }
    }
  },
};

// ---------------------------------------------------------------------------------------------
// the direct kernels (assembly/conv2d.ts)

/**
 * Output-channel parts of a filter gradient: cut at multiples of 8 (one group, or depthwise) or
 * at group boundaries, so each channel keeps the register tile of a full call.
 */
function channelAlign(g: ConvGeometry): number {
  const ocg = g.oc / g.groups;
  return g.groups === 1 || isDepthwise(g) ? 8 : ocg;
}

/** Parts of each pass of the direct kernels on `threads` threads: rows of y, rows of dx, output channels of dw. */
function directParts(pass: ConvPass, g: ConvGeometry, threads: number): [number, number][] {
  if (pass === "forward") return splitRange(g.n * g.oh, partsFor(threads));
  if (pass === "backward_input") return splitRange(g.n * g.h, partsFor(threads));
  return splitRange(g.oc, partsFor(threads), channelAlign(g));
}

/** The direct kernels' three passes (conv2d_f32_forward / backward_input / backward_filter), split over threads. */
function runDirect(e: Engine, pass: ConvPass, g: ConvGeometry, out: number, a: number, b: number, workspace: number): void {
  const threads = threadsFor(e, convWork(g));
  const parts = directParts(pass, g, threads);
  if (pass === "forward") {
    e.parallel(
      "conv2d_f32_forward",
      parts.map(([rowBegin, rowEnd], t) => [out, a, b, convParams(e, g, t, { rowBegin, rowEnd })]),
    );
  } else if (pass === "backward_input") {
    // w repacked into the workspace (wt) once (an empty row range), then disjoint ranges of dx rows (n, iy)
    if (threads === 1) e.kernels.conv2d_f32_backward_input(out, a, b, workspace, convParams(e, g));
    else {
      const rows = g.n * g.h;
      e.kernels.conv2d_f32_backward_input(out, a, b, workspace, convParams(e, g, 0, { rowBegin: rows, rowEnd: rows }));
      e.parallel(
        "conv2d_f32_backward_input",
        parts.map(([rowBegin, rowEnd], t) => [out, a, b, workspace, convParams(e, g, t, { rowBegin, rowEnd, ready: true })]),
      );
    }
  } else {
    e.parallel(
      "conv2d_f32_backward_filter",
      parts.map(([ocBegin, ocEnd], t) => [out, a, b, workspace, convParams(e, g, t, { ocBegin, ocEnd })]),
    );
  }
}

/**
 * backward_input repacks w (KH*KW*C/G*OC floats) so lanes run over input channels (depthwise needs
 * none); the depthwise backward_filter sums blocks of rows into KH*KW*C floats before adding them
 * to dw (threads each take their own channels of it).
 */
function directWorkspaceBytes(pass: ConvPass, g: ConvGeometry): number {
  if (pass === "backward_input" && !isDepthwise(g)) return floatBytes(g.kh * g.kw * (g.c / g.groups) * g.oc);
  if (pass === "backward_filter" && isDepthwise(g)) return floatBytes(g.kh * g.kw * g.c);
  return 0;
}

/** The general kernels (4-pixel x 8-channel tiles, lanes over channels): every geometry but depthwise. */
export const DIRECT: ConvAlgorithm = {
  name: "conv2d.direct",
  threadedKernels: CONV_THREADED_KERNELS["conv2d.direct"],
  passes: ["forward", "backward_input", "backward_filter"],
  supports: (_pass, g) => !isDepthwise(g),
  eligible: (_pass, g) => !isDepthwise(g),
  workspaceBytes: (pass, g) => directWorkspaceBytes(pass, g),
  run: runDirect,
};

/** The direct kernels' depthwise code (lanes over channels; 3x3 stride 1 in 4-pixel tiles). */
export const DEPTHWISE: ConvAlgorithm = {
  name: "conv2d.depthwise",
  threadedKernels: CONV_THREADED_KERNELS["conv2d.depthwise"],
  passes: ["forward", "backward_input", "backward_filter"],
  supports: (_pass, g) => isDepthwise(g),
  eligible: (_pass, g) => isDepthwise(g),
  workspaceBytes: (pass, g) => directWorkspaceBytes(pass, g),
  run: runDirect,
};

/**
 * The direct filter gradient for 1-7 input channels a group (an image's first conv;
 * conv2d_f32_backward_filter_few, SIMD builds): each part packs a column of dy at a time into its
 * own workspace (N*OH*OW*8 floats: 12.8 MB for a batch of 32 224x224 images), so one part a thread.
 */
const fewParts = (g: ConvGeometry, threads: number) => splitRange(g.oc, partsFor(threads, 1), channelAlign(g));

export const DIRECT_FEW: ConvAlgorithm = {
  name: "conv2d.direct_few",
  threadedKernels: CONV_THREADED_KERNELS["conv2d.direct_few"],
  passes: ["backward_filter"],
  supports: (pass, g, target) => pass === "backward_filter" && target.build !== "scalar" && g.c / g.groups < 8 && !isDepthwise(g),
  eligible: (pass, g, target) => DIRECT_FEW.supports(pass, g, target),
  workspaceBytes: (_pass, g, target) => partWorkspaceBytes(g.n * g.oh * g.ow * 8, fewParts(g, target.threads).length),
  run(e, _pass, g, dw, dy, x, workspace) {
    const parts = fewParts(g, threadsFor(e, convWork(g)));
    runWithPartWorkspaces(e, "conv2d_f32_backward_filter_few", workspace, g.n * g.oh * g.ow * 8, parts.length > 1 ? parts : [], (ws, t, range) => [
      dw,
      dy,
      x,
      ws,
      convParams(e, g, t, { ocBegin: range?.[0] ?? 0, ocEnd: range?.[1] ?? g.oc }),
    ]);
  },
};

// ---------------------------------------------------------------------------------------------
// the registry

/** Every convolution algorithm, in order of preference (see the table at the top of this file). */
export const CONV_ALGORITHMS: readonly ConvAlgorithm[] = [GEMM_TAP, GROUP_SLICES, TINY, WINOGRAD, IM2COL, STEM, SMALL, BLOCKED, DIRECT_FEW, DEPTHWISE, DIRECT];

/** The algorithm that runs `pass` of `g` on `target`: the first eligible entry of CONV_ALGORITHMS. */
export function chooseConvAlgorithm(pass: ConvPass, g: ConvGeometry, target: ConvTarget): ConvAlgorithm {
  for (const a of CONV_ALGORITHMS) if (a.passes.includes(pass) && a.eligible(pass, g, target)) return a;
  throw new Error(`no convolution algorithm is eligible for ${pass} of ${JSON.stringify(g)}`); // unreachable: direct / depthwise take all
}

/** The algorithm named `name`, or an error listing the names. */
export function convAlgorithm(name: string): ConvAlgorithm {
  const a = CONV_ALGORITHMS.find((x) => x.name === name);
  if (!a) fail("convAlgorithm", `no convolution algorithm is named ${JSON.stringify(name)} (known: ${CONV_ALGORITHMS.map((x) => x.name).join(", ")})`);
  return a;
}

/** The algorithms that support `pass` of `g` on `target` (tests and benchmarks run each). */
export const supportingConvAlgorithms = (pass: ConvPass, g: ConvGeometry, target: ConvTarget): ConvAlgorithm[] =>
  CONV_ALGORITHMS.filter((a) => a.passes.includes(pass) && a.supports(pass, g, target));

/** `name`'s algorithm for `pass` of `g`, checked to support it (op names the caller in the error). */
export function forcedConvAlgorithm(op: string, name: string, pass: ConvPass, g: ConvGeometry, target: ConvTarget): ConvAlgorithm {
  const a = convAlgorithm(name);
  if (!a.passes.includes(pass) || !a.supports(pass, g, target)) {
    const xs = [g.n, g.h, g.w, g.c],
      ws = [g.kh, g.kw, g.c / g.groups, g.oc];
    fail(
      op,
      `algorithm ${name} does not support ${pass} of x ${fmtShape(xs)} and w ${fmtShape(ws)} (strides [${g.sh},${g.sw}], ` +
        `dilations [${g.dh},${g.dw}], groups ${g.groups}) in the ${target.build} build`,
    );
  }
  return a;
}
