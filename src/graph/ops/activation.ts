// Unary element-wise ops and activations on assembly/unary.ts's kernels: Abs, Neg, Sqrt, Exp, Log,
// Reciprocal, Erf, Sign, Floor, Ceil, Round, Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh,
// Acosh, Atanh, IsNaN, IsInf, Cast, CastLike, Clip (both
// opset forms), HardSigmoid, HardSwish, Elu, Selu, Celu, Gelu, Mish, Softplus, Softsign,
// ThresholdedRelu, and PRelu (a broadcasting binary op: the slope in any shape and axis order).
// Relu, LeakyRelu, Sigmoid and Tanh keep their own kernels in ops/nn.ts.
// Unary ops read and write flat arrays: the output lies in its input's axis order (followInput0),
// and may be written over the input (inPlace). Their gradients: the internal op UnaryGrad
// (unary_f32_backward, dx += dy f'(x) from the forward input), ClipGrad, BinaryGrad for PRelu.
import { fail, fmtShape } from "../../errors.js";
import type { Attributes } from "../../onnx/attributes.js";
import { DataType, dataTypeName } from "../../onnx/onnx-proto.js";
import { BinaryF32, Cast, UNARY_NO_GRADIENT, UnaryF32, type UnaryF32Op, UnaryI32 } from "../kernel-codes.js";
import { ND_DESC_BYTES, writeNd } from "../nd.js";
import { type BoundNode, followInput0, type GradientBuilder, type InferContext, type PlanNode, registerOp } from "../registry.js";
import { elemOf, isFloat, sizeOfDims } from "../types.js";
import { binaryGradient, broadcastLoop, broadcastShapes, type Operand, typedInput } from "./elementwise.js";
import { followInput, likeInput, zeroOutput } from "./grad.js";

const lower = (type: string) => type.charAt(0).toLowerCase() + type.slice(1);
const F32_MAX = 3.4028234663852886e38;
const I32_MIN = -2147483648,
  I32_MAX = 2147483647;

// ---------------------------------------------------------------------------------------------
// unary f32 ops and activations: one kernel call with the op's parameters

/** A float (or, with `int`, also integer) unary op: UnaryF32 `op` with parameters from the attributes. */
function unaryOp<A>(
  type: string,
  op: UnaryF32Op,
  params: (a: A) => [number, number],
  parse: (at: Attributes, opset: number) => A,
  int?: { code: number; params?: (a: A) => [number, number] },
): void {
  registerOp<A>({
    type,
    parse,
    infer: (c) => [typedInput(c as InferContext<unknown>, 0, "X", int ? "numeric" : "float")],
    layout: followInput0,
    gradient: UNARY_NO_GRADIENT.has(op) ? undefined : (g) => unaryGradient(g, op, params(g.attrs)),
    algorithms: [
      {
        name: `${lower(type)}.kernel`,
        inPlace: true,
        setup(n) {
          const k = n.kernels,
            yp = n.output(0),
            xp = n.input(0),
            size = n.outputs[0]!.size;
          if (n.inputs[0]!.elem === "i32") {
            const [p, q] = int!.params?.(n.attrs) ?? [0, 0],
              code = int!.code;
            return () => k.unary_i32_forward(code, yp, xp, size, p, q);
          }
          const [p, q] = params(n.attrs),
            code = UnaryF32[op];
          return () => k.unary_f32_forward(code, yp, xp, size, p, q);
        },
      },
    ],
  });
}

const none = (): [number, number] => [0, 0];
const noAttrs = () => undefined;

unaryOp("Abs", "Abs", none, noAttrs, { code: UnaryI32.Abs });
unaryOp("Neg", "Neg", none, noAttrs, { code: UnaryI32.Neg });
unaryOp("Sign", "Sign", none, noAttrs, { code: UnaryI32.Sign });
unaryOp("Sqrt", "Sqrt", none, noAttrs);
unaryOp("Exp", "Exp", none, noAttrs);
unaryOp("Log", "Log", none, noAttrs);
unaryOp("Reciprocal", "Reciprocal", none, noAttrs);
unaryOp("Erf", "Erf", none, noAttrs);
unaryOp("Floor", "Floor", none, noAttrs);
unaryOp("Ceil", "Ceil", none, noAttrs);
unaryOp("Round", "Round", none, noAttrs);
unaryOp("Sin", "Sin", none, noAttrs);
unaryOp("Cos", "Cos", none, noAttrs);
for (const op of ["Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh"] as const) unaryOp(op, op, none, noAttrs);
unaryOp("HardSwish", "HardSwish", none, noAttrs);
unaryOp("Mish", "Mish", none, noAttrs);
unaryOp("Softplus", "Softplus", none, noAttrs);
unaryOp("Softsign", "Softsign", none, noAttrs);
unaryOp<{ alpha: number; beta: number }>(
  "HardSigmoid",
  "HardSigmoid",
  (a) => [a.alpha, a.beta],
  (at) => ({ alpha: at.float("alpha", 0.2), beta: at.float("beta", 0.5) }),
);
unaryOp<{ alpha: number }>(
  "Elu",
  "Elu",
  (a) => [a.alpha, 0],
  (at) => ({ alpha: at.float("alpha", 1) }),
);
unaryOp<{ alpha: number; gamma: number }>(
  "Selu",
  "Selu",
  (a) => [a.alpha, a.gamma],
  (at) => ({
    alpha: at.float("alpha", 1.6732632423543772),
    gamma: at.float("gamma", 1.0507009873554805),
  }),
);
unaryOp<{ alpha: number }>(
  "Celu",
  "Celu",
  (a) => [a.alpha, 0],
  (at) => {
    const alpha = at.float("alpha", 1);
    if (alpha === 0) fail(at.where, "alpha must not be 0");
    return { alpha };
  },
);
unaryOp<{ alpha: number }>(
  "ThresholdedRelu",
  "ThresholdedRelu",
  (a) => [a.alpha, 0],
  (at) => ({ alpha: at.float("alpha", 1) }),
);

registerGelu();

/** Gelu (opset 20): approximate "none" (erf) or "tanh"; one op type, two kernel ops. */
function registerGelu(): void {
  type GeluAttrs = { tanh: boolean };
  registerOp<GeluAttrs>({
    type: "Gelu",
    parse(at) {
      const a = at.string("approximate", "none");
      if (a !== "none" && a !== "tanh") fail(at.where, `approximate must be "none" or "tanh", got "${a}"`);
      return { tanh: a === "tanh" };
    },
    infer: (c) => [typedInput(c as InferContext<unknown>, 0, "X", "float")],
    layout: followInput0,
    gradient: (g) => unaryGradient(g, g.attrs.tanh ? "GeluTanh" : "Gelu", [0, 0]),
    algorithms: [
      {
        name: "gelu.kernel",
        inPlace: true,
        setup(n) {
          const k = n.kernels,
            yp = n.output(0),
            xp = n.input(0),
            size = n.outputs[0]!.size,
            code = UnaryF32[n.attrs.tanh ? "GeluTanh" : "Gelu"];
          return () => k.unary_f32_forward(code, yp, xp, size, 0, 0);
        },
      },
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// Clip: bounds from attributes (opset < 11) or from optional inputs (constants, or read at run time)

interface ClipAttrs {
  min?: number;
  max?: number;
  legacy: boolean;
}

/** Bound `which` (1: min, 2: max) at input i when known while planning, else undefined (read at run time). */
function clipBound(n: PlanNode<ClipAttrs>, i: number, which = i): number | undefined {
  const v = n.inputs[i];
  if (!v) return undefined;
  if (v.size !== 1) fail(n.where, `${which === 1 ? "min" : "max"} must be a single value, got shape ${fmtShape(v.shape)}`);
  return v.known ? Number(v.known.data[0]) : undefined;
}

registerOp<ClipAttrs>({
  type: "Clip",
  parse: (at, opset) => (opset < 11 ? { min: at.float("min", -F32_MAX), max: at.float("max", F32_MAX), legacy: true } : { legacy: false }),
  infer(c) {
    const x = typedInput(c as InferContext<unknown>, 0, "input", c.opset < 12 ? "float" : "numeric");
    for (const i of [1, 2]) {
      const t = c.input(i);
      if (t && t.dataType !== x.dataType)
        c.fail(`${i === 1 ? "min" : "max"} must be ${dataTypeName(x.dataType)} like the input, got ${dataTypeName(t.dataType)}`);
      if (t && sizeOfDims(t.shape) !== 1) c.fail(`${i === 1 ? "min" : "max"} must be a single value, got shape ${fmtShape(t.shape)}`);
    }
    return [x];
  },
  layout: (c) => ({ inputs: c.inputs.map(() => "any"), outputs: [c.inputs[0]!.perm] }),
  gradient(g) {
    if (g.wants(0)) g.add(0, g.op("ClipGrad", [g.dy(0)!, g.x(0)!, g.x(1), g.x(2)], g.attrs)[0]!);
    for (const which of [1, 2] as const)
      if (g.wants(which)) g.add(which, g.op("ClipBoundGrad", [g.dy(0)!, g.x(0)!, g.x(1), g.x(2)], { which, shape: g.x(which)!.shape })[0]!);
  },
  // constant bounds are not trained (computed ones get gradients: ClipBoundGrad)
  nonTrainable: [1, 2],
  algorithms: [
    {
      name: "clip.kernel",
      inPlace: true,
      setup(n) {
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0),
          size = n.outputs[0]!.size;
        const int = n.inputs[0]!.elem === "i32";
        const lo0 = int ? I32_MIN : -Infinity,
          hi0 = int ? I32_MAX : Infinity;
        const known = (i: number, fallback: number) => (n.attrs.legacy ? (i === 1 ? n.attrs.min! : n.attrs.max!) : n.inputs[i] ? clipBound(n, i) : fallback);
        const lo = known(1, lo0),
          hi = known(2, hi0);
        // bounds computed by the run: read from their (1-element) buffers each time
        const heap = n.engine.heap,
          loP = lo === undefined ? n.input(1) >> 2 : -1,
          hiP = hi === undefined ? n.input(2) >> 2 : -1;
        if (int) {
          return () => {
            const i32 = heap.i32;
            k.unary_i32_forward(UnaryI32.Clip, yp, xp, size, loP >= 0 ? i32[loP]! : lo!, hiP >= 0 ? i32[hiP]! : hi!);
          };
        }
        return () => {
          const f32 = heap.f32;
          k.unary_f32_forward(UnaryF32.Clip, yp, xp, size, loP >= 0 ? f32[loP]! : lo!, hiP >= 0 ? f32[hiP]! : hi!);
        };
      },
    },
  ],
});

// The gradient of Clip's bound `which` (1: min, 2: max; opset 11+ inputs), inputs dy, x, min, max
// as the forward took them: the sum of dy where x < min (x > max), where the output is the bound.
// (A JS loop over the heap: bounds that depend on trained values are rare.)
registerOp<{ which: 1 | 2; shape: readonly number[] }>({
  type: "ClipBoundGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [{ dataType: c.need(0, "dy").dataType, shape: c.attrs.shape }],
  layout: (c) => {
    const p = c.inputs[1]!.perm;
    return { inputs: c.inputs.map((v, i) => (i < 2 && v ? p : "any")), outputs: [c.outputs[0]!.shape.map((_, i) => i)] };
  },
  algorithms: [
    {
      name: "clipBoundGrad.host",
      setup(n) {
        const heap = n.engine.heap,
          dy = n.input(0) >> 2,
          x = n.input(1) >> 2,
          lo = n.inputs[2] ? n.input(2) >> 2 : -1,
          hi = n.inputs[3] ? n.input(3) >> 2 : -1,
          out = n.output(0) >> 2,
          size = n.inputs[1]!.size,
          min = n.attrs.which === 1;
        return () => {
          const f32 = heap.f32;
          const bound = f32[min ? lo : hi]!;
          let sum = 0;
          for (let i = 0; i < size; i++) {
            const v = f32[x + i]!;
            if (min ? v < bound : v > bound) sum += f32[dy + i]!;
          }
          f32[out] = sum;
        };
      },
    },
  ],
});

// Clip's gradient: inputs dy, x, and the bounds as the forward took them; dy where min <= x <= max.
registerOp<ClipAttrs>({
  type: "ClipGrad",
  internal: true,
  parse: () => ({ legacy: true }),
  infer: likeInput(1),
  layout: (c) => {
    const p = c.inputs[1]!.perm;
    return { inputs: c.inputs.map((v, i) => (i < 2 && v ? p : "any")), outputs: [p] };
  },
  algorithms: [
    {
      name: "clipGrad.kernel",
      setup(n) {
        const zero = zeroOutput(n as BoundNode<unknown>, 0),
          k = n.kernels,
          dx = n.output(0),
          dy = n.input(0),
          x = n.input(1),
          size = n.outputs[0]!.size;
        const bound = (i: number, fallback: number) =>
          n.attrs.legacy ? (i === 2 ? n.attrs.min! : n.attrs.max!) : n.inputs[i] ? clipBound(n, i, i - 1) : fallback;
        const lo = bound(2, -Infinity),
          hi = bound(3, Infinity);
        const heap = n.engine.heap,
          loP = lo === undefined ? n.input(2) >> 2 : -1,
          hiP = hi === undefined ? n.input(3) >> 2 : -1;
        return () => {
          const f32 = heap.f32;
          zero();
          k.unary_f32_backward(UnaryF32.Clip, dx, dy, x, size, loP >= 0 ? f32[loP]! : lo!, hiP >= 0 ? f32[hiP]! : hi!);
        };
      },
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// PRelu: y = x < 0 ? x slope : x, slope broadcast to x (unidirectionally) in any axis order

/** The slope as the kernel reads it: opset < 7 took a 1-D slope of C values per channel (axis 1). */
function slopeOperand(opset: number, x: { shape: readonly number[] }, slope: Operand): Operand {
  const r = x.shape.length,
    s = slope.shape;
  if (opset < 7 && s.length === 1 && r >= 2 && s[0] === x.shape[1] && s[0]! > 1) {
    return { shape: [s[0]!, ...new Array<number>(r - 2).fill(1)], perm: Array.from({ length: r - 1 }, (_, i) => i) };
  }
  return slope;
}

registerOp<{ opset: number }>({
  type: "PRelu",
  parse: (_, opset) => ({ opset }),
  infer(c) {
    const x = typedInput(c as InferContext<unknown>, 0, "X", c.opset < 16 ? "float" : "numeric"),
      slope = c.need(1, "slope");
    if (!isFloat(x.dataType)) c.fail(`integer PRelu is not supported (X is ${dataTypeName(x.dataType)})`);
    if (slope.dataType !== x.dataType) c.fail(`slope must be ${dataTypeName(x.dataType)} like X, got ${dataTypeName(slope.dataType)}`);
    const s = slopeOperand(c.opset, x, { shape: slope.shape, perm: [] }).shape;
    const y = broadcastShapes(c, [x.shape, s]);
    if (y.length !== x.shape.length || y.some((d, i) => d !== x.shape[i]))
      c.fail(`slope ${fmtShape(slope.shape)} does not broadcast to X ${fmtShape(x.shape)}`);
    return [x];
  },
  layout: (c) => ({ inputs: ["any", "any"], outputs: [c.inputs[0]!.perm] }),
  gradient: binaryGradient("PRelu", (g) => {
    const x = g.x(0)!,
      s = g.x(1)!,
      as = slopeOperand(g.attrs.opset, x, s).shape;
    return as === s.shape ? undefined : as;
  }),
  algorithms: [
    {
      name: "pRelu.broadcast",
      inPlace: true,
      paramBytes: () => ND_DESC_BYTES,
      setup(n) {
        const y = n.outputs[0]!;
        if (y.size === 0) return () => {};
        writeNd(n.engine.heap.i32, n.params, broadcastLoop(y, [n.inputs[0]!, slopeOperand(n.opset, y, n.inputs[1]!)]), n.where);
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0),
          sp = n.input(1),
          desc = n.params;
        return () => k.binary_f32_forward(BinaryF32.PRelu, yp, xp, sp, desc);
      },
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// predicates

registerOp<void>({
  type: "IsNaN",
  parse: noAttrs,
  infer: (c) => [{ dataType: DataType.BOOL, shape: typedInput(c, 0, "X", "float").shape }],
  layout: followInput0,
  algorithms: [
    {
      name: "isNaN.kernel",
      setup(n) {
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0),
          size = n.outputs[0]!.size;
        return () => k.unary_f32_forward(UnaryF32.IsNaN, yp, xp, size, 0, 0);
      },
    },
  ],
});

registerOp<{ pos: boolean; neg: boolean }>({
  type: "IsInf",
  parse: (at) => ({ pos: at.int("detect_positive", 1) !== 0, neg: at.int("detect_negative", 1) !== 0 }),
  infer: (c) => [{ dataType: DataType.BOOL, shape: typedInput(c as InferContext<unknown>, 0, "X", "float").shape }],
  layout: followInput0,
  algorithms: [
    {
      name: "isInf.kernel",
      setup(n) {
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0),
          size = n.outputs[0]!.size;
        const p = n.attrs.pos ? 1 : 0,
          q = n.attrs.neg ? 1 : 0;
        return () => k.unary_f32_forward(UnaryF32.IsInf, yp, xp, size, p, q);
      },
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// Cast, CastLike

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, 16]);
/** Narrow integer targets: [bits, signed]. */
const NARROW: Record<number, [number, boolean]> = {
  [DataType.INT8]: [8, true],
  [DataType.UINT8]: [8, false],
  [DataType.INT16]: [16, true],
  [DataType.UINT16]: [16, false],
};

/** One step of a cast: a cast_forward mode, a wrap to a narrow integer type, or a plain copy. */
export type CastStep = { cast: number } | { wrap: [bits: number, signed: boolean] } | "copy";

/**
 * The kernel steps of a cast from `from` to `to` (ONNX element types), applied in order, the first
 * from x into y, the rest in place on y: float -> int truncates toward 0 (saturating at the i32
 * range, NaN -> 0), then wraps to narrow types (as onnxruntime's static_cast does on x86);
 * -> BOOL is x != 0; -> FLOAT16 / BFLOAT16 rounds to that precision (ties to even), kept as f32.
 */
export function castSteps(from: number, to: number): CastStep[] {
  const src = elemOf(from);
  if (to === DataType.BOOL) return [{ cast: src === "f32" ? Cast.F32NonZero : Cast.I32NonZero }];
  if (FLOAT_TYPES.has(to)) {
    const round = to === DataType.FLOAT16 ? Cast.RoundHalf : to === 16 ? Cast.RoundBfloat16 : undefined;
    const steps: CastStep[] = src === "f32" ? [] : [{ cast: Cast.I32ToF32 }];
    if (round !== undefined && from !== to) steps.push({ cast: round });
    return steps.length ? steps : ["copy"];
  }
  const narrow = NARROW[to];
  const steps: CastStep[] = src === "f32" ? [{ cast: Cast.F32ToI32 }] : [];
  if (narrow && from !== to) steps.push({ wrap: narrow });
  return steps.length ? steps : ["copy"];
}

function castAlgorithm(target: (n: PlanNode<any>) => number) {
  return {
    name: "cast.kernels",
    inPlace: true,
    paramBytes: () => ND_DESC_BYTES,
    setup(n: BoundNode<any>) {
      const x = n.inputs[0]!,
        y = n.outputs[0]!,
        size = y.size;
      if (size === 0) return () => {};
      const k = n.kernels,
        yp = n.output(0),
        xp = n.input(0);
      const runs = castSteps(x.dataType, target(n)).map((s, i) => {
        const src = i === 0 ? xp : yp;
        if (s === "copy") {
          writeNd(n.engine.heap.i32, n.params, { dims: [size], strides: [[1], [1]] }, n.where);
          const desc = n.params;
          return () => k.copy_nd(yp, src, desc);
        }
        if ("cast" in s) {
          const mode = s.cast;
          return () => k.cast_forward(mode, yp, src, size);
        }
        const [bits, signed] = s.wrap;
        return () => k.unary_i32_forward(UnaryI32.Wrap, yp, src, size, bits, signed ? 1 : 0);
      });
      return () => {
        for (const f of runs) f();
      };
    },
  };
}

registerOp<{ to: number }>({
  type: "Cast",
  parse(at) {
    const to = at.int("to", 0);
    elemOf(to, at.where);
    if (at.int("saturate", 1) !== 1) fail(at.where, "saturate 0 is not supported (it applies to float8 types only)");
    return { to };
  },
  infer: (c) => [{ dataType: c.attrs.to, shape: c.need(0, "input").shape }],
  layout: followInput0,
  gradient: castGradient,
  algorithms: [castAlgorithm((n) => n.attrs.to)],
});

registerOp<void>({
  type: "CastLike",
  // input 1 gives only the element type
  zeroGradient: [1],
  parse: noAttrs,
  infer: (c) => [{ dataType: c.need(1, "target_type").dataType, shape: c.need(0, "input").shape }],
  layout: (c) => ({ inputs: ["any", "any"], outputs: [c.inputs[0]!.perm] }),
  gradient: castGradient,
  algorithms: [castAlgorithm((n) => n.inputs[1]!.dataType)],
});

/** A float-to-float cast passes the gradient through (rounding casts included); others have none. */
function castGradient(g: GradientBuilder<unknown>): void {
  if (g.wants(0) && g.x(0)!.elem === "f32" && g.y(0).elem === "f32") g.add(0, g.dy(0)!);
}

// ---------------------------------------------------------------------------------------------
// unary backward

interface UnaryGradAttrs {
  op: UnaryF32Op;
  p: number;
  q: number;
}

// dx += dy f'(x) (UnaryF32 op, parameters p, q): inputs dy and the forward input x, in x's layout.
registerOp<UnaryGradAttrs>({
  type: "UnaryGrad",
  internal: true,
  parse: () => ({ op: "Affine", p: 1, q: 0 }),
  infer: likeInput(1),
  layout: followInput(1),
  algorithms: [
    {
      name: "unaryGrad.kernel",
      setup(n) {
        const zero = zeroOutput(n as BoundNode<unknown>, 0),
          k = n.kernels,
          code = UnaryF32[n.attrs.op],
          { p, q } = n.attrs;
        const dx = n.output(0),
          dy = n.input(0),
          x = n.input(1),
          size = n.outputs[0]!.size;
        return () => {
          zero();
          k.unary_f32_backward(code, dx, dy, x, size, p, q);
        };
      },
    },
  ],
});

/** Plans UnaryGrad for input 0 of a unary op. */
function unaryGradient(g: GradientBuilder<unknown>, op: UnaryF32Op, [p, q]: [number, number]): void {
  if (g.wants(0)) g.add(0, g.op("UnaryGrad", [g.dy(0)!, g.x(0)!], { op, p, q })[0]!);
}
