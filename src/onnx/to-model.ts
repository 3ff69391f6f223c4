// Importing an ONNX graph as a simdnet Model: every node maps onto a registered layer kind
// (conv, pool, dense, batchNorm, ... and the kinds of ./layers.ts), initializers become the
// model's initial parameters, constant subgraphs are folded at import with the ONNX_OPS table
// (the same attribute parsing and op semantics as the executor). The result is a normal Model:
// summary(), forward/backward, freeze, saveWeights, exportOnnx.
//
// Layouts: an ONNX rank-4 value [N, C, H, W] is a model tensor with per-image shape [H, W, C]
// ("nhwc"); any other value keeps ONNX element order with the batch axis first ("onnx"). The
// importer inserts `transpose` layers (marked `to: "nhwc"` / `"nchw"`) where an order-sensitive op
// (Flatten, Reshape, Gemm after a conv...) needs the other form.
//
// Graphs the Model cannot express (ops acting on the batch axis, non-constant weights, ops with no
// layer kind such as Mul of two activations) raise NotConvertibleError naming every such node;
// the phase-1 executor (importOnnx / OnnxModel) runs those.
import type { Engine } from "../engine.js";
import { fail, fmtShape, SimdnetError } from "../errors.js";
import { layerKind } from "../model/layers.js";
import { Model, type ModelOptions } from "../model/model.js";
import type { AnyNodeSpec, GraphSpec } from "../model/spec.js";
import type { Shape } from "../tensor.js";
import { Attributes } from "./attributes.js";
import { type HostData, permute, sizeOfDims } from "./host.js";
import "./layers.js";
import { checkSupported, defaultOpset, type OnnxFeed, type OnnxTensorData } from "./model.js";
import { DataType, decodeModel, type ModelProto, type NodeProto } from "./onnx-proto.js";
import { ONNX_OPS, tensorValue } from "./ops.js";
import { isFloatType, RunContext, Value } from "./value.js";

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

/** Converts a decoded ModelProto into a GraphSpec + parameters. */
class Converter {
  readonly nodes: AnyNodeSpec[] = [];
  readonly params = new Map<string, Float32Array>();
  /** The model tensor of each ONNX value name; set through bind(). */
  readonly syms = new Map<string, Sym>();
  /** How many ONNX value names each model tensor (node) is bound to. */
  private readonly bindings = new Map<string, number>();
  readonly consts = new Map<string, Value>();
  /** How often each value name is read (node inputs and graph outputs). */
  readonly used = new Map<string, number>();
  private readonly names = new Set<string>();
  private readonly suffixes = new Map<string, number>();
  private readonly converted = new Map<string, Sym>();
  readonly ctx: RunContext;
  readonly opset: number;
  where = "";

  constructor(
    readonly engine: Engine,
    readonly proto: ModelProto,
  ) {
    this.opset = defaultOpset(proto);
    const use = (name: string) => this.used.set(name, (this.used.get(name) ?? 0) + 1);
    for (const n of proto.graph.node) for (const i of n.input) use(i);
    for (const o of proto.graph.output) use(o.name);
    this.ctx = new RunContext(engine, this.opset);
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

  /** A constant input's data as float32 (ONNX order), or skip. */
  constant(node: NodeProto, k: number, what: string): Value {
    const name = node.input[k];
    const v = name ? this.consts.get(name) : undefined;
    if (!v) this.skip(`${what} (input ${k}) must be a constant`);
    return v;
  }

  floats(v: Value): Float32Array {
    const h = this.ctx.host(v);
    return h instanceof Float32Array ? h : Float32Array.from(h);
  }

  /** The dynamic (non-constant) input k. */
  sym(node: NodeProto, k: number): Sym {
    const name = node.input[k];
    const s = name ? this.syms.get(name) : undefined;
    if (!s) this.skip(name && this.consts.has(name) ? `input ${k} is a constant where an activation is expected` : `input ${k} is missing`);
    return s;
  }
}

type Mapper = (cv: Converter, node: NodeProto, attrs: any) => Sym[];

/** Layer types whose output may carry a fused activation (their backward does not read their output). */
const FUSABLE = new Set(["conv", "convTranspose", "dense", "batchNorm", "add", "pool", "globalPool"]);

const padField = (s: { pads: number[]; autoPad: string }) =>
  s.autoPad === "SAME_UPPER" ? "same" : s.autoPad === "SAME_LOWER" ? "sameLower" : s.autoPad === "VALID" ? "valid" : [...s.pads];

const attrFloat = (node: NodeProto, name: string, dflt: number): number => node.attribute.find((a) => a.name === name)?.f ?? dflt;

const unaryKind =
  (type: string): Mapper =>
  (cv, node) => {
    const x = cv.sym(node, 0);
    return [cv.add(node.output[0]!, { type }, [x], x.layout)];
  };

function convMapper(transposed: boolean): Mapper {
  return (cv, node, a) => {
    const x = cv.asNhwc(cv.sym(node, 0));
    const w = cv.constant(node, 1, "W");
    if (w.rank !== 4) cv.skip(`weights must be rank 4, got ${fmtShape(w.shape)}`);
    if (a.s.kernel && (a.s.kernel[0] !== w.shape[2] || a.s.kernel[1] !== w.shape[3])) cv.skip("kernel_shape does not match the weights");
    const [d0, d1, kh, kw] = w.shape as [number, number, number, number];
    const params: Record<string, Float32Array> = { weight: permute(cv.floats(w), w.shape, [2, 3, 1, 0]) };
    const filters = transposed ? d1 * a.groups : d0;
    if (node.input[2]) {
      const b = cv.constant(node, 2, "B");
      if (b.size !== filters) cv.skip(`B must have ${filters} values, got ${fmtShape(b.shape)}`);
      params.bias = cv.floats(b);
    }
    const spec: Record<string, unknown> = {
      type: transposed ? "convTranspose" : "conv",
      filters,
      size: [kh, kw],
      stride: a.s.strides,
      pad: padField(a.s),
      dilation: a.s.dilations,
      groups: a.groups,
      bias: params.bias !== undefined,
    };
    if (transposed) {
      spec.outputPadding = a.outputPadding;
      if (a.outputShape) spec.outputShape = a.outputShape;
    }
    return [cv.add(node.output[0]!, spec, [x], "nhwc", params)];
  };
}

const poolMapper =
  (mode: "max" | "avg"): Mapper =>
  (cv, node, { options: o }) => {
    if (node.output.length > 1 && node.output[1]) cv.skip("the Indices output has no layer");
    const x = cv.asNhwc(cv.sym(node, 0));
    const spec = {
      type: "pool",
      mode,
      size: o.kernel,
      stride: o.strides,
      dilation: o.dilations ?? 1,
      pad: o.autoPad ? padField({ pads: [], autoPad: o.autoPad }) : [...o.pads],
      ceil: o.ceilMode,
      ...(mode === "avg" ? { countIncludePad: o.countIncludePad } : {}),
    };
    return [cv.add(node.output[0]!, spec, [x], "nhwc")];
  };

const globalPoolMapper =
  (mode: "max" | "avg"): Mapper =>
  (cv, node) => [cv.add(node.output[0]!, { type: "globalPool", mode }, [cv.asNhwc(cv.sym(node, 0))], "nhwc")];

/** dense from A [N, K] and constant weights [K, units] (already transposed / scaled), optional bias. */
function dense(cv: Converter, node: NodeProto, a: Sym, weight: Float32Array, units: number, bias?: Float32Array): Sym {
  const x = cv.asOnnx(a);
  if (x.shape.length !== 2) cv.skip(`A must be rank 2, got ${fmtShape(x.shape)}`);
  const params: Record<string, Float32Array> = { weight };
  if (bias) params.bias = bias;
  return cv.add(node.output[0]!, { type: "dense", units, bias: bias !== undefined }, [x], "onnx", params);
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
    if (node.input[2]) {
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
    const fused = cv.fuse(node.input[0]!, "relu");
    return fused ? [fused] : unaryKind("relu")(cv, node, undefined);
  },
  Sigmoid: unaryKind("sigmoid"),
  Tanh: unaryKind("tanh"),
  LeakyRelu(cv, node, { alpha }) {
    const fused = alpha > 0 ? cv.fuse(node.input[0]!, "leakyRelu", { alpha }) : undefined;
    if (fused) return [fused];
    const x = cv.sym(node, 0);
    return [cv.add(node.output[0]!, { type: "leakyRelu", alpha }, [x], x.layout)];
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
    return [cv.add(node.output[0]!, { type: "prelu", shared: slope.size === 1 }, [x], x.layout, { slope: cv.floats(slope).slice() })];
  },
  Softmax: softmaxMapper("softmax"),
  LogSoftmax: softmaxMapper("logSoftmax"),
  BatchNormalization(cv, node, { epsilon }) {
    if (node.output.length > 1 && node.output.slice(1).some(Boolean)) cv.skip("training outputs have no layer");
    let x = cv.sym(node, 0);
    if (x.shape.length === 4) x = cv.asNhwc(x);
    else if (x.shape.length !== 2) cv.skip(`X must be [N, C] or [N, C, H, W], got ${fmtShape(x.shape)}`);
    const c = x.shape[1]!;
    const [weight, bias, runningMean, runningVar] = [1, 2, 3, 4].map((k) => {
      const v = cv.constant(node, k, ["", "scale", "B", "mean", "var"][k]!);
      if (v.size !== c) cv.skip(`input ${k} must have ${c} values, got ${fmtShape(v.shape)}`);
      return cv.floats(v);
    });
    const momentum = attrFloat(node, "momentum", 0.9);
    return [
      cv.add(node.output[0]!, { type: "batchNorm", epsilon, momentum }, [x], x.layout, {
        weight: weight!,
        bias: bias!,
        runningMean: runningMean!,
        runningVar: runningVar!,
      }),
    ];
  },
  LRN(cv, node, a) {
    return [cv.add(node.output[0]!, { type: "lrn", ...a }, [cv.asNhwc(cv.sym(node, 0))], "nhwc")];
  },
  Dropout(cv, node) {
    if (node.output.length > 1 && node.output[1] && cv.used.has(node.output[1]!)) cv.skip("the mask output is used (no layer)");
    const x = cv.sym(node, 0);
    let rate = attrFloat(node, "ratio", 0.5);
    if (cv.opset >= 12 && node.input[1]) rate = cv.floats(cv.constant(node, 1, "ratio"))[0]!;
    return [cv.add(node.output[0]!, { type: "dropout", rate }, [x], x.layout)];
  },
  Add: addMapper,
  Sum: addMapper,
  Concat(cv, node, { axis }) {
    const xs = node.input.filter(Boolean).map((_, k) => cv.sym(node, k));
    const r = xs[0]!.shape.length;
    if (Number.isNaN(axis)) cv.skip("axis is required");
    const ax = axis < 0 ? axis + r : axis;
    if (ax <= 0 || ax >= r) cv.skip(`axis ${axis} (the batch axis, or out of range) has no layer`);
    if (r === 4 && ax === 1)
      return [
        cv.add(
          node.output[0]!,
          { type: "concat" },
          xs.map((x) => cv.asNhwc(x)),
          "nhwc",
        ),
      ];
    const ys = xs.map((x) => cv.asOnnx(x));
    const spec = ax === r - 1 ? { type: "concat" } : { type: "concatAxis", axis: ax - 1 };
    return [cv.add(node.output[0]!, spec, ys, "onnx")];
  },
  Flatten(cv, node, { axis }) {
    const x = cv.asOnnx(cv.sym(node, 0));
    const r = x.shape.length;
    const ax = axis < 0 ? axis + r : axis;
    // only axis 1 keeps the batch axis apart: [N, prod(rest)]
    if (ax !== 1) cv.skip(`axis ${axis} folds the batch axis into rows`);
    return [cv.add(node.output[0]!, { type: "flatten" }, [x], "onnx")];
  },
  Reshape(cv, node, a) {
    const x = cv.sym(node, 0);
    const shapeIn = node.input[1] ? { shape: cv.constant(node, 1, "shape").shape, value: cv.constant(node, 1, "shape") } : undefined;
    const [out] = ONNX_OPS.Reshape!.shape!(cv.ctx, [{ shape: x.shape }, shapeIn], a);
    if (!out || out[0] !== x.shape[0]) return cv.skip(`the target shape ${out ? fmtShape(out) : "?"} changes the batch axis`);
    return [cv.add(node.output[0]!, { type: "reshape", shape: out.slice(1) }, [cv.asOnnx(x)], "onnx")];
  },
  Transpose(cv, node, { perm }) {
    const x = cv.sym(node, 0);
    const r = x.shape.length;
    const p: number[] = perm ?? Array.from({ length: r }, (_, i) => r - 1 - i);
    if (p.length !== r || p[0] !== 0) cv.skip(`perm [${p.join(",")}] moves the batch axis`);
    // NHWC data already is the ONNX [N, H, W, C] transpose
    if (x.layout === "nhwc" && p.join() === "0,2,3,1") return [{ node: x.node, layout: "onnx", shape: p.map((i) => x.shape[i]!) }];
    const y = cv.asOnnx(x);
    return [cv.add(node.output[0]!, { type: "transpose", perm: p.slice(1).map((i) => i - 1) }, [y], "onnx")];
  },
  Pad(cv, node, a) {
    const x = cv.sym(node, 0);
    const r = x.shape.length;
    let p: number[] = a.pads ?? cv.ctx.ints(cv.constant(node, 1, "pads"));
    const value = a.pads ? a.value : node.input[2] ? (cv.floats(cv.constant(node, 2, "constant_value"))[0] ?? 0) : 0;
    if (node.input[3]) {
      const axes = cv.ctx.ints(cv.constant(node, 3, "axes")).map((v) => (v < 0 ? v + r : v));
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
    return [cv.add(node.output[0]!, { type: "pad", pads, mode: a.mode, value }, [x], x.layout)];
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
    const out = node.output[0]!;
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

function addMapper(cv: Converter, node: NodeProto, a: { legacyAxis?: number }): Sym[] {
  if (a.legacyAxis !== undefined) cv.skip("legacy broadcast");
  let xs = node.input.filter(Boolean).map((_, k) => cv.sym(node, k));
  if (xs.length === 1) return [xs[0]!];
  if (xs.some((x) => x.shape.join() !== xs[0]!.shape.join())) cv.skip(`inputs ${xs.map((x) => fmtShape(x.shape)).join(", ")} broadcast (no layer)`);
  if (xs.some((x) => x.layout !== xs[0]!.layout)) xs = xs.map((x) => cv.asNhwc(x));
  return [cv.add(node.output[0]!, { type: "add" }, xs, xs[0]!.layout)];
}

function resizeMapper(
  cv: Converter,
  node: NodeProto,
  a: { mode: string; coordinateMode: string; nearestMode: string; scales?: number[]; inputsLayout: string },
): Sym[] {
  if (a.mode !== "nearest") cv.skip(`mode "${a.mode}" has no layer (nearest only)`);
  if (a.coordinateMode === "tf_crop_and_resize") cv.skip("tf_crop_and_resize");
  const x = cv.sym(node, 0);
  const r = x.shape.length;
  const floats = (k: number) => (node.input[k] ? Array.from(cv.floats(cv.constant(node, k, "scales/sizes"))) : []);
  let scales: number[] | undefined, sizes: number[] | undefined;
  if (a.inputsLayout === "upsample7") scales = a.scales;
  else if (a.inputsLayout === "upsample9" || a.inputsLayout === "resize10") scales = floats(1);
  else {
    scales = floats(2);
    const s = node.input[3] ? cv.ctx.ints(cv.constant(node, 3, "sizes")) : [];
    if (s.length > 0) sizes = s;
  }
  let outDims: number[], sc: number[];
  if (sizes) {
    if (sizes.length !== r) cv.skip("sizes rank");
    outDims = sizes;
    sc = sizes.map((s, i) => s / x.shape[i]!);
  } else {
    if (!scales || scales.length !== r || scales.some((s) => !(s > 0))) cv.skip(`scales [${scales?.join(",") ?? ""}]`);
    sc = scales;
    outDims = x.shape.map((d, i) => Math.floor(d * scales![i]!));
  }
  if (outDims[0] !== x.shape[0]) cv.skip("resizes the batch axis");
  const order = x.layout === "nhwc" ? [2, 3, 1] : Array.from({ length: r - 1 }, (_, i) => i + 1);
  const spec = {
    type: "resize",
    outShape: order.map((ax) => outDims[ax]!),
    scales: order.map((ax) => sc[ax]!),
    coordinateMode: a.coordinateMode,
    nearestMode: a.nearestMode,
  };
  return [cv.add(node.output[0]!, spec, [x], x.layout)];
}

/** Node types the Model path maps (the others run only in the executor). */
export const MODEL_MAPPED_OPS = Object.keys(MAPPERS);

/**
 * Imports ONNX bytes (or a decoded ModelProto) as an OnnxImportedModel (a Model). Throws one
 * SimdnetError listing every unsupported op before anything runs, NotConvertibleError for graphs
 * the Model cannot express (the executor, importOnnx, still runs those), and a clear error for a
 * malformed file.
 */
export function importOnnxModel(engine: Engine, bytes: Uint8Array | ModelProto, options: ImportModelOptions = {}): OnnxImportedModel {
  const proto = bytes instanceof Uint8Array ? decodeModel(bytes) : bytes;
  if (!proto || !proto.graph) fail("importOnnxModel", "bytes must be ONNX model bytes (a Uint8Array) or a decoded ModelProto");
  const opset = defaultOpset(proto);
  checkSupported(proto, opset);
  const cv = new Converter(engine, proto);
  const g = proto.graph;
  const skipped: string[] = [];
  const given = options.constants ?? {};
  const graphInputs: { name: string; shape: number[] }[] = [];
  const bindings: OnnxBinding[] = [];
  const poisoned = new Set<string>();
  const produced = new Set<string>(); // node outputs so far (a released constant leaves cv.consts)
  try {
    for (const t of g.initializer) cv.consts.set(t.name, tensorValue(t));
    for (const inp of g.input) {
      if (cv.consts.has(inp.name)) continue;
      const c = given[inp.name];
      if (c) {
        cv.consts.set(inp.name, Value.fromHost(c.dims, c.data, c.dataType ?? (inp.elemType || DataType.FLOAT)));
        continue;
      }
      const declared = options.inputShapes?.[inp.name] ?? inp.shape?.map((d) => (typeof d === "number" && d > 0 ? d : 1));
      if (!declared) fail("importOnnxModel", `input "${inp.name}" has no declared shape: pass options.inputShapes`);
      if (inp.elemType !== DataType.FLOAT && inp.elemType !== 0) skipped.push(`input "${inp.name}" is not float`);
      if (declared.length < 2) skipped.push(`input "${inp.name}" ${fmtShape(declared)} has no per-image shape (rank < 2)`);
      const layout: OnnxLayout = declared.length === 4 ? "nhwc" : "onnx";
      const name = cv.unique(inp.name);
      const sym: Sym = { node: name, layout, shape: [...declared] };
      cv.bind(inp.name, sym);
      graphInputs.push({ name, shape: cv.perImage(sym) });
      bindings.push({ name: inp.name, node: name, layout, shape: [...declared] });
    }
    g.node.forEach((node, k) => {
      const where = `node ${k} "${node.name || node.output[0] || "?"}" (${node.opType})`;
      cv.where = `onnx: ${where}`;
      cv.ctx.where = cv.where;
      const op = ONNX_OPS[node.opType]!;
      const attrs = op.parse(new Attributes(node, cv.where), opset);
      for (const name of node.input) {
        if (name && !cv.consts.has(name) && !cv.syms.has(name) && !poisoned.has(name))
          fail(cv.where, `input "${name}" is not produced by any earlier node, initializer or graph input`);
      }
      for (const name of node.output) {
        if (!name) continue;
        if (cv.consts.has(name) || cv.syms.has(name) || poisoned.has(name) || produced.has(name)) {
          fail(cv.where, `output "${name}" is already produced by an earlier node, an initializer or a graph input (ONNX values are assigned once)`);
        }
        produced.add(name);
      }
      if (node.input.some((n) => n && poisoned.has(n))) {
        for (const name of node.output) if (name) poisoned.add(name);
        return; // reads a node that could not be mapped (already listed)
      }
      const dynamic = node.input.filter((n) => n && cv.syms.has(n));
      if (dynamic.length === 0 || node.opType === "Shape") {
        // constant folding (Shape of an activation: its import-time shape)
        if (op.fold === false && dynamic.length === 0) {
          skipped.push(`${where}: not foldable`);
          return;
        }
        const ins = node.input.map((n) => (!n ? undefined : (cv.consts.get(n) ?? new Value(cv.syms.get(n)!.shape))));
        const outs = op.run(cv.ctx, ins, attrs, node.output.length);
        outs.forEach((v, i) => {
          const name = node.output[i];
          if (name) cv.consts.set(name, Value.fromHost(v.shape, cv.ctx.host(v), v.dataType));
          if (!ins.includes(v) && !v.constant) v.dispose();
        });
        return;
      }
      // constants read for the last time here can go once the node is mapped (VGG's fc6 is 400 MB)
      const release = () => {
        for (const name of node.input) {
          if (!name || !cv.consts.has(name)) continue;
          const left = (cv.used.get(name) ?? 1) - 1;
          cv.used.set(name, left);
          if (left <= 0) {
            cv.consts.get(name)!.dispose();
            cv.consts.delete(name);
          }
        }
      };
      const map = MAPPERS[node.opType];
      try {
        if (!map) cv.skip("no layer kind");
        const outs = map!(cv, node, attrs); // cv.skip throws when there is none
        node.output.forEach((name, i) => {
          if (name && outs[i]) cv.bind(name, outs[i]!);
        });
        release();
      } catch (err) {
        if (!(err instanceof Skip)) throw err;
        skipped.push(`${where}: ${err.message}`);
        // keep going to list every node; later nodes reading this one are not reported again
        for (const name of node.output) if (name) poisoned.add(name);
      }
    });
    const outputs: OnnxBinding[] = [];
    for (const o of g.output) {
      const s = cv.syms.get(o.name);
      if (!s && poisoned.has(o.name)) continue;
      if (!s) {
        if (cv.consts.has(o.name)) skipped.push(`output "${o.name}" is a constant`);
        else fail("onnx", `graph output "${o.name}" is not produced by any node`);
        continue;
      }
      outputs.push({ name: o.name, node: s.node, layout: s.layout, shape: [...s.shape] });
    }
    if (cv.nodes.length === 0 && skipped.length === 0) skipped.push("the graph has no layer (every output is an input or a constant)");
    if (skipped.length > 0) throw new NotConvertibleError(skipped);
    const spec: GraphSpec = { inputs: graphInputs, nodes: cv.nodes, outputs: [...new Set(outputs.map((o) => o.node))] };
    // the first ONNX output first: Model.forward returns it
    const first = outputs[0]!.node;
    spec.outputs = [first, ...spec.outputs.filter((n) => n !== first)];
    for (const [name, v] of cv.params) {
      const bad = v.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) fail("onnx", `parameter "${name}" holds a non-finite value (${v[bad]})`);
    }
    const model = new OnnxImportedModel(engine, spec, { ...options, initialParams: cv.params });
    model.onnxInputs = bindings;
    model.onnxOutputs = outputs;
    return model;
  } catch (err) {
    if (err instanceof Error && !(err instanceof SimdnetError)) throw new SimdnetError(`${cv.where || "onnx"}: ${err.message}`, { cause: err });
    throw err;
  } finally {
    // the model holds copies (initialParams): no device form of a constant outlives the import
    for (const v of cv.consts.values()) v.dispose();
  }
}

/** Whether a value type is float (re-exported for callers checking feeds). */
export const isFloat = (t: number): boolean => isFloatType(t);
export type { HostData };
