// Planning: a Graph and concrete input shapes become a Plan, XNNPACK's create -> reshape -> setup
// -> run and onnxruntime's memory pattern in one step:
//   1. shape inference node by node; a node whose inputs are all known (constants, shapes) is
//      computed once, now, by its own kernels (constant folding: one implementation per op);
//   2. layouts: each node states the axis order it needs (conv: NHWC) and the planner converts
//      values where the order differs (constants once, here; run-time values by a copy step);
//   3. the algorithm of every node: the first eligible in its registry entry (from shapes only);
//   4. memory: every run-time value gets a buffer whose lifetime runs from its producer to its
//      last reader; buffers are placed in ONE arena by greedy-by-size offset assignment, so
//      peak memory is the largest live set, not the sum; views (Reshape...) share their input's
//      buffer; ONE workspace block (the largest any node needs) and one parameter block;
//   5. setup: each algorithm binds its node to these addresses and returns its run function.
// A run then copies the inputs in, calls the run functions in order and copies the outputs out:
// it allocates nothing, and what runs never depends on the heap's state.
import type { Engine } from "../engine.js";
import { fail, fmtShape, OutOfMemoryError, SimdnetError } from "../errors.js";
import { dataTypeName } from "../onnx/onnx-proto.js";
import type { Tensor } from "../tensor.js";
import { ConstValue, gatherHost } from "./constants.js";
import type { Graph, GraphNode, Subgraph } from "./import.js";
import { contiguousStrides, ND_DESC_BYTES, writeNd } from "./nd.js";
import {
  type Algorithm,
  type BoundNode,
  chooseAlgorithm,
  gradOpDef,
  type InferContext,
  type LayoutChoice,
  onnxOrder,
  type OpDef,
  opDef,
  type PlanNode,
  type PlanValue,
  type Target,
  type TensorType,
} from "./registry.js";
import {
  type Elem,
  elemOf,
  fmtPerm,
  type HostTensor,
  identityPerm,
  isFloat,
  isIdentity,
  logicalStrides,
  type Perm,
  physicalDims,
  samePhysical,
  sizeOfDims,
} from "./types.js";

const ALIGN = 16;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/** A span of the arena: a run-time value's bytes and the steps between which they must survive. */
class Buffer {
  offset = 0;
  constructor(
    readonly bytes: number,
    public first: number,
    public last: number,
  ) {}
}

/**
 * A value as planned: a constant (cv), computed by a run into the arena (buffer), or living outside
 * the arena at a fixed address (external: a trainable parameter or its gradient).
 */
class Val implements PlanValue {
  private static count = 0;
  /** Unique per Val: names are not (a backward op's outputs are all named after its node). */
  readonly id = Val.count++;
  readonly elem: Elem;
  readonly dims: readonly number[];
  readonly size: number;
  external?: { readonly ptr: number };
  constructor(
    readonly name: string,
    readonly dataType: number,
    readonly shape: readonly number[],
    readonly perm: Perm,
    readonly cv?: ConstValue,
    public buffer?: Buffer,
  ) {
    this.elem = elemOf(dataType);
    this.dims = physicalDims(shape, perm);
    this.size = sizeOfDims(shape);
  }

  get isConstant(): boolean {
    return this.cv !== undefined;
  }

  get known(): HostTensor | undefined {
    return this.cv?.host;
  }

  get bytes(): number {
    return this.size * 4;
  }
}

interface Step {
  where: string;
  opset: number;
  attrs: unknown;
  algorithm: Algorithm<unknown>;
  inputs: (Val | undefined)[];
  outputs: Val[];
  workspaceBytes: number;
  paramBytes: number;
  paramOffset: number;
  /** A control step (run-time If): what it does instead of an algorithm. */
  control?: Control;
}

/**
 * Control steps of a run-time If: "branch" goes on to the first branch when its input (one bool)
 * is true, else to `target`; "goto" continues at `target`; "fail" throws `error` (a branch that
 * could not be planned for these shapes fails only when taken).
 */
type Control = { kind: "branch"; target: number } | { kind: "goto"; target: number } | { kind: "fail"; error: unknown };

/** A step's run function; a control step returns the index of the next step to run. */
type Run = () => number | undefined;

/** What a plan reports about itself (algorithms, memory). */
export interface PlanReport {
  /** Per run step: where (node or conversion) and the algorithm chosen. */
  steps: { where: string; algorithm: string }[];
  /** Bytes of the activation arena (after reuse), the sum of its buffers (without reuse), workspace and parameters. */
  arenaBytes: number;
  unsharedBytes: number;
  workspaceBytes: number;
  paramBytes: number;
  /** Bytes of constants computed while planning (owned by the plan). */
  foldedBytes: number;
}

export interface PlannedInput {
  readonly name: string;
  readonly value: PlanValue;
  /** Address of the input's buffer. */
  readonly ptr: number;
}

export interface PlannedOutput {
  readonly name: string;
  readonly value: PlanValue;
  /** Address of the output's buffer (ONNX order), or -1 when the output is a constant (`constant`). */
  readonly ptr: number;
  readonly constant?: HostTensor;
}

/** A trainable parameter: its value and gradient tensors (ONNX order), owned by the caller. */
export interface TrainableSlot {
  readonly value: Tensor;
  readonly grad: Tensor;
  readonly frozen: boolean;
}

/** What a training plan adds: parameters (by initializer name) and where backpropagation starts. */
export interface TrainingOptions {
  readonly params: ReadonlyMap<string, TrainableSlot>;
  /** Graph outputs whose gradients (fed before the backward steps) start backpropagation. */
  readonly lossOutputs: readonly string[];
}

export interface PlanOptions {
  /** Refuse plans whose arena + workspace + folded constants exceed this many bytes. */
  maxBytes?: number;
  /** Plan the backward pass too: gradients of the loss outputs flow into parameter gradients. */
  training?: TrainingOptions;
  /**
   * Fold inference-mode BatchNormalization into the Conv before it (default: on, unless training).
   * The plan then has no batch-norm step; results differ from the unfused graph by rounding.
   */
  fuse?: boolean;
  /**
   * An inference plan meeting a node that needs the VALUES of run-time data to plan (NonZero,
   * NonMaxSuppression, a Reshape to a computed shape...) ends there and continues at run time
   * (StagedPlan). false: such a node is refused instead (default true; training plans never stage).
   */
  stage?: boolean;
  /**
   * @internal Inputs that live outside the plan, at fixed addresses and in these layouts (a
   * StagedPlan's later stage reads the first stage's outputs where they are: no copy, no arena).
   */
  externalInputs?: ReadonlyMap<string, { readonly ptr: number; readonly perm: Perm }>;
}

/**
 * A graph planned for concrete input shapes, bound to memory. `run()` executes every step; the
 * caller writes the inputs (inputs[i].ptr) before and reads the outputs after.
 */
export class Plan {
  private disposed = false;

  constructor(
    readonly engine: Engine,
    readonly inputs: readonly PlannedInput[],
    readonly outputs: readonly PlannedOutput[],
    readonly report: PlanReport,
    private readonly runs: readonly Run[],
    private readonly wheres: readonly string[],
    private readonly blocks: readonly number[],
    private readonly folded: readonly ConstValue[],
    private readonly owned: readonly { dispose(): void }[],
    /** Steps of the forward pass (the rest, in a training plan, are the backward pass). */
    readonly forwardSteps: number,
    /** In a training plan: the buffers the loss outputs' gradients are written to before backward. */
    readonly gradInputs: readonly PlannedInput[],
  ) {}

  /** Runs every step once (forward, then backward in a training plan). */
  run(): void {
    this.runRange(0, this.runs.length);
  }

  /** Runs the forward steps. */
  runForward(): void {
    this.runRange(0, this.forwardSteps);
  }

  /** Runs the backward steps (a training plan; gradInputs written first). */
  runBackward(): void {
    this.runRange(this.forwardSteps, this.runs.length);
  }

  private runRange(from: number, to: number): void {
    if (this.disposed) fail("onnx", "the plan was disposed");
    const runs = this.runs;
    let i = from;
    try {
      while (i < to) i = runs[i]!() ?? i + 1;
    } catch (err) {
      throw withWhere(err, this.wheres[i] ?? "onnx");
    }
  }

  /** Runs every step once, timing each: [where, algorithm, ms] per step. */
  profile(): { where: string; algorithm: string; ms: number }[] {
    if (this.disposed) fail("onnx", "the plan was disposed");
    const timed: { where: string; algorithm: string; ms: number }[] = [];
    for (let i = 0; i < this.runs.length; ) {
      const t0 = performance.now();
      let next: number | undefined;
      try {
        next = this.runs[i]!();
      } catch (err) {
        throw withWhere(err, this.wheres[i] ?? "onnx");
      }
      timed.push({ where: this.wheres[i]!, algorithm: this.report.steps[i]!.algorithm, ms: performance.now() - t0 });
      i = next ?? i + 1;
    }
    return timed;
  }

  /** Frees the arena, workspace, parameters and the constants computed while planning. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of this.blocks) this.engine.heap.release(b);
    for (const c of this.folded) c.dispose();
    for (const r of this.owned) r.dispose();
  }
}

/**
 * A plan in stages, for graphs where a node needs the VALUES of run-time data to plan (NonZero's
 * output shape is its input's data; NonMaxSuppression's is the boxes it keeps; a Reshape to a
 * computed shape). `first` runs the nodes before that node; then the values it needs are read back
 * to the host and the rest of the graph is planned for them. The rest's inputs are the run-time
 * values it reads, taken where the first stage left them, in their layouts (no copy); a later cut
 * stages again. The rest's plan is kept and reused while the values read repeat (bit for bit);
 * otherwise it is planned again, the previous one freed first, so memory stays one plan per
 * stage. Inference only.
 */
export class StagedPlan {
  /** The rest's plan and the values it was made for. */
  private rest: { known: ReadonlyMap<string, HostTensor>; plan: Plan | StagedPlan } | undefined;
  private disposed = false;

  constructor(
    readonly engine: Engine,
    private readonly first: Plan,
    /** The node the plan stops before. */
    private readonly where: string,
    /** Names of the values the node needs (read to the host after the first stage). */
    private readonly read: readonly string[],
    private readonly planRest: (shapes: ReadonlyMap<string, readonly number[]>, known: ReadonlyMap<string, HostTensor>) => Plan | StagedPlan,
  ) {}

  get inputs(): readonly PlannedInput[] {
    return this.first.inputs;
  }

  /** The step reports and profiles name for planning the rest. */
  private get stageWhere(): string {
    return `${this.where}: the rest is planned for the run's values`;
  }

  /** The outputs of the last run (a later stage's: their shapes can depend on the run's data). */
  get outputs(): readonly PlannedOutput[] {
    return this.rest?.plan.outputs ?? fail("onnx", `the outputs' shapes depend on the run's data (${this.where}): run first`);
  }

  /** The first stage's steps, the cut, and the last run's later stages. */
  get report(): PlanReport {
    const a = this.first.report,
      b = this.rest?.plan.report;
    return {
      steps: [...a.steps, { where: this.stageWhere, algorithm: "plan.stage" }, ...(b?.steps ?? [])],
      arenaBytes: a.arenaBytes + (b?.arenaBytes ?? 0),
      unsharedBytes: a.unsharedBytes + (b?.unsharedBytes ?? 0),
      workspaceBytes: a.workspaceBytes + (b?.workspaceBytes ?? 0),
      paramBytes: a.paramBytes + (b?.paramBytes ?? 0),
      foldedBytes: a.foldedBytes + (b?.foldedBytes ?? 0),
    };
  }

  run(): void {
    this.first.run();
    this.next().run();
  }

  profile(): { where: string; algorithm: string; ms: number }[] {
    const timed = this.first.profile();
    const t0 = performance.now();
    const rest = this.next();
    timed.push({ where: this.stageWhere, algorithm: "plan.stage", ms: performance.now() - t0 });
    return [...timed, ...rest.profile()];
  }

  /** After the first stage ran: the rest's plan for the values read (kept, or made now). */
  private next(): Plan | StagedPlan {
    if (this.disposed) fail("onnx", "the plan was disposed");
    const e = this.engine;
    const carried = new Map(this.first.outputs.map((o) => [o.name, o]));
    const known = new Map<string, HostTensor>();
    for (const name of this.read) known.set(name, readValue(e, carried.get(name)!));
    if (!this.rest || !sameValues(this.rest.known, known)) {
      this.rest?.plan.dispose();
      this.rest = undefined;
      const shapes = new Map([...carried].map(([name, o]) => [name, o.value.shape]));
      try {
        this.rest = { known, plan: this.planRest(shapes, known) };
      } catch (err) {
        throw withWhere(err, this.where);
      }
    }
    return this.rest.plan;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.rest?.plan.dispose();
    this.rest = undefined;
    this.first.dispose();
  }
}

/** Whether two sets of values read at a cut are the same: dims, and data bit for bit (NaN equals NaN). */
function sameValues(a: ReadonlyMap<string, HostTensor>, b: ReadonlyMap<string, HostTensor>): boolean {
  for (const [name, t] of b) {
    const u = a.get(name);
    if (!u || u.dims.length !== t.dims.length || u.dims.some((d, i) => d !== t.dims[i]) || u.data.length !== t.data.length) return false;
    const x = new Int32Array(u.data.buffer, u.data.byteOffset, u.data.length),
      y = new Int32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  }
  return a.size === b.size;
}

/** A run-time value's numbers on the host, in ONNX order (whatever layout it is stored in). */
function readValue(e: Engine, o: PlannedOutput): HostTensor {
  const v = o.value as Val;
  const at = o.ptr >> 2;
  const src = v.elem === "f32" ? e.heap.f32.subarray(at, at + v.size) : e.heap.i32.subarray(at, at + v.size);
  const data = isIdentity(v.perm) ? src.slice() : gatherHost(src, { dims: v.shape, strides: logicalStrides(v.shape, v.perm) });
  return { dataType: v.dataType, dims: [...v.shape], data };
}

/** An error from inside a node, prefixed with where it happened (out-of-memory errors keep their type). */
export function withWhere(err: unknown, where: string): unknown {
  if (!(err instanceof Error) || err instanceof OutOfMemoryError || err.message.startsWith(where)) return err;
  if (err instanceof SimdnetError) return new SimdnetError(`${where}: ${err.message}`, { cause: err });
  return new SimdnetError(`${where}: ${err.message}`, { cause: err });
}

/** A value as analyzeGraph reports it: logical (ONNX-order) shape, and its data when constant. */
export interface AnalyzedValue {
  readonly name: string;
  readonly dataType: number;
  readonly shape: readonly number[];
  /** The value when it is known while planning (weights, folded shape arithmetic), ONNX order. */
  readonly constant?: HostTensor;
}

/** A node that runs (was not folded), with its inputs and outputs. */
export interface AnalyzedNode {
  readonly type: string;
  /** The attributes as the op's registry entry parsed them. */
  readonly attrs: unknown;
  readonly where: string;
  /** The ONNX node's name. */
  readonly name: string;
  readonly inputs: readonly (AnalyzedValue | undefined)[];
  readonly outputs: readonly AnalyzedValue[];
}

/** analyzeGraph's result: the nodes left to run after folding, in order. dispose() frees the folded constants. */
export interface GraphAnalysis {
  readonly nodes: readonly AnalyzedNode[];
  readonly inputs: readonly AnalyzedValue[];
  readonly outputs: readonly AnalyzedValue[];
  dispose(): void;
}

/**
 * Runs the planner's first pass over `graph` for these input shapes (shape inference, constant
 * folding by the ops' kernels, If inlining) and reports the nodes left, with the logical shapes of
 * their values and the data of constant ones, without binding any memory: for converters that
 * turn a graph into something else (an ONNX file into a Model).
 */
export function analyzeGraph(
  engine: Engine,
  graph: Graph,
  constants: ReadonlyMap<string, ConstValue>,
  inputShapes: ReadonlyMap<string, readonly number[]>,
  knownInputs: ReadonlyMap<string, HostTensor> = new Map(),
): GraphAnalysis {
  return new Planner(engine, graph, constants, { fuse: false }).analyze(inputShapes, knownInputs);
}

/**
 * Plans `graph` for the given input shapes. `constants` are the graph's initializers as
 * session-owned ConstValues (device forms are shared by every plan of the session).
 */
export function planGraph(
  engine: Engine,
  graph: Graph,
  constants: ReadonlyMap<string, ConstValue>,
  inputShapes: ReadonlyMap<string, readonly number[]>,
  options: PlanOptions = {},
  knownInputs: ReadonlyMap<string, HostTensor> = new Map(),
): Plan | StagedPlan {
  return new Planner(engine, graph, constants, options).plan(inputShapes, knownInputs);
}

/** A planned forward node, kept for the backward pass (and analyzeGraph). */
interface ForwardRecord {
  def: OpDef<unknown>;
  attrs: unknown;
  where: string;
  /** The node's inputs as the forward step reads them (in the layouts it asked for). */
  inputs: (Val | undefined)[];
  /** The node's inputs as the graph defines them (before any layout conversion). */
  given: (Val | undefined)[];
  outputs: Val[];
  /** The ONNX node's name ("" inside gradient ops). */
  node: string;
}

class Planner {
  private vals = new Map<string, Val>();
  private readonly steps: Step[] = [];
  private readonly records: ForwardRecord[] = [];
  /** A layout conversion's output -> the value it converts (they share one gradient). */
  private readonly origin = new Map<Val, Val>();
  private readonly folded: ConstValue[] = [];
  private readonly target: Target;
  /** Run-time values already converted to another perm, by `${name}|${perm}`. */
  private conversions = new Map<string, Val>();
  /** Where the first If whose condition depends on run-time data is ("" when none). */
  private runtimeIf = "";
  private readonly maxBytes: number;
  private foldedBytes = 0;
  private readonly training: TrainingOptions | undefined;
  private readonly fuse: boolean;
  /** How many nodes (and graph outputs) of the top-level graph read each value. */
  private readonly readers = new Map<string, number>();
  /** Parameter values (external) and their slots. */
  private readonly params = new Map<Val, TrainableSlot>();
  private forwardSteps = -1;
  private gradInputs: PlannedInput[] = [];
  private readonly options: PlanOptions;
  /** The top-level graph's nodes (a fused BatchNormalization must be one of them). */
  private readonly topLevel: ReadonlySet<GraphNode>;

  constructor(
    private readonly engine: Engine,
    private readonly graph: Graph,
    private readonly constants: ReadonlyMap<string, ConstValue>,
    options: PlanOptions,
  ) {
    this.target = { build: engine.build, threads: engine.threads };
    this.options = options;
    this.topLevel = new Set(graph.nodes);
    this.maxBytes = options.maxBytes ?? Infinity;
    this.training = options.training;
    this.fuse = !options.training && options.fuse !== false;
    for (const n of graph.nodes) for (const name of [...n.inputs, ...n.implicitInputs]) if (name) this.readers.set(name, (this.readers.get(name) ?? 0) + 1);
    for (const o of graph.outputs) this.readers.set(o.name, (this.readers.get(o.name) ?? 0) + 1);
  }

  /** The forward pass's records and values, without binding memory (analyzeGraph). */
  analyze(inputShapes: ReadonlyMap<string, readonly number[]>, knownInputs: ReadonlyMap<string, HostTensor>): GraphAnalysis {
    const g = this.graph;
    try {
      this.declareInputs(inputShapes, knownInputs);
      for (const node of g.nodes) this.node(node);
      if (this.runtimeIf) fail(this.runtimeIf, "the condition depends on the run's data: both branches would run as one graph");
      const info = (v: Val | undefined, name?: string): AnalyzedValue | undefined =>
        v && { name: name ?? v.name, dataType: v.dataType, shape: v.shape, constant: v.cv ? v.cv.host : undefined };
      const nodes = this.records.map((r) => ({
        type: r.def.type,
        attrs: r.attrs,
        where: r.where,
        name: r.node,
        inputs: r.given.map((v) => info(v)),
        outputs: r.outputs.map((v) => info(v)!),
      }));
      const folded = this.folded;
      return {
        nodes,
        inputs: g.inputs.map((i) => info(this.vals.get(i.name), i.name)!),
        outputs: g.outputs.map((o) => info(this.value(o.name, `onnx: graph output "${o.name}"`), o.name)!),
        dispose: () => {
          for (const c of folded) c.dispose();
        },
      };
    } catch (err) {
      for (const c of this.folded) c.dispose();
      throw err;
    }
  }

  private declareInputs(inputShapes: ReadonlyMap<string, readonly number[]>, knownInputs: ReadonlyMap<string, HostTensor>): void {
    for (const i of this.graph.inputs) {
      const known = knownInputs.get(i.name);
      if (known) {
        this.setConst(i.name, known);
        continue;
      }
      const shape = inputShapes.get(i.name);
      if (!shape) fail("onnx", `no shape for input "${i.name}"`);
      const ext = this.options.externalInputs?.get(i.name);
      if (ext) {
        const v = new Val(i.name, i.dataType, shape, ext.perm);
        v.external = { ptr: ext.ptr };
        this.vals.set(i.name, v);
        continue;
      }
      this.vals.set(i.name, new Val(i.name, i.dataType, shape, identityPerm(shape.length), undefined, new Buffer(sizeOfDims(shape) * 4, -1, -1)));
    }
  }

  plan(inputShapes: ReadonlyMap<string, readonly number[]>, knownInputs: ReadonlyMap<string, HostTensor>): Plan | StagedPlan {
    const g = this.graph;
    try {
      this.declareInputs(inputShapes, knownInputs);
      // staging: subgraphs inlined at the top level (an If on a known condition, composites) are
      // spliced into the node list, so a cut can fall inside them too
      const stage = !this.training && this.options.stage !== false;
      const work = [...g.nodes];
      for (let k = 0; k < work.length; k++) {
        const node = work[k]!;
        if (stage && this.needsRunData(node)) return this.cut(work, k);
        this.node(node, stage ? (sub) => work.splice(k + 1, 0, ...this.spliced(node, sub)) : undefined);
      }
      const outputs = g.outputs.map((o) => {
        let v = this.value(o.name, `onnx: graph output "${o.name}"`);
        if (!v.cv && !samePhysical(v.perm, identityPerm(v.shape.length), v.shape))
          v = this.convert(v, identityPerm(v.shape.length), `onnx: graph output "${o.name}"`);
        return v;
      });
      if (this.training) this.backward(this.training);
      return this.bind(outputs);
    } catch (err) {
      for (const c of this.folded) c.dispose();
      throw err;
    }
  }

  /** Whether planning `node` needs the values of run-time data (a value input computed by the run). */
  private needsRunData(node: GraphNode): boolean {
    return (node.def.valueInputs ?? []).some((i) => {
      const v = node.inputs[i] ? this.vals.get(node.inputs[i]!) : undefined;
      return v !== undefined && !v.cv;
    });
  }

  /**
   * Ends the plan before node `k` of the top-level list, which needs run-time values to plan: the steps so far
   * become the first stage, whose outputs are the run-time values node k and the nodes after it
   * read (in the layouts they have); the rest is planned at run time once those values are read.
   */
  private cut(work: readonly GraphNode[], k: number): StagedPlan {
    const g = this.graph,
      node = work[k]!,
      later = work.slice(k);
    const needed = new Set<string>();
    for (const n of later) for (const name of [...n.inputs, ...n.implicitInputs]) if (name) needed.add(name);
    for (const o of g.outputs) needed.add(o.name);
    const carried: Val[] = [],
      names: string[] = [];
    const constants = new Map(this.constants);
    for (const name of needed) {
      const v = this.vals.get(name);
      if (!v) continue; // an initializer (in constants), or a value computed later
      if (v.cv) constants.set(name, v.cv);
      else {
        carried.push(v);
        names.push(name);
      }
    }
    const first = this.bind(carried, names);
    const read = (node.def.valueInputs ?? []).flatMap((i) => {
      const name = node.inputs[i];
      return name && names.includes(name) ? [name] : [];
    });
    const rest: Graph = {
      ...g,
      nodes: later,
      initializers: new Map(),
      inputs: carried.map((v, i) => ({ name: names[i]!, dataType: v.dataType, shape: v.shape })),
    };
    // the rest reads the first stage's outputs where they are (they stay put until its next run)
    const external = new Map(first.outputs.map((o) => [o.name, { ptr: o.ptr, perm: (o.value as Val).perm }]));
    // maxBytes bounds the stages together: the rest gets what the first stage leaves
    const r = first.report,
      left = this.maxBytes - (r.arenaBytes + r.workspaceBytes + r.paramBytes + r.foldedBytes);
    return new StagedPlan(this.engine, first, node.where, read, (shapes, known) =>
      planGraph(this.engine, rest, constants, shapes, { ...this.options, maxBytes: Math.max(0, left), externalInputs: external }, known),
    );
  }

  private value(name: string, where: string): Val {
    let v = this.vals.get(name);
    if (v) return v;
    const param = this.training?.params.get(name);
    if (param) {
      const c = this.constants.get(name)!;
      v = new Val(name, c.dataType, c.shape, identityPerm(c.shape.length));
      v.external = { ptr: param.value.ptr };
      this.params.set(v, param);
      this.vals.set(name, v);
      return v;
    }
    const c = this.constants.get(name);
    if (!c) fail(where, `value "${name}" is not defined`);
    v = new Val(name, c.dataType, c.shape, identityPerm(c.shape.length), c);
    this.vals.set(name, v);
    return v;
  }

  private checkSize(where: string, t: TensorType): void {
    const n = sizeOfDims(t.shape);
    // (a dimension past 2^31 - 1 is refused even in an empty value: no tensor or kernel can hold it)
    for (const d of t.shape) if (!Number.isSafeInteger(d) || d < 0 || d > 2 ** 31 - 1) fail(where, `output shape ${fmtShape(t.shape)} is invalid`);
    // refused while planning, before anything is allocated or computed: every value is stored
    // somewhere (the arena, a folded constant) in 4-byte elements
    const what = `${where}: an output of shape ${fmtShape(t.shape)}`;
    if (n * 4 > this.maxBytes) throw new OutOfMemoryError(n * 4, 0, this.maxBytes, what, "plan");
    this.engine.heap.checkCapacity(n * 4, what);
    if (n > 2 ** 31 - 1) fail(where, `an output of shape ${fmtShape(t.shape)} has ${n} elements, more than the kernels' 32-bit range`);
  }

  private inferContext<A>(attrs: unknown, where: string, ins: (Val | undefined)[], outputs: readonly string[]): InferContext<A> {
    return {
      attrs: attrs as A,
      opset: this.graph.opset,
      where,
      inputCount: ins.length,
      outputCount: outputs.length,
      wants: (i) => !!outputs[i],
      input: (i) => ins[i],
      need: (i, name) => ins[i] ?? fail(where, `input ${i} (${name}) is required`),
      value: (i) => ins[i]?.cv?.host,
      fail: (m) => fail(where, m),
    };
  }

  /**
   * A subgraph replacing `node` as top-level nodes: its initializers become constants now, its
   * nodes follow, then one Identity (a view) per output the node names.
   */
  private spliced(node: GraphNode, sub: Subgraph): GraphNode[] {
    for (const [name, t] of sub.initializers) this.setConst(name, t);
    const lastNamed = node.outputs.reduce((m, name, i) => (name ? i : m), -1);
    if (lastNamed >= sub.outputs.length)
      fail(node.where, `the node names output ${lastNamed}, but it has ${sub.outputs.length} output${sub.outputs.length === 1 ? "" : "s"}`);
    const identity = opDef("Identity")!;
    const outputs = node.outputs.flatMap((name, i): GraphNode[] =>
      name
        ? [
            {
              index: -1,
              name: node.name,
              opType: "Identity",
              def: identity,
              attrs: undefined,
              inputs: [sub.outputs[i]!.name],
              outputs: [name],
              implicitInputs: [],
              where: `${node.where}: output ${i}`,
            },
          ]
        : [],
    );
    return [...sub.nodes, ...outputs];
  }

  /** Plans one node; `splice` (top level, staging) takes an inlined subgraph's nodes instead of planning them now. */
  private node(node: GraphNode, splice?: (sub: Subgraph) => void): void {
    const def = node.def as OpDef<unknown>;
    const where = node.where;
    const ins = node.inputs.map((n) => (n ? this.value(n, where) : undefined));
    try {
      for (const i of def.valueInputs ?? []) {
        const v = ins[i];
        if (v && !v.cv)
          fail(where, `input ${i} ("${v.name}") must be known when planning (a constant or computed from shapes), but it depends on the run's data`);
      }
      const ctx = this.inferContext<unknown>(node.attrs, where, ins, node.outputs);
      if (def.inline) {
        const sub = def.inline(ctx);
        if (!("nodes" in sub)) this.runtimeBranches(node, sub);
        else if (splice) splice(sub);
        else this.inline(node, sub);
        return;
      }
      if (def.fromTypes) {
        def.fromTypes(ctx).forEach((t, i) => this.setConst(node.outputs[i], t));
        return;
      }
      const types = def.infer(ctx);
      for (const t of types) this.checkSize(where, t);
      if (this.fuse && def.type === "BatchNormalization" && this.foldBatchNorm(node, ins)) return;
      if (def.foldable !== false && ins.every((v) => !v || v.cv)) {
        this.fold(node, def, ins, types);
        return;
      }
      const { laid, outs } = this.planStep(def, node.attrs, where, ins, types, node.outputs);
      this.records.push({ def, attrs: node.attrs, where, inputs: laid, given: ins, outputs: outs, node: node.name });
      outs.forEach((o, i) => {
        const name = node.outputs[i];
        if (name) this.vals.set(name, o);
      });
    } catch (err) {
      throw withWhere(err, where);
    }
  }

  /**
   * Inference-mode BatchNormalization whose input is the output of the Conv planned just before,
   * read by nothing else, with constant parameters: folded into that Conv's weights and bias (as
   * onnxruntime's ConvBNFusion): W'[m] = W[m] s[m], B'[m] = (B[m] - mean[m]) s[m] + bias[m], with
   * s = scale / sqrt(var + epsilon). The BN's output is the Conv's. Returns whether it folded.
   */
  private foldBatchNorm(node: GraphNode, ins: (Val | undefined)[]): boolean {
    const x = ins[0],
      step = this.steps.at(-1),
      rec = this.records.at(-1);
    if (!x || !step || !rec || rec.def.type !== "Conv" || step.outputs.length !== 1 || step.outputs[0] !== x || rec.outputs[0] !== x) return false;
    // top-level nodes only: readers counts the top-level graph (a branch's node may read a value an If also reads)
    if (!this.topLevel.has(node) || this.readers.get(node.inputs[0]!) !== 1 || node.outputs.length !== 1 || !node.outputs[0]) return false;
    const [, w, b] = step.inputs;
    const bn = ins.slice(1, 5);
    if (!w?.cv || (b && !b.cv) || bn.length !== 4 || bn.some((v) => !v?.cv) || w.elem !== "f32") return false;
    const M = w.shape[0]!,
      per = w.size / M,
      eps = (node.attrs as { epsilon: number }).epsilon;
    const [scale, bias, mean, variance] = bn.map((v) => v!.cv!.host.data);
    const W = w.cv.host.data,
      B = b?.cv?.host.data;
    const w2 = new Float32Array(W.length),
      b2 = new Float32Array(M);
    for (let m = 0; m < M; m++) {
      const s = scale![m]! / Math.sqrt(variance![m]! + eps);
      for (let i = m * per; i < (m + 1) * per; i++) w2[i] = W[i]! * s;
      b2[m] = ((B ? B[m]! : 0) - mean![m]!) * s + bias![m]!;
    }
    const constant = (name: string, like: Val, data: Float32Array) => {
      const c = new ConstValue(this.engine, like.dataType, like.shape, { dataType: like.dataType, dims: like.shape, data });
      this.folded.push(c);
      this.foldedBytes += data.length * 4;
      return new Val(name, like.dataType, like.shape, like.perm, c);
    };
    step.inputs[1] = constant(`${w.name} (batch norm folded)`, w, w2);
    step.inputs[2] = constant(`${node.name || node.outputs[0]} (folded bias)`, b ?? new Val("", w.dataType, [M], identityPerm(1)), b2);
    step.where += ` + ${node.where.replace(/^onnx: /, "")} (folded)`;
    this.vals.set(node.outputs[0], x);
    return true;
  }

  /** Lays out `ins` as `def` needs, makes its outputs and (unless a view) its step. */
  private planStep(
    def: OpDef<unknown>,
    attrs: unknown,
    where: string,
    ins: (Val | undefined)[],
    types: TensorType[],
    names: readonly string[],
  ): { laid: (Val | undefined)[]; outs: Val[] } {
    const choice = (def.layout ?? onnxOrder)({ attrs, inputs: ins, outputs: types });
    const laid = ins.map((v, i) => {
      const want = choice.inputs[i];
      if (!v || want === undefined || want === "any") return v;
      return this.inPerm(v, want, where);
    });
    const outs = types.map((t, i) => new Val(names[i] ?? "", t.dataType, t.shape, choice.outputs[i] ?? identityPerm(t.shape.length)));
    if (def.view) {
      const src = laid[0];
      if (!src?.buffer && !src?.external) fail(where, "a view needs a run-time input 0");
      if (outs[0]!.size !== src.size) fail(where, `a view of ${fmtShape(src.shape)} cannot have shape ${fmtShape(outs[0]!.shape)}`);
      outs[0]!.buffer = src.buffer;
      outs[0]!.external = src.external;
    } else {
      for (const o of outs) o.buffer = new Buffer(o.bytes, Infinity, -1);
      const pn = this.planNode(attrs, where, laid, outs);
      const algorithm = chooseAlgorithm(def, pn);
      this.steps.push({
        where,
        opset: this.graph.opset,
        attrs,
        algorithm,
        inputs: laid,
        outputs: outs,
        workspaceBytes: align(algorithm.workspaceBytes?.(pn) ?? 0),
        paramBytes: align(algorithm.paramBytes?.(pn) ?? 0),
        paramOffset: 0,
      });
    }
    return { laid, outs };
  }

  /**
   * The backward pass (reverse-mode differentiation over the planned forward nodes): each op's
   * `gradient` plans ordinary steps (its gradient ops) that read the forward values they need, so
   * liveness keeps exactly those alive; a value read by several nodes gets the Sum of its
   * gradients; parameter gradients are accumulated into the caller's tensors.
   */
  private backward(t: TrainingOptions): void {
    this.forwardSteps = this.steps.length;
    const canon = (v: Val): Val => this.origin.get(v) ?? v;
    // which values depend on a parameter that is not frozen
    const needs = new Set<Val>();
    for (const [v, slot] of this.params) if (!slot.frozen) needs.add(v);
    for (const r of this.records) {
      if (r.inputs.some((v) => v && needs.has(canon(v)))) for (const o of r.outputs) needs.add(o);
    }
    const grads = new Map<Val, Val[]>();
    const contribute = (v: Val, d: Val) => {
      const k = canon(v);
      const list = grads.get(k);
      if (list) list.push(d);
      else grads.set(k, [d]);
    };
    for (const name of t.lossOutputs) {
      const y = this.vals.get(name);
      if (!y) fail("onnx", `loss output "${name}" is not a value of the graph`);
      if (!isFloat(y.dataType)) fail("onnx", `loss output "${name}" is not a float tensor`);
      const d = new Val(`d(${name})`, y.dataType, y.shape, identityPerm(y.shape.length), undefined, new Buffer(y.bytes, this.forwardSteps, -1));
      this.gradInputs.push({ name, value: d, ptr: 0 });
      contribute(y, d);
    }
    const total = (v: Val, where: string): Val | undefined => {
      const list = grads.get(canon(v));
      if (!list || list.length === 0) return undefined;
      if (list.length === 1) return list[0];
      const sum = this.gradOp(opDef("Sum")!, undefined, `${where}: the sum of ${list.length} gradients`, list, 1)[0]!;
      grads.set(canon(v), [sum]);
      return sum;
    };
    for (let r = this.records.length - 1; r >= 0; r--) {
      const rec = this.records[r]!;
      const dys = rec.outputs.map((o) => total(o, rec.where));
      if (dys.every((d) => !d)) continue;
      const wants = rec.inputs.map((v) => !!v && needs.has(canon(v)));
      if (!wants.some(Boolean)) continue;
      if (!rec.def.gradient) fail(rec.where, `${rec.def.type} has no gradient yet, so the model cannot be trained through it (freeze what comes before it)`);
      const added = rec.inputs.map(() => false);
      const read = rec.outputs.map(() => false);
      rec.def.gradient({
        attrs: rec.attrs,
        where: rec.where,
        x: (i) => rec.inputs[i],
        y: (i) => rec.outputs[i]!,
        dy: (i) => {
          read[i] = true;
          return dys[i];
        },
        wants: (i) => wants[i] ?? false,
        op: (type, inputs, attrs, outputs = 1) =>
          this.gradOp(
            opDef(type) ?? gradOpDef(type) ?? fail(rec.where, `internal: no op ${type}`),
            attrs,
            `${rec.where} (gradient: ${type})`,
            inputs as (Val | undefined)[],
            outputs,
          ),
        add: (i, d) => {
          if (!wants[i]) return;
          added[i] = true;
          const x = rec.inputs[i]!;
          if (d.shape.join() !== x.shape.join())
            fail(rec.where, `internal: a gradient of shape ${fmtShape(d.shape)} for input ${i} of shape ${fmtShape(x.shape)}`);
          contribute(x, d as Val);
        },
      });
      // a gradient flowing into an output the op's backward never looked at would be dropped
      const zero = rec.def.zeroGradient ?? [];
      // (integer inputs, such as indices computed from trained values, take no gradient)
      const flows = wants.some((w, i) => w && isFloat(rec.inputs[i]!.dataType) && !zero.includes(i));
      rec.outputs.forEach((o, i) => {
        if (flows && dys[i] && !read[i] && isFloat(o.dataType))
          fail(rec.where, `${rec.def.type}'s backward pass does not take a gradient of its output ${i} ("${o.name}"), so the loss cannot depend on it`);
      });
      // a float input that depends on a parameter but got no gradient would train as if its
      // gradient were zero: refused, unless the op states that it is zero (zeroGradient)
      rec.inputs.forEach((v, i) => {
        if (wants[i] && !added[i] && v && isFloat(v.dataType) && !zero.includes(i))
          fail(rec.where, `${rec.def.type} has no gradient for its input ${i} ("${v.name}"), so what feeds it cannot be trained (freeze it)`);
      });
    }
    for (const [v, slot] of this.params) {
      if (slot.frozen) continue;
      const d = total(v, `onnx: parameter "${v.name}"`);
      if (!d) continue;
      this.gradOp(gradOpDef("Accumulate")!, undefined, `onnx: parameter "${v.name}" (gradient accumulation)`, [gradTarget(v, slot), d], 0);
    }
  }

  /** Plans one gradient op on values (no folding: gradients are run-time values). */
  private gradOp(def: OpDef<unknown>, attrs: unknown, where: string, ins: (Val | undefined)[], outputs: number): Val[] {
    try {
      const names = Array.from({ length: outputs }, (_, i) => `${where}#${i}`);
      const types = def.infer(this.inferContext<unknown>(attrs, where, ins, names));
      for (const t of types) this.checkSize(where, t);
      return this.planStep(def, attrs, where, ins, types, names).outs;
    } catch (err) {
      throw withWhere(err, where);
    }
  }

  /** Plans a subgraph in place of `node` (If with a known condition). */
  private inline(node: GraphNode, sub: Subgraph): void {
    for (const [name, t] of sub.initializers) this.setConst(name, t);
    for (const n of sub.nodes) this.node(n);
    // every output the node names must exist (an op with fewer outputs than the file lists)
    const lastNamed = node.outputs.reduce((m, name, i) => (name ? i : m), -1);
    if (lastNamed >= sub.outputs.length)
      fail(node.where, `the node names output ${lastNamed}, but it has ${sub.outputs.length} output${sub.outputs.length === 1 ? "" : "s"}`);
    node.outputs.forEach((name, i) => {
      if (!name) return;
      const v = this.value(sub.outputs[i]!.name, node.where);
      this.vals.set(name, v);
    });
  }

  /**
   * A run-time If: [branch on cond] [first branch, its outputs copied to the node's] [goto end]
   * [second branch, its outputs copied] end. Liveness over this order is safe for either path: a
   * value a branch makes is read only inside it. Each branch sees the values (and layout
   * conversions) made before the If, never those of the other branch.
   */
  private runtimeBranches(node: GraphNode, branches: readonly [Subgraph, Subgraph]): void {
    const where = node.where;
    if (this.training) fail(where, "the condition depends on the run's data: training through such an If is not supported yet");
    this.runtimeIf ||= where;
    const cond = this.value(node.inputs[0]!, where);
    const branch: Control = { kind: "branch", target: 0 },
      goto: Control = { kind: "goto", target: 0 };
    this.controlStep(`${where}: the branch taken`, branch, [cond]);
    const outs: (Val | undefined)[] = [];
    const errors: unknown[] = [];
    branches.forEach((sub, k) => {
      if (k === 1) branch.target = this.steps.length;
      const vals = new Map(this.vals),
        conversions = new Map(this.conversions),
        steps = this.steps.length,
        records = this.records.length;
      const name = k === 0 ? "then_branch" : "else_branch";
      try {
        for (const [n, t] of sub.initializers) this.setConst(n, t);
        for (const n of sub.nodes) this.node(n);
        if (sub.outputs.length < node.outputs.length) fail(where, `${name} has ${sub.outputs.length} outputs, the node ${node.outputs.length}`);
        const results = node.outputs.map((o, i) => (o ? this.value(sub.outputs[i]!.name, where) : undefined));
        results.forEach((v, i) => {
          const y = outs[i];
          if (v && y && (v.dataType !== y.dataType || v.shape.join() !== y.shape.join()))
            fail(where, `output ${i} of ${name} is ${describeType(v)}, of the other branch ${describeType(y)}: a plan needs one type and shape`);
        });
        results.forEach((v, i) => {
          if (!v) return;
          const y = (outs[i] ??= new Val(node.outputs[i]!, v.dataType, v.shape, identityPerm(v.shape.length), undefined, new Buffer(v.bytes, Infinity, -1)));
          this.copyStep(`${where}: ${name} output ${i}`, v, y);
        });
      } catch (err) {
        this.steps.length = steps;
        this.records.length = records;
        errors[k] = withWhere(err, `${where} (${name})`);
        this.controlStep(`${where}: ${name}, which cannot run`, { kind: "fail", error: errors[k] }, []);
      }
      this.vals = vals;
      this.conversions = conversions;
      if (k === 0) this.controlStep(`${where}: after then_branch`, goto, []);
    });
    goto.target = this.steps.length;
    if (errors[0] !== undefined && errors[1] !== undefined) throw errors[0];
    node.outputs.forEach((o, i) => {
      if (o) this.vals.set(o, outs[i]!);
    });
  }

  private controlStep(where: string, control: Control, inputs: Val[]): void {
    this.steps.push({
      where,
      opset: this.graph.opset,
      attrs: undefined,
      algorithm: CONTROL,
      inputs,
      outputs: [],
      workspaceBytes: 0,
      paramBytes: 0,
      paramOffset: 0,
      control,
    });
  }

  /** A step copying `x` into `y` (any axis orders). */
  private copyStep(where: string, x: Val, y: Val): void {
    this.steps.push({
      where,
      opset: this.graph.opset,
      attrs: undefined,
      algorithm: LAYOUT_COPY,
      inputs: [x],
      outputs: [y],
      workspaceBytes: 0,
      paramBytes: ND_DESC_BYTES,
      paramOffset: 0,
    });
  }

  private planNode<A>(attrs: A, where: string, inputs: (Val | undefined)[], outputs: Val[]): PlanNode<A> {
    return { attrs, opset: this.graph.opset, where, target: this.target, inputs, outputs };
  }

  private setConst(name: string | undefined, t: HostTensor): void {
    if (!name) return;
    const c = new ConstValue(this.engine, t.dataType, t.dims, t);
    this.folded.push(c);
    this.vals.set(name, new Val(name, t.dataType, t.dims, identityPerm(t.dims.length), c));
  }

  /** `v` in `perm` order: constants get a device form; run-time values a conversion step. */
  private inPerm(v: Val, perm: Perm, where: string): Val {
    if (perm.length !== v.shape.length) fail(where, `internal: layout of rank ${perm.length} for a value of shape ${fmtShape(v.shape)}`);
    if (v.perm.every((a, i) => a === perm[i])) return v;
    if (v.cv) return new Val(v.name, v.dataType, v.shape, perm, v.cv);
    if (samePhysical(v.perm, perm, v.shape)) {
      // the same bytes in the same places (axes of extent 1 moved): the value under the perm asked for
      const r = new Val(v.name, v.dataType, v.shape, perm, undefined, v.buffer);
      r.external = v.external;
      this.origin.set(r, this.origin.get(v) ?? v);
      return r;
    }
    return this.convert(v, perm, where);
  }

  /** A step copying run-time value `v` into `perm` order (one per value and perm). */
  private convert(v: Val, perm: Perm, where: string): Val {
    // keyed by the Val, not its name: Gemm's dA and dB, both "(gradient: MatMulGrad)#0", once
    // shared one conversion, so dB was accumulated from dA's bytes
    const k = `${v.id}|${perm.join(",")}|${v.perm.join(",")}`;
    let out = this.conversions.get(k);
    if (out) return out;
    out = new Val(`${v.name} (${fmtPerm(perm)})`, v.dataType, v.shape, perm, undefined, new Buffer(v.bytes, Infinity, -1));
    this.conversions.set(k, out);
    this.origin.set(out, this.origin.get(v) ?? v);
    this.copyStep(`${where}: ${v.name} from ${fmtPerm(v.perm)} to ${fmtPerm(perm)}`, v, out);
    return out;
  }

  /** Computes a node whose inputs are all known, once, with its own kernels (or as a view). */
  private fold(node: GraphNode, def: OpDef<unknown>, ins: (Val | undefined)[], types: TensorType[]): void {
    const where = node.where;
    const choice: LayoutChoice = (def.layout ?? onnxOrder)({ attrs: node.attrs, inputs: ins, outputs: types });
    if (def.view) {
      const src = ins[0];
      if (!src?.cv) fail(where, "a view needs input 0");
      const t = types[0]!,
        perm = choice.outputs[0] ?? identityPerm(t.shape.length);
      const h = src.cv.host;
      const data = isIdentity(perm) ? h.data : gatherHost(h.data, { dims: t.shape, strides: logicalStrides(t.shape, perm) });
      this.setConst(node.outputs[0], { dataType: t.dataType, dims: t.shape, data });
      return;
    }
    const e = this.engine;
    const laid = ins.map((v, i) => {
      const want = choice.inputs[i];
      return !v || want === undefined || want === "any" ? v : this.inPerm(v, want, where);
    });
    const temps: Tensor[] = [];
    const outs: Val[] = [];
    let ok = false;
    try {
      const outTensors = types.map((t, i) => {
        const perm = choice.outputs[i] ?? identityPerm(t.shape.length);
        const dims = physicalDims(t.shape, perm);
        const tensor =
          elemOf(t.dataType) === "f32" ? e.empty(dims.length ? dims : [1], "f32", "a constant") : e.empty(dims.length ? dims : [1], "i32", "a constant");
        temps.push(tensor);
        const c = ConstValue.fromDevice(e, t.dataType, t.shape, perm, tensor);
        outs.push(new Val(node.outputs[i] ?? "", t.dataType, t.shape, perm, c));
        return tensor;
      });
      const pn = this.planNode(node.attrs, where, laid, outs);
      const algorithm = chooseAlgorithm(def, pn);
      const ws = algorithm.workspaceBytes?.(pn) ?? 0,
        pb = algorithm.paramBytes?.(pn) ?? 0;
      const wsT = e.empty([Math.max(1, Math.ceil(ws / 4))], "f32", "a folding workspace");
      temps.push(wsT);
      const pT = e.empty([Math.max(1, Math.ceil(pb / 4))], "f32", "folding parameters");
      temps.push(pT);
      const owned: { dispose(): void }[] = [];
      const bound: BoundNode<unknown> = {
        ...pn,
        engine: e,
        kernels: e.kernels,
        workspace: wsT.ptr,
        params: pT.ptr,
        input: (i) => (laid[i] ? laid[i]!.cv!.device(laid[i]!.perm).ptr : 0),
        output: (i) => outTensors[i]!.ptr,
        own: (r) => (owned.push(r), r),
      };
      try {
        algorithm.setup(bound)();
      } finally {
        for (const r of owned) r.dispose();
      }
      ok = true;
    } finally {
      // workspace and parameters always go; outputs stay when the fold succeeded
      const keep = ok ? temps.length - 2 : 0;
      for (const t of temps.slice(keep)) t.dispose();
    }
    outs.forEach((o, i) => {
      this.folded.push(o.cv!);
      this.foldedBytes += o.bytes;
      if (this.foldedBytes > this.maxBytes)
        throw new OutOfMemoryError(this.foldedBytes, 0, this.maxBytes, `${where}: constants computed while planning`, "plan");
      const name = node.outputs[i];
      if (name) this.vals.set(name, o);
    });
  }

  /** Lifetimes, offsets, the blocks, and every node's run function. */
  private bind(outputs: Val[], outputNames: readonly string[] = this.graph.outputs.map((o) => o.name)): Plan {
    const e = this.engine,
      steps = this.steps;
    const end = steps.length;
    steps.forEach((s, k) => {
      for (const v of s.inputs) if (v?.buffer) v.buffer.last = Math.max(v.buffer.last, k);
      for (const v of s.outputs) {
        v.buffer!.first = Math.min(v.buffer!.first, k);
        v.buffer!.last = Math.max(v.buffer!.last, k);
      }
    });
    for (const i of this.graph.inputs) {
      const b = this.vals.get(i.name)!.buffer;
      if (!b) continue; // an input whose value the plan was made for (see knownInputs)
      b.first = -1;
      b.last = Math.max(b.last, -1);
    }
    for (const o of outputs) if (o.buffer) o.buffer.last = end;
    const distinct = new Set<Buffer>();
    for (const v of this.vals.values()) if (v.buffer) distinct.add(v.buffer);
    for (const g of this.gradInputs) distinct.add((g.value as Val).buffer!);
    for (const s of steps) for (const v of [...s.inputs, ...s.outputs]) if (v?.buffer) distinct.add(v.buffer);
    const unsharedBytes = [...distinct].reduce((a, b) => a + align(b.bytes), 0);
    // in place: an element-wise step writes over its input when nothing reads that input later
    const merged = new Map<Buffer, Buffer>();
    const find = (b: Buffer): Buffer => {
      let r = b;
      while (merged.has(r)) r = merged.get(r)!;
      return r;
    };
    steps.forEach((s, k) => {
      if (!s.algorithm.inPlace) return;
      const x = s.inputs[0],
        y = s.outputs[0]!;
      if (!x?.buffer || !y.buffer) return;
      const bx = find(x.buffer),
        by = find(y.buffer);
      if (bx === by || bx.last !== k || bx.first < 0 || bx.bytes !== by.bytes || by.first !== k) return;
      if (!samePhysical(x.perm, y.perm, y.shape) || x.elem !== y.elem) return;
      bx.last = by.last;
      merged.set(by, bx);
    });
    const all = new Set<Val>(this.vals.values());
    for (const g of this.gradInputs) all.add(g.value as Val);
    for (const s of steps) for (const v of [...s.inputs, ...s.outputs]) if (v) all.add(v);
    for (const o of outputs) all.add(o);
    for (const v of all) if (v.buffer) v.buffer = find(v.buffer);
    const buffers = new Set<Buffer>();
    for (const v of all) if (v.buffer) buffers.add(v.buffer);
    const list = [...buffers];
    const arenaBytes = assignOffsets(list);
    let workspaceBytes = 0,
      paramBytes = 0;
    for (const s of steps) {
      workspaceBytes = Math.max(workspaceBytes, s.workspaceBytes);
      s.paramOffset = paramBytes;
      paramBytes += s.paramBytes;
    }
    const total = arenaBytes + workspaceBytes + paramBytes + this.foldedBytes;
    if (total > this.maxBytes)
      throw new OutOfMemoryError(total, 0, this.maxBytes, "the plan (activations, workspace, constants computed while planning)", "plan");
    // the three blocks at once, before allocating any (one error naming the plan, not its arena)
    const blockBytes = (n: number) => Math.max(ALIGN, Math.ceil(n / ALIGN) * ALIGN);
    e.heap.checkRoom(blockBytes(arenaBytes) + blockBytes(workspaceBytes) + blockBytes(paramBytes), "the plan (activations, workspace and kernel parameters)");

    const blocks: number[] = [];
    const owned: { dispose(): void }[] = [];
    try {
      const arena = e.heap.alloc(Math.max(arenaBytes, ALIGN), "the activation arena");
      blocks.push(arena);
      const workspace = e.heap.alloc(Math.max(workspaceBytes, ALIGN), "the plan workspace");
      blocks.push(workspace);
      const params = e.heap.alloc(Math.max(paramBytes, ALIGN), "the plan's kernel parameters");
      blocks.push(params);
      const addr = (v: Val | undefined): number => (!v ? 0 : v.cv ? v.cv.device(v.perm).ptr : v.external ? v.external.ptr : arena + v.buffer!.offset);
      const heap = e.heap;
      const runs = steps.map((s): Run => {
        const c = s.control;
        if (c?.kind === "branch") {
          const p = addr(s.inputs[0]) >> 2;
          return () => (heap.i32[p] !== 0 ? undefined : c.target);
        }
        if (c?.kind === "goto") return () => c.target;
        if (c?.kind === "fail")
          return () => {
            throw c.error;
          };
        const bound: BoundNode<unknown> = {
          attrs: s.attrs,
          opset: s.opset,
          where: s.where,
          target: this.target,
          inputs: s.inputs,
          outputs: s.outputs,
          engine: e,
          kernels: e.kernels,
          workspace,
          params: params + s.paramOffset,
          input: (i) => addr(s.inputs[i]),
          output: (i) => addr(s.outputs[i]),
          own: (r) => (owned.push(r), r),
        };
        try {
          const run = s.algorithm.setup(bound);
          return () => {
            run();
            return undefined;
          };
        } catch (err) {
          throw withWhere(err, s.where);
        }
      });
      const inputs = this.graph.inputs.flatMap((i) => {
        const v = this.vals.get(i.name)!;
        return v.cv ? [] : [{ name: i.name, value: v, ptr: addr(v) }];
      });
      const outs = outputNames.map((name, k) => {
        const v = outputs[k]!;
        return v.cv ? { name, value: v, ptr: -1, constant: v.cv.host } : { name, value: v, ptr: addr(v) };
      });
      const report: PlanReport = {
        steps: steps.map((s) => ({ where: s.where, algorithm: s.algorithm.name })),
        arenaBytes,
        unsharedBytes,
        workspaceBytes,
        paramBytes,
        foldedBytes: this.foldedBytes,
      };
      const forward = this.forwardSteps < 0 ? steps.length : this.forwardSteps;
      const gradInputs = this.gradInputs.map((g) => ({ ...g, ptr: addr(g.value as Val) }));
      return new Plan(
        e,
        inputs,
        outs,
        report,
        runs,
        steps.map((s) => s.where),
        blocks,
        this.folded,
        owned,
        forward,
        gradInputs,
      );
    } catch (err) {
      for (const b of blocks) e.heap.release(b);
      for (const r of owned) r.dispose();
      throw err;
    }
  }
}

/**
 * Greedy-by-size offset assignment (as TFLite's arena planner): the largest buffer first, each at
 * the lowest offset where it overlaps no placed buffer whose lifetime intersects its own.
 * Returns the arena size.
 */
export function assignOffsets(buffers: Buffer[]): number {
  const order = [...buffers].sort((a, b) => b.bytes - a.bytes || a.first - b.first);
  const placed: Buffer[] = [];
  let size = 0;
  for (const b of order) {
    const bytes = align(Math.max(b.bytes, 1));
    const clash = placed.filter((p) => p.first <= b.last && b.first <= p.last).sort((p, q) => p.offset - q.offset);
    let offset = 0;
    for (const p of clash) {
      if (offset + bytes <= p.offset) break;
      offset = Math.max(offset, p.offset + align(Math.max(p.bytes, 1)));
    }
    b.offset = offset;
    placed.push(b);
    size = Math.max(size, offset + bytes);
  }
  return size;
}

/** The value a parameter's gradient accumulates into (the caller's tensor, ONNX order). */
function gradTarget(v: Val, slot: TrainableSlot): Val {
  const g = new Val(`grad(${v.name})`, v.dataType, v.shape, identityPerm(v.shape.length));
  g.external = { ptr: slot.grad.ptr };
  return g;
}

/** The algorithm name control steps report (they run no kernel). */
const CONTROL: Algorithm<unknown> = {
  name: "if.control",
  setup: () => fail("onnx", "internal: a control step has no run function"),
};

/** The planner's own step: a run-time value copied into another axis order (copy_nd). */
const LAYOUT_COPY: Algorithm<unknown> = {
  name: "layout.copy",
  setup(n) {
    const x = n.inputs[0]!,
      y = n.outputs[0]!;
    const xs = logicalStrides(x.shape, x.perm);
    writeNd(n.engine.heap.i32, n.params, { dims: [...y.dims], strides: [contiguousStrides(y.dims), y.perm.map((a) => xs[a]!)] }, n.where);
    const k = n.kernels,
      yp = n.output(0),
      xp = n.input(0),
      desc = n.params;
    return () => k.copy_nd(yp, xp, desc);
  },
};

export const describeType = (t: TensorType): string => `${dataTypeName(t.dataType)} ${fmtShape(t.shape)}`;
