// Reductions and the ops along one axis, on assembly/reduce.ts and assembly/softmax.ts:
//   ReduceSum, ReduceMean, ReduceSumSquare, ReduceL1, ReduceL2, ReduceLogSumExp, ReduceMax,
//   ReduceMin, ReduceProd (axes as attribute or input, keepdims, noop_with_empty_axes), ArgMax,
//   ArgMin, Softmax, LogSoftmax, Hardmax.
// Every op here reads its input in whatever axis order it has (a reduction over the channels of
// an NHWC value reads its innermost axis; no transpose copy runs) and gives its output in the
// same order (minus the reduced axes), so nothing is converted before or after.
import type { Engine } from "../../engine.js";
import { fail, fmtShape } from "../../errors.js";
import type { Attributes } from "../../onnx/attributes.js";
import { DataType } from "../../onnx/onnx-proto.js";
import { contiguousStrides, ND_DESC_BYTES, writeNd } from "../nd.js";
import {
  type GradientBuilder,
  type InferContext,
  type LayoutChoice,
  type LayoutContext,
  type PlanNode,
  type PlanValue,
  registerOp,
  type TensorType,
} from "../registry.js";
import { identityPerm, intsOf, isFloat, type Perm, sizeOfDims } from "../types.js";
import { normAxis } from "./util.js";

// ---------------------------------------------------------------------------------------------
// reductions

/** Reduction kinds: the `kind` argument of reduce_f32_forward / reduce_i32_forward. */
export const REDUCE_KIND = {
  ReduceSum: 0,
  ReduceMean: 1,
  ReduceSumSquare: 2,
  ReduceL1: 3,
  ReduceL2: 4,
  ReduceLogSumExp: 5,
  ReduceMax: 6,
  ReduceMin: 7,
  ReduceProd: 8,
} as const;
export type ReduceType = keyof typeof REDUCE_KIND;

/** Lanes per tile and cascade levels of reduce_f32_forward (assembly/reduce.ts REDUCE_TILE, LEVELS). */
const REDUCE_TILE = 256,
  REDUCE_LEVELS = 32;
/** Workspace floats of reduce_f32_forward for V (mirrors reduce_f32_workspace; a test checks). */
export const reduceWorkspaceFloats = (V: number): number => (Math.min(V, REDUCE_TILE) + 1) * (REDUCE_LEVELS + 1);

interface ReduceAttrs {
  /** From the attribute (older opsets); undefined: from input 1, or none. */
  axes?: number[];
  axesInput: boolean;
  keepdims: boolean;
  noop: boolean;
}

/** The reduced logical axes (sorted, unique) of a node whose input has rank r. */
function reducedAxes(c: { fail(m: string): never }, a: ReduceAttrs, r: number, axesValue: number[] | undefined): number[] {
  const given = a.axesInput ? axesValue : a.axes;
  if (!given || given.length === 0) return a.noop ? [] : identityPerm(r);
  const ax = given.map((v) => normAxis(c, v, Math.max(r, 1)));
  if (new Set(ax).size !== ax.length) c.fail(`axes [${given.join(",")}] repeat an axis`);
  return ax.sort((p, q) => p - q);
}

/** The reduced output's perm: x's perm without the reduced axes (keepdims: x's perm). */
function reducedPerm(perm: Perm, reduced: readonly number[], keepdims: boolean): number[] {
  if (keepdims) return [...perm];
  const kept = perm.filter((a) => !reduced.includes(a));
  const rank = (a: number) => a - reduced.filter((b) => b < a).length;
  return kept.map(rank);
}

/** The loop of reduce_*_forward for x (any perm) and a set of reduced logical axes. */
export interface ReduceLoop {
  /** Outer kept axes: extents and x strides (physical order). */
  kept: { dims: number[]; strides: number[] };
  /** Outer reduced axes: extents and x strides. */
  red: { dims: number[]; strides: number[] };
  V: number;
  L: number;
}

export function reduceLoop(shape: readonly number[], perm: Perm, reduced: readonly number[]): ReduceLoop {
  const dims = perm.map((a) => shape[a]!),
    strides = contiguousStrides(dims);
  const isRed = perm.map((a) => reduced.includes(a));
  const axes = dims.flatMap((d, j) => (d === 1 ? [] : [j]));
  let V = 1,
    L = 1,
    j = axes.length - 1;
  if (j >= 0) {
    const innerRed = isRed[axes[j]!]!;
    let ext = 1;
    for (; j >= 0 && isRed[axes[j]!] === innerRed; j--) ext *= dims[axes[j]!]!;
    if (innerRed) L = ext;
    else V = ext;
  }
  const outer = axes.slice(0, j + 1);
  const pick = (red: boolean) => {
    const list = outer.filter((a) => isRed[a] === red);
    return list.length ? { dims: list.map((a) => dims[a]!), strides: list.map((a) => strides[a]!) } : { dims: [1], strides: [0] };
  };
  return { kept: pick(false), red: pick(true), V, L };
}

function reduceOp(type: ReduceType): void {
  const kind = REDUCE_KIND[type];
  registerOp<ReduceAttrs>({
    type,
    parse(at: Attributes, opset: number) {
      const axesInput = type === "ReduceSum" ? opset >= 13 : opset >= 18;
      return { axes: axesInput ? undefined : at.ints("axes"), axesInput, keepdims: at.int("keepdims", 1) !== 0, noop: at.int("noop_with_empty_axes", 0) !== 0 };
    },
    valueInputs: [1],
    infer(c) {
      const x = c.need(0, "data");
      const r = x.shape.length;
      const v = c.value(1);
      const reduced = reducedAxes(c, c.attrs, r, v ? intsOf(v) : undefined);
      const shape = c.attrs.keepdims ? x.shape.map((d, i) => (reduced.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !reduced.includes(i));
      return [{ dataType: x.dataType, shape }];
    },
    layout(c: LayoutContext<ReduceAttrs>): LayoutChoice {
      const x = c.inputs[0]!;
      const v = c.inputs[1]?.known;
      const reduced = reducedAxes({ fail: (m) => fail(type, m) }, c.attrs, x.shape.length, v ? intsOf(v) : undefined);
      return { inputs: c.inputs.map(() => "any"), outputs: [reducedPerm(x.perm, reduced, c.attrs.keepdims)] };
    },
    gradient(g) {
      const x = g.x(0)!,
        dy = g.dy(0);
      if (!g.wants(0) || !dy) return;
      const v = g.x(1)?.known;
      const reduced = reducedAxes({ fail: (m) => fail(g.where, m) }, g.attrs, x.shape.length, v ? intsOf(v) : undefined);
      g.add(0, g.op("ReduceGrad", [dy, x, g.y(0)], { type, reduced })[0]!);
    },
    algorithms: [
      {
        name: `${lowerFirst(type)}.strided`,
        workspaceBytes: (n) => (n.inputs[0]!.elem === "f32" ? 4 * reduceWorkspaceFloats(loopOf(n).V) : 0),
        paramBytes: () => 2 * ND_DESC_BYTES,
        setup(n) {
          const x = n.inputs[0]!,
            y = n.outputs[0]!;
          const loop = loopOf(n);
          const i32 = n.engine.heap.i32,
            kept = n.params,
            red = n.params + ND_DESC_BYTES;
          writeNd(i32, kept, { dims: loop.kept.dims, strides: [loop.kept.strides] }, n.where);
          writeNd(i32, red, { dims: loop.red.dims, strides: [loop.red.strides] }, n.where);
          const k = n.kernels,
            yp = n.output(0),
            xp = n.input(0),
            ws = n.workspace,
            { V, L } = loop;
          if (y.size === 0) return () => {};
          if (x.elem === "f32") return () => k.reduce_f32_forward(yp, xp, ws, kept, red, V, L, kind);
          return () => k.reduce_i32_forward(yp, xp, kept, red, V, L, kind);
        },
      },
    ],
  });
}

function loopOf(n: PlanNode<ReduceAttrs>): ReduceLoop {
  const x = n.inputs[0]!;
  const v = n.inputs[1]?.known;
  const reduced = reducedAxes({ fail: (m) => fail(n.where, m) }, n.attrs, x.shape.length, v ? intsOf(v) : undefined);
  return reduceLoop(x.shape, x.perm, reduced);
}

/** Workspace floats of reduce_f32_backward for V (mirrors reduce_f32_backward_workspace). */
export const reduceBackwardWorkspaceFloats = (V: number): number => 2 * Math.min(V, REDUCE_TILE);

/**
 * The backward of a reduction, pointer-level: with x of logical `shape` stored in `perm` order and
 * y, dy laid out as the forward wrote y (kept axes in x's order), accumulates dx (x's layout) +=
 * dy * dy/dx. `desc`: 2 * ND_DESC_BYTES of caller memory for the loop; `ws`:
 * reduceBackwardWorkspaceFloats(V) floats, V = reduceLoop(...).V.
 */
export function reduceBackward(
  e: Engine,
  type: ReduceType,
  shape: readonly number[],
  perm: Perm,
  reduced: readonly number[],
  p: { dx: number; dy: number; x: number; y: number; ws: number; desc: number },
): void {
  const loop = reduceLoop(shape, perm, reduced);
  writeLoop(e.heap.i32, p.desc, loop, type);
  if (sizeOfDims(shape) === 0) return;
  e.kernels.reduce_f32_backward(p.dx, p.dy, p.x, p.y, p.ws, p.desc, p.desc + ND_DESC_BYTES, loop.V, loop.L, REDUCE_KIND[type]);
}

/** Writes a reduction loop's kept and reduced descriptors at desc and desc + ND_DESC_BYTES. */
function writeLoop(i32: Int32Array, desc: number, loop: ReduceLoop, where: string): void {
  writeNd(i32, desc, { dims: loop.kept.dims, strides: [loop.kept.strides] }, where);
  writeNd(i32, desc + ND_DESC_BYTES, { dims: loop.red.dims, strides: [loop.red.strides] }, where);
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

for (const t of Object.keys(REDUCE_KIND) as ReduceType[]) reduceOp(t);

// A reduction's gradient: inputs [dy, x, y] (x and y as the forward step read and wrote them; dy
// in y's order, so it lies as the forward wrote y), output dx in x's order.
registerOp<{ type: ReduceType; reduced: readonly number[] }>({
  type: "ReduceGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [c.need(1, "x")],
  layout: (c) => ({ inputs: [c.inputs[2]!.perm, "any", "any"], outputs: [c.inputs[1]!.perm] }),
  algorithms: [
    {
      name: "reduceGrad.strided",
      workspaceBytes: (n) => 4 * reduceBackwardWorkspaceFloats(reduceLoop(n.inputs[1]!.shape, n.inputs[1]!.perm, n.attrs.reduced).V),
      paramBytes: () => 2 * ND_DESC_BYTES,
      setup(n) {
        const x = n.inputs[1]!,
          a = n.attrs;
        const p = { dx: n.output(0), dy: n.input(0), x: n.input(1), y: n.input(2), ws: n.workspace, desc: n.params };
        const k = n.kernels,
          size = x.size,
          e = n.engine;
        const loop = reduceLoop(x.shape, x.perm, a.reduced),
          kind = REDUCE_KIND[a.type];
        writeLoop(e.heap.i32, p.desc, loop, n.where);
        return () => {
          k.fill_f32(p.dx, 0, size);
          if (size) k.reduce_f32_backward(p.dx, p.dy, p.x, p.y, p.ws, p.desc, p.desc + ND_DESC_BYTES, loop.V, loop.L, kind);
        };
      },
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// along one axis: x viewed as [O, R, V] in its physical order

/** [O, R, V] of value v along logical axis `axis`: the extents outside, at and inside its physical position. */
export function axisView(v: { shape: readonly number[]; perm: Perm }, axis: number): [number, number, number] {
  const dims = v.perm.map((a) => v.shape[a]!);
  const j = v.perm.indexOf(axis);
  return [sizeOfDims(dims.slice(0, j)), dims[j]!, sizeOfDims(dims.slice(j + 1))];
}

/** Workspace floats of argmax / hardmax (argmax_f32_workspace) and softmax_axis (softmax_axis_f32_workspace). */
export const axisWorkspaceFloats = (V: number): number => (V > 1 ? 2 * Math.min(V, 256) : 0);

interface ArgAttrs {
  axis: number;
  keepdims: boolean;
  last: boolean;
}

function argOp(type: "ArgMax" | "ArgMin"): void {
  const min = type === "ArgMin" ? 1 : 0;
  registerOp<ArgAttrs>({
    type,
    parse: (at) => ({ axis: at.int("axis", 0), keepdims: at.int("keepdims", 1) !== 0, last: at.int("select_last_index", 0) !== 0 }),
    infer(c) {
      const x = c.need(0, "data");
      const ax = normAxis(c, c.attrs.axis, x.shape.length);
      if (x.shape[ax] === 0) c.fail(`axis ${ax} of ${fmtShape(x.shape)} is empty: there is no ${type === "ArgMax" ? "largest" : "smallest"} element`);
      const shape = c.attrs.keepdims ? x.shape.map((d, i) => (i === ax ? 1 : d)) : x.shape.filter((_, i) => i !== ax);
      return [{ dataType: DataType.INT64, shape }];
    },
    layout(c) {
      const x = c.inputs[0]!;
      const ax = normAxis({ fail: (m) => fail(type, m) }, c.attrs.axis, x.shape.length);
      return { inputs: ["any"], outputs: [reducedPerm(x.perm, [ax], c.attrs.keepdims)] };
    },
    algorithms: [
      {
        name: `${lowerFirst(type)}.axis`,
        workspaceBytes: (n) => 4 * axisWorkspaceFloats(axisView(n.inputs[0]!, axisOf(n)).at(2)!),
        setup(n) {
          const x = n.inputs[0]!;
          const [O, R, V] = axisView(x, axisOf(n));
          const flags = min | (n.attrs.last ? 2 : 0);
          const k = n.kernels,
            yp = n.output(0),
            xp = n.input(0),
            ws = n.workspace;
          if (n.outputs[0]!.size === 0) return () => {};
          if (x.elem === "f32") return () => k.argmax_f32_forward(yp, xp, ws, O, R, V, flags);
          return () => k.argmax_i32_forward(yp, xp, O, R, V, flags);
        },
      },
    ],
  });
}

const axisOf = (n: PlanNode<{ axis: number }>): number => normAxis({ fail: (m) => fail(n.where, m) }, n.attrs.axis, n.inputs[0]!.shape.length);

argOp("ArgMax");
argOp("ArgMin");

// TopK (k as attribute before opset 10, then input K, known while planning): values and int64
// indices of the K largest (or smallest) along `axis`, sorted, the lower index first among equals;
// read in any axis order, both outputs in the input's order.

interface TopKAttrs {
  axis: number;
  largest: boolean;
  k?: number;
}

/** TopK's K: the attribute (opset < 10) or input 1's known value. */
function topkK(c: { attrs: TopKAttrs; value(i: number): { data: ArrayLike<number> } | undefined; fail(m: string): never }, len: number): number {
  let k = c.attrs.k;
  if (k === undefined) {
    const t = c.value(1) ?? c.fail("K must be known while planning (a constant or folded from shapes)");
    if (t.data.length !== 1) c.fail(`K must hold one value, got ${t.data.length}`);
    k = Number(t.data[0]);
  }
  if (!Number.isInteger(k) || k < 0 || k > len) c.fail(`K = ${k} must be in [0, ${len}] (the extent of the axis)`);
  return k;
}

registerOp<TopKAttrs>({
  type: "TopK",
  parse: (at, opset) => ({
    axis: at.int("axis", -1),
    largest: at.int("largest", 1) !== 0,
    k: opset < 10 ? at.int("k", -1) : undefined,
  }),
  valueInputs: [1],
  infer(c) {
    const x = c.need(0, "X");
    if (!isFloat(x.dataType)) c.fail("X must be a float tensor");
    const ax = normAxis(c, c.attrs.axis, x.shape.length);
    const k = topkK(c, x.shape[ax]!);
    const shape = x.shape.map((d, i) => (i === ax ? k : d));
    return [
      { dataType: x.dataType, shape },
      { dataType: DataType.INT64, shape },
    ];
  },
  layout(c) {
    const x = c.inputs[0]!;
    return { inputs: c.inputs.map((v, i) => (i === 0 ? "any" : v ? identityPerm(v.shape.length) : "any")), outputs: [x.perm, x.perm] };
  },
  // dx: dy scattered to the selected positions. The forward is planned again with its Indices
  // output (the node may not list it), then GatherElements' gradient scatters along the axis.
  gradient(g) {
    const dy = g.dy(0);
    if (!dy || !g.wants(0)) return;
    const [, indices] = g.op("TopK", [g.x(0)!, g.x(1)], g.attrs, 2);
    g.add(0, g.op("GatherElementsGrad", [dy, indices], { axis: g.attrs.axis, shape: g.x(0)!.shape })[0]!);
  },
  algorithms: [
    {
      name: "topK.select",
      // the candidates' indices, then (when nothing reads Indices) the indices written
      workspaceBytes: (n) => 4 * n.inputs[0]!.shape[axisOf(n)]! + (n.outputs[1]?.name ? 0 : 4 * n.outputs[0]!.size),
      setup(n) {
        const x = n.inputs[0]!;
        const [O, R, V] = axisView(x, axisOf(n));
        const K = n.outputs[0]!.shape[axisOf(n)]!;
        const k = n.kernels,
          vp = n.output(0),
          xp = n.input(0),
          ws = n.workspace,
          ip = n.outputs[1]?.name ? n.output(1) : ws + 4 * R,
          largest = n.attrs.largest ? 1 : 0;
        if (n.outputs[0]!.size === 0) return () => {};
        return () => k.topk_f32_forward(vp, ip, xp, ws, O, R, V, K, largest);
      },
    },
  ],
});

// Softmax, LogSoftmax, Hardmax. Opset 13+: along `axis` (default -1), in any axis order. Before
// opset 13: the input is coerced to 2-D [prod(shape[:axis]), prod(shape[axis:])] (axis default 1)
// and the op runs along the second dimension: that needs ONNX order.

interface SoftmaxAttrs {
  axis: number;
  coerce2d: boolean;
}

/** [O, R, V] of a softmax-family node. */
function softmaxView(c: { fail(m: string): never }, a: SoftmaxAttrs, x: { shape: readonly number[]; perm: Perm }): [number, number, number] {
  const r = x.shape.length;
  if (r === 0) return [1, 1, 1];
  if (a.coerce2d) {
    const ax = a.axis === r ? r : normAxis(c, a.axis, r);
    return [sizeOfDims(x.shape.slice(0, ax)), sizeOfDims(x.shape.slice(ax)), 1];
  }
  return axisView(x, normAxis(c, a.axis, r));
}

function softmaxOp(type: "Softmax" | "LogSoftmax" | "Hardmax"): void {
  registerOp<SoftmaxAttrs>({
    type,
    parse: (at, opset) => ({ axis: at.int("axis", opset < 13 ? 1 : -1), coerce2d: opset < 13 }),
    infer(c: InferContext<SoftmaxAttrs>): TensorType[] {
      const x = c.need(0, "input");
      if (!isFloat(x.dataType)) c.fail("input must be a float tensor");
      softmaxView(c, c.attrs, { shape: x.shape, perm: identityPerm(x.shape.length) });
      return [x];
    },
    layout(c) {
      const x = c.inputs[0]!;
      const p = c.attrs.coerce2d ? identityPerm(x.shape.length) : x.perm;
      return { inputs: [c.attrs.coerce2d ? p : "any"], outputs: [p] };
    },
    ...(type !== "Hardmax" && {
      gradient(g: GradientBuilder<SoftmaxAttrs>) {
        const dy = g.dy(0);
        if (g.wants(0) && dy) g.add(0, g.op(`${type}Grad`, [dy, g.y(0)], g.attrs)[0]!);
      },
    }),
    algorithms: [
      {
        name: `${lowerFirst(type)}.axis`,
        workspaceBytes: (n) => 4 * axisWorkspaceFloats(viewOf(n)[2]),
        setup(n) {
          const [O, R, V] = viewOf(n);
          const k = n.kernels,
            yp = n.output(0),
            xp = n.input(0),
            ws = n.workspace;
          if (n.outputs[0]!.size === 0) return () => {};
          if (type === "Hardmax") return () => k.hardmax_f32_forward(yp, xp, ws, O, R, V);
          const log = type === "LogSoftmax" ? 1 : 0;
          return () => k.softmax_axis_f32_forward(yp, xp, ws, O, R, V, log);
        },
      },
    ],
  });
}

const viewOf = (n: PlanNode<SoftmaxAttrs>): [number, number, number] => softmaxView({ fail: (m) => fail(n.where, m) }, n.attrs, n.inputs[0]! as PlanValue);

softmaxOp("Softmax");
softmaxOp("LogSoftmax");
softmaxOp("Hardmax");

// Softmax's and LogSoftmax's gradients: inputs [dy, y] (y as the forward wrote it, dy in its order).
function softmaxGradOp(type: "SoftmaxGrad" | "LogSoftmaxGrad"): void {
  registerOp<SoftmaxAttrs>({
    type,
    internal: true,
    parse: () => fail("internal", "not parsed"),
    infer: (c) => [c.need(1, "y")],
    layout: (c) => ({ inputs: [c.inputs[1]!.perm, "any"], outputs: [c.inputs[1]!.perm] }),
    algorithms: [
      {
        name: `${lowerFirst(type)}.axis`,
        workspaceBytes: (n) => 4 * axisWorkspaceFloats(gradViewOf(n)[2]),
        setup(n) {
          const [O, R, V] = gradViewOf(n);
          const k = n.kernels,
            dx = n.output(0),
            dy = n.input(0),
            y = n.input(1),
            ws = n.workspace,
            size = n.outputs[0]!.size,
            log = type === "LogSoftmaxGrad" ? 1 : 0;
          return () => {
            k.fill_f32(dx, 0, size);
            if (size) k.softmax_axis_f32_backward(dx, dy, y, ws, O, R, V, log);
          };
        },
      },
    ],
  });
}

const gradViewOf = (n: PlanNode<SoftmaxAttrs>): [number, number, number] => softmaxView({ fail: (m) => fail(n.where, m) }, n.attrs, n.inputs[1]! as PlanValue);

softmaxGradOp("SoftmaxGrad");
softmaxGradOp("LogSoftmaxGrad");
