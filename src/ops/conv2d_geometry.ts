// The geometry of a convolution as its kernels see it, how it is derived from ONNX Conv /
// ConvTranspose attributes, and the types every entry of the algorithm registry
// (src/ops/conv2d_algorithms.ts) shares. No kernel call lives here.
import type { Engine } from "../engine.js";
import type { BuildName } from "../runtime.js";
import { checkInt, fail, fmtShape, fmtValue } from "../errors.js";
import type { Shape } from "../tensor.js";
import { PARTITION_MAGIC, writeConvParams } from "../kernels/params.generated.js";
import type { ConvThreadedKernel } from "./conv2d_kernels.js";
import { checkOptions, checkShapeArg } from "./common.js";

/**
 * ONNX auto_pad: NOTSET uses explicit pads; SAME_UPPER / SAME_LOWER pad to ceil(in / stride) outputs (the odd
 * pixel at the end / start); VALID pads nothing.
 */
export type AutoPad = "NOTSET" | "SAME_UPPER" | "SAME_LOWER" | "VALID";

/** Hyper-parameters of conv2d (ONNX Conv attributes). Defaults: strides 1, pads 0, NOTSET, dilations 1, groups 1. */
export interface Conv2dAttributes {
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
export interface ConvTranspose2dAttributes extends Conv2dAttributes {
  /** Extra rows/columns at the bottom/right of the output: [h, w] or one number; each < stride or < dilation. */
  outputPadding?: number | [number, number];
  /** The output's [height, width]; the pads are then derived from it (ONNX output_shape), `pads` is ignored. */
  outputShape?: [number, number];
}

/**
 * The geometry of a convolution as the kernels see it: the conv maps x (n,h,w,c) through
 * w (kh,kw,c/groups,oc) to y (n,oh,ow,oc): iy = oy*sh - pt + ky*dh, ix = ox*sw - pl + kx*dw, taps
 * outside the image read zero. For a transposed convolution, x is its output and y its input.
 * pt/pl are the top/left pads (bottom/right only shape oh/ow, which the kernels take as given).
 * Every field and every tensor's element count fits in an i32 (convGeometry checks).
 */
export interface ConvGeometry {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly c: number;
  readonly oh: number;
  readonly ow: number;
  readonly oc: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly pt: number;
  readonly pl: number;
  readonly dh: number;
  readonly dw: number;
  readonly groups: number;
}

/**
 * The three passes of a convolution, each one kernel family:
 *   forward          y = conv(x, w)           (out = y,  a = x,  b = w)   overwrites y
 *   backward_input   dx += conv^T(dy, w)      (out = dx, a = dy, b = w)   accumulates
 *   backward_filter  dw += corr(x, dy)        (out = dw, a = dy, b = x)   accumulates
 * A transposed convolution runs them with its roles swapped: its forward is backward_input (its
 * x as dy, its y as dx), its input gradient is forward, its filter gradient backward_filter with
 * its dy as the conv's x and its x as the conv's dy.
 */
export type ConvPass = "forward" | "backward_input" | "backward_filter";
export const CONV_PASSES: readonly ConvPass[] = ["forward", "backward_input", "backward_filter"];

/** What an algorithm's choice and workspace may depend on besides the geometry: the wasm build and the thread count. */
export interface ConvTarget {
  /** The wasm build: SIMD-only algorithms are not eligible in the scalar build. */
  readonly build: BuildName;
  /** Threads of the engine (1 + its workers): parts of a split call each take their own workspace. */
  readonly threads: number;
}

/**
 * One way to compute some passes of a convolution. The registry (CONV_ALGORITHMS) lists them in
 * order of preference; chooseConvAlgorithm takes the first that is `eligible`.
 * - `supports`: the algorithm computes this pass of this geometry correctly (tests force every
 *   supporting algorithm and compare it with the float64 reference).
 * - `eligible`: supports it and is the one to run by the shape rules measured for it.
 * - `workspaceBytes`: the scratch `run` needs, for an engine of `target` (its threads: each part
 *   of a split call has its own); 0 for none.
 * Both decide from the geometry, the build and the thread count alone, never from the heap.
 * - `run`: the pass on pointers (byte addresses): `out` as the pass defines it (see ConvPass),
 *   `workspace` 16-byte aligned with workspaceBytes(pass, g, convTarget(e)) bytes (an engine's
 *   threads never grow, so a workspace sized for it stays large enough). Never allocates.
 */
export interface ConvAlgorithm {
  readonly name: string;
  readonly passes: readonly ConvPass[];
  /** The kernels `run` splits over threads (its row of CONV_THREADED_KERNELS, src/ops/conv2d_kernels.ts). */
  readonly threadedKernels: readonly ConvThreadedKernel[];
  supports(pass: ConvPass, g: ConvGeometry, target: ConvTarget): boolean;
  eligible(pass: ConvPass, g: ConvGeometry, target: ConvTarget): boolean;
  workspaceBytes(pass: ConvPass, g: ConvGeometry, target: ConvTarget): number;
  run(e: Engine, pass: ConvPass, g: ConvGeometry, out: number, a: number, b: number, workspace: number): void;
}

/** Multiply-adds of one pass of the conv (each of forward, backward_input, backward_filter). */
export const convWork = (g: ConvGeometry): number => g.n * g.oh * g.ow * g.oc * g.kh * g.kw * (g.c / g.groups);

/** True when every group has one input and one output channel. */
export const isDepthwise = (g: ConvGeometry): boolean => g.c === g.groups && g.oc === g.groups;

/** Bytes of `floats` f32 values, rounded up to 16 bytes (each piece of a workspace starts aligned). */
export const floatBytes = (floats: number): number => Math.ceil(floats / 4) * 16;

// ---------------------------------------------------------------------------------------------
// geometry from attributes

/** The largest value the kernels' i32 sizes and indices hold. */
export const I32_MAX = 2 ** 31 - 1;

function pair(op: string, name: string, v: number | readonly number[] | undefined, dflt: number, min: number): [number, number] {
  if (v === undefined) return [dflt, dflt];
  const arr = typeof v === "number" ? [v, v] : v;
  if (!Array.isArray(arr) || arr.length !== 2) fail(op, `${name} must be a number or [h, w], got ${fmtValue(v)}`);
  return [checkInt32(op, `${name}[0]`, arr[0]!, min), checkInt32(op, `${name}[1]`, arr[1]!, min)];
}

/** An integer >= min that the kernels can hold in an i32. */
function checkInt32(op: string, name: string, v: number, min: number): number {
  checkInt(op, name, v, min);
  if (v > I32_MAX) fail(op, `${name} ${v} is beyond the 32-bit range the kernels index with (at most ${I32_MAX})`);
  return v;
}

/** A size derived from the arguments that must fit in an i32 (an element count, a padded extent). */
function checkDerived(op: string, what: string, v: number, context: string): void {
  if (v > I32_MAX) fail(op, `${what} ${v} is beyond the 32-bit range the kernels index with (at most ${I32_MAX}): ${context}`);
}

function explicitPads(op: string, v: Conv2dAttributes["pads"]): [number, number, number, number] {
  if (v === undefined) return [0, 0, 0, 0];
  const arr = typeof v === "number" ? [v, v, v, v] : v;
  if (!Array.isArray(arr) || arr.length !== 4) fail(op, `pads must be a number or [top, left, bottom, right], got ${fmtValue(v)}`);
  return arr.map((p, i) => checkInt32(op, `pads[${i}]`, p, 0)) as [number, number, number, number];
}

function autoPadOf(op: string, options: Conv2dAttributes): AutoPad {
  const a = options.autoPad ?? "NOTSET";
  if (!["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].includes(a)) {
    fail(op, `autoPad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got ${fmtValue(a)}`);
  }
  if (a !== "NOTSET" && options.pads !== undefined) fail(op, `pads cannot be given with autoPad ${a}`);
  return a;
}

const product = (s: readonly number[]) => s.reduce((a, d) => a * d, 1);

/** Checks the element counts of x, w and y (the kernels index them with i32). */
function checkCounts(op: string, g: ConvGeometry, xName: string, yName: string): void {
  const shapes: [string, number[]][] = [
    [xName, [g.n, g.h, g.w, g.c]],
    ["w", [g.kh, g.kw, g.c / g.groups, g.oc]],
    [yName, [g.n, g.oh, g.ow, g.oc]],
  ];
  for (const [name, s] of shapes) checkDerived(op, `the element count of ${name} ${fmtShape(s)}`, product(s), "too large a tensor");
}

/**
 * The geometry of conv2d(x, w) (ONNX Conv: pads, autoPad, strides, dilations, groups), checked:
 * ranks, channel counts against groups, a kernel that fits the padded input, and every size in
 * the 32-bit range the kernels index with. `op` names the caller in errors.
 */
export function convGeometry(op: string, xShape: Shape, wShape: Shape, options: Conv2dAttributes): ConvGeometry {
  checkOptions(op, "options", options);
  checkShapeArg(op, "x", xShape, { rank: 4 });
  checkShapeArg(op, "w", wShape, { rank: 4 });
  const [n, h, w, c] = xShape as [number, number, number, number];
  const [kh, kw, cg, oc] = wShape as [number, number, number, number];
  const groups = checkInt32(op, "groups", options.groups ?? 1, 1);
  const [sh, sw] = pair(op, "strides", options.strides, 1, 1);
  const [dh, dw] = pair(op, "dilations", options.dilations, 1, 1);
  const autoPad = autoPadOf(op, options);
  if (c % groups !== 0) fail(op, `groups ${groups} does not divide the ${c} channels of x ${fmtShape(xShape)}`);
  if (oc % groups !== 0) fail(op, `groups ${groups} does not divide the ${oc} output channels of w ${fmtShape(wShape)}`);
  if (cg * groups !== c) {
    fail(op, `x ${fmtShape(xShape)} has ${c} channels but w ${fmtShape(wShape)} expects ${cg * groups} (${cg} per group x ${groups} groups)`);
  }
  for (const [name, v] of [
    ["x", xShape],
    ["w", wShape],
  ] as const) {
    v.forEach((d, i) => checkDerived(op, `${name}[${i}]`, d, `${name} ${fmtShape(v)}`));
  }
  let [pt, pl, pb, pr] = explicitPads(op, options.pads);
  const ekh = (kh - 1) * dh + 1,
    ekw = (kw - 1) * dw + 1; // dilated kernel extent
  const context = `w ${fmtShape(wShape)}, dilations [${dh},${dw}]`;
  checkDerived(op, "the dilated kernel height", ekh, context);
  checkDerived(op, "the dilated kernel width", ekw, context);
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    const same = (len: number, s: number, ek: number): [number, number] => {
      const total = Math.max(0, (Math.ceil(len / s) - 1) * s + ek - len);
      const small = Math.floor(total / 2);
      return autoPad === "SAME_UPPER" ? [small, total - small] : [total - small, small];
    };
    [pt, pb] = same(h, sh, ekh);
    [pl, pr] = same(w, sw, ekw);
  }
  const padded = `x ${fmtShape(xShape)}, pads [${pt},${pl},${pb},${pr}]`;
  checkDerived(op, "the padded input height", h + pt + pb, padded);
  checkDerived(op, "the padded input width", w + pl + pr, padded);
  if (h + pt + pb < ekh || w + pl + pr < ekw) {
    fail(
      op,
      `kernel ${kh}x${kw} (dilated ${ekh}x${ekw}) of w ${fmtShape(wShape)} is larger than the padded input ` +
        `${h + pt + pb}x${w + pl + pr} (x ${fmtShape(xShape)}, pads [${pt},${pl},${pb},${pr}])`,
    );
  }
  const oh = Math.floor((h + pt + pb - ekh) / sh) + 1;
  const ow = Math.floor((w + pl + pr - ekw) / sw) + 1;
  const g: ConvGeometry = { n, h, w, c, oh, ow, oc, kh, kw, sh, sw, pt, pl, dh, dw, groups };
  checkCounts(op, g, "x", "y");
  return g;
}

/**
 * The geometry of convTranspose2d(x, w) (ONNX ConvTranspose), as the conv it is the transpose of:
 * the conv's input is this op's output (n, h, w, c = Cout) and the conv's output is this op's
 * input (oh, ow, oc = Cin). Checked as convGeometry.
 */
export function convTransposeGeometry(op: string, xShape: Shape, wShape: Shape, options: ConvTranspose2dAttributes): ConvGeometry {
  checkOptions(op, "options", options);
  checkShapeArg(op, "x", xShape, { rank: 4 });
  checkShapeArg(op, "w", wShape, { rank: 4 });
  const [n, ih, iw, cin] = xShape as [number, number, number, number];
  const [kh, kw, coutg, wcin] = wShape as [number, number, number, number];
  const groups = checkInt32(op, "groups", options.groups ?? 1, 1);
  const [sh, sw] = pair(op, "strides", options.strides, 1, 1);
  const [dh, dw] = pair(op, "dilations", options.dilations, 1, 1);
  const [oph, opw] = pair(op, "outputPadding", options.outputPadding, 0, 0);
  const autoPad = autoPadOf(op, options);
  if (wcin !== cin) fail(op, `x ${fmtShape(xShape)} has ${cin} channels but w ${fmtShape(wShape)} expects ${wcin} (w is [KH,KW,Cout/groups,Cin])`);
  if (cin % groups !== 0) fail(op, `groups ${groups} does not divide the ${cin} channels of x ${fmtShape(xShape)}`);
  if (oph >= Math.max(sh, dh) || opw >= Math.max(sw, dw)) {
    fail(op, `outputPadding [${oph},${opw}] must be smaller than the stride [${sh},${sw}] or the dilation [${dh},${dw}]`);
  }
  for (const [name, v] of [
    ["x", xShape],
    ["w", wShape],
  ] as const) {
    v.forEach((d, i) => checkDerived(op, `${name}[${i}]`, d, `${name} ${fmtShape(v)}`));
  }
  const c = coutg * groups;
  const natural = (len: number, s: number, k: number, d: number, op_: number) => s * (len - 1) + op_ + (k - 1) * d + 1;
  const nh = natural(ih, sh, kh, dh, oph),
    nw = natural(iw, sw, kw, dw, opw);
  const context = `x ${fmtShape(xShape)}, w ${fmtShape(wShape)}, strides [${sh},${sw}], dilations [${dh},${dw}]`;
  checkDerived(op, "the unpadded output height", nh, context);
  checkDerived(op, "the unpadded output width", nw, context);
  let pt: number, pl: number, pb: number, pr: number;
  let target: [number, number] | undefined;
  if (options.outputShape !== undefined) {
    const os = options.outputShape;
    if (!Array.isArray(os) || os.length !== 2) fail(op, `outputShape must be [height, width], got ${fmtValue(os)}`);
    target = [checkInt32(op, "outputShape[0]", os[0], 1), checkInt32(op, "outputShape[1]", os[1], 1)];
  } else if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    target = [ih * sh, iw * sw];
    checkDerived(op, "the output height (input x stride)", target[0], context);
    checkDerived(op, "the output width (input x stride)", target[1], context);
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
  const g: ConvGeometry = { n, h, w, c, oh: ih, ow: iw, oc: cin, kh, kw, sh, sw, pt, pl, dh, dw, groups };
  checkCounts(op, g, "y", "x");
  return g;
}

// ---------------------------------------------------------------------------------------------
// the kernels' parameter block

/**
 * A work part of one kernel call, written after the geometry (the "conv" parameter block,
 * src/kernels/params.ts): row and output-channel ranges, as each kernel family defines them, and
 * whether a shared workspace the part reads is ready. Unset ranges mean "all".
 */
export interface ConvPart {
  rowBegin?: number;
  rowEnd?: number;
  ocBegin?: number;
  ocEnd?: number;
  ready?: boolean;
}

/**
 * Writes g (and a work part, when given) into the engine's parameter block of part t (each part
 * of a threaded call reads its own) and returns the block's address.
 */
export function convParams(e: Engine, g: ConvGeometry, t = 0, part?: ConvPart): number {
  const at = e.paramBlockFor(t);
  writeConvParams(e.heap.i32, at, {
    n: g.n,
    h: g.h,
    w: g.w,
    c: g.c,
    oh: g.oh,
    ow: g.ow,
    oc: g.oc,
    kh: g.kh,
    kw: g.kw,
    sh: g.sh,
    sw: g.sw,
    pt: g.pt,
    pl: g.pl,
    dh: g.dh,
    dw: g.dw,
    groups: g.groups,
    partition: part ? PARTITION_MAGIC : 0,
    rowBegin: part?.rowBegin ?? 0,
    rowEnd: part?.rowEnd ?? I32_MAX,
    ocBegin: part?.ocBegin ?? 0,
    ocEnd: part?.ocEnd ?? I32_MAX,
    ready: part?.ready ? 1 : 0,
  });
  return at;
}
