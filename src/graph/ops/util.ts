// Helpers shared by the op definitions of src/graph/ops/.
import { fail, fmtShape } from "../../errors.js";
import type { Attributes } from "../../onnx/attributes.js";
import type { Tensor } from "../../tensor.js";
import { viewTensor } from "../constants.js";
import { writeNd, contiguousStrides } from "../nd.js";
import type { BoundNode, InferContext, LayoutChoice, LayoutContext, PlanValue, TensorType } from "../registry.js";
import { identityPerm, logicalStrides, type Perm, physicalDims } from "../types.js";

/** Input i as a Tensor view in its physical (perm-order) shape. */
export function inputView(n: BoundNode<unknown>, i: number, dims?: readonly number[]): Tensor {
  const v = n.inputs[i]!;
  return viewTensor(n.engine, n.input(i), dims ?? v.dims, v.elem);
}

/** Output i as a Tensor view in its physical (perm-order) shape. */
export function outputView(n: BoundNode<unknown>, i: number, dims?: readonly number[]): Tensor {
  const v = n.outputs[i]!;
  return viewTensor(n.engine, n.output(i), dims ?? v.dims, v.elem);
}

/** A same-shape, same-type output. */
export const sameAsInput0 = (c: InferContext<unknown>): TensorType[] => [c.need(0, "X")];

/** An axis attribute normalised into [0, rank); fails naming the op otherwise. */
export function normAxis(c: { fail(m: string): never }, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) c.fail(`axis ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** Two integers from an attribute, or [fallback, fallback]; fails unless there are exactly `len`. */
export function intsOfLength(at: Attributes, name: string, len: number, fallback: number): number[] {
  const v = at.ints(name);
  if (v === undefined) return new Array<number>(len).fill(fallback);
  if (v.length !== len) fail(at.where, `${name} must have ${len} values, got [${v.join(",")}]`);
  return v;
}

/** Channels-last perm for an [N, C, ...spatial] value: [0, 2, ..., r-1, 1]. */
export function channelsLast(rank: number): Perm {
  if (rank < 3) return identityPerm(rank);
  return [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2), 1];
}

/** Input 0 and output 0 channels-last ([N, ...spatial, C]); every other input in ONNX order. */
export const channelsLastLayout = (c: LayoutContext<unknown>): LayoutChoice => ({
  inputs: c.inputs.map((v, i) => (!v ? "any" : i === 0 ? channelsLast(v.shape.length) : identityPerm(v.shape.length))),
  outputs: c.outputs.map((t, i) => (i === 0 ? channelsLast(t.shape.length) : identityPerm(t.shape.length))),
});

/**
 * Writes into `params + slot * ND_DESC_BYTES` the loop that copies `x` (any perm) into `y`'s
 * physical order, reading x from element `xOffset` with per-LOGICAL-axis steps `step` (Slice).
 */
export function copyLoop(
  n: BoundNode<unknown>,
  desc: number,
  y: PlanValue,
  yDims: readonly number[],
  yStrides: readonly number[],
  x: PlanValue,
  step?: readonly number[],
): void {
  const xs = logicalStrides(x.shape, x.perm);
  writeNd(
    n.engine.heap.i32,
    desc,
    {
      dims: [...yDims],
      strides: [[...yStrides], y.perm.map((a) => xs[a]! * (step?.[a] ?? 1))],
    },
    n.where,
  );
}

/** The physical dims and contiguous strides of a value. */
export const physical = (v: PlanValue) => ({ dims: physicalDims(v.shape, v.perm), strides: contiguousStrides(physicalDims(v.shape, v.perm)) });

export const shapeText = (t: TensorType | PlanValue | undefined) => (t ? fmtShape(t.shape) : "(none)");

/**
 * The one value of input i when it must be known while planning (a trip count, a threshold):
 * undefined when the node omits the input; fails naming it when it is not known or not one value.
 */
export function knownScalar(c: InferContext<unknown>, i: number, name: string): number | undefined {
  if (!c.input(i)) return undefined;
  const v = c.value(i) ?? c.fail(`${name} must be known when planning`);
  if (v.data.length !== 1) c.fail(`${name} must hold one value, got ${v.data.length}`);
  return v.data[0]!;
}
