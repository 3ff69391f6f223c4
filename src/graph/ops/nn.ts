// The CNN ops on the existing kernels: Conv, ConvTranspose, pooling, LRN, Gemm, ReLU-family
// activations (Softmax and friends: reduce.ts; MatMul: matmul.ts; BatchNormalization: norm.ts). Image ops run
// channels-last ([N, H, W, C]; 1-D ops as images of height 1), as the kernels want.
import { fail, fmtShape } from "../../errors.js";
import { DataType } from "../../onnx/onnx-proto.js";
import type { Attributes } from "../../onnx/attributes.js";
import { type AutoPad, type Conv2dOptions, conv2dOutputShape, convTranspose2dOutputShape } from "../../ops/conv2d.js";
import { CONV_ALGORITHMS, type ConvAlgorithm, type ConvGeometry, type ConvPass, convGeometry, convTransposeGeometry } from "../../ops/conv2d_algorithms.js";
import { dense, gemm, packDenseWeights } from "../../ops/dense.js";
import { lrn, lrnBackward, lrnWorkspaceBytes } from "../../ops/lrn.js";
import {
  avgPool2d,
  avgPool2dBackward,
  globalAvgPool,
  globalAvgPoolBackward,
  globalMaxPool,
  globalMaxPoolBackward,
  maxPool2d,
  maxPool2dBackward,
  maxPool2dInferenceOn,
  maxPool2dInferenceScratchBytes,
  pool2dOutputShape,
  type Pool2dOptions,
} from "../../ops/pool.js";
import type { Tensor } from "../../tensor.js";
import { biasThreaded, elementwiseThreaded, gemmScratchFloats, gemmThreaded } from "../../threads/parallel.js";
import { viewTensor } from "../constants.js";
import { ND_DESC_BYTES, writeNd } from "../nd.js";
import { type Algorithm, type BoundNode, followInput0, type InferContext, type LayoutChoice, type PlanNode, registerOp, type TensorType } from "../registry.js";
import { identityPerm, isFloat } from "../types.js";
import { followInput, likeInput, zeroOutput } from "./grad.js";
import { channelsLast, channelsLastLayout, inputView, outputView, sameAsInput0 } from "./util.js";

// ---------------------------------------------------------------------------------------------
// spatial attributes (1-D and 2-D)

interface Spatial {
  kernel?: number[];
  strides?: number[];
  /** ONNX order: [begin_0, ..., begin_{k-1}, end_0, ..., end_{k-1}]. */
  pads?: number[];
  autoPad: AutoPad;
  dilations?: number[];
}

function spatialAttrs(at: Attributes): Spatial {
  const autoPad = at.string("auto_pad", "NOTSET") as AutoPad;
  if (!["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].includes(autoPad)) fail(at.where, `auto_pad "${autoPad}" is not valid`);
  return { kernel: at.ints("kernel_shape"), strides: at.ints("strides"), pads: at.ints("pads"), autoPad, dilations: at.ints("dilations") };
}

/** The 2-D options of a 1-D (k = 1) or 2-D (k = 2) op: a 1-D op is an image of height 1. */
function options2d(
  c: { fail(m: string): never },
  s: Spatial,
  k: number,
): { kernel?: [number, number]; strides: [number, number]; dilations: [number, number]; pads?: [number, number, number, number]; autoPad?: AutoPad } {
  if (k !== 1 && k !== 2) c.fail(`only 1-D and 2-D are supported, got ${k} spatial dimensions`);
  const list = (name: string, v: number[] | undefined, fallback: number): number[] => {
    if (v === undefined) return new Array<number>(k).fill(fallback);
    if (v.length !== k) c.fail(`${name} must have ${k} values, got [${v.join(",")}]`);
    return v;
  };
  const two = (v: number[]): [number, number] => (k === 1 ? [1, v[0]!] : [v[0]!, v[1]!]);
  const strides = two(list("strides", s.strides, 1)),
    dilations = two(list("dilations", s.dilations, 1));
  const kernel = s.kernel ? two(list("kernel_shape", s.kernel, 1)) : undefined;
  if (s.autoPad !== "NOTSET") return { kernel, strides, dilations, autoPad: s.autoPad };
  const p = s.pads ?? new Array<number>(2 * k).fill(0);
  if (p.length !== 2 * k) c.fail(`pads must have ${2 * k} values, got [${p.join(",")}]`);
  const pads: [number, number, number, number] = k === 1 ? [0, p[0]!, 0, p[1]!] : [p[0]!, p[1]!, p[2]!, p[3]!];
  return { kernel, strides, dilations, pads };
}

/** [N, C, ...spatial] (ONNX) as the kernels' 2-D NHWC shape. */
function nhwc2d(c: { fail(m: string): never }, shape: readonly number[]): [number, number, number, number] {
  if (shape.length === 4) return [shape[0]!, shape[2]!, shape[3]!, shape[1]!];
  if (shape.length === 3) return [shape[0]!, 1, shape[2]!, shape[1]!];
  return c.fail(`expects a 1-D or 2-D image [N, C, W] or [N, C, H, W], got ${fmtShape(shape)}`);
}

/** The kernels' NHWC output back to ONNX order of rank r. */
const onnxOf = (y: readonly number[], rank: number): number[] => (rank === 4 ? [y[0]!, y[3]!, y[1]!, y[2]!] : [y[0]!, y[3]!, y[2]!]);

/** Weights [O, I, ...k] (Conv) or [I, O, ...k] (ConvTranspose) as [KH, KW, dim1, dim0]. */
function weights2d(c: { fail(m: string): never }, w: readonly number[], rank: number): [number, number, number, number] {
  if (w.length !== rank) c.fail(`weights must have rank ${rank}, got ${fmtShape(w)}`);
  return rank === 4 ? [w[2]!, w[3]!, w[1]!, w[0]!] : [1, w[2]!, w[1]!, w[0]!];
}

const weightPerm = (rank: number) => (rank === 5 ? [2, 3, 4, 1, 0] : rank === 4 ? [2, 3, 1, 0] : [2, 1, 0]);
const NHWC_PERM = [0, 2, 3, 1];

function checkKernelShape(c: { fail(m: string): never }, s: Spatial, w: readonly number[]): void {
  if (s.kernel && s.kernel.join() !== w.slice(2).join()) c.fail(`kernel_shape [${s.kernel.join(",")}] does not match weights ${fmtShape(w)}`);
}

const floatInput = (c: InferContext<unknown>, i: number, name: string): TensorType => {
  const t = c.need(i, name);
  if (!isFloat(t.dataType)) c.fail(`${name} must be a float tensor`);
  return t;
};

// ---------------------------------------------------------------------------------------------
// convolution

interface ConvAttrs {
  s: Spatial;
  groups: number;
}

/** Conv / ConvTranspose layouts: X channels-last, W as [KH, KW, dim1, dim0], B as given. */
const convLayout = (c: { inputs: readonly ({ shape: readonly number[] } | undefined)[]; outputs: readonly TensorType[] }): LayoutChoice => {
  const r = c.inputs[0]!.shape.length;
  return {
    inputs: c.inputs.map((v, i) => (!v ? "any" : i === 0 ? channelsLast(r) : i === 1 ? weightPerm(r) : identityPerm(v.shape.length))),
    outputs: [channelsLast(r)],
  };
};

function convOptions(c: { fail(m: string): never }, a: ConvAttrs, rank: number): Conv2dOptions {
  const o = options2d(c, a.s, rank - 2);
  return o.autoPad
    ? { strides: o.strides, dilations: o.dilations, autoPad: o.autoPad, groups: a.groups }
    : { strides: o.strides, dilations: o.dilations, pads: o.pads, groups: a.groups };
}

/** The conv geometry of a Conv node's x [N, C, ...] and w [O, I, ...] (ONNX shapes): what the conv registry decides from. */
function convNodeGeometry(where: string, x: readonly number[], w: readonly number[], a: ConvAttrs): ConvGeometry {
  const c = { fail: (m: string): never => fail(where, m) },
    r = x.length;
  if (r === 5) return convGeometry(where, [1, x[3]!, x[4]!, x[1]!], [w[3]!, w[4]!, w[1]!, w[0]!], convOptions(c, depthAttrs(c, a, x, w).hw, 4));
  return convGeometry(where, nhwc2d(c, x), weights2d(c, w, r), convOptions(c, a, r));
}

/** The depth axis of a 3-D Conv: input depth d, output depth od, kernel depth kd, its stride, dilation, front pad. */
interface DepthAxis {
  d: number;
  od: number;
  kd: number;
  stride: number;
  dilation: number;
  pad: number;
}

/**
 * A 3-D Conv (x [N, C, D, H, W], w [O, I, KD, KH, KW]) split into its depth axis and the 2-D conv
 * attributes of its (H, W) planes: output plane od is the sum over kd of the 2-D convs of input
 * plane od * stride - pad + kd * dilation (when inside) with filter plane kd.
 */
function depthAttrs(c: { fail(m: string): never }, a: ConvAttrs, x: readonly number[], w: readonly number[]): { depth: DepthAxis; hw: ConvAttrs } {
  const s = a.s;
  const three = (name: string, v: number[] | undefined, n: number): number[] | undefined => {
    if (v && v.length !== n) c.fail(`${name} must have ${n} values for a 3-D conv, got [${v.join(",")}]`);
    return v;
  };
  const strides = three("strides", s.strides, 3),
    dilations = three("dilations", s.dilations, 3),
    pads = three("pads", s.pads, 6),
    kernel = three("kernel_shape", s.kernel, 3);
  const d = x[2]!,
    kd = w[2]!,
    stride = strides?.[0] ?? 1,
    dilation = dilations?.[0] ?? 1;
  if (stride < 1 || dilation < 1) c.fail(`strides and dilations must be positive, got [${strides ?? []}] and [${dilations ?? []}]`);
  const span = (kd - 1) * dilation + 1;
  let pad = pads?.[0] ?? 0,
    od: number;
  if (s.autoPad === "VALID") {
    pad = 0;
    od = Math.floor((d - span) / stride) + 1;
  } else if (s.autoPad === "SAME_UPPER" || s.autoPad === "SAME_LOWER") {
    od = Math.ceil(d / stride);
    const total = Math.max(0, (od - 1) * stride + span - d);
    pad = s.autoPad === "SAME_UPPER" ? Math.floor(total / 2) : Math.ceil(total / 2);
  } else od = Math.floor((d + pad + (pads?.[3] ?? 0) - span) / stride) + 1;
  if (od < 1) c.fail(`the kernel depth ${kd} (dilated ${span}) does not fit the input depth ${d} with its padding`);
  const hw: Spatial = {
    autoPad: s.autoPad,
    kernel: kernel?.slice(1),
    strides: strides?.slice(1),
    dilations: dilations?.slice(1),
    pads: pads ? [pads[1]!, pads[2]!, pads[4]!, pads[5]!] : undefined,
  };
  return { depth: { d, od, kd, stride, dilation, pad }, hw: { s: hw, groups: a.groups } };
}

/** The conv geometry a ConvTranspose node is the transpose of (x is its output, y its input). */
function convTransposeNodeGeometry(where: string, x: readonly number[], w: readonly number[], a: ConvTransposeAttrs): ConvGeometry {
  const c = { fail: (m: string): never => fail(where, m) },
    r = x.length;
  if (r === 5)
    return convTransposeGeometry(where, [1, x[3]!, x[4]!, x[1]!], [w[3]!, w[4]!, w[1]!, w[0]!], convTransposeOptions(c, transposeDepthAttrs(c, a, x, w).hw, 4));
  return convTransposeGeometry(where, nhwc2d(c, x), weights2d(c, w, r), convTransposeOptions(c, a, r));
}

/**
 * The conv algorithm registry (src/ops/conv2d_algorithms.ts) as a node's algorithm list: one entry
 * per algorithm that runs `pass`, in the registry's order, each eligible and sized as the registry
 * decides for the node's geometry and target, its workspace the plan's. `bind` makes the run
 * closure: `run(out, a, b)` runs the pass on the node's workspace (see ConvPass for out, a, b).
 */
function convAlgorithms<A>(
  pass: ConvPass,
  geometry: (n: PlanNode<A>) => ConvGeometry,
  bind: (n: BoundNode<A>, g: ConvGeometry, run: (out: number, a: number, b: number) => void, scratch: number) => () => void,
  scratchBytes: (n: PlanNode<A>) => number = () => 0,
): Algorithm<A>[] {
  return CONV_ALGORITHMS.filter((alg) => alg.passes.includes(pass)).map((alg: ConvAlgorithm): Algorithm<A> => {
    const algBytes = (n: PlanNode<A>) => 16 * Math.ceil(alg.workspaceBytes(pass, geometry(n), n.target) / 16);
    return {
      name: alg.name,
      eligible: (n) => alg.eligible(pass, geometry(n), n.target),
      // the algorithm's workspace, then the node's scratch (16-byte aligned)
      workspaceBytes: (n) => algBytes(n) + scratchBytes(n),
      setup(n) {
        const g = geometry(n),
          e = n.engine,
          ws = n.workspace;
        return bind(n, g, (out, a, b) => alg.run(e, pass, g, out, a, b, ws), ws + algBytes(n));
      },
    };
  });
}

registerOp<ConvAttrs>({
  type: "Conv",
  parse: (at) => ({ s: spatialAttrs(at), groups: at.int("group", 1) }),
  infer(c) {
    const x = floatInput(c, 0, "X"),
      w = c.need(1, "W").shape;
    const r = x.shape.length;
    checkKernelShape(c, c.attrs.s, w);
    const b = c.input(2);
    if (b && (b.shape.length !== 1 || b.shape[0] !== w[0])) c.fail(`B must have shape [${w[0]}], got ${fmtShape(b.shape)}`);
    if (r === 5) {
      if (w.length !== 5) c.fail(`weights must have rank 5, got ${fmtShape(w)}`);
      const { depth, hw } = depthAttrs(c, c.attrs, x.shape, w);
      const y = conv2dOutputShape([1, x.shape[3]!, x.shape[4]!, x.shape[1]!], [w[3]!, w[4]!, w[1]!, w[0]!], convOptions(c, hw, 4));
      return [{ dataType: x.dataType, shape: [x.shape[0]!, y[3], depth.od, y[1], y[2]] }];
    }
    const y = conv2dOutputShape(nhwc2d(c, x.shape), weights2d(c, w, r), convOptions(c, c.attrs, r));
    return [{ dataType: x.dataType, shape: onnxOf(y, r) }];
  },
  layout: convLayout,
  gradient(g) {
    const dy = g.dy(0)!,
      x = g.x(0)!,
      w = g.x(1)!;
    if (x.shape.length === 5) fail(g.where, "a 3-D Conv has no gradient yet, so the model cannot be trained through it (freeze what comes before it)");
    if (g.wants(0)) g.add(0, g.op("ConvGradInput", [dy, w], { ...g.attrs, xShape: x.shape })[0]!);
    if (g.wants(1)) g.add(1, g.op("ConvGradFilter", [dy, x], { ...g.attrs, wShape: w.shape })[0]!);
    if (g.wants(2)) g.add(2, g.op("BiasGrad", [dy])[0]!);
  },
  // y = conv(x, w) (overwrites), then + b per output channel
  algorithms: convAlgorithms<ConvAttrs>(
    "forward",
    (n) => convNodeGeometry(n.where, n.inputs[0]!.shape, n.inputs[1]!.shape, n.attrs),
    (n, g, run, scratch) => {
      if (n.inputs[0]!.shape.length === 5) return conv3dRun(n, g, run, scratch);
      const e = n.engine,
        y = n.output(0),
        x = n.input(0),
        w = n.input(1),
        b = n.inputs[2] ? n.input(2) : 0;
      const pixels = g.n * g.oh * g.ow;
      return () => {
        run(y, x, w);
        if (b) biasThreaded(e, y, b, pixels, g.oc);
      };
    },
    // a 3-D conv's scratch: one output plane [OH, OW, OC]
    (n) => {
      if (n.inputs[0]!.shape.length !== 5) return 0;
      const y = n.outputs[0]!.shape;
      return 16 * Math.ceil((y[1]! * y[3]! * y[4]! * 4) / 16);
    },
  ),
});

/**
 * The run of a 3-D Conv on channels-last x [N, D, H, W, C], w [KD, KH, KW, I, O], y [N, OD, OH, OW, OC]:
 * per output plane, the 2-D conv (geometry g, batch 1) of each input plane its kernel reaches,
 * the first written into y and the rest summed through `scratch` (one output plane); planes no tap
 * reaches (all padding) are zero. Then the bias.
 */
function conv3dRun(n: BoundNode<ConvAttrs>, g: ConvGeometry, run: (out: number, a: number, b: number) => void, scratch: number): () => void {
  const k = n.kernels,
    y = n.output(0),
    x = n.input(0),
    w = n.input(1),
    b = n.inputs[2] ? n.input(2) : 0;
  const X = n.inputs[0]!.shape,
    W = n.inputs[1]!.shape;
  const { depth } = depthAttrs({ fail: (m: string): never => fail(n.where, m) }, n.attrs, X, W);
  const N = X[0]!,
    xPlane = g.h * g.w * g.c * 4,
    yPlane = g.oh * g.ow * g.oc,
    wPlane = g.kh * g.kw * (g.c / g.groups) * g.oc * 4;
  return () => {
    for (let b0 = 0; b0 < N; b0++)
      for (let od = 0; od < depth.od; od++) {
        const yp = y + (b0 * depth.od + od) * yPlane * 4;
        let written = false;
        for (let kd = 0; kd < depth.kd; kd++) {
          const id = od * depth.stride - depth.pad + kd * depth.dilation;
          if (id < 0 || id >= depth.d) continue;
          const xp = x + (b0 * depth.d + id) * xPlane,
            wp = w + kd * wPlane;
          if (!written) run(yp, xp, wp);
          else {
            run(scratch, xp, wp);
            k.add_f32_forward(yp, yp, scratch, yPlane);
          }
          written = true;
        }
        if (!written) k.fill_f32(yp, 0, yPlane);
      }
    if (b) k.bias_f32_forward(y, b, N * depth.od * g.oh * g.ow, g.oc);
  };
}

interface ConvTransposeAttrs extends ConvAttrs {
  outputPadding?: number[];
  outputShape?: number[];
}

function convTransposeOptions(c: { fail(m: string): never }, a: ConvTransposeAttrs, rank: number) {
  const k = rank - 2;
  const two = (v: number[] | undefined, name: string): [number, number] | undefined => {
    if (!v) return undefined;
    const tail = v.slice(-k); // output_shape may include N and C
    if (tail.length !== k) c.fail(`${name} must have ${k} values, got [${v.join(",")}]`);
    return k === 1 ? [name === "output_shape" ? 1 : 0, tail[0]!] : [tail[0]!, tail[1]!];
  };
  return { ...convOptions(c, a, rank), outputPadding: two(a.outputPadding, "output_padding") ?? [0, 0], outputShape: two(a.outputShape, "output_shape") };
}

/** A 3-D conv or pool attribute: its n values (`what` names the op in the error), or n copies of `fallback` when absent. */
function values3d(c: { fail(m: string): never }, what: string, name: string, v: number[] | undefined, n: number, fallback: number): number[] {
  if (v && v.length !== n) c.fail(`${name} must have ${n} values for a 3-D ${what}, got [${v.join(",")}]`);
  return v ?? new Array<number>(n).fill(fallback);
}

/**
 * A 3-D ConvTranspose (x [N, C, D, H, W], w [C, O/group, KD, KH, KW]) split into its depth axis
 * (d: input depth, od: output depth) and the 2-D attributes of its (H, W) planes: input plane id with
 * filter plane kd adds into output plane id * stride - pad + kd * dilation (when inside). Explicit
 * pads only (what PyTorch exports): auto_pad and output_shape are refused.
 */
function transposeDepthAttrs(
  c: { fail(m: string): never },
  a: ConvTransposeAttrs,
  x: readonly number[],
  w: readonly number[],
): { depth: DepthAxis; hw: ConvTransposeAttrs } {
  const s = a.s;
  if (s.autoPad !== "NOTSET" || a.outputShape) c.fail("a 3-D ConvTranspose takes explicit pads only (auto_pad NOTSET, no output_shape)");
  const three = (name: string, v: number[] | undefined, n: number, fallback: number) => values3d(c, "conv", name, v, n, fallback);
  const st = three("strides", s.strides, 3, 1),
    dil = three("dilations", s.dilations, 3, 1),
    p = three("pads", s.pads, 6, 0),
    op = three("output_padding", a.outputPadding, 3, 0);
  if (s.kernel) three("kernel_shape", s.kernel, 3, 1);
  const d = x[2]!,
    kd = w[2]!;
  if (st[0]! < 1 || dil[0]! < 1) c.fail(`strides and dilations must be positive, got [${st}] and [${dil}]`);
  const od = (d - 1) * st[0]! + (kd - 1) * dil[0]! + 1 + op[0]! - p[0]! - p[3]!;
  if (od < 1) c.fail(`the output depth would be ${od}`);
  const hw: ConvTransposeAttrs = {
    groups: a.groups,
    s: { autoPad: "NOTSET", kernel: s.kernel?.slice(1), strides: st.slice(1), dilations: dil.slice(1), pads: [p[1]!, p[2]!, p[4]!, p[5]!] },
    outputPadding: op.slice(1),
  };
  return { depth: { d, od, kd, stride: st[0]!, dilation: dil[0]!, pad: p[0]! }, hw };
}

registerOp<ConvTransposeAttrs>({
  type: "ConvTranspose",
  parse: (at) => ({ s: spatialAttrs(at), groups: at.int("group", 1), outputPadding: at.ints("output_padding"), outputShape: at.ints("output_shape") }),
  infer(c) {
    const x = floatInput(c, 0, "X"),
      w = c.need(1, "W").shape;
    const r = x.shape.length;
    checkKernelShape(c, c.attrs.s, w);
    const b = c.input(2);
    if (b && (b.shape.length !== 1 || b.shape[0] !== w[1]! * c.attrs.groups)) c.fail(`B must have shape [${w[1]! * c.attrs.groups}], got ${fmtShape(b.shape)}`);
    if (r === 5) {
      if (w.length !== 5) c.fail(`weights must have rank 5, got ${fmtShape(w)}`);
      const { depth, hw } = transposeDepthAttrs(c, c.attrs, x.shape, w);
      const y = convTranspose2dOutputShape([1, x.shape[3]!, x.shape[4]!, x.shape[1]!], [w[3]!, w[4]!, w[1]!, w[0]!], convTransposeOptions(c, hw, 4));
      return [{ dataType: x.dataType, shape: [x.shape[0]!, y[3], depth.od, y[1], y[2]] }];
    }
    const y = convTranspose2dOutputShape(nhwc2d(c, x.shape), weights2d(c, w, r), convTransposeOptions(c, c.attrs, r));
    return [{ dataType: x.dataType, shape: onnxOf(y, r) }];
  },
  layout: convLayout,
  // ConvTranspose(x, w) is the input gradient of Conv(., w) at dy = x. Hence, for the gradient
  // dy flowing into its output: dx = Conv(dy, w), dw = ConvGradFilter with the conv's dy = x and
  // the conv's input = dy, db = the sum of dy. Pads must be the conv's own: explicit or VALID
  // (the output_padding rows only ever get the bias).
  gradient(g) {
    const dy = g.dy(0)!,
      x = g.x(0)!,
      w = g.x(1)!;
    if (g.attrs.outputShape || g.attrs.s.autoPad === "SAME_UPPER" || g.attrs.s.autoPad === "SAME_LOWER")
      fail(g.where, "training needs explicit pads (output_shape and auto_pad SAME_* are not supported by its gradient)");
    const conv: ConvAttrs = { s: g.attrs.s, groups: g.attrs.groups };
    if (g.wants(0)) g.add(0, g.op("Conv", [dy, w], conv)[0]!);
    if (g.wants(1)) g.add(1, g.op("ConvGradFilter", [x, dy], { ...conv, wShape: w.shape })[0]!);
    if (g.wants(2)) g.add(2, g.op("BiasGrad", [dy])[0]!);
  },
  // the conv's input gradient (accumulating: y zeroed first) of x as the conv's dy, then + b
  algorithms: convAlgorithms<ConvTransposeAttrs>(
    "backward_input",
    (n) => convTransposeNodeGeometry(n.where, n.inputs[0]!.shape, n.inputs[1]!.shape, n.attrs),
    (n, g, run) => {
      const k = n.kernels,
        y = n.output(0),
        x = n.input(0),
        w = n.input(1),
        b = n.inputs[2] ? n.input(2) : 0,
        pixels = g.n * g.h * g.w,
        zero = zeroOutput(n, 0);
      if (n.inputs[0]!.shape.length === 5) {
        // 3-D: every (input plane, filter plane) pair accumulates into the output plane it reaches
        const X = n.inputs[0]!.shape;
        const { depth } = transposeDepthAttrs({ fail: (m: string): never => fail(n.where, m) }, n.attrs, X, n.inputs[1]!.shape);
        const N = X[0]!,
          xPlane = g.oh * g.ow * g.oc * 4,
          yPlane = g.h * g.w * g.c * 4,
          wPlane = g.kh * g.kw * (g.c / g.groups) * g.oc * 4;
        return () => {
          zero();
          for (let b0 = 0; b0 < N; b0++)
            for (let id = 0; id < depth.d; id++)
              for (let kd = 0; kd < depth.kd; kd++) {
                const od = id * depth.stride - depth.pad + kd * depth.dilation;
                if (od >= 0 && od < depth.od) run(y + (b0 * depth.od + od) * yPlane, x + (b0 * depth.d + id) * xPlane, w + kd * wPlane);
              }
          if (b) k.bias_f32_forward(y, b, N * depth.od * g.h * g.w, g.c);
        };
      }
      return () => {
        zero();
        run(y, x, w);
        if (b) k.bias_f32_forward(y, b, pixels, g.c);
      };
    },
  ),
});

// Conv's gradient ops: dx = conv^T(dy, W), dW = the correlation of x with dy, dB = sum of dy.
registerOp<ConvAttrs & { xShape: readonly number[] }>({
  type: "ConvGradInput",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [{ dataType: c.need(0, "dy").dataType, shape: c.attrs.xShape }],
  layout: (c) => ({ inputs: [channelsLast(c.inputs[0]!.shape.length), weightPerm(c.inputs[1]!.shape.length)], outputs: [channelsLast(c.attrs.xShape.length)] }),
  // dx (zeroed) += conv^T(dy, w)
  algorithms: convAlgorithms<ConvAttrs & { xShape: readonly number[] }>(
    "backward_input",
    (n) => convNodeGeometry(n.where, n.attrs.xShape, n.inputs[1]!.shape, n.attrs),
    (n, _g, run) => {
      const dx = n.output(0),
        dy = n.input(0),
        w = n.input(1),
        zero = zeroOutput(n, 0);
      return () => {
        zero();
        run(dx, dy, w);
      };
    },
  ),
});

registerOp<ConvAttrs & { wShape: readonly number[] }>({
  type: "ConvGradFilter",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [{ dataType: c.need(0, "dy").dataType, shape: c.attrs.wShape }],
  layout: (c) => ({ inputs: [channelsLast(c.inputs[0]!.shape.length), channelsLast(c.inputs[1]!.shape.length)], outputs: [weightPerm(c.attrs.wShape.length)] }),
  // dw (zeroed) += corr(x, dy)
  algorithms: convAlgorithms<ConvAttrs & { wShape: readonly number[] }>(
    "backward_filter",
    (n) => convNodeGeometry(n.where, n.inputs[1]!.shape, n.attrs.wShape, n.attrs),
    (n, _g, run) => {
      const dw = n.output(0),
        dy = n.input(0),
        x = n.input(1),
        zero = zeroOutput(n, 0);
      return () => {
        zero();
        run(dw, dy, x);
      };
    },
  ),
});

// the gradient of a per-channel bias: dy [N, C, ...] summed over every axis but C
registerOp<void>({
  type: "BiasGrad",
  internal: true,
  parse: () => undefined,
  infer: (c) => {
    const dy = c.need(0, "dy");
    return [{ dataType: dy.dataType, shape: [dy.shape[1] ?? 1] }];
  },
  layout: (c) => ({ inputs: [channelsLast(c.inputs[0]!.shape.length)], outputs: [[0]] }),
  algorithms: [
    {
      name: "biasGrad.rows",
      setup(n) {
        const dy = n.inputs[0]!,
          C = dy.shape[1] ?? 1,
          rows = C === 0 ? 0 : dy.size / C;
        const k = n.kernels,
          db = n.output(0),
          src = n.input(0),
          zero = zeroOutput(n, 0);
        return () => {
          zero();
          k.bias_f32_backward(db, src, rows, C);
        };
      },
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// pooling

interface PoolAttrs {
  s: Spatial;
  ceil: boolean;
  countIncludePad: boolean;
  /** MaxPool's storage_order: Indices in column-major (w before h) order. */
  columnMajor: boolean;
}

function poolAttrs(at: Attributes, average: boolean): PoolAttrs {
  const order = average ? 0 : at.int("storage_order", 0);
  if (order !== 0 && order !== 1) fail(at.where, `storage_order must be 0 or 1, got ${order}`);
  const s = spatialAttrs(at);
  if (!s.kernel) fail(at.where, "kernel_shape is required");
  return { s, ceil: at.int("ceil_mode", 0) === 1, countIncludePad: average && at.int("count_include_pad", 0) === 1, columnMajor: order === 1 };
}

function poolOptions(c: { fail(m: string): never }, a: PoolAttrs, rank: number): Pool2dOptions {
  const o = options2d(c, a.s, rank - 2);
  const base: Pool2dOptions = { kernel: o.kernel!, strides: o.strides, dilations: o.dilations, ceilMode: a.ceil, countIncludePad: a.countIncludePad };
  return o.autoPad ? { ...base, autoPad: o.autoPad } : { ...base, pads: o.pads };
}

/**
 * A 3-D pool (x [N, C, D, H, W]) as two 2-D pools, exact for max and average alike (both are
 * separable, and so are the counts of an average's window, padding counted or not): first over
 * (H, W) of every depth plane, channels-last x viewed as [N * D, H, W, C]; then over (D, 1) of
 * those outputs viewed as [N, D, OH * OW, C]. `mid` is the first pool's output shape.
 */
interface Pool3dParts {
  planes: [number, number, number, number];
  hw: Pool2dOptions;
  mid: [number, number, number, number];
  midAsDepth: [number, number, number, number];
  depth: Pool2dOptions;
  y: [number, number, number, number];
}

function pool3dParts(c: { fail(m: string): never }, a: PoolAttrs, x: readonly number[]): Pool3dParts {
  const s = a.s;
  const three = (name: string, v: number[] | undefined, n: number, fallback: number) => values3d(c, "pool", name, v, n, fallback);
  const k = three("kernel_shape", s.kernel, 3, 1),
    st = three("strides", s.strides, 3, 1),
    d = three("dilations", s.dilations, 3, 1),
    p = three("pads", s.pads, 6, 0);
  const hwS: Spatial = { autoPad: s.autoPad, kernel: [k[1]!, k[2]!], strides: [st[1]!, st[2]!], dilations: [d[1]!, d[2]!], pads: [p[1]!, p[2]!, p[4]!, p[5]!] };
  const dS: Spatial = { autoPad: s.autoPad, kernel: [k[0]!, 1], strides: [st[0]!, 1], dilations: [d[0]!, 1], pads: [p[0]!, 0, p[3]!, 0] };
  const [N, C, D, H, W] = x as [number, number, number, number, number];
  const planes: [number, number, number, number] = [N * D, H, W, C];
  const hw = poolOptions(c, { ...a, s: hwS }, 4),
    depth = poolOptions(c, { ...a, s: dS }, 4);
  const mid = pool2dOutputShape(planes, hw) as [number, number, number, number];
  const midAsDepth: [number, number, number, number] = [N, D, mid[1] * mid[2], C];
  const y = pool2dOutputShape(midAsDepth, depth) as [number, number, number, number];
  return { planes, hw, mid, midAsDepth, depth, y };
}

function poolOp(
  type: string,
  average: boolean,
  run: (x: Tensor, o: Pool2dOptions, y: Tensor, workspace: number) => void,
  workspaceBytes?: (xShape: number[], o: Pool2dOptions) => number,
): void {
  registerOp<PoolAttrs>({
    type,
    parse: (at) => poolAttrs(at, average),
    infer(c) {
      const x = floatInput(c, 0, "X");
      if (x.shape.length === 5) {
        if (!average && c.wants(1)) c.fail("Indices of a 3-D MaxPool are not supported");
        const { mid, y } = pool3dParts(c, c.attrs, x.shape);
        return [{ dataType: x.dataType, shape: [x.shape[0]!, x.shape[1]!, y[1], mid[1], mid[2]] }];
      }
      const y = pool2dOutputShape(nhwc2d(c, x.shape), poolOptions(c, c.attrs, x.shape.length));
      const shape = onnxOf(y, x.shape.length);
      // MaxPool's Indices (int64): each maximum's flat index into X in ONNX order
      return [{ dataType: x.dataType, shape }, ...(!average && c.wants(1) ? [{ dataType: DataType.INT64, shape }] : [])];
    },
    // Y and Indices both channels-last (the kernels' [n, oh, ow, c])
    layout: (c) => ({ ...channelsLastLayout(c), outputs: c.outputs.map((t) => channelsLast(t.shape.length)) }),
    gradient(g) {
      if (g.x(0)!.shape.length === 5)
        fail(g.where, `a 3-D ${type} has no gradient yet, so the model cannot be trained through it (freeze what comes before it)`);
      if (g.wants(0)) g.add(0, g.op(`${type}Grad`, [g.dy(0)!, g.x(0)!], g.attrs)[0]!);
    },
    algorithms: [
      ...(average
        ? []
        : [
            {
              name: "maxPool.indices",
              eligible: (n: PlanNode<PoolAttrs>) => n.outputs.length > 1,
              setup(n: BoundNode<PoolAttrs>) {
                const c = { fail: (m: string) => fail(n.where, m) };
                const xShape = nhwc2d(c, n.inputs[0]!.shape),
                  yShape = nhwc2d(c, n.outputs[0]!.shape);
                const x = inputView(n, 0, xShape),
                  y = outputView(n, 0, yShape),
                  argmax = viewTensor(n.engine, n.output(1), yShape, "i32");
                const o = poolOptions(c, n.attrs, n.inputs[0]!.shape.length),
                  k = n.kernels,
                  idx = n.output(1),
                  count = n.outputs[1]!.size,
                  [, h, w, ch] = xShape as [number, number, number, number],
                  columnMajor = n.attrs.columnMajor ? 1 : 0;
                return () => {
                  maxPool2d(x, o, { y, argmax });
                  k.maxpool2d_indices_forward(idx, idx, count, h, w, ch, columnMajor);
                };
              },
            },
          ]),
      {
        name: `${type.charAt(0).toLowerCase()}${type.slice(1)}.kernels`,
        workspaceBytes(n) {
          const c = { fail: (m: string) => fail(n.where, m) };
          if (n.inputs[0]!.shape.length === 5) {
            // the first pool's output, then the larger of the two pools' own workspaces
            const q = pool3dParts(c, n.attrs, n.inputs[0]!.shape);
            const own = workspaceBytes ? Math.max(workspaceBytes(q.planes, q.hw), workspaceBytes(q.midAsDepth, q.depth)) : 0;
            return 16 * Math.ceil((q.mid.reduce((a, b) => a * b, 1) * 4) / 16) + own;
          }
          if (!workspaceBytes) return 0;
          return workspaceBytes(nhwc2d(c, n.inputs[0]!.shape), poolOptions(c, n.attrs, n.inputs[0]!.shape.length));
        },
        setup(n) {
          const c = { fail: (m: string) => fail(n.where, m) };
          if (n.inputs[0]!.shape.length === 5) {
            const q = pool3dParts(c, n.attrs, n.inputs[0]!.shape);
            const midBytes = 16 * Math.ceil((q.mid.reduce((a, b) => a * b, 1) * 4) / 16),
              ws = n.workspace;
            const x = inputView(n, 0, q.planes),
              mid = viewTensor(n.engine, ws, q.mid, "f32"),
              midAsDepth = viewTensor(n.engine, ws, q.midAsDepth, "f32"),
              y = outputView(n, 0, q.y);
            return () => {
              run(x, q.hw, mid, ws + midBytes);
              run(midAsDepth, q.depth, y, ws + midBytes);
            };
          }
          const x = inputView(n, 0, nhwc2d(c, n.inputs[0]!.shape)),
            y = outputView(n, 0, nhwc2d(c, n.outputs[0]!.shape));
          const o = poolOptions(c, n.attrs, n.inputs[0]!.shape.length),
            ws = n.workspace;
          return () => run(x, o, y, ws);
        },
      },
    ],
  });
}

// the arg-max the general max-pool kernel writes goes to the plan's workspace
poolOp("MaxPool", false, (x, o, y, ws) => void maxPool2dInferenceOn(x, o, y, ws), maxPool2dInferenceScratchBytes);
poolOp("AveragePool", true, (x, o, y) => void avgPool2d(x, o, y));

/** Pooling's gradient ops: inputs dy and the forward x (both channels-last), output dx. */
function poolGradOp(type: string, workspace: (n: PlanNode<PoolAttrs>) => number, run: (n: BoundNode<PoolAttrs>) => () => void): void {
  registerOp<PoolAttrs>({
    type,
    internal: true,
    parse: () => fail("internal", "not parsed"),
    infer: likeInput(1),
    layout: (c) => {
      const p = channelsLast(c.inputs[1]!.shape.length);
      return { inputs: [p, p], outputs: [p] };
    },
    algorithms: [{ name: `${type.charAt(0).toLowerCase()}${type.slice(1)}.kernels`, workspaceBytes: workspace, setup: run }],
  });
}

// max pooling's arg-max is recomputed from x (one more pass over the window) rather than kept
poolGradOp(
  "MaxPoolGrad",
  (n) => 8 * n.inputs[0]!.size + 32,
  (n) => {
    const c = { fail: (m: string) => fail(n.where, m) };
    const yShape = nhwc2d(c, n.inputs[0]!.shape),
      xShape = nhwc2d(c, n.inputs[1]!.shape);
    const dy = inputView(n, 0, yShape),
      x = inputView(n, 1, xShape),
      dx = outputView(n, 0, xShape);
    const size = n.inputs[0]!.size;
    const y = viewTensor(n.engine, n.workspace, yShape, "f32"),
      argmax = viewTensor(n.engine, n.workspace + 16 * Math.ceil(size / 4), yShape, "i32");
    const o = poolOptions(c, n.attrs, n.inputs[1]!.shape.length),
      zero = zeroOutput(n, 0);
    return () => {
      maxPool2d(x, o, { y, argmax });
      zero();
      maxPool2dBackward(dy, argmax, xShape, dx);
    };
  },
);
poolGradOp(
  "AveragePoolGrad",
  () => 0,
  (n) => {
    const c = { fail: (m: string) => fail(n.where, m) };
    const xShape = nhwc2d(c, n.inputs[1]!.shape);
    const dy = inputView(n, 0, nhwc2d(c, n.inputs[0]!.shape)),
      dx = outputView(n, 0, xShape);
    const o = poolOptions(c, n.attrs, n.inputs[1]!.shape.length),
      zero = zeroOutput(n, 0);
    return () => {
      zero();
      avgPool2dBackward(dy, xShape, o, dx);
    };
  },
);

/** With `scratch`, run's third argument is an i32 tensor of y's shape in the node's workspace. */
function globalPoolOp(type: string, run: (x: Tensor, y: Tensor, scratch?: Tensor) => void, scratch = false): void {
  registerOp<void>({
    type,
    parse: () => undefined,
    infer(c) {
      const x = floatInput(c, 0, "X");
      if (x.shape.length < 3) c.fail(`expects [N, C, ...spatial], got ${fmtShape(x.shape)}`);
      return [{ dataType: x.dataType, shape: [x.shape[0]!, x.shape[1]!, ...x.shape.slice(2).map(() => 1)] }];
    },
    layout: channelsLastLayout,
    gradient(g) {
      if (g.wants(0)) g.add(0, g.op(`${type}Grad`, [g.dy(0)!, g.x(0)!])[0]!);
    },
    algorithms: [
      {
        name: `${type.charAt(0).toLowerCase()}${type.slice(1)}.kernels`,
        workspaceBytes: (n) => (scratch ? 16 * Math.ceil((n.inputs[0]!.shape[0]! * n.inputs[0]!.shape[1]!) / 4) : 0),
        setup(n) {
          const X = n.inputs[0]!;
          const N = X.shape[0]!,
            C = X.shape[1]!,
            spatial = X.size / Math.max(1, N * C);
          // channels-last [N, ...spatial, C] is [N, 1, spatial, C] to the 2-D kernels
          const x = inputView(n, 0, [N, 1, spatial, C]),
            y = outputView(n, 0, [N, 1, 1, C]);
          const s = scratch ? viewTensor(n.engine, n.workspace, [N, 1, 1, C], "i32") : undefined;
          return () => run(x, y, s);
        },
      },
    ],
  });
}

globalPoolOp("GlobalAveragePool", (x, y) => void globalAvgPool(x, y));

/** Global pooling's gradient ops: inputs dy [N, C, 1...] and x, output dx (channels-last). */
function globalPoolGradOp(
  type: string,
  workspace: (n: PlanNode<void>) => number,
  run: (n: BoundNode<void>, x: Tensor, dy: Tensor, dx: Tensor, xShape: number[]) => () => void,
): void {
  registerOp<void>({
    type,
    internal: true,
    parse: () => undefined,
    infer: likeInput(1),
    layout: (c) => ({
      inputs: [channelsLast(c.inputs[0]!.shape.length), channelsLast(c.inputs[1]!.shape.length)],
      outputs: [channelsLast(c.inputs[1]!.shape.length)],
    }),
    algorithms: [
      {
        name: `${type.charAt(0).toLowerCase()}${type.slice(1)}.kernels`,
        workspaceBytes: workspace,
        setup(n) {
          const X = n.inputs[1]!,
            N = X.shape[0]!,
            C = X.shape[1]!,
            spatial = X.size / Math.max(1, N * C);
          const xShape = [N, 1, spatial, C];
          return run(n, inputView(n, 1, xShape), inputView(n, 0, [N, 1, 1, C]), outputView(n, 0, xShape), xShape);
        },
      },
    ],
  });
}

globalPoolGradOp(
  "GlobalAveragePoolGrad",
  () => 0,
  (n, _x, dy, dx, xShape) => {
    const zero = zeroOutput(n, 0);
    return () => {
      zero();
      globalAvgPoolBackward(dy, xShape, dx);
    };
  },
);
globalPoolGradOp(
  "GlobalMaxPoolGrad",
  (n) => 8 * n.inputs[0]!.size + 32,
  (n, x, dy, dx, xShape) => {
    const size = n.inputs[0]!.size,
      yShape = dy.shape;
    const y = viewTensor(n.engine, n.workspace, yShape, "f32"),
      argmax = viewTensor(n.engine, n.workspace + 16 * Math.ceil(size / 4), yShape, "i32");
    const zero = zeroOutput(n, 0);
    return () => {
      globalMaxPool(x, { y, argmax });
      zero();
      globalMaxPoolBackward(dy, argmax, xShape, dx);
    };
  },
);
// globalMaxPool also writes an arg-max; inference keeps none, so it goes to the plan's workspace
globalPoolOp("GlobalMaxPool", (x, y, argmax) => void globalMaxPool(x, { y, argmax: argmax! }), true);

// ---------------------------------------------------------------------------------------------
// normalisation

// inference-mode batch norm is affine in x: dx = dy * scale / sqrt(var + eps)
registerOp<{ epsilon: number }>({
  type: "BatchNormGradInput",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: likeInput(0),
  layout: (c) => ({ inputs: [channelsLast(c.inputs[0]!.shape.length), [0], [0]], outputs: [channelsLast(c.inputs[0]!.shape.length)] }),
  algorithms: [
    {
      name: "batchNormGradInput.kernels",
      workspaceBytes: (n) => 8 * n.inputs[1]!.size + 16,
      setup(n) {
        const dy = n.inputs[0]!,
          C = n.inputs[1]!.size,
          rows = C === 0 ? 0 : dy.size / C;
        const k = n.kernels,
          dx = n.output(0),
          src = n.input(0),
          scale = n.input(1),
          variance = n.input(2);
        const zeros = n.workspace + 4 * C + 16 - ((4 * C) % 16),
          ws = n.workspace,
          eps = n.attrs.epsilon;
        return () => {
          k.fill_f32(zeros, 0, C);
          k.batchnorm_f32_inference(dx, src, scale, zeros, zeros, variance, ws, eps, rows, C);
        };
      },
    },
  ],
});

registerOp<{ epsilon: number }>({
  type: "BatchNormGradScale",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [c.need(2, "mean")],
  layout: (c) => ({ inputs: [channelsLast(c.inputs[0]!.shape.length), channelsLast(c.inputs[1]!.shape.length), [0], [0]], outputs: [[0]] }),
  algorithms: [
    {
      name: "batchNormGradScale.kernels",
      workspaceBytes: (n) => 8 * n.inputs[2]!.size,
      setup(n) {
        const dy = n.inputs[0]!,
          C = n.inputs[2]!.size,
          rows = C === 0 ? 0 : dy.size / C;
        const k = n.kernels,
          ds = n.output(0),
          eps = n.attrs.epsilon,
          zero = zeroOutput(n, 0);
        const pdy = n.input(0),
          x = n.input(1),
          mean = n.input(2),
          variance = n.input(3),
          ws = n.workspace;
        return () => {
          zero();
          k.batchnorm_f32_inference_scale_grad(ds, pdy, x, mean, variance, ws, eps, rows, C);
        };
      },
    },
  ],
});

registerOp<{ size: number; alpha: number; beta: number; bias: number }>({
  type: "LRN",
  parse: (at) => ({ size: at.int("size", 0), alpha: at.float("alpha", 1e-4), beta: at.float("beta", 0.75), bias: at.float("bias", 1) }),
  infer(c) {
    const x = floatInput(c, 0, "X");
    if (x.shape.length !== 4) c.fail(`expects [N, C, H, W], got ${fmtShape(x.shape)}`);
    return [x];
  },
  layout: channelsLastLayout,
  gradient(g) {
    if (g.wants(0)) g.add(0, g.op("LRNGrad", [g.dy(0)!, g.x(0)!, g.y(0)], g.attrs)[0]!);
  },
  algorithms: [
    {
      name: "lrn.kernels",
      workspaceBytes: (n) => lrnWorkspaceBytes(n.inputs[0]!.dims),
      setup(n) {
        const x = inputView(n, 0),
          y = outputView(n, 0),
          o = { ...n.attrs, workspace: viewTensor(n.engine, n.workspace, [lrnWorkspaceBytes(x.shape) / 4], "f32") };
        return () => void lrn(x, o, y);
      },
    },
  ],
});

registerOp<{ size: number; alpha: number; beta: number; bias: number }>({
  type: "LRNGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: likeInput(1),
  layout: (c) => ({ inputs: c.inputs.map(() => NHWC_PERM), outputs: [NHWC_PERM] }),
  algorithms: [
    {
      name: "lrnGrad.kernels",
      workspaceBytes: (n) => lrnWorkspaceBytes(n.inputs[1]!.dims),
      setup(n) {
        const dy = inputView(n, 0),
          x = inputView(n, 1),
          y = inputView(n, 2),
          dx = outputView(n, 0),
          o = { ...n.attrs, workspace: viewTensor(n.engine, n.workspace, [lrnWorkspaceBytes(x.shape) / 4], "f32") },
          zero = zeroOutput(n, 0);
        return () => {
          zero();
          lrnBackward(dy, x, y, o, dx);
        };
      },
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// matrix products

interface GemmAttrs {
  alpha: number;
  beta: number;
  transA: boolean;
  transB: boolean;
}

/** Gemm with B laid out [K, N] (a transB constant is transposed once, when planning). */
const gemmLayout = (c: { attrs: GemmAttrs; inputs: readonly ({ shape: readonly number[] } | undefined)[]; outputs: readonly TensorType[] }): LayoutChoice => ({
  inputs: c.inputs.map((v, i) =>
    !v ? "any" : i === 0 ? (c.attrs.transA ? [1, 0] : [0, 1]) : i === 1 ? (c.attrs.transB ? [1, 0] : [0, 1]) : identityPerm(v.shape.length),
  ),
  outputs: [[0, 1]],
});

/** Whether Gemm's C is absent or a per-column bias ([N] or [1, N]) added with beta 1. */
const columnBias = (n: PlanNode<GemmAttrs>): boolean => {
  const C = n.inputs[2],
    N = n.outputs[0]!.shape[1]!;
  return !C || (n.attrs.beta === 1 && C.size === N && C.shape[C.shape.length - 1] === N);
};

/**
 * [M, K, N] of a Gemm node: A and B as [M, K] and [K, N] views. (Their values' dims may be the
 * other way round when an extent-1 axis let the planner keep a constant in its own order: a
 * [1, K] B^T and a [K, 1] B hold the same bytes.)
 */
const gemmDims = (n: PlanNode<GemmAttrs>): [number, number, number] => {
  const [M, N] = n.outputs[0]!.shape as [number, number];
  return [M, M ? n.inputs[0]!.size / M : N ? n.inputs[1]!.size / N : 0, N];
};

registerOp<GemmAttrs>({
  type: "Gemm",
  parse: (at) => ({ alpha: at.float("alpha", 1), beta: at.float("beta", 1), transA: at.int("transA", 0) === 1, transB: at.int("transB", 0) === 1 }),
  infer(c) {
    const A = floatInput(c, 0, "A"),
      B = c.need(1, "B").shape;
    const a = A.shape,
      { transA, transB } = c.attrs;
    if (a.length !== 2 || B.length !== 2) c.fail(`A and B must be rank 2, got ${fmtShape(a)} and ${fmtShape(B)}`);
    const k = transA ? a[0] : a[1],
      k2 = transB ? B[1] : B[0];
    if (k !== k2) c.fail(`inner dimensions differ: A ${fmtShape(a)}${transA ? "^T" : ""} x B ${fmtShape(B)}${transB ? "^T" : ""}`);
    return [{ dataType: A.dataType, shape: [transA ? a[1]! : a[0]!, transB ? B[0]! : B[1]!] }];
  },
  layout: gemmLayout,
  gradient(g) {
    // with A and B laid out [M, K] and [K, N]: dA = alpha dy . B^T, dB = alpha A^T . dy, dC = beta dy summed
    const dy = g.dy(0)!,
      a = g.x(0)!,
      b = g.x(1)!,
      alpha = g.attrs.alpha;
    if (g.wants(0)) g.add(0, g.op("MatMulGrad", [dy, b], { alpha, transA: false, transB: true, shape: a.shape, perm: a.perm, dy: 0 })[0]!);
    if (g.wants(1)) g.add(1, g.op("MatMulGrad", [a, dy], { alpha, transA: true, transB: false, shape: b.shape, perm: b.perm, dy: 1 })[0]!);
    if (g.wants(2)) {
      const c = g.x(2)!;
      const summed = g.op("ReduceToShape", [dy], { shape: c.shape })[0]!;
      g.add(2, g.attrs.beta === 1 ? summed : g.op("Scale", [summed], { alpha: g.attrs.beta })[0]!);
    }
  },
  algorithms: [
    {
      // a few rows against constant weights: the weights packed once into strips that dense streams
      name: "gemm.packed",
      eligible: (n) => n.target.build !== "scalar" && !!n.inputs[1]!.isConstant && n.attrs.alpha === 1 && n.outputs[0]!.shape[0]! <= 8 && columnBias(n),
      setup(n) {
        const [M, K, N] = gemmDims(n);
        const a = inputView(n, 0, [M, K]),
          y = outputView(n, 0);
        const packed = n.own(packDenseWeights(inputView(n, 1, [K, N])));
        const b = n.inputs[2] ? inputView(n, 2, [n.inputs[2].size]) : null;
        return () => void dense(a, packed, b, y);
      },
    },
    {
      name: "gemm.kernels",
      setup(n) {
        const [M, K, N] = gemmDims(n);
        const a = inputView(n, 0, [M, K]),
          b = inputView(n, 1, [K, N]),
          cT = n.inputs[2] ? inputView(n, 2) : null,
          y = outputView(n, 0);
        const o = { alpha: n.attrs.alpha, beta: n.attrs.beta, transA: false, transB: false };
        return () => void gemm(a, b, cT, o, y);
      },
    },
  ],
});

// y = alpha op(a) . op(b) over the operands' PHYSICAL [rows, cols] (the forward operand as the
// forward step read it, whatever its perm; dy, input attrs.dy, in ONNX order): Gemm's
// gradients. The output is the forward operand's gradient: logical shape attrs.shape stored in
// attrs.perm (the operand's own layout), which is the order this product writes.
interface MatMulGradAttrs {
  alpha: number;
  transA: boolean;
  transB: boolean;
  shape: readonly number[];
  perm: readonly number[];
  dy: number;
}

/** [m, n, k, transA, transB] of a MatMulGrad node's product, from its operands' physical shapes. */
function matMulGradDims(n: PlanNode<MatMulGradAttrs>): [number, number, number, boolean, boolean] {
  const a = n.inputs[0]!.dims,
    b = n.inputs[1]!.dims,
    { transA, transB } = n.attrs;
  return [transA ? a[1]! : a[0]!, transB ? b[0]! : b[1]!, transA ? a[0]! : a[1]!, transA, transB];
}

registerOp<MatMulGradAttrs>({
  type: "MatMulGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [{ dataType: c.need(0, "a").dataType, shape: c.attrs.shape }],
  layout: (c) => ({ inputs: [c.attrs.dy === 0 ? [0, 1] : "any", c.attrs.dy === 1 ? [0, 1] : "any"], outputs: [c.attrs.perm] }),
  algorithms: [
    {
      name: "matMulGrad.gemm",
      // gemmThreaded's transposed copy of an operand (some shapes) goes to the plan's workspace
      workspaceBytes: (n) => 4 * gemmScratchFloats(...matMulGradDims(n)),
      setup(n) {
        const [m, N, k, transA, transB] = matMulGradDims(n);
        const e = n.engine,
          a = n.input(0),
          b = n.input(1),
          y = n.output(0),
          alpha = n.attrs.alpha,
          ws = n.workspace;
        return () => {
          gemmThreaded(e, y, a, b, m, N, k, transA, transB, false, ws);
          if (alpha !== 1) e.kernels.scale_f32(y, alpha, m * N);
        };
      },
    },
  ],
});

// y = alpha x
registerOp<{ alpha: number }>({
  type: "Scale",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: likeInput(0),
  layout: followInput0,
  algorithms: [
    {
      name: "scale.kernel",
      paramBytes: () => ND_DESC_BYTES,
      setup(n) {
        const k = n.kernels,
          y = n.output(0),
          x = n.input(0),
          size = n.outputs[0]!.size,
          alpha = n.attrs.alpha,
          desc = n.params;
        writeNd(n.engine.heap.i32, desc, { dims: [size], strides: [[1], [1]] }, n.where);
        return () => {
          k.copy_nd(y, x, desc);
          k.scale_f32(y, alpha, size);
        };
      },
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// activations (any layout: element by element)

/**
 * An element-wise activation and its gradient op `${type}Grad` (dx from dy and the forward output y
 * or input x, as `gradFrom` says): the gradient kernels accumulate, so dx is zeroed first.
 */
function unaryOp<A>(
  type: string,
  parse: (at: Attributes) => A,
  kernel: (n: BoundNode<A>) => () => void,
  gradFrom: "x" | "y",
  gradKernel: (n: BoundNode<A>) => () => void,
): void {
  registerOp<A>({
    type,
    parse,
    infer(c) {
      floatInput(c as InferContext<unknown>, 0, "X");
      return sameAsInput0(c as InferContext<unknown>);
    },
    layout: followInput0,
    gradient(g) {
      if (g.wants(0)) g.add(0, g.op(`${type}Grad`, [g.dy(0)!, gradFrom === "x" ? g.x(0)! : g.y(0)], g.attrs)[0]!);
    },
    algorithms: [{ name: `${type.charAt(0).toLowerCase()}${type.slice(1)}.kernel`, inPlace: true, setup: kernel }],
  });
  registerOp<A>({
    type: `${type}Grad`,
    internal: true,
    parse,
    infer: likeInput(1),
    layout: followInput(1),
    algorithms: [
      {
        name: `${type.charAt(0).toLowerCase()}${type.slice(1)}Grad.kernel`,
        setup(n) {
          const zero = zeroOutput(n as BoundNode<unknown>, 0),
            run = gradKernel(n);
          return () => {
            zero();
            run();
          };
        },
      },
    ],
  });
}

/** The pointers and size of a gradient op: dx (output), dy and the forward value (inputs). */
const gradArgs = (n: BoundNode<unknown>) => [n.output(0), n.input(0), n.input(1), n.outputs[0]!.size] as const;

unaryOp(
  "Relu",
  () => undefined,
  (n) => {
    const k = n.kernels,
      y = n.output(0),
      x = n.input(0),
      size = n.outputs[0]!.size;
    // large maps split over threads, so that each thread keeps the part of the map its conv wrote
    return () => {
      if (!elementwiseThreaded(n.engine, "relu_f32_forward", size, (o, count) => [y + o, x + o, count])) k.relu_f32_forward(y, x, size);
    };
  },
  "y",
  (n) => {
    const k = n.kernels,
      [dx, dy, y, size] = gradArgs(n as BoundNode<unknown>);
    return () => k.relu_f32_backward(dx, dy, y, size);
  },
);
unaryOp(
  "Sigmoid",
  () => undefined,
  (n) => {
    const k = n.kernels,
      y = n.output(0),
      x = n.input(0),
      size = n.outputs[0]!.size;
    return () => k.sigmoid_f32_forward(y, x, size);
  },
  "y",
  (n) => {
    const k = n.kernels,
      [dx, dy, y, size] = gradArgs(n as BoundNode<unknown>);
    return () => k.sigmoid_f32_backward(dx, dy, y, size);
  },
);
unaryOp(
  "Tanh",
  () => undefined,
  (n) => {
    const k = n.kernels,
      y = n.output(0),
      x = n.input(0),
      size = n.outputs[0]!.size;
    return () => k.tanh_f32_forward(y, x, size);
  },
  "y",
  (n) => {
    const k = n.kernels,
      [dx, dy, y, size] = gradArgs(n as BoundNode<unknown>);
    return () => k.tanh_f32_backward(dx, dy, y, size);
  },
);
unaryOp(
  "LeakyRelu",
  (at) => ({ alpha: at.float("alpha", 0.01) }),
  (n) => {
    const k = n.kernels,
      y = n.output(0),
      x = n.input(0),
      size = n.outputs[0]!.size,
      alpha = n.attrs.alpha;
    return () => k.leaky_relu_f32_forward(y, x, alpha, size);
  },
  "x",
  (n) => {
    const k = n.kernels,
      [dx, dy, x, size] = gradArgs(n as BoundNode<unknown>),
      alpha = n.attrs.alpha;
    return () => k.leaky_relu_f32_backward(dx, dy, x, alpha, size);
  },
);

export { viewTensor };
