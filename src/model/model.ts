// Model: a compiled graph bound to an engine, with its memory planned llm.c-style in a few blocks
// with named views: parameters and their gradients (allocated once, at construction), activations
// with the buffers forward saves for backward, activation gradients and one scratch block holding
// every node's scratch and workspace (allocated by plan(batch), ggml-style: each node's algorithms
// and workspace are decided from shapes at plan time, the largest need reserved once, and no
// forward or backward allocates).
import { checkBudget, type Engine } from "../engine.js";
import { checkInt, fail, fmtShape, SimdnetError } from "../errors.js";
import { type DType, type Shape, sizeOf, Tensor } from "../tensor.js";
import { compileGraph, type CompiledGraph, type CompiledNode, type CompiledParam } from "./graph.js";
import { fillInit, paramStream } from "./init.js";
import { checkOptions } from "../ops/common.js";
import { relu } from "../ops/elementwise.js";
import { activationBackward, activationForward, type LayerBackwardContext, type LayerPlan } from "./layers.js";
import type { AnyLayerSpec, ModelSpec } from "./spec.js";
import { summarizeGraph, type ModelSummary } from "./summary.js";

/** Initial parameter values by full name (`conv1.weight`), e.g. from a checkpoint or an ONNX file. */
export type ParamValues = Record<string, ArrayLike<number>> | Map<string, ArrayLike<number>>;

/** Options of createModel and the Model constructor. */
export interface ModelOptions {
  /** Per-image input shape: required for a bare layer array, overrides a single graph input's shape. */
  inputShape?: Shape;
  /** Seed of the weight initialisation and of dropout masks (default 1): same seed, same weights. */
  seed?: number;
  /** Values for some or all parameters and buffers instead of random init. Unknown names are an error. */
  initialParams?: ParamValues;
  /** Plan gradients and backward (default true). false halves the memory of an inference-only model. */
  backward?: boolean;
  /** The "code" layer returned by code(); default: the input of the final classifier layer. */
  codeLayer?: string;
  /** Plan for this batch right away. */
  batch?: number;
}

/** Options of Model.backward. */
export interface BackwardOptions {
  /**
   * Guided backpropagation (Springenberg et al. 2015): every ReLU (fused or a layer) passes only
   * positive gradients, i.e. its incoming gradient is clamped at 0 in place before the usual
   * x > 0 mask. Not a gradient of anything: for visualisation only. Default false.
   */
  guided?: boolean;
  /**
   * Compute the gradient with respect to the model's inputs (default true; saliency maps need it).
   * Training needs only parameter gradients: false skips that work (e.g. a first conv's dX), and
   * the returned input gradient is then zeros.
   */
  inputGradient?: boolean;
}

/** Options of Model.forward. */
export interface ForwardOptions {
  /** Training mode: batch norm uses batch statistics (and updates its running ones), dropout drops. Default false. */
  training?: boolean;
}

/** One trainable parameter: its value, its gradient and whether it is frozen (live). */
export interface ParamEntry {
  readonly name: string;
  readonly value: Tensor;
  readonly grad: Tensor;
  readonly frozen: boolean;
}

/** Selects parameters: full names (`conv1.weight`) or layer names (`conv1`: all its parameters), a RegExp, or a predicate. */
export type ParamSelector = string | string[] | RegExp | ((name: string) => boolean);

/** Input data: a tensor [N, ...shape] of the model's engine or a flat array of N images; several inputs by name. */
export type ModelInput = Tensor | ArrayLike<number> | Record<string, Tensor | ArrayLike<number>>;

interface Block {
  ptr: number;
  bytes: number;
  freed: boolean;
}

/** A view into one of a model's memory blocks: valid while the block lives; never disposed on its own. */
class PlannedTensor extends Tensor {
  constructor(
    engine: Engine,
    ptr: number,
    shape: Shape,
    dtype: DType,
    private readonly block: Block,
  ) {
    super(engine, ptr, shape, dtype);
  }

  override get isDisposed(): boolean {
    return this.block.freed;
  }

  override assertLive(op: string): void {
    if (this.block.freed) throw new SimdnetError(`${op}: tensor ${fmtShape(this.shape)} belonged to a model plan that was released (re-plan or dispose)`);
  }

  override dispose(): void {
    fail("Tensor.dispose", "this tensor is a view into a model's planned memory: dispose the model (or re-plan) instead");
  }
}

/** Bump layout of one block: offsets in bytes, each view 16-byte aligned. */
class Layout {
  bytes = 0;
  place(elements: number): number {
    const at = this.bytes;
    this.bytes += Math.max(16, Math.ceil((elements * 4) / 16) * 16);
    return at;
  }
}

interface ParamSlot extends CompiledParam {
  node: CompiledNode;
  value: PlannedTensor;
  grad: PlannedTensor | null;
  frozen: boolean;
}

type MutableContext = { -readonly [K in keyof LayerBackwardContext]: LayerBackwardContext[K] };

interface Plan {
  batch: number;
  blocks: Block[];
  values: Map<string, Tensor>;
  grads: Map<string, Tensor>;
  contexts: MutableContext[];
  /** Per node, per input: false for graph inputs (whose gradient backward({inputGradient: false}) skips). */
  nonInputGrads: boolean[][];
  scratch: Block;
  /** Per node: the floats of scratch() views it may take (its workspace follows them in the block). */
  scratchFloats: number[];
  /** Per node: what planning decided (workspace bytes, algorithms). */
  nodePlans: LayerPlan[];
}

function mixSeed(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35) ^ Math.imul(c + 0x27d4eb2f, 0x165667b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

/**
 * A CNN bound to an engine. Build it from plain data (a layer array, `{inputShape, layers}` or a
 * graph `{inputs, nodes, outputs}`), `plan(batch)`, then `forward` / `backward` as often as wanted
 * without allocating. Every tensor it hands out (outputs, gradients, layer outputs, parameters)
 * is a view into its planned memory, overwritten by the next call: copy what you keep.
 */
export class Model {
  /** @internal The compiled graph: nodes in execution order, shapes, parameter and storage plans. */
  readonly graph: CompiledGraph;
  readonly seed: number;
  readonly hasBackward: boolean;
  /** The layer whose output code() returns, if any. */
  readonly codeLayer: string | undefined;
  private readonly slots: ParamSlot[] = [];
  private readonly slotByName = new Map<string, ParamSlot>();
  private readonly paramBlocks: Block[] = [];
  private entries: ParamEntry[] | undefined;
  private planned: Plan | null = null;
  private scratchTop = 0;
  private scratchLimit = 0;
  private step = 0;
  private lastTraining = false;
  private forwardDone = false;
  private disposed = false;

  constructor(
    readonly engine: Engine,
    spec: ModelSpec | AnyLayerSpec[],
    options: ModelOptions = {},
  ) {
    checkOptions("Model", "options", options);
    this.graph = compileGraph(spec, options.inputShape);
    this.seed = checkInt("Model", "seed", options.seed ?? 1, 0);
    this.hasBackward = options.backward ?? true;
    // a build that fails frees what it allocated (the parameter blocks, a plan)
    try {
      this.allocateParams(options.initialParams);
      this.codeLayer = options.codeLayer ?? this.findCodeLayer();
      if (options.codeLayer !== undefined && !this.graph.shapes.has(options.codeLayer)) fail("Model", `codeLayer '${options.codeLayer}' is not a node`);
      if (options.batch !== undefined) this.plan(options.batch);
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  // parameters

  private allocBlock(bytes: number, what: string): Block {
    return { ptr: this.engine.heap.alloc(bytes, what), bytes, freed: false };
  }

  private allocateParams(initial: ParamValues | undefined): void {
    const e = this.engine;
    const values = new Layout(),
      grads = new Layout();
    const all = this.graph.nodes.flatMap((node) => node.params.map((p) => ({ p, node })));
    const at = all.map(({ p }) => [values.place(sizeOf(p.shape)), p.trainable && this.hasBackward ? grads.place(sizeOf(p.shape)) : -1]);
    checkBudget(e, values.bytes + grads.bytes, `model parameters${grads.bytes > 0 ? " and their gradients" : ""} (${values.bytes + grads.bytes} bytes)`);
    const vb = this.allocBlock(values.bytes, "model parameters");
    this.paramBlocks.push(vb);
    const gb = grads.bytes > 0 ? this.allocBlock(grads.bytes, "model parameter gradients") : null;
    if (gb) this.paramBlocks.push(gb);
    all.forEach(({ p, node }, i) => {
      const [vo, go] = at[i]!;
      const slot: ParamSlot = {
        ...p,
        node,
        frozen: false,
        value: new PlannedTensor(e, vb.ptr + vo!, p.shape, "f32", vb),
        grad: go! >= 0 ? new PlannedTensor(e, gb!.ptr + go!, p.shape, "f32", gb!) : null,
      };
      this.slots.push(slot);
      this.slotByName.set(p.fullName, slot);
    });
    if (gb) e.kernels.fill_f32(gb.ptr, 0, gb.bytes / 4);
    const given = initial instanceof Map ? initial : new Map(Object.entries(initial ?? {}));
    for (const name of given.keys()) {
      if (!this.slotByName.has(name))
        fail("Model", `initialParams has '${name}', which is not a parameter (known: ${[...this.slotByName.keys()].slice(0, 8).join(", ")}...)`);
    }
    this.slots.forEach((s, index) => {
      const v = given.get(s.fullName);
      if (v) this.setParam(s, v);
      else {
        fillInit(s.value, s.init, s.fanIn ?? 1, s.fanOut ?? 1, paramStream(this.seed, index));
        s.adjust?.(s.value.data);
      }
    });
  }

  private setParam(s: ParamSlot, v: ArrayLike<number>): void {
    if (v.length !== s.value.size) fail("Model", `'${s.fullName}' has shape ${fmtShape(s.shape)} (${s.value.size} values), got ${v.length} values`);
    s.value.data.set(v);
  }

  /** Copies values into parameters / buffers by full name. Unknown names are an error. */
  setParameters(values: ParamValues): this {
    const m = values instanceof Map ? values : new Map(Object.entries(values));
    for (const [name, v] of m) {
      const s = this.slotByName.get(name);
      if (!s) fail("Model.setParameters", `'${name}' is not a parameter`);
      this.setParam(s, v);
    }
    return this;
  }

  /**
   * Trainable parameters in layer order, named `<layer>.<param>` (conv1.weight, conv1.bias,
   * bn1.weight...), as the {value, grad, frozen} records optimizers take. The records are the same
   * objects on every call and `frozen` is live (it follows freeze / unfreeze). A model built with
   * `backward: false` has no gradients: use stateDict() for its values.
   */
  parameters(): ParamEntry[] {
    if (!this.hasBackward) fail("Model.parameters", "the model was built with backward: false (no gradients): use stateDict()");
    this.entries ??= this.slots
      .filter((s) => s.trainable)
      .map((s) => ({
        name: s.fullName,
        value: s.value,
        grad: s.grad!,
        get frozen() {
          return s.frozen;
        },
      }));
    return [...this.entries];
  }

  /** Non-trainable state (batch norm runningMean / runningVar). */
  buffers(): { name: string; value: Tensor }[] {
    return this.slots.filter((s) => !s.trainable).map((s) => ({ name: s.fullName, value: s.value }));
  }

  /** Every parameter and buffer by full name (what a checkpoint saves). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.slots.map((s) => [s.fullName, s.value]));
  }

  private select(op: string, sel: ParamSelector): ParamSlot[] {
    const trainable = this.slots.filter((s) => s.trainable);
    if (typeof sel === "function") return trainable.filter((s) => sel(s.fullName));
    if (sel instanceof RegExp) return trainable.filter((s) => sel.test(s.fullName));
    const names = typeof sel === "string" ? [sel] : sel;
    if (!Array.isArray(names)) fail(op, "expected a name, an array of names, a RegExp or a predicate");
    return names.flatMap((n) => {
      const hit = trainable.filter((s) => s.fullName === n || s.node.name === n);
      if (hit.length === 0) fail(op, `'${n}' names no trainable parameter or layer with parameters`);
      return hit;
    });
  }

  /** Freezes parameters: their gradients stay zero (dW is skipped where cheap, else discarded). */
  freeze(sel: ParamSelector): this {
    for (const s of this.select("Model.freeze", sel)) {
      s.frozen = true;
      if (s.grad) this.engine.kernels.fill_f32(s.grad.ptr, 0, s.grad.size);
    }
    return this;
  }

  unfreeze(sel: ParamSelector): this {
    for (const s of this.select("Model.unfreeze", sel)) s.frozen = false;
    return this;
  }

  /** Sets every parameter gradient to zero. */
  zeroGrads(): void {
    for (const b of this.paramBlocks.slice(1)) this.engine.kernels.fill_f32(b.ptr, 0, b.bytes / 4);
  }

  // -------------------------------------------------------------------------------------------
  // memory plan

  /** The planned batch size (0 before plan()). */
  get batch(): number {
    return this.planned?.batch ?? 0;
  }

  private batched(shape: Shape, batch: number): number[] {
    return [batch, ...shape];
  }

  /**
   * Allocates every activation, saved buffer, activation gradient and scratch buffer for `batch`
   * images, releasing the previous plan (whose views become invalid), and decides each node's
   * algorithms and workspace from its shapes and the engine (LayerKind.plan): one block holds the
   * largest node's scratch and workspace, so forward and backward allocate nothing afterwards.
   */
  plan(batch: number): this {
    this.assertLive("plan");
    checkInt("Model.plan", "batch", batch, 1);
    const e = this.engine,
      g = this.graph;
    const acts = new Layout(),
      grads = new Layout();
    const actAt = new Map<string, number>(),
      gradAt = new Map<string, number>(),
      savedAt = new Map<string, number>();
    for (const i of g.inputs) {
      actAt.set(i.name, acts.place(batch * sizeOf(i.shape)));
      if (this.hasBackward) gradAt.set(i.name, grads.place(batch * sizeOf(i.shape)));
    }
    const scratchFloats: number[] = [],
      nodePlans: LayerPlan[] = [];
    let blockBytes = 16;
    for (const n of g.nodes) {
      const size = batch * sizeOf(n.shape);
      if (n.storage === "own") actAt.set(n.name, acts.place(size));
      if (n.storage !== "alias" && this.hasBackward) gradAt.set(n.name, grads.place(size));
      const xs = n.inputShapes.map((s) => this.batched(s, batch)),
        y = this.batched(n.shape, batch);
      for (const s of n.kind.saved?.(n.spec, xs, y) ?? []) savedAt.set(`${n.name}/${s.name}`, acts.place(sizeOf(s.shape)));
      // + alignment slack of a few scratch() calls
      const scratch = (n.activation !== "none" ? size + 4 : 0) + (n.kind.scratchFloats?.(n.spec, xs, y) ?? 0) + 64;
      const plan = n.kind.plan?.(n.spec, xs, y, { engine: e, backward: this.hasBackward }) ?? { workspaceBytes: 0 };
      if (!Number.isInteger(plan.workspaceBytes) || plan.workspaceBytes < 0 || plan.workspaceBytes % 16 !== 0) {
        fail("Model.plan", `layer '${n.name}' (${n.spec.type}) planned a workspace of ${plan.workspaceBytes} bytes (a multiple of 16 expected)`);
      }
      scratchFloats.push(Math.ceil(scratch / 4) * 4);
      nodePlans.push(plan);
      blockBytes = Math.max(blockBytes, 4 * scratchFloats.at(-1)! + plan.workspaceBytes);
    }
    // refused before anything changes when it cannot fit (the current plan's blocks would be freed first)
    const planBytes = acts.bytes + grads.bytes + blockBytes;
    const held = this.planned ? this.planned.blocks.reduce((n, b) => n + Math.max(16, Math.ceil(b.bytes / 16) * 16), 0) : 0;
    checkBudget(e, Math.max(0, planBytes - held), `the plan for batch ${batch} (activations, gradients, scratch and workspace: ${planBytes} bytes)`);
    this.releasePlan();
    const blocks: Block[] = [];
    try {
      const ab = this.allocBlock(acts.bytes, `activations for batch ${batch}`);
      blocks.push(ab);
      const gb = this.hasBackward ? this.allocBlock(grads.bytes, `activation gradients for batch ${batch}`) : null;
      if (gb) blocks.push(gb);
      const sb = this.allocBlock(blockBytes, "model scratch and workspace");
      blocks.push(sb);

      const values = new Map<string, Tensor>(),
        gradsMap = new Map<string, Tensor>();
      const view = (b: Block, at: number, shape: Shape, dtype: DType = "f32") => new PlannedTensor(e, b.ptr + at, shape, dtype, b);
      const reshaped = (t: Tensor, shape: Shape, b: Block) => new PlannedTensor(e, t.ptr, shape, "f32", b);
      for (const i of g.inputs) {
        values.set(i.name, view(ab, actAt.get(i.name)!, this.batched(i.shape, batch)));
        if (gb) gradsMap.set(i.name, view(gb, gradAt.get(i.name)!, this.batched(i.shape, batch)));
      }
      const contexts: MutableContext[] = [];
      g.nodes.forEach((n, ni) => {
        const shape = this.batched(n.shape, batch);
        const src = n.inputs[0]!;
        values.set(n.name, n.storage === "own" ? view(ab, actAt.get(n.name)!, shape) : reshaped(values.get(src)!, shape, ab));
        if (gb) gradsMap.set(n.name, n.storage === "alias" ? reshaped(gradsMap.get(src)!, shape, gb) : view(gb, gradAt.get(n.name)!, shape));
        const xs = n.inputShapes.map((s) => this.batched(s, batch));
        const saved: Record<string, Tensor> = {};
        for (const s of n.kind.saved?.(n.spec, xs, shape) ?? []) saved[s.name] = view(ab, savedAt.get(`${n.name}/${s.name}`)!, s.shape, s.dtype ?? "f32");
        const params: Record<string, Tensor> = {},
          pgrads: Record<string, Tensor> = {};
        for (const p of n.params) {
          const slot = this.slotByName.get(p.fullName)!;
          params[p.name] = slot.value;
          if (slot.grad) pgrads[p.name] = slot.grad;
        }
        contexts.push({
          engine: e,
          spec: n.spec,
          x: n.inputs.map((i) => values.get(i)!),
          y: values.get(n.name)!,
          params,
          saved,
          training: false,
          guided: false,
          seed: 0,
          scratch: (s: Shape) => this.scratchView(s),
          workspace: view(sb, 4 * scratchFloats[ni]!, [nodePlans[ni]!.workspaceBytes / 4]),
          algorithms: nodePlans[ni]!.algorithms ?? {},
          dy: gradsMap.get(n.name)!,
          dx: n.inputs.map((i) => gradsMap.get(i)!),
          grads: pgrads,
          frozen: (p: string) => this.slotByName.get(`${n.name}.${p}`)?.frozen ?? false,
        });
      });
      const graphInputs = new Set(this.graph.inputs.map((i) => i.name));
      const nonInputGrads = this.graph.nodes.map((n) => n.inputs.map((name) => !graphInputs.has(name)));
      this.planned = { batch, blocks, values, grads: gradsMap, contexts, nonInputGrads, scratch: sb, scratchFloats, nodePlans };
      this.forwardDone = false;
      this.resetStates();
    } catch (err) {
      for (const b of blocks) this.freeBlock(b);
      throw err;
    }
    return this;
  }

  /**
   * Clears the state layers carry between forward calls (stateful recurrent layers: their h and c
   * start from zeros again, e.g. at a new text). plan() does it too.
   */
  resetStates(): void {
    const p = this.planned;
    if (!p) return;
    this.graph.nodes.forEach((n, i) => n.kind.resetState?.(p.contexts[i]!));
  }

  /** Sets up node i's scratch() views for one forward or backward call. */
  private beginNode(i: number): void {
    this.scratchTop = 0;
    this.scratchLimit = this.planned!.scratchFloats[i]!;
  }

  private scratchView(shape: Shape): Tensor {
    const p = this.planned!;
    const n = sizeOf(shape);
    if (this.scratchTop + n > this.scratchLimit) {
      fail("Model", `scratch of ${this.scratchLimit} floats exhausted (a layer kind's scratchFloats is too small for ${fmtShape(shape)})`);
    }
    const t = new PlannedTensor(this.engine, p.scratch.ptr + this.scratchTop * 4, shape, "f32", p.scratch);
    this.scratchTop += Math.ceil(n / 4) * 4;
    return t;
  }

  private freeBlock(b: Block): void {
    if (b.freed) return;
    b.freed = true;
    this.engine.heap.release(b.ptr);
  }

  private releasePlan(): void {
    if (!this.planned) return;
    for (const b of this.planned.blocks) this.freeBlock(b);
    this.planned = null;
  }

  /**
   * What plan() decided per node (layer name): the workspace bytes of its calls and the algorithm
   * each of its passes runs (conv layers: by conv pass, e.g. { forward: "conv2d.winograd" }).
   */
  layerPlans(): Map<string, LayerPlan> {
    const p = this.requirePlan("layerPlans");
    return new Map(this.graph.nodes.map((n, i) => [n.name, p.nodePlans[i]!]));
  }

  /** Bytes of each planned block (scratch: the block of every node's scratch and workspace). */
  memoryBytes(): { params: number; paramGrads: number; activations: number; activationGrads: number; scratch: number } {
    const p = this.planned;
    return {
      params: this.paramBlocks[0]?.bytes ?? 0,
      paramGrads: this.paramBlocks[1]?.bytes ?? 0,
      activations: p?.blocks[0]?.bytes ?? 0,
      activationGrads: p && this.hasBackward ? p.blocks[1]!.bytes : 0,
      scratch: p?.scratch.bytes ?? 0,
    };
  }

  // -------------------------------------------------------------------------------------------
  // running

  private assertLive(op: string): void {
    if (this.disposed) fail(`Model.${op}`, "the model was disposed");
  }

  private requirePlan(op: string): Plan {
    this.assertLive(op);
    if (!this.planned) fail(`Model.${op}`, "the model has no plan: call plan(batch) (or forward) first");
    return this.planned;
  }

  /** Copies one input into its planned buffer (checking engine, shape and length). */
  private copyIn(op: string, dst: Tensor, src: Tensor | ArrayLike<number>, what: string): void {
    const f32 = this.engine.heap.f32;
    if (src instanceof Tensor) {
      if (src.engine !== this.engine) fail(op, `${what} belongs to a different engine`);
      src.assertLive(`${op}: ${what}`);
      if (src.dtype !== "f32") fail(op, `${what} must be f32, got ${src.dtype}`);
      if (src.rank !== dst.rank || src.shape.some((d, i) => d !== dst.shape[i])) {
        fail(
          op,
          `${what} has shape ${fmtShape(src.shape)} but the model is planned for ${fmtShape(dst.shape)}` +
            (src.shape.slice(1).join() === dst.shape.slice(1).join() ? ` (batch ${src.shape[0]} vs ${dst.shape[0]}: call plan(${src.shape[0]}))` : ""),
        );
      }
      if (src.ptr !== dst.ptr) f32.copyWithin(dst.ptr >> 2, src.ptr >> 2, (src.ptr >> 2) + src.size);
      return;
    }
    if (!src || typeof src.length !== "number") fail(op, `${what} must be a Tensor or an array of numbers`);
    if (src.length !== dst.size) fail(op, `${what} has ${src.length} values but the model is planned for ${fmtShape(dst.shape)} (${dst.size})`);
    f32.set(src, dst.ptr >> 2);
  }

  private namedInputs(op: string, x: ModelInput, names: string[]): Map<string, Tensor | ArrayLike<number>> {
    const isData = x instanceof Tensor || typeof (x as ArrayLike<number>).length === "number";
    if (isData) {
      if (names.length !== 1) fail(op, `the model has ${names.length} inputs/outputs (${names.join(", ")}): pass an object by name`);
      return new Map([[names[0]!, x as Tensor | ArrayLike<number>]]);
    }
    const m = new Map(Object.entries(x as Record<string, Tensor | ArrayLike<number>>));
    for (const k of m.keys()) if (!names.includes(k)) fail(op, `unknown name '${k}' (expected ${names.join(", ")})`);
    return m;
  }

  /**
   * Runs the model on x ([N, ...inputShape] tensor, or N images as a flat array; an object by name
   * for several inputs). Plans for N on first use; a different N later needs an explicit plan(N).
   * Returns the (first) output, a view owned by the model valid until the next forward.
   */
  forward(x: ModelInput, options: ForwardOptions = {}): Tensor {
    this.assertLive("forward");
    const g = this.graph;
    const inputs = this.namedInputs(
      "Model.forward",
      x,
      g.inputs.map((i) => i.name),
    );
    if (!this.planned) {
      const [name, first] = [...inputs][0]!;
      const per = sizeOf(g.shapes.get(name)!);
      const n = first instanceof Tensor ? first.shape[0]! : first.length / per;
      if (!Number.isInteger(n) || n < 1)
        fail(
          "Model.forward",
          `cannot infer the batch from ${first instanceof Tensor ? fmtShape(first.shape) : `${first.length} values`} for images of ${per} values`,
        );
      this.plan(n);
    }
    const p = this.planned!;
    for (const i of g.inputs) {
      const v = inputs.get(i.name);
      if (v === undefined) fail("Model.forward", `missing input '${i.name}'`);
      this.copyIn("Model.forward", p.values.get(i.name)!, v, `input '${i.name}'`);
    }
    const training = options.training ?? false;
    if (training) this.step++;
    g.nodes.forEach((n, i) => {
      const c = p.contexts[i]!;
      c.training = training;
      c.seed = mixSeed(this.seed, this.step, i);
      this.beginNode(i);
      n.kind.forward(c);
      if (n.activation !== "none") activationForward(n.activation, n.spec, c.y);
    });
    this.lastTraining = training;
    this.forwardDone = true;
    return p.values.get(g.outputs[0]!)!;
  }

  /**
   * Backpropagates dOutput (the loss gradient w.r.t. the (first) output; an object by output name
   * for several) through the last forward, in the same mode. ACCUMULATES parameter gradients
   * (call zeroGrads() between steps); frozen parameters keep zero gradients. Returns the gradient
   * w.r.t. the (first) input, a view owned by the model (saliency maps).
   */
  backward(dOutput: ModelInput, options: BackwardOptions = {}): Tensor {
    const p = this.requirePlan("backward");
    if (!this.hasBackward) fail("Model.backward", "the model was built with backward: false");
    if (!this.forwardDone) fail("Model.backward", "run forward first (after each plan)");
    const g = this.graph,
      k = this.engine.kernels;
    const gradBlock = p.blocks[1]!;
    k.fill_f32(gradBlock.ptr, 0, gradBlock.bytes / 4);
    const guided = options.guided ?? false;
    const wantInputs = options.inputGradient ?? true;
    const douts = this.namedInputs("Model.backward", dOutput, g.outputs);
    for (const [name, v] of douts) this.copyIn("Model.backward", p.grads.get(name)!, v, `gradient of output '${name}'`);
    for (let i = g.nodes.length - 1; i >= 0; i--) {
      const n = g.nodes[i]!,
        c = p.contexts[i]!;
      if (n.storage === "alias") continue; // shares its input's gradient
      this.beginNode(i);
      const dy = p.grads.get(n.name)!;
      if (guided && n.activation === "relu") relu(dy, dy);
      if (n.activation !== "none") {
        const dpre = this.scratchView(dy.shape);
        k.fill_f32(dpre.ptr, 0, dpre.size);
        activationBackward(n.activation, n.spec, dy, c.y, dpre);
        c.dy = dpre;
      } else c.dy = dy;
      c.training = this.lastTraining;
      c.guided = guided;
      c.inputGradWanted = wantInputs ? undefined : p.nonInputGrads[i];
      n.kind.backward(c);
    }
    for (const s of this.slots) if (s.frozen && s.grad) k.fill_f32(s.grad.ptr, 0, s.grad.size);
    return p.grads.get(g.inputs[0]!.name)!;
  }

  /** The output of layer (or input) `name` from the last forward: [N, ...per-image shape]. */
  layerOutput(name: string): Tensor {
    const p = this.requirePlan("layerOutput");
    const t = p.values.get(name);
    if (!t) fail("Model.layerOutput", `no layer or input named '${name}'`);
    return t;
  }

  /** The gradient w.r.t. layer (or input) `name` from the last backward. */
  layerGrad(name: string): Tensor {
    const p = this.requirePlan("layerGrad");
    const t = p.grads.get(name);
    if (!t) fail("Model.layerGrad", this.hasBackward ? `no layer or input named '${name}'` : "the model has no backward");
    return t;
  }

  /** Output `name` (default the first) of the last forward. */
  output(name = this.graph.outputs[0]!): Tensor {
    if (!this.graph.outputs.includes(name)) fail("Model.output", `'${name}' is not an output (${this.graph.outputs.join(", ")})`);
    return this.layerOutput(name);
  }

  /** The penultimate "code": the output of `codeLayer` (by default what feeds the final classifier). */
  code(): Tensor {
    if (!this.codeLayer) fail("Model.code", "no code layer (the model has no final layer with parameters): pass options.codeLayer");
    return this.layerOutput(this.codeLayer);
  }

  private findCodeLayer(): string | undefined {
    const byName = new Map(this.graph.nodes.map((n) => [n.name, n]));
    let n = byName.get(this.graph.outputs[0]!);
    while (n && n.params.length === 0 && n.inputs.length === 1) n = byName.get(n.inputs[0]!);
    if (!n || n.params.length === 0 || n.inputs.length !== 1) return undefined;
    let name = n.inputs[0]!;
    for (let m = byName.get(name); m && m.storage === "alias"; m = byName.get(name)) name = m.inputs[0]!;
    return name;
  }

  /** Per-layer table: output shapes (HWC per image), activation values, parameter counts, totals and bytes. */
  summary(): ModelSummary {
    return summarizeGraph(this.graph);
  }

  /** Frees every block. The model and all its views are unusable afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.releasePlan();
    for (const b of this.paramBlocks) this.freeBlock(b);
    this.disposed = true;
  }
}

/** Shorthand for `new Model(engine, spec, options)`. */
export function createModel(engine: Engine, spec: ModelSpec | AnyLayerSpec[], options: ModelOptions = {}): Model {
  return new Model(engine, spec, options);
}
