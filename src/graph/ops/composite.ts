// Ops planned as the registered ops they stand for (inlined while planning, no kernels of their
// own), or computed while planning from shapes and known values:
//   Swish(x)               = x * Sigmoid(alpha x)
//   Shrink(x)              = Where(x < -lambd, x + bias, Where(x > lambd, x - bias, 0))
//   ReduceLogSum(x)        = Log(ReduceSum(x))
//   RMSNormalization(x, s) = x / Sqrt(ReduceMean(x * x) + epsilon) * s
//   EyeLike(x)             a constant of x's shape (ones on diagonal k)
//   NonZero(x), Unique(x)  computed on the host once x is known: while planning, or after the
//                          nodes before them ran (a staged plan, plan.ts StagedPlan)
//   Compress(x, cond)      Gather of the kept positions (cond known while planning: a session
//                          plans per value of a small condition input); no axis: of Reshape(x, [-1])
//   ReverseSequence(x, lens)
//                          GatherElements along time_axis with constant indices (lens known while planning)
//   CenterCropPad(x, shape) a centred Slice and / or zero Pad (shape known while planning)
//   AffineGrid(theta, size) MatMul of the constant homogeneous base grid with theta^T
//   HannWindow, HammingWindow, BlackmanWindow(size), MelWeightMatrix(...)
//                          constants (their inputs known while planning)
//   DFT(x), STFT(signal, step, window, length)
//                          a MatMul with the constant DFT matrix (O(n^2): fine for the frame sizes
//                          of audio front ends, not for long signals); STFT gathers the frames first
import { fail, fmtShape } from "../../errors.js";
import type { Attributes } from "../../onnx/attributes.js";
import { DataType, dataTypeName } from "../../onnx/onnx-proto.js";
import type { Subgraph } from "../import.js";
import { type InferContext, registerOp } from "../registry.js";
import { elemOf, type HostTensor, hostTensor, sizeOfDims } from "../types.js";
import { typedInput } from "./elementwise.js";
import { intAttr, intsAttr, type SubgraphBuilder, subgraphBuilder } from "./inline.js";
import { normAxis } from "./util.js";

/** The subgraph of builder `b` whose output is `y` (through an Identity: a node's own output). */
function finish(b: SubgraphBuilder, y: string, dataType: number, reads: readonly string[]): Subgraph {
  const out = b.node("Identity", [y], []);
  return { nodes: b.nodes, initializers: b.initializers, outputs: [{ name: out, dataType }], outerReads: reads.filter((r) => r !== "") };
}

/**
 * The most elements a constant these ops build on the host while planning may have (2^25: 128 MiB
 * as float32; a one-sided DFT of 4096 points needs 16.8 M). Checked before anything is allocated.
 */
export const MAX_PLANNED_CONSTANT = 2 ** 25;

export function guardElements(c: { fail(m: string): never }, n: number, what: string): void {
  if (!(n <= MAX_PLANNED_CONSTANT)) c.fail(`${what} would hold ${n} elements, more than the ${MAX_PLANNED_CONSTANT} a constant made while planning may have`);
}

/** The one integer of a known scalar input (or a failure naming it). */
function knownInt(c: InferContext<unknown>, i: number, name: string): number {
  return Math.trunc(knownFloat(c, i, name));
}

function knownFloat(c: InferContext<unknown>, i: number, name: string): number {
  const v = c.value(i);
  if (!v) return c.fail(`${name} must be known when planning (a constant or a small graph input)`);
  if (v.data.length !== 1) c.fail(`${name} must hold one value, got ${v.data.length}`);
  return v.data[0]!;
}

/** An output element type attribute (output_datatype, dtype): a float or integer type the runtime holds. */
function outputType(at: Attributes, name: string, fallback: number): number {
  const t = at.int(name, fallback);
  try {
    elemOf(t);
  } catch {
    fail(at.where, `${name} ${dataTypeName(t)} is not supported`);
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// element-wise compositions

registerOp<{ alpha: number; x: string }>({
  type: "Swish",
  parse: (at) => ({ alpha: at.float("alpha", 1), x: at.node.input[0] ?? "" }),
  infer: (c) => c.fail("internal: Swish is inlined, not inferred"),
  inline(c) {
    const x = typedInput(c, 0, "X", "float");
    const b = subgraphBuilder(c.where, c.opset, "swish");
    const scaled = c.attrs.alpha === 1 ? c.attrs.x : b.node("Mul", [c.attrs.x, b.constant(x.dataType, [], [c.attrs.alpha])], []);
    return finish(b, b.node("Mul", [c.attrs.x, b.node("Sigmoid", [scaled], [])], []), x.dataType, [c.attrs.x]);
  },
  algorithms: [],
});

registerOp<{ lambd: number; bias: number; x: string }>({
  type: "Shrink",
  parse: (at) => ({ lambd: at.float("lambd", 0.5), bias: at.float("bias", 0), x: at.node.input[0] ?? "" }),
  infer: (c) => c.fail("internal: Shrink is inlined, not inferred"),
  inline(c) {
    const x = typedInput(c, 0, "input", "numeric");
    const b = subgraphBuilder(c.where, c.opset, "shrink");
    const k = (v: number) => b.constant(x.dataType, [], [v]);
    const { lambd, bias } = c.attrs;
    const above = b.node("Where", [b.node("Greater", [c.attrs.x, k(lambd)], []), b.node("Sub", [c.attrs.x, k(bias)], []), k(0)], []);
    const y = b.node("Where", [b.node("Less", [c.attrs.x, k(-lambd)], []), b.node("Add", [c.attrs.x, k(bias)], []), above], []);
    return finish(b, y, x.dataType, [c.attrs.x]);
  },
  algorithms: [],
});

// ---------------------------------------------------------------------------------------------
// ReduceLogSum = Log(ReduceSum): axes as attribute before opset 18, as input 1 from 18 (ReduceSum
// takes them as an input from opset 13)

interface ReduceLogSumAttrs {
  axes?: number[];
  keepdims: number;
  noop: number;
  x: string;
  axesName: string;
}

registerOp<ReduceLogSumAttrs>({
  type: "ReduceLogSum",
  valueInputs: [1],
  parse: (at, opset) => ({
    axes: opset < 18 ? at.ints("axes") : undefined,
    keepdims: at.int("keepdims", 1),
    noop: at.int("noop_with_empty_axes", 0),
    x: at.node.input[0] ?? "",
    axesName: opset >= 18 ? (at.node.input[1] ?? "") : "",
  }),
  infer: (c) => c.fail("internal: ReduceLogSum is inlined, not inferred"),
  inline(c) {
    const x = typedInput(c, 0, "data", "float");
    const a = c.attrs;
    const b = subgraphBuilder(c.where, c.opset, "reduceLogSum");
    const attrs = [intAttr("keepdims", a.keepdims), ...(c.opset >= 13 ? [intAttr("noop_with_empty_axes", a.noop)] : [])];
    let sum: string;
    if (c.opset < 13) sum = b.node("ReduceSum", [a.x], [...attrs, ...(a.axes ? [intsAttr("axes", a.axes)] : [])]);
    else if (c.opset < 18) sum = b.node("ReduceSum", a.axes?.length ? [a.x, b.ints(a.axes)] : [a.x], attrs);
    else sum = b.node("ReduceSum", a.axesName ? [a.x, a.axesName] : [a.x], attrs);
    return finish(b, b.node("Log", [sum], []), x.dataType, [a.x, a.axesName]);
  },
  algorithms: [],
});

// RMSNormalization (opset 23) = X / Sqrt(ReduceMean(X * X over axes axis..r-1) + epsilon) * scale,
// computed in X's float type (stash_type's float32 is what every float type computes in here)

registerOp<{ axis: number; epsilon: number; inputs: readonly string[] }>({
  type: "RMSNormalization",
  parse: (at) => ({ axis: at.int("axis", -1), epsilon: at.float("epsilon", 1e-5), inputs: at.node.input }),
  infer: (c) => c.fail("internal: RMSNormalization is inlined, not inferred"),
  inline(c) {
    const x = typedInput(c, 0, "X", "float"),
      scale = typedInput(c, 1, "scale", "float");
    if (scale.dataType !== x.dataType) c.fail(`scale (${dataTypeName(scale.dataType)}) must have X's element type (${dataTypeName(x.dataType)})`);
    const r = x.shape.length;
    const axis = normAxis(c, c.attrs.axis, r);
    const [xName, scaleName] = c.attrs.inputs as [string, string];
    const b = subgraphBuilder(c.where, c.opset, "rmsNorm");
    const axes = Array.from({ length: r - axis }, (_, i) => axis + i);
    const mean = b.node("ReduceMean", [b.node("Mul", [xName, xName], []), b.ints(axes)], [intAttr("keepdims", 1)]);
    const rms = b.node("Sqrt", [b.node("Add", [mean, b.constant(x.dataType, [], [c.attrs.epsilon])], [])], []);
    const y = b.node("Mul", [b.node("Div", [xName, rms], []), scaleName], []);
    return finish(b, y, x.dataType, [xName, scaleName]);
  },
  algorithms: [],
});

// ---------------------------------------------------------------------------------------------
// constants from shapes and known values

registerOp<{ dtype?: number; k: number }>({
  type: "EyeLike",
  parse: (at) => ({ dtype: at.has("dtype") ? outputType(at, "dtype", DataType.FLOAT) : undefined, k: at.int("k", 0) }),
  infer(c) {
    const x = c.need(0, "input");
    if (x.shape.length !== 2) c.fail(`input must be 2-D, got ${fmtShape(x.shape)}`);
    guardElements(c, sizeOfDims(x.shape), "the output");
    return [{ dataType: c.attrs.dtype ?? x.dataType, shape: x.shape }];
  },
  fromTypes(c) {
    const x = c.need(0, "input");
    if (x.shape.length !== 2) c.fail(`input must be 2-D, got ${fmtShape(x.shape)}`);
    guardElements(c, sizeOfDims(x.shape), "the output");
    const [rows, cols] = x.shape as [number, number];
    const v = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      const j = i + c.attrs.k;
      if (j >= 0 && j < cols) v[i * cols + j] = 1;
    }
    return [hostTensor(c.attrs.dtype ?? x.dataType, x.shape, v)];
  },
  algorithms: [],
});

// NonZero's output shape is its input's data: it is computed on the host from an input known while
// planning (a constant, a value computed from shapes, a small graph input planned per value) or,
// on run-time data, after the nodes before it ran (a staged plan reads the input back)
registerOp<undefined>({
  type: "NonZero",
  valueInputs: [0],
  parse: () => undefined,
  infer(c) {
    const x = c.value(0) ?? c.fail("X must be known when planning");
    let count = 0;
    for (const v of x.data) if (v !== 0) count++;
    guardElements(c, Math.max(x.dims.length, 1) * count, "the output");
    return [{ dataType: DataType.INT64, shape: [Math.max(x.dims.length, 1), count] }];
  },
  fromTypes(c) {
    const x = c.value(0) ?? c.fail("X must be known when planning");
    const dims = x.dims.length ? x.dims : [1];
    const strides = dims.map((_, a) => sizeOfDims(dims.slice(a + 1)));
    const at: number[] = [];
    x.data.forEach((v, e) => v !== 0 && at.push(e));
    guardElements(c, dims.length * at.length, "the output");
    const out = new Float64Array(dims.length * at.length);
    dims.forEach((d, a) => at.forEach((e, j) => (out[a * at.length + j] = Math.floor(e / strides[a]!) % d)));
    return [hostTensor(DataType.INT64, [dims.length, at.length], out)];
  },
  algorithms: [],
});

// Unique: its output shapes are its input's data, so (as NonZero) it is computed on the host from
// an input known while planning, or after the nodes before it ran (a staged plan). Without axis
// the elements of the flattened input, with one the slices along it; sorted (default): ascending
// (slices compared element by element), else in order of first occurrence. Outputs: Y, the index
// of each entry's first occurrence, each input element's (or slice's) entry, and the counts.
function unique(c: InferContext<{ axis?: number; sorted: number }>): HostTensor[] {
  const x = c.value(0) ?? c.fail("X must be known when planning");
  const dims = x.dims;
  const axis = c.attrs.axis === undefined ? undefined : normAxis(c, c.attrs.axis, dims.length);
  const n = axis === undefined ? x.data.length : dims[axis]!;
  const outer = axis === undefined ? 1 : sizeOfDims(dims.slice(0, axis)),
    inner = axis === undefined ? 1 : sizeOfDims(dims.slice(axis + 1));
  const slice = (j: number) => {
    const v: number[] = [];
    for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) v.push(x.data[(o * n + j) * inner + i]!);
    return v;
  };
  const slices: number[][] = [],
    first: number[] = [],
    counts: number[] = [],
    inverse = new Array<number>(n);
  const entry = new Map<string, number>();
  for (let j = 0; j < n; j++) {
    const v = slice(j),
      key = v.join(",");
    let k = entry.get(key);
    if (k === undefined) {
      k = slices.length;
      entry.set(key, k);
      slices.push(v);
      first.push(j);
      counts.push(0);
    }
    counts[k]!++;
    inverse[j] = k;
  }
  const order = slices.map((_, k) => k);
  if (c.attrs.sorted !== 0)
    order.sort((a, b) => {
      const u = slices[a]!,
        w = slices[b]!;
      for (let i = 0; i < u.length; i++) if (u[i] !== w[i]) return u[i]! < w[i]! ? -1 : 1;
      return 0;
    });
  const rank = new Array<number>(order.length);
  order.forEach((k, r) => (rank[k] = r));
  const K = order.length;
  guardElements(c, K * outer * inner, "Y");
  const y = new Float64Array(K * outer * inner);
  order.forEach((k, r) => {
    const v = slices[k]!;
    for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) y[(o * K + r) * inner + i] = v[o * inner + i]!;
  });
  const yDims = axis === undefined ? [K] : dims.map((d, a) => (a === axis ? K : d));
  return [
    hostTensor(x.dataType, yDims, y),
    hostTensor(
      DataType.INT64,
      [K],
      order.map((k) => first[k]!),
    ),
    hostTensor(
      DataType.INT64,
      [n],
      inverse.map((k) => rank[k]!),
    ),
    hostTensor(
      DataType.INT64,
      [K],
      order.map((k) => counts[k]!),
    ),
  ];
}

registerOp<{ axis?: number; sorted: number }>({
  type: "Unique",
  valueInputs: [0],
  parse: (at) => ({ axis: at.has("axis") ? at.int("axis", 0) : undefined, sorted: at.int("sorted", 1) }),
  infer: (c) => unique(c).map((t) => ({ dataType: t.dataType, shape: t.dims })),
  fromTypes: (c) => unique(c),
  algorithms: [],
});

type WindowKind = "HannWindow" | "HammingWindow" | "BlackmanWindow";
/** w[n] for the window of `kind`, N = size (periodic) or size - 1 (symmetric). */
const WINDOWS: Record<WindowKind, (n: number, N: number) => number> = {
  HannWindow: (n, N) => Math.sin((Math.PI * n) / N) ** 2,
  HammingWindow: (n, N) => 25 / 46 - (21 / 46) * Math.cos((2 * Math.PI * n) / N),
  BlackmanWindow: (n, N) => 0.42 - 0.5 * Math.cos((2 * Math.PI * n) / N) + 0.08 * Math.cos((4 * Math.PI * n) / N),
};

function windowSize(c: InferContext<unknown>): number {
  const size = knownInt(c, 0, "size");
  if (size < 0) c.fail(`size must be >= 0, got ${size}`);
  guardElements(c, size, "the window");
  return size;
}

for (const kind of Object.keys(WINDOWS) as WindowKind[]) {
  registerOp<{ dataType: number; periodic: boolean }>({
    type: kind,
    valueInputs: [0],
    parse: (at) => ({ dataType: outputType(at, "output_datatype", DataType.FLOAT), periodic: at.int("periodic", 1) !== 0 }),
    infer: (c) => [{ dataType: c.attrs.dataType, shape: [windowSize(c)] }],
    fromTypes(c) {
      const size = windowSize(c);
      const N = c.attrs.periodic ? size : size - 1;
      return [
        hostTensor(
          c.attrs.dataType,
          [size],
          Float64Array.from({ length: size }, (_, n) => WINDOWS[kind](n, N)),
        ),
      ];
    },
    algorithms: [],
  });
}

/** [dft_length / 2 + 1, num_mel_bins], checked. */
function melShape(c: InferContext<unknown>): [number, number] {
  const bins = knownInt(c, 0, "num_mel_bins"),
    length = knownInt(c, 1, "dft_length");
  if (!(bins >= 1 && length >= 1)) c.fail(`num_mel_bins (${bins}) and dft_length (${length}) must be >= 1`);
  guardElements(c, (Math.floor(length / 2) + 1) * bins, "the matrix");
  return [Math.floor(length / 2) + 1, bins];
}

registerOp<{ dataType: number }>({
  type: "MelWeightMatrix",
  valueInputs: [0, 1, 2, 3, 4],
  parse: (at) => ({ dataType: outputType(at, "output_datatype", DataType.FLOAT) }),
  infer: (c) => [{ dataType: c.attrs.dataType, shape: melShape(c) }],
  fromTypes(c) {
    // as ONNX's reference: triangles between mel-spaced points, rounded down to DFT bins
    const [, bins] = melShape(c);
    const length = knownInt(c, 1, "dft_length"),
      rate = knownInt(c, 2, "sample_rate"),
      low = knownFloat(c, 3, "lower_edge_hertz"),
      high = knownFloat(c, 4, "upper_edge_hertz");
    if (rate <= 0) c.fail(`sample_rate must be > 0, got ${rate}`);
    const spectrum = Math.floor(length / 2) + 1;
    const toMel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
    const lowMel = toMel(low),
      step = (toMel(high) - lowMel) / (bins + 2);
    const points = Array.from({ length: bins + 2 }, (_, i) => {
      const hz = 700 * (10 ** ((i * step + lowMel) / 2595) - 1);
      return Math.trunc(Math.floor(((length + 1) * hz) / rate));
    });
    const w = new Float64Array(spectrum * bins);
    const set = (j: number, i: number, v: number) => {
      if (j < 0 || j >= spectrum) fail(c.where, `a mel point falls on DFT bin ${j}, outside [0, ${spectrum - 1}] (check the edge frequencies)`);
      w[j * bins + i] = v;
    };
    for (let i = 0; i < bins; i++) {
      const [lo, mid, hi] = [points[i]!, points[i + 1]!, points[i + 2]!];
      if (mid === lo) set(mid, i, 1);
      else for (let j = lo; j <= mid; j++) set(j, i, (j - lo) / (mid - lo));
      for (let j = mid; j < hi; j++) set(j, i, (hi - j) / (hi - mid));
    }
    return [hostTensor(c.attrs.dataType, [spectrum, bins], w)];
  },
  algorithms: [],
});

// ---------------------------------------------------------------------------------------------
// indexing by known values: Compress, ReverseSequence

registerOp<{ axis?: number; x: string }>({
  type: "Compress",
  valueInputs: [1],
  parse: (at) => ({ axis: at.has("axis") ? at.int("axis", 0) : undefined, x: at.node.input[0] ?? "" }),
  infer: (c) => c.fail("internal: Compress is inlined, not inferred"),
  inline(c) {
    const x = c.need(0, "input");
    const cond = c.value(1) ?? c.fail("condition must be known when planning (a constant or a small graph input)");
    if (cond.dims.length !== 1) c.fail(`condition must be 1-D, got ${fmtShape(cond.dims)}`);
    const axis = c.attrs.axis === undefined ? undefined : normAxis(c, c.attrs.axis, x.shape.length);
    const extent = axis === undefined ? sizeOfDims(x.shape) : x.shape[axis]!;
    if (cond.data.length > extent) c.fail(`condition has ${cond.data.length} values, more than the ${extent} it selects from`);
    const kept: number[] = [];
    cond.data.forEach((v, i) => v && kept.push(i));
    const b = subgraphBuilder(c.where, c.opset, "compress");
    const from = axis === undefined ? b.node("Reshape", [c.attrs.x, b.ints([-1])], []) : c.attrs.x;
    return finish(b, b.node("Gather", [from, b.ints(kept)], [intAttr("axis", axis ?? 0)]), x.dataType, [c.attrs.x]);
  },
  algorithms: [],
});

registerOp<{ batchAxis: number; timeAxis: number; x: string }>({
  type: "ReverseSequence",
  valueInputs: [1],
  parse: (at) => ({ batchAxis: at.int("batch_axis", 1), timeAxis: at.int("time_axis", 0), x: at.node.input[0] ?? "" }),
  infer: (c) => c.fail("internal: ReverseSequence is inlined, not inferred"),
  inline(c) {
    const x = c.need(0, "input");
    const r = x.shape.length;
    if (r < 2) c.fail(`input must have rank >= 2, got ${fmtShape(x.shape)}`);
    const { batchAxis, timeAxis } = c.attrs;
    if (![0, 1].includes(batchAxis) || ![0, 1].includes(timeAxis) || batchAxis === timeAxis)
      c.fail(`batch_axis ${batchAxis} and time_axis ${timeAxis} must be 0 and 1 in some order`);
    const lens = c.value(1) ?? c.fail("sequence_lens must be known when planning (a constant or a small graph input)");
    const B = x.shape[batchAxis]!,
      T = x.shape[timeAxis]!;
    if (lens.data.length !== B) c.fail(`sequence_lens has ${lens.data.length} values for a batch of ${B}`);
    lens.data.forEach((v) => (v < 0 || v > T) && c.fail(`sequence_lens ${v} is outside [0, ${T}]`));
    // indices along time_axis, in x's shape: t -> len - 1 - t for t < len, else t
    guardElements(c, sizeOfDims(x.shape), "the indices");
    const inner = sizeOfDims(x.shape.slice(2));
    const idx = new Float64Array(sizeOfDims(x.shape));
    for (let a = 0; a < x.shape[0]!; a++)
      for (let d = 0; d < x.shape[1]!; d++) {
        const [bi, t] = batchAxis === 0 ? [a, d] : [d, a];
        const len = lens.data[bi]!;
        idx.fill(t < len ? len - 1 - t : t, (a * x.shape[1]! + d) * inner, (a * x.shape[1]! + d + 1) * inner);
      }
    const b = subgraphBuilder(c.where, c.opset, "reverseSequence");
    const y = b.node("GatherElements", [c.attrs.x, b.constant(DataType.INT64, [...x.shape], Array.from(idx))], [intAttr("axis", timeAxis)]);
    return finish(b, y, x.dataType, [c.attrs.x]);
  },
  algorithms: [],
});

// CenterCropPad (opset 18): per axis, a centred Slice where the target is smaller, a centred zero
// Pad where it is larger (the extra odd element goes after); the target shape known while planning
registerOp<{ axes?: number[]; inputs: readonly string[] }>({
  type: "CenterCropPad",
  valueInputs: [1],
  parse: (at) => ({ axes: at.ints("axes"), inputs: at.node.input }),
  infer: (c) => c.fail("internal: CenterCropPad is inlined, not inferred"),
  inline(c) {
    const x = c.need(0, "input_data");
    const r = x.shape.length;
    const target = c.value(1) ?? c.fail("shape must be known when planning (a constant or a small graph input)");
    const axes = (c.attrs.axes ?? [...Array(r).keys()]).map((a) => normAxis(c, a, r));
    if (new Set(axes).size !== axes.length) c.fail(`axes [${axes.join(",")}] repeat an axis`);
    if (target.data.length !== axes.length) c.fail(`shape has ${target.data.length} values for ${axes.length} axes`);
    const starts: number[] = [],
      ends: number[] = [],
      sliced: number[] = [];
    const pads = new Array<number>(2 * r).fill(0);
    axes.forEach((a, k) => {
      const want = Math.trunc(target.data[k]!),
        dim = x.shape[a]!;
      if (!(want >= 0)) c.fail(`shape [${Array.from(target.data).join(",")}] must be >= 0`);
      guardElements(c, want, "an axis");
      if (want < dim) {
        const d = Math.floor((dim - want) / 2);
        starts.push(d), ends.push(d + want), sliced.push(a);
      } else if (want > dim) {
        pads[a] = Math.floor((want - dim) / 2);
        pads[a + r] = want - dim - pads[a]!;
      }
    });
    const b = subgraphBuilder(c.where, c.opset, "centerCropPad");
    let y = c.attrs.inputs[0]!;
    if (sliced.length) y = b.node("Slice", [y, b.ints(starts), b.ints(ends), b.ints(sliced)], []);
    if (pads.some((p) => p > 0)) y = b.node("Pad", [y, b.ints(pads)], []);
    return finish(b, y, x.dataType, c.attrs.inputs.slice(0, 1));
  },
  algorithms: [],
});

// AffineGrid (opset 20): the sampling grid of theta [N, 2, 3] (2-D) or [N, 3, 4] (3-D) for size
// [N, C, (D,) H, W]: MatMul(homogeneous base grid [P, k + 1] (x, y(, z), 1 per pixel), theta^T)
registerOp<{ alignCorners: boolean; inputs: readonly string[] }>({
  type: "AffineGrid",
  valueInputs: [1],
  parse: (at) => ({ alignCorners: at.int("align_corners", 0) !== 0, inputs: at.node.input }),
  infer: (c) => c.fail("internal: AffineGrid is inlined, not inferred"),
  inline(c) {
    const theta = typedInput(c, 0, "theta", "float");
    const size = c.value(1) ?? c.fail("size must be known when planning (a constant or a small graph input)");
    const dims = Array.from(size.data, (v) => Math.trunc(v));
    const k = dims.length - 2;
    if ((k !== 2 && k !== 3) || dims.some((d) => !(d >= 1))) c.fail(`size must be [N, C, H, W] or [N, C, D, H, W] of sizes >= 1, got [${dims.join(",")}]`);
    const N = dims[0]!;
    if (theta.shape.join() !== [N, k, k + 1].join()) c.fail(`theta must be [${N}, ${k}, ${k + 1}] for size [${dims.join(",")}], got ${fmtShape(theta.shape)}`);
    const spatial = dims.slice(2); // (D,) H, W
    const P = sizeOfDims(spatial);
    guardElements(c, P * (k + 1), "the base grid");
    // an axis of one pixel with align_corners: 1 as onnxruntime gives it (Eigen's LinSpaced(1, -1, 1);
    // PyTorch gives 0, ONNX's reference -1)
    const coord = (i: number, n: number) => (!c.attrs.alignCorners ? -1 + (2 * i + 1) / n : n === 1 ? 1 : -1 + (2 * i) / (n - 1));
    const base = new Float64Array(P * (k + 1));
    for (let p = 0; p < P; p++) {
      // x runs along the last axis, y the one before, z the first
      let rest = p;
      const idx: number[] = [];
      for (let a = k - 1; a >= 0; a--) {
        idx[a] = rest % spatial[a]!;
        rest = Math.floor(rest / spatial[a]!);
      }
      for (let q = 0; q < k; q++) base[p * (k + 1) + q] = coord(idx[k - 1 - q]!, spatial[k - 1 - q]!);
      base[p * (k + 1) + k] = 1;
    }
    const b = subgraphBuilder(c.where, c.opset, "affineGrid");
    const thetaT = b.node("Transpose", [c.attrs.inputs[0]!], [intsAttr("perm", [0, 2, 1])]);
    const grid = b.node("MatMul", [b.constant(theta.dataType, [P, k + 1], Array.from(base)), thetaT], []);
    return finish(b, b.node("Reshape", [grid, b.ints([N, ...spatial, k])], []), theta.dataType, c.attrs.inputs.slice(0, 1));
  },
  algorithms: [],
});

// ---------------------------------------------------------------------------------------------
// DFT and STFT as a MatMul with the DFT matrix

/**
 * The [n * C, M * 2] matrix taking a signal of n points with C parts (1 real, 2 complex) to M
 * complex bins of a length-L transform (the signal cut or zero-padded to L). Forward:
 * X[k] = sum_j x[j] e^{-2 pi i jk/L}; inverse: the conjugate over L; inverse one-sided (irfft):
 * M real outputs (C 2 in, 1 out) from the half spectrum, Hermitian symmetry filling the rest.
 */
function dftMatrix(n: number, C: number, L: number, M: number, inverse: boolean, onesidedInverse: boolean): { w: Float64Array; outParts: number } {
  const outParts = onesidedInverse ? 1 : 2;
  const w = new Float64Array(n * C * M * outParts);
  const cols = M * outParts;
  for (let j = 0; j < Math.min(n, L); j++)
    for (let k = 0; k < M; k++) {
      if (onesidedInverse) {
        // input bin j (of n), output sample k (of M = L): weight 1 for bins 0 and L/2, else 2
        if (j > Math.floor(L / 2)) continue;
        const weight = (j === 0 || 2 * j === L ? 1 : 2) / L;
        const th = (2 * Math.PI * ((j * k) % L)) / L;
        w[j * C * cols + k] = weight * Math.cos(th);
        if (C === 2) w[(j * C + 1) * cols + k] = -weight * Math.sin(th);
        continue;
      }
      const th = (2 * Math.PI * ((j * k) % L)) / L;
      const cos = Math.cos(th),
        sin = inverse ? Math.sin(th) : -Math.sin(th),
        s = inverse ? 1 / L : 1;
      // (a + ib)(cos + i sin) = (a cos - b sin) + i(a sin + b cos)
      w[j * C * cols + k * 2] = s * cos;
      w[j * C * cols + k * 2 + 1] = s * sin;
      if (C === 2) {
        w[(j * C + 1) * cols + k * 2] = -s * sin;
        w[(j * C + 1) * cols + k * 2 + 1] = s * cos;
      }
    }
  return { w, outParts };
}

interface DftAttrs {
  axis?: number;
  inverse: boolean;
  onesided: boolean;
  inputs: readonly string[];
}

registerOp<DftAttrs>({
  type: "DFT",
  valueInputs: [1, 2],
  parse: (at, opset) => ({
    axis: opset < 20 ? at.int("axis", 1) : undefined,
    inverse: at.int("inverse", 0) !== 0,
    onesided: at.int("onesided", 0) !== 0,
    inputs: at.node.input,
  }),
  infer: (c) => c.fail("internal: DFT is inlined, not inferred"),
  inline(c) {
    const x = typedInput(c, 0, "input", "float");
    const r = x.shape.length,
      C = x.shape[r - 1]!;
    if (r < 2 || (C !== 1 && C !== 2)) c.fail(`input must be [..., n, 1] (real) or [..., n, 2] (complex), got ${fmtShape(x.shape)}`);
    const axisGiven = c.attrs.axis ?? (c.input(2) ? knownInt(c, 2, "axis") : -2);
    const axis = normAxis(c, axisGiven, r);
    if (axis === r - 1) c.fail(`axis ${axisGiven} is the last (complex) axis`);
    const n = x.shape[axis]!;
    const { inverse, onesided } = c.attrs;
    const L = c.input(1) ? knownInt(c, 1, "dft_length") : inverse && onesided ? 2 * (n - 1) : n;
    if (L < 1) c.fail(`dft_length must be >= 1, got ${L}`);
    if (inverse && onesided && C !== 2) c.fail("an inverse one-sided DFT needs a complex input [..., n, 2]");
    const M = inverse && onesided ? L : onesided ? Math.floor(L / 2) + 1 : L;
    guardElements(c, n * C * M * 2, "the DFT matrix");
    const { w, outParts } = dftMatrix(n, C, L, M, inverse, inverse && onesided);
    const b = subgraphBuilder(c.where, c.opset, "dft");
    // move the signal axis next to the last one, multiply, move it back
    const perm = [...Array(r).keys()].filter((a) => a !== axis && a !== r - 1).concat([axis, r - 1]);
    const moved = perm.some((p, i) => p !== i);
    const others = perm.slice(0, r - 2).map((a) => x.shape[a]!);
    const t = moved ? b.node("Transpose", [c.attrs.inputs[0]!], [intsAttr("perm", perm)]) : c.attrs.inputs[0]!;
    const flat = b.node("Reshape", [t, b.ints([sizeOfDims(others), n * C])], []);
    const y = b.node("MatMul", [flat, b.constant(x.dataType, [n * C, M * outParts], Array.from(w))], []);
    let out = b.node("Reshape", [y, b.ints([...others, M, outParts])], []);
    if (moved)
      out = b.node(
        "Transpose",
        [out],
        [
          intsAttr(
            "perm",
            perm.map((_, i) => perm.indexOf(i)),
          ),
        ],
      );
    return finish(b, out, x.dataType, c.attrs.inputs.slice(0, 1));
  },
  algorithms: [],
});

registerOp<{ onesided: boolean; inputs: readonly string[] }>({
  type: "STFT",
  valueInputs: [1, 3],
  parse: (at) => ({ onesided: at.int("onesided", 1) !== 0, inputs: at.node.input }),
  infer: (c) => c.fail("internal: STFT is inlined, not inferred"),
  inline(c) {
    const x = typedInput(c, 0, "signal", "float");
    if (x.shape.length !== 3 || (x.shape[2] !== 1 && x.shape[2] !== 2)) c.fail(`signal must be [batch, length, 1 or 2], got ${fmtShape(x.shape)}`);
    const [batch, length, C] = x.shape as [number, number, number];
    const step = knownInt(c, 1, "frame_step");
    const window = c.input(2);
    if (window && (window.shape.length !== 1 || window.dataType !== x.dataType))
      c.fail(`window must be 1-D of the signal's element type, got ${fmtShape(window.shape)} ${dataTypeName(window.dataType)}`);
    const fl = c.input(3) ? knownInt(c, 3, "frame_length") : (window?.shape[0] ?? c.fail("needs a window or a frame_length"));
    if (window && window.shape[0] !== fl) c.fail(`window has ${window.shape[0]} values for frames of ${fl}`);
    if (step < 1 || fl < 1 || fl > length) c.fail(`frame_step ${step} and frame_length ${fl} must be >= 1, frames at most the signal's ${length}`);
    const frames = Math.floor((length - fl) / step) + 1;
    const M = c.attrs.onesided ? Math.floor(fl / 2) + 1 : fl;
    guardElements(c, Math.max(frames * fl, fl * C * M * 2), "the frame indices or the DFT matrix");
    const b = subgraphBuilder(c.where, c.opset, "stft");
    const starts = Array.from({ length: frames * fl }, (_, e) => Math.floor(e / fl) * step + (e % fl));
    let g = b.node("Gather", [c.attrs.inputs[0]!, b.constant(DataType.INT64, [frames, fl], starts)], [intAttr("axis", 1)]);
    if (window) g = b.node("Mul", [g, b.node("Reshape", [c.attrs.inputs[2]!, b.ints([1, 1, fl, 1])], [])], []);
    const flat = b.node("Reshape", [g, b.ints([batch * frames, fl * C])], []);
    const { w } = dftMatrix(fl, C, fl, M, false, false);
    const y = b.node("MatMul", [flat, b.constant(x.dataType, [fl * C, M * 2], Array.from(w))], []);
    return finish(b, b.node("Reshape", [y, b.ints([batch, frames, M, 2])], []), x.dataType, [c.attrs.inputs[0]!, window ? c.attrs.inputs[2]! : ""]);
  },
  algorithms: [],
});
