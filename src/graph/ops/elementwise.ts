// Element-wise ops with NumPy broadcasting. Inputs of any layout: an input that does not already
// match the output element for element (shape and axis order) is first expanded into the
// workspace by copy_nd, then the same-shape kernel runs.
import { fmtShape } from "../../errors.js";
import { contiguousStrides, ND_DESC_BYTES, writeNd } from "../nd.js";
import {
  type BoundNode,
  type GradientBuilder,
  type InferContext,
  type LayoutChoice,
  type LayoutContext,
  type PlanValue,
  registerOp,
  type TensorType,
} from "../registry.js";
import { identityPerm, logicalStrides, samePhysical } from "../types.js";

/** ONNX multidirectional (NumPy) broadcasting of input shapes; fails naming the op. */
export function broadcastShapes(c: { fail(m: string): never }, shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = s[i]!,
        k = rank - s.length + i;
      if (d === out[k] || d === 1) continue;
      if (out[k] === 1) out[k] = d;
      else c.fail(`shapes ${shapes.map((x) => fmtShape(x)).join(", ")} cannot be broadcast together`);
    }
  }
  return out;
}

/** The output in the axis order of the first run-time input of the output's rank; inputs as they are. */
export const broadcastLayout = (c: LayoutContext<unknown>): LayoutChoice => {
  const r = c.outputs[0]!.shape.length;
  const lead = c.inputs.find((v) => v && !v.isConstant && v.shape.length === r);
  return { inputs: c.inputs.map(() => "any"), outputs: c.outputs.map(() => lead?.perm ?? identityPerm(r)) };
};

/** Whether `x` already lies element for element as `y` does. */
export const matchesOutput = (x: PlanValue, y: PlanValue): boolean =>
  x.shape.length === y.shape.length && x.shape.every((d, i) => d === y.shape[i]) && samePhysical(x.perm, y.perm, y.shape);

/**
 * Writes a copy_nd descriptor that expands `x` (broadcast) into y's physical order: x's strides
 * along each axis of y, 0 where x is broadcast.
 */
export function expandLoop(n: BoundNode<unknown>, desc: number, x: PlanValue, y: PlanValue): void {
  const r = y.shape.length,
    off = r - x.shape.length;
  const xs = logicalStrides(x.shape, x.perm);
  const along = (a: number) => (a < off || x.shape[a - off] === 1 ? 0 : xs[a - off]!);
  writeNd(n.engine.heap.i32, desc, { dims: [...y.dims], strides: [contiguousStrides(y.dims), y.perm.map(along)] }, n.where);
}

function inferBroadcast(c: InferContext<unknown>, min: number): TensorType[] {
  if (c.inputCount < min) c.fail(`needs at least ${min} input${min > 1 ? "s" : ""}, got ${c.inputCount}`);
  const ts = Array.from({ length: c.inputCount }, (_, i) => c.need(i, `input ${i}`));
  for (const t of ts) if (t.dataType !== ts[0]!.dataType) c.fail("inputs must have one element type");
  return [
    {
      dataType: ts[0]!.dataType,
      shape: broadcastShapes(
        c,
        ts.map((t) => t.shape),
      ),
    },
  ];
}

/** Add / Sum of float tensors: expand what does not match, then add_f32_forward pairwise. */
function addAlgorithm(name: string) {
  return {
    name,
    inPlace: true,
    eligible: (n: { outputs: readonly PlanValue[] }) => n.outputs[0]!.elem === "f32",
    workspaceBytes: (n: { inputs: readonly (PlanValue | undefined)[]; outputs: readonly PlanValue[] }) =>
      n.inputs.filter((x) => x && !matchesOutput(x, n.outputs[0]!)).length * n.outputs[0]!.size * 4,
    paramBytes: (n: { inputs: readonly (PlanValue | undefined)[] }) => n.inputs.length * ND_DESC_BYTES,
    setup(n: BoundNode<unknown>) {
      const y = n.outputs[0]!,
        k = n.kernels,
        size = y.size;
      let slot = 0;
      const expand: [number, number, number][] = [];
      const operands = n.inputs.map((x, i) => {
        if (matchesOutput(x!, y)) return n.input(i);
        const dst = n.workspace + slot++ * size * 4,
          desc = n.params + i * ND_DESC_BYTES;
        expandLoop(n, desc, x!, y);
        expand.push([dst, n.input(i), desc]);
        return dst;
      });
      const yp = n.output(0);
      return () => {
        for (const [dst, src, desc] of expand) k.copy_nd(dst, src, desc);
        if (operands.length === 1) k.fill_f32(yp, 0, size);
        if (operands.length === 1) k.add_f32_forward(yp, yp, operands[0]!, size);
        else k.add_f32_forward(yp, operands[0]!, operands[1]!, size);
        for (let i = 2; i < operands.length; i++) k.add_f32_forward(yp, yp, operands[i]!, size);
      };
    },
  };
}

/** The gradient of a sum: dy for every input, summed over the axes it was broadcast along. */
export function sumGradient(g: GradientBuilder<unknown>): void {
  const dy = g.dy(0)!;
  for (let i = 0; g.x(i); i++) {
    if (!g.wants(i)) continue;
    const x = g.x(i)!;
    const same = x.shape.length === dy.shape.length && x.shape.every((d, k) => d === dy.shape[k]);
    g.add(i, same ? dy : g.op("ReduceToShape", [dy], { shape: x.shape })[0]!);
  }
}

registerOp<void>({
  type: "Add",
  parse: () => undefined,
  infer: (c) => inferBroadcast(c, 2),
  layout: broadcastLayout,
  gradient: sumGradient,
  algorithms: [addAlgorithm("add.expand")],
});

registerOp<void>({
  type: "Sum",
  parse: () => undefined,
  infer: (c) => inferBroadcast(c, 1),
  layout: broadcastLayout,
  gradient: sumGradient,
  algorithms: [addAlgorithm("sum.expand")],
});
