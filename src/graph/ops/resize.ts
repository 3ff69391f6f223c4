// Resize (opsets 10-19+) and Upsample (7, 9) on wasm kernels, in any axis order (an image after a
// conv stays channels-last: the resized axes are found wherever they lie in memory).
//   nearest         one remap (assembly/remap.ts): each output index reads one input index per axis
//   linear, cubic   one separable pass per resized axis (assembly/resize.ts), each output index a
//                   weighted sum of `taps` input indices; antialias widens the filter when shrinking
// The per-axis index and weight tables are computed here in float64 the way ONNX's reference
// implementation does (onnx/reference/ops/op_resize.py), once per plan. Opset <= 10 (Upsample,
// Resize-10) maps coordinates as "asymmetric" and rounds nearest as onnxruntime does there
// (down when enlarging, up when shrinking).
import { fail, fmtShape } from "../../errors.js";
import type { Attributes } from "../../onnx/attributes.js";
import { buildRemap } from "../remap.js";
import { type BoundNode, followInput0, type PlanNode, type PlanValue, registerOp } from "../registry.js";
import { ND_DESC_BYTES, writeNd } from "../nd.js";
import { type HostTensor, sizeOfDims } from "../types.js";
import { checkDims, elementBits, type Known, knownOf, remapAxes } from "./movement.js";
import { normAxis } from "./util.js";

export type ResizeMode = "nearest" | "linear" | "cubic";
export type CoordinateMode =
  | "half_pixel" | "half_pixel_symmetric" | "pytorch_half_pixel" | "align_corners" | "asymmetric" | "tf_half_pixel_for_nn" | "tf_crop_and_resize";
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

const COORDINATE_MODES: readonly string[] = ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"];
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
  if (!["stretch", "not_larger", "not_smaller"].includes(keepAspect)) fail(at.where, `keep_aspect_ratio_policy "${keepAspect}" is not stretch, not_larger or not_smaller`);
  return {
    mode, coordinate, nearest, antialias,
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
  const a = c.attrs, r = shape.length;
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
      plan[ax] = { ...plan[ax]!, scale: s, f32Scale: true, outLen: Math.floor(s * shape[ax]!) };
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
  checkDims(c, plan.map((p) => p.outLen), given ? `scales [${given.join(",")}]` : `sizes [${Array.from(sizesT!.data).join(",")}]`);
  return plan;
}

// ---------------------------------------------------------------------------------------------
// coordinates and weights (float64, as ONNX's reference)

const f32 = Math.fround;

/** The input coordinate of output index o along an axis, or NaN outside the crop (tf_crop_and_resize). */
export function sourceCoordinate(mode: CoordinateMode, o: number, p: AxisPlan): number {
  const s = p.scale, inLen = p.inLen;
  // the reference's output_width = scale * input_width: float32 when the scale was given as one
  const width = p.f32Scale ? f32(s * inLen) : s * inLen;
  const widthLess1 = p.f32Scale ? f32(width - 1) : width - 1;
  switch (mode) {
    case "asymmetric": return o / s;
    case "half_pixel": return (o + 0.5) / s - 0.5;
    case "tf_half_pixel_for_nn": return (o + 0.5) / s;
    case "pytorch_half_pixel": return width === 1 ? -0.5 : (o + 0.5) / s - 0.5;
    case "align_corners": return width === 1 ? 0 : (o * (inLen - 1)) / widthLess1;
    case "half_pixel_symmetric": {
      const adjustment = p.outLen / width;
      const offset = (inLen / 2) * (1 - adjustment);
      return offset + (o + 0.5) / s - 0.5;
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
    const up = a.nearest === "simple"
      ? (p.scale < 1 ? Math.ceil(x) : Math.trunc(x)) - left === 1
      : isInt || (a.nearest === "round_prefer_floor" ? ratio > 0.5 : a.nearest === "round_prefer_ceil" ? ratio >= 0.5 : a.nearest === "ceil");
    w = up ? [0, 1] : [1, 0];
  } else if (a.mode === "linear") {
    w = a.antialias ? linearAntialias(ratio, Math.min(p.scale, 1)) : [1 - ratio, ratio];
  } else {
    w = a.antialias ? cubicAntialias(ratio, Math.min(p.scale, 1), a.cubicA) : cubic(ratio, a.cubicA);
  }
  const n = w.length, half = n / 2;
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
    const x = Math.abs(v), x2 = x * x, x3 = x2 * x;
    if (x <= 1) return (A + 2) * x3 - (A + 3) * x2 + 1;
    if (x < 2) return A * x3 - 5 * A * x2 + 8 * A * x - 4 * A;
    return 0;
  };
  const first = Math.floor(-2 / s) + 1, last = 2 - first;
  const c: number[] = [];
  for (let i = first; i < last; i++) c.push(f(s * (i - r)));
  const sum = c.reduce((a, b) => a + b, 0);
  return c.map((v) => v / sum);
}

function linearAntialias(r: number, s: number): number[] {
  const first = Math.floor(-1 / s) + 1, n = 2 - 2 * first;
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

/** Whether an axis maps every output index to the same input index with weight 1 (nothing to do). */
function identityAxis(a: ResizeAttrs, p: AxisPlan): boolean {
  if (p.inLen !== p.outLen) return false;
  for (let o = 0; o < p.outLen; o++) {
    const t = taps(a, o, p);
    if (!t) return false;
    let self = 0, other = 0;
    t.src.forEach((s, i) => (s === o ? (self += t.w[i]!) : (other += Math.abs(t.w[i]!))));
    if (Math.abs(self - 1) > 1e-12 || other > 1e-12) return false;
  }
  return true;
}

/** One pass of the separable resampling: a table of (src, weight) pairs per output index. */
export interface ResizePass {
  /** Logical axis. */
  axis: number;
  plan: AxisPlan;
  taps: number;
  /** outLen * taps (i32 src, f32 weight) pairs; src -1 on a row's first tap: outside the crop. */
  table: ArrayBuffer;
}

/** The passes of a linear / cubic resize, shrinking axes first (the cheaper order). */
export function resizePasses(a: ResizeAttrs, plan: readonly AxisPlan[]): ResizePass[] {
  const axes = plan.map((_, i) => i).filter((i) => !identityAxis(a, plan[i]!));
  axes.sort((p, q) => plan[p]!.outLen / Math.max(plan[p]!.inLen, 1) - plan[q]!.outLen / Math.max(plan[q]!.inLen, 1) || p - q);
  return axes.map((axis) => {
    const p = plan[axis]!;
    const rows = Array.from({ length: p.outLen }, (_, o) => taps(a, o, p));
    const n = Math.max(1, ...rows.map((t) => (t ? t.w.length : 1)));
    const table = new ArrayBuffer(p.outLen * n * 8);
    const iv = new Int32Array(table), fv = new Float32Array(table);
    rows.forEach((t, o) => {
      for (let k = 0; k < n; k++) {
        const at = 2 * (o * n + k);
        iv[at] = t ? (t.src[k] ?? 0) : k === 0 ? -1 : 0;
        fv[at + 1] = t ? (t.w[k] ?? 0) : 0;
      }
    });
    return { axis, plan: p, taps: n, table };
  });
}

/** The physical [outer, len, inner] view of each pass over a value of `perm`, dims updated pass by pass. */
export function passGeometry(passes: readonly ResizePass[], perm: readonly number[], inShape: readonly number[]): { outer: number; inner: number; before: number; after: number }[] {
  const cur = [...inShape];
  return passes.map((ps) => {
    const phys = perm.map((a) => cur[a]!);
    const j = perm.indexOf(ps.axis);
    const outer = sizeOfDims(phys.slice(0, j)), inner = sizeOfDims(phys.slice(j + 1));
    const before = sizeOfDims(cur);
    cur[ps.axis] = ps.plan.outLen;
    return { outer, inner, before, after: sizeOfDims(cur) };
  });
}

// ---------------------------------------------------------------------------------------------
// the ops

const isNearest = (n: PlanNode<ResizeAttrs>) => n.attrs.mode === "nearest";

function planOf(n: PlanNode<ResizeAttrs>): AxisPlan[] {
  return resizePlan(knownOf(n), n.inputs[0]!.shape);
}

/** Bytes of the pass tables, each 16-byte aligned. */
const tableBytes = (passes: readonly ResizePass[]) => passes.reduce((s, p) => s + Math.ceil(p.table.byteLength / 16) * 16, 0);

/** Workspace: the intermediates between passes (two alternating buffers). */
function intermediateBytes(passes: readonly ResizePass[], x: PlanValue): number {
  const g = passGeometry(passes, x.perm, x.shape);
  const mid = g.slice(0, -1).map((p) => p.after);
  if (mid.length === 0) return 0;
  const big = Math.max(...mid);
  return 4 * (mid.length === 1 ? big : 2 * big);
}

const RESIZE_ALGORITHMS = [
  {
    name: "resize.nearest",
    eligible: isNearest,
    paramBytes: (n: PlanNode<ResizeAttrs>) => (n.outputs[0]!.size === 0 ? 0 : nearestWords(n).length * 4),
    setup(n: BoundNode<ResizeAttrs>) {
      if (n.outputs[0]!.size === 0) return () => {};
      n.engine.heap.i32.set(nearestWords(n), n.params >> 2);
      const k = n.kernels, yp = n.output(0), xp = n.input(0), plan = n.params;
      return () => k.remap_nd(yp, xp, plan);
    },
  },
  {
    name: "resize.separable",
    eligible: (n: PlanNode<ResizeAttrs>) => n.inputs[0]!.elem === "f32",
    paramBytes: (n: PlanNode<ResizeAttrs>) => (n.outputs[0]!.size === 0 ? 0 : Math.max(tableBytes(resizePasses(n.attrs, planOf(n))), ND_DESC_BYTES)),
    workspaceBytes: (n: PlanNode<ResizeAttrs>) => (n.outputs[0]!.size === 0 ? 0 : intermediateBytes(resizePasses(n.attrs, planOf(n)), n.inputs[0]!)),
    setup(n: BoundNode<ResizeAttrs>) {
      const x = n.inputs[0]!, y = n.outputs[0]!;
      if (y.size === 0) return () => {};
      const passes = resizePasses(n.attrs, planOf(n));
      const k = n.kernels, yp = n.output(0), xp = n.input(0);
      if (passes.length === 0) {
        // every axis is the identity: a copy
        writeNd(n.engine.heap.i32, n.params, { dims: [y.size], strides: [[1], [1]] }, n.where);
        const desc = n.params;
        return () => k.copy_nd(yp, xp, desc);
      }
      const geo = passGeometry(passes, x.perm, x.shape);
      const mid = geo.slice(0, -1).map((g) => g.after);
      const half = mid.length > 1 ? Math.max(...mid) * 4 : 0;
      const i32 = n.engine.heap.i32;
      let at = n.params;
      const fill = n.attrs.extrapolation;
      const calls = passes.map((ps, i) => {
        i32.set(new Int32Array(ps.table), at >> 2);
        const table = at;
        at += Math.ceil(ps.table.byteLength / 16) * 16;
        const src = i === 0 ? xp : n.workspace + ((i - 1) % 2) * half;
        const dst = i === passes.length - 1 ? yp : n.workspace + (i % 2) * half;
        const g = geo[i]!;
        return [dst, src, table, g.outer, ps.plan.inLen, ps.plan.outLen, g.inner, ps.taps] as const;
      });
      return () => {
        for (const c of calls) k.resize_f32_forward(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], fill);
      };
    },
  },
  {
    name: "resize.integer",
    setup(n: PlanNode<ResizeAttrs>): () => void {
      return fail(n.where, `${n.attrs.mode} resizing of integer tensors is not supported (nearest is)`);
    },
  },
];

function nearestWords(n: PlanNode<ResizeAttrs>): Int32Array {
  const x = n.inputs[0]!, y = n.outputs[0]!;
  const plan = planOf(n);
  const axes = remapAxes(x, y, (a) => nearestSource(n.attrs, plan[a]!));
  return buildRemap(axes, elementBits(y.elem, n.attrs.extrapolation), n.where);
}

registerOp<ResizeAttrs>({
  type: "Resize",
  parse: parseResize,
  valueInputs: [1, 2, 3],
  infer(c) {
    const x = c.need(0, "X");
    const plan = resizePlan(c, x.shape);
    return [{ dataType: x.dataType, shape: plan.map((p) => p.outLen) }];
  },
  layout: followInput0,
  algorithms: RESIZE_ALGORITHMS,
});

registerOp<ResizeAttrs>({
  type: "Upsample",
  parse(at, opset) {
    const mode = modeOf(at);
    if (mode === "cubic") fail(at.where, "Upsample has no cubic mode");
    const scales = opset < 9 ? at.floats("scales") ?? fail(at.where, "scales is required") : undefined;
    return {
      mode, coordinate: "asymmetric", nearest: "simple", cubicA: -0.75, excludeOutside: false, antialias: false, extrapolation: 0,
      keepAspect: "stretch", roiInput: -1, scalesInput: opset < 9 ? -1 : 1, sizesInput: -1, scales,
    };
  },
  valueInputs: [1],
  infer(c) {
    const x = c.need(0, "X");
    const plan = resizePlan(c, x.shape);
    return [{ dataType: x.dataType, shape: plan.map((p) => p.outLen) }];
  },
  layout: followInput0,
  algorithms: RESIZE_ALGORITHMS,
});
