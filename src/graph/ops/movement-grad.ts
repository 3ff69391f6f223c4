// Backward passes of the data-movement ops, for the runtime's backward planning to bind. Each is
// set up like a forward algorithm (sizes from the forward node; setup once, binding addresses;
// the run closure allocates nothing) and ACCUMULATES into the input gradients (dx += ...):
//   Pad, Tile                 remap_nd_backward (crop / scatter-add, sum over repeats)
//   Resize, Upsample          nearest: remap_nd_backward; linear / cubic: the passes' adjoints in
//                             reverse order (scatter-add of the interpolation weights)
//   Expand                    copy_nd_backward (sum over the broadcast axes)
//   Split, Concat, Slice      copy_nd_backward per piece
//   DepthToSpace, SpaceToDepth copy_nd_backward (the inverse permutation)
//   Gather, GatherElements    scatter-add (gather_axis_f32_backward, gather_elements_f32_backward)
//   Trilu                     the mask applied to dy, added
// A gradient lies in its value's layout (dx in x's perm, dy in y's). Float values only.
import { fail } from "../../errors.js";
import { contiguousStrides, ND_DESC_BYTES, writeNd } from "../nd.js";
import { buildRemap, remapWordsBound } from "../remap.js";
import type { BoundNode, PlanNode } from "../registry.js";
import { logicalStrides, sizeOfDims } from "../types.js";
import { blockLoop as blockLoopOf, broadcastLoop, knownOf, padSource, padSpec, type PadAttrs, remapAxes } from "./movement.js";
import { bindPasses, intermediateBytes, nearestWords, planOf, type ResizeAttrs, separableParamBytes } from "./resize.js";
import { sliceBounds } from "./shape.js";
import { copyLoop, normAxis } from "./util.js";

/** A node bound for its backward pass: the forward node, plus its gradients' addresses. */
export interface GradNode<A> extends BoundNode<A> {
  /** Address of dL/d(output i), read. */
  dOutput(i: number): number;
  /** Address of dL/d(input i), accumulated into; 0 when input i needs no gradient. */
  dInput(i: number): number;
}

export interface GradAlgorithm<A> {
  /** `<op>.backward`. */
  readonly name: string;
  paramBytes?(n: PlanNode<A>): number;
  /** Scratch bytes during the run (contents undefined at entry). */
  workspaceBytes?(n: PlanNode<A>): number;
  setup(n: GradNode<A>): () => void;
}

const none = () => {};

/** dx += remap^T(dy) with the remap plan `words` (written into the params). */
function remapBackward<A>(name: string, words: (n: PlanNode<A>) => Int32Array): GradAlgorithm<A> {
  return {
    name,
    paramBytes: (n) => (n.outputs[0]!.size === 0 ? 0 : remapWordsBound(n.outputs[0]!.dims) * 4),
    setup(n) {
      const dx = n.dInput(0);
      if (!dx || n.outputs[0]!.size === 0) return none;
      n.engine.heap.i32.set(words(n), n.params >> 2);
      const k = n.kernels,
        dy = n.dOutput(0),
        plan = n.params;
      return () => k.remap_nd_backward(dx, dy, plan);
    },
  };
}

const padWords = (n: PlanNode<PadAttrs>) => {
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const { begin, end } = padSpec(knownOf(n), x.shape.length);
  return buildRemap(
    remapAxes(x, y, (a) => padSource(x.shape[a]!, begin[a]!, end[a]!, n.attrs.mode)),
    0,
    n.where,
  );
};

const tileWords = (n: PlanNode<void>) => {
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  return buildRemap(
    remapAxes(x, y, (a) => Int32Array.from({ length: y.shape[a]! }, (_, o) => o % x.shape[a]!)),
    0,
    n.where,
  );
};

/** A backward that is copy_nd_backward over one descriptor; `loop` writes it and returns (dx offset, dy offset) in elements. */
function copyBackward<A>(name: string, loop: (n: GradNode<A>, desc: number) => [number, number]): GradAlgorithm<A> {
  return {
    name,
    paramBytes: () => ND_DESC_BYTES,
    setup(n) {
      const dx = n.dInput(0);
      if (!dx || n.outputs[0]!.size === 0) return none;
      const [xo, yo] = loop(n, n.params);
      const k = n.kernels,
        dxp = dx + 4 * xo,
        dyp = n.dOutput(0) + 4 * yo,
        desc = n.params;
      return () => k.copy_nd_backward(dxp, dyp, desc);
    },
  };
}

const resizeBackward: GradAlgorithm<ResizeAttrs> = {
  name: "resize.backward",
  paramBytes(n) {
    if (n.outputs[0]!.size === 0) return 0;
    if (n.attrs.mode === "nearest") return remapWordsBound(n.outputs[0]!.dims) * 4;
    return separableParamBytes(n.attrs, planOf(n));
  },
  workspaceBytes: (n) => (n.outputs[0]!.size === 0 || n.attrs.mode === "nearest" ? 0 : intermediateBytes(n.attrs, planOf(n), n.inputs[0]!)),
  setup(n) {
    const x = n.inputs[0]!,
      y = n.outputs[0]!;
    const dx = n.dInput(0);
    if (!dx || y.size === 0) return none;
    const k = n.kernels,
      dy = n.dOutput(0);
    if (n.attrs.mode === "nearest") {
      n.engine.heap.i32.set(nearestWords(n, 0), n.params >> 2);
      const plan = n.params;
      return () => k.remap_nd_backward(dx, dy, plan);
    }
    // the forward pass i reads src (x or an intermediate) and writes dst (an intermediate or y): its
    // adjoint adds into src's gradient from dst's, in reverse order; an intermediate's starts at 0
    const calls = bindPasses(n, planOf(n), x, dx, dy);
    if (calls.length === 0) {
      writeNd(n.engine.heap.i32, n.params, { dims: [y.size], strides: [[1], [1]] }, n.where);
      const desc = n.params;
      return () => k.copy_nd_backward(dx, dy, desc);
    }
    return () => {
      for (let i = calls.length - 1; i >= 0; i--) {
        const c = calls[i]!;
        if (i > 0) k.fill_f32(c.src, 0, c.before);
        k.resize_f32_backward(c.src, c.dst, c.table, c.outer, c.inLen, c.outLen, c.inner, c.taps);
      }
    };
  },
};

/** The physical offset (elements) of logical index `at` along `axis` of a value. */
const offsetAlong = (v: { shape: readonly number[]; perm: readonly number[] }, axis: number, at: number) => at * logicalStrides(v.shape, v.perm)[axis]!;

const splitBackward: GradAlgorithm<{ axis: number }> = {
  name: "split.backward",
  paramBytes: (n) => n.outputs.length * ND_DESC_BYTES,
  setup(n) {
    const x = n.inputs[0]!,
      dx = n.dInput(0);
    if (!dx) return none;
    const axis = normAxis({ fail: (m) => fail(n.where, m) }, n.attrs.axis, x.shape.length);
    const xs = logicalStrides(x.shape, x.perm);
    const calls: [number, number, number][] = [];
    let at = 0;
    n.outputs.forEach((y, i) => {
      const dy = n.dOutput(i);
      if (y.size > 0 && dy) {
        const desc = n.params + i * ND_DESC_BYTES;
        writeNd(n.engine.heap.i32, desc, { dims: [...y.dims], strides: [contiguousStrides(y.dims), y.perm.map((a) => xs[a]!)] }, n.where);
        calls.push([dx + 4 * offsetAlong(x, axis, at), dy, desc]);
      }
      at += y.shape[axis]!;
    });
    const k = n.kernels;
    return () => {
      for (const [d, s, desc] of calls) k.copy_nd_backward(d, s, desc);
    };
  },
};

const concatBackward: GradAlgorithm<{ axis: number }> = {
  name: "concat.backward",
  paramBytes: (n) => n.inputs.length * ND_DESC_BYTES,
  setup(n) {
    const y = n.outputs[0]!;
    const axis = normAxis({ fail: (m) => fail(n.where, m) }, n.attrs.axis, y.shape.length);
    const ys = contiguousStrides(y.dims);
    const calls: [number, number, number][] = [];
    let at = 0;
    n.inputs.forEach((x, i) => {
      const dx = n.dInput(i);
      if (x!.size > 0 && dx) {
        const desc = n.params + i * ND_DESC_BYTES;
        copyLoop(n, desc, y, x!.dims, ys, x!);
        calls.push([dx, n.dOutput(0) + 4 * at * ys[y.perm.indexOf(axis)]!, desc]);
      }
      at += x!.shape[axis]!;
    });
    const k = n.kernels;
    return () => {
      for (const [d, s, desc] of calls) k.copy_nd_backward(d, s, desc);
    };
  },
};

const gatherBackward: GradAlgorithm<{ axis: number }> = {
  name: "gather.backward",
  setup(n) {
    const x = n.inputs[0]!,
      idx = n.inputs[1]!,
      dx = n.dInput(0);
    if (!dx || n.outputs[0]!.size === 0) return none;
    const ax = normAxis({ fail: (m) => fail(n.where, m) }, n.attrs.axis, x.shape.length);
    const j = x.perm.indexOf(ax);
    const outer = sizeOfDims(x.dims.slice(0, j)),
      len = x.shape[ax]!,
      inner = sizeOfDims(x.dims.slice(j + 1));
    const k = n.kernels,
      dy = n.dOutput(0),
      ip = n.input(1),
      count = idx.size;
    return () => {
      const bad = k.gather_axis_f32_backward(dx, dy, ip, outer, len, count, inner);
      if (bad !== 0) fail(n.where, `${bad} indices are outside [-${len}, ${len - 1}]`);
    };
  },
};

const gatherElementsBackward: GradAlgorithm<{ axis: number }> = {
  name: "gatherElements.backward",
  paramBytes: () => ND_DESC_BYTES,
  setup(n) {
    const x = n.inputs[0]!,
      y = n.outputs[0]!,
      dx = n.dInput(0);
    if (!dx || y.size === 0) return none;
    const ax = normAxis({ fail: (m) => fail(n.where, m) }, n.attrs.axis, x.shape.length);
    const xs = contiguousStrides(x.shape),
      ys = contiguousStrides(y.shape);
    writeNd(n.engine.heap.i32, n.params, { dims: [...y.shape], strides: [ys, xs.map((s, a) => (a === ax ? 0 : s)), ys] }, n.where);
    const k = n.kernels,
      dy = n.dOutput(0),
      ip = n.input(1),
      desc = n.params,
      st = xs[ax]!,
      len = x.shape[ax]!;
    return () => {
      const bad = k.gather_elements_f32_backward(dx, dy, ip, desc, st, len);
      if (bad !== 0) fail(n.where, `${bad} indices are outside [-${len}, ${len - 1}]`);
    };
  },
};

const triluBackward: GradAlgorithm<{ upper: boolean }> = {
  name: "trilu.backward",
  workspaceBytes: (n) => n.outputs[0]!.size * 4,
  setup(n) {
    const x = n.inputs[0]!,
      dx = n.dInput(0);
    if (!dx || x.size === 0) return none;
    const r = x.shape.length,
      kv = n.inputs[1]?.known;
    const diag = kv ? Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, kv.data[0]!)) : 0;
    const rows = x.shape[r - 2]!,
      cols = x.shape[r - 1]!,
      batch = sizeOfDims(x.shape.slice(0, r - 2));
    const k = n.kernels,
      dy = n.dOutput(0),
      ws = n.workspace,
      upper = n.attrs.upper ? 1 : 0,
      size = x.size;
    return () => {
      k.trilu_forward(ws, dy, batch, rows, cols, diag, upper);
      k.add_f32_forward(dx, dx, ws, size);
    };
  },
};

/** Backward passes by ONNX op type. */
export const MOVEMENT_GRADS: ReadonlyMap<string, GradAlgorithm<any>> = new Map<string, GradAlgorithm<any>>([
  ["Pad", remapBackward<PadAttrs>("pad.backward", padWords)],
  ["Tile", remapBackward<void>("tile.backward", tileWords)],
  ["Resize", resizeBackward],
  ["Upsample", resizeBackward],
  ["Expand", copyBackward<void>("expand.backward", (n, desc) => (broadcastLoop(n, desc, n.inputs[0]!, n.outputs[0]!), [0, 0]))],
  ["Split", splitBackward],
  ["Concat", concatBackward],
  [
    "Slice",
    copyBackward<{ starts?: number[]; ends?: number[]; axes?: number[] }>("slice.backward", (n, desc) => {
      const x = n.inputs[0]!,
        y = n.outputs[0]!;
      const { begin, step } = sliceBounds(knownOf(n), x.shape);
      const xs = logicalStrides(x.shape, x.perm);
      copyLoop(n, desc, y, y.dims, contiguousStrides(y.dims), x, step);
      return [begin.reduce((acc, b, a) => acc + b * xs[a]!, 0), 0];
    }),
  ],
  ["DepthToSpace", copyBackward<{ block: number; crd: boolean }>("depthToSpace.backward", (n, desc) => (blockLoopOf(n, desc, true), [0, 0]))],
  ["SpaceToDepth", copyBackward<{ block: number; crd: boolean }>("spaceToDepth.backward", (n, desc) => (blockLoopOf(n, desc, false), [0, 0]))],
  ["Gather", gatherBackward],
  ["GatherElements", gatherElementsBackward],
  ["Trilu", triluBackward],
]);
