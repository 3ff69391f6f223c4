// Resize (opsets 10-19+) and Upsample (7, 9) on wasm kernels, in any axis order (an image after a
// conv stays channels-last: the resized axes are found wherever they lie in memory).
//   nearest         one remap (assembly/remap.ts): each output index reads one input index per axis
//   linear (2-d)    one pass over both axes in onnxruntime's order of operations (resize_f32_bilinear)
//                   where onnxruntime resizes bilinearly ([H, W], [N, C, H, W], [N, H, W, C])
//   linear, cubic   one separable pass per resized axis (assembly/resize.ts), each output index a
//                   weighted sum of `taps` input indices; antialias widens the filter when shrinking
// The per-axis index and weight tables are computed here in float64 the way ONNX's reference
// implementation does (onnx/reference/ops/op_resize.py), once per plan. Opset <= 10 (Upsample,
// Resize-10) maps coordinates as "asymmetric" and rounds nearest as onnxruntime does there
// (down when enlarging, up when shrinking).
import { fail, fmtShape } from "../../errors.js";
import type { Attributes } from "../../onnx/attributes.js";
import { dataTypeName } from "../../onnx/onnx-proto.js";
import { ND_DESC_BYTES, writeNd } from "../nd.js";
import { buildRemap, remapWordsBound } from "../remap.js";
import { type BoundNode, followInput0, type GradientBuilder, type InferContext, type PlanNode, registerOp, type TensorType } from "../registry.js";
import { type HostTensor, isFloat, sizeOfDims } from "../types.js";
import { checkDims, elementBits, type Known, knownOf, knownOfGrad, remapAxes } from "./movement.js";
import { normAxis } from "./util.js";

export type ResizeMode = "nearest" | "linear" | "cubic";
export type CoordinateMode =
  | "half_pixel"
  | "half_pixel_symmetric"
  | "pytorch_half_pixel"
  | "align_corners"
  | "asymmetric"
  | "tf_half_pixel_for_nn"
  | "tf_crop_and_resize";
export type NearestMode = "round_prefer_floor" | "round_prefer_ceil" | "floor" | "ceil" | "simple";

export interface ResizeAttrs {
  mode: ResizeMode;
  coordinate: CoordinateMode;
  nearest: NearestMode;
  cubicA: number;
  excludeOutside: boolean;
  antialias: boolean;
  extrapolation: number;
  axes?: number[];
  keepAspect: "stretch" | "not_larger" | "not_smaller";
  /** Input indices of roi, scales and sizes (-1: none); Upsample-7 has its scales here instead. */
  roiInput: number;
  scalesInput: number;
  sizesInput: number;
  scales?: number[];
}

const COORDINATE_MODES: readonly string[] = [
  "half_pixel",
  "half_pixel_symmetric",
  "pytorch_half_pixel",
  "align_corners",
  "asymmetric",
  "tf_half_pixel_for_nn",
  "tf_crop_and_resize",
];
const NEAREST_MODES: readonly string[] = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"];

function modeOf(at: Attributes): ResizeMode {
  const m = at.string("mode", "nearest");
  if (m === "bilinear") return "linear"; // Upsample-1's name
  if (m !== "nearest" && m !== "linear" && m !== "cubic") fail(at.where, `mode "${m}" is not nearest, linear or cubic`);
  return m;
}

function parseResize(at: Attributes, opset: number): ResizeAttrs {
  const mode = modeOf(at);
  const old = opset <= 10;
  const coordinate = (old ? "asymmetric" : at.string("coordinate_transformation_mode", "half_pixel")) as CoordinateMode;
  if (!COORDINATE_MODES.includes(coordinate)) fail(at.where, `coordinate_transformation_mode "${coordinate}" is not one of ${COORDINATE_MODES.join(", ")}`);
  const nearest = (old ? "simple" : at.string("nearest_mode", "round_prefer_floor")) as NearestMode;
  if (!old && !NEAREST_MODES.includes(nearest)) fail(at.where, `nearest_mode "${nearest}" is not one of ${NEAREST_MODES.join(", ")}`);
  const antialias = at.int("antialias", 0) !== 0;
  if (antialias && mode === "nearest") fail(at.where, "antialias applies to linear and cubic modes only");
  const keepAspect = at.string("keep_aspect_ratio_policy", "stretch");
  if (!["stretch", "not_larger", "not_smaller"].includes(keepAspect))
    fail(at.where, `keep_aspect_ratio_policy "${keepAspect}" is not stretch, not_larger or not_smaller`);
  return {
    mode,
    coordinate,
    nearest,
    antialias,
    cubicA: at.float("cubic_coeff_a", -0.75),
    excludeOutside: at.int("exclude_outside", 0) !== 0,
    extrapolation: at.float("extrapolation_value", 0),
    axes: at.ints("axes"),
    keepAspect: keepAspect as ResizeAttrs["keepAspect"],
    roiInput: old ? -1 : 1,
    scalesInput: old ? 1 : 2,
    sizesInput: old ? -1 : 3,
  };
}

/** Per logical axis: input and output length, the scale coordinates use, its crop box. */
export interface AxisPlan {
  inLen: number;
  outLen: number;
  scale: number;
  /** Whether the scale was given as a float32 (ONNX's reference then sizes the output in float32). */
  f32Scale: boolean;
  roiStart: number;
  roiEnd: number;
}

const present = (t: HostTensor | undefined): HostTensor | undefined => (t && t.data.length > 0 ? t : undefined);

/** The output shape and per-axis plan of a Resize/Upsample from its attributes and known inputs. */
export function resizePlan(c: Known<ResizeAttrs>, shape: readonly number[]): AxisPlan[] {
  const a = c.attrs,
    r = shape.length;
  const axes = a.axes ? a.axes.map((x) => normAxis(c, x, r)) : shape.map((_, i) => i);
  if (new Set(axes).size !== axes.length) c.fail(`axes [${axes.join(",")}] repeat an axis`);
  const scalesT = a.scales ? undefined : present(a.scalesInput >= 0 ? c.value(a.scalesInput) : undefined);
  const sizesT = present(a.sizesInput >= 0 ? c.value(a.sizesInput) : undefined);
  const given = a.scales ?? (scalesT ? Array.from(scalesT.data) : undefined);
  if (given && sizesT) c.fail("give scales or sizes, not both");
  if (!given && !sizesT) c.fail("needs scales or sizes");
  const plan: AxisPlan[] = shape.map((d) => ({ inLen: d, outLen: d, scale: 1, f32Scale: false, roiStart: 0, roiEnd: 1 }));
  if (given) {
    if (given.length !== axes.length) c.fail(`scales has ${given.length} values for ${axes.length} axes of ${fmtShape(shape)}`);
    axes.forEach((ax, i) => {
      const s = given[i]!;
      if (!(s > 0) || !Number.isFinite(s)) c.fail(`scale ${s} (axis ${ax}) must be a positive finite number`);
      // float32 product, truncated, as onnxruntime sizes it (scale 2.6 on 5: 13, not float64's 12)
      plan[ax] = { ...plan[ax]!, scale: s, f32Scale: true, outLen: Math.floor(Math.fround(Math.fround(s) * Math.fround(shape[ax]!))) };
    });
  } else {
    const sizes = Array.from(sizesT!.data, (v) => Math.trunc(v));
    if (sizes.length !== axes.length) c.fail(`sizes has ${sizes.length} values for ${axes.length} axes of ${fmtShape(shape)}`);
    axes.forEach((ax, i) => {
      const o = sizes[i]!;
      if (o < 0) c.fail(`size ${o} (axis ${ax}) is negative`);
      if (shape[ax] === 0 && o !== 0) c.fail(`axis ${ax} of ${fmtShape(shape)} is empty and cannot be resized to ${o}`);
      plan[ax] = { ...plan[ax]!, outLen: o, scale: shape[ax] === 0 ? 1 : o / shape[ax]! };
    });
    if (a.keepAspect !== "stretch") {
      const ss = axes.map((ax) => plan[ax]!.scale);
      const s = a.keepAspect === "not_larger" ? Math.min(...ss) : Math.max(...ss);
      for (const ax of axes) plan[ax] = { ...plan[ax]!, scale: s, outLen: Math.floor(s * shape[ax]! + 0.5) };
    }
  }
  if (a.coordinate === "tf_crop_and_resize") {
    const roi = present(a.roiInput >= 0 ? c.value(a.roiInput) : undefined) ?? c.fail("tf_crop_and_resize needs roi");
    if (roi.data.length !== 2 * axes.length) c.fail(`roi has ${roi.data.length} values for ${axes.length} axes (2 per axis)`);
    axes.forEach((ax, i) => (plan[ax] = { ...plan[ax]!, roiStart: roi.data[i]!, roiEnd: roi.data[i + axes.length]! }));
  }
  checkDims(
    c,
    plan.map((p) => p.outLen),
    given ? `scales [${given.join(",")}]` : `sizes [${Array.from(sizesT!.data).join(",")}]`,
  );
  return plan;
}

// ---------------------------------------------------------------------------------------------
// coordinates and weights (float64, as ONNX's reference)

const f32 = Math.fround;

/**
 * The input coordinate of output index o along an axis, or NaN outside the crop (tf_crop_and_resize).
 * The scale-based modes compute in float32 as onnxruntime does (so nearest picks the same pixel at
 * ties); align_corners and tf_crop_and_resize follow ONNX's reference, whose conformance cases
 * divide by scale * input length (non-integral when a scale is given) where onnxruntime divides by
 * the output length.
 */
export function sourceCoordinate(mode: CoordinateMode, o: number, p: AxisPlan): number {
  const inLen = p.inLen,
    s = f32(p.scale);
  // the reference's output_width = scale * input_width: float32 when the scale was given as one
  const width = p.f32Scale ? f32(p.scale * inLen) : p.scale * inLen;
  const widthLess1 = p.f32Scale ? f32(width - 1) : width - 1;
  switch (mode) {
    case "asymmetric":
      return f32(o / s);
    case "half_pixel":
      return f32(f32(f32(o + 0.5) / s) - 0.5);
    case "tf_half_pixel_for_nn":
      return f32(f32(o + 0.5) / s);
    case "pytorch_half_pixel":
      return p.outLen > 1 ? f32(f32(f32(o + 0.5) / s) - 0.5) : 0;
    case "align_corners":
      return width === 1 ? 0 : (o * (inLen - 1)) / widthLess1;
    case "half_pixel_symmetric": {
      const w32 = f32(s * inLen);
      const adjustment = f32(p.outLen / w32);
      const offset = f32(f32(inLen / 2) * f32(1 - adjustment));
      return f32(offset + ((o + 0.5) / s - 0.5));
    }
    case "tf_crop_and_resize": {
      const span = f32(p.roiEnd - p.roiStart);
      let x = width === 1 ? (span * (inLen - 1)) / 2 : (o * span * (inLen - 1)) / widthLess1;
      x += f32(p.roiStart * (inLen - 1));
      return x < 0 || x > inLen - 1 ? Number.NaN : x;
    }
  }
}

/**
 * The taps of output index o: input indices (clamped into the axis) and weights, following the
 * reference: the n nearest indices around the coordinate (the left one preferred), weights from
 * the mode's filter at the fractional position, exclude_outside zeroing taps beyond the axis.
 */
export function taps(a: ResizeAttrs, o: number, p: AxisPlan): { src: number[]; w: number[] } | undefined {
  const x = sourceCoordinate(a.coordinate, o, p);
  if (Number.isNaN(x)) return undefined;
  const isInt = Number.isInteger(x);
  const left = isInt ? x - 1 : Math.floor(x); // the reference's ratio lies in (0, 1]
  const ratio = isInt ? 1 : x - left;
  let w: number[];
  if (a.mode === "nearest") {
    const up =
      a.nearest === "simple"
        ? (p.scale < 1 ? Math.ceil(x) : Math.trunc(x)) - left === 1
        : isInt || (a.nearest === "round_prefer_floor" ? ratio > 0.5 : a.nearest === "round_prefer_ceil" ? ratio >= 0.5 : a.nearest === "ceil");
    w = up ? [0, 1] : [1, 0];
  } else if (a.mode === "linear") {
    w = a.antialias ? linearAntialias(ratio, Math.min(p.scale, 1)) : [1 - ratio, ratio];
  } else {
    w = a.antialias ? cubicAntialias(ratio, Math.min(p.scale, 1), a.cubicA) : cubic(ratio, a.cubicA);
  }
  const n = w.length,
    half = n / 2;
  // the window of n indices, kept inside the reference's edge-padded range [-half, inLen + half)
  let start = left - half + 1;
  start = Math.max(start, -half);
  start = Math.min(start, p.inLen + half - n);
  const idx = Array.from({ length: n }, (_, i) => start + i);
  if (a.excludeOutside) {
    w = w.map((v, i) => (idx[i]! < 0 || idx[i]! >= p.inLen ? 0 : v));
    const sum = w.reduce((s, v) => s + v, 0);
    w = w.map((v) => v / sum);
  }
  return { src: idx.map((i) => Math.min(Math.max(i, 0), p.inLen - 1)), w };
}

function cubic(r: number, A: number): number[] {
  const s = 1 - r;
  return [
    ((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A,
    ((A + 2) * r - (A + 3)) * r * r + 1,
    ((A + 2) * s - (A + 3)) * s * s + 1,
    ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A,
  ];
}

function cubicAntialias(r: number, s: number, A: number): number[] {
  const f = (v: number) => {
    const x = Math.abs(v),
      x2 = x * x,
      x3 = x2 * x;
    if (x <= 1) return (A + 2) * x3 - (A + 3) * x2 + 1;
    if (x < 2) return A * x3 - 5 * A * x2 + 8 * A * x - 4 * A;
    return 0;
  };
  const first = Math.floor(-2 / s) + 1,
    last = 2 - first;
  const c: number[] = [];
  for (let i = first; i < last; i++) c.push(f(s * (i - r)));
  const sum = c.reduce((a, b) => a + b, 0);
  return c.map((v) => v / sum);
}

function linearAntialias(r: number, s: number): number[] {
  const first = Math.floor(-1 / s) + 1,
    n = 2 - 2 * first;
  const c = Array.from({ length: n }, (_, i) => Math.min(Math.max(1 - Math.abs((first + i - r) * s), 0), 1));
  const sum = c.reduce((a, b) => a + b, 0);
  return c.map((v) => v / sum);
}

/** Nearest: the input index each output index reads along an axis (-1: outside the crop). */
export function nearestSource(a: ResizeAttrs, p: AxisPlan): Int32Array {
  return Int32Array.from({ length: p.outLen }, (_, o) => {
    const t = taps(a, o, p);
    if (!t) return -1;
    return t.w[0]! > t.w[1]! ? t.src[0]! : t.src[1]!;
  });
}

/** Taps per output index along an axis: the width of its table rows (from the scale alone). */
export function tapCount(a: ResizeAttrs, p: AxisPlan): number {
  const s = Math.min(p.scale, 1);
  if (a.mode === "nearest") return 2;
  if (a.mode === "linear") return a.antialias ? 2 - 2 * (Math.floor(-1 / s) + 1) : 2;
  return a.antialias ? 2 - 2 * (Math.floor(-2 / s) + 1) : 4;
}

const IDENTITY_MODES: readonly CoordinateMode[] = ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric"];

/** Whether an axis leaves every index where it is (same length, scale 1, a coordinate map that is then the identity). */
const identityAxis = (a: ResizeAttrs, p: AxisPlan): boolean => p.inLen === p.outLen && f32(p.scale) === 1 && IDENTITY_MODES.includes(a.coordinate);

/**
 * The logical axes a linear / cubic resize resamples over a value in axis order `perm`, in pass
 * order: shrinking axes first (the cheaper order); at equal ratios the physically last axis (the
 * slower pass, along contiguous elements) runs where the value is smaller: first when growing, last
 * when shrinking.
 */
export function passAxes(a: ResizeAttrs, plan: readonly AxisPlan[], perm: readonly number[]): number[] {
  const ratio = (i: number) => plan[i]!.outLen / Math.max(plan[i]!.inLen, 1);
  const last = perm[perm.length - 1];
  const slow = (i: number) => (i !== last ? 0 : ratio(i) > 1 ? -1 : 1);
  return plan
    .map((_, i) => i)
    .filter((i) => !identityAxis(a, plan[i]!))
    .sort((p, q) => ratio(p) - ratio(q) || slow(p) - slow(q) || p - q);
}

/** Bytes of an axis's table, 16-byte aligned. */
export const tableBytes = (a: ResizeAttrs, p: AxisPlan): number => Math.ceil((p.outLen * tapCount(a, p) * 8) / 16) * 16;

/**
 * An axis's pass table for resize_f32_forward / _backward: per output index, tapCount pairs
 * (i32 input index, f32 weight); a first index of -1 marks an output outside the crop.
 */
export function passTable(a: ResizeAttrs, p: AxisPlan): Int32Array {
  const n = tapCount(a, p);
  const table = new ArrayBuffer(p.outLen * n * 8);
  const iv = new Int32Array(table),
    fv = new Float32Array(table);
  for (let o = 0; o < p.outLen; o++) {
    const t = taps(a, o, p);
    if (t && t.w.length !== n) throw new Error(`internal: ${t.w.length} taps where ${n} were planned`);
    for (let k = 0; k < n; k++) {
      const at = 2 * (o * n + k);
      iv[at] = t ? t.src[k]! : k === 0 ? -1 : 0;
      fv[at + 1] = t ? t.w[k]! : 0;
    }
  }
  return iv;
}

/** The physical [outer, len, inner] view of each pass over a value of `perm`, dims updated pass by pass. */
export function passGeometry(
  axes: readonly number[],
  plan: readonly AxisPlan[],
  perm: readonly number[],
  inShape: readonly number[],
): { outer: number; inner: number; before: number; after: number }[] {
  const cur = [...inShape];
  return axes.map((axis) => {
    const phys = perm.map((a) => cur[a]!);
    const j = perm.indexOf(axis);
    const outer = sizeOfDims(phys.slice(0, j)),
      inner = sizeOfDims(phys.slice(j + 1));
    const before = sizeOfDims(cur);
    cur[axis] = plan[axis]!.outLen;
    return { outer, inner, before, after: sizeOfDims(cur) };
  });
}

/** Parameter bytes of the separable passes (their tables; a copy descriptor when there is none). */
export function separableParamBytes(a: ResizeAttrs, plan: readonly AxisPlan[]): number {
  return Math.max(
    ND_DESC_BYTES,
    plan.reduce((s, p, ax) => s + (identityAxis(a, p) ? 0 : tableBytes(a, plan[ax]!)), 0),
  );
}

/** A value as the passes see it: its logical shape and axis order. */
export interface Laid {
  readonly shape: readonly number[];
  readonly perm: readonly number[];
}

/** Bytes of the intermediates between the separable passes (two alternating buffers), 16-byte aligned. */
export function intermediateBytes(a: ResizeAttrs, plan: readonly AxisPlan[], x: Laid): number {
  const g = passGeometry(passAxes(a, plan, x.perm), plan, x.perm, x.shape);
  const mid = g.slice(0, -1).map((p) => p.after);
  if (mid.length === 0) return 0;
  return Math.ceil((4 * (mid.length === 1 ? mid[0]! : 2 * Math.max(...mid))) / 16) * 16;
}

/** resize_f32_forward's scratch after the intermediates: 16 bytes per input index of a pass along contiguous elements. */
export function passScratchBytes(a: ResizeAttrs, plan: readonly AxisPlan[], x: Laid): number {
  const axes = passAxes(a, plan, x.perm);
  const g = passGeometry(axes, plan, x.perm, x.shape);
  return Math.max(0, ...axes.map((ax, i) => (g[i]!.inner === 1 ? 16 * plan[ax]!.inLen : 0)));
}

/**
 * Writes the pass tables into `n.params` and returns each pass's kernel arguments: where it reads
 * (x at xp, or an intermediate in `n.workspace`) and writes (an intermediate, or y at yp), its
 * table and geometry.
 */
export function bindPasses(
  a: ResizeAttrs,
  n: Pick<BoundNode<unknown>, "engine" | "params" | "workspace">,
  plan: readonly AxisPlan[],
  x: Laid,
  xp: number,
  yp: number,
) {
  const axes = passAxes(a, plan, x.perm);
  const geo = passGeometry(axes, plan, x.perm, x.shape);
  const mid = geo.slice(0, -1).map((g) => g.after);
  const half = mid.length > 1 ? Math.max(...mid) * 4 : 0;
  const ws = n.workspace + intermediateBytes(a, plan, x);
  const i32 = n.engine.heap.i32;
  let at = n.params;
  return axes.map((axis, i) => {
    const p = plan[axis]!;
    i32.set(passTable(a, p), at >> 2);
    const table = at;
    at += tableBytes(a, p);
    const src = i === 0 ? xp : n.workspace + ((i - 1) % 2) * half;
    const dst = i === axes.length - 1 ? yp : n.workspace + (i % 2) * half;
    const g = geo[i]!;
    return { src, dst, table, ws, outer: g.outer, inLen: p.inLen, outLen: p.outLen, inner: g.inner, taps: tapCount(a, p), before: g.before };
  });
}

// ---------------------------------------------------------------------------------------------
// bilinear in one pass, as onnxruntime computes it

/**
 * The two logical axes a one-pass bilinear resize covers, where onnxruntime's CPU kernel resizes
 * bilinearly (an image [H, W], or [N, C, H, W] / [N, H, W, C] with N and C kept): the resized
 * axes must lie among them. undefined: the separable passes apply.
 */
export function bilinearPair(a: ResizeAttrs, plan: readonly AxisPlan[]): [number, number] | undefined {
  if (a.mode !== "linear" || a.antialias || a.excludeOutside || a.coordinate === "tf_crop_and_resize") return undefined;
  const moving = plan.map((_, i) => i).filter((i) => !identityAxis(a, plan[i]!));
  if (moving.length === 0) return undefined;
  const pairs: [number, number][] =
    plan.length === 2
      ? [[0, 1]]
      : plan.length === 4
        ? [
            [2, 3],
            [1, 2],
          ]
        : [];
  return pairs.find(([u, v]) => moving.every((m) => m === u || m === v));
}

/**
 * An axis's table for resize_f32_bilinear, with onnxruntime's weights: the coordinate (the output
 * index itself at scale 1) clamped into [0, inLen - 1], taps i1 = trunc and i2 = min(i1 + 1,
 * inLen - 1) weighted |c - i2| and |c - i1| in float32, or 0.5 and 0.5 when i1 = i2.
 */
export function bilinearTable(a: ResizeAttrs, p: AxisPlan): Int32Array {
  const table = new ArrayBuffer(p.outLen * 16);
  const iv = new Int32Array(table),
    fv = new Float32Array(table);
  const last = p.inLen - 1;
  for (let o = 0; o < p.outLen; o++) {
    const raw = f32(p.scale) === 1 ? o : sourceCoordinate(a.coordinate, o, p);
    const c = Math.max(0, Math.min(raw, last));
    const i1 = Math.min(Math.trunc(c), last),
      i2 = Math.min(i1 + 1, last);
    iv[4 * o] = i1;
    iv[4 * o + 2] = i2;
    fv[4 * o + 1] = i1 === i2 ? 0.5 : f32(Math.abs(c - i2));
    fv[4 * o + 3] = i1 === i2 ? 0.5 : f32(Math.abs(c - i1));
  }
  return iv;
}

const bilinearOf = (n: PlanNode<ResizeAttrs>) => (n.inputs[0]!.elem === "f32" ? bilinearPair(n.attrs, planOf(n)) : undefined);

// ---------------------------------------------------------------------------------------------
// the ops

const isNearest = (n: PlanNode<ResizeAttrs>) => n.attrs.mode === "nearest";

export function planOf(n: PlanNode<ResizeAttrs>): AxisPlan[] {
  return resizePlan(knownOf(n), n.inputs[0]!.shape);
}

const RESIZE_ALGORITHMS = [
  {
    name: "resize.nearest",
    eligible: isNearest,
    paramBytes: (n: PlanNode<ResizeAttrs>) => (n.outputs[0]!.size === 0 ? 0 : remapWordsBound(n.outputs[0]!.dims) * 4),
    setup(n: BoundNode<ResizeAttrs>) {
      if (n.outputs[0]!.size === 0) return () => {};
      n.engine.heap.i32.set(nearestWords(n, n.attrs.extrapolation), n.params >> 2);
      const k = n.kernels,
        yp = n.output(0),
        xp = n.input(0),
        plan = n.params;
      return () => k.remap_nd(yp, xp, plan);
    },
  },
  {
    name: "resize.bilinear",
    eligible: (n: PlanNode<ResizeAttrs>) => n.outputs[0]!.size > 0 && bilinearOf(n) !== undefined,
    paramBytes: (n: PlanNode<ResizeAttrs>) => 16 * (n.outputs[0]!.shape[bilinearOf(n)![0]]! + n.outputs[0]!.shape[bilinearOf(n)![1]]!),
    setup(n: BoundNode<ResizeAttrs>) {
      const x = n.inputs[0]!,
        plan = planOf(n),
        [u, v] = bilinearOf(n)!;
      const jU = x.perm.indexOf(u),
        jV = x.perm.indexOf(v);
      const jP = Math.min(jU, jV),
        jQ = Math.max(jU, jV);
      const P = plan[x.perm[jP]!]!,
        Q = plan[x.perm[jQ]!]!;
      const i32 = n.engine.heap.i32;
      const tP = n.params,
        tQ = n.params + 16 * P.outLen;
      i32.set(bilinearTable(n.attrs, P), tP >> 2);
      i32.set(bilinearTable(n.attrs, Q), tQ >> 2);
      const A = sizeOfDims(x.dims.slice(0, jP)),
        B = sizeOfDims(x.dims.slice(jP + 1, jQ)),
        C = sizeOfDims(x.dims.slice(jQ + 1));
      const qOuter = jU > jV ? 1 : 0;
      const k = n.kernels,
        yp = n.output(0),
        xp = n.input(0);
      return () => k.resize_f32_bilinear(yp, xp, tP, tQ, A, B, C, P.inLen, P.outLen, Q.inLen, Q.outLen, qOuter);
    },
  },
  {
    name: "resize.separable",
    paramBytes: (n: PlanNode<ResizeAttrs>) => (n.outputs[0]!.size === 0 ? 0 : separableParamBytes(n.attrs, planOf(n))),
    workspaceBytes: (n: PlanNode<ResizeAttrs>) =>
      n.outputs[0]!.size === 0 ? 0 : intermediateBytes(n.attrs, planOf(n), n.inputs[0]!) + passScratchBytes(n.attrs, planOf(n), n.inputs[0]!),
    setup(n: BoundNode<ResizeAttrs>) {
      const x = n.inputs[0]!,
        y = n.outputs[0]!;
      if (y.size === 0) return () => {};
      const k = n.kernels,
        yp = n.output(0),
        xp = n.input(0);
      const calls = bindPasses(n.attrs, n, planOf(n), x, xp, yp);
      if (calls.length === 0) {
        // every axis is the identity: a copy
        writeNd(n.engine.heap.i32, n.params, { dims: [y.size], strides: [[1], [1]] }, n.where);
        const desc = n.params;
        return () => k.copy_nd(yp, xp, desc);
      }
      const fill = n.attrs.extrapolation;
      return () => {
        for (const c of calls) k.resize_f32_forward(c.dst, c.src, c.table, c.ws, c.outer, c.inLen, c.outLen, c.inner, c.taps, fill);
      };
    },
  },
];

/** The remap of a nearest resize (fill: the extrapolation value, as bits of y's element kind). */
export function nearestWords(n: PlanNode<ResizeAttrs>, fill: number): Int32Array {
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const plan = planOf(n);
  const axes = remapAxes(x, y, (a) => nearestSource(n.attrs, plan[a]!));
  return buildRemap(axes, elementBits(y.elem, fill), n.where);
}

/** Output types; linear and cubic resizing need float values. */
function inferResize(c: InferContext<ResizeAttrs>): TensorType[] {
  const x = c.need(0, "X");
  if (c.attrs.mode !== "nearest" && !isFloat(x.dataType))
    c.fail(`${c.attrs.mode} resizing of ${dataTypeName(x.dataType)} tensors is not supported (nearest is)`);
  const plan = resizePlan(c, x.shape);
  return [{ dataType: x.dataType, shape: plan.map((p) => p.outLen) }];
}

/** Resize's and Upsample's gradient: the adjoint of the remap (nearest) or of the passes. */
function resizeGradient(g: GradientBuilder<ResizeAttrs>): void {
  if (!g.wants(0)) return;
  const x = g.x(0)!;
  const plan = resizePlan(knownOfGrad(g), x.shape);
  const dy = g.dy(0)!;
  if (g.attrs.mode === "nearest") g.add(0, g.op("RemapGrad", [dy], { shape: x.shape, src: plan.map((p) => nearestSource(g.attrs, p)) })[0]!);
  else g.add(0, g.op("ResizeGrad", [dy], { resize: g.attrs, plan, shape: x.shape })[0]!);
}

registerOp<ResizeAttrs>({
  type: "Resize",
  parse: parseResize,
  valueInputs: [1, 2, 3],
  infer: inferResize,
  layout: followInput0,
  gradient: resizeGradient,
  algorithms: RESIZE_ALGORITHMS,
});

registerOp<ResizeAttrs>({
  type: "Upsample",
  parse(at, opset) {
    const mode = modeOf(at);
    if (mode === "cubic") fail(at.where, "Upsample has no cubic mode");
    const scales = opset < 9 ? (at.floats("scales") ?? fail(at.where, "scales is required")) : undefined;
    return {
      mode,
      coordinate: "asymmetric",
      nearest: "simple",
      cubicA: -0.75,
      excludeOutside: false,
      antialias: false,
      extrapolation: 0,
      keepAspect: "stretch",
      roiInput: -1,
      scalesInput: opset < 9 ? -1 : 1,
      sizesInput: -1,
      scales,
    };
  },
  valueInputs: [1],
  infer: inferResize,
  layout: followInput0,
  gradient: resizeGradient,
  algorithms: RESIZE_ALGORITHMS,
});
