// The backward definitions of the element-wise ops (GRADIENTS in src/graph/ops/elementwise.ts and
// activation.ts), bound by hand the way a training planner will bind them, against finite
// differences of the ops' own forward algorithms, in every build: broadcast inputs in NHWC and
// NCHW orders, scalars, variadic inputs, and gradients accumulating onto what dX held.
import { describe, expect, it } from "vitest";
import type { Engine, Tensor } from "../src/index.js";
import { DataType } from "../src/onnx/onnx-proto.js";
import "../src/graph/ops/index.js";
import { GRADIENTS, type GradNode } from "../src/graph/ops/elementwise.js";
import { type BoundNode, chooseAlgorithm, type InferContext, onnxOrder, opDef, type PlanValue } from "../src/graph/registry.js";
import { elemOf, hostTensor, identityPerm, physicalDims, type Perm, sizeOfDims } from "../src/graph/types.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectGradientMatches, uniform } from "./harness.js";

interface In { shape: number[]; perm?: Perm; data: Float32Array | number[]; type?: number; constant?: boolean }

/** A node of `type` bound to fresh tensors: forward and backward run functions, values and gradients. */
function bind(e: Engine, type: string, attrs: unknown, inputs: In[], opset = 18) {
  const def = opDef(type)!;
  const where = `test ${type}`;
  const types = inputs.map((x) => ({ dataType: x.type ?? DataType.FLOAT, shape: x.shape }));
  const ctx: InferContext<unknown> = {
    attrs, opset, where, inputCount: inputs.length, outputCount: 1, wants: () => true,
    input: (i) => types[i], need: (i) => types[i]!, value: (i) => (inputs[i]?.constant ? hostTensor(types[i]!.dataType, inputs[i]!.shape, inputs[i]!.data) : undefined),
    fail: (m) => {
      throw new Error(m);
    },
  };
  const outTypes = def.infer(ctx);
  const tensors: Tensor[] = [];
  const alloc = (n: number, dataType: number, data?: ArrayLike<number>) => {
    const t = elemOf(dataType) === "f32" ? e.tensor([Math.max(1, n)], data && n ? data : new Float32Array(Math.max(1, n))) : e.ints([Math.max(1, n)], data && n ? data : undefined);
    tensors.push(t);
    return t;
  };
  const value = (name: string, dataType: number, shape: readonly number[], perm: Perm, known?: In): PlanValue => ({
    name, dataType, elem: elemOf(dataType), shape, perm, dims: physicalDims(shape, perm), size: sizeOfDims(shape), isConstant: !!known?.constant,
    known: known?.constant ? hostTensor(dataType, known.shape, known.data) : undefined,
  });
  const ins = inputs.map((x, i) => value(`x${i}`, types[i]!.dataType, x.shape, x.perm ?? identityPerm(x.shape.length), x));
  const choice = (def.layout ?? onnxOrder)({ attrs, inputs: ins, outputs: outTypes });
  const outs = outTypes.map((t, i) => value(`y${i}`, t.dataType, t.shape, choice.outputs[i] ?? identityPerm(t.shape.length)));
  // physical data: tests give inputs already in their perm's order
  const xt = inputs.map((x, i) => alloc(ins[i]!.size, ins[i]!.dataType, x.data));
  const yt = outs.map((o) => alloc(o.size, o.dataType));
  const pn = { attrs, opset, where, target: { build: e.build, threads: 1 }, inputs: ins, outputs: outs };
  const algorithm = chooseAlgorithm(def, pn);
  const block = (bytes: number) => alloc(Math.ceil(bytes / 4) + 4, DataType.FLOAT).ptr;
  const bound: BoundNode<unknown> = {
    ...pn, engine: e, kernels: e.kernels, workspace: block(algorithm.workspaceBytes?.(pn) ?? 0), params: block(algorithm.paramBytes?.(pn) ?? 0),
    input: (i) => xt[i]!.ptr, output: (i) => yt[i]!.ptr, own: (r) => r,
  };
  const forward = algorithm.setup(bound);
  const grad = GRADIENTS.get(type)!;
  const dx = inputs.map((x, i) => (x.constant || ins[i]!.elem !== "f32" ? undefined : alloc(ins[i]!.size, DataType.FLOAT, uniform(ins[i]!.size, 50 + i))));
  const dy = alloc(outs[0]!.size, DataType.FLOAT, uniform(outs[0]!.size, 77));
  const gn: GradNode<unknown> = {
    ...bound, workspace: block(grad.workspaceBytes?.(pn) ?? 0), params: block(grad.paramBytes?.(pn) ?? 0),
    gradOutput: () => dy.ptr, gradInput: (i) => dx[i]?.ptr ?? 0,
  };
  const backward = grad.setup(gn);
  return { forward, backward, x: xt, y: yt[0]!, dx, dy, dispose: () => tensors.forEach((t) => t.dispose()) };
}

/** Checks every f32 non-constant input's accumulated gradient against finite differences of forward. */
function check(e: Engine, type: string, attrs: unknown, inputs: In[], opset = 18, tol = {}) {
  const b = bind(e, type, attrs, inputs, opset);
  try {
    const before = b.dx.map((t) => (t ? Array.from(t.data) : undefined));
    b.forward();
    b.backward();
    const w = Array.from(b.dy.data);
    const loss = () => {
      b.forward();
      return dot(b.y.data, w);
    };
    b.dx.forEach((t, i) => {
      if (!t) return;
      const accumulated = Array.from(t.data, (v, j) => v - before[i]![j]!);
      expectGradientMatches(b.x[i]!, accumulated, loss, { eps: 1e-3, rtol: 2e-2, atol: 2e-3, label: `${type} d input ${i}`, ...tol });
    });
  } finally {
    b.dispose();
  }
}

const NHWC: Perm = [0, 2, 3, 1];
/** Values kept off kinks: |v| >= 0.1. */
const off = (n: number, seed: number, lo = -1, hi = 1) => uniform(n, seed, lo, hi).map((v) => (Math.abs(v) < 0.1 ? 0.1 + v : v));

describe.each(BUILDS_UNDER_TEST)("element-wise gradients (%s)", (build) => {
  it("binary ops: NHWC values against NCHW per-channel and scalar operands", async () => {
    const e = await engineFor(build);
    for (const op of ["Add", "Sub", "Mul", "Div", "Pow"]) {
      const base = op === "Pow" ? uniform(2 * 5 * 3 * 3, 1, 0.5, 2) : off(90, 1);
      check(e, op, undefined, [{ shape: [2, 5, 3, 3], perm: NHWC, data: base }, { shape: [5, 1, 1], data: uniform(5, 2, 0.5, 1.5) }]);
      check(e, op, undefined, [{ shape: [1, 5, 1, 1], data: uniform(5, 3, 0.5, 1.5) }, { shape: [2, 5, 3, 3], data: uniform(90, 4, 0.5, 1.5) }]);
      check(e, op, undefined, [{ shape: [7], data: uniform(7, 5, 0.5, 2) }, { shape: [], data: [1.25] }]);
    }
  });

  it("PRelu with a per-channel slope against NHWC, and the opset-6 1-D slope", async () => {
    const e = await engineFor(build);
    check(e, "PRelu", undefined, [{ shape: [2, 6, 3, 3], perm: NHWC, data: off(108, 6) }, { shape: [6, 1, 1], data: uniform(6, 7, 0, 0.5) }]);
    check(e, "PRelu", undefined, [{ shape: [2, 6, 4], data: off(48, 8) }, { shape: [6], data: uniform(6, 9, 0, 0.5) }], 6);
  });

  it("variadic Sum, Mean, Max, Min with broadcasting", async () => {
    const e = await engineFor(build);
    for (const op of ["Sum", "Mean", "Max", "Min"]) {
      check(e, op, undefined, [
        { shape: [3, 4], data: uniform(12, 10) }, { shape: [4], data: uniform(4, 11) }, { shape: [3, 1], data: uniform(3, 12) },
      ]);
    }
  });

  it("Where sends the gradient to the selected branch, summed over broadcast axes", async () => {
    const e = await engineFor(build);
    check(e, "Where", undefined, [
      { shape: [3, 1], data: [1, 0, 1], type: DataType.BOOL }, { shape: [3, 5], data: uniform(15, 13) }, { shape: [5], data: uniform(5, 14) },
    ]);
  });

  it("unary ops and activations, with attributes and in NHWC", async () => {
    const e = await engineFor(build);
    const cases: [string, unknown, number, number][] = [
      ["Abs", undefined, -2, 2], ["Neg", undefined, -2, 2], ["Sqrt", undefined, 0.5, 3], ["Exp", undefined, -2, 2], ["Log", undefined, 0.5, 3],
      ["Reciprocal", undefined, 0.5, 3], ["Erf", undefined, -2, 2], ["Sin", undefined, -3, 3], ["Cos", undefined, -3, 3],
      ["HardSigmoid", { alpha: 0.2, beta: 0.5 }, -4, 4], ["HardSwish", undefined, -4, 4], ["Elu", { alpha: 0.5 }, -2, 2],
      ["Selu", { alpha: 1.6, gamma: 1.05 }, -2, 2], ["Celu", { alpha: 1.5 }, -2, 2], ["Gelu", { tanh: false }, -3, 3], ["Gelu", { tanh: true }, -3, 3],
      ["Mish", undefined, -3, 3], ["Softplus", undefined, -3, 3], ["Softsign", undefined, -3, 3], ["ThresholdedRelu", { alpha: 0.3 }, -1, 1],
      ["Relu", undefined, -1, 1], ["LeakyRelu", { alpha: 0.1 }, -1, 1], ["Sigmoid", undefined, -3, 3], ["Tanh", undefined, -2, 2],
      ["Clip", { legacy: true, min: -0.5, max: 0.5 }, -1, 1],
    ];
    for (const [op, attrs, lo, hi] of cases) {
      const x = uniform(2 * 3 * 2 * 5, 20, lo, hi).map((v) => (Math.abs(v) < 0.05 || Math.abs(Math.abs(v) - 0.5) < 0.05 || Math.abs(Math.abs(v) - 3) < 0.05 ? v + 0.1 : v));
      check(e, op, attrs, [{ shape: [2, 3, 2, 5], perm: NHWC, data: x }]);
    }
  });

  it("Clip with bounds given as inputs, Cast between float types", async () => {
    const e = await engineFor(build);
    check(e, "Clip", { legacy: false }, [{ shape: [9], data: off(9, 30) }, { shape: [], data: [-0.45], constant: true }, { shape: [], data: [0.55], constant: true }], 13);
    check(e, "Cast", { to: DataType.FLOAT16 }, [{ shape: [9], data: uniform(9, 31) }], 18, { eps: 1e-2, rtol: 5e-2 });
  });

  it("gradients of constants and integer inputs are not asked for, and accumulate", async () => {
    const e = await engineFor(build);
    const b = bind(e, "Mul", undefined, [{ shape: [4], data: [1, 2, 3, 4] }, { shape: [4], data: [2, 2, 2, 2], constant: true }]);
    try {
      expect(b.dx[1]).toBeUndefined();
      b.backward();
      const once = Array.from(b.dx[0]!.data);
      b.backward();
      const dy = Array.from(b.dy.data);
      expect(Array.from(b.dx[0]!.data)).toEqual(once.map((v, i) => Math.fround(v + Math.fround(dy[i]! * 2))));
    } finally {
      b.dispose();
    }
  });
});
