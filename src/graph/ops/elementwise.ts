// Element-wise ops with NumPy (multidirectional) broadcasting, on assembly/broadcast.ts's kernels:
// Add, Sub, Mul, Div, Pow, Max, Min, Mean, Sum, Mod, the comparisons, And / Or / Xor / Not, the
// Bitwise ops and Where. The output lies in the axis order of the first run-time input of its rank
// (broadcastLayout); every input is read through its own strides along the output's axes (0 where
// it is broadcast), in whatever order it lies, so nothing is copied or expanded first. float types
// run the f32 kernels, integer and bool types the i32 ones (shape arithmetic folds through these
// at plan time).
//
// Backward: each op's `gradient` plans the internal op BinaryGrad (binary_f32_backward: dX += dy *
// d op / dX, summed over the axes X is broadcast on), WhereGrad, or the planner's ReduceToShape.
import { fail, fmtShape } from "../../errors.js";
import type { Attributes } from "../../onnx/attributes.js";
import { DataType, dataTypeName } from "../../onnx/onnx-proto.js";
import { BinaryF32, type BinaryF32Op, BinaryI32, type BinaryI32Op, Cast, UnaryF32, UnaryI32 } from "../kernel-codes.js";
import { contiguousStrides, ND_DESC_BYTES, type StridedLoop, writeNd } from "../nd.js";
import {
  type Algorithm,
  type BoundNode,
  type GradientBuilder,
  type InferContext,
  type LayoutChoice,
  type LayoutContext,
  type PlanNode,
  type PlanValue,
  registerOp,
  type TensorType,
} from "../registry.js";
import { identityPerm, isFloat, logicalStrides, type Perm, samePhysical, sizeOfDims } from "../types.js";
import { zeroOutput } from "./grad.js";

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

/** A value's logical shape and axis order: what a strided loop needs of it (PlanValue is one). */
export interface Operand {
  readonly shape: readonly number[];
  readonly perm: Perm;
}

/**
 * The N-d loop of an element-wise op over y's physical axes: operand 0 is y (contiguous), then
 * each input's element strides along those axes, right-aligned as NumPy broadcasting aligns
 * shapes, 0 along every axis the input is broadcast on (missing or of extent 1).
 */
export function broadcastLoop(y: Operand, inputs: readonly Operand[]): StridedLoop {
  const r = y.shape.length;
  const dims = y.perm.map((a) => y.shape[a]!);
  const strides = [contiguousStrides(dims)];
  for (const x of inputs) {
    const off = r - x.shape.length,
      xs = logicalStrides(x.shape, x.perm);
    const along = (a: number) => (a < off || x.shape[a - off] === 1 ? 0 : xs[a - off]!);
    strides.push(y.perm.map(along));
  }
  return { dims, strides };
}

/**
 * Writes a copy_nd descriptor that expands `x` (broadcast) into y's physical order: x's strides
 * along each axis of y, 0 where x is broadcast.
 */
export function expandLoop(n: BoundNode<unknown>, desc: number, x: Operand, y: Operand): void {
  writeNd(n.engine.heap.i32, desc, broadcastLoop(y, [x]), n.where);
}

// ---------------------------------------------------------------------------------------------
// type checks

type Kinds = "float" | "int" | "bool" | "numeric" | "any";
const FLOATS = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, 16]);

function accepts(kind: Kinds, dataType: number): boolean {
  const f = FLOATS.has(dataType),
    b = dataType === DataType.BOOL;
  switch (kind) {
    case "float":
      return f;
    case "int":
      return !f && !b;
    case "bool":
      return b;
    case "numeric":
      return !b;
    case "any":
      return true;
  }
}

const KIND_TEXT: Record<Kinds, string> = { float: "a float", int: "an integer", bool: "a bool", numeric: "a numeric (not bool)", any: "any" };

/** Input i's type, checked against `kind`; fails naming the input and its type. */
export function typedInput(c: InferContext<unknown>, i: number, name: string, kind: Kinds): TensorType {
  const t = c.need(i, name);
  if (!accepts(kind, t.dataType)) c.fail(`${name} must be ${KIND_TEXT[kind]} tensor, got ${dataTypeName(t.dataType)}`);
  return t;
}

/** Every input of one element type (of `kind`), broadcast: the output type (element type `out` if given). */
function inferBroadcast(c: InferContext<unknown>, min: number, max: number, kind: Kinds, out?: number): TensorType[] {
  if (c.inputCount < min || c.inputCount > max)
    c.fail(`takes ${min === max ? min : `${min} to ${max === Infinity ? "any number of" : max}`} inputs, got ${c.inputCount}`);
  const ts = Array.from({ length: c.inputCount }, (_, i) => typedInput(c, i, `input ${i}`, kind));
  for (const t of ts)
    if (t.dataType !== ts[0]!.dataType) c.fail(`inputs must have one element type, got ${ts.map((x) => dataTypeName(x.dataType)).join(", ")}`);
  return [
    {
      dataType: out ?? ts[0]!.dataType,
      shape: broadcastShapes(
        c,
        ts.map((t) => t.shape),
      ),
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// binary ops

/** The kernel call of a binary op on one pair of inputs (f32 or i32 family by input element kind). */
export interface BinaryKernel {
  f32?: BinaryF32Op;
  i32?: BinaryI32Op;
}

/** Runs y = op(a, b) over `desc` (written once by setup); picks the family by a's element kind. */
function binaryCall(n: BoundNode<unknown>, op: BinaryKernel, a: PlanValue, yp: number, ap: number, bp: number, desc: number): () => void {
  const k = n.kernels;
  if (a.elem === "f32") {
    const code = BinaryF32[op.f32 ?? fail(n.where, `${dataTypeName(a.dataType)} inputs are not supported`)];
    return () => k.binary_f32_forward(code, yp, ap, bp, desc);
  }
  const code = BinaryI32[op.i32 ?? fail(n.where, `${dataTypeName(a.dataType)} inputs are not supported`)];
  return () => k.binary_i32_forward(code, yp, ap, bp, desc);
}

/** The one algorithm of a binary broadcasting op: both inputs read through their strides. */
function binaryAlgorithm(name: string, pick: (n: PlanNode<any>) => BinaryKernel): Algorithm<any> {
  return {
    name,
    // the kernels read a and b at an element before writing y there: y may be a's buffer
    inPlace: true,
    paramBytes: () => ND_DESC_BYTES,
    setup(n) {
      const y = n.outputs[0]!,
        a = n.inputs[0]!,
        b = n.inputs[1]!;
      if (y.size === 0) return () => {};
      writeNd(n.engine.heap.i32, n.params, broadcastLoop(y, [a, b]), n.where);
      return binaryCall(n, pick(n), a, n.output(0), n.input(0), n.input(1), n.params);
    },
  };
}

const lower = (type: string) => type.charAt(0).toLowerCase() + type.slice(1);

/**
 * Before opset 7 the binary ops broadcast only when `broadcast` is 1, and then B's shape matches A's
 * axes from `axis` on (by default its trailing axes, as NumPy aligns them): the legacy attributes.
 */
interface LegacyBroadcast {
  broadcast?: number;
  axis?: number;
}

const parseLegacy = (at: Attributes, opset: number): LegacyBroadcast | undefined =>
  opset < 7 ? { broadcast: at.int("broadcast", 0), axis: at.has("axis") ? at.int("axis", 0) : undefined } : undefined;

/**
 * Fails where a legacy broadcast aligns B other than NumPy broadcasting does (B's axes placed from
 * `axis` rather than at the end of A's): those files would compute something else.
 */
function checkLegacy(c: InferContext<LegacyBroadcast | undefined>): void {
  const legacy = c.attrs;
  if (!legacy?.broadcast || legacy.axis === undefined) return;
  const a = c.need(0, "A").shape,
    b = c.need(1, "B").shape;
  const axis = legacy.axis < 0 ? legacy.axis + a.length : legacy.axis;
  if (b.length !== 0 && axis + b.length !== a.length)
    c.fail(
      `legacy broadcasting (opset < 7: broadcast 1, axis ${legacy.axis}) of B ${fmtShape(b)} along A ${fmtShape(a)} from axis ${axis} is not supported (NumPy broadcasting aligns B with A's last axes): re-export the model at opset 7 or later`,
    );
}

/** A binary op whose inputs share one element type of `kind`; comparisons output BOOL. */
function binaryOp(type: string, kind: Kinds, op: BinaryKernel, bool = false, gradient?: (g: GradientBuilder<void>) => void): void {
  registerOp<LegacyBroadcast | undefined>({
    type,
    parse: parseLegacy,
    infer(c) {
      checkLegacy(c);
      return inferBroadcast(c as InferContext<unknown>, 2, 2, kind, bool ? DataType.BOOL : undefined);
    },
    layout: broadcastLayout,
    // the gradients read no attribute (the legacy ones only gate infer)
    gradient: gradient as ((g: GradientBuilder<LegacyBroadcast | undefined>) => void) | undefined,
    algorithms: [binaryAlgorithm(`${lower(type)}.broadcast`, () => op)],
  });
}

binaryOp("Add", "numeric", { f32: "Add", i32: "Add" }, false, sumGradient);
binaryOp("Sub", "numeric", { f32: "Sub", i32: "Sub" }, false, binaryGradient("Sub"));
binaryOp("Mul", "numeric", { f32: "Mul", i32: "Mul" }, false, binaryGradient("Mul"));
binaryOp("Div", "numeric", { f32: "Div", i32: "Div" }, false, binaryGradient("Div"));
binaryOp("Equal", "any", { f32: "Equal", i32: "Equal" }, true);
binaryOp("Less", "numeric", { f32: "Less", i32: "Less" }, true);
binaryOp("Greater", "numeric", { f32: "Greater", i32: "Greater" }, true);
binaryOp("LessOrEqual", "numeric", { f32: "LessOrEqual", i32: "LessOrEqual" }, true);
binaryOp("GreaterOrEqual", "numeric", { f32: "GreaterOrEqual", i32: "GreaterOrEqual" }, true);
binaryOp("And", "bool", { i32: "And" });
binaryOp("Or", "bool", { i32: "Or" });
binaryOp("Xor", "bool", { i32: "Xor" });
binaryOp("BitwiseAnd", "int", { i32: "And" });
binaryOp("BitwiseOr", "int", { i32: "Or" });
binaryOp("BitwiseXor", "int", { i32: "Xor" });

registerOp<{ fmod: boolean }>({
  type: "Mod",
  parse: (at) => ({ fmod: at.int("fmod", 0) === 1 }),
  infer(c) {
    const t = inferBroadcast(c, 2, 2, "numeric");
    if (isFloat(t[0]!.dataType) && !c.attrs.fmod) c.fail("fmod must be 1 for float inputs");
    return t;
  },
  layout: broadcastLayout,
  gradient: binaryGradient("FMod"),
  algorithms: [binaryAlgorithm("mod.broadcast", (n) => ({ f32: "FMod", i32: n.attrs.fmod ? "FMod" : "Mod" }))],
});

// ---------------------------------------------------------------------------------------------
// Pow: a constant scalar exponent is a unary op (x^2 a product; x^0.5 a square root)

/** The exponent's value when it is a known single number, else undefined. */
function constantExponent(b: PlanValue | undefined): number | undefined {
  return b?.known && b.size === 1 ? Number(b.known.data[0]) : undefined;
}

/** Pow as a unary op on a (when b is a known scalar and a lies as y does): [op, p]. */
function powAsUnary(n: PlanNode<unknown>): [keyof typeof UnaryF32, number] | undefined {
  const a = n.inputs[0]!,
    y = n.outputs[0]!,
    e = constantExponent(n.inputs[1]);
  if (e === undefined || a.elem !== "f32" || !matchesOutput(a, y)) return undefined;
  if (e === 2) return ["Square", 0];
  if (e === 0.5) return ["Sqrt", 0];
  if (e === -1) return ["Reciprocal", 0];
  return ["PowConst", e];
}

registerOp<void>({
  type: "Pow",
  parse: () => undefined,
  infer(c) {
    const a = typedInput(c, 0, "X", "numeric"),
      b = typedInput(c, 1, "Y", "numeric");
    if (!isFloat(a.dataType) && isFloat(b.dataType))
      c.fail(`an integer base with a float exponent is not supported (${dataTypeName(a.dataType)} ^ ${dataTypeName(b.dataType)})`);
    return [{ dataType: a.dataType, shape: broadcastShapes(c, [a.shape, b.shape]) }];
  },
  layout: broadcastLayout,
  gradient(g) {
    if (g.x(1)!.elem !== "f32") fail(g.where, "the gradient of Pow with an integer exponent is not supported");
    binaryGradient("Pow")(g);
  },
  algorithms: [
    {
      name: "pow.unary",
      inPlace: true,
      eligible: (n) => powAsUnary(n) !== undefined,
      setup(n) {
        const [op, p] = powAsUnary(n)!;
        const k = n.kernels,
          code = UnaryF32[op],
          yp = n.output(0),
          xp = n.input(0),
          size = n.outputs[0]!.size;
        return () => k.unary_f32_forward(code, yp, xp, size, p, 0);
      },
    },
    binaryAlgorithm("pow.broadcast", (n) => ({ f32: n.inputs[1]!.elem === "i32" ? "PowI" : "Pow", i32: "Pow" })),
  ],
});

// ---------------------------------------------------------------------------------------------
// variadic: Sum, Mean, Max, Min

/**
 * y = op(x0, x1), then y = op(y, x_k) for k >= 2 (y read with its own strides); one input is a
 * (broadcast) copy. Mean then scales by 1 / count.
 */
function variadicAlgorithm(name: string, op: BinaryKernel, mean: boolean, inPlace: boolean): Algorithm<void> {
  return {
    name,
    inPlace,
    // y written over x0 must not be read again as another input
    eligible: (n) => !inPlace || !n.inputs.slice(1).includes(n.inputs[0]),
    paramBytes: (n) => Math.max(1, n.inputs.length - 1) * ND_DESC_BYTES,
    setup(n) {
      const y = n.outputs[0]!,
        xs = n.inputs.map((x) => x!);
      if (y.size === 0) return () => {};
      const k = n.kernels,
        i32 = n.engine.heap.i32,
        yp = n.output(0);
      const desc = (i: number) => n.params + i * ND_DESC_BYTES;
      if (xs.length === 1) {
        writeNd(i32, desc(0), broadcastLoop(y, [xs[0]!]), n.where);
        const xp = n.input(0),
          d = desc(0);
        return () => k.copy_nd(yp, xp, d);
      }
      const calls: (() => void)[] = [];
      writeNd(i32, desc(0), broadcastLoop(y, [xs[0]!, xs[1]!]), n.where);
      calls.push(binaryCall(n, op, xs[0]!, yp, n.input(0), n.input(1), desc(0)));
      for (let i = 2; i < xs.length; i++) {
        writeNd(i32, desc(i - 1), broadcastLoop(y, [y, xs[i]!]), n.where);
        calls.push(binaryCall(n, op, xs[i]!, yp, yp, n.input(i), desc(i - 1)));
      }
      if (mean) {
        const scale = 1 / xs.length,
          size = y.size;
        calls.push(() => k.unary_f32_forward(UnaryF32.Affine, yp, yp, size, scale, 0));
      }
      return () => {
        for (const f of calls) f();
      };
    },
  };
}

function variadicOp(type: string, kind: Kinds, op: BinaryKernel, gradient: (g: GradientBuilder<void>) => void, mean = false): void {
  registerOp<void>({
    type,
    parse: () => undefined,
    infer: (c) => inferBroadcast(c, 1, Infinity, kind),
    layout: broadcastLayout,
    gradient,
    algorithms: [variadicAlgorithm(`${lower(type)}.inPlace`, op, mean, true), variadicAlgorithm(`${lower(type)}.broadcast`, op, mean, false)],
  });
}

variadicOp("Sum", "numeric", { f32: "Add", i32: "Add" }, sumGradient);
variadicOp("Mean", "float", { f32: "Add" }, meanGradient, true);
variadicOp("Max", "numeric", { f32: "Max", i32: "Max" }, selectedGradient);
variadicOp("Min", "numeric", { f32: "Min", i32: "Min" }, selectedGradient);

// ---------------------------------------------------------------------------------------------
// Where, Not

registerOp<void>({
  type: "Where",
  parse: () => undefined,
  infer(c) {
    const cond = typedInput(c, 0, "condition", "bool"),
      x = c.need(1, "X"),
      y = c.need(2, "Y");
    if (x.dataType !== y.dataType) c.fail(`X and Y must have one element type, got ${dataTypeName(x.dataType)} and ${dataTypeName(y.dataType)}`);
    return [{ dataType: x.dataType, shape: broadcastShapes(c, [cond.shape, x.shape, y.shape]) }];
  },
  layout: broadcastLayout,
  gradient(g) {
    for (const branch of [1, 2] as const) if (g.wants(branch)) g.add(branch, g.op("WhereGrad", [g.dy(0)!, g.x(0)!, g.x(branch)!], { branch })[0]!);
  },
  algorithms: [
    {
      name: "where.broadcast",
      // y may be the condition's buffer (an i32 Where of a same-shape condition): read before written
      inPlace: true,
      paramBytes: () => ND_DESC_BYTES,
      setup(n) {
        const y = n.outputs[0]!;
        if (y.size === 0) return () => {};
        writeNd(n.engine.heap.i32, n.params, broadcastLoop(y, [n.inputs[0]!, n.inputs[1]!, n.inputs[2]!]), n.where);
        const k = n.kernels,
          yp = n.output(0),
          cp = n.input(0),
          ap = n.input(1),
          bp = n.input(2),
          desc = n.params;
        return () => k.where_nd(yp, cp, ap, bp, desc);
      },
    },
  ],
});

/** An i32 unary op over the flat input (the output lies as the input does). */
function intUnaryOp(type: string, kind: Kinds, code: number): void {
  registerOp<void>({
    type,
    parse: () => undefined,
    infer: (c) => [typedInput(c, 0, "X", kind)],
    layout: (c) => ({ inputs: ["any"], outputs: [c.inputs[0]!.perm] }),
    algorithms: [
      {
        name: `${lower(type)}.kernel`,
        inPlace: true,
        setup(n) {
          const k = n.kernels,
            yp = n.output(0),
            xp = n.input(0),
            size = n.outputs[0]!.size;
          return () => k.unary_i32_forward(code, yp, xp, size, 0, 0);
        },
      },
    ],
  });
}

intUnaryOp("Not", "bool", UnaryI32.Not);
intUnaryOp("BitwiseNot", "int", UnaryI32.BitNot);

// ---------------------------------------------------------------------------------------------
// backward

/**
 * dT += dY * d op(a, b) / d(a if which == 0, else b), summed over the axes that operand is
 * broadcast on; dT lies as that operand does. Writes its descriptor at `desc` (ND_DESC_BYTES) now;
 * returns the run function. f32 operands only.
 */
export function binaryBackward(
  n: { engine: BoundNode<unknown>["engine"]; kernels: BoundNode<unknown>["kernels"]; where: string },
  desc: number,
  op: BinaryF32Op,
  which: 0 | 1,
  dt: number,
  dy: { ptr: number; value: Operand },
  a: { ptr: number; value: Operand },
  b: { ptr: number; value: Operand },
): () => void {
  const size = sizeOfDims(dy.value.shape);
  if (size === 0 || dt === 0) return () => {};
  writeNd(n.engine.heap.i32, desc, broadcastLoop(dy.value, [a.value, b.value]), n.where);
  const k = n.kernels,
    code = BinaryF32[op],
    g = dy.ptr,
    ap = a.ptr,
    bp = b.ptr;
  return () => k.binary_f32_backward(code, which, dt, g, ap, bp, desc);
}

interface BinaryGradAttrs {
  op: BinaryF32Op;
  /** 0: the gradient of a (input 1), 1: of b (input 2). */
  which: 0 | 1;
  /** Read b (in ONNX order) as this shape: the same bytes (PRelu's opset-6 slope [C] as [C, 1, 1]). */
  bAs?: readonly number[];
}

// The gradient of one operand of a broadcasting binary op: inputs dy, a, b (any layouts); the
// output in the layout of the operand it belongs to, zeroed, then accumulated into.
registerOp<BinaryGradAttrs>({
  type: "BinaryGrad",
  internal: true,
  parse: () => ({ op: "Add", which: 0 }),
  infer(c) {
    const t = c.need(1 + c.attrs.which, c.attrs.which === 0 ? "a" : "b");
    if (!isFloat(t.dataType) || !isFloat(c.need(0, "dy").dataType)) c.fail("internal: BinaryGrad takes float values");
    return [t];
  },
  layout: (c) => ({ inputs: c.inputs.map(() => "any"), outputs: [c.inputs[1 + c.attrs.which]!.perm] }),
  algorithms: [
    {
      name: "binaryGrad.broadcast",
      paramBytes: () => ND_DESC_BYTES,
      setup(n) {
        const zero = zeroOutput(n as BoundNode<unknown>, 0),
          { op, which, bAs } = n.attrs;
        const b = n.inputs[2]!;
        const bView: Operand = bAs ? { shape: bAs, perm: identityPerm(bAs.length) } : b;
        const run = binaryBackward(n, n.params, op, which, n.output(0), io(n, 0), io(n, 1), { ptr: n.input(2), value: bView });
        return () => {
          zero();
          run();
        };
      },
    },
  ],
});

const io = (n: BoundNode<unknown>, i: number) => ({ ptr: n.input(i), value: n.inputs[i]! as Operand });

/** The gradient of a broadcasting binary op whose derivatives are those of BinaryF32 `op`. */
export function binaryGradient(op: BinaryF32Op, bAs?: (g: GradientBuilder<any>) => readonly number[] | undefined) {
  return (g: GradientBuilder<any>): void => {
    const dy = g.dy(0)!,
      a = g.x(0)!,
      b = g.x(1)!;
    for (const which of [0, 1] as const) {
      if (g.wants(which)) g.add(which, g.op("BinaryGrad", [dy, a, b], { op, which, bAs: bAs?.(g) })[0]!);
    }
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

/** Mean: the gradient of a sum, scaled by 1 / count (UnaryGrad's Affine: dx += dy p). */
function meanGradient(g: GradientBuilder<void>): void {
  let count = 0;
  while (g.x(count)) count++;
  const dy = g.dy(0)!;
  for (let i = 0; i < count; i++) {
    if (!g.wants(i)) continue;
    const x = g.x(i)!;
    const same = x.shape.length === dy.shape.length && x.shape.every((d, k) => d === dy.shape[k]);
    const d = same ? dy : g.op("ReduceToShape", [dy], { shape: x.shape })[0]!;
    g.add(i, g.op("UnaryGrad", [d, x], { op: "Affine", p: 1 / count, q: 0 })[0]!);
  }
}

/** Max / Min of several inputs: each input's gradient is dy where it equals the output (ties: each). */
function selectedGradient(g: GradientBuilder<void>): void {
  const dy = g.dy(0)!,
    y = g.y(0);
  for (let i = 0; g.x(i); i++) if (g.wants(i)) g.add(i, g.op("BinaryGrad", [dy, g.x(i)!, y], { op: "Selected", which: 0 })[0]!);
}

// Where's gradient of X (branch 1) or Y (branch 2): dy where the condition holds (does not), summed
// over the branch's broadcast axes. Inputs dy, condition, the branch value. The condition is
// expanded into the workspace as an f32 0 / 1 mask in dy's layout, then multiplies dy.
registerOp<{ branch: 1 | 2 }>({
  type: "WhereGrad",
  internal: true,
  parse: () => ({ branch: 1 }),
  infer: (c) => [c.need(2, "branch")],
  layout: (c) => ({ inputs: c.inputs.map(() => "any"), outputs: [c.inputs[2]!.perm] }),
  algorithms: [
    {
      name: "whereGrad.mask",
      paramBytes: () => 2 * ND_DESC_BYTES,
      workspaceBytes: (n) => 4 * n.inputs[0]!.size,
      setup(n) {
        const dy = n.inputs[0]!,
          size = dy.size;
        const zero = zeroOutput(n as BoundNode<unknown>, 0);
        if (size === 0) return zero;
        const k = n.kernels,
          mask = n.workspace,
          expand = n.params,
          cp = n.input(1),
          flip = n.attrs.branch === 2;
        writeNd(n.engine.heap.i32, expand, broadcastLoop(dy, [n.inputs[1]!]), n.where);
        const run = binaryBackward(n, n.params + ND_DESC_BYTES, "Mul", 0, n.output(0), io(n, 0), io(n, 2), { ptr: mask, value: dy });
        return () => {
          k.copy_nd(mask, cp, expand);
          k.cast_forward(Cast.I32ToF32, mask, mask, size);
          if (flip) k.unary_f32_forward(UnaryF32.Affine, mask, mask, size, -1, 1);
          zero();
          run();
        };
      },
    },
  ],
});
