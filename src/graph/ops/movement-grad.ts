// The gradient ops of the data-movement ops (internal: planned by backward passes, never read from
// files). Each output is a fresh gradient of the forward input's shape, laid out like dy (no
// conversion between a channels-last forward and its backward): zeroed, then the accumulating
// backward kernels add into it.
//   RemapGrad           Pad, Tile, nearest Resize / Upsample: remap_nd_backward (crop / scatter-add,
//                       sum over repeats)
//   ResizeGrad          linear / cubic Resize / Upsample: the passes' adjoints in reverse order
//                       (scatter-add of the interpolation weights)
//   SplitGrad           Split: each output's gradient copied into its slot (zeros where none flows)
//   GatherGrad          Gather: scatter-add of dy's rows into the indexed rows
//   GatherElementsGrad  GatherElements: scatter-add of each element
// Expand's gradient is ReduceToShape (src/graph/ops/grad.ts), DepthToSpace's and SpaceToDepth's
// the inverse rearrangement, Trilu's Trilu of dy.
import { fail } from "../../errors.js";
import { contiguousStrides, ND_DESC_BYTES, writeNd } from "../nd.js";
import { buildRemap, remapWordsBound } from "../remap.js";
import { type BoundNode, onnxOrder, registerOp, type TensorType } from "../registry.js";
import { identityPerm, logicalStrides, sizeOfDims } from "../types.js";
import { zeroOutput } from "./grad.js";
import { remapAxes } from "./movement.js";
import { type AxisPlan, bindPasses, intermediateBytes, type ResizeAttrs, separableParamBytes } from "./resize.js";
import { normAxis } from "./util.js";

/** An output of the forward input's shape (attrs.shape) with dy's element type. */
const ofShape = (c: { attrs: { shape: readonly number[] }; need(i: number, n: string): TensorType }): TensorType[] => [
  { dataType: c.need(0, "dy").dataType, shape: [...c.attrs.shape] },
];

/** dy read as it lies; dx in dy's axis order (same rank). */
const likeDy = (c: { inputs: readonly ({ perm: readonly number[] } | undefined)[]; outputs: readonly TensorType[] }) => ({
  inputs: c.inputs.map((v, i) => (i === 0 || !v ? ("any" as const) : identityPerm(v.perm.length))),
  outputs: [c.inputs[0]!.perm],
});

const none = () => {};

// dx[source of each element] += dy: the adjoint of a remap whose per-axis sources are `src`
// (per logical axis of x, one entry per index of y's axis; -1 reads the fill value: no gradient).
registerOp<{ shape: readonly number[]; src: readonly ArrayLike<number>[] }>({
  type: "RemapGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: ofShape,
  layout: likeDy,
  algorithms: [
    {
      name: "remapGrad.scatter",
      paramBytes: (n) => remapWordsBound(n.inputs[0]!.dims) * 4,
      setup(n) {
        const dy = n.inputs[0]!,
          dx = n.outputs[0]!;
        const zero = zeroOutput(n, 0);
        if (dy.size === 0 || dx.size === 0) return zero;
        n.engine.heap.i32.set(
          buildRemap(
            remapAxes(dx, dy, (a) => n.attrs.src[a]!),
            0,
            n.where,
          ),
          n.params >> 2,
        );
        const k = n.kernels,
          dxp = n.output(0),
          dyp = n.input(0),
          plan = n.params;
        return () => {
          zero();
          k.remap_nd_backward(dxp, dyp, plan);
        };
      },
    },
  ],
});

interface ResizeGradAttrs {
  resize: ResizeAttrs;
  plan: readonly AxisPlan[];
  shape: readonly number[];
}

/** The forward's x as the passes see it: dx's shape in dy's axis order. */
const xLike = (n: BoundNode<ResizeGradAttrs>) => ({ shape: n.attrs.shape, perm: n.inputs[0]!.perm });

// the adjoint of the separable resampling: dy through each pass's resize_f32_backward, last pass
// first, into zeroed intermediates and finally into dx
registerOp<ResizeGradAttrs>({
  type: "ResizeGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: ofShape,
  layout: likeDy,
  algorithms: [
    {
      name: "resizeGrad.passes",
      paramBytes: (n) => separableParamBytes(n.attrs.resize, n.attrs.plan),
      workspaceBytes: (n) => intermediateBytes(n.attrs.resize, n.attrs.plan, { shape: n.attrs.shape, perm: n.inputs[0]!.perm }),
      setup(n) {
        const dy = n.inputs[0]!;
        const zero = zeroOutput(n, 0);
        if (dy.size === 0 || n.outputs[0]!.size === 0) return zero;
        const k = n.kernels,
          dxp = n.output(0),
          dyp = n.input(0);
        const calls = bindPasses(n.attrs.resize, n, n.attrs.plan, xLike(n), dxp, dyp);
        if (calls.length === 0) {
          writeNd(n.engine.heap.i32, n.params, { dims: [dy.size], strides: [[1], [1]] }, n.where);
          const desc = n.params;
          return () => k.copy_nd(dxp, dyp, desc);
        }
        return () => {
          zero();
          for (let i = calls.length - 1; i >= 0; i--) {
            const c = calls[i]!;
            if (i > 0) k.fill_f32(c.src, 0, c.before); // an intermediate's gradient starts at zero
            k.resize_f32_backward(c.src, c.dst, c.table, c.outer, c.inLen, c.outLen, c.inner, c.taps);
          }
        };
      },
    },
  ],
});

// Split's input gradient: each output's gradient (inputs, undefined where none flows) in its slot
registerOp<{ axis: number; shape: readonly number[]; sizes: readonly number[] }>({
  type: "SplitGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => {
    const first = Array.from({ length: c.inputCount }, (_, i) => c.input(i)).find(Boolean) ?? c.fail("internal: no gradient flows");
    return [{ dataType: first.dataType, shape: [...c.attrs.shape] }];
  },
  layout: (c) => {
    const p = c.inputs.find(Boolean)!.perm;
    return { inputs: c.inputs.map((v) => (v ? p : "any")), outputs: [p] };
  },
  algorithms: [
    {
      name: "splitGrad.copy",
      paramBytes: (n) => n.inputs.length * ND_DESC_BYTES,
      setup(n) {
        const dx = n.outputs[0]!,
          axis = n.attrs.axis;
        const xs = logicalStrides(dx.shape, dx.perm);
        const calls: [number, number, number][] = [];
        let at = 0;
        n.inputs.forEach((dy, i) => {
          if (dy && dy.size > 0) {
            const desc = n.params + i * ND_DESC_BYTES;
            writeNd(n.engine.heap.i32, desc, { dims: [...dy.dims], strides: [dy.perm.map((a) => xs[a]!), contiguousStrides(dy.dims)] }, n.where);
            calls.push([n.output(0) + 4 * at * xs[axis]!, n.input(i), desc]);
          }
          at += n.attrs.sizes[i]!;
        });
        const zero = n.inputs.some((v) => !v) ? zeroOutput(n, 0) : none;
        const k = n.kernels;
        return () => {
          zero();
          for (const [d, s, desc] of calls) k.copy_nd(d, s, desc);
        };
      },
    },
  ],
});

// Gather's data gradient: dy's rows added into the rows the indices chose (inputs: dy, indices)
registerOp<{ axis: number; shape: readonly number[] }>({
  type: "GatherGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: ofShape,
  // 1-D indices keep the rank: dx in dy's axis order, as the forward; otherwise ONNX order
  layout: (c) => (c.inputs[1]!.shape.length === 1 ? { inputs: ["any", [0]], outputs: [c.inputs[0]!.perm] } : onnxOrder(c)),
  algorithms: [
    {
      name: "gatherGrad.scatter",
      setup(n) {
        const dx = n.outputs[0]!,
          idx = n.inputs[1]!;
        const zero = zeroOutput(n, 0);
        if (dx.size === 0 || n.inputs[0]!.size === 0) return zero;
        const ax = normAxis({ fail: (m) => fail(n.where, m) }, n.attrs.axis, dx.shape.length);
        const j = dx.perm.indexOf(ax);
        const outer = sizeOfDims(dx.dims.slice(0, j)),
          len = dx.shape[ax]!,
          inner = sizeOfDims(dx.dims.slice(j + 1));
        const k = n.kernels,
          dxp = n.output(0),
          dyp = n.input(0),
          ip = n.input(1),
          count = idx.size;
        return () => {
          zero();
          const bad = k.gather_axis_f32_backward(dxp, dyp, ip, outer, len, count, inner);
          if (bad !== 0) fail(n.where, `${bad} indices are outside [-${len}, ${len - 1}]`);
        };
      },
    },
  ],
});

// GatherElements' data gradient: each dy element added where its index points (inputs: dy, indices)
registerOp<{ axis: number; shape: readonly number[] }>({
  type: "GatherElementsGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: ofShape,
  algorithms: [
    {
      name: "gatherElementsGrad.scatter",
      paramBytes: () => ND_DESC_BYTES,
      setup(n) {
        const dy = n.inputs[0]!,
          dx = n.outputs[0]!;
        const zero = zeroOutput(n, 0);
        if (dy.size === 0 || dx.size === 0) return zero;
        const ax = normAxis({ fail: (m) => fail(n.where, m) }, n.attrs.axis, dx.shape.length);
        const xs = contiguousStrides(dx.shape),
          ys = contiguousStrides(dy.shape);
        writeNd(n.engine.heap.i32, n.params, { dims: [...dy.shape], strides: [ys, xs.map((s, a) => (a === ax ? 0 : s)), ys] }, n.where);
        const k = n.kernels,
          dxp = n.output(0),
          dyp = n.input(0),
          ip = n.input(1),
          desc = n.params,
          st = xs[ax]!,
          len = dx.shape[ax]!;
        return () => {
          zero();
          const bad = k.gather_elements_f32_backward(dxp, dyp, ip, desc, st, len);
          if (bad !== 0) fail(n.where, `${bad} indices are outside [-${len}, ${len - 1}]`);
        };
      },
    },
  ],
});
