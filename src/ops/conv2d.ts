// 2D convolution and transposed convolution (ONNX Conv / ConvTranspose semantics), NHWC.
// Kernels: assembly/conv2d.ts (conv2d_f32_forward, conv2d_f32_backward_input,
// conv2d_f32_backward_filter); bias: bias_f32_forward / bias_f32_backward (assembly/elementwise.ts).
// Transposed convolution reuses the same three kernels with roles swapped:
//   convTranspose2d forward      = conv backward_input  (the transposed conv's output is the conv's input)
//   convTranspose2d dx           = conv forward
//   convTranspose2d dw           = conv backward_filter with x and dy swapped
import type { Engine } from "../engine.js";
import { checkInt, fail, fmtShape, fmtValue } from "../errors.js";
import type { Shape, Tensor } from "../tensor.js";
import { checkOptions, checkShape, checkShapeArg, checkTensor, engineOf, gradTensor, outputTensor, tryEmpty } from "./common.js";
import { gemmThreaded, partsFor, threadsFor } from "../threads/parallel.js";
import { splitRange } from "../threads/partition.js";
import { runBlockedConv, useBlockedConv } from "./conv2d_blocked.js";
import { runTinyConv, TINY_BACKWARD_FILTER, TINY_BACKWARD_INPUT, TINY_FORWARD, useTinyConv } from "./conv2d_tiny.js";
import { IM2COL_BACKWARD_FILTER, IM2COL_BACKWARD_INPUT, IM2COL_FORWARD, runIm2col, useIm2col } from "./conv2d_im2col.js";
import { runStemConv, useStemConv } from "./conv2d_stem.js";
import { runSmallConv, SMALL_BACKWARD_FILTER, SMALL_BACKWARD_INPUT, SMALL_FORWARD, useSmallConv } from "./conv2d_small.js";
import { runWinograd, useWinograd, WINOGRAD_BACKWARD_FILTER, WINOGRAD_BACKWARD_INPUT, WINOGRAD_FORWARD } from "./conv2d_winograd.js";

/**
 * ONNX auto_pad: NOTSET uses explicit pads; SAME_UPPER / SAME_LOWER pad to ceil(in / stride) outputs (the odd
 * pixel at the end / start); VALID pads nothing.
 */
export type AutoPad = "NOTSET" | "SAME_UPPER" | "SAME_LOWER" | "VALID";

/** Hyper-parameters of conv2d (ONNX Conv attributes). Defaults: strides 1, pads 0, NOTSET, dilations 1, groups 1. */
export interface Conv2dOptions {
  /** [h, w] or one number for both. Integers >= 1. */
  strides?: number | [number, number];
  /** [top, left, bottom, right] or one number for all four. Integers >= 0. Not with autoPad SAME_* / VALID. */
  pads?: number | [number, number, number, number];
  /** SAME_UPPER / SAME_LOWER: output = ceil(input / stride), the odd pad at the end / start. VALID: no padding. */
  autoPad?: AutoPad;
  /** [h, w] or one number for both. Integers >= 1. */
  dilations?: number | [number, number];
  /** Channel groups: divides C and OC; groups == C is depthwise. */
  groups?: number;
}

/** Hyper-parameters of convTranspose2d (ONNX ConvTranspose attributes). */
export interface ConvTranspose2dOptions extends Conv2dOptions {
  /** Extra rows/columns at the bottom/right of the output: [h, w] or one number; each < stride or < dilation. */
  outputPadding?: number | [number, number];
  /** The output's [height, width]; the pads are then derived from it (ONNX output_shape), `pads` is ignored. */
  outputShape?: [number, number];
}

/**
 * The geometry of a convolution as the kernels see it: the conv maps x (n,h,w,c) through
 * w (kh,kw,c/groups,oc) to y (n,oh,ow,oc). For a transposed convolution, x is its output and y its input.
 * pt/pl are the top/left pads (bottom/right only shape oh/ow, which the kernels take as given).
 */
interface Geometry {
  n: number;
  h: number;
  w: number;
  c: number;
  oh: number;
  ow: number;
  oc: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  pt: number;
  pl: number;
  dh: number;
  dw: number;
  groups: number;
}

/** Field order of the i32 geometry block the kernels read: must match readGeometry in assembly/conv2d.ts. */
const GEOMETRY_FIELDS = ["n", "h", "w", "c", "oh", "ow", "oc", "kh", "kw", "sh", "sw", "pt", "pl", "dh", "dw", "groups"] as const;

/**
 * The work-partition fields after the geometry (assembly/conv2d.ts), marked by PARTITION_MAGIC in
 * field 16: a row range (forward: rows n*OH+oy of y; backward_input: rows n*H+iy of dx), an
 * output-channel range (backward_filter) and "wt already repacked" (backward_input).
 */
interface Part {
  rowBegin?: number;
  rowEnd?: number;
  ocBegin?: number;
  ocEnd?: number;
  wtReady?: boolean;
}

const PARTITION_MAGIC = 0x54485244;
const ALL = 0x7fffffff;

/** Writes `g` (and thread t's part, if any) into thread t's kernel-parameter block and returns its address. */
function geometryPointer(e: Engine, g: Geometry, t = 0, part?: Part): number {
  const block = e.paramBlockFor(t);
  const i32 = e.heap.i32;
  const base = block >> 2;
  GEOMETRY_FIELDS.forEach((field, i) => (i32[base + i] = g[field]));
  i32[base + 16] = part ? PARTITION_MAGIC : 0;
  if (part) {
    i32[base + 17] = part.rowBegin ?? 0;
    i32[base + 18] = part.rowEnd ?? ALL;
    i32[base + 19] = part.ocBegin ?? 0;
    i32[base + 20] = part.ocEnd ?? ALL;
    i32[base + 21] = part.wtReady ? 1 : 0;
  }
  return block;
}

/** Multiply-adds of one pass of the conv (each of forward, backward_input, backward_filter). */
const convWork = (g: Geometry) => g.n * g.oh * g.ow * g.oc * g.kh * g.kw * (g.c / g.groups);

// ---------------------------------------------------------------------------------------------
// hyper-parameters

function pair(op: string, name: string, v: number | readonly number[] | undefined, dflt: number, min: number): [number, number] {
  if (v === undefined) return [dflt, dflt];
  const arr = typeof v === "number" ? [v, v] : v;
  if (!Array.isArray(arr) || arr.length !== 2) fail(op, `${name} must be a number or [h, w], got ${fmtValue(v)}`);
  return [checkInt(op, `${name}[0]`, arr[0]!, min), checkInt(op, `${name}[1]`, arr[1]!, min)];
}

function explicitPads(op: string, v: Conv2dOptions["pads"]): [number, number, number, number] {
  if (v === undefined) return [0, 0, 0, 0];
  const arr = typeof v === "number" ? [v, v, v, v] : v;
  if (!Array.isArray(arr) || arr.length !== 4) fail(op, `pads must be a number or [top, left, bottom, right], got ${fmtValue(v)}`);
  return arr.map((p, i) => checkInt(op, `pads[${i}]`, p, 0)) as [number, number, number, number];
}

function autoPadOf(op: string, options: Conv2dOptions): AutoPad {
  const a = options.autoPad ?? "NOTSET";
  if (!["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].includes(a)) {
    fail(op, `autoPad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got ${fmtValue(a)}`);
  }
  if (a !== "NOTSET" && options.pads !== undefined) fail(op, `pads cannot be given with autoPad ${a}`);
  return a;
}

/** The geometry of conv2d(x, w) and the bottom/right pads. */
function convGeometry(op: string, xShape: Shape, wShape: Shape, options: Conv2dOptions): Geometry {
  checkOptions(op, "options", options);
  checkShapeArg(op, "x", xShape, { rank: 4 });
  checkShapeArg(op, "w", wShape, { rank: 4 });
  const [n, h, w, c] = xShape as [number, number, number, number];
  const [kh, kw, cg, oc] = wShape as [number, number, number, number];
  const groups = checkInt(op, "groups", options.groups ?? 1, 1);
  const [sh, sw] = pair(op, "strides", options.strides, 1, 1);
  const [dh, dw] = pair(op, "dilations", options.dilations, 1, 1);
  const autoPad = autoPadOf(op, options);
  if (c % groups !== 0) fail(op, `groups ${groups} does not divide the ${c} channels of x ${fmtShape(xShape)}`);
  if (oc % groups !== 0) fail(op, `groups ${groups} does not divide the ${oc} output channels of w ${fmtShape(wShape)}`);
  if (cg * groups !== c) {
    fail(op, `x ${fmtShape(xShape)} has ${c} channels but w ${fmtShape(wShape)} expects ${cg * groups} (${cg} per group x ${groups} groups)`);
  }
  let [pt, pl, pb, pr] = explicitPads(op, options.pads);
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    const same = (len: number, s: number, k: number, d: number): [number, number] => {
      const total = Math.max(0, (Math.ceil(len / s) - 1) * s + (k - 1) * d + 1 - len);
      const small = Math.floor(total / 2);
      return autoPad === "SAME_UPPER" ? [small, total - small] : [total - small, small];
    };
    [pt, pb] = same(h, sh, kh, dh);
    [pl, pr] = same(w, sw, kw, dw);
  }
  const ekh = (kh - 1) * dh + 1,
    ekw = (kw - 1) * dw + 1; // dilated kernel extent
  if (h + pt + pb < ekh || w + pl + pr < ekw) {
    fail(
      op,
      `kernel ${kh}x${kw} (dilated ${ekh}x${ekw}) of w ${fmtShape(wShape)} is larger than the padded input ` +
        `${h + pt + pb}x${w + pl + pr} (x ${fmtShape(xShape)}, pads [${pt},${pl},${pb},${pr}])`,
    );
  }
  const oh = Math.floor((h + pt + pb - ekh) / sh) + 1;
  const ow = Math.floor((w + pl + pr - ekw) / sw) + 1;
  return { n, h, w, c, oh, ow, oc, kh, kw, sh, sw, pt, pl, dh, dw, groups };
}

/**
 * The geometry of convTranspose2d(x, w), as the conv it is the transpose of: the conv's input is
 * this op's output (n, h, w, c = Cout) and the conv's output is this op's input (oh, ow, oc = Cin).
 */
function convTransposeGeometry(op: string, xShape: Shape, wShape: Shape, options: ConvTranspose2dOptions): Geometry {
  checkOptions(op, "options", options);
  checkShapeArg(op, "x", xShape, { rank: 4 });
  checkShapeArg(op, "w", wShape, { rank: 4 });
  const [n, ih, iw, cin] = xShape as [number, number, number, number];
  const [kh, kw, coutg, wcin] = wShape as [number, number, number, number];
  const groups = checkInt(op, "groups", options.groups ?? 1, 1);
  const [sh, sw] = pair(op, "strides", options.strides, 1, 1);
  const [dh, dw] = pair(op, "dilations", options.dilations, 1, 1);
  const [oph, opw] = pair(op, "outputPadding", options.outputPadding, 0, 0);
  const autoPad = autoPadOf(op, options);
  if (wcin !== cin) fail(op, `x ${fmtShape(xShape)} has ${cin} channels but w ${fmtShape(wShape)} expects ${wcin} (w is [KH,KW,Cout/groups,Cin])`);
  if (cin % groups !== 0) fail(op, `groups ${groups} does not divide the ${cin} channels of x ${fmtShape(xShape)}`);
  if (oph >= Math.max(sh, dh) || opw >= Math.max(sw, dw)) {
    fail(op, `outputPadding [${oph},${opw}] must be smaller than the stride [${sh},${sw}] or the dilation [${dh},${dw}]`);
  }
  const c = coutg * groups;
  const natural = (len: number, s: number, k: number, d: number, op_: number) => s * (len - 1) + op_ + (k - 1) * d + 1;
  const nh = natural(ih, sh, kh, dh, oph),
    nw = natural(iw, sw, kw, dw, opw);
  let pt: number, pl: number, pb: number, pr: number;
  let target: [number, number] | undefined;
  if (options.outputShape !== undefined) {
    const os = options.outputShape;
    if (!Array.isArray(os) || os.length !== 2) fail(op, `outputShape must be [height, width], got ${fmtValue(os)}`);
    target = [checkInt(op, "outputShape[0]", os[0], 1), checkInt(op, "outputShape[1]", os[1], 1)];
  } else if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    target = [ih * sh, iw * sw];
  }
  if (target) {
    // ONNX: total = natural - output_shape, split with the odd pixel at the end for SAME_UPPER.
    const split = (total: number): [number, number] => {
      const small = Math.floor(total / 2);
      return autoPad === "SAME_UPPER" ? [small, total - small] : [total - small, small];
    };
    [pt, pb] = split(nh - target[0]);
    [pl, pr] = split(nw - target[1]);
  } else {
    [pt, pl, pb, pr] = autoPad === "VALID" ? [0, 0, 0, 0] : explicitPads(op, options.pads);
  }
  const h = nh - pt - pb,
    w = nw - pl - pr;
  if (h < 1 || w < 1) {
    fail(op, `pads [${pt},${pl},${pb},${pr}] leave no output for x ${fmtShape(xShape)} and w ${fmtShape(wShape)} (unpadded output ${nh}x${nw})`);
  }
  return { n, h, w, c, oh: ih, ow: iw, oc: cin, kh, kw, sh, sw, pt, pl, dh, dw, groups };
}

/** conv2d's output shape [N, OH, OW, OC] for x [N,H,W,C] and w [KH,KW,C/groups,OC]; throws on bad arguments. */
export function conv2dOutputShape(xShape: Shape, wShape: Shape, options: Conv2dOptions = {}): [number, number, number, number] {
  checkShapeArg("conv2dOutputShape", "xShape", xShape, { rank: 4 });
  checkShapeArg("conv2dOutputShape", "wShape", wShape, { rank: 4 });
  const g = convGeometry("conv2d", xShape, wShape, options);
  return [g.n, g.oh, g.ow, g.oc];
}

/** convTranspose2d's output shape [N, OH, OW, Cout] for x [N,H,W,Cin] and w [KH,KW,Cout/groups,Cin]. */
export function convTranspose2dOutputShape(xShape: Shape, wShape: Shape, options: ConvTranspose2dOptions = {}): [number, number, number, number] {
  checkShapeArg("convTranspose2dOutputShape", "xShape", xShape, { rank: 4 });
  checkShapeArg("convTranspose2dOutputShape", "wShape", wShape, { rank: 4 });
  const g = convTransposeGeometry("convTranspose2d", xShape, wShape, options);
  return [g.n, g.h, g.w, g.c];
}

// ---------------------------------------------------------------------------------------------
// kernel calls shared by both ops (g is always the conv's geometry)

/**
 * Where a conv is a plain GEMM over the [n*h*w, c] pixel matrix and one tap's [c, oc] weights
 * (all three passes then go to gemm_f32), that tap's offset in w (floats); else -1. Two cases, one
 * group each:
 * - pointwise: 1x1 kernel, stride 1, no padding (every pixel through tap 0);
 * - a 1x1 image whose padding leaves one tap inside, for a 1x1 output: ResNet-18's last 3x3 convs on
 *   32x32 inputs. Winograd there does 16x the work of that tap alone and the direct kernels mostly
 *   pad (batch 16, 1x1x512 -> 512: forward 11.6 and 5.1 ms against 0.3 ms). The other taps' filter
 *   gradients are zero, so dw keeps them as they are.
 */
function gemmTap(g: Geometry): number {
  if (g.groups !== 1) return -1;
  if (g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.pt === 0 && g.pl === 0 && g.oh === g.h && g.ow === g.w) return 0;
  if (g.h !== 1 || g.w !== 1 || g.oh !== 1 || g.ow !== 1 || g.pt % g.dh !== 0 || g.pl % g.dw !== 0) return -1;
  // output (0, 0) reads input row ky*dh - pt and column kx*dw - pl: pixel (0, 0) for one tap
  const ky = g.pt / g.dh,
    kx = g.pl / g.dw;
  return ky < g.kh && kx < g.kw ? (ky * g.kw + kx) * g.c * g.oc : -1;
}

/** "auto" (default): by shape; "always": every grouped conv that is not depthwise; "never": none. For tests and benchmarks. */
export const groupSlicesPolicy: { mode: "auto" | "always" | "never" } = { mode: "auto" };

const GROUPS_FORWARD = 0,
  GROUPS_BACKWARD_INPUT = 1,
  GROUPS_BACKWARD_FILTER = 2;

/**
 * Grouped convs of 2-4 groups with 32+ channels a group each way (AlexNet's two towers) run as one
 * one-group conv per group on copies of its channel slices, so every group takes the one-group
 * paths (Winograd, im2col, blocked) rather than the general direct kernel. The copies (concat's
 * strided block kernels) are one pass over x, w and y each. Relaxed build, ms forward / input
 * grad / filter grad, direct -> slices: AlexNet's 4 x 13x13x384 -> 384 3x3 2 groups 48 / 26 / 40
 * -> 17 / 17 / 18, 4 x 27x27x96 -> 256 5x5 83 / 53 / 67 -> 56 / 55 / 60; 56x56x64 -> 128 3x3 8.3 /
 * 7.0 / 9.9 -> 5.1 / 5.8 / 5.0; 4 x 14x14x128 -> 128 4 groups 2.1 / 1.9 / 2.6 -> 1.6 / 2.0 / 1.6.
 * With 16 channels a group or 8 groups the slices ran up to 1.3x slower.
 */
function useGroupSlices(g: Geometry): boolean {
  if (groupSlicesPolicy.mode === "never" || g.groups === 1 || g.c === g.groups) return false; // one group, or depthwise
  if (groupSlicesPolicy.mode === "always") return true;
  return g.groups <= 4 && g.c / g.groups >= 32 && g.oc / g.groups >= 32;
}

/**
 * One pass of a grouped conv, group by group: forward y = conv(x, w) (out = y, a = x, b = w);
 * backward_input dx += (out = dx, a = dy, b = w); backward_filter dw += (out = dw, a = dy, b = x).
 * Returns false, having done nothing, when the heap has no room for the slices.
 */
function runGroupSlices(e: Engine, pass: number, g: Geometry, out: Tensor, a: Tensor, b: Tensor): boolean {
  const G = g.groups,
    cg = g.c / G,
    ocg = g.oc / G;
  const gg: Geometry = { ...g, c: cg, oc: ocg, groups: 1 };
  const xPixels = g.n * g.h * g.w,
    yPixels = g.n * g.oh * g.ow,
    taps = g.kh * g.kw;
  // one group's slices of the pass's operands: [x or dx, y or dy, w or dw] (the run* functions
  // read their pointers and sizes only)
  const temps: Tensor[] = [];
  try {
    for (const floats of [xPixels * cg, yPixels * ocg, taps * cg * ocg]) {
      const t = tryEmpty(e, floats, "conv2d group slice");
      if (!t) return false;
      temps.push(t);
    }
    const [xg, yg, wg] = temps as [Tensor, Tensor, Tensor];
    const k = e.kernels;
    // slice copies: rows of `cols` floats, one group's channels, from rows `stride` floats apart
    const take = (dst: Tensor, src: number, rows: number, cols: number, stride: number, group: number) =>
      k.concat_f32_forward(dst.ptr, src + 4 * group * cols, rows, cols, cols, stride);
    for (let i = 0; i < G; i++) {
      if (pass === GROUPS_FORWARD) {
        take(xg, a.ptr, xPixels, cg, g.c, i);
        take(wg, b.ptr, taps * cg, ocg, g.oc, i);
        runForward(e, gg, yg, xg, wg);
        k.concat_f32_forward(out.ptr + 4 * i * ocg, yg.ptr, yPixels, ocg, g.oc, ocg);
      } else if (pass === GROUPS_BACKWARD_INPUT) {
        take(yg, a.ptr, yPixels, ocg, g.oc, i);
        take(wg, b.ptr, taps * cg, ocg, g.oc, i);
        k.fill_f32(xg.ptr, 0, xg.size);
        runBackwardInput(e, gg, xg, yg, wg);
        k.concat_f32_backward(out.ptr + 4 * i * cg, xg.ptr, xPixels, cg, g.c, cg);
      } else {
        take(yg, a.ptr, yPixels, ocg, g.oc, i);
        take(xg, b.ptr, xPixels, cg, g.c, i);
        k.fill_f32(wg.ptr, 0, wg.size);
        runBackwardFilter(e, gg, wg, yg, xg);
        k.concat_f32_backward(out.ptr + 4 * i * ocg, wg.ptr, taps * cg, ocg, g.oc, ocg);
      }
    }
    return true;
  } finally {
    for (const t of temps) t.dispose();
  }
}

/** y (n,oh,ow,oc) = conv(x, w), overwriting y. */
function runForward(e: Engine, g: Geometry, y: Tensor, x: Tensor, w: Tensor): void {
  const tap = gemmTap(g);
  if (tap >= 0) {
    gemmThreaded(e, y.ptr, x.ptr, w.ptr + 4 * tap, g.n * g.h * g.w, g.oc, g.c, false, false, false);
    return;
  }
  if (useGroupSlices(g) && runGroupSlices(e, GROUPS_FORWARD, g, y, x, w)) return;
  // tiny images (2x2 ...): per-pixel GEMMs over the batch with the inside taps only (conv2d_tiny.ts)
  if (useTinyConv(g) && runTinyConv(e, TINY_FORWARD, g, y.ptr, x.ptr, w.ptr)) return;
  const threads = threadsFor(e, convWork(g));
  // 3x3 stride 1: Winograd F(2x2, 3x3) (assembly/conv2d_winograd.ts), threaded or not: its parts
  // give the bits of a whole call (direct kernels below when the heap has no room for its workspace)
  const geometry = (t: number, part?: Part) => geometryPointer(e, g, t, part);
  if (useWinograd(e, g, WINOGRAD_FORWARD) && runWinograd(e, WINOGRAD_FORWARD, g, threads, geometry, y.ptr, x.ptr, w.ptr)) return;
  // narrow outputs: one GEMM over the im2col matrix (assembly/conv2d_im2col.ts, useIm2col)
  if (useIm2col(g, IM2COL_FORWARD) && runIm2col(e, IM2COL_FORWARD, g, geometryPointer(e, g), y.ptr, x.ptr, w.ptr)) return;
  // an image's few channels, OC % 8 == 0: 4 pixels x 8 channels straight to NHWC (assembly/conv2d_stem.ts);
  // split by rows over threads, which leaves every pixel's bits as they are
  if (useStemConv(e, g)) return runStemConv(e, g.n * g.oh, partsFor(threads), geometry, y.ptr, x.ptr, w.ptr);
  // few channels: lanes over output pixels (assembly/conv2d_small.ts), split by images over threads
  // (the same bits however split); the general kernels these shapes took before on an engine with
  // a pool made a LeNet-5 step on 2 threads 2.2x slower than on one
  if (useSmallConv(g, SMALL_FORWARD)) return runSmallConv(e, SMALL_FORWARD, g, partsFor(threads), geometry, y.ptr, x.ptr, w.ptr);
  // wide channels: blocked over 8 output x 32 input channels (assembly/conv2d_blocked.ts), split
  // by output channels over threads (the same bits however split)
  if (useBlockedConv(g)) return runBlockedConv(e, g.oc, partsFor(threads), geometry, y.ptr, x.ptr, w.ptr);
  const parts = splitRange(g.n * g.oh, partsFor(threads));
  e.parallel(
    "conv2d_f32_forward",
    parts.map(([rowBegin, rowEnd], t) => [y.ptr, x.ptr, w.ptr, geometryPointer(e, g, t, { rowBegin, rowEnd })]),
  );
}

/** dx (n,h,w,c) += the conv's input gradient from dy (n,oh,ow,oc) and w; allocates the repacked-weights workspace. */
function runBackwardInput(e: Engine, g: Geometry, dx: Tensor, dy: Tensor, w: Tensor): void {
  const tap = gemmTap(g);
  if (tap >= 0) {
    // dx[m, c] += dy[m, oc] . w_tap[c, oc]^T
    gemmThreaded(e, dx.ptr, dy.ptr, w.ptr + 4 * tap, g.n * g.h * g.w, g.c, g.oc, false, true, true);
    return;
  }
  if (useGroupSlices(g) && runGroupSlices(e, GROUPS_BACKWARD_INPUT, g, dx, dy, w)) return;
  if (useTinyConv(g) && runTinyConv(e, TINY_BACKWARD_INPUT, g, dx.ptr, dy.ptr, w.ptr)) return;
  const threads = threadsFor(e, convWork(g));
  // 3x3 stride 1: Winograd F(2x2, 3x3) (assembly/conv2d_winograd.ts), threaded or not (direct
  // kernels below when the heap has no room for its workspace)
  const geometry = (t: number, part?: Part) => geometryPointer(e, g, t, part);
  if (useWinograd(e, g, WINOGRAD_BACKWARD_INPUT) && runWinograd(e, WINOGRAD_BACKWARD_INPUT, g, threads, geometry, dx.ptr, dy.ptr, w.ptr)) return;
  if (useIm2col(g, IM2COL_BACKWARD_INPUT) && runIm2col(e, IM2COL_BACKWARD_INPUT, g, geometryPointer(e, g), dx.ptr, dy.ptr, w.ptr)) return;
  // few channels: lanes over output pixels (assembly/conv2d_small.ts), split by images (see runForward)
  if (useSmallConv(g, SMALL_BACKWARD_INPUT)) {
    return runSmallConv(e, SMALL_BACKWARD_INPUT, g, partsFor(threads), geometry, dx.ptr, dy.ptr, w.ptr);
  }
  const wt = e.empty([w.size], "f32", "conv2d backward_input workspace");
  try {
    if (threads === 1) {
      e.kernels.conv2d_f32_backward_input(dx.ptr, dy.ptr, w.ptr, wt.ptr, geometryPointer(e, g));
    } else {
      // repack the weights once (an empty row range), then disjoint ranges of dx rows (n, iy)
      const rows = g.n * g.h;
      e.kernels.conv2d_f32_backward_input(dx.ptr, dy.ptr, w.ptr, wt.ptr, geometryPointer(e, g, 0, { rowBegin: rows, rowEnd: rows }));
      e.parallel(
        "conv2d_f32_backward_input",
        splitRange(rows, partsFor(threads)).map(([rowBegin, rowEnd], t) => [
          dx.ptr,
          dy.ptr,
          w.ptr,
          wt.ptr,
          geometryPointer(e, g, t, { rowBegin, rowEnd, wtReady: true }),
        ]),
      );
    }
  } finally {
    wt.dispose();
  }
}

/** dw (kh,kw,c/groups,oc) += the conv's filter gradient from dy (n,oh,ow,oc) and x (n,h,w,c). */
function runBackwardFilter(e: Engine, g: Geometry, dw: Tensor, dy: Tensor, x: Tensor): void {
  const tap = gemmTap(g);
  if (tap >= 0) {
    // dw_tap[c, oc] += x[m, c]^T . dy[m, oc]
    gemmThreaded(e, dw.ptr + 4 * tap, x.ptr, dy.ptr, g.c, g.oc, g.n * g.h * g.w, true, false, true);
    return;
  }
  if (useGroupSlices(g) && runGroupSlices(e, GROUPS_BACKWARD_FILTER, g, dw, dy, x)) return;
  if (useTinyConv(g) && runTinyConv(e, TINY_BACKWARD_FILTER, g, dw.ptr, dy.ptr, x.ptr)) return;
  const threads = threadsFor(e, convWork(g));
  // 3x3 stride 1: Winograd F(2x2, 3x3) (assembly/conv2d_winograd.ts), threaded or not (direct
  // kernels below when the heap has no room for its workspace)
  const geometry = (t: number, part?: Part) => geometryPointer(e, g, t, part);
  if (useWinograd(e, g, WINOGRAD_BACKWARD_FILTER) && runWinograd(e, WINOGRAD_BACKWARD_FILTER, g, threads, geometry, dw.ptr, dy.ptr, x.ptr)) return;
  if (useIm2col(g, IM2COL_BACKWARD_FILTER) && runIm2col(e, IM2COL_BACKWARD_FILTER, g, geometryPointer(e, g), dw.ptr, dy.ptr, x.ptr)) return;
  // few channels: lanes over output pixels (assembly/conv2d_small.ts). It sums over the images, so
  // it runs a whole call on one thread: an engine with a pool takes it only under 8 input or output
  // channels (LeNet-5's step on 2 threads: 10.6 ms with the split kernels, 5.3 ms with it) and
  // splits the rest by output channels below. The choice depends on the shape alone, never on
  // whether a call is split.
  if (useSmallConv(g, SMALL_BACKWARD_FILTER) && (e.threads === 1 || g.c < 8 || g.oc < 8)) {
    return runSmallConv(e, SMALL_BACKWARD_FILTER, g, 1, geometry, dw.ptr, dy.ptr, x.ptr);
  }
  // threads: disjoint ranges of output channels, cut at multiples of 8 (one group, or depthwise)
  // or at group boundaries, so each channel keeps the register tile of a full call
  const ocg = g.oc / g.groups;
  const depthwise = ocg === 1 && g.c === g.groups;
  const align = g.groups === 1 || depthwise ? 8 : ocg;
  // 1-7 input channels per group (an image's first conv), SIMD builds: each part packs a column
  // of dy at a time into its own workspace (assembly/conv2d.ts, conv2d_f32_backward_filter_few),
  // so one part a thread (the column is N*OH*OW*8 floats: 12.8 MB for a batch of 32 224x224 images)
  if (e.build !== "scalar" && g.c / g.groups < 8 && !depthwise) {
    const fewParts = splitRange(g.oc, partsFor(threads, 1), align);
    const wsFloats = e.kernels.conv2d_f32_backward_filter_few_workspace(geometryPointer(e, g));
    const ws = tryEmpty(e, wsFloats * fewParts.length, "conv2d backward_filter workspace");
    if (ws) {
      try {
        e.parallel(
          "conv2d_f32_backward_filter_few",
          fewParts.map(([ocBegin, ocEnd], t) => [dw.ptr, dy.ptr, x.ptr, ws.ptr + 4 * wsFloats * t, geometryPointer(e, g, t, { ocBegin, ocEnd })]),
        );
      } finally {
        ws.dispose();
      }
      return;
    }
  }
  const parts = splitRange(g.oc, partsFor(threads), align);
  e.parallel(
    "conv2d_f32_backward_filter",
    parts.map(([ocBegin, ocEnd], t) => [dw.ptr, dy.ptr, x.ptr, geometryPointer(e, g, t, { ocBegin, ocEnd })]),
  );
}

function checkBias(op: string, b: Tensor | null | undefined, channels: number, wShape: Shape): void {
  if (!b) return;
  checkTensor(op, "b", b);
  if (b.rank !== 1 || b.shape[0] !== channels) {
    fail(op, `b must have shape [${channels}] (the output channels of w ${fmtShape(wShape)}), got ${fmtShape(b.shape)}`);
  }
}

function checkNotAliased(op: string, out: Tensor | undefined, inputs: Record<string, Tensor>): void {
  if (!out) return;
  for (const [name, t] of Object.entries(inputs)) {
    if (out.ptr === t.ptr && out.engine === t.engine) fail(op, `out must not be ${name} (the kernel reads ${name} while writing out)`);
  }
}

// ---------------------------------------------------------------------------------------------
// conv2d

/**
 * y = conv2d(x, w) + b. x [N,H,W,C] NHWC, w [KH,KW,C/groups,OC], b [OC] or none -> y [N,OH,OW,OC]
 * with OH = floor((H + pad_top + pad_bottom - dilation*(KH-1) - 1) / stride) + 1 (ONNX Conv).
 */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor | null, options: Conv2dOptions = {}, out?: Tensor): Tensor {
  const op = "conv2d";
  const e = engineOf(op, x, w, b, out);
  checkTensor(op, "x", x, { rank: 4 });
  checkTensor(op, "w", w, { rank: 4 });
  const g = convGeometry(op, x.shape, w.shape, options);
  checkBias(op, b, g.oc, w.shape);
  checkNotAliased(op, out, { x, w });
  const y = outputTensor(op, e, [g.n, g.oh, g.ow, g.oc], out);
  runForward(e, g, y, x, w);
  if (b) e.kernels.bias_f32_forward(y.ptr, b.ptr, g.n * g.oh * g.ow, g.oc);
  return y;
}

/**
 * Gradients of conv2d from dy [N,OH,OW,OC]: dx [N,H,W,C], dw [KH,KW,C/groups,OC] and, if `wantBias`
 * or grads.db is given, db [OC]. Each is ACCUMULATED into the given tensor, else into a new zeroed one.
 */
export function conv2dBackward(
  dy: Tensor,
  x: Tensor,
  w: Tensor,
  options: Conv2dOptions = {},
  grads: { dx?: Tensor; dw?: Tensor; db?: Tensor } = {},
  wantBias = true,
): { dx: Tensor; dw: Tensor; db?: Tensor } {
  const op = "conv2dBackward";
  grads = checkOptions(op, "grads", grads);
  const e = engineOf(op, dy, x, w, grads.dx, grads.dw, grads.db);
  checkTensor(op, "x", x, { rank: 4 });
  checkTensor(op, "w", w, { rank: 4 });
  const g = backwardGeometry(op, dy, x.shape, w.shape, options);
  const dx = gradTensor(op, "dx", e, x.shape, grads.dx);
  const dw = gradTensor(op, "dw", e, w.shape, grads.dw);
  const db = wantBias || grads.db ? gradTensor(op, "db", e, [g.oc], grads.db) : undefined;
  runBackwardInput(e, g, dx, dy, w);
  runBackwardFilter(e, g, dw, dy, x);
  if (db) e.kernels.bias_f32_backward(db.ptr, dy.ptr, g.n * g.oh * g.ow, g.oc);
  return db ? { dx, dw, db } : { dx, dw };
}

/**
 * Only the input gradient of conv2d: dx [N,H,W,C] += from dy [N,OH,OW,OC] and w. For when the
 * weights need no gradient (frozen layers). Accumulates into `dx`, else into a new zeroed tensor.
 */
export function conv2dBackwardInput(dy: Tensor, w: Tensor, xShape: Shape, options: Conv2dOptions = {}, dx?: Tensor): Tensor {
  const op = "conv2dBackwardInput";
  const e = engineOf(op, dy, w, dx);
  checkTensor(op, "w", w, { rank: 4 });
  checkShapeArg(op, "xShape", xShape, { rank: 4 });
  const g = backwardGeometry(op, dy, xShape, w.shape, options);
  const out = gradTensor(op, "dx", e, xShape, dx);
  runBackwardInput(e, g, out, dy, w);
  return out;
}

/**
 * Only the filter gradient of conv2d: dw [KH,KW,C/groups,OC] += from dy [N,OH,OW,OC] and x. For
 * when the input needs no gradient (a first layer). Accumulates into `dw`, else a new zeroed tensor.
 */
export function conv2dBackwardFilter(dy: Tensor, x: Tensor, wShape: Shape, options: Conv2dOptions = {}, dw?: Tensor): Tensor {
  const op = "conv2dBackwardFilter";
  const e = engineOf(op, dy, x, dw);
  checkTensor(op, "x", x, { rank: 4 });
  checkShapeArg(op, "wShape", wShape, { rank: 4 });
  const g = backwardGeometry(op, dy, x.shape, wShape, options);
  const out = gradTensor(op, "dw", e, wShape, dw);
  runBackwardFilter(e, g, out, dy, x);
  return out;
}

/** The conv geometry of a backward call, with dy checked against it (the callers check the shapes' ranks). */
function backwardGeometry(op: string, dy: Tensor, xShape: Shape, wShape: Shape, options: Conv2dOptions): Geometry {
  checkTensor(op, "dy", dy, { rank: 4 });
  const g = convGeometry(op, xShape, wShape, options);
  checkShape(op, "dy", dy, [g.n, g.oh, g.ow, g.oc]);
  return g;
}

// ---------------------------------------------------------------------------------------------
// convTranspose2d

/**
 * y = convTranspose2d(x, w) + b (ONNX ConvTranspose). x [N,H,W,Cin], w [KH,KW,Cout/groups,Cin],
 * b [Cout] or none -> y [N,OH,OW,Cout], OH = stride*(H-1) + outputPadding + dilation*(KH-1) + 1 - pad_top - pad_bottom
 * (or outputShape, or H*stride for autoPad SAME_*).
 */
export function convTranspose2d(x: Tensor, w: Tensor, b?: Tensor | null, options: ConvTranspose2dOptions = {}, out?: Tensor): Tensor {
  const op = "convTranspose2d";
  const e = engineOf(op, x, w, b, out);
  checkTensor(op, "x", x, { rank: 4 });
  checkTensor(op, "w", w, { rank: 4 });
  const g = convTransposeGeometry(op, x.shape, w.shape, options);
  checkBias(op, b, g.c, w.shape);
  checkNotAliased(op, out, { x, w });
  const y = outputTensor(op, e, [g.n, g.h, g.w, g.c], out);
  e.kernels.fill_f32(y.ptr, 0, y.size);
  runBackwardInput(e, g, y, x, w);
  if (b) e.kernels.bias_f32_forward(y.ptr, b.ptr, g.n * g.h * g.w, g.c);
  return y;
}

/**
 * Gradients of convTranspose2d from dy [N,OH,OW,Cout]: dx [N,H,W,Cin], dw [KH,KW,Cout/groups,Cin]
 * and, if `wantBias` or grads.db is given, db [Cout]; ACCUMULATED into given tensors, else new zeroed ones.
 */
export function convTranspose2dBackward(
  dy: Tensor,
  x: Tensor,
  w: Tensor,
  options: ConvTranspose2dOptions = {},
  grads: { dx?: Tensor; dw?: Tensor; db?: Tensor } = {},
  wantBias = true,
): { dx: Tensor; dw: Tensor; db?: Tensor } {
  const op = "convTranspose2dBackward";
  grads = checkOptions(op, "grads", grads);
  const e = engineOf(op, dy, x, w, grads.dx, grads.dw, grads.db);
  checkTensor(op, "dy", dy, { rank: 4 });
  checkTensor(op, "x", x, { rank: 4 });
  checkTensor(op, "w", w, { rank: 4 });
  const g = convTransposeGeometry(op, x.shape, w.shape, options);
  checkShape(op, "dy", dy, [g.n, g.h, g.w, g.c]);
  const dw = gradTensor(op, "dw", e, w.shape, grads.dw);
  const db = wantBias || grads.db ? gradTensor(op, "db", e, [g.c], grads.db) : undefined;
  let dx: Tensor;
  if (grads.dx) {
    dx = gradTensor(op, "dx", e, x.shape, grads.dx);
    // The conv forward kernel overwrites; accumulate through a temporary.
    const tmp = e.empty(x.shape, "f32", `${op} dx temporary`);
    try {
      runForward(e, g, tmp, dy, w);
      e.kernels.axpy_f32(dx.ptr, tmp.ptr, 1, tmp.size);
    } finally {
      tmp.dispose();
    }
  } else {
    dx = e.empty(x.shape, "f32", `${op} dx`);
    runForward(e, g, dx, dy, w);
  }
  // The conv's filter gradient with the conv's input = dy and the conv's output gradient = x.
  runBackwardFilter(e, g, dw, x, dy);
  if (db) e.kernels.bias_f32_backward(db.ptr, dy.ptr, g.n * g.h * g.w, g.c);
  return db ? { dx, dw, db } : { dx, dw };
}
