// The movement ops node by node, in every build: each forward in a non-ONNX axis order (NHWC
// and others) equals the ONNX-order run, and each backward (src/graph/ops/movement-grad.ts)
// matches finite differences and accumulates into what dx already holds.
import { describe, expect, it } from "vitest";
import { Attributes } from "../src/onnx/attributes.js";
import { AttributeType, type AttributeProto, DataType } from "../src/onnx/onnx-proto.js";
import "../src/graph/ops/index.js";
import { MOVEMENT_GRADS, type GradNode } from "../src/graph/ops/movement-grad.js";
import { type BoundNode, chooseAlgorithm, type InferContext, opDef, type PlanNode, type PlanValue } from "../src/graph/registry.js";
import { elemOf, type HostTensor, hostTensor, identityPerm, logicalStrides, type Perm, physicalDims, sizeOfDims } from "../src/graph/types.js";
import type { Engine, Tensor } from "../src/index.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, uniform } from "./harness.js";

const ints = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: v });
const int = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.INT, i: v });
const str = (name: string, v: string): AttributeProto => ({ name, type: AttributeType.STRING, s: v });
const flt = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f: v });
const i64 = (dims: number[], v: number[]) => hostTensor(DataType.INT64, dims, v);
const f32c = (dims: number[], v: number[]) => hostTensor(DataType.FLOAT, dims, v);

/** A node's inputs: the data (x, float, run-time, laid out in `perm`) and constants / index inputs. */
interface Case {
  op: string;
  attrs?: AttributeProto[];
  opset?: number;
  x: number[];
  /** Known inputs 1.. (undefined: omitted). */
  known?: (HostTensor | undefined)[];
  /** A run-time integer input (Gather's indices) at position 1. */
  indices?: HostTensor;
  outputs?: number;
  /** Linear / cubic resizing (outputs compared to rounding, not bit for bit). */
  interpolates?: boolean;
  /** Perms to try for x besides ONNX order. */
  perms?: Perm[];
}

/** Logical (row-major) data -> physical data in `perm` order. */
function toPhysical(data: ArrayLike<number>, shape: readonly number[], perm: Perm): Float32Array {
  const ls = logicalStrides(shape, perm);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < data.length; k++) {
    out[idx.reduce((a, v, i) => a + v * ls[i]!, 0)] = data[k]!;
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++idx[a]! < shape[a]!) break;
      idx[a] = 0;
    }
  }
  return out;
}

/** Physical data -> logical. */
function toLogical(data: ArrayLike<number>, shape: readonly number[], perm: Perm): Float32Array {
  const ls = logicalStrides(shape, perm);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < data.length; k++) {
    out[k] = data[idx.reduce((a, v, i) => a + v * ls[i]!, 0)]!;
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++idx[a]! < shape[a]!) break;
      idx[a] = 0;
    }
  }
  return out;
}

const value = (name: string, dataType: number, shape: readonly number[], perm: Perm, known?: HostTensor): PlanValue => ({
  name,
  dataType,
  elem: elemOf(dataType),
  shape,
  perm,
  dims: physicalDims(shape, perm),
  size: sizeOfDims(shape),
  isConstant: !!known,
  known,
});

/** The node planned and bound by hand: forward and backward closures over device tensors. */
function bind(e: Engine, c: Case, perm: Perm) {
  const def = opDef(c.op)!;
  const opset = c.opset ?? 18;
  const where = `test ${c.op}`;
  const known = c.known ?? [];
  const nInputs = 1 + Math.max(known.length, c.indices ? 1 : 0);
  const node = {
    name: "n",
    opType: c.op,
    domain: "",
    input: Array.from({ length: nInputs }, (_, i) => `in${i}`),
    output: Array.from({ length: c.outputs ?? 1 }, (_, i) => `out${i}`),
    attribute: c.attrs ?? [],
  };
  const attrs = def.parse(new Attributes(node, where), opset);
  const inputs: (PlanValue | undefined)[] = [value("x", DataType.FLOAT, c.x, perm)];
  for (let i = 1; i < nInputs; i++) {
    const k = i === 1 && c.indices ? undefined : known[i - 1];
    if (i === 1 && c.indices) inputs.push(value("indices", c.indices.dataType, c.indices.dims, identityPerm(c.indices.dims.length)));
    else inputs.push(k ? value(`in${i}`, k.dataType, k.dims, identityPerm(k.dims.length), k) : undefined);
  }
  const ctx: InferContext<unknown> = {
    attrs,
    opset,
    where,
    inputCount: nInputs,
    outputCount: c.outputs ?? 1,
    wants: () => true,
    input: (i) => inputs[i],
    need: (i) => inputs[i] ?? expect.fail(`input ${i}`),
    value: (i) => inputs[i]?.known,
    fail: (m) => expect.fail(m),
  };
  const types = def.infer(ctx);
  const choice = def.layout?.({ attrs, inputs, outputs: types });
  if (choice) expect([perm, "any"], `${c.op} reads x as it lies`).toContainEqual(choice.inputs[0]);
  const outputs = types.map((t, i) => value(`y${i}`, t.dataType, t.shape, choice?.outputs[i] ?? identityPerm(t.shape.length)));
  const pn: PlanNode<unknown> = { attrs, opset, where, target: { build: e.build, threads: 1 }, inputs, outputs };
  const alg = chooseAlgorithm(def, pn);
  const grad = MOVEMENT_GRADS.get(c.op)!;
  const made: Tensor[] = [];
  const alloc = (n: number, dtype: "f32" | "i32" = "f32") => {
    const t = e.empty([Math.max(n, 4)], dtype);
    (dtype === "f32" ? t.data : t.ints).fill(0);
    made.push(t);
    return t;
  };
  const inT = inputs.map((v) => {
    if (!v) return undefined;
    const t = alloc(v.size, v.elem);
    if (v.known) (v.elem === "f32" ? t.data : t.ints).set(v.known.data);
    if (v.name === "indices") t.ints.set(c.indices!.data);
    return t;
  });
  const outT = outputs.map((v) => alloc(v.size));
  const params = alloc((alg.paramBytes?.(pn) ?? 0) / 4 + 4),
    ws = alloc((alg.workspaceBytes?.(pn) ?? 0) / 4 + 4);
  const bound: BoundNode<unknown> = {
    ...pn,
    engine: e,
    kernels: e.kernels,
    workspace: ws.ptr,
    params: params.ptr,
    input: (i) => inT[i]?.ptr ?? 0,
    output: (i) => outT[i]!.ptr,
    own: (r) => r,
  };
  const forward = alg.setup(bound);
  const dyT = outputs.map((v) => alloc(v.size)),
    dxT = alloc(inputs[0]!.size);
  const gParams = alloc((grad.paramBytes?.(pn) ?? 0) / 4 + 4),
    gWs = alloc((grad.workspaceBytes?.(pn) ?? 0) / 4 + 4);
  const gn: GradNode<unknown> = { ...bound, params: gParams.ptr, workspace: gWs.ptr, dOutput: (i) => dyT[i]!.ptr, dInput: (i) => (i === 0 ? dxT.ptr : 0) };
  const backward = grad.setup(gn);
  return { x: inT[0]!, outputs, outT, dyT, dxT, forward, backward, dispose: () => made.forEach((t) => t.dispose()) };
}

/** Runs the case in ONNX order and in each perm: same outputs; backward vs finite differences. */
async function check(build: (typeof BUILDS_UNDER_TEST)[number], c: Case): Promise<void> {
  const e = await engineFor(build);
  const n = sizeOfDims(c.x);
  const x = uniform(n, n + c.op.length, -1, 1);
  let reference: Float32Array[] | undefined;
  for (const perm of [identityPerm(c.x.length), ...(c.perms ?? [])]) {
    const b = bind(e, c, perm);
    try {
      b.x.data.set(toPhysical(x, c.x, perm));
      b.forward();
      const ys = b.outputs.map((v, i) => toLogical(b.outT[i]!.data.subarray(0, v.size), v.shape, v.perm));
      if (!reference) reference = ys;
      else {
        ys.forEach((y, i) => {
          const label = `${c.op} output ${i} with x in perm [${perm}]`;
          // interpolation sums in another order (and fused in the relaxed build) round differently
          if (c.interpolates) expectClose(y, reference![i]!, { rtol: 1e-6, atol: 1e-6, label });
          else expect(Array.from(y), label).toEqual(Array.from(reference![i]!));
        });
      }
      // L = sum_i <w_i, y_i>; dL/dy_i = w_i; dx starts at d0 and must end at d0 + dL/dx
      const w = b.outputs.map((v, i) => uniform(v.size, 17 + i));
      w.forEach((wi, i) => b.dyT[i]!.data.set(wi));
      const d0 = uniform(n, 23);
      b.dxT.data.set(d0);
      b.backward();
      const analytic = Array.from(b.dxT.data.subarray(0, n), (v, i) => v - d0[i]!);
      const loss = () => {
        b.forward();
        return b.outputs.reduce((s, v, i) => s + dot(b.outT[i]!.data.subarray(0, v.size), w[i]!), 0);
      };
      expectGradientMatches(b.x, analytic, loss, { samples: 40, label: `${c.op} perm [${perm}]` });
      // accumulation: a second backward adds the same again
      b.backward();
      expectClose(
        Array.from(b.dxT.data.subarray(0, n), (v, i) => v - d0[i]!),
        analytic.map((v) => 2 * v),
        { rtol: 1e-5, atol: 1e-5, label: `${c.op} accumulates` },
      );
    } finally {
      b.dispose();
    }
  }
}

const NHWC: Perm = [0, 2, 3, 1];
const CASES: [string, Case][] = [
  ["Pad constant, negative pads", { op: "Pad", x: [2, 3, 5, 6], known: [i64([8], [0, 1, -1, 2, 0, -1, 2, 1]), f32c([], [0.5])], perms: [NHWC] }],
  ["Pad reflect", { op: "Pad", attrs: [str("mode", "reflect")], x: [1, 2, 4, 5], known: [i64([8], [0, 0, 3, 2, 0, 0, 5, 1])], perms: [NHWC, [3, 1, 0, 2]] }],
  ["Pad edge", { op: "Pad", attrs: [str("mode", "edge")], x: [1, 3, 4, 5], known: [i64([8], [0, 1, 2, 0, 0, 0, 3, 7])], perms: [NHWC] }],
  [
    "Pad wrap with axes",
    { op: "Pad", attrs: [str("mode", "wrap")], opset: 19, x: [2, 3, 4, 5], known: [i64([4], [3, -1, 7, 2]), undefined, i64([2], [-2, 3])], perms: [NHWC] },
  ],
  ["Pad opset 2 attributes", { op: "Pad", opset: 2, attrs: [ints("pads", [0, 1, 2, 1, 0, 0]), flt("value", 2)], x: [2, 3, 4], perms: [[2, 0, 1]] }],
  [
    "Tile",
    {
      op: "Tile",
      x: [2, 3, 4],
      known: [i64([3], [2, 1, 3])],
      perms: [
        [0, 2, 1],
        [2, 1, 0],
      ],
    },
  ],
  ["Expand", { op: "Expand", x: [3, 1, 5], known: [i64([4], [2, 3, 4, 1])], perms: [[2, 0, 1]] }],
  ["Split", { op: "Split", attrs: [int("axis", 1)], opset: 13, x: [2, 6, 3, 5], known: [i64([3], [1, 3, 2])], outputs: 3, perms: [NHWC] }],
  ["Concat (one input)", { op: "Concat", attrs: [int("axis", 1)], x: [2, 3, 4], perms: [[0, 2, 1]] }],
  [
    "Slice negative steps",
    { op: "Slice", x: [4, 7, 9], known: [i64([2], [-1, 8]), i64([2], [0, -100]), i64([2], [1, 2]), i64([2], [-2, -3])], perms: [[2, 0, 1]] },
  ],
  ["DepthToSpace DCR", { op: "DepthToSpace", attrs: [int("blocksize", 2)], x: [2, 12, 3, 5], perms: [NHWC] }],
  ["DepthToSpace CRD", { op: "DepthToSpace", attrs: [int("blocksize", 2), str("mode", "CRD")], x: [1, 8, 4, 3], perms: [NHWC] }],
  ["SpaceToDepth", { op: "SpaceToDepth", attrs: [int("blocksize", 3)], x: [2, 2, 6, 9], perms: [NHWC] }],
  ["Gather", { op: "Gather", attrs: [int("axis", 1)], x: [3, 5, 4], indices: i64([2, 3], [4, -1, 0, 2, 2, -5]) }],
  ["Gather, 1-D indices", { op: "Gather", attrs: [int("axis", 1)], x: [2, 5, 3, 4], indices: i64([4], [4, -1, 0, 4]), perms: [NHWC, [1, 3, 0, 2]] }],
  ["GatherElements", { op: "GatherElements", attrs: [int("axis", 0)], x: [4, 3], indices: i64([5, 3], [0, 3, 1, -1, 2, 2, 3, 3, 0, 1, -4, 2, 0, 0, 1]) }],
  ["Trilu lower", { op: "Trilu", attrs: [int("upper", 0)], x: [2, 4, 6], known: [i64([], [1])] }],
  ["Resize nearest", { op: "Resize", attrs: [str("mode", "nearest")], x: [1, 3, 4, 5], known: [undefined, f32c([4], [1, 1, 2.5, 0.6])], perms: [NHWC] }],
  [
    "Resize linear align_corners",
    {
      interpolates: true,
      op: "Resize",
      attrs: [str("mode", "linear"), str("coordinate_transformation_mode", "align_corners")],
      x: [2, 3, 4, 5],
      known: [undefined, undefined, i64([4], [2, 3, 7, 3])],
      perms: [NHWC],
    },
  ],
  [
    "Resize linear antialias",
    {
      interpolates: true,
      op: "Resize",
      attrs: [str("mode", "linear"), int("antialias", 1)],
      x: [1, 2, 9, 11],
      known: [undefined, f32c([4], [1, 1, 0.4, 0.5])],
      perms: [NHWC],
    },
  ],
  [
    "Resize cubic",
    {
      interpolates: true,
      op: "Resize",
      attrs: [str("mode", "cubic"), int("exclude_outside", 1)],
      x: [1, 2, 5, 6],
      known: [undefined, f32c([4], [1, 1, 1.5, 2])],
      perms: [NHWC],
    },
  ],
  [
    "Resize tf_crop_and_resize",
    {
      interpolates: true,
      op: "Resize",
      attrs: [str("mode", "linear"), str("coordinate_transformation_mode", "tf_crop_and_resize"), flt("extrapolation_value", 3)],
      x: [1, 2, 6, 6],
      known: [f32c([8], [0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3]), undefined, i64([4], [1, 2, 5, 4])],
      perms: [NHWC],
    },
  ],
  [
    "Upsample linear (opset 9)",
    { interpolates: true, op: "Upsample", attrs: [str("mode", "linear")], opset: 9, x: [1, 2, 3, 4], known: [f32c([4], [1, 1, 2, 3])], perms: [NHWC] },
  ],
];

describe.each(BUILDS_UNDER_TEST)("movement ops forward in any layout, backward vs finite differences (%s)", (build) => {
  it.each(CASES)("%s", async (_name, c) => {
    await check(build, c);
  });
});
