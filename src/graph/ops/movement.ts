// Data-movement ops on wasm kernels: Pad and Tile (remaps, assembly/remap.ts), Expand, Split,
// DepthToSpace and SpaceToDepth (strided copies, assembly/nd.ts's copy_nd), Gather, GatherElements,
// GatherND and ScatterND (indices from run-time data, assembly/gather.ts), Range and Trilu.
// Elements are moved as 4-byte bits, so every op takes f32 and i32 values alike. Ops that only move elements
// read their input in any axis order and write their output in the same order (no layout
// conversion around them); the indexing ops work in ONNX order.
import { fail, fmtShape } from "../../errors.js";
import { DataType, dataTypeName } from "../../onnx/onnx-proto.js";
import { contiguousStrides, ND_DESC_BYTES, writeNd } from "../nd.js";
import { buildRemap, type RemapAxis, remapWordsBound } from "../remap.js";
import {
  type BoundNode,
  type GradientBuilder,
  followInput0,
  type InferContext,
  type LayoutChoice,
  onnxOrder,
  type PlanNode,
  type PlanValue,
  registerOp,
  type TensorType,
} from "../registry.js";
import { type Elem, type HostTensor, identityPerm, intsOf, isFloat, logicalStrides, sizeOfDims } from "../types.js";
import { normAxis } from "./util.js";

/** What reading known input values needs: InferContext at inference, the plan node at setup. */
export interface Known<A> {
  readonly attrs: A;
  value(i: number): HostTensor | undefined;
  fail(message: string): never;
}

/** The Known view of a node's forward inputs in its backward pass. */
export const knownOfGrad = <A>(g: GradientBuilder<A>): Known<A> => ({ attrs: g.attrs, value: (i) => g.x(i)?.known, fail: (m) => fail(g.where, m) });

/** The Known view of a node at setup (its constant inputs). */
export const knownOf = <A>(n: PlanNode<A>): Known<A> => ({ attrs: n.attrs, value: (i) => n.inputs[i]?.known, fail: (m) => fail(n.where, m) });

const F32 = new Float32Array(1),
  I32 = new Int32Array(F32.buffer);

/** The 4-byte pattern of `v` as an element of kind `elem`. */
export function elementBits(elem: Elem, v: number): number {
  if (elem === "i32") return Math.trunc(v) | 0;
  F32[0] = v;
  return I32[0]!;
}

/** Bytes of wasm32 memory: no value can be larger. */
const WASM32_BYTES = 2 ** 32;

/**
 * Fails unless the output shape is valid and its bytes fit in wasm32 memory: checked from the dims
 * alone, before anything is built for the output (an absurd scale or pad fails here, fast).
 */
export function checkDims(c: { fail(m: string): never }, dims: readonly number[], why: string): number[] {
  let bytes = 4;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) c.fail(`${why} gives an invalid output shape [${dims.join(",")}]`);
    bytes *= d;
  }
  if (bytes >= WASM32_BYTES) c.fail(`${why} gives an output of shape [${dims.join(",")}] (${bytes.toExponential(2)} bytes), larger than wasm32 memory (4 GiB)`);
  return [...dims];
}

/** A remap algorithm: y[...] per physical axis from `axes(n)`, fill bits `fill(n)`. */
function remapAlgorithm<A>(name: string, axes: (n: PlanNode<A>) => RemapAxis[], fill: (n: PlanNode<A>) => number) {
  const words = (n: PlanNode<A>) => buildRemap(axes(n), fill(n), n.where);
  return {
    name,
    paramBytes: (n: PlanNode<A>) => (n.outputs[0]!.size === 0 ? 0 : remapWordsBound(n.outputs[0]!.dims) * 4),
    setup(n: BoundNode<A>) {
      if (n.outputs[0]!.size === 0) return () => {};
      n.engine.heap.i32.set(words(n), n.params >> 2);
      const k = n.kernels,
        yp = n.output(0),
        xp = n.input(0),
        plan = n.params;
      return () => k.remap_nd(yp, xp, plan);
    },
  };
}

/** y's physical axes as remap axes, from a per-logical-axis source map. */
export function remapAxes(x: PlanValue, y: PlanValue, src: (a: number) => ArrayLike<number>): RemapAxis[] {
  const xs = logicalStrides(x.shape, x.perm);
  return y.perm.map((a) => ({ src: src(a), stride: xs[a]! }));
}

// ---------------------------------------------------------------------------------------------
// Pad

export type PadMode = "constant" | "reflect" | "edge" | "wrap";
const PAD_MODES: readonly string[] = ["constant", "reflect", "edge", "wrap"];

export interface PadAttrs {
  mode: PadMode;
  /** opset < 11: pads and value are attributes. */
  pads?: number[];
  value: number;
}

/** Per logical axis: the pad before (begin) and after (end); negative pads crop. */
export function padSpec(c: Known<PadAttrs>, rank: number): { begin: number[]; end: number[]; value: number } {
  const pads = c.attrs.pads ?? intsOf(c.value(1) ?? c.fail("input 1 (pads) is required"));
  const axesT = c.value(3);
  const axes = axesT ? intsOf(axesT).map((a) => normAxis(c, a, rank)) : identityPerm(rank);
  if (new Set(axes).size !== axes.length) c.fail(`axes [${axes.join(",")}] repeat an axis`);
  if (pads.length !== 2 * axes.length) c.fail(`pads must have ${2 * axes.length} values (2 per axis), got [${pads.join(",")}]`);
  const begin = new Array<number>(rank).fill(0),
    end = new Array<number>(rank).fill(0);
  axes.forEach((a, i) => {
    begin[a] = pads[i]!;
    end[a] = pads[i + axes.length]!;
  });
  const v = c.value(2);
  const value = c.attrs.pads ? c.attrs.value : v && v.data.length > 0 ? v.data[0]! : 0;
  return { begin, end, value };
}

/**
 * The x index along one axis of length d read by each of the padded axis's outputs (-1: the
 * constant). Negative pads crop first; edge, reflect and wrap then read the cropped range.
 */
export function padSource(d: number, b: number, e: number, mode: PadMode): Int32Array {
  const out = d + b + e,
    lo = Math.max(-b, 0),
    hi = d - Math.max(-e, 0),
    len = hi - lo;
  const src = new Int32Array(Math.max(out, 0));
  for (let o = 0; o < out; o++) {
    const c = o - b;
    if (c >= lo && c < hi) {
      src[o] = c;
      continue;
    }
    if (mode === "constant") {
      src[o] = -1;
      continue;
    }
    let t = c - lo;
    if (mode === "edge") t = t < 0 ? 0 : len - 1;
    else if (mode === "wrap") t = ((t % len) + len) % len;
    else if (len === 1) t = 0;
    else {
      const period = 2 * (len - 1);
      t = ((t % period) + period) % period;
      if (t >= len) t = period - t;
    }
    src[o] = t + lo;
  }
  return src;
}

registerOp<PadAttrs>({
  type: "Pad",
  parse(at, opset) {
    const mode = at.string("mode", "constant");
    if (!PAD_MODES.includes(mode)) fail(at.where, `mode "${mode}" is not one of ${PAD_MODES.join(", ")}`);
    if (opset >= 11) return { mode: mode as PadMode, value: 0 };
    const pads = at.ints(opset < 2 ? "paddings" : "pads") ?? fail(at.where, "pads is required");
    return { mode: mode as PadMode, pads, value: at.float("value", 0) };
  },
  valueInputs: [1, 2, 3],
  infer(c) {
    const x = c.need(0, "data");
    const { begin, end } = padSpec(c, x.shape.length);
    const dims = x.shape.map((d, a) => d + begin[a]! + end[a]!);
    x.shape.forEach((d, a) => {
      if (dims[a]! < 0) c.fail(`pads [${begin.join(",")} | ${end.join(",")}] crop axis ${a} of ${fmtShape(x.shape)} below zero`);
      const kept = d - Math.max(-begin[a]!, 0) - Math.max(-end[a]!, 0);
      if (c.attrs.mode !== "constant" && kept <= 0 && dims[a]! > 0)
        c.fail(`mode ${c.attrs.mode} cannot pad axis ${a} of ${fmtShape(x.shape)}: no element of it is left to read`);
    });
    return [{ dataType: x.dataType, shape: checkDims(c, dims, "pads") }];
  },
  layout: followInput0,
  gradient(g) {
    if (!g.wants(0)) return;
    const x = g.x(0)!;
    const { begin, end } = padSpec(knownOfGrad(g), x.shape.length);
    const src = x.shape.map((d, a) => padSource(d, begin[a]!, end[a]!, g.attrs.mode));
    g.add(0, g.op("RemapGrad", [g.dy(0)!], { shape: x.shape, src })[0]!);
  },
  algorithms: [
    remapAlgorithm<PadAttrs>(
      "pad.remap",
      (n) => {
        const x = n.inputs[0]!,
          y = n.outputs[0]!;
        const { begin, end } = padSpec(knownOf(n), x.shape.length);
        return remapAxes(x, y, (a) => padSource(x.shape[a]!, begin[a]!, end[a]!, n.attrs.mode));
      },
      (n) => elementBits(n.outputs[0]!.elem, padSpec(knownOf(n), n.inputs[0]!.shape.length).value),
    ),
  ],
});

// ---------------------------------------------------------------------------------------------
// Tile, Expand

function tileRepeats(c: Known<unknown>, rank: number): number[] {
  const reps = intsOf(c.value(1) ?? c.fail("input 1 (repeats) is required"));
  if (reps.length !== rank) c.fail(`repeats must have ${rank} values, got [${reps.join(",")}]`);
  if (reps.some((r) => r < 0)) c.fail(`repeats [${reps.join(",")}] must not be negative`);
  return reps;
}

registerOp<void>({
  type: "Tile",
  parse: () => undefined,
  valueInputs: [1],
  infer(c) {
    const x = c.need(0, "input");
    const reps = tileRepeats(c, x.shape.length);
    return [
      {
        dataType: x.dataType,
        shape: checkDims(
          c,
          x.shape.map((d, a) => d * reps[a]!),
          `repeats [${reps.join(",")}]`,
        ),
      },
    ];
  },
  layout: followInput0,
  gradient(g) {
    if (!g.wants(0)) return;
    const x = g.x(0)!;
    const reps = tileRepeats(knownOfGrad(g), x.shape.length);
    const src = x.shape.map((d, a) => Int32Array.from({ length: d * reps[a]! }, (_, o) => o % d));
    g.add(0, g.op("RemapGrad", [g.dy(0)!], { shape: x.shape, src })[0]!);
  },
  algorithms: [
    remapAlgorithm<void>(
      "tile.remap",
      (n) => {
        const x = n.inputs[0]!,
          y = n.outputs[0]!;
        return remapAxes(x, y, (a) => Int32Array.from({ length: y.shape[a]! }, (_, o) => o % x.shape[a]!));
      },
      () => 0,
    ),
  ],
});

/** ONNX (bidirectional) broadcasting of two shapes; fails naming the op. */
export function broadcastTwo(c: { fail(m: string): never }, a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const p = a[i - r + a.length] ?? 1,
      q = b[i - r + b.length] ?? 1;
    if (p !== q && p !== 1 && q !== 1) c.fail(`shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast together`);
    out.push(p === 1 ? q : p);
  }
  return out;
}

/** Writes the copy_nd loop reading x broadcast into y's physical order (0 strides on broadcast axes). */
export function broadcastLoop(n: BoundNode<unknown>, desc: number, x: PlanValue, y: PlanValue, xOffsetAxes = 0): void {
  const off = y.shape.length - x.shape.length + xOffsetAxes;
  const xs = logicalStrides(x.shape, x.perm);
  const along = (a: number) => (a < off || x.shape[a - off] === 1 ? 0 : xs[a - off]!);
  writeNd(n.engine.heap.i32, desc, { dims: [...y.dims], strides: [contiguousStrides(y.dims), y.perm.map(along)] }, n.where);
}

/** The output in x's axis order when the ranks agree (else ONNX order); x read as it lies. */
const sameRankFollows = (c: { inputs: readonly (PlanValue | undefined)[]; outputs: readonly TensorType[] }): LayoutChoice => {
  const x = c.inputs[0]!;
  return {
    inputs: c.inputs.map((v, i) => (i === 0 || !v ? "any" : identityPerm(v.shape.length))),
    outputs: c.outputs.map((t) => (t.shape.length === x.shape.length ? x.perm : identityPerm(t.shape.length))),
  };
};

/** A copy_nd algorithm with one descriptor written by `loop`. */
function copyAlgorithm<A>(name: string, loop: (n: BoundNode<A>, desc: number) => number) {
  return {
    name,
    paramBytes: () => ND_DESC_BYTES,
    setup(n: BoundNode<A>) {
      if (n.outputs[0]!.size === 0) return () => {};
      const xOffset = loop(n, n.params);
      const k = n.kernels,
        yp = n.output(0),
        xp = n.input(0) + 4 * xOffset,
        desc = n.params;
      return () => k.copy_nd(yp, xp, desc);
    },
  };
}

registerOp<void>({
  type: "Expand",
  parse: () => undefined,
  valueInputs: [1],
  infer(c) {
    const x = c.need(0, "input");
    const shape = intsOf(c.value(1) ?? c.fail("input 1 (shape) is required"));
    return [{ dataType: x.dataType, shape: checkDims(c, broadcastTwo(c, x.shape, shape), `shape [${shape.join(",")}]`) }];
  },
  layout: sameRankFollows,
  // the sum over the broadcast axes
  gradient: (g) => g.wants(0) && g.add(0, g.op("ReduceToShape", [g.dy(0)!], { shape: g.x(0)!.shape })[0]!),
  algorithms: [copyAlgorithm<void>("expand.copy", (n, desc) => (broadcastLoop(n as BoundNode<unknown>, desc, n.inputs[0]!, n.outputs[0]!), 0))],
});

// ---------------------------------------------------------------------------------------------
// Split

interface SplitAttrs {
  axis: number;
  split?: number[];
  numOutputs?: number;
}

function splitSizes(c: Known<SplitAttrs> & { outputCount: number }, shape: readonly number[]): { axis: number; sizes: number[] } {
  const axis = normAxis(c, c.attrs.axis, shape.length);
  const len = shape[axis]!,
    k = c.outputCount;
  const given = c.attrs.split ?? (c.value(1) ? intsOf(c.value(1)!) : undefined);
  let sizes: number[];
  if (given && given.length > 0) {
    sizes = given;
    if (sizes.length !== k) c.fail(`split has ${sizes.length} sizes for ${k} outputs`);
    if (sizes.some((s) => s < 0) || sizes.reduce((a, b) => a + b, 0) !== len)
      c.fail(`split [${sizes.join(",")}] does not add up to ${len}, the length of axis ${axis} of ${fmtShape(shape)}`);
  } else if (c.attrs.numOutputs !== undefined) {
    const m = c.attrs.numOutputs;
    if (m !== k) c.fail(`num_outputs ${m} but the node has ${k} outputs`);
    const chunk = Math.ceil(len / m);
    sizes = Array.from({ length: m }, (_, i) => (i < m - 1 ? chunk : len - chunk * (m - 1)));
    if (sizes[m - 1]! < 0) c.fail(`axis ${axis} of length ${len} cannot be split into ${m} outputs`);
  } else {
    if (len % k !== 0) c.fail(`axis ${axis} of length ${len} does not split evenly into ${k} outputs (give split or num_outputs)`);
    sizes = new Array<number>(k).fill(len / k);
  }
  return { axis, sizes };
}

registerOp<SplitAttrs>({
  type: "Split",
  parse: (at, opset) => ({
    axis: at.int("axis", 0),
    split: opset < 13 ? at.ints("split") : undefined,
    numOutputs: at.has("num_outputs") ? at.int("num_outputs", 0) : undefined,
  }),
  valueInputs: [1],
  infer(c) {
    const x = c.need(0, "input");
    const { axis, sizes } = splitSizes(c, x.shape);
    return sizes.map((s) => {
      const shape = [...x.shape];
      shape[axis] = s;
      return { dataType: x.dataType, shape };
    });
  },
  layout: followInput0,
  gradient(g) {
    if (!g.wants(0)) return;
    const x = g.x(0)!;
    let outputs = 0;
    while (g.y(outputs)) outputs++;
    const { axis, sizes } = splitSizes({ ...knownOfGrad(g), outputCount: outputs }, x.shape);
    const dys = sizes.map((_, i) => g.dy(i));
    g.add(0, g.op("SplitGrad", dys, { axis, shape: x.shape, sizes })[0]!);
  },
  algorithms: [
    {
      name: "split.copy",
      paramBytes: (n) => n.outputs.length * ND_DESC_BYTES,
      setup(n) {
        const x = n.inputs[0]!;
        const { axis } = splitSizes({ ...knownOf(n), outputCount: n.outputs.length }, x.shape);
        const xs = logicalStrides(x.shape, x.perm);
        const calls: [number, number, number][] = [];
        let at = 0;
        n.outputs.forEach((y, i) => {
          if (y.size > 0) {
            const desc = n.params + i * ND_DESC_BYTES;
            writeNd(n.engine.heap.i32, desc, { dims: [...y.dims], strides: [contiguousStrides(y.dims), y.perm.map((a) => xs[a]!)] }, n.where);
            calls.push([n.output(i), n.input(0) + 4 * at * xs[axis]!, desc]);
          }
          at += y.shape[axis]!;
        });
        const k = n.kernels;
        return () => {
          for (const [yp, xp, d] of calls) k.copy_nd(yp, xp, d);
        };
      },
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// DepthToSpace, SpaceToDepth: 6-axis strided copies

export interface BlockAttrs {
  block: number;
  crd: boolean;
}

function blockAttrs(at: { int(n: string, f: number): number; string(n: string, f: string): string; where: string }): BlockAttrs {
  const block = at.int("blocksize", 0);
  if (!(block >= 1)) fail(at.where, `blocksize must be >= 1, got ${block}`);
  const mode = at.string("mode", "DCR");
  if (mode !== "DCR" && mode !== "CRD") fail(at.where, `mode "${mode}" is not DCR or CRD`);
  return { block, crd: mode === "CRD" };
}

function image4(c: InferContext<unknown>): TensorType {
  const x = c.need(0, "input");
  if (x.shape.length !== 4) c.fail(`expects a 4-D [N, C, H, W] input, got ${fmtShape(x.shape)}`);
  return x;
}

/**
 * The copy of a block rearrangement as a 6-axis loop (n, c, h, i, w, j) in y's memory order:
 * depth-to-space reads x channel (DCR) (i * b + j) * C' + c or (CRD) c * b * b + i * b + j at (h, w)
 * and writes y (c, h * b + i, w * b + j); space-to-depth is its inverse.
 */
export function blockLoop(n: BoundNode<BlockAttrs>, desc: number, toSpace: boolean): void {
  const x = n.inputs[0]!,
    y = n.outputs[0]!,
    b = n.attrs.block;
  const xs = logicalStrides(x.shape, x.perm),
    ys = logicalStrides(y.shape, y.perm);
  // the space side (more pixels) and the depth side (more channels)
  const [sp, spS, dpS] = toSpace ? [y, ys, xs] : [x, xs, ys];
  const C = sp.shape[1]!,
    H = sp.shape[2]! / b,
    W = sp.shape[3]! / b;
  const crd = n.attrs.crd;
  // axes n, c, h, i, w, j
  const dims = [sp.shape[0]!, C, H, b, W, b];
  const space = [spS[0]!, spS[1]!, spS[2]! * b, spS[2]!, spS[3]! * b, spS[3]!];
  const depth = [dpS[0]!, crd ? dpS[1]! * b * b : dpS[1]!, dpS[2]!, crd ? dpS[1]! * b : dpS[1]! * b * C, dpS[3]!, crd ? dpS[1]! : dpS[1]! * C];
  const [sy, sx] = toSpace ? [space, depth] : [depth, space];
  // loop order: y's strides, largest first, so y is written in order
  const order = [0, 1, 2, 3, 4, 5].sort((p, q) => sy[q]! - sy[p]!);
  writeNd(n.engine.heap.i32, desc, { dims: order.map((a) => dims[a]!), strides: [order.map((a) => sy[a]!), order.map((a) => sx[a]!)] }, n.where);
}

registerOp<BlockAttrs>({
  type: "DepthToSpace",
  parse: (at) => blockAttrs(at),
  infer(c) {
    const x = image4(c),
      b = c.attrs.block;
    const [N, C, H, W] = x.shape as [number, number, number, number];
    if (C % (b * b) !== 0) c.fail(`channels ${C} of ${fmtShape(x.shape)} are not a multiple of blocksize^2 = ${b * b}`);
    return [{ dataType: x.dataType, shape: [N, C / (b * b), H * b, W * b] }];
  },
  layout: followInput0,
  // the inverse rearrangement
  gradient: (g) => g.wants(0) && g.add(0, g.op("SpaceToDepth", [g.dy(0)!], { block: g.attrs.block, crd: g.attrs.crd })[0]!),
  algorithms: [copyAlgorithm<BlockAttrs>("depthToSpace.copy", (n, desc) => (blockLoop(n, desc, true), 0))],
});

registerOp<BlockAttrs>({
  type: "SpaceToDepth",
  parse: (at) => ({ ...blockAttrs(at), crd: false }),
  infer(c) {
    const x = image4(c),
      b = c.attrs.block;
    const [N, C, H, W] = x.shape as [number, number, number, number];
    if (H % b !== 0 || W % b !== 0) c.fail(`height and width of ${fmtShape(x.shape)} are not multiples of blocksize ${b}`);
    return [{ dataType: x.dataType, shape: [N, C * b * b, H / b, W / b] }];
  },
  layout: followInput0,
  gradient: (g) => g.wants(0) && g.add(0, g.op("DepthToSpace", [g.dy(0)!], { block: g.attrs.block, crd: false })[0]!),
  algorithms: [copyAlgorithm<BlockAttrs>("spaceToDepth.copy", (n, desc) => (blockLoop(n, desc, false), 0))],
});

// ---------------------------------------------------------------------------------------------
// Gather, GatherElements: indices from run-time data

const indicesOf = (c: InferContext<unknown>, i: number): TensorType => {
  const t = c.need(i, "indices");
  if (t.dataType !== DataType.INT32 && t.dataType !== DataType.INT64) c.fail(`indices must be int32 or int64, got ${dataTypeName(t.dataType)}`);
  return t;
};

const outOfRange = (n: PlanNode<unknown>, bad: number, len: number, axis: number, shape: readonly number[]): never =>
  fail(n.where, `${bad} ind${bad === 1 ? "ex is" : "ices are"} outside [-${len}, ${len - 1}], the range of axis ${axis} of ${fmtShape(shape)}`);

registerOp<{ axis: number }>({
  type: "Gather",
  parse: (at) => ({ axis: at.int("axis", 0) }),
  infer(c) {
    const x = c.need(0, "data"),
      idx = indicesOf(c, 1);
    const ax = normAxis(c, c.attrs.axis, x.shape.length);
    return [{ dataType: x.dataType, shape: [...x.shape.slice(0, ax), ...idx.shape, ...x.shape.slice(ax + 1)] }];
  },
  // 1-D indices keep the rank: x is read in any axis order (the gathered axis wherever it lies in
  // memory) and y keeps that order; other index shapes work in ONNX order
  layout: (c) => (c.inputs[1]!.shape.length === 1 ? { inputs: ["any", [0]], outputs: [c.inputs[0]!.perm] } : onnxOrder(c)),
  gradient: (g) => g.wants(0) && g.add(0, g.op("GatherGrad", [g.dy(0)!, g.x(1)], { axis: g.attrs.axis, shape: g.x(0)!.shape })[0]!),
  algorithms: [
    {
      name: "gather.axis",
      setup(n) {
        const x = n.inputs[0]!,
          idx = n.inputs[1]!,
          y = n.outputs[0]!;
        const ax = normAxis({ fail: (m) => fail(n.where, m) }, n.attrs.axis, x.shape.length);
        const j = x.perm.indexOf(ax);
        const outer = sizeOfDims(x.dims.slice(0, j)),
          len = x.shape[ax]!,
          inner = sizeOfDims(x.dims.slice(j + 1));
        if (y.size === 0) return () => {};
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0),
          ip = n.input(1),
          count = idx.size;
        return () => {
          const bad = k.gather_axis(yp, xp, ip, outer, len, count, inner);
          if (bad !== 0) outOfRange(n, bad, len, ax, x.shape);
        };
      },
    },
  ],
});

registerOp<{ axis: number }>({
  type: "GatherElements",
  parse: (at) => ({ axis: at.int("axis", 0) }),
  infer(c) {
    const x = c.need(0, "data"),
      idx = indicesOf(c, 1);
    const r = x.shape.length,
      ax = normAxis(c, c.attrs.axis, r);
    if (idx.shape.length !== r) c.fail(`indices ${fmtShape(idx.shape)} must have the rank of data ${fmtShape(x.shape)}`);
    idx.shape.forEach((d, a) => {
      if (a !== ax && d > x.shape[a]!) c.fail(`indices ${fmtShape(idx.shape)} exceed data ${fmtShape(x.shape)} along axis ${a}`);
    });
    return [{ dataType: x.dataType, shape: [...idx.shape] }];
  },
  gradient: (g) => g.wants(0) && g.add(0, g.op("GatherElementsGrad", [g.dy(0)!, g.x(1)], { axis: g.attrs.axis, shape: g.x(0)!.shape })[0]!),
  algorithms: [
    {
      name: "gatherElements.nd",
      paramBytes: () => ND_DESC_BYTES,
      setup(n) {
        const x = n.inputs[0]!,
          y = n.outputs[0]!;
        const ax = normAxis({ fail: (m) => fail(n.where, m) }, n.attrs.axis, x.shape.length);
        if (y.size === 0) return () => {};
        const xs = contiguousStrides(x.shape),
          ys = contiguousStrides(y.shape);
        writeNd(n.engine.heap.i32, n.params, { dims: [...y.shape], strides: [ys, xs.map((s, a) => (a === ax ? 0 : s)), ys] }, n.where);
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0),
          ip = n.input(1),
          desc = n.params,
          st = xs[ax]!,
          len = x.shape[ax]!;
        return () => {
          const bad = k.gather_elements(yp, xp, ip, desc, st, len);
          if (bad !== 0) outOfRange(n, bad, len, ax, x.shape);
        };
      },
    },
  ],
});

const SCATTER_REDUCTIONS: Record<string, number> = { none: 0, add: 1, mul: 2, max: 3, min: 4 };

// GatherND (opset 11; batch_dims from 12): indices [..batch, ..., m] pick slices of data at the first
// m axes after the batch axes; y = indices.shape[:-1] + data.shape[batch_dims + m:]. In ONNX order.

/** GatherND's geometry: batch (product of the batch axes), tuples per batch, tuple length m, slice size. */
function gatherNdGeometry(f: { fail(m: string): never }, data: readonly number[], idx: readonly number[], b: number) {
  const q = idx.length,
    r = data.length;
  if (q < 1) f.fail("indices must have rank >= 1");
  if (b < 0 || b >= Math.min(q, r)) f.fail(`batch_dims ${b} must be below the ranks of data ${fmtShape(data)} and indices ${fmtShape(idx)}`);
  for (let a = 0; a < b; a++) if (data[a] !== idx[a]) f.fail(`the batch axes of data ${fmtShape(data)} and indices ${fmtShape(idx)} differ (batch_dims ${b})`);
  const m = idx[q - 1]!;
  if (m < 1 || b + m > r) f.fail(`the last axis of indices ${fmtShape(idx)} (${m}) must be in [1, ${r - b}] for data ${fmtShape(data)} and batch_dims ${b}`);
  return {
    batch: sizeOfDims(data.slice(0, b)),
    count: sizeOfDims(idx.slice(b, q - 1)),
    m,
    inner: sizeOfDims(data.slice(b + m)),
    shape: [...idx.slice(0, q - 1), ...data.slice(b + m)],
  };
}

registerOp<{ batchDims: number }>({
  type: "GatherND",
  parse: (at) => ({ batchDims: at.int("batch_dims", 0) }),
  infer(c) {
    const x = c.need(0, "data"),
      idx = indicesOf(c, 1);
    return [{ dataType: x.dataType, shape: gatherNdGeometry(c, x.shape, idx.shape, c.attrs.batchDims).shape }];
  },
  layout: onnxOrder,
  // dx: dy added into zeros at the index tuples (ScatterND with reduction add)
  gradient(g) {
    if (!g.wants(0)) return;
    if (g.attrs.batchDims !== 0) fail(g.where, "training needs batch_dims 0 (its gradient is not implemented for batch axes)");
    const zeros = g.op("Zeros", [], { shape: g.x(0)!.shape })[0]!;
    g.add(0, g.op("ScatterND", [zeros, g.x(1)!, g.dy(0)!], { reduction: SCATTER_REDUCTIONS.add })[0]!);
  },
  algorithms: [
    {
      name: "gatherND.rows",
      paramBytes: (n) => 8 * n.inputs[1]!.shape[n.inputs[1]!.shape.length - 1]!,
      setup(n) {
        const x = n.inputs[0]!,
          b = n.attrs.batchDims;
        const { batch, count, m, inner } = gatherNdGeometry({ fail: (msg) => fail(n.where, msg) }, x.shape, n.inputs[1]!.shape, b);
        const xs = contiguousStrides(x.shape);
        const i32 = n.engine.heap.i32,
          geom = n.params;
        for (let k = 0; k < m; k++) {
          i32[(geom >> 2) + k] = x.shape[b + k]!;
          i32[(geom >> 2) + m + k] = xs[b + k]!;
        }
        if (n.outputs[0]!.size === 0) return () => {};
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0),
          ip = n.input(1),
          xBatch = b === 0 ? 0 : xs[b - 1]!;
        return () => {
          const bad = k.gather_nd(yp, xp, ip, geom, batch, count, m, inner, xBatch);
          if (bad !== 0)
            fail(
              n.where,
              `${bad} index tuple${bad === 1 ? " is" : "s are"} outside data ${fmtShape(x.shape)} (axes ${b} to ${b + m - 1}; negative indices count from the end)`,
            );
        };
      },
    },
  ],
});

/**
 * A scatter's gradient (ScatterND, ScatterElements: inputs data, indices, updates). Reduction none:
 * d data = dy with the written places zeroed (the same scatter, of zeros), d updates = dy
 * gathered where it wrote (`gather`); add: d data = dy, d updates the same gather. (mul, max, min:
 * not implemented, refused.)
 */
function scatterGradient<A extends { reduction: number }>(
  type: string,
  gather: (g: GradientBuilder<A>, dy: PlanValue, idx: PlanValue) => PlanValue,
): (g: GradientBuilder<A>) => void {
  return (g) => {
    const dy = g.dy(0)!,
      idx = g.x(1)!,
      r = g.attrs.reduction;
    if (r !== SCATTER_REDUCTIONS.none && r !== SCATTER_REDUCTIONS.add)
      fail(g.where, "training needs reduction none or add (the gradients of mul, max and min are not implemented)");
    if (g.wants(2)) g.add(2, gather(g, dy, idx));
    if (g.wants(0)) {
      if (r === SCATTER_REDUCTIONS.add) g.add(0, dy);
      else g.add(0, g.op(type, [dy, idx, g.op("Zeros", [], { shape: g.x(2)!.shape })[0]!], g.attrs)[0]!);
    }
  };
}

// ScatterND (opset 11; reduction from 16): y = data with the slices at index tuples replaced by (or
// combined with) updates. In ONNX order.

registerOp<{ reduction: number }>({
  type: "ScatterND",
  parse(at) {
    const r = at.string("reduction", "none");
    return { reduction: SCATTER_REDUCTIONS[r] ?? fail(at.where, `reduction "${r}" is not one of none, add, mul, max, min`) };
  },
  infer(c) {
    const x = c.need(0, "data"),
      idx = indicesOf(c, 1),
      u = c.need(2, "updates");
    if (u.dataType !== x.dataType) c.fail(`updates (${dataTypeName(u.dataType)}) must have the element type of data (${dataTypeName(x.dataType)})`);
    if (c.attrs.reduction !== 0 && !isFloat(x.dataType)) c.fail("a reduction other than none needs float data");
    const q = idx.shape.length,
      m = idx.shape[q - 1] ?? 0;
    if (q < 1 || m < 1 || m > x.shape.length)
      c.fail(`the last axis of indices ${fmtShape(idx.shape)} must be in [1, ${x.shape.length}] for data ${fmtShape(x.shape)}`);
    const want = [...idx.shape.slice(0, q - 1), ...x.shape.slice(m)];
    if (u.shape.length !== want.length || u.shape.some((d, a) => d !== want[a]))
      c.fail(`updates ${fmtShape(u.shape)} must have shape ${fmtShape(want)} (indices ${fmtShape(idx.shape)}, data ${fmtShape(x.shape)})`);
    return [x];
  },
  layout: onnxOrder,
  gradient: scatterGradient("ScatterND", (g, dy, idx) => g.op("GatherND", [dy, idx], { batchDims: 0 })[0]!),
  algorithms: [
    {
      name: "scatterND.rows",
      paramBytes: (n) => ND_DESC_BYTES + 8 * n.inputs[1]!.shape[n.inputs[1]!.shape.length - 1]!,
      setup(n) {
        const x = n.inputs[0]!,
          idx = n.inputs[1]!;
        const m = idx.shape[idx.shape.length - 1]!,
          count = sizeOfDims(idx.shape.slice(0, -1)),
          inner = sizeOfDims(x.shape.slice(m));
        const xs = contiguousStrides(x.shape);
        const i32 = n.engine.heap.i32,
          desc = n.params,
          geom = n.params + ND_DESC_BYTES;
        writeNd(i32, desc, { dims: [x.size], strides: [[1], [1]] }, n.where);
        for (let k = 0; k < m; k++) {
          i32[(geom >> 2) + k] = x.shape[k]!;
          i32[(geom >> 2) + m + k] = xs[k]!;
        }
        if (x.size === 0) return () => {};
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0),
          ip = n.input(1),
          up = n.input(2),
          reduction = n.attrs.reduction;
        return () => {
          if (yp !== xp) k.copy_nd(yp, xp, desc);
          const bad = k.scatter_nd(yp, up, ip, geom, count, m, inner, reduction);
          if (bad !== 0)
            fail(
              n.where,
              `${bad} index tuple${bad === 1 ? " is" : "s are"} outside data ${fmtShape(x.shape)} (axes 0 to ${m - 1}; negative indices count from the end)`,
            );
        };
      },
    },
  ],
});

// ScatterElements (opset 11; reduction from 16) and Scatter (opset 9-10, its old name): y = data
// with each updates element written at its index along `axis` (its own position on the other
// axes), or combined with what is there. In ONNX order, on assembly/gather.ts's scatter_elements.

function scatterElements(type: string): void {
  registerOp<{ axis: number; reduction: number }>({
    type,
    parse(at) {
      const r = at.string("reduction", "none");
      return { axis: at.int("axis", 0), reduction: SCATTER_REDUCTIONS[r] ?? fail(at.where, `reduction "${r}" is not one of none, add, mul, max, min`) };
    },
    infer(c) {
      const x = c.need(0, "data"),
        idx = indicesOf(c, 1),
        u = c.need(2, "updates");
      const r = x.shape.length;
      normAxis(c, c.attrs.axis, r);
      if (u.dataType !== x.dataType) c.fail(`updates (${dataTypeName(u.dataType)}) must have the element type of data (${dataTypeName(x.dataType)})`);
      if (c.attrs.reduction !== 0 && !isFloat(x.dataType)) c.fail("a reduction other than none needs float data");
      if (idx.shape.length !== r || u.shape.length !== r || idx.shape.some((d, a) => d !== u.shape[a] || d > x.shape[a]!))
        c.fail(`indices ${fmtShape(idx.shape)} and updates ${fmtShape(u.shape)} must have one shape, of data's rank and within data ${fmtShape(x.shape)}`);
      return [x];
    },
    layout: onnxOrder,
    gradient: scatterGradient<{ axis: number; reduction: number }>(type, (g, dy, idx) => g.op("GatherElements", [dy, idx], { axis: g.attrs.axis })[0]!),
    algorithms: [
      {
        name: "scatterElements.nd",
        paramBytes: () => 2 * ND_DESC_BYTES,
        setup(n) {
          const x = n.inputs[0]!,
            idx = n.inputs[1]!;
          const ax = normAxis({ fail: (m) => fail(n.where, m) }, n.attrs.axis, x.shape.length);
          const i32 = n.engine.heap.i32,
            copy = n.params,
            desc = n.params + ND_DESC_BYTES;
          writeNd(i32, copy, { dims: [x.size], strides: [[1], [1]] }, n.where);
          if (x.size === 0) return () => {};
          const xs = contiguousStrides(x.shape),
            is = contiguousStrides(idx.shape);
          if (idx.size > 0) writeNd(i32, desc, { dims: [...idx.shape], strides: [is, xs.map((s, a) => (a === ax ? 0 : s)), is] }, n.where);
          const k = n.kernels,
            yp = n.output(0),
            xp = n.input(0),
            ip = n.input(1),
            up = n.input(2),
            st = xs[ax]!,
            len = x.shape[ax]!,
            reduction = n.attrs.reduction;
          return () => {
            if (yp !== xp) k.copy_nd(yp, xp, copy);
            if (idx.size === 0) return;
            const bad = k.scatter_elements(yp, up, ip, desc, st, len, reduction);
            if (bad !== 0)
              fail(n.where, `${bad} ${bad === 1 ? "index is" : "indices are"} outside data ${fmtShape(x.shape)} along axis ${ax} ([-${len}, ${len - 1}])`);
          };
        },
      },
    ],
  });
}
scatterElements("ScatterElements");
scatterElements("Scatter");

// ---------------------------------------------------------------------------------------------
// Range, Trilu

const scalarOf = (c: Known<unknown>, i: number, name: string): number => {
  const t = c.value(i) ?? c.fail(`input ${i} (${name}) is required`);
  if (t.data.length !== 1) c.fail(`${name} must be a scalar, got ${t.data.length} values`);
  return t.data[0]!;
};

function rangeSpec(c: Known<void>): { start: number; delta: number; count: number } {
  const start = scalarOf(c, 0, "start"),
    limit = scalarOf(c, 1, "limit"),
    delta = scalarOf(c, 2, "delta");
  if (delta === 0 || !Number.isFinite(delta)) c.fail(`delta must be a non-zero finite number, got ${delta}`);
  return { start, delta, count: Math.max(Math.ceil((limit - start) / delta), 0) };
}

registerOp<void>({
  type: "Range",
  parse: () => undefined,
  valueInputs: [0, 1, 2],
  infer(c) {
    const t = c.need(0, "start");
    const { count } = rangeSpec(c);
    return [{ dataType: t.dataType, shape: checkDims(c, [count], "start, limit and delta") }];
  },
  algorithms: [
    {
      name: "range.fill",
      setup(n) {
        const { start, delta, count } = rangeSpec(knownOf(n));
        const k = n.kernels,
          yp = n.output(0);
        if (n.outputs[0]!.elem === "f32") return () => k.range_f32_forward(yp, start, delta, count);
        return () => k.range_i32_forward(yp, start, delta, count);
      },
    },
  ],
});

registerOp<{ upper: boolean }>({
  type: "Trilu",
  parse: (at) => ({ upper: at.int("upper", 1) !== 0 }),
  valueInputs: [1],
  infer(c) {
    const x = c.need(0, "input");
    if (x.shape.length < 2) c.fail(`expects a tensor of rank >= 2, got ${fmtShape(x.shape)}`);
    return [x];
  },
  // the same mask applied to dy
  gradient: (g) => g.wants(0) && g.add(0, g.op("Trilu", [g.dy(0)!, g.x(1)], g.attrs)[0]!),
  algorithms: [
    {
      name: "trilu.rows",
      setup(n) {
        const x = n.inputs[0]!,
          r = x.shape.length;
        const kv = n.inputs[1]?.known;
        const diag = kv ? Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, kv.data[0]!)) : 0;
        const rows = x.shape[r - 2]!,
          cols = x.shape[r - 1]!,
          batch = sizeOfDims(x.shape.slice(0, r - 2));
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0),
          upper = n.attrs.upper ? 1 : 0;
        if (x.size === 0) return () => {};
        return () => k.trilu_forward(yp, xp, batch, rows, cols, diag, upper);
      },
    },
  ],
});
