// Concatenation along any axis (Inception's channel concat is axis -1 of NHWC) and its gradient,
// the split. Kernels: assembly/concat.ts (one strided block copy per input).
import { fail, fmtShape, fmtValue } from "../errors.js";
import { type Shape, sizeOf, Tensor } from "../tensor.js";
import { checkShapeArg, checkTensor, engineOf, gradTensor, outputTensor } from "./common.js";

/** The normalised axis and, per input, its columns in the [outer, cols] view; checks agreement. */
function concatPlan(op: string, shapes: Shape[], axis: number, argName: string) {
  if (shapes.length === 0) fail(op, `${argName} must hold at least one input`);
  const rank = shapes[0]!.length;
  if (rank === 0) fail(op, `${argName}[0] must have rank >= 1, got shape []`);
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    fail(op, `axis must be an integer in [${-rank}, ${rank - 1}] for rank-${rank} inputs, got ${fmtValue(axis)}`);
  }
  const ax = axis < 0 ? axis + rank : axis;
  const first = shapes[0]!;
  shapes.forEach((s, k) => {
    if (s.length !== rank) {
      fail(op, `${argName}[${k}] has shape ${fmtShape(s)} (rank ${s.length}) but ${argName}[0] has ${fmtShape(first)} (rank ${rank})`);
    }
    for (let d = 0; d < rank; d++) {
      if (d !== ax && s[d] !== first[d]) {
        fail(op, `${argName}[${k}] has shape ${fmtShape(s)} but ${argName}[0] has ${fmtShape(first)}: they must agree off axis ${ax} (dim ${d} differs)`);
      }
    }
  });
  const outer = sizeOf(first.slice(0, ax));
  const inner = sizeOf(first.slice(ax + 1));
  const cols = shapes.map((s) => s[ax]! * inner);
  const total = cols.reduce((a, b) => a + b, 0);
  const outShape = first.map((d, i) => (i === ax ? shapes.reduce((a, s) => a + s[ax]!, 0) : d));
  return { ax, outer, cols, total, outShape };
}

/**
 * Concatenates xs (same rank, equal dims except on `axis`) along `axis` (default -1: the channel
 * axis of NHWC). Returns the new tensor or `out`, whose shape must be the concatenated shape.
 */
export function concat(xs: Tensor[], axis = -1, out?: Tensor): Tensor {
  const op = "concat";
  if (!Array.isArray(xs)) fail(op, `xs must be an array of tensors, got ${typeof xs}`);
  if (xs.length === 0) fail(op, "xs must hold at least one input");
  xs.forEach((x, k) => checkTensor(op, `xs[${k}]`, x));
  const e = engineOf(op, ...xs, out);
  const plan = concatPlan(
    op,
    xs.map((x) => x.shape),
    axis,
    "xs",
  );
  const y = outputTensor(op, e, plan.outShape, out);
  if (xs.some((x) => x.ptr === y.ptr && x.size > 0)) fail(op, "out must not be one of the inputs");
  let offset = 0;
  xs.forEach((x, k) => {
    const cols = plan.cols[k]!;
    if (cols > 0 && plan.outer > 0) {
      e.kernels.concat_f32_forward(y.ptr + offset * 4, x.ptr, plan.outer, cols, plan.total, cols);
    }
    offset += cols;
  });
  return y;
}

/**
 * Gradient of concat: splits dy along `axis` into one gradient per input. `inputs` gives the input
 * shapes (or the input tensors). Accumulates into grads[k] when given, else new zeroed tensors.
 */
export function concatBackward(dy: Tensor, inputs: (Shape | Tensor)[], axis = -1, grads?: (Tensor | undefined)[]): Tensor[] {
  const op = "concatBackward";
  checkTensor(op, "dy", dy);
  if (!Array.isArray(inputs)) fail(op, `inputs must be an array of shapes or tensors, got ${typeof inputs}`);
  if (grads !== undefined && (!Array.isArray(grads) || grads.length !== inputs.length)) {
    fail(op, `grads must be an array with one entry per input (${inputs.length}), got ${Array.isArray(grads) ? grads.length : typeof grads}`);
  }
  const shapes = inputs.map((s, k) => {
    if (s instanceof Tensor) return s.shape;
    if (!Array.isArray(s)) fail(op, `inputs[${k}] must be a shape (an array of integers >= 0) or a Tensor, got ${fmtValue(s)}`);
    return checkShapeArg(op, `inputs[${k}]`, s, { min: 0 });
  });
  const e = engineOf(op, dy, ...(grads ?? []));
  const plan = concatPlan(op, shapes, axis, "inputs");
  if (dy.rank !== plan.outShape.length || dy.shape.some((d, i) => d !== plan.outShape[i])) {
    fail(op, `dy has shape ${fmtShape(dy.shape)} but the inputs concatenate to ${fmtShape(plan.outShape)} on axis ${plan.ax}`);
  }
  let offset = 0;
  return shapes.map((s, k) => {
    const g = gradTensor(op, `grads[${k}]`, e, s, grads?.[k]);
    if (g.ptr === dy.ptr && g.size > 0) fail(op, `grads[${k}] must not alias dy`);
    const cols = plan.cols[k]!;
    if (cols > 0 && plan.outer > 0) {
      e.kernels.concat_f32_backward(g.ptr, dy.ptr + offset * 4, plan.outer, cols, cols, plan.total);
    }
    offset += cols;
    return g;
  });
}
