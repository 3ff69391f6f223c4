// One small valid graph per registered ONNX op, as plain data: the base the per-op hostile test
// (tests/graph-op-hostile.test.ts) mutates and the float64 gradient harness
// (tests/graph-op-gradients.test.ts) differentiates. `n` is a free size (1..9) each case uses
// where the op allows any size, so callers can cross the SIMD tiles (4 and 8 lanes).
//
// A registered op without an entry here still gets fuzzed (from a generic float input) and is
// listed by the hostile test; add its entry so its attributes and inputs start out valid.
import { AttributeType, type AttributeProto, DataType, type ModelProto, type NodeProto, type TensorProto } from "../src/onnx/onnx-proto.js";
import { modelProto } from "./model-proto.js";

export const F: number = DataType.FLOAT,
  L: number = DataType.INT64,
  B: number = DataType.BOOL,
  I32: number = DataType.INT32,
  U8: number = DataType.UINT8;

/** An op input: a graph input fed at run time ("feed"), a constant ("init"), or omitted (null). */
export interface CaseInput {
  kind: "feed" | "init";
  dataType: number;
  dims: number[];
  /** Values (default: seeded random ones fitting the type, see valuesFor). */
  values?: number[];
  /** Float values are drawn from [lo, hi) (default [-2, 2)). */
  range?: [number, number];
}

export interface OpCase {
  inputs: (CaseInput | null)[];
  attrs?: AttributeProto[];
  opset?: number;
  /** Outputs the node lists (default 1). */
  outputs?: number;
  /** The outputs' declared element types (default: undeclared, which the importer takes as float). */
  outputTypes?: number[];
  /** Gradient harness: inputs whose values must stay as given (not perturbed; indices, shapes...). */
  fixed?: number[];
  /** Gradient harness: the op is not differentiable almost everywhere in these inputs' values. */
  kinky?: boolean;
}

export const feed = (dims: number[], dataType = F, range?: [number, number]): CaseInput => ({ kind: "feed", dataType, dims, range });
export const init = (dims: number[], dataType = F, values?: number[], range?: [number, number]): CaseInput => ({ kind: "init", dataType, dims, values, range });
export const ai = (name: string, i: number): AttributeProto => ({ name, type: AttributeType.INT, i });
export const ais = (name: string, ints: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints });
export const af = (name: string, f: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f });
export const afs = (name: string, floats: number[]): AttributeProto => ({ name, type: AttributeType.FLOATS, floats });
export const as = (name: string, s: string): AttributeProto => ({ name, type: AttributeType.STRING, s });
const scalar = (dataType: number, v: number) => init([], dataType, [v]);

// rank 4, so the gradient harness can also run them on a channels-last input (after a Conv)
const unary =
  (range?: [number, number]) =>
  (n: number): OpCase => ({ inputs: [feed([1, 2, n, 2], F, range)] });
const binary = (n: number): OpCase => ({ inputs: [feed([1, 3, n, 2]), init([3, 1, 1])] });
const pool = (n: number, attrs: AttributeProto[] = []): OpCase => ({ inputs: [feed([1, 2, n + 2, 5])], attrs: [ais("kernel_shape", [2, 2]), ...attrs] });
const reduce = (n: number): OpCase => ({ inputs: [feed([1, 3, n, 2]), init([1], L, [1])], opset: 18 });

/** data [3, n], indices [1, n] (row j % 3 of column j), updates [1, n]: Scatter / ScatterElements. */
const scatterAlongRows = (n: number, opset: number): OpCase => ({
  inputs: [
    feed([3, n]),
    init(
      [1, n],
      L,
      Array.from({ length: n }, (_, j) => j % 3),
    ),
    init([1, n]),
  ],
  opset,
  fixed: [1],
});

/** The base case of each op, by type. */
export const OP_CASES: Record<string, (n: number) => OpCase> = {
  Abs: unary(),
  Acos: unary([-0.9, 0.9]),
  Acosh: unary([1.2, 3]),
  Asin: unary([-0.9, 0.9]),
  Asinh: unary(),
  Atan: unary(),
  Atanh: unary([-0.9, 0.9]),
  Ceil: unary(),
  Cos: unary(),
  Cosh: unary(),
  Erf: unary(),
  Exp: unary(),
  Floor: unary(),
  Log: unary([0.2, 3]),
  Neg: unary(),
  Reciprocal: unary([0.3, 2]),
  Round: unary(),
  Sigmoid: unary(),
  Sign: unary(),
  Sin: unary(),
  Sinh: unary(),
  Sqrt: unary([0.2, 3]),
  Tan: unary([-1.2, 1.2]),
  Tanh: unary(),
  Relu: unary(),
  Softplus: unary(),
  Softsign: unary(),
  Mish: (n) => ({ ...unary()(n), opset: 18 }),
  HardSwish: (n) => ({ ...unary()(n), opset: 14 }),
  HardSigmoid: unary(),
  IsInf: unary(),
  IsNaN: unary(),
  Identity: unary(),
  Gelu: (n) => ({ ...unary()(n), opset: 20 }),
  Celu: unary(),
  Elu: unary(),
  Selu: unary(),
  LeakyRelu: unary(),
  ThresholdedRelu: unary(),
  Add: binary,
  Sub: binary,
  Mul: binary,
  Div: (n) => ({ inputs: [feed([1, 3, n, 2]), init([3, 1, 1], F, undefined, [0.5, 2])] }),
  Pow: (n) => ({ inputs: [feed([1, 3, n, 2], F, [0.3, 2]), init([3, 1, 1])] }),
  Mod: (n) => ({ inputs: [feed([1, 3, n, 2]), init([3, 1, 1], F, undefined, [0.7, 2])], attrs: [ai("fmod", 1)] }),
  Max: binary,
  Min: binary,
  Mean: binary,
  Sum: binary,
  PRelu: (n) => ({ inputs: [feed([1, 3, n, 2]), init([3, 1, 1])] }),
  Equal: binary,
  Greater: binary,
  GreaterOrEqual: binary,
  Less: binary,
  LessOrEqual: binary,
  And: (n) => ({ inputs: [feed([2, n], B), init([2, n], B)] }),
  Or: (n) => ({ inputs: [feed([2, n], B), init([2, n], B)] }),
  Xor: (n) => ({ inputs: [feed([2, n], B), init([2, n], B)] }),
  Not: (n) => ({ inputs: [feed([2, n], B)] }),
  BitwiseAnd: (n) => ({ inputs: [feed([2, n], I32), init([2, n], I32)], opset: 18 }),
  BitwiseOr: (n) => ({ inputs: [feed([2, n], I32), init([2, n], I32)], opset: 18 }),
  BitwiseXor: (n) => ({ inputs: [feed([2, n], I32), init([2, n], I32)], opset: 18 }),
  BitwiseNot: (n) => ({ inputs: [feed([2, n], I32)], opset: 18 }),
  ArgMax: (n) => ({ inputs: [feed([2, 3, n])], attrs: [ai("axis", 1)] }),
  ArgMin: (n) => ({ inputs: [feed([2, 3, n])], attrs: [ai("axis", 1)] }),
  AveragePool: (n) => pool(n),
  MaxPool: (n) => pool(n),
  LpPool: (n) => ({ ...pool(n, [ai("p", 2)]), opset: 18 }),
  GlobalAveragePool: (n) => ({ inputs: [feed([1, 2, n, 3])] }),
  GlobalMaxPool: (n) => ({ inputs: [feed([1, 2, n, 3])] }),
  GlobalLpPool: (n) => ({ inputs: [feed([1, 2, n, 3])] }),
  BatchNormalization: (n) => ({
    inputs: [feed([1, 2, n, 3]), init([2]), init([2]), init([2]), init([2], F, undefined, [0.5, 2])],
  }),
  Cast: (n) => ({ inputs: [feed([2, n])], attrs: [ai("to", L)] }),
  CastLike: (n) => ({ inputs: [feed([2, n]), init([1], F, [0])], opset: 15 }),
  Clip: (n) => ({ inputs: [feed([2, n]), scalar(F, -0.5), scalar(F, 0.5)], kinky: true }),
  Concat: (n) => ({ inputs: [feed([2, n]), init([2, 2])], attrs: [ai("axis", 1)] }),
  Constant: () => ({ inputs: [], attrs: [af("value_float", 1.5)] }),
  ConstantOfShape: (n) => ({ inputs: [init([2], L, [2, n])] }),
  Conv: (n) => ({ inputs: [feed([1, 2, n + 2, 5]), init([3, 2, 3, 3]), init([3])] }),
  ConvInteger: (n) => ({ inputs: [feed([1, 1, n + 1, 4], U8), init([1, 1, 2, 2], U8)] }),
  ConvTranspose: (n) => ({ inputs: [feed([1, 2, n, 3]), init([2, 3, 3, 3]), init([3])] }),
  CumSum: (n) => ({ inputs: [feed([2, 3, n]), init([], L, [1])], fixed: [1] }),
  DepthToSpace: (n) => ({ inputs: [feed([1, 4, n, 3])], attrs: [ai("blocksize", 2)] }),
  SpaceToDepth: (n) => ({ inputs: [feed([1, 2, 2 * n, 6])], attrs: [ai("blocksize", 2)] }),
  DequantizeLinear: (n) => ({ inputs: [feed([2, n], U8), scalar(F, 0.1), scalar(U8, 3)] }),
  QuantizeLinear: (n) => ({ inputs: [feed([2, n]), scalar(F, 0.1), scalar(U8, 3)] }),
  DynamicQuantizeLinear: (n) => ({ inputs: [feed([2, n])], outputs: 3, opset: 11 }),
  Dropout: (n) => ({ inputs: [feed([2, 3, n])] }),
  Einsum: (n) => ({ inputs: [feed([2, n]), init([n, 4])], attrs: [as("equation", "ij,jk->ik")], opset: 12 }),
  Expand: (n) => ({ inputs: [feed([3, 1]), init([3], L, [2, 3, n])], fixed: [1] }),
  Flatten: (n) => ({ inputs: [feed([2, 3, n])], attrs: [ai("axis", 1)] }),
  GRU: (n) => ({ inputs: [feed([2, 1, n]), init([1, 12, n]), init([1, 12, 4]), init([1, 24])], attrs: [ai("hidden_size", 4)] }),
  LSTM: (n) => ({ inputs: [feed([2, 1, n]), init([1, 16, n]), init([1, 16, 4]), init([1, 32])], attrs: [ai("hidden_size", 4)] }),
  RNN: (n) => ({ inputs: [feed([2, 1, n]), init([1, 4, n]), init([1, 4, 4]), init([1, 8])], attrs: [ai("hidden_size", 4)] }),
  Gather: (n) => ({ inputs: [feed([3, n]), init([2], L, [0, 2])], attrs: [ai("axis", 0)], fixed: [1] }),
  GatherElements: (n) => ({
    inputs: [
      feed([3, n]),
      init(
        [2, n],
        L,
        Array.from({ length: 2 * n }, (_, i) => (i * 7) % 3),
      ),
    ],
    attrs: [ai("axis", 0)],
    fixed: [1],
  }),
  GatherND: (n) => ({ inputs: [feed([3, n]), init([2, 1], L, [0, 2])], fixed: [1] }),
  ScatterND: (n) => ({ inputs: [feed([4, n]), init([2, 1], L, [0, 2]), init([2, n])], fixed: [1] }),
  Gemm: (n) => ({ inputs: [feed([2, 3]), init([3, n]), init([n])] }),
  MatMul: (n) => ({ inputs: [feed([2, 3]), init([3, n])] }),
  MatMulInteger: (n) => ({ inputs: [feed([2, 3], U8), init([3, n], U8)], opset: 10 }),
  GridSample: (n) => ({ inputs: [feed([1, 2, 4, n + 1]), init([1, 3, 3, 2], F, undefined, [-0.9, 0.9])], opset: 16 }),
  GroupNormalization: (n) => ({ inputs: [feed([1, 4, n, 3]), init([2]), init([2])], attrs: [ai("num_groups", 2)], opset: 18 }),
  Hardmax: (n) => ({ inputs: [feed([2, 3, n])] }),
  If: () => ({ inputs: [feed([], B)] }),
  // (no body graph: their mutants test the refusals, tests/graph-loop.test.ts the loops)
  Loop: (n) => ({ inputs: [init([], L, [n]), init([], B, [1]), feed([2, n], I32)] }),
  Scan: (n) => ({ inputs: [feed([2], I32), feed([n, 2], I32)], attrs: [ai("num_scan_inputs", 1)], opset: 11 }),
  ImageScaler: (n) => ({ inputs: [feed([1, 3, n, 2])], attrs: [af("scale", 2), afs("bias", [1, 2, 3])], opset: 7 }),
  InstanceNormalization: (n) => ({ inputs: [feed([1, 2, n, 3]), init([2]), init([2])] }),
  LRN: (n) => ({ inputs: [feed([1, 3, n, 4])], attrs: [ai("size", 3)] }),
  LayerNormalization: (n) => ({ inputs: [feed([2, 3, n]), init([n]), init([n])], attrs: [ai("axis", -1)], opset: 17 }),
  LpNormalization: (n) => ({ inputs: [feed([2, n])], attrs: [ai("axis", 1), ai("p", 2)] }),
  MeanVarianceNormalization: (n) => ({ inputs: [feed([1, 2, n, 3])] }),
  OneHot: (n) => ({ inputs: [feed([3], L), init([], L, [n + 1]), init([2], F, [0, 1])], fixed: [0, 1] }),
  Pad: (n) => ({ inputs: [feed([2, n]), init([4], L, [1, 0, 1, 2]), scalar(F, 0.5)], fixed: [1, 2] }),
  QLinearConv: (n) => ({
    inputs: [
      feed([1, 1, n + 1, 4], U8),
      scalar(F, 0.1),
      scalar(U8, 3),
      init([1, 1, 2, 2], U8),
      init([1], F, [0.2]),
      init([1], U8, [2]),
      scalar(F, 0.3),
      scalar(U8, 4),
    ],
  }),
  QLinearMatMul: (n) => ({
    inputs: [feed([2, 3], U8), scalar(F, 0.1), scalar(U8, 3), init([3, n], U8), scalar(F, 0.2), scalar(U8, 2), scalar(F, 0.3), scalar(U8, 4)],
  }),
  Range: (n) => ({ inputs: [scalar(F, 0), scalar(F, n), scalar(F, 1)], fixed: [0, 1, 2] }),
  ReduceL1: reduce,
  ReduceL2: reduce,
  ReduceLogSumExp: reduce,
  ReduceMax: reduce,
  ReduceMean: reduce,
  ReduceMin: reduce,
  ReduceProd: reduce,
  ReduceSum: reduce,
  ReduceSumSquare: reduce,
  Reshape: (n) => ({ inputs: [feed([2, 3, n]), init([2], L, [6, n])], fixed: [1] }),
  Resize: (n) => ({ inputs: [feed([1, 1, 2, n]), null, init([4], F, [1, 1, 2, 2])], fixed: [2] }),
  Upsample: (n) => ({ inputs: [feed([1, 1, 2, n]), init([4], F, [1, 1, 2, 2])], opset: 9, fixed: [1] }),
  Shape: (n) => ({ inputs: [feed([2, n])] }),
  Size: (n) => ({ inputs: [feed([2, n])] }),
  Slice: (n) => ({ inputs: [feed([3, n]), init([1], L, [1]), init([1], L, [3]), init([1], L, [0]), init([1], L, [1])], fixed: [1, 2, 3, 4] }),
  Softmax: (n) => ({ inputs: [feed([1, 3, n, 2])], attrs: [ai("axis", 1)] }),
  LogSoftmax: (n) => ({ inputs: [feed([1, 3, n, 2])], attrs: [ai("axis", 1)] }),
  Split: (n) => ({ inputs: [feed([4, n]), init([2], L, [1, 3])], attrs: [ai("axis", 0)], outputs: 2, fixed: [1] }),
  Squeeze: (n) => ({ inputs: [feed([2, 1, n]), init([1], L, [1])], fixed: [1] }),
  Unsqueeze: (n) => ({ inputs: [feed([2, n]), init([1], L, [1])], fixed: [1] }),
  Tile: (n) => ({ inputs: [feed([2, n]), init([2], L, [2, 1])], fixed: [1] }),
  TopK: (n) => ({ inputs: [feed([2, n + 2]), init([1], L, [2])], outputs: 2, outputTypes: [F, L], fixed: [1] }),
  Transpose: (n) => ({ inputs: [feed([2, 3, n])], attrs: [ais("perm", [2, 0, 1])] }),
  Trilu: (n) => ({ inputs: [feed([3, n]), init([], L, [1])], opset: 14, fixed: [1] }),
  Where: (n) => ({ inputs: [feed([2, n], B), init([2, n]), init([1])], fixed: [0] }),
  // composite ops (src/graph/ops/composite.ts, attention.ts): planned as registered ones
  AffineGrid: (n) => ({ inputs: [feed([1, 2, 3]), init([4], L, [1, 1, n, 3])], opset: 20, fixed: [1] }),
  Attention: (n) => ({ inputs: [feed([1, 2, n, 4]), feed([1, 2, 3, 4]), feed([1, 2, 3, 4])], opset: 23 }),
  BlackmanWindow: (n) => ({ inputs: [scalar(L, n + 1)], opset: 17, fixed: [0] }),
  HammingWindow: (n) => ({ inputs: [scalar(L, n + 1)], opset: 17, fixed: [0] }),
  HannWindow: (n) => ({ inputs: [scalar(L, n + 1)], opset: 17, fixed: [0] }),
  CenterCropPad: (n) => ({ inputs: [feed([n, 3]), init([2], L, [3, 4])], opset: 18, fixed: [1] }),
  Compress: (n) => ({ inputs: [feed([3, n]), init([3], B, [1, 0, 1])], attrs: [ai("axis", 0)], opset: 11, fixed: [1] }),
  DFT: (n) => ({ inputs: [feed([1, n + 1, 1])], attrs: [ai("axis", 1)], opset: 17 }),
  EyeLike: (n) => ({ inputs: [feed([n, 3])] }),
  MelWeightMatrix: () => ({ inputs: [scalar(L, 4), scalar(L, 16), scalar(L, 8000), scalar(F, 0), scalar(F, 4000)], opset: 17, fixed: [0, 1, 2, 3, 4] }),
  NonZero: (n) => ({
    inputs: [
      init(
        [2, n],
        F,
        Array.from({ length: 2 * n }, (_, i) => i % 3),
      ),
    ],
    fixed: [0],
  }),
  // boxes and scores fed: planned per value when small, else staged (the run's values read back)
  NonMaxSuppression: (n) => ({
    inputs: [feed([1, n + 1, 4], F, [0, 4]), feed([1, 2, n + 1], F, [0, 1]), scalar(L, 3), scalar(F, 0.5), scalar(F, 0.2)],
    attrs: [ai("center_point_box", 0)],
    opset: 11,
    outputTypes: [L],
    fixed: [0, 1, 2, 3, 4],
  }),
  Unique: (n) => ({ inputs: [feed([2, n + 1], I32, [0, 4])], attrs: [ai("axis", 1), ai("sorted", 1)], opset: 11, outputs: 4, outputTypes: [I32, L, L, L] }),
  // three rois over two images: one inside, one across the border, one of sub-pixel size
  RoiAlign: (n) => ({
    // rois fed (run-time boxes, as a detector's), so the gradient harness does not train them
    inputs: [
      feed([2, 3, n + 3, 5]),
      { kind: "feed", dataType: F, dims: [3, 4], values: [0, 0, 3, 3, 1, 0.5, 5.5, n + 3.5, 2, 1, 2.4, 1.2] },
      init([3], L, [0, 1, 1]),
    ],
    attrs: [ai("output_height", 2), ai("output_width", 3), ai("sampling_ratio", 0), af("spatial_scale", 1)],
    opset: 16,
    fixed: [1, 2],
  }),
  RMSNormalization: (n) => ({ inputs: [feed([2, 3, n]), init([n])], attrs: [ai("axis", -1)], opset: 23 }),
  ReduceLogSum: (n) => ({ inputs: [feed([1, 3, n, 2], F, [0.5, 2]), init([1], L, [1])], opset: 18 }),
  ReverseSequence: (n) => ({ inputs: [feed([4, 2, n]), init([2], L, [4, 2])], attrs: [ai("time_axis", 0), ai("batch_axis", 1)], opset: 10, fixed: [1] }),
  RotaryEmbedding: (n) => ({
    inputs: [
      feed([1, 2, n, 4]),
      init([n, 2]),
      init([n, 2]),
      init(
        [1, n],
        L,
        Array.from({ length: n }, (_, i) => i),
      ),
    ],
    opset: 23,
    fixed: [3],
  }),
  STFT: (n) => ({ inputs: [feed([1, 8 + n, 1]), scalar(L, 2), null, scalar(L, 4)], opset: 17, fixed: [1, 3] }),
  Scatter: (n) => scatterAlongRows(n, 10),
  ScatterElements: (n) => scatterAlongRows(n, 13),
  Swish: unary(),
  Shrink: (n) => ({ inputs: [feed([1, 2, n, 2])], attrs: [af("lambd", 0.5), af("bias", 0.1)], kinky: true }),
};

/** A fallback for ops without an entry: one float input. */
export const GENERIC_CASE = (n: number): OpCase => ({ inputs: [feed([2, 3, n])] });

/** Seeded values fitting `t` (float in its range, int64/int32 small non-negative, bool 0/1, uint8 0..255). */
export function valuesFor(t: CaseInput, r: () => number): number[] {
  if (t.values) return [...t.values];
  const size = Math.min(
    t.dims.reduce((a, b) => a * b, 1),
    1 << 16,
  ); // (hostile dims: the caller cuts the data)
  const [lo, hi] = t.range ?? [-2, 2];
  return Array.from({ length: size }, () => {
    switch (t.dataType) {
      case F:
      case DataType.DOUBLE:
        return lo + (hi - lo) * r();
      case B:
        return r() < 0.5 ? 1 : 0;
      case U8:
        return Math.floor(r() * 256);
      default:
        return Math.floor(r() * 3);
    }
  });
}

/** Input k's name in a case's graph. */
export const inputName = (k: number) => `in${k}`;

/** The graph of one node of `opType` over `c` (inputs named in0.., outputs out0..), with the feeds it needs. */
export function caseModel(
  opType: string,
  c: OpCase,
  values: (number[] | undefined)[],
): { model: ModelProto; feeds: Record<string, { dims: number[]; data: number[] }> } {
  const feeds: Record<string, { dims: number[]; data: number[] }> = {};
  const inits: TensorProto[] = [];
  const graphInputs: [string, number[], number][] = [];
  c.inputs.forEach((t, k) => {
    if (!t) return;
    const data = values[k] ?? t.values ?? [];
    if (t.kind === "feed") {
      graphInputs.push([inputName(k), [...t.dims], t.dataType]);
      feeds[inputName(k)] = { dims: [...t.dims], data };
    } else {
      inits.push({
        name: inputName(k),
        dims: [...t.dims],
        dataType: t.dataType,
        data:
          t.dataType === F
            ? Float32Array.from(data)
            : Float64Array.from(data, (v) => (t.dataType === DataType.DOUBLE || !Number.isFinite(v) ? v : Math.trunc(v))),
      });
    }
  });
  const outputs = Array.from({ length: c.outputs ?? 1 }, (_, k) => `out${k}`);
  const n: NodeProto = {
    name: "n",
    opType,
    domain: "",
    input: c.inputs.map((t, k) => (t ? inputName(k) : "")),
    output: outputs,
    attribute: c.attrs ?? [],
  };
  const model = modelProto({
    nodes: [n],
    inits,
    inputs: graphInputs,
    outputs: outputs.map((name, k): [string, number] => [name, c.outputTypes?.[k] ?? DataType.UNDEFINED]),
    opset: c.opset ?? 13,
  });
  return { model, feeds };
}
