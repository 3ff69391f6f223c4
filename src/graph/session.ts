// InferenceSession: the ONNX runtime's public face, shaped like onnxruntime-web's so that moving
// over takes a few lines:
//   const s = await nn.InferenceSession.create(bytes | url | path, { build, threads });
//   const out = await s.run({ [s.inputNames[0]]: new nn.OnnxTensor("float32", data, [1, 3, 224, 224]) });
//   out[s.outputNames[0]].data   // Float32Array, ONNX (NCHW) order
// A model is imported once (graph.ts: checks, attributes, topological order), planned once per
// distinct set of input shapes (plan.ts: algorithms, layouts, memory; the last few plans are kept),
// and run many times without allocating in wasm memory.
import { type Engine, init } from "../engine.js";
import { fail, fmtShape, fmtValue, SimdnetError } from "../errors.js";
import { checkOptions } from "../ops/common.js";
import { DataType, dataTypeName, decodeModel, type ExternalDataReader, floatToHalf, halfToFloat, type ModelProto } from "../onnx/onnx-proto.js";
import type { BuildName } from "../runtime.js";
import { ConstValue } from "./constants.js";
import { type Graph, type GraphIO, type GraphNode, importGraph } from "./import.js";
import "./ops/index.js";
import { Plan, type PlanReport, planGraph, type StagedPlan, type TrainingOptions } from "./plan.js";
import { type SessionInternals, type TrainableOptions, TrainableSession } from "./train.js";
import { elemOf, type HostTensor, hostTensor, sizeOfDims, toI32 } from "./types.js";

/** Element type names, as onnxruntime-web's Tensor.type. */
export type OnnxTensorType =
  | "float32"
  | "float16"
  | "float64"
  | "bfloat16"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint64"
  | "uint32"
  | "uint16"
  | "uint8"
  | "bool";

/** The typed array (or plain array) holding an OnnxTensor's elements, by element type (see OnnxTensor). */
export type OnnxTensorArray =
  | Float32Array
  | Float64Array
  | Uint16Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint32Array
  | Uint8Array
  | BigInt64Array
  | BigUint64Array
  | number[];

const TYPE_OF: Record<number, OnnxTensorType> = {
  [DataType.FLOAT]: "float32",
  [DataType.FLOAT16]: "float16",
  [DataType.DOUBLE]: "float64",
  16: "bfloat16",
  [DataType.INT64]: "int64",
  [DataType.INT32]: "int32",
  [DataType.INT16]: "int16",
  [DataType.INT8]: "int8",
  [DataType.UINT64]: "uint64",
  [DataType.UINT32]: "uint32",
  [DataType.UINT16]: "uint16",
  [DataType.UINT8]: "uint8",
  [DataType.BOOL]: "bool",
};
const DATA_TYPE_OF: Record<string, number> = Object.fromEntries(Object.entries(TYPE_OF).map(([k, v]) => [v, Number(k)]));

/** The element type name of an ONNX TensorProto.DataType code. */
export const onnxTensorType = (dataType: number): OnnxTensorType =>
  TYPE_OF[dataType] ?? fail("onnx", `element type ${dataTypeName(dataType)} is not supported`);

/**
 * A host tensor in ONNX layout, as onnxruntime-web's `Tensor`: `new OnnxTensor("float32", data, dims)`
 * (or `new OnnxTensor(float32Data, dims)`). float16 data is a Uint16Array of IEEE half bits, int64 a
 * BigInt64Array, bool a Uint8Array.
 */
export class OnnxTensor {
  readonly type: OnnxTensorType;
  readonly data: OnnxTensorArray;
  readonly dims: readonly number[];

  constructor(type: OnnxTensorType, data: OnnxTensorArray, dims?: readonly number[]);
  constructor(data: Float32Array, dims?: readonly number[]);
  constructor(a: OnnxTensorType | Float32Array, b?: OnnxTensorArray | readonly number[], c?: readonly number[]) {
    if (typeof a === "string") {
      if (!(a in DATA_TYPE_OF)) fail("OnnxTensor", `unknown type ${fmtValue(a)} (expected one of ${Object.values(TYPE_OF).join(", ")})`);
      this.type = a;
      this.data = b as OnnxTensorArray;
      this.dims = c ? [...c] : [(b as OnnxTensorArray)?.length ?? 0];
    } else {
      this.type = "float32";
      this.data = a;
      this.dims = b ? [...(b as readonly number[])] : [a?.length ?? 0];
    }
    if (!this.data || typeof this.data.length !== "number") fail("OnnxTensor", `data must be a typed array or an array, got ${fmtValue(this.data)}`);
    if (!Array.isArray(this.dims) || this.dims.some((d) => !Number.isSafeInteger(d) || d < 0))
      fail("OnnxTensor", `dims must be integers >= 0, got ${fmtValue(this.dims)}`);
    if (sizeOfDims(this.dims) !== this.data.length)
      fail("OnnxTensor", `dims ${fmtShape(this.dims)} need ${sizeOfDims(this.dims)} elements, data has ${this.data.length}`);
  }

  get size(): number {
    return this.data.length;
  }
}

/** A feed: an OnnxTensor, an onnxruntime-web Tensor, or any `{ dims, data, type? }`. */
export interface OnnxFeedLike {
  readonly dims: readonly number[];
  readonly data: OnnxTensorArray | ArrayLike<number | bigint>;
  readonly type?: string;
}

/** Options of InferenceSession.create. */
export interface SessionOptions {
  /** The wasm build (default "auto"). */
  build?: "auto" | BuildName;
  /** Threads (default 1); see InitOptions.threads. */
  threads?: number;
  /** Run on this engine instead of making one (the session then does not own it). */
  engine?: Engine;
  /** Sizes for symbolic input dimensions by name (e.g. { batch: 1 }), used to plan at create time. */
  freeDimensions?: Record<string, number>;
  /** Refuse plans needing more than this many bytes of wasm memory (activations, workspace, folded constants). */
  maxPlanBytes?: number;
  /**
   * The memory limit of the engine the session makes (see InitOptions.memoryLimit; not with
   * `engine`, whose limit is its own): plans, constants and outputs beyond it are refused while
   * planning, before anything is allocated or computed.
   */
  memoryLimit?: number;
  /**
   * The files of tensors stored outside the model (ONNX external data), by their `location` in
   * the model (e.g. { "model.onnx.data": bytes }), for a model given as bytes. A model given as a
   * file path in Node reads them from its directory instead.
   */
  externalData?: Record<string, Uint8Array>;
}

/** A model input's or output's name, element type and declared shape. */
export interface SessionIOMetadata {
  readonly name: string;
  readonly type: OnnxTensorType;
  /** Declared dims: sizes, symbolic names, or null where the file says nothing; undefined rank unknown. */
  readonly shape?: readonly (number | string | null)[];
}

/** How many plans (distinct input shapes) a session keeps. */
const PLAN_CACHE = 4;

/**
 * A model imported once and run many times: planned per distinct set of input shapes (algorithms,
 * layouts, memory reused by liveness), every op in wasm kernels. Shaped like onnxruntime-web's
 * InferenceSession: `create`, `inputNames`, `outputNames`, `run(feeds)`.
 */
export class InferenceSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly SessionIOMetadata[];
  readonly outputMetadata: readonly SessionIOMetadata[];
  private readonly constants = new Map<string, ConstValue>();
  private readonly plans = new Map<string, Plan | StagedPlan>();
  /** Graph inputs read where a value must be known to plan (a Reshape's shape...): plans are made per value. */
  private readonly valueFeeds: ReadonlySet<string>;
  /** Graph inputs an If's condition depends on: small ones (<= 64 elements) are planned per value too. */
  private readonly optionalValueFeeds: ReadonlySet<string>;
  private released = false;

  private readonly graph: Graph;

  private constructor(
    readonly engine: Engine,
    imported: Graph,
    private readonly ownsEngine: boolean,
    private readonly options: SessionOptions,
  ) {
    // the initializers become ConstValues (which drop big host copies once uploaded): the graph
    // keeps none, so no second copy of the weights stays alive
    const graph: Graph = { ...imported, initializers: new Map() };
    this.graph = graph;
    this.inputNames = graph.inputs.map((i) => i.name);
    this.outputNames = graph.outputs.map((o) => o.name);
    const meta = (io: GraphIO): SessionIOMetadata => ({ name: io.name, type: onnxTensorType(io.dataType), shape: io.shape });
    this.inputMetadata = graph.inputs.map(meta);
    this.outputMetadata = graph.outputs.map(meta);
    for (const [name, t] of imported.initializers) this.constants.set(name, new ConstValue(engine, t.dataType, t.dims, t));
    this.valueFeeds = valueFeedsOf(graph, "valueInputs");
    this.optionalValueFeeds = valueFeedsOf(graph, "optionalValueInputs");
  }

  /**
   * Loads a model: `.onnx` bytes, or a URL (fetched) or file path (read with node:fs where there is
   * one). Checks every node; when every input's shape is fixed (or given by freeDimensions), plans
   * now so errors surface here.
   */
  static async create(model: Uint8Array | ArrayBuffer | string, options: SessionOptions = {}): Promise<InferenceSession> {
    checkOptions("InferenceSession.create", "options", options);
    const bytes = await loadBytes(model);
    const reader = options.externalData === undefined ? await fileDataReader(model) : undefined;
    if (options.engine && options.memoryLimit !== undefined)
      fail("InferenceSession.create", "options.memoryLimit is for the engine the session makes; a given engine keeps its own (init option memoryLimit)");
    const engine = options.engine ?? (await init({ build: options.build ?? "auto", threads: options.threads ?? 1, memoryLimit: options.memoryLimit }));
    try {
      return InferenceSession.load(engine, bytes, options, !options.engine, reader);
    } catch (err) {
      if (!options.engine) engine.dispose();
      throw err;
    }
  }

  /** A session on `engine` from `.onnx` bytes, synchronously (the engine stays the caller's). */
  static fromBytes(engine: Engine, bytes: Uint8Array, options: SessionOptions = {}, ownsEngine = false): InferenceSession {
    return InferenceSession.load(engine, bytes, options, ownsEngine, undefined);
  }

  private static load(engine: Engine, bytes: Uint8Array, options: SessionOptions, ownsEngine: boolean, fileReader?: ExternalDataReader): InferenceSession {
    if (!(bytes instanceof Uint8Array)) fail("InferenceSession", `the model must be a Uint8Array of .onnx bytes, got ${fmtValue(bytes)}`);
    checkMaxPlanBytes(options); // before decoding
    const externalData = options.externalData === undefined ? fileReader : bytesDataReader(options.externalData);
    return InferenceSession.fromModel(engine, decodeModel(bytes, { externalData }), options, ownsEngine);
  }

  /** @internal A session from a decoded model (importOnnx, which reads the model's metadata too). */
  static fromModel(engine: Engine, proto: ModelProto, options: SessionOptions = {}, ownsEngine = false): InferenceSession {
    checkMaxPlanBytes(options);
    const graph = importGraph(proto);
    const s = new InferenceSession(engine, graph, ownsEngine, options);
    try {
      const shapes = s.declaredShapes();
      if (shapes && s.valueFeeds.size === 0 && s.optionalValueFeeds.size === 0) s.planFor(shapes);
    } catch (err) {
      s.releaseSync();
      throw err;
    }
    return s;
  }

  /** Input shapes from the declarations (and freeDimensions), or undefined if one is not fixed. */
  private declaredShapes(): Map<string, number[]> | undefined {
    const free = this.options.freeDimensions ?? {};
    const shapes = new Map<string, number[]>();
    for (const i of this.graph.inputs) {
      if (!i.shape) return undefined;
      const dims: number[] = [];
      for (const d of i.shape) {
        const v = typeof d === "number" && d >= 0 ? d : typeof d === "string" && Object.hasOwn(free, d) ? free[d] : undefined;
        if (v === undefined) return undefined;
        dims.push(v);
      }
      shapes.set(i.name, dims);
    }
    return shapes;
  }

  /** The plan for these input shapes (and values of valueFeeds), made and kept on first use. */
  private planFor(
    shapes: ReadonlyMap<string, readonly number[]>,
    feeds?: Record<string, OnnxFeedLike>,
    training?: { options: TrainingOptions; key: string },
  ): Plan | StagedPlan {
    if (this.released) fail("InferenceSession", "the session was released");
    const known = new Map<string, HostTensor>();
    const asHost = (name: string, f: OnnxFeedLike) => {
      const io = this.graph.inputs.find((i) => i.name === name)!;
      known.set(
        name,
        hostTensor(
          io.dataType,
          [...f.dims],
          Array.from(f.data as ArrayLike<number | bigint>, (v) => Number(v)),
        ),
      );
    };
    // inputs whose values set shapes: small ones are planned per value; a larger one (NonZero of
    // an image) stages an inference plan at the node that needs it (StagedPlan)
    for (const name of this.valueFeeds) {
      const f = feeds?.[name];
      if (!f) fail("InferenceSession", `input "${name}" is needed to plan (it sets a shape or a branch): run with it`);
      if (f.data.length <= 64) asHost(name, f);
      else if (training)
        fail(
          "InferenceSession",
          `input "${name}" sets a shape or a branch, so each of its values needs its own training plan, but it has ${f.data.length} elements (at most 64)`,
        );
    }
    // inputs an If's condition depends on: planned per value when small, else the If runs both ways
    for (const name of this.optionalValueFeeds) {
      const f = feeds?.[name];
      if (!known.has(name) && f && f.data.length <= 64) asHost(name, f);
    }
    const key =
      this.graph.inputs.map((i) => (known.has(i.name) ? `=${Array.from(known.get(i.name)!.data).join(",")}` : shapes.get(i.name)!.join("x"))).join("|") +
      (training ? `|train:${training.key}` : "");
    let plan = this.plans.get(key);
    if (plan) {
      this.plans.delete(key); // most recently used last
      this.plans.set(key, plan);
      return plan;
    }
    plan = planGraph(this.engine, this.graph, this.constants, shapes, { maxBytes: this.options.maxPlanBytes, training: training?.options }, known);
    this.plans.set(key, plan);
    while (this.plans.size > PLAN_CACHE) {
      const [oldest, p] = this.plans.entries().next().value as [string, Plan | StagedPlan];
      p.dispose();
      this.plans.delete(oldest);
    }
    return plan;
  }

  /** What the plan for these input shapes chose: algorithms per step and memory. */
  planReport(shapes: Record<string, readonly number[]>, feeds?: Record<string, OnnxFeedLike>): PlanReport {
    return this.planFor(new Map(Object.entries(shapes)), feeds).report;
  }

  /**
   * A trainable view of this model (fine-tuning): its float initializers become parameters with
   * gradients, and forward / backward run one planned program (see TrainableSession). The session
   * must outlive it.
   */
  trainable(options: TrainableOptions = {}): TrainableSession {
    if (this.released) fail("InferenceSession.trainable", "the session was released");
    return new TrainableSession(this.internals(), options);
  }

  /** @internal What TrainableSession plans with. */
  internals(): SessionInternals {
    return {
      engine: this.engine,
      graph: this.graph,
      constants: this.constants,
      inputShapes: (feeds) => {
        const shapes = new Map<string, number[]>();
        for (const i of this.graph.inputs) {
          const t = Object.hasOwn(feeds, i.name) ? feeds[i.name] : undefined;
          if (!t) fail("TrainableSession", `missing input "${i.name}"`);
          shapes.set(i.name, checkFeed(i, t));
        }
        return shapes;
      },
      plan: (shapes, feeds, training) => {
        const p = this.planFor(shapes, feeds, training);
        return p instanceof Plan ? p : fail("TrainableSession", "internal: a training plan was staged");
      },
      writeFeeds: (plan, feeds) => {
        for (const inp of plan.inputs) writeFeed(this.engine, inp.ptr, inp.value.dataType, feeds[inp.name]!);
      },
      readOutput: (plan, name) => {
        const o = plan.outputs.find((x) => x.name === name)!;
        const declared = this.graph.outputs.find((g) => g.name === name)!.dataType;
        return readOutput(this.engine, o.ptr, o.value.dataType, o.value.elem, o.value.shape, o.constant?.data, declared);
      },
      alive: () => !this.released,
    };
  }

  /** Runs once with these feeds and times every step (for benchmarks: where the time goes). */
  profile(feeds: Record<string, OnnxFeedLike>): { where: string; algorithm: string; ms: number }[] {
    const shapes = new Map<string, number[]>();
    for (const i of this.graph.inputs) shapes.set(i.name, checkFeed(i, feeds[i.name] ?? fail("InferenceSession.profile", `missing input "${i.name}"`)));
    const plan = this.planFor(shapes, feeds);
    for (const inp of plan.inputs) writeFeed(this.engine, inp.ptr, inp.value.dataType, feeds[inp.name]!);
    return plan.profile();
  }

  /**
   * Runs the model. `feeds` maps every input name to a tensor in ONNX layout; returns every output
   * (or those named in `fetches`) as OnnxTensors (copies: they stay valid).
   */
  async run(feeds: Record<string, OnnxFeedLike>, fetches?: readonly string[]): Promise<Record<string, OnnxTensor>> {
    return this.runSync(feeds, fetches);
  }

  /** run(), synchronously. */
  runSync(feeds: Record<string, OnnxFeedLike>, fetches?: readonly string[]): Record<string, OnnxTensor> {
    if (this.released) fail("InferenceSession.run", "the session was released");
    if (!feeds || typeof feeds !== "object") fail("InferenceSession.run", `feeds must be an object of tensors by input name, got ${fmtValue(feeds)}`);
    for (const k of Object.keys(feeds))
      if (!this.inputNames.includes(k)) fail("InferenceSession.run", `"${k}" is not an input (inputs: ${this.inputNames.join(", ")})`);
    const wanted = fetches ?? this.outputNames;
    for (const f of wanted)
      if (!this.outputNames.includes(f)) fail("InferenceSession.run", `"${f}" is not an output (outputs: ${this.outputNames.join(", ")})`);
    const shapes = new Map<string, number[]>();
    for (const i of this.graph.inputs) {
      const t = Object.hasOwn(feeds, i.name) ? feeds[i.name] : undefined;
      if (!t) fail("InferenceSession.run", `missing input "${i.name}"`);
      shapes.set(i.name, checkFeed(i, t));
    }
    const plan = this.planFor(shapes, feeds);
    for (const inp of plan.inputs) writeFeed(this.engine, inp.ptr, inp.value.dataType, feeds[inp.name]!);
    plan.run();
    const out: Record<string, OnnxTensor> = {};
    for (const o of plan.outputs) {
      if (!wanted.includes(o.name)) continue;
      const declared = this.graph.outputs.find((g) => g.name === o.name)!.dataType;
      out[o.name] = readOutput(this.engine, o.ptr, o.value.dataType, o.value.elem, o.value.shape, o.constant?.data, declared);
    }
    return out;
  }

  /** Frees the session's plans and constants (and its engine's workers, if it made the engine). */
  async release(): Promise<void> {
    this.releaseSync();
  }

  private releaseSync(): void {
    if (this.released) return;
    this.released = true;
    for (const p of this.plans.values()) p.dispose();
    this.plans.clear();
    for (const c of this.constants.values()) c.dispose();
    if (this.ownsEngine) this.engine.dispose();
  }
}

function checkMaxPlanBytes(options: SessionOptions): void {
  const max = options.maxPlanBytes;
  if (max !== undefined && !(typeof max === "number" && max > 0))
    fail("InferenceSession", `options.maxPlanBytes must be a number of bytes > 0, got ${fmtValue(max)}`);
}

/**
 * Graph inputs whose VALUES planning needs (`valueInputs`: a Reshape's shape) or can use
 * (`optionalValueInputs`: If's condition): those such inputs depend on, through any nodes but
 * Shape-like ones (which read only types). Plans are made per value of these (a sample rate, a
 * shape given as an input); needed ones must be small.
 */
function valueFeedsOf(graph: Graph, which: "valueInputs" | "optionalValueInputs"): Set<string> {
  const producer = new Map<string, GraphNode>();
  const walk = (nodes: readonly GraphNode[]) => {
    for (const n of nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  };
  walk(graph.nodes);
  const inputs = new Set(graph.inputs.map((i) => i.name));
  const feeds = new Set<string>(),
    seen = new Set<string>();
  const stack: string[] = [];
  for (const n of graph.nodes) for (const k of n.def[which] ?? []) if (n.inputs[k]) stack.push(n.inputs[k]!);
  while (stack.length) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    if (inputs.has(v)) feeds.add(v);
    const p = producer.get(v);
    if (!p || p.def.fromTypes) continue;
    for (const i of [...p.inputs, ...p.implicitInputs]) if (i) stack.push(i);
  }
  return feeds;
}

/** Checks a feed against the input's declaration; returns its dims. */
function checkFeed(i: GraphIO, t: OnnxFeedLike): number[] {
  const what = `InferenceSession.run: input "${i.name}"`;
  if (!t || typeof t !== "object" || !Array.isArray(t.dims) || !t.data || typeof t.data.length !== "number") {
    fail(what, `must be a tensor { dims, data }, got ${fmtValue(t)}`);
  }
  const dims = [...t.dims];
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(what, `dims must be integers >= 0, got ${fmtShape(dims)}`);
  if (sizeOfDims(dims) !== t.data.length) fail(what, `dims ${fmtShape(dims)} need ${sizeOfDims(dims)} values, data has ${t.data.length}`);
  if (t.type !== undefined && DATA_TYPE_OF[t.type] !== i.dataType && !(t.type === "float32" && i.dataType === DataType.FLOAT16)) {
    fail(what, `expects ${onnxTensorType(i.dataType)}, got ${fmtValue(t.type)}`);
  }
  if (i.shape) {
    if (i.shape.length !== dims.length) fail(what, `expects rank ${i.shape.length} ([${i.shape.map((d) => d ?? "?").join(",")}]), got ${fmtShape(dims)}`);
    i.shape.forEach((d, k) => {
      if (typeof d === "number" && d >= 0 && d !== dims[k])
        fail(what, `expects dimension ${k} to be ${d} ([${i.shape!.map((x) => x ?? "?").join(",")}]), got ${fmtShape(dims)}`);
    });
  }
  return dims;
}

/** Copies a feed into its buffer as the device element kind (f32 or i32). */
function writeFeed(e: Engine, ptr: number, dataType: number, t: OnnxFeedLike): void {
  const n = t.data.length;
  if (n === 0) return;
  const src = t.data;
  if (dataType === DataType.FLOAT || dataType === DataType.DOUBLE || dataType === DataType.FLOAT16 || dataType === 16) {
    const f32 = e.heap.f32,
      at = ptr >> 2;
    if (src instanceof Float32Array) f32.set(src, at);
    else if (dataType === DataType.FLOAT16 && src instanceof Uint16Array) for (let i = 0; i < n; i++) f32[at + i] = halfToFloat(src[i]!);
    else for (let i = 0; i < n; i++) f32[at + i] = Number(src[i]);
    return;
  }
  const i32 = e.heap.i32,
    at = ptr >> 2;
  if (src instanceof Int32Array) i32.set(src, at);
  else for (let i = 0; i < n; i++) i32[at + i] = toI32(Number(src[i]));
}

/** An output copied out of wasm memory into the typed array of its declared type. */
function readOutput(
  e: Engine,
  ptr: number,
  dataType: number,
  elem: "f32" | "i32",
  dims: readonly number[],
  constant: Float32Array | Int32Array | undefined,
  declared: number,
): OnnxTensor {
  const n = sizeOfDims(dims);
  const src = constant ?? (elem === "f32" ? e.heap.f32.subarray(ptr >> 2, (ptr >> 2) + n) : e.heap.i32.subarray(ptr >> 2, (ptr >> 2) + n));
  // the declared type, unless it is of the other kind than the values computed (a float output
  // declared int64, which an invalid file can say): those values are given as computed, never
  // truncated (NaN and infinities have no int64)
  const sameKind = declared && declared !== DataType.UNDEFINED && TYPE_OF[declared] !== undefined && elemOf(declared) === elem;
  const type = sameKind ? declared : dataType;
  switch (type) {
    case DataType.FLOAT:
      return new OnnxTensor("float32", src instanceof Float32Array ? src.slice() : Float32Array.from(src), dims); // slice: one memcpy
    case DataType.FLOAT16:
      return new OnnxTensor(
        "float16",
        Uint16Array.from(src, (v) => floatToHalf(v)),
        dims,
      );
    case DataType.DOUBLE:
      return new OnnxTensor("float64", Float64Array.from(src), dims);
    case DataType.INT64:
      return new OnnxTensor(
        "int64",
        BigInt64Array.from(src, (v) => BigInt(Math.trunc(v))),
        dims,
      );
    case DataType.UINT64:
      return new OnnxTensor(
        "uint64",
        BigUint64Array.from(src, (v) => BigInt(Math.max(0, Math.trunc(v)))),
        dims,
      );
    case DataType.INT32:
      return new OnnxTensor("int32", Int32Array.from(src), dims);
    case DataType.UINT32:
      return new OnnxTensor("uint32", Uint32Array.from(src), dims);
    case DataType.INT16:
      return new OnnxTensor("int16", Int16Array.from(src), dims);
    case DataType.UINT16:
      return new OnnxTensor("uint16", Uint16Array.from(src), dims);
    case DataType.INT8:
      return new OnnxTensor("int8", Int8Array.from(src), dims);
    case DataType.UINT8:
      return new OnnxTensor("uint8", Uint8Array.from(src), dims);
    case DataType.BOOL:
      return new OnnxTensor(
        "bool",
        Uint8Array.from(src, (v) => (v ? 1 : 0)),
        dims,
      );
    default:
      return fail("onnx", `outputs of type ${dataTypeName(type)} are not supported`);
  }
}

/** The bytes of a model given as bytes, an ArrayBuffer, a URL or a file path. */
async function loadBytes(model: Uint8Array | ArrayBuffer | string): Promise<Uint8Array> {
  if (model instanceof Uint8Array) return model;
  if (model instanceof ArrayBuffer) return new Uint8Array(model);
  if (typeof model !== "string") fail("InferenceSession.create", `the model must be bytes, an ArrayBuffer, a URL or a path, got ${fmtValue(model)}`);
  const isUrl = /^(https?|blob|data|file):/i.test(model);
  const nodeLike = typeof globalThis.process === "object" && !!globalThis.process?.versions?.node;
  try {
    if (!isUrl && nodeLike) {
      const fs = await import("node:fs/promises");
      return new Uint8Array(await fs.readFile(model));
    }
    if (/^file:/i.test(model) && nodeLike) {
      const fs = await import("node:fs/promises");
      return new Uint8Array(await fs.readFile(new URL(model)));
    }
    const res = await fetch(model);
    if (!res.ok) fail("InferenceSession.create", `fetching ${model} failed: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    if (err instanceof SimdnetError) throw err;
    throw new SimdnetError(`InferenceSession.create: cannot read ${model}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const externalWhere = "InferenceSession: external data";

/** Reads external tensors from `files` (options.externalData), bounds checked. */
function bytesDataReader(files: Record<string, Uint8Array>): ExternalDataReader {
  if (files === null || typeof files !== "object" || Array.isArray(files))
    fail("InferenceSession", `options.externalData must be an object of Uint8Arrays by location, got ${fmtValue(files)}`);
  return (location, offset, length, tensor) => {
    const key = Object.hasOwn(files, location) ? location : location.replace(/^\.\//, "");
    const file = Object.hasOwn(files, key) ? files[key] : undefined;
    if (!file) fail(externalWhere, `${tensor} is stored in "${location}", which options.externalData does not hold (it holds ${fmtValue(Object.keys(files))})`);
    if (!(file instanceof Uint8Array)) fail(externalWhere, `options.externalData["${location}"] must be a Uint8Array, got ${fmtValue(file)}`);
    if (offset + length > file.length)
      fail(externalWhere, `${tensor} needs bytes ${offset} to ${offset + length} of "${location}", which has ${file.length} bytes`);
    return file.subarray(offset, offset + length);
  };
}

/**
 * Reads external tensors from files next to the model when `model` is a file path (or file: URL)
 * in Node; undefined elsewhere. A location must stay inside the model's directory.
 */
async function fileDataReader(model: unknown): Promise<ExternalDataReader | undefined> {
  const nodeLike = typeof globalThis.process === "object" && !!globalThis.process?.versions?.node;
  if (typeof model !== "string" || !nodeLike) return undefined;
  const isFileUrl = /^file:/i.test(model);
  if (!isFileUrl && /^(https?|blob|data):/i.test(model)) return undefined;
  // inside try: bundlers (esbuild, platform neutral) then leave these Node-only imports unresolved
  let fs: typeof import("node:fs"), path: typeof import("node:path"), url: typeof import("node:url");
  try {
    fs = await import("node:fs");
    path = await import("node:path");
    url = await import("node:url");
  } catch {
    return undefined;
  }
  const modelPath = isFileUrl ? url.fileURLToPath(model) : model;
  const dir = path.dirname(path.resolve(modelPath));
  return (location, offset, length, tensor) => {
    const file = path.resolve(dir, location);
    const inside = (p: string, root: string) => {
      const rel = path.relative(root, p);
      return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
    };
    if (path.isAbsolute(location) || !inside(file, dir))
      fail(externalWhere, `${tensor} is stored in "${location}", which is outside the model's directory ${dir}`);
    let fd: number;
    try {
      if (!inside(fs.realpathSync(file), fs.realpathSync(dir)))
        fail(externalWhere, `${tensor} is stored in "${location}", a link leading outside the model's directory ${dir}`);
      fd = fs.openSync(file, "r");
    } catch (err) {
      if (err instanceof SimdnetError) throw err;
      fail(externalWhere, `${tensor} is stored in "${location}", which cannot be read: ${err instanceof Error ? err.message : String(err)}`);
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (offset + length > size) fail(externalWhere, `${tensor} needs bytes ${offset} to ${offset + length} of "${location}", which has ${size} bytes`);
      const out = new Uint8Array(length);
      for (let done = 0; done < length; ) {
        const n = fs.readSync(fd, out, done, length - done, offset + done);
        if (n <= 0) fail(externalWhere, `reading ${tensor} from "${location}" stopped at byte ${offset + done}`);
        done += n;
      }
      return out;
    } finally {
      fs.closeSync(fd);
    }
  };
}
