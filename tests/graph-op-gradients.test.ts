// The gradient of EVERY registered op with a backward pass (OpDef.gradient), in every build: each
// op's base case (tests/op-cases.ts) at seeded small sizes below, at and above the 4- and 8-lane
// tiles, with every float input made a trainable parameter, through InferenceSession.trainable().
// dLoss/dParam for loss = sum(G * y) (G seeded) is compared with central differences of the
// float32 forward, accumulated in float64 on the host, at two step sizes: where the two disagree
// the point sits on a kink (Relu at 0, Max ties, Floor steps) and is skipped, so a check can
// fail only on a smooth point. A parameter whose gradient is silently zero fails like a wrong one.
// Every parameter reaches the op through an Identity, so an op without a backward pass cannot leave
// it out quietly: it must refuse to train with a clear error (REFUSED lists those), never train
// with a silently zero gradient.
import { describe, expect, it } from "vitest";
import { opDef, registeredOps } from "../src/graph/registry.js";
import { InferenceSession } from "../src/graph/session.js";
import { SimdnetError } from "../src/errors.js";
import { encodeModel } from "../src/onnx/onnx-proto.js";
import { mulberry32 } from "../src/random.js";
import { BUILDS_UNDER_TEST, engineFor } from "./harness.js";
import { af, ai, ais, as, B, caseModel, F, feed, init, L, OP_CASES, type OpCase, valuesFor } from "./op-cases.js";

/** Free sizes the cases take: below, at and above the 4- and 8-lane tiles. */
const SIZES = [1, 3, 4, 5, 7, 8, 9];
/** Sizes per op and build (seeded picks from SIZES), parameter elements checked per parameter. */
const SIZES_PER_OP = 4,
  SAMPLES = 8;

/** The case with every float input not listed as fixed turned into a constant (a trainable parameter). */
function asParameters(c: OpCase): OpCase {
  return {
    ...c,
    inputs: c.inputs.map((t, k) => (t && t.dataType === F && !(c.fixed ?? []).includes(k) ? { ...t, kind: "init" as const } : t)),
  };
}

/** Base cases whose output is not differentiable, made so (Cast to int64 -> Cast to float). */
const GRADIENT_CASES: Record<string, (n: number) => OpCase> = {
  Cast: (n) => ({ ...OP_CASES.Cast!(n), attrs: [ai("to", F)] }),
};

/** More cases: optional outputs that are losses too (MaxPool's indices, LayerNormalization's statistics...). */
const EXTRA_CASES: [string, (n: number) => OpCase][] = [
  ["MaxPool", (n) => ({ ...OP_CASES.MaxPool!(n), outputs: 2, outputTypes: [F, L] })],
  ["Dropout", (n) => ({ ...OP_CASES.Dropout!(n), outputs: 2, outputTypes: [F, B] })],
  ["LayerNormalization", (n) => ({ ...OP_CASES.LayerNormalization!(n), outputs: 3 })],
  ["Split", (n) => ({ inputs: [feed([2, 2 * n])], attrs: [ai("axis", 1)], outputs: 2, opset: 18, fixed: [] })],
  [
    "Gemm",
    (n) => ({
      ...OP_CASES.Gemm!(n),
      attrs: [ai("transA", 1), ai("transB", 1), af("alpha", 0.7), af("beta", 1.3)],
      inputs: [feed([3, 2]), init([n, 3]), init([1, n])],
    }),
  ],
  ["Pad", (n) => ({ ...OP_CASES.Pad!(n), attrs: [as("mode", "reflect")], inputs: [feed([3, n + 2]), init([4], L, [1, 0, 2, 1])] })],
  ["Pad", (n) => ({ ...OP_CASES.Pad!(n), attrs: [as("mode", "edge")], inputs: [feed([3, n]), init([4], L, [1, 2, 0, 1])] })],
  ["Resize", (n) => ({ ...OP_CASES.Resize!(n), attrs: [as("mode", "linear")] })],
  ["Resize", (n) => ({ ...OP_CASES.Resize!(n), attrs: [as("mode", "cubic")] })],
  ["GridSample", (n) => ({ ...OP_CASES.GridSample!(n), attrs: [as("padding_mode", "reflection"), ai("align_corners", 1)] })],
  ["GridSample", (n) => ({ ...OP_CASES.GridSample!(n), attrs: [as("padding_mode", "border"), as("mode", "nearest")], kinky: true })],
  ["CumSum", (n) => ({ ...OP_CASES.CumSum!(n), attrs: [ai("exclusive", 1), ai("reverse", 1)] })],
  [
    "AveragePool",
    (n) => ({
      ...OP_CASES.AveragePool!(n),
      attrs: [ais("kernel_shape", [3, 2]), ais("pads", [1, 0, 1, 1]), ais("strides", [2, 1]), ai("count_include_pad", 1)],
    }),
  ],
  ["Conv", (n) => ({ ...OP_CASES.Conv!(n), attrs: [ais("strides", [2, 1]), ais("pads", [1, 1, 0, 1]), ais("dilations", [1, 2])] })],
  ["Conv", (n) => ({ inputs: [feed([1, 4, n + 2, 3]), init([4, 2, 3, 3]), init([4])], attrs: [ai("group", 2), ais("pads", [1, 1, 1, 1])] })],
  ["ConvTranspose", (n) => ({ ...OP_CASES.ConvTranspose!(n), attrs: [ais("strides", [2, 1]), ais("pads", [1, 0, 0, 1]), ais("output_padding", [1, 0])] })],
  ["ConvTranspose", (n) => ({ inputs: [feed([1, 4, n]), init([4, 1, 3]), init([2])], attrs: [ai("group", 2), ais("dilations", [2]), ais("strides", [3])] })],
  ["ConvTranspose", (n) => ({ inputs: [feed([2, 2, n, 2]), init([2, 3, 2, 2])], attrs: [as("auto_pad", "VALID"), ais("strides", [2, 2])] })],
  ["TopK", (n) => ({ inputs: [feed([n + 1, 3]), init([1], L, [n])], attrs: [ai("axis", 0), ai("largest", 0)], outputs: 1, fixed: [1] })],
  ["TopK", (n) => ({ inputs: [feed([2, 3, n]), init([1], L, [2])], attrs: [ai("axis", 1)], outputs: 2, outputTypes: [F, L], fixed: [1] })],
  ["GatherND", (n) => ({ inputs: [feed([3, n, 2]), init([2, 2], L, [0, n - 1, -1, 0])], fixed: [1] })],
  ["ScatterND", (n) => ({ inputs: [feed([3, n]), init([2, 2], L, [0, n - 1, 2, 0]), init([2])], fixed: [1] })],
  ["ScatterND", (n) => ({ inputs: [feed([4, n]), init([2, 1], L, [1, 1]), init([2, n])], attrs: [as("reduction", "add")], opset: 16, fixed: [1] })],
  ["Einsum", (n) => ({ inputs: [feed([2, 3, n]), init([2, n, 4])], attrs: [as("equation", "bij,bjk->bik")], opset: 12 })],
  ["Einsum", (n) => ({ inputs: [feed([n, 3])], attrs: [as("equation", "ij->ji")], opset: 12 })],
  ["Einsum", (n) => ({ inputs: [feed([n, 3]), init([3])], attrs: [as("equation", "ij,j->i")], opset: 12 })],
  // broadcasting both ways, rank 0 and rank 5 operands
  ["Add", (n) => ({ inputs: [feed([1, 3, 1, 2]), init([n, 1, 1, 1])] })],
  ["Mul", (n) => ({ inputs: [feed([2, 1, n]), init([3, 1])] })],
  ["Sub", (n) => ({ inputs: [feed([]), init([2, n])] })],
  ["Div", (n) => ({ inputs: [feed([1, 2, 1, n, 1]), init([3, 1, 2], F, undefined, [0.5, 2])] })],
  ["Pow", (n) => ({ inputs: [feed([n, 1], F, [0.3, 2]), init([1, 3])] })],
  ["Max", (n) => ({ inputs: [feed([2, n]), init([n]), init([2, 1])] })],
  ["Min", (n) => ({ inputs: [feed([n, 1, 2]), init([3, 1])] })],
  ["Sum", (n) => ({ inputs: [feed([n]), init([2, 1]), init([1])] })],
  ["Mean", (n) => ({ inputs: [feed([2, n]), init([n]), init([2, 1])] })],
  ["PRelu", (n) => ({ inputs: [feed([2, n]), init([n])] })],
  ["Where", (n) => ({ inputs: [feed([2, n], B), init([n]), init([2, 1])], fixed: [0] })],
  // movement along other axes, steps and repeats
  [
    "Slice",
    (n) => ({ inputs: [feed([3, n + 2]), init([2], L, [-1, 0]), init([2], L, [-100, 100]), init([2], L, [1, 0]), init([2], L, [-1, 2])], fixed: [1, 2, 3, 4] }),
  ],
  ["Tile", (n) => ({ inputs: [feed([2, n]), init([2], L, [2, 3])], fixed: [1] })],
  ["Expand", (n) => ({ inputs: [feed([1, n, 1]), init([4], L, [2, 1, n, 3])], fixed: [1] })],
  ["Transpose", (n) => ({ inputs: [feed([2, 3, n, 2])], attrs: [ais("perm", [3, 1, 0, 2])] })],
  ["Concat", (n) => ({ inputs: [feed([2, n, 2]), init([2, 1, 2]), init([2, 3, 2])], attrs: [ai("axis", -2)] })],
  ["Gather", (n) => ({ inputs: [feed([2, n]), init([3], L, [0, -1, 0])], attrs: [ai("axis", 1)], fixed: [1] })],
  ["GatherElements", (n) => ({ inputs: [feed([2, n]), init([2, 3], L, [0, n - 1, 0, -1, 0, 0])], attrs: [ai("axis", 1)], fixed: [1] })],
  ["DepthToSpace", (n) => ({ inputs: [feed([1, 8, n, 2])], attrs: [ai("blocksize", 2), as("mode", "CRD")] })],
  ["ReduceSum", (n) => ({ inputs: [feed([2, 3, n]), init([2], L, [0, 2])], attrs: [ai("keepdims", 0)], opset: 18, fixed: [1] })],
  ["ReduceMean", (n) => ({ inputs: [feed([2, 3, n])], attrs: [ai("keepdims", 0)], opset: 18 })],
  ["ReduceLogSumExp", (n) => ({ inputs: [feed([2, 3, n]), init([1], L, [-1])], opset: 18, fixed: [1] })],
  ["ReduceProd", (n) => ({ inputs: [feed([2, 3, n]), init([2], L, [0, 1])], opset: 18, fixed: [1] })],
  ["ReduceL1", (n) => ({ inputs: [feed([2, 3, n]), init([1], L, [0])], opset: 18, fixed: [1] })],
  ["Softmax", (n) => ({ inputs: [feed([n, 3])], attrs: [ai("axis", 0)] })],
  ["LogSoftmax", (n) => ({ inputs: [feed([2, 3, n])], opset: 11, attrs: [ai("axis", 1)] })],
  ["CumSum", (n) => ({ inputs: [feed([n, 3]), init([], L, [0])], fixed: [1] })],
  [
    "Resize",
    (n) => ({
      inputs: [feed([1, 2, 3, n]), null, null, init([4], L, [1, 2, 5, n + 2])],
      attrs: [as("mode", "linear"), as("coordinate_transformation_mode", "align_corners")],
      fixed: [3],
    }),
  ],
  ["MaxPool", (n) => ({ inputs: [feed([1, 2, n + 3])], attrs: [ais("kernel_shape", [3]), ais("strides", [2]), ais("pads", [1, 1])] })],
  ["AveragePool", (n) => ({ inputs: [feed([2, 1, n + 2])], attrs: [ais("kernel_shape", [3]), ais("pads", [2, 1]), as("auto_pad", "NOTSET")] })],
  ["Conv", (n) => ({ inputs: [feed([2, 3, n + 2]), init([2, 3, 3])], attrs: [ais("pads", [1, 0])] })],
  ["LpNormalization", (n) => ({ inputs: [feed([n, 3])], attrs: [ai("axis", 0), ai("p", 1)] })],
  ["InstanceNormalization", (n) => ({ inputs: [feed([2, 3, n]), init([3]), init([3])] })],
  ["GroupNormalization", (n) => ({ inputs: [feed([2, 6, n]), init([3]), init([3])], attrs: [ai("num_groups", 3)], opset: 18 })],
  ["LRN", (n) => ({ inputs: [feed([1, 5, n, 2])], attrs: [ai("size", 2), af("alpha", 0.01), af("beta", 0.9), af("bias", 2)] })],
  ["Flatten", (n) => ({ inputs: [feed([2, 3, n])], attrs: [ai("axis", 0)] })],
  ["Trilu", (n) => ({ inputs: [feed([2, 3, n]), init([], L, [-1])], attrs: [ai("upper", 0)], opset: 14, fixed: [1] })],
  ["HardSigmoid", (n) => ({ inputs: [feed([2, n], F, [-4, 4])], attrs: [af("alpha", 0.3), af("beta", 0.4)] })],
  ["Elu", (n) => ({ inputs: [feed([2, n])], attrs: [af("alpha", 0.5)] })],
  ["Gelu", (n) => ({ inputs: [feed([2, n])], attrs: [as("approximate", "tanh")], opset: 20 })],
  ["MatMul", (n) => ({ inputs: [feed([2, 1, 3, n]), init([3, n, 2])] })],
  ["MatMul", (n) => ({ inputs: [feed([n]), init([n, 3])] })],
  ["MatMul", (n) => ({ inputs: [feed([2, n]), init([n])] })],
];

/** Thrown by an op without a backward pass: the model cannot train through it (a clear refusal). */
class Refused extends Error {}

/** Points compared (smooth ones), per build: the harness is not vacuous. */
const compared = new Map<string, number>();

/**
 * How a rank-4 parameter reaches the op: an Identity (ONNX order), or a 1x1 Conv (whose output is
 * laid out channels-last, so the op and its backward run on that layout).
 */
type Route = "identity" | "conv";

async function checkOp(
  build: (typeof BUILDS_UNDER_TEST)[number],
  op: string,
  n: number,
  route: Route = "identity",
  make: (n: number) => OpCase = GRADIENT_CASES[op] ?? OP_CASES[op]!,
): Promise<string[]> {
  const e = await engineFor(build);
  const c = asParameters(make(n));
  const r = mulberry32(1000 + n);
  const { model, feeds } = caseModel(
    op,
    c,
    c.inputs.map((t) => (t ? valuesFor(t, r) : undefined)),
  );
  // each parameter reaches the op through an Identity, so an op without a backward pass cannot
  // just leave it out of the parameters: training must refuse it instead
  const params = model.graph.initializer.filter((t) => t.dataType === F && !(c.fixed ?? []).includes(Number(t.name.slice(2))));
  if (!params.length) return [];
  const node = model.graph.node[0]!;
  for (const p of params) {
    node.input = node.input.map((x) => (x === p.name ? `p_${p.name}` : x));
    if (route === "conv" && p.name === "in0" && p.dims.length === 4) {
      // y = conv(x, w) with w = I + small noise (a trainable parameter too)
      const C = p.dims[1]!;
      const w = Float32Array.from({ length: C * C }, (_, i) => (i % (C + 1) === 0 ? 1 : 0) + 0.1 * (r() - 0.5));
      model.graph.initializer.push({ name: "conv_w", dims: [C, C, 1, 1], dataType: F, data: w });
      model.graph.node.unshift({ name: "conv", opType: "Conv", domain: "", input: [p.name, "conv_w"], output: [`p_${p.name}`], attribute: [] });
    } else model.graph.node.unshift({ name: `id_${p.name}`, opType: "Identity", domain: "", input: [p.name], output: [`p_${p.name}`], attribute: [] });
  }
  const s = InferenceSession.fromBytes(e, encodeModel(model));
  const problems: string[] = [];
  try {
    const probe = s.runSync(feeds);
    const lossOutputs = Object.keys(probe).filter((k) => probe[k]!.type === "float32");
    if (!lossOutputs.length) return [];
    const G = Object.fromEntries(lossOutputs.map((k) => [k, Float64Array.from({ length: probe[k]!.data.length }, () => -1 + 2 * r())]));
    const t = s.trainable({ lossOutputs });
    try {
      const loss = () => {
        const y = t.forward(feeds);
        let l = 0;
        for (const k of lossOutputs) {
          const d = y[k]!.data as Float32Array,
            g = G[k]!;
          for (let i = 0; i < d.length; i++) l += d[i]! * g[i]!;
        }
        return l;
      };
      t.zeroGrads();
      try {
        try {
          loss();
        } catch (err) {
          if (/is not a float tensor/.test((err as Error).message)) return []; // (an untyped graph output is declared float)
          throw err;
        }
        t.backward(Object.fromEntries(lossOutputs.map((k) => [k, Float32Array.from(G[k]!)])));
      } catch (err) {
        if (err instanceof SimdnetError && new RegExp(`\\(${op}\\): ${op}('s backward pass does not take| has no gradient)`).test(err.message))
          throw new Refused(err.message);
        throw err;
      }
      if (!t.parameters().length) problems.push(`${op} n=${n}: no trainable parameter`);
      for (const p of t.parameters()) {
        const analytic = Float64Array.from(p.grad.data);
        const v = p.value.data as Float32Array;
        let smooth = 0;
        const picks = v.length <= SAMPLES ? [...v.keys()] : Array.from({ length: SAMPLES }, () => Math.floor(r() * v.length));
        for (const i of picks) {
          const keep = v[i]!;
          const central = (h: number) => {
            const hh = Math.fround(keep + h) - keep; // the step float32 can represent
            v[i] = keep + hh;
            const up = loss();
            v[i] = keep - hh;
            const down = loss();
            v[i] = keep;
            return (up - down) / (2 * hh);
          };
          const h = 4e-3 * Math.max(1, Math.abs(keep));
          const n1 = central(h),
            n2 = central(h / 2);
          const tol = 2e-2 * Math.max(1, Math.abs(n2));
          if (!(Math.abs(n1 - n2) <= tol / 2)) continue; // a kink (or a step) within h: no derivative to compare
          smooth++;
          compared.set(build, (compared.get(build) ?? 0) + 1);
          if (!(Math.abs(analytic[i]! - n2) <= tol))
            problems.push(`${op} n=${n} ${route} (${build}): d/d${p.name}[${i}] analytic ${analytic[i]} numeric ${n2}`);
        }
        if (picks.length && !smooth && !c.kinky) problems.push(`${op} n=${n}: ${p.name}: every sampled point is on a kink`);
      }
    } finally {
      t.release();
    }
  } finally {
    await s.release();
  }
  return problems;
}

describe.each(BUILDS_UNDER_TEST)("gradients of every op against float64 central differences (%s)", (build) => {
  it("every op trains with a gradient matching its forward, or refuses clearly", { timeout: 90_000 }, async () => {
    const problems: string[] = [];
    const refused: string[] = [];
    for (const op of registeredOps()) {
      if (!OP_CASES[op]) continue; // (the hostile test fails for a missing case)
      let seed = 5;
      for (const ch of op) seed = (Math.imul(seed, 31) + ch.charCodeAt(0)) | 0;
      const r = mulberry32(seed ^ build.length);
      const sizes = new Set(Array.from({ length: SIZES_PER_OP }, () => SIZES[Math.floor(r() * SIZES.length)]!));
      const rank4 = OP_CASES[op]!(3).inputs[0]?.dims.length === 4;
      for (const [n, route] of [...[...sizes].map((n) => [n, "identity"] as const), ...(rank4 ? ([[[...sizes][0]!, "conv"]] as const) : [])]) {
        try {
          problems.push(...(await checkOp(build, op, n, route)));
        } catch (err) {
          if (err instanceof Refused) {
            const input = /for its input (\d+)/.exec(err.message),
              output = /of its output (\d+)/.exec(err.message);
            const what = input ? `${op} input ${input[1]}` : output ? `${op} output ${output[1]}` : op;
            if (!input && !output && opDef(op)!.gradient) problems.push(`${op} n=${n}: has a backward pass but refused: ${err.message}`);
            else if (!refused.includes(what)) refused.push(what);
          } else problems.push(`${op} n=${n}: ${(err as Error).message}`);
        }
      }
    }
    for (const [k, [op, make]] of EXTRA_CASES.entries()) {
      for (const n of [1 + (k % 4), 4 + (k % 6)]) {
        try {
          problems.push(...(await checkOp(build, op, n, "identity", make)));
        } catch (err) {
          const output = err instanceof Refused && /of its output (\d+)/.exec(err.message);
          if (output) {
            if (!refused.includes(`${op} output ${output[1]}`)) refused.push(`${op} output ${output[1]}`);
          } else problems.push(`${op} (extra case ${k}) n=${n}: ${(err as Error).message}`);
        }
      }
    }
    expect(problems, problems.join("\n")).toEqual([]);
    expect(compared.get(build)).toBeGreaterThan(1500);
    // the refusals are the ops known to lack a backward pass (a new one is a decision to record here)
    expect(refused.sort()).toEqual(REFUSED);
  });
});

/**
 * What training refuses, with a clear error naming the op (and the output): ops without a backward
 * pass yet (the recurrent ops), ops whose derivative is zero almost everywhere
 * (Ceil, Floor, Round, Sign, Hardmax, OneHot's values), DequantizeLinear's scale, and
 * LayerNormalization's Mean and InvStdDev outputs as losses (their gradient used to be dropped).
 */
const REFUSED = [
  "Ceil",
  "DequantizeLinear",
  "DynamicQuantizeLinear",
  "Floor",
  "GRU",
  "Hardmax",
  "LSTM",
  "LayerNormalization output 1",
  "OneHot",
  "RNN",
  "Round",
  "Sign",
];

describe("ConvTranspose's gradient", () => {
  it("refuses auto_pad SAME_* and output_shape (pads not the conv's own) with a clear error", async () => {
    const e = await engineFor("simd");
    for (const attrs of [
      [as("auto_pad", "SAME_UPPER"), ais("strides", [2, 2])],
      [ais("output_shape", [7, 6]), ais("strides", [2, 2])],
    ]) {
      const c = asParameters({ ...OP_CASES.ConvTranspose!(3), attrs });
      const r = mulberry32(4);
      const { model, feeds } = caseModel(
        "ConvTranspose",
        c,
        c.inputs.map((t) => (t ? valuesFor(t, r) : undefined)),
      );
      const s = InferenceSession.fromBytes(e, encodeModel(model));
      const y = s.runSync(feeds).out0!;
      const t = s.trainable({ lossOutputs: ["out0"] });
      expect(() => {
        t.forward(feeds);
        t.backward({ out0: new Float32Array(y.data.length).fill(1) });
      }).toThrow(/training needs explicit pads/);
      t.release();
      await s.release();
    }
  });
});

describe("integer values computed from parameters", () => {
  it("take no gradient: Gather of a fed table at ArgMax(p), times p, trains p through the Mul only", async () => {
    const e = await engineFor("simd");
    // y = Gather(table, ArgMax(p)) * p, p = Identity(w): Gather's data is fed (no gradient wanted),
    // its indices depend on w but are integers, so its backward adds nothing and must not fail
    const { model } = caseModel("Mul", { inputs: [feed([]), init([4], F, [0.5, 2, -1, 1])] }, []);
    model.graph.input = [{ name: "table", elemType: F, shape: [4] }];
    model.graph.node[0]!.input = ["g", "p"];
    model.graph.node.unshift(
      { name: "p", opType: "Identity", domain: "", input: ["in1"], output: ["p"], attribute: [] },
      { name: "am", opType: "ArgMax", domain: "", input: ["p"], output: ["am"], attribute: [ai("keepdims", 0)] },
      { name: "g", opType: "Gather", domain: "", input: ["table", "am"], output: ["g"], attribute: [ai("axis", 0)] },
    );
    const s = InferenceSession.fromBytes(e, encodeModel(model));
    const t = s.trainable({ lossOutputs: ["out0"] });
    const feeds = { table: { dims: [4], data: [10, 20, 30, 40] } };
    expect(Array.from(t.forward(feeds).out0!.data as Float32Array)).toEqual([10, 40, -20, 20]);
    t.zeroGrads();
    t.backward({ out0: [1, 1, 1, 1] });
    expect(Array.from(t.parameters()[0]!.grad.data)).toEqual([20, 20, 20, 20]);
    t.release();
    await s.release();
  });
});
