// Shared pieces of the ops' backward passes: the gradient-op helpers every op family uses, and the
// planner's Accumulate (a parameter's gradient += the sum of its contributions).
// A gradient op is an internal op (registerOp with `internal: true`): planned like any other step
// (layouts, algorithm, memory) but never read from a file. Its outputs are fresh values: algorithms
// zero them and let the accumulating backward kernels (dx += ...) add into them.
import { fmtShape } from "../../errors.js";
import { DataType } from "../../onnx/onnx-proto.js";
import { contiguousStrides, ND_DESC_BYTES, writeNd } from "../nd.js";
import type { BoundNode, InferContext, LayoutChoice, LayoutContext, PlanValue, TensorType } from "../registry.js";
import { registerOp } from "../registry.js";
import { identityPerm, logicalStrides, type Perm } from "../types.js";

/** Every input and output of a gradient op in the axis order of its input k (a forward value). */
export const followInput =
  (k: number) =>
  (c: LayoutContext<unknown>): LayoutChoice => {
    const p = c.inputs[k]!.perm;
    return {
      inputs: c.inputs.map((v) => (!v ? "any" : v.shape.length === p.length ? p : identityPerm(v.shape.length))),
      outputs: c.outputs.map((t) => (t.shape.length === p.length ? p : identityPerm(t.shape.length))),
    };
  };

/** An output with input k's type. */
export const likeInput =
  (k: number) =>
  (c: InferContext<unknown>): TensorType[] => [c.need(k, `input ${k}`)];

/** An output of the shape in the attributes ({ shape }) and input 0's element type. */
export const ofShape = (c: InferContext<{ shape: readonly number[] }>): TensorType[] => [{ dataType: c.need(0, "dy").dataType, shape: c.attrs.shape }];

/** Zeroes output i (before an accumulating kernel adds into it). */
export const zeroOutput = (n: BoundNode<unknown>, i: number): (() => void) => {
  const k = n.kernels,
    p = n.output(i),
    size = n.outputs[i]!.size;
  return () => k.fill_f32(p, 0, size);
};

/**
 * Writes at `desc` the loop that adds x (any perm) into y (any perm) element for element, where y's
 * shape is x's with some axes (leading ones, or ones of extent 1) broadcast: y's stride is 0 there.
 */
export function reduceLoop(n: BoundNode<unknown>, desc: number, y: PlanValue, x: PlanValue): void {
  const r = x.shape.length,
    off = r - y.shape.length;
  const ys = logicalStrides(y.shape, y.perm),
    xs = logicalStrides(x.shape, x.perm);
  const yAlong = (a: number) => (a < off || y.shape[a - off] === 1 ? 0 : ys[a - off]!);
  const xd = x.perm.map((a) => x.shape[a]!);
  writeNd(n.engine.heap.i32, desc, { dims: xd, strides: [x.perm.map(yAlong), x.perm.map((a) => xs[a]!)] }, n.where);
}

// The gradient of a value broadcast in the forward pass: dy summed over the broadcast axes, into
// the input's shape (attrs.shape), in ONNX order.
registerOp<{ shape: readonly number[] }>({
  type: "ReduceToShape",
  internal: true,
  parse: () => ({ shape: [] }),
  infer: ofShape,
  layout: (c) => ({ inputs: ["any"], outputs: [identityPerm(c.outputs[0]!.shape.length)] }),
  algorithms: [
    {
      name: "reduceToShape.accumulate",
      paramBytes: () => ND_DESC_BYTES,
      setup(n) {
        const zero = zeroOutput(n, 0),
          k = n.kernels,
          y = n.output(0),
          x = n.input(0),
          desc = n.params;
        reduceLoop(n, desc, n.outputs[0]!, n.inputs[0]!);
        return () => {
          zero();
          k.accumulate_nd(y, x, desc);
        };
      },
    },
  ],
});

// target += d: a parameter's gradient (target: the caller's tensor, ONNX order) gets one step's sum.
registerOp<void>({
  type: "Accumulate",
  internal: true,
  parse: () => undefined,
  infer: (c) => {
    const t = c.need(0, "target"),
      d = c.need(1, "d");
    if (t.shape.join() !== d.shape.join()) c.fail(`internal: accumulating ${fmtShape(d.shape)} into ${fmtShape(t.shape)}`);
    return [];
  },
  layout: (c) => ({ inputs: c.inputs.map((v) => identityPerm(v!.shape.length)), outputs: [] }),
  algorithms: [
    {
      name: "accumulate.axpy",
      setup(n) {
        const k = n.kernels,
          t = n.input(0),
          d = n.input(1),
          size = n.inputs[0]!.size;
        return () => k.axpy_f32(t, d, 1, size);
      },
    },
  ],
});

/** A perm's inverse applied to an axis list (for views and transposes). */
export const permuted = (p: Perm, axes: readonly number[]): number[] => p.map((a) => axes[a]!);

export { contiguousStrides };

// A float32 value of zeros of attrs.shape (the base a gradient scatters into), in ONNX order.
registerOp<{ shape: readonly number[] }>({
  type: "Zeros",
  internal: true,
  parse: () => ({ shape: [] }),
  infer: (c) => [{ dataType: DataType.FLOAT, shape: c.attrs.shape }],
  algorithms: [{ name: "zeros.fill", setup: (n) => zeroOutput(n as BoundNode<unknown>, 0) }],
});
