// Shape and data-movement ops: views (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout in
// inference, Transpose), shape queries (Shape, Size), constants (Constant, ConstantOfShape) and
// strided copies (Concat, Slice) on assembly/nd.ts's copy_nd.
import { fail, fmtShape } from "../../errors.js";
import { DataType } from "../../onnx/onnx-proto.js";
import { type GraphNode, tensorFromProto } from "../import.js";
import { contiguousStrides, ND_DESC_BYTES, writeNd } from "../nd.js";
import { followInput0, type GradientBuilder, type InferContext, type LayoutChoice, opDef, registerOp, type TensorType } from "../registry.js";
import { elemOf, type HostTensor, hostTensor, identityPerm, intsOf, invertPerm, logicalStrides, sizeOfDims } from "../types.js";
import { copyLoop, normAxis, sameAsInput0 } from "./util.js";

const ident = (c: { outputs: readonly TensorType[]; inputs: readonly unknown[] }, inputs: (number | undefined)[]): LayoutChoice => ({
  inputs: inputs.map((r) => (r === undefined ? "any" : identityPerm(r))),
  outputs: c.outputs.map((t) => identityPerm(t.shape.length)),
});

/** Views that need ONNX element order: input 0 in ONNX order, output in ONNX order. */
const orderedView = (c: { outputs: readonly TensorType[]; inputs: readonly ({ shape: readonly number[] } | undefined)[] }): LayoutChoice =>
  ident(
    c,
    c.inputs.map((v, i) => (i === 0 && v ? v.shape.length : undefined)),
  );

// ---------------------------------------------------------------------------------------------
// views

/** The gradient of a reshaping view: dy viewed back in the input's shape. */
const viewBack = (g: GradientBuilder<unknown>) => {
  if (g.wants(0)) g.add(0, g.op("ViewAs", [g.dy(0)!], { shape: g.x(0)!.shape })[0]!);
};

// dy under another shape (ONNX element order): the gradient of Reshape, Flatten, Squeeze, Unsqueeze
registerOp<{ shape: readonly number[] }>({
  type: "ViewAs",
  internal: true,
  view: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [{ dataType: c.need(0, "dy").dataType, shape: c.attrs.shape }],
  layout: orderedView,
  algorithms: [],
});

/** ONNX Reshape's target: 0 copies the input dimension (unless allowzero), -1 is inferred. */
function reshapeTarget(c: InferContext<unknown>, from: readonly number[], spec: readonly number[], allowZero: boolean): number[] {
  const out = spec.map((d, i) =>
    d === 0 && !allowZero ? (from[i] ?? c.fail(`shape [${spec.join(",")}] copies dimension ${i}, which ${fmtShape(from)} lacks`)) : d,
  );
  const unknown = out.filter((d) => d === -1).length;
  if (unknown > 1 || out.some((d) => d < -1)) c.fail(`invalid shape [${spec.join(",")}]`);
  const total = sizeOfDims(from);
  if (unknown === 1) {
    const known = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    if (known === 0 || total % known !== 0) c.fail(`cannot reshape ${fmtShape(from)} to [${spec.join(",")}]`);
    out[out.indexOf(-1)] = total / known;
  }
  if (sizeOfDims(out) !== total) c.fail(`cannot reshape ${fmtShape(from)} (${total} elements) to [${spec.join(",")}]`);
  return out;
}

registerOp<{ shape?: number[]; allowZero: boolean }>({
  type: "Reshape",
  view: true,
  gradient: viewBack,
  parse: (at, opset) => ({ shape: opset < 5 ? at.ints("shape") : undefined, allowZero: at.int("allowzero", 0) === 1 }),
  valueInputs: [1],
  infer(c) {
    const x = c.need(0, "data");
    const spec = c.attrs.shape ?? intsOf(c.value(1) ?? c.fail("input 1 (shape) is required"));
    return [{ dataType: x.dataType, shape: reshapeTarget(c, x.shape, spec, c.attrs.allowZero) }];
  },
  layout: orderedView,
  algorithms: [],
});

registerOp<{ axis: number }>({
  type: "Flatten",
  view: true,
  gradient: viewBack,
  parse: (at) => ({ axis: at.int("axis", 1) }),
  infer(c) {
    const x = c.need(0, "input");
    const ax = c.attrs.axis === x.shape.length ? x.shape.length : normAxis(c, c.attrs.axis, x.shape.length);
    return [{ dataType: x.dataType, shape: [sizeOfDims(x.shape.slice(0, ax)), sizeOfDims(x.shape.slice(ax))] }];
  },
  layout: orderedView,
  algorithms: [],
});

function axesList(c: InferContext<{ axes?: number[] }>): number[] | undefined {
  if (c.attrs.axes) return c.attrs.axes;
  const v = c.value(1);
  return v ? intsOf(v) : undefined;
}

registerOp<{ axes?: number[] }>({
  type: "Squeeze",
  view: true,
  gradient: viewBack,
  parse: (at, opset) => ({ axes: opset < 13 ? at.ints("axes") : undefined }),
  valueInputs: [1],
  infer(c) {
    const x = c.need(0, "data");
    const r = x.shape.length;
    const list = axesList(c);
    const ax = (list ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => normAxis(c, a, r));
    for (const a of ax) if (x.shape[a] !== 1) c.fail(`cannot squeeze axis ${a} of ${fmtShape(x.shape)}: its size is not 1`);
    return [{ dataType: x.dataType, shape: x.shape.filter((_, i) => !ax.includes(i)) }];
  },
  layout: orderedView,
  algorithms: [],
});

registerOp<{ axes?: number[] }>({
  type: "Unsqueeze",
  view: true,
  gradient: viewBack,
  parse: (at, opset) => ({ axes: opset < 13 ? at.ints("axes") : undefined }),
  valueInputs: [1],
  infer(c) {
    const x = c.need(0, "data");
    const given = axesList(c) ?? c.fail("axes is required");
    const r = x.shape.length + given.length;
    const ax = given.map((a) => normAxis(c, a, r));
    if (new Set(ax).size !== ax.length) c.fail(`axes [${given.join(",")}] repeat an axis`);
    const dims: number[] = [];
    let k = 0;
    for (let i = 0; i < r; i++) dims.push(ax.includes(i) ? 1 : x.shape[k++]!);
    return [{ dataType: x.dataType, shape: dims }];
  },
  layout: orderedView,
  algorithms: [],
});

registerOp<void>({
  type: "Identity",
  view: true,
  gradient: (g) => g.wants(0) && g.add(0, g.dy(0)!),
  parse: () => undefined,
  infer: sameAsInput0,
  layout: followInput0,
  algorithms: [],
});

// Dropout in inference: output 0 is input 0 (an Identity, a view); the optional mask output, when
// something reads it, is a constant of all true in data's shape (nothing is dropped); before
// opset 12 it is all 0 (false), as onnxruntime gives it, and before 10 of data's element type
registerOp<{ data: string; boolMask: boolean; ones: boolean }>({
  type: "Dropout",
  // ratio and training_mode (opset 12+): known while planning (a session plans per value of a small input)
  optionalValueInputs: [1, 2],
  parse: (at, opset) => ({ data: at.node.input[0] ?? "", boolMask: opset >= 10, ones: opset >= 12 }),
  infer: (c) => c.fail("internal: Dropout is inlined, not inferred"),
  inline(c) {
    const x = c.need(0, "data");
    if (c.input(2)) {
      const training = c.value(2);
      if (!training) return c.fail("training_mode must be known when planning (a constant or a small graph input)");
      if (training.data.length !== 1) c.fail(`training_mode must hold one value, got ${training.data.length}`);
      const ratio = c.input(1) ? c.value(1) : undefined;
      if (c.input(1) && (!ratio || ratio.data.length !== 1)) c.fail("ratio must be one value known when planning");
      // training mode drops at random, which the runtime does not do; with ratio 0 nothing is dropped
      if (training.data[0] && (ratio ? Number(ratio.data[0]) : 0.5) !== 0) {
        c.fail("training_mode true (random dropping) is not supported: give training_mode false, or ratio 0");
      }
    }
    const y = `${c.where}: output`,
      mask = `${c.where}: mask`;
    const node: GraphNode = {
      index: -1,
      name: y,
      opType: "Identity",
      def: opDef("Identity")!,
      attrs: undefined,
      inputs: [c.attrs.data],
      outputs: [y],
      implicitInputs: [],
      where: c.where,
    };
    const initializers = new Map<string, HostTensor>();
    const maskType = c.attrs.boolMask ? DataType.BOOL : x.dataType;
    if (c.wants(1)) initializers.set(mask, hostTensor(maskType, x.shape, new Int32Array(sizeOfDims(x.shape)).fill(c.attrs.ones ? 1 : 0)));
    return {
      nodes: [node],
      initializers,
      outputs: [{ name: y, dataType: x.dataType }, ...(c.wants(1) ? [{ name: mask, dataType: maskType }] : [])],
      outerReads: [c.attrs.data],
    };
  },
  algorithms: [],
});

registerOp<{ perm?: number[] }>({
  type: "Transpose",
  view: true,
  gradient(g) {
    if (!g.wants(0)) return;
    const r = g.x(0)!.shape.length;
    const p = g.attrs.perm ?? Array.from({ length: r }, (_, i) => r - 1 - i);
    g.add(0, g.op("Transpose", [g.dy(0)!], { perm: invertPerm(p) })[0]!);
  },
  parse: (at) => ({ perm: at.ints("perm") }),
  infer(c) {
    const x = c.need(0, "data");
    const r = x.shape.length;
    const p = c.attrs.perm ?? Array.from({ length: r }, (_, i) => r - 1 - i);
    if (p.length !== r || [...p].sort((a, b) => a - b).some((v, i) => v !== i)) c.fail(`perm [${p.join(",")}] is not a permutation of 0..${r - 1}`);
    return [{ dataType: x.dataType, shape: p.map((i) => x.shape[i]!) }];
  },
  // the output is the input's bytes: output logical axis i is input axis p[i], so the output's
  // perm maps each physical axis j to p^-1[input perm[j]]
  layout(c) {
    const x = c.inputs[0]!;
    const r = x.shape.length;
    const p = c.attrs.perm ?? Array.from({ length: r }, (_, i) => r - 1 - i);
    const inv = invertPerm(p);
    return { inputs: ["any"], outputs: [x.perm.map((a) => inv[a]!)] };
  },
  algorithms: [],
});

// ---------------------------------------------------------------------------------------------
// shape queries and constants

registerOp<{ start: number; end?: number }>({
  type: "Shape",
  parse: (at) => ({ start: at.int("start", 0), end: at.has("end") ? at.int("end", 0) : undefined }),
  infer(c) {
    return [{ dataType: DataType.INT64, shape: [shapeSlice(c).length] }];
  },
  fromTypes: (c) => {
    const dims = shapeSlice(c);
    return [hostTensor(DataType.INT64, [dims.length], dims)];
  },
  algorithms: [],
});

function shapeSlice(c: InferContext<{ start: number; end?: number }>): number[] {
  const x = c.need(0, "data").shape,
    r = x.length;
  const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + r : i, 0), r);
  return x.slice(clamp(c.attrs.start), c.attrs.end === undefined ? r : clamp(c.attrs.end));
}

registerOp<void>({
  type: "Size",
  parse: () => undefined,
  infer: () => [{ dataType: DataType.INT64, shape: [] }],
  fromTypes: (c) => [hostTensor(DataType.INT64, [], [sizeOfDims(c.need(0, "data").shape)])],
  algorithms: [],
});

registerOp<HostTensor>({
  type: "Constant",
  parse(at) {
    const t = at.tensor("value");
    if (t) return tensorFromProto(t, at.where);
    if (at.has("value_float")) return hostTensor(DataType.FLOAT, [], [at.float("value_float", 0)]);
    if (at.has("value_floats")) {
      const f = at.floats("value_floats")!;
      return hostTensor(DataType.FLOAT, [f.length], f);
    }
    if (at.has("value_int")) return hostTensor(DataType.INT64, [], [at.int("value_int", 0)]);
    if (at.has("value_ints")) {
      const f = at.ints("value_ints")!;
      return hostTensor(DataType.INT64, [f.length], f);
    }
    return fail(at.where, "needs a value, value_float(s) or value_int(s) attribute (sparse and string values are not supported)");
  },
  infer: (c) => [{ dataType: c.attrs.dataType, shape: c.attrs.dims }],
  fromTypes: (c) => [c.attrs],
  algorithms: [],
});

registerOp<{ value: number; dataType: number }>({
  type: "ConstantOfShape",
  parse(at) {
    const t = at.tensor("value");
    if (t && t.data.length !== 1) fail(at.where, "value must hold exactly one element");
    return { value: t ? t.data[0]! : 0, dataType: t ? t.dataType : DataType.FLOAT };
  },
  valueInputs: [0],
  infer(c) {
    const dims = intsOf(c.value(0) ?? c.fail("input 0 (shape) is required"));
    if (dims.some((d) => d < 0)) c.fail(`negative dimension in [${dims.join(",")}]`);
    elemOf(c.attrs.dataType, c.where);
    return [{ dataType: c.attrs.dataType, shape: dims }];
  },
  algorithms: [
    {
      name: "constantOfShape.fill",
      setup(n) {
        const y = n.outputs[0]!,
          k = n.kernels,
          p = n.output(0),
          size = y.size;
        if (y.elem === "f32") {
          const v = n.attrs.value;
          return () => k.fill_f32(p, v, size);
        }
        const bits = Math.trunc(n.attrs.value) | 0;
        return () => k.fill_f32_bits(p, bits, size);
      },
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// strided copies

registerOp<{ axis: number }>({
  type: "Concat",
  parse: (at) => ({ axis: at.int("axis", at.has("axis") ? 0 : 1) }),
  infer(c) {
    const first = c.need(0, "inputs[0]");
    const r = first.shape.length;
    const ax = normAxis(c, c.attrs.axis, r);
    let total = 0;
    for (let i = 0; i < c.inputCount; i++) {
      const t = c.need(i, `inputs[${i}]`);
      if (t.shape.length !== r || t.shape.some((d, k) => k !== ax && d !== first.shape[k])) {
        c.fail(`inputs must agree on every axis but ${ax}: ${fmtShape(first.shape)} and ${fmtShape(t.shape)}`);
      }
      if (t.dataType !== first.dataType) c.fail("inputs must have one element type");
      total += t.shape[ax]!;
    }
    const shape = [...first.shape];
    shape[ax] = total;
    return [{ dataType: first.dataType, shape }];
  },
  // every input in the perm of the first run-time input (constants are laid out to match)
  layout(c) {
    const lead = c.inputs.find((v) => v && !v.isConstant) ?? c.inputs[0]!;
    return { inputs: c.inputs.map(() => lead.perm), outputs: [lead.perm] };
  },
  gradient(g) {
    const y = g.y(0),
      ax = normAxis({ fail: (m) => fail(g.where, m) }, g.attrs.axis, y.shape.length);
    let at = 0;
    for (let i = 0; g.x(i); i++) {
      const x = g.x(i)!;
      if (g.wants(i)) g.add(i, g.op("SliceAxis", [g.dy(0)!], { axis: ax, start: at, shape: x.shape })[0]!);
      at += x.shape[ax]!;
    }
  },
  algorithms: [
    {
      name: "concat.copy",
      paramBytes: (n) => n.inputs.length * ND_DESC_BYTES,
      setup(n) {
        const y = n.outputs[0]!;
        const ax = normAxis({ fail: (m) => fail(n.where, m) }, n.attrs.axis, y.shape.length);
        const ys = contiguousStrides(y.dims);
        const pa = y.perm.indexOf(ax); // the physical axis
        const calls: [number, number, number][] = [];
        let at = 0;
        n.inputs.forEach((x, i) => {
          const desc = n.params + i * ND_DESC_BYTES;
          copyLoop(n, desc, y, x!.dims, ys, x!);
          calls.push([n.output(0) + 4 * at * ys[pa]!, n.input(i), desc]);
          at += x!.shape[ax]!;
        });
        const k = n.kernels;
        return () => {
          for (const [yp, xp, d] of calls) k.copy_nd(yp, xp, d);
        };
      },
    },
  ],
});

// dy's elements [start, start + shape[axis]) along `axis`: the gradient of one Concat input
registerOp<{ axis: number; start: number; shape: readonly number[] }>({
  type: "SliceAxis",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [{ dataType: c.need(0, "dy").dataType, shape: c.attrs.shape }],
  layout: followInput0,
  algorithms: [
    {
      name: "sliceAxis.copy",
      paramBytes: () => ND_DESC_BYTES,
      setup(n) {
        const x = n.inputs[0]!,
          y = n.outputs[0]!;
        const xs = logicalStrides(x.shape, x.perm);
        copyLoop(n, n.params, y, y.dims, contiguousStrides(y.dims), x);
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0) + 4 * n.attrs.start * xs[n.attrs.axis]!,
          desc = n.params;
        return () => k.copy_nd(yp, xp, desc);
      },
    },
  ],
});

interface SliceAttrs {
  starts?: number[];
  ends?: number[];
  axes?: number[];
}

/** Per logical axis: first index, step and count of a Slice. */
function sliceBounds(
  c: Pick<InferContext<SliceAttrs>, "attrs" | "value" | "fail">,
  shape: readonly number[],
): { begin: number[]; step: number[]; dims: number[] } {
  const a = c.attrs;
  const starts = a.starts ?? intsOf(c.value(1) ?? c.fail("input 1 (starts) is required"));
  const ends = a.ends ?? intsOf(c.value(2) ?? c.fail("input 2 (ends) is required"));
  const axes = (a.starts ? a.axes : c.value(3) && intsOf(c.value(3)!)) ?? starts.map((_, i) => i);
  const steps = !a.starts && c.value(4) ? intsOf(c.value(4)!) : starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    c.fail(`starts, ends, axes and steps must have equal lengths, got ${starts.length}, ${ends.length}, ${axes.length}, ${steps.length}`);
  }
  const r = shape.length;
  const begin = new Array<number>(r).fill(0),
    step = new Array<number>(r).fill(1),
    dims = [...shape];
  const seen = new Set<number>();
  axes.forEach((ax0, i) => {
    const ax = normAxis(c, ax0, r),
      len = shape[ax]!,
      s = steps[i]!;
    if (seen.has(ax)) c.fail(`axis ${ax} is sliced twice`);
    seen.add(ax);
    if (s === 0) c.fail("a slice step cannot be 0");
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    let st = starts[i]!,
      en = ends[i]!;
    st = st < 0 ? st + len : st;
    en = en < 0 ? en + len : en;
    st = s > 0 ? clamp(st, 0, len) : clamp(st, -1, len - 1);
    en = s > 0 ? clamp(en, 0, len) : clamp(en, -1, len - 1);
    begin[ax] = st;
    step[ax] = s;
    dims[ax] = Math.max(0, Math.ceil((en - st) / s));
  });
  return { begin, step, dims };
}

registerOp<SliceAttrs>({
  type: "Slice",
  parse: (at, opset) =>
    opset < 10
      ? {
          starts: at.ints("starts") ?? fail(at.where, "starts is required"),
          ends: at.ints("ends") ?? fail(at.where, "ends is required"),
          axes: at.ints("axes"),
        }
      : {},
  valueInputs: [1, 2, 3, 4],
  infer(c) {
    const x = c.need(0, "data");
    return [{ dataType: x.dataType, shape: sliceBounds(c, x.shape).dims }];
  },
  layout: followInput0,
  gradient(g) {
    if (!g.wants(0)) return;
    const x = g.x(0)!;
    const known = (i: number) => g.x(i)?.known;
    const { begin, step } = sliceBounds({ attrs: g.attrs, value: known, fail: (m) => fail(g.where, m) }, x.shape);
    g.add(0, g.op("SliceGrad", [g.dy(0)!], { shape: x.shape, begin, step })[0]!);
  },
  algorithms: [
    {
      name: "slice.copy",
      paramBytes: () => ND_DESC_BYTES,
      setup(n) {
        const x = n.inputs[0]!,
          y = n.outputs[0]!;
        const { begin, step } = sliceBounds({ attrs: n.attrs, value: (i) => n.inputs[i]?.known, fail: (m) => fail(n.where, m) }, x.shape);
        if (y.size === 0) return () => {};
        // first element read: begin along every logical axis, in x's memory
        const xs = logicalStrides(x.shape, x.perm);
        const offset = begin.reduce((acc, b, a) => acc + b * xs[a]!, 0);
        copyLoop(n, n.params, y, y.dims, contiguousStrides(y.dims), x, step);
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0) + 4 * offset,
          desc = n.params;
        return () => k.copy_nd(yp, xp, desc);
      },
    },
  ],
});

// The gradient of Slice: dy scattered into zeros of the input's shape at the sliced positions.
registerOp<{ shape: readonly number[]; begin: readonly number[]; step: readonly number[] }>({
  type: "SliceGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [{ dataType: c.need(0, "dy").dataType, shape: c.attrs.shape }],
  layout: (c) => ({ inputs: ["any"], outputs: [c.inputs[0]!.perm.length === c.attrs.shape.length ? c.inputs[0]!.perm : identityPerm(c.attrs.shape.length)] }),
  algorithms: [
    {
      name: "sliceGrad.scatter",
      paramBytes: () => ND_DESC_BYTES,
      setup(n) {
        const dy = n.inputs[0]!,
          dx = n.outputs[0]!;
        const xs = logicalStrides(dx.shape, dx.perm),
          ds = logicalStrides(dy.shape, dy.perm);
        const offset = n.attrs.begin.reduce((acc, b, a) => acc + b * xs[a]!, 0);
        // loop over dy in its physical order: dx strides scaled by the steps, dy's own strides
        writeNd(
          n.engine.heap.i32,
          n.params,
          { dims: [...dy.dims], strides: [dy.perm.map((a) => xs[a]! * n.attrs.step[a]!), dy.perm.map((a) => ds[a]!)] },
          n.where,
        );
        const k = n.kernels,
          base = n.output(0),
          out = base + 4 * offset,
          src = n.input(0),
          desc = n.params,
          size = dx.size;
        return () => {
          k.fill_f32(base, 0, size);
          if (dy.size > 0) k.accumulate_nd(out, src, desc);
        };
      },
    },
  ],
});
