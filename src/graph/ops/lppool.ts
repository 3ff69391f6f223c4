// LpPool and GlobalLpPool, planned as the ops they stand for (inlined while planning):
//   LpPool(x)       = (AveragePool(|x|^p, count_include_pad) * kernel area)^(1/p)
//   GlobalLpPool(x) = (ReduceSum over the spatial axes of |x|^p)^(1/p)
// (|x|^p as Mul(x, x) for p = 2, Abs for p = 1), so padding counts as 0 as onnxruntime's does and
// the gradients are those of the ops. LpPool's ceil_mode 1 (partial windows) is refused.
import { fail } from "../../errors.js";
import type { Attributes } from "../../onnx/attributes.js";
import { AttributeType, type AttributeProto } from "../../onnx/onnx-proto.js";
import { type InferContext, registerOp } from "../registry.js";
import { sizeOfDims } from "../types.js";
import { typedInput } from "./elementwise.js";
import { type SubgraphBuilder, subgraphBuilder } from "./inline.js";

interface LpAttrs {
  p: number;
  x: string;
  /** LpPool's window attributes, passed on to AveragePool. */
  window: AttributeProto[];
  kernel: number[];
}

function lpParse(at: Attributes, windowed: boolean): LpAttrs {
  const p = at.int("p", 2);
  if (!(p >= 1)) fail(at.where, `p must be at least 1, got ${p}`);
  if (!windowed) return { p, x: at.node.input[0] ?? "", window: [], kernel: [] };
  const kernel = at.ints("kernel_shape") ?? fail(at.where, "kernel_shape is required");
  if (at.int("ceil_mode", 0) !== 0) fail(at.where, "ceil_mode 1 is not supported");
  const window = at.node.attribute.filter((a) => ["kernel_shape", "strides", "pads", "auto_pad", "dilations"].includes(a.name));
  return { p, x: at.node.input[0] ?? "", window, kernel };
}

/** |x|^p for the builder (Abs, Mul or Abs then Pow). */
function powered(b: SubgraphBuilder, x: string, p: number, dataType: number): string {
  if (p === 2) return b.node("Mul", [x, x], []);
  const a = b.node("Abs", [x], []);
  return p === 1 ? a : b.node("Pow", [a, b.constant(dataType, [], [p])], []);
}

/** y^(1/p) (Sqrt for p = 2, nothing for p = 1), then an Identity: the subgraph's output. */
function root(b: SubgraphBuilder, y: string, p: number, dataType: number): string {
  const r = p === 1 ? y : p === 2 ? b.node("Sqrt", [y], []) : b.node("Pow", [y, b.constant(dataType, [], [1 / p])], []);
  return b.node("Identity", [r], []);
}

registerOp<LpAttrs>({
  type: "LpPool",
  parse: (at) => lpParse(at, true),
  infer: (c) => c.fail("internal: LpPool is inlined, not inferred"),
  inline(c: InferContext<LpAttrs>) {
    const x = typedInput(c, 0, "X", "float");
    const b = subgraphBuilder(c.where, c.opset, "lpPool");
    const avg = b.node(
      "AveragePool",
      [powered(b, c.attrs.x, c.attrs.p, x.dataType)],
      [...c.attrs.window, { name: "count_include_pad", type: AttributeType.INT, i: 1 }],
    );
    const sum = b.node("Mul", [avg, b.constant(x.dataType, [], [sizeOfDims(c.attrs.kernel)])], []);
    const y = root(b, sum, c.attrs.p, x.dataType);
    return { nodes: b.nodes, initializers: b.initializers, outputs: [{ name: y, dataType: x.dataType }], outerReads: [c.attrs.x] };
  },
  algorithms: [],
});

registerOp<LpAttrs>({
  type: "GlobalLpPool",
  parse: (at) => lpParse(at, false),
  infer: (c) => c.fail("internal: GlobalLpPool is inlined, not inferred"),
  inline(c: InferContext<LpAttrs>) {
    const x = typedInput(c, 0, "X", "float");
    if (x.shape.length < 3) c.fail(`expects [N, C, ...spatial], got [${x.shape.join(",")}]`);
    const b = subgraphBuilder(c.where, c.opset, "globalLpPool");
    const axes = x.shape.slice(2).map((_, i) => i + 2);
    const keep: AttributeProto = { name: "keepdims", type: AttributeType.INT, i: 1 };
    const pw = powered(b, c.attrs.x, c.attrs.p, x.dataType);
    const sum =
      c.opset >= 13
        ? b.node("ReduceSum", [pw, b.ints(axes)], [keep])
        : b.node("ReduceSum", [pw], [keep, { name: "axes", type: AttributeType.INTS, ints: axes }]);
    const y = root(b, sum, c.attrs.p, x.dataType);
    return { nodes: b.nodes, initializers: b.initializers, outputs: [{ name: y, dataType: x.dataType }], outerReads: [c.attrs.x] };
  },
  algorithms: [],
});
