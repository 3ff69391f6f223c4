// Running sums and one-hot encoding on assembly/scan.ts's kernels: CumSum (exclusive, reverse, the
// axis as a known input; any axis order: the kernel runs along the axis's physical position) with
// its gradient (the reverse running sum of dy), and OneHot (depth known while planning, values
// [off, on] read at run time; ONNX order).
import { fail } from "../../errors.js";
import { DataType, dataTypeName } from "../../onnx/onnx-proto.js";
import { followInput0, registerOp } from "../registry.js";
import { elemOf, sizeOfDims } from "../types.js";
import { typedInput } from "./elementwise.js";
import { normAxis } from "./util.js";

interface CumSumAttrs {
  exclusive: boolean;
  reverse: boolean;
}

/** The one value of a known axis / depth input, or a failure naming it. */
function scalarOf(c: { value(i: number): { data: ArrayLike<number> } | undefined; fail(m: string): never }, i: number, name: string): number {
  const v = c.value(i);
  if (!v) return c.fail(`${name} must be known when planning`);
  if (v.data.length !== 1) c.fail(`${name} must hold one value, got ${v.data.length}`);
  return Math.trunc(v.data[0]!);
}

registerOp<CumSumAttrs>({
  type: "CumSum",
  parse: (at) => ({ exclusive: at.int("exclusive", 0) !== 0, reverse: at.int("reverse", 0) !== 0 }),
  valueInputs: [1],
  infer(c) {
    const x = typedInput(c, 0, "x", "numeric");
    const axis = c.input(1) ?? c.fail("axis is required");
    if (elemOf(axis.dataType) !== "i32" || axis.dataType === DataType.BOOL) c.fail(`axis must be int32 or int64, got ${dataTypeName(axis.dataType)}`);
    normAxis(c, scalarOf(c, 1, "axis"), Math.max(x.shape.length, 1));
    return [x];
  },
  layout: followInput0,
  gradient(g) {
    if (g.wants(0)) g.add(0, g.op("CumSum", [g.dy(0)!, g.x(1)!], { exclusive: g.attrs.exclusive, reverse: !g.attrs.reverse })[0]!);
  },
  algorithms: [
    {
      name: "cumsum.kernel",
      inPlace: true,
      setup(n) {
        const x = n.inputs[0]!,
          rank = x.shape.length;
        const axis = normAxis({ fail: (m: string) => fail(n.where, m) }, Math.trunc(n.inputs[1]!.known!.data[0]!), Math.max(rank, 1));
        // [outer, len, inner] around the axis's physical position
        const j = rank === 0 ? 0 : x.perm.indexOf(axis);
        const dims = rank === 0 ? [1] : x.dims;
        const outer = sizeOfDims(dims.slice(0, j)),
          len = dims[j]!,
          inner = sizeOfDims(dims.slice(j + 1));
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0),
          ex = n.attrs.exclusive ? 1 : 0,
          rev = n.attrs.reverse ? 1 : 0,
          isInt = x.elem === "i32" ? 1 : 0;
        return () => k.cumsum_forward(yp, xp, outer, len, inner, ex, rev, isInt);
      },
    },
  ],
});

registerOp<{ axis: number }>({
  type: "OneHot",
  parse: (at) => ({ axis: at.int("axis", -1) }),
  valueInputs: [1],
  infer(c) {
    const indices = typedInput(c, 0, "indices", "numeric");
    typedInput(c, 1, "depth", "numeric");
    const values = typedInput(c, 2, "values", "numeric");
    if (sizeOfDims(values.shape) !== 2) c.fail(`values must hold 2 elements [off, on], got shape [${values.shape.join(",")}]`);
    const depth = scalarOf(c, 1, "depth");
    if (depth < 1) c.fail(`depth must be at least 1, got ${depth}`);
    const r = indices.shape.length + 1;
    const axis = normAxis(c, c.attrs.axis, r);
    const shape = [...indices.shape.slice(0, axis), depth, ...indices.shape.slice(axis)];
    return [{ dataType: values.dataType, shape }];
  },
  algorithms: [
    {
      name: "oneHot.kernel",
      setup(n) {
        const idx = n.inputs[0]!,
          y = n.outputs[0]!;
        const axis = normAxis({ fail: (m: string) => fail(n.where, m) }, n.attrs.axis, y.shape.length);
        const depth = y.shape[axis]!,
          outer = sizeOfDims(y.shape.slice(0, axis)),
          inner = sizeOfDims(y.shape.slice(axis + 1));
        const k = n.kernels,
          yp = n.output(0),
          ip = n.input(0),
          vp = n.input(2),
          isF32 = idx.elem === "f32" ? 1 : 0;
        return () => k.onehot_forward(yp, ip, vp, outer, depth, inner, isF32);
      },
    },
  ],
});
