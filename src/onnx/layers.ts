// Layer kinds the ONNX importer adds to the model registry (src/model/layers.ts) for ONNX ops
// that have no built-in layer: transpose, reshape, pad, nearest resize, PRelu, log-softmax and
// concatenation along any per-image axis. Each has a backward, so imported models train.
//
// Spec fields are PER IMAGE (axis 0 of a per-image shape is axis 1 of the batched tensor).
// transpose / pad / resize move data with HOST-SIDE loops over the model's planned memory (no
// kernel exists for them yet); they are data movement, not arithmetic.
import { fail, fmtShape } from "../errors.js";
import { registerLayer } from "../model/layers.js";
import type { AnyNodeSpec } from "../model/spec.js";
import { concat, concatBackward } from "../ops/concat.js";
import { prelu, preluBackward } from "../ops/activation.js";
import { logSoftmax, logSoftmaxBackward } from "../ops/softmax.js";
import { sizeOf, type Shape, type Tensor } from "../tensor.js";
import { nearestSourceIndex, padOutputShape, padSourceIndex, type PadMode, permute } from "./indexing.js";

const who = (spec: AnyNodeSpec) => `layer '${spec.name}' (${spec.type})`;

function intList(spec: AnyNodeSpec, field: string, length: number): number[] {
  const v = spec[field];
  if (!Array.isArray(v) || v.length !== length || v.some((d) => !Number.isInteger(d))) {
    fail(who(spec), `${field} must be ${length} integers, got ${JSON.stringify(v)}`);
  }
  return v as number[];
}

/** Per-image permutation of `spec.perm` checked against rank r. */
function permOf(spec: AnyNodeSpec, r: number): number[] {
  const p = intList(spec, "perm", r);
  if ([...p].sort((a, b) => a - b).some((v, i) => v !== i)) fail(who(spec), `perm [${p.join(",")}] is not a permutation of 0..${r - 1}`);
  return p;
}

/** dx[index[i]] += dy[i] (HOST-SIDE scatter-add; index -1 = no source). */
function scatterAdd(dx: Tensor, dy: Tensor, index: Int32Array, perBatchIn: number, perBatchOut: number): void {
  const d = dx.data,
    g = dy.data,
    n = dy.shape[0]!;
  for (let b = 0; b < n; b++) {
    const xo = b * perBatchIn,
      yo = b * perBatchOut;
    for (let i = 0; i < perBatchOut; i++) {
      const s = index[i]!;
      if (s >= 0) d[xo + s] = d[xo + s]! + g[yo + i]!;
    }
  }
}

/** y[i] = index[i] < 0 ? fill : x[index[i]] per image (HOST-SIDE gather). */
function gather(y: Tensor, x: Tensor, index: Int32Array, perBatchIn: number, fill: number): void {
  const yd = y.data,
    xd = x.data,
    n = x.shape[0]!,
    out = index.length;
  for (let b = 0; b < n; b++) {
    const xo = b * perBatchIn,
      yo = b * out;
    for (let i = 0; i < out; i++) {
      const s = index[i]!;
      yd[yo + i] = s < 0 ? fill : xd[xo + s]!;
    }
  }
}

/**
 * transpose: y = x with per-image axes permuted (y.dims[i] = x.dims[perm[i]]). `to` marks the
 * importer's layout changes ("nhwc": ONNX [C, H, W] order to the model's HWC; "nchw": back), which
 * the exporter writes as nothing (the ONNX graph is NCHW throughout).
 */
registerLayer({
  type: "transpose",
  outputShape(spec, [x]) {
    const p = permOf(spec, x!.length);
    if (spec.to !== undefined && spec.to !== "nhwc" && spec.to !== "nchw") fail(who(spec), `to must be "nhwc" or "nchw", got ${JSON.stringify(spec.to)}`);
    return p.map((i) => x![i]!);
  },
  forward(c) {
    const x = c.x[0]!,
      p = [0, ...permOf(c.spec, x.rank - 1).map((i) => i + 1)];
    permute(x.data, x.shape, p, c.y.data);
  },
  backward(c) {
    const p = permOf(c.spec, c.dy.rank - 1);
    const inv = [0, ...p.map((_, i) => p.indexOf(i) + 1)];
    const back = permute(c.dy.data.slice(), c.dy.shape, inv);
    const dx = c.dx[0]!.data;
    for (let i = 0; i < back.length; i++) dx[i] = dx[i]! + back[i]!;
  },
});

/** reshape: the same elements (row-major per image) under a new per-image shape; a view (no copy). */
registerLayer({
  type: "reshape",
  aliasesInput: true,
  outputShape(spec, [x]) {
    const s = spec.shape;
    if (!Array.isArray(s) || s.length === 0 || s.some((d) => !Number.isInteger(d) || d < 1))
      fail(who(spec), `shape must be positive integers, got ${JSON.stringify(s)}`);
    if (sizeOf(s as number[]) !== sizeOf(x!)) fail(who(spec), `cannot reshape ${fmtShape(x!)} to ${fmtShape(s as number[])}`);
    return [...(s as number[])];
  },
  forward() {},
  backward() {},
});

function padArgs(spec: AnyNodeSpec, x: Shape): { pads: number[]; mode: PadMode } {
  const pads = intList(spec, "pads", 2 * x.length);
  const mode = (spec.mode ?? "constant") as PadMode;
  if (!["constant", "reflect", "edge"].includes(mode)) fail(who(spec), `mode must be constant, reflect or edge, got ${JSON.stringify(mode)}`);
  return { pads, mode };
}

function padGeometry(spec: AnyNodeSpec, x: Shape): { index: Int32Array; dims: number[] } {
  const { pads, mode } = padArgs(spec, x);
  return padSourceIndex(x, pads, mode);
}

/** pad: ONNX Pad per image, pads = [begin_0..begin_{r-1}, end_0..end_{r-1}] (negative crops), modes constant / reflect / edge. */
registerLayer({
  type: "pad",
  outputShape(spec, [x]) {
    const v = spec.value ?? 0;
    if (typeof v !== "number" || !Number.isFinite(v)) fail(who(spec), `value must be a finite number, got ${JSON.stringify(v)}`);
    const { pads, mode } = padArgs(spec, x!);
    try {
      return padOutputShape(x!, pads, mode); // the shape only: the index is built when running
    } catch (err) {
      fail(who(spec), (err as Error).message);
    }
  },
  forward(c) {
    const x = c.x[0]!;
    gather(c.y, x, padGeometry(c.spec, x.shape.slice(1)).index, x.size / x.shape[0]!, (c.spec.value ?? 0) as number);
  },
  backward(c) {
    const x = c.x[0]!;
    scatterAdd(c.dx[0]!, c.dy, padGeometry(c.spec, x.shape.slice(1)).index, x.size / x.shape[0]!, c.dy.size / c.dy.shape[0]!);
  },
});

function resizeArgs(spec: AnyNodeSpec, x: Shape): { out: number[]; scales: number[] } {
  const r = x.length;
  const out = intList(spec, "outShape", r);
  if (out.some((d) => d < 0 || d > 2 ** 31 - 1)) fail(who(spec), `outShape must be integers from 0 to ${2 ** 31 - 1}, got ${JSON.stringify(out)}`);
  const scales = spec.scales;
  if (!Array.isArray(scales) || scales.length !== r || scales.some((s) => !(typeof s === "number" && s > 0 && s < Infinity))) {
    fail(who(spec), `scales must be ${r} positive finite numbers, got ${JSON.stringify(scales)}`);
  }
  return { out, scales: scales as number[] };
}

function resizeIndex(spec: AnyNodeSpec, x: Shape): Int32Array {
  const { out, scales } = resizeArgs(spec, x);
  return nearestSourceIndex(x, out, scales, {
    coordinateMode: (spec.coordinateMode ?? "asymmetric") as string,
    nearestMode: (spec.nearestMode ?? "floor") as string,
  });
}

/** resize: nearest-neighbour resize per image to `outShape` (ONNX Resize / Upsample, mode nearest). */
registerLayer({
  type: "resize",
  outputShape(spec, [x]) {
    return resizeArgs(spec, x!).out; // the shape only: the index is built when running
  },
  forward(c) {
    const x = c.x[0]!;
    gather(c.y, x, resizeIndex(c.spec, x.shape.slice(1)), x.size / x.shape[0]!, 0);
  },
  backward(c) {
    const x = c.x[0]!;
    scatterAdd(c.dx[0]!, c.dy, resizeIndex(c.spec, x.shape.slice(1)), x.size / x.shape[0]!, c.dy.size / c.dy.shape[0]!);
  },
});

/** prelu: y = x >= 0 ? x : slope * x, slope per channel (last axis) [C] or shared [1] (`shared: true`). */
registerLayer({
  type: "prelu",
  outputShape: (_spec, [x]) => x!,
  params(spec, [x]) {
    return [{ name: "slope", shape: [spec.shared ? 1 : x![x!.length - 1]!], init: "zeros" }];
  },
  forward: (c) => void prelu(c.x[0]!, c.params.slope!, c.y),
  backward: (c) => void preluBackward(c.dy, c.x[0]!, c.params.slope!, { dx: c.dx[0], dslope: c.grads.slope }),
});

/** logSoftmax over the last axis. */
registerLayer({
  type: "logSoftmax",
  readsOutput: true,
  outputShape: (_spec, [x]) => x!,
  forward: (c) => void logSoftmax(c.x[0]!, c.y),
  backward: (c) => void logSoftmaxBackward(c.dy, c.y, c.dx[0]),
});

/** concatAxis: concatenation along per-image axis `axis` (the built-in concat uses the last). */
registerLayer({
  type: "concatAxis",
  arity: "many",
  outputShape(spec, xs) {
    const r = xs[0]!.length;
    const ax = spec.axis;
    if (!Number.isInteger(ax) || (ax as number) < 0 || (ax as number) >= r) fail(who(spec), `axis must be in [0, ${r - 1}], got ${JSON.stringify(ax)}`);
    const a = ax as number;
    for (const s of xs) {
      if (s.length !== r || s.some((d, i) => i !== a && d !== xs[0]![i]))
        fail(who(spec), `inputs must agree on every axis but ${a}, got ${xs.map(fmtShape).join(", ")}`);
    }
    const out = [...xs[0]!];
    out[a] = xs.reduce((t, s) => t + s[a]!, 0);
    return out;
  },
  forward: (c) => void concat(c.x as Tensor[], (c.spec.axis as number) + 1, c.y),
  backward: (c) => void concatBackward(c.dy, c.x as Tensor[], (c.spec.axis as number) + 1, c.dx as Tensor[]),
});

/** Marks this module as loaded (importing it registers the kinds). */
export const ONNX_LAYER_KINDS = ["transpose", "reshape", "pad", "resize", "prelu", "logSoftmax", "concatAxis"] as const;
