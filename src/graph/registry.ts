// The operator registry of the graph runtime: one OpDef per ONNX op type, with
//   parse       attribute parsing and checks (at import: bad attributes fail before anything runs)
//   infer       shape inference (output element types and shapes from the input types, and from
//               the values of inputs known when planning, such as Reshape's shape)
//   layout      the axis order each input must have and each output gets (default: ONNX order)
//   algorithms  an ordered list; the planner runs the first whose `eligible` holds. Each states
//               its workspace size and binds a run function to the node's buffers once per plan.
// Adding an op is one `registerOp({...})` call in src/graph/ops/<family>.ts (imported by ops/index.ts).
//
// Everything here is decided from shapes, element types, attributes, the build and the thread
// count: never from the heap's state, so a plan (and its bits) is the same whatever else is live.
import type { Engine } from "../engine.js";
import { fail } from "../errors.js";
import type { Attributes } from "../onnx/attributes.js";
import type { BuildName, Kernels } from "../runtime.js";
import type { Subgraph } from "./import.js";
import type { Elem, HostTensor, Perm } from "./types.js";

/** A value's type when planning: ONNX element type and concrete logical (ONNX-order) shape. */
export interface TensorType {
  readonly dataType: number;
  readonly shape: readonly number[];
}

/** What shape inference sees. */
export interface InferContext<A> {
  readonly attrs: A;
  readonly opset: number;
  /** `node k "name" (OpType)`, the prefix of every error about the node. */
  readonly where: string;
  readonly inputCount: number;
  /** Outputs the node lists (some may be unwanted: see wants). */
  readonly outputCount: number;
  /** Whether output i is read by anything (named and used); an op may skip unwanted outputs. */
  wants(i: number): boolean;
  /** Input i's type; undefined when that optional input is omitted (or beyond the node's inputs). */
  input(i: number): TensorType | undefined;
  /** Input i's type; fails naming the input when it is omitted. */
  need(i: number, name: string): TensorType;
  /**
   * Input i's value when it is known while planning (a constant, or computed from constants and
   * shapes), else undefined. Inputs listed in OpDef.valueInputs are always known.
   */
  value(i: number): HostTensor | undefined;
  fail(message: string): never;
}

/** A value as the planner lays it out. */
export interface PlanValue {
  readonly name: string;
  readonly dataType: number;
  readonly elem: Elem;
  /** Logical (ONNX-order) shape. */
  readonly shape: readonly number[];
  /** Axis order in memory (see Perm). */
  readonly perm: Perm;
  /** Physical shape: shape in perm order. */
  readonly dims: readonly number[];
  /** Elements. */
  readonly size: number;
  /** Whether the value is a constant (known while planning) rather than computed by each run. */
  readonly isConstant: boolean;
  /**
   * The value when known while planning (constants; on the host, downloaded on first access),
   * undefined for values computed by a run.
   */
  readonly known?: HostTensor;
}

/** What `layout` sees: the node's inputs as laid out so far, and its inferred output types. */
export interface LayoutContext<A> {
  readonly attrs: A;
  readonly inputs: readonly (PlanValue | undefined)[];
  readonly outputs: readonly TensorType[];
}

/**
 * The layouts a node needs: per input a perm ("any": the algorithms read any perm), per output
 * the perm it produces. The planner converts inputs whose perm differs (constants once, at plan).
 */
export interface LayoutChoice {
  inputs: readonly (Perm | "any")[];
  outputs: readonly Perm[];
}

/** The target a plan is made for. */
export interface Target {
  readonly build: BuildName;
  /** Threads kernel calls may use (engine.threads). */
  readonly threads: number;
}

/** What eligibility and sizing see: the node with its layouts fixed. */
export interface PlanNode<A> {
  readonly attrs: A;
  readonly opset: number;
  readonly where: string;
  readonly target: Target;
  readonly inputs: readonly (PlanValue | undefined)[];
  readonly outputs: readonly PlanValue[];
}

/** What `setup` sees: the plan node bound to memory. Addresses are byte addresses, 16-byte aligned. */
export interface BoundNode<A> extends PlanNode<A> {
  readonly engine: Engine;
  readonly kernels: Kernels;
  /** Address of input i (0 for an omitted optional input). */
  input(i: number): number;
  /** Address of output i. */
  output(i: number): number;
  /** This node's workspace (workspaceBytes of its algorithm), valid during its run only. */
  readonly workspace: number;
  /** This node's persistent parameter bytes (paramBytes of its algorithm), written by setup once. */
  readonly params: number;
  /**
   * Hands a buffer setup made (packed weights...) to the plan, which disposes it with itself.
   * Setup may allocate; the run closure may not.
   */
  own<T extends { dispose(): void }>(resource: T): T;
}

export interface Algorithm<A> {
  /** `<op>.<variant>`, e.g. "conv.winograd". */
  readonly name: string;
  /** Whether this algorithm can run the node (shapes, types, layouts, attributes, target). Default: always. */
  eligible?(n: PlanNode<A>): boolean;
  /** Scratch bytes the run needs (shared with other nodes, contents undefined at entry). Default 0. */
  workspaceBytes?(n: PlanNode<A>): number;
  /** Bytes of kernel parameters setup writes once and every run reads (N-d descriptors...). Default 0. */
  paramBytes?(n: PlanNode<A>): number;
  /**
   * Output 0 may share input 0's bytes (element-wise kernels that read each element before writing
   * it): the planner then reuses input 0's buffer when nothing reads input 0 afterwards.
   */
  readonly inPlace?: boolean;
  /** Binds the node: precomputes what it can, returns the run function (which must not allocate). */
  setup(n: BoundNode<A>): () => void;
}

export interface OpDef<A = any> {
  /** The ONNX op type (default domain). */
  readonly type: string;
  /** Inputs whose VALUES shape inference needs (Reshape's shape...): they must be known when planning. */
  readonly valueInputs?: readonly number[];
  /**
   * Inputs whose values the op uses when they are known while planning, and does without otherwise
   * (If's condition: a known one inlines the branch taken, else both are planned). A session plans
   * per value of the small graph inputs they depend on.
   */
  readonly optionalValueInputs?: readonly number[];
  /** Parses and checks the node's attributes for the model's opset. */
  parse(at: Attributes, opset: number): A;
  /** Output types. Throws (ctx.fail) on inputs the op cannot take. */
  infer(c: InferContext<A>): TensorType[];
  /** Layouts; default every input and output in ONNX order. */
  layout?(c: LayoutContext<A>): LayoutChoice;
  /** Output 0 is input 0's bytes under a new shape or perm (Reshape, Transpose...): no algorithm runs. */
  readonly view?: boolean;
  /**
   * Outputs known from the input TYPES alone (Shape, Size): the planner evaluates this instead of
   * running anything.
   */
  fromTypes?(c: InferContext<A>): HostTensor[];
  /**
   * Control flow (If). With a condition known when planning: the subgraph that replaces the node,
   * planned in its place; its outputs become the node's outputs, in order. Otherwise two
   * subgraphs, both planned: at run time input 0 (one bool) picks the first when true, else the
   * second; both must give outputs of the same types and shapes.
   */
  inline?(c: InferContext<A>): Subgraph | readonly [Subgraph, Subgraph];
  /**
   * The backward pass of the op: plans, through `g.op`, the steps computing the gradients of the
   * inputs `g.wants`, and hands each to `g.add`. Ops without one stop training (freeze before them).
   */
  gradient?(g: GradientBuilder<A>): void;
  /**
   * Float inputs whose gradient is zero by definition (CastLike's type donor, Dropout's ratio): the
   * backward pass adds nothing for them. Any other float input that depends on a trained parameter
   * and gets no gradient from `gradient` stops training with an error (never a silent zero).
   */
  readonly zeroGradient?: readonly number[];
  /** Inputs that are never trained although constant and float (batch norm's running statistics). */
  readonly nonTrainable?: readonly number[];
  /** An op the runtime plans itself (gradient ops); never imported from a file. */
  readonly internal?: boolean;
  /** false for ops whose output must not be computed once at plan time although its inputs are known. */
  readonly foldable?: boolean;
  /** Candidate algorithms, most preferred first. */
  readonly algorithms: readonly Algorithm<A>[];
}

/** What an op's `gradient` sees and uses. Values are opaque PlanValues (forward or gradient). */
export interface GradientBuilder<A> {
  readonly attrs: A;
  readonly where: string;
  /** Forward input i as the forward step read it (in the layout it asked for); undefined if omitted. */
  x(i: number): PlanValue | undefined;
  /** Forward output i. */
  y(i: number): PlanValue;
  /** The gradient flowing into forward output i (any layout), or undefined when none does. */
  dy(i: number): PlanValue | undefined;
  /** Whether forward input i needs a gradient (it depends on a parameter being trained). */
  wants(i: number): boolean;
  /** Plans op `type` (an ONNX op or a gradient op) on these values; returns its outputs. */
  op(type: string, inputs: readonly (PlanValue | undefined)[], attrs?: unknown, outputs?: number): PlanValue[];
  /** Adds `d` (input i's shape, any layout) to the gradient of forward input i. */
  add(i: number, d: PlanValue): void;
}

const REGISTRY = new Map<string, OpDef>();
const GRADIENT_OPS = new Map<string, OpDef>();

/** Registers an op (once per type); `internal` ones (gradient ops) are kept apart from ONNX's. */
export function registerOp<A>(def: OpDef<A>): OpDef<A> {
  const table = def.internal ? GRADIENT_OPS : REGISTRY;
  if (table.has(def.type)) fail("registerOp", `op ${def.type} is already registered`);
  if (!def.view && !def.fromTypes && !def.inline && def.algorithms.length === 0) fail("registerOp", `op ${def.type} has no algorithm`);
  table.set(def.type, def as OpDef);
  return def;
}

/** The op definition of an ONNX op type (default domain), if registered. */
export function opDef(type: string): OpDef | undefined {
  return REGISTRY.get(type);
}

/** A gradient op's definition (internal: planned by backward passes only). */
export function gradOpDef(type: string): OpDef | undefined {
  return GRADIENT_OPS.get(type);
}

/** Every registered op type, sorted. */
export function registeredOps(): string[] {
  return [...REGISTRY.keys()].sort();
}

/** The first eligible algorithm of `def` for `n`; fails naming the node and the candidates. */
export function chooseAlgorithm<A>(def: OpDef<A>, n: PlanNode<A>): Algorithm<A> {
  for (const a of def.algorithms) if (!a.eligible || a.eligible(n)) return a;
  return fail(n.where, `no algorithm of ${def.type} takes these inputs (${def.algorithms.map((a) => a.name).join(", ")})`);
}

// ---------------------------------------------------------------------------------------------
// layout policies shared by many ops

const ident = (rank: number): Perm => Array.from({ length: rank }, (_, i) => i);

/** Every input and output in ONNX order. */
export const onnxOrder = <A>(c: LayoutContext<A>): LayoutChoice => ({
  inputs: c.inputs.map((v) => (v ? ident(v.shape.length) : "any")),
  outputs: c.outputs.map((t) => ident(t.shape.length)),
});

/** Input 0 in any perm, the output in the same perm (same rank); other inputs in ONNX order. */
export const followInput0 = <A>(c: LayoutContext<A>): LayoutChoice => {
  const p = c.inputs[0]?.perm;
  return {
    inputs: c.inputs.map((v, i) => (i === 0 || !v ? "any" : ident(v.shape.length))),
    outputs: c.outputs.map((t) => (p && p.length === t.shape.length ? p : ident(t.shape.length))),
  };
};
