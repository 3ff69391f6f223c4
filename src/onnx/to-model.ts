// Importing an ONNX graph as a simdnet Model: every node maps onto a registered layer kind
// (conv, pool, dense, batchNorm, ... and the kinds of ./layers.ts), initializers become the
// model's initial parameters. The graph runtime's front end does the rest: import (src/graph/
// import.ts: op registry check, attribute parsing, topological order) and analyzeGraph (plan.ts:
// shape inference and constant folding by the ops' own kernels), so the attributes a mapper reads
// are the op registry's. The result is a normal Model: summary(), forward/backward, freeze,
// saveWeights, exportOnnx.
//
// Layouts: an ONNX rank-4 value [N, C, H, W] is a model tensor with per-image shape [H, W, C]
// ("nhwc"); any other value keeps ONNX element order with the batch axis first ("onnx"). The
// importer inserts `transpose` layers (marked `to: "nhwc"` / `"nchw"`) where an order-sensitive op
// (Flatten, Reshape, Gemm after a conv...) needs the other form.
//
// Graphs the Model cannot express (ops acting on the batch axis, non-constant weights, ops with no
// layer kind such as Mul of two activations) raise NotConvertibleError naming every such node;
// InferenceSession runs those.
import type { Engine } from "../engine.js";
import { fail, fmtShape, SimdnetError } from "../errors.js";
import { graphConstants } from "../graph/constants.js";
import { importGraph } from "../graph/import.js";
import "../graph/ops/index.js";
import { type AnalyzedNode, analyzeGraph, type GraphAnalysis } from "../graph/plan.js";
import { elemOf, type HostTensor, hostTensor } from "../graph/types.js";
import { layerKind } from "../model/layers.js";
import { Model, type ModelOptions } from "../model/model.js";
import type { AnyNodeSpec, GraphSpec } from "../model/spec.js";
import type { Shape } from "../tensor.js";
import { permute, sizeOfDims } from "./indexing.js";
import "./layers.js";
import type { OnnxFeed, OnnxTensorData } from "./model.js";
import { DataType, decodeModel, type ModelProto, type NodeProto } from "./onnx-proto.js";

/** The graph uses something a Model cannot express; `nodes` lists each offending node and why. */
export class NotConvertibleError extends SimdnetError {
  override name = "NotConvertibleError";
  constructor(readonly nodes: string[]) {
    super(`onnx: cannot import as a Model (${nodes.length} node${nodes.length > 1 ? "s" : ""}): ${nodes.join("; ")}`);
  }
}

/** How an imported model's image tensors are laid out: NHWC (simdnet's) or the file's own order (NCHW). */
export type OnnxLayout = "nhwc" | "onnx";

/** A graph input or output of an imported model: its ONNX name, its model tensor and layout. */
export interface OnnxBinding {
  name: string;
  /** The model's input or node name. */
  node: string;
  layout: OnnxLayout;
  /** ONNX shape at import (batch first). */
  shape: number[];
}

/** Options of importOnnxModel: ModelOptions, plus shapes for symbolic inputs and inputs to bind as constants. */
export interface ImportModelOptions extends Omit<ModelOptions, "initialParams" | "inputShape"> {
  /** ONNX input shapes (batch first) for inputs whose declared shape is symbolic or missing. */
  inputShapes?: Record<string, number[]>;
  /** Graph inputs to bind as constants (e.g. weights given as inputs): they become parameters. */
  constants?: Record<string, OnnxFeed>;
}

/** A Model imported from ONNX, with its ONNX input/output bindings and an ONNX-layout run(). */
export class OnnxImportedModel extends Model {
  onnxInputs: OnnxBinding[] = [];
  onnxOutputs: OnnxBinding[] = [];

  /**
   * Runs the model on ONNX-layout feeds (NCHW images; by name, or an array in input order) and
   * returns every graph output in ONNX layout. Re-plans when the batch changes.
   */
  runOnnx(feeds: Record<string, OnnxFeed> | OnnxFeed[]): Record<string, OnnxTensorData> {
    const given = Array.isArray(feeds) ? new Map(this.onnxInputs.map((b, i) => [b.name, feeds[i]])) : new Map(Object.entries(feeds));
    const inputs: Record<string, Float32Array> = {};
    let batch = 0;
    for (const b of this.onnxInputs) {
      const f = given.get(b.name);
      if (!f || !Array.isArray(f.dims)) fail("onnx", `missing input "${b.name}"`);
      const per = b.shape.slice(1);
      if (f.dims.length !== b.shape.length || f.dims.slice(1).some((d, i) => d !== per[i])) {
        fail("onnx", `input "${b.name}" must have shape [N,${per.join(",")}], got ${fmtShape(f.dims)}`);
      }
      if (sizeOfDims(f.dims) !== f.data.length) fail("onnx", `input "${b.name}": dims ${fmtShape(f.dims)} do not match ${f.data.length} values`);
      batch = f.dims[0]!;
      const data = f.data instanceof Float32Array ? f.data : Float32Array.from(f.data);
      inputs[b.node] = b.layout === "nhwc" ? permute(data, f.dims, [0, 2, 3, 1]) : data;
    }
    if (batch < 1) fail("onnx", "the batch must be at least 1");
    if (this.batch !== batch) this.plan(batch);
    this.forward(inputs);
    const out: Record<string, OnnxTensorData> = {};
    for (const b of this.onnxOutputs) {
      const t = this.layerOutput(b.node);
      const data = t.data.slice();
      const dims = b.layout === "nhwc" ? [t.shape[0]!, t.shape[3]!, t.shape[1]!, t.shape[2]!] : [...t.shape];
      out[b.name] = { dims, data: b.layout === "nhwc" ? permute(data, t.shape, [0, 3, 1, 2]) : data, dataType: DataType.FLOAT };
    }
    return out;
  }
}

/**
 * Input slots that hold weights or op parameters, not activations: Conv/ConvTranspose W and B,
 * Gemm/MatMul B and C, BatchNormalization statistics, PRelu slope, Reshape shape, Pad pads /
 * value / axes, Resize and Upsample scales / sizes.
 */
const WEIGHT_SLOTS: Record<string, number[]> = {
  Conv: [1, 2],
  ConvTranspose: [1, 2],
  Gemm: [1, 2],
  MatMul: [1],
  BatchNormalization: [1, 2, 3, 4],
  PRelu: [1],
  Reshape: [1],
  Pad: [1, 2, 3],
  Resize: [1, 2, 3],
  Upsample: [1],
};

/** Graph inputs (not initializers) that every consumer reads in a weight / parameter slot. */
export function weightInputs(proto: ModelProto): string[] {
  const inits = new Set(proto.graph.initializer.map((t) => t.name));
  const outputs = new Set(proto.graph.output.map((o) => o.name));
  // per value name: read at all, and read only in weight slots (one pass over the nodes)
  const uses = new Map<string, boolean>();
  for (const n of proto.graph.node) {
    const slots = Object.hasOwn(WEIGHT_SLOTS, n.opType) ? WEIGHT_SLOTS[n.opType]! : [];
    n.input.forEach((v, k) => uses.set(v, (uses.get(v) ?? true) && slots.includes(k)));
  }
  return proto.graph.input.map((i) => i.name).filter((name) => !inits.has(name) && !outputs.has(name) && uses.get(name) === true);
}

interface Sym {
  /** Model tensor (graph input or node name). */
  node: string;
  layout: OnnxLayout;
  /** ONNX shape, batch first. */
  shape: number[];
}

const NHWC_PERM = [1, 2, 0]; // per image [C, H, W] -> [H, W, C]
const NCHW_PERM = [2, 0, 1]; // per image [H, W, C] -> [C, H, W]

class Skip extends Error {}

/** A constant input of a node (weights, shapes): its ONNX shape and data. */
interface Const {
  readonly shape: readonly number[];
  readonly rank: number;
  readonly size: number;
  readonly data: Float32Array | Int32Array;
}

const constOf = (t: HostTensor): Const => ({ shape: t.dims, rank: t.dims.length, size: t.data.length, data: t.data });

/** Converts the analysed graph (the nodes left after folding) into a GraphSpec + parameters. */
class Converter {
  readonly nodes: AnyNodeSpec[] = [];
  readonly params = new Map<string, Float32Array>();
  /** The model tensor of each ONNX value name; set through bind(). */
  readonly syms = new Map<string, Sym>();
  /** How many ONNX value names each model tensor (node) is bound to. */
  private readonly bindings = new Map<string, number>();
  /** How often each value name is read (analysed nodes' inputs and graph outputs). */
  readonly used = new Map<string, number>();
  private readonly names = new Set<string>();
  private readonly suffixes = new Map<string, number>();
  private readonly converted = new Map<string, Sym>();
  /** The file's node producing each value name (attributes the registry does not keep: momentum, ratio). */
  private readonly producers = new Map<string, NodeProto>();

  constructor(
    readonly proto: ModelProto,
    readonly opset: number,
    analysis: GraphAnalysis,
  ) {
    const use = (name: string) => this.used.set(name, (this.used.get(name) ?? 0) + 1);
    for (const n of analysis.nodes) for (const i of n.inputs) if (i && !i.constant) use(i.name);
    for (const o of analysis.outputs) use(o.name);
    for (const n of proto.graph.node) for (const o of n.output) if (o) this.producers.set(o, n);
  }

  /** A float attribute of the file's node behind `node` (its default if the node is not in the file). */
  attrFloat(node: AnalyzedNode, name: string, dflt: number): number {
    const p = node.outputs[0] ? this.producers.get(node.outputs[0].name) : undefined;
    return p?.attribute.find((a) => a.name === name)?.f ?? dflt;
  }

  /** Binds ONNX value `name` to model tensor `s`. */
  bind(name: string, s: Sym): void {
    const old = this.syms.get(name);
    if (old) this.bindings.set(old.node, this.bindings.get(old.node)! - 1);
    this.syms.set(name, s);
    this.bindings.set(s.node, (this.bindings.get(s.node) ?? 0) + 1);
  }

  skip(why: string): never {
    throw new Skip(why);
  }

  unique(base: string): string {
    let name = base || "node";
    // the next suffix to try per base, so that many nodes of one base name cost linear time
    let k = this.suffixes.get(name) ?? 2;
    const first = name;
    while (this.names.has(name)) name = `${first}_${k++}`;
    this.suffixes.set(first, k);
    this.names.add(name);
    return name;
  }

  perImage(s: Sym): number[] {
    return s.layout === "nhwc" ? [s.shape[2]!, s.shape[3]!, s.shape[1]!] : s.shape.slice(1);
  }

  /** Adds a layer reading `inputs`; its output's ONNX shape follows from the kind's shape function. */
  add(base: string, spec: Record<string, unknown>, inputs: Sym[], layout: OnnxLayout, params: Record<string, Float32Array> = {}): Sym {
    const name = this.unique(base);
    const node = { ...spec, name, inputs: inputs.map((s) => s.node) } as AnyNodeSpec;
    let per: Shape;
    try {
      per = layerKind(node.type).outputShape(
        node,
        inputs.map((s) => this.perImage(s)),
      );
    } catch (err) {
      this.skip(err instanceof Error ? err.message : String(err));
    }
    if (layout === "nhwc" && per.length !== 3) this.skip(`expected an image output, got per-image ${fmtShape(per)}`);
    this.nodes.push(node);
    for (const [p, v] of Object.entries(params)) this.params.set(`${name}.${p}`, v);
    const n = inputs[0]?.shape[0] ?? 1;
    return { node: name, layout, shape: layout === "nhwc" ? [n, per[2]!, per[0]!, per[1]!] : [n, ...per] };
  }

  asNhwc(s: Sym): Sym {
    if (s.layout === "nhwc") return s;
    if (s.shape.length !== 4) this.skip(`needs an image [N, C, H, W], got ${fmtShape(s.shape)}`);
    const key = `${s.node}/nhwc`;
    let t = this.converted.get(key);
    if (!t) {
      t = this.add(`${s.node}_nhwc`, { type: "transpose", perm: NHWC_PERM, to: "nhwc" }, [s], "nhwc");
      this.converted.set(key, t);
      this.converted.set(`${t.node}/onnx`, s);
    }
    return t;
  }

  asOnnx(s: Sym): Sym {
    if (s.layout === "onnx") return s;
    const key = `${s.node}/onnx`;
    let t = this.converted.get(key);
    if (!t) {
      t = this.add(`${s.node}_nchw`, { type: "transpose", perm: NCHW_PERM, to: "nchw" }, [s], "onnx");
      this.converted.set(key, t);
      this.converted.set(`${t.node}/nhwc`, s);
    }
    return t;
  }

  /**
   * Fuses a point-wise activation into the layer producing ONNX value `input` when that layer was
   * the last one added, has no activation yet, supports one, and nothing else reads its output.
   */
  fuse(input: string, activation: string, extra: Record<string, unknown> = {}): Sym | undefined {
    const s = this.syms.get(input);
    const last = this.nodes.at(-1);
    if (!s || !last || last.name !== s.node || (last.activation ?? "none") !== "none") return undefined;
    if (!FUSABLE.has(last.type) || this.used.get(input) !== 1) return undefined;
    if (this.bindings.get(s.node) !== 1) return undefined;
    Object.assign(last, { activation }, extra);
    return s;
  }

  /** A constant input (ONNX order), or skip. */
  constant(node: AnalyzedNode, k: number, what: string): Const {
    const t = node.inputs[k]?.constant;
    if (!t) this.skip(`${what} (input ${k}) must be a constant`);
    return constOf(t);
  }

  /** A constant's data as float32. */
  floats(v: Const): Float32Array {
    return v.data instanceof Float32Array ? v.data : Float32Array.from(v.data);
  }

  /** A constant's data as integers. */
  ints(v: Const): number[] {
    return Array.from(v.data, (x) => Math.trunc(x));
  }

  /** The dynamic (non-constant) input k. */
  sym(node: AnalyzedNode, k: number): Sym {
    const v = node.inputs[k];
    const s = v && !v.constant ? this.syms.get(v.name) : undefined;
    if (!s) this.skip(v?.constant ? `input ${k} is a constant where an activation is expected` : `input ${k} is missing`);
    return s;
  }

  /** The name of output k ("" if the node does not produce it). */
  out(node: AnalyzedNode, k = 0): string {
    return node.outputs[k]?.name ?? "";
  }
}

type Mapper = (cv: Converter, node: AnalyzedNode, attrs: any) => Sym[];

/** Layer types whose output may carry a fused activation (their backward does not read their output). */
const FUSABLE = new Set(["conv", "convTranspose", "dense", "batchNorm", "add", "pool", "globalPool"]);

/** Spatial attributes as the op registry parses them (what the file says: lists may be absent). */
interface Spatial {
  kernel?: number[];
  strides?: number[];
  pads?: number[];
  autoPad: string;
  dilations?: number[];
}

/** 2-D spatial attributes with ONNX's defaults filled in (strides and dilations 1, pads 0), or skip. */
function spatial2d(cv: Converter, s: Spatial): { kernel?: number[]; strides: number[]; pads: number[]; autoPad: string; dilations: number[] } {
  const two = (name: string, v: number[] | undefined, fallback: number, n = 2): number[] => {
    if (v === undefined) return new Array<number>(n).fill(fallback);
    if (v.length !== n) cv.skip(`${name} [${v.join(",")}]: only 2-D has a layer`);
    return [...v];
  };
  return {
    kernel: s.kernel ? two("kernel_shape", s.kernel, 1) : undefined,
    strides: two("strides", s.strides, 1),
    pads: two("pads", s.pads, 0, 4),
    autoPad: s.autoPad,
    dilations: two("dilations", s.dilations, 1),
  };
}

const padField = (s: { pads: number[]; autoPad: string }) =>
  s.autoPad === "SAME_UPPER" ? "same" : s.autoPad === "SAME_LOWER" ? "sameLower" : s.autoPad === "VALID" ? "valid" : [...s.pads];

const unaryKind =
  (type: string): Mapper =>
  (cv, node) => {
    const x = cv.sym(node, 0);
    return [cv.add(cv.out(node), { type }, [x], x.layout)];
  };

function convMapper(transposed: boolean): Mapper {
  return (cv, node, a) => {
    const x = cv.asNhwc(cv.sym(node, 0));
    const w = cv.constant(node, 1, "W");
    if (w.rank !== 4) cv.skip(`weights must be rank 4, got ${fmtShape(w.shape)}`);
    const s = spatial2d(cv, a.s);
    if (a.s.kernel && (a.s.kernel[0] !== w.shape[2] || a.s.kernel[1] !== w.shape[3])) cv.skip("kernel_shape does not match the weights");
    const [d0, d1, kh, kw] = w.shape as [number, number, number, number];
    const params: Record<string, Float32Array> = { weight: permute(cv.floats(w), w.shape, [2, 3, 1, 0]) };
    const filters = transposed ? d1 * a.groups : d0;
    if (node.inputs[2]) {
      const b = cv.constant(node, 2, "B");
      if (b.size !== filters) cv.skip(`B must have ${filters} values, got ${fmtShape(b.shape)}`);
      params.bias = cv.floats(b);
    }
    const spec: Record<string, unknown> = {
      type: transposed ? "convTranspose" : "conv",
      filters,
      size: [kh, kw],
      stride: s.strides,
      pad: padField(s),
      dilation: s.dilations,
      groups: a.groups,
      bias: params.bias !== undefined,
    };
    if (transposed) {
      const last2 = (v: number[] | undefined) => (v && v.length >= 2 ? v.slice(-2) : undefined);
      spec.outputPadding = last2(a.outputPadding) ?? [0, 0];
      const os = last2(a.outputShape);
      if (os) spec.outputShape = os;
    }
    return [cv.add(cv.out(node), spec, [x], "nhwc", params)];
  };
}

const poolMapper =
  (mode: "max" | "avg"): Mapper =>
  (cv, node, a: { s: Spatial; ceil: boolean; countIncludePad: boolean }) => {
    if (node.outputs[1]?.name) cv.skip("the Indices output has no layer");
    const x = cv.asNhwc(cv.sym(node, 0));
    const s = spatial2d(cv, a.s);
    if (!s.kernel) cv.skip("kernel_shape is required");
    const spec = {
      type: "pool",
      mode,
      size: s.kernel,
      stride: s.strides,
      dilation: s.dilations,
      pad: padField(s),
      ceil: a.ceil,
      ...(mode === "avg" ? { countIncludePad: a.countIncludePad } : {}),
    };
    return [cv.add(cv.out(node), spec, [x], "nhwc")];
  };

const globalPoolMapper =
  (mode: "max" | "avg"): Mapper =>
  (cv, node) => [cv.add(cv.out(node), { type: "globalPool", mode }, [cv.asNhwc(cv.sym(node, 0))], "nhwc")];

/** dense from A [N, K] and constant weights [K, units] (already transposed / scaled), optional bias. */
function dense(cv: Converter, node: AnalyzedNode, a: Sym, weight: Float32Array, units: number, bias?: Float32Array): Sym {
  const x = cv.asOnnx(a);
  if (x.shape.length !== 2) cv.skip(`A must be rank 2, got ${fmtShape(x.shape)}`);
  const params: Record<string, Float32Array> = { weight };
  if (bias) params.bias = bias;
  return cv.add(cv.out(node), { type: "dense", units, bias: bias !== undefined }, [x], "onnx", params);
}

const MAPPERS: Record<string, Mapper> = {
  Conv: convMapper(false),
  ConvTranspose: convMapper(true),
  MaxPool: poolMapper("max"),
  AveragePool: poolMapper("avg"),
  GlobalAveragePool: globalPoolMapper("avg"),
  GlobalMaxPool: globalPoolMapper("max"),
  Gemm(cv, node, { alpha, beta, transA, transB }) {
    if (transA) cv.skip("transA on the activations has no layer");
    const a = cv.sym(node, 0),
      b = cv.constant(node, 1, "B");
    if (b.rank !== 2) cv.skip(`B must be rank 2, got ${fmtShape(b.shape)}`);
    let w = cv.floats(b);
    if (transB) w = permute(w, b.shape, [1, 0]);
    const units = transB ? b.shape[0]! : b.shape[1]!;
    if (alpha !== 1) w = w.map((v) => v * alpha);
    let bias: Float32Array | undefined;
    if (node.inputs[2]) {
      const c = cv.constant(node, 2, "C");
      const lead = c.shape.slice(0, -1);
      if (c.size === 1) bias = new Float32Array(units).fill(cv.floats(c)[0]! * beta);
      else if (c.size === units && lead.every((d) => d === 1)) bias = cv.floats(c).map((v) => v * beta);
      else cv.skip(`C ${fmtShape(c.shape)} is not a per-unit bias`);
    }
    return [dense(cv, node, a, w, units, bias)];
  },
  MatMul(cv, node) {
    const a = cv.sym(node, 0),
      b = cv.constant(node, 1, "B");
    if (b.rank !== 2) cv.skip(`B must be rank 2, got ${fmtShape(b.shape)}`);
    return [dense(cv, node, a, cv.floats(b), b.shape[1]!)];
  },
  Relu: (cv, node) => {
    const fused = cv.fuse(node.inputs[0]?.name ?? "", "relu");
    return fused ? [fused] : unaryKind("relu")(cv, node, undefined);
  },
  Sigmoid: unaryKind("sigmoid"),
  Tanh: unaryKind("tanh"),
  LeakyRelu(cv, node, { alpha }) {
    const fused = alpha > 0 ? cv.fuse(node.inputs[0]?.name ?? "", "leakyRelu", { alpha }) : undefined;
    if (fused) return [fused];
    const x = cv.sym(node, 0);
    return [cv.add(cv.out(node), { type: "leakyRelu", alpha }, [x], x.layout)];
  },
  PRelu(cv, node) {
    const x = cv.sym(node, 0),
      slope = cv.constant(node, 1, "slope");
    const r = x.shape.length;
    const legacy = cv.opset < 7 && slope.rank === 1 && r >= 2 && slope.size === x.shape[1] && slope.size > 1;
    const ss = legacy ? [x.shape[1]!, ...new Array<number>(r - 2).fill(1)] : [...slope.shape];
    const sd = [...new Array<number>(Math.max(0, r - ss.length)).fill(1), ...ss];
    const chAxis = x.layout === "nhwc" ? 1 : r - 1;
    if (slope.size !== 1 && (ss.length > r || sd.some((d, i) => d !== 1 && i !== chAxis) || sd[chAxis] !== x.shape[chAxis])) {
      cv.skip(`slope ${fmtShape(slope.shape)} is not per channel`);
    }
    return [cv.add(cv.out(node), { type: "prelu", shared: slope.size === 1 }, [x], x.layout, { slope: cv.floats(slope).slice() })];
  },
  Softmax: softmaxMapper("softmax"),
  LogSoftmax: softmaxMapper("logSoftmax"),
  BatchNormalization(cv, node, { epsilon }) {
    if (node.outputs.slice(1).some((o) => o?.name)) cv.skip("training outputs have no layer");
    let x = cv.sym(node, 0);
    if (x.shape.length === 4) x = cv.asNhwc(x);
    else if (x.shape.length !== 2) cv.skip(`X must be [N, C] or [N, C, H, W], got ${fmtShape(x.shape)}`);
    const c = x.shape[1]!;
    const [weight, bias, runningMean, runningVar] = [1, 2, 3, 4].map((k) => {
      const v = cv.constant(node, k, ["", "scale", "B", "mean", "var"][k]!);
      if (v.size !== c) cv.skip(`input ${k} must have ${c} values, got ${fmtShape(v.shape)}`);
      return cv.floats(v);
    });
    const momentum = cv.attrFloat(node, "momentum", 0.9);
    return [
      cv.add(cv.out(node), { type: "batchNorm", epsilon, momentum }, [x], x.layout, {
        weight: weight!,
        bias: bias!,
        runningMean: runningMean!,
        runningVar: runningVar!,
      }),
    ];
  },
  LRN(cv, node, a) {
    return [cv.add(cv.out(node), { type: "lrn", ...a }, [cv.asNhwc(cv.sym(node, 0))], "nhwc")];
  },
  Dropout(cv, node) {
    if (node.outputs[1]?.name && cv.used.has(node.outputs[1].name)) cv.skip("the mask output is used (no layer)");
    const x = cv.sym(node, 0);
    let rate = cv.attrFloat(node, "ratio", 0.5);
    if (cv.opset >= 12 && node.inputs[1]) rate = cv.floats(cv.constant(node, 1, "ratio"))[0]!;
    return [cv.add(cv.out(node), { type: "dropout", rate }, [x], x.layout)];
  },
  Add: addMapper,
  Sum: addMapper,
  Concat(cv, node, { axis }) {
    const xs = node.inputs.map((_, k) => cv.sym(node, k));
    const r = xs[0]!.shape.length;
    const ax = axis < 0 ? axis + r : axis;
    if (ax <= 0 || ax >= r) cv.skip(`axis ${axis} (the batch axis, or out of range) has no layer`);
    if (r === 4 && ax === 1)
      return [
        cv.add(
          cv.out(node),
          { type: "concat" },
          xs.map((x) => cv.asNhwc(x)),
          "nhwc",
        ),
      ];
    const ys = xs.map((x) => cv.asOnnx(x));
    const spec = ax === r - 1 ? { type: "concat" } : { type: "concatAxis", axis: ax - 1 };
    return [cv.add(cv.out(node), spec, ys, "onnx")];
  },
  Flatten(cv, node, { axis }) {
    const x = cv.asOnnx(cv.sym(node, 0));
    const r = x.shape.length;
    const ax = axis < 0 ? axis + r : axis;
    // only axis 1 keeps the batch axis apart: [N, prod(rest)]
    if (ax !== 1) cv.skip(`axis ${axis} folds the batch axis into rows`);
    return [cv.add(cv.out(node), { type: "flatten" }, [x], "onnx")];
  },
  Reshape(cv, node) {
    const x = cv.sym(node, 0);
    const out = node.outputs[0]!.shape;
    if (out[0] !== x.shape[0]) return cv.skip(`the target shape ${fmtShape(out)} changes the batch axis`);
    return [cv.add(cv.out(node), { type: "reshape", shape: out.slice(1) }, [cv.asOnnx(x)], "onnx")];
  },
  Transpose(cv, node, { perm }) {
    const x = cv.sym(node, 0);
    const r = x.shape.length;
    const p: number[] = perm ?? Array.from({ length: r }, (_, i) => r - 1 - i);
    if (p.length !== r || p[0] !== 0) cv.skip(`perm [${p.join(",")}] moves the batch axis`);
    // NHWC data already is the ONNX [N, H, W, C] transpose
    if (x.layout === "nhwc" && p.join() === "0,2,3,1") return [{ node: x.node, layout: "onnx", shape: p.map((i) => x.shape[i]!) }];
    const y = cv.asOnnx(x);
    return [cv.add(cv.out(node), { type: "transpose", perm: p.slice(1).map((i) => i - 1) }, [y], "onnx")];
  },
  Pad(cv, node, a) {
    const x = cv.sym(node, 0);
    const r = x.shape.length;
    if (!["constant", "reflect", "edge"].includes(a.mode)) cv.skip(`mode "${a.mode}" has no layer`);
    let p: number[] = a.pads ?? cv.ints(cv.constant(node, 1, "pads"));
    const value = a.pads ? a.value : node.inputs[2] ? (cv.floats(cv.constant(node, 2, "constant_value"))[0] ?? 0) : 0;
    if (node.inputs[3]) {
      const axes = cv.ints(cv.constant(node, 3, "axes")).map((v) => (v < 0 ? v + r : v));
      const full = new Array<number>(2 * r).fill(0);
      axes.forEach((ax, i) => {
        full[ax] = p[i]!;
        full[ax + r] = p[i + axes.length]!;
      });
      p = full;
    }
    if (p.length !== 2 * r) cv.skip(`pads must have ${2 * r} values`);
    if (p[0] !== 0 || p[r] !== 0) cv.skip("pads the batch axis");
    const order = x.layout === "nhwc" ? [2, 3, 1] : Array.from({ length: r - 1 }, (_, i) => i + 1);
    const pads = [...order.map((ax) => p[ax]!), ...order.map((ax) => p[ax + r]!)];
    return [cv.add(cv.out(node), { type: "pad", pads, mode: a.mode, value }, [x], x.layout)];
  },
  Upsample: resizeMapper,
  Resize: resizeMapper,
  Identity: (cv, node) => [cv.sym(node, 0)],
};

function softmaxMapper(type: "softmax" | "logSoftmax"): Mapper {
  return (cv, node, { axis, coerce2d }) => {
    let x = cv.sym(node, 0);
    const r = x.shape.length;
    const ax = axis < 0 ? axis + r : axis;
    if (ax <= 0 || ax >= r) cv.skip(`axis ${axis} (the batch axis, or out of range)`);
    const out = cv.out(node);
    if (x.layout === "nhwc" && ax === 1 && (!coerce2d || (x.shape[2] === 1 && x.shape[3] === 1))) return [cv.add(out, { type }, [x], "nhwc")];
    x = cv.asOnnx(x);
    if (ax === r - 1) return [cv.add(out, { type }, [x], "onnx")];
    if (coerce2d) {
      // rows x cols: softmax over everything from `axis` on, per row
      const rows = cv.add(`${out}_2d`, { type: "reshape", shape: [sizeOfDims(x.shape.slice(1, ax)), sizeOfDims(x.shape.slice(ax))] }, [x], "onnx");
      const y = cv.add(`${out}_rows`, { type }, [rows], "onnx");
      return [cv.add(out, { type: "reshape", shape: x.shape.slice(1) }, [y], "onnx")];
    }
    // move the axis last (per image), apply, move it back
    const per = Array.from({ length: r - 1 }, (_, i) => i).filter((i) => i !== ax - 1);
    const toLast = [...per, ax - 1];
    const back = toLast.map((_, i) => toLast.indexOf(i));
    const t = cv.add(`${out}_last`, { type: "transpose", perm: toLast }, [x], "onnx");
    const y = cv.add(`${out}_act`, { type }, [t], "onnx");
    return [cv.add(out, { type: "transpose", perm: back }, [y], "onnx")];
  };
}

function addMapper(cv: Converter, node: AnalyzedNode): Sym[] {
  let xs = node.inputs.map((_, k) => cv.sym(node, k));
  if (xs.length === 1) return [xs[0]!];
  if (xs.some((x) => x.shape.join() !== xs[0]!.shape.join())) cv.skip(`inputs ${xs.map((x) => fmtShape(x.shape)).join(", ")} broadcast (no layer)`);
  if (xs.some((x) => x.layout !== xs[0]!.layout)) xs = xs.map((x) => cv.asNhwc(x));
  return [cv.add(cv.out(node), { type: "add" }, xs, xs[0]!.layout)];
}

function resizeMapper(cv: Converter, node: AnalyzedNode, a: ResizeAttrs): Sym[] {
  if (a.mode !== "nearest") cv.skip(`mode "${a.mode}" has no layer (nearest only)`);
  if (a.coordinate === "tf_crop_and_resize") cv.skip("tf_crop_and_resize");
  if (a.axes) cv.skip("the axes attribute has no layer");
  if (a.keepAspect !== "stretch") cv.skip(`keep_aspect_ratio_policy "${a.keepAspect}" has no layer`);
  const x = cv.sym(node, 0);
  const r = x.shape.length;
  const outDims = node.outputs[0]!.shape;
  const given = (k: number) => (k >= 0 && node.inputs[k] && node.inputs[k]!.shape.some((d) => d > 0) ? cv.constant(node, k, "scales/sizes") : undefined);
  const sizes = given(a.sizesInput);
  const scales = a.scales ?? (sizes ? undefined : Array.from(cv.floats(given(a.scalesInput) ?? cv.skip("needs scales or sizes"))));
  const sc = scales ?? outDims.map((d, i) => d / x.shape[i]!);
  if (sc.length !== r) cv.skip(`scales [${sc.join(",")}] for rank ${r}`);
  if (outDims[0] !== x.shape[0]) cv.skip("resizes the batch axis");
  const order = x.layout === "nhwc" ? [2, 3, 1] : Array.from({ length: r - 1 }, (_, i) => i + 1);
  const spec = {
    type: "resize",
    outShape: order.map((ax) => outDims[ax]!),
    scales: order.map((ax) => sc[ax]!),
    coordinateMode: a.coordinate,
    // opsets before 11 (and Upsample): ONNX's nearest is floor of the asymmetric coordinate
    nearestMode: a.nearest === "simple" ? "floor" : a.nearest,
  };
  return [cv.add(cv.out(node), spec, [x], x.layout)];
}

/** The registry's Resize / Upsample attributes (src/graph/ops/resize.ts) this mapper reads. */
interface ResizeAttrs {
  mode: string;
  coordinate: string;
  nearest: string;
  axes?: number[];
  keepAspect: string;
  scales?: number[];
  scalesInput: number;
  sizesInput: number;
}

/** Node types the Model path maps (graphs with others run in InferenceSession). */
export const MODEL_MAPPED_OPS = Object.keys(MAPPERS);

/**
 * Imports ONNX bytes (or a decoded ModelProto) as an OnnxImportedModel (a Model). Throws one
 * SimdnetError listing every unsupported op before anything runs, NotConvertibleError for graphs
 * the Model cannot express (InferenceSession runs those), and a clear error for a malformed file.
 */
export function importOnnxModel(engine: Engine, bytes: Uint8Array | ModelProto, options: ImportModelOptions = {}): OnnxImportedModel {
  const proto = bytes instanceof Uint8Array ? decodeModel(bytes) : bytes;
  if (!proto || typeof proto !== "object" || !proto.graph) fail("importOnnxModel", "bytes must be ONNX model bytes (a Uint8Array) or a decoded ModelProto");
  const graph = importGraph(proto);
  const skipped: string[] = [];
  const given = options.constants ?? {};
  const known = new Map<string, HostTensor>();
  const shapes = new Map<string, number[]>();
  for (const inp of graph.inputs) {
    const c = Object.hasOwn(given, inp.name) ? given[inp.name] : undefined;
    if (c) {
      const dataType = c.dataType ?? inp.dataType;
      elemOf(dataType, `importOnnxModel: constant "${inp.name}"`);
      known.set(inp.name, hostTensor(dataType, c.dims, c.data));
      continue;
    }
    const declared = options.inputShapes?.[inp.name] ?? inp.shape?.map((d) => (typeof d === "number" && d > 0 ? d : 1));
    if (!declared) fail("importOnnxModel", `input "${inp.name}" has no declared shape: pass options.inputShapes`);
    shapes.set(inp.name, [...declared]);
  }
  let where = "onnx";
  const constants = graphConstants(engine, graph.initializers);
  let analysis: GraphAnalysis | undefined;
  let cv!: Converter;
  const graphInputs: { name: string; shape: number[] }[] = [];
  const bindings: OnnxBinding[] = [];
  const outputs: OnnxBinding[] = [];
  try {
    analysis = analyzeGraph(engine, graph, constants, shapes, known);
    cv = new Converter(proto, graph.opset, analysis);
    for (const inp of graph.inputs) {
      const declared = shapes.get(inp.name);
      if (!declared) continue; // bound as a constant
      if (inp.dataType !== DataType.FLOAT) skipped.push(`input "${inp.name}" is not float`);
      if (declared.length < 2) skipped.push(`input "${inp.name}" ${fmtShape(declared)} has no per-image shape (rank < 2)`);
      const layout: OnnxLayout = declared.length === 4 ? "nhwc" : "onnx";
      const name = cv.unique(inp.name);
      const sym: Sym = { node: name, layout, shape: [...declared] };
      cv.bind(inp.name, sym);
      graphInputs.push({ name, shape: cv.perImage(sym) });
      bindings.push({ name: inp.name, node: name, layout, shape: [...declared] });
    }
    const poisoned = new Set<string>();
    for (const node of analysis.nodes) {
      where = node.where;
      const what = node.where.replace(/^onnx: /, "");
      if (node.inputs.some((v) => v && poisoned.has(v.name))) {
        for (const o of node.outputs) if (o.name) poisoned.add(o.name);
        continue; // reads a node that could not be mapped (already listed)
      }
      const map = Object.hasOwn(MAPPERS, node.type) ? MAPPERS[node.type] : undefined;
      try {
        if (!map) cv.skip("no layer kind");
        const outs = map(cv, node, node.attrs);
        node.outputs.forEach((o, i) => {
          if (o.name && outs[i]) cv.bind(o.name, outs[i]!);
        });
      } catch (err) {
        if (!(err instanceof Skip)) throw err;
        skipped.push(`${what}: ${err.message}`);
        // keep going to list every node; later nodes reading this one are not reported again
        for (const o of node.outputs) if (o.name) poisoned.add(o.name);
      }
    }
    where = "onnx";
    for (const o of analysis.outputs) {
      const s = o.constant ? undefined : cv.syms.get(o.name);
      if (!s && poisoned.has(o.name)) continue;
      if (!s) {
        skipped.push(o.constant ? `output "${o.name}" is a constant` : `output "${o.name}" is a graph input bound as a constant`);
        continue;
      }
      outputs.push({ name: o.name, node: s.node, layout: s.layout, shape: [...s.shape] });
    }
    if (cv.nodes.length === 0 && skipped.length === 0) skipped.push("the graph has no layer (every output is an input or a constant)");
    if (skipped.length > 0) throw new NotConvertibleError(skipped);
  } catch (err) {
    if (err instanceof Error && !(err instanceof SimdnetError)) throw new SimdnetError(`${where}: ${err.message}`, { cause: err });
    throw err;
  } finally {
    // the parameters are host copies: nothing the analysis folded or uploaded outlives it
    analysis?.dispose();
    for (const c of constants.values()) c.dispose();
  }
  const spec: GraphSpec = { inputs: graphInputs, nodes: cv.nodes, outputs: [...new Set(outputs.map((o) => o.node))] };
  // the first ONNX output first: Model.forward returns it
  const first = outputs[0]!.node;
  spec.outputs = [first, ...spec.outputs.filter((n) => n !== first)];
  for (const [name, v] of cv.params) {
    const bad = v.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) fail("onnx", `parameter "${name}" holds a non-finite value (${v[bad]})`);
  }
  let model: OnnxImportedModel;
  try {
    model = new OnnxImportedModel(engine, spec, { ...options, initialParams: cv.params });
  } catch (err) {
    if (err instanceof Error && !(err instanceof SimdnetError)) throw new SimdnetError(`onnx: ${err.message}`, { cause: err });
    throw err;
  }
  model.onnxInputs = bindings;
  model.onnxOutputs = outputs;
  return model;
}
