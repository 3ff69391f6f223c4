// Fine-tuning an imported model: TrainableSession turns an InferenceSession's float initializers into
// parameters (value + gradient tensors, ONNX order) and plans forward and backward as ONE program
// (plan.ts: the ops' gradients are ordinary planned steps; what backward reads stays alive, nothing
// else; the same memory reuse, no allocation while running). The optimizers of src/train take its
// parameters() as they take a Model's.
import type { Engine } from "../engine.js";
import { fail, fmtShape, fmtValue } from "../errors.js";
import type { ParamEntry, ParamSelector } from "../model/model.js";
import { DataType } from "../onnx/onnx-proto.js";
import type { Tensor } from "../tensor.js";
import type { ConstValue } from "./constants.js";
import type { Graph } from "./import.js";
import type { Plan, TrainableSlot, TrainingOptions } from "./plan.js";
import type { OnnxFeedLike, OnnxTensor } from "./session.js";
import { sizeOfDims } from "./types.js";

/** @internal The parts of an InferenceSession a TrainableSession plans and runs with. */
export interface SessionInternals {
  readonly engine: Engine;
  readonly graph: Graph;
  readonly constants: ReadonlyMap<string, ConstValue>;
  inputShapes(feeds: Record<string, OnnxFeedLike>): Map<string, number[]>;
  plan(shapes: ReadonlyMap<string, readonly number[]>, feeds: Record<string, OnnxFeedLike>, training: { options: TrainingOptions; key: string }): Plan;
  writeFeeds(plan: Plan, feeds: Record<string, OnnxFeedLike>): void;
  readOutput(plan: Plan, name: string): OnnxTensor;
  alive(): boolean;
}

/** Options of InferenceSession.trainable. */
export interface TrainableOptions {
  /** Graph outputs the loss is computed from: backward() takes their gradients. Default: every float output. */
  lossOutputs?: string[];
  /** Initializers to train (names, a RegExp or a predicate); default every float initializer a trainable op input reads. */
  params?: ParamSelector;
}

/**
 * A model being fine-tuned: `forward(feeds)` (outputs copied out, as InferenceSession.run),
 * `backward({ output: dLoss/dOutput })` (ACCUMULATES parameter gradients; zeroGrads() between
 * steps), `parameters()` for an optimizer, `freeze` / `unfreeze`, `stateDict()` for saving.
 */
export class TrainableSession {
  private readonly slots = new Map<string, { value: Tensor; grad: Tensor; frozen: boolean }>();
  private readonly entries: ParamEntry[];
  readonly lossOutputs: readonly string[];
  private last: { plan: Plan } | undefined;
  private released = false;

  /** @internal Made by InferenceSession.trainable(). */
  constructor(
    private readonly s: SessionInternals,
    options: TrainableOptions = {},
  ) {
    const g = s.graph;
    const floatOutputs = g.outputs
      .filter((o) => o.dataType === DataType.FLOAT || o.dataType === DataType.FLOAT16 || o.dataType === DataType.DOUBLE)
      .map((o) => o.name);
    this.lossOutputs = options.lossOutputs ?? floatOutputs;
    for (const o of this.lossOutputs)
      if (!g.outputs.some((x) => x.name === o))
        fail("TrainableSession", `loss output "${o}" is not a graph output (${g.outputs.map((x) => x.name).join(", ")})`);
    const candidates = trainableInitializers(g, s.constants);
    const chosen = options.params === undefined ? candidates : selectNames("TrainableSession", candidates, options.params);
    const e = s.engine;
    try {
      for (const name of chosen) {
        const c = s.constants.get(name)!;
        const shape = c.shape.length ? [...c.shape] : [1];
        const value = e.tensor(shape, c.host.data as Float32Array);
        const grad = e.zeros(shape);
        this.slots.set(name, { value, grad, frozen: false });
      }
    } catch (err) {
      this.release();
      throw err;
    }
    this.entries = [...this.slots].map(([name, slot]) => ({
      name,
      value: slot.value,
      grad: slot.grad,
      get frozen() {
        return slot.frozen;
      },
    }));
  }

  /** The parameters, as optimizers take them ({ name, value, grad, frozen }); the same objects every call. */
  parameters(): ParamEntry[] {
    return [...this.entries];
  }

  /** Parameter values by initializer name (what a checkpoint saves). */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.slots].map(([n, s]) => [n, s.value]));
  }

  /** Freezes parameters (their gradients stay zero and are not computed). */
  freeze(sel: ParamSelector): this {
    for (const n of selectNames("TrainableSession.freeze", [...this.slots.keys()], sel)) {
      const s = this.slots.get(n)!;
      s.frozen = true;
      this.s.engine.kernels.fill_f32(s.grad.ptr, 0, s.grad.size);
    }
    return this;
  }

  unfreeze(sel: ParamSelector): this {
    for (const n of selectNames("TrainableSession.unfreeze", [...this.slots.keys()], sel)) this.slots.get(n)!.frozen = false;
    return this;
  }

  /** Sets every parameter gradient to zero. */
  zeroGrads(): void {
    for (const s of this.slots.values()) this.s.engine.kernels.fill_f32(s.grad.ptr, 0, s.grad.size);
  }

  /** Runs the forward pass on `feeds` (ONNX layout) and returns every graph output (copies). */
  forward(feeds: Record<string, OnnxFeedLike>): Record<string, OnnxTensor> {
    this.assertLive("forward");
    const shapes = this.s.inputShapes(feeds);
    const frozen = [...this.slots].filter(([, s]) => s.frozen).map(([n]) => n);
    const options: TrainingOptions = { params: this.slots as ReadonlyMap<string, TrainableSlot>, lossOutputs: this.lossOutputs };
    const plan = this.s.plan(shapes, feeds, { options, key: `${this.lossOutputs.join(",")}|frozen:${frozen.join(",")}` });
    this.s.writeFeeds(plan, feeds);
    plan.runForward();
    this.last = { plan };
    const out: Record<string, OnnxTensor> = {};
    for (const o of plan.outputs) out[o.name] = this.s.readOutput(plan, o.name);
    return out;
  }

  /**
   * Backpropagates the loss gradients of the last forward's loss outputs (ONNX layout, one per
   * loss output) and ADDS the parameters' gradients into their grad tensors.
   */
  backward(gradients: Record<string, OnnxFeedLike | ArrayLike<number>>): void {
    this.assertLive("backward");
    const last = this.last ?? fail("TrainableSession.backward", "run forward first");
    const plan = last.plan;
    for (const gi of plan.gradInputs) {
      const given = Object.hasOwn(gradients, gi.name) ? gradients[gi.name] : undefined;
      if (!given) fail("TrainableSession.backward", `missing the gradient of loss output "${gi.name}"`);
      const data = "dims" in given && "data" in given ? (given as OnnxFeedLike).data : (given as ArrayLike<number>);
      const n = sizeOfDims(gi.value.shape);
      if (!data || data.length !== n)
        fail("TrainableSession.backward", `the gradient of "${gi.name}" needs ${n} values (${fmtShape(gi.value.shape)}), got ${fmtValue(data)}`);
      const f32 = this.s.engine.heap.f32,
        at = gi.ptr >> 2;
      for (let i = 0; i < n; i++) f32[at + i] = Number(data[i]);
    }
    for (const name of Object.keys(gradients))
      if (!plan.gradInputs.some((g) => g.name === name)) fail("TrainableSession.backward", `"${name}" is not a loss output (${this.lossOutputs.join(", ")})`);
    plan.runBackward();
  }

  /** Frees the parameters and their gradients. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const s of this.slots.values()) {
      s.value.dispose();
      s.grad.dispose();
    }
  }

  private assertLive(op: string): void {
    if (this.released) fail(`TrainableSession.${op}`, "it was released");
    if (!this.s.alive()) fail(`TrainableSession.${op}`, "its InferenceSession was released");
  }
}

/**
 * Float initializers read by ops with a gradient, at inputs that are not plan-time values (shapes)
 * nor statistics (batch norm's running mean and variance).
 */
function trainableInitializers(g: Graph, constants: ReadonlyMap<string, ConstValue>): string[] {
  const ok = new Map<string, boolean>();
  const visit = (nodes: Graph["nodes"]) => {
    for (const n of nodes) {
      n.inputs.forEach((name, k) => {
        if (!name || !constants.has(name)) return;
        const c = constants.get(name)!;
        const trainable = c.elem === "f32" && !!n.def.gradient && !(n.def.valueInputs ?? []).includes(k) && !(n.def.nonTrainable ?? []).includes(k);
        ok.set(name, (ok.get(name) ?? true) && trainable);
      });
    }
  };
  visit(g.nodes);
  return [...ok].filter(([, v]) => v).map(([n]) => n);
}

function selectNames(op: string, names: readonly string[], sel: ParamSelector): string[] {
  if (typeof sel === "function") return names.filter((n) => sel(n));
  if (sel instanceof RegExp) return names.filter((n) => sel.test(n));
  const list = typeof sel === "string" ? [sel] : sel;
  if (!Array.isArray(list)) fail(op, "expected a name, an array of names, a RegExp or a predicate");
  for (const n of list) if (!names.includes(n)) fail(op, `'${n}' is not a trainable parameter`);
  return [...list];
}
