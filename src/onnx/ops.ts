// The ONNX op table: one entry per ONNX op type, each with attribute parsing (at import, so bad
// attributes fail before anything runs) and a run function over Values built on simdnet's
// functional API (device kernels) or, where no kernel exists yet, on clearly marked host code.
// Image ops (Conv, pools, BatchNormalization, LRN) take NHWC device tensors; order-sensitive ops
// (Flatten, Reshape, Transpose, Gemm) see ONNX element order: Values convert on demand.
import { fail, fmtShape } from "../errors.js";
import { checkBudget } from "../engine.js";
import { relu } from "../ops/elementwise.js";
import { add } from "../ops/elementwise.js";
import { conv2d, conv2dOutputShape, convTranspose2d, convTranspose2dOutputShape, type AutoPad } from "../ops/conv2d.js";
import { gemm, matmul } from "../ops/dense.js";
import { avgPool2d, globalAvgPool, globalMaxPool, maxPool2d, pool2dOutputShape, type Pool2dOptions } from "../ops/pool.js";
import { leakyRelu, prelu, sigmoid, tanh } from "../ops/activation.js";
import { logSoftmax, softmax } from "../ops/softmax.js";
import { batchNormInference } from "../ops/batchnorm.js";
import { lrn } from "../ops/lrn.js";
import { concat } from "../ops/concat.js";
import type { Tensor } from "../tensor.js";
import type { Attributes } from "./attributes.js";
import {
  broadcastMap,
  broadcastShapes,
  broadcastTo,
  type HostData,
  padHost,
  padOutputShape,
  type PadMode,
  permute,
  resizeNearest,
  sizeOfDims,
  stridesOf,
} from "./host.js";
import { DataType, dataTypeName, type TensorProto } from "./onnx-proto.js";
import { isFloatType, type Layout, type RunContext, Value } from "./value.js";

export interface OnnxOp<A = any> {
  /** Parses and checks the node's attributes for the model's opset (at import). */
  parse(at: Attributes, opset: number): A;
  /** Computes the outputs (one Value per requested output). `inputs[i]` is undefined for an omitted optional input. */
  run(ctx: RunContext, inputs: (Value | undefined)[], a: A, outputs: number): Value[];
  /** Converts constant inputs (weights) to their device form once, at import. */
  prepare?(ctx: RunContext, inputs: (Value | undefined)[], a: A): void;
  /**
   * Static shape inference at import: output shapes (ONNX order) from input shapes, with the data
   * of constant inputs where the op needs it. Returns undefined for an output it cannot tell.
   * Ops without it stop shape propagation (their outputs' shapes are known only when run).
   */
  shape?(ctx: RunContext, inputs: (ShapeInfo | undefined)[], a: A): (readonly number[] | undefined)[];
  /** Whether the node may be evaluated at import when every input is constant (default true). */
  fold?: boolean;
  /** The outputs depend only on the input SHAPES (Shape): evaluated at import once those are known. */
  foldOnShapes?: boolean;
}

/** What shape inference knows about an input: its shape, and its data if it is a constant. */
export interface ShapeInfo {
  shape: readonly number[];
  value?: Value;
}

const NHWC = (s: readonly number[]) => [s[0]!, s[2]!, s[3]!, s[1]!];
const NCHW = (s: readonly number[]) => [s[0]!, s[3]!, s[1]!, s[2]!];
const sameShape = (_ctx: RunContext, inputs: (ShapeInfo | undefined)[]) => [inputs[0]?.shape];
const known = (ctx: RunContext, inputs: (ShapeInfo | undefined)[], i: number, name: string): ShapeInfo =>
  inputs[i] ?? ctx.fail(`input ${i} (${name}) is required`);

// ---------------------------------------------------------------------------------------------
// helpers

const need = (ctx: RunContext, inputs: (Value | undefined)[], i: number, name: string): Value => inputs[i] ?? ctx.fail(`input ${i} (${name}) is required`);

const normAxis = (ctx: RunContext, axis: number, rank: number): number => {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) ctx.fail(`axis ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
};

/** Largest dimension of any value: sizes are 32-bit in the kernels and the format. */
const MAX_DIM = 2 ** 31 - 1;

/**
 * Checks the shape of a result built HOST-SIDE (in JavaScript arrays) before it is allocated:
 * integer dimensions from 0 to 2^31 - 1, and `bytesPerElement` bytes an element (every array the
 * construction makes) within the engine's memory budget (OutOfMemoryError otherwise). Returns the
 * element count.
 */
function hostResult(ctx: RunContext, dims: readonly number[], bytesPerElement: number, what: string): number {
  if (dims.some((d) => !Number.isInteger(d) || d < 0 || d > MAX_DIM))
    ctx.fail(`${what} would have shape ${fmtShape(dims)}: dimensions must be integers from 0 to ${MAX_DIM}`);
  const n = sizeOfDims(dims);
  checkBudget(ctx.engine, n * bytesPerElement, `${ctx.where}: ${what} of shape ${fmtShape(dims)} (${n} elements, built host-side)`);
  return n;
}

/** Bytes an element of a host array of `dataType` takes (Float32Array for FLOAT, else Float64Array). */
const hostBytes = (dataType: number): number => (dataType === DataType.FLOAT ? 4 : 8);

/** The NHWC axis of an ONNX (NCHW) axis of a rank-4 tensor. */
const NHWC_AXIS = [0, 3, 1, 2];

/** A float Value computed on the host. */
const hostFloat = (dims: readonly number[], data: HostData): Value => Value.fromHost(dims, data instanceof Float32Array ? data : Float32Array.from(data));

/** The same data under a new ONNX shape (ONNX element order is kept; a device copy). */
function reshaped(ctx: RunContext, v: Value, shape: readonly number[]): Value {
  if (sizeOfDims(shape) !== v.size) ctx.fail(`cannot reshape ${fmtShape(v.shape)} to ${fmtShape(shape)}`);
  if (!isFloatType(v.dataType) || (!v.dev && v.host)) return Value.fromHost(shape, ctx.host(v), v.dataType);
  if (v.layout === "nhwc") return Value.fromHost(shape, ctx.host(v), v.dataType);
  const t = ctx.engine.tensor([...shape], v.dev!.data);
  return Value.fromDevice(shape, t);
}

/** Same-shape unary device op, keeping the input's layout. */
function unary(f: (x: Tensor) => Tensor): OnnxOp<void> {
  return {
    parse: () => undefined,
    shape: sameShape,
    run(ctx, inputs) {
      const x = need(ctx, inputs, 0, "X");
      const { t, layout } = ctx.anyTensor(x);
      return [Value.fromDevice(x.shape, f(t), layout)];
    },
  };
}

/**
 * Runs a per-channel op (BatchNormalization, LRN) on a device tensor of x whose LAST axis is ONNX
 * axis 1 (channels) and returns its result as a Value; a temporary layout copy is freed whatever
 * `op` does.
 */
function channelsLast(ctx: RunContext, x: Value, op: (t: Tensor) => Tensor): Value {
  if (x.rank === 4) return Value.fromDevice(x.shape, op(ctx.tensor(x, "nhwc")), "nhwc");
  if (x.rank === 2) return Value.fromDevice(x.shape, op(ctx.tensor(x, "onnx")));
  if (x.rank < 2) ctx.fail(`expects rank >= 2 ([N, C, ...]), got ${fmtShape(x.shape)}`);
  // HOST-SIDE layout change for rank 3 / 5+: [N, C, ...] <-> [N, ..., C].
  const r = x.rank;
  const toLast = [0, ...Array.from({ length: r - 2 }, (_, i) => i + 2), 1];
  const back = [0, r - 1, ...Array.from({ length: r - 2 }, (_, i) => i + 1)];
  const lastShape = toLast.map((p) => x.shape[p]!);
  const t = ctx.engine.tensor(lastShape, permute(ctx.host(x), x.shape, toLast));
  try {
    const y = op(t);
    try {
      return hostFloat(x.shape, permute(y.data.slice(), lastShape, back));
    } finally {
      if (y !== t) y.dispose();
    }
  } finally {
    t.dispose();
  }
}

/** A per-channel parameter [C] as a device tensor. */
function channelVector(ctx: RunContext, v: Value, c: number, name: string): Tensor {
  if (v.size !== c) ctx.fail(`${name} must have ${c} elements (one per channel), got shape ${fmtShape(v.shape)}`);
  return ctx.derive(v, "vector", () => ctx.engine.tensor([c], ctx.host(v)));
}

/** 2-D spatial attributes shared by Conv, ConvTranspose and the pools. */
interface Spatial {
  kernel?: [number, number];
  strides: [number, number];
  pads: [number, number, number, number];
  autoPad: AutoPad;
  dilations: [number, number];
}

/** Checks that every value of an int list attribute is an integer from `min` to 2^31 - 1 (the kernels' i32). */
function int32s(at: Attributes, name: string, v: number[], min: number): number[] {
  if (v.some((x) => !Number.isSafeInteger(x) || x < min || x > MAX_DIM))
    fail(at.where, `${name} [${v.join(",")}] must hold integers from ${min} to ${MAX_DIM}`);
  return v;
}

function pair(at: Attributes, name: string, fallback: number, min = 1): [number, number] {
  const v = at.ints(name);
  if (v === undefined) return [fallback, fallback];
  if (v.length !== 2) fail(at.where, `${name} must have 2 values (2-D only), got [${v.join(",")}]`);
  int32s(at, name, v, min);
  return [v[0]!, v[1]!];
}

function spatial(at: Attributes, needKernel: boolean): Spatial {
  const k = at.ints("kernel_shape");
  if (k === undefined && needKernel) fail(at.where, "kernel_shape is required");
  if (k !== undefined && k.length !== 2) fail(at.where, `only 2-D is supported: kernel_shape [${k.join(",")}]`);
  if (k) int32s(at, "kernel_shape", k, 1);
  const p = at.ints("pads") ?? [0, 0, 0, 0];
  if (p.length !== 4) fail(at.where, `pads must have 4 values (2-D only), got [${p.join(",")}]`);
  int32s(at, "pads", p, 0);
  const autoPad = at.string("auto_pad", "NOTSET") as AutoPad;
  if (!["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].includes(autoPad)) fail(at.where, `auto_pad "${autoPad}" is not valid`);
  return {
    kernel: k ? [k[0]!, k[1]!] : undefined,
    strides: pair(at, "strides", 1),
    // ONNX pads are [x1_begin, x2_begin, x1_end, x2_end] = [top, left, bottom, right]
    pads: [p[0]!, p[1]!, p[2]!, p[3]!],
    autoPad,
    dilations: pair(at, "dilations", 1),
  };
}

const convOptions = (s: Spatial, groups: number) =>
  s.autoPad === "NOTSET"
    ? { strides: s.strides, pads: s.pads, dilations: s.dilations, groups }
    : { strides: s.strides, autoPad: s.autoPad, dilations: s.dilations, groups };

/** OIHW (Conv) or IOHW (ConvTranspose) weights -> [KH, KW, dim1, dim0]: the same permutation for both. */
function packedConvWeights(ctx: RunContext, w: Value): Tensor {
  if (w.rank !== 4) ctx.fail(`weights must be rank 4 (2-D convolution), got ${fmtShape(w.shape)}`);
  return ctx.derive(w, "conv-weights", () => {
    const [d0, d1, kh, kw] = w.shape as [number, number, number, number];
    return ctx.engine.tensor([kh, kw, d1, d0], permute(ctx.host(w), w.shape, [2, 3, 1, 0]));
  });
}

function checkKernel(ctx: RunContext, s: Spatial, w: Value): void {
  if (s.kernel && (s.kernel[0] !== w.shape[2] || s.kernel[1] !== w.shape[3])) {
    ctx.fail(`kernel_shape [${s.kernel.join(",")}] does not match weights ${fmtShape(w.shape)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// convolution and pooling

interface ConvAttrs {
  s: Spatial;
  groups: number;
}

const Conv: OnnxOp<ConvAttrs> = {
  parse: (at) => ({ s: spatial(at, false), groups: int32s(at, "group", [at.int("group", 1)], 1)[0]! }),
  shape(ctx, inputs, { s, groups }) {
    const x = known(ctx, inputs, 0, "X").shape,
      w = known(ctx, inputs, 1, "W").shape;
    if (x.length !== 4 || w.length !== 4) ctx.fail(`only 2-D convolution is supported: X ${fmtShape(x)}, W ${fmtShape(w)}`);
    return [NCHW(conv2dOutputShape(NHWC(x), [w[2]!, w[3]!, w[1]!, w[0]!], convOptions(s, groups)))];
  },
  prepare(ctx, inputs) {
    if (inputs[1]?.constant) packedConvWeights(ctx, inputs[1]);
  },
  run(ctx, inputs, { s, groups }) {
    const x = need(ctx, inputs, 0, "X"),
      w = need(ctx, inputs, 1, "W"),
      b = inputs[2];
    if (x.rank !== 4) ctx.fail(`only 2-D convolution is supported: X has shape ${fmtShape(x.shape)}`);
    checkKernel(ctx, s, w);
    const wt = packedConvWeights(ctx, w);
    const bt = b ? channelVector(ctx, b, w.shape[0]!, "B") : null;
    const y = conv2d(ctx.tensor(x, "nhwc"), wt, bt, convOptions(s, groups));
    const [n, oh, ow, oc] = y.shape as number[];
    return [Value.fromDevice([n!, oc!, oh!, ow!], y, "nhwc")];
  },
};

interface ConvTransposeAttrs extends ConvAttrs {
  outputPadding: [number, number];
  outputShape?: [number, number];
}

const ConvTranspose: OnnxOp<ConvTransposeAttrs> = {
  parse(at) {
    const os = at.ints("output_shape");
    if (os) int32s(at, "output_shape", os, 0);
    return {
      s: spatial(at, false),
      groups: int32s(at, "group", [at.int("group", 1)], 1)[0]!,
      outputPadding: pair(at, "output_padding", 0, 0),
      outputShape: os ? [os[os.length - 2]!, os[os.length - 1]!] : undefined,
    };
  },
  shape(ctx, inputs, { s, groups, outputPadding, outputShape }) {
    const x = known(ctx, inputs, 0, "X").shape,
      w = known(ctx, inputs, 1, "W").shape;
    if (x.length !== 4 || w.length !== 4) ctx.fail(`only 2-D transposed convolution is supported: X ${fmtShape(x)}, W ${fmtShape(w)}`);
    return [NCHW(convTranspose2dOutputShape(NHWC(x), [w[2]!, w[3]!, w[1]!, w[0]!], { ...convOptions(s, groups), outputPadding, outputShape }))];
  },
  prepare(ctx, inputs) {
    if (inputs[1]?.constant) packedConvWeights(ctx, inputs[1]);
  },
  run(ctx, inputs, { s, groups, outputPadding, outputShape }) {
    const x = need(ctx, inputs, 0, "X"),
      w = need(ctx, inputs, 1, "W"),
      b = inputs[2];
    if (x.rank !== 4) ctx.fail(`only 2-D transposed convolution is supported: X has shape ${fmtShape(x.shape)}`);
    checkKernel(ctx, s, w);
    const wt = packedConvWeights(ctx, w);
    const bt = b ? channelVector(ctx, b, w.shape[1]! * groups, "B") : null;
    const y = convTranspose2d(ctx.tensor(x, "nhwc"), wt, bt, { ...convOptions(s, groups), outputPadding, outputShape });
    const [n, oh, ow, oc] = y.shape as number[];
    return [Value.fromDevice([n!, oc!, oh!, ow!], y, "nhwc")];
  },
};

interface PoolAttrs {
  options: Pool2dOptions;
}

function poolParse(at: Attributes, opset: number, average: boolean): PoolAttrs {
  const s = spatial(at, true);
  if (at.int("storage_order", 0) !== 0) fail(at.where, "storage_order 1 is not supported");
  const options: Pool2dOptions = {
    kernel: s.kernel!,
    strides: s.strides,
    dilations: s.dilations,
    ceilMode: at.int("ceil_mode", 0) === 1,
    countIncludePad: average && at.int("count_include_pad", 0) === 1,
  };
  if (s.autoPad === "NOTSET") options.pads = s.pads;
  else options.autoPad = s.autoPad;
  void opset;
  return { options };
}

const poolOutput = (y: Tensor): Value => {
  const [n, oh, ow, c] = y.shape as number[];
  return Value.fromDevice([n!, c!, oh!, ow!], y, "nhwc");
};

const rank4 = (ctx: RunContext, x: Value): Tensor => {
  if (x.rank !== 4) ctx.fail(`only 2-D pooling is supported: X has shape ${fmtShape(x.shape)}`);
  return ctx.tensor(x, "nhwc");
};

function poolShape(ctx: RunContext, inputs: (ShapeInfo | undefined)[], { options }: PoolAttrs) {
  const x = known(ctx, inputs, 0, "X").shape;
  if (x.length !== 4) ctx.fail(`only 2-D pooling is supported: X has shape ${fmtShape(x)}`);
  return [NCHW(pool2dOutputShape(NHWC(x), options))];
}

function globalPoolShape(ctx: RunContext, inputs: (ShapeInfo | undefined)[]) {
  const x = known(ctx, inputs, 0, "X").shape;
  if (x.length !== 4) ctx.fail(`only 2-D pooling is supported: X has shape ${fmtShape(x)}`);
  return [[x[0]!, x[1]!, 1, 1]];
}

const MaxPool: OnnxOp<PoolAttrs> = {
  parse: (at, opset) => poolParse(at, opset, false),
  shape: poolShape,
  run(ctx, inputs, { options }, outputs) {
    if (outputs > 1) ctx.fail("the Indices output is not supported");
    const { y, argmax } = maxPool2d(rank4(ctx, need(ctx, inputs, 0, "X")), options);
    argmax.dispose();
    return [poolOutput(y)];
  },
};

const AveragePool: OnnxOp<PoolAttrs> = {
  parse: (at, opset) => poolParse(at, opset, true),
  shape: poolShape,
  run: (ctx, inputs, { options }) => [poolOutput(avgPool2d(rank4(ctx, need(ctx, inputs, 0, "X")), options))],
};

const GlobalAveragePool: OnnxOp<void> = {
  parse: () => undefined,
  shape: globalPoolShape,
  run: (ctx, inputs) => [poolOutput(globalAvgPool(rank4(ctx, need(ctx, inputs, 0, "X"))))],
};

const GlobalMaxPool: OnnxOp<void> = {
  parse: () => undefined,
  shape: globalPoolShape,
  run(ctx, inputs) {
    const { y, argmax } = globalMaxPool(rank4(ctx, need(ctx, inputs, 0, "X")));
    argmax.dispose();
    return [poolOutput(y)];
  },
};

// ---------------------------------------------------------------------------------------------
// dense

interface GemmAttrs {
  alpha: number;
  beta: number;
  transA: boolean;
  transB: boolean;
}

const Gemm: OnnxOp<GemmAttrs> = {
  parse: (at) => ({
    alpha: at.float("alpha", 1),
    beta: at.float("beta", 1),
    transA: at.int("transA", 0) === 1,
    transB: at.int("transB", 0) === 1,
  }),
  shape(ctx, inputs, { transA, transB }) {
    const A = known(ctx, inputs, 0, "A").shape,
      B = known(ctx, inputs, 1, "B").shape;
    if (A.length !== 2 || B.length !== 2) ctx.fail(`A and B must be rank 2, got ${fmtShape(A)} and ${fmtShape(B)}`);
    const k = transA ? A[0] : A[1],
      k2 = transB ? B[1] : B[0];
    if (k !== k2) ctx.fail(`inner dimensions differ: A ${fmtShape(A)}${transA ? "^T" : ""} x B ${fmtShape(B)}${transB ? "^T" : ""}`);
    return [[transA ? A[1]! : A[0]!, transB ? B[0]! : B[1]!]];
  },
  run(ctx, inputs, a) {
    const A = need(ctx, inputs, 0, "A"),
      B = need(ctx, inputs, 1, "B"),
      C = inputs[2];
    if (A.rank !== 2 || B.rank !== 2) ctx.fail(`A and B must be rank 2, got ${fmtShape(A.shape)} and ${fmtShape(B.shape)}`);
    const y = gemm(ctx.tensor(A), ctx.tensor(B), C ? ctx.tensor(C) : null, a);
    return [Value.fromDevice(y.shape, y)];
  },
};

/** HOST-SIDE batched matmul (numpy semantics: 1-D operands promoted, batch dims broadcast) for ranks other than 2. */
function matmulHost(ctx: RunContext, a: Value, b: Value): Value {
  const aVec = a.rank === 1,
    bVec = b.rank === 1;
  const as = aVec ? [1, a.shape[0]!] : [...a.shape];
  const bs = bVec ? [b.shape[0]!, 1] : [...b.shape];
  const [m, k] = as.slice(-2) as [number, number];
  const [k2, n] = bs.slice(-2) as [number, number];
  if (k !== k2) ctx.fail(`inner dimensions differ: ${fmtShape(a.shape)} x ${fmtShape(b.shape)}`);
  const batchA = as.slice(0, -2),
    batchB = bs.slice(0, -2);
  const batch = broadcastShapes("MatMul", [batchA, batchB]);
  hostResult(ctx, [...batch, m, n], 4, "the product");
  hostResult(ctx, batch, 16, "the product's matrix index");
  // for each output batch index, the matrix index in a and in b (broadcast)
  const matrixIndex = (dims: number[]) =>
    broadcastTo(
      Float64Array.from({ length: sizeOfDims(dims) }, (_, i) => i),
      dims,
      batch,
    );
  const ia = matrixIndex(batchA),
    ib = matrixIndex(batchB);
  const A = ctx.host(a),
    B = ctx.host(b);
  const out = new Float32Array(ia.length * m * n);
  for (let t = 0; t < ia.length; t++) {
    const ao = ia[t]! * m * k,
      bo = ib[t]! * k * n,
      yo = t * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += A[ao + i * k + p]! * B[bo + p * n + j]!;
        out[yo + i * n + j] = s;
      }
    }
  }
  return hostFloat([...batch, ...(aVec ? [] : [m]), ...(bVec ? [] : [n])], out);
}

const MatMul: OnnxOp<void> = {
  parse: () => undefined,
  run(ctx, inputs) {
    const a = need(ctx, inputs, 0, "A"),
      b = need(ctx, inputs, 1, "B");
    if (a.rank !== 2 || b.rank !== 2) return [matmulHost(ctx, a, b)];
    const y = matmul(ctx.tensor(a), ctx.tensor(b));
    return [Value.fromDevice(y.shape, y)];
  },
};

// ---------------------------------------------------------------------------------------------
// activations and normalisation

const LeakyRelu: OnnxOp<{ alpha: number }> = {
  parse: (at) => ({ alpha: at.float("alpha", 0.01) }),
  shape: sameShape,
  run(ctx, inputs, { alpha }) {
    const x = need(ctx, inputs, 0, "X");
    const { t, layout } = ctx.anyTensor(x);
    return [Value.fromDevice(x.shape, leakyRelu(t, alpha), layout)];
  },
};

const PRelu: OnnxOp<void> = {
  parse: () => undefined,
  shape: sameShape,
  run(ctx, inputs) {
    const x = need(ctx, inputs, 0, "X"),
      slope = need(ctx, inputs, 1, "slope");
    const { t, layout } = ctx.anyTensor(x);
    // The kernel takes one slope per element of the device tensor's last axis, or a shared one.
    const r = x.rank;
    // opset < 7: a 1-D slope of C values is per channel (axis 1), not numpy-broadcast
    const legacy = ctx.opset < 7 && slope.rank === 1 && r >= 2 && slope.size === x.shape[1] && slope.size > 1;
    const slopeShape = legacy ? [x.shape[1]!, ...new Array<number>(r - 2).fill(1)] : slope.shape;
    const sd = [...new Array<number>(Math.max(0, r - slopeShape.length)).fill(1), ...slopeShape];
    const lastAxis = layout === "nhwc" ? 1 : r - 1;
    if (slopeShape.length <= r && sd.every((d, i) => d === 1 || i === lastAxis) && (slope.size === 1 || sd[lastAxis] === x.shape[lastAxis])) {
      const st = ctx.derive(slope, "prelu", () => ctx.engine.tensor([slope.size], ctx.host(slope)));
      return [Value.fromDevice(x.shape, prelu(t, st), layout)];
    }
    // HOST-SIDE: a slope broadcast over more than the channel axis.
    hostResult(ctx, broadcastShapes("PRelu", [x.shape, slopeShape]), 20, "the output");
    const y = broadcastMap(
      "PRelu",
      [
        { data: ctx.host(x), dims: x.shape },
        { data: ctx.host(slope), dims: slopeShape },
      ],
      (v, s) => (v < 0 ? v * s : v),
    );
    if (y.dims.length !== r || y.dims.some((d, i) => d !== x.shape[i])) ctx.fail(`slope ${fmtShape(slope.shape)} does not broadcast to X ${fmtShape(x.shape)}`);
    return [hostFloat(y.dims, y.data)];
  },
};

interface SoftmaxAttrs {
  axis: number;
  coerce2d: boolean;
}

function softmaxOp(f: (x: Tensor, out?: Tensor) => Tensor): OnnxOp<SoftmaxAttrs> {
  return {
    parse: (at, opset) => ({ axis: at.int("axis", opset < 13 ? 1 : -1), coerce2d: opset < 13 }),
    shape: sameShape,
    run(ctx, inputs, { axis, coerce2d }) {
      const x = need(ctx, inputs, 0, "input");
      const r = x.rank;
      const ax = normAxis(ctx, axis, Math.max(r, 1));
      const e = ctx.engine;
      if (x.dev && x.layout === "nhwc" && (coerce2d ? ax === 1 && x.shape[2] === 1 && x.shape[3] === 1 : ax === 1)) {
        return [Value.fromDevice(x.shape, f(x.dev), "nhwc")]; // channels are the NHWC last axis
      }
      if (coerce2d || ax === r - 1) {
        // rows x cols in ONNX order: coerce to [prod(dims[:axis]), prod(dims[axis:])]
        const cols = coerce2d ? sizeOfDims(x.shape.slice(ax)) : x.shape[r - 1]!;
        const t = ctx.tensor(x);
        const y = e.empty(x.shape, "f32", "softmax output");
        try {
          f(ctx.view(t, [x.size / Math.max(cols, 1), cols]), ctx.view(y, [x.size / Math.max(cols, 1), cols]));
        } catch (err) {
          y.dispose();
          throw err;
        }
        return [Value.fromDevice(x.shape, y)];
      }
      // HOST-SIDE: move the axis last, run the kernel, move it back.
      const toLast = [...Array.from({ length: r }, (_, i) => i).filter((i) => i !== ax), ax];
      const back = toLast.map((_, i) => toLast.indexOf(i));
      const lastShape = toLast.map((p) => x.shape[p]!);
      const t = e.tensor(lastShape, permute(ctx.host(x), x.shape, toLast));
      try {
        f(t, t);
        return [hostFloat(x.shape, permute(t.data.slice(), lastShape, back))];
      } finally {
        t.dispose();
      }
    },
  };
}

const BatchNormalization: OnnxOp<{ epsilon: number }> = {
  parse(at, opset) {
    if (at.int("training_mode", 0) !== 0) fail(at.where, "training_mode 1 is not supported (inference import)");
    if (opset < 9 && at.int("spatial", 1) !== 1) fail(at.where, "spatial 0 is not supported");
    return { epsilon: at.float("epsilon", 1e-5) };
  },
  shape: sameShape,
  run(ctx, inputs, { epsilon }, outputs) {
    if (outputs > 1) ctx.fail("the training outputs (running mean / var) are not supported");
    const x = need(ctx, inputs, 0, "X");
    const c = x.shape[1] ?? ctx.fail(`X must be [N, C, ...], got ${fmtShape(x.shape)}`);
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) =>
      channelVector(ctx, need(ctx, inputs, i, ["", "scale", "B", "mean", "var"][i]!), c, ["", "scale", "B", "mean", "var"][i]!),
    );
    return [channelsLast(ctx, x, (t) => batchNormInference(t, scale!, bias!, mean!, variance!, { epsilon }))];
  },
};

const LRN: OnnxOp<{ size: number; alpha: number; beta: number; bias: number }> = {
  parse: (at) => ({
    size: int32s(at, "size", [at.int("size", 0)], 1)[0]!,
    alpha: at.float("alpha", 1e-4),
    beta: at.float("beta", 0.75),
    bias: at.float("bias", 1),
  }),
  shape: sameShape,
  run(ctx, inputs, options) {
    return [channelsLast(ctx, need(ctx, inputs, 0, "X"), (t) => lrn(t, options))];
  },
};

const Dropout: OnnxOp<void> = {
  parse(at) {
    if (at.int("training_mode", 0) !== 0) fail(at.where, "training_mode is not supported");
  },
  shape: (_ctx, inputs) => [inputs[0]?.shape, inputs[0]?.shape],
  run(ctx, inputs, _a, outputs) {
    const x = need(ctx, inputs, 0, "data");
    const training = inputs[2];
    if (training && ctx.host(training)[0]) ctx.fail("training_mode true is not supported (inference import)");
    const out = [x]; // inference: the identity
    if (outputs > 1) {
      hostResult(ctx, x.shape, 8, "the mask");
      out.push(Value.fromHost(x.shape, new Float64Array(x.size).fill(1), DataType.BOOL));
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// elementwise with broadcasting

function binaryHost(name: string, f: (a: number, b: number) => number): OnnxOp<{ legacyAxis?: number }> {
  return {
    parse(at, opset) {
      if (opset < 7 && at.int("broadcast", 0) === 1 && at.has("axis")) return { legacyAxis: at.int("axis", 0) };
      return {};
    },
    shape: (_ctx, inputs, { legacyAxis }) =>
      legacyAxis === undefined
        ? [
            broadcastShapes(
              name,
              inputs.filter((v): v is ShapeInfo => v !== undefined).map((v) => v.shape),
            ),
          ]
        : [inputs[0]?.shape],
    run(ctx, inputs, { legacyAxis }) {
      const vs = inputs.filter((v): v is Value => v !== undefined);
      if (vs.length === 0) ctx.fail("needs at least one input");
      const first = vs[0]!;
      // device fast path: every input float and of one shape (add kernel)
      if (name === "Add" || name === "Sum") {
        if (vs.length === 1) return [first];
        if (vs.every((v) => isFloatType(v.dataType) && v.shape.length === first.shape.length && v.shape.every((d, i) => d === first.shape[i]))) {
          const layout: Layout = vs.find((v) => v.dev)?.layout ?? "onnx";
          let acc = add(ctx.tensor(vs[0]!, layout), ctx.tensor(vs[1]!, layout));
          for (const v of vs.slice(2)) acc = add(acc, ctx.tensor(v, layout), acc);
          return [Value.fromDevice(first.shape, acc, layout)];
        }
      }
      // HOST-SIDE broadcasting
      const items = vs.map((v, i) => {
        let dims = [...v.shape];
        if (legacyAxis !== undefined && i > 0) {
          const ax = normAxis(ctx, legacyAxis, first.rank); // opset < 7: align B at axis
          if (ax + dims.length > first.rank) ctx.fail(`input ${i} ${fmtShape(dims)} does not fit ${fmtShape(first.shape)} from axis ${ax} (legacy broadcast)`);
          dims = [...dims, ...new Array<number>(first.rank - ax - dims.length).fill(1)];
        }
        return { data: ctx.host(v), dims };
      });
      hostResult(
        ctx,
        broadcastShapes(
          name,
          items.map((v) => v.dims),
        ),
        12 + 8 * items.length,
        "the output",
      );
      const y = broadcastMap(name, items, f);
      if (isFloatType(first.dataType)) return [hostFloat(y.dims, y.data)];
      return [
        Value.fromHost(
          y.dims,
          Float64Array.from(y.data, (x) => (first.dataType === DataType.INT64 || first.dataType === DataType.INT32 ? Math.trunc(x) : x)),
          first.dataType,
        ),
      ];
    },
  };
}

// ---------------------------------------------------------------------------------------------
// shape and data movement

/** HOST-SIDE concat along an axis of ONNX-order data. */
function concatHost(ctx: RunContext, vs: Value[], ax: number): Value {
  const first = vs[0]!;
  const dims = [...first.shape];
  dims[ax] = vs.reduce((a, v) => a + v.shape[ax]!, 0);
  hostResult(ctx, dims, hostBytes(first.dataType), "the output");
  const outer = sizeOfDims(first.shape.slice(0, ax));
  const out = first.dataType === DataType.FLOAT ? new Float32Array(sizeOfDims(dims)) : new Float64Array(sizeOfDims(dims));
  const rowOut = sizeOfDims(dims.slice(ax));
  let col = 0;
  for (const v of vs) {
    const src = ctx.host(v);
    const row = sizeOfDims(v.shape.slice(ax));
    for (let o = 0; o < outer; o++) out.set(src.subarray(o * row, (o + 1) * row), o * rowOut + col);
    col += row;
  }
  return Value.fromHost(dims, out, first.dataType);
}

const Concat: OnnxOp<{ axis: number }> = {
  parse: (at, opset) => ({ axis: at.int("axis", opset < 4 ? 1 : Number.NaN) }),
  shape(ctx, inputs, { axis }) {
    const vs = inputs.filter((v): v is ShapeInfo => v !== undefined);
    if (vs.length === 0 || Number.isNaN(axis)) return [undefined];
    const ax = normAxis(ctx, axis, vs[0]!.shape.length);
    const out = [...vs[0]!.shape];
    for (const v of vs) {
      if (v.shape.length !== out.length || v.shape.some((d, i) => i !== ax && d !== out[i])) {
        ctx.fail(`inputs ${vs.map((u) => fmtShape(u.shape)).join(", ")} differ outside axis ${ax}`);
      }
    }
    out[ax] = vs.reduce((a, v) => a + v.shape[ax]!, 0);
    return [out];
  },
  run(ctx, inputs, { axis }) {
    const vs = inputs.filter((v): v is Value => v !== undefined);
    if (vs.length === 0) ctx.fail("needs at least one input");
    if (Number.isNaN(axis)) ctx.fail("attribute axis is required");
    const first = vs[0]!;
    const ax = normAxis(ctx, axis, first.rank);
    for (const v of vs) {
      if (v.rank !== first.rank || v.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
        ctx.fail(`inputs ${vs.map((u) => fmtShape(u.shape)).join(", ")} differ outside axis ${ax}`);
      }
    }
    const nonEmpty = vs.filter((v) => v.size > 0);
    if (!isFloatType(first.dataType) || vs.every((v) => !v.dev) || nonEmpty.length === 0) return [concatHost(ctx, vs, ax)];
    const layout: Layout = first.rank === 4 && vs.some((v) => v.dev && v.layout === "nhwc") ? "nhwc" : "onnx";
    const dax = layout === "nhwc" ? NHWC_AXIS[ax]! : ax;
    const y = concat(
      nonEmpty.map((v) => ctx.tensor(v, layout)),
      dax,
    );
    const shape = [...first.shape];
    shape[ax] = vs.reduce((a, v) => a + v.shape[ax]!, 0);
    return [Value.fromDevice(shape, y, layout)];
  },
};

const Flatten: OnnxOp<{ axis: number }> = {
  parse: (at) => ({ axis: at.int("axis", 1) }),
  shape(ctx, inputs, { axis }) {
    const x = known(ctx, inputs, 0, "input").shape;
    const ax = axis === x.length ? x.length : normAxis(ctx, axis, x.length);
    return [[sizeOfDims(x.slice(0, ax)), sizeOfDims(x.slice(ax))]];
  },
  run(ctx, inputs, { axis }) {
    const x = need(ctx, inputs, 0, "input");
    const ax = axis === x.rank ? x.rank : normAxis(ctx, axis, x.rank);
    return [reshaped(ctx, x, [sizeOfDims(x.shape.slice(0, ax)), sizeOfDims(x.shape.slice(ax))])];
  },
};

/** ONNX Reshape's target shape: 0 copies the input dimension (unless allowzero), -1 is inferred. */
function reshapeTarget(ctx: RunContext, from: readonly number[], spec: number[], allowZero: boolean): number[] {
  const out = spec.map((d, i) =>
    d === 0 && !allowZero ? (from[i] ?? ctx.fail(`shape [${spec.join(",")}] copies dimension ${i} that ${fmtShape(from)} lacks`)) : d,
  );
  const unknown = out.filter((d) => d === -1).length;
  if (unknown > 1 || out.some((d) => d < -1)) ctx.fail(`invalid shape [${spec.join(",")}]`);
  if (unknown === 1) {
    const known = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const total = sizeOfDims(from);
    if (known === 0 || total % known !== 0) ctx.fail(`cannot reshape ${fmtShape(from)} to [${spec.join(",")}]`);
    out[out.indexOf(-1)] = total / known;
  }
  return out;
}

const Reshape: OnnxOp<{ shape?: number[]; allowZero: boolean }> = {
  parse: (at, opset) => ({ shape: opset < 5 ? at.ints("shape") : undefined, allowZero: at.int("allowzero", 0) === 1 }),
  shape(ctx, inputs, { shape, allowZero }) {
    const x = known(ctx, inputs, 0, "data").shape;
    const spec = shape ?? (inputs[1]?.value ? ctx.ints(inputs[1].value) : undefined);
    return [spec ? reshapeTarget(ctx, x, spec, allowZero) : undefined];
  },
  run(ctx, inputs, { shape, allowZero }) {
    const x = need(ctx, inputs, 0, "data");
    const spec = shape ?? ctx.ints(need(ctx, inputs, 1, "shape"));
    return [reshaped(ctx, x, reshapeTarget(ctx, x.shape, spec, allowZero))];
  },
};

const Transpose: OnnxOp<{ perm?: number[] }> = {
  parse: (at) => ({ perm: at.ints("perm") }),
  shape(ctx, inputs, { perm }) {
    const x = known(ctx, inputs, 0, "data").shape;
    const p = perm ?? Array.from({ length: x.length }, (_, i) => x.length - 1 - i);
    if (p.length !== x.length || [...p].sort((a, b) => a - b).some((v, i) => v !== i))
      ctx.fail(`perm [${p.join(",")}] is not a permutation of rank ${x.length}`);
    return [p.map((i) => x[i]!)];
  },
  run(ctx, inputs, { perm }) {
    const x = need(ctx, inputs, 0, "data");
    const p = perm ?? Array.from({ length: x.rank }, (_, i) => x.rank - 1 - i);
    if (p.length !== x.rank || [...p].sort((a, b) => a - b).some((v, i) => v !== i)) ctx.fail(`perm [${p.join(",")}] is not a permutation of rank ${x.rank}`);
    const dims = p.map((i) => x.shape[i]!);
    // NHWC device data already is NCHW transposed by [0, 2, 3, 1]: no data movement needed
    if (x.dev && x.layout === "nhwc" && p.join() === "0,2,3,1") return [Value.fromDevice(dims, ctx.engine.tensor(dims, x.dev.data))];
    return [Value.fromHost(dims, permute(ctx.host(x), x.shape, p), x.dataType)]; // HOST-SIDE
  },
};

interface PadAttrs {
  mode: PadMode;
  pads?: number[];
  value: number;
}

const Pad: OnnxOp<PadAttrs> = {
  parse(at, opset) {
    const mode = at.string("mode", "constant") as PadMode;
    if (!["constant", "reflect", "edge"].includes(mode)) fail(at.where, `mode "${mode}" is not supported`);
    if (opset < 11) return { mode, pads: at.ints(opset < 2 ? "paddings" : "pads") ?? fail(at.where, "pads is required"), value: at.float("value", 0) };
    return { mode, value: 0 };
  },
  run(ctx, inputs, { mode, pads, value }) {
    const x = need(ctx, inputs, 0, "data");
    let p = pads ?? ctx.ints(need(ctx, inputs, 1, "pads"));
    const v = pads ? value : inputs[2] && inputs[2].size > 0 ? ctx.host(inputs[2])[0]! : 0;
    if (inputs[3]) {
      const axes = ctx.ints(inputs[3]).map((a) => normAxis(ctx, a, x.rank));
      if (p.length !== 2 * axes.length) ctx.fail(`pads must have ${2 * axes.length} values for axes [${axes.join(",")}], got [${p.join(",")}]`);
      const full = new Array<number>(2 * x.rank).fill(0);
      axes.forEach((a, i) => {
        full[a] = p[i]!;
        full[a + x.rank] = p[i + axes.length]!;
      });
      p = full;
    }
    if (p.length !== 2 * x.rank) ctx.fail(`pads must have ${2 * x.rank} values for ${fmtShape(x.shape)}, got [${p.join(",")}]`);
    hostResult(ctx, padOutputShape(x.shape, p, mode), 8, "the output"); // an index and the data
    const y = padHost(ctx.host(x), x.shape, p, mode, v); // HOST-SIDE
    return [hostFloat(y.dims, y.data)];
  },
};

interface ResizeAttrs {
  mode: string;
  coordinateMode: string;
  nearestMode: string;
  scales?: number[];
  inputsLayout: "upsample7" | "upsample9" | "resize10" | "resize11";
}

function nearestResize(ctx: RunContext, x: Value, scales: number[] | undefined, sizes: number[] | undefined, a: ResizeAttrs): Value {
  if (a.mode !== "nearest") ctx.fail(`mode "${a.mode}" is not supported (only nearest)`);
  let outDims: number[], sc: number[];
  if (sizes && sizes.length > 0) {
    if (sizes.length !== x.rank) ctx.fail(`sizes must have ${x.rank} values`);
    outDims = sizes;
    sc = sizes.map((s, i) => s / x.shape[i]!);
  } else {
    if (!scales || scales.length !== x.rank) ctx.fail(`scales must have ${x.rank} values, got [${scales?.join(",") ?? ""}]`);
    if (scales.some((s) => !(s > 0 && s < Infinity))) ctx.fail(`scales must be positive and finite, got [${scales.join(",")}]`);
    sc = scales;
    outDims = x.shape.map((d, i) => Math.floor(d * scales[i]!));
  }
  hostResult(ctx, outDims, 8, "the output"); // an index and the data
  if (outDims.reduce((a, d) => a + d, 0) * 4 > ctx.engine.heap.bytesAvailable) hostResult(ctx, [outDims.reduce((a, d) => a + d, 0)], 4, "the per-axis index");
  const y = resizeNearest(ctx.host(x), x.shape, outDims, sc, a); // HOST-SIDE
  return hostFloat(outDims, y);
}

const Upsample: OnnxOp<ResizeAttrs> = {
  parse: (at, opset) => ({
    mode: at.string("mode", "nearest"),
    coordinateMode: "asymmetric",
    nearestMode: "floor",
    scales: opset < 9 ? at.floats("scales") : undefined,
    inputsLayout: opset < 9 ? "upsample7" : "upsample9",
  }),
  run(ctx, inputs, a) {
    const x = need(ctx, inputs, 0, "X");
    const scales = a.scales ?? Array.from(ctx.host(need(ctx, inputs, 1, "scales")));
    return [nearestResize(ctx, x, scales, undefined, a)];
  },
};

const Resize: OnnxOp<ResizeAttrs> = {
  parse(at, opset) {
    if (opset >= 18 && at.has("axes")) fail(at.where, "attribute axes is not supported");
    if (at.string("keep_aspect_ratio_policy", "stretch") !== "stretch") fail(at.where, "keep_aspect_ratio_policy is not supported");
    return {
      mode: at.string("mode", "nearest"),
      coordinateMode: opset < 11 ? "asymmetric" : at.string("coordinate_transformation_mode", "half_pixel"),
      nearestMode: opset < 11 ? "floor" : at.string("nearest_mode", "round_prefer_floor"),
      inputsLayout: opset < 11 ? "resize10" : "resize11",
    };
  },
  run(ctx, inputs, a) {
    const x = need(ctx, inputs, 0, "X");
    const floats = (v?: Value) => (v && v.size > 0 ? Array.from(ctx.host(v)) : undefined);
    if (a.inputsLayout === "resize10") return [nearestResize(ctx, x, floats(need(ctx, inputs, 1, "scales")), undefined, a)];
    if (a.coordinateMode === "tf_crop_and_resize") ctx.fail("tf_crop_and_resize is not supported");
    return [nearestResize(ctx, x, floats(inputs[2]), inputs[3] && inputs[3].size > 0 ? ctx.ints(inputs[3]) : undefined, a)];
  },
};

const Identity: OnnxOp<void> = { parse: () => undefined, shape: sameShape, run: (ctx, inputs) => [need(ctx, inputs, 0, "input")] };

/** A decoded TensorProto as a host Value. */
export const tensorValue = (t: TensorProto): Value => Value.fromHost(t.dims, t.data, t.dataType);

const Constant: OnnxOp<Value> = {
  parse(at) {
    const t = at.tensor("value");
    if (t) return tensorValue(t);
    if (at.has("value_float")) return Value.fromHost([], Float32Array.of(at.float("value_float", 0)));
    if (at.has("value_floats")) {
      const f = at.floats("value_floats")!;
      return Value.fromHost([f.length], Float32Array.from(f));
    }
    if (at.has("value_int")) return Value.fromHost([], Float64Array.of(at.int("value_int", 0)), DataType.INT64);
    if (at.has("value_ints")) {
      const f = at.ints("value_ints")!;
      return Value.fromHost([f.length], Float64Array.from(f), DataType.INT64);
    }
    fail(at.where, "needs a value, value_float(s) or value_int(s) attribute (sparse and string values are not supported)");
  },
  run: (_ctx, _inputs, v) => [v],
};

const ConstantOfShape: OnnxOp<{ value: number; dataType: number }> = {
  parse(at) {
    const t = at.tensor("value");
    if (t && t.data.length !== 1) fail(at.where, "value must hold exactly one element");
    return { value: t ? t.data[0]! : 0, dataType: t ? t.dataType : DataType.FLOAT };
  },
  run(ctx, inputs, { value, dataType }) {
    const dims = ctx.ints(need(ctx, inputs, 0, "input"));
    const n = hostResult(ctx, dims, hostBytes(dataType), "the output");
    const data = dataType === DataType.FLOAT ? new Float32Array(n) : new Float64Array(n);
    data.fill(value);
    return [Value.fromHost(dims, data, dataType)];
  },
};

const Shape: OnnxOp<{ start: number; end?: number }> = {
  parse: (at) => ({ start: at.int("start", 0), end: at.has("end") ? at.int("end", 0) : undefined }),
  foldOnShapes: true,
  run(ctx, inputs, { start, end }) {
    const x = need(ctx, inputs, 0, "data");
    const r = x.rank;
    const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + r : i, 0), r);
    const dims = x.shape.slice(clamp(start), end === undefined ? r : clamp(end));
    return [Value.fromHost([dims.length], Float64Array.from(dims), DataType.INT64)];
  },
};

const Gather: OnnxOp<{ axis: number }> = {
  parse: (at) => ({ axis: at.int("axis", 0) }),
  run(ctx, inputs, { axis }) {
    const x = need(ctx, inputs, 0, "data"),
      idx = need(ctx, inputs, 1, "indices");
    const ax = normAxis(ctx, axis, x.rank);
    const data = ctx.host(x),
      ind = ctx.ints(idx);
    const len = x.shape[ax]!;
    const outer = sizeOfDims(x.shape.slice(0, ax)),
      inner = sizeOfDims(x.shape.slice(ax + 1));
    const dims = [...x.shape.slice(0, ax), ...idx.shape, ...x.shape.slice(ax + 1)];
    hostResult(ctx, dims, data instanceof Float32Array ? 4 : 8, "the output");
    const out = new (data.constructor as new (n: number) => HostData)(sizeOfDims(dims));
    let o = 0;
    for (let a = 0; a < outer; a++) {
      for (const i0 of ind) {
        const i = i0 < 0 ? i0 + len : i0;
        if (i < 0 || i >= len) ctx.fail(`index ${i0} is out of range for axis of size ${len}`);
        out.set(data.subarray((a * len + i) * inner, (a * len + i + 1) * inner), o);
        o += inner;
      }
    }
    return [Value.fromHost(dims, out, x.dataType)]; // HOST-SIDE (shape plumbing)
  },
};

function axesOp(squeeze: boolean): OnnxOp<{ axes?: number[] }> {
  return {
    parse: (at, opset) => ({ axes: opset < 13 ? at.ints("axes") : undefined }),
    run(ctx, inputs, { axes }) {
      const x = need(ctx, inputs, 0, "data");
      const list = axes ?? (inputs[1] ? ctx.ints(inputs[1]) : undefined);
      let dims: number[];
      if (squeeze) {
        const ax = (list ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => normAxis(ctx, a, x.rank));
        for (const a of ax) if (x.shape[a] !== 1) ctx.fail(`cannot squeeze axis ${a} of ${fmtShape(x.shape)}`);
        dims = x.shape.filter((_, i) => !ax.includes(i));
      } else {
        const given = list ?? ctx.fail("axes is required");
        const r = x.rank + given.length;
        const ax = given.map((a) => normAxis(ctx, a, r));
        dims = [];
        let k = 0;
        for (let i = 0; i < r; i++) dims.push(ax.includes(i) ? 1 : x.shape[k++]!);
      }
      return [reshaped(ctx, x, dims)];
    },
  };
}

const Cast: OnnxOp<{ to: number }> = {
  parse(at) {
    const to = at.int("to", 0);
    if (![DataType.FLOAT, DataType.DOUBLE, DataType.INT64, DataType.INT32, DataType.UINT8, DataType.INT8, DataType.BOOL].includes(to as 1)) {
      fail(at.where, `cast to ${dataTypeName(to)} is not supported`);
    }
    return { to };
  },
  run(ctx, inputs, { to }) {
    const x = need(ctx, inputs, 0, "input");
    hostResult(ctx, x.shape, hostBytes(to), "the output");
    const src = ctx.host(x);
    if (to === DataType.FLOAT) return [Value.fromHost(x.shape, Float32Array.from(src), to)];
    const conv = to === DataType.BOOL ? (v: number) => (v !== 0 ? 1 : 0) : to === DataType.DOUBLE ? (v: number) => v : (v: number) => Math.trunc(v);
    return [Value.fromHost(x.shape, Float64Array.from(src, conv), to)];
  },
};

const Slice: OnnxOp<{ starts?: number[]; ends?: number[]; axes?: number[] }> = {
  parse: (at, opset) => (opset < 10 ? { starts: at.ints("starts"), ends: at.ints("ends"), axes: at.ints("axes") } : {}),
  run(ctx, inputs, a) {
    const x = need(ctx, inputs, 0, "data");
    const starts = a.starts ?? ctx.ints(need(ctx, inputs, 1, "starts"));
    const ends = a.ends ?? ctx.ints(need(ctx, inputs, 2, "ends"));
    const axes = (a.starts ? a.axes : inputs[3] && ctx.ints(inputs[3])) ?? starts.map((_, i) => i);
    const steps = !a.starts && inputs[4] ? ctx.ints(inputs[4]) : starts.map(() => 1);
    const r = x.rank;
    const begin = new Array<number>(r).fill(0),
      step = new Array<number>(r).fill(1),
      dims = [...x.shape];
    axes.forEach((ax0, i) => {
      const ax = normAxis(ctx, ax0, r),
        len = x.shape[ax]!,
        s = steps[i]!;
      if (s === 0) ctx.fail("slice step 0");
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
    const src = ctx.host(x),
      xs = stridesOf(x.shape);
    const n = sizeOfDims(dims);
    const out = new (src.constructor as new (n: number) => HostData)(n);
    const idx = new Array<number>(r).fill(0);
    for (let i = 0; i < n; i++) {
      let off = 0;
      for (let d = 0; d < r; d++) off += (begin[d]! + idx[d]! * step[d]!) * xs[d]!;
      out[i] = src[off]!;
      for (let d = r - 1; d >= 0; d--) {
        if (++idx[d]! < dims[d]!) break;
        idx[d] = 0;
      }
    }
    return [Value.fromHost(dims, out, x.dataType)]; // HOST-SIDE
  },
};

/** Every supported op type of the default ONNX domain. */
export const ONNX_OPS: Readonly<Record<string, OnnxOp>> = {
  Conv,
  ConvTranspose,
  MaxPool,
  AveragePool,
  GlobalAveragePool,
  GlobalMaxPool,
  Gemm,
  MatMul,
  Relu: unary((x) => relu(x)),
  Sigmoid: unary((x) => sigmoid(x)),
  Tanh: unary((x) => tanh(x)),
  LeakyRelu,
  PRelu,
  Softmax: softmaxOp((x, out) => softmax(x, out)),
  LogSoftmax: softmaxOp((x, out) => logSoftmax(x, out)),
  BatchNormalization,
  LRN,
  Dropout,
  Add: binaryHost("Add", (a, b) => a + b),
  Sum: binaryHost("Sum", (a, b) => a + b),
  Sub: binaryHost("Sub", (a, b) => a - b),
  Mul: binaryHost("Mul", (a, b) => a * b),
  Div: binaryHost("Div", (a, b) => a / b),
  Concat,
  Flatten,
  Reshape,
  Transpose,
  Pad,
  Upsample,
  Resize,
  Identity,
  Constant,
  ConstantOfShape,
  Shape,
  Gather,
  Unsqueeze: axesOp(false),
  Squeeze: axesOp(true),
  Cast,
  Slice,
};
